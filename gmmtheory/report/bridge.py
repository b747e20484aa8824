"""The bridge in the report: the figures and Markdown pages of the bridge's runs, and the report section.

- ``entropy_figure``: H[Z | X_σ] curves against σ (log axis) with ±2 s.e. bands in each line's own colour, σ_S
  (t_S = ½ log Λ) dotted; ``write_gmm`` / ``write_real``: ``<name>.md`` and that figure from ``run_gmm`` /
  ``run_real`` results.
- ``plot_digits_comparison``: the digits testbed's three panels (H with bands, dH/dlog σ, the 10–90 % windows);
  ``digits_markdown`` and ``write_digits``: ``digits.md`` (windows table, verdict, fidelity) and the figure.
- ``section_bridge(out, size)``: the tracker bias table on the exact mixture, the digits testbed and the digits
  control study; size "smoke" | "quick" (two step counts, 200 trajectories, the tiny digits model) or "full".
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import gmmtheory.bridge as bridge  # the bridge's lazy face: torch is imported on first use of a name
from gmmtheory._sizes import check_size
from gmmtheory.presets import two_gaussians
from gmmtheory.report.bridge_control import section_digits_control
from gmmtheory.report.style import pyplot, save, style

if TYPE_CHECKING:
    from gmmtheory.bridge.digits import DigitsComparison

__all__ = ["STYLES", "digits_markdown", "entropy_figure", "missing_dependency", "plot_digits_comparison",
           "section_bridge", "write_digits", "write_gmm", "write_real"]

Curves = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]

STYLES = {
    "tracker": dict(color="#ff7f0e", ls="--"),
    "tracker_corrected": dict(color="#d62728", ls="-"),
    "denoiser_gap": dict(color="#1f77b4", ls="-"),
    "empirical": dict(color="black", ls="-"),
    "surrogate": dict(color="#2ca02c", ls=":"),
}


# ========================================================================================= gmm and real models
def entropy_figure(curves: Curves, out: Path, stem: str, title: str, sigma_s: float | None = None) -> list[Path]:
    """H[Z | X_σ] curves (name → (σ, H, stderr)) against σ, ±2 s.e. bands where stderr > 0; writes ``stem``.png/.pdf."""
    with style():
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for name, (s, v, e) in curves.items():
            (line,) = ax.plot(s, v, label=name)
            if np.any(e > 0):  # the band takes its own line's colour (the patch colour cycle runs separately)
                ax.fill_between(s, v - 2 * e, v + 2 * e, color=line.get_color(), alpha=0.25, lw=0)
        if sigma_s is not None and np.isfinite(sigma_s):
            ax.axvline(sigma_s, color="k", ls=":", label="σ_S (t_S = ½ log Λ)")
        ax.set_xscale("log")
        ax.set_xlabel("σ")
        ax.set_ylabel("H[Z | X_σ] (nats)")
        ax.set_title(title)
        ax.legend(fontsize=8)
        paths = save(fig, out, stem)
        plt.close(fig)
    return paths


def _curve(d: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.asarray(d["sigma"], np.float64), np.asarray(d["value"], np.float64), np.asarray(d["stderr"], np.float64)


def write_gmm(result: dict[str, Any], out: str | Path) -> list[Path]:
    """``gmm.md`` (bias table and agreement checks) and ``gmm.png``/``.pdf`` of a ``run_gmm`` result."""
    out = Path(out)
    mx, st, checks = result["mixture"], result["settings"], result["checks"]
    preset, d, n_samples, curve_steps = mx["preset"], mx["d"], st["n_samples"], st["curve_steps"]
    md = [f"Exact mixture ({preset}, d = {d}, K = {mx['K']}, μ̃ = {mx['mu']}), {n_samples} trajectories per row; "
          f"tracker curves on {curve_steps} steps.", "",
          bridge.format_bias_table(result["bias_table"]), "",
          "Agreement with the exact curves where they exceed 1 % of their maximum (see ``agreement``):", "",
          "| estimator | max \\|Δ\\| / stderr | max \\|Δ\\| (nats) | points |", "|---|---|---|---|"]
    md += [f"| {k} | {v['max_z']:.2f} | {v['max_abs']:.4f} | {v['n_points']} |" for k, v in checks.items()]
    (out / "gmm.md").write_text("\n".join(md) + "\n")
    ex, cv = result["exact"], result["curves"]
    tr_name, trc_name = f"tracker, {curve_steps} steps", f"corrected tracker, {curve_steps} steps"
    curves = {"exact": (np.asarray(ex["sigma"]), np.asarray(ex["H"]), np.asarray(ex["H_stderr"])),
              "denoiser gap (∫ rate)": _curve(cv["denoiser_gap_entropy"]),
              tr_name: _curve(cv["tracker"]), trc_name: _curve(cv["tracker_corrected"])}
    title = f"estimators on the exact mixture ({preset}, d = {d}, {n_samples} samples)"
    return entropy_figure(curves, out, "gmm", title)


def write_real(result: dict[str, Any], out: str | Path) -> list[Path]:
    """``<name>.md`` and ``<name>.png``/``.pdf`` of a ``run_real`` result (name = ``result["model"]``)."""
    out = Path(out)
    name, cl, st, theory = result["model"], result["classes"], result["settings"], result["surrogate"]
    md = [f"# {name}: H[Z | X_σ] on the model", "",
          f"classes {cl}; {st['n_samples']} trajectories, {st['steps']} steps, σ ∈ [{st['sigma_min']}, "
          f"{st['sigma_max']}], ρ = {st['rho']}; surrogate Λ = {theory['Lambda']:.4g}, σ_S = {theory['sigma_S']:.4g}; "
          f"{result['seconds']:.0f} s."]
    (out / f"{name}.md").write_text("\n".join(md) + "\n")
    curves = {k: _curve(m) for k, m in result["curves"].items() if k != "denoiser_gap_subset"}
    curves["denoiser gap (subset)"] = _curve(result["curves"]["denoiser_gap_subset"])
    curves["surrogate theory (subset)"] = (np.asarray(theory["sigma"], np.float64), np.asarray(theory["H"], np.float64),
                                           np.asarray(theory["stderr"], np.float64))
    return entropy_figure(curves, out, name, f"{name}: classes {cl}", theory["sigma_S"])


# ====================================================================================================== digits
def plot_digits_comparison(comp: DigitsComparison, out_dir: str | Path, stem: str = "digits") -> list[Path]:
    """Three panels against σ (log axis): H[Z | X_σ] with ±2 s.e. bands, dH/dlog σ, and the 10–90 % windows
    (bars, half-entropy dots, rate-peak crosses) of every curve, with σ_S marked. Writes ``stem``.png and .pdf."""
    if not isinstance(comp, bridge.DigitsComparison):
        raise ValueError(f"comp must be a DigitsComparison; got {type(comp).__name__}")
    sig_s = comp.speciation.get("sigma_speciation", float("nan"))
    with style():
        fig, axes = pyplot().subplots(1, 3, figsize=(15, 4.2))
        ax = axes[0]
        for name, m in comp.entropy.items():
            st = STYLES.get(name, {})
            (line,) = ax.plot(m.sigma, m.value, label=bridge.digits.LABELS.get(name, name), **st)
            ax.fill_between(m.sigma, m.value - 2 * m.stderr, m.value + 2 * m.stderr, color=line.get_color(),
                            alpha=0.15, lw=0)
        ax.axhline(comp.h_prior, color="grey", lw=0.8, ls=":")
        lo = -0.15 * comp.h_prior  # a measured curve can fall far below 0 (network error); keep the scale readable
        low = min(float(np.min(m.value)) for m in comp.entropy.values())
        title = "class-conditional entropy" + (f" (clipped; min {low:.1f})" if low < lo else "")
        ax.set(xscale="log", xlabel="σ", ylabel="H[Z | X_σ] (nats)", title=title, ylim=(lo, 1.1 * comp.h_prior))
        ax.legend(loc="upper left")
        ax = axes[1]
        for name, m in comp.rate.items():
            st = STYLES.get(name, {})
            (line,) = ax.plot(m.sigma, m.value, label=bridge.digits.LABELS.get(name, name), **st)
            ax.fill_between(m.sigma, m.value - 2 * m.stderr, m.value + 2 * m.stderr, color=line.get_color(),
                            alpha=0.15, lw=0)
        ax.set(xscale="log", xlabel="σ", ylabel="dH / dlog σ (nats)", title="entropy rate")
        ax.legend(loc="upper right")
        ax = axes[2]
        names = list(comp.windows)
        for i, name in enumerate(names):
            w = comp.windows[name]
            st = STYLES.get(name, {})
            if np.isfinite(w["h10"]) and np.isfinite(w["h90"]):
                ax.plot([math.exp(w["h10"]), math.exp(w["h90"])], [i, i], lw=6, alpha=0.5, color=st.get("color"))
            if np.isfinite(w["h50"]):
                ax.plot(math.exp(w["h50"]), i, "o", color=st.get("color"))
            if np.isfinite(w["peak"]):
                ax.plot(math.exp(w["peak"]), i, "x", color="black")
        for a in axes:
            if np.isfinite(sig_s):
                a.axvline(sig_s, color="purple", lw=1, ls="-.", label=None)
        ax.set_yticks(range(len(names)), [bridge.digits.LABELS.get(n, n) for n in names])
        ax.set(xscale="log", xlabel="σ", title="semantic windows (10–90 %; • half, × rate peak; -· σ_S)")
        ax.set_xlim(axes[0].get_xlim())
        ax.set_ylim(-0.6, len(names) - 0.4)
        fig.tight_layout()
        return save(fig, Path(out_dir), stem)


def digits_markdown(comp: DigitsComparison) -> str:
    """The page ``digits.md``: H[Z], the windows table (log σ), the verdict, fidelity and timings."""
    fmt_signed = bridge.digits.fmt_signed
    rows = ["| curve | h10 log σ | h50 log σ | h90 log σ | width | rate peak log σ |", "|---|---|---|---|---|---|"]
    for name, w in comp.windows.items():
        rows.append(f"| {bridge.digits.LABELS.get(name, name)} | {fmt_signed(w['h10'])} | "
                    f"{fmt_signed(w['h50'])} ± {abs(w['h50_err']):.3f} | "
                    f"{fmt_signed(w['h90'])} | {w['width']:.2f} | {fmt_signed(w['peak'])} |")
    fid = comp.meta.get("fidelity", {})
    acc = fid.get("conditional_sample_accuracy", float("nan"))
    return "\n".join([
        "# Digits testbed: measured vs predicted class-conditional entropy", "",
        f"H[Z] = {comp.h_prior:.4f} nats; x_σ = x_0 + σ ε on sklearn digits in {comp.meta.get('scale')}.", "",
        *rows, "",
        comp.verdict.replace("\n", "\n\n"), "",
        f"Fidelity: classifier accuracy on class-conditional samples {acc:.3f} "
        f"(classifier's held-out accuracy {fid.get('classifier_test_accuracy', float('nan')):.3f}).",
        f"Timings (s): {json.dumps({k: round(v, 1) for k, v in comp.meta.get('timings_s', {}).items()})}", "",
    ])


def write_digits(comp: DigitsComparison, out: str | Path) -> list[Path]:
    """``digits.md`` (``digits_markdown``) and ``digits.png``/``.pdf`` (``plot_digits_comparison``) in ``out``."""
    out = Path(out)
    (out / "digits.md").write_text(digits_markdown(comp))
    return [out / "digits.md", *plot_digits_comparison(comp, out)]


# ===================================================================================================== section
def missing_dependency() -> str | None:
    """The first of the bridge's required packages (torch, scikit-learn) that is not installed, or None."""
    for name in ("torch", "sklearn"):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules (as tests do) counts as missing
            found = False
        if not found:
            return name
    return None


def section_bridge(out: Path, size: str) -> str:
    """Report section: the tracker bias table on exact mixtures, the digits testbed against theory, digits control.

    "full": the bias table for two_gaussians(16, 0.5) at 16…256 steps with 500 trajectories, and the default digits
    run (reuses ``out/digits/digits_model.pt`` when an earlier full report trained it). "quick" and "smoke": two
    step counts, 200 trajectories and the tiny digits model (always retrained).
    """
    small = check_size(size) != "full"
    missing = missing_dependency()
    if missing is not None:
        return (f"## Bridge\n\nSkipped: the bridge needs torch, diffusers and scikit-learn ({missing} could not be "
                "imported; `pip install 'gmmtheory[bridge]'`, which `make report` does).\n")
    out = Path(out)
    start = time.perf_counter()
    steps, n = ((16, 64), 200) if small else ((16, 32, 64, 128, 256), 500)
    lines = ["## Bridge: the entropy measured on models, against exact theory", "",
             "### Tracker bias against the number of sampler steps (exact mixture model)", "",
             f"EDM ρ = 7 grid on [0.002, 80], {n} trajectories per row, exact H from `gt.class_entropy` (x_0 + σ ε). "
             "*paper*: the online tracker's Gaussian kernel on the ancestral sampler's trajectories; *corrected*: the "
             "kernel with the posterior covariance (σ_c² ∂D/∂x along the residual, one Jacobian-vector product) on the "
             "same trajectories; *sampler:ancestral*: the sampler's own error (exact posterior entropy at the sampled "
             "points − exact H), so paper/corrected = kernel error + sampler error; *corrected/posterior*: the "
             "corrected "
             "tracker on its own sampler, which draws z from the tracked posterior and steps with the class kernel. "
             "Columns: log-σ average of |bias| and the signed largest bias (at σ), in nats, ± one standard error; "
             "*kernel*: the tracker's error at the same points, the sampler's part removed.", ""]
    # two Gaussians: the exact reference is quadrature; a K-class table needs a 2·10⁵-draw Monte Carlo reference per
    # σ grid (`tracker_bias_table(k_classes(4, 16, 1.0))`), too slow for the report
    rows = bridge.tracker_bias_table(two_gaussians(16, 0.5), steps=steps, n_samples=n, seed=0)
    lines += ["**two Gaussians, d = 16, μ̃ = 0.5**", "", bridge.format_bias_table(rows), ""]
    model = out / "digits" / "digits_model.pt"
    comp = bridge.run_digits(out / "digits", size="tiny" if small else "default", seed=0, progress=False,
                      model_path=model if model.exists() and not small else None)
    write_digits(comp, out / "digits")
    md = (out / "digits" / "digits.md").read_text()
    lines += ["### Digits (scikit-learn's 1797 real 8×8 images): a trained model against theory", "",
              "A class-conditional MLP denoiser with label dropout (one net, conditional and unconditional) trained "
              "here on the CPU; H[Z | X_σ] measured by the trackers and the denoiser gap and held against the exact "
              "entropy of the training set (a mixture of points), a Gaussian-mixture surrogate (class means and "
              "covariances) and σ_S = √(Λ − 1) from t_S = ½ log Λ.", "",
              md.split("\n", 1)[1].strip(), "", "![digits](digits/digits.png)", "",
              f"Digits comparison computed in {time.perf_counter() - start:.0f} s (digits total "
              f"{comp.meta['timings_s']['total']:.0f} s).", ""]
    lines += [section_digits_control(out, size, model_path=out / "digits" / "digits_model.pt",
                                     comparison_path=out / "digits" / "digits.json")]
    return "\n".join(lines)
