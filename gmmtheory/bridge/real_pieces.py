"""Pieces of the real-model experiment (``real_model.run_real_model``) that need no network: landmarks and
agreement of measured curves, the 2-means partition of class means, the Gaussian-mixture surrogate and JSON cleaning.

- ``crossing_landmarks``: on the least-squares non-decreasing fit Ĥ of H against log σ, σ_q is where Ĥ first reaches
  q·H[Z] (q = 10, 50, 90 %; linear interpolation in log σ); uncertainty of log σ_q propagated, se(H)/(dĤ/dlog σ),
  and by a parametric bootstrap H* = H + se·ξ.
- ``estimator_agreement``: z = |H_A − H_B| / √(se_A² + se_B²) per σ of A, B interpolated in log σ.
- ``two_means_partition``: the two-block split minimising Σ_B Σ_{y ∈ B} |μ_y − μ̄_B|².
- ``fit_surrogate``: p_0 = Σ_y (1/K) N(μ_y, Σ_y) from labelled samples, Σ_y = U_y U_yᵀ + diag ψ_y (low rank plus
  diagonal, the default) or diag v_y, and σ_S = √(Λ − 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory._curves import crossing_bracket, isotonic_fit
from gmmtheory.bridge.base import Measurement
from gmmtheory.mixture import GaussianMixture, Partition

__all__ = ["DEFAULT_RANK", "LEVELS", "SURROGATE_COVS", "check_denoiser", "check_surrogate_options",
           "crossing_landmarks", "estimator_agreement", "fit_surrogate", "two_means_partition"]

LEVELS = (0.1, 0.5, 0.9)
SURROGATE_COVS = ("lowrank", "diagonal")
DEFAULT_RANK = 32  # r_y = min(n_y − 1, d, 32) unless ``rank`` says otherwise
_NEED = ("shape", "num_classes", "sigma_data", "sigma_max", "device", "dtype")


def check_denoiser(model: Any, name: str = "model") -> None:
    """Refuse an object that is not a ``Denoiser`` (callable with the protocol's attributes), naming ``name``."""
    missing = [a for a in _NEED if not hasattr(model, a)]
    if missing or not callable(model):
        raise ValueError(f"{name} must implement the Denoiser protocol; missing {missing or ['__call__']}")


def _mean_se(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the first axis and its standard error std/√n."""
    return v.mean(axis=0), v.std(axis=0, ddof=1) / math.sqrt(v.shape[0])


def _entropy(log_p: np.ndarray) -> np.ndarray:
    """−Σ p log p over the last axis, with 0 log 0 = 0."""
    p = np.exp(log_p)
    return -np.sum(np.where(p > 0, p * np.where(np.isfinite(log_p), log_p, 0.0), 0.0), axis=-1)

def _finite(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def _clean(obj: Any) -> Any:
    """JSON-ready: numpy → Python, non-finite floats → None (strict JSON has no NaN)."""
    if isinstance(obj, Measurement):
        obj = obj.to_dict()
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _finite(float(obj))
    return obj


def _group(log_post: np.ndarray, partition: Partition) -> np.ndarray:
    """log p(B | x) = log Σ_{y ∈ B} p(y | x) over the last axis (…, K) → (…, M)."""
    mem = partition.membership() > 0  # (K, M)
    return np.logaddexp.reduce(np.where(mem, log_post[..., :, None], -np.inf), axis=-2)


def _per_sample_rate(sigma: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and stderr of each sample's centred difference dH_i/dlog σ on the grid (n, T) → (T,), (T,)."""
    return _mean_se(np.gradient(h, np.log(sigma), axis=1))


def crossing_landmarks(sigma: object, H: object, stderr: object, h_prior: float, *, n_boot: int = 200,
                       seed: int = 0) -> dict[str, Any]:
    """σ where a measured H[Z | X_σ] first reaches 10 / 50 / 90 % of ``h_prior`` (module docstring, 6).

    Returns ``sigma_10``, ``sigma_50``, ``sigma_90`` (nan where the fit does not reach the level inside the grid),
    ``log_se_q`` (propagated: stderr/slope, in log σ), ``log_sd_boot_q`` (bootstrap sd of log σ_q over the
    replicates that cross; nan with fewer than 2), ``window`` = (σ_10, σ_90), ``log_width`` = log(σ_90/σ_10),
    ``half`` = σ_50 and ``n_boot``.
    """
    s = np.asarray(sigma, np.float64).reshape(-1)
    h = np.asarray(H, np.float64).reshape(-1)
    se = np.zeros_like(h) if stderr is None else np.asarray(stderr, np.float64).reshape(-1)
    if s.size < 2 or h.shape != s.shape or se.shape != s.shape:
        raise ValueError(f"sigma, H and stderr must be 1-D arrays of one length ≥ 2; got {s.shape}, {h.shape}, "
                         f"{se.shape}")
    if not (math.isfinite(h_prior) and h_prior > 0):
        raise ValueError(f"h_prior must be a positive entropy (nats); got {h_prior!r}")
    n_boot = check_count("n_boot", n_boot, 0)
    order = np.argsort(s)
    s, h, se = s[order], h[order], se[order]
    ok = np.isfinite(h) & np.isfinite(se)
    ls, h, se = np.log(s[ok]), h[ok], se[ok]

    def crossings(values: np.ndarray) -> list[tuple[float, float]]:
        fit = isotonic_fit(values, x=ls) if ls.size >= 2 else values
        res = []
        for q in LEVELS:
            br = crossing_bracket(fit, q * h_prior, direction="up")
            if br is None:
                res.append((math.nan, math.nan))
                continue
            i, w = br
            slope = (fit[i + 1] - fit[i]) / (ls[i + 1] - ls[i])
            res.append((float(ls[i] + w * (ls[i + 1] - ls[i])), float(slope)))
        return res

    base = crossings(h)
    rng = np.random.default_rng(seed)
    boot = np.full((n_boot, len(LEVELS)), np.nan)
    if np.any(se > 0):
        for b in range(n_boot):
            boot[b] = [c[0] for c in crossings(h + se * rng.standard_normal(h.size))]
    out: dict[str, Any] = {"n_boot": n_boot if np.any(se > 0) else 0}
    for q, (lq, slope) in zip(LEVELS, base, strict=True):
        key = f"{int(round(100 * q))}"
        out[f"sigma_{key}"] = math.exp(lq) if math.isfinite(lq) else math.nan
        if math.isfinite(lq):
            j = int(np.clip(np.searchsorted(ls, lq), 1, ls.size - 1))
            w = (lq - ls[j - 1]) / (ls[j] - ls[j - 1])
            se_here = (1 - w) * se[j - 1] + w * se[j]
            out[f"log_se_{key}"] = float(se_here / slope) if slope > 0 else math.nan
        else:
            out[f"log_se_{key}"] = math.nan
        col = boot[:, LEVELS.index(q)]
        col = col[np.isfinite(col)]
        out[f"log_sd_boot_{key}"] = float(np.std(col, ddof=1)) if col.size >= 2 else math.nan
    out["window"] = (out["sigma_10"], out["sigma_90"])
    out["half"] = out["sigma_50"]
    out["log_width"] = math.log(out["sigma_90"] / out["sigma_10"]) if all(
        math.isfinite(v) for v in out["window"]) else math.nan
    return out


def estimator_agreement(a: Measurement, b: Measurement, *, tiny: float = 1e-9) -> dict[str, Any]:
    """Per σ of ``a``: z = |H_a − H_b| / √(se_a² + se_b²), b interpolated in log σ onto a's σ (module docstring, 4).

    Returns ``max_z`` and ``max_abs`` over the valid points (nan when none), ``n_points``, per-point ``sigma``,
    ``z``, ``delta`` (H_a − H_b; None where invalid) and ``invalid``: [{"sigma", "why"}].
    """
    sa, va, ea = (np.asarray(v, np.float64) for v in (a.sigma, a.value, a.stderr))
    sb, vb, eb = (np.asarray(v, np.float64) for v in (b.sigma, b.value, b.stderr))
    same = sa.shape == sb.shape and np.allclose(sa, sb, rtol=1e-12, atol=0)
    if same:
        vbi, ebi = vb, eb
    else:
        o = np.argsort(sb)
        lb = np.log(sb[o])
        vbi = np.interp(np.log(sa), lb, vb[o])
        ebi = np.interp(np.log(sa), lb, eb[o])
    se = np.sqrt(ea**2 + ebi**2)
    delta = va - vbi
    invalid, z_all, d_all = [], [], []
    for i, s in enumerate(sa):
        why = None
        if not same and not (sb.min() * (1 - 1e-12) <= s <= sb.max() * (1 + 1e-12)):
            why = f"outside {b.method}'s σ range [{sb.min():.3g}, {sb.max():.3g}]"
        elif not (np.isfinite(delta[i]) and np.isfinite(se[i])):
            why = "not finite"
        elif se[i] <= tiny:
            why = "zero combined standard error (both curves exact to rounding here)"
        if why is None:
            z_all.append(float(abs(delta[i]) / se[i]))
            d_all.append(float(delta[i]))
        else:
            invalid.append({"sigma": float(s), "why": why})
            z_all.append(None)
            d_all.append(None)
    zs = [z for z in z_all if z is not None]
    ds = [abs(d) for d in d_all if d is not None]
    return {"a": a.method, "b": b.method, "max_z": max(zs) if zs else math.nan,
            "max_abs": max(ds) if ds else math.nan, "n_points": len(zs), "sigma": sa.tolist(), "z": z_all,
            "delta": d_all, "interpolated": not same, "invalid": invalid}


def two_means_partition(means: object, *, names: tuple[str, str] = ("A", "B")) -> Partition:
    """The two-block split of the labels minimising Σ_B Σ_{y ∈ B} |μ_y − μ̄_B|² (μ̄_B the block's mean of the class
    means): exhaustive over the 2^{K−1} − 1 splits for K ≤ 16, else Lloyd's iterations from the farthest pair."""
    m = np.asarray(means, np.float64)
    if m.ndim != 2 or m.shape[0] < 2 or not np.all(np.isfinite(m)):
        raise ValueError(f"means must be a finite (K, d) array with K ≥ 2; got shape {m.shape}")
    K = m.shape[0]

    def cost(mask: np.ndarray) -> float:
        return float(sum(((m[b] - m[b].mean(0)) ** 2).sum() for b in (mask, ~mask) if b.any()))

    if K <= 16:
        best, best_mask = math.inf, None
        for bits in range(1, 2 ** (K - 1)):  # label K−1 always in block B: each split once
            mask = np.array([(bits >> k) & 1 == 1 for k in range(K)])
            c = cost(mask)
            if c < best - 1e-12:
                best, best_mask = c, mask
        mask = best_mask
    else:
        d2 = ((m[:, None] - m[None]) ** 2).sum(-1)
        i, j = np.unravel_index(int(np.argmax(d2)), d2.shape)
        centres = m[[i, j]]
        mask = np.zeros(K, bool)
        for _ in range(100):
            new = ((m - centres[0]) ** 2).sum(1) <= ((m - centres[1]) ** 2).sum(1)
            if new.all() or not new.any() or np.array_equal(new, mask):
                mask = new if new.any() and not new.all() else mask
                break
            mask = new
            centres = np.stack([m[mask].mean(0), m[~mask].mean(0)])
    a = [int(k) for k in np.flatnonzero(mask)]
    b = [int(k) for k in np.flatnonzero(~mask)]
    if 0 not in a:
        a, b = b, a
    return Partition([a, b], names=list(names))


def check_surrogate_options(covariance: object, rank: object, *,
                            names: tuple[str, str] = ("covariance", "rank")) -> tuple[str, int | None]:
    """Validate the surrogate's ``covariance`` ("lowrank" or "diagonal") and ``rank`` (None or an integer ≥ 1; only
    with "lowrank"), with one-line ``ValueError``s naming the argument (``names``: how the caller calls them)."""
    cn, rn = names
    if not isinstance(covariance, str) or covariance not in SURROGATE_COVS:
        raise ValueError(f"{cn} must be one of {', '.join(map(repr, SURROGATE_COVS))}; got {covariance!r}")
    if rank is not None:
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or int(rank) < 1:
            raise ValueError(f"{rn} must be None (default min(n_y − 1, d, {DEFAULT_RANK})) or an integer ≥ 1; "
                             f"got {rank!r}")
        if covariance != "lowrank":
            raise ValueError(f"{rn} applies only to {cn}='lowrank'; got {rn}={rank!r} with {cn}={covariance!r}")
        rank = int(rank)
    return covariance, rank


def fit_surrogate(x0: torch.Tensor, labels: torch.Tensor, K: int, *, covariance: str = "lowrank",
                  rank: int | None = None, shrinkage: float = 1e-3) -> dict[str, Any]:
    """The Gaussian-mixture surrogate p_0 = Σ_y (1/K) N(μ_y, Σ_y) of labelled samples (module docstring of
    ``real_model``, 7) and σ_S.

    Per class y with its n_y ≥ 2 samples x_i (flattened to d pixels): μ_y = (1/n_y) Σ_i x_i, the per-pixel sample
    variances v_yj = (1/(n_y − 1)) Σ_i (x_ij − μ_yj)², and the floor f = ``shrinkage`` · v̄ (v̄ the mean of v_yj over
    all classes and pixels; it keeps constant border pixels from making a degenerate Gaussian).

    - ``covariance="diagonal"``: Σ_y = diag(max(v_y, f)) (cov_kind "class_diag"; ignores pixel correlations).
    - ``covariance="lowrank"`` (default): Σ_y = U_y U_yᵀ + diag ψ_y (cov_kind "class_full", (K, d, d)). With the
      centred, scaled samples C_y = (X_y − 1 μ_yᵀ)/√(n_y − 1) (so the sample covariance is S_y = C_yᵀ C_y) and its
      thin SVD C_y = V diag(s) Wᵀ (s descending), U_y = W_{:, 1..r_y} diag(s_1..s_{r_y}) (d × r_y: the top-r_y
      principal directions scaled by their standard deviations) with r_y = min(``rank``, n_y − 1, d), ``rank``
      default 32; ψ_yj = max(v_yj − Σ_{m ≤ r_y} U_y,jm², f), the residual per-pixel variance floored. So
      (Σ_y)_jj = max(v_yj, Σ_m U_y,jm² + f) keeps the sample variances, the off-diagonal entries are those of the
      rank-r_y truncation of S_y, and ψ_y ≥ f > 0 makes Σ_y positive definite. With r_y = n_y − 1 ≤ d (e.g. 300
      samples, K = 10) the residual is zero and Σ_y = S_y + f I (the sample covariance, floored). Cost in
      ``class_entropy``'s Monte Carlo: (2K + 1)·d² multiply-adds per draw (its rotations) against O(K·d) for the
      diagonal form.

    Returns ``mixture`` (K components, weights 1/K), ``covariance``, ``rank`` (r_y per class; None for
    "diagonal"), ``floor`` (f), ``Lambda`` (top eigenvalue of the pooled samples' covariance), ``sigma_S`` =
    √(Λ − 1) (nan for Λ ≤ 1), ``t_S`` = ½ log Λ and ``counts`` (samples per class)."""
    covariance, rank = check_surrogate_options(covariance, rank)
    x = x0.detach().to(torch.float64).reshape(x0.shape[0], -1).cpu().numpy()
    lab = labels.detach().cpu().numpy()
    d = x.shape[1]
    means, var, counts, centred = [], [], [], []
    for c in range(K):
        xc = x[lab == c]
        counts.append(int(xc.shape[0]))
        if xc.shape[0] < 2:
            raise ValueError(f"n_fit: class {c} drew {xc.shape[0]} of the samples; the surrogate needs ≥ 2 per class "
                             "(raise n_fit)")
        mu = xc.mean(axis=0)
        means.append(mu)
        var.append(xc.var(axis=0, ddof=1))
        centred.append((xc - mu) / math.sqrt(xc.shape[0] - 1))
    v = np.asarray(var)
    floor = float(shrinkage * v.mean())
    ranks: list[int] | None = None
    if covariance == "diagonal":
        mix = GaussianMixture(np.asarray(means), np.maximum(v, floor), np.full(K, 1.0 / K), cov_kind="class_diag")
    else:
        cov = np.empty((K, d, d))
        ranks = []
        for c in range(K):
            r = min(DEFAULT_RANK if rank is None else rank, counts[c] - 1, d)
            _, s, wt = np.linalg.svd(centred[c], full_matrices=False)
            u = wt[:r].T * s[:r]  # (d, r)
            psi = np.maximum(v[c] - np.sum(u * u, axis=1), floor)
            cov[c] = u @ u.T
            cov[c][np.diag_indices(d)] += psi
            ranks.append(int(r))
        mix = GaussianMixture(np.asarray(means), cov, np.full(K, 1.0 / K), cov_kind="class_full")
    xc = x - x.mean(axis=0)
    lam = float(np.linalg.svd(xc, compute_uv=False)[0] ** 2 / max(x.shape[0] - 1, 1))
    return {"mixture": mix, "covariance": covariance, "rank": ranks, "floor": floor, "Lambda": lam,
            "sigma_S": math.sqrt(lam - 1.0) if lam > 1 else math.nan,
            "t_S": 0.5 * math.log(lam) if lam > 0 else math.nan, "counts": counts}
