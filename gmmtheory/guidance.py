"""How guidance redistributes semantic information over time (THEORY.md §7), with exact mixture scores.

A guided sampler no longer follows p_t, so the entropy along its trajectories is a cross-entropy
CE(σ) = E_{q_w}[−log p_t(z | x_t)] of the target z under the exact posterior. With labels drawn from the prior and
w = 1 (conditional sampling) CE(σ) = H[Z | X_t] exactly, so the unguided theory (``gt.class_entropy``,
``gt.entropy_landmarks``) is the reference the guided profiles are compared with.

- ``guided_profile``: CE(σ) with stderr on the sampler's grid, its rate dCE/dt (OU time at equal SNR), landmarks
  (half-entropy time, rate peak, FWHM), final class frequencies, error rate, diversity, commitment times, overshoot.
- ``guidance_study``: w ∈ {1, 1.5, 2, 3, 5} × intervals (full CFG; EDM2's (0.28, 2.9) at σ_data = 0.5, i.e.
  (0.56, 5.8) for unit-scale data; the unguided semantic window (FWHM of dH/dt) and the ranges before and after it) on
  two Gaussians, K classes and a two-level hierarchy (guided on classes and on superclasses). Per row: the window
  shift (guided − unguided landmarks, OU time: > 0 means the decision happens earlier in generation, at higher
  noise), the sharpening (FWHM ratio), the share of semantic information produced inside the interval (guided and
  unguided), and the diversity cost (within-class variance ratio along the semantic subspace, class-frequency KL).
- ``overshoot_study``: ODE (Heun) vs SDE (Euler–Maruyama), reverse OU, guided two Gaussians: final projection on the
  class direction beyond the class mean, against d.
- ``section_guidance(out, quick)``: the report section (figures + Markdown with computed numbers), including
  Biroli et al.'s clone / U-turn experiment (``dynamics.speciation_experiment``).
- ``add_parser(subparsers)``: the ``gmmtheory guidance`` subcommand.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gmmtheory import dynamics as dyn
from gmmtheory.entropy.api import class_entropy
from gmmtheory.landmarks import entropy_landmarks
from gmmtheory.markdown import markdown_table
from gmmtheory.mixture import GaussianMixture, Partition, check_partition, hierarchical, k_classes, two_gaussians
from gmmtheory.posterior import _group_log_priors
from gmmtheory.processes import OU
from gmmtheory.progress import progress

WS = (1.0, 1.5, 2.0, 3.0, 5.0)
EDM2_INTERVAL = (0.28 / 0.5, 2.9 / 0.5)
_SMOOTH = 0.1  # EDM2's guidance interval (σ_data = 0.5) in unit-data σ


def _sigma_of_t(t: float) -> float:
    return float(math.sqrt(math.expm1(2.0 * t))) if np.isfinite(t) else float("nan")


# ============================================================================================ profile landmarks
def smooth_profile(sigma: np.ndarray, value: np.ndarray, stderr: np.ndarray):
    """A cubic smoothing spline of a profile against OU time t = ½ log(1 + σ²) (σ > 0 points), weighted by
    1/stderr with smoothing s = 0.1 × number of points (the profile's errors are strongly correlated along the
    trajectories, so the χ² rule s = n over-smooths); interpolating when stderr = 0 (exact).
    Returns (spline, t_lo, t_hi)."""
    from scipy.interpolate import CubicSpline, UnivariateSpline

    sigma, value, stderr = (np.asarray(v, np.float64) for v in (sigma, value, stderr))
    ok = (sigma > 0) & np.isfinite(value)
    t = 0.5 * np.log1p(sigma[ok] ** 2)
    v, se = value[ok], stderr[ok]
    o = np.argsort(t)
    t, v, se = t[o], v[o], se[o]
    if np.all(se == 0):
        return CubicSpline(t, v), float(t[0]), float(t[-1])
    floor = max(0.25 * float(np.median(se[se > 0])) if np.any(se > 0) else 1e-6, 1e-9)
    spl = UnivariateSpline(t, v, w=1.0 / np.maximum(se, floor), k=3, s=_SMOOTH * t.size)
    return spl, float(t[0]), float(t[-1])


def profile_landmarks(sigma: np.ndarray, value: np.ndarray, stderr: np.ndarray, h_prior: float) -> dict:
    """Landmarks of a (cross-)entropy profile given on a σ grid, in OU time t = ½ log(1 + σ²), from its smoothing
    level crossings (linear interpolation of the profile itself; robust): ``half_t`` (½ h_prior; ``half_t_err`` =
    stderr/slope there), ``h10_t``, ``h90_t`` (10 % and 90 % of h_prior) and the 10–90 % window ``window_t``; and
    from the derivative of its smoothing spline (``smooth_profile``; noisier, a Monte Carlo profile's raw finite
    differences are useless): ``peak_t``, ``peak_rate`` of dCE/dt and ``fwhm_t`` (between ``fwhm_lo``, ``fwhm_hi``).
    """
    nan = float("nan")
    out = {"half_t": nan, "half_t_err": nan, "h10_t": nan, "h90_t": nan, "window_t": nan, "peak_t": nan,
           "peak_rate": nan, "fwhm_t": nan, "fwhm_lo": nan, "fwhm_hi": nan}
    sig, val, ser = (np.asarray(x, np.float64) for x in (sigma, value, stderr))
    ok = (sig > 0) & np.isfinite(val)
    tg = 0.5 * np.log1p(sig[ok] ** 2)
    o = np.argsort(tg)
    tg, vg, sg = tg[o], val[ok][o], ser[ok][o]
    for name, frac in (("half_t", 0.5), ("h10_t", 0.1), ("h90_t", 0.9)):
        level = frac * h_prior
        idx = np.flatnonzero((vg[:-1] < level) & (vg[1:] >= level))
        if idx.size:
            i = int(idx[0])
            slope = (vg[i + 1] - vg[i]) / (tg[i + 1] - tg[i])
            out[name] = float(tg[i] + (level - vg[i]) / slope)
            if name == "half_t":
                out["half_t_err"] = float(0.5 * (sg[i] + sg[i + 1]) / slope)
    out["window_t"] = out["h90_t"] - out["h10_t"]
    spl, lo, hi = smooth_profile(sigma, value, stderr)
    t = np.linspace(lo, hi, 4001)
    r = spl.derivative()(t)
    j = int(np.argmax(r))
    if 0 < j < r.size - 1 and r[j] > 0:
        out["peak_t"], out["peak_rate"] = float(t[j]), float(r[j])
        half = 0.5 * r[j]
        left = np.flatnonzero(r[:j] < half)
        right = np.flatnonzero(r[j + 1:] < half)
        if left.size and right.size:
            a = int(left[-1])
            b = j + 1 + int(right[0])
            f_lo = t[a] + (half - r[a]) * (t[a + 1] - t[a]) / (r[a + 1] - r[a])
            f_hi = t[b - 1] + (half - r[b - 1]) * (t[b] - t[b - 1]) / (r[b] - r[b - 1])
            out.update(fwhm_t=float(f_hi - f_lo), fwhm_lo=float(f_lo), fwhm_hi=float(f_hi))
    return out


def information_inside(sigma: np.ndarray, value: np.ndarray, interval: tuple[float, float]) -> dict:
    """Semantic information produced (decrease of the profile along generation) by steps whose geometric-mean σ
    lies inside / outside the interval. Returns {"inside", "outside", "total", "fraction_inside"}."""
    sigma, value = np.asarray(sigma, np.float64), np.asarray(value, np.float64)
    drop = value[:-1] - value[1:]
    mid = np.sqrt(sigma[:-1] * sigma[1:])
    mid = np.where(sigma[1:] == 0, 0.5 * sigma[:-1], mid)
    lo, hi = interval
    inside = (mid > lo) & (mid < hi)
    tot = float(np.nansum(drop))
    ins = float(np.nansum(drop[inside]))
    return {"inside": ins, "outside": tot - ins, "total": tot, "fraction_inside": ins / tot if tot != 0 else float("nan")}


# ================================================================================================ one profile
@dataclass
class GuidedProfile:
    """A guided (cross-)entropy profile and what the guided samples look like at the end.

    sigma (L,), t_ou (L,): the grid (VE-equivalent σ, OU time at equal SNR); value, stderr: CE(σ) = E −log p_t(z|x);
    rate_t, rate: dCE/dt of the smoothing spline at the σ > 0 grid points (t increasing); h_prior: entropy of the target's prior (the level of
    the half-entropy landmark); landmarks: ``profile_landmarks``; frequencies: soft/hard final (group) frequencies
    and stderr; error_rate (± error_rate_stderr): 1 − E p_end(target | x); var_ratio: within-class variance along
    the semantic subspace / target; freq_kl: KL(soft fine-class frequencies ‖ the w = 1 expectation); commit_t:
    median commitment time (OU); overshoot (± overshoot_stderr): in within-class sd, class-level runs only.
    """

    w: float
    interval: tuple[float, float] | None
    label: object
    sampler: str
    n_samples: int
    sigma: np.ndarray
    t_ou: np.ndarray
    value: np.ndarray
    stderr: np.ndarray
    rate_t: np.ndarray
    rate: np.ndarray
    h_prior: float
    landmarks: dict
    frequencies: dict
    error_rate: float
    error_rate_stderr: float
    var_ratio: float
    freq_kl: float
    commit_t: float
    overshoot: float
    overshoot_stderr: float
    trajectories: dyn.Trajectories | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("trajectories", None)
        return d


def guided_profile(
    mixture: GaussianMixture,
    *,
    w: float = 1.0,
    interval: object = None,
    label: object = 0,
    partition: Partition | None = None,
    sampler: str = "edm",
    n_steps: int = 64,
    n_samples: int = 2048,
    key: object = None,
    keep_trajectories: bool = False,
    **sampler_kwargs,
) -> GuidedProfile:
    """Cross-entropy profile E_{q_w}[−log p_t(z | x_t)] of guided sampling toward ``label`` (a class, or a group of
    ``partition``; "prior" draws one label per sample from the prior), with CFG scale ``w`` applied everywhere
    (``interval=None``) or only for σ in ``interval`` = (σ_lo, σ_hi) (unit-data VE σ). Other keywords go to
    ``dynamics.simulate`` (process, T, S_churn, init, ...)."""
    guidance = "cfg" if interval is None else "interval"
    tr = dyn.simulate(mixture, sampler=sampler, n_samples=n_samples, n_steps=n_steps, key=key, label=label,
                      guidance=guidance, w=w, interval=interval, partition=partition, record=True, **sampler_kwargs)
    part = None if partition is None else check_partition(partition, mixture.K)
    ce, se = dyn.cross_entropy_profile(tr)
    spl, _, _ = smooth_profile(tr.sigma, ce, se)
    rate_t = np.sort(tr.t_ou[tr.sigma > 0])
    rate = spl.derivative()(rate_t)
    gw = (part or Partition.identity(mixture.K)).group_weights(mixture.weights)
    labs = tr.labels
    h_prior = float(np.mean(-np.log(gw[labs]))) if np.all(gw[labs] > 0) else float("nan")
    if isinstance(label, str):  # labels from the prior: the level is H[Z_P]
        pw = gw[gw > 0]
        h_prior = float(-np.sum(pw * np.log(pw)))
    lm = profile_landmarks(tr.sigma, ce, se, h_prior)
    freqs = dyn.class_frequencies(tr)
    lp_end = dyn._group_log_post(tr, tr.final_log_post, None)
    p_target = np.exp(np.take_along_axis(lp_end, labs[:, None], axis=-1)[:, 0])
    err, err_se = dyn._mean_se(1.0 - p_target)
    fine = np.exp(tr.final_log_post).mean(axis=0)
    prior_in_group = np.exp(_group_log_priors(mixture, part))
    prior_in_group /= prior_in_group.sum(axis=1, keepdims=True)
    target = prior_in_group[labs].mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = float(np.sum(np.where(fine > 0, fine * np.log(fine / target), 0.0)))
    kl = max(kl, 0.0)  # KL ≥ 0; a few 1e-17 below 0 are rounding
    var = dyn.within_class_variance(tr, mixture)["signal_ratio"]
    com = dyn.commitment_times(tr)
    ct = com["t_ou"][np.isfinite(com["t_ou"])]
    if part is None:
        ov = dyn.overshoot(tr, mixture)  # final states are unit-scale data in every frame (a(t_end) = 1)
        ov_m, ov_se = ov["mean"], ov["stderr"]
    else:
        ov_m = ov_se = float("nan")
    return GuidedProfile(
        w=float(w), interval=None if interval is None else dyn.check_interval(interval), label=label,
        sampler=sampler, n_samples=tr.n, sigma=tr.sigma, t_ou=tr.t_ou, value=ce, stderr=se, rate_t=rate_t, rate=rate,
        h_prior=h_prior, landmarks=lm, frequencies=freqs, error_rate=float(err), error_rate_stderr=float(err_se),
        var_ratio=float(var), freq_kl=kl, commit_t=float(np.median(ct)) if ct.size else float("nan"),
        overshoot=float(ov_m), overshoot_stderr=float(ov_se), trajectories=tr if keep_trajectories else None,
    )


# ================================================================================================ the study
def default_mixtures(d: int = 256) -> dict[str, tuple[GaussianMixture, Partition | None]]:
    """Study cases: name → (mixture, guidance partition or None). Hierarchy: classes and superclasses."""
    h = hierarchical(2, 2, d, 0.5, 0.2)
    return {
        "two": (two_gaussians(d, 0.5), None),
        "kclasses": (k_classes(4, d, 0.5), None),
        "hier/classes": (h.mixture, None),
        "hier/super": (h.mixture, h.coarse),
    }


@dataclass
class GuidanceStudy:
    """Rows of the study (dicts), the unguided theory per case, and the profiles (for figures)."""

    rows: list[dict]
    theory: dict
    profiles: dict = field(default_factory=dict, repr=False)

    def select(self, **match) -> list[dict]:
        return [r for r in self.rows if all(r[k] == v for k, v in match.items())]

    def to_markdown(self, columns: tuple[str, ...] | None = None, digits: int = 3) -> str:
        cols = list(columns or self.rows[0].keys())
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in self.rows:
            cells = [f"{r[c]:.{digits}g}" if isinstance(r[c], float) else str(r[c]) for c in cols]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


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
    lo, hi = _sigma_of_t(theory["fwhm_lo"]), _sigma_of_t(theory["fwhm_hi"])
    out = {"all": None, "edm2": EDM2_INTERVAL}
    if np.isfinite(lo) and np.isfinite(hi):  # the window must lie inside the theory's range
        out.update(window=(lo, hi), before=(hi, math.inf), after=(0.0, lo))
    return out


def guidance_study(
    cases: dict | None = None,
    *,
    ws: tuple[float, ...] = WS,
    intervals: tuple[str, ...] = ("all", "edm2", "window", "before", "after"),
    sampler: str = "edm",
    n_steps: int = 64,
    n_samples: int = 2048,
    d: int = 256,
    key: int = 0,
    **sampler_kwargs,
) -> GuidanceStudy:
    """Guided profiles for every case × interval × w (labels drawn from the prior), against the unguided theory.

    ``cases``: name → (mixture, partition or None) (default ``default_mixtures(d)``). Columns: case, interval,
    sigma_lo, sigma_hi, w; landmarks (OU time) half_t, peak_t, fwhm_t and the theory's; shift_half, shift_peak
    (guided − theory), fwhm_ratio; info_inside (share of the CE drop inside the interval) and info_inside_theory
    (the same share for the unguided H); error_rate, var_ratio, freq_kl, commit_t, overshoot; bias_max (w = 1 rows:
    max |CE − H| over the grid, the simulation's deviation from theory) and bias_z (the same in stderr)."""
    cases = default_mixtures(d) if cases is None else cases
    for w in ws:
        dyn._check_real(w, "w", minimum=0.0)
    rows, theory, profiles = [], {}, {}
    sig_grid = dyn.make_grid(sampler, n_steps, **{k: v for k, v in sampler_kwargs.items()
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


# ========================================================================================= ODE vs SDE overshoot
def overshoot_study(
    dims: tuple[int, ...] = (64, 256, 1024, 4096),
    *,
    w: float = 3.0,
    mu: float = 1.0,
    n_samples: int = 512,
    n_steps: int = 1000,
    ode_steps: int = 200,
    T: float = 10.0,
    key: int = 0,
) -> list[dict]:
    """Guided two Gaussians (|m|² = d μ̃², unit variance, target class 0, CFG scale w everywhere), reverse OU:
    probability-flow ODE (Heun, ``ode_steps``) vs SDE (Euler–Maruyama, ``n_steps``) from T. Rows: d, sampler,
    overshoot (mean final ⟨x − μ_z, u_z⟩ in within-class sd) and its stderr, error rate, var_ratio."""
    rows = []
    for d in progress(list(dims), "overshoot vs d"):
        mix = two_gaussians(int(d), mu)
        for sampler in ("ode", "sde"):
            steps = ode_steps if sampler == "ode" else n_steps
            tr = dyn.simulate(mix, sampler=sampler, n_samples=n_samples, n_steps=steps, T=T, key=key, label=0,
                              guidance="cfg", w=w, record=False)
            ov = dyn.overshoot(tr, mix)
            p = np.exp(tr.final_log_post[:, 0])
            rows.append({"d": int(d), "sampler": sampler, "w": float(w), "overshoot": ov["mean"],
                         "overshoot_se": ov["stderr"], "error_rate": float(np.mean(1 - p)),
                         "var_ratio": dyn.within_class_variance(tr, mix)["signal_ratio"]})
    return rows


# ======================================================================================================= figures
def _figures(study: GuidanceStudy, over: list[dict], spec: list[dict], out: Path) -> list[str]:
    from gmmtheory import plotting

    names = []
    with plotting.style():
        import matplotlib.pyplot as plt

        cases = list(study.theory)
        fig, axes = plt.subplots(2, len(cases), figsize=(4.2 * len(cases), 7), squeeze=False)
        for j, case in enumerate(cases):
            ax, axr = axes[0, j], axes[1, j]
            th = study.theory[case]
            any_prof = next(p for (c, _, _), p in study.profiles.items() if c == case)
            t = any_prof.t_ou
            ax.plot(t, th["H"], "k--", lw=2, label="theory H (w = 1)")
            for (c, iv, w), p in study.profiles.items():
                if c != case or iv != "all":
                    continue
                ax.plot(p.t_ou, p.value, label=f"w = {w:g}")
                axr.plot(p.rate_t, p.rate, label=f"w = {w:g}")
            ax.set_title(case)
            ax.set_xlabel("OU time t = ½ log(1+σ²)")
            ax.set_ylabel("CE = E −log p_t(z|x)  (nats)")
            axr.set_xlabel("OU time t")
            axr.set_ylabel("dCE/dt")
            ax.set_xlim(0, t.max())
            axr.set_xlim(0, t.max())
            if j == 0:
                ax.legend(fontsize=8)
        plotting.save(fig, out, "guidance_profiles")
        names.append("guidance_profiles")

        fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(14, 4))
        for case in cases:
            for iv in ("all", "window", "edm2"):
                rs = [r for r in study.rows if r["case"] == case and (r["interval"] == iv or r["w"] == 1.0)]
                if not rs:
                    continue
                ws = [r["w"] for r in rs]
                style = {"all": "o-", "window": "s--", "edm2": "^:"}[iv]
                a1.plot(ws, [r["shift_half"] for r in rs], style, label=f"{case} / {iv}")
                a2.plot(ws, [r["window_ratio"] for r in rs], style)
                a3.plot(ws, [r["var_ratio"] for r in rs], style)
        a1.set_xlabel("w")
        a1.set_ylabel("half-entropy shift (OU t)")
        a2.set_xlabel("w")
        a2.set_ylabel("10–90 % window, guided / unguided")
        a3.set_xlabel("w")
        a3.set_ylabel("within-class variance ratio (semantic)")
        a1.legend(fontsize=7)
        plotting.save(fig, out, "guidance_shift")
        names.append("guidance_shift")

        fig, ax = plt.subplots()
        for sampler, style in (("ode", "o-"), ("sde", "s--")):
            rs = [r for r in over if r["sampler"] == sampler]
            ax.errorbar([r["d"] for r in rs], [r["overshoot"] for r in rs], yerr=[2 * r["overshoot_se"] for r in rs],
                        fmt=style, label=f"{sampler.upper()} (w = {rs[0]['w']:g})")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("dimension d")
        ax.set_ylabel("overshoot beyond class mean (sd)")
        ax.legend()
        plotting.save(fig, out, "guidance_overshoot")
        names.append("guidance_overshoot")

        fig, ax = plt.subplots()
        for d in sorted({r["d"] for r in spec}):
            rs = [r for r in spec if r["d"] == d]
            x = [r["t"] - r["t_S"] for r in rs]
            line = ax.plot(x, [r["phi_exact"] for r in rs], "-", label=f"d = {d}: exact φ")[0]
            ax.errorbar(x, [r["clone"] for r in rs], yerr=[2 * r["clone_se"] for r in rs], fmt="o",
                        color=line.get_color())
            ax.errorbar(x, [r["uturn"] for r in rs], yerr=[2 * r["uturn_se"] for r in rs], fmt="x",
                        color=line.get_color())
        ax.set_xlabel("t − t_S (OU)")
        ax.set_ylabel("P(same class)")
        ax.set_title("clones (o) and U-turns (x) vs exact φ")
        ax.legend(fontsize=8)
        plotting.save(fig, out, "clones_uturns")
        names.append("clones_uturns")
    return names


FULL = {"d": 256, "n_samples": 2048, "n_steps": 64, "cases": ("two", "kclasses", "hier/classes", "hier/super"),
        "intervals": ("all", "edm2", "window", "before", "after"), "over_dims": (64, 256, 1024, 4096, 16384),
        "over_n": 256, "over_steps": 1000, "clone_dims": (256, 1024, 4096, 16384), "clone_n": 256,
        "clone_offsets": (-0.5, 0.0, 0.5)}
# Sizes: FULL is the closing-note run (~15 min on 2 cores); QUICK is what `gmmtheory report` uses (~75 s);
# SMOKE is the report's --quick mode (tests).
SMOKE = {"d": 64, "n_samples": 256, "n_steps": 64, "cases": ("two",), "intervals": ("all", "window"),
         "over_dims": (64, 256), "over_n": 64, "over_steps": 200, "clone_dims": (256,), "clone_n": 64,
         "clone_offsets": (0.0,)}
QUICK = {"d": 128, "n_samples": 512, "n_steps": 64, "cases": ("two", "hier/super"),
         "intervals": ("all", "window", "edm2"), "over_dims": (64, 256, 1024), "over_n": 128, "over_steps": 300,
         "clone_dims": (256, 1024), "clone_n": 128, "clone_offsets": (-0.5, 0.0, 0.5)}


def section_guidance(out: Path, quick: bool, cfg: dict | None = None) -> str:
    """Report section: guided cross-entropy profiles, window shift and diversity cost per w, ODE vs SDE overshoot
    against d, and the clone / U-turn experiment against exact φ. Every number is computed here."""
    import time

    out = Path(out)
    start = time.perf_counter()
    cfg = cfg if cfg is not None else (SMOKE if quick else QUICK)
    d, n = cfg["d"], cfg["n_samples"]
    cases = default_mixtures(d)
    cases = {k: cases[k] for k in cfg["cases"]}
    study = guidance_study(cases, ws=WS, n_samples=n, n_steps=cfg["n_steps"], intervals=cfg["intervals"])
    over = overshoot_study(cfg["over_dims"], n_samples=cfg["over_n"], n_steps=cfg["over_steps"])
    det = guidance_study(cases, ws=WS, n_samples=n, n_steps=cfg["n_steps"], intervals=("all",), S_churn=0.0)
    spec = dyn.speciation_experiment(cfg["clone_dims"], n_pairs=cfg["clone_n"], offsets=cfg["clone_offsets"],
                                     n_steps=1000)
    figs = _figures(study, over, spec, out)
    th_rows = [{"case": c, "method": t["method"], "half_t": t["half_t"], "peak_t": t["peak_t"], "fwhm_t": t["fwhm_t"],
                "window_t": t["window_t"],
                "sig_lo": _sigma_of_t(t["fwhm_lo"]), "sig_hi": _sigma_of_t(t["fwhm_hi"])}
               for c, t in study.theory.items()]
    lines = [
        "## Guidance: how it redistributes semantic information",
        "",
        f"EDM stochastic sampler ({cfg['n_steps']} steps, S_churn 40, exact mixture denoisers), {n} samples per run, labels drawn "
        f"from the prior, d = {d}. Along guided trajectories the entropy is the cross-entropy CE(σ) = E −log p_t(z|x) "
        "of the target under the exact posterior; at w = 1 it equals H[Z | X_t], computed independently by "
        "`gt.class_entropy`. Times are OU times at equal SNR, t = ½ log(1 + σ²); a positive shift means the decision "
        "is taken earlier in generation (at higher noise). Intervals are in unit-data σ: 'edm2' = EDM2's (0.28, 2.9) "
        "at σ_data = 0.5; 'window' = the unguided FWHM of dH/dt; 'before'/'after' = the noise ranges above/below it.",
        "",
        "Unguided theory (OU time):",
        "",
        *markdown_table(th_rows, [("case", "case", ""), ("method", "method", ""), ("half-entropy t", "half_t", ".4f"),
                             ("rate peak t", "peak_t", ".4f"), ("FWHM", "fwhm_t", ".4f"), ("10–90 % window", "window_t", ".4f"),
                             ("window σ_lo", "sig_lo", ".3g"), ("window σ_hi", "sig_hi", ".3g")]),
        "",
        f"![guided profiles]({figs[0]}.png)",
        "",
        f"![shift and diversity]({figs[1]}.png)",
        "",
        "Simulation against theory at w = 1 (max over the grid of |CE − H|, and in units of the combined stderr):",
        "",
        *markdown_table(study.select(w=1.0), [("case", "case", ""), ("max |CE − H|", "bias_max", ".4f"),
                                         ("max z", "bias_z", ".2f")]),
        "",
        "Window shift and diversity cost (full CFG, every σ):",
        "",
        *markdown_table(study.select(interval="all"), [
            ("case", "case", ""), ("w", "w", "g"), ("half t", "half_t", ".3f"), ("Δ half", "shift_half", "+.3f"),
            ("Δ peak", "shift_peak", "+.3f"), ("10–90 % window ratio", "window_ratio", ".3f"),
            ("FWHM ratio", "fwhm_ratio", ".3f"), ("error rate", "error_rate", ".4f"),
            ("var ratio", "var_ratio", ".3f"), ("freq KL", "freq_kl", ".2e"), ("commit t", "commit_t", ".3f"),
            ("overshoot (sd)", "overshoot", ".3f")]),
        "",
        "The same with EDM's deterministic sampler (S_churn = 0, Heun on the probability-flow ODE):",
        "",
        *markdown_table(det.rows, [
            ("case", "case", ""), ("w", "w", "g"), ("Δ half", "shift_half", "+.3f"),
            ("10–90 % window ratio", "window_ratio", ".3f"), ("error rate", "error_rate", ".4f"),
            ("var ratio", "var_ratio", ".3f"), ("freq KL", "freq_kl", ".2e"), ("overshoot (sd)", "overshoot", ".3f")]),
        "",
        f"(freq KL has a Monte Carlo floor of about (K − 1)/(2n) = {(4 - 1) / (2 * n):.1e} for K = 4.)",
        "",
        "Interval guidance (share of the semantic information produced inside the interval, guided vs unguided):",
        "",
        *markdown_table([r for r in study.rows if r["interval"] != "all"], [
            ("case", "case", ""), ("interval", "interval", ""), ("σ_lo", "sigma_lo", ".3g"), ("σ_hi", "sigma_hi", ".3g"),
            ("w", "w", "g"), ("Δ half", "shift_half", "+.3f"), ("window ratio", "window_ratio", ".3f"),
            ("inside (guided)", "info_inside", ".3f"), ("inside (unguided)", "info_inside_theory", ".3f"),
            ("error rate", "error_rate", ".4f"), ("var ratio", "var_ratio", ".3f")]),
        "",
        "### ODE vs SDE: overshoot along the class direction",
        "",
        f"Two Gaussians ±m, |m|² = d, unit variance, target class 0, CFG w = {over[0]['w']:g} at every t, reverse OU "
        f"from T = 10: probability-flow ODE (Heun, 200 steps) vs SDE (Euler–Maruyama, {cfg['over_steps']} steps). Overshoot = mean final ⟨x − μ_z, u_z⟩ in "
        "within-class sd.",
        "",
        f"![overshoot]({figs[2]}.png)",
        "",
        *markdown_table(over, [("d", "d", "d"), ("sampler", "sampler", ""), ("overshoot (sd)", "overshoot", ".4f"),
                          ("± stderr", "overshoot_se", ".4f"), ("error rate", "error_rate", ".2e"),
                          ("var ratio", "var_ratio", ".3f")]),
        "",
        "### Clones and U-turns (Biroli et al.'s speciation experiment)",
        "",
        "Two Gaussians, unit variance, reverse OU SDE, 1000 Euler–Maruyama steps from T = 10. Clones: runs split at t "
        "into two independent continuations; U-turns: exact samples noised to t and regenerated. Both estimate "
        "φ(t) = E Σ_k p_t(k|x)² (soft, Rao–Blackwellised estimators; 'hard' = argmax classes). φ_split is the collision "
        "functional on the sampler's own states at the split: its deviation from exact φ is the discretisation error "
        "inherited by the clones.",
        "",
        f"![clones]({figs[3]}.png)",
        "",
        *markdown_table(spec, [("d", "d", "d"), ("t", "t", ".3f"), ("t − t_S", "t_rel", "+.2f"),
                          ("exact φ", "phi_exact", ".4f"), ("clones", "clone", ".4f"), ("± se", "clone_se", ".4f"),
                          ("z", "clone_z", "+.2f"), ("φ_split", "phi_split", ".4f"), ("U-turns", "uturn", ".4f"),
                          ("± se", "uturn_se", ".4f"), ("z", "uturn_z", "+.2f")]),
        "",
        f"_Section computed in {time.perf_counter() - start:.1f} s._",
        "",
    ]
    # flatten the (possibly nested) table list
    flat: list[str] = []
    for item in lines:
        flat.extend(item if isinstance(item, list) else [item])
    return "\n".join(flat) + "\n"


# =========================================================================================================== CLI
def _parse_ws(spec: str) -> tuple[float, ...]:
    try:
        ws = tuple(float(v) for v in spec.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--w must be a comma list of scales; got {spec!r}") from None
    if not ws:
        raise argparse.ArgumentTypeError(f"--w must hold at least one scale; got {spec!r}")
    return ws


_CLI_SE = {"half_t": "half_t_err", "error_rate": "error_rate_stderr", "overshoot": "overshoot_stderr"}


def _cli_rows(study: GuidanceStudy) -> list[dict]:
    """The study's rows with the Monte Carlo standard errors of their profiles (half_t_err, error_rate_stderr,
    overshoot_stderr) beside the values, and the draws of each run."""
    rows = []
    for r in study.rows:
        prof = study.profiles.get((r["case"], r["interval"], r["w"]))
        se = {} if prof is None else {"half_t_err": prof.landmarks.get("half_t_err", float("nan")),
                                      "error_rate_stderr": prof.error_rate_stderr,
                                      "overshoot_stderr": prof.overshoot_stderr}
        out = {}
        for k, v in r.items():
            out[k] = v
            if _CLI_SE.get(k) in se:
                out[_CLI_SE[k]] = se[_CLI_SE[k]]
        out["n_samples"] = None if prof is None else prof.n_samples
        rows.append(out)
    return rows


def _cli_figure(study: GuidanceStudy, cases: dict, out: Path, stem: str = "guidance_profiles") -> None:
    """Per case: the unguided theory H (±2 stderr) and every guided profile CE (±2 stderr, same colour) against OU
    time, with t_S and the theory's half-entropy time marked."""
    from gmmtheory import plotting
    from gmmtheory.landmarks import speciation_time

    with plotting.style():
        import matplotlib.pyplot as plt

        names = list(study.theory)
        fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.2), squeeze=False)
        for ax, case in zip(axes[0], names):
            th = study.theory[case]
            profs = [(k, p) for k, p in study.profiles.items() if k[0] == case]
            if not profs:
                continue
            t = profs[0][1].t_ou
            h, se = np.asarray(th["H"]), np.asarray(th["H_stderr"])
            ax.plot(t, h, "k--", lw=2, label="theory H (w = 1)")
            ax.fill_between(t, h - 2 * se, h + 2 * se, color="k", alpha=0.2, lw=0)
            for (_, iv, w), p in profs:
                line = ax.plot(p.t_ou, p.value, lw=1.2, label=f"w = {w:g}, {iv}")[0]
                ax.fill_between(p.t_ou, p.value - 2 * p.stderr, p.value + 2 * p.stderr, color=line.get_color(),
                                alpha=0.2, lw=0)
            for label, x, style in (("t_S", float(speciation_time(cases[case][0], OU())), ":"),
                                    ("half-entropy t (theory)", float(th["half_t"]), "-.")):
                if math.isfinite(x):
                    ax.axvline(x, color="0.3", ls=style, lw=1, label=f"{label} = {x:.3g}")
            ax.set_title(case)
            ax.set_xlabel("OU time t = ½ log(1 + σ²)  (σ = σ_t/a_t)")
            ax.set_ylabel("CE = E −log p_t(z|x)  (nats), ± 2 stderr")
            ax.legend(fontsize=6)
        plotting.save(fig, out, stem)


def cmd_guidance(args: argparse.Namespace) -> int:
    from gmmtheory.cli import SIGMA_DEFINITION, emit, prepare_out

    if args.d < 1:
        raise ValueError(f"--d must be an integer ≥ 1; got {args.d}")
    cases = default_mixtures(args.d)
    if args.preset != "all":
        keys = {"two": ["two"], "kclasses": ["kclasses"], "hierarchical": ["hier/classes", "hier/super"]}[args.preset]
        cases = {k: cases[k] for k in keys}
    intervals = tuple(v.strip() for v in args.intervals.split(",") if v.strip())
    bad = [v for v in intervals if v not in ("all", "edm2", "window", "before", "after")]
    if bad or not intervals:
        raise ValueError("--intervals must be a comma list among all, edm2, window, before, after; "
                         f"got {args.intervals!r}")
    out_dir = prepare_out(args.out)
    study = guidance_study(cases, ws=args.w, intervals=intervals, sampler=args.sampler, n_steps=args.n_steps,
                           n_samples=args.n_samples, key=args.seed)
    meta = {"cases": {k: repr(m) for k, (m, _) in cases.items()}, "process": "OU (theory) / sampler " + args.sampler,
            "method": "exact-score sampler; theory by gt.class_entropy", "draws": args.n_samples,
            "n_steps": args.n_steps, "key": args.seed, "time_variable": "t (OU time at equal SNR)",
            "time_units": "OU time t = ½ log(1 + σ²) (dimensionless)", "sigma": SIGMA_DEFINITION,
            "H_Z": {k: float(m.entropy_of_labels()) + 0.0 for k, (m, _) in cases.items()}, "H_units": "nats"}
    columns = {"sigma_lo": f"guidance interval, lower end, {SIGMA_DEFINITION}", "sigma_hi": "upper end (σ; null: ∞)",
               "half_t_err": "Monte Carlo standard error of half_t", "error_rate_stderr": "of error_rate",
               "overshoot_stderr": "of overshoot (nan: group-level runs)"}
    emit("guidance", meta, _cli_rows(study), columns, args.format, out_dir, "guidance")
    if out_dir is not None:
        _cli_figure(study, cases, out_dir)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``gmmtheory guidance``: the guidance study as a table / JSON / CSV (``--out`` also writes files)."""
    from gmmtheory.cli import add_format_args

    p = subparsers.add_parser(
        "guidance", help="how CFG / interval guidance moves the semantic window, and its diversity cost",
        description="Guided cross-entropy profiles with exact mixture scores against the unguided theory.",
    )
    p.add_argument("--preset", default="all", choices=["all", "two", "kclasses", "hierarchical"],
                   help="which study case(s) (default all)")
    p.add_argument("--d", type=int, default=256, help="dimension (default 256)")
    p.add_argument("--w", type=_parse_ws, default=WS, help="comma list of guidance scales (default 1,1.5,2,3,5)")
    p.add_argument("--intervals", default="all,edm2,window,before,after",
                   help="comma list among all,edm2,window,before,after (default: all of them)")
    p.add_argument("--sampler", default="edm", choices=list(dyn.SAMPLERS), help="sampler (default edm)")
    p.add_argument("--n-steps", type=int, default=64, help="sampler steps (default 64)")
    p.add_argument("--n-samples", type=int, default=2048, help="trajectories per run (default 2048)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    p.add_argument("--out", type=Path,
                   help="also write guidance.json, guidance.csv and the figure guidance_profiles.png/.pdf here")
    add_format_args(p)
    p.set_defaults(func=cmd_guidance)
    return p
