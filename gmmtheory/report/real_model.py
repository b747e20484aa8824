"""The real-model experiment in the report: ``<name>.json``, ``<name>.md`` and ``<name>.png``/``.pdf`` from a
``gmmtheory.bridge.real_model.run_real_model`` result, and the report section.

- ``real_model_markdown(result)``: the landmarks of every estimator (half-entropy σ, 10–90 % window of H/H[Z], with
  the bootstrap standard deviation of log σ), the surrogate's (which one it draws — low-rank + diagonal or
  diagonal covariances — and the diagonal one beside a low-rank run; σ_S, its window), the recommended guidance interval
  and its rule, estimator agreement in combined standard errors (with the points left out and why), the partitions,
  and the cost of each estimator in network rows and seconds.
- ``plot_real_model(result, out, stem)``: three panels against σ (log axis): H[Z | X_σ] of every estimator (points
  ±2 s.e. for the pointwise estimators, a ±2 s.e. band for the tracker), the surrogate theory (dotted), the
  classifier's 10–90 % window shaded, the recommended interval and σ_S marked (the diagonal surrogate dash-dotted
  beside a low-rank one); dH/dlog σ; H[Z_P | X_σ]/H[Z_P] of
  each partition (classifier points, tracker lines, surrogate dotted).
- ``write_real_model(result, out_dir)``: the three files. ``section_real_model(out, size, model=None)``: the report
  section; without a model one line says how to add it (no cost).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

import gmmtheory.bridge as bridge  # the bridge's lazy face: torch is imported on first use of a name
from gmmtheory._sizes import check_size
from gmmtheory.atomic import ensure_writable_dir
from gmmtheory.report.style import pyplot, save, style

__all__ = ["ENABLE_HINT", "LABELS", "plot_real_model", "real_model_markdown", "section_real_model",
           "write_real_model"]

LABELS = {
    "classifier": "diffusion classifier",
    "denoiser_gap_implied": "denoiser gap, implied D_u",
    "denoiser_gap_uncond": "denoiser gap, separate unconditional model",
    "tracker": "tracker (implied sampler)",
    "uncond_mismatch": "|D_u implied − D_u separate|²/σ²",
}
COLORS = {"classifier": "#1f77b4", "denoiser_gap_implied": "#9467bd", "denoiser_gap_uncond": "#8c564b",
          "tracker": "#d62728", "surrogate": "#2ca02c", "uncond_mismatch": "#7f7f7f"}

ENABLE_HINT = ("## Real model\n\nNot run: add your own class-conditional checkpoint with `gmmtheory report "
               "--model-checkout DIR --model-weights FILE` plus its loader options (those of `gmmtheory bridge "
               "inspect`, prefixed `--model-`, e.g. `--model-trust-pickle --model-parametrization edm "
               "--model-label-mode index --model-num-classes 10`) to measure H[Z | X_σ] on it.\n")

# report size → run_real_model settings (full: the command's defaults)
SIZES: dict[str, dict[str, int]] = {
    "smoke": dict(n_samples=8, n_fit=60, n_sigma=4, n_levels=3, n_tracker=16, tracker_steps=8, n_boot=20,
                  surrogate_samples=512, surrogate_grid=13),
    "quick": dict(n_samples=24, n_fit=200, n_sigma=8, n_levels=4, n_tracker=48, tracker_steps=16, n_boot=100,
                  surrogate_samples=2048, surrogate_grid=25),
    "full": {},
}


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _arr(v: Any) -> np.ndarray:
    return np.array([_nan(x) for x in v], dtype=np.float64)


def _curve(d: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _arr(d["sigma"]), _arr(d["value"]), _arr(d["stderr"])


def _sig(v: Any) -> str:
    v = _nan(v)
    return "–" if not math.isfinite(v) else f"{v:.3g}"


def _with_sd(lm: dict[str, Any], q: str) -> str:
    """σ_q and the bootstrap sd of log σ_q (else the propagated one) as '1.23 (±0.05)'."""
    s = _sig(lm.get(f"sigma_{q}"))
    if s == "–":
        return s
    sd = _nan(lm.get(f"log_sd_boot_{q}"))
    if not math.isfinite(sd):
        sd = _nan(lm.get(f"log_se_{q}"))
    return s if not math.isfinite(sd) else f"{s} (±{sd:.2f})"


def _landmark_rows(lms: dict[str, dict[str, Any]], cost: dict[str, Any] | None = None) -> list[str]:
    rows = ["| estimator | σ₁₀ | half-entropy σ₅₀ | σ₉₀ | log(σ₉₀/σ₁₀) | network rows | seconds |",
            "|---|---|---|---|---|---|---|"]
    for k, lm in lms.items():
        c = (cost or {}).get(k, {})
        rows.append(f"| {LABELS.get(k, k)} | {_with_sd(lm, '10')} | {_with_sd(lm, '50')} | {_with_sd(lm, '90')} | "
                    f"{_sig(lm.get('log_width'))} | {c.get('rows', '–') if c else '–'} | "
                    f"{_sig(c.get('seconds')) if c else '–'} |")
    return rows


_SHORT = {"lowrank": "low-rank + diagonal", "diagonal": "diagonal"}


def _surrogates(sur: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, block) of the surrogate the run drew (first) and the diagonal one computed beside it (if any)."""
    cov = sur.get("cov", "diagonal")
    label = {"lowrank": "low-rank + diagonal GMM", "diagonal": "diagonal GMM"}.get(cov, f"{cov} GMM")
    out = [(label, sur)]
    if sur.get("diagonal"):
        out.append(("diagonal GMM", sur["diagonal"]))
    return out


def _surrogate_sentence(sur: dict[str, Any]) -> str:
    """Which surrogate the page and the figure draw, with its estimator in one sentence."""
    if sur.get("cov") == "lowrank":
        ranks = sur.get("rank") or []
        r = (f"r = {min(ranks)}" if min(ranks) == max(ranks) else f"r = {min(ranks)}–{max(ranks)}") if ranks else "r"
        return ("the Gaussian mixture of the samples with per-class covariance Σ_y = U_y U_yᵀ + diag ψ_y (U_y: the "
                f"top {r} principal directions of class y's samples, scaled; ψ_y: the residual per-pixel variance, "
                f"floored at {_sig(sur.get('floor'))}); the diagonal surrogate (per-pixel variances only) is drawn "
                "beside it.")
    return ("the Gaussian mixture of the samples with per-class diagonal covariance (per-pixel variances, floored at "
            f"{_sig(sur.get('floor'))}; pixel correlations ignored).")


def real_model_markdown(result: dict[str, Any]) -> str:
    """The page ``<name>.md`` of a ``run_real_model`` result (module docstring)."""
    m, st, sur, gi = result["model"], result["settings"], result["surrogate"], result["guidance_interval"]
    K = m["num_classes"]
    lines = [f"# {result['name']}: H[Z | X_σ] measured on a trained model", "",
             f"Model `{m['repr']}` (K = {K}, shape {tuple(m['shape'])}, σ ∈ [{m['sigma_min']:g}, {m['sigma_max']:g}],"
             f" conditional only: {'yes' if m['conditional_only'] else 'no'})"
             + (f"; separate unconditional model `{m['uncond']['repr']}`" if m.get("uncond") else "") + ".",
             f"{result['samples']['n']} samples from the model itself ({st['sampler']}, {st['sample_steps']} levels; "
             f"labels uniform, counts {result['samples']['label_counts']}); classifier and gaps on the first "
             f"{st['n_samples']} of them at {len(st['sigmas'])} σ in [{st['sigmas'][0]:.3g}, {st['sigmas'][-1]:.3g}] "
             f"({st['n_levels']} ELBO nodes); tracker: {st['n_tracker']} trajectories on {st['tracker_steps']} "
             f"ρ-grid levels. H[Z] = log {K} = {result['H_Z']:.4f} nats; seed {st['seed']}; "
             f"{result['seconds']:.0f} s in all ({st['torch_threads']} torch threads).", "",
             "## Landmarks (σ where the monotone fit of H reaches 10 / 50 / 90 % of H[Z]; ± bootstrap sd of log σ)",
             "", *_landmark_rows(result["landmarks"], result["cost"])]
    for i, (label, block) in enumerate(_surrogates(sur)):
        sl = block["levels"]["classes"]["landmarks"]
        lines.append(f"| surrogate theory ({label} of the samples{', for comparison' if i else ''}) | "
                     f"{_with_sd(sl, '10')} | "
                     f"{_with_sd(sl, '50')} | {_with_sd(sl, '90')} | {_sig(sl.get('log_width'))} | 0 | – |")
    lines += ["", f"Surrogate theory: {_surrogate_sentence(sur)}", "",
              f"σ_S = √(Λ − 1) = {_sig(sur['sigma_S'])} (Λ = {_sig(sur['Lambda'])}, the top eigenvalue of the "
              "samples' covariance).", "",
              "## Recommended guidance interval", "",
              f"**(σ_lo, σ_hi) = ({_sig(gi['sigma_lo'])}, {_sig(gi['sigma_hi'])})** (bootstrap 95 %: σ_lo "
              f"{_sig(gi['sigma_lo_ci'][0])}–{_sig(gi['sigma_lo_ci'][1])}, σ_hi {_sig(gi['sigma_hi_ci'][0])}–"
              f"{_sig(gi['sigma_hi_ci'][1])}). Rule: {gi['rule']}. The classifier's 10–90 % window is "
              f"({_sig(gi['window_10_90'][0])}, {_sig(gi['window_10_90'][1])}).", "",
              "## Agreement between estimators", "",
              "z = |H_A − H_B| / √(se_A² + se_B²) per σ of A (B interpolated in log σ when its grid differs).", "",
              "| A vs B | max z | max \\|Δ\\| (nats) | points | left out |", "|---|---|---|---|---|"]
    for name, a in result["agreement"].items():
        why: dict[str, int] = {}
        for p in a["invalid"]:
            why[p["why"]] = why.get(p["why"], 0) + 1
        left = "; ".join(f"{n}: {w}" for w, n in why.items()) or "none"
        lines.append(f"| {name} | {_sig(a['max_z'])} | {_sig(a['max_abs'])} | {a['n_points']} | {left} |")
    if result["partitions"]:
        lines += ["", "## Partitions", "",
                  "| partition | blocks | H[Z_P] | estimator | σ₁₀ | σ₅₀ | σ₉₀ | max z (classifier vs tracker) |",
                  "|---|---|---|---|---|---|---|---|"]
        for pname, p in result["partitions"].items():
            blocks = " \\| ".join(",".join(str(k) for k in b) for b in p["groups"])
            rows = [("classifier", p["landmarks"]["classifier"]), ("tracker", p["landmarks"]["tracker"])]
            for label, block in _surrogates(sur):
                sp = block["levels"].get(pname, {}).get("landmarks")
                if sp:
                    rows.append((f"surrogate ({_SHORT.get(block.get('cov', 'diagonal'), label)})", sp))
            for i, (est, lm) in enumerate(rows):
                head = f"| {pname} | {blocks} | {p['H_prior']:.4f}" if i == 0 else "| | |"
                z = _sig(p["agreement"]["max_z"]) if i == 0 else ""
                lines.append(f"{head} | {est} | {_with_sd(lm, '10')} | {_with_sd(lm, '50')} | {_with_sd(lm, '90')} "
                             f"| {z} |")
    lines += ["", "## Cost", "", "| step | network rows | calls | seconds | note |", "|---|---|---|---|---|"]
    for k, c in result["cost"].items():
        lines.append(f"| {k} | {c.get('rows', '–')} | {c.get('calls') if c.get('calls') is not None else '–'} | "
                     f"{_sig(c.get('seconds'))} | {c.get('note', '')} |")
    return "\n".join(lines) + "\n"


def plot_real_model(result: dict[str, Any], out: Path, stem: str) -> list[Path]:
    """The three-panel figure (module docstring) as ``stem``.png/.pdf in ``out``."""
    sur = result["surrogate"]
    ssig = _arr(sur["sigma"])
    gi = result["guidance_interval"]
    with style():
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
        ax = axes[0]
        for k, d in result["curves"].items():
            s, v, e = _curve(d)
            c = COLORS.get(k)
            if k == "tracker":
                ax.plot(s, v, color=c, label=LABELS[k])
                ax.fill_between(s, v - 2 * e, v + 2 * e, color=c, alpha=0.2, lw=0)
            else:
                ax.errorbar(s, v, yerr=2 * e, fmt="o" if k == "classifier" else "s", ms=3.5, capsize=2, color=c,
                            label=LABELS.get(k, k))
        for i, (label, block) in enumerate(_surrogates(sur)):
            ax.plot(ssig, _arr(block["levels"]["classes"]["H"]), ":" if i == 0 else "-.",
                    color=COLORS["surrogate"], lw=1.5 if i == 0 else 0.9, alpha=1.0 if i == 0 else 0.6,
                    label=f"surrogate theory ({label})")
        lo, hi = (_nan(v) for v in gi["window_10_90"])
        if math.isfinite(lo) and math.isfinite(hi):
            ax.axvspan(lo, hi, color="#1f77b4", alpha=0.08, label="classifier 10–90 % window")
        for v in (gi["sigma_lo"], gi["sigma_hi"]):
            if v is not None:
                ax.axvline(v, color="k", lw=1, ls="--")
        if sur["sigma_S"] is not None:
            ax.axvline(sur["sigma_S"], color="purple", lw=1, ls="-.", label="σ_S = √(Λ − 1)")
        ax.axhline(result["H_Z"], color="grey", lw=0.7, ls=":")
        ax.set(xscale="log", xlabel="σ", ylabel="H[Z | X_σ] (nats)",
               title="class entropy (± 2 s.e., clipped; -- guidance interval)", ylim=(-0.15 * result["H_Z"],
                                                                              1.1 * result["H_Z"]))
        ax.legend(fontsize=7, loc="upper left")
        ax = axes[1]
        for k, d in result["rates"].items():
            s, v, e = _curve(d)
            c = COLORS.get(k)
            pos = v > 0
            (line,) = ax.plot(s[pos], v[pos], "-o" if k != "tracker" else "-", ms=3, color=c, label=LABELS.get(k, k))
            lo_b = np.maximum(v - 2 * e, 1e-12)
            ax.fill_between(s[pos], lo_b[pos], (v + 2 * e)[pos], color=line.get_color(), alpha=0.15, lw=0)
        peak = max((float(np.nanmax(_curve(d)[1])) for k, d in result["rates"].items()
                    if k in ("classifier", "tracker")), default=1.0)
        # log axis: a separate model's mismatch can exceed the class signal by orders of magnitude at small σ
        ax.set(xscale="log", yscale="log", xlabel="σ", ylabel="dH / dlog σ (nats)",
               title="entropy rate (± 2 s.e.; log axis, ≤ 0 not shown)", ylim=(1e-3 * peak, None))
        ax.legend(fontsize=7)
        ax = axes[2]
        cycle = ["#ff7f0e", "#17becf", "#bcbd22", "#e377c2"]
        for i, (pname, p) in enumerate(result["partitions"].items()):
            c = cycle[i % len(cycle)]
            hp = p["H_prior"]
            s, v, e = _curve(p["curves"]["classifier"])
            ax.errorbar(s, v / hp, yerr=2 * e / hp, fmt="o", ms=3.5, capsize=2, color=c, label=f"{pname}: classifier")
            s, v, e = _curve(p["curves"]["tracker"])
            ax.plot(s, v / hp, color=c, label=f"{pname}: tracker")
            if pname in sur["levels"]:
                ax.plot(ssig, _arr(sur["levels"][pname]["H"]) / hp, ":", color=c,
                        label=f"{pname}: surrogate ({_SHORT.get(sur.get('cov', 'diagonal'), '')})")
            lm = p["landmarks"]["classifier"]
            a, b = _nan(lm["sigma_10"]), _nan(lm["sigma_90"])
            if math.isfinite(a) and math.isfinite(b):
                ax.axvspan(a, b, color=c, alpha=0.07)
        ax.set(xscale="log", xlabel="σ", ylabel="H[Z_P | X_σ] / H[Z_P]", title="partitions (shaded: 10–90 %)",
               ylim=(-0.1, 1.1))
        if result["partitions"]:
            ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        return save(fig, Path(out), stem)


def write_real_model(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """``<name>.json``, ``<name>.md`` and ``<name>.png``/``.pdf`` of a ``run_real_model`` result in ``out_dir``."""
    if not isinstance(result, dict) or "curves" not in result or "name" not in result:
        raise ValueError("result must be the dict returned by run_real_model")
    out = ensure_writable_dir(Path(out_dir), "out_dir")
    name = result["name"]
    (out / f"{name}.json").write_text(json.dumps(result, indent=1, allow_nan=False))
    (out / f"{name}.md").write_text(real_model_markdown(result))
    return [out / f"{name}.json", out / f"{name}.md", *plot_real_model(result, out, name)]


def section_real_model(out: Path, size: str, model: dict[str, Any] | None = None) -> str:
    """Report section: the real-model experiment on the checkpoint ``model`` (``load_checkpoint`` keyword arguments
    with ``checkout`` and ``weights``; optional ``uncond``: the same for a separate unconditional model); without
    it, one line saying how to add it. Sizes: "smoke" / "quick" tiny runs, "full" the command's defaults."""
    size = check_size(size)
    if model is None:
        return ENABLE_HINT
    start = time.perf_counter()
    kw = dict(model)
    uncond_kw = kw.pop("uncond", None)
    net = bridge.models.load_checkpoint(kw.pop("checkout"), kw.pop("weights"), **kw)
    unet = None
    if uncond_kw is not None:
        ukw = dict(uncond_kw)
        unet = bridge.models.load_checkpoint(ukw.pop("checkout"), ukw.pop("weights"), **ukw)
    res = bridge.real_model.run_real_model(net, uncond_model=unet, **SIZES[size])
    write_real_model(res, Path(out) / "real_model")
    md = real_model_markdown(res).split("\n", 1)[1].replace("\n## ", "\n### ")
    return "\n".join(["## Real model: H[Z | X_σ] measured on your checkpoint", "", md.strip(), "",
                      "![real model](real_model/real_model.png)", "",
                      f"Real-model section computed in {time.perf_counter() - start:.0f} s (size {size}).", ""])
