"""The tracker bias table: the trackers against exact H[Z | X_σ] on the exact mixture model, per number of sampler
steps. b(σ) = mean tracked entropy − exact H; mean |b| is a log-σ average ∫ |b| dlog σ / ∫ dlog σ (trapezoid)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory.bridge.estimators.common import _entropy
from gmmtheory.bridge.estimators.tracker import Method, tracker_log_posteriors
from gmmtheory.bridge.gmm import GMMDenoiser
from gmmtheory.bridge.sampling import (
    edm_sigmas,
)
from gmmtheory.entropy import class_entropy  # the exact reference is the jax core
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.processes import EDM
from gmmtheory.progress import progress


def _bias_stats(err: np.ndarray, sigma: np.ndarray, extra_se: np.ndarray | None = None) -> dict[str, float]:
    """err (n, T): per-sample errors on a decreasing σ grid. Mean |bias| as a log-σ average, max bias, stderrs.

    b(σ) = mean_i err_i(σ); mean |b| = ∫ |b| dlog σ / ∫ dlog σ (trapezoid); its stderr is that of the
    per-sample average ∫ sign(b) err_i dlog σ / ∫ dlog σ (delta method). max bias = b at argmax |b|.
    """
    n = err.shape[0]
    b = err.mean(axis=0)
    se_pt = err.std(axis=0, ddof=1) / math.sqrt(n)
    if extra_se is not None:
        se_pt = np.sqrt(se_pt**2 + extra_se**2)
    ls = np.log(sigma)
    wts = np.zeros_like(ls)
    dl = -np.diff(ls)
    wts[:-1] += dl / 2
    wts[1:] += dl / 2
    wts /= wts.sum()
    per = (err * np.sign(b)[None]) @ wts
    se_mean = per.std(ddof=1) / math.sqrt(n)
    if extra_se is not None:
        se_mean = math.sqrt(se_mean**2 + float((wts * extra_se) @ np.ones_like(wts)) ** 2)
    k = int(np.argmax(np.abs(b)))
    return {"mean_abs": float(np.abs(b) @ wts), "mean_abs_se": float(se_mean), "max": float(b[k]),
            "max_se": float(se_pt[k]), "sigma_at_max": float(sigma[k])}


def tracker_bias_table(
    mixture: GaussianMixture,
    *,
    steps: Sequence[int] = (16, 32, 64, 128, 256),
    n_samples: int = 2000,
    partition: Partition | None = None,
    methods: Sequence[Method] = ("paper", "corrected"),
    samplers: Sequence[str] = ("ancestral", "posterior"),
    jvp: str = "autograd",
    seed: int = 0,
    exact_samples: int = 200_000,
    batch_size: int = 2048,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    device: str | torch.device = "cpu",
) -> list[dict[str, Any]]:
    """Bias of the trackers against exact H[Z_P | X_σ] on a ``GMMDenoiser`` of ``mixture``, per number of steps.

    For each N in ``steps`` and each sampler in ``samplers``: ``n_samples`` trajectories on ``edm_sigmas(N)``
    (seed ``seed + N``). On the ``"ancestral"`` trajectories every method in ``methods`` is tracked (paired
    comparison); the ``"posterior"`` sampler is driven by, and reported for, the corrected tracker (row method
    ``"corrected/posterior"``). Each row (steps, method) holds ``mean_abs`` / ``mean_abs_se`` (log-σ average of
    |b(σ)|, b = mean tracked entropy − exact H from ``gmmtheory.class_entropy`` under ``gmmtheory.EDM()`` with
    σ_data = 1, i.e. x_0 + σ ε), ``max`` / ``max_se`` / ``sigma_at_max`` (the signed b where |b| is largest), and
    the same for the kernel part alone (``kernel_…``: tracked entropy − entropy of the exact posterior at the same
    points, i.e. the tracker's own error with the sampler's error removed). Rows ``"sampler:<name>"`` give the
    sampler's part (exact posterior entropy at the sampled points − exact H); the total is their sum.
    Standard errors combine trajectory noise and, for Monte Carlo exact methods, the exact value's stderr.
    ``device``: where the ``GMMDenoiser`` computes.
    """
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    model = GMMDenoiser(mixture, partition, sigma_min=sigma_min, sigma_max=sigma_max, device=device)
    steps = [check_count("steps", s, 1) for s in steps]
    samplers = tuple(samplers)
    if not samplers or any(s not in ("ancestral", "posterior") for s in samplers):
        raise ValueError(f"samplers must be a non-empty subset of ('ancestral', 'posterior'); got {samplers!r}")
    rows: list[dict[str, Any]] = []
    for N in progress(steps, desc="bias table", total=len(steps)):
        grid = edm_sigmas(N, sigma_min, sigma_max, rho)
        sig = grid[grid > 0]
        H = class_entropy(mixture, EDM(), sig, partition=partition, n_samples=exact_samples, key=int(seed))
        h_exact, h_se = np.asarray(H.value, np.float64), np.asarray(H.stderr, np.float64)
        for smp in samplers:
            mths = tuple(methods) if smp == "ancestral" else ("corrected",)
            res = tracker_log_posteriors(model, n_samples=n_samples, sigmas=grid, methods=mths, sampler=smp,
                                         jvp=jvp, generator=int(seed) + N, batch_size=batch_size)
            h_pt = _entropy(res["exact"])
            for mth in list(mths) + [f"sampler:{smp}"]:
                if mth.startswith("sampler"):
                    tot = _bias_stats(h_pt - h_exact[None], sig, h_se)
                    ker = {k: 0.0 for k in tot}
                else:
                    h = _entropy(res["log_post"][mth])
                    tot = _bias_stats(h - h_exact[None], sig, h_se)
                    ker = _bias_stats(h - h_pt, sig)
                name = mth if smp == "ancestral" or mth.startswith("sampler") else f"{mth}/{smp}"
                rows.append({"steps": N, "method": name, "n_samples": int(n_samples), "exact_method": H.method,
                             **tot, **{f"kernel_{k}": v for k, v in ker.items()}})
    return rows


def format_bias_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of ``tracker_bias_table`` rows (nats; ± one standard error)."""
    head = ("| steps | method | mean abs bias | max bias (at σ) | kernel: mean abs bias | kernel: max bias |\n"
            "|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['steps']} | {r['method']} | {r['mean_abs']:.4f} ± {r['mean_abs_se']:.4f} | "
            f"{r['max']:+.4f} ± {r['max_se']:.4f} ({r['sigma_at_max']:.3g}) | "
            f"{r['kernel_mean_abs']:.4f} ± {r['kernel_mean_abs_se']:.4f} | "
            f"{r['kernel_max']:+.4f} ± {r['kernel_max_se']:.4f} |"
        )
    return "\n".join(lines)
