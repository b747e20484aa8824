"""Log-time concentration: where and how wide the semantic window is, as the dimension grows (the table's theory).

Two classes ±m, |m|² = d μ̃², unit variance: in OU time s = d μ̃² e^{−2t}, so every entropy landmark sits at
½ log(d μ̃²) + O(1) while the rate's full width at half maximum stays 1.31: relative width FWHM/location ∼ 1/log d → 0
(log-time concentration). In EDM's native time σ the peak sits at σ* ∝ √d with FWHM ∝ σ* (factor σ_hi/σ_lo ≈ 2.86):
width/location is constant, no sharpening. In log σ the width is again constant (≈ OU time at large σ).

A row (``logtime_rows``) holds, for one mixture and partition level: t_S (OU), the OU rate-peak time, the
half-entropy time, the OU FWHM and FWHM/peak; the EDM σ of the peak of dH/dσ, its FWHM in σ, FWHM/σ*, σ_hi/σ_lo;
and the peak and FWHM of dH/d log σ.
``LogTimeTable`` holds the rows as columns (``COLUMNS``). The fixed experiment over d and models (two Gaussians, K
classes, a hierarchy, covariance-only classes) is ``gmmtheory.studies.logtime.logtime_study``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gmmtheory.landmarks.curves import entropy_curves
from gmmtheory.landmarks.entropy import CurveLandmarks, curve_landmarks
from gmmtheory.landmarks.spectral import speciation_time
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.processes import EDM, OU

COLUMNS = (
    "model", "level", "d", "t_S", "t_pred", "peak_t_ou", "peak_t_ou_err", "half_t_ou", "fwhm_ou", "rel_width_ou",
    "peak_sigma_edm", "fwhm_sigma_edm", "rel_width_edm", "fwhm_factor_edm", "peak_log_sigma_edm",
    "fwhm_log_sigma_edm",
)


@dataclass(frozen=True)
class LogTimeTable:
    """Rows of the study as numpy columns (``columns[name]``), one row per (model, level, d)."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __repr__(self) -> str:
        models = sorted({str(m) for m in self.columns.get("model", [])})
        return f"LogTimeTable({len(self)} rows, models={models})"

    def as_dict(self) -> dict[str, list[Any]]:
        """Column name → list of plain Python values."""
        return {k: [v.item() if hasattr(v, "item") else v for v in col] for k, col in self.columns.items()}

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def rows(self) -> list[dict[str, Any]]:
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


def _row(model: str, level: str, d: int, t_s: float, t_pred: float, ou: CurveLandmarks,
         edm: CurveLandmarks) -> dict[str, Any]:
    return {
        "model": model, "level": level, "d": float(d), "t_S": t_s, "t_pred": t_pred,
        "peak_t_ou": ou.peak_t, "peak_t_ou_err": ou.peak_t_err, "half_t_ou": ou.half_t, "fwhm_ou": ou.fwhm_t,
        "rel_width_ou": ou.fwhm_t / ou.peak_t,
        "peak_sigma_edm": edm.peak_t, "fwhm_sigma_edm": edm.fwhm_t, "rel_width_edm": edm.fwhm_t / edm.peak_t,
        "fwhm_factor_edm": edm.fwhm_t_hi / edm.fwhm_t_lo,
        "peak_log_sigma_edm": edm.peak_log_sigma, "fwhm_log_sigma_edm": edm.fwhm_log_sigma,
    }


def logtime_rows(model: str, mixture: GaussianMixture, partitions: dict[str, Partition], levels: dict[str, str],
                 t_pred: float, **mc: Any) -> list[dict[str, Any]]:
    """The rows of one mixture: for each entropy curve (``entropy_curves(mixture, partitions, **mc)``) whose label is
    a key of ``levels``, its OU and EDM landmarks under the level name ``levels[label]``; ``t_pred`` is the predicted
    time put in every row (the study may overwrite it per row). ``mc``: ``n_samples``, ``key``, ``n_grid``."""
    ou, edm = OU(), EDM()
    curves = entropy_curves(mixture, partitions, **mc)
    t_s = speciation_time(mixture, ou)
    out = []
    for c in curves:
        if c.label not in levels:
            continue
        out.append(_row(model, levels[c.label], mixture.d, t_s, t_pred, curve_landmarks(c, ou),
                        curve_landmarks(c, edm)))
    return out


def table_from_rows(rows: list[dict[str, Any]]) -> LogTimeTable:
    """A ``LogTimeTable`` of ``rows`` (dicts with every key of ``COLUMNS``)."""
    cols = {k: np.array([r[k] for r in rows], dtype=object if k in ("model", "level") else np.float64)
            for k in COLUMNS}
    return LogTimeTable(cols)


__all__ = ["COLUMNS", "LogTimeTable", "logtime_rows", "table_from_rows"]
