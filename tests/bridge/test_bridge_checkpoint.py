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


# ---------------------------------------------------- the SD1.5 / EDM2 loaders share this code (issue 16)


def _sd15_abar32() -> np.ndarray:
    """SD1.5's ᾱ as diffusers stores it (float32): β = linspace(√0.00085, √0.012, 1000)², ᾱ_t = Π_{s≤t} (1 − β_s)."""
    abar = np.cumprod(1.0 - np.linspace(np.sqrt(0.00085), np.sqrt(0.012), 1000) ** 2)
    return abar.astype(np.float32).astype(np.float64)


def _diffusers_stand_in(abar, s0):
    """A diffusers-signature "UNet" predicting the exact ε̂ of x_0 ~ N(0, s0² I) at integer timesteps only."""
    class UNet(torch.nn.Module):
        def forward(self, sample, timestep, return_dict=True):
            t = timestep.reshape(-1)
            assert torch.equal(t, t.round()), "the table levels must reach the network as integer timesteps"
            a = torch.as_tensor(abar, dtype=sample.dtype)[t.long()].reshape(-1, 1)
            return (((1 - a).sqrt() / (a * s0**2 + 1 - a)) * sample,)
    return UNet()


def test_sd15_adapter_uses_the_discrete_schedule_closed_form():
    from gmmtheory.bridge.models import DiffusersDenoiser  # noqa: PLC0415

    abar = _sd15_abar32()
    scheduler = type("Scheduler", (), {"alphas_cumprod": torch.tensor(abar, dtype=torch.float32)})()
    sd = DiffusersDenoiser(_diffusers_stand_in(abar, 0.7), scheduler, shape=(5,))
    assert isinstance(sd.schedule, DiscreteSchedule)
    np.testing.assert_array_equal(sd.schedule.alpha_bar, abar)
    # σ_t = √((1 − ᾱ_t)/ᾱ_t), written here from ᾱ
    table = np.sqrt((1 - abar) / abar)
    np.testing.assert_allclose(sd.sigmas.numpy(), table, rtol=1e-14)
    assert (sd.sigma_min, sd.sigma_max) == (sd.schedule.sigma_min, sd.schedule.sigma_max)
    # t(σ) = n + (ln σ − ln σ_n)/(ln σ_{n+1} − ln σ_n), n = the last level ≤ σ (found by counting, not bisection)
    sig = np.geomspace(table[0], table[-1], 41)[1:-1] * np.exp(np.random.default_rng(3).uniform(-0.01, 0.01, 39))
    n = np.array([int((table <= s).sum()) - 1 for s in sig])
    t_ref = n + (np.log(sig) - np.log(table[n])) / (np.log(table[n + 1]) - np.log(table[n]))
    np.testing.assert_allclose(sd.timestep(sig), t_ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(DiscreteSchedule(abar).timestep(sig), t_ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(sd.timestep(table[[0, 17, 999]]), [0, 17, 999], atol=1e-9)
    np.testing.assert_allclose(sd.sigma_at(t_ref), sig, rtol=1e-12)
    # the same ε-network through both loaders: D = x − σ ε̂ equals the closed form E[x0 | x] = s0²/(s0² + σ²) x
    ck = CheckpointDenoiser(_oracle_module(abar, 0.7, "eps"), shape=(5,), parametrization="eps",
                            schedule=DiscreteSchedule(abar))
    x = 3 * torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    s = torch.as_tensor(table[[0, 400, 999]], dtype=torch.float64)
    want = (0.49 / (0.49 + s**2)).reshape(-1, 1) * x
    torch.testing.assert_close(sd(x, s, None), want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ck(x, s, None), want, rtol=1e-10, atol=1e-12)
    # one σ-range error for all three
    msgs = []
    for call in (lambda: sd(x, 20.0, None), lambda: ck(x, 20.0, None), lambda: DiscreteSchedule(abar).locate(20.0)):
        with pytest.raises(ValueError) as info:
            call()
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1] == msgs[2]
    assert msgs[0].startswith("sigma: 20 is outside the model's range [sigma_min, sigma_max] = [0.0291") \
        and msgs[0].endswith("(1000 discrete steps)")


def test_vp_input_is_sqrt_alpha_bar_times_x():
    from gmmtheory.bridge.models.discrete import vp_input  # noqa: PLC0415

    sch = DiscreteSchedule.linear(1e-4, 0.02, 1000)
    x = torch.randn(3, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    t = np.array([0, 250, 999])
    got = vp_input(x, torch.as_tensor(sch.sigmas[t]))
    torch.testing.assert_close(got, torch.as_tensor(np.sqrt(sch.alpha_bar[t])).reshape(-1, 1, 1) * x,
                               rtol=1e-13, atol=0)


def test_on_path_restores_or_keeps_and_refuses_a_foreign_package(tmp_path):
    from gmmtheory.bridge.models.checkpoint import _on_path  # noqa: PLC0415

    root, sibling = tmp_path / "co", tmp_path / "co-other"   # "co" is a string prefix of "co-other"
    for folder, name in ((root, "h4inside"), (sibling, "h4sibling")):
        folder.mkdir()
        (folder / f"{name}.py").write_text("X = 1\n")
    saved = list(sys.path)
    sys.path.insert(0, str(sibling))
    try:
        with _on_path(root):
            import h4inside  # noqa: F401, PLC0415
            import h4sibling  # noqa: F401, PLC0415
            assert sys.path[0] == str(root.resolve())
        assert "h4inside" not in sys.modules            # imported from the checkout: dropped
        assert "h4sibling" in sys.modules               # from another folder that merely shares the prefix: kept
        assert sys.path == [str(sibling), *saved]
        with _on_path(root, keep=True):
            import h4inside  # noqa: F401, PLC0415, F811
        assert sys.path[0] == str(root.resolve()) and "h4inside" in sys.modules
        with pytest.raises(ValueError, match=r"checkout: a different 'h4sibling' is already imported \(from "):
            with _on_path(root, keep=True, packages=("h4sibling",)):
                pass
    finally:
        sys.path[:] = saved
        for name in ("h4inside", "h4sibling"):
            sys.modules.pop(name, None)


def test_refused_pickle_states_the_shared_trust_boundary(ckpt):
    from gmmtheory.bridge.models.checkpoint import PICKLE_TRUST, TRUST  # noqa: PLC0415

    root, _, _ = ckpt
    with pytest.raises(ValueError) as info:
        load_checkpoint(root, root / "whole.pt", label_mode="index", num_classes=3, shape=(1, 4, 4))
    assert PICKLE_TRUST in str(info.value) and PICKLE_TRUST in TRUST
    assert str(info.value).startswith("weights: ") and "trust_pickle=True" in str(info.value)
