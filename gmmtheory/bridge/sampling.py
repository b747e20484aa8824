"""Reverse-process samplers for any ``Denoiser`` (EDM convention x_σ = x_0 + σ ε), with hooks for estimators.

One step goes from σ_c to σ_n < σ_c along a decreasing grid, using the (guided) denoiser output D = D(x_c, σ_c):

- stochastic (ancestral) step, the exact Gaussian bridge step given X_0 = D:
      r = σ_n²/σ_c²,   x_n = r x_c + (1 − r) D + s̃ ξ,   s̃² = (σ_c² − σ_n²) σ_n²/σ_c²,   ξ ~ N(0, I);
  this is the law of X_{σ_n} given X_{σ_c} = x_c and X_0 = D (Brownian bridge), so with an exact denoiser the
  only error is that x_0's posterior spread around D is ignored (it vanishes as the steps shrink);
- deterministic probability-flow step, dx/dσ = (x − D(x, σ))/σ:
      Euler  x_n = x_c + (σ_n − σ_c) d_c,  d_c = (x_c − D)/σ_c;
      Heun   x̃ = Euler step,  d_n = (x̃ − D(x̃, σ_n))/σ_n,  x_n = x_c + (σ_n − σ_c)(d_c + d_n)/2
             (EDM's Algorithm 1; the second evaluation is skipped when σ_n = 0).

Guidance (classifier-free, Ho & Salimans; interval: Kynkäänniemi et al., arXiv 2404.07724), with D_u the
unconditional and D_z the conditional denoiser:
      D_w = D_u + w (D_z − D_u), evaluated as D_z + (w − 1)(D_z − D_u),
applied only while σ lies in the open interval (σ_lo, σ_hi) when ``interval`` is given, D_z elsewhere; w = 1 is
the plain conditional sampler (one evaluation per step). Same conventions as ``gmmtheory.dynamics``.

Initial state at σ_0 = sigmas[0] (``init=``):
- ``"marginal"``: an exact draw from p_{σ_0} (or p_{σ_0}(· | label)) via ``model.sample_marginal`` (GMMDenoiser has it);
- ``"noise"``: N(0, (σ_0² + σ_data²) I), matching the marginal's per-coordinate variance for centred data;
- ``"edm"``: N(0, σ_0² I), what EDM's own sampler does;
- ``"auto"`` (default): ``"marginal"`` when the model offers it, else ``"noise"``.

Random numbers are drawn from a torch.Generator (or int seed) on the generator's device, in float64 when the model
computes in float64 and float32 otherwise, then moved to the model's device and dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory.bridge.models.guidance import cfg
from gmmtheory.progress import progress
from gmmtheory.schedules import edm_sigma_grid

__all__ = ["check_sigmas", "edm_sigmas", "make_generator", "model_sigmas", "sample", "step_coefficients"]

INITS = ("auto", "marginal", "noise", "edm")
Callback = Callable[[int, float, float, torch.Tensor, torch.Tensor, dict[str, Any]], None]


def edm_sigmas(n_steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> np.ndarray:
    """EDM's ρ-grid with a final 0, for samplers: ``np.append(edm_sigma_grid(n_steps, σ_min, σ_max, ρ), 0.0)``.

    σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, i = 0..N−1, and σ_N = 0: N = n_steps ≥ 1 steps, so
    n_steps + 1 values, strictly decreasing (N = 1 gives [σ_max, 0]). The N nonzero values are
    ``gmmtheory.schedules.edm_sigma_grid`` (the one ρ-grid of the package).
    """
    n_steps = check_count("n_steps", n_steps, 1)
    if n_steps == 1:
        edm_sigma_grid(2, sigma_min, sigma_max, rho)  # the same checks of the range and ρ
        return np.array([float(sigma_max), 0.0])
    return np.append(edm_sigma_grid(n_steps, sigma_min, sigma_max, rho), 0.0)


def model_sigmas(model: Any, n_steps: int = 64, rho: float = 7.0) -> np.ndarray:
    """EDM's ρ-grid inside the model's own noise range: ``edm_sigmas(n_steps, model.sigma_min, model.sigma_max, ρ)``.

    The default grid of the estimators: ``edm_sigmas(64)`` spans EDM's [0.002, 80], which a diffusers DDPM/SD model
    refuses (its table is narrower at the low end, e.g. SD1.5's [0.0292, 14.6]). A model without ``sigma_min``
    gets EDM's 0.002 (capped below its ``sigma_max``)."""
    smax = float(model.sigma_max)
    smin = float(getattr(model, "sigma_min", min(0.002, 0.5 * smax)))
    return edm_sigmas(n_steps, smin, smax, rho)


def check_sigmas(sigmas: object, name: str = "sigmas") -> np.ndarray:
    """Validate a sampling grid: 1-D, ≥ 2 finite values, strictly decreasing, all > 0 except possibly the last (≥ 0)."""
    try:
        s = np.array(sigmas, dtype=np.float64).reshape(-1) if np.ndim(sigmas) <= 1 else None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D sequence of numbers; got {sigmas!r}") from None
    if s is None:
        raise ValueError(f"{name} must be 1-D; got an array with {np.ndim(sigmas)} dimensions")
    if s.size < 2:
        raise ValueError(f"{name} must hold at least 2 noise levels (a start and an end); got {s.size}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} must be finite")
    if not np.all(np.diff(s) < 0):
        raise ValueError(f"{name} must be strictly decreasing (from σ_max down to σ_min or 0); got {s.tolist()}")
    if s[-1] < 0 or np.any(s[:-1] <= 0):
        raise ValueError(f"{name} must be > 0 except possibly the last value, which may be 0; got {s.tolist()}")
    return s


def make_generator(generator: torch.Generator | int | None, name: str = "generator") -> torch.Generator:
    """A torch.Generator from a generator (returned as is), an int seed, or None (seed 0)."""
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None or (isinstance(generator, (int, np.integer)) and not isinstance(generator, bool)):
        g = torch.Generator(device="cpu")
        g.manual_seed(0 if generator is None else int(generator))
        return g
    raise ValueError(f"{name} must be a torch.Generator, an int seed or None; got {type(generator).__name__}")


def randn(shape: tuple[int, ...], generator: torch.Generator, model: Any) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device, returned on the model's device and dtype."""
    work = torch.float64 if model.dtype == torch.float64 else torch.float32
    z = torch.randn(shape, generator=generator, device=generator.device, dtype=work)
    return z.to(device=model.device, dtype=model.dtype)


def step_coefficients(sigma_c: float, sigma_n: float) -> tuple[float, float]:
    """(r, s̃) of the ancestral step: r = σ_n²/σ_c², s̃ = sqrt((σ_c² − σ_n²) σ_n²/σ_c²)."""
    r = (sigma_n / sigma_c) ** 2
    return r, math.sqrt(max(sigma_c**2 - sigma_n**2, 0.0)) * sigma_n / sigma_c


def _check_model(model: Any) -> None:
    missing = [a for a in ("shape", "num_classes", "sigma_data", "device", "dtype") if not hasattr(model, a)]
    if missing or not callable(model):
        raise ValueError("model must implement the Denoiser protocol "
                         f"(callable with {', '.join(missing) or 'attributes'})")


def _labels(model: Any, label: object, n: int) -> torch.Tensor | None:
    if label is None:
        return None
    lab = torch.as_tensor(label)
    if lab.dtype.is_floating_point or lab.dtype == torch.bool:
        raise ValueError(f"label must be None, an int or an integer tensor; got dtype {lab.dtype}")
    if lab.ndim == 0:
        lab = lab.expand(n)
    if lab.shape != (n,):
        raise ValueError(f"label must be an int or have shape ({n},); got shape {tuple(lab.shape)}")
    if int(lab.min()) < 0 or int(lab.max()) >= model.num_classes:
        raise ValueError(f"label must be in 0..{model.num_classes - 1}; got values {int(lab.min())}..{int(lab.max())}")
    return lab.long().to(model.device)


def _check_guidance(guidance: object, interval: object, has_label: bool) -> tuple[float, tuple[float, float]]:
    try:
        w = float(guidance)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"guidance must be a number (w = 1: no guidance); got {guidance!r}") from None
    if not np.isfinite(w):
        raise ValueError(f"guidance must be finite; got {guidance!r}")
    if w != 1.0 and not has_label:
        raise ValueError("guidance ≠ 1 needs a label (classifier-free guidance mixes conditional and unconditional)")
    if interval is None:
        return w, (0.0, math.inf)
    try:
        lo, hi = (float(v) for v in interval)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"interval must be a pair (sigma_lo, sigma_hi) or None; got {interval!r}") from None
    if not (lo >= 0 and hi > lo) or math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"interval must satisfy 0 ≤ sigma_lo < sigma_hi; got {interval!r}")
    return w, (lo, hi)


def guided_denoiser(
    model: Any, x: torch.Tensor, sigma: float, label: torch.Tensor | None, w: float, interval: tuple[float, float]
) -> dict[str, torch.Tensor]:
    """The denoiser outputs of one evaluation: ``denoised`` (the D used) and ``uncond`` / ``cond`` when evaluated."""
    if label is None:
        d = model(x, sigma, None)
        return {"denoised": d, "uncond": d}
    cond = model(x, sigma, label)
    if w == 1.0 or not (interval[0] < sigma < interval[1]):
        return {"denoised": cond, "cond": cond}
    uncond = model(x, sigma, None)
    return {"denoised": cfg(cond, uncond, w), "cond": cond, "uncond": uncond}


def initial_state(
    model: Any, n: int, sigma0: float, generator: torch.Generator, init: str, label: torch.Tensor | None
) -> torch.Tensor:
    """x at σ_0 per ``init`` (see the module docstring)."""
    if init == "auto":
        init = "marginal" if hasattr(model, "sample_marginal") else "noise"
    if init == "marginal":
        if not hasattr(model, "sample_marginal"):
            raise ValueError("init='marginal' needs a model with sample_marginal (e.g. GMMDenoiser); "
                             "use 'noise' or 'edm'")
        lab = None if label is None else label.cpu()
        x, _ = model.sample_marginal(n, sigma0, generator, label=lab)
        return x.to(device=model.device, dtype=model.dtype)
    scale = math.sqrt(sigma0**2 + float(model.sigma_data) ** 2) if init == "noise" else sigma0
    return scale * randn((n, *model.shape), generator, model)


def sample(
    model: Any,
    n: int | torch.Tensor,
    sigmas: object,
    *,
    label: torch.Tensor | int | None = None,
    guidance: float = 1.0,
    interval: tuple[float, float] | None = None,
    stochastic: bool = True,
    solver: str = "heun",
    init: str = "auto",
    x_init: torch.Tensor | None = None,
    generator: torch.Generator | int | None = None,
    batch_size: int = 4096,
    callback: Callback | None = None,
    show_progress: bool = True,
) -> torch.Tensor:
    """Run the reverse process along the decreasing grid ``sigmas`` and return the final states (n, *model.shape).

    Args:
        model: a ``Denoiser`` (D(x, σ, label) ≈ E[X_0 | x, label]).
        n: number of samples, or a label tensor (n,) (then ``label`` must be None).
        sigmas: strictly decreasing noise levels σ_0 > … > σ_N ≥ 0 (e.g. ``edm_sigmas(64)``).
        label: None (unconditional), an int, or a long tensor (n,) of class labels.
        guidance: classifier-free guidance scale w (1 = plain conditional; needs a label otherwise).
        interval: (σ_lo, σ_hi): apply w only for σ in this open interval; None: at every σ.
        stochastic: the ancestral step (True) or the probability-flow ODE (False) with ``solver`` "heun" | "euler".
        init, x_init: the initial state (module docstring); ``x_init`` (n, *shape) overrides ``init``.
        generator: torch.Generator or int seed. batch_size: samples per batch (bounds memory).
        callback: called after every step as ``callback(i, σ_c, σ_n, x_c, x_n, outputs)`` where ``outputs`` holds
            ``denoised`` (the D used), ``uncond``/``cond`` when evaluated, ``denoised_next`` (Heun's second
            evaluation, when made), ``batch`` (a slice of sample indices) and ``labels`` (the batch's labels or None).
    """
    _check_model(model)
    if isinstance(n, torch.Tensor):
        if label is not None:
            raise ValueError("pass labels either as the second argument or as label=, not both")
        label, n = n, int(n.numel())
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer (or a label tensor); got {n!r}")
    n = int(n)
    grid = check_sigmas(sigmas)
    labels = _labels(model, label, n)
    w, iv = _check_guidance(guidance, interval, labels is not None)
    if solver not in ("heun", "euler"):
        raise ValueError(f"solver must be 'heun' or 'euler'; got {solver!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if x_init is not None and (not isinstance(x_init, torch.Tensor) or tuple(x_init.shape) != (n, *model.shape)):
        raise ValueError(f"x_init must be a tensor of shape {(n, *model.shape)}")
    if callback is not None and not callable(callback):
        raise ValueError("callback must be callable or None")
    g = make_generator(generator)

    out = []
    starts = range(0, n, int(batch_size))
    batches = progress(starts, desc="sampling", total=len(starts)) if show_progress and len(starts) > 1 else starts
    for start in batches:
        sl = slice(start, min(start + int(batch_size), n))
        m = sl.stop - sl.start
        lab = None if labels is None else labels[sl]
        if x_init is not None:
            x = x_init[sl].to(device=model.device, dtype=model.dtype)
        else:
            x = initial_state(model, m, float(grid[0]), g, init, lab)
        with torch.no_grad():
            for i in range(grid.size - 1):
                sc, sn = float(grid[i]), float(grid[i + 1])
                outputs: dict[str, Any] = dict(guided_denoiser(model, x, sc, lab, w, iv))
                den = outputs["denoised"]
                if stochastic:
                    r, st = step_coefficients(sc, sn)
                    x_next = r * x + (1.0 - r) * den
                    if sn > 0:
                        x_next = x_next + st * randn(tuple(x.shape), g, model)
                else:
                    d_c = (x - den) / sc
                    x_next = x + (sn - sc) * d_c
                    if solver == "heun" and sn > 0:
                        nxt = guided_denoiser(model, x_next, sn, lab, w, iv)["denoised"]
                        outputs["denoised_next"] = nxt
                        x_next = x + (sn - sc) * 0.5 * (d_c + (x_next - nxt) / sn)
                if callback is not None:
                    outputs["batch"] = sl
                    outputs["labels"] = lab
                    callback(i, sc, sn, x, x_next, outputs)
                x = x_next
        out.append(x)
    return torch.cat(out, dim=0)
