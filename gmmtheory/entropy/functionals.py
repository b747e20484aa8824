"""Posterior functionals: the map from the (group) log-posterior of one draw to the number that is averaged.

Every method produces, for each time and each draw (or quadrature node) and each true class z, the logits
log π_k + ℓ_k(x) of the class posterior. A *functional* f maps the (group) log-posterior vector to a number:

- ``"entropy"``    f = −Σ_B p(B|x) log p(B|x)        → H[Z_P | X_t] = E f
- ``"collision"``  f = Σ_B p(B|x)²                    → φ(t), the clone / U-turn agreement probability
- ``"max"``        f = max_B p(B|x)                   → 1 − Bayes error

Every Monte Carlo method averages the *excess* h = f − f_∞ over a decided posterior, f_∞ = 0 (entropy) or 1
(collision, max), ``DECIDED``, and reports f_∞ + mean h: for the collision probability and the Bayes error near 1 /
near 0 this keeps the small deficit 1 − f resolved instead of rounding it against 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

FUNCTIONALS = ("entropy", "collision", "max")
DECIDED = {"entropy": 0.0, "collision": 1.0, "max": 1.0}  # f_∞: the functional at a decided posterior


def group_log_posterior(logits: Array, membership: Array | None) -> Array:
    """log p(B | x) (..., M) from unnormalised logits (..., K); ``membership`` (K, M) 0/1, or None for labels."""
    log_p = jax.nn.log_softmax(logits, axis=-1)
    if membership is not None:
        log_p = jax.nn.logsumexp(jnp.where(membership > 0, log_p[..., :, None], -jnp.inf), axis=-2)
    return log_p


def apply_functional(logits: Array, membership: Array | None, functional: str) -> Array:
    """f(group log-posterior) from unnormalised logits (..., K); ``membership`` (K, M) 0/1, or None for labels."""
    log_p = group_log_posterior(logits, membership)
    p = jnp.exp(log_p)
    if functional == "entropy":
        return -jnp.sum(jnp.where(p > 0, p * log_p, 0.0), axis=-1)
    if functional == "collision":
        return jnp.sum(p * p, axis=-1)
    if functional == "max":
        return jnp.max(p, axis=-1)
    raise ValueError(f"functional must be one of {FUNCTIONALS}; got {functional!r}")


def functional_excess(logits: Array, membership: Array | None, functional: str) -> Array:
    """h = f − f_∞ (f_∞ = ``DECIDED[functional]``) from unnormalised logits (..., K), computed without cancellation:

    entropy: −Σ_B p_B log p_B;   collision: Σ_p² − 1 = −Σ_B p_B (1 − p_B);   max: max_B p_B − 1 = expm1(max_B log p_B).
    """
    if functional == "entropy":
        return apply_functional(logits, membership, functional)
    log_p = group_log_posterior(logits, membership)
    if functional == "collision":
        return jnp.sum(jnp.exp(log_p) * jnp.expm1(log_p), axis=-1)
    if functional == "max":
        return jnp.expm1(jnp.max(log_p, axis=-1))
    raise ValueError(f"functional must be one of {FUNCTIONALS}; got {functional!r}")


def membership_or_none(partition) -> np.ndarray | None:
    """The (K, M) membership matrix, or None for the identity partition (no aggregation needed)."""
    m = partition.membership()
    return None if m.shape[0] == m.shape[1] and np.array_equal(m, np.eye(m.shape[0])) else m


def n_groups(membership: np.ndarray | None) -> int:
    """M, the number of groups of a membership matrix (0 for the labels themselves, ``membership=None``)."""
    return 0 if membership is None else int(np.shape(membership)[1])
