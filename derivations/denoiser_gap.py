"""The entropy rate is a denoiser gap: dH/dλ = −½ γ E‖x̂_0(X_t, Z) − x̂_0(X_t)‖².

Route (docs/theory.md §5): Z → X_0 → X_t is a Markov chain, so I(Z; X_t) = I(X_0; X_t) − I(X_0; X_t | Z); by I-MMSE
(Guo–Shamai–Verdú) each term has dI/dγ = ½ mmse, and mmse − mmse|Z = E‖x̂_0(x, Z) − x̂_0(x)‖² by orthogonality.
Symbolic where sympy can (the scalar Gaussian I-MMSE, the orthogonality decomposition on a generic finite joint law,
the change of variables to λ, OU time, EDM σ and ε-prediction), numeric against the library: a central finite
difference in λ of ``class_entropy`` versus a Monte Carlo estimate of the gap from ``gmmtheory.posterior.denoiser``.

Run: ``python derivations/denoiser_gap.py [OUT_DIR]``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from _common import Doc, cli  # noqa: E402

import gmmtheory as gt  # noqa: E402
from gmmtheory.posterior import denoiser  # noqa: E402

NAME = "denoiser_gap"


# ----------------------------------------------------------------------------------------------------- symbolic
def derive_gaussian_immse(doc: Doc) -> None:
    g, v = sp.symbols("gamma v", positive=True)
    doc.h("1. I-MMSE for a Gaussian input (symbolic)")
    doc.p(
        r"""
Channel $Y = \sqrt\gamma X + N$, $X \sim N(0, v)$, $N \sim N(0,1)$. $I(X;Y) = h(Y) - h(N)$ with Gaussian entropies,
and the MMSE is the conditional variance $v - \operatorname{Cov}(X,Y)^2/\operatorname{Var}(Y)$:"""
    )
    info = sp.log(2 * sp.pi * sp.E * (g * v + 1)) / 2 - sp.log(2 * sp.pi * sp.E) / 2
    mmse = sp.simplify(v - (sp.sqrt(g) * v) ** 2 / (g * v + 1))
    doc.eq(r"I(\gamma) =", sp.simplify(sp.expand_log(info, force=True)), r",\qquad \mathrm{mmse}(\gamma) =", mmse)
    doc.eq(r"\frac{dI}{d\gamma} =", sp.simplify(sp.diff(info, g)))
    doc.symbolic("dI/dγ = ½ mmse (scalar Gaussian)", sp.diff(info, g) - mmse / 2)
    doc.p(
        r"""
For a Gaussian vector $X \sim N(\mu, \Sigma)$ the channel decouples in the eigenbasis of $\Sigma$, so
$I = \tfrac12\sum_j\log(1 + \gamma\lambda_j)$ and $\mathrm{mmse} = \sum_j \lambda_j/(1 + \gamma\lambda_j)$ — this is the
conditional term $I(X_0; X_t \mid Z = k)$ of a Gaussian mixture. The identity $dI/d\gamma = \tfrac12\,\mathrm{mmse}$
holds for *any* input law with finite variance (Guo, Shamai, Verdú 2005), in particular for the mixture itself,
and conditionally on $Z$."""
    )


def derive_orthogonality(doc: Doc) -> None:
    doc.h("2. Orthogonality: mmse − mmse|Z = E‖x̂(Y, Z) − x̂(Y)‖² (symbolic)")
    doc.p(
        r"""
Fix the observation $Y = y$ (the identity then holds after averaging over $y$) and one coordinate of $X$ (the
squared norm is a sum over coordinates). Let class $z = 1..3$ have posterior weight $w_z$ ($w_3 = 1 - w_1 - w_2$),
conditional mean $m_z = \hat x(y, z)$ and conditional variance $v_z$ — an arbitrary law of $X$ enters only through
these. Then $\hat x(y) = \sum_z w_z m_z$ and"""
    )
    w1, w2 = sp.symbols("w_1 w_2", positive=True)
    m = sp.symbols("m_1:4", real=True)
    v = sp.symbols("v_1:4", positive=True)
    w = (w1, w2, 1 - w1 - w2)
    xbar = sum(wz * mz for wz, mz in zip(w, m))
    mmse = sum(wz * (vz + mz**2) for wz, vz, mz in zip(w, v, m)) - xbar**2  # E[X²|y] − x̂(y)²
    mmse_z = sum(wz * vz for wz, vz in zip(w, v))
    gap = sum(wz * (mz - xbar) ** 2 for wz, mz in zip(w, m))
    doc.eq(r"\mathrm{mmse}\,|\,y = \sum_z w_z(v_z + m_z^2) - \hat x(y)^2,\quad"
           r" \mathrm{mmse}_{|Z}\,|\,y = \sum_z w_z v_z,\quad"
           r" G\,|\,y = \sum_z w_z (m_z - \hat x(y))^2")
    doc.symbolic("law of total variance: mmse − mmse|Z − G = 0 (K = 3, any conditional laws)",
                 sp.expand(mmse - mmse_z - gap))
    doc.p(
        r"""
The same on a generic finite joint law, to see the cross term vanish: $X \in \{x_1, x_2\}$, $Z \in \{0, 1\}$ with
symbolic unnormalised probabilities $q_{iz}$ (given $y$), $\hat x(y,z) = \sum_i x_i q_{iz}/\sum_i q_{iz}$. The cross
term $\mathbb{E}\langle X - \hat x(Y,Z),\ \hat x(Y,Z) - \hat x(Y)\rangle$ is zero because $\hat x(Y,Z) - \hat x(Y)$
is a function of $(Y, Z)$ (tower property); sympy clears the denominators and expands both to 0."""
    )
    xs = sp.symbols("x_1 x_2", real=True)
    q = {(i, z): sp.Symbol(f"q_{i + 1}{z}", positive=True) for i in range(2) for z in range(2)}
    W = sum(q.values())
    Wz = {z: q[(0, z)] + q[(1, z)] for z in range(2)}
    xz = {z: (xs[0] * q[(0, z)] + xs[1] * q[(1, z)]) / Wz[z] for z in range(2)}
    xu = sum(xs[i] * q[(i, z)] for (i, z) in q) / W
    mmse_f = sum(q[k] * (xs[k[0]] - xu) ** 2 for k in q) / W
    mmse_zf = sum(q[k] * (xs[k[0]] - xz[k[1]]) ** 2 for k in q) / W
    gap_f = sum(q[k] * (xz[k[1]] - xu) ** 2 for k in q) / W
    cross = sum(q[k] * (xs[k[0]] - xz[k[1]]) * (xz[k[1]] - xu) for k in q) / W
    tower = xu - sum(Wz[z] / W * xz[z] for z in range(2))
    D = W**3 * Wz[0] * Wz[1]  # common denominator
    doc.symbolic("tower: x̂(y) = Σ_z p(z|y) x̂(y, z)", sp.expand(sp.together(tower * D)))
    doc.symbolic("cross term = 0", sp.expand(sp.together(cross * D)))
    doc.symbolic("mmse − mmse|Z − G = 0 (finite law)", sp.expand(sp.together((mmse_f - mmse_zf - gap_f) * D)))


def derive_rate(doc: Doc) -> None:
    doc.h("3. From I-MMSE to the entropy rate (symbolic change of variables)")
    doc.p(
        r"""
$X_t/\sigma = \sqrt\gamma X_0 + \varepsilon$ with $\gamma = a^2/\sigma^2$, so $I(\cdot\,; X_t)$ are functions of
$\gamma$ alone. Markov $Z \to X_0 \to X_t$ gives $I(X_0, Z; X_t) = I(X_0; X_t)$, hence by the chain rule
$I(Z; X_t) = I(X_0; X_t) - I(X_0; X_t \mid Z)$ (checked numerically on a random finite Markov chain below). I-MMSE
for both terms and section 2:
$$\frac{dI(Z;X_t)}{d\gamma} = \tfrac12(\mathrm{mmse} - \mathrm{mmse}_{\mid Z}) = \tfrac12\,G,\qquad
G = \mathbb{E}\|\hat x_0(X_t, Z) - \hat x_0(X_t)\|^2 .$$
With $H = H[Z] - I$ and $\gamma = e^\lambda$:"""
    )
    lam, t, sig, sd = sp.symbols("lambda t sigma sigma_data", positive=True)
    Ifun, G = sp.Function("I"), sp.Function("G")
    gam = sp.symbols("gamma", positive=True)
    # H(λ) = H[Z] − I(e^λ); the chain rule gives −e^λ I'(e^λ); then substitute I'(γ) = ½ G(γ)
    H0 = sp.symbols("H_Z", positive=True)
    dH_raw = sp.diff(H0 - Ifun(sp.exp(lam)), lam)
    doc.eq(r"\frac{dH}{d\lambda} =", dH_raw)
    dH_dlam = dH_raw.replace(lambda e: isinstance(e, sp.Subs), lambda e: G(e.point[0]) / 2)
    doc.eq(r"\frac{dH}{d\lambda} = -\gamma\,\frac{dI}{d\gamma} =", dH_dlam.subs(sp.exp(lam), gam),
           r"= -\tfrac12\gamma\,G")
    doc.symbolic("dH/dλ = −½ γ G", dH_dlam.subs(sp.exp(lam), gam) + gam * G(gam) / 2)
    # ε-prediction: ε̂ = (x − a x̂_0)/σ ⇒ ε̂(x,Z) − ε̂(x) = −(a/σ)(x̂_0(x,Z) − x̂_0(x))
    a, s_, x, d1, d2 = sp.symbols("a s x xhat_z xhat", real=True)
    eps_gap = (x - a * d1) / s_ - (x - a * d2) / s_
    doc.symbolic("‖ε̂(x,Z) − ε̂(x)‖² = γ ‖x̂_0(x,Z) − x̂_0(x)‖²", sp.expand(eps_gap**2 - (a / s_) ** 2 * (d1 - d2) ** 2))
    # OU time
    lam_ou = -sp.log(sp.exp(2 * t) - 1)
    gam_ou = sp.exp(lam_ou)
    Gs = sp.symbols("G", positive=True)
    dH_dt_ou = sp.simplify((-gam_ou * Gs / 2) * sp.diff(lam_ou, t))
    sigma4_ou = (1 - sp.exp(-2 * t)) ** 2
    doc.eq(r"\text{OU: }\frac{dH}{dt} = \frac{dH}{d\lambda}\frac{d\lambda}{dt} =", dH_dt_ou,
           r"= \frac{e^{-2t}}{\sigma^4}\,G")
    doc.symbolic("OU: dH/dt = e^{−2t} G/σ⁴", sp.simplify(dH_dt_ou - sp.exp(-2 * t) * Gs / sigma4_ou))
    # EDM: γ = σ_data²/σ², D = σ_data x̂_0
    lam_edm = 2 * sp.log(sd / sig)
    dH_dsig = sp.simplify((-sp.exp(lam_edm) * Gs / 2) * sp.diff(lam_edm, sig))
    doc.eq(r"\text{EDM: }\frac{dH}{d\sigma} =", dH_dsig,
           r"= \frac{\mathbb{E}\|D(x;\sigma,Z) - D(x;\sigma)\|^2}{\sigma^3}"
           r"\quad (D = \sigma_{\rm data}\hat x_0)")
    doc.symbolic("EDM: dH/dσ = σ_data² G/σ³", dH_dsig - sd**2 * Gs / sig**3)


# ------------------------------------------------------------------------------------------------------ numeric
def _sample(mix: gt.GaussianMixture, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    z = rng.choice(mix.K, size=n, p=mix.weights)
    L = np.linalg.cholesky(mix.component_covariances())  # positive definite here
    x0 = mix.means[z] + np.einsum("nij,nj->ni", L[z], rng.normal(size=(n, mix.d)))
    return x0, z


def gap_mc(mix: gt.GaussianMixture, proc, t: float, n: int, seed: int) -> dict:
    """Monte Carlo of G = E‖x̂_0(X_t, Z) − x̂_0(X_t)‖² (and helpers) from the library denoiser."""
    rng = np.random.default_rng(seed)
    x0, z = _sample(mix, n, rng)
    a, s = float(proc.alpha(t)), float(proc.sigma(t))
    xt = a * x0 + s * rng.normal(size=x0.shape)
    d_z = np.asarray(denoiser(mix, proc, t, xt, label=z))
    d_u = np.asarray(denoiser(mix, proc, t, xt))
    g = np.sum((d_z - d_u) ** 2, axis=-1)
    return {"g": g, "x0": x0, "z": z, "xt": xt, "d_z": d_z, "d_u": d_u, "gamma": (a / s) ** 2}


def check_chain_rule(doc: Doc) -> None:
    """I(Z;Y) = I(X;Y) − I(X;Y|Z) on a random finite Markov chain Z → X → Y (exact arithmetic in float64)."""
    rng = np.random.default_rng(3)
    pz = rng.dirichlet(np.ones(3))
    px_z = rng.dirichlet(np.ones(4), size=3)  # (z, x)
    py_x = rng.dirichlet(np.ones(5), size=4)  # (x, y)
    p = pz[:, None, None] * px_z[:, :, None] * py_x[None, :, :]  # (z, x, y)

    def mi(pab: np.ndarray) -> float:
        pa, pb = pab.sum(1, keepdims=True), pab.sum(0, keepdims=True)
        return float(np.sum(pab * np.log(pab / (pa * pb))))

    i_zy, i_xy = mi(p.sum(1)), mi(p.sum(0))
    i_xy_z = sum(pz[k] * mi(p[k] / pz[k]) for k in range(3))
    doc.close("chain rule on a random Markov chain Z→X→Y: I(Z;Y) = I(X;Y) − I(X;Y|Z)", i_zy, i_xy - i_xy_z, 1e-14)


def check_two_gaussians(doc: Doc) -> None:
    mix = gt.two_gaussians(d=6, mu=0.6, sigma=0.8)
    proc, t, h, n = gt.OU(), 0.7, 1e-3, 2**15
    lam0 = float(proc.log_snr(t))
    tpm = np.asarray(proc.t_from_log_snr(np.array([lam0 + h, lam0 - h])))
    Hp, Hm = gt.class_entropy(mix, proc, tpm, method="quadrature").value
    fd = (Hp - Hm) / (2 * h)
    mc = gap_mc(mix, proc, t, n, seed=11)
    g, gam = mc["g"], mc["gamma"]
    est, se = -0.5 * gam * g.mean(), 0.5 * gam * g.std(ddof=1) / np.sqrt(n)
    snr = float(gt.binary_snr(mix, proc, t))
    doc.p(
        f"""
**Two Gaussians** (``two_gaussians(d=6, mu=0.6, sigma=0.8)``, OU, t = {t}, λ = {lam0:.4f}, s = {snr:.4f}).
Central difference of the exact quadrature entropy with step h = {h} in λ versus −½γ·mean of
‖x̂_0(x, z) − x̂_0(x)‖² over n = {n} draws (x, z) ~ p_t."""
    )
    doc.within_se("two Gaussians: dH/dλ (FD of quadrature) vs −½γ E‖gap‖² (MC)", est, fd, se)
    # OU time form with the same draws
    tp, tm = t + h, t - h
    Htp, Htm = gt.class_entropy(mix, proc, np.array([tp, tm]), method="quadrature").value
    fd_t = (Htp - Htm) / (2 * h)
    s2 = float(proc.sigma(t)) ** 2
    k = np.exp(-2 * t) / s2**2
    doc.within_se("two Gaussians: dH/dt (FD in OU time) vs e^{−2t}/σ⁴ E‖gap‖²", k * g.mean(), fd_t,
                  k * g.std(ddof=1) / np.sqrt(n))
    # ε-prediction form, pointwise
    eps_z = np.asarray(gt.eps_prediction(mix, proc, t, mc["xt"], label=mc["z"]))
    eps_u = np.asarray(gt.eps_prediction(mix, proc, t, mc["xt"]))
    doc.close("‖ε̂(x,z) − ε̂(x)‖² = γ‖x̂_0(x,z) − x̂_0(x)‖² (pointwise, library)", np.sum((eps_z - eps_u) ** 2, -1),
              gam * g, 1e-9, rel=True)
    # orthogonality on the library's denoisers: mmse − mmse|Z − G = 2 E⟨X0 − x̂(x,Z), x̂(x,Z) − x̂(x)⟩ → 0
    x0, dz, du = mc["x0"], mc["d_z"], mc["d_u"]
    cross = 2 * np.sum((x0 - dz) * (dz - du), axis=-1)
    lhs = np.sum((x0 - du) ** 2, -1).mean() - np.sum((x0 - dz) ** 2, -1).mean()
    doc.within_se("orthogonality with library denoisers: (mmse − mmse|Z) − G is a zero-mean cross term",
                  lhs - g.mean(), 0.0, cross.std(ddof=1) / np.sqrt(n))
    doc.close("… and equals the sample cross term exactly", lhs - g.mean(), cross.mean(), 1e-10)
    # EDM σ form: dH/dσ = σ_data² G/σ³
    edm, sig = gt.EDM(0.5), 0.6
    He = gt.class_entropy(mix, edm, np.array([sig + h, sig - h]), method="quadrature").value
    fd_s = (He[0] - He[1]) / (2 * h)
    mce = gap_mc(mix, edm, sig, n, seed=12)
    ke = 0.25 / sig**3
    doc.within_se("two Gaussians, EDM(0.5): dH/dσ (FD) vs σ_data² E‖gap‖²/σ³", ke * mce["g"].mean(), fd_s,
                  ke * mce["g"].std(ddof=1) / np.sqrt(n))


def check_three_classes(doc: Doc) -> None:
    rng = np.random.default_rng(5)
    d = 4
    A = rng.normal(size=(d, d))
    Sigma = A @ A.T / d + 0.4 * np.eye(d)
    means = 1.2 * rng.normal(size=(3, d))
    mix = gt.GaussianMixture(means, Sigma, weights=[0.5, 0.3, 0.2])
    proc, t, h = gt.OU(), 0.5, 0.02
    lam0 = float(proc.log_snr(t))
    tpm = np.asarray(proc.t_from_log_snr(np.array([lam0 + h, lam0 - h])))
    R, n_red = 16, 2**15
    fds = []
    for seed in range(R):
        Hp, Hm = gt.class_entropy(mix, proc, tpm, method="reduced", n_samples=n_red, key=seed).value
        fds.append((Hp - Hm) / (2 * h))
    fds = np.asarray(fds)
    fd, se_fd = fds.mean(), fds.std(ddof=1) / np.sqrt(R)
    n = 2**15
    mc = gap_mc(mix, proc, t, n, seed=21)
    g, gam = mc["g"], mc["gamma"]
    est, se = -0.5 * gam * g.mean(), 0.5 * gam * g.std(ddof=1) / np.sqrt(n)
    doc.p(
        f"""
**Three classes** (d = {d}, shared full covariance, weights (0.5, 0.3, 0.2), OU, t = {t}, λ = {lam0:.4f}).
The entropy is a reduced-statistics Monte Carlo estimate; its λ-derivative is a central difference (h = {h}) of
estimates at λ ± h sharing their random numbers (same key), repeated over {R} keys of {n_red} draws each
(standard error from the spread over keys). Compared with −½γ·mean‖x̂_0(x, z) − x̂_0(x)‖² over {n} draws;
combined standard error."""
    )
    doc.within_se(f"3 classes: dH/dλ (CRN finite difference, {R}×{n_red}) vs −½γ E‖gap‖² (MC)", est, fd,
                  float(np.hypot(se, se_fd)))


def main(out_dir: str | os.PathLike | None = None) -> str:
    doc = Doc(NAME, "Entropy rate = denoiser gap: dH/dλ = −½ γ E‖x̂₀(X_t, Z) − x̂₀(X_t)‖²")
    doc.p(
        r"""
Claim (docs/theory.md §5): for any Gaussian mixture and any process, with $\lambda = \log\gamma$,
$\frac{dH[Z\mid X_t]}{d\lambda} = -\tfrac12\gamma\,\mathbb{E}\|\hat x_0(X_t, Z) - \hat x_0(X_t)\|^2
= -\tfrac12\,\mathbb{E}\|\hat\varepsilon(X_t, Z) - \hat\varepsilon(X_t)\|^2$.
"""
    )
    derive_gaussian_immse(doc)
    derive_orthogonality(doc)
    derive_rate(doc)
    doc.checks_table()
    doc.h("4. Numerical checks against the library (float64)")
    check_chain_rule(doc)
    check_two_gaussians(doc)
    check_three_classes(doc)
    doc.checks_table()
    return doc.finish(out_dir)


if __name__ == "__main__":
    cli(main)
