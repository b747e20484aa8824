"""The digits in model units: scikit-learn's bundled ``load_digits`` (1797 real 8 × 8 images, 10 classes, no
download), pixels p ∈ 0..16 mapped linearly to ``scale`` = (lo, hi): x = lo + (hi − lo) p / 16, d = 64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gmmtheory._checks import check_count
from gmmtheory.bridge.digits.checks import _check_float, _check_scale

DIGITS_D = 64
NUM_CLASSES = 10
PIXEL_MAX = 16.0


@dataclass(frozen=True)
class DigitsData:
    """The digits in model units.

    x, labels: training images (n, 64) float64 and labels (n,) int64; x_test, labels_test: the held-out split
    ((0, 64) and (0,) when ``test_fraction`` = 0); scale: (lo, hi), pixel p ∈ 0..16 ↦ lo + (hi − lo) p / 16.
    """

    x: np.ndarray
    labels: np.ndarray
    x_test: np.ndarray
    labels_test: np.ndarray
    scale: tuple[float, float]

    @property
    def sigma_data(self) -> float:
        """σ_d: the standard deviation of all training pixels (EDM's preconditioning constant)."""
        return float(np.std(self.x))


def load_digits_data(
    *, scale: Sequence[float] = (-1.0, 1.0), test_fraction: float = 0.0, seed: int = 0
) -> DigitsData:
    """scikit-learn's ``load_digits`` (1797 images 8 × 8, bundled, no download) as (n, 64) arrays in ``scale``.

    Args:
        scale: (lo, hi); pixel values p ∈ {0, …, 16} map to lo + (hi − lo) p/16.
        test_fraction: share held out (stratified by class, ``sklearn.model_selection.train_test_split``), in [0, 1).
        seed: seed of the split.
    """
    from sklearn.datasets import load_digits  # noqa: PLC0415 (optional heavy dependency)

    lo, hi = _check_scale(scale)
    frac = _check_float(test_fraction, "test_fraction", 0.0, 1.0, open_hi=True)
    check_count("seed", seed, 0)
    X, y = load_digits(return_X_y=True)
    X = lo + (hi - lo) * X.astype(np.float64) / PIXEL_MAX
    y = y.astype(np.int64)
    if frac > 0:
        from sklearn.model_selection import train_test_split  # noqa: PLC0415 (optional heavy dependency)

        X, Xt, y, yt = train_test_split(X, y, test_size=frac, random_state=int(seed), stratify=y)
    else:
        Xt, yt = np.zeros((0, DIGITS_D)), np.zeros(0, dtype=np.int64)
    return DigitsData(X, y, Xt, yt, (lo, hi))
