"""Speciation landmarks: when, in a given process's time, a diffusion model decides its class.

Every criterion is kept under its own name; they differ by O(1) in log-time. Notation: X_t = a X_0 + σ ε, SNR
γ = a²/σ², log-SNR λ = log γ; OU time has a = e^{−t}, σ² = 1 − e^{−2t}, so γ = 1/(e^{2t} − 1). A landmark that is a
property of the law of X_t (all except the SDE instability with ``dynamics="native"``) is an SNR value, located once
in λ and mapped to any process's time at equal SNR, so landmarks of two processes always agree at equal SNR.

Modules:
- ``spectral``: Λ (top eigenvalue of Cov X_0), t_S = ½ log Λ (OU), covariance-only speciation ¼ log(a² d).
- ``binary``: two classes, shared covariance, effective SNR s(λ) = Σ_u q_u γ/(γu + 1): bimodality (s = 1),
  reverse-SDE instability (a² Σ_u q_u D_u²/(D_u − ρ) = 1), universal binary constants.
- ``curves``: the entropy curves H[Z_P | X](λ), dH/dλ per partition (exact or Monte Carlo).
- ``entropy``: half entropy, 10–90 % window, rate peak and FWHM of one curve in t, log σ and λ.
- ``summary``: ``all_landmarks`` → ``Landmarks``, everything above for one mixture and process.
- ``finite``: P training points, collapse when log P = ½ Σ_j log(1 + γ v_j).
"""

from __future__ import annotations

from gmmtheory.entropy.covariance_only import covariance_only_entropy, is_covariance_only
from gmmtheory.landmarks.binary import bimodality_time, binary_snr_landmarks, instability_time, snr_log_snr, snr_time
from gmmtheory.landmarks.curves import EntropyCurve, entropy_curves
from gmmtheory.landmarks.entropy import VARIABLES, CurveLandmarks, curve_landmarks, entropy_landmarks
from gmmtheory.landmarks.finite import collapse_time, collapse_time_theory, index_entropy
from gmmtheory.landmarks.spectral import covariance_speciation_time, speciation_time, top_eigenvalue
from gmmtheory.landmarks.summary import Landmarks, all_landmarks
from gmmtheory.schedules import log_snr_range

__all__ = [
    "VARIABLES",
    "CurveLandmarks",
    "EntropyCurve",
    "Landmarks",
    "all_landmarks",
    "bimodality_time",
    "binary_snr_landmarks",
    "collapse_time",
    "collapse_time_theory",
    "covariance_only_entropy",
    "covariance_speciation_time",
    "curve_landmarks",
    "entropy_curves",
    "entropy_landmarks",
    "index_entropy",
    "instability_time",
    "is_covariance_only",
    "log_snr_range",
    "snr_log_snr",
    "snr_time",
    "speciation_time",
    "top_eigenvalue",
]
