"""Class-conditional entropy and its relatives: quadrature, reduced statistics and Monte Carlo methods."""

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
from gmmtheory.entropy.common import EntropyResult, RareEventWarning
from gmmtheory.entropy.quadrature import binary_snr, gauss_hermite

__all__ = [
    "METHODS",
    "EntropyResult",
    "RareEventWarning",
    "applicable_methods",
    "bayes_error",
    "binary_snr",
    "class_entropy",
    "collision_probability",
    "estimated_work",
    "gauss_hermite",
    "mutual_information",
    "posterior_statistic",
    "precision_scope",
    "resolve_method",
]
