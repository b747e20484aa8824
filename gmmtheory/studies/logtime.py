"""The log-time concentration study: the entropy landmarks of fixed mixtures against the dimension d.

Models (``LOGTIME_MODELS``, each built from the ``presets.PRESETS`` catalogue entry named in the mapping): two
Gaussians ±μ·1 with unit variance and covariance-only classes N(0, (1 ± a) I) (both exact, over ``dims``), K
orthogonal classes and a two-level hierarchy (reduced Monte Carlo with common random numbers, over ``mc_dims``).
Predicted times ``t_pred``: ½ log(|m|²/s*) with s* = 1.5083 (the large-d OU rate peak, s·mmse_b(s) maximal) for
two Gaussians and for the hierarchy's coarse / sub levels, ¼ log(a² d) for covariance-only classes, t_S for K
classes. The table's columns and the theory are in ``gmmtheory.logtime``.

Sizes (``size`` in "smoke" | "quick" | "full", ``STUDY_SIZES``): the dimensions, Monte Carlo dimensions, draws and
λ-grid points; explicit arguments override them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gmmtheory._sizes import Size, check_size
from gmmtheory.landmarks.spectral import covariance_speciation_time, speciation_time
from gmmtheory.logtime import LogTimeTable, logtime_rows, table_from_rows
from gmmtheory.presets import build_preset
from gmmtheory.progress import progress

#: study model name → ``PRESETS`` name
LOGTIME_MODELS: dict[str, str] = {
    "two_gaussians": "two",
    "k_classes": "kclasses",
    "hierarchical": "hierarchical",
    "covariance_only": "covariance_only",
}
S_PEAK_OU = 1.5083306265694607  # argmax of s·mmse_b(s): the large-d OU rate peak of two classes

STUDY_SIZES: dict[str, dict[str, Any]] = {
    "smoke": dict(dims=(10.0, 1e3), mc_dims=(1e2,), n_samples=2**10, n_grid=41),
    "quick": dict(dims=tuple(np.logspace(1, 4, 4)), mc_dims=(1e2, 1e4), n_samples=2**12, n_grid=81),
    "full": dict(dims=tuple(np.logspace(1, 6, 11)), mc_dims=(1e2, 1e4, 1e6), n_samples=2**12, n_grid=81),
}


def logtime_study(
    dims: object = None,
    mu: float = 1.0,
    *,
    size: Size = "full",
    models: tuple[str, ...] = tuple(LOGTIME_MODELS),
    mc_dims: object = None,
    K: int = 4,
    mu_super: float = 1.0,
    mu_sub: float = 0.1,
    a: float = 0.5,
    n_samples: int | None = None,
    n_grid: int | None = None,
    key: object = 0,
) -> LogTimeTable:
    """Tabulate the entropy landmarks against d (see the module docstring); returns a ``LogTimeTable``.

    Args:
        dims: dimensions for the exact models (two Gaussians ±μ·1 with unit variance; covariance-only 1 ± a).
        mu: per-coordinate mean of the two-Gaussian model (|m|² = d μ²) and of the K-class model.
        size: "smoke" | "quick" | "full" (``STUDY_SIZES``): the defaults of dims, mc_dims, n_samples, n_grid.
        models: which models to include (keys of ``LOGTIME_MODELS``).
        mc_dims: dimensions for the Monte Carlo models (K classes, hierarchy).
        K: classes of the K-class model (orthogonal means of norm μ√d).
        mu_super, mu_sub: the hierarchy ±u ± v with |u|² = d·mu_super², |v|² = d·mu_sub² (levels: "coarse" =
            superclass, "sub" = the v-label, "fine" = all four classes).
        a: covariance-only classes N(0, (1 ± a) I); ``t_pred`` = ¼ log(a² d).
        n_samples, n_grid, key: Monte Carlo draws, λ-grid size and PRNG key for the Monte Carlo models.
    """
    preset = STUDY_SIZES[check_size(size)]
    dims = preset["dims"] if dims is None else dims
    mc_dims = preset["mc_dims"] if mc_dims is None else mc_dims
    mc = dict(n_samples=preset["n_samples"] if n_samples is None else n_samples, key=key,
              n_grid=preset["n_grid"] if n_grid is None else n_grid)
    dims_exact = [int(round(float(x))) for x in np.atleast_1d(dims)]
    dims_mc = [int(round(float(x))) for x in np.atleast_1d(mc_dims)]
    for model in models:
        if model not in LOGTIME_MODELS:
            raise ValueError(f"unknown model {model!r}; choose from {', '.join(LOGTIME_MODELS)}")
    rows: list[dict[str, Any]] = []
    for model in models:
        name = LOGTIME_MODELS[model]
        if model == "two_gaussians":
            for d in progress(dims_exact, f"logtime {model}"):
                mix = build_preset(name, d=d, mu=mu).mixture
                rows += logtime_rows(model, mix, {}, {"classes": "classes"}, 0.5 * math.log(d * mu**2 / S_PEAK_OU))
        elif model == "covariance_only":
            for d in progress(dims_exact, f"logtime {model}"):
                mix = build_preset(name, d=d, a=a).mixture
                rows += logtime_rows(model, mix, {}, {"classes": "classes"}, covariance_speciation_time(d, a))
        elif model == "k_classes":
            for d in progress(dims_mc, f"logtime {model}"):
                mix = build_preset(name, K=K, d=d, mu=mu).mixture
                rows += logtime_rows(model, mix, {}, {"classes": "classes"}, speciation_time(mix), **mc)
        else:  # hierarchical
            for d in progress(dims_mc, f"logtime {model}"):
                h = build_preset(name, d=d, mu=mu_super, mu_sub=mu_sub)
                parts = {k: v for k, v in h.partitions.items() if k in ("coarse", "sub")}
                levels = {"coarse": "coarse", "sub": "sub", "classes": "fine"}
                new = logtime_rows(model, h.mixture, parts, levels, float("nan"), **mc)
                for r in new:
                    scale = {"coarse": mu_super, "sub": mu_sub}.get(r["level"])
                    if scale is not None:
                        r["t_pred"] = 0.5 * math.log(d * scale**2 / S_PEAK_OU)
                rows += new
    return table_from_rows(rows)


__all__ = ["LOGTIME_MODELS", "STUDY_SIZES", "logtime_study"]
