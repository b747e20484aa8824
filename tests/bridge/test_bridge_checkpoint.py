"""load_checkpoint: both file formats, schedules against closed forms, interpolation, bad input, CLI, real models."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gmmtheory.bridge.models.checkpoint import CheckpointDenoiser, load_checkpoint  # noqa: E402
from gmmtheory.bridge.models.discrete import DiscreteSchedule, parse_schedule  # noqa: E402
from gmmtheory.cli.checkpoint_options import (  # noqa: E402
    add_checkpoint_arguments,
    checkpoint_from_args,
    checkpoint_kwargs_from_args,
)
from gmmtheory.cli.main import main  # noqa: E402

NET_SRC = textwrap.dedent('''
    import torch

    class Net(torch.nn.Module):
        """out = conv(x) * (1 + t) + label embedding; labels index (n,) or one-hot (n, K)."""
        def __init__(self, channels=1, num_classes=3, inner=None):
            super().__init__()
            self.conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
            self.emb = torch.nn.Linear(num_classes, channels) if num_classes else None
            self.inner = inner
        def forward(self, x, t, labels=None):
            t = t.reshape(-1).to(x.dtype).reshape(-1, 1, 1, 1)
            out = self.conv(x) * (1 + t)
            if labels is not None:
                oh = labels if labels.is_floating_point() else torch.nn.functional.one_hot(labels, 3).to(x.dtype)
                out = out + self.emb(oh)[:, :, None, None]
            return out
        def backward(self, x, t):
            assert t.shape == (x.shape[0], 1) and t.dtype == torch.long
            return self.forward(x, t.float() / 1000)

    class Lin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.zeros(()))
        def forward(self, x, t):
            return x * 0 + t.reshape(-1, 1, 1, 1).to(x.dtype)

    def make(channels=1):
        return Net(channels=channels, num_classes=0)
''')


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkout")
    (root / "h4pkg").mkdir()
    (root / "h4pkg" / "__init__.py").write_text("")
    (root / "h4pkg" / "nets.py").write_text(NET_SRC)
    sys.path.insert(0, str(root))
    try:
        import h4pkg.nets as nets  # noqa: PLC0415
        torch.manual_seed(0)
        net = nets.Net()
        torch.save(net, root / "whole.pt")
        torch.save({"model." + k: v for k, v in net.state_dict().items()}, root / "sd.pt")
        uncond = nets.make()
        torch.save(uncond.state_dict(), root / "uncond.pt")
        ref, ref_u = net.eval(), uncond.eval()
    finally:
        sys.path.remove(str(root))
        for m in [m for m in sys.modules if m.startswith("h4pkg")]:
            del sys.modules[m]
    return root, ref, ref_u


def _x(n=3, seed=1):
    return torch.randn(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed))


def test_pickle_and_factory_round_trip(ckpt):
    root, ref, _ = ckpt
    x, s, lab = _x(), torch.tensor([0.1, 1.0, 5.0]), torch.tensor([0, 2, 1])
    with torch.no_grad():
        want = ref(x, s, lab)
    d1 = load_checkpoint(root, root / "whole.pt", trust_pickle=True, label_mode="index", num_classes=3,
                         shape=(1, 4, 4))
    d2 = load_checkpoint(root, root / "sd.pt", factory="h4pkg.nets:Net", kwargs='{"num_classes": 3}',
                         strip_prefix="model.", label_mode="onehot", num_classes=3, shape=(1, 4, 4))
    assert "h4pkg" not in sys.modules and str(root) not in sys.path
    torch.testing.assert_close(d1(x, s, lab), want, rtol=0, atol=0)
    torch.testing.assert_close(d2(x, s, lab), want, rtol=1e-6, atol=1e-6)
    # ε-parametrisation: D = x − σ ε̂; log_sigma time
    d3 = load_checkpoint(root, root / "whole.pt", trust_pickle=True, parametrization="eps", time="log_sigma",
                         label_mode="index", num_classes=3, shape=(1, 4, 4))
    with torch.no_grad():
        torch.testing.assert_close(d3(x, s, lab), x - s.view(-1, 1, 1, 1) * ref(x, torch.log(s), lab))


def test_separate_uncond_model_and_function_factory(ckpt):
    root, ref, ref_u = ckpt
    d = load_checkpoint(root, root / "whole.pt", trust_pickle=True, label_mode="index", num_classes=3,
                        shape=(1, 4, 4), uncond={"checkout": root, "weights": root / "uncond.pt",
                                                 "factory": "h4pkg.nets:make", "parametrization": "eps"})
    x, s = _x(), torch.tensor([0.1, 1.0, 5.0])
    with torch.no_grad():
        torch.testing.assert_close(d(x, s, None), x - s.view(-1, 1, 1, 1) * ref_u(x, s))
    with pytest.raises(ValueError, match="conditional only"):
        load_checkpoint(root, root / "whole.pt", trust_pickle=True, label_mode="index", num_classes=3,
                        shape=(1, 4, 4))(x, s, None)


def test_nested_factory_kwargs(ckpt):
    root, ref, _ = ckpt
    kw = {"num_classes": 3, "inner": {"__factory__": "h4pkg.nets:Lin"}}
    sd = {**ref.state_dict(), "inner.a": torch.zeros(())}
    torch.save(sd, root / "nested.pt")
    d = load_checkpoint(root, root / "nested.pt", factory="h4pkg.nets:Net", kwargs=json.dumps(kw),
                        label_mode="index", num_classes=3, shape=(1, 4, 4))
    assert type(d.module.inner).__name__ == "Lin"


def test_schedule_closed_forms():
    sch = DiscreteSchedule.linear(1e-4, 0.02, 1000)
    beta = np.linspace(1e-4, 0.02, 1000)
    abar = np.cumprod(1 - beta)
    np.testing.assert_allclose(sch.alpha_bar, abar, rtol=1e-14)
    np.testing.assert_allclose(1 / (1 + sch.sigmas**2), abar, rtol=1e-12)   # ᾱ = 1/(1+σ²)
    np.testing.assert_allclose(parse_schedule("linear:1e-4,0.02,1000").alpha_bar, abar, rtol=1e-14)
    lo, hi, w = sch.locate(sch.sigmas[[3, 500]], "step")
    np.testing.assert_allclose(w, 0, atol=1e-9)
    mid = 0.5 * (sch.sigmas[10] + sch.sigmas[11])
    lo, hi, w = sch.locate(mid, "step")
    assert (lo[0], hi[0]) == (10, 11) and abs(w[0] - 0.5) < 1e-12
    gm = np.sqrt(sch.sigmas[10] * sch.sigmas[11])
    assert abs(sch.locate(gm, "log_sigma")[2][0] - 0.5) < 1e-12
    assert sch.locate(gm * 0.999, "nearest")[0][0] == 10 and sch.locate(gm * 1.001, "nearest")[0][0] == 11


def _oracle_module(abar, s0, mode):
    """A discrete net returning the exact ε̂ / x̂0 of x_0 ~ N(0, s0² I) from x_t = √ᾱ x0 + √(1−ᾱ) ε."""
    class Oracle(torch.nn.Module):
        def forward(self, xt, t):
            a = torch.as_tensor(abar, dtype=xt.dtype)[t.reshape(-1)].reshape(-1, 1)
            var = a * s0**2 + (1 - a)                      # Var x_t
            x0 = (a.sqrt() * s0**2 / var) * xt              # E[x0 | x_t]
            eps = ((1 - a).sqrt() / var) * xt               # E[ε | x_t]
            return {"eps": eps, "x0": x0, "v": a.sqrt() * eps - (1 - a).sqrt() * x0}[mode]
    return Oracle()


@pytest.mark.parametrize("mode", ["eps", "x0", "v"])
def test_discrete_parametrisations_give_exact_gaussian_denoiser(mode):
    sch = DiscreteSchedule.linear(1e-4, 0.02, 1000)
    s0 = 0.7
    d = CheckpointDenoiser(_oracle_module(sch.alpha_bar, s0, mode), shape=(5,), parametrization=mode,
                           schedule=sch)
    x0 = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * s0
    for t in (0, 100, 999):
        sig = float(sch.sigmas[t])
        x = x0 + sig * torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(t))
        want = s0**2 / (s0**2 + sig**2) * x                  # E[x0 | x0 + σ ε = x]
        torch.testing.assert_close(d(x, sig, None), want, rtol=1e-10, atol=1e-12)


def test_interpolation_between_steps():
    sch = DiscreteSchedule.linear(1e-4, 0.02, 1000)

    class Step(torch.nn.Module):   # output = t (the step index), independent of x: interpolation visible directly
        def forward(self, x, t):
            return torch.zeros_like(x) + t.reshape(-1, 1).to(x.dtype)

    sig = np.sqrt(sch.sigmas[40] * sch.sigmas[41])
    for interp, at, want in (("nearest", sig * 0.99, 40.0), ("nearest", sig * 1.01, 41.0), ("log_sigma", sig, 40.5),
                             ("step", sig, 40 + (sig - sch.sigmas[40]) / (sch.sigmas[41] - sch.sigmas[40]))):
        d = CheckpointDenoiser(Step(), shape=(2,), schedule=sch, interpolation=interp)
        got = float(d(torch.zeros(1, 2, dtype=torch.float64), at, None)[0, 0])
        assert abs(got - want) < 1e-9, (interp, got, want)


def test_bad_inputs(ckpt, tmp_path):
    root, _, _ = ckpt
    kw = {"label_mode": "index", "num_classes": 3, "shape": (1, 4, 4)}
    cases = [
        (FileNotFoundError, "checkout", lambda: load_checkpoint(tmp_path / "nope", root / "whole.pt", **kw)),
        (FileNotFoundError, "weights", lambda: load_checkpoint(root, root / "nope.pt", **kw)),
        (ValueError, "trust_pickle", lambda: load_checkpoint(root, root / "whole.pt", **kw)),
        (ValueError, "factory", lambda: load_checkpoint(root, root / "sd.pt", factory="h4pkg.nets", **kw)),
        (ValueError, "no attribute", lambda: load_checkpoint(root, root / "sd.pt", factory="h4pkg.nets:Nope", **kw)),
        (ValueError, "cannot import", lambda: load_checkpoint(root, root / "sd.pt", factory="nopkg_h4:X", **kw)),
        (ValueError, "missing keys", lambda: load_checkpoint(root, root / "sd.pt", factory="h4pkg.nets:Net", **kw)),
        (ValueError, "not a weights-only", lambda: load_checkpoint(root, root / "whole.pt", factory="h4pkg.nets:Net",
                                                                    **kw)),
        (ValueError, "kwargs", lambda: load_checkpoint(root, root / "sd.pt", factory="h4pkg.nets:Net", kwargs="{x",
                                                       **kw)),
        (ValueError, "parametrization", lambda: load_checkpoint(root, root / "whole.pt", parametrization="F", **kw)),
        (ValueError, "schedule", lambda: load_checkpoint(root, root / "whole.pt", schedule="cosine", **kw)),
        (ValueError, "call", lambda: load_checkpoint(root, root / "whole.pt", trust_pickle=True, call="nope", **kw)),
    ]
    for exc, match, fn in cases:
        with pytest.raises(exc, match=match) as info:
            fn()
        assert "\n" not in str(info.value), str(info.value)
    d = load_checkpoint(root, root / "whole.pt", trust_pickle=True, sigma_max=10.0, **kw)
    x = _x()
    for match, call in (("outside the model's range", lambda: d(x, 20.0, 0)),
                        ("label", lambda: d(x, 1.0, torch.nn.functional.one_hot(torch.tensor([0, 1, 2]), 3))),
                        ("label", lambda: d(x, 1.0, 3)),
                        ("x: expected shape", lambda: d(torch.zeros(3, 1, 5, 5), 1.0, 0))):
        with pytest.raises(ValueError, match=match) as info:
            call()
        assert "\n" not in str(info.value)
    dd = CheckpointDenoiser(torch.nn.Linear(2, 2), shape=(2,), schedule="linear:1e-4,0.02,1000")
    with pytest.raises(ValueError, match=r"outside the model's range \[sigma_min, sigma_max\]"):
        dd(torch.zeros(1, 2), 200.0, None)


def test_cli_inspect(ckpt, capsys):
    root, _, _ = ckpt
    rc = main(["bridge", "inspect", "--checkout", str(root), "--weights", str(root / "sd.pt"), "--factory",
               "h4pkg.nets:Net", "--kwargs", '{"num_classes": 3}', "--strip-prefix", "model.", "--label-mode",
               "index", "--num-classes", "3", "--shape", "1,4,4", "--sigmas", "0.1,1", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["parameters"] == (9 + 1) + (3 + 1) and [r["sigma"] for r in res["calls"]] == [0.1, 1.0]
    assert all(r["finite"] for r in res["calls"])
    rc = main(["bridge", "inspect", "--checkout", str(root), "--weights", str(root / "whole.pt"), "--shape", "1,4,4",
               "--label-mode", "index", "--num-classes", "3"])
    assert rc == 2 and "trust_pickle" in capsys.readouterr().err


def _models_dir() -> Path:
    env = os.environ.get("GMMTHEORY_TEST_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "models"


@pytest.mark.slow
def test_real_mnist_models(tmp_path):
    root = _models_dir()
    dit, ddpm = root / "mnist-dit-edm", root / "mnist-ddpm-uncond"
    if not (dit / "result" / "model" / "edm-11000.pth").is_file() or not (ddpm / "ddpm" / "ddpm_mnist.pt").is_file():
        pytest.skip(f"real MNIST checkpoints not found under {root} (set GMMTHEORY_TEST_MODELS)")
    u = load_checkpoint(ddpm, ddpm / "ddpm" / "ddpm_mnist.pt", factory="ddpm.models:MyDDPM",
                        kwargs={"network": {"__factory__": "ddpm.models:MyUNet"}, "n_steps": 1000, "device": "cpu"},
                        call="backward", parametrization="eps", schedule="linear:1e-4,0.02,1000",
                        timestep_shape="column", data_range=(-1, 1))
    d = load_checkpoint(dit, dit / "result" / "model" / "edm-11000.pth", trust_pickle=True, parametrization="edm",
                        label_mode="index", num_classes=10, data_range=(-1, 1), uncond=u)
    # the same network rebuilt from the checkout's classes + its state dict (built here, in tmp_path)
    torch.save(d.module.state_dict(), tmp_path / "edm_sd.pt")
    kw = {"sigma_data": 0.5, "model": {"__factory__": "models.dit:DiT", "kwargs": {
        "img_size": 28, "patch_size": 4, "channel": 1, "emb_size": 64, "label_num": 10, "dit_num": 3, "head": 4}}}
    d2 = load_checkpoint(dit, tmp_path / "edm_sd.pt", factory="models.EDM_Precond:EDMPrecond", kwargs=kw,
                         parametrization="edm", label_mode="index", num_classes=10)
    x = -1 + 0.5 * torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    lab = torch.tensor([0, 3, 7, 9])
    a, b, c = d(x, 0.5, lab), d2(x, 0.5, lab), d(x, 0.5, None)
    torch.testing.assert_close(a, b)
    assert c.shape == x.shape and bool(torch.isfinite(c).all())
    # a blank (all −1) image with σ = 0.5 noise: both models pull D back towards the data range
    assert float(a.mean()) < -0.5 and float(c.mean()) < -0.5


def test_checkpoint_options_with_uncond_prefix(ckpt):
    root, ref, ref_u = ckpt
    p = argparse.ArgumentParser()
    add_checkpoint_arguments(p)
    add_checkpoint_arguments(p, prefix="uncond-", required=False)
    args = p.parse_args(["--checkout", str(root), "--weights", str(root / "whole.pt"), "--trust-pickle",
                         "--label-mode", "index", "--num-classes", "3", "--shape", "1,4,4",
                         "--uncond-checkout", str(root), "--uncond-weights", str(root / "uncond.pt"),
                         "--uncond-factory", "h4pkg.nets:make", "--uncond-shape", "1,4,4"])
    d = checkpoint_from_args(args, uncond=checkpoint_kwargs_from_args(args, "uncond-"))
    x, s = _x(), torch.tensor([0.1, 1.0, 5.0])
    with torch.no_grad():
        torch.testing.assert_close(d(x, s, None), ref_u(x, s))
        torch.testing.assert_close(d(x, s, 1), ref(x, s, torch.ones(3, dtype=torch.long)))
    assert checkpoint_kwargs_from_args(p.parse_args(["--weights", "w.pt"]), "uncond-") is None
    with pytest.raises(ValueError, match="trust-pickle"):
        checkpoint_kwargs_from_args(p.parse_args(["--weights", "w.pt", "--factory", "a:b", "--trust-pickle"]))
