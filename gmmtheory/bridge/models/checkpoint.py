"""``load_checkpoint``: a user's own torch checkpoint (a checkout folder + a weights file) as an EDM Denoiser.

Convention (``gmmtheory.bridge.base``): x = x_0 + σ ε and D(x, σ, label) ≈ E[x_0 | x, label] (label None:
unconditional). Two file formats:

- a whole pickled module (``torch.save(module)``): loaded with ``torch.load(weights_only=False)`` ONLY when
  ``trust_pickle=True``. Trust boundary: unpickling runs any code the file contains, and the checkout's code is
  imported; pass only files and a checkout you trust.
- a factory ``"pkg.mod:Class"`` or ``"pkg.mod:function"`` called with JSON keyword arguments, then a state dict
  loaded with ``torch.load(weights_only=True)`` (no code runs from the file). A keyword value
  ``{"__factory__": "pkg.mod:Name", "kwargs": {...}}`` is built first (a nested constructor, e.g. a wrapper taking
  its network as an argument).

The checkout folder is put at the front of ``sys.path`` for the load only; ``sys.path`` is restored afterwards and
the modules imported from the checkout are dropped from ``sys.modules`` (so two checkouts with a package of the same
name do not clash; the loaded objects keep their classes). ``load_edm2`` shares this code (``_on_path`` with
``keep=True``, ``_unpickle``): EDM2's code may import from its checkout later, so there the checkout stays.

Parametrisations of the called method's output (``parametrization``):
"x0": out = x̂_0, D = out;  "eps": out = ε̂, D = x − σ ε̂;  "v": out = v̂, D = c_skip x − c_out v̂ (σ_d = sigma_data
for continuous σ, σ_d = 1 for a discrete schedule, i.e. Salimans & Ho's v); "edm": the module is EDM-preconditioned,
``module(x, σ, labels)`` returns D itself (continuous σ only).

Schedules: continuous (``schedule=None``): the network gets x unchanged and ``time`` ("sigma": σ, "log_sigma": ln σ,
"c_noise": ln σ / 4, EDM's c_noise); discrete (a ``DiscreteSchedule`` / "linear:1e-4,0.02,1000"): the network gets
x_model = √ᾱ_t · x and the integer step t (see ``gmmtheory.bridge.models.discrete``).

Data range: the EDM-frame x_0 is the model's own data (e.g. pixels in [−1, 1]); no rescaling is done. ``data_range``
and ``sigma_data`` are exposed for samplers and reports.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmmtheory.bridge.base import Denoiser
from gmmtheory.bridge.models.common import (
    _broadcast,
    _check_choice,
    _check_count,
    _check_label,
    _check_positive,
    _check_range,
    _check_shape,
    _check_sigma,
    _check_sigma_range,
    _check_x,
    _to_denoised,
)
from gmmtheory.bridge.models.discrete import _INTERPOLATIONS, parse_schedule, vp_input

PARAMETRIZATIONS = ("x0", "eps", "v", "edm")
LABEL_MODES = ("index", "onehot", "none")
TIMES = ("sigma", "log_sigma", "c_noise")
TIMESTEP_SHAPES = ("flat", "column")
# The trust boundary of every pickle this package unpickles (load_module with trust_pickle, load_edm2).
PICKLE_TRUST = ("unpickling runs any code the file contains, and the checkout's code is imported; pass only files and "
                "a checkout you trust")
TRUST = (f"Trust boundary: a pickled module (--trust-pickle) is loaded with torch.load(weights_only=False): "
         f"{PICKLE_TRUST}. A state dict with --factory is loaded with weights_only=True.")


def _inside(path: Any, root: Path) -> bool:
    """Whether ``path`` (a module's file or package folder) lies inside the folder ``root``."""
    if not path:
        return False
    try:
        return Path(path).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


def _module_files(mod: Any) -> list[Any]:
    return [getattr(mod, "__file__", None), *list(getattr(mod, "__path__", None) or [])]


@contextlib.contextmanager
def _on_path(checkout: Path | None, *, keep: bool = False, packages: Sequence[str] = ()) -> Iterator[None]:
    """The checkout at the front of sys.path for the block.

    ``keep=False`` (``load_module``): sys.path is restored and the modules imported from the checkout are dropped
    from sys.modules afterwards. ``keep=True`` (``load_edm2``): the checkout stays at the front of sys.path and its
    modules stay imported. ``packages``: top-level names the load needs from this checkout; one already imported
    from elsewhere is refused (ValueError) instead of unpickling with another checkout's classes.
    """
    if checkout is None:
        yield
        return
    root = Path(checkout).resolve()
    for name in packages:
        loaded = sys.modules.get(name)
        origin = getattr(loaded, "__file__", None) if loaded is not None else None
        if origin is not None and not _inside(origin, root):
            raise ValueError(f"checkout: a different {name!r} is already imported (from {origin}); use that checkout "
                             f"or a fresh Python process")
    saved, before = list(sys.path), set(sys.modules)
    if not (keep and str(root) in sys.path):
        sys.path.insert(0, str(root))
    try:
        yield
    finally:
        if not keep:
            sys.path[:] = saved
            for name in set(sys.modules) - before:
                if any(_inside(f, root) for f in _module_files(sys.modules[name])):
                    del sys.modules[name]


def _unpickle(path: Path, name: str, *, trust_pickle: bool, read: Any = None, opt_in: str = "") -> Any:
    """Unpickle ``path`` (``read(path)``; default ``torch.load(weights_only=False)`` on the CPU) behind the trust
    boundary ``PICKLE_TRUST``: refused (one-line ValueError naming ``name``) unless ``trust_pickle``; ``opt_in``
    says how to opt in. A class the pickle needs but cannot import becomes a one-line ValueError too.
    """
    if not trust_pickle:
        raise ValueError(f"{name}: {str(path)!r} would be unpickled, and {PICKLE_TRUST}; {opt_in}")
    if read is None:
        def read(p: Path) -> Any:
            return torch.load(p, map_location="cpu", weights_only=False)
    try:
        return read(path)
    except (ModuleNotFoundError, AttributeError) as e:
        raise ValueError(f"{name}: unpickling needs the checkout's code ({e}); is --checkout the folder holding "
                         f"it?") from None


def _resolve(spec: Any, name: str) -> Any:
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"{name}: expected 'package.module:Name' (a class or function), got {spec!r}")
    mod_name, attr = spec.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"{name}: cannot import module {mod_name!r} ({e}); is --checkout the folder above it?") \
            from None
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{name}: module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{name}: {spec!r} is not callable")
    return obj


def _build(value: Any, name: str) -> Any:
    """Build nested factories {"__factory__": "mod:Name", "kwargs": {...}} inside a keyword value."""
    if isinstance(value, Mapping):
        if "__factory__" in value:
            extra = set(value) - {"__factory__", "kwargs"}
            if extra:
                raise ValueError(f"{name}: a nested factory takes only '__factory__' and 'kwargs', got {sorted(extra)}")
            kw = value.get("kwargs", {}) or {}
            if not isinstance(kw, Mapping):
                raise ValueError(f"{name}: nested 'kwargs' must be a JSON object, got {type(kw).__name__}")
            fn = _resolve(value["__factory__"], name)
            return fn(**{k: _build(v, f"{name}.{k}") for k, v in kw.items()})
        return {k: _build(v, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_build(v, name) for v in value]
    return value


def _parse_kwargs(kwargs: Any) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if isinstance(kwargs, str):
        try:
            kwargs = json.loads(kwargs)
        except json.JSONDecodeError as e:
            raise ValueError(f"kwargs: not valid JSON ({e.msg} at position {e.pos})") from None
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"kwargs: expected a JSON object of keyword arguments, got {type(kwargs).__name__}")
    return dict(kwargs)


def _state_dict(obj: Any, strip_prefix: str) -> dict[str, Any]:
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise ValueError(f"weights: expected a state dict (a mapping of parameter names to tensors), got "
                         f"{type(obj).__name__}")
    if strip_prefix:
        obj = {(k[len(strip_prefix):] if k.startswith(strip_prefix) else k): v for k, v in obj.items()}
    return dict(obj)


def _show(keys: Sequence[str], limit: int = 5) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:limit]) + (f", … ({len(keys)} in all)" if len(keys) > limit else "")


def load_module(checkout: Any, weights: Any, *, factory: str | None = None, kwargs: Any = None,
                strip_prefix: str = "", trust_pickle: bool = False, device: Any = "cpu") -> torch.nn.Module:
    """The torch module of a checkpoint, in eval mode on ``device`` (formats and trust boundary: module docstring).

    Raises FileNotFoundError for a missing checkout / weights file and ValueError (one line) for a pickle without
    ``trust_pickle``, a bad factory string, bad kwargs, or state-dict keys that do not match (listing the missing and
    unexpected keys).
    """
    root = None
    if checkout is not None:
        root = Path(checkout).expanduser().resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"checkout: folder {str(root)!r} not found")
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weights: file {str(path)!r} not found")
    kw = _parse_kwargs(kwargs)
    if factory is None and kw:
        raise ValueError("kwargs: given without --factory (a pickled module takes no keyword arguments)")
    with _on_path(root):
        if factory is None:
            module = _unpickle(path, "weights", trust_pickle=trust_pickle,
                               opt_in="pass trust_pickle=True (--trust-pickle) if you trust it, or give --factory "
                                      "and a state dict")
            if isinstance(module, Mapping):
                raise ValueError(f"weights: {str(path)!r} holds a state dict, not a module; give --factory")
        else:
            fn = _resolve(factory, "factory")
            module = fn(**{k: _build(v, f"kwargs.{k}") for k, v in kw.items()})
            if not isinstance(module, torch.nn.Module):
                raise ValueError(f"factory: {factory!r} returned {type(module).__name__}, not a torch.nn.Module")
            try:
                raw = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001 — an unsafe/garbled file: one line
                raise ValueError(f"weights: {str(path)!r} is not a weights-only state dict "
                                 f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
            sd = _state_dict(raw, strip_prefix)
            own = module.state_dict()
            missing, unexpected = set(own) - set(sd), set(sd) - set(own)
            if missing or unexpected:
                raise ValueError(f"weights: state dict does not match {factory}: missing keys [{_show(missing)}]; "
                                 f"unexpected keys [{_show(unexpected)}] (try strip_prefix / --strip-prefix)")
            try:
                module.load_state_dict(sd, strict=True)
            except RuntimeError as e:
                raise ValueError(f"weights: {' '.join(str(e).split())[:300]}") from None
    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"weights: expected a torch.nn.Module, got {type(module).__name__}")
    return module.to(device).eval()


def _check_options(parametrization: Any, label_mode: Any, time: Any, timestep_shape: Any, interpolation: Any) -> None:
    for value, allowed, name in ((parametrization, PARAMETRIZATIONS, "parametrization"),
                                 (label_mode, LABEL_MODES, "label_mode"), (time, TIMES, "time"),
                                 (timestep_shape, TIMESTEP_SHAPES, "timestep_shape"),
                                 (interpolation, _INTERPOLATIONS, "interpolation")):
        _check_choice(value, allowed, name)


class CheckpointDenoiser:
    """A loaded network seen as a Denoiser (see the module docstring for the conventions).

    The method ``call`` of ``module`` is called as ``fn(x_in, time_in, labels)`` (or ``fn(x_in, time_in)`` when
    ``label_mode="none"``), with labels a long tensor (n,) ("index") or a one-hot x-dtype tensor (n, K) ("onehot").
    Label None uses ``uncond`` (another Denoiser, e.g. a separately trained unconditional CheckpointDenoiser) if
    given; an unconditional model (label_mode "none") answers label None itself; otherwise it is refused.
    Under no_grad unless ``grad=True``.
    """

    def __init__(self, module: Any, *, shape: Sequence[int], parametrization: str = "x0", call: str = "forward",
                 schedule: Any = None, time: str = "sigma", timestep_shape: str = "flat",
                 interpolation: str = "nearest", label_mode: str = "none", num_classes: int = 0,
                 sigma_data: float = 0.5, sigma_min: float | None = None, sigma_max: float | None = None,
                 data_range: Sequence[float] | None = None, uncond: Denoiser | None = None,
                 device: Any = None, dtype: torch.dtype | None = None, grad: bool = False) -> None:
        _check_options(parametrization, label_mode, time, timestep_shape, interpolation)
        _check_count(num_classes, "num_classes")
        if (label_mode == "none") != (num_classes == 0):
            raise ValueError(f"num_classes: label_mode={label_mode!r} needs "
                             f"{'num_classes = 0' if label_mode == 'none' else 'num_classes >= 1'}, got {num_classes}")
        if not isinstance(call, str) or not callable(getattr(module, call, None)):
            raise ValueError(f"call: the module ({type(module).__name__}) has no method {call!r}")
        if uncond is not None and not callable(uncond):
            raise ValueError(f"uncond: expected a Denoiser, got {type(uncond).__name__}")
        self.schedule = parse_schedule(schedule)
        if self.schedule is not None and parametrization == "edm":
            raise ValueError("parametrization: 'edm' takes σ directly; it cannot be used with a discrete schedule")
        self.module, self.call, self.fn = module, call, getattr(module, call)
        self.shape = _check_shape(shape)
        self.parametrization, self.time, self.timestep_shape = parametrization, time, timestep_shape
        self.interpolation, self.label_mode, self.num_classes = interpolation, label_mode, int(num_classes)
        self.sigma_data = _check_positive(sigma_data, "sigma_data")
        if self.schedule is not None:
            lo, hi = self.schedule.sigma_min, self.schedule.sigma_max
            if sigma_min is not None or sigma_max is not None:
                raise ValueError("sigma_min, sigma_max: a discrete schedule sets its own range; leave them out")
        else:
            lo = 0.002 if sigma_min is None else sigma_min
            hi = 80.0 if sigma_max is None else sigma_max
        self.sigma_min, self.sigma_max = _check_range(lo, hi)
        if data_range is not None:
            dr = tuple(float(v) for v in data_range)
            if len(dr) != 2 or not all(math.isfinite(v) for v in dr) or not dr[0] < dr[1]:
                raise ValueError(f"data_range: expected (low, high) with low < high, got {data_range!r}")
            data_range = dr
        self.data_range = data_range
        self.uncond = uncond
        params = list(module.parameters()) if isinstance(module, torch.nn.Module) else []
        self.n_parameters = sum(p.numel() for p in params)
        self.device = torch.device(device) if device is not None else (params[0].device if params
                                                                        else torch.device("cpu"))
        self.dtype = dtype if dtype is not None else (params[0].dtype if params else torch.float32)
        self.grad = bool(grad)

    def _labels(self, lab: torch.Tensor | None, x: torch.Tensor) -> tuple[Any, ...]:
        if self.label_mode == "none":
            return ()
        if self.label_mode == "index":
            return (lab,)
        return (torch.nn.functional.one_hot(lab, self.num_classes).to(x.dtype),)

    def _continuous(self, x: torch.Tensor, s: torch.Tensor, labels: tuple[Any, ...]) -> torch.Tensor:
        t = s if self.time == "sigma" else (torch.log(s) if self.time == "log_sigma" else torch.log(s) / 4)
        out = self.fn(x, t, *labels)
        p = "D" if self.parametrization in ("x0", "edm") else self.parametrization
        return _to_denoised(out, x, s, p, self.sigma_data)

    def _discrete(self, x: torch.Tensor, s: torch.Tensor, labels: tuple[Any, ...]) -> torch.Tensor:
        sched = self.schedule
        lo, hi, w = sched.locate(s, self.interpolation)
        table = torch.as_tensor(sched.sigmas, device=x.device, dtype=x.dtype)

        def net(steps: np.ndarray) -> torch.Tensor:
            t = torch.as_tensor(steps, device=x.device, dtype=torch.long)
            xin = vp_input(x, table[t])  # √ᾱ_t x
            out = self.fn(xin, t.view(-1, 1) if self.timestep_shape == "column" else t, *labels)
            if not isinstance(out, torch.Tensor) or out.shape != x.shape:
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(f"model output: expected shape {tuple(x.shape)}, got {got}")
            return out.to(x.dtype)

        out = net(lo)
        if np.any(w > 0):
            wt = _broadcast(torch.as_tensor(w, device=x.device, dtype=x.dtype), x)
            out = (1 - wt) * out + wt * net(hi)
        p = "D" if self.parametrization == "x0" else self.parametrization
        return _to_denoised(out, x, s, p, 1.0)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | int | None) -> torch.Tensor:
        """D(x, σ, label) for x of shape (n, *shape), σ a scalar or (n,) inside [sigma_min, sigma_max]."""
        n = _check_x(x, self.shape)
        s = _check_sigma(sigma, x)
        _check_sigma_range(s, self.sigma_min, self.sigma_max,
                           "" if self.schedule is None else f" ({self.schedule.steps} discrete steps)")
        if label is not None and isinstance(label, torch.Tensor) and label.ndim == 2:
            raise ValueError(f"label: expected integer class indices of shape ({n},) (one-hot is built here), got "
                             f"shape {tuple(label.shape)}")
        if label is None and self.label_mode != "none":
            if self.uncond is None:
                raise ValueError("label: this model is conditional only (no null label); pass a class label or "
                                 "load a separate unconditional model (uncond=...)")
            return self.uncond(x, s, None)
        lab = _check_label(label, n, self.num_classes, x.device)
        labels = self._labels(lab, x)
        with torch.set_grad_enabled(self.grad and torch.is_grad_enabled()):
            if self.schedule is None:
                return self._continuous(x, s, labels)
            return self._discrete(x, s, labels)

    def __repr__(self) -> str:
        kind = "continuous" if self.schedule is None else f"discrete ({self.schedule.steps} steps)"
        return (f"CheckpointDenoiser({type(self.module).__name__}.{self.call}, {self.parametrization}, {kind}, "
                f"shape {self.shape}, K = {self.num_classes}, σ ∈ [{self.sigma_min:.4g}, {self.sigma_max:.4g}])")


def load_checkpoint(checkout: Any, weights: Any, *, factory: str | None = None, kwargs: Any = None,
                    strip_prefix: str = "", trust_pickle: bool = False, call: str = "forward",
                    parametrization: str = "x0", schedule: Any = None, time: str = "sigma",
                    timestep_shape: str = "flat", interpolation: str = "nearest", label_mode: str = "none",
                    num_classes: int = 0, shape: Sequence[int] = (1, 28, 28), sigma_data: float = 0.5,
                    sigma_min: float | None = None, sigma_max: float | None = None,
                    data_range: Sequence[float] | None = None, uncond: Any = None, device: Any = "cpu",
                    dtype: torch.dtype | None = None) -> CheckpointDenoiser:
    """Load ``weights`` (with the code of ``checkout``) and wrap it as a ``CheckpointDenoiser``.

    Formats, trust boundary, parametrisations and schedules: see the module docstring. ``uncond`` is a Denoiser or a
    dict of ``load_checkpoint`` keyword arguments (with its own ``checkout`` and ``weights``) for a separately
    trained unconditional model used for label None. Every option is checked before the file is read.
    """
    _check_options(parametrization, label_mode, time, timestep_shape, interpolation)
    sched = parse_schedule(schedule)
    shape = _check_shape(shape)
    if isinstance(uncond, Mapping):
        spec = dict(uncond)
        if "weights" not in spec:
            raise ValueError("uncond: a dict of load_checkpoint arguments needs 'weights' (and usually 'checkout')")
        spec.setdefault("shape", shape)
        spec.setdefault("device", device)
        uncond = load_checkpoint(spec.pop("checkout", None), spec.pop("weights"), **spec)
    module = load_module(checkout, weights, factory=factory, kwargs=kwargs, strip_prefix=strip_prefix,
                         trust_pickle=trust_pickle, device=device)
    return CheckpointDenoiser(module, shape=shape, parametrization=parametrization, call=call, schedule=sched,
                              time=time, timestep_shape=timestep_shape, interpolation=interpolation,
                              label_mode=label_mode, num_classes=num_classes, sigma_data=sigma_data,
                              sigma_min=sigma_min, sigma_max=sigma_max, data_range=data_range, uncond=uncond,
                              device=device, dtype=dtype)
