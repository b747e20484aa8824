"""Benchmarks for gmmtheory: honest wall-clock numbers, never asserted in tests.

Every benchmark module in this folder (``benchmarks/<name>.py``, not starting with ``_``) is runnable as a script and
as ``python -m benchmarks.<name>``, accepts ``--quick`` and ``--json PATH``, and writes a JSON document
``{"meta": {...}, "rows": [...]}`` whose rows share the schema used by :func:`markdown_table`.
``python -m benchmarks.run_all`` runs them all and regenerates the table in ``benchmarks/README.md``.

This package holds the small helpers they share: machine description, timing, formatting.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from typing import Any, Callable

TABLE_COLUMNS = (
    "benchmark",
    "size",
    "gmmtheory median",
    "first call",
    "baseline median",
    "ratio",
    "stderr",
    "notes",
    "machine",
    "jax",
)


THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def configure_threads(threads: int) -> str:
    """Limit numpy/scipy BLAS and the XLA CPU backend to ``threads`` threads (0: leave the library defaults).

    Must run before numpy, scipy or jax are imported (the settings are read at import). Returns a description.
    Explicit environment settings win: a variable already set is left alone.
    """
    if threads <= 0:
        return "library defaults (OpenBLAS and XLA use every core)"
    for var in THREAD_ENV:
        os.environ.setdefault(var, str(threads))
    if threads == 1 and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    elif "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = f"intra_op_parallelism_threads={threads}"
    return (f"{threads} thread(s): OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
            f"XLA_FLAGS='{os.environ['XLA_FLAGS']}'")


def cpu_model() -> str:
    """CPU model name from ``lscpu`` (Linux), else ``platform.processor()``, else 'unknown'."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.strip().lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on (and how busy the machine was when the run started)."""
    import jax
    import numpy
    import scipy

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": cpu_model(),
        "cores": affinity,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "loadavg_start": [round(x, 2) for x in load],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "thread_env": {v: os.environ.get(v) for v in (*THREAD_ENV, "XLA_FLAGS")},
    }


def machine_label(meta: dict[str, Any]) -> str:
    return f"{meta['cpu']}, {meta['cores']} cores"


def time_calls(fn: Callable[[], Any], repeats: int, warmup: bool = True) -> dict[str, Any]:
    """Time ``fn`` (which must block until its work is done): one warm-up call, then ``repeats`` timed calls.

    Returns wall-clock and process CPU seconds (user + system, all threads) of the first call and of every repeat,
    their medians, and the last result under ``"result"``. CPU time is much less sensitive than wall time to other
    processes competing for the cores.
    """
    out: dict[str, Any] = {"first_s": None, "first_cpu_s": None}
    result = None
    if warmup:
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        out["first_s"], out["first_cpu_s"] = time.perf_counter() - w0, time.process_time() - c0
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    out.update(times_s=walls, cpu_s=cpus, median_s=median(walls), median_cpu_s=median(cpus), result=result)
    return out


def strip_result(timing: dict[str, Any]) -> dict[str, Any]:
    """A ``time_calls`` record without its (non-JSON) result."""
    return {k: v for k, v in timing.items() if k != "result"}


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def fmt_s(x: float | None) -> str:
    """Seconds with three significant digits (ms below one second)."""
    if x is None:
        return "n/a"
    if x < 1e-3:
        return f"{x * 1e6:.3g} µs"
    if x < 1.0:
        return f"{x * 1e3:.3g} ms"
    return f"{x:.3g} s"


def fmt_g(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "n/a"
    return f"{x:.{digits}g}" if x != 0 else "0"


def markdown_table(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The summary table: one line per row dict (keys: benchmark, size, median_s, first_s, baseline_median_s,
    ratio_text, stderr_text, notes)."""
    machine = machine_label(meta)
    lines = [
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|",
    ]
    for r in rows:
        cells = [
            r["benchmark"],
            r["size"],
            fmt_s(r.get("median_s")),
            fmt_s(r.get("first_s")),
            fmt_s(r.get("baseline_median_s")),
            r.get("ratio_text", "n/a"),
            r.get("stderr_text", "n/a"),
            r.get("notes", ""),
            machine,
            meta["jax"],
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
