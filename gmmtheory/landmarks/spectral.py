"""Spectral speciation landmarks: Λ, the top eigenvalue of the data covariance, and the times built on it.

- ``speciation_time``: t_S = ½ log Λ in OU time (Biroli et al., arXiv 2402.18491), where a²Λ = 1; equivalently
  γ_S = 1/(Λ − 1) (DDPM tables: ᾱ = 1/Λ). Cov X_0 = W + B, W = Σ_k π_k Σ_k, B = Σ_k π_k (μ_k − μ̄)(μ_k − μ̄)ᵀ.
- ``covariance_speciation_time``: classes N(0, (1 ± a) I) differing only in covariance speciate at t = ¼ log(a² d)
  in OU time (Achilli, Benedetti, Biroli, Mézard, arXiv 2602.04404): the class shows through |x|²/d, whose means
  1 ± a e^{−2t} separate once a e^{−2t} exceeds its O(1/√d) fluctuation.

Both are SNR values, mapped to any process's time at equal SNR (``schedules.ou_time_to_time``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from gmmtheory.mixture import GaussianMixture, check_mixture
from gmmtheory.processes import OU, Process, check_process
from gmmtheory.schedules import ou_time_to_time

_OU = OU()
_DENSE_MAX = 512  # largest d for which the data covariance is formed densely when it is diagonal + low rank


def top_eigenvalue(mixture: GaussianMixture) -> float:
    """Λ, the top eigenvalue of the data covariance Cov X_0 = Σ_k π_k (Σ_k + μ_k μ_kᵀ) − μ̄ μ̄ᵀ.

    Isotropic forms: Λ = w + top eigenvalue of the K × K matrix √π_k √π_l (μ_k − μ̄)·(μ_l − μ̄), w = Σ_k π_k s_k².
    Per-class diagonal: Lanczos (``scipy.sparse.linalg.eigsh``) on diag(Σ_k π_k v_k) + B as an operator (dense for
    d ≤ 512). Full covariances: dense ``eigvalsh`` of ``data_covariance()``.
    """
    mix = check_mixture(mixture)
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
        op = LinearOperator((mix.d, mix.d), matvec=lambda v: wdiag * v.ravel() + root.T @ (root @ v.ravel()),
                            dtype=np.float64)
        return float(eigsh(op, k=1, which="LA", tol=1e-12, return_eigenvectors=False)[0])
    return float(np.linalg.eigvalsh(mix.data_covariance())[-1])


def speciation_time(mixture: GaussianMixture, process: Process | str = _OU) -> float:
    """Spectral speciation time t_S = ½ log Λ in OU time (Biroli et al.), mapped to ``process`` at equal SNR.

    Λ is the top eigenvalue of the data covariance (``top_eigenvalue``). At t_S, a²Λ = 1 in OU time, i.e.
    γ_S = 1/(Λ − 1) (DDPM tables: ᾱ = 1/Λ). Returns nan when Λ ≤ 1 (no equal-SNR time) or when the SNR is outside
    the process's time domain.
    """
    process = check_process(process)
    lam_top = top_eigenvalue(mixture)
    if lam_top <= 1.0:
        return float("nan")
    t_ou = 0.5 * math.log(lam_top)
    return t_ou if isinstance(process, OU) else ou_time_to_time(process, t_ou)


def covariance_speciation_time(d: int, a: float, process: Process | str = _OU) -> float:
    """Predicted speciation time of N(0, (1 + a) I) vs N(0, (1 − a) I): ¼ log(a² d) in OU time (Achilli et al.),
    mapped to ``process`` at equal SNR (nan when a² d ≤ 1)."""
    process = check_process(process)
    if not (d >= 1 and 0 < a < 1):
        raise ValueError(f"need d ≥ 1 and 0 < a < 1; got d={d!r}, a={a!r}")
    if a * a * d <= 1.0:
        return float("nan")
    t_ou = 0.25 * math.log(a * a * d)
    return t_ou if isinstance(process, OU) else ou_time_to_time(process, t_ou)


__all__ = ["covariance_speciation_time", "speciation_time", "top_eigenvalue"]
