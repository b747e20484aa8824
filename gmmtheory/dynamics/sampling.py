"""Reverse runs with exact scores: ``simulate`` (and its three presets) and the ``Trajectories`` it returns.

Every sampler integrates the reverse of X_t = a(t) X_0 + σ(t) ε with the *exact* denoisers of the mixture
(``posterior.loglik_and_denoisers``), so any deviation from the theory is discretisation or Monte Carlo error, never
a learned-score error. The steps and the guidance rule are in ``dynamics.kernel``, the grids in ``dynamics.grid``.

Labels: None (unconditional), an int, an integer array (n,), or ``"prior"`` (one label per sample drawn from the
(group) prior π). Initial states (``init=``): ``"marginal"`` (exact draw z ~ π, x = a(μ_z + Σ_z^{1/2} ε₁) + σ ε₂
from p_T), ``"conditional"`` (exact draw from p_T(· | label)), ``"noise"`` (N(a_T μ̄, σ_T² I), the practitioner's
start), ``"auto"`` (marginal when unconditional, else conditional).

Reduction (``reduced=``): for mixtures that ``reduction.reduce_mixture`` accepts (one covariance Σ with the span S of
the means invariant, or per-class isotropic covariances), every sampler splits exactly into the coordinates
u = Qᵀx ∈ R^r of S and the orthogonal rest, which follows a closed-form linear Gaussian recursion (shared Σ) or a
one-dimensional radial recursion (isotropic classes); ``dynamics.reduced`` runs that at a cost independent of d
(docs/reduced_dynamics.md). ``reduced="auto"`` (default) uses it when the mixture admits it and
d ≥ max(``reduced.REDUCE_MIN_D``, 4r).

Runs are split into chunks of c samples (``chunk_size``: the largest power of two with c·K·d ≤ 2²¹ float64, at least
8 and at most the next power of two above n), mapped with ``lax.map``; the grid is padded to a multiple of
``grid.GRID_BUCKET`` points, so one compilation serves similar shapes. Inputs are validated before any jit work.
"""

from __future__ import annotations

import jax

from gmmtheory._checks import check_choice, check_key
from gmmtheory._precision import in_float64
from gmmtheory.dynamics.grid import INITS
from gmmtheory.dynamics.reduced import choose_reduction, simulate_reduced
from gmmtheory.dynamics.runs import (
    CHUNK_BYTES,
    MIN_CHUNK,
    RunSetup,
    Trajectories,
    chunk_size,
    initial_states,
    prepare_run,
    resolve_labels,
    run_segment,
)
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.processes import Process

__all__ = ["CHUNK_BYTES", "MIN_CHUNK", "RunSetup", "Trajectories", "chunk_size", "edm_sampler", "initial_states",
           "prepare_run", "probability_flow", "resolve_labels", "reverse_sde", "run_segment", "simulate"]


@in_float64
def simulate(
    mixture: GaussianMixture,
    *,
    sampler: str = "edm",
    n_samples: int = 1024,
    n_steps: int | None = None,
    key: object = None,
    label: object = None,
    guidance: str = "none",
    w: float = 1.0,
    interval: object = None,
    partition: Partition | None = None,
    process: Process | str | None = None,
    T: float | None = None,
    t_end: float = 0.0,
    init: str = "auto",
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    S_churn: float = 40.0,
    S_min: float = 0.05,
    S_max: float = 50.0,
    S_noise: float = 1.0,
    record: bool = True,
    keep_x: bool = False,
    chunk: int | None = None,
    sigmas: object = None,
    reduced: bool | str = "auto",
) -> Trajectories:
    """Run ``n_samples`` reverse trajectories of ``mixture`` with exact scores (see the module docstring).

    Args:
        sampler: "sde" (Euler–Maruyama), "ode" (Heun, probability flow) or "edm" (Karras et al. Algorithm 2).
        n_samples: number of trajectories (draws). n_steps: number of sampler steps N (grid of N + 1 points;
            default 64, or the length of ``sigmas``). key: PRNG key or int seed (default 0).
        label: None, int, integer array (n,) or "prior" (group labels when ``partition`` is given).
        guidance, w, interval: the guidance rule ("none", "cfg" with scale w, "interval" with (σ_lo, σ_hi)).
        process, T, t_end: process (or its name) and time range of "sde"/"ode" (default OU, T = 10, t_end = 0).
        init: "auto", "marginal", "conditional" or "noise". record: keep posteriors along the way.
        keep_x: return the final states (n, d). chunk: samples per chunk (default: bounded memory).
        sigmas: "edm" only: a custom decreasing σ grid of ``n_steps`` values (e.g. ``control.entropy_schedule``)
            instead of EDM's ρ-grid; σ_N = 0 is appended. A grid ending in 0 (diffusers, k-diffusion,
            ``bridge.sampling.edm_sigmas``) is accepted: the 0 is the last step, to the denoised output, and
            ``n_steps`` counts the nonzero values.
        reduced: "auto" (default), True or False. True: run the exact reduced dynamics (``dynamics.reduced``: the
            coordinates u = Qᵀx of the span of the means plus a closed-form orthogonal law, cost independent of d);
            a ``ValueError`` saying why when the mixture does not reduce (``reduction.reduction_reason``). False:
            the full d-dimensional sampler. "auto": reduced when the mixture reduces and d ≥ max(32, 4r). Reduced
            runs have the same law as full ones (pathwise the same u for "ode" from the same u_0); their
            ``final_log_post``, ``log_post``, ``proj`` are exact functions of u (and ρ = |x⊥|² for isotropic
            classes), ``x`` (keep_x) is Q u plus an exact draw of x⊥ from its law at the end (exact in law, not
            pathwise), and ``extra`` holds the orthogonal law (``extra["orth_variance"]``, …; see
            ``dynamics.reduced``).
    """
    st = prepare_run(mixture, sampler=sampler, n_samples=n_samples, n_steps=n_steps, process=process,
                     guidance=guidance, w=w, interval=interval, partition=partition, T=T, t_end=t_end,
                     sigma_min=sigma_min, sigma_max=sigma_max, rho=rho, S_churn=S_churn, S_min=S_min, S_max=S_max,
                     S_noise=S_noise, chunk=chunk, sigmas=sigmas)
    init = check_choice("init", init, INITS)
    prng = check_key(key)
    red = choose_reduction(st.mixture, reduced)
    M = st.mixture.K if st.partition is None else st.partition.M
    gw = (st.partition or Partition.identity(st.mixture.K)).group_weights(st.mixture.weights)
    labels, uncond = resolve_labels(label, st.n, M, gw, prng)
    if uncond and st.guidance != "none":
        raise ValueError(f"guidance={st.guidance!r} needs a label (an int, an array or 'prior')")
    if uncond and init == "conditional":
        raise ValueError("init='conditional' needs a label")
    k_init, k_run = jax.random.split(prng)
    if red is not None:
        return simulate_reduced(st, red, k_init, k_run, labels, uncond, init, record, keep_x, chunk)
    x0, _ = initial_states(st, k_init, labels, uncond, init)
    keys = jax.random.split(k_run, st.n_chunks)
    return run_segment(st, x0, keys, labels, uncond, 0, st.grid.n_steps, record, keep_x)


def reverse_sde(mixture: GaussianMixture, **kwargs) -> Trajectories:
    """Euler–Maruyama on the reverse SDE (``simulate(sampler="sde", ...)``; default OU, T = 10, 1000 steps)."""
    kwargs.setdefault("n_steps", 1000)
    return simulate(mixture, sampler="sde", **kwargs)


def probability_flow(mixture: GaussianMixture, **kwargs) -> Trajectories:
    """Heun on the probability-flow ODE (``simulate(sampler="ode", ...)``)."""
    kwargs.setdefault("n_steps", 1000)
    return simulate(mixture, sampler="ode", **kwargs)


def edm_sampler(mixture: GaussianMixture, **kwargs) -> Trajectories:
    """EDM's stochastic sampler (``simulate(sampler="edm", ...)``; 64 steps, S_churn 40 by default)."""
    return simulate(mixture, sampler="edm", **kwargs)
