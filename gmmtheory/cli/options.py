"""The options and the output every subcommand shares: one range syntax, one comma-list syntax, the mixture
options, the time grid, and one machine-readable envelope written as a table, JSON or CSV.

Conventions:
  ranges     ``parse_range``: 'a:b:n' → a + (b − a)·i/(n − 1), i = 0..n−1; 'a:b:n:log' → a·(b/a)^{i/(n−1)} (a, b > 0);
             'a,b,c' (those values) or 'a' (one value)
  lists      ``parse_list``: 'a,b,c' (numbers, integers or names; empty items skipped)
  times      ``parse_times``: default grid t = t(λ) at λ = 10, 9, …, −10 in the process's own time
             (``gmmtheory.schedules.default_times``)
  σ          always the EDM noise level σ = σ_t/a_t = e^{−λ/2}, λ = log(a_t²/σ_t²), whatever the process
  --json     one envelope {"meta": {...}, "columns": {...}, "rows": [...]} (``envelope``); non-finite numbers as null,
             counts as integers
  --csv      the same metadata as leading '# key: value' lines, then the header and the rows
  errors     bad input raises ``ValueError`` (``gmmtheory.cli.main`` prints one line 'error: ...', exit status 2)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from gmmtheory._version import __version__
from gmmtheory.atomic import ensure_writable_dir
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.mixture_io import load_mixture_file
from gmmtheory.presets import build_preset
from gmmtheory.processes import Process
from gmmtheory.schedules import time_grid

EXAMPLES = """examples:
  gmmtheory report                              # the main job, writes out/report/report.md + figures
  gmmtheory entropy --preset two --d 1000 --process ou --t 0.5:6:12
  gmmtheory entropy --preset kclasses --K 10 --d 10000 --process edm --t 1:300:8:log --json
  gmmtheory entropy --mixture my_mixture.npz --process vp --csv          # default grid: λ = 10 … −10
  gmmtheory rate --preset two --d 1000 --t 2:5:7 --wrt log_sigma
  gmmtheory landmarks --preset hierarchical --d 1000 --process edm --json
  gmmtheory logtime --dims 1:6:11 --out out/logtime
"""

SIGMA_DEFINITION = ("σ = σ_t/a_t = e^{−λ/2}, the EDM noise level (λ = log SNR = log(a_t²/σ_t²)), the same in every "
                    "process")
EXACT_METHODS = frozenset({"quadrature", "closed_form", "exact"})
RANGE_SYNTAX = "'a:b:n' (n ≥ 2 points from a to b), 'a:b:n:log' (geometric, a, b > 0), 'a,b,c' or 'a'"
COUNT_FIELDS = frozenset({"d", "K", "n_samples", "n_boot", "steps", "n_steps", "N", "n_points", "n_grid", "n"})
CLI_PRESETS = ("two", "kclasses", "simplex", "hierarchical")  # the entries of presets.PRESETS that --preset offers
MIXTURE_DEFAULTS: dict[str, Any] = {"preset": "two", "d": 100, "K": 4, "mu": 1.0, "sigma": 1.0}



class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: 'PROG: error: MESSAGE (see PROG --help)' on stderr, exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def subcommand(sub, name: str, help: str, func: Callable[[argparse.Namespace], int], mixture: bool = False
               ) -> argparse.ArgumentParser:
    """A subcommand with the shared examples epilog (and the mixture options when ``mixture``)."""
    p = sub.add_parser(name, help=help, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    if mixture:
        add_mixture_args(p)
    p.set_defaults(func=func)
    return p


# ------------------------------------------------------------------------------------------------ ranges, lists
def parse_range(spec: str, name: str, *, allow_log: bool = True) -> np.ndarray:
    """The one range syntax of every option that takes a range (``name``: the option, for the error message).

    'a:b:n' → n ≥ 2 points a + (b − a)·i/(n − 1), i = 0..n−1; 'a:b:n:log' → n points a·(b/a)^{i/(n−1)} (needs
    a, b > 0; refused where ``allow_log`` is False); 'a,b,c' → those values; 'a' → one value. Every value must be
    finite. Raises ``ValueError`` naming ``name``, what was wrong and what is allowed.
    """
    s = str(spec).strip()
    parts = s.split(":")
    syntax = RANGE_SYNTAX if allow_log else RANGE_SYNTAX.replace(", 'a:b:n:log' (geometric, a, b > 0)", "")
    bad = f"{name} must be {syntax}; got {spec!r}"
    if len(parts) == 1:
        try:
            vals = np.array([float(v) for v in s.split(",")], dtype=np.float64)
        except ValueError:
            raise ValueError(bad) from None
    elif len(parts) in (3, 4):
        try:
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(bad) from None
        if n < 2:
            raise ValueError(f"{name}: the count n in 'a:b:n' must be an integer ≥ 2 (one value: 'a'); got {spec!r}")
        if len(parts) == 4:
            if parts[3] != "log":
                raise ValueError(bad)
            if not allow_log:
                raise ValueError(f"{name} takes no ':log' (its values are already log-spaced); got {spec!r}")
            if not (lo > 0 and hi > 0):
                raise ValueError(f"{name}: 'a:b:n:log' needs a > 0 and b > 0; got {spec!r}")
            vals = np.geomspace(lo, hi, n)
        else:
            vals = np.linspace(lo, hi, n)
    else:
        raise ValueError(bad)
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} must hold finite numbers; got {spec!r}")
    return vals


def parse_list(spec: str, name: str, kind: type = float, *, nonempty: bool = False) -> tuple:
    """The one comma-list syntax: 'a,b,c' → (a, b, c), each item stripped and converted with ``kind`` (float, int, or
    str for a list of names); empty items are skipped. Raises ``ValueError`` naming ``name`` for an item that is not
    a ``kind`` (and for no item at all where ``nonempty``)."""
    what = {int: "integers", str: "names"}.get(kind, "numbers")
    try:
        vals = tuple(kind(v.strip()) for v in str(spec).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{name} must be a comma list of {what}; got {spec!r}") from None
    if nonempty and not vals:
        raise ValueError(f"{name} must hold at least one value; got {spec!r}")
    return vals


def list_type(name: str, kind: type = float, *, nonempty: bool = False) -> Callable[[str], tuple]:
    """``parse_list`` as an argparse ``type=``: its ValueError becomes an ``argparse.ArgumentTypeError`` (whose
    message argparse prints as is)."""
    def parse(spec: str) -> tuple:
        try:
            return parse_list(spec, name, kind, nonempty=nonempty)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


# ------------------------------------------------------------------------------------------------------ times
def parse_times(spec: str | None, process: Process, name: str = "--t") -> np.ndarray:
    """The times of a --t option: ``spec`` parsed with ``parse_range`` (None: ``schedules.default_times(process)``, the
    log-SNRs λ = 10 … −10 mapped into the process's time), checked against the process (errors name ``name``)."""
    return time_grid(process, None if spec is None else parse_range(spec, name), name)


def time_description(process: Process) -> str:
    """What the time t of ``process`` is, in words (the time variable and its units)."""
    kind = type(process).__name__
    if kind == "OU":
        return "OU time t (dimensionless): a_t = e^{−t}, σ_t² = 1 − e^{−2t}"
    if kind == "VP":
        return "VP time t ∈ [0, 1] (dimensionless, linear β schedule): a_t² + σ_t² = 1"
    if kind == "VE":
        return "VE time t = σ_t² (variance of the added noise): a_t = 1"
    if kind == "EDM":
        return f"EDM time t = σ_t (noise standard deviation, data scaled by σ_data = {process.sigma_data:g})"
    if kind == "Flow":
        return "flow time t ∈ [0, 1] (dimensionless): a_t = 1 − t, σ_t = t"
    if kind == "DiscreteVP":
        return (f"step index t ∈ [0, {process.t_max:g}] of {process.label!r} (real-valued; λ interpolated between "
                "steps): a_t² + σ_t² = 1")
    return f"{process.name} time t"


def half_entropy_time(t: np.ndarray, H: np.ndarray, h_prior: float) -> float:
    """The first time of the grid's curve where H crosses ½ H[Z] (linear interpolation between grid points);
    nan when it does not cross on the grid."""
    t, y = np.asarray(t, float), np.asarray(H, float) - 0.5 * h_prior
    for i in range(len(t) - 1):
        if y[i] == 0:
            return float(t[i])
        if y[i] * y[i + 1] < 0:
            return float(t[i] + (t[i + 1] - t[i]) * y[i] / (y[i] - y[i + 1]))
    return float(t[-1]) if len(y) and y[-1] == 0 else float("nan")


# ---------------------------------------------------------------------------------------------------- mixture
def add_mixture_args(p: argparse.ArgumentParser) -> None:
    """Mixture options. Defaults are None so that an option that would not act can be refused
    (``resolve_mixture_args``); the documented defaults are ``MIXTURE_DEFAULTS``."""
    g = p.add_argument_group("mixture")
    g.add_argument("--preset", default=None, choices=list(CLI_PRESETS),
                   help="preset mixture (default: two = Biroli et al.'s two Gaussians)")
    g.add_argument("--mixture", type=Path, help="a .json or .npz file with 'means', optional 'cov' and 'weights' "
                                                "(not with the preset options)")
    g.add_argument("--d", type=int, default=None, help="dimension (default 100)")
    g.add_argument("--K", type=int, default=None, help="number of classes for kclasses/simplex (default 4)")
    g.add_argument("--mu", type=float, default=None, help="per-coordinate mean scale μ̃ (default 1)")
    g.add_argument("--sigma", type=float, default=None, help="within-class standard deviation (default 1)")
    g.add_argument("--process", default="ou", help="ou, vp, ve, edm, flow, ddpm, sd15 (default ou)")


def resolve_mixture_args(args: argparse.Namespace) -> None:
    """Check the mixture options against each other and fill in ``MIXTURE_DEFAULTS`` (in place, idempotent).

    Refused (ValueError naming the option): a preset option (--preset/--d/--K/--mu/--sigma) together with
    --mixture (the file gives the whole mixture), --K with a preset whose class count is fixed, --K < 2, --d < 1,
    a --mixture path that is not a file."""
    if getattr(args, "_mixture_resolved", False):
        return
    names = ("preset", "d", "K", "mu", "sigma")
    given = [n for n in names if getattr(args, n, None) is not None]
    if args.mixture is not None:
        if given:
            opts = ", ".join(f"--{n}" for n in given)
            raise ValueError(f"--mixture gives the whole mixture, so {opts} would not act; drop {opts} or --mixture")
        if not Path(args.mixture).is_file():
            raise ValueError(f"--mixture file {args.mixture} does not exist (or is not a file)")
    else:
        preset = args.preset or MIXTURE_DEFAULTS["preset"]
        if args.K is not None and preset not in ("kclasses", "simplex"):
            raise ValueError(f"--K applies to --preset kclasses or simplex only; --preset {preset} fixes its classes")
        for n in names:
            if getattr(args, n, None) is None:
                setattr(args, n, MIXTURE_DEFAULTS[n])
        if preset in ("kclasses", "simplex") and args.K < 2:
            raise ValueError(f"--K must be an integer ≥ 2 (a single class carries no class information, H[Z] = 0); "
                             f"got {args.K}")
        if args.d < 1:
            raise ValueError(f"--d must be an integer ≥ 1; got {args.d}")
    args._mixture_resolved = True


def read_mixture(path: Path) -> GaussianMixture:
    """The mixture of a --mixture file (``gmmtheory.mixture_io.load_mixture_file``: its ValueError names the file)."""
    return load_mixture_file(path)


def mixture_and_partitions(args: argparse.Namespace) -> tuple[GaussianMixture, dict[str, Partition] | None]:
    """The mixture of the options (``presets.build_preset`` or a --mixture file), and its named partitions
    ({"coarse": ...} for the hierarchical preset, else None)."""
    resolve_mixture_args(args)
    if args.mixture is not None:
        return read_mixture(args.mixture), None
    params = {"d": args.d, "mu": args.mu, "sigma": args.sigma}
    if args.preset in ("kclasses", "simplex"):
        params["K"] = args.K
    preset = build_preset(args.preset, **params)
    if args.preset == "hierarchical":
        return preset.mixture, {"coarse": preset.partitions["coarse"]}
    return preset.mixture, None


def build_mixture(args: argparse.Namespace) -> GaussianMixture:
    """The mixture of the options (``mixture_and_partitions`` without the partitions)."""
    return mixture_and_partitions(args)[0]


# ----------------------------------------------------------------------------------------------------- output
def prepare_out(path: Path | None, option: str = "--out") -> Path | None:
    """Check an output directory before any computation: create it (with parents) and write a probe file in it.
    Raises ValueError naming ``option`` when it is an existing file or cannot be created or written."""
    return None if path is None else ensure_writable_dir(path, option)


def add_format_args(p: argparse.ArgumentParser) -> None:
    """--json / --csv (mutually exclusive; default: an aligned table), stored as ``args.format``."""
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json",
                     help="print JSON: {meta, columns, rows}; non-finite numbers as null")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv",
                     help="print CSV: '# key: value' metadata lines, then the header and the rows")
    p.set_defaults(format="table")


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy/jax scalars and arrays turned into Python numbers and lists, non-finite floats into None
    (strict JSON has no NaN/Infinity), −0.0 into 0.0, integers kept as integers, tuples as lists."""
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v + 0.0 if math.isfinite(v) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "__array__"):
        return jsonable(np.asarray(obj).tolist())
    return str(obj)


def tidy_row(row: dict) -> dict:
    """A row with numpy scalars as Python numbers and integral counts (``COUNT_FIELDS``) as ints."""
    out = {}
    for k, v in row.items():
        if isinstance(v, np.generic):
            v = v.item()
        if k in COUNT_FIELDS and isinstance(v, float) and math.isfinite(v) and v.is_integer():
            v = int(v)
        out[k] = v
    return out


def envelope(command: str, meta: dict, rows: list[dict], columns: dict | None = None, **extra: Any) -> dict:
    """The machine-readable result of every subcommand: {"meta": {gmmtheory, command, ...}, "columns": {name:
    meaning}, "rows": [...], **extra}, JSON-ready (``jsonable``)."""
    head = {"gmmtheory": __version__, "command": command, **meta}
    return jsonable({"meta": head, "columns": dict(columns or {}), "rows": [tidy_row(r) for r in rows], **extra})


def meta_text(v: Any) -> str:
    """A metadata value as one line of text (strings as they are, anything else as strict JSON)."""
    text = v if isinstance(v, str) else json.dumps(v, allow_nan=False)
    return " ".join(str(text).split("\n"))


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v + 0.0:.6g}"
    return str(v)


def write_output(env: dict, fmt: str, out: IO[str] | None = None, table_rows: list[dict] | None = None) -> None:
    """Write an ``envelope`` as JSON, as CSV ('# key: value' metadata lines, '# column NAME: meaning' lines, then
    the header and the rows; non-finite numbers as empty cells) or as an aligned table (the metadata lines, then
    ``table_rows`` or the rows)."""
    out = out or sys.stdout
    if fmt == "json":
        out.write(json.dumps(env, indent=2, allow_nan=False) + "\n")
        return
    for k, v in env["meta"].items():
        out.write(f"# {k}: {meta_text(v)}\n")
    if fmt == "csv":
        for k, v in env["columns"].items():
            out.write(f"# column {k}: {meta_text(v)}\n")
    rows = env["rows"] if table_rows is None or fmt == "csv" else [tidy_row(r) for r in table_rows]
    if not rows:
        return
    if fmt == "csv":
        w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows([{k: ("" if v is None else v) for k, v in r.items()} for r in rows])
        return
    cols = list(rows[0])
    cells = [[_cell(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    out.write("  ".join(c.rjust(w) for c, w in zip(cols, widths)) + "\n")
    for row in cells:
        out.write("  ".join(v.rjust(w) for v, w in zip(row, widths)) + "\n")


def emit(command: str, meta: dict, rows: list[dict], columns: dict | None, fmt: str, out_dir: Path | None = None,
         stem: str | None = None, table_rows: list[dict] | None = None, **extra: Any) -> dict:
    """Print the result (``write_output``) and, with ``out_dir``, also write it as stem.json and stem.csv there."""
    if not rows:
        raise ValueError(f"{command}: nothing to report (no rows); check the ranges given")
    env = envelope(command, meta, rows, columns, **extra)
    write_output(env, fmt, table_rows=rows if table_rows is None else table_rows)
    if out_dir is not None and stem is not None:
        with open(out_dir / f"{stem}.json", "w") as fh:
            write_output(env, "json", fh)
        with open(out_dir / f"{stem}.csv", "w", newline="") as fh:
            write_output(env, "csv", fh)
    return env
