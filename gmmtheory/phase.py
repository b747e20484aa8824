"""Phase diagrams: H[Z_P | X_t]/H[Z_P] (and the rate, φ, Bayes error) on a grid of time × one or two parameters.

A *phase diagram* tells where, in (time × parameter) space, a mixture is semantically undecided (H ≈ H[Z]),
deciding, or decided (H ≈ 0), and where the landmark curves run.

    pd = gt.phase_diagram({"d": np.geomspace(10, 1e6, 61)}, np.linspace(0.01, 10, 256), process=gt.OU())
    pd.values["H_norm"]          # (61, 256): H[Z | X_t]/H[Z]
    pd.landmarks["half"]         # (61,): the time where H = ½ H[Z], one per d
    pd.save("vp.npz"); gt.PhaseDiagram.load("vp.npz")

Axes (``PARAMS``; the model is inferred from the axes unless ``model=`` says otherwise):

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

Quantities (``values`` keys; a level other than the labels is prefixed, e.g. ``"coarse.H_norm"``):
``H`` = H[Z_P | X_t] (nats), ``H_norm`` = H/H[Z_P], ``rate`` = dH/dt in the process's native time (EDM: dH/dσ),
``phi`` = φ(t) = E Σ_B p(B|x)², ``bayes_error`` = 1 − E max_B p(B|x). ``stderr`` has the same keys (0 where exact).
A guidance axis ``w`` gives ``H`` only: the cross-entropy E_{q_w}[−log p_t(z|x)] along guided trajectories.

Landmark curves (``landmarks``, shaped like the parameter grid, in the native time of the process), per level:
``half`` (H = ½ H[Z_P]), ``h10``/``h90`` (10 % / 90 % of H[Z_P]) and ``window`` = h90 − h10, ``peak`` (argmax of
the rate, 3-point parabola on the grid) with ``peak_rate``, ``fwhm_lo``/``fwhm_hi`` (half maximum of the rate), plus
``t_S`` = ½ log Λ (OU; mapped to the process at equal SNR). Level crossings interpolate H/H[Z_P] linearly in t
between grid points; nan where a crossing is outside the grid.

Two evaluation paths
--------------------
*Fast path* (model ``"two"``, axes among d, μ̃, variance, imbalance): the entropy depends on the parameters only
through the effective SNR s = a² d μ̃²/(a² s_w² + σ²) (and the weights), so the whole (parameters × t) grid is one
vectorised binary-channel quadrature (``entropy.quadrature.binary_expectation`` vmapped over rows of s, the rate by
I-MMSE, dH/dt = −½ mmse_b(s) ds/dt). Rows are processed in fixed-size chunks (bounded memory, one compilation per
sweep), each chunk sharded over every device with a ``NamedSharding`` on a 1-D ``Mesh`` (axis ``"cells"``).

*Cell loop* (everything else): each parameter cell builds its mixture and calls the engine (``class_entropy``,
``collision_probability``, ``bayes_error``, ``entropy_rate``; the rate by ``"closed_form"``, else ``"autodiff"`` on
the reduced statistics, else ``"denoiser_gap"``) with the *same* key in every cell (common random numbers across
the grid, as across time). The engine's kernels depend on shapes only, so a sweep compiles once per shape (once for
an axis that does not change K or, for per-class variances, d). Cells run on one thread per local device, each
under ``jax.default_device``.

Multi-host: set ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` on
every host (or run under a cluster that ``jax.distributed.initialize()`` auto-detects, e.g. SLURM, and set
``GMMTHEORY_DISTRIBUTED=1``) and call ``init_distributed()`` before any other jax work (``phase_diagram`` also calls
it). The fast path then shards each chunk over all global devices (inputs made with ``jax.make_array_from_callback``,
results gathered with ``process_allgather``); the cell loop gives process p the cells i ≡ p (mod P) and gathers.
Nothing here requires it: on one host it is a no-op.

Caching: ``cache=DIR`` makes a sweep resumable. Each sweep gets its own folder ``DIR/sweep_<fingerprint[:16]>/``,
so several sweeps share one directory without ever seeing each other's values. The fingerprint is the sha256 of an
exact description of everything that determines a value: the axes and t (sha256 of their bytes), the model, the
fixed parameters, the process (type and every field: floats by their round-trip ``repr``, array fields such as a
discrete schedule's ᾱ table by the sha256 of their bytes), quantities, method, n_samples, key (its key data),
guidance options, the cache format and the gmmtheory version. ``meta.json`` in the folder records it (readable
config included); each finished unit (a chunk of rows, or one cell) is ``part_NNNNNN.npz``. A part carries a
header — fingerprint, unit index, number of units and the unit's cell indices (the layout, which depends on
``chunk_size`` and the device count), quantity keys, shape — and a sha256 of header and arrays; it is read with
``allow_pickle=False`` and used only if every item matches. A part that is unreadable (empty, truncated, not an
``.npz``), of another sweep, in the wrong slot, of another layout, missing a quantity or failing its checksum is
recomputed and overwritten; a corrupt ``meta.json`` is rewritten. Each such file is named, with the reason, in one
``CacheWarning`` and listed in ``meta["cache"]["rejected"]``. Every file (parts, ``meta.json``,
``PhaseDiagram.save``) is written atomically with ``gmmtheory.atomic`` (temporary file, fsync, rename, fsync of the
directory), so an interrupted run leaves complete files or none.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import math
import os
import resource
import sys
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gmmtheory.atomic import atomic_open, atomic_write_text, ensure_writable_dir
from gmmtheory.entropy.api import bayes_error, class_entropy, collision_probability, in_float64, precision_scope
from gmmtheory.entropy.common import RareEventWarning
from gmmtheory.entropy.quadrature import binary_expectation, gauss_hermite
from gmmtheory.entropy.reduced import applies as reduced_applies
from gmmtheory.landmarks import _to_process, speciation_time
from gmmtheory.mixture import GaussianMixture, Partition, hierarchical, k_classes, two_gaussians
from gmmtheory.processes import EDM, OU, Process, check_real, get_process, time_factors
from gmmtheory.rate import _binary_mmse_kernel, entropy_rate

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
_INTEGER = {"d", "K"}
_CHUNK_ELEMENTS = 2**21  # rows × T × quadrature nodes held by one fast-path chunk (~16 MB per intermediate)
_QUAD_NODES = 200 + 960  # Gauss–Hermite + windowed Gauss–Legendre nodes per s value
LEVEL_FRACTIONS = {"h10": 0.1, "half": 0.5, "h90": 0.9}


# ================================================================================================ the result
@dataclass
class PhaseDiagram:
    """Values on a (parameters × t) grid with named coordinates, their standard errors and the landmark curves.

    Attributes:
        coords: axis name → 1-D coordinate array, in grid order; the last axis is always ``"t"``.
        values: quantity key → array shaped like the grid (see the module docstring for keys).
        stderr: same keys as ``values`` (0 where exact, nan where not computed).
        landmarks: landmark key → array shaped like the parameter grid (all axes but t).
        h_prior: level → H[Z_P] (nats) over the parameter grid.
        meta: model, process, fixed parameters, levels, method, samples, path, devices, timing.
    """

    coords: dict
    values: dict
    stderr: dict
    landmarks: dict
    h_prior: dict
    meta: dict = field(default_factory=dict)

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(self.coords)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.coords.values())

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(self.h_prior)

    def get(self, quantity: str, level: str = "classes") -> np.ndarray:
        """``values`` of a quantity at a level ("classes" = the labels)."""
        return self.values[_key(level, quantity)]

    def landmark(self, name: str, level: str = "classes") -> np.ndarray:
        return self.landmarks[name if name == "t_S" else _key(level, name)]

    def save(self, path: str | Path) -> Path:
        """Write everything to one ``.npz`` atomically (coordinates, values, stderr, landmarks, h_prior; meta as JSON).

        The file is written to a temporary file, fsync-ed and renamed over ``path`` (``gmmtheory.atomic``), so an
        interrupted save leaves the previous file or none, never a truncated one. ``meta`` also records the array
        names of every group and the sha256 of the arrays (``_arrays_sha256``), which ``load`` checks.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {}
        names: dict[str, list[str]] = {}
        for prefix, dct in _groups_of(self):
            names[prefix] = list(dct)
            for k, v in dct.items():
                arrays[f"{prefix}:{k}"] = np.asarray(v)
        meta = dict(self.meta, dims=list(self.dims), levels=list(self.levels), arrays=names,
                    sha256=_arrays_sha256(arrays))
        arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
        with atomic_open(path) as f:
            np.savez(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PhaseDiagram:
        """Read a file written by ``save``; any defect raises one ``ValueError`` naming the file and the defect.

        Checked: the file is a readable ``.npz`` (not truncated, not pickled data), ``meta`` is a JSON object with
        ``dims`` (ending in ``"t"``) and ``levels``, the stored checksum matches, every listed array is present,
        coordinates are 1-D, finite, without repeats (t strictly increasing), values and stderr are real arrays
        shaped like the grid, landmarks and h_prior shaped like the parameter grid, h_prior finite.
        """
        path = Path(path)

        def bad(what: str) -> ValueError:
            return ValueError(f"{path}: not a valid phase-diagram file: {what}")

        if not path.is_file():
            raise bad("no such file" if not path.exists() else "not a regular file")
        with open(path, "rb") as fh:  # closed on every path, also when np.load fails half-way (no ResourceWarning)
            try:
                data = np.load(fh, allow_pickle=False)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                raise bad(f"not an .npz archive, or truncated ({type(e).__name__}: {e})") from None
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise bad("a single .npy array, not an .npz archive")
            with data:
                try:
                    arrays = {name: np.array(data[name]) for name in data.files}
                except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
                    raise bad(f"truncated or corrupted archive ({type(e).__name__}: {e})") from None
        if "meta" not in arrays:
            raise bad("missing key 'meta'")
        raw = arrays.pop("meta")
        try:
            meta = json.loads(str(raw)) if raw.ndim == 0 and raw.dtype.kind == "U" else None
        except ValueError as e:
            raise bad(f"'meta' is not valid JSON ({e})") from None
        if not isinstance(meta, dict):
            raise bad("'meta' must be a JSON object (a string array of shape ())")
        dims, levels = meta.get("dims"), meta.get("levels")
        if (not isinstance(dims, list) or not dims or dims[-1] != "t" or len(set(dims)) != len(dims)
                or not all(isinstance(d, str) for d in dims)):
            raise bad(f"meta['dims'] must be a list of distinct axis names ending in 't'; got {dims!r}")
        if not isinstance(levels, list) or not levels or not all(isinstance(lv, str) for lv in levels):
            raise bad(f"meta['levels'] must be a non-empty list of level names; got {levels!r}")
        stored = meta.pop("sha256", None)
        listed = meta.pop("arrays", None)
        groups: dict[str, dict] = {p: {} for p in _GROUP_PREFIXES}
        for name, arr in arrays.items():
            prefix, sep, key = name.partition(":")
            if not sep or prefix not in groups:
                raise bad(f"unexpected key {name!r} (keys are 'meta' and '<group>:<name>', groups {_GROUP_PREFIXES})")
            groups[prefix][key] = arr
        if isinstance(listed, dict):
            for prefix, keys in listed.items():
                for k in keys if isinstance(keys, list) else []:
                    if prefix in groups and k not in groups[prefix]:
                        raise bad(f"missing key '{prefix}:{k}'")
        if stored is not None and stored != _arrays_sha256(arrays):
            raise bad("checksum mismatch: the arrays were modified or corrupted after saving")
        for k in groups["coord"]:
            if k not in dims:
                raise bad(f"coordinate {k!r} is not one of meta['dims'] {dims}")
        coords = {}
        for k in dims:
            if k not in groups["coord"]:
                raise bad(f"missing key 'coord:{k}'")
            c = groups["coord"][k]
            if c.ndim != 1 or c.size == 0 or c.dtype.kind not in "iuf":
                raise bad(f"coordinate {k!r} must be a non-empty 1-D real array; got dtype {c.dtype}, shape {c.shape}")
            if not np.all(np.isfinite(c)):
                raise bad(f"coordinate {k!r} holds non-finite values (NaN or inf)")
            if k == "t" and np.any(np.diff(c) <= 0):
                raise bad("coordinate 't' must be strictly increasing")
            if np.unique(c).size != c.size:
                raise bad(f"coordinate {k!r} repeats values")
            coords[k] = c
        shape = tuple(c.size for c in coords.values())
        for prefix, want, what in (("value", shape, "the grid"), ("stderr", shape, "the grid"),
                                   ("landmark", shape[:-1], "the parameter grid"),
                                   ("hprior", shape[:-1], "the parameter grid")):
            for k, a in groups[prefix].items():
                if a.dtype.kind not in "iuf":
                    raise bad(f"{prefix} {k!r} must be a real array; got dtype {a.dtype}")
                if a.shape != want:
                    raise bad(f"{prefix} {k!r} has shape {a.shape}, but {what} of axes {dims} has shape {want}")
        for lv in levels:
            if lv not in groups["hprior"]:
                raise bad(f"missing key 'hprior:{lv}'")
            if not np.all(np.isfinite(groups["hprior"][lv])):
                raise bad(f"hprior {lv!r} holds non-finite values (NaN or inf)")
        h_prior = {k: groups["hprior"][k] for k in levels}
        return cls(coords, groups["value"], groups["stderr"], groups["landmark"], h_prior, meta)

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}[{len(v)}]" for k, v in self.coords.items())
        return (f"PhaseDiagram({axes}; model={self.meta.get('model')!r}, process={self.meta.get('process')!r}, "
                f"path={self.meta.get('path')!r}, values={sorted(self.values)})")


def _key(level: str, quantity: str) -> str:
    return quantity if level == "classes" else f"{level}.{quantity}"


_GROUP_PREFIXES = ("coord", "value", "stderr", "landmark", "hprior")


def _groups_of(pd: PhaseDiagram) -> tuple[tuple[str, dict], ...]:
    return tuple(zip(_GROUP_PREFIXES, (pd.coords, pd.values, pd.stderr, pd.landmarks, pd.h_prior)))


def _arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the arrays in name order: name, dtype, shape and the C-ordered bytes of each."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ============================================================================================== validation
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


def _infer_model(names: set[str], model: str | None) -> str:
    if model is None:
        model = ("kclasses" if "K" in names else "hierarchical" if "ratio" in names
                 else "covariance_only" if "a" in names else "two")
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}; got {model!r}")
    bad = sorted(names - MODEL_PARAMS[model])
    if bad:
        raise ValueError(f"axes {bad} do not apply to model={model!r}; its parameters are {sorted(MODEL_PARAMS[model])}")
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
            _check_param(k, np.asarray(check_real(v, f"params[{k!r}]")), f"params[{k!r}]")
        out[k] = v
    if model == "kclasses":
        Ks = axes.get("K", np.array([out["K"]]))
        ds = axes.get("d", np.array([out["d"]]))
        if np.max(Ks) > np.min(ds):
            raise ValueError(f"kclasses needs K ≤ d for every cell; got K up to {int(np.max(Ks))}, d from {int(np.min(ds))}")
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


def _check_process(process: object) -> Process:
    if isinstance(process, str):
        return get_process(process)
    if not isinstance(process, Process):
        raise ValueError(f"process must be a gmmtheory process or a name ('ou', 'edm', ...); got {process!r}")
    return process


# ========================================================================================= models and cells
def _cell_params(base: dict, axes: dict, idx: tuple[int, ...]) -> dict:
    p = dict(base)
    for (name, vals), i in zip(axes.items(), idx):
        p[name] = vals[i].item()
    return p


def _weights(model: str, K: int, imbalance) -> np.ndarray | None:
    if imbalance is None:
        return None
    pi0 = float(imbalance)
    return np.array([pi0] + [(1.0 - pi0) / (K - 1)] * (K - 1))


def build_mixture(model: str, p: dict) -> tuple[GaussianMixture, dict[str, Partition]]:
    """The mixture of one cell and its levels (``{"classes": identity, ...}``)."""
    d, mu, sw = int(p["d"]), float(p["mu"]), math.sqrt(float(p["variance"]))
    if model == "two":
        mix = two_gaussians(d, mu, sw, _weights(model, 2, p["imbalance"]))
        return mix, {"classes": Partition.identity(2)}
    if model == "kclasses":
        K = int(p["K"])
        mix = k_classes(K, d, mu, sw, weights=_weights(model, K, p["imbalance"]))
        return mix, {"classes": Partition.identity(K)}
    if model == "hierarchical":
        h = hierarchical(2, 2, d, mu, mu * float(p["ratio"]), sw)
        return h.mixture, {"classes": h.fine, "coarse": h.coarse}
    a = float(p["a"])
    mix = GaussianMixture(np.zeros((2, d)), np.array([1.0 + a, 1.0 - a]), _weights(model, 2, p["imbalance"]),
                          cov_kind="class_iso")
    return mix, {"classes": Partition.identity(2)}


def _level_names(model: str) -> tuple[str, ...]:
    return ("classes", "coarse") if model == "hierarchical" else ("classes",)


def _h_prior(mix: GaussianMixture, part: Partition) -> float:
    pw = part.group_weights(mix.weights)
    pw = pw[pw > 0]
    return float(-np.sum(pw * np.log(pw)))


def _rate_method(mix: GaussianMixture, part: Partition, method: str) -> str:
    if method != "auto":
        return {"quadrature": "closed_form", "reduced": "autodiff", "montecarlo": "denoiser_gap"}[method]
    if mix.K == 2 and mix.shared_covariance:
        return "closed_form"
    return "autodiff" if reduced_applies(mix) else "denoiser_gap"


def _general_cell(mix, levels, process, t, quantities, method, n_samples, key,
                  rare: list | None = None) -> tuple[dict, dict]:
    """One cell's values and standard errors; quantities whose Monte Carlo estimate is flagged as a rare event
    (``extra["rare_event"]``) are appended to ``rare`` instead of each issuing a ``RareEventWarning``."""
    vals, errs = {}, {}
    for lname, part in levels.items():
        kw = dict(partition=part, method=method, n_samples=n_samples, key=key, warn=False)
        for q, fn in (("H", class_entropy), ("phi", collision_probability), ("bayes_error", bayes_error)):
            if q in quantities:
                r = fn(mix, process, t, **kw)
                if rare is not None and r.extra.get("rare_event"):
                    rare.append(_key(lname, q))
                vals[_key(lname, q)], errs[_key(lname, q)] = r.value, r.stderr
        if "rate" in quantities:
            r = entropy_rate(mix, process, t, partition=part, method=_rate_method(mix, part, method),
                             n_samples=n_samples, key=key)
            vals[_key(lname, "rate")], errs[_key(lname, "rate")] = r.value, r.stderr
    return vals, errs


def _profile_arrays(prof) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(σ grid, entropy, stderr) from a ``guidance.GuidedProfile`` (or a dict with the same fields)."""
    get = (lambda n: prof.get(n)) if isinstance(prof, dict) else (lambda n: getattr(prof, n, None))
    sig = next((get(n) for n in ("sigma", "sigmas", "t", "times") if get(n) is not None), None)
    ent = next((get(n) for n in ("entropy", "cross_entropy", "H", "value") if get(n) is not None), None)
    if sig is None or ent is None:
        raise ValueError(f"guided_profile returned {type(prof).__name__} without a σ grid and an entropy")
    se = next((get(n) for n in ("stderr", "entropy_stderr", "H_stderr") if get(n) is not None), None)
    sig, ent = np.asarray(sig, np.float64).ravel(), np.asarray(ent, np.float64).ravel()
    se = np.zeros_like(ent) if se is None else np.asarray(se, np.float64).ravel()
    keep = (sig > 0) & np.isfinite(ent)  # the sampler's last point may be σ = 0
    sig, ent, se = sig[keep], ent[keep], se[keep]
    order = np.argsort(sig)
    return sig[order], ent[order], se[order]


def _guided_cell(mix, levels, process, t, w, n_samples, key, guidance) -> tuple[dict, dict]:
    from gmmtheory.guidance import guided_profile  # noqa: PLC0415 - imported only when a w axis is swept

    with precision_scope("float64"):
        sig_t = np.asarray(process.convert(jnp.asarray(t), EDM()), np.float64)  # σ at equal SNR
    vals, errs = {}, {}
    for lname, part in levels.items():
        kw = dict(guidance or {})
        if n_samples is not None:
            kw["n_samples"] = n_samples
        part_arg = None if lname == "classes" else part
        # labels drawn from the prior, classifier-free guidance with scale w: the cross-entropy profile
        prof = guided_profile(mix, w=float(w), label="prior", partition=part_arg, key=key, **kw)
        sig, ent, se = _profile_arrays(prof)
        x = np.log(sig)
        vals[_key(lname, "H")] = np.interp(np.log(sig_t), x, ent, left=np.nan, right=np.nan)
        errs[_key(lname, "H")] = np.interp(np.log(sig_t), x, se, left=np.nan, right=np.nan)
    return vals, errs


# ================================================================================================ fast path
@jax.jit
def _binary_grid_kernel(q, v, log_w, a, s2, da, ds2, nodes, gh_w):
    """Rows of cells × times: s = a² q/(a² v + σ²), then H, φ, 1 − accuracy and the I-MMSE rate, all (C, T)."""
    a2 = a**2
    den = a2[None, :] * v[:, None] + s2[None, :]
    s = a2[None, :] * q[:, None] / den
    ds = q[:, None] * (2.0 * a * da * s2 - a2 * ds2)[None, :] / den**2

    def row(s_r, lw):
        H = binary_expectation(s_r, lw, nodes, gh_w, None, "entropy")
        phi = binary_expectation(s_r, lw, nodes, gh_w, None, "collision")
        acc = binary_expectation(s_r, lw, nodes, gh_w, None, "max")
        return H, phi, acc, _binary_mmse_kernel(s_r, lw, nodes, gh_w)

    H, phi, acc, mmse = jax.vmap(row)(s, log_w)
    return {"H": H, "rate": -0.5 * mmse * ds, "phi": phi, "bayes_error": 1.0 - acc}


def _resolve_devices(devices) -> list:
    if devices is None:
        return list(jax.devices())
    if isinstance(devices, (int, np.integer)):
        all_dev = jax.devices()
        if not 1 <= int(devices) <= len(all_dev):
            raise ValueError(f"devices must be between 1 and {len(all_dev)}; got {devices!r}")
        return list(all_dev[: int(devices)])
    devs = list(devices)
    if not devs:
        raise ValueError("devices must not be empty")
    return devs


def _gather(x) -> np.ndarray:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def _fast_setup(axes, base, t, process, devices, chunk_rows):
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    grid = np.meshgrid(*axes.values(), indexing="ij")
    cols = {name: g.ravel() for name, g in zip(axes, grid)}
    n = next(iter(cols.values())).size
    full = lambda name: np.asarray(cols[name], np.float64) if name in cols else np.full(n, float(base[name]))
    pi0 = cols["imbalance"] if "imbalance" in cols else np.full(n, 0.5 if base["imbalance"] is None
                                                                else float(base["imbalance"]))
    q = full("d") * full("mu") ** 2
    v = full("variance")
    log_w = np.log(np.stack([pi0, 1.0 - pi0], axis=1))
    f = time_factors(process, t)
    n_dev = len(devices)
    if chunk_rows is None:
        chunk_rows = max(1, _CHUNK_ELEMENTS // (t.size * _QUAD_NODES))
    chunk_rows = int(math.ceil(max(1, min(int(chunk_rows), n)) / n_dev) * n_dev)
    mesh = Mesh(np.asarray(devices), ("cells",))
    row_sh = NamedSharding(mesh, PartitionSpec("cells"))
    mat_sh = NamedSharding(mesh, PartitionSpec("cells", None))
    rep = NamedSharding(mesh, PartitionSpec())
    nodes, gh_w = gauss_hermite(200)
    put = lambda x, sh: jax.make_array_from_callback(x.shape, sh, lambda i: x[i])
    consts = [put(np.asarray(f[k], np.float64), rep) for k in ("a", "s2", "da", "ds2")]
    consts += [put(nodes, rep), put(gh_w, rep)]
    Lam = v + 4.0 * pi0 * (1.0 - pi0) * q

    def compute(rows: np.ndarray) -> tuple[dict, dict]:
        idx = np.concatenate([rows, np.full(chunk_rows - rows.size, rows[-1])])  # pad: fixed shape, one compile
        out = _binary_grid_kernel(put(q[idx], row_sh), put(v[idx], row_sh), put(log_w[idx], mat_sh), *consts)
        vals = {k: _gather(x)[: rows.size] for k, x in out.items()}
        return vals, {k: np.zeros_like(x) for k, x in vals.items()}

    return n, chunk_rows, compute, Lam, pi0


# ============================================================================================== the sweep
def init_distributed() -> bool:
    """Call ``jax.distributed.initialize`` when configured (see the module docstring); True if multi-process."""
    env = os.environ
    configured = "JAX_COORDINATOR_ADDRESS" in env or env.get("GMMTHEORY_DISTRIBUTED", "") not in ("", "0")
    if not configured:
        return False
    try:
        from jax._src import distributed as _dist

        if getattr(_dist.global_state, "client", None) is not None:
            return jax.process_count() > 1
    except Exception:  # pragma: no cover - private API moved
        pass
    kw = {}
    if "JAX_COORDINATOR_ADDRESS" in env:
        kw = dict(coordinator_address=env["JAX_COORDINATOR_ADDRESS"],
                  num_processes=int(env["JAX_NUM_PROCESSES"]), process_id=int(env["JAX_PROCESS_ID"]))
    jax.distributed.initialize(**kw)
    return jax.process_count() > 1


_CACHE_FORMAT = 2  # layout of cache parts and meta.json; part of every fingerprint


class CacheWarning(UserWarning):
    """A file of a ``phase_diagram`` cache could not be used (unreadable, of another sweep, slot or unit layout,
    failed checksum) and its values were recomputed; the message names each file and the reason."""


def _qualname(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _canonical(obj: object) -> object:
    """An exact, JSON-able description of ``obj`` for the cache fingerprint.

    Floats keep their shortest round-trip ``repr`` (so 0.5 and 0.5000004 differ; non-finite ones become
    ``{"float": "nan"}``), arrays — and numeric tuples longer than 16, such as a discrete schedule's ᾱ table — are
    described by dtype, shape and the sha256 of their bytes (PRNG keys by their key data), dataclasses (the
    processes) by their type and every field, other objects by type, state and ``repr``.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else {"float": repr(x)}
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if len(obj) > 16 and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in obj):
            return _canonical(np.asarray(obj))
        return [_canonical(v) for v in obj]
    if isinstance(obj, (np.ndarray, jax.Array)):
        if jax.dtypes.issubdtype(obj.dtype, jax.dtypes.prng_key):
            obj = jax.random.key_data(obj)
        arr = np.ascontiguousarray(np.asarray(obj))
        return {"array": arr.dtype.str, "shape": list(arr.shape), "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"type": _qualname(obj),
                "fields": {f.name: _canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if hasattr(obj, "__dict__"):
        return {"type": _qualname(obj), "state": _canonical(vars(obj)), "repr": repr(obj)}
    return {"type": _qualname(obj), "repr": repr(obj)}


def _fingerprint(config: dict) -> str:
    """sha256 (hex) of the canonical description of everything that determines a sweep's values."""
    return hashlib.sha256(json.dumps(_canonical(config), sort_keys=True).encode()).hexdigest()


def _check_cache_dir(cache: object) -> Path | None:
    if cache is None:
        return None
    if not isinstance(cache, (str, os.PathLike)) or not os.fspath(cache):
        raise ValueError(f"cache must be a directory path (str or Path) or None; got {cache!r}")
    root = Path(cache)
    if root.exists() and not root.is_dir():
        raise ValueError(f"cache must be a directory; {root} exists and is not one")
    return ensure_writable_dir(root, "cache")  # created now: a path below a file or a read-only place is refused


def _clear_non_file(path: Path) -> str:
    """A cache file's path holds something other than a regular file: remove it if it is an empty directory (so the
    rewrite can rename onto it) and return the reason to report; raise ``ValueError`` naming the path otherwise."""
    if path.is_dir() and not path.is_symlink():
        try:
            path.rmdir()
        except OSError:
            pass
        else:
            return "is an empty directory, not a file (removed; recomputed and rewritten)"
    raise ValueError(f"cache: {path} is not a regular file (a non-empty directory or a special file) and cannot be "
                     "replaced; remove it or give another cache directory")


class _Cache:
    """Finished units of one sweep under ``ROOT/sweep_<fingerprint[:16]>/`` (see the module docstring).

    Every part ``part_NNNNNN.npz`` holds the arrays ``v:<key>``/``e:<key>`` (values/stderr, float64, shape
    (cells of the unit, T)) and ``header``, a JSON object: cache format, the sweep's full fingerprint, the unit
    index, the number of units and the unit's flat cell indices (the layout, which depends on ``chunk_size`` and
    the device count), the quantity keys, the shape and the sha256 of header and arrays. ``load`` returns a part
    only if all of these match; otherwise the part is recorded in ``problems`` (file, reason) and recomputed.
    """

    def __init__(self, root: Path | None, config: dict, units: list[np.ndarray], keys: Sequence[str], T: int):
        self.problems: list[tuple[str, str]] = []
        self.n_loaded = 0
        self.dir: Path | None = None
        self.units, self.keys, self.T = units, sorted(keys), T
        if root is None:
            return
        self.fingerprint = _fingerprint(config)
        self.dir = root / f"sweep_{self.fingerprint[:16]}"
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        record = {"format": _CACHE_FORMAT, "fingerprint": self.fingerprint, "config": _canonical(config),
                  "n_units": len(units), "unit_sizes": sorted({int(u.size) for u in units})}
        ok = False
        if meta.exists() and not meta.is_file():
            self.problems.append((str(meta), _clear_non_file(meta)))
        elif meta.exists():
            try:
                old = json.loads(meta.read_bytes().decode("utf-8"))
                if not isinstance(old, dict):
                    raise ValueError("not a JSON object")
                if old.get("fingerprint") != self.fingerprint:
                    raise ValueError(f"fingerprint {str(old.get('fingerprint'))[:16]}… is not this sweep's")
                ok = old == json.loads(json.dumps(record))
                if not ok:
                    self.problems.append((str(meta), "describes another unit layout; rewritten"))
            except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                self.problems.append((str(meta), f"unreadable ({type(e).__name__}: {e}); rewritten"))
        if not ok and jax.process_index() == 0:
            atomic_write_text(meta, json.dumps(record, indent=1))

    def _path(self, unit: int) -> Path:
        return self.dir / f"part_{unit:06d}.npz"

    def _header(self, unit: int) -> dict:
        cells = self.units[unit]
        return {"format": _CACHE_FORMAT, "fingerprint": self.fingerprint, "unit": unit, "n_units": len(self.units),
                "cells": [int(i) for i in cells], "keys": self.keys, "shape": [int(cells.size), self.T]}

    @staticmethod
    def _digest(header: dict, arrays: dict[str, np.ndarray]) -> str:
        h = {k: v for k, v in header.items() if k != "sha256"}
        return hashlib.sha256(json.dumps(h, sort_keys=True).encode() + _arrays_sha256(arrays).encode()).hexdigest()

    def load(self, unit: int) -> tuple[dict, dict] | None:
        """The unit's (values, stderr) if a valid part exists; None (and a recorded problem if a bad one exists)."""
        if self.dir is None:
            return None
        p = self._path(unit)
        if not p.exists():
            return None
        if not p.is_file():
            self.problems.append((str(p), _clear_non_file(p)))
            return None
        got = self._read(unit, p)
        if isinstance(got, str):
            self.problems.append((str(p), got))
            return None
        self.n_loaded += 1
        return got

    def _read(self, unit: int, p: Path) -> tuple[dict, dict] | str:
        try:
            with open(p, "rb") as fh:  # closed on every path (a truncated archive leaves no open file behind)
                data = np.load(fh, allow_pickle=False)
                if not isinstance(data, np.lib.npyio.NpzFile):
                    return "is not an .npz archive"
                with data:
                    arrays = {k: np.array(data[k]) for k in data.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
            return f"unreadable: empty, truncated or not an .npz archive ({type(e).__name__}: {e})"
        raw = arrays.pop("header", None)
        try:
            header = json.loads(str(raw)) if raw is not None and raw.ndim == 0 and raw.dtype.kind == "U" else None
        except ValueError:
            header = None
        if not isinstance(header, dict):
            return "has no valid header (written by an older gmmtheory, or not a cache part)"
        want = self._header(unit)
        if header.get("format") != _CACHE_FORMAT:
            return f"has cache format {header.get('format')!r}, not {_CACHE_FORMAT}"
        if header.get("fingerprint") != want["fingerprint"]:
            return f"belongs to another sweep (fingerprint {str(header.get('fingerprint'))[:16]}…)"
        if header.get("unit") != unit:
            return f"holds unit {header.get('unit')!r}, not unit {unit} (moved or copied into the wrong slot)"
        if header.get("n_units") != want["n_units"] or header.get("cells") != want["cells"]:
            return (f"was written for another unit layout ({header.get('n_units')!r} units; this sweep has "
                    f"{want['n_units']}: another chunk_size or device count)")
        names = {f"{g}:{k}" for g in ("v", "e") for k in self.keys}
        if header.get("keys") != self.keys or set(arrays) != names:
            missing, extra = sorted(names - set(arrays)), sorted(set(arrays) - names)
            return f"does not hold the sweep's quantities (missing {missing}, unexpected {extra})"
        for k, a in arrays.items():
            if a.dtype != np.float64 or list(a.shape) != want["shape"]:
                return f"array {k!r} has dtype {a.dtype} and shape {a.shape}, expected float64 {tuple(want['shape'])}"
        if header.get("sha256") != self._digest(want, arrays):
            return "fails its checksum (modified or corrupted)"
        vals = {k[2:]: a for k, a in arrays.items() if k.startswith("v:")}
        errs = {k[2:]: a for k, a in arrays.items() if k.startswith("e:")}
        return vals, errs

    def store(self, unit: int, vals: dict, errs: dict) -> None:
        """Write the unit atomically (temporary file, fsync, rename: ``gmmtheory.atomic``)."""
        if self.dir is None:
            return
        arrays = {f"v:{k}": np.asarray(v, np.float64) for k, v in vals.items()}
        arrays.update({f"e:{k}": np.asarray(v, np.float64) for k, v in errs.items()})
        header = self._header(unit)
        header["sha256"] = self._digest(header, arrays)
        with atomic_open(self._path(unit)) as f:
            np.savez(f, header=np.array(json.dumps(header)), **arrays)

    def report(self) -> dict | None:
        """Cache summary for ``PhaseDiagram.meta``; warns (``CacheWarning``) once about every unusable file."""
        if self.dir is None:
            return None
        if self.problems:
            listed = "; ".join(f"{Path(f).name}: {why}" for f, why in self.problems[:10])
            more = f"; and {len(self.problems) - 10} more" if len(self.problems) > 10 else ""
            warnings.warn(f"phase_diagram cache {self.dir}: {len(self.problems)} file(s) not usable, recomputed or "
                          f"rewritten — {listed}{more}", CacheWarning, stacklevel=3)
        return {"dir": str(self.dir), "fingerprint": self.fingerprint, "n_loaded": self.n_loaded,
                "rejected": [{"file": f, "reason": why} for f, why in self.problems]}


@in_float64
def phase_diagram(
    axes: dict,
    t: object = None,
    *,
    model: str | None = None,
    process: Process | str = OU(),
    params: dict | None = None,
    quantities: Sequence[str] = QUANTITIES,
    method: str = "auto",
    n_samples: int | None = None,
    key: object = 0,
    cache: str | Path | None = None,
    devices: object = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
    callback: Callable[[list[int]], None] | None = None,
    guidance: dict | None = None,
) -> PhaseDiagram:
    """H[Z_P | X_t]/H[Z_P], the rate, φ and the Bayes error on the grid axes × t (see the module docstring).

    Args:
        axes: one or two parameter axes, ``{"d": [...]}`` or ``{"d": [...], "mu": [...]}`` (names in ``PARAMS``).
        t: strictly increasing times of ``process`` (default: 128 log-SNRs from 9.2 to −20 mapped to the process).
        model: ``"two"``, ``"kclasses"``, ``"hierarchical"``, ``"covariance_only"`` (default: inferred from axes).
        process: the forward process (or its name); times, rates and landmarks are in its native time.
        params: fixed values of the parameters that are not axes (defaults ``DEFAULTS``).
        quantities: subset of ``("H", "rate", "phi", "bayes_error")`` (``H_norm`` comes with ``H``).
        method: the entropy method for the cell loop ("auto", "quadrature", "reduced", "montecarlo").
        n_samples, key: Monte Carlo draws and PRNG key (the same key in every cell: common random numbers).
        cache: a directory; finished units are written to its sweep folder and reused on a rerun (resume); bad
            or foreign parts are recomputed with a ``CacheWarning`` (``meta["cache"]`` says what was loaded/rejected).
        devices: the jax devices to use (default all; an int takes the first n).
        chunk_size: rows (parameter cells) per fast-path chunk (default: bounded by memory).
        progress: tqdm progress bar (default: only when stderr is a TTY).
        callback: called with the flat cell indices of every unit as it finishes (computed, not loaded).
        guidance: extra keyword arguments for ``guidance.guided_profile`` (w axis only).
    """
    # ---- validate everything before any jit work
    ax = _check_axes(axes)
    model = _infer_model(set(ax), model)
    base = _check_params(params, model, ax)
    process = _check_process(process)
    if isinstance(quantities, str) or not set(quantities) <= set(QUANTITIES) or not quantities:
        raise ValueError(f"quantities must be a non-empty subset of {QUANTITIES}; got {quantities!r}")
    quantities = tuple(q for q in QUANTITIES if q in quantities)
    guided = "w" in ax or base.get("w") is not None
    if guided:
        quantities = ("H",)
    t = _check_t(t, process, "rate" in quantities)
    if method not in ("auto", "quadrature", "reduced", "montecarlo"):
        raise ValueError(f"method must be one of ('auto', 'quadrature', 'reduced', 'montecarlo'); got {method!r}")
    if n_samples is not None and (isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer))
                                  or n_samples < 2):
        raise ValueError(f"n_samples must be an integer ≥ 2; got {n_samples!r}")
    if chunk_size is not None and (not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}")
    cache_root = _check_cache_dir(cache)
    init_distributed()
    devices = _resolve_devices(devices)
    fast = model == "two" and set(ax) <= _FAST_AXES and not guided and method in ("auto", "quadrature")
    level_names = _level_names(model)
    pshape = tuple(len(v) for v in ax.values())
    n_cells = int(np.prod(pshape))
    T = t.size
    unit_keys = [_key(lv, q) for lv in level_names for q in quantities]  # what every unit returns
    start = time.perf_counter()

    # ---- units of work
    if fast:
        with precision_scope("float64"):
            n, rows, compute_rows, Lam, pi0 = _fast_setup(ax, base, t, process, devices, chunk_size)
        units = [np.arange(s, min(s + rows, n)) for s in range(0, n, rows)]
        compute = lambda u: tuple({k: d[k] for k in unit_keys} for d in compute_rows(units[u]))
    else:
        units = [np.array([i]) for i in range(n_cells)]
        prng = jax.random.PRNGKey(int(key)) if isinstance(key, (int, np.integer)) else key
        rare_cells: list[int] = []  # cells computed in this run with a quantity flagged as a rare event

        def compute(u: int):
            p = _cell_params(base, ax, np.unravel_index(int(units[u][0]), pshape))
            mix, levels = build_mixture(model, p)
            if guided:
                vals, errs = _guided_cell(mix, levels, process, t, p["w"], n_samples, prng, guidance)
            else:
                flagged: list[str] = []
                vals, errs = _general_cell(mix, levels, process, t, quantities, method, n_samples, prng, flagged)
                if flagged:
                    rare_cells.append(int(units[u][0]))
            return {k: v[None] for k, v in vals.items()}, {k: v[None] for k, v in errs.items()}

    # ---- the cache: everything that determines a value is in the fingerprint (the unit layout, which depends on
    # chunk_size and the device count, is checked part by part)
    import gmmtheory  # noqa: PLC0415 - the package's version (imported after this module)

    config = dict(format=_CACHE_FORMAT, version=getattr(gmmtheory, "__version__", None), axes=ax, t=t, model=model,
                  process=process, process_repr=repr(process), params=base, quantities=quantities, keys=unit_keys,
                  method=method, n_samples=n_samples, key=key, fast=fast, guidance=guidance)
    cache_obj = _Cache(cache_root, config, units, unit_keys, T)

    # ---- run (cache-aware), sharded / threaded over devices
    results: dict[int, tuple[dict, dict]] = {}
    todo = []
    for u in range(len(units)):
        got = cache_obj.load(u)
        if got is None:
            todo.append(u)
        else:
            results[u] = got
    cache_info = cache_obj.report()
    n_proc, pid = jax.process_count(), jax.process_index()
    if not fast and n_proc > 1:
        todo = [u for u in todo if u % n_proc == pid]
    if progress is None:
        progress = sys.stderr.isatty()
    from tqdm.auto import tqdm

    bar = tqdm(total=n_cells, initial=sum(units[u].size for u in results), disable=not progress, unit="cell",
               desc=f"phase {model} {'×'.join(ax)}×t")

    def finish(u: int, res) -> None:
        vals, errs = res
        results[u] = res
        if fast and pid != 0:
            pass
        else:
            cache_obj.store(u, vals, errs)
        bar.update(units[u].size)
        if callback is not None:
            callback([int(i) for i in units[u]])

    local = [dv for dv in devices if dv.process_index == pid]
    try:
        if fast or len(local) <= 1:
            with (jax.default_device(local[0]) if (not fast and local) else _null()):
                for u in todo:
                    finish(u, compute(u))
        else:
            def run_on(dev, us):
                with jax.default_device(dev):
                    return [(u, compute(u)) for u in us]

            pool = concurrent.futures.ThreadPoolExecutor(len(local))
            try:
                futs = {}
                for u in todo:  # one future per unit, round-robin over devices
                    futs[pool.submit(run_on, local[u % len(local)], [u])] = u
                for fut in concurrent.futures.as_completed(futs):
                    for u, res in fut.result():
                        finish(u, res)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()

    # ---- assemble
    keys = sorted({k for vals, _ in results.values() for k in vals}) if results else []
    values = {k: np.full((n_cells, T), np.nan) for k in keys}
    stderr = {k: np.full((n_cells, T), np.nan) for k in keys}
    for u, (vals, errs) in results.items():
        for k in vals:
            values[k][units[u]] = vals[k]
            stderr[k][units[u]] = errs[k]
    if not fast and n_proc > 1:
        from jax.experimental import multihost_utils

        for dct in (values, stderr):
            for k in dct:
                dct[k] = np.nanmax(np.asarray(multihost_utils.process_allgather(np.nan_to_num(dct[k], nan=-np.inf))),
                                   axis=0)
                dct[k][np.isneginf(dct[k])] = np.nan
    if fast:
        keep = set(quantities)
        values = {k: v for k, v in values.items() if k in keep}
        stderr = {k: v for k, v in stderr.items() if k in keep}

    # ---- priors, t_S and landmarks per cell
    h_prior = {lv: np.zeros(n_cells) for lv in level_names}
    t_s = np.zeros(n_cells)
    if fast:
        h_prior["classes"] = -(pi0 * np.log(pi0) + (1 - pi0) * np.log1p(-pi0))
        t_s = np.array([_to_process(0.5 * math.log(L), process) if L > 1 else np.nan for L in Lam])
    else:
        for i in range(n_cells):
            p = _cell_params(base, ax, np.unravel_index(i, pshape))
            mix, levels = build_mixture(model, p)
            for lv, part in levels.items():
                h_prior[lv][i] = _h_prior(mix, part)
            t_s[i] = speciation_time(mix, process)
    for lv in level_names:
        hk = _key(lv, "H")
        if hk in values:
            with np.errstate(invalid="ignore", divide="ignore"):
                values[_key(lv, "H_norm")] = values[hk] / h_prior[lv][:, None]
                stderr[_key(lv, "H_norm")] = stderr[hk] / h_prior[lv][:, None]
    lms = {"t_S": t_s}
    for lv in level_names:
        lm = grid_landmarks(t, values.get(_key(lv, "H_norm")), values.get(_key(lv, "rate")))
        lms.update({_key(lv, k): v for k, v in lm.items()})
    shape = pshape + (T,)
    coords = {**{k: np.asarray(v) for k, v in ax.items()}, "t": t}
    meta = dict(model=model, process=repr(process), params={k: v for k, v in base.items() if k not in ax},
                quantities=list(quantities), method=method, n_samples=n_samples, path="fast" if fast else "cells",
                n_devices=len(devices), n_processes=n_proc, seconds=time.perf_counter() - start,
                n_computed=len(todo), n_units=len(units), cache=cache_info,
                rare_event_cells=sorted(rare_cells) if not fast else [])
    if not fast and rare_cells:
        warnings.warn(f"phase diagram: {len(rare_cells)} of the {len(todo)} cells computed had a Monte Carlo "
                      "estimate carried by fewer than 30 draws at some time (a rare event: its standard error may "
                      "be overconfident); their flat indices are in meta['rare_event_cells']", RareEventWarning,
                      stacklevel=2)
    return PhaseDiagram(coords, {k: v.reshape(shape) for k, v in values.items()},
                        {k: v.reshape(shape) for k, v in stderr.items()},
                        {k: v.reshape(pshape) for k, v in lms.items()},
                        {k: v.reshape(pshape) for k, v in h_prior.items()}, meta)


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


# ============================================================================================ landmarks
def _crossing(t: np.ndarray, y: np.ndarray, level: float) -> float:
    """First upward crossing of ``level`` by y(t), linear interpolation between grid points (nan if none)."""
    below = y < level
    idx = np.flatnonzero(below[:-1] & ~below[1:])
    if idx.size == 0:
        return float("nan")
    i = int(idx[0])
    w = (level - y[i]) / (y[i + 1] - y[i])
    return float(t[i] + w * (t[i + 1] - t[i]))


def _peak(t: np.ndarray, r: np.ndarray) -> tuple[float, float, float, float]:
    """Argmax of the rate (3-point parabola), its value and the half-maximum edges (linear interpolation)."""
    nan = float("nan")
    if not np.all(np.isfinite(r)):
        return nan, nan, nan, nan
    i = int(np.argmax(r))
    if i == 0 or i == r.size - 1 or r[i] <= 0:
        return nan, nan, nan, nan
    x0, x1, x2 = t[i - 1 : i + 2]
    y0, y1, y2 = r[i - 1 : i + 2]
    den = (x0 - x1) * (x0 - x2) * (x1 - x2)
    A = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
    B = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / den
    C = (x1 * x2 * (x1 - x2) * y0 + x2 * x0 * (x2 - x0) * y1 + x0 * x1 * (x0 - x1) * y2) / den
    tp = -B / (2 * A) if A < 0 else x1
    rp = A * tp**2 + B * tp + C if A < 0 else y1
    half = 0.5 * rp
    left = np.flatnonzero(r[:i] < half)
    right = np.flatnonzero(r[i + 1 :] < half)
    lo = hi = nan
    if left.size:
        j = int(left[-1])
        lo = float(t[j] + (half - r[j]) / (r[j + 1] - r[j]) * (t[j + 1] - t[j]))
    if right.size:
        k = i + 1 + int(right[0])
        hi = float(t[k - 1] + (half - r[k - 1]) / (r[k] - r[k - 1]) * (t[k] - t[k - 1]))
    return float(tp), float(rp), lo, hi


def grid_landmarks(t: np.ndarray, h_norm: np.ndarray | None, rate: np.ndarray | None) -> dict[str, np.ndarray]:
    """Landmarks along the last axis of gridded H/H[Z] and dH/dt (see the module docstring); flat (n, T) in."""
    out = {}
    if h_norm is not None:
        h = np.asarray(h_norm).reshape(-1, t.size)
        for name, lev in LEVEL_FRACTIONS.items():
            out[name] = np.array([_crossing(t, row, lev) for row in h])
        out["window"] = out["h90"] - out["h10"]
    if rate is not None:
        r = np.asarray(rate).reshape(-1, t.size)
        pk = np.array([_peak(t, row) for row in r]).reshape(-1, 4)
        out["peak"], out["peak_rate"], out["fwhm_lo"], out["fwhm_hi"] = pk.T
    return out


# ============================================================================================== figures
_LM_STYLE = {
    "t_S": dict(color="white", lw=1.8, ls="-", label="t_S = ½ log Λ"),
    "half": dict(color="black", lw=1.4, ls="--", label="H = ½ H[Z]"),
    "peak": dict(color="tab:red", lw=1.4, ls="-", label="rate peak"),
    "h10": dict(color="0.85", lw=1.0, ls=":", label="10–90 % window"),
    "h90": dict(color="0.85", lw=1.0, ls=":", label=None),
}
_LOG_AXES = {"d", "mu", "ratio", "variance"}


def plot_phase(pd: PhaseDiagram, ax, *, level: str = "classes", quantity: str = "H_norm", log_t: bool | None = None,
               log_param: bool | None = None, landmarks: Sequence[str] = ("t_S", "half", "peak", "h10", "h90"),
               colorbar: bool = True, vmax: float | None = None, title: str | None = None, legend: bool = True):
    """Heatmap of ``quantity`` on (t × parameter) with the landmark curves overlaid (one-parameter diagrams)."""
    import matplotlib.pyplot as plt

    if len(pd.dims) != 2:
        raise ValueError("plot_phase draws one-parameter diagrams; select a slice of a two-parameter diagram first")
    name = pd.dims[0]
    y = np.asarray(pd.coords[name], np.float64)
    t = pd.coords["t"]
    Z = pd.get(quantity, level)
    if log_t is None:
        log_t = "EDM" in pd.meta.get("process", "") or "VE" in pd.meta.get("process", "")
    if log_param is None:
        log_param = name in _LOG_AXES and np.all(y > 0) and y.max() / y.min() > 20
    vmax = vmax if vmax is not None else (1.0 if quantity.endswith("H_norm") else np.nanmax(Z))
    mesh = ax.pcolormesh(t, y, Z, shading="nearest", cmap="magma", vmin=0.0, vmax=vmax, rasterized=True)
    for lm in landmarks:
        key = lm if lm == "t_S" else _key(level, lm)
        if key not in pd.landmarks:
            continue
        ax.plot(pd.landmarks[key], y, **_LM_STYLE.get(lm, {"label": lm}))
    if log_t:
        ax.set_xscale("log")
    if log_param:
        ax.set_yscale("log")
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(y[0], y[-1])
    ax.set_xlabel({"OU()": "OU time t", "EDM(sigma_data=1)": "EDM σ"}.get(pd.meta.get("process"), "t"))
    ax.set_ylabel({"d": "dimension d", "mu": "separation μ̃", "ratio": "level ratio μ̃_sub/μ̃_super", "K": "classes K",
                   "variance": "within-class variance", "a": "covariance contrast a", "imbalance": "weight π₀",
                   "w": "guidance scale w"}[name])
    ax.grid(False)
    if title:
        ax.set_title(title)
    if colorbar:
        label = {"H_norm": "H[Z | X_t] / H[Z]", "rate": "dH/dt", "phi": "φ", "bayes_error": "Bayes error"}
        plt.colorbar(mesh, ax=ax, label=label.get(quantity.split(".")[-1], quantity), pad=0.02)
    if legend:
        ax.legend(loc="lower right", fontsize=7, facecolor="0.5", framealpha=0.6, frameon=True)
    return mesh


def figure(pd: PhaseDiagram, out: Path, stem: str = "phase") -> list[Path]:
    """Default figure of a diagram: one heatmap per level (one-parameter) or the half-entropy time map (two)."""
    from gmmtheory import plotting

    with plotting.style():
        import matplotlib.pyplot as plt

        if len(pd.dims) == 2:
            fig, axes = plt.subplots(1, len(pd.levels), figsize=(5.6 * len(pd.levels), 4.2), squeeze=False)
            for ax, lv in zip(axes[0], pd.levels):
                plot_phase(pd, ax, level=lv, title=f"{pd.meta['model']} / {lv}, {pd.meta['process']}")
        else:
            x, y = pd.dims[:2]
            fig, axes = plt.subplots(1, len(pd.levels), figsize=(5.6 * len(pd.levels), 4.2), squeeze=False)
            for ax, lv in zip(axes[0], pd.levels):
                m = ax.pcolormesh(pd.coords[y], pd.coords[x], pd.landmark("half", lv), shading="nearest")
                plt.colorbar(m, ax=ax, label="half-entropy time")
                ax.set_xlabel(y)
                ax.set_ylabel(x)
                for name, setter in ((x, ax.set_yscale), (y, ax.set_xscale)):
                    vals = np.asarray(pd.coords[name], float)
                    if name in _LOG_AXES and vals.min() > 0 and vals.max() / vals.min() > 20:
                        setter("log")
                ax.set_title(f"{lv}: where H = ½ H[Z]")
        return plotting.save(fig, Path(out), stem)


# ========================================================================================= report section
def _rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if sys.platform != "darwin" else r / 2**20


def default_sweeps(quick: bool = False) -> dict[str, dict]:
    """The sweeps of the report section (keyword arguments of ``phase_diagram``)."""
    nd, nt = (25, 128) if quick else (61, 256)
    dims = np.unique(np.round(np.geomspace(10, 1e6, nd)).astype(int))
    t_ou = np.linspace(0.01, 10.0, nt)
    sig = np.geomspace(1e-2, 1e4, nt)
    return {
        "vp_d": dict(axes={"d": dims}, t=t_ou, process=OU()),
        "edm_d": dict(axes={"d": dims}, t=sig, process=EDM()),
        "separation": dict(axes={"mu": np.geomspace(0.03, 3.0, nd)}, t=np.linspace(0.01, 8.0, nt), process=OU(),
                           params={"d": 1000}),
        "hierarchy": dict(axes={"ratio": np.geomspace(0.03, 1.0, 7 if quick else 13)},
                          t=np.linspace(0.05, 7.0, 48 if quick else 96), process=OU(), params={"d": 1000, "mu": 1.0},
                          quantities=("H", "rate"), n_samples=2**11 if quick else 2**12, key=0),
    }


def section_phase(out: Path, quick: bool) -> str:
    """Report section: (d × t) VP and EDM diagrams, separation and hierarchy diagrams, time and memory of sweeps."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    diagrams, rows = {}, []
    for name, kw in default_sweeps(quick).items():
        rss0 = _rss_mb()
        t0 = time.perf_counter()
        pd = phase_diagram(progress=False, **kw)
        dt = time.perf_counter() - t0
        diagrams[name] = pd
        nbytes = sum(v.nbytes for v in pd.values.values()) + sum(v.nbytes for v in pd.stderr.values())
        rows.append((name, "×".join(f"{k}[{len(v)}]" for k, v in pd.coords.items()), pd.meta["path"],
                     pd.meta["n_devices"], dt, _rss_mb(), _rss_mb() - rss0, nbytes / 2**20))
        pd.save(out / f"phase_{name}.npz")
    from gmmtheory import plotting

    vp, edm, sep, hier = (diagrams[k] for k in ("vp_d", "edm_d", "separation", "hierarchy"))
    with plotting.style():
        import matplotlib.pyplot as plt

        fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
        plot_phase(vp, a1, title="VP (OU time): window at ½ log d, width O(1)", colorbar=False)
        plot_phase(edm, a2, title="EDM σ (log axis): window at σ ∝ √d, width ∝ σ")
        plotting.save(fig, out, "phase_d_vp_edm")

        fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
        plot_phase(sep, a1, title="separation × OU time (d = 1000)", colorbar=False)
        rate = sep.values["rate"] / np.nanmax(sep.values["rate"], axis=1, keepdims=True)
        tmp = PhaseDiagram(sep.coords, {"rate": rate}, {}, sep.landmarks, sep.h_prior, sep.meta)
        plot_phase(tmp, a2, quantity="rate", title="rate dH/dt (each row scaled to its max)",
                   landmarks=("peak", "half"), legend=False)
        plotting.save(fig, out, "phase_separation")

        fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
        plot_phase(hier, axes[0], level="coarse", title="coarse level: H[Z_super | X_t]/log 2", colorbar=False,
                   landmarks=("half", "peak"))
        axes[0].plot(hier.landmark("half"), hier.coords["ratio"], color="cyan", lw=1.2, ls="--",
                     label="fine level H = ½ H[Z]")
        axes[0].legend(loc="lower right", fontsize=7, facecolor="0.5", framealpha=0.6, frameon=True)
        plot_phase(hier, axes[1], level="classes", title="fine level: H[Z | X_t]/log 4", colorbar=False,
                   landmarks=("half", "peak"))
        within = (hier.values["H"] - hier.values["coarse.H"]) / math.log(2.0)
        tmp = PhaseDiagram(hier.coords, {"H_norm": within}, {}, {}, hier.h_prior, hier.meta)
        plot_phase(tmp, axes[2], landmarks=(), title="within superclass: H[Z | Z_super, X_t]/log 2", legend=False)
        plotting.save(fig, out, "phase_hierarchy")

    # the log-time read-out: peak location and width against d, in both times
    d = vp.coords["d"]
    pick = [0, len(d) // 2, len(d) - 1]
    lines = [
        "## Phase diagrams",
        "",
        "H[Z | X_t]/H[Z] on grids of time × parameter (`gt.phase_diagram`), with the landmark curves computed from "
        "the grid: t_S = ½ log Λ (white), H = ½ H[Z] (dashed), the rate peak (red), the 10–90 % entropy window "
        "(dotted). Two Gaussians ±m, |m|² = d μ̃², unit variance: the whole (d × t) grid is one vectorised "
        "binary-channel quadrature (fast path); the hierarchy is a cell loop of reduced Monte Carlo "
        f"({hier.meta['n_samples']} draws, common random numbers across cells).",
        "",
        "![d × t, VP and EDM](phase_d_vp_edm.png)",
        "",
        "In OU (VP) time the decided/undecided boundary is a straight line against log d, parallel to t_S, with a "
        "window of constant width: relative width → 0 (log-time concentration). Against EDM σ on a log axis the "
        "window also moves with d but keeps a constant width in log σ, i.e. a width ∝ σ in EDM's native time: no "
        "sharpening.",
        "",
        "| d | t_S (OU) | rate peak (OU) | 10–90 % window (OU) | rate peak σ (EDM) | window in σ (EDM) | window/σ* (EDM) |",
        "|---|---|---|---|---|---|---|",
    ]
    for i in pick:
        lines.append(f"| {d[i]:g} | {vp.landmarks['t_S'][i]:.3f} | {vp.landmarks['peak'][i]:.3f} | "
                     f"{vp.landmarks['window'][i]:.3f} | {edm.landmarks['peak'][i]:.4g} | "
                     f"{edm.landmarks['window'][i]:.4g} | {edm.landmarks['window'][i] / edm.landmarks['peak'][i]:.3f} |")
    lines += [
        "",
        "![separation × t](phase_separation.png)",
        "",
        "At fixed d = 1000 the separation moves every landmark by log μ̃ in OU time (t_S = ½ log(1 + d μ̃²)); as d μ̃² "
        "falls towards 1 the window reaches t = 0 and the classes are never fully decided.",
        "",
        "![hierarchy](phase_hierarchy.png)",
        "",
        "Hierarchy ±u ± v with |u|² = d, |v|² = d·ratio²: the coarse level (superclass) decides at ½ log d + O(1) "
        "regardless of the ratio, the fine level later in generation (smaller t), ½ log(1/ratio²) below it; the "
        "right panel shows the band where the superclass is decided but the subclass is not.",
        "",
        "Time and memory of the default sweeps (this run; peak RSS of the whole process from "
        "`resource.getrusage`, monotone over the report):",
        "",
        "| sweep | grid | path | devices | time (s) | peak RSS after (MiB) | RSS growth (MiB) | result arrays (MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {g} | {p} | {nd} | {dt:.2f} | {rss:.0f} | {grow:.0f} | {mb:.2f} |"
              for n, g, p, nd, dt, rss, grow, mb in rows]
    return "\n".join(lines) + "\n"


# ================================================================================================== CLI
def _parse_values(spec: str, name: str) -> np.ndarray:
    """'a:b:n' linear, 'a:b:n:log' geometric, 'a,b,c' or 'a' (``gmmtheory.cli.parse_range``; ValueError naming
    ``name`` otherwise)."""
    from gmmtheory.cli import parse_range

    return parse_range(spec, name)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``gmmtheory phase`` on an argparse subparsers object."""
    from gmmtheory.cli import RANGE_SYNTAX, add_format_args

    p = subparsers.add_parser(
        "phase", help="phase diagram: H/H[Z], rate, φ, Bayes error on a grid of time × parameters",
        description="Sweep time × one or two parameters (d, mu, K, variance, ratio, a, imbalance, w). A fixed "
                    "parameter that is also an axis, or that the model does not have, is refused.",
        epilog=("examples:\n  gmmtheory phase --x d --x-values 10:1e6:31:log --y t --t 0.01:10:128 --out out/phase\n"
                "  gmmtheory phase --x d --x-values 10:1e6:31:log --process edm --t 0.01:1e4:128:log --json\n"
                "  gmmtheory phase --x ratio --x-values 0.05:1:9:log --model hierarchical --d 1000 --n-samples 4096\n"
                "  gmmtheory phase --x d --x-values 10:1e4:7:log --y mu --y-values 0.1:2:5 --t 0.01:8:64"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--x", required=True, choices=PARAMS, help="first parameter axis")
    p.add_argument("--x-values", required=True, help=f"values: {RANGE_SYNTAX}")
    p.add_argument("--y", default="t", choices=("t",) + PARAMS, help="second axis: t (default) or a parameter")
    p.add_argument("--y-values", help="values of a parameter --y (only with --y a parameter)")
    p.add_argument("--t", help=f"times of the process: {RANGE_SYNTAX} (default: 128 log-SNRs λ = 9.2 … −20 mapped "
                               "into the process's time)")
    p.add_argument("--model", choices=MODELS, help="default: inferred from the axes")
    p.add_argument("--process", default="ou", help="ou, vp, ve, edm, flow, ddpm, sd15 (default ou)")
    for name, typ in (("d", int), ("mu", float), ("K", int), ("variance", float), ("ratio", float), ("a", float),
                      ("imbalance", float), ("w", float)):
        p.add_argument(f"--{name}", type=typ, default=None, help=f"fixed {name} (default {DEFAULTS[name]})")
    p.add_argument("--quantities", default="H,rate,phi,bayes_error", help="comma list of H,rate,phi,bayes_error")
    p.add_argument("--n-samples", type=int, default=None, help="Monte Carlo draws per cell (cell loop)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    p.add_argument("--cache", type=Path, help="cache directory: resume an interrupted sweep")
    p.add_argument("--out", type=Path, help="write phase.npz and phase.png/pdf into this directory")
    add_format_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown on a TTY)")
    p.set_defaults(func=cmd_phase)
    return p


def _cli_rows(pd: PhaseDiagram) -> list[dict]:
    """One row per parameter cell: its coordinates, H[Z_P] per level and every landmark (``pd.landmarks``)."""
    pdims = [n for n in pd.dims if n != "t"]
    rows = []
    for idx in np.ndindex(*(len(pd.coords[n]) for n in pdims)):
        row: dict = {n: pd.coords[n][i] for n, i in zip(pdims, idx)}
        for lv, hp in pd.h_prior.items():
            row[f"H_prior.{lv}"] = np.asarray(hp)[idx] if np.ndim(hp) else hp
        for k, v in pd.landmarks.items():
            row[k] = np.asarray(v)[idx]
        rows.append({k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()})
    return rows


def cmd_phase(args: argparse.Namespace) -> int:
    from gmmtheory.cli import SIGMA_DEFINITION, emit, prepare_out, time_description

    axes = {args.x: _parse_values(args.x_values, "--x-values")}
    if args.y != "t":
        if args.y_values is None:
            raise ValueError("--y-values is required when --y is a parameter")
        if args.y == args.x:
            raise ValueError("--y must differ from --x")
        axes[args.y] = _parse_values(args.y_values, "--y-values")
    elif args.y_values is not None:
        raise ValueError("--y-values applies only when --y is a parameter (with --y t the times are --t); drop it")
    for name in ("d", "K"):
        if name in axes:
            axes[name] = np.unique(np.round(axes[name]).astype(int))
    given = {k: getattr(args, k) for k in PARAMS if getattr(args, k) is not None}
    on_axis = sorted(set(given) & set(axes))
    if on_axis:
        raise ValueError(f"--{on_axis[0]} is also an axis (--x/--y), so its fixed value would not act; drop it")
    model = _infer_model(set(axes), args.model)
    unused = sorted(set(given) - MODEL_PARAMS[model])
    if unused:
        raise ValueError(f"--{unused[0]} does not apply to model {model!r} (its parameters: "
                         f"{', '.join(sorted(MODEL_PARAMS[model]))}); drop it or choose --model")
    t = None if args.t is None else _parse_values(args.t, "--t")
    process = _check_process(args.process)
    out_dir = prepare_out(args.out)
    if args.cache is not None:
        prepare_out(args.cache, "--cache")
    pd = phase_diagram(axes, t, model=model, process=process, params=given,
                       quantities=tuple(q.strip() for q in args.quantities.split(",") if q.strip()),
                       n_samples=args.n_samples, key=args.seed, cache=args.cache,
                       progress=False if args.no_progress else None)
    if out_dir is not None:
        pd.save(out_dir / "phase.npz")
        figure(pd, out_dir, "phase")
    meta = {"mixture": f"model {model}, fixed parameters {pd.meta.get('params', given)}", "model": model,
            "process": repr(process), "method": pd.meta.get("method"), "draws": args.n_samples, "key": args.seed,
            "time_variable": "t", "time_units": time_description(process), "sigma": SIGMA_DEFINITION,
            "H_Z": "per cell: columns H_prior.<level>", "H_units": "nats", "levels": list(pd.levels),
            "quantities": sorted(pd.values), "diagram": pd.meta}
    columns = {k: f"landmark {k} in t: {time_description(process)}" for k in pd.landmarks}
    arrays = {"coords": pd.coords, "values": pd.values, "stderr": pd.stderr, "landmarks": pd.landmarks,
              "h_prior": pd.h_prior} if args.format == "json" else {}
    emit("phase", meta, _cli_rows(pd), columns, args.format, **arrays)
    if out_dir is not None:
        print(f"wrote {out_dir / 'phase.npz'} and {out_dir / 'phase.png'}", file=sys.stderr)
    return 0


__all__ = [
    "MODELS",
    "PARAMS",
    "CacheWarning",
    "PhaseDiagram",
    "add_parser",
    "build_mixture",
    "cmd_phase",
    "default_sweeps",
    "figure",
    "grid_landmarks",
    "init_distributed",
    "phase_diagram",
    "plot_phase",
    "section_phase",
]
