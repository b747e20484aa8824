"""The exact reverse-SDE overshoot study: Euler–Maruyama's exact discrete law is first order in the step (error ratio
2 per doubling, a property of the scheme), matches the Monte Carlo sampler on the same grid within its standard
error, and its Richardson limit is the small continuous-SDE overshoot."""

from __future__ import annotations

import numpy as np
import pytest

from gmmtheory.dynamics import overshoot, simulate
from gmmtheory.presets import build_preset
from gmmtheory.studies.exact_overshoot import exact_overshoot_study


@pytest.fixture(scope="module")
def rows():
    return exact_overshoot_study((1.0,), d=1024, steps=(100, 200, 400), ode_steps=(100, 200), T=10.0)


def test_em_error_is_first_order_and_heun_second_order(rows):
    em = [r for r in rows if r["method"] == "em"]
    (ratio,) = [r["error_ratio"] for r in em if r["error_ratio"] is not None]
    assert abs(ratio - 2.0) < 0.1, ratio
    # the EM step error grows with the gap |m| = 32 and dwarfs the continuous value
    (limit,) = [r["overshoot"] for r in rows if r["method"] == "em_richardson"]
    assert em[0]["overshoot"] < -0.5 and abs(limit) < 0.1, (em[0], limit)
    heun = [r["overshoot"] for r in rows if r["method"] == "heun"]
    (ode,) = [r["overshoot"] for r in rows if r["method"] == "ode"]
    e1, e2 = ode - heun[0], ode - heun[1]
    assert 3.0 < e1 / e2 < 5.0, (e1, e2)  # Heun: O(N⁻²)


@pytest.mark.slow
def test_exact_em_law_matches_the_monte_carlo_sampler(rows):
    mix = build_preset("two", d=1024, mu=1.0).mixture
    tr = simulate(mix, sampler="sde", n_samples=4096, n_steps=100, T=10.0, key=3, label=0, guidance="cfg", w=3.0,
                  record=False)
    ov = overshoot(tr, mix)
    exact = next(r["overshoot"] for r in rows if r["method"] == "em" and r["n_steps"] == 100)
    assert abs(ov["mean"] - exact) < 4 * ov["stderr"], (ov["mean"], ov["stderr"], exact)
    assert np.isfinite(exact)


def test_bad_steps():
    with pytest.raises(ValueError, match="steps"):
        exact_overshoot_study((1.0,), d=16, steps=(100,))
