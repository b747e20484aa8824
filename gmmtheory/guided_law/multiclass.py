"""Exact (no Monte Carlo) law of the guided probability-flow ODE for K classes on a plane (or line, or 3-space).

Mixture: p_0 = Σ_k π_k N(μ_k, Σ) with one covariance Σ whose mean span S is invariant (``reduction`` kind
"shared"). Inside S take the centred span S_c = span{μ_k − μ̄} (μ̄ = Σ π_k μ_k) when Σ leaves it invariant (always
for Σ = s²I), else S itself; its dimension r (``ClassPlane.r``) must be ≤ 3 (three classes: r = 2; the 2 × 2
hierarchy preset ±u ± v: r = 2; two classes: r = 1). In the eigenbasis of Σ on that space (eigenvalues λ_j, class
means m_k ∈ R^r, y = Pᵀx) the class posterior depends on x through y alone and the orthogonal coordinates see
class-independent linear drifts (Gaussian, independent of y, irrelevant for class observables).

Frame: the process-independent VE frame x̃ = x/a, σ̃ = σ/a (``guided_law.flow``; written σ below), in which every
process (OU/VP, VE, EDM) has the same probability-flow ODE dy/dσ = (y − D(y; σ))/σ. With C_j = λ_j + σ² and the
guided denoiser D = D_z + (w_eff − 1)(D_z − D_u) (w_eff = w for σ_lo < σ < σ_hi, else 1):

    log p_σ(k | y) = log π_k − Σ_j (y_j − m_kj)² / (2 C_j) − logsumexp,
    D(y) = m_c + (λ/C) ⊙ (y − m_c),   m_c = w_eff m_z − (w_eff − 1) m̄_p(y),   m̄_p = Σ_k p_σ(k | y) m_k,
    dy/dσ = σ (y − m_c)/C.

Variables. ρ = log(λ̄ + σ²) (λ̄ = min_j λ_j; σ = 0 is the finite end ρ = log λ̄) and the standardised offset from
the target mean η_j = (y_j − m_zj)/√C_j. Then

    dη_j/dρ = ½ (w_eff − 1) (λ̄ + σ²) C_j^{−3/2} (m̄_p(y) − m_z)_j,      y = m_z + √C ⊙ η,            (◆)

which vanishes at w_eff = 1: the unguided flow carries the conditional N(m_z, diag C(σ_T)) onto N(m_z, diag C(σ))
with η fixed (so at w = 1, label "prior", the profile is a quadrature of H[Z | X_σ], the identity the tests check).
The Jacobian of (◆) is block-diagonal, J = ½ (w_eff − 1)(λ̄ + σ²) C^{−3/2} Cov_p(m) C^{−1/2} per node, with
Cov_p(m) = Σ_k p_k (m_k − m̄_p)(m_k − m̄_p)ᵀ; (◆) is stiff near class boundaries at large w and d and is integrated
with ``solve_ivp`` Radau (order 5, implicit) with that sparse Jacobian, segment by segment between the reported σ
and split at the interval's edges (w_eff jumps there); segments with w_eff = 1 are exact (η constant).

Law. The start σ_T = ``sigmas[0]`` carries the exact conditional p_T(· | z) = N(m_z, diag C(σ_T)) (``simulate``'s
init "auto" for labelled runs); label "prior" averages the labelled laws with weights π_z. Each start is a tensor
probabilists' Gauss–Hermite rule in η (n nodes per dimension, nodes of weight < 1e-22 dropped), moved along the
characteristics: the exact push-forward of the quadrature measure, so E f(X_σ) = Σ_n ω_n f(y_n(σ)) for every smooth
f. Observables (label z, or π-averaged; ``partition``: group posteriors p(B | y) = Σ_{k∈B} p(k | y)):

    CE(σ) = E[−log p_σ(B_z | X_σ)],   entropy(σ) = E H[p_σ(· | X_σ)],
    dCE/dρ = −E[ℓ̇_{B_z} − Σ_k p_k ℓ̇_k],  ℓ̇_k = Σ_j [−(y_j − m_kj) ẏ_j / C_j + (λ̄ + σ²)(y_j − m_kj)²/(2 C_j²)],
             ẏ_j = ½ (λ̄ + σ²)(y_j − m_c,j)/C_j,  ℓ̇_B = Σ_{k∈B} (p_k/p_B) ℓ̇_k   (exact, no finite differences),
    dCE/dlog σ = dCE/dρ · 2σ²/(λ̄ + σ²),   dCE/dt_ou = dCE/dρ · 2(1 + σ²)/(λ̄ + σ²),   t_ou = ½ log(1 + σ²);

at the last σ: soft frequencies E p(k | X), hard frequencies P(argmax = k), overshoot E⟨X − μ_z, u_z⟩/sd_z with
u_z = (μ_z − μ̄)/|μ_z − μ̄| and sd_z² = u_zᵀΣu_z (as ``dynamics.observables.overshoot``), var_along =
Var⟨X, u_z⟩/sd_z² (per target, π-averaged) and var_ratio = Σ_k π̂_k tr Cov(y | hard class k)/tr Σ_S (as
``within_class_variance``'s signal_ratio when the working space is the centred span).

Error estimate (``error_estimate=True``): the run is repeated with ⌈1.5 n⌉ nodes per dimension and rtol/100; the
finer run is returned and ``errors`` holds |fine − coarse| of every output (``error`` = max over σ of |ΔCE|).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy import sparse
from scipy.integrate import solve_ivp
from scipy.interpolate import CubicHermiteSpline
from scipy.optimize import brentq

from gmmtheory._checks import check_count, check_nonnegative, check_positive
from gmmtheory._precision import in_float64
from gmmtheory.dynamics.grid import check_interval
from gmmtheory.guided_law.sigma_grid import reported_sigmas
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.presets import build_preset
from gmmtheory.reduction import reduce_mixture, reduction_reason

__all__ = ["ClassPlane", "MulticlassLaw", "class_plane", "multiclass_law", "multiclass_redistribution", "profile_marks"]

MAX_DIM = 3
DEFAULT_NODES = {1: 96, 2: 48, 3: 20}  # Gauss–Hermite nodes per dimension (see the docs' refinement table)
_DROP = 1e-22  # tensor-product nodes of smaller weight are dropped (each contributes < 1e-22 × |f|)
_SPAN_RTOL = 1e-10
_INV_RTOL = 1e-9


# ============================================================================================ the class plane
@dataclass(frozen=True, repr=False)
class ClassPlane:
    """The class coordinates y = Pᵀx ∈ R^r of a reducible mixture (module docstring): class means ``means`` (K, r),
    eigenvalues ``lam`` (r,) of Σ on the working space (y is in its eigenbasis), weights ``weights`` (K,),
    orthonormal ``basis`` P (d, r), ``centred`` (True: the working space is span{μ_k − μ̄}), ``d``."""

    means: np.ndarray
    lam: np.ndarray
    weights: np.ndarray
    basis: np.ndarray
    centred: bool
    d: int

    @property
    def K(self) -> int:
        return int(self.means.shape[0])

    @property
    def r(self) -> int:
        return int(self.means.shape[1])

    @property
    def scale(self) -> float:
        """max_k |m_k − m̄|: the class spread (σ ≫ scale: undecided)."""
        c = self.means - self.weights @ self.means
        return float(np.max(np.linalg.norm(c, axis=1)))

    def __repr__(self) -> str:
        return f"ClassPlane(K={self.K}, r={self.r}, d={self.d}, centred={self.centred})"


def class_plane(mixture: object) -> ClassPlane:
    """The class coordinates of ``mixture`` (validated, cheap): a ``GaussianMixture`` of K ≥ 2 classes, reduction
    kind "shared" (one covariance, the mean span invariant), working dimension r ≤ 3 and Σ positive definite
    there; otherwise a ``ValueError`` naming what fails."""
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    if mixture.K < 2:
        raise ValueError(f"mixture must have at least 2 classes; got K={mixture.K}")
    reason = reduction_reason(mixture)
    if reason is not None:
        raise ValueError(f"mixture does not reduce to the span of its means: {reason}")
    red = reduce_mixture(mixture)
    if red.kind != "shared":
        raise ValueError(f"mixture must have one shared covariance (reduction kind 'shared'); got kind={red.kind!r} "
                         "(per-class isotropic covariances: the posterior also depends on |x⊥|², not handled here)")
    sub = red.mixture
    M = np.asarray(sub.means, float)  # (K, r0)
    S = np.asarray(sub.component_covariances()[0], float)
    wts = np.asarray(sub.weights, float)
    cen = M - wts @ M
    _, s, vt = np.linalg.svd(cen, full_matrices=False)
    keep = s > _SPAN_RTOL * max(float(s.max(initial=0.0)), 1e-300)
    if not np.any(keep) or float(s.max(initial=0.0)) == 0.0:
        raise ValueError("mixture's class means coincide; there is no class direction")
    P = vt[keep].T  # (r0, r_c)
    SP = S @ P
    inv_ok = float(np.max(np.abs(SP - P @ (P.T @ SP)))) <= _INV_RTOL * max(1.0, float(np.max(np.abs(S))))
    centred = bool(inv_ok)
    if not centred:
        P = np.eye(M.shape[1])
    r = P.shape[1]
    if r > MAX_DIM:
        raise ValueError(f"mixture's class coordinates have dimension r = {r} (span of the means r0 = {M.shape[1]}, "
                         f"centred span {int(keep.sum())}); the exact multiclass law handles r ≤ {MAX_DIM}")
    inner = P.T @ S @ P
    lam, V = np.linalg.eigh(0.5 * (inner + inner.T))
    if float(lam.min()) <= 1e-12 * max(1.0, float(lam.max())):
        raise ValueError(f"mixture's covariance is singular on the class coordinates (eigenvalues {lam}); the "
                         "probability-flow law to σ = 0 needs it positive definite")
    B = P @ V
    return ClassPlane(M @ B, lam, wts.copy(), np.asarray(red.basis) @ B, centred, int(mixture.d))


# ================================================================================================ the result
@dataclass(frozen=True, repr=False)
class MulticlassLaw:
    """Curves of the exact guided probability-flow law on the reported grid (decreasing σ, the last one final).

    sigma: VE-equivalent σ/a; t_ou: ½ log(1 + σ²); ce: CE(σ) = E[−log p_σ(B_z | X_σ)] (z the target; π-averaged for
    label "prior"; B_z = z's group of ``partition``); ce_rate_t: dCE/dt_ou; ce_rate_logsigma: dCE/dlog σ (NaN at
    σ = 0); entropy: E H[p_σ(· | X_σ)] (groups); freq / freq_hard: final soft / argmax frequencies of the classes
    (K,); overshoot: E⟨X_end − μ_z, u_z⟩/sd_z; var_along: Var⟨X_end, u_z⟩/sd_z²; var_ratio: pooled within-hard-class
    variance / tr Σ on the class coordinates; h_prior: CE at σ = ∞ (Σ_z π_z(−log π_{B_z}) or −log π_{B_z});
    error: max |ΔCE| of the refinement (0 when not estimated); errors: |Δ| of every output; settings: what was
    computed (module docstring)."""

    sigma: np.ndarray
    t_ou: np.ndarray
    ce: np.ndarray
    ce_rate_t: np.ndarray
    ce_rate_logsigma: np.ndarray
    entropy: np.ndarray
    freq: np.ndarray
    freq_hard: np.ndarray
    overshoot: float
    var_along: float
    var_ratio: float
    h_prior: float
    error: float
    errors: dict
    settings: dict

    def as_dict(self) -> dict:
        """Fields by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __repr__(self) -> str:
        s = self.settings
        return (f"MulticlassLaw(K={s.get('K')}, r={s.get('r')}, w={s.get('w')}, label={s.get('label')!r}, "
                f"n_points={self.sigma.size}, overshoot={self.overshoot:.4g}, error≈{self.error:.2g})")


# ================================================================================================ the engine
def _nodes(r: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss–Hermite rule for N(0, I_r): nodes (N, r), weights (N,) (weights < 1e-22 dropped)."""
    xi, wt = hermegauss(n)
    wt = wt / math.sqrt(2.0 * math.pi)
    pts = np.array(list(itertools.product(xi, repeat=r)))
    w = np.prod(np.array(list(itertools.product(wt, repeat=r))), axis=1)
    keep = w > _DROP
    return pts[keep], w[keep]


class _Engine:
    """The stacked node system of (◆): targets per node, geometry, and the posterior pieces at (η, ρ)."""

    def __init__(self, plane: ClassPlane, targets, n: int, mems: list[np.ndarray]):
        self.M, self.lam, self.lbar = plane.means, plane.lam, float(plane.lam.min())
        self.logpi = np.log(np.maximum(plane.weights, 1e-300))
        self.mems = mems  # per partition: (K, G) 0/1
        xi, wt = _nodes(plane.r, n)
        self.z = np.concatenate([np.full(xi.shape[0], z) for z, _ in targets])
        self.w = np.concatenate([pz * wt for _, pz in targets])
        self.eta0 = np.concatenate([xi for _ in targets])
        self.mz = self.M[self.z]  # (N, r)
        self.gzs = [np.argmax(mem[self.z], axis=1) for mem in mems]  # the target's group per node
        self.N, self.r = self.eta0.shape

    def s2(self, rho: float) -> float:
        return max(math.exp(rho) - self.lbar, 0.0)

    def posterior(self, eta, s2):
        C = self.lam + s2
        y = self.mz + np.sqrt(C) * eta
        diff = y[:, None, :] - self.M[None, :, :]  # (N, K, r)
        ell = self.logpi[None, :] - 0.5 * np.sum(diff * diff / C, axis=2)
        mx = ell.max(axis=1, keepdims=True)
        lse = mx + np.log(np.exp(ell - mx).sum(axis=1, keepdims=True))
        lp = ell - lse
        return y, C, diff, lp

    def rhs(self, rho, flat, w_eff):
        s2 = self.s2(rho)
        eta = flat.reshape(self.N, self.r)
        _, C, _, lp = self.posterior(eta, s2)
        mbar = np.exp(lp) @ self.M
        f = 0.5 * (w_eff - 1.0) * (self.lbar + s2) * C ** -1.5 * (mbar - self.mz)
        return f.ravel()

    def jac(self, rho, flat, w_eff):
        s2 = self.s2(rho)
        eta = flat.reshape(self.N, self.r)
        _, C, _, lp = self.posterior(eta, s2)
        p = np.exp(lp)
        dm = self.M[None, :, :] - (p @ self.M)[:, None, :]  # (N, K, r)
        cov = np.einsum("nk,nki,nkj->nij", p, dm, dm)
        J = 0.5 * (w_eff - 1.0) * (self.lbar + s2) * cov * (C ** -1.5)[None, :, None] * (C ** -0.5)[None, None, :]
        return sparse.bsr_matrix((J, np.arange(self.N), np.arange(self.N + 1)), shape=(self.N * self.r,) * 2)

    def observe(self, eta, sigma: float, w_eff: float):
        """Per partition (membership (K, G) in ``self.mems``): CE, entropy of the group posterior and dCE/dρ at σ."""
        s2 = sigma * sigma
        y, C, diff, lp = self.posterior(eta, s2)
        p = np.exp(lp)
        mc = w_eff * self.mz - (w_eff - 1.0) * (p @ self.M)
        g = self.lbar + s2
        ydot = 0.5 * g * (y - mc) / C
        elld = np.sum(-diff * ydot[:, None, :] / C + 0.5 * g * diff * diff / C**2, axis=2)  # (N, K): dℓ_k/dρ
        mean_l = np.sum(p * elld, axis=1)
        out = []
        for mem, gz in zip(self.mems, self.gzs):
            inb = mem[:, gz].T > 0  # (N, K): k in the target's group
            lz = np.where(inb, lp, -np.inf)
            mx = lz.max(axis=1)
            lpg_z = mx + np.log(np.sum(np.exp(lz - mx[:, None]), axis=1))  # log p(B_z | y)
            pg = p @ mem
            ent = -np.sum(pg * np.log(np.where(pg > 0, pg, 1.0)), axis=1)
            ell_b = np.sum(np.where(inb, np.exp(lp - lpg_z[:, None]), 0.0) * elld, axis=1)
            out.append((-float(self.w @ lpg_z), float(self.w @ ent), -float(self.w @ (ell_b - mean_l))))
        return out

    def final(self, eta, sigma: float, plane: ClassPlane):
        y, C, _, lp = self.posterior(eta, sigma * sigma)
        p = np.exp(lp)
        freq = self.w @ p
        hard = np.argmax(lp, axis=1)
        fh = np.bincount(hard, weights=self.w, minlength=plane.K)
        target = float(self.w @ p[np.arange(self.N), self.z])
        mbar = plane.weights @ plane.means
        over, var_al = 0.0, 0.0
        tot = float(self.w.sum())
        for z in np.unique(self.z):
            sel = self.z == z
            u = plane.means[z] - mbar
            nu = float(np.linalg.norm(u))
            u = u / nu if nu > 0 else u
            sd = math.sqrt(max(float(u**2 @ plane.lam), 1e-300))
            wz = self.w[sel] / self.w[sel].sum()
            proj = (y[sel] - plane.means[z]) @ u / sd
            pz = float(self.w[sel].sum()) / tot
            m1 = float(wz @ proj)
            over += pz * m1
            var_al += pz * float(wz @ (proj - m1) ** 2)
        vr, tk = 0.0, 0.0
        for k in range(plane.K):
            sel = hard == k
            pk = float(self.w[sel].sum())
            if pk <= 1e-12:
                continue
            m = self.w[sel] @ y[sel] / pk
            vr += float(self.w[sel] @ np.sum((y[sel] - m) ** 2, axis=1))
            tk += pk
        var_ratio = vr / tk / float(plane.lam.sum()) if tk > 0 else float("nan")
        return {"freq": freq / tot, "freq_hard": fh / tot, "target_freq": target / tot, "overshoot": over,
                "var_along": var_al, "var_ratio": var_ratio}


def _w_eff(w: float, iv: tuple[float, float], sigma: float) -> float:
    return w if iv[0] < sigma < iv[1] else 1.0


def _run(plane: ClassPlane, sig: np.ndarray, targets, w: float, iv, n: int, rtol: float,
         mems: list[np.ndarray]) -> dict:
    """One law: per partition of ``mems`` the curves "ce", "entropy", "dce_drho" (lists, one (L,) array each), the
    final statistics of ``_Engine.final`` and solver statistics."""
    eng = _Engine(plane, targets, n, mems)
    eta = eng.eta0.ravel().copy()
    L, P = sig.size, len(mems)
    ce, ent, dce = np.empty((P, L)), np.empty((P, L)), np.empty((P, L))
    stats = {"steps": 0, "nfev": 0, "n_nodes": eng.N}

    def obs(i):
        vals = eng.observe(eta.reshape(eng.N, eng.r), float(sig[i]), _w_eff(w, iv, float(sig[i])))
        for j, (a, b, c) in enumerate(vals):
            ce[j, i], ent[j, i], dce[j, i] = a, b, c

    obs(0)
    edges = [e for e in iv if np.isfinite(e) and e > 0]
    for i in range(L - 1):
        hi, lo = float(sig[i]), float(sig[i + 1])
        cuts = [hi] + sorted((e for e in edges if lo < e < hi), reverse=True) + [lo]
        for s0, s1 in zip(cuts[:-1], cuts[1:]):
            w_eff = _w_eff(w, iv, 0.5 * (s0 + s1))
            if w_eff == 1.0:
                continue  # (◆) vanishes: η is constant
            r0, r1 = math.log(eng.lbar + s0 * s0), math.log(eng.lbar + s1 * s1)
            sol = solve_ivp(eng.rhs, (r0, r1), eta, method="Radau", jac=eng.jac, args=(w_eff,), rtol=rtol,
                            atol=rtol)
            if not sol.success:
                raise RuntimeError(f"the characteristics failed between σ = {s0:g} and {s1:g}: {sol.message}")
            stats["steps"] += int(sol.t.size - 1)
            stats["nfev"] += int(sol.nfev)
            eta = sol.y[:, -1]
        obs(i + 1)
    fin = eng.final(eta.reshape(eng.N, eng.r), float(sig[-1]), plane)
    return {"ce": ce, "entropy": ent, "dce_drho": dce, **fin, "stats": stats}


def _rates(sig: np.ndarray, dce_drho: np.ndarray, lbar: float) -> tuple[np.ndarray, np.ndarray]:
    s2 = sig * sig
    g = lbar + s2
    rt = dce_drho * 2.0 * (1.0 + s2) / g
    rl = np.where(sig > 0, dce_drho * 2.0 * s2 / g, np.nan)
    return rt, rl


def _check_label(label: object, K: int) -> object:
    if isinstance(label, str):
        if label != "prior":
            raise ValueError(f"label must be a class index 0..{K - 1} or 'prior'; got {label!r}")
        return label
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)) or not 0 <= int(label) < K:
        raise ValueError(f"label must be a class index 0..{K - 1} or 'prior'; got {label!r}")
    return int(label)


@in_float64
def multiclass_law(mixture, *, w: float = 1.0, interval=None, label="prior", partition: Partition | None = None,
                   process=None, T=None, sigmas=None, n_nodes: int | None = None, rtol: float = 1e-9,
                   error_estimate: bool = True) -> MulticlassLaw:
    """The exact law of the guided probability-flow ODE on the class coordinates (module docstring).

    Args:
        mixture: a ``GaussianMixture`` with a shared covariance, reducing to r ≤ 3 class coordinates (``class_plane``).
        w: CFG scale ≥ 0 (guided denoiser D_z + (w − 1)(D_z − D_u)); interval: (σ_lo, σ_hi) in VE-equivalent σ where
            w applies (None: everywhere).
        label: target class z, or "prior" (the labelled laws averaged with weights π_z).
        partition: groups for the profiles (CE of the target's group, entropy of the group posterior); guidance is
            always towards the class z. None: the classes.
        process, T: set the start σ_T = σ(T)/a(T) of the default grid (``sigma_grid.default_sigmas``: σ_T, a log grid
            80 … 0.002, then 0); sigmas: the reported decreasing σ grid instead (first = start, may end in 0).
        n_nodes: Gauss–Hermite nodes per dimension (default 96 / 48 / 20 for r = 1 / 2 / 3); rtol: Radau tolerance
            (atol = rtol, η is in class-sd units).
        error_estimate: also run ⌈1.5 n⌉ nodes and rtol/100 and return that run with the differences.

    All arguments are validated before any integration (``ValueError`` naming the argument)."""
    plane = class_plane(mixture)
    w = check_nonnegative("w", w)
    iv = (0.0, math.inf) if interval is None else check_interval(interval)
    label = _check_label(label, plane.K)
    part = check_partition(partition, plane.K)
    sig = reported_sigmas(sigmas, process, T)
    n = DEFAULT_NODES[plane.r] if n_nodes is None else check_count("n_nodes", n_nodes, 2)
    rtol = check_positive("rtol", rtol)
    if not rtol < 1e-2:
        raise ValueError(f"rtol must be < 1e-2; got {rtol!r}")
    if not isinstance(error_estimate, (bool, np.bool_)):
        raise ValueError(f"error_estimate must be True or False; got {error_estimate!r}")
    targets, h_prior = _targets(plane, label, part)
    runs = [_run(plane, sig, targets, w, iv, n, rtol, [part.membership()])]
    if error_estimate:
        runs.append(_run(plane, sig, targets, w, iv, int(math.ceil(1.5 * n)), rtol / 100.0, [part.membership()]))
    return _assemble(plane, sig, runs, 0, w, iv, label, h_prior, n, rtol, partition, part)


def _targets(plane: ClassPlane, label, part: Partition) -> tuple[list[tuple[int, float]], float]:
    """[(z, weight)] of the target laws and h_prior = CE at σ = ∞ for the groups of ``part``."""
    mem = part.membership()
    pig = plane.weights @ mem
    gz = np.argmax(mem, axis=1)
    if label == "prior":
        targets = [(k, float(plane.weights[k])) for k in range(plane.K) if plane.weights[k] > 0]
        return targets, float(sum(pz * -math.log(pig[gz[k]]) for k, pz in targets))
    return [(int(label), 1.0)], -math.log(max(float(pig[gz[int(label)]]), 1e-300))


_OUT_KEYS = ("ce", "entropy", "dce_drho", "freq", "freq_hard", "target_freq", "overshoot", "var_along", "var_ratio")


def _assemble(plane, sig, runs, j, w, iv, label, h_prior, n, rtol, partition, part) -> MulticlassLaw:
    """The ``MulticlassLaw`` of partition j of the (coarse, fine) runs."""
    fine = runs[-1]

    def pick(r, key):
        v = r[key]
        return np.asarray(v[j]) if key in ("ce", "entropy", "dce_drho") else np.asarray(v)

    errors: dict = {}
    if len(runs) == 2:
        errors = {key: float(np.max(np.abs(pick(fine, key) - pick(runs[0], key)))) for key in _OUT_KEYS}
    rt, rl = _rates(sig, pick(fine, "dce_drho"), float(plane.lam.min()))
    est = len(runs) == 2
    settings = {"kind": "continuous", "sampler": "ode", "w": w, "interval": iv, "label": label, "K": plane.K,
                "r": plane.r, "centred": plane.centred, "n_nodes": int(math.ceil(1.5 * n)) if est else n,
                "rtol": rtol / 100.0 if est else rtol, "partition": None if partition is None else part.groups,
                "target_freq": float(fine["target_freq"]), "stats": [r["stats"] for r in runs]}
    return MulticlassLaw(sig, 0.5 * np.log1p(sig**2), pick(fine, "ce"), rt, rl, pick(fine, "entropy"),
                         pick(fine, "freq"), pick(fine, "freq_hard"), float(fine["overshoot"]),
                         float(fine["var_along"]), float(fine["var_ratio"]), h_prior, float(errors.get("ce", 0.0)),
                         errors, settings)


# ================================================================================================ the study
def _log_sigma_of_t(t: float) -> float:
    return 0.5 * math.log(math.expm1(2.0 * t)) if np.isfinite(t) and t > 0 else float("nan")


def profile_marks(law: MulticlassLaw) -> dict:
    """Landmarks of a CE profile in OU time t (increasing): the first upward crossings ``h10_t``, ``half_t``,
    ``h90_t`` of 10 / 50 / 90 % of h_prior (cubic Hermite interpolation with the exact dCE/dt, root by brentq; nan
    when not reached, e.g. CE(σ = 0) above the level), ``peak_t`` / ``peak_rate_t`` (max dCE/dt, parabola through
    the grid maximum unless an interval edge, where the rate jumps, lies inside), ``peak_rate_logsigma`` (max
    dCE/dlog σ, likewise), ``fwhm_lo`` / ``fwhm_hi`` (where dCE/dt
    falls to half its peak on either side, linear interpolation; nan if not on the grid)."""
    nan = float("nan")
    ok = law.sigma > 0
    t, c, rt = law.t_ou[ok][::-1], law.ce[ok][::-1], law.ce_rate_t[ok][::-1]
    rl = law.ce_rate_logsigma[ok][::-1]
    spl = CubicHermiteSpline(t, c, rt)
    out = {}
    for name, frac in (("h10_t", 0.1), ("half_t", 0.5), ("h90_t", 0.9)):
        lev = frac * law.h_prior
        idx = np.flatnonzero((c[:-1] < lev) & (c[1:] >= lev))
        out[name] = float(brentq(lambda x: float(spl(x)) - lev, t[idx[0]], t[idx[0] + 1], xtol=1e-13)) \
            if idx.size else nan

    edges = [math.log(e) for e in law.settings["interval"] if 0 < e < math.inf]
    ts = [0.5 * math.log1p(math.exp(2 * e)) for e in edges]

    def peak(x, y, cuts):
        j = int(np.argmax(y))
        if 0 < j < y.size - 1 and not any(x[j - 1] <= e <= x[j + 1] for e in cuts):  # no jump of w_eff inside
            x0, x1, x2 = x[j - 1:j + 2]
            y0, y1, y2 = y[j - 1:j + 2]
            den = (x0 - x1) * (x0 - x2) * (x1 - x2)
            A = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
            Bc = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / den
            if A < 0:
                xv = -Bc / (2 * A)
                return j, float(xv), float(y1 + (A * (xv - x1) ** 2 + (2 * A * x1 + Bc) * (xv - x1)))
        return j, float(x[j]), float(y[j])

    j, out["peak_t"], out["peak_rate_t"] = peak(t, rt, ts)
    out["peak_rate_logsigma"] = peak(np.log(law.sigma[ok][::-1]), rl, edges)[2]
    half = 0.5 * float(rt[j])
    lo = np.flatnonzero((rt[:j] < half) & (rt[1:j + 1] >= half))
    hi = np.flatnonzero((rt[j:-1] >= half) & (rt[j + 1:] < half))
    out["fwhm_lo"] = float(np.interp(half, rt[lo[-1]:lo[-1] + 2], t[lo[-1]:lo[-1] + 2])) if lo.size else nan
    out["fwhm_hi"] = float(np.interp(-half, -rt[j + hi[0]:j + hi[0] + 2], t[j + hi[0]:j + hi[0] + 2])) \
        if hi.size else nan
    return out


STUDY_PRESETS = {"two": {}, "kclasses": {"K": 3}, "hierarchical": {}}
STUDY_PARTITIONS = {"two": ("classes",), "kclasses": ("classes",), "hierarchical": ("classes", "coarse", "sub")}
REDISTRIBUTION_INTERVALS = ("all", "window")  # full CFG; the unguided FWHM window of that d


@in_float64
def multiclass_redistribution(preset: str = "kclasses", *, ws=(1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
                              ds=(10, 1_000, 1_000_000), intervals=("all", "window"), mu: float = 0.5,
                              params: dict | None = None, partitions=None, n_nodes: int | None = None,
                              n_eval: int = 241, rtol: float = 1e-8, q_start: float = 1e-6) -> list[dict]:
    """How CFG redistributes the exact cross-entropy CE(σ) (label "prior") of a ``build_preset(preset, d=d, mu=mu,
    **params)`` mixture (default params: K = 3 for "kclasses"), against its unguided profile (w = 1 = H[Z_P | X_σ]).

    Grid: σ from σ_T = m/√q_start (m = max_k |m_k − m̄|, so the class SNR m²/σ_T² = q_start, the start of
    ``studies.two_gaussian_flow``) down to 10⁻³ m (``n_eval`` log-spaced points), then 0. Intervals: "all" (full
    CFG) or "window" (the unguided FWHM of dCE/dt of that d and partition "classes", as σ; fixed in the class SNR,
    like the two-Gaussian study's window). Rows per (d, partition, interval, w): d, K, r, partition, interval,
    sigma_lo, sigma_hi, w, h_prior, half_t, shift_t (Δ of the half-entropy OU time, > 0 = decided earlier, at higher
    noise), shift_logsigma, window_ratio_t / window_ratio_logsigma (10–90 % windows, guided / unguided),
    peak_ratio_t / peak_ratio_logsigma (max dCE/dt, max dCE/dlog σ, guided / unguided), target_freq (E p_0(z | X_0)),
    overshoot, var_along, error (max |ΔCE| of the node/rtol refinement). ``partitions``: names of the preset's
    partitions to profile (default: classes; for "hierarchical" also coarse and sub); guidance is always towards
    the class."""
    if not isinstance(preset, str):
        raise ValueError(f"preset must be a preset name; got {preset!r}")
    for w in ws:
        if not (np.isfinite(w) and w >= 0):
            raise ValueError(f"ws must be guidance scales ≥ 0; got {w!r}")
    for iv in intervals:
        if iv not in REDISTRIBUTION_INTERVALS:
            raise ValueError(f"intervals must be among {REDISTRIBUTION_INTERVALS}; got {iv!r}")
    ds = [check_count("d", d) for d in ds]
    q_start = check_positive("q_start", q_start)
    n_eval = check_count("n_eval", n_eval, 8)
    prm = dict(STUDY_PRESETS.get(preset, {}), **(params or {}))
    parts = tuple(STUDY_PARTITIONS.get(preset, ("classes",)) if partitions is None else partitions)
    presets = {d: build_preset(preset, d=d, mu=mu, **prm) for d in ds}
    for pr in presets.values():
        class_plane(pr.mixture)
        for name in parts:
            if name not in pr.partitions:
                raise ValueError(f"partitions must be among {tuple(pr.partitions)}; got {name!r}")
    ws_all = sorted({1.0, *map(float, ws)})
    rows = []
    for d in ds:
        pr = presets[d]
        plane = class_plane(pr.mixture)
        m = plane.scale
        sig = np.append(np.geomspace(m / math.sqrt(q_start), 1e-3 * m, n_eval), 0.0)
        part_objs = [pr.partitions[p] for p in parts]
        mems = [p.membership() for p in part_objs]
        n = DEFAULT_NODES[plane.r] if n_nodes is None else check_count("n_nodes", n_nodes, 2)

        def laws(w, iv):
            runs = [_run(plane, sig, _targets(plane, "prior", part_objs[0])[0], w, iv, n, rtol, mems),
                    _run(plane, sig, _targets(plane, "prior", part_objs[0])[0], w, iv, int(math.ceil(1.5 * n)),
                         rtol / 100.0, mems)]
            return [_assemble(plane, sig, runs, j, w, iv, "prior", _targets(plane, "prior", po)[1], n, rtol, po, po)
                    for j, po in enumerate(part_objs)]

        base = laws(1.0, (0.0, math.inf))
        bm = [profile_marks(b) for b in base]
        for iv_name in intervals:
            if iv_name == "all":
                iv = (0.0, math.inf)
            else:
                lo_t, hi_t = bm[0]["fwhm_lo"], bm[0]["fwhm_hi"]
                iv = (math.sqrt(math.expm1(2 * lo_t)) if np.isfinite(lo_t) else 0.0,
                      math.sqrt(math.expm1(2 * hi_t)) if np.isfinite(hi_t) else math.inf)
            for w in ws_all:
                gl = base if w == 1.0 else laws(w, iv)
                for j, name in enumerate(parts):
                    g, L, L0 = gl[j], profile_marks(gl[j]), bm[j]
                    rows.append({
                        "preset": preset, "d": d, "K": plane.K, "r": plane.r, "partition": name,
                        "interval": iv_name, "sigma_lo": iv[0], "sigma_hi": iv[1], "w": w, "h_prior": g.h_prior,
                        "half_t": L["half_t"], "shift_t": L["half_t"] - L0["half_t"],
                        "shift_logsigma": _log_sigma_of_t(L["half_t"]) - _log_sigma_of_t(L0["half_t"]),
                        "window_ratio_t": (L["h90_t"] - L["h10_t"]) / (L0["h90_t"] - L0["h10_t"]),
                        "window_ratio_logsigma": (_log_sigma_of_t(L["h90_t"]) - _log_sigma_of_t(L["h10_t"]))
                        / (_log_sigma_of_t(L0["h90_t"]) - _log_sigma_of_t(L0["h10_t"])),
                        "peak_ratio_t": L["peak_rate_t"] / L0["peak_rate_t"],
                        "peak_ratio_logsigma": L["peak_rate_logsigma"] / L0["peak_rate_logsigma"],
                        "target_freq": g.settings["target_freq"], "overshoot": g.overshoot,
                        "var_along": g.var_along, "error": g.error})
    return rows
