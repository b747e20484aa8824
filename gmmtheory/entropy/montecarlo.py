"""Full-dimensional Monte Carlo for any Gaussian mixture (per-class covariances in their own eigenbases).

Draws follow the forward process itself, X_t = a X_0 + σ ε, with X_0 = μ_z + U_z (√λ_z ⊙ η) for a fixed class z,
and the *same* (η, ε) reused for every time t (common random numbers: smooth curves, sharp differences). In the
eigenbasis of class k the residual is

    r_k(t) = U_kᵀ(x_t − a μ_k) = a A_k + σ B_k,   A_k = U_kᵀ(X_0 − μ_k),  B_k = U_kᵀ ε,

computed once per draw (2K + 1 rotations, independent of the number of times). Then, with c_kj = a²λ_kj + σ²,

    Σ_j r_kj²/c_kj = a² Σ_j A²/c + 2aσ Σ_j AB/c + σ² Σ_j B²/c,

three contractions over d that, over the whole time grid, are one GEMM of (draws·K·3, d) by (d, T). The logits
log π_k − ½ Σ_j r²/c − ½ Σ_j log c_kj give f for every (t, draw). Draws are stratified by class (an equal number per
class, weighted by π_z); they are processed in chunks of bounded size (memory O(chunk · K · d), never O(n · d)).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from gmmtheory.entropy.common import apply_functional, chunk_moments, merge_moments, stratified_mean
from gmmtheory.mixture import GaussianMixture
from gmmtheory.posterior import MixtureArrays, mixture_arrays, to_bases
from gmmtheory.processes import Process

_CHUNK_ELEMENTS = 2**21  # bound on chunk × K × d (and chunk × T × K) floats held at once


def _chunking(n_per_class: int, K: int, d: int, T: int) -> tuple[int, int]:
    chunk = max(1, _CHUNK_ELEMENTS // max(1, K * max(d, T)))
    chunk = 1 << (min(chunk, n_per_class).bit_length() - 1)
    return chunk, -(-n_per_class // chunk)


@functools.partial(jax.jit, static_argnames=("chunk", "functional"))
def _mc_kernel(arr: MixtureArrays, keys, classes, a, s2, membership, *, chunk, functional):
    K, d = arr.means.shape
    dtype = arr.means.dtype
    # Per-time quantities: inverse variances (T, K, d) and log-determinants (T, K).
    c = a[:, None, None] ** 2 * arr.evals[None] + s2[:, None, None]
    inv_c = 1.0 / c
    logdet = jnp.sum(jnp.log(c), axis=-1)
    sqrt_lam = jnp.sqrt(arr.evals)

    def one_chunk(args):
        key, z = args
        k1, k2 = jax.random.split(key)
        eta = jax.random.normal(k1, (chunk, d), dtype=dtype)
        eps = jax.random.normal(k2, (chunk, d), dtype=dtype)
        # X_0 − μ_z = U_z (√λ_z ⊙ η) in standard coordinates.
        if arr.basis is None:
            dev = sqrt_lam[z] * eta
        elif arr.basis.ndim == 2:
            dev = (sqrt_lam[z] * eta) @ arr.basis.T
        else:
            dev = (sqrt_lam[z] * eta) @ arr.basis[z].T
        A = to_bases(arr.basis, arr.means[z] + dev) - arr.means_own  # (n, K|1→K, d)
        B = to_bases(arr.basis, eps)  # (n, K or 1, d)
        A = jnp.broadcast_to(A, (chunk, K, d))
        B = jnp.broadcast_to(B, (chunk, K, d))
        stats = jnp.stack([A * A, A * B, B * B], axis=-1)  # (n, K, d, 3)
        sums = jnp.einsum("nkdi,tkd->tnki", stats, inv_c)  # (T, n, K, 3)
        quad = (
            a[:, None, None] ** 2 * sums[..., 0]
            + 2.0 * (a * jnp.sqrt(s2))[:, None, None] * sums[..., 1]
            + s2[:, None, None] * sums[..., 2]
        )
        logits = arr.log_weights - 0.5 * quad - 0.5 * logdet[:, None, :]
        return chunk_moments(apply_functional(logits, membership, functional))

    return jax.lax.map(one_chunk, (keys, classes))


def montecarlo_statistic(
    mixture: GaussianMixture,
    process: Process,
    t: np.ndarray,
    functional: str,
    membership: np.ndarray | None,
    n_samples: int,
    key: Array,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Estimate E f over t (1-D numpy) with stratified full-dimensional draws. Returns (value, stderr, n_used)."""
    K, d = mixture.K, mixture.d
    tt = jnp.asarray(np.atleast_1d(t))
    T = tt.shape[0]
    n_per_class = -(-n_samples // K)
    chunk, n_chunks = _chunking(n_per_class, K, d, T)
    keys = jax.random.split(key, K * n_chunks)
    classes = jnp.repeat(jnp.arange(K), n_chunks)
    arr = mixture_arrays(mixture)
    means, m2 = _mc_kernel(
        arr, keys, classes, process.alpha(tt), process.sigma(tt) ** 2,
        None if membership is None else jnp.asarray(membership), chunk=chunk, functional=functional,
    )
    means = np.asarray(means, np.float64).reshape(K, n_chunks, T)
    m2 = np.asarray(m2, np.float64).reshape(K, n_chunks, T)
    merged = [merge_moments(means[k], m2[k], chunk) for k in range(K)]
    class_means = np.stack([m[0] for m in merged])
    class_m2 = np.stack([m[1] for m in merged])
    counts = np.full(K, chunk * n_chunks)
    value, stderr = stratified_mean(class_means, class_m2, counts, mixture.weights)
    return value, stderr, int(counts.sum())
