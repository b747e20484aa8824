"""Scaling curves: time of ``gt.class_entropy`` against d, K, the number of draws n and the grid size T.

Each point is the median of 3 calls after a warm-up call (each new shape compiles once; compilation is excluded),
with one mixture object reused (so only the entropy computation is timed, not the mixture's construction). Methods:
``quadrature`` (two Gaussians), ``reduced`` (two Gaussians / K orthogonal classes with shared s²I) and
``montecarlo`` (per-class full covariances, ``gt.random_mixture(..., "class_full")``). The table gives the log-log
slope of each curve (time ∝ x^slope, fitted over the upper half of the range, where fixed overheads no longer
dominate) and the expected one; the figure ``benchmarks/figures/scaling.png`` shows the curves, with the Monte Carlo
kernel's operation count (2K + 1) d² + 3 K d T per draw drawn through the largest measured point.
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
from benchmarks import bench_main, fmt_s, row, time_calls  # noqa: E402

OU = gt.OU()
FIGURE = Path(__file__).resolve().parent / "figures" / "scaling.png"


def _t(T: int) -> np.ndarray:
    return np.linspace(0.05, 8.0, T)


def _curve(xs, make_call, repeats: int = 3) -> dict:
    times, firsts = [], []
    for x in xs:
        tm = time_calls(make_call(x), repeats)
        times.append(tm["median_s"])
        firsts.append(tm["first_s"])
        print(f"    x={x:>9,}: {fmt_s(tm['median_s'])} (first call {fmt_s(tm['first_s'])})", flush=True)
    return {"x": [int(x) for x in xs], "median_s": times, "first_s": firsts}


def slope(curve: dict) -> float:
    """Least-squares slope of log time against log x over the upper half of the points."""
    x, y = np.log(curve["x"]), np.log(curve["median_s"])
    h = len(x) // 2 if len(x) >= 4 else 0
    return float(np.polyfit(x[h:], y[h:], 1)[0])


def mc_ops(K: int, d: int, T: int) -> float:
    return (2 * K + 1) * d * d + 3 * K * d * T


def curves(quick: bool) -> dict:
    out: dict[str, dict] = {}

    def mc(K, d, T, n):
        m = gt.random_mixture(jax.random.PRNGKey(0), K, d, "class_full")
        return lambda: gt.class_entropy(m, OU, _t(T), method="montecarlo", n_samples=n)

    if quick:  # smoke run: two short curves whose kernels entropy_methods --quick has compiled already
        for method, kw in (("quadrature", {}), ("reduced", {"n_samples": 2**10})):
            out[f"d/{method}"] = _curve([10, 10**4], lambda d, method=method, kw=kw: (
                lambda m=gt.two_gaussians(d): (lambda: gt.class_entropy(m, OU, _t(64), method=method, **kw)))(), 2)
        return out
    # versus d
    dims_exact = [10, 100, 1000, 10**4, 10**5, 10**6]
    for method, n in (("quadrature", None), ("reduced", 2**14)):
        print(f"  vs d: {method}", flush=True)
        kw = {} if n is None else {"n_samples": n}
        out[f"d/{method}"] = _curve(dims_exact, lambda d, kw=kw, method=method: (
            lambda m=gt.two_gaussians(d): (lambda: gt.class_entropy(m, OU, _t(64), method=method, **kw)))())
    print("  vs d: montecarlo (K=4, T=16, n=2^12)", flush=True)
    out["d/montecarlo"] = _curve([16, 32, 64, 128, 256, 512],
                                 lambda d: mc(4, d, 16, 2**12))
    # versus K
    print("  vs K: montecarlo (d=64, T=16, n=2^12) and reduced (d=64, n=2^14)", flush=True)
    Ks = [2, 4, 8, 16, 32]
    out["K/montecarlo"] = _curve(Ks, lambda K: mc(K, 64, 16, 2**12))
    out["K/reduced"] = _curve(Ks[:-1], lambda K: (lambda m=gt.k_classes(K, 64, mu=0.3): (
        lambda: gt.class_entropy(m, OU, _t(64), method="reduced", n_samples=2**14)))())
    # versus n
    print("  vs n: montecarlo (K=4, d=64, T=16) and reduced (K=4, d=64, T=64)", flush=True)
    ns = [2**10, 2**12, 2**14, 2**16]
    out["n/montecarlo"] = _curve(ns, lambda n: mc(4, 64, 16, n))
    out["n/reduced"] = _curve([2**11, 2**13, 2**15, 2**17], lambda n: (
        lambda m=gt.k_classes(4, 64, mu=0.3): (lambda: gt.class_entropy(m, OU, _t(64), method="reduced",
                                                                           n_samples=n)))())
    # versus T
    print("  vs T: montecarlo (K=4, d=128, n=2^12) and quadrature", flush=True)
    out["T/montecarlo"] = _curve([8, 32, 128, 512, 2048], lambda T: mc(4, 128, T, 2**12))
    out["T/quadrature"] = _curve([8, 64, 512, 4096, 32768], lambda T: (
        lambda m=gt.two_gaussians(1000): (lambda: gt.class_entropy(m, OU, _t(T))))())
    return out


EXPECTED = {
    "d/quadrature": ("0 (flat in d)", 0.0),
    "d/reduced": ("0 (flat in d)", 0.0),
    "d/montecarlo": ("→ 2 once d ≫ T (rotations (2K+1)d²)", None),
    "K/montecarlo": ("1 (K rotations and contractions per draw)", 1.0),
    "K/reduced": ("→ 2 (each draw is scored as if from each of the K classes: K² logits per draw and time)", None),
    "n/montecarlo": ("1", 1.0),
    "n/reduced": ("1", 1.0),
    "T/montecarlo": ("< 1 while 3KdT < (2K+1)d² (rotations shared by all times), → 1 beyond", None),
    "T/quadrature": ("1 (nodes × times)", 1.0),
}


def figure(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    panels = (("d", "dimension d"), ("K", "number of classes K"), ("n", "draws n"), ("T", "time-grid size T"))
    for ax, (var, label) in zip(axes.flat, panels):
        for key, c in out.items():
            if key.split("/")[0] != var:
                continue
            method = key.split("/")[1]
            ax.loglog(c["x"], c["median_s"], "o-", label=method)
            if method == "montecarlo" and var in ("d", "T"):
                K, d, T = (4, np.array(c["x"]), 16) if var == "d" else (4, 128, np.array(c["x"]))
                ops = mc_ops(K, d, T)
                ax.loglog(c["x"], ops / ops[-1] * c["median_s"][-1], ":", color="gray",
                          label="(2K+1)d² + 3KdT (scaled)")
        if var == "K":  # few, small values: label them plainly
            from matplotlib.ticker import NullFormatter, ScalarFormatter

            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xticks(sorted({x for k, c in out.items() if k.startswith("K/") for x in c["x"]}))
        ax.set_xlabel(label)
        ax.set_ylabel("median time per call (s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("gmmtheory.class_entropy: cost scaling (compilation excluded, mixture reused)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run(quick: bool = False, figure_path: str | None = None) -> dict:
    out = curves(quick)
    path = Path(figure_path) if figure_path else (None if quick else FIGURE)
    if path is not None:
        figure(out, path)
        print(f"  wrote {path}")
    rows = []
    for key, c in out.items():
        var, method = key.split("/")
        s = slope(c)
        exp_text, _ = EXPECTED[key]
        rows.append(row(f"scaling of {method} in {var}", f"{var} = {c['x'][0]:,} … {c['x'][-1]:,}",
                        {"median_s": c["median_s"][-1]}, ratio_text=f"time ∝ {var}^{s:.2f}",
                        stderr_text="—", notes=f"expected slope {exp_text}; time at the smallest {var}: "
                                               f"{fmt_s(c['median_s'][0])}, at the largest: {fmt_s(c['median_s'][-1])}"
                                               f" (the gmmtheory column)"))
    return {"rows": rows, "detail": out}


def _args(p) -> None:
    p.add_argument("--figure-path", help=f"where to write the figure (default {FIGURE.relative_to(FIGURE.parents[2])}; "
                                         "not written with --quick unless given)")


def main(argv: list[str] | None = None) -> int:
    return bench_main("scaling", __doc__, run, argv, THREADS, _args)


if __name__ == "__main__":
    raise SystemExit(main())
