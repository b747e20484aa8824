"""The phase-diagram sweep ``phase_diagram``: H[Z_P | X_t]/H[Z_P], the rate, φ and the Bayes error on a grid of
time × one or two parameters, split into units of work, cached, spread over devices and processes, assembled into a
``PhaseDiagram`` with its landmark curves.

Quantities (``values`` keys; a level other than the labels is prefixed, e.g. ``"coarse.H_norm"``):
``H`` = H[Z_P | X_t] (nats), ``H_norm`` = H/H[Z_P], ``rate`` = dH/dt in the process's native time (EDM: dH/dσ),
``phi`` = φ(t) = E Σ_B p(B|x)², ``bayes_error`` = 1 − E max_B p(B|x). ``stderr`` has the same keys (0 where exact).
A guidance axis ``w`` gives ``H`` only: the cross-entropy E_{q_w}[−log p_t(z|x)] along guided trajectories.
Landmarks (``phase.landmarks``) per level, plus ``t_S`` = ½ log Λ (OU; mapped to the process at equal SNR).

Units: the fast path (model ``"two"``, axes among d, μ̃, variance, imbalance) runs chunks of rows of the flattened
parameter grid, each one call of the binary-channel kernel sharded over the local devices (``phase.cells``); the cell
loop runs one cell per unit, on one thread per local device (each under ``jax.default_device``). With P processes
(``gmmtheory.distributed``) process p computes and caches the units u ≡ p (mod P) and the results are all-gathered
once at the end (``phase.distributed``), so every process returns the one-process diagram. The engine's kernels
depend on shapes only, so a sweep compiles once per shape. Finished units go through the cache (``phase.cache``)
when ``cache=DIR`` is given.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np
from tqdm.auto import tqdm

from gmmtheory._checks import check_choice, check_count
from gmmtheory._precision import in_float64, precision_scope
from gmmtheory._version import __version__
from gmmtheory.distributed import agree_any, local_only
from gmmtheory.entropy.result import RareEventWarning
from gmmtheory.landmarks.spectral import speciation_time
from gmmtheory.mixture import prior_entropy
from gmmtheory.phase.cache import CACHE_FORMAT, _Cache, check_cache_dir
from gmmtheory.phase.cells import _fast_setup, _general_cell, _guided_cell
from gmmtheory.phase.diagram import PhaseDiagram, quantity_key
from gmmtheory.phase.distributed import init_distributed, merge_processes, owner, resolve_devices
from gmmtheory.phase.landmarks import grid_landmarks
from gmmtheory.phase.params import (
    _FAST_AXES,
    QUANTITIES,
    _cell_params,
    _check_axes,
    _check_params,
    _check_t,
    build_mixture,
    infer_model,
    level_names,
)
from gmmtheory.processes import OU, Process, check_process
from gmmtheory.schedules import ou_time_to_time

__all__ = ["METHODS", "phase_diagram"]

METHODS = ("auto", "quadrature", "reduced", "montecarlo")


@in_float64
def phase_diagram(
    axes: dict,
    t: object = None,
    *,
    model: str | None = None,
    process: Process | str = OU(),
    params: dict | None = None,
    quantities: Sequence[str] = QUANTITIES,
    method: str = "auto",
    n_samples: int | None = None,
    key: object = 0,
    cache: str | Path | None = None,
    devices: object = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
    callback: Callable[[list[int]], None] | None = None,
    guidance: dict | None = None,
) -> PhaseDiagram:
    """H[Z_P | X_t]/H[Z_P], the rate, φ and the Bayes error on the grid axes × t (see the module docstring).

    Args:
        axes: one or two parameter axes, ``{"d": [...]}`` or ``{"d": [...], "mu": [...]}`` (names in ``PARAMS``).
        t: strictly increasing times of ``process`` (default: 128 log-SNRs from 9.2 to −20 mapped to the process).
        model: ``"two"``, ``"kclasses"``, ``"hierarchical"``, ``"covariance_only"`` (default: inferred from axes).
        process: the forward process (or its name); times, rates and landmarks are in its native time.
        params: fixed values of the parameters that are not axes (defaults ``DEFAULTS``).
        quantities: subset of ``("H", "rate", "phi", "bayes_error")`` (``H_norm`` comes with ``H``).
        method: the entropy method for the cell loop ("auto", "quadrature", "reduced", "montecarlo").
        n_samples, key: Monte Carlo draws and PRNG key (the same key in every cell: common random numbers).
        cache: a directory; finished units are written to its sweep folder and reused on a rerun (resume); bad
            or foreign parts are recomputed with a ``CacheWarning`` (``meta["cache"]`` says what was loaded/rejected).
        devices: the jax devices to use (default all; an int takes the first n).
        chunk_size: rows (parameter cells) per fast-path chunk (default: bounded by memory).
        progress: tqdm progress bar (default: only when stderr is a TTY).
        callback: called with the flat cell indices of every unit as it finishes (computed, not loaded).
        guidance: extra keyword arguments for ``guidance.guided_profile`` (w axis only).
    """
    # ---- validate everything before any jit work
    ax = _check_axes(axes)
    model = infer_model(set(ax), model)
    base = _check_params(params, model, ax)
    process = check_process(process)
    if isinstance(quantities, str) or not set(quantities) <= set(QUANTITIES) or not quantities:
        raise ValueError(f"quantities must be a non-empty subset of {QUANTITIES}; got {quantities!r}")
    quantities = tuple(q for q in QUANTITIES if q in quantities)
    guided = "w" in ax or base.get("w") is not None
    if guided:
        quantities = ("H",)
    t = _check_t(t, process, "rate" in quantities)
    check_choice("method", method, METHODS)
    if n_samples is not None:
        n_samples = check_count("n_samples", n_samples, 2)
    if chunk_size is not None:
        chunk_size = check_count("chunk_size", chunk_size)
    cache_root = check_cache_dir(cache)
    init_distributed()
    devices = resolve_devices(devices)
    n_proc, pid = jax.process_count(), jax.process_index()
    local = [dv for dv in devices if dv.process_index == pid]
    if not local:
        raise ValueError(f"devices: process {pid} of {n_proc} has none of the given devices; give devices of every "
                         "process (default: all)")
    fast = model == "two" and set(ax) <= _FAST_AXES and not guided and method in ("auto", "quadrature")
    levels_of_model = level_names(model)
    pshape = tuple(len(v) for v in ax.values())
    n_cells = int(np.prod(pshape))
    T = t.size
    unit_keys = [quantity_key(lv, q) for lv in levels_of_model for q in quantities]  # what every unit returns
    start = time.perf_counter()

    # ---- units of work
    if fast:
        with precision_scope("float64"):
            n, rows, compute_rows, Lam, pi0 = _fast_setup(ax, base, t, process, local, chunk_size)
        units = [np.arange(s, min(s + rows, n)) for s in range(0, n, rows)]

        def compute(u: int) -> tuple[dict, dict]:
            return tuple({k: d[k] for k in unit_keys} for d in compute_rows(units[u]))

    else:
        units = [np.array([i]) for i in range(n_cells)]
        prng = jax.random.PRNGKey(int(key)) if isinstance(key, (int, np.integer)) else key
        rare_cells: list[int] = []  # cells computed in this run with a quantity flagged as a rare event

        def compute(u: int):
            p = _cell_params(base, ax, np.unravel_index(int(units[u][0]), pshape))
            mix, levels = build_mixture(model, p)
            if guided:
                vals, errs = _guided_cell(mix, levels, process, t, p["w"], n_samples, prng, guidance)
            else:
                flagged: list[str] = []
                vals, errs = _general_cell(mix, levels, process, t, quantities, method, n_samples, prng, flagged)
                if flagged:
                    rare_cells.append(int(units[u][0]))
            return {k: v[None] for k, v in vals.items()}, {k: v[None] for k, v in errs.items()}

    # ---- the cache: everything that determines a value is in the fingerprint (the unit layout, which depends on
    # chunk_size and the device count, is checked part by part)
    config = dict(format=CACHE_FORMAT, version=__version__, axes=ax, t=t, model=model,
                  process=process, process_repr=repr(process), params=base, quantities=quantities, keys=unit_keys,
                  method=method, n_samples=n_samples, key=key, fast=fast, guidance=guidance)
    cache_obj = _Cache(cache_root, config, units, unit_keys, T)

    # ---- run (cache-aware), sharded / threaded over devices
    results: dict[int, tuple[dict, dict]] = {}
    for u in range(len(units)):
        got = cache_obj.load(u)
        if got is not None:
            results[u] = got
    cache_info = cache_obj.report()
    missing = np.array([u not in results for u in range(len(units))], bool)
    if n_proc > 1:  # a unit missing (or rejected) on any process is recomputed, by its owner
        missing = agree_any(missing)
    todo = [u for u in range(len(units)) if missing[u] and owner(u) == pid]
    if progress is None:
        progress = sys.stderr.isatty()
    bar = tqdm(total=n_cells, initial=sum(units[u].size for u in results), disable=not progress, unit="cell",
               desc=f"phase {model} {'×'.join(ax)}×t")

    def finish(u: int, res) -> None:
        vals, errs = res
        results[u] = res
        if owner(u) == pid:  # each part written once, atomically, by its owner
            cache_obj.store(u, vals, errs)
        bar.update(units[u].size)
        if callback is not None:
            callback([int(i) for i in units[u]])

    stack = contextlib.ExitStack()
    try:
        if not fast:
            stack.enter_context(local_only())  # a cell's Monte Carlo stays in its process (units are split already)
        if fast or len(local) <= 1:
            with (jax.default_device(local[0]) if (not fast and local) else contextlib.nullcontext()):
                for u in todo:
                    finish(u, compute(u))
        else:
            def run_on(dev, us):
                with jax.default_device(dev):
                    return [(u, compute(u)) for u in us]

            pool = concurrent.futures.ThreadPoolExecutor(len(local))
            try:
                futs = {}
                for u in todo:  # one future per unit, round-robin over devices
                    futs[pool.submit(run_on, local[u % len(local)], [u])] = u
                for fut in concurrent.futures.as_completed(futs):
                    for u, res in fut.result():
                        finish(u, res)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        stack.close()
        bar.close()

    # ---- assemble
    keys = sorted(set(unit_keys) | {k for vals, _ in results.values() for k in vals})  # the same on every process
    values = {k: np.full((n_cells, T), np.nan) for k in keys}
    stderr = {k: np.full((n_cells, T), np.nan) for k in keys}
    for u, (vals, errs) in results.items():
        for k in vals:
            values[k][units[u]] = vals[k]
            stderr[k][units[u]] = errs[k]
    if n_proc > 1:  # every cell from the owner of its unit, which computed or loaded it
        cells_of = np.zeros(n_cells, int)
        for u, cells in enumerate(units):
            cells_of[cells] = owner(u)
        values, stderr = merge_processes(values, cells_of), merge_processes(stderr, cells_of)
        if not fast:
            flags = np.zeros(n_cells, bool)
            flags[rare_cells] = True
            rare_cells = [int(i) for i in np.flatnonzero(agree_any(flags))]
    if fast:
        keep = set(quantities)
        values = {k: v for k, v in values.items() if k in keep}
        stderr = {k: v for k, v in stderr.items() if k in keep}

    # ---- priors, t_S and landmarks per cell
    h_prior = {lv: np.zeros(n_cells) for lv in levels_of_model}
    t_s = np.zeros(n_cells)
    if fast:
        h_prior["classes"] = -(pi0 * np.log(pi0) + (1 - pi0) * np.log1p(-pi0))
        t_s = np.array([ou_time_to_time(process, 0.5 * math.log(L)) if L > 1 else np.nan for L in Lam])
    else:
        for i in range(n_cells):
            p = _cell_params(base, ax, np.unravel_index(i, pshape))
            mix, levels = build_mixture(model, p)
            for lv, part in levels.items():
                h_prior[lv][i] = prior_entropy(mix, part)
            t_s[i] = speciation_time(mix, process)
    for lv in levels_of_model:
        hk = quantity_key(lv, "H")
        if hk in values:
            with np.errstate(invalid="ignore", divide="ignore"):
                values[quantity_key(lv, "H_norm")] = values[hk] / h_prior[lv][:, None]
                stderr[quantity_key(lv, "H_norm")] = stderr[hk] / h_prior[lv][:, None]
    lms = {"t_S": t_s}
    for lv in levels_of_model:
        lm = grid_landmarks(t, values.get(quantity_key(lv, "H_norm")), values.get(quantity_key(lv, "rate")))
        lms.update({quantity_key(lv, k): v for k, v in lm.items()})
    shape = pshape + (T,)
    coords = {**{k: np.asarray(v) for k, v in ax.items()}, "t": t}
    meta = dict(model=model, process=repr(process), params={k: v for k, v in base.items() if k not in ax},
                quantities=list(quantities), method=method, n_samples=n_samples, path="fast" if fast else "cells",
                n_devices=len(devices), n_processes=n_proc, seconds=time.perf_counter() - start,
                n_computed=len(todo), n_units=len(units), cache=cache_info,
                rare_event_cells=sorted(rare_cells) if not fast else [])
    if not fast and rare_cells:
        warnings.warn(f"phase diagram: {len(rare_cells)} of the {len(todo)} cells computed had a Monte Carlo "
                      "estimate carried by fewer than 30 draws at some time (a rare event: its standard error may "
                      "be overconfident); their flat indices are in meta['rare_event_cells']", RareEventWarning,
                      stacklevel=2)
    return PhaseDiagram(coords, {k: v.reshape(shape) for k, v in values.items()},
                        {k: v.reshape(shape) for k, v in stderr.items()},
                        {k: v.reshape(pshape) for k, v in lms.items()},
                        {k: v.reshape(pshape) for k, v in h_prior.items()}, meta)
