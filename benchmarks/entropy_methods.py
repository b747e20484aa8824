"""H[Z | X_t] over a 64-point OU time grid: gmmtheory's three methods against naive numpy/scipy Monte Carlo.

(a) Two Gaussians ±m, |m|² = d (``gt.two_gaussians(d)``), d = 10, 10³, 10⁶: ``method="quadrature"`` (exact) and
    ``method="reduced"`` (2¹⁶ draws of K numbers). Timed as written, ``gt.class_entropy(gt.two_gaussians(d), …)``
    (a new mixture each call: its O(d) construction included), and with one mixture reused. Baseline: full-dimensional
    Monte Carlo with a hand-written isotropic log-density (``_naive.entropy_shared_iso``; scipy's
    ``multivariate_normal`` would need a d × d covariance), at 2¹⁴ draws for the quadrature rows (the accuracy it
    reaches is its standard error; the quadrature's error is ≤ 1e-10) and at the reduced method's 2¹⁶ draws (equal
    accuracy). Its cost is exactly linear in draws × times, so it is timed on a subset and scaled (stated per row).
(b) K = 10 classes, shared covariance, d = 10⁴ (``gt.k_classes(10, 10_000, mu=0.1)``), ``method="reduced"``, 2¹⁶
    draws, against the same naive code at 2¹⁶ draws (timed on a subset, scaled).
(c) K = 10 per-class full covariances (``gt.random_mixture(PRNGKey(0), 10, d, "class_full")``), d = 256 and 1024,
    ``method="montecarlo"``, 2¹⁴ requested draws (20,480 used: whole chunks), float64 and ``precision="float32"``
    (float32 draws and GEMMs, float64 logits and reductions). Baseline: per time and per class scipy
    ``multivariate_normal(a μ_k, a²Σ_k + σ²I)``, ``.rvs`` and ``.logpdf`` (``_naive.entropy_full_cov``) with the same
    draws per class. d = 256: the naive code runs on all 64 times (``--quick``: a subset); d = 1024: on 2 of the 64
    times, scaled ×32. gmmtheory is timed building a new mixture each call (eigendecompositions included).

Every row reports: the median of repeated calls after one warm-up call, the compile time (first call − median),
the naive time, the speed-up (wall; CPU time in brackets), the standard errors reached, whether the two estimates
agree within 4 combined standard errors at every time compared, the fraction of the machine bound reached (the
kernel's GEMM FLOPs and normal variates divided by the rates measured on the same shapes), peak memory (fresh child
process, growth of the peak RSS during one call) and how many recompilations happened during the timed repeats.
"""

from __future__ import annotations

import math
import sys
import time
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
    fmt_rate,
    fmt_s,
    measure_memory,
    memory_text,
    row,
    strip_result,
    time_calls,
)
from benchmarks._limits import default_clock, gemm_flops, normal_rate  # noqa: E402
from gmmtheory.entropy import montecarlo  # noqa: E402

T_GRID = np.linspace(0.05, 8.0, 64)  # OU times; covers the speciation window of every benchmark mixture
OU = gt.OU()
MC_K = 10
MIN_NAIVE_DRAWS = 200  # per class and time, when the naive code is timed on a subset


def ou_coefficients(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.exp(-t), np.sqrt(-np.expm1(-2 * t))


def subset_times(T: int, k: int) -> np.ndarray:
    """k evenly spaced interior indices of a T-point grid (all of them when k ≥ T): the ends of the grid, where H is
    ~0 or ~H[Z] and every estimate is nearly exact, say little about agreement."""
    if k >= T:
        return np.arange(T)
    return np.unique(np.linspace(0, T - 1, k + 2).round().astype(int)[1:-1])


def informative_times(values: np.ndarray, h_max: float, k: int) -> np.ndarray:
    """k evenly spaced indices among the times where 5 % ≤ H/H[Z] ≤ 95 % (the window where the class is being
    decided, where a comparison says something), else ``subset_times``."""
    inside = np.flatnonzero((values >= 0.05 * h_max) & (values <= 0.95 * h_max))
    if k >= len(values):
        return np.arange(len(values))
    if inside.size < k + 2:
        return subset_times(len(values), k)
    return inside[np.unique(np.linspace(0, inside.size - 1, k + 2).round().astype(int)[1:-1])]


def scaled_timing(timing: dict, scale: float) -> dict:
    """A naive timing measured on a subset, scaled linearly to the full work."""
    return {"median_s": timing["median_s"] * scale, "median_cpu_s": timing["median_cpu_s"] * scale,
            "measured_median_s": timing["median_s"], "scale": scale}


# ------------------------------------------------------------------------------------------- (a) and (b)
def naive_iso_cost(means, var, weights, t, n_per_class_target, budget_s, repeats, reference, fixed=None):
    """Time ``_naive.entropy_shared_iso`` on a subset of times and draws that fits ``budget_s``; return the timing
    scaled to all times × ``n_per_class_target`` draws per class, its estimate on the subset, and the subset (times
    inside the decision window of ``reference``, gmmtheory's curve: the naive cost is the same at every time).
    ``fixed = (n_times, n_per_class)`` replaces the budget by fixed sizes (smoke runs: results must not depend on
    how fast the machine happens to be)."""
    a, s = ou_coefficients(t)
    K, d = means.shape
    pilot_n = max(2, min(n_per_class_target, 2**21 // d))
    w0 = time.perf_counter()
    _naive.entropy_shared_iso(means, var, weights, a[:1], s[:1], pilot_n)
    per_draw_time = (time.perf_counter() - w0) / (K * pilot_n)  # seconds per draw per time (upper bound: warm-up)
    total_draws = budget_s / max(per_draw_time, 1e-9) / repeats
    n_times = int(min(len(t), max(1, total_draws // (K * n_per_class_target))))
    # at least MIN_NAIVE_DRAWS per class (else the agreement check means little), even beyond the budget
    n_sub = int(min(n_per_class_target, max(MIN_NAIVE_DRAWS, total_draws // (K * n_times))))
    if fixed is not None:
        n_times, n_sub = min(len(t), fixed[0]), min(n_per_class_target, fixed[1])
    idx = informative_times(reference, math.log(K), n_times)
    tm = time_calls(lambda: _naive.entropy_shared_iso(means, var, weights, a[idx], s[idx], n_sub), repeats,
                    warmup=False)
    scale = (len(t) / len(idx)) * (n_per_class_target / n_sub)
    value, stderr = tm["result"]
    return {**scaled_timing(tm, scale), "idx": idx, "n_per_class_measured": n_sub, "value": value, "stderr": stderr,
            "stderr_at_target": stderr * math.sqrt(n_sub / n_per_class_target)}


def bench_two_gaussians(quick: bool) -> tuple[list[dict], dict]:
    t = T_GRID
    dims = (10, 1_000) if quick else (10, 1_000, 1_000_000)
    repeats = 2 if quick else 5
    n_reduced = 2**10 if quick else 2**16
    n_naive_q = 2**9 if quick else 2**14
    rows, detail = [], {}
    print(f"\n== (a) two_gaussians(d), OU, T={len(t)}: quadrature and reduced vs naive full-dimensional MC ==")
    base = {}
    for d in dims:
        mix = gt.two_gaussians(d)
        means, var, weights = np.array(mix.means), 1.0, np.array(mix.weights)
        timed = {}
        for method in ("quadrature", "reduced"):  # gmmtheory first: its first call is the compiling one
            kw = {} if method == "quadrature" else {"n_samples": n_reduced}
            timed[method] = (
                time_calls(lambda: gt.class_entropy(gt.two_gaussians(d), OU, t, method=method, **kw), repeats),
                time_calls(lambda: gt.class_entropy(mix, OU, t, method=method, **kw), repeats))
        reference = timed["quadrature"][0]["result"].value
        naive = {n: naive_iso_cost(means, var, weights, t, n // 2, 0.2 if quick else 4.0, 1, reference,
                                   fixed=(4, MIN_NAIVE_DRAWS) if quick else None)
                 for n in (n_naive_q, n_reduced)}
        for method in ("quadrature", "reduced"):
            new, reused = timed[method]
            res = new["result"]
            nv = naive[n_naive_q if method == "quadrature" else n_reduced]
            ag = agreement(res.value[nv["idx"]], res.stderr[nv["idx"]], nv["value"], nv["stderr"])
            base.setdefault(method, new["median_s"])
            flat = new["median_s"] / base[method]
            n_naive = n_naive_q if method == "quadrature" else n_reduced
            print(f"  {method:10s} d={d:>9,d}: first {fmt_s(new['first_s'])}, median {fmt_s(new['median_s'])} (new "
                  f"mixture) / {fmt_s(reused['median_s'])} (reused); naive {fmt_s(nv['median_s'])} at n={n_naive:,} "
                  f"(×{nv['scale']:.3g} from {len(nv['idx'])} times × {nv['n_per_class_measured']} draws/class); "
                  f"{agree_text(ag)}")
            err = ("exact (≤ 1e-10)" if method == "quadrature"
                   else f"max {fmt_g(float(res.stderr[nv['idx']].max()))}")
            rows.append(row(
                f"H two Gaussians, {method}", f"d={d:,}, T={len(t)}" + ("" if method == "quadrature"
                                                                        else f", n={res.n_samples:,}"),
                new, baseline_s=nv["median_s"], baseline_cpu_s=nv["median_cpu_s"],
                stderr_text=(f"{err}; naive max {fmt_g(float(nv['stderr_at_target'].max()))} at n={n_naive:,}"
                             + (" (∝ 1/√n from the subset)" if nv["n_per_class_measured"] < n_naive // 2 else "")),
                notes=(f"time/time(d=10) {flat:.2f}; mixture reused {fmt_s(reused['median_s'])}; naive timed on "
                       f"{len(nv['idx'])} times × {nv['n_per_class_measured']} draws/class, SCALED ×{nv['scale']:.3g}; "
                       f"{agree_text(ag)}; {new['recompiles']} recompiles in repeats"),
            ))
            detail[f"{method}_d{d}"] = {"new": strip_result(new), "reused": strip_result(reused),
                                        "naive": {k: v for k, v in nv.items() if k not in ("value", "stderr")},
                                        "agreement": ag, "stderr_max": float(res.stderr.max())}
    return rows, detail


def bench_kclasses_shared(quick: bool) -> tuple[list[dict], dict]:
    t = T_GRID
    K, d = (2, 100) if quick else (10, 10_000)  # quick: K = 2 reuses the kernel compiled in (a)
    n = 2**10 if quick else 2**16
    repeats = 2 if quick else 5
    print(f"\n== (b) k_classes({K}, {d:,}, mu=0.1): reduced vs naive full-dimensional MC, n={n:,} ==")
    mix = gt.k_classes(K, d, mu=0.1)
    tm = time_calls(lambda: gt.class_entropy(gt.k_classes(K, d, mu=0.1), OU, t, n_samples=n, method="reduced"),
                    repeats)
    res = tm["result"]
    nv = naive_iso_cost(np.array(mix.means), 1.0, np.array(mix.weights), t, -(-n // K), 0.2 if quick else 8.0, 1,
                        res.value, fixed=(4, MIN_NAIVE_DRAWS) if quick else None)
    ag = agreement(res.value[nv["idx"]], res.stderr[nv["idx"]], nv["value"], nv["stderr"])
    print(f"  reduced: first {fmt_s(tm['first_s'])}, median {fmt_s(tm['median_s'])}; naive {fmt_s(nv['median_s'])} "
          f"(×{nv['scale']:.3g}); stderr {fmt_g(float(res.stderr.max()))} vs naive "
          f"{fmt_g(float(nv['stderr_at_target'].max()))}; {agree_text(ag)}")
    r = row(f"H {K} classes shared s²I, {res.method}", f"K={K}, d={d:,}, T={len(t)}, n={res.n_samples:,}", tm,
            baseline_s=nv["median_s"], baseline_cpu_s=nv["median_cpu_s"],
            stderr_text=(f"max {fmt_g(float(res.stderr[nv['idx']].max()))}; naive max "
                         f"{fmt_g(float(nv['stderr_at_target'].max()))} (same times, same n)"),
            notes=(f"naive timed on {len(nv['idx'])} times × {nv['n_per_class_measured']} draws/class, SCALED "
                   f"×{nv['scale']:.3g}; {agree_text(ag)}; {tm['recompiles']} recompiles in repeats"))
    return [r], {"timing": strip_result(tm), "naive": {k: v for k, v in nv.items() if k not in ("value", "stderr")},
                 "agreement": ag}


# ----------------------------------------------------------------------------------------------------- (c)
def mc_arrays(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mix = gt.random_mixture(jax.random.PRNGKey(0), K=MC_K, d=d, cov_kind="class_full")
    return np.array(mix.means), np.array(mix.component_covariances()), np.array(mix.weights)


def gmm_mc(means, covs, weights, t, n_samples, precision="float64"):
    """One gmmtheory Monte Carlo curve, building a new mixture (eigendecompositions included)."""
    mix = gt.GaussianMixture(means, covs, weights, cov_kind="class_full")
    return gt.class_entropy(mix, OU, t, method="montecarlo", n_samples=n_samples, key=jax.random.PRNGKey(1),
                            precision=precision)


def probe_gmm_mc(d: int, n_samples: int, precision: str = "float64"):
    """Memory probe (run in a child): set-up, then a callable doing one gmmtheory Monte Carlo curve."""
    means, covs, weights = mc_arrays(d)
    return lambda: gmm_mc(means, covs, weights, T_GRID, n_samples, precision)


def probe_naive_mc(d: int, n_per_class: int, n_times: int):
    """Memory probe (run in a child): set-up, then a callable running the naive code on ``n_times`` times."""
    means, covs, weights = mc_arrays(d)
    a, s = ou_coefficients(T_GRID[subset_times(len(T_GRID), n_times)])
    return lambda: _naive.entropy_full_cov(means, covs, weights, a, s, n_per_class)


def mc_bound(d: int, T: int, n_used: int, chunk: int, dtype: str, min_time: float = 0.5) -> dict:
    """Lower bound on the Monte Carlo kernel's time on this machine: its GEMM FLOPs at the measured GEMM rate of
    the kernel's own shapes, plus its normal variates at the measured ``jax.random.normal`` rate.

    Per draw (K classes, per-class full covariances): rotation of √λ_z ⊙ η into standard coordinates 2d² FLOP;
    rotation of (X_0 − μ_z, ε) into every class basis 2·2d²·K; contractions with 1/c_k(t) over the grid 2·3dT·K;
    2d normals. Everything else (softmax, entropy, reductions: O(K T) per draw) is left out of the bound."""
    f_rot = 2 * d * d + 4 * MC_K * d * d
    f_con = 6 * MC_K * d * T
    r_rot = gemm_flops("jax", dtype, 2 * chunk, d, d, min_time=min_time)
    r_con = gemm_flops("jax", dtype, 3 * chunk, d, T, min_time=min_time)
    r_nrm = normal_rate("jax", dtype, n=2**20, min_time=min_time)
    per_draw = f_rot / r_rot + f_con / r_con + 2 * d / r_nrm
    return {"flop_per_draw": f_rot + f_con, "normals_per_draw": 2 * d, "gemm_rot_flops": r_rot,
            "gemm_con_flops": r_con, "normal_rate": r_nrm, "bound_s": per_draw * n_used,
            "flop_per_draw_per_time": (f_rot + f_con) / T}


def naive_bound(d: int, T: int, n_used: int, min_time: float = 0.5) -> dict:
    """Lower bound on the naive code: per time and draw, the sampling product (2d² FLOP) and K log-densities
    (2Kd² FLOP, one GEMM each) at numpy's GEMM rate on (n, d) × (d, d), and d normals at numpy's rate (the
    per-time factorisations of the K covariances are left out)."""
    n_class = n_used // MC_K
    r = gemm_flops("numpy", "float64", n_class, d, d, min_time=min_time)
    r_nrm = normal_rate("numpy", "float64", n=2**20, min_time=min_time)
    per = 2 * (MC_K + 1) * d * d / r + d / r_nrm
    return {"flop_per_draw_per_time": 2 * (MC_K + 1) * d * d, "gemm_flops": r, "normal_rate": r_nrm,
            "bound_s": per * n_used * T}


def bench_montecarlo(quick: bool, d: int, naive_times: int, repeats: int, memory: bool | int
                     ) -> tuple[list[dict], dict]:
    """``memory``: False (skip), True (both sides at the benchmark's n) or an int n (gmmtheory only, at that n)."""
    t = T_GRID
    n_samples = 2**10 if quick else 2**14
    print(f"\n== (c) montecarlo vs naive scipy: random_mixture K={MC_K}, d={d}, class_full, OU, T={len(t)}, "
          f"n_samples={n_samples:,} requested ==")
    means, covs, weights = mc_arrays(d)
    a, s = ou_coefficients(t)
    g64 = time_calls(lambda: gmm_mc(means, covs, weights, t, n_samples), repeats)
    g32 = time_calls(lambda: gmm_mc(means, covs, weights, t, n_samples, "float32"), repeats)
    r64, r32 = g64["result"], g32["result"]
    n_used = r64.n_samples
    n_per_class = n_used // MC_K
    chunk, _ = montecarlo.chunking(n_per_class, MC_K, d, len(t))
    for name, g in (("float64", g64), ("float32", g32)):
        print(f"  gmmtheory {name}: first call {fmt_s(g['first_s'])}, median {fmt_s(g['median_s'])} wall / "
              f"{fmt_s(g['median_cpu_s'])} CPU over {repeats}; {g['recompiles']} recompiles during the repeats")
    # the same float32 draws through the float64 kernel: what float32 GEMMs cost in accuracy
    key = jax.random.PRNGKey(1)
    mix = gt.GaussianMixture(means, covs, weights, cov_kind="class_full")
    same64 = montecarlo.montecarlo_moments(mix, OU, t, "entropy", None, n_samples, key, noise_dtype="float32",
                                           gemm_dtype="float64")
    f32_err = np.abs(r32.value - same64[0])
    informative = same64[1] > 1e-6  # times where H is not ~0 or ~H[Z] to within 1e-6
    f32_rel = float(np.max(f32_err[informative] / same64[1][informative])) if informative.any() else 0.0
    print(f"  float32 GEMMs vs float64 on identical draws: max |Δ| = {f32_err.max():.2g}, max |Δ|/stderr = "
          f"{f32_rel:.3g} (over the {informative.sum()} times with stderr > 1e-6)")

    idx = informative_times(r64.value, math.log(MC_K), naive_times)
    nv = time_calls(lambda: _naive.entropy_full_cov(means, covs, weights, a[idx], s[idx], n_per_class), 1,
                    warmup=False)
    scale = len(t) / len(idx)
    nmed, ncpu = nv["median_s"] * scale, nv["median_cpu_s"] * scale
    nval, nse = nv["result"]
    ag64 = agreement(r64.value[idx], r64.stderr[idx], nval, nse)
    ag32 = agreement(r32.value[idx], r32.stderr[idx], nval, nse)
    subset = "all 64 times" if scale == 1 else f"{len(idx)} of {len(t)} times, SCALED ×{scale:g}"
    print(f"  naive scipy on {subset}: {fmt_s(nmed)} wall / {fmt_s(ncpu)} CPU; stderr max {nse.max():.2g}; "
          f"float64 {agree_text(ag64)}; float32 {agree_text(ag32)}")

    mt = 0.05 if quick else 0.5
    on_cpu = default_clock("jax") == "cpu"  # compare in process CPU time on the CPU, wall time on an accelerator
    measured = (lambda g: g["median_cpu_s"]) if on_cpu else (lambda g: g["median_s"])
    b64, b32 = mc_bound(d, len(t), n_used, chunk, "float64", mt), mc_bound(d, len(t), n_used, chunk, "float32", mt)
    nb = naive_bound(d, len(idx), n_used, mt)
    nb_frac = nb["bound_s"] / nv["median_cpu_s"]
    for name, b, g in (("float64", b64, g64), ("float32", b32, g32)):
        print(f"  bound {name}: {b['flop_per_draw'] / 1e6:.2f} MFLOP + {b['normals_per_draw']} normals per draw "
              f"({b['flop_per_draw_per_time'] / 1e3:.1f} kFLOP per draw per time); "
              f"GEMM {fmt_rate(b['gemm_rot_flops'], 'FLOP/s')}"
              f" (rotations), {fmt_rate(b['gemm_con_flops'], 'FLOP/s')} (contractions), normals "
              f"{fmt_rate(b['normal_rate'], '/s')} → bound {fmt_s(b['bound_s'])}, measured {fmt_s(measured(g))}"
              f" ({'CPU' if on_cpu else 'wall'}): {b['bound_s'] / measured(g):.0%} of the bound")
    print(f"  naive bound: {nb['flop_per_draw_per_time'] / 1e6:.2f} MFLOP per draw per time at "
          f"{fmt_rate(nb['gemm_flops'], 'FLOP/s')} → {fmt_s(nb['bound_s'])} on the times run, measured "
          f"{fmt_s(nv['median_cpu_s'])} (CPU): {nb_frac:.0%} of its bound")

    mem = {}
    if memory:  # memory_n: the kernel's memory does not depend on n beyond one chunk
        # (tests/entropy/test_montecarlo_kernel.py)
        memory_n = n_samples if memory is True else int(memory)
        mem["gmm"] = measure_memory("entropy_methods", "probe_gmm_mc", {"d": d, "n_samples": memory_n})
        mem["gmm"]["n_samples"] = memory_n
        if memory is True:
            mem["naive"] = measure_memory("entropy_methods", "probe_naive_mc",
                                          {"d": d, "n_per_class": n_per_class, "n_times": 1})
        print(f"  peak memory (fresh process, growth during one call): gmmtheory {memory_text(mem['gmm'])} at "
              f"n={memory_n:,}" + (f", naive (1 time) {memory_text(mem['naive'])}" if "naive" in mem else ""))
    size = f"K={MC_K}, d={d}, T={len(t)}, n={n_used:,}"
    rows = []
    for name, g, r, b, ag in (("float64", g64, r64, b64, ag64), ("float32", g32, r32, b32, ag32)):
        notes = [f"naive on {subset}", agree_text(ag), f"CPU {fmt_s(g['median_cpu_s'])} vs {fmt_s(ncpu)}",
                 f"naive at {nb_frac:.0%} of its bound", f"{g['recompiles']} recompiles in repeats"]
        if name == "float32":
            notes.insert(0, f"float32 draws+GEMMs, float64 logits; vs float64 kernel on identical draws max |Δ| "
                            f"{f32_err.max():.1g}, ≤ {f32_rel:.2g} stderr")
        if mem.get("naive") and name == "float64":
            notes.append(f"naive peak memory {memory_text(mem['naive'])} (per time)")
        rows.append(row(
            f"H {MC_K} classes full Σ_k, montecarlo {name}", size, g, baseline_s=nmed, baseline_cpu_s=ncpu,
            stderr_text=(f"max {fmt_g(float(r.stderr[idx].max()))}; "
                         f"naive max {fmt_g(float(nse.max()))} (same times, same n)"),
            bound_text=f"{b['bound_s'] / measured(g):.0%} (bound {fmt_s(b['bound_s'])} {'CPU' if on_cpu else 'wall'})",
            memory=(memory_text(mem.get("gmm")) + ("" if mem["gmm"]["n_samples"] == n_samples
                                                   else f" (at n={mem['gmm']['n_samples']:,})")
                    if name == "float64" and mem.get("gmm") else "n/a"),
            notes="; ".join(notes)))
    detail = {"float64": strip_result(g64), "float32": strip_result(g32), "n_used": n_used, "chunk": chunk,
              "naive": {**strip_result(nv), "idx": idx.tolist(), "scale": scale, "median_full_s": nmed,
                        "median_cpu_full_s": ncpu},
              "agreement": {"float64": ag64, "float32": ag32},
              "float32_vs_float64_same_draws": {"max_abs": float(f32_err.max()), "max_over_stderr": f32_rel},
              "bound": {"float64": b64, "float32": b32, "naive": nb}, "memory": mem,
              "value": r64.value.tolist(), "stderr": r64.stderr.tolist()}
    return rows, detail


def run(quick: bool = False, no_memory: bool = False) -> dict:
    rows, detail = [], {}
    r, detail["two_gaussians"] = bench_two_gaussians(quick)
    rows += r
    r, detail["kclasses_shared"] = bench_kclasses_shared(quick)
    rows += r
    if quick:
        r, detail["mc_d32"] = bench_montecarlo(True, 32, 2, 2, memory=False)
        rows += r
    else:
        r, detail["mc_d256"] = bench_montecarlo(False, 256, 64, 5, memory=not no_memory)
        rows += r
        r, detail["mc_d1024"] = bench_montecarlo(False, 1024, 2, 1, memory=False if no_memory else 2**12)
        rows += r
    return {"rows": rows, "detail": detail}


def _args(p) -> None:
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")


def main(argv: list[str] | None = None) -> int:
    return bench_main("entropy_methods", __doc__, run, argv, THREADS, _args)


if __name__ == "__main__":
    raise SystemExit(main())
