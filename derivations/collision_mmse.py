"""Two equiprobable classes: the collision probability is φ = 1 − ½ mmse_b(s).

φ = E Σ_k p_t(k | x)² (clone / collision probability) and mmse_b(s) = 1 − E tanh(s + √s N) (the MMSE of a ±1
input through Y = √s X + N). Derived symbolically — p_± = (1 ± tanh(ℓ/2))/2, Σp² = ½(1 + tanh²(ℓ/2)), and
E tanh² = E tanh by the Nishimori identity of the symmetric channel — then checked against
``gmmtheory.collision_probability`` and against the table in docs/theory.md §9.

Run: ``python derivations/collision_mmse.py [OUT_DIR]``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from _common import Doc, cli  # noqa: E402
from scipy import integrate  # noqa: E402

import gmmtheory as gt  # noqa: E402

NAME = "collision_mmse"

# docs/theory.md §9: s → (H, I, mmse_b, φ)
THEORY_TABLE = {
    0.01: (0.688172, 0.004975, 0.990098, 0.504951),
    0.25: (0.581726, 0.111421, 0.795946, 0.602027),
    1.0: (0.356316, 0.336831, 0.449600, 0.775200),
    4.0: (0.060427, 0.632720, 0.068597, 0.965701),
}


def derive(doc: Doc) -> None:
    ell, u, y = sp.symbols("ell u y", real=True)
    s = sp.symbols("s", positive=True)
    doc.h("1. Posterior of two equiprobable classes as a function of the log-likelihood ratio ℓ")
    p_plus = 1 / (1 + sp.exp(-ell))
    p_tanh = (1 + sp.tanh(ell / 2)) / 2
    doc.eq(r"p_+ = \frac{1}{1+e^{-\ell}} =", p_tanh, r",\qquad p_- = 1 - p_+ =", 1 - p_tanh)
    doc.symbolic("sigmoid(ℓ) = (1 + tanh(ℓ/2))/2", (p_plus - p_tanh).rewrite(sp.exp))
    coll = sp.expand(p_tanh**2 + (1 - p_tanh) ** 2)
    doc.eq(r"\sum_k p_k^2 = p_+^2 + p_-^2 =", coll)
    doc.symbolic("Σp² = ½(1 + tanh²(ℓ/2))", coll - (1 + sp.tanh(ell / 2) ** 2) / 2)
    doc.p(
        r"""
By the binary-channel result (``binary_channel.md``), given $Z = +$ the ratio is $\ell \sim N(2s, 4s)$, so
$u = \ell/2 = s + \sqrt{s}\,N \sim N(s, s)$; given $Z = -$, $u \sim N(-s, s)$, and $\tanh^2$ is even, so both classes
give the same expectation:
$$\varphi = \tfrac12\bigl(1 + \mathbb{E}\tanh^2(s + \sqrt{s}N)\bigr).$$
"""
    )
    doc.h("2. The Nishimori identity E tanh² = E tanh")
    f = sp.exp(-((u - s) ** 2) / (2 * s)) / sp.sqrt(2 * sp.pi * s)
    ratio = sp.simplify(f / f.subs(u, -u))
    doc.eq(r"f(u) = ", f, r",\qquad \frac{f(u)}{f(-u)} =", ratio)
    doc.symbolic("f(u)/f(−u) = e^{2u} (symmetric channel)", ratio - sp.exp(2 * u))
    doc.p(
        r"""
Fold the integral onto $u > 0$: $\mathbb{E}\,g(u) = \int_0^\infty f(u)\,[\,g(u) + g(-u)\,e^{-2u}\,]\,du$. For the odd
$g = \tanh$ and the even $g = \tanh^2$ the folded integrands are"""
    )
    g1 = sp.tanh(u) + sp.tanh(-u) * sp.exp(-2 * u)
    g2 = sp.tanh(u) ** 2 + sp.tanh(-u) ** 2 * sp.exp(-2 * u)
    doc.eq(r"\tanh u\,(1 - e^{-2u}) \quad\text{and}\quad \tanh^2 u\,(1 + e^{-2u}),")
    doc.p(r"which are equal pointwise because $\tanh u = (1 - e^{-2u})/(1 + e^{-2u})$:")
    doc.symbolic("folded tanh integrand = folded tanh² integrand", (g1 - g2).rewrite(sp.exp))
    doc.eq(r"\mathbb{E}\tanh^2(s+\sqrt{s}N) = \mathbb{E}\tanh(s+\sqrt{s}N).")
    doc.h("3. mmse_b and the result")
    doc.p(
        r"""
For $X = \pm1$ equiprobable and $Y = \sqrt{s}X + N$ the posterior log-odds are $2\sqrt{s}\,Y$, so
$\mathbb{E}[X\mid Y] = \tanh(\sqrt{s}Y)$ and, by orthogonality,
$\mathrm{mmse}_b = 1 - \mathbb{E}[X \tanh(\sqrt{s}Y)] = 1 - \mathbb{E}\tanh(s + \sqrt{s}N)$ (condition on $X = +1$;
$X = -1$ gives the same by symmetry)."""
    )
    post = sp.exp(-((y - sp.sqrt(s)) ** 2) / 2) / (
        sp.exp(-((y - sp.sqrt(s)) ** 2) / 2) + sp.exp(-((y + sp.sqrt(s)) ** 2) / 2)
    )
    cond_mean = sp.simplify(2 * post - 1)
    doc.symbolic("E[X|Y] = tanh(√s Y)", (cond_mean - sp.tanh(sp.sqrt(s) * y)).rewrite(sp.exp))
    T = sp.symbols(r"\mathbb{E}\tanh", positive=True)
    mmse_b = 1 - T
    phi = sp.Rational(1, 2) * (1 + T)  # after Nishimori: E tanh² → E tanh
    doc.eq(r"\varphi = \tfrac12(1 + \mathbb{E}\tanh) =", phi, r"= 1 - \tfrac12\,\mathrm{mmse}_b")
    doc.symbolic("φ − (1 − ½ mmse_b) = 0", phi - (1 - mmse_b / 2))


def expect_gauss(g, s: float) -> float:
    """E g(s + √s N) by adaptive quadrature (independent of the library's Gauss–Hermite rule)."""
    sd = np.sqrt(s)
    dens = lambda n: np.exp(-0.5 * n * n) / np.sqrt(2 * np.pi)  # noqa: E731
    val, _ = integrate.quad(lambda n: g(s + sd * n) * dens(n), -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13, limit=200)
    return val


def numeric_checks(doc: Doc) -> None:
    doc.h("4. Numerical checks (float64)")
    doc.p(
        r"""
Mixture: ``two_gaussians(d=1, mu=3, sigma=1)`` under OU, where $s = e^{-2t}\cdot 9$, so $t = \tfrac12\log(9/s)$.
$\mathbb{E}\tanh$ and $\mathbb{E}\tanh^2$ by adaptive quadrature (scipy), $\varphi$ from
``collision_probability(method="quadrature")``, $H$ and $I$ from ``class_entropy`` / ``mutual_information``.
"""
    )
    mix, proc = gt.two_gaussians(d=1, mu=3.0, sigma=1.0), gt.OU()
    ss = np.array(sorted(THEORY_TABLE))
    ts = 0.5 * np.log(9.0 / ss)
    doc.close("binary_snr at t = ½log(9/s) equals s", gt.binary_snr(mix, proc, ts), ss, 1e-12, rel=True)
    e_tanh = np.array([expect_gauss(np.tanh, s) for s in ss])
    e_tanh2 = np.array([expect_gauss(lambda v: np.tanh(v) ** 2, s) for s in ss])
    doc.close("Nishimori: E tanh² = E tanh (scipy quad)", e_tanh2, e_tanh, 1e-11)
    mmse = 1.0 - e_tanh
    phi_lib = gt.collision_probability(mix, proc, ts, method="quadrature").value
    doc.close("collision_probability = 1 − ½ mmse_b", phi_lib, 1.0 - 0.5 * mmse, 1e-10)
    H = gt.class_entropy(mix, proc, ts, method="quadrature").value
    info = gt.mutual_information(mix, proc, ts, method="quadrature").value
    doc.close("φ ≥ exp(−H) (φ − e^{−H} clipped at 0 is 0)", np.minimum(phi_lib - np.exp(-H), 0.0), 0.0, 0.0)
    table = np.array([THEORY_TABLE[s] for s in ss])
    doc.close("docs/theory.md §9 φ column", phi_lib, table[:, 3], 1e-6)
    doc.close("docs/theory.md §9 mmse_b column", mmse, table[:, 2], 1e-6)
    doc.close("docs/theory.md §9 H column (class_entropy)", H, table[:, 0], 1e-6)
    doc.close("docs/theory.md §9 I column (mutual_information)", info, table[:, 1], 1e-6)
    # the binary I-MMSE relation of docs/theory.md §5: dI/ds = ½ mmse_b(s)
    h = 1e-4
    t_plus, t_minus = 0.5 * np.log(9.0 / (ss * (1 + h))), 0.5 * np.log(9.0 / (ss * (1 - h)))
    I_p = gt.mutual_information(mix, proc, t_plus, method="quadrature").value
    I_m = gt.mutual_information(mix, proc, t_minus, method="quadrature").value
    dI_ds = (I_p - I_m) / (2 * h * ss)
    doc.close("binary I-MMSE: dI/ds (central difference) = ½ mmse_b", dI_ds, 0.5 * mmse, 2e-7)
    doc.checks_table()
    rows = ["| s | H | I | mmse_b | φ | 1 − ½ mmse_b |", "|---|---|---|---|---|---|"]
    for i, s in enumerate(ss):
        rows.append(f"| {s:g} | {H[i]:.6f} | {info[i]:.6f} | {mmse[i]:.6f} | {phi_lib[i]:.6f} | "
                    f"{1 - mmse[i] / 2:.6f} |")
    doc.p("Recomputed table (compare docs/theory.md §9):\n\n" + "\n".join(rows))


def main(out_dir: str | os.PathLike | None = None) -> str:
    doc = Doc(NAME, "Collision probability and binary MMSE: φ = 1 − ½ mmse_b")
    doc.p(
        r"""
Two equiprobable classes with a shared covariance and effective SNR $s$ (see ``binary_channel``). Claim:
$\varphi(s) = \mathbb{E}\sum_k p_t(k\mid x)^2 = 1 - \tfrac12\,\mathrm{mmse}_b(s)$ with
$\mathrm{mmse}_b(s) = 1 - \mathbb{E}\tanh(s + \sqrt{s}N)$, $N \sim N(0,1)$.
"""
    )
    derive(doc)
    doc.checks_table()
    numeric_checks(doc)
    return doc.finish(out_dir)


if __name__ == "__main__":
    cli(main)
