"""Entropy estimators for a conditional-only network, sharing one diffusion-classifier pass per (sample, σ).

``conditional_curves`` takes labelled data (x_0, z) (for a trained model: its own samples) and, at each σ of a grid,
x_σ = x_0 + σ ε (the same ε at every σ: common random numbers), and computes from the conditional denoisers alone

- the diffusion-classifier posterior p_σ(y | x_σ) over all K classes (``classifier_log_posterior``) and its entropy
  H_i = −Σ_y p log p, mean and stderr across samples (method ``"classifier"``); grouped into the blocks of a
  ``Partition`` when one is given (``"classifier_partition"``);
- the denoiser gap with the implied unconditional denoiser D_u = Σ_y p_σ(y | x_σ) D_y(x_σ) (p from that same
  classifier pass): rate_i = |D_{z_i}(x_σ) − D_u(x_σ)|² / σ² and its integral H(σ) = H[Z] − rate(σ_top)/2 −
  ∫_σ^{σ_top} rate dlog σ (per-sample trapezoid, as in ``gap.denoiser_gap``) (``"denoiser_gap_implied"``);
- with a separate unconditional model ``uncond`` (a ``Denoiser`` called with label None): the same gap with its
  D_u, an independent cross-check of the implied one (``"denoiser_gap_uncond"``), and the mean squared distance
  between the two unconditional denoisers, |D_u^implied − D_u^uncond|²/σ² (``"uncond_mismatch"``).

Cost (network rows per sample and σ): 2·(n_levels + 1)·K for the classifier, K more for the gap, 1 for ``uncond``.
The classifier's Monte Carlo noise in p biases H_i slightly down and the gap slightly up (noise in D_u adds to
|D_z − D_u|²); both shrink with ``n_levels`` (tests hold them on the exact mixture).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory.bridge.base import Measurement
from gmmtheory.bridge.estimators.classifier import classifier_log_posterior
from gmmtheory.bridge.estimators.common import (
    _check_data,
    _check_levels,
    _check_model,
    _entropy,
    _mean_se,
    _model_prior,
)
from gmmtheory.bridge.sampling import make_generator, randn
from gmmtheory.mixture import Partition

__all__ = ["conditional_curves", "gap_integral"]


def gap_integral(sigmas: np.ndarray, gaps: np.ndarray, h_top: float) -> np.ndarray:
    """Per-sample H_i(σ_k) = H[Z] − rate_i(σ_top)/2 − Σ_{j ≥ k} trapezoid of rate_i in log σ (σ increasing)."""
    ls = np.log(sigmas)
    n = gaps.shape[0]
    seg = 0.5 * (gaps[:, 1:] + gaps[:, :-1]) * np.diff(ls)[None]
    above = np.concatenate([np.cumsum(seg[:, ::-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)
    return h_top - 0.5 * gaps[:, -1:] - above


def conditional_curves(
    model: Any,
    x0: torch.Tensor,
    labels: torch.Tensor,
    sigmas: object,
    *,
    partition: Partition | None = None,
    uncond: Any = None,
    prior: object = None,
    n_levels: int = 16,
    s_max: float | None = None,
    generator: torch.Generator | int | None = None,
    batch_size: int = 256,
    return_log_posterior: bool = False,
) -> dict[str, Measurement] | tuple[dict[str, Measurement], np.ndarray]:
    """The classifier entropy, the implied-unconditional denoiser gap (rate and entropy) and, with ``uncond``, the
    separate-model gap, on one set of noisy points (module docstring). Returns a dict of ``Measurement`` (σ
    increasing): "classifier", "denoiser_gap_implied_rate", "denoiser_gap_implied", and "classifier_partition" with
    a partition, "denoiser_gap_uncond_rate" / "uncond_mismatch" with ``uncond``. sigmas must lie below ``s_max``
    (default the model's sigma_max). ``return_log_posterior``: also return the classifier's per-sample log
    posteriors log p_σ(y | x_σ), shape (n, T, K), σ increasing (to group them into any partition afterwards)."""
    _check_model(model)
    x0, lab = _check_data(model, x0, labels)
    sig = _check_levels(sigmas)
    n_levels = check_count("n_levels", n_levels, 2)
    batch_size = check_count("batch_size", batch_size, 1)
    K = int(model.num_classes)
    if partition is not None and (not isinstance(partition, Partition) or partition.K != K):
        raise ValueError(f"partition must be a gmmtheory.Partition of the model's {K} labels")
    if uncond is not None:
        _check_model(uncond)
    p = _model_prior(model, prior)
    with np.errstate(divide="ignore"):
        log_prior = np.log(p)
    h_top = float(-np.sum(np.where(p > 0, p * log_prior, 0.0)))
    g = make_generator(generator)
    n = x0.shape[0]
    eps = randn(tuple(x0.shape), g, model)
    H = np.empty((n, sig.size))
    LP = np.empty((n, sig.size, K)) if return_log_posterior else None
    Hp = np.empty((n, sig.size)) if partition is not None else None
    gap = np.empty((n, sig.size))
    gap_u = np.empty((n, sig.size)) if uncond is not None else None
    mis = np.empty((n, sig.size)) if uncond is not None else None
    mem = None if partition is None else partition.membership() > 0
    with torch.no_grad():
        for k, s in enumerate(sig):
            s = float(s)
            for start in range(0, n, batch_size):
                sl = slice(start, min(start + batch_size, n))
                x = x0[sl] + s * eps[sl]
                m = x.shape[0]
                lp = classifier_log_posterior(model, x, s, list(range(K)), log_prior=log_prior, n_levels=n_levels,
                                              s_max=s_max, generator=g, batch_size=batch_size)
                lpn = lp.cpu().numpy()
                H[sl, k] = _entropy(lpn)
                if LP is not None:
                    LP[sl, k] = lpn
                if mem is not None:
                    grouped = np.logaddexp.reduce(np.where(mem, lpn[:, :, None], -np.inf), axis=1)
                    Hp[sl, k] = _entropy(grouped)  # type: ignore[index]
                lab_rep = torch.arange(K, device=x.device).repeat_interleave(m)
                dall = model(x.repeat(K, *([1] * (x.ndim - 1))), s, lab_rep).view(K, m, -1).to(torch.float64)
                du = torch.einsum("mk,kmd->md", torch.exp(lp), dall)
                dz = dall[lab[sl], torch.arange(m, device=x.device)]
                gap[sl, k] = ((dz - du) ** 2).sum(-1).cpu().numpy() / s**2
                if uncond is not None:
                    duu = uncond(x, s, None).to(torch.float64).flatten(1)
                    gap_u[sl, k] = ((dz - duu) ** 2).sum(-1).cpu().numpy() / s**2  # type: ignore[index]
                    mis[sl, k] = ((du - duu) ** 2).sum(-1).cpu().numpy() / s**2  # type: ignore[index]
    meta = {"n_samples": int(n), "n_levels": n_levels, "classes": list(range(K)), "H_Z": h_top,
            "s_max": float(model.sigma_max if s_max is None else s_max),
            "rows_per_point": {"classifier": 2 * (n_levels + 1) * K, "gap": K, "uncond": 1 if uncond else 0}}
    out: dict[str, Measurement] = {}
    v, e = _mean_se(H)
    out["classifier"] = Measurement(sig.copy(), v, e, "entropy", "classifier", dict(meta))
    if Hp is not None:
        v, e = _mean_se(Hp)
        out["classifier_partition"] = Measurement(sig.copy(), v, e, "entropy", "classifier",
                                                  {**meta, "partition": [list(b) for b in partition.groups]})  # type: ignore[union-attr]
    v, e = _mean_se(gap)
    gmeta = {**meta, "reference": "implied: Σ_y p_classifier(y | x) D_y",
             "tail": "rate(σ_top)/2 (rate ∝ 1/σ² above the grid)"}
    out["denoiser_gap_implied_rate"] = Measurement(sig.copy(), v, e, "rate", "denoiser_gap_implied", gmeta)
    v, e = _mean_se(gap_integral(sig, gap, h_top))
    out["denoiser_gap_implied"] = Measurement(sig.copy(), v, e, "entropy", "denoiser_gap_implied", gmeta)
    if gap_u is not None:
        v, e = _mean_se(gap_u)
        out["denoiser_gap_uncond_rate"] = Measurement(sig.copy(), v, e, "rate", "denoiser_gap_uncond",
                                                      {**meta, "reference": "separate unconditional model"})
        v, e = _mean_se(gap_integral(sig, gap_u, h_top))
        out["denoiser_gap_uncond"] = Measurement(sig.copy(), v, e, "entropy", "denoiser_gap_uncond",
                                                 {**meta, "reference": "separate unconditional model"})
        v, e = _mean_se(mis)
        out["uncond_mismatch"] = Measurement(sig.copy(), v, e, "rate", "uncond_mismatch",
                                             {**meta, "what": "|D_u^implied − D_u^uncond|² / σ²"})
    return (out, LP) if LP is not None else out
