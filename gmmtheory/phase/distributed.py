"""Devices and processes of a phase-diagram sweep: multi-host start-up, the devices to use, gathering results.

Multi-host: set ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` on
every host (or run under a cluster that ``jax.distributed.initialize()`` auto-detects, e.g. SLURM, and set
``GMMTHEORY_DISTRIBUTED=1``) and call ``init_distributed()`` before any other jax work (``phase_diagram`` also calls
it). The fast path then shards each chunk over all global devices (results gathered with ``process_allgather``); the
cell loop gives process p the cells i ≡ p (mod P) and merges them (``merge_processes``: the one finite value per
cell wins). On one host everything here is a no-op.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.experimental import multihost_utils

try:  # the private handle on jax's distributed state (to skip a second initialize); absent if the API moved
    from jax._src import distributed as _jax_distributed
except ImportError:  # pragma: no cover - private API moved
    _jax_distributed = None

__all__ = ["gather", "init_distributed", "merge_processes", "resolve_devices"]


def init_distributed() -> bool:
    """Call ``jax.distributed.initialize`` when configured (see the module docstring); True if multi-process."""
    env = os.environ
    configured = "JAX_COORDINATOR_ADDRESS" in env or env.get("GMMTHEORY_DISTRIBUTED", "") not in ("", "0")
    if not configured:
        return False
    try:
        if getattr(_jax_distributed.global_state, "client", None) is not None:
            return jax.process_count() > 1
    except Exception:  # pragma: no cover - private API moved
        pass
    kw = {}
    if "JAX_COORDINATOR_ADDRESS" in env:
        kw = dict(coordinator_address=env["JAX_COORDINATOR_ADDRESS"],
                  num_processes=int(env["JAX_NUM_PROCESSES"]), process_id=int(env["JAX_PROCESS_ID"]))
    jax.distributed.initialize(**kw)
    return jax.process_count() > 1


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


def gather(x: jax.Array) -> np.ndarray:
    """A (possibly multi-host sharded) array as one numpy array on every process."""
    if jax.process_count() > 1:
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def merge_processes(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cell-loop results of every process merged in place: each process filled its own cells and left nan elsewhere."""
    for k in arrays:
        merged = np.nanmax(np.asarray(multihost_utils.process_allgather(np.nan_to_num(arrays[k], nan=-np.inf))),
                           axis=0)
        merged[np.isneginf(merged)] = np.nan
        arrays[k] = merged
    return arrays
