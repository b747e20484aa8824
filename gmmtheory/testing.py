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
``count_compilations()`` (from ``gmmtheory.compilation``) counts jax traces and XLA compilations in a block, to
assert that your jitted code does not recompile across a sweep or refuses bad input before any jax work.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as exc:  # pragma: no cover - exercised in a subprocess (tests/test_testing.py)
    raise ImportError(
        "gmmtheory.testing needs hypothesis, which is not installed: pip install 'gmmtheory[test]'"
    ) from exc

from gmmtheory._checks import check_count, check_key
from gmmtheory._precision import precision_scope
from gmmtheory.compilation import count_compilations
from gmmtheory.entropy.result import EntropyResult
from gmmtheory.mixture import COV_KINDS, GaussianMixture, Partition
from gmmtheory.posterior import denoiser
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
    """A log-SNR λ = log γ (a Python float); map it to a time with ``process.t_from_log_snr(λ)`` — a jax function,
    float32 unless x64 is on: use ``with gt.precision_scope("float64"):`` for float64 times."""
    return _floats(lo, hi)


@st.composite
def time_grids(draw: st.DrawFn, process: Process, n: int = 8, lo: float = -6.0, hi: float = 6.0) -> np.ndarray:
    """n increasing times of ``process`` whose log-SNRs lie in [lo, hi] (fixed length n)."""
    lams = draw(hnp.arrays(np.float64, (n,), elements=_floats(lo, hi), unique=True))
    with precision_scope("float64"):  # the same float64 times whether or not the caller enabled jax's x64
        t = np.sort(np.asarray(process.t_from_log_snr(np.sort(lams)[::-1]), dtype=np.float64))
    return np.clip(t, process.t_min, process.t_max)


@st.composite
def partitions(draw: st.DrawFn, K: int) -> Partition:
    """A partition of the labels 0..K−1 into non-empty groups (any number of groups from 1 to K)."""
    raw = draw(st.lists(st.integers(0, K - 1), min_size=K, max_size=K))
    relabel = {g: i for i, g in enumerate(dict.fromkeys(raw))}
    return Partition.from_assignment([relabel[g] for g in raw])


# --------------------------------------------------------------------------------------------- assertion helpers


def _eps(*values: object) -> float:
    """Machine epsilon of the least precise floating dtype among ``values`` (float64 for non-float input)."""
    eps = float(np.finfo(np.float64).eps)
    for v in values:
        dtype = getattr(v, "dtype", None)
        if dtype is not None and jnp.issubdtype(dtype, jnp.floating):
            eps = max(eps, float(jnp.finfo(dtype).eps))
    return eps


def assert_within_stderr(
    estimate: object, stderr: object, reference: object, reference_stderr: object = 0.0, n_sigma: float = 4.0,
    atol: float = 1e-12, what: str = "estimate",
) -> None:
    """|estimate − reference| ≤ n_sigma · √(stderr² + reference_stderr²) + atol + 4 ε max(|estimate|, |reference|),
    elementwise, where ε is the machine epsilon of the least precise float dtype among estimate and reference (the
    rounding of a float32 estimate computed with jax's defaults; 2.2e-16 for float64)."""
    eps = _eps(estimate, reference)
    est, se, ref, rse = (np.asarray(v, dtype=np.float64) for v in (estimate, stderr, reference, reference_stderr))
    bound = n_sigma * np.sqrt(se**2 + rse**2) + atol + 4.0 * eps * np.maximum(np.abs(est), np.abs(ref))
    gap = np.abs(est - ref)
    if np.any(gap > bound) or not np.all(np.isfinite(est)):
        i = int(np.argmax(np.where(np.isfinite(gap), gap / bound, np.inf)))
        raise AssertionError(
            f"{what} differs from the reference by more than {n_sigma} standard errors: at index {i}, "
            f"{np.ravel(est)[i]!r} vs {np.ravel(np.broadcast_to(ref, gap.shape))[i]!r}, "
            f"|gap| = {np.ravel(gap)[i]:.3g} > bound {np.ravel(np.broadcast_to(bound, gap.shape))[i]:.3g}"
        )


def assert_entropy_valid(result: EntropyResult, h_max: float, n_sigma: float = 4.0) -> None:
    """0 ≤ H ≤ h_max (= H[Z] or log K) within n_sigma standard errors plus the rounding of H's dtype
    (4 ε h_max + 1e-12), and finite."""
    v, se = np.atleast_1d(result.value), np.atleast_1d(result.stderr)
    if not np.all(np.isfinite(v)):
        raise AssertionError(f"entropy contains non-finite values: {v}")
    slack = n_sigma * se + 1e-12 + 4.0 * _eps(v) * abs(float(h_max))
    v = v.astype(np.float64)
    if np.any(v < -slack) or np.any(v > h_max + slack):
        raise AssertionError(f"entropy outside [0, {h_max:.6g}]: min {v.min():.6g}, max {v.max():.6g}")


def assert_nondecreasing(result: EntropyResult, n_sigma: float = 4.0, atol: float = 1e-10) -> None:
    """H(t) nondecreasing along increasing t: differences above −(n_sigma·stderr + atol + 4 ε |H|), with ε the
    machine epsilon of H's dtype."""
    order = np.argsort(np.atleast_1d(result.t))
    v, se = np.atleast_1d(result.value)[order], np.atleast_1d(result.stderr)[order]
    eps = _eps(v)
    v = v.astype(np.float64)
    drops = np.diff(v)
    slack = n_sigma * np.hypot(se[1:], se[:-1]) + atol + 4.0 * eps * np.maximum(np.abs(v[1:]), np.abs(v[:-1]))
    if np.any(drops < -slack):
        i = int(np.argmin(drops + slack))
        raise AssertionError(f"H decreases between times {order[i]} and {order[i + 1]}: {v[i]:.8g} → {v[i + 1]:.8g}")


def _check_label(label: object, K: int) -> None:
    """``label`` must be None or an int (Python or numpy, not a bool) in 0..K−1."""
    if label is not None and (not isinstance(label, (int, np.integer)) or isinstance(label, bool)
                              or not 0 <= int(label) < K):
        raise ValueError(f"label must be None or an int in 0..{K - 1}; got {label!r}")


#: default multiple of ε · (rounding scale) allowed by ``assert_denoiser_matches`` (see ``denoiser_tolerance``)
DENOISER_ULPS = 16.0


def denoiser_tolerance(
    mixture: GaussianMixture, process: Process, t: float, x: object, label: int | None = None,
    dtype: object = np.float64,
) -> np.ndarray:
    """Per-draw tolerance ε_dtype · DENOISER_ULPS · S(x) for a denoiser computed in ``dtype`` at X_t = x (n, d).

    With C_k = a²Σ_k + σ²I (eigenvalues c_kj = a²λ_kj + σ², condition κ_k = max_j c_kj / min_j c_kj), residuals
    r_k = x − a μ_k, quadratic forms q_k = r_kᵀ C_k⁻¹ r_k, Wiener gains g_k = max_j a λ_kj / c_kj, component
    denoisers m_k = μ_k + a Σ_k C_k⁻¹ r_k, posterior weights w_k (one-hot on ``label``) and x̂_0 = Σ_k w_k m_k,

        S = ‖x̂_0‖ + Σ_k w_k [ ‖μ_k‖ + √d κ_k g_k (‖x‖ + a‖μ_k‖) + 2 δℓ_k ‖m_k − x̂_0‖ ],
        δℓ_k = κ_k q_k + 2 ‖C_k⁻¹ r_k‖ (‖x‖ + a‖μ_k‖) + Σ_j |log c_kj| + |log π_k|,

    the first-order size of the error that rounding every input, eigenvalue and intermediate to relative precision ε
    causes in the output: the Wiener filters (√d κ_k g_k …: a dense d × d product) and the logits
    ℓ_k = log π_k − ½ q_k − ½ Σ_j log c_kj, whose error δℓ_k moves x̂_0 by about w_k δℓ_k ‖m_k − x̂_0‖. Computed in
    float64 numpy. Returns shape (n,). On 96 random configurations (K ≤ 5, d ≤ 8, every covariance form, every
    process, λ ∈ [−6, 6]) and at d = 64, 256, correct float32 and float64 denoisers stayed below 1.7 ε S (hence the
    margin of DENOISER_ULPS = 16), while a 0.1 % error in scale exceeded the float32 tolerance on every configuration.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != mixture.d:
        raise ValueError(f"x must have shape (n, {mixture.d}); got {x.shape}")
    _check_label(label, mixture.K)
    with precision_scope("float64"):
        a, s = float(process.alpha(t)), float(process.sigma(t))
    lam, U = mixture.spectrum  # Σ_k = U_k diag(λ_k) U_kᵀ (U None: diagonal)
    means = np.asarray(mixture.means, dtype=np.float64)
    r = x[:, None, :] - a * means[None]  # (n, K, d)
    if U is None:
        y = r
    elif U.ndim == 2:
        y = r @ U
    else:
        y = np.einsum("nki,kij->nkj", r, U)
    c = a**2 * lam + s**2  # (K, d)
    gy = a * lam / c * y
    if U is None:
        m = means[None] + gy
    elif U.ndim == 2:
        m = means[None] + gy @ U.T
    else:
        m = means[None] + np.einsum("nkj,kij->nki", gy, U)
    q = np.sum(y * y / c, axis=-1)  # (n, K)
    log_c = np.log(c)
    with np.errstate(divide="ignore"):
        log_pi = np.log(np.asarray(mixture.weights, dtype=np.float64))
    if label is None:
        logits = log_pi - 0.5 * q - 0.5 * np.sum(log_c, axis=-1)
        w = np.exp(logits - logsumexp(logits, axis=-1, keepdims=True))
    else:
        w = np.zeros_like(q)
        w[:, label] = 1.0
    xhat = np.einsum("nk,nkd->nd", w, m)
    kappa = c.max(axis=-1) / c.min(axis=-1)  # (K,)
    nx, nmu = np.linalg.norm(x, axis=-1)[:, None], np.linalg.norm(means, axis=-1)[None]  # (n, 1), (1, K)
    reach = nx + a * nmu
    filt = nmu + math.sqrt(mixture.d) * kappa * np.max(a * lam / c, axis=-1) * reach
    dl = (kappa * q + 2.0 * np.linalg.norm(y / c, axis=-1) * reach + np.sum(np.abs(log_c), axis=-1)
          + np.where(np.isfinite(log_pi), np.abs(log_pi), 0.0))
    spread = np.linalg.norm(m - xhat[:, None, :], axis=-1)
    per_k = np.where(w > 0, w * (filt + 2.0 * dl * spread), 0.0)
    scale = np.linalg.norm(xhat, axis=-1) + per_k.sum(axis=-1)
    return DENOISER_ULPS * float(jnp.finfo(dtype).eps) * scale


def assert_denoiser_matches(
    denoiser_fn: Callable[[np.ndarray, float], np.ndarray],
    mixture: GaussianMixture,
    process: Process,
    t: float,
    *,
    key: object = 0,
    n: int = 256,
    label: int | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Check a user's denoiser x̂_0(x_t, t) against the exact Gaussian-mixture denoiser on n draws of X_t.

    ``denoiser_fn(x, t)`` gets x of shape (n, d) (float64 numpy; and, through a closure, whatever label it
    conditions on) and must return (n, d). Draws are X_t = a X_0 + σ ε with X_0 from the mixture (an explicit PRNG
    seed or key). The exact denoiser (``gt.denoiser``) is evaluated in float64 whatever jax's x64 setting;
    ``denoiser_fn`` runs under the caller's setting.

    Tolerance: by default it follows the dtype of the returned array — each draw i must satisfy
    max_j |got_ij − exact_ij| ≤ ``denoiser_tolerance`` (ε of that dtype × the problem's rounding scale, see there):
    loose enough for a correct float32 denoiser (jax's default), tight for a float64 one. Passing ``rtol`` and/or
    ``atol`` replaces it by |got − exact| ≤ atol + rtol |exact| elementwise (a missing one counts as 0).
    """
    n = check_count("n", n)
    _check_label(label, mixture.K)
    t_arr = process.check_times(t)
    if t_arr.ndim != 0:
        raise ValueError(f"t must be a single time; got shape {t_arr.shape}")
    t = float(t_arr)
    with precision_scope("float64"):  # draws and the exact value in float64 whatever the caller's x64 setting
        k0, k1 = jax.random.split(check_key(key))
        x0, _ = mixture.sample(k0, n)
        eps = np.asarray(jax.random.normal(k1, x0.shape, dtype=np.float64), dtype=np.float64)
        a, s = float(process.alpha(t)), float(process.sigma(t))
        xt = a * x0 + s * eps
        expected = np.asarray(denoiser(mixture, process, t, xt, label), dtype=np.float64)
    raw = np.asarray(denoiser_fn(xt, t))
    if raw.shape != expected.shape:
        raise AssertionError(f"denoiser returned shape {raw.shape}; expected {expected.shape} (n, d)")
    dtype = raw.dtype if np.issubdtype(raw.dtype, np.floating) else np.dtype(np.float64)
    got = raw.astype(np.float64)
    gap = np.abs(got - expected)
    if rtol is None and atol is None:
        bound = np.broadcast_to(denoiser_tolerance(mixture, process, t, xt, label, dtype)[:, None], gap.shape)
        rule = f"the {np.dtype(dtype).name} tolerance (denoiser_tolerance)"
    else:
        bound = (0.0 if atol is None else atol) + (0.0 if rtol is None else rtol) * np.abs(expected)
        rule = f"atol={atol}, rtol={rtol}"
    bad = ~(gap <= bound)  # NaN in got counts as a failure
    if np.any(bad):
        i, j = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(gap / np.maximum(bound, 1e-300),
                                                                           nan=np.inf), 0.0))), gap.shape)
        raise AssertionError(
            f"denoiser differs from the exact one beyond {rule} at {int(bad.sum())} of {bad.size} entries: "
            f"worst at draw {i}, coordinate {j}: {got[i, j]!r} vs exact {expected[i, j]!r}, "
            f"|gap| = {gap[i, j]:.3g} > bound {bound[i, j]:.3g}"
        )


__all__ = [
    "assert_denoiser_matches",
    "assert_entropy_valid",
    "assert_nondecreasing",
    "assert_within_stderr",
    "count_compilations",
    "covariances",
    "denoiser_tolerance",
    "log_snrs",
    "mixtures",
    "partitions",
    "processes",
    "time_grids",
]
