"""The exact guided probability-flow law of two Gaussians, in its universal (d-free) variable, and the exact law of
deterministic samplers (Euler = DDIM, Heun = EDM with S_churn = 0) on any σ grid.

This is the special case λ = 1, π = (½, ½), means ±m of ``flow.ode_law`` (characteristics in y, trapezoid nodes,
DOP853) written in variables where m drops out, so one integration serves every d; the two are independent methods
and agree to ≤ 2e-9 in CE at 192 nodes (tests/guided_law/test_engines_agree.py). Moved here from
``studies.two_gaussian_flow`` (which re-exports it).

Two Gaussians N(±m e, I), m = √d μ̃ (preset "two", unit within-class variance, equal weights), target class z = +.
Only y = ⟨e, x̃⟩ matters (unit-data VE frame x̃ = x/a, σ = σ_t/a_t; the orthogonal coordinates see class-independent
linear drifts). With r = 1 + σ² the class logit is log p(+|y)/p(−|y) = 2v, v = m y / r, and the guided denoiser
D = D_z + (w − 1)(D_z − D_u) has the e-component

    D(y; σ) = y/r + (σ²/r) m g(v),   g(v) = w − (w − 1) tanh v.

The probability-flow ODE dy/dσ = (y − D)/σ is the same for VP (OU), VE and EDM (Karras et al. 2022, eq. 4 in the
x̃ = x/a frame, with the guided D in place of the denoiser). In the variables q = m²/r (the SNR of the class
coordinate) and v it reads

    dv/ds = (v + q g(v)) / 2,   s = log q,   v → N(q, q) as q → 0,                                     (★)

with no m left: the guided law as a function of q is universal. d enters only through the end point q = m² (σ = 0)
and the map q ↔ σ: σ² = m²/q − 1, OU time t = ½ log(1 + σ²) = log m − ½ log q. So every landmark in OU time moves
with d by the same log m, and guided − unguided differences in OU time are exactly d-independent whenever the
guidance interval is fixed in q (full CFG, the unguided window and the ranges before/after it).

``universal_flow`` integrates (★) for Gauss–Hermite nodes ξ_j of the initial law v = q₀ + √q₀ ξ (stiff solver
Radau; the interval ends split the integration, where w_eff jumps); the cross-entropy profile is
CE(q) = Σ_j ω_j softplus(−2 v_j(q)) = E_{q_w}[−log p_t(z | x_t)]. At w = 1, v = q + √q ξ solves (★) exactly and CE
is H[Z | X_t]. ``sampler_flow`` runs the Euler or Heun map of a discrete grid on the same nodes, started from the
exact continuous law at the grid's first σ, so its error is the discretisation error alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.integrate import solve_ivp
from scipy.sparse import diags

from gmmtheory._checks import check_choice, check_count, check_nonnegative, check_positive

__all__ = ["FlowProfile", "q_of_sigma", "sampler_flow", "sigma_of_q", "universal_flow"]

Q_START = 1e-6  # q₀: the guidance effect there is O(q₀ w), below every tolerance used
SOLVERS = ("euler", "heun")


def sigma_of_q(q: object, m: float) -> np.ndarray:
    """σ = √(m²/q − 1) (0 where q ≥ m²)."""
    q = np.asarray(q, np.float64)
    return np.sqrt(np.maximum(m * m / q - 1.0, 0.0))


def q_of_sigma(sigma: object, m: float) -> np.ndarray:
    """q = m²/(1 + σ²) (the class coordinate's SNR)."""
    return m * m / (1.0 + np.asarray(sigma, np.float64) ** 2)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


MAX_NODES = 360  # numpy's hermegauss weights underflow to NaN beyond ~370 nodes


def _nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    if n > MAX_NODES:
        raise ValueError(f"n_nodes must be ≤ {MAX_NODES} (Gauss–Hermite weights underflow beyond); got {n}")
    xi, wt = hermegauss(n)
    return xi, wt / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True, repr=False)
class FlowProfile:
    """The exact guided law on a grid of q (increasing = generation order): ``q`` (L,), ``v`` (L, n) node values,
    ``weights`` (n,) their quadrature weights, ``ce`` (L,) = E softplus(−2v) (nats), ``w``, ``q_interval``."""

    q: np.ndarray
    v: np.ndarray
    weights: np.ndarray
    ce: np.ndarray
    w: float
    q_interval: tuple[float, float]

    def sigma(self, m: float) -> np.ndarray:
        """The unit-data σ of the grid at class half-gap m (0 at q ≥ m²)."""
        return sigma_of_q(self.q, m)

    def t_ou(self, m: float) -> np.ndarray:
        """OU time t = log m − ½ log q (clipped at 0)."""
        return np.maximum(math.log(m) - 0.5 * np.log(self.q), 0.0)

    def final_frequency(self) -> float:
        """E p(z | y) = E sigmoid(2v) at the grid's last q (the target-class frequency, soft)."""
        return float(self.weights @ (0.5 * (1.0 + np.tanh(self.v[-1]))))

    def as_dict(self) -> dict:
        return {"q": self.q, "ce": self.ce, "w": self.w, "q_interval": self.q_interval}

    def __repr__(self) -> str:
        return f"FlowProfile(w={self.w:g}, q {self.q[0]:.3g} → {self.q[-1]:.3g}, {self.v.shape[1]} nodes)"


def _rhs_factory(w_eff: float):
    def rhs(_s, v):
        q = math.exp(_s)
        return 0.5 * (v + q * (w_eff - (w_eff - 1.0) * np.tanh(v)))

    def jac(_s, v):  # the nodes are uncoupled: a diagonal Jacobian, kept sparse so Radau's LU is O(n), not O(n³)
        q = math.exp(_s)
        return diags(0.5 * (1.0 - q * (w_eff - 1.0) / np.cosh(np.clip(v, -350, 350)) ** 2), format="csc")

    return rhs, jac


def universal_flow(
    w: float,
    q_eval: object,
    *,
    q_interval: tuple[float, float] = (0.0, math.inf),
    n_nodes: int = 96,
    rtol: float = 1e-9,
) -> FlowProfile:
    """Integrate (★) from q₀ = 1e-6 to max(q_eval) with w_eff = w for q in ``q_interval`` = (q_lo, q_hi) and 1
    outside, returning the law at the increasing grid ``q_eval`` (values > q₀)."""
    w = check_nonnegative("w", w)
    n_nodes = check_count("n_nodes", n_nodes, 8)
    q_eval = np.asarray(q_eval, np.float64)
    if q_eval.ndim != 1 or q_eval.size < 1 or np.any(np.diff(q_eval) <= 0) or q_eval[0] <= Q_START:
        raise ValueError(f"q_eval must be a strictly increasing 1-D array of values > {Q_START:g}")
    q_lo, q_hi = (float(x) for x in q_interval)
    if not (0.0 <= q_lo < q_hi):
        raise ValueError(f"q_interval must satisfy 0 ≤ q_lo < q_hi; got {q_interval!r}")
    xi, wt = _nodes(n_nodes)
    s_eval = np.log(q_eval)
    s0 = math.log(Q_START)
    cuts = sorted({s0, float(s_eval[-1]), *(math.log(c) for c in (q_lo, q_hi) if 0 < c < math.inf
                                              and s0 < math.log(c) < s_eval[-1])})
    v = Q_START + math.sqrt(Q_START) * xi
    out = np.empty((s_eval.size, n_nodes))
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        mid = math.exp(0.5 * (a + b))
        w_eff = w if q_lo < mid < q_hi else 1.0
        sel = (s_eval >= a) & (s_eval <= b)
        if w_eff == 1.0:  # exact: v(q) = q + √q ξ' with ξ' = (v_a − q_a)/√q_a
            qa = math.exp(a)
            z = (v - qa) / math.sqrt(qa)
            qq = np.exp(s_eval[sel])[:, None]
            out[sel] = qq + np.sqrt(qq) * z[None, :]
            v = math.exp(b) + math.sqrt(math.exp(b)) * z
            continue
        rhs, jac = _rhs_factory(w_eff)
        te = np.unique(np.append(s_eval[sel], b))
        sol = solve_ivp(rhs, (a, b), v, method="Radau", jac=jac, t_eval=te, rtol=rtol, atol=1e-10 * (1 + mid))
        if not sol.success:
            raise RuntimeError(f"universal_flow: the ODE solver failed ({sol.message})")
        if sel.any():
            out[sel] = sol.y.T[np.isin(te, s_eval[sel])]
        v = sol.y[:, -1]
    ce = _softplus(-2.0 * out) @ wt
    return FlowProfile(q_eval, out, wt, ce, float(w), (q_lo, q_hi))


def sampler_flow(
    m: float,
    sigmas: object,
    w: float,
    *,
    solver: str = "heun",
    interval: tuple[float, float] = (0.0, math.inf),
    n_nodes: int = 96,
    return_nodes: bool = False,
) -> tuple:
    """The exact law of a deterministic sampler on the decreasing grid ``sigmas`` (σ_0 > … > σ_{N−1} > 0; σ_N = 0
    appended) for two Gaussians of half-gap ``m``: Euler (DDIM η = 0, one evaluation per step) or Heun (EDM Alg. 1
    with S_churn = 0, the last step Euler) on y with the guided D (w_eff = w where σ_lo < σ < σ_hi at the evaluation
    point), started from the exact continuous guided law at σ_0. With D(y; σ) = y/r + (σ²/r) m g(m y/r),
    r = 1 + σ², and the slope k(y, σ) = (y − D)/σ, a step σ → σ' is

        Euler: y' = y + (σ' − σ) k(y, σ);   Heun: y' = y + (σ' − σ) (k(y, σ) + k(y_E, σ'))/2,  y_E the Euler value

    (Heun's step to σ' = 0 is the Euler step). Returns (σ grid with the 0, CE at each grid point, final
    target-class frequency E sigmoid(2 m y_N)); with ``return_nodes`` also the final nodes y_N (n,) and their
    quadrature weights (n,) (the law of the class coordinate at σ = 0)."""
    m = check_positive("m", m)
    solver = check_choice("solver", solver, SOLVERS)
    sig = np.asarray(sigmas, np.float64)
    if sig.ndim != 1:
        raise ValueError(f"sigmas must be a 1-D array; got shape {sig.shape}")
    sig = np.append(sig, 0.0)
    if sig.size < 3 or np.any(np.diff(sig) >= 0) or sig[-2] <= 0:
        raise ValueError("sigmas must be a strictly decreasing 1-D array of ≥ 2 values > 0")
    try:
        lo, hi = (float(v) for v in interval)
    except (TypeError, ValueError):
        raise ValueError(f"interval must be a pair (σ_lo, σ_hi); got {interval!r}") from None
    if not (0.0 <= lo < hi):
        raise ValueError(f"interval must satisfy 0 ≤ σ_lo < σ_hi; got {interval!r}")
    q_int = (m * m / (1 + hi**2) if math.isfinite(hi) else 0.0, m * m / (1 + lo**2))
    q0 = float(q_of_sigma(sig[0], m))
    start = universal_flow(w, [q0], q_interval=q_int, n_nodes=n_nodes)
    y = start.v[0] * (1.0 + sig[0] ** 2) / m
    wt = start.weights

    def deriv(y, s):
        r = 1.0 + s * s
        w_eff = w if lo < s < hi else 1.0
        v = m * y / r
        d = y / r + (s * s / r) * m * (w_eff - (w_eff - 1.0) * np.tanh(v))
        return (y - d) / s

    ce = [float(_softplus(-2.0 * m * y / (1 + sig[0] ** 2)) @ wt)]
    for s, s_next in zip(sig[:-1], sig[1:], strict=True):
        d1 = deriv(y, s)
        y_e = y + (s_next - s) * d1
        if solver == "heun" and s_next > 0:
            y = y + (s_next - s) * 0.5 * (d1 + deriv(y_e, s_next))
        else:
            y = y_e
        ce.append(float(_softplus(-2.0 * m * y / (1 + s_next**2)) @ wt))
    freq = float(wt @ (0.5 * (1.0 + np.tanh(m * y))))
    if return_nodes:
        return sig, np.asarray(ce), freq, y, wt
    return sig, np.asarray(ce), freq
