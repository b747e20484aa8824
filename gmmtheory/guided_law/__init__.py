"""Exact (no Monte Carlo) guided laws of the class coordinates of Gaussian mixtures with a shared covariance.

``sampler_law``: the exact law of the discrete samplers (Euler–Maruyama, Heun, EDM with churn) on a dynamics grid;
``guided_law``: the continuous-time guided probability-flow ODE (characteristics) and reverse SDE (``sde_law_fp``,
the Fokker–Planck law; ``engine="richardson"``: extrapolated EM laws); ``GuidedLaw``: their curves and final
statistics; ``default_sigmas``: their reported σ̃ grid; ``class_line``: the reduction to the class coordinate;
``universal_flow`` / ``sampler_flow``: the same two-Gaussian ODE / Heun–Euler laws in the d-free variable
q = m²/(1 + σ²) (``universal``); ``multiclass_law``: the probability-flow ODE law for K classes whose centred mean
span has dimension ≤ 3 (three classes, the hierarchy preset). See docs/guided_law.md.
"""

from gmmtheory.guided_law.coordinates import ClassLine, class_line
from gmmtheory.guided_law.fokker_planck import sde_law_fp
from gmmtheory.guided_law.law import guided_law, sampler_law
from gmmtheory.guided_law.multiclass import (
    ClassPlane,
    MulticlassLaw,
    class_plane,
    multiclass_law,
    multiclass_redistribution,
    profile_marks,
)
from gmmtheory.guided_law.profile import GuidedLaw
from gmmtheory.guided_law.sigma_grid import default_sigmas
from gmmtheory.guided_law.universal import FlowProfile, sampler_flow, universal_flow

__all__ = ["ClassLine", "ClassPlane", "FlowProfile", "GuidedLaw", "MulticlassLaw", "class_line", "class_plane",
           "default_sigmas", "guided_law", "multiclass_law", "multiclass_redistribution", "profile_marks",
           "sampler_flow", "sampler_law", "sde_law_fp", "universal_flow"]
