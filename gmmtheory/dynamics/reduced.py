"""Reduced reverse dynamics: every sampler on the span of the means, at a cost independent of the dimension d.

Write x = Q u + x⊥ with Q (d, r) an orthonormal basis of S = span{μ_k} (``reduction.reduce_mixture``; uncentred,
r ≤ K) and x⊥ ⊥ S. The exact class-k denoiser is D_k(x) = μ_k + a Σ_k C_k⁻¹ (x − a μ_k), C_k = a² Σ_k + σ² I.

Shared kind (one Σ with Σ S ⊂ S; Σ commutes with QQᵀ). Then Qᵀ D_k(x) is the r-dimensional mixture's denoiser at
u (``Reduction.mixture``: means Qᵀμ_k, covariance QᵀΣQ) and (I − QQᵀ) D_k(x) = a Σ⊥ (a² Σ⊥ + σ² I)⁻¹ x⊥ is the same
for every class. The guided denoiser D = D_z + (w_eff − 1)(D_z − D_u) combines the D_k with weights that sum to 1,
so its x⊥ part is that same class-independent linear map: per eigenvalue λ of Σ on S⊥,

    D⊥ = κ x⊥,   κ = a λ / (a² λ + σ²)      (for Σ = s² I: κ = a s² / (a² s² + σ²)).

The class posteriors depend on u alone, and every step of every sampler (``dynamics.kernel``) is, along each
eigen-direction of Σ⊥, the linear recursion y' = c_i (y + √pre_i ξ) + √post_i ξ' with (h = t_i − t_{i+1},
dt = −h, C(a, s²) = a² λ + σ²):

- "sde" (Euler–Maruyama): c = 1 − h f_i − h g²_i / C_i, pre = 0, post = g²_i h;
- "ode" (Heun): β_j = f_j + ½ g²_j / C_j, c = 1 + dt/2 (β_i + β_{i+1}(1 + dt β_i)) (Euler c = 1 + dt β_i on a last
  step to σ = 0), pre = post = 0;
- "edm" (Algorithm 2, a = 1): σ̂ = σ_i(1 + γ_i), δ(s) = s/(λ + s²), η = σ_{i+1} − σ̂,
  c = 1 + η/2 (δ(σ̂) + δ(σ_{i+1})(1 + η δ(σ̂))) (Euler c = 1 + η δ(σ̂) when σ_{i+1} = 0),
  pre = (σ̂² − σ_i²) S_noise², post = 0.

With the noise split ξ = Q ξ_u + ξ⊥ (independent parts), u runs the ordinary kernel on ``Reduction.mixture`` and
x⊥ ~ N(0, V_i(Σ⊥)) independently of u, with V_0 = a_0² λ + σ_0² (exact starts; σ_0² for init="noise") and
V_{i+1} = c_i² (V_i + pre_i) + post_i (``orth_variance``).

Radial kind (Σ_k = v_k I, ``dynamics.radial``): x⊥ keeps its direction under every drift and the posteriors depend on
(u, ρ = |x⊥|²); ρ has an exact scalar recursion.

``simulate(reduced=...)`` calls ``simulate_reduced``. ``Trajectories.extra`` of a reduced run holds "reduced" (the
kind), "reduction" (the ``Reduction``), "final_u" (n, r), and for the shared kind "orth_evals" (G,), "orth_mult"
(G,), "orth_variance" (L, G) = V along the grid per distinct eigenvalue; for the radial kind "final_rho" (n,) and,
with record=True, "rho" (n, L). ``x`` (keep_x) is Q u + an exact draw of x⊥ from its law given (u, ρ) at the end:
exact in law, not pathwise.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from gmmtheory.dynamics.grid import Grid
from gmmtheory.dynamics.kernel import semantic_basis
from gmmtheory.dynamics.radial import run_radial
from gmmtheory.dynamics.runs import RunSetup, Trajectories, chunk_size, initial_states, run_segment
from gmmtheory.mixture import GaussianMixture
from gmmtheory.reduction import Reduction, reduce_mixture, reduction_reason

__all__ = ["REDUCE_MIN_D", "choose_reduction", "orth_step_factors", "orth_variance", "reduced_setup",
           "simulate_reduced"]

REDUCE_MIN_D = 32  # "auto" reduces when the mixture admits it and d ≥ max(REDUCE_MIN_D, 4 r)


@functools.lru_cache(maxsize=16)
def _reduction(mixture: GaussianMixture) -> Reduction | str:
    reason = reduction_reason(mixture)
    return reason if reason is not None else reduce_mixture(mixture)


def choose_reduction(mixture: GaussianMixture, reduced: object) -> Reduction | None:
    """The ``Reduction`` a run uses, or None for the full sampler. ``reduced``: True (a ``ValueError`` naming the
    reason when the mixture does not reduce), False, or "auto" (reduce when admitted and d ≥ max(32, 4r))."""
    if isinstance(reduced, str) and reduced == "auto":
        out = _reduction(mixture)
        if isinstance(out, str) or mixture.d < max(REDUCE_MIN_D, 4 * out.r):
            return None
        return out
    if reduced is True or reduced is False or isinstance(reduced, np.bool_):
        if not reduced:
            return None
        out = _reduction(mixture)
        if isinstance(out, str):
            raise ValueError(f"reduced=True: this mixture has no exact reduction to the span of its means: {out}; "
                             "use reduced=False or 'auto'")
        return out
    raise ValueError(f"reduced must be True, False or 'auto'; got {reduced!r}")


# ======================================================================================= the orthogonal law
def orth_step_factors(grid: Grid, sampler: str, lam: np.ndarray, S_noise: float = 1.0):
    """Per step i and eigenvalue λ of Σ on S⊥: (c, pre, post), each (N, G), with y_{i+1} = c (y_i + √pre ξ) + √post ξ'
    the exact orthogonal part of the discrete sampler (module docstring)."""
    lam = np.atleast_1d(np.asarray(lam, np.float64))[None, :]
    t, a, s2, f, g2 = (np.asarray(v, np.float64)[:, None] for v in (grid.t, grid.a, grid.s2, grid.f, grid.g2))
    zero = np.zeros((grid.n_steps, lam.shape[1]))
    if sampler == "sde":
        h = t[:-1] - t[1:]
        c = 1.0 - h * f[:-1] - h * g2[:-1] / (a[:-1] ** 2 * lam + s2[:-1])
        return c, zero, np.broadcast_to(g2[:-1] * h, c.shape).copy()
    if sampler == "ode":
        dt = t[1:] - t[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = f + 0.5 * g2 / (a**2 * lam + s2)
        b0, b1 = beta[:-1], beta[1:]
        heun = 1.0 + dt * 0.5 * (b0 + b1 * (1.0 + dt * b0))
        c = np.where(s2[1:] > 0, heun, 1.0 + dt * b0)
        return c, zero, zero
    if sampler == "edm":
        gam = np.asarray(grid.gamma, np.float64)[:, None]
        s_cur, s_next = np.sqrt(s2[:-1]), np.sqrt(s2[1:])
        s_hat = s_cur * (1.0 + gam)
        eta = s_next - s_hat
        d0 = s_hat / (lam + s_hat**2)
        with np.errstate(divide="ignore", invalid="ignore"):
            d1 = s_next / (lam + s_next**2)
            heun = 1.0 + eta * 0.5 * (d0 + d1 * (1.0 + eta * d0))
        c = np.where(s_next > 0, heun, 1.0 + eta * d0)
        pre = np.broadcast_to(s2[:-1] * gam * (2.0 + gam) * S_noise**2, c.shape).copy()  # σ̂² − σ_i²
        return c, pre, zero
    raise ValueError(f"sampler must be one of ('sde', 'ode', 'edm'); got {sampler!r}")


def orth_variance(grid: Grid, sampler: str, lam, *, init: str = "marginal", S_noise: float = 1.0,
                  start: int = 0, stop: int | None = None) -> np.ndarray:
    """V_i (L, G): the variance of each orthogonal coordinate along eigenvalue λ of Σ⊥ at every grid point of a run
    over steps start ≤ i < stop (nan outside). V_start = a² λ + σ² (exact starts, init "marginal"/"conditional"/
    "auto") or σ² (init "noise"); V_{i+1} = c_i² (V_i + pre_i) + post_i (``orth_step_factors``)."""
    lam = np.atleast_1d(np.asarray(lam, np.float64))
    stop = grid.n_steps if stop is None else stop
    c, pre, post = orth_step_factors(grid, sampler, lam, S_noise)
    out = np.full((grid.t.size, lam.size), np.nan)
    v = (0.0 if init == "noise" else grid.a[start] ** 2 * lam) + grid.s2[start]
    out[start] = v
    for i in range(start, stop):
        v = c[i] ** 2 * (v + pre[i]) + post[i]
        out[i + 1] = v
    return out


# ================================================================================================ the runs
def reduced_setup(st: RunSetup, red: Reduction, chunk: int | None = None) -> RunSetup:
    """The full-d set-up ``st`` moved to the reduced mixture (d → r; chunking recomputed, or ``chunk``)."""
    c, C = chunk_size(st.n, red.mixture.K, red.r, chunk)
    return dataclasses.replace(st, mixture=red.mixture, chunk=c, n_chunks=C)


def _complement(red: Reduction, xi: np.ndarray) -> np.ndarray:
    """(I − QQᵀ) ξ row-wise."""
    Q = red.basis
    return xi - (xi @ Q) @ Q.T


def _orth_draw_shared(full: GaussianMixture, red: Reduction, st: RunSetup, init: str, key, n: int) -> np.ndarray:
    """An exact draw (n, d) of x⊥ at the end: (I − QQᵀ) U diag(√V_end(λ)) Uᵀ ξ (Σ = U diag(λ) Uᵀ commutes with QQᵀ)."""
    evals, U = full.spectrum
    lam = np.asarray(evals[0], np.float64)
    uniq, inv = np.unique(lam, return_inverse=True)
    v_end = orth_variance(st.grid, st.sampler, uniq, init=init, S_noise=st.S_noise)[-1][inv]
    xi = np.asarray(jax.random.normal(key, (n, full.d), jnp.float64))
    U = None if U is None else (U if U.ndim == 2 else U[0])
    y = np.sqrt(v_end) * xi if U is None else ((xi @ U) * np.sqrt(v_end)) @ U.T
    return _complement(red, y)


def simulate_reduced(st: RunSetup, red: Reduction, k_init, k_run, labels: np.ndarray, uncond: bool, init: str,
                     record: bool, keep_x: bool, chunk) -> Trajectories:
    """A whole reduced run (grid steps 0..N) of the validated full-d set-up ``st``: the same Trajectories as
    ``run_segment`` on the full mixture, with the orthogonal law in ``extra`` (module docstring)."""
    full = st.mixture
    rst = reduced_setup(st, red, chunk)
    basis = semantic_basis(full)  # (d, r'): the centred span, inside S
    q = red.basis.T @ basis  # (r, r'): ⟨x, basis⟩ = u ⋅ Qᵀbasis since basis ⊂ S
    init_eff = ("marginal" if uncond else "conditional") if init == "auto" else init
    k_orth = jax.random.fold_in(k_run, 99)
    extra: dict = {"reduced": red.kind, "reduction": red}
    if red.kind == "shared":
        u0, _ = initial_states(rst, k_init, labels, uncond, init)
        keys = jax.random.split(k_run, rst.n_chunks)
        tr = run_segment(rst, u0, keys, labels, uncond, 0, rst.grid.n_steps, record, True, proj_basis=(q, basis))
        u = tr.x
        extra.update(orth_evals=red.orth_evals, orth_mult=red.orth_mult,
                     orth_variance=orth_variance(st.grid, st.sampler, red.orth_evals, init=init_eff,
                                                 S_noise=st.S_noise))
        x = None
        if keep_x:
            x = u @ red.basis.T + _orth_draw_shared(full, red, st, init_eff, k_orth, st.n)
    else:
        tr, rho_final, rho_rec = run_radial(rst, red, k_init, k_run, labels, uncond, init_eff, record, q, basis)
        u = tr.x
        extra["final_rho"] = rho_final
        if record:
            extra["rho"] = rho_rec
        x = None
        if keep_x:
            y = _complement(red, np.asarray(jax.random.normal(k_orth, (st.n, full.d), jnp.float64)))
            nrm = np.linalg.norm(y, axis=1, keepdims=True)
            x = u @ red.basis.T + y / np.maximum(nrm, 1e-300) * np.sqrt(rho_final)[:, None]
    extra["final_u"] = u
    return dataclasses.replace(tr, x=x, extra=extra)
