"""Full-dimensional Monte Carlo for any Gaussian mixture (per-class covariances in their own eigenbases).

Draws follow the forward process itself, X_t = a X_0 + σ ε, with X_0 = μ_z + U_z (√λ_z ⊙ η) for a fixed class z,
and the *same* (η, ε) ~ N(0, I_d) reused for every time t (common random numbers: smooth curves, sharp
differences). In the eigenbasis U_k of class k the residual is

    r_k(t) = U_kᵀ(x_t − a μ_k) = a A_k + σ B_k,   A_k = U_kᵀ(X_0 − μ_k) = o_zk + U_kᵀ U_z (√λ_z ⊙ η),   B_k = U_kᵀ ε,

with the fixed offsets o_zk = U_kᵀ(μ_z − μ_k). (A_k, B_k) cost 2K + 1 rotations (d² multiply-adds each) per draw,
independent of the number of times. Then, with c_kj(t) = a²λ_kj + σ²,

    Q_k(t) = Σ_j r_kj²/c_kj = a² S^AA_k(t) + 2aσ S^AB_k(t) + σ² S^BB_k(t),   S^XY_k(t) = Σ_j X_kj Y_kj / c_kj(t),

three contractions over d that, for a chunk of n draws and the whole time grid, are one GEMM per class,
(3n, d) × (d, T). Classes are processed one after another inside a chunk (rotation, statistics, contraction), so the
working set of one class stays in cache. The logits log π_k − ½ Q_k(t) − ½ Σ_j log c_kj(t) give the functional f
for every (t, draw).

Structure is used where it exists: for diagonal covariances (no basis) and a shared full covariance (one basis U,
for which Uᵀ U (√λ η) = √λ η and Uᵀε ~ N(0, I) in law) there is no rotation at all, and S^BB is one GEMM shared by
all classes.

Cost per draw (per-class full covariances): (2K + 1) d² multiply-adds for the rotations, 3 K d T for the contractions,
2d standard normal variates, O(K T) for the softmax — against (K + 1) d² *per time* for a naive per-time
``logpdf``/sampling code.

Precision. In float64 (the default) everything runs in float64. With ``precision="float32"`` the normal draws,
A_k and B_k (rotations and offsets), the statistics A², AB, B² and both GEMMs run in float32 (about twice the float64
throughput), while the per-time constants (a, σ, 1/c, log det C_k), the assembly of Q_k from the three contractions,
the logits, the posterior functional and all reductions stay in float64. The rounding this adds is far below the
Monte Carlo standard error (measured on identical draws in ``tests/entropy/test_montecarlo_kernel.py``); the
standard error itself is that of the same number of draws.

Draws are stratified by class (an equal number per class, weighted by π_z); they are processed in chunks of
bounded size: no array larger than chunk × K × max(d, T) (× 3 for the statistics) is held, never O(n · d). The
offsets o_zk are formed per chunk for its class z ((K, d), never the (K, K, d) table), and the working set of a
chunk — ``chunk_bytes``, K·d·T and K²-type terms included — stays within ``_chunks.memory_budget()``; where the
per-time constants alone would not fit, the time grid is processed in blocks (same draws in every block).

Processes: in a multi-process run (``gmmtheory.distributed``) the K · chunks-per-class chunks, each with the key it
has in a one-process run, are split into contiguous blocks over the processes and their per-chunk moments
all-gathered in chunk order, so every process reduces exactly the one-process per-chunk results in the same order.

Invariances: the mixture arrives centred at Σ_k π_k μ_k (``GaussianMixture.centred()``, at the entry), and (a, σ)
are rescaled to a² + σ² = 1 (``coordinates.unit_coefficients``), so neither a common offset of the means nor σ²
overflow (EDM σ ≳ 1e154) costs precision. The kernel averages the excess h = f − f_∞
(``functionals.functional_excess``); rare-event times are flagged (``result.flag_rare_event``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from gmmtheory._checks import check_choice
from gmmtheory._chunks import array_budget, largest_block, memory_budget, rows_per_chunk, split_blocks
from gmmtheory._precision import precision_scope
from gmmtheory.distributed import map_chunks
from gmmtheory.entropy.coordinates import unit_coefficients
from gmmtheory.entropy.functionals import DECIDED, functional_excess
from gmmtheory.entropy.moments import chunk_moments, class_moments, stratified_mean
from gmmtheory.entropy.result import informative_draws
from gmmtheory.mixture import GaussianMixture
from gmmtheory.posterior import MixtureArrays, mixture_arrays
from gmmtheory.processes import Process

_DTYPES = ("float32", "float64")


def chunk_elements() -> int:
    """Floats of one array of a chunk (``_chunks.array_budget()`` in float64: 2²¹ on a CPU, 2²⁴ on a GPU/TPU,
    where bigger chunks mean fewer sequential steps)."""
    return array_budget() // 8


def chunk_bytes(chunk: int, K: int, d: int, n_times: int, n_groups: int = 0, per_class_basis: bool = False) -> int:
    """Bytes held by the kernel for one chunk of ``chunk`` draws over a block of ``n_times`` times (float64):

    fixed: 3·K·d·T (c, 1/c and log c), 4·K·d (√λ, the means in their bases, the chunk's offsets o_z·) and, with
    per-class bases, K·d² (their working copy); per draw: 8d + 3T (η, ε, X_0 − μ_z, one class's rotation and
    statistics) + 8·K·T (Q, the logits and the posterior functional's temporaries) + 2·K·T·groups with a partition.
    """
    T = n_times
    fixed = 3 * K * d * T + 4 * K * d + (K * d * d if per_class_basis else 0)
    per_draw = 8 * d + 3 * T + 8 * K * T + 2 * K * T * n_groups
    return 8 * (fixed + chunk * per_draw)


def plan(n_per_class: int, K: int, d: int, n_times: int, n_groups: int = 0, per_class_basis: bool = False,
         budget: int | None = None) -> tuple[int, int, int]:
    """(time block, draws per chunk, chunks per class): the largest power-of-two time block whose fixed part takes
    at most half the budget (``_chunks.largest_block``); then the largest power-of-two chunk ≤ n_per_class with
    ``chunk_bytes`` ≤ budget and chunk × K × max(d, T) floats ≤ the per-array bound (at least 1;
    ``_chunks.rows_per_chunk``)."""
    budget = memory_budget() if budget is None else budget
    block = largest_block(n_times, lambda b: chunk_bytes(0, K, d, b, n_groups, per_class_basis), budget=budget)
    fixed = chunk_bytes(0, K, d, block, n_groups, per_class_basis)
    per_draw = chunk_bytes(1, K, d, block, n_groups, per_class_basis) - fixed
    per_array = rows_per_chunk(8 * K * max(d, block), budget=array_budget())
    chunk = rows_per_chunk(per_draw, budget=budget - fixed, maximum=min(per_array, n_per_class))
    return block, chunk, -(-n_per_class // chunk)


def chunking(n_per_class: int, K: int, d: int, T: int) -> tuple[int, int]:
    """Draws per chunk (a power of two, so shapes are bucketed) and the number of chunks per class."""
    _, chunk, n_chunks = plan(n_per_class, K, d, T)
    return chunk, n_chunks


def _own_coordinates(arr: MixtureArrays) -> Array:
    """μ_k in the basis of class k, (K, d): the means themselves (no basis), Uᵀμ_k (one shared basis), U_kᵀμ_k."""
    if arr.basis is None:
        return arr.means
    if arr.basis.ndim == 2:
        return arr.means @ arr.basis
    return arr.means_own


def _offsets_from(arr: MixtureArrays, own: Array, z: Array) -> Array:
    """o[k] = U_kᵀ(μ_z − μ_k) for one true class z, shape (K, d) (never the (K, K, d) table)."""
    if arr.basis is not None and arr.basis.ndim == 3:
        return jnp.einsum("j,kjl->kl", arr.means[z], arr.basis) - own
    return own[z][None, :] - own


@functools.partial(jax.jit, static_argnames=("chunk", "functional", "noise_dtype", "gemm_dtype"))
def _mc_kernel(arr: MixtureArrays, keys, classes, a, s2, membership, *, chunk, functional,
               noise_dtype="float64", gemm_dtype="float64"):
    """Per-chunk (mean, centred sum of squares) of h = f − f_∞ over draws, shape (C, T) each, C = K · chunks per class.

    ``keys`` (C,) and ``classes`` (C,) give each chunk's PRNG key and true class z; ``a``, ``s2`` (T,) the process
    coefficients a(t), σ(t)². ``noise_dtype``/``gemm_dtype``: precision of the normal draws and of the rotations and
    contractions; everything else runs in the precision of ``arr`` (float64 under x64).
    """
    K, d = arr.means.shape
    T = a.shape[0]
    wide = arr.means.dtype
    g = jnp.dtype(gemm_dtype)
    per_class = arr.basis is not None and arr.basis.ndim == 3
    c = a[:, None, None] ** 2 * arr.evals[None] + s2[:, None, None]  # (T, K, d)
    inv_c = jnp.transpose(1.0 / c, (1, 2, 0)).astype(g)  # (K, d, T)
    logdet = jnp.sum(jnp.log(c), axis=-1)  # (T, K)
    coef = jnp.stack([a * a, 2.0 * a * jnp.sqrt(s2), s2]).astype(wide)  # (3, T)
    sqrt_lam = jnp.sqrt(arr.evals).astype(g)  # (K, d)
    own = _own_coordinates(arr)  # (K, d)
    basis = arr.basis.astype(g) if per_class else None

    def one_chunk(args):
        key, z = args
        k1, k2 = jax.random.split(key)
        eta = jax.random.normal(k1, (chunk, d), dtype=jnp.dtype(noise_dtype)).astype(g)
        eps = jax.random.normal(k2, (chunk, d), dtype=jnp.dtype(noise_dtype)).astype(g)
        dev = sqrt_lam[z] * eta  # X_0 − μ_z in the eigenbasis of class z
        if per_class:
            both = jnp.concatenate([dev @ basis[z].T, eps])  # (2n, d): X_0 − μ_z and ε in standard coordinates

        def one_class(args):  # class k: the three contractions S^AA, S^AB, S^BB over the whole time grid
            off, inv_c_k, U_k = args
            if per_class:
                r = both @ U_k
                A, B = r[:chunk] + off, r[chunk:]
            else:  # diagonal or one shared basis: A_k = o_zk + √λ_z η and B_k = ε (in law)
                A, B = dev + off, eps
            S = (jnp.concatenate([A * A, A * B, B * B]) @ inv_c_k).astype(wide).reshape(3, chunk, T)
            return coef[0] * S[0] + coef[1] * S[1] + coef[2] * S[2]  # Q_k(t), (n, T)

        offsets = _offsets_from(arr, own, z).astype(g)  # (K, d): o_zk for this chunk's class z
        quad = jax.lax.map(one_class, (offsets, inv_c, basis if per_class else jnp.zeros((K,), g)))  # (K, n, T)
        logits = arr.log_weights - 0.5 * jnp.transpose(quad, (2, 1, 0)) - 0.5 * logdet[:, None, :]  # (T, n, K)
        return chunk_moments(functional_excess(logits, membership, functional))

    return jax.lax.map(one_chunk, (keys, classes))


def montecarlo_moments(
    mixture: GaussianMixture,
    process: Process,
    t: np.ndarray,
    functional: str,
    membership: np.ndarray | None,
    n_samples: int,
    key: Array,
    *,
    noise_dtype: str | None = None,
    gemm_dtype: str | None = None,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Estimate E f over t (1-D numpy) with stratified full-dimensional draws, for a centred ``mixture`` (the entry,
    ``api.posterior_statistic``, centres it).

    Returns (value, stderr, n_used, informative draws Σ_z n_inf,z). Under x64 off (``precision="float32"``) the draws
    and GEMMs run in float32 and the rest in float64 (see the module docstring); ``noise_dtype`` and ``gemm_dtype``
    ("float32" or "float64") override that choice; with ``noise_dtype="float32"`` both precisions see identical
    draws, which is how the tests measure the rounding of the float32 GEMMs.
    """
    low = jax.dtypes.canonicalize_dtype(jnp.float64) != jnp.dtype("float64")  # x64 off: precision="float32"
    noise_dtype = ("float32" if low else "float64") if noise_dtype is None else noise_dtype
    gemm_dtype = ("float32" if low else "float64") if gemm_dtype is None else gemm_dtype
    for name, value in (("noise_dtype", noise_dtype), ("gemm_dtype", gemm_dtype)):
        check_choice(name, value, _DTYPES)
    mix = mixture
    K, d = mix.K, mix.d
    n_per_class = -(-n_samples // K)
    times = np.atleast_1d(np.asarray(t, np.float64))
    T = times.shape[0]
    a_all, s2_all = unit_coefficients(process, times)
    n_groups = 0 if membership is None else int(np.shape(membership)[1])
    basis = mix.spectrum.basis
    block, chunk, n_chunks = plan(n_per_class, K, d, T, n_groups, basis is not None and basis.ndim == 3)

    with precision_scope("float64"):
        keys = jax.random.split(key, K * n_chunks)
        classes = jnp.repeat(jnp.arange(K), n_chunks)
        arr = mixture_arrays(mix)
        memb = None if membership is None else jnp.asarray(membership)

        def chunks(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Per-chunk moments of the chunks ``idx`` (all of them on one process; this process's block of them
            in a multi-process run: ``gmmtheory.distributed.map_chunks``, the same keys as one process uses)."""
            whole = idx.size == K * n_chunks and np.array_equal(idx, np.arange(idx.size))
            ks, cs = (keys, classes) if whole else (keys[idx], classes[idx])
            parts_mean, parts_m2 = [], []
            for a, s2 in zip(split_blocks(a_all, block), split_blocks(s2_all, block)):
                means, m2 = _mc_kernel(arr, ks, cs, jnp.asarray(a), jnp.asarray(s2), memb, chunk=chunk,
                                       functional=functional, noise_dtype=noise_dtype, gemm_dtype=gemm_dtype)
                parts_mean.append(np.asarray(means, np.float64))
                parts_m2.append(np.asarray(m2, np.float64))
            return np.concatenate(parts_mean, axis=1)[:, :T], np.concatenate(parts_m2, axis=1)[:, :T]

        means, m2 = map_chunks(chunks, K * n_chunks)
    class_means, class_m2, counts = class_moments(means, m2, K, n_chunks, chunk)
    value, stderr = stratified_mean(class_means, class_m2, counts, mix.weights)
    live = mix.weights > 0
    n_inf = np.sum(informative_draws(class_means[live], class_m2[live], counts[live][:, None]), axis=0)
    return value + DECIDED[functional], stderr, int(counts.sum()), n_inf

