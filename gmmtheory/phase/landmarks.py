"""The landmark curves of a phase diagram, read off whole grids of H/H[Z_P] and dH/dt (one curve per parameter cell).

Per cell, in the native time of the process (``gmmtheory._curves`` does the reading):
``half`` (H = ½ H[Z_P]), ``h10``/``h90`` (10 % / 90 % of H[Z_P]) and ``window`` = h90 − h10 — first upward level
crossings of H/H[Z_P], linear in t between grid points; ``peak`` (argmax of the rate, vertex of the 3-point parabola)
with ``peak_rate``, and ``fwhm_lo``/``fwhm_hi`` where the rate falls to ½ peak_rate (linear interpolation). nan where
a crossing or the peak is outside the grid.
"""

from __future__ import annotations

import numpy as np

from gmmtheory._curves import half_maximum_window, level_crossing, peak_index, rate_peak

__all__ = ["LEVEL_FRACTIONS", "grid_landmarks"]

LEVEL_FRACTIONS = {"h10": 0.1, "half": 0.5, "h90": 0.9}


def _peak(t: np.ndarray, r: np.ndarray) -> tuple[float, float, float, float]:
    """(location, value, half-maximum lo, hi) of the rate peak of one row; nan × 4 without a peak."""
    i = peak_index(r)
    if i is None:
        return (float("nan"),) * 4
    tp, rp = rate_peak(t, r)
    lo, hi = half_maximum_window(t, r, peak_value=rp, peak_index=i)
    return tp, rp, lo, hi


def grid_landmarks(t: np.ndarray, h_norm: np.ndarray | None, rate: np.ndarray | None) -> dict[str, np.ndarray]:
    """Landmarks along the last axis of gridded H/H[Z] and dH/dt (see the module docstring); flat (n, T) in."""
    out = {}
    if h_norm is not None:
        h = np.asarray(h_norm).reshape(-1, t.size)
        for name, lev in LEVEL_FRACTIONS.items():
            out[name] = np.array([level_crossing(t, row, lev) for row in h])
        out["window"] = out["h90"] - out["h10"]
    if rate is not None:
        r = np.asarray(rate).reshape(-1, t.size)
        pk = np.array([_peak(t, row) for row in r]).reshape(-1, 4)
        out["peak"], out["peak_rate"], out["fwhm_lo"], out["fwhm_hi"] = pk.T
    return out
