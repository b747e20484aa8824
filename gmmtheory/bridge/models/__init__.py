"""Model adapters: every model, exact or trained, seen as one EDM-convention denoiser.

Convention (EDM, Karras et al. 2022; see ``gmmtheory.bridge.base``): a noisy sample is x = x_0 + σ ε with
ε ~ N(0, I), and a model is a denoiser D(x, σ, z) ≈ E[X_0 | X_σ = x, Z = z], with z = None for the unconditional
denoiser E[X_0 | X_σ = x].

Modules: ``torch_module`` (``TorchDenoiser``: any torch module returning D, ε̂ or v̂), ``diffusers_unet``
(``DiffusersDenoiser``: a diffusers UNet with its DDPM-family scheduler; ``load_sd15``), ``edm2`` (``EDM2Denoiser``,
``EDM2Net``, ``as_edm2_net``, ``load_edm2``), ``guidance`` (``cfg``, ``guided_denoise``, ``GuidedDenoiser``,
``guided``: D_w = D_u + w (D_z − D_u)), ``setups`` (``PAPER_SETUPS``), ``checkpoint`` (``load_checkpoint``: a
user's checkout + weights file, pickled module or factory + state dict), ``discrete`` (``DiscreteSchedule``:
DDPM-family ᾱ tables in the EDM frame), ``probe`` (one timed call, what ``bridge inspect`` prints), ``common``
(shared input checks).

Nothing here downloads anything: every weight comes from a path the user supplies.
"""

from __future__ import annotations

from gmmtheory.bridge.models.checkpoint import CheckpointDenoiser, load_checkpoint, load_module
from gmmtheory.bridge.models.diffusers_unet import DiffusersDenoiser, load_sd15
from gmmtheory.bridge.models.discrete import DiscreteSchedule, parse_schedule
from gmmtheory.bridge.models.edm2 import EDM2Denoiser, EDM2Net, as_edm2_net, load_edm2
from gmmtheory.bridge.models.guidance import GuidedDenoiser, cfg, guided, guided_denoise
from gmmtheory.bridge.models.probe import format_probe, probe
from gmmtheory.bridge.models.setups import PAPER_SETUPS
from gmmtheory.bridge.models.torch_module import TorchDenoiser

__all__ = [
    "PAPER_SETUPS",
    "CheckpointDenoiser",
    "DiscreteSchedule",
    "DiffusersDenoiser",
    "EDM2Denoiser",
    "EDM2Net",
    "GuidedDenoiser",
    "TorchDenoiser",
    "as_edm2_net",
    "cfg",
    "guided",
    "format_probe",
    "guided_denoise",
    "load_checkpoint",
    "load_edm2",
    "load_module",
    "load_sd15",
    "parse_schedule",
    "probe",
]
