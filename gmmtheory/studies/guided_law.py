"""The paper's two open problems answered exactly for two Gaussians, three classes and the hierarchy
(docs/open_problems.md, docs/guided_law.md), at the sizes "smoke" | "quick" | "full".

(a) ``redistribution_study``: how CFG redistributes the cross-entropy CE(σ) = E_{q_w}[−log p_t(z | x_t)] as a
    function of w, d and the guidance interval — shift of the half-entropy time (OU time t = ½ log(1 + σ²) and
    log σ), ratio of the 10–90 % windows, ratio of the peak rates dCE/dt, and the share of the CE drop produced
    inside the interval (guided − unguided = how much production moves in), from the exact guided probability-flow
    law (``guided_law.universal.universal_flow``). ``first_order_shift``: the small-(w − 1) law Δt ≈ c (w − 1).
    ``multiclass_study``: the same measures for three classes and the hierarchy preset (``guided_law.multiclass``).
(b) ``grid_study``: the share of each practitioner's grid (``sampler_grids``) inside the unguided semantic window
    (FWHM of dH/dt and the 10–90 % window) and the exact cost of a few steps: the error of the final class frequency
    and the largest error of the CE profile on the grid, against the continuous-time law.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss
from scipy.optimize import brentq

from gmmtheory._checks import check_positive
from gmmtheory._sizes import Size, check_size
from gmmtheory.guidance import EDM2_INTERVAL, information_inside, ou_time_to_sigma, profile_landmarks
from gmmtheory.guided_law.multiclass import STUDY_PRESETS, multiclass_redistribution
from gmmtheory.guided_law.universal import q_of_sigma, sampler_flow, sigma_of_q, universal_flow
from gmmtheory.sampler_grids import GRID_FAMILIES, grid_catalogue, make_sampler_grid, window_fractions

__all__ = ["GUIDED_LAW_SIZES", "GuidedLawStudy", "first_order_shift", "grid_study", "guided_law_experiments",
           "multiclass_study", "redistribution_study", "unguided_windows"]

LOG2 = math.log(2.0)
INTERVALS = ("all", "edm2", "window", "before", "after")
_MC_SMOKE = {"presets": ("hierarchical",), "ws": (1.0, 3.0), "ds": (1_000_000,), "intervals": ("all",),
             "n_nodes": 8, "n_eval": 25, "rtol": 1e-6}
_MC_QUICK = {"presets": ("hierarchical",), "ws": (1.0, 3.0), "ds": (1_000_000,), "intervals": ("all", "window"),
             "n_nodes": 12, "n_eval": 41, "rtol": 1e-6}
_MC_FULL = {"presets": ("kclasses", "hierarchical"), "ws": (1.0, 1.5, 2.0, 3.0, 5.0, 10.0), "ds": (1_000_000,),
            "intervals": ("all", "window"), "n_nodes": 24, "n_eval": 121, "rtol": 1e-7}
GUIDED_LAW_SIZES: dict[str, dict] = {
    "smoke": {"ws": (1.0, 2.0), "ds": (10, 10_000), "intervals": ("all", "window"), "n_nodes": 32, "n_eval": 241,
              "families": ("edm", "ddim"), "steps": (4, 8), "grid_ds": (100,), "grid_ws": (1.0, 3.0),
              "multiclass": _MC_SMOKE},
    "quick": {"ws": (1.0, 1.5, 2.0, 3.0, 5.0, 10.0), "ds": (10, 100, 10_000, 1_000_000), "intervals": INTERVALS,
              "n_nodes": 96, "n_eval": 401, "families": GRID_FAMILIES, "steps": (4, 8, 16, 32),
              "grid_ds": (100, 1_000_000), "grid_ws": (1.0, 3.0), "multiclass": _MC_QUICK},
    "full": {"ws": (1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0), "ds": (10, 100, 1_000, 10_000, 100_000, 1_000_000),
             "intervals": INTERVALS, "n_nodes": 96, "n_eval": 401, "families": GRID_FAMILIES, "steps": (4, 8, 16, 32),
             "grid_ds": (10, 100, 10_000, 1_000_000), "grid_ws": (1.0, 3.0), "multiclass": _MC_FULL},
}


def _table(rows: list[dict], digits: int = 3) -> str:
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[c]:.{digits}g}" if isinstance(r[c], float) else str(r[c])
                                        for c in cols) + " |")
    return "\n".join(lines)


# ============================================================================================= (a) redistribution
def _q_grid(q_max: float, n: int, extra=()) -> np.ndarray:
    return np.unique(np.concatenate([np.geomspace(1e-4, q_max, n), [q for q in extra if 1e-4 < q <= q_max]]))


def unguided_windows(m: float, *, n_eval: int = 501, n_nodes: int = 96) -> dict:
    """Landmarks of the unguided H (two Gaussians of half-gap m) in OU time and the σ windows: "fwhm" (FWHM of
    dH/dt) and "w1090" (between the 10 % and 90 % levels of H), each (σ_lo, σ_hi). ``n_nodes`` Gauss–Hermite nodes
    (96: H to ~1e-7)."""
    q = _q_grid(m * m, n_eval)
    f = universal_flow(1.0, q, n_nodes=n_nodes)
    lm = profile_landmarks(sigma_of_q(q, m), f.ce, np.zeros_like(f.ce), LOG2)
    return {"landmarks": lm,
            "fwhm": (ou_time_to_sigma(lm["fwhm_lo"]), ou_time_to_sigma(lm["fwhm_hi"])),
            "w1090": (ou_time_to_sigma(lm["h10_t"]), ou_time_to_sigma(lm["h90_t"]))}


def _q_interval(name: str, m: float, fwhm_q: tuple[float, float]) -> tuple[float, float]:
    """A guidance interval as a q-interval (q = m²/(1 + σ²) decreases with σ)."""
    if name == "all":
        return (0.0, math.inf)
    if name == "edm2":
        lo, hi = EDM2_INTERVAL
        return (float(q_of_sigma(hi, m)), float(q_of_sigma(lo, m)))
    q_lo, q_hi = fwhm_q  # the unguided FWHM window in q (universal)
    return {"window": (q_lo, q_hi), "before": (0.0, q_lo), "after": (q_hi, math.inf)}[name]


def _measures(q: np.ndarray, ce: np.ndarray, m: float, q_int: tuple[float, float]) -> dict:
    keep = q <= m * m * (1 + 1e-12)
    q, ce = q[keep], ce[keep]
    sig = sigma_of_q(q, m)
    lm = profile_landmarks(sig, ce, np.zeros_like(ce), LOG2)
    order = np.argsort(-sig)  # generation order: σ decreasing
    iv = (float(sigma_of_q(q_int[1], m)) if math.isfinite(q_int[1]) else 0.0,
          float(sigma_of_q(q_int[0], m)) if q_int[0] > 0 else math.inf)
    inside = information_inside(sig[order], ce[order], iv)["fraction_inside"]
    pos = sig > 0
    rate_ls = np.gradient(ce[pos], np.log(sig[pos]))  # dCE/dlog σ (> 0: CE grows with σ)
    return {"lm": lm, "inside": inside, "sigma_interval": iv, "peak_logsigma": float(np.max(rate_ls))}


def _logsig(t: float) -> float:
    s = ou_time_to_sigma(t)
    return math.log(s) if s > 0 else float("nan")


def redistribution_study(ws=(1.0, 2.0, 3.0), ds=(10, 1_000, 1_000_000), intervals=("all", "window"), *,
                         mu: float = 0.5, n_nodes: int = 64, n_eval: int = 501) -> list[dict]:
    """Rows per (interval, d, w) for two Gaussians (preset "two", μ̃ = ``mu``, m = √d μ̃): the exact guided CE
    against the unguided H. Columns: d, interval, sigma_lo, sigma_hi, w, half_t, shift_t (Δ of the half-entropy OU
    time, > 0 = decided earlier, at higher noise), shift_logsigma (the same in log σ), window_ratio_t /
    window_ratio_logsigma (10–90 % windows, guided / unguided), peak_ratio_t / peak_ratio_logsigma (max dCE/dt and
    max dCE/dlog σ, guided / unguided), info_inside (share of the CE drop produced inside the interval),
    info_moved (guided − unguided share), final_freq (target-class frequency at σ = 0)."""
    mu = check_positive("mu", mu)
    for w in ws:
        if not (np.isfinite(w) and w >= 1.0):
            raise ValueError(f"ws must be guidance scales ≥ 1; got {w!r}")
    for iv in intervals:
        if iv not in INTERVALS:
            raise ValueError(f"intervals must be among {INTERVALS}; got {iv!r}")
    ds = [int(d) for d in ds]
    if any(d < 1 for d in ds):
        raise ValueError(f"ds must be dimensions ≥ 1; got {ds!r}")
    ms = {d: math.sqrt(d) * mu for d in ds}
    m_big = max(ms.values())
    win = unguided_windows(m_big, n_eval=n_eval)
    lm0 = win["landmarks"]
    fwhm_q = (m_big**2 * math.exp(-2 * lm0["fwhm_hi"]), m_big**2 * math.exp(-2 * lm0["fwhm_lo"]))
    q = _q_grid(m_big**2, n_eval, [m * m for m in ms.values()])
    cache: dict = {}

    def flow(w, q_int):
        k = (w, q_int)
        if k not in cache:
            cache[k] = universal_flow(w, q, q_interval=q_int, n_nodes=n_nodes).ce
        return cache[k]

    base = flow(1.0, (0.0, math.inf))
    rows = []
    for iv in intervals:
        for d in ds:
            m = ms[d]
            q_int = _q_interval(iv, m, fwhm_q)
            b = _measures(q, base, m, q_int)
            for w in ws:
                g = _measures(q, flow(w, q_int) if w != 1.0 else base, m, q_int)
                L, L0 = g["lm"], b["lm"]
                rows.append({
                    "d": d, "interval": iv, "sigma_lo": g["sigma_interval"][0], "sigma_hi": g["sigma_interval"][1],
                    "w": float(w), "half_t": L["half_t"], "shift_t": L["half_t"] - L0["half_t"],
                    "shift_logsigma": _logsig(L["half_t"]) - _logsig(L0["half_t"]),
                    "window_ratio_t": L["window_t"] / L0["window_t"],
                    "window_ratio_logsigma": (_logsig(L["h90_t"]) - _logsig(L["h10_t"]))
                    / (_logsig(L0["h90_t"]) - _logsig(L0["h10_t"])),
                    "peak_ratio_t": L["peak_rate"] / L0["peak_rate"],
                    "peak_ratio_logsigma": g["peak_logsigma"] / b["peak_logsigma"],
                    "info_inside": g["inside"], "info_moved": g["inside"] - b["inside"],
                })
    return rows


def first_order_shift(q_interval: tuple[float, float] = (0.0, math.inf), *, n: int = 96) -> dict:
    """The small-(w − 1) law of the half-entropy shift, Δt = c (w − 1) + O((w − 1)²), exact for every d (in OU
    time) when the interval is fixed in q: with v = q + √q ξ (the w = 1 law) and the tangent η = ∂v/∂w|_{w=1},

        η(q) = q ∫₀¹ 1_I(q u²) (1 − tanh(q u² + u √q ξ)) du,   ∂_w CE = −2 E[σ(−2v) η],
        ∂_q H = −2 E[σ(−2v) (1 + ξ/(2√q))],                     c = ∂_w CE / (2 q_h ∂_q H),

    at q_h with H(q_h) = ½ log 2 (σ the logistic function). Returns {"q_half", "c", "dce_dw", "dh_dq"}."""
    xi, wt = hermegauss(n)
    wt = wt / math.sqrt(2 * math.pi)
    u, wu = leggauss(n)
    u, wu = 0.5 * (u + 1), 0.5 * wu

    def H(qq):
        return float(wt @ np.logaddexp(0.0, -2 * (qq + math.sqrt(qq) * xi)))

    qh = brentq(lambda qq: H(qq) - 0.5 * LOG2, 1e-3, 50.0, xtol=1e-14)
    v = qh + math.sqrt(qh) * xi
    sg = 0.5 * (1 - np.tanh(v))  # σ(−2v)
    p = qh * u[:, None] ** 2
    ind = (p > q_interval[0]) & (p < q_interval[1])
    eta = qh * np.sum(wu[:, None] * ind * (1 - np.tanh(p + u[:, None] * math.sqrt(qh) * xi[None, :])), axis=0)
    dce = float(-2 * wt @ (sg * eta))
    dhq = float(-2 * wt @ (sg * (1 + xi / (2 * math.sqrt(qh)))))
    return {"q_half": qh, "c": dce / (2 * qh * dhq), "dce_dw": dce, "dh_dq": dhq}


# ================================================================================================ (b) the grids
def _fractions(g, window: tuple[float, float]) -> dict:
    """``window_fractions`` of a σ window whose low end may be off the range (nan: the window reaches σ = 0)."""
    lo, hi = window
    if not math.isfinite(hi):
        return {"step_fraction": float("nan"), "eval_fraction": float("nan")}
    return window_fractions(g, (lo if math.isfinite(lo) else 0.0, hi))


def grid_study(ds=(100,), families=("edm", "ddim"), steps=(4, 8), ws=(1.0, 3.0), *, mu: float = 0.5,
               n_nodes: int = 64) -> dict:
    """(b): "catalogue" rows (every ``grid_catalogue`` grid × d: the share of steps / evaluations inside the
    unguided FWHM and 10–90 % windows) and "cost" rows (family × n_steps × d × w, full CFG: ``freq_error`` = final
    target-class frequency of the exact sampler law − continuous-time law, ``ce_error`` = max |CE_grid − CE| on the
    grid's σ points), and the windows per d."""
    mu = check_positive("mu", mu)
    cat = grid_catalogue()
    cat_rows, cost_rows, windows = [], [], {}
    for d in ds:
        m = math.sqrt(int(d)) * mu
        win = unguided_windows(m)
        windows[int(d)] = {"fwhm": win["fwhm"], "w1090": win["w1090"]}
        for name, g in cat.items():
            fw, wn = (_fractions(g, win[k]) for k in ("fwhm", "w1090"))
            cat_rows.append({"d": int(d), "grid": name, "solver": g.solver, "steps": g.n_steps, "evals": g.n_evals,
                             "fwhm_steps": fw["step_fraction"], "fwhm_evals": fw["eval_fraction"],
                             "w1090_steps": wn["step_fraction"], "w1090_evals": wn["eval_fraction"]})
        for w in ws:
            for fam in families:
                for n in steps:
                    g = make_sampler_grid(fam, n)
                    sig, ce, freq = sampler_flow(m, g.sigma, w, solver=g.solver, n_nodes=n_nodes)
                    qs = q_of_sigma(sig, m)
                    ex = universal_flow(w, np.unique(qs), n_nodes=n_nodes)
                    ce_ex = np.interp(qs, ex.q, ex.ce)
                    cost_rows.append({"d": int(d), "w": float(w), "grid": fam, "steps": n, "evals": g.n_evals,
                                      "freq_exact": ex.final_frequency(), "freq_error": freq - ex.final_frequency(),
                                      "ce_error": float(np.max(np.abs(ce - ce_ex)))})
    return {"catalogue": cat_rows, "cost": cost_rows, "windows": windows}


# ================================================================================= (a) three classes, hierarchy
def multiclass_study(presets=("kclasses", "hierarchical"), ws=(1.0, 3.0), ds=(1_000_000,), intervals=("all",), *,
                     n_nodes: int | None = None, n_eval: int = 121, rtol: float = 1e-7) -> list[dict]:
    """(a) beyond two classes: ``guided_law.multiclass_redistribution`` rows (exact guided probability-flow law,
    label "prior", guidance towards the class; "window" = the unguided FWHM of that d) for each preset ("kclasses":
    three classes; "hierarchical": 2 × 2, profiled for the partitions classes / coarse / sub), concatenated."""
    for p in presets:
        if p not in STUDY_PRESETS:
            raise ValueError(f"presets must be among {tuple(STUDY_PRESETS)}; got {p!r}")
    rows = []
    for p in presets:
        rows += multiclass_redistribution(p, ws=ws, ds=ds, intervals=intervals, n_nodes=n_nodes, n_eval=n_eval,
                                          rtol=rtol)
    return rows


# ==================================================================================================== together
@dataclass(frozen=True, repr=False)
class GuidedLawStudy:
    """(a) ``redistribution`` rows (two Gaussians), the ``first_order`` law per interval kind, ``multiclass`` rows
    (``multiclass_study``: three classes, the hierarchy), (b) ``grids`` (``grid_study``), and the ``config``."""

    config: dict
    redistribution: list[dict]
    first_order: dict
    grids: dict = field(default_factory=dict)
    multiclass: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"config": self.config, "redistribution": self.redistribution, "first_order": self.first_order,
                "multiclass": self.multiclass, "grids": self.grids}

    def to_markdown(self) -> str:
        """The tables (redistribution, first-order law, three classes / hierarchy, grid catalogue, grid cost) as
        Markdown."""
        parts = ["### Entropy redistribution", _table(self.redistribution),
                 "### First-order law Δt ≈ c (w − 1)", _table([{"interval": k, **v} for k, v in
                                                              self.first_order.items()], 5)]
        if self.multiclass:
            parts += ["### Three classes and the hierarchy", _table(self.multiclass)]
        if self.grids:
            parts += ["### Grids inside the unguided window", _table(self.grids["catalogue"]),
                      "### Cost of few steps (exact)", _table(self.grids["cost"])]
        return "\n\n".join(parts)

    def __repr__(self) -> str:
        return f"GuidedLawStudy({len(self.redistribution)} rows, {len(self.grids.get('cost', []))} cost rows)"


def guided_law_experiments(size: Size = "full", *, config: dict | None = None) -> GuidedLawStudy:
    """Both studies at ``size`` (``GUIDED_LAW_SIZES``) or with an explicit ``config`` of the same keys (its
    "multiclass" entry: the ``multiclass_study`` arguments, or None to skip it)."""
    cfg = dict(GUIDED_LAW_SIZES[check_size(size)] if config is None else config)
    red = redistribution_study(cfg["ws"], cfg["ds"], cfg["intervals"], n_nodes=cfg["n_nodes"], n_eval=cfg["n_eval"])
    m = math.sqrt(max(cfg["ds"])) * 0.5
    lm = unguided_windows(m)["landmarks"]
    fwhm_q = (m * m * math.exp(-2 * lm["fwhm_hi"]), m * m * math.exp(-2 * lm["fwhm_lo"]))
    fo = {iv: first_order_shift(_q_interval(iv, m, fwhm_q)) for iv in ("all", "window", "before", "after")}
    grids = grid_study(cfg["grid_ds"], cfg["families"], cfg["steps"], cfg["grid_ws"], n_nodes=cfg["n_nodes"])
    mc = cfg.get("multiclass")
    multi = [] if not mc else multiclass_study(mc["presets"], mc["ws"], mc["ds"], mc["intervals"],
                                               n_nodes=mc["n_nodes"], n_eval=mc["n_eval"], rtol=mc["rtol"])
    return GuidedLawStudy(cfg, red, fo, grids, multi)
