"""Edges of ``gmmtheory bridge``: every option acts or is refused, one-line errors without torch, the figure's
error bands in their own line's colour, the default σ grid inside a diffusers model's range, EDM2's trust boundary.

Independent references: EDM's ρ-grid and the DDPM σ table recomputed here in numpy from their formulas.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from gmmtheory.cli import main

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs torch (gmmtheory[bridge])")


def edm_grid(n: int, smin: float = 0.002, smax: float = 80.0, rho: float = 7.0) -> np.ndarray:
    """σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, i = 0..N−1 (Karras et al. 2022, eq. 5)."""
    i = np.arange(n) / (n - 1)
    return (smax ** (1 / rho) + i * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho


# ------------------------------------------------------------------------------------ options act or are refused
COMMANDS = {
    "gmm": ["bridge", "gmm", "--d", "4"],
    "digits": ["bridge", "digits", "--size", "tiny"],
    "digits-control": ["bridge", "digits-control", "--size", "tiny"],
    "sd15": ["bridge", "sd15", "--path", "nowhere", "--prompts", "a cat|a dog"],
    "edm2": ["bridge", "edm2", "--checkout", "nowhere", "--cond", "a.pkl", "--uncond", "b.pkl", "--classes", "0,1"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_bridge_without_torch_is_one_line_with_the_install_hint(name, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError, as without torch
    rc = main([*COMMANDS[name], "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: gmmtheory bridge") and "needs torch, which is not installed" in err
    assert "pip install 'gmmtheory[bridge]'" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_bridge_command_functions_check_torch_themselves(name, tmp_path, monkeypatch):
    # called without gmmtheory.cli.main's own check (e.g. from Python): the same one-line hint as a ValueError,
    # raised before any torch-using module is imported
    from gmmtheory.cli import build_parser

    args = build_parser().parse_args([*COMMANDS[name], "--out", str(tmp_path / "out")])
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ValueError) as exc:
        args.func(args)
    assert str(exc.value) == (f"gmmtheory bridge {name} needs torch, which is not installed: "
                              "pip install 'gmmtheory[bridge]'")


def test_sd15_without_transformers_names_its_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "transformers", None)
    if HAS_TORCH and importlib.util.find_spec("diffusers") is None:
        pytest.skip("needs diffusers")
    if not HAS_TORCH:
        pytest.skip("needs torch")
    assert main(COMMANDS["sd15"]) == 2
    assert capsys.readouterr().err.strip().endswith("needs transformers, which is not installed: "
                                                    "pip install 'gmmtheory[sd15]'")


@pytest.mark.parametrize("argv, message", [
    (["bridge", "gmm", "--preset", "two", "--K", "3"], "--K applies to --preset kclasses only"),
    (["bridge", "gmm", "--steps", "0"], "--steps must be an integer ≥ 1"),
    (["bridge", "gmm", "--batch-size", "0"], "--batch-size must be an integer ≥ 1"),
    (["bridge", "digits", "--model", "m.pt", "--train-steps", "10"], "--train-steps trains a new model"),
    (["bridge", "digits-control", "--model", "m.pt", "--size", "tiny"], "--size picks the model to train"),
    (["bridge", "digits-control", "--curve", "tracker"], "--curve tracker is read from --comparison"),
])
def test_options_that_would_be_ignored_are_refused(argv, message, tmp_path, monkeypatch, capsys):
    # refused before anything is imported or computed (the command functions check them before importing torch)
    from gmmtheory.cli import build_parser

    args = build_parser().parse_args([*argv, "--out", str(tmp_path / "out")])
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ValueError, match=re.escape(message)):
        args.func(args)
    monkeypatch.undo()
    if not HAS_TORCH:
        return
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


# ------------------------------------------------------------------------------------------ figure colours
@needs_torch
def test_bridge_figure_bands_take_their_own_lines_colour(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgb

    from gmmtheory.report import bridge as pages

    figs = []
    monkeypatch.setattr(pages, "save", lambda fig, out, stem, formats=("png",): figs.append(fig) or [])
    s = np.geomspace(0.01, 80, 12)
    zero, err = np.zeros(12), np.full(12, 0.02)
    # the exact curve has no band (stderr 0); the next curves have one each
    curves = {"exact": (s, np.tanh(s), zero), "denoiser gap": (s, np.tanh(s) + 0.05, err),
              "tracker": (s, np.tanh(s) - 0.05, 2 * err), "exact again": (s, np.tanh(s) + 0.1, zero),
              "corrected": (s, np.tanh(s) - 0.1, err)}
    pages.entropy_figure(curves, tmp_path, "t", "title", sigma_s=1.0)
    (ax,) = figs[0].axes
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
    banded = [name for name, (_, _, e) in curves.items() if np.any(e > 0)]
    assert len(polys) == len(banded) == 3
    for name, poly in zip(banded, polys):
        v, e = curves[name][1], curves[name][2]
        ys = poly.get_paths()[0].vertices[:, 1]
        assert ys.min() == pytest.approx((v - 2 * e).min()) and ys.max() == pytest.approx((v + 2 * e).max())
        assert tuple(poly.get_facecolor()[0][:3]) == pytest.approx(to_rgb(lines[name].get_color())), name


# ------------------------------------------------------------------------ default σ grid of a diffusers model
@needs_torch
def test_default_grid_is_the_diffusers_models_own_range(monkeypatch):
    diffusers = pytest.importorskip("diffusers")
    import torch

    from gmmtheory.bridge import estimators
    from gmmtheory.bridge.estimators import tracker
    from gmmtheory.bridge.models import DiffusersDenoiser
    from gmmtheory.bridge.sampling import edm_sigmas, model_sigmas

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny UNet: threads only contend
    try:
        torch.manual_seed(0)
        unet = diffusers.UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                                     layers_per_block=1, norm_num_groups=8, num_class_embeds=4,
                                     down_block_types=("DownBlock2D", "DownBlock2D"),
                                     up_block_types=("UpBlock2D", "UpBlock2D")).eval()
        scheduler = diffusers.DDPMScheduler()  # DDPM's linear β 1e-4 … 0.02, 1000 steps
        model = DiffusersDenoiser(unet, scheduler, null_label=3)
        acp = scheduler.alphas_cumprod.double().numpy()  # diffusers keeps ᾱ in float32: the model's real table
        table = np.sqrt((1.0 - acp) / acp)
        assert table[0] == pytest.approx(0.0100, rel=1e-3) and table[-1] == pytest.approx(157.4, rel=1e-3)
        grid = model_sigmas(model)  # the estimators' default
        np.testing.assert_allclose(grid[:-1], edm_grid(64, table[0], table[-1]), rtol=1e-12)
        assert grid[-1] == 0.0
        x = torch.randn(64, 3, 8, 8)
        with torch.no_grad():
            # the whole default grid is accepted by the model (one batched call), EDM's fixed grid is not
            assert torch.isfinite(model(x, torch.as_tensor(grid[:-1], dtype=torch.float32), None)).all()
            with pytest.raises(ValueError, match=r"sigma: 0\.002 is outside the model's range \[sigma_min, "):
                model(x[:1], float(edm_sigmas(64)[-2]), None)  # 0.002 < 0.01
            # the tracker takes its default from the model's range (4 steps here to keep the test short)
            monkeypatch.setattr(tracker, "model_sigmas", lambda mdl: model_sigmas(mdl, 4))
            m = estimators.tracker_entropy(model, n_samples=2, generator=0)
        np.testing.assert_allclose(m.sigma, np.sort(edm_grid(4, table[0], table[-1])), rtol=1e-12)
        assert m.meta["steps"] == 4 and np.all(np.isfinite(m.value))
        assert np.all(m.value >= -1e-6) and np.all(m.value <= np.log(3) + 1e-6)
    finally:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------- EDM2 trust boundary
def test_edm2_help_and_readme_state_the_trust_boundary(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bridge", "edm2", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Trust boundary" in text and "unpickled" in text
    assert "unpickling a file can run any code it contains" in text
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    bridge = readme[readme.index("## The bridge"):]
    assert "**Trust boundary**" in bridge and "unpickling a file can run any code" in " ".join(bridge.split())
