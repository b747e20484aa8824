"""``gmmtheory bridge {gmm,digits,digits-control,sd15,edm2,inspect,real}``: argparse options (torch-free) and the
commands.

The commands reach the bridge through its lazy face ``gmmtheory.bridge`` (torch is imported on the first use of a
name, after ``_require`` has checked the optional dependencies) and write the Markdown pages and figures with
``gmmtheory.report.bridge``.

Files a user must supply (nothing is downloaded):

- ``sd15``: a local diffusers-format Stable Diffusion 1.5 folder (``--path``) holding ``unet/``, ``scheduler/``,
  ``text_encoder/``, ``tokenizer/`` (and ``vae/`` for decoding), e.g. a ``huggingface-cli download`` of
  ``stable-diffusion-v1-5/stable-diffusion-v1-5`` made beforehand; needs ``pip install 'gmmtheory[sd15]'``.
- ``edm2``: the user's own checkout of NVlabs/edm2 (``--checkout``, holding ``dnnlib/`` and ``torch_utils/``) and the
  two pickles ``edm2-img512-xs-2147483-0.045.pkl`` (``--cond``) and ``edm2-img512-xs-uncond-2147483-0.045.pkl``
  (``--uncond``). EDM2 is CC BY-NC-SA; gmmtheory only loads the user's files. Loading them unpickles them and
  imports the checkout's code, as EDM2's own loader does: a pickle can run any code, so trust the files you pass.

Every option of every subcommand acts or is refused (a ValueError, which ``gmmtheory.cli.main`` prints as one line
with exit status 2); a missing optional dependency (torch, diffusers, scikit-learn, transformers) is one such line
with the ``pip install`` hint, checked before any torch-using module is imported.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import gmmtheory.bridge as bridge  # the lazy face: importing it imports no torch
from gmmtheory.atomic import ensure_writable_dir
from gmmtheory.cli.checkpoint_options import (
    TRUST_BOUNDARY,
    add_checkpoint_arguments,
    checkpoint_from_args,
    checkpoint_kwargs_from_args,
)
from gmmtheory.cli.options import list_type, parse_range
from gmmtheory.report import bridge as pages
from gmmtheory.report import bridge_control as pages_control
from gmmtheory.report import real_model as pages_real

# optional dependency → the pip extra that installs it
_EXTRAS = {"torch": "bridge", "diffusers": "bridge", "sklearn": "bridge", "transformers": "sd15"}

EDM2_TRUST = ("Trust boundary: --cond and --uncond are unpickled and --checkout's code is imported, as EDM2's own "
              "loader does; unpickling a file can run any code it contains, so pass only pickles and a checkout you "
              "trust (e.g. NVlabs/edm2 and its published pickles).")

EPILOG = """examples:
  gmmtheory bridge gmm --out out/bridge/gmm                      # estimators vs the exact mixture (bias table)
  gmmtheory bridge digits --out out/bridge/digits                # train on sklearn digits, compare with theory
  gmmtheory bridge digits-control --model out/bridge/digits/digits_model.pt \
        --comparison out/bridge/digits/digits.json                # guidance interval + schedules on that model
  gmmtheory bridge sd15 --path ~/models/sd15 --prompts "a photo of a cat|a photo of a dog" --device cuda
  gmmtheory bridge inspect --checkout ~/src/mymodel --weights ckpt.pt --factory mypkg.net:UNet \
        --kwargs '{"channels": 64}' --parametrization eps --schedule linear:1e-4,0.02,1000   # load + one timed call
  gmmtheory bridge real --checkout $MODELS/mnist-dit-edm --weights $MODELS/mnist-dit-edm/result/model/edm-11000.pth \
        --trust-pickle --parametrization edm --label-mode index --num-classes 10 --data-range=-1,1 \
        --out out/bridge/real        # H[Z | X_σ] of a class-conditional checkpoint: estimators, theory, interval
  gmmtheory bridge edm2 --checkout ~/src/edm2 --cond edm2-img512-xs-2147483-0.045.pkl \\
        --uncond edm2-img512-xs-uncond-2147483-0.045.pkl --classes 1,207,417 --device cuda
"""


def _common(p: argparse.ArgumentParser, *, out: str, n_samples: int, steps: int, batch: int, device: str,
            steps_help: str = "sampler steps") -> None:
    p.add_argument("--out", type=Path, default=Path(out), help=f"output folder (default {out})")
    p.add_argument("--n-samples", type=int, default=n_samples, help=f"trajectories / samples (default {n_samples})")
    p.add_argument("--steps", type=int, default=steps, help=f"{steps_help} (default {steps})")
    p.add_argument("--batch-size", type=int, default=batch, help=f"samples per batch (default {batch})")
    p.add_argument("--device", default=device, help=f"torch device (default {device}; 'cuda' on a GPU)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _real(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-levels", type=int, default=16,
                   help="diffusion-classifier quadrature nodes for the subset denoiser gap (default 16)")
    p.add_argument("--n-sigma", type=int, default=24, help="σ points of the denoiser-gap curve (default 24)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gmmtheory bridge ...`` (no torch import here)."""
    p = subparsers.add_parser("bridge", help="measure H[Z | X_σ] in trained diffusion models and compare with theory",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="target", required=True)

    g = sub.add_parser("gmm", help="every estimator on the exact mixture model: bias table vs sampler steps")
    g.add_argument("--preset", default="two", choices=["two", "kclasses"], help="mixture (default two)")
    g.add_argument("--d", type=int, default=64, help="dimension (default 64)")
    g.add_argument("--K", type=int, default=None, help="classes, --preset kclasses only (default 4)")
    g.add_argument("--mu", type=float, default=0.5, help="per-coordinate mean scale (default 0.5)")
    g.add_argument("--steps-list", type=list_type("--steps-list", int), default=[16, 32, 64, 128, 256],
                   help="sampler steps of the bias table (default 16,32,64,128,256)")
    _common(g, out="out/bridge/gmm", n_samples=2000, steps=64, batch=2048, device="cpu",
            steps_help="sampler steps of the tracker curves (figure and checks; the table: --steps-list)")
    g.set_defaults(func=cmd_gmm)

    dg = sub.add_parser("digits", help="train a conditional denoiser on sklearn's digits; compare with theory")
    dg.add_argument("--out", type=Path, default=Path("out/bridge/digits"), help="output folder")
    dg.add_argument("--size", default="default", choices=["tiny", "default", "large"],
                    help="tiny (smoke test), default (minutes on 2 CPU cores), large (GPU)")
    dg.add_argument("--seed", type=int, default=0, help="seed of training and measurement (default 0)")
    dg.add_argument("--device", default="cpu", help="torch device (default cpu)")
    dg.add_argument("--model", type=Path, default=None, help="reuse a model written by an earlier run")
    dg.add_argument("--train-steps", type=int, default=None,
                    help="override the preset's training steps (not with --model)")
    dg.add_argument("--json", action="store_true", help="print the comparison as JSON")
    dg.set_defaults(func=cmd_digits)

    dc = sub.add_parser("digits-control", help="guidance interval and entropy schedule on a digits model, against "
                                               "CFG everywhere and EDM's ρ-grid")
    dc.add_argument("--out", type=Path, default=Path("out/bridge/digits_control"), help="output folder")
    dc.add_argument("--model", type=Path, default=None,
                    help="a model written by 'gmmtheory bridge digits' (default: train one of --size)")
    dc.add_argument("--comparison", type=Path, default=None,
                    help="that run's digits.json, whose measured curve gives the window (default: measure the "
                         "denoiser gap now)")
    dc.add_argument("--size", default=None, choices=["tiny", "default", "large"],
                    help="model to train when --model is not given (default: default)")
    dc.add_argument("--curve", default="denoiser_gap", choices=["denoiser_gap", "tracker_corrected", "tracker"],
                    help="measured curve of --comparison that gives the window (default denoiser_gap; without "
                         "--comparison only denoiser_gap, measured now)")
    dc.add_argument("--fraction", type=float, default=0.8, help="the window's share of −∫dH (default 0.8)")
    dc.add_argument("--w", type=list_type("--w", float), default=[2.0, 4.0],
                    help="comma list of guidance scales (default 2,4)")
    dc.add_argument("--n-samples", type=int, default=1000, help="samples per configuration (default 1000)")
    dc.add_argument("--steps-list", type=list_type("--steps-list", int), default=[4, 8, 16, 32],
                    help="sampler steps of the schedule comparison (default 4,8,16,32)")
    dc.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    dc.add_argument("--device", default="cpu", help="torch device (default cpu)")
    dc.add_argument("--json", action="store_true", help="print the result as JSON")
    dc.set_defaults(func=cmd_digits_control)

    s = sub.add_parser("sd15", help="Stable Diffusion 1.5 from a local folder: prompts as classes (GPU)")
    s.add_argument("--path", type=Path, required=True, help="local diffusers-format SD1.5 folder")
    s.add_argument("--prompts", required=True, help="'|'-separated prompts, one class each (at least two)")
    s.add_argument("--dtype", default="float16", choices=["float16", "float32"], help="UNet precision")
    _common(s, out="out/bridge/sd15", n_samples=400, steps=100, batch=32, device="cuda")
    _real(s)
    s.set_defaults(func=cmd_sd15)

    e = sub.add_parser("edm2", help="EDM2 pickles from the user's own EDM2 checkout: ImageNet classes (GPU)",
                       description="EDM2 pickles from your own EDM2 checkout: H[Z | X_σ] of ImageNet classes against "
                                   "theory. " + EDM2_TRUST)
    e.add_argument("--checkout", type=Path, required=True,
                   help="the user's NVlabs/edm2 checkout (its code is imported: trust it)")
    e.add_argument("--cond", type=Path, required=True,
                   help="conditional pickle, e.g. edm2-img512-xs-2147483-0.045.pkl (unpickled: trust it)")
    e.add_argument("--uncond", type=Path, required=True,
                   help="unconditional pickle (…-xs-uncond-…; unpickled: trust it)")
    e.add_argument("--classes", type=list_type("--classes", int), required=True, help="class indices, e.g. 1,207,417")
    e.add_argument("--sigma-min", type=float, default=0.002)
    e.add_argument("--sigma-max", type=float, default=80.0)
    e.add_argument("--rho", type=float, default=7.0)
    _common(e, out="out/bridge/edm2", n_samples=256, steps=64, batch=64, device="cuda")
    _real(e)
    e.set_defaults(func=cmd_edm2)

    ins = sub.add_parser("inspect", help="load your own torch checkpoint and run one timed denoising call",
                         description="Load a checkpoint (a pickled module with --trust-pickle, or --factory + a state "
                                     "dict) as an EDM denoiser and print a one-screen summary: parameters, σ range, "
                                     "output statistics and time per call at a few σ. " + TRUST_BOUNDARY)
    add_checkpoint_arguments(ins)
    ins.add_argument("--sigmas", type=list_type("--sigmas", float), default=None,
                     help="comma list of σ to probe (default: near σ_min, the geometric middle, near min(σ_max, 80))")
    ins.add_argument("--batch", type=int, default=4, help="images per call (default 4)")
    ins.add_argument("--device", default="cpu", help="torch device (default cpu)")
    ins.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    ins.add_argument("--json", action="store_true", help="print the summary as JSON")
    ins.set_defaults(func=cmd_inspect)

    r = sub.add_parser("real", help="the real-model experiment on your class-conditional checkpoint: H[Z | X_σ] by "
                                    "independent estimators, surrogate theory, guidance interval",
                       description="Draw labelled samples from your class-conditional checkpoint (EDM Heun sampler), "
                                   "measure H[Z | X_σ] and dH/dlog σ by the diffusion classifier, the denoiser gap "
                                   "(implied unconditional denoiser; and a separate unconditional model with "
                                   "--uncond-weights) and the all-class tracker, compare them in standard errors, "
                                   "overlay a Gaussian-mixture surrogate of the samples and recommend a guidance "
                                   "interval. Writes <name>.json, <name>.md and <name>.png/.pdf into --out. "
                                   + TRUST_BOUNDARY,
                       epilog="example (the MNIST DiT-EDM checkout; ≈ 100 s on 2 CPU cores, plus ≈ 40 s for the "
                              "low-rank surrogate):\n"
                              "  gmmtheory bridge real --checkout $MODELS/mnist-dit-edm \\\n"
                              "      --weights $MODELS/mnist-dit-edm/result/model/edm-11000.pth --trust-pickle \\\n"
                              "      --parametrization edm --label-mode index --num-classes 10 --data-range=-1,1",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_checkpoint_arguments(r)
    add_checkpoint_arguments(r, prefix="uncond-", required=False)
    r.add_argument("--n-samples", type=int, default=48,
                   help="samples of the classifier / denoiser-gap pass (default 48; 2(L+1)K + K rows each per σ)")
    r.add_argument("--n-fit", type=int, default=300,
                   help="samples drawn from the model (surrogate fit; ≥ --n-samples; default 300)")
    r.add_argument("--sigmas", default=None,
                   help="classifier σ grid, e.g. 0.002:40:12:log or 0.1,1,10 (all below the model's σ_max); default "
                        "--n-sigma log-spaced from the model's σ_min to σ_max/2")
    r.add_argument("--n-sigma", type=int, default=10, help="points of the default σ grid (default 10)")
    r.add_argument("--n-levels", type=int, default=6, help="diffusion-classifier ELBO nodes L (default 6)")
    r.add_argument("--n-tracker", type=int, default=128, help="tracker trajectories (default 128)")
    r.add_argument("--tracker-steps", type=int, default=32, help="tracker ρ-grid levels (default 32)")
    r.add_argument("--sample-steps", type=int, default=18, help="Heun sampler levels (default 18: 35 evaluations)")
    r.add_argument("--superclass", default=None,
                   help="labels of one block against the rest, e.g. 0,6,8,9 (default that for K = 10), or 'none'")
    r.add_argument("--no-cluster", action="store_true", help="skip the 2-means partition of the class means")
    r.add_argument("--surrogate-cov", choices=("lowrank", "diagonal"), default="lowrank",
                   help="covariance of the Gaussian-mixture surrogate: lowrank = per class U Uᵀ + diag ψ from the "
                        "class's top principal directions (default; the diagonal one is computed beside it), or "
                        "diagonal = per-pixel variances only")
    r.add_argument("--surrogate-rank", type=int, default=None,
                   help="rank r of the low-rank part per class (≥ 1; capped at n_y − 1 and d; default 32)")
    r.add_argument("--name", default="real_model", help="file stem of the outputs (default real_model)")
    r.add_argument("--out", type=Path, default=Path("out/bridge/real"), help="output folder (default out/bridge/real)")
    r.add_argument("--batch-size", type=int, default=256, help="samples per network call group (default 256)")
    r.add_argument("--device", default="cpu", help="torch device (default cpu; 'cuda' on a GPU)")
    r.add_argument("--seed", type=int, default=0, help="seed of every random number (default 0)")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.set_defaults(func=cmd_real)


def _require(command: str, *modules: str) -> None:
    """Refuse ``gmmtheory bridge <command>`` when one of its optional dependencies cannot be imported: a ValueError
    with the ``pip install`` hint (one line and exit status 2 from ``gmmtheory.cli.main``), raised before any
    torch-using module is imported."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ValueError(f"gmmtheory bridge {command} needs {name}, which is not installed: "
                             f"pip install 'gmmtheory[{_EXTRAS[name]}]'") from None


def _positive(value: int, option: str, minimum: int = 1) -> None:
    if value < minimum:
        raise ValueError(f"{option} must be an integer ≥ {minimum}; got {value}")


def _emit(result: dict, args: argparse.Namespace, summary: str) -> int:
    if args.json:
        json.dump(result, sys.stdout, indent=1, default=float)
        sys.stdout.write("\n")
    else:
        print(summary)
    return 0


def cmd_gmm(args: argparse.Namespace) -> int:
    if args.K is not None and args.preset != "kclasses":
        raise ValueError(f"--K applies to --preset kclasses only (--preset {args.preset} has 2 classes); got --K "
                         f"{args.K}")
    _positive(args.steps, "--steps")
    _positive(args.batch_size, "--batch-size")
    if not args.steps_list:
        raise ValueError("--steps-list must hold at least one number of steps")
    _require("gmm", "torch")
    out = ensure_writable_dir(args.out, "--out")
    res = bridge.run_gmm(out, preset=args.preset, d=args.d, K=4 if args.K is None else args.K, mu=args.mu,
                  steps=args.steps_list, n_samples=args.n_samples, seed=args.seed, device=args.device,
                  batch_size=args.batch_size, curve_steps=args.steps)
    pages.write_gmm(res, out)
    checks = "\n".join(f"  {k}: {v['max_z']:.2f} stderr, {v['max_abs']:.4f} nats" for k, v in res["checks"].items())
    table = bridge.format_bias_table(res["bias_table"])
    return _emit(res, args, f"{table}\nmax |measured − exact| / stderr:\n{checks}\n"
                            f"wrote {args.out}/gmm.json, gmm.md, gmm.png/.pdf")


def cmd_digits(args: argparse.Namespace) -> int:
    if args.model is not None and args.train_steps is not None:
        raise ValueError("--train-steps trains a new model; it cannot be combined with --model (which loads one)")
    _require("digits", "torch", "sklearn")
    out = ensure_writable_dir(args.out, "--out")
    comp = bridge.run_digits(out, size=args.size, seed=args.seed, device=args.device, model_path=args.model,
                             steps=args.train_steps)
    pages.write_digits(comp, out)
    return _emit(comp.to_dict(), args, f"{comp.verdict}\nwrote {args.out}/digits.json, digits.md, digits.png/.pdf "
                                       f"(total {comp.meta['timings_s']['total']:.0f} s)")


def cmd_digits_control(args: argparse.Namespace) -> int:
    if not 0 < args.fraction < 1:
        raise ValueError(f"--fraction must lie in (0, 1); got {args.fraction}")
    if args.model is not None and args.size is not None:
        raise ValueError("--size picks the model to train; it cannot be combined with --model (which loads one)")
    if args.comparison is None and args.curve != "denoiser_gap":
        raise ValueError(f"--curve {args.curve} is read from --comparison (a digits.json); without it the denoiser "
                         "gap is measured now, so only --curve denoiser_gap applies")
    if not args.w or not args.steps_list:
        raise ValueError("--w and --steps-list must each hold at least one value")
    _require("digits-control", "torch", "sklearn")
    out = ensure_writable_dir(args.out, "--out")
    res = bridge.run_digits_control(size=args.size or "default", model_path=args.model,
                                    comparison_path=args.comparison, seed=args.seed, device=args.device,
                                    curve=args.curve, fraction=args.fraction, w=tuple(args.w), n_samples=args.n_samples,
                                    schedule_samples=args.n_samples, schedule_steps=tuple(args.steps_list))
    md = pages_control.write_digits_control(res, out)
    (args.out / "digits_control.md").write_text(md)
    result = json.loads((args.out / "digits_control.json").read_text())
    verdicts = "\n".join(pages_control.digits_control_verdicts(res))
    return _emit(result, args, verdicts + f"\nwrote {args.out}/digits_control.json, digits_control.md, "
                 "control_digits_front.png/.pdf, control_digits_schedules.png/.pdf")


def cmd_sd15(args: argparse.Namespace) -> int:
    prompts = [p.strip() for p in args.prompts.split("|") if p.strip()]
    if len(prompts) < 2:
        raise ValueError(f"--prompts: need at least two '|'-separated prompts; got {args.prompts!r}")
    _require("sd15", "torch", "diffusers", "transformers")
    import torch  # noqa: PLC0415 (optional heavy dependency, after _require)

    model = bridge.load_sd15(args.path, prompts, device=args.device, dtype=getattr(torch, args.dtype))
    out = ensure_writable_dir(args.out, "--out")
    res = bridge.run_real(model, out, name="sd15", classes=range(len(prompts)), steps=args.steps,
                   n_samples=args.n_samples, sigma_min=float(model.sigmas[0]), sigma_max=float(model.sigmas[-1]),
                   seed=args.seed, batch_size=args.batch_size, class_names=prompts,
                          n_levels=args.n_levels, n_sigma=args.n_sigma)
    pages.write_real(res, out)
    return _emit(res, args, f"wrote {args.out}/sd15.json, sd15.md, sd15.png/.pdf ({res['seconds']:.0f} s)")


def cmd_edm2(args: argparse.Namespace) -> int:
    _require("edm2", "torch")
    model = bridge.load_edm2(args.checkout, args.cond, args.uncond, device=args.device)
    out = ensure_writable_dir(args.out, "--out")
    res = bridge.run_real(model, out, name="edm2", classes=args.classes, steps=args.steps, n_samples=args.n_samples,
                   sigma_min=args.sigma_min, sigma_max=args.sigma_max, rho=args.rho, seed=args.seed,
                          batch_size=args.batch_size, n_levels=args.n_levels, n_sigma=args.n_sigma)
    pages.write_real(res, out)
    return _emit(res, args, f"wrote {args.out}/edm2.json, edm2.md, edm2.png/.pdf ({res['seconds']:.0f} s)")


def cmd_inspect(args: argparse.Namespace) -> int:
    _positive(args.batch, "--batch")
    if args.sigmas is not None and not args.sigmas:
        raise ValueError("--sigmas must hold at least one σ")
    _require("inspect", "torch")
    model = checkpoint_from_args(args, device=args.device)
    res = bridge.models.probe(model, sigmas=args.sigmas, n=args.batch, seed=args.seed)
    return _emit(res, args, bridge.models.format_probe(res))


def _real_settings(args: argparse.Namespace) -> dict:
    """Check the options of ``bridge real`` that need no model (before anything is loaded)."""
    for opt, minimum in (("n_samples", 4), ("n_fit", 20), ("n_sigma", 3), ("n_levels", 2), ("n_tracker", 2),
                         ("tracker_steps", 2), ("sample_steps", 2), ("batch_size", 1)):
        _positive(getattr(args, opt), "--" + opt.replace("_", "-"), minimum)
    if args.seed < 0:
        raise ValueError(f"--seed must be an integer ≥ 0; got {args.seed}")
    if args.n_fit < args.n_samples:
        raise ValueError(f"--n-fit must be ≥ --n-samples ({args.n_samples}); got {args.n_fit}")
    if args.surrogate_rank is not None:
        _positive(args.surrogate_rank, "--surrogate-rank", 1)
        if args.surrogate_cov != "lowrank":
            raise ValueError(f"--surrogate-rank applies only to --surrogate-cov lowrank; got --surrogate-cov "
                             f"{args.surrogate_cov}")
    if not args.name or any(c in args.name for c in "/\\"):
        raise ValueError(f"--name must be a plain file stem; got {args.name!r}")
    kw = checkpoint_kwargs_from_args(args)
    if kw["label_mode"] == "none" or kw["num_classes"] < 2:
        raise ValueError("--label-mode index|onehot and --num-classes ≥ 2: bridge real needs a class-conditional "
                         f"model; got --label-mode {kw['label_mode']}, --num-classes {kw['num_classes']}")
    K = kw["num_classes"]
    if not kw["weights"].is_file():
        raise ValueError(f"--weights: no such file: {kw['weights']}")
    if kw["checkout"] is not None and not kw["checkout"].is_dir():
        raise ValueError(f"--checkout: no such folder: {kw['checkout']}")
    ukw = checkpoint_kwargs_from_args(args, "uncond-")
    if ukw is None:
        given = [o for o in ("checkout", "factory", "kwargs", "trust_pickle") if getattr(args, f"uncond_{o}")]
        if given:
            raise ValueError(f"--uncond-weights: required with --uncond-{given[0].replace('_', '-')} (the separate "
                             "unconditional model's checkpoint file)")
    else:
        if not ukw["weights"].is_file():
            raise ValueError(f"--uncond-weights: no such file: {ukw['weights']}")
        if ukw["label_mode"] != "none":
            raise ValueError("--uncond-label-mode must be none: the separate model is called unconditionally")
    sigmas = None
    if args.sigmas is not None:
        sigmas = parse_range(args.sigmas, "--sigmas")
        if sigmas.size < 3 or not (sigmas > 0).all():
            raise ValueError(f"--sigmas must hold at least 3 noise levels > 0; got {sigmas.tolist()}")
        if kw["schedule"] == "edm":  # the continuous range is known before loading
            hi = 80.0 if kw["sigma_max"] is None else kw["sigma_max"]
            lo = 0.002 if kw["sigma_min"] is None else kw["sigma_min"]
            if sigmas.max() >= hi or sigmas.min() < lo:
                raise ValueError(f"--sigmas must lie in [{lo:g}, {hi:g}) (the model's σ range; the classifier needs "
                                 f"noise levels above each σ up to σ_max); got [{sigmas.min():g}, {sigmas.max():g}]")
    partitions = None
    if args.superclass is not None:
        if args.superclass.strip().lower() == "none":
            partitions = {}
        else:
            block = parse_range(args.superclass, "--superclass")
            if not all(float(v).is_integer() and 0 <= v < K for v in block) or len(set(block)) != block.size \
                    or not 0 < block.size < K:
                raise ValueError(f"--superclass must be distinct labels in 0..{K - 1}, not all of them; got "
                                 f"{args.superclass!r}")
            b = sorted(int(v) for v in block)
            partitions = {"superclass {" + ",".join(map(str, b)) + "}": [b, [k for k in range(K) if k not in b]]}
    return {"sigmas": sigmas, "partitions": partitions, "uncond": ukw}


def cmd_real(args: argparse.Namespace) -> int:
    settings = _real_settings(args)
    out = ensure_writable_dir(args.out, "--out")
    _require("real", "torch")
    ukw = settings["uncond"]
    unet = None
    if ukw is not None:
        unet = bridge.models.load_checkpoint(ukw.pop("checkout"), ukw.pop("weights"), device=args.device, **ukw)
    model = checkpoint_from_args(args, device=args.device)
    res = bridge.real_model.run_real_model(
        model, uncond_model=unet, n_samples=args.n_samples, sigmas=settings["sigmas"],
        partitions=settings["partitions"], cluster_partition=not args.no_cluster, seed=args.seed, name=args.name,
        n_fit=args.n_fit, n_sigma=args.n_sigma, n_levels=args.n_levels, n_tracker=args.n_tracker,
        tracker_steps=args.tracker_steps, sample_steps=args.sample_steps, batch_size=args.batch_size,
        surrogate_cov=args.surrogate_cov, surrogate_rank=args.surrogate_rank)
    pages_real.write_real_model(res, out)
    gi, lm = res["guidance_interval"], res["landmarks"]
    rows = [f"  {k}: half-entropy σ {pages_real._sig(v['half'])}, 10–90 % window ({pages_real._sig(v['window'][0])}, "
            f"{pages_real._sig(v['window'][1])})" for k, v in lm.items()]
    agree = [f"  {k}: max {pages_real._sig(a['max_z'])} se over {a['n_points']} points" for k, a in
             res["agreement"].items()]
    sur = res["surrogate"]
    for label, block in ((sur["cov"], sur), ("diagonal", sur.get("diagonal"))):
        if block:
            v = block["levels"]["classes"]["landmarks"]
            rows.append(f"  surrogate ({label}): half-entropy σ {pages_real._sig(v['half'])}, 10–90 % window "
                        f"({pages_real._sig(v['window'][0])}, {pages_real._sig(v['window'][1])})")
    summary = "\n".join(["landmarks:", *rows, f"surrogate σ_S = {pages_real._sig(sur['sigma_S'])}",
                         "agreement (|Δ| / combined se):", *agree,
                         f"recommended guidance interval (σ_lo, σ_hi) = ({pages_real._sig(gi['sigma_lo'])}, "
                         f"{pages_real._sig(gi['sigma_hi'])})",
                         f"wrote {args.out}/{args.name}.json, {args.name}.md, {args.name}.png/.pdf "
                         f"({res['seconds']:.0f} s)"])
    return _emit(res, args, summary)
