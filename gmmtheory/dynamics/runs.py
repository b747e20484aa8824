"""The pieces of a reverse run: validated settings (``RunSetup``, ``prepare_run``), exact initial states, one
jitted segment of grid steps (``run_segment``) and the ``Trajectories`` it returns.

Runs are split into chunks of c samples (``chunk_size``: the largest power of two with c·K·d ≤ 2²¹ float64, at least
8 and at most the next power of two above n), mapped with ``lax.map``; the grid is padded to a multiple of
``grid.GRID_BUCKET`` points, so one compilation serves similar shapes. ``dynamics.sampling.simulate`` assembles
these (full-d runs) and ``dynamics.reduced`` their reduced counterpart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import jax
import jax.numpy as jnp
import numpy as np

from gmmtheory._checks import check_choice, check_count, check_nonnegative
from gmmtheory._chunks import pad_to, pow2_ceil, rows_per_chunk
from gmmtheory.dynamics.grid import (
    GRID_BUCKET,
    SAMPLERS,
    Grid,
    check_guidance,
    check_sigmas,
    make_grid,
)
from gmmtheory.dynamics.kernel import draw_states, jax_grid, sampler_kernel, semantic_basis
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.posterior import group_log_priors, mixture_arrays
from gmmtheory.processes import check_process

CHUNK_BYTES = 8 * 2**21  # one chunk's c·K·d float64 denoiser array: 16 MiB (2²¹ elements)
MIN_CHUNK = 8


# ================================================================================================ results
@dataclass(frozen=True, repr=False)
class Trajectories:
    """Reverse runs and what was measured along them (numpy arrays; n samples, L = N + 1 grid points).

    Attributes:
        grid: the ``Grid`` (``grid.sigma``: VE-equivalent σ at each point; ``grid.t_ou``: OU time at equal SNR).
        sampler, guidance, w, interval: the settings.
        labels: (n,) target labels (group indices with a partition), −1 when unconditional.
        partition: the guidance partition (None: the classes).
        final_log_post: (n, K) log p_end(k | x_end) of every class at the last grid point.
        final_proj: (n, r) projections of x_end on the semantic basis ``basis`` (d, r).
        log_post: (n, L, K) class log-posteriors along the trajectories (None unless record=True; nan where the
            run was not active); proj: (n, L, r) projections along the trajectories.
        x: (n, d) final states (None unless keep_x=True); in the sampler's frame (unit data for "edm").
        start, stop: the grid indices the run covered.
    """

    grid: Grid
    sampler: str
    guidance: str
    w: float
    interval: tuple[float, float]
    labels: np.ndarray
    partition: Partition | None
    final_log_post: np.ndarray
    final_proj: np.ndarray
    basis: np.ndarray
    log_post: np.ndarray | None = None
    proj: np.ndarray | None = None
    x: np.ndarray | None = None
    start: int = 0
    stop: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.final_log_post.shape[0])

    @property
    def sigma(self) -> np.ndarray:
        return self.grid.sigma

    @property
    def t_ou(self) -> np.ndarray:
        return self.grid.t_ou

    def as_dict(self) -> dict:
        """The fields by name (arrays as they are; ``grid`` as ``Grid.as_dict()``)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["grid"] = self.grid.as_dict()
        return d

    def __repr__(self) -> str:
        rec = "recorded" if self.log_post is not None else "final only"
        return (f"Trajectories(sampler={self.sampler!r}, n={self.n}, n_steps={self.grid.n_steps}, "
                f"guidance={self.guidance!r}, w={self.w:g}, K={self.final_log_post.shape[1]}, {rec})")


# ================================================================================================ set-up
def _check_mixture(mixture: object) -> GaussianMixture:
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    return mixture


def resolve_labels(label: object, n: int, M: int, weights_groups: np.ndarray, key) -> tuple[np.ndarray, bool]:
    """(labels (n,) int32, unconditional?) from None, an int, an integer array (n,) or "prior" (drawn with ``key``)."""
    if label is None:
        return np.zeros(n, np.int32), True
    if isinstance(label, str):
        if label != "prior":
            raise ValueError(f"label must be None, an int, an integer array or 'prior'; got {label!r}")
        lab = np.asarray(jax.random.choice(jax.random.fold_in(key, 7), M, shape=(n,), p=jnp.asarray(weights_groups)))
        return lab.astype(np.int32), False
    arr = np.asarray(label)
    if arr.dtype.kind not in "iu" or arr.ndim > 1 or (arr.ndim == 1 and arr.shape != (n,)):
        raise ValueError(f"label must be an int or an integer array of shape ({n},); got {label!r}")
    if np.any(arr < 0) or np.any(arr >= M):
        raise ValueError(f"label must lie in 0..{M - 1}; got {label!r}")
    return np.broadcast_to(arr, (n,)).astype(np.int32), False


def chunk_size(n: int, K: int, d: int, chunk: int | None) -> tuple[int, int]:
    """(samples per chunk c, number of chunks C): ``chunk`` if given, else the largest power of two with
    c·K·d float64 ≤ ``CHUNK_BYTES`` (at least ``MIN_CHUNK``), capped at the next power of two ≥ n."""
    if chunk is None:
        c = min(rows_per_chunk(8 * K * d, budget=CHUNK_BYTES, minimum=MIN_CHUNK), pow2_ceil(n))
    else:
        c = check_count("chunk", chunk, 1)
    return c, int(math.ceil(n / c))


@dataclass(frozen=True)
class RunSetup:
    """A validated sampler configuration: mixture, grid, guidance rule, partition and the chunking of n samples."""

    mixture: GaussianMixture
    grid: Grid
    sampler: str
    guidance: str
    w: float
    interval: tuple[float, float]
    partition: Partition | None
    n: int
    chunk: int
    n_chunks: int
    S_noise: float


def prepare_run(mixture, *, sampler, n_samples, n_steps, process, guidance, w, interval, partition, T, t_end,
                sigma_min, sigma_max, rho, S_churn, S_min, S_max, S_noise, chunk, sigmas=None) -> RunSetup:
    """Validate every setting of a run (no jit work) and build its grid and chunking."""
    mix = _check_mixture(mixture)
    sampler = check_choice("sampler", sampler, SAMPLERS)
    g_name, w, interval = check_guidance(guidance, w, interval)
    if n_steps is None:  # default: EDM's 64 steps, or as many as the custom grid has
        n_steps = 64 if sigmas is None else check_sigmas(sigmas, None).size
    n_steps = check_count("n_steps", n_steps, 2)
    n = check_count("n_samples", n_samples, 1)
    part = None if partition is None else check_partition(partition, mix.K)
    S_noise = check_nonnegative("S_noise", S_noise)
    if sampler != "edm" and process is not None:
        process = check_process(process)
    grid = make_grid(sampler, n_steps, process=process, T=T, t_end=t_end, sigma_min=sigma_min,
                     sigma_max=sigma_max, rho=rho, S_churn=S_churn, S_min=S_min, S_max=S_max, sigmas=sigmas)
    if mix.singular and grid.s2[-1] <= 0:
        raise ValueError("this mixture has singular covariances: the grid must end at σ > 0 (set t_end > 0)")
    c, C = chunk_size(n, mix.K, mix.d, chunk)
    return RunSetup(mix, grid, sampler, g_name, w, interval, part, n, c, C, S_noise)


# ================================================================================================ running
def unchunk(v, n: int) -> np.ndarray:
    """(C, c, ...) chunked values → (n, ...) (the padding rows dropped)."""
    v = np.asarray(v)
    return v.reshape((-1,) + v.shape[2:])[:n]


def along_grid(first, recs, n: int, size: int, start: int, stop: int) -> np.ndarray:
    """Records along the grid as (n, size, ...): ``first`` (C, c, ...) at point ``start``, ``recs`` (C, L − 1, c, ...)
    at points 1..L − 1 (L the padded length); nan outside start..stop."""
    r = np.moveaxis(np.asarray(recs), 1, 2)
    r = r.reshape((-1,) + r.shape[2:])[:n]  # (n, L − 1, ...)
    out = np.full((n, size) + r.shape[2:], np.nan)
    out[:, 1:] = r[:, : size - 1]
    out[:, start] = unchunk(first, n)
    out[:, :start] = np.nan
    out[:, stop + 1:] = np.nan
    return out


def guidance_params(st: RunSetup, uncond: bool, dtype) -> dict:
    """The guidance rule as the kernels' parameter dict (w, σ_lo, σ_hi, unconditional flag, S_noise)."""
    return {"w": jnp.asarray(st.w, dtype), "lo": jnp.asarray(st.interval[0], dtype),
            "hi": jnp.asarray(min(st.interval[1], 1e300), dtype), "uncond": jnp.asarray(bool(uncond)),
            "s_noise": jnp.asarray(st.S_noise, dtype)}


def chunked_labels(st: RunSetup, labels: np.ndarray) -> jax.Array:
    """Labels padded to the chunked layout (C, c) (int32)."""
    lab = np.zeros(st.n_chunks * st.chunk, np.int32)
    lab[: st.n] = labels
    return jnp.asarray(lab.reshape(st.n_chunks, -1))


def run_segment(st: RunSetup, x0: jax.Array, keys, labels: np.ndarray, uncond: bool, start: int, stop: int,
                record: bool, keep_x: bool, extra: dict | None = None,
                proj_basis: tuple[np.ndarray, np.ndarray] | None = None) -> Trajectories:
    """Run grid steps start ≤ i < stop from the chunked states x0 (C, c, d) with one key per chunk.

    ``proj_basis`` = (q, basis): project the states on q (d, r') in the kernel and report ``basis`` as the
    Trajectories' semantic basis (the reduced runs: q = Qᵀ Q_sem on u, basis = Q_sem); default: both
    ``semantic_basis(st.mixture)``."""
    mix, g = st.mixture, st.grid
    arr = mixture_arrays(mix)
    dtype = arr.means.dtype
    L = pad_to(g.t.size, GRID_BUCKET)
    q, basis = (semantic_basis(mix),) * 2 if proj_basis is None else proj_basis
    table = jnp.asarray(group_log_priors(mix, st.partition), dtype)
    params = guidance_params(st, uncond, dtype)
    xf, final, first, recs = sampler_kernel(arr, jnp.asarray(q, dtype), x0, keys, chunked_labels(st, labels), table,
                                            jax_grid(g, L, dtype), params, jnp.int32(start), jnp.int32(stop),
                                            kind=st.sampler, record=record)
    n = st.n
    log_post = proj = None
    if record:
        log_post = along_grid(first[0], recs[0], n, g.t.size, start, stop)
        proj = along_grid(first[1], recs[1], n, g.t.size, start, stop)
    return Trajectories(
        grid=g, sampler=st.sampler, guidance=st.guidance, w=st.w, interval=st.interval,
        labels=np.where(uncond, -1, labels).astype(np.int64), partition=st.partition,
        final_log_post=unchunk(final[0], n), final_proj=unchunk(final[1], n), basis=basis, log_post=log_post,
        proj=proj, x=unchunk(xf, n) if keep_x else None, start=start, stop=stop, extra=extra or {},
    )


def initial_classes(st: RunSetup, kz, labels: np.ndarray, init: str) -> np.ndarray:
    """The classes z (C·c,) of exact initial draws: z ~ π ("marginal") or z ~ π(· | group of the label)."""
    mix = st.mixture
    N = st.n_chunks * st.chunk
    if init == "marginal":
        return np.asarray(jax.random.choice(kz, mix.K, shape=(N,), p=jnp.asarray(mix.weights)))
    table = group_log_priors(mix, st.partition)  # (M, K)
    lab = np.zeros(N, np.int64)
    lab[: st.n] = labels
    return np.asarray(jax.random.categorical(kz, jnp.asarray(table[lab]), axis=-1))


def initial_states(st: RunSetup, key, labels: np.ndarray, uncond: bool, init: str, i0: int = 0):
    """Exact (or noise) initial states at grid point i0, shape (C, c, d), and their classes (None for "noise")."""
    mix, g = st.mixture, st.grid
    arr = mixture_arrays(mix)
    N = st.n_chunks * st.chunk
    kz, kx = jax.random.split(key)
    if init == "auto":
        init = "marginal" if uncond else "conditional"
    a, s = float(g.a[i0]), float(math.sqrt(g.s2[i0]))
    if init == "noise":
        mbar = mix.weights @ mix.means
        eps = jax.random.normal(kx, (N, mix.d), arr.means.dtype)
        return (a * jnp.asarray(mbar, arr.means.dtype) + s * eps).reshape(st.n_chunks, st.chunk, mix.d), None
    z = initial_classes(st, kz, labels, init)
    keys = jax.random.split(kx, st.n_chunks)
    x = draw_states(arr, keys, jnp.asarray(z.reshape(st.n_chunks, st.chunk)), a, s)
    return x, z[: st.n]


