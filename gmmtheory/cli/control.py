"""``gmmtheory control {window,interval,front,schedule}``: the options, their checks and the command.

window: semantic windows per level; interval: the recommended guidance interval of one level; front: the
fidelity–diversity front; schedule: entropy schedules against EDM's ρ = 7 grid (``gmmtheory.control``). An option
that does not act for the action given is refused (``CLI_OPTIONS``); the documented defaults are ``CLI_DEFAULTS``.
σ is the EDM noise level σ_t/a_t; t_lo/t_hi are the window's ends in --process's time.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gmmtheory.cli.options import (
    SIGMA_DEFINITION,
    add_format_args,
    add_mixture_args,
    emit,
    half_entropy_time,
    mixture_and_partitions,
    parse_list,
    prepare_out,
    time_description,
)
from gmmtheory.control.fronts import fidelity_diversity_front
from gmmtheory.control.schedules import schedule_comparison
from gmmtheory.control.theory import CURVE_SAMPLES, TheoryWindows, recommend_window, theory_window
from gmmtheory.landmarks import speciation_time
from gmmtheory.mixture import GaussianMixture, prior_entropy
from gmmtheory.processes import EDM, get_process
from gmmtheory.report.control import front_figure, plot_schedules, plot_window_levels

__all__ = ["CLI_DEFAULTS", "CLI_OPTIONS", "add_parser", "run"]

CLI_OPTIONS = {  # the options each action uses; any other one given is refused (it would not act)
    "window": {"fraction", "n_samples", "seed", "process"},
    "interval": {"level", "fraction", "n_samples", "seed", "process"},
    "front": {"level", "fraction", "w", "n_steps", "churn", "n_samples_sim", "n_samples", "seed"},
    "schedule": {"level", "steps", "blends", "churn", "n_samples_sim", "seed"},
}
CLI_DEFAULTS: dict[str, Any] = {"level": "classes", "fraction": 0.8, "w": "2,4", "steps": "4,8,16,32",
                                "blends": "0,0.5,1", "n_steps": 64, "churn": 0.0, "n_samples_sim": 2048,
                                "n_samples": None, "seed": 0, "process": "ou"}


def _cli_options(args: argparse.Namespace) -> None:
    """Refuse the options that do not act for ``args.action`` (``CLI_OPTIONS``), then fill in ``CLI_DEFAULTS``."""
    used = CLI_OPTIONS[args.action]
    given = [k for k in CLI_DEFAULTS if getattr(args, k) is not None and k not in used]
    if given:
        opts = ", ".join("--" + k.replace("_", "-") for k in given)
        where = {k: [a for a, s in CLI_OPTIONS.items() if k in s] for k in given}
        detail = "; ".join(f"--{k.replace('_', '-')} applies to {', '.join(v) if v else 'no action'}"
                           for k, v in where.items())
        raise ValueError(f"{opts} would not act with 'control {args.action}' ({detail}); drop {opts}")
    for k, v in CLI_DEFAULTS.items():
        if getattr(args, k) is None:
            setattr(args, k, v)


def _cli_level(spec: str, mixture: GaussianMixture, parts: dict | None) -> str | int:
    if spec == "classes" or (parts and spec in parts):
        return spec
    try:
        level = int(spec)
    except ValueError:
        names = "'classes'" + "".join(f", {n!r}" for n in (parts or {}))
        raise ValueError(f"--level must be {names} or a class index 0..{mixture.K - 1}; got {spec!r}") from None
    if not 0 <= level < mixture.K:
        raise ValueError(f"--level must be a class index 0..{mixture.K - 1} (or a level name); got {level}")
    return level


def _window_rows(tw: TheoryWindows, names: Sequence[str]) -> list[dict]:
    rows = []
    for r in tw.rows():
        if r["level"] in names:
            w = tw.windows[r["level"]]
            rows.append({**r, "log_sigma_lo_se": w.log_lo_se, "log_sigma_hi_se": w.log_hi_se, "n_boot": w.n_boot})
    return rows


def _window_marks(tw: TheoryWindows, mixture: GaussianMixture, first: str) -> dict[str, float]:
    """t_S (spectral speciation, as EDM σ) and the σ where the first level's H crosses ½ H[Z_P]."""
    return {"t_S (spectral speciation)": float(speciation_time(mixture, EDM())),
            "half-entropy σ": half_entropy_time(tw.sigma, tw.curves[first][0], tw.h_prior[first])}


def run(args: argparse.Namespace) -> int:
    """Run ``gmmtheory control ACTION``: window, interval, front or schedule."""
    _cli_options(args)
    process = get_process(args.process) if args.action in ("window", "interval") else None
    mix, parts = mixture_and_partitions(args)
    level = _cli_level(args.level, mix, parts)
    if args.action == "schedule" and isinstance(level, int):
        raise ValueError("--level for 'control schedule' must be 'classes' or a partition name (the schedule follows "
                         f"the entropy of a level's groups); got the class index {level}")
    part = parts[level] if parts and isinstance(level, str) and level in parts else None
    out_dir = prepare_out(args.out)
    meta: dict[str, Any] = {"mixture": repr(mix), "K": mix.K, "d": mix.d, "action": args.action,
                            "time_variable": "σ", "time_units": SIGMA_DEFINITION, "sigma": SIGMA_DEFINITION,
                            "H_Z": prior_entropy(mix, None) + 0.0, "H_units": "nats", "key": args.seed}
    rows: list[dict]
    columns: dict[str, str] | None = None
    if args.action in ("window", "interval"):
        if args.action == "window":
            tw = theory_window(mix, process, partition=parts, fraction=args.fraction, n_samples=args.n_samples,
                               key=args.seed)
            names = list(tw.windows)
        else:
            per_class = isinstance(level, int) and mix.K > 2
            name = (f"class {level}" if per_class else "classes") if isinstance(level, int) else level
            tw = theory_window(mix, process, partition=parts, fraction=args.fraction, per_class=per_class,
                               n_samples=args.n_samples, key=args.seed)
            names = [name]
        rows = _window_rows(tw, names)
        if args.action == "interval":
            rows = [{"level": str(level), **{k: v for k, v in r.items() if k != "level"}} for r in rows]
        mc = any(m not in ("quadrature", "exact") for m in tw.methods.values())
        meta.update(process=repr(process), method=sorted(set(tw.methods.values())),
                    draws=(CURVE_SAMPLES if args.n_samples is None else args.n_samples) if mc else None,
                    native_time=f"t_lo, t_hi: {time_description(process)} (t = t(λ), λ = −2 log σ)")
        if not mc:
            meta["key"] = None
        columns = {"sigma_lo": f"lower end of the window, {SIGMA_DEFINITION}", "sigma_hi": "upper end (σ)",
                   "log_width": "log(σ_hi/σ_lo)", "log_width_se": "bootstrap standard error of log_width (nan: exact)",
                   "log_sigma_lo_se": "bootstrap standard error of log σ_lo", "log_sigma_hi_se": "of log σ_hi",
                   "t_lo": f"σ_lo in --process's time: {time_description(process)}", "t_hi": "σ_hi in that time",
                   "produced": "nats produced over the grid", "held": "share the raw curve holds in the window",
                   "H_prior": "H[Z_P] (nats)"}
        if out_dir is not None:
            plot_window_levels(tw, names, _window_marks(tw, mix, names[0]), out_dir, f"control_{args.action}")
    elif args.action == "front":
        win = recommend_window(mix, partition=parts, level=level, fraction=args.fraction, n_samples=args.n_samples,
                               key=args.seed)
        fr = fidelity_diversity_front(mix, w=parse_list(args.w, "--w"), partition=part, window=win,
                                      fraction=args.fraction, n_samples=args.n_samples_sim, n_steps=args.n_steps,
                                      S_churn=args.churn, key=args.seed, case=args.preset or "mixture")
        rows = [{k: v for k, v in r.items() if k != "dominated_by"} for r in fr.rows]
        meta.update(process="EDM sampler in σ", method="exact-score EDM sampler", draws=args.n_samples_sim,
                    n_steps=args.n_steps, S_churn=args.churn)
        if out_dir is not None:
            front_figure(fr, out_dir, "front")
    else:
        steps = tuple(int(v) for v in parse_list(args.steps, "--steps"))
        comp = schedule_comparison(mix, steps, blends=parse_list(args.blends, "--blends"), partition=part,
                                   n_samples=args.n_samples_sim, S_churn=args.churn, key=args.seed,
                                   case=args.preset or "mixture")
        rows = comp.rows
        meta.update(process="EDM sampler in σ", method="exact-score EDM sampler", draws=args.n_samples_sim,
                    S_churn=args.churn)
        if out_dir is not None:
            plot_schedules([comp], out_dir, "schedules")
    emit(f"control {args.action}", meta, rows, columns, args.format, out_dir, f"control_{args.action}")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``gmmtheory control {window,interval,front,schedule}``."""
    p = sub.add_parser(
        "control",
        help="semantic windows, recommended guidance intervals, fidelity–diversity fronts, entropy schedules",
        description="Time-localized control from the entropy signature (exact Gaussian-mixture ground truth). "
                    "σ is the EDM noise level σ_t/a_t; t_lo/t_hi are the window's ends in --process's time. An "
                    "option that does not act for the action given is refused.",
        epilog=("examples:\n  gmmtheory control window --preset hierarchical --d 64 --mu 0.3\n"
                "  gmmtheory control interval --preset kclasses --K 4 --d 64 --mu 0.2 --level 2 --process vp\n"
                "  gmmtheory control front --preset two --d 64 --mu 0.2 --w 2,4 --out out/control\n"
                "  gmmtheory control schedule --preset kclasses --d 64 --mu 0.5 --steps 4,8,16 --json"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["window", "interval", "front", "schedule"],
                   help="window: semantic windows per level; interval: the recommended guidance interval; front: "
                        "fidelity–diversity front; schedule: entropy schedule vs EDM ρ = 7")
    add_mixture_args(p)
    p.set_defaults(process=None)
    p.add_argument("--level", default=None,
                   help="interval/front/schedule: guided level: classes, coarse (hierarchical) or a class index "
                        "(interval/front) (default classes)")
    p.add_argument("--fraction", type=float, default=None,
                   help="window/interval/front: share of the information the window holds (default 0.8)")
    p.add_argument("--w", default=None, help="front: comma list of guidance scales (default 2,4)")
    p.add_argument("--steps", default=None, help="schedule: comma list of step counts (default 4,8,16,32)")
    p.add_argument("--blends", default=None, help="schedule: comma list of blends β (default 0,0.5,1)")
    p.add_argument("--n-steps", type=int, default=None, help="front: sampler steps (default 64)")
    p.add_argument("--churn", type=float, default=None, help="front/schedule: EDM S_churn (default 0: Heun)")
    p.add_argument("--n-samples-sim", type=int, default=None,
                   help="front/schedule: samples per sampler run (default 2048)")
    p.add_argument("--n-samples", type=int, default=None,
                   help="window/interval/front: Monte Carlo draws of non-exact entropy curves (default 2^14)")
    p.add_argument("--seed", type=int, default=None, help="PRNG seed (default 0)")
    p.add_argument("--out", type=Path, help="write control_ACTION.json/.csv and the figure into this directory")
    add_format_args(p)
    p.set_defaults(func=run)
