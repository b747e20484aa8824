"""The result of every entropy-type estimate, and the rare-event flag of Monte Carlo results.

``EntropyResult`` holds an estimate over a time grid (value, standard error, method, quantity, draws, extras).

Rare events. Where H (or φ's deficit, or the Bayes error) is tiny, almost every draw carries h ≈ 0 and the mean is
made by a few draws; the sample variance of such a mean is not a trustworthy error bar. Each Monte Carlo result
carries the *informative draws*

    n_inf = (Σ_i h_i)² / Σ_i h_i²

(the effective number of draws that carry the mean; n_inf = n when all h_i are equal, 1 when one draw carries it,
0 when none does). Where n_inf < ``RARE_DRAWS`` at some time (and the answer is not trivially 0: two or more groups
with positive weight) the result is flagged, ``EntropyResult.extra["rare_event"] = True``, with
``extra["informative_draws"]`` (per time), and a ``RareEventWarning`` is issued. The reduced method for shared
covariances samples with importance sampling along the class directions (``entropy.reduced``), which keeps n_inf
large at rare-event times.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np

RARE_DRAWS = 30.0  # fewer informative draws than this at some time: the result is flagged as a rare event


@dataclass(frozen=True)
class EntropyResult:
    """An estimate over a time grid.

    Attributes:
        t: the times (float64 numpy, scalar or 1-D as given).
        value: the estimate at each time (same shape as t).
        stderr: its Monte Carlo standard error (0 for exact methods).
        method: the method that produced it ("quadrature", "reduced", "montecarlo").
        quantity: what was estimated ("entropy", "collision", "max", "mutual_information", "bayes_error", ...).
        n_samples: draws used (quadrature: nodes).
        extra: method-specific details (``informative_draws``, ``rare_event``, ``wrt``, ...).
    """

    t: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    method: str
    quantity: str = "entropy"
    n_samples: int = 0
    extra: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        v = np.atleast_1d(self.value)
        return (
            f"EntropyResult(quantity={self.quantity!r}, method={self.method!r}, n_times={v.size}, "
            f"n_samples={self.n_samples}, value[0]={v[0]:.6g})"
        )

    def as_dict(self) -> dict:
        """The fields as a plain dict (arrays as given, ``extra`` copied one level deep)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["extra"] = dict(self.extra)
        return out


class RareEventWarning(UserWarning):
    """A Monte Carlo estimate is carried by few draws (see ``informative_draws``): its standard error may be
    overconfident."""


def informative_draws(mean: np.ndarray, m2: np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """n_inf = (Σ h)² / Σ h² from the mean and centred sum of squares M2 of n values h (0 where all h = 0)."""
    mean, m2 = np.asarray(mean, np.float64), np.asarray(m2, np.float64)
    n = np.asarray(n, np.float64)
    total = n * mean
    squares = m2 + n * mean**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(squares > 0, total**2 / np.where(squares > 0, squares, 1.0), 0.0)


def flag_rare_event(extra: dict, n_inf: np.ndarray, times: np.ndarray, trivial: bool, what: str,
                    warn: bool = True) -> None:
    """Record ``informative_draws`` in ``extra`` and, unless the answer is trivial (fewer than two groups with
    positive weight), flag (and, if ``warn``, warn) where fewer than ``RARE_DRAWS`` draws carry the estimate."""
    n_inf = np.asarray(n_inf, np.float64).reshape(np.shape(times))
    extra["informative_draws"] = n_inf
    rare = (not trivial) and bool(np.any(n_inf < RARE_DRAWS))
    extra["rare_event"] = rare
    if rare and warn:
        bad = np.atleast_1d(times)[np.atleast_1d(n_inf) < RARE_DRAWS]
        warnings.warn(
            f"{what}: at {bad.size} time(s) (first t={bad[0]:.6g}) fewer than {RARE_DRAWS:g} draws carry the "
            f"estimate (informative draws {float(np.min(n_inf)):.3g}): a rare event, the standard error may be "
            "overconfident (result.extra['rare_event'] is True). More draws, or method='reduced' with a shared "
            "covariance (importance sampling), or quadrature for K = 2, give an honest error bar.",
            RareEventWarning,
            stacklevel=4,
        )
