"""gmmtheory: exact semantic information in diffusion models whose data are Gaussian mixtures.

Typical use::

    import numpy as np
    import gmmtheory as gt

    mix = gt.two_gaussians(d=1000, mu=1.0)
    res = gt.class_entropy(mix, gt.OU(), np.linspace(0.5, 6, 64))
    res.value, res.stderr, res.method

This face re-exports the library (floors 0–4: mixtures, presets, processes, posteriors, entropies, landmarks,
dynamics, guidance, control, phase diagrams). The fixed studies (``gmmtheory.studies``) and the figures
(``gmmtheory.report``) are re-exported lazily: they are imported on first use. The theory core imports neither
torch nor diffusers; the optional ``gmmtheory.bridge`` subpackage does. Inside the package, modules import each
other directly and never this face.
"""

from __future__ import annotations

import importlib
from typing import Any

from gmmtheory._version import __version__ as __version__
from gmmtheory.control import (
    Front,
    ScheduleComparison,
    TheoryWindows,
    Window,
    entropy_schedule,
    fidelity_diversity_front,
    recommend_guidance_interval,
    schedule_comparison,
    semantic_window,
    theory_window,
)
from gmmtheory.dynamics import (
    AgreementResult,
    Trajectories,
    class_frequencies,
    clones,
    commitment_times,
    cross_entropy_profile,
    edm_sampler,
    entropy_profile,
    overshoot,
    probability_flow,
    reverse_sde,
    simulate,
    speciation_experiment,
    u_turns,
    within_class_variance,
)
from gmmtheory.entropy import (
    EntropyResult,
    RareEventWarning,
    applicable_methods,
    bayes_error,
    binary_snr,
    class_entropy,
    collision_probability,
    mutual_information,
    precision_scope,
)
from gmmtheory.entropy.rate import binary_mmse, entropy_rate
from gmmtheory.guidance import GuidedProfile, guided_profile
from gmmtheory.landmarks import (
    CurveLandmarks,
    Landmarks,
    all_landmarks,
    bimodality_time,
    collapse_time,
    collapse_time_theory,
    covariance_speciation_time,
    entropy_landmarks,
    index_entropy,
    instability_time,
    speciation_time,
    top_eigenvalue,
)
from gmmtheory.logtime import LogTimeTable
from gmmtheory.mixture import GaussianMixture, Partition, prior_entropy
from gmmtheory.mixture_io import load_mixture_file
from gmmtheory.phase import PhaseDiagram, phase_diagram
from gmmtheory.posterior import (
    class_posterior,
    component_log_likelihoods,
    conditional_denoisers,
    denoiser,
    eps_prediction,
    log_class_posterior,
    log_density,
    score,
)
from gmmtheory.presets import (
    PRESETS,
    Hierarchy,
    build_preset,
    empirical,
    hierarchical,
    k_classes,
    random_mixture,
    two_gaussians,
)
from gmmtheory.processes import EDM, OU, VE, VP, DiscreteVP, Flow, Process, get_process
from gmmtheory.schedules import edm_sigma_grid

# studies (floor 5) and figures (floor 6) sit above the library: imported on first use only
_LAZY = {
    "GuidanceStudy": "gmmtheory.studies.guidance",
    "guidance_study": "gmmtheory.studies.guidance",
    "overshoot_study": "gmmtheory.studies.guidance",
    "logtime_study": "gmmtheory.studies.logtime",
    "plot_phase": "gmmtheory.report.phase",
}


def __getattr__(name: str) -> Any:
    """The lazily re-exported studies and figures (``_LAZY``), imported on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gmmtheory' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AgreementResult",
    "Trajectories",
    "class_frequencies",
    "clones",
    "commitment_times",
    "cross_entropy_profile",
    "edm_sampler",
    "entropy_profile",
    "overshoot",
    "probability_flow",
    "reverse_sde",
    "simulate",
    "speciation_experiment",
    "u_turns",
    "within_class_variance",
    "Front",
    "ScheduleComparison",
    "TheoryWindows",
    "Window",
    "entropy_schedule",
    "fidelity_diversity_front",
    "recommend_guidance_interval",
    "schedule_comparison",
    "semantic_window",
    "theory_window",
    "GuidanceStudy",
    "GuidedProfile",
    "guidance_study",
    "guided_profile",
    "overshoot_study",
    "CurveLandmarks",
    "EDM",
    "Landmarks",
    "LogTimeTable",
    "load_mixture_file",
    "PhaseDiagram",
    "RareEventWarning",
    "phase_diagram",
    "plot_phase",
    "bimodality_time",
    "collapse_time",
    "collapse_time_theory",
    "covariance_speciation_time",
    "entropy_landmarks",
    "index_entropy",
    "instability_time",
    "all_landmarks",
    "logtime_study",
    "speciation_time",
    "top_eigenvalue",
    "OU",
    "VE",
    "VP",
    "DiscreteVP",
    "EntropyResult",
    "Flow",
    "GaussianMixture",
    "Hierarchy",
    "PRESETS",
    "build_preset",
    "prior_entropy",
    "Partition",
    "Process",
    "applicable_methods",
    "bayes_error",
    "binary_snr",
    "class_entropy",
    "class_posterior",
    "collision_probability",
    "component_log_likelihoods",
    "conditional_denoisers",
    "denoiser",
    "edm_sigma_grid",
    "entropy_rate",
    "binary_mmse",
    "empirical",
    "eps_prediction",
    "get_process",
    "hierarchical",
    "k_classes",
    "log_class_posterior",
    "log_density",
    "mutual_information",
    "precision_scope",
    "random_mixture",
    "score",
    "two_gaussians",
]
