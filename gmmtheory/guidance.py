"""How guidance redistributes semantic information over time (docs/theory.md §7), with exact mixture scores: the guided
cross-entropy profile and its landmarks.

A guided sampler no longer follows p_t, so the entropy along its trajectories is a cross-entropy

    CE(σ) = E_{q_w}[−log p_t(z | x_t)]

of the target z under the exact posterior. With labels drawn from the prior and w = 1 (conditional sampling)
CE(σ) = H[Z | X_t] exactly, so the unguided theory (``class_entropy``, ``entropy_landmarks``) is the reference the
guided profiles are compared with. Times are OU times at equal SNR, t = ½ log(1 + σ²) (σ = ``ou_time_to_sigma(t)``).

- ``guided_profile``: CE(σ) with stderr on the sampler's grid, its rate dCE/dt, landmarks (``profile_landmarks``:
  half-entropy time, 10–90 % window, rate peak, FWHM), final class frequencies, error rate, diversity, commitment
  times, overshoot (``GuidedProfile``);
- ``smooth_profile``: the smoothing spline a Monte Carlo profile is differentiated through;
- ``information_inside``: the share of the profile's drop produced by steps inside a guidance interval.

The fixed experiments built on these are in ``gmmtheory.studies.guidance``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy.interpolate import CubicSpline, UnivariateSpline

from gmmtheory._curves import crossing_bracket, half_maximum_window, level_crossing, peak_index, rate_peak
from gmmtheory.dynamics import (
    Trajectories,
    check_interval,
    class_frequencies,
    commitment_times,
    cross_entropy_profile,
    group_log_posterior,
    mean_stderr,
    overshoot,
    simulate,
    within_class_variance,
)
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.posterior import group_log_priors

EDM2_INTERVAL = (0.28 / 0.5, 2.9 / 0.5)  # EDM2's guidance interval (σ_data = 0.5) in unit-data σ
SMOOTHING = 0.1  # spline smoothing s = SMOOTHING × number of points (see smooth_profile)


def ou_time_to_sigma(t: float) -> float:
    """The unit-data VE σ of OU time t: σ = √(e^{2t} − 1) (nan for a non-finite t)."""
    return float(math.sqrt(math.expm1(2.0 * t))) if np.isfinite(t) else float("nan")


# ============================================================================================ profile landmarks
def smooth_profile(sigma: np.ndarray, value: np.ndarray, stderr: np.ndarray):
    """A cubic smoothing spline of a profile against OU time t = ½ log(1 + σ²) (σ > 0 points), weighted by
    1/stderr with smoothing s = 0.1 × number of points (the profile's errors are strongly correlated along the
    trajectories, so the χ² rule s = n over-smooths); interpolating when stderr = 0 (exact).
    Returns (spline, t_lo, t_hi)."""
    sigma, value, stderr = (np.asarray(v, np.float64) for v in (sigma, value, stderr))
    ok = (sigma > 0) & np.isfinite(value)
    t = 0.5 * np.log1p(sigma[ok] ** 2)
    v, se = value[ok], stderr[ok]
    o = np.argsort(t)
    t, v, se = t[o], v[o], se[o]
    if np.all(se == 0):
        return CubicSpline(t, v), float(t[0]), float(t[-1])
    floor = max(0.25 * float(np.median(se[se > 0])) if np.any(se > 0) else 1e-6, 1e-9)
    spl = UnivariateSpline(t, v, w=1.0 / np.maximum(se, floor), k=3, s=SMOOTHING * t.size)
    return spl, float(t[0]), float(t[-1])


def profile_landmarks(sigma: np.ndarray, value: np.ndarray, stderr: np.ndarray, h_prior: float) -> dict:
    """Landmarks of a (cross-)entropy profile given on a σ grid, in OU time t = ½ log(1 + σ²), from its first upward
    level crossings (linear interpolation of the profile itself; robust): ``half_t`` (½ h_prior; ``half_t_err`` =
    stderr/slope there), ``h10_t``, ``h90_t`` (10 % and 90 % of h_prior) and the 10–90 % window ``window_t``; and
    from the derivative of its smoothing spline (``smooth_profile``, on 4001 points; noisier, a Monte Carlo
    profile's raw finite differences are useless): ``peak_t``, ``peak_rate`` of dCE/dt (grid maximum) and ``fwhm_t``
    (between ``fwhm_lo``, ``fwhm_hi``; nan unless both ends are found).
    """
    nan = float("nan")
    out = {"half_t": nan, "half_t_err": nan, "h10_t": nan, "h90_t": nan, "window_t": nan, "peak_t": nan,
           "peak_rate": nan, "fwhm_t": nan, "fwhm_lo": nan, "fwhm_hi": nan}
    sig, val, ser = (np.asarray(x, np.float64) for x in (sigma, value, stderr))
    ok = (sig > 0) & np.isfinite(val)
    tg = 0.5 * np.log1p(sig[ok] ** 2)
    o = np.argsort(tg)
    tg, vg, sg = tg[o], val[ok][o], ser[ok][o]
    for name, frac in (("half_t", 0.5), ("h10_t", 0.1), ("h90_t", 0.9)):
        level = frac * h_prior
        bracket = crossing_bracket(vg, level, direction="up")
        if bracket is not None:
            out[name] = level_crossing(tg, vg, level, direction="up")
            if name == "half_t":
                i = bracket[0]
                slope = (vg[i + 1] - vg[i]) / (tg[i + 1] - tg[i])
                out["half_t_err"] = float(0.5 * (sg[i] + sg[i + 1]) / slope)
    out["window_t"] = out["h90_t"] - out["h10_t"]
    spl, lo, hi = smooth_profile(sigma, value, stderr)
    t = np.linspace(lo, hi, 4001)
    r = spl.derivative()(t)
    j = peak_index(r, edge=1)
    if j is not None:
        out["peak_t"], out["peak_rate"] = rate_peak(t, r, edge=1, refine="grid")
        f_lo, f_hi = half_maximum_window(t, r, peak_index=j)
        if np.isfinite(f_lo) and np.isfinite(f_hi):
            out.update(fwhm_t=float(f_hi - f_lo), fwhm_lo=float(f_lo), fwhm_hi=float(f_hi))
    return out


def information_inside(sigma: np.ndarray, value: np.ndarray, interval: tuple[float, float]) -> dict:
    """Semantic information produced (decrease of the profile along generation) by steps whose geometric-mean σ
    lies inside / outside the interval. Returns {"inside", "outside", "total", "fraction_inside"}."""
    sigma, value = np.asarray(sigma, np.float64), np.asarray(value, np.float64)
    drop = value[:-1] - value[1:]
    mid = np.sqrt(sigma[:-1] * sigma[1:])
    mid = np.where(sigma[1:] == 0, 0.5 * sigma[:-1], mid)
    lo, hi = interval
    inside = (mid > lo) & (mid < hi)
    tot = float(np.nansum(drop))
    ins = float(np.nansum(drop[inside]))
    frac = ins / tot if tot != 0 else float("nan")
    return {"inside": ins, "outside": tot - ins, "total": tot, "fraction_inside": frac}


# ================================================================================================ one profile
@dataclass(frozen=True, repr=False)
class GuidedProfile:
    """A guided (cross-)entropy profile and what the guided samples look like at the end.

    sigma (L,), t_ou (L,): the grid (VE-equivalent σ, OU time at equal SNR); value, stderr: CE(σ) = E −log p_t(z|x);
    rate_t, rate: dCE/dt of the smoothing spline at the σ > 0 grid points (t increasing); h_prior: entropy of the
    target's prior (the level of the half-entropy landmark); landmarks: ``profile_landmarks``; frequencies:
    soft/hard final (group) frequencies and stderr; error_rate (± error_rate_stderr): 1 − E p_end(target | x);
    var_ratio: within-class variance along the semantic subspace / target; freq_kl: KL(soft fine-class frequencies
    ‖ the w = 1 expectation); commit_t: median commitment time (OU); overshoot (± overshoot_stderr): in within-class
    sd, class-level runs only; n_samples: the number of trajectories.
    """

    w: float
    interval: tuple[float, float] | None
    label: object
    sampler: str
    n_samples: int
    sigma: np.ndarray
    t_ou: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    rate_t: np.ndarray
    rate: np.ndarray
    h_prior: float
    landmarks: dict
    frequencies: dict
    error_rate: float
    error_rate_stderr: float
    var_ratio: float
    freq_kl: float
    commit_t: float
    overshoot: float
    overshoot_stderr: float
    trajectories: Trajectories | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        """The fields by name, without the trajectories."""
        d = asdict(replace(self, trajectories=None))
        d.pop("trajectories", None)
        return d

    def __repr__(self) -> str:
        return (f"GuidedProfile(w={self.w:g}, interval={self.interval}, label={self.label!r}, "
                f"sampler={self.sampler!r}, n_samples={self.n_samples}, half_t={self.landmarks['half_t']:.4g}, "
                f"error_rate={self.error_rate:.3g})")


def guided_profile(
    mixture: GaussianMixture,
    *,
    w: float = 1.0,
    interval: object = None,
    label: object = 0,
    partition: Partition | None = None,
    sampler: str = "edm",
    n_steps: int = 64,
    n_samples: int = 2048,
    key: object = None,
    keep_trajectories: bool = False,
    **sampler_kwargs,
) -> GuidedProfile:
    """Cross-entropy profile E_{q_w}[−log p_t(z | x_t)] of guided sampling toward ``label`` (a class, or a group of
    ``partition``; "prior" draws one label per sample from the prior), with CFG scale ``w`` applied everywhere
    (``interval=None``) or only for σ in ``interval`` = (σ_lo, σ_hi) (unit-data VE σ). ``n_samples`` trajectories
    of ``n_steps`` sampler steps; ``key``: an int seed or a PRNG key. Other keywords go to ``dynamics.simulate``
    (process, T, S_churn, init, ...)."""
    guidance = "cfg" if interval is None else "interval"
    tr = simulate(mixture, sampler=sampler, n_samples=n_samples, n_steps=n_steps, key=key, label=label,
                  guidance=guidance, w=w, interval=interval, partition=partition, record=True, **sampler_kwargs)
    part = None if partition is None else check_partition(partition, mixture.K)
    ce, se = cross_entropy_profile(tr)
    spl, _, _ = smooth_profile(tr.sigma, ce, se)
    rate_t = np.sort(tr.t_ou[tr.sigma > 0])
    rate = spl.derivative()(rate_t)
    gw = (part or Partition.identity(mixture.K)).group_weights(mixture.weights)
    labs = tr.labels
    h_prior = float(np.mean(-np.log(gw[labs]))) if np.all(gw[labs] > 0) else float("nan")
    if isinstance(label, str):  # labels from the prior: the level is H[Z_P]
        pw = gw[gw > 0]
        h_prior = float(-np.sum(pw * np.log(pw)))
    lm = profile_landmarks(tr.sigma, ce, se, h_prior)
    freqs = class_frequencies(tr)
    lp_end = group_log_posterior(tr, tr.final_log_post, None)
    p_target = np.exp(np.take_along_axis(lp_end, labs[:, None], axis=-1)[:, 0])
    err, err_se = mean_stderr(1.0 - p_target)
    fine = np.exp(tr.final_log_post).mean(axis=0)
    prior_in_group = np.exp(group_log_priors(mixture, part))
    prior_in_group /= prior_in_group.sum(axis=1, keepdims=True)
    target = prior_in_group[labs].mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = float(np.sum(np.where(fine > 0, fine * np.log(fine / target), 0.0)))
    kl = max(kl, 0.0)  # KL ≥ 0; a few 1e-17 below 0 are rounding
    var = within_class_variance(tr, mixture)["signal_ratio"]
    com = commitment_times(tr)
    ct = com["t_ou"][np.isfinite(com["t_ou"])]
    if part is None:
        ov = overshoot(tr, mixture)  # final states are unit-scale data in every frame (a(t_end) = 1)
        ov_m, ov_se = ov["mean"], ov["stderr"]
    else:
        ov_m = ov_se = float("nan")
    return GuidedProfile(
        w=float(w), interval=None if interval is None else check_interval(interval), label=label,
        sampler=sampler, n_samples=tr.n, sigma=tr.sigma, t_ou=tr.t_ou, value=ce, stderr=se, rate_t=rate_t, rate=rate,
        h_prior=h_prior, landmarks=lm, frequencies=freqs, error_rate=float(err), error_rate_stderr=float(err_se),
        var_ratio=float(var), freq_kl=kl, commit_t=float(np.median(ct)) if ct.size else float("nan"),
        overshoot=float(ov_m), overshoot_stderr=float(ov_se), trajectories=tr if keep_trajectories else None,
    )
