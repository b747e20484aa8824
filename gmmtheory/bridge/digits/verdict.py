"""The digits testbed's verdict: each measured semantic window against the exact training-set and surrogate
predictions, in log σ, and what the measured curves do at low noise (where the exact H[Z | X_σ] is 0).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gmmtheory.bridge.base import Measurement

CURVES = ("tracker", "tracker_corrected", "denoiser_gap", "empirical", "surrogate")
PREDICTED = ("empirical", "surrogate")
MEASURED = ("denoiser_gap", "tracker_corrected", "tracker")
LABELS = {
    "tracker": "tracker (paper)",
    "tracker_corrected": "tracker (corrected)",
    "denoiser_gap": "denoiser gap",
    "empirical": "exact, training set",
    "surrogate": "Gaussian-mixture surrogate",
}



def fmt_signed(v: float, nd: int = 2) -> str:
    """``v`` with its sign and ``nd`` decimals, "n/a" for None or a non-finite value."""
    return "n/a" if v is None or not np.isfinite(v) else f"{v:+.{nd}f}"


def _low_noise_note(entropy: dict[str, Measurement], rate: dict[str, Measurement]) -> list[str]:
    """What the measured curves do at the bottom of their grids, where the exact H[Z | X_σ] is 0."""
    out = []
    g, e = rate.get("denoiser_gap"), rate.get("empirical")
    if g is not None and g.value.size:
        ex = f" (exact training set {e.value[0]:.3f})" if e is not None and np.isclose(e.sigma[0], g.sigma[0]) else ""
        note = (f"Denoiser-gap rate at the smallest σ = {g.sigma[0]:.3g}: {g.value[0]:.3f} ± {g.stderr[0]:.3f} "
                "nats per "
                f"log σ{ex}; this floor is network error in ε̂(x, z) − ε̂(x) (rate = E‖ε̂_z − ε̂_u‖²), not semantic "
                "information")
        H = entropy.get("denoiser_gap")
        if H is not None and np.any(H.value < 0):
            note += (f", and integrated from the top it drives the gap entropy below 0 for σ < "
                     f"{float(H.sigma[H.value < 0].max()):.3g} (minimum {float(H.value.min()):.2f} nats)")
        out.append(note + ".")
    parts = [f"{LABELS[n]} {entropy[n].value[0]:.3f} ± {entropy[n].stderr[0]:.3f}"
             for n in ("tracker", "tracker_corrected") if n in entropy and entropy[n].value.size]
    if parts:
        out.append(f"Trackers at their smallest σ = {entropy['tracker'].sigma[0]:.3g}: H = " + ", ".join(parts)
                   + " nats (exact: 0).")
    return out


def digits_verdict(windows: dict[str, dict[str, Any]], speciation: dict[str, float],
                   entropy: dict[str, Measurement] | None = None, rate: dict[str, Measurement] | None = None) -> str:
    """A short text: each measured window against the exact training-set and surrogate predictions, in log σ
    (and, given the curves, what the measured curves do at low noise)."""
    lines = []
    emp, sur = windows.get("empirical", {}), windows.get("surrogate", {})
    for name, w in windows.items():
        lines.append(
            f"{LABELS.get(name, name)}: 10–90 % window log σ ∈ [{fmt_signed(w['h10'])}, {fmt_signed(w['h90'])}] "
            f"(σ ∈ [{math.exp(w['h10']) if np.isfinite(w['h10']) else float('nan'):.3g}, "
            f"{math.exp(w['h90']) if np.isfinite(w['h90']) else float('nan'):.3g}]), half-entropy at "
            f"{fmt_signed(w['h50'])} ± {abs(w.get('h50_err', float('nan'))):.3f}, rate peak at {fmt_signed(w['peak'])}."
        )
    ls_s = speciation.get("log_sigma_speciation", float("nan"))
    lines.append(f"Spectral speciation t_S = ½ log Λ = {speciation.get('t_speciation_ou', float('nan')):.3f} (OU time, "
                 f"Λ = {speciation.get('top_eigenvalue', float('nan')):.3f}) ↦ σ_S = √(Λ − 1) = "
                 f"{speciation.get('sigma_speciation', float('nan')):.3f}, log σ_S = {fmt_signed(ls_s)}.")
    for name in MEASURED:
        w = windows.get(name)
        if not w:
            continue
        d_emp = w["h50"] - emp.get("h50", float("nan"))
        d_sur = w["h50"] - sur.get("h50", float("nan"))
        where = (f"lies {'inside' if w['h10'] <= ls_s <= w['h90'] else 'below' if ls_s < w['h10'] else 'above'} "
                 "the measured window") if np.isfinite(ls_s) and np.isfinite(w["h10"]) and np.isfinite(w["h90"]) \
            else "cannot be placed (the measured curve does not cross both 10 % and 90 % of H[Z] on its grid)"
        lines.append(
            f"Measured ({LABELS[name]}): half-entropy point {fmt_signed(d_emp)} in log σ from the exact training-set "
            f"prediction (σ ratio {math.exp(d_emp) if np.isfinite(d_emp) else float('nan'):.2f}) and "
            f"{fmt_signed(d_sur)} "
            f"from the Gaussian surrogate; window width {w['width']:.2f} vs {emp.get('width', float('nan')):.2f} "
            f"(training set) and {sur.get('width', float('nan')):.2f} (surrogate); σ_S {where}."
        )
    if entropy is not None and rate is not None:
        lines.extend(_low_noise_note(entropy, rate))
    return "\n".join(lines)
