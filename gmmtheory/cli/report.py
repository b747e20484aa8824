"""``gmmtheory report``: the main job, report.md and its figures written into --out (``report.writer.write_report``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from gmmtheory.cli.options import prepare_out, subcommand
from gmmtheory.report.writer import write_report


def cmd_report(args: argparse.Namespace) -> int:
    prepare_out(args.out)
    start = time.perf_counter()
    path = write_report(args.out, quick=args.quick)
    print(f"wrote {path} in {time.perf_counter() - start:.1f} s")
    return 0


def add_parser(sub) -> None:
    """Register ``gmmtheory report [--out DIR] [--quick]``."""
    p = subcommand(sub, "report", "the main job: report.md + figures", cmd_report)
    p.add_argument("--out", type=Path, default=Path("out/report"), help="output directory (default out/report)")
    p.add_argument("--quick", action="store_true", help="smaller grids (for smoke tests)")
