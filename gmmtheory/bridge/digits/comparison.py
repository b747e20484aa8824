"""The digits comparison: H[Z | X_σ] measured on a trained digits model, held against exact and surrogate theory.

Measured on the network (``gmmtheory.bridge.estimators``): (A) the online posterior tracker along the EDM stochastic
sampler (paper and corrected kernels, on the same trajectories) and (B) the denoiser-gap rate
dH/dlog σ = E‖D(x; σ, Z) − D(x; σ)‖²/σ² and its integral. Predicted (``theory``): the exact training-set curves, the
Gaussian surrogate and σ_S = √(Λ − 1). Each curve gives a semantic window in log σ (``measured_window``);
``digits_comparison`` collects all of it in a JSON-serialisable ``DigitsComparison`` with a verdict (``verdict``).

``run_digits`` trains (or loads) a model, runs ``digits_comparison`` and serialises the result (``digits_model.pt``,
``digits.json``); the Markdown page and the figure are drawn by ``gmmtheory.report.bridge.write_digits``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory.atomic import ensure_writable_dir
from gmmtheory.bridge.base import Measurement
from gmmtheory.bridge.digits.checks import _check_sigmas
from gmmtheory.bridge.digits.classifier import class_accuracy, digits_classifier
from gmmtheory.bridge.digits.data import DIGITS_D, NUM_CLASSES, DigitsData, load_digits_data
from gmmtheory.bridge.digits.network import DigitsDenoiser
from gmmtheory.bridge.digits.theory import digits_surrogate, empirical_curves, speciation_landmark, surrogate_curves
from gmmtheory.bridge.digits.training import _check_size, load_model, save_model, train_digits
from gmmtheory.bridge.digits.verdict import CURVES, digits_verdict
from gmmtheory.bridge.digits.windows import measured_window
from gmmtheory.bridge.estimators.gap import denoiser_gap
from gmmtheory.bridge.estimators.tracker import tracker_log_posteriors
from gmmtheory.bridge.sampling import edm_sigmas, sample
from gmmtheory.progress import progress as bar


def _measurement_from_dict(d: dict[str, Any]) -> Measurement:
    return Measurement(np.asarray(d["sigma"], np.float64), np.asarray(d["value"], np.float64),
                       np.asarray(d["stderr"], np.float64), str(d["quantity"]), str(d["method"]),
                       dict(d.get("meta", {})))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj


def _unjson(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _unjson(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unjson(v) for v in obj]
    return float("nan") if obj is None else obj


@dataclass
class DigitsComparison:
    """The digits testbed's result: measured and predicted H[Z | X_σ] curves, their semantic windows, a verdict.

    Attributes:
        entropy: curve name → ``Measurement`` of H[Z | X_σ] (nats), names in ``CURVES``: "tracker" (paper kernel),
            "tracker_corrected", "denoiser_gap" (integrated rate), "empirical" (exact, training set), "surrogate".
        rate: curve name → ``Measurement`` of dH/dlog σ for "denoiser_gap", "empirical", "surrogate".
        h_prior: H[Z] of the training labels (nats).
        speciation: ``speciation_landmark`` output (Λ, t_S, σ_S, log σ_S; data and surrogate).
        windows: curve name → ``measured_window`` output (log σ of the 10/50/90 % crossings, width, rate peak).
        verdict: a short text: where the measured windows sit against the predicted ones, in log σ.
        meta: settings, timings, training summary, classifier accuracies.
    NaN values are written to JSON as null and read back as NaN.
    """

    entropy: dict[str, Measurement]
    rate: dict[str, Measurement]
    h_prior: float
    speciation: dict[str, float]
    windows: dict[str, dict[str, Any]]
    verdict: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({
            "entropy": {k: m.to_dict() for k, m in self.entropy.items()},
            "rate": {k: m.to_dict() for k, m in self.rate.items()},
            "h_prior": self.h_prior,
            "speciation": self.speciation,
            "windows": self.windows,
            "verdict": self.verdict,
            "meta": self.meta,
        })

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DigitsComparison:
        if not isinstance(d, dict) or not {"entropy", "rate", "h_prior", "windows", "verdict"} <= set(d):
            raise ValueError("d must be a dict written by DigitsComparison.to_dict (keys entropy, rate, h_prior, "
                             "speciation, windows, verdict, meta)")
        d = _unjson(d)
        return cls(
            entropy={k: _measurement_from_dict(m) for k, m in d["entropy"].items()},
            rate={k: _measurement_from_dict(m) for k, m in d["rate"].items()},
            h_prior=float(d["h_prior"]),
            speciation={k: float(v) for k, v in d.get("speciation", {}).items()},
            windows=d["windows"],
            verdict=str(d["verdict"]),
            meta=d.get("meta", {}),
        )

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False))
        return path

    @classmethod
    def load_json(cls, path: str | Path) -> DigitsComparison:
        return cls.from_dict(json.loads(Path(path).read_text()))



def _measured_gap(model: Any, x0: np.ndarray, labels: np.ndarray, sigmas: np.ndarray, *, prior: np.ndarray,
                  n_noise: int, seed: int) -> tuple[Measurement, Measurement]:
    x = torch.as_tensor(x0, dtype=model.dtype, device=model.device)
    lab = torch.as_tensor(labels, dtype=torch.long, device=model.device)
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    rate, ent = denoiser_gap(model, x, lab, sigmas, prior=prior, n_noise=n_noise, generator=g)
    return rate, ent


def _tracker_curves(model: Any, *, n_samples: int, steps: int, prior: np.ndarray, seed: int,
                    batch_size: int) -> dict[str, Measurement]:
    grid = edm_sigmas(steps, model.sigma_min, model.sigma_max)
    res = tracker_log_posteriors(model, n_samples=n_samples, sigmas=grid, prior=prior,
                                 methods=("paper", "corrected"), exact=False, generator=int(seed),
                                 batch_size=batch_size, init="noise")
    out = {}
    for method, name in (("paper", "tracker"), ("corrected", "tracker_corrected")):
        lp = res["log_post"][method]  # (n, T, K), σ decreasing
        p = np.exp(lp)
        h = -np.sum(np.where(p > 0, p * np.where(np.isfinite(lp), lp, 0.0), 0.0), axis=-1)
        mean, se = h.mean(axis=0), h.std(axis=0, ddof=1) / math.sqrt(h.shape[0])
        out[name] = Measurement(res["sigma"][::-1].copy(), mean[::-1].copy(), se[::-1].copy(), "entropy", name,
                                {"steps": int(steps), "n_samples": int(n_samples), "seed": int(seed),
                                 "sampler": "ancestral, unguided, unconditional denoiser, init N(0, (σ_0² + σ_d²) I)",
                                 "paired": "paper and corrected trackers share the trajectories"})
    return out


def digits_comparison(
    model: DigitsDenoiser | Any,
    *,
    size: str = "default",
    n_samples: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    sigmas: object = None,
    n_noise: int | None = None,
    gap_points: int | None = None,
    empirical_per_point: int | None = None,
    surrogate_samples: int | None = None,
    shrinkage: float = 0.01,
    data: DigitsData | None = None,
    batch_size: int = 1024,
    progress: bool = False,
) -> DigitsComparison:
    """Measure H[Z | X_σ] on a trained digits model and hold it against exact and surrogate theory.

    Measured on ``model`` (any ``Denoiser`` on the digits with conditional and unconditional outputs):
    (A) the online posterior tracker, paper kernel and corrected kernel on the same ``n_samples`` trajectories of
    the ancestral sampler on ``edm_sigmas(steps)``; (B) the denoiser-gap rate dH/dlog σ = E‖D_z − D_u‖²/σ² over
    ``gap_points`` training images × ``n_noise`` noise draws and its integral. Predicted: the exact training-set
    curves (``empirical_curves``), the Gaussian surrogate (``digits_surrogate`` + ``surrogate_curves``) and
    σ_S (``speciation_landmark``). Unset sizes come from ``SIZES[size]``. ``sigmas`` (increasing) is the grid of
    (B) and of the theory curves (default geomspace(0.02, 80, n_sigmas)). The class prior is the training-set
    class frequencies. Returns a ``DigitsComparison``.
    """
    preset = _check_size(size)
    n_samples = check_count("n_samples", preset["n_samples"] if n_samples is None else n_samples, 2)
    steps = check_count("steps", preset["sampler_steps"] if steps is None else steps, 2)
    n_noise = check_count("n_noise", preset["n_noise"] if n_noise is None else n_noise, 1)
    gap_points = check_count("gap_points", preset["gap_points"] if gap_points is None else gap_points, 2)
    per_point = check_count("empirical_per_point", preset["empirical_per_point"] if empirical_per_point is None
                            else empirical_per_point, 2)
    sur_n = check_count("surrogate_samples", preset["surrogate_samples"] if surrogate_samples is None
                        else surrogate_samples, 2)
    seed = check_count("seed", seed, 0)
    batch_size = check_count("batch_size", batch_size, 1)
    grid = np.geomspace(0.02, 80.0, preset["n_sigmas"]) if sigmas is None else _check_sigmas(sigmas)
    missing = [a for a in ("shape", "num_classes", "sigma_data", "sigma_min", "sigma_max", "device", "dtype")
               if not hasattr(model, a)]
    if missing or not callable(model):
        raise ValueError(f"model must implement the Denoiser protocol (e.g. a DigitsDenoiser); missing {missing}")
    if tuple(model.shape) != (DIGITS_D,) or int(model.num_classes) != NUM_CLASSES:
        raise ValueError(f"model must be a digits model with shape (64,) and 10 classes; got shape "
                         f"{tuple(model.shape)}, num_classes {model.num_classes}")
    if data is None:
        scale = getattr(getattr(model, "config", None), "scale", (-1.0, 1.0))
        data = load_digits_data(scale=scale)
    elif not isinstance(data, DigitsData):
        raise ValueError(f"data must be a DigitsData or None; got {type(data).__name__}")
    gap_points = min(gap_points, data.x.shape[0])
    counts = np.bincount(data.labels, minlength=NUM_CLASSES)
    prior = counts / counts.sum()
    h_prior = float(-np.sum(prior[prior > 0] * np.log(prior[prior > 0])))
    timings: dict[str, float] = {}
    stages = ["tracker", "denoiser gap", "exact training set", "surrogate", "fidelity"]
    it = iter(bar(stages, "digits comparison", total=len(stages)) if progress else stages)

    def tick(name: str, t0: float) -> None:
        timings[name] = time.perf_counter() - t0
        next(it, None)

    t0 = time.perf_counter()
    entropy = dict(_tracker_curves(model, n_samples=n_samples, steps=steps, prior=prior, seed=seed,
                                   batch_size=batch_size))
    tick("tracker", t0)
    t0 = time.perf_counter()
    sub = np.random.default_rng(seed).choice(data.x.shape[0], size=gap_points, replace=False) \
        if gap_points < data.x.shape[0] else np.arange(data.x.shape[0])
    gap_rate, gap_entropy = _measured_gap(model, data.x[sub], data.labels[sub], grid, prior=prior, n_noise=n_noise,
                                          seed=seed + 1)
    entropy["denoiser_gap"] = gap_entropy
    rate = {"denoiser_gap": gap_rate}
    tick("denoiser_gap", t0)
    t0 = time.perf_counter()
    entropy["empirical"], rate["empirical"] = empirical_curves(data.x, data.labels, grid, n_per_point=per_point,
                                                               seed=seed + 2, device=model.device)
    tick("empirical", t0)
    t0 = time.perf_counter()
    mix = digits_surrogate(data.x, data.labels, shrinkage=shrinkage)
    entropy["surrogate"], rate["surrogate"] = surrogate_curves(mix, grid, n_samples=sur_n, seed=seed + 3)
    spec = speciation_landmark(data.x, mix)
    tick("surrogate", t0)
    t0 = time.perf_counter()
    fidelity = _fidelity(model, n=min(n_samples, 500), steps=steps, seed=seed + 4, batch_size=batch_size)
    tick("fidelity", t0)
    windows = {name: measured_window(entropy[name], h_prior, rate.get(name)) for name in CURVES if name in entropy}
    verdict = digits_verdict(windows, spec, entropy, rate)
    cfg = getattr(model, "config", None)
    meta = {
        "size": size, "seed": seed, "n_samples": n_samples, "steps": steps, "n_noise": n_noise,
        "gap_points": int(gap_points), "empirical_per_point": per_point, "surrogate_samples": sur_n,
        "shrinkage": shrinkage, "class_prior": prior.tolist(), "n_train": int(data.x.shape[0]),
        "scale": list(data.scale), "sigma_data": data.sigma_data, "timings_s": timings,
        "model": None if cfg is None else _jsonable(asdict(cfg)), "fidelity": fidelity,
        "process": "EDM, x_σ = x_0 + σ ε (EDM(), σ_data = 1 in gmmtheory's convention)",
    }
    return DigitsComparison(entropy, rate, h_prior, spec, windows, verdict, meta)


def _fidelity(model: Any, *, n: int, steps: int, seed: int, batch_size: int) -> dict[str, float]:
    """Classifier accuracy on class-conditional samples (labels 0..9 in turn) and the classifier's own test score."""
    clf = digits_classifier(scale=getattr(getattr(model, "config", None), "scale", (-1.0, 1.0)))
    labels = torch.arange(n) % NUM_CLASSES
    x = sample(model, labels, edm_sigmas(steps, model.sigma_min, model.sigma_max), generator=seed,
               batch_size=batch_size, init="noise", show_progress=False)
    return {"conditional_sample_accuracy": class_accuracy(x, labels, clf), "n_samples": int(n),
            "classifier_test_accuracy": clf.test_accuracy}



def run_digits(
    out_dir: str | Path,
    *,
    size: str = "default",
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    model_path: str | Path | None = None,
    steps: int | None = None,
) -> DigitsComparison:
    """Train (or load) a digits model, compare it with theory and serialise the result into ``out_dir``.

    Writes ``digits_model.pt`` (unless ``model_path`` is given, which is loaded instead of training) and
    ``digits.json`` (``DigitsComparison.to_dict``); ``gmmtheory.report.bridge.write_digits`` draws the Markdown page
    ``digits.md`` and the figure ``digits.png``/``.pdf`` from the result (``gmmtheory bridge digits`` does both).
    ``size``: "tiny", "default" (a few minutes on 2 CPU cores) or "large" (GPU).
    ``steps`` overrides the preset's number of training steps.
    """
    preset = _check_size(size)
    seed = check_count("seed", seed, 0)
    out = ensure_writable_dir(Path(out_dir), "out_dir")
    t_start = time.perf_counter()
    if model_path is not None:
        model, history = load_model(model_path, device=device)
        trained = False
    else:
        model, history = train_digits(
            steps=preset["steps"] if steps is None else steps, batch_size=preset["batch_size"],
            width=preset["width"], depth=preset["depth"], emb_dim=preset["emb_dim"], lr=preset["lr"], seed=seed,
            device=device, progress=progress,
        )
        save_model(model, out / "digits_model.pt", history)
        trained = True
    t_train = time.perf_counter() - t_start
    comp = digits_comparison(model, size=size, seed=seed, progress=progress)
    comp.meta["timings_s"]["training"] = t_train if trained else 0.0
    comp.meta["timings_s"]["total"] = time.perf_counter() - t_start
    comp.meta["training"] = {
        "trained_here": trained, "model_path": str(model_path) if model_path else str(out / "digits_model.pt"),
        "final_loss": history.get("loss", [float("nan")])[-1] if history.get("loss") else float("nan"),
        "steps": history.get("step", [0])[-1] if history.get("step") else 0,
        "device": str(model.device),
    }
    comp.save_json(out / "digits.json")
    return comp
