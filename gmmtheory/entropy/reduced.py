"""Reduced-statistics Monte Carlo: cost independent of the dimension d.

*Shared covariance* Σ = U diag(λ) Uᵀ, any K. The quadratic term xᵀC⁻¹x is common to all classes, so with
x = a μ_z + C^{½} ε the logits are

    log π_k + ℓ_k(x) ≡ log π_k + M_kz(t) − ½ M_kk(t) + v_k,      v ~ N(0, M(t)),
    M(t) = a² Pᵀ diag(1/(a²λ + σ²)) P,  P = Uᵀ [μ_1 … μ_K]  (the Gram matrix of the whitened, scaled means).

M(t) = Σ_u a²/(a² u + σ²) G_u sums over the *distinct* eigenvalues u of Σ with Gram blocks G_u, precomputed once,
so the cost per time is O(#distinct eigenvalues · K²) — independent of d for isotropic Σ. We draw ξ ~ N(0, I_K)
once and set v(t) = M(t)^{½} ξ (symmetric square root: continuous in t, so the same ξ serves the whole time grid).

*Per-class isotropic* Σ_k = s_k² I. Let Q (d × r) span the means, m_k = Qᵀμ_k ∈ R^r, c_k = a² s_k² + σ². Given
Z = z, x = a μ_z + √c_z ε; with ξ = Qᵀε ~ N(0, I_r) and χ² = |ε_⊥|² ~ χ²_{d−r}, and dropping terms common to all k,

    logit_k = log π_k − ½ |a m_z + √c_z ξ − a m_k|² / c_k − ½ χ² (c_z/c_k − 1) + ½ d log(c_z / c_k).

Both reductions stratify over the true class z with the same draw: g_i = Σ_z π_z f(logits(z, draw_i)), i.i.d.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from gmmtheory.entropy.common import apply_functional, chunk_moments, log_weights, merge_moments
from gmmtheory.mixture import GaussianMixture
from gmmtheory.processes import Process

_CHUNK_ELEMENTS = 2**22  # bound on T × chunk × K floats held at once


def applies(mixture: GaussianMixture) -> bool:
    return mixture.shared_covariance or mixture.isotropic


def _chunking(n_samples: int, n_times: int, K: int) -> tuple[int, int]:
    chunk = max(64, _CHUNK_ELEMENTS // max(1, n_times * K))
    chunk = 1 << (min(chunk, n_samples).bit_length() - 1)  # power of two ≤ n (bucketed shapes)
    n_chunks = -(-n_samples // chunk)
    return chunk, n_chunks


@functools.lru_cache(maxsize=32)
def shared_gram_blocks(mixture: GaussianMixture) -> tuple[np.ndarray, np.ndarray]:
    """Distinct eigenvalues u (U,) of the shared Σ and Gram blocks G_u = Σ_{j: λ_j = u} P_j P_jᵀ (U, K, K)."""
    evals, basis = mixture.spectrum
    lam = evals[0]
    P = mixture.means if basis is None else mixture.means @ (basis if basis.ndim == 2 else basis[0])
    uniq, inverse = np.unique(lam, return_inverse=True)
    blocks = np.zeros((uniq.size, mixture.K, mixture.K))
    for u in range(uniq.size):
        cols = P[:, inverse == u]
        blocks[u] = cols @ cols.T
    return uniq, blocks


def gram_over_time(uniq: Array, blocks: Array, a: Array, s2: Array) -> Array:
    """M(t) = Σ_u a²/(a² u + σ²) G_u, shape (T, K, K)."""
    w = a[:, None] ** 2 / (a[:, None] ** 2 * uniq[None, :] + s2[:, None])
    return jnp.einsum("tu,ukl->tkl", w, blocks)


def _sym_sqrt(M: Array) -> Array:
    w, V = jnp.linalg.eigh(M)
    return (V * jnp.sqrt(jnp.clip(w, 0.0, None))[..., None, :]) @ jnp.swapaxes(V, -1, -2)


@functools.partial(jax.jit, static_argnames=("chunk", "n_chunks", "functional"))
def _shared_kernel(keys, M, log_w, membership, *, chunk, n_chunks, functional):
    K = log_w.shape[0]
    root = _sym_sqrt(M)  # (T, K, K)
    diag = jnp.diagonal(M, axis1=1, axis2=2)  # (T, K)
    pis = jnp.exp(log_w)

    def one_chunk(key):
        xi = jax.random.normal(key, (chunk, K), dtype=M.dtype)
        v = jnp.einsum("nk,tkl->tnl", xi, root)  # (T, n, K)

        def per_class(acc, z):
            logits = log_w + M[:, None, :, z] - 0.5 * diag[:, None, :] + v
            f = apply_functional(logits, membership, functional)
            return acc + jnp.where(pis[z] > 0, pis[z] * f, 0.0), None

        g, _ = jax.lax.scan(per_class, jnp.zeros(v.shape[:2], M.dtype), jnp.arange(K))
        return chunk_moments(g)

    return jax.lax.map(one_chunk, keys)


@functools.lru_cache(maxsize=32)
def _mean_span(mixture: GaussianMixture) -> np.ndarray:
    """Coordinates m (K, r) of the means in an orthonormal basis of their span (r = rank)."""
    if not np.any(mixture.means):
        return np.zeros((mixture.K, 0))
    U, S, _ = np.linalg.svd(mixture.means, full_matrices=False)
    r = int(np.sum(S > S[0] * 1e-12))
    return U[:, :r] * S[:r]


@functools.partial(jax.jit, static_argnames=("chunk", "n_chunks", "functional", "d"))
def _class_iso_kernel(keys, m, var, a, s2, log_w, membership, *, chunk, n_chunks, functional, d):
    K, r = m.shape
    c = a[:, None] ** 2 * var[None, :] + s2[:, None]  # (T, K)
    pis = jnp.exp(log_w)
    am = a[:, None, None] * m[None]  # (T, K, r)

    def one_chunk(key):
        k1, k2 = jax.random.split(key)
        xi = jax.random.normal(k1, (chunk, r), dtype=m.dtype)
        chi2 = 2.0 * jax.random.gamma(k2, 0.5 * (d - r), (chunk,), dtype=m.dtype) if d > r else jnp.zeros(chunk, m.dtype)

        def per_class(acc, z):
            cz = c[:, z]  # (T,)
            x = am[:, None, z, :] + jnp.sqrt(cz)[:, None, None] * xi[None]  # (T, n, r)
            diff = x[:, :, None, :] - am[:, None, :, :]  # (T, n, K, r)
            ratio = cz[:, None] / c  # (T, K)
            logits = (
                log_w
                - 0.5 * jnp.sum(diff**2, axis=-1) / c[:, None, :]
                - 0.5 * chi2[None, :, None] * (ratio[:, None, :] - 1.0)
                + 0.5 * d * jnp.log(ratio)[:, None, :]
            )
            f = apply_functional(logits, membership, functional)
            return acc + jnp.where(pis[z] > 0, pis[z] * f, 0.0), None

        g, _ = jax.lax.scan(per_class, jnp.zeros((a.shape[0], chunk), m.dtype), jnp.arange(K))
        return chunk_moments(g)

    return jax.lax.map(one_chunk, keys)


def reduced_statistic(
    mixture: GaussianMixture,
    process: Process,
    t: np.ndarray,
    functional: str,
    membership: np.ndarray | None,
    n_samples: int,
    key: Array,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Estimate E f over t (1-D numpy). Returns (value, stderr, n_used)."""
    tt = jnp.asarray(np.atleast_1d(t))
    a, s2 = process.alpha(tt), process.sigma(tt) ** 2
    log_w = jnp.asarray(log_weights(mixture))
    memb = None if membership is None else jnp.asarray(membership)
    chunk, n_chunks = _chunking(n_samples, tt.shape[0], mixture.K)
    keys = jax.random.split(key, n_chunks)
    if mixture.shared_covariance:
        uniq, blocks = shared_gram_blocks(mixture)
        M = gram_over_time(jnp.asarray(uniq), jnp.asarray(blocks), a, s2)
        means, m2 = _shared_kernel(keys, M, log_w, memb, chunk=chunk, n_chunks=n_chunks, functional=functional)
    else:
        var = jnp.asarray(mixture.spectrum.evals[:, 0])
        m = jnp.asarray(_mean_span(mixture))
        means, m2 = _class_iso_kernel(
            keys, m, var, a, s2, log_w, memb, chunk=chunk, n_chunks=n_chunks, functional=functional, d=mixture.d
        )
    mean, total_m2, n = merge_moments(np.asarray(means, np.float64), np.asarray(m2, np.float64), chunk)
    return mean, np.sqrt(total_m2 / (n - 1) / n), n
