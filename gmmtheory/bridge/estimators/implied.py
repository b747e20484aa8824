"""The unconditional denoiser implied by a conditional-only network, and a network-evaluation counter.

A class-conditional model without a null label (no label dropout) has no D(x, σ, None). Its data law is the
mixture p_σ(x) = Σ_y π_y p_σ(x | y), so the unconditional denoiser is the posterior-weighted mixture of the
conditional ones (Tweedie, linearity of the conditional mean):

    D_u(x, σ) = E[X_0 | X_σ = x] = Σ_y p_σ(y | x) D(x, σ, y),   p_σ(y | x) ∝ π_y p_σ(x | y).

``ImpliedUnconditional`` makes D(x, σ, None) defined this way: p_σ(y | x) from the diffusion classifier on the
conditional denoisers alone (``classifier_log_posterior`` over all K classes, the default), or from any callable
(x, σ) → (n, K) log posteriors (e.g. an exact ``log_posterior``). Conditional calls pass through. The tracker
does not need this wrapper: with ``sampler="implied"`` it uses its own tracked posterior for the same mixture at
no extra cost (``tracker.py``).

``CountingDenoiser`` counts network evaluations (calls and rows, i.e. images pushed through the net) so each
estimator's cost can be reported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory.bridge.estimators.classifier import classifier_log_posterior
from gmmtheory.bridge.estimators.common import _check_model, _model_prior
from gmmtheory.bridge.sampling import make_generator

__all__ = ["CountingDenoiser", "ImpliedUnconditional", "is_conditional_only"]

_ATTRS = ("shape", "num_classes", "sigma_data", "sigma_min", "sigma_max", "device", "dtype")


def is_conditional_only(model: Any) -> bool:
    """True when ``model`` declares itself label-conditional with no unconditional output: a checkpoint adapter
    with ``label_mode`` other than "none" and no ``uncond`` model (``bridge.models.checkpoint``), or any model with
    ``conditional_only = True``."""
    if bool(getattr(model, "conditional_only", False)):
        return True
    return getattr(model, "label_mode", "none") != "none" and hasattr(model, "uncond") and model.uncond is None


class CountingDenoiser:
    """A transparent ``Denoiser`` wrapper counting evaluations: ``calls`` (forward calls) and ``rows`` (samples
    evaluated, Σ over calls of the batch size). ``reset()`` zeroes both; ``snapshot()`` returns them."""

    def __init__(self, model: Any):
        _check_model(model)
        self.model = model
        for a in _ATTRS:
            setattr(self, a, getattr(model, a, None))
        if hasattr(model, "weights"):
            self.weights = model.weights
        self.conditional_only = is_conditional_only(model)
        self.calls = 0
        self.rows = 0

    def reset(self) -> None:
        self.calls = 0
        self.rows = 0

    def snapshot(self) -> dict[str, int]:
        return {"calls": int(self.calls), "rows": int(self.rows)}

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | None) -> torch.Tensor:
        self.calls += 1
        self.rows += int(x.shape[0])
        return self.model(x, sigma, label)


class ImpliedUnconditional:
    """A ``Denoiser`` whose unconditional output is D_u(x, σ) = Σ_y p_σ(y | x) D(x, σ, y) (module docstring).

    Args:
        model: a class-conditional ``Denoiser`` (its D(x, σ, None) is never called).
        posterior: ``"classifier"`` — the diffusion classifier over all K classes (``n_levels`` Gauss–Legendre
            nodes, 2·(n_levels + 1)·K network rows per sample, noise from ``generator``); or a callable
            (x, σ) → (n, K) log posteriors p_σ(y | x).
        prior: class probabilities π (default the model's ``weights`` if any, else uniform).
    After each unconditional call ``last_log_posterior`` holds the (n, K) log posteriors that were used.
    The result is as good as p_σ(y | x): the classifier's Monte Carlo noise makes D_u noisy (and the denoiser gap
    |D_y − D_u|² biased upward by the variance of that noise); an exact posterior makes it exact.
    """

    def __init__(self, model: Any, posterior: str | Callable[[torch.Tensor, float], torch.Tensor] = "classifier",
                 *, prior: object = None, n_levels: int = 16, generator: torch.Generator | int | None = None,
                 batch_size: int = 1024):
        _check_model(model)
        if not (callable(posterior) or posterior == "classifier"):
            raise ValueError(f"posterior must be 'classifier' or a callable (x, sigma) -> (n, K) log posteriors; "
                             f"got {posterior!r}")
        self.model = model
        for a in _ATTRS:
            setattr(self, a, getattr(model, a, None))
        self.prior = _model_prior(model, prior)
        self.weights = self.prior
        self.posterior = posterior
        self.n_levels = check_count("n_levels", n_levels, 2)
        self.batch_size = check_count("batch_size", batch_size, 1)
        self.generator = make_generator(generator)
        self.conditional_only = False
        self.last_log_posterior: torch.Tensor | None = None

    def log_posterior_all(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """(n, K) log p_σ(y | x) from ``posterior``."""
        K = int(self.num_classes)
        if self.posterior == "classifier":
            with np.errstate(divide="ignore"):
                lp = np.log(self.prior)
            return classifier_log_posterior(self.model, x, sigma, list(range(K)), log_prior=lp,
                                            n_levels=self.n_levels, generator=self.generator,
                                            batch_size=self.batch_size)
        out = torch.as_tensor(self.posterior(x, sigma), dtype=torch.float64, device=x.device)  # type: ignore[operator]
        if out.shape != (x.shape[0], K):
            raise ValueError(f"posterior callable must return shape ({x.shape[0]}, {K}); got {tuple(out.shape)}")
        return torch.log_softmax(out, dim=-1)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | None) -> torch.Tensor:
        if label is not None:
            return self.model(x, sigma, label)
        s = torch.as_tensor(sigma).reshape(-1)
        if s.numel() > 1 and not bool(torch.all(s == s[0])):
            raise ValueError("sigma: ImpliedUnconditional needs one noise level per call (a scalar or constant σ)")
        sg = float(s[0])
        K, n = int(self.num_classes), x.shape[0]
        lp = self.log_posterior_all(x, sg)
        self.last_log_posterior = lp
        lab = torch.arange(K, device=x.device).repeat_interleave(n)
        dall = self.model(x.repeat(K, *([1] * (x.ndim - 1))), sg, lab).view(K, n, -1).to(torch.float64)
        du = torch.einsum("nk,knd->nd", torch.exp(lp), dall)
        return du.view(x.shape).to(x.dtype)
