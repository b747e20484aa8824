"""The entropy rate dH[Z_P | X_t]/dτ, in native time τ = t, in τ = log σ or in the log-SNR τ = λ(t) = log γ.

σ is the EDM noise level σ = σ(t)/a(t) = e^{−λ/2} (the same in every process at equal SNR; for EDM with
σ_data = 1 and VE it is the process's own σ). Since H depends on time only through λ, every rate is the one
function dH/dλ times a chain-rule factor: dH/dt = dH/dλ · dλ/dt and dH/d log σ = −2 dH/dλ. H grows in forward time
(dH/dt ≥ 0, dH/d log σ ≥ 0) and falls with the SNR (dH/dλ ≤ 0). dλ/dt is taken from the inverse map t(λ) where
the forward derivative overflows (``log_snr_and_slope``), so the rate is finite — and tends to 0 — at large times.

Methods (``method=``):

- ``"closed_form"``: two classes, shared covariance, any weights (where the entropy's ``"quadrature"`` applies).
  The posterior is that of the binary-input channel Y = √s X + N, X = ±1 with prior (π_0, π_1), at the effective
  SNR s(λ) = Σ_u q_u γ/(γu + 1) (``binary_snr_of_log_snr``; u the eigenvalues of Σ, q_u = |P_u m|²,
  m = (μ_0 − μ_1)/2). By I-MMSE, dI/ds = ½ mmse_b(s) with

      mmse_b(s) = E(X − E[X|Y])² = 1 − E(p_0 − p_1)² = 4 E[p_0(Y) p_1(Y)]

  (equal weights: 1 − E tanh(s + √s N)), so dH/dλ = −½ mmse_b(s) ds/dλ, ds/dλ = Σ_u q_u γ/(γu + 1)².
  E[p_0 p_1] is integrated over the log-likelihood ratio L ~ N(±2s, 4s) with the entropy quadrature's rule:
  Gauss–Hermite in ξ for s < 1, windowed composite Gauss–Legendre in L for s ≥ 1 (``binary_mmse``). Exact to ~1e-12.
- ``"denoiser_gap"`` (any mixture, any partition): by I-MMSE applied to I(Z_P; X_t),

      dH/dλ = −½ γ E‖x̂_0(X_t, Z_P) − x̂_0(X_t)‖² = −½ σ² E[Σ_B p_t(B | X_t) ‖Σ_k w_kB (g_k − g_ref)‖²],

  with g_k = C_k⁻¹(x − aμ_k) (C_k = a²Σ_k + σ²I) and the posterior differences w_kB = p(k|x, B) − p(k|x), because
  x̂_0(x, k) = x/a − (σ²/a) g_k. The second form averages the first over Z_P given X_t (Rao–Blackwell) and never
  subtracts two O(1) denoisers whose difference is O(σ²) (see ``_gap_kernel``), so it holds its accuracy at any
  SNR (EDM σ = 1e-12 included) and on singular covariances. Monte Carlo over X_t = a X_0 + σ ε, stratified by the
  class of X_0, with the same (X_0, ε) at every time (common random numbers), in chunks of bounded size.
- ``"autodiff"``: the derivative in λ of a Monte Carlo estimator of H itself (common random numbers, forward-mode
  ``jax.jvp``). Shared covariance: the reduced statistics with v = Σ_u √(a²/(a²u + σ²)) G_u^{½} ξ_u summed over
  the distinct eigenvalues u of Σ (a fixed square root of each Gram block, so no eigen-decomposition is
  differentiated); per-class isotropic: the reduced statistics with a χ² for the orthogonal complement; anything
  else: the full-dimensional Monte Carlo kernel in each class's eigenbasis with antithetic noise (±ε). The
  per-draw derivatives are i.i.d., which gives the standard error.
- ``"auto"``: closed_form where it applies, else denoiser_gap.

The Monte Carlo kernels run in scale-free coordinates of λ ((a, σ²) = (1, e^{−λ}) for λ > 0, (e^{λ/2}, 1) else;
H depends on λ only) and return dH/dλ divided by σ², which is multiplied back in log space: nothing overflows or
underflows before the answer does. Beyond λ = 600 (denoiser_gap) or λ = 40 (autodiff, σ ≈ 2e-9) the σ → 0 limit
of dH/dλ / σ² is used (its relative error is O(σ²) for non-singular covariances).

Rates need σ(t) > 0 (at σ = 0 the log-SNR is infinite and, for singular covariances, H is not differentiable);
t = 0 is refused before any jax work.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from gmmtheory.entropy.api import (
    DEFAULT_MAX_WORK,
    PRECISIONS,
    _check_inputs,
    _check_max_work,
    estimated_work,
    precision_scope,
)
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
    pow2_floor,
    stratified_mean,
)
from gmmtheory.entropy.quadrature import SWITCH_SNR, gauss_hermite, window_rule
from gmmtheory.entropy.reduced import _mean_span, gram_over_time, shared_gram_blocks
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.posterior import MixtureArrays, _loglik_from, _residuals, from_bases, mixture_arrays, to_bases
from gmmtheory.processes import EDM, OU, VE, VP, Flow, Process, check_times

RATE_METHODS = ("auto", "closed_form", "denoiser_gap", "autodiff")
WRTS = ("t", "log_sigma", "log_snr")
DEFAULT_SAMPLES = {"denoiser_gap": 2**14, "autodiff": 2**15}
GH_NODES = 200

_CHUNK_ELEMENTS = 2**21  # bound on the floats of one chunk's largest array (chunk × times × K × d and the like)
_MIN_CHUNK = 64
_SMALL_DF = 32  # χ² with at most this many degrees of freedom is drawn as a sum of squared normals


# ------------------------------------------------------------------------------------------------ time factors
def _bucket(n: int) -> int:
    """Pad lengths to powers of two (≥ 8) so that time grids of similar sizes share one compilation."""
    return max(8, 1 << (max(1, int(n)) - 1).bit_length())


def _padded(x: np.ndarray) -> np.ndarray:
    """x (1-D) padded to ``_bucket(len(x))`` by repeating its last entry."""
    return np.concatenate([x, np.full(_bucket(x.size) - x.size, x[-1])])


_NOISE_FREE_AT_ZERO = (OU, VP, VE, EDM, Flow)  # processes with σ(0) = 0 (checked before any jax work)


@functools.partial(jax.jit, static_argnames=("process",))
def _log_snr_kernel(process: Process, t: Array) -> tuple[Array, Array, Array]:
    """λ(t), dλ/dt by forward autodiff and dt/dλ by autodiff of the inverse map at λ(t), elementwise."""
    lam = process.log_snr(t)
    fwd = jax.vmap(jax.grad(process.log_snr))(t)
    inv = jax.vmap(jax.grad(process.t_from_log_snr))(lam)
    return lam, fwd, inv


def log_snr_and_slope(process: Process, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """λ(t) and dλ/dt (float64 numpy, 1-D), where dλ/dt never overflows or underflows needlessly.

    dλ/dt is the forward derivative where it is finite and non-zero, else 1/(dt/dλ) from the inverse map t(λ):
    for OU λ = −log(e^{2t} − 1) and dλ/dt = −2e^{2t}/(e^{2t} − 1), which overflows to inf/inf from t ≈ 355, while
    t(λ) = ½ log(1 + e^{−λ}) gives dt/dλ = −½ sigmoid(−λ) → −½, so dλ/dt → −2.
    """
    flat = np.asarray(times, dtype=np.float64)
    with precision_scope("float64"), np.errstate(all="ignore"):
        try:
            out = _log_snr_kernel(process, jnp.asarray(_padded(flat)))
        except (TypeError, ValueError):  # an unhashable process: no jit cache, same formulas
            out = _log_snr_kernel.__wrapped__(process, jnp.asarray(flat))
        lam, fwd, inv = (np.asarray(v, dtype=np.float64)[: flat.size] for v in out)
        slope = np.where(np.isfinite(fwd) & (fwd != 0), fwd, 1.0 / inv)
    return lam, slope


def _coordinates(lam: np.ndarray, lam_cap: float) -> dict[str, np.ndarray]:
    """Scale-free coordinates of the log-SNR: H depends on t only through λ, so every kernel runs at
    (a, σ²) = (1, e^{−λ}) for λ > 0 and (e^{λ/2}, 1) for λ ≤ 0 (neither overflows), at λ_eff = min(λ, lam_cap).

    Returns a, σ² and the tangents (da, dσ²) = (0, −1) for λ_eff > 0 — i.e. d/dλ divided by σ² — and (a/2, 0) for
    λ_eff ≤ 0 — i.e. d/dλ itself. A kernel's tangent output is multiplied by σ² at the true λ, e^{−max(λ, 0)}, to
    give d/dλ (in log space, ``_scaled``, so e.g. EDM at σ = 1e-200 still gives dH/dσ ≈ σ·const).
    """
    eff = np.minimum(lam, lam_cap)
    pos = eff > 0
    with np.errstate(over="ignore"):
        a = np.where(pos, 1.0, np.exp(0.5 * np.minimum(eff, 0.0)))
        s2 = np.where(pos, np.exp(-np.maximum(eff, 0.0)), 1.0)
    return {
        "a": a,
        "s2": s2,
        "da": np.where(pos, 0.0, 0.5 * a),
        "ds2": np.where(pos, -1.0, 0.0),
    }


def _scaled(log_s2: np.ndarray, dlam_dtau: np.ndarray) -> np.ndarray:
    """σ²(λ) · dλ/dτ computed as sign · exp(log σ² + log|dλ/dτ|) (no overflow or underflow in the product)."""
    with np.errstate(divide="ignore"):
        return np.sign(dlam_dtau) * np.exp(log_s2 + np.log(np.abs(dlam_dtau)))


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


def binary_snr_of_log_snr(mixture: GaussianMixture, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s(λ) = Σ_u q_u γ/(γu + 1) and ds/dλ = Σ_u q_u γ/(γu + 1)² (γ = e^λ; float64 numpy, no jax).

    u runs over the distinct eigenvalues of the shared Σ and q_u = |P_u m|², m = (μ_0 − μ_1)/2, from the Gram
    blocks of the means (``shared_gram_blocks``; s = ¼ (M_00 − 2M_01 + M_11) as in ``binary_snr``).
    """
    s, ds_scaled = _binary_snr_scaled(mixture, np.asarray(lam, np.float64))
    with np.errstate(under="ignore"):
        return s, ds_scaled * np.exp(-np.maximum(lam, 0.0))


def _binary_snr_scaled(mixture: GaussianMixture, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s(λ) and (ds/dλ)/σ², σ² = e^{−max(λ, 0)}: for λ > 0 written with e^{−λ} (s = Σ q/(u + e^{−λ}),
    (ds/dλ)/e^{−λ} = Σ q/(u + e^{−λ})²), so nothing overflows or underflows unless s itself does."""
    uniq, blocks = shared_gram_blocks(mixture)
    u = np.asarray(uniq, np.float64)
    q = np.clip(0.25 * (blocks[:, 0, 0] - 2.0 * blocks[:, 0, 1] + blocks[:, 1, 1]), 0.0, None)
    lam = lam[..., None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        g = np.exp(np.minimum(lam, 0.0))  # γ for λ ≤ 0
        e = np.exp(-np.maximum(lam, 0.0))  # 1/γ for λ > 0
        pos = lam > 0
        s = np.where(pos, q / (u + e), q * g / (g * u + 1.0))
        ds = np.where(pos, q / (u + e) ** 2, q * g / (g * u + 1.0) ** 2)
        s = np.where(q > 0, s, 0.0)
        ds = np.where(q > 0, ds, 0.0)
    return np.sum(s, axis=-1), np.sum(ds, axis=-1)


def _closed_form_rate_scaled(mixture: GaussianMixture, lam: np.ndarray, part: Partition) -> np.ndarray:
    """(dH/dλ)/σ² = −½ mmse_b(s) (ds/dλ)/σ², σ² = e^{−max(λ, 0)} (float64 numpy, 1-D); exactly 0 where mmse_b(s)
    underflows (s ≳ 1500)."""
    if part.M == 1 or np.any(mixture.weights == 0):
        return np.zeros_like(lam)
    s, ds = _binary_snr_scaled(mixture, lam)
    mmse = binary_mmse(np.minimum(s, 1e4), mixture.weights)
    with np.errstate(invalid="ignore"):
        return np.where((mmse > 0) & (s < 1e4), -0.5 * mmse * ds, 0.0)


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
    chunk = pow2_floor(min(cap, max(1, _CHUNK_ELEMENTS // max(1, per_time * block + per_draw))))
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
        r, c = _residuals(arr, a_b, s2_b, x)  # (T, n, K, d) in each component's basis
        log_p = jax.nn.log_softmax(arr.log_weights + _loglik_from(r, c), axis=-1)  # (T, n, K)
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


def _denoiser_gap(
    mixture: GaussianMixture, a: np.ndarray, s2: np.ndarray, part: Partition, n_samples: int, key: Array
) -> tuple[np.ndarray, np.ndarray, int]:
    """E G(X_t) (``_gap_kernel``) over times (value, stderr, n_used); dH/dλ = −½ σ² E G."""
    K, d = mixture.K, mixture.d
    n_per_class = -(-n_samples // K)
    block, chunk = _time_blocks(a.shape[0], 2 * K * d, 2 * d, n_per_class)
    n_chunks = -(-n_per_class // chunk)
    keys = jax.random.split(key, K * n_chunks)
    classes = jnp.repeat(jnp.arange(K), n_chunks)
    arr = mixture_arrays(mixture.centred())
    member = jnp.asarray(part.membership())
    shared = bool(mixture.shared_covariance)
    fn = lambda a_b, s2_b: _gap_kernel(arr, keys, classes, a_b, s2_b, member, chunk=chunk, shared=shared)
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
    mean, total_m2, n = merge_moments(np.asarray(means, np.float64), np.asarray(m2, np.float64), chunk)
    return mean, np.sqrt(total_m2 / (n - 1) / n), n


def _autodiff(
    mixture: GaussianMixture, f: dict[str, np.ndarray], membership: np.ndarray | None, n_samples: int, key: Array
) -> tuple[np.ndarray, np.ndarray, int]:
    """The derivative of a common-random-numbers estimator of H along the tangents (da, dσ²) at (a, σ²) of ``f``
    (``_coordinates``): value, stderr, n_used."""
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
    arr = mixture_arrays(mixture.centred())
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


def _total_variance(mixture: GaussianMixture) -> float:
    """tr Cov X_0 = Σ_k π_k (tr Σ_k + ‖μ_k − μ̄‖²)."""
    pi = mixture.weights
    centred = mixture.means - pi @ mixture.means
    return float(pi @ (np.sum(mixture.spectrum.evals, axis=1) + np.sum(centred**2, axis=1)))


def _check_noise(process: Process, flat: np.ndarray) -> None:
    """Refuse σ(t) = 0 eagerly (numpy only, before any jax work) for the processes whose σ vanishes at t = 0."""
    if isinstance(process, _NOISE_FREE_AT_ZERO) and np.any(flat == 0.0):
        _zero_noise_error(flat[flat == 0.0])


def _zero_noise_error(bad: np.ndarray) -> None:
    raise ValueError(
        f"t must have σ(t) > 0 for an entropy rate (log σ and the log-SNR are infinite at σ = 0, and H is not "
        f"differentiable there for singular covariances); got t = {bad[:3].tolist()}"
    )


_LAM_CAP = {"closed_form": np.inf, "denoiser_gap": 600.0, "autodiff": 40.0}

# work of a rate estimator relative to the entropy estimator it resembles (same draws and times), measured on one CPU
# core (K = 4, d = 32 and 64, 16 times, 2^15 draws): denoiser_gap ≈ 9 × Monte Carlo (K scores and a K × M
# contraction per draw and time), autodiff ≈ 1.3–1.9 × its primal (reduced where it applies, else Monte Carlo)
_RATE_WORK_FACTOR = {"denoiser_gap": 8.0, "autodiff": 2.0}


def estimated_rate_work(
    mixture: GaussianMixture, method: str, n_times: int, n_samples: int, n_groups: int = 0
) -> float:
    """Estimated work (the entropy cost model's multiply-add units, ``gmmtheory.entropy.api.estimated_work``) of the
    Monte Carlo rate ``method``: ``_RATE_WORK_FACTOR[method]`` × the work of the entropy estimator it resembles
    (denoiser_gap: "montecarlo"; autodiff: "reduced" for shared or per-class isotropic covariances, else "montecarlo")
    over the same ``n_times`` times and ``n_samples`` draws."""
    if method == "autodiff" and (mixture.shared_covariance or mixture.isotropic):
        base = "reduced"
    else:
        base = "montecarlo"
    return _RATE_WORK_FACTOR[method] * estimated_work(mixture, base, n_times, n_samples, n_groups)


def _check_rate_work(mixture: GaussianMixture, method: str, n_times: int, n_samples: int, n_groups: int,
                     max_work: float | None) -> None:
    """Refuse (``ValueError``) a Monte Carlo rate whose ``estimated_rate_work`` exceeds ``max_work`` (None: no
    limit)."""
    if max_work is None:
        return
    work = estimated_rate_work(mixture, method, n_times, n_samples, n_groups)
    if work > max_work:
        raise ValueError(
            f"n_samples={n_samples} over {n_times} time(s) with method={method!r} (K={mixture.K}, d={mixture.d}) is "
            f"estimated at {work:.3g} multiply-add units of work (limit max_work={max_work:.3g}; about 3e9 units per "
            "second on one CPU core). Use fewer draws or times, or pass max_work=None (or a larger max_work) to run "
            "it anyway."
        )


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
    max_work: float | None = DEFAULT_MAX_WORK,
) -> EntropyResult:
    """The entropy rate dH[Z_P | X_t]/dτ over the times ``t``, τ = t (``wrt="t"``), log σ or λ = log γ.

    σ here is the EDM noise level σ = σ(t)/a(t) = e^{−λ/2}, the same for every process at equal SNR (not the
    process's own σ(t)), so dH/dlog σ = −2 dH/dλ in every process.

    Args:
        mixture: the data distribution p_0 = Σ_k π_k N(μ_k, Σ_k).
        process: the forward process (a(t), σ(t)).
        t: a time or a 1-D array of times of ``process`` (finite, inside its domain, with σ(t) > 0).
        wrt: the time variable of the derivative: "t" (native), "log_sigma" (log of σ(t)/a(t)) or "log_snr" (λ).
        partition: group the labels (Z_P = the group of Z); default: the labels themselves.
        method: "auto", "closed_form", "denoiser_gap" or "autodiff" (see the module docstring).
        n_samples: draws for the Monte Carlo methods (default 2¹⁴ denoiser_gap, 2¹⁵ autodiff; rounded up to whole
            chunks). The same draws serve every time (common random numbers).
        key: jax PRNG key or int seed for the Monte Carlo methods (default: seed 0, reproducible).
        precision: "float64" (default) or "float32".
        max_work: refuse a Monte Carlo rate whose estimated work (``estimated_rate_work``) exceeds this many
            multiply-add units (default 1e13, about an hour on one CPU core), before any jax work; None: no limit.

    Returns:
        ``EntropyResult(quantity="entropy_rate")`` with ``.value`` and ``.stderr`` shaped like ``t``, the ``.method``
        used and ``.extra["wrt"]``. dH/dt ≥ 0, dH/dlog σ ≥ 0 and dH/dλ ≤ 0 in forward time; where the SNR underflows
        (e.g. OU at t ≳ 375) the rate is its limit 0.
    """
    _check_inputs(mixture, process)
    if not isinstance(wrt, str) or wrt not in WRTS:
        raise ValueError(f"wrt must be one of {WRTS}; got {wrt!r}")
    times = check_times(t, process)
    flat = np.atleast_1d(times)
    _check_noise(process, flat)
    part = check_partition(partition, mixture.K)
    chosen = resolve_rate_method(mixture, method)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    limit = _check_max_work(max_work)
    if chosen != "closed_form":
        n = check_n_samples(DEFAULT_SAMPLES[chosen] if n_samples is None else n_samples)
        _check_rate_work(mixture, chosen, flat.size, n, part.M if partition is not None else 0, limit)
    prng = check_key(key)
    lam, dlam_dt = log_snr_and_slope(process, flat)
    if np.any(np.isposinf(lam)) or np.any(np.isnan(lam)):
        _zero_noise_error(flat[~(lam < np.inf)])
    dlam_dtau = {"t": dlam_dt, "log_snr": np.ones_like(lam), "log_sigma": np.full_like(lam, -2.0)}[wrt]
    if not np.all(np.isfinite(dlam_dtau)):
        bad = flat[~np.isfinite(dlam_dtau)]
        raise ValueError(f"the rate with respect to wrt={wrt!r} is undefined at t = {bad[:3].tolist()} "
                         f"(dλ/dt is infinite there)")
    log_s2 = -np.maximum(lam, 0.0)  # dH/dλ ∝ σ² at high SNR: every route returns (dH/dλ)/σ², rescaled in log space
    if chosen == "closed_form":
        value = _closed_form_rate_scaled(mixture, lam, part) * _scaled(log_s2, dlam_dtau)
        stderr, n_used = np.zeros_like(value), GH_NODES
    else:
        cap = _LAM_CAP[chosen] if precision == "float64" else min(_LAM_CAP[chosen], 80.0)  # float32: e^{−80} > tiny
        coords = _coordinates(lam, cap)
        with precision_scope(precision):
            if chosen == "denoiser_gap":  # dH/dλ = −½ σ² E G
                gap, gap_se, n_used = _denoiser_gap(mixture, coords["a"], coords["s2"], part, n, prng)
                scale = -0.5 * _scaled(log_s2, dlam_dtau)
                value, stderr = scale * gap, np.abs(scale) * gap_se
            else:  # dH/dλ = σ² × (the tangent output for λ_eff > 0), the tangent output itself for λ_eff ≤ 0
                rate, se, n_used = _autodiff(mixture, coords, membership_or_none(part), n, prng)
                scale = _scaled(log_s2, dlam_dtau)
                value, stderr = scale * rate, np.abs(scale) * se
    # |dH/dλ| = ½ γ E‖x̂_0(X_t, Z_P) − x̂_0(X_t)‖² ≤ ½ γ tr Cov X_0: below the smallest float it is exactly 0 (the
    # Monte Carlo kernels would return round-off of the eigenbases there, ~1e-30)
    negligible = lam + math.log(_total_variance(mixture) + 1e-300) < math.log(np.finfo(np.float64).tiny)
    value = np.where(negligible, 0.0, value)
    stderr = np.where(negligible, 0.0, stderr)
    value = np.asarray(value, dtype=np.float64) + 0.0  # + 0.0: no −0.0 where the rate underflows
    if not np.all(np.isfinite(value)):
        bad = flat[~np.isfinite(value)]
        raise ValueError(f"the entropy rate is not finite at t = {bad[:3].tolist()} for {process!r}")
    shape = np.shape(times)
    return EntropyResult(
        times, value.reshape(shape), np.asarray(stderr, np.float64).reshape(shape), chosen, "entropy_rate",
        int(n_used), {"wrt": wrt},
    )
