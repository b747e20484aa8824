"""The report's guidance section and every guidance figure: guided cross-entropy profiles against the unguided
theory H[Z | X_t] (CE(σ) = E −log p_t(z | x_t), OU time t = ½ log(1 + σ²)), window shift and diversity cost per w,
ODE vs SDE overshoot against d, and the clone / U-turn experiment against exact φ(t) = E Σ_k p_t(k | x_t)².

``section_guidance(out, size)`` runs ``studies.guidance.guidance_experiments(size)`` and writes its figures
(guidance_profiles, guidance_shift, guidance_overshoot, clones_uturns) in ``out``; ``profiles_figure`` is the
figure of the ``gmmtheory guidance --out`` subcommand.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from gmmtheory._sizes import check_size
from gmmtheory.guidance import ou_time_to_sigma
from gmmtheory.landmarks import speciation_time
from gmmtheory.processes import OU
from gmmtheory.report.style import markdown_table, pyplot, save, style
from gmmtheory.studies.guidance import GuidanceStudy, guidance_experiments


def _figures(study: GuidanceStudy, over: list[dict], spec: list[dict], out: Path) -> list[str]:
    names = []
    with style():
        plt = pyplot()
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
        save(fig, out, "guidance_profiles")
        names.append("guidance_profiles")

        fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(14, 4))
        for case in cases:
            for iv in ("all", "window", "edm2"):
                rs = [r for r in study.rows if r["case"] == case and (r["interval"] == iv or r["w"] == 1.0)]
                if not rs:
                    continue
                ws = [r["w"] for r in rs]
                fmt = {"all": "o-", "window": "s--", "edm2": "^:"}[iv]
                a1.plot(ws, [r["shift_half"] for r in rs], fmt, label=f"{case} / {iv}")
                a2.plot(ws, [r["window_ratio"] for r in rs], fmt)
                a3.plot(ws, [r["var_ratio"] for r in rs], fmt)
        a1.set_xlabel("w")
        a1.set_ylabel("half-entropy shift (OU t)")
        a2.set_xlabel("w")
        a2.set_ylabel("10–90 % window, guided / unguided")
        a3.set_xlabel("w")
        a3.set_ylabel("within-class variance ratio (semantic)")
        a1.legend(fontsize=7)
        save(fig, out, "guidance_shift")
        names.append("guidance_shift")

        fig, ax = plt.subplots()
        for sampler, fmt in (("ode", "o-"), ("sde", "s--")):
            rs = [r for r in over if r["sampler"] == sampler]
            ax.errorbar([r["d"] for r in rs], [r["overshoot"] for r in rs], yerr=[2 * r["overshoot_se"] for r in rs],
                        fmt=fmt, label=f"{sampler.upper()} (w = {rs[0]['w']:g})")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("dimension d")
        ax.set_ylabel("overshoot beyond class mean (sd)")
        ax.legend()
        save(fig, out, "guidance_overshoot")
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
        save(fig, out, "clones_uturns")
        names.append("clones_uturns")
    return names


def profiles_figure(study: GuidanceStudy, cases: dict, out: Path, stem: str = "guidance_profiles") -> None:
    """Per case: the unguided theory H (±2 stderr) and every guided profile CE (±2 stderr, same colour) against OU
    time, with t_S and the theory's half-entropy time marked; written as out/stem.{png,pdf}."""
    with style():
        plt = pyplot()
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
            for label, x, ls in (("t_S", float(speciation_time(cases[case][0], OU())), ":"),
                                 ("half-entropy t (theory)", float(th["half_t"]), "-.")):
                if math.isfinite(x):
                    ax.axvline(x, color="0.3", ls=ls, lw=1, label=f"{label} = {x:.3g}")
            ax.set_title(case)
            ax.set_xlabel("OU time t = ½ log(1 + σ²)  (σ = σ_t/a_t)")
            ax.set_ylabel("CE = E −log p_t(z|x)  (nats), ± 2 stderr")
            ax.legend(fontsize=6)
        save(fig, out, stem)


def section_guidance(out: Path, size: str) -> str:
    """Report section: guided cross-entropy profiles, window shift and diversity cost per w, ODE vs SDE overshoot
    against d, and the clone / U-turn experiment against exact φ. Every number is computed here."""
    out = Path(out)
    start = time.perf_counter()
    exp = guidance_experiments(check_size(size))
    cfg, study, over, det, spec = exp.config, exp.study, exp.overshoot, exp.deterministic, exp.speciation
    d, n = cfg["d"], cfg["n_samples"]
    figs = _figures(study, over, spec, out)
    th_rows = [{"case": c, "method": t["method"], "half_t": t["half_t"], "peak_t": t["peak_t"], "fwhm_t": t["fwhm_t"],
                "window_t": t["window_t"],
                "sig_lo": ou_time_to_sigma(t["fwhm_lo"]), "sig_hi": ou_time_to_sigma(t["fwhm_hi"])}
               for c, t in study.theory.items()]
    lines = [
        "## Guidance: how it redistributes semantic information",
        "",
        f"EDM stochastic sampler ({cfg['n_steps']} steps, S_churn 40, exact mixture denoisers), {n} samples per run, "
        f"labels drawn from the prior, d = {d}. Along guided trajectories the entropy is the cross-entropy "
        "CE(σ) = E −log p_t(z|x) of the target under the exact posterior; at w = 1 it equals H[Z | X_t], computed "
        "independently by `gt.class_entropy`. Times are OU times at equal SNR, t = ½ log(1 + σ²); a positive shift "
        "means the decision is taken earlier in generation (at higher noise). Intervals are in unit-data σ: 'edm2' = "
        "EDM2's (0.28, 2.9) at σ_data = 0.5; 'window' = the unguided FWHM of dH/dt; 'before'/'after' = the noise "
        "ranges above/below it.",
        "",
        "Unguided theory (OU time):",
        "",
        *markdown_table(th_rows, [("case", "case", ""), ("method", "method", ""),
                                  ("half-entropy t", "half_t", ".4f"), ("rate peak t", "peak_t", ".4f"),
                                  ("FWHM", "fwhm_t", ".4f"), ("10–90 % window", "window_t", ".4f"),
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
            ("case", "case", ""), ("interval", "interval", ""), ("σ_lo", "sigma_lo", ".3g"),
            ("σ_hi", "sigma_hi", ".3g"), ("w", "w", "g"), ("Δ half", "shift_half", "+.3f"),
            ("window ratio", "window_ratio", ".3f"), ("inside (guided)", "info_inside", ".3f"),
            ("inside (unguided)", "info_inside_theory", ".3f"), ("error rate", "error_rate", ".4f"),
            ("var ratio", "var_ratio", ".3f")]),
        "",
        "### ODE vs SDE: overshoot along the class direction",
        "",
        f"Two Gaussians ±m, |m|² = d, unit variance, target class 0, CFG w = {over[0]['w']:g} at every t, reverse OU "
        f"from T = 10: probability-flow ODE (Heun, 200 steps) vs SDE (Euler–Maruyama, {cfg['over_steps']} steps). "
        "Overshoot = mean final ⟨x − μ_z, u_z⟩ in within-class sd.",
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
        "φ(t) = E Σ_k p_t(k|x)² (soft, Rao–Blackwellised estimators; 'hard' = argmax classes). φ_split is the "
        "collision functional on the sampler's own states at the split: its deviation from exact φ is the "
        "discretisation error inherited by the clones.",
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
    return "\n".join(lines) + "\n"
