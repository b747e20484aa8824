"""Exact posterior quantities: likelihoods, class/group posteriors, log density, denoisers, score, ε-prediction.

References are independent of ``gmmtheory.posterior``: ``scipy.stats.multivariate_normal`` log densities of
N(a μ_k, a² Σ_k + σ² I) with the dense covariances built here, Bayes' rule with ``scipy.special``, Gaussian
conditioning with dense ``numpy.linalg.solve``, ``jax.grad`` of the log density, and the closed-form a(t), σ(t).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special, stats

import gmmtheory as gt
from gmmtheory.compilation import count_compilations

K, D = 3, 4
RNG = np.random.default_rng(1234)
MEANS = RNG.normal(size=(K, D)) * 1.5
WEIGHTS = np.array([0.25, 0.45, 0.3])


def _spd(d: int) -> np.ndarray:
    A = RNG.normal(size=(d, d))
    return A @ A.T / d + 0.3 * np.eye(d)


SHARED_FULL = _spd(D)
CLASS_FULL = np.stack([_spd(D) for _ in range(K)])
CLASS_DIAG = RNG.uniform(0.2, 3.0, size=(K, D))
CLASS_ISO = np.array([0.4, 1.0, 2.2])
SING = np.outer(*(2 * [RNG.normal(size=D)]))  # rank-one PSD

# form → (raw cov, dense (K, d, d) covariances built here)
FORMS = {
    "shared_iso": (1.7, np.stack([1.7 * np.eye(D)] * K)),
    "class_iso": (CLASS_ISO, np.stack([s * np.eye(D) for s in CLASS_ISO])),
    "class_diag": (CLASS_DIAG, np.stack([np.diag(v) for v in CLASS_DIAG])),
    "shared_full": (SHARED_FULL, np.stack([SHARED_FULL] * K)),
    "class_full": (CLASS_FULL, CLASS_FULL.copy()),
    "points": (0.0, np.zeros((K, D, D))),  # a mixture of points (empirical data)
    "singular_full": (np.stack([SING, CLASS_FULL[1], SING]), np.stack([SING, CLASS_FULL[1], SING])),
}
FORM_IDS = list(FORMS)


def make(form: str, weights=WEIGHTS):
    raw, dense = FORMS[form]
    return gt.GaussianMixture(MEANS, raw, weights), dense


# processes with one interior time each, and their closed-form (a, σ) (docs/theory.md §2)
PROCS = [
    (gt.OU(), 0.4, lambda t: (math.exp(-t), math.sqrt(1 - math.exp(-2 * t)))),
    (gt.VP(), 0.3, lambda t: (math.exp(-0.5 * (0.1 * t + 9.95 * t * t)),
                              math.sqrt(1 - math.exp(-(0.1 * t + 9.95 * t * t))))),
    (gt.VE(), 1.5, lambda t: (1.0, math.sqrt(t))),
    (gt.EDM(sigma_data=0.5), 0.7, lambda t: (0.5, t)),
    (gt.Flow(), 0.6, lambda t: (1 - t, t)),
]
PROC_IDS = ["OU", "VP", "VE", "EDM0.5", "Flow"]


def points_for(a: float, s: float, n: int = 6, seed: int = 0) -> np.ndarray:
    """Test points around the noised means (so every class gets some posterior mass) plus one far point."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, K, size=n)
    x = a * MEANS[k] + (s + 0.5) * rng.normal(size=(n, D))
    x[-1] = 3.0 * rng.normal(size=D)
    return x


# ------------------------------------------------------------------------------------------------ references
def ref_logliks(x, a, s, dense):
    x = np.asarray(x)
    return np.stack(  # (scipy squeezes a single point's result; restore the batch shape)
        [np.reshape(stats.multivariate_normal(a * MEANS[k], a * a * dense[k] + s * s * np.eye(D)).logpdf(x),
                    x.shape[:-1]) for k in range(K)],
        axis=-1,
    )


def ref_posterior(x, a, s, dense, weights=WEIGHTS):
    with np.errstate(divide="ignore"):
        logits = np.log(weights) + ref_logliks(x, a, s, dense)
    return special.softmax(logits, axis=-1), special.log_softmax(logits, axis=-1)


def ref_log_density(x, a, s, dense, weights=WEIGHTS):
    with np.errstate(divide="ignore"):
        return special.logsumexp(np.log(weights) + ref_logliks(x, a, s, dense), axis=-1)


def ref_cond_denoisers(x, a, s, dense):
    """x̂_k = μ_k + a Σ_k C_k⁻¹ (x − a μ_k), dense numpy: shape (n, K, d)."""
    out = []
    for k in range(K):
        C = a * a * dense[k] + s * s * np.eye(D)
        out.append(MEANS[k] + a * (dense[k] @ np.linalg.solve(C, (x - a * MEANS[k]).T)).T)
    return np.stack(out, axis=-2)


def ref_score_direct(x, a, s, dense, weights=WEIGHTS):
    """∇ log p = Σ_k p(k|x) (−C_k⁻¹ (x − a μ_k)), without any denoiser."""
    p, _ = ref_posterior(x, a, s, dense, weights)
    grads = np.stack(
        [-np.linalg.solve(a * a * dense[k] + s * s * np.eye(D), (x - a * MEANS[k]).T).T for k in range(K)], axis=-2
    )
    return np.einsum("nk,nkd->nd", p, grads)


# ------------------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("form", FORM_IDS)
@pytest.mark.parametrize("proc, t, ab", PROCS, ids=PROC_IDS)
def test_component_log_likelihoods_match_scipy(form, proc, t, ab):
    mix, dense = make(form)
    a, s = ab(t)
    x = points_for(a, s)
    got = np.asarray(gt.component_log_likelihoods(mix, proc, t, x))
    assert got.shape == (len(x), K)
    np.testing.assert_allclose(got, ref_logliks(x, a, s, dense), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("form", FORM_IDS)
@pytest.mark.parametrize("proc, t, ab", PROCS, ids=PROC_IDS)
def test_class_posterior_is_bayes_rule(form, proc, t, ab):
    mix, dense = make(form)
    a, s = ab(t)
    x = points_for(a, s, seed=1)
    p_ref, logp_ref = ref_posterior(x, a, s, dense)
    p = np.asarray(gt.class_posterior(mix, proc, t, x))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p, p_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gt.log_class_posterior(mix, proc, t, x)), logp_ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("form", FORM_IDS)
@pytest.mark.parametrize("proc, t, ab", PROCS[:3], ids=PROC_IDS[:3])
def test_log_density_matches_scipy_mixture(form, proc, t, ab):
    mix, dense = make(form)
    a, s = ab(t)
    x = points_for(a, s, seed=2)
    np.testing.assert_allclose(np.asarray(gt.log_density(mix, proc, t, x)), ref_log_density(x, a, s, dense),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.slow
def test_log_density_integrates_to_one_in_1d():
    """A normalisation check in d = 1 by quadrature: ∫ p_t(x) dx = 1."""
    mix = gt.GaussianMixture(np.array([[-2.0], [0.5], [3.0]]), np.array([0.3, 1.0, 0.1]), [0.2, 0.5, 0.3])
    xs = np.linspace(-15, 15, 6001)[:, None]
    dens = np.exp(np.asarray(gt.log_density(mix, gt.OU(), 0.3, xs)))
    assert np.trapezoid(dens, xs[:, 0]) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("form", FORM_IDS)
@pytest.mark.parametrize("proc, t, ab", PROCS, ids=PROC_IDS)
def test_conditional_denoisers_gaussian_conditioning(form, proc, t, ab):
    mix, dense = make(form)
    a, s = ab(t)
    x = points_for(a, s, seed=3)
    got = np.asarray(gt.conditional_denoisers(mix, proc, t, x))
    assert got.shape == (len(x), K, D)
    np.testing.assert_allclose(got, ref_cond_denoisers(x, a, s, dense), rtol=1e-9, atol=1e-10)
    for k in range(K):  # the label argument of denoiser gives the same
        np.testing.assert_allclose(np.asarray(gt.denoiser(mix, proc, t, x, label=k)), got[:, k], rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("form", FORM_IDS)
@pytest.mark.parametrize("proc, t, ab", PROCS, ids=PROC_IDS)
def test_unconditional_denoiser_score_eps(form, proc, t, ab):
    mix, dense = make(form)
    a, s = ab(t)
    x = points_for(a, s, seed=4)
    p_ref, _ = ref_posterior(x, a, s, dense)
    xhat_ref = np.einsum("nk,nkd->nd", p_ref, ref_cond_denoisers(x, a, s, dense))
    xhat = np.asarray(gt.denoiser(mix, proc, t, x))
    np.testing.assert_allclose(xhat, xhat_ref, rtol=1e-9, atol=1e-10)
    # score: Tweedie (a x̂ − x)/σ² with the reference denoiser, and the direct mixture gradient
    sc = np.asarray(gt.score(mix, proc, t, x))
    np.testing.assert_allclose(sc, (a * xhat_ref - x) / s**2, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(sc, ref_score_direct(x, a, s, dense), rtol=1e-8, atol=1e-9)
    # ε̂ = (x − a x̂)/σ
    np.testing.assert_allclose(np.asarray(gt.eps_prediction(mix, proc, t, x)), (x - a * xhat_ref) / s, rtol=1e-8,
                               atol=1e-9)


@pytest.mark.parametrize("form", ["class_iso", "shared_full", "class_full", "points"])
@pytest.mark.slow
def test_score_is_gradient_of_log_density(form):
    mix, _ = make(form)
    proc, t = gt.VP(), 0.35
    x = jnp.asarray(points_for(*PROCS[1][2](t), seed=5))
    grad = jax.vmap(jax.grad(lambda y: gt.log_density(mix, proc, t, y)))(x)
    np.testing.assert_allclose(np.asarray(gt.score(mix, proc, t, x)), np.asarray(grad), rtol=1e-9, atol=1e-10)
    # and by central finite differences of the scipy log density, for one point
    a, s = PROCS[1][2](t)
    dense = FORMS[form][1]
    x0, h = np.asarray(x[0]), 1e-5
    fd = np.array([(ref_log_density(x0 + h * e, a, s, dense) - ref_log_density(x0 - h * e, a, s, dense)) / (2 * h)
                   for e in np.eye(D)])
    np.testing.assert_allclose(np.asarray(grad[0]), fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("form", ["class_diag", "class_full"])
def test_conditional_score_and_eps(form):
    """With a label: score = −C_k⁻¹(x − aμ_k) and ε̂_k = (x − a x̂_k)/σ."""
    mix, dense = make(form)
    proc, t, ab = PROCS[0]
    a, s = ab(t)
    x = points_for(a, s, seed=6)
    for k in range(K):
        C = a * a * dense[k] + s * s * np.eye(D)
        expected = -np.linalg.solve(C, (x - a * MEANS[k]).T).T
        np.testing.assert_allclose(np.asarray(gt.score(mix, proc, t, x, label=k)), expected, rtol=1e-9, atol=1e-10)
        xk = ref_cond_denoisers(x, a, s, dense)[:, k]
        np.testing.assert_allclose(np.asarray(gt.eps_prediction(mix, proc, t, x, label=k)), (x - a * xk) / s,
                                   rtol=1e-9, atol=1e-10)


def test_denoiser_label_array_broadcasts():
    mix, dense = make("class_full")
    proc, t, ab = PROCS[2]
    a, s = ab(t)
    x = points_for(a, s, seed=7)
    labels = np.array([0, 2, 1, 1, 0, 2])
    got = np.asarray(gt.denoiser(mix, proc, t, x, label=labels))
    ref = ref_cond_denoisers(x, a, s, dense)[np.arange(len(x)), labels]
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


@settings(max_examples=20)
@given(
    x=hnp.arrays(np.float64, (D,), elements=st.floats(-4.0, 4.0)),
    lam=st.floats(-4.0, 4.0),
)
def test_posterior_property_against_scipy(x, lam):
    """Random points and noise levels (OU time from λ by the closed form t = ½ log(1 + e^{−λ}))."""
    mix, dense = make("class_full")
    t = 0.5 * math.log1p(math.exp(-lam))
    a, s = math.exp(-t), math.sqrt(-math.expm1(-2 * t))
    p_ref, _ = ref_posterior(x[None], a, s, dense)
    np.testing.assert_allclose(np.asarray(gt.class_posterior(mix, gt.OU(), t, x)), p_ref[0], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gt.denoiser(mix, gt.OU(), t, x)),
                               np.einsum("k,kd->d", p_ref[0], ref_cond_denoisers(x[None], a, s, dense)[0]),
                               rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------------------------------- partitions
PART = gt.Partition([[0, 2], [1]])


@pytest.mark.parametrize("form", ["shared_iso", "class_diag", "class_full"])
@pytest.mark.slow
def test_group_posterior_is_sum(form):
    mix, dense = make(form)
    proc, t, ab = PROCS[0]
    a, s = ab(t)
    x = points_for(a, s, seed=8)
    p_ref, _ = ref_posterior(x, a, s, dense)
    g_ref = np.stack([p_ref[:, 0] + p_ref[:, 2], p_ref[:, 1]], axis=-1)
    g = np.asarray(gt.class_posterior(mix, proc, t, x, partition=PART))
    assert g.shape == (len(x), 2)
    np.testing.assert_allclose(g, g_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gt.log_class_posterior(mix, proc, t, x, partition=PART)), np.log(g_ref),
                               rtol=1e-9, atol=1e-9)
    # identity partition = class posterior; trivial partition = 1
    np.testing.assert_allclose(np.asarray(gt.class_posterior(mix, proc, t, x, partition=gt.Partition.identity(K))),
                               p_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gt.class_posterior(mix, proc, t, x, partition=gt.Partition.trivial(K))),
                               1.0, rtol=1e-12)


@pytest.mark.parametrize("form", ["class_iso", "class_full"])
def test_group_conditional_denoiser(form):
    """E[X_0 | x, Z ∈ B] = Σ_{k∈B} p(k|x) x̂_k / Σ_{k∈B} p(k|x)."""
    mix, dense = make(form)
    proc, t, ab = PROCS[3]
    a, s = ab(t)
    x = points_for(a, s, seed=9)
    p_ref, _ = ref_posterior(x, a, s, dense)
    xk = ref_cond_denoisers(x, a, s, dense)
    b0 = (p_ref[:, 0, None] * xk[:, 0] + p_ref[:, 2, None] * xk[:, 2]) / (p_ref[:, 0] + p_ref[:, 2])[:, None]
    np.testing.assert_allclose(np.asarray(gt.denoiser(mix, proc, t, x, label=0, partition=PART)), b0, rtol=1e-9,
                               atol=1e-10)
    np.testing.assert_allclose(np.asarray(gt.denoiser(mix, proc, t, x, label=1, partition=PART)), xk[:, 1],
                               rtol=1e-9, atol=1e-10)
    # the trivial partition's single group gives the unconditional denoiser
    xhat = np.einsum("nk,nkd->nd", p_ref, xk)
    np.testing.assert_allclose(np.asarray(gt.denoiser(mix, proc, t, x, label=0, partition=gt.Partition.trivial(K))),
                               xhat, rtol=1e-9, atol=1e-10)


def test_partition_and_label_validation():
    mix, _ = make("shared_iso")
    x = np.zeros(D)
    with pytest.raises(ValueError, match="partition"):
        gt.class_posterior(mix, gt.OU(), 0.5, x, partition=gt.Partition.identity(K + 1))
    with pytest.raises(ValueError, match="partition"):
        gt.denoiser(mix, gt.OU(), 0.5, x, label=0, partition=[[0, 1], [2]])
    with pytest.raises(ValueError, match="label"):
        gt.denoiser(mix, gt.OU(), 0.5, x, label=K)
    with pytest.raises(ValueError, match="label"):
        gt.denoiser(mix, gt.OU(), 0.5, x, label=-1)
    with pytest.raises(ValueError, match="label"):
        gt.denoiser(mix, gt.OU(), 0.5, x, label=2, partition=PART)  # PART has 2 groups


# ------------------------------------------------------------------------------------------------- stability
@pytest.mark.slow
def test_well_separated_classes_are_stable():
    """|μ| ~ 1e3: likelihood differences of ~1e6 nats must not give NaN; log posteriors stay exact."""
    m = np.full(D, 500.0)  # |m| = 1e3
    mix = gt.GaussianMixture(np.stack([m, -m, np.zeros(D)]), 1.0)
    proc, t = gt.OU(), 0.05
    a, s = math.exp(-t), math.sqrt(-math.expm1(-2 * t))
    c = a * a + s * s  # shared isotropic C = c I
    x = np.stack([a * m + 0.3, -a * m + 0.1, np.full(D, 0.2), a * m / 2])
    p = np.asarray(gt.class_posterior(mix, proc, t, x))
    logp = np.asarray(gt.log_class_posterior(mix, proc, t, x))
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(logp))
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(p[:3], np.eye(3), atol=1e-12)
    # exact log-posterior ratios of equal-covariance classes: (|x − aμ_j|² − |x − aμ_k|²)/(2c)
    mus = a * mix.means
    sq = ((x[:, None, :] - mus[None]) ** 2).sum(-1)
    expected = -(sq - sq.min(axis=1, keepdims=True)) / (2 * c)
    expected = expected - special.logsumexp(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(logp, expected, rtol=1e-9, atol=1e-8)
    assert logp[0, 1] < -1e5  # genuinely huge separations were exercised
    for fn in (gt.denoiser, gt.score, gt.eps_prediction, gt.log_density):
        assert np.all(np.isfinite(np.asarray(fn(mix, proc, t, x))))
    assert np.all(np.isfinite(np.asarray(gt.conditional_denoisers(mix, proc, t, x))))
    # the point halfway between m and 0 is equally likely under both
    np.testing.assert_allclose(p[3, [0, 2]], [0.5, 0.5], atol=1e-9)


@pytest.mark.parametrize("tiny", [1e-12, 1e-300])
def test_tiny_weights_are_stable(tiny):
    mix, dense = make("class_full", weights=[tiny, 1.0 - tiny - 0.3, 0.3])
    proc, t, ab = PROCS[0]
    a, s = ab(t)
    x = points_for(a, s, seed=10)
    weights = np.array([tiny, 1.0 - tiny - 0.3, 0.3])
    logp = np.asarray(gt.log_class_posterior(mix, proc, t, x))
    p = np.asarray(gt.class_posterior(mix, proc, t, x))
    assert np.all(np.isfinite(logp)) and not np.any(np.isnan(p))
    _, logp_ref = ref_posterior(x, a, s, dense, weights)
    np.testing.assert_allclose(logp, logp_ref, rtol=1e-9, atol=1e-9)  # log p(0|x) ≈ log(tiny) + O(1), exact
    for fn in (gt.denoiser, gt.score, gt.eps_prediction):
        assert np.all(np.isfinite(np.asarray(fn(mix, proc, t, x))))
    # the rare class's conditional denoiser is unaffected by its weight
    np.testing.assert_allclose(np.asarray(gt.denoiser(mix, proc, t, x, label=0)),
                               ref_cond_denoisers(x, a, s, dense)[:, 0], rtol=1e-9, atol=1e-10)


@pytest.mark.slow
def test_zero_weight_component():
    mix, dense = make("class_diag", weights=[0.0, 0.6, 0.4])
    proc, t, ab = PROCS[0]
    a, s = ab(t)
    x = points_for(a, s, seed=11)
    p = np.asarray(gt.class_posterior(mix, proc, t, x))
    assert np.all(p[:, 0] == 0.0) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p, ref_posterior(x, a, s, dense, np.array([0.0, 0.6, 0.4]))[0], rtol=1e-9, atol=1e-12)
    for fn in (gt.denoiser, gt.score, gt.eps_prediction, gt.log_density):
        assert np.all(np.isfinite(np.asarray(fn(mix, proc, t, x))))
    grad = jax.grad(lambda y: gt.log_density(mix, proc, t, y))(jnp.asarray(x[0]))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_conditional_denoiser_of_zero_weight_component():
    mix, dense = make("class_diag", weights=[0.0, 0.6, 0.4])
    proc, t, ab = PROCS[0]
    a, s = ab(t)
    x = points_for(a, s, seed=11)
    np.testing.assert_allclose(np.asarray(gt.denoiser(mix, proc, t, x, label=0)),
                               ref_cond_denoisers(x, a, s, dense)[:, 0], rtol=1e-9, atol=1e-10)


# -------------------------------------------------------------------------------------- shapes, jit, vmap
@pytest.mark.slow
def test_batch_shapes():
    mix, dense = make("class_full")
    proc, t, ab = PROCS[0]
    a, s = ab(t)
    x = points_for(a, s, n=6, seed=12).reshape(2, 3, D)
    assert gt.component_log_likelihoods(mix, proc, t, x).shape == (2, 3, K)
    assert gt.class_posterior(mix, proc, t, x).shape == (2, 3, K)
    assert gt.class_posterior(mix, proc, t, x, partition=PART).shape == (2, 3, 2)
    assert gt.log_density(mix, proc, t, x).shape == (2, 3)
    assert gt.conditional_denoisers(mix, proc, t, x).shape == (2, 3, K, D)
    for fn in (gt.denoiser, gt.score, gt.eps_prediction):
        assert fn(mix, proc, t, x).shape == (2, 3, D)
    # a single point has no batch axes
    assert gt.class_posterior(mix, proc, t, x[0, 0]).shape == (K,)
    assert gt.log_density(mix, proc, t, x[0, 0]).shape == ()
    # batched values equal the reference point by point
    flat = x.reshape(-1, D)
    np.testing.assert_allclose(np.asarray(gt.class_posterior(mix, proc, t, x)).reshape(-1, K),
                               ref_posterior(flat, a, s, dense)[0], rtol=1e-9, atol=1e-12)


def test_time_array_broadcasts_against_batch():
    mix, dense = make("class_diag")
    proc = gt.OU()
    ts = np.array([0.1, 0.5, 1.0, 2.0])
    x = points_for(0.7, 0.7, n=4, seed=13)
    got = np.asarray(gt.class_posterior(mix, proc, ts, x))
    got_d = np.asarray(gt.denoiser(mix, proc, ts, x))
    got_s = np.asarray(gt.score(mix, proc, ts, x))
    for i, t in enumerate(ts):
        a, s = math.exp(-t), math.sqrt(-math.expm1(-2 * t))
        p_ref, _ = ref_posterior(x[i:i + 1], a, s, dense)
        np.testing.assert_allclose(got[i], p_ref[0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got_s[i], ref_score_direct(x[i:i + 1], a, s, dense)[0], rtol=1e-8, atol=1e-9)
        xh = np.einsum("k,kd->d", p_ref[0], ref_cond_denoisers(x[i:i + 1], a, s, dense)[0])
        np.testing.assert_allclose(got_d[i], xh, rtol=1e-9, atol=1e-10)


@pytest.mark.slow
def test_jit_and_vmap():
    mix, _ = make("class_full")
    proc = gt.OU()
    x = jnp.asarray(points_for(0.6, 0.8, n=5, seed=14))
    eager = np.asarray(gt.class_posterior(mix, proc, 0.5, x))
    jitted = jax.jit(lambda y: gt.class_posterior(mix, proc, 0.5, y))
    np.testing.assert_allclose(np.asarray(jitted(x)), eager, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.asarray(jax.vmap(lambda y: gt.class_posterior(mix, proc, 0.5, y))(x)), eager,
                               rtol=1e-13, atol=1e-15)
    # traced time as well
    ts = jnp.array([0.2, 0.5, 0.9, 1.5, 3.0])
    f = jax.jit(jax.vmap(lambda t, y: gt.denoiser(mix, proc, t, y)))
    np.testing.assert_allclose(np.asarray(f(ts, x)), np.asarray(gt.denoiser(mix, proc, ts, x)), rtol=1e-12,
                               atol=1e-14)
    s_jit = jax.jit(lambda t, y: gt.score(mix, proc, t, y))
    np.testing.assert_allclose(np.asarray(s_jit(0.5, x)), np.asarray(gt.score(mix, proc, 0.5, x)), rtol=1e-12,
                               atol=1e-13)


@pytest.mark.parametrize("fn", [
    gt.component_log_likelihoods, gt.class_posterior, gt.log_class_posterior, gt.log_density,
    gt.conditional_denoisers, gt.denoiser, gt.score, gt.eps_prediction,
])
@pytest.mark.parametrize("shape", [(D + 1,), (5, D - 1), (D, 1), ()])
def test_wrong_last_dimension_rejected(fn, shape):
    mix, _ = make("class_full")
    with pytest.raises(ValueError, match=r"^x must"):
        fn(mix, gt.OU(), 0.5, np.zeros(shape))


# ------------------------------------------------------------------------------- validation before any jax work
SPY_CALLS: list[str] = []


class _SpyOU(gt.OU):
    """OU that records every evaluation of a(t) or σ(t): validation must come before the first one."""

    def alpha(self, t):
        SPY_CALLS.append("alpha")
        return super().alpha(t)

    def sigma(self, t):
        SPY_CALLS.append("sigma")
        return super().sigma(t)


@pytest.mark.parametrize("call", [
    lambda mix, p, x: gt.denoiser(mix, p, 0.5, x, label=7),
    lambda mix, p, x: gt.denoiser(mix, p, 0.5, x, label=np.array([0, 1, 3, 0, 1])),
    lambda mix, p, x: gt.denoiser(mix, p, 0.5, x, label=np.array([0, 1])),  # does not broadcast to (5,)
    lambda mix, p, x: gt.score(mix, p, 0.5, x[:, :-1]),
    lambda mix, p, x: gt.eps_prediction(mix, p, 0.5, x[:, :-1]),
    lambda mix, p, x: gt.score(mix, p, 0.5, x, label=-1),
    lambda mix, p, x: gt.class_posterior(mix, p, True, x),
], ids=["label7", "label_array", "label_shape", "score_x", "eps_x", "score_label", "t_bool"])
def test_bad_input_refused_before_any_jax_work(call):
    """The ValueError comes before a(t), σ(t) or any XLA compilation (it used to follow up to 27 compilations)."""
    mix, _ = make("class_full")
    x = np.zeros((5, D))
    SPY_CALLS.clear()
    with count_compilations() as counts, pytest.raises(ValueError, match=r"^(label|x|t) must"):
        call(mix, _SpyOU(), x)
    assert SPY_CALLS == [] and counts == {"traces": 0, "compiles": 0}


def test_label_arrays_checked_eagerly_and_traced_labels_work():
    """An out-of-range label array silently gave the last class; numpy and concrete jax arrays are now checked.
    Traced labels (inside jit) cannot be checked; valid ones still match Gaussian conditioning."""
    mix, dense = make("class_full")
    proc, t, ab = PROCS[0]
    a, s = ab(t)
    x = points_for(a, s, seed=11)
    for bad in (np.array([0, 1, 2, 3, 0, 1]), jnp.array([0, 1, 2, -1, 0, 1]), [0, 1, 2, 0, 0, 5]):
        with pytest.raises(ValueError, match=r"^label must lie in 0\.\.2"):
            gt.denoiser(mix, proc, t, x, label=bad)
    with pytest.raises(ValueError, match=r"^label must be an integer"):
        gt.denoiser(mix, proc, t, x, label=np.array([0.0, 1, 2, 0, 1, 2]))
    with pytest.raises(ValueError, match=r"^label must lie in 0\.\.1"):  # two groups
        gt.denoiser(mix, proc, t, x, label=np.array([0, 1, 2, 0, 1, 1]), partition=gt.Partition([[0, 1], [2]]))
    labels = np.array([2, 0, 1, 1, 0, 2])
    jitted = jax.jit(lambda xx, lab: gt.denoiser(mix, proc, t, xx, label=lab))
    ref = ref_cond_denoisers(x, a, s, dense)[np.arange(len(x)), labels]
    np.testing.assert_allclose(np.asarray(jitted(x, jnp.asarray(labels))), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("t", ["0.1", True, np.bool_(False), 0.5 + 0j, np.array(["0.1"]), np.array([True])])
def test_string_boolean_complex_times_refused(t):
    """t="0.1" and t=True used to be converted to 0.1 and 1.0."""
    with pytest.raises(ValueError, match=r"^t must be a real number"):
        gt.OU().check_times(t)
    mix, _ = make("shared_iso")
    for fn in (gt.class_posterior, gt.log_density, gt.denoiser, gt.score):
        with pytest.raises(ValueError, match=r"^t must be a real number"):
            fn(mix, gt.OU(), t, np.zeros(D))
    with pytest.raises(ValueError, match=r"^t must be a real number"):
        gt.class_entropy(mix, gt.OU(), t)


def test_singular_time_check_runs_in_float64():
    """With jax's default float32, σ(t) = 1e-200 underflowed to 0 and EDM t = 1e-200 was refused as "t=0"."""
    mix = gt.empirical(np.array([[0.0], [1.0]]))
    with gt.precision_scope("float32"):
        assert float(np.asarray(gt.EDM().sigma(1e-200))) == 0.0  # the underflow the check must not use
        gt.class_entropy(mix, gt.EDM(), 1e-200)  # σ(t) = 1e-200 > 0: accepted
        with pytest.raises(ValueError, match=r"σ\(t\) > 0"):
            gt.class_entropy(mix, gt.EDM(), 0.0)
