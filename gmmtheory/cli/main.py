"""The command-line parser and entry point: ``gmmtheory SUBCOMMAND ...`` (also ``python -m gmmtheory``).

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
import sys
from collections.abc import Sequence

import jax

from gmmtheory._version import __version__
from gmmtheory.cli import bridge, control, curves, guidance, phase, report
from gmmtheory.cli.options import EXAMPLES, Parser


def build_parser() -> argparse.ArgumentParser:
    """The ``gmmtheory`` parser with every subcommand family registered (each module's ``add_parser(sub)``)."""
    parser = Parser(
        prog="gmmtheory",
        description="Exact semantic information (class-conditional entropy) in diffusion models of Gaussian mixtures.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gmmtheory {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    curves.add_parser(sub)
    phase.add_parser(sub)
    guidance.add_parser(sub)
    control.add_parser(sub)
    bridge.add_parser(sub)
    report.add_parser(sub)
    return parser


def _fail(message: object) -> int:
    """Print one line 'error: MESSAGE' on stderr; exit status 2."""
    text = " ".join(str(message).split())
    print(f"error: {text.removeprefix('error: ')}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gmmtheory ARGV`` (float64 JAX); bad input: one line 'error: ...' on stderr and exit status 2."""
    jax.config.update("jax_enable_x64", True)
    parser = build_parser()
    args = parser.parse_args(argv)
    bridge = args.command == "bridge"
    try:  # the bridge commands check their optional dependencies first (one-line install hint)
        return int(args.func(args))
    except (ValueError, argparse.ArgumentTypeError) as exc:  # bad input: a clear message, no traceback
        return _fail(exc)
    except ImportError as exc:
        if bridge:
            return _fail(exc)
        raise
