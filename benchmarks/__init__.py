"""Benchmarks for gmmtheory: honest wall-clock numbers, never asserted in tests.

Every benchmark module in this folder (``benchmarks/<name>.py``, not starting with ``_``) is runnable as a script and
as ``python -m benchmarks.<name>``, accepts ``--quick``, ``--json PATH`` and ``--threads N``, and writes a JSON
document ``{"meta": {...}, "rows": [...], "detail": {...}}`` whose rows share the schema of :func:`markdown_table`.
``python -m benchmarks.run_all`` runs them all and regenerates the tables in ``benchmarks/README.md``.

This package holds what they share: thread set-up (before numpy/jax are imported), the machine description,
timing (wall and process CPU time, first call separately), a compilation counter, peak-memory measurement in a
fresh child process, agreement checks and formatting. The naive baselines live in ``benchmarks/_naive.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gmmtheory.compilation import count_compilations

ROOT = Path(__file__).resolve().parents[1]

TABLE_COLUMNS = (
    "benchmark",
    "size",
    "gmmtheory",
    "compile",
    "naive baseline",
    "speed-up",
    "accuracy (stderr)",
    "of bound",
    "peak memory",
    "notes",
    "device",
)

THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# ------------------------------------------------------------------------------------------------- threads
def resolve_threads(threads: int | None) -> int:
    """``None`` ("auto"): one thread on small machines (≤ 4 cores; shared boxes, where multi-threaded OpenBLAS
    spin-waits), the library defaults (0 = every core) otherwise."""
    if threads is not None:
        return threads
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return 1 if cores <= 4 else 0


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
    os.environ.setdefault("TORCH_NUM_THREADS", str(threads))
    return (f"{threads} thread(s): OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
            f"XLA_FLAGS='{os.environ['XLA_FLAGS']}'")


def threads_from_argv(argv: list[str] | None = None) -> str:
    """Parse ``--threads`` from the command line (before heavy imports) and configure it; returns the description."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=None)
    args, _ = pre.parse_known_args(sys.argv[1:] if argv is None else argv)
    env = os.environ.get("GMM_BENCH_THREADS")
    threads = args.threads if args.threads is not None else (int(env) if env else None)
    threads = resolve_threads(threads)
    os.environ["GMM_BENCH_THREADS"] = str(threads)  # children (memory probes) inherit it
    return configure_threads(threads)


# ------------------------------------------------------------------------------------------------- machine
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


def accelerator() -> dict[str, Any]:
    """The jax backend and its first device's kind (e.g. 'NVIDIA H100 80GB HBM3'); torch's CUDA device if any."""
    import jax

    dev = jax.devices()[0]
    out = {"jax_backend": jax.default_backend(), "jax_device": getattr(dev, "device_kind", str(dev)),
           "jax_device_count": jax.device_count()}
    try:
        import torch

        out["torch"] = torch.__version__
        out["torch_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:
        out["torch"] = None
    return out


def machine_info(threads: str = "n/a", label: str | None = None) -> dict[str, Any]:
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
        "label": label or os.environ.get("GMM_BENCH_LABEL") or None,
        "cpu": cpu_model(),
        "cores": affinity,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        **accelerator(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "threads": threads,
        "loadavg_start": [round(x, 2) for x in load],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "thread_env": {v: os.environ.get(v) for v in (*THREAD_ENV, "XLA_FLAGS")},
    }


def machine_label(meta: dict[str, Any]) -> str:
    cpu = f"{meta['cpu']}, {meta['cores']} cores"
    if meta.get("jax_backend", "cpu") != "cpu":
        return f"{meta['jax_device']} ({meta['jax_backend']}) + {cpu}"
    return cpu


def device_short(meta: dict[str, Any]) -> str:
    """A short device name for the table column."""
    if meta.get("jax_backend", "cpu") != "cpu":
        return f"{meta['jax_backend']}: {meta['jax_device']}"
    threads = meta.get("threads", "")
    t = "1 thread" if str(threads).startswith("1 thread") else "all cores"
    return f"cpu: {meta['cpu']} ({t})"


# -------------------------------------------------------------------------------------------------- timing
def block(result: Any) -> Any:
    """Wait for any jax arrays inside ``result`` (pytrees, dataclasses with array fields are already numpy)."""
    import jax

    try:
        jax.block_until_ready(result)
    except Exception:  # noqa: BLE001 - non-jax results (numpy, dataclasses) need no blocking
        pass
    return result


def time_calls(fn: Callable[[], Any], repeats: int, warmup: bool = True) -> dict[str, Any]:
    """Time ``fn`` (which must block until its work is done): one warm-up call, then ``repeats`` timed calls.

    Returns wall-clock and process CPU seconds (user + system, all threads) of the first call and of every repeat,
    their medians, the number of jax traces/compilations during the timed repeats (``recompiles``: 0 when the first
    call compiled everything), and the last result under ``"result"``. CPU time is much less sensitive than wall
    time to other processes competing for the cores.
    """
    out: dict[str, Any] = {"first_s": None, "first_cpu_s": None}
    result = None
    if warmup:
        w0, c0 = time.perf_counter(), time.process_time()
        result = block(fn())
        out["first_s"], out["first_cpu_s"] = time.perf_counter() - w0, time.process_time() - c0
    walls, cpus = [], []
    with count_compilations() as counts:
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            result = block(fn())
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
    out.update(times_s=walls, cpu_s=cpus, median_s=median(walls), median_cpu_s=median(cpus), result=result,
               recompiles=counts["compiles"], retraces=counts["traces"])
    if out["first_s"] is not None:
        out["compile_s"] = max(0.0, out["first_s"] - out["median_s"])
    return out


def strip_result(timing: dict[str, Any]) -> dict[str, Any]:
    """A ``time_calls`` record without its (non-JSON) result."""
    return {k: v for k, v in timing.items() if k != "result"}


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


# -------------------------------------------------------------------------------------------------- memory
def peak_rss_kb() -> int:
    """Peak resident set size of this process in KiB: VmHWM from /proc (reset at exec), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def device_peak_bytes() -> int | None:
    """Peak bytes in use on the first jax device (GPU/TPU), None on CPU or when unsupported."""
    import jax

    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001
        return None
    return None if not stats else int(stats.get("peak_bytes_in_use", 0)) or None


def measure_memory(module: str, func: str, kwargs: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    """Run ``benchmarks.<module>.<func>(**kwargs)`` (which sets up and returns a zero-argument callable) in a fresh
    Python process; return its peak RSS after set-up and after one call (KiB), the growth, and the device peak."""
    cmd = [sys.executable, "-m", "benchmarks._child", module, func, json.dumps(kwargs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["growth_mib"] = (out["peak_kb"] - out["setup_kb"]) / 1024
    return out


def memory_text(m: dict[str, Any] | None) -> str:
    if not m:
        return "n/a"
    if "error" in m:
        return "failed"
    s = f"+{m['growth_mib']:.0f} MiB"
    if m.get("device_peak_bytes"):
        s += f" (device {m['device_peak_bytes'] / 2**20:.0f} MiB)"
    return s


# ----------------------------------------------------------------------------------------------- accuracy
def agreement(v1, s1, v2, s2, sigmas: float = 4.0, floor: float = 1e-6) -> dict[str, Any]:
    """Do two estimates agree within ``sigmas`` combined standard errors (+ ``floor`` absolute) at every point?

    The absolute floor (default 1e-6 nats) covers rare-event times, where H is ~1e-6 or less and dominated by draws
    so rare that a Monte Carlo sample of 10³–10⁴ usually misses them: there the sample standard error is unreliable
    (a naive estimate of 3e-8 ± 3e-8 against an exact 4e-7, say), and any two methods agree to better than 1e-6.
    ``max_abs_z`` is the largest excess over the floor in combined standard errors, max (|Δ| − floor)₊ / σ."""
    import numpy as np

    v1, s1, v2, s2 = (np.asarray(x, np.float64) for x in (v1, s1, v2, s2))
    diff = np.abs(v1 - v2)
    comb = np.sqrt(s1**2 + s2**2)
    excess = np.maximum(diff - floor, 0.0)
    ok = excess <= sigmas * comb
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(excess > 0, excess / comb, 0.0)
    return {"n": int(diff.size), "n_agree": int(ok.sum()), "all_agree": bool(ok.all()),
            "max_abs_z": float(z.max()) if z.size else 0.0, "max_abs_diff": float(diff.max()) if diff.size else 0.0,
            "sigmas": sigmas, "floor": floor}


def agree_text(ag: dict[str, Any], what: str = "naive") -> str:
    return (f"agrees with {what} at {ag['n_agree']}/{ag['n']} points within {ag['sigmas']:g}σ + {ag['floor']:g} "
            f"(max |z| {ag['max_abs_z']:.2f})")


# ------------------------------------------------------------------------------------------------- formats
def fmt_s(x: float | None) -> str:
    """Seconds with three significant digits (ms / µs below one second)."""
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


def fmt_rate(x: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def row(benchmark: str, size: str, timing: dict[str, Any] | None = None, *, baseline_s: float | None = None,
        ratio_text: str | None = None, stderr_text: str = "n/a", bound_text: str = "n/a",
        memory: str = "n/a", notes: str = "", **extra: Any) -> dict[str, Any]:
    """One table row. ``timing``: a ``time_calls`` record of the gmmtheory side (median and compile time)."""
    t = timing or {}
    if ratio_text is None:
        if baseline_s is not None and t.get("median_s"):
            ratio_text = f"{baseline_s / t['median_s']:.1f}×"
            if t.get("median_cpu_s") and extra.get("baseline_cpu_s"):
                ratio_text += f" (CPU {extra['baseline_cpu_s'] / t['median_cpu_s']:.1f}×)"
        else:
            ratio_text = "n/a"
    return {"benchmark": benchmark, "size": size, "median_s": t.get("median_s"), "median_cpu_s": t.get("median_cpu_s"),
            "first_s": t.get("first_s"), "compile_s": t.get("compile_s"), "recompiles": t.get("recompiles"),
            "baseline_median_s": baseline_s, "ratio_text": ratio_text, "stderr_text": stderr_text,
            "bound_text": bound_text, "memory_text": memory, "notes": notes, **extra}


def markdown_table(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The summary table, one line per row dict (see :func:`row`)."""
    dev = device_short(meta)
    lines = [
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|",
    ]
    for r in rows:
        compile_s = r.get("compile_s")
        if compile_s is None:
            compile_text = "n/a"
        elif compile_s < 0.01:
            compile_text = "≈0 (compiled earlier)"
        else:
            compile_text = fmt_s(compile_s)
        cells = [
            r["benchmark"],
            r["size"],
            fmt_s(r.get("median_s")) if r.get("median_s") is not None else r.get("value_text", "n/a"),
            compile_text,
            r.get("baseline_text") or fmt_s(r.get("baseline_median_s")),
            r.get("ratio_text", "n/a"),
            r.get("stderr_text", "n/a"),
            r.get("bound_text", "n/a"),
            r.get("memory_text", "n/a"),
            r.get("notes", ""),
            dev,
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def meta_line(meta: dict[str, Any], what: str = "the module") -> str:
    """One paragraph: machine, versions, threads, load, wall time (of ``what``)."""
    label = f"**{meta['label']}** — " if meta.get("label") else ""
    return (f"{label}Machine: {machine_label(meta)} ({meta['platform']}), Python {meta['python']}, jax {meta['jax']} "
            f"({meta['jax_backend']}: {meta.get('jax_device', '?')}), numpy {meta['numpy']}, scipy {meta['scipy']}"
            + (f", torch {meta['torch']} ({meta.get('torch_device')})" if meta.get("torch") else "")
            + f". Threads: {meta.get('threads', 'n/a')}. Load average at start {meta['loadavg_start']}, at end "
            f"{meta.get('loadavg_end', 'n/a')}. Wall time of {what}: {fmt_s(meta.get('total_wall_s'))}.")


# ------------------------------------------------------------------------------------------------ main glue
def bench_main(name: str, doc: str, run: Callable[..., dict[str, Any]], argv: list[str] | None,
               threads: str, add_args: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """Shared command line of a benchmark module: ``--quick``, ``--json PATH``, ``--threads N``, ``--label NAME``.

    ``run(quick=..., **extra_args)`` returns ``{"rows": [...], "detail": {...}}``; meta, timing and output are added
    here."""
    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: small sizes, few repeats (seconds)")
    p.add_argument("--json", metavar="PATH", help="write meta, rows and raw timings as JSON")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS/XLA/torch threads for both sides (default: 1 on machines with ≤ 4 cores, else the "
                        "library defaults; 0 = library defaults)")
    p.add_argument("--label", help="a name for this machine in the table (e.g. 'H100 box')")
    if add_args is not None:
        add_args(p)
    args = p.parse_args(argv)
    extra = {k: v for k, v in vars(args).items() if k not in ("quick", "json", "threads", "label")}
    meta = machine_info(threads, args.label)
    meta.update(benchmark=name, mode="quick" if args.quick else "full")
    print(f"[{name}] machine: {machine_label(meta)}; jax {meta['jax']} ({meta['jax_backend']}: "
          f"{meta['jax_device']}); threads: {threads}; load {meta['loadavg_start']}", flush=True)
    t0 = time.perf_counter()
    out = run(quick=args.quick, **extra)
    meta["total_wall_s"] = time.perf_counter() - t0
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    meta["command"] = " ".join([Path(sys.executable).name, "-m", f"benchmarks.{name}", *(argv or sys.argv[1:])])
    doc_out = {"meta": meta, "rows": out["rows"], "detail": out.get("detail", {})}
    print(f"\n== {name}: summary ==\n")
    print(markdown_table(doc_out["rows"], meta))
    print(f"\ntotal wall time {fmt_s(meta['total_wall_s'])}; load average at end {meta['loadavg_end']}", flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc_out, indent=1, default=_json_default))
        print(f"wrote {args.json}")
    return 0


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)
