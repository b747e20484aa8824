"""The jitted sampler kernel: one reverse step of each sampler with the exact (guided) mixture denoiser, run in chunks.

Guided denoiser (unit-data x̂_0 scale), with D_u the unconditional and D_z the (group-)conditional denoiser:

    D = D_z + (w_eff − 1)(D_z − D_u),   w_eff = w inside the interval σ_lo < σ/a < σ_hi, 1 outside (EDM2's lerp:
    w = 1 is bitwise the conditional sampler, w = 0 the unconditional one);  D = D_u when unconditional.

Steps, with ∇log p_t(x) = (a D − x)/σ² on a grid t_0 > t_1 > … (``grid.Grid``):

- ``"sde"``: Euler–Maruyama on dX = f X dt + g dW reversed, x ← x + h [−f x + g² ∇log p_t(x)] + g √h ξ,
  h = t_i − t_{i+1};
- ``"ode"``: Heun on the probability flow dx/dt = f x − ½ g² ∇log p_t(x) (Euler on a last step to σ = 0);
- ``"edm"``: Karras et al. (2022) Algorithm 2 in the unit-data VE frame: σ̂ = σ_i(1 + γ_i),
  x̂ = x + √(σ̂² − σ_i²) S_noise ξ, then a Heun step from σ̂ to σ_{i+1} with d = (x̂ − D(x̂; σ̂))/σ̂.

At every grid point the kernel can record the exact class log-posterior log p_t(k | x_t) and the projection of x_t
on an orthonormal basis Q of span{μ_k − μ̄} (``semantic_basis``). It is compiled once per (sampler, record flag,
sample/grid shape bucket); ``TRACE_COUNT["kernel"]`` counts its traces.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gmmtheory.mixture import GaussianMixture
from gmmtheory.posterior import MixtureArrays, loglik_and_denoisers, loglik_from_residuals, residuals

TRACE_COUNT = {"kernel": 0}  # incremented at trace time (tests check that repeated calls do not retrace)


def semantic_basis(mixture: GaussianMixture) -> np.ndarray:
    """Orthonormal basis Q (d, r) of span{μ_k − μ̄}, r = rank ≥ 1 (a zero column when all means coincide)."""
    centred = mixture.means - mixture.weights @ mixture.means
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    keep = s > 1e-10 * max(1.0, float(s.max(initial=0.0)))
    if not np.any(keep):
        return np.zeros((mixture.d, 1))
    return vt[keep].T.copy()


def jax_grid(g, L: int, dtype) -> dict:
    """The grid's arrays as jax arrays padded to L points with their last value (σ = inf stored as 1e300)."""

    def pad(v, n):
        v = np.asarray(v, np.float64)
        return jnp.asarray(np.concatenate([v, np.repeat(v[-1:], n - v.size)]), dtype)

    return {"t": pad(g.t, L), "a": pad(g.a, L), "s2": pad(g.s2, L), "f": pad(g.f, L), "g2": pad(g.g2, L),
            "sigma": pad(np.where(np.isfinite(g.sigma), g.sigma, 1e300), L), "gamma": pad(g.gamma, L)}


def _post_and_proj(arr: MixtureArrays, q: jax.Array, a, s2, x):
    # scalar a, s2: C_k = a²Λ_k + σ² is (K, d), shared by the chunk (its log is not recomputed per sample)
    r, c = residuals(arr, jnp.asarray(a), jnp.asarray(s2), x)
    log_p = jax.nn.log_softmax(arr.log_weights + loglik_from_residuals(r, c), axis=-1)
    return log_p, x @ q


def _guided(arr, table, params, a, s2, sig, x, lab):
    """The guided denoiser (unit-data x̂_0 scale) at one evaluation: D_z + (w_eff − 1)(D_z − D_u), or D_u."""
    loglik, dens = loglik_and_denoisers(arr, jnp.asarray(a), jnp.asarray(s2), x)
    pu = jax.nn.softmax(arr.log_weights + loglik, axis=-1)
    Du = jnp.einsum("nk,nkd->nd", pu, dens)
    pz = jax.nn.softmax(table[lab] + loglik, axis=-1)
    Dz = jnp.einsum("nk,nkd->nd", pz, dens)
    inside = (sig > params["lo"]) & (sig < params["hi"])
    w_eff = jnp.where(inside, params["w"], 1.0)
    return jnp.where(params["uncond"], Du, Dz + (w_eff - 1.0) * (Dz - Du))


@functools.partial(jax.jit, static_argnames=("kind", "record"))
def sampler_kernel(arr, q, x0, keys, labels, table, grid, params, start, stop, *, kind: str, record: bool):
    """Run steps start ≤ i < stop of a (padded) grid for every chunk. x0 (C, c, d), keys (C,), labels (C, c).

    Returns (final states, final (log-posterior, projection), first record or None, records along the grid)."""
    TRACE_COUNT["kernel"] += 1
    L = grid["a"].shape[0]

    def den(x, j_a, j_s2, sig, lab):
        return _guided(arr, table, params, j_a, j_s2, sig, x, lab)

    def step(x, i, key, lab):
        a0, s20, a1, s21 = grid["a"][i], grid["s2"][i], grid["a"][i + 1], grid["s2"][i + 1]
        sig0, sig1 = grid["sigma"][i], grid["sigma"][i + 1]
        xi = jax.random.normal(key, x.shape, x.dtype)
        if kind == "sde":
            h = grid["t"][i] - grid["t"][i + 1]
            score = (a0 * den(x, a0, s20, sig0, lab) - x) / s20
            f, g2 = grid["f"][i], grid["g2"][i]
            return x + h * (-f * x + g2 * score) + jnp.sqrt(g2 * h) * xi
        if kind == "ode":
            dt = grid["t"][i + 1] - grid["t"][i]

            def vel(xx, aa, ss2, sg, f, g2):
                return f * xx - 0.5 * g2 * (aa * den(xx, aa, ss2, sg, lab) - xx) / ss2

            v0 = vel(x, a0, s20, sig0, grid["f"][i], grid["g2"][i])
            xe = x + dt * v0
            return lax.cond(
                s21 > 0,
                lambda: x + dt * 0.5 * (v0 + vel(xe, a1, s21, sig1, grid["f"][i + 1], grid["g2"][i + 1])),
                lambda: xe,
            )
        # EDM Algorithm 2 (frame a = 1, s2 = σ²)
        s_cur, s_next = jnp.sqrt(s20), jnp.sqrt(s21)
        s_hat = s_cur * (1.0 + grid["gamma"][i])
        gam = grid["gamma"][i]  # √(σ̂² − σ_i²) = σ_i √(γ(2 + γ)): exactly 0 without churn
        x_hat = x + s_cur * jnp.sqrt(gam * (2.0 + gam)) * params["s_noise"] * xi
        d0 = (x_hat - den(x_hat, 1.0, s_hat**2, s_hat, lab)) / s_hat
        x1 = x_hat + (s_next - s_hat) * d0

        def heun():
            d1 = (x1 - den(x1, 1.0, s21, s_next, lab)) / s_next
            return x_hat + (s_next - s_hat) * 0.5 * (d0 + d1)

        return lax.cond(s21 > 0, heun, lambda: x1)

    n_rec = q.shape[1]
    K = arr.means.shape[0]

    def chunk_fn(args):
        x, key, lab = args
        c = x.shape[0]

        def body(xc, i):
            active = (i >= start) & (i < stop)
            xn = lax.cond(active, lambda: step(xc, i, jax.random.fold_in(key, i), lab), lambda: xc)
            if record:
                nan_p = jnp.full((c, K), jnp.nan, x.dtype)
                nan_q = jnp.full((c, n_rec), jnp.nan, x.dtype)
                rec = lax.cond(active, lambda: _post_and_proj(arr, q, grid["a"][i + 1], grid["s2"][i + 1], xn),
                               lambda: (nan_p, nan_q))
            else:
                rec = None
            return xn, rec

        first = _post_and_proj(arr, q, grid["a"][start], grid["s2"][start], x) if record else None
        xf, recs = lax.scan(body, x, jnp.arange(L - 1))
        final = _post_and_proj(arr, q, grid["a"][stop], grid["s2"][stop], xf)
        return xf, final, first, recs

    return lax.map(chunk_fn, (x0, keys, labels))


@jax.jit
def draw_states(arr, keys, z, a, s):
    """Exact draws x = a (μ_z + U_z √λ_z ε₁) + s ε₂ per chunk: keys (C,), z (C, c) → (C, c, d)."""

    def one(args):
        key, zc = args
        k1, k2 = jax.random.split(key)
        d = arr.means.shape[1]
        e1 = jax.random.normal(k1, (zc.shape[0], d), arr.means.dtype)
        e2 = jax.random.normal(k2, (zc.shape[0], d), arr.means.dtype)
        scaled = jnp.sqrt(arr.evals[zc]) * e1
        if arr.basis is None:
            noise = scaled
        elif arr.basis.ndim == 2:
            noise = scaled @ arr.basis.T
        else:
            noise = jnp.einsum("nl,njl->nj", scaled, arr.basis[zc])
        return a * (arr.means[zc] + noise) + s * e2

    return lax.map(one, (keys, z))
