"""Time-localized control from the entropy signature: semantic windows, guidance intervals, entropy schedules.

The class-conditional entropy H(σ) = H[Z_P | X_σ] falls, along generation (σ decreasing), from H[Z_P] to
H[Z_P | X_0]; its decrease −dH is the semantic information produced at each noise level. This module turns that
signature into sampler settings and tests them against exact ground truth (Gaussian mixtures, exact scores).

σ is the VE-equivalent noise level of unit-scale data, σ = e^{−λ/2} (the EDM σ with σ_data = 1; OU time
t = ½ log(1 + σ²)) — the σ of ``dynamics.simulate``'s ``interval=`` and of the EDM sampler grid. For a trained model
(a bridge ``Measurement``) σ is the model's own σ.

Semantic window (``semantic_window``)
-------------------------------------
From a curve H(σ_i) on a grid σ_1 < … < σ_n: the shortest interval [σ_lo, σ_hi] in log σ that holds a fraction f
(default 0.8) of the information produced over the grid, H(σ_n) − H(σ_1):

    minimise log(σ_hi/σ_lo)   subject to   Ĥ(σ_hi) − Ĥ(σ_lo) ≥ f [Ĥ(σ_n) − Ĥ(σ_1)],

where Ĥ is the weighted isotonic (non-decreasing in σ) least-squares fit of H (weights 1/stderr²; equal weights for
exact curves), linearly interpolated in log σ. H is non-decreasing in σ (data processing), so the information
production −dĤ ≥ 0 everywhere; the isotonic fit is how Monte Carlo or measurement noise is handled (it pools
adjacent points that violate monotonicity, so an increase of H along generation never counts as negative
production). The optimum of this piecewise-linear problem lies at a breakpoint and is found exactly.
Uncertainty (when ``stderr`` is given): a parametric bootstrap — H* = H + stderr·ξ with independent ξ ~ N(0, 1)
per point (``correlated=True``: one ξ shared by all points, the limit of common random numbers), refitted and
re-windowed ``n_boot`` times; the window reports the bootstrap standard deviations of log σ_lo, log σ_hi and of
the log-width, and 2.5–97.5 % percentile intervals. With independent errors of the stated size the bootstrap is
calibrated (tested). Curves computed with common random numbers (``gt.class_entropy`` Monte Carlo, the bridge's
denoiser gap) have smooth, correlated errors, and the independent bootstrap is then conservative: for four classes
(d = 64, μ̃ = 0.2, 2¹⁴ reduced draws, 193 σ) the spread of the window over 12 independent keys was 0.016 in
log σ at either end (below one grid step, 0.044) against a bootstrap 0.040, and 0.0006 against 0.006 for the
log-width.

``theory_window(mixture, process)`` computes H exactly (quadrature / reduced / Monte Carlo through
``gt.class_entropy``, common random numbers over a fine σ grid) for every level: all classes, each partition given
and, per class k, the one-vs-rest partition {k} | rest.

Guidance interval (``recommend_guidance_interval``)
---------------------------------------------------
The recommended interval of classifier-free guidance (Kynkäänniemi et al., arXiv 2404.07724: w ≠ 1 only for
σ ∈ (σ_lo, σ_hi)) is the semantic window of the level being guided (classes, or a partition's groups), from a
mixture (exact curve) or from a measured curve (σ, H[, stderr]) or any object with ``sigma``, ``value``,
``stderr`` attributes (a bridge ``Measurement``; a rate dH/dlog σ is integrated first).

``fidelity_diversity_front`` samples with exact mixture scores (EDM's Heun sampler by default) and compares no
guidance (w = 1), CFG at every σ, the recommended interval, the same interval shifted by ± its width, EDM2's
interval, and a grid of intervals between log-spaced edges, at each w. Per configuration, with labels z (a class
or a group B of a partition) spread over the prior:
- fidelity: ``accuracy`` = P(argmax_B p_0(B | x) = z) (the Bayes classifier on the final sample) and ``confidence``
  = E p_0(z | x); ``error`` = 1 − confidence;
- diversity: ``var_ratio`` = Σ_z f_z tr Ĉ_z / tr C_z, the within-label variance of the samples generated for z
  against the true covariance C_z of p(x | z), both projected on the semantic subspace span{μ_k − μ̄} (guidance
  moves nothing outside it for shared isotropic covariances); ``div_loss`` = |log var_ratio|; ``freq_kl`` =
  KL(soft fine-class frequencies ‖ the label-implied frequencies) (group guidance: does it keep the subclass mix?);
  ``moment_kl`` = Σ_z f_z KL(N(m̂_z, Ĉ_z) ‖ N(m_z, C_z)) in the semantic subspace (mean shift and spread together).
The Pareto front minimises (error, div_loss). For the recommended interval the report gives whether it lies on
the front, the points that dominate it, ``err_gap`` = its error minus the best error among points with no larger
div_loss, ``div_gap`` = its div_loss minus the best div_loss among points with no larger error (0 on the front),
and CFG's div_loss interpolated at the same error.

Semantic-entropy schedule (``entropy_schedule``)
------------------------------------------------
N noise levels σ_0 = σ_max > … > σ_{N−1} = σ_min (σ_N = 0 appended by the sampler) at equal steps of the blended
cumulative measure

    G(σ) = (1 − β) G_EDM(σ) + β G_H(σ),   G_EDM = (σ_max^{1/ρ} − σ^{1/ρ}) / (σ_max^{1/ρ} − σ_min^{1/ρ}),
    G_H = (Ĥ(σ_max) − Ĥ(σ)) / (Ĥ(σ_max) − Ĥ(σ_min)),     G(σ_i) = i / (N − 1),

so β = 0 is EDM's ρ-grid exactly and β = 1 removes an equal share of H[Z | X_σ] per step (β = 1 is taken as
1 − 10⁻⁶ so that G stays strictly monotone where H is flat). The control schedule ``entropy_schedule("log_uniform",
…)`` blends with the uniform measure in log σ instead of G_H: it separates the effect of the entropy from the
effect of moving steps away from EDM's grid. ``schedule_comparison`` runs unconditional exact-score sampling with
each schedule at equal step counts, all from the same initial states, and measures the final distribution against
the truth: class-frequency total variation and KL (soft frequencies E p_0(k | x) against π; their Monte Carlo floor
is shown by a converged reference run), the paired class-frequency shift against that reference run (the
discretisation error alone), the fitted class-conditional Gaussian KL in the semantic subspace (moments weighted by
p_0(k | x)), and the within-class total variance ratio over all d coordinates, each with a bootstrap standard error,
plus paired differences with EDM and with the control.

Standard errors: Monte Carlo throughout (analytic for means, bootstrap for ratios and KLs); comparisons between
configurations are paired (the same initial states and labels), which removes the noise they share. Nothing here
asserts or depends on speed.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.optimize import isotonic_regression

from gmmtheory import dynamics as dyn
from gmmtheory.entropy.api import class_entropy
from gmmtheory.markdown import markdown_table
from gmmtheory.mixture import GaussianMixture, Partition, check_partition, hierarchical, k_classes, two_gaussians
from gmmtheory.posterior import _group_log_priors
from gmmtheory.processes import EDM, Process

__all__ = [
    "EDM2_INTERVAL",
    "Front",
    "ScheduleComparison",
    "TheoryWindows",
    "Window",
    "add_parser",
    "entropy_schedule",
    "fidelity_diversity_front",
    "front_cases",
    "interval_grid",
    "monotone_fit",
    "plot_front",
    "plot_schedules",
    "recommend_guidance_interval",
    "run",
    "sample_metrics",
    "schedule_cases",
    "schedule_comparison",
    "schedule_metrics",
    "section_control",
    "semantic_window",
    "theory_window",
]

EDM2_INTERVAL = (0.28 / 0.5, 2.9 / 0.5)  # EDM2's guidance interval (σ_data = 0.5) in unit-data σ
_BETA_ONE = 1.0 - 1e-6
_AUTO_RANGE = (1e-3, 1e5)


# ================================================================================================= validation
def _check_fraction(fraction: object) -> float:
    try:
        f = float(fraction)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"fraction must be a number in (0, 1); got {fraction!r}") from None
    if not (0.0 < f < 1.0):
        raise ValueError(f"fraction must lie strictly between 0 and 1; got {fraction!r}")
    return f


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}; got {value!r}")
    return int(value)


def _check_w(w: object) -> tuple[float, ...]:
    ws = np.atleast_1d(np.asarray(w, dtype=object))
    out = []
    for v in ws.ravel():
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"w must be a guidance scale or a sequence of scales ≥ 0; got {w!r}") from None
        if not math.isfinite(f) or f < 0:
            raise ValueError(f"w must be finite and ≥ 0; got {w!r}")
        out.append(f)
    if not out:
        raise ValueError("w must hold at least one guidance scale")
    return tuple(out)


def _rng(seed: object) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer or a numpy Generator; got {seed!r}")
    return np.random.default_rng(int(seed))


def _check_curve(sigma: object, H: object, stderr: object) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated (σ ascending, H, stderr or None), sorted by σ."""
    try:
        s = np.asarray(sigma, dtype=np.float64)
        h = np.asarray(H, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("sigma and H must be 1-D arrays of numbers") from None
    if s.ndim != 1 or s.size < 3:
        raise ValueError(f"sigma must be a 1-D array of at least 3 noise levels; got shape {s.shape}")
    if h.shape != s.shape:
        raise ValueError(f"H must have the shape of sigma {s.shape}; got {h.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError("sigma must be finite and > 0 (σ = 0 has no log σ; drop it)")
    if not np.all(np.isfinite(h)):
        raise ValueError("H must be finite at every sigma")
    order = np.argsort(s, kind="stable")
    s, h = s[order], h[order]
    if np.any(np.diff(s) <= 0):
        raise ValueError("sigma must not repeat a noise level")
    se = None
    if stderr is not None:
        try:
            se = np.asarray(stderr, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("stderr must be None or an array of standard errors") from None
        if se.shape != order.shape:
            raise ValueError(f"stderr must have the shape of sigma {order.shape}; got {se.shape}")
        if not np.all(np.isfinite(se)) or np.any(se < 0):
            raise ValueError("stderr must be finite and ≥ 0")
        se = se[order]
    return s, h, se


# ============================================================================================ monotone fit
def _weights(stderr: np.ndarray | None, n: int) -> np.ndarray:
    if stderr is None or not np.any(stderr > 0):
        return np.ones(n)
    floor = max(0.1 * float(np.median(stderr[stderr > 0])), 1e-12)
    return 1.0 / np.maximum(stderr, floor) ** 2


def _isotonic(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """argmin over non-decreasing f of Σ_i w_i (f_i − y_i)² (``scipy.optimize.isotonic_regression``, pool-adjacent
    violators)."""
    return np.asarray(isotonic_regression(y, weights=w, increasing=True).x, dtype=np.float64)


def monotone_fit(sigma: object, H: object, stderr: object = None) -> tuple[np.ndarray, np.ndarray]:
    """The weighted isotonic least-squares fit Ĥ of H, non-decreasing in σ: minimises Σ_i w_i (Ĥ_i − H_i)² with
    w_i = 1/stderr_i² (stderr floored at a tenth of its median; equal weights when stderr is None or 0).
    Returns (σ ascending, Ĥ)."""
    s, h, se = _check_curve(sigma, H, stderr)
    return s, _isotonic(h, _weights(se, s.size))


# ================================================================================================== windows
def _shortest_interval(u: np.ndarray, F: np.ndarray, fraction: float) -> tuple[float, float]:
    """Shortest [a, b] (in u) with F(b) − F(a) ≥ fraction for a non-decreasing piecewise-linear F from 0 to 1.

    For a level L, a(L) = sup{u: F(u) ≤ L} and b(L) = inf{u: F(u) ≥ L + fraction}; both are linear in L between
    the breakpoints L ∈ {F_i} ∪ {F_i − fraction}, so the minimum of b − a over L ∈ [0, 1 − fraction] is at one."""
    levels = np.concatenate([F, F - fraction, [0.0, 1.0 - fraction]])
    levels = np.unique(np.clip(levels, 0.0, 1.0 - fraction))
    n = u.size

    i = np.clip(np.searchsorted(F, levels, side="right") - 1, 0, n - 1)
    nxt = np.minimum(i + 1, n - 1)
    dF = F[nxt] - F[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where((i < n - 1) & (dF > 0), u[i] + (levels - F[i]) / dF * (u[nxt] - u[i]), u[i])

    m = np.minimum(levels + fraction, F[-1])
    j = np.clip(np.searchsorted(F, m, side="left"), 0, n - 1)
    prv = np.maximum(j - 1, 0)
    dG = F[j] - F[prv]
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where((j > 0) & (dG > 0), u[prv] + (m - F[prv]) / dG * (u[j] - u[prv]), u[j])
    k = int(np.argmin(b - a))
    return float(a[k]), float(b[k])


@dataclass(frozen=True)
class Window:
    """A semantic window: the shortest σ-interval holding ``fraction`` of the information produced.

    sigma_lo, sigma_hi: the interval (σ); log_width = log(σ_hi/σ_lo); fraction: the share asked for (of the monotone
    fit); held: the share the raw, unsmoothed curve holds between σ_lo and σ_hi; total: nats produced over the grid,
    Ĥ(σ_max) − Ĥ(σ_min); log_lo_se, log_hi_se, log_width_se: bootstrap standard deviations of log σ_lo, log σ_hi,
    log-width (nan without stderr); sigma_lo_ci, sigma_hi_ci: 2.5–97.5 % bootstrap percentiles (σ); n_boot:
    bootstrap replicates used; method: "exact" (no stderr) or "bootstrap"; sigma_range: the grid's (σ_min, σ_max).
    """

    sigma_lo: float
    sigma_hi: float
    log_width: float
    fraction: float
    held: float
    total: float
    log_lo_se: float = float("nan")
    log_hi_se: float = float("nan")
    log_width_se: float = float("nan")
    sigma_lo_ci: tuple[float, float] = (float("nan"), float("nan"))
    sigma_hi_ci: tuple[float, float] = (float("nan"), float("nan"))
    n_boot: int = 0
    method: str = "exact"
    sigma_range: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def interval(self) -> tuple[float, float]:
        return (self.sigma_lo, self.sigma_hi)

    @property
    def sigma_center(self) -> float:
        """Geometric centre √(σ_lo σ_hi)."""
        return math.sqrt(self.sigma_lo * self.sigma_hi)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sigma_lo_ci"], d["sigma_hi_ci"] = list(self.sigma_lo_ci), list(self.sigma_hi_ci)
        d["sigma_range"] = list(self.sigma_range)
        return d


def _check_bounds(bounds: object) -> tuple[float, float]:
    if bounds is None:
        return -math.inf, math.inf
    try:
        lo, hi = (float(v) for v in bounds)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be None or a pair (H_min, H_max); got {bounds!r}") from None
    if not lo < hi or math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"bounds must satisfy H_min < H_max; got {bounds!r}")
    return lo, hi


def _window_core(s: np.ndarray, h_fit: np.ndarray, fraction: float) -> tuple[float, float, float] | None:
    total = float(h_fit[-1] - h_fit[0])
    if not total > 0:
        return None
    F = (h_fit - h_fit[0]) / total
    a, b = _shortest_interval(np.log(s), F, fraction)
    return a, b, total


def semantic_window(
    sigma: object,
    H: object,
    *,
    fraction: float = 0.8,
    stderr: object = None,
    n_boot: int = 200,
    seed: object = 0,
    correlated: bool = False,
    bounds: tuple[float, float] | None = None,
) -> Window:
    """The shortest interval in log σ holding ``fraction`` of the semantic information produced over the grid.

    Args:
        sigma: (n,) noise levels > 0 (any order; sorted here). H: (n,) H[Z_P | X_σ] in nats.
        fraction: f ∈ (0, 1), the share of Ĥ(σ_max) − Ĥ(σ_min) the window must hold (Ĥ: isotonic fit, see the
            module docstring).
        stderr: (n,) standard errors of H (Monte Carlo or measured), or None for an exact curve.
        n_boot: parametric bootstrap replicates (used only when stderr has a positive entry). seed: int or numpy
            Generator for the bootstrap. correlated: one shared ξ for all points instead of independent ones.
        bounds: (H_min, H_max) the entropy must lie in, e.g. (0, H[Z]); the monotone fit is clipped into it (a
            projection that keeps it monotone). Use it for measured curves whose estimator can leave the range
            (the integrated denoiser gap of a trained model goes below 0 at small σ, where model error inflates
            the gap); None: no clipping.
    Returns:
        ``Window`` (σ_lo, σ_hi, log-width, fraction, share held by the raw curve, total production, uncertainty).
    """
    frac = _check_fraction(fraction)
    s, h, se = _check_curve(sigma, H, stderr)
    n_boot = _check_count(n_boot, "n_boot", 0)
    rng = _rng(seed)
    lo_b, hi_b = _check_bounds(bounds)
    w = _weights(se, s.size)
    fit = np.clip(_isotonic(h, w), lo_b, hi_b)
    core = _window_core(s, fit, frac)
    if core is None:
        raise ValueError(
            f"H produces no semantic information over this sigma range: its monotone fit is flat (H(σ_max) − "
            f"H(σ_min) = {float(fit[-1] - fit[0]):.3g} nats); widen the sigma range or check H"
        )
    a, b, total = core
    hc = np.clip(h, lo_b, hi_b)
    raw_total = float(hc[-1] - hc[0])
    u = np.log(s)
    held = float((np.interp(b, u, hc) - np.interp(a, u, hc)) / raw_total) if raw_total > 0 else float("nan")
    kw: dict[str, Any] = {}
    if se is not None and np.any(se > 0) and n_boot >= 2:
        los, his = [], []
        for _ in range(n_boot):
            xi = rng.standard_normal() if correlated else rng.standard_normal(s.size)
            c = _window_core(s, np.clip(_isotonic(h + se * xi, w), lo_b, hi_b), frac)
            if c is not None:
                los.append(c[0])
                his.append(c[1])
        if len(los) >= 2:
            lo_b, hi_b = np.asarray(los), np.asarray(his)
            kw = dict(
                log_lo_se=float(np.std(lo_b, ddof=1)), log_hi_se=float(np.std(hi_b, ddof=1)),
                log_width_se=float(np.std(hi_b - lo_b, ddof=1)),
                sigma_lo_ci=tuple(float(v) for v in np.exp(np.percentile(lo_b, [2.5, 97.5]))),
                sigma_hi_ci=tuple(float(v) for v in np.exp(np.percentile(hi_b, [2.5, 97.5]))),
                n_boot=len(los), method="bootstrap",
            )
    return Window(sigma_lo=float(math.exp(a)), sigma_hi=float(math.exp(b)), log_width=float(b - a), fraction=frac,
                  held=held, total=total, sigma_range=(float(s[0]), float(s[-1])), **kw)


# ======================================================================================== theory windows
def _levels(mixture: GaussianMixture, partition: object, per_class: bool) -> dict[str, Partition | None]:
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


def _h_prior(mixture: GaussianMixture, part: Partition | None) -> float:
    gw = check_partition(part, mixture.K).group_weights(mixture.weights)
    gw = gw[gw > 0]
    return float(-np.sum(gw * np.log(gw)))


CURVE_SAMPLES = 2**14  # Monte Carlo draws of a theory curve (reduced / full Monte Carlo), common to the σ grid


def _curve(mixture, sigma, part, method, n_samples, key) -> tuple[np.ndarray, np.ndarray, str]:
    n = CURVE_SAMPLES if n_samples is None else n_samples
    # warn=False: the fine σ grid reaches decided σ where H is a rare event (flag kept in res.extra)
    res = class_entropy(mixture, EDM(), sigma, partition=part, method=method, n_samples=n, key=key, warn=False)
    return np.asarray(res.value, np.float64), np.asarray(res.stderr, np.float64), res.method


def auto_sigma_range(mixture: GaussianMixture, *, method: str = "auto", n_samples: int | None = None,
                     key: object = 0, tail: float = 1e-3) -> tuple[float, float]:
    """A σ range holding all but ``tail`` of the information production of the classes at either end: from a coarse
    pass over σ ∈ [10⁻³, 10⁵] (41 log-spaced points), widened by one coarse step each side."""
    coarse = np.geomspace(*_AUTO_RANGE, 41)
    h, se, _ = _curve(mixture, coarse, None, method, n_samples, key)
    fit = _isotonic(h, _weights(se, h.size))
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
    """Semantic windows of ``mixture`` from exact curves H[Z_P | X_σ] (``gt.class_entropy``, common random
    numbers across a log-spaced grid of ``n_grid`` σ values), per level.

    Args:
        process: expresses the windows also in this process's native time (``native``); σ is process-free
            (H depends on time only through the SNR). Default EDM (σ_data = 1).
        partition: None, a Partition, or a dict name → Partition (levels beyond "classes").
        per_class: add the one-vs-rest window of every class (K > 2).
        sigma_range: (σ_min, σ_max) of the grid; default ``auto_sigma_range`` (all but 10⁻³ of the production).
        method, n_samples, key: passed to ``gt.class_entropy`` (n_samples default ``CURVE_SAMPLES`` = 2¹⁴).
        n_boot, seed: bootstrap of Monte Carlo curves.
    """
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    process = EDM() if process is None else process
    if not isinstance(process, Process):
        raise ValueError(f"process must be a gmmtheory process or None; got {process!r}")
    frac = _check_fraction(fraction)
    n_grid = _check_count(n_grid, "n_grid", 8)
    levels = _levels(mixture, partition, per_class)
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
        h, se, m = _curve(mixture, sigma, part, method, n_samples, key)
        curves[name], methods[name], hp[name] = (h, se), m, _h_prior(mixture, part)
        win = semantic_window(sigma, h, fraction=frac, stderr=se if np.any(se > 0) else None, n_boot=n_boot,
                              seed=seed)
        windows[name] = win
        t = np.asarray(process.t_from_sigma_ve(np.array([win.sigma_lo, win.sigma_hi])), np.float64)
        native[name] = (float(t[0]), float(t[1]))
    return TheoryWindows(sigma, windows, curves, methods, hp, process, native)


# ==================================================================================== guidance interval
def _curve_from_source(source: object) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(σ, H, stderr | None) from a (σ, H[, stderr]) tuple or an object with sigma/value/stderr attributes."""
    if hasattr(source, "sigma") and hasattr(source, "value"):
        sig = np.asarray(getattr(source, "sigma"), np.float64)
        val = np.asarray(getattr(source, "value"), np.float64)
        se = getattr(source, "stderr", None)
        se = None if se is None else np.asarray(se, np.float64)
        quantity = getattr(source, "quantity", "entropy")
        if quantity == "rate":  # dH/dlog σ → H up to a constant (trapezoid in log σ; variances add along the path)
            s, r, e = _check_curve(sig, val, se)
            u = np.log(s)
            du = np.diff(u)
            h = np.concatenate([[0.0], np.cumsum(0.5 * (r[1:] + r[:-1]) * du)])
            if e is not None:
                var = np.concatenate([[0.0], np.cumsum(0.25 * (e[1:] ** 2 + e[:-1] ** 2) * du**2)])
                e = np.sqrt(var)
            return s, h, e
        if quantity != "entropy":
            raise ValueError(f"a measured curve must have quantity 'entropy' or 'rate'; got {quantity!r}")
        return sig, val, se
    if isinstance(source, (tuple, list)) and len(source) in (2, 3):
        se = source[2] if len(source) == 3 else None
        return np.asarray(source[0], np.float64), np.asarray(source[1], np.float64), \
            (None if se is None else np.asarray(se, np.float64))
    raise ValueError(
        "source must be a GaussianMixture, a tuple (sigma, H) or (sigma, H, stderr), or an object with sigma, value "
        f"and stderr attributes (a bridge Measurement); got {type(source).__name__}"
    )


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
                raise ValueError(f"level must be a class 0..{source.K - 1}, 'classes' or a partition name; got {level!r}")
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
        known = _levels(source, partition, per_class)
        if name not in known:
            raise ValueError(f"level must be one of {list(known)} or a class index; got {level!r}")
        tw = theory_window(source, partition=partition, fraction=fraction, per_class=per_class, n_boot=n_boot,
                           seed=seed, **theory_kwargs)
        return tw[name]
    if partition is not None or level != "classes":
        raise ValueError("partition and level apply to a mixture; a measured curve already is one level")
    if theory_kwargs:
        raise ValueError(f"{sorted(theory_kwargs)} apply to a mixture, not to a measured curve")
    s, h, se = _curve_from_source(source)
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


# =============================================================================================== metrics
def _kl_gauss(m1: np.ndarray, c1: np.ndarray, m0: np.ndarray, c0: np.ndarray) -> float:
    """KL(N(m1, c1) ‖ N(m0, c0)) = ½[tr(c0⁻¹c1) + (m0−m1)ᵀc0⁻¹(m0−m1) − r + log det c0 − log det c1]."""
    r = m1.size
    L = np.linalg.cholesky(c0)
    sol = np.linalg.solve(L, c1)
    tr = float(np.trace(np.linalg.solve(L.T, sol)))
    dm = np.linalg.solve(L, m0 - m1)
    s1, ld1 = np.linalg.slogdet(c1)
    if s1 <= 0:
        return float("inf")
    ld0 = 2.0 * float(np.sum(np.log(np.diag(L))))
    return 0.5 * (tr + float(dm @ dm) - r + ld0 - float(ld1))


def _kl_freq(f: np.ndarray, target: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(np.where(f > 0, f * np.log(f / target), 0.0)))


def _wcov(y: np.ndarray, wts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and covariance (reliability-weighted, unbiased for frequency-like weights)."""
    sw = wts.sum()
    m = wts @ y / sw
    c = y - m
    v1, v2 = sw, float(np.sum(wts**2))
    denom = v1 - v2 / v1 if v1 > 0 else 1.0
    return m, (c * wts[:, None]).T @ c / max(denom, 1e-300)


def _strata(labels: np.ndarray, M: int) -> list[tuple[int, np.ndarray]]:
    """(label, indices) for every label with at least 3 samples."""
    out = [(z, np.flatnonzero(labels == z)) for z in range(M)]
    return [(z, g) for z, g in out if g.size >= 3]


def _resample(strata: list[tuple[int, np.ndarray]], rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    return [(z, g[rng.integers(0, g.size, g.size)]) for z, g in strata]


def _var_ratio(y: np.ndarray, strata: list[tuple[int, np.ndarray]], ref_tr: np.ndarray) -> float:
    """Σ_z f_z tr Ĉ_z / tr C_z with f_z the label shares (Ĉ_z: unbiased sample covariance of y within label z)."""
    share = np.array([g.size for _, g in strata], np.float64)
    ratios = np.array([float(np.sum(np.var(y[g], axis=0, ddof=1))) / ref_tr[z] for z, g in strata])
    return float(share @ ratios / share.sum())


def _traces(ref_covs: np.ndarray) -> np.ndarray:
    c = np.asarray(ref_covs, np.float64)
    return np.trace(c, axis1=1, axis2=2) if c.ndim == 3 else c


def sample_metrics(
    log_post: np.ndarray,
    labels: np.ndarray,
    y: np.ndarray,
    ref_means: np.ndarray,
    ref_covs: np.ndarray,
    *,
    fine_post: np.ndarray | None = None,
    fine_target: np.ndarray | None = None,
    n_boot: int = 200,
    seed: object = 0,
) -> dict[str, float]:
    """Fidelity and diversity of labelled samples against the truth (see the module docstring).

    Args:
        log_post: (n, M) log p_0(B | x) of the final samples (exact, or a classifier's for a trained model).
        labels: (n,) the label z each sample was generated for (0..M−1).
        y: (n, r) the samples in the space where diversity is measured (semantic-subspace projections, or pixels).
        ref_means: (M, r) true means m_z of p(y | z). ref_covs: (M, r, r) true covariances C_z, or (M,) their
            traces tr C_z (then ``moment_kl`` is nan).
        fine_post: (n, K) p_0(k | x) of the fine classes and fine_target: (n, K) the fine-class law implied by each
            label (π_k/π_B inside B); both None to skip ``freq_kl``.
        n_boot, seed: bootstrap (resampling within each label) for the standard errors of the ratios and KLs.
    Returns:
        accuracy, confidence, error (1 − confidence), var_ratio, div_loss (|log var_ratio|), freq_kl, moment_kl,
        each with ``*_se``; ``n``.
    """
    lp = np.asarray(log_post, np.float64)
    lab = np.asarray(labels).astype(np.int64)
    y = np.asarray(y, np.float64)
    n = lab.size
    if lp.ndim != 2 or lp.shape[0] != n or y.ndim != 2 or y.shape[0] != n:
        raise ValueError(f"log_post (n, M), labels (n,) and y (n, r) must agree in n; got {lp.shape}, {lab.shape}, "
                         f"{y.shape}")
    if n < 2 or lab.min() < 0 or lab.max() >= lp.shape[1]:
        raise ValueError(f"labels must lie in 0..{lp.shape[1] - 1} (and n ≥ 2)")
    n_boot = _check_count(n_boot, "n_boot", 0)
    rng = _rng(seed)
    conf = np.exp(lp[np.arange(n), lab])
    acc = (np.argmax(lp, axis=1) == lab).astype(np.float64)
    strata = _strata(lab, lp.shape[1])
    if not strata:
        raise ValueError("every label has fewer than 3 samples: no within-label variance")
    ref_tr = _traces(ref_covs)
    full_cov = np.ndim(ref_covs) == 3

    def stats(st: list[tuple[int, np.ndarray]]) -> tuple[float, float, float]:
        vr = _var_ratio(y, st, ref_tr)
        mk = fk = float("nan")
        share = np.array([g.size for _, g in st], np.float64)
        if full_cov:
            kls = []
            for z, g in st:
                c = np.atleast_2d(np.cov(y[g], rowvar=False))
                kls.append(_kl_gauss(y[g].mean(axis=0), c, np.asarray(ref_means[z], np.float64),
                                     np.asarray(ref_covs[z], np.float64)))
            mk = float(share @ np.asarray(kls) / share.sum())
        if fine_post is not None and fine_target is not None:
            rows = np.concatenate([g for _, g in st])
            fk = _kl_freq(np.asarray(fine_post)[rows].mean(axis=0), np.asarray(fine_target)[rows].mean(axis=0))
        return vr, mk, fk

    vr, mk, fk = stats(strata)
    boot = np.asarray([stats(_resample(strata, rng)) for _ in range(n_boot)]) if n_boot >= 2 else None
    se = np.std(boot, axis=0, ddof=1) if boot is not None else np.full(3, np.nan)
    return {
        "n": int(n),
        "accuracy": float(acc.mean()), "accuracy_se": float(acc.std(ddof=1) / math.sqrt(n)),
        "confidence": float(conf.mean()), "confidence_se": float(conf.std(ddof=1) / math.sqrt(n)),
        "error": float(1.0 - conf.mean()), "error_se": float(conf.std(ddof=1) / math.sqrt(n)),
        "var_ratio": vr, "var_ratio_se": float(se[0]),
        "div_loss": float(abs(math.log(vr))) if vr > 0 else float("inf"),
        "div_loss_se": float(se[0] / vr) if vr > 0 else float("nan"),
        "moment_kl": mk, "moment_kl_se": float(se[1]),
        "freq_kl": fk, "freq_kl_se": float(se[2]),
    }


def paired_difference(
    conf_a: np.ndarray,
    y_a: np.ndarray,
    conf_b: np.ndarray,
    y_b: np.ndarray,
    labels: np.ndarray,
    ref_tr: np.ndarray,
    *,
    n_boot: int = 200,
    seed: object = 0,
) -> dict[str, float]:
    """a − b in error (1 − confidence) and in div_loss (|log var_ratio|) for two runs from the same initial states
    and labels (sample i of a and of b are paired): d_error ± its paired stderr, d_div ± a paired (stratified)
    bootstrap stderr. Pairing removes the noise the two runs share (with a deterministic sampler, nearly all)."""
    lab = np.asarray(labels).astype(np.int64)
    strata = _strata(lab, int(lab.max()) + 1)
    rng = _rng(seed)
    diff = (1.0 - np.asarray(conf_a)) - (1.0 - np.asarray(conf_b))
    n = diff.size

    def div(st):
        return abs(math.log(_var_ratio(y_a, st, ref_tr))) - abs(math.log(_var_ratio(y_b, st, ref_tr)))

    boot = [div(_resample(strata, rng)) for _ in range(n_boot)]
    return {"d_error": float(diff.mean()), "d_error_se": float(diff.std(ddof=1) / math.sqrt(n)),
            "d_div": float(div(strata)), "d_div_se": float(np.std(boot, ddof=1)) if len(boot) >= 2 else float("nan")}


def _projected_covs(mixture: GaussianMixture, Q: np.ndarray) -> np.ndarray:
    """(K, r, r): Qᵀ Σ_k Q from the eigendecomposition (no d × d matrix for isotropic / diagonal forms)."""
    evals, U = mixture.spectrum
    out = np.empty((mixture.K, Q.shape[1], Q.shape[1]))
    for k in range(mixture.K):
        if U is None:
            out[k] = (Q * evals[k][:, None]).T @ Q
        else:
            Uk = U if U.ndim == 2 else U[k]
            P = Uk.T @ Q
            out[k] = (P * evals[k][:, None]).T @ P
    return out


def label_moments(mixture: GaussianMixture, partition: Partition | None, Q: np.ndarray) -> tuple[np.ndarray,
                                                                                                  np.ndarray]:
    """True mean (M, r) and covariance (M, r, r) of Qᵀx under p(x | Z ∈ B) for each group B (classes by default):
    m_B = Σ_{k∈B} π_k|B Qᵀμ_k, C_B = Σ_{k∈B} π_k|B (QᵀΣ_kQ + (Qᵀμ_k − m_B)(Qᵀμ_k − m_B)ᵀ)."""
    part = check_partition(partition, mixture.K)
    pm = mixture.means @ Q
    pc = _projected_covs(mixture, Q)
    M, r = part.M, Q.shape[1]
    means, covs = np.zeros((M, r)), np.zeros((M, r, r))
    for b, g in enumerate(part.groups):
        w = mixture.weights[g]
        w = w / w.sum() if w.sum() > 0 else np.full(len(g), 1.0 / len(g))
        m = w @ pm[g]
        dm = pm[g] - m
        means[b] = m
        covs[b] = np.einsum("k,kij->ij", w, pc[g]) + np.einsum("k,ki,kj->ij", w, dm, dm)
    return means, covs


# ================================================================================================= fronts
def _balanced_labels(weights: np.ndarray, n: int) -> np.ndarray:
    """Labels spread deterministically over the prior: z_i = F⁻¹((i + ½)/n) (no label-sampling noise)."""
    cum = np.cumsum(weights) / np.sum(weights)
    return np.minimum(np.searchsorted(cum, (np.arange(n) + 0.5) / n), weights.size - 1).astype(np.int32)


def interval_grid(sigma_range: tuple[float, float], n_edges: int = 5) -> list[tuple[float, float]]:
    """Every interval (e_a, e_b), a < b, between the edges {0, n_edges log-spaced values in sigma_range, ∞},
    except (0, ∞) (that is CFG everywhere)."""
    lo, hi = sigma_range
    if not (0 < lo < hi < math.inf):
        raise ValueError(f"sigma_range must satisfy 0 < lo < hi < inf; got {sigma_range!r}")
    n_edges = _check_count(n_edges, "n_edges", 1)
    edges = [0.0, *np.geomspace(lo, hi, n_edges).tolist(), math.inf]
    return [(edges[a], edges[b]) for a in range(len(edges)) for b in range(a + 1, len(edges))
            if not (a == 0 and b == len(edges) - 1)]


@dataclass
class Front:
    """A fidelity–diversity study: rows (dicts, one per configuration), the window and the recommended interval.

    Row keys: name, kind ("none", "cfg", "recommended", "shifted", "edm2", "grid"), w, sigma_lo, sigma_hi, the
    ``sample_metrics`` (accuracy, confidence, error, var_ratio, div_loss, freq_kl, moment_kl, with *_se) and
    on_front (Pareto-optimal in (error, div_loss)), dominated_by (names), err_gap, div_gap (see the module
    docstring), cfg_div_at_error and cfg_mkl_at_error (CFG's div_loss and moment_kl interpolated at this row's
    error, along the CFG curve from w = 1), on_front_mkl / dominated_by_mkl (the same for the second front, error
    against moment_kl; None when moment_kl is not available). ``samples``: name →
    (confidence (n,), y (n, r)) per configuration, for paired comparisons (all runs share initial states and labels).
    """

    case: str
    rows: list[dict]
    window: Window
    level: str
    labels: np.ndarray
    ref_tr: np.ndarray
    samples: dict = field(default_factory=dict, repr=False)
    settings: dict = field(default_factory=dict)

    @property
    def recommended(self) -> tuple[float, float]:
        return self.window.interval

    def select(self, **match) -> list[dict]:
        return [r for r in self.rows if all(r[k] == v for k, v in match.items())]

    def pareto(self) -> list[dict]:
        return sorted([r for r in self.rows if r["on_front"]], key=lambda r: r["error"])

    def compare(self, a: str, b: str, *, n_boot: int = 200, seed: int = 0) -> dict[str, float]:
        """Paired difference a − b (``paired_difference``) between two configurations by name."""
        for nm in (a, b):
            if nm not in self.samples:
                raise ValueError(f"no configuration named {nm!r}; have {list(self.samples)}")
        ca, ya = self.samples[a]
        cb, yb = self.samples[b]
        return paired_difference(ca, ya, cb, yb, self.labels, self.ref_tr, n_boot=n_boot, seed=seed)

    def summary(self, *, n_boot: int = 200, seed: int = 0) -> list[dict]:
        """Per w: recommended interval − CFG at the same w (paired differences and stderr), where the recommended
        interval lies on the front, and how many configurations dominate it significantly (at least as good in both
        objectives, better by more than 2 paired stderr in one, not worse by more than 2 in the other)."""
        out = []
        for rec in self.select(kind="recommended"):
            cfg = self.select(kind="cfg", w=rec["w"])[0]
            d = self.compare(rec["name"], cfg["name"], n_boot=n_boot, seed=seed)
            sig = []
            for other in rec["dominated_by"]:
                p = self.compare(other, rec["name"], n_boot=n_boot, seed=seed)
                better = (p["d_error"] < -2 * p["d_error_se"]) or (p["d_div"] < -2 * p["d_div_se"])
                worse = (p["d_error"] > 2 * p["d_error_se"]) or (p["d_div"] > 2 * p["d_div_se"])
                if better and not worse:
                    sig.append(other)
            out.append({
                "case": self.case, "w": rec["w"], "sigma_lo": rec["sigma_lo"], "sigma_hi": rec["sigma_hi"],
                "error_rec": rec["error"], "error_cfg": cfg["error"], "div_rec": rec["div_loss"],
                "div_cfg": cfg["div_loss"], **d,
                "on_front": rec["on_front"], "n_dominating": len(rec["dominated_by"]), "n_sig_dominating": len(sig),
                "sig_dominated_by": sig, "err_gap": rec["err_gap"], "div_gap": rec["div_gap"],
                "cfg_div_at_error": rec["cfg_div_at_error"], "mkl_rec": rec.get("moment_kl", float("nan")),
                "cfg_mkl_at_error": rec["cfg_mkl_at_error"], "on_front_mkl": rec["on_front_mkl"],
                "n_dominating_mkl": len(rec["dominated_by_mkl"]), "dominated_by_mkl": rec["dominated_by_mkl"],
            })
        return out


def _mark_front(rows: list[dict]) -> None:
    e = np.array([r["error"] for r in rows])
    v = np.array([r["div_loss"] for r in rows])
    mk = np.array([r.get("moment_kl", np.nan) for r in rows])
    for i, r in enumerate(rows):
        dom = (e <= e[i]) & (v <= v[i]) & ((e < e[i]) | (v < v[i]))
        r["on_front"] = not bool(np.any(dom))
        r["dominated_by"] = [rows[j]["name"] for j in np.flatnonzero(dom)]
        r["err_gap"] = float(e[i] - np.min(e[v <= v[i]]))
        r["div_gap"] = float(v[i] - np.min(v[e <= e[i]]))
        if np.all(np.isfinite(mk)):  # the second front: error against moment KL (mean shift and spread together)
            dom_k = (e <= e[i]) & (mk <= mk[i]) & ((e < e[i]) | (mk < mk[i]))
            r["on_front_mkl"] = not bool(np.any(dom_k))
            r["dominated_by_mkl"] = [rows[j]["name"] for j in np.flatnonzero(dom_k)]
        else:
            r["on_front_mkl"], r["dominated_by_mkl"] = None, []
    cfg = sorted([r for r in rows if r["kind"] in ("cfg", "none")], key=lambda r: r["error"])
    ce, cv = np.array([r["error"] for r in cfg]), np.array([r["div_loss"] for r in cfg])
    cm = np.array([r.get("moment_kl", np.nan) for r in cfg])
    for r in rows:
        inside = len(cfg) > 0 and ce[0] <= r["error"] <= ce[-1]
        r["cfg_div_at_error"] = float(np.interp(r["error"], ce, cv)) if inside else float("nan")
        r["cfg_mkl_at_error"] = float(np.interp(r["error"], ce, cm)) if inside else float("nan")


def front_configs(
    ws: Sequence[float],
    window: tuple[float, float],
    grid: Sequence[tuple[float, float]],
    edm2: tuple[float, float] | None = EDM2_INTERVAL,
) -> list[tuple[str, str, float, tuple[float, float] | None]]:
    """The configurations of a front, as (name, kind, w, interval or None): "none" (w = 1), then per w: "cfg" (every
    σ), "recommended" (the window), "shifted" (the window slid down / up by its own log-width), "edm2" (``edm2``,
    skipped when None) and "grid" (each interval of ``grid``)."""
    lo, hi = window
    width = math.log(hi / lo)
    configs: list[tuple[str, str, float, tuple[float, float] | None]] = [("none", "none", 1.0, None)]
    for wv in ws:
        configs.append((f"cfg w={wv:g}", "cfg", wv, None))
        configs.append((f"recommended w={wv:g}", "recommended", wv, (lo, hi)))
        configs.append((f"shift−1 w={wv:g}", "shifted", wv, (lo * math.exp(-width), lo)))
        configs.append((f"shift+1 w={wv:g}", "shifted", wv, (hi, hi * math.exp(width))))
        if edm2 is not None:
            configs.append((f"edm2 w={wv:g}", "edm2", wv, (float(edm2[0]), float(edm2[1]))))
        for a, b in grid:
            configs.append((f"({a:.3g}, {b:.3g}) w={wv:g}", "grid", wv, (a, b)))
    return configs


def fidelity_diversity_front(
    mixture: GaussianMixture,
    *,
    w: object = (2.0, 4.0),
    intervals: Sequence[tuple[float, float]] | None = None,
    partition: Partition | None = None,
    window: Window | tuple[float, float] | None = None,
    fraction: float = 0.8,
    n_edges: int = 4,
    n_samples: int = 2048,
    n_steps: int = 64,
    S_churn: float = 0.0,
    key: object = 0,
    n_boot: int = 200,
    case: str = "",
    **sampler_kwargs,
) -> Front:
    """Fidelity against diversity of guided sampling with exact scores, for every configuration:
    no guidance (w = 1), CFG at every σ, the recommended interval (the semantic window of the guided level), that
    interval shifted by ± its log-width, EDM2's interval (0.56, 5.8) and ``intervals`` (default ``interval_grid``
    over the window's σ range widened by its width on each side, ``n_edges`` edges) — each at every w.

    Args:
        mixture: the data; partition: guide groups of this partition (labels are groups) instead of classes.
        w: guidance scale(s). window: a precomputed ``Window`` / interval (default: ``theory_window``'s, at the
            partition's level). fraction: the window's share.
        n_samples, n_steps, S_churn, key, sampler_kwargs: ``dynamics.simulate`` with sampler "edm" (default EDM's
            deterministic Heun, 64 steps; the same key, hence the same initial states, for every configuration).
        n_boot: bootstrap replicates for the standard errors of the diversity measures.
    """
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    ws = _check_w(w)
    part = None if partition is None else check_partition(partition, mixture.K)
    n = _check_count(n_samples, "n_samples", 8)
    n_boot = _check_count(n_boot, "n_boot", 0)
    level = "classes" if part is None else "partition"
    if window is None:
        win = theory_window(mixture, partition=part, fraction=fraction, per_class=False, key=key)[level]
    elif isinstance(window, Window):
        win = window
    else:
        lo, hi = dyn.check_interval(window)
        if not (lo > 0 and math.isfinite(hi)):
            raise ValueError(f"window must be a finite interval with sigma_lo > 0; got {window!r}")
        win = Window(lo, hi, math.log(hi / lo), float(fraction), float("nan"), float("nan"))
    lo, hi = win.sigma_lo, win.sigma_hi
    width = math.log(hi / lo)
    if intervals is None:
        intervals = interval_grid((lo * math.exp(-width), hi * math.exp(width)), n_edges)
    grid = [dyn.check_interval(iv) for iv in intervals]

    gw = check_partition(part, mixture.K).group_weights(mixture.weights)
    labels = _balanced_labels(gw, n)
    Q = dyn.semantic_basis(mixture)
    ref_m, ref_c = label_moments(mixture, part, Q)
    prior_in = np.exp(_group_log_priors(mixture, part))
    prior_in /= prior_in.sum(axis=1, keepdims=True)
    fine_target = prior_in[labels]
    mem = check_partition(part, mixture.K).membership()

    configs = front_configs(ws, (lo, hi), grid)
    rows, samples = [], {}
    for name, kind, wv, iv in configs:
        guidance = "none" if kind == "none" else ("cfg" if kind == "cfg" else "interval")
        tr = dyn.simulate(mixture, sampler="edm", n_samples=n, n_steps=n_steps, key=key, label=labels,
                          guidance=guidance, w=wv, interval=iv, partition=part, S_churn=S_churn, record=False,
                          **sampler_kwargs)
        p = np.exp(tr.final_log_post)
        with np.errstate(divide="ignore"):
            lpg = np.log(p @ mem)
        met = sample_metrics(lpg, labels, tr.final_proj, ref_m, ref_c, fine_post=p, fine_target=fine_target,
                             n_boot=n_boot, seed=len(rows))
        rows.append({"case": case, "name": name, "kind": kind, "w": float(wv),
                     "sigma_lo": float(iv[0]) if iv else 0.0, "sigma_hi": float(iv[1]) if iv else math.inf, **met})
        samples[name] = (np.exp(lpg[np.arange(n), labels]), np.asarray(tr.final_proj))
    _mark_front(rows)
    settings = {"n_samples": n, "n_steps": n_steps, "S_churn": float(S_churn), "ws": list(ws),
                "fraction": float(fraction), "n_intervals": len(grid), "n_boot": n_boot}
    return Front(case, rows, win, level, labels, _traces(ref_c), samples, settings)


# ============================================================================================== schedules
def entropy_schedule(
    source: object,
    n_steps: int,
    *,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    blend: float = 1.0,
    rho: float = 7.0,
    partition: Partition | None = None,
    n_grid: int = 257,
    method: str = "auto",
    n_samples: int | None = None,
    key: object = 0,
    bounds: tuple[float, float] | None = None,
) -> np.ndarray:
    """A sampler σ grid of ``n_steps`` values, σ_max = σ_0 > … > σ_{N−1} = σ_min, at equal steps of
    G = (1 − β) G_EDM + β G_H (module docstring): β = ``blend`` = 0 is EDM's ρ-grid, β = 1 gives equal decrements of
    H[Z_P | X_σ] per step.

    Args:
        source: a ``GaussianMixture`` (H by ``gt.class_entropy`` on ``n_grid`` log-spaced σ in [σ_min, σ_max], for
            ``partition``), or a measured curve ((σ, H[, stderr]) or an object with sigma/value/stderr) covering
            [σ_min, σ_max] (H is held constant beyond its ends), or ``"log_uniform"``: the control schedule with
            G_H replaced by the uniform measure in log σ (same blending, no entropy).
        n_steps: N ≥ 2. sigma_min, sigma_max, rho: the EDM grid's parameters. blend: β ∈ [0, 1].
        bounds: (H_min, H_max) to clip a measured curve's monotone fit into (``semantic_window``).
    Returns:
        (N,) decreasing σ (pass as ``dynamics.simulate(..., sigmas=...)``; σ_N = 0 is appended there).
    """
    n = _check_count(n_steps, "n_steps", 2)
    try:
        beta = float(blend)
    except (TypeError, ValueError):
        raise ValueError(f"blend must be a number in [0, 1]; got {blend!r}") from None
    if not (0.0 <= beta <= 1.0):
        raise ValueError(f"blend must lie in [0, 1]; got {blend!r}")
    smin, smax, rho = float(sigma_min), float(sigma_max), float(rho)
    if not (0 < smin < smax < math.inf):
        raise ValueError(f"need 0 < sigma_min < sigma_max < inf; got sigma_min={sigma_min!r}, sigma_max={sigma_max!r}")
    if not (math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be finite and > 0; got {rho!r}")
    a, b = smax ** (1 / rho), smin ** (1 / rho)
    levels = np.arange(n) / (n - 1)
    if beta == 0.0:
        return (a + levels * (b - a)) ** rho
    u = np.linspace(math.log(smax), math.log(smin), 8193)  # decreasing log σ
    g_edm = (a - np.exp(u / rho)) / (a - b)
    if isinstance(source, str):
        if source != "log_uniform":
            raise ValueError(f"source must be a mixture, a curve or 'log_uniform' (the control); got {source!r}")
        return _blend(levels, u, g_edm, (math.log(smax) - u) / (math.log(smax) - math.log(smin)), beta, smin, smax)
    if isinstance(source, GaussianMixture):
        sig = np.geomspace(smin, smax, _check_count(n_grid, "n_grid", 8))
        h, se, _ = _curve(source, sig, None if partition is None else check_partition(partition, source.K), method,
                          n_samples, key)
    else:
        if partition is not None:
            raise ValueError("partition applies to a mixture; a measured curve already is one level")
        sig, h, se = _curve_from_source(source)
    s, h, se = _check_curve(sig, h, se)
    lo_b, hi_b = _check_bounds(bounds)
    fit = np.clip(_isotonic(h, _weights(se, s.size)), lo_b, hi_b)
    hu = np.interp(u, np.log(s), fit)
    total = hu[0] - hu[-1]
    if not total > 0:
        raise ValueError("H produces no information between sigma_min and sigma_max: no entropy schedule exists")
    return _blend(levels, u, g_edm, (hu[0] - hu) / total, beta, smin, smax)


def _blend(levels: np.ndarray, u: np.ndarray, g_edm: np.ndarray, g_other: np.ndarray, beta: float, smin: float,
           smax: float) -> np.ndarray:
    """σ at the ``levels`` of G = (1 − β) G_EDM + β G_other on the decreasing log σ grid u."""
    beta = min(beta, _BETA_ONE)
    G = np.maximum.accumulate((1.0 - beta) * g_edm + beta * g_other)
    out = np.exp(np.interp(levels, G, u))
    out[0], out[-1] = smax, smin
    return out


def _schedule_stats(P: np.ndarray, y: np.ndarray, pi: np.ndarray, ref_means: np.ndarray, ref_covs: np.ndarray,
                    x: np.ndarray | None, ref_total_var: np.ndarray | None, P_ref: np.ndarray | None):
    """A function idx ↦ (freq_tv, freq_kl, moment_kl, var_ratio_total, freq_shift_tv) on the rows idx."""

    def stats(idx: np.ndarray) -> np.ndarray:
        Pi, yi = P[idx], y[idx]
        f = Pi.mean(axis=0)
        mk, vt = 0.0, 0.0
        for k in range(pi.size):
            if pi[k] <= 0:
                continue
            m, c = _wcov(yi, Pi[:, k])
            mk += pi[k] * _kl_gauss(m, np.atleast_2d(c), ref_means[k], ref_covs[k])
            if x is not None and ref_total_var is not None:
                xi, wk = x[idx], Pi[:, k]
                mx = wk @ xi / wk.sum()
                vt += pi[k] * float(wk @ np.sum((xi - mx) ** 2, axis=1) / wk.sum()) / float(ref_total_var[k])
        shift = 0.5 * float(np.sum(np.abs((Pi - P_ref[idx]).mean(axis=0)))) if P_ref is not None else float("nan")
        return np.array([0.5 * float(np.sum(np.abs(f - pi))), _kl_freq(f, pi), mk,
                         vt if x is not None and ref_total_var is not None else float("nan"), shift])

    return stats


SCHEDULE_METRICS = ("freq_tv", "freq_kl", "moment_kl", "var_ratio_total", "freq_shift_tv")


def schedule_metrics(
    fine_post: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    ref_means: np.ndarray,
    ref_covs: np.ndarray,
    *,
    x: np.ndarray | None = None,
    ref_total_var: np.ndarray | None = None,
    paired_post: np.ndarray | None = None,
    n_boot: int = 200,
    seed: object = 0,
) -> dict[str, float]:
    """Distance of unconditional samples from the truth.

    Args:
        fine_post: (n, K) p_0(k | x) of the final samples. y: (n, r) their semantic-subspace projections.
        weights: (K,) target class weights π. ref_means (K, r), ref_covs (K, r, r): true class moments of y.
        x: (n, d) the samples and ref_total_var: (K,) tr Σ_k, for the total within-class variance ratio (optional).
        paired_post: (n, K) p_0(k | x) of a reference run from the same initial states (optional).
    Returns:
        freq_tv = ½ Σ_k |f_k − π_k| and freq_kl = KL(f ‖ π) with f_k = mean p_0(k | x); moment_kl = Σ_k π_k
        KL(N(m̂_k, Ĉ_k) ‖ N(m_k, C_k)) (moments weighted by p_0(k | x)); var_ratio_total = Σ_k π_k tr Σ̂_k / tr Σ_k;
        freq_shift_tv = ½ Σ_k |mean(p_k − p_k^ref)| (paired: free of the Monte Carlo noise the runs share); each with
        a bootstrap ``*_se`` (rows resampled); ``n``.
    """
    P = np.asarray(fine_post, np.float64)
    n = P.shape[0]
    n_boot = _check_count(n_boot, "n_boot", 0)
    rng = _rng(seed)
    stats = _schedule_stats(P, np.asarray(y, np.float64), np.asarray(weights, np.float64), ref_means, ref_covs,
                            x, ref_total_var, None if paired_post is None else np.asarray(paired_post, np.float64))
    base = stats(np.arange(n))
    boot = np.asarray([stats(rng.integers(0, n, n)) for _ in range(n_boot)]) if n_boot >= 2 else None
    se = np.std(boot, axis=0, ddof=1) if boot is not None else np.full(base.size, np.nan)
    out: dict[str, float] = {"n": int(n)}
    for i, k in enumerate(SCHEDULE_METRICS):
        out[k], out[k + "_se"] = float(base[i]), float(se[i])
    return out


@dataclass
class ScheduleComparison:
    """Rows (dicts) per (n_steps, schedule): n_steps, schedule ("edm", "entropy β=…", "log-uniform β=…",
    "reference"), blend, the ``schedule_metrics``, paired differences with EDM at the same n_steps (``d_<metric>``,
    ``d_<metric>_se``; same initial states, bootstrap over shared rows) and, on entropy rows, with the log-uniform
    control at the same blend (``dc_<metric>``); sigmas: (n_steps, schedule) → the grid used."""

    case: str
    rows: list[dict]
    sigmas: dict
    settings: dict = field(default_factory=dict)

    def select(self, **match) -> list[dict]:
        return [r for r in self.rows if all(r[k] == v for k, v in match.items())]

    def summary(self) -> list[dict]:
        """Per n_steps and entropy blend: the metrics of both schedules and the paired differences."""
        out = []
        for r in self.rows:
            if not r["schedule"].startswith("entropy"):
                continue
            e = self.select(n_steps=r["n_steps"], schedule="edm")[0]
            c = self.select(n_steps=r["n_steps"], schedule=r["schedule"].replace("entropy", "log-uniform"))
            row = {"case": self.case, "n_steps": r["n_steps"], "blend": r["blend"]}
            for m in self.settings.get("metrics", ("freq_shift_tv", "freq_tv", "moment_kl", "var_ratio_total")):
                row[f"{m}_edm"], row[f"{m}_ent"] = e[m], r[m]
                row[f"d_{m}"], row[f"d_{m}_se"] = r[f"d_{m}"], r[f"d_{m}_se"]
                if c:
                    row[f"{m}_ctrl"] = c[0][m]
                    row[f"dc_{m}"], row[f"dc_{m}_se"] = r[f"dc_{m}"], r[f"dc_{m}_se"]
            out.append(row)
        return out


def schedule_comparison(
    mixture: GaussianMixture,
    n_steps_list: Sequence[int] = (4, 8, 16, 32),
    *,
    blends: Sequence[float] = (0.0, 0.5, 1.0),
    partition: Partition | None = None,
    n_samples: int = 4096,
    S_churn: float = 0.0,
    key: object = 0,
    n_boot: int = 200,
    reference_steps: int = 256,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    controls: bool = True,
    case: str = "",
) -> ScheduleComparison:
    """Unconditional exact-score sampling (EDM's sampler with ``S_churn``; deterministic Heun by default) with EDM's
    ρ = 7 grid (blend 0, always run) and entropy schedules (other blends; H of ``partition``'s groups, default the
    classes) at equal step counts, measured by ``schedule_metrics`` against the truth. Every run starts from the
    same initial states (same key); ``reference_steps``: an EDM run with that many steps, the converged sampler
    against which ``freq_shift_tv`` is measured (its own ``freq_tv`` is the Monte Carlo floor). ``controls``: also
    run "log-uniform β" schedules (EDM's grid blended with the uniform measure in log σ instead of the entropy), so
    that an effect of blending can be told from an effect of the entropy (``dc_<metric>`` on entropy rows)."""
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    steps = [_check_count(v, "n_steps_list entries", 2) for v in n_steps_list]
    if not steps:
        raise ValueError("n_steps_list must hold at least one step count")
    try:
        bl = [float(b) for b in blends]
    except (TypeError, ValueError):
        raise ValueError(f"blends must be numbers in [0, 1]; got {blends!r}") from None
    if not bl or any(not (0.0 <= b <= 1.0) for b in bl):
        raise ValueError(f"blends must be numbers in [0, 1]; got {blends!r}")
    bl = [0.0] + [b for b in dict.fromkeys(bl) if b != 0.0]
    n = _check_count(n_samples, "n_samples", 8)
    n_boot = _check_count(n_boot, "n_boot", 0)
    n_ref = _check_count(reference_steps, "reference_steps", 2)
    part = None if partition is None else check_partition(partition, mixture.K)
    Q = dyn.semantic_basis(mixture)
    ref_m, ref_c = label_moments(mixture, None, Q)
    tot = mixture.spectrum.evals.sum(axis=1)
    pi = mixture.weights
    sig = np.geomspace(sigma_min, sigma_max, 257)
    h, se, _ = _curve(mixture, sig, part, "auto", None, key)
    curve = (sig, h, se)

    def run_one(N: int, blend: float, src: object):
        s = entropy_schedule(src, N, blend=blend, sigma_min=sigma_min, sigma_max=sigma_max)
        tr = dyn.simulate(mixture, sampler="edm", n_samples=n, n_steps=N, key=key, label=None, sigmas=s,
                          S_churn=S_churn, record=False, keep_x=True)
        return s, np.exp(tr.final_log_post), np.asarray(tr.final_proj), np.asarray(tr.x)

    s_ref, P_ref, y_ref, x_ref = run_one(n_ref, 0.0, curve)
    rows = [{"case": case, "n_steps": n_ref, "schedule": "reference", "blend": 0.0,
             **schedule_metrics(P_ref, y_ref, pi, ref_m, ref_c, x=x_ref, ref_total_var=tot, paired_post=P_ref,
                                n_boot=n_boot, seed=0)}]
    grids = {(n_ref, "reference"): s_ref}
    rng = _rng(1)
    for N in steps:
        stats_of: dict[str, Any] = {}
        for name, b, src in schedule_plan(bl, curve, controls):
            s, P, y, x = run_one(N, b, src)
            grids[(N, name)] = s
            met = schedule_metrics(P, y, pi, ref_m, ref_c, x=x, ref_total_var=tot, paired_post=P_ref, n_boot=n_boot,
                                   seed=len(rows))
            rows.append({"case": case, "n_steps": N, "schedule": name, "blend": b, **met})
            stats_of[name] = _schedule_stats(P, y, pi, ref_m, ref_c, x, tot, P_ref)
        add_paired(rows, stats_of, N, n, n_boot, rng, SCHEDULE_METRICS)
    settings = {"n_samples": n, "S_churn": float(S_churn), "blends": bl, "reference_steps": n_ref,
                "controls": bool(controls)}
    return ScheduleComparison(case, rows, grids, settings)


def schedule_plan(blends: Sequence[float], curve: object, controls: bool) -> list[tuple[str, float, object]]:
    """(name, blend, source) of every schedule at one step count: "edm" (blend 0), "entropy β=b" per other blend
    and, with ``controls``, "log-uniform β=b" (the same blend of EDM's grid with the uniform measure in log σ)."""
    plan: list[tuple[str, float, object]] = [("edm", 0.0, curve)]
    plan += [(f"entropy β={b:g}", b, curve) for b in blends if b != 0.0]
    if controls:
        plan += [(f"log-uniform β={b:g}", b, "log_uniform") for b in blends if b != 0.0]
    return plan


def _paired(stats_a, stats_b, n: int, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """stats_a − stats_b on all rows and its bootstrap stderr (the same resampled rows for both)."""
    idx_all = np.arange(n)
    d0 = stats_a(idx_all) - stats_b(idx_all)
    boot = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        boot.append(stats_a(idx) - stats_b(idx))
    dse = np.std(np.asarray(boot), axis=0, ddof=1) if n_boot >= 2 else np.full(d0.size, np.nan)
    return d0, dse


def add_paired(rows: list[dict], stats_of: dict, N: int, n: int, n_boot: int, rng: np.random.Generator,
               metrics: Sequence[str]) -> None:
    """Add to the rows at step count N: ``d_<m>`` (± ``d_<m>_se``) = schedule − EDM for every non-EDM schedule and
    ``dc_<m>`` = entropy β − log-uniform β (the control at the same blend) for entropy rows."""
    for r in rows:
        if r["n_steps"] != N or r["schedule"] not in stats_of or r["schedule"] == "edm":
            continue
        d0, dse = _paired(stats_of[r["schedule"]], stats_of["edm"], n, n_boot, rng)
        for i, m in enumerate(metrics):
            r[f"d_{m}"], r[f"d_{m}_se"] = float(d0[i]), float(dse[i])
        ctrl = r["schedule"].replace("entropy", "log-uniform")
        if r["schedule"].startswith("entropy") and ctrl in stats_of:
            d0, dse = _paired(stats_of[r["schedule"]], stats_of[ctrl], n, n_boot, rng)
            for i, m in enumerate(metrics):
                r[f"dc_{m}"], r[f"dc_{m}_se"] = float(d0[i]), float(dse[i])


# ============================================================================================== figures
def plot_front(front: Front, ax=None, *, title: str | None = None, y: str = "div_loss"):
    """Error (1 − confidence) against ``y`` — "div_loss" (|log var_ratio|) or "moment_kl" — with ±1 stderr bars:
    grid intervals (grey), CFG over w (black line from w = 1), the recommended interval over w (stars), the window
    shifted by ± its width (squares), EDM2's interval (triangles), the Pareto front of (error, y) (dashed steps).
    Returns the axes."""
    from gmmtheory import plotting

    import matplotlib.pyplot as plt

    if y not in ("div_loss", "moment_kl"):
        raise ValueError(f"y must be 'div_loss' or 'moment_kl'; got {y!r}")
    if ax is None:
        with plotting.style():
            _, ax = plt.subplots()
    rows = front.rows

    def pts(kind):
        sel = [r for r in rows if r["kind"] == kind]
        return sel, [r["error"] for r in sel], [r[y] for r in sel]

    g, gx, gy = pts("grid")
    ax.errorbar(gx, gy, xerr=[r["error_se"] for r in g], yerr=[r[y + "_se"] for r in g], fmt="o", color="0.65",
                ms=3, lw=0.6, label="other intervals")
    for kind, style, color, lab in (("shifted", "s", "C1", "window shifted ± width"), ("edm2", "^", "C0", "EDM2 interval")):
        sel, sx, sy = pts(kind)
        if sel:
            ax.plot(sx, sy, style, color=color, ms=5, label=lab)
    none = front.select(kind="none")[0]
    cfg = sorted(front.select(kind="cfg"), key=lambda r: r["w"])
    ax.plot([none["error"]] + [r["error"] for r in cfg], [none[y]] + [r[y] for r in cfg], "k.-",
            label="CFG everywhere (w = 1 → max)")
    rec = sorted(front.select(kind="recommended"), key=lambda r: r["w"])
    ax.errorbar([r["error"] for r in rec], [r[y] for r in rec], xerr=[r["error_se"] for r in rec],
                yerr=[r[y + "_se"] for r in rec], fmt="*-", color="C3", ms=10, label="recommended (window)")
    for r in rec + cfg:
        ax.annotate(f"{r['w']:g}", (r["error"], r[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    key = "on_front" if y == "div_loss" else "on_front_mkl"
    par = sorted([r for r in rows if r.get(key)], key=lambda r: r["error"])
    ax.step([r["error"] for r in par], [r[y] for r in par], "--", where="post", color="C2", lw=1,
            label="Pareto front")
    ax.set_xscale("log")
    if y == "moment_kl":
        ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("error = 1 − E p₀(z | x)")
    ax.set_ylabel("diversity loss |log var ratio|" if y == "div_loss" else "moment KL to p(x | z)")
    lo, hi = front.recommended
    ax.set_title(title or f"{front.case}: window ({lo:.3g}, {hi:.3g})")
    return ax


def plot_schedules(comparisons: Sequence[ScheduleComparison], out: Path, stem: str = "control_schedules") -> str:
    """One column per comparison: the class-frequency shift against the converged reference run (paired TV) and the
    fitted-class KL against the step count (±2 stderr), per schedule, the reference's KL as a band (Monte Carlo
    floor); bottom row: the 8-step grids. Writes out/stem.{png,pdf}."""
    from gmmtheory import plotting

    with plotting.style():
        import matplotlib.pyplot as plt

        cols = len(comparisons)
        fig, axes = plt.subplots(3, cols, figsize=(4.6 * cols, 10), squeeze=False)
        for j, comp in enumerate(comparisons):
            names = [nm for nm in dict.fromkeys(r["schedule"] for r in comp.rows) if nm != "reference"]
            ref = comp.select(schedule="reference")
            second = "moment_kl" if "moment_kl" in comp.rows[0] else "frechet"
            for i, metric in enumerate(("freq_shift_tv", second)):
                ax = axes[i, j]
                for c, nm in enumerate(names):
                    rs = sorted(comp.select(schedule=nm), key=lambda r: r["n_steps"])
                    ax.errorbar([r["n_steps"] for r in rs], [r[metric] for r in rs],
                                yerr=[2 * r[metric + "_se"] for r in rs], fmt="s:" if "log-uniform" in nm else "o-",
                                color=f"C{c}", label=nm, ms=4)
                if ref and metric == second:
                    r0 = ref[0]
                    ax.axhline(r0[metric], color="0.5", lw=1, ls="--", label=f"EDM {r0['n_steps']} steps (floor)")
                    lo_band = r0[metric] - 2 * r0[metric + "_se"]
                    if lo_band > 0:
                        ax.axhspan(lo_band, r0[metric] + 2 * r0[metric + "_se"], color="0.85")
                ax.set_xscale("log", base=2)
                ax.set_yscale("log")
                ax.set_xlabel("sampler steps N")
                ax.set_ylabel({"freq_shift_tv": "class-frequency shift (TV vs reference)",
                               "moment_kl": "fitted class-conditional KL",
                               "frechet": "Fréchet distance to the data"}[metric])
                if i == 0:
                    ax.set_title(comp.case)
                    ax.legend(fontsize=7)
            ax = axes[2, j]
            Ns = sorted({k[0] for k in comp.sigmas if k[1] != "reference"})
            N = 8 if 8 in Ns else Ns[0]
            for c, nm in enumerate(names):
                s = comp.sigmas[(N, nm)]
                ax.plot(np.arange(s.size), s, "o-", color=f"C{c}", label=nm, ms=4)
            ax.set_yscale("log")
            ax.set_xlabel(f"step index (N = {N})")
            ax.set_ylabel("σ_i")
        plotting.save(fig, out, stem)
    return stem


# ======================================================================================= study & section
def front_cases(d: int = 64) -> dict[str, tuple[GaussianMixture, Partition | None]]:
    """Overlapping classes (w = 1 already gives near-perfect fidelity for well-separated classes, so guidance
    can only cost): name → (mixture, guided partition or None)."""
    h = hierarchical(2, 2, d, 0.3, 0.15)
    return {
        "two": (two_gaussians(d, 0.2), None),
        "kclasses": (k_classes(4, d, 0.2), None),
        "hier/classes": (h.mixture, None),
        "hier/super": (h.mixture, h.coarse),
    }


def schedule_cases(d: int = 64) -> dict[str, GaussianMixture]:
    """Unequal weights (with equal weights symmetry hides class-frequency errors)."""
    h = hierarchical(2, 2, d, 0.5, 0.25)
    return {
        "two": two_gaussians(d, 0.5, weights=np.array([0.75, 0.25])),
        "kclasses": k_classes(4, d, 0.5, weights=np.array([0.4, 0.3, 0.2, 0.1])),
        "hier": GaussianMixture(h.mixture.means, 1.0, np.array([0.4, 0.3, 0.2, 0.1])),
    }


SMOKE = {"d": 16, "front_cases": ("two",), "n_samples": 128, "n_steps": 16, "ws": (3.0,), "n_edges": 2,
         "schedule_cases": ("two",), "steps": (4, 8), "sched_n": 256, "blends": (0.0, 0.5), "churns": (0.0,),
         "reference_steps": 32, "n_boot": 20}
QUICK = {"d": 64, "front_cases": ("two", "kclasses", "hier/super"), "n_samples": 1024, "n_steps": 64,
         "ws": (2.0, 4.0), "n_edges": 3, "schedule_cases": ("two", "kclasses", "hier"), "steps": (4, 8, 16, 32),
         "sched_n": 2048, "blends": (0.0, 0.5, 1.0), "churns": (0.0,), "reference_steps": 256, "n_boot": 100}
FULL = {"d": 64, "front_cases": ("two", "kclasses", "hier/classes", "hier/super"), "n_samples": 4096,
        "n_steps": 64, "ws": (1.5, 2.0, 3.0, 5.0), "n_edges": 4, "schedule_cases": ("two", "kclasses", "hier"),
        "steps": (4, 8, 16, 32, 64), "sched_n": 8192, "blends": (0.0, 0.25, 0.5, 1.0), "churns": (0.0, 40.0),
        "reference_steps": 512, "n_boot": 100}
SIZES = {"smoke": SMOKE, "quick": QUICK, "full": FULL}


# Sizes: SMOKE is the report's --quick mode (tests, seconds); QUICK is what `gmmtheory report` uses (~2 min on 2
# cores); FULL is the closing-note run (~20 min on 2 cores).


def _size(size: object) -> dict:
    if isinstance(size, bool):
        return SMOKE if size else QUICK
    if isinstance(size, Mapping):
        return dict(size)
    if isinstance(size, str) and size in SIZES:
        return SIZES[size]
    raise ValueError(f"size must be True (smoke), False (quick), one of {sorted(SIZES)} or a dict; got {size!r}")


def _pm(v: float, se: float, fmt: str = ".3g") -> str:
    return f"{v:{fmt}} ± {se:{fmt}}"


def control_study(size: object = "quick") -> dict:
    """Everything the report section shows: theory windows, fronts and schedule comparisons (dict of results)."""
    cfg = _size(size)
    d = cfg["d"]
    fc = front_cases(d)
    windows = {}
    for name in dict.fromkeys(c.split("/")[0] for c in cfg["front_cases"]):
        mix = fc[name if name != "hier" else "hier/classes"][0]
        part = {"coarse": fc["hier/super"][1]} if name == "hier" else None
        windows[name] = theory_window(mix, partition=part, n_boot=cfg["n_boot"])
    fronts = {}
    for name in cfg["front_cases"]:
        mix, part = fc[name]
        base = name.split("/")[0]
        win = windows[base]["coarse" if part is not None else "classes"]
        fronts[name] = fidelity_diversity_front(mix, w=cfg["ws"], partition=part, window=win, n_edges=cfg["n_edges"],
                                                n_samples=cfg["n_samples"], n_steps=cfg["n_steps"], key=0,
                                                n_boot=cfg["n_boot"], case=name)
    sc = schedule_cases(d)
    schedules = {}
    for churn in cfg["churns"]:
        for name in cfg["schedule_cases"]:
            schedules[(name, churn)] = schedule_comparison(
                sc[name], cfg["steps"], blends=cfg["blends"], n_samples=cfg["sched_n"], S_churn=churn, key=0,
                n_boot=cfg["n_boot"], reference_steps=cfg["reference_steps"],
                case=f"{name} ({'Heun' if churn == 0 else f'S_churn {churn:g}'})")
    return {"cfg": cfg, "windows": windows, "fronts": fronts, "schedules": schedules}


def _word(v: float, se: float) -> str:
    return "lower" if v < -2 * se else ("higher" if v > 2 * se else "no different")


def scoreboard(fronts: Mapping[str, Front], schedules: Sequence[ScheduleComparison], n_boot: int = 200,
               kl_metric: str = "moment_kl") -> list[str]:
    """Two Markdown tables summarising the closing note: the recommended interval against CFG at matched error
    (per case and w), and per case and blend the step counts at which the entropy schedule is lower / higher than
    EDM (and than the log-uniform control) by more than 2 paired stderr."""
    lines = ["| case | w | window | on (error, div loss) front | dominated (> 2 se) | div loss | CFG div loss at "
             "same error | moment KL | CFG moment KL at same error | on (error, moment KL) front | dominated by |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, fr in fronts.items():
        for s in fr.summary(n_boot=n_boot):
            dom = ", ".join(s["dominated_by_mkl"][:3]) + (" …" if len(s["dominated_by_mkl"]) > 3 else "")
            lines.append(f"| {name} | {s['w']:g} | ({s['sigma_lo']:.3g}, {s['sigma_hi']:.3g}) | {s['on_front']} | "
                         f"{s['n_sig_dominating']} of {s['n_dominating']} | {s['div_rec']:.3f} | "
                         f"{s['cfg_div_at_error']:.3f} | {s['mkl_rec']:.3g} | {s['cfg_mkl_at_error']:.3g} | "
                         f"{s['on_front_mkl']} | {dom or '–'} |")
    lines += ["", "| schedule case | β | freq shift lower than EDM at N | higher at N | "
              f"{kl_metric} lower at N | higher at N | {kl_metric} vs control: lower at N | higher at N |",
              "|---|---|---|---|---|---|---|---|"]
    for comp in schedules:
        summ = comp.summary()
        for b in sorted({r["blend"] for r in summ}):
            rs = [r for r in summ if r["blend"] == b]

            def at(key, sign):
                out = [str(r["n_steps"]) for r in rs if _word(r[key], r[key + "_se"]) == sign]
                return ", ".join(out) or "–"

            cells = [at("d_freq_shift_tv", "lower"), at("d_freq_shift_tv", "higher"), at(f"d_{kl_metric}", "lower"),
                     at(f"d_{kl_metric}", "higher")]
            if rs and f"dc_{kl_metric}" in rs[0]:
                cells += [at(f"dc_{kl_metric}", "lower"), at(f"dc_{kl_metric}", "higher")]
            else:
                cells += ["n/a", "n/a"]
            lines.append(f"| {comp.case} | {b:g} | " + " | ".join(cells) + " |")
    return lines


def front_verdict(s: dict) -> tuple[str, str]:
    """Words for one ``Front.summary()`` row: how the recommended interval compares with CFG everywhere (paired
    differences beyond 2 stderr in error or diversity loss) and where it lies on the front."""
    e, ee, v, ve = s["d_error"], s["d_error_se"], s["d_div"], s["d_div_se"]
    better = (e < -2 * ee) or (v < -2 * ve)
    worse = (e > 2 * ee) or (v > 2 * ve)
    verdict = ("beats CFG everywhere" if better and not worse else
               "is worse than CFG everywhere" if worse and not better else
               "trades error against diversity with CFG everywhere" if better and worse else
               "is indistinguishable from CFG everywhere (within 2 stderr)")
    place = "lies on the Pareto front" if s["on_front"] else (
        f"is dominated by {s['n_dominating']} configuration(s), {s['n_sig_dominating']} of them by more than "
        f"2 paired stderr (error gap {s['err_gap']:.3g}, diversity gap {s['div_gap']:.3g})")
    return verdict, place


def _verdicts(study: dict) -> list[str]:
    """The closing note, sentence by sentence, from the numbers (no hand-written conclusions)."""
    lines = []
    for name, fr in study["fronts"].items():
        for s in fr.summary(n_boot=study["cfg"]["n_boot"]):
            e, ee, v, ve = s["d_error"], s["d_error_se"], s["d_div"], s["d_div_se"]
            verdict, place = front_verdict(s)
            at, am = s["cfg_div_at_error"], s["cfg_mkl_at_error"]
            match = (f"; at its error CFG everywhere would have diversity loss {at:.3g} (it has {s['div_rec']:.3g}) "
                     f"and moment KL {am:.3g} (it has {s['mkl_rec']:.3g})" if np.isfinite(at) else "")
            lines.append(
                f"- {name}, w = {s['w']:g}: the window ({s['sigma_lo']:.3g}, {s['sigma_hi']:.3g}) {verdict}: error "
                f"{s['error_rec']:.4f} vs {s['error_cfg']:.4f} (Δ {_pm(e, ee)}), diversity loss {s['div_rec']:.3f} vs "
                f"{s['div_cfg']:.3f} (Δ {_pm(v, ve)}); it {place}{match}.")
    for comp in study["schedules"].values():
        for s in comp.summary():
            f, fe = s["d_freq_shift_tv"], s["d_freq_shift_tv_se"]
            k, ke = s["d_moment_kl"], s["d_moment_kl_se"]
            v, ve = s["d_var_ratio_total"], s["d_var_ratio_total_se"]
            ctrl = ""
            if "dc_moment_kl" in s:
                cf, cfe = s["dc_freq_shift_tv"], s["dc_freq_shift_tv_se"]
                ck, cke = s["dc_moment_kl"], s["dc_moment_kl_se"]
                ctrl = (f"; against the log-uniform control at the same β (freq shift {s['freq_shift_tv_ctrl']:.3g}, "
                        f"KL {s['moment_kl_ctrl']:.3g}) the entropy's freq shift is {_word(cf, cfe)} and its KL "
                        f"{_word(ck, cke)}")
            lines.append(
                f"- schedule {comp.case}, N = {s['n_steps']}, β = {s['blend']:g} vs EDM: class-frequency shift "
                f"{s['freq_shift_tv_ent']:.3g} vs {s['freq_shift_tv_edm']:.3g} ({_word(f, fe)}, Δ {_pm(f, fe)}); "
                f"fitted-class KL {s['moment_kl_ent']:.3g} vs {s['moment_kl_edm']:.3g} ({_word(k, ke)}); total "
                f"variance ratio {s['var_ratio_total_ent']:.3f} vs {s['var_ratio_total_edm']:.3f} (Δ {_pm(v, ve)})"
                f"{ctrl}.")
    return lines


def section_control(out: Path, size: object = False) -> str:
    """Report section: semantic windows, fidelity–diversity fronts and the schedule comparison, with a closing
    note computed from the numbers. ``size``: True (smoke), False (quick), "full", or a dict like ``QUICK``."""
    from gmmtheory import plotting

    out = Path(out)
    start = time.perf_counter()
    study = control_study(size)
    cfg = study["cfg"]
    fronts, schedules, windows = study["fronts"], study["schedules"], study["windows"]
    with plotting.style():
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, len(fronts), figsize=(5.2 * len(fronts), 8.8), squeeze=False)
        for j, fr in enumerate(fronts.values()):
            plot_front(fr, axes[0][j])
            plot_front(fr, axes[1][j], y="moment_kl")
        axes[0][0].legend(fontsize=7)
        plotting.save(fig, out, "control_fronts")

        fig, axes = plt.subplots(1, len(windows), figsize=(5.2 * len(windows), 4), squeeze=False)
        for ax, (name, tw) in zip(axes[0], windows.items()):
            for i, (lvl, (h, se)) in enumerate(tw.curves.items()):
                ax.plot(tw.sigma, h, color=f"C{i}", label=lvl)
                w = tw.windows[lvl]
                ax.axvspan(w.sigma_lo, w.sigma_hi, color=f"C{i}", alpha=0.12)
            ax.set_xscale("log")
            ax.set_xlabel("σ (unit-data VE)")
            ax.set_ylabel("H[Z_P | X_σ]  (nats)")
            ax.set_title(f"{name}: semantic windows ({tw.windows['classes'].fraction:.0%})")
            ax.legend(fontsize=7)
        plotting.save(fig, out, "control_windows")
    sched_stem = plot_schedules(list(schedules.values()), out)

    win_rows = [{"case": n, **r} for n, tw in windows.items() for r in tw.rows()]
    lines = [
        "## Time-localized control from the entropy signature",
        "",
        f"Semantic windows are the shortest σ-intervals holding {cfg.get('fraction', 0.8):.0%} of the information "
        "production −∫dH (isotonic fit, exact breakpoint search; σ is unit-data VE σ, t = ½ log(1 + σ²) is OU time). "
        "Mixtures with overlapping classes (d = {d}): two Gaussians μ̃ = 0.2, four orthogonal classes μ̃ = 0.2, and "
        "the hierarchy ±u ± v (μ̃ 0.3 / 0.15).".format(d=cfg["d"]),
        "",
        *markdown_table(win_rows, [("case", "case", ""), ("level", "level", ""), ("method", "method", ""),
                        ("H[Z_P]", "H_prior", ".4f"), ("produced", "produced", ".4f"), ("σ_lo", "sigma_lo", ".4g"),
                        ("σ_hi", "sigma_hi", ".4g"), ("log-width", "log_width", ".3f"),
                        ("± (boot)", "log_width_se", ".2g"), ("held (raw)", "held", ".3f"),
                        ("t_lo (OU)", "t_lo", ".3f"), ("t_hi (OU)", "t_hi", ".3f")]),
        "",
        "![windows](control_windows.png)",
        "",
        "### Guidance: fidelity against diversity",
        "",
        f"EDM Heun sampler with exact scores, {cfg['n_steps']} steps, {cfg['n_samples']} samples per configuration "
        "(labels spread over the prior, identical initial states for every configuration), w ∈ "
        f"{{{', '.join(f'{w:g}' for w in cfg['ws'])}}}. Error = 1 − E p₀(z | x) (the Bayes classifier's confidence "
        "in the target); diversity loss = |log var ratio| of the within-label variance in the semantic subspace "
        "against the truth (top row); moment KL = KL of the Gaussian fitted to the samples generated for z against "
        "p(x | z)'s moments in the semantic subspace, i.e. mean shift (overshoot) and spread together (bottom row). "
        "The grid holds every interval between edges {0, log-spaced values around the window, ∞}. 'hier/super' "
        "guides the superclass with the coarse window.",
        "",
        "![fronts](control_fronts.png)",
        "",
    ]
    for name, fr in fronts.items():
        lines += [f"{name} (window ({fr.recommended[0]:.3g}, {fr.recommended[1]:.3g}), level {fr.level}):", ""]
        key_rows = [r for r in fr.rows if r["kind"] != "grid"] + [r for r in fr.pareto() if r["kind"] == "grid"]
        lines += markdown_table(key_rows, [
            ("config", "name", ""), ("σ_lo", "sigma_lo", ".3g"), ("σ_hi", "sigma_hi", ".3g"),
            ("accuracy", "accuracy", ".4f"), ("error", "error", ".4f"), ("± se", "error_se", ".1g"),
            ("var ratio", "var_ratio", ".3f"), ("± se", "var_ratio_se", ".1g"), ("div loss", "div_loss", ".3f"),
            ("moment KL", "moment_kl", ".3g"), ("freq KL", "freq_kl", ".2g"), ("Pareto", "on_front", ""),
            ("err gap", "err_gap", ".3g"), ("div gap", "div_gap", ".3g")])
        lines.append("")
    lines += [
        "### Semantic-entropy schedule against EDM's ρ = 7 grid",
        "",
        f"Unconditional sampling, {cfg['sched_n']} samples, unequal class weights, the same initial states for every "
        "schedule. β = 0 is EDM's grid; β = 1 removes an equal share of H[Z | X_σ] per step; 'log-uniform β' "
        "blends EDM's grid with the uniform measure in log σ instead (the control: blending without entropy); "
        "'reference' is EDM with "
        f"{cfg['reference_steps']} steps, the converged sampler: 'freq TV vs π' has a Monte Carlo floor (see the "
        "reference row), 'freq shift vs ref' is the paired TV distance to the reference run's soft class frequencies "
        "from the same initial states (discretisation error alone). Standard errors by bootstrap.",
        "",
        f"![schedules]({sched_stem}.png)",
        "",
    ]
    for comp in schedules.values():
        lines += [f"{comp.case}:", ""]
        lines += markdown_table(sorted(comp.rows, key=lambda r: (r["n_steps"], r["blend"])), [
            ("N", "n_steps", "d"), ("schedule", "schedule", ""), ("freq TV vs π", "freq_tv", ".4f"),
            ("± se", "freq_tv_se", ".1g"), ("freq shift vs ref", "freq_shift_tv", ".4f"),
            ("± se", "freq_shift_tv_se", ".1g"), ("fitted-class KL", "moment_kl", ".4f"),
            ("± se", "moment_kl_se", ".1g"), ("total var ratio", "var_ratio_total", ".4f"),
            ("± se", "var_ratio_total_se", ".1g")])
        lines.append("")
    lines += ["### Closing note (computed)", "",
              "Differences are entropy-chosen minus standard, ± a paired stderr (both runs start from the same "
              "initial states with the same labels; bootstrap over shared samples); 'lower'/'higher' and "
              "'beats'/'worse' need more than 2 stderr.", ""]
    lines += scoreboard(fronts, list(schedules.values()), n_boot=cfg["n_boot"])
    lines += ["", "In detail:", ""]
    lines += _verdicts(study)
    lines += ["", f"_Section computed in {time.perf_counter() - start:.1f} s._", ""]
    return "\n".join(lines) + "\n"


# =================================================================================================== CLI
CLI_OPTIONS = {  # the options each action uses; any other one given is refused (it would not act)
    "window": {"fraction", "n_samples", "seed", "process"},
    "interval": {"level", "fraction", "n_samples", "seed", "process"},
    "front": {"level", "fraction", "w", "n_steps", "churn", "n_samples_sim", "n_samples", "seed"},
    "schedule": {"level", "steps", "blends", "churn", "n_samples_sim", "seed"},
}
CLI_DEFAULTS: dict[str, Any] = {"level": "classes", "fraction": 0.8, "w": "2,4", "steps": "4,8,16,32",
                                "blends": "0,0.5,1", "n_steps": 64, "churn": 0.0, "n_samples_sim": 2048,
                                "n_samples": None, "seed": 0, "process": "ou"}


def _cli_options(args: argparse.Namespace) -> None:
    """Refuse the options that do not act for ``args.action`` (``CLI_OPTIONS``), then fill in ``CLI_DEFAULTS``."""
    used = CLI_OPTIONS[args.action]
    given = [k for k in CLI_DEFAULTS if getattr(args, k) is not None and k not in used]
    if given:
        opts = ", ".join("--" + k.replace("_", "-") for k in given)
        where = {k: [a for a, s in CLI_OPTIONS.items() if k in s] for k in given}
        detail = "; ".join(f"--{k.replace('_', '-')} applies to {', '.join(v) if v else 'no action'}"
                           for k, v in where.items())
        raise ValueError(f"{opts} would not act with 'control {args.action}' ({detail}); drop {opts}")
    for k, v in CLI_DEFAULTS.items():
        if getattr(args, k) is None:
            setattr(args, k, v)


def _cli_mixture(args) -> tuple[GaussianMixture, dict[str, Partition] | None]:
    from gmmtheory.cli import mixture_and_partitions

    return mixture_and_partitions(args)


def _cli_level(spec: str, mixture: GaussianMixture, parts: dict | None) -> str | int:
    if spec == "classes" or (parts and spec in parts):
        return spec
    try:
        level = int(spec)
    except ValueError:
        names = "'classes'" + "".join(f", {n!r}" for n in (parts or {}))
        raise ValueError(f"--level must be {names} or a class index 0..{mixture.K - 1}; got {spec!r}") from None
    if not 0 <= level < mixture.K:
        raise ValueError(f"--level must be a class index 0..{mixture.K - 1} (or a level name); got {level}")
    return level


def _parse_floats(spec: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in spec.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{name} must be a comma list of numbers; got {spec!r}") from None


def _window_rows(tw: TheoryWindows, names: Sequence[str]) -> list[dict]:
    rows = []
    for r in tw.rows():
        if r["level"] in names:
            w = tw.windows[r["level"]]
            rows.append({**r, "log_sigma_lo_se": w.log_lo_se, "log_sigma_hi_se": w.log_hi_se, "n_boot": w.n_boot})
    return rows


def _window_figure(tw: TheoryWindows, mixture: GaussianMixture, names: Sequence[str], out: Path, stem: str) -> None:
    """H[Z_P | X_σ]/H[Z_P] against σ (log axis) per level with its ±2 stderr band, the semantic window shaded in the
    level's colour, t_S and the half-entropy σ of the first level marked."""
    from gmmtheory import plotting
    from gmmtheory.cli import half_entropy_time
    from gmmtheory.landmarks import speciation_time

    with plotting.style():
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 4.4))
        for name in names:
            h, se = tw.curves[name]
            hp = tw.h_prior[name]
            line = ax.plot(tw.sigma, h / hp, "-", lw=1.5, label=f"{name}")[0]
            c = line.get_color()
            ax.fill_between(tw.sigma, (h - 2 * se) / hp, (h + 2 * se) / hp, color=c, alpha=0.25, lw=0)
            w = tw.windows[name]
            ax.axvspan(w.sigma_lo, w.sigma_hi, color=c, alpha=0.12,
                       label=f"{name}: window [{w.sigma_lo:.3g}, {w.sigma_hi:.3g}] ({w.fraction:g} of the information)")
        marks = {"t_S (spectral speciation)": float(speciation_time(mixture, EDM())),
                 "half-entropy σ": half_entropy_time(tw.sigma, tw.curves[names[0]][0], tw.h_prior[names[0]])}
        for (label, x), style in zip(marks.items(), ("--", "-.")):
            if math.isfinite(x) and tw.sigma[0] <= x <= tw.sigma[-1]:
                ax.axvline(x, color="k", ls=style, lw=1, label=f"{label} = {x:.4g}")
            else:
                ax.plot([], [], " ", label=f"{label}: outside the grid")
        ax.set_xscale("log")
        ax.set_xlabel("σ  (σ = σ_t/a_t, the EDM noise level)")
        ax.set_ylabel("H[Z_P | X_σ] / H[Z_P]")
        ax.legend(fontsize=6)
        plotting.save(fig, out, stem)


def run(args: argparse.Namespace) -> int:
    """Run ``gmmtheory control ACTION``: window, interval, front or schedule."""
    from gmmtheory.cli import SIGMA_DEFINITION, emit, prepare_out, time_description
    from gmmtheory.processes import get_process

    _cli_options(args)
    process = get_process(args.process) if args.action in ("window", "interval") else None
    mix, parts = _cli_mixture(args)
    level = _cli_level(args.level, mix, parts)
    if args.action == "schedule" and isinstance(level, int):
        raise ValueError("--level for 'control schedule' must be 'classes' or a partition name (the schedule follows "
                         f"the entropy of a level's groups); got the class index {level}")
    part = parts[level] if parts and isinstance(level, str) and level in parts else None
    out_dir = prepare_out(args.out)
    meta: dict[str, Any] = {"mixture": repr(mix), "K": mix.K, "d": mix.d, "action": args.action,
                            "time_variable": "σ", "time_units": SIGMA_DEFINITION, "sigma": SIGMA_DEFINITION,
                            "H_Z": _h_prior(mix, None) + 0.0, "H_units": "nats", "key": args.seed}
    rows: list[dict]
    columns: dict[str, str] | None = None
    if args.action in ("window", "interval"):
        if args.action == "window":
            tw = theory_window(mix, process, partition=parts, fraction=args.fraction, n_samples=args.n_samples,
                               key=args.seed)
            names = list(tw.windows)
        else:
            per_class = isinstance(level, int) and mix.K > 2
            name = (f"class {level}" if per_class else "classes") if isinstance(level, int) else level
            tw = theory_window(mix, process, partition=parts, fraction=args.fraction, per_class=per_class,
                               n_samples=args.n_samples, key=args.seed)
            names = [name]
        rows = _window_rows(tw, names)
        if args.action == "interval":
            rows = [{"level": str(level), **{k: v for k, v in r.items() if k != "level"}} for r in rows]
        mc = any(m not in ("quadrature", "exact") for m in tw.methods.values())
        meta.update(process=repr(process), method=sorted(set(tw.methods.values())),
                    draws=(CURVE_SAMPLES if args.n_samples is None else args.n_samples) if mc else None,
                    native_time=f"t_lo, t_hi: {time_description(process)} (t = t(λ), λ = −2 log σ)")
        if not mc:
            meta["key"] = None
        columns = {"sigma_lo": f"lower end of the window, {SIGMA_DEFINITION}", "sigma_hi": "upper end (σ)",
                   "log_width": "log(σ_hi/σ_lo)", "log_width_se": "bootstrap standard error of log_width (nan: exact)",
                   "log_sigma_lo_se": "bootstrap standard error of log σ_lo", "log_sigma_hi_se": "of log σ_hi",
                   "t_lo": f"σ_lo in --process's time: {time_description(process)}", "t_hi": "σ_hi in that time",
                   "produced": "nats produced over the grid", "held": "share the raw curve holds in the window",
                   "H_prior": "H[Z_P] (nats)"}
        if out_dir is not None:
            _window_figure(tw, mix, names, out_dir, f"control_{args.action}")
    elif args.action == "front":
        win = recommend_window(mix, partition=parts, level=level, fraction=args.fraction, n_samples=args.n_samples,
                               key=args.seed)
        fr = fidelity_diversity_front(mix, w=_parse_floats(args.w, "--w"), partition=part, window=win,
                                      fraction=args.fraction, n_samples=args.n_samples_sim, n_steps=args.n_steps,
                                      S_churn=args.churn, key=args.seed, case=args.preset or "mixture")
        rows = [{k: v for k, v in r.items() if k != "dominated_by"} for r in fr.rows]
        meta.update(process="EDM sampler in σ", method="exact-score EDM sampler", draws=args.n_samples_sim,
                    n_steps=args.n_steps, S_churn=args.churn)
        if out_dir is not None:
            from gmmtheory import plotting

            with plotting.style():
                import matplotlib.pyplot as plt

                fig, ax = plt.subplots(figsize=(6.5, 4.6))
                plot_front(fr, ax)
                ax.legend(fontsize=7)
                plotting.save(fig, out_dir, "front")
    else:
        steps = tuple(int(v) for v in _parse_floats(args.steps, "--steps"))
        comp = schedule_comparison(mix, steps, blends=_parse_floats(args.blends, "--blends"), partition=part,
                                   n_samples=args.n_samples_sim, S_churn=args.churn, key=args.seed,
                                   case=args.preset or "mixture")
        rows = comp.rows
        meta.update(process="EDM sampler in σ", method="exact-score EDM sampler", draws=args.n_samples_sim,
                    S_churn=args.churn)
        if out_dir is not None:
            plot_schedules([comp], out_dir, "schedules")
    emit(f"control {args.action}", meta, rows, columns, args.format, out_dir, f"control_{args.action}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``gmmtheory control {window,interval,front,schedule}``."""
    from gmmtheory.cli import add_format_args, add_mixture_args

    p = subparsers.add_parser(
        "control",
        help="semantic windows, recommended guidance intervals, fidelity–diversity fronts, entropy schedules",
        description="Time-localized control from the entropy signature (exact Gaussian-mixture ground truth). "
                    "σ is the EDM noise level σ_t/a_t; t_lo/t_hi are the window's ends in --process's time. An "
                    "option that does not act for the action given is refused.",
        epilog=("examples:\n  gmmtheory control window --preset hierarchical --d 64 --mu 0.3\n"
                "  gmmtheory control interval --preset kclasses --K 4 --d 64 --mu 0.2 --level 2 --process vp\n"
                "  gmmtheory control front --preset two --d 64 --mu 0.2 --w 2,4 --out out/control\n"
                "  gmmtheory control schedule --preset kclasses --d 64 --mu 0.5 --steps 4,8,16 --json"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["window", "interval", "front", "schedule"],
                   help="window: semantic windows per level; interval: the recommended guidance interval; front: "
                        "fidelity–diversity front; schedule: entropy schedule vs EDM ρ = 7")
    add_mixture_args(p)
    p.set_defaults(process=None)
    p.add_argument("--level", default=None,
                   help="interval/front/schedule: guided level: classes, coarse (hierarchical) or a class index "
                        "(interval/front) (default classes)")
    p.add_argument("--fraction", type=float, default=None,
                   help="window/interval/front: share of the information the window holds (default 0.8)")
    p.add_argument("--w", default=None, help="front: comma list of guidance scales (default 2,4)")
    p.add_argument("--steps", default=None, help="schedule: comma list of step counts (default 4,8,16,32)")
    p.add_argument("--blends", default=None, help="schedule: comma list of blends β (default 0,0.5,1)")
    p.add_argument("--n-steps", type=int, default=None, help="front: sampler steps (default 64)")
    p.add_argument("--churn", type=float, default=None, help="front/schedule: EDM S_churn (default 0: Heun)")
    p.add_argument("--n-samples-sim", type=int, default=None,
                   help="front/schedule: samples per sampler run (default 2048)")
    p.add_argument("--n-samples", type=int, default=None,
                   help="window/interval/front: Monte Carlo draws of non-exact entropy curves (default 2^14)")
    p.add_argument("--seed", type=int, default=None, help="PRNG seed (default 0)")
    p.add_argument("--out", type=Path, help="write control_ACTION.json/.csv and the figure into this directory")
    add_format_args(p)
    p.set_defaults(func=run)
    return p
