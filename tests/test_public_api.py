"""Every name the public faces export must keep importing across refactors (the list was taken from release 0.1.0)."""

from __future__ import annotations

import importlib

import pytest

GMMTHEORY = [
    "AgreementResult", "CurveLandmarks", "DiscreteVP", "EDM", "EntropyResult", "Flow", "Front", "GaussianMixture",
    "GuidanceStudy", "GuidedProfile", "Hierarchy", "Landmarks", "LogTimeTable", "OU", "Partition", "PhaseDiagram",
    "Process", "RareEventWarning", "ScheduleComparison", "TheoryWindows", "Trajectories", "VE", "VP", "Window",
    "all_landmarks", "applicable_methods", "bayes_error", "bimodality_time", "binary_mmse", "binary_snr",
    "class_entropy", "class_frequencies", "class_posterior", "clones", "collapse_time", "collapse_time_theory",
    "collision_probability", "commitment_times", "component_log_likelihoods", "conditional_denoisers",
    "covariance_speciation_time", "cross_entropy_profile", "denoiser", "edm_sampler", "edm_sigma_grid", "empirical",
    "entropy_landmarks", "entropy_profile", "entropy_rate", "entropy_schedule", "eps_prediction",
    "fidelity_diversity_front", "get_process", "guidance_study", "guided_profile", "hierarchical", "index_entropy",
    "instability_time", "k_classes", "load_mixture_file", "log_class_posterior", "log_density", "logtime_study",
    "mutual_information", "overshoot", "overshoot_study", "phase_diagram", "plot_phase", "precision_scope",
    "probability_flow", "random_mixture", "recommend_guidance_interval", "reverse_sde", "schedule_comparison",
    "score", "semantic_window", "simulate", "speciation_experiment", "speciation_time", "theory_window",
    "top_eigenvalue", "two_gaussians", "u_turns", "within_class_variance",
]

BRIDGE = [
    "Denoiser", "DiffusersDenoiser", "DigitsComparison", "DigitsControl", "DigitsDenoiser", "EDM2Denoiser", "EDM2Net",
    "GMMDenoiser", "GuidedDenoiser", "Measurement", "PAPER_SETUPS", "TorchDenoiser", "as_edm2_net", "as_sigma", "cfg",
    "class_accuracy", "classifier_entropy", "classifier_log_posterior", "denoiser_gap", "digits_classifier",
    "digits_comparison", "digits_control", "edm_sigmas", "format_bias_table", "guided", "guided_denoise",
    "guided_front", "load_digits_data", "load_edm2", "load_model", "load_sd15", "model_schedule_comparison",
    "model_sigmas", "run_digits", "run_digits_control", "run_gmm", "run_real", "sample", "save_model",
    "surrogate_overlay", "tracker_bias_table", "tracker_entropy", "tracker_log_posteriors", "train_digits",
]

TESTING = [
    "assert_denoiser_matches", "assert_entropy_valid", "assert_nondecreasing", "assert_within_stderr",
    "count_compilations", "covariances", "denoiser_tolerance", "log_snrs", "mixtures", "partitions", "processes",
    "time_grids",
]


@pytest.mark.parametrize(
    ("module", "names"),
    [("gmmtheory", GMMTHEORY), ("gmmtheory.bridge", BRIDGE), ("gmmtheory.testing", TESTING)],
)
def test_every_released_name_still_imports(module: str, names: list[str]) -> None:
    if module == "gmmtheory.bridge":
        pytest.importorskip("torch")
    mod = importlib.import_module(module)
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{module} no longer exports {missing}"
    unlisted = sorted(set(names) - set(mod.__all__))
    assert not unlisted, f"{module}.__all__ lost {unlisted}"
