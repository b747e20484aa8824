"""gmmtheory.bridge: measure class-conditional entropy in trained diffusion models and hold it against theory.

Optional (``pip install 'gmmtheory[bridge]'``: torch, diffusers, scikit-learn). Names are loaded lazily, so
``import gmmtheory.bridge`` alone imports nothing heavy; the first use of a name imports torch (and a clear
ImportError says what to install when it is missing). ``import gmmtheory`` never imports this package.

Modules (each also reachable lazily as ``gmmtheory.bridge.<module>``): ``base`` (the ``Denoiser`` protocol,
``Measurement``), ``models`` (adapters: torch modules, diffusers, SD1.5, EDM2; classifier-free guidance), ``gmm``
(the exact mixture as a denoiser), ``sampling`` (EDM ρ-grid with a final 0, stochastic/ODE samplers with guidance),
``estimators`` (tracker, denoiser gap, diffusion classifier, bias table), ``digits`` (the real-data testbed),
``experiments`` (end-to-end runs on the exact mixture and on trained models), ``real_model`` (the real-model
experiment on a class-conditional checkpoint: independent estimators, surrogate theory, guidance interval),
``control`` (guidance intervals and
schedules on trained models). The bridge uses the theory core only (floors up to ``control``); its command line
is ``gmmtheory.cli.bridge`` and its report pages and figures are ``gmmtheory.report.bridge``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["Denoiser", "Measurement", "as_sigma"], "base"),
    **dict.fromkeys(["PAPER_SETUPS", "DiffusersDenoiser", "EDM2Denoiser", "EDM2Net", "GuidedDenoiser",
                     "TorchDenoiser", "as_edm2_net", "cfg", "guided", "guided_denoise", "load_edm2", "load_sd15",
                     "CheckpointDenoiser", "DiscreteSchedule", "load_checkpoint", "load_module", "parse_schedule",
                     "probe", "format_probe"],
                    "models"),
    "GMMDenoiser": "gmm",
    **dict.fromkeys(["edm_sigmas", "model_sigmas", "sample"], "sampling"),
    **dict.fromkeys(["classifier_entropy", "classifier_log_posterior", "denoiser_gap", "format_bias_table",
                     "tracker_bias_table", "tracker_entropy", "tracker_log_posteriors"], "estimators"),
    **dict.fromkeys(["DigitsDenoiser", "DigitsComparison", "load_digits_data", "train_digits", "digits_comparison",
                     "run_digits", "digits_classifier", "class_accuracy", "save_model", "load_model"], "digits"),
    **dict.fromkeys(["run_gmm", "run_real", "surrogate_overlay"], "experiments"),
    **dict.fromkeys(["run_real_model"], "real_model"),
    **dict.fromkeys(["DigitsControl", "digits_control", "guided_front", "model_schedule_comparison",
                     "run_digits_control"], "control"),
}

_MODULES = frozenset({"base", "models", "gmm", "sampling", "estimators", "digits", "experiments", "real_model",
                      "control"})

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = name if name in _MODULES else _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gmmtheory.bridge' has no attribute {name!r}")
    try:
        mod = importlib.import_module(f"gmmtheory.bridge.{module}")
    except ModuleNotFoundError as err:
        if err.name in ("torch", "diffusers", "sklearn"):
            raise ImportError(f"gmmtheory.bridge.{name} needs {err.name}: pip install 'gmmtheory[bridge]'") from err
        raise
    return mod if name in _MODULES else getattr(mod, name)


def __dir__() -> list[str]:
    return __all__
