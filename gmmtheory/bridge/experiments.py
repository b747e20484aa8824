"""End-to-end bridge runs behind ``gmmtheory bridge {gmm,sd15,edm2}`` (digits: ``gmmtheory.bridge.digits``).

- ``run_gmm``: every estimator on the exact mixture model (``GMMDenoiser``), held against the jax engine — the
  tracker bias table over sampler steps (paper and corrected kernels), the denoiser-gap rate and entropy, and the
  diffusion-classifier entropy of a class subset, each with its largest deviation in standard errors.
- ``run_real``: the same measurements on a trained model (SD1.5 prompts, EDM2 classes, or any ``Denoiser``), with a
  theory overlay from a Gaussian surrogate fitted to the model's own samples: per-class means and diagonal
  variances → ``gmmtheory.class_entropy`` (Monte Carlo), and σ_S from t_S = ½ log Λ of the samples' covariance
  (Λ: top eigenvalue), mapped from OU time to σ at equal SNR (σ_S² = Λ − 1).

Every run serialises its result to ``<name>.json`` (all curves with standard errors and the settings) and returns
it; ``gmmtheory.report.bridge`` draws ``<name>.md`` and the figure from it (``gmmtheory bridge ...`` does both).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_choice
from gmmtheory.atomic import ensure_writable_dir
from gmmtheory.bridge.base import Denoiser, Measurement
from gmmtheory.bridge.estimators import (
    classifier_entropy,
    denoiser_gap,
    tracker_bias_table,
    tracker_entropy,
)
from gmmtheory.bridge.gmm import GMMDenoiser
from gmmtheory.bridge.sampling import edm_sigmas, sample
from gmmtheory.entropy import class_entropy
from gmmtheory.entropy.rate import entropy_rate
from gmmtheory.mixture import GaussianMixture
from gmmtheory.presets import build_preset
from gmmtheory.processes import EDM

__all__ = ["agreement", "run_gmm", "run_real", "surrogate_overlay"]


def agreement(measured: Measurement, exact: object, exact_se: object = None, *,
              floor: float = 0.01) -> dict[str, float]:
    """How far a measured curve is from the exact one, over the σ where the exact curve matters.

    Points are kept where the exact value exceeds ``floor`` × its maximum and the measured stderr is not zero to
    rounding (a zero spread means every sample gave the same number: the tracker's prior at its first σ). Far
    below that (the clean end, where H and its rate are ~1e-5 and carried by rare draws near the class boundary)
    a few hundred samples typically see none of the rare events, which is Monte Carlo's heavy tail, not a bias.
    Returns max_z = max |measured − exact| / stderr (stderr combined with the exact curve's when it is Monte
    Carlo), max_abs = max |measured − exact| over those points, and n_points.
    """
    se_m = np.asarray(measured.stderr, dtype=np.float64)
    se = se_m
    if exact_se is not None:
        se = np.sqrt(se**2 + np.asarray(exact_se, dtype=np.float64) ** 2)
    ex = np.asarray(exact, dtype=np.float64)
    diff = np.abs(np.asarray(measured.value) - ex)
    keep = (ex > floor * ex.max()) & (se_m > 1e-6 * se_m.max())
    if not keep.any():
        return {"max_z": float("nan"), "max_abs": float("nan"), "n_points": 0}
    return {"max_z": float(np.max(diff[keep] / se[keep])), "max_abs": float(np.max(diff[keep])),
            "n_points": int(keep.sum())}


def _sub_mixture(mixture: GaussianMixture, classes: Sequence[int]) -> GaussianMixture:
    idx = list(classes)
    w = mixture.weights[idx]
    return GaussianMixture(mixture.means[idx], mixture.component_covariances()[idx], w / w.sum())


GMM_PRESETS = ("two", "kclasses")


def _preset(preset: str, d: int, K: int, mu: float) -> GaussianMixture:
    """The named mixture of ``run_gmm`` from the one catalogue (``gmmtheory.presets.PRESETS``)."""
    check_choice("preset", preset, GMM_PRESETS)
    params: dict[str, object] = dict(d=d, mu=mu) if preset == "two" else dict(K=K, d=d, mu=mu)
    return build_preset(preset, **params).mixture


def run_gmm(
    out: str | Path,
    *,
    preset: str = "two",
    d: int = 64,
    K: int = 4,
    mu: float = 0.5,
    steps: Sequence[int] = (16, 32, 64, 128, 256),
    n_samples: int = 2000,
    seed: int = 0,
    device: str = "cpu",
    batch_size: int = 2048,
    curve_steps: int = 64,
) -> dict[str, Any]:
    """Validate the three estimators on the exact mixture model; returns the result and writes it to gmm.json.

    Tracker: ``tracker_bias_table`` (bias against exact H per number of EDM ρ = 7 steps on [0.002, 80], for each
    N in ``steps``), and the tracker curves of the figure and the checks (paper and corrected kernel, ``n_samples``
    trajectories on ``edm_sigmas(curve_steps)``; the CLI's ``--steps``).
    Denoiser gap: rate and entropy on 48 log-spaced σ ∈ [0.01, 80] from ``n_samples`` data draws, against
    ``entropy_rate(..., wrt="log_sigma")`` and ``class_entropy`` under ``EDM()`` (x_0 + σ ε).
    Classifier: H[Z | X_σ, Z ∈ {0, 1}] from the conditional denoisers alone, against the exact sub-mixture entropy.
    """
    if isinstance(curve_steps, bool) or not isinstance(curve_steps, (int, np.integer)) or curve_steps < 1:
        raise ValueError(f"curve_steps (--steps) must be an integer ≥ 1; got {curve_steps!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 8:
        raise ValueError(f"n_samples (--n-samples) must be an integer ≥ 8; got {n_samples!r}")
    out = ensure_writable_dir(Path(out), "out")
    start = time.perf_counter()
    mix = _preset(preset, d, K, mu)
    model = GMMDenoiser(mix, device=device)
    rows = tracker_bias_table(mix, steps=steps, n_samples=n_samples, seed=seed, batch_size=batch_size, device=device)
    t_tracker = time.perf_counter() - start

    edm = EDM()
    sig = np.geomspace(0.01, 80.0, 48)
    x0, lab = model.sample(n_samples, seed + 1)
    rate, H_gap = denoiser_gap(model, x0, lab, sig, generator=seed + 2, batch_size=batch_size)
    H_exact = class_entropy(mix, edm, sig, key=seed + 3)
    rate_exact = entropy_rate(mix, edm, sig, wrt="log_sigma", key=seed + 4)

    sub = _sub_mixture(mix, (0, 1))
    x0s, labs = GMMDenoiser(sub, device=device).sample(n_samples // 4, seed + 5)
    sig_c = np.geomspace(0.05, 40.0, 12)
    H_cls = classifier_entropy(model, x0s, labs, sig_c, (0, 1), generator=seed + 6, batch_size=batch_size)
    H_sub = class_entropy(sub, edm, sig_c, key=seed + 7)

    track_sig = edm_sigmas(int(curve_steps))
    H_track = tracker_entropy(model, n_samples=n_samples, sigmas=track_sig, generator=seed + 8, batch_size=batch_size)
    H_track_c = tracker_entropy(model, n_samples=n_samples, sigmas=track_sig, corrected=True, generator=seed + 8,
                                batch_size=batch_size)
    H_track_exact = class_entropy(mix, edm, H_track.sigma, key=seed + 9)

    tr_name, trc_name = f"tracker, {curve_steps} steps", f"corrected tracker, {curve_steps} steps"
    checks = {
        "denoiser-gap rate": agreement(rate, rate_exact.value, rate_exact.stderr),
        "denoiser-gap entropy": agreement(H_gap, H_exact.value, H_exact.stderr),
        "classifier entropy (classes 0, 1)": agreement(H_cls, H_sub.value, H_sub.stderr),
        tr_name: agreement(H_track, H_track_exact.value, H_track_exact.stderr),
        trc_name: agreement(H_track_c, H_track_exact.value, H_track_exact.stderr),
    }
    result = {
        "mixture": {"preset": preset, "d": d, "K": mix.K, "mu": mu},
        "bias_table": rows,
        "checks": checks,
        "curves": {"denoiser_gap_rate": rate.to_dict(), "denoiser_gap_entropy": H_gap.to_dict(),
                   "classifier_entropy": H_cls.to_dict(), "tracker": H_track.to_dict(),
                   "tracker_corrected": H_track_c.to_dict()},
        "exact": {"sigma": sig.tolist(), "H": np.asarray(H_exact.value).tolist(),
                  "H_stderr": np.asarray(H_exact.stderr).tolist(), "rate": np.asarray(rate_exact.value).tolist()},
        "settings": {"steps": list(steps), "curve_steps": int(curve_steps), "n_samples": n_samples,
                     "batch_size": batch_size, "seed": seed, "device": device},
        "seconds": {"tracker_table": t_tracker, "total": time.perf_counter() - start},
    }
    (out / "gmm.json").write_text(json.dumps(result, indent=1, default=float))
    return result


def surrogate_overlay(x0: torch.Tensor, labels: torch.Tensor, classes: Sequence[int], sigmas: np.ndarray, *,
                      n_samples: int = 2**12, seed: int = 0, shrinkage: float = 1e-3) -> dict[str, Any]:
    """Theory from a Gaussian surrogate of samples: per-class means and diagonal variances (floored at
    ``shrinkage`` × the mean variance), equal class weights over ``classes``; H[Z | X_σ] by the engine's Monte Carlo
    under x_0 + σ ε, and σ_S = √(Λ − 1) from the top eigenvalue Λ of the pooled samples' covariance."""
    x = x0.detach().to(torch.float64).reshape(x0.shape[0], -1).cpu().numpy()
    lab = labels.detach().cpu().numpy()
    means, var = [], []
    for c in classes:
        xc = x[lab == c]
        if xc.shape[0] < 2:
            raise ValueError(f"surrogate: class {c} has {xc.shape[0]} samples; need at least 2")
        means.append(xc.mean(axis=0))
        var.append(xc.var(axis=0, ddof=1))
    var_arr = np.asarray(var)
    var_arr = np.maximum(var_arr, shrinkage * var_arr.mean())
    mix = GaussianMixture(np.asarray(means), var_arr, cov_kind="class_diag")
    H = class_entropy(mix, EDM(), sigmas, method="montecarlo", n_samples=n_samples, key=seed, warn=False)
    xc = x - x.mean(axis=0)
    lam = float(np.linalg.svd(xc, compute_uv=False)[0] ** 2 / max(x.shape[0] - 1, 1))
    sigma_s = math.sqrt(lam - 1.0) if lam > 1 else float("nan")
    return {"sigma": np.asarray(sigmas), "H": np.asarray(H.value), "stderr": np.asarray(H.stderr),
            "Lambda": lam, "sigma_S": sigma_s, "t_S": 0.5 * math.log(lam) if lam > 0 else float("nan")}


def run_real(
    model: Denoiser,
    out: str | Path,
    *,
    name: str,
    classes: Sequence[int],
    steps: int = 64,
    n_samples: int = 256,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    rho: float = 7.0,
    seed: int = 0,
    batch_size: int = 64,
    corrected: bool = True,
    class_names: Sequence[str] | None = None,
    n_levels: int = 16,
    n_sigma: int = 24,
) -> dict[str, Any]:
    """Measure H over σ on a trained model for a subset of its classes and overlay surrogate theory.

    1. ``n_samples`` trajectories of the stochastic sampler (EDM ρ-grid, ``steps`` steps) with the unconditional
       model, tracking each class of ``classes`` against the unconditional reference (uniform prior over the model's
       K classes): the paper's tracker, and the corrected one when ``corrected`` (finite-difference JVPs).
    2. The model's own class-conditional samples (``n_samples`` split over ``classes``) → denoiser-gap entropy
       within the subset (reference: the sub-mixture denoiser, weights from the diffusion classifier) and the
       surrogate overlay (``surrogate_overlay``).
    ``n_levels``: quadrature nodes of the diffusion classifier (2·n_levels·|classes| network calls per σ and sample);
    ``n_sigma``: log-spaced σ of the denoiser-gap curve. Returns the result and writes it to ``<name>.json``.
    """
    out = ensure_writable_dir(Path(out), "out")
    start = time.perf_counter()
    smin = float(model.sigma_min if sigma_min is None else sigma_min)
    smax = float(model.sigma_max if sigma_max is None else sigma_max)
    grid = edm_sigmas(steps, smin, smax, rho)
    cl = list(classes)
    if len(cl) < 2:
        raise ValueError(f"classes: need at least two classes; got {cl}")
    tracked = {"tracker": tracker_entropy(model, n_samples=n_samples, sigmas=grid, classes=cl, prior=None,
                                          generator=seed, batch_size=batch_size)}
    if corrected:
        tracked["tracker_corrected"] = tracker_entropy(model, n_samples=n_samples, sigmas=grid, classes=cl,
                                                       corrected=True, jvp="finite", sampler="ancestral",
                                                       generator=seed, batch_size=batch_size)
    per = max(n_samples // len(cl), 2)
    labels = torch.tensor(cl, device=model.device).repeat_interleave(per)
    x0 = sample(model, labels, grid, generator=seed + 1, batch_size=batch_size)
    # the subset reference needs the diffusion classifier, which adds noise above σ up to the model's σ_max
    sig = np.geomspace(max(smin, 1e-2), smax / 4, n_sigma)
    _, H_gap = denoiser_gap(model, x0, labels, sig, classes=cl, generator=seed + 2, batch_size=batch_size,
                            n_levels=n_levels)
    theory = surrogate_overlay(x0, labels, cl, sig, seed=seed + 3)
    result = {
        "model": name,
        "classes": cl,
        "class_names": list(class_names) if class_names else None,
        "curves": {**{k: m.to_dict() for k, m in tracked.items()}, "denoiser_gap_subset": H_gap.to_dict()},
        "surrogate": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in theory.items()},
        "settings": {"steps": steps, "n_samples": n_samples, "n_levels": n_levels, "sigma_min": smin,
                     "sigma_max": smax, "rho": rho,
                     "seed": seed, "device": str(model.device)},
        "seconds": time.perf_counter() - start,
    }
    (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=float))
    return result
