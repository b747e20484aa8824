"""Shared command-line options for loading a user's own torch checkpoint (torch-free at import).

``add_checkpoint_arguments(parser, prefix="")`` adds ``--{prefix}checkout``, ``--{prefix}weights``, … (use
``prefix="uncond-"`` for a second, unconditional model); ``checkpoint_kwargs_from_args(args, prefix)`` turns them
into ``gmmtheory.bridge.models.load_checkpoint`` keyword arguments, and ``checkpoint_from_args(args, prefix,
uncond=...)`` loads the Denoiser (torch is imported then, through the lazy face ``gmmtheory.bridge``).

Trust boundary: ``--trust-pickle`` unpickles a whole module with ``torch.load(weights_only=False)``, which runs any
code the file contains (and the checkout's code is imported); a state dict with ``--factory`` is loaded with
``weights_only=True``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import gmmtheory.bridge as bridge  # the lazy face: importing it imports no torch

TRUST_HELP = ("unpickle WEIGHTS as a whole torch module (torch.load(weights_only=False)). Trust boundary: "
              "unpickling runs any code the file contains, and --checkout's code is imported; use only with files "
              "you trust")

TRUST_BOUNDARY = ("Trust boundary: --trust-pickle unpickles WEIGHTS with torch.load(weights_only=False), which runs "
                  "any code the file contains, and --checkout's code is imported: use it only with files and a "
                  "checkout you trust; a state dict with --factory is loaded with weights_only=True.")

_PARAMS = ("x0", "eps", "v", "edm")


def _dest(prefix: str, name: str) -> str:
    return (prefix + name).replace("-", "_")


def _shape(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive ints like 1,28,28, got {text!r}") from None
    if not out or any(v <= 0 for v in out):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive ints like 1,28,28, got {text!r}")
    return out


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH like -1,1, got {text!r}") from None
    return lo, hi


def add_checkpoint_arguments(parser: argparse.ArgumentParser, prefix: str = "", *, required: bool = True,
                             what: str | None = None) -> None:
    """Add the loader options, named ``--{prefix}NAME`` (attributes ``{prefix}NAME`` with '-' → '_'). ``what``
    starts the help of --{prefix}checkout / --{prefix}weights (default: "the unconditional model's " with a
    prefix, nothing without)."""
    o = f"--{prefix}"
    if what is None:
        what = "the unconditional model's " if prefix else ""
    parser.add_argument(f"{o}checkout", type=Path, default=None,
                        help=f"{what}code folder, put on sys.path during the load only (its code is imported)")
    parser.add_argument(f"{o}weights", type=Path, default=None, required=required,
                        help=f"{what}weights file: a state dict (with {o}factory) or a pickled module "
                             f"(with {o}trust-pickle)")
    parser.add_argument(f"{o}trust-pickle", action="store_true", help=TRUST_HELP)
    parser.add_argument(f"{o}factory", default=None,
                        help="'pkg.module:Class' or 'pkg.module:function' building the module; WEIGHTS is then a "
                             "state dict loaded with weights_only=True")
    parser.add_argument(f"{o}kwargs", default=None,
                        help='JSON keyword arguments of the factory; a value {"__factory__": "mod:Name", '
                             '"kwargs": {...}} is built first (nested constructor)')
    parser.add_argument(f"{o}strip-prefix", default="", help="prefix removed from every state-dict key")
    parser.add_argument(f"{o}call", default="forward", help="method of the module to call (default forward)")
    parser.add_argument(f"{o}parametrization", default="x0", choices=_PARAMS,
                        help="what the call returns: x0 (x̂_0), eps (ε̂), v (v̂) or edm (EDM-preconditioned: "
                             "net(x, σ, labels) returns D); default x0")
    parser.add_argument(f"{o}schedule", default="edm",
                        help="'edm' (continuous σ, default), 'linear:BETA_START,BETA_END,STEPS' (DDPM), "
                             "'alphabar:FILE' or 'betas:FILE'")
    parser.add_argument(f"{o}time", default="sigma", choices=["sigma", "log_sigma", "c_noise"],
                        help="continuous schedules: the time argument the net gets (σ, ln σ, ln σ / 4); default sigma")
    parser.add_argument(f"{o}timestep-shape", default="flat", choices=["flat", "column"],
                        help="discrete schedules: integer step t of shape (N,) (flat) or (N, 1) (column)")
    parser.add_argument(f"{o}interpolation", default="nearest", choices=["nearest", "step", "log_sigma"],
                        help="discrete schedules: σ between steps → nearest step, or the network output "
                             "interpolated linearly in the step index / in log σ; default nearest")
    parser.add_argument(f"{o}label-mode", default="none", choices=["index", "onehot", "none"],
                        help="labels passed as int64 indices, one-hot rows, or none (unconditional); default none")
    parser.add_argument(f"{o}num-classes", type=int, default=0, help="number of classes K (0: unconditional)")
    parser.add_argument(f"{o}shape", type=_shape, default=(1, 28, 28), help="per-sample shape (default 1,28,28)")
    parser.add_argument(f"{o}sigma-data", type=float, default=0.5, help="σ_data of the data (default 0.5)")
    parser.add_argument(f"{o}sigma-min", type=float, default=None, help="continuous: lowest σ (default 0.002)")
    parser.add_argument(f"{o}sigma-max", type=float, default=None, help="continuous: highest σ (default 80)")
    parser.add_argument(f"{o}data-range", type=_range, default=None,
                        help="the model's data range LOW,HIGH (e.g. -1,1): x_0 in the EDM frame is the model's data")


def checkpoint_kwargs_from_args(args: argparse.Namespace, prefix: str = "") -> dict[str, Any] | None:
    """The ``load_checkpoint`` keyword arguments (with ``checkout`` and ``weights``) or None without weights."""
    def get(name: str) -> Any:
        return getattr(args, _dest(prefix, name))

    if get("weights") is None:
        return None
    kwargs = get("kwargs")
    if kwargs is not None:
        try:
            kwargs = json.loads(kwargs)
        except json.JSONDecodeError as e:
            raise ValueError(f"--{prefix}kwargs: not valid JSON ({e.msg} at position {e.pos})") from None
    if get("factory") is not None and get("trust_pickle"):
        raise ValueError(f"--{prefix}trust-pickle: not needed with --{prefix}factory (the state dict is loaded "
                         f"weights-only); give one of them")
    return {"checkout": get("checkout"), "weights": get("weights"), "factory": get("factory"), "kwargs": kwargs,
            "strip_prefix": get("strip_prefix"), "trust_pickle": get("trust_pickle"), "call": get("call"),
            "parametrization": get("parametrization"), "schedule": get("schedule"), "time": get("time"),
            "timestep_shape": get("timestep_shape"), "interpolation": get("interpolation"),
            "label_mode": get("label_mode"), "num_classes": get("num_classes"), "shape": get("shape"),
            "sigma_data": get("sigma_data"), "sigma_min": get("sigma_min"), "sigma_max": get("sigma_max"),
            "data_range": get("data_range")}


def checkpoint_from_args(args: argparse.Namespace, prefix: str = "", *, uncond: Any = None,
                         device: str | None = None) -> Any:
    """Load the checkpoint named by the ``--{prefix}…`` options as a Denoiser (``uncond``: for label None)."""
    kw = checkpoint_kwargs_from_args(args, prefix)
    if kw is None:
        raise ValueError(f"--{prefix}weights: required (the checkpoint file to load)")
    if device is None:
        device = getattr(args, "device", None) or "cpu"
    return bridge.models.load_checkpoint(kw.pop("checkout"), kw.pop("weights"), uncond=uncond, device=device, **kw)
