"""Reduced reverse dynamics: the orthogonal part of every guided sampler step is a class-free linear recursion.

Claims (docs/reduced_dynamics.md, ``gmmtheory.dynamics.reduced``): for a shared covariance Σ = s² I the guided
denoiser D = D_z + (w − 1)(D_z − D_u) has orthogonal part κ x⊥, κ = a s²/(a² s² + σ²), for any class weights,
conditioning and w; the class posteriors depend on u = Qᵀx only. Then one step of each sampler ("sde"
Euler–Maruyama, "ode" Heun, "edm" Karras Algorithm 2 with churn) maps an orthogonal coordinate y to
c (y + √pre ξ) + √post ξ', and its variance follows V' = c²(V + pre) + post. Symbolic: the step is computed from the
kernel's step formula with D⊥ = κ y and compared with the closed forms of ``orth_step_factors``. Numeric: the
lambdified derivation on real grids (``make_grid``) against ``orth_step_factors`` and ``orth_variance``.

Run: ``python derivations/reduced_dynamics.py [OUT_DIR]``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from _common import Doc, cli  # noqa: E402

from gmmtheory.dynamics.grid import make_grid  # noqa: E402
from gmmtheory.dynamics.reduced import orth_step_factors, orth_variance  # noqa: E402
from gmmtheory.processes import VP  # noqa: E402

NAME = "reduced_dynamics"
LAMS = np.array([0.05, 0.3, 1.0, 2.5])  # eigenvalues λ of Σ on S⊥ used in the numeric checks

a, s2, lam = sp.symbols("a sigma^2 lambda", positive=True)
kappa_sym = a * lam / (a**2 * lam + s2)  # the orthogonal denoiser gain (derived in section 1 for λ = s²)


# ----------------------------------------------------------------------------------------------------- symbolic
def derive_denoiser(doc: Doc) -> None:
    doc.h("1. The guided denoiser's orthogonal part (symbolic, d = 3, K = 2, Σ = s² I)")
    s, m, c0, w = sp.symbols("s m c w", positive=True)
    x = sp.Matrix(sp.symbols("x_1:4", real=True))
    mus = [sp.Matrix([m, c0, 0]), sp.Matrix([-m, c0, 0])]  # uncentred span S = span{e_1, e_2}, r = 2
    pi1 = sp.symbols("pi_1", positive=True)
    pis = [pi1, 1 - pi1]
    Sig = s**2 * sp.eye(3)
    C = a**2 * Sig + s2 * sp.eye(3)
    Cinv = C.inv()
    doc.p(
        r"""
Means $\mu_\pm = \pm m e_1 + c e_2$ (so $S = \mathrm{span}\{e_1, e_2\}$, $x_\perp = x_3 e_3$), $\Sigma = s^2 I_3$,
$X_t = a X_0 + \sigma\varepsilon$. Class denoiser $D_k(x) = \mu_k + a\Sigma C^{-1}(x - a\mu_k)$, $C = a^2\Sigma +
\sigma^2 I$; posterior $p(k\mid x) \propto \pi_k\, N(x; a\mu_k, C)$. $D_u = \sum_k p(k\mid x) D_k$; the conditional
denoiser $D_z = \sum_k q_k D_k$ with arbitrary weights $q_1 + q_2 = 1$ (one-hot for a class label, the group
posterior for group guidance)."""
    )
    Dk = [mu + a * Sig * Cinv * (x - a * mu) for mu in mus]
    logN = [-(x - a * mu).dot(Cinv * (x - a * mu)) / 2 for mu in mus]
    ratio = sp.log(pis[0]) + logN[0] - sp.log(pis[1]) - logN[1]  # log p(1|x)/p(2|x)
    doc.eq(r"\log\frac{p(1\mid x)}{p(2\mid x)} =", sp.factor(sp.expand(ratio)))
    doc.symbolic("posterior log-ratio does not depend on x⊥ = x_3", sp.cancel(sp.diff(ratio, x[2])))
    p1 = sp.symbols("p_1", real=True)  # p(1|x): a function of (x_1, x_2) only (previous check); kept symbolic
    Du = p1 * Dk[0] + (1 - p1) * Dk[1]
    q1 = sp.symbols("q_1", real=True)
    Dz = q1 * Dk[0] + (1 - q1) * Dk[1]
    D = Dz + (w - 1) * (Dz - Du)
    kap = a * s**2 / (a**2 * s**2 + s2)
    doc.eq(r"e_3^\top D(x) =", sp.factor(sp.cancel(D[2])), r"= \kappa\,x_3,\qquad \kappa =", kap)
    doc.symbolic("guided D⊥ − κ x⊥ = 0 (any p_1, q_1, w)", sp.cancel(D[2] - kap * x[2]))
    doc.symbolic("unconditional D_u⊥ − κ x⊥ = 0", sp.cancel(Du[2] - kap * x[2]))
    doc.symbolic("each class: e_3ᵀD_k − κ x_3 = 0", sp.cancel(sp.Add(*[(Dk_[2] - kap * x[2]) ** 2 for Dk_ in Dk])))
    # Qᵀ D is the 2-d mixture's guided denoiser at u = (x_1, x_2)
    u = sp.Matrix(x[:2])
    mus2 = [sp.Matrix(mu[:2]) for mu in mus]
    C2inv = (a**2 * s**2 + s2) ** -1 * sp.eye(2)
    Dk2 = [mu + a * s**2 * C2inv * (u - a * mu) for mu in mus2]
    logN2 = [-(u - a * mu).dot(C2inv * (u - a * mu)) / 2 for mu in mus2]
    ratio2 = sp.log(pis[0]) + logN2[0] - sp.log(pis[1]) - logN2[1]
    doc.symbolic("posterior log-ratio of the full mixture = that of the reduced 2-d mixture at u",
                 sp.cancel(sp.expand(ratio - ratio2)))
    p1r = p1  # the same posterior (previous check)
    Dr = (q1 * Dk2[0] + (1 - q1) * Dk2[1]) + (w - 1) * (
        (q1 * Dk2[0] + (1 - q1) * Dk2[1]) - (p1r * Dk2[0] + (1 - p1r) * Dk2[1]))
    doc.symbolic("Qᵀ D(x) = reduced guided denoiser at u (both coordinates)",
                 sp.Add(*[sp.cancel(D[i] - Dr[i]) ** 2 for i in range(2)]))
    doc.p(
        r"""
The guided combination has weights $q_k + (w-1)(q_k - p_k)$ summing to 1, and every $D_k$ has the same orthogonal
part, so $D_\perp = \kappa x_\perp$ for every guidance rule. For a general $\Sigma$ with $\Sigma S \subset S$ the same
holds per eigenvalue $\lambda$ of $\Sigma$ on $S^\perp$ with $\kappa = a\lambda/(a^2\lambda + \sigma^2)$, used below."""
    )


def _coeffs(expr, y, xi):
    """(coefficient of y, coefficient of ξ) of an expression linear in (y, ξ) with no constant term."""
    e = sp.expand(expr)
    assert sp.cancel(e.subs({y: 0, xi: 0})) == 0
    return sp.diff(e, y), sp.diff(e, xi)


def derive_steps(doc: Doc) -> dict:
    """Each sampler's step on one orthogonal coordinate, from the kernel's formula with D⊥ = κ y."""
    doc.h("2. One step of each sampler on an orthogonal coordinate (symbolic)")
    y, xi = sp.symbols("y xi", real=True)
    h, dt = sp.symbols("h dt", real=True)
    f0, f1, g0, g1 = sp.symbols("f_i f_{i+1} g^2_i g^2_{i+1}", real=True)
    a0, a1 = sp.symbols("a_i a_{i+1}", positive=True)
    v0, v1 = sp.symbols("sigma^2_i sigma^2_{i+1}", positive=True)

    def kap(aa, ss2):
        return kappa_sym.subs({a: aa, s2: ss2}, simultaneous=True)

    out: dict = {}
    doc.p(r"Kernel (``dynamics.kernel``), score $(a D - x)/\sigma^2$ with $D_\perp(y) = \kappa(a,\sigma^2)\,y$.")
    # --- SDE (Euler–Maruyama), h = t_i − t_{i+1}
    score = (a0 * kap(a0, v0) * y - y) / v0
    y_sde = y + h * (-f0 * y + g0 * score) + sp.sqrt(g0 * h) * xi
    c_sde, n_sde = _coeffs(y_sde, y, xi)
    c_lib = 1 - h * f0 - h * g0 / (a0**2 * lam + v0)
    doc.eq(r"\text{sde: } c =", sp.cancel(c_sde), r",\quad \sqrt{\mathrm{post}} =", n_sde)
    doc.symbolic("sde: c = 1 − h f − h g²/(a²λ + σ²)", sp.cancel(c_sde - c_lib))
    doc.symbolic("sde: post = g² h, pre = 0", sp.cancel(n_sde**2 - g0 * h))
    out["sde"] = (sp.cancel(c_sde), sp.Integer(0), sp.expand(n_sde**2))
    # --- ODE (Heun), dt = t_{i+1} − t_i
    def vel(yy, aa, ss2, ff, gg):
        return ff * yy - sp.Rational(1, 2) * gg * (aa * kap(aa, ss2) * yy - yy) / ss2

    w0 = vel(y, a0, v0, f0, g0)
    ye = y + dt * w0
    y_heun = y + dt / 2 * (w0 + vel(ye, a1, v1, f1, g1))
    c_heun = sp.diff(sp.expand(y_heun), y)
    c_euler = sp.diff(sp.expand(ye), y)
    b0 = f0 + g0 / 2 / (a0**2 * lam + v0)
    b1 = f1 + g1 / 2 / (a1**2 * lam + v1)
    doc.eq(r"\text{ode (Heun): } c =", sp.factor(sp.cancel(c_heun)))
    doc.symbolic("ode Heun: c = 1 + dt/2 (β_i + β_{i+1}(1 + dt β_i)), β = f + ½g²/(a²λ + σ²)",
                 c_heun - (1 + dt / 2 * (b0 + b1 * (1 + dt * b0))))
    doc.symbolic("ode Euler (last step to σ = 0): c = 1 + dt β_i", sp.cancel(c_euler - (1 + dt * b0)))
    doc.symbolic("ode: no noise (dc/dξ = 0)", sp.cancel(sp.diff(y_heun, xi)))
    out["ode"] = (sp.cancel(c_heun), sp.cancel(c_euler))
    # --- EDM Algorithm 2 (a = 1), churn γ, S_noise
    sc, sn, gam, Sn = sp.symbols("sigma_i sigma_{i+1} gamma S_noise", positive=True)
    sh = sc * (1 + gam)
    yh = sp.symbols("yhat", real=True)
    yhat = y + sc * sp.sqrt(gam * (2 + gam)) * Sn * xi  # the kernel's x̂ = x + √(σ̂² − σ_i²) S_noise ξ
    d0 = (yh - kap(1, sh**2) * yh) / sh
    y1 = yh + (sn - sh) * d0
    d1 = (y1 - kap(1, sn**2) * y1) / sn
    y_edm = yh + (sn - sh) / 2 * (d0 + d1)  # linear in x̂: y' = c x̂ = c (y + √pre ξ)
    c_e = sp.cancel(sp.diff(y_edm, yh))
    pre_e = sp.expand(sp.diff(yhat, xi) ** 2)
    eta = sn - sh

    def delta(sv):
        return sv / (lam + sv**2)

    c_edm_lib = 1 + eta / 2 * (delta(sh) + delta(sn) * (1 + eta * delta(sh)))
    doc.eq(r"\text{edm: } \hat\sigma = \sigma_i(1+\gamma),\ c =", c_e)
    doc.symbolic("edm Heun: c = 1 + η/2 (δ(σ̂) + δ(σ_{i+1})(1 + η δ(σ̂))), δ(s) = s/(λ + s²)", sp.cancel(c_e - c_edm_lib))
    doc.symbolic("edm: x̂ = y + √pre ξ, pre = σ_i² γ(2+γ) S_noise²", sp.cancel(pre_e - sc**2 * gam * (2 + gam) * Sn**2))
    doc.symbolic("edm: σ̂² − σ_i² = σ_i² γ(2+γ)", sp.cancel(sh**2 - sc**2 - sc**2 * gam * (2 + gam)))
    c_e_euler = sp.cancel(sp.diff(y1, yh))
    doc.symbolic("edm Euler (σ_{i+1} = 0): c = 1 + η δ(σ̂)", sp.cancel((c_e_euler - (1 + eta * delta(sh))).subs(sn, 0)))
    out["edm"] = (c_e, c_e_euler, pre_e)
    out["syms"] = dict(h=h, dt=dt, f0=f0, f1=f1, g0=g0, g1=g1, a0=a0, a1=a1, v0=v0, v1=v1, sc=sc, sn=sn, gam=gam,
                       Sn=Sn)
    return out


def derive_variance(doc: Doc) -> None:
    doc.h("3. The variance recursion (symbolic)")
    y, xi, xi2, c, pre, post, V = sp.symbols("y xi xi' c pre post V", real=True)
    ynew = c * (y + sp.sqrt(pre) * xi) + sp.sqrt(post) * xi2
    poly = sp.Poly(sp.expand(ynew**2), y, xi, xi2)
    # independent, zero-mean, E y² = V, E ξ² = E ξ'² = 1: only even pure powers survive
    mom = {(2, 0, 0): V, (0, 2, 0): 1, (0, 0, 2): 1}
    EV = sum(coef * mom.get(mono, 0) for mono, coef in poly.terms())
    doc.eq(r"\mathbb{E}\,y'^2 =", EV)
    doc.symbolic("V' = c²(V + pre) + post", sp.cancel(EV - (c**2 * (V + pre) + post)))


# ------------------------------------------------------------------------------------------------------ numeric
def _numeric_factors(der: dict, grid, sampler: str, S_noise: float):
    """(c, pre, post) (N, G) by evaluating the sympy derivation of section 2 on the grid."""
    S = der["syms"]
    N, G = grid.n_steps, LAMS.size
    c = np.empty((N, G))
    pre = np.zeros((N, G))
    post = np.zeros((N, G))
    for i in range(N):
        for j, lv in enumerate(LAMS):
            if sampler == "sde":
                sub = {S["h"]: grid.t[i] - grid.t[i + 1], S["f0"]: grid.f[i], S["g0"]: grid.g2[i], S["a0"]: grid.a[i],
                       S["v0"]: grid.s2[i], lam: lv}
                c[i, j] = float(der["sde"][0].subs(sub))
                post[i, j] = float(der["sde"][2].subs(sub))
            elif sampler == "ode":
                sub = {S["dt"]: grid.t[i + 1] - grid.t[i], S["f0"]: grid.f[i], S["g0"]: grid.g2[i],
                       S["a0"]: grid.a[i], S["v0"]: grid.s2[i], S["f1"]: grid.f[i + 1], S["g1"]: grid.g2[i + 1],
                       S["a1"]: grid.a[i + 1], S["v1"]: grid.s2[i + 1], lam: lv}
                expr = der["ode"][0] if grid.s2[i + 1] > 0 else der["ode"][1]
                c[i, j] = float(expr.subs(sub))
            else:
                sc, sn = np.sqrt(grid.s2[i]), np.sqrt(grid.s2[i + 1])
                sub = {S["sc"]: sc, S["gam"]: grid.gamma[i], S["Sn"]: S_noise, lam: lv}
                if sn > 0:
                    c[i, j] = float(der["edm"][0].subs({**sub, S["sn"]: sn}))
                else:
                    c[i, j] = float(der["edm"][1].subs({**sub, S["sn"]: 0}))
                pre[i, j] = float(der["edm"][2].subs({**sub, S["sn"]: max(sn, 1.0)}))  # pre has no σ_{i+1}
    return c, pre, post


def check_grids(doc: Doc, der: dict) -> None:
    cases = [
        ("sde", "OU, N = 24, T = 6", make_grid("sde", 24, T=6.0), 1.0),
        ("sde", "VP, N = 16", make_grid("sde", 16, process=VP()), 1.0),
        ("ode", "OU, N = 24, T = 6 (last step to σ = 0)", make_grid("ode", 24, T=6.0), 1.0),
        ("ode", "VP, N = 16", make_grid("ode", 16, process=VP()), 1.0),
        ("edm", "EDM, N = 18, S_churn = 40, S_noise = 1.003", make_grid("edm", 18, S_churn=40.0), 1.003),
        ("edm", "EDM, N = 12, no churn", make_grid("edm", 12, S_churn=0.0), 1.0),
    ]
    for sampler, label, grid, S_noise in cases:
        c, pre, post = _numeric_factors(der, grid, sampler, S_noise)
        cl, pl, ql = orth_step_factors(grid, sampler, LAMS, S_noise)
        doc.close(f"{sampler} {label}: c (derivation) vs orth_step_factors", c, cl, 1e-12, rel=True)
        doc.close(f"{sampler} {label}: pre", pre, pl, 1e-12, rel=True)
        doc.close(f"{sampler} {label}: post", post, ql, 1e-12, rel=True)
        for init in ("marginal", "noise"):
            v = (0.0 * LAMS if init == "noise" else grid.a[0] ** 2 * LAMS) + grid.s2[0]
            V = [v]
            for i in range(grid.n_steps):
                v = c[i] ** 2 * (v + pre[i]) + post[i]
                V.append(v)
            doc.close(f"{sampler} {label}: V_i (init {init}) vs orth_variance", np.array(V),
                      orth_variance(grid, sampler, LAMS, init=init, S_noise=S_noise), 1e-12, rel=True)


def main(out_dir: str | os.PathLike | None = None) -> str:
    doc = Doc(NAME, "Reduced dynamics: the orthogonal part of every guided sampler is a class-free linear recursion")
    doc.p(
        r"""
Claim (docs/reduced_dynamics.md): with $x = Qu + x_\perp$, $Q$ a basis of $S = \mathrm{span}\{\mu_k\}$, the guided
denoiser's orthogonal part is $\kappa x_\perp$ for every class weighting and guidance weight, and each discrete step
of "sde", "ode" and "edm" maps an orthogonal coordinate to $c(y + \sqrt{\mathrm{pre}}\,\xi) +
\sqrt{\mathrm{post}}\,\xi'$ with the closed forms of ``orth_step_factors``; $V' = c^2(V + \mathrm{pre}) +
\mathrm{post}$ (``orth_variance``)."""
    )
    derive_denoiser(doc)
    der = derive_steps(doc)
    derive_variance(doc)
    doc.checks_table()
    doc.h("4. Numerical checks against the library (float64, λ ∈ {0.05, 0.3, 1, 2.5})")
    doc.p(
        r"""
The derived expressions of section 2 are evaluated (sympy ``subs``) at every step of real grids from
``dynamics.grid.make_grid`` and compared with ``orth_step_factors``; the recursion of section 3 run on them is
compared with ``orth_variance`` (exact start $V_0 = a_0^2\lambda + \sigma_0^2$ and init="noise" $V_0 = \sigma_0^2$).
Relative error, scaled by $\max(|\mathrm{ref}|, 1)$."""
    )
    check_grids(doc, der)
    doc.checks_table()
    return doc.finish(out_dir)


if __name__ == "__main__":
    cli(main)
