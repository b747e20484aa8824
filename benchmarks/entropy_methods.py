"""Benchmark the class-conditional entropy methods of gmmtheory.

(a) d-independence of the exact methods: ``gt.class_entropy(gt.two_gaussians(d), gt.OU(), t, method=m)`` for
    m in {"quadrature", "reduced"} on a 64-point OU time grid, d = 10, 10³, 10⁶. Timed end to end exactly as written
    (a new mixture object per call, so the O(d) set-up — building the means, the spectral bookkeeping — is included)
    and, separately, with one mixture object reused (its per-mixture preprocessing cached).

(b) Full-dimensional Monte Carlo against a naive numpy/scipy baseline: a random 10-class mixture with per-class full
    covariances in d = 256 (``gt.random_mixture(PRNGKey(0), K=10, d=256, cov_kind="class_full")``), 64 OU times,
    2¹⁴ requested samples. The baseline is the code a researcher would write: for every time t and every class k,
    build C_k(t) = a²Σ_k + σ²I and ``scipy.stats.multivariate_normal(a μ_k, C_k)``, draw fresh samples
    x ~ p_t stratified by class (the same number per class as gmmtheory actually used), evaluate every ``logpdf``,
    softmax, entropy, stratified mean and standard error. Both run in this process; we report median times, the
    speed ratio, the standard errors reached and whether the two estimates agree within 4 combined standard errors.
    Peak memory is measured in fresh child processes (peak RSS, ``VmHWM``), one per implementation.

(c) A Markdown summary table of every row.

Run ``python benchmarks/entropy_methods.py`` or ``python -m benchmarks.entropy_methods`` (``--quick`` for a smoke
run, ``--json PATH`` to save the rows). Timings are medians of repeats after a warm-up call; the machine may be
shared with other work, so they are noisy: compare ratios measured in the same run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable for ``benchmarks``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import configure_threads  # noqa: E402  (imports nothing heavy)

# Thread limits are read when numpy / jax load, so --threads is parsed before importing them.
_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--threads", type=int, default=1)
THREADS = _pre.parse_known_args()[0].threads if __name__ == "__main__" else int(os.environ.get("GMM_BENCH_THREADS", 1))
THREAD_SETTING = configure_threads(THREADS)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from scipy.special import log_softmax  # noqa: E402
from scipy.stats import multivariate_normal  # noqa: E402

import gmmtheory as gt  # noqa: E402
from benchmarks import fmt_g, fmt_s, machine_info, markdown_table, strip_result, time_calls  # noqa: E402

T_GRID = np.linspace(0.05, 8.0, 64)  # OU times; covers the speciation window of both benchmark mixtures
DIMS = (10, 1_000, 1_000_000)
MC_K, MC_D = 10, 256
AGREE_SIGMAS = 4.0
AGREE_FLOOR = 1e-12  # absolute slack for times where both estimates are ~0 with ~0 standard error (rounding)
NAIVE_BUDGET_S = 180.0  # one naive full-grid run predicted longer than this → time a subset of times, extrapolate
NAIVE_TOTAL_S = 420.0  # at most this much (predicted) for all naive full-grid repeats together


# --------------------------------------------------------------------------------------------- naive baseline
def naive_entropy(
    means: np.ndarray,
    covs: np.ndarray,
    weights: np.ndarray,
    alpha: np.ndarray,
    sigma: np.ndarray,
    n_per_class: int,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """H[Z | X_t] by plain Monte Carlo with scipy, one time at a time: what a researcher would write.

    For each t: C_k = a²Σ_k + σ²I, frozen ``multivariate_normal(a μ_k, C_k)`` per class; fresh draws x ~ N(aμ_z, C_z)
    (``n_per_class`` per class z), ``logpdf`` of every x under every class, log-softmax with log π_k, entropy per draw,
    class-stratified mean Σ_z π_z mean_z and standard error √(Σ_z π_z² var_z / n_z).
    """
    rng = np.random.default_rng(seed)
    K, d = means.shape
    log_w = np.log(weights)
    eye = np.eye(d)
    value = np.empty(len(alpha))
    stderr = np.empty(len(alpha))
    for i, (a, s) in enumerate(zip(alpha, sigma)):
        dists = [multivariate_normal(mean=a * means[k], cov=a**2 * covs[k] + s**2 * eye) for k in range(K)]
        x = np.concatenate([dists[z].rvs(size=n_per_class, random_state=rng).reshape(n_per_class, d) for z in range(K)])
        logits = np.stack([dists[k].logpdf(x) for k in range(K)], axis=1) + log_w  # (K·n, K)
        logp = log_softmax(logits, axis=1)
        h = -np.sum(np.exp(logp) * logp, axis=1).reshape(K, n_per_class)  # row z: draws from class z
        value[i] = weights @ h.mean(axis=1)
        stderr[i] = math.sqrt(weights**2 @ (h.var(axis=1, ddof=1) / n_per_class))
    return value, stderr


# --------------------------------------------------------------------------------------------------- helpers
def mc_mixture_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mix = gt.random_mixture(jax.random.PRNGKey(0), K=MC_K, d=MC_D, cov_kind="class_full")
    return np.array(mix.means), np.array(mix.component_covariances()), np.array(mix.weights)


def ou_coefficients(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ou = gt.OU()
    return np.asarray(ou.alpha(t), np.float64), np.asarray(ou.sigma(t), np.float64)


def gmm_montecarlo(means, covs, weights, t, n_samples, precision="float64", fresh=True, _cache={}):
    """One gmmtheory Monte Carlo curve. ``fresh``: build a new mixture object (eigendecomposition included)."""
    if fresh or "mix" not in _cache:
        _cache["mix"] = gt.GaussianMixture(means, covs, weights, cov_kind="class_full")
    return gt.class_entropy(
        _cache["mix"], gt.OU(), t, method="montecarlo", n_samples=n_samples, key=jax.random.PRNGKey(1),
        precision=precision,
    )


def agreement(v1, s1, v2, s2) -> dict:
    diff = np.abs(np.asarray(v1) - np.asarray(v2))
    comb = np.sqrt(np.asarray(s1) ** 2 + np.asarray(s2) ** 2)
    ok = diff <= AGREE_SIGMAS * comb + AGREE_FLOOR
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(comb > 0, diff / comb, np.where(diff > AGREE_FLOOR, np.inf, 0.0))
    return {
        "n_times": int(diff.size),
        "n_agree": int(ok.sum()),
        "all_agree": bool(ok.all()),
        "max_abs_z": float(z.max()),
        "max_abs_diff": float(diff.max()),
    }


# ------------------------------------------------------------------------------------------ memory children
def peak_rss_kb() -> int:
    """Peak resident set size of this process in KiB: VmHWM from /proc (reset at exec, unlike ``ru_maxrss``, which
    a child started by fork + exec inherits from its parent), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _child_main(which: str, n_samples: int, n_times: int) -> None:
    """Runs in a fresh process: set up, record the peak RSS, run one call, record the peak RSS again; print JSON."""
    means, covs, weights = mc_mixture_arrays()
    t = T_GRID[:: max(1, len(T_GRID) // n_times)][:n_times]
    alpha, sigma = ou_coefficients(t)
    setup_kb = peak_rss_kb()
    if which == "gmm":
        res = gmm_montecarlo(means, covs, weights, t, n_samples)
        n_used = res.n_samples
    else:
        n_used = MC_K * (-(-n_samples // MC_K))
        naive_entropy(means, covs, weights, alpha, sigma, n_used // MC_K)
    peak_kb = peak_rss_kb()
    print(json.dumps({"which": which, "setup_kb": setup_kb, "peak_kb": peak_kb, "n_times": len(t), "n": n_used}))


def measure_memory(n_samples: int, n_per_class: int, naive_times: int) -> dict:
    """Peak resident memory of one call of each implementation, each in a fresh child process."""
    out = {}
    for which, n, times in (("gmm", n_samples, len(T_GRID)), ("naive", n_per_class * MC_K, naive_times)):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_memory-child", which, "--_n", str(n),
               "--_times", str(times), "--threads", str(THREADS)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            out[which] = {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
            continue
        out[which] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# ---------------------------------------------------------------------------------------------- benchmarks
def bench_exact(t: np.ndarray, repeats: int) -> tuple[list[dict], dict]:
    print(f"\n== (a) two_gaussians(d), OU, T={len(t)} times: cost versus d ==")
    rows, detail = [], {}
    for method in ("quadrature", "reduced"):
        per_d = {}
        for d in DIMS:
            new = time_calls(lambda: gt.class_entropy(gt.two_gaussians(d), gt.OU(), t, method=method), repeats)
            mix = gt.two_gaussians(d)
            reused = time_calls(lambda: gt.class_entropy(mix, gt.OU(), t, method=method), repeats)
            res = new["result"]
            per_d[d] = {"new_mixture": strip_result(new), "reused_mixture": strip_result(reused),
                        "stderr_max": float(np.max(res.stderr)), "n_samples": res.n_samples,
                        "value_at_tmax": float(res.value[-1])}
            print(f"  {method:10s} d={d:>9,d}: first call {fmt_s(new['first_s']):>9s}  median {fmt_s(new['median_s']):>9s}"
                  f" wall / {fmt_s(new['median_cpu_s']):>9s} CPU (new mixture each call);  "
                  f"{fmt_s(reused['median_s']):>9s} wall (same mixture reused);  max stderr {fmt_g(per_d[d]['stderr_max'])}")
        lo, hi = per_d[DIMS[0]], per_d[DIMS[-1]]
        r_new = hi["new_mixture"]["median_s"] / lo["new_mixture"]["median_s"]
        r_cpu = hi["new_mixture"]["median_cpu_s"] / lo["new_mixture"]["median_cpu_s"]
        r_reused = hi["reused_mixture"]["median_s"] / lo["reused_mixture"]["median_s"]
        print(f"  {method}: time(d=10^6) / time(d=10) = {r_new:.2f} wall, {r_cpu:.2f} CPU (new mixture each call); "
              f"{r_reused:.2f} wall (same mixture reused)")
        detail[method] = {"per_d": {str(k): v for k, v in per_d.items()}, "ratio_wall_new": r_new,
                          "ratio_cpu_new": r_cpu, "ratio_wall_reused": r_reused}
        for d in DIMS:
            q = per_d[d]
            rows.append({
                "benchmark": f"class_entropy {method}, two_gaussians, OU",
                "size": f"d={d:,}, T={len(t)}",
                "median_s": q["new_mixture"]["median_s"],
                "first_s": q["new_mixture"]["first_s"],
                "baseline_median_s": None,
                "ratio_text": f"{q['new_mixture']['median_s'] / lo['new_mixture']['median_s']:.2f}× wall, "
                              f"{q['new_mixture']['median_cpu_s'] / lo['new_mixture']['median_cpu_s']:.2f}× CPU "
                              "of d=10",
                "stderr_text": "0 (exact)" if method == "quadrature" else f"max {fmt_g(q['stderr_max'])}",
                "notes": f"same mixture reused: {fmt_s(q['reused_mixture']['median_s'])}"
                + (f"; n={q['n_samples']:,}" if method == "reduced" else ""),
            })
    return rows, detail


def bench_montecarlo(t, n_samples, repeats, naive_repeats, naive_subset, do_memory, f32) -> tuple[list[dict], dict]:
    print(f"\n== (b) montecarlo vs naive scipy: random_mixture K={MC_K}, d={MC_D}, class_full, OU, T={len(t)}, "
          f"n_samples={n_samples:,} requested ==")
    means, covs, weights = mc_mixture_arrays()
    alpha, sigma = ou_coefficients(t)

    g = time_calls(lambda: gmm_montecarlo(means, covs, weights, t, n_samples), repeats)
    g_reused = time_calls(lambda: gmm_montecarlo(means, covs, weights, t, n_samples, fresh=False), repeats)
    res = g["result"]
    n_used = int(res.n_samples)
    n_per_class = n_used // MC_K
    print(f"  gmmtheory montecarlo: first call (incl. compile) {fmt_s(g['first_s'])}; median {fmt_s(g['median_s'])} "
          f"wall / {fmt_s(g['median_cpu_s'])} CPU over {repeats} (new mixture incl. eigendecomposition each call); "
          f"{fmt_s(g_reused['median_s'])} wall with the mixture reused")
    print(f"  samples used: {n_used:,} ({n_per_class:,} per class; the library rounds the requested {n_samples:,} up "
          f"to whole chunks) — the naive baseline uses the same {n_per_class:,} per class")

    f32_detail = None
    if f32:
        g32 = time_calls(lambda: gmm_montecarlo(means, covs, weights, t, n_samples, precision="float32"), repeats)
        r32 = g32["result"]
        f32_detail = {**strip_result(g32), "stderr_max": float(np.max(r32.stderr)),
                      "agreement_vs_float64": agreement(res.value, res.stderr, r32.value, r32.stderr)}
        print(f"  gmmtheory montecarlo precision='float32': first {fmt_s(g32['first_s'])}; median "
              f"{fmt_s(g32['median_s'])} wall / {fmt_s(g32['median_cpu_s'])} CPU; max |float32 − float64| = "
              f"{f32_detail['agreement_vs_float64']['max_abs_diff']:.2g} (independent draws: float32 samples differ), "
              f"within 4σ at {f32_detail['agreement_vs_float64']['n_agree']}/{len(t)} times")

    # Naive baseline: warm-up / pilot on one time, then the full grid, or a subset if the pilot predicts > budget.
    w0 = time.perf_counter()
    naive_entropy(means, covs, weights, alpha[:1], sigma[:1], n_per_class)
    pilot = time.perf_counter() - w0
    one_run = pilot * len(t)
    if naive_subset is None:
        if one_run <= NAIVE_BUDGET_S:  # full grid; as many repeats (≤ naive_repeats) as fit the total budget
            naive_subset = len(t)
            naive_repeats = max(1, min(naive_repeats, int(NAIVE_TOTAL_S // one_run)))
        else:
            naive_subset = 16
    idx = np.arange(len(t)) if naive_subset >= len(t) else np.linspace(0, len(t) - 1, naive_subset).round().astype(int)
    extrapolated = len(idx) < len(t)
    scale = len(t) / len(idx)
    print(f"  naive pilot (warm-up): one time takes {fmt_s(pilot)} → one full-grid run ≈ {fmt_s(one_run)}; "
          f"timing {naive_repeats} run(s) of the naive code on "
          + (f"a SUBSET of {len(idx)} of {len(t)} times (evenly spaced) and EXTRAPOLATING linearly (× {scale:g})"
             if extrapolated else f"all {len(t)} times"))
    nv = ns = None

    def naive_call():
        return naive_entropy(means, covs, weights, alpha[idx], sigma[idx], n_per_class)

    n = time_calls(naive_call, naive_repeats, warmup=False)
    nv, ns = n["result"]
    for w, c in zip(n["times_s"], n["cpu_s"]):
        print(f"    naive repeat: {fmt_s(w)} wall, {fmt_s(c)} CPU")
    n_med, n_med_cpu = n["median_s"] * scale, n["median_cpu_s"] * scale
    ratio, ratio_cpu = n_med / g["median_s"], n_med_cpu / g["median_cpu_s"]
    agree = agreement(res.value[idx], res.stderr[idx], nv, ns)

    print(f"  naive scipy: median {fmt_s(n['median_s'])} wall / {fmt_s(n['median_cpu_s'])} CPU over {naive_repeats} "
          f"on {len(idx)} times" + (f" → EXTRAPOLATED to {len(t)} times: {fmt_s(n_med)} wall / {fmt_s(n_med_cpu)} CPU"
                                    if extrapolated else ""))
    print(f"  speed ratio naive / gmmtheory = {ratio:.1f}× wall, {ratio_cpu:.1f}× CPU "
          f"({'naive extrapolated' if extrapolated else 'both measured on the full grid'})")
    print(f"  standard errors: gmmtheory max {res.stderr.max():.2g} (median over t {np.median(res.stderr):.2g}); "
          f"naive max {ns.max():.2g} (median over t {np.median(ns):.2g})")
    print(f"  agreement within {AGREE_SIGMAS:g} combined stderr (+{AGREE_FLOOR:g} absolute): {agree['n_agree']}/"
          f"{agree['n_times']} times, max |z| = {agree['max_abs_z']:.2f} → "
          f"{'AGREE' if agree['all_agree'] else 'DISAGREE'}")
    for j in np.linspace(0, len(idx) - 1, min(5, len(idx))).round().astype(int):
        i = idx[j]
        print(f"    t={t[i]:6.3f}: gmmtheory {res.value[i]:.5f} ± {res.stderr[i]:.1e}   naive {nv[j]:.5f} ± {ns[j]:.1e}")

    memory = None
    if do_memory:
        memory = measure_memory(n_samples, n_per_class, naive_times=2)
        for which, m in memory.items():
            if "error" in m:
                print(f"  peak memory {which}: child failed: {m['error']}")
            else:
                print(f"  peak RSS {which} (fresh process, {m['n_times']} times): {m['peak_kb'] / 1024:.0f} MiB total, "
                      f"+{(m['peak_kb'] - m['setup_kb']) / 1024:.0f} MiB above the peak after imports and set-up")

    size = f"K={MC_K}, d={MC_D}, T={len(t)}, n={n_used:,}"
    extra = " (naive extrapolated)" if extrapolated else ""
    notes = [f"agree {agree['n_agree']}/{agree['n_times']} times within 4σ (max |z| {agree['max_abs_z']:.2f})",
             f"naive EXTRAPOLATED from {len(idx)} of {len(t)} times" if extrapolated else f"naive on all {len(t)} times",
             f"CPU: {fmt_s(g['median_cpu_s'])} vs {fmt_s(n_med_cpu)}"]
    if memory and all("error" not in m for m in memory.values()):
        gm, nm = memory["gmm"], memory["naive"]
        notes.append(f"peak RSS +{(gm['peak_kb'] - gm['setup_kb']) / 1024:.0f} MiB vs "
                     f"+{(nm['peak_kb'] - nm['setup_kb']) / 1024:.0f} MiB")
    notes.append(f"mixture reused: {fmt_s(g_reused['median_s'])}")
    rows = [{
        "benchmark": "class_entropy montecarlo vs naive scipy logpdf, random_mixture class_full, OU",
        "size": size,
        "median_s": g["median_s"],
        "first_s": g["first_s"],
        "baseline_median_s": n_med,
        "ratio_text": f"{ratio:.1f}× faster (CPU {ratio_cpu:.1f}×){extra}",
        "stderr_text": f"max {res.stderr.max():.2g} (naive {ns.max():.2g})",
        "notes": "; ".join(notes),
    }]
    if f32_detail is not None:
        rows.append({
            "benchmark": "class_entropy montecarlo precision='float32' (same problem)",
            "size": size,
            "median_s": f32_detail["median_s"],
            "first_s": f32_detail["first_s"],
            "baseline_median_s": n_med,
            "ratio_text": f"{n_med / f32_detail['median_s']:.1f}× faster (CPU "
                          f"{n_med_cpu / f32_detail['median_cpu_s']:.1f}×){extra}",
            "stderr_text": f"max {f32_detail['stderr_max']:.2g}",
            "notes": f"agrees with float64 at {f32_detail['agreement_vs_float64']['n_agree']}/{len(t)} times "
                     "within 4σ (float32 draws differ from float64 draws)",
        })
    detail = {
        "gmm": {**strip_result(g), "reused_mixture": strip_result(g_reused), "n_samples_requested": n_samples,
                "n_samples_used": n_used, "value": res.value.tolist(), "stderr": res.stderr.tolist()},
        "gmm_float32": f32_detail,
        "naive": {**strip_result(n), "pilot_one_time_s": pilot, "times_idx": idx.tolist(), "extrapolated": extrapolated,
                  "median_full_grid_s": n_med, "median_cpu_full_grid_s": n_med_cpu,
                  "value": nv.tolist(), "stderr": ns.tolist()},
        "ratio_wall": ratio,
        "ratio_cpu": ratio_cpu,
        "agreement": agree,
        "memory": memory,
    }
    return rows, detail


def run(quick: bool = False, memory: bool | None = None, naive_subset: int | None = None,
        f32: bool = True) -> dict:
    meta = machine_info()
    meta["benchmark"] = "entropy_methods"
    meta["mode"] = "quick" if quick else "full"
    meta["threads"] = THREAD_SETTING
    print(f"machine: {meta['cpu']}, {meta['cores']} cores, {meta['platform']}; jax {meta['jax']} "
          f"({meta['jax_backend']}), numpy {meta['numpy']}, scipy {meta['scipy']}")
    print(f"threads: {THREAD_SETTING}")
    print(f"load average at start {meta['loadavg_start']} (shared machine: timings are noisy; we report medians, "
          "and CPU time, which other processes disturb less)")
    t = T_GRID
    repeats = 3 if quick else 5
    rows_a, detail_a = bench_exact(t, repeats)
    if quick:
        n_samples, naive_repeats = 2**12, 1
        naive_subset = 8 if naive_subset is None else naive_subset
        memory = False if memory is None else memory
    else:
        n_samples, naive_repeats = 2**14, 3
        memory = True if memory is None else memory
    rows_b, detail_b = bench_montecarlo(t, n_samples, repeats, naive_repeats, naive_subset, memory, f32)
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return {"meta": meta, "rows": rows_a + rows_b, "detail": {"exact": detail_a, "montecarlo": detail_b}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 3 repeats, 2^12 samples, naive on 8 of 64 times (extrapolated), 1 naive repeat")
    p.add_argument("--json", metavar="PATH", help="write meta, rows and raw timings as JSON")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS and XLA threads for both implementations (default 1: a fair per-core comparison that "
                        "avoids OpenBLAS spin-waiting on a busy machine; 0 = library defaults)")
    p.add_argument("--naive-times", type=int, default=None,
                   help="time the naive baseline on this many of the 64 times and extrapolate (default: all 64 "
                        f"unless the pilot predicts more than {NAIVE_BUDGET_S:.0f} s per run, then 16)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    p.add_argument("--no-float32", action="store_true", help="skip the precision='float32' Monte Carlo row")
    p.add_argument("--_memory-child", choices=("gmm", "naive"), help=argparse.SUPPRESS)
    p.add_argument("--_n", type=int, default=2**14, help=argparse.SUPPRESS)
    p.add_argument("--_times", type=int, default=64, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._memory_child:
        _child_main(args._memory_child, args._n, args._times)
        return 0
    t0 = time.perf_counter()
    out = run(quick=args.quick, memory=False if args.no_memory else None, naive_subset=args.naive_times,
              f32=not args.no_float32)
    out["meta"]["total_wall_s"] = time.perf_counter() - t0
    out["meta"]["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    print("\n== summary ==\n")
    print(markdown_table(out["rows"], out["meta"]))
    print(f"\ntotal wall time {fmt_s(out['meta']['total_wall_s'])}; load average at end {out['meta']['loadavg_end']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
