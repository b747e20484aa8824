"""Entropy landmarks of one curve H[Z_P | X_t]: half entropy, 10–90 % window, rate peak and its FWHM.

In each time variable τ ∈ {t (native), log σ, λ} (``VARIABLES``), where σ = σ(t)/a(t) = e^{−λ/2} is the EDM noise
level (the same in every process at equal SNR, so every ``*_log_sigma`` field is −½ the matching ``*_log_snr``
one, widths ½ of it):

- ``half_τ``: H = ½ H[Z_P]; ``h10_τ``/``h90_τ``: H = 10 % / 90 % of H[Z_P], and the 10–90 % entropy window
  ``window_τ`` = |h90_τ − h10_τ|. These are the same SNR in every variable.
- ``peak_τ``: argmax of the rate |dH/dτ| = |dH/dλ| / |dτ/dλ|; it *depends on τ*. ``peak_rate_τ`` is |dH/dτ| there.
- ``fwhm_τ``: full width at half maximum of |dH/dτ| in τ, between ``fwhm_τ_lo`` and ``fwhm_τ_hi``.

Landmarks are located in λ on a grid (601 points for exact curves, 2001 for Monte Carlo ones) and refined on the
curve's functions (``gmmtheory._curves``: crossings by brentq, the peak as the root of a central difference of the
rate, step 1e-4 in λ), then mapped to τ.

Uncertainty (Monte Carlo curves only; exact curves report 0). A crossing of H at level h found at λ* gets
``*_err`` = 2·stderr_H(λ*)/|dH/dλ(λ*)|, mapped to τ by |dτ/dλ|. A peak gets √(2·2·stderr_R/|R''|), the half-width
of the set where the quadratic approximation of the rate R stays within 2·stderr_R of its maximum. A FWHM endpoint
gets (2·stderr_R(λ_e) + stderr_R(peak))/|R'(λ_e)| and the width adds its two endpoints' errors in quadrature.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gmmtheory._curves import half_maximum_window, level_crossing, peak_index, rate_peak
from gmmtheory._precision import precision_scope
from gmmtheory.landmarks.curves import FD_STEP, EntropyCurve, entropy_curves
from gmmtheory.mixture import GaussianMixture, Partition, check_mixture
from gmmtheory.processes import OU, Process, check_process
from gmmtheory.schedules import log_snr_range

VARIABLES = ("t", "log_sigma", "log_snr")
_OU = OU()


@functools.lru_cache(maxsize=64)
def _tau_functions(process: Process):
    """Jitted λ ↦ τ(λ) and λ ↦ dτ/dλ for τ in VARIABLES (float64)."""

    def t_of(lam):
        return process.t_from_log_snr(lam)

    def logsig_of(lam):  # log σ with σ = σ(t)/a(t) = e^{−λ/2}, the EDM noise level (process independent)
        return -0.5 * lam

    def lam_of(lam):
        return lam

    out = {}
    for name, fn in zip(VARIABLES, (t_of, logsig_of, lam_of)):
        out[name] = (jax.jit(fn), jax.jit(jax.vmap(jax.grad(fn))))
    return out


def _tau(process: Process, var: str, lam: np.ndarray, derivative: bool = False) -> np.ndarray:
    lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
    with precision_scope("float64"):
        fn, dfn = _tau_functions(process)[var]
        out = dfn(jnp.asarray(lam)) if derivative else fn(jnp.asarray(lam))
    return np.asarray(out, dtype=np.float64)


_PER_VAR = ("half", "half_{}_err", "h10", "h90", "window", "window_{}_err", "peak", "peak_rate", "peak_{}_err",
            "fwhm", "fwhm_{}_lo", "fwhm_{}_hi", "fwhm_{}_err")


@dataclass(frozen=True)
class CurveLandmarks:
    """Entropy landmarks of H[Z_P | X_t] for one partition, in native time t, log σ and λ (see the module docstring).

    σ is the EDM noise level σ(t)/a(t) = e^{−λ/2}: ``*_log_sigma`` = −½ ``*_log_snr`` for locations, ½ for widths.

    ``*_err`` are Monte Carlo uncertainties (0 for exact curves); nan marks a landmark outside the curve's range.
    """

    label: str
    h_prior: float
    method: str
    process: str
    grid_step_log_snr: float
    n_samples: int
    half_t: float
    half_t_err: float
    h10_t: float
    h90_t: float
    window_t: float
    window_t_err: float
    peak_t: float
    peak_rate_t: float
    peak_t_err: float
    fwhm_t: float
    fwhm_t_lo: float
    fwhm_t_hi: float
    fwhm_t_err: float
    half_log_sigma: float
    half_log_sigma_err: float
    h10_log_sigma: float
    h90_log_sigma: float
    window_log_sigma: float
    window_log_sigma_err: float
    peak_log_sigma: float
    peak_rate_log_sigma: float
    peak_log_sigma_err: float
    fwhm_log_sigma: float
    fwhm_log_sigma_lo: float
    fwhm_log_sigma_hi: float
    fwhm_log_sigma_err: float
    half_log_snr: float
    half_log_snr_err: float
    h10_log_snr: float
    h90_log_snr: float
    window_log_snr: float
    window_log_snr_err: float
    peak_log_snr: float
    peak_rate_log_snr: float
    peak_log_snr_err: float
    fwhm_log_snr: float
    fwhm_log_snr_lo: float
    fwhm_log_snr_hi: float
    fwhm_log_snr_err: float

    def as_dict(self) -> dict[str, Any]:
        """All fields as a flat dict (floats, and the four strings/ints of the header)."""
        return asdict(self)

    def __repr__(self) -> str:
        return (f"CurveLandmarks(label={self.label!r}, method={self.method!r}, process={self.process!r}, "
                f"half_t={self.half_t:.6g}, peak_t={self.peak_t:.6g}, fwhm_t={self.fwhm_t:.6g}, "
                f"half_log_snr={self.half_log_snr:.6g})")


def _pack(curve: EntropyCurve, process: Process, out: dict) -> CurveLandmarks:
    return CurveLandmarks(label=curve.label, h_prior=curve.h_prior, method=curve.method, process=repr(process),
                          grid_step_log_snr=curve.grid_step, n_samples=curve.n_samples,
                          **{k: float(v) for k, v in out.items()})


def _nan_fields(out: dict, keys: tuple[str, ...], var: str) -> None:
    for key in keys:
        out[key.format(var) if "{}" in key else f"{key}_{var}"] = float("nan")


def curve_landmarks(curve: EntropyCurve, process: Process | str = _OU) -> CurveLandmarks:
    """The landmarks of one ``EntropyCurve`` in the time variables of ``process`` (see the module docstring)."""
    process = check_process(process)
    lo, hi = log_snr_range(process)
    lam_lo = max(curve.lam_lo, lo + 1e-9 * max(1.0, abs(lo)) if np.isfinite(lo) else curve.lam_lo)
    lam_hi = min(curve.lam_hi, hi - 1e-9 * max(1.0, abs(hi)) if np.isfinite(hi) else curve.lam_hi)
    out: dict[str, float] = {}
    nan = float("nan")
    if not (lam_hi > lam_lo) or curve.h_prior <= 0:
        for var in VARIABLES:
            _nan_fields(out, _PER_VAR, var)
        return _pack(curve, process, out)
    exact = curve.H_se is None
    grid = np.linspace(lam_lo, lam_hi, 601 if exact else 2001)
    Hg = curve.H(grid)
    Rg = np.abs(curve.rate(grid))
    h = curve.h_prior
    lam_half, lam_10, lam_90 = (level_crossing(grid, Hg, f * h, direction="down", refine=curve.H)
                                for f in (0.5, 0.1, 0.9))

    def crossing_err(lam: float) -> float:  # in λ
        if exact or not np.isfinite(lam):
            return 0.0 if exact else nan
        slope = abs(float(curve.rate(lam)[0]))
        return 2.0 * float(curve.H_se(lam)) / slope if slope > 0 else nan

    peak_keys = ("peak", "peak_rate", "peak_{}_err", "fwhm", "fwhm_{}_lo", "fwhm_{}_hi", "fwhm_{}_err")
    for var in VARIABLES:
        def tau(lam, var=var):
            return _tau(process, var, lam)

        def dtau(lam, var=var):
            return _tau(process, var, lam, derivative=True)

        def conv(lam):
            return float(tau(lam)[0]) if np.isfinite(lam) else nan

        def jac(lam):
            return abs(float(dtau(lam)[0])) if np.isfinite(lam) else nan

        out[f"half_{var}"] = conv(lam_half)
        out[f"half_{var}_err"] = crossing_err(lam_half) * jac(lam_half)
        out[f"h10_{var}"], out[f"h90_{var}"] = conv(lam_10), conv(lam_90)
        out[f"window_{var}"] = abs(out[f"h90_{var}"] - out[f"h10_{var}"])
        e10, e90 = crossing_err(lam_10) * jac(lam_10), crossing_err(lam_90) * jac(lam_90)
        out[f"window_{var}_err"] = math.hypot(e10, e90)
        # rate in τ as a function of λ: |dH/dλ| / |dτ/dλ|
        jg = np.abs(dtau(grid))
        with np.errstate(divide="ignore", invalid="ignore"):
            rg = Rg / jg
        rg = np.where(np.isfinite(rg), rg, 0.0)

        def rate_tau(lam, dtau=dtau):
            return np.abs(curve.rate(lam)) / np.abs(dtau(lam))

        def se_tau(lam, dtau=dtau):
            return float(curve.rate_se(lam)) / abs(float(dtau(lam)[0]))

        edge = max(2, grid.size // 100)  # a maximum at the ends of the range is not a peak
        i = peak_index(rg, edge=edge)
        if i is None:
            _nan_fields(out, peak_keys, var)
            continue
        lam_pk, r_pk = rate_peak(grid, rg, edge=edge, refine=rate_tau, fd_step=FD_STEP)
        out[f"peak_{var}"] = conv(lam_pk)
        out[f"peak_rate_{var}"] = r_pk
        if exact:
            out[f"peak_{var}_err"] = 0.0
        else:
            hh = max(grid[1] - grid[0], 1e-3)
            v3 = rate_tau(np.array([lam_pk - hh, lam_pk, lam_pk + hh]))
            curv = abs(float(v3[0] - 2 * v3[1] + v3[2])) / hh**2 / 2.0  # |c2| of R ≈ R* − c2 (λ − λ*)²
            out[f"peak_{var}_err"] = (math.sqrt(2.0 * se_tau(lam_pk) / curv) if curv > 0 else nan) * jac(lam_pk)
        lam_l, lam_r = half_maximum_window(grid, rg, peak_value=r_pk, peak_index=i, refine=rate_tau)
        if not (np.isfinite(lam_l) and np.isfinite(lam_r)):
            _nan_fields(out, peak_keys[3:], var)
            continue
        tl, tr = conv(lam_l), conv(lam_r)
        out[f"fwhm_{var}"] = abs(tr - tl)
        out[f"fwhm_{var}_lo"], out[f"fwhm_{var}_hi"] = min(tl, tr), max(tl, tr)
        if exact:
            out[f"fwhm_{var}_err"] = 0.0
        else:
            errs = []
            for lam_e in (lam_l, lam_r):
                v = rate_tau(np.array([lam_e - 1e-3, lam_e + 1e-3]))
                slope = abs(float(v[1] - v[0])) / 2e-3
                errs.append((2.0 * se_tau(lam_e) + se_tau(lam_pk)) / slope * jac(lam_e) if slope > 0 else nan)
            out[f"fwhm_{var}_err"] = math.hypot(*errs)
    return _pack(curve, process, out)


def entropy_landmarks(
    mixture: GaussianMixture,
    process: Process | str = _OU,
    *,
    partition: Partition | None = None,
    t_grid: object = None,
    n_grid: int = 161,
    n_samples: int | None = None,
    key: object = None,
) -> CurveLandmarks:
    """Half-entropy, rate-peak, FWHM and 10–90 % window of H[Z_P | X_t] (one partition; default the labels)."""
    check_mixture(mixture)
    process = check_process(process)
    part = {} if partition is None else {"partition": partition}
    curves = entropy_curves(mixture, part, t_grid=t_grid, process=process, n_grid=n_grid, n_samples=n_samples,
                            key=key)
    return curve_landmarks(curves[-1], process)


__all__ = ["VARIABLES", "CurveLandmarks", "curve_landmarks", "entropy_landmarks"]
