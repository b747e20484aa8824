"""Pieces shared by the entropy methods: the result type, posterior functionals and stratified reductions.

Every method produces, for each time and each draw (or quadrature node) and each true class z, the logits
log π_k + ℓ_k(x) of the class posterior. A *functional* f maps the (group) log-posterior vector to a number:

- ``"entropy"``    f = −Σ_B p(B|x) log p(B|x)        → H[Z_P | X_t] = E f
- ``"collision"``  f = Σ_B p(B|x)²                    → φ(t), the clone / U-turn agreement probability
- ``"max"``        f = max_B p(B|x)                   → 1 − Bayes error

The expectation over x ~ p_t is stratified by the true class: E f = Σ_z π_z E[f | Z = z].

Every Monte Carlo method averages the *excess* h = f − f_∞ over a decided posterior, f_∞ = 0 (entropy) or 1
(collision, max), and reports f_∞ + mean h: for the collision probability and the Bayes error near 1 / near 0 this
keeps the small deficit 1 − f resolved instead of rounding it against 1.

Invariances used by every method:

- translation: H, φ and the Bayes error do not change when every mean is shifted by the same vector, so the engines
  work on the mixture centred at Σ_k π_k μ_k (``centred``): a common offset c of the means (|c| ≫ the spread)
  would otherwise cancel catastrophically in a²μᵀC⁻¹μ-type terms;
- scale: the posterior depends on (a(t), σ(t)) only through the SNR a²/σ², so the engines receive the pair
  (a, σ)/√(a² + σ²) (``unit_coefficients``): no σ² overflows (EDM σ ≳ 1e154) and none underflows; as a²/σ² → 0 the
  posterior is the prior and the methods return H[Z_P], Σ_B π_B² and 1 − max_B π_B.

Rare events. Where H (or φ's deficit, or the Bayes error) is tiny, almost every draw carries h ≈ 0 and the mean is
made by a few draws; the sample variance of such a mean is not a trustworthy error bar. Each Monte Carlo result
carries the *informative draws* n_inf = (Σ_i h_i)² / Σ_i h_i² (the effective number of draws that carry the mean;
n_inf = n when all h_i are equal, 1 when one draw carries it, 0 when none does). Where n_inf < ``RARE_DRAWS`` at
some time (and the answer is not trivially 0: two or more groups with positive weight) the result is flagged,
``EntropyResult.extra["rare_event"] = True``, with ``extra["informative_draws"]`` (per time), and a
``RareEventWarning`` is issued. The reduced method for shared covariances samples with importance sampling along
the class directions (``entropy.reduced``), which keeps n_inf large at rare-event times.
"""

from __future__ import annotations

import warnings
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


DECIDED = {"entropy": 0.0, "collision": 1.0, "max": 1.0}  # f_∞: the functional at a decided posterior
RARE_DRAWS = 30.0  # fewer informative draws than this at some time: the result is flagged as a rare event


class RareEventWarning(UserWarning):
    """A Monte Carlo estimate is carried by few draws (see ``informative_draws``): its standard error may be
    overconfident."""


def functional_excess(logits: Array, membership: Array | None, functional: str) -> Array:
    """h = f − f_∞ (f_∞ = ``DECIDED[functional]``) from unnormalised logits (..., K), computed without cancellation:

    entropy: −Σ_B p_B log p_B;   collision: Σ_p² − 1 = −Σ_B p_B (1 − p_B);   max: max_B p_B − 1 = expm1(max_B log p_B).
    """
    if functional == "entropy":
        return apply_functional(logits, membership, functional)
    log_p = jax.nn.log_softmax(logits, axis=-1)
    if membership is not None:
        log_p = jax.nn.logsumexp(jnp.where(membership > 0, log_p[..., :, None], -jnp.inf), axis=-2)
    if functional == "collision":
        return jnp.sum(jnp.exp(log_p) * jnp.expm1(log_p), axis=-1)
    if functional == "max":
        return jnp.expm1(jnp.max(log_p, axis=-1))
    raise ValueError(f"functional must be one of {FUNCTIONALS}; got {functional!r}")


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


def centred(mixture):
    """The mixture translated by −Σ_k π_k μ_k (``GaussianMixture.centred()``: same covariances, weights and spectrum;
    H, φ and the Bayes error unchanged), or ``mixture`` itself when that shift is already exactly 0."""
    return mixture if not np.any(mixture.weights @ mixture.means) else mixture.centred()


def unit_coefficients(process, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, σ²) of ``process`` at ``times`` rescaled to a² + σ² = 1, float64 numpy: â = a/√(a² + σ²), σ̂ = σ/√(a² + σ²).

    The posterior depends on (a, σ) only through a/σ, so this changes no result while keeping every intermediate
    finite (np.hypot does not overflow); at a = σ = 0 (impossible for the processes held) it returns (1, 0).
    """
    from gmmtheory.entropy.api import precision_scope  # noqa: PLC0415 - the api imports this module

    with precision_scope("float64"):
        tt = jnp.asarray(np.atleast_1d(np.asarray(times, np.float64)))
        a = np.abs(np.asarray(process.alpha(tt), np.float64))
        s = np.abs(np.asarray(process.sigma(tt), np.float64))
    norm = np.hypot(a, s)
    ok = norm > 0
    safe = np.where(ok, norm, 1.0)
    return np.where(ok, a / safe, 1.0), np.where(ok, s / safe, 0.0) ** 2


MEMORY_BUDGET = 2**28  # bytes: the working set of one chunk of draws on a CPU (256 MiB), K² terms included
MEMORY_BUDGET_ACCELERATOR = 2**31  # on a GPU/TPU: bigger chunks, fewer sequential steps (2 GiB)


def memory_budget() -> int:
    """Bytes one chunk of a Monte Carlo kernel may hold (``MEMORY_BUDGET`` on a CPU, ``…_ACCELERATOR`` otherwise)."""
    return MEMORY_BUDGET if jax.default_backend() == "cpu" else MEMORY_BUDGET_ACCELERATOR


def pow2_floor(n: int) -> int:
    """The largest power of two ≤ max(n, 1)."""
    return 1 << (max(1, int(n)).bit_length() - 1)


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
    """None → the fixed default key 0 (results are reproducible); otherwise a jax PRNG key.

    Accepted: an int seed (Python or numpy integer, not a bool), a typed key of shape () (``jax.random.key``), or a
    raw key (``jax.random.PRNGKey``): an unsigned 32-bit integer array shaped like the configured default
    implementation's key data ((2,) for threefry). Anything else raises ``ValueError`` naming ``key``."""
    if key is None:
        return jax.random.PRNGKey(0)
    allowed = "an int seed, a typed key from jax.random.key(seed) or a raw uint32 key from jax.random.PRNGKey(seed)"
    if isinstance(key, (bool, np.bool_)):
        raise ValueError(f"key must be {allowed}; got the bool {key!r}")
    if isinstance(key, (int, np.integer)):
        try:
            return jax.random.PRNGKey(int(key))
        except (OverflowError, ValueError, TypeError) as e:
            raise ValueError(f"key must be {allowed}; the int seed {key!r} is out of range ({e})") from None
    dtype = getattr(key, "dtype", None)
    shape = getattr(key, "shape", None)
    if not isinstance(key, (np.ndarray, jax.Array)) or dtype is None:
        raise ValueError(f"key must be {allowed}; got {type(key).__name__} {key!r}")
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if shape != ():
            raise ValueError(f"key must be {allowed}; got an array of typed keys of shape {shape} (pass one key)")
        return key
    raw_shape = tuple(jax.random.PRNGKey(0).shape)
    if np.dtype(dtype) != np.uint32 or tuple(shape) != raw_shape:
        raise ValueError(f"key must be {allowed}; got an array of dtype {np.dtype(dtype)} and shape {tuple(shape)} "
                         f"(a raw key is uint32 of shape {raw_shape})")
    return jnp.asarray(key)


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
