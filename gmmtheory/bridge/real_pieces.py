"""Pieces of the real-model experiment (``real_model.run_real_model``) that need no network: landmarks and
agreement of measured curves, the 2-means partition of class means, the diagonal surrogate and JSON cleaning.

- ``crossing_landmarks``: on the least-squares non-decreasing fit Ĥ of H against log σ, σ_q is where Ĥ first reaches
  q·H[Z] (q = 10, 50, 90 %; linear interpolation in log σ); uncertainty of log σ_q propagated, se(H)/(dĤ/dlog σ),
  and by a parametric bootstrap H* = H + se·ξ.
- ``estimator_agreement``: z = |H_A − H_B| / √(se_A² + se_B²) per σ of A, B interpolated in log σ.
- ``two_means_partition``: the two-block split minimising Σ_B Σ_{y ∈ B} |μ_y − μ̄_B|².
- ``fit_surrogate``: p_0 = Σ_y (1/K) N(μ_y, diag v_y) from labelled samples, and σ_S = √(Λ − 1).
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

__all__ = ["LEVELS", "check_denoiser", "crossing_landmarks", "estimator_agreement", "fit_surrogate",
           "two_means_partition"]

LEVELS = (0.1, 0.5, 0.9)
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


def fit_surrogate(x0: torch.Tensor, labels: torch.Tensor, K: int, *, shrinkage: float = 1e-3) -> dict[str, Any]:
    """The diagonal Gaussian-mixture surrogate of labelled samples (module docstring, 7) and σ_S.

    Returns ``mixture`` (K components, weights 1/K, means μ_y, per-class diagonal variances floored at ``shrinkage``
    × their mean), ``Lambda`` (top eigenvalue of the pooled covariance), ``sigma_S`` = √(Λ − 1) (nan for Λ ≤ 1),
    ``t_S`` = ½ log Λ and ``counts`` (samples per class)."""
    x = x0.detach().to(torch.float64).reshape(x0.shape[0], -1).cpu().numpy()
    lab = labels.detach().cpu().numpy()
    means, var, counts = [], [], []
    for c in range(K):
        xc = x[lab == c]
        counts.append(int(xc.shape[0]))
        if xc.shape[0] < 2:
            raise ValueError(f"n_fit: class {c} drew {xc.shape[0]} of the samples; the surrogate needs ≥ 2 per class "
                             "(raise n_fit)")
        means.append(xc.mean(axis=0))
        var.append(xc.var(axis=0, ddof=1))
    v = np.asarray(var)
    v = np.maximum(v, shrinkage * v.mean())
    mix = GaussianMixture(np.asarray(means), v, np.full(K, 1.0 / K), cov_kind="class_diag")
    xc = x - x.mean(axis=0)
    lam = float(np.linalg.svd(xc, compute_uv=False)[0] ** 2 / max(x.shape[0] - 1, 1))
    return {"mixture": mix, "Lambda": lam, "sigma_S": math.sqrt(lam - 1.0) if lam > 1 else math.nan,
            "t_S": 0.5 * math.log(lam) if lam > 0 else math.nan, "counts": counts}
