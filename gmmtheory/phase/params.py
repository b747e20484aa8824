"""The parameters, models and axes of a phase diagram: names, defaults, domains, the model of each set of axes,
the validation of every argument of ``phase_diagram`` and the mixture (with its levels) of one parameter cell.

=============  =========================================================  ========================================
axis           meaning                                                    models
=============  =========================================================  ========================================
``d``          dimension (integer)                                        all
``mu``         per-coordinate separation μ̃ (|m|² = d μ̃²; hierarchy: μ̃_super)  two, kclasses, hierarchical
``K``          number of classes (integer ≥ 2)                            kclasses
``variance``   within-class variance s_w²                                 two, kclasses, hierarchical
``ratio``      hierarchy level ratio μ̃_sub/μ̃_super                       hierarchical
``a``          covariance-only contrast: classes N(0, (1 ± a) I)          covariance_only
``imbalance``  weight π_0 of class 0 (others share 1 − π_0 equally)      two, kclasses, covariance_only
``w``          guidance scale (``gmmtheory.guidance.guided_profile``)     two, kclasses, hierarchical
=============  =========================================================  ========================================

Models: ``"two"`` (``two_gaussians``), ``"kclasses"`` (``k_classes``, orthogonal means), ``"hierarchical"``
(``hierarchical(2, 2, d, μ̃, ratio·μ̃)``, levels ``"classes"`` = the four classes and ``"coarse"`` = superclasses),
``"covariance_only"`` (N(0, (1 ± a) I)).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from gmmtheory._checks import check_finite
from gmmtheory._precision import precision_scope
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.presets import build_preset
from gmmtheory.processes import Process

__all__ = [
    "DEFAULTS",
    "MODELS",
    "MODEL_PARAMS",
    "PARAMS",
    "QUANTITIES",
    "build_mixture",
    "infer_model",
    "level_names",
]

PARAMS = ("d", "mu", "K", "variance", "ratio", "a", "imbalance", "w")
MODELS = ("two", "kclasses", "hierarchical", "covariance_only")
QUANTITIES = ("H", "rate", "phi", "bayes_error")
DEFAULTS = {"d": 100, "mu": 1.0, "K": 4, "variance": 1.0, "ratio": 0.25, "a": 0.5, "imbalance": None, "w": None}
MODEL_PARAMS = {
    "two": {"d", "mu", "variance", "imbalance", "w"},
    "kclasses": {"d", "mu", "K", "variance", "imbalance", "w"},
    "hierarchical": {"d", "mu", "variance", "ratio", "w"},
    "covariance_only": {"d", "a", "imbalance"},
}
_FAST_AXES = {"d", "mu", "variance", "imbalance"}
_PRESET_PARAMS = {  # the catalogue's parameters of each model (``presets.PRESETS``)
    "two": {"d", "mu", "sigma", "imbalance"},
    "kclasses": {"d", "mu", "K", "sigma", "imbalance"},
    "hierarchical": {"d", "mu", "sigma", "ratio"},
    "covariance_only": {"d", "a", "imbalance"},
}
_INTEGER = {"d", "K"}


def _check_axes(axes: object) -> dict[str, np.ndarray]:
    if not isinstance(axes, dict) or not 1 <= len(axes) <= 2:
        raise ValueError(f"axes must be a dict of one or two parameter axes {{name: values}}; got {axes!r}")
    out = {}
    for name, vals in axes.items():
        if name == "t":
            raise ValueError("axes must not contain 't': the time grid is the separate argument t")
        if name not in PARAMS:
            raise ValueError(f"axes has an unknown axis name {name!r}; choose from {PARAMS}")
        try:
            raw = np.asarray(vals)
            if raw.dtype.kind not in "iuf":  # text, bools, complex and objects are refused, not converted
                raise TypeError
            arr = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"axes[{name!r}] must be a 1-D array of real numbers; got {vals!r}") from None
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"axes[{name!r}] must be a non-empty 1-D array; got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"axes[{name!r}] must be finite")
        if np.unique(arr).size != arr.size:
            raise ValueError(f"axes[{name!r}] must not repeat values")
        _check_param(name, arr, f"axes[{name!r}]")
        out[name] = arr.astype(np.int64) if name in _INTEGER else arr
    return out


def _check_param(name: str, arr: np.ndarray, label: str) -> None:
    """The domain of parameter ``name`` (see the module table): finite; d, K integers ≥ 1, ≥ 2; mu, w ≥ 0;
    variance, ratio > 0; a, imbalance in (0, 1)."""
    arr = np.atleast_1d(np.asarray(arr, dtype=np.float64))
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{label} must be finite (no NaN or inf); got {arr[:5].tolist()}")
    if name in _INTEGER:
        lo = 1 if name == "d" else 2
        if np.any(arr != np.round(arr)) or np.any(arr < lo):
            raise ValueError(f"{label} must hold integers ≥ {lo}; got {arr[:5].tolist()}")
    elif name in ("mu", "w"):
        if np.any(arr < 0):
            raise ValueError(f"{label} must be ≥ 0; got {arr[:5].tolist()}")
    elif name in ("variance", "ratio"):
        if np.any(arr <= 0):
            raise ValueError(f"{label} must be > 0; got {arr[:5].tolist()}")
    elif name in ("a", "imbalance"):
        if np.any(arr <= 0) or np.any(arr >= 1):
            raise ValueError(f"{label} must lie strictly between 0 and 1; got {arr[:5].tolist()}")


def infer_model(names: set[str], model: str | None) -> str:
    """``model``, or the model the axis names imply (K → kclasses, ratio → hierarchical, a → covariance_only, else
    two); ``ValueError`` when it is unknown or does not have every axis."""
    if model is None:
        model = ("kclasses" if "K" in names else "hierarchical" if "ratio" in names
                 else "covariance_only" if "a" in names else "two")
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}; got {model!r}")
    bad = sorted(names - MODEL_PARAMS[model])
    if bad:
        raise ValueError(f"axes {bad} do not apply to model={model!r}; its parameters are "
                         f"{sorted(MODEL_PARAMS[model])}")
    return model


def _check_params(params: object, model: str, axes: dict) -> dict:
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict of fixed parameters; got {params!r}")
    bad = sorted(set(params) - set(PARAMS))
    if bad:
        raise ValueError(f"params has unknown names {bad}; choose from {PARAMS}")
    out = dict(DEFAULTS)
    for k, v in params.items():
        if v is not None:
            _check_param(k, np.asarray(check_finite(f"params[{k!r}]", v)), f"params[{k!r}]")
        out[k] = v
    if model == "kclasses":
        Ks = axes.get("K", np.array([out["K"]]))
        ds = axes.get("d", np.array([out["d"]]))
        if np.max(Ks) > np.min(ds):
            raise ValueError(f"kclasses needs K ≤ d for every cell; got K up to {int(np.max(Ks))}, "
                             f"d from {int(np.min(ds))}")
    if model == "hierarchical" and np.min(axes.get("d", np.array([out["d"]]))) < 4:
        raise ValueError("hierarchical needs d ≥ 4 (params['d'] or axes['d'])")
    return out


def _check_t(t: object, process: Process, need_rate: bool) -> np.ndarray:
    if t is None:
        lam = np.linspace(9.2, -20.0, 128)
        with precision_scope("float64"):
            tt = np.asarray(process.t_from_log_snr(jnp.asarray(lam)), np.float64)
        tt = np.unique(tt[np.isfinite(tt) & (tt > process.t_min) & (tt < process.t_max)])
        return tt
    arr = process.check_times(t, "t")
    if arr.ndim != 1 or arr.size < 3:
        raise ValueError(f"t must be a 1-D grid of at least 3 times; got shape {np.shape(arr)}")
    if np.any(np.diff(arr) <= 0):
        raise ValueError("t must be strictly increasing")
    if need_rate:
        with precision_scope("float64"):
            sig = np.asarray(process.sigma(jnp.asarray(arr)), np.float64)
        if np.any(sig <= 0):
            raise ValueError(f"t must have σ(t) > 0 for the rate (drop t = {arr[sig <= 0][:3].tolist()} or the rate)")
    return arr


def _cell_params(base: dict, axes: dict, idx: tuple[int, ...]) -> dict:
    p = dict(base)
    for (name, vals), i in zip(axes.items(), idx):
        p[name] = vals[i].item()
    return p


def build_mixture(model: str, p: dict) -> tuple[GaussianMixture, dict[str, Partition]]:
    """The mixture of one cell and its levels (``{"classes": identity, ...}``): the catalogue entry
    ``presets.PRESETS[model]`` with σ = √variance, keeping the model's levels (``level_names``)."""
    params = {}
    for name in _PRESET_PARAMS[model]:  # only the model's own parameters are read
        if name == "sigma":
            params[name] = math.sqrt(float(p["variance"]))
        elif name in _INTEGER:
            params[name] = int(p[name])
        else:
            params[name] = p[name] if name == "imbalance" else float(p[name])
    preset = build_preset(model, **params)
    return preset.mixture, {lv: preset.partitions[lv] for lv in level_names(model)}


def level_names(model: str) -> tuple[str, ...]:
    """The levels of a model's diagrams: ``("classes",)``, plus ``"coarse"`` for the hierarchy."""
    return ("classes", "coarse") if model == "hierarchical" else ("classes",)
