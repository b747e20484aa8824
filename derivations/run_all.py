"""Run every derivation script, write its Markdown to an output directory, exit non-zero if any check fails.

Usage: ``python derivations/run_all.py [OUT_DIR]`` (default: ``derivations/out/``, which the repository ignores).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SCRIPTS = (
    "binary_channel",
    "collision_mmse",
    "denoiser_gap",
    "speciation_hessian",
    "process_conversions",
    "reduced_dynamics",
)


def run_all(out_dir: str | os.PathLike | None = None) -> dict[str, str | None]:
    """Run every script's ``main(out_dir)``; returns {name: None on success, else the error message}."""
    out = Path(out_dir) if out_dir is not None else HERE / "out"
    results: dict[str, str | None] = {}
    for name in SCRIPTS:
        start = time.perf_counter()
        try:
            importlib.import_module(name).main(out)
            results[name] = None
            status = "ok"
        except Exception as exc:  # noqa: BLE001 - report every failure, keep going
            results[name] = f"{type(exc).__name__}: {exc}"
            status = "FAILED"
            if not isinstance(exc, AssertionError):
                traceback.print_exc()
        print(f"{name:22s} {status:7s} {time.perf_counter() - start:6.1f} s  → {out / (name + '.md')}")
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    results = run_all(argv[0] if argv else None)
    failed = {k: v for k, v in results.items() if v is not None}
    for name, msg in failed.items():
        print(f"\n{name}: {msg}", file=sys.stderr)
    print(f"\n{len(results) - len(failed)}/{len(results)} derivations passed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
