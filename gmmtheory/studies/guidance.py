"""The guidance study: guided cross-entropy profiles on fixed mixtures against the unguided theory, ODE vs SDE
overshoot, and the experiments of the report's guidance section at one of the sizes "smoke" | "quick" | "full".

- ``guidance_study``: w ∈ {1, 1.5, 2, 3, 5} × intervals (full CFG; EDM2's (0.28, 2.9) at σ_data = 0.5, i.e.
  (0.56, 5.8) for unit-scale data; the unguided semantic window (FWHM of dH/dt) and the ranges before and after it)
  on two Gaussians, K classes and a two-level hierarchy (guided on classes and on superclasses). Per row: the
  window shift (guided − unguided landmarks in OU time t = ½ log(1 + σ²): > 0 means the decision happens earlier
  in generation, at higher noise), the sharpening (FWHM ratio), the share of semantic information produced inside
  the interval (guided and unguided), and the diversity cost (within-class variance ratio along the semantic
  subspace, class-frequency KL).
- ``overshoot_study``: ODE (Heun) vs SDE (Euler–Maruyama), reverse OU, guided two Gaussians: final projection on the
  class direction beyond the class mean, against d.
- ``guidance_experiments(size)``: everything the report section shows (the study, its deterministic-sampler twin,
  the overshoot study and Biroli et al.'s clone / U-turn experiment), sized by ``GUIDANCE_SIZES[size]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gmmtheory._checks import check_nonnegative
from gmmtheory._sizes import Size, check_size
from gmmtheory.dynamics import make_grid, simulate, speciation_experiment, within_class_variance
from gmmtheory.dynamics import overshoot as overshoot_of
from gmmtheory.entropy.api import class_entropy
from gmmtheory.guidance import EDM2_INTERVAL, guided_profile, information_inside, ou_time_to_sigma
from gmmtheory.landmarks import entropy_landmarks
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.presets import build_preset
from gmmtheory.processes import OU
from gmmtheory.progress import progress

WS = (1.0, 1.5, 2.0, 3.0, 5.0)
INTERVALS = ("all", "edm2", "window", "before", "after")

# The report's sizes: "full" is the default report (~75 s on 2 cores), "quick" is `gmmtheory report --quick`,
# "smoke" the smallest run through every code path (tests).
GUIDANCE_SIZES: dict[str, dict] = {
    "smoke": {"d": 64, "n_samples": 128, "n_steps": 40, "ws": (1.0, 3.0), "cases": ("two",),
              "intervals": ("all", "window"), "over_dims": (16, 64), "over_n": 64, "over_steps": 100,
              "clone_dims": (16,), "clone_n": 64, "clone_offsets": (0.0,)},
    "quick": {"d": 64, "n_samples": 256, "n_steps": 64, "ws": WS, "cases": ("two",), "intervals": ("all", "window"),
              "over_dims": (64, 256), "over_n": 64, "over_steps": 200, "clone_dims": (256,), "clone_n": 64,
              "clone_offsets": (0.0,)},
    "full": {"d": 128, "n_samples": 512, "n_steps": 64, "ws": WS, "cases": ("two", "hier/super"),
             "intervals": ("all", "window", "edm2"), "over_dims": (64, 256, 1024), "over_n": 128, "over_steps": 300,
             "clone_dims": (256, 1024), "clone_n": 128, "clone_offsets": (-0.5, 0.0, 0.5)},
}
# A larger run than the report's (~15 min on 2 cores), not one of the sizes: guidance_experiments(config=LARGE).
LARGE = {"d": 256, "n_samples": 2048, "n_steps": 64, "ws": WS,
         "cases": ("two", "kclasses", "hier/classes", "hier/super"), "intervals": INTERVALS,
         "over_dims": (64, 256, 1024, 4096, 16384), "over_n": 256, "over_steps": 1000,
         "clone_dims": (256, 1024, 4096, 16384), "clone_n": 256, "clone_offsets": (-0.5, 0.0, 0.5)}


def default_mixtures(d: int = 256) -> dict[str, tuple[GaussianMixture, Partition | None]]:
    """Study cases: name → (mixture, guidance partition or None), from ``presets.PRESETS``: "two" (two Gaussians,
    μ̃ = 0.5), "kclasses" (4 orthogonal classes, μ̃ = 0.5), "hier/classes" and "hier/super" (the 2 × 2 hierarchy
    with μ̃ = 0.5 between superclasses and 0.2 between subclasses, guided on classes / on superclasses)."""
    h = build_preset("hierarchical", d=d, mu=0.5, mu_sub=0.2)
    return {
        "two": (build_preset("two", d=d, mu=0.5).mixture, None),
        "kclasses": (build_preset("kclasses", K=4, d=d, mu=0.5).mixture, None),
        "hier/classes": (h.mixture, None),
        "hier/super": (h.mixture, h.partitions["coarse"]),
    }


@dataclass(frozen=True, repr=False)
class GuidanceStudy:
    """Rows of the study (dicts), the unguided theory per case, and the profiles (for figures), keyed by
    (case, interval, w)."""

    rows: list[dict]
    theory: dict
    profiles: dict = field(default_factory=dict)

    def select(self, **match) -> list[dict]:
        """The rows whose columns equal ``match`` (e.g. ``select(interval="all", w=2.0)``)."""
        return [r for r in self.rows if all(r[k] == v for k, v in match.items())]

    def to_markdown(self, columns: tuple[str, ...] | None = None, digits: int = 3) -> str:
        """The rows as a Markdown table (floats to ``digits`` significant digits)."""
        cols = list(columns or self.rows[0].keys())
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in self.rows:
            cells = [f"{r[c]:.{digits}g}" if isinstance(r[c], float) else str(r[c]) for c in cols]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """rows and theory (the profiles as their ``as_dict()`` under "case/interval/w" keys)."""
        return {"rows": self.rows, "theory": self.theory,
                "profiles": {f"{c}/{iv}/{w:g}": p.as_dict() for (c, iv, w), p in self.profiles.items()}}

    def __repr__(self) -> str:
        return f"GuidanceStudy({len(self.rows)} rows, cases={list(self.theory)})"


def _theory(mixture: GaussianMixture, part: Partition | None, sigma: np.ndarray, key) -> dict:
    lm = entropy_landmarks(mixture, OU(), partition=part, key=key)
    t = 0.5 * np.log1p(np.asarray(sigma) ** 2)
    H = class_entropy(mixture, OU(), t, partition=part, key=key)
    return {"half_t": lm.half_t, "peak_t": lm.peak_t, "fwhm_t": lm.fwhm_t, "window_t": lm.window_t,
            "fwhm_lo": lm.fwhm_t_lo,
            "fwhm_hi": lm.fwhm_t_hi, "H": np.asarray(H.value), "H_stderr": np.asarray(H.stderr), "method": lm.method}


def study_intervals(theory: dict) -> dict[str, tuple[float, float] | None]:
    """Guidance intervals per case: full CFG, EDM2's, the unguided window (FWHM of dH/dt) and before / after it
    (the last three only when the window's ends are finite)."""
    lo, hi = ou_time_to_sigma(theory["fwhm_lo"]), ou_time_to_sigma(theory["fwhm_hi"])
    out = {"all": None, "edm2": EDM2_INTERVAL}
    if np.isfinite(lo) and np.isfinite(hi):  # the window must lie inside the theory's range
        out.update(window=(lo, hi), before=(hi, math.inf), after=(0.0, lo))
    return out


def guidance_study(
    cases: dict | None = None,
    *,
    ws: tuple[float, ...] = WS,
    intervals: tuple[str, ...] = INTERVALS,
    sampler: str = "edm",
    n_steps: int = 64,
    n_samples: int = 2048,
    d: int = 256,
    key: object = 0,
    **sampler_kwargs,
) -> GuidanceStudy:
    """Guided profiles for every case × interval × w (labels drawn from the prior), against the unguided theory.

    ``cases``: name → (mixture, partition or None) (default ``default_mixtures(d)``); ``n_samples`` trajectories of
    ``n_steps`` sampler steps per run; ``key``: an int seed or a PRNG key. Columns: case, interval, sigma_lo,
    sigma_hi, w; landmarks (OU time) half_t, peak_t, fwhm_t and the theory's; shift_half, shift_peak
    (guided − theory), fwhm_ratio; info_inside (share of the CE drop inside the interval) and info_inside_theory
    (the same share for the unguided H); error_rate, var_ratio, freq_kl, commit_t, overshoot; bias_max (w = 1 rows:
    max |CE − H| over the grid, the simulation's deviation from theory) and bias_z (the same in stderr)."""
    cases = default_mixtures(d) if cases is None else cases
    for w in ws:
        check_nonnegative("w", w)
    rows, theory, profiles = [], {}, {}
    sig_grid = make_grid(sampler, n_steps, **{k: v for k, v in sampler_kwargs.items()
                                              if k in ("process", "T", "t_end", "sigma_min", "sigma_max", "rho")}
                         ).sigma
    jobs = [(name, iv, w) for name in cases for iv in intervals for w in ws if not (w == 1.0 and iv != "all")]
    for name, (mix, part) in cases.items():
        theory[name] = _theory(mix, part, sig_grid, key)
    for name, iv_name, w in progress(jobs, "guidance study"):
        mix, part = cases[name]
        th = theory[name]
        ivs = study_intervals(th)
        if iv_name not in ivs:  # e.g. a window that does not fit on the grid: no such rows
            continue
        iv = ivs[iv_name]
        prof = guided_profile(mix, w=w, interval=iv, label="prior", partition=part, sampler=sampler,
                              n_steps=n_steps, n_samples=n_samples, key=key, **sampler_kwargs)
        profiles[(name, iv_name, w)] = prof
        lm = prof.landmarks
        iv_eff = iv or (0.0, math.inf)
        inside = information_inside(prof.sigma, prof.value, iv_eff)["fraction_inside"]
        inside_th = information_inside(prof.sigma, th["H"], iv_eff)["fraction_inside"]
        dev = prof.value - th["H"]
        se = np.sqrt(prof.stderr**2 + th["H_stderr"] ** 2)
        bias_max = float(np.nanmax(np.abs(dev))) if w == 1.0 else float("nan")
        # z only where the profile carries Monte Carlo error (at the very start every sample has CE = H = log K)
        bias_z = float(np.nanmax(np.abs(dev) / np.maximum(se, 1e-3))) if w == 1.0 else float("nan")
        rows.append({
            "case": name, "interval": iv_name, "sigma_lo": float(iv_eff[0]), "sigma_hi": float(iv_eff[1]),
            "w": float(w), "half_t": lm["half_t"], "half_t_theory": float(th["half_t"]),
            "shift_half": lm["half_t"] - float(th["half_t"]), "peak_t": lm["peak_t"],
            "peak_t_theory": float(th["peak_t"]), "shift_peak": lm["peak_t"] - float(th["peak_t"]),
            "fwhm_t": lm["fwhm_t"], "fwhm_t_theory": float(th["fwhm_t"]),
            "fwhm_ratio": lm["fwhm_t"] / float(th["fwhm_t"]), "window_t": lm["window_t"],
            "window_t_theory": float(th["window_t"]), "window_ratio": lm["window_t"] / float(th["window_t"]),
            "info_inside": inside, "info_inside_theory": inside_th,
            "error_rate": prof.error_rate, "var_ratio": prof.var_ratio, "freq_kl": prof.freq_kl,
            "commit_t": prof.commit_t, "overshoot": prof.overshoot, "bias_max": bias_max, "bias_z": bias_z,
        })
    return GuidanceStudy(rows, theory, profiles)


def overshoot_study(
    dims: tuple[int, ...] = (64, 256, 1024, 4096),
    *,
    w: float = 3.0,
    mu: float = 1.0,
    n_samples: int = 512,
    n_steps: int = 1000,
    ode_steps: int = 200,
    T: float = 10.0,
    key: object = 0,
) -> list[dict]:
    """Guided two Gaussians (|m|² = d μ̃², unit variance, target class 0, CFG scale w everywhere), reverse OU:
    probability-flow ODE (Heun, ``ode_steps``) vs SDE (Euler–Maruyama, ``n_steps``) from T, ``n_samples``
    trajectories each. Rows: d, sampler, overshoot (mean final ⟨x − μ_z, u_z⟩ in within-class sd) and its stderr,
    error rate, var_ratio."""
    rows = []
    for d in progress(list(dims), "overshoot vs d"):
        mix = build_preset("two", d=int(d), mu=mu).mixture
        for sampler in ("ode", "sde"):
            steps = ode_steps if sampler == "ode" else n_steps
            tr = simulate(mix, sampler=sampler, n_samples=n_samples, n_steps=steps, T=T, key=key, label=0,
                          guidance="cfg", w=w, record=False)
            ov = overshoot_of(tr, mix)
            p = np.exp(tr.final_log_post[:, 0])
            rows.append({"d": int(d), "sampler": sampler, "w": float(w), "overshoot": ov["mean"],
                         "overshoot_se": ov["stderr"], "error_rate": float(np.mean(1 - p)),
                         "var_ratio": within_class_variance(tr, mix)["signal_ratio"]})
    return rows


@dataclass(frozen=True, repr=False)
class GuidanceExperiments:
    """What the report's guidance section shows: ``study`` (EDM stochastic sampler), ``deterministic`` (the same
    with S_churn = 0, full CFG only), ``overshoot`` (``overshoot_study`` rows), ``speciation``
    (``dynamics.speciation_experiment`` rows) and the ``config`` they were run with."""

    config: dict
    study: GuidanceStudy
    deterministic: GuidanceStudy
    overshoot: list[dict]
    speciation: list[dict]

    def __repr__(self) -> str:
        return (f"GuidanceExperiments(d={self.config['d']}, n_samples={self.config['n_samples']}, "
                f"{len(self.study.rows)} + {len(self.deterministic.rows)} study rows)")


def guidance_experiments(size: Size = "full", *, config: dict | None = None) -> GuidanceExperiments:
    """Run the report section's experiments at ``size`` ("smoke" | "quick" | "full", ``GUIDANCE_SIZES``), or with an
    explicit ``config`` (the keys of a ``GUIDANCE_SIZES`` entry, e.g. ``LARGE``)."""
    cfg = GUIDANCE_SIZES[check_size(size)] if config is None else config
    d, n, ws = cfg["d"], cfg["n_samples"], cfg["ws"]
    cases = default_mixtures(d)
    cases = {k: cases[k] for k in cfg["cases"]}
    study = guidance_study(cases, ws=ws, n_samples=n, n_steps=cfg["n_steps"], intervals=cfg["intervals"])
    over = overshoot_study(cfg["over_dims"], n_samples=cfg["over_n"], n_steps=cfg["over_steps"])
    det = guidance_study(cases, ws=ws, n_samples=n, n_steps=cfg["n_steps"], intervals=("all",), S_churn=0.0)
    spec = speciation_experiment(cfg["clone_dims"], n_samples=cfg["clone_n"], offsets=cfg["clone_offsets"],
                                 n_steps=1000)
    return GuidanceExperiments(cfg, study, det, over, spec)
