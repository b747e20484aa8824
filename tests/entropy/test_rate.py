"""Tests for gmmtheory.entropy.rate.entropy_rate: closed form, denoiser gap and autodiff, against independent
references."""

import jax
import numpy as np
import pytest
from scipy import integrate, stats

import gmmtheory as gt
from gmmtheory.entropy.rate import binary_mmse, entropy_rate

# docs/theory.md §9: mmse_b for two equiprobable classes at effective SNR s.
THEORY_MMSE = {0.01: 0.990098, 0.25: 0.795946, 1.0: 0.449600, 4.0: 0.068597}

PROCESSES = {
    "OU": (gt.OU(), [0.3, 0.8, 1.6]),
    "VP": (gt.VP(), [0.15, 0.3, 0.5]),
    "EDM": (gt.EDM(), [0.5, 1.2, 3.0]),
    "Flow": (gt.Flow(), [0.25, 0.5, 0.75]),
}


def five_point(fn, x, h):
    """Fourth-order central difference of fn at x (independent of jax: plain function values)."""
    return (-fn(x + 2 * h) + 8 * fn(x + h) - 8 * fn(x - h) + fn(x - 2 * h)) / (12 * h)


# ----------------------------------------------------------------------------------------------- closed form
def test_binary_mmse_matches_theory_table_through_entropy_rate():
    # two_gaussians(d=16, mu=1, sigma=1) under OU: s(t) = 16e^{-2t}, ds/dt = -2s, so dH/dt = ½ mmse_b · 2s.
    mix = gt.two_gaussians(16, 1.0, 1.0)
    s = np.array(list(THEORY_MMSE))
    t = 0.5 * np.log(16.0 / s)
    res = entropy_rate(mix, gt.OU(), t, method="closed_form")
    dI_ds = res.value / (2.0 * s)  # −dH/ds = (dH/dt) / (−ds/dt)
    np.testing.assert_allclose(dI_ds, 0.5 * np.array(list(THEORY_MMSE.values())), atol=1e-6)
    np.testing.assert_allclose(binary_mmse(s), list(THEORY_MMSE.values()), atol=1e-6)


@pytest.mark.parametrize("pi0", [0.5, 0.2])
@pytest.mark.parametrize("s", [1e-3, 0.3, 2.0, 9.0, 40.0])
def test_binary_mmse_against_adaptive_scipy(s, pi0):
    # mmse_b = 1 − E(E[X|Y])², E[X|Y] = tanh((L + log π0/π1)/2), L ~ N(±2s, 4s): adaptive quadrature in y.
    w = np.array([pi0, 1.0 - pi0])

    def integrand(y, sign):
        llr = 2.0 * np.sqrt(s) * y
        return (1.0 - np.tanh(0.5 * (llr + np.log(w[0] / w[1]))) ** 2) * stats.norm.pdf(y, sign * np.sqrt(s))

    ref = sum(
        wz * integrate.quad(integrand, -np.inf, np.inf, args=(sign,), epsabs=1e-14, epsrel=1e-12, limit=400)[0]
        for wz, sign in zip(w, (1.0, -1.0))
    )
    np.testing.assert_allclose(binary_mmse(s, w), ref, rtol=1e-8, atol=1e-15)


@pytest.mark.parametrize("weights", [None, [0.3, 0.7]])
@pytest.mark.parametrize("proc_name", list(PROCESSES))
def test_closed_form_matches_finite_difference_of_entropy(proc_name, weights):
    proc, ts = PROCESSES[proc_name]
    mix = gt.two_gaussians(4, 0.6, 1.0, weights)
    def H(tt):
        return gt.class_entropy(mix, proc, tt, method="quadrature").value

    t = np.array(ts)
    h = 1e-3 * t.min()
    fd_t = five_point(H, t, h)
    res_t = entropy_rate(mix, proc, t, method="closed_form")
    np.testing.assert_allclose(res_t.value, fd_t, rtol=1e-6)
    assert res_t.method == "closed_form" and res_t.quantity == "entropy_rate" and res_t.extra == {"wrt": "t"}
    # log-SNR: differentiate H(t(λ)) in λ directly
    lam = np.asarray(proc.log_snr(t))
    def H_lam(ll):
        return H(np.asarray(proc.t_from_log_snr(ll)))

    fd_lam = five_point(H_lam, lam, 1e-3)
    np.testing.assert_allclose(entropy_rate(mix, proc, t, wrt="log_snr", method="closed_form").value, fd_lam, rtol=1e-6)
    # log σ, σ = σ(t)/a(t) = e^{−λ/2}: differentiate H(t(λ = −2 log σ)) in log σ directly
    def H_ls(ls):
        return H(np.asarray(proc.t_from_log_snr(-2.0 * ls)))

    fd_ls = five_point(H_ls, -0.5 * lam, 1e-3)
    np.testing.assert_allclose(
        entropy_rate(mix, proc, t, wrt="log_sigma", method="closed_form").value, fd_ls, rtol=1e-6
    )


def test_closed_form_unequal_weights_shared_full_covariance():
    key = jax.random.PRNGKey(7)
    base = gt.random_mixture(key, 2, 5, "shared_full")
    mix = gt.GaussianMixture(base.means, base.cov, [0.35, 0.65])
    t = np.array([0.2, 0.6, 1.5])
    fd = five_point(lambda tt: gt.class_entropy(mix, gt.OU(), tt).value, t, 2e-4)
    np.testing.assert_allclose(entropy_rate(mix, gt.OU(), t).value, fd, rtol=1e-6)


def test_closed_form_agrees_with_denoiser_gap():
    t = np.linspace(0.2, 2.5, 6)
    for mix in (gt.two_gaussians(6, 0.5), gt.two_gaussians(6, 0.5, weights=[0.25, 0.75])):
        exact = entropy_rate(mix, gt.OU(), t, method="closed_form")
        mc = entropy_rate(mix, gt.OU(), t, method="denoiser_gap", n_samples=2**13, key=1)
        assert np.all(mc.stderr > 0) and np.all(mc.stderr < 0.02 * np.abs(mc.value))
        assert np.all(np.abs(mc.value - exact.value) < 4 * mc.stderr)


# -------------------------------------------------------------------------------- denoiser gap vs autodiff
def _mixtures():
    key = jax.random.PRNGKey(3)
    hier = gt.hierarchical(2, 2, 6)
    means = np.asarray(jax.random.normal(key, (3, 6)))
    return {
        "K4_shared": (gt.k_classes(4, 6, 0.6, geometry="simplex", weights=[0.1, 0.2, 0.3, 0.4]), None),
        "class_iso": (gt.GaussianMixture(means, np.array([0.5, 1.0, 2.0])), None),
        "class_full": (gt.random_mixture(key, 3, 5, "class_full"), None),
        "hier_coarse": (hier.mixture, hier.coarse),
    }


@pytest.mark.parametrize("name", list(_mixtures()))
@pytest.mark.slow
def test_denoiser_gap_matches_autodiff(name):
    mix, part = _mixtures()[name]
    t = np.array([0.3, 0.8, 1.5, 2.5])
    gap = entropy_rate(mix, gt.OU(), t, partition=part, method="denoiser_gap", n_samples=2**13, key=11)
    ad = entropy_rate(mix, gt.OU(), t, partition=part, method="autodiff", n_samples=2**13, key=12)
    assert gap.method == "denoiser_gap" and ad.method == "autodiff"
    combined = np.hypot(gap.stderr, ad.stderr)
    assert np.all(combined < 0.05 * np.abs(gap.value))  # a meaningful comparison, not a vacuous one
    assert np.all(np.abs(gap.value - ad.value) < 4 * combined), (gap.value, ad.value, combined)
    assert np.all(gap.value > -4 * gap.stderr) and np.all(ad.value > -4 * ad.stderr)  # dH/dt ≥ 0


@pytest.mark.slow
def test_coarse_rate_differs_from_fine_and_trivial_partition_is_zero():
    hier = gt.hierarchical(2, 2, 6)
    t = np.array([0.3, 0.8, 1.5, 2.5])
    coarse = entropy_rate(hier.mixture, gt.OU(), t, partition=hier.coarse, method="denoiser_gap", n_samples=2**13,
                          key=11)
    fine = entropy_rate(hier.mixture, gt.OU(), t, method="denoiser_gap", n_samples=2**13, key=11)
    # the fine rate includes the coarse one plus the within-superclass rate (chain rule; same draws)
    assert np.all(fine.value > coarse.value)
    trivial = gt.Partition.trivial(hier.mixture.K)
    zero = entropy_rate(hier.mixture, gt.OU(), t, partition=trivial, method="denoiser_gap", n_samples=2**13, key=11)
    np.testing.assert_allclose(zero.value, 0.0, atol=1e-12)
    two = gt.two_gaussians(3, 1.0)
    np.testing.assert_array_equal(
        entropy_rate(two, gt.OU(), t, partition=gt.Partition.trivial(2), method="closed_form").value, 0.0
    )


@pytest.mark.slow
def test_denoiser_gap_matches_naive_estimate_with_public_denoisers():
    # Independent route: sample (X_0, Z) with mixture.sample, noise it, and average γ‖x̂_0(x, B(Z)) − x̂_0(x)‖²
    # using gt.denoiser (group-conditional and unconditional): dH/dλ = −½ of that.
    key = jax.random.PRNGKey(21)
    base = gt.random_mixture(key, 4, 5, "class_full")
    mix = gt.GaussianMixture(base.means, base.cov, [0.1, 0.2, 0.3, 0.4])
    part = gt.Partition([[0, 2], [1, 3]])
    proc, t = gt.OU(), 0.6
    x0, z = mix.sample(jax.random.PRNGKey(22), 2000)
    eps = np.asarray(jax.random.normal(jax.random.PRNGKey(23), x0.shape))
    x = float(proc.alpha(t)) * x0 + float(proc.sigma(t)) * eps
    groups = part.assignment[z]
    gap = np.sum((np.asarray(gt.denoiser(mix, proc, t, x, label=groups, partition=part))
                  - np.asarray(gt.denoiser(mix, proc, t, x))) ** 2, axis=-1)
    gamma = float(proc.snr(t))
    naive, naive_se = -0.5 * gamma * gap.mean(), 0.5 * gamma * gap.std(ddof=1) / np.sqrt(gap.size)
    res = entropy_rate(mix, proc, t, wrt="log_snr", partition=part, method="denoiser_gap", n_samples=2**12, key=4)
    assert res.value.shape == () and res.stderr < 0.05 * abs(res.value)
    assert abs(res.value - naive) < 4 * np.hypot(res.stderr, naive_se), (res.value, naive, naive_se)


# ------------------------------------------------------------------------------------ signs and conversions
@pytest.mark.parametrize("method", ["closed_form", "denoiser_gap"])
def test_signs_and_wrt_conversions(method):
    mix = gt.two_gaussians(6, 0.5, weights=[0.4, 0.6])
    proc = gt.VP()
    t = np.linspace(0.1, 0.7, 5)
    kw = dict(method=method, n_samples=2**12, key=5)
    r_t = entropy_rate(mix, proc, t, wrt="t", **kw)
    r_lam = entropy_rate(mix, proc, t, wrt="log_snr", **kw)
    r_sig = entropy_rate(mix, proc, t, wrt="log_sigma", **kw)
    assert np.all(r_t.value >= 0) and np.all(r_lam.value <= 0) and np.all(r_sig.value >= 0)
    # independent chain-rule factors: finite differences of λ(t) and log σ(t)
    dlam = five_point(lambda tt: np.asarray(proc.log_snr(tt)), t, 1e-5)
    dlogsig = five_point(lambda tt: np.log(np.asarray(proc.sigma(tt)) / np.asarray(proc.alpha(tt))), t, 1e-5)
    np.testing.assert_allclose(r_t.value, r_lam.value * dlam, rtol=1e-7)
    np.testing.assert_allclose(r_t.value, r_sig.value * dlogsig, rtol=1e-7)
    assert [r.extra["wrt"] for r in (r_t, r_lam, r_sig)] == ["t", "log_snr", "log_sigma"]


def test_rate_in_log_snr_is_process_independent():
    mix = gt.two_gaussians(5, 0.7)
    lam = np.array([-2.0, 0.0, 1.5])
    vals = [
        entropy_rate(mix, p, np.asarray(p.t_from_log_snr(lam)), wrt="log_snr").value
        for p in (gt.OU(), gt.VP(), gt.EDM(), gt.Flow(), gt.VE())
    ]
    for v in vals[1:]:
        np.testing.assert_allclose(v, vals[0], rtol=1e-9)


# --------------------------------------------------------------------------------------------- integrals
def test_integral_of_closed_form_rate_is_entropy_difference():
    mix = gt.two_gaussians(8, 0.5, weights=[0.3, 0.7])
    t = np.linspace(0.2, 3.0, 2001)
    rate = entropy_rate(mix, gt.OU(), t).value
    H = gt.class_entropy(mix, gt.OU(), t[[0, -1]], method="quadrature").value
    np.testing.assert_allclose(np.trapezoid(rate, t), H[1] - H[0], rtol=1e-6)


@pytest.mark.slow
def test_integral_of_denoiser_gap_rate_is_entropy_difference():
    mix = gt.k_classes(3, 4, 0.7)
    t = np.linspace(0.2, 3.0, 57)
    res = entropy_rate(mix, gt.OU(), t, method="denoiser_gap", n_samples=2**12, key=2)
    H = gt.class_entropy(mix, gt.OU(), t[[0, -1]], method="reduced", n_samples=2**16, key=3)
    integral = np.trapezoid(res.value, t)
    se_integral = np.trapezoid(res.stderr, t)  # perfectly correlated draws: an upper bound
    se = np.hypot(se_integral, np.hypot(*H.stderr))
    assert abs(integral - (H.value[1] - H.value[0])) < 4 * se + 1e-4, (integral, H.value[1] - H.value[0], se)


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(wrt="sigma"), "wrt"),
        (dict(wrt=None), "wrt"),
        (dict(method="quadrature"), "method"),
        (dict(method="nope"), "method"),
        (dict(t=np.nan), "t"),
        (dict(t=-1.0), "t"),
        (dict(t=[[1.0]]), "t"),
        (dict(t=0.0), "t"),
        (dict(partition=gt.Partition([[0, 1, 2]])), "partition"),
        (dict(partition="coarse"), "partition"),
        (dict(method="denoiser_gap", n_samples=1), "n_samples"),
        (dict(method="autodiff", n_samples=2.5), "n_samples"),
        (dict(method="denoiser_gap", key="seed"), "key"),
        (dict(precision="float16"), "precision"),
    ],
)
def test_bad_inputs_raise_value_error(kwargs, match):
    args = dict(t=1.0)
    args.update(kwargs)
    t = args.pop("t")
    with pytest.raises(ValueError, match=match):
        entropy_rate(gt.two_gaussians(3, 1.0), gt.OU(), t, **args)


def test_bad_mixture_process_and_inapplicable_closed_form():
    with pytest.raises(ValueError, match="mixture"):
        entropy_rate("not a mixture", gt.OU(), 1.0)
    with pytest.raises(ValueError, match="process"):
        entropy_rate(gt.two_gaussians(3), "OU", 1.0)
    with pytest.raises(ValueError, match="closed_form"):
        entropy_rate(gt.k_classes(3, 4), gt.OU(), 1.0, method="closed_form")
    with pytest.raises(ValueError, match="σ"):
        entropy_rate(gt.empirical(np.eye(3)), gt.VE(), [0.0, 1.0], method="denoiser_gap")
    assert entropy_rate(gt.k_classes(3, 4), gt.OU(), 1.0, n_samples=64).method == "denoiser_gap"
