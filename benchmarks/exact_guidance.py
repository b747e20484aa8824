"""The two-Gaussian guidance study by the exact route against the Monte Carlo route, in the same process.

Work: w ∈ {1, 1.5, 2, 3, 5} × intervals {all, EDM2's (0.56, 5.8) in unit-data σ}, EDM sampler, 64 steps, target
class 0, preset "two" (μ̃ = 0.5). Exact route: ``gmmtheory.guided_law.sampler_law`` (the law of the discrete
sampler's class coordinate, no Monte Carlo) at d = 256 and d = 10⁶. Baseline: ``gmmtheory.dynamics.simulate`` with
the full d-dimensional sampler (``reduced=False``) at d = 256 with n samples, i.e. the Monte Carlo study as it was
run before. Each row records the time of the whole study (10 runs); the detail holds exact vs Monte Carlo overshoot
(within-class sd) with the Monte Carlo standard error.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_main, row, threads_from_argv  # noqa: E402

THREADS = threads_from_argv()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from gmmtheory.dynamics import overshoot, simulate  # noqa: E402
from gmmtheory.guided_law import sampler_law  # noqa: E402
from gmmtheory.presets import build_preset  # noqa: E402

WS = (1.0, 1.5, 2.0, 3.0, 5.0)
INTERVALS = {"all": None, "edm2": (0.56, 5.8)}


def exact_study(d: int, ws=WS) -> tuple[float, dict]:
    """(seconds, {(interval, w): GuidedLaw}) of the study by the exact route at dimension d."""
    mix = build_preset("two", d=d, mu=0.5).mixture
    t = time.perf_counter()
    laws = {(iv, w): sampler_law(mix, sampler="edm", n_steps=64, w=w, interval=ivv, label=0)
            for iv, ivv in INTERVALS.items() for w in ws}
    return time.perf_counter() - t, laws


def monte_carlo_study(d: int, n: int, ws=WS) -> tuple[float, dict]:
    """(seconds, {(interval, w): overshoot dict}) of the study by the full-d Monte Carlo sampler."""
    mix = build_preset("two", d=d, mu=0.5).mixture
    t = time.perf_counter()
    out = {}
    for iv, ivv in INTERVALS.items():
        for w in ws:
            tr = simulate(mix, sampler="edm", n_samples=n, n_steps=64, key=0, label=0,
                          guidance="cfg" if ivv is None else "interval", w=w, interval=ivv, record=False,
                          reduced=False)
            out[(iv, w)] = overshoot(tr, mix)
    return time.perf_counter() - t, out


def run(quick: bool = False) -> dict:
    ws = (1.0, 3.0) if quick else WS
    dims = (256,) if quick else (256, 10**6)
    n = 64 if quick else 256
    exact_study(16, ws)  # warm-up: imports and first-call costs
    rows, detail = [], {}
    t_mc, mc = monte_carlo_study(256, n, ws)
    for d in dims:
        t_ex, laws = exact_study(d, ws)
        rows.append(row("guidance study: exact route vs full-d Monte Carlo", f"d={d}, {len(laws)} runs",
                        {"median_s": t_ex}, baseline_s=t_mc if d == 256 else None,
                        notes=f"Monte Carlo at d=256, n={n}: {t_mc:.2f} s" if d == 256 else "exact route alone"))
        if d == 256:
            detail["overshoot"] = {f"{iv}/w={w:g}": {"exact": laws[iv, w].overshoot, "mc": mc[iv, w]["mean"],
                                                     "mc_stderr": mc[iv, w]["stderr"]} for (iv, w) in laws}
    return {"rows": rows, "detail": detail}


def main(argv: list[str] | None = None) -> int:
    return bench_main("exact_guidance", __doc__, run, argv, THREADS)


if __name__ == "__main__":
    raise SystemExit(main())
