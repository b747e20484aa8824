"""The digits testbed: a small trained diffusion model on real data, measured against exact theory.

Data: scikit-learn's bundled ``load_digits`` (1797 real 8 × 8 images, 10 classes, no download), d = 64, under
x_σ = x_0 + σ ε. Modules: ``data`` (``load_digits_data``, ``DigitsData``), ``network`` (``DigitsNet``: the
preconditioned MLP D(x; σ, z) = c_skip x + c_out F_θ(c_in x, c_noise, z) with a null label; ``DigitsDenoiser``),
``training`` (``train_digits``, ``denoising_loss``, ``save_model``/``load_model``, ``MODEL_SIZES``), ``theory``
(exact training-set curves, Gaussian surrogate, spectral speciation σ_S = √(Λ − 1)), ``windows``
(``measured_window``: 10/50/90 % crossings and rate peak in log σ), ``classifier`` (held-out digit classifier),
``verdict`` and ``comparison`` (``digits_comparison``, ``DigitsComparison``, ``run_digits``), ``checks``.
"""

from __future__ import annotations

from gmmtheory.bridge.digits.classifier import DigitsClassifier, class_accuracy, digits_classifier
from gmmtheory.bridge.digits.comparison import DigitsComparison, digits_comparison, run_digits
from gmmtheory.bridge.digits.data import DIGITS_D, NUM_CLASSES, DigitsData, load_digits_data
from gmmtheory.bridge.digits.network import DigitsConfig, DigitsDenoiser, DigitsNet
from gmmtheory.bridge.digits.theory import digits_surrogate, empirical_curves, speciation_landmark, surrogate_curves
from gmmtheory.bridge.digits.training import MODEL_SIZES, SIZES, denoising_loss, load_model, save_model, train_digits
from gmmtheory.bridge.digits.verdict import CURVES, LABELS, MEASURED, PREDICTED, digits_verdict, fmt_signed
from gmmtheory.bridge.digits.windows import WINDOW_LEVELS, measured_window

__all__ = [
    "CURVES",
    "DIGITS_D",
    "LABELS",
    "MEASURED",
    "MODEL_SIZES",
    "NUM_CLASSES",
    "PREDICTED",
    "SIZES",
    "WINDOW_LEVELS",
    "DigitsClassifier",
    "DigitsComparison",
    "DigitsConfig",
    "DigitsData",
    "DigitsDenoiser",
    "DigitsNet",
    "class_accuracy",
    "denoising_loss",
    "digits_classifier",
    "digits_comparison",
    "digits_surrogate",
    "digits_verdict",
    "empirical_curves",
    "fmt_signed",
    "load_digits_data",
    "load_model",
    "measured_window",
    "run_digits",
    "save_model",
    "speciation_landmark",
    "surrogate_curves",
    "train_digits",
]
