"""Multi-process runs on jax.distributed, on 127.0.0.1: two processes (one CPU device each, gloo collectives) launched
with ``gmmtheory.distributed.launch_local`` running ``_dist_worker.py``; their results against one-process runs of the
same sweeps in this process (the reference): the fast path and the per-cell loop identical, the Monte Carlo curve
within 1e-12 (it is identical: the same per-chunk keys, gathered and reduced in the one-process order); a worker that
dies mid-run or never starts ends the run with an error within a bounded time; a multi-process resume recomputes
exactly the missing and the corrupted cache parts, each written once by its owner.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest

from gmmtheory.distributed import (
    DistributedError,
    env_config,
    free_port,
    init_distributed,
    launch_local,
    map_chunks,
    owned_block,
    process_info,
)

HERE = Path(__file__).resolve().parent
WORKER = str(HERE / "_dist_worker.py")
_spec = importlib.util.spec_from_file_location("_dist_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)

FAST_FAIL = {"GMMTHEORY_DISTRIBUTED_TIMEOUT": "6", "GMMTHEORY_HEARTBEAT_TIMEOUT": "5"}
BOUND = 40.0  # seconds from launch to the end of every process (imports ~5 s on a busy 2-core machine included)


def _launch(tmp_path: Path, mode: str, *extra: str, env: dict | None = None, only=None, timeout: float = 150.0):
    return launch_local(2, [WORKER, mode, str(tmp_path), *extra], env=env, only=only, timeout=timeout, grace=20)


def _ok(results) -> None:
    for r in results:
        assert r.returncode == 0, f"process {r.process_id} exited {r.returncode}:\n{r.stderr[-3000:]}"


def _load(tmp_path: Path, pid: int) -> dict:
    with np.load(tmp_path / f"result_{pid}.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# ---- quick checks of the pieces (one process)


def test_env_config_reads_and_checks_the_three_variables() -> None:
    assert env_config({}) is None
    assert env_config({"GMMTHEORY_DISTRIBUTED": "1"}) == {}
    env = {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"}
    assert env_config(env) == {"coordinator_address": "10.0.0.1:1234", "num_processes": 4, "process_id": 3}
    with pytest.raises(ValueError, match="JAX_PROCESS_ID not set"):
        env_config({"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2"})
    with pytest.raises(ValueError, match="host:port"):
        env_config(dict(env, JAX_COORDINATOR_ADDRESS="nohost"))
    with pytest.raises(ValueError, match="below JAX_NUM_PROCESSES"):
        env_config(dict(env, JAX_PROCESS_ID="4"))
    with pytest.raises(ValueError, match="JAX_NUM_PROCESSES must be an integer"):
        env_config(dict(env, JAX_NUM_PROCESSES="two"))


def test_single_process_is_a_no_op(monkeypatch) -> None:
    for var in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "GMMTHEORY_DISTRIBUTED"):
        monkeypatch.delenv(var, raising=False)
    assert init_distributed() is False
    info = process_info()
    assert (info.process_index, info.process_count, info.distributed) == (0, 1, False)
    assert "process 0 of 1" in info.describe()
    out = map_chunks(lambda i: (i * 2.0, np.stack([i, i], 1)), 5)
    np.testing.assert_array_equal(out[0], np.arange(5) * 2.0)
    assert out[1].shape == (5, 2)


def test_owned_blocks_cover_every_chunk_once() -> None:
    for n, P in ((1, 2), (3, 2), (7, 3), (8, 4), (2, 5)):
        blocks = [owned_block(n, P, p) for p in range(P)]
        covered = np.concatenate([np.arange(a, b) for a, b, _ in blocks])
        np.testing.assert_array_equal(covered, np.arange(n))
        assert all(m == -(-n // P) for _, _, m in blocks)


def test_launch_local_rejects_a_bad_count_and_times_out(tmp_path) -> None:
    with pytest.raises(ValueError, match="positive number of processes"):
        launch_local(0, ["true"])
    t0 = time.monotonic()
    with pytest.raises(DistributedError, match="exceeded 1.0 s"):
        launch_local(1, ["sleep", "30"], timeout=1.0, port=free_port())
    assert time.monotonic() - t0 < 10


# ---- two processes on 127.0.0.1


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::gmmtheory.entropy.result.RareEventWarning")  # small n_samples: flagged cells
def test_two_processes_equal_one_process(tmp_path) -> None:
    results = _launch(tmp_path, "compare")
    _ok(results)
    fast, cells, mc = worker.fast_diagram(), worker.cell_diagram(), worker.mc_curve()
    assert fast.meta["path"] == "fast" and fast.meta["n_units"] == 3
    assert cells.meta["path"] == "cells"
    for pid in (0, 1):
        got = _load(tmp_path, pid)
        assert int(got["process_count"]) == 2 and bool(got["split"])
        for k, v in fast.values.items():  # quadrature path: identical, bit for bit
            np.testing.assert_array_equal(got[f"fast.{k}"], v, err_msg=f"fast {k}, process {pid}")
        for k, v in cells.values.items():  # each cell computed whole by one process with the same key
            np.testing.assert_array_equal(got[f"cells.{k}"], v, err_msg=f"cells {k}, process {pid}")
            np.testing.assert_array_equal(got[f"cells.se.{k}"], cells.stderr[k])
        # Monte Carlo split over processes by chunk: the one-process per-chunk keys, reduced in the same order
        np.testing.assert_allclose(got["mc.value"], mc.value, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["mc.stderr"], mc.stderr, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_a_worker_killed_mid_run_ends_the_run_with_an_error(tmp_path) -> None:
    t0 = time.monotonic()
    results = _launch(tmp_path, "kill", env=FAST_FAIL, timeout=BOUND + 30)
    elapsed = time.monotonic() - t0
    by_id = {r.process_id: r for r in results}
    assert by_id[1].returncode == 3 and "process 1 exits after cells" in by_id[1].stdout
    assert by_id[0].returncode != 0, "the survivor must not end as if the run had succeeded"
    assert not (tmp_path / "result_0.npz").exists()
    assert any(s in by_id[0].stderr for s in ("heartbeat", "task died", "Connection closed", "fatal errors")), \
        by_id[0].stderr[-2000:]
    assert elapsed < BOUND


@pytest.mark.slow
def test_a_worker_that_never_starts_ends_the_run_with_an_error(tmp_path) -> None:
    t0 = time.monotonic()
    results = _launch(tmp_path, "idle", env=FAST_FAIL, only=[0], timeout=BOUND + 30)
    elapsed = time.monotonic() - t0
    (r,) = results
    assert r.returncode != 0
    assert any(s in r.stderr for s in ("DEADLINE_EXCEEDED", "could not start", "timed out")), r.stderr[-2000:]
    assert elapsed < BOUND


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::gmmtheory.entropy.result.RareEventWarning")
@pytest.mark.filterwarnings("ignore::gmmtheory.phase.cache.CacheWarning")
def test_multi_process_resume_recomputes_only_missing_and_corrupt_parts(tmp_path) -> None:
    cache = tmp_path / "cache"
    ref = worker.cell_diagram(cache=cache)  # one process: all 3 parts written
    (sweep,) = cache.iterdir()
    parts = sorted(sweep.glob("part_*.npz"))
    assert len(parts) == 3
    parts[0].unlink()  # cell 0 (owner: process 0) missing
    parts[1].write_bytes(parts[1].read_bytes()[:100])  # cell 1 (owner: process 1) truncated
    kept = parts[2].stat().st_mtime_ns
    _ok(_launch(tmp_path, "resume", str(cache)))
    got = [_load(tmp_path, pid) for pid in (0, 1)]
    assert sorted(got[0]["computed"].tolist()) == [0] and sorted(got[1]["computed"].tolist()) == [1]
    for g in got:
        for k, v in ref.values.items():
            np.testing.assert_array_equal(g[f"cells.{k}"], v)
        rejected = json.loads(str(g["rejected"]))
        assert [Path(x["file"]).name for x in rejected] == [parts[1].name]
        assert "truncated" in rejected[0]["reason"] or "unreadable" in rejected[0]["reason"]
    assert parts[2].stat().st_mtime_ns == kept  # the valid part was neither recomputed nor rewritten
    again = worker.cell_diagram(cache=cache)  # the repaired cache is complete and valid
    assert again.meta["n_computed"] == 0 and again.meta["cache"]["rejected"] == []
    for k, v in ref.values.items():
        np.testing.assert_array_equal(again.values[k], v)
