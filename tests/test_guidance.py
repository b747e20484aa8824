"""The guidance study: guided profiles against the unguided theory, landmarks, the report section and the CLI."""

import argparse
import json
import math

import numpy as np
import pytest

import gmmtheory as gt
from gmmtheory import dynamics as dyn
from gmmtheory import guidance as G
from gmmtheory.cli import guidance as cli_guidance
from gmmtheory.dynamics.kernel import sampler_kernel
from gmmtheory.report.guidance import section_guidance
from gmmtheory.studies import guidance as S

MIX = gt.two_gaussians(16, 1.0)
KW = dict(n_samples=1024, n_steps=40, key=0)


@pytest.fixture(scope="module")
def profiles():
    return {w: G.guided_profile(MIX, w=w, label="prior", **KW) for w in (1.0, 3.0)}


@pytest.mark.slow
def test_w1_profile_is_the_unguided_entropy(profiles):
    p = profiles[1.0]
    H = gt.class_entropy(MIX, gt.OU(), p.t_ou).value  # independent: binary-channel quadrature
    assert np.all(np.abs(p.value - H) < 4 * np.maximum(p.stderr, 1e-3))
    lm = gt.entropy_landmarks(MIX, gt.OU())
    assert abs(p.landmarks["half_t"] - lm.half_t) < 4 * p.landmarks["half_t_err"] + 0.01
    assert p.error_rate < 1e-3 and abs(p.frequencies["soft"][0] - 0.5) < 4 * p.frequencies["stderr"][0]


@pytest.mark.slow
def test_guidance_moves_the_window_earlier(profiles):
    lo, hi = profiles[1.0].landmarks, profiles[3.0].landmarks
    assert hi["half_t"] > lo["half_t"] + 4 * (lo["half_t_err"] + hi["half_t_err"])
    assert profiles[3.0].commit_t > profiles[1.0].commit_t
    # at every grid point the guided cross-entropy is at most the unguided one (up to Monte Carlo error)
    p1, p3 = profiles[1.0], profiles[3.0]
    assert np.all(p3.value <= p1.value + 4 * np.hypot(p1.stderr, p3.stderr) + 1e-9)


def test_interval_guidance_leaves_earlier_noise_levels_untouched():
    lo, hi = 0.5, 3.0
    a = G.guided_profile(MIX, w=1.0, label=0, **KW)
    b = G.guided_profile(MIX, w=4.0, interval=(lo, hi), label=0, **KW)
    before = a.sigma >= hi  # the trajectories coincide bitwise until the first evaluation inside the interval
    np.testing.assert_array_equal(a.value[before], b.value[before])
    assert not np.array_equal(a.value, b.value)


def test_profile_landmarks_recover_the_exact_ones():
    sig = dyn.make_grid("edm", 256).sigma
    t = 0.5 * np.log1p(sig**2)
    H = gt.class_entropy(MIX, gt.OU(), t).value
    got = G.profile_landmarks(sig, H, np.zeros_like(H), math.log(2))
    ref = gt.entropy_landmarks(MIX, gt.OU())
    assert got["half_t"] == pytest.approx(ref.half_t, abs=2e-3)
    assert got["peak_t"] == pytest.approx(ref.peak_t, abs=5e-3)
    assert got["fwhm_t"] == pytest.approx(ref.fwhm_t, abs=5e-3)
    assert got["window_t"] == pytest.approx(ref.window_t, abs=5e-3)


def test_information_inside_interval():
    sigma = np.array([10.0, 5.0, 2.0, 1.0, 0.0])
    value = np.array([1.0, 0.8, 0.3, 0.1, 0.0])
    res = G.information_inside(sigma, value, (1.5, 8.0))  # steps with geometric-mean σ 7.07, 3.16 inside
    assert res["inside"] == pytest.approx(0.7) and res["total"] == pytest.approx(1.0)
    assert res["fraction_inside"] == pytest.approx(0.7)


def test_guided_profile_validates_before_jit():
    before = sampler_kernel._cache_size()
    for kw, name in ((dict(w=-0.5), "w"), (dict(interval=(2.0, 1.0)), "interval"), (dict(sampler="dpm"), "sampler"),
                     (dict(n_steps=1), "n_steps")):
        with pytest.raises(ValueError, match=name):
            G.guided_profile(MIX, **kw)
    assert sampler_kernel._cache_size() == before


@pytest.mark.slow
def test_study_rows_and_cli(capsys, tmp_path):
    cases = {"two": (MIX, None)}
    st = S.guidance_study(cases, ws=(1.0, 2.0), intervals=("all", "window"), n_samples=256, n_steps=40)
    assert [(r["interval"], r["w"]) for r in st.rows] == [("all", 1.0), ("all", 2.0), ("window", 2.0)]
    r1 = st.select(w=1.0)[0]
    assert abs(r1["shift_half"]) < 0.1 and r1["bias_z"] < 5
    assert st.select(interval="all", w=2.0)[0]["shift_half"] > 0.1
    assert "| case |" in st.to_markdown(("case", "w", "shift_half"))
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli_guidance.add_parser(sub)
    args = parser.parse_args(["guidance", "--preset", "two", "--d", "16", "--w", "1,2", "--intervals", "all",
                              "--n-samples", "256", "--n-steps", "40", "--json", "--out", str(tmp_path)])
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 2 and rows[1]["w"] == 2.0
    assert (tmp_path / "guidance.csv").exists()
    with pytest.raises(ValueError, match="intervals"):
        args.intervals = "sometimes"
        cli_guidance.cmd_guidance(args)


@pytest.mark.slow
def test_section_writes_figures_and_numbers(tmp_path):
    md = section_guidance(tmp_path, "smoke")  # the smallest size: d = 64, 128 samples, w ∈ {1, 3}
    assert md.startswith("## Guidance")
    for stem in ("guidance_profiles", "guidance_shift", "guidance_overshoot", "clones_uturns"):
        assert (tmp_path / f"{stem}.png").exists()
    assert "exact φ" in md and "| 64 | ode |" in md


@pytest.mark.slow
def test_profile_is_frozen_with_a_short_repr(profiles):
    p = profiles[3.0]
    assert "array" not in repr(p) and "w=3" in repr(p)
    with pytest.raises(AttributeError):
        p.w = 1.0
    assert "trajectories" not in p.as_dict() and p.as_dict()["n_samples"] == 1024
