"""Reverse-time grids of the exact-score samplers, and the validation of sampler and guidance settings.

A ``Grid`` holds N + 1 points of decreasing noise in the frame the sampler integrates in:

- ``"edm"``: Karras et al.'s ρ-grid σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, i < N, σ_N = 0
  (σ_min 0.002, σ_max 80, ρ 7; ``schedules.edm_sigma_grid``) or a custom decreasing grid (``check_sigmas``), in the
  unit-data VE frame x̃ = x/a, σ̃ = σ/a (a = 1, s² = σ²), with the churn γ_i = min(S_churn/N, √2 − 1) for
  σ_i ∈ [S_min, S_max] (0 elsewhere);
- ``"sde"``/``"ode"``: a uniform grid in native time from T down to t_end (default OU: T = 10, t_end = 0), with the
  process's signal scale a(t), noise variance σ²(t), drift f(t) and squared diffusion g²(t).

``Grid.sigma`` is the VE-equivalent σ/a = e^{−λ/2} (the same in every process) and ``Grid.t_ou`` the OU time at
equal SNR, ½ log(1 + σ²). Guidance rules are validated here too (``check_guidance``, ``check_interval``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from gmmtheory._checks import check_choice, check_count, check_finite, check_nonnegative, check_positive
from gmmtheory.processes import OU, Process, check_process, time_factors
from gmmtheory.schedules import edm_sigma_grid

SAMPLERS = ("sde", "ode", "edm")
GUIDANCE = ("none", "cfg", "interval")
INITS = ("auto", "marginal", "conditional", "noise")
GRID_BUCKET = 32  # grids are padded to a multiple of this many points (grids of similar length share a compilation)


# ================================================================================================ validation
def check_guidance(guidance: object, w: object, interval: object) -> tuple[str, float, tuple[float, float]]:
    """Validate a guidance rule; returns (name, w, (σ_lo, σ_hi)) with (0, inf) for plain CFG."""
    guidance = check_choice("guidance", guidance, GUIDANCE)
    w = check_nonnegative("w", w)
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


# ===================================================================================================== grids
@dataclass(frozen=True, repr=False)
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

    def as_dict(self) -> dict:
        """The grid's arrays by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __repr__(self) -> str:
        return f"Grid(n_steps={self.n_steps}, sigma {self.sigma[0]:.4g} → {self.sigma[-1]:.4g})"


def default_T(process: Process) -> float:
    """The default start time of "sde"/"ode": 10 for OU, else the time of VE σ = 80 (capped at ``process.t_max``)."""
    if isinstance(process, OU):
        return 10.0
    t = float(np.asarray(process.t_from_sigma_ve(80.0)))
    return float(min(t, process.t_max))


def make_grid(
    sampler: str,
    n_steps: int,
    *,
    process: Process | str | None = None,
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

    ``process`` ("sde"/"ode"): a ``Process`` or its name (``processes.get_process``); default OU.

    ``sigmas`` ("edm" only): a custom decreasing grid σ_0 > … > σ_{N−1} > 0 of N = ``n_steps`` values (VE σ of
    unit-scale data) used instead of EDM's ρ-grid (σ_min, σ_max, ρ are then ignored); σ_N = 0 is appended (a grid
    given with its trailing 0 means the same, see ``check_sigmas``)."""
    sampler = check_choice("sampler", sampler, SAMPLERS)
    n = check_count("n_steps", n_steps, 2)
    if sigmas is not None and sampler != "edm":
        raise ValueError(f"sigmas (a custom σ grid) needs sampler='edm'; got sampler={sampler!r}")
    if sampler == "edm":
        sig = np.append(edm_sigma_grid(n, sigma_min, sigma_max, rho) if sigmas is None else check_sigmas(sigmas, n),
                        0.0)
        S_churn = check_nonnegative("S_churn", S_churn)
        S_min = check_nonnegative("S_min", S_min)
        S_max = float(S_max)
        g = min(S_churn / n, math.sqrt(2.0) - 1.0)
        gamma = np.where((sig[:-1] >= S_min) & (sig[:-1] <= S_max), g, 0.0)
        ones = np.ones_like(sig)
        return Grid(sig, ones, sig**2, np.zeros_like(sig), np.zeros_like(sig), sig, gamma)
    process = OU() if process is None else check_process(process)
    T = default_T(process) if T is None else check_positive("T", T)
    t_end = check_finite("t_end", t_end)
    if t_end < process.t_min:
        raise ValueError(f"t_end must be ≥ {process.t_min:g}; got {t_end!r}")
    if not (T > t_end) or T > process.t_max:
        raise ValueError(f"need t_end < T ≤ {process.t_max:g} for {process!r}; got T={T!r}, t_end={t_end!r}")
    t = np.linspace(T, t_end, n + 1)
    factors = time_factors(process, t)
    a, s, f, g2 = factors["a"], np.sqrt(factors["s2"]), factors["f"], factors["g2"]
    if not np.all(np.isfinite(f[:-1])) or not np.all(np.isfinite(g2[:-1])):
        raise ValueError(f"drift/diffusion of {process!r} are not finite on the grid; choose T and t_end inside")
    f, g2 = np.nan_to_num(f), np.nan_to_num(g2)
    return Grid(t, a, s**2, f, g2, s / a, np.zeros(n))
