"""The log-time concentration study: where and how wide the semantic window is, as the dimension grows.

Two classes ±m, |m|² = d μ̃², unit variance: in OU time s = d μ̃² e^{−2t}, so every entropy landmark sits at
½ log(d μ̃²) + O(1) while the rate's full width at half maximum stays 1.31: relative width FWHM/location ∼ 1/log d → 0
(log-time concentration). In EDM's native time σ the peak sits at σ* ∝ √d with FWHM ∝ σ* (factor σ_hi/σ_lo ≈ 2.86):
width/location is constant, no sharpening. In log σ the width is again constant (≈ OU time at large σ).

``logtime_study`` tabulates, for each d: t_S (OU), the OU rate-peak time, the half-entropy time, the OU FWHM and
FWHM/peak; the EDM σ of the peak of dH/dσ, its FWHM in σ, FWHM/σ*, σ_hi/σ_lo; and the peak and FWHM of dH/d log σ.
The same columns are produced for K classes (``gt.k_classes``), a two-level hierarchy (per partition level) and
covariance-only classes N(0, (1 ± a) I) (exact χ² quadrature); K classes and hierarchies use reduced Monte Carlo
(common random numbers; sizes kept small so the whole study runs in well under a minute after compilation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gmmtheory.landmarks import _curve_landmarks, _curves, covariance_speciation_time, speciation_time
from gmmtheory.mixture import GaussianMixture, Partition, hierarchical, k_classes, two_gaussians
from gmmtheory.processes import EDM, OU
from gmmtheory.progress import progress

COLUMNS = (
    "model", "level", "d", "t_S", "t_pred", "peak_t_ou", "peak_t_ou_err", "half_t_ou", "fwhm_ou", "rel_width_ou",
    "peak_sigma_edm", "fwhm_sigma_edm", "rel_width_edm", "fwhm_factor_edm", "peak_log_sigma_edm",
    "fwhm_log_sigma_edm",
)


@dataclass
class LogTimeTable:
    """Rows of the study as numpy columns (``columns[name]``), one row per (model, level, d)."""

    columns: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def rows(self) -> list[dict]:
        return [{k: v[i].item() if hasattr(v[i], "item") else v[i] for k, v in self.columns.items()}
                for i in range(len(self))]

    def select(self, model: str, level: str | None = None) -> LogTimeTable:
        mask = self.columns["model"] == model
        if level is not None:
            mask &= self.columns["level"] == level
        return LogTimeTable({k: v[mask] for k, v in self.columns.items()})

    def to_markdown(self, digits: int = 4) -> str:
        heads = list(self.columns)
        lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        for row in self.rows():
            cells = []
            for k in heads:
                v = row[k]
                if isinstance(v, float):
                    cells.append("nan" if not np.isfinite(v) else (f"{v:.{digits}g}" if abs(v) >= 1e4 or k == "d"
                                                                    else f"{v:.{digits}f}"))
                else:
                    cells.append(str(v))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _row(model: str, level: str, d: int, t_s: float, t_pred: float, ou, edm) -> dict:
    return {
        "model": model, "level": level, "d": float(d), "t_S": t_s, "t_pred": t_pred,
        "peak_t_ou": ou.peak_t, "peak_t_ou_err": ou.peak_t_err, "half_t_ou": ou.half_t, "fwhm_ou": ou.fwhm_t,
        "rel_width_ou": ou.fwhm_t / ou.peak_t,
        "peak_sigma_edm": edm.peak_t, "fwhm_sigma_edm": edm.fwhm_t, "rel_width_edm": edm.fwhm_t / edm.peak_t,
        "fwhm_factor_edm": edm.fwhm_t_hi / edm.fwhm_t_lo,
        "peak_log_sigma_edm": edm.peak_log_sigma, "fwhm_log_sigma_edm": edm.fwhm_log_sigma,
    }


def _rows_for(model: str, mixture: GaussianMixture, partitions: dict, levels: dict, t_pred: float, **mc) -> list[dict]:
    ou, edm = OU(), EDM()
    curves = _curves(mixture, partitions, **mc)
    t_s = speciation_time(mixture, ou)
    out = []
    for c in curves:
        if c.label not in levels:
            continue
        out.append(_row(model, levels[c.label], mixture.d, t_s, t_pred, _curve_landmarks(c, ou),
                        _curve_landmarks(c, edm)))
    return out


def logtime_study(
    dims: object = np.logspace(1, 6, 11),
    mu: float = 1.0,
    *,
    models: tuple[str, ...] = ("two_gaussians", "k_classes", "hierarchical", "covariance_only"),
    mc_dims: object = (1e2, 1e4, 1e6),
    K: int = 4,
    mu_super: float = 1.0,
    mu_sub: float = 0.1,
    a: float = 0.5,
    n_samples: int = 2**12,
    n_grid: int = 81,
    key: object = 0,
) -> LogTimeTable:
    """Tabulate the entropy landmarks against d (see the module docstring); returns a ``LogTimeTable``.

    Args:
        dims: dimensions for the exact models (two Gaussians ±μ·1 with unit variance; covariance-only 1 ± a).
        mu: per-coordinate mean of the two-Gaussian model (|m|² = d μ²) and of ``k_classes``.
        models: which models to include.
        mc_dims: dimensions for the Monte Carlo models (K classes, hierarchy).
        K: classes of the ``k_classes`` model (orthogonal means of norm μ√d).
        mu_super, mu_sub: the hierarchy ±u ± v with |u|² = d·mu_super², |v|² = d·mu_sub² (levels: "coarse" =
            superclass, "sub" = the v-label, "fine" = all four classes).
        a: covariance-only classes N(0, (1 ± a) I); ``t_pred`` = ¼ log(a² d).
        n_samples, n_grid, key: Monte Carlo draws, λ-grid size and PRNG key for the Monte Carlo models.

    ``t_pred`` is ½ log(|m|²/1.5083) (the large-d OU rate peak) for the two-Gaussian model, ½ log of the relevant
    squared half-separation over 1.5083 for the hierarchy levels, ¼ log(a² d) for covariance-only classes, and t_S
    for K classes.
    """
    dims_exact = [int(round(float(x))) for x in np.atleast_1d(dims)]
    dims_mc = [int(round(float(x))) for x in np.atleast_1d(mc_dims)]
    s_peak = 1.5083306265694607
    rows: list[dict] = []
    mc = dict(n_samples=n_samples, key=key, n_grid=n_grid)
    for model in models:
        if model == "two_gaussians":
            for d in progress(dims_exact, f"logtime {model}"):
                mix = two_gaussians(d, mu)
                rows += _rows_for(model, mix, {}, {"classes": "classes"}, 0.5 * math.log(d * mu**2 / s_peak))
        elif model == "covariance_only":
            for d in progress(dims_exact, f"logtime {model}"):
                mix = GaussianMixture(np.zeros((2, d)), np.array([1.0 + a, 1.0 - a]), cov_kind="class_iso")
                rows += _rows_for(model, mix, {}, {"classes": "classes"}, covariance_speciation_time(d, a))
        elif model == "k_classes":
            for d in progress(dims_mc, f"logtime {model}"):
                mix = k_classes(K, d, mu)
                rows += _rows_for(model, mix, {}, {"classes": "classes"}, speciation_time(mix), **mc)
        elif model == "hierarchical":
            for d in progress(dims_mc, f"logtime {model}"):
                h = hierarchical(2, 2, d, mu_super, mu_sub)
                sub = Partition([[0, 2], [1, 3]], names=["sub0", "sub1"])
                levels = {"coarse": "coarse", "sub": "sub", "classes": "fine"}
                new = _rows_for(model, h.mixture, {"coarse": h.coarse, "sub": sub}, levels, float("nan"), **mc)
                for r in new:
                    scale = {"coarse": mu_super, "sub": mu_sub}.get(r["level"])
                    if scale is not None:
                        r["t_pred"] = 0.5 * math.log(d * scale**2 / s_peak)
                rows += new
        else:
            raise ValueError(f"unknown model {model!r}; choose from two_gaussians, k_classes, hierarchical, "
                             "covariance_only")
    cols = {k: np.array([r[k] for r in rows], dtype=object if k in ("model", "level") else np.float64)
            for k in COLUMNS}
    return LogTimeTable(cols)


__all__ = ["COLUMNS", "LogTimeTable", "logtime_study"]
