"""Input checks and conversions shared by the model adapters (all run before any model is called).

Conversion of a model output to the EDM denoiser D (x = x_0 + σ ε, σ_d = σ_data): "D": D = out; "eps": D = x − σ ε̂;
"v": D = c_skip x − c_out v̂ with c_skip = σ_d²/(σ² + σ_d²), c_out = σ σ_d/√(σ² + σ_d²).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from gmmtheory.bridge.base import as_sigma

_PARAMETRIZATIONS = ("D", "eps", "v")
_LABEL_MODES = ("index", "onehot")
_PREDICTION_TYPES = {"epsilon": "eps", "v_prediction": "v", "sample": "D"}
_SD15_PARTS = ("unet", "scheduler", "text_encoder", "tokenizer")
# Relative slack on the edges of a model's σ range [sigma_min, sigma_max] (a σ handed over in float32).
_SIGMA_EDGE_RTOL = 1e-5


def _check_shape(shape: Any, name: str = "shape") -> tuple[int, ...]:
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a tuple of positive ints, got {shape!r}") from None
    if not out or any(s <= 0 for s in out) or any(int(s) != s for s in shape):
        raise ValueError(f"{name}: expected a non-empty tuple of positive ints, got {shape!r}")
    return out


def _check_x(x: Any, shape: tuple[int, ...]) -> int:
    """Return the batch size n of x, which must be a floating tensor of shape (n, *shape)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"x: expected a floating-point torch.Tensor of shape (n, {', '.join(map(str, shape))}), "
                         f"got {type(x).__name__}" + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else ""))
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape or x.shape[0] == 0:
        raise ValueError(f"x: expected shape (n, {', '.join(map(str, shape))}) with n >= 1, got {tuple(x.shape)}")
    return int(x.shape[0])


def _check_sigma(sigma: Any, x: torch.Tensor) -> torch.Tensor:
    """σ as a tensor (n,) with x's device and dtype; finite and non-negative."""
    s = as_sigma(sigma, int(x.shape[0]), x)
    if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
        raise ValueError(f"sigma: expected finite values >= 0, got {s.detach().cpu().numpy()}")
    return s


def _check_label(label: Any, n: int, num_classes: int, device: torch.device) -> torch.Tensor | None:
    """None, an int, or an integer tensor of shape () or (n,) with values in 0..num_classes-1 → long tensor (n,)."""
    if label is None:
        return None
    if num_classes == 0:
        raise ValueError("label: this model is unconditional (num_classes = 0); pass label=None")
    if isinstance(label, bool) or not isinstance(label, (int, np.integer, torch.Tensor)):
        raise ValueError(f"label: expected None, an int or an integer tensor of shape (n,), got {type(label).__name__}")
    lab = torch.as_tensor(label)
    if lab.is_floating_point() or lab.is_complex() or lab.dtype == torch.bool:
        raise ValueError(f"label: expected an integer tensor, got dtype {lab.dtype}")
    if lab.ndim == 0:
        lab = lab.expand(n)
    if tuple(lab.shape) != (n,):
        raise ValueError(f"label: expected shape ({n},) or a scalar, got {tuple(lab.shape)}")
    if bool((lab < 0).any()) or bool((lab >= num_classes).any()):
        raise ValueError(f"label: values must lie in 0..{num_classes - 1}, got {lab.cpu().numpy()}")
    return lab.to(device=device, dtype=torch.long)


def _broadcast(s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample (n,) → (n, 1, ..., 1) so that it broadcasts against x."""
    return s.reshape(-1, *([1] * (x.ndim - 1)))


def _module_device_dtype(module: Any) -> tuple[torch.device, torch.dtype | None]:
    """Device and dtype of a module's first parameter (diffusers models expose .device/.dtype too)."""
    if isinstance(module, torch.nn.Module):
        for p in module.parameters():
            return p.device, p.dtype
    device = getattr(module, "device", None)
    return (device if isinstance(device, torch.device) else torch.device("cpu")), None


def _to_denoised(out: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor, parametrization: str,
                 sigma_data: float) -> torch.Tensor:
    """Convert a model output to D in the EDM convention x = x_0 + σ ε, with σ_d = σ_data.

    "D":   D = out.
    "eps": out = ε̂,  D = x − σ ε̂.
    "v":   out = v̂, the v-prediction of the data scaled by σ_d, v = α ε − β x_0/σ_d with α = σ_d/√(σ² + σ_d²),
           β = σ/√(σ² + σ_d²) (Salimans & Ho's v in the variance-preserving frame x/√(σ² + σ_d²) = α x_0/σ_d + β ε);
           D = σ_d²/(σ² + σ_d²) x − σ σ_d/√(σ² + σ_d²) v̂ = c_skip x − c_out v̂, i.e. v = −F of EDM's preconditioning.
    """
    if out.shape != x.shape:
        raise ValueError(f"model output: expected shape {tuple(x.shape)}, got {tuple(out.shape)}")
    out = out.to(x.dtype)
    s = _broadcast(sigma, x)
    if parametrization == "D":
        return out
    if parametrization == "eps":
        return x - s * out
    c = s**2 + sigma_data**2
    return (sigma_data**2 / c) * x - (s * sigma_data / torch.sqrt(c)) * out


def _check_choice(value: Any, allowed: tuple[str, ...], name: str) -> str:
    """``value`` if it is one of ``allowed``; otherwise a one-line ValueError naming the argument."""
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {allowed}, got {value!r}")
    return value


def _check_count(value: Any, name: str) -> int:
    """A non-negative int (numpy ints too, not bool), e.g. num_classes."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: expected an int >= 0, got {value!r}")
    return int(value)


def _check_positive(value: Any, name: str) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return v


def _check_range(sigma_min: Any, sigma_max: Any) -> tuple[float, float]:
    lo, hi = float(sigma_min), float(sigma_max)
    if not (math.isfinite(lo) and lo >= 0 and hi > lo and not math.isnan(hi)):
        raise ValueError(f"sigma_min, sigma_max: expected 0 <= sigma_min < sigma_max, got {sigma_min!r}, {sigma_max!r}")
    return lo, hi


def _as_float64(values: Any) -> np.ndarray:
    """Any σ / t values (a number, a sequence, a numpy array or a torch tensor on any device) as float64 numpy."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def _check_sigma_range(sigma: Any, sigma_min: float, sigma_max: float, detail: str = "") -> np.ndarray:
    """σ as float64 numpy, refused (one-line ValueError) unless every value lies in [sigma_min, sigma_max].

    The edges get a relative slack of ``_SIGMA_EDGE_RTOL`` (1e-5), so a table's end rounded to float32 is accepted.
    ``detail`` ends the message (e.g. the number of discrete steps).
    """
    s = _as_float64(sigma)
    lo, hi = sigma_min * (1 - _SIGMA_EDGE_RTOL), sigma_max * (1 + _SIGMA_EDGE_RTOL)
    bad = ~np.isfinite(s) | (s < lo) | (s > hi)
    if np.any(bad):
        raise ValueError(f"sigma: {float(s[bad].flat[0]):.6g} is outside the model's range [sigma_min, sigma_max] = "
                         f"[{sigma_min:.6g}, {sigma_max:.6g}]{detail}")
    return s
