"""Hypothesis strategies and assertion helpers for testing diffusion code against exact Gaussian-mixture theory.

Use them in your own pytest suite::

    from hypothesis import given, settings
    import gmmtheory as gt
    from gmmtheory import testing as gtt

    @settings(max_examples=20, deadline=None)
    @given(mix=gtt.mixtures(K=3, d=8), proc=gtt.processes(), lam=gtt.log_snrs())
    def test_my_denoiser(mix, proc, lam):
        t = float(proc.t_from_log_snr(lam))
        gtt.assert_denoiser_matches(my_denoiser, mix, proc, t, key=0)

Strategies keep *shapes fixed* (K, d, number of times) and vary values, so jitted code compiles once per test.
The Monte Carlo assertions compare within a stated multiple of the reported standard error, never exactly.
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gmmtheory.entropy.common import EntropyResult
from gmmtheory.mixture import COV_KINDS, GaussianMixture, Partition
from gmmtheory.processes import EDM, OU, VE, VP, Flow, Process

# ------------------------------------------------------------------------------------------------------ strategies


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def covariances(draw: st.DrawFn, K: int, d: int, cov_kind: str, min_var: float = 0.3, max_var: float = 3.0):
    """A covariance of the given form (see ``GaussianMixture``) with eigenvalues in about [min_var, max_var]."""
    if cov_kind == "shared_iso":
        return draw(_floats(min_var, max_var))
    if cov_kind == "class_iso":
        return draw(hnp.arrays(np.float64, (K,), elements=_floats(min_var, max_var)))
    if cov_kind == "class_diag":
        return draw(hnp.arrays(np.float64, (K, d), elements=_floats(min_var, max_var)))
    n = 1 if cov_kind == "shared_full" else K
    # Σ = Q diag(λ) Qᵀ with Q from the QR factorisation of a drawn matrix: eigenvalues are exactly the drawn λ.
    raw = draw(hnp.arrays(np.float64, (n, d, d), elements=_floats(-1.0, 1.0)))
    lam = draw(hnp.arrays(np.float64, (n, d), elements=_floats(min_var, max_var)))
    q, r = np.linalg.qr(raw + 3.0 * np.eye(d))  # + 3I keeps the drawn matrix well conditioned
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    cov = np.einsum("nij,nj,nkj->nik", q, lam, q)
    return cov[0] if cov_kind == "shared_full" else cov


@st.composite
def mixtures(
    draw: st.DrawFn,
    K: int = 3,
    d: int = 4,
    cov_kind: str | None = None,
    mean_scale: float = 2.0,
    min_var: float = 0.3,
    max_var: float = 3.0,
    random_weights: bool = True,
    min_weight: float = 0.05,
) -> GaussianMixture:
    """A ``GaussianMixture`` with K components in d dimensions.

    cov_kind: one of ``COV_KINDS`` or None to draw it. Means have coordinates in [−mean_scale, mean_scale];
    weights are uniform, or (``random_weights``) drawn in [min_weight, 1] and normalised (so each is ≥ min_weight/K).
    """
    kind = draw(st.sampled_from(COV_KINDS)) if cov_kind is None else cov_kind
    means = draw(hnp.arrays(np.float64, (K, d), elements=_floats(-mean_scale, mean_scale)))
    cov = draw(covariances(K, d, kind, min_var, max_var))
    if random_weights:
        raw = draw(hnp.arrays(np.float64, (K,), elements=_floats(min_weight, 1.0)))
        weights = raw / raw.sum()
    else:
        weights = None
    return GaussianMixture(means, cov, weights, cov_kind=kind)


def processes(include_discrete: bool = False) -> st.SearchStrategy[Process]:
    """One of OU, VP (linear β), VE, EDM (σ_data 1 and 0.5), Flow (and DDPM / SD1.5 tables if asked)."""
    options: list[Process] = [OU(), VP(), VE(), EDM(), EDM(sigma_data=0.5), Flow()]
    if include_discrete:
        options += [VP.ddpm_linear(), VP.sd15()]
    return st.sampled_from(options)


def log_snrs(lo: float = -6.0, hi: float = 6.0) -> st.SearchStrategy[float]:
    """A log-SNR λ = log γ; map it to any process's time with ``process.t_from_log_snr(λ)``."""
    return _floats(lo, hi)


@st.composite
def time_grids(draw: st.DrawFn, process: Process, n: int = 8, lo: float = -6.0, hi: float = 6.0) -> np.ndarray:
    """n increasing times of ``process`` whose log-SNRs lie in [lo, hi] (fixed length n)."""
    lams = draw(hnp.arrays(np.float64, (n,), elements=_floats(lo, hi), unique=True))
    t = np.sort(np.asarray(process.t_from_log_snr(np.sort(lams)[::-1]), dtype=np.float64))
    return np.clip(t, process.t_min, process.t_max)


@st.composite
def partitions(draw: st.DrawFn, K: int) -> Partition:
    """A partition of the labels 0..K−1 into non-empty groups (any number of groups from 1 to K)."""
    raw = draw(st.lists(st.integers(0, K - 1), min_size=K, max_size=K))
    relabel = {g: i for i, g in enumerate(dict.fromkeys(raw))}
    return Partition.from_assignment([relabel[g] for g in raw])


# --------------------------------------------------------------------------------------------- assertion helpers


def assert_within_stderr(
    estimate: object, stderr: object, reference: object, reference_stderr: object = 0.0, n_sigma: float = 4.0,
    atol: float = 1e-12, what: str = "estimate",
) -> None:
    """|estimate − reference| ≤ n_sigma · √(stderr² + reference_stderr²) + atol, elementwise."""
    est, se, ref, rse = (np.asarray(v, dtype=np.float64) for v in (estimate, stderr, reference, reference_stderr))
    bound = n_sigma * np.sqrt(se**2 + rse**2) + atol
    gap = np.abs(est - ref)
    if np.any(gap > bound) or not np.all(np.isfinite(est)):
        i = int(np.argmax(np.where(np.isfinite(gap), gap / bound, np.inf)))
        raise AssertionError(
            f"{what} differs from the reference by more than {n_sigma} standard errors: at index {i}, "
            f"{np.ravel(est)[i]!r} vs {np.ravel(np.broadcast_to(ref, gap.shape))[i]!r}, "
            f"|gap| = {np.ravel(gap)[i]:.3g} > bound {np.ravel(np.broadcast_to(bound, gap.shape))[i]:.3g}"
        )


def assert_entropy_valid(result: EntropyResult, h_max: float, n_sigma: float = 4.0) -> None:
    """0 ≤ H ≤ h_max (= H[Z] or log K) within n_sigma standard errors, and finite."""
    v, se = np.atleast_1d(result.value), np.atleast_1d(result.stderr)
    if not np.all(np.isfinite(v)):
        raise AssertionError(f"entropy contains non-finite values: {v}")
    slack = n_sigma * se + 1e-12
    if np.any(v < -slack) or np.any(v > h_max + slack):
        raise AssertionError(f"entropy outside [0, {h_max:.6g}]: min {v.min():.6g}, max {v.max():.6g}")


def assert_nondecreasing(result: EntropyResult, n_sigma: float = 4.0, atol: float = 1e-10) -> None:
    """H(t) nondecreasing along increasing t (differences above −n_sigma·stderr − atol)."""
    order = np.argsort(np.atleast_1d(result.t))
    v, se = np.atleast_1d(result.value)[order], np.atleast_1d(result.stderr)[order]
    drops = np.diff(v)
    slack = n_sigma * np.hypot(se[1:], se[:-1]) + atol
    if np.any(drops < -slack):
        i = int(np.argmin(drops + slack))
        raise AssertionError(f"H decreases between times {order[i]} and {order[i + 1]}: {v[i]:.8g} → {v[i + 1]:.8g}")


def assert_denoiser_matches(
    denoiser_fn: Callable[[np.ndarray, float], np.ndarray],
    mixture: GaussianMixture,
    process: Process,
    t: float,
    *,
    key: object = 0,
    n: int = 256,
    label: int | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-6,
) -> None:
    """Check a user's denoiser x̂_0(x_t, t) against the exact Gaussian-mixture denoiser on n draws of X_t.

    ``denoiser_fn(x, t)`` gets x of shape (n, d) (and, through a closure, whatever label it conditions on) and must
    return (n, d). Draws are X_t = a X_0 + σ ε with X_0 from the mixture (an explicit PRNG seed or key).
    """
    from gmmtheory.posterior import denoiser

    prng = jax.random.PRNGKey(key) if isinstance(key, (int, np.integer)) else key
    k0, k1 = jax.random.split(prng)
    x0, _ = mixture.sample(k0, n)
    eps = np.asarray(jax.random.normal(k1, x0.shape, dtype=np.float64), dtype=np.float64)
    a, s = float(process.alpha(t)), float(process.sigma(t))
    xt = a * x0 + s * eps
    expected = np.asarray(denoiser(mixture, process, t, xt, label))
    got = np.asarray(denoiser_fn(xt, t))
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg="denoiser differs from the exact one")


__all__ = [
    "assert_denoiser_matches",
    "assert_entropy_valid",
    "assert_nondecreasing",
    "assert_within_stderr",
    "covariances",
    "log_snrs",
    "mixtures",
    "partitions",
    "processes",
    "time_grids",
]
