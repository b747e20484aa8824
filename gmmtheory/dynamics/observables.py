"""Measurements along reverse runs: entropy and cross-entropy profiles, their rate, commitment times, class
frequencies, overshoot along the class direction and within-class variance.

From the exact class posterior p_t(k | x_t) recorded at each grid point (``Trajectories.log_post``) and the
projections on the semantic basis Q:

    entropy profile        E[−Σ_B p_t(B | x_t) log p_t(B | x_t)]    (unguided: an estimate of H[Z_P | X_t])
    cross-entropy profile  E[−log p_t(z | x_t)] of the target z     (w = 1, labels from the prior: = H[Z | X_t])
    overshoot              E⟨x_end − μ_z, u_z⟩ / sd_z,  u_z = (μ_z − μ̄)/|μ_z − μ̄|

with means and standard errors over the samples (``mean_stderr``); group posteriors are
p(B | x) = Σ_{k∈B} p(k | x) (``group_log_posterior``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from gmmtheory.dynamics.sampling import Trajectories
from gmmtheory.mixture import GaussianMixture, Partition


def group_log_posterior(traj: Trajectories, lp: np.ndarray, partition: Partition | None) -> np.ndarray:
    """log p(B | x) = logsumexp_{k∈B} log p(k | x) for the groups of ``partition`` (default: the run's guidance
    partition; the classes themselves when it has none). ``lp``: (..., K) class log-posteriors."""
    part = traj.partition if partition is None else partition
    if part is None:
        return lp
    mem = part.membership() > 0  # (K, M)
    with np.errstate(invalid="ignore"):
        return logsumexp(np.where(mem, lp[..., :, None], -np.inf), axis=-2)


def mean_stderr(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the samples (axis 0, NaN ignored) and its standard error sd/√n (0 for a single sample)."""
    n = np.sum(np.isfinite(v), axis=0)
    m = np.nanmean(v, axis=0)
    sd = np.nanstd(v, axis=0, ddof=1) if v.shape[0] > 1 else np.zeros_like(m)
    return m, sd / np.sqrt(np.maximum(n, 1))


def _need_record(traj: Trajectories) -> np.ndarray:
    if traj.log_post is None:
        raise ValueError("this measurement needs record=True")
    return traj.log_post


def entropy_profile(traj: Trajectories, partition: Partition | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per grid point: mean and stderr of −Σ_B p_t(B | x_t) log p_t(B | x_t) (unguided: estimates H[Z_P | X_t])."""
    lp = group_log_posterior(traj, _need_record(traj), partition)
    p = np.exp(lp)
    h = -np.sum(np.where(p > 0, p * lp, 0.0), axis=-1)
    h = np.where(np.all(np.isfinite(lp), axis=-1), h, np.nan)
    return mean_stderr(h)


def cross_entropy_profile(traj: Trajectories) -> tuple[np.ndarray, np.ndarray]:
    """Per grid point: mean and stderr of −log p_t(z | x_t) for each sample's target z (guided runs)."""
    if np.any(traj.labels < 0):
        raise ValueError("cross_entropy_profile needs labelled runs; use entropy_profile for unconditional ones")
    lp = group_log_posterior(traj, _need_record(traj), None)
    ce = -np.take_along_axis(lp, traj.labels[:, None, None], axis=-1)[..., 0]
    return mean_stderr(ce)


def profile_rate(sigma: np.ndarray, value: np.ndarray, wrt: str = "t_ou") -> tuple[np.ndarray, np.ndarray]:
    """d value / dτ on the grid (τ = OU time ½ log(1+σ²), or log σ), by central differences; points with σ = 0
    are dropped. Returns (τ, rate), τ increasing."""
    sigma, value = np.asarray(sigma, float), np.asarray(value, float)
    ok = (sigma > 0) & np.isfinite(value)
    s, v = sigma[ok], value[ok]
    tau = 0.5 * np.log1p(s**2) if wrt == "t_ou" else np.log(s)
    if wrt not in ("t_ou", "log_sigma"):
        raise ValueError(f"wrt must be 't_ou' or 'log_sigma'; got {wrt!r}")
    order = np.argsort(tau)
    tau, v = tau[order], v[order]
    return tau, np.gradient(v, tau)


def commitment_times(traj: Trajectories, partition: Partition | None = None) -> dict:
    """Per sample: the VE σ (and OU time) of the last crossing of ½, in generation order, by the posterior of the
    final class (argmax of the final posterior); interpolated in log σ. nan when the final class's posterior ends
    below ½ (undecided). Returns {"sigma", "t_ou", "final_class"}."""
    lp = group_log_posterior(traj, _need_record(traj), partition)
    final = np.argmax(group_log_posterior(traj, traj.final_log_post, partition), axis=-1)
    p = np.exp(np.take_along_axis(lp, final[:, None, None], axis=-1)[..., 0])  # (n, L)
    sig = traj.grid.sigma
    n, L = p.shape
    out = np.full(n, np.nan)
    valid = np.isfinite(p)
    below = (p <= 0.5) & valid
    above = (p > 0.5) & valid
    for i in range(n):
        idx = np.flatnonzero(below[i, :-1] & above[i, 1:])
        if not above[i][valid[i]][-1:].all() or valid[i].sum() == 0:
            continue
        if idx.size == 0:
            first = np.flatnonzero(valid[i])[0]
            out[i] = sig[first]
            continue
        j = int(idx[-1])
        s0, s1 = sig[j], sig[j + 1]
        p0, p1 = p[i, j], p[i, j + 1]
        frac = (0.5 - p0) / (p1 - p0) if p1 != p0 else 0.0
        if s1 > 0:
            out[i] = float(np.exp(np.log(s0) + frac * (np.log(s1) - np.log(s0))))
        else:
            out[i] = s0 + frac * (s1 - s0)
    return {"sigma": out, "t_ou": 0.5 * np.log1p(out**2), "final_class": final}


def class_frequencies(traj: Trajectories, partition: Partition | None = None) -> dict:
    """Final class (group) frequencies: "soft" = mean p_end(k | x_end) (unbiased for the latent class law), its
    "stderr", and "hard" = argmax histogram."""
    lp = group_log_posterior(traj, traj.final_log_post, partition)
    p = np.exp(lp)
    soft, se = mean_stderr(p)
    hard = np.bincount(np.argmax(lp, axis=-1), minlength=p.shape[-1]) / p.shape[0]
    return {"soft": soft, "stderr": se, "hard": hard}


def _target_projection(mixture: GaussianMixture, basis: np.ndarray, z: int) -> tuple[np.ndarray, float, float, float]:
    """Unit class direction u_z in basis coordinates, ⟨μ̄, u_z⟩, |μ_z − μ̄| and the within-class sd along u_z."""
    mbar = mixture.weights @ mixture.means
    diff = mixture.means[z] - mbar
    nrm = float(np.linalg.norm(diff))
    u = diff / nrm if nrm > 0 else np.zeros_like(diff)
    ub = basis.T @ u
    evals, U = mixture.spectrum
    if U is None:
        var = float(np.sum(u**2 * evals[z]))
    elif U.ndim == 2:
        var = float(np.sum((U.T @ u) ** 2 * evals[z]))
    else:
        var = float(np.sum((U[z].T @ u) ** 2 * evals[z]))
    return ub, float(mbar @ u), nrm, math.sqrt(max(var, 1e-300))


def overshoot(traj: Trajectories, mixture: GaussianMixture) -> dict:
    """Final projection on the target class direction u_z = (μ_z − μ̄)/|μ_z − μ̄| beyond the class mean, in units of
    the within-class sd along u_z: mean and stderr over samples of ⟨x_end − μ_z, u_z⟩/sd_z (class-level labels)."""
    if np.any(traj.labels < 0) or traj.partition is not None:
        raise ValueError("overshoot needs class-level labelled runs")
    vals = np.empty(traj.n)
    for z in np.unique(traj.labels):
        sel = traj.labels == z
        ub, mb, nrm, sd = _target_projection(mixture, traj.basis, int(z))
        vals[sel] = (traj.final_proj[sel] @ ub - mb - nrm) / sd
    m, se = mean_stderr(vals)
    return {"mean": float(m), "stderr": float(se), "values": vals}


def _orthogonal_spread(traj: Trajectories, sel: np.ndarray) -> float:
    """E|x⊥_end|² within the selected samples of a reduced run (the mean of x⊥ is 0)."""
    if "orth_variance" in traj.extra:
        return float(np.dot(traj.extra["orth_mult"], traj.extra["orth_variance"][traj.stop]))
    return float(np.mean(traj.extra["final_rho"][sel]))


def within_class_variance(traj: Trajectories, mixture: GaussianMixture) -> dict:
    """Diversity: variance of the final samples within their (hard) final class, along the semantic subspace
    (``signal_ratio``: Σ_k π̂_k tr(Qᵀ Cov̂_k Q)/tr(Qᵀ Σ_k Q)) and, when x was kept, over all d coordinates
    (``total_ratio``: tr Cov̂_k / tr Σ_k). Ratios < 1 mean lost diversity. For a reduced run without x
    (``simulate(reduced=...)``), tr Cov̂_k = the variance of u within the class plus the orthogonal spread:
    Σ_g mult_g V_end,g (shared covariance: x⊥ is independent of u and of the class, ``extra["orth_variance"]``) or
    the class mean of ρ = |x⊥|² (isotropic classes, ``extra["final_rho"]``)."""
    cls = np.argmax(traj.final_log_post, axis=-1)
    Q = traj.basis
    sig_r, tot_r, wts = [], [], []
    evals, U = mixture.spectrum
    covs = None
    for k in range(mixture.K):
        sel = cls == k
        if sel.sum() < 3:
            continue
        pj = traj.final_proj[sel]
        emp = float(np.sum(np.var(pj, axis=0, ddof=1)))
        if U is None:
            th = float(np.sum((Q**2) * evals[k][:, None]))
        else:
            if covs is None:
                covs = mixture.component_covariances()
            th = float(np.trace(Q.T @ covs[k] @ Q))
        sig_r.append(emp / th if th > 0 else np.nan)
        if traj.x is not None:
            tot_r.append(float(np.sum(np.var(traj.x[sel], axis=0, ddof=1))) / float(np.sum(evals[k])))
        elif "final_u" in traj.extra:  # a reduced run: u's spread plus the closed-form (or tracked) orthogonal part
            tot_r.append((float(np.sum(np.var(traj.extra["final_u"][sel], axis=0, ddof=1)))
                          + _orthogonal_spread(traj, sel)) / float(np.sum(evals[k])))
        wts.append(sel.mean())
    wts = np.asarray(wts) / max(np.sum(wts), 1e-300)
    return {"signal_ratio": float(np.dot(wts, sig_r)) if sig_r else float("nan"),
            "total_ratio": float(np.dot(wts, tot_r)) if tot_r else float("nan")}
