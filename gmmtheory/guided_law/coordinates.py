"""The class coordinate of two Gaussians with a shared covariance: the one-dimensional guided dynamics.

For K = 2 classes with one covariance Σ whose mean span is invariant (``reduction`` kind "shared") and whose class
difference Δ = μ_1 − μ_0 is an eigenvector of Σ (Σ Δ = λ Δ; always true for Σ = s²I, and for any invariant span of
rank 1), let e = Δ/|Δ| and y = ⟨e, x⟩. Under X_t = a X_0 + σ ε the class posterior depends on x through y alone:

    log p_t(k | y) = log π_k − (y − a m_k)² / (2C) + const,   m_k = ⟨e, μ_k⟩,  C = a² λ + σ²,

and every sampler's guided denoiser D = Σ_k c_k D_k, c = w_eff δ_z − (w_eff − 1) p_t(· | y) (Σ c_k = 1), has the
e-component

    D(y) = m_c + (a λ / C)(y − a m_c),   m_c = Σ_k c_k m_k,

(D_k = μ_k + a Σ C⁻¹ (x − a μ_k); Σ C⁻¹ maps e to (λ/C) e). The other coordinates of x see class-independent linear
drifts, so their law is Gaussian, independent of y and not needed for any class observable. ``w_eff`` = w inside
the interval σ_lo < σ/a < σ_hi, 1 outside (``dynamics.kernel``).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from gmmtheory.mixture import GaussianMixture
from gmmtheory.reduction import reduce_mixture, reduction_reason

__all__ = ["ClassLine", "class_line", "guided_denoiser", "log_posterior"]

_EIG_RTOL = 1e-9


@dataclass(frozen=True)
class ClassLine:
    """The class coordinate y = ⟨e, x⟩ of a reducible two-class mixture: class means ``means`` = (m_0, m_1),
    within-class variance ``lam`` = eᵀΣe, prior ``weights`` (π_0, π_1)."""

    means: np.ndarray
    lam: float
    weights: np.ndarray

    @property
    def half_gap(self) -> float:
        """|μ_1 − μ_0| / 2 (the only way d enters)."""
        return 0.5 * abs(float(self.means[1] - self.means[0]))

    @property
    def centre(self) -> float:
        """⟨e, μ̄⟩ with μ̄ = Σ π_k μ_k."""
        return float(self.weights @ self.means)


def class_line(mixture: object) -> ClassLine:
    """The class coordinate of ``mixture`` (validated: a GaussianMixture of two classes, reduction kind "shared",
    Δ an eigenvector of Σ); ValueError naming what fails otherwise.

    The reduction (an SVD of the (2, d) means, O(d): 0.45 s at d = 10⁶) is done once per mixture object and the
    result kept while the mixture lives (``GaussianMixture`` is frozen with read-only arrays, so it cannot change);
    a sweep of ``sampler_law`` / ``guided_law`` over w or intervals on one mixture pays it once."""
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a GaussianMixture; got {type(mixture).__name__}")
    line = _LINES.get(mixture)
    if line is None:
        line = _class_line(mixture)
        _LINES[mixture] = line
    return line


_LINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # mixture → its ClassLine (identity-keyed)


def _class_line(mixture: GaussianMixture) -> ClassLine:
    if mixture.K != 2:
        raise ValueError(f"mixture must have exactly 2 classes for the exact guided law; got K={mixture.K}")
    try:
        red = reduce_mixture(mixture)
    except ValueError:
        raise ValueError(f"mixture does not reduce to the span of its means: {reduction_reason(mixture)}") from None
    if red.kind != "shared":
        raise ValueError(f"mixture must have one shared covariance (reduction kind 'shared'); got kind={red.kind!r}")
    sub = red.mixture
    M = np.asarray(sub.means, float)
    diff = M[1] - M[0]
    nrm = float(np.linalg.norm(diff))
    if nrm == 0.0:
        raise ValueError("mixture's two class means coincide; there is no class direction")
    e = diff / nrm
    S = np.asarray(sub.component_covariances()[0], float)
    Se = S @ e
    lam = float(e @ Se)
    if np.max(np.abs(Se - lam * e)) > _EIG_RTOL * max(1.0, float(np.max(np.abs(S)))):
        raise ValueError("mixture's class difference μ_1 − μ_0 is not an eigenvector of the covariance; the class "
                         "coordinate does not decouple (use dynamics.simulate)")
    means, weights = np.array([float(M[0] @ e), float(M[1] @ e)]), np.asarray(sub.weights, float).copy()
    means.setflags(write=False)  # the line is shared by every caller of the cache
    weights.setflags(write=False)
    return ClassLine(means, lam, weights)


def log_posterior(line: ClassLine, y: np.ndarray, a: float, s2: float) -> np.ndarray:
    """log p_t(k | y) for y (n,), shape (n, 2): log π_k − (y − a m_k)²/(2(a²λ + σ²)), normalised."""
    C = a * a * line.lam + s2
    lg = np.log(line.weights)[None, :] - (np.asarray(y)[:, None] - a * line.means[None, :]) ** 2 / (2.0 * C)
    mx = lg.max(axis=1, keepdims=True)
    return lg - (mx + np.log(np.exp(lg - mx).sum(axis=1, keepdims=True)))


def guided_denoiser(line: ClassLine, y: np.ndarray, a: float, s2: float, w_eff: float, z: int) -> np.ndarray:
    """The e-component of the guided denoiser D_z + (w_eff − 1)(D_z − D_u) at y (n,) in the frame (a, σ² = s2)."""
    C = a * a * line.lam + s2
    p1 = np.exp(log_posterior(line, y, a, s2)[:, 1])
    c1 = w_eff * float(z == 1) - (w_eff - 1.0) * p1
    mc = line.means[0] + c1 * (line.means[1] - line.means[0])
    return mc + (a * line.lam / C) * (y - a * mc)


def w_effective(w: float, interval: tuple[float, float], sigma: float) -> float:
    """w inside σ_lo < σ < σ_hi (σ = VE-equivalent σ/a), else 1."""
    return w if interval[0] < sigma < interval[1] else 1.0
