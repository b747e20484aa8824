"""What this machine can do at most: GEMM FLOP/s and standard-normal throughput, jax and numpy, float64 and float32.

These are the denominators of the "of bound" column: a kernel whose work is F floating-point operations of matrix
products and R normal variates cannot run faster than F / (GEMM FLOP/s) + R / (normals/s) on this machine with these
libraries and thread settings. The rates are measured here, in the same process and with the same threads as the
benchmark, on the shapes the kernel actually uses (a GEMM's speed depends on its shape), each the median of a few
batches of calls after a warm-up. A GEMM of (m, k) × (k, n) counts 2 m k n FLOP.

Work on the CPU is timed in process CPU time (``time.process_time``, all threads of the process), so that other
processes sharing the cores do not lower the measured rate; the kernels are then compared in CPU time too. Work on an
accelerator is timed in wall time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def default_clock(lib: str) -> str:
    """"cpu" (process time: robust to other processes sharing the cores) for work that runs on the CPU — numpy, or
    jax on its CPU backend — else "wall" (an accelerator's work is not process time)."""
    if lib == "numpy":
        return "cpu"
    import jax

    return "cpu" if jax.default_backend() == "cpu" else "wall"


def _best_of(fn, repeats: int, min_time: float, clock: str = "wall") -> float:
    """Median time per call of fn (already warm) over ``repeats`` batches, each batch calling fn enough times to
    last ``min_time / repeats`` seconds (single short calls are too noisy to time one by one). ``clock``: "wall"
    (``perf_counter``) or "cpu" (``process_time``, all threads of this process)."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-6)
    per_batch = max(1, int(min_time / repeats / one))
    times = []
    for _ in range(repeats):
        t0 = now()
        for _ in range(per_batch):
            fn()
        times.append((now() - t0) / per_batch)
    return float(np.median(times))


def gemm_flops(lib: str, dtype: str, m: int, k: int, n: int, repeats: int = 5, min_time: float = 0.5,
               clock: str | None = None) -> float:
    """FLOP per second (of ``clock``, default :func:`default_clock`) of one (m, k) × (k, n) product in ``lib``
    ("jax" or "numpy") and ``dtype``."""
    clock = clock or default_clock(lib)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    if lib == "jax":
        import jax
        import jax.numpy as jnp

        ja, jb = jnp.asarray(a), jnp.asarray(b)
        f = jax.jit(lambda x, y: x @ y)
        f(ja, jb).block_until_ready()
        t = _best_of(lambda: f(ja, jb).block_until_ready(), repeats, min_time, clock)
    else:
        a @ b
        t = _best_of(lambda: a @ b, repeats, min_time, clock)
    return 2.0 * m * k * n / t


def normal_rate(lib: str, dtype: str, n: int = 2**22, repeats: int = 5, min_time: float = 0.5,
                clock: str | None = None) -> float:
    """Standard normal variates per second (of ``clock``): ``jax.random.normal`` (threefry, the default PRNG) or
    numpy's ``Generator.standard_normal`` (PCG64, ziggurat)."""
    clock = clock or default_clock(lib)
    if lib == "jax":
        import jax

        f = jax.jit(lambda key: jax.random.normal(key, (n,), dtype=dtype))
        key = jax.random.PRNGKey(0)
        f(key).block_until_ready()
        t = _best_of(lambda: f(key).block_until_ready(), repeats, min_time, clock)
    else:
        rng = np.random.default_rng(0)
        rng.standard_normal(n, dtype=dtype)
        t = _best_of(lambda: rng.standard_normal(n, dtype=dtype), repeats, min_time, clock)
    return n / t


def machine_limits(quick: bool = False) -> dict[str, Any]:
    """Square 1024³ (quick: 256³) GEMM FLOP/s and normal throughput for jax and numpy in float64 and float32."""
    size = 256 if quick else 1024
    out: dict[str, Any] = {"gemm_size": size}
    for lib in ("jax", "numpy"):
        for dt in ("float64", "float32"):
            out[f"gemm_{lib}_{dt}"] = gemm_flops(lib, dt, size, size, size, min_time=0.03 if quick else 1.0)
            out[f"normal_{lib}_{dt}"] = normal_rate(lib, dt, n=2**16 if quick else 2**22,
                                                    min_time=0.03 if quick else 1.0)
    return out
