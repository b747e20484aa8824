"""Classifier-free guidance of any Denoiser: D_w = D_u + w (D_z − D_u) (w = 1: conditional, w = 0: unconditional),
optionally only inside a guidance interval σ_lo < σ < σ_hi (Kynkäänniemi et al. 2024)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from gmmtheory.bridge.base import Denoiser
from gmmtheory.bridge.models.common import _broadcast, _check_sigma


def _check_w(w: Any, n: int | None = None) -> None:
    if isinstance(w, torch.Tensor):
        if w.ndim > 1 or (n is not None and w.ndim == 1 and w.shape[0] != n) or not bool(torch.isfinite(w).all()):
            raise ValueError(f"w: expected a finite scalar or a tensor of shape (n,), got shape {tuple(w.shape)}")
    elif isinstance(w, bool) or not isinstance(w, (int, float, np.floating, np.integer)) or not math.isfinite(w):
        raise ValueError(f"w: expected a finite number (1 = unguided) or a tensor of shape (n,), got {w!r}")


def cfg(d_cond: torch.Tensor, d_uncond: torch.Tensor, w: float | torch.Tensor) -> torch.Tensor:
    """Classifier-free guidance D_w = D_u + w (D_z − D_u) (w = 1: conditional, w = 0: unconditional).

    d_cond = D_z and d_uncond = D_u have shape (n, ...); w is a number or a per-sample tensor (n,).
    """
    if d_cond.shape != d_uncond.shape:
        raise ValueError(f"d_uncond: shape {tuple(d_uncond.shape)} differs from d_cond's {tuple(d_cond.shape)}")
    _check_w(w, int(d_cond.shape[0]) if d_cond.ndim else None)
    if isinstance(w, torch.Tensor) and w.ndim == 1:
        w = _broadcast(w.to(device=d_cond.device, dtype=d_cond.dtype), d_cond)
    return d_uncond + w * (d_cond - d_uncond)


def guided_denoise(
    model: Denoiser,
    x: torch.Tensor,
    sigma: torch.Tensor | float,
    label: torch.Tensor | int | None,
    w: float | torch.Tensor,
    *,
    interval: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Guided denoiser D_w(x, σ, z) = D(x, σ, None) + w (D(x, σ, z) − D(x, σ, None)).

    ``interval = (σ_lo, σ_hi)`` applies w only for σ_lo < σ < σ_hi and w = 1 elsewhere (guidance interval,
    Kynkäänniemi et al. 2024). label None gives the unconditional D (guiding towards nothing changes nothing).
    """
    n = int(x.shape[0]) if isinstance(x, torch.Tensor) and x.ndim else None
    _check_w(w, n)
    if interval is not None:
        lo, hi = (float(v) for v in interval)
        if not (lo >= 0 and hi > lo):
            raise ValueError(f"interval: expected (sigma_lo, sigma_hi) with 0 <= sigma_lo < sigma_hi, got {interval!r}")
    if label is None:
        return model(x, sigma, None)
    if interval is not None:
        s = _check_sigma(sigma, x)
        inside = (s > lo) & (s < hi)
        w = torch.where(inside, torch.as_tensor(w, dtype=x.dtype, device=x.device), torch.ones_like(s))
    elif not isinstance(w, torch.Tensor) and w == 1:
        return model(x, sigma, label)
    return cfg(model(x, sigma, label), model(x, sigma, None), w)


class GuidedDenoiser:
    """A Denoiser whose conditional output is guided: D_w(x, σ, z) (see ``guided_denoise``); label None → D_u."""

    def __init__(self, model: Denoiser, w: float, interval: tuple[float, float] | None = None) -> None:
        _check_w(w)
        self.model, self.w, self.interval = model, w, interval
        for attr in ("shape", "num_classes", "sigma_data", "sigma_min", "sigma_max", "device", "dtype"):
            setattr(self, attr, getattr(model, attr))

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | int | None) -> torch.Tensor:
        return guided_denoise(self.model, x, sigma, label, self.w, interval=self.interval)


def guided(model: Denoiser, w: float, *, interval: tuple[float, float] | None = None) -> GuidedDenoiser:
    """``model`` with classifier-free guidance of scale w (optionally only inside ``interval``), as a Denoiser."""
    return GuidedDenoiser(model, w, interval)
