"""Exact posterior quantities of a Gaussian mixture under a forward process.

Given X_t = a X_0 + σ ε with X_0 ~ Σ_k π_k N(μ_k, Σ_k), the class-conditional law is X_t | Z=k ~ N(a μ_k, C_k),
C_k = a² Σ_k + σ² I = U_k diag(c_k) U_kᵀ with c_kj = a² λ_kj + σ². With r_k = U_kᵀ (x − a μ_k):

- component log-likelihood  ℓ_k(x) = −½ Σ_j r_kj²/c_kj − ½ Σ_j log c_kj − (d/2) log 2π;
- class posterior           p_t(k | x) = softmax_k(log π_k + ℓ_k(x)); for a partition, p(B | x) = Σ_{k∈B} p(k | x);
- log density               log p_t(x) = logsumexp_k(log π_k + ℓ_k(x));
- conditional denoiser      x̂_0(x, k) = μ_k + a Σ_k C_k⁻¹ (x − a μ_k) = μ_k + U_k (a λ_k / c_k ⊙ r_k);
- unconditional denoiser    x̂_0(x) = Σ_k p_t(k | x) x̂_0(x, k) (group-conditional: the sum restricted to B);
- score                     ∇ log p_t(x) = (a x̂_0(x) − x)/σ²;  noise prediction ε̂ = (x − a x̂_0(x))/σ.

Everything is computed in log space (log_softmax / logsumexp), so separated classes and tiny weights are stable.
x has shape (..., d); t is a scalar or an array broadcastable to x.shape[:-1]. The functions are jit/vmap
friendly in x and t; the mixture's eigendecomposition is computed once (``GaussianMixture.spectrum``).

Validation happens before any jax work (so before any XLA compilation) and raises ``ValueError``: the shape of x,
the type of t (strings, booleans and complex numbers are refused; values of t are not checked, since t may be a
tracer — use ``Process.check_times`` for that), and ``label``: an int, or an integer array whose values must lie in
0..K−1 (0..M−1 with a partition). Concrete labels (Python ints, numpy arrays, concrete jax arrays) are checked
eagerly; a label that is a jax tracer (inside ``jax.jit``/``vmap``) can only be checked for its integer dtype and
shape, and an out-of-range traced label follows jax's indexing rules (negative values count from the end, values
≥ K are clamped to the last label) without an error — validate labels before entering jit.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from gmmtheory._types import (
    Basis,
    BatchTimes,
    GroupPriors,
    InBases,
    Labels,
    LogProbs,
    PerComponent,
    PerComponentPoints,
    PerGroup,
    PerPoint,
    Points,
    PointsOut,
    Posterior,
    Residuals,
    Scales,
)
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.processes import Process, get_process


class MixtureArrays(NamedTuple):
    """A mixture as a pytree of arrays in the components' eigenbases (see ``mixture_arrays``).

    means (K, d); log_weights (K,); evals (K, d) eigenvalues λ_kj; basis None, (d, d) or (K, d, d);
    means_own (K, d) = U_kᵀ μ_k (each mean in its own component's basis).
    """

    means: Array
    log_weights: Array
    evals: Array
    basis: Array | None
    means_own: Array


def mixture_arrays(mixture: GaussianMixture) -> MixtureArrays:
    """The arrays the exact formulas need, as jax arrays in the current default float precision."""
    host = _host_arrays(mixture)
    return MixtureArrays(*(None if a is None else jnp.asarray(a) for a in host))


@functools.lru_cache(maxsize=32)
def _host_arrays(mixture: GaussianMixture) -> tuple[np.ndarray | None, ...]:
    evals, basis = mixture.spectrum
    with np.errstate(divide="ignore"):
        log_w = np.log(mixture.weights)
    if basis is None:
        own = mixture.means
    elif basis.ndim == 2:
        own = mixture.means @ basis
    else:
        own = np.einsum("kj,kjl->kl", mixture.means, basis)
    return mixture.means, log_w, evals, basis, own


def to_bases(basis: Basis | None, v: Points) -> InBases:
    """Coordinates of v (..., d) in every component basis: (..., K, d), or (..., 1, d) when the basis is shared."""
    if basis is None:
        return v[..., None, :]
    if basis.ndim == 2:
        return (v @ basis)[..., None, :]
    return jnp.einsum("...j,kjl->...kl", v, basis)


def from_bases(basis: Basis | None, r: InBases) -> InBases:
    """Inverse of ``to_bases`` applied per component: (..., K, d) eigen-coordinates → (..., K, d) standard ones."""
    if basis is None:
        return r
    if basis.ndim == 2:
        return r @ basis.T
    return jnp.einsum("...kl,kjl->...kj", r, basis)


def _a_s2(process: Process, t: object, batch_shape: tuple[int, ...]) -> tuple[Array, Array]:
    t = jnp.asarray(t, dtype=jnp.result_type(float))
    a = jnp.broadcast_to(process.alpha(t), batch_shape)
    s = jnp.broadcast_to(process.sigma(t), batch_shape)
    return a, s * s


def residuals(arr: MixtureArrays, a: Scales, s2: Scales, x: Points) -> tuple[PerComponentPoints, PerComponentPoints]:
    """r_k = U_kᵀ(x − a μ_k) of shape (..., K, d) and c_k = a² λ_k + σ² of shape (..., K, d)."""
    a_ = a[..., None, None]
    r = to_bases(arr.basis, x) - a_ * arr.means_own
    c = a_**2 * arr.evals + s2[..., None, None]
    return r, c


def loglik_from_residuals(r: Residuals, c: Residuals) -> PerComponent:
    """ℓ_k = −½ Σ_j r_kj²/c_kj − ½ Σ_j log c_kj − (d/2) log 2π from ``residuals``' (r, c): (..., K, d) → (..., K)."""
    d = r.shape[-1]
    return -0.5 * jnp.sum(r * r / c, axis=-1) - 0.5 * jnp.sum(jnp.log(c), axis=-1) - 0.5 * d * math.log(2 * math.pi)


def _check_x_t(mixture: GaussianMixture, t: object, x: object) -> tuple[int, ...]:
    """Eager checks of x's shape and t's type (no jax work, tracer-safe); returns x's shape."""
    try:
        shape = tuple(np.shape(x))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"x must be an array of shape (..., {mixture.d}); got {type(x).__name__}: {exc}") from None
    if shape[-1:] != (mixture.d,):
        raise ValueError(f"x must have shape (..., {mixture.d}) to match the mixture's dimension; got {shape}")
    if isinstance(t, (str, bytes, bool, np.bool_, complex, np.complexfloating)):
        raise ValueError(f"t must be a real number or an array of real numbers; got {type(t).__name__} {t!r}")
    kind = _dtype_kind(t)
    if kind is not None and kind in "bcUSO":
        raise ValueError(f"t must be a real number or an array of real numbers; got an array of dtype kind {kind!r}")
    return shape


def _dtype_kind(value: object) -> str | None:
    """The numpy dtype kind of ``value`` (its own dtype, or that of np.asarray for lists); None when unknown."""
    dtype = getattr(value, "dtype", None)
    if dtype is None and isinstance(value, (list, tuple)):
        try:
            dtype = np.asarray(value).dtype
        except (TypeError, ValueError):  # e.g. a list holding tracers
            return None
    try:
        return None if dtype is None else np.dtype(dtype).kind
    except TypeError:
        return None


def _check_label(label: object, n_labels: int, batch_shape: tuple[int, ...]) -> None:
    """Eager check of a label: integer, broadcastable to the batch shape, values in 0..n_labels−1 when concrete."""
    if isinstance(label, (bool, np.bool_)):
        raise ValueError(f"label must be an integer in 0..{n_labels - 1} or an integer array; got {label!r}")
    if isinstance(label, (int, np.integer)):
        if not 0 <= int(label) < n_labels:
            raise ValueError(f"label must be in 0..{n_labels - 1}; got {label}")
        return
    try:
        shape = tuple(np.shape(label))
    except (TypeError, ValueError):
        raise ValueError(f"label must be an integer or an integer array; got {type(label).__name__}") from None
    kind = _dtype_kind(label)
    if kind is None or kind not in "iu":
        raise ValueError(f"label must be an integer or an integer array; got {type(label).__name__} of dtype kind "
                         f"{kind!r}")
    try:
        ok = np.broadcast_shapes(shape, batch_shape) == batch_shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"label must be broadcastable to x.shape[:-1] = {batch_shape}; got shape {shape}")
    if isinstance(label, jax.core.Tracer):
        return  # traced: values are unknown here (see the module docstring)
    values = np.asarray(label)
    bad = values[(values < 0) | (values >= n_labels)]
    if bad.size:
        raise ValueError(
            f"label must lie in 0..{n_labels - 1}; got {bad.size} value(s) outside, e.g. {np.unique(bad)[:5].tolist()}"
        )


def _prep(mixture: GaussianMixture, process: Process | str, t: object, x: object, label: object | None = None,
          part: Partition | None = None) -> tuple[MixtureArrays, Array, Array, Array]:
    """The one eager check of x, t (``_check_x_t``) and ``label`` (against the labels, or the groups of ``part``),
    before any jax work; then the arrays every formula needs: the mixture's arrays, a(t) and σ(t)² broadcast to
    x.shape[:-1], and x as a float array. ``process`` may be a name (``get_process``)."""
    shape = _check_x_t(mixture, t, x)
    if label is not None:
        _check_label(label, mixture.K if part is None else part.M, shape[:-1])
    if isinstance(process, str):
        process = get_process(process)
    x = jnp.asarray(x, dtype=jnp.result_type(float))
    a, s2 = _a_s2(process, t, x.shape[:-1])
    return mixture_arrays(mixture), a, s2, x


def component_log_likelihoods(mixture: GaussianMixture, process: Process, t: BatchTimes, x: Points) -> PerComponent:
    """ℓ_k(x) = log N(x; a μ_k, a² Σ_k + σ² I) for every component: shape (..., K)."""
    arr, a, s2, x = _prep(mixture, process, t, x)
    return loglik_from_residuals(*residuals(arr, a, s2, x))


def group_log_probs(log_p: LogProbs, partition: Partition) -> PerGroup:
    """log p(B | x) = logsumexp_{k ∈ B} log p(k | x): (..., K) → (..., M)."""
    mask = jnp.asarray(partition.membership()) > 0
    expanded = jnp.where(mask, log_p[..., :, None], -jnp.inf)
    return jax.nn.logsumexp(expanded, axis=-2)


def log_class_posterior(
    mixture: GaussianMixture, process: Process, t: BatchTimes, x: Points, partition: Partition | None = None
) -> Posterior:
    """log p_t(k | x), shape (..., K); with a partition, log p_t(B | x), shape (..., M)."""
    part = None if partition is None else check_partition(partition, mixture.K)
    arr, a, s2, x = _prep(mixture, process, t, x)
    log_p = jax.nn.log_softmax(arr.log_weights + loglik_from_residuals(*residuals(arr, a, s2, x)), axis=-1)
    return log_p if part is None else group_log_probs(log_p, part)


def class_posterior(
    mixture: GaussianMixture, process: Process, t: BatchTimes, x: Points, partition: Partition | None = None
) -> Posterior:
    """p_t(k | x) (or p_t(B | x) for a partition)."""
    return jnp.exp(log_class_posterior(mixture, process, t, x, partition))


def log_density(mixture: GaussianMixture, process: Process, t: BatchTimes, x: Points) -> PerPoint:
    """log p_t(x) = logsumexp_k(log π_k + ℓ_k(x)), shape (...)."""
    arr, a, s2, x = _prep(mixture, process, t, x)
    return jax.nn.logsumexp(arr.log_weights + loglik_from_residuals(*residuals(arr, a, s2, x)), axis=-1)


def conditional_denoisers(
    mixture: GaussianMixture, process: Process, t: BatchTimes, x: Points
) -> PerComponentPoints:
    """x̂_0(x, k) = E[X_0 | X_t = x, Z = k] for every k: shape (..., K, d)."""
    arr, a, s2, x = _prep(mixture, process, t, x)
    return loglik_and_denoisers(arr, a, s2, x)[1]


def loglik_and_denoisers(
    arr: MixtureArrays, a: Scales, s2: Scales, x: Points
) -> tuple[PerComponent, PerComponentPoints]:
    """Component log-likelihoods (..., K) and conditional denoisers (..., K, d)."""
    r, c = residuals(arr, a, s2, x)
    dens = arr.means + from_bases(arr.basis, a[..., None, None] * arr.evals / c * r)
    return loglik_from_residuals(r, c), dens


def denoiser(
    mixture: GaussianMixture,
    process: Process,
    t: BatchTimes,
    x: Points,
    label: Labels | None = None,
    partition: Partition | None = None,
) -> PointsOut:
    """E[X_0 | X_t = x] (label None), E[X_0 | X_t = x, Z = label], or with a partition E[X_0 | X_t = x, Z ∈ B_label].

    ``label`` is an int or an integer array broadcastable to x.shape[:-1], with values in 0..K−1 (0..M−1 with a
    partition); concrete labels are checked eagerly, traced ones cannot be (module docstring). Shape (..., d).
    """
    part = None if partition is None else check_partition(partition, mixture.K)
    arr, a, s2, x = _prep(mixture, process, t, x, label, part)
    return _denoise(mixture, arr, a, s2, x, label, part)


def _denoise(mixture: GaussianMixture, arr: MixtureArrays, a: Array, s2: Array, x: Array, label: object | None,
             part: Partition | None) -> Array:
    """The (group-)conditional or unconditional denoiser from checked arrays (``_prep``): shape (..., d)."""
    loglik, dens = loglik_and_denoisers(arr, a, s2, x)
    if label is None:
        weights = jax.nn.softmax(arr.log_weights + loglik, axis=-1)
    else:
        lab = jnp.broadcast_to(jnp.asarray(label), x.shape[:-1])
        # Within the group B: p(k | x, B) ∝ π_k N(x; aμ_k, C_k) (uniform prior weights if π_B = 0).
        weights = jax.nn.softmax(jnp.asarray(group_log_priors(mixture, part))[lab] + loglik, axis=-1)
    return jnp.einsum("...k,...kd->...d", weights, dens)


def group_log_priors(mixture: GaussianMixture, partition: Partition | None) -> GroupPriors:
    """(M, K) table: log π_k for k in group m (0 for every member if the group has zero mass), −inf outside."""
    part = Partition.identity(mixture.K) if partition is None else partition
    member = part.membership().T > 0  # (M, K)
    with np.errstate(divide="ignore"):
        log_w = np.log(mixture.weights)
    mass = member @ mixture.weights
    inside = np.where(mass[:, None] > 0, log_w[None, :], 0.0)
    return np.where(member, inside, -np.inf)


def score(
    mixture: GaussianMixture, process: Process, t: BatchTimes, x: Points, label: Labels | None = None
) -> PointsOut:
    """∇_x log p_t(x) = (a x̂_0(x) − x)/σ² (or the class-conditional score when ``label`` is given)."""
    arr, a, s2, x = _prep(mixture, process, t, x, label, None)
    xhat = _denoise(mixture, arr, a, s2, x, label, None)
    return (a[..., None] * xhat - x) / s2[..., None]


def eps_prediction(
    mixture: GaussianMixture, process: Process, t: BatchTimes, x: Points, label: Labels | None = None
) -> PointsOut:
    """ε̂(x) = E[ε | X_t = x] = (x − a x̂_0(x))/σ (class-conditional when ``label`` is given)."""
    arr, a, s2, x = _prep(mixture, process, t, x, label, None)
    xhat = _denoise(mixture, arr, a, s2, x, label, None)
    return (x - a[..., None] * xhat) / jnp.sqrt(s2)[..., None]
