"""Speciation landmarks: when, in a given process's time, a diffusion model decides its class.

Every criterion is kept under its own name; they differ by O(1) in log-time. Notation: X_t = a X_0 + σ ε, SNR
γ = a²/σ², log-SNR λ = log γ; OU ("Biroli") time has a = e^{−t}, σ² = 1 − e^{−2t}, so γ = 1/(e^{2t} − 1).
A landmark that is a property of the law of X_t (all of them except the SDE instability with ``dynamics="native"``)
is an SNR value; it is located once in λ and mapped to any process's time at equal SNR
(``process.t_from_log_snr``), so landmarks of two processes always agree at equal SNR.

Point landmarks
---------------
- ``speciation_time``: spectral t_S = ½ log Λ (OU), Λ the top eigenvalue of the data covariance
  Cov X_0 = W + B, W = Σ_k π_k Σ_k, B = Σ_k π_k (μ_k − μ̄)(μ_k − μ̄)ᵀ (Biroli et al., arXiv 2402.18491). In OU time
  a²Λ = 1 there; equivalently γ_S = 1/(Λ − 1) (for a DDPM table: ᾱ = 1/Λ). Λ is computed without a d × d matrix
  when W is a multiple of I (Λ = w + top eigenvalue of the K × K matrix √π (μ − μ̄)(μ − μ̄)ᵀ √π) and by Lanczos on
  W + B as an operator when W is diagonal; full covariances use dense ``eigvalsh``.
- ``bimodality_time`` (two classes, shared covariance Σ, effective SNR s = a² mᵀC⁻¹m, m = (μ_0 − μ_1)/2,
  C = a²Σ + σ²I): along the discriminant direction C⁻¹m the law of X_t is ½N(+a mᵀC⁻¹m, mᵀC⁻¹m) + ½N(−…, …), a
  symmetric two-Gaussian mixture that is bimodal iff (mean/sd)² = s > 1. Landmark: s(t) = 1.
- ``instability_time``: the central point x_c = a(μ_0 + μ_1)/2 of the reverse SDE. For dX = f X dt + g dW the
  reverse drift in backward time τ is −f x + g² ∇log p_t(x); with equal weights
  ∇log p_t = −C⁻¹(x − x_c) + a C⁻¹m tanh(a mᵀC⁻¹(x − x_c)), so its Jacobian at x_c is
      J = −f I + g² (−C⁻¹ + a² C⁻¹ m mᵀ C⁻¹).
  In the eigenbasis of Σ (eigenvalues u, squared projections q_u of m, D_u = 1/(a²u + σ²)) and with ρ = −f/g²,
  J/g² = diag(ρ − D_u) + a² (D m)(D m)ᵀ. While every ρ − D_u < 0 (the other directions are stable), J acquires a
  positive eigenvalue (the origin turns into a saddle, trajectories must choose a class) exactly when
      a² Σ_u q_u D_u² / (D_u − ρ) = 1.
  Shared isotropic Σ = w I (c = a²w + σ²): s/(1 − ρc) = 1, i.e. s = 1 − ρ c. For any VP process (OU included)
  ρ = ½, so s = 1 − c/2; unit within-class variance gives c = 1 and s = ½, i.e. OU time
  t = ½ log(2|m|²) = t_S + ½ log 2 + O(1/d) (Biroli et al.'s symmetry-breaking time). ρ is the same for every VP
  process (they are time changes of OU), so ``dynamics="vp"`` (default) gives an SNR landmark mapped at equal SNR;
  ``dynamics="native"`` uses the process's own f and g² (VE/EDM: ρ = 0, so the criterion is s = 1, the bimodality
  point).
- ``covariance_speciation_time``: classes N(0, (1 ± a) I) differing only in covariance speciate at
  t = ¼ log(a² d) in OU time (Achilli, Benedetti, Biroli, Mézard, arXiv 2602.04404): the class shows through
  |x|²/d, whose means 1 ± a e^{−2t} separate once a e^{−2t} exceeds its O(1/√d) fluctuation.

Entropy landmarks (``entropy_landmarks``/``all_landmarks``, per partition P of the labels, from H[Z_P | X_t])
----------------------------------------------------------------------------------------------------------
In each time variable τ ∈ {t (native), log σ, λ}, where σ = σ(t)/a(t) = e^{−λ/2} is the EDM noise level (the same
in every process at equal SNR, so every ``*_log_sigma`` field is −½ the matching ``*_log_snr`` one, widths ½ of it):

- ``half_τ``: H = ½ H[Z_P] (binary: s = 1.044); ``h10_τ``/``h90_τ``: H = 10 % / 90 % of H[Z_P], and the
  10–90 % entropy window ``window_τ`` = |h90_τ − h10_τ|. These are the same SNR in every variable.
- ``peak_τ``: argmax of the rate |dH/dτ| (dH/dt and dH/d log σ are ≥ 0, dH/dλ ≤ 0); it *depends on τ* (binary,
  large d: OU t ↔ s* = 1.5083, EDM native σ ↔ s ≈ 2.41, λ and log σ ↔ s = argmax s·mmse_b(s), since
  dH/d log σ = −2 dH/dλ). ``peak_rate_τ`` is |dH/dτ| there.
- ``fwhm_τ``: full width at half maximum of |dH/dτ| in τ, between ``fwhm_τ_lo`` and ``fwhm_τ_hi``.

Curves. Two classes with a shared covariance are exact: H(λ) from the binary channel (Gauss–Hermite /
Gauss–Legendre, ``entropy.quadrature``) and dH/dλ = −½ mmse_b(s) ds/dλ (I-MMSE, ``rate.binary_mmse``), with
s(γ) = Σ_u q_u γ/(γu + 1) from the Gram blocks of Σ's eigenspaces; landmarks are solved on these functions with
``brentq`` (peaks: root of a central difference of the rate, step 1e-4 in λ), accurate to ~1e-7. Two classes with
equal means and isotropic variances (covariance-only) are exact too: the posterior depends on |x − aμ|² = c_z χ²_d
only, integrated by the trapezoid rule in log χ² (``covariance_only_entropy``). Anything else is Monte Carlo on a λ
grid with common random numbers (``class_entropy`` and ``entropy_rate(wrt="log_snr")``, method "autodiff" where the
reduced statistics apply, else "denoiser_gap"), interpolated by cubic splines.

Uncertainty (Monte Carlo curves only; exact curves report 0). No bootstrap: a crossing of H at level h found at λ*
gets ``*_err`` = 2·stderr_H(λ*)/|dH/dλ(λ*)| (the half-width of the λ-interval where H ± 2·stderr brackets h, to first
order), mapped to τ by |dτ/dλ|. A peak gets √(2·2·stderr_R/|R''|), the half-width of the set where the quadratic
approximation of the rate R stays within 2·stderr_R of its maximum. A FWHM endpoint gets (2·stderr_R(λ_e) +
stderr_R(peak))/|R'(λ_e)| (the half-maximum level itself moves by half the peak's error) and the width adds its two
endpoints' errors in quadrature. ``grid_step_log_snr`` reports the resolution of the Monte Carlo grid.

Finite training sets
--------------------
P points in dimension d (``gt.empirical(points)``, Σ_k = 0): the index posterior collapses onto one training point
at the collapse time. For Gaussian data with covariance eigenvalues v_j (Biroli et al.'s condensation / excess
entropy criterion) collapse happens when log P equals the mutual information of a Gaussian X_0 with X_t,
      log P = ½ Σ_j log(1 + γ v_j),
which for v_j = 1 in OU time gives t_C = ½ log(1 + 1/(P^{2/d} − 1)) (``collapse_time_theory``). Above t_C the index
entropy H[index | X_t] ≈ log P − ½ Σ_j log(1 + γ v_j) is extensive (H/d is the excess entropy, the log-number of
training points compatible with x_t per dimension), below it is O(1); ``collapse_time`` locates the empirical
collapse as the time where H[index | X_t] (``index_entropy``, Monte Carlo) falls to ``threshold`` nats.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, fields

import jax
import jax.numpy as jnp
import numpy as np
from scipy import interpolate, optimize, stats

from gmmtheory.entropy.api import class_entropy, in_float64, precision_scope
from gmmtheory.entropy.common import EntropyResult, check_key
from gmmtheory.entropy.quadrature import binary_expectation, gauss_hermite
from gmmtheory.entropy.reduced import applies as reduced_applies
from gmmtheory.entropy.reduced import shared_gram_blocks
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.processes import OU, Process, time_factors

VARIABLES = ("t", "log_sigma", "log_snr")
_OU = OU()
_FD_STEP = 1e-4  # central-difference step in λ for exact curves
_DENSE_MAX = 512  # largest d for which the data covariance is formed densely when it is diagonal + low rank


# ================================================================================================= basic helpers
def _check_mixture(mixture: object) -> GaussianMixture:
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    return mixture


def _check_process(process: object) -> Process:
    if not isinstance(process, Process):
        raise ValueError(f"process must be a gmmtheory process (OU(), VP(), VE(), EDM(), Flow()); got {process!r}")
    return process


def log_snr_range(process: Process) -> tuple[float, float]:
    """The open interval of log-SNRs λ that ``process`` reaches inside its time domain (−inf/inf where unbounded)."""
    with precision_scope("float64"):
        ends = []
        for t in (process.t_max, process.t_min):
            if not np.isfinite(t):
                ends.append(-np.inf)
                continue
            with np.errstate(all="ignore"):
                lam = float(process.log_snr(jnp.asarray(float(t))))
            ends.append(lam if np.isfinite(lam) else (-np.inf if t == process.t_max else np.inf))
    lo, hi = ends
    return (min(lo, hi), max(lo, hi))


def _to_process(t_ou: float, process: Process) -> float:
    """OU time → the equal-SNR time of ``process`` (nan when outside its domain or not finite)."""
    if not np.isfinite(t_ou) or t_ou <= 0:
        return float("nan")
    lam = float(-np.log(np.expm1(2.0 * t_ou)))
    return _lam_to_time(lam, process)


def _lam_to_time(lam: float, process: Process) -> float:
    if not np.isfinite(lam):
        return float("nan")
    lo, hi = log_snr_range(process)
    if not (lo < lam < hi):
        return float("nan")
    with precision_scope("float64"):
        return float(process.t_from_log_snr(jnp.asarray(lam)))


def _ou_time(lam: np.ndarray) -> np.ndarray:
    """OU time of log-SNR λ: t = ½ log(1 + e^{−λ})."""
    return 0.5 * np.logaddexp(0.0, -np.asarray(lam, dtype=np.float64))


@functools.lru_cache(maxsize=64)
def _tau_functions(process: Process):
    """Jitted λ ↦ τ(λ) and λ ↦ dτ/dλ for τ in VARIABLES (float64)."""

    def t_of(lam):
        return process.t_from_log_snr(lam)

    def logsig_of(lam):  # log σ with σ = σ(t)/a(t) = e^{−λ/2}, the EDM noise level (process independent)
        return -0.5 * lam

    def lam_of(lam):
        return lam

    out = {}
    for name, fn in zip(VARIABLES, (t_of, logsig_of, lam_of)):
        out[name] = (jax.jit(fn), jax.jit(jax.vmap(jax.grad(fn))))
    return out


def _tau(process: Process, var: str, lam: np.ndarray, derivative: bool = False) -> np.ndarray:
    lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
    with precision_scope("float64"):
        fn, dfn = _tau_functions(process)[var]
        out = dfn(jnp.asarray(lam)) if derivative else fn(jnp.asarray(lam))
    return np.asarray(out, dtype=np.float64)


# ================================================================================================ spectral t_S
def top_eigenvalue(mixture: GaussianMixture) -> float:
    """Λ, the top eigenvalue of the data covariance Cov X_0 = Σ_k π_k (Σ_k + μ_k μ_kᵀ) − μ̄ μ̄ᵀ.

    Isotropic forms: Λ = w + top eigenvalue of the K × K matrix √π_k √π_l (μ_k − μ̄)·(μ_l − μ̄), w = Σ_k π_k s_k².
    Per-class diagonal: Lanczos (``scipy.sparse.linalg.eigsh``) on diag(Σ_k π_k v_k) + B as an operator (dense for
    d ≤ 512). Full covariances: dense ``eigvalsh`` of ``data_covariance()``.
    """
    mix = _check_mixture(mixture)
    pi = mix.weights
    centred = mix.means - pi @ mix.means
    root = np.sqrt(pi)[:, None] * centred  # (K, d): B = rootᵀ root
    if mix.cov_kind in ("shared_iso", "class_iso"):
        w = float(pi @ np.broadcast_to(mix.cov, (mix.K,)))
        small = root @ root.T
        return w + max(float(np.linalg.eigvalsh(small)[-1]), 0.0)
    if mix.cov_kind == "class_diag":
        wdiag = pi @ mix.cov
        if mix.d <= _DENSE_MAX:
            return float(np.linalg.eigvalsh(np.diag(wdiag) + root.T @ root)[-1])
        from scipy.sparse.linalg import LinearOperator, eigsh

        op = LinearOperator((mix.d, mix.d), matvec=lambda v: wdiag * v.ravel() + root.T @ (root @ v.ravel()),
                            dtype=np.float64)
        return float(eigsh(op, k=1, which="LA", tol=1e-12, return_eigenvectors=False)[0])
    return float(np.linalg.eigvalsh(mix.data_covariance())[-1])


def speciation_time(mixture: GaussianMixture, process: Process = _OU) -> float:
    """Spectral speciation time t_S = ½ log Λ in OU time (Biroli et al.), mapped to ``process`` at equal SNR.

    Λ is the top eigenvalue of the data covariance (``top_eigenvalue``). At t_S, a²Λ = 1 in OU time, i.e.
    γ_S = 1/(Λ − 1) (DDPM tables: ᾱ = 1/Λ). Returns nan when Λ ≤ 1 (no equal-SNR time) or when the SNR is outside
    the process's time domain.
    """
    _check_process(process)
    lam_top = top_eigenvalue(mixture)
    if lam_top <= 1.0:
        return float("nan")
    t_ou = 0.5 * math.log(lam_top)
    return t_ou if isinstance(process, OU) else _to_process(t_ou, process)


# ========================================================================================== binary SNR landmarks
def _binary_q(mixture: GaussianMixture) -> tuple[np.ndarray, np.ndarray]:
    """Distinct eigenvalues u of the shared Σ and q_u = |P_u m|², m = (μ_0 − μ_1)/2 (P_u: projector on eigenspace u)."""
    mix = _check_mixture(mixture)
    if mix.K != 2 or not mix.shared_covariance:
        raise ValueError("this landmark needs a mixture with K = 2 components and a shared covariance; got "
                         f"K={mix.K}, cov_kind={mix.cov_kind!r}")
    uniq, blocks = shared_gram_blocks(mix)
    q = 0.25 * (blocks[:, 0, 0] - 2.0 * blocks[:, 0, 1] + blocks[:, 1, 1])
    return np.asarray(uniq, np.float64), np.clip(q, 0.0, None)


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
    f = lambda lam: float(_snr_of_lam(u, q, lam)[0]) - s_target
    lo, hi = -10.0, 10.0
    while f(lo) > 0:
        lo -= 10.0
    while f(hi) < 0:
        hi += 10.0
    return float(optimize.brentq(f, lo, hi, xtol=1e-14, rtol=1e-15))


def snr_time(mixture: GaussianMixture, s_target: float, process: Process = _OU) -> float:
    """The time of ``process`` at which the binary effective SNR s(t) (``binary_snr``) equals ``s_target``."""
    _check_process(process)
    return _lam_to_time(snr_log_snr(mixture, s_target), process)


def bimodality_time(mixture: GaussianMixture, process: Process = _OU) -> float:
    """Two classes, shared covariance: the time where p_t along the discriminant direction turns bimodal, s(t) = 1."""
    return snr_time(mixture, 1.0, process)


def instability_time(mixture: GaussianMixture, process: Process = _OU, *, dynamics: str = "vp") -> float:
    """Two classes, shared covariance: the time where the central point of the reverse SDE becomes unstable.

    Solves a² Σ_u q_u D_u²/(D_u − ρ) = 1 (module docstring) with ρ = −f/g²: ``dynamics="vp"`` uses ρ = ½ (OU and every
    VP process; the landmark is an SNR and is mapped to ``process`` at equal SNR), ``dynamics="native"`` uses the
    drift and diffusion of ``process`` itself. Unit within-class variance, VP: s = ½, OU time t_S + ½ log 2 at large d.
    Returns nan if the crossing does not happen while the other directions are stable.
    """
    _check_process(process)
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
        to_time = lambda lam: _lam_to_time(lam, process)
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

        to_time = lambda lam: _lam_to_time(lam, process)
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


def covariance_speciation_time(d: int, a: float, process: Process = _OU) -> float:
    """Predicted speciation time of N(0, (1 + a) I) vs N(0, (1 − a) I): ¼ log(a² d) in OU time (Achilli et al.),
    mapped to ``process`` at equal SNR (nan when a² d ≤ 1)."""
    _check_process(process)
    if not (d >= 1 and 0 < a < 1):
        raise ValueError(f"need d ≥ 1 and 0 < a < 1; got d={d!r}, a={a!r}")
    if a * a * d <= 1.0:
        return float("nan")
    t_ou = 0.25 * math.log(a * a * d)
    return t_ou if isinstance(process, OU) else _to_process(t_ou, process)


# =================================================================================== universal binary constants
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
    from gmmtheory.rate import binary_mmse

    def solve(power: float):
        f = lambda y: float(np.exp(power * y) * binary_mmse(np.array([np.exp(y)]))[0])  # y = log s
        res = optimize.minimize_scalar(lambda y: -f(y), bounds=(-3.0, 4.0), method="bounded",
                                       options={"xatol": 1e-12})
        dfd = lambda y: (f(y + 1e-4) - f(y - 1e-4)) / 2e-4
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


# =================================================================================================== the curves
@dataclass
class _Curve:
    """H[Z_P | X] and dH/dλ as functions of λ (vectorised), with optional stderr functions (Monte Carlo)."""

    label: str
    h_prior: float
    method: str
    H: object
    rate: object  # dH/dλ (≤ 0)
    lam_lo: float
    lam_hi: float
    H_se: object = None
    rate_se: object = None
    grid_step: float = 0.0
    n_samples: int = 0


def _binary_curve(mixture: GaussianMixture, label: str, h_prior: float, lam_range=None) -> _Curve:
    from gmmtheory.rate import binary_mmse

    u, q = _binary_q(mixture)
    nodes, gh_w = gauss_hermite(200)
    log_w = np.log(mixture.weights)

    def H(lam):
        s, _ = _snr_of_lam(u, q, np.atleast_1d(lam))
        with precision_scope("float64"):
            out = binary_expectation(jnp.asarray(s), jnp.asarray(log_w), jnp.asarray(nodes), jnp.asarray(gh_w),
                                     None, "entropy")
        return np.asarray(out, np.float64)

    def rate(lam):
        s, ds = _snr_of_lam(u, q, np.atleast_1d(lam))
        return -0.5 * binary_mmse(s, mixture.weights) * ds

    if lam_range is None:
        lo = snr_log_snr(mixture, 1e-3)
        hi = snr_log_snr(mixture, 80.0)
        if not np.isfinite(hi):
            hi = lo + 40.0
        lam_range = (lo, hi)
    return _Curve(label, h_prior, "closed_form", H, rate, float(lam_range[0]), float(lam_range[1]))


def _is_covariance_only(mixture: GaussianMixture) -> bool:
    return (mixture.K == 2 and mixture.cov_kind == "class_iso" and bool(np.all(mixture.means == mixture.means[:1]))
            and bool(np.all(mixture.cov > 0)) and mixture.cov[0] != mixture.cov[1])


@functools.lru_cache(maxsize=16)
def _chi2_rule(d: int, n: int = 401) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid nodes u (χ²_d values) and weights over log u covering all but ~1e-16 of the χ²_d law."""
    lo = stats.chi2.ppf(1e-17, d) if d > 1 else 1e-40
    hi = stats.chi2.isf(1e-17, d)
    y = np.linspace(np.log(max(lo, 1e-300)), np.log(hi), n)
    u = np.exp(y)
    dens = np.exp(stats.chi2.logpdf(u, d) + y)
    w = dens * (y[1] - y[0])
    w[[0, -1]] *= 0.5
    return u, w / w.sum()


def covariance_only_entropy(mixture: GaussianMixture, process: Process, t: object) -> EntropyResult:
    """H[Z | X_t] for two classes with equal means and isotropic variances v_0 ≠ v_1 (exact, cost independent of d).

    Given Z = z, r = |x − aμ|² = c_z χ²_d with c_k = a² v_k + σ², and the log-likelihood ratio is
    L = ½ r (1/c_1 − 1/c_0) + (d/2) log(c_1/c_0) + log(π_0/π_1); H = Σ_z π_z E h_b(L), h_b the binary entropy of
    sigmoid(L). The χ²_d expectation is a trapezoid rule in log χ² (401 nodes; 3001 nodes agree to ~1e-11).
    """
    if not _is_covariance_only(mixture):
        raise ValueError("covariance_only_entropy needs K = 2, equal means and distinct isotropic variances")
    times = process.check_times(t)
    flat = np.atleast_1d(times)
    with precision_scope("float64"):
        a2 = np.asarray(process.alpha(jnp.asarray(flat)), np.float64) ** 2
        s2 = np.asarray(process.sigma(jnp.asarray(flat)), np.float64) ** 2
    value = _cov_only_h(mixture, a2, s2)
    return EntropyResult(times, value.reshape(np.shape(times)), np.zeros(np.shape(times)), "chi2_quadrature",
                         "entropy", 401)


def _cov_only_h(mixture: GaussianMixture, a2: np.ndarray, s2: np.ndarray) -> np.ndarray:
    d = mixture.d
    u, w = _chi2_rule(d)
    v = mixture.cov
    c = a2[:, None] * v[None, :] + s2[:, None]  # (T, 2)
    shift = math.log(mixture.weights[0] / mixture.weights[1])
    out = np.zeros(a2.shape[0])
    for z in range(2):
        r = c[:, z, None] * u[None, :]
        L = 0.5 * r * (1.0 / c[:, 1, None] - 1.0 / c[:, 0, None]) + 0.5 * d * np.log(c[:, 1, None] / c[:, 0, None]) + shift
        aL = np.abs(L)
        hb = np.logaddexp(0.0, -aL) + aL * np.exp(-np.logaddexp(0.0, aL))
        out += mixture.weights[z] * (hb @ w)
    return out


def _cov_only_curve(mixture: GaussianMixture, label: str, h_prior: float) -> _Curve:
    def H(lam):
        g = np.exp(np.atleast_1d(np.asarray(lam, np.float64)))
        return _cov_only_h(mixture, g / (1.0 + g), 1.0 / (1.0 + g))

    def rate(lam):
        lam = np.atleast_1d(np.asarray(lam, np.float64))
        return (H(lam + _FD_STEP) - H(lam - _FD_STEP)) / (2.0 * _FD_STEP)

    v = mixture.cov
    scale = abs(v[0] - v[1]) * math.sqrt(mixture.d / 2.0)  # γ·scale ~ 1 resolves the classes
    lam_c = -math.log(scale)
    return _Curve(label, h_prior, "chi2_quadrature", H, rate, lam_c - 8.0, lam_c + 10.0)


def _auto_lam_range(mixture: GaussianMixture) -> tuple[float, float]:
    """A λ range covering the class transitions: the scales of the between-class covariance (±8 in λ)."""
    pi = mixture.weights
    centred = mixture.means - pi @ mixture.means
    small = (np.sqrt(pi)[:, None] * centred) @ (np.sqrt(pi)[:, None] * centred).T
    ev = np.linalg.eigvalsh(small)
    ev = ev[ev > ev.max() * 1e-10] if ev.max() > 0 else np.array([1.0])
    lo = -math.log(ev.max()) - 8.0
    hi = -math.log(ev.min()) + 10.0
    if not mixture.isotropic or mixture.cov_kind == "class_iso":
        hi += 4.0
    return lo, hi


def _mc_curve(mixture, part: Partition, label: str, h_prior: float, lam_grid: np.ndarray, n_samples, key) -> _Curve:
    from gmmtheory.rate import entropy_rate

    t_ou = _ou_time(lam_grid)
    # warn=False: a wide λ grid reaches decided times where H is a rare event; the flag stays in ent.extra
    ent = class_entropy(mixture, _OU, t_ou, partition=part, n_samples=n_samples, key=key, warn=False)
    method = "autodiff" if reduced_applies(mixture) else "denoiser_gap"
    rt = entropy_rate(mixture, _OU, t_ou, wrt="log_snr", partition=part, method=method, n_samples=n_samples, key=key)
    H_s = interpolate.CubicSpline(lam_grid, ent.value)
    R_s = interpolate.CubicSpline(lam_grid, rt.value)
    H_se = lambda lam: np.interp(lam, lam_grid, ent.stderr)
    R_se = lambda lam: np.interp(lam, lam_grid, rt.stderr)
    step = float(np.max(np.diff(lam_grid)))
    return _Curve(label, h_prior, f"{ent.method}+{rt.method}", lambda lam: H_s(np.atleast_1d(lam)),
                  lambda lam: R_s(np.atleast_1d(lam)), float(lam_grid[0]), float(lam_grid[-1]), H_se, R_se, step,
                  int(ent.n_samples))


# ======================================================================================== landmarks of one curve
_PER_VAR = ("half", "half_{}_err", "h10", "h90", "window", "window_{}_err", "peak", "peak_rate", "peak_{}_err",
            "fwhm", "fwhm_{}_lo", "fwhm_{}_hi", "fwhm_{}_err")


@dataclass(frozen=True)
class CurveLandmarks:
    """Entropy landmarks of H[Z_P | X_t] for one partition, in native time t, log σ and λ (see the module docstring).

    σ is the EDM noise level σ(t)/a(t) = e^{−λ/2}: ``*_log_sigma`` = −½ ``*_log_snr`` for locations, ½ for widths.

    ``*_err`` are Monte Carlo uncertainties (0 for exact curves); nan marks a landmark outside the curve's range.
    """

    label: str
    h_prior: float
    method: str
    process: str
    grid_step_log_snr: float
    n_samples: int
    half_t: float
    half_t_err: float
    h10_t: float
    h90_t: float
    window_t: float
    window_t_err: float
    peak_t: float
    peak_rate_t: float
    peak_t_err: float
    fwhm_t: float
    fwhm_t_lo: float
    fwhm_t_hi: float
    fwhm_t_err: float
    half_log_sigma: float
    half_log_sigma_err: float
    h10_log_sigma: float
    h90_log_sigma: float
    window_log_sigma: float
    window_log_sigma_err: float
    peak_log_sigma: float
    peak_rate_log_sigma: float
    peak_log_sigma_err: float
    fwhm_log_sigma: float
    fwhm_log_sigma_lo: float
    fwhm_log_sigma_hi: float
    fwhm_log_sigma_err: float
    half_log_snr: float
    half_log_snr_err: float
    h10_log_snr: float
    h90_log_snr: float
    window_log_snr: float
    window_log_snr_err: float
    peak_log_snr: float
    peak_rate_log_snr: float
    peak_log_snr_err: float
    fwhm_log_snr: float
    fwhm_log_snr_lo: float
    fwhm_log_snr_hi: float
    fwhm_log_snr_err: float

    def as_dict(self) -> dict:
        return asdict(self)


def _brent(f, a: float, b: float) -> float:
    return float(optimize.brentq(f, a, b, xtol=1e-13, rtol=1e-15, maxiter=200))


def _level_crossing(curve: _Curve, grid: np.ndarray, Hg: np.ndarray, level: float) -> float:
    """λ where H(λ) = level (H decreases with λ): first sign change on the grid, refined by brentq."""
    diff = Hg - level
    idx = np.flatnonzero((diff[:-1] > 0) & (diff[1:] <= 0))
    if idx.size == 0:
        return float("nan")
    i = int(idx[0])
    if diff[i + 1] == 0:
        return float(grid[i + 1])
    return _brent(lambda lam: float(curve.H(lam)[0]) - level, grid[i], grid[i + 1])


def _curve_landmarks(curve: _Curve, process: Process) -> CurveLandmarks:
    lo, hi = log_snr_range(process)
    lam_lo = max(curve.lam_lo, lo + 1e-9 * max(1.0, abs(lo)) if np.isfinite(lo) else curve.lam_lo)
    lam_hi = min(curve.lam_hi, hi - 1e-9 * max(1.0, abs(hi)) if np.isfinite(hi) else curve.lam_hi)
    out: dict[str, float] = {}
    nan = float("nan")
    if not (lam_hi > lam_lo) or curve.h_prior <= 0:
        for var in VARIABLES:
            for key in _PER_VAR:
                out[key.format(var) if "{}" in key else f"{key}_{var}"] = nan
        return _pack(curve, process, out)
    exact = curve.H_se is None
    grid = np.linspace(lam_lo, lam_hi, 601 if exact else 2001)
    Hg = curve.H(grid)
    Rg = np.abs(curve.rate(grid))
    h = curve.h_prior
    lam_half = _level_crossing(curve, grid, Hg, 0.5 * h)
    lam_10 = _level_crossing(curve, grid, Hg, 0.1 * h)
    lam_90 = _level_crossing(curve, grid, Hg, 0.9 * h)

    def crossing_err(lam: float) -> float:  # in λ
        if exact or not np.isfinite(lam):
            return 0.0 if exact else nan
        slope = abs(float(curve.rate(lam)[0]))
        return 2.0 * float(curve.H_se(lam)) / slope if slope > 0 else nan

    for var in VARIABLES:
        tau = lambda lam: _tau(process, var, lam)
        dtau = lambda lam: _tau(process, var, lam, derivative=True)
        conv = lambda lam: float(tau(lam)[0]) if np.isfinite(lam) else nan
        jac = lambda lam: abs(float(dtau(lam)[0])) if np.isfinite(lam) else nan
        out[f"half_{var}"] = conv(lam_half)
        out[f"half_{var}_err"] = crossing_err(lam_half) * jac(lam_half)
        out[f"h10_{var}"], out[f"h90_{var}"] = conv(lam_10), conv(lam_90)
        out[f"window_{var}"] = abs(out[f"h90_{var}"] - out[f"h10_{var}"])
        e10, e90 = crossing_err(lam_10) * jac(lam_10), crossing_err(lam_90) * jac(lam_90)
        out[f"window_{var}_err"] = math.hypot(e10, e90)
        # rate in τ as a function of λ: |dH/dλ| / |dτ/dλ|
        jg = np.abs(dtau(grid))
        with np.errstate(divide="ignore", invalid="ignore"):
            rg = Rg / jg
        rg = np.where(np.isfinite(rg), rg, 0.0)
        rate_tau = lambda lam: np.abs(curve.rate(lam)) / np.abs(dtau(lam))
        se_tau = (lambda lam: float(curve.rate_se(lam)) / abs(float(dtau(lam)[0]))) if not exact else None
        i = int(np.argmax(rg))
        keys = ("peak", "peak_rate", "peak_{}_err", "fwhm", "fwhm_{}_lo", "fwhm_{}_hi", "fwhm_{}_err")
        edge = max(2, grid.size // 100)  # a maximum at the ends of the range is not a peak
        if i < edge or i > grid.size - 1 - edge or rg[i] <= 0:
            for key in keys:
                out[key.format(var) if "{}" in key else f"{key}_{var}"] = nan
            continue
        h_fd = _FD_STEP

        def drate(lam: float) -> float:
            v = rate_tau(np.array([lam - h_fd, lam + h_fd]))
            return float(v[1] - v[0]) / (2.0 * h_fd)

        a_, b_ = grid[i - 1], grid[i + 1]
        if drate(a_) > 0 > drate(b_):
            lam_pk = _brent(drate, a_, b_)
        else:
            res = optimize.minimize_scalar(lambda lam: -float(rate_tau(np.array([lam]))[0]), bounds=(a_, b_),
                                           method="bounded", options={"xatol": 1e-12})
            lam_pk = float(res.x)
        r_pk = float(rate_tau(np.array([lam_pk]))[0])
        out[f"peak_{var}"] = conv(lam_pk)
        out[f"peak_rate_{var}"] = r_pk
        if exact:
            out[f"peak_{var}_err"] = 0.0
        else:
            hh = max(grid[1] - grid[0], 1e-3)
            v3 = rate_tau(np.array([lam_pk - hh, lam_pk, lam_pk + hh]))
            curv = abs(float(v3[0] - 2 * v3[1] + v3[2])) / hh**2 / 2.0  # |c2| of R ≈ R* − c2 (λ − λ*)²
            out[f"peak_{var}_err"] = (math.sqrt(2.0 * se_tau(lam_pk) / curv) if curv > 0 else nan) * jac(lam_pk)
        half = 0.5 * r_pk
        f_half = lambda lam: float(rate_tau(np.array([lam]))[0]) - half
        left = np.flatnonzero(rg[:i] < half)
        right = np.flatnonzero(rg[i + 1 :] < half)
        if left.size == 0 or right.size == 0:
            for key in keys[3:]:
                out[key.format(var) if "{}" in key else f"{key}_{var}"] = nan
            continue
        j = int(left[-1])
        k = i + 1 + int(right[0])
        lam_l = _brent(f_half, grid[j], grid[j + 1])
        lam_r = _brent(f_half, grid[k - 1], grid[k])
        tl, tr = conv(lam_l), conv(lam_r)
        out[f"fwhm_{var}"] = abs(tr - tl)
        out[f"fwhm_{var}_lo"], out[f"fwhm_{var}_hi"] = min(tl, tr), max(tl, tr)
        if exact:
            out[f"fwhm_{var}_err"] = 0.0
        else:
            errs = []
            for lam_e in (lam_l, lam_r):
                v = rate_tau(np.array([lam_e - 1e-3, lam_e + 1e-3]))
                slope = abs(float(v[1] - v[0])) / 2e-3
                errs.append((2.0 * se_tau(lam_e) + se_tau(lam_pk)) / slope * jac(lam_e) if slope > 0 else nan)
            out[f"fwhm_{var}_err"] = math.hypot(*errs)
    return _pack(curve, process, out)


def _pack(curve: _Curve, process: Process, out: dict) -> CurveLandmarks:
    return CurveLandmarks(label=curve.label, h_prior=curve.h_prior, method=curve.method, process=repr(process),
                          grid_step_log_snr=curve.grid_step, n_samples=curve.n_samples,
                          **{k: float(v) for k, v in out.items()})


def _h_prior(mixture: GaussianMixture, part: Partition) -> float:
    pw = part.group_weights(mixture.weights)
    pw = pw[pw > 0]
    return float(-np.sum(pw * np.log(pw)))


def _curves(mixture: GaussianMixture, partitions: dict, *, t_grid=None, process: Process = _OU, n_grid: int = 161,
            n_samples=None, key=None) -> list[_Curve]:
    """One curve per partition ("classes" = the labels themselves first)."""
    items = [("classes", Partition.identity(mixture.K))] + list((partitions or {}).items())
    lam_grid = None
    if t_grid is not None:
        times = process.check_times(t_grid)
        with precision_scope("float64"):
            lam_grid = np.asarray(process.log_snr(jnp.asarray(np.atleast_1d(times))), np.float64)
        order = np.argsort(lam_grid)
        lam_grid = lam_grid[order]
        if lam_grid.size < 5 or not np.all(np.isfinite(lam_grid)) or np.any(np.diff(lam_grid) <= 0):
            raise ValueError("t_grid must hold at least 5 distinct times with 0 < σ(t) and finite log-SNR")
    out = []
    for name, part in items:
        part = check_partition(part, mixture.K)
        h_prior = _h_prior(mixture, part)
        binary = mixture.K == 2 and mixture.shared_covariance and part.M == 2
        if binary:
            rng = None if lam_grid is None else (lam_grid[0], lam_grid[-1])
            out.append(_binary_curve(mixture, name, h_prior, rng))
        elif mixture.K == 2 and part.M == 2 and _is_covariance_only(mixture):
            c = _cov_only_curve(mixture, name, h_prior)
            if lam_grid is not None:
                c.lam_lo, c.lam_hi = float(lam_grid[0]), float(lam_grid[-1])
            out.append(c)
        elif part.M == 1:
            out.append(_Curve(name, 0.0, "trivial", lambda lam: np.zeros(np.size(lam)),
                              lambda lam: np.zeros(np.size(lam)), 0.0, 0.0))
        else:
            grid = lam_grid
            if grid is None:
                lo, hi = _auto_lam_range(mixture)
                plo, phi = log_snr_range(process)
                lo, hi = max(lo, plo + 1e-6 if np.isfinite(plo) else lo), min(hi, phi - 1e-6 if np.isfinite(phi) else hi)
                grid = np.linspace(lo, hi, n_grid)
            out.append(_mc_curve(mixture, part, name, h_prior, grid, n_samples, key))
    return out


def entropy_landmarks(
    mixture: GaussianMixture,
    process: Process = _OU,
    *,
    partition: Partition | None = None,
    t_grid: object = None,
    n_grid: int = 161,
    n_samples: int | None = None,
    key: object = None,
) -> CurveLandmarks:
    """Half-entropy, rate-peak, FWHM and 10–90 % window of H[Z_P | X_t] (one partition; default the labels)."""
    _check_mixture(mixture)
    _check_process(process)
    part = {} if partition is None else {"partition": partition}
    curves = _curves(mixture, part, t_grid=t_grid, process=process, n_grid=n_grid, n_samples=n_samples, key=key)
    return _curve_landmarks(curves[-1], process)


# ===================================================================================================== all of it
@dataclass(frozen=True)
class Landmarks:
    """Every landmark of a mixture under one process (times in that process's native time).

    Fields: ``top_eigenvalue`` Λ; ``t_speciation`` (½ log Λ, mapped); ``t_bimodality`` (s = 1), ``t_instability``
    (reverse-SDE instability of the central point, VP dynamics) — two classes with shared covariance only, else nan;
    ``t_covariance_speciation`` (¼ log(a² d), two classes N(μ, (1 ± a)I) only, else nan); ``entropy``: one
    ``CurveLandmarks`` per partition, "classes" first.
    """

    process: str
    K: int
    d: int
    top_eigenvalue: float
    t_speciation: float
    t_bimodality: float
    t_instability: float
    t_covariance_speciation: float
    entropy: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """A flat dict: the point landmarks, then ``"<partition>.<field>"`` for every entropy landmark."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "entropy"}
        for name, cl in self.entropy.items():
            for k, v in cl.as_dict().items():
                if k != "label":
                    out[f"{name}.{k}"] = v
        return out


def all_landmarks(
    mixture: GaussianMixture,
    process: Process = _OU,
    *,
    partitions: dict[str, Partition] | None = None,
    t_grid: object = None,
    n_grid: int = 161,
    n_samples: int | None = None,
    key: object = None,
) -> Landmarks:
    """All speciation landmarks of ``mixture`` in the time of ``process`` (see the module docstring).

    Args:
        partitions: name → Partition; each gets its own entropy landmarks (the labels themselves are "classes").
        t_grid: times of ``process`` for the Monte Carlo curves (default: ``n_grid`` log-SNRs spanning the class
            transitions, chosen from the between-class covariance spectrum); for exact curves it bounds the search.
        n_samples, key: Monte Carlo draws and PRNG key (exact curves ignore them).
    """
    mix = _check_mixture(mixture)
    _check_process(process)
    nan = float("nan")
    binary = mix.K == 2 and mix.shared_covariance
    t_bi = bimodality_time(mix, process) if binary else nan
    t_in = instability_time(mix, process) if binary else nan
    t_cov = nan
    if _is_covariance_only(mix):
        v0, v1 = mix.cov
        if abs((v0 + v1) / 2 - 1.0) < 1e-12:
            t_cov = covariance_speciation_time(mix.d, abs(v0 - v1) / 2, process)
    curves = _curves(mix, partitions or {}, t_grid=t_grid, process=process, n_grid=n_grid, n_samples=n_samples,
                     key=key)
    ent = {c.label: _curve_landmarks(c, process) for c in curves}
    return Landmarks(repr(process), mix.K, mix.d, top_eigenvalue(mix), speciation_time(mix, process), t_bi, t_in,
                     t_cov, ent)


# ================================================================================================ collapse time
def collapse_time_theory(n_points: int, d: int | None = None, variance: float = 1.0, process: Process = _OU, *,
                         eigenvalues: object = None) -> float:
    """Collapse time of P training points drawn from a Gaussian: log P = ½ Σ_j log(1 + γ v_j), mapped to ``process``.

    Isotropic unit variance in OU time: t_C = ½ log(1 + 1/(P^{2/d} − 1)) (Biroli et al.; P = 20000:
    1.2988, 1.9775, 2.6671 for d = 256, 1024, 4096). ``eigenvalues`` (the data covariance spectrum) replaces
    (d, variance) for anisotropic data.
    """
    _check_process(process)
    if not (isinstance(n_points, (int, np.integer)) and n_points >= 2):
        raise ValueError(f"n_points must be an integer ≥ 2; got {n_points!r}")
    log_p = math.log(n_points)
    if eigenvalues is None:
        if d is None or d < 1 or not variance > 0:
            raise ValueError("give d ≥ 1 and variance > 0, or eigenvalues")
        gamma = math.expm1(2.0 * log_p / d) / variance
        lam = math.log(gamma)
    else:
        v = np.asarray(eigenvalues, dtype=np.float64)
        v = v[v > 0]
        f = lambda lam: 0.5 * float(np.sum(np.log1p(np.exp(lam) * v))) - log_p
        lo, hi = -50.0, 50.0
        while f(hi) < 0:
            hi += 50.0
        lam = optimize.brentq(f, lo, hi, xtol=1e-14)
    t_ou = 0.5 * math.log1p(math.exp(-lam))
    return t_ou if isinstance(process, OU) else _to_process(t_ou, process)


def _points_of(points_or_mixture: object) -> np.ndarray:
    if isinstance(points_or_mixture, GaussianMixture):
        if not np.all(points_or_mixture.spectrum.evals == 0):
            raise ValueError("the mixture must be a set of points (Σ_k = 0), e.g. gt.empirical(points)")
        if not np.allclose(points_or_mixture.weights, 1.0 / points_or_mixture.K):
            raise ValueError("the points must be equally weighted")
        return np.asarray(points_or_mixture.means, np.float64)
    pts = np.asarray(points_or_mixture, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] < 2 or not np.all(np.isfinite(pts)):
        raise ValueError("points must be a finite (P, d) array with P ≥ 2")
    return pts


@functools.partial(jax.jit, static_argnames=())
def _index_entropy_kernel(G_i, E, sq, a, s):
    """Per time and draw: entropy of softmax_j((a² G_ij + aσ E_nj − ½ a²|x_j|²)/σ²)."""
    logits = (a[:, None, None] ** 2 * G_i[None] + (a * s)[:, None, None] * E[None]
              - 0.5 * a[:, None, None] ** 2 * sq[None, None, :]) / (s[:, None, None] ** 2)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)  # (T, n)


@in_float64
def index_entropy(points: object, process: Process, t: object, *, n_samples: int = 2048, key: object = None
                  ) -> EntropyResult:
    """H[index | X_t] of the empirical mixture of P points (``gt.empirical(points)``), by Monte Carlo.

    Draw an index i uniformly and ε ~ N(0, I) once (common random numbers over t); x_t = a x_i + σ ε. The logits
    −|x_t − a x_j|²/(2σ²) reduce, up to terms common to all j, to (a² x_i·x_j + aσ ε·x_j − ½a²|x_j|²)/σ², so the
    cost is one (n × d)(d × P) product plus O(n P) per time. Stderr from the i.i.d. draws. Runs in float64 (draws
    included) whatever jax's x64 flag, so the answer does not depend on it.
    """
    pts = _points_of(points)
    _check_process(process)
    times = process.check_times(t)
    flat = np.atleast_1d(times)
    P, d = pts.shape
    prng = check_key(key)
    k1, k2 = jax.random.split(prng)
    idx = np.asarray(jax.random.randint(k1, (n_samples,), 0, P))
    eps = np.asarray(jax.random.normal(k2, (n_samples, d), dtype=jnp.float64), np.float64)
    G = pts @ pts.T
    G_i, E, sq = G[idx], eps @ pts.T, np.einsum("ij,ij->i", pts, pts)
    with precision_scope("float64"):
        a = np.asarray(process.alpha(jnp.asarray(flat)), np.float64)
        s = np.asarray(process.sigma(jnp.asarray(flat)), np.float64)
        if np.any(s <= 0):
            raise ValueError("t must have σ(t) > 0 for a mixture of points")
        vals = []
        chunk = max(1, int(2**24 // max(1, n_samples * P)))
        for start in range(0, flat.size, chunk):
            sl = slice(start, start + chunk)
            vals.append(np.asarray(_index_entropy_kernel(jnp.asarray(G_i), jnp.asarray(E), jnp.asarray(sq),
                                                         jnp.asarray(a[sl]), jnp.asarray(s[sl])), np.float64))
    h = np.concatenate(vals, axis=0)
    value = h.mean(axis=1)
    stderr = h.std(axis=1, ddof=1) / math.sqrt(n_samples)
    shape = np.shape(times)
    return EntropyResult(times, value.reshape(shape), stderr.reshape(shape), "index_montecarlo", "entropy",
                         int(n_samples))


@in_float64
def collapse_time(points: object, process: Process = _OU, *, threshold: float = 1.0, t_grid: object = None,
                  n_samples: int = 2048, key: object = None) -> tuple[float, float]:
    """Empirical collapse time: where H[index | X_t] of the training set falls to ``threshold`` nats.

    Returns (t_C, uncertainty) in the time of ``process``. The grid defaults to 121 OU times spaced in λ around the
    Gaussian prediction ``collapse_time_theory`` for the points' own covariance spectrum; the crossing is
    interpolated linearly in λ and its uncertainty is the H ± 2·stderr bracket (first order) plus nothing else.
    Runs in float64 whatever jax's x64 flag.
    """
    pts = _points_of(points)
    _check_process(process)
    P, d = pts.shape
    if t_grid is None:
        ev = np.linalg.eigvalsh(np.cov(pts.T).reshape(d, d)) if d > 1 else np.array([np.var(pts)])
        t_th = collapse_time_theory(P, eigenvalues=np.clip(ev, 0, None))
        lam_c = float(-np.log(np.expm1(2 * t_th)))
        lam = np.linspace(lam_c - 6.0, lam_c + 8.0, 121)
        t_ou = _ou_time(lam)
    else:
        times = process.check_times(t_grid)
        with precision_scope("float64"):
            lam = np.asarray(process.log_snr(jnp.asarray(np.atleast_1d(times))), np.float64)
        order = np.argsort(lam)
        lam = lam[order]
        t_ou = _ou_time(lam)
    res = index_entropy(pts, _OU, t_ou, n_samples=n_samples, key=key)
    H, se = res.value, res.stderr
    diff = H - threshold
    idx = np.flatnonzero((diff[:-1] > 0) & (diff[1:] <= 0))
    if idx.size == 0:
        return float("nan"), float("nan")
    i = int(idx[0])
    w = diff[i] / (diff[i] - diff[i + 1])
    lam_c = lam[i] + w * (lam[i + 1] - lam[i])
    slope = abs(H[i + 1] - H[i]) / (lam[i + 1] - lam[i])
    err_lam = 2.0 * (se[i] * (1 - w) + se[i + 1] * w) / slope if slope > 0 else float("nan")
    t_c = _lam_to_time(lam_c, process)
    dt = abs(_lam_to_time(lam_c + 1e-6, process) - _lam_to_time(lam_c - 1e-6, process)) / 2e-6
    return t_c, err_lam * dt


__all__ = [
    "CurveLandmarks",
    "Landmarks",
    "binary_snr_landmarks",
    "bimodality_time",
    "collapse_time",
    "collapse_time_theory",
    "covariance_only_entropy",
    "covariance_speciation_time",
    "entropy_landmarks",
    "index_entropy",
    "instability_time",
    "all_landmarks",
    "log_snr_range",
    "snr_log_snr",
    "snr_time",
    "speciation_time",
    "top_eigenvalue",
]
