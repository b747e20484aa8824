"""Time-localized control on a trained model (torch): guidance intervals and entropy schedules from a measured
H[Z | X_σ], evaluated on the digits testbed (``gmmtheory.bridge.digits``) and, as a check, on the exact mixture.

The theory side is ``gmmtheory.control`` (windows, fronts, schedules with exact scores). Here the same
experiments run through the generic torch sampler (``gmmtheory.bridge.sampling.sample``) on any ``Denoiser``:

- ``guided_front(model, window, ...)``: no guidance, CFG at every σ, the recommended interval (the semantic window
  of a measured curve, ``control.recommend_window``), that interval shifted by ± its log-width, EDM2's interval
  scaled to the data (σ ∈ (0.56 σ_d, 5.8 σ_d); EDM2 states (0.28, 2.9) at σ_d = 0.5) and a grid of intervals, at
  each w, with EDM's deterministic Heun sampler from the same initial states (paired runs). Fidelity: the
  classifier's confidence in the target label and its accuracy (``log_post_fn``: log class probabilities of
  final samples — for the digits a held-out-scored logistic regression, for the mixture the exact posterior);
  diversity: within-label total variance against the reference data's (``control.sample_metrics``; for the digits
  the training set's class variance over all 64 pixels), class-frequency KL of the classifier's soft frequencies.
- ``model_schedule_comparison(model, curve, ...)``: unconditional sampling with EDM's ρ = 7 grid and with entropy
  schedules (``control.entropy_schedule`` on the measured curve) at equal step counts, from the same initial states:
  class-frequency TV and KL against the training frequencies (soft, classifier), the paired shift against a
  converged reference run, the within-class total variance ratio (classifier-weighted) and the Fréchet distance
  between Gaussians fitted to the samples and to the training set in pixel space,
      F² = |m̂ − m|² + tr Ĉ + tr C − 2 tr (C^{½} Ĉ C^{½})^{½}.
- ``digits_control(model, comparison)``: both on the digits model, with the window of its measured entropy curve
  (default: the denoiser-gap curve of ``digits_comparison``).

This module imports torch; ``import gmmtheory`` does not import it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory.bridge.digits import DigitsComparison, digits_classifier, load_digits_data, load_model, train_digits
from gmmtheory.bridge.digits.training import MODEL_SIZES
from gmmtheory.bridge.estimators import denoiser_gap
from gmmtheory.bridge.sampling import edm_sigmas, make_generator, sample
from gmmtheory.control.fronts import (
    EDM2_INTERVAL,
    Front,
    balanced_labels,
    check_guidance_scales,
    front_configs,
    interval_grid,
    mark_front,
)
from gmmtheory.control.metrics import covariance_traces, frequency_kl, sample_metrics
from gmmtheory.control.schedules import ScheduleComparison, add_paired, entropy_schedule, schedule_plan
from gmmtheory.control.theory import recommend_window
from gmmtheory.control.windows import Window, bootstrap_rng

__all__ = ["DIGIT_SCHEDULE_METRICS", "DigitsControl", "digits_control", "frechet_distance", "guided_front",
           "model_schedule_comparison", "run_digits_control"]

LogPostFn = Callable[[torch.Tensor], np.ndarray]


def _check_model(model: Any) -> None:
    missing = [a for a in ("shape", "num_classes", "sigma_data", "sigma_min", "sigma_max", "device", "dtype")
               if not hasattr(model, a)]
    if missing or not callable(model):
        raise ValueError(f"model must implement the Denoiser protocol; missing {missing or ['__call__']}")


def _weights(model: Any) -> np.ndarray:
    w = getattr(model, "weights", None)
    w = np.full(model.num_classes, 1.0 / model.num_classes) if w is None else np.asarray(w, np.float64)
    if w.shape != (model.num_classes,) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError(f"model.weights must be {model.num_classes} non-negative class weights")
    return w / w.sum()


def _initial_states(model: Any, n: int, sigma0: float, generator: torch.Generator,
                    labels: torch.Tensor | None) -> torch.Tensor:
    """One set of initial states shared by every run: an exact draw from p_σ0 (· | label) when the model offers
    ``sample_marginal`` (the exact mixture), else N(0, (σ0² + σ_d²) I) (sampling's "noise" start)."""
    if hasattr(model, "sample_marginal"):
        x, _ = model.sample_marginal(n, sigma0, generator, label=None if labels is None else labels.cpu())
        return x.to(device=model.device, dtype=model.dtype)
    work = torch.float64 if model.dtype == torch.float64 else torch.float32
    z = torch.randn((n, *model.shape), generator=generator, device=generator.device, dtype=work)
    return (math.sqrt(sigma0**2 + float(model.sigma_data) ** 2) * z).to(device=model.device, dtype=model.dtype)


def _flat(x: torch.Tensor) -> np.ndarray:
    return x.detach().reshape(x.shape[0], -1).to(torch.float64).cpu().numpy()


def guided_front(
    model: Any,
    window: Window | tuple[float, float],
    *,
    log_post_fn: LogPostFn,
    ref_means: np.ndarray,
    ref_covs: np.ndarray,
    features: Callable[[torch.Tensor], np.ndarray] | None = None,
    w: object = (2.0, 4.0),
    intervals: Sequence[tuple[float, float]] | None = None,
    n_edges: int = 3,
    n_samples: int = 1000,
    n_steps: int = 32,
    edm2: tuple[float, float] | None = None,
    seed: int = 0,
    n_boot: int = 200,
    batch_size: int = 1024,
    case: str = "",
) -> Front:
    """The fidelity–diversity front of guided sampling on a torch ``Denoiser`` (configurations as in
    ``control.fidelity_diversity_front``), EDM's Heun sampler on ``edm_sigmas(n_steps, σ_min, σ_max)``.

    Args:
        model: conditional and unconditional denoiser (``label=None``). window: the recommended ``Window`` or
            (σ_lo, σ_hi) in the model's σ.
        log_post_fn: final samples (n, *shape) → (n, K) log class probabilities (classifier or exact posterior).
        ref_means (K, r), ref_covs (K, r, r) or traces (K,): the reference class moments of ``features(x)``
            (default: the flattened samples).
        w, intervals, n_edges: as in ``control.fidelity_diversity_front``. edm2: EDM2's interval in the model's σ
            (default (0.56, 5.8) × σ_d).
        n_samples: samples per configuration (labels spread over the model's class weights). seed: initial states.
    """
    _check_model(model)
    ws = check_guidance_scales(w)
    n = check_count("n_samples", n_samples, 8)
    if isinstance(window, Window):
        win = window
    else:
        lo, hi = (float(v) for v in window)
        if not (0 < lo < hi < math.inf):
            raise ValueError(f"window must be (sigma_lo, sigma_hi) with 0 < sigma_lo < sigma_hi < inf; got {window!r}")
        win = Window(lo, hi, math.log(hi / lo), float("nan"), float("nan"), float("nan"))
    lo, hi = win.sigma_lo, win.sigma_hi
    width = math.log(hi / lo)
    grid_iv = intervals if intervals is not None else interval_grid((lo * math.exp(-width), hi * math.exp(width)),
                                                                        n_edges)
    sd = float(model.sigma_data)
    edm2 = (EDM2_INTERVAL[0] * sd, EDM2_INTERVAL[1] * sd) if edm2 is None else edm2
    configs = front_configs(ws, (lo, hi), grid_iv, edm2)
    K = int(model.num_classes)
    labels = balanced_labels(_weights(model), n)
    lab_t = torch.as_tensor(labels, dtype=torch.long)
    grid = edm_sigmas(check_count("n_steps", n_steps, 2), model.sigma_min, model.sigma_max)
    g = make_generator(seed)
    x0 = _initial_states(model, n, float(grid[0]), g, lab_t)
    fine_target = np.eye(K)[labels]
    feats = features or _flat
    rows, samples = [], {}
    for name, kind, wv, iv in configs:
        x = sample(model, lab_t, grid, guidance=wv, interval=None if kind in ("none", "cfg") else iv,
                   stochastic=False, x_init=x0, generator=seed, batch_size=batch_size, show_progress=False)
        lp = np.asarray(log_post_fn(x), np.float64)
        if lp.shape != (n, K):
            raise ValueError(f"log_post_fn must return (n, K) = ({n}, {K}) log probabilities; got {lp.shape}")
        y = np.asarray(feats(x), np.float64)
        met = sample_metrics(lp, labels, y, ref_means, ref_covs, fine_post=np.exp(lp), fine_target=fine_target,
                                 n_boot=n_boot, seed=len(rows))
        rows.append({"case": case, "name": name, "kind": kind, "w": float(wv),
                     "sigma_lo": float(iv[0]) if iv else 0.0, "sigma_hi": float(iv[1]) if iv else math.inf, **met})
        samples[name] = (np.exp(lp[np.arange(n), labels]), y)
    mark_front(rows)
    settings = {"n_samples": n, "n_steps": int(n_steps), "sampler": "EDM Heun (bridge.sampling)", "ws": list(ws),
                "n_intervals": len(grid_iv), "n_boot": n_boot, "edm2": list(edm2)}
    return Front(case, rows, win, "classes", labels, covariance_traces(ref_covs), samples, settings)


# ============================================================================================== schedules
def frechet_distance(m1: np.ndarray, c1: np.ndarray, m2: np.ndarray, c2: np.ndarray) -> float:
    """F² = |m1 − m2|² + tr c1 + tr c2 − 2 tr (c2^{½} c1 c2^{½})^{½} between N(m1, c1) and N(m2, c2) (the squared
    2-Wasserstein distance of the two Gaussians), from symmetric eigendecompositions."""
    lam, U = np.linalg.eigh(c2)
    r = (U * np.sqrt(np.clip(lam, 0.0, None))) @ U.T
    mid = np.linalg.eigvalsh(r @ c1 @ r)
    return float(np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2.0 * np.sum(np.sqrt(np.clip(mid, 0.0, None))))


DIGIT_SCHEDULE_METRICS = ("freq_tv", "freq_kl", "freq_shift_tv", "var_ratio_total", "frechet")


def _model_schedule_stats(P: np.ndarray, x: np.ndarray, pi: np.ndarray, ref_tr: np.ndarray, ref_m: np.ndarray,
                          ref_c: np.ndarray, P_ref: np.ndarray):
    def stats(idx: np.ndarray) -> np.ndarray:
        Pi, xi = P[idx], x[idx]
        f = Pi.mean(axis=0)
        vt = 0.0
        for k in range(pi.size):
            wk = Pi[:, k]
            if pi[k] <= 0 or wk.sum() <= 0:
                continue
            mx = wk @ xi / wk.sum()
            vt += pi[k] * float(wk @ np.sum((xi - mx) ** 2, axis=1) / wk.sum()) / float(ref_tr[k])
        fr = frechet_distance(xi.mean(axis=0), np.cov(xi, rowvar=False), ref_m, ref_c)
        shift = 0.5 * float(np.sum(np.abs((Pi - P_ref[idx]).mean(axis=0))))
        return np.array([0.5 * float(np.sum(np.abs(f - pi))), frequency_kl(f, pi), shift, vt, fr])

    return stats


def model_schedule_comparison(
    model: Any,
    curve: object,
    *,
    log_post_fn: LogPostFn,
    ref_x: np.ndarray,
    ref_labels: np.ndarray,
    n_steps_list: Sequence[int] = (4, 8, 16, 32),
    blends: Sequence[float] = (0.0, 0.5, 1.0),
    n_samples: int = 1000,
    reference_steps: int = 128,
    seed: int = 0,
    n_boot: int = 200,
    batch_size: int = 1024,
    controls: bool = True,
    bounds: tuple[float, float] | None = None,
    case: str = "",
) -> ScheduleComparison:
    """Unconditional sampling on a torch ``Denoiser`` (Heun, from the same initial states) with EDM's ρ = 7 grid
    and with ``control.entropy_schedule(curve, ...)`` blends, at equal step counts; metrics against the reference
    data ``ref_x`` (n_ref, d) with labels ``ref_labels`` (class frequencies π = their frequencies): freq_tv,
    freq_kl, freq_shift_tv (paired, against the ``reference_steps``-step EDM run), var_ratio_total, frechet;
    bootstrap stderr, paired differences with EDM (``d_<metric>``) and, with ``controls``, log-uniform control
    schedules and entropy − control differences (``dc_<metric>``), as in ``control.schedule_comparison``.
    ``bounds``: clip the curve's monotone fit into (H_min, H_max) (``control.entropy_schedule``)."""
    _check_model(model)
    steps = [check_count("n_steps_list entries", v, 2) for v in n_steps_list]
    bl = [0.0] + [float(b) for b in dict.fromkeys(blends) if float(b) != 0.0]
    if any(not (0.0 <= b <= 1.0) for b in bl):
        raise ValueError(f"blends must be numbers in [0, 1]; got {blends!r}")
    n = check_count("n_samples", n_samples, 8)
    n_boot = check_count("n_boot", n_boot, 0)
    X = np.asarray(ref_x, np.float64).reshape(np.shape(ref_x)[0], -1)
    Y = np.asarray(ref_labels).astype(np.int64)
    K = int(model.num_classes)
    if Y.shape != (X.shape[0],) or Y.min() < 0 or Y.max() >= K:
        raise ValueError(f"ref_labels must be (n_ref,) labels in 0..{K - 1} matching ref_x")
    pi = np.bincount(Y, minlength=K) / Y.size
    ref_tr = np.array([np.sum(np.var(X[Y == k], axis=0, ddof=1)) if np.sum(Y == k) > 1 else np.nan for k in range(K)])
    ref_m, ref_c = X.mean(axis=0), np.cov(X, rowvar=False)
    smin, smax = float(model.sigma_min), float(model.sigma_max)
    g = make_generator(seed)
    x0 = _initial_states(model, n, smax, g, None)

    def run(N: int, b: float, src: object):
        s = entropy_schedule(src, N, blend=b, sigma_min=smin, sigma_max=smax,
                                 bounds=None if isinstance(src, str) else bounds)
        x = sample(model, n, np.append(s, 0.0), stochastic=False, x_init=x0, generator=seed, batch_size=batch_size,
                   show_progress=False)
        return s, np.exp(np.asarray(log_post_fn(x), np.float64)), _flat(x)

    rng = bootstrap_rng(seed + 1)
    s_ref, P_ref, x_ref = run(check_count("reference_steps", reference_steps, 2), 0.0, curve)
    grids = {(int(reference_steps), "reference"): s_ref}

    def metrics(stats, r):
        base = stats(np.arange(n))
        boot = np.asarray([stats(r.integers(0, n, n)) for _ in range(n_boot)]) if n_boot >= 2 else None
        se = np.std(boot, axis=0, ddof=1) if boot is not None else np.full(base.size, np.nan)
        out: dict[str, float] = {"n": n}
        for i, m in enumerate(DIGIT_SCHEDULE_METRICS):
            out[m], out[m + "_se"] = float(base[i]), float(se[i])
        return out

    st_ref = _model_schedule_stats(P_ref, x_ref, pi, ref_tr, ref_m, ref_c, P_ref)
    rows = [{"case": case, "n_steps": int(reference_steps), "schedule": "reference", "blend": 0.0,
             **metrics(st_ref, rng)}]
    for N in steps:
        stats_of: dict[str, Any] = {}
        for name, b, src in schedule_plan(bl, curve, controls):
            s, P, x = run(N, b, src)
            grids[(N, name)] = s
            stats_of[name] = _model_schedule_stats(P, x, pi, ref_tr, ref_m, ref_c, P_ref)
            rows.append({"case": case, "n_steps": N, "schedule": name, "blend": b, **metrics(stats_of[name], rng)})
        add_paired(rows, stats_of, N, n, n_boot, rng, DIGIT_SCHEDULE_METRICS)
    settings = {"n_samples": n, "sampler": "EDM Heun (bridge.sampling)", "blends": bl, "controls": bool(controls),
                "reference_steps": int(reference_steps), "metrics": ("freq_shift_tv", "freq_tv", "var_ratio_total",
                                                                     "frechet")}
    return ScheduleComparison(case, rows, grids, settings)


# ================================================================================================== digits
@dataclass
class DigitsControl:
    """The digits testbed's control study: the recommended window (from the measured curve ``curve_name``), the
    fidelity–diversity front and the schedule comparison, and the settings (tables, figures and verdicts:
    ``gmmtheory.report.bridge_control``)."""

    window: Window
    curve_name: str
    front: Front
    schedules: ScheduleComparison
    meta: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the window, the front's and the schedules' rows, the σ grids used, the settings."""
        return {"window": self.window.as_dict(), "curve": self.curve_name,
                "front": self.front.rows,
                "schedules": self.schedules.rows,
                "sigmas": {" ".join(map(str, k)) if isinstance(k, tuple) else str(k): np.asarray(v).tolist()
                           for k, v in self.schedules.sigmas.items()},
                "schedule_settings": self.schedules.settings, "meta": self.meta}

    def __repr__(self) -> str:
        w = self.window
        return (f"DigitsControl(window of {self.curve_name!r}: ({w.sigma_lo:.3g}, {w.sigma_hi:.3g}), "
                f"{len(self.front.rows)} front configurations, {len(self.schedules.rows)} schedule runs)")


def _digits_curve(comparison: object, curve: str) -> object:
    if hasattr(comparison, "sigma") and hasattr(comparison, "value"):
        return comparison
    ent = getattr(comparison, "entropy", None)
    if not isinstance(ent, dict):
        raise ValueError("comparison must be a DigitsComparison (with .entropy) or a Measurement of H[Z | X_σ]")
    if curve not in ent:
        raise ValueError(f"curve must be one of {sorted(ent)}; got {curve!r}")
    return ent[curve]


def digits_control(
    model: Any,
    comparison: object,
    *,
    curve: str = "denoiser_gap",
    fraction: float = 0.8,
    w: object = (2.0, 4.0),
    n_edges: int = 3,
    n_samples: int = 1000,
    n_steps: int = 32,
    schedule_steps: Sequence[int] = (4, 8, 16, 32),
    blends: Sequence[float] = (0.0, 0.5, 1.0),
    schedule_samples: int = 1000,
    reference_steps: int = 128,
    seed: int = 0,
    n_boot: int = 200,
    batch_size: int = 1024,
    data: Any = None,
    classifier: Any = None,
) -> DigitsControl:
    """Recommend a guidance interval from the digits model's measured entropy curve and evaluate it (front) and
    the entropy schedule (comparison with EDM ρ = 7) on the model.

    Args:
        model: a digits ``Denoiser`` (``bridge.digits.DigitsDenoiser``). comparison: a ``DigitsComparison`` (its
            ``entropy[curve]``) or directly a ``Measurement`` of H[Z | X_σ].
        curve: which measured curve gives the window ("denoiser_gap", "tracker_corrected", "tracker"); it is
            clipped into [0, H[Z]] (H[Z] of the model's class weights) after its monotone fit, because the
            integrated denoiser gap of a trained model drifts below 0 at small σ (``control.semantic_window``).
        fraction: the window's share of −∫dH. w, n_edges, n_samples, n_steps: the front (``guided_front``).
        schedule_steps, blends, schedule_samples, reference_steps: ``model_schedule_comparison``.
        data: ``DigitsData`` (default ``load_digits_data`` in the model's scale); classifier: ``DigitsClassifier``
            (default ``digits_classifier``, held-out scored) — fidelity and class frequencies come from it.
    """
    _check_model(model)
    m = _digits_curve(comparison, curve)
    w8 = _weights(model)
    h_prior = float(-np.sum(w8[w8 > 0] * np.log(w8[w8 > 0])))
    window = recommend_window(m, fraction=fraction, n_boot=n_boot, seed=seed, bounds=(0.0, h_prior))
    scale = getattr(getattr(model, "config", None), "scale", (-1.0, 1.0))
    data = load_digits_data(scale=scale) if data is None else data
    clf = digits_classifier(scale=scale) if classifier is None else classifier

    def log_post(x: torch.Tensor) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(np.clip(clf.predict_proba(_flat(x)), 1e-300, None))

    K = int(model.num_classes)
    X, Y = np.asarray(data.x, np.float64), np.asarray(data.labels)
    ref_means = np.stack([X[Y == k].mean(axis=0) for k in range(K)])
    ref_tr = np.array([np.sum(np.var(X[Y == k], axis=0, ddof=1)) for k in range(K)])
    t0 = time.perf_counter()
    front = guided_front(model, window, log_post_fn=log_post, ref_means=ref_means, ref_covs=ref_tr, w=w,
                         n_edges=n_edges, n_samples=n_samples, n_steps=n_steps, seed=seed, n_boot=n_boot,
                         batch_size=batch_size, case="digits")
    t1 = time.perf_counter()
    sched = model_schedule_comparison(model, m, log_post_fn=log_post, ref_x=X, ref_labels=Y,
                                      n_steps_list=schedule_steps, blends=blends, n_samples=schedule_samples,
                                      reference_steps=reference_steps, seed=seed, n_boot=n_boot,
                                      batch_size=batch_size, bounds=(0.0, h_prior), case="digits")
    meta = {"curve": curve, "fraction": float(fraction), "n_boot": n_boot, "seed": seed,
            "classifier_test_accuracy": float(getattr(clf, "test_accuracy", float("nan"))),
            "timings_s": {"front": t1 - t0, "schedules": time.perf_counter() - t1}}
    return DigitsControl(window, curve, front, sched, meta)


def run_digits_control(
    *,
    size: str = "tiny",
    model_path: str | Path | None = None,
    comparison_path: str | Path | None = None,
    seed: int = 0,
    device: str = "cpu",
    **kwargs,
) -> DigitsControl:
    """Load (``model_path``, e.g. ``gmmtheory bridge digits``'s digits_model.pt) or train a digits model
    (``bridge.digits.MODEL_SIZES[size]``: "tiny", "default", "large"), take its measured curve from
    ``comparison_path`` (digits.json) or measure the denoiser-gap curve now, and run ``digits_control`` (other
    keywords go to it)."""
    if model_path is not None:
        model, _ = load_model(model_path, device=device)
    else:
        p = MODEL_SIZES.get(size) if isinstance(size, str) else None
        if p is None:
            raise ValueError(f"size must be one of {sorted(MODEL_SIZES)}; got {size!r}")
        model, _ = train_digits(steps=p["steps"], batch_size=p["batch_size"], width=p["width"], depth=p["depth"],
                                emb_dim=p["emb_dim"], lr=p["lr"], seed=seed, device=device)
    if comparison_path is not None:
        comp: object = DigitsComparison.load_json(comparison_path)
    else:
        data = load_digits_data(scale=model.config.scale)
        x = torch.as_tensor(data.x, dtype=model.dtype, device=model.device)
        lab = torch.as_tensor(data.labels, dtype=torch.long, device=model.device)
        _, comp = denoiser_gap(model, x, lab, np.geomspace(0.02, 80.0, 40), n_noise=2, generator=seed)
    return digits_control(model, comp, seed=seed, **kwargs)
