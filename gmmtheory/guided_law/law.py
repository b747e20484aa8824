"""The public entry points: ``sampler_law`` (exact law of a discrete sampler) and ``guided_law`` (continuous time)."""

from __future__ import annotations

import math

import numpy as np

from gmmtheory._checks import check_choice, check_count, check_nonnegative, check_positive
from gmmtheory._precision import in_float64
from gmmtheory.dynamics.grid import check_interval, make_grid
from gmmtheory.guided_law.chains import propagate
from gmmtheory.guided_law.coordinates import class_line
from gmmtheory.guided_law.flow import ode_law, sde_law
from gmmtheory.guided_law.fokker_planck import sde_law_fp
from gmmtheory.guided_law.profile import GuidedLaw, final_statistics, rates
from gmmtheory.guided_law.sigma_grid import reported_sigmas
from gmmtheory.processes import OU

__all__ = ["guided_law", "sampler_law"]


def _common(mixture, w, interval, label):
    line = class_line(mixture)
    w = check_nonnegative("w", w)
    iv = (0.0, math.inf) if interval is None else check_interval(interval)
    if label == "prior":
        targets = [(0, float(line.weights[0])), (1, float(line.weights[1]))]
    elif label in (0, 1) and not isinstance(label, bool):
        targets = [(int(label), 1.0)]
    else:
        raise ValueError(f"label must be 0, 1 or 'prior'; got {label!r}")
    return line, w, iv, targets


def _assemble(line, sigma, ce, ent, laws, a_end, s2_end, error, settings) -> GuidedLaw:
    rt, rl = rates(sigma, ce)
    st = final_statistics(line, laws, a_end, s2_end)
    return GuidedLaw(sigma, 0.5 * np.log1p(sigma**2), ce, rt, rl, ent, st["freq"], st["overshoot"], st["var_ratio"],
                     float(error), settings)


@in_float64
def sampler_law(mixture, *, sampler: str = "sde", n_steps: int = 64, w: float = 1.0, interval=None, label=0,
                process=None, T=None, S_churn: float = 40.0, S_min: float = 0.05, S_max: float = 50.0,
                S_noise: float = 1.0, sigmas=None, dy: float = 0.2) -> GuidedLaw:
    """Exact law of the class coordinate under the discrete sampler of ``dynamics.kernel`` ("sde" Euler–Maruyama,
    "ode" Heun, "edm" Karras Alg. 2 with churn) on ``dynamics.make_grid(sampler, n_steps, ...)``, target ``label``
    (0, 1 or "prior": z ~ π), CFG scale ``w`` inside ``interval`` (σ_lo, σ_hi) (None: everywhere), started from
    p_T(· | z). ``dy``: node spacing in class sd (the noise lattice is also ≤ √v/2). Curves at every grid point;
    ``error`` = the largest mass defect |1 − Σw| along the run."""
    sampler = check_choice("sampler", sampler, ("sde", "ode", "edm"))
    line, w, iv, targets = _common(mixture, w, interval, label)
    dy = check_positive("dy", dy)
    S_noise = check_nonnegative("S_noise", S_noise)
    kw = {"S_churn": S_churn, "S_min": S_min, "S_max": S_max, "sigmas": sigmas} if sampler == "edm" else \
        {"process": process, "T": T}
    grid = make_grid(sampler, n_steps, **kw)
    ce = np.zeros(grid.t.size)
    ent = np.zeros(grid.t.size)
    laws, err = [], 0.0
    for z, pz in targets:
        r = propagate(line, grid, sampler, z, w, iv, dy=dy, s_noise=S_noise)
        ce += pz * r.ce
        ent += pz * r.entropy
        err = max(err, float(np.max(np.abs(r.mass - 1.0))))
        laws.append((z, pz, r.y, r.w))
    settings = {"kind": "discrete", "sampler": sampler, "n_steps": int(n_steps), "w": w, "interval": iv,
                "label": label, "dy": dy, "process": None if sampler == "edm" else repr(process or OU())}
    return _assemble(line, np.asarray(grid.sigma, float), ce, ent, laws, float(grid.a[-1]), float(grid.s2[-1]),
                     err, settings)


@in_float64
def guided_law(mixture, *, sampler: str = "ode", w: float = 1.0, interval=None, label="prior", process=None,
               T=None, sigmas=None, dy: float = 0.1, engine: str = "fokker_planck", m: int = 2) -> GuidedLaw:
    """Law of the class coordinate under the continuous-time guided reverse SDE or probability-flow ODE (``flow``;
    the same at equal σ̃ = σ/a in every process, which only sets the start σ̃_T = σ(T)/a(T)). ``sigmas``: the
    decreasing reported σ̃ grid (first = start; default ``sigma_grid.default_sigmas``).

    "ode": the initial quadrature (node spacing ``dy`` class sd) moved along the characteristics.
    "sde", ``engine="fokker_planck"`` (default): ``fokker_planck.sde_law_fp`` with its defaults (CE error ~1e-11,
    cost about independent of d for w ≥ 1). ``engine="richardson"``: Richardson extrapolation of exact EM laws with
    m, 2m, 4m steps per reported interval (cost grows like 1/σ_min; its ``error`` estimate is unreliable on coarse
    reported grids at large w, e.g. CE off by 1.36 at w = 3 on the default grid: kept only as an independent check
    on fine grids). ``dy`` and ``m`` are not used by the Fokker–Planck engine."""
    sampler = check_choice("sampler", sampler, ("sde", "ode"))
    engine = check_choice("engine", engine, ("fokker_planck", "richardson"))
    line, w, iv, targets = _common(mixture, w, interval, label)
    dy = check_positive("dy", dy)
    m = check_count("m", m, 1)
    sig = reported_sigmas(sigmas, process, T)
    if sampler == "sde" and engine == "fokker_planck":
        return sde_law_fp(mixture, w=w, interval=interval, label=label, sigmas=sig)
    ce, ent = np.zeros(sig.size), np.zeros(sig.size)
    laws, err = [], 0.0
    for z, pz in targets:
        if sampler == "ode":
            r = ode_law(line, sig, z, w, iv, dy=dy)
            y, wt = r["y"], r["w"]
        else:
            r = sde_law(line, sig, z, w, iv, dy=dy, m=m)
            y, wt = r["finest"].y, r["finest"].w
            err = max(err, float(np.max(r["ce_err"])))
        ce += pz * r["ce"]
        ent += pz * r["entropy"]
        laws.append((z, pz, y, wt))
    settings = {"kind": "continuous", "sampler": sampler, "w": w, "interval": iv, "label": label, "dy": dy}
    if sampler == "sde":
        settings.update(engine="richardson", m=m)
    return _assemble(line, sig, ce, ent, laws, 1.0, float(sig[-1]) ** 2, err, settings)
