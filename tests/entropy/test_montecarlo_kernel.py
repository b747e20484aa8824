"""The full-dimensional Monte Carlo kernel: float32 GEMMs on identical draws, bounded memory, input checks.

Correctness of the estimator itself (against quadrature, the reduced method and a naive scipy code) is tested in
tests/entropy/test_entropy.py. Here:

- ``precision="float32"`` runs the draws, rotations and contractions in float32 and the rest in float64. Fed the
  *same* draws (float32 normals, ``noise_dtype="float32"``), the float64 kernel and the float32-GEMM kernel must agree
  far inside the Monte Carlo error: |Δ| ≤ 0.05 · stderr + 1e-6 (the absolute floor is float32 resolution at the
  scale of an entropy, for times where the standard error is ~0), with the same standard error (to 1 %).
- memory: the largest intermediate array of the kernel does not grow with the number of draws and stays within
  3 · chunk · K · max(d, T) elements (no (n, d) array beyond a chunk).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import gmmtheory as gt
from gmmtheory.entropy import montecarlo
from gmmtheory.posterior import mixture_arrays

OU = gt.OU()
T_GRID = np.array([0.02, 0.1, 0.3, 0.6, 1.0, 1.5, 2.5, 4.0])


def _mixtures():
    pts = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (5, 12), dtype=np.float64))
    return {
        "class_full": (gt.random_mixture(jax.random.PRNGKey(0), 4, 32, "class_full"), None),
        "class_full_partition": (gt.random_mixture(jax.random.PRNGKey(1), 4, 32, "class_full"),
                                 gt.Partition([[0, 1], [2, 3]])),
        "class_diag": (gt.random_mixture(jax.random.PRNGKey(2), 3, 24, "class_diag"), None),
        "shared_full": (gt.random_mixture(jax.random.PRNGKey(3), 3, 24, "shared_full"), None),
        "points": (gt.empirical(pts), None),
        "far_apart": (gt.random_mixture(jax.random.PRNGKey(4), 4, 32, "class_full", mean_scale=3.0), None),
    }


MIXTURES = _mixtures()


@pytest.mark.parametrize("name", list(MIXTURES))
@pytest.mark.slow
def test_float32_gemm_matches_float64_on_identical_draws(name, functional="entropy"):
    mix, part = MIXTURES[name]
    memb = None if part is None else part.membership()
    key = jax.random.PRNGKey(7)
    args = (mix, OU, T_GRID, functional, memb, 2**11, key)
    v64, se64, n64, _ = montecarlo.montecarlo_moments(*args, noise_dtype="float32", gemm_dtype="float64")
    v32, se32, n32, _ = montecarlo.montecarlo_moments(*args, noise_dtype="float32", gemm_dtype="float32")
    assert n64 == n32
    assert np.all(np.abs(v32 - v64) <= 0.05 * se64 + 1e-6), np.max(np.abs(v32 - v64) / np.maximum(se64, 1e-300))
    big = se64 > 1e-4
    np.testing.assert_allclose(se32[big], se64[big], rtol=0.01)


def test_public_float32_precision_uses_float32_draws_and_gemms():
    """``precision="float32"`` through the public API equals the kernel run with float32 draws and GEMMs."""
    mix, _ = MIXTURES["class_full"]
    res = gt.class_entropy(mix, OU, T_GRID, method="montecarlo", n_samples=2**11, key=3, precision="float32")
    v, se, n, _ = montecarlo.montecarlo_moments(mix, OU, T_GRID, "entropy", None, 2**11, jax.random.PRNGKey(3),
                                               noise_dtype="float32", gemm_dtype="float32")
    np.testing.assert_allclose(res.value, v, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(res.stderr, se, rtol=1e-12, atol=1e-15)
    assert res.n_samples == n


def _max_intermediate(closed) -> tuple[int, int]:
    """(largest array, largest array without a leading dimension of size C) over every equation of a jaxpr."""
    sizes = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            for v in eqn.outvars:
                shape = getattr(v.aval, "shape", ())
                sizes.append((int(np.prod(shape)) if shape else 1, shape))
            for p in eqn.params.values():
                for sub in p if isinstance(p, (tuple, list)) else (p,):
                    inner = getattr(sub, "jaxpr", None)
                    if inner is not None:
                        walk(inner if hasattr(inner, "eqns") else inner.jaxpr)

    walk(closed.jaxpr)
    return sizes


def test_memory_bounded_by_chunk_not_by_sample_count():
    mix = gt.random_mixture(jax.random.PRNGKey(0), 3, 64, "class_full")
    arr = mixture_arrays(mix)
    K, d, T = 3, 64, 16
    a, s2 = np.exp(-np.linspace(0.1, 3, T)), 1 - np.exp(-2 * np.linspace(0.1, 3, T))
    chunk = 32
    largest = {}
    for n_chunks in (2, 64):
        C = K * n_chunks
        keys = jax.random.split(jax.random.PRNGKey(0), C)
        classes = np.repeat(np.arange(K), n_chunks)
        closed = jax.make_jaxpr(lambda k, c: montecarlo._mc_kernel(
            arr, k, c, a, s2, None, chunk=chunk, functional="entropy"))(keys, classes)
        sizes = _max_intermediate(closed)
        per_draw = [s for s, shape in sizes if not (len(shape) >= 1 and shape[0] == C)]
        largest[n_chunks] = max(per_draw)
    assert largest[2] == largest[64]  # independent of the number of draws (chunk · C)
    assert largest[64] <= max(3 * chunk * K * max(d, T), K * d * d)  # a chunk's statistics, or the bases


def test_chunking_bound():
    for K, d, T, n in [(10, 256, 64, 2048), (10, 1024, 64, 2048), (3, 8, 512, 10**5), (50, 10**4, 8, 100)]:
        chunk, n_chunks = montecarlo.chunking(n, K, d, T)
        assert chunk & (chunk - 1) == 0 and chunk * n_chunks >= n
        assert chunk == 1 or chunk * K * max(d, T) <= montecarlo.chunk_elements()


@pytest.mark.parametrize("kw", [dict(noise_dtype="float16"), dict(gemm_dtype="bfloat16"), dict(gemm_dtype=32)])
def test_bad_dtype_raises(kw):
    mix, _ = MIXTURES["class_diag"]
    with pytest.raises(ValueError, match=next(iter(kw))):
        montecarlo.montecarlo_moments(mix, OU, T_GRID, "entropy", None, 64, jax.random.PRNGKey(0), **kw)
