"""Two classes with a shared covariance: the log-likelihood ratio is affine in x and L | Z=0 ~ N(2s, 4s).

X_t = a μ_Z + C^{1/2} ε with C = a² Σ + σ² I shared by both classes. Derived symbolically twice — in the 1-D
whitened coordinate along C^{-1/2}Δ (any d), and with explicit symbolic matrices in d = 2 — then checked against
``gmmtheory.binary_snr`` and against the empirical law of L computed with ``gmmtheory.component_log_likelihoods``.

Run: ``python derivations/binary_channel.py [OUT_DIR]``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from _common import Doc, cli  # noqa: E402
from sympy.stats import E as Expect  # noqa: E402
from sympy.stats import Normal, variance  # noqa: E402

import gmmtheory as gt  # noqa: E402

NAME = "binary_channel"


def derive_whitened(doc: Doc) -> sp.Expr:
    """1-D derivation in whitened coordinates; returns s as a function of a and r = |C^{-1/2}Δ|."""
    a, r = sp.symbols("a r", positive=True)
    u, q = sp.symbols("u q", real=True)  # coordinate along δ̂ and |w_⊥|² (squared orthogonal part)
    xi = Normal("xi", 0, 1)
    doc.h("1. Derivation in the whitened coordinate (any dimension d)")
    doc.p(
        r"""
Whiten with $w = C^{-1/2}x$: class $z$ becomes $N(a\nu_z, I)$ with $\nu_z = C^{-1/2}\mu_z$, and the
$\log\det C$ terms cancel in the ratio. Let $\delta = \nu_0-\nu_1$, $r = |\delta| = \sqrt{\Delta^\top C^{-1}\Delta}$
($\Delta = \mu_0-\mu_1$), and write $w - a\bar\nu = u\,\hat\delta + w_\perp$ with $\bar\nu$ the midpoint. Then
$|w-a\nu_0|^2 = (u - ar/2)^2 + |w_\perp|^2$ and $|w-a\nu_1|^2 = (u + ar/2)^2 + |w_\perp|^2$ ($q = |w_\perp|^2$):
"""
    )
    L = sp.Rational(-1, 2) * ((u - a * r / 2) ** 2 + q) + sp.Rational(1, 2) * ((u + a * r / 2) ** 2 + q)
    L_s = sp.expand(L)
    doc.eq(r"L = \log\frac{N(x; a\mu_0, C)}{N(x; a\mu_1, C)} =", L, "=", L_s)
    doc.symbolic("whitened L = a r u (affine in x, orthogonal part q cancels)", L_s - a * r * u)
    doc.p(r"Given $Z = 0$, $u = ar/2 + \xi$ with $\xi \sim N(0,1)$ (the whitened noise is standard normal):")
    L0 = L_s.subs(u, a * r / 2 + xi)
    mean, var = sp.simplify(Expect(L0)), sp.simplify(variance(L0))
    s = a**2 * r**2 / 4
    doc.eq(r"\mathbb{E}[L \mid Z=0] =", mean, r",\qquad \operatorname{Var}[L \mid Z=0] =", var)
    doc.symbolic("E[L|Z=0] = 2s with s = a² r²/4", mean - 2 * s)
    doc.symbolic("Var[L|Z=0] = 4s = 2·E[L|Z=0]", var - 4 * s)
    L1 = L_s.subs(u, -a * r / 2 + xi)
    doc.symbolic("E[L|Z=1] = −2s", sp.simplify(Expect(L1)) + 2 * s)
    doc.symbolic("Var[L|Z=1] = 4s", sp.simplify(variance(L1)) - 4 * s)
    doc.p(
        r"""
Hence $L \mid Z{=}0 \sim N(2s, 4s)$ and $L \mid Z{=}1 \sim N(-2s, 4s)$ with
$s = \tfrac14 a^2 \Delta^\top C^{-1} \Delta$ (for means $\pm m$: $\Delta = 2m$, $s = a^2 m^\top C^{-1} m$; for
$\Sigma = s_w^2 I$: $s = a^2|m|^2/(a^2 s_w^2 + \sigma^2)$). The posterior is
$p_t(0\mid x) = \operatorname{sigmoid}(L + \log \pi_0/\pi_1)$, so it depends on $x$ only through $u$.
"""
    )
    # Why variance = 2 × mean: a log-likelihood ratio must satisfy E_{Z=1}[e^{L}] = 1 (and E_{Z=0}[e^{-L}] = 1).
    mu, v = sp.symbols("mu v", positive=True)
    Lg = Normal("L", mu, sp.sqrt(v))
    mgf = sp.simplify(Expect(sp.exp(-Lg)).rewrite(sp.erf))
    doc.p(
        r"""
*Why the variance is twice the mean.* Any log-likelihood ratio satisfies
$\mathbb{E}[e^{-L}\mid Z=0] = \int p_1 = 1$. If $L\mid Z{=}0 \sim N(\mu, v)$ then"""
    )
    doc.eq(r"\mathbb{E}[e^{-L}] =", mgf, r"= 1 \iff v = 2\mu .")
    doc.symbolic("E[exp(−L)] = 1 forces v = 2μ",
                 sp.solve(sp.Eq(sp.expand_log(sp.log(mgf), force=True), 0), v)[0] - 2 * mu)
    return s


def derive_matrices(doc: Doc) -> tuple[sp.Expr, tuple]:
    """Explicit 2-D symbolic matrices: general means and a general SPD covariance."""
    a = sp.symbols("a", positive=True)
    x1, x2, m01, m02, m11, m12 = sp.symbols("x_1 x_2 mu_01 mu_02 mu_11 mu_12", real=True)
    c11, c22 = sp.symbols("c_11 c_22", positive=True)
    c12 = sp.symbols("c_12", real=True)
    x = sp.Matrix([x1, x2])
    mu0, mu1 = sp.Matrix([m01, m02]), sp.Matrix([m11, m12])
    C = sp.Matrix([[c11, c12], [c12, c22]])
    Ci = C.inv()
    quad = lambda v: (v.T * Ci * v)[0, 0]  # noqa: E731
    L = sp.Rational(-1, 2) * quad(x - a * mu0) + sp.Rational(1, 2) * quad(x - a * mu1)
    doc.h("2. The same with explicit symbolic matrices (d = 2, general μ₀, μ₁, C)")
    doc.p(r"With $C = \begin{pmatrix} c_{11} & c_{12} \\ c_{12} & c_{22}\end{pmatrix}$ and $x = (x_1, x_2)$:")
    hess = sp.simplify(sp.hessian(L, (x1, x2)))
    grad = sp.simplify(sp.Matrix([sp.diff(L, x1), sp.diff(L, x2)]))
    Delta = mu0 - mu1
    doc.eq(r"\nabla_x^2 L =", hess, r",\qquad \nabla_x L =", grad, r"= a\,C^{-1}\Delta")
    doc.symbolic("Hessian of L in x is zero (L affine)", hess.norm() ** 2)
    doc.symbolic("∇L = a C⁻¹Δ", (grad - a * Ci * Delta).norm() ** 2)
    s = sp.Rational(1, 4) * a**2 * quad(Delta)
    # L affine ⇒ under Z = 0 (x ~ N(aμ₀, C)): mean = L(aμ₀), variance = ∇Lᵀ C ∇L.
    mean0 = sp.simplify(L.subs({x1: a * m01, x2: a * m02}))
    var0 = sp.simplify((grad.T * C * grad)[0, 0])
    doc.p(r"Since $L$ is affine and $x \mid Z{=}0 \sim N(a\mu_0, C)$: mean $= L(a\mu_0)$, "
          r"variance $= \nabla L^\top C \nabla L$.")
    doc.eq(r"s = \tfrac14 a^2 \Delta^\top C^{-1}\Delta =", sp.factor(sp.simplify(s)))
    doc.symbolic("L(aμ₀) − 2s = 0", mean0 - 2 * s)
    doc.symbolic("∇Lᵀ C ∇L − 4s = 0", var0 - 4 * s)
    syms = (a, m01, m02, m11, m12, c11, c12, c22)
    return s, syms


def numeric_checks(doc: Doc, s_whitened: sp.Expr, s_2d: sp.Expr, syms2d: tuple) -> None:
    doc.h("3. Numerical checks against the library (float64)")
    rng = np.random.default_rng(0)
    d = 5
    A = rng.normal(size=(d, d))
    Sigma = A @ A.T / d + 0.5 * np.eye(d)
    means = rng.normal(size=(2, d))
    mix = gt.GaussianMixture(means, Sigma, weights=[0.3, 0.7])
    Delta = means[0] - means[1]
    procs = [(gt.OU(), np.array([0.05, 0.4, 1.0, 2.5])), (gt.VP(0.1, 20.0), np.array([0.05, 0.3, 0.7])),
             (gt.EDM(0.5), np.array([0.1, 0.7, 3.0])), (gt.Flow(), np.array([0.2, 0.6, 0.9]))]
    lam_s = sp.lambdify(sp.symbols("a r", positive=True), s_whitened, "numpy")
    for proc, ts in procs:
        a = np.asarray(proc.alpha(ts))
        sig2 = np.asarray(proc.sigma(ts)) ** 2
        ref = np.array([0.25 * ai**2 * Delta @ np.linalg.solve(ai**2 * Sigma + s2 * np.eye(d), Delta)
                        for ai, s2 in zip(a, sig2)])
        r = np.array([np.sqrt(Delta @ np.linalg.solve(ai**2 * Sigma + s2 * np.eye(d), Delta))
                      for ai, s2 in zip(a, sig2)])
        got = np.asarray(gt.binary_snr(mix, proc, ts))
        doc.close(f"binary_snr vs ¼a²ΔᵀC⁻¹Δ (d=5, full Σ, {proc!r})", got, ref, 1e-11, rel=True)
        doc.close(f"sympy s(a, r) vs ¼a²ΔᵀC⁻¹Δ ({proc!r})", lam_s(a, r), ref, 1e-12, rel=True)
    # the 2-D symbolic formula against binary_snr
    mu2 = rng.normal(size=(2, 2))
    B = rng.normal(size=(2, 2))
    S2 = B @ B.T + 0.3 * np.eye(2)
    mix2 = gt.GaussianMixture(mu2, S2, cov_kind="shared_full")  # K == d: say which form
    f2 = sp.lambdify(syms2d, s_2d, "numpy")
    t2 = np.array([0.1, 0.8, 2.0])
    a2, v2 = np.asarray(gt.OU().alpha(t2)), np.asarray(gt.OU().sigma(t2)) ** 2
    C2 = a2[:, None, None] ** 2 * S2 + v2[:, None, None] * np.eye(2)
    sym_vals = f2(a2, *mu2[0], *mu2[1], C2[:, 0, 0], C2[:, 0, 1], C2[:, 1, 1])
    doc.close("2-D symbolic s vs binary_snr (OU)", sym_vals, np.asarray(gt.binary_snr(mix2, gt.OU(), t2)), 1e-11,
              rel=True)
    # means ±m, isotropic: s = a²|m|²/(a² s_w² + σ²)
    tg = gt.two_gaussians(d=10, mu=0.3, sigma=0.8)
    tt = np.array([0.05, 0.5, 1.5])
    a, v = np.asarray(gt.OU().alpha(tt)), np.asarray(gt.OU().sigma(tt)) ** 2
    doc.close("two_gaussians: binary_snr = a²|m|²/(a²s_w²+σ²)", gt.binary_snr(tg, gt.OU(), tt),
              a**2 * 10 * 0.09 / (a**2 * 0.64 + v), 1e-12, rel=True)
    doc.checks_table()

    doc.p(
        r"""
Empirical law of $L = \ell_0 - \ell_1$ from ``component_log_likelihoods`` on samples $x = a x_0 + \sigma\varepsilon$
(d = 5 mixture above, OU t = 0.4, $2^{16}$ draws); standard errors $\sqrt{4s/n}$ for the mean and
$4s\sqrt{2/(n-1)}$ for the variance. The affine formula
$L = a\Delta^\top C^{-1}x - \tfrac12 a^2(\mu_0^\top C^{-1}\mu_0 - \mu_1^\top C^{-1}\mu_1)$ is also checked pointwise.
"""
    )
    proc, t = gt.OU(), 0.4
    n = 2**16
    z = (rng.random(n) >= mix.weights[0]).astype(int)  # P(Z=0) = π₀
    x0 = means[z] + rng.normal(size=(n, d)) @ np.linalg.cholesky(Sigma).T
    eps = rng.normal(size=(n, d))
    a, sg = float(proc.alpha(t)), float(proc.sigma(t))
    xt = a * x0 + sg * eps
    ll = np.asarray(gt.component_log_likelihoods(mix, proc, t, xt))
    L = ll[:, 0] - ll[:, 1]
    C = a**2 * Sigma + sg**2 * np.eye(d)
    Ci = np.linalg.inv(C)
    affine = a * xt @ Ci @ Delta - 0.5 * a**2 * (means[0] @ Ci @ means[0] - means[1] @ Ci @ means[1])
    doc.close("L from component_log_likelihoods = affine formula (pointwise)", L, affine, 1e-9, rel=True)
    s = float(gt.binary_snr(mix, proc, t))
    for cls, sign in ((0, 1.0), (1, -1.0)):
        Lz = L[z == cls]
        m = Lz.size
        doc.within_se(f"mean of L | Z={cls} vs {'+' if sign > 0 else '−'}2s (s={s:.4f}, n={m})",
                      Lz.mean(), sign * 2 * s, np.sqrt(4 * s / m))
        doc.within_se(f"variance of L | Z={cls} vs 4s", Lz.var(ddof=1), 4 * s, 4 * s * np.sqrt(2 / (m - 1)))
    doc.checks_table()


def main(out_dir: str | os.PathLike | None = None) -> str:
    doc = Doc(NAME, "Binary channel: L | Z=0 ~ N(2s, 4s) with s = ¼ a² Δᵀ C⁻¹ Δ")
    doc.p(
        r"""
Two classes $Z \in \{0, 1\}$ with means $\mu_0, \mu_1$ and a shared covariance $\Sigma$; under
$X_t = a X_0 + \sigma\varepsilon$ the classes are $N(a\mu_z, C)$ with $C = a^2\Sigma + \sigma^2 I$.
Claim: the log-likelihood ratio $L$ is affine in $x$ and $L \mid Z{=}0 \sim N(2s, 4s)$ (variance twice the mean),
$s = \tfrac14 a^2\Delta^\top C^{-1}\Delta$ — a binary-input Gaussian channel whose law depends on $d$ only via $s$.
"""
    )
    s_w = derive_whitened(doc)
    doc.checks_table()
    s_2d, syms = derive_matrices(doc)
    doc.checks_table()
    numeric_checks(doc, s_w, s_2d, syms)
    return doc.finish(out_dir)


if __name__ == "__main__":
    cli(main)
