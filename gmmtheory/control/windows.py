"""Semantic windows of one entropy curve: the monotone fit of H(σ) and the shortest log σ interval holding a share
of the information it produces, with a parametric bootstrap.

From a curve H(σ_i) on a grid σ_1 < … < σ_n, the window is the shortest interval [σ_lo, σ_hi] in log σ holding a
fraction f of the information produced over the grid:

    minimise log(σ_hi/σ_lo)   subject to   Ĥ(σ_hi) − Ĥ(σ_lo) ≥ f [Ĥ(σ_n) − Ĥ(σ_1)],

Ĥ the weighted isotonic (non-decreasing in σ) least-squares fit of H (weights 1/stderr²), linearly interpolated in
log σ; the optimum of this piecewise-linear problem lies at a breakpoint and is found exactly
(``gmmtheory._curves.shortest_window``). Uncertainty: H* = H + stderr·ξ, ξ ~ N(0, 1) independent per point (or one
ξ shared by all points, ``correlated=True``), refitted and re-windowed ``n_boot`` times.

A curve is given as arrays (σ, H[, stderr]) or as any object with ``sigma``, ``value`` and ``stderr`` attributes
and optionally ``quantity`` "entropy" | "rate" (a bridge ``Measurement``); a rate dH/dlog σ is integrated first
(trapezoid in log σ).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gmmtheory._checks import check_count, check_fraction
from gmmtheory._curves import inverse_variance_weights, isotonic_fit, shortest_window

__all__ = [
    "Window",
    "as_curve",
    "bootstrap_rng",
    "check_bounds",
    "check_curve",
    "fit_weights",
    "monotone_fit",
    "semantic_window",
]


def bootstrap_rng(seed: object) -> np.random.Generator:
    """The numpy Generator of a bootstrap: ``seed`` itself when it is a Generator, else ``default_rng(seed)`` for a
    non-negative integer seed."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer or a numpy Generator; got {seed!r}")
    return np.random.default_rng(int(seed))


def check_curve(sigma: object, H: object, stderr: object) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
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


def check_bounds(bounds: object) -> tuple[float, float]:
    """(H_min, H_max) of a clipping range; (−inf, inf) for None."""
    if bounds is None:
        return -math.inf, math.inf
    try:
        lo, hi = (float(v) for v in bounds)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be None or a pair (H_min, H_max); got {bounds!r}") from None
    if not lo < hi or math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"bounds must satisfy H_min < H_max; got {bounds!r}")
    return lo, hi


def fit_weights(stderr: np.ndarray | None, n: int) -> np.ndarray:
    """Weights of the monotone fit: 1/stderr² (stderr floored at a tenth of its median), ones without stderr."""
    return np.ones(n) if stderr is None else inverse_variance_weights(stderr)


def as_curve(source: object) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(σ, H, stderr | None) from a (σ, H[, stderr]) tuple or an object with sigma/value/stderr attributes (a rate
    dH/dlog σ, ``quantity == "rate"``, is integrated: trapezoid in log σ, variances added along the path)."""
    if hasattr(source, "sigma") and hasattr(source, "value"):
        sig = np.asarray(source.sigma, np.float64)
        val = np.asarray(source.value, np.float64)
        se = getattr(source, "stderr", None)
        se = None if se is None else np.asarray(se, np.float64)
        quantity = getattr(source, "quantity", "entropy")
        if quantity == "rate":
            s, r, e = check_curve(sig, val, se)
            du = np.diff(np.log(s))
            h = np.concatenate([[0.0], np.cumsum(0.5 * (r[1:] + r[:-1]) * du)])
            if e is not None:
                e = np.sqrt(np.concatenate([[0.0], np.cumsum(0.25 * (e[1:] ** 2 + e[:-1] ** 2) * du**2)]))
            return s, h, e
        if quantity != "entropy":
            raise ValueError(f"a measured curve must have quantity 'entropy' or 'rate'; got {quantity!r}")
        return sig, val, se
    if isinstance(source, (tuple, list)) and len(source) in (2, 3):
        se = source[2] if len(source) == 3 else None
        return (np.asarray(source[0], np.float64), np.asarray(source[1], np.float64),
                None if se is None else np.asarray(se, np.float64))
    raise ValueError(
        "source must be a GaussianMixture, a tuple (sigma, H) or (sigma, H, stderr), or an object with sigma, value "
        f"and stderr attributes (a bridge Measurement); got {type(source).__name__}"
    )


def monotone_fit(sigma: object, H: object, stderr: object = None) -> tuple[np.ndarray, np.ndarray]:
    """The weighted isotonic least-squares fit Ĥ of H, non-decreasing in σ: minimises Σ_i w_i (Ĥ_i − H_i)² with
    w_i = 1/stderr_i² (stderr floored at a tenth of its median; equal weights when stderr is None or 0).
    Returns (σ ascending, Ĥ)."""
    s, h, se = check_curve(sigma, H, stderr)
    return s, isotonic_fit(h, fit_weights(se, s.size))


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

    def __repr__(self) -> str:
        se = "" if math.isnan(self.log_width_se) else f" ± {self.log_width_se:.2g}"
        return (f"Window(σ ∈ ({self.sigma_lo:.4g}, {self.sigma_hi:.4g}), log-width {self.log_width:.3f}{se}, "
                f"fraction {self.fraction:g}, {self.method})")


def _window_core(s: np.ndarray, h_fit: np.ndarray, fraction: float) -> tuple[float, float, float] | None:
    total = float(h_fit[-1] - h_fit[0])
    if not total > 0:
        return None
    a, b = shortest_window(np.log(s), (h_fit - h_fit[0]) / total, fraction)
    return a, b, total


def semantic_window(
    sigma: object,
    H: object = None,
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
        sigma: (n,) noise levels > 0 (any order; sorted here). H: (n,) H[Z_P | X_σ] in nats. Or ``sigma`` alone: a
            curve object (sigma/value/stderr attributes, e.g. a bridge ``Measurement``; its stderr is used unless
            ``stderr`` is given).
        fraction: f ∈ (0, 1), the share of Ĥ(σ_max) − Ĥ(σ_min) the window must hold (Ĥ: isotonic fit).
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
    if H is None:
        sigma, H, own_se = as_curve(sigma)
        stderr = own_se if stderr is None else stderr
    frac = check_fraction("fraction", fraction)
    s, h, se = check_curve(sigma, H, stderr)
    n_boot = check_count("n_boot", n_boot, 0)
    rng = bootstrap_rng(seed)
    lo_b, hi_b = check_bounds(bounds)
    w = fit_weights(se, s.size)
    fit = np.clip(isotonic_fit(h, w), lo_b, hi_b)
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
            c = _window_core(s, np.clip(isotonic_fit(h + se * xi, w), lo_b, hi_b), frac)
            if c is not None:
                los.append(c[0])
                his.append(c[1])
        if len(los) >= 2:
            lo_arr, hi_arr = np.asarray(los), np.asarray(his)
            kw = dict(
                log_lo_se=float(np.std(lo_arr, ddof=1)), log_hi_se=float(np.std(hi_arr, ddof=1)),
                log_width_se=float(np.std(hi_arr - lo_arr, ddof=1)),
                sigma_lo_ci=tuple(float(v) for v in np.exp(np.percentile(lo_arr, [2.5, 97.5]))),
                sigma_hi_ci=tuple(float(v) for v in np.exp(np.percentile(hi_arr, [2.5, 97.5]))),
                n_boot=len(los), method="bootstrap",
            )
    return Window(sigma_lo=float(math.exp(a)), sigma_hi=float(math.exp(b)), log_width=float(b - a), fraction=frac,
                  held=held, total=total, sigma_range=(float(s[0]), float(s[-1])), **kw)
