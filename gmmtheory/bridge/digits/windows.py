"""Where a measured H[Z | X_σ] curve makes its semantic decision, in log σ (``measured_window``).

On the least-squares nondecreasing fit of H against ℓ = log σ (``_curves.isotonic_fit``): h_q = ℓ where the fit first
crosses q·H[Z] (q = 10 / 50 / 90 %, linear interpolation, ``_curves.crossing_bracket``), with error
stderr(H)/|dH/dℓ| there; width = h90 − h10; peak = the 3-point parabola vertex of the rate maximum
(``_curves.rate_peak``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gmmtheory._checks import check_positive
from gmmtheory._curves import crossing_bracket, isotonic_fit, rate_peak
from gmmtheory.bridge.base import Measurement

WINDOW_LEVELS = (0.1, 0.5, 0.9)


def measured_window(entropy: Measurement, h_prior: float, rate: Measurement | None = None) -> dict[str, Any]:
    """Where a measured H[Z | X_σ] curve makes its semantic decision, in log σ.

    ``h10``/``h50``/``h90``: log σ where H crosses 10 / 50 / 90 % of H[Z] = ``h_prior`` (on the least-squares
    nondecreasing fit of H against log σ — H is nondecreasing in σ by data processing — linearly interpolated;
    ``*_err`` = stderr(H)/|dH/dlog σ| there, one standard error), ``width`` = h90 − h10. ``peak``: log σ of the
    maximum of dH/dlog σ (from ``rate`` if given, else centred finite differences of H), refined by a parabola
    through the three grid points around it; ``peak_rate`` the rate there. nan marks what the grid does not reach.
    (Not ``gmmtheory.semantic_window``, the shortest σ-interval holding a fraction of the information.)
    """
    if not isinstance(entropy, Measurement):
        raise ValueError(f"entropy must be a Measurement; got {type(entropy).__name__}")
    h0 = check_positive("h_prior", h_prior)
    ls = np.log(np.asarray(entropy.sigma, np.float64))
    H = np.asarray(entropy.value, np.float64)
    se = np.asarray(entropy.stderr, np.float64)
    ok = np.isfinite(H) & np.isfinite(ls)
    ls, H, se = ls[ok], H[ok], se[ok]
    out: dict[str, Any] = {}
    nan = float("nan")
    fit = isotonic_fit(H, x=ls) if ls.size >= 2 else H
    for level in WINDOW_LEVELS:
        key = f"h{int(round(100 * level))}"
        bracket = crossing_bracket(fit, level * h0, direction="up")
        if bracket is None:
            out[key], out[key + "_err"] = nan, nan
            continue
        i, frac = bracket
        slope = (fit[i + 1] - fit[i]) / (ls[i + 1] - ls[i])
        out[key] = float(ls[i] + frac * (ls[i + 1] - ls[i]))
        se_here = (1 - frac) * se[i] + frac * se[i + 1]
        out[key + "_err"] = float(se_here / slope) if slope > 0 else nan
    out["width"] = out["h90"] - out["h10"]
    if rate is not None:
        if not isinstance(rate, Measurement):
            raise ValueError(f"rate must be a Measurement or None; got {type(rate).__name__}")
        rl, rv = np.log(np.asarray(rate.sigma, np.float64)), np.asarray(rate.value, np.float64)
        good = np.isfinite(rv)
        rl, rv = rl[good], rv[good]
        out["peak_source"] = "rate"
    else:
        rl, rv = ls, (np.gradient(H, ls) if ls.size >= 3 else np.full(ls.size, nan))
        out["peak_source"] = "finite_differences"
    out["peak"], out["peak_rate"] = rate_peak(rl, rv, edge=1, refine="parabola")
    return out
