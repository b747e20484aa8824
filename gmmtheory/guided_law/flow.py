"""Continuous-time guided laws of the class coordinate, in the process-independent frame (ỹ = y/a, σ̃ = σ/a).

Every process X_t = a X_0 + σ ε is the VE process X̃ = X/a = X_0 + σ̃ ε after a deterministic rescaling and a change
of clock, so the guided reverse SDE and probability-flow ODE have the same laws at equal σ̃ in every process (OU/VP,
VE, EDM, flow); only the start σ̃_T = σ(T)/a(T) depends on the process. In s = σ̃² (guided denoiser D of
``coordinates``, a = 1, score (D − y)/s):

    ODE:  dy/dσ̃ = (y − D(y; σ̃))/σ̃ = σ̃ (y − m_c(y))/(λ + σ̃²)      (characteristics, solve_ivp, DOP853)
    SDE:  y_{s−Δ} = y_s + Δ (D − y)/s + √Δ ξ  as Δ → 0              (reverse Brownian motion with drift)

The ODE law is the initial quadrature (nodes, weights) moved along the characteristics (exact push-forward). The
SDE law is the Richardson extrapolation of exact Euler–Maruyama chain laws (``chains``) on nested grids: M, 2M, 4M
steps uniform in s per interval of the reported grid, weak error c₁Δ + c₂Δ² + … (Talay–Tubaro), so
R = (8A_{4M} − 6A_{2M} + A_M)/3 has error O(Δ³); the error estimate is |R − (2A_{4M} − A_{2M})|.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from gmmtheory.dynamics.grid import Grid
from gmmtheory.guided_law.chains import initial_nodes, propagate
from gmmtheory.guided_law.coordinates import ClassLine, guided_denoiser, log_posterior, w_effective

__all__ = ["ode_law", "sde_law", "ve_grid"]


def ve_grid(sig: np.ndarray) -> Grid:
    """The unit-data VE grid in native time s = σ̃² (a = 1, σ² = s, f = 0, g² = 1) through the decreasing σ̃ ``sig``."""
    s = np.asarray(sig, float) ** 2
    n = s.size
    return Grid(s, np.ones(n), s, np.zeros(n), np.ones(n), np.sqrt(s), np.zeros(n - 1))


def refine(sig: np.ndarray, m: int) -> np.ndarray:
    """σ̃ grid with each interval of ``sig`` cut into m steps uniform in s = σ̃²."""
    s = sig**2
    pieces = [s[i] + (s[i + 1] - s[i]) * np.arange(m) / m for i in range(s.size - 1)]
    return np.sqrt(np.concatenate(pieces + [s[-1:]]))


def _observe(line, y, w, sig, z):
    lp = log_posterior(line, y, 1.0, sig * sig)
    p = np.exp(lp)
    return -float(w @ lp[:, z]), float(w @ -np.sum(np.where(p > 0, p * lp, 0.0), axis=1))


def ode_law(line: ClassLine, sig: np.ndarray, z: int, w: float, interval: tuple[float, float], *, dy: float,
            rtol: float = 1e-11) -> dict:
    """Probability-flow ODE law on the decreasing grid ``sig`` (σ̃, from σ̃_T; may end in 0): per point ce, entropy;
    final nodes y and weights. Integrated segment by segment, split at the interval's edges (w_eff jumps there)."""
    y, wt = initial_nodes(line, z, 1.0, float(sig[0]) ** 2, dy)
    ce, ent = np.empty(sig.size), np.empty(sig.size)
    ce[0], ent[0] = _observe(line, y, wt, sig[0], z)
    edges = [e for e in interval if np.isfinite(e) and e > 0]
    for i in range(sig.size - 1):
        hi, lo = float(sig[i]), float(sig[i + 1])
        cuts = [hi] + sorted((e for e in edges if lo < e < hi), reverse=True) + [lo]
        for s0, s1 in zip(cuts[:-1], cuts[1:]):
            w_eff = w_effective(w, interval, 0.5 * (s0 + s1))

            def rhs(s, yy, w_eff=w_eff):
                return s * (yy - _mc(line, yy, s, w_eff, z)) / (line.lam + s * s)

            sol = solve_ivp(rhs, (s0, s1), y, method="DOP853", rtol=rtol, atol=rtol * max(1.0, line.half_gap))
            if not sol.success:
                raise RuntimeError(f"characteristics failed between σ = {s0:g} and {s1:g}: {sol.message}")
            y = sol.y[:, -1]
        ce[i + 1], ent[i + 1] = _observe(line, y, wt, sig[i + 1], z)
    return {"ce": ce, "entropy": ent, "y": y, "w": wt}


def _mc(line, y, sigma, w_eff, z):
    """m_c(y) at σ̃ such that D = m_c + λ/(λ + σ̃²)(y − m_c) (``coordinates.guided_denoiser`` at a = 1)."""
    s2 = sigma * sigma
    D = guided_denoiser(line, y, 1.0, s2, w_eff, z)
    k = line.lam / (line.lam + s2)
    return (D - k * y) / (1.0 - k) if k < 1.0 else D


def sde_law(line: ClassLine, sig: np.ndarray, z: int, w: float, interval: tuple[float, float], *, dy: float,
            m: int = 4) -> dict:
    """Reverse-SDE law on the grid ``sig`` by Richardson extrapolation of exact EM chain laws with m, 2m, 4m steps
    (uniform in σ̃²) per interval: ce, entropy per point, the error estimate per point, and the finest chain."""
    recs = [propagate(line, ve_grid(refine(sig, k)), "sde", z, w, interval, dy=dy) for k in (m, 2 * m, 4 * m)]
    out = {}
    for name in ("ce", "entropy"):
        a1, a2, a4 = (getattr(r, name)[::k] for r, k in zip(recs, (m, 2 * m, 4 * m)))
        r2 = (8 * a4 - 6 * a2 + a1) / 3.0
        out[name] = r2
        out[name + "_err"] = np.abs(r2 - (2 * a4 - a2))
    out["finest"] = recs[-1]
    out["coarse"] = recs
    return out
