"""The entropy rate dH[Z_P | X_t]/dτ, in native time τ = t, in τ = log σ or in the log-SNR τ = λ(t) = log γ.

σ is the EDM noise level σ = σ(t)/a(t) = e^{−λ/2} (the same in every process at equal SNR; for EDM with
σ_data = 1 and VE it is the process's own σ). Since H depends on time only through λ, every rate is the one
function dH/dλ times a chain-rule factor: dH/dt = dH/dλ · dλ/dt and dH/d log σ = −2 dH/dλ. H grows in forward time
(dH/dt ≥ 0, dH/d log σ ≥ 0) and falls with the SNR (dH/dλ ≤ 0). dλ/dt is taken from the inverse map t(λ) where
the forward derivative overflows (``log_snr_and_slope``), so the rate is finite — and tends to 0 — at large times.

Methods (``method=``):

- ``"closed_form"``: two classes, shared covariance, any weights (where the entropy's ``"quadrature"`` applies).
  The posterior is that of the binary-input channel Y = √s X + N, X = ±1 with prior (π_0, π_1), at the effective
  SNR s(λ) = Σ_u q_u γ/(γu + 1) (``binary_snr_of_log_snr``; u the eigenvalues of Σ, q_u = |P_u m|²,
  m = (μ_0 − μ_1)/2). By I-MMSE, dI/ds = ½ mmse_b(s) with

      mmse_b(s) = E(X − E[X|Y])² = 1 − E(p_0 − p_1)² = 4 E[p_0(Y) p_1(Y)]

  (equal weights: 1 − E tanh(s + √s N)), so dH/dλ = −½ mmse_b(s) ds/dλ, ds/dλ = Σ_u q_u γ/(γu + 1)².
  E[p_0 p_1] is integrated over the log-likelihood ratio L ~ N(±2s, 4s) with the entropy quadrature's rule:
  Gauss–Hermite in ξ for s < 1, windowed composite Gauss–Legendre in L for s ≥ 1 (``binary_mmse``). Exact to ~1e-12.
- ``"denoiser_gap"`` (any mixture, any partition): by I-MMSE applied to I(Z_P; X_t),

      dH/dλ = −½ γ E‖x̂_0(X_t, Z_P) − x̂_0(X_t)‖² = −½ σ² E[Σ_B p_t(B | X_t) ‖Σ_k w_kB (g_k − g_ref)‖²],

  with g_k = C_k⁻¹(x − aμ_k) (C_k = a²Σ_k + σ²I) and the posterior differences w_kB = p(k|x, B) − p(k|x), because
  x̂_0(x, k) = x/a − (σ²/a) g_k. The second form averages the first over Z_P given X_t (Rao–Blackwell) and never
  subtracts two O(1) denoisers whose difference is O(σ²) (see ``_gap_kernel``), so it holds its accuracy at any
  SNR (EDM σ = 1e-12 included) and on singular covariances. Monte Carlo over X_t = a X_0 + σ ε, stratified by the
  class of X_0, with the same (X_0, ε) at every time (common random numbers), in chunks of bounded size.
- ``"autodiff"``: the derivative in λ of a Monte Carlo estimator of H itself (common random numbers, forward-mode
  ``jax.jvp``). Shared covariance: the reduced statistics with v = Σ_u √(a²/(a²u + σ²)) G_u^{½} ξ_u summed over
  the distinct eigenvalues u of Σ (a fixed square root of each Gram block, so no eigen-decomposition is
  differentiated); per-class isotropic: the reduced statistics with a χ² for the orthogonal complement; anything
  else: the full-dimensional Monte Carlo kernel in each class's eigenbasis with antithetic noise (±ε). The
  per-draw derivatives are i.i.d., which gives the standard error.
- ``"auto"``: closed_form where it applies, else denoiser_gap.

The Monte Carlo kernels run in scale-free coordinates of λ ((a, σ²) = (1, e^{−λ}) for λ > 0, (e^{λ/2}, 1) else;
H depends on λ only) and return dH/dλ divided by σ², which is multiplied back in log space: nothing overflows or
underflows before the answer does. Beyond λ = 600 (denoiser_gap) or λ = 40 (autodiff, σ ≈ 2e-9) the σ → 0 limit
of dH/dλ / σ² is used (its relative error is O(σ²) for non-singular covariances).

Rates need σ(t) > 0 (at σ = 0 the log-SNR is infinite and, for singular covariances, H is not differentiable);
t = 0 is refused before any jax work.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from gmmtheory._checks import check_choice, check_count, check_key
from gmmtheory._chunks import bucket, pad_last
from gmmtheory._precision import check_precision, precision_scope
from gmmtheory._types import Grid, NpValues, Seed, Table, TimeGrid, Times, Weights2
from gmmtheory.entropy.api import DEFAULT_MAX_WORK, _check_inputs, _check_max_work, check_work, estimated_work
from gmmtheory.entropy.functionals import membership_or_none
from gmmtheory.entropy.quadrature import binary_snr_weights, gauss_hermite
from gmmtheory.entropy.rate_kernels import autodiff, binary_mmse_kernel, denoiser_gap
from gmmtheory.entropy.result import EntropyResult
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.processes import EDM, OU, VE, VP, Flow, Process, check_times

RATE_METHODS = ("auto", "closed_form", "denoiser_gap", "autodiff")
WRTS = ("t", "log_sigma", "log_snr")
DEFAULT_SAMPLES = {"denoiser_gap": 2**14, "autodiff": 2**15}
GH_NODES = 200


# ------------------------------------------------------------------------------------------------ time factors
def _padded(x: np.ndarray) -> np.ndarray:
    """x (1-D) padded to ``_chunks.bucket(len(x))`` (a power of two ≥ 8: time grids of similar sizes share one
    compilation) by repeating its last entry."""
    return pad_last(x, bucket(x.size))


_NOISE_FREE_AT_ZERO = (OU, VP, VE, EDM, Flow)  # processes with σ(0) = 0 (checked before any jax work)


@functools.partial(jax.jit, static_argnames=("process",))
def _log_snr_kernel(process: Process, t: Array) -> tuple[Array, Array, Array]:
    """λ(t), dλ/dt by forward autodiff and dt/dλ by autodiff of the inverse map at λ(t), elementwise."""
    lam = process.log_snr(t)
    fwd = jax.vmap(jax.grad(process.log_snr))(t)
    inv = jax.vmap(jax.grad(process.t_from_log_snr))(lam)
    return lam, fwd, inv


def log_snr_and_slope(process: Process, times: Table) -> tuple[Grid, Grid]:
    """λ(t) and dλ/dt (float64 numpy, 1-D), where dλ/dt never overflows or underflows needlessly.

    dλ/dt is the forward derivative where it is finite and non-zero, else 1/(dt/dλ) from the inverse map t(λ):
    for OU λ = −log(e^{2t} − 1) and dλ/dt = −2e^{2t}/(e^{2t} − 1), which overflows to inf/inf from t ≈ 355, while
    t(λ) = ½ log(1 + e^{−λ}) gives dt/dλ = −½ sigmoid(−λ) → −½, so dλ/dt → −2.
    """
    flat = np.asarray(times, dtype=np.float64)
    with precision_scope("float64"), np.errstate(all="ignore"):
        try:
            out = _log_snr_kernel(process, jnp.asarray(_padded(flat)))
        except (TypeError, ValueError):  # an unhashable process: no jit cache, same formulas
            out = _log_snr_kernel.__wrapped__(process, jnp.asarray(flat))
        lam, fwd, inv = (np.asarray(v, dtype=np.float64)[: flat.size] for v in out)
        slope = np.where(np.isfinite(fwd) & (fwd != 0), fwd, 1.0 / inv)
    return lam, slope


def _coordinates(lam: np.ndarray, lam_cap: float) -> dict[str, np.ndarray]:
    """Scale-free coordinates of the log-SNR: H depends on t only through λ, so every kernel runs at
    (a, σ²) = (1, e^{−λ}) for λ > 0 and (e^{λ/2}, 1) for λ ≤ 0 (neither overflows), at λ_eff = min(λ, lam_cap).

    Returns a, σ² and the tangents (da, dσ²) = (0, −1) for λ_eff > 0 — i.e. d/dλ divided by σ² — and (a/2, 0) for
    λ_eff ≤ 0 — i.e. d/dλ itself. A kernel's tangent output is multiplied by σ² at the true λ, e^{−max(λ, 0)}, to
    give d/dλ (in log space, ``_scaled``, so e.g. EDM at σ = 1e-200 still gives dH/dσ ≈ σ·const).
    """
    eff = np.minimum(lam, lam_cap)
    pos = eff > 0
    with np.errstate(over="ignore"):
        a = np.where(pos, 1.0, np.exp(0.5 * np.minimum(eff, 0.0)))
        s2 = np.where(pos, np.exp(-np.maximum(eff, 0.0)), 1.0)
    return {
        "a": a,
        "s2": s2,
        "da": np.where(pos, 0.0, 0.5 * a),
        "ds2": np.where(pos, -1.0, 0.0),
    }


def _scaled(log_s2: np.ndarray, dlam_dtau: np.ndarray) -> np.ndarray:
    """σ²(λ) · dλ/dτ computed as sign · exp(log σ² + log|dλ/dτ|) (no overflow or underflow in the product)."""
    with np.errstate(divide="ignore"):
        return np.sign(dlam_dtau) * np.exp(log_s2 + np.log(np.abs(dlam_dtau)))


# -------------------------------------------------------------------------------------------- closed form (K = 2)
def binary_mmse(s: Times, weights: Weights2 | None = None) -> NpValues:
    """mmse_b(s) = E(X − E[X | Y])² of the ±1 input X with prior (π_0, π_1) over Y = √s X + N (float64 numpy).

    Equals 4 E[p_0 p_1] (equal weights: 1 − E tanh(s + √s N)); it is 4π_0π_1 at s = 0 and decays like e^{−s/2}.
    By I-MMSE, dI/ds = ½ mmse_b(s), so the binary conditional entropy falls at rate dH/ds = −½ mmse_b(s).
    """
    s_arr = np.asarray(s, dtype=np.float64)
    if not np.all(np.isfinite(s_arr)) or np.any(s_arr < 0):
        raise ValueError(f"s must be finite and ≥ 0; got {s!r}")
    w = np.full(2, 0.5) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (2,) or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-8:
        raise ValueError(f"weights must be two non-negative numbers summing to 1; got {weights!r}")
    if np.any(w == 0):
        return np.zeros_like(s_arr)
    nodes, node_w = gauss_hermite(GH_NODES)
    flat = s_arr.reshape(-1)
    with precision_scope("float64"):
        out = binary_mmse_kernel(
            jnp.asarray(_padded(flat)), jnp.asarray(np.log(w)), jnp.asarray(nodes), jnp.asarray(node_w)
        )
    return np.asarray(out, dtype=np.float64)[: flat.size].reshape(s_arr.shape)


def binary_snr_of_log_snr(mixture: GaussianMixture, lam: Times) -> tuple[NpValues, NpValues]:
    """s(λ) = Σ_u q_u γ/(γu + 1) and ds/dλ = Σ_u q_u γ/(γu + 1)² (γ = e^λ; float64 numpy, no jax).

    u runs over the distinct eigenvalues of the shared Σ and q_u = |P_u m|², m = (μ_0 − μ_1)/2, from the Gram
    blocks of the means (``shared_gram_blocks``; s = ¼ (M_00 − 2M_01 + M_11) as in ``binary_snr``).
    """
    s, ds_scaled = _binary_snr_scaled(mixture, np.asarray(lam, np.float64))
    with np.errstate(under="ignore"):
        return s, ds_scaled * np.exp(-np.maximum(lam, 0.0))


def _binary_snr_scaled(mixture: GaussianMixture, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s(λ) and (ds/dλ)/σ², σ² = e^{−max(λ, 0)}: for λ > 0 written with e^{−λ} (s = Σ q/(u + e^{−λ}),
    (ds/dλ)/e^{−λ} = Σ q/(u + e^{−λ})²), so nothing overflows or underflows unless s itself does."""
    u, q = binary_snr_weights(mixture)
    lam = lam[..., None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        g = np.exp(np.minimum(lam, 0.0))  # γ for λ ≤ 0
        e = np.exp(-np.maximum(lam, 0.0))  # 1/γ for λ > 0
        pos = lam > 0
        s = np.where(pos, q / (u + e), q * g / (g * u + 1.0))
        ds = np.where(pos, q / (u + e) ** 2, q * g / (g * u + 1.0) ** 2)
        s = np.where(q > 0, s, 0.0)
        ds = np.where(q > 0, ds, 0.0)
    return np.sum(s, axis=-1), np.sum(ds, axis=-1)


def _closed_form_rate_scaled(mixture: GaussianMixture, lam: np.ndarray, part: Partition) -> np.ndarray:
    """(dH/dλ)/σ² = −½ mmse_b(s) (ds/dλ)/σ², σ² = e^{−max(λ, 0)} (float64 numpy, 1-D); exactly 0 where mmse_b(s)
    underflows (s ≳ 1500)."""
    if part.M == 1 or np.any(mixture.weights == 0):
        return np.zeros_like(lam)
    s, ds = _binary_snr_scaled(mixture, lam)
    mmse = binary_mmse(np.minimum(s, 1e4), mixture.weights)
    with np.errstate(invalid="ignore"):
        return np.where((mmse > 0) & (s < 1e4), -0.5 * mmse * ds, 0.0)


# --------------------------------------------------------------------------------------------------------- API
def _closed_form_applies(mixture: GaussianMixture) -> bool:
    return mixture.K == 2 and mixture.shared_covariance


def resolve_rate_method(mixture: GaussianMixture, method: str) -> str:
    """The method ``method`` stands for on this mixture (``"auto"`` → closed_form if it applies, else denoiser_gap)."""
    check_choice("method", method, RATE_METHODS)
    if method == "auto":
        return "closed_form" if _closed_form_applies(mixture) else "denoiser_gap"
    if method == "closed_form" and not _closed_form_applies(mixture):
        raise ValueError(
            f"method='closed_form' needs K = 2 components with a shared covariance; this mixture has K={mixture.K}, "
            f"cov_kind={mixture.cov_kind!r}. Methods that apply: ('denoiser_gap', 'autodiff')"
        )
    return method


def _total_variance(mixture: GaussianMixture) -> float:
    """tr Cov X_0 = Σ_k π_k (tr Σ_k + ‖μ_k − μ̄‖²)."""
    pi = mixture.weights
    centred = mixture.centred().means
    return float(pi @ (np.sum(mixture.spectrum.evals, axis=1) + np.sum(centred**2, axis=1)))


def _check_noise(process: Process, flat: np.ndarray) -> None:
    """Refuse σ(t) = 0 eagerly (numpy only, before any jax work) for the processes whose σ vanishes at t = 0."""
    if isinstance(process, _NOISE_FREE_AT_ZERO) and np.any(flat == 0.0):
        _zero_noise_error(flat[flat == 0.0])


def _zero_noise_error(bad: np.ndarray) -> None:
    raise ValueError(
        f"t must have σ(t) > 0 for an entropy rate (log σ and the log-SNR are infinite at σ = 0, and H is not "
        f"differentiable there for singular covariances); got t = {bad[:3].tolist()}"
    )


_LAM_CAP = {"closed_form": np.inf, "denoiser_gap": 600.0, "autodiff": 40.0}

# work of a rate estimator relative to the entropy estimator it resembles (same draws and times), measured on one CPU
# core (K = 4, d = 32 and 64, 16 times, 2^15 draws): denoiser_gap ≈ 9 × Monte Carlo (K scores and a K × M
# contraction per draw and time), autodiff ≈ 1.3–1.9 × its primal (reduced where it applies, else Monte Carlo)
_RATE_WORK_FACTOR = {"denoiser_gap": 8.0, "autodiff": 2.0}


def estimated_rate_work(
    mixture: GaussianMixture, method: str, n_times: int, n_samples: int, n_groups: int = 0
) -> float:
    """Estimated work (the entropy cost model's multiply-add units, ``gmmtheory.entropy.api.estimated_work``) of the
    Monte Carlo rate ``method``: ``_RATE_WORK_FACTOR[method]`` × the work of the entropy estimator it resembles
    (denoiser_gap: "montecarlo"; autodiff: "reduced" for shared or per-class isotropic covariances, else "montecarlo")
    over the same ``n_times`` times and ``n_samples`` draws."""
    if method == "autodiff" and (mixture.shared_covariance or mixture.isotropic):
        base = "reduced"
    else:
        base = "montecarlo"
    return _RATE_WORK_FACTOR[method] * estimated_work(mixture, base, n_times, n_samples, n_groups)


def entropy_rate(
    mixture: GaussianMixture,
    process: Process,
    t: TimeGrid,
    *,
    wrt: str = "t",
    partition: Partition | None = None,
    method: str = "auto",
    n_samples: int | None = None,
    key: Seed | None = None,
    precision: str = "float64",
    max_work: float | None = DEFAULT_MAX_WORK,
) -> EntropyResult:
    """The entropy rate dH[Z_P | X_t]/dτ over the times ``t``, τ = t (``wrt="t"``), log σ or λ = log γ.

    σ here is the EDM noise level σ = σ(t)/a(t) = e^{−λ/2}, the same for every process at equal SNR (not the
    process's own σ(t)), so dH/dlog σ = −2 dH/dλ in every process.

    Args:
        mixture: the data distribution p_0 = Σ_k π_k N(μ_k, Σ_k).
        process: the forward process (a(t), σ(t)).
        t: a time or a 1-D array of times of ``process`` (finite, inside its domain, with σ(t) > 0).
        wrt: the time variable of the derivative: "t" (native), "log_sigma" (log of σ(t)/a(t)) or "log_snr" (λ).
        partition: group the labels (Z_P = the group of Z); default: the labels themselves.
        method: "auto", "closed_form", "denoiser_gap" or "autodiff" (see the module docstring).
        n_samples: draws for the Monte Carlo methods (default 2¹⁴ denoiser_gap, 2¹⁵ autodiff; rounded up to whole
            chunks). The same draws serve every time (common random numbers).
        key: an int seed, or a jax PRNG key (``jax.random.key`` or ``jax.random.PRNGKey``), for the Monte Carlo
            methods (default: seed 0, reproducible).
        precision: "float64" (default) or "float32".
        max_work: refuse a Monte Carlo rate whose estimated work (``estimated_rate_work``) exceeds this many
            multiply-add units (default 1e13, about an hour on one CPU core), before any jax work; None: no limit.

    Returns:
        ``EntropyResult(quantity="entropy_rate")`` with ``.value`` and ``.stderr`` shaped like ``t``, the ``.method``
        used and ``.extra["wrt"]``. dH/dt ≥ 0, dH/dlog σ ≥ 0 and dH/dλ ≤ 0 in forward time; where the SNR underflows
        (e.g. OU at t ≳ 375) the rate is its limit 0.
    """
    _check_inputs(mixture, process)
    if not isinstance(wrt, str) or wrt not in WRTS:
        raise ValueError(f"wrt must be one of {WRTS}; got {wrt!r}")
    times = check_times(t, process)
    flat = np.atleast_1d(times)
    _check_noise(process, flat)
    part = check_partition(partition, mixture.K)
    chosen = resolve_rate_method(mixture, method)
    check_precision(precision)
    limit = _check_max_work(max_work)
    if chosen != "closed_form":
        n = check_count("n_samples", DEFAULT_SAMPLES[chosen] if n_samples is None else n_samples, minimum=2)
        groups = part.M if partition is not None else 0
        work = None if limit is None else estimated_rate_work(mixture, chosen, flat.size, n, groups)
        check_work(mixture, chosen, flat.size, n, groups, limit, work=work)
    prng = check_key(key)
    mix = mixture.centred()  # translation invariance, used here once: the kernels receive the centred mixture
    lam, dlam_dt = log_snr_and_slope(process, flat)
    if np.any(np.isposinf(lam)) or np.any(np.isnan(lam)):
        _zero_noise_error(flat[~(lam < np.inf)])
    dlam_dtau = {"t": dlam_dt, "log_snr": np.ones_like(lam), "log_sigma": np.full_like(lam, -2.0)}[wrt]
    if not np.all(np.isfinite(dlam_dtau)):
        bad = flat[~np.isfinite(dlam_dtau)]
        raise ValueError(f"the rate with respect to wrt={wrt!r} is undefined at t = {bad[:3].tolist()} "
                         f"(dλ/dt is infinite there)")
    log_s2 = -np.maximum(lam, 0.0)  # dH/dλ ∝ σ² at high SNR: every route returns (dH/dλ)/σ², rescaled in log space
    if chosen == "closed_form":
        value = _closed_form_rate_scaled(mixture, lam, part) * _scaled(log_s2, dlam_dtau)
        stderr, n_used = np.zeros_like(value), GH_NODES
    else:
        cap = _LAM_CAP[chosen] if precision == "float64" else min(_LAM_CAP[chosen], 80.0)  # float32: e^{−80} > tiny
        coords = _coordinates(lam, cap)
        with precision_scope(precision):
            if chosen == "denoiser_gap":  # dH/dλ = −½ σ² E G
                gap, gap_se, n_used = denoiser_gap(mix, coords["a"], coords["s2"], part, n, prng)
                scale = -0.5 * _scaled(log_s2, dlam_dtau)
                value, stderr = scale * gap, np.abs(scale) * gap_se
            else:  # dH/dλ = σ² × (the tangent output for λ_eff > 0), the tangent output itself for λ_eff ≤ 0
                rate, se, n_used = autodiff(mix, coords, membership_or_none(part), n, prng)
                scale = _scaled(log_s2, dlam_dtau)
                value, stderr = scale * rate, np.abs(scale) * se
    # |dH/dλ| = ½ γ E‖x̂_0(X_t, Z_P) − x̂_0(X_t)‖² ≤ ½ γ tr Cov X_0: below the smallest float it is exactly 0 (the
    # Monte Carlo kernels would return round-off of the eigenbases there, ~1e-30)
    negligible = lam + math.log(_total_variance(mixture) + 1e-300) < math.log(np.finfo(np.float64).tiny)
    value = np.where(negligible, 0.0, value)
    stderr = np.where(negligible, 0.0, stderr)
    value = np.asarray(value, dtype=np.float64) + 0.0  # + 0.0: no −0.0 where the rate underflows
    if not np.all(np.isfinite(value)):
        bad = flat[~np.isfinite(value)]
        raise ValueError(f"the entropy rate is not finite at t = {bad[:3].tolist()} for {process!r}")
    shape = np.shape(times)
    return EntropyResult(
        times, value.reshape(shape), np.asarray(stderr, np.float64).reshape(shape), chosen, "entropy_rate",
        int(n_used), {"wrt": wrt},
    )
