"""The isotonic fit used by gmmtheory.control (scipy.optimize.isotonic_regression) against independent definitions:
the KKT conditions of  min Σ_i w_i (f_i − y_i)²  s.t. f_1 ≤ … ≤ f_n, and a direct constrained minimisation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from gmmtheory import control as C
from gmmtheory._curves import isotonic_fit


def _kkt_violation(f: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Largest violation of the (sufficient, the problem being convex) optimality conditions of weighted isotonic
    regression. With multipliers μ_j = Σ_{k ≤ j} w_k (y_k − f_k) for the constraints f_{j+1} − f_j ≥ 0:
    f non-decreasing, μ_j ≥ 0 (j < n), μ_n = 0, μ_j (f_{j+1} − f_j) = 0."""
    mu = np.cumsum(w * (y - f))
    scale = float(np.sum(w * np.abs(y)) + 1.0)
    return max(
        float(np.max(np.maximum(-np.diff(f), 0.0))) / (np.ptp(y) + 1.0),  # monotone
        float(np.max(np.maximum(-mu[:-1], 0.0))) / scale,                # dual feasibility
        abs(float(mu[-1])) / scale,                                      # stationarity of the total
        float(np.max(np.abs(mu[:-1] * np.diff(f)))) / (scale * (np.ptp(y) + 1.0)),  # complementary slackness
    )


@pytest.mark.parametrize("seed", range(6))
def test_isotonic_fit_satisfies_the_kkt_conditions(seed):
    rng = np.random.default_rng(seed)
    n = 40
    y = np.cumsum(rng.normal(0.1, 1.0, n)) * 0.2 + rng.normal(size=n)  # trend plus violations
    w = rng.uniform(0.2, 5.0, n)
    f = isotonic_fit(y, w)
    assert _kkt_violation(f, y, w) < 1e-12
    assert _kkt_violation(y.copy(), y, w) > 1e-3  # the check can fail: y itself is not monotone here


def test_isotonic_fit_matches_a_direct_constrained_minimisation():
    rng = np.random.default_rng(7)
    y = rng.normal(size=8)
    w = rng.uniform(0.5, 2.0, 8)
    cons = [{"type": "ineq", "fun": lambda f, j=j: f[j + 1] - f[j]} for j in range(7)]
    ref = minimize(lambda f: np.sum(w * (f - y) ** 2), np.full(8, np.average(y, weights=w)),
                   jac=lambda f: 2 * w * (f - y), constraints=cons, method="SLSQP",
                   options={"ftol": 1e-15, "maxiter": 500})
    assert ref.success
    np.testing.assert_allclose(isotonic_fit(y, w), ref.x, atol=1e-6)


def test_monotone_fit_known_example():
    # y = (1, 3, 2, 4) with weights (1, 1, 3, 1): the violators 3, 2 pool to (3·1 + 2·3)/4 = 2.25
    s, f = C.monotone_fit([0.1, 0.2, 0.3, 0.4], [1.0, 3.0, 2.0, 4.0], stderr=[1.0, 1.0, 1 / np.sqrt(3), 1.0])
    np.testing.assert_allclose(f, [1.0, 2.25, 2.25, 4.0], rtol=1e-14)
    np.testing.assert_array_equal(s, [0.1, 0.2, 0.3, 0.4])


def test_control_has_no_hand_written_pava():
    assert not hasattr(C, "_pava")  # scipy ≥ 1.12 is required; one implementation
