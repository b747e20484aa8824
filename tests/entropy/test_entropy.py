"""The entropy engine: reference numbers, agreement between methods, properties, invariances and bad input.

References are independent of the code under test: docs/theory.md §9's table, closed forms (Bayes error Φ(−√s)),
scipy quadrature, a naive numpy/scipy Monte Carlo, and mathematical identities (chain rule, Jensen).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

import gmmtheory as gt
from gmmtheory import testing as gtt
from gmmtheory.entropy import montecarlo, reduced

OU, VE = gt.OU(), gt.VE()

# docs/theory.md §9: two equiprobable classes, shared covariance, effective SNR s → (H, I, φ).
TABLE = [
    (0.01, 0.688172, 0.004975, 0.504951),
    (0.25, 0.581726, 0.111421, 0.602027),
    (1.0, 0.356316, 0.336831, 0.775200),
    (4.0, 0.060427, 0.632720, 0.965701),
]


def binary_at_snr(s_values, norm2=10.0, weights=None):
    """Two Gaussians ±m with |m|² = norm2, unit variance, under VE: s = |m|²/(1 + t), so t = norm2/s − 1."""
    mix = gt.GaussianMixture(np.array([[np.sqrt(norm2)], [-np.sqrt(norm2)]]), 1.0, weights)
    return mix, norm2 / np.asarray(s_values) - 1.0


# ------------------------------------------------------------------------------------------- reference numbers
def test_reference_table_quadrature():
    s = np.array([row[0] for row in TABLE])
    mix, t = binary_at_snr(s)
    np.testing.assert_allclose(np.asarray(gt.binary_snr(mix, VE, t)), s, rtol=1e-13)
    H = gt.class_entropy(mix, VE, t, method="quadrature")
    mi = gt.mutual_information(mix, VE, t, method="quadrature")
    phi = gt.collision_probability(mix, VE, t, method="quadrature")
    assert H.method == "quadrature" and np.all(H.stderr == 0)
    np.testing.assert_allclose(H.value, [r[1] for r in TABLE], atol=1e-6)
    np.testing.assert_allclose(mi.value, [r[2] for r in TABLE], atol=1e-6)
    np.testing.assert_allclose(phi.value, [r[3] for r in TABLE], atol=1e-6)


@pytest.mark.parametrize("method", ["reduced", "montecarlo"])
@pytest.mark.slow
def test_reference_table_monte_carlo(method):
    s = np.array([row[0] for row in TABLE])
    mix, t = binary_at_snr(s)
    H = gt.class_entropy(mix, VE, t, method=method, n_samples=2**14, key=3)
    phi = gt.collision_probability(mix, VE, t, method=method, n_samples=2**14, key=3)
    assert np.all(H.stderr > 0)
    gtt.assert_within_stderr(H.value, H.stderr, [r[1] for r in TABLE])
    gtt.assert_within_stderr(phi.value, phi.stderr, [r[3] for r in TABLE])


def _scipy_binary(s, pi0, functional):
    """E f for the binary channel by adaptive scipy quadrature over L ~ N(±2s, 4s) (independent reference)."""
    b = np.log(pi0 / (1 - pi0))

    def f(ell):
        p0 = special.expit(ell + b)
        p = np.array([p0, 1 - p0])
        if functional == "entropy":
            return float(-np.sum(special.xlogy(p, p)))
        if functional == "collision":
            return float(np.sum(p**2))
        return float(np.max(p))

    total = 0.0
    for pi_z, mean in ((pi0, 2 * s), (1 - pi0, -2 * s)):
        sd = 2 * np.sqrt(s)
        val, _ = integrate.quad(lambda u: f(u) * stats.norm.pdf(u, mean, sd), mean - 40 * sd, mean + 40 * sd,
                                points=[-b] if abs(mean + b) < 40 * sd else None, limit=400, epsabs=1e-14,
                                epsrel=1e-13)
        total += pi_z * val
    return total


@pytest.mark.parametrize("functional", ["entropy", "collision", "max"])
@pytest.mark.parametrize("pi0", [0.5, 0.2, 1e-3])
def test_quadrature_against_adaptive_scipy(functional, pi0):
    s = np.geomspace(1e-3, 300.0, 9)
    mix, t = binary_at_snr(s, norm2=1000.0, weights=[pi0, 1 - pi0])
    got = gt.entropy.posterior_statistic(mix, VE, t, functional, method="quadrature").value
    ref = np.array([_scipy_binary(si, pi0, functional) for si in s])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)


def test_bayes_error_closed_form():
    s = np.geomspace(0.01, 50, 12)
    mix, t = binary_at_snr(s, norm2=100.0)
    pe = gt.bayes_error(mix, VE, t)
    np.testing.assert_allclose(pe.value, stats.norm.cdf(-np.sqrt(s)), atol=1e-10)


@pytest.mark.slow
def test_dimension_enters_only_through_snr():
    # d·mu² fixed → identical s(t) → identical H, exactly for quadrature, and for reduced with one key.
    t = np.linspace(0.3, 4.0, 7)
    small, huge = gt.two_gaussians(10, mu=1.0), gt.two_gaussians(10**6, mu=np.sqrt(1e-5))
    for method in ("quadrature", "reduced"):
        a = gt.class_entropy(small, OU, t, method=method, key=1)
        b = gt.class_entropy(huge, OU, t, method=method, key=1)
        np.testing.assert_allclose(a.value, b.value, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------- agreement between methods
@settings(max_examples=6)
@given(mix=gtt.mixtures(K=2, d=3, cov_kind="shared_full", random_weights=True), lam=gtt.log_snrs(-3, 3))
@pytest.mark.slow
def test_quadrature_reduced_montecarlo_agree(mix, lam):
    t = np.array([float(OU.t_from_log_snr(lam)), float(OU.t_from_log_snr(lam - 1.0))])
    q = gt.class_entropy(mix, OU, t, method="quadrature")
    r = gt.class_entropy(mix, OU, t, method="reduced", n_samples=2**13, key=5)
    m = gt.class_entropy(mix, OU, t, method="montecarlo", n_samples=2**12, key=6)
    gtt.assert_within_stderr(r.value, r.stderr, q.value, what="reduced vs quadrature")
    gtt.assert_within_stderr(m.value, m.stderr, q.value, what="montecarlo vs quadrature")


@settings(max_examples=6)
@given(mix=gtt.mixtures(K=4, d=5, cov_kind="class_iso"), proc=gtt.processes(), lam=gtt.log_snrs(-3, 4))
@pytest.mark.slow
def test_reduced_class_isotropic_matches_montecarlo(mix, proc, lam):
    t = np.array([float(proc.t_from_log_snr(lam))])
    r = gt.class_entropy(mix, proc, t, method="reduced", n_samples=2**13, key=1)
    m = gt.class_entropy(mix, proc, t, method="montecarlo", n_samples=2**13, key=2)
    gtt.assert_within_stderr(r.value, r.stderr, m.value, m.stderr)


@settings(max_examples=6)
@given(mix=gtt.mixtures(K=3, d=4, cov_kind="shared_full"), lam=gtt.log_snrs(-3, 4))
@pytest.mark.slow
def test_reduced_shared_full_matches_montecarlo(mix, lam):
    t = np.array([float(OU.t_from_log_snr(lam))])
    r = gt.class_entropy(mix, OU, t, method="reduced", n_samples=2**13, key=1)
    m = gt.class_entropy(mix, OU, t, method="montecarlo", n_samples=2**13, key=2)
    gtt.assert_within_stderr(r.value, r.stderr, m.value, m.stderr)


def _naive_entropy(mix, process, t, n, seed):
    """A naive numpy/scipy estimate: i.i.d. draws of X_t, scipy logpdf per class (independent of the library)."""
    rng = np.random.default_rng(seed)
    a, s = float(process.alpha(t)), float(process.sigma(t))
    covs = mix.component_covariances()
    z = rng.choice(mix.K, size=n, p=mix.weights)
    x0 = np.stack([rng.multivariate_normal(mix.means[k], covs[k]) for k in z])
    xt = a * x0 + s * rng.standard_normal(x0.shape)
    logits = np.stack([
        np.log(mix.weights[k])
        + stats.multivariate_normal(a * mix.means[k], a**2 * covs[k] + s**2 * np.eye(mix.d)).logpdf(xt)
        for k in range(mix.K)
    ], axis=-1)
    logp = logits - special.logsumexp(logits, axis=-1, keepdims=True)
    h = -np.sum(special.xlogy(np.exp(logp), np.exp(logp)), axis=-1)
    return h.mean(), h.std(ddof=1) / np.sqrt(n)


@pytest.mark.parametrize("cov_kind", ["class_diag", "class_full"])
@pytest.mark.slow
def test_montecarlo_matches_naive_scipy(cov_kind):
    mix = gt.random_mixture(jax.random.PRNGKey(4), 3, 5, cov_kind, mean_scale=1.5, dirichlet=3.0)
    for t in (0.0, 0.4, 1.2):
        m = gt.class_entropy(mix, OU, t, method="montecarlo", n_samples=2**13, key=8)
        ref, ref_se = _naive_entropy(mix, OU, t, 4000, seed=int(10 * t))
        gtt.assert_within_stderr(m.value, m.stderr, ref, ref_se)


# ------------------------------------------------------------------------------------------------- properties
@settings(max_examples=5)
@given(mix=gtt.mixtures(K=3, d=4, cov_kind="class_full"))
@pytest.mark.slow
def test_bounds_monotonicity_and_limits(mix):
    t = np.array([0.0, 0.05, 0.2, 0.5, 1.0, 2.0, 4.0, 12.0])
    H = gt.class_entropy(mix, OU, t, n_samples=2**12, key=0)
    gtt.assert_entropy_valid(H, mix.entropy_of_labels())
    gtt.assert_nondecreasing(H)
    # t → ∞: X_t carries no information about Z.
    gtt.assert_within_stderr(H.value[-1], H.stderr[-1], mix.entropy_of_labels(), atol=1e-6)


@pytest.mark.slow
def test_small_time_limit_is_entropy_given_clean_data():
    mix = gt.random_mixture(jax.random.PRNGKey(2), 3, 4, "class_full", mean_scale=0.7)
    ref, ref_se = _naive_entropy(mix, OU, 0.0, 6000, seed=1)  # H[Z | X_0] by naive Monte Carlo
    H = gt.class_entropy(mix, OU, np.array([0.0, 1e-4]), n_samples=2**13, key=2)
    gtt.assert_within_stderr(H.value, H.stderr, ref, ref_se)


@pytest.mark.slow
def test_separated_classes_at_time_zero_have_zero_entropy_and_unit_collision():
    mix = gt.k_classes(5, 20, mu=20.0)
    assert gt.class_entropy(mix, OU, 0.0).value < 1e-12
    np.testing.assert_allclose(gt.collision_probability(mix, OU, 0.0).value, 1.0, atol=1e-12)


@pytest.mark.slow
def test_partition_chain_rule():
    # H[Z | X] = H[Z_P | X] + Σ_B π_B H_B[Z | X], H_B the entropy of the sub-mixture restricted to group B.
    h = gt.hierarchical(2, 2, 16, mu_super=0.6, mu_sub=0.3)
    t = np.array([0.3, 0.8, 1.5])
    full = gt.class_entropy(h.mixture, OU, t, n_samples=2**15, key=1)
    coarse = gt.class_entropy(h.mixture, OU, t, partition=h.coarse, n_samples=2**15, key=2)
    within = np.zeros_like(t)
    for group in h.coarse.groups:
        w = h.mixture.weights[group]
        sub = gt.GaussianMixture(h.mixture.means[group], h.mixture.cov, w / w.sum())
        part = gt.class_entropy(sub, OU, t)  # binary: exact quadrature
        assert part.method == "quadrature"
        within += w.sum() * part.value
    gtt.assert_within_stderr(full.value, full.stderr, coarse.value + within, coarse.stderr)


@settings(max_examples=5)
@given(mix=gtt.mixtures(K=4, d=3, cov_kind="class_diag"), part=gtt.partitions(4))
@pytest.mark.slow
def test_coarsening_never_increases_entropy_and_collision_bound(mix, part):
    t = np.array([0.1, 0.6, 2.0])
    kw = dict(n_samples=2**11, key=9)
    fine = gt.class_entropy(mix, OU, t, **kw)
    coarse = gt.class_entropy(mix, OU, t, partition=part, **kw)
    trivial = gt.class_entropy(mix, OU, t, partition=gt.Partition.trivial(4), **kw)
    # With the same draws the inequality holds draw by draw, hence exactly for the averages.
    assert np.all(coarse.value <= fine.value + 1e-12)
    np.testing.assert_allclose(trivial.value, 0.0, atol=1e-12)
    # φ = E Σp² ≥ E e^{−h(x)} ≥ e^{−E h} (Jensen twice): exact for the empirical averages too.
    phi = gt.collision_probability(mix, OU, t, partition=part, **kw)
    assert np.all(phi.value >= np.exp(-coarse.value) - 1e-12)


@pytest.mark.slow
def test_label_permutation_invariance():
    mix = gt.random_mixture(jax.random.PRNGKey(7), 4, 3, "class_full", dirichlet=2.0)
    perm = np.array([2, 0, 3, 1])
    permuted = gt.GaussianMixture(mix.means[perm], mix.cov[perm], mix.weights[perm])
    t = np.array([0.2, 1.0])
    a = gt.class_entropy(mix, OU, t, n_samples=2**14, key=1)
    b = gt.class_entropy(permuted, OU, t, n_samples=2**14, key=2)
    gtt.assert_within_stderr(a.value, a.stderr, b.value, b.stderr)
    # exact method: K = 2 shared covariance, swap the labels
    two = gt.random_mixture(jax.random.PRNGKey(1), 2, 4, "shared_full", dirichlet=1.0)
    swapped = gt.GaussianMixture(two.means[::-1], two.cov, two.weights[::-1])
    np.testing.assert_allclose(gt.class_entropy(two, OU, t).value, gt.class_entropy(swapped, OU, t).value, atol=1e-13)


@pytest.mark.slow
def test_rotation_invariance():
    key = jax.random.PRNGKey(3)
    mix = gt.random_mixture(key, 3, 4, "class_full")
    Q, _ = np.linalg.qr(np.asarray(jax.random.normal(jax.random.PRNGKey(4), (4, 4), dtype=np.float64)))
    rotated = gt.GaussianMixture(mix.means @ Q.T, Q @ mix.cov @ Q.T, mix.weights)
    t = np.array([0.1, 0.7])
    a = gt.class_entropy(mix, OU, t, n_samples=2**14, key=1)
    b = gt.class_entropy(rotated, OU, t, n_samples=2**14, key=2)
    gtt.assert_within_stderr(a.value, a.stderr, b.value, b.stderr)
    shared = gt.random_mixture(key, 2, 4, "shared_full")
    rot_shared = gt.GaussianMixture(shared.means @ Q.T, Q @ shared.cov @ Q.T)
    np.testing.assert_allclose(gt.class_entropy(shared, OU, t).value, gt.class_entropy(rot_shared, OU, t).value,
                               atol=1e-12)


def test_common_translation_invariance_ou():
    # x_t → x_t + a c is invertible, so H is unchanged; with the same draws the estimates agree to rounding.
    mix = gt.random_mixture(jax.random.PRNGKey(5), 3, 4, "class_diag")
    shifted = gt.GaussianMixture(mix.means + np.array([3.0, -1.0, 0.5, 2.0]), mix.cov, mix.weights)
    t = np.array([0.0, 0.3, 1.0, 3.0])
    a = gt.class_entropy(mix, OU, t, n_samples=2**10, key=4)
    b = gt.class_entropy(shifted, OU, t, n_samples=2**10, key=4)
    np.testing.assert_allclose(a.value, b.value, atol=1e-9)


@settings(max_examples=4)
@given(proc=gtt.processes())
@pytest.mark.slow
def test_equal_snr_gives_equal_entropy_across_processes(proc):
    t_ou = np.array([0.2, 0.7, 1.5])
    t_p = np.asarray(OU.convert(t_ou, proc))
    two = gt.two_gaussians(50, mu=0.3)
    np.testing.assert_allclose(gt.class_entropy(two, OU, t_ou).value, gt.class_entropy(two, proc, t_p).value,
                               atol=1e-9)
    # Monte Carlo with the same draws: x_t differs by a scale factor only, so the estimates agree to rounding.
    mix = gt.random_mixture(jax.random.PRNGKey(0), 3, 3, "class_full")
    a = gt.class_entropy(mix, OU, t_ou, n_samples=2**10, key=2)
    b = gt.class_entropy(mix, proc, t_p, n_samples=2**10, key=2)
    np.testing.assert_allclose(a.value, b.value, atol=1e-8)


@pytest.mark.slow
def test_tiny_weights_and_far_means_are_stable():
    mix = gt.GaussianMixture(np.array([[0.0, 0.0], [1e3, 0.0], [0.0, 5.0]]), np.array([1.0, 0.5, 2.0]),
                             np.array([1 - 2e-12, 1e-12, 1e-12]))
    for method in ("reduced", "montecarlo"):
        H = gt.class_entropy(mix, OU, np.array([0.0, 1.0, 8.0]), method=method, n_samples=2**10)
        assert np.all(np.isfinite(H.value)) and np.all(H.value >= 0)
    zero = gt.GaussianMixture(np.array([[1.0], [-1.0]]), 1.0, np.array([1.0, 0.0]))
    np.testing.assert_allclose(gt.class_entropy(zero, OU, np.array([0.1, 2.0])).value, 0.0, atol=1e-15)


@pytest.mark.slow
def test_covariance_only_classes_reduced_vs_montecarlo():
    d, a = 64, 0.3
    mix = gt.GaussianMixture(np.zeros((2, d)), np.array([1 + a, 1 - a]))
    t = np.array([0.2, 1.0, 2.0])
    r = gt.class_entropy(mix, OU, t, n_samples=2**14, key=1)
    m = gt.class_entropy(mix, OU, t, method="montecarlo", n_samples=2**12, key=2)
    assert r.method == "reduced"
    gtt.assert_within_stderr(r.value, r.stderr, m.value, m.stderr)


@pytest.mark.slow
def test_point_mixture_and_mutual_information():
    pts = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (6, 3), dtype=np.float64))
    mix = gt.empirical(pts)
    t = np.array([0.05, 0.5, 3.0])
    H = gt.class_entropy(mix, OU, t, n_samples=2**13)
    mi = gt.mutual_information(mix, OU, t, n_samples=2**13)
    np.testing.assert_allclose(H.value + mi.value, np.log(6), atol=1e-12)
    ref = [_naive_point_entropy(pts, ti) for ti in t]
    gtt.assert_within_stderr(H.value, H.stderr, [r[0] for r in ref], [r[1] for r in ref])


def _naive_point_entropy(pts, t, n=4000, seed=0):
    rng = np.random.default_rng(seed)
    a, s = np.exp(-t), np.sqrt(-np.expm1(-2 * t))
    idx = rng.integers(0, len(pts), n)
    x = a * pts[idx] + s * rng.standard_normal((n, pts.shape[1]))
    logits = -0.5 * np.sum((x[:, None, :] - a * pts[None]) ** 2, axis=-1) / s**2
    p = special.softmax(logits, axis=-1)
    h = -np.sum(special.xlogy(p, p), axis=-1)
    return h.mean(), h.std(ddof=1) / np.sqrt(n)


# --------------------------------------------------------------------------------------- reproducibility, jit
@pytest.mark.slow
def test_same_key_same_result_and_no_retrace_across_time_grids():
    mix = gt.random_mixture(jax.random.PRNGKey(0), 3, 4, "class_full")
    a = gt.class_entropy(mix, OU, np.linspace(0.1, 2, 8), n_samples=2**10, key=3)
    size = montecarlo._mc_kernel._cache_size()
    b = gt.class_entropy(mix, OU, np.linspace(0.1, 2, 8), n_samples=2**10, key=3)
    c = gt.class_entropy(mix, OU, np.linspace(0.5, 3, 8), n_samples=2**10, key=3)
    np.testing.assert_array_equal(a.value, b.value)
    assert montecarlo._mc_kernel._cache_size() == size  # new times of the same shape: no recompilation
    assert not np.array_equal(a.value, c.value)
    # common random numbers: one time alone equals the same time inside a grid
    single = gt.class_entropy(mix, OU, np.array([c.t[3]]), n_samples=2**10, key=3)
    np.testing.assert_allclose(single.value[0], c.value[3], rtol=1e-12)
    sizes = reduced._shared_kernel._cache_size()
    two = gt.k_classes(3, 5)
    gt.class_entropy(two, OU, np.linspace(0.1, 2, 8), n_samples=2**10)
    gt.class_entropy(two, OU, np.linspace(0.2, 3, 8), n_samples=2**10)
    assert reduced._shared_kernel._cache_size() <= sizes + 1


@pytest.mark.slow
def test_auto_picks_cheapest_exact_method():
    assert gt.class_entropy(gt.two_gaussians(4), OU, 1.0).method == "quadrature"
    assert gt.class_entropy(gt.k_classes(3, 4), OU, 1.0).method == "reduced"
    iso = gt.GaussianMixture(np.eye(3), np.array([1.0, 2, 3]), cov_kind="class_iso")  # K == d: say which form
    assert gt.class_entropy(iso, OU, 1.0).method == "reduced"
    full = gt.random_mixture(jax.random.PRNGKey(0), 2, 3, "class_full")
    assert gt.class_entropy(full, OU, 1.0, n_samples=64).method == "montecarlo"


@pytest.mark.slow
def test_float32_precision_runs_and_is_close():
    mix = gt.random_mixture(jax.random.PRNGKey(0), 3, 8, "class_full")
    a = gt.class_entropy(mix, OU, np.array([0.3, 1.0]), n_samples=2**12, key=1)
    b = gt.class_entropy(mix, OU, np.array([0.3, 1.0]), n_samples=2**12, key=1, precision="float32")
    assert b.value.dtype == np.float64  # results come back as float64 whatever the kernel precision
    gtt.assert_within_stderr(a.value, a.stderr, b.value, b.stderr)  # float32 draws differ from float64 ones


# ------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="exact"), "method"),
        (dict(method="quadrature", mixture="k3"), "method='quadrature' needs"),
        (dict(method="reduced", mixture="full"), "method='reduced' needs"),
        (dict(n_samples=0), "n_samples"),
        (dict(n_samples=2.5), "n_samples"),
        (dict(t=-0.1), "t must lie"),
        (dict(t=float("nan")), "t must be finite"),
        (dict(t=[[0.1, 0.2]]), "t must be a scalar or a 1-D"),
        (dict(t=[]), "t must contain"),
        (dict(partition=gt.Partition([[0, 1], [2]])), "partition covers 3 labels"),
        (dict(partition=[[0], [1]]), "partition must be"),
        (dict(precision="float16"), "precision"),
        (dict(key="abc"), "key"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    mixtures = {
        "two": gt.two_gaussians(3),
        "k3": gt.k_classes(3, 4),
        "full": gt.random_mixture(jax.random.PRNGKey(0), 2, 3, "class_full"),
    }
    mix = mixtures[kwargs.pop("mixture", "two")]
    t = kwargs.pop("t", 0.5)
    with pytest.raises(ValueError, match=match):
        gt.class_entropy(mix, OU, t, **kwargs)


def test_bad_mixture_process_and_singular_time_zero():
    with pytest.raises(ValueError, match="mixture"):
        gt.class_entropy("not a mixture", OU, 0.5)
    with pytest.raises(ValueError, match="process"):
        gt.class_entropy(gt.two_gaussians(2), "ou", 0.5)
    with pytest.raises(ValueError, match="t must lie"):
        gt.class_entropy(gt.two_gaussians(2), gt.Flow(), 1.5)
    with pytest.raises(ValueError, match="σ\\(t\\) > 0"):
        gt.class_entropy(gt.empirical(np.eye(3)), OU, np.array([0.0, 1.0]))


@given(st.sampled_from(["entropy", "collision", "max"]))
@settings(max_examples=3)
def test_unknown_functional_rejected(functional):
    # the three known functionals work; an unknown one is refused with its name
    gt.entropy.posterior_statistic(gt.two_gaussians(2), OU, 0.5, functional)
    with pytest.raises(ValueError, match="functional"):
        gt.entropy.posterior_statistic(gt.two_gaussians(2), OU, 0.5, functional + "x")
