"""The exact reduction of a Gaussian mixture to the span of its means: the coordinates every class posterior needs.

Let Q (d, r) be an orthonormal basis of S = span{μ_1, …, μ_K} (uncentred, so r ≤ K; when every mean is 0, one
eigen-direction of the covariance stands in, r = 1), u = Qᵀx ∈ R^r the coordinates in S and x⊥ = (I − QQᵀ) x the
rest. Under X_t = a X_0 + σ ε the class-k density of x factorises exactly in two cases:

- ``kind="shared"``: one covariance Σ for every class with Σ S ⊂ S (S invariant; always true for Σ = s²I). Then
  p_t(x | k) = N(u; a m_k, a² QᵀΣQ + σ² I_r) · N(x⊥; 0, a² Σ⊥ + σ² I), m_k = Qᵀμ_k: the second factor is the same
  for every class, so p_t(k | x) depends on u alone, and the orthogonal part of every sampler (whose drift is
  linear in x⊥ and class-independent) is a linear Gaussian recursion per eigenvalue of Σ⊥ (``orth_evals`` with
  ``orth_mult``: the spectrum of Σ on S⊥ and its multiplicities, summing to d − r).
- ``kind="radial"``: per-class isotropic covariances Σ_k = v_k I. Then
  log p_t(x | k) = log N(u; a m_k, c_k I_r) − (d − r)/2 · log(2π c_k) − ρ / (2 c_k),  c_k = a² v_k + σ²,
  ρ = |x⊥|²: the posterior depends on (u, ρ), one extra radial coordinate (``orthogonal_loglik``), and x⊥ keeps
  its direction under every sampler's drift, so ρ has an exact one-dimensional recursion.

Every other mixture (per-class diagonal or full covariances, a shared covariance that mixes S with S⊥) does not
reduce, and ``reduce_mixture`` says why. ``Reduction.mixture`` is the r-dimensional mixture of u (means m_k,
covariance QᵀΣQ or v_k I_r, the same weights): its posterior, denoisers and entropy are the full mixture's (shared
kind), or are completed by ``orthogonal_loglik`` (radial kind).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from gmmtheory.mixture import GaussianMixture

__all__ = ["Reduction", "reduce_mixture", "reduction_reason"]

ReductionKind = Literal["shared", "radial"]
_SPAN_RTOL = 1e-10  # singular values of the means below this × the largest are dropped from the span
_INVARIANCE_RTOL = 1e-9  # |ΣQ − Q(QᵀΣQ)| ≤ this × max|Σ| × √d counts as an invariant span


@dataclass(frozen=True, repr=False)
class Reduction:
    """A mixture reduced to the span S of its means (see the module docstring).

    Attributes:
        kind: "shared" (the posterior depends on u = Qᵀx alone) or "radial" (on u and ρ = |x⊥|²).
        basis: Q (d, r), orthonormal columns spanning S.
        mixture: the r-dimensional mixture of u (means Qᵀμ_k, covariance QᵀΣQ or v_k I_r, weights π_k).
        orth_evals, orth_mult: "shared": the distinct eigenvalues of Σ on S⊥ and their multiplicities (sum d − r);
            "radial": empty.
        orth_var: "radial": the per-class variances v_k (K,); "shared": empty.
    """

    kind: ReductionKind
    basis: np.ndarray
    mixture: GaussianMixture
    orth_evals: np.ndarray
    orth_mult: np.ndarray
    orth_var: np.ndarray

    @property
    def d(self) -> int:
        return int(self.basis.shape[0])

    @property
    def r(self) -> int:
        return int(self.basis.shape[1])

    @property
    def orth_dim(self) -> int:
        """d − r, the dimension of S⊥."""
        return self.d - self.r

    def orthogonal_loglik(self, a, s2, rho) -> jax.Array:
        """The class-dependent part of log p_t(x⊥ | k), shape (..., K): −(d − r)/2 · log c_k − ρ/(2 c_k) with
        c_k = a² v_k + σ² ("radial"; the common −(d − r)/2 · log 2π is left out, it cancels in every posterior);
        zeros for "shared" (x⊥ carries no class information). ``a``, ``s2`` = σ², ``rho`` = |x⊥|²: scalars or
        arrays of shapes that broadcast to (...,) (numpy or jax; jit-traceable)."""
        a, s2, rho = (jnp.asarray(v)[..., None] for v in (a, s2, rho))
        if self.kind == "shared":
            return jnp.zeros(jnp.broadcast_shapes(a.shape, s2.shape, rho.shape)[:-1] + (self.mixture.K,))
        c = a * a * jnp.asarray(self.orth_var) + s2
        return -0.5 * self.orth_dim * jnp.log(c) - 0.5 * rho / c

    def __repr__(self) -> str:
        return f"Reduction(kind={self.kind!r}, d={self.d}, r={self.r}, K={self.mixture.K})"


def _span_basis(means: np.ndarray) -> np.ndarray:
    """Orthonormal basis (d, r) of span{μ_k} (r = 0 when every mean is 0)."""
    _, s, vt = np.linalg.svd(means, full_matrices=False)
    keep = s > _SPAN_RTOL * float(s.max(initial=0.0)) if s.size and s.max() > 0 else np.zeros(s.shape, bool)
    return vt[keep].T.copy()


def _multiset_difference(values: np.ndarray, remove: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``values`` left after removing one nearest match for each entry of ``remove``, with
    multiplicities (values within 1e-9 × scale are one value)."""
    left = list(np.sort(values))
    for v in np.sort(remove):
        j = int(np.argmin(np.abs(np.asarray(left) - v)))
        left.pop(j)
    if not left:
        return np.zeros(0), np.zeros(0, np.int64)
    arr = np.asarray(left)
    tol = 1e-9 * max(scale, 1e-300)
    distinct, mult = [arr[0]], [1]
    for v in arr[1:]:
        if abs(v - distinct[-1]) <= tol:
            mult[-1] += 1
        else:
            distinct.append(v)
            mult.append(1)
    return np.asarray(distinct), np.asarray(mult, np.int64)


def _attempt(mixture: GaussianMixture) -> Reduction | str:
    """The reduction, or a one-line reason why the mixture does not reduce."""
    if not isinstance(mixture, GaussianMixture):
        return f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}"
    d = mixture.d
    Q = _span_basis(mixture.means)
    kind = mixture.cov_kind
    if kind == "class_iso" and not mixture.shared_covariance:
        if Q.shape[1] == 0:
            Q = np.eye(d, 1)
        sub = GaussianMixture(mixture.means @ Q, np.asarray(mixture.cov), mixture.weights, cov_kind="class_iso")
        return Reduction("radial", Q, sub, np.zeros(0), np.zeros(0, np.int64), np.asarray(mixture.cov, float))
    if not mixture.shared_covariance:
        return (f"the classes have different {kind.replace('class_', '')} covariances; the reduction needs one "
                "shared covariance (with the span of the means invariant under it) or per-class isotropic ones")
    if kind in ("shared_iso", "class_iso"):
        s2 = float(np.asarray(mixture.cov).reshape(-1)[0])
        if Q.shape[1] == 0:
            Q = np.eye(d, 1)
        r = Q.shape[1]
        sub = GaussianMixture(mixture.means @ Q, s2, mixture.weights)
        ev = np.array([s2]) if d > r else np.zeros(0)
        mult = np.array([d - r], np.int64) if d > r else np.zeros(0, np.int64)
        return Reduction("shared", Q, sub, ev, mult, np.zeros(0))
    if kind == "class_diag":
        v = np.asarray(mixture.cov[0], float)
        full_evals = v
        if Q.shape[1] == 0:
            Q = np.eye(d)[:, [int(np.argmax(v))]]
        SQ = v[:, None] * Q
    else:
        S = np.asarray(mixture.cov if kind == "shared_full" else mixture.cov[0], float)
        full_evals = np.linalg.eigvalsh(S)
        if Q.shape[1] == 0:
            Q = np.linalg.eigh(S)[1][:, -1:]
        SQ = S @ Q
    inner = Q.T @ SQ
    scale = float(np.max(np.abs(full_evals), initial=0.0))
    err = float(np.max(np.abs(SQ - Q @ inner), initial=0.0))
    if err > _INVARIANCE_RTOL * max(scale, 1e-300) * np.sqrt(d):
        return (f"the shared covariance mixes the span of the means with its complement (|ΣQ − Q QᵀΣQ| = {err:.3g} "
                f"against |Σ| = {scale:.3g}); the reduction needs ΣS ⊂ S")
    inner = 0.5 * (inner + inner.T)
    sub = GaussianMixture(mixture.means @ Q, inner, mixture.weights, cov_kind="shared_full")
    ev, mult = _multiset_difference(full_evals, np.linalg.eigvalsh(inner), scale)
    return Reduction("shared", Q, sub, ev, mult, np.zeros(0))


def reduce_mixture(mixture: GaussianMixture) -> Reduction:
    """The exact reduction of ``mixture`` to the span of its means (module docstring); a ``ValueError`` that says
    why when it does not reduce."""
    out = _attempt(mixture)
    if isinstance(out, str):
        raise ValueError(f"this mixture has no exact reduction to the span of its means: {out}")
    return out


def reduction_reason(mixture: GaussianMixture) -> str | None:
    """None when ``mixture`` reduces exactly, else the reason it does not (one line)."""
    out = _attempt(mixture)
    return out if isinstance(out, str) else None
