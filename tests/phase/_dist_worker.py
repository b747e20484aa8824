"""One process of the multi-process tests (``test_distributed.py``), also the home of their sweeps.

    python _dist_worker.py MODE OUT [CACHE]

run by ``gmmtheory.distributed.launch_local`` (the three ``JAX_*`` variables set). Modes:

- ``compare``: the fast-path diagram, the cell-loop diagram and a Monte Carlo class-entropy curve, saved per process
  to ``OUT/result_<pid>.npz`` (with the process count and whether the Monte Carlo split was active);
- ``resume``: the cell-loop diagram with ``cache=CACHE``, recording the cells this process computed and the cache's
  rejected files;
- ``kill``: the fast-path diagram in single-row chunks; process 1 exits (status 3) after its first chunk;
- ``idle``: start the run and stop (for a worker that never starts).
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np

from gmmtheory.distributed import distributed_run, split_active
from gmmtheory.entropy.api import class_entropy
from gmmtheory.phase.sweep import phase_diagram
from gmmtheory.presets import k_classes
from gmmtheory.processes import OU

T_GRID = np.linspace(0.05, 4.0, 12)
MC_SAMPLES = 3 * 2048


def fast_diagram(**kw):
    """Two Gaussians, d × μ̃ (6 cells) × 12 times, every quantity: the vectorised binary-channel path, 3 chunks."""
    return phase_diagram({"d": [10, 100, 1000], "mu": [0.1, 0.3]}, T_GRID, process=OU(), chunk_size=2,
                         progress=False, **kw)


def cell_diagram(**kw):
    """Two Gaussians over d (3 cells), H and φ by full-dimensional Monte Carlo: the per-cell loop."""
    return phase_diagram({"d": [4, 16, 64]}, T_GRID, model="two", process=OU(), quantities=("H", "phi"),
                         method="montecarlo", n_samples=512, key=5, progress=False, **kw)


def mc_curve():
    """H[Z | X_t] of three orthogonal classes in d = 8 by Monte Carlo (3 chunks: one per class)."""
    mix = k_classes(3, 8, mu=1.0)
    return class_entropy(mix, OU(), T_GRID, method="montecarlo", n_samples=MC_SAMPLES, key=11, warn=False)


def main(mode: str, out: str, cache: str | None = None) -> None:
    with distributed_run() as info:
        pid = info.process_index
        res: dict = {"process_count": info.process_count, "process_index": pid}
        if mode == "compare":
            fast, cells = fast_diagram(), cell_diagram()
            res.update({f"fast.{k}": v for k, v in fast.values.items()})
            res.update({f"cells.{k}": v for k, v in cells.values.items()})
            res.update({f"cells.se.{k}": v for k, v in cells.stderr.items()})
            res["split"] = split_active()
            mc = mc_curve()
            res["mc.value"], res["mc.stderr"] = mc.value, mc.stderr
        elif mode == "resume":
            computed: list[int] = []
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pd = cell_diagram(cache=cache, callback=computed.extend)
            res.update({f"cells.{k}": v for k, v in pd.values.items()})
            res["computed"] = np.asarray(computed, int)
            res["rejected"] = json.dumps(pd.meta["cache"]["rejected"])
            res["warnings"] = json.dumps([str(w.message) for w in caught])
        elif mode == "kill":
            def die(cells: list[int]) -> None:
                if pid == 1:
                    print(f"process 1 exits after cells {cells}", flush=True)
                    os._exit(3)

            phase_diagram({"d": [10, 20, 50, 100, 200, 500, 1000, 2000]}, T_GRID, chunk_size=2, progress=False,
                          callback=die)
        np.savez(os.path.join(out, f"result_{pid}.npz"), **res)


if __name__ == "__main__":
    main(*sys.argv[1:])
