"""No recompilation inside a sweep.

Every sweep below warms up once (one call per code path, which traces and compiles the kernels it needs), then
repeats the computation over new *values* with the same shapes — other mixtures of the same (K, d, covariance form),
other time grids of the same length, other keys, guidance scales, intervals, labels, other parameter values of a
phase diagram — and counts, with ``jax.monitoring``, every jaxpr trace and every XLA backend compilation that
happens meanwhile. Both must be zero: a sweep pays compilation once, never per cell.

The counters listen to the events that jax records for each trace (``/jax/core/compile/jaxpr_trace_duration``) and
each backend compilation (``/jax/core/compile/backend_compile_duration``). ``test_counter_sees_compilations``
guards against a vacuous pass (events renamed in a future jax): a fresh jitted function must be counted.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gmmtheory as gt
from gmmtheory import dynamics as dyn
from gmmtheory.compilation import count_compilations
from gmmtheory.entropy import montecarlo

OU = gt.OU()
def assert_no_recompilation(warm: list[Callable[[], object]], sweep: list[Callable[[], object]]) -> None:
    for f in warm:
        f()
    with count_compilations() as counts:
        for f in sweep:
            f()
    assert counts == {"traces": 0, "compiles": 0}, f"the sweep retraced/recompiled: {counts}"


def test_counter_sees_compilations():
    fresh = jax.jit(lambda x: jnp.sin(x) * 3.0 + 0.123456)  # a new function object: must trace and compile
    with count_compilations() as counts:
        fresh(jnp.arange(7.0)).block_until_ready()
    assert counts["traces"] >= 1 and counts["compiles"] >= 1, counts


def _grids(T: int, n: int) -> list[np.ndarray]:
    return [np.linspace(0.05 + 0.1 * i, 3.0 + i, T) for i in range(n)]


@pytest.mark.slow
def test_montecarlo_entropy_sweep():
    mixes = [gt.random_mixture(jax.random.PRNGKey(i), 3, 16, "class_full") for i in range(4)]
    diag = [gt.random_mixture(jax.random.PRNGKey(10 + i), 3, 16, "class_diag") for i in range(3)]
    part = gt.Partition([[0, 1], [2]])
    ts = _grids(8, 4)
    def run(m, t, k, **kw):
        return gt.class_entropy(m, OU, t, method="montecarlo", n_samples=2**9, key=k, **kw)
    size = None

    def remember():
        nonlocal size
        size = montecarlo._mc_kernel._cache_size()

    assert_no_recompilation(
        [lambda: run(mixes[0], ts[0], 0), lambda: run(mixes[0], ts[0], 0, precision="float32"),
         lambda: run(mixes[0], ts[0], 0, partition=part), lambda: run(diag[0], ts[0], 0),
         lambda: gt.collision_probability(mixes[0], OU, ts[0], method="montecarlo", n_samples=2**9), remember],
        [lambda i=i: run(mixes[i], ts[i], i) for i in range(1, 4)]
        + [lambda i=i: run(mixes[i], ts[i], i, precision="float32") for i in range(1, 4)]
        + [lambda i=i: run(mixes[i], ts[i], i, partition=part) for i in range(1, 4)]
        + [lambda i=i: run(diag[i], ts[i], i) for i in range(1, 3)]
        + [lambda i=i: gt.collision_probability(mixes[i], OU, ts[i], method="montecarlo", n_samples=2**9, key=i)
           for i in range(1, 4)],
    )
    assert montecarlo._mc_kernel._cache_size() == size


@pytest.mark.slow
def test_reduced_and_quadrature_sweeps():
    shared = [gt.k_classes(4, 32, mu=m) for m in (0.5, 1.0, 1.5, 2.0)]
    iso = [gt.GaussianMixture(np.eye(3, 32) * m, np.array([0.5, 1.0, 2.0])) for m in (1.0, 2.0, 3.0)]
    two = [gt.two_gaussians(64, mu=m) for m in (0.5, 1.0, 1.5, 2.0)]
    ts = _grids(8, 4)
    assert_no_recompilation(
        [lambda: gt.class_entropy(shared[0], OU, ts[0], n_samples=2**10),
         lambda: gt.class_entropy(iso[0], OU, ts[0], n_samples=2**10),
         lambda: gt.class_entropy(two[0], OU, ts[0])],
        [lambda i=i: gt.class_entropy(shared[i], OU, ts[i], n_samples=2**10, key=i) for i in range(1, 4)]
        + [lambda i=i: gt.class_entropy(iso[i], OU, ts[i], n_samples=2**10, key=i) for i in range(1, 3)]
        + [lambda i=i: gt.class_entropy(two[i], OU, ts[i]) for i in range(1, 4)],
    )


@pytest.mark.parametrize("method", ["closed_form", "denoiser_gap", "autodiff"])
@pytest.mark.slow
def test_entropy_rate_sweep(method):
    if method == "closed_form":
        mixes = [gt.two_gaussians(64, mu=m) for m in (0.5, 1.0, 1.5)]
    else:
        mixes = [gt.random_mixture(jax.random.PRNGKey(i), 3, 16, "class_full") for i in range(3)]
    ts = _grids(8, 3)
    def rate(i, **kw):
        return gt.entropy_rate(mixes[i], OU, ts[i], method=method, n_samples=2**9, key=i, **kw)
    assert_no_recompilation(
        [lambda: rate(0), lambda: rate(0, wrt="log_snr")],
        [lambda i=i: rate(i) for i in (1, 2)] + [lambda i=i: rate(i, wrt="log_snr") for i in (1, 2)],
    )


@pytest.mark.slow
def test_phase_diagram_sweeps():
    t = np.linspace(0.05, 6.0, 32)
    def kclasses(mus):
        return gt.phase_diagram({"mu": mus}, t, model="kclasses", params={"d": 16, "K": 3},
                                n_samples=2**9, progress=False)
    # general cell loop: every cell reuses the first cell's compilation, whatever the number of cells
    assert_no_recompilation([lambda: kclasses([0.5])], [lambda: kclasses([0.7, 1.2, 1.9])])
    # vectorised two-Gaussian path: new values (d, mu) on an axis of the same length compile nothing
    def two(axes):
        return gt.phase_diagram(axes, t, progress=False)
    assert_no_recompilation(
        [lambda: two({"d": [10, 100, 1000, 10000]})],
        [lambda: two({"d": [20, 300, 40000, 10**6]}), lambda: two({"mu": [0.5, 0.7, 1.5, 2.0]})],
    )


@pytest.mark.slow
def test_sampler_sweep():
    mixes = [gt.random_mixture(jax.random.PRNGKey(i), 3, 16, "class_full") for i in range(4)]
    def sim(i, **kw):
        return gt.simulate(mixes[i], n_samples=64, n_steps=16, key=i, **kw)
    traces = dyn.TRACE_COUNT["kernel"]
    assert_no_recompilation(
        [lambda: sim(0, label=0, guidance="cfg", w=2.0), lambda: sim(0, label="prior"), lambda: sim(0, label=None)],
        [lambda i=i: sim(i, label=i % 3, guidance="cfg", w=1.5 + i) for i in range(1, 4)]
        + [lambda i=i: sim(i, label=np.arange(64) % 3, guidance="interval", w=2.0, interval=(0.3 * i, 3.0))
           for i in range(1, 4)]
        + [lambda i=i: sim(i, label="prior", guidance="cfg", w=3.0) for i in range(1, 4)]
        + [lambda i=i: sim(i, label=None) for i in range(1, 4)],
    )
    assert dyn.TRACE_COUNT["kernel"] <= traces + 1  # the sampler kernel itself: traced at most once (warm-up)
