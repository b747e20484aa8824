"""The ``gmmtheory guidance`` subcommand: the guidance study (``studies.guidance.guidance_study``) as a table, JSON
or CSV, with the Monte Carlo standard error of each landmark beside it; ``--out`` also writes the files and the
figure (CE(σ) = E −log p_t(z | x_t) against the unguided H[Z | X_t], in OU time t = ½ log(1 + σ²)).

``--exact``: instead of Monte Carlo, the exact guided probability-flow law of two Gaussians
(``studies.guided_law.redistribution_study``), and with ``--preset kclasses|hierarchical|all`` of three classes and
the hierarchy (``studies.guided_law.multiclass_study``): the half-entropy shift, window and peak-rate ratios and the
information moved into the interval, for each --d and --w; ``--grids`` adds the practitioners' grid table and the
exact cost of few steps (``studies.guided_law.grid_study``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gmmtheory.cli.options import SIGMA_DEFINITION, add_format_args, emit, list_type, prepare_out
from gmmtheory.dynamics import SAMPLERS
from gmmtheory.guided_law.multiclass import REDISTRIBUTION_INTERVALS
from gmmtheory.report.guidance import profiles_figure
from gmmtheory.studies.guidance import INTERVALS, WS, GuidanceStudy, default_mixtures, guidance_study
from gmmtheory.studies.guided_law import grid_study, multiclass_study, redistribution_study

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


def _dims(spec: str) -> tuple[int, ...]:
    """--d: a comma list of dimensions, each an integer ≥ 1 (1e6 allowed)."""
    out = []
    for v in spec.split(","):
        try:
            f = float(v)
        except ValueError:
            f = float("nan")
        if not (f >= 1 and f == int(f)):
            raise argparse.ArgumentTypeError(f"--d must be a comma list of integers ≥ 1 (e.g. 10,1e6); got {spec!r}")
        out.append(int(f))
    return tuple(out)


EXACT_PRESETS = ("two", "kclasses", "hierarchical")


def _exact_presets(preset: str | None) -> tuple[str, ...]:
    """--preset with --exact: one of two / kclasses / hierarchical, or all (the three); default two."""
    return ("two",) if preset is None else EXACT_PRESETS if preset == "all" else (preset,)


def cmd_exact(args: argparse.Namespace, intervals: tuple[str, ...]) -> int:
    """--exact: the exact study per --preset (two Gaussians: ``redistribution_study``, with --grids the grid table;
    kclasses / hierarchical: ``multiclass_study``), printed and (--out) written as guidance_exact*.json."""
    presets = _exact_presets(args.preset)
    bad_w = [w for w in args.w if w < 1]
    if bad_w:
        raise ValueError(f"--exact needs guidance scales --w ≥ 1; got {bad_w}")
    least = 8 if "two" in presets else 2  # universal_flow needs ≥ 8 Gauss–Hermite nodes, multiclass_law ≥ 2
    if args.n_nodes is not None and args.n_nodes < least:
        raise ValueError(f"--n-nodes must be an integer ≥ {least} for --preset {args.preset or 'two'}; "
                         f"got {args.n_nodes}")
    multi = [p for p in presets if p != "two"]
    mc_intervals = tuple(v for v in intervals if v in REDISTRIBUTION_INTERVALS)
    if multi and not mc_intervals:
        raise ValueError(f"--preset {args.preset} (three classes, hierarchy) supports --intervals "
                         f"{', '.join(REDISTRIBUTION_INTERVALS)} only; got {','.join(intervals)}")
    if args.grids and "two" not in presets:
        raise ValueError("--grids is computed for two Gaussians: use --preset two or all")
    out_dir = prepare_out(args.out)
    meta = {"method": "exact guided probability-flow law (no Monte Carlo)",
            "time_variable": "OU time t = ½ log(1 + σ²)", "sigma": SIGMA_DEFINITION, "H_units": "nats"}
    columns = {"shift_t": "half-entropy OU time, guided − unguided", "shift_logsigma": "the same in log σ"}
    if "two" in presets:
        rows = redistribution_study(args.w, args.d, intervals, **({} if args.n_nodes is None else
                                                                   {"n_nodes": args.n_nodes}))
        emit("guidance --exact", {"case": "two Gaussians N(±m e, I), m = √d·0.5", **meta,
                                  "engine": "universal ODE in q = m²/(1+σ²), Gauss–Hermite nodes"}, rows,
             {**columns, "info_moved": "share of the CE drop inside the interval, guided − unguided"}, args.format,
             out_dir, "guidance_exact")
    if multi:
        rows = multiclass_study(multi, args.w, args.d, mc_intervals, n_nodes=args.n_nodes)
        emit("guidance --exact (three classes / hierarchy)",
             {"case": "kclasses: K = 3, μ̃ = 0.5, orthogonal means; hierarchical: 2 × 2, μ̃ = 0.5", **meta,
              "engine": "guided_law.multiclass_law (tensor Gauss–Hermite characteristics)",
              "intervals": list(mc_intervals)}, rows,
             {**columns, "error": "largest CE change under 1.5× nodes and rtol/100"}, args.format, out_dir,
             "guidance_exact_multiclass")
    if args.grids:
        g = grid_study(args.d, steps=(4, 8, 16, 32), families=("ddpm", "ddim", "cosine", "edm", "logsnr"),
                       ws=tuple(args.w))
        emit("guidance --exact --grids", {"windows": g["windows"]}, g["catalogue"], None, args.format, out_dir,
             "guidance_grids")
        emit("guidance --exact --grids (cost)", {}, g["cost"], None, args.format, out_dir, "guidance_grid_cost")
    return 0


def cmd_guidance(args: argparse.Namespace) -> int:
    """Run the study of the options, print it and (``--out``) write guidance.json/.csv and the figure."""
    intervals = tuple(v.strip() for v in args.intervals.split(",") if v.strip())
    bad = [v for v in intervals if v not in INTERVALS]
    if bad or not intervals:
        raise ValueError(f"--intervals must be a comma list among {', '.join(INTERVALS)}; got {args.intervals!r}")
    if args.exact:
        return cmd_exact(args, intervals)
    if args.grids:
        raise ValueError("--grids needs --exact")
    if args.n_nodes is not None:
        raise ValueError("--n-nodes needs --exact")
    args.preset = args.preset or "all"
    if len(args.d) != 1:
        raise ValueError(f"--d takes one dimension without --exact; got {args.d}")
    args.d = args.d[0]
    cases = default_mixtures(args.d)
    if args.preset != "all":
        cases = {k: cases[k] for k in PRESET_CASES[args.preset]}
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
    p.add_argument("--preset", default=None, choices=["all", *PRESET_CASES],
                   help="which study case(s) (default all; with --exact default two, and all = the three)")
    p.add_argument("--d", type=_dims, default=(256,),
                   help="dimension (default 256); with --exact a comma list, e.g. 10,1e3,1e6")
    p.add_argument("--w", type=list_type("--w", float, nonempty=True), default=WS,
                   help="comma list of guidance scales (default 1,1.5,2,3,5)")
    p.add_argument("--intervals", default=",".join(INTERVALS),
                   help="comma list among all,edm2,window,before,after (default: all of them)")
    p.add_argument("--sampler", default="edm", choices=list(SAMPLERS), help="sampler (default edm)")
    p.add_argument("--n-steps", type=int, default=64, help="sampler steps (default 64)")
    p.add_argument("--n-samples", type=int, default=2048, help="trajectories per run (default 2048)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    p.add_argument("--exact", action="store_true",
                   help="exact guided law instead of Monte Carlo (two Gaussians; --preset kclasses / hierarchical "
                        "/ all for three classes and the hierarchy): Δ of the half-entropy time, window / peak-rate "
                        "ratios, information moved into the interval (w ≥ 1; any d)")
    p.add_argument("--n-nodes", type=int, default=None,
                   help="with --exact: Gauss–Hermite nodes per class dimension (default 64 for two Gaussians; "
                        "48 / 20 for 2 / 3 class dimensions)")
    p.add_argument("--grids", action="store_true",
                   help="with --exact: practitioners' grids inside the unguided window, and the exact cost of "
                        "4-32 steps (final class frequency, CE profile) per grid")
    p.add_argument("--out", type=Path,
                   help="also write guidance.json, guidance.csv and the figure guidance_profiles.png/.pdf here")
    add_format_args(p)
    p.set_defaults(func=cmd_guidance)
