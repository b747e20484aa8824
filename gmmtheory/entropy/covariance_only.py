"""Two classes that differ only in their covariance: equal means, isotropic variances v_0 ≠ v_1 (exact in any d).

Given Z = z, r = |x − aμ|² = c_z χ²_d with c_k = a² v_k + σ², and the log-likelihood ratio of the two classes is

    L = ½ r (1/c_1 − 1/c_0) + (d/2) log(c_1/c_0) + log(π_0/π_1),      H[Z | X_t] = Σ_z π_z E h_b(L),

h_b the binary entropy of sigmoid(L). The χ²_d expectation is a trapezoid rule in log χ² (``chi2_rule``, 401 nodes;
3001 nodes agree to ~1e-11): the cost is independent of d.
"""

from __future__ import annotations

import functools
import math

import jax.numpy as jnp
import numpy as np
from scipy import stats

from gmmtheory._precision import precision_scope
from gmmtheory.entropy.result import EntropyResult
from gmmtheory.mixture import GaussianMixture
from gmmtheory.processes import Process, check_times

CHI2_NODES = 401


def is_covariance_only(mixture: GaussianMixture) -> bool:
    """K = 2, equal means, per-class isotropic variances v_0 ≠ v_1 (both > 0)."""
    return (mixture.K == 2 and mixture.cov_kind == "class_iso" and bool(np.all(mixture.means == mixture.means[:1]))
            and bool(np.all(mixture.cov > 0)) and mixture.cov[0] != mixture.cov[1])


@functools.lru_cache(maxsize=16)
def chi2_rule(d: int, n: int = CHI2_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid nodes u (χ²_d values) and weights over log u covering all but ~1e-16 of the χ²_d law."""
    lo = stats.chi2.ppf(1e-17, d) if d > 1 else 1e-40
    hi = stats.chi2.isf(1e-17, d)
    y = np.linspace(np.log(max(lo, 1e-300)), np.log(hi), n)
    u = np.exp(y)
    dens = np.exp(stats.chi2.logpdf(u, d) + y)
    w = dens * (y[1] - y[0])
    w[[0, -1]] *= 0.5
    return u, w / w.sum()


def covariance_only_h(mixture: GaussianMixture, a2: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """H[Z | X_t] (float64 numpy, (T,)) at process coefficients a² (T,) and σ² (T,) (module docstring)."""
    d = mixture.d
    u, w = chi2_rule(d)
    v = mixture.cov
    c = a2[:, None] * v[None, :] + s2[:, None]  # (T, 2)
    shift = math.log(mixture.weights[0] / mixture.weights[1])
    out = np.zeros(a2.shape[0])
    for z in range(2):
        r = c[:, z, None] * u[None, :]
        L = (0.5 * r * (1.0 / c[:, 1, None] - 1.0 / c[:, 0, None])
             + 0.5 * d * np.log(c[:, 1, None] / c[:, 0, None]) + shift)
        aL = np.abs(L)
        hb = np.logaddexp(0.0, -aL) + aL * np.exp(-np.logaddexp(0.0, aL))
        out += mixture.weights[z] * (hb @ w)
    return out


def covariance_only_of_log_snr(mixture: GaussianMixture, lam: object) -> np.ndarray:
    """H as a function of the log-SNR λ (any process): (a², σ²) = (γ/(1 + γ), 1/(1 + γ)), γ = e^λ."""
    g = np.exp(np.atleast_1d(np.asarray(lam, np.float64)))
    return covariance_only_h(mixture, g / (1.0 + g), 1.0 / (1.0 + g))


def covariance_only_log_snr_window(mixture: GaussianMixture) -> tuple[float, float]:
    """A λ window that holds the whole fall of H: γ · |v_0 − v_1| √(d/2) ~ 1 resolves the classes, at λ_c; the
    window is [λ_c − 8, λ_c + 10]."""
    v = mixture.cov
    scale = abs(v[0] - v[1]) * math.sqrt(mixture.d / 2.0)
    lam_c = -math.log(scale)
    return lam_c - 8.0, lam_c + 10.0


def covariance_only_entropy(mixture: GaussianMixture, process: Process, t: object) -> EntropyResult:
    """H[Z | X_t] for two classes with equal means and isotropic variances v_0 ≠ v_1 (exact, cost independent of d).

    Given Z = z, r = |x − aμ|² = c_z χ²_d with c_k = a² v_k + σ², and the log-likelihood ratio is
    L = ½ r (1/c_1 − 1/c_0) + (d/2) log(c_1/c_0) + log(π_0/π_1); H = Σ_z π_z E h_b(L), h_b the binary entropy of
    sigmoid(L). The χ²_d expectation is a trapezoid rule in log χ² (401 nodes; 3001 nodes agree to ~1e-11).
    """
    if not is_covariance_only(mixture):
        raise ValueError("covariance_only_entropy needs K = 2, equal means and distinct isotropic variances")
    times = check_times(t, process)
    flat = np.atleast_1d(times)
    with precision_scope("float64"):
        a2 = np.asarray(process.alpha(jnp.asarray(flat)), np.float64) ** 2
        s2 = np.asarray(process.sigma(jnp.asarray(flat)), np.float64) ** 2
    value = covariance_only_h(mixture, a2, s2)
    return EntropyResult(times, value.reshape(np.shape(times)), np.zeros(np.shape(times)), "chi2_quadrature",
                         "entropy", CHI2_NODES)
