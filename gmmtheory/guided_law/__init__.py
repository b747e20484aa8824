"""Exact (no Monte Carlo) guided laws of the class coordinate of two Gaussians with a shared covariance.

``sampler_law``: the exact law of the discrete samplers (Euler–Maruyama, Heun, EDM with churn) on a dynamics grid;
``guided_law``: the continuous-time guided SDE / probability-flow ODE; ``GuidedLaw``: their curves and final
statistics; ``class_line``: the reduction to the class coordinate. See docs/guided_law.md.
"""

from gmmtheory.guided_law.coordinates import ClassLine, class_line
from gmmtheory.guided_law.law import default_sigmas, guided_law, sampler_law
from gmmtheory.guided_law.profile import GuidedLaw

__all__ = ["ClassLine", "GuidedLaw", "class_line", "default_sigmas", "guided_law", "sampler_law"]
