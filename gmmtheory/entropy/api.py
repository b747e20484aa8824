"""The entropy engine: H[Z | X_t], I(Z; X_t), the collision probability φ(t) and the Bayes error, per partition.

All four are expectations over x ~ p_t of a functional of the (group) class posterior p_t(B | x):

    H[Z_P | X_t] = E[−Σ_B p log p],   φ(t) = E[Σ_B p²],   P_e(t) = 1 − E[max_B p],   I(Z_P; X_t) = H[Z_P] − H[Z_P | X_t].

Methods (``method=``):

- ``"quadrature"``: K = 2, shared covariance, any weights — binary channel + Gauss–Hermite (exact, stderr 0);
- ``"reduced"``: shared covariance (any form) or per-class isotropic, any K — samples K numbers (plus a χ²) per
  draw, cost independent of d;
- ``"montecarlo"``: any mixture, full dimension, per-class eigenbases, common random numbers over the time grid;
- ``"auto"``: quadrature if it applies, else reduced if it applies, else Monte Carlo.

All computations run in float64 (``precision="float32"`` trades accuracy for speed in Monte Carlo).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator, TypeVar

import jax
import numpy as np

from gmmtheory.entropy import montecarlo, quadrature, reduced
from gmmtheory.entropy.common import (
    FUNCTIONALS,
    EntropyResult,
    check_key,
    check_method,
    check_n_samples,
    membership_or_none,
)
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.processes import Process, check_times

METHODS = ("auto", "quadrature", "reduced", "montecarlo")
DEFAULT_SAMPLES = {"reduced": 2**16, "montecarlo": 2**14}
T_ = TypeVar("T_")
PRECISIONS = ("float64", "float32")


@contextlib.contextmanager
def precision_scope(precision: str = "float64") -> Iterator[None]:
    """Run jax code inside in float64 (``jax.enable_x64``) or in the default float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    enable = getattr(jax, "enable_x64", None)
    if enable is None:  # older jax
        from jax.experimental import enable_x64 as enable  # type: ignore[no-redef]
    with enable(precision == "float64"):
        yield


def in_float64(fn: Callable[..., T_]) -> Callable[..., T_]:
    """Decorator: run ``fn`` inside ``precision_scope("float64")``, so an engine gives float64 results whether or not
    the caller enabled jax's x64 mode."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T_:
        with precision_scope("float64"):
            return fn(*args, **kwargs)

    return wrapper


def applicable_methods(mixture: GaussianMixture) -> tuple[str, ...]:
    """The exact-in-law methods that apply to this mixture, cheapest first."""
    out = []
    if mixture.K == 2 and mixture.shared_covariance:
        out.append("quadrature")
    if reduced.applies(mixture):
        out.append("reduced")
    out.append("montecarlo")
    return tuple(out)


def resolve_method(mixture: GaussianMixture, method: str) -> str:
    """The method ``method`` stands for on this mixture (``"auto"`` → the cheapest exact one)."""
    check_method(method, METHODS)
    usable = applicable_methods(mixture)
    if method == "auto":
        return usable[0]
    if method not in usable:
        needs = {
            "quadrature": "K = 2 components with a shared covariance",
            "reduced": "a shared covariance or per-class isotropic covariances",
        }[method]
        raise ValueError(
            f"method={method!r} needs {needs}; this mixture has K={mixture.K}, cov_kind={mixture.cov_kind!r}. "
            f"Methods that apply: {usable}"
        )
    return method


def _check_inputs(mixture: object, process: object) -> None:
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    if not isinstance(process, Process):
        raise ValueError(f"process must be a gmmtheory process (OU(), VP(), VE(), EDM(), Flow()); got {process!r}")


def posterior_statistic(
    mixture: GaussianMixture,
    process: Process,
    t: object,
    functional: str,
    *,
    partition: Partition | None = None,
    method: str = "auto",
    n_samples: int | None = None,
    key: object = None,
    n_nodes: int = quadrature.DEFAULT_NODES,
    precision: str = "float64",
) -> EntropyResult:
    """E_{x∼p_t} f(p_t(· | x)) for a functional f in ("entropy", "collision", "max"), validated and dispatched."""
    _check_inputs(mixture, process)
    if functional not in FUNCTIONALS:
        raise ValueError(f"functional must be one of {FUNCTIONALS}; got {functional!r}")
    times = check_times(t, process)
    part = check_partition(partition, mixture.K)
    chosen = resolve_method(mixture, method)
    if mixture.singular and np.any(np.asarray(process.sigma(times)) == 0):
        raise ValueError("t must have σ(t) > 0 for a mixture with singular covariances (e.g. points); t=0 is not allowed")
    memb = membership_or_none(part)
    n = check_n_samples(DEFAULT_SAMPLES.get(chosen, 2) if n_samples is None else n_samples)
    prng = check_key(key)
    if chosen == "quadrature":
        with precision_scope(precision):
            value = quadrature.quadrature_statistic(mixture, process, times, functional, memb, n_nodes)
        stderr, n_used = np.zeros_like(value), int(n_nodes)
    else:
        fn = reduced.reduced_statistic if chosen == "reduced" else montecarlo.montecarlo_statistic
        with precision_scope(precision):
            value, stderr, n_used = fn(mixture, process, times, functional, memb, n, prng)
        value, stderr = value.reshape(times.shape), stderr.reshape(times.shape)
    return EntropyResult(times, np.asarray(value), np.asarray(stderr), chosen, functional, n_used)


def class_entropy(
    mixture: GaussianMixture,
    process: Process,
    t: object,
    *,
    partition: Partition | None = None,
    method: str = "auto",
    n_samples: int | None = None,
    key: object = None,
    precision: str = "float64",
) -> EntropyResult:
    """H[Z_P | X_t] = E_{x∼p_t}[−Σ_B p_t(B | x) log p_t(B | x)] in nats, over the times ``t``.

    Args:
        mixture: the data distribution p_0 = Σ_k π_k N(μ_k, Σ_k).
        process: the forward process (a(t), σ(t)).
        t: a time or a 1-D array of times of ``process`` (validated: finite, inside the process's domain).
        partition: group the labels (Z_P = the group of Z); default: the labels themselves.
        method: "auto", "quadrature", "reduced" or "montecarlo" (see the module docstring).
        n_samples: draws for Monte Carlo methods (default 2¹⁶ reduced, 2¹⁴ Monte Carlo; rounded up to whole chunks).
        key: jax PRNG key or int seed for Monte Carlo methods (default: seed 0, reproducible).
        precision: "float64" (default) or "float32".

    Returns:
        ``EntropyResult`` with ``.value`` and ``.stderr`` shaped like ``t`` and the ``.method`` used.
    """
    return posterior_statistic(
        mixture, process, t, "entropy", partition=partition, method=method, n_samples=n_samples, key=key,
        precision=precision,
    )


def mutual_information(
    mixture: GaussianMixture, process: Process, t: object, *, partition: Partition | None = None, **kwargs
) -> EntropyResult:
    """I(Z_P; X_t) = H[Z_P] − H[Z_P | X_t] (same arguments as ``class_entropy``)."""
    res = class_entropy(mixture, process, t, partition=partition, **kwargs)
    part = check_partition(partition, mixture.K)
    pw = part.group_weights(mixture.weights)
    pw = pw[pw > 0]
    h_prior = float(-np.sum(pw * np.log(pw)))
    return EntropyResult(res.t, h_prior - res.value, res.stderr, res.method, "mutual_information", res.n_samples)


def collision_probability(
    mixture: GaussianMixture, process: Process, t: object, *, partition: Partition | None = None, **kwargs
) -> EntropyResult:
    """φ(t) = E Σ_B p_t(B | x)²: the probability that two clones split at t end in the same group (φ ≥ e^{−H})."""
    return posterior_statistic(mixture, process, t, "collision", partition=partition, **kwargs)


def bayes_error(
    mixture: GaussianMixture, process: Process, t: object, *, partition: Partition | None = None, **kwargs
) -> EntropyResult:
    """P_e(t) = 1 − E max_B p_t(B | x): the error of the optimal classifier of Z_P from X_t."""
    res = posterior_statistic(mixture, process, t, "max", partition=partition, **kwargs)
    return EntropyResult(res.t, 1.0 - res.value, res.stderr, res.method, "bayes_error", res.n_samples)
