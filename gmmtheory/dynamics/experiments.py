"""Clones and U-turns (Biroli et al., arXiv 2402.18491): agreement of reverse runs against the exact collision
probability φ(t), and the speciation experiment on two Gaussians.

``clones``: run n reverse trajectories from T to t, copy each state and continue both copies with independent noise;
the agreement Σ_k p_end(k | x¹) p_end(k | x²) has expectation

    φ(t) = E Σ_k p_t(k | x_t)²

by the martingale property p_t(k | x_t) = E[p_end(k | X_end) | x_t] of the exact reverse process, so it is compared
with ``collision_probability``. This holds only if the sampler reproduces p_t at the split: ``phi_split`` (the same
collision functional on the trajectory states at t) measures that discretisation error. ``u_turns``: draw
(x_0, z) from p_0, noise exactly to x_t, regenerate from t; the retention p_end(z | x'_0) has expectation φ(t) too.
``speciation_experiment`` runs both for two Gaussians at several d.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np

from gmmtheory._checks import check_key
from gmmtheory._precision import in_float64
from gmmtheory.dynamics.grid import Grid
from gmmtheory.dynamics.observables import group_log_posterior, mean_stderr
from gmmtheory.dynamics.sampling import RunSetup, initial_states, prepare_run, run_segment
from gmmtheory.entropy.api import collision_probability
from gmmtheory.landmarks import speciation_time
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.presets import two_gaussians
from gmmtheory.processes import OU, Process


@dataclass(frozen=True, repr=False)
class AgreementResult:
    """Clone agreement or U-turn retention at several times (OU time at equal SNR ``t`` and VE σ ``sigma``).

    ``value``/``stderr``: Monte Carlo estimate (soft, Rao–Blackwellised); ``hard``: argmax-class version;
    ``phi_exact``: ``collision_probability`` at t; ``phi_split`` (clones only): the collision functional on the
    sampler's own states at the split (its deviation from φ is the discretisation error); ``z``: (value − φ)/stderr;
    ``n``: the number of pairs (clones) or samples (U-turns).
    """

    kind: str
    t: np.ndarray
    sigma: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    hard: np.ndarray
    phi_exact: np.ndarray
    phi_split: np.ndarray
    phi_split_stderr: np.ndarray
    n: int

    @property
    def z(self) -> np.ndarray:
        return (self.value - self.phi_exact) / np.maximum(self.stderr, 1e-300)

    def as_dict(self) -> dict:
        """The fields by name, and ``z``."""
        return {**asdict(self), "z": self.z}

    def __repr__(self) -> str:
        z = np.abs(self.z)
        zmax = float(np.max(z)) if z.size else float("nan")
        return f"AgreementResult(kind={self.kind!r}, n={self.n}, times={self.t.size}, max |z|={zmax:.2f})"


def _draws(n_samples: int | None, n_pairs: int | None, default: int) -> int | None:
    """``n_samples``, or the deprecated spelling ``n_pairs`` (same meaning: the number of draws)."""
    if n_pairs is None:
        return default if n_samples is None else n_samples
    if n_samples is not None:
        raise ValueError("give n_samples (the number of draws) or its deprecated alias n_pairs, not both")
    warnings.warn("n_pairs is deprecated; use n_samples (the number of draws)", DeprecationWarning, stacklevel=3)
    return n_pairs


def _split_indices(grid: Grid, times: object, t_ou: bool) -> np.ndarray:
    tv = np.atleast_1d(np.asarray(times, np.float64))
    if tv.ndim != 1 or tv.size == 0 or not np.all(np.isfinite(tv)):
        raise ValueError(f"times must be a non-empty 1-D array of finite times; got {times!r}")
    ref = grid.t_ou if t_ou else grid.t
    lo, hi = float(np.min(ref[:-1])), float(np.max(ref))
    if np.any(tv < lo) or np.any(tv > hi):
        raise ValueError(f"times must lie in [{lo:g}, {hi:g}] (inside the grid, before its last point); got {times!r}")
    idx = np.array([int(np.argmin(np.abs(ref[:-1] - v))) for v in tv])
    return idx


def _exact_phi(mixture: GaussianMixture, t_ou: np.ndarray, partition) -> np.ndarray:
    return np.asarray(collision_probability(mixture, OU(), t_ou, partition=partition).value, np.float64)


def _unguided_setup(mixture, sampler, n, n_steps, process, T, chunk, kwargs: dict) -> RunSetup:
    """The sampler set-up shared by clones and U-turns: no guidance; EDM grid options from ``kwargs``."""
    defaults = dict(t_end=0.0, sigma_min=0.002, sigma_max=80.0, rho=7.0, S_churn=40.0, S_min=0.05, S_max=50.0,
                    S_noise=1.0)
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise ValueError(f"unknown arguments: {unknown}")
    opts = {**defaults, **kwargs}
    return prepare_run(mixture, sampler=sampler, n_samples=n, n_steps=n_steps, process=process, guidance="none",
                       w=1.0, interval=None, partition=None, T=T, chunk=chunk, **opts)


def _pad_states(x: np.ndarray, st: RunSetup) -> jax.Array:
    full = np.zeros((st.n_chunks * st.chunk, x.shape[1]), x.dtype)
    full[: x.shape[0]] = x
    return jnp.asarray(full.reshape(st.n_chunks, st.chunk, -1))


@in_float64
def clones(
    mixture: GaussianMixture,
    times: object,
    *,
    n_samples: int | None = None,
    sampler: str = "sde",
    n_steps: int = 1000,
    process: Process | str | None = None,
    T: float | None = None,
    key: object = None,
    partition: Partition | None = None,
    chunk: int | None = None,
    n_pairs: int | None = None,
    **sampler_kwargs,
) -> AgreementResult:
    """Biroli et al.'s clones: split reverse runs at each time (snapped to the grid; OU time at equal SNR) into two
    independent continuations; agreement vs exact φ(t). One base run is continued through the split times.
    ``n_samples``: the number of base runs, each split into one pair (default 1024; ``n_pairs`` is its deprecated
    spelling); ``n_steps``: sampler steps; ``key``: an int seed or a PRNG key."""
    n = _draws(n_samples, n_pairs, 1024)
    st = _unguided_setup(mixture, sampler, n, n_steps, process, T, chunk, sampler_kwargs)
    part = None if partition is None else check_partition(partition, st.mixture.K)
    idx = _split_indices(st.grid, times, t_ou=True)
    order = np.argsort(idx)
    prng = check_key(key)
    k_init, k_base, k_a, k_b = jax.random.split(prng, 4)
    labels = np.zeros(st.n, np.int32)
    x, _ = initial_states(st, k_init, labels, True, "marginal")
    keys_base = jax.random.split(k_base, st.n_chunks)
    N = st.grid.n_steps
    res = {k: np.empty(idx.size) for k in ("v", "se", "hard", "ps", "pse")}
    cur = 0

    def arr_keys(k, j):
        return jax.random.split(jax.random.fold_in(k, j), st.n_chunks)

    for j in order:
        i = int(idx[j])
        base = run_segment(st, x, keys_base, labels, True, cur, i, False, True)
        x = _pad_states(base.x, st)
        cur = i
        lp_split = group_log_posterior(base, base.final_log_post, part)
        coll = np.sum(np.exp(2 * lp_split), axis=-1)
        res["ps"][j], res["pse"][j] = mean_stderr(coll)
        a = run_segment(st, x, arr_keys(k_a, i), labels, True, i, N, False, False)
        b = run_segment(st, x, arr_keys(k_b, i), labels, True, i, N, False, False)
        la, lb = group_log_posterior(a, a.final_log_post, part), group_log_posterior(b, b.final_log_post, part)
        agree = np.sum(np.exp(la + lb), axis=-1)
        res["v"][j], res["se"][j] = mean_stderr(agree)
        res["hard"][j] = float(np.mean(np.argmax(la, -1) == np.argmax(lb, -1)))
    t_ou = st.grid.t_ou[idx]
    return AgreementResult("clones", t_ou, st.grid.sigma[idx], res["v"], res["se"], res["hard"],
                           _exact_phi(st.mixture, t_ou, part), res["ps"], res["pse"], st.n)


@in_float64
def u_turns(
    mixture: GaussianMixture,
    times: object,
    *,
    n_samples: int = 1024,
    sampler: str = "sde",
    n_steps: int = 1000,
    process: Process | str | None = None,
    T: float | None = None,
    key: object = None,
    partition: Partition | None = None,
    chunk: int | None = None,
    **sampler_kwargs,
) -> AgreementResult:
    """U-turns: (x_0, z) ~ p_0, noised exactly to t (snapped to the grid; OU time at equal SNR), regenerated from t;
    class retention E p_end(z | x'_end) vs exact φ(t). ``n_samples`` draws, ``n_steps`` sampler steps."""
    st = _unguided_setup(mixture, sampler, n_samples, n_steps, process, T, chunk, sampler_kwargs)
    part = None if partition is None else check_partition(partition, st.mixture.K)
    idx = _split_indices(st.grid, times, t_ou=True)
    prng = check_key(key)
    labels = np.zeros(st.n, np.int32)
    N = st.grid.n_steps
    out = {k: np.empty(idx.size) for k in ("v", "se", "hard")}
    for j, i in enumerate(idx):
        kj = jax.random.fold_in(prng, int(i))
        k_init, k_run = jax.random.split(kj)
        x, z = initial_states(st, k_init, labels, True, "marginal", i0=int(i))
        zg = z if part is None else np.argmax(part.membership()[z], axis=-1)
        tr = run_segment(st, x, jax.random.split(k_run, st.n_chunks), labels, True, int(i), N, False, False)
        lp = group_log_posterior(tr, tr.final_log_post, part)
        keep = np.exp(np.take_along_axis(lp, zg[:, None], axis=-1)[:, 0])
        out["v"][j], out["se"][j] = mean_stderr(keep)
        out["hard"][j] = float(np.mean(np.argmax(lp, -1) == zg))
    t_ou = st.grid.t_ou[idx]
    nan = np.full(idx.size, np.nan)
    return AgreementResult("u_turns", t_ou, st.grid.sigma[idx], out["v"], out["se"], out["hard"],
                           _exact_phi(st.mixture, t_ou, part), nan, nan, st.n)


def speciation_experiment(
    dims: object = (256, 1024, 4096, 16384),
    *,
    mu: float = 1.0,
    offsets: object = (-1.0, -0.5, 0.0, 0.5, 1.0),
    n_samples: int | None = None,
    n_steps: int = 1000,
    T: float = 10.0,
    key: object = 0,
    n_pairs: int | None = None,
) -> list[dict]:
    """Biroli et al.'s speciation experiment: two Gaussians ±m (|m|² = d μ̃², unit variance), reverse OU SDE with
    ``n_steps`` Euler–Maruyama steps from T = 10; clones and U-turns at OU times t_S + offset (t_S = ½ log Λ,
    Λ = 1 + |m|²) against exact φ(t), ``n_samples`` clone pairs and U-turn draws each (default 512; ``n_pairs`` is
    its deprecated spelling). One row per (d, t)."""
    n = _draws(n_samples, n_pairs, 512)
    rows = []
    prng = check_key(key)
    for d in np.atleast_1d(np.asarray(dims)).astype(int):
        mix = two_gaussians(int(d), mu)
        t_s = speciation_time(mix)
        times = t_s + np.asarray(offsets, np.float64)
        kd = jax.random.fold_in(prng, int(d))
        c = clones(mix, times, n_samples=n, n_steps=n_steps, T=T, key=jax.random.fold_in(kd, 1))
        u = u_turns(mix, times, n_samples=n, n_steps=n_steps, T=T, key=jax.random.fold_in(kd, 2))
        for j in range(times.size):
            rows.append({
                "d": int(d), "t_S": float(t_s), "t": float(c.t[j]), "t_rel": float(c.t[j] - t_s),
                "phi_exact": float(c.phi_exact[j]),
                "clone": float(c.value[j]), "clone_se": float(c.stderr[j]), "clone_z": float(c.z[j]),
                "clone_hard": float(c.hard[j]), "phi_split": float(c.phi_split[j]),
                "phi_split_se": float(c.phi_split_stderr[j]),
                "uturn": float(u.value[j]), "uturn_se": float(u.stderr[j]), "uturn_z": float(u.z[j]),
                "uturn_hard": float(u.hard[j]),
            })
    return rows
