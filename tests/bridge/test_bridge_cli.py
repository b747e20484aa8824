"""The ``gmmtheory bridge`` command: torch-free parsing, the exact-mixture run, EDM2 from a checkout, clear errors."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import gmmtheory as gt  # noqa: E402
from gmmtheory.bridge.base import Measurement  # noqa: E402
from gmmtheory.bridge.experiments import agreement  # noqa: E402
from gmmtheory.bridge.gmm import GMMDenoiser  # noqa: E402
from gmmtheory.bridge.models import as_edm2_net  # noqa: E402
from gmmtheory.cli import main  # noqa: E402


@pytest.mark.slow
def test_parser_does_not_import_torch():
    code = ("import sys, gmmtheory.cli as c; c.build_parser().parse_args(['bridge', 'gmm']); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_agreement_keeps_only_informative_points():
    exact = np.array([1e-6, 0.2, 0.5, 0.7])
    m = Measurement(np.arange(4.0) + 1, np.array([0.0, 0.25, 0.5, 0.7]), np.array([1e-9, 0.01, 0.02, 0.0]),
                    "entropy", "test")
    a = agreement(m, exact)
    # point 0: exact below 1 % of the maximum; point 3: zero spread (every sample equal) → both left out
    assert a["n_points"] == 2
    assert a["max_z"] == pytest.approx(5.0)
    assert a["max_abs"] == pytest.approx(0.05)
    a = agreement(m, exact, exact_se=np.array([0.0, 0.01, 0.0, 0.0]))
    assert a["max_z"] == pytest.approx(0.05 / np.sqrt(2e-4))


@pytest.mark.slow
def test_bridge_gmm_writes_table_and_checks(tmp_path, capsys):
    # --steps sets the tracker curves (figure and checks), --steps-list the bias table
    rc = main(["bridge", "gmm", "--d", "8", "--mu", "0.7", "--steps-list", "8", "--n-samples", "32", "--steps", "6",
               "--out", str(tmp_path), "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert {r["steps"] for r in res["bias_table"]} == {8}
    assert set(res["checks"]) == {"denoiser-gap rate", "denoiser-gap entropy", "classifier entropy (classes 0, 1)",
                                  "tracker, 6 steps", "corrected tracker, 6 steps"}
    assert res["settings"]["curve_steps"] == 6
    # EDM's ρ = 7 grid on [0.002, 80] with 6 nonzero levels, written out here (σ increasing)
    rho, i = 7.0, np.arange(6) / 5
    grid = np.sort((80.0 ** (1 / rho) + i * (0.002 ** (1 / rho) - 80.0 ** (1 / rho))) ** rho)
    for name in ("tracker", "tracker_corrected"):
        curve = res["curves"][name]
        assert curve["meta"]["steps"] == 6 and curve["meta"]["n_samples"] == 32  # every sample, not half
        np.testing.assert_allclose(curve["sigma"], grid, rtol=1e-12)
    for name in ("gmm.json", "gmm.md", "gmm.png", "gmm.pdf"):
        assert (tmp_path / name).exists()
    md = (tmp_path / "gmm.md").read_text()
    assert "| steps |" in md and "tracker curves on 6 steps" in md


@pytest.fixture
def fake_edm2(tmp_path):
    """A checkout with torch_utils/ and dnnlib/ and two pickles holding the exact mixture in EDM2's signature.

    ``load_edm2`` leaves the checkout on sys.path (EDM2's code may import from it later); the teardown removes it
    and any module imported from it, so other tests see a clean interpreter."""
    root = tmp_path / "edm2"
    (root / "torch_utils").mkdir(parents=True)
    (root / "dnnlib").mkdir()
    mix = gt.k_classes(3, 4, 1.5)
    exact = GMMDenoiser(mix, dtype=torch.float32)
    for name, cond in (("cond.pkl", True), ("uncond.pkl", False)):
        with open(tmp_path / name, "wb") as f:
            pickle.dump({"ema": as_edm2_net(exact, conditional=cond, image_shape=(1, 2, 2))}, f)
    yield root, mix
    resolved = str(root.resolve())
    while resolved in sys.path:
        sys.path.remove(resolved)
    for name in ("torch_utils", "dnnlib"):
        sys.modules.pop(name, None)


@pytest.mark.slow
def test_bridge_edm2_end_to_end_on_exact_mixture(fake_edm2, tmp_path, capsys):
    root, mix = fake_edm2
    out = tmp_path / "out"
    rc = main(["bridge", "edm2", "--checkout", str(root), "--cond", str(tmp_path / "cond.pkl"),
               "--uncond", str(tmp_path / "uncond.pkl"), "--classes", "0,1", "--steps", "12", "--n-samples", "64",
               "--n-levels", "4", "--n-sigma", "6",
               "--device", "cpu", "--out", str(out), "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["curves"]) == {"tracker", "tracker_corrected", "denoiser_gap_subset"}
    for curve in res["curves"].values():
        assert np.all(np.isfinite(curve["value"])) and np.all(np.asarray(curve["stderr"]) >= 0)
    # the surrogate is fitted to the model's own samples of classes 0 and 1: its top eigenvalue must be that of
    # the two-class sub-mixture, Λ = 1 + |μ_0 − μ_1|²/4 = 1 + 2·1.5²·4/4 = 5.5, up to sampling error of ~64 draws
    assert res["surrogate"]["Lambda"] == pytest.approx(5.5, rel=0.35)
    for name in ("edm2.json", "edm2.md", "edm2.png"):
        assert (out / name).exists()


def test_bridge_commands_reject_missing_files(tmp_path, capsys):
    rc = main(["bridge", "edm2", "--checkout", str(tmp_path / "nope"), "--cond", "a.pkl", "--uncond", "b.pkl",
               "--classes", "0,1", "--device", "cpu"])
    assert rc == 2
    assert "supply the path of your own EDM2 checkout" in capsys.readouterr().err
    rc = main(["bridge", "sd15", "--path", str(tmp_path / "nope"), "--prompts", "a cat|a dog", "--device", "cpu"])
    assert rc == 2
    assert "error:" in capsys.readouterr().err
    rc = main(["bridge", "sd15", "--path", str(tmp_path), "--prompts", "only one", "--device", "cpu"])
    assert rc == 2
    assert "--prompts: need at least two" in capsys.readouterr().err


@pytest.mark.slow
def test_digits_control_command_end_to_end(tmp_path, capsys):
    # an untrained tiny digits model saved as 'gmmtheory bridge digits' would save it; the window comes from its
    # denoiser-gap curve measured on the spot (no --comparison); the plumbing, files and JSON are what is checked
    from gmmtheory.bridge import digits as dg

    torch.manual_seed(0)
    cfg = dg.DigitsConfig(width=16, depth=1, emb_dim=8, class_weights=tuple([0.1] * 10))
    path = dg.save_model(dg.DigitsDenoiser(dg.DigitsNet(cfg)), tmp_path / "m.pt")
    out = tmp_path / "dc"
    assert main(["bridge", "digits-control", "--model", str(path), "--out", str(out), "--n-samples", "40",
                 "--w", "3", "--steps-list", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((out / "digits_control.json").read_text())
    assert result["curve"] == "denoiser_gap" and 0 < result["window"]["sigma_lo"] < result["window"]["sigma_hi"]
    assert {r["kind"] for r in result["front"]} >= {"none", "cfg", "recommended"}
    assert {r["n_steps"] for r in result["schedules"]} >= {4}
    for f in ("digits_control.md", "control_digits_front.png", "control_digits_schedules.png"):
        assert (out / f).exists()
    assert main(["bridge", "digits-control", "--model", str(path), "--out", str(out), "--fraction", "1.5"]) != 0
    assert "--fraction must lie in (0, 1)" in capsys.readouterr().err


@pytest.mark.slow
def test_report_bridge_section_quick(tmp_path):
    # the report's bridge section end to end at its quick size: bias table, tiny digits model, digits control
    from gmmtheory.report.bridge import section_bridge

    md = section_bridge(tmp_path, "quick")
    for heading in ("## Bridge", "### Tracker bias", "### Digits", "### Time-localized control on the digits model"):
        assert heading in md
    for line in md.splitlines():
        if line.startswith("!["):
            assert (tmp_path / line.split("(")[1].rstrip(")")).exists(), line
    assert json.loads((tmp_path / "digits_control.json").read_text())["curve"] == "denoiser_gap"
