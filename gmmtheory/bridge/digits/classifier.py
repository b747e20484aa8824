"""A digit classifier for sample fidelity: standardised features and multinomial logistic regression (C = 0.1),
trained on a stratified split of the digits and scored on the held-out rest.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count, check_fraction
from gmmtheory.bridge.digits.checks import _check_scale
from gmmtheory.bridge.digits.data import DIGITS_D, load_digits_data


@dataclass(frozen=True)
class DigitsClassifier:
    """A digit classifier trained on one split of the digits and scored on the held-out rest.

    model: the fitted scikit-learn estimator (standardisation + multinomial logistic regression); test_accuracy:
    accuracy on the held-out split; n_train, n_test: split sizes; scale: the pixel range it expects (same as
    ``load_digits_data``).
    """

    model: Any
    test_accuracy: float
    n_train: int
    n_test: int
    scale: tuple[float, float]

    def predict(self, x: object) -> np.ndarray:
        """Predicted labels (n,) for images x of shape (n, 64) (or (n, 8, 8)), numpy or torch."""
        return self.model.predict(_flat_images(x))

    def predict_proba(self, x: object) -> np.ndarray:
        """Class probabilities (n, 10)."""
        return self.model.predict_proba(_flat_images(x))


def _flat_images(x: object) -> np.ndarray:
    arr = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if arr.ndim < 2 or math.prod(arr.shape[1:]) != DIGITS_D:
        raise ValueError(f"x must have shape (n, 64) or (n, 8, 8); got {arr.shape}")
    arr = arr.reshape(arr.shape[0], DIGITS_D)
    if not np.all(np.isfinite(arr)):
        raise ValueError("x must be finite")
    return arr


@functools.lru_cache(maxsize=4)
def _fit_classifier(seed: int, test_fraction: float, scale: tuple[float, float]) -> DigitsClassifier:
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 (optional heavy dependency)
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415 (optional heavy dependency)
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415 (optional heavy dependency)

    data = load_digits_data(scale=scale, test_fraction=test_fraction, seed=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    clf.fit(data.x, data.labels)
    acc = float(np.mean(clf.predict(data.x_test) == data.labels_test))
    return DigitsClassifier(clf, acc, int(data.x.shape[0]), int(data.x_test.shape[0]), scale)


def digits_classifier(
    *, seed: int = 0, test_fraction: float = 0.25, scale: Sequence[float] = (-1.0, 1.0)
) -> DigitsClassifier:
    """A held-out-scored digit classifier (standardised features, multinomial logistic regression, C = 0.1).

    Trained on a stratified (1 − ``test_fraction``) split of the digits, scored on the rest (``test_accuracy``,
    ≈ 0.97 with the defaults). Cached per arguments. Use it to score generated samples (``class_accuracy``).
    """
    check_count("seed", seed, 0)
    frac = check_fraction("test_fraction", test_fraction)
    return _fit_classifier(int(seed), frac, _check_scale(scale))


def class_accuracy(x: object, labels: object, classifier: DigitsClassifier | None = None) -> float:
    """Fraction of images x (n, 64) that ``classifier`` (default ``digits_classifier()``) assigns to ``labels``."""
    arr = _flat_images(x)
    lab = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
    if lab.shape != (arr.shape[0],) or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape ({arr.shape[0]},); got shape {lab.shape}, "
                         f"dtype {lab.dtype}")
    if classifier is None:
        classifier = digits_classifier()
    elif not isinstance(classifier, DigitsClassifier):
        raise ValueError(f"classifier must be a DigitsClassifier or None; got {type(classifier).__name__}")
    return float(np.mean(classifier.predict(arr) == lab))
