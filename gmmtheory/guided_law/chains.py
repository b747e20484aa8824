"""Exact laws of the discrete samplers along the class coordinate: the density propagated step by step.

The law of y = ⟨e, x⟩ (``coordinates``) is held as weighted nodes (y_j, w_j), Σ w_j = 1, a quadrature of the
density that is exact for smooth observables up to the node spacing (trapezoid rule on Gaussian-smooth densities:
error ~ exp(−2π² s²/h²) for a density smooth on scale s, spacing h). A sampler step is

- a deterministic map y ↦ Φ(y) (Heun, or the Euler–Maruyama mean y + h(−f y + g² ∇log p)): the nodes move, the
  weights stay (the exact push-forward of the quadrature measure);
- Gaussian noise of variance v (Euler–Maruyama: v = g² h; EDM churn: v = (σ̂² − σ_i²) S_noise²): the density
  p'(y') = Σ_j w_j N(y'; y_j, v) is evaluated on a fresh uniform lattice of spacing h = min(dy · s_t, √v / 2)
  (s_t = √(a²λ + σ²) the class sd in the frame) around the nodes, w'_i = h p'(y'_i); nodes with w' < 1e-25 drop.

The samplers are exactly those of ``dynamics.kernel`` on a ``dynamics.grid.Grid``: "sde" (Euler–Maruyama), "ode"
(Heun; Euler on a last step to σ = 0), "edm" (Karras et al. Algorithm 2 with churn γ_i, in the unit-data VE frame).
The initial law is the conditional p_T(y | z) = N(a m_z, a²λ + σ²) (``simulate``'s init "auto" for labelled runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gmmtheory.guided_law.coordinates import ClassLine, guided_denoiser, log_posterior, w_effective

__all__ = ["ChainRecord", "initial_nodes", "propagate"]

_DROP = 1e-25  # node masses below this are dropped after a noise step
_WIDTH = 11.0  # half-width of the lattice around the nodes, in kernel sd (and of the initial law, in its sd)
_BLOCK = 512


@dataclass
class ChainRecord:
    """Per grid point i = 0..N: ce (−E log p_t(z | y)), entropy (E H[p_t(· | y)]), mass (Σ w, 1 up to the drop
    and the quadrature error); the final nodes and weights."""

    ce: np.ndarray
    entropy: np.ndarray
    mass: np.ndarray
    y: np.ndarray
    w: np.ndarray


def initial_nodes(line: ClassLine, z: int, a: float, s2: float, dy: float) -> tuple[np.ndarray, np.ndarray]:
    """A quadrature of N(a m_z, a²λ + σ²): uniform nodes of spacing dy · sd over ± 11 sd, weights h · density."""
    sd = math.sqrt(a * a * line.lam + s2)
    h = dy * sd
    n = int(math.ceil(_WIDTH / dy))
    y = a * line.means[z] + h * np.arange(-n, n + 1)
    w = h * np.exp(-0.5 * ((y - a * line.means[z]) / sd) ** 2) / (math.sqrt(2 * math.pi) * sd)
    return y, w


def add_noise(y: np.ndarray, w: np.ndarray, v: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """The quadrature of the law of Y + √v ξ: density Σ_j w_j N(·; y_j, v) on a lattice k·h near the nodes."""
    if v <= 0.0:
        return y, w
    sd = math.sqrt(v)
    h = min(h, 0.5 * sd)
    nb = int(math.ceil(_WIDTH * sd / h))
    order = np.argsort(y)
    y, w = y[order], w[order]
    base = np.unique(np.round(y / h).astype(np.int64))
    # lattice points within nb·h of some node: union of intervals (cheap: mark runs)
    starts, ends = base - nb, base + nb
    brk = np.nonzero(starts[1:] > ends[:-1] + 1)[0]
    seg_lo = np.concatenate([starts[:1], starts[brk + 1]])
    seg_hi = np.concatenate([np.maximum.accumulate(ends)[brk], ends[-1:]])
    ks = np.concatenate([np.arange(lo, hi + 1) for lo, hi in zip(seg_lo, seg_hi)])
    yt = ks * h
    out = np.empty(yt.size)
    norm = h / (math.sqrt(2.0 * math.pi) * sd)
    for b in range(0, yt.size, _BLOCK):
        blk = yt[b:b + _BLOCK]
        j0 = np.searchsorted(y, blk[0] - _WIDTH * sd)
        j1 = np.searchsorted(y, blk[-1] + _WIDTH * sd)
        dz = (blk[:, None] - y[None, j0:j1]) / sd
        out[b:b + _BLOCK] = norm * (np.exp(-0.5 * dz * dz) @ w[j0:j1])
    keep = out > _DROP
    return yt[keep], out[keep]


def _record(line: ClassLine, y, w, a, s2, z):
    lp = log_posterior(line, y, a, s2)
    p = np.exp(lp)
    ent = -np.sum(np.where(p > 0, p * lp, 0.0), axis=1)
    return -float(w @ lp[:, z]), float(w @ ent), float(w.sum())


def propagate(line: ClassLine, grid, sampler: str, z: int, w: float, interval: tuple[float, float], *, dy: float,
              s_noise: float = 1.0) -> ChainRecord:
    """The exact law of ``sampler`` ("sde" | "ode" | "edm") on ``grid`` (a ``dynamics.grid.Grid``), target class z,
    guidance w with ``interval`` (σ_lo, σ_hi), node spacing ``dy`` (in class sd). Inputs are assumed validated."""
    N = grid.t.size - 1
    ce, ent, mass = np.empty(N + 1), np.empty(N + 1), np.empty(N + 1)
    y, wt = initial_nodes(line, z, float(grid.a[0]), float(grid.s2[0]), dy)
    ce[0], ent[0], mass[0] = _record(line, y, wt, grid.a[0], grid.s2[0], z)

    def den(yy, a, s2, sig):
        return guided_denoiser(line, yy, a, s2, w_effective(w, interval, sig), z)

    for i in range(N):
        a0, s20, a1, s21 = (float(v) for v in (grid.a[i], grid.s2[i], grid.a[i + 1], grid.s2[i + 1]))
        sig0, sig1 = float(grid.sigma[i]), float(grid.sigma[i + 1])
        if sampler == "sde":
            h = float(grid.t[i] - grid.t[i + 1])
            f, g2 = float(grid.f[i]), float(grid.g2[i])
            score = (a0 * den(y, a0, s20, sig0) - y) / s20
            y = y + h * (-f * y + g2 * score)
            sd1 = math.sqrt(a1 * a1 * line.lam + s21)
            y, wt = add_noise(y, wt, g2 * h, dy * sd1)
        elif sampler == "ode":
            dt = float(grid.t[i + 1] - grid.t[i])

            def vel(yy, aa, ss2, sg, f, g2):
                return f * yy - 0.5 * g2 * (aa * den(yy, aa, ss2, sg) - yy) / ss2

            v0 = vel(y, a0, s20, sig0, float(grid.f[i]), float(grid.g2[i]))
            ye = y + dt * v0
            y = y + dt * 0.5 * (v0 + vel(ye, a1, s21, sig1, float(grid.f[i + 1]), float(grid.g2[i + 1]))) \
                if s21 > 0 else ye
        else:  # EDM Algorithm 2, frame a = 1, s2 = σ²
            s_cur, s_next = math.sqrt(s20), math.sqrt(s21)
            gam = float(grid.gamma[i])
            s_hat = s_cur * (1.0 + gam)
            v = (s_cur * math.sqrt(gam * (2.0 + gam)) * s_noise) ** 2
            y, wt = add_noise(y, wt, v, dy * math.sqrt(line.lam + s_hat**2))
            d0 = (y - den(y, 1.0, s_hat**2, s_hat)) / s_hat
            y1 = y + (s_next - s_hat) * d0
            if s_next > 0:
                d1 = (y1 - den(y1, 1.0, s21, s_next)) / s_next
                y = y + (s_next - s_hat) * 0.5 * (d0 + d1)
            else:
                y = y1
        ce[i + 1], ent[i + 1], mass[i + 1] = _record(line, y, wt, a1, s21, z)
    return ChainRecord(ce, ent, mass, y, wt)
