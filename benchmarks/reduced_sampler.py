"""Reduced vs full exact-score samplers: ``simulate(reduced=True)`` against ``simulate(reduced=False)`` and a naive
numpy Euler–Maruyama loop with the exact two-Gaussian score, for equal n_samples and n_steps, at growing d.

Mixture: preset "two" (means ±mu·1, |μ|² = 4, covariance I), CFG w = 2, labels from the prior, EDM sampler
(reduced / full) and Euler–Maruyama (reduced / full / numpy). Each time is the median of the repeats after a warm-up
call (compilation excluded). The reduced sampler's cost is independent of d (state u ∈ R^r, r = 2 here, plus the
closed-form orthogonal variance); the full sampler's grows like d.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_main, row, threads_from_argv, time_calls  # noqa: E402

THREADS = threads_from_argv()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from gmmtheory import dynamics as dyn  # noqa: E402
from gmmtheory.presets import build_preset  # noqa: E402


def naive_em(mu: np.ndarray, n: int, n_steps: int, T: float, w: float, seed: int) -> np.ndarray:
    """Plain numpy EM on the reverse OU SDE of ½N(μ, I) + ½N(−μ, I) with CFG toward +μ (exact score; a² + σ² = 1,
    so every class's C = I and the class-k score is a μ_k − x): x ← x + h(x + 2 score) + √(2h) ξ."""
    rng = np.random.default_rng(seed)
    t = np.linspace(T, 0.0, n_steps + 1)
    x = rng.standard_normal((n, mu.size)) + np.exp(-T) * mu
    for i in range(n_steps):
        a, h = np.exp(-t[i]), t[i] - t[i + 1]
        proj = x @ mu
        p_plus = 1.0 / (1.0 + np.exp(-2.0 * a * proj))
        s_u = a * (2 * p_plus - 1)[:, None] * mu - x
        s_z = a * mu - x
        score = s_z + (w - 1.0) * (s_z - s_u)
        x = x + h * (x + 2.0 * score) + np.sqrt(2.0 * h) * rng.standard_normal(x.shape)
    return x


def run(quick: bool = False) -> dict:
    ds = (256, 1024) if quick else (256, 1024, 4096)
    n, n_steps, reps = (256, 32, 1) if quick else (1024, 64, 3)
    rows, detail = [], {}
    for d in ds + (10**6,):
        mix = build_preset("two", d=d, mu=2.0 / np.sqrt(d)).mixture
        kw = dict(n_samples=n, n_steps=n_steps, key=0, label="prior", guidance="cfg", w=2.0, record=False)
        rec = {}
        for sampler in ("edm", "sde"):
            red = time_calls(lambda s=sampler: dyn.simulate(mix, sampler=s, reduced=True, **kw).final_log_post,
                             reps)
            rec[f"{sampler}_reduced_s"] = red["median_s"]
            if d <= 4096:
                full = time_calls(lambda s=sampler: dyn.simulate(mix, sampler=s, reduced=False, **kw).final_log_post,
                                  reps)
                rec[f"{sampler}_full_s"] = full["median_s"]
                ratio = full["median_s"] / red["median_s"]
                rows.append(row(f"{sampler} sampler: reduced vs full", f"d={d}, n={n}, N={n_steps}", red,
                                baseline_s=full["median_s"], ratio_text=f"{ratio:.0f}×",
                                notes="baseline: gmmtheory full-d sampler"))
        if d <= 4096:
            nv = time_calls(lambda: naive_em(mix.means[0], n, n_steps, 10.0, 2.0, 0), reps)
            rec["numpy_em_s"] = nv["median_s"]
            r = nv["median_s"] / rec["sde_reduced_s"]
            rows.append(row("sde: reduced vs naive numpy EM", f"d={d}, n={n}, N={n_steps}", None,
                            baseline_s=nv["median_s"], ratio_text=f"{r:.0f}×", notes="numpy loop, exact score",
                            gmmtheory_s=rec["sde_reduced_s"]))
        else:
            rows.append(row("edm sampler: reduced alone", f"d={d}, n={n}, N={n_steps}", None,
                            ratio_text="n/a", notes=f"reduced {rec['edm_reduced_s']:.3g} s"))
        detail[str(d)] = rec
        print(d, {k: round(v, 4) for k, v in rec.items()}, flush=True)
    return {"rows": rows, "detail": detail}


def main(argv: list[str] | None = None) -> int:
    return bench_main("reduced_sampler", __doc__, run, argv, THREADS)


if __name__ == "__main__":
    raise SystemExit(main())
