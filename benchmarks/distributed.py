"""One process against P processes (jax.distributed on 127.0.0.1, one CPU device each) for one phase-diagram sweep.

    .venv/bin/python benchmarks/distributed.py [--processes 2] [--cells 400] [--times 64] [--path fast|cells]

Each run is a fresh interpreter (``gmmtheory.distributed.launch_local``; the one-process run without the ``JAX_*``
variables), so both pay the same start-up; printed: the seconds inside ``phase_diagram`` (process 0; includes the
compilation and, with P > 1, the final all-gather), the wall time of the whole launch, the ratio, and a check that
the diagrams are identical. On a machine whose cores are shared the P processes compete with everything else.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gmmtheory.distributed import launch_local

CHILD = """
import json, sys, time
import numpy as np
from gmmtheory.distributed import distributed_run
from gmmtheory.phase.sweep import phase_diagram
cells, times, path, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
with distributed_run() as info:
    n_mu = 10
    d = np.unique(np.round(np.geomspace(10, 1e6, cells // n_mu)).astype(int))
    mu = np.linspace(0.05, 1.0, n_mu)
    t = np.geomspace(1e-3, 10.0, times)
    kw = dict(chunk_size=16) if path == "fast" else dict(model="two", method="montecarlo", n_samples=1024,
                                                          quantities=("H",))
    t0 = time.perf_counter()
    pd = phase_diagram({"d": d, "mu": mu}, t, progress=False, **kw)
    sec = time.perf_counter() - t0
    if info.process_index == 0:
        np.save(out + ".npy", pd.values["H"])
        json.dump({"seconds": sec, "processes": info.process_count, "cells": int(d.size * mu.size),
                   "units": pd.meta["n_units"]}, open(out + ".json", "w"))
"""


def run(n_proc: int, cells: int, times: int, path: str, workdir: Path) -> dict:
    script = workdir / "child.py"
    script.write_text(CHILD)
    out = str(workdir / f"p{n_proc}")
    argv = [sys.executable, str(script), str(cells), str(times), path, out]
    t0 = time.perf_counter()
    if n_proc == 1:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COORDINATOR")}
        env.update(JAX_PLATFORMS="cpu")
        subprocess.run(argv, env=env, check=True)
    else:
        for r in launch_local(n_proc, argv, timeout=3600):
            if r.returncode != 0:
                raise SystemExit(f"process {r.process_id} failed:\n{r.stderr[-3000:]}")
    wall = time.perf_counter() - t0
    rec = json.loads(Path(out + ".json").read_text())
    rec["wall"] = wall
    rec["H"] = np.load(out + ".npy")
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--cells", type=int, default=400)
    ap.add_argument("--times", type=int, default=64)
    ap.add_argument("--path", choices=("fast", "cells"), default="fast")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = run(1, a.cells, a.times, a.path, Path(tmp))
        many = run(a.processes, a.cells, a.times, a.path, Path(tmp))
    same = np.array_equal(one["H"], many["H"], equal_nan=True)
    print(f"sweep: path {a.path}, {one['cells']} cells × {a.times} times, {one['units']} units; cpu cores "
          f"{os.cpu_count()}")
    print(f"1 process : {one['seconds']:8.2f} s in phase_diagram, {one['wall']:8.2f} s wall")
    print(f"{a.processes} processes: {many['seconds']:8.2f} s in phase_diagram, {many['wall']:8.2f} s wall")
    print(f"speed-up  : {one['seconds'] / many['seconds']:.2f}× (phase_diagram), {one['wall'] / many['wall']:.2f}× "
          f"(wall); identical diagrams: {same}")


if __name__ == "__main__":
    main()
