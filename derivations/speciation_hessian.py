"""Speciation time from the Hessian of log p_t at the origin: t = ½ log Λ + O(1) (symmetric two-Gaussian model, OU).

p_0 = ½ N(m, σ_w² I) + ½ N(−m, σ_w² I), OU time (a = e^{−t}, σ² = 1 − e^{−2t}). The Hessian of log p_t at x = 0 is
derived symbolically in the coordinate along m̂ plus one (representative) orthogonal coordinate; the top eigenvalue
is compared with the stability threshold of the reverse OU SDE, dX = [X + 2∇log p_t(X)]dτ + √2 dW̄, whose
linearisation at the origin is J = I + 2∇²log p_t(0). The crossing time is solved exactly and shown to be
½ log Λ + O(1), Λ = σ_w² + |m|² the top eigenvalue of the data covariance. Checked against jax.hessian of
``gmmtheory.log_density``.

Run: ``python derivations/speciation_hessian.py [OUT_DIR]``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from _common import Doc, cli  # noqa: E402
from scipy.optimize import brentq  # noqa: E402

import gmmtheory as gt  # noqa: E402

NAME = "speciation_hessian"


def derive(doc: Doc) -> dict[str, sp.Expr]:
    t, M, w2 = sp.symbols("t M sigma_w^2", positive=True)  # M = |m|, w2 = within-class variance σ_w²
    u, y = sp.symbols("u y", real=True)  # coordinate along m̂ and one orthogonal coordinate
    A = sp.symbols("A", positive=True)  # A = a² = e^{−2t}
    a = sp.exp(-t)
    c = a**2 * w2 + 1 - a**2  # class covariance C = c I
    doc.h("1. Hessian of log p_t at the origin")
    doc.p(
        r"""
Under OU, $X_t \mid Z{=}\pm \sim N(\pm a m, cI)$ with $a = e^{-t}$ and $c = a^2\sigma_w^2 + 1 - a^2$. Write
$x = u\,\hat m + x_\perp$; every orthogonal coordinate $y$ of $x_\perp$ enters in the same way (isotropic part), so up
to the normalising constant"""
    )
    logp = sp.log(
        sp.exp(-((u - a * M) ** 2 + y**2) / (2 * c)) / 2 + sp.exp(-((u + a * M) ** 2 + y**2) / (2 * c)) / 2
    )
    doc.eq(r"\log p_t = ", logp, r"+ \text{const}")
    at0 = {u: 0, y: 0}
    H = sp.Matrix(2, 2, lambda i, j: sp.simplify(sp.diff(logp, (u, y)[i], (u, y)[j]).subs(at0)))
    grad0 = [sp.simplify(sp.diff(logp, v).subs(at0)) for v in (u, y)]
    h_top = sp.simplify(H[0, 0])
    h_perp = sp.simplify(H[1, 1])
    doc.eq(r"\nabla \log p_t(0) = ", sp.Matrix(grad0), r",\qquad \nabla^2 \log p_t(0) = ", H)
    doc.symbolic("∇log p_t(0) = 0 (the origin is a fixed point by symmetry)", sp.Matrix(grad0).norm())
    doc.symbolic("Hessian is diagonal in (m̂, ⊥)", H[0, 1])
    doc.symbolic("h_∥ = −1/c + a²|m|²/c²", h_top - (-1 / c + a**2 * M**2 / c**2))
    doc.symbolic("h_⊥ = −1/c", h_perp + 1 / c)
    doc.p(
        r"""
So $\nabla^2\log p_t(0) = -\tfrac1c I + \tfrac{a^2}{c^2} m m^\top$: eigenvalue $h_\parallel$ along $\hat m$ (the top
one) and $h_\perp = -1/c$ with multiplicity $d - 1$. With the effective SNR $s = a^2|m|^2/c$ (``binary_channel``),
$h_\parallel = (s - 1)/c$: it vanishes at $s = 1$, where $p_t$ turns bimodal along $\hat m$."""
    )
    s_eff = a**2 * M**2 / c
    doc.symbolic("h_∥ = (s − 1)/c", h_top - (s_eff - 1) / c)

    doc.h("2. Stability threshold of the reverse OU SDE")
    doc.p(
        r"""
Forward: $dX = -X\,dt + \sqrt2\,dW$. Reverse (time $\tau = T - t$): $dX = [X + 2\nabla\log p_t(X)]\,d\tau +
\sqrt2\,d\bar W$. Linearised at the fixed point $0$ the drift is $J\,X$ with $J = I + 2\nabla^2\log p_t(0)$, so a
direction is unstable when $1 + 2h > 0$, i.e. $h > -\tfrac12$. Early in generation ($t\to\infty$: $a\to0$,
$c\to1$) $h_\parallel \to -1$, stable; $h_\parallel$ increases as $t$ decreases and crosses $-\tfrac12$ at the
speciation (symmetry-breaking) time. With $A = a^2 = e^{-2t}$ and $\delta = \sigma_w^2 - 1$:"""
    )
    cA = 1 + A * (w2 - 1)
    crossing = sp.expand(sp.cancel((1 + 2 * (A * M**2 - cA) / cA**2) * cA**2))
    doc.eq(r"c^2\,(1 + 2h_\parallel) = ", crossing, r"= 0")
    roots = sp.solve(sp.Eq(crossing, 0), A)
    # the physically relevant root A ∈ (0, 1]; write it without the removable singularity at σ_w² = 1
    A_star = 1 / (M**2 + sp.sqrt(M**4 + (w2 - 1) ** 2))
    doc.symbolic("A* = 1/(|m|² + √(|m|⁴ + δ²)) solves the crossing equation", sp.simplify(crossing.subs(A, A_star)))
    pos = [rt for rt in roots if sp.N(rt.subs({M: 3, w2: sp.Rational(1, 2)})) > 0]
    doc.symbolic("it is sympy's positive root (rationalised)", sp.simplify(sp.radsimp(pos[0]) - A_star) if pos else 1)
    t_star = sp.log(1 / A_star) / 2
    doc.eq(r"t^* = -\tfrac12\log A^* = ", t_star)
    Lam = w2 + M**2
    doc.p(r"Data covariance $\sigma_w^2 I + m m^\top$: in the $(\hat m, \perp)$ coordinates")
    Sigma0 = sp.Matrix([[w2 + M**2, 0], [0, w2]])
    ev = sorted(Sigma0.eigenvals().keys(), key=lambda e: sp.N(e.subs({M: 2, w2: 1})))
    doc.eq(r"\operatorname{eig}(\sigma_w^2 I + m m^\top) = \{", ev[0], ",", ev[1], r"\},\qquad \Lambda = ", Lam)
    doc.symbolic("top data-covariance eigenvalue Λ = σ_w² + |m|²", ev[-1] - Lam)
    gap = t_star - sp.log(Lam) / 2
    lim = sp.limit(gap, M, sp.oo)
    doc.eq(r"t^* - \tfrac12\log\Lambda = ", sp.simplify(gap), r"\;\xrightarrow{|m|\to\infty}\;", lim)
    doc.symbolic("lim_{|m|→∞} (t* − ½ log Λ) = ½ log 2", lim - sp.log(2) / 2)
    unit = sp.simplify(t_star.subs(w2, 1))
    doc.symbolic("σ_w = 1: t* = ½ log(2|m|²) (s = ½ at the crossing)",
                 sp.expand_log(unit - sp.log(2 * M**2) / 2, force=True))
    s_at = sp.simplify((A * M**2 / cA).subs(A, A_star).subs(w2, 1))
    doc.symbolic("σ_w = 1: s(t*) = ½", s_at - sp.Rational(1, 2))
    # bimodality (h_∥ = 0, s = 1) for comparison
    A_b = sp.solve(sp.Eq(A * M**2 - cA, 0), A)[0]
    t_b = sp.simplify(-sp.log(A_b) / 2)
    doc.eq(r"\text{bimodality } (h_\parallel = 0,\ s = 1):\quad t_b = ", t_b,
           r"= \tfrac12\log(\Lambda - 2\sigma_w^2 + 1)")
    doc.symbolic("t_b = ½ log(Λ − 2σ_w² + 1)", sp.expand_log(t_b - sp.log(Lam - 2 * w2 + 1) / 2, force=True))
    doc.p(
        r"""
Both criteria are $\tfrac12\log\Lambda + O(1)$: the reverse-SDE instability sits $\tfrac12\log 2$ above
$t_S = \tfrac12\log\Lambda$ for large $|m|$ ($s = \tfrac12$ when $\sigma_w = 1$, docs/theory.md §6), the bimodality
$O(\sigma_w^2/\Lambda)$ away from it. For means $\pm m$ with $|m|^2 = d\tilde\mu^2$ both are
$\tfrac12\log(d\tilde\mu^2) + O(1)$. (If $\sigma_w^2 > 2$, orthogonal directions have $1 + 2h_\perp > 0$ at small $t$ —
the reverse flow spreading into the data's own variance, not a symmetry breaking.)"""
    )
    doc.checks_table()
    return {"t_star": t_star, "t_b": t_b, "h_top": h_top, "h_perp": h_perp, "syms": (t, M, w2)}


def numeric_checks(doc: Doc, res: dict) -> None:
    doc.h("3. Numerical checks with jax.hessian of gmmtheory.log_density at x = 0 (float64)")
    t_sym, M_sym, w2_sym = res["syms"]
    f_tstar = sp.lambdify((M_sym, w2_sym), res["t_star"], "numpy")
    f_htop = sp.lambdify((t_sym, M_sym, w2_sym), res["h_top"], "numpy")
    f_hperp = sp.lambdify((t_sym, M_sym, w2_sym), res["h_perp"], "numpy")
    proc = gt.OU()
    rows = ["| d | μ̃ | σ_w | Λ | ½ log Λ | t* | t* − ½ log Λ | top eig at t* (library) |",
            "|---|---|---|---|---|---|---|---|"]
    for d, mu, sw in ((2, 1.5, 1.0), (8, 1.0, 0.7), (64, 0.6, 1.3)):
        mix = gt.two_gaussians(d=d, mu=mu, sigma=sw)
        m = mix.means[0]
        M2 = float(m @ m)
        hess = jax.jit(jax.hessian(lambda x, tt: gt.log_density(mix, proc, tt, x)))
        x0 = jnp.zeros(d)
        # the full matrix against −I/c + a²/c² m mᵀ at a few times
        for tt in (0.2, 1.0, 2.5):
            a2 = np.exp(-2 * tt)
            c = a2 * sw**2 + 1 - a2
            ref = -np.eye(d) / c + a2 / c**2 * np.outer(m, m)
            doc.close(f"d={d}: ∇²log p_t(0) = −I/c + a²mmᵀ/c² at t={tt}", hess(x0, tt), ref, 1e-10, rel=True)
            ev = np.linalg.eigvalsh(np.asarray(hess(x0, tt)))
            doc.close(f"d={d}, t={tt}: top / bottom eigenvalues = sympy h_∥ / h_⊥",
                      [ev[-1], ev[0]] if d > 1 else [ev[-1], ev[-1]],
                      [f_htop(tt, np.sqrt(M2), sw**2), f_hperp(tt, np.sqrt(M2), sw**2)], 1e-10, rel=True)
        Lam = float(np.linalg.eigvalsh(mix.data_covariance())[-1])
        doc.close(f"d={d}: Λ = top eig of data_covariance() = σ_w² + |m|²", Lam, sw**2 + M2, 1e-11, rel=True)
        ts = float(f_tstar(np.sqrt(M2), sw**2))
        top = lambda tt: float(np.linalg.eigvalsh(np.asarray(hess(x0, tt)))[-1])  # noqa: E731
        doc.close(f"d={d}: top eigenvalue of library Hessian at t* is −½", top(ts), -0.5, 1e-10)
        root = brentq(lambda tt: 1 + 2 * top(tt), 0.01, 10.0, xtol=1e-13)
        doc.close(f"d={d}: root of 1 + 2 h_∥(t) from the library Hessian (brentq) = t*", root, ts, 1e-9)
        rows.append(f"| {d} | {mu} | {sw} | {Lam:.4g} | {0.5 * np.log(Lam):.4f} | {ts:.4f} | "
                    f"{ts - 0.5 * np.log(Lam):.4f} | {top(ts):.12f} |")
    doc.checks_table()
    doc.p("\n".join(rows))
    # the O(1) offset: closed form as d grows (|m|² = d μ̃², σ_w = 1)
    lines = ["| d (μ̃ = 1, σ_w = 1) | ½ log Λ | t* | t* − ½ log Λ |", "|---|---|---|---|"]
    offs = []
    for d in (10, 10**2, 10**4, 10**6):
        Lam = 1.0 + d
        ts = float(f_tstar(np.sqrt(d), 1.0))
        offs.append(ts - 0.5 * np.log(Lam))
        lines.append(f"| {d:g} | {0.5 * np.log(Lam):.4f} | {ts:.4f} | {offs[-1]:.6f} |")
    doc.p("Closed form as d grows — the offset tends to ½ log 2 = 0.346574 while ½ log Λ grows like ½ log d:\n\n"
          + "\n".join(lines))
    doc.close("offset at d = 10⁶ equals ½ log 2 to 1e-6", offs[-1], 0.5 * np.log(2), 1e-6)
    doc.checks_table()


def main(out_dir: str | os.PathLike | None = None) -> str:
    doc = Doc(NAME, "Speciation from the Hessian at the origin: t* = ½ log Λ + O(1)")
    doc.p(
        r"""
Symmetric two-Gaussian model $p_0 = \tfrac12 N(m, \sigma_w^2 I) + \tfrac12 N(-m, \sigma_w^2 I)$ in OU time.
Claim: the origin, a fixed point of the reverse OU SDE, loses stability along $\hat m$ at
$t^* = \tfrac12\log\bigl(|m|^2 + \sqrt{|m|^4 + (\sigma_w^2 - 1)^2}\bigr) = \tfrac12\log\Lambda + O(1)$, with
$\Lambda = \sigma_w^2 + |m|^2$ the top eigenvalue of the data covariance (Biroli et al.'s $t_S = \tfrac12\log\Lambda$).
"""
    )
    res = derive(doc)
    numeric_checks(doc, res)
    return doc.finish(out_dir)


if __name__ == "__main__":
    cli(main)
