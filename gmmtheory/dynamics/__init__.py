"""Reverse-time dynamics with exact Gaussian-mixture scores: samplers, guidance, trajectory measurements, clones.

Every sampler integrates the reverse of X_t = a(t) X_0 + σ(t) ε with the *exact* denoisers of the mixture, so any
deviation from the theory is discretisation or Monte Carlo error, never a learned-score error. The guided denoiser
is D = D_z + (w_eff − 1)(D_z − D_u) (classifier-free guidance; w_eff = w inside the guidance interval, 1 outside).

Modules:

- ``grid``: the samplers' grids (``Grid``, ``make_grid``; EDM's ρ-grid or uniform native time) and the validation
  of sampler and guidance settings (``check_guidance``, ``check_interval``, ``check_sigmas``);
- ``kernel``: the jitted step of each sampler ("sde" Euler–Maruyama, "ode" Heun, "edm" Karras et al. Algorithm 2)
  with the guided denoiser, ``semantic_basis``, ``TRACE_COUNT``;
- ``sampling``: ``simulate`` (and ``reverse_sde``, ``probability_flow``, ``edm_sampler``) returning ``Trajectories``;
  ``runs``: its pieces (``prepare_run``, ``initial_states``, ``run_segment``);
- ``reduced`` / ``radial``: the exact reduced dynamics on the span of the means (``simulate(reduced=...)``; cost
  independent of d; ``orth_variance``, ``orth_step_factors``, ``choose_reduction``; docs/reduced_dynamics.md);
- ``observables``: entropy / cross-entropy profiles, rates, commitment times, class frequencies, overshoot and
  within-class variance;
- ``experiments``: Biroli et al.'s clones and U-turns against the exact collision probability φ(t)
  (``AgreementResult``, ``speciation_experiment``).
"""

from __future__ import annotations

from gmmtheory.dynamics.experiments import AgreementResult, clones, speciation_experiment, u_turns
from gmmtheory.dynamics.grid import (
    GUIDANCE,
    INITS,
    SAMPLERS,
    Grid,
    check_guidance,
    check_interval,
    check_sigmas,
    make_grid,
)
from gmmtheory.dynamics.kernel import TRACE_COUNT, semantic_basis
from gmmtheory.dynamics.observables import (
    class_frequencies,
    commitment_times,
    cross_entropy_profile,
    entropy_profile,
    group_log_posterior,
    mean_stderr,
    overshoot,
    profile_rate,
    within_class_variance,
)
from gmmtheory.dynamics.reduced import REDUCE_MIN_D, choose_reduction, orth_step_factors, orth_variance
from gmmtheory.dynamics.sampling import (
    Trajectories,
    edm_sampler,
    probability_flow,
    reverse_sde,
    simulate,
)

__all__ = [
    "GUIDANCE",
    "INITS",
    "REDUCE_MIN_D",
    "SAMPLERS",
    "TRACE_COUNT",
    "AgreementResult",
    "Grid",
    "Trajectories",
    "check_guidance",
    "check_interval",
    "check_sigmas",
    "choose_reduction",
    "class_frequencies",
    "clones",
    "commitment_times",
    "cross_entropy_profile",
    "edm_sampler",
    "entropy_profile",
    "group_log_posterior",
    "make_grid",
    "mean_stderr",
    "orth_step_factors",
    "orth_variance",
    "overshoot",
    "probability_flow",
    "profile_rate",
    "reverse_sde",
    "semantic_basis",
    "simulate",
    "speciation_experiment",
    "u_turns",
    "within_class_variance",
]
