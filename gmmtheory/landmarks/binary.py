"""Landmarks of two classes with a shared covariance, located through the effective SNR s(λ).

s = a² mᵀC⁻¹m, m = (μ_0 − μ_1)/2, C = a²Σ + σ²I; in the eigenbasis of Σ (distinct eigenvalues u, q_u = |P_u m|²)
s(γ) = Σ_u q_u γ/(γu + 1), γ = e^λ the SNR.

- ``bimodality_time``: along the discriminant direction C⁻¹m the law of X_t is ½N(+a mᵀC⁻¹m, mᵀC⁻¹m) + ½N(−…, …),
  bimodal iff s > 1. Landmark: s(t) = 1.
- ``instability_time``: the central point x_c = a(μ_0 + μ_1)/2 of the reverse SDE. For dX = f X dt + g dW the
  reverse drift in backward time τ is −f x + g² ∇log p_t(x); its Jacobian at x_c is
      J = −f I + g² (−C⁻¹ + a² C⁻¹ m mᵀ C⁻¹).
  With D_u = 1/(a²u + σ²) and ρ = −f/g², J/g² = diag(ρ − D_u) + a² (D m)(D m)ᵀ, and while every ρ − D_u < 0 the
  origin turns into a saddle exactly when a² Σ_u q_u D_u² / (D_u − ρ) = 1. Shared isotropic Σ = w I
  (c = a²w + σ²): s = 1 − ρ c; every VP process has ρ = ½, so unit within-class variance gives s = ½, i.e. OU time
  t = ½ log(2|m|²) = t_S + ½ log 2 + O(1/d) (Biroli et al.'s symmetry-breaking time). ``dynamics="vp"`` (default)
  is an SNR landmark mapped at equal SNR; ``dynamics="native"`` uses the process's own f and g² (VE/EDM: ρ = 0,
  the criterion is s = 1).
- ``binary_snr_landmarks``: the universal constants of two equiprobable classes as effective SNRs (half entropy,
  rate peaks in OU time and EDM σ, their half-maximum widths).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from scipy import optimize

from gmmtheory._precision import precision_scope
from gmmtheory.entropy.quadrature import binary_expectation, binary_snr_weights, gauss_hermite
from gmmtheory.entropy.rate import binary_mmse
from gmmtheory.mixture import GaussianMixture, check_mixture
from gmmtheory.processes import OU, Process, check_process, time_factors
from gmmtheory.schedules import log_snr_range, log_snr_to_time

_OU = OU()


def _binary_q(mixture: GaussianMixture) -> tuple[np.ndarray, np.ndarray]:
    """Distinct eigenvalues u of the shared Σ and q_u = |P_u m|², m = (μ_0 − μ_1)/2 (P_u: projector on eigenspace u)."""
    mix = check_mixture(mixture)
    if mix.K != 2 or not mix.shared_covariance:
        raise ValueError("this landmark needs a mixture with K = 2 components and a shared covariance; got "
                         f"K={mix.K}, cov_kind={mix.cov_kind!r}")
    return binary_snr_weights(mix)


def _snr_of_lam(u: np.ndarray, q: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s(λ) = Σ_u q_u γ/(γu + 1) and ds/dλ = Σ_u q_u γ/(γu + 1)² (γ = e^λ)."""
    g = np.exp(np.asarray(lam, dtype=np.float64))[..., None]
    den = g * u + 1.0
    return np.sum(q * g / den, axis=-1), np.sum(q * g / den**2, axis=-1)


def snr_log_snr(mixture: GaussianMixture, s_target: float) -> float:
    """The log-SNR λ at which the binary effective SNR s(λ) equals ``s_target`` (nan if never reached).

    s(γ) = a² mᵀ C⁻¹ m = Σ_u q_u γ/(γu + 1) increases with γ towards Σ_u q_u/u (∞ if Σ is singular on m).
    """
    u, q = _binary_q(mixture)
    if not (s_target > 0):
        raise ValueError(f"s_target must be > 0; got {s_target!r}")
    with np.errstate(divide="ignore"):
        s_max = float(np.sum(np.where(u > 0, q / np.where(u > 0, u, 1.0), np.where(q > 0, np.inf, 0.0))))
    if s_target >= s_max:
        return float("nan")
    if np.all(u == u[0]):  # one eigenvalue: s = Q γ/(γu + 1) → γ = s/(Q − s u)
        Q = float(np.sum(q))
        return float(np.log(s_target / (Q - s_target * u[0])))
    def f(lam):
        return float(_snr_of_lam(u, q, lam)[0]) - s_target
    lo, hi = -10.0, 10.0
    while f(lo) > 0:
        lo -= 10.0
    while f(hi) < 0:
        hi += 10.0
    return float(optimize.brentq(f, lo, hi, xtol=1e-14, rtol=1e-15))


def snr_time(mixture: GaussianMixture, s_target: float, process: Process | str = _OU) -> float:
    """The time of ``process`` at which the binary effective SNR s(t) (``binary_snr``) equals ``s_target``."""
    process = check_process(process)
    return log_snr_to_time(process, snr_log_snr(mixture, s_target))


def bimodality_time(mixture: GaussianMixture, process: Process | str = _OU) -> float:
    """Two classes, shared covariance: the time where p_t along the discriminant direction turns bimodal, s(t) = 1."""
    return snr_time(mixture, 1.0, process)


def instability_time(mixture: GaussianMixture, process: Process | str = _OU, *, dynamics: str = "vp") -> float:
    """Two classes, shared covariance: the time where the central point of the reverse SDE becomes unstable.

    Solves a² Σ_u q_u D_u²/(D_u − ρ) = 1 (module docstring) with ρ = −f/g²: ``dynamics="vp"`` uses ρ = ½ (OU and every
    VP process; the landmark is an SNR and is mapped to ``process`` at equal SNR), ``dynamics="native"`` uses the
    drift and diffusion of ``process`` itself. Unit within-class variance, VP: s = ½, OU time t_S + ½ log 2 at large d.
    Returns nan if the crossing does not happen while the other directions are stable.
    """
    process = check_process(process)
    u, q = _binary_q(mixture)
    if dynamics not in ("vp", "native"):
        raise ValueError(f"dynamics must be 'vp' or 'native'; got {dynamics!r}")
    if dynamics == "vp":
        def crit(lam: float) -> float:
            g = math.exp(lam)
            a2, s2 = g / (1.0 + g), 1.0 / (1.0 + g)
            D = 1.0 / (a2 * u + s2)
            return float(a2 * np.sum(q * D**2 / (D - 0.5))) - 1.0

        def pole(lam: float) -> bool:
            g = math.exp(lam)
            return bool(np.any(1.0 / (g / (1.0 + g) * u + 1.0 / (1.0 + g)) <= 0.5))

        lo_lam, hi_lam = -60.0, 60.0
        def to_time(lam):
            return log_snr_to_time(process, lam)
    else:
        lo_lam, hi_lam = log_snr_range(process)
        lo_lam, hi_lam = max(lo_lam, -60.0), min(hi_lam, 60.0)
        lo_lam, hi_lam = lo_lam + 1e-9 * max(1.0, abs(lo_lam)), hi_lam - 1e-9 * max(1.0, abs(hi_lam))

        def coeffs(lam: float):
            with precision_scope("float64"):
                t = np.asarray(process.t_from_log_snr(jnp.asarray([lam])), np.float64)
            fac = time_factors(process, t)
            return float(fac["a"][0] ** 2), float(fac["s2"][0]), float(-fac["f"][0] / fac["g2"][0])

        def crit(lam: float) -> float:
            a2, s2, rho = coeffs(lam)
            D = 1.0 / (a2 * u + s2)
            return float(a2 * np.sum(q * D**2 / (D - rho))) - 1.0

        def pole(lam: float) -> bool:
            a2, s2, rho = coeffs(lam)
            return bool(np.any(1.0 / (a2 * u + s2) <= rho))

        def to_time(lam):
            return log_snr_to_time(process, lam)
    grid = np.linspace(lo_lam, hi_lam, 241)
    prev = None
    for lam in grid:  # from low SNR (stable) upwards: first sign change before any pole
        if pole(lam):
            return float("nan")
        val = crit(lam)
        if prev is not None and prev[1] < 0 <= val:
            root = optimize.brentq(crit, prev[0], lam, xtol=1e-13, rtol=1e-15)
            return to_time(root)
        prev = (lam, val)
    return float("nan")


def _binary_h(s: np.ndarray) -> np.ndarray:
    nodes, weights = gauss_hermite(200)
    s = np.atleast_1d(np.asarray(s, dtype=np.float64))
    with precision_scope("float64"):
        out = binary_expectation(jnp.asarray(s), jnp.log(jnp.asarray([0.5, 0.5])), jnp.asarray(nodes),
                                 jnp.asarray(weights), None, "entropy")
    return np.asarray(out, np.float64)


def binary_snr_landmarks() -> dict[str, float]:
    """Landmarks of two equiprobable classes as effective SNRs s (valid for any d; "large d" where a time map is used).

    Keys: ``s_bimodality`` (1), ``s_instability`` (½, unit variance, VP), ``s_half`` (H = ½ log 2), ``s_peak_ou``
    (argmax of dH/dt in OU at large d, where s = |m|² e^{−2t}: argmax s·mmse_b(s)), ``h_at_peak_ou``,
    ``fwhm_ou`` (½ log(s_hi/s_lo) at half maximum of s·mmse_b), ``s_peak_edm`` (argmax of dH/dσ in EDM at large d,
    s ≈ |m|²/σ²: argmax s^{3/2} mmse_b(s)), ``fwhm_factor_edm`` (σ_hi/σ_lo = √(s_hi/s_lo) at half maximum of
    s^{3/2} mmse_b), ``s_peak_log_snr`` (argmax of −dH/dλ = ½ s·mmse_b(s), the same point as OU),
    ``t_peak_offset_ou`` (OU peak − ½ log|m|² = −½ log s_peak_ou).
    """
    def solve(power: float):
        def f(y):
            return float(np.exp(power * y) * binary_mmse(np.array([np.exp(y)]))[0])  # y = log s
        res = optimize.minimize_scalar(lambda y: -f(y), bounds=(-3.0, 4.0), method="bounded",
                                       options={"xatol": 1e-12})
        def dfd(y):
            return (f(y + 1e-4) - f(y - 1e-4)) / 2e-4
        y_pk = optimize.brentq(dfd, res.x - 0.05, res.x + 0.05, xtol=1e-13)
        half = 0.5 * f(y_pk)
        y_lo = optimize.brentq(lambda y: f(y) - half, y_pk - 10.0, y_pk)
        y_hi = optimize.brentq(lambda y: f(y) - half, y_pk, y_pk + 10.0)
        return y_pk, y_lo, y_hi

    y_ou, lo_ou, hi_ou = solve(1.0)
    y_edm, lo_edm, hi_edm = solve(1.5)
    s_half = optimize.brentq(lambda s: float(_binary_h(np.array([s]))[0]) - 0.5 * math.log(2.0), 0.1, 10.0,
                             xtol=1e-13)
    return {
        "s_bimodality": 1.0,
        "s_instability": 0.5,
        "s_half": s_half,
        "s_peak_ou": math.exp(y_ou),
        "h_at_peak_ou": float(_binary_h(np.array([math.exp(y_ou)]))[0]),
        "fwhm_ou": 0.5 * (hi_ou - lo_ou),
        "t_peak_offset_ou": -0.5 * y_ou,
        "s_peak_log_snr": math.exp(y_ou),
        "s_peak_edm": math.exp(y_edm),
        "fwhm_factor_edm": math.exp(0.5 * (hi_edm - lo_edm)),
    }


__all__ = ["bimodality_time", "binary_snr_landmarks", "instability_time", "snr_log_snr", "snr_time"]
