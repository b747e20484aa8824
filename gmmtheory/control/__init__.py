"""Time-localized control from the entropy signature: semantic windows, guidance intervals, entropy schedules.

The class-conditional entropy H(σ) = H[Z_P | X_σ] falls, along generation (σ decreasing), from H[Z_P] to
H[Z_P | X_0]; its decrease −dH is the semantic information produced at each noise level. This package turns that
signature into sampler settings and tests them against exact ground truth (Gaussian mixtures, exact scores):

- ``windows``: the monotone fit Ĥ of one curve and its semantic window, the shortest log σ interval with
  Ĥ(σ_hi) − Ĥ(σ_lo) ≥ f [Ĥ(σ_max) − Ĥ(σ_min)], with a parametric bootstrap;
- ``theory``: the windows of a mixture at every level from exact curves, the recommended guidance interval;
- ``metrics``: fidelity (error = 1 − E p_0(z | x)) and diversity (|log var ratio|, KLs) of labelled samples;
- ``fronts``: the fidelity–diversity front of guided sampling over guidance configurations;
- ``schedules``: sampler σ grids at equal steps of G = (1 − β) G_EDM + β G_H and their comparison with EDM's.

σ is the VE-equivalent noise level of unit-scale data, σ = e^{−λ/2} (the EDM σ with σ_data = 1; OU time
t = ½ log(1 + σ²)) — the σ of ``dynamics.simulate``'s ``interval=`` and of the EDM sampler grid. For a trained model
(a bridge ``Measurement``) σ is the model's own σ. The fixed experiments are in ``gmmtheory.studies.control``, the
figures and prose in ``gmmtheory.report.control``, the command line in ``gmmtheory.cli.control``.
"""

from __future__ import annotations

from gmmtheory.control.fronts import (
    EDM2_INTERVAL,
    Front,
    balanced_labels,
    check_guidance_scales,
    fidelity_diversity_front,
    front_configs,
    interval_grid,
    mark_front,
)
from gmmtheory.control.metrics import (
    covariance_traces,
    frequency_kl,
    gaussian_kl,
    label_moments,
    paired_difference,
    sample_metrics,
    weighted_moments,
)
from gmmtheory.control.schedules import (
    SCHEDULE_METRICS,
    ScheduleComparison,
    add_paired,
    entropy_schedule,
    schedule_comparison,
    schedule_metrics,
    schedule_plan,
)
from gmmtheory.control.theory import (
    CURVE_SAMPLES,
    TheoryWindows,
    auto_sigma_range,
    entropy_curve,
    recommend_guidance_interval,
    recommend_window,
    theory_levels,
    theory_window,
)
from gmmtheory.control.windows import Window, as_curve, bootstrap_rng, monotone_fit, semantic_window

__all__ = [
    "CURVE_SAMPLES",
    "EDM2_INTERVAL",
    "SCHEDULE_METRICS",
    "Front",
    "ScheduleComparison",
    "TheoryWindows",
    "Window",
    "add_paired",
    "as_curve",
    "auto_sigma_range",
    "balanced_labels",
    "bootstrap_rng",
    "check_guidance_scales",
    "covariance_traces",
    "entropy_curve",
    "entropy_schedule",
    "fidelity_diversity_front",
    "frequency_kl",
    "front_configs",
    "gaussian_kl",
    "interval_grid",
    "label_moments",
    "mark_front",
    "monotone_fit",
    "paired_difference",
    "recommend_guidance_interval",
    "recommend_window",
    "sample_metrics",
    "schedule_comparison",
    "schedule_metrics",
    "schedule_plan",
    "semantic_window",
    "theory_levels",
    "theory_window",
    "weighted_moments",
]
