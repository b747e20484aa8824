"""Semantic windows of a Gaussian mixture from its exact curves, and the recommended guidance interval.

For every level P of a mixture — all classes, each partition given and, per class k, the one-vs-rest partition
{k} | rest — the curve H[Z_P | X_σ] is computed by ``class_entropy`` (quadrature, reduced statistics or Monte Carlo
with common random numbers over one log-spaced σ grid) and windowed by ``semantic_window``. σ is the unit-data VE
σ = e^{−λ/2}; a window's ends in another process's time are t(σ) at the same log-SNR (OU: t = ½ log(1 + σ²)).

The recommended interval of classifier-free guidance (Kynkäänniemi et al., arXiv 2404.07724: w ≠ 1 only for
σ ∈ (σ_lo, σ_hi)) is the semantic window of the level being guided, from a mixture (exact curve) or from a measured
curve (σ, H[, stderr]) or any object with ``sigma``, ``value``, ``stderr`` attributes (a bridge ``Measurement``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gmmtheory._checks import check_count, check_fraction
from gmmtheory._curves import isotonic_fit
from gmmtheory.control.windows import Window, as_curve, fit_weights, semantic_window
from gmmtheory.entropy.api import class_entropy
from gmmtheory.mixture import GaussianMixture, Partition, check_partition, prior_entropy
from gmmtheory.processes import EDM, Process

__all__ = [
    "AUTO_RANGE",
    "CURVE_SAMPLES",
    "TheoryWindows",
    "auto_sigma_range",
    "entropy_curve",
    "recommend_guidance_interval",
    "recommend_window",
    "theory_levels",
    "theory_window",
]

CURVE_SAMPLES = 2**14  # Monte Carlo draws of a theory curve (reduced / full Monte Carlo), common to the σ grid
AUTO_RANGE = (1e-3, 1e5)  # the coarse σ range ``auto_sigma_range`` searches


def theory_levels(mixture: GaussianMixture, partition: object, per_class: bool) -> dict[str, Partition | None]:
    """name → partition of every level: "classes" (None), the partition(s) given ("partition" for a single one,
    else the dict's names) and, with ``per_class`` and K > 2, "class k" (one vs rest)."""
    levels: dict[str, Partition | None] = {"classes": None}
    if partition is None:
        pass
    elif isinstance(partition, Partition):
        levels["partition"] = check_partition(partition, mixture.K)
    elif isinstance(partition, Mapping):
        for name, part in partition.items():
            if not isinstance(name, str) or name == "classes" or name.startswith("class "):
                raise ValueError(f"partition names must be strings other than 'classes' / 'class k'; got {name!r}")
            levels[name] = check_partition(part, mixture.K)
    else:
        raise ValueError(f"partition must be None, a Partition or a dict name → Partition; got {partition!r}")
    if per_class and mixture.K > 2:
        for k in range(mixture.K):
            rest = [j for j in range(mixture.K) if j != k]
            levels[f"class {k}"] = Partition([[k], rest], names=[str(k), "rest"])
    return levels


def entropy_curve(mixture: GaussianMixture, sigma: np.ndarray, partition: Partition | None, method: str = "auto",
                  n_samples: int | None = None, key: object = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """(H, stderr, method) of H[Z_P | X_σ] on the VE σ grid (EDM process, ``CURVE_SAMPLES`` draws by default).

    Rare-event warnings are off: the fine σ grid reaches decided σ where H is a rare event (the flag stays in the
    result's ``extra``)."""
    n = CURVE_SAMPLES if n_samples is None else n_samples
    res = class_entropy(mixture, EDM(), sigma, partition=partition, method=method, n_samples=n, key=key, warn=False)
    return np.asarray(res.value, np.float64), np.asarray(res.stderr, np.float64), res.method


def auto_sigma_range(mixture: GaussianMixture, *, method: str = "auto", n_samples: int | None = None,
                     key: object = 0, tail: float = 1e-3) -> tuple[float, float]:
    """A σ range holding all but ``tail`` of the information production of the classes at either end: from a coarse
    pass over σ ∈ [10⁻³, 10⁵] (41 log-spaced points), widened by one coarse step each side."""
    coarse = np.geomspace(*AUTO_RANGE, 41)
    h, se, _ = entropy_curve(mixture, coarse, None, method, n_samples, key)
    fit = isotonic_fit(h, fit_weights(se, h.size))
    total = fit[-1] - fit[0]
    if not total > 0:
        raise ValueError("the mixture produces no class information between σ = 1e-3 and 1e5 (identical classes?)")
    F = (fit - fit[0]) / total
    i = max(int(np.searchsorted(F, tail, side="right")) - 2, 0)
    j = min(int(np.searchsorted(F, 1.0 - tail, side="left")) + 1, coarse.size - 1)
    return float(coarse[i]), float(coarse[j])


@dataclass
class TheoryWindows:
    """Semantic windows of a mixture at every level (name → ``Window``), from exact curves on one σ grid.

    sigma: (n,) VE σ grid; curves: name → (H, stderr); methods: name → entropy method; h_prior: name → H[Z_P];
    process: the process the native times refer to; native: name → (t_lo, t_hi) in that process's time.
    Levels: "classes", the partitions given (their names; "partition" for a single one) and "class k" (one vs rest).
    """

    sigma: np.ndarray
    windows: dict[str, Window]
    curves: dict[str, tuple[np.ndarray, np.ndarray]]
    methods: dict[str, str]
    h_prior: dict[str, float]
    process: Process
    native: dict[str, tuple[float, float]]

    def __getitem__(self, level: str) -> Window:
        if level not in self.windows:
            raise ValueError(f"level must be one of {list(self.windows)}; got {level!r}")
        return self.windows[level]

    def rows(self) -> list[dict]:
        out = []
        for name, w in self.windows.items():
            out.append({"level": name, "method": self.methods[name], "H_prior": self.h_prior[name],
                        "produced": w.total, "sigma_lo": w.sigma_lo, "sigma_hi": w.sigma_hi,
                        "log_width": w.log_width, "log_width_se": w.log_width_se, "held": w.held,
                        "t_lo": self.native[name][0], "t_hi": self.native[name][1]})
        return out

    def as_dict(self) -> dict:
        """JSON-ready: the σ grid, the rows and the curves."""
        return {"sigma": self.sigma.tolist(), "rows": self.rows(), "process": repr(self.process),
                "curves": {k: {"H": h.tolist(), "stderr": se.tolist()} for k, (h, se) in self.curves.items()}}

    def __repr__(self) -> str:
        return (f"TheoryWindows({len(self.windows)} levels {list(self.windows)}, σ ∈ [{self.sigma[0]:.3g}, "
                f"{self.sigma[-1]:.3g}], n = {self.sigma.size})")


def theory_window(
    mixture: GaussianMixture,
    process: Process | None = None,
    *,
    partition: object = None,
    fraction: float = 0.8,
    per_class: bool = True,
    sigma_range: tuple[float, float] | None = None,
    n_grid: int = 193,
    method: str = "auto",
    n_samples: int | None = None,
    key: object = 0,
    n_boot: int = 200,
    seed: int = 0,
) -> TheoryWindows:
    """Semantic windows of ``mixture`` from exact curves H[Z_P | X_σ] (``class_entropy``, common random numbers
    across a log-spaced grid of ``n_grid`` σ values), per level.

    Args:
        process: expresses the windows also in this process's native time (``native``); σ is process-free
            (H depends on time only through the SNR). Default EDM (σ_data = 1).
        partition: None, a Partition, or a dict name → Partition (levels beyond "classes").
        per_class: add the one-vs-rest window of every class (K > 2).
        sigma_range: (σ_min, σ_max) of the grid; default ``auto_sigma_range`` (all but 10⁻³ of the production).
        method, n_samples, key: passed to ``class_entropy`` (n_samples default ``CURVE_SAMPLES`` = 2¹⁴).
        n_boot, seed: bootstrap of Monte Carlo curves.
    """
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    process = EDM() if process is None else process
    if not isinstance(process, Process):
        raise ValueError(f"process must be a gmmtheory process or None; got {process!r}")
    frac = check_fraction("fraction", fraction)
    n_grid = check_count("n_grid", n_grid, 8)
    levels = theory_levels(mixture, partition, per_class)
    if sigma_range is None:
        lo, hi = auto_sigma_range(mixture, method=method, n_samples=n_samples, key=key)
    else:
        try:
            lo, hi = (float(v) for v in sigma_range)
        except (TypeError, ValueError):
            raise ValueError(f"sigma_range must be a pair (sigma_min, sigma_max); got {sigma_range!r}") from None
        if not (0 < lo < hi < math.inf):
            raise ValueError(f"sigma_range must satisfy 0 < sigma_min < sigma_max < inf; got {sigma_range!r}")
    sigma = np.geomspace(lo, hi, n_grid)
    windows, curves, methods, hp, native = {}, {}, {}, {}, {}
    for name, part in levels.items():
        h, se, m = entropy_curve(mixture, sigma, part, method, n_samples, key)
        curves[name], methods[name], hp[name] = (h, se), m, prior_entropy(mixture, part)
        win = semantic_window(sigma, h, fraction=frac, stderr=se if np.any(se > 0) else None, n_boot=n_boot,
                              seed=seed)
        windows[name] = win
        t = np.asarray(process.t_from_sigma_ve(np.array([win.sigma_lo, win.sigma_hi])), np.float64)
        native[name] = (float(t[0]), float(t[1]))
    return TheoryWindows(sigma, windows, curves, methods, hp, process, native)


def recommend_window(
    source: object,
    *,
    partition: object = None,
    level: object = "classes",
    fraction: float = 0.8,
    n_boot: int = 200,
    seed: int = 0,
    bounds: tuple[float, float] | None = None,
    **theory_kwargs,
) -> Window:
    """The ``Window`` behind ``recommend_guidance_interval`` (same arguments; ``bounds``: measured curves only, see
    ``semantic_window``)."""
    if isinstance(source, GaussianMixture):
        if isinstance(level, (int, np.integer)) and not isinstance(level, bool):
            if not 0 <= int(level) < source.K:
                raise ValueError(f"level must be a class 0..{source.K - 1}, 'classes' or a partition name; "
                                 f"got {level!r}")
            name = f"class {int(level)}" if source.K > 2 else "classes"
        elif isinstance(level, str):
            name = level
        else:
            raise ValueError(f"level must be 'classes', a partition name or a class index; got {level!r}")
        if bounds is not None:
            raise ValueError("bounds apply to a measured curve; exact mixture curves stay in [0, H[Z]]")
        if isinstance(partition, Partition) and name not in ("classes",) and not name.startswith("class "):
            name = "partition"
        per_class = name.startswith("class ")
        known = theory_levels(source, partition, per_class)
        if name not in known:
            raise ValueError(f"level must be one of {list(known)} or a class index; got {level!r}")
        tw = theory_window(source, partition=partition, fraction=fraction, per_class=per_class, n_boot=n_boot,
                           seed=seed, **theory_kwargs)
        return tw[name]
    if partition is not None or level != "classes":
        raise ValueError("partition and level apply to a mixture; a measured curve already is one level")
    if theory_kwargs:
        raise ValueError(f"{sorted(theory_kwargs)} apply to a mixture, not to a measured curve")
    s, h, se = as_curve(source)
    return semantic_window(s, h, fraction=fraction, stderr=se, n_boot=n_boot, seed=seed, bounds=bounds)


def recommend_guidance_interval(
    source: object,
    *,
    partition: object = None,
    level: object = "classes",
    fraction: float = 0.8,
    **kwargs,
) -> tuple[float, float]:
    """The recommended guidance interval (σ_lo, σ_hi): the semantic window of the guided level.

    Args:
        source: a ``GaussianMixture`` (exact curves via ``theory_window``), a tuple (σ, H) / (σ, H, stderr), or an
            object with ``sigma``, ``value``, ``stderr`` (and optionally ``quantity`` "entropy" | "rate")
            attributes, e.g. a bridge ``Measurement``.
        partition: mixture only: a Partition or dict name → Partition. level: "classes", a partition name
            ("partition" for a single Partition) or a class index (its one-vs-rest window).
        fraction: share of the information production the interval must hold (default 0.8).
        kwargs: ``n_boot``, ``seed``, and for a mixture ``theory_window``'s options (process, sigma_range, n_grid,
            method, n_samples, key).
    Returns:
        (σ_lo, σ_hi) in the curve's σ (unit-data VE σ for a mixture), for ``dynamics.simulate(interval=...)``.
    """
    return recommend_window(source, partition=partition, level=level, fraction=fraction, **kwargs).interval
