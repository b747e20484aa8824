"""Fidelity–diversity fronts of guided sampling with exact scores: the configurations compared, the Pareto marking
and the study ``fidelity_diversity_front``.

Configurations, each at every guidance scale w: no guidance (w = 1), CFG at every σ, the recommended interval (the
semantic window of the guided level), that interval shifted by ± its log-width, EDM2's interval and a grid of
intervals between log-spaced edges. The Pareto front minimises (error, div_loss) (``control.metrics``): row i is on
it when no row j has e_j ≤ e_i and v_j ≤ v_i with one strict; ``err_gap`` = e_i − min{e_j : v_j ≤ v_i} and
``div_gap`` = v_i − min{v_j : e_j ≤ e_i} (0 on the front); CFG's div_loss interpolated at row i's error along the
CFG curve (w = 1 → max).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gmmtheory._checks import check_count
from gmmtheory.control.metrics import covariance_traces, label_moments, paired_difference, sample_metrics
from gmmtheory.control.theory import theory_window
from gmmtheory.control.windows import Window
from gmmtheory.dynamics import check_interval, semantic_basis, simulate
from gmmtheory.guidance import EDM2_INTERVAL
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.posterior import group_log_priors

__all__ = [
    "EDM2_INTERVAL",
    "Front",
    "balanced_labels",
    "check_guidance_scales",
    "fidelity_diversity_front",
    "front_configs",
    "interval_grid",
    "mark_front",
]



def check_guidance_scales(w: object) -> tuple[float, ...]:
    """One guidance scale or a sequence of them, each finite and ≥ 0, as a tuple of floats."""
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


def balanced_labels(weights: np.ndarray, n: int) -> np.ndarray:
    """Labels spread deterministically over the prior: z_i = F⁻¹((i + ½)/n) (no label-sampling noise)."""
    cum = np.cumsum(weights) / np.sum(weights)
    return np.minimum(np.searchsorted(cum, (np.arange(n) + 0.5) / n), weights.size - 1).astype(np.int32)


def interval_grid(sigma_range: tuple[float, float], n_edges: int = 5) -> list[tuple[float, float]]:
    """Every interval (e_a, e_b), a < b, between the edges {0, n_edges log-spaced values in sigma_range, ∞},
    except (0, ∞) (that is CFG everywhere)."""
    lo, hi = sigma_range
    if not (0 < lo < hi < math.inf):
        raise ValueError(f"sigma_range must satisfy 0 < lo < hi < inf; got {sigma_range!r}")
    n_edges = check_count("n_edges", n_edges, 1)
    edges = [0.0, *np.geomspace(lo, hi, n_edges).tolist(), math.inf]
    return [(edges[a], edges[b]) for a in range(len(edges)) for b in range(a + 1, len(edges))
            if not (a == 0 and b == len(edges) - 1)]


@dataclass
class Front:
    """A fidelity–diversity study: rows (dicts, one per configuration), the window and the recommended interval.

    Row keys: name, kind ("none", "cfg", "recommended", "shifted", "edm2", "grid"), w, sigma_lo, sigma_hi, the
    ``sample_metrics`` (accuracy, confidence, error, var_ratio, div_loss, freq_kl, moment_kl, with *_se) and
    on_front (Pareto-optimal in (error, div_loss)), dominated_by (names), err_gap, div_gap (module docstring),
    cfg_div_at_error and cfg_mkl_at_error (CFG's div_loss and moment_kl interpolated at this row's error, along the
    CFG curve from w = 1), on_front_mkl / dominated_by_mkl (the same for the second front, error against
    moment_kl; None when moment_kl is not available). ``samples``: name → (confidence (n,), y (n, r)) per
    configuration, for paired comparisons (all runs share initial states and labels).
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

    def as_dict(self) -> dict:
        """JSON-ready: case, level, the window, the rows and the settings (no per-sample arrays)."""
        return {"case": self.case, "level": self.level, "window": self.window.as_dict(), "rows": self.rows,
                "settings": self.settings}

    def __repr__(self) -> str:
        lo, hi = self.recommended
        return (f"Front({self.case or 'mixture'!s}: {len(self.rows)} configurations, window ({lo:.3g}, {hi:.3g}), "
                f"level {self.level}, {len(self.pareto())} on the front)")


def mark_front(rows: list[dict]) -> None:
    """Add to every row (in place) on_front / dominated_by / err_gap / div_gap, the (error, moment_kl) front
    (on_front_mkl / dominated_by_mkl; None and [] without moment_kl) and CFG's div_loss and moment_kl at its
    error (``cfg_div_at_error``, ``cfg_mkl_at_error``; nan outside the CFG curve's error range)."""
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
    ws = check_guidance_scales(w)
    part = None if partition is None else check_partition(partition, mixture.K)
    n = check_count("n_samples", n_samples, 8)
    n_boot = check_count("n_boot", n_boot, 0)
    level = "classes" if part is None else "partition"
    if window is None:
        win = theory_window(mixture, partition=part, fraction=fraction, per_class=False, key=key)[level]
    elif isinstance(window, Window):
        win = window
    else:
        lo, hi = check_interval(window)
        if not (lo > 0 and math.isfinite(hi)):
            raise ValueError(f"window must be a finite interval with sigma_lo > 0; got {window!r}")
        win = Window(lo, hi, math.log(hi / lo), float(fraction), float("nan"), float("nan"))
    lo, hi = win.sigma_lo, win.sigma_hi
    width = math.log(hi / lo)
    if intervals is None:
        intervals = interval_grid((lo * math.exp(-width), hi * math.exp(width)), n_edges)
    grid = [check_interval(iv) for iv in intervals]

    gw = check_partition(part, mixture.K).group_weights(mixture.weights)
    labels = balanced_labels(gw, n)
    Q = semantic_basis(mixture)
    ref_m, ref_c = label_moments(mixture, part, Q)
    prior_in = np.exp(group_log_priors(mixture, part))
    prior_in /= prior_in.sum(axis=1, keepdims=True)
    fine_target = prior_in[labels]
    mem = check_partition(part, mixture.K).membership()

    configs = front_configs(ws, (lo, hi), grid)
    rows, samples = [], {}
    for name, kind, wv, iv in configs:
        guidance = "none" if kind == "none" else ("cfg" if kind == "cfg" else "interval")
        tr = simulate(mixture, sampler="edm", n_samples=n, n_steps=n_steps, key=key, label=labels,
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
    mark_front(rows)
    settings = {"n_samples": n, "n_steps": n_steps, "S_churn": float(S_churn), "ws": list(ws),
                "fraction": float(fraction), "n_intervals": len(grid), "n_boot": n_boot}
    return Front(case, rows, win, level, labels, covariance_traces(ref_c), samples, settings)
