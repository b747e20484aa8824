"""Training of the digits denoiser (EDM loss, Adam, EMA weights), its per-σ loss, and saving/loading the weights.

Loss (EDM): E_{σ, x_0, ε} λ(σ) ‖D(x_0 + σε; σ, z̃) − x_0‖² / d with λ(σ) = (σ² + σ_d²)/(σ σ_d)², σ log-uniform on
[σ_min, σ_max] or log-normal, z̃ the label or (with probability ``label_dropout``) the null label.
``MODEL_SIZES``: the network and measurement presets "tiny" (tests), "default" (minutes on 2 CPU cores), "large"
(a GPU).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory.bridge.base import Measurement
from gmmtheory.bridge.digits.checks import _check_float, _check_points, _check_sigmas, _generator
from gmmtheory.bridge.digits.data import NUM_CLASSES, DigitsData, load_digits_data
from gmmtheory.bridge.digits.network import DigitsConfig, DigitsDenoiser, DigitsNet
from gmmtheory.progress import progress as bar

# Presets: network and training size, then measurement sizes. "default" trains in a few minutes on 2 CPU cores;
# "large" is meant for a GPU; "tiny" is for tests and smoke runs.
MODEL_SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(steps=200, batch_size=128, width=64, depth=2, emb_dim=32, lr=2e-3,
                 n_samples=128, sampler_steps=16, n_noise=1, gap_points=200, n_sigmas=16,
                 empirical_per_point=2, surrogate_samples=2**10),
    "default": dict(steps=12000, batch_size=256, width=256, depth=4, emb_dim=128, lr=1e-3,
                    n_samples=1000, sampler_steps=64, n_noise=2, gap_points=1797, n_sigmas=40,
                    empirical_per_point=4, surrogate_samples=2**13),
    "large": dict(steps=40000, batch_size=1024, width=1024, depth=6, emb_dim=256, lr=5e-4,
                  n_samples=5000, sampler_steps=128, n_noise=8, gap_points=1797, n_sigmas=64,
                  empirical_per_point=16, surrogate_samples=2**15),
}

SIZES = MODEL_SIZES  # the name control and older code use


def _check_size(size: object) -> dict[str, Any]:
    if not isinstance(size, str) or size not in MODEL_SIZES:
        raise ValueError(f"size must be one of {tuple(MODEL_SIZES)}; got {size!r}")
    return MODEL_SIZES[size]


def _sample_sigma(config: DigitsConfig, n: int, g: torch.Generator) -> torch.Tensor:
    u = torch.rand(n, generator=g, dtype=torch.float64)
    if config.sigma_sampling == "loguniform":
        lo, hi = math.log(config.sigma_min), math.log(config.sigma_max)
        return torch.exp(lo + (hi - lo) * u)
    z = torch.randn(n, generator=g, dtype=torch.float64)
    return torch.exp(config.p_mean + config.p_std * z)


def _edm_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """λ(σ) = (σ² + σ_d²)/(σ σ_d)²: makes the loss at every σ the unit-variance error of F."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def train_digits(
    *,
    steps: int = MODEL_SIZES["default"]["steps"],
    batch_size: int = MODEL_SIZES["default"]["batch_size"],
    width: int = MODEL_SIZES["default"]["width"],
    depth: int = MODEL_SIZES["default"]["depth"],
    emb_dim: int = MODEL_SIZES["default"]["emb_dim"],
    lr: float = MODEL_SIZES["default"]["lr"],
    label_dropout: float = 0.15,
    sigma_sampling: str = "loguniform",
    ema_decay: float = 0.999,
    seed: int = 0,
    device: str | torch.device = "cpu",
    data: DigitsData | None = None,
    progress: bool = False,
    log_every: int = 100,
) -> tuple[DigitsDenoiser, dict[str, list[float]]]:
    """Train a class-conditional ``DigitsDenoiser`` with label dropout on the digits (EDM loss, Adam, EMA weights).

    Loss per batch: mean_n λ(σ_n) ‖D(x_0n + σ_n ε_n; σ_n, z̃_n) − x_0n‖² / d, σ from ``sigma_sampling``, z̃ the label
    or (with probability ``label_dropout``) the null label. Adam with learning rate ``lr``, linear warm-up over the
    first 5 % of steps and cosine decay to 0; the returned model holds the exponential moving average of the weights
    (``ema_decay``). All randomness comes from ``seed`` (torch.Generator on the CPU), so a run is reproducible on a
    given device. On the CPU the run uses at most 2 threads (``torch.set_num_threads``) unless fewer are set.

    Returns:
        (model, history) — history: ``step``, ``loss`` (mean training loss over each ``log_every`` steps),
        ``seconds`` (wall time at each log point), and ``config`` is model.config.
    """
    steps = check_count("steps", steps, 1)
    batch_size = check_count("batch_size", batch_size, 1)
    lr = _check_float(lr, "lr", 0.0, 1.0, open_lo=True)
    ema_decay = _check_float(ema_decay, "ema_decay", 0.0, 1.0, open_hi=True)
    log_every = check_count("log_every", log_every, 1)
    g = _generator(seed)
    if data is None:
        data = load_digits_data()
    elif not isinstance(data, DigitsData):
        raise ValueError(f"data must be a DigitsData (from load_digits_data) or None; got {type(data).__name__}")
    try:
        dev = torch.device(device)
    except (TypeError, RuntimeError):
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda'; got {device!r}") from None
    config = DigitsConfig(width=width, depth=depth, emb_dim=emb_dim, num_classes=NUM_CLASSES, d=data.x.shape[1],
                          sigma_data=data.sigma_data, label_dropout=label_dropout, sigma_sampling=sigma_sampling,
                          scale=data.scale,
                          class_weights=tuple(np.bincount(data.labels, minlength=NUM_CLASSES) / data.labels.size))
    if dev.type == "cpu" and torch.get_num_threads() > 2:
        torch.set_num_threads(2)
    torch.manual_seed(int(seed))  # parameter initialisation
    net = DigitsNet(config).to(dev)
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps))
    )
    X = torch.as_tensor(data.x, dtype=torch.float32)
    Y = torch.as_tensor(data.labels, dtype=torch.long)
    n = X.shape[0]
    history: dict[str, list[float]] = {"step": [], "loss": [], "seconds": []}
    running, count, t0 = torch.zeros((), device=dev), 0, time.perf_counter()
    ema_params, net_params = list(ema.parameters()), list(net.parameters())
    iterator = bar(range(steps), "training digits denoiser", total=steps) if progress else range(steps)
    for step in iterator:
        idx = torch.randint(0, n, (batch_size,), generator=g)
        x0, lab = X[idx], Y[idx].clone()
        drop = torch.rand(batch_size, generator=g) < config.label_dropout
        lab[drop] = config.num_classes
        sigma = _sample_sigma(config, batch_size, g).to(torch.float32)
        eps = torch.randn(x0.shape, generator=g)
        x0, lab, sigma, eps = x0.to(dev), lab.to(dev), sigma.to(dev), eps.to(dev)
        D = net(x0 + sigma[:, None] * eps, sigma, lab)
        loss = (_edm_weight(sigma, config.sigma_data) * ((D - x0) ** 2).mean(dim=1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            decay = min(ema_decay, (1 + step) / (10 + step))  # short runs: warm-up of the average
            torch._foreach_lerp_(ema_params, net_params, 1 - decay)
            running += loss.detach()
        count += 1
        if (step + 1) % log_every == 0 or step + 1 == steps:  # the only host synchronisation
            history["step"].append(step + 1)
            history["loss"].append(float(running) / count)
            history["seconds"].append(time.perf_counter() - t0)
            running, count = torch.zeros((), device=dev), 0
    return DigitsDenoiser(ema, device=dev), history


def denoising_loss(
    model: DigitsDenoiser | Any,
    x0: object,
    labels: object | None,
    sigmas: object,
    *,
    n_noise: int = 1,
    seed: int = 0,
) -> Measurement:
    """The EDM-weighted denoising loss per σ: L(σ) = E λ(σ) ‖D(x_0 + σε; σ, z) − x_0‖² / d, with its standard error.

    ``model`` is any ``Denoiser`` (λ uses its ``sigma_data``); ``labels`` None evaluates the unconditional denoiser.
    The same ε (``n_noise`` draws per point, from ``seed``) serve every σ and every model (paired comparisons).
    The baseline a trained model must beat is the trivial denoiser D = c_skip x, which is exactly what an untrained
    ``DigitsNet`` computes (its output layer starts at zero, F = 0).
    """
    X, y = _check_points(x0, np.zeros(np.shape(x0)[0], dtype=np.int64) if labels is None else labels, "x0")
    s = _check_sigmas(sigmas)
    n_noise = check_count("n_noise", n_noise, 1)
    g = _generator(seed)
    sd = float(model.sigma_data)
    Xt = torch.as_tensor(X, dtype=model.dtype, device=model.device)
    lab = None if labels is None else torch.as_tensor(y, device=model.device)
    vals, errs = [], []
    eps_all = [torch.randn(Xt.shape, generator=g, dtype=torch.float64).to(device=model.device, dtype=model.dtype)
               for _ in range(n_noise)]
    for sig in s:
        per = []
        for eps in eps_all:
            D = model(Xt + float(sig) * eps, float(sig), lab)
            per.append((((D - Xt) ** 2).mean(dim=1) * (sig**2 + sd**2) / (sig * sd) ** 2).double().cpu().numpy())
        per_point = np.mean(per, axis=0)
        vals.append(per_point.mean())
        errs.append(per_point.std(ddof=1) / math.sqrt(per_point.size) if per_point.size > 1 else 0.0)
    return Measurement(s, np.asarray(vals), np.asarray(errs), "loss", "edm_weighted_mse",
                       {"n_points": int(X.shape[0]), "n_noise": n_noise, "seed": int(seed),
                        "conditional": labels is not None})


def save_model(model: DigitsDenoiser, path: str | Path, history: dict | None = None) -> Path:
    """Write the network's state_dict and config (and the training history) with ``torch.save``."""
    if not isinstance(model, DigitsDenoiser):
        raise ValueError(f"model must be a DigitsDenoiser; got {type(model).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = asdict(model.config)
    cfg["scale"] = list(cfg["scale"])
    if cfg["class_weights"] is not None:
        cfg["class_weights"] = list(cfg["class_weights"])
    state = {k: v.detach().cpu() for k, v in model.net.state_dict().items()}
    torch.save({"format": "gmmtheory.digits/1", "config": cfg, "state_dict": state,
                "history": history or {}}, path)
    return path


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> tuple[DigitsDenoiser, dict]:
    """Read a model written by ``save_model`` (``weights_only=True``). Returns (model, history)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path must be an existing file written by save_model; got {str(path)!r}")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != "gmmtheory.digits/1":
        raise ValueError(f"path {str(path)!r} is not a digits model written by save_model")
    cfg = dict(blob["config"])
    cfg["scale"] = tuple(cfg["scale"])
    if cfg.get("class_weights") is not None:
        cfg["class_weights"] = tuple(cfg["class_weights"])
    net = DigitsNet(DigitsConfig(**cfg))
    net.load_state_dict(blob["state_dict"])
    return DigitsDenoiser(net, device=device), dict(blob.get("history", {}))
