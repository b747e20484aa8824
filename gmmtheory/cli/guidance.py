"""The ``gmmtheory guidance`` subcommand: the guidance study (``studies.guidance.guidance_study``) as a table, JSON
or CSV, with the Monte Carlo standard error of each landmark beside it; ``--out`` also writes the files and the
figure (CE(σ) = E −log p_t(z | x_t) against the unguided H[Z | X_t], in OU time t = ½ log(1 + σ²)).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gmmtheory.cli.options import SIGMA_DEFINITION, add_format_args, emit, list_type, prepare_out
from gmmtheory.dynamics import SAMPLERS
from gmmtheory.report.guidance import profiles_figure
from gmmtheory.studies.guidance import INTERVALS, WS, GuidanceStudy, default_mixtures, guidance_study

PRESET_CASES = {"two": ["two"], "kclasses": ["kclasses"], "hierarchical": ["hier/classes", "hier/super"]}
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


def cmd_guidance(args: argparse.Namespace) -> int:
    """Run the study of the options, print it and (``--out``) write guidance.json/.csv and the figure."""
    if args.d < 1:
        raise ValueError(f"--d must be an integer ≥ 1; got {args.d}")
    cases = default_mixtures(args.d)
    if args.preset != "all":
        cases = {k: cases[k] for k in PRESET_CASES[args.preset]}
    intervals = tuple(v.strip() for v in args.intervals.split(",") if v.strip())
    bad = [v for v in intervals if v not in INTERVALS]
    if bad or not intervals:
        raise ValueError(f"--intervals must be a comma list among {', '.join(INTERVALS)}; got {args.intervals!r}")
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
        profiles_figure(study, cases, out_dir)
    return 0


def add_parser(sub) -> None:
    """Register ``gmmtheory guidance``: the guidance study as a table / JSON / CSV (``--out`` also writes files)."""
    p = sub.add_parser(
        "guidance", help="how CFG / interval guidance moves the semantic window, and its diversity cost",
        description="Guided cross-entropy profiles with exact mixture scores against the unguided theory.",
    )
    p.add_argument("--preset", default="all", choices=["all", *PRESET_CASES],
                   help="which study case(s) (default all)")
    p.add_argument("--d", type=int, default=256, help="dimension (default 256)")
    p.add_argument("--w", type=list_type("--w", float, nonempty=True), default=WS,
                   help="comma list of guidance scales (default 1,1.5,2,3,5)")
    p.add_argument("--intervals", default=",".join(INTERVALS),
                   help="comma list among all,edm2,window,before,after (default: all of them)")
    p.add_argument("--sampler", default="edm", choices=list(SAMPLERS), help="sampler (default edm)")
    p.add_argument("--n-steps", type=int, default=64, help="sampler steps (default 64)")
    p.add_argument("--n-samples", type=int, default=2048, help="trajectories per run (default 2048)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    p.add_argument("--out", type=Path,
                   help="also write guidance.json, guidance.csv and the figure guidance_profiles.png/.pdf here")
    add_format_args(p)
    p.set_defaults(func=cmd_guidance)
