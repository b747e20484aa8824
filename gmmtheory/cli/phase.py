"""``gmmtheory phase``: a phase diagram from the command line — one or two parameter axes × t, printed as one row per
parameter cell (coordinates, H[Z_P] per level, every landmark) in the shared table / JSON / CSV output, with
``--out`` also phase.npz (``PhaseDiagram.save``) and the default figure (``gmmtheory.report.phase.figure``).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np

from gmmtheory.cli.options import (
    RANGE_SYNTAX,
    SIGMA_DEFINITION,
    add_format_args,
    emit,
    parse_range,
    prepare_out,
    time_description,
)
from gmmtheory.distributed import distributed_run
from gmmtheory.phase.diagram import PhaseDiagram
from gmmtheory.phase.params import DEFAULTS, MODEL_PARAMS, MODELS, PARAMS, infer_model
from gmmtheory.phase.sweep import phase_diagram
from gmmtheory.processes import check_process
from gmmtheory.report.phase import figure

__all__ = ["add_parser", "cmd_phase"]


def _parse_values(spec: str, name: str) -> np.ndarray:
    """'a:b:n' linear, 'a:b:n:log' geometric, 'a,b,c' or 'a' (``cli.options.parse_range``; ValueError naming
    ``name`` otherwise)."""
    return parse_range(spec, name)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gmmtheory phase`` on an argparse subparsers object."""
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
    p.add_argument("--distributed", action="store_true",
                   help="one process of a multi-process run (jax.distributed): from JAX_COORDINATOR_ADDRESS, "
                        "JAX_NUM_PROCESSES, JAX_PROCESS_ID, else the cluster's auto-detection (SLURM); process 0 "
                        "alone prints and writes --out (see docs/distributed.md)")
    p.add_argument("--distributed-timeout", type=int, default=None, metavar="S",
                   help="seconds for all processes to join (default 300; GMMTHEORY_DISTRIBUTED_TIMEOUT)")
    p.set_defaults(func=cmd_phase)


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
    """Run ``gmmtheory phase``: check the options, sweep, print the rows, write phase.npz and the figure."""
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
    model = infer_model(set(axes), args.model)
    unused = sorted(set(given) - MODEL_PARAMS[model])
    if unused:
        raise ValueError(f"--{unused[0]} does not apply to model {model!r} (its parameters: "
                         f"{', '.join(sorted(MODEL_PARAMS[model]))}); drop it or choose --model")
    if args.distributed_timeout is not None and args.distributed_timeout < 1:
        raise ValueError(f"--distributed-timeout must be a positive number of seconds; got {args.distributed_timeout}")
    t = None if args.t is None else _parse_values(args.t, "--t")
    process = check_process(args.process)
    out_dir = prepare_out(args.out)
    if args.cache is not None:
        prepare_out(args.cache, "--cache")
    run = (distributed_run(timeout=args.distributed_timeout, detect=True) if args.distributed
           else contextlib.nullcontext())
    with run as info:
        if info is not None:
            print(f"gmmtheory phase: {info.describe()}", file=sys.stderr)
        pd = phase_diagram(axes, t, model=model, process=process, params=given,
                           quantities=tuple(q.strip() for q in args.quantities.split(",") if q.strip()),
                           n_samples=args.n_samples, key=args.seed, cache=args.cache,
                           progress=False if args.no_progress else None)
    if info is not None and info.process_index != 0:  # the same diagram on every process: process 0 reports it
        return 0
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
