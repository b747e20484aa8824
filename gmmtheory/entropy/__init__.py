"""Class-conditional entropy and its relatives: quadrature, reduced statistics and Monte Carlo methods, the entropy
rate dH/dτ, and the covariance-only two-class case."""

from gmmtheory.entropy.api import (
    METHODS,
    applicable_methods,
    bayes_error,
    class_entropy,
    collision_probability,
    estimated_work,
    mutual_information,
    posterior_statistic,
    precision_scope,
    resolve_method,
)
from gmmtheory.entropy.covariance_only import covariance_only_entropy
from gmmtheory.entropy.quadrature import binary_snr, gauss_hermite
from gmmtheory.entropy.rate import (
    RATE_METHODS,
    binary_mmse,
    binary_snr_of_log_snr,
    entropy_rate,
    estimated_rate_work,
    log_snr_and_slope,
    resolve_rate_method,
)
from gmmtheory.entropy.result import EntropyResult, RareEventWarning

__all__ = [
    "METHODS",
    "RATE_METHODS",
    "EntropyResult",
    "RareEventWarning",
    "applicable_methods",
    "bayes_error",
    "binary_mmse",
    "binary_snr",
    "binary_snr_of_log_snr",
    "class_entropy",
    "collision_probability",
    "covariance_only_entropy",
    "entropy_rate",
    "estimated_rate_work",
    "estimated_work",
    "gauss_hermite",
    "log_snr_and_slope",
    "mutual_information",
    "posterior_statistic",
    "precision_scope",
    "resolve_method",
    "resolve_rate_method",
]
