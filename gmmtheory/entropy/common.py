"""Pieces shared by the entropy methods: the result type, posterior functionals and stratified reductions.

Every method produces, for each time and each draw (or quadrature node) and each true class z, the logits
log π_k + ℓ_k(x) of the class posterior. A *functional* f maps the (group) log-posterior vector to a number:

- ``"entropy"``    f = −Σ_B p(B|x) log p(B|x)        → H[Z_P | X_t] = E f
- ``"collision"``  f = Σ_B p(B|x)²                    → φ(t), the clone / U-turn agreement probability
- ``"max"``        f = max_B p(B|x)                   → 1 − Bayes error

The expectation over x ~ p_t is stratified by the true class: E f = Σ_z π_z E[f | Z = z].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

FUNCTIONALS = ("entropy", "collision", "max")


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


def apply_functional(logits: Array, membership: Array | None, functional: str) -> Array:
    """f(group log-posterior) from unnormalised logits (..., K); ``membership`` (K, M) 0/1, or None for labels."""
    log_p = jax.nn.log_softmax(logits, axis=-1)
    if membership is not None:
        log_p = jax.nn.logsumexp(jnp.where(membership > 0, log_p[..., :, None], -jnp.inf), axis=-2)
    p = jnp.exp(log_p)
    if functional == "entropy":
        return -jnp.sum(jnp.where(p > 0, p * log_p, 0.0), axis=-1)
    if functional == "collision":
        return jnp.sum(p * p, axis=-1)
    if functional == "max":
        return jnp.max(p, axis=-1)
    raise ValueError(f"functional must be one of {FUNCTIONALS}; got {functional!r}")


def membership_or_none(partition) -> np.ndarray | None:
    """The (K, M) membership matrix, or None for the identity partition (no aggregation needed)."""
    m = partition.membership()
    return None if m.shape[0] == m.shape[1] and np.array_equal(m, np.eye(m.shape[0])) else m


def chunk_moments(values: Array) -> tuple[Array, Array]:
    """Per-time mean and centred sum of squares over draws: values (T, n) → (T,), (T,)."""
    mean = jnp.mean(values, axis=1)
    return mean, jnp.sum((values - mean[:, None]) ** 2, axis=1)


def merge_moments(means: np.ndarray, m2s: np.ndarray, n_chunk: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Chan et al.'s merge of equal-size chunks: (C, T) chunk means and M2 → total mean, M2 and count."""
    C = means.shape[0]
    mean = means.mean(axis=0)
    m2 = m2s.sum(axis=0) + n_chunk * np.sum((means - mean) ** 2, axis=0)
    return mean, m2, C * n_chunk


def log_weights(mixture) -> np.ndarray:
    """log π_k as float64 numpy, −inf for zero weights."""
    with np.errstate(divide="ignore"):
        return np.log(mixture.weights)


def check_method(method: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(method, str) or method not in allowed:
        raise ValueError(f"method must be one of {allowed}; got {method!r}")
    return method


def check_n_samples(n: object, name: str = "n_samples") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) < 2:
        raise ValueError(f"{name} must be an integer ≥ 2; got {n!r}")
    return int(n)


def check_key(key: object) -> Array:
    """None → the fixed default key 0 (results are reproducible); otherwise a jax PRNG key."""
    if key is None:
        return jax.random.PRNGKey(0)
    if isinstance(key, (int, np.integer)):
        return jax.random.PRNGKey(int(key))
    try:
        arr = jnp.asarray(key) if not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    except AttributeError:
        raise ValueError(f"key must be a jax PRNG key (jax.random.key / PRNGKey) or an int seed; got {key!r}") from None
    return arr


def stratified_mean(
    means: np.ndarray, m2s: np.ndarray, counts: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Combine per-class means (K, T) and centred sums of squares (K, T) over counts (K,) draws into the
    stratified estimate Σ_z π_z mean_z and its standard error √(Σ_z π_z² var_z / n_z)."""
    n = counts[:, None].astype(np.float64)
    var = m2s / np.maximum(n - 1, 1)
    value = weights @ means
    stderr = np.sqrt((weights**2) @ (var / n))
    return value, stderr
