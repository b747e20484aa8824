"""``gmmtheory report``: the main job, report.md and its figures written into --out (``report.writer.write_report``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from gmmtheory.cli.checkpoint_options import add_checkpoint_arguments, checkpoint_kwargs_from_args
from gmmtheory.cli.options import prepare_out, subcommand
from gmmtheory.report.writer import write_report

MODEL_OPTIONS = ("checkout", "trust_pickle", "factory", "kwargs")


def real_model_kwargs(args: argparse.Namespace) -> dict | None:
    """The ``load_checkpoint`` keyword arguments of ``--model-*`` (None without ``--model-weights``); a
    ``--model-checkout``/``--model-factory``/… without ``--model-weights`` is refused (ValueError)."""
    kw = checkpoint_kwargs_from_args(args, "model-")
    if kw is None:
        given = [f"--model-{o.replace('_', '-')}" for o in MODEL_OPTIONS if getattr(args, f"model_{o}")]
        if given:
            raise ValueError(f"--model-weights: required with {', '.join(given)} (the checkpoint file to load)")
        return None
    if not kw["weights"].is_file():
        raise ValueError(f"--model-weights: no such file: {kw['weights']}")
    if kw["checkout"] is not None and not kw["checkout"].is_dir():
        raise ValueError(f"--model-checkout: no such folder: {kw['checkout']}")
    if kw["num_classes"] < 2 or kw["label_mode"] == "none":
        raise ValueError("--model-num-classes (≥ 2) and --model-label-mode index|onehot: the real-model section needs "
                         f"a class-conditional model; got --model-num-classes {kw['num_classes']}, --model-label-mode "
                         f"{kw['label_mode']}")
    return kw


def cmd_report(args: argparse.Namespace) -> int:
    model = real_model_kwargs(args)
    prepare_out(args.out)
    start = time.perf_counter()
    path = write_report(args.out, quick=args.quick, real_model=model)
    print(f"wrote {path} in {time.perf_counter() - start:.1f} s")
    return 0


def add_parser(sub) -> None:
    """Register ``gmmtheory report [--out DIR] [--quick] [--model-checkout DIR --model-weights FILE ...]``."""
    p = subcommand(sub, "report", "the main job: report.md + figures", cmd_report)
    p.add_argument("--out", type=Path, default=Path("out/report"), help="output directory (default out/report)")
    p.add_argument("--quick", action="store_true", help="smaller grids (for smoke tests)")
    g = p.add_argument_group("real model (optional)", "add a section measuring H[Z | X_σ] on your own "
                             "class-conditional checkpoint (the loader options of 'gmmtheory bridge inspect', "
                             "prefixed --model-); without --model-weights the section is one line saying how to add it")
    add_checkpoint_arguments(g, prefix="model-", required=False, what="the real-model section's: ")
