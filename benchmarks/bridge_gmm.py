"""The bridge's exact-mixture model ``gmmtheory.bridge.gmm.GMMDenoiser``: denoiser evaluations per second.

K = 10 per-class full covariances in d = 256 (``--quick``: d = 32), batches of 1024 noisy points at σ = 1 (EDM
convention x_σ = x_0 + σ ε): the unconditional denoiser ``model(x, σ, None)`` and ``model.log_posterior(x, σ)``, in
torch float64 and float32, on CUDA when torch sees a GPU, else on the CPU. Baseline: ``_naive.gmm_denoiser``, the numpy
code one would write — per call and class a Cholesky factorisation of Σ_k + σ²I, triangular solves, softmax — in
float64. The two agree to ~1e-12 in float64 (the table gives the largest difference; float32 rows show float32's).

Rows are skipped, with a note, when torch is not installed or ``gmmtheory/bridge/gmm.py`` is missing.
"""

from __future__ import annotations

import os
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
from benchmarks import _naive, bench_main, fmt_s, row, strip_result, time_calls  # noqa: E402

K, BATCH, SIGMA = 10, 1024, 1.0


def _skip(reason: str) -> dict:
    print(f"  skipped: {reason}")
    return {"rows": [row("bridge GMMDenoiser throughput", f"K={K}, d=256, batch {BATCH}", ratio_text="skipped",
                         notes=f"skipped: {reason}")], "detail": {"skipped": reason}}


def run(quick: bool = False) -> dict:
    try:
        import torch
    except ImportError:
        return _skip("torch is not installed (pip install gmmtheory[bridge])")
    try:
        from gmmtheory.bridge.gmm import GMMDenoiser
    except ImportError as e:
        return _skip(f"gmmtheory.bridge.gmm is not available ({e})")
    threads = int(os.environ.get("GMM_BENCH_THREADS", "0"))
    if threads > 0:
        torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    d = 32 if quick else 256
    repeats = 3 if quick else 10
    mix = gt.random_mixture(jax.random.PRNGKey(0), K=K, d=d, cov_kind="class_full")
    means, covs, weights = np.array(mix.means), np.array(mix.component_covariances()), np.array(mix.weights)
    rng = np.random.default_rng(0)
    z = rng.choice(K, size=BATCH, p=weights)
    x0 = np.stack([rng.multivariate_normal(means[k], covs[k]) for k in z])
    x_np = x0 + SIGMA * rng.standard_normal(x0.shape)
    print(f"\n== GMMDenoiser: K={K}, d={d}, batch {BATCH}, σ={SIGMA}, torch {torch.__version__} on {device} "
          f"({torch.get_num_threads()} CPU threads) ==")
    nv = time_calls(lambda: _naive.gmm_denoiser(means, covs, weights, x_np, SIGMA), repeats)
    nv_post = time_calls(lambda: _naive._ExactGMM(means, covs, weights).log_posterior(x_np, SIGMA), repeats)
    ref, ref_post = nv["result"], nv_post["result"]
    sync = (lambda: torch.cuda.synchronize()) if device == "cuda" else (lambda: None)
    rows, detail = [], {"naive": strip_result(nv), "naive_posterior": strip_result(nv_post), "device": device}
    for dtype in (torch.float64, torch.float32):
        model = GMMDenoiser(mix, device=device, dtype=dtype)
        x = torch.as_tensor(x_np, dtype=dtype, device=device)
        name = str(dtype).replace("torch.", "")

        def den():
            out = model(x, SIGMA, None)
            sync()
            return out

        def post():
            out = model.log_posterior(x, SIGMA)
            sync()
            return out

        for what, fn, base, target in (("denoiser D(x; σ)", den, nv, ref), ("log p(k | x)", post, nv_post, ref_post)):
            g = time_calls(fn, repeats)
            out = g["result"].detach().cpu().numpy().astype(np.float64)
            diff = float(np.max(np.abs(out - target)))
            rate, nrate = BATCH / g["median_s"], BATCH / base["median_s"]
            print(f"  {what} {name}: {fmt_s(g['median_s'])} per batch = {rate:,.0f} evaluations/s; naive "
                  f"{fmt_s(base['median_s'])} = {nrate:,.0f}/s; speed-up {base['median_s'] / g['median_s']:.1f}×; "
                  f"max |difference| {diff:.2g}")
            rows.append(row(f"bridge GMMDenoiser {what}, torch {name}", f"K={K}, d={d}, batch {BATCH}", g,
                            baseline_s=base["median_s"], baseline_cpu_s=base["median_cpu_s"],
                            stderr_text=f"exact; max |Δ| vs naive {diff:.1g}",
                            notes=f"{rate:,.0f} vs {nrate:,.0f} evaluations/s (naive numpy float64, Cholesky per "
                                  f"class per call); torch on {device}"))
            detail[f"{what}_{name}"] = {**strip_result(g), "max_abs_diff": diff, "per_s": rate, "naive_per_s": nrate}
    return {"rows": rows, "detail": detail}


def main(argv: list[str] | None = None) -> int:
    return bench_main("bridge_gmm", __doc__, run, argv, THREADS)


if __name__ == "__main__":
    raise SystemExit(main())
