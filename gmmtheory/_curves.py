"""The curve toolkit: monotone fits, level crossings, rate peaks, half-maximum and shortest windows of sampled curves.

Every landmark of an entropy curve H(τ) or of its rate |dH/dτ| on a grid x_0 < x_1 < … < x_{n−1} is located here
(numpy/scipy only). API:

- ``isotonic_fit(y, weights=None, *, increasing=True, x=None)``: argmin over monotone f of Σ_i w_i (f_i − y_i)²
  (pool-adjacent violators, ``scipy.optimize.isotonic_regression``); ``x`` orders the points first.
- ``inverse_variance_weights(stderr, *, floor=0.1)``: w_i = 1/max(stderr_i, floor·median(stderr > 0))² (ones when
  no stderr is positive).
- ``crossing_bracket(y, level, *, direction="up")``: (i, w) of the FIRST crossing, y_i < level ≤ y_{i+1} ("up") or
  y_i > level ≥ y_{i+1} ("down"), with w = (level − y_i)/(y_{i+1} − y_i) ∈ (0, 1]; None if y never crosses.
- ``level_crossing(x, y, level, *, direction="up", refine=None)``: x* = x_i + w (x_{i+1} − x_i) at that first
  crossing (nan if none); ``refine`` (a function f(x) of the curve) instead solves f(x) = level on [x_i, x_{i+1}] by
  brentq.
- ``peak_index(rate, *, edge=1)``: argmax i of the rate if edge ≤ i ≤ n − 1 − edge, rate_i > 0 and the rate is
  finite everywhere; else None.
- ``rate_peak(x, rate, *, edge=1, refine="parabola", fd_step=1e-4)``: (location, value) of the maximum of the rate:
  ``"grid"`` (x_i, rate_i), ``"parabola"`` the vertex of the parabola through the three points around i, or the
  rate as a function f(x): root of the central difference (f(x + h) − f(x − h))/2h on [x_{i−1}, x_{i+1}] (bounded
  maximisation when it does not change sign there). (nan, nan) without a peak.
- ``half_maximum_window(x, rate, *, peak_value=None, peak_index=None, refine=None)``: (lo, hi), the last point left
  and the first point right of the peak where the rate falls to ½·peak_value (default the rate at its argmax), by
  linear interpolation or by brentq on ``refine``; nan on a side the grid does not reach. FWHM = hi − lo.
- ``shortest_window(x, cdf, fraction)``: the shortest [a, b] with F(b) − F(a) ≥ fraction for a non-decreasing
  piecewise-linear F (the cdf, from 0 to 1) on x.

A ``refine`` function is vectorised: a 1-D float64 array in, an array of the same length out (one point is passed
as a length-1 array).

Key formulas: linear interpolation x* = x_i + (level − y_i)/(y_{i+1} − y_i)·(x_{i+1} − x_i); parabola through
(x_k, y_k), k = i−1, i, i+1: y = A x² + B x + C, vertex x_p = −B/(2A) (A < 0). A Gaussian bump of width s has
FWHM = 2√(2 ln 2) s.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

DIRECTIONS = ("up", "down")
PEAK_REFINEMENTS = ("grid", "parabola")
_BRENT = dict(xtol=1e-13, rtol=1e-15, maxiter=200)


def _as_1d(name: str, v: object) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {a.shape}")
    return a


def _brent(f: Callable[[float], float], a: float, b: float) -> float:
    return float(optimize.brentq(f, a, b, **_BRENT))


def _at(f: Callable[[np.ndarray], np.ndarray], v: float) -> float:
    """f at one point, for a vectorised f (1-D array in, array out)."""
    return float(np.asarray(f(np.array([v], dtype=np.float64))).ravel()[0])


# ============================================================================================= monotone fits
def isotonic_fit(y: object, weights: object = None, *, increasing: bool = True, x: object = None) -> np.ndarray:
    """argmin over monotone f of Σ_i w_i (f_i − y_i)² (pool-adjacent violators), as float64.

    ``increasing``: non-decreasing (True) or non-increasing (False) in the order of the points, or in the order of
    ``x`` when it is given (stable sort; tied x are not pooled). ``weights`` default to ones.
    """
    yy = _as_1d("y", y)
    w = None if weights is None else _as_1d("weights", weights)
    if w is not None and w.shape != yy.shape:
        raise ValueError(f"weights must have the shape of y {yy.shape}; got {w.shape}")
    if yy.size == 0:
        return yy.copy()
    if x is None:
        return np.asarray(optimize.isotonic_regression(yy, weights=w, increasing=increasing).x, dtype=np.float64)
    xx = _as_1d("x", x)
    if xx.shape != yy.shape:
        raise ValueError(f"x must have the shape of y {yy.shape}; got {xx.shape}")
    order = np.argsort(xx, kind="stable")
    fit = optimize.isotonic_regression(yy[order], weights=None if w is None else w[order], increasing=increasing).x
    out = np.empty_like(yy)
    out[order] = fit
    return out


def inverse_variance_weights(stderr: object, *, floor: float = 0.1) -> np.ndarray:
    """w_i = 1/max(stderr_i, floor·median of the positive stderr)² (the floor at least 1e-12); ones if none is > 0."""
    se = _as_1d("stderr", stderr)
    if not np.any(se > 0):
        return np.ones(se.size)
    lo = max(floor * float(np.median(se[se > 0])), 1e-12)
    return 1.0 / np.maximum(se, lo) ** 2


# ========================================================================================== level crossings
def crossing_bracket(y: object, level: float, *, direction: str = "up") -> tuple[int, float] | None:
    """(i, w) of the first crossing of ``level``: y_i < level ≤ y_{i+1} ("up") or y_i > level ≥ y_{i+1} ("down").

    w = (level − y_i)/(y_{i+1} − y_i) ∈ (0, 1] is the linear-interpolation weight; None when y never crosses. For a
    non-monotone y this is the crossing with the smallest index.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}; got {direction!r}")
    yy = _as_1d("y", y)
    if yy.size < 2:
        return None
    if direction == "up":
        idx = np.flatnonzero((yy[:-1] < level) & (yy[1:] >= level))
    else:
        idx = np.flatnonzero((yy[:-1] > level) & (yy[1:] <= level))
    if idx.size == 0:
        return None
    i = int(idx[0])
    return i, float((level - yy[i]) / (yy[i + 1] - yy[i]))


def level_crossing(x: object, y: object, level: float, *, direction: str = "up",
                   refine: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
    """x where y first crosses ``level`` (``crossing_bracket``), linearly interpolated in x as given; nan if never.

    ``refine``: a (vectorised) function f with f(x_k) = y_k; the crossing is then the root of f − level on
    [x_i, x_{i+1}] (brentq, xtol 1e-13), x_{i+1} itself when y_{i+1} = level.
    """
    xx, yy = _as_1d("x", x), _as_1d("y", y)
    if xx.shape != yy.shape:
        raise ValueError(f"x and y must have the same shape; got {xx.shape} and {yy.shape}")
    br = crossing_bracket(yy, level, direction=direction)
    if br is None:
        return float("nan")
    i, w = br
    if refine is None:
        return float(xx[i] + w * (xx[i + 1] - xx[i]))
    if yy[i + 1] == level:
        return float(xx[i + 1])
    return _brent(lambda v: _at(refine, v) - level, float(xx[i]), float(xx[i + 1]))


# =============================================================================================== rate peaks
def peak_index(rate: object, *, edge: int = 1) -> int | None:
    """argmax i of ``rate`` when it is a peak: finite rate, edge ≤ i ≤ n − 1 − edge and rate_i > 0; else None."""
    r = _as_1d("rate", rate)
    if r.size < 3 or not np.all(np.isfinite(r)):
        return None
    i = int(np.argmax(r))
    if i < edge or i > r.size - 1 - edge or r[i] <= 0:
        return None
    return i


def _parabola(x: np.ndarray, r: np.ndarray, i: int) -> tuple[float, float]:
    """Vertex (x_p, y_p) of the parabola through the points i − 1, i, i + 1 (the middle point if not concave)."""
    x0, x1, x2 = x[i - 1 : i + 2]
    y0, y1, y2 = r[i - 1 : i + 2]
    den = (x0 - x1) * (x0 - x2) * (x1 - x2)
    A = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
    if not A < 0:
        return float(x1), float(y1)
    B = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / den
    C = (x1 * x2 * (x1 - x2) * y0 + x2 * x0 * (x2 - x0) * y1 + x0 * x1 * (x0 - x1) * y2) / den
    xp = -B / (2 * A)
    xp = min(max(xp, x0), x2)  # a no-op up to rounding: the middle point is the largest of the three
    return float(xp), float(A * xp**2 + B * xp + C)


def rate_peak(x: object, rate: object, *, edge: int = 1, refine: str | Callable[[np.ndarray], np.ndarray] = "parabola",
              fd_step: float = 1e-4) -> tuple[float, float]:
    """(location, value) of the maximum of a sampled rate (``peak_index``); (nan, nan) without a peak.

    ``refine``: "grid" (the grid point), "parabola" (3-point parabola vertex), or the rate as a (vectorised)
    function f of x: the root of (f(x + h) − f(x − h))/2h, h = ``fd_step``, on [x_{i−1}, x_{i+1}] by brentq, or the
    bounded maximiser of f there when that difference does not change sign; the value is then f(location).
    """
    xx, r = _as_1d("x", x), _as_1d("rate", rate)
    if xx.shape != r.shape:
        raise ValueError(f"x and rate must have the same shape; got {xx.shape} and {r.shape}")
    i = peak_index(r, edge=edge)
    nan = float("nan")
    if i is None:
        return nan, nan
    if refine == "grid":
        return float(xx[i]), float(r[i])
    if refine == "parabola":
        return _parabola(xx, r, i)
    if not callable(refine):
        raise ValueError(f"refine must be one of {PEAK_REFINEMENTS} or a function; got {refine!r}")
    f = refine

    def slope(v: float) -> float:
        pair = np.asarray(f(np.array([v - fd_step, v + fd_step], dtype=np.float64))).ravel()
        return float(pair[1] - pair[0]) / (2.0 * fd_step)

    a, b = float(xx[i - 1]), float(xx[i + 1])
    if slope(a) > 0 > slope(b):
        loc = _brent(slope, a, b)
    else:
        res = optimize.minimize_scalar(lambda v: -_at(f, v), bounds=(a, b), method="bounded",
                                       options={"xatol": 1e-12})
        loc = float(res.x)
    return loc, _at(f, loc)


def half_maximum_window(x: object, rate: object, *, peak_value: float | None = None, peak_index: int | None = None,
                        refine: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[float, float]:
    """(lo, hi): where the rate falls to ½ ``peak_value`` on either side of the peak (full width hi − lo).

    lo is in the last interval left of ``peak_index`` (default: argmax of the rate) that ends below half, hi in the
    first interval right of it that does; each by linear interpolation, or by brentq on ``refine`` (a vectorised
    function equal to the rate on the grid). ``peak_value`` defaults to the rate at ``peak_index``. nan on a side
    where the rate stays above half.
    """
    xx, r = _as_1d("x", x), _as_1d("rate", rate)
    if xx.shape != r.shape:
        raise ValueError(f"x and rate must have the same shape; got {xx.shape} and {r.shape}")
    nan = float("nan")
    if r.size == 0:
        return nan, nan
    i = int(np.argmax(r)) if peak_index is None else int(peak_index)
    half = 0.5 * (float(r[i]) if peak_value is None else float(peak_value))

    def solve(j: int) -> float:  # the half crossing inside [x_j, x_{j+1}]
        if refine is None:
            return float(xx[j] + (half - r[j]) / (r[j + 1] - r[j]) * (xx[j + 1] - xx[j]))
        return _brent(lambda v: _at(refine, v) - half, float(xx[j]), float(xx[j + 1]))

    left = np.flatnonzero(r[:i] < half)
    right = np.flatnonzero(r[i + 1 :] < half)
    lo = solve(int(left[-1])) if left.size else nan
    hi = solve(i + int(right[0])) if right.size else nan
    return lo, hi


# ============================================================================================ shortest window
def shortest_window(x: object, cdf: object, fraction: float) -> tuple[float, float]:
    """Shortest [a, b] (in x) with F(b) − F(a) ≥ ``fraction`` for a non-decreasing piecewise-linear F from 0 to 1.

    For a level L, a(L) = sup{x: F(x) ≤ L} and b(L) = inf{x: F(x) ≥ L + fraction}; both are linear in L between
    the breakpoints L ∈ {F_i} ∪ {F_i − fraction}, so the minimum of b − a over L ∈ [0, 1 − fraction] is at one.
    """
    u, F = _as_1d("x", x), _as_1d("cdf", cdf)
    if u.shape != F.shape or u.size < 2:
        raise ValueError(f"x and cdf must have the same shape with ≥ 2 points; got {u.shape} and {F.shape}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1); got {fraction!r}")
    levels = np.concatenate([F, F - fraction, [0.0, 1.0 - fraction]])
    levels = np.unique(np.clip(levels, 0.0, 1.0 - fraction))
    n = u.size

    i = np.clip(np.searchsorted(F, levels, side="right") - 1, 0, n - 1)
    nxt = np.minimum(i + 1, n - 1)
    dF = F[nxt] - F[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where((i < n - 1) & (dF > 0), u[i] + (levels - F[i]) / dF * (u[nxt] - u[i]), u[i])

    m = np.minimum(levels + fraction, F[-1])
    j = np.clip(np.searchsorted(F, m, side="left"), 0, n - 1)
    prv = np.maximum(j - 1, 0)
    dG = F[j] - F[prv]
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where((j > 0) & (dG > 0), u[prv] + (m - F[prv]) / dG * (u[j] - u[prv]), u[j])
    k = int(np.argmin(b - a))
    return float(a[k]), float(b[k])


__all__ = [
    "DIRECTIONS",
    "PEAK_REFINEMENTS",
    "crossing_bracket",
    "half_maximum_window",
    "inverse_variance_weights",
    "isotonic_fit",
    "level_crossing",
    "peak_index",
    "rate_peak",
    "shortest_window",
]
