"""Benchmark: the two-Gaussian guidance study (w × intervals, EDM sampler, 64 steps, z ~ π) by the exact route
(gmmtheory.guided_law.sampler_law, no Monte Carlo) at d = 256 and d = 10⁶, against the Monte Carlo full-d sampler
(gmmtheory.dynamics.simulate, reduced=False) at d = 256 with 256 samples, in the same run; prints the ratio and the
exact vs MC overshoot. Run: .venv/bin/python benchmarks/exact_guidance.py"""

import time

from gmmtheory.dynamics import overshoot, simulate
from gmmtheory.guided_law import sampler_law
from gmmtheory.presets import build_preset

WS = (1.0, 1.5, 2.0, 3.0, 5.0)
INTERVALS = {"all": None, "edm2": (0.56, 5.8)}


def exact(d):
    mix = build_preset("two", d=d, mu=0.5).mixture
    t = time.perf_counter()
    rows = {(iv, w): sampler_law(mix, sampler="edm", n_steps=64, w=w, interval=ivv, label=0)
            for iv, ivv in INTERVALS.items() for w in WS}
    return time.perf_counter() - t, rows


def monte_carlo(d, n):
    mix = build_preset("two", d=d, mu=0.5).mixture
    t = time.perf_counter()
    rows = {}
    for iv, ivv in INTERVALS.items():
        for w in WS:
            g = "interval" if ivv is not None else "cfg"
            tr = simulate(mix, sampler="edm", n_samples=n, n_steps=64, key=0, label=0, guidance=g, w=w,
                          interval=ivv, record=False, reduced=False)
            rows[(iv, w)] = overshoot(tr, mix)
    return time.perf_counter() - t, rows


if __name__ == "__main__":
    exact(16)  # warm-up (imports, first-call costs)
    for d in (256, 10**6):
        te, _ = exact(d)
        print(f"exact route d={d}: {te:.2f} s for {len(WS) * len(INTERVALS)} runs")
    te, ex = exact(256)
    tm, mc = monte_carlo(256, 256)
    print(f"Monte Carlo full-d d=256 n=256: {tm:.2f} s; ratio MC/exact = {tm / te:.1f}")
    for k in ex:
        print(f"{k}: overshoot exact {ex[k].overshoot:+.4f}  MC {mc[k]['mean']:+.4f} ± {mc[k]['stderr']:.4f}")
