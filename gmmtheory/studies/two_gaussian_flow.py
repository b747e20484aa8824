"""Moved to the library: ``gmmtheory.guided_law.universal`` (the universal q-variable flow of two Gaussians and the
exact law of the Euler/Heun samplers). These names are re-exported here so that older imports keep working."""

from gmmtheory.guided_law.universal import (
    Q_START,
    SOLVERS,
    FlowProfile,
    q_of_sigma,
    sampler_flow,
    sigma_of_q,
    universal_flow,
)

__all__ = ["Q_START", "SOLVERS", "FlowProfile", "q_of_sigma", "sampler_flow", "sigma_of_q", "universal_flow"]
