"""The curve toolkit (gmmtheory._curves) against analytic curves and a brute-force isotonic fit."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gmmtheory._curves import (
    crossing_bracket,
    half_maximum_window,
    inverse_variance_weights,
    isotonic_fit,
    level_crossing,
    peak_index,
    rate_peak,
    shortest_window,
)

FWHM_FACTOR = 2.0 * math.sqrt(2.0 * math.log(2.0))


def _logistic(x, h=math.log(2.0), x0=0.3, s=0.7):
    """A decreasing H curve h/(1 + e^{(x − x0)/s}); it crosses f·h at x0 + s log(1/f − 1)."""
    return h / (1.0 + np.exp((np.asarray(x, np.float64) - x0) / s))


def _bump(x, mu=0.4, s=0.5, amp=2.0):
    return amp * np.exp(-0.5 * ((np.asarray(x, np.float64) - mu) / s) ** 2)


# ============================================================================================= level crossings
@pytest.mark.parametrize("frac", [0.1, 0.5, 0.9])
def test_level_crossing_of_a_logistic_curve(frac):
    h, x0, s = math.log(2.0), 0.3, 0.7
    x = np.linspace(-6.0, 6.0, 2001)
    exact = x0 + s * math.log(1.0 / frac - 1.0)
    lin = level_crossing(x, _logistic(x), frac * h, direction="down")
    assert abs(lin - exact) < 1e-5  # linear interpolation: O(dx²)
    refined = level_crossing(x, _logistic(x), frac * h, direction="down", refine=_logistic)
    assert abs(refined - exact) < 1e-11
    # the increasing mirror image crosses upwards at −x
    up = level_crossing(-x[::-1], _logistic(x)[::-1], frac * h, direction="up", refine=lambda v: _logistic(-v))
    assert abs(up + exact) < 1e-11


def test_tanh_curve_and_bracket_weight():
    x = np.linspace(-3.0, 3.0, 61)
    y = np.tanh(x)
    i, w = crossing_bracket(y, 0.25)
    assert y[i] < 0.25 <= y[i + 1] and 0 < w <= 1
    assert level_crossing(x, y, 0.25) == pytest.approx(x[i] + w * (x[i + 1] - x[i]))
    assert level_crossing(x, y, 0.25, refine=np.tanh) == pytest.approx(math.atanh(0.25), abs=1e-12)


def test_linear_interpolation_is_exact_on_a_line_and_takes_the_first_crossing():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.array([0.0, 2.0, 0.0, 2.0, 4.0])  # not monotone: crosses 1 upwards at 0.5 and 2.5
    assert level_crossing(x, y, 1.0) == pytest.approx(0.5)
    assert level_crossing(x, y, 1.0, direction="down") == pytest.approx(1.5)
    assert level_crossing(x, y, 3.0) == pytest.approx(3.5)
    assert math.isnan(level_crossing(x, y, 5.0))
    assert math.isnan(level_crossing(x, y, -1.0, direction="down"))
    assert crossing_bracket(y, 2.0) == (0, 1.0)  # y_{i+1} = level counts (≤), weight 1
    assert level_crossing(x, y, 2.0, refine=lambda v: np.interp(v, x, y)) == 1.0
    with pytest.raises(ValueError, match="direction"):
        crossing_bracket(y, 1.0, direction="sideways")


# ================================================================================================ rate peaks
@pytest.mark.parametrize("refine", ["grid", "parabola", "function"])
def test_gaussian_bump_peak_and_fwhm(refine):
    mu, s, amp = 0.4, 0.5, 2.0
    x = np.linspace(-4.0, 4.0, 801)
    r = _bump(x, mu, s, amp)
    ref = _bump if refine == "function" else refine
    loc, val = rate_peak(x, r, refine=ref)
    tol = {"grid": 1e-2, "parabola": 1e-4, "function": 1e-7}[refine]
    assert abs(loc - mu) < tol and abs(val - amp) < tol
    lo, hi = half_maximum_window(x, r, peak_value=val, refine=_bump if refine == "function" else None)
    assert abs((hi - lo) - FWHM_FACTOR * s) < (1e-9 if refine == "function" else 1e-4)
    assert abs(0.5 * (lo + hi) - mu) < 1e-4


def test_parabola_vertex_is_exact_for_a_parabola():
    x = np.linspace(-1.0, 2.0, 13)
    r = 3.0 - (x - 0.61) ** 2
    loc, val = rate_peak(x, r)
    assert loc == pytest.approx(0.61, abs=1e-12) and val == pytest.approx(3.0, abs=1e-12)


def test_no_peak_at_the_edges_or_when_not_positive_or_not_finite():
    x = np.linspace(0.0, 1.0, 11)
    assert peak_index(x) is None  # increasing: the maximum is the last point
    assert all(math.isnan(v) for v in rate_peak(x, x))
    assert peak_index(-_bump(x) - 1.0) is None  # never positive
    r = _bump(x, 0.5, 0.2)
    assert peak_index(r) == 5
    assert peak_index(r, edge=6) is None
    r[2] = np.nan
    assert peak_index(r) is None


def test_half_maximum_window_sides_the_grid_does_not_reach_are_nan():
    x = np.linspace(0.0, 2.0, 201)
    r = _bump(x, 0.2, 0.5)
    lo, hi = half_maximum_window(x, r)
    assert math.isnan(lo) and hi == pytest.approx(0.2 + 0.5 * FWHM_FACTOR / 2, abs=1e-4)


# ============================================================================================== isotonic fits
def _brute_isotonic(y, w):
    """The exact weighted isotonic fit: the best of all 2^{n−1} partitions into consecutive blocks whose block means
    are non-decreasing (each block's value is its weighted mean)."""
    n = len(y)
    best, best_cost = None, math.inf
    for cuts in itertools.product([False, True], repeat=n - 1):
        bounds = [0] + [i + 1 for i, c in enumerate(cuts) if c] + [n]
        fit = np.empty(n)
        means = []
        for a, b in itertools.pairwise(bounds):
            m = float(np.sum(w[a:b] * y[a:b]) / np.sum(w[a:b]))
            fit[a:b] = m
            means.append(m)
        if any(m2 < m1 - 1e-12 for m1, m2 in itertools.pairwise(means)):
            continue
        cost = float(np.sum(w * (fit - y) ** 2))
        if cost < best_cost - 1e-12:
            best, best_cost = fit, cost
    return best


@pytest.mark.parametrize("seed", range(6))
def test_isotonic_fit_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 7
    y = np.cumsum(rng.normal(0.2, 1.0, n))
    w = rng.uniform(0.2, 3.0, n)
    np.testing.assert_allclose(isotonic_fit(y, w), _brute_isotonic(y, w), atol=1e-12)
    np.testing.assert_allclose(isotonic_fit(y), _brute_isotonic(y, np.ones(n)), atol=1e-12)
    dec = isotonic_fit(y, w, increasing=False)
    np.testing.assert_allclose(dec, -_brute_isotonic(-y, w), atol=1e-12)


def test_isotonic_known_cases_and_x_order():
    np.testing.assert_allclose(isotonic_fit([1.0, 3.0, 2.0, 4.0]), [1.0, 2.5, 2.5, 4.0])
    np.testing.assert_allclose(isotonic_fit([3.0, 2.0, 1.0]), [2.0, 2.0, 2.0])
    y = np.array([1.0, 3.0, 2.0, 4.0])
    perm = np.array([2, 0, 3, 1])
    x = np.arange(4.0)
    out = isotonic_fit(y[perm], x=x[perm])
    np.testing.assert_allclose(out, np.array([1.0, 2.5, 2.5, 4.0])[perm])
    sorted_in = np.array([0.1, 0.2, 0.3])
    np.testing.assert_array_equal(isotonic_fit(sorted_in), sorted_in)


def test_inverse_variance_weights():
    np.testing.assert_array_equal(inverse_variance_weights(np.zeros(3)), np.ones(3))
    se = np.array([0.0, 1.0, 2.0, 4.0])
    w = inverse_variance_weights(se)  # floor 0.1·median(1, 2, 4) = 0.2
    np.testing.assert_allclose(w, [25.0, 1.0, 0.25, 1 / 16])


# ============================================================================================ shortest window
def test_shortest_window_of_uniform_and_triangular_cdfs():
    x = np.linspace(0.0, 1.0, 11)
    a, b = shortest_window(x, x, 0.5)  # uniform: any window of width ½
    assert b - a == pytest.approx(0.5)
    # a triangular density on [0, 2] peaked at 1: F = x²/2 then 1 − (2 − x)²/2; the shortest 50 % window is
    # symmetric, [1 − c, 1 + c] with 1 − (1 − c)² = ½, c = 1 − 1/√2 (up to a grid step: F is piecewise linear)
    u = np.linspace(0.0, 2.0, 4001)
    F = np.where(u <= 1.0, u**2 / 2, 1.0 - (2.0 - u) ** 2 / 2)
    a, b = shortest_window(u, F, 0.5)
    c = 1.0 - 1.0 / math.sqrt(2.0)
    assert a == pytest.approx(1.0 - c, abs=1e-3) and b == pytest.approx(1.0 + c, abs=1e-3)  # grid step 5e-4


def test_shortest_window_holds_the_fraction_and_is_shortest():
    rng = np.random.default_rng(1)
    u = np.sort(rng.uniform(0, 5, 30))
    F = np.cumsum(rng.exponential(1.0, 30))
    F = (F - F[0]) / (F[-1] - F[0])
    a, b = shortest_window(u, F, 0.7)
    assert np.interp(b, u, F) - np.interp(a, u, F) >= 0.7 - 1e-9
    grid = np.linspace(u[0], u[-1], 3001)
    Fg = np.interp(grid, u, F)
    widths = [grid[np.searchsorted(Fg, f + 0.7 - 1e-12)] - g for g, f in zip(grid, Fg) if f + 0.7 <= 1.0]
    assert b - a <= min(widths) + 1e-9
