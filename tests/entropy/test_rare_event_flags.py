"""Rare-event flags: ``warn=False`` keeps the flag without the warning; phase diagrams report flagged cells once."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gmmtheory as gt
from gmmtheory.entropy.result import RareEventWarning

# Two well separated Gaussians at a small OU time: H[Z | X_t] is ~1e-8, so plain Monte Carlo sees almost no draw
# near the decision boundary (the reduced method's importance sampling is not used with method="montecarlo").
MIX = gt.two_gaussians(16, 1.5)
T = [0.05, 1.0, 2.0]


def test_warn_false_sets_the_flag_without_a_warning():
    with pytest.warns(RareEventWarning):
        loud = gt.class_entropy(MIX, gt.OU(), T, method="montecarlo", n_samples=2**10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RareEventWarning)
        quiet = gt.class_entropy(MIX, gt.OU(), T, method="montecarlo", n_samples=2**10, warn=False)
    assert loud.extra["rare_event"] and quiet.extra["rare_event"]
    np.testing.assert_array_equal(loud.value, quiet.value)  # same draws, same numbers


@pytest.mark.slow
def test_phase_diagram_reports_flagged_cells_once():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pd = gt.phase_diagram({"d": [16, 64]}, np.array(T), params={"mu": 1.5}, model="two", method="montecarlo",
                              n_samples=2**10, quantities=("H",))
    rare = [w for w in caught if issubclass(w.category, RareEventWarning)]
    assert len(rare) == 1 and "2 of the 2 cells" in str(rare[0].message)
    assert pd.meta["rare_event_cells"] == [0, 1]
