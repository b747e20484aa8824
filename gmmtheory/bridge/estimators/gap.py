"""(B) The denoiser-gap rate and its integral on any Denoiser (EDM convention x_σ = x_0 + σ ε).

``denoiser_gap`` — I-MMSE (Guo, Shamai, Verdú): with γ = 1/σ² and λ = log γ, dI(X_0; X_σ)/dγ = ½ mmse and
I(Z; X_σ) = I(X_0; X_σ) − I(X_0; X_σ | Z), so dH[Z | X_σ]/dλ = −½ γ E‖D(X_σ, σ, Z) − D(X_σ, σ)‖² and, since
dλ = −2 dlog σ,
    rate(σ) = dH/dlog σ = E‖D(X_σ, σ, Z) − D(X_σ, σ)‖² / σ²,
exact for exact denoisers. The entropy follows as H(σ) = H[Z] − rate(σ_top)/2 − ∫_σ^{σ_top} rate dlog σ, the
middle term being the tail above the grid (rate ∝ 1/σ² at large σ, so ∫_{σ_top}^∞ rate dlog σ = rate(σ_top)/2).
The integral is a per-sample trapezoid in log σ with the same ε for every σ (common random numbers), so its
standard error is across samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory.bridge.base import Measurement
from gmmtheory.bridge.estimators.classifier import classifier_log_posterior
from gmmtheory.bridge.estimators.common import (
    _check_classes,
    _check_data,
    _check_levels,
    _check_model,
    _mean_se,
    _model_prior,
    _sub_log_prior,
)
from gmmtheory.bridge.sampling import (
    make_generator,
    randn,
)


def _sub_posterior_weights(model: Any, x: torch.Tensor, sigma: float, cl: list[int], log_prior_sub: np.ndarray,
                           generator: torch.Generator, n_levels: int) -> torch.Tensor:
    """p(z | x, Z ∈ S) for z in S under the prior ``log_prior_sub``: exact if the model has ``log_posterior``,
    else the diffusion-classifier estimate."""
    lp_prior = torch.as_tensor(log_prior_sub, dtype=torch.float64, device=x.device)
    if hasattr(model, "log_posterior"):
        with np.errstate(divide="ignore"):
            lpm = torch.as_tensor(np.log(_model_prior(model, None))[cl], dtype=torch.float64, device=x.device)
        lp = model.log_posterior(x, sigma).to(torch.float64)[:, cl] - lpm + lp_prior
        return torch.softmax(lp, dim=-1)
    return torch.exp(classifier_log_posterior(model, x, sigma, cl, log_prior=log_prior_sub, n_levels=n_levels,
                                              generator=generator))


# ================================================================================================ (B) gap rate
def denoiser_gap(
    model: Any,
    x0: torch.Tensor,
    labels: torch.Tensor,
    sigmas: object,
    *,
    classes: Sequence[int] | None = None,
    prior: object = None,
    n_noise: int = 1,
    generator: torch.Generator | int | None = None,
    batch_size: int = 1024,
    n_levels: int = 32,
) -> tuple[Measurement, Measurement]:
    """The entropy rate dH[Z | X_σ]/dlog σ and H[Z | X_σ] from the gap between conditional and reference denoisers.

        rate(σ) = E‖D(X_σ, σ, Z) − D_ref(X_σ, σ)‖² / σ²,   X_σ = X_0 + σ ε,  (X_0, Z) from the data,
        H(σ) = H[Z] − rate(σ_top)/2 − ∫_σ^{σ_top} rate dlog σ       (module docstring, (B)).

    Args:
        model: a ``Denoiser``. x0, labels: data samples (n, *shape) and their classes (n,) — draws from the data
            distribution (restricted to ``classes`` when given).
        sigmas: noise levels > 0 (any order; the result is on the sorted grid). Make the grid dense in log σ and
            reach high enough (e.g. 80) for the entropy's trapezoid rule; the rate is pointwise.
        classes: None → D_ref = D(x, σ, None), the model's own unconditional (a real model's whole training set).
            A subset S → D_ref = Σ_{z∈S} p(z | x, Z ∈ S) D(x, σ, z), the denoiser of the sub-mixture, whose weights
            come from the model's exact ``log_posterior`` when it has one, else from the diffusion classifier
            (``classifier_log_posterior``, ``n_levels`` nodes).
        prior: class probabilities over all K classes (default model ``weights`` if any, else uniform), restricted
            to ``classes``; gives H[Z] and the sub-mixture weights.
        n_noise: ε draws per sample (each reused at every σ: common random numbers).
        generator: torch.Generator or int seed. batch_size: samples per batch.

    Returns (rate, entropy): two ``Measurement`` objects, σ increasing, method ``"denoiser_gap"``, quantity
    ``"rate"`` (dH/dlog σ) and ``"entropy"``; stderrs are across samples (each sample's trapezoid is one draw).
    """
    _check_model(model)
    x0, lab = _check_data(model, x0, labels)
    sig = _check_levels(sigmas)
    n_noise = check_count("n_noise", n_noise, 1)
    batch_size = check_count("batch_size", batch_size, 1)
    n_levels = check_count("n_levels", n_levels, 2)
    K = int(model.num_classes)
    cl = list(range(K)) if classes is None else _check_classes(classes, K)
    if classes is not None:
        outside = sorted(set(lab.cpu().tolist()) - set(cl))
        if outside:
            raise ValueError(f"labels must lie in classes {cl}; found {outside}")
    p = _model_prior(model, prior)
    log_prior_sub = _sub_log_prior(p, cl)
    pz = np.exp(log_prior_sub)
    h_top = float(-np.sum(np.where(pz > 0, pz * log_prior_sub, 0.0)))
    g = make_generator(generator)
    n = x0.shape[0]
    gaps = np.zeros((n, sig.size))
    with torch.no_grad():
        for start in range(0, n, batch_size):
            sl = slice(start, min(start + batch_size, n))
            xb, lb = x0[sl], lab[sl]
            for _ in range(n_noise):
                eps = randn(tuple(xb.shape), g, model)
                for k, s in enumerate(sig):
                    x = xb + float(s) * eps
                    dz = model(x, float(s), lb)
                    if classes is None:
                        dref = model(x, float(s), None)
                    else:
                        w = _sub_posterior_weights(model, x, float(s), cl, log_prior_sub, g, n_levels)
                        m = x.shape[0]
                        lab_rep = torch.as_tensor(cl, device=x.device).repeat_interleave(m)
                        dall = model(x.repeat(len(cl), *([1] * (x.ndim - 1))), float(s), lab_rep)
                        dall = dall.view(len(cl), m, -1).to(torch.float64)
                        dref = torch.einsum("mz,zmd->md", w, dall).view(x.shape)
                    diff = (dz.to(torch.float64) - dref.to(torch.float64)).flatten(1)
                    gaps[sl, k] += (diff * diff).sum(1).cpu().numpy() / float(s) ** 2 / n_noise
    rate_m, rate_se = _mean_se(gaps)
    ls = np.log(sig)
    # H_i(σ_k) = H[Z] − rate_i(σ_top)/2 − Σ trapezoids from σ_k up to σ_top (per sample)
    seg = 0.5 * (gaps[:, 1:] + gaps[:, :-1]) * np.diff(ls)[None]
    above = np.concatenate([np.cumsum(seg[:, ::-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)
    h = h_top - 0.5 * gaps[:, -1:] - above
    h_m, h_se = _mean_se(h)
    meta = {"n_samples": int(n), "n_noise": n_noise, "classes": cl, "H_Z": h_top,
            "reference": "unconditional" if classes is None else "sub-mixture of classes",
            "tail": "rate(σ_top)/2 (rate ∝ 1/σ² above the grid)"}
    return (Measurement(sig.copy(), rate_m, rate_se, "rate", "denoiser_gap", dict(meta)),
            Measurement(sig.copy(), h_m, h_se, "entropy", "denoiser_gap", dict(meta)))
