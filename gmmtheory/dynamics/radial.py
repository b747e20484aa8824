"""The reduced sampler of a mixture with per-class isotropic covariances Σ_k = v_k I: state (u, ρ), u = Qᵀx ∈ R^r,
ρ = |x⊥|², m = d − r orthogonal dimensions.

The class-k denoiser's x⊥ part is κ_k x⊥ with κ_k = a v_k / c_k, c_k = a² v_k + σ²; the guided denoiser combines the
D_k with weights ω_k (ω = p_z + (w_eff − 1)(p_z − p_u), or p_u; Σ_k ω_k = 1) that depend on (u, ρ) through

    log p_t(x | k) = log N(u; a m_k, c_k I_r) − (m/2) log c_k − ρ/(2 c_k) + const   (``Reduction.orthogonal_loglik``),

so D⊥ = κ x⊥ with κ = Σ_k ω_k κ_k: x⊥ keeps its direction under every drift, and the steps of ``dynamics.kernel``
become, with ξ = Q ξ_u + ξ⊥:

- "sde": u' = u + h(−f u + g² (a D_u − u)/σ²) + √(g² h) ξ_u and x⊥' = c x⊥ + √v ξ⊥ with c = 1 + h(−f + g²(aκ − 1)/σ²),
  v = g² h, hence exactly in law ρ' = (c √ρ + √v g)² + v χ²_{m−1} (g ~ N(0, 1) the component of ξ⊥ along x⊥,
  χ²_{m−1} = |the rest|², independent);
- "ode": velocity of u as in the kernel and x⊥' = c x⊥ with c = 1 + dt/2 (β_0 + β_1 (1 + dt β_0)),
  β_j = f_j − ½ g²_j (a_j κ_j − 1)/σ²_j, κ_1 evaluated at the Euler predictor (u_e, ρ_e = (1 + dt β_0)² ρ): ρ' = c² ρ;
- "edm": churn û = u + s ξ_u, ρ̂ = (√ρ + s g)² + s² χ²_{m−1} with s = √(σ̂² − σ_i²) S_noise, then Heun
  (a = 1): δ_j = (1 − κ_j)/σ_j, c = 1 + η/2 (δ_0 + δ_1 (1 + η δ_0)), η = σ_{i+1} − σ̂: ρ' = c² ρ̂.

Initial states: z ~ π (or the label's group prior), u = a(m_z + √v_z ε₁) + σ ε₂ and ρ = (a² v_z + σ²) χ²_m; for
init="noise", u = a m̄ + σ ε and ρ = σ² χ²_m. ``kernel.TRACE_COUNT["radial"]`` counts the kernel's traces.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gmmtheory._chunks import pad_to
from gmmtheory.dynamics.grid import GRID_BUCKET
from gmmtheory.dynamics.kernel import TRACE_COUNT, draw_states, jax_grid
from gmmtheory.dynamics.runs import (
    RunSetup,
    Trajectories,
    along_grid,
    chunked_labels,
    guidance_params,
    initial_classes,
    unchunk,
)
from gmmtheory.posterior import group_log_priors, loglik_and_denoisers, mixture_arrays
from gmmtheory.reduction import Reduction

__all__ = ["radial_kernel", "run_radial"]

TRACE_COUNT.setdefault("radial", 0)  # the shared trace counter of dynamics.kernel


def _loglik(arr, ov, m, a, s2, u, rho):
    """Class log-likelihoods of (u, ρ) (class-independent constants dropped) and the denoisers of u, (c, K, r)."""
    loglik, dens = loglik_and_denoisers(arr, jnp.asarray(a), jnp.asarray(s2), u)
    c = a * a * ov + s2
    return loglik - 0.5 * m * jnp.log(c) - 0.5 * rho[:, None] / c, dens, a * ov / c


def _post(arr, ov, m, q, a, s2, u, rho):
    ll, _, _ = _loglik(arr, ov, m, a, s2, u, rho)
    return jax.nn.log_softmax(arr.log_weights + ll, axis=-1), u @ q


def _guided(arr, ov, m, table, params, a, s2, sig, u, rho, lab):
    """(D_u (c, r), κ (c,)): the guided denoiser's u part and its x⊥ coefficient D⊥ = κ x⊥."""
    ll, dens, kap = _loglik(arr, ov, m, a, s2, u, rho)
    pu = jax.nn.softmax(arr.log_weights + ll, axis=-1)
    pz = jax.nn.softmax(table[lab] + ll, axis=-1)
    inside = (sig > params["lo"]) & (sig < params["hi"])
    w_eff = jnp.where(inside, params["w"], 1.0)
    om = jnp.where(params["uncond"], pu, pz + (w_eff - 1.0) * (pz - pu))
    return jnp.einsum("nk,nkd->nd", om, dens), om @ kap


def _chi2(key, dof, shape, dtype):
    """χ²_dof draws (0 when dof ≤ 0): 2 Gamma(dof/2)."""
    g = jax.random.gamma(key, jnp.maximum(dof, 1.0) / 2.0, shape, dtype)
    return jnp.where(dof > 0, 2.0 * g, 0.0)


def _radial_noise(key, rho, v, m, dtype):
    """|c x⊥ + √v ξ⊥|² with c = 1 given ρ = |x⊥|²: (√ρ + √v g)² + v χ²_{m−1} (0-noise when m = 0)."""
    kg, kc = jax.random.split(key)
    g = jax.random.normal(kg, rho.shape, dtype) * (m > 0)
    return (jnp.sqrt(rho) + jnp.sqrt(v) * g) ** 2 + v * _chi2(kc, m - 1.0, rho.shape, dtype)


@functools.partial(jax.jit, static_argnames=("kind", "record"))
def radial_kernel(arr, ov, m, q, u0, rho0, keys, labels, table, grid, params, start, stop, *, kind: str,
                  record: bool):
    """Steps start ≤ i < stop of the (u, ρ) sampler for every chunk: u0 (C, c, r), rho0 (C, c), keys (C,).

    Returns ((u, ρ) final, final (log-posterior, projection), first record (lp, proj, ρ) or None, records)."""
    TRACE_COUNT["radial"] += 1
    L = grid["a"].shape[0]

    def den(u, rho, a, s2, sig, lab):
        return _guided(arr, ov, m, table, params, a, s2, sig, u, rho, lab)

    def step(u, rho, i, key, lab):
        a0, s20, a1, s21 = grid["a"][i], grid["s2"][i], grid["a"][i + 1], grid["s2"][i + 1]
        sig0, sig1 = grid["sigma"][i], grid["sigma"][i + 1]
        k_u, k_r = jax.random.split(key)
        xi = jax.random.normal(k_u, u.shape, u.dtype)
        if kind == "sde":
            h = grid["t"][i] - grid["t"][i + 1]
            f, g2 = grid["f"][i], grid["g2"][i]
            D, kap = den(u, rho, a0, s20, sig0, lab)
            u1 = u + h * (-f * u + g2 * (a0 * D - u) / s20) + jnp.sqrt(g2 * h) * xi
            c = 1.0 + h * (-f + g2 * (a0 * kap - 1.0) / s20)
            return u1, _radial_noise(k_r, c * c * rho, g2 * h, m, u.dtype)
        if kind == "ode":
            dt = grid["t"][i + 1] - grid["t"][i]

            def vel(uu, rr, aa, ss2, sg, f, g2):
                D, kap = den(uu, rr, aa, ss2, sg, lab)
                return f * uu - 0.5 * g2 * (aa * D - uu) / ss2, f - 0.5 * g2 * (aa * kap - 1.0) / ss2

            v0, b0 = vel(u, rho, a0, s20, sig0, grid["f"][i], grid["g2"][i])
            ue, ce = u + dt * v0, 1.0 + dt * b0

            def heun():
                v1, b1 = vel(ue, ce * ce * rho, a1, s21, sig1, grid["f"][i + 1], grid["g2"][i + 1])
                c = 1.0 + dt * 0.5 * (b0 + b1 * ce)
                return u + dt * 0.5 * (v0 + v1), c * c * rho

            return lax.cond(s21 > 0, heun, lambda: (ue, ce * ce * rho))
        s_cur, s_next = jnp.sqrt(s20), jnp.sqrt(s21)
        s_hat = s_cur * (1.0 + grid["gamma"][i])
        gam = grid["gamma"][i]
        sn = s_cur * jnp.sqrt(gam * (2.0 + gam)) * params["s_noise"]  # √(σ̂² − σ_i²) S_noise
        u_hat = u + sn * xi
        rho_hat = _radial_noise(k_r, rho, sn * sn, m, u.dtype)
        D0, k0 = den(u_hat, rho_hat, 1.0, s_hat**2, s_hat, lab)
        d0, dl0 = (u_hat - D0) / s_hat, (1.0 - k0) / s_hat
        eta = s_next - s_hat
        u1, c1 = u_hat + eta * d0, 1.0 + eta * dl0

        def heun():
            D1, k1 = den(u1, c1 * c1 * rho_hat, 1.0, s21, s_next, lab)
            d1, dl1 = (u1 - D1) / s_next, (1.0 - k1) / s_next
            c = 1.0 + eta * 0.5 * (dl0 + dl1 * c1)
            return u_hat + eta * 0.5 * (d0 + d1), c * c * rho_hat

        return lax.cond(s21 > 0, heun, lambda: (u1, c1 * c1 * rho_hat))

    n_rec = q.shape[1]
    K = arr.means.shape[0]

    def post(i, u, rho):
        return _post(arr, ov, m, q, grid["a"][i], grid["s2"][i], u, rho)

    def chunk_fn(args):
        u, rho, key, lab = args
        c = u.shape[0]

        def body(state, i):
            uc, rc = state
            active = (i >= start) & (i < stop)
            un, rn = lax.cond(active, lambda: step(uc, rc, i, jax.random.fold_in(key, i), lab), lambda: (uc, rc))
            if record:
                nan = (jnp.full((c, K), jnp.nan, u.dtype), jnp.full((c, n_rec), jnp.nan, u.dtype),
                       jnp.full((c,), jnp.nan, u.dtype))
                rec = lax.cond(active, lambda: (*post(i + 1, un, rn), rn), lambda: nan)
            else:
                rec = None
            return (un, rn), rec

        first = (*post(start, u, rho), rho) if record else None
        (uf, rf), recs = lax.scan(body, (u, rho), jnp.arange(L - 1))
        return (uf, rf), post(stop, uf, rf), first, recs

    return lax.map(chunk_fn, (u0, rho0, keys, labels))


def _initial(st: RunSetup, red: Reduction, arr, key, labels, init: str):
    """Exact (or noise) initial (u (C, c, r), ρ (C, c)) at grid point 0 (module docstring)."""
    mix, g = st.mixture, st.grid
    C, c = st.n_chunks, st.chunk
    kz, kx, kr = jax.random.split(key, 3)
    a, s = float(g.a[0]), float(math.sqrt(g.s2[0]))
    m = float(red.orth_dim)
    chi = _chi2(kr, m, (C * c,), arr.means.dtype)
    if init == "noise":
        mbar = mix.weights @ mix.means
        eps = jax.random.normal(kx, (C * c, mix.d), arr.means.dtype)
        u = a * jnp.asarray(mbar, arr.means.dtype) + s * eps
        return u.reshape(C, c, mix.d), (s * s * chi).reshape(C, c)
    z = initial_classes(st, kz, labels, init)
    u = draw_states(arr, jax.random.split(kx, C), jnp.asarray(z.reshape(C, c)), a, s)
    var = a * a * np.asarray(red.orth_var)[z] + s * s
    return u, (jnp.asarray(var) * chi).reshape(C, c)


def run_radial(st: RunSetup, red: Reduction, k_init, k_run, labels: np.ndarray, uncond: bool, init: str,
               record: bool, q: np.ndarray, basis: np.ndarray):
    """A whole radial run on the reduced set-up ``st`` (mixture = ``red.mixture``): (Trajectories with x = final u,
    final ρ (n,), ρ along the grid (n, L) or None)."""
    mix, g = st.mixture, st.grid
    arr = mixture_arrays(mix)
    dtype = arr.means.dtype
    L = pad_to(g.t.size, GRID_BUCKET)
    u0, rho0 = _initial(st, red, arr, k_init, labels, init)
    table = jnp.asarray(group_log_priors(mix, st.partition), dtype)
    keys = jax.random.split(k_run, st.n_chunks)
    (uf, rf), final, first, recs = radial_kernel(
        arr, jnp.asarray(red.orth_var, dtype), jnp.asarray(float(red.orth_dim), dtype), jnp.asarray(q, dtype), u0,
        rho0, keys, chunked_labels(st, labels), table, jax_grid(g, L, dtype), guidance_params(st, uncond, dtype),
        jnp.int32(0), jnp.int32(g.n_steps), kind=st.sampler, record=record)
    n, N = st.n, g.n_steps
    log_post = proj = rho_rec = None
    if record:
        log_post = along_grid(first[0], recs[0], n, g.t.size, 0, N)
        proj = along_grid(first[1], recs[1], n, g.t.size, 0, N)
        rho_rec = along_grid(first[2], recs[2], n, g.t.size, 0, N)
    tr = Trajectories(
        grid=g, sampler=st.sampler, guidance=st.guidance, w=st.w, interval=st.interval,
        labels=np.where(uncond, -1, labels).astype(np.int64), partition=st.partition,
        final_log_post=unchunk(final[0], n), final_proj=unchunk(final[1], n), basis=basis, log_post=log_post,
        proj=proj, x=unchunk(uf, n), start=0, stop=N,
    )
    return tr, unchunk(rf, n), rho_rec
