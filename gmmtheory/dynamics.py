"""Reverse-time dynamics with exact Gaussian-mixture scores: samplers, guidance, trajectory measurements, clones.

Every sampler integrates the reverse of X_t = a(t) X_0 + σ(t) ε with the *exact* denoisers of the mixture
(``posterior.loglik_and_denoisers``), so any deviation from the theory is discretisation or Monte Carlo error,
never a learned-score error.

Samplers (``sampler=``)
-----------------------
- ``"sde"``: the reverse SDE of dX = f X dt + g dW (``process``: OU by default, any VP, VE, EDM), Euler–Maruyama on a
  uniform grid in native time from T down to t_end (default OU: T = 10, t_end = 0, as in Biroli et al.):
      x ← x + h [−f x + g² ∇log p_t(x)] + g √h ξ,    ∇log p_t = (a D − x)/σ²,  h = t_i − t_{i+1}.
- ``"ode"``: the probability-flow ODE dx/dt = f x − ½ g² ∇log p_t(x), Heun (2nd order; Euler on a last step to σ = 0).
- ``"edm"``: Karras et al. (2022) Algorithm 2 on the EDM grid σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} −
  σ_max^{1/ρ}))^ρ, i < N, σ_N = 0 (σ_min 0.002, σ_max 80, ρ 7), in the unit-data VE frame x̃ = x/a, σ̃ = σ/a:
  churn γ_i = min(S_churn/N, √2 − 1) for σ_i ∈ [S_min, S_max], σ̂ = σ_i(1 + γ_i), x̂ = x + √(σ̂² − σ_i²) S_noise ξ,
  then a Heun step from σ̂ to σ_{i+1} with d = (x̂ − D(x̂; σ̂))/σ̂. Defaults S_churn 40, S_min 0.05, S_max 50 (EDM's
  ImageNet-64 setting) and S_noise = 1 (EDM's 1.003 compensates a network's loss of detail; exact scores need none).
  S_churn = 0 gives EDM's deterministic Heun sampler (Algorithm 1).

Guidance (``guidance=``), with D_u the unconditional and D_z the (group-)conditional denoiser
----------------------------------------------------------------------------------------------------
- ``"none"``: D_u when ``label`` is None (unconditional sampling), else D_z (conditional sampling, i.e. w = 1);
- ``"cfg"``: classifier-free guidance D_w = D_u + w (D_z − D_u), evaluated as D_z + (w − 1)(D_z − D_u) (EDM2's
  lerp), so w = 1 is *bitwise* the conditional sampler and w = 0 the unconditional one;
- ``"interval"``: w only while the evaluation's VE-equivalent noise level σ/a lies in (σ_lo, σ_hi) (Kynkäänniemi et
  al., arXiv 2404.07724), D_z outside. σ/a = e^{−λ/2} is the EDM σ of unit-scale data, the same in every process.
With ``partition=`` the label is a group B of the partition and D_z = E[X_0 | x, Z ∈ B] (superclass guidance).

Labels: None (unconditional), an int, an integer array (n,), or ``"prior"`` (one label per sample drawn from the
(group) prior π). Initial states (``init=``): ``"marginal"`` (exact draw from p_T), ``"conditional"`` (exact draw
from p_T(· | label)), ``"noise"`` (N(a_T μ̄, σ_T² I), the practitioner's start), ``"auto"`` (marginal when
unconditional, else conditional).

Measurements
------------
Along every trajectory the exact class posterior p_t(k | x_t) is recorded at each grid point (``record=True``),
together with the projections of x_t on an orthonormal basis Q of the semantic subspace span{μ_k − μ̄}. From these:
``entropy_profile`` (E −Σ p log p; for an unguided run an estimate of H[Z | X_t]), ``cross_entropy_profile``
(E_q[−log p_t(z | x)] of the target label; at w = 1 with labels from the prior it equals H[Z | X_t]), ``profile_rate``,
``commitment_times`` (last σ where the posterior of the final class crosses ½), ``class_frequencies`` (soft:
mean p_{t_end}(k | x), an unbiased estimate of the law of the latent class; hard: argmax), ``within_class_variance``
and ``overshoot`` (final projection on the class direction beyond the class mean, in within-class sd).

Clones and U-turns (Biroli et al., arXiv 2402.18491)
----------------------------------------------------
``clones``: run n reverse trajectories from T to t, copy each state and continue both copies with independent
noise; the agreement Σ_k p_end(k | x¹) p_end(k | x²) has expectation φ(t) = E Σ_k p_t(k | x_t)² (the martingale
property p_t(k | x_t) = E[p_end(k | X_end) | x_t] of the exact reverse process), so it is compared with
``gt.collision_probability``. This holds only if the sampler reproduces p_t at the split: ``phi_split`` (the same
collision functional evaluated on the trajectory states at t) measures that discretisation error.
``u_turns``: draw (x_0, z) from p_0, noise exactly to x_t, regenerate from t; the retention p_end(z | x'_0) has
expectation φ(t) too. ``speciation_experiment`` runs both for two Gaussians at several d.

All kernels are pure, take explicit keys, run in chunks with ``lax.map`` (memory bounded by the chunk size), and are
compiled once per (sampler, record flag, sample/grid shape bucket); inputs are validated before any jit work.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from scipy.special import logsumexp

from gmmtheory.entropy.api import collision_probability, in_float64
from gmmtheory.entropy.common import check_key
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.posterior import (
    MixtureArrays,
    _group_log_priors,
    _loglik_from,
    _residuals,
    loglik_and_denoisers,
    mixture_arrays,
)
from gmmtheory.processes import OU, Process, edm_sigma_grid, time_factors

SAMPLERS = ("sde", "ode", "edm")
GUIDANCE = ("none", "cfg", "interval")
INITS = ("auto", "marginal", "conditional", "noise")
_CHUNK_ELEMS = 2**21  # chunk·K·d bound (16 MiB of float64 per denoiser array)
_GRID_BUCKET = 32
TRACE_COUNT = {"kernel": 0}  # incremented at trace time (tests check that repeated calls do not retrace)


# ================================================================================================ validation
def _check_mixture(mixture: object) -> GaussianMixture:
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    return mixture


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}; got {value!r}")
    return int(value)


def _check_real(value: object, name: str, *, minimum: float | None = None, strict: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number; got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if minimum is not None and (v < minimum or (strict and v == minimum)):
        raise ValueError(f"{name} must be {'>' if strict else '≥'} {minimum:g}; got {value!r}")
    return v


def check_guidance(guidance: object, w: object, interval: object) -> tuple[str, float, tuple[float, float]]:
    """Validate a guidance rule; returns (name, w, (σ_lo, σ_hi)) with (0, inf) for plain CFG."""
    if not isinstance(guidance, str) or guidance not in GUIDANCE:
        raise ValueError(f"guidance must be one of {GUIDANCE}; got {guidance!r}")
    w = _check_real(w, "w", minimum=0.0)
    if guidance == "none":
        if w != 1.0:
            raise ValueError(f"w={w!r} needs guidance='cfg' or 'interval' (guidance='none' is w = 1)")
        if interval is not None:
            raise ValueError("interval needs guidance='interval'")
        return guidance, 1.0, (0.0, math.inf)
    if guidance == "cfg":
        if interval is not None:
            raise ValueError("interval needs guidance='interval' (guidance='cfg' applies w at every σ)")
        return guidance, w, (0.0, math.inf)
    return guidance, w, check_interval(interval)


def check_interval(interval: object) -> tuple[float, float]:
    """(σ_lo, σ_hi) with 0 ≤ σ_lo < σ_hi ≤ inf (VE-equivalent σ of unit-scale data)."""
    try:
        lo, hi = (float(v) for v in interval)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"interval must be a pair (sigma_lo, sigma_hi); got {interval!r}") from None
    if not (lo >= 0 and hi > lo) or math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"interval must satisfy 0 ≤ sigma_lo < sigma_hi; got {interval!r}")
    return lo, hi


# ===================================================================================================== grids
@dataclass(frozen=True)
class Grid:
    """A reverse-time grid of N + 1 points (decreasing noise), in the frame the sampler integrates in.

    ``t``: native times of the sampler (σ̃ for "edm"); ``a``, ``s2``: signal scale and noise variance in that frame
    (a = 1, s2 = σ̃² for "edm"); ``f``, ``g2``: drift and squared diffusion (sde/ode); ``sigma``: VE-equivalent σ/a;
    ``gamma``: EDM churn per step (N values, the last 0).
    """

    t: np.ndarray
    a: np.ndarray
    s2: np.ndarray
    f: np.ndarray
    g2: np.ndarray
    sigma: np.ndarray
    gamma: np.ndarray

    @property
    def n_steps(self) -> int:
        return self.t.size - 1

    @property
    def t_ou(self) -> np.ndarray:
        """OU time at equal SNR: ½ log(1 + σ²)."""
        return 0.5 * np.log1p(self.sigma**2)


def _default_T(process: Process) -> float:
    if isinstance(process, OU):
        return 10.0
    t = float(np.asarray(process.t_from_sigma_ve(80.0)))
    return float(min(t, process.t_max))


def make_grid(
    sampler: str,
    n_steps: int,
    *,
    process: Process | None = None,
    T: float | None = None,
    t_end: float = 0.0,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    S_churn: float = 40.0,
    S_min: float = 0.05,
    S_max: float = 50.0,
    sigmas: object = None,
) -> Grid:
    """The grid a sampler runs on (validated). "edm": EDM σ grid + σ_N = 0; "sde"/"ode": uniform native time.

    ``sigmas`` ("edm" only): a custom decreasing grid σ_0 > … > σ_{N−1} > 0 of N = ``n_steps`` values (VE σ of
    unit-scale data) used instead of EDM's ρ-grid (σ_min, σ_max, ρ are then ignored); σ_N = 0 is appended (a grid
    given with its trailing 0 means the same, see ``check_sigmas``)."""
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}; got {sampler!r}")
    n = _check_int(n_steps, "n_steps", 2)
    if sigmas is not None and sampler != "edm":
        raise ValueError(f"sigmas (a custom σ grid) needs sampler='edm'; got sampler={sampler!r}")
    if sampler == "edm":
        sig = np.append(edm_sigma_grid(n, sigma_min, sigma_max, rho) if sigmas is None else check_sigmas(sigmas, n),
                        0.0)
        S_churn = _check_real(S_churn, "S_churn", minimum=0.0)
        S_min = _check_real(S_min, "S_min", minimum=0.0)
        S_max = float(S_max)
        g = min(S_churn / n, math.sqrt(2.0) - 1.0)
        gamma = np.where((sig[:-1] >= S_min) & (sig[:-1] <= S_max), g, 0.0)
        ones = np.ones_like(sig)
        return Grid(sig, ones, sig**2, np.zeros_like(sig), np.zeros_like(sig), sig, gamma)
    process = OU() if process is None else process
    if not isinstance(process, Process):
        raise ValueError(f"process must be a gmmtheory process; got {process!r}")
    T = _default_T(process) if T is None else _check_real(T, "T", minimum=0.0, strict=True)
    t_end = _check_real(t_end, "t_end", minimum=process.t_min)
    if not (T > t_end) or T > process.t_max:
        raise ValueError(f"need t_end < T ≤ {process.t_max:g} for {process!r}; got T={T!r}, t_end={t_end!r}")
    t = np.linspace(T, t_end, n + 1)
    factors = time_factors(process, t)
    a, s, f, g2 = factors["a"], np.sqrt(factors["s2"]), factors["f"], factors["g2"]
    if not np.all(np.isfinite(f[:-1])) or not np.all(np.isfinite(g2[:-1])):
        raise ValueError(f"drift/diffusion of {process!r} are not finite on the grid; choose T and t_end inside")
    f, g2 = np.nan_to_num(f), np.nan_to_num(g2)
    return Grid(t, a, s**2, f, g2, s / a, np.zeros(n))


def check_sigmas(sigmas: object, n_steps: int | None) -> np.ndarray:
    """A custom sampler grid σ_0 > … > σ_{N−1} > 0: 1-D, ``n_steps`` = N (None: any N ≥ 2) finite values, strictly
    decreasing and > 0; returns these N values (the sampler appends σ_N = 0).

    A grid that already ends in 0 (σ_0 > … > σ_{N−1} > σ_N = 0, as diffusers, k-diffusion and
    ``gmmtheory.bridge.sampling.edm_sigmas`` write it) is accepted and means the same: its trailing 0 is the final
    step to the denoised output (for "edm", the Euler step x_N = x̂ + (0 − σ̂) (x̂ − D(x̂; σ̂))/σ̂ = D(x̂; σ̂)), so it
    is dropped here and N counts the nonzero values."""
    try:
        sig = np.asarray(sigmas, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"sigmas must be a 1-D array of noise levels; got {sigmas!r}") from None
    if sig.ndim == 1 and sig.size >= 2 and sig[-1] == 0.0:
        sig = sig[:-1]  # the trailing σ_N = 0 the sampler appends anyway
    if n_steps is None and (sig.ndim != 1 or sig.size < 2):
        raise ValueError(f"sigmas must be a 1-D array of at least 2 values > 0 (σ_N = 0 is appended; a trailing 0 "
                         f"may be given); got shape {sig.shape}")
    if n_steps is not None and (sig.ndim != 1 or sig.size != n_steps):
        raise ValueError(f"sigmas must be a 1-D array of n_steps = {n_steps} values > 0 (σ_N = 0 is appended; "
                         f"a trailing 0 may be given); got shape {sig.shape}")
    if not np.all(np.isfinite(sig)) or np.any(sig <= 0) or np.any(np.diff(sig) >= 0):
        raise ValueError(f"sigmas must be finite, strictly decreasing and > 0 (only a trailing 0 is allowed); got "
                         f"{sig!r}")
    return sig


def _bucket(n: int) -> int:
    return int(math.ceil(n / _GRID_BUCKET) * _GRID_BUCKET)


# =================================================================================================== kernel
def semantic_basis(mixture: GaussianMixture) -> np.ndarray:
    """Orthonormal basis Q (d, r) of span{μ_k − μ̄}, r = rank ≥ 1 (a zero column when all means coincide)."""
    centred = mixture.means - mixture.weights @ mixture.means
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    keep = s > 1e-10 * max(1.0, float(s.max(initial=0.0)))
    if not np.any(keep):
        return np.zeros((mixture.d, 1))
    return vt[keep].T.copy()


def _post_and_proj(arr: MixtureArrays, q: jax.Array, a, s2, x):
    # scalar a, s2: C_k = a²Λ_k + σ² is (K, d), shared by the chunk (its log is not recomputed per sample)
    r, c = _residuals(arr, jnp.asarray(a), jnp.asarray(s2), x)
    log_p = jax.nn.log_softmax(arr.log_weights + _loglik_from(r, c), axis=-1)
    return log_p, x @ q


def _guided(arr, table, params, a, s2, sig, x, lab):
    """The guided denoiser (unit-data x̂_0 scale) at one evaluation: D_z + (w_eff − 1)(D_z − D_u), or D_u."""
    loglik, dens = loglik_and_denoisers(arr, jnp.asarray(a), jnp.asarray(s2), x)
    pu = jax.nn.softmax(arr.log_weights + loglik, axis=-1)
    Du = jnp.einsum("nk,nkd->nd", pu, dens)
    pz = jax.nn.softmax(table[lab] + loglik, axis=-1)
    Dz = jnp.einsum("nk,nkd->nd", pz, dens)
    inside = (sig > params["lo"]) & (sig < params["hi"])
    w_eff = jnp.where(inside, params["w"], 1.0)
    return jnp.where(params["uncond"], Du, Dz + (w_eff - 1.0) * (Dz - Du))


@functools.partial(jax.jit, static_argnames=("kind", "record"))
def _kernel(arr, q, x0, keys, labels, table, grid, params, start, stop, *, kind: str, record: bool):
    """Run steps start ≤ i < stop of a (padded) grid for every chunk. x0 (C, c, d), keys (C,), labels (C, c)."""
    TRACE_COUNT["kernel"] += 1
    L = grid["a"].shape[0]

    def den(x, j_a, j_s2, sig, lab):
        return _guided(arr, table, params, j_a, j_s2, sig, x, lab)

    def step(x, i, key, lab):
        a0, s20, a1, s21 = grid["a"][i], grid["s2"][i], grid["a"][i + 1], grid["s2"][i + 1]
        sig0, sig1 = grid["sigma"][i], grid["sigma"][i + 1]
        xi = jax.random.normal(key, x.shape, x.dtype)
        if kind == "sde":
            h = grid["t"][i] - grid["t"][i + 1]
            score = (a0 * den(x, a0, s20, sig0, lab) - x) / s20
            f, g2 = grid["f"][i], grid["g2"][i]
            return x + h * (-f * x + g2 * score) + jnp.sqrt(g2 * h) * xi
        if kind == "ode":
            dt = grid["t"][i + 1] - grid["t"][i]

            def vel(xx, aa, ss2, sg, f, g2):
                return f * xx - 0.5 * g2 * (aa * den(xx, aa, ss2, sg, lab) - xx) / ss2

            v0 = vel(x, a0, s20, sig0, grid["f"][i], grid["g2"][i])
            xe = x + dt * v0
            return lax.cond(
                s21 > 0,
                lambda: x + dt * 0.5 * (v0 + vel(xe, a1, s21, sig1, grid["f"][i + 1], grid["g2"][i + 1])),
                lambda: xe,
            )
        # EDM Algorithm 2 (frame a = 1, s2 = σ²)
        s_cur, s_next = jnp.sqrt(s20), jnp.sqrt(s21)
        s_hat = s_cur * (1.0 + grid["gamma"][i])
        x_hat = x + jnp.sqrt(jnp.maximum(s_hat**2 - s20, 0.0)) * params["s_noise"] * xi
        d0 = (x_hat - den(x_hat, 1.0, s_hat**2, s_hat, lab)) / s_hat
        x1 = x_hat + (s_next - s_hat) * d0

        def heun():
            d1 = (x1 - den(x1, 1.0, s21, s_next, lab)) / s_next
            return x_hat + (s_next - s_hat) * 0.5 * (d0 + d1)

        return lax.cond(s21 > 0, heun, lambda: x1)

    n_rec = q.shape[1]
    K = arr.means.shape[0]

    def chunk_fn(args):
        x, key, lab = args
        c = x.shape[0]

        def body(xc, i):
            active = (i >= start) & (i < stop)
            xn = lax.cond(active, lambda: step(xc, i, jax.random.fold_in(key, i), lab), lambda: xc)
            if record:
                nan_p = jnp.full((c, K), jnp.nan, x.dtype)
                nan_q = jnp.full((c, n_rec), jnp.nan, x.dtype)
                rec = lax.cond(active, lambda: _post_and_proj(arr, q, grid["a"][i + 1], grid["s2"][i + 1], xn),
                               lambda: (nan_p, nan_q))
            else:
                rec = None
            return xn, rec

        first = _post_and_proj(arr, q, grid["a"][start], grid["s2"][start], x) if record else None
        xf, recs = lax.scan(body, x, jnp.arange(L - 1))
        final = _post_and_proj(arr, q, grid["a"][stop], grid["s2"][stop], xf)
        return xf, final, first, recs

    return lax.map(chunk_fn, (x0, keys, labels))


@jax.jit
def _draw_states(arr, keys, z, a, s):
    """x = a (μ_z + U_z √λ_z ε₁) + s ε₂ per chunk: keys (C,), z (C, c) → (C, c, d)."""

    def one(args):
        key, zc = args
        k1, k2 = jax.random.split(key)
        d = arr.means.shape[1]
        e1 = jax.random.normal(k1, (zc.shape[0], d), arr.means.dtype)
        e2 = jax.random.normal(k2, (zc.shape[0], d), arr.means.dtype)
        scaled = jnp.sqrt(arr.evals[zc]) * e1
        if arr.basis is None:
            noise = scaled
        elif arr.basis.ndim == 2:
            noise = scaled @ arr.basis.T
        else:
            noise = jnp.einsum("nl,njl->nj", scaled, arr.basis[zc])
        return a * (arr.means[zc] + noise) + s * e2

    return lax.map(one, (keys, z))


# ================================================================================================ results
@dataclass
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


def _resolve_labels(label, n: int, M: int, weights_groups: np.ndarray, key) -> tuple[np.ndarray, bool]:
    """(labels (n,) int, unconditional?)."""
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


def _chunking(n: int, K: int, d: int, chunk: int | None) -> tuple[int, int]:
    if chunk is None:
        c = max(8, 2 ** int(math.floor(math.log2(max(1, _CHUNK_ELEMS // max(1, K * d))))))
        c = min(c, 2 ** int(math.ceil(math.log2(n))))
    else:
        c = _check_int(chunk, "chunk", 1)
    return c, int(math.ceil(n / c))


def _jgrid(g: Grid, L: int, dtype) -> dict:
    def pad(v, n):
        v = np.asarray(v, np.float64)
        return jnp.asarray(np.concatenate([v, np.repeat(v[-1:], n - v.size)]), dtype)

    return {"t": pad(g.t, L), "a": pad(g.a, L), "s2": pad(g.s2, L), "f": pad(g.f, L), "g2": pad(g.g2, L),
            "sigma": pad(np.where(np.isfinite(g.sigma), g.sigma, 1e300), L), "gamma": pad(g.gamma, L)}


@dataclass(frozen=True)
class _Setup:
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


def _setup(mixture, *, sampler, n_samples, n_steps, process, guidance, w, interval, partition, T, t_end,
           sigma_min, sigma_max, rho, S_churn, S_min, S_max, S_noise, chunk, sigmas=None) -> _Setup:
    mix = _check_mixture(mixture)
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}; got {sampler!r}")
    g_name, w, interval = check_guidance(guidance, w, interval)
    if n_steps is None:  # default: EDM's 64 steps, or as many as the custom grid has
        n_steps = 64 if sigmas is None else check_sigmas(sigmas, None).size
    n_steps = _check_int(n_steps, "n_steps", 2)
    n = _check_int(n_samples, "n_samples", 1)
    part = None if partition is None else check_partition(partition, mix.K)
    S_noise = _check_real(S_noise, "S_noise", minimum=0.0)
    if sampler != "edm" and process is not None and not isinstance(process, Process):
        raise ValueError(f"process must be a gmmtheory process; got {process!r}")
    grid = make_grid(sampler, n_steps, process=process, T=T, t_end=t_end, sigma_min=sigma_min,
                     sigma_max=sigma_max, rho=rho, S_churn=S_churn, S_min=S_min, S_max=S_max, sigmas=sigmas)
    if mix.singular and grid.s2[-1] <= 0:
        raise ValueError("this mixture has singular covariances: the grid must end at σ > 0 (set t_end > 0)")
    c, C = _chunking(n, mix.K, mix.d, chunk)
    return _Setup(mix, grid, sampler, g_name, w, interval, part, n, c, C, S_noise)


def _run(st: _Setup, x0: jax.Array, keys, labels: np.ndarray, uncond: bool, start: int, stop: int, record: bool,
         keep_x: bool, extra: dict | None = None) -> Trajectories:
    mix, g = st.mixture, st.grid
    arr = mixture_arrays(mix)
    dtype = arr.means.dtype
    L = _bucket(g.t.size)
    q = semantic_basis(mix)
    table = jnp.asarray(_group_log_priors(mix, st.partition), dtype)
    lab = np.zeros(st.n_chunks * st.chunk, np.int32)
    lab[: st.n] = labels
    params = {"w": jnp.asarray(st.w, dtype), "lo": jnp.asarray(st.interval[0], dtype),
              "hi": jnp.asarray(min(st.interval[1], 1e300), dtype), "uncond": jnp.asarray(bool(uncond)),
              "s_noise": jnp.asarray(st.S_noise, dtype)}
    xf, final, first, recs = _kernel(arr, jnp.asarray(q, dtype), x0, keys, jnp.asarray(lab.reshape(st.n_chunks, -1)),
                                     table, _jgrid(g, L, dtype), params, jnp.int32(start), jnp.int32(stop),
                                     kind=st.sampler, record=record)
    n = st.n
    flat = lambda v: np.asarray(v).reshape((-1,) + v.shape[2:])[:n]
    log_post = proj = None
    if record:
        lp = np.full((n, g.t.size, mix.K), np.nan)
        pj = np.full((n, g.t.size, q.shape[1]), np.nan)
        # recs: (C, L−1, c, ·) at grid points 1..L−1
        rp = np.moveaxis(np.asarray(recs[0]), 1, 2).reshape(-1, L - 1, mix.K)[:n]
        rq = np.moveaxis(np.asarray(recs[1]), 1, 2).reshape(-1, L - 1, q.shape[1])[:n]
        lp[:, 1:] = rp[:, : g.t.size - 1]
        pj[:, 1:] = rq[:, : g.t.size - 1]
        lp[:, start] = flat(first[0])
        pj[:, start] = flat(first[1])
        lp[:, :start] = np.nan
        pj[:, :start] = np.nan
        lp[:, stop + 1:] = np.nan
        pj[:, stop + 1:] = np.nan
        log_post, proj = lp, pj
    return Trajectories(
        grid=g, sampler=st.sampler, guidance=st.guidance, w=st.w, interval=st.interval,
        labels=np.where(uncond, -1, labels).astype(np.int64), partition=st.partition,
        final_log_post=flat(final[0]), final_proj=flat(final[1]), basis=q, log_post=log_post, proj=proj,
        x=flat(xf) if keep_x else None, start=start, stop=stop, extra=extra or {},
    )


def _init_states(st: _Setup, key, labels: np.ndarray, uncond: bool, init: str, i0: int = 0):
    """Exact (or noise) initial states at grid point i0, shape (C, c, d)."""
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
    if init == "marginal":
        z = np.asarray(jax.random.choice(kz, mix.K, shape=(N,), p=jnp.asarray(mix.weights)))
    else:
        table = _group_log_priors(mix, st.partition)  # (M, K)
        lab = np.zeros(N, np.int64)
        lab[: st.n] = labels
        logits = jnp.asarray(table[lab])
        z = np.asarray(jax.random.categorical(kz, logits, axis=-1))
    keys = jax.random.split(kx, st.n_chunks)
    x = _draw_states(arr, keys, jnp.asarray(z.reshape(st.n_chunks, st.chunk)), a, s)
    return x, z[: st.n]


@in_float64
def simulate(
    mixture: GaussianMixture,
    *,
    sampler: str = "edm",
    n_samples: int = 1024,
    n_steps: int | None = None,
    key: object = None,
    label: object = None,
    guidance: str = "none",
    w: float = 1.0,
    interval: object = None,
    partition: Partition | None = None,
    process: Process | None = None,
    T: float | None = None,
    t_end: float = 0.0,
    init: str = "auto",
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    S_churn: float = 40.0,
    S_min: float = 0.05,
    S_max: float = 50.0,
    S_noise: float = 1.0,
    record: bool = True,
    keep_x: bool = False,
    chunk: int | None = None,
    sigmas: object = None,
) -> Trajectories:
    """Run ``n_samples`` reverse trajectories of ``mixture`` with exact scores (see the module docstring).

    Args:
        sampler: "sde" (Euler–Maruyama), "ode" (Heun, probability flow) or "edm" (Karras et al. Algorithm 2).
        n_steps: number of steps N (grid of N + 1 points; default 64, or the length of ``sigmas``). key: PRNG key
            or int seed (default 0).
        label: None, int, integer array (n,) or "prior" (group labels when ``partition`` is given).
        guidance, w, interval: the guidance rule ("none", "cfg" with scale w, "interval" with (σ_lo, σ_hi)).
        process, T, t_end: process and time range of "sde"/"ode" (default OU, T = 10, t_end = 0).
        init: "auto", "marginal", "conditional" or "noise". record: keep posteriors along the way.
        keep_x: return the final states (n, d). chunk: samples per chunk (default: bounded memory).
        sigmas: "edm" only: a custom decreasing σ grid of ``n_steps`` values (e.g. ``control.entropy_schedule``)
            instead of EDM's ρ-grid; σ_N = 0 is appended. A grid ending in 0 (diffusers, k-diffusion,
            ``bridge.sampling.edm_sigmas``) is accepted: the 0 is the last step, to the denoised output, and
            ``n_steps`` counts the nonzero values.
    """
    st = _setup(mixture, sampler=sampler, n_samples=n_samples, n_steps=n_steps, process=process, guidance=guidance,
                w=w, interval=interval, partition=partition, T=T, t_end=t_end, sigma_min=sigma_min,
                sigma_max=sigma_max, rho=rho, S_churn=S_churn, S_min=S_min, S_max=S_max, S_noise=S_noise,
                chunk=chunk, sigmas=sigmas)
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}")
    prng = check_key(key)
    M = st.mixture.K if st.partition is None else st.partition.M
    gw = (st.partition or Partition.identity(st.mixture.K)).group_weights(st.mixture.weights)
    labels, uncond = _resolve_labels(label, st.n, M, gw, prng)
    if uncond and st.guidance != "none":
        raise ValueError(f"guidance={st.guidance!r} needs a label (an int, an array or 'prior')")
    if uncond and init == "conditional":
        raise ValueError("init='conditional' needs a label")
    k_init, k_run = jax.random.split(prng)
    x0, _ = _init_states(st, k_init, labels, uncond, init)
    keys = jax.random.split(k_run, st.n_chunks)
    return _run(st, x0, keys, labels, uncond, 0, st.grid.n_steps, record, keep_x)


def reverse_sde(mixture: GaussianMixture, **kwargs) -> Trajectories:
    """Euler–Maruyama on the reverse SDE (``simulate(sampler="sde", ...)``; default OU, T = 10, 1000 steps)."""
    kwargs.setdefault("n_steps", 1000)
    return simulate(mixture, sampler="sde", **kwargs)


def probability_flow(mixture: GaussianMixture, **kwargs) -> Trajectories:
    """Heun on the probability-flow ODE (``simulate(sampler="ode", ...)``)."""
    kwargs.setdefault("n_steps", 1000)
    return simulate(mixture, sampler="ode", **kwargs)


def edm_sampler(mixture: GaussianMixture, **kwargs) -> Trajectories:
    """EDM's stochastic sampler (``simulate(sampler="edm", ...)``; 64 steps, S_churn 40 by default)."""
    return simulate(mixture, sampler="edm", **kwargs)


# ============================================================================================ measurements
def _group_log_post(traj: Trajectories, lp: np.ndarray, partition: Partition | None) -> np.ndarray:
    part = traj.partition if partition is None else partition
    if part is None:
        return lp
    mem = part.membership() > 0  # (K, M)
    with np.errstate(invalid="ignore"):
        return logsumexp(np.where(mem, lp[..., :, None], -np.inf), axis=-2)


def _mean_se(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.sum(np.isfinite(v), axis=0)
    m = np.nanmean(v, axis=0)
    sd = np.nanstd(v, axis=0, ddof=1) if v.shape[0] > 1 else np.zeros_like(m)
    return m, sd / np.sqrt(np.maximum(n, 1))


def _need_record(traj: Trajectories) -> np.ndarray:
    if traj.log_post is None:
        raise ValueError("this measurement needs record=True")
    return traj.log_post


def entropy_profile(traj: Trajectories, partition: Partition | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per grid point: mean and stderr of −Σ_B p_t(B | x_t) log p_t(B | x_t) (unguided: estimates H[Z_P | X_t])."""
    lp = _group_log_post(traj, _need_record(traj), partition)
    p = np.exp(lp)
    h = -np.sum(np.where(p > 0, p * lp, 0.0), axis=-1)
    h = np.where(np.all(np.isfinite(lp), axis=-1), h, np.nan)
    return _mean_se(h)


def cross_entropy_profile(traj: Trajectories) -> tuple[np.ndarray, np.ndarray]:
    """Per grid point: mean and stderr of −log p_t(z | x_t) for each sample's target z (guided runs)."""
    if np.any(traj.labels < 0):
        raise ValueError("cross_entropy_profile needs labelled runs; use entropy_profile for unconditional ones")
    lp = _group_log_post(traj, _need_record(traj), None)
    ce = -np.take_along_axis(lp, traj.labels[:, None, None], axis=-1)[..., 0]
    return _mean_se(ce)


def profile_rate(sigma: np.ndarray, value: np.ndarray, wrt: str = "t_ou") -> tuple[np.ndarray, np.ndarray]:
    """d value / dτ on the grid (τ = OU time ½ log(1+σ²), or log σ), by central differences; points with σ = 0
    are dropped. Returns (τ, rate), τ increasing."""
    sigma, value = np.asarray(sigma, float), np.asarray(value, float)
    ok = (sigma > 0) & np.isfinite(value)
    s, v = sigma[ok], value[ok]
    tau = 0.5 * np.log1p(s**2) if wrt == "t_ou" else np.log(s)
    if wrt not in ("t_ou", "log_sigma"):
        raise ValueError(f"wrt must be 't_ou' or 'log_sigma'; got {wrt!r}")
    order = np.argsort(tau)
    tau, v = tau[order], v[order]
    return tau, np.gradient(v, tau)


def commitment_times(traj: Trajectories, partition: Partition | None = None) -> dict:
    """Per sample: the VE σ (and OU time) of the last crossing of ½, in generation order, by the posterior of the
    final class (argmax of the final posterior); interpolated in log σ. nan when the final class's posterior ends
    below ½ (undecided). Returns {"sigma", "t_ou", "final_class"}."""
    lp = _group_log_post(traj, _need_record(traj), partition)
    final = np.argmax(_group_log_post(traj, traj.final_log_post, partition), axis=-1)
    p = np.exp(np.take_along_axis(lp, final[:, None, None], axis=-1)[..., 0])  # (n, L)
    sig = traj.grid.sigma
    n, L = p.shape
    out = np.full(n, np.nan)
    valid = np.isfinite(p)
    below = (p <= 0.5) & valid
    above = (p > 0.5) & valid
    for i in range(n):
        idx = np.flatnonzero(below[i, :-1] & above[i, 1:])
        if not above[i][valid[i]][-1:].all() or valid[i].sum() == 0:
            continue
        if idx.size == 0:
            first = np.flatnonzero(valid[i])[0]
            out[i] = sig[first]
            continue
        j = int(idx[-1])
        s0, s1 = sig[j], sig[j + 1]
        p0, p1 = p[i, j], p[i, j + 1]
        frac = (0.5 - p0) / (p1 - p0) if p1 != p0 else 0.0
        if s1 > 0:
            out[i] = float(np.exp(np.log(s0) + frac * (np.log(s1) - np.log(s0))))
        else:
            out[i] = s0 + frac * (s1 - s0)
    return {"sigma": out, "t_ou": 0.5 * np.log1p(out**2), "final_class": final}


def class_frequencies(traj: Trajectories, partition: Partition | None = None) -> dict:
    """Final class (group) frequencies: "soft" = mean p_end(k | x_end) (unbiased for the latent class law), its
    "stderr", and "hard" = argmax histogram."""
    lp = _group_log_post(traj, traj.final_log_post, partition)
    p = np.exp(lp)
    soft, se = _mean_se(p)
    hard = np.bincount(np.argmax(lp, axis=-1), minlength=p.shape[-1]) / p.shape[0]
    return {"soft": soft, "stderr": se, "hard": hard}


def _target_projection(mixture: GaussianMixture, basis: np.ndarray, z: int) -> tuple[np.ndarray, float, float, float]:
    """Unit class direction u_z in basis coordinates, ⟨μ̄, u_z⟩, |μ_z − μ̄| and the within-class sd along u_z."""
    mbar = mixture.weights @ mixture.means
    diff = mixture.means[z] - mbar
    nrm = float(np.linalg.norm(diff))
    u = diff / nrm if nrm > 0 else np.zeros_like(diff)
    ub = basis.T @ u
    evals, U = mixture.spectrum
    if U is None:
        var = float(np.sum(u**2 * evals[z]))
    elif U.ndim == 2:
        var = float(np.sum((U.T @ u) ** 2 * evals[z]))
    else:
        var = float(np.sum((U[z].T @ u) ** 2 * evals[z]))
    return ub, float(mbar @ u), nrm, math.sqrt(max(var, 1e-300))


def overshoot(traj: Trajectories, mixture: GaussianMixture) -> dict:
    """Final projection on the target class direction u_z = (μ_z − μ̄)/|μ_z − μ̄| beyond the class mean, in units of
    the within-class sd along u_z: mean and stderr over samples of ⟨x_end − μ_z, u_z⟩/sd_z (class-level labels)."""
    if np.any(traj.labels < 0) or traj.partition is not None:
        raise ValueError("overshoot needs class-level labelled runs")
    vals = np.empty(traj.n)
    for z in np.unique(traj.labels):
        sel = traj.labels == z
        ub, mb, nrm, sd = _target_projection(mixture, traj.basis, int(z))
        vals[sel] = (traj.final_proj[sel] @ ub - mb - nrm) / sd
    m, se = _mean_se(vals)
    return {"mean": float(m), "stderr": float(se), "values": vals}


def within_class_variance(traj: Trajectories, mixture: GaussianMixture) -> dict:
    """Diversity: variance of the final samples within their (hard) final class, along the semantic subspace
    (``signal_ratio``: Σ_k π̂_k tr(Qᵀ Cov̂_k Q)/tr(Qᵀ Σ_k Q)) and, when x was kept, over all d coordinates
    (``total_ratio``: tr Cov̂_k / tr Σ_k). Ratios < 1 mean lost diversity."""
    cls = np.argmax(traj.final_log_post, axis=-1)
    Q = traj.basis
    sig_r, tot_r, wts = [], [], []
    evals, U = mixture.spectrum
    covs = None
    for k in range(mixture.K):
        sel = cls == k
        if sel.sum() < 3:
            continue
        pj = traj.final_proj[sel]
        emp = float(np.sum(np.var(pj, axis=0, ddof=1)))
        if U is None:
            th = float(np.sum((Q**2) * evals[k][:, None]))
        else:
            if covs is None:
                covs = mixture.component_covariances()
            th = float(np.trace(Q.T @ covs[k] @ Q))
        sig_r.append(emp / th if th > 0 else np.nan)
        if traj.x is not None:
            tot_r.append(float(np.sum(np.var(traj.x[sel], axis=0, ddof=1))) / float(np.sum(evals[k])))
        wts.append(sel.mean())
    wts = np.asarray(wts) / max(np.sum(wts), 1e-300)
    return {"signal_ratio": float(np.dot(wts, sig_r)) if sig_r else float("nan"),
            "total_ratio": float(np.dot(wts, tot_r)) if tot_r else float("nan")}


# ====================================================================================== clones and U-turns
@dataclass
class AgreementResult:
    """Clone agreement or U-turn retention at several times (OU time at equal SNR ``t`` and VE σ ``sigma``).

    ``value``/``stderr``: Monte Carlo estimate (soft, Rao–Blackwellised); ``hard``: argmax-class version;
    ``phi_exact``: ``gt.collision_probability`` at t; ``phi_split`` (clones only): the collision functional on the
    sampler's own states at the split (its deviation from φ is the discretisation error); ``z``: (value − φ)/stderr.
    """

    kind: str
    t: np.ndarray
    sigma: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    hard: np.ndarray
    phi_exact: np.ndarray
    phi_split: np.ndarray
    phi_split_stderr: np.ndarray
    n: int

    @property
    def z(self) -> np.ndarray:
        return (self.value - self.phi_exact) / np.maximum(self.stderr, 1e-300)


def _split_indices(grid: Grid, times: object, t_ou: bool) -> np.ndarray:
    tv = np.atleast_1d(np.asarray(times, np.float64))
    if tv.ndim != 1 or tv.size == 0 or not np.all(np.isfinite(tv)):
        raise ValueError(f"times must be a non-empty 1-D array of finite times; got {times!r}")
    ref = grid.t_ou if t_ou else grid.t
    lo, hi = float(np.min(ref[:-1])), float(np.max(ref))
    if np.any(tv < lo) or np.any(tv > hi):
        raise ValueError(f"times must lie in [{lo:g}, {hi:g}] (inside the grid, before its last point); got {times!r}")
    idx = np.array([int(np.argmin(np.abs(ref[:-1] - v))) for v in tv])
    return idx


def _exact_phi(mixture: GaussianMixture, t_ou: np.ndarray, partition) -> np.ndarray:
    return np.asarray(collision_probability(mixture, OU(), t_ou, partition=partition).value, np.float64)


def _unguided_setup(mixture, sampler, n, n_steps, process, T, chunk, kwargs: dict) -> _Setup:
    """The sampler set-up shared by clones and U-turns: no guidance; EDM grid options from ``kwargs``."""
    defaults = dict(t_end=0.0, sigma_min=0.002, sigma_max=80.0, rho=7.0, S_churn=40.0, S_min=0.05, S_max=50.0,
                    S_noise=1.0)
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise ValueError(f"unknown arguments: {unknown}")
    opts = {**defaults, **kwargs}
    return _setup(mixture, sampler=sampler, n_samples=n, n_steps=n_steps, process=process, guidance="none", w=1.0,
                  interval=None, partition=None, T=T, chunk=chunk, **opts)


@in_float64
def clones(
    mixture: GaussianMixture,
    times: object,
    *,
    n_pairs: int = 1024,
    sampler: str = "sde",
    n_steps: int = 1000,
    process: Process | None = None,
    T: float | None = None,
    key: object = None,
    partition: Partition | None = None,
    chunk: int | None = None,
    **sampler_kwargs,
) -> AgreementResult:
    """Biroli et al.'s clones: split reverse runs at each time (snapped to the grid; OU time at equal SNR) into two
    independent continuations; agreement vs exact φ(t). One base run is continued through the split times."""
    st = _unguided_setup(mixture, sampler, n_pairs, n_steps, process, T, chunk, sampler_kwargs)
    part = None if partition is None else check_partition(partition, st.mixture.K)
    idx = _split_indices(st.grid, times, t_ou=True)
    order = np.argsort(idx)
    prng = check_key(key)
    k_init, k_base, k_a, k_b = jax.random.split(prng, 4)
    labels = np.zeros(st.n, np.int32)
    x, _ = _init_states(st, k_init, labels, True, "marginal")
    keys_base = jax.random.split(k_base, st.n_chunks)
    N = st.grid.n_steps
    res = {k: np.empty(idx.size) for k in ("v", "se", "hard", "ps", "pse")}
    cur = 0
    arr_keys = lambda k, j: jax.random.split(jax.random.fold_in(k, j), st.n_chunks)
    for j in order:
        i = int(idx[j])
        base = _run(st, x, keys_base, labels, True, cur, i, False, True)
        x = _pad_states(base.x, st)
        cur = i
        lp_split = _group_log_post(base, base.final_log_post, part)
        coll = np.sum(np.exp(2 * lp_split), axis=-1)
        res["ps"][j], res["pse"][j] = _mean_se(coll)
        a = _run(st, x, arr_keys(k_a, i), labels, True, i, N, False, False)
        b = _run(st, x, arr_keys(k_b, i), labels, True, i, N, False, False)
        la, lb = _group_log_post(a, a.final_log_post, part), _group_log_post(b, b.final_log_post, part)
        agree = np.sum(np.exp(la + lb), axis=-1)
        res["v"][j], res["se"][j] = _mean_se(agree)
        res["hard"][j] = float(np.mean(np.argmax(la, -1) == np.argmax(lb, -1)))
    t_ou = st.grid.t_ou[idx]
    return AgreementResult("clones", t_ou, st.grid.sigma[idx], res["v"], res["se"], res["hard"],
                           _exact_phi(st.mixture, t_ou, part), res["ps"], res["pse"], st.n)


def _pad_states(x: np.ndarray, st: _Setup) -> jax.Array:
    full = np.zeros((st.n_chunks * st.chunk, x.shape[1]), x.dtype)
    full[: x.shape[0]] = x
    return jnp.asarray(full.reshape(st.n_chunks, st.chunk, -1))


@in_float64
def u_turns(
    mixture: GaussianMixture,
    times: object,
    *,
    n_samples: int = 1024,
    sampler: str = "sde",
    n_steps: int = 1000,
    process: Process | None = None,
    T: float | None = None,
    key: object = None,
    partition: Partition | None = None,
    chunk: int | None = None,
    **sampler_kwargs,
) -> AgreementResult:
    """U-turns: (x_0, z) ~ p_0, noised exactly to t (snapped to the grid; OU time at equal SNR), regenerated from t;
    class retention E p_end(z | x'_end) vs exact φ(t)."""
    st = _unguided_setup(mixture, sampler, n_samples, n_steps, process, T, chunk, sampler_kwargs)
    part = None if partition is None else check_partition(partition, st.mixture.K)
    idx = _split_indices(st.grid, times, t_ou=True)
    prng = check_key(key)
    labels = np.zeros(st.n, np.int32)
    N = st.grid.n_steps
    out = {k: np.empty(idx.size) for k in ("v", "se", "hard")}
    for j, i in enumerate(idx):
        kj = jax.random.fold_in(prng, int(i))
        k_init, k_run = jax.random.split(kj)
        x, z = _init_states(st, k_init, labels, True, "marginal", i0=int(i))
        zg = z if part is None else np.argmax(part.membership()[z], axis=-1)
        tr = _run(st, x, jax.random.split(k_run, st.n_chunks), labels, True, int(i), N, False, False)
        lp = _group_log_post(tr, tr.final_log_post, part)
        keep = np.exp(np.take_along_axis(lp, zg[:, None], axis=-1)[:, 0])
        out["v"][j], out["se"][j] = _mean_se(keep)
        out["hard"][j] = float(np.mean(np.argmax(lp, -1) == zg))
    t_ou = st.grid.t_ou[idx]
    nan = np.full(idx.size, np.nan)
    return AgreementResult("u_turns", t_ou, st.grid.sigma[idx], out["v"], out["se"], out["hard"],
                           _exact_phi(st.mixture, t_ou, part), nan, nan, st.n)


def speciation_experiment(
    dims: object = (256, 1024, 4096, 16384),
    *,
    mu: float = 1.0,
    offsets: object = (-1.0, -0.5, 0.0, 0.5, 1.0),
    n_pairs: int = 512,
    n_steps: int = 1000,
    T: float = 10.0,
    key: object = 0,
) -> list[dict]:
    """Biroli et al.'s speciation experiment: two Gaussians ±m (|m|² = d μ̃², unit variance), reverse OU SDE with
    ``n_steps`` Euler–Maruyama steps from T = 10; clones and U-turns at OU times t_S + offset (t_S = ½ log Λ,
    Λ = 1 + |m|²) against exact φ(t). One row per (d, t)."""
    from gmmtheory.landmarks import speciation_time
    from gmmtheory.mixture import two_gaussians

    rows = []
    prng = check_key(key)
    for d in np.atleast_1d(np.asarray(dims)).astype(int):
        mix = two_gaussians(int(d), mu)
        t_s = speciation_time(mix)
        times = t_s + np.asarray(offsets, np.float64)
        kd = jax.random.fold_in(prng, int(d))
        c = clones(mix, times, n_pairs=n_pairs, n_steps=n_steps, T=T, key=jax.random.fold_in(kd, 1))
        u = u_turns(mix, times, n_samples=n_pairs, n_steps=n_steps, T=T, key=jax.random.fold_in(kd, 2))
        for j in range(times.size):
            rows.append({
                "d": int(d), "t_S": float(t_s), "t": float(c.t[j]), "t_rel": float(c.t[j] - t_s), "phi_exact": float(c.phi_exact[j]),
                "clone": float(c.value[j]), "clone_se": float(c.stderr[j]), "clone_z": float(c.z[j]),
                "clone_hard": float(c.hard[j]), "phi_split": float(c.phi_split[j]),
                "phi_split_se": float(c.phi_split_stderr[j]),
                "uturn": float(u.value[j]), "uturn_se": float(u.stderr[j]), "uturn_z": float(u.z[j]),
                "uturn_hard": float(u.hard[j]),
            })
    return rows
