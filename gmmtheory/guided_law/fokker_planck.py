"""The continuous guided reverse SDE of the class coordinate by its Fokker–Planck equation (no Monte Carlo, no EM).

In the process-independent VE frame (``flow``: σ̃ = σ/a, s = σ̃², a = 1) the guided reverse SDE of y = ⟨e, x⟩ runs s
from s_T = σ̃_T² down to 0 as

    dy = b(y; s) dτ + dW_τ,   dτ = −ds,   b = (D(y; s) − y)/s = (m_c(y; s) − y)/(λ + s),

D the guided denoiser of ``coordinates`` (D = m_c + λ/(λ + s)(y − m_c), c = w_eff δ_z − (w_eff − 1) p_s(· | y),
m_c = Σ_k c_k m_k, w_eff = w inside σ_lo < σ̃ < σ_hi else 1). Its law is the same at equal σ̃ in every process.
With the within-class spread r(s) = √(λ + s), the target mean m_z and

    ξ = (y − m_z)/r,   θ = log((λ + s_T)/(λ + s))   (θ: 0 at σ̃_T, θ_end = log((λ + s_T)/λ) finite at σ̃ = 0),

Itô's formula (dξ/dθ = r b + ξ/2 for the fixed centre m_z) gives dξ = β dθ + dW_θ with

    β(ξ; θ) = (w_eff − 1) κ (z − p_1) − ξ/2,   κ = (m_1 − m_0)/r,   p_1 = p_s(1 | y) = expit(ℓ_π + κ (ξ + κ (z − ½))),

ℓ_π = log(π_1/π_0); d enters only through κ. The density u(ξ, θ) of ξ solves the forward Kolmogorov (Fokker–Planck)
equation

    ∂u/∂θ = −∂(β u)/∂ξ + ½ ∂²u/∂ξ² = −β' u − β ∂u/∂ξ + ½ ∂²u/∂ξ²,   β' = −(w_eff − 1) κ² p_1 (1 − p_1) − ½,

from the exact start u(ξ, 0) = N(ξ; 0, 1) (the law p_T(y | z) = N(m_z, λ + s_T)). At w_eff = 1 the drift is the
conditional one and u = N(0, 1) for all θ (the law is p_s(y | z) exactly: a check); for w_eff ≥ 1 the bulk stays
near ξ = 0 (the frame follows the target class), so the grid is small and the steps few for any d. Because λ > 0
the law does not concentrate as σ̃ → 0 (the within-class sd stays √λ): θ_end is finite and σ̃ = 0 is simply the end
of the integration.

Numerics (method of lines). ξ = c + g(η) on a uniform index grid η ∈ ℤ with g'(η) = h (1 − k sech²(η/L)): spacing
h_f = h/6 (k = 5/6) on the zone c ± X_f swept by the decision boundary ξ_b = −ℓ_π/κ − κ(z − ½) while 1 ≤ κ ≤ 12
(there the guided drift has a logistic step of width 1/κ that must be resolved while the boundary still carries
mass), h = 1/n_grid elsewhere; ∂_ξ = ∂_η/g', ∂²_ξ = ∂²_η/g'² − g'' ∂_η/g'³ by central differences of order
``order`` (8) with u = 0 outside the domain. The domain is [ξ_L − 12, ξ_R + 12] ∪ [−12, 12] with ξ_L/ξ_R the
outermost zeros of β over θ (beyond them the drift points inwards): the law's tail there is ~e^{-72}; the largest
boundary density (relative to the peak) is reported in ``settings["edge"]``. Time: ``scipy.integrate.solve_ivp``
(Radau, sparse banded Jacobian of the linear operator) in θ, restarted at every reported σ̃ and at the interval's
edges (w_eff jumps there). Observables are trapezoid sums Σ_j u_j g'_j f(ξ_j) (spectrally accurate for the smooth f
used; var_ratio's hard-class split is a discontinuous integrand, accurate only to O(h p(y*))). The ``error`` field
is max |CE − CE'| against a companion solve at n_grid × 2/3 and rtol × 10, an upper estimate of the error of CE.
Cost: for w ≥ 1 a few hundred points and ~1.5k Radau steps per target, about independent of d; for w < 1 the other
class keeps mass and moves across the grid (ξ up to κ_max = |m_1 − m_0|/√λ), so the grid and the step count grow
with the separation.
"""

from __future__ import annotations

import contextlib
import math
import time

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp
from scipy.special import expit

from gmmtheory._checks import check_count, check_nonnegative, check_positive
from gmmtheory._precision import in_float64
from gmmtheory.dynamics.grid import check_interval
from gmmtheory.guided_law.coordinates import ClassLine, class_line, log_posterior, w_effective
from gmmtheory.guided_law.profile import GuidedLaw, final_statistics, rates
from gmmtheory.guided_law.sigma_grid import reported_sigmas

try:  # optional: limits BLAS threads during the solve (see _one_blas_thread)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    threadpool_limits = None

__all__ = ["FPSolution", "fp_drift", "sde_law_fp"]

_PAD = 12.0  # ξ-margin beyond the outermost drift zeros (unit-variance OU tail: density < e^{-72})
_FINE = 6  # spacing ratio h/h_f of the fine zone around the decision boundary
_ORDERS = (4, 6, 8, 10)


def _one_blas_thread():
    """Radau's many tiny (3 × n) BLAS products slow down badly with a multi-threaded BLAS on a loaded machine;
    limit BLAS to one thread when ``threadpoolctl`` is installed (optional), else do nothing."""
    return contextlib.nullcontext() if threadpool_limits is None else threadpool_limits(1, user_api="blas")


def _fd_weights(q: int, deriv: int) -> np.ndarray:
    """Central finite-difference weights on the stencil −q..q (order 2q) for the ``deriv``-th derivative."""
    k = np.arange(-q, q + 1, dtype=float)
    V = np.vander(k, increasing=True).T  # V[m, j] = k_j^m
    rhs = np.zeros(2 * q + 1)
    rhs[deriv] = math.factorial(deriv)
    return np.linalg.solve(V, rhs)


def fp_drift(line: ClassLine, xi: np.ndarray, kappa: float, w_eff: float, z: int) -> tuple[np.ndarray, np.ndarray]:
    """The drift β(ξ) = (w_eff − 1) κ (z − p_1) − ξ/2 of ξ = (y − m_z)/r and β' = −(w_eff − 1) κ² p_1 (1 − p_1) − ½,
    p_1 = expit(ℓ_π + κ (ξ + κ (z − ½))), at κ = (m_1 − m_0)/√(λ + s), target z."""
    lp = math.log(line.weights[1] / line.weights[0])
    p1 = expit(lp + kappa * (xi + kappa * (z - 0.5)))
    return (w_eff - 1.0) * kappa * (z - p1) - 0.5 * xi, -(w_eff - 1.0) * kappa * kappa * p1 * (1.0 - p1) - 0.5


class _Mesh:
    """The mapped grid ξ_j = c + g(η_j), η_j integers, g(η) = h(η − k L tanh(η/L)), with g', g'' (fine near c)."""

    def __init__(self, lo: float, hi: float, h: float, centre: float, x_fine: float):
        self.h, self.k = h, 1.0 - 1.0 / _FINE
        self.L = x_fine / (h / _FINE)
        eta_lo, eta_hi = math.floor(self._inv(lo - centre)), math.ceil(self._inv(hi - centre))
        eta = np.arange(eta_lo, eta_hi + 1, dtype=float)
        t = np.tanh(eta / self.L)
        sech2 = 1.0 - t * t
        self.xi = centre + h * (eta - self.k * self.L * t)
        self.g1 = h * (1.0 - self.k * sech2)
        self.g2 = h * self.k * 2.0 * sech2 * t / self.L

    def _g(self, eta: float) -> float:
        return self.h * (eta - self.k * self.L * math.tanh(eta / self.L))

    def _inv(self, x: float) -> float:
        a, b = -1.0, 1.0
        while self._g(a) > x:
            a *= 2.0
        while self._g(b) < x:
            b *= 2.0
        for _ in range(200):
            m = 0.5 * (a + b)
            a, b = (m, b) if self._g(m) < x else (a, m)
        return 0.5 * (a + b)


class FPSolution:
    """The ξ-density of one target z on the reported grid: ``ce``/``entropy`` per reported σ̃, final (y, weights),
    the largest boundary density ``edge`` (relative to the peak), the mass defect and the number of points/steps."""

    def __init__(self, ce, entropy, y, w, edge, mass, n_points, n_steps):
        self.ce, self.entropy, self.y, self.w = ce, entropy, y, w
        self.edge, self.mass, self.n_points, self.n_steps = edge, mass, n_points, n_steps


def _domain(line: ClassLine, z: int, w_values: list[float], kappas: np.ndarray) -> tuple[float, float]:
    """[ξ_L − pad, ξ_R + pad] ∪ [−pad, pad] (the start N(0, 1)): ξ_L, ξ_R the outermost zeros of β over κ."""
    lo, hi = -_PAD, _PAD
    for w_eff in w_values:
        for kap in kappas:
            R = 2.0 * abs(w_eff - 1.0) * kap + 1.0
            xi = np.linspace(-R, R, 4001)
            f = fp_drift(line, xi, float(kap), w_eff, z)[0]
            sgn = np.nonzero(np.diff(np.sign(f)) != 0)[0]
            if sgn.size:
                lo, hi = min(lo, xi[sgn[0]] - _PAD), max(hi, xi[sgn[-1] + 1] + _PAD)
    return lo, hi


def _fine_zone(line: ClassLine, z: int) -> tuple[float, float]:
    """Centre and half-width of the zone swept by the decision boundary ξ_b = −ℓ_π/κ − κ(z − ½) while 1 ≤ κ ≤ 12
    (its logistic step, width 1/κ, is sharp there and the boundary still carries mass), plus ½ either side."""
    lp = math.log(line.weights[1] / line.weights[0])
    kap = np.linspace(1.0, 12.0, 221)
    xb = -lp / kap - kap * (z - 0.5)
    a, b = float(xb.min()) - 0.5, float(xb.max()) + 0.5
    return 0.5 * (a + b), 0.5 * (b - a)


def solve_target(line: ClassLine, sig: np.ndarray, z: int, w: float, interval: tuple[float, float], *,
                 n_grid: float, rtol: float, order: int = 8) -> FPSolution:
    """Fokker–Planck law of ξ for target z on the reported decreasing σ̃ grid ``sig`` (inputs assumed validated)."""
    lam = line.lam
    gap = float(line.means[1] - line.means[0])
    mz = float(line.means[z])
    CT = lam + float(sig[0]) ** 2
    theta_end = math.log(CT / (lam + float(sig[-1]) ** 2))
    kappas = gap / np.sqrt(CT * np.exp(-np.linspace(0.0, theta_end, 200)))
    w_vals = [w, 1.0] if interval != (0.0, math.inf) else [w]
    lo, hi = _domain(line, z, w_vals, kappas)
    mesh = _Mesh(lo, hi, 1.0 / n_grid, *_fine_zone(line, z))
    xi, g1, g2 = mesh.xi, mesh.g1, mesh.g2
    n = xi.size
    q = order // 2
    c1w, c2w = _fd_weights(q, 1), _fd_weights(q, 2)
    a_geo, b_geo = -0.5 * g2 / g1**3, 0.5 / g1**2

    def derivs(u):
        up = np.concatenate([np.zeros(q), u, np.zeros(q)])
        d1 = sum(c1w[j] * up[j:j + n] for j in range(2 * q + 1))
        d2 = sum(c2w[j] * up[j:j + n] for j in range(2 * q + 1))
        return d1, d2

    def coeffs(th, w_eff):
        kap = gap / math.sqrt(CT * math.exp(-th))
        beta, dbeta = fp_drift(line, xi, kap, w_eff, z)
        return -dbeta, -beta / g1 + a_geo, b_geo

    def make(w_eff):
        def rhs(th, u):
            c0, ca, cb = coeffs(th, w_eff)
            d1, d2 = derivs(u)
            return c0 * u + ca * d1 + cb * d2

        def jac(th, u):
            c0, ca, cb = coeffs(th, w_eff)
            diags, offs = [], []
            for j, k in enumerate(range(-q, q + 1)):
                rows = slice(max(0, -k), n - max(0, k))
                d = ca[rows] * c1w[j] + cb[rows] * c2w[j]
                if k == 0:
                    d = d + c0
                diags.append(d)
                offs.append(k)
            return sp.diags(diags, offs, shape=(n, n), format="csc")

        return rhs, jac

    u = np.exp(-0.5 * xi**2) / math.sqrt(2.0 * math.pi)
    ce, ent = np.empty(sig.size), np.empty(sig.size)
    edge, steps = 0.0, 0

    def observe(i, u):
        y = mz + math.sqrt(lam + float(sig[i]) ** 2) * xi
        lpz = log_posterior(line, y, 1.0, float(sig[i]) ** 2)
        p = np.exp(lpz)
        wt = u * g1
        return -float(wt @ lpz[:, z]), float(wt @ -np.sum(np.where(p > 0, p * lpz, 0.0), axis=1)), wt, y

    ce[0], ent[0], _, _ = observe(0, u)
    edges = [e for e in interval if np.isfinite(e) and e > 0]
    for i in range(sig.size - 1):
        hi_s, lo_s = float(sig[i]), float(sig[i + 1])
        cuts = [hi_s] + sorted((e for e in edges if lo_s < e < hi_s), reverse=True) + [lo_s]
        for s0, s1 in zip(cuts[:-1], cuts[1:]):
            rhs, jac = make(w_effective(w, interval, 0.5 * (s0 + s1)))
            t0, t1 = math.log(CT / (lam + s0 * s0)), math.log(CT / (lam + s1 * s1))
            sol = solve_ivp(rhs, (t0, t1), u, method="Radau", jac=jac, rtol=rtol, atol=rtol * 1e-3)
            if not sol.success:
                raise RuntimeError(f"Fokker–Planck integration failed between σ = {s0:g} and {s1:g}: {sol.message}")
            u = sol.y[:, -1]
            steps += int(sol.t.size - 1)
        ce[i + 1], ent[i + 1], wt, y = observe(i + 1, u)
        edge = max(edge, float(max(abs(u[:q + 1]).max(), abs(u[-q - 1:]).max()) / np.max(u)))
    _, _, wt, y = observe(sig.size - 1, u)
    return FPSolution(ce, ent, y, wt, edge, abs(float(wt.sum()) - 1.0), n, steps)


def _targets(line: ClassLine, label: object) -> list[tuple[int, float]]:
    if isinstance(label, str) and label == "prior":
        return [(0, float(line.weights[0])), (1, float(line.weights[1]))]
    if isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)) and int(label) in (0, 1):
        return [(int(label), 1.0)]
    raise ValueError(f"label must be 0, 1 or 'prior'; got {label!r}")


def _run_targets(line, sig, targets, w, iv, n_grid, rtol, order, error_check, ce, ent, ce_c, laws, info):
    """Solve every target (z, π_z), accumulating the π-weighted curves and the final laws in place."""
    for z, pz in targets:
        r = solve_target(line, sig, z, w, iv, n_grid=n_grid, rtol=rtol, order=order)
        ce += pz * r.ce
        ent += pz * r.entropy
        laws.append((z, pz, r.y, r.w))
        info["n_points"].append(r.n_points)
        info["n_steps"].append(r.n_steps)
        info["edge"] = max(info["edge"], r.edge)
        info["mass_defect"] = max(info["mass_defect"], r.mass)
        if error_check:
            ce_c += pz * solve_target(line, sig, z, w, iv, n_grid=n_grid * 2.0 / 3.0, rtol=min(rtol * 10, 1e-3),
                                      order=order).ce


@in_float64
def sde_law_fp(mixture, *, w: float = 1.0, interval=None, label="prior", process=None, T=None, sigmas=None,
               n_grid: float = 10.0, rtol: float = 1e-10, order: int = 8, error_check: bool = True) -> GuidedLaw:
    """Law of the class coordinate under the continuous guided reverse SDE, by its Fokker–Planck equation (module
    docstring), on the reported decreasing σ̃ grid ``sigmas`` (first = start σ̃_T; default ``default_sigmas(process,
    T)``: σ̃_T, 80 … 0.002, 0; the same law in every process at equal σ̃), CFG scale ``w`` inside ``interval``
    (σ_lo, σ_hi) (None: everywhere), target ``label`` (0, 1 or "prior": z ~ π, each started from p_T(· | z)).
    ``n_grid``: grid points per within-class sd √λ away from the decision boundary (6× finer near it); ``rtol``:
    the Radau tolerance (atol = 1e-3 rtol on a unit-peak density); ``order``: the finite-difference order.
    ``error`` = max |CE − CE'| against a companion solve at n_grid × 2/3 and rtol × 10 (``error_check=False``: NaN,
    half the cost). ``settings`` also holds the grid size, step count, boundary density and mass defect."""
    line = class_line(mixture)
    w = check_nonnegative("w", w)
    iv = (0.0, math.inf) if interval is None else check_interval(interval)
    targets = _targets(line, label)
    n_grid = check_positive("n_grid", n_grid)
    if n_grid < 3.0:
        raise ValueError(f"n_grid must be ≥ 3 points per within-class sd (≥ 8 for ~1e-6 accuracy); got {n_grid!r}")
    rtol = check_positive("rtol", rtol)
    if not 1e-14 <= rtol <= 1e-3:
        raise ValueError(f"rtol must lie in [1e-14, 1e-3]; got {rtol!r}")
    order = check_count("order", order, 4)
    if order not in _ORDERS:
        raise ValueError(f"order must be one of {_ORDERS}; got {order!r}")
    if not isinstance(error_check, bool):
        raise ValueError(f"error_check must be a bool; got {error_check!r}")
    sig = reported_sigmas(sigmas, process, T)
    t_start = time.perf_counter()
    ce, ent = np.zeros(sig.size), np.zeros(sig.size)
    ce_c = np.zeros(sig.size)
    laws, info = [], {"n_points": [], "n_steps": [], "edge": 0.0, "mass_defect": 0.0}
    with _one_blas_thread():
        _run_targets(line, sig, targets, w, iv, n_grid, rtol, order, error_check, ce, ent, ce_c, laws, info)
    err = float(np.max(np.abs(ce - ce_c))) if error_check else float("nan")
    rt, rl = rates(sig, ce)
    st = final_statistics(line, laws, 1.0, float(sig[-1]) ** 2)
    settings = {"kind": "continuous", "sampler": "sde", "engine": "fokker_planck", "w": w, "interval": iv,
                "label": label, "n_grid": n_grid, "rtol": rtol, "order": order,
                "seconds": time.perf_counter() - t_start, **info}
    return GuidedLaw(sig, 0.5 * np.log1p(sig**2), ce, rt, rl, ent, st["freq"], st["overshoot"], st["var_ratio"], err,
                     settings)
