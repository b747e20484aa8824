"""The exact two-Gaussian guided law, the practitioners' grids and the guided-law studies (docs/open_problems.md)."""

import math

import numpy as np
import pytest

from gmmtheory.entropy.api import class_entropy
from gmmtheory.guided_law.universal import sampler_flow, sigma_of_q, universal_flow
from gmmtheory.presets import build_preset
from gmmtheory.processes import OU
from gmmtheory.sampler_grids import (
    cosine_alpha_bar,
    ddpm_linear_alpha_bar,
    grid_catalogue,
    make_sampler_grid,
    vp_sigma,
    window_fractions,
)
from gmmtheory.schedules import edm_sigma_grid
from gmmtheory.studies.guided_law import (
    first_order_shift,
    guided_law_experiments,
    multiclass_study,
    redistribution_study,
)


def test_ddpm_linear_alpha_bar_closed_form():
    beta = 1e-4 + (0.02 - 1e-4) * np.arange(1000) / 999
    ab = ddpm_linear_alpha_bar()
    assert np.allclose(ab, np.exp(np.cumsum(np.log1p(-beta))), rtol=1e-12)
    g = make_sampler_grid("ddpm", 1000)
    assert g.sigma[-1] == pytest.approx(math.sqrt(1e-4 / (1 - 1e-4)), rel=1e-12)  # t = 0: ᾱ = 1 − β_0
    assert np.all(np.diff(g.sigma) < 0)


def test_cosine_and_edm_and_logsnr_grids():
    ab = cosine_alpha_bar()
    f = np.cos((np.arange(1001) / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    assert np.allclose(ab[:900], (f[1:] / f[0])[:900], rtol=1e-10)  # no clipping this early
    e = make_sampler_grid("edm", 18).sigma
    assert e[0] == pytest.approx(80.0) and e[-1] == pytest.approx(0.002) and np.allclose(e, edm_sigma_grid(18))
    lam = -2 * np.log(make_sampler_grid("logsnr", 32).sigma)
    assert np.allclose(np.diff(lam), np.diff(lam)[0], rtol=1e-10)
    assert np.allclose(vp_sigma(0.5), 1.0)


def test_window_fractions_direct_count():
    g = grid_catalogue()["edm-18"]
    win = (1.0, 20.0)
    fr = window_fractions(g, win)
    s = g.sigma
    assert fr["steps_inside"] == sum(1 for v in s if 1.0 < v < 20.0)
    evals = list(s) + list(s[1:])  # Heun: σ_i and the corrector at σ_{i+1}, except the last (Euler) step
    assert fr["evals"] == 2 * 18 - 1 and fr["evals_inside"] == sum(1 for v in evals if 1.0 < v < 20.0)
    with pytest.raises(ValueError, match="window"):
        window_fractions(g, (5.0, 1.0))
    with pytest.raises(ValueError, match="family"):
        make_sampler_grid("karras", 10)


def test_w1_flow_is_the_unguided_entropy():
    m = math.sqrt(100) * 0.5
    q = np.geomspace(1e-3, m * m, 60)[:-1]
    f = universal_flow(1.0, q, n_nodes=96)
    h = class_entropy(build_preset("two", d=100, mu=0.5).mixture, OU(), 0.5 * np.log1p(sigma_of_q(q, m) ** 2))
    assert np.max(np.abs(np.asarray(h.value) - f.ce)) < 1e-6


def test_guided_flow_quadrature_converged_and_sampler_converges():
    q = np.geomspace(1e-3, 1e4, 80)
    a, b = universal_flow(3.0, q, n_nodes=32), universal_flow(3.0, q, n_nodes=64)
    assert np.max(np.abs(a.ce - b.ce)) < 1e-7
    m = 10.0
    errs = []
    for n in (64, 128):
        sig, ce, _ = sampler_flow(m, edm_sigma_grid(n), 3.0, solver="heun", n_nodes=32)
        qs = m * m / (1 + sig**2)
        ex = universal_flow(3.0, np.unique(qs), n_nodes=32)
        errs.append(np.max(np.abs(ce - np.interp(qs, ex.q, ex.ce))))
    assert errs[1] < errs[0] / 3  # Heun: second order, the error falls ~4× per doubling


def test_w1_gives_zero_shift_and_unit_ratios_and_d_invariance():
    rows = redistribution_study((1.0, 2.0), (100, 1_000_000), ("all", "window"), n_nodes=32, n_eval=241)
    for r in rows:
        if r["w"] == 1.0:
            assert r["shift_t"] == 0.0 and r["window_ratio_t"] == 1.0 and r["peak_ratio_t"] == 1.0
    for iv in ("all", "window"):  # universality: OU-time differences do not depend on d
        s = [r["shift_t"] for r in rows if r["interval"] == iv and r["w"] == 2.0]
        assert s[0] > 0 and s[0] == pytest.approx(s[1], abs=1e-6)


def test_first_order_law_holds_for_small_w():
    c = first_order_shift()["c"]
    rows = redistribution_study((1.0, 1.01, 1.02), (10_000,), ("all",), n_nodes=48, n_eval=801)
    e1 = rows[1]["shift_t"] / 0.01 - c
    e2 = rows[2]["shift_t"] / 0.02 - c
    assert abs(e1) < 0.03 * c  # Δ/(w − 1) → c, with an O(w − 1) remainder
    assert 1.5 < e2 / e1 < 2.5


def test_bad_inputs():
    with pytest.raises(ValueError, match="ws"):
        redistribution_study((0.5,), (10,), ("all",))
    with pytest.raises(ValueError, match="intervals"):
        redistribution_study((1.0,), (10,), ("nope",))
    with pytest.raises(ValueError, match="ds"):
        redistribution_study((1.0,), (0,), ("all",))
    with pytest.raises(ValueError, match="size"):
        guided_law_experiments("huge")


@pytest.mark.slow
def test_smoke_study_runs():
    s = guided_law_experiments("smoke")
    d = s.as_dict()
    assert d["redistribution"] and d["grids"]["catalogue"] and d["grids"]["cost"]
    assert "Entropy redistribution" in s.to_markdown() and "Three classes and the hierarchy" in s.to_markdown()
    assert {r["partition"] for r in d["multiclass"]} == {"classes", "coarse", "sub"}


def test_multiclass_study_on_two_gaussians_matches_the_universal_engine():
    """``multiclass_study(("two",))`` (tensor Gauss–Hermite characteristics in y, ``guided_law.multiclass``) against
    ``redistribution_study`` (the d-free ODE in q, ``universal``): two independent engines, the same full-CFG shift,
    window and peak-rate ratios (measured differences 4e-7 / 3e-5 / 6e-5; the ratios carry each engine's σ-grid
    interpolation error)."""
    a = {r["w"]: r for r in multiclass_study(("two",), (1.0, 3.0), (1_000_000,), ("all",), n_nodes=32,
                                             n_eval=241)}
    b = {r["w"]: r for r in redistribution_study((1.0, 3.0), (1_000_000,), ("all",), n_nodes=64)}
    assert abs(a[3.0]["shift_t"] - b[3.0]["shift_t"]) < 1e-5
    assert abs(a[3.0]["window_ratio_t"] - b[3.0]["window_ratio_t"]) < 3e-4
    assert abs(a[3.0]["peak_ratio_t"] - b[3.0]["peak_ratio_t"]) < 5e-4
    with pytest.raises(ValueError, match="presets"):
        multiclass_study(("nope",))
