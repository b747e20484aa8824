"""Input checks and small numerics shared by the estimators: the Denoiser check, class lists, class priors,
entropies −Σ p log p (0 log 0 = 0), means with standard errors, Jacobian-vector products J v = ∂D/∂x · v
(``torch.func.jvp`` or central differences), data and σ-level checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def _check_model(model: Any) -> None:
    need = ("shape", "num_classes", "sigma_data", "sigma_max", "device", "dtype")
    missing = [a for a in need if not hasattr(model, a)]
    if missing or not callable(model):
        raise ValueError(f"model must implement the Denoiser protocol; missing {missing or ['__call__']}")


def _check_classes(classes: object, K: int, name: str = "classes", minimum: int = 1) -> list[int]:
    try:
        cl = [int(c) for c in np.asarray(classes).reshape(-1)]
        if any(float(c) != int(c) for c in np.asarray(classes, dtype=float).reshape(-1)):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of integer labels; got {classes!r}") from None
    if len(cl) < minimum:
        raise ValueError(f"{name} must hold at least {minimum} label(s); got {cl}")
    if len(set(cl)) != len(cl):
        raise ValueError(f"{name} must not repeat labels; got {cl}")
    bad = [c for c in cl if not 0 <= c < K]
    if bad:
        raise ValueError(f"{name} must be labels in 0..{K - 1}; out of range: {bad}")
    return cl


def _model_prior(model: Any, prior: object) -> np.ndarray:
    """Prior over all K classes: the given one, else the model's ``weights`` if it has them, else uniform."""
    K = int(model.num_classes)
    if prior is None:
        w = getattr(model, "weights", None)
        p = np.full(K, 1.0 / K) if w is None else np.asarray(w, dtype=np.float64)
    else:
        try:
            p = np.array(prior, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"prior must be an array of {K} probabilities; got {prior!r}") from None
    if p.shape != (K,) or not np.all(np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-8:
        raise ValueError(f"prior must be {K} non-negative finite probabilities summing to 1 (one per class)")
    return p / p.sum()


def _sub_log_prior(p: np.ndarray, cl: Sequence[int]) -> np.ndarray:
    sub = p[list(cl)]
    if sub.sum() <= 0:
        raise ValueError(f"prior gives zero mass to every class in {list(cl)}")
    with np.errstate(divide="ignore"):
        return np.log(sub / sub.sum())


def _entropy(log_p: np.ndarray) -> np.ndarray:
    """−Σ p log p over the last axis, with 0 log 0 = 0."""
    p = np.exp(log_p)
    return -np.sum(np.where(p > 0, p * np.where(np.isfinite(log_p), log_p, 0.0), 0.0), axis=-1)


def _mean_se(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = v.shape[0]
    return v.mean(axis=0), v.std(axis=0, ddof=1) / math.sqrt(n)



def _jvp(model: Any, x: torch.Tensor, sigma: float, label: torch.Tensor | None, t: torch.Tensor,
         how: str) -> torch.Tensor:
    """J t with J = ∂D(x, σ, label)/∂x, per sample: forward-mode autograd or central differences."""
    if how == "autograd":
        return torch.func.jvp(lambda y: model(y, sigma, label), (x,), (t,))[1]
    norm = t.flatten(1).norm(dim=1).clamp_min(torch.finfo(t.dtype).tiny)
    shape = (-1,) + (1,) * (t.ndim - 1)
    u = t / norm.view(shape)
    h = 1e-3 * sigma if t.dtype == torch.float64 else 3e-2 * sigma
    diff = (model(x + h * u, sigma, label) - model(x - h * u, sigma, label)) / (2 * h)
    return diff * norm.view(shape)



def _check_data(model: Any, x0: object, labels: object, name_x: str = "x0") -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(x0, torch.Tensor):
        try:
            x0 = torch.as_tensor(np.asarray(x0, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{name_x} must be a tensor of shape (n, *{tuple(model.shape)})") from None
    if x0.ndim < 1 or tuple(x0.shape[1:]) != tuple(model.shape) or x0.shape[0] < 2:
        raise ValueError(f"{name_x} must have shape (n, *{tuple(model.shape)}) with n ≥ 2; got {tuple(x0.shape)}")
    if not bool(torch.all(torch.isfinite(x0))):
        raise ValueError(f"{name_x} must be finite")
    try:
        lab = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels))
    except (TypeError, ValueError):
        raise ValueError("labels must be a sequence of integer class labels") from None
    if lab.dtype.is_floating_point or lab.dtype == torch.bool or lab.shape != (x0.shape[0],):
        raise ValueError(f"labels must be {x0.shape[0]} integer class labels (one per row of {name_x})")
    K = int(model.num_classes)
    if int(lab.min()) < 0 or int(lab.max()) >= K:
        raise ValueError(f"labels must be in 0..{K - 1}; got values {int(lab.min())}..{int(lab.max())}")
    return x0.to(device=model.device, dtype=model.dtype), lab.long().to(model.device)


def _check_levels(sigmas: object) -> np.ndarray:
    try:
        s = np.array(sigmas, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"sigmas must be a 1-D sequence of noise levels; got {sigmas!r}") from None
    if s.size < 1 or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"sigmas must be finite noise levels > 0; got {s.tolist()}")
    if np.unique(s).size != s.size:
        raise ValueError("sigmas must not repeat a value")
    return np.sort(s)
