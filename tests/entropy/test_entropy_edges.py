"""The entropy engine at its edges: common offsets of the means, rare events, σ² overflow, float32, cost and memory
in K, unbounded work, validation before jit.

Independent references: translation invariance (the unshifted mixture, itself checked against a scipy quadrature of
the binary channel), a scipy / Gauss–Legendre integral of the exact posterior in the plane of three means, the
closed-form limits at infinite noise (the posterior is the prior: H[Z], Σπ², 1 − max π), float64 against float32,
and byte counts from XLA's own memory analysis of the compiled kernel.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import integrate, special

import gmmtheory as gt
from gmmtheory._chunks import MEMORY_BUDGET
from gmmtheory.compilation import count_compilations
from gmmtheory.entropy import api, montecarlo, reduced
from gmmtheory.entropy.result import RareEventWarning
from gmmtheory.posterior import mixture_arrays

OU, EDM, VE = gt.OU(), gt.EDM(), gt.VE()


def binary_entropy_scipy(s: float) -> float:
    """H of two equiprobable classes at effective SNR s: E h(L), L ~ N(2s, 4s), h the binary entropy of σ(L).

    N(L; 2s, 4s) = e^{−s/2} e^{L/2 − L²/(8s)}/√(8πs): the factor e^{−s/2} is taken out so the integrand is O(1).
    """
    def f(L):
        u = np.abs(L)  # binary entropy of σ(L) without cancellation: log(1 + e^{−u}) + u σ(−u)
        h = np.logaddexp(0.0, -u) + u * special.expit(-u)
        return h * np.exp(L / 2 - L * L / (8 * s)) / np.sqrt(8 * np.pi * s)

    total = sum(integrate.quad(f, lo, hi, epsabs=1e-15, epsrel=1e-12, limit=200)[0]
                for lo, hi in ((-200, -10), (-10, 0), (0, 10), (10, 200)))
    return np.exp(-s / 2) * total


# ---------------------------------------------------------------------------------------------- item 2: offsets
SHIFTS = (1e4, 1e6, 1e8)


def test_quadrature_translation_invariant_d1000():
    base = gt.two_gaussians(1000, mu=0.2)  # |m|² = 40, Σ = I; EDM σ = 0.9: s = 40/(1 + 0.81)
    t = 0.9
    h0 = float(gt.class_entropy(base, EDM, t).value)
    np.testing.assert_allclose(h0, binary_entropy_scipy(40 / 1.81), rtol=1e-7)
    for c in SHIFTS:
        shifted = gt.GaussianMixture(base.means + c, 1.0)
        h = float(gt.class_entropy(shifted, EDM, t).value)
        assert abs(h - h0) <= 1e-5 * h0, (c, h, h0)


def _same_draws_close(base, shifted_means, method, t, **kw):
    r0 = gt.class_entropy(base, OU, t, method=method, key=4, **kw)
    for c in SHIFTS:
        mix = gt.GaussianMixture(shifted_means(c), base.cov, base.weights, cov_kind=base.cov_kind)
        r = gt.class_entropy(mix, OU, t, method=method, key=4, **kw)
        assert np.all(np.abs(r.value - r0.value) <= 0.5 * r0.stderr + 1e-12), (c, r.value, r0.value, r0.stderr)


def test_reduced_translation_invariant_k3():
    base = gt.k_classes(3, 200, mu=0.3, weights=[0.5, 0.3, 0.2])
    _same_draws_close(base, lambda c: base.means + c, "reduced", np.array([0.05, 0.3, 1.0]), n_samples=2**12)


def test_montecarlo_translation_invariant():
    base = gt.random_mixture(jax.random.PRNGKey(2), 3, 32, "class_diag")
    _same_draws_close(base, lambda c: base.means + c, "montecarlo", np.array([0.3, 1.0, 2.0]), n_samples=2**10)


# ------------------------------------------------------------------------------------------ item 3: rare events
@pytest.mark.slow
def test_rare_event_two_gaussians_honest_or_flagged():
    mix = gt.two_gaussians(1000, mu=0.2)
    t = np.array([0.48, 0.9])
    truth = gt.class_entropy(mix, EDM, t, method="quadrature").value
    assert 5e-9 < truth[0] < 3e-8  # the regime: H ≈ 1e-8
    np.testing.assert_allclose(truth[0], binary_entropy_scipy(40 / (1 + 0.48**2)), rtol=1e-6)
    red = gt.class_entropy(mix, EDM, t, method="reduced", n_samples=2**14, key=1)
    assert np.all(np.abs(red.value - truth) <= 4 * red.stderr), ((red.value - truth) / red.stderr)
    assert np.all(red.stderr > 0) and np.all(red.stderr < 0.05 * truth)  # honest, and informative
    assert not red.extra.get("rare_event", False)
    with pytest.warns(RareEventWarning, match="rare event"):
        mc = gt.class_entropy(mix, EDM, t, method="montecarlo", n_samples=2**12, key=1)
    # per time: within 4 se of the truth, or flagged at that very time (plain Monte Carlo at 2¹² draws misses both)
    flagged = mc.extra["informative_draws"] < 30
    assert np.all(flagged | (np.abs(mc.value - truth) <= 4 * mc.stderr)), (mc.value, truth, flagged)
    assert mc.extra["rare_event"] and mc.extra["informative_draws"][0] < 30


def _plane_reference(means_w: np.ndarray, weights: np.ndarray, panels: int = 100, nodes: int = 8) -> float:
    """H = ∫ Σ_z π_z N(y; p_z, I) h(post(y)) dy over R² (whitened means p_z in the plane), composite Gauss–Legendre."""
    R = float(np.max(np.abs(means_w))) + 9.0
    x, w = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(-R, R, panels + 1)
    half = np.diff(edges)[:, None] / 2
    g, gw = (edges[:-1, None] + half * (x[None] + 1)).ravel(), (half * w[None]).ravel()
    total = 0.0
    for i in range(0, g.size, 200):
        Y = np.stack(np.meshgrid(g[i:i + 200], g, indexing="ij"), -1)
        logit = np.log(weights) - 0.5 * np.sum((Y[..., None, :] - means_w) ** 2, -1)
        lse = special.logsumexp(logit, -1)
        lp = logit - lse[..., None]
        total += np.sum(gw[i:i + 200, None] * gw[None, :] * np.exp(lse) / (2 * np.pi) * -np.sum(np.exp(lp) * lp, -1))
    return total


@pytest.mark.slow
def test_rare_event_three_classes_auto_reduced_against_plane_integral():
    rho = 12.0
    ang = 2 * np.pi * np.arange(3) / 3
    means = np.stack([rho * np.cos(ang), rho * np.sin(ang)], 1)
    weights = np.array([0.5, 0.3, 0.2])
    mix = gt.GaussianMixture(means, 1.0, weights)
    sigmas = np.array([1.5, 1.7])
    refs = np.array([_plane_reference(means / np.sqrt(1 + s * s), weights) for s in sigmas])
    assert np.all(refs < 1e-6)
    res = gt.class_entropy(mix, EDM, sigmas, n_samples=2**14, key=2)
    assert res.method == "reduced"
    assert np.all(np.abs(res.value - refs) <= 4 * res.stderr), ((res.value - refs) / res.stderr)
    assert np.all(res.stderr < 0.05 * refs) and not res.extra.get("rare_event", False)


# ----------------------------------------------------------------------------------------- item 6: σ² overflow
def _limits(weights):
    w = np.asarray(weights)
    return -np.sum(w * np.log(w)), np.sum(w**2), 1 - np.max(w)


CASES = {
    "quadrature": gt.two_gaussians(4, weights=[0.7, 0.3]),
    "reduced": gt.k_classes(3, 4, weights=[0.5, 0.3, 0.2]),
    "montecarlo": gt.random_mixture(jax.random.PRNGKey(0), 3, 4, "class_full"),
}


@pytest.mark.parametrize("method", list(CASES))
@pytest.mark.parametrize("process,times", [(EDM, [1e154, 1e200, 1e300]), (VE, [1e300, 1e307, 1.7e308])])
@pytest.mark.slow
def test_infinite_noise_gives_the_prior(method, process, times):
    mix = CASES[method]
    H, phi, pe = _limits(mix.weights)
    kw = dict(method=method, n_samples=64)
    np.testing.assert_allclose(gt.class_entropy(mix, process, times, **kw).value, H, rtol=1e-12)
    np.testing.assert_allclose(gt.mutual_information(mix, process, times, **kw).value, 0.0, atol=1e-12)
    np.testing.assert_allclose(gt.collision_probability(mix, process, times, **kw).value, phi, rtol=1e-12)
    np.testing.assert_allclose(gt.bayes_error(mix, process, times, **kw).value, pe, rtol=1e-12)


# -------------------------------------------------------------------------------------------- item 7: float32
def test_quadrature_float32_is_float64():
    mix = gt.two_gaussians(16, mu=0.4, weights=[0.6, 0.4])
    t = np.array([0.05, 0.5, 1.0, 2.0, 8.0])
    ref = gt.class_entropy(mix, OU, t, precision="float64").value
    with jax.enable_x64(False):  # the user's default
        low = gt.class_entropy(mix, OU, t, precision="float32")
        default = gt.class_entropy(mix, OU, t)
    assert low.value.dtype == np.float64
    np.testing.assert_allclose(low.value, ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(default.value, ref, rtol=1e-12, atol=1e-15)


@pytest.mark.slow
def test_reduced_float32_within_stderr_of_float64():
    mix = gt.k_classes(3, 16, mu=0.5)
    t = np.array([0.5, 2.0, 4.0, 8.0])
    r64 = gt.class_entropy(mix, OU, t, method="reduced", n_samples=2**14, key=5)
    with jax.enable_x64(False):
        r32 = gt.class_entropy(mix, OU, t, method="reduced", n_samples=2**14, key=5, precision="float32")
    assert np.all(r32.stderr > 0)
    np.testing.assert_allclose(r32.stderr, r64.stderr, rtol=0.1)
    assert np.all(np.abs(r32.value - r64.value) <= 3 * np.hypot(r32.stderr, r64.stderr)), (
        (r32.value - r64.value) / r64.stderr)


# --------------------------------------------------------------------------- items 14 / 18.5: cost and memory in K
def test_auto_chooses_by_cost():
    assert api.resolve_method(gt.k_classes(200, 256), "auto") == "montecarlo"
    assert api.resolve_method(gt.k_classes(200, 256), "auto", n_times=16) == "montecarlo"
    assert api.resolve_method(gt.k_classes(3, 4), "auto") == "reduced"
    assert api.resolve_method(gt.k_classes(10, 1024), "auto", n_times=64) == "reduced"
    big = gt.k_classes(200, 256)
    assert api.estimated_work(big, "reduced", 16) > 4 * api.estimated_work(big, "montecarlo", 16)


def test_chunk_bytes_within_budget_large_K():
    budget = MEMORY_BUDGET
    for K, d, T, per_class in [(1000, 128, 64, False), (1000, 128, 64, True), (1000, 128, 512, False)]:
        block, chunk, n_chunks = montecarlo.plan(2**14 // K + 1, K, d, T, 0, per_class, budget=budget)
        assert montecarlo.chunk_bytes(chunk, K, d, block, 0, per_class) <= budget
        # analytic count, the K²-free working set: 3·K·d·T + 4·K·d (+ K·d²) + chunk·(8d + 3T + 8·K·T) floats
        floats = 3 * K * d * block + 4 * K * d + (K * d * d if per_class else 0) + chunk * (8 * d + 3 * block
                                                                                             + 8 * K * block)
        assert montecarlo.chunk_bytes(chunk, K, d, block, 0, per_class) == 8 * floats
    for K, T in [(1000, 64), (1000, 512), (200, 16)]:
        block, chunk, _ = reduced.plan(2**16, T, K, budget=budget)
        assert reduced.chunk_bytes(chunk, block, K) <= budget
        assert 6 * block * K * K * 8 <= budget  # the (T, K, K) matrices of one time block


def test_montecarlo_kernel_memory_has_no_K2d_term():
    """XLA's memory analysis of the compiled kernel at K = 1000, d = 128: no (K, K, d) offsets table (1 GiB)."""
    K, d, T = 1000, 128, 4
    rng = np.random.default_rng(0)
    mix = gt.GaussianMixture(rng.normal(size=(K, d)), rng.uniform(0.5, 2.0, size=(K, d)), cov_kind="class_diag")
    chunk, _ = montecarlo.chunking(16, K, d, T)
    keys = jax.random.split(jax.random.PRNGKey(0), K)
    a = np.linspace(0.1, 0.9, T)
    compiled = montecarlo._mc_kernel.lower(mixture_arrays(mix), keys, np.arange(K), a, 1 - a**2, None, chunk=chunk,
                                           functional="entropy").compile()
    temp = compiled.memory_analysis().temp_size_in_bytes
    assert temp <= MEMORY_BUDGET, temp / 2**20
    assert temp <= 1.25 * montecarlo.chunk_bytes(chunk, K, d, T), (temp, montecarlo.chunk_bytes(chunk, K, d, T))


# ------------------------------------------------------------------------- item 15 / 18.4: validation and work
def test_unknown_precision_raises_before_any_jax_work(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("work started before precision was checked")

    for name in ("check_times", "check_key", "check_partition", "resolve_method"):
        monkeypatch.setattr(api, name, boom)
    with count_compilations() as counts:
        for prec in ("float16", "bfloat16", 32, None):
            with pytest.raises(ValueError, match="precision must be one of"):
                gt.class_entropy(gt.k_classes(3, 4), OU, [0.1, 1.0], precision=prec)
    assert counts == {"traces": 0, "compiles": 0}


def test_unbounded_work_refused_with_estimate():
    mix = gt.k_classes(3, 8)
    with count_compilations() as counts:
        for method in ("reduced", "montecarlo"):
            with pytest.raises(ValueError, match=r"n_samples=1099511627776 .* estimated at .* max_work=None"):
                gt.class_entropy(mix, OU, [0.5, 1.0], method=method, n_samples=2**40)
    assert counts == {"traces": 0, "compiles": 0}  # refused before any work
    with pytest.raises(ValueError, match="estimated at"):
        gt.class_entropy(mix, OU, [0.5, 1.0], n_samples=2**12, max_work=1e3)
    lifted = gt.class_entropy(mix, OU, [0.5, 1.0], n_samples=2**12, max_work=None, key=3)
    default = gt.class_entropy(mix, OU, [0.5, 1.0], n_samples=2**12, key=3)
    np.testing.assert_array_equal(lifted.value, default.value)
    for bad in (0, -1.0, "big", True, float("nan")):
        with pytest.raises(ValueError, match="max_work"):
            gt.class_entropy(mix, OU, 0.5, max_work=bad)
