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
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

EXAMPLES = """examples:
  gmmtheory report                              # the main job, writes out/report/report.md + figures
  gmmtheory entropy --preset two --d 1000 --process ou --t 0.5:6:12
  gmmtheory entropy --preset kclasses --K 10 --d 10000 --process edm --t 1:300:8 --json
  gmmtheory entropy --mixture my_mixture.npz --process vp --t 0.1:1:10 --csv
  gmmtheory rate --preset two --d 1000 --t 2:5:7 --wrt log_sigma
  gmmtheory landmarks --preset hierarchical --d 1000 --process edm --json
  gmmtheory logtime --dims 1:6:11 --out out/logtime
"""


# ------------------------------------------------------------------------------------------------- shared options
def parse_times(spec: str) -> np.ndarray:
    """'a:b:n' → n points from a to b; 'a,b,c' → those times; 'a' → one time."""
    try:
        if ":" in spec:
            lo, hi, n = spec.split(":")
            return np.linspace(float(lo), float(hi), int(n))
        return np.array([float(v) for v in spec.split(",")])
    except ValueError:
        raise argparse.ArgumentTypeError(f"--t must be 'start:stop:count' or 'a,b,c'; got {spec!r}") from None


def add_mixture_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("mixture")
    g.add_argument("--preset", default="two", choices=["two", "kclasses", "simplex", "hierarchical"],
                   help="preset mixture (default: two = Biroli et al.'s two Gaussians)")
    g.add_argument("--mixture", type=Path, help="a .json or .npz file with 'means', optional 'cov' and 'weights'")
    g.add_argument("--d", type=int, default=100, help="dimension (default 100)")
    g.add_argument("--K", type=int, default=4, help="number of classes for kclasses/simplex (default 4)")
    g.add_argument("--mu", type=float, default=1.0, help="per-coordinate mean scale μ̃ (default 1)")
    g.add_argument("--sigma", type=float, default=1.0, help="within-class standard deviation (default 1)")
    g.add_argument("--process", default="ou", help="ou, vp, ve, edm, flow, ddpm, sd15 (default ou)")


def load_mixture_file(path: Path):
    import gmmtheory as gt

    if not path.exists():
        raise SystemExit(f"error: --mixture file {path} does not exist")
    if path.suffix == ".npz":
        data = dict(np.load(path))
    elif path.suffix == ".json":
        data = json.loads(path.read_text())
    else:
        raise SystemExit(f"error: --mixture must be a .npz or .json file; got {path}")
    if "means" not in data:
        raise SystemExit(f"error: --mixture file {path} has no 'means' entry")
    return gt.GaussianMixture(data["means"], data.get("cov", 1.0), data.get("weights"))


def build_mixture(args: argparse.Namespace):
    import gmmtheory as gt

    if args.mixture is not None:
        return load_mixture_file(args.mixture)
    if args.preset == "two":
        return gt.two_gaussians(args.d, args.mu, args.sigma)
    if args.preset in ("kclasses", "simplex"):
        geometry = "orthogonal" if args.preset == "kclasses" else "simplex"
        return gt.k_classes(args.K, args.d, args.mu, args.sigma, geometry=geometry)
    return gt.hierarchical(2, 2, args.d, args.mu, args.mu / 4, args.sigma).mixture


def add_format_args(p: argparse.ArgumentParser) -> None:
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json", help="print JSON")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv", help="print CSV")
    p.set_defaults(format="table")


def emit_table(rows: list[dict], fmt: str, out=None) -> None:
    """Print rows as an aligned table, JSON or CSV."""
    out = out or sys.stdout
    if fmt == "json":
        json.dump(rows, out, indent=2, default=float)
        out.write("\n")
        return
    if fmt == "csv":
        w = csv.DictWriter(out, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
        return
    cols = list(rows[0])
    cells = [[f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    out.write("  ".join(c.rjust(w) for c, w in zip(cols, widths)) + "\n")
    for row in cells:
        out.write("  ".join(v.rjust(w) for v, w in zip(row, widths)) + "\n")


# ---------------------------------------------------------------------------------------------------- subcommands
def cmd_entropy(args: argparse.Namespace) -> int:
    import gmmtheory as gt

    mixture = build_mixture(args)
    process = gt.get_process(args.process)
    t = args.t
    kw = dict(method=args.method, n_samples=args.n_samples, key=args.seed)
    H = gt.class_entropy(mixture, process, t, **kw)
    phi = gt.collision_probability(mixture, process, t, **kw)
    pe = gt.bayes_error(mixture, process, t, **kw)
    rows = [
        {"t": float(ti), "H": float(h), "H_stderr": float(hs), "I": float(mixture.entropy_of_labels() - h),
         "phi": float(p), "bayes_error": float(e)}
        for ti, h, hs, p, e in zip(np.atleast_1d(t), np.atleast_1d(H.value), np.atleast_1d(H.stderr),
                                   np.atleast_1d(phi.value), np.atleast_1d(pe.value))
    ]
    if args.format == "table":
        print(f"# {mixture!r}, process {process!r}, method {H.method}, H[Z] = {mixture.entropy_of_labels():.6f} nats")
    emit_table(rows, args.format)
    if args.out is not None:
        curve_figure(H.t, H.value, H.stderr, f"{process.name} time t", "H[Z | X_t]  (nats)", args.out, "entropy")
    return 0


def cmd_rate(args: argparse.Namespace) -> int:
    import gmmtheory as gt

    mixture = build_mixture(args)
    process = gt.get_process(args.process)
    t = args.t
    res = gt.entropy_rate(mixture, process, t, wrt=args.wrt, method=args.method, n_samples=args.n_samples,
                          key=args.seed)
    rows = [{"t": float(ti), f"dH/d{args.wrt}": float(v), "stderr": float(e)}
            for ti, v, e in zip(np.atleast_1d(t), np.atleast_1d(res.value), np.atleast_1d(res.stderr))]
    if args.format == "table":
        print(f"# {mixture!r}, process {process!r}, method {res.method}")
    emit_table(rows, args.format)
    if args.out is not None:
        curve_figure(res.t, res.value, res.stderr, f"{process.name} time t", f"dH/d{args.wrt}", args.out, "rate")
    return 0


def cmd_landmarks(args: argparse.Namespace) -> int:
    import gmmtheory as gt

    partitions = None
    if args.mixture is None and args.preset == "hierarchical":
        h = gt.hierarchical(2, 2, args.d, args.mu, args.mu / 4, args.sigma)
        mixture, partitions = h.mixture, {"coarse": h.coarse}
    else:
        mixture = build_mixture(args)
    process = gt.get_process(args.process)
    lm = gt.all_landmarks(mixture, process, partitions=partitions, n_samples=args.n_samples, key=args.seed)
    flat = {k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v) for k, v in lm.as_dict().items()}
    if args.format == "table":
        print(f"# {mixture!r}, process {process!r}")
        emit_table([{"landmark": k, "value": v} for k, v in flat.items()], "table")
    elif args.format == "json":
        print(json.dumps(flat, indent=2, default=float))
    else:
        emit_table([flat], "csv")
    return 0


def cmd_logtime(args: argparse.Namespace) -> int:
    import gmmtheory as gt

    lo, hi, n = args.dims.split(":")
    dims = np.logspace(float(lo), float(hi), int(n))
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    table = gt.logtime_study(dims, args.mu, models=models)
    if args.format == "table":
        print(table.to_markdown())
    else:
        emit_table(table.rows(), args.format)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "logtime.csv", "w", newline="") as fh:
            emit_table(table.rows(), "csv", fh)
        _logtime_figure(table, args.out)
    return 0


def curve_figure(t, value, stderr, xlabel: str, ylabel: str, out: Path, stem: str) -> None:
    """One curve with a ±2 stderr band, written as out/stem.png and .pdf."""
    from gmmtheory import plotting

    with plotting.style():
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        t, v, e = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (t, value, stderr))
        ax.plot(t, v, "o-", ms=3)
        ax.fill_between(t, v - 2 * e, v + 2 * e, alpha=0.25, label="± 2 stderr")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        plotting.save(fig, out, stem)


def _logtime_figure(table, out: Path) -> None:
    from gmmtheory import plotting

    with plotting.style():
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        for (model, level) in sorted({(r["model"], r["level"]) for r in table.rows()}):
            sel = table.select(model, level)
            ax.plot(sel["d"], sel["rel_width_ou"], "o-", label=f"{model}/{level}: OU t")
            ax.plot(sel["d"], sel["rel_width_edm"], "s--", label=f"{model}/{level}: EDM σ")
        ax.set_xscale("log")
        ax.set_xlabel("dimension d")
        ax.set_ylabel("window width / location")
        ax.legend()
        plotting.save(fig, out, "logtime")


def cmd_report(args: argparse.Namespace) -> int:
    from gmmtheory.report import write_report

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
    p.add_argument("--t", type=parse_times, default=np.linspace(0.1, 5.0, 12),
                   help="times: 'start:stop:count' or 'a,b,c' (default 0.1:5:12)")
    p.add_argument("--method", default="auto", choices=list(methods))
    p.add_argument("--n-samples", type=int, default=None, help="Monte Carlo draws (default per method)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    p.add_argument("--out", type=Path, help=f"also write the curve as {stem}.png / {stem}.pdf into this directory")
    add_format_args(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gmmtheory",
        description="Exact semantic information (class-conditional entropy) in diffusion models of Gaussian mixtures.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = subcommand(sub, "entropy", "H[Z | X_t], I, φ and Bayes error over a time grid", cmd_entropy, mixture=True)
    add_curve_args(p, ("auto", "quadrature", "reduced", "montecarlo"), "entropy")

    p = subcommand(sub, "rate", "entropy rate dH/dτ over a time grid", cmd_rate, mixture=True)
    p.add_argument("--wrt", default="t", choices=["t", "log_sigma", "log_snr"], help="time variable τ (default t)")
    add_curve_args(p, ("auto", "closed_form", "denoiser_gap", "autodiff"), "rate")

    p = subcommand(sub, "landmarks", "speciation landmarks (t_S, bimodality, instability, entropy windows)",
                   cmd_landmarks, mixture=True)
    p.add_argument("--n-samples", type=int, default=None, help="Monte Carlo draws for non-exact curves")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    add_format_args(p)

    p = subcommand(sub, "logtime", "log-time concentration study: landmarks against d, OU vs EDM", cmd_logtime)
    p.add_argument("--dims", default="1:6:11", help="log10 range 'lo:hi:count' of d (default 1:6:11)")
    p.add_argument("--mu", type=float, default=1.0, help="per-coordinate mean μ̃ (default 1)")
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


def main(argv: Sequence[str] | None = None) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:  # bad input: a clear message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2

