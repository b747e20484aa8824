"""``gmmtheory entropy | rate | landmarks | logtime``: the curve subcommands (tables, JSON, CSV; figures drawn by
``gmmtheory.report.curves``).

entropy: H[Z | X_t], I = H[Z] − H[Z | X_t], φ = E Σ_k p_t(k|x)² and the Bayes error 1 − E max_k p_t(k|x) over a
time grid; rate: dH/dτ with τ = t, log σ or λ; landmarks: every speciation landmark; logtime: the landmarks against
d, OU time vs EDM σ.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gmmtheory.cli.options import (
    EXACT_METHODS,
    RANGE_SYNTAX,
    SIGMA_DEFINITION,
    add_format_args,
    build_mixture,
    emit,
    envelope,
    half_entropy_time,
    meta_text,
    mixture_and_partitions,
    parse_list,
    parse_range,
    parse_times,
    prepare_out,
    subcommand,
    tidy_row,
    time_description,
    write_output,
)
from gmmtheory.entropy import bayes_error, class_entropy, collision_probability
from gmmtheory.entropy.rate import entropy_rate
from gmmtheory.landmarks import all_landmarks, speciation_time
from gmmtheory.processes import EDM, OU, get_process
from gmmtheory.report.curves import curve_figure, logtime_figure
from gmmtheory.schedules import DEFAULT_LOG_SNR, time_to_log_snr
from gmmtheory.studies.logtime import LOGTIME_MODELS, logtime_study


def _seed(args: argparse.Namespace) -> int:
    return 0 if args.seed is None else int(args.seed)


def _check_mc_options(args: argparse.Namespace, exact: tuple[str, ...]) -> None:
    """--n-samples / --seed only act for Monte Carlo methods: refused with an explicitly exact --method."""
    if args.method in exact:
        given = [o for o, v in (("--n-samples", args.n_samples), ("--seed", args.seed)) if v is not None]
        if given:
            raise ValueError(f"{' and '.join(given)} apply to Monte Carlo methods only; --method {args.method} is "
                             "exact (drop them or use --method auto/montecarlo)")


def _curve_meta(mixture, process, result, args: argparse.Namespace) -> dict:
    mc = result.method not in EXACT_METHODS
    return {"mixture": repr(mixture), "K": mixture.K, "d": mixture.d, "process": repr(process),
            "method": result.method, "draws": int(result.n_samples) if mc else None, "key": _seed(args) if mc else None,
            "time_variable": "t", "time_units": time_description(process), "sigma": SIGMA_DEFINITION,
            "H_Z": float(mixture.entropy_of_labels()) + 0.0, "H_units": "nats"}


def cmd_entropy(args: argparse.Namespace) -> int:
    process = get_process(args.process)
    t = parse_times(args.t, process)
    _check_mc_options(args, ("quadrature",))
    mixture = build_mixture(args)
    out_dir = prepare_out(args.out)
    kw = dict(method=args.method, n_samples=args.n_samples, key=_seed(args))
    H = class_entropy(mixture, process, t, **kw)
    phi = collision_probability(mixture, process, t, **kw)
    pe = bayes_error(mixture, process, t, **kw)
    hz = float(mixture.entropy_of_labels()) + 0.0
    lam = time_to_log_snr(process, t)
    h, hs = np.atleast_1d(H.value), np.atleast_1d(H.stderr)
    rows = [{"t": float(ti), "log_snr": float(li), "sigma": float(np.exp(-li / 2)), "H": float(a), "H_stderr": float(b),
             "I": hz - float(a), "I_stderr": float(b), "phi": float(p), "phi_stderr": float(ps),
             "bayes_error": float(e), "bayes_error_stderr": float(es)}
            for ti, li, a, b, p, ps, e, es in zip(t, lam, h, hs, np.atleast_1d(phi.value), np.atleast_1d(phi.stderr),
                                                  np.atleast_1d(pe.value), np.atleast_1d(pe.stderr))]
    columns = {"t": time_description(process), "log_snr": "λ = log(a_t²/σ_t²)", "sigma": SIGMA_DEFINITION,
               "H": "H[Z | X_t] (nats)", "H_stderr": "Monte Carlo standard error of H (0: exact)",
               "I": "I(Z; X_t) = H[Z] − H[Z | X_t] (nats)", "I_stderr": "standard error of I (= that of H)",
               "phi": "collision probability φ = E Σ_k p_t(k|x)²", "phi_stderr": "standard error of φ",
               "bayes_error": "Bayes error 1 − E max_k p_t(k|x)", "bayes_error_stderr": "standard error of it"}
    meta = _curve_meta(mixture, process, H, args)
    meta["methods"] = {"H": H.method, "phi": phi.method, "bayes_error": pe.method}
    emit("entropy", meta, rows, columns, args.format)
    if out_dir is not None:
        curve_figure(process, t, h, hs, "H[Z | X_t]  (nats)", out_dir, "entropy",
                     marks=_marks(mixture, process, t, h, hz), hline=(hz, "H[Z]"))
    return 0


RATE_LABELS = {"t": "dH/dt  (nats per unit of the process's time t)",
               "log_sigma": "dH/d log σ  (σ = σ_t/a_t; nats)",
               "log_snr": "dH/dλ  (λ = log SNR = log(a_t²/σ_t²); nats)"}


def cmd_rate(args: argparse.Namespace) -> int:
    process = get_process(args.process)
    t = parse_times(args.t, process)
    _check_mc_options(args, ("closed_form",))
    mixture = build_mixture(args)
    out_dir = prepare_out(args.out)
    res = entropy_rate(mixture, process, t, wrt=args.wrt, method=args.method, n_samples=args.n_samples,
                          key=_seed(args))
    lam = time_to_log_snr(process, t)
    name = f"dH/d{args.wrt}"
    v, e = np.atleast_1d(res.value), np.atleast_1d(res.stderr)
    rows = [{"t": float(ti), "log_snr": float(li), "sigma": float(np.exp(-li / 2)), name: float(a), "stderr": float(b)}
            for ti, li, a, b in zip(t, lam, v, e)]
    columns = {"t": time_description(process), "log_snr": "λ = log(a_t²/σ_t²)", "sigma": SIGMA_DEFINITION,
               name: {"t": f"dH/dt (nats per unit t), t: {time_description(process)}",
                      "log_sigma": f"dH/d log σ (nats), {SIGMA_DEFINITION}",
                      "log_snr": "dH/dλ (nats), λ = log(a_t²/σ_t²)"}[args.wrt],
               "stderr": f"Monte Carlo standard error of {name} (0: exact)"}
    meta = _curve_meta(mixture, process, res, args)
    meta["wrt"] = args.wrt
    emit("rate", meta, rows, columns, args.format)
    if out_dir is not None:
        H = class_entropy(mixture, process, t, n_samples=args.n_samples, key=_seed(args))
        curve_figure(process, t, v, e, RATE_LABELS[args.wrt], out_dir, "rate",
                     marks=_marks(mixture, process, t, np.atleast_1d(H.value), float(mixture.entropy_of_labels())))
    return 0


def landmark_meaning(key: str, process) -> str:
    """What a landmark field (``Landmarks.as_dict`` key) is, with its time variable."""
    level, _, base = key.rpartition(".")
    where = f" (level {level})" if level else ""
    fixed = {"process": "the process", "K": "number of classes", "d": "dimension",
             "top_eigenvalue": "Λ, top eigenvalue of the data covariance",
             "t_speciation": "t_S = ½ log Λ (OU), mapped at equal SNR", "t_bimodality": "bimodality time (s = 1)",
             "t_instability": "reverse-SDE instability time of the central point",
             "t_covariance_speciation": "covariance speciation time ¼ log(a² d)",
             "h_prior": "H[Z_P] (nats)", "method": "entropy method", "n_samples": "Monte Carlo draws (0: exact)",
             "grid_step_log_snr": "step of the λ grid of the curve"}
    if base in fixed:
        text = fixed[base] + (f", in t: {time_description(process)}" if base.startswith("t_") else "")
    else:
        err = base.endswith("_err")
        core = base[:-4] if err else base
        if "_log_sigma" in core:
            var = f"log σ, {SIGMA_DEFINITION}"
        elif "_log_snr" in core:
            var = "λ = log SNR"
        else:
            var = f"t: {time_description(process)}"
        text = (f"Monte Carlo standard error of {core}" if err else core) + f", in {var}"
    return text + where


def cmd_landmarks(args: argparse.Namespace) -> int:
    process = get_process(args.process)
    mixture, partitions = mixture_and_partitions(args)
    lm = all_landmarks(mixture, process, partitions=partitions, n_samples=args.n_samples, key=_seed(args))
    flat = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in lm.as_dict().items()}
    columns = {k: landmark_meaning(k, process) for k in flat}
    meta = {"mixture": repr(mixture), "K": mixture.K, "d": mixture.d, "process": repr(process),
            "method": "per level: see '<level>.method'", "draws": args.n_samples, "key": _seed(args),
            "time_variable": "t", "time_units": time_description(process), "sigma": SIGMA_DEFINITION,
            "H_Z": float(mixture.entropy_of_labels()) + 0.0, "H_units": "nats"}
    emit("landmarks", meta, [flat], columns, args.format,
         table_rows=[{"landmark": k, "value": v, "meaning": columns[k]} for k, v in flat.items()])
    return 0


def cmd_logtime(args: argparse.Namespace) -> int:
    exponents = parse_range(args.dims, "--dims", allow_log=False)
    dims = 10.0**exponents
    if np.any(dims < 1):
        raise ValueError(f"--dims holds log10 d, so its values must be ≥ 0; got {args.dims!r}")
    models = parse_list(args.models, "--models", str)
    bad = [m for m in models if m not in LOGTIME_MODELS]
    if bad or not models:
        raise ValueError(f"--models must be a comma list of {', '.join(LOGTIME_MODELS)}; got {args.models!r}")
    if args.mu is not None and not {"two_gaussians", "k_classes"} & set(models):
        raise ValueError("--mu sets the means of two_gaussians and k_classes only, so it would not act with "
                         f"--models {args.models!r}; drop it")
    mu = 1.0 if args.mu is None else args.mu
    out_dir = prepare_out(args.out)
    table = logtime_study(dims, mu, models=models, mc_dims=dims)
    rows = [tidy_row(r) for r in table.rows()]
    if not rows:
        raise ValueError(f"logtime: no rows for --dims {args.dims!r} and --models {args.models!r}")
    meta = {"models": list(models), "mu": mu, "dims": sorted({r["d"] for r in rows}),
            "method": "per model: exact quadrature (two Gaussians, covariance-only) or reduced Monte Carlo",
            "time_variable": "OU time t (t_S, t_pred, *_ou) and EDM σ (*_edm)",
            "time_units": f"{time_description(OU())}; {time_description(EDM())}", "sigma": SIGMA_DEFINITION}
    columns = {"d": "dimension", "t_S": "spectral speciation time ½ log Λ (OU t)",
               "t_pred": "predicted window time (OU t)",
               "peak_t_ou_err": "Monte Carlo standard error of peak_t_ou",
               "peak_log_sigma_edm": f"log σ of the peak of dH/d log σ, {SIGMA_DEFINITION}",
               "fwhm_log_sigma_edm": "FWHM of dH/d log σ, in log σ"}
    if args.format == "table":
        for k, v in envelope("logtime", meta, rows, columns)["meta"].items():
            print(f"# {k}: {meta_text(v)}")
        print(table.to_markdown())
    else:
        emit("logtime", meta, rows, columns, args.format)
    if out_dir is not None:
        env = envelope("logtime", meta, rows, columns)
        with open(out_dir / "logtime.csv", "w", newline="") as fh:
            write_output(env, "csv", fh)
        logtime_figure(table, out_dir)
    return 0


def _marks(mixture, process, t, H, h_prior: float) -> dict[str, float]:
    return {"t_S (spectral speciation)": float(speciation_time(mixture, process)),
            "half-entropy time (H = ½ H[Z])": half_entropy_time(t, H, h_prior)}


def add_curve_args(p: argparse.ArgumentParser, methods: tuple[str, ...], stem: str) -> None:
    """Options shared by the curve subcommands: times, method, Monte Carlo size, seed, figures and format."""
    lo, hi, n = DEFAULT_LOG_SNR
    p.add_argument("--t", default=None,
                   help=f"times of the process: {RANGE_SYNTAX} (default: the {n} log-SNRs λ = {lo:g} … {hi:g} mapped "
                        "into the process's time)")
    p.add_argument("--method", default="auto", choices=list(methods))
    p.add_argument("--n-samples", type=int, default=None, help="Monte Carlo draws (default per method)")
    p.add_argument("--seed", type=int, default=None, help="PRNG seed of the Monte Carlo methods (default 0)")
    p.add_argument("--out", type=Path, help=f"also write the curve as {stem}.png / {stem}.pdf into this directory")
    add_format_args(p)


def add_parser(sub) -> None:
    """Register the curve subcommands: entropy, rate, landmarks, logtime."""
    p = subcommand(sub, "entropy", "H[Z | X_t], I, φ and Bayes error over a time grid", cmd_entropy, mixture=True)
    add_curve_args(p, ("auto", "quadrature", "reduced", "montecarlo"), "entropy")

    p = subcommand(sub, "rate", "entropy rate dH/dτ over a time grid", cmd_rate, mixture=True)
    p.add_argument("--wrt", default="t", choices=["t", "log_sigma", "log_snr"],
                   help="time variable τ: t (the process's), log_sigma (log σ, σ = σ_t/a_t) or log_snr (λ) "
                        "(default t)")
    add_curve_args(p, ("auto", "closed_form", "denoiser_gap", "autodiff"), "rate")

    p = subcommand(sub, "landmarks", "speciation landmarks (t_S, bimodality, instability, entropy windows)",
                   cmd_landmarks, mixture=True)
    p.add_argument("--n-samples", type=int, default=None, help="Monte Carlo draws for non-exact curves")
    p.add_argument("--seed", type=int, default=None, help="PRNG seed of the Monte Carlo curves (default 0)")
    add_format_args(p)

    p = subcommand(sub, "logtime", "log-time concentration study: landmarks against d, OU vs EDM", cmd_logtime)
    p.add_argument("--dims", default="1:6:11",
                   help="log10 d: 'lo:hi:n' (n exponents, so d is log-spaced), 'a,b,c' or 'a' (default 1:6:11)")
    p.add_argument("--mu", type=float, default=None,
                   help="per-coordinate mean μ̃ of two_gaussians and k_classes (default 1)")
    p.add_argument("--models", default="two_gaussians",
                   help="comma list of two_gaussians,k_classes,hierarchical,covariance_only (default two_gaussians)")
    p.add_argument("--out", type=Path, help="also write logtime.csv and the figure (PNG, PDF) into this directory")
    add_format_args(p)
