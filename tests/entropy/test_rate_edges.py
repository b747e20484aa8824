"""Entropy rates at the edges: the meaning of σ, tiny noise, huge times, t = 0, and jax's x64 flag.

Every reference is independent of ``gmmtheory.entropy.rate``: numpy Gauss–Hermite for the binary MMSE, central
differences of the quadrature entropy, closed-form SNRs, and plain-numpy Monte Carlo of the σ → 0 limit of the rate.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from scipy.special import logsumexp

import gmmtheory as gt
import gmmtheory.landmarks as L
from gmmtheory.compilation import count_compilations
from gmmtheory.entropy.rate import entropy_rate

PROCS = {"OU": gt.OU(), "VP": gt.VP(), "EDM": gt.EDM(), "VE": gt.VE(), "Flow": gt.Flow()}


def mmse_np(s: np.ndarray) -> np.ndarray:
    """Equal-weight binary MMSE 1 − E tanh(s + √s ξ) by numpy Gauss–Hermite (200 nodes)."""
    x, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()
    s = np.atleast_1d(np.asarray(s, np.float64))
    return 1.0 - np.tanh(s[:, None] + np.sqrt(s)[:, None] * x[None]) @ w


def ou_t_of_lam(lam: np.ndarray) -> np.ndarray:
    return 0.5 * np.logaddexp(0.0, -np.asarray(lam, np.float64))


# --------------------------------------------------------------------------------- σ = σ(t)/a(t) = e^{−λ/2}
def test_log_sigma_rate_is_a_function_of_lambda_alone():
    mix = gt.two_gaussians(4, 0.6)
    lam = np.array([-3.0, -1.0, 0.5, 2.0])
    # independent: central differences of the quadrature entropy over λ (OU times from numpy), dH/dlog σ = −2 dH/dλ
    h = 1e-3
    def H(ll):
        return gt.class_entropy(mix, gt.OU(), ou_t_of_lam(ll), method="quadrature").value

    fd_lam = (H(lam + h) - H(lam - h)) / (2 * h)
    for name, proc in PROCS.items():
        t = np.asarray(proc.t_from_log_snr(lam))
        r_ls = entropy_rate(mix, proc, t, wrt="log_sigma").value
        r_lam = entropy_rate(mix, proc, t, wrt="log_snr").value
        np.testing.assert_allclose(r_ls, -2.0 * r_lam, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(r_ls, -2.0 * fd_lam, rtol=1e-5, err_msg=name)
        assert np.all(r_ls > 0)


def test_log_sigma_denoiser_gap_identical_across_processes():
    mix = gt.k_classes(3, 4, 0.7)
    lam = np.array([-1.0, 1.0])
    vals = [entropy_rate(mix, p, np.asarray(p.t_from_log_snr(lam)), wrt="log_sigma", method="denoiser_gap",
                         n_samples=2**9, key=3) for p in PROCS.values()]
    for v in vals[1:]:
        np.testing.assert_allclose(v.value, vals[0].value, rtol=1e-9)
    lam_rate = entropy_rate(mix, gt.OU(), ou_t_of_lam(lam), wrt="log_snr", method="denoiser_gap", n_samples=2**9,
                            key=3)
    np.testing.assert_allclose(vals[0].value, -2.0 * lam_rate.value, rtol=1e-12)


def test_ou_log_sigma_landmarks_are_minus_half_lambda():
    mix = gt.two_gaussians(100)
    ou = L.entropy_landmarks(mix, gt.OU())
    edm = L.entropy_landmarks(mix, gt.EDM())
    for name in ("half", "h10", "h90", "peak"):
        ls, lam = getattr(ou, f"{name}_log_sigma"), getattr(ou, f"{name}_log_snr")
        assert ls == pytest.approx(-0.5 * lam, abs=1e-9), name  # log σ = −λ/2
        assert ls > 1.0, name  # not ≈ 0 (the old reading, log of OU's own σ(t) ≈ 1)
    assert ou.fwhm_log_sigma == pytest.approx(0.5 * ou.fwhm_log_snr, abs=1e-9)
    assert ou.fwhm_log_sigma_lo == pytest.approx(-0.5 * ou.fwhm_log_snr_hi, abs=1e-9)
    # EDM (σ_data = 1): native time is σ itself, so the log of its landmark is the OU log σ landmark (equal SNR)
    assert ou.half_log_sigma == pytest.approx(math.log(edm.half_t), abs=1e-8)
    assert ou.peak_log_sigma == pytest.approx(edm.peak_log_sigma, abs=1e-8)
    # binary half-entropy point s = 1.044: γ = s/(|m|² − s), log σ = −½ log γ
    assert ou.half_log_sigma == pytest.approx(-0.5 * math.log(1.044013315452508 / (100 - 1.044013315452508)),
                                              abs=1e-6)


# -------------------------------------------------------------------------- tiny noise: the denoiser gap
def _rank_deficient() -> gt.GaussianMixture:
    """Rank 2 in d = 4 with the means in the span, exactly: a rotated rank-deficient Σ would leave round-off
    components ~1e-16 of the means in its null space, which at σ = 1e-8 genuinely change dH/dλ ∝ σ² by O(1)."""
    m = np.array([0.8, -0.3, 0.0, 0.0])
    return gt.GaussianMixture(np.stack([m, -m]), np.diag([1.0, 0.5, 0.0, 0.0]))


@pytest.mark.parametrize("sigma", [1e-8, 1e-10, 1e-12])
def test_denoiser_gap_at_tiny_edm_sigma(sigma):
    # two_gaussians(4, 0.6): s(σ) = |m|²/(1 + σ²), so dH/dσ = σ·|m|²·mmse_b(|m|²)·(1 + O(σ²)) (independent numpy)
    mix = gt.two_gaussians(4, 0.6)
    m2 = 4 * 0.36
    ref = sigma * m2 * float(mmse_np(m2)[0])
    cf = entropy_rate(mix, gt.EDM(), sigma, method="closed_form").value
    assert cf == pytest.approx(ref, rel=1e-9)
    gap = entropy_rate(mix, gt.EDM(), sigma, method="denoiser_gap", n_samples=2**12, key=1)
    assert gap.stderr < 0.03 * ref  # relative accuracy, not only a wide error bar
    assert abs(gap.value - ref) < 4 * gap.stderr, (gap.value, gap.stderr, ref)


@pytest.mark.parametrize("sigma", [1e-8, 1e-10, 1e-12])
def test_denoiser_gap_on_singular_covariance_at_tiny_sigma(sigma):
    mix = _rank_deficient()
    assert mix.singular
    # independent numpy closed form: s(γ) = Σ_j q_j γ/(γ v_j + 1) over the non-zero eigenvalues v_j of Σ (m lies in
    # their span), q_j = (u_jᵀ m)²; dH/dλ = −½ mmse_b(s) ds/dλ and EDM: dH/dσ = (−2/σ) dH/dλ, γ = 1/σ²
    v, U = np.linalg.eigh(np.asarray(mix.cov))
    keep = v > 1e-12 * v.max()
    q = (U[:, keep].T @ (0.5 * (mix.means[0] - mix.means[1]))) ** 2
    g = 1.0 / sigma**2
    s, ds = np.sum(q * g / (g * v[keep] + 1)), np.sum(q * g / (g * v[keep] + 1) ** 2)
    ref = (-2.0 / sigma) * (-0.5 * float(mmse_np(s)[0]) * ds)
    assert ref > 0
    gap = entropy_rate(mix, gt.EDM(), sigma, method="denoiser_gap", n_samples=2**12, key=2)
    assert gap.stderr < 0.03 * ref
    assert abs(gap.value - ref) < 4 * gap.stderr, (gap.value, gap.stderr, ref)
    assert entropy_rate(mix, gt.EDM(), sigma, method="closed_form").value == pytest.approx(ref, rel=1e-8)


def _limit_rate_ve(mix: gt.GaussianMixture, n: int, seed: int) -> tuple[float, float]:
    """σ → 0 limit of dH/dt in VE (t = σ²): ½ E Σ_k p_0(k|X) ‖g_k − Σ_l p_0(l|X) g_l‖², g_k = Σ_k⁻¹(X − μ_k),
    by plain numpy Monte Carlo over the clean mixture (value, stderr)."""
    rng = np.random.default_rng(seed)
    means, covs, w = np.asarray(mix.means), np.asarray(mix.cov), np.asarray(mix.weights)
    K, d = means.shape
    z = rng.choice(K, size=n, p=w)
    chol = np.linalg.cholesky(covs)
    x = means[z] + np.einsum("nij,nj->ni", chol[z], rng.normal(size=(n, d)))
    prec = np.linalg.inv(covs)
    diff = x[:, None, :] - means[None]
    g = np.einsum("kij,nkj->nki", prec, diff)
    logdet = np.linalg.slogdet(covs)[1]
    ll = np.log(w) - 0.5 * np.einsum("nki,nki->nk", diff, g) - 0.5 * logdet
    p = np.exp(ll - logsumexp(ll, axis=1, keepdims=True))
    gbar = np.einsum("nk,nki->ni", p, g)
    vals = 0.5 * np.einsum("nk,nk->n", p, np.sum((g - gbar[:, None]) ** 2, axis=-1))
    return float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(n))


@pytest.mark.parametrize("t", [1e-8, 1e-24])
@pytest.mark.slow
def test_autodiff_and_gap_at_tiny_ve_time_class_full(t):
    mix = gt.random_mixture(jax.random.PRNGKey(0), 3, 5, "class_full")
    ref, ref_se = _limit_rate_ve(mix, 200_000, 0)  # the rate at t differs from its t → 0 limit by O(t)
    for method, n in (("autodiff", 2**13), ("denoiser_gap", 2**12)):
        r = entropy_rate(mix, gt.VE(), t, method=method, n_samples=n, key=4)
        se = math.hypot(r.stderr, ref_se)
        assert r.stderr < 0.05 * ref, (method, r.value, r.stderr)  # was ±9.8 on a rate of 0.39 (autodiff)
        assert abs(r.value - ref) < 4 * se, (method, r.value, r.stderr, ref, ref_se)


def test_autodiff_at_tiny_ve_time_shared_matches_closed_form():
    mix = gt.two_gaussians(4, 0.6)
    cf = entropy_rate(mix, gt.VE(), 1e-8, method="closed_form").value
    # independent: VE t = σ², dH/dt = dH/dσ / (2σ) = ½ |m|² mmse_b(|m|²)
    assert cf == pytest.approx(0.5 * 1.44 * float(mmse_np(1.44)[0]), rel=1e-7)
    ad = entropy_rate(mix, gt.VE(), 1e-8, method="autodiff", n_samples=2**13, key=5)
    assert ad.stderr < 0.02 * cf and abs(ad.value - cf) < 4 * ad.stderr


@pytest.mark.parametrize("method", ["autodiff", "denoiser_gap", "closed_form"])
@pytest.mark.slow
def test_rate_is_exactly_zero_where_the_snr_underflows(method):
    mix = gt.two_gaussians(4, 0.6)
    r = entropy_rate(mix, gt.OU(), np.array([1e3, 1e4]), method=method, n_samples=2**9)
    np.testing.assert_array_equal(r.value, 0.0)
    full = gt.random_mixture(jax.random.PRNGKey(1), 3, 4, "class_full")
    if method != "closed_form":
        r = entropy_rate(full, gt.OU(), 1e4, method=method, n_samples=2**9)
        assert r.value == 0.0


def test_edm_sigma_1e_minus_200_is_not_zero_noise():
    mix = gt.two_gaussians(4, 0.6)
    ref = 1e-200 * 1.44 * float(mmse_np(1.44)[0])  # dH/dσ = σ |m|² mmse_b(|m|²) as σ → 0
    assert entropy_rate(mix, gt.EDM(), 1e-200, method="closed_form").value == pytest.approx(ref, rel=1e-9)
    gap = entropy_rate(mix, gt.EDM(), 1e-200, method="denoiser_gap", n_samples=2**12, key=1)
    assert abs(gap.value - ref) < 4 * gap.stderr and gap.stderr < 0.03 * ref


# --------------------------------------------------------------------------------- OU at large times
@pytest.mark.parametrize("t", [19.0, 50.0, 355.0, 1000.0])
def test_ou_rate_at_large_times_is_finite_and_matches_asymptotics(t):
    mix = gt.two_gaussians(4, 0.6)
    # independent numpy: γ = e^{−2t}/(1 − e^{−2t}), s = |m|² γ/(γ + 1), ds/dλ = |m|² γ/(γ + 1)²,
    # dλ/dt = −2/(1 − e^{−2t})
    m2 = 1.44
    gamma = math.exp(-2 * t) / -math.expm1(-2 * t)
    s, ds = m2 * gamma / (gamma + 1), m2 * gamma / (gamma + 1) ** 2
    r_lam = -0.5 * float(mmse_np(s)[0]) * ds
    dlam_dt = -2.0 / -math.expm1(-2 * t)
    refs = {"t": r_lam * dlam_dt, "log_snr": r_lam, "log_sigma": -2.0 * r_lam}
    for wrt, ref in refs.items():
        r = entropy_rate(mix, gt.OU(), t, wrt=wrt)
        assert np.isfinite(r.value)
        assert (r.value <= 0) if wrt == "log_snr" else (r.value >= 0)
        assert r.value == pytest.approx(ref, rel=1e-7, abs=1e-300), wrt
    gap = entropy_rate(mix, gt.OU(), t, wrt="log_sigma", method="denoiser_gap", n_samples=2**9)
    tol = 4 * gap.stderr + 1e-12 * abs(refs["log_sigma"]) + 1e-300  # at low SNR the draws barely vary: round-off
    assert np.isfinite(gap.value) and abs(gap.value - refs["log_sigma"]) <= tol


# ------------------------------------------------------------------------------------- t = 0, before jax
@pytest.mark.parametrize("proc", [gt.OU(), gt.VP(beta_min=0.3, beta_max=7.0), gt.EDM(sigma_data=0.7), gt.Flow()])
def test_rate_at_t_zero_raises_before_any_compilation(proc):
    mix = gt.two_gaussians(3, 1.3)
    with count_compilations() as counts, pytest.raises(ValueError, match=r"t must have σ\(t\) > 0 for an entropy rate"):
        entropy_rate(mix, proc, [0.0, 0.5], wrt="log_sigma", method="denoiser_gap")
    assert counts == {"traces": 0, "compiles": 0}, counts


def test_counter_is_not_vacuous():
    with count_compilations() as counts:
        jax.jit(lambda x: x * 2.0 + 0.4242)(np.arange(3.0)).block_until_ready()
    assert counts["compiles"] >= 1


# -------------------------------------------------------------------------------------------- x64 flag
def test_binary_snr_is_float64_with_x64_off():
    mix = gt.two_gaussians(5, 0.37)
    t = np.array([0.1, 0.7, 2.3])
    ref = 5 * 0.37**2 * np.exp(-2 * t)  # OU, unit variance: s = |m|² a²/(a² + σ²) = |m|² e^{−2t}
    with jax.enable_x64(False):
        off = np.asarray(gt.binary_snr(mix, gt.OU(), t))
    np.testing.assert_allclose(off, ref, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(gt.binary_snr(mix, gt.OU(), t)), ref, rtol=1e-13)


@pytest.mark.slow
def test_index_entropy_and_collapse_time_do_not_depend_on_x64():
    rng = np.random.default_rng(5)
    pts = rng.normal(size=(40, 6))
    t = np.array([0.05, 0.3, 1.0])
    on = L.index_entropy(pts, gt.OU(), t, n_samples=512, key=1)
    with jax.enable_x64(False):
        off = L.index_entropy(pts, gt.OU(), t, n_samples=512, key=1)
    np.testing.assert_allclose(off.value, on.value, rtol=1e-12)
    np.testing.assert_allclose(off.stderr, on.stderr, rtol=1e-10)
    # independent numpy Monte Carlo of H[index | X_t], X_t = a x_i + σ ε
    a, s = np.exp(-t), np.sqrt(-np.expm1(-2 * t))
    idx = rng.integers(0, 40, 4000)
    eps = rng.normal(size=(4000, 6))
    for j in range(t.size):
        x = a[j] * pts[idx] + s[j] * eps
        logit = -np.sum((x[:, None, :] - a[j] * pts[None]) ** 2, axis=-1) / (2 * s[j] ** 2)
        logp = logit - logsumexp(logit, axis=1, keepdims=True)
        h = -np.sum(np.exp(logp) * logp, axis=1)
        se = math.hypot(h.std(ddof=1) / math.sqrt(h.size), on.stderr[j])
        assert abs(h.mean() - on.value[j]) < 4 * se + 1e-12
    P, d = 300, 8
    cloud = rng.normal(size=(P, d))
    c_on = L.collapse_time(cloud, n_samples=128, key=0)
    with jax.enable_x64(False):
        c_off = L.collapse_time(cloud, n_samples=128, key=0)
    assert np.all(np.isfinite(c_on))
    np.testing.assert_allclose(c_off, c_on, rtol=1e-10)
