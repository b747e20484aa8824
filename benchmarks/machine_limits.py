"""The machine's limits: GEMM FLOP/s and standard-normal throughput (jax vs numpy, float64 and float32).

These are the denominators of every "of bound" figure in the other benchmarks (which re-measure the rates on their
own kernel's GEMM shapes, in their own process). Here: a square GEMM (1024³; 256³ with ``--quick``) and 2²² normal
variates, best of several calls after a warm-up, with the thread settings of the run (stated in the table header).
The "gmmtheory" column holds jax's rate (the library runs on jax), the baseline column numpy's. On the CPU the rates
are per second of process CPU time (robust to other processes sharing the cores); on an accelerator, per wall second.

Run ``python -m benchmarks.machine_limits [--quick] [--json PATH] [--threads N]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import threads_from_argv  # noqa: E402

THREADS = threads_from_argv()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from benchmarks import bench_main, fmt_rate, row  # noqa: E402
from benchmarks._limits import default_clock, machine_limits  # noqa: E402


def run(quick: bool = False) -> dict:
    lim = machine_limits(quick)
    n = lim["gemm_size"]
    per = f"per {default_clock('jax')}-second (jax), per cpu-second (numpy)"
    lim["clock"] = per
    rows = []
    for dt in ("float64", "float32"):
        j, nn = lim[f"gemm_jax_{dt}"], lim[f"gemm_numpy_{dt}"]
        print(f"  GEMM {n}³ {dt}: jax {fmt_rate(j, 'FLOP/s')}, numpy {fmt_rate(nn, 'FLOP/s')}")
        rows.append(row(f"machine limit: GEMM {dt}", f"{n}×{n}×{n}", value_text=f"jax {fmt_rate(j, 'FLOP/s')}",
                        baseline_text=f"numpy {fmt_rate(nn, 'FLOP/s')}", ratio_text=f"jax/numpy {j / nn:.2f}",
                        stderr_text="—", bound_text="(the bound)",
                        notes=f"median of 5 batches of calls after warm-up; rates {per}"))
    for dt in ("float64", "float32"):
        j, nn = lim[f"normal_jax_{dt}"], lim[f"normal_numpy_{dt}"]
        print(f"  normals {dt}: jax {fmt_rate(j, '/s')}, numpy {fmt_rate(nn, '/s')}")
        rows.append(row(f"machine limit: N(0,1) variates {dt}", "2²² per call" if not quick else "2¹⁶ per call",
                        value_text=f"jax {fmt_rate(j, '/s')}", baseline_text=f"numpy {fmt_rate(nn, '/s')}",
                        ratio_text=f"jax/numpy {j / nn:.2f}", stderr_text="—", bound_text="(the bound)",
                        notes=f"jax.random.normal (threefry) vs Generator.standard_normal (PCG64, ziggurat); {per}"))
    return {"rows": rows, "detail": lim}


def main(argv: list[str] | None = None) -> int:
    return bench_main("machine_limits", __doc__, run, argv, THREADS)


if __name__ == "__main__":
    raise SystemExit(main())
