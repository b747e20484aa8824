"""Noise schedules and time grids: EDM's ρ-grid of noise levels, and the maps between a process's time t, its
log-SNR λ(t) = log(a_t²/σ_t²) and the equal-SNR time of another process.

    EDM ρ-grid:      σ_i = (σ_max^{1/ρ} + i/(N−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,  i = 0..N−1 (no trailing 0)
    OU time of λ:    t_OU(λ) = ½ log(1 + e^{−λ})        (OU: λ(t) = −log(e^{2t} − 1))
    default grid:    t = t(λ) at λ = 10, 9, …, −10 (``DEFAULT_LOG_SNR``) inside the process's time domain

H[Z | X_t] depends on t only through λ(t), so every process is mapped to any other through λ; the EDM noise level
is σ = e^{−λ/2} whatever the process.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from gmmtheory._checks import check_count, check_finite, check_positive
from gmmtheory._precision import precision_scope
from gmmtheory._types import Grid, GridOut, NpValues, TimeGrid, Times
from gmmtheory.processes import Process, check_process

__all__ = [
    "DEFAULT_LOG_SNR",
    "default_times",
    "edm_sigma_grid",
    "log_snr_range",
    "log_snr_to_ou_time",
    "log_snr_to_time",
    "ou_time_to_time",
    "time_grid",
    "time_to_log_snr",
]

DEFAULT_LOG_SNR = (10.0, -10.0, 21)  # λ from +10 (nearly clean) to −10 (nearly pure noise), step 1


def edm_sigma_grid(n_steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> Grid:
    """EDM's sampling grid σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, i = 0..N−1 (decreasing).

    N = ``n_steps`` ≥ 2 values from σ_max down to σ_min, without a trailing 0 (a sampler appends σ_N = 0)."""
    n_steps = check_count("n_steps", n_steps, 2)
    sigma_min, sigma_max = check_finite("sigma_min", sigma_min), check_finite("sigma_max", sigma_max)
    if not (0 < sigma_min < sigma_max):
        raise ValueError(f"need 0 < sigma_min < sigma_max < inf; got {sigma_min!r}, {sigma_max!r}")
    rho = check_positive("rho", rho)
    i = np.arange(n_steps) / (n_steps - 1)
    return (sigma_max ** (1 / rho) + i * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho


def log_snr_range(process: Process | str) -> tuple[float, float]:
    """The open interval of log-SNRs λ that ``process`` reaches inside its time domain (−inf/inf where unbounded)."""
    process = check_process(process)
    with precision_scope("float64"):
        ends = []
        for t in (process.t_max, process.t_min):
            if not np.isfinite(t):
                ends.append(-np.inf)
                continue
            with np.errstate(all="ignore"):
                lam = float(process.log_snr(jnp.asarray(float(t))))
            ends.append(lam if np.isfinite(lam) else (-np.inf if t == process.t_max else np.inf))
    lo, hi = ends
    return (min(lo, hi), max(lo, hi))


def time_to_log_snr(process: Process | str, t: TimeGrid) -> Grid:
    """λ(t) = log(a_t²/σ_t²) at the times ``t`` (scalar or array, not validated) as a float64 1-D array (+inf where
    σ_t = 0)."""
    process = check_process(process)
    with precision_scope("float64"), np.errstate(divide="ignore"):
        return np.asarray(process.log_snr(jnp.asarray(np.atleast_1d(t), dtype=jnp.float64)), np.float64)


def log_snr_to_time(process: Process | str, lam: float) -> float:
    """The time of ``process`` with log-SNR ``lam`` (float64), nan when ``lam`` is not finite or lies outside the
    open range ``log_snr_range(process)`` the process reaches."""
    process = check_process(process)
    if not np.isfinite(lam):
        return float("nan")
    lo, hi = log_snr_range(process)
    if not (lo < lam < hi):
        return float("nan")
    with precision_scope("float64"):
        return float(process.t_from_log_snr(jnp.asarray(lam)))


def log_snr_to_ou_time(lam: Times) -> NpValues:
    """OU time of log-SNR λ: t = ½ log(1 + e^{−λ}) (float64, elementwise)."""
    return 0.5 * np.logaddexp(0.0, -np.asarray(lam, dtype=np.float64))


def ou_time_to_time(process: Process | str, t_ou: float) -> float:
    """OU time → the equal-SNR time of ``process`` (λ = −log(e^{2 t_OU} − 1)); nan when ``t_ou`` is not finite or
    ≤ 0, or the SNR lies outside the process's domain."""
    if not np.isfinite(t_ou) or t_ou <= 0:
        return float("nan")
    lam = float(-np.log(np.expm1(2.0 * t_ou)))
    return log_snr_to_time(process, lam)


def default_times(process: Process | str) -> Grid:
    """The default time grid of ``process``: t = process.t_from_log_snr(λ) at λ = 10, 9, …, −10 (``DEFAULT_LOG_SNR``),
    increasing; times outside [t_min, t_max] or repeated (a discrete schedule clips λ to its table) are dropped."""
    process = check_process(process)
    lam = np.linspace(*DEFAULT_LOG_SNR[:2], DEFAULT_LOG_SNR[2])
    with precision_scope("float64"):
        t = np.asarray(process.t_from_log_snr(jnp.asarray(lam, dtype=jnp.float64)), np.float64)
    t = t[np.isfinite(t) & (t >= process.t_min) & (t <= process.t_max)]
    return np.unique(t)


def time_grid(process: Process | str, t: TimeGrid | None = None, name: str = "t") -> GridOut:
    """``t`` checked against the time domain of ``process`` (``Process.check_times``, errors naming ``name``), or
    ``default_times(process)`` when ``t`` is None."""
    process = check_process(process)
    return process.check_times(default_times(process) if t is None else t, name)

