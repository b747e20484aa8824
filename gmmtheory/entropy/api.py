"""The entropy engine: H[Z | X_t], I(Z; X_t), the collision probability φ(t) and the Bayes error, per partition.

All four are expectations over x ~ p_t of a functional of the (group) class posterior p_t(B | x):

    H[Z_P | X_t] = E[−Σ_B p log p],  φ(t) = E[Σ_B p²],  P_e(t) = 1 − E[max_B p],  I(Z_P; X_t) = H[Z_P] − H[Z_P | X_t].

Methods (``method=``):

- ``"quadrature"``: K = 2, shared covariance, any weights — binary channel + Gauss–Hermite (exact, stderr 0);
- ``"reduced"``: shared covariance (any form) or per-class isotropic, any K — per draw K numbers (plus a χ²) and K
  posterior evaluations of K logits each, i.e. O(K²) work per draw and time, independent of d; with a shared
  covariance it samples with importance sampling along the class directions (honest error bars for rare events,
  ``entropy.reduced``);
- ``"montecarlo"``: any mixture, full dimension, per-class eigenbases, common random numbers over the time grid —
  O(K·d) work per draw and time (plus (2K + 1)d² per draw for per-class full covariances);
- ``"auto"``: quadrature if it applies; else reduced if it applies and its estimated work is at most
  ``AUTO_RATIO`` (4) times Monte Carlo's, or below ``SMALL_WORK`` (1e10); else Monte Carlo.

Cost model (``estimated_work``, in multiply-add units, n draws, T times, one posterior evaluation of one logit
costs ``C_POSTERIOR`` = 30 units — log-softmax and the functional's exp/log, calibrated against the GEMMs):

    quadrature:       T · 1160 · 2 · C_POSTERIOR          (200 Gauss–Hermite + 960 Gauss–Legendre nodes, both classes)
    reduced, shared:  n · T · K² · (1 + 2 (C_POSTERIOR + 4 + 2M)) + 10 · T · K³    (M^{½}ξ; two posterior
                      evaluations of K logits per stratum with the importance terms; the eigh of M(t))
    reduced, iso:     n · T · K² · (3r + C_POSTERIOR + 2M),  r = min(K, d)
    montecarlo:       n · T · K · (3d + C_POSTERIOR + 2M) + n · ((2K + 1) d² [per-class bases only] + 20 d)

with M the number of groups of a partition (0 for the labels). Measured on one CPU core the units run at
1.5e9–1.1e10 per second (``k_classes(200, 256)``, 16 times: reduced 438 s, Monte Carlo 12 s extrapolated to the
default draws; ``k_classes(10, 1024)``, 64 times: 9.3 s vs 2.9 s, ratio 3.2 < 4, reduced kept).

The factor ``AUTO_RATIO`` reflects the variance: at their default draws (2¹⁶ vs 2¹⁴) the reduced estimator, which
evaluates every stratum on each draw, has at least 4× smaller variance than Monte Carlo (per draw,
Var Σ_z π_z h_z ≤ K Σ_z π_z² Var h_z by Cauchy–Schwarz, the variance of Monte Carlo's n/K draws per class), so up
to that cost ratio it
is at least as cheap per unit of accuracy (and it carries the rare-event importance sampling); beyond it
(e.g. ``k_classes(200, 256)``, where the reduced method took 407 s against 13.5 s) Monte Carlo is chosen.

Work limit. Before any jax work the estimated work and the memory of one chunk are compared with ``max_work``
(default ``DEFAULT_MAX_WORK`` = 1e13 units, roughly an hour on one CPU core) and ``MAX_MEMORY`` (16 GiB); beyond
either the call raises ``ValueError`` stating the estimates. ``max_work=None`` (or a larger number) lifts the
limit explicitly.

Precision. The quadrature, and every logit, posterior functional and reduction of the reduced and Monte Carlo
methods, run in float64 whatever the caller's jax x64 mode; ``precision="float32"`` makes only the Monte Carlo
normal draws and the full-dimensional rotations/contractions (GEMMs) float32, and the reduced method's normal draws.
``precision`` is checked first, before any other work.
"""

from __future__ import annotations

import numpy as np

from gmmtheory._checks import check_choice, check_count, check_key
from gmmtheory._precision import PRECISIONS, check_precision, in_float64, precision_scope  # noqa: F401 - re-exported
from gmmtheory._types import Seed, TimeGrid
from gmmtheory.entropy import montecarlo, quadrature, reduced
from gmmtheory.entropy.functionals import FUNCTIONALS, membership_or_none, n_groups
from gmmtheory.entropy.result import EntropyResult, flag_rare_event
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.processes import Process, check_times

METHODS = ("auto", "quadrature", "reduced", "montecarlo")
DEFAULT_SAMPLES = {"reduced": 2**16, "montecarlo": 2**14}
C_POSTERIOR = 30.0  # multiply-add units per logit through a posterior functional (log-softmax, exp, log)
AUTO_RATIO = 4.0  # auto keeps the reduced method while its estimated work is ≤ AUTO_RATIO × Monte Carlo's
SMALL_WORK = 1e10  # … or below this (a few seconds at most: not worth switching)
DEFAULT_MAX_WORK = 1e13  # refuse estimates beyond this (≈ an hour on one CPU core) unless max_work says otherwise
MAX_MEMORY = 2**34  # bytes of one chunk's working set beyond which a call is refused (unless max_work=None)


def applicable_methods(mixture: GaussianMixture) -> tuple[str, ...]:
    """The exact-in-law methods that apply to this mixture, cheapest first."""
    out = []
    if mixture.K == 2 and mixture.shared_covariance:
        out.append("quadrature")
    if reduced.applies(mixture):
        out.append("reduced")
    out.append("montecarlo")
    return tuple(out)


def estimated_work(
    mixture: GaussianMixture, method: str, n_times: int = 1, n_samples: int | None = None, n_groups: int = 0
) -> float:
    """Estimated work (multiply-add units) of ``method`` ("quadrature", "reduced", "montecarlo") on this mixture over
    ``n_times`` times with ``n_samples`` draws (default: the method's default); the cost model of the module
    docstring. ``n_groups``: groups of a partition (0 for the labels themselves)."""
    K, d, T = mixture.K, mixture.d, max(1, int(n_times))
    if method == "quadrature":
        return T * 1160.0 * 2.0 * C_POSTERIOR
    n = float(DEFAULT_SAMPLES[method] if n_samples is None else n_samples)
    if method == "reduced":
        if mixture.shared_covariance:
            return n * T * K * K * (1.0 + 2.0 * (C_POSTERIOR + 4.0 + 2.0 * n_groups)) + T * 10.0 * K**3
        r = max(1, min(K, d))
        return n * T * K * K * (3.0 * r + C_POSTERIOR + 2.0 * n_groups)
    if method == "montecarlo":
        n = K * float(-(-int(n) // K))  # rounded up to whole strata
        basis = mixture.spectrum.basis
        rotations = (2 * K + 1) * d * d if basis is not None and basis.ndim == 3 else 0
        return n * T * K * (3.0 * d + C_POSTERIOR + 2.0 * n_groups) + n * (rotations + 20.0 * d)
    raise ValueError(f"method must be one of {METHODS[1:]}; got {method!r}")


def estimated_memory(
    mixture: GaussianMixture, method: str, n_times: int = 1, n_samples: int | None = None, n_groups: int = 0
) -> int:
    """Bytes of one chunk's working set as the method will plan it (its ``plan`` and ``chunk_bytes``)."""
    K, d, T = mixture.K, mixture.d, max(1, int(n_times))
    if method == "quadrature":
        return 8 * T * 1160 * 8
    n = int(DEFAULT_SAMPLES[method] if n_samples is None else n_samples)
    if method == "reduced":
        rank = None if mixture.shared_covariance else max(1, min(K, d))
        block, chunk, _ = reduced.plan(n, T, K, rank, n_groups)
        return reduced.chunk_bytes(chunk, block, K, rank, n_groups)
    basis = mixture.spectrum.basis
    per_class = basis is not None and basis.ndim == 3
    block, chunk, _ = montecarlo.plan(-(-n // K), K, d, T, n_groups, per_class)
    return montecarlo.chunk_bytes(chunk, K, d, block, n_groups, per_class)


def resolve_method(
    mixture: GaussianMixture, method: str, *, n_times: int = 1, n_samples: int | None = None, n_groups: int = 0
) -> str:
    """The method ``method`` stands for on this mixture (``"auto"`` → quadrature where it applies, else the reduced
    method unless the cost model (``estimated_work``, over ``n_times`` times with ``n_samples`` draws) puts it above
    ``AUTO_RATIO`` × Monte Carlo's work and above ``SMALL_WORK``, else Monte Carlo)."""
    check_choice("method", method, METHODS)
    usable = applicable_methods(mixture)
    if method == "auto":
        if usable[0] != "reduced":
            return usable[0]
        work = {m: estimated_work(mixture, m, n_times, n_samples, n_groups) for m in ("reduced", "montecarlo")}
        if work["reduced"] <= max(AUTO_RATIO * work["montecarlo"], SMALL_WORK):
            return "reduced"
        return "montecarlo"
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


def check_work(
    mixture: GaussianMixture, method: str, n_times: int, n_samples: int, n_groups: int, max_work: float | None,
    *, work: float | None = None, memory: int | None = None,
) -> None:
    """Refuse a call whose estimated work exceeds ``max_work`` or whose chunk memory exceeds ``MAX_MEMORY``
    (``max_work=None``: no limit), with a message that states the estimates. ``work``/``memory``: estimates made by
    another cost model (the entropy rate's ``estimated_rate_work``; ``memory=None`` then states no memory)."""
    if max_work is None:
        return
    if work is None:
        work = estimated_work(mixture, method, n_times, n_samples, n_groups)
        memory = estimated_memory(mixture, method, n_times, n_samples, n_groups)
    if work > max_work or (memory is not None and memory > MAX_MEMORY):
        per_chunk = "" if memory is None else (
            f" and {memory / 2**20:.4g} MiB per chunk (limit {MAX_MEMORY / 2**20:.0f} MiB)")
        raise ValueError(
            f"n_samples={n_samples} over {n_times} time(s) with method={method!r} (K={mixture.K}, d={mixture.d}) is "
            f"estimated at {work:.3g} multiply-add units of work (limit max_work={max_work:.3g}; about 3e9 units per "
            f"second on one CPU core){per_chunk}. "
            "Use fewer draws or times, or pass max_work=None (or a larger max_work) to run it anyway."
        )


def _check_max_work(max_work: object) -> float | None:
    if max_work is None:
        return None
    if isinstance(max_work, bool) or not isinstance(max_work, (int, float, np.integer, np.floating)) or not (
        float(max_work) > 0
    ):
        raise ValueError(f"max_work must be a positive number of work units or None (no limit); got {max_work!r}")
    return float(max_work)


def _check_inputs(mixture: object, process: object) -> None:
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    if not isinstance(process, Process):
        raise ValueError(f"process must be a gmmtheory process (OU(), VP(), VE(), EDM(), Flow()); got {process!r}")


def posterior_statistic(
    mixture: GaussianMixture,
    process: Process,
    t: TimeGrid,
    functional: str,
    *,
    partition: Partition | None = None,
    method: str = "auto",
    n_samples: int | None = None,
    key: Seed | None = None,
    n_nodes: int = quadrature.DEFAULT_NODES,
    precision: str = "float64",
    max_work: float | None = DEFAULT_MAX_WORK,
    warn: bool = True,
) -> EntropyResult:
    """E_{x∼p_t} f(p_t(· | x)) for a functional f in ("entropy", "collision", "max"), validated and dispatched.

    Every argument is checked before any jax work (``precision`` first). ``max_work``: refuse estimated work beyond
    this many units (``estimated_work``; None: no limit). Monte Carlo results carry ``extra["informative_draws"]``
    and ``extra["rare_event"]`` (see ``entropy.result``); ``warn=False`` sets that flag without issuing the
    ``RareEventWarning`` (for studies that aggregate many calls and report the flags themselves).
    """
    check_precision(precision)
    limit = _check_max_work(max_work)
    _check_inputs(mixture, process)
    if functional not in FUNCTIONALS:
        raise ValueError(f"functional must be one of {FUNCTIONALS}; got {functional!r}")
    times = check_times(t, process)
    part = check_partition(partition, mixture.K)
    memb = membership_or_none(part)
    flat = np.atleast_1d(times)
    chosen = resolve_method(mixture, method, n_times=flat.size, n_samples=n_samples, n_groups=n_groups(memb))
    if mixture.singular and np.any(np.asarray(in_float64(process.sigma)(times)) == 0):  # float64: t=1e-200 is no 0
        raise ValueError("t must have σ(t) > 0 for a mixture with singular covariances (e.g. points); "
                         "t=0 is not allowed")
    n = check_count("n_samples", DEFAULT_SAMPLES.get(chosen, 2) if n_samples is None else n_samples, minimum=2)
    check_work(mixture, chosen, flat.size, n, n_groups(memb), limit)
    prng = check_key(key)
    mix = mixture.centred()  # translation invariance, used here once: the engines receive the centred mixture
    extra: dict = {}
    if chosen == "quadrature":
        value = quadrature.quadrature_statistic(mix, process, times, functional, memb, n_nodes)
        stderr, n_used = np.zeros_like(value), int(n_nodes)
    else:
        with precision_scope("float64"):
            if chosen == "reduced":
                value, stderr, n_used, n_inf = reduced.reduced_moments(
                    mix, process, flat, functional, memb, n, prng, noise_dtype=precision)
            else:
                value, stderr, n_used, n_inf = montecarlo.montecarlo_moments(
                    mix, process, flat, functional, memb, n, prng, noise_dtype=precision, gemm_dtype=precision)
        value, stderr = value.reshape(times.shape), stderr.reshape(times.shape)
        groups = part.group_weights(mixture.weights)
        flag_rare_event(extra, n_inf, times, int(np.sum(groups > 0)) < 2, f"{functional} by {chosen}", warn)
    return EntropyResult(times, np.asarray(value), np.asarray(stderr), chosen, functional, n_used, extra)


def class_entropy(
    mixture: GaussianMixture,
    process: Process,
    t: TimeGrid,
    *,
    partition: Partition | None = None,
    method: str = "auto",
    n_samples: int | None = None,
    key: Seed | None = None,
    precision: str = "float64",
    max_work: float | None = DEFAULT_MAX_WORK,
    warn: bool = True,
) -> EntropyResult:
    """H[Z_P | X_t] = E_{x∼p_t}[−Σ_B p_t(B | x) log p_t(B | x)] in nats, over the times ``t``.

    Args:
        mixture: the data distribution p_0 = Σ_k π_k N(μ_k, Σ_k).
        process: the forward process (a(t), σ(t)).
        t: a time or a 1-D array of times of ``process`` (validated: finite, inside the process's domain).
        partition: group the labels (Z_P = the group of Z); default: the labels themselves.
        method: "auto", "quadrature", "reduced" or "montecarlo" (see the module docstring).
        n_samples: draws for Monte Carlo methods (default 2¹⁶ reduced, 2¹⁴ Monte Carlo; rounded up to whole chunks).
        key: an int seed, or a jax PRNG key (``jax.random.key`` or ``jax.random.PRNGKey``), for Monte Carlo methods
            (default: seed 0, reproducible).
        precision: "float64" (default) or "float32" (Monte Carlo draws and GEMMs only; see the module docstring).
        max_work: refuse a call whose estimated work exceeds this many multiply-add units (default 1e13, about an
            hour on one CPU core; the message states the estimate); None lifts the limit.
        warn: issue a ``RareEventWarning`` for flagged times (default); False only sets the flag in ``.extra``.

    Returns:
        ``EntropyResult`` with ``.value`` and ``.stderr`` shaped like ``t`` and the ``.method`` used; Monte Carlo
        results carry ``.extra["informative_draws"]`` and ``.extra["rare_event"]`` (a ``RareEventWarning`` is issued
        when fewer than 30 draws carry the estimate at some time).
    """
    return posterior_statistic(
        mixture, process, t, "entropy", partition=partition, method=method, n_samples=n_samples, key=key,
        precision=precision, max_work=max_work, warn=warn,
    )


def mutual_information(
    mixture: GaussianMixture, process: Process, t: TimeGrid, *, partition: Partition | None = None, **kwargs
) -> EntropyResult:
    """I(Z_P; X_t) = H[Z_P] − H[Z_P | X_t] (same arguments as ``class_entropy``)."""
    res = class_entropy(mixture, process, t, partition=partition, **kwargs)
    part = check_partition(partition, mixture.K)
    pw = part.group_weights(mixture.weights)
    pw = pw[pw > 0]
    h_prior = float(-np.sum(pw * np.log(pw)))
    return EntropyResult(res.t, h_prior - res.value, res.stderr, res.method, "mutual_information", res.n_samples,
                         res.extra)


def collision_probability(
    mixture: GaussianMixture, process: Process, t: TimeGrid, *, partition: Partition | None = None, **kwargs
) -> EntropyResult:
    """φ(t) = E Σ_B p_t(B | x)²: the probability that two clones split at t end in the same group (φ ≥ e^{−H})."""
    return posterior_statistic(mixture, process, t, "collision", partition=partition, **kwargs)


def bayes_error(
    mixture: GaussianMixture, process: Process, t: TimeGrid, *, partition: Partition | None = None, **kwargs
) -> EntropyResult:
    """P_e(t) = 1 − E max_B p_t(B | x): the error of the optimal classifier of Z_P from X_t."""
    res = posterior_statistic(mixture, process, t, "max", partition=partition, **kwargs)
    return EntropyResult(res.t, 1.0 - res.value, res.stderr, res.method, "bayes_error", res.n_samples, res.extra)
