"""The digits-model part of the control section: its front and schedule figures, tables and verdicts
(``section_digits_control``), and ``write_digits_control``, which writes them with ``digits_control.json``.

Verdict words follow ``report.control``: a paired difference Δ ± se is "lower" / "higher" beyond 2 se.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import gmmtheory.bridge as bridge  # the bridge's lazy face: importing the report imports no torch
from gmmtheory._sizes import check_size
from gmmtheory.report.control import front_figure, front_verdict, plot_schedules, plus_minus, significance_word
from gmmtheory.report.style import markdown_table

if TYPE_CHECKING:
    from gmmtheory.bridge.control import DigitsControl

__all__ = ["SMOKE_KWARGS", "FULL_KWARGS", "digits_control_markdown", "digits_control_verdicts",
           "section_digits_control", "write_digits_control"]

# digits_control settings per report size: smoke and quick (tiny model, small runs); full (the "default" model)
SMOKE_KWARGS = dict(n_samples=200, schedule_samples=200, w=(3.0,), n_edges=2, schedule_steps=(4, 8), reference_steps=32,
                    n_boot=50)
FULL_KWARGS = dict(n_samples=1000, schedule_samples=1000, n_boot=200)


def digits_control_verdicts(res: DigitsControl) -> list[str]:
    """The closing-note lines for the digits, computed from the numbers."""
    lines = []
    for s in res.front.summary(n_boot=res.meta.get("n_boot", 200)):
        e, ee, v, ve = s["d_error"], s["d_error_se"], s["d_div"], s["d_div_se"]
        verdict, place = front_verdict(s)
        lines.append(
            f"- digits, w = {s['w']:g}: the measured window ({s['sigma_lo']:.3g}, {s['sigma_hi']:.3g}) {verdict}: "
            f"classifier error {s['error_rec']:.4f} vs {s['error_cfg']:.4f} (Δ {plus_minus(e, ee)}), diversity loss "
            f"{s['div_rec']:.3f} vs {s['div_cfg']:.3f} (Δ {plus_minus(v, ve)}); it {place}.")
    for s in res.schedules.summary():
        f, fe = s["d_freq_shift_tv"], s["d_freq_shift_tv_se"]
        q, qe = s["d_frechet"], s["d_frechet_se"]
        ctrl = ""
        if "dc_frechet" in s:
            ctrl = (f"; against the log-uniform control (Fréchet {s['frechet_ctrl']:.3g}) the entropy schedule's "
                    f"Fréchet distance is {significance_word(s['dc_frechet'], s['dc_frechet_se'])} and its frequency "
                    f"shift {significance_word(s['dc_freq_shift_tv'], s['dc_freq_shift_tv_se'])}")
        lines.append(
            f"- digits schedule, N = {s['n_steps']}, β = {s['blend']:g} vs EDM: class-frequency shift "
            f"{s['freq_shift_tv_ent']:.3g} vs {s['freq_shift_tv_edm']:.3g} ({significance_word(f, fe)}, "
            f"Δ {plus_minus(f, fe)}); Fréchet distance {s['frechet_ent']:.3g} vs {s['frechet_edm']:.3g} "
            f"({significance_word(q, qe)}, Δ {plus_minus(q, qe)}){ctrl}.")
    return lines


def digits_control_markdown(res: DigitsControl) -> str:
    """The window sentence, the front's key rows and the schedule table, as Markdown."""
    w = res.window
    lines = [
        f"Digits model: window of the measured '{res.curve_name}' curve ({w.fraction:.0%} of −∫dH): σ ∈ "
        f"({w.sigma_lo:.3g}, {w.sigma_hi:.3g}), log-width {w.log_width:.3f} ± {w.log_width_se:.2g} (bootstrap).",
        "",
    ]
    key = [r for r in res.front.rows if r["kind"] != "grid"] + [r for r in res.front.pareto() if r["kind"] == "grid"]
    lines += markdown_table(key, [
        ("config", "name", ""), ("σ_lo", "sigma_lo", ".3g"), ("σ_hi", "sigma_hi", ".3g"),
        ("accuracy", "accuracy", ".4f"), ("error", "error", ".4f"), ("± se", "error_se", ".1g"),
        ("var ratio", "var_ratio", ".3f"), ("± se", "var_ratio_se", ".1g"), ("div loss", "div_loss", ".3f"),
        ("freq KL", "freq_kl", ".2g"), ("Pareto", "on_front", ""), ("err gap", "err_gap", ".3g"),
        ("div gap", "div_gap", ".3g")])
    lines += ["", "Schedules (unconditional, Heun, same initial states):", ""]
    lines += markdown_table(sorted(res.schedules.rows, key=lambda r: (r["n_steps"], r["blend"])), [
        ("N", "n_steps", "d"), ("schedule", "schedule", ""), ("freq TV vs π", "freq_tv", ".4f"),
        ("± se", "freq_tv_se", ".1g"), ("freq shift vs ref", "freq_shift_tv", ".4f"),
        ("± se", "freq_shift_tv_se", ".1g"), ("var ratio", "var_ratio_total", ".3f"),
        ("Fréchet", "frechet", ".3f"), ("± se", "frechet_se", ".1g")])
    return "\n".join(lines) + "\n"


def _json_value(v: object) -> object:
    """numpy scalars and arrays in ``DigitsControl.as_dict`` → JSON numbers and lists."""
    return v.tolist() if hasattr(v, "tolist") else str(v)


def write_digits_control(res: DigitsControl, out: str | Path, seconds: float | None = None) -> str:
    """Write the figures ``control_digits_front`` and ``control_digits_schedules`` (png, pdf) and
    ``digits_control.json`` (``DigitsControl.as_dict``) into ``out``; return the Markdown (tables, figures,
    verdicts)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    front_figure(res.front, out, "control_digits_front",
                 title=f"digits: window ({res.window.sigma_lo:.3g}, {res.window.sigma_hi:.3g})",
                 xlabel="error = 1 − classifier confidence in the target")
    plot_schedules([res.schedules], out, "control_digits_schedules")
    (out / "digits_control.json").write_text(json.dumps(res.as_dict(), indent=1, default=_json_value))
    lines = ["### Time-localized control on the digits model", "",
             "The guidance interval from the measured entropy curve's window against CFG everywhere and other "
             "intervals, and the entropy schedule against EDM's ρ-grid, on the trained digits model "
             "(`gmmtheory.bridge.control.digits_control`).", "", digits_control_markdown(res),
             "![digits front](control_digits_front.png)", "", "![digits schedules](control_digits_schedules.png)", "",
             *digits_control_verdicts(res), ""]
    if seconds is not None:
        lines += [f"_Digits control computed in {seconds:.1f} s._", ""]
    return "\n".join(lines) + "\n"


def section_digits_control(out: Path, size: str = "full", *, model_path: str | Path | None = None,
                           comparison_path: str | Path | None = None) -> str:
    """Report section for the digits model (``write_digits_control``'s files in ``out``). ``size``: "smoke" and
    "quick" train the tiny model with small runs (``SMOKE_KWARGS``) unless ``model_path`` is given; "full" uses the
    "default" model (``FULL_KWARGS``)."""
    start = time.perf_counter()
    small = check_size(size) != "full"
    res = bridge.run_digits_control(size="tiny" if small else "default", model_path=model_path,
                                    comparison_path=comparison_path, **(SMOKE_KWARGS if small else FULL_KWARGS))
    return write_digits_control(res, out, time.perf_counter() - start)
