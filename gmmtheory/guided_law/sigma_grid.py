"""The reported σ̃ grid shared by the continuous guided laws (``guided_law``, ``sde_law_fp``, ``multiclass_law``).

σ̃ = σ/a is the VE-equivalent noise level: the continuous guided SDE and ODE have the same law at equal σ̃ in every
process, which only sets the start σ̃_T = σ(T)/a(T).
"""

from __future__ import annotations

import numpy as np

from gmmtheory._checks import check_positive
from gmmtheory.dynamics.grid import default_T
from gmmtheory.processes import OU, check_process

__all__ = ["default_sigmas", "reported_sigmas"]


def default_sigmas(process=None, T=None) -> np.ndarray:
    """σ̃_T = σ(T)/a(T) (``process``, default OU; ``T`` default ``dynamics.grid.default_T``), then the points of a
    log grid 80 … 0.002 (65 points) below it, then 0."""
    proc = OU() if process is None else check_process(process)
    T = default_T(proc) if T is None else check_positive("T", T)
    top = float(proc.sigma(T)) / float(proc.alpha(T))
    body = np.geomspace(80.0, 0.002, 65)
    return np.concatenate([[top], body[body < top], [0.0]])


def reported_sigmas(sigmas: object, process=None, T=None) -> np.ndarray:
    """``default_sigmas(process, T)`` when ``sigmas`` is None, else ``sigmas`` as a float array, checked to be a
    finite, strictly decreasing 1-D grid ≥ 0 of ≥ 2 points (first = start σ̃_T; it may end in 0)."""
    if sigmas is None:
        return default_sigmas(process, T)
    try:
        sig = np.asarray(sigmas, float)
    except (TypeError, ValueError):
        raise ValueError(f"sigmas must be a 1-D array of noise levels; got {sigmas!r}") from None
    if sig.ndim != 1 or sig.size < 2 or not np.all(np.isfinite(sig)) or np.any(sig < 0) or np.any(np.diff(sig) >= 0):
        raise ValueError(f"sigmas must be a finite, strictly decreasing 1-D grid ≥ 0 of ≥ 2 points; got {sigmas!r}")
    return sig
