"""Devices and processes of a phase-diagram sweep: the devices to use, gathering results, merging the cell loop.

Start-up, reporting and shutdown of a multi-process run live in ``gmmtheory.distributed`` (``init_distributed``,
``distributed_run``; the three variables ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``);
``phase_diagram`` calls ``init_distributed()`` itself. With P processes process p owns the units u ≡ p (mod P) — the
fast path's chunks of rows, each sharded over p's local devices (the same shapes, hence the same bits, as a
one-process run with that many devices), or the cells of the loop, each computed inside
``distributed.local_only()`` (no collectives inside a cell); it computes and caches only those, and
``merge_processes`` all-gathers the results once at the end (each cell from its owner). On one process everything
here is a no-op.
"""

from __future__ import annotations

import jax
import numpy as np

from gmmtheory.distributed import allgather, init_distributed

__all__ = ["init_distributed", "merge_processes", "owner", "resolve_devices"]


def resolve_devices(devices: object) -> list:
    """The jax devices of a sweep: all (None), the first n (an int), or the given non-empty sequence."""
    if devices is None:
        return list(jax.devices())
    if isinstance(devices, (int, np.integer)):
        all_dev = jax.devices()
        if not 1 <= int(devices) <= len(all_dev):
            raise ValueError(f"devices must be between 1 and {len(all_dev)}; got {devices!r}")
        return list(all_dev[: int(devices)])
    devs = list(devices)
    if not devs:
        raise ValueError("devices must not be empty")
    return devs


def owner(unit: int) -> int:
    """The process that computes and writes ``unit`` (a fast-path chunk or a cell): unit mod P."""
    return unit % jax.process_count()


def merge_processes(arrays: dict[str, np.ndarray], cells_of: np.ndarray) -> dict[str, np.ndarray]:
    """Cell-loop results of every process merged: row i of every array is taken from process ``cells_of[i]`` (the
    one that computed or loaded it; the same choice on every process), so all processes end with equal arrays."""
    rows = np.arange(len(cells_of))
    return {k: allgather(np.asarray(v, np.float64))[cells_of, rows] for k, v in sorted(arrays.items())}
