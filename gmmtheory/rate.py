"""The entropy rate dH[Z_P | X_t]/dτ, in native time τ = t, in τ = log σ(t) or in the log-SNR τ = λ(t) = log γ.

Since H depends on time only through γ, every rate is one function of λ times a chain-rule factor:
dH/dt = dH/dλ · dλ/dt and dH/d log σ = dH/dt / (d log σ/dt). H grows in forward time (dH/dt ≥ 0) and falls with
the SNR (dH/dλ ≤ 0).

Methods (``method=``):

- ``"closed_form"``: two classes, shared covariance, any weights (where the entropy's ``"quadrature"`` applies).
  The posterior is that of the binary-input channel Y = √s X + N, X = ±1 with prior (π_0, π_1), at the effective
  SNR s(t) (``binary_snr``). By I-MMSE, dI/ds = ½ mmse_b(s) with

      mmse_b(s) = E(X − E[X|Y])² = 1 − E(p_0 − p_1)² = 4 E[p_0(Y) p_1(Y)]

  (equal weights: 1 − E tanh(s + √s N)), so dH/dt = −½ mmse_b(s) ds/dt, with ds/dt by autodiff of ``binary_snr``.
  E[p_0 p_1] is integrated over the log-likelihood ratio L ~ N(±2s, 4s) with the entropy quadrature's rule:
  Gauss–Hermite in ξ for s < 1, windowed composite Gauss–Legendre in L for s ≥ 1 (``binary_mmse``). Exact to ~1e-12.
- ``"denoiser_gap"`` (any mixture, any partition): by I-MMSE applied to I(Z_P; X_t),

      dH/dλ = −½ γ E‖x̂_0(X_t, Z_P) − x̂_0(X_t)‖² = −½ γ E[Σ_B p_t(B | X_t) ‖x̂_0(X_t, B) − x̂_0(X_t)‖²],

  the second form averaging the first over Z_P given X_t (Rao–Blackwell: same mean, smaller variance). Monte Carlo
  over X_t = a X_0 + σ ε, stratified by the class of X_0, with the same (X_0, ε) at every time (common random
  numbers), in chunks of bounded size; dH/dt = −½ (dγ/dt) E‖…‖².
- ``"autodiff"``: the derivative in t of a Monte Carlo estimator of H itself (common random numbers, forward-mode
  ``jax.jvp`` with tangents da/dt and dσ²/dt). Shared covariance: the reduced statistics with v(t) = Σ_u
  √(a²/(a²u + σ²)) G_u^{½} ξ_u summed over the distinct eigenvalues u of Σ (a fixed square root of each Gram block,
  so no eigen-decomposition is differentiated); per-class isotropic: the reduced statistics with a χ² for the
  orthogonal complement; anything else: the full-dimensional Monte Carlo kernel in each class's eigenbasis. The
  per-draw derivatives are i.i.d., which gives the standard error.
- ``"auto"``: closed_form where it applies, else denoiser_gap.

Rates need σ(t) > 0 (at σ = 0 the log-SNR is infinite and, for singular covariances, H is not differentiable).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from gmmtheory.entropy.api import PRECISIONS, _check_inputs, precision_scope
from gmmtheory.entropy.common import (
    EntropyResult,
    apply_functional,
    check_key,
    check_method,
    check_n_samples,
    chunk_moments,
    log_weights,
    membership_or_none,
    merge_moments,
    stratified_mean,
)
from gmmtheory.entropy.quadrature import SWITCH_SNR, gauss_hermite, window_rule
from gmmtheory.entropy.reduced import _mean_span, gram_over_time, shared_gram_blocks
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.posterior import MixtureArrays, loglik_and_denoisers, mixture_arrays, to_bases
from gmmtheory.processes import Process, check_times, time_factors

RATE_METHODS = ("auto", "closed_form", "denoiser_gap", "autodiff")
WRTS = ("t", "log_sigma", "log_snr")
DEFAULT_SAMPLES = {"denoiser_gap": 2**14, "autodiff": 2**15}
GH_NODES = 200

_CHUNK_ELEMENTS = 2**21  # bound on the floats of one chunk's largest array (chunk × times × K × d and the like)
_MIN_CHUNK = 64
_SMALL_DF = 32  # χ² with at most this many degrees of freedom is drawn as a sum of squared normals


def _pow2_floor(n: int) -> int:
    return 1 << (max(1, int(n)).bit_length() - 1)


# ------------------------------------------------------------------------------------------------ time factors
def _elementwise_grad(fn, t: Array) -> Array:
    return jax.vmap(jax.grad(fn))(t)


def _bucket(n: int) -> int:
    """Pad lengths to powers of two (≥ 8) so that time grids of similar sizes share one compilation."""
    return max(8, 1 << (max(1, int(n)) - 1).bit_length())


def _padded(x: np.ndarray) -> np.ndarray:
    """x (1-D) padded to ``_bucket(len(x))`` by repeating its last entry."""
    return np.concatenate([x, np.full(_bucket(x.size) - x.size, x[-1])])


def _per_t(wrt: str, f: dict[str, np.ndarray]) -> np.ndarray:
    """dt/dτ for τ = wrt (multiply a rate in t by it to get the rate in τ)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if wrt == "t":
            return np.ones_like(f["a"])
        if wrt == "log_snr":
            return 1.0 / f["dlam"]
        return 1.0 / f["dlogsig"]


# -------------------------------------------------------------------------------------------- closed form (K = 2)
@jax.jit
def _binary_mmse_kernel(s: Array, log_w: Array, nodes: Array, node_weights: Array) -> Array:
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


def binary_mmse(s: object, weights: object = None) -> np.ndarray:
    """mmse_b(s) = E(X − E[X | Y])² of the ±1 input X with prior (π_0, π_1) over Y = √s X + N (float64 numpy).

    Equals 4 E[p_0 p_1] (equal weights: 1 − E tanh(s + √s N)); it is 4π_0π_1 at s = 0 and decays like e^{−s/2}.
    By I-MMSE, dI/ds = ½ mmse_b(s), so the binary conditional entropy falls at rate dH/ds = −½ mmse_b(s).
    """
    s_arr = np.asarray(s, dtype=np.float64)
    if not np.all(np.isfinite(s_arr)) or np.any(s_arr < 0):
        raise ValueError(f"s must be finite and ≥ 0; got {s!r}")
    w = np.full(2, 0.5) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (2,) or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-8:
        raise ValueError(f"weights must be two non-negative numbers summing to 1; got {weights!r}")
    if np.any(w == 0):
        return np.zeros_like(s_arr)
    nodes, node_w = gauss_hermite(GH_NODES)
    flat = s_arr.reshape(-1)
    with precision_scope("float64"):
        out = _binary_mmse_kernel(
            jnp.asarray(_padded(flat)), jnp.asarray(np.log(w)), jnp.asarray(nodes), jnp.asarray(node_w)
        )
    return np.asarray(out, dtype=np.float64)[: flat.size].reshape(s_arr.shape)


@functools.partial(jax.jit, static_argnames=("process",))
def _snr_and_slope(process: Process, uniq: Array, blocks: Array, t: Array) -> tuple[Array, Array]:
    """s(t) = ¼ (M_00 − 2M_01 + M_11) (as in ``binary_snr``) and ds/dt by autodiff, elementwise in t."""

    def snr(u):
        M = gram_over_time(uniq, blocks, process.alpha(u)[None], process.sigma(u)[None] ** 2)[0]
        return 0.25 * (M[0, 0] - 2.0 * M[0, 1] + M[1, 1])

    return jax.vmap(snr)(t), _elementwise_grad(snr, t)


def _closed_form_rate_t(mixture: GaussianMixture, process: Process, times: np.ndarray, part: Partition) -> np.ndarray:
    """dH/dt = −½ mmse_b(s) ds/dt (float64 numpy, 1-D)."""
    if part.M == 1 or np.any(mixture.weights == 0):
        return np.zeros_like(times)
    uniq, blocks = shared_gram_blocks(mixture)
    with precision_scope("float64"):
        args = (jnp.asarray(uniq), jnp.asarray(blocks), jnp.asarray(_padded(times)))
        try:
            s, ds = _snr_and_slope(process, *args)
        except (TypeError, ValueError):  # an unhashable process
            s, ds = _snr_and_slope.__wrapped__(process, *args)
    s = np.asarray(s, np.float64)[: times.size]
    ds = np.asarray(ds, np.float64)[: times.size]
    return -0.5 * binary_mmse(s, mixture.weights) * ds


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
    T = means.shape[-1]
    means = np.asarray(means, np.float64).reshape(K, n_chunks, T)
    m2 = np.asarray(m2, np.float64).reshape(K, n_chunks, T)
    merged = [merge_moments(means[k], m2[k], chunk) for k in range(K)]
    class_means = np.stack([m[0] for m in merged])
    class_m2 = np.stack([m[1] for m in merged])
    return stratified_mean(class_means, class_m2, np.full(K, chunk * n_chunks), weights)


def _time_blocks(T: int, per_time: int, per_draw: int, cap: int) -> tuple[int, int]:
    """(time block size, chunk): a draw holds ``per_time`` floats per time plus ``per_draw``; a chunk of draws over a
    block of times holds chunk × (block × per_time + per_draw) ≤ _CHUNK_ELEMENTS floats (where at least possible)."""
    block = max(1, min(_bucket(T), (_CHUNK_ELEMENTS // _MIN_CHUNK - per_draw) // max(1, per_time)))
    chunk = _pow2_floor(min(cap, max(1, _CHUNK_ELEMENTS // max(1, per_time * block + per_draw))))
    return block, chunk


def _over_time_blocks(fn, a: np.ndarray, s2: np.ndarray, block: int, *extra: np.ndarray):
    """Call fn(a_b, s2_b, *extra_b) over blocks of times (padded to equal size: one compilation); concatenate."""
    T = a.shape[0]
    outs = []
    for start in range(0, T, block):
        idx = np.minimum(np.arange(start, start + block), T - 1)
        res = fn(jnp.asarray(a[idx]), jnp.asarray(s2[idx]), *(jnp.asarray(e[idx]) for e in extra))
        n_valid = min(block, T - start)
        outs.append(jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64)[..., :n_valid], res))
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=-1), *outs)


# ------------------------------------------------------------------------------------------------ denoiser gap
@functools.partial(jax.jit, static_argnames=("chunk",))
def _gap_kernel(arr: MixtureArrays, keys, classes, a, s2, member, *, chunk):
    """Per chunk and time: mean and M2 over draws of Σ_B p(B|x) ‖x̂_0(x, B) − x̂_0(x)‖², x = a X_0 + σ ε."""
    T = a.shape[0]
    group_of = jnp.argmax(member, axis=1)  # (K,)
    sig = jnp.sqrt(s2)

    def one_chunk(args):
        key, z = args
        dev, eps = _draw_x0_dev(arr, key, z, chunk)
        x0 = arr.means[z] + dev
        x = a[:, None, None] * x0[None] + sig[:, None, None] * eps[None]  # (T, n, d)
        a_b = jnp.broadcast_to(a[:, None], (T, chunk))
        s2_b = jnp.broadcast_to(s2[:, None], (T, chunk))
        loglik, dens = loglik_and_denoisers(arr, a_b, s2_b, x)  # (T, n, K), (T, n, K, d)
        log_p = jax.nn.log_softmax(arr.log_weights + loglik, axis=-1)
        log_pb = jax.nn.logsumexp(jnp.where(member > 0, log_p[..., :, None], -jnp.inf), axis=-2)  # (T, n, M)
        own = log_pb[..., group_of]  # log p(B(k) | x) for every k
        w_in = jnp.where(jnp.isfinite(own), jnp.exp(log_p - jnp.where(jnp.isfinite(own), own, 0.0)), 0.0)
        p = jnp.exp(log_p)
        xhat = jnp.einsum("tnk,tnkd->tnd", p, dens)
        xhat_b = jnp.einsum("tnk,km,tnkd->tnmd", w_in, member, dens)
        gap = jnp.sum((xhat_b - xhat[:, :, None, :]) ** 2, axis=-1)  # (T, n, M)
        g = jnp.sum(jnp.exp(log_pb) * gap, axis=-1)  # (T, n)
        return chunk_moments(g)

    return jax.lax.map(one_chunk, (keys, classes))


def _denoiser_gap(
    mixture: GaussianMixture, a: np.ndarray, s2: np.ndarray, part: Partition, n_samples: int, key: Array
) -> tuple[np.ndarray, np.ndarray, int]:
    """E Σ_B p(B|X_t) ‖x̂_0(X_t, B) − x̂_0(X_t)‖² over times (value, stderr, n_used)."""
    K, d = mixture.K, mixture.d
    n_per_class = -(-n_samples // K)
    block, chunk = _time_blocks(a.shape[0], K * d, 2 * d, n_per_class)
    n_chunks = -(-n_per_class // chunk)
    keys = jax.random.split(key, K * n_chunks)
    classes = jnp.repeat(jnp.arange(K), n_chunks)
    arr = mixture_arrays(mixture)
    member = jnp.asarray(part.membership())
    fn = lambda a_b, s2_b: _gap_kernel(arr, keys, classes, a_b, s2_b, member, chunk=chunk)
    means, m2 = _over_time_blocks(fn, a, s2, block)
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
            w = a[:, None] ** 2 / (a[:, None] ** 2 * uniq[None, :] + s2[:, None])  # (T, U)
            v = jnp.einsum("tu,nul->tnl", jnp.sqrt(w), y)  # (T, n, K)
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
    """Any mixture: logits log π_k − ½ Σ_j r_kj²/c_kj − ½ Σ_j log c_kj, r_k = a A_k + σ B_k (draws of class z)."""
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
            quad = (
                a[:, None, None] ** 2 * sums[..., 0]
                + 2.0 * (a * jnp.sqrt(s2))[:, None, None] * sums[..., 1]
                + s2[:, None, None] * sums[..., 2]
            )
            logits = arr.log_weights - 0.5 * quad - 0.5 * jnp.sum(jnp.log(c), axis=-1)[:, None, :]
            return apply_functional(logits, membership, "entropy")

        return _jvp_moments(values, a, s2, da, ds2)

    return jax.lax.map(one_chunk, (keys, classes))


def _merge_iid(means, m2, chunk: int) -> tuple[np.ndarray, np.ndarray, int]:
    mean, total_m2, n = merge_moments(np.asarray(means, np.float64), np.asarray(m2, np.float64), chunk)
    return mean, np.sqrt(total_m2 / (n - 1) / n), n


def _autodiff(
    mixture: GaussianMixture, f: dict[str, np.ndarray], membership: np.ndarray | None, n_samples: int, key: Array
) -> tuple[np.ndarray, np.ndarray, int]:
    """dH/dt of a common-random-numbers estimator of H (value, stderr, n_used)."""
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
        fn = lambda a, s2, da, ds2: _ad_shared_kernel(keys, *consts, a, s2, da, ds2, chunk=chunk)
        means, m2 = _over_time_blocks(fn, f["a"], f["s2"], block, f["da"], f["ds2"])
        return _merge_iid(means, m2, chunk)
    if mixture.isotropic:
        m = _mean_span(mixture)
        r = m.shape[1]
        block, chunk = _time_blocks(T, K * max(1, r), r + 1, n_samples)
        n_chunks = -(-n_samples // chunk)
        keys = jax.random.split(key, n_chunks)
        var = jnp.asarray(mixture.spectrum.evals[:, 0])
        fn = lambda a, s2, da, ds2: _ad_iso_kernel(
            keys, jnp.asarray(m), var, log_w, memb, a, s2, da, ds2, chunk=chunk, d=d
        )
        means, m2 = _over_time_blocks(fn, f["a"], f["s2"], block, f["da"], f["ds2"])
        return _merge_iid(means, m2, chunk)
    n_per_class = -(-n_samples // K)
    block, chunk = _time_blocks(T, 3 * K, 4 * K * d, n_per_class)
    n_chunks = -(-n_per_class // chunk)
    keys = jax.random.split(key, K * n_chunks)
    classes = jnp.repeat(jnp.arange(K), n_chunks)
    arr = mixture_arrays(mixture)
    fn = lambda a, s2, da, ds2: _ad_mc_kernel(arr, keys, classes, memb, a, s2, da, ds2, chunk=chunk)
    means, m2 = _over_time_blocks(fn, f["a"], f["s2"], block, f["da"], f["ds2"])
    value, stderr = _stratified(means, m2, K, n_chunks, chunk, mixture.weights)
    return value, stderr, K * n_chunks * chunk


# --------------------------------------------------------------------------------------------------------- API
def _closed_form_applies(mixture: GaussianMixture) -> bool:
    return mixture.K == 2 and mixture.shared_covariance


def resolve_rate_method(mixture: GaussianMixture, method: str) -> str:
    """The method ``method`` stands for on this mixture (``"auto"`` → closed_form if it applies, else denoiser_gap)."""
    check_method(method, RATE_METHODS)
    if method == "auto":
        return "closed_form" if _closed_form_applies(mixture) else "denoiser_gap"
    if method == "closed_form" and not _closed_form_applies(mixture):
        raise ValueError(
            f"method='closed_form' needs K = 2 components with a shared covariance; this mixture has K={mixture.K}, "
            f"cov_kind={mixture.cov_kind!r}. Methods that apply: ('denoiser_gap', 'autodiff')"
        )
    return method


def entropy_rate(
    mixture: GaussianMixture,
    process: Process,
    t: object,
    *,
    wrt: str = "t",
    partition: Partition | None = None,
    method: str = "auto",
    n_samples: int | None = None,
    key: object = None,
    precision: str = "float64",
) -> EntropyResult:
    """The entropy rate dH[Z_P | X_t]/dτ over the times ``t``, τ = t (``wrt="t"``), log σ(t) or λ(t) = log γ(t).

    Args:
        mixture: the data distribution p_0 = Σ_k π_k N(μ_k, Σ_k).
        process: the forward process (a(t), σ(t)).
        t: a time or a 1-D array of times of ``process`` (finite, inside its domain, with σ(t) > 0).
        wrt: the time variable of the derivative: "t" (native), "log_sigma" or "log_snr".
        partition: group the labels (Z_P = the group of Z); default: the labels themselves.
        method: "auto", "closed_form", "denoiser_gap" or "autodiff" (see the module docstring).
        n_samples: draws for the Monte Carlo methods (default 2¹⁴ denoiser_gap, 2¹⁵ autodiff; rounded up to whole
            chunks). The same draws serve every time (common random numbers).
        key: jax PRNG key or int seed for the Monte Carlo methods (default: seed 0, reproducible).
        precision: "float64" (default) or "float32".

    Returns:
        ``EntropyResult(quantity="entropy_rate")`` with ``.value`` and ``.stderr`` shaped like ``t``, the ``.method``
        used and ``.extra["wrt"]``. dH/dt ≥ 0 and dH/dλ ≤ 0 in forward time.
    """
    _check_inputs(mixture, process)
    if not isinstance(wrt, str) or wrt not in WRTS:
        raise ValueError(f"wrt must be one of {WRTS}; got {wrt!r}")
    times = check_times(t, process)
    part = check_partition(partition, mixture.K)
    chosen = resolve_rate_method(mixture, method)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    flat = np.atleast_1d(times)
    f = time_factors(process, flat)
    if np.any(f["s2"] <= 0):
        bad = flat[f["s2"] <= 0]
        raise ValueError(
            f"t must have σ(t) > 0 for an entropy rate (log σ and the log-SNR are infinite at σ = 0, and H is not "
            f"differentiable there for singular covariances); got t = {bad[:3].tolist()}"
        )
    factor = _per_t(wrt, f)  # dt/dτ
    if not np.all(np.isfinite(factor)):
        bad = flat[~np.isfinite(factor)]
        raise ValueError(f"the rate with respect to wrt={wrt!r} is undefined at t = {bad[:3].tolist()} "
                         f"(d{wrt}/dt is 0 or infinite there)")
    if chosen == "closed_form":
        with precision_scope(precision):
            rate_t = _closed_form_rate_t(mixture, process, flat, part)
        value, stderr, n_used = rate_t * factor, np.zeros_like(rate_t), GH_NODES
    else:
        n = check_n_samples(DEFAULT_SAMPLES[chosen] if n_samples is None else n_samples)
        prng = check_key(key)
        with precision_scope(precision):
            if chosen == "denoiser_gap":
                gap, gap_se, n_used = _denoiser_gap(mixture, f["a"], f["s2"], part, n, prng)
                with np.errstate(invalid="ignore"):
                    if wrt == "log_snr":
                        scale = -0.5 * f["gamma"]
                    else:
                        scale = -0.5 * f["dgamma"] * factor
                value, stderr = scale * gap, np.abs(scale) * gap_se
            else:
                rate_t, se_t, n_used = _autodiff(mixture, f, membership_or_none(part), n, prng)
                value, stderr = rate_t * factor, np.abs(factor) * se_t
    value = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(value)):
        bad = flat[~np.isfinite(value)]
        raise ValueError(f"the entropy rate is not finite at t = {bad[:3].tolist()} for {process!r}")
    shape = np.shape(times)
    return EntropyResult(
        times, value.reshape(shape), np.asarray(stderr, np.float64).reshape(shape), chosen, "entropy_rate",
        int(n_used), {"wrt": wrt},
    )
