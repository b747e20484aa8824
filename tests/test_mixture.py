"""Gaussian mixtures: the five covariance forms, spectra, data covariance, sampling, constructors, partitions, and
validation of bad input.

Expected values are built by the tests themselves from the raw arrays they pass in (dense numpy matrices), from
closed-form geometry (norms, distances, Gram matrices) and from Monte Carlo with a stated standard error.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import integrate, stats

import gmmtheory as gt
from gmmtheory.mixture import COV_KINDS, MAX_SQUARED_SCALE, check_partition

K, D = 3, 4
RNG = np.random.default_rng(20240601)
MEANS = RNG.normal(size=(K, D))
WEIGHTS = np.array([0.2, 0.5, 0.3])


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    A = rng.normal(size=(d, d))
    return A @ A.T / d + 0.3 * np.eye(d)


SHARED_FULL = _spd(RNG, D)
CLASS_FULL = np.stack([_spd(RNG, D) for _ in range(K)])
CLASS_DIAG = RNG.uniform(0.2, 3.0, size=(K, D))
CLASS_ISO = np.array([0.5, 1.0, 2.5])

# (raw cov, expected cov_kind, dense (K, d, d) covariances computed here)
FORMS = {
    "shared_iso": (1.7, "shared_iso", np.stack([1.7 * np.eye(D)] * K)),
    "class_iso": (CLASS_ISO, "class_iso", np.stack([s * np.eye(D) for s in CLASS_ISO])),
    "class_diag": (CLASS_DIAG, "class_diag", np.stack([np.diag(v) for v in CLASS_DIAG])),
    "shared_full": (SHARED_FULL, "shared_full", np.stack([SHARED_FULL] * K)),
    "class_full": (CLASS_FULL, "class_full", CLASS_FULL.copy()),
}


def dense_data_covariance(means, covs, weights):
    """Cov X_0 = E[XXᵀ] − E[X]E[X]ᵀ with E[XXᵀ] = Σ π_k (Σ_k + μ_k μ_kᵀ), straight from the definition."""
    second = sum(w * (c + np.outer(m, m)) for w, m, c in zip(weights, means, covs))
    mean = sum(w * m for w, m in zip(weights, means))
    return second - np.outer(mean, mean)


# ------------------------------------------------------------------------------------------ covariance forms
@pytest.mark.parametrize("form", list(FORMS))
def test_covariance_forms_accepted(form):
    raw, kind, dense = FORMS[form]
    mix = gt.GaussianMixture(MEANS, raw, WEIGHTS)
    assert mix.cov_kind == kind
    assert (mix.K, mix.d) == (K, D)
    assert mix.means.dtype == np.float64 and mix.weights.dtype == np.float64
    np.testing.assert_array_equal(mix.means, MEANS)
    np.testing.assert_array_equal(mix.weights, WEIGHTS)
    covs = mix.component_covariances()
    assert covs.shape == (K, D, D)
    np.testing.assert_allclose(covs, dense, rtol=1e-14, atol=1e-15)
    assert mix.shared_covariance == (form in ("shared_iso", "shared_full"))
    assert mix.isotropic == (form in ("shared_iso", "class_iso"))
    assert not mix.singular
    assert repr(mix) == f"GaussianMixture(K={K}, d={D}, cov_kind={kind!r})"


def test_default_cov_and_weights():
    mix = gt.GaussianMixture(MEANS)
    assert mix.cov_kind == "shared_iso"
    np.testing.assert_array_equal(mix.component_covariances(), np.stack([np.eye(D)] * K))
    np.testing.assert_allclose(mix.weights, np.full(K, 1 / K), rtol=1e-15)
    assert mix.entropy_of_labels() == pytest.approx(np.log(K), rel=1e-14)


@pytest.mark.parametrize("form", list(FORMS))
def test_spectrum_reconstructs_covariances(form):
    raw, _, dense = FORMS[form]
    mix = gt.GaussianMixture(MEANS, raw, WEIGHTS)
    evals, basis = mix.spectrum
    assert evals.shape == (K, D)
    assert np.all(evals >= 0)
    if form in ("shared_iso", "class_iso", "class_diag"):
        assert basis is None
        U = np.broadcast_to(np.eye(D), (K, D, D))
    elif form == "shared_full":
        assert basis.shape == (D, D)
        U = np.broadcast_to(basis, (K, D, D))
    else:
        assert basis.shape == (K, D, D)
        U = basis
    for k in range(K):
        np.testing.assert_allclose(U[k].T @ U[k], np.eye(D), atol=1e-12)  # orthonormal columns
        np.testing.assert_allclose(U[k] @ np.diag(evals[k]) @ U[k].T, dense[k], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.sort(evals[k]), np.linalg.eigvalsh(dense[k]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("form", list(FORMS))
def test_data_covariance_formula(form):
    raw, _, dense = FORMS[form]
    mix = gt.GaussianMixture(MEANS, raw, WEIGHTS)
    np.testing.assert_allclose(mix.data_covariance(), dense_data_covariance(MEANS, dense, WEIGHTS), rtol=1e-12,
                               atol=1e-13)


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.slow
def test_sample_moments_match(form):
    """Sample mean, covariance and class frequencies agree with the truth within 5 estimated standard errors."""
    raw, _, dense = FORMS[form]
    mix = gt.GaussianMixture(MEANS, raw, WEIGHTS)
    n = 100_000
    x, z = mix.sample(jax.random.key(7), n)
    assert x.shape == (n, D) and z.shape == (n,)
    assert x.dtype == np.float64
    assert set(np.unique(z).tolist()) <= set(range(K))
    # class frequencies: binomial standard error
    freq = np.bincount(z, minlength=K) / n
    se_f = np.sqrt(WEIGHTS * (1 - WEIGHTS) / n)
    assert np.all(np.abs(freq - WEIGHTS) < 5 * se_f)
    # mean: standard error from the sample spread
    mean_true = WEIGHTS @ MEANS
    se_m = x.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(x.mean(axis=0) - mean_true) < 5 * se_m)
    # covariance: each entry is the mean of products (x_i − x̄)(x_j − x̄), SE from their spread
    xc = x - x.mean(axis=0)
    prods = xc[:, :, None] * xc[:, None, :]
    emp = prods.mean(axis=0)
    se_c = prods.std(axis=0) / np.sqrt(n)
    truth = dense_data_covariance(MEANS, dense, WEIGHTS)
    assert np.all(np.abs(emp - truth) < 5 * se_c + 1e-12), np.max(np.abs(emp - truth) / se_c)
    # within-class covariance of one class, against its Σ_k
    xk = x[z == 1]
    np.testing.assert_allclose(np.cov(xk.T), dense[1], atol=8 * np.max(np.diag(dense[1])) / np.sqrt(len(xk)))
    # the data_covariance method agrees with the sample as well (it is checked against the formula elsewhere)
    assert np.all(np.abs(emp - mix.data_covariance()) < 5 * se_c + 1e-12)


def test_sample_is_deterministic_for_a_key():
    mix = gt.GaussianMixture(MEANS, CLASS_FULL, WEIGHTS)
    x1, z1 = mix.sample(jax.random.key(3), 50)
    x2, z2 = mix.sample(jax.random.key(3), 50)
    x3, _ = mix.sample(jax.random.key(4), 50)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(z1, z2)
    assert not np.allclose(x1, x3)
    _, z = mix.sample(jax.random.key(0), np.int64(50))  # numpy integers are fine
    assert z.shape == (50,)


def test_sample_zero_covariance_gives_means():
    mix = gt.GaussianMixture(MEANS, 0.0, WEIGHTS)
    x, z = mix.sample(jax.random.key(1), 50)
    np.testing.assert_array_equal(x, MEANS[z])


@pytest.mark.parametrize("n", [0, -3, 2.5, "10"])
def test_sample_rejects_bad_n(n):
    mix = gt.GaussianMixture(MEANS)
    with pytest.raises(ValueError, match=r"^n must"):
        mix.sample(jax.random.key(0), n)


def test_ambiguous_shapes_when_K_equals_d_are_refused():
    """K = d: a (d, d) matrix (here symmetric but not PSD, so it is no covariance) was silently read as per-class
    diagonal variances; (K,) could mean per-coordinate variances. Both need cov_kind=, and the error names both
    readings."""
    means = RNG.normal(size=(3, 3))
    not_psd = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert np.linalg.eigvalsh(not_psd)[0] < 0  # as a shared full covariance it is invalid
    with pytest.raises(ValueError, match=r"^cov has shape \(3, 3\), which is ambiguous") as exc:
        gt.GaussianMixture(means, not_psd)
    assert "class_diag" in str(exc.value) and "shared_full" in str(exc.value)
    with pytest.raises(ValueError, match=r"^cov must be positive semi-definite"):
        gt.GaussianMixture(means, not_psd, cov_kind="shared_full")
    v = np.array([0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"^cov has shape \(3,\), which is ambiguous") as exc:
        gt.GaussianMixture(means, v)
    assert "class_iso" in str(exc.value) and "class_diag" in str(exc.value)
    iso = gt.GaussianMixture(means, v, cov_kind="class_iso")
    np.testing.assert_array_equal(iso.component_covariances(), v[:, None, None] * np.eye(3))
    diag = gt.GaussianMixture(means, np.abs(not_psd), cov_kind="class_diag")
    np.testing.assert_array_equal(diag.component_covariances(), np.stack([np.diag(r) for r in np.abs(not_psd)]))
    S = _spd(RNG, 3)
    mix = gt.GaussianMixture(means, S, cov_kind="shared_full")
    assert mix.cov_kind == "shared_full"
    np.testing.assert_allclose(mix.component_covariances(), np.stack([S] * 3), rtol=1e-14)
    # K = d = 1: every reading is the same variance, so no cov_kind is needed
    assert gt.GaussianMixture([[0.0]], [[2.0]]).component_covariances()[0, 0, 0] == 2.0
    assert gt.GaussianMixture([[0.0]], [2.0]).component_covariances()[0, 0, 0] == 2.0


@pytest.mark.parametrize("build", [
    lambda: gt.two_gaussians(2),
    lambda: gt.k_classes(4, 4),
    lambda: gt.k_classes(3, 3, geometry="simplex"),
    lambda: gt.hierarchical(2, 2, 4).mixture,
    lambda: gt.empirical(np.eye(3)),
    *[(lambda kind=kind: gt.random_mixture(jax.random.key(1), 3, 3, kind)) for kind in COV_KINDS],
])
def test_constructors_work_when_K_equals_d(build):
    mix = build()
    assert mix.K == mix.d
    dense = mix.component_covariances()
    assert dense.shape == (mix.K, mix.d, mix.d)
    assert np.all(np.linalg.eigvalsh(dense) >= -1e-12)


def test_arrays_are_read_only():
    mix = gt.GaussianMixture(MEANS, CLASS_DIAG, WEIGHTS)
    for arr in (mix.means, mix.cov, mix.weights):
        with pytest.raises(ValueError):
            arr[0] = 1.0


def test_constructor_does_not_freeze_callers_arrays():
    means = MEANS.copy()
    cov = CLASS_DIAG.copy()
    mix = gt.GaussianMixture(means, cov)
    means[0, 0] = 1e6  # the caller may keep using its own arrays ...
    cov[0, 0] = 7.0
    assert mix.means[0, 0] == MEANS[0, 0]  # ... without changing the mixture
    assert mix.cov[0, 0] == CLASS_DIAG[0, 0]


def test_singular_psd_covariances_accepted():
    v = RNG.normal(size=D)
    rank1 = np.outer(v, v)  # PSD, rank one
    mix = gt.GaussianMixture(MEANS, rank1)
    assert mix.singular
    np.testing.assert_allclose(mix.component_covariances()[0], rank1, rtol=1e-12)
    assert gt.GaussianMixture(MEANS, np.array([0.0, 1.0, 2.0])).singular


def test_entropy_of_labels_matches_scipy():
    mix = gt.GaussianMixture(MEANS, 1.0, WEIGHTS)
    assert mix.entropy_of_labels() == pytest.approx(stats.entropy(WEIGHTS), rel=1e-14)
    mix0 = gt.GaussianMixture(MEANS, 1.0, [0.5, 0.5, 0.0])  # zero weights contribute 0 log 0 = 0
    assert mix0.entropy_of_labels() == pytest.approx(np.log(2), rel=1e-14)


@settings(max_examples=20)
@given(
    lam=hnp.arrays(np.float64, (K, D), elements=st.floats(0.0, 5.0)),
    raw=hnp.arrays(np.float64, (K, D, D), elements=st.floats(-1.0, 1.0)),
)
def test_class_full_spectrum_property(lam, raw):
    """For Σ_k = Q_k diag(λ_k) Q_kᵀ built here, the stored spectrum has the drawn eigenvalues and rebuilds Σ_k."""
    q, _ = np.linalg.qr(raw + 3.0 * np.eye(D))
    cov = np.einsum("kij,kj,klj->kil", q, lam, q)
    mix = gt.GaussianMixture(MEANS, cov)
    evals, U = mix.spectrum
    np.testing.assert_allclose(np.sort(evals, axis=1), np.sort(lam, axis=1), atol=1e-10)
    np.testing.assert_allclose(np.einsum("kij,kj,klj->kil", U, evals, U), cov, atol=1e-10)
    np.testing.assert_allclose(mix.data_covariance(), dense_data_covariance(MEANS, cov, np.full(K, 1 / K)),
                               atol=1e-10)


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("means", [
    np.array([[0.0, np.nan]]),
    np.array([[0.0, np.inf]]),
    np.array([[-np.inf, 1.0]]),
    np.zeros(3),  # 1-D
    np.zeros((2, 3, 1)),  # 3-D
    np.zeros((0, 3)),  # K = 0
    np.zeros((3, 0)),  # d = 0
    [["a", "b"]],
    5.0,
])
def test_bad_means(means):
    with pytest.raises(ValueError, match=r"^means"):
        gt.GaussianMixture(means)


def _asym() -> np.ndarray:
    S = SHARED_FULL.copy()
    S[0, 1] += 0.1
    return S


def _not_psd() -> np.ndarray:
    Q, _ = np.linalg.qr(RNG.normal(size=(D, D)))
    return Q @ np.diag([1.0, 0.5, 0.2, -0.1]) @ Q.T


@pytest.mark.parametrize("cov", [
    float("nan"),
    float("inf"),
    np.array([1.0, np.nan, 1.0]),
    np.where(np.eye(D) > 0, np.inf, 0.0),
    -1.0,  # negative scalar variance
    np.array([1.0, -0.5, 1.0]),  # negative per-class variance
    np.where(np.arange(D) == 2, -1e-3, 1.0)[None].repeat(K, 0),  # negative diagonal entry
    _asym(),  # non-symmetric (d, d)
    np.stack([SHARED_FULL, _asym(), SHARED_FULL]),  # one non-symmetric component
    _not_psd(),  # symmetric with a negative eigenvalue
    np.stack([SHARED_FULL, SHARED_FULL, _not_psd()]),
    np.ones(K + 1),  # wrong shapes
    np.ones((K, D + 1)),
    np.ones((D + 1, D + 1)),
    np.ones((K, D, D + 1)),
    np.ones((2, K, D, D)),
    "big",
])
def test_bad_cov(cov):
    with pytest.raises(ValueError, match=r"^cov\b"):
        gt.GaussianMixture(MEANS, cov)


def test_psd_check_is_relative_to_scale():
    """Round-off sized asymmetry or negative eigenvalues of a large matrix are tolerated; real ones are not."""
    S = 1e6 * SHARED_FULL
    S_noise = S + 1e-9 * np.triu(np.ones((D, D)), 1)
    mix = gt.GaussianMixture(MEANS, S_noise)
    np.testing.assert_allclose(mix.cov, mix.cov.T, rtol=0, atol=0)  # symmetrised
    with pytest.raises(ValueError, match=r"^cov must be symmetric"):
        gt.GaussianMixture(MEANS, S + 1e-1 * np.triu(np.ones((D, D)), 1) * 1e3)


@pytest.mark.parametrize("weights", [
    [0.5, 0.5, np.nan],
    [0.5, np.inf, 0.5],
    [0.6, 0.6, -0.2],  # negative
    [0.3, 0.3, 0.3],  # sums to 0.9
    [0.5, 0.5, 0.1],
    [0.5, 0.5],  # wrong shape
    [[0.2, 0.3, 0.5]],
    0.5,
    ["a", "b", "c"],
])
def test_bad_weights(weights):
    with pytest.raises(ValueError, match=r"^weights"):
        gt.GaussianMixture(MEANS, 1.0, weights)


def test_weights_tolerance_and_zeros_accepted():
    mix = gt.GaussianMixture(MEANS, 1.0, [0.2, 0.5, 0.3 + 1e-10])
    assert mix.weights.sum() == pytest.approx(1.0, abs=1e-15)  # renormalised
    mix = gt.GaussianMixture(MEANS, 1.0, [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(mix.weights, [0.0, 1.0, 0.0])


@pytest.mark.parametrize("kind, cov", [("bogus", 1.0), ("class_full", SHARED_FULL), ("shared_iso", CLASS_ISO),
                                       ("class_iso", 1.0), ("shared_full", CLASS_DIAG)])
def test_bad_cov_kind(kind, cov):
    with pytest.raises(ValueError, match=r"^cov"):
        gt.GaussianMixture(MEANS, cov, cov_kind=kind)
    if kind == "bogus":
        with pytest.raises(ValueError, match="cov_kind"):
            gt.GaussianMixture(MEANS, cov, cov_kind=kind)


# ----------------------------------------------------------------------------------------------- constructors
@pytest.mark.parametrize("d, mu, sigma", [(1, 1.0, 1.0), (7, 0.3, 2.0), (100, 1.5, 0.5), (5, 0.0, 1.0)])
def test_two_gaussians(d, mu, sigma):
    mix = gt.two_gaussians(d, mu, sigma)
    assert (mix.K, mix.d) == (2, d)
    np.testing.assert_allclose(mix.means[0], -mix.means[1], rtol=0, atol=0)
    assert np.sum(mix.means[0] ** 2) == pytest.approx(d * mu**2, rel=1e-12)
    np.testing.assert_allclose(mix.means[0], np.full(d, mu))
    assert mix.cov_kind == "shared_iso"
    np.testing.assert_allclose(mix.component_covariances(), np.stack([sigma**2 * np.eye(d)] * 2), rtol=1e-14)
    np.testing.assert_allclose(mix.weights, [0.5, 0.5])
    # data covariance: σ²I + m mᵀ
    m = np.full(d, mu)
    np.testing.assert_allclose(mix.data_covariance(), sigma**2 * np.eye(d) + np.outer(m, m), rtol=1e-12, atol=1e-14)


def test_two_gaussians_weights():
    mix = gt.two_gaussians(3, weights=[0.25, 0.75])
    np.testing.assert_allclose(mix.weights, [0.25, 0.75])
    with pytest.raises(ValueError, match="weights"):
        gt.two_gaussians(3, weights=[0.5, 0.6])


@pytest.mark.parametrize("kw, name", [
    (dict(d=0), r"^d\b"),
    (dict(d=-2), r"^d\b"),
    (dict(d=2.5), r"^d\b"),
    (dict(d=3, mu=-1.0), "mu"),
    (dict(d=3, mu=float("nan")), "mu"),
    (dict(d=3, mu=float("inf")), "mu"),
    (dict(d=3, sigma=0.0), "sigma"),
    (dict(d=3, sigma=-1.0), "sigma"),
    (dict(d=3, sigma=float("inf")), "sigma"),
])
def test_two_gaussians_bad_input(kw, name):
    with pytest.raises(ValueError, match=name):
        gt.two_gaussians(**kw)


def test_constructor_non_numeric_parameter_named():
    with pytest.raises(ValueError, match="mu"):
        gt.two_gaussians(3, mu="abc")


@pytest.mark.parametrize("K_, d, mu, sigma", [(2, 2, 1.0, 1.0), (3, 5, 0.7, 1.3), (5, 5, 2.0, 0.5), (4, 50, 1.0, 1.0)])
def test_k_classes_orthogonal(K_, d, mu, sigma):
    mix = gt.k_classes(K_, d, mu, sigma)
    assert (mix.K, mix.d) == (K_, d)
    norms = np.linalg.norm(mix.means, axis=1)
    np.testing.assert_allclose(norms, mu * np.sqrt(d), rtol=1e-12)
    G = mix.means @ mix.means.T
    np.testing.assert_allclose(G, mu**2 * d * np.eye(K_), rtol=1e-12, atol=1e-12)
    for i, j in itertools.combinations(range(K_), 2):
        assert np.linalg.norm(mix.means[i] - mix.means[j]) == pytest.approx(mu * np.sqrt(2 * d), rel=1e-12)
    np.testing.assert_allclose(mix.component_covariances(), np.stack([sigma**2 * np.eye(d)] * K_), rtol=1e-14)
    np.testing.assert_allclose(mix.weights, np.full(K_, 1 / K_))


@pytest.mark.parametrize("K_, d, mu", [(2, 2, 1.0), (3, 3, 0.7), (4, 10, 2.0), (6, 6, 1.0)])
def test_k_classes_simplex(K_, d, mu):
    mix = gt.k_classes(K_, d, mu, geometry="simplex")
    np.testing.assert_allclose(np.linalg.norm(mix.means, axis=1), mu * np.sqrt(d), rtol=1e-12)
    np.testing.assert_allclose(mix.means.mean(axis=0), 0.0, atol=1e-12)  # centred
    for i, j in itertools.combinations(range(K_), 2):
        dist = np.linalg.norm(mix.means[i] - mix.means[j])
        assert dist == pytest.approx(mu * np.sqrt(2 * d * K_ / (K_ - 1)), rel=1e-12)
    # Gram matrix of a centred regular simplex: mu² d on the diagonal, −mu² d/(K−1) off it
    G = mix.means @ mix.means.T
    expected = mu**2 * d * (np.eye(K_) * (1 + 1 / (K_ - 1)) - 1 / (K_ - 1))
    np.testing.assert_allclose(G, expected, rtol=1e-12, atol=1e-12)


def test_k_classes_simplex_two_is_two_gaussians_up_to_rotation():
    a = gt.k_classes(2, 6, 0.8, geometry="simplex")
    b = gt.two_gaussians(6, 0.8)
    np.testing.assert_allclose(a.means @ a.means.T, b.means @ b.means.T, rtol=1e-12)


def test_k_classes_weights():
    mix = gt.k_classes(3, 4, weights=[0.1, 0.2, 0.7])
    np.testing.assert_allclose(mix.weights, [0.1, 0.2, 0.7])


@pytest.mark.parametrize("kw, name", [
    (dict(K=0, d=3), r"^K\b"),
    (dict(K=-1, d=3), r"^K\b"),
    (dict(K=2.0, d=3), r"^K\b"),
    (dict(K=4, d=3), r"^K\b"),
    (dict(K=2, d=0), r"^d\b"),
    (dict(K=2, d=3, mu=-0.5), "mu"),
    (dict(K=2, d=3, sigma=0.0), "sigma"),
    (dict(K=2, d=3, geometry="cube"), "geometry"),
    (dict(K=1, d=3, geometry="simplex"), r"\bK\b"),
    (dict(K=2, d=3, weights=[1.0]), "weights"),
])
def test_k_classes_bad_input(kw, name):
    with pytest.raises(ValueError, match=name):
        gt.k_classes(**kw)


@pytest.mark.parametrize("cov_kind", COV_KINDS)
def test_random_mixture(cov_kind):
    key = jax.random.key(11)
    mix = gt.random_mixture(key, 3, 5, cov_kind=cov_kind)
    assert mix.cov_kind == cov_kind and (mix.K, mix.d) == (3, 5)
    again = gt.random_mixture(key, 3, 5, cov_kind=cov_kind)
    other = gt.random_mixture(jax.random.key(12), 3, 5, cov_kind=cov_kind)
    np.testing.assert_array_equal(again.means, mix.means)
    np.testing.assert_array_equal(again.cov, mix.cov)
    np.testing.assert_array_equal(again.weights, mix.weights)
    assert not np.allclose(other.means, mix.means)
    covs = mix.component_covariances()
    ev = np.linalg.eigvalsh(covs)
    if cov_kind in ("shared_iso", "class_iso", "class_diag"):
        diag = np.diagonal(covs, axis1=1, axis2=2)
        assert np.all((diag >= 0.5) & (diag <= 2.0))
        np.testing.assert_array_equal(covs, np.stack([np.diag(v) for v in diag]))  # diagonal
    else:
        assert np.all(ev >= 0.5 - 1e-12)  # A Aᵀ/d + 0.5 I
        np.testing.assert_allclose(covs, np.swapaxes(covs, 1, 2), atol=0)
    if cov_kind.startswith("shared"):
        np.testing.assert_array_equal(covs[0], covs[1])
    np.testing.assert_allclose(mix.weights, np.full(3, 1 / 3))


@pytest.mark.slow
def test_random_mixture_dirichlet_and_mean_scale():
    mix = gt.random_mixture(jax.random.key(5), 6, 2, cov_kind="class_iso", mean_scale=100.0, dirichlet=0.5)
    assert np.all(mix.weights > 0) and mix.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert not np.allclose(mix.weights, 1 / 6)
    small = gt.random_mixture(jax.random.key(5), 6, 2, cov_kind="class_iso", mean_scale=1.0)
    np.testing.assert_allclose(mix.means, 100.0 * small.means, rtol=1e-12)  # same key: same draws, scaled


@pytest.mark.parametrize("kw, name", [
    (dict(K=0, d=3), r"^K\b"),
    (dict(K=2, d=0), r"^d\b"),
    (dict(K=2, d=3, cov_kind="full"), "cov_kind"),
])
def test_random_mixture_bad_input(kw, name):
    with pytest.raises(ValueError, match=name):
        gt.random_mixture(jax.random.key(0), **kw)


@pytest.mark.parametrize("kw, name", [
    (dict(dirichlet=0.0), "dirichlet"),
    (dict(dirichlet=-1.0), "dirichlet"),
    (dict(dirichlet=float("nan")), "dirichlet"),
    (dict(mean_scale=float("nan")), "mean_scale"),
])
def test_random_mixture_bad_parameters_named(kw, name):
    with pytest.raises(ValueError, match=name):
        gt.random_mixture(jax.random.key(0), 6, 2, cov_kind="class_iso", **kw)


@pytest.mark.parametrize("n_super, n_sub, d", [(2, 2, 4), (3, 2, 8), (2, 4, 10), (3, 3, 6)])
def test_hierarchical(n_super, n_sub, d):
    mu_super, mu_sub, sigma = 1.3, 0.4, 0.7
    h = gt.hierarchical(n_super, n_sub, d, mu_super, mu_sub, sigma)
    assert isinstance(h, gt.Hierarchy)
    mix = h.mixture
    assert (mix.K, mix.d) == (n_super * n_sub, d)
    np.testing.assert_allclose(mix.component_covariances(), np.stack([sigma**2 * np.eye(d)] * mix.K), rtol=1e-14)
    # coarse partition groups the labels k = a·n_sub + b by a
    assert h.coarse.groups == [[a * n_sub + b for b in range(n_sub)] for a in range(n_super)]
    assert h.coarse.names == tuple(f"super{a}" for a in range(n_super))
    assert h.fine.groups == [[k] for k in range(mix.K)]
    assert h.fine.refines(h.coarse) and not h.coarse.refines(h.fine)
    # factorisation: means[a, b] = u_a + v_b with u in the first n_super coords, v in the next n_sub, rest zero
    M = mix.means.reshape(n_super, n_sub, d)
    np.testing.assert_allclose(M[:, :, n_super + n_sub:], 0.0, atol=0)
    u = M[:, 0, :n_super]
    v = M[0, :, n_super:n_super + n_sub]
    for a, b in itertools.product(range(n_super), range(n_sub)):
        expected = np.concatenate([u[a], v[b], np.zeros(d - n_super - n_sub)])
        np.testing.assert_allclose(M[a, b], expected, rtol=1e-14)
    # u and v are centred regular simplices of norms mu_super√d and mu_sub√d
    for vecs, mu, n in ((u, mu_super, n_super), (v, mu_sub, n_sub)):
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), mu * np.sqrt(d), rtol=1e-12)
        np.testing.assert_allclose(vecs.sum(axis=0), 0.0, atol=1e-12)
        G = vecs @ vecs.T
        np.testing.assert_allclose(G, mu**2 * d * (np.eye(n) * (1 + 1 / (n - 1)) - 1 / (n - 1)), rtol=1e-12,
                                   atol=1e-12)


def test_hierarchical_two_by_two_is_plus_minus_u_plus_minus_v():
    d = 6
    h = gt.hierarchical(2, 2, d, mu_super=2.0, mu_sub=0.5)
    m = h.mixture.means
    u = (m[0] + m[1]) / 2
    v = (m[0] - m[1]) / 2
    np.testing.assert_allclose(m, np.stack([u + v, u - v, -u + v, -u - v]), rtol=1e-14, atol=1e-15)
    assert np.dot(u, v) == pytest.approx(0.0, abs=1e-12)
    assert np.sum(u**2) == pytest.approx(4.0 * d, rel=1e-12)
    assert np.sum(v**2) == pytest.approx(0.25 * d, rel=1e-12)


@pytest.mark.parametrize("kw, name", [
    (dict(n_super=1, n_sub=2, d=5), "n_super"),
    (dict(n_super=2, n_sub=1, d=5), "n_sub"),
    (dict(n_super=2.0, n_sub=2, d=5), "n_super"),
    (dict(n_super=2, n_sub=2, d=3), r"^d\b"),
    (dict(n_super=2, n_sub=2, d=0), r"^d\b"),
    (dict(n_super=2, n_sub=2, d=5, mu_super=0.0), "mu_super"),
    (dict(n_super=2, n_sub=2, d=5, mu_sub=-1.0), "mu_sub"),
    (dict(n_super=2, n_sub=2, d=5, sigma=0.0), "sigma"),
])
def test_hierarchical_bad_input(kw, name):
    with pytest.raises(ValueError, match=name):
        gt.hierarchical(**kw)


def test_empirical():
    pts = RNG.normal(size=(7, 3))
    mix = gt.empirical(pts)
    assert (mix.K, mix.d) == (7, 3)
    np.testing.assert_array_equal(mix.means, pts)
    np.testing.assert_allclose(mix.weights, np.full(7, 1 / 7))
    np.testing.assert_array_equal(mix.component_covariances(), np.zeros((7, 3, 3)))
    assert mix.singular
    np.testing.assert_array_equal(mix.spectrum.evals, np.zeros((7, 3)))
    # data covariance of P equally weighted points = biased sample covariance
    np.testing.assert_allclose(mix.data_covariance(), np.cov(pts.T, bias=True), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("pts", [np.zeros(3), np.zeros((2, 2, 2)), np.array([[0.0, np.nan]]), [[np.inf, 0.0]]])
def test_empirical_bad_input(pts):
    with pytest.raises(ValueError, match=r"^points"):
        gt.empirical(pts)


# ------------------------------------------------------------------------------------------------- partitions
def test_partition_from_groups():
    p = gt.Partition([[0, 2], [1], [3, 4]], names=["a", "b", "c"])
    assert p.K == 5 and p.M == 3
    assert p.groups == [[0, 2], [1], [3, 4]]
    assert p.assignment.tolist() == [0, 1, 0, 2, 2]
    assert p.names == ("a", "b", "c")
    expected = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1]], dtype=float)
    np.testing.assert_array_equal(p.membership(), expected)
    w = np.array([0.1, 0.2, 0.3, 0.15, 0.25])
    np.testing.assert_allclose(p.group_weights(w), [0.4, 0.2, 0.4], rtol=1e-14)
    assert gt.Partition([[1, 0]]).names == ("0",)
    assert "Partition" in repr(p)


def test_partition_from_assignment():
    p = gt.Partition.from_assignment([1, 0, 1, 2, 0])
    assert p.groups == [[1, 4], [0, 2], [3]]
    assert p.assignment.tolist() == [1, 0, 1, 2, 0]
    assert gt.Partition.from_assignment(np.array([0, 0, 0])).M == 1
    q = gt.Partition.from_assignment([0, 1], names=["x", "y"])
    assert q.names == ("x", "y")


def test_partition_identity_and_trivial():
    i = gt.Partition.identity(4)
    t = gt.Partition.trivial(4)
    assert i.groups == [[0], [1], [2], [3]]
    assert t.groups == [[0, 1, 2, 3]]
    np.testing.assert_array_equal(i.membership(), np.eye(4))
    np.testing.assert_array_equal(t.membership(), np.ones((4, 1)))
    w = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(i.group_weights(w), w)
    np.testing.assert_allclose(t.group_weights(w), [1.0])


def test_partition_refines():
    fine = gt.Partition.identity(4)
    mid = gt.Partition([[0, 1], [2], [3]])
    coarse = gt.Partition([[0, 1], [2, 3]])
    other = gt.Partition([[0, 2], [1, 3]])
    triv = gt.Partition.trivial(4)
    for a, b in [(fine, mid), (fine, coarse), (mid, coarse), (coarse, triv), (fine, triv), (mid, mid)]:
        assert a.refines(b), (a, b)
    for a, b in [(coarse, mid), (triv, coarse), (other, coarse), (coarse, other), (mid, other)]:
        assert not a.refines(b), (a, b)
    assert not fine.refines(gt.Partition.identity(5))  # different label sets


@pytest.mark.parametrize("groups", [
    [[0, 1], [1, 2]],  # duplicate
    [[0, 2]],  # label 1 missing
    [[0], [2]],
    [[0, 1], []],  # empty group
    [],  # no groups
    [[-1, 0]],  # negative label
    [["a"], [0]],  # not integers
    [0, 1],  # not a sequence of sequences
])
def test_partition_bad_groups(groups):
    with pytest.raises(ValueError, match="partition"):
        gt.Partition(groups)


def test_partition_bad_names():
    with pytest.raises(ValueError, match="names"):
        gt.Partition([[0], [1]], names=["only one"])


@pytest.mark.parametrize("assignment", [[0, 2], [1, 1], [-1, 0], [0.0, 1.0], [[0, 1]], [], ["a"]])
def test_partition_bad_assignment(assignment):
    with pytest.raises(ValueError, match="assignment"):
        gt.Partition.from_assignment(assignment)


def test_check_partition():
    assert check_partition(None, 3).groups == [[0], [1], [2]]
    p = gt.Partition([[0, 1], [2]])
    assert check_partition(p, 3) is p
    with pytest.raises(ValueError, match="partition"):
        check_partition(p, 4)
    with pytest.raises(ValueError, match="partition"):
        check_partition([[0, 1], [2]], 3)


def test_partition_names_a_repeated_label():
    """[[0, 1], [1, 2]] repeats label 1; the message used to report a made-up "missing label 3"."""
    with pytest.raises(ValueError, match=r"repeated: label 1 in groups \[0, 1\]") as exc:
        gt.Partition([[0, 1], [1, 2]])
    assert "missing" not in str(exc.value) and "3" not in str(exc.value)
    with pytest.raises(ValueError, match=r"label 0 2 times in group 0"):
        gt.Partition([[0, 0], [1]])
    with pytest.raises(ValueError, match=r"missing labels: \[1\]"):
        gt.Partition([[0, 2]])
    with pytest.raises(ValueError, match=r"negative labels \[-1\]"):
        gt.Partition([[-1, 0]])


# ------------------------------------------------------------------------------ round-off eigenvalues (snapped)
def _binary_entropy_reference(delta2: float, w: np.ndarray) -> float:
    """H[Z | X] for two Gaussians with a shared covariance: the log-odds is L = log(π₁/π₀) + s with s ~ N(±δ²/2, δ²)
    under class 1/0 (δ² the Mahalanobis distance of the means), H = π₁ E₁ log(1 + e^{−L}) + π₀ E₀ log(1 + e^{L});
    scipy quad in the standard normal variable."""
    lo, s = float(np.log(w[1] / w[0])), float(np.sqrt(delta2))

    def expect(mean: float, f) -> float:
        g = lambda u: f(lo + mean + s * u) * np.exp(-0.5 * u * u) / np.sqrt(2 * np.pi)  # noqa: E731
        return integrate.quad(g, -40, 40, epsabs=1e-14, epsrel=1e-12, limit=400)[0]

    return (w[1] * expect(delta2 / 2, lambda L: np.logaddexp(0, -L))
            + w[0] * expect(-delta2 / 2, lambda L: np.logaddexp(0, L)))


def test_rank_deficient_full_covariance_at_tiny_sigma():
    """Σ = B Bᵀ of rank 3 in d = 6 (eigh gives |λ| ~ 1e-13 where the truth is 0) and means that differ by 2η = 4e-8
    inside the null space: at σ ~ 1e-8 the round-off eigenvalues used to dominate a²λ + σ² (H 0.303 for 0.055).
    Reference: the exact low-rank split C⁻¹ = Q (R Rᵀ + σ² I_r)⁻¹ Qᵀ + (I − Q Qᵀ)/σ² built from the construction,
    δ² = 4 yᵀ(R Rᵀ + σ² I)⁻¹ y + 4η²/σ². The tolerance 1e-7 covers the unavoidable float64 loss in the 2e-8
    null-space coordinates of O(1) vectors (ε·|μ|/η ≈ 1e-8 relative); the unsnapped error was 1e-2 … 0.25."""
    rng = np.random.default_rng(7)
    d, r, eta = 6, 3, 2e-8
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    R = 10 * (rng.normal(size=(r, r)) + 2 * np.eye(r))
    S = (Q[:, :r] @ R) @ (Q[:, :r] @ R).T  # rank r, computed in float64 (round-off eigenvalues)
    assert np.max(np.abs(np.linalg.eigvalsh(S)[: d - r])) > 1e-15  # the round-off this test is about
    y = 0.3 * rng.normal(size=r)
    m = Q[:, :r] @ y + eta * Q[:, r:].sum(axis=1) / np.sqrt(d - r)
    w = np.array([0.3, 0.7])
    mix = gt.GaussianMixture(np.stack([m, -m]), S, w)
    lam = mix.spectrum.evals
    assert np.all(np.sort(lam, axis=1)[:, : d - r] == 0.0) and mix.singular
    sig = np.array([1e-8, 2e-8, 4e-8, 1e-7])
    ref = np.array([_binary_entropy_reference(4 * y @ np.linalg.solve(R @ R.T + s * s * np.eye(r), y)
                                              + 4 * eta**2 / s**2, w) for s in sig])
    got = gt.class_entropy(mix, gt.VE(), sig**2, method="quadrature").value  # VE: a = 1, σ(t)² = t
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-7)


def test_snap_keeps_real_small_eigenvalues():
    """Only round-off is snapped: eigenvalues 1e-9·λ_max are far above 16·d·ε₆₄·λ_max and are kept."""
    Q, _ = np.linalg.qr(RNG.normal(size=(D, D)))
    lam = np.array([1e-9, 1e-6, 1.0, 3.0])
    mix = gt.GaussianMixture(MEANS, Q @ np.diag(lam) @ Q.T)
    np.testing.assert_allclose(np.sort(mix.spectrum.evals[0]), lam, rtol=1e-6)
    assert not mix.singular


# --------------------------------------------------------------------------------------------- float32 input
def test_float32_weights_and_covariance_accepted():
    """float32 weights sum to 1 only within float32 rounding, and a float32 product A diag(v) Aᵀ is symmetric only
    within float32 rounding; both used to be refused at the float64 tolerances (1e-8)."""
    w32 = np.float32([0.6, 0.3, 0.1])
    assert abs(float(w32.astype(np.float64).sum()) - 1.0) > 1e-8  # what the old check refused
    ref_w = w32.astype(np.float64) / w32.astype(np.float64).sum()
    for w in (w32, jax.numpy.asarray(w32)):
        np.testing.assert_allclose(gt.GaussianMixture(MEANS, 1.0, w).weights, ref_w, rtol=1e-15)
    rng = np.random.default_rng(3)
    A = rng.normal(size=(D, D)).astype(np.float32)
    v = rng.uniform(0.5, 2.0, size=D).astype(np.float32)
    S32 = (A * v) @ A.T
    S64 = S32.astype(np.float64)
    assert np.max(np.abs(S64 - S64.T)) > 1e-8 * np.max(np.abs(S64))  # asymmetric beyond the float64 tolerance
    mix = gt.GaussianMixture(MEANS, S32)
    sym = 0.5 * (S64 + S64.T)
    np.testing.assert_array_equal(mix.component_covariances()[0], sym)
    np.testing.assert_allclose(np.sort(mix.spectrum.evals[0]), np.linalg.eigvalsh(sym), rtol=1e-12)
    # real problems are still refused in float32
    bad = S32.copy()
    bad[0, 1] += 1e-3 * np.abs(S32).max()
    with pytest.raises(ValueError, match=r"^cov must be symmetric"):
        gt.GaussianMixture(MEANS, bad)
    with pytest.raises(ValueError, match=r"^weights must sum to 1"):
        gt.GaussianMixture(MEANS, 1.0, np.float32([0.6, 0.3, 0.11]))


@pytest.mark.parametrize("arg", ["means", "cov", "weights"])
def test_complex_input_refused(arg):
    """np.array(complex, dtype=float64) used to drop the imaginary part with only a warning."""
    good = {"means": MEANS, "cov": CLASS_DIAG, "weights": WEIGHTS}
    kwargs = dict(good)
    kwargs[arg] = good[arg] + 1e-3j
    with pytest.raises(ValueError, match=rf"^{arg} must be real; got complex"):
        gt.GaussianMixture(kwargs["means"], kwargs["cov"], kwargs["weights"])


def test_boolean_and_text_input_refused():
    with pytest.raises(ValueError, match=r"^cov must be an array of real numbers; got booleans"):
        gt.GaussianMixture(MEANS, True)
    with pytest.raises(ValueError, match=r"^weights must be an array of real numbers; got text"):
        gt.GaussianMixture(MEANS, 1.0, ["0.2", "0.5", "0.3"])


# ----------------------------------------------------------------------------------------- scale limit, centring
def test_huge_spread_of_means_refused():
    """|μ| ≈ 1e156: |μ_k − μ̄|² overflows float64 (quadrature returned NaN); refused with the limit."""
    with pytest.raises(ValueError, match=r"^means are too far apart.*exceeds the limit 1e\+200"):
        gt.GaussianMixture(np.array([[1e156, 0.0], [-1e156, 0.0]]))
    with pytest.raises(ValueError, match=r"^means are too far apart"):
        gt.GaussianMixture(np.array([[1e308, 0.0], [-1e308, 0.0]]))  # μ_k − μ̄ itself overflows
    # the limit is on max_k |μ_k − μ̄|², in the sum over d coordinates: 2·(7.1e99)² = 1.008e200 > 1e200
    with pytest.raises(ValueError, match=r"^means are too far apart"):
        gt.GaussianMixture(np.array([[7.1e99, 7.1e99], [-7.1e99, -7.1e99]]))
    gt.GaussianMixture(np.array([[7.0e99, 7.0e99], [-7.0e99, -7.0e99]]))  # 0.98e200: accepted
    assert MAX_SQUARED_SCALE == 1e200


def test_huge_covariance_refused():
    with pytest.raises(ValueError, match=r"^cov is too large.*1e\+200"):
        gt.GaussianMixture(np.zeros((2, 1)), 2e200)
    with pytest.raises(ValueError, match=r"^cov is too large"):
        gt.GaussianMixture(np.zeros((2, 1000)), 2e197)  # d·λ = 2e200
    with pytest.raises(ValueError, match=r"^cov is too large"):
        gt.GaussianMixture(np.zeros((2, 2)), np.diag([1e201, 1.0]), cov_kind="shared_full")
    gt.GaussianMixture(np.zeros((2, 1)), 1e150)


def test_large_common_offset_accepted_and_centred():
    """A common offset is not limited (H is translation invariant); centred() removes it without a second eigh."""
    spread = np.array([[1e90, -2e90, 0.0], [-3e90, 1e90, 5e89], [0.0, 0.0, 1e90]])
    means = 1e100 + spread
    w = np.array([0.2, 0.5, 0.3])
    S = _spd(RNG, 3)
    mix = gt.GaussianMixture(means, S, w, cov_kind="shared_full")
    mbar = np.average(means, axis=0, weights=w)
    np.testing.assert_allclose(mix.offset, mbar, rtol=1e-15)
    spectrum = mix.spectrum
    eigh = np.linalg.eigh
    try:
        np.linalg.eigh = None  # any eigendecomposition inside centred() would fail
        c = mix.centred()
    finally:
        np.linalg.eigh = eigh
    np.testing.assert_allclose(c.means, means - mbar, rtol=1e-15, atol=1e-15 * 1e100)
    assert c.spectrum is spectrum and c.cov is mix.cov and c.weights is mix.weights and c.cov_kind == "shared_full"
    assert np.all(np.abs(c.offset) <= 1e-15 * 1e100)
    assert mix.centred() is c and c.centred() is c
    with pytest.raises(ValueError):
        c.means[0, 0] = 0.0
