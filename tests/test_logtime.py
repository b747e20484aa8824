"""The log-time concentration study: relative width → 0 in OU time, constant in EDM σ (docs/theory.md §6)."""

import math

import numpy as np
import pytest

from gmmtheory.logtime import COLUMNS
from gmmtheory.studies.logtime import logtime_study


@pytest.fixture(scope="module")
def table():
    return logtime_study(dims=[10, 10**3, 10**6], models=("two_gaussians", "covariance_only", "k_classes"),
                         mc_dims=(10**2, 10**5), n_samples=2**11, n_grid=61)


@pytest.mark.slow
def test_two_gaussians_concentrate_in_log_time_only(table):
    tg = table.select("two_gaussians")
    assert np.allclose(tg["fwhm_ou"], 1.3108770721542604, atol=1e-6)  # width independent of d
    rel = tg["rel_width_ou"]
    assert np.all(np.diff(rel) < 0) and rel[-1] < 0.2  # ~ 1/log d → 0
    assert np.allclose(tg["peak_t_ou"], tg["t_pred"], atol=1e-6)
    # EDM σ: the peak moves like √d, the width with it: width/location constant (2.86 factor at large d)
    big = tg["d"] >= 1e3
    assert np.allclose(tg["rel_width_edm"][big], tg["rel_width_edm"][-1], rtol=5e-3)
    assert tg["fwhm_factor_edm"][-1] == pytest.approx(2.86, abs=0.01)
    # σ*² ≈ d/s* − 1
    assert tg["peak_sigma_edm"][-1] / tg["peak_sigma_edm"][-2] == pytest.approx(math.sqrt(1e3), rel=2e-3)


@pytest.mark.slow
def test_other_models_and_markdown(table):
    cov = table.select("covariance_only")
    rel = cov["rel_width_ou"][cov["d"] >= 1e3]  # d = 10: the half maximum lies beyond t = 0 (nan)
    assert np.all(np.isfinite(rel)) and np.all(np.diff(rel) < 0)
    # the covariance window sits at ¼ log(a² d) + O(1): the offset converges
    off = cov["half_t_ou"] - cov["t_pred"]
    assert abs(off[-1] - off[-2]) < 0.01
    kc = table.select("k_classes")
    assert kc["rel_width_ou"][-1] < kc["rel_width_ou"][0]
    assert abs(kc["peak_t_ou"][-1] - kc["t_S"][-1]) < 0.2  # within O(1) of t_S
    md = table.to_markdown()
    assert md.splitlines()[0].startswith("| model") and len(md.splitlines()) == len(table) + 2
    assert set(table.rows()[0]) == set(COLUMNS)


def test_sizes_and_table_record():
    from gmmtheory.studies.logtime import LOGTIME_MODELS, STUDY_SIZES

    assert set(STUDY_SIZES) == {"smoke", "quick", "full"}
    np.testing.assert_allclose(STUDY_SIZES["full"]["dims"], np.logspace(1, 6, 11))  # the historical defaults
    assert tuple(STUDY_SIZES["full"]["mc_dims"]) == (1e2, 1e4, 1e6)
    smoke = logtime_study(size="smoke", models=("two_gaussians", "covariance_only"))
    assert len(smoke) == 2 * len(STUDY_SIZES["smoke"]["dims"])
    # the old positional form (dims, mu) still works and overrides the size's dimensions
    old = logtime_study([100], 1.0, models=("two_gaussians",))
    assert len(old) == 1 and old["d"][0] == 100.0
    assert old["peak_t_ou"][0] == pytest.approx(smoke.select("two_gaussians")["peak_t_ou"][0] + 0.5 * math.log(10),
                                                 abs=1e-6)
    d = old.as_dict()
    assert set(d) == set(COLUMNS) and d["model"] == ["two_gaussians"] and isinstance(d["d"][0], float)
    assert repr(old) == "LogTimeTable(1 rows, models=['two_gaussians'])"
    assert set(LOGTIME_MODELS) == {"two_gaussians", "k_classes", "hierarchical", "covariance_only"}
    with pytest.raises(ValueError, match="unknown model"):
        logtime_study([10], models=("nope",))
    with pytest.raises(ValueError, match="size"):
        logtime_study(size="huge")
