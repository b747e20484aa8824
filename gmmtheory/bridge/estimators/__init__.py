"""Estimators of the class-conditional entropy H[Z | X_σ] on any ``Denoiser`` (EDM convention x_σ = x_0 + σ ε).

Three routes, each returning ``Measurement`` objects (σ increasing, value, Monte Carlo standard error):

(A) ``tracker`` — ``tracker_log_posteriors`` / ``tracker_entropy``: the online posterior tracker along the
    stochastic sampler, log p_σ(z | x_σ) = log π_z + ℓ_z − log Σ_{z'} π_{z'} e^{ℓ_{z'}}, ℓ_z the accumulated
    log-kernels (paper kernel, or the corrected kernel with the posterior covariance);
(B) ``gap`` — ``denoiser_gap``: I-MMSE, dH/dlog σ = E‖D(X_σ, σ, Z) − D(X_σ, σ)‖² / σ², and its integral;
(C) ``classifier`` — ``classifier_log_posterior`` / ``classifier_entropy``: diffusion-classifier posteriors of a
    class subset from the conditional denoisers alone (the continuous-time ELBO).

``bias`` (``tracker_bias_table``, ``format_bias_table``) holds (A) against exact ``class_entropy`` on a
``GMMDenoiser``; the test suite holds (B) and (C) against ``entropy_rate`` / ``class_entropy``. ``common``: the
shared input checks and numerics. For a conditional-only network (no null label): ``implied``
(``ImpliedUnconditional``: D_u = Σ_y p(y | x) D_y; ``CountingDenoiser``) and ``conditional``
(``conditional_curves``: classifier entropy and the implied-unconditional denoiser gap from one classifier pass);
the tracker's ``sampler="implied"``.
"""

from __future__ import annotations

from gmmtheory.bridge.estimators.bias import format_bias_table, tracker_bias_table
from gmmtheory.bridge.estimators.classifier import classifier_entropy, classifier_log_posterior
from gmmtheory.bridge.estimators.conditional import conditional_curves, gap_integral
from gmmtheory.bridge.estimators.gap import denoiser_gap
from gmmtheory.bridge.estimators.implied import CountingDenoiser, ImpliedUnconditional, is_conditional_only
from gmmtheory.bridge.estimators.tracker import tracker_entropy, tracker_log_posteriors

__all__ = [
    "CountingDenoiser",
    "ImpliedUnconditional",
    "conditional_curves",
    "gap_integral",
    "is_conditional_only",
    "classifier_entropy",
    "classifier_log_posterior",
    "denoiser_gap",
    "format_bias_table",
    "tracker_bias_table",
    "tracker_entropy",
    "tracker_log_posteriors",
]
