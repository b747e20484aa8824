"""Phase diagrams: grid values equal point-wise engine calls, sharding, landmarks, caching/resume, I/O, errors."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import types

import jax
import numpy as np
import pytest
from scipy import interpolate

import gmmtheory as gt
from gmmtheory import phase
from gmmtheory.cli.phase import add_parser
from gmmtheory.entropy import reduced
from gmmtheory.phase import cells

T_OU = np.linspace(0.05, 8.0, 24)


# ------------------------------------------------------------------------------------- values = engine calls
@pytest.mark.slow
def test_fast_path_equals_pointwise_engine():
    axes = {"d": [10, 100_000], "imbalance": [0.3, 0.5]}
    pd = phase.phase_diagram(axes, T_OU, params={"mu": 0.7, "variance": 0.5}, progress=False)
    assert pd.meta["path"] == "fast" and pd.shape == (2, 2, T_OU.size)
    ou = gt.OU()
    for i, d in enumerate(axes["d"]):
        for j, pi0 in enumerate(axes["imbalance"]):
            mix = gt.two_gaussians(d, 0.7, np.sqrt(0.5), weights=[pi0, 1 - pi0])
            np.testing.assert_allclose(pd.values["H"][i, j], gt.class_entropy(mix, ou, T_OU).value, atol=1e-13)
            np.testing.assert_allclose(pd.values["phi"][i, j], gt.collision_probability(mix, ou, T_OU).value,
                                       atol=1e-13)
            np.testing.assert_allclose(pd.values["bayes_error"][i, j], gt.bayes_error(mix, ou, T_OU).value,
                                       atol=1e-13)
            np.testing.assert_allclose(pd.values["rate"][i, j], gt.entropy_rate(mix, ou, T_OU).value,
                                       rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(pd.values["H_norm"][i, j] * mix.entropy_of_labels(), pd.values["H"][i, j])
            np.testing.assert_allclose(pd.landmarks["t_S"][i, j], gt.speciation_time(mix, ou), rtol=1e-12)
            assert np.all(pd.stderr["H"][i, j] == 0)


@pytest.mark.slow
def test_fast_path_edm_native_rate():
    sig = np.geomspace(0.1, 300.0, 20)
    pd = phase.phase_diagram({"mu": [0.5, 2.0]}, sig, process="edm", params={"d": 400}, progress=False)
    mix = gt.two_gaussians(400, 2.0)
    np.testing.assert_allclose(pd.values["H"][1], gt.class_entropy(mix, gt.EDM(), sig).value, atol=1e-13)
    np.testing.assert_allclose(pd.values["rate"][1], gt.entropy_rate(mix, gt.EDM(), sig).value, rtol=1e-10,
                               atol=1e-14)


@pytest.mark.slow
def test_cell_loop_equals_pointwise_engine_with_common_random_numbers():
    n = 2**9
    pd = phase.phase_diagram({"d": [20, 200]}, T_OU, model="kclasses", params={"K": 3, "mu": 0.4}, n_samples=n,
                             key=7, progress=False)
    assert pd.meta["path"] == "cells"
    key = jax.random.PRNGKey(7)
    for i, d in enumerate([20, 200]):
        mix = gt.k_classes(3, d, 0.4)
        kw = dict(n_samples=n, key=key)
        np.testing.assert_allclose(pd.values["H"][i], gt.class_entropy(mix, gt.OU(), T_OU, **kw).value, rtol=1e-12)
        np.testing.assert_allclose(pd.stderr["H"][i], gt.class_entropy(mix, gt.OU(), T_OU, **kw).stderr, rtol=1e-12)
        np.testing.assert_allclose(pd.values["phi"][i], gt.collision_probability(mix, gt.OU(), T_OU, **kw).value,
                                   rtol=1e-12)
        np.testing.assert_allclose(pd.values["bayes_error"][i], gt.bayes_error(mix, gt.OU(), T_OU, **kw).value,
                                   rtol=1e-12, atol=1e-15)
        rate = gt.entropy_rate(mix, gt.OU(), T_OU, method="autodiff", **kw)
        np.testing.assert_allclose(pd.values["rate"][i], rate.value, rtol=1e-12)
        np.testing.assert_allclose(pd.h_prior["classes"][i], np.log(3.0))


@pytest.mark.slow
def test_hierarchy_levels_match_engine_and_coarse_decides_first():
    h = gt.hierarchical(2, 2, 500, 1.0, 0.2)
    t = np.linspace(0.1, 6.0, 40)
    pd = phase.phase_diagram({"ratio": [0.2, 0.6]}, t, params={"d": 500}, quantities=("H",), n_samples=2**11,
                             progress=False)
    assert pd.levels == ("classes", "coarse")
    ref = gt.class_entropy(h.mixture, gt.OU(), t, partition=h.coarse, n_samples=2**11, key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(pd.values["coarse.H"][0], ref.value, rtol=1e-12)
    np.testing.assert_allclose(pd.h_prior["coarse"], np.log(2.0))
    assert np.all(pd.values["coarse.H"] <= pd.values["H"] + 1e-12)  # a coarser partition never has more entropy
    # coarse distinctions are decided earlier in generation (larger forward time) than fine ones
    assert pd.landmark("half", "coarse")[0] > pd.landmark("half")[0] + 0.5


# ------------------------------------------------------------------------------------------------ landmarks
@pytest.mark.slow
def test_landmark_curves_lie_on_the_entropy_crossings():
    dims = [300, 3000, 30_000, 300_000]
    t = np.linspace(0.01, 10.0, 300)
    pd = phase.phase_diagram({"d": dims}, t, progress=False)
    for i, d in enumerate(dims):
        spline = interpolate.CubicSpline(t, pd.values["H_norm"][i])  # independent interpolation of the grid
        for name, level in (("h10", 0.1), ("half", 0.5), ("h90", 0.9)):
            np.testing.assert_allclose(spline(pd.landmarks[name][i]), level, atol=2e-4)
        np.testing.assert_allclose(pd.landmarks["window"][i], pd.landmarks["h90"][i] - pd.landmarks["h10"][i])
        rate = interpolate.CubicSpline(t, pd.values["rate"][i])
        tp = pd.landmarks["peak"][i]
        assert abs(rate(tp, 1)) < 2e-3 * rate(tp)  # the rate is stationary at the peak ...
        np.testing.assert_allclose(rate(tp), pd.landmarks["peak_rate"][i], rtol=2e-4)
        for edge in ("fwhm_lo", "fwhm_hi"):  # ... and half as large at the FWHM edges
            np.testing.assert_allclose(rate(pd.landmarks[edge][i]), 0.5 * pd.landmarks["peak_rate"][i], rtol=2e-3)
    for i in (0, 3):
        exact = gt.entropy_landmarks(gt.two_gaussians(dims[i]), gt.OU())  # and all agree with the exact solver
        np.testing.assert_allclose(pd.landmarks["half"][i], exact.half_t, atol=1e-3)
        np.testing.assert_allclose(pd.landmarks["peak"][i], exact.peak_t, atol=2e-3)
        np.testing.assert_allclose(pd.landmarks["fwhm_hi"][i] - pd.landmarks["fwhm_lo"][i], exact.fwhm_t, atol=3e-3)
    # log-time: t_S moves by ½ log 10 per decade of d, the window does not widen
    np.testing.assert_allclose(np.diff(pd.landmarks["peak"]), 0.5 * np.log(10.0), atol=0.01)
    assert np.ptp(pd.landmarks["window"]) < 0.02


# --------------------------------------------------------------------------------- compilation, cache, I/O
@pytest.mark.slow
def test_sweeps_compile_once_per_shape():
    before = cells._binary_grid_kernel._cache_size()
    pd = phase.phase_diagram({"d": [11, 21, 41, 81, 161, 321, 641]}, T_OU, chunk_size=2, progress=False)
    assert pd.meta["n_units"] == 4
    assert cells._binary_grid_kernel._cache_size() - before <= 1
    kernel = reduced._shared_kernel
    phase.phase_diagram({"d": [8]}, T_OU, model="kclasses", quantities=("H",), n_samples=512, progress=False)
    before = kernel._cache_size()
    phase.phase_diagram({"d": [9, 17, 33, 65, 129]}, T_OU, model="kclasses", quantities=("H",), n_samples=512,
                        progress=False)
    assert kernel._cache_size() == before  # five new mixtures, the same shapes: no recompilation


class _Stop(Exception):
    pass


def _interrupt_after(k):
    seen = []

    def cb(cells):
        seen.extend(cells)
        if len(seen) >= k:
            raise _Stop

    return cb, seen


@pytest.mark.parametrize("kind", ["fast", "cells"])
@pytest.mark.slow
def test_interrupted_sweep_resumes_without_recomputing(tmp_path, kind):
    if kind == "fast":
        kw = dict(axes={"d": [10, 30, 100, 300, 1000]}, t=T_OU, chunk_size=1)
    else:
        kw = dict(axes={"d": [6, 12, 24, 48]}, t=T_OU, model="kclasses", quantities=("H", "phi"), n_samples=256)
    n = len(kw["axes"]["d"])
    cb, first = _interrupt_after(2)
    with pytest.raises(_Stop):
        phase.phase_diagram(**kw, cache=tmp_path / "c", callback=cb, progress=False)
    assert len(first) == 2
    second = []
    pd = phase.phase_diagram(**kw, cache=tmp_path / "c", callback=second.extend, progress=False)
    assert sorted(second) == sorted(set(range(n)) - set(first))  # only the unfinished cells
    assert pd.meta["n_computed"] == n - 2
    third = []
    again = phase.phase_diagram(**kw, cache=tmp_path / "c", callback=third.extend, progress=False)
    assert third == []
    fresh = phase.phase_diagram(**kw, progress=False)
    for k in fresh.values:
        np.testing.assert_array_equal(pd.values[k], fresh.values[k])
        np.testing.assert_array_equal(again.values[k], fresh.values[k])
    # another sweep in the same directory gets its own sub-folder and its own values; the first stays resumable
    other = phase.phase_diagram(**{**kw, "t": T_OU[:-1]}, cache=tmp_path / "c", progress=False)
    assert other.meta["n_computed"] == n and other.meta["cache"]["dir"] != pd.meta["cache"]["dir"]
    np.testing.assert_array_equal(other.values["H"], phase.phase_diagram(**{**kw, "t": T_OU[:-1]},
                                                                         progress=False).values["H"])
    fourth = []
    phase.phase_diagram(**kw, cache=tmp_path / "c", callback=fourth.extend, progress=False)
    assert fourth == []


@pytest.mark.slow
def test_save_load_round_trip(tmp_path):
    pd = phase.phase_diagram({"d": [10, 100], "mu": [0.5, 1.0, 2.0]}, T_OU, progress=False)
    path = pd.save(tmp_path / "diag")
    assert path.suffix == ".npz"
    back = phase.PhaseDiagram.load(path)
    assert back.dims == ("d", "mu", "t") and back.levels == ("classes",)
    for name in ("coords", "values", "stderr", "landmarks", "h_prior"):
        a, b = getattr(pd, name), getattr(back, name)
        assert list(a) == list(b) if name == "coords" else set(a) == set(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert back.meta["model"] == "two" and back.meta["path"] == "fast"


# ------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(axes={"dim": [1, 2]}), "axes has an unknown axis name 'dim'"),
        (dict(axes={"t": [1, 2]}), "axes must not contain 't'"),
        (dict(axes={}), "axes must be a dict"),
        (dict(axes={"d": [1, 2], "mu": [1], "K": [2]}), "axes must be a dict"),
        (dict(axes={"d": []}), r"axes\['d'\]"),
        (dict(axes={"d": [10.5, 20]}), r"axes\['d'\] must hold integers"),
        (dict(axes={"d": [[10, 20]]}), r"axes\['d'\]"),
        (dict(axes={"mu": [1.0, np.nan]}), r"axes\['mu'\] must be finite"),
        (dict(axes={"imbalance": [0.2, 1.0]}), r"axes\['imbalance'\]"),
        (dict(axes={"a": [0.2]}, model="two"), "do not apply to model='two'"),
        (dict(axes={"d": [10]}, model="nope"), "model must be one of"),
        (dict(axes={"d": [10]}, t=[1.0, 0.5, 2.0]), "t must be strictly increasing"),
        (dict(axes={"d": [10]}, t=[0.0, 1.0, 2.0]), r"t must have σ\(t\) > 0"),
        (dict(axes={"d": [10]}, t=[-1.0, 1.0, 2.0]), "t must lie in"),
        (dict(axes={"d": [10]}, quantities=("H", "entropy")), "quantities"),
        (dict(axes={"d": [10]}, params={"sigma": 2.0}), "params has unknown names"),
        (dict(axes={"d": [10]}, process="brownian"), "process must be one of"),
        (dict(axes={"K": [2, 50]}, params={"d": 20}), "K ≤ d"),
        (dict(axes={"d": [10]}, n_samples=1), "n_samples"),
    ],
)
def test_bad_arguments_raise_before_any_jit_work(monkeypatch, kwargs, match):
    def forbidden(*a, **k):
        raise AssertionError("compute started before validation")

    monkeypatch.setattr(cells, "_binary_grid_kernel", forbidden)
    monkeypatch.setattr(cells, "class_entropy", forbidden)
    kwargs = {"t": T_OU, **kwargs}
    with pytest.raises(ValueError, match=match):
        phase.phase_diagram(kwargs.pop("axes"), kwargs.pop("t"), progress=False, **kwargs)


# ------------------------------------------------------------------------------------------------ devices
_SHARDED = textwrap.dedent(
    """
    import sys, numpy as np, jax
    jax.config.update("jax_enable_x64", True)
    from gmmtheory import phase
    assert jax.device_count() == 4, jax.devices()
    t = np.linspace(0.05, 8.0, 12)
    fast = phase.phase_diagram({"d": [10, 30, 100, 300, 1000, 3000, 10000]}, t, chunk_size=3, progress=False,
                               cache=sys.argv[1] + "/cache")
    cells = phase.phase_diagram({"d": [6, 12, 24, 48, 96]}, t, model="kclasses", quantities=("H", "phi"),
                                n_samples=256, progress=False)
    assert fast.meta["n_devices"] == 4 and cells.meta["n_devices"] == 4
    assert fast.meta["n_units"] == 2  # chunks of 3 rows rounded up to 4 = the device count
    fast.save(sys.argv[1] + "/fast.npz"); cells.save(sys.argv[1] + "/cells.npz")
    """
)


@pytest.mark.slow
def test_sharded_over_four_host_devices_equals_one_device(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _SHARDED, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    t = np.linspace(0.05, 8.0, 12)
    # the four-device run's cache (units of 4 rows) must not be served to one device (units of 3 rows)
    with pytest.warns(UserWarning, match="another unit layout"):
        fast = phase.phase_diagram({"d": [10, 30, 100, 300, 1000, 3000, 10000]}, t, chunk_size=3, devices=1,
                                   progress=False, cache=tmp_path / "cache")
    assert fast.meta["n_units"] == 3 and fast.meta["n_computed"] == 3
    cells = phase.phase_diagram({"d": [6, 12, 24, 48, 96]}, t, model="kclasses", quantities=("H", "phi"),
                                n_samples=256, devices=1, progress=False)
    for name, ref in (("fast", fast), ("cells", cells)):
        got = phase.PhaseDiagram.load(tmp_path / f"{name}.npz")
        assert got.meta["n_devices"] == 4 and ref.meta["n_devices"] == 1
        for k in ref.values:
            np.testing.assert_allclose(got.values[k], ref.values[k], rtol=1e-12, atol=1e-15)
        for k in ref.landmarks:
            np.testing.assert_allclose(got.landmarks[k], ref.landmarks[k], rtol=1e-10)


# ----------------------------------------------------------------------------------------------- guidance
@pytest.mark.slow
def test_guidance_axis_plumbing_with_a_stand_in_sampler(monkeypatch):
    calls = []

    def guided_profile(mixture, *, w, interval=None, label=0, partition=None, sampler="edm", n_steps=64,
                       n_samples=None, key=None):
        calls.append(w)
        sigma = np.geomspace(0.002, 80.0, n_steps)
        h = gt.class_entropy(mixture, gt.EDM(), sigma).value * np.exp(-(w - 1.0))
        return types.SimpleNamespace(sigma=sigma[::-1], entropy=h[::-1], stderr=np.zeros(n_steps))

    monkeypatch.setattr(cells, "guided_profile", guided_profile)
    sig = np.geomspace(0.01, 50.0, 16)
    pd = phase.phase_diagram({"w": [1.0, 2.0, 3.0]}, sig, process="edm", params={"d": 50}, progress=False)
    assert calls == [1.0, 2.0, 3.0] and set(pd.values) == {"H", "H_norm"}
    exact = gt.class_entropy(gt.two_gaussians(50), gt.EDM(), sig).value
    np.testing.assert_allclose(pd.values["H"][0], exact, atol=3e-3)  # linear in log σ between 64 sampler steps
    np.testing.assert_allclose(pd.values["H"][2], exact * np.exp(-2.0), atol=1e-3)


@pytest.mark.slow
def test_guidance_axis_with_the_real_sampler():
    sig = np.geomspace(0.05, 40.0, 12)
    pd = phase.phase_diagram({"w": [1.0, 3.0]}, sig, process="edm", params={"d": 64}, n_samples=256,
                             progress=False)
    H = pd.values["H"]
    assert H.shape == (2, 12) and np.all(np.isfinite(H[:, 1:-1]))
    exact = gt.class_entropy(gt.two_gaussians(64), gt.EDM(), sig).value
    np.testing.assert_allclose(H[0, 1:-1], exact[1:-1], atol=0.1)  # w = 1 is unguided: the entropy itself


# ------------------------------------------------------------------------------------------------------ CLI
@pytest.mark.slow
def test_cli_phase_json_and_files(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["phase", "--x", "d", "--x-values", "10:1000:3:log", "--y", "t", "--t", "0.1:8:32",
                              "--json", "--out", str(tmp_path), "--no-progress"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["coords"]["d"] == [10, 100, 1000]
    ref = gt.class_entropy(gt.two_gaussians(100), gt.OU(), np.linspace(0.1, 8, 32)).value
    np.testing.assert_allclose(out["values"]["H"][1], ref, atol=1e-13)
    assert (tmp_path / "phase.npz").exists() and (tmp_path / "phase.png").exists()
    with pytest.raises(ValueError, match="y-values"):
        a = parser.parse_args(["phase", "--x", "d", "--x-values", "10,20", "--y", "mu"])
        a.func(a)
