"""The bridge's two shared types: the denoiser interface every model adapter implements, and a measurement.

Convention (EDM, Karras et al. 2022): a noisy sample is x_σ = x_0 + σ ε with ε ~ N(0, I), and a model is a denoiser

    D(x, σ, z) ≈ E[X_0 | X_σ = x, Z = z],      D(x, σ, None) ≈ E[X_0 | X_σ = x]

where z is a class label (an integer in 0..K-1) and None asks for the unconditional denoiser (for a real model:
its whole training distribution). The score is ∇ log p_σ(x | z) = (D(x, σ, z) − x) / σ².

This module imports torch; ``import gmmtheory`` never imports it (the bridge is an optional extra).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

__all__ = ["Denoiser", "Measurement", "as_sigma"]


@runtime_checkable
class Denoiser(Protocol):
    """What every model adapter provides.

    Attributes
    ----------
    shape : per-sample shape of x, e.g. ``(d,)`` or ``(C, H, W)``.
    num_classes : K, labels are 0..K-1.
    sigma_data : standard deviation of the data (EDM preconditioning; 0.5 for EDM2 latents).
    sigma_min, sigma_max : noise range the model was trained on.
    device, dtype : where and in which precision ``__call__`` expects x.
    """

    shape: tuple[int, ...]
    num_classes: int
    sigma_data: float
    sigma_min: float
    sigma_max: float
    device: torch.device
    dtype: torch.dtype

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | None) -> torch.Tensor:
        """x̂_0 = D(x, σ, label): x of shape (n, *shape); σ a scalar or shape (n,); label a long tensor (n,) or None."""
        ...


def as_sigma(sigma: torch.Tensor | float, n: int, like: torch.Tensor) -> torch.Tensor:
    """σ as a tensor of shape (n,) with x's device and dtype (a scalar is broadcast)."""
    s = torch.as_tensor(sigma, device=like.device, dtype=like.dtype)
    if s.ndim == 0:
        s = s.expand(n)
    if s.shape != (n,):
        raise ValueError(f"sigma: expected a scalar or shape ({n},), got shape {tuple(s.shape)}")
    return s


@dataclass(frozen=True)
class Measurement:
    """A curve measured on a model, over noise levels σ, with one standard error per point.

    sigma : (T,) noise levels, increasing.
    value : (T,) the quantity — H[Z | X_σ] in nats (``quantity="entropy"``) or dH/dlog σ (``quantity="rate"``).
    stderr : (T,) Monte Carlo standard errors of ``value``.
    method : which estimator produced it ("tracker", "tracker_corrected", "denoiser_gap", "classifier", "exact", …).
    meta : settings that produced it (steps, samples, seed, classes, prior, …), JSON-serialisable.
    """

    sigma: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    quantity: str
    method: str
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the arrays as lists, with ``quantity``, ``method`` and ``meta``."""
        return {
            "sigma": np.asarray(self.sigma).tolist(),
            "value": np.asarray(self.value).tolist(),
            "stderr": np.asarray(self.stderr).tolist(),
            "quantity": self.quantity,
            "method": self.method,
            "meta": self.meta,
        }

    def to_dict(self) -> dict[str, Any]:
        """The same as ``as_dict`` (the name the bridge's JSON files were written with)."""
        return self.as_dict()

    def __repr__(self) -> str:
        s = np.asarray(self.sigma)
        span = f"σ ∈ [{s.min():.3g}, {s.max():.3g}]" if s.size else "empty"
        return f"Measurement({self.quantity}, {self.method}, {s.size} points, {span})"
