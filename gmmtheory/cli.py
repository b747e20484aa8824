"""Command-line interface: ``gmmtheory SUBCOMMAND ...`` (also ``python -m gmmtheory``).

Subcommands:
  entropy    H[Z | X_t] (and I, φ, Bayes error) of a mixture over a time grid, as a table / JSON / CSV
  rate       dH/dt (or d/dlog σ, d/dλ) over a time grid
  landmarks  every speciation landmark of a mixture in a process's time
  logtime    the log-time concentration study (landmarks against d, OU vs EDM)
  phase      phase diagrams: H/H[Z], rate, φ, Bayes error over (parameter × time) grids
  guidance   how classifier-free / interval guidance moves the semantic window (exact-score samplers)
  control    guidance intervals and sampler σ schedules chosen from H[Z | X_t] (windows, fronts, schedules)
  bridge     measure H[Z | X_σ] in trained models (exact mixture, sklearn digits, SD1.5, EDM2) vs theory
  report     the main job: writes report.md and figures into --out (default ./out/report)

Conventions shared by every subcommand:
  ranges     one syntax for every option that takes a range (``parse_range``): 'a:b:n' (n points from a to b),
             'a:b:n:log' (geometric, a, b > 0), 'a,b,c' (those values) or 'a' (one value)
  times      default grid: the log-SNRs λ = 10, 9, …, −10 mapped into the process's own time, t = t(λ)
             (``default_times``), so every process (VP and flow live on [0, 1], DDPM/SD1.5 on step indices) gets
             the same noise levels, from nearly clean data to nearly pure noise
  σ          always the EDM noise level σ = σ_t/a_t = e^{−λ/2}, whatever the process
  --json     one envelope {"meta": {...}, "columns": {...}, "rows": [...]} (``envelope``); non-finite numbers are
             written as null, counts as integers
  --csv      the same metadata as leading '# key: value' lines, then the header and the rows
  errors     bad input: one line 'error: ...' on stderr and exit status 2, checked before any computation
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import IO, Any, Sequence

import numpy as np

from gmmtheory.atomic import ensure_writable_dir

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
DEFAULT_LOG_SNR = (10.0, -10.0, 21)  # λ from +10 (nearly clean) to −10 (nearly pure noise), step 1
EXACT_METHODS = frozenset({"quadrature", "closed_form", "exact"})
RANGE_SYNTAX = "'a:b:n' (n ≥ 2 points from a to b), 'a:b:n:log' (geometric, a, b > 0), 'a,b,c' or 'a'"
COUNT_FIELDS = frozenset({"d", "K", "n_samples", "n_boot", "steps", "n_steps", "N", "n_points", "n_grid", "n"})


def package_version() -> str:
    """gmmtheory's version: the installed distribution's (importlib.metadata), else ``gmmtheory.__version__``."""
    from importlib import metadata

    try:
        return metadata.version("gmmtheory")
    except metadata.PackageNotFoundError:
        import gmmtheory

        return str(getattr(gmmtheory, "__version__", "unknown"))


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: 'PROG: error: MESSAGE (see PROG --help)' on stderr, exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ------------------------------------------------------------------------------------------------- shared options
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


def default_times(process) -> np.ndarray:
    """The default time grid of ``process``: t = process.t_from_log_snr(λ) at λ = 10, 9, …, −10 (``DEFAULT_LOG_SNR``),
    increasing; times outside [t_min, t_max] or repeated (a discrete schedule clips λ to its table) are dropped."""
    import jax.numpy as jnp

    from gmmtheory.entropy.api import precision_scope

    lam = np.linspace(*DEFAULT_LOG_SNR[:2], DEFAULT_LOG_SNR[2])
    with precision_scope("float64"):
        t = np.asarray(process.t_from_log_snr(jnp.asarray(lam, dtype=jnp.float64)), np.float64)
    t = t[np.isfinite(t) & (t >= process.t_min) & (t <= process.t_max)]
    return np.unique(t)


def time_grid(spec: str | None, process, name: str = "--t") -> np.ndarray:
    """``spec`` parsed with ``parse_range`` (None: ``default_times(process)``), checked against the process."""
    t = default_times(process) if spec is None else parse_range(spec, name)
    return process.check_times(t, name)


def log_snr_of(process, t: np.ndarray) -> np.ndarray:
    """λ(t) = log(a_t²/σ_t²) in float64 (+inf where σ_t = 0)."""
    import jax.numpy as jnp

    from gmmtheory.entropy.api import precision_scope

    with precision_scope("float64"), np.errstate(divide="ignore"):
        return np.asarray(process.log_snr(jnp.asarray(np.atleast_1d(t), dtype=jnp.float64)), np.float64)


def time_description(process) -> str:
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


def time_label(process) -> str:
    """Axis label of the time of ``process``."""
    kind = type(process).__name__
    return {"OU": "OU time t", "VP": "VP time t", "VE": "VE time t = σ_t²", "EDM": "EDM time t = σ  (σ = σ_t/a_t)",
            "Flow": "flow time t", "DiscreteVP": "step index t"}.get(kind, f"{process.name} time t")


def add_mixture_args(p: argparse.ArgumentParser) -> None:
    """Mixture options. Defaults are None so that an option that would not act can be refused
    (``resolve_mixture_args``); the documented defaults are ``MIXTURE_DEFAULTS``."""
    g = p.add_argument_group("mixture")
    g.add_argument("--preset", default=None, choices=["two", "kclasses", "simplex", "hierarchical"],
                   help="preset mixture (default: two = Biroli et al.'s two Gaussians)")
    g.add_argument("--mixture", type=Path, help="a .json or .npz file with 'means', optional 'cov' and 'weights' "
                                                "(not with the preset options)")
    g.add_argument("--d", type=int, default=None, help="dimension (default 100)")
    g.add_argument("--K", type=int, default=None, help="number of classes for kclasses/simplex (default 4)")
    g.add_argument("--mu", type=float, default=None, help="per-coordinate mean scale μ̃ (default 1)")
    g.add_argument("--sigma", type=float, default=None, help="within-class standard deviation (default 1)")
    g.add_argument("--process", default="ou", help="ou, vp, ve, edm, flow, ddpm, sd15 (default ou)")


MIXTURE_DEFAULTS: dict[str, Any] = {"preset": "two", "d": 100, "K": 4, "mu": 1.0, "sigma": 1.0}


def load_mixture_file(path: Path):
    """``gmmtheory.mixture_io.load_mixture_file``: a ValueError naming the file for anything but a mixture file."""
    from gmmtheory.mixture_io import load_mixture_file as load

    return load(path)


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


def read_mixture(path: Path):
    """``load_mixture_file`` with every failure turned into one ``ValueError`` that names the file."""
    import zipfile

    try:
        return load_mixture_file(path)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--mixture file {path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
                         ) from None
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if str(path) in msg else f"--mixture file {path}: {msg}") from None
    except (OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ValueError(f"--mixture file {path} could not be read: {exc}") from None
    except SystemExit as exc:
        if isinstance(exc.code, str):
            raise ValueError(exc.code.removeprefix("error: ")) from None
        raise


def mixture_and_partitions(args: argparse.Namespace):
    """The mixture of the options, and its named partitions ({"coarse": ...} for the hierarchical preset, else None)."""
    import gmmtheory as gt

    resolve_mixture_args(args)
    if args.mixture is not None:
        return read_mixture(args.mixture), None
    if args.preset == "two":
        return gt.two_gaussians(args.d, args.mu, args.sigma), None
    if args.preset in ("kclasses", "simplex"):
        geometry = "orthogonal" if args.preset == "kclasses" else "simplex"
        return gt.k_classes(args.K, args.d, args.mu, args.sigma, geometry=geometry), None
    h = gt.hierarchical(2, 2, args.d, args.mu, args.mu / 4, args.sigma)
    return h.mixture, {"coarse": h.coarse}


def build_mixture(args: argparse.Namespace):
    """The mixture of the options (``mixture_and_partitions`` without the partitions)."""
    return mixture_and_partitions(args)[0]


def prepare_out(path: Path | None, option: str = "--out") -> Path | None:
    """Check an output directory before any computation: create it (with parents) and write a probe file in it.
    Raises ValueError naming ``option`` when it is an existing file or cannot be created or written."""
    return None if path is None else ensure_writable_dir(path, option)


def add_format_args(p: argparse.ArgumentParser) -> None:
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json",
                     help="print JSON: {meta, columns, rows}; non-finite numbers as null")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv",
                     help="print CSV: '# key: value' metadata lines, then the header and the rows")
    p.set_defaults(format="table")


# ----------------------------------------------------------------------------------------------------- output
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
    head = {"gmmtheory": package_version(), "command": command, **meta}
    return jsonable({"meta": head, "columns": dict(columns or {}), "rows": [tidy_row(r) for r in rows], **extra})


def _meta_text(v: Any) -> str:
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
        out.write(f"# {k}: {_meta_text(v)}\n")
    if fmt == "csv":
        for k, v in env["columns"].items():
            out.write(f"# column {k}: {_meta_text(v)}\n")
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


# ---------------------------------------------------------------------------------------------------- subcommands
def _seed(args: argparse.Namespace) -> int:
    return 0 if args.seed is None else int(args.seed)


def _check_mc_options(args: argparse.Namespace, exact: tuple[str, ...]) -> None:
    """--n-samples / --seed only act for Monte Carlo methods: refused with an explicitly exact --method."""
    if args.method in exact:
        given = [o for o, v in (("--n-samples", args.n_samples), ("--seed", args.seed)) if v is not None]
        if given:
            raise ValueError(f"{' and '.join(given)} apply to Monte Carlo methods only; --method {args.method} is "
                             "exact (drop them or use --method auto/montecarlo)")


def _curve_meta(mixture, process, result, args: argparse.Namespace) -> dict:
    mc = result.method not in EXACT_METHODS
    return {"mixture": repr(mixture), "K": mixture.K, "d": mixture.d, "process": repr(process),
            "method": result.method, "draws": int(result.n_samples) if mc else None, "key": _seed(args) if mc else None,
            "time_variable": "t", "time_units": time_description(process), "sigma": SIGMA_DEFINITION,
            "H_Z": float(mixture.entropy_of_labels()) + 0.0, "H_units": "nats"}


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


def cmd_entropy(args: argparse.Namespace) -> int:
    import gmmtheory as gt

    process = gt.get_process(args.process)
    t = time_grid(args.t, process)
    _check_mc_options(args, ("quadrature",))
    mixture = build_mixture(args)
    out_dir = prepare_out(args.out)
    kw = dict(method=args.method, n_samples=args.n_samples, key=_seed(args))
    H = gt.class_entropy(mixture, process, t, **kw)
    phi = gt.collision_probability(mixture, process, t, **kw)
    pe = gt.bayes_error(mixture, process, t, **kw)
    hz = float(mixture.entropy_of_labels()) + 0.0
    lam = log_snr_of(process, t)
    h, hs = np.atleast_1d(H.value), np.atleast_1d(H.stderr)
    rows = [{"t": float(ti), "log_snr": float(li), "sigma": float(np.exp(-li / 2)), "H": float(a), "H_stderr": float(b),
             "I": hz - float(a), "I_stderr": float(b), "phi": float(p), "phi_stderr": float(ps),
             "bayes_error": float(e), "bayes_error_stderr": float(es)}
            for ti, li, a, b, p, ps, e, es in zip(t, lam, h, hs, np.atleast_1d(phi.value), np.atleast_1d(phi.stderr),
                                                  np.atleast_1d(pe.value), np.atleast_1d(pe.stderr))]
    columns = {"t": time_description(process), "log_snr": "λ = log(a_t²/σ_t²)", "sigma": SIGMA_DEFINITION,
               "H": "H[Z | X_t] (nats)", "H_stderr": "Monte Carlo standard error of H (0: exact)",
               "I": "I(Z; X_t) = H[Z] − H[Z | X_t] (nats)", "I_stderr": "standard error of I (= that of H)",
               "phi": "collision probability φ = E Σ_k p_t(k|x)²", "phi_stderr": "standard error of φ",
               "bayes_error": "Bayes error 1 − E max_k p_t(k|x)", "bayes_error_stderr": "standard error of it"}
    meta = _curve_meta(mixture, process, H, args)
    meta["methods"] = {"H": H.method, "phi": phi.method, "bayes_error": pe.method}
    emit("entropy", meta, rows, columns, args.format)
    if out_dir is not None:
        curve_figure(process, t, h, hs, "H[Z | X_t]  (nats)", out_dir, "entropy",
                     marks=_marks(mixture, process, t, h, hz), hline=(hz, "H[Z]"))
    return 0


RATE_LABELS = {"t": "dH/dt  (nats per unit of the process's time t)",
               "log_sigma": "dH/d log σ  (σ = σ_t/a_t; nats)",
               "log_snr": "dH/dλ  (λ = log SNR = log(a_t²/σ_t²); nats)"}


def cmd_rate(args: argparse.Namespace) -> int:
    import gmmtheory as gt

    process = gt.get_process(args.process)
    t = time_grid(args.t, process)
    _check_mc_options(args, ("closed_form",))
    mixture = build_mixture(args)
    out_dir = prepare_out(args.out)
    res = gt.entropy_rate(mixture, process, t, wrt=args.wrt, method=args.method, n_samples=args.n_samples,
                          key=_seed(args))
    lam = log_snr_of(process, t)
    name = f"dH/d{args.wrt}"
    v, e = np.atleast_1d(res.value), np.atleast_1d(res.stderr)
    rows = [{"t": float(ti), "log_snr": float(li), "sigma": float(np.exp(-li / 2)), name: float(a), "stderr": float(b)}
            for ti, li, a, b in zip(t, lam, v, e)]
    columns = {"t": time_description(process), "log_snr": "λ = log(a_t²/σ_t²)", "sigma": SIGMA_DEFINITION,
               name: {"t": f"dH/dt (nats per unit t), t: {time_description(process)}",
                      "log_sigma": f"dH/d log σ (nats), {SIGMA_DEFINITION}",
                      "log_snr": "dH/dλ (nats), λ = log(a_t²/σ_t²)"}[args.wrt],
               "stderr": f"Monte Carlo standard error of {name} (0: exact)"}
    meta = _curve_meta(mixture, process, res, args)
    meta["wrt"] = args.wrt
    emit("rate", meta, rows, columns, args.format)
    if out_dir is not None:
        H = gt.class_entropy(mixture, process, t, n_samples=args.n_samples, key=_seed(args))
        curve_figure(process, t, v, e, RATE_LABELS[args.wrt], out_dir, "rate",
                     marks=_marks(mixture, process, t, np.atleast_1d(H.value), float(mixture.entropy_of_labels())))
    return 0


def landmark_meaning(key: str, process) -> str:
    """What a landmark field (``Landmarks.as_dict`` key) is, with its time variable."""
    level, _, base = key.rpartition(".")
    where = f" (level {level})" if level else ""
    fixed = {"process": "the process", "K": "number of classes", "d": "dimension",
             "top_eigenvalue": "Λ, top eigenvalue of the data covariance",
             "t_speciation": "t_S = ½ log Λ (OU), mapped at equal SNR", "t_bimodality": "bimodality time (s = 1)",
             "t_instability": "reverse-SDE instability time of the central point",
             "t_covariance_speciation": "covariance speciation time ¼ log(a² d)",
             "h_prior": "H[Z_P] (nats)", "method": "entropy method", "n_samples": "Monte Carlo draws (0: exact)",
             "grid_step_log_snr": "step of the λ grid of the curve"}
    if base in fixed:
        text = fixed[base] + (f", in t: {time_description(process)}" if base.startswith("t_") else "")
    else:
        err = base.endswith("_err")
        core = base[:-4] if err else base
        if "_log_sigma" in core:
            var = f"log σ, {SIGMA_DEFINITION}"
        elif "_log_snr" in core:
            var = "λ = log SNR"
        else:
            var = f"t: {time_description(process)}"
        text = (f"Monte Carlo standard error of {core}" if err else core) + f", in {var}"
    return text + where


def cmd_landmarks(args: argparse.Namespace) -> int:
    import gmmtheory as gt

    process = gt.get_process(args.process)
    mixture, partitions = mixture_and_partitions(args)
    lm = gt.all_landmarks(mixture, process, partitions=partitions, n_samples=args.n_samples, key=_seed(args))
    flat = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in lm.as_dict().items()}
    columns = {k: landmark_meaning(k, process) for k in flat}
    meta = {"mixture": repr(mixture), "K": mixture.K, "d": mixture.d, "process": repr(process),
            "method": "per level: see '<level>.method'", "draws": args.n_samples, "key": _seed(args),
            "time_variable": "t", "time_units": time_description(process), "sigma": SIGMA_DEFINITION,
            "H_Z": float(mixture.entropy_of_labels()) + 0.0, "H_units": "nats"}
    emit("landmarks", meta, [flat], columns, args.format,
         table_rows=[{"landmark": k, "value": v, "meaning": columns[k]} for k, v in flat.items()])
    return 0


LOGTIME_MODELS = ("two_gaussians", "k_classes", "hierarchical", "covariance_only")


def cmd_logtime(args: argparse.Namespace) -> int:
    import gmmtheory as gt

    exponents = parse_range(args.dims, "--dims", allow_log=False)
    dims = 10.0**exponents
    if np.any(dims < 1):
        raise ValueError(f"--dims holds log10 d, so its values must be ≥ 0; got {args.dims!r}")
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    bad = [m for m in models if m not in LOGTIME_MODELS]
    if bad or not models:
        raise ValueError(f"--models must be a comma list of {', '.join(LOGTIME_MODELS)}; got {args.models!r}")
    if args.mu is not None and not {"two_gaussians", "k_classes"} & set(models):
        raise ValueError("--mu sets the means of two_gaussians and k_classes only, so it would not act with "
                         f"--models {args.models!r}; drop it")
    mu = 1.0 if args.mu is None else args.mu
    out_dir = prepare_out(args.out)
    table = gt.logtime_study(dims, mu, models=models, mc_dims=dims)
    rows = [tidy_row(r) for r in table.rows()]
    if not rows:
        raise ValueError(f"logtime: no rows for --dims {args.dims!r} and --models {args.models!r}")
    meta = {"models": list(models), "mu": mu, "dims": sorted({r["d"] for r in rows}),
            "method": "per model: exact quadrature (two Gaussians, covariance-only) or reduced Monte Carlo",
            "time_variable": "OU time t (t_S, t_pred, *_ou) and EDM σ (*_edm)",
            "time_units": f"{time_description(gt.OU())}; {time_description(gt.EDM())}", "sigma": SIGMA_DEFINITION}
    columns = {"d": "dimension", "t_S": "spectral speciation time ½ log Λ (OU t)",
               "t_pred": "predicted window time (OU t)",
               "peak_t_ou_err": "Monte Carlo standard error of peak_t_ou",
               "peak_log_sigma_edm": f"log σ of the peak of dH/d log σ, {SIGMA_DEFINITION}",
               "fwhm_log_sigma_edm": "FWHM of dH/d log σ, in log σ"}
    if args.format == "table":
        for k, v in envelope("logtime", meta, rows, columns)["meta"].items():
            print(f"# {k}: {_meta_text(v)}")
        print(table.to_markdown())
    else:
        emit("logtime", meta, rows, columns, args.format)
    if out_dir is not None:
        env = envelope("logtime", meta, rows, columns)
        with open(out_dir / "logtime.csv", "w", newline="") as fh:
            write_output(env, "csv", fh)
        _logtime_figure(table, out_dir)
    return 0


def _marks(mixture, process, t, H, h_prior: float) -> dict[str, float]:
    import gmmtheory as gt

    return {"t_S (spectral speciation)": float(gt.speciation_time(mixture, process)),
            "half-entropy time (H = ½ H[Z])": half_entropy_time(t, H, h_prior)}


def log_time_axis(process, t: np.ndarray) -> bool:
    """A log time axis for EDM (t = σ) and VE (t = σ²) — their natural scale — or any positive grid over > 2 decades."""
    t = np.asarray(t, float)
    if t.size == 0 or np.min(t) <= 0:
        return False
    return type(process).__name__ in ("EDM", "VE") or np.max(t) / np.min(t) > 100


def curve_figure(process, t, value, stderr, ylabel: str, out: Path, stem: str, *,
                 marks: dict[str, float] | None = None, hline: tuple[float, str] | None = None) -> list[Path]:
    """One curve with its ±2 stderr band (in the curve's colour), vertical lines at ``marks`` (name → time; nan or
    off-grid ones are listed as such in the legend), an optional horizontal reference line; written as
    out/stem.png and .pdf. The time axis is logarithmic for EDM/VE (``log_time_axis``)."""
    from gmmtheory import plotting

    with plotting.style():
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        t, v, e = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (t, value, stderr))
        line = ax.plot(t, v, "o-", ms=3, label=ylabel.split("  ")[0])[0]
        ax.fill_between(t, v - 2 * e, v + 2 * e, color=line.get_color(), alpha=0.25, lw=0, label="± 2 stderr")
        if hline is not None:
            ax.axhline(hline[0], color="0.4", lw=0.8, ls=":", label=f"{hline[1]} = {hline[0]:.4g}")
        for (name, x), style in zip((marks or {}).items(), ("--", "-.", ":")):
            if math.isfinite(x) and t.min() <= x <= t.max():
                ax.axvline(x, color="k", ls=style, lw=1, label=f"{name} = {x:.4g}")
            else:
                ax.plot([], [], " ", label=f"{name}: outside the grid")
        if log_time_axis(process, t):
            ax.set_xscale("log")
        ax.set_xlabel(time_label(process))
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
        return plotting.save(fig, out, stem)


def _logtime_figure(table, out: Path) -> None:
    from gmmtheory import plotting

    with plotting.style():
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        for (model, level) in sorted({(r["model"], r["level"]) for r in table.rows()}):
            sel = table.select(model, level)
            ax.plot(sel["d"], sel["rel_width_ou"], "o-", label=f"{model}/{level}: OU t")
            ax.plot(sel["d"], sel["rel_width_edm"], "s--", label=f"{model}/{level}: EDM σ (σ = σ_t/a_t)")
        ax.set_xscale("log")
        ax.set_xlabel("dimension d")
        ax.set_ylabel("FWHM of the rate / its peak location")
        ax.legend()
        plotting.save(fig, out, "logtime")


def cmd_report(args: argparse.Namespace) -> int:
    from gmmtheory.report import write_report

    prepare_out(args.out)
    start = time.perf_counter()
    path = write_report(args.out, quick=args.quick)
    print(f"wrote {path} in {time.perf_counter() - start:.1f} s")
    return 0


# ------------------------------------------------------------------------------------------------------- parser
def subcommand(sub, name: str, help: str, func, mixture: bool = False) -> argparse.ArgumentParser:
    """A subcommand with the shared examples epilog (and the mixture options when ``mixture``)."""
    p = sub.add_parser(name, help=help, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    if mixture:
        add_mixture_args(p)
    p.set_defaults(func=func)
    return p


def add_curve_args(p: argparse.ArgumentParser, methods: tuple[str, ...], stem: str) -> None:
    """Options shared by the curve subcommands: times, method, Monte Carlo size, seed, figures and format."""
    lo, hi, n = DEFAULT_LOG_SNR
    p.add_argument("--t", default=None,
                   help=f"times of the process: {RANGE_SYNTAX} (default: the {n} log-SNRs λ = {lo:g} … {hi:g} mapped "
                        "into the process's time)")
    p.add_argument("--method", default="auto", choices=list(methods))
    p.add_argument("--n-samples", type=int, default=None, help="Monte Carlo draws (default per method)")
    p.add_argument("--seed", type=int, default=None, help="PRNG seed of the Monte Carlo methods (default 0)")
    p.add_argument("--out", type=Path, help=f"also write the curve as {stem}.png / {stem}.pdf into this directory")
    add_format_args(p)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="gmmtheory",
        description="Exact semantic information (class-conditional entropy) in diffusion models of Gaussian mixtures.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gmmtheory {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = subcommand(sub, "entropy", "H[Z | X_t], I, φ and Bayes error over a time grid", cmd_entropy, mixture=True)
    add_curve_args(p, ("auto", "quadrature", "reduced", "montecarlo"), "entropy")

    p = subcommand(sub, "rate", "entropy rate dH/dτ over a time grid", cmd_rate, mixture=True)
    p.add_argument("--wrt", default="t", choices=["t", "log_sigma", "log_snr"],
                   help="time variable τ: t (the process's), log_sigma (log σ, σ = σ_t/a_t) or log_snr (λ) "
                        "(default t)")
    add_curve_args(p, ("auto", "closed_form", "denoiser_gap", "autodiff"), "rate")

    p = subcommand(sub, "landmarks", "speciation landmarks (t_S, bimodality, instability, entropy windows)",
                   cmd_landmarks, mixture=True)
    p.add_argument("--n-samples", type=int, default=None, help="Monte Carlo draws for non-exact curves")
    p.add_argument("--seed", type=int, default=None, help="PRNG seed of the Monte Carlo curves (default 0)")
    add_format_args(p)

    p = subcommand(sub, "logtime", "log-time concentration study: landmarks against d, OU vs EDM", cmd_logtime)
    p.add_argument("--dims", default="1:6:11",
                   help="log10 d: 'lo:hi:n' (n exponents, so d is log-spaced), 'a,b,c' or 'a' (default 1:6:11)")
    p.add_argument("--mu", type=float, default=None,
                   help="per-coordinate mean μ̃ of two_gaussians and k_classes (default 1)")
    p.add_argument("--models", default="two_gaussians",
                   help="comma list of two_gaussians,k_classes,hierarchical,covariance_only (default two_gaussians)")
    p.add_argument("--out", type=Path, help="also write logtime.csv and the figure (PNG, PDF) into this directory")
    add_format_args(p)

    from gmmtheory.guidance import add_parser as add_guidance_parser
    from gmmtheory.phase import add_parser as add_phase_parser

    from gmmtheory.bridge.cli import add_parser as add_bridge_parser
    from gmmtheory.control import add_parser as add_control_parser

    add_phase_parser(sub)
    add_guidance_parser(sub)
    add_control_parser(sub)
    add_bridge_parser(sub)

    p = subcommand(sub, "report", "the main job: report.md + figures", cmd_report)
    p.add_argument("--out", type=Path, default=Path("out/report"), help="output directory (default out/report)")
    p.add_argument("--quick", action="store_true", help="smaller grids (for smoke tests)")
    return parser


def _fail(message: object) -> int:
    """Print one line 'error: MESSAGE' on stderr; exit status 2."""
    text = " ".join(str(message).split())
    print(f"error: {text.removeprefix('error: ')}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    parser = build_parser()
    args = parser.parse_args(argv)
    bridge = args.command == "bridge"
    try:  # the bridge commands check their optional dependencies first (bridge.cli._require: one-line install hint)
        return int(args.func(args))
    except (ValueError, argparse.ArgumentTypeError) as exc:  # bad input: a clear message, no traceback
        return _fail(exc)
    except ImportError as exc:
        if bridge:
            return _fail(exc)
        raise
