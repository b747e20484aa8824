"""Input checks shared by the digits testbed: real numbers in an interval, the pixel scale, increasing σ grids,
labelled point sets, and seeded CPU generators.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gmmtheory._checks import check_count


def _check_float(value: object, name: str, lo: float, hi: float, *, open_lo: bool = False,
                 open_hi: bool = False) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    bad = not math.isfinite(v) or v < lo or v > hi or (open_lo and v == lo) or (open_hi and v == hi)
    if bad:
        lb, rb = ("(" if open_lo else "["), (")" if open_hi else "]")
        raise ValueError(f"{name} must lie in {lb}{lo:g}, {hi:g}{rb}; got {value!r}")
    return v


def _check_scale(scale: object) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in scale)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"scale must be a pair (lo, hi) of numbers; got {scale!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"scale must be a finite pair with lo < hi; got {scale!r}")
    return lo, hi



def _check_sigmas(sigmas: object, name: str = "sigmas") -> np.ndarray:
    try:
        s = np.asarray(sigmas, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D array of noise levels σ > 0; got {sigmas!r}") from None
    if s.ndim != 1 or s.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 noise levels; got shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"{name} must be finite and > 0; got values from {s.min():g} to {s.max():g}")
    if np.any(np.diff(s) <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    return s


def _check_points(x: object, labels: object, name: str = "x") -> tuple[np.ndarray, np.ndarray]:
    try:
        X = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
        y = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (n, d) array of numbers and labels a (n,) array of integers") from None
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, d) with n ≥ 1; got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must be finite")
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise ValueError(f"labels must be non-negative integers of shape ({X.shape[0]},); got shape {y.shape}, "
                         f"dtype {y.dtype}")
    return X, y.astype(np.int64)


def _generator(seed: object, name: str = "seed") -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(check_count(name, seed, 0))
    return g
