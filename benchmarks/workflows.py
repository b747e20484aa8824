"""Whole workflows against naive numpy/scipy code: the entropy rate, a phase-diagram sweep, a guided sampler run.

(a) Entropy rate dH/dt over a 32-point OU grid, K = 10 per-class full covariances, d = 128 (``--quick``: d = 16,
    8 times), 2¹³ requested draws (each method rounds up to whole chunks: 8,320 and 10,240):
    ``gt.entropy_rate(method="denoiser_gap")`` and ``method="autodiff"`` against
    ``_naive.rate_denoiser_gap`` — per time and class a Cholesky factorisation, fresh full-dimensional draws,
    log-densities and conditional denoisers by triangular solves, the I-MMSE gap Σ_k p_k ‖D_k − D‖² (the same
    estimator as ``denoiser_gap``) at the same number of draws per class.
(b) Phase diagram of two Gaussians under OU: 31 dimensions d = 10 … 10⁶ × 128 times (``--quick``: 3 × 8), the four
    quantities H/H[Z], dH/dt, φ and the Bayes error: ``gt.phase_diagram({"d": …}, t)`` (one vectorised quadrature
    per chunk of rows) against ``_naive.phase_two_gaussians`` — one ``scipy.integrate.quad`` per cell and quantity over
    the binary-channel log-likelihood ratio (already the reduced, d-free formulation: a strong baseline), timed on
    every 5th dimension × every 8th time and scaled to all cells (its cost is the same in every cell). Both are exact
    to ~1e-10; the table gives their largest difference on the cells compared.
(c) Guided sampling: EDM's stochastic sampler (64 steps, S_churn 40), classifier-free guidance w = 2 toward labels
    drawn from the prior, exact scores of a K = 10 per-class full-covariance mixture in d = 128 (``--quick``: d = 8,
    64 samples, 16 steps), 512 samples, the posterior recorded at every step:
    ``gt.simulate(..., guidance="cfg")`` against
    ``_naive.guided_edm`` (the same algorithm in numpy, per evaluation a Cholesky per class). They use different
    random numbers, so their cross-entropy profiles E[−log p_σ(z | x_σ)] are compared within 4 combined standard
    errors at every grid point.
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

import numpy as np  # noqa: E402

import gmmtheory as gt  # noqa: E402
from benchmarks import (  # noqa: E402
    _naive,
    agree_text,
    agreement,
    bench_main,
    fmt_g,
    fmt_s,
    row,
    strip_result,
    time_calls,
)
from gmmtheory import dynamics as dyn  # noqa: E402

OU = gt.OU()
K = 10


def full_mixture(d: int):
    mix = gt.random_mixture(jax.random.PRNGKey(0), K=K, d=d, cov_kind="class_full")
    return mix, np.array(mix.means), np.array(mix.component_covariances()), np.array(mix.weights)


def bench_rate(quick: bool) -> tuple[list[dict], dict]:
    d, T, n = (16, 8, 2**10) if quick else (128, 32, 2**13)
    repeats = 2 if quick else 3
    t = np.linspace(0.2, 6.0, T)
    mix, means, covs, weights = full_mixture(d)
    print(f"\n== (a) entropy rate dH/dt: K={K}, d={d}, class_full, OU, T={T}, n={n:,} ==")
    a, s = np.exp(-t), np.sqrt(-np.expm1(-2 * t))
    dgamma_dt = -2 * a**2 / s**4  # γ = a²/σ² = e^{−2t}/(1 − e^{−2t}); dγ/dt = −2 e^{−2t}/(1 − e^{−2t})²
    runs = {m: time_calls(lambda m=m: gt.entropy_rate(mix, OU, t, method=m, n_samples=n, key=1), repeats)
            for m in ("denoiser_gap", "autodiff")}
    n_used = runs["denoiser_gap"]["result"].n_samples
    n_naive = K * (n_used // K)
    nv = time_calls(lambda: _naive.rate_denoiser_gap(means, covs, weights, a, s, dgamma_dt, n_used // K), 1,
                    warmup=False)
    nval, nse = nv["result"]
    rows, detail = [], {"naive": strip_result(nv)}
    for m, g in runs.items():
        res = g["result"]
        ag = agreement(res.value, res.stderr, nval, nse)
        print(f"  {m}: first {fmt_s(g['first_s'])}, median {fmt_s(g['median_s'])}; naive {fmt_s(nv['median_s'])}; "
              f"stderr max {fmt_g(float(res.stderr.max()))} vs naive {fmt_g(float(nse.max()))}; {agree_text(ag)}")
        rows.append(row(f"entropy rate dH/dt, {m}", f"K={K}, d={d}, T={T}, n={res.n_samples:,}", g,
                        baseline_s=nv["median_s"], baseline_cpu_s=nv["median_cpu_s"],
                        stderr_text=f"max {fmt_g(float(res.stderr.max()))}; naive (gap) max {fmt_g(float(nse.max()))}",
                        notes=f"naive: per-time Cholesky + solves, I-MMSE gap, n={n_naive:,}; {agree_text(ag)}; "
                              f"{g['recompiles']} recompiles in repeats"))
        detail[m] = {**strip_result(g), "agreement": ag}
    return rows, detail


def bench_phase(quick: bool) -> tuple[list[dict], dict]:
    dims = np.unique(np.geomspace(10, 1e6, 3 if quick else 31).round().astype(int))
    t = np.linspace(0.05, 10.0, 8 if quick else 128)
    repeats = 2 if quick else 3
    print(f"\n== (b) phase diagram: two Gaussians, {len(dims)} dimensions × {len(t)} OU times, H, rate, φ, P_e ==")
    g = time_calls(lambda: gt.phase_diagram({"d": dims}, t, progress=False), repeats)
    # the naive code costs the same per cell: time it on every k-th dimension and every j-th time, scale
    di = np.arange(0, len(dims), 2 if quick else 5)
    ti = np.arange(0, len(t), 4 if quick else 8)
    nv = time_calls(lambda: _naive.phase_two_gaussians(dims[di], t[ti]), 1, warmup=False)
    scale = (len(dims) * len(t)) / (len(di) * len(ti))
    pd, ref = g["result"], nv["result"]
    diffs = {q: float(np.nanmax(np.abs(pd.values[q][np.ix_(di, ti)] - ref[q]))) for q in ref}
    print(f"  gmmtheory: first {fmt_s(g['first_s'])}, median {fmt_s(g['median_s'])}; naive quad per cell "
          f"{fmt_s(nv['median_s'] * scale)} (×{scale:.3g} from {len(di)} × {len(ti)} cells); max |difference| "
          f"{diffs}")
    sub = "" if scale == 1 else f"timed on {len(di)} × {len(ti)} cells, SCALED ×{scale:.3g}; "
    r = row("phase diagram two Gaussians (H, rate, φ, P_e)", f"{len(dims)} d × {len(t)} t", g,
            baseline_s=nv["median_s"] * scale, baseline_cpu_s=nv["median_cpu_s"] * scale,
            stderr_text="exact; max |Δ| vs naive " + ", ".join(f"{q} {v:.1g}" for q, v in diffs.items()),
            notes=f"naive: scipy.integrate.quad per cell and quantity ({4 * len(dims) * len(t):,} integrals), "
                  f"{sub}{g['recompiles']} recompiles in repeats")
    return [r], {"timing": strip_result(g), "naive": {**strip_result(nv), "scale": scale}, "max_abs_diff": diffs}


def bench_guided(quick: bool) -> tuple[list[dict], dict]:
    d, n = (8, 64) if quick else (128, 512)
    repeats = 2 if quick else 3
    steps, w = 16 if quick else 64, 2.0
    mix, means, covs, weights = full_mixture(d)
    print(f"\n== (c) guided EDM sampler: K={K}, d={d}, class_full, n={n}, {steps} steps, CFG w={w} ==")
    g = time_calls(lambda: gt.simulate(mix, sampler="edm", n_samples=n, n_steps=steps, label="prior",
                                       guidance="cfg", w=w, key=1), repeats)
    ce, se = dyn.cross_entropy_profile(g["result"])
    labels = np.random.default_rng(2).choice(K, size=n, p=weights)
    nv = time_calls(lambda: _naive.guided_edm(means, covs, weights, labels, w, n_steps=steps, seed=3), 1,
                    warmup=False)
    nce, nse, _ = nv["result"]
    ag = agreement(ce, se, nce, nse)
    print(f"  gmmtheory: first {fmt_s(g['first_s'])}, median {fmt_s(g['median_s'])}; naive {fmt_s(nv['median_s'])}; "
          f"cross-entropy stderr max {fmt_g(float(np.nanmax(se)))} vs {fmt_g(float(nse.max()))}; {agree_text(ag)}")
    r = row("guided EDM sampler (CFG), posterior recorded", f"K={K}, d={d}, n={n}, {steps} steps, w={w:g}", g,
            baseline_s=nv["median_s"], baseline_cpu_s=nv["median_cpu_s"],
            stderr_text=f"cross-entropy max {fmt_g(float(np.nanmax(se)))}; naive {fmt_g(float(nse.max()))}",
            notes=f"naive: numpy Algorithm 2, Cholesky per class per evaluation; {agree_text(ag, 'naive profile')}; "
                  f"{g['recompiles']} recompiles in repeats")
    return [r], {"timing": strip_result(g), "naive": strip_result(nv), "agreement": ag}


def run(quick: bool = False) -> dict:
    rows, detail = [], {}
    for name, fn in (("rate", bench_rate), ("phase", bench_phase), ("guided", bench_guided)):
        r, detail[name] = fn(quick)
        rows += r
    return {"rows": rows, "detail": detail}


def main(argv: list[str] | None = None) -> int:
    return bench_main("workflows", __doc__, run, argv, THREADS)


if __name__ == "__main__":
    raise SystemExit(main())
