"""Multi-process runs on ``jax.distributed``: the one place that starts, reports and shuts down a distributed run,
splits chunked work over processes and gathers it back, plus a launcher for P processes on one machine.

A run of P processes (one per host, or one per GPU) needs on every process, before any other jax work::

    JAX_COORDINATOR_ADDRESS=host0:port   # host:port of process 0 (it runs the coordination service)
    JAX_NUM_PROCESSES=P
    JAX_PROCESS_ID=p                     # 0 … P − 1

(or a cluster that ``jax.distributed.initialize()`` detects by itself, e.g. SLURM, with ``GMMTHEORY_DISTRIBUTED=1``).
Then::

    from gmmtheory.distributed import distributed_run
    with distributed_run() as info:        # init_distributed() … shutdown_distributed()
        print(info.describe())             # "process 0 of 2, 1 local / 2 global cpu devices, …"
        pd = phase_diagram(...)            # the same result on every process

Work split. Chunked Monte Carlo (``entropy.montecarlo``) and sweeps (``phase``) use ``map_chunks(fn, n)``: the n
chunks (each with its own PRNG key, the same keys a one-process run uses) are cut into P contiguous blocks of
m = ⌈n/P⌉, process p computes chunks p·m … min((p+1)·m, n) − 1 (padded to m with repeats so that every process
contributes one array of the same shape), the blocks are all-gathered and concatenated, so every process holds the
per-chunk results in the order of the one-process run and reduces them in that order. Inside ``local_only()`` (e.g.
the cells of a sweep that are already split by cell) ``map_chunks`` runs every chunk locally.

Failures end in bounded time. ``jax.distributed.initialize`` is given ``initialization_timeout`` (a worker that never
starts: every other process raises ``DistributedError`` after ``timeout`` seconds) and ``heartbeat_timeout_seconds``
(a worker that dies mid-run: the coordination service declares it dead after ``heartbeat`` seconds and the other
processes end with an error; a collective whose peer closed its connection fails at once). The defaults come from
``GMMTHEORY_DISTRIBUTED_TIMEOUT`` and ``GMMTHEORY_HEARTBEAT_TIMEOUT`` (seconds; 300 and 100, jax's own defaults).
CPU-only processes use the gloo collectives (``jax_cpu_collectives_implementation``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils

__all__ = [
    "ENV_VARIABLES",
    "DistributedError",
    "LocalResult",
    "ProcessInfo",
    "agree_any",
    "allgather",
    "distributed_run",
    "env_config",
    "free_port",
    "init_distributed",
    "is_initialized",
    "launch_local",
    "local_only",
    "map_chunks",
    "owned_block",
    "process_info",
    "shutdown_distributed",
    "split_active",
]

ENV_VARIABLES = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
DEFAULT_TIMEOUT = 300  # seconds for every process to join (jax's initialization_timeout default)
DEFAULT_HEARTBEAT = 100  # seconds without a heartbeat before a process is declared dead (jax's default)

_lock = threading.Lock()
_state = {"started": False, "coordinator": None, "local_depth": 0}


class DistributedError(RuntimeError):
    """A distributed run could not start, lost a process, or a launched process failed or timed out."""


@dataclasses.dataclass(frozen=True)
class ProcessInfo:
    """Where this process stands: its index and the process count, its local and all global devices."""

    process_index: int
    process_count: int
    local_devices: tuple
    global_device_count: int
    platform: str
    coordinator: str | None
    distributed: bool

    def describe(self) -> str:
        """One line, e.g. ``process 1 of 2, 1 local / 2 global cpu devices, coordinator 127.0.0.1:4711``."""
        where = f", coordinator {self.coordinator}" if self.coordinator else ""
        return (f"process {self.process_index} of {self.process_count}, {len(self.local_devices)} local / "
                f"{self.global_device_count} global {self.platform} devices{where}")


def _env_seconds(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name} must be a positive number of seconds; got {raw!r}")
    return value


def env_config(environ: Mapping[str, str] | None = None) -> dict | None:
    """The run described by the environment: ``{coordinator_address, num_processes, process_id}`` from the three
    ``JAX_*`` variables, ``{}`` for ``GMMTHEORY_DISTRIBUTED=1`` (cluster auto-detection), None when neither is set.

    Raises ``ValueError`` naming the variable when only some of the three are set or a value is malformed.
    """
    env = os.environ if environ is None else environ
    given = [v for v in ENV_VARIABLES if env.get(v, "")]
    if not given:
        return {} if env.get("GMMTHEORY_DISTRIBUTED", "") not in ("", "0") else None
    missing = [v for v in ENV_VARIABLES if v not in given]
    if missing:
        raise ValueError(f"a distributed run needs all of {', '.join(ENV_VARIABLES)}; {', '.join(missing)} not set")
    addr = env["JAX_COORDINATOR_ADDRESS"]
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"JAX_COORDINATOR_ADDRESS must be host:port; got {addr!r}")
    out: dict = {"coordinator_address": addr}
    for var, key, low in (("JAX_NUM_PROCESSES", "num_processes", 1), ("JAX_PROCESS_ID", "process_id", 0)):
        raw = env[var]
        if not raw.strip().isdigit() or int(raw) < low:
            raise ValueError(f"{var} must be an integer ≥ {low}; got {raw!r}")
        out[key] = int(raw)
    if out["process_id"] >= out["num_processes"]:
        raise ValueError(f"JAX_PROCESS_ID must be below JAX_NUM_PROCESSES={out['num_processes']}; "
                         f"got {out['process_id']}")
    return out


def is_initialized() -> bool:
    """Whether ``jax.distributed`` is running in this process (its public ``is_initialized`` where jax has one)."""
    check = getattr(jax.distributed, "is_initialized", None)
    if check is not None:
        return bool(check())
    return bool(_state["started"])


def _has_accelerator_platform() -> bool:
    plats = os.environ.get("JAX_PLATFORMS", os.environ.get("JAX_PLATFORM_NAME", ""))
    return bool(plats) and any(p.strip() not in ("", "cpu") for p in plats.split(","))


def init_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout: int | None = None,
    heartbeat: int | None = None,
    detect: bool = False,
) -> bool:
    """Start ``jax.distributed`` (once per process); True when the run has more than one process.

    Without arguments the run comes from the environment (``env_config``); with none configured this is a no-op
    returning False, unless ``detect=True``: then jax's cluster auto-detection (SLURM, …) is used.
    ``timeout``: seconds for all processes to join (default ``GMMTHEORY_DISTRIBUTED_TIMEOUT`` or 300);
    ``heartbeat``: seconds after which a silent process is declared dead (``GMMTHEORY_HEARTBEAT_TIMEOUT`` or 100).
    A second call, or a call after jax.distributed was started elsewhere, only reports. Raises
    ``DistributedError`` (with the coordinator, the process id and the time-out) when the processes do not meet.
    """
    if is_initialized():
        return jax.process_count() > 1
    if coordinator_address is None and num_processes is None and process_id is None:
        cfg = env_config()
        if cfg is None and not detect:
            return False
        cfg = cfg or {}
    else:
        cfg = env_config({"JAX_COORDINATOR_ADDRESS": str(coordinator_address or ""),
                          "JAX_NUM_PROCESSES": str(num_processes or ""),
                          "JAX_PROCESS_ID": "" if process_id is None else str(process_id)})
    timeout = _env_seconds("GMMTHEORY_DISTRIBUTED_TIMEOUT", DEFAULT_TIMEOUT) if timeout is None else int(timeout)
    heartbeat = _env_seconds("GMMTHEORY_HEARTBEAT_TIMEOUT", DEFAULT_HEARTBEAT) if heartbeat is None else int(heartbeat)
    for name, value in (("timeout", timeout), ("heartbeat", heartbeat)):
        if value < 1:
            raise ValueError(f"{name} must be a positive number of seconds; got {value!r}")
    if not _has_accelerator_platform():  # CPU processes talk through gloo (the default from jax 0.4.3x on)
        with contextlib.suppress(AttributeError, ValueError):
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
    accepted = inspect.signature(jax.distributed.initialize).parameters
    kw = dict(cfg)
    for name, value in (("initialization_timeout", timeout), ("heartbeat_timeout_seconds", heartbeat),
                        ("shutdown_timeout_seconds", min(timeout, 60))):
        if name in accepted:
            kw[name] = value
    where = (f"coordinator {cfg['coordinator_address']}, process {cfg['process_id']} of {cfg['num_processes']}"
             if cfg else "cluster auto-detection")
    try:
        jax.distributed.initialize(**kw)
    except Exception as exc:  # jax raises RuntimeError/XlaRuntimeError/ValueError depending on the version
        raise DistributedError(f"jax.distributed could not start ({where}, time-out {timeout} s): "
                               f"{type(exc).__name__}: {exc}") from exc
    _state.update(started=True, coordinator=cfg.get("coordinator_address"))
    return jax.process_count() > 1


def shutdown_distributed() -> None:
    """Shut ``jax.distributed`` down if this module started it (a no-op otherwise, and on a second call)."""
    if not _state["started"]:
        return
    _state.update(started=False, coordinator=None)
    if is_initialized() or getattr(jax.distributed, "is_initialized", None) is None:
        jax.distributed.shutdown()


def process_info() -> ProcessInfo:
    """This process's index, the process count, its local devices and the global device count."""
    devs = jax.devices()
    return ProcessInfo(jax.process_index(), jax.process_count(), tuple(jax.local_devices()), len(devs),
                       devs[0].platform, _state["coordinator"], jax.process_count() > 1)


@contextlib.contextmanager
def distributed_run(coordinator_address: str | None = None, num_processes: int | None = None,
                    process_id: int | None = None, *, timeout: int | None = None,
                    heartbeat: int | None = None, detect: bool = False) -> Iterator[ProcessInfo]:
    """``init_distributed`` (same arguments; the environment by default), yield ``process_info()``, and shut down
    on the way out if this call started the run (also after an exception)."""
    started_here = not is_initialized()
    init_distributed(coordinator_address, num_processes, process_id, timeout=timeout, heartbeat=heartbeat,
                     detect=detect)
    try:
        yield process_info()
    finally:
        if started_here:
            shutdown_distributed()


@contextlib.contextmanager
def local_only() -> Iterator[None]:
    """Inside this block ``map_chunks`` computes every chunk in this process (no collectives): for work that is
    already split over processes, e.g. one cell of a sweep per process."""
    with _lock:
        _state["local_depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["local_depth"] -= 1


def split_active() -> bool:
    """True when chunked work is split over processes: more than one process and not inside ``local_only()``."""
    return _state["local_depth"] == 0 and jax.process_count() > 1


def owned_block(n: int, n_proc: int | None = None, pid: int | None = None) -> tuple[int, int, int]:
    """(start, stop, m): process ``pid`` of ``n_proc`` owns items start … stop − 1 of n, in blocks of m = ⌈n/P⌉."""
    n_proc = jax.process_count() if n_proc is None else n_proc
    pid = jax.process_index() if pid is None else pid
    m = max(1, -(-n // n_proc))
    return min(n, pid * m), min(n, (pid + 1) * m), m


def allgather(x: object) -> np.ndarray:
    """``x`` (a host array of the same shape on every process) from every process, stacked: shape (P, *x.shape)."""
    if jax.process_count() == 1:
        return np.asarray(x)[None]
    return np.asarray(multihost_utils.process_allgather(np.asarray(x), tiled=False))


def agree_any(flags: object) -> np.ndarray:
    """Element-wise OR of a boolean array over all processes (the same array on every process)."""
    return np.any(allgather(np.asarray(flags, bool)), axis=0)


def map_chunks(fn: Callable[[np.ndarray], object], n: int) -> object:
    """``fn(np.arange(n))`` computed block-wise over processes (see the module docstring): ``fn(indices)`` returns
    a pytree of arrays whose leading axis runs over ``indices``; every process gets the full result, in order."""
    if n < 1 or not split_active():
        return fn(np.arange(n))
    start, stop, m = owned_block(n)
    mine = np.arange(start, stop)
    fill = mine[-1] if mine.size else 0
    idx = np.concatenate([mine, np.full(m - mine.size, fill, dtype=mine.dtype)])
    out = jax.tree_util.tree_map(np.asarray, fn(idx))
    # one all-gather per leaf, (P, m, …) → (P·m, …): flat position = chunk index; the padding lies beyond n
    return jax.tree_util.tree_map(lambda x: allgather(x).reshape((-1,) + x.shape[1:])[:n], out)


# ---- launching P processes on this machine (tests, examples, a laptop)


@dataclasses.dataclass(frozen=True)
class LocalResult:
    """One launched process: its id, exit status (negative: killed by that signal), stdout and stderr."""

    process_id: int
    returncode: int
    stdout: str
    stderr: str


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (for the coordinator of a local run)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def launch_local(
    n: int,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    grace: float = 30.0,
    port: int | None = None,
    cwd: str | os.PathLike | None = None,
    only: Sequence[int] | None = None,
) -> list[LocalResult]:
    """Run ``argv`` (default interpreter: ``[sys.executable, script, …]`` if argv[0] ends in .py) as processes
    0 … n − 1 of one run on 127.0.0.1, each with the three ``JAX_*`` variables, ``JAX_PLATFORMS=cpu`` (unless ``env``
    sets it) and one CPU device; wait for all of them and return their ``LocalResult`` in process order.

    When a process fails, the others get ``grace`` seconds to end by themselves (they should: their error is part of
    the result) and are then killed. ``only``: start only these process ids (the others never start — to test a
    missing worker). Raises ``DistributedError`` if the run as a whole exceeds ``timeout`` seconds (all killed).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of processes; got {n!r}")
    argv = list(argv)
    if argv and argv[0].endswith(".py"):
        argv = [sys.executable, *argv]
    port = free_port() if port is None else int(port)
    base = dict(os.environ)
    base.update({"JAX_PLATFORMS": "cpu", "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                 "JAX_NUM_PROCESSES": str(n)})
    base.pop("GMMTHEORY_DISTRIBUTED", None)
    if env:
        base.update(env)
    ids = list(range(n)) if only is None else sorted({int(i) for i in only})
    procs, files = {}, {}
    try:
        for pid in ids:
            e = dict(base, JAX_PROCESS_ID=str(pid))
            out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
            files[pid] = (out, err)
            procs[pid] = subprocess.Popen(argv, env=e, cwd=cwd, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        kill_at = None
        while True:
            codes = {pid: p.poll() for pid, p in procs.items()}
            if all(c is not None for c in codes.values()):
                break
            now = time.monotonic()
            if now > deadline:
                raise DistributedError(f"launch_local: the run of {n} processes exceeded {timeout} s; killed "
                                       f"(still running: {[pid for pid, c in codes.items() if c is None]})")
            if kill_at is None and any(c not in (None, 0) for c in codes.values()):
                kill_at = now + grace
            if kill_at is not None and now > kill_at:
                for p in procs.values():
                    if p.poll() is None:
                        p.kill()
            time.sleep(0.05)
        results = []
        for pid in ids:
            out, err = files[pid]
            out.seek(0)
            err.seek(0)
            results.append(LocalResult(pid, procs[pid].returncode, out.read().decode(errors="replace"),
                                       err.read().decode(errors="replace")))
        return results
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for out, err in files.values():
            out.close()
            err.close()
