"""(C) Diffusion-classifier posteriors of a class subset from the conditional denoisers alone.

``classifier_log_posterior`` / ``classifier_entropy`` — diffusion-classifier posteriors for a chosen subset of
classes from the conditional denoisers alone. Treat x as data at level σ, add noise τ: y = x + τ ε at level
s² = σ² + τ², whose denoiser is E[X_σ | y, z] = (σ²/s²) y + (τ²/s²) D_z(y, s). Differentiating
E_ε log p_s(x + τ ε | z) in τ² (heat equation plus Gaussian integration by parts) gives, up to terms equal for
all classes,
    log p_σ(x | z) = −E|x − D_z(y_T, s_T)|² / (2 s_T²) − ∫_0^{τ_T²} E_ε h_z(τ, ε) d(τ²),
    h_z = |x − D_z(y, s)|² / (2 s⁴) + σ² ε·D_z(y, s) / (τ s⁴),
the continuous-time diffusion ELBO of x (tight for exact denoisers); the first term is the prior term at the
top s_T (a Gaussian of variance s_T² around the class mean). The integral is Gauss–Legendre in log s² with
``n_levels`` nodes, the same (τ, ε) for all classes and antithetic ±ε pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory.bridge.base import Measurement
from gmmtheory.bridge.estimators.common import (
    _check_classes,
    _check_data,
    _check_levels,
    _check_model,
    _entropy,
    _mean_se,
    _model_prior,
    _sub_log_prior,
)
from gmmtheory.bridge.sampling import (
    make_generator,
    randn,
)


def classifier_log_posterior(
    model: Any,
    x: torch.Tensor,
    sigma: float,
    classes: Sequence[int],
    *,
    prior: object = None,
    log_prior: np.ndarray | None = None,
    n_levels: int = 32,
    n_pairs: int = 1,
    s_max: float | None = None,
    generator: torch.Generator | int | None = None,
    batch_size: int = 1024,
) -> torch.Tensor:
    """log p_σ(z | x, Z ∈ S) for z in S = ``classes`` from the conditional denoisers alone (module docstring, (C)).

        L_z = −E|x − D_z(x + τ_T ε, s_T)|²/(2 s_T²)
              − ∫_0^{τ_T²} E_ε[ |x − D_z(y, s)|²/(2 s⁴) + σ² ε·D_z(y, s)/(τ s⁴) ] d(τ²),
        y = x + τ ε,  s² = σ² + τ²,  log p(z | x, S) = log_softmax_z(log π_z + L_z),

    with Gauss–Legendre in u = log s² on [log σ², log s_T²] (d(τ²) = s² du), ``n_levels`` nodes, ``n_pairs``
    antithetic pairs (ε, −ε) per node and sample, the same (τ, ε) for every class, s_T = ``s_max`` (default the
    model's sigma_max). Args: x (n, *shape) noisy samples at level ``sigma`` > 0; prior over all K classes (or
    ``log_prior`` over S directly). Returns (n, |S|) float64 log posteriors on the model's device.
    """
    _check_model(model)
    if not isinstance(x, torch.Tensor) or tuple(x.shape[1:]) != tuple(model.shape) or x.ndim < 2:
        raise ValueError(f"x must be a tensor of shape (n, *{tuple(model.shape)})")
    try:
        sg = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"sigma must be a number > 0; got {sigma!r}") from None
    if not (np.isfinite(sg) and sg > 0):
        raise ValueError(f"sigma must be finite and > 0; got {sigma!r}")
    K = int(model.num_classes)
    cl = _check_classes(classes, K, minimum=2)
    n_levels = check_count("n_levels", n_levels, 2)
    n_pairs = check_count("n_pairs", n_pairs, 1)
    batch_size = check_count("batch_size", batch_size, 1)
    sT = float(model.sigma_max) if s_max is None else float(s_max)
    if not (np.isfinite(sT) and sT > sg):
        raise ValueError(f"s_max must be finite and > sigma ({sg}); got {s_max!r} (model.sigma_max={model.sigma_max})")
    if log_prior is None:
        log_prior = _sub_log_prior(_model_prior(model, prior), cl)
    else:
        log_prior = np.asarray(log_prior, dtype=np.float64)
        if log_prior.shape != (len(cl),):
            raise ValueError(f"log_prior must have shape ({len(cl)},)")
    g = make_generator(generator)
    t, wq = np.polynomial.legendre.leggauss(n_levels)
    a, b = 2 * math.log(sg), 2 * math.log(sT)
    u = 0.5 * (b - a) * t + 0.5 * (a + b)
    wq = 0.5 * (b - a) * wq
    S = len(cl)
    x = x.to(device=model.device, dtype=model.dtype)
    out = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            m = xb.shape[0]
            lab = torch.as_tensor(cl, device=xb.device).repeat_interleave(m)
            x64 = xb.to(torch.float64).flatten(1)[None]  # (1, m, d)
            rep = (S, *([1] * (xb.ndim - 1)))

            def den(y: torch.Tensor, s: float) -> torch.Tensor:
                return model(y.repeat(*rep), s, lab).view(S, m, -1).to(torch.float64)

            L = torch.zeros(S, m, dtype=torch.float64, device=xb.device)
            for _ in range(n_pairs):
                tT = math.sqrt(sT**2 - sg**2)
                eps = randn(tuple(xb.shape), g, model)
                for sign in (1.0, -1.0):
                    d_top = den(xb + sign * tT * eps, sT)
                    L -= ((x64 - d_top) ** 2).sum(-1) / (2 * sT**2) / (2 * n_pairs)
                for uj, wj in zip(u, wq):
                    s2 = math.exp(uj)
                    s, tau = math.sqrt(s2), math.sqrt(max(s2 - sg**2, 0.0))
                    eps = randn(tuple(xb.shape), g, model)
                    e64 = eps.to(torch.float64).flatten(1)[None]
                    for sign in (1.0, -1.0):
                        dz = den(xb + sign * tau * eps, s)
                        hz = ((x64 - dz) ** 2).sum(-1) / (2 * s2**2)
                        if tau > 0:
                            hz = hz + sign * sg**2 * (e64 * dz).sum(-1) / (tau * s2**2)
                        L -= wj * s2 * hz / (2 * n_pairs)
            lp = torch.as_tensor(log_prior, dtype=torch.float64, device=xb.device)[:, None] + L
            out.append(torch.log_softmax(lp, dim=0).T)
    return torch.cat(out, 0)


def classifier_entropy(
    model: Any,
    x0: torch.Tensor,
    labels: torch.Tensor,
    sigmas: object,
    classes: Sequence[int],
    *,
    prior: object = None,
    n_levels: int = 32,
    n_pairs: int = 1,
    s_max: float | None = None,
    generator: torch.Generator | int | None = None,
    batch_size: int = 1024,
) -> Measurement:
    """H[Z | X_σ, Z ∈ S] for the sub-mixture of ``classes`` S by the diffusion classifier.

    x0, labels: data samples of the sub-mixture (labels in S). For each σ (sorted increasing): x = x0 + σ ε with the
    same ε at every σ, posterior ``classifier_log_posterior(model, x, σ, S, ...)``, entropy −Σ p log p per sample;
    value = mean, stderr = std/√n. The classifier's own Monte Carlo noise is included in the per-sample spread; it
    also biases the entropy of each sample slightly downward (noisy logits look more confident), which the
    quadrature/noise settings control (see the tests for measured sizes).
    """
    _check_model(model)
    x0, lab = _check_data(model, x0, labels)
    sig = _check_levels(sigmas)
    cl = _check_classes(classes, int(model.num_classes), minimum=2)
    outside = sorted(set(lab.cpu().tolist()) - set(cl))
    if outside:
        raise ValueError(f"labels must lie in classes {cl}; found {outside}")
    log_prior = _sub_log_prior(_model_prior(model, prior), cl)
    g = make_generator(generator)
    eps = randn(tuple(x0.shape), g, model)
    h = np.empty((x0.shape[0], sig.size))
    for k, s in enumerate(sig):
        lp = classifier_log_posterior(model, x0 + float(s) * eps, float(s), cl, log_prior=log_prior,
                                      n_levels=n_levels, n_pairs=n_pairs, s_max=s_max, generator=g,
                                      batch_size=batch_size)
        h[:, k] = _entropy(lp.cpu().numpy())
    mean, se = _mean_se(h)
    return Measurement(sig.copy(), mean, se, "entropy", "classifier",
                       {"classes": cl, "n_samples": int(x0.shape[0]), "n_levels": n_levels, "n_pairs": n_pairs,
                        "s_max": float(model.sigma_max if s_max is None else s_max)})
