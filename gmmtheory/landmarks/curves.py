"""The entropy curves H[Z_P | X](λ) and dH/dλ of a mixture, one per partition, as functions of the log-SNR λ.

``entropy_curves`` picks, per partition P:
- two classes with a shared covariance (exact): H(λ) from the binary channel (Gauss–Hermite, ``entropy.quadrature``)
  and dH/dλ = −½ mmse_b(s) ds/dλ (I-MMSE, ``rate.binary_mmse``), s(γ) = Σ_u q_u γ/(γu + 1);
- two classes with equal means and isotropic variances (covariance-only, exact): H by the χ²_d quadrature of
  ``entropy.covariance_only``, dH/dλ by a central difference (step 1e-4 in λ);
- one group: H = 0;
- anything else: Monte Carlo on a λ grid with common random numbers (``class_entropy`` and
  ``entropy_rate(wrt="log_snr")``, method "autodiff" where the reduced statistics apply, else "denoiser_gap"),
  interpolated by cubic splines, with stderr functions interpolated linearly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from scipy import interpolate

from gmmtheory._precision import precision_scope
from gmmtheory.entropy.api import class_entropy
from gmmtheory.entropy.covariance_only import (
    covariance_only_log_snr_window,
    covariance_only_of_log_snr,
    is_covariance_only,
)
from gmmtheory.entropy.quadrature import binary_expectation, gauss_hermite
from gmmtheory.entropy.rate import binary_mmse, entropy_rate
from gmmtheory.entropy.reduced import applies as reduced_applies
from gmmtheory.landmarks.binary import _binary_q, _snr_of_lam, snr_log_snr
from gmmtheory.mixture import GaussianMixture, Partition, check_partition, prior_entropy
from gmmtheory.processes import OU, Process, check_process
from gmmtheory.schedules import log_snr_range, log_snr_to_ou_time

_OU = OU()
FD_STEP = 1e-4  # central-difference step in λ for exact curves


@dataclass
class EntropyCurve:
    """H[Z_P | X] and dH/dλ as functions of λ (vectorised: 1-D array in, array out), with optional stderr functions
    (Monte Carlo; None for exact curves), valid on [lam_lo, lam_hi]."""

    label: str
    h_prior: float
    method: str
    H: Callable[[np.ndarray], np.ndarray]
    rate: Callable[[np.ndarray], np.ndarray]  # dH/dλ (≤ 0)
    lam_lo: float
    lam_hi: float
    H_se: Callable[[np.ndarray], np.ndarray] | None = None
    rate_se: Callable[[np.ndarray], np.ndarray] | None = None
    grid_step: float = 0.0
    n_samples: int = 0

    @property
    def exact(self) -> bool:
        """True for closed-form / quadrature curves (no Monte Carlo stderr)."""
        return self.H_se is None

    def __repr__(self) -> str:
        return (f"EntropyCurve(label={self.label!r}, method={self.method!r}, h_prior={self.h_prior:.6g}, "
                f"lam=[{self.lam_lo:.4g}, {self.lam_hi:.4g}])")


def _binary_curve(mixture: GaussianMixture, label: str, h_prior: float, lam_range=None) -> EntropyCurve:
    u, q = _binary_q(mixture)
    nodes, gh_w = gauss_hermite(200)
    log_w = np.log(mixture.weights)

    def H(lam):
        s, _ = _snr_of_lam(u, q, np.atleast_1d(lam))
        with precision_scope("float64"):
            out = binary_expectation(jnp.asarray(s), jnp.asarray(log_w), jnp.asarray(nodes), jnp.asarray(gh_w),
                                     None, "entropy")
        return np.asarray(out, np.float64)

    def rate(lam):
        s, ds = _snr_of_lam(u, q, np.atleast_1d(lam))
        return -0.5 * binary_mmse(s, mixture.weights) * ds

    if lam_range is None:
        lo = snr_log_snr(mixture, 1e-3)
        hi = snr_log_snr(mixture, 80.0)
        if not np.isfinite(hi):
            hi = lo + 40.0
        lam_range = (lo, hi)
    return EntropyCurve(label, h_prior, "closed_form", H, rate, float(lam_range[0]), float(lam_range[1]))


def _cov_only_curve(mixture: GaussianMixture, label: str, h_prior: float) -> EntropyCurve:
    def H(lam):
        return covariance_only_of_log_snr(mixture, lam)

    def rate(lam):
        lam = np.atleast_1d(np.asarray(lam, np.float64))
        return (H(lam + FD_STEP) - H(lam - FD_STEP)) / (2.0 * FD_STEP)

    lo, hi = covariance_only_log_snr_window(mixture)
    return EntropyCurve(label, h_prior, "chi2_quadrature", H, rate, lo, hi)


def _auto_lam_range(mixture: GaussianMixture) -> tuple[float, float]:
    """A λ range covering the class transitions: the scales of the between-class covariance (±8 in λ)."""
    pi = mixture.weights
    centred = mixture.means - pi @ mixture.means
    small = (np.sqrt(pi)[:, None] * centred) @ (np.sqrt(pi)[:, None] * centred).T
    ev = np.linalg.eigvalsh(small)
    ev = ev[ev > ev.max() * 1e-10] if ev.max() > 0 else np.array([1.0])
    lo = -math.log(ev.max()) - 8.0
    hi = -math.log(ev.min()) + 10.0
    if not mixture.isotropic or mixture.cov_kind == "class_iso":
        hi += 4.0
    return lo, hi


def _mc_curve(mixture: GaussianMixture, part: Partition, label: str, h_prior: float, lam_grid: np.ndarray,
              n_samples: int | None, key: object) -> EntropyCurve:
    t_ou = log_snr_to_ou_time(lam_grid)
    # warn=False: a wide λ grid reaches decided times where H is a rare event; the flag stays in ent.extra
    ent = class_entropy(mixture, _OU, t_ou, partition=part, n_samples=n_samples, key=key, warn=False)
    method = "autodiff" if reduced_applies(mixture) else "denoiser_gap"
    rt = entropy_rate(mixture, _OU, t_ou, wrt="log_snr", partition=part, method=method, n_samples=n_samples, key=key)
    H_s = interpolate.CubicSpline(lam_grid, ent.value)
    R_s = interpolate.CubicSpline(lam_grid, rt.value)
    def H_se(lam):
        return np.interp(lam, lam_grid, ent.stderr)
    def R_se(lam):
        return np.interp(lam, lam_grid, rt.stderr)
    step = float(np.max(np.diff(lam_grid)))
    return EntropyCurve(label, h_prior, f"{ent.method}+{rt.method}", lambda lam: H_s(np.atleast_1d(lam)),
                  lambda lam: R_s(np.atleast_1d(lam)), float(lam_grid[0]), float(lam_grid[-1]), H_se, R_se, step,
                  int(ent.n_samples))


def entropy_curves(mixture: GaussianMixture, partitions: dict[str, Partition] | None = None, *, t_grid: object = None,
                   process: Process | str = _OU, n_grid: int = 161, n_samples: int | None = None,
                   key: object = None) -> list[EntropyCurve]:
    """One ``EntropyCurve`` per partition, "classes" (the labels themselves) first, then ``partitions`` in order.

    ``t_grid``: times of ``process`` whose log-SNRs form the Monte Carlo grid (≥ 5 distinct; for exact curves they
    bound the range); default ``n_grid`` log-SNRs spanning the class transitions (from the between-class
    covariance spectrum) inside the process's domain. ``n_samples``, ``key``: Monte Carlo draws and PRNG key.
    """
    process = check_process(process)
    items = [("classes", Partition.identity(mixture.K))] + list((partitions or {}).items())
    lam_grid = None
    if t_grid is not None:
        times = process.check_times(t_grid)
        with precision_scope("float64"):
            lam_grid = np.asarray(process.log_snr(jnp.asarray(np.atleast_1d(times))), np.float64)
        order = np.argsort(lam_grid)
        lam_grid = lam_grid[order]
        if lam_grid.size < 5 or not np.all(np.isfinite(lam_grid)) or np.any(np.diff(lam_grid) <= 0):
            raise ValueError("t_grid must hold at least 5 distinct times with 0 < σ(t) and finite log-SNR")
    out = []
    for name, part in items:
        part = check_partition(part, mixture.K)
        h_prior = prior_entropy(mixture, part)
        binary = mixture.K == 2 and mixture.shared_covariance and part.M == 2
        if binary:
            rng = None if lam_grid is None else (lam_grid[0], lam_grid[-1])
            out.append(_binary_curve(mixture, name, h_prior, rng))
        elif mixture.K == 2 and part.M == 2 and is_covariance_only(mixture):
            c = _cov_only_curve(mixture, name, h_prior)
            if lam_grid is not None:
                c.lam_lo, c.lam_hi = float(lam_grid[0]), float(lam_grid[-1])
            out.append(c)
        elif part.M == 1:
            out.append(EntropyCurve(name, 0.0, "trivial", lambda lam: np.zeros(np.size(lam)),
                              lambda lam: np.zeros(np.size(lam)), 0.0, 0.0))
        else:
            grid = lam_grid
            if grid is None:
                lo, hi = _auto_lam_range(mixture)
                plo, phi = log_snr_range(process)
                lo = max(lo, plo + 1e-6 if np.isfinite(plo) else lo)
                hi = min(hi, phi - 1e-6 if np.isfinite(phi) else hi)
                grid = np.linspace(lo, hi, n_grid)
            out.append(_mc_curve(mixture, part, name, h_prior, grid, n_samples, key))
    return out


__all__ = ["FD_STEP", "EntropyCurve", "entropy_curves"]
