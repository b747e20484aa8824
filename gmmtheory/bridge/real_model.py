"""The real-model experiment: H[Z | X_σ] on a trained class-conditional network, by independent estimators, against
a Gaussian-mixture surrogate of the network's own samples (``run_real_model``; command ``gmmtheory bridge real``).

Convention (EDM): x_σ = x_0 + σ ε, D(x, σ, y) ≈ E[X_0 | X_σ = x, Y = y]; the network may be conditional only (no null
label). Steps, for a model with K classes and uniform prior π_y = 1/K (H[Z] = log K):

1. **Samples.** n_fit labelled pairs (x_0, y) from the model's own generative law: y uniform on 0..K−1, x_0 from
   EDM's deterministic Heun sampler (Karras et al. 2022, Algorithm 1) on the ρ = 7 grid with ``sample_steps``
   nonzero levels from σ_max to σ_min (default 18 levels, 80 → 0.002: 35 network evaluations per image), started
   at N(0, σ_max² I). The first ``n_samples`` pairs feed the classifier pass, all of them the surrogate.
2. **Estimators of H[Z | X_σ]** (each with standard errors across its own samples):
   - *classifier* (``conditional_curves``): x_σ = x_0 + σ ε (the same ε at every σ), p_σ(y | x_σ) from the
     continuous-time diffusion ELBO of every class (``n_levels`` Gauss–Legendre nodes up to s_T = σ_max, so
     every σ of the grid must lie below σ_max), H_i = −Σ_y p log p;
   - *denoiser gap, implied D_u* (same pass): rate_i = |D_{y_i}(x_σ) − D_u(x_σ)|²/σ² with
     D_u = Σ_y p_σ(y | x_σ) D_y(x_σ) (I-MMSE: dH/dlog σ = E rate), H(σ) = H[Z] − rate(σ_top)/2 −
     ∫_σ^{σ_top} rate dlog σ (per-sample trapezoid in log σ);
   - *denoiser gap, separate unconditional model* (``uncond_model``): the same with D_u from that network,
     an independent cross-check of the implied D_u;
   - *tracker* (``tracker_entropy``, sampler "implied"): ``n_tracker`` trajectories of the ancestral sampler with
     D_u = Σ_z q(z | x) D_z, q the tracked posterior, on EDM's ρ-grid of ``tracker_steps`` levels in
     [σ_min, σ_max]; the posterior accumulates the Gaussian step kernels of every class.
   dH/dlog σ: the gap rate directly; for the classifier and the tracker, centred differences in log σ of each
   sample's (trajectory's) curve (``np.gradient``), mean and standard error across samples.
3. **Cost**: network rows (images through the net) and calls from ``CountingDenoiser``, and wall seconds, per
   estimator (classifier and implied gap share one pass; its rows split as 2(L + 1)K : K per sample and σ).
4. **Agreement** of two estimators A, B per σ of A's grid: z = |H_A − H_B| / √(se_A² + se_B²), B interpolated
   linearly in log σ onto A's σ (its standard error likewise) when the grids differ. Points are left out, with the
   reason, where σ lies outside B's grid or the combined standard error is zero to rounding (both curves exact
   there: the tracker's prior at its first level, H ≡ 0 at the clean end). Both estimators are Monte Carlo means of
   different random variables with known small biases (the classifier's noisy logits bias H down, noise in D_u
   biases the gap up, the tracker's Gaussian kernel is over-confident at coarse steps), so a real network's z can
   exceed what noise alone gives; the per-point z is kept.
5. **Partitions** P = {B_1, …, B_M}: p_σ(B | x) = Σ_{y ∈ B} p_σ(y | x) from the same per-sample posteriors of the
   classifier and of the tracker (no further network evaluation), H[Z_P | X_σ] and its windows against
   H[Z_P] = −Σ_B π_B log π_B. Default: the superclass split {0, 6, 8, 9} | rest when K = 10 (digits with a closed
   loop), and "2-means": the two-block split of the labels minimising the within-block sum of squared distances of
   the class means of the samples, Σ_B Σ_{y ∈ B} |μ_y − μ̄_B|² (exhaustive over all 2^{K−1} − 1 splits for
   K ≤ 16, Lloyd's iterations from the farthest pair otherwise).
6. **Landmarks** (``crossing_landmarks``): on the least-squares non-decreasing fit Ĥ of H against log σ, σ_q is where
   Ĥ first reaches q·H[Z] (q = 10, 50, 90 %; linear interpolation in log σ); half-entropy σ = σ_50, the 10–90 %
   window [σ_10, σ_90]. Uncertainty of log σ_q: propagated se(H)/(dĤ/dlog σ) at the crossing, and the standard
   deviation over a parametric bootstrap H* = H + se·ξ (ξ ~ N(0, 1) per point, refitted).
7. **Surrogate theory** (``fit_surrogate``): the Gaussian mixture p_0 = Σ_y (1/K) N(μ_y, Σ_y) with μ_y the class
   means of the samples and, by ``surrogate_cov``,
   - "lowrank" (default): Σ_y = U_y U_yᵀ + diag ψ_y, U_y the top r_y = min(``surrogate_rank``, n_y − 1, d)
     principal directions of class y's centred samples scaled by their standard deviations (thin SVD; default
     rank 32) and ψ_y the residual per-pixel variance, floored at ``shrinkage`` × the mean per-pixel variance f
     (ψ_y ≥ f > 0: positive definite), built as (K, d, d) full covariances (cov_kind "class_full");
   - "diagonal": Σ_y = diag v_y, v_y the per-pixel variances floored at f (ignores pixel correlations).
   H[Z | X_σ] and H[Z_P | X_σ] by ``gmmtheory.class_entropy`` (Monte Carlo, ``surrogate_samples`` draws, common
   random numbers across σ) under EDM's x_0 + σ ε; with "lowrank" the diagonal surrogate's curves are computed
   beside it for comparison (``surrogate["diagonal"]``). σ_S = √(Λ − 1), Λ the top eigenvalue of the pooled
   samples' covariance (t_S = ½ log Λ in OU time, mapped to σ at equal SNR); landmarks as in 6. Cost: the full
   covariances cost (2K + 1)·d² multiply-adds per Monte Carlo draw (≈ 5 s per curve for K = 10, d = 784, 2¹² draws,
   49 σ on 2 CPU cores, float64), the diagonal O(K·d).
8. **Recommended guidance interval** (rule): gmmtheory's semantic window of the class level on the measured
   *classifier* curve — the shortest interval [σ_lo, σ_hi] in log σ holding ``guidance_fraction`` (80 %) of the
   class information Ĥ(σ_max) − Ĥ(σ_min) that the curve produces over its grid (``control.recommend_window``:
   monotone fit clipped to [0, H[Z]], bootstrap percentiles); apply guidance w ≠ 1 only for σ ∈ (σ_lo, σ_hi), as
   EDM2's interval guidance (Kynkäänniemi et al. 2024: (0.28, 2.9) on ImageNet-512 latents). The classifier's
   10–90 % window [σ_10, σ_90] (also an 80 % interval, not the shortest) is stated beside it.

The result is a JSON-serialisable dict (every curve with its standard errors, landmarks, agreement, cost, settings,
seconds; non-finite numbers as None); ``out`` writes it to ``out/<name>.json``. ``gmmtheory.report.real_model``
draws the page and the figure from it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmmtheory.atomic import ensure_writable_dir
from gmmtheory.bridge.base import Measurement
from gmmtheory.bridge.estimators.conditional import conditional_curves
from gmmtheory.bridge.estimators.implied import CountingDenoiser, is_conditional_only
from gmmtheory.bridge.estimators.tracker import tracker_entropy
from gmmtheory.bridge.real_pieces import (
    _clean,
    _entropy,
    _group,
    _mean_se,
    _per_sample_rate,
    check_denoiser,
    check_surrogate_options,
    crossing_landmarks,
    estimator_agreement,
    fit_surrogate,
    two_means_partition,
)
from gmmtheory.bridge.sampling import edm_sigmas, sample
from gmmtheory.control.theory import recommend_window
from gmmtheory.entropy import class_entropy
from gmmtheory.mixture import Partition
from gmmtheory.processes import EDM

__all__ = ["DEFAULT_SUPERCLASS", "crossing_landmarks", "estimator_agreement", "fit_surrogate", "run_real_model",
           "two_means_partition"]

DEFAULT_SUPERCLASS = (0, 6, 8, 9)
RULE = ("semantic window of the class level on the measured classifier curve: the shortest log σ interval holding "
        "{frac:.0%} of the class information the curve produces over its grid (monotone fit clipped to [0, H[Z]]); "
        "guidance w ≠ 1 only for σ in (σ_lo, σ_hi)")


# ============================================================================================= argument checks
def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}; got {value!r}")
    return int(value)


def _check_grid(sigmas: object, lo: float, hi: float, default_n: int, who: str) -> np.ndarray:
    """The classifier grid: increasing, ≥ 3 distinct values in [lo, hi) (hi = σ_max: the ELBO needs levels above)."""
    if sigmas is None:
        return np.geomspace(lo, hi / 2, default_n)
    try:
        s = np.array(sigmas, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"sigmas must be a 1-D sequence of noise levels; got {sigmas!r}") from None
    if s.size < 3 or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"sigmas must hold at least 3 finite noise levels > 0; got {s.tolist()}")
    s = np.sort(s)
    if np.any(np.diff(s) <= 0):
        raise ValueError("sigmas must not repeat a value")
    if s[0] < lo * (1 - 1e-12) or s[-1] >= hi:
        raise ValueError(f"sigmas must lie in [{lo:g}, {hi:g}) ({who}; the classifier needs noise levels above each "
                         f"σ up to σ_max = {hi:g}); got [{s[0]:g}, {s[-1]:g}]")
    return s


def _check_partitions(partitions: object, K: int) -> dict[str, Partition]:
    if partitions is None:
        if K == 10:
            rest = [k for k in range(10) if k not in DEFAULT_SUPERCLASS]
            return {"superclass {0,6,8,9}": Partition([list(DEFAULT_SUPERCLASS), rest], names=["0689", "rest"])}
        return {}
    if not isinstance(partitions, Mapping):
        raise ValueError("partitions must be None or a dict name → Partition (or list of label groups); got "
                         f"{type(partitions).__name__}")
    out = {}
    for name, p in partitions.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"partitions: names must be non-empty strings; got {name!r}")
        try:
            part = p if isinstance(p, Partition) else Partition(p)
        except ValueError as err:
            raise ValueError(f"partitions[{name!r}]: {err}") from None
        if part.K != K:
            raise ValueError(f"partitions[{name!r}] must partition the model's {K} labels; it covers {part.K}")
        out[name] = part
    return out


def _prior_entropy(part: Partition | None, K: int) -> float:
    w = np.full(K, 1.0 / K) if part is None else part.group_weights(np.full(K, 1.0 / K))
    w = w[w > 0]
    return float(-np.sum(w * np.log(w)))


# ======================================================================================================= run
def run_real_model(
    model: Any,
    *,
    uncond_model: Any = None,
    n_samples: int = 48,
    sigmas: object = None,
    partitions: Mapping[str, Partition | Sequence[Sequence[int]]] | None = None,
    cluster_partition: bool = True,
    seed: int = 0,
    out: str | Path | None = None,
    name: str = "real_model",
    n_fit: int = 300,
    n_sigma: int = 10,
    n_levels: int = 6,
    n_tracker: int = 128,
    tracker_steps: int = 32,
    sample_steps: int = 18,
    surrogate_samples: int = 2**12,
    surrogate_grid: int = 49,
    surrogate_cov: str = "lowrank",
    surrogate_rank: int | None = None,
    guidance_fraction: float = 0.8,
    n_boot: int = 200,
    batch_size: int = 256,
) -> dict[str, Any]:
    """The real-model experiment on a class-conditional ``Denoiser`` (module docstring, steps 1–8).

    Args:
        model: the class-conditional network as a ``Denoiser`` (e.g. ``load_checkpoint(...)``); its unconditional
            output is never called (conditional-only networks welcome); uniform class prior.
        uncond_model: optional separate unconditional ``Denoiser`` (same data frame) for the cross-check gap.
        n_samples: labelled samples of the classifier / implied-gap pass (≥ 4; ≤ n_fit).
        sigmas: the classifier grid (any order, ≥ 3 values in [σ_min, σ_max)); default ``n_sigma`` log-spaced
            values from the model's σ_min (the larger of the two models' with ``uncond_model``) to σ_max / 2.
        partitions: dict name → ``Partition`` or list of label groups; default {0, 6, 8, 9} | rest for K = 10.
        cluster_partition: add "2-means", the split found from the samples' class means (``two_means_partition``).
        seed: every random number (labels, sampler, estimators, surrogate, bootstrap) derives from it.
        out: folder to write ``<name>.json`` into (None: nothing written).
        n_fit: model samples drawn (surrogate fit; the first ``n_samples`` also feed the classifier).
        n_levels: Gauss–Legendre nodes of the diffusion classifier (2(L + 1)K rows per sample and σ).
        n_tracker, tracker_steps: tracker trajectories and ρ-grid levels (K rows per trajectory and step).
        sample_steps: levels of the Heun sampler (18: EDM's 35-evaluation sampler).
        surrogate_samples, surrogate_grid: Monte Carlo draws and log-spaced σ points of the surrogate curves.
        surrogate_cov: "lowrank" (default; per-class U_y U_yᵀ + diag ψ_y, the diagonal one computed beside it) or
            "diagonal" (``fit_surrogate``). surrogate_rank: r of the low-rank part (default min(n_y − 1, d, 32)).
        guidance_fraction: share of the information the recommended interval holds (default 0.8).
        n_boot: bootstrap replicates of landmarks and the interval. batch_size: images per network call group.
    Returns:
        a JSON-serialisable dict: ``model``, ``settings``, ``samples``, ``curves`` (name → Measurement dict: entropy
        and rate curves with stderr), ``landmarks`` (name → ``crossing_landmarks``), ``agreement``, ``partitions``,
        ``surrogate``, ``guidance_interval``, ``cost`` (rows, calls, seconds per estimator) and ``seconds``.
    """
    check_denoiser(model)
    K = int(model.num_classes)
    if K < 2:
        raise ValueError(f"model must be class-conditional with ≥ 2 classes; num_classes = {K}")
    if uncond_model is not None:
        check_denoiser(uncond_model, "uncond_model")
        if tuple(uncond_model.shape) != tuple(model.shape):
            raise ValueError(f"uncond_model: shape {tuple(uncond_model.shape)} differs from the model's "
                             f"{tuple(model.shape)}")
    n_samples = _check_int("n_samples", n_samples, 4)
    n_fit = _check_int("n_fit", n_fit, 2 * K)
    if n_fit < n_samples:
        raise ValueError(f"n_fit must be ≥ n_samples ({n_samples}); got {n_fit}")
    seed = _check_int("seed", seed, 0)
    n_sigma = _check_int("n_sigma", n_sigma, 3)
    n_levels = _check_int("n_levels", n_levels, 2)
    n_tracker = _check_int("n_tracker", n_tracker, 2)
    tracker_steps = _check_int("tracker_steps", tracker_steps, 2)
    sample_steps = _check_int("sample_steps", sample_steps, 2)
    surrogate_samples = _check_int("surrogate_samples", surrogate_samples, 64)
    surrogate_grid = _check_int("surrogate_grid", surrogate_grid, 3)
    n_boot = _check_int("n_boot", n_boot, 0)
    batch_size = _check_int("batch_size", batch_size, 1)
    surrogate_cov, surrogate_rank = check_surrogate_options(surrogate_cov, surrogate_rank,
                                                            names=("surrogate_cov", "surrogate_rank"))
    if not (isinstance(guidance_fraction, (int, float)) and 0 < float(guidance_fraction) < 1):
        raise ValueError(f"guidance_fraction must lie in (0, 1); got {guidance_fraction!r}")
    if not isinstance(cluster_partition, bool):
        raise ValueError(f"cluster_partition must be True or False; got {cluster_partition!r}")
    if not isinstance(name, str) or not name or any(c in name for c in "/\\"):
        raise ValueError(f"name must be a plain file stem; got {name!r}")
    smin = float(getattr(model, "sigma_min", 0.002))
    smax = float(model.sigma_max)
    lo, who = smin, f"the model's σ range [{smin:g}, {smax:g}]"
    if uncond_model is not None:
        ulo, uhi = float(getattr(uncond_model, "sigma_min", 0.0)), float(uncond_model.sigma_max)
        lo, who = max(smin, ulo), f"the models' common σ range from {max(smin, ulo):g}"
        smax_c = min(smax, uhi)
    else:
        smax_c = smax
    sig = _check_grid(sigmas, lo, smax_c, n_sigma, who)
    parts = _check_partitions(partitions, K)
    out_dir = None if out is None else ensure_writable_dir(Path(out), "out")

    start = time.perf_counter()
    net = CountingDenoiser(model)
    unet = None if uncond_model is None else CountingDenoiser(uncond_model)
    cost: dict[str, dict[str, Any]] = {}
    h_z = _prior_entropy(None, K)

    # 1. samples from the model's own law
    t0 = time.perf_counter()
    g = torch.Generator(device="cpu").manual_seed(seed)
    labels = torch.randint(0, K, (n_fit,), generator=g)
    sgrid = edm_sigmas(sample_steps, max(smin, 0.002), min(smax, 80.0))
    x0 = sample(net, labels.to(model.device), sgrid, stochastic=False, solver="heun", init="edm",
                generator=seed + 1, batch_size=batch_size, show_progress=False)
    if not bool(torch.all(torch.isfinite(x0))):
        raise ValueError("model: its samples are not finite (check the parametrization and the σ range)")
    cost["sampling"] = {**net.snapshot(), "seconds": time.perf_counter() - t0}
    counts = np.bincount(labels.numpy(), minlength=K)

    # 2. classifier + implied gap (+ separate-model gap): one pass
    net.reset()
    t0 = time.perf_counter()
    cc, lp_cls = conditional_curves(net, x0[:n_samples], labels[:n_samples], sig, uncond=unet, n_levels=n_levels,
                                    generator=seed + 2, batch_size=batch_size, return_log_posterior=True)
    secs = time.perf_counter() - t0
    rows, calls = net.rows, net.calls
    per_cls, per_gap = 2 * (n_levels + 1) * K, K
    cost["classifier"] = {"rows": rows * per_cls // (per_cls + per_gap), "calls": None,
                          "seconds": secs * per_cls / (per_cls + per_gap),
                          "rows_per_sample_and_sigma": per_cls}
    cost["denoiser_gap_implied"] = {"rows": rows * per_gap // (per_cls + per_gap), "calls": None,
                                    "seconds": secs * per_gap / (per_cls + per_gap),
                                    "rows_per_sample_and_sigma": per_gap}
    cost["classifier_pass_total"] = {"rows": rows, "calls": calls, "seconds": secs,
                                     "note": "classifier and implied gap share this pass; split by rows"}
    if unet is not None:
        cost["denoiser_gap_uncond"] = {**unet.snapshot(), "seconds": None, "rows_per_sample_and_sigma": 1,
                                       "note": "its calls run inside the classifier pass (included in its seconds)"}

    # 3. tracker with the implied sampler
    net.reset()
    t0 = time.perf_counter()
    tgrid = edm_sigmas(tracker_steps, smin, smax)
    tr, lp_tr = tracker_entropy(net, n_samples=n_tracker, sigmas=tgrid, sampler="implied", generator=seed + 3,
                                batch_size=batch_size, return_log_posterior=True)
    cost["tracker"] = {**net.snapshot(), "seconds": time.perf_counter() - t0, "rows_per_trajectory_and_step": K}
    lp_tr = lp_tr[:, ::-1]  # σ increasing, as tr.sigma
    t_sig = np.asarray(tr.sigma)

    # per-sample curves → rates
    h_cls = _entropy(lp_cls)  # (n, T)
    h_tr = _entropy(lp_tr)
    curves: dict[str, Measurement] = {
        "classifier": cc["classifier"],
        "denoiser_gap_implied": cc["denoiser_gap_implied"],
        "tracker": tr,
    }
    if "denoiser_gap_uncond" in cc:
        curves["denoiser_gap_uncond"] = cc["denoiser_gap_uncond"]
    rates: dict[str, Measurement] = {
        "denoiser_gap_implied": cc["denoiser_gap_implied_rate"],
    }
    v, e = _per_sample_rate(sig, h_cls)
    rates["classifier"] = Measurement(sig.copy(), v, e, "rate", "classifier",
                                      {"how": "centred differences of each sample's H in log σ"})
    v, e = _per_sample_rate(t_sig, h_tr)
    rates["tracker"] = Measurement(t_sig.copy(), v, e, "rate", "tracker",
                                   {"how": "centred differences of each trajectory's H in log σ"})
    if "denoiser_gap_uncond_rate" in cc:
        rates["denoiser_gap_uncond"] = cc["denoiser_gap_uncond_rate"]
        rates["uncond_mismatch"] = cc["uncond_mismatch"]

    landmarks = {k: crossing_landmarks(m.sigma, m.value, m.stderr, h_z, n_boot=n_boot, seed=seed + 4)
                 for k, m in curves.items()}
    pairs = [("classifier", "tracker"), ("classifier", "denoiser_gap_implied"), ("tracker", "denoiser_gap_implied")]
    if "denoiser_gap_uncond" in curves:
        pairs += [("denoiser_gap_implied", "denoiser_gap_uncond"), ("classifier", "denoiser_gap_uncond")]
    agreement = {f"{a} vs {b}": estimator_agreement(curves[a], curves[b]) for a, b in pairs}

    # 5. partitions (no further network evaluations)
    x_fit = x0.detach().to(torch.float64).reshape(n_fit, -1).cpu().numpy()
    class_means = np.stack([x_fit[labels.numpy() == c].mean(0) if counts[c] else np.full(x_fit.shape[1], np.nan)
                            for c in range(K)])
    if cluster_partition:
        if np.any(counts == 0):
            raise ValueError(f"n_fit: some classes drew no sample (counts {counts.tolist()}); raise n_fit")
        parts = {**parts, "2-means": two_means_partition(class_means)}
    part_out: dict[str, Any] = {}
    for pname, part in parts.items():
        hp = _prior_entropy(part, K)
        mc = Measurement(sig.copy(), *_mean_se(_entropy(_group(lp_cls, part))), "entropy", "classifier",
                         {"partition": [list(b) for b in part.groups]})
        mt = Measurement(t_sig.copy(), *_mean_se(_entropy(_group(lp_tr, part))), "entropy", "tracker",
                         {"partition": [list(b) for b in part.groups]})
        part_out[pname] = {
            "groups": [list(b) for b in part.groups], "names": list(part.names), "H_prior": hp,
            "curves": {"classifier": mc.to_dict(), "tracker": mt.to_dict()},
            "landmarks": {"classifier": crossing_landmarks(mc.sigma, mc.value, mc.stderr, hp, n_boot=n_boot,
                                                           seed=seed + 5),
                          "tracker": crossing_landmarks(mt.sigma, mt.value, mt.stderr, hp, n_boot=n_boot,
                                                        seed=seed + 6)},
            "agreement": estimator_agreement(mc, mt),
        }

    # 7. surrogate theory
    t0 = time.perf_counter()
    s_grid = np.geomspace(smin, smax, surrogate_grid)

    def surrogate_levels(mixture: Any) -> dict[str, Any]:
        levels: dict[str, Any] = {}
        for lname, part in [("classes", None), *parts.items()]:
            res = class_entropy(mixture, EDM(), s_grid, partition=part, method="montecarlo",
                                n_samples=surrogate_samples, key=seed + 7, warn=False)
            hp = _prior_entropy(part, K)
            levels[lname] = {"H": np.asarray(res.value), "stderr": np.asarray(res.stderr), "H_prior": hp,
                             "landmarks": crossing_landmarks(s_grid, res.value, res.stderr, hp, n_boot=n_boot,
                                                             seed=seed + 8)}
        return levels

    sur = fit_surrogate(x0, labels, K, covariance=surrogate_cov, rank=surrogate_rank)
    sur_levels = surrogate_levels(sur["mixture"])
    cost["surrogate"] = {"rows": 0, "calls": 0, "seconds": time.perf_counter() - t0,
                         "note": f"no network evaluation: jax Monte Carlo on the fitted {surrogate_cov} mixture"}
    sur_diag = None
    if surrogate_cov == "lowrank":
        t0 = time.perf_counter()
        dg = fit_surrogate(x0, labels, K, covariance="diagonal")
        sur_diag = {"cov": "diagonal", "cov_kind": "class_diag", "levels": surrogate_levels(dg["mixture"])}
        cost["surrogate_diagonal"] = {"rows": 0, "calls": 0, "seconds": time.perf_counter() - t0,
                                      "note": "the diagonal surrogate beside it, for comparison"}

    # 8. recommended guidance interval
    win = recommend_window(curves["classifier"], fraction=float(guidance_fraction), n_boot=n_boot, seed=seed + 9,
                           bounds=(0.0, h_z))
    lm = landmarks["classifier"]
    guidance = {"rule": RULE.format(frac=float(guidance_fraction)), "source": "classifier",
                "sigma_lo": win.sigma_lo, "sigma_hi": win.sigma_hi, "sigma_lo_ci": list(win.sigma_lo_ci),
                "sigma_hi_ci": list(win.sigma_hi_ci), "log_width": win.log_width, "held": win.held,
                "fraction": float(guidance_fraction), "window_10_90": [lm["sigma_10"], lm["sigma_90"]]}

    model_info = {"repr": repr(model), "class": type(model).__name__, "shape": list(model.shape), "num_classes": K,
                  "sigma_min": smin, "sigma_max": smax, "sigma_data": float(model.sigma_data),
                  "conditional_only": bool(is_conditional_only(model)), "dtype": str(model.dtype),
                  "device": str(model.device),
                  "uncond": None if uncond_model is None else {"repr": repr(uncond_model),
                                                               "sigma_min": float(getattr(uncond_model, "sigma_min",
                                                                                          math.nan)),
                                                               "sigma_max": float(uncond_model.sigma_max)}}
    result = {
        "name": name,
        "model": model_info,
        "H_Z": h_z,
        "settings": {"n_samples": n_samples, "n_fit": n_fit, "sigmas": sig.tolist(), "n_levels": n_levels,
                     "n_tracker": n_tracker, "tracker_steps": tracker_steps, "tracker_sigmas": tgrid.tolist(),
                     "sample_steps": sample_steps, "sampler": "EDM Heun (deterministic), ρ = 7, init N(0, σ_max² I)",
                     "sample_sigmas": sgrid.tolist(), "surrogate_samples": surrogate_samples,
                     "surrogate_cov": surrogate_cov, "surrogate_rank": surrogate_rank,
                     "guidance_fraction": float(guidance_fraction), "n_boot": n_boot,
                     "batch_size": batch_size, "seed": seed, "prior": "uniform",
                     "torch_threads": torch.get_num_threads()},
        "samples": {"n": n_fit, "label_counts": counts.tolist(), "x0_min": float(x0.min()),
                    "x0_max": float(x0.max()), "x0_mean": float(x0.mean())},
        "curves": {k: m.to_dict() for k, m in curves.items()},
        "rates": {k: m.to_dict() for k, m in rates.items()},
        "landmarks": landmarks,
        "agreement": agreement,
        "partitions": part_out,
        "surrogate": {"sigma": s_grid, "Lambda": sur["Lambda"], "sigma_S": sur["sigma_S"], "t_S": sur["t_S"],
                      "cov": surrogate_cov, "cov_kind": sur["mixture"].cov_kind, "rank": sur["rank"],
                      "floor": sur["floor"], "levels": sur_levels, "class_counts": sur["counts"],
                      "diagonal": sur_diag},
        "guidance_interval": guidance,
        "cost": cost,
        "seconds": time.perf_counter() - start,
    }
    result = _clean(result)
    if out_dir is not None:
        (out_dir / f"{name}.json").write_text(json.dumps(result, indent=1, allow_nan=False))
    return result
