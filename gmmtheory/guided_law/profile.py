"""The exact guided law's observables: the ``GuidedLaw`` result and the final-state statistics of a node law."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from gmmtheory.guided_law.coordinates import ClassLine, log_posterior

__all__ = ["GuidedLaw", "final_statistics", "rates"]


@dataclass(frozen=True, repr=False)
class GuidedLaw:
    """Curves of the exact law of the class coordinate on the reported grid (decreasing σ, the last one final).

    sigma: VE-equivalent σ/a; t_ou: ½ log(1 + σ²); ce: CE(σ) = E[−log p_t(z | X_t)] (z the target label; averaged
    over z ~ π for label "prior"); ce_rate_t: dCE/dt_ou; ce_rate_logsigma: dCE/dlog σ (NaN where σ = 0);
    entropy: E H[p_t(· | X_t)]; freq: final soft class frequencies E p(k | X_end); overshoot: E⟨X_end − μ_z, u_z⟩/√λ,
    u_z = (μ_z − μ̄)/|μ_z − μ̄| (as ``dynamics.observables.overshoot``); var_ratio: Σ_k π̂_k Var(y | hard class k)/λ
    (as ``within_class_variance``'s signal_ratio); error: an estimate of the largest absolute error of ce;
    settings: what was computed."""

    sigma: np.ndarray
    t_ou: np.ndarray
    ce: np.ndarray
    ce_rate_t: np.ndarray
    ce_rate_logsigma: np.ndarray
    entropy: np.ndarray
    freq: np.ndarray
    overshoot: float
    var_ratio: float
    error: float
    settings: dict

    def as_dict(self) -> dict:
        """Fields by name (arrays as numpy)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __repr__(self) -> str:
        s = self.settings
        return (f"GuidedLaw(sampler={s.get('sampler')!r}, w={s.get('w')}, n_points={self.sigma.size}, "
                f"overshoot={self.overshoot:.4g}, error≈{self.error:.2g})")


def rates(sigma: np.ndarray, ce: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dCE/dt_ou and dCE/dlog σ along the (decreasing) grid by non-uniform central differences (np.gradient);
    points with σ = 0 get NaN for log σ."""
    t = 0.5 * np.log1p(sigma**2)
    rt = np.gradient(ce, t) if np.all(np.diff(t) != 0) else np.full_like(ce, np.nan)
    rl = np.full_like(ce, np.nan)
    ok = sigma > 0
    if ok.sum() >= 2:
        rl[ok] = np.gradient(ce[ok], np.log(sigma[ok]))
    return rt, rl


def final_statistics(line: ClassLine, laws: list[tuple[int, float, np.ndarray, np.ndarray]], a: float,
                     s2: float) -> dict:
    """Final soft frequencies, overshoot and within-class variance ratio of a mixture of node laws
    ``laws`` = [(z, π_z, y, w)] (each w normalised here): frequencies and overshoot are π-averages over the targets,
    the variance ratio is that of the pooled law within its hard classes (argmax of p(k | y))."""
    freq, over = np.zeros(2), 0.0
    ys, ws = [], []
    for z, pz, y, w in laws:
        w = w / w.sum()
        freq += pz * (np.exp(log_posterior(line, y, a, s2)).T @ w)
        s_z = math.copysign(1.0, line.means[z] - line.centre)
        over += pz * float(w @ ((y - line.means[z]) * s_z)) / math.sqrt(line.lam)
        ys.append(y)
        ws.append(pz * w)
    y, w = np.concatenate(ys), np.concatenate(ws)
    hard = np.argmax(log_posterior(line, y, a, s2), axis=1)
    vr, tot = 0.0, 0.0
    for k in (0, 1):
        sel = hard == k
        pk = float(w[sel].sum())
        if pk <= 1e-12:
            continue
        m = float(w[sel] @ y[sel]) / pk
        vr += float(w[sel] @ (y[sel] - m) ** 2) / line.lam
        tot += pk
    return {"freq": freq, "overshoot": over, "var_ratio": vr / tot if tot > 0 else float("nan")}
