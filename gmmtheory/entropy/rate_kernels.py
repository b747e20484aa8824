"""The jit kernels of the entropy rate dH/dλ (``entropy.rate``): the binary MMSE, the denoiser gap, autodiff.

- ``binary_mmse_kernel``: mmse_b(s) = 4 E[p_0 p_1] over the binary channel, integrand 4σ(u)σ(−u) (u the shifted
  log-likelihood ratio), Gauss–Hermite for s < 1 and windowed Gauss–Legendre for s ≥ 1 (the quadrature's rule).
- ``denoiser_gap``: E G(X_t), G(x) = Σ_B p(B|x) ‖Σ_k w_kB (g_k(x) − g_ref(x))‖², so that dH/dλ = −½ σ² E G
  (I-MMSE; ``_gap_kernel``), draws X_t = a X_0 + σ ε stratified by the class of X_0, common random numbers.
- ``autodiff``: the forward-mode derivative (``jax.jvp``) along (da, dσ²) of a common-random-numbers estimator of H:
  reduced statistics (shared or per-class isotropic covariance) or the full-dimensional kernel with antithetic ε.

Chunks: a draw holds ``per_time`` floats per time plus ``per_draw``; a chunk of draws over a block of times holds
chunk × (block × per_time + per_draw) ≤ ``_chunks.array_budget()`` / 8 floats (``_time_blocks``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from gmmtheory._chunks import array_budget, bucket, pad_last, pad_to, rows_per_chunk
from gmmtheory.distributed import map_chunks
from gmmtheory.entropy.functionals import apply_functional
from gmmtheory.entropy.moments import chunk_moments, class_moments, iid_estimate, log_weights, stratified_mean
from gmmtheory.entropy.quadrature import SWITCH_SNR, window_rule
from gmmtheory.entropy.reduced import gram_over_time, mean_span, shared_gram_blocks
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.posterior import (
    MixtureArrays,
    from_bases,
    loglik_from_residuals,
    mixture_arrays,
    residuals,
    to_bases,
)

_MIN_CHUNK = 64  # the time block leaves room for at least this many draws per chunk
_SMALL_DF = 32  # χ² with at most this many degrees of freedom is drawn as a sum of squared normals


# -------------------------------------------------------------------------------------------- closed form (K = 2)
@jax.jit
def binary_mmse_kernel(s: Array, log_w: Array, nodes: Array, node_weights: Array) -> Array:
    """4 E[p_0 p_1] over the binary channel at SNRs s (T,), the integrand 4σ(u)σ(−u), u = L + log(π_0/π_1)."""
    s_lo = jnp.minimum(s, SWITCH_SNR)[:, None]
    s_hi = jnp.maximum(s, SWITCH_SNR)[:, None]
    gl_nodes, gl_weights = (jnp.asarray(v, dtype=s.dtype) for v in window_rule())
    shift = log_w[0] - log_w[1]

    def f(u: Array) -> Array:
        return 4.0 * jnp.exp(-jax.nn.softplus(u) - jax.nn.softplus(-u))

    f_window = f(gl_nodes)  # u on a window around the decision point u = 0, i.e. L = −shift
    llr_window = gl_nodes - shift
    total_gh = jnp.zeros_like(s)
    total_gl = jnp.zeros_like(s)
    for z, sign in ((0, 1.0), (1, -1.0)):
        pi_z = jnp.exp(log_w[z])
        llr = sign * 2.0 * s_lo + 2.0 * jnp.sqrt(s_lo) * nodes[None, :]
        gh = f(llr + shift) @ node_weights
        mean, sd = sign * 2.0 * s_hi, 2.0 * jnp.sqrt(s_hi)
        density = jnp.exp(-0.5 * ((llr_window[None, :] - mean) / sd) ** 2) / (sd * jnp.sqrt(2.0 * jnp.pi))
        gl = (f_window[None, :] * density) @ gl_weights
        total_gh = total_gh + pi_z * gh
        total_gl = total_gl + pi_z * gl
    return jnp.where(s < SWITCH_SNR, total_gh, total_gl)



# ------------------------------------------------------------------------------------------- shared helpers (MC)
def _draw_x0_dev(arr: MixtureArrays, key: Array, z: Array, chunk: int) -> tuple[Array, Array]:
    """X_0 − μ_z = U_z (√λ_z ⊙ η) in standard coordinates and ε, both (chunk, d)."""
    K, d = arr.means.shape
    k1, k2 = jax.random.split(key)
    eta = jax.random.normal(k1, (chunk, d), dtype=arr.means.dtype)
    eps = jax.random.normal(k2, (chunk, d), dtype=arr.means.dtype)
    scaled = jnp.sqrt(arr.evals)[z] * eta
    if arr.basis is None:
        dev = scaled
    elif arr.basis.ndim == 2:
        dev = scaled @ arr.basis.T
    else:
        dev = scaled @ arr.basis[z].T
    return dev, eps


def _stratified(means: Array, m2: Array, K: int, n_chunks: int, chunk: int, weights: np.ndarray):
    """Per-chunk (K·C, T) moments of class-stratified draws → value, stderr (T,)."""
    return stratified_mean(*class_moments(means, m2, K, n_chunks, chunk), weights)


def _time_blocks(T: int, per_time: int, per_draw: int, cap: int) -> tuple[int, int]:
    """(time block size, chunk): a draw holds ``per_time`` floats per time plus ``per_draw``; a chunk of draws over a
    block of times holds chunk × (block × per_time + per_draw) ≤ ``array_budget()`` bytes of float64 (where at least
    possible), the block leaving room for ``_MIN_CHUNK`` draws."""
    elements = array_budget() // 8
    block = max(1, min(bucket(T), (elements // _MIN_CHUNK - per_draw) // max(1, per_time)))
    chunk = rows_per_chunk(8 * (per_time * block + per_draw), budget=array_budget(), maximum=cap)
    return block, chunk


def _take(idx: np.ndarray, n: int, *arrays: Array) -> tuple[Array, ...]:
    """The chunks ``idx`` of per-chunk arrays (keys, classes): all of them unchanged on one process, this process's
    block in a multi-process run (``gmmtheory.distributed.map_chunks``: the one-process keys, split by chunk)."""
    if idx.size == n and np.array_equal(idx, np.arange(n)):
        return arrays
    return tuple(x[idx] for x in arrays)


def _over_time_blocks(fn, a: np.ndarray, s2: np.ndarray, block: int, *extra: np.ndarray):
    """Call fn(a_b, s2_b, *extra_b) over blocks of times (padded to equal size: one compilation); concatenate."""
    T = a.shape[0]
    padded = [pad_last(v, pad_to(T, block)) for v in (a, s2, *extra)]
    outs = []
    for start in range(0, T, block):
        res = fn(*(jnp.asarray(v[start:start + block]) for v in padded))
        n_valid = min(block, T - start)
        outs.append(jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64)[..., :n_valid], res))
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=-1), *outs)


# ------------------------------------------------------------------------------------------------ denoiser gap
@functools.partial(jax.jit, static_argnames=("chunk", "shared"))
def _gap_kernel(arr: MixtureArrays, keys, classes, a, s2, member, *, chunk, shared):
    """Per chunk and time: mean and M2 over draws of G(x) = Σ_B p(B|x) ‖Σ_k w_kB (g_k(x) − g_ref(x))‖².

    x = a X_0 + σ ε; g_k = C_k⁻¹(x − aμ_k) (C_k = a²Σ_k + σ²I, the negated component score), so that
    x̂_0(x, k) = x/a − (σ²/a) g_k and x̂_0(x, B) − x̂_0(x) = −(σ²/a) Σ_k w_kB g_k with the posterior differences
    w_kB = p(k|x, B) − p(k|x): p(k|x)(1 − p(B|x))/p(B|x) for k ∈ B (1 − p(B|x) summed over the other groups, never
    as a difference) and −p(k|x) for k ∉ B. Σ_k w_kB = 0, so g_ref (the most probable component) is subtracted
    exactly; with a shared covariance g_k − g_ref = a C⁻¹(μ_ref − μ_k) in closed form. Then
    γ ‖x̂_0(x, B) − x̂_0(x)‖² = σ² ‖Σ_k w_kB (g_k − g_ref)‖², free of the cancellation of x̂_0(x, B) − x̂_0(x) ≈ O(σ²)
    computed from O(1) denoisers.
    """
    T = a.shape[0]
    group_of = jnp.argmax(member, axis=1)  # (K,)
    inside = member > 0  # (K, M)
    sig = jnp.sqrt(s2)

    def one_chunk(args):
        key, z = args
        dev, eps = _draw_x0_dev(arr, key, z, chunk)
        x0 = arr.means[z] + dev
        x = a[:, None, None] * x0[None] + sig[:, None, None] * eps[None]  # (T, n, d)
        a_b = jnp.broadcast_to(a[:, None], (T, chunk))
        s2_b = jnp.broadcast_to(s2[:, None], (T, chunk))
        r, c = residuals(arr, a_b, s2_b, x)  # (T, n, K, d) in each component's basis
        log_p = jax.nn.log_softmax(arr.log_weights + loglik_from_residuals(r, c), axis=-1)  # (T, n, K)
        ref = jnp.argmax(log_p, axis=-1)  # (T, n)
        if shared:
            own_ref = arr.means_own[ref]  # (T, n, d)
            diff = from_bases(arr.basis, a_b[..., None, None] * (own_ref[..., None, :] - arr.means_own) / c)
        else:
            g = from_bases(arr.basis, r / c)  # (T, n, K, d)
            diff = g - jnp.take_along_axis(g, ref[..., None, None], axis=-2)
        log_pb = jax.nn.logsumexp(jnp.where(inside, log_p[..., :, None], -jnp.inf), axis=-2)  # (T, n, M)
        log_nb = jax.nn.logsumexp(jnp.where(inside, -jnp.inf, log_p[..., :, None]), axis=-2)  # log(1 − p(B|x))
        own, other = log_pb[..., group_of], log_nb[..., group_of]  # (T, n, K) for the group of each k
        ok = jnp.isfinite(own)
        w_in = jnp.where(ok, jnp.exp(log_p - jnp.where(ok, own, 0.0) + other), 0.0)  # p(k|x,B) − p(k|x), k ∈ B
        p = jnp.exp(log_p)
        W = jnp.where(inside, w_in[..., :, None], -p[..., :, None])  # (T, n, K, M)
        v = jnp.einsum("tnkm,tnkd->tnmd", W, diff)
        g_val = jnp.sum(jnp.exp(log_pb) * jnp.sum(v * v, axis=-1), axis=-1)  # (T, n)
        return chunk_moments(g_val)

    return jax.lax.map(one_chunk, (keys, classes))


def denoiser_gap(
    mixture: GaussianMixture, a: np.ndarray, s2: np.ndarray, part: Partition, n_samples: int, key: Array
) -> tuple[np.ndarray, np.ndarray, int]:
    """E G(X_t) (``_gap_kernel``) over times (value, stderr, n_used) for a centred mixture; dH/dλ = −½ σ² E G."""
    K, d = mixture.K, mixture.d
    n_per_class = -(-n_samples // K)
    block, chunk = _time_blocks(a.shape[0], 2 * K * d, 2 * d, n_per_class)
    n_chunks = -(-n_per_class // chunk)
    keys = jax.random.split(key, K * n_chunks)
    classes = jnp.repeat(jnp.arange(K), n_chunks)
    arr = mixture_arrays(mixture)
    member = jnp.asarray(part.membership())
    shared = bool(mixture.shared_covariance)
    def run(idx):
        ks, cs = _take(idx, K * n_chunks, keys, classes)
        return _over_time_blocks(lambda a_b, s2_b: _gap_kernel(arr, ks, cs, a_b, s2_b, member, chunk=chunk,
                                                               shared=shared), a, s2, block)

    means, m2 = map_chunks(run, K * n_chunks)
    value, stderr = _stratified(means, m2, K, n_chunks, chunk, mixture.weights)
    return value, stderr, K * n_chunks * chunk


# ---------------------------------------------------------------------------------------------------- autodiff
def _jvp_moments(values_fn, a, s2, da, ds2):
    """Mean and M2 over draws of d/dt of values_fn(a, s2) (T, n), by forward mode."""
    _, tangent = jax.jvp(values_fn, (a, s2), (da, ds2))
    return chunk_moments(tangent)


@functools.partial(jax.jit, static_argnames=("chunk",))
def _ad_shared_kernel(keys, uniq, blocks, roots, log_w, membership, a, s2, da, ds2, *, chunk):
    """Shared covariance: logits_k = log π_k + M_kz − ½ M_kk + v_k, v = Σ_u √w_u(t) G_u^{½} ξ_u (per draw, all z)."""
    U, K, _ = blocks.shape
    pis = jnp.exp(log_w)

    def one_chunk(key):
        xi = jax.random.normal(key, (chunk, U, K), dtype=blocks.dtype)
        y = jnp.einsum("nuk,ulk->nul", xi, roots)  # (n, U, K), fixed in t

        def values(a, s2):
            M = gram_over_time(uniq, blocks, a, s2)  # (T, K, K)
            root_w = a[:, None] * jax.lax.rsqrt(a[:, None] ** 2 * uniq[None, :] + s2[:, None])  # √w, smooth at a = 0
            v = jnp.einsum("tu,nul->tnl", root_w, y)  # (T, n, K)
            diag = jnp.diagonal(M, axis1=1, axis2=2)

            def per_class(acc, z):
                logits = log_w + M[:, None, :, z] - 0.5 * diag[:, None, :] + v
                f = apply_functional(logits, membership, "entropy")
                return acc + jnp.where(pis[z] > 0, pis[z] * f, 0.0), None

            g, _ = jax.lax.scan(per_class, jnp.zeros(v.shape[:2], blocks.dtype), jnp.arange(K))
            return g

        return _jvp_moments(values, a, s2, da, ds2)

    return jax.lax.map(one_chunk, keys)


@functools.partial(jax.jit, static_argnames=("chunk", "d"))
def _ad_iso_kernel(keys, m, var, log_w, membership, a, s2, da, ds2, *, chunk, d):
    """Per-class isotropic: the reduced logits of ``entropy.reduced`` (ξ in the span of the means plus a χ²_{d−r})."""
    K, r = m.shape
    pis = jnp.exp(log_w)

    def one_chunk(key):
        k1, k2 = jax.random.split(key)
        xi = jax.random.normal(k1, (chunk, r), dtype=m.dtype)
        if d - r > _SMALL_DF:
            chi2 = 2.0 * jax.random.gamma(k2, 0.5 * (d - r), (chunk,), dtype=m.dtype)
        elif d > r:  # few degrees of freedom: a sum of squares (same law, much cheaper to compile than gamma)
            chi2 = jnp.sum(jax.random.normal(k2, (chunk, d - r), dtype=m.dtype) ** 2, axis=-1)
        else:
            chi2 = jnp.zeros(chunk, m.dtype)

        def values(a, s2):
            c = a[:, None] ** 2 * var[None, :] + s2[:, None]  # (T, K)
            am = a[:, None, None] * m[None]  # (T, K, r)

            def per_class(acc, z):
                cz = c[:, z]
                x = am[:, None, z, :] + jnp.sqrt(cz)[:, None, None] * xi[None]  # (T, n, r)
                diff = x[:, :, None, :] - am[:, None, :, :]  # (T, n, K, r)
                ratio = cz[:, None] / c
                logits = (
                    log_w
                    - 0.5 * jnp.sum(diff**2, axis=-1) / c[:, None, :]
                    - 0.5 * chi2[None, :, None] * (ratio[:, None, :] - 1.0)
                    + 0.5 * d * jnp.log(ratio)[:, None, :]
                )
                f = apply_functional(logits, membership, "entropy")
                return acc + jnp.where(pis[z] > 0, pis[z] * f, 0.0), None

            g, _ = jax.lax.scan(per_class, jnp.zeros((a.shape[0], chunk), m.dtype), jnp.arange(K))
            return g

        return _jvp_moments(values, a, s2, da, ds2)

    return jax.lax.map(one_chunk, keys)


@functools.partial(jax.jit, static_argnames=("chunk",))
def _ad_mc_kernel(arr: MixtureArrays, keys, classes, membership, a, s2, da, ds2, *, chunk):
    """Any mixture: logits log π_k − ½ Σ_j r_kj²/c_kj − ½ Σ_j log c_kj, r_k = a A_k ± σ B_k (draws of class z).

    Antithetic noise: each draw averages the entropies at +ε and −ε. The pathwise derivative has a zero-mean term
    ∇f·ε dσ/dλ of order σ whose variance would swamp the O(σ²) rate at high SNR; in the pair it cancels to O(σ²).
    """
    K, d = arr.means.shape

    def one_chunk(args):
        key, z = args
        dev, eps = _draw_x0_dev(arr, key, z, chunk)
        A = jnp.broadcast_to(to_bases(arr.basis, arr.means[z] + dev) - arr.means_own, (chunk, K, d))
        B = jnp.broadcast_to(to_bases(arr.basis, eps), (chunk, K, d))
        stats = jnp.stack([A * A, A * B, B * B], axis=-1)  # (n, K, d, 3)

        def values(a, s2):
            c = a[:, None, None] ** 2 * arr.evals[None] + s2[:, None, None]
            sums = jnp.einsum("nkdi,tkd->tnki", stats, 1.0 / c)
            even = a[:, None, None] ** 2 * sums[..., 0] + s2[:, None, None] * sums[..., 2]
            odd = 2.0 * (a * jnp.sqrt(s2))[:, None, None] * sums[..., 1]
            base = arr.log_weights - 0.5 * jnp.sum(jnp.log(c), axis=-1)[:, None, :]
            plus = apply_functional(base - 0.5 * (even + odd), membership, "entropy")
            minus = apply_functional(base - 0.5 * (even - odd), membership, "entropy")
            return 0.5 * (plus + minus)

        return _jvp_moments(values, a, s2, da, ds2)

    return jax.lax.map(one_chunk, (keys, classes))


def _merge_iid(means, m2, chunk: int) -> tuple[np.ndarray, np.ndarray, int]:
    return iid_estimate(means, m2, chunk)[:3]


def autodiff(
    mixture: GaussianMixture, f: dict[str, np.ndarray], membership: np.ndarray | None, n_samples: int, key: Array
) -> tuple[np.ndarray, np.ndarray, int]:
    """The derivative of a common-random-numbers estimator of H along the tangents (da, dσ²) at (a, σ²) of ``f``
    (``rate._coordinates``) for a centred mixture: value, stderr, n_used."""
    K, d, T = mixture.K, mixture.d, f["a"].shape[0]
    memb = None if membership is None else jnp.asarray(membership)
    log_w = jnp.asarray(log_weights(mixture))
    if mixture.shared_covariance:
        uniq, blocks = shared_gram_blocks(mixture)
        lam, vec = np.linalg.eigh(blocks)
        roots = (vec * np.sqrt(np.clip(lam, 0.0, None))[:, None, :]) @ np.swapaxes(vec, -1, -2)
        U = uniq.size
        block, chunk = _time_blocks(T, 2 * K, 2 * U * K, n_samples)
        n_chunks = -(-n_samples // chunk)
        keys = jax.random.split(key, n_chunks)
        consts = (jnp.asarray(uniq), jnp.asarray(blocks), jnp.asarray(roots), log_w, memb)
        def run(idx):
            (ks,) = _take(idx, n_chunks, keys)
            return _over_time_blocks(lambda a, s2, da, ds2: _ad_shared_kernel(ks, *consts, a, s2, da, ds2,
                                                                              chunk=chunk),
                                     f["a"], f["s2"], block, f["da"], f["ds2"])

        means, m2 = map_chunks(run, n_chunks)
        return _merge_iid(means, m2, chunk)
    if mixture.isotropic:
        m = mean_span(mixture)
        r = m.shape[1]
        block, chunk = _time_blocks(T, K * max(1, r), r + 1, n_samples)
        n_chunks = -(-n_samples // chunk)
        keys = jax.random.split(key, n_chunks)
        var = jnp.asarray(mixture.spectrum.evals[:, 0])
        def run(idx):
            (ks,) = _take(idx, n_chunks, keys)
            return _over_time_blocks(lambda a, s2, da, ds2: _ad_iso_kernel(ks, jnp.asarray(m), var, log_w, memb, a,
                                                                           s2, da, ds2, chunk=chunk, d=d),
                                     f["a"], f["s2"], block, f["da"], f["ds2"])

        means, m2 = map_chunks(run, n_chunks)
        return _merge_iid(means, m2, chunk)
    n_per_class = -(-n_samples // K)
    block, chunk = _time_blocks(T, 3 * K, 4 * K * d, n_per_class)
    n_chunks = -(-n_per_class // chunk)
    keys = jax.random.split(key, K * n_chunks)
    classes = jnp.repeat(jnp.arange(K), n_chunks)
    arr = mixture_arrays(mixture)
    def run(idx):
        ks, cs = _take(idx, K * n_chunks, keys, classes)
        return _over_time_blocks(lambda a, s2, da, ds2: _ad_mc_kernel(arr, ks, cs, memb, a, s2, da, ds2, chunk=chunk),
                                 f["a"], f["s2"], block, f["da"], f["ds2"])

    means, m2 = map_chunks(run, K * n_chunks)
    value, stderr = _stratified(means, m2, K, n_chunks, chunk, mixture.weights)
    return value, stderr, K * n_chunks * chunk
