"""Model adapters: every model, exact or trained, seen as one EDM-convention denoiser.

Convention (EDM, Karras et al. 2022; see ``base.py``): a noisy sample is x = x_0 + σ ε with ε ~ N(0, I), and a model
is a denoiser D(x, σ, z) ≈ E[X_0 | X_σ = x, Z = z], with z = None for the unconditional denoiser E[X_0 | X_σ = x].

Adapters
--------
``TorchDenoiser``      any torch module ``module(x, σ, labels)`` returning D, ε̂ or v̂ (EDM scaling).
``DiffusersDenoiser``  a diffusers ``UNet2DModel`` / ``UNet2DConditionModel`` with its DDPM-family scheduler:
                       ε-, v- or sample-prediction in discrete VP time, converted to D(x, σ, z).
``EDM2Denoiser``       EDM2 networks ``net(x, σ, one_hot_labels)`` (they return D already): a conditional network
                       and a separate unconditional one (``label_dim == 0``).
``load_sd15``          Stable Diffusion 1.5 from a local diffusers-format directory (prompts are the classes, the
                       negative/empty prompt is the unconditional model).
``load_edm2``          EDM2 pickles, unpickled with the classes of the user's own EDM2 checkout.
``as_edm2_net``        any Denoiser (e.g. the exact mixture) in EDM2's call signature, so the EDM2 path can be run
                       end to end against exact answers.
``cfg``, ``guided_denoise``, ``guided``   classifier-free guidance D_w = D_u + w (D_z − D_u).

Nothing here downloads anything: every weight comes from a path the user supplies.
"""

from __future__ import annotations

import math
import pickle
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmmtheory.bridge.base import Denoiser, as_sigma

__all__ = [
    "PAPER_SETUPS",
    "DiffusersDenoiser",
    "EDM2Denoiser",
    "EDM2Net",
    "GuidedDenoiser",
    "TorchDenoiser",
    "as_edm2_net",
    "cfg",
    "guided",
    "guided_denoise",
    "load_edm2",
    "load_sd15",
]

# The paper's set-ups (arXiv 2602.09651, THEORY.md §8), as plain dicts for samplers and the CLI.
PAPER_SETUPS: dict[str, dict[str, Any]] = {
    "edm2-xs": {
        "cond_pkl": "edm2-img512-xs-2147483-0.045.pkl",
        "uncond_pkl": "edm2-img512-xs-uncond-2147483-0.045.pkl",
        "sampler": "edm_stochastic",
        "steps": 64,
        "sigma_min": 0.002,
        "sigma_max": 80.0,
        "rho": 7.0,
        "sigma_data": 0.5,
        "shape": (4, 64, 64),
        "samples": 3000,
    },
    "sd15": {"steps": 100, "sigma_data": 1.0, "shape": (4, 64, 64), "samples": 400},
}

_PARAMETRIZATIONS = ("D", "eps", "v")
_LABEL_MODES = ("index", "onehot")
_PREDICTION_TYPES = {"epsilon": "eps", "v_prediction": "v", "sample": "D"}
_SD15_PARTS = ("unet", "scheduler", "text_encoder", "tokenizer")
# Relative slack allowed when a σ sits on the edge of a diffusers model's discrete table (σ handed over in float32).
_TABLE_RTOL = 1e-5


# ----------------------------------------------------------------------------------------------------------------
# Shared input checks (all run before any model is called)


def _check_shape(shape: Any, name: str = "shape") -> tuple[int, ...]:
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a tuple of positive ints, got {shape!r}") from None
    if not out or any(s <= 0 for s in out) or any(int(s) != s for s in shape):
        raise ValueError(f"{name}: expected a non-empty tuple of positive ints, got {shape!r}")
    return out


def _check_x(x: Any, shape: tuple[int, ...]) -> int:
    """Return the batch size n of x, which must be a floating tensor of shape (n, *shape)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"x: expected a floating-point torch.Tensor of shape (n, {', '.join(map(str, shape))}), "
                         f"got {type(x).__name__}" + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else ""))
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape or x.shape[0] == 0:
        raise ValueError(f"x: expected shape (n, {', '.join(map(str, shape))}) with n >= 1, got {tuple(x.shape)}")
    return int(x.shape[0])


def _check_sigma(sigma: Any, x: torch.Tensor) -> torch.Tensor:
    """σ as a tensor (n,) with x's device and dtype; finite and non-negative."""
    s = as_sigma(sigma, int(x.shape[0]), x)
    if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
        raise ValueError(f"sigma: expected finite values >= 0, got {s.detach().cpu().numpy()}")
    return s


def _check_label(label: Any, n: int, num_classes: int, device: torch.device) -> torch.Tensor | None:
    """None, an int, or an integer tensor of shape () or (n,) with values in 0..num_classes-1 → long tensor (n,)."""
    if label is None:
        return None
    if num_classes == 0:
        raise ValueError("label: this model is unconditional (num_classes = 0); pass label=None")
    if isinstance(label, bool) or not isinstance(label, (int, np.integer, torch.Tensor)):
        raise ValueError(f"label: expected None, an int or an integer tensor of shape (n,), got {type(label).__name__}")
    lab = torch.as_tensor(label)
    if lab.is_floating_point() or lab.is_complex() or lab.dtype == torch.bool:
        raise ValueError(f"label: expected an integer tensor, got dtype {lab.dtype}")
    if lab.ndim == 0:
        lab = lab.expand(n)
    if tuple(lab.shape) != (n,):
        raise ValueError(f"label: expected shape ({n},) or a scalar, got {tuple(lab.shape)}")
    if bool((lab < 0).any()) or bool((lab >= num_classes).any()):
        raise ValueError(f"label: values must lie in 0..{num_classes - 1}, got {lab.cpu().numpy()}")
    return lab.to(device=device, dtype=torch.long)


def _broadcast(s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample (n,) → (n, 1, ..., 1) so that it broadcasts against x."""
    return s.reshape(-1, *([1] * (x.ndim - 1)))


def _module_device_dtype(module: Any) -> tuple[torch.device, torch.dtype | None]:
    """Device and dtype of a module's first parameter (diffusers models expose .device/.dtype too)."""
    if isinstance(module, torch.nn.Module):
        for p in module.parameters():
            return p.device, p.dtype
    device = getattr(module, "device", None)
    return (device if isinstance(device, torch.device) else torch.device("cpu")), None


def _to_denoised(out: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor, parametrization: str,
                 sigma_data: float) -> torch.Tensor:
    """Convert a model output to D in the EDM convention x = x_0 + σ ε, with σ_d = σ_data.

    "D":   D = out.
    "eps": out = ε̂,  D = x − σ ε̂.
    "v":   out = v̂, the v-prediction of the data scaled by σ_d, v = α ε − β x_0/σ_d with α = σ_d/√(σ² + σ_d²),
           β = σ/√(σ² + σ_d²) (Salimans & Ho's v in the variance-preserving frame x/√(σ² + σ_d²) = α x_0/σ_d + β ε);
           D = σ_d²/(σ² + σ_d²) x − σ σ_d/√(σ² + σ_d²) v̂ = c_skip x − c_out v̂, i.e. v = −F of EDM's preconditioning.
    """
    if out.shape != x.shape:
        raise ValueError(f"model output: expected shape {tuple(x.shape)}, got {tuple(out.shape)}")
    out = out.to(x.dtype)
    s = _broadcast(sigma, x)
    if parametrization == "D":
        return out
    if parametrization == "eps":
        return x - s * out
    c = s**2 + sigma_data**2
    return (sigma_data**2 / c) * x - (s * sigma_data / torch.sqrt(c)) * out


def _check_positive(value: Any, name: str) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return v


def _check_range(sigma_min: Any, sigma_max: Any) -> tuple[float, float]:
    lo, hi = float(sigma_min), float(sigma_max)
    if not (math.isfinite(lo) and lo >= 0 and hi > lo and not math.isnan(hi)):
        raise ValueError(f"sigma_min, sigma_max: expected 0 <= sigma_min < sigma_max, got {sigma_min!r}, {sigma_max!r}")
    return lo, hi


# ----------------------------------------------------------------------------------------------------------------
# Any torch module


class TorchDenoiser:
    """Any torch module as a Denoiser: ``module(x, σ, labels) -> out`` with x = x_0 + σ ε (EDM scaling).

    The module receives the raw noisy x of shape (n, *shape), σ of shape (n,) in x's dtype, and labels as
    ``label_mode="index"`` (long tensor (n,)) or ``"onehot"`` (x-dtype tensor (n, K)). Its output ``out`` is turned
    into D by ``parametrization`` (see ``_to_denoised``): "D" (out = D), "eps" (D = x − σ ε̂) or "v"
    (D = σ_d²/(σ² + σ_d²) x − σ σ_d/√(σ² + σ_d²) v̂, σ_d = ``sigma_data``).

    The unconditional denoiser (label None) is, in this order of precedence:
    ``uncond_module(x, σ, None)`` if given (a separately trained network); otherwise ``module`` with its null label:
    ``null_label=int`` (index mode: a null class index outside 0..K-1, as in label-dropout training),
    ``null_label="zeros"`` (one-hot mode: the all-zero label vector, EDM-style dropout); ``null_label=None`` passes
    ``labels=None`` to the module, which must then handle it.
    """

    def __init__(
        self,
        module: Callable[..., torch.Tensor],
        *,
        shape: Sequence[int],
        num_classes: int,
        sigma_data: float,
        sigma_min: float,
        sigma_max: float,
        parametrization: str = "D",
        label_mode: str = "index",
        null_label: int | str | None = None,
        uncond_module: Callable[..., torch.Tensor] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if not callable(module):
            raise ValueError(f"module: expected a callable torch module, got {type(module).__name__}")
        if uncond_module is not None and not callable(uncond_module):
            raise ValueError(f"uncond_module: expected None or a callable torch module, got "
                             f"{type(uncond_module).__name__}")
        if parametrization not in _PARAMETRIZATIONS:
            raise ValueError(f"parametrization: expected one of {_PARAMETRIZATIONS}, got {parametrization!r}")
        if label_mode not in _LABEL_MODES:
            raise ValueError(f"label_mode: expected one of {_LABEL_MODES}, got {label_mode!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 0:
            raise ValueError(f"num_classes: expected an int >= 0, got {num_classes!r}")
        if null_label is not None:
            if uncond_module is not None:
                raise ValueError("null_label: give either null_label or uncond_module for the unconditional model, "
                                 "not both")
            if isinstance(null_label, str):
                if null_label != "zeros" or label_mode != "onehot":
                    raise ValueError(f"null_label: the string form must be 'zeros' with label_mode='onehot', got "
                                     f"{null_label!r} with label_mode={label_mode!r}")
            elif isinstance(null_label, bool) or not isinstance(null_label, (int, np.integer)) or null_label < 0:
                raise ValueError(f"null_label: expected None, 'zeros' or an int >= 0, got {null_label!r}")
            elif label_mode != "index" or null_label < num_classes:
                raise ValueError(f"null_label: an int null label needs label_mode='index' and must not be a real "
                                 f"class (>= num_classes = {num_classes}), got {null_label} with "
                                 f"label_mode={label_mode!r}")
        self.module = module
        self.uncond_module = uncond_module
        self.shape = _check_shape(shape)
        self.num_classes = int(num_classes)
        self.sigma_data = _check_positive(sigma_data, "sigma_data")
        self.sigma_min, self.sigma_max = _check_range(sigma_min, sigma_max)
        self.parametrization = parametrization
        self.label_mode = label_mode
        self.null_label = null_label
        mod_device, mod_dtype = _module_device_dtype(module)
        self.device = torch.device(device) if device is not None else mod_device
        self.dtype = dtype if dtype is not None else (mod_dtype or torch.float32)

    def _labels_for(self, lab: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.label_mode == "index":
            return lab
        return torch.nn.functional.one_hot(lab, self.num_classes).to(x.dtype)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | int | None) -> torch.Tensor:
        """D(x, σ, label) for x of shape (n, *shape); σ a scalar or (n,); label None, an int or a long tensor (n,)."""
        n = _check_x(x, self.shape)
        s = _check_sigma(sigma, x)
        lab = _check_label(label, n, self.num_classes, x.device)
        if lab is not None:
            out = self.module(x, s, self._labels_for(lab, x))
        elif self.uncond_module is not None:
            out = self.uncond_module(x, s, None)
        elif self.null_label is None:
            out = self.module(x, s, None)
        elif self.null_label == "zeros":
            out = self.module(x, s, torch.zeros(n, self.num_classes, dtype=x.dtype, device=x.device))
        else:
            out = self.module(x, s, torch.full((n,), int(self.null_label), dtype=torch.long, device=x.device))
        return _to_denoised(out, x, s, self.parametrization, self.sigma_data)


# ----------------------------------------------------------------------------------------------------------------
# diffusers UNets with a DDPM-family scheduler


class DiffusersDenoiser:
    """A diffusers UNet (discrete VP time) as an EDM-convention Denoiser.

    The scheduler's ᾱ_n (``scheduler.alphas_cumprod``, n = 0..N−1) defines the discrete noise table
    σ_n = √((1 − ᾱ_n)/ᾱ_n) (``sigmas``, increasing in n): the VP state x_VP = √ᾱ x_0 + √(1 − ᾱ) ε equals √ᾱ x
    for the EDM state x = x_0 + σ ε. So with a = 1/√(1 + σ²) (= √ᾱ) and b = σ a (= √(1 − ᾱ)):

        x_VP = a x,    ε-prediction: D = x − σ ε̂,    v-prediction (v = a ε − b x_0): D = a² x − b v̂,
        sample-prediction: D = x̂_0,

    with the prediction type read from ``scheduler.config.prediction_type``. A continuous σ is mapped to a
    fractional timestep by linear interpolation of log σ over the table: for σ_n <= σ <= σ_{n+1},
    t = n + (log σ − log σ_n)/(log σ_{n+1} − log σ_n) (``timestep``; ``sigma_at`` is its inverse). The table levels
    map to their integer timesteps exactly, so samplers should use ``sigmas`` to hit the trained levels. σ must lie
    in [σ_0, σ_{N−1}] (``sigma_min``, ``sigma_max``).

    Conditioning (exactly one of):
    * cross-attention (``UNet2DConditionModel``): ``class_embeddings`` (K, L, C) — one precomputed
      ``encoder_hidden_states`` per class — and/or ``uncond_embedding`` (L, C) for label None;
    * class labels (``UNet2DModel`` with ``num_class_embeds``): labels 0..K−1 are passed as ``class_labels``;
      ``null_label`` (a class-embedding index >= K, e.g. the extra "null" class of a label-dropout model) serves
      label None. ``num_classes`` defaults to ``num_class_embeds`` without a null label and ``num_class_embeds − 1``
      with one;
    * none (an unconditional UNet): num_classes = 0, only label None.

    ``sigma_data`` is metadata for samplers (1.0 for SD latents scaled by the VAE's scaling factor); the conversion
    does not use it. ``vae`` (optional, a diffusers ``AutoencoderKL``) enables ``decode``. The UNet is called with
    ``return_dict=False``; inputs are cast to the UNet's dtype and outputs back to x's dtype (the conversion runs in
    x's dtype, so pass float32/float64 x to a float16 UNet).
    """

    def __init__(
        self,
        unet: Callable[..., Any],
        scheduler: Any,
        *,
        num_classes: int | None = None,
        null_label: int | None = None,
        class_embeddings: torch.Tensor | None = None,
        uncond_embedding: torch.Tensor | None = None,
        shape: Sequence[int] | None = None,
        sigma_data: float = 1.0,
        vae: Any = None,
    ) -> None:
        if not callable(unet):
            raise ValueError(f"unet: expected a diffusers UNet (a callable torch module), got {type(unet).__name__}")
        acp = getattr(scheduler, "alphas_cumprod", None)
        if acp is None:
            raise ValueError("scheduler: it has no alphas_cumprod; pass a DDPM-family diffusers scheduler "
                             "(DDPMScheduler, DDIMScheduler, PNDMScheduler, EulerDiscreteScheduler, ...)")
        acp = np.asarray(torch.as_tensor(acp).detach().cpu().double().numpy(), dtype=np.float64)
        if acp.ndim != 1 or acp.size < 2 or not np.all(np.isfinite(acp)) or np.any(acp <= 0) or np.any(acp >= 1) \
                or np.any(np.diff(acp) >= 0):
            raise ValueError("scheduler: alphas_cumprod must be a 1-D table of at least 2 values in (0, 1), strictly "
                             "decreasing")
        config = getattr(scheduler, "config", None)
        prediction_type = getattr(config, "prediction_type", None) or "epsilon"
        if prediction_type not in _PREDICTION_TYPES:
            raise ValueError(f"scheduler: config.prediction_type must be one of {tuple(_PREDICTION_TYPES)}, got "
                             f"{prediction_type!r}")
        unet_config = getattr(unet, "config", None)

        if class_embeddings is not None or uncond_embedding is not None:
            mode = "cross_attention"
            if null_label is not None:
                raise ValueError("null_label: not used with cross-attention conditioning; pass uncond_embedding (L, C)")
            cond = self._check_embedding(class_embeddings, "class_embeddings", 3)
            unc = self._check_embedding(uncond_embedding, "uncond_embedding", 2)
            if cond is not None and unc is not None and tuple(cond.shape[1:]) != tuple(unc.shape):
                raise ValueError(f"uncond_embedding: shape {tuple(unc.shape)} must match class_embeddings' (L, C) = "
                                 f"{tuple(cond.shape[1:])}")
            width = (cond if cond is not None else unc).shape[-1]
            xdim = getattr(unet_config, "cross_attention_dim", None)
            if isinstance(xdim, int) and xdim != width:
                raise ValueError(f"class_embeddings/uncond_embedding: last dimension {width} must equal the UNet's "
                                 f"cross_attention_dim {xdim}")
            k = 0 if cond is None else int(cond.shape[0])
            if num_classes is not None and num_classes != k:
                raise ValueError(f"num_classes: {num_classes} does not match class_embeddings' K = {k}")
            self.num_classes = k
        else:
            cond = unc = None
            n_embeds = getattr(unet_config, "num_class_embeds", None)
            if n_embeds is None and num_classes is None:
                mode = "none"
                if null_label is not None:
                    raise ValueError("null_label: the UNet has no class embedding (num_class_embeds is None), so it is "
                                     "unconditional; leave null_label=None")
                self.num_classes = 0
            else:
                mode = "class_labels"
                if num_classes is None:
                    num_classes = int(n_embeds) - (1 if null_label is not None else 0)
                if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
                    raise ValueError(f"num_classes: expected an int >= 1, got {num_classes!r}")
                if n_embeds is not None and num_classes > n_embeds:
                    raise ValueError(f"num_classes: {num_classes} exceeds the UNet's num_class_embeds {n_embeds}")
                if null_label is not None:
                    upper = n_embeds if n_embeds is not None else math.inf
                    if isinstance(null_label, bool) or not isinstance(null_label, (int, np.integer)) \
                            or not num_classes <= null_label < upper:
                        raise ValueError(f"null_label: expected an int in [num_classes, num_class_embeds) = "
                                         f"[{num_classes}, {upper}) (a class index that is not a real class), got "
                                         f"{null_label!r}")
                self.num_classes = int(num_classes)
        self.mode = mode
        self.null_label = None if null_label is None else int(null_label)

        if shape is None:
            channels = getattr(unet_config, "in_channels", None)
            size = getattr(unet_config, "sample_size", None)
            if channels is None or size is None:
                raise ValueError("shape: the UNet has no config.in_channels/sample_size; pass shape=(C, H, W)")
            hw = (int(size), int(size)) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
            shape = (int(channels), *hw)
        self.shape = _check_shape(shape)

        self.unet = unet
        self.scheduler = scheduler
        self.vae = vae
        self.prediction_type = prediction_type
        self._parametrization = _PREDICTION_TYPES[prediction_type]
        self._log_sigmas = 0.5 * (np.log1p(-acp) - np.log(acp))  # log σ_n, increasing in n
        self.sigma_min = float(np.exp(self._log_sigmas[0]))
        self.sigma_max = float(np.exp(self._log_sigmas[-1]))
        self.sigma_data = _check_positive(sigma_data, "sigma_data")
        self.device, self._unet_dtype = _module_device_dtype(unet)
        if self._unet_dtype in (torch.float16, torch.bfloat16, None):
            self.dtype = torch.float32
        else:
            self.dtype = self._unet_dtype
        self._class_embeddings = None if cond is None else cond.to(self.device)
        self._uncond_embedding = None if unc is None else unc.to(self.device)

    @staticmethod
    def _check_embedding(emb: Any, name: str, ndim: int) -> torch.Tensor | None:
        if emb is None:
            return None
        if not isinstance(emb, torch.Tensor) or not emb.is_floating_point() or emb.ndim != ndim or emb.numel() == 0:
            want = "(K, L, C)" if ndim == 3 else "(L, C)"
            got = tuple(emb.shape) if isinstance(emb, torch.Tensor) else type(emb).__name__
            raise ValueError(f"{name}: expected a non-empty floating tensor of shape {want}, got {got}")
        return emb.detach()

    @property
    def sigmas(self) -> torch.Tensor:
        """The model's discrete noise table σ_n = √((1 − ᾱ_n)/ᾱ_n), n = 0..N−1 (float64, CPU, increasing)."""
        return torch.from_numpy(np.exp(self._log_sigmas))

    def timestep(self, sigma: Any) -> np.ndarray:
        """Fractional timestep t(σ) = n + (log σ − log σ_n)/(log σ_{n+1} − log σ_n) for σ in [σ_0, σ_{N−1}]."""
        if isinstance(sigma, torch.Tensor):
            s = sigma.detach().cpu().double().numpy()
        else:
            s = np.asarray(sigma, dtype=np.float64)
        lo, hi = self.sigma_min, self.sigma_max
        if not np.all(np.isfinite(s)) or np.any(s < lo * (1 - _TABLE_RTOL)) or np.any(s > hi * (1 + _TABLE_RTOL)):
            raise ValueError(f"sigma: must lie within the model's discrete noise table [{lo:.6g}, {hi:.6g}] "
                             f"(sigma_min, sigma_max; see .sigmas), got values in [{np.min(s):.6g}, {np.max(s):.6g}]")
        log_s = np.log(np.clip(s, lo, hi))
        return np.interp(log_s, self._log_sigmas, np.arange(self._log_sigmas.size, dtype=np.float64))

    def sigma_at(self, t: Any) -> np.ndarray:
        """Inverse of ``timestep``: σ(t) = exp of log σ interpolated linearly in t, for t in [0, N−1]."""
        t = np.asarray(t, dtype=np.float64)
        n_max = self._log_sigmas.size - 1
        if not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(t > n_max):
            raise ValueError(f"t: must lie in [0, {n_max}], got values in [{np.min(t)}, {np.max(t)}]")
        return np.exp(np.interp(t, np.arange(n_max + 1, dtype=np.float64), self._log_sigmas))

    def _conditioning(self, lab: torch.Tensor | None, n: int) -> dict[str, torch.Tensor]:
        if self.mode == "none":
            return {}
        if self.mode == "class_labels":
            if lab is None:
                if self.null_label is None:
                    raise ValueError("label: None asks for the unconditional model, but this class-conditional UNet "
                                     "has no null_label; construct DiffusersDenoiser with null_label=<index>")
                lab = torch.full((n,), self.null_label, dtype=torch.long)
            return {"class_labels": lab.to(self.device)}
        if lab is None:
            if self._uncond_embedding is None:
                raise ValueError("label: None asks for the unconditional model; construct DiffusersDenoiser with "
                                 "uncond_embedding (L, C), e.g. the empty prompt's text embedding")
            emb = self._uncond_embedding.expand(n, *self._uncond_embedding.shape)
        else:
            emb = self._class_embeddings[lab.to(self._class_embeddings.device)]
        return {"encoder_hidden_states": emb if self._unet_dtype is None else emb.to(self._unet_dtype)}

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | int | None) -> torch.Tensor:
        """D(x, σ, label) for x of shape (n, *shape) in the EDM convention; σ a scalar or (n,) within the table."""
        n = _check_x(x, self.shape)
        s = _check_sigma(sigma, x)
        t = self.timestep(s)
        lab = _check_label(label, n, self.num_classes, x.device)
        kwargs = self._conditioning(lab, n)
        t_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        timesteps = torch.as_tensor(t, dtype=t_dtype, device=x.device)
        a = _broadcast(1.0 / torch.sqrt(1.0 + s**2), x)
        x_vp = a * x
        out = self.unet(x_vp if self._unet_dtype is None else x_vp.to(self._unet_dtype), timesteps,
                        return_dict=False, **kwargs)[0]
        if out.shape != x.shape:
            raise ValueError(f"unet output: expected shape {tuple(x.shape)}, got {tuple(out.shape)}")
        out = out.to(x.dtype)
        if self._parametrization == "D":
            return out
        if self._parametrization == "eps":
            return x - _broadcast(s, x) * out
        return a**2 * x - (_broadcast(s, x) * a) * out

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], shape (n, 3, H, W), from latents x_0 (scaled by the VAE's scaling_factor)."""
        if self.vae is None:
            raise ValueError("decode: no VAE; pass vae=AutoencoderKL(...) (load_sd15 loads it from <path>/vae)")
        _check_x(latents, self.shape)
        vae_device, vae_dtype = _module_device_dtype(self.vae)
        z = latents.to(device=vae_device, dtype=vae_dtype or latents.dtype) / float(self.vae.config.scaling_factor)
        with torch.no_grad():
            images = self.vae.decode(z, return_dict=False)[0]
        return ((images.float() + 1) / 2).clamp(0, 1)


def _encode_prompts(tokenizer: Any, text_encoder: Any, prompts: Sequence[str], device: torch.device) -> torch.Tensor:
    """CLIP text embeddings (len(prompts), L, C): last hidden state of padded (max_length) token ids, as SD does."""
    ids = tokenizer(list(prompts), padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    with torch.no_grad():
        return text_encoder(ids.to(device))[0]


def load_sd15(
    path: str | Path,
    prompts: Sequence[str],
    *,
    negative_prompt: str = "",
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    sigma_data: float = 1.0,
    load_vae: bool = True,
) -> DiffusersDenoiser:
    """Stable Diffusion 1.5 from a local diffusers-format directory, as a Denoiser whose classes are ``prompts``.

    ``path`` must hold ``unet/``, ``scheduler/``, ``text_encoder/`` and ``tokenizer/`` (``vae/`` is optional and
    enables ``decode``). Everything is loaded with ``local_files_only=True``: nothing is downloaded. The prompts are
    encoded once with the CLIP text encoder (class k ↔ ``prompts[k]``); ``negative_prompt`` (default the empty
    prompt, SD's trained unconditional) serves label None. The text encoder is released afterwards.

    Data are SD's latents 4×64×64, already multiplied by the VAE's scaling factor 0.18215, which was chosen to give
    them ≈ unit variance: hence ``sigma_data = 1.0`` (the value only informs samplers). The scheduler's table is
    SD's 1000-step "scaled_linear" β ∈ [0.00085, 0.012], so σ ∈ [0.0292, 14.61]; the paper samples with 100 steps
    (``PAPER_SETUPS["sd15"]``). Needs ``transformers`` (``pip install 'gmmtheory[sd15]'``).
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"path: {str(path)!r} is not a directory; supply a local diffusers-format Stable Diffusion "
                         f"1.5 directory (e.g. a copy of stable-diffusion-v1-5/stable-diffusion-v1-5 made with "
                         f"`huggingface-cli download` or `pipe.save_pretrained`) containing {', '.join(_SD15_PARTS)}/")
    missing = [p for p in _SD15_PARTS if not (root / p).is_dir()]
    if missing:
        raise ValueError(f"path: {str(root)!r} lacks the subfolder(s) {', '.join(p + '/' for p in missing)}; a "
                         f"diffusers-format Stable Diffusion 1.5 directory must contain "
                         f"{', '.join(p + '/' for p in _SD15_PARTS)} (vae/ optional)")
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or len(prompts) == 0 \
            or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"prompts: expected a non-empty sequence of strings (one per class), got {prompts!r}")
    if not isinstance(negative_prompt, str):
        raise ValueError(f"negative_prompt: expected a string, got {type(negative_prompt).__name__}")
    try:
        import transformers
    except ImportError:
        raise ImportError("load_sd15 needs the `transformers` package for SD's CLIP tokenizer and text encoder: "
                          "pip install transformers (or pip install 'gmmtheory[sd15]')") from None
    import diffusers

    device = torch.device(device)
    kw = {"local_files_only": True}
    unet = diffusers.UNet2DConditionModel.from_pretrained(root, subfolder="unet", torch_dtype=dtype, **kw)
    unet = unet.to(device).eval().requires_grad_(False)
    scheduler = diffusers.DDPMScheduler.from_pretrained(root, subfolder="scheduler", **kw)
    tokenizer = transformers.CLIPTokenizer.from_pretrained(root, subfolder="tokenizer", **kw)
    # dtype via .to(): transformers renamed from_pretrained's torch_dtype to dtype (4.56), so pass neither
    text_encoder = transformers.CLIPTextModel.from_pretrained(root, subfolder="text_encoder", **kw)
    text_encoder = text_encoder.to(device=device, dtype=dtype).eval()
    cond = _encode_prompts(tokenizer, text_encoder, prompts, device)
    uncond = _encode_prompts(tokenizer, text_encoder, [negative_prompt], device)[0]
    del text_encoder
    vae = None
    if load_vae and (root / "vae").is_dir():
        vae = diffusers.AutoencoderKL.from_pretrained(root, subfolder="vae", torch_dtype=dtype, **kw)
        vae = vae.to(device).eval().requires_grad_(False)
    model = DiffusersDenoiser(unet, scheduler, class_embeddings=cond, uncond_embedding=uncond,
                              sigma_data=sigma_data, vae=vae)
    model.prompts = list(prompts)
    return model


# ----------------------------------------------------------------------------------------------------------------
# EDM2


def _edm2_attrs(net: Any, name: str) -> tuple[int, int, int]:
    if not callable(net):
        raise ValueError(f"{name}: expected an EDM2 network net(x, sigma, class_labels), got {type(net).__name__}")
    vals = []
    for attr in ("img_channels", "img_resolution", "label_dim"):
        v = getattr(net, attr, None)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name}: an EDM2 network needs int attributes img_channels, img_resolution, label_dim; "
                             f"{attr} is {v!r}")
        vals.append(int(v))
    return vals[0], vals[1], vals[2]


class EDM2Denoiser:
    """EDM2 networks as a Denoiser: D(x, σ, z) = net_cond(x, σ, onehot(z)), D(x, σ, None) = net_uncond(x, σ, None).

    Any object with EDM2's call signature ``net(x, sigma, class_labels)`` returning D (EDM convention, its own
    preconditioning inside) and int attributes ``img_channels``, ``img_resolution``, ``label_dim`` works: the
    conditional net needs ``label_dim = K > 0`` (labels are passed as one-hot rows (n, K)), the unconditional net
    ``label_dim = 0`` (called with ``class_labels=None``). EDM2 trains on VAE latents normalised to σ_data = 0.5 and
    samples σ ∈ [0.002, 80] (``PAPER_SETUPS["edm2-xs"]``). ``encoder`` keeps the pickle's latent encoder, if any,
    for the user's own decoding (its VAE weights are not bundled; nothing is downloaded here).
    """

    def __init__(
        self,
        net_cond: Callable[..., torch.Tensor],
        net_uncond: Callable[..., torch.Tensor] | None = None,
        *,
        sigma_data: float = 0.5,
        sigma_min: float = 0.002,
        sigma_max: float = 80.0,
        encoder: Any = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        channels, resolution, label_dim = _edm2_attrs(net_cond, "net_cond")
        if label_dim == 0:
            raise ValueError("net_cond: label_dim is 0, an unconditional network; pass the class-conditional network "
                             "as net_cond and the unconditional one as net_uncond")
        if net_uncond is not None:
            uc, ur, ul = _edm2_attrs(net_uncond, "net_uncond")
            if ul != 0:
                raise ValueError(f"net_uncond: expected an unconditional network (label_dim 0), got label_dim {ul}")
            if (uc, ur) != (channels, resolution):
                raise ValueError(f"net_uncond: image shape {(uc, ur, ur)} differs from net_cond's "
                                 f"{(channels, resolution, resolution)}")
        self.net_cond = net_cond
        self.net_uncond = net_uncond
        self.encoder = encoder
        self.shape = (channels, resolution, resolution)
        self.num_classes = label_dim
        self.sigma_data = _check_positive(sigma_data, "sigma_data")
        self.sigma_min, self.sigma_max = _check_range(sigma_min, sigma_max)
        self.device = torch.device(device) if device is not None else _module_device_dtype(net_cond)[0]
        self.dtype = dtype

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | int | None) -> torch.Tensor:
        """D(x, σ, label) for x of shape (n, C, R, R); σ a scalar or (n,); label None, an int or a long tensor (n,)."""
        n = _check_x(x, self.shape)
        s = _check_sigma(sigma, x)
        lab = _check_label(label, n, self.num_classes, x.device)
        if lab is None:
            if self.net_uncond is None:
                raise ValueError("label: None asks for the unconditional network, but EDM2Denoiser was built "
                                 "without net_uncond")
            out = self.net_uncond(x, s, None)
        else:
            out = self.net_cond(x, s, torch.nn.functional.one_hot(lab, self.num_classes).to(x.dtype))
        return _to_denoised(out, x, s, "D", self.sigma_data)


class EDM2Net(torch.nn.Module):
    """A Denoiser in EDM2's network call signature: ``forward(x, sigma, class_labels=None) -> D``.

    x has shape (n, img_channels, img_resolution, img_resolution) and is reshaped to the wrapped denoiser's shape
    (e.g. the exact mixture on d = C·R·R flattened coordinates) and back. σ may be a float or a tensor of shape (),
    (n,) or (n, 1, 1, 1) (EDM2 reshapes σ to (−1, 1, 1, 1)). A conditional net (``label_dim = K``) needs
    ``class_labels`` of one-hot rows (n, K); an unconditional net (``label_dim = 0``) ignores ``class_labels``, as
    EDM2's own networks do.
    """

    def __init__(self, denoiser: Denoiser, *, conditional: bool, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.img_channels, self.img_resolution = image_shape[0], image_shape[1]
        self.label_dim = int(denoiser.num_classes) if conditional else 0
        self.sigma_data = float(denoiser.sigma_data)

    @property
    def device(self) -> torch.device:
        """The wrapped denoiser's device."""
        return torch.device(getattr(self.denoiser, "device", "cpu"))

    def forward(self, x: torch.Tensor, sigma: Any, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        image_shape = (self.img_channels, self.img_resolution, self.img_resolution)
        n = _check_x(x, image_shape)
        s = torch.as_tensor(sigma, device=x.device, dtype=x.dtype).reshape(-1)
        if s.numel() == 1:
            s = s.expand(n)
        if s.numel() != n:
            raise ValueError(f"sigma: expected a scalar or {n} values (shape (n,) or (n, 1, 1, 1)), got shape "
                             f"{tuple(torch.as_tensor(sigma).shape)}")
        labels = None
        if self.label_dim > 0:
            if class_labels is None:
                raise ValueError(f"class_labels: this conditional net needs one-hot rows of shape ({n}, "
                                 f"{self.label_dim}), got None")
            c = torch.as_tensor(class_labels)
            if c.numel() != n * self.label_dim:
                raise ValueError(f"class_labels: expected one-hot rows of shape ({n}, {self.label_dim}), got shape "
                                 f"{tuple(c.shape)}")
            c = c.reshape(n, self.label_dim)
            if not bool(((c == 0) | (c == 1)).all()) or not bool((c.sum(dim=1) == 1).all()):
                raise ValueError("class_labels: every row must be one-hot (one 1, the rest 0)")
            labels = c.argmax(dim=1).to(device=x.device, dtype=torch.long)
        d = self.denoiser(x.reshape(n, *self.denoiser.shape), s, labels)
        return d.reshape(x.shape)


def as_edm2_net(denoiser: Denoiser, *, conditional: bool = True,
                image_shape: Sequence[int] | None = None) -> EDM2Net:
    """Wrap any Denoiser (e.g. the exact GMM) in EDM2's network call signature ``net(x, sigma, class_labels)``.

    ``conditional=True`` gives ``label_dim = num_classes`` (labels as one-hot rows), ``False`` an unconditional net
    (``label_dim = 0``, calls the denoiser with label None). ``image_shape = (C, R, R)`` is the net's image shape,
    with C·R·R equal to the number of entries of ``denoiser.shape``; by default ``denoiser.shape`` itself when it is
    (C, R, R).
    """
    shape = _check_shape(getattr(denoiser, "shape", None) or (), "denoiser.shape")
    if not callable(denoiser):
        raise ValueError(f"denoiser: expected a callable Denoiser, got {type(denoiser).__name__}")
    if conditional and int(getattr(denoiser, "num_classes", 0)) < 1:
        raise ValueError("denoiser: conditional=True needs a class-conditional denoiser (num_classes >= 1)")
    if image_shape is None:
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"image_shape: denoiser.shape {shape} is not (C, R, R); pass image_shape=(C, R, R) with "
                             f"C*R*R = {math.prod(shape)}")
        image_shape = shape
    image_shape = _check_shape(image_shape, "image_shape")
    if len(image_shape) != 3 or image_shape[1] != image_shape[2] or math.prod(image_shape) != math.prod(shape):
        raise ValueError(f"image_shape: expected (C, R, R) with C*R*R = {math.prod(shape)} (denoiser.shape {shape}), "
                         f"got {image_shape}")
    return EDM2Net(denoiser, conditional=conditional, image_shape=(image_shape[0], image_shape[1], image_shape[2]))


def _load_edm2_pickle(path: Path, name: str) -> tuple[Any, Any]:
    with open(path, "rb") as f:
        data = pickle.load(f)
    if not isinstance(data, dict) or "ema" not in data:
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{name}: {str(path)!r} is not an EDM2 network pickle (expected a dict with an 'ema' "
                         f"network; found {keys})")
    return data["ema"], data.get("encoder")


def load_edm2(
    checkout: str | Path,
    cond_pkl: str | Path,
    uncond_pkl: str | Path | None = None,
    *,
    device: torch.device | str = "cpu",
) -> EDM2Denoiser:
    """EDM2 networks from the user's own files, as an ``EDM2Denoiser`` (σ_data 0.5, one-hot labels).

    ``checkout`` is a local clone of NVlabs/edm2: it must contain ``torch_utils/`` and ``dnnlib/``, whose classes
    the pickles reference; it is put at the front of ``sys.path`` (and stays there, since EDM2's code may import
    from it later). ``cond_pkl`` / ``uncond_pkl`` are EDM2 network pickles (a dict whose ``'ema'`` entry is the
    network), e.g. ``edm2-img512-xs-2147483-0.045.pkl`` and ``edm2-img512-xs-uncond-2147483-0.045.pkl`` from the EDM2
    post-hoc reconstructions (``PAPER_SETUPS["edm2-xs"]``). Unpickling runs code from these files: load only files
    you trust. Nothing is downloaded.
    """
    root = Path(checkout)
    hint = "supply the path of your own EDM2 checkout (git clone https://github.com/NVlabs/edm2)"
    if not root.is_dir():
        raise ValueError(f"checkout: {str(checkout)!r} is not a directory; {hint}")
    missing = [p for p in ("torch_utils", "dnnlib") if not (root / p).is_dir()]
    if missing:
        raise ValueError(f"checkout: {str(root)!r} lacks {', '.join(p + '/' for p in missing)}; {hint}, which "
                         f"contains torch_utils/ and dnnlib/")
    paths = {"cond_pkl": cond_pkl, "uncond_pkl": uncond_pkl}
    for name, p in paths.items():
        if p is None and name == "uncond_pkl":
            continue
        if p is None or not Path(p).is_file():
            want = PAPER_SETUPS["edm2-xs"][name]
            raise ValueError(f"{name}: {str(p)!r} is not a file; supply the path of a downloaded EDM2 network pickle "
                             f"(for the paper's set-up: {want})")
    resolved = str(root.resolve())
    for mod in ("torch_utils", "dnnlib"):
        loaded = sys.modules.get(mod)
        origin = getattr(loaded, "__file__", None) if loaded is not None else None
        if origin is not None and not Path(origin).resolve().is_relative_to(resolved):
            raise ValueError(f"checkout: a different {mod!r} is already imported (from {origin}); use that checkout "
                             f"or a fresh Python process")
    if resolved not in sys.path:
        sys.path.insert(0, resolved)
    device = torch.device(device)

    def prepare(net: Any) -> Any:
        if isinstance(net, torch.nn.Module):
            net = net.to(device).eval().requires_grad_(False)
        return net

    net_cond, encoder = _load_edm2_pickle(Path(cond_pkl), "cond_pkl")
    net_uncond = None
    if uncond_pkl is not None:
        net_uncond = _load_edm2_pickle(Path(uncond_pkl), "uncond_pkl")[0]
    return EDM2Denoiser(prepare(net_cond), None if net_uncond is None else prepare(net_uncond), encoder=encoder,
                        device=device)


# ----------------------------------------------------------------------------------------------------------------
# Classifier-free guidance


def _check_w(w: Any, n: int | None = None) -> None:
    if isinstance(w, torch.Tensor):
        if w.ndim > 1 or (n is not None and w.ndim == 1 and w.shape[0] != n) or not bool(torch.isfinite(w).all()):
            raise ValueError(f"w: expected a finite scalar or a tensor of shape (n,), got shape {tuple(w.shape)}")
    elif isinstance(w, bool) or not isinstance(w, (int, float, np.floating, np.integer)) or not math.isfinite(w):
        raise ValueError(f"w: expected a finite number (1 = unguided) or a tensor of shape (n,), got {w!r}")


def cfg(d_cond: torch.Tensor, d_uncond: torch.Tensor, w: float | torch.Tensor) -> torch.Tensor:
    """Classifier-free guidance D_w = D_u + w (D_z − D_u) (w = 1: conditional, w = 0: unconditional).

    d_cond = D_z and d_uncond = D_u have shape (n, ...); w is a number or a per-sample tensor (n,).
    """
    if d_cond.shape != d_uncond.shape:
        raise ValueError(f"d_uncond: shape {tuple(d_uncond.shape)} differs from d_cond's {tuple(d_cond.shape)}")
    _check_w(w, int(d_cond.shape[0]) if d_cond.ndim else None)
    if isinstance(w, torch.Tensor) and w.ndim == 1:
        w = _broadcast(w.to(device=d_cond.device, dtype=d_cond.dtype), d_cond)
    return d_uncond + w * (d_cond - d_uncond)


def guided_denoise(
    model: Denoiser,
    x: torch.Tensor,
    sigma: torch.Tensor | float,
    label: torch.Tensor | int | None,
    w: float | torch.Tensor,
    *,
    interval: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Guided denoiser D_w(x, σ, z) = D(x, σ, None) + w (D(x, σ, z) − D(x, σ, None)).

    ``interval = (σ_lo, σ_hi)`` applies w only for σ_lo < σ < σ_hi and w = 1 elsewhere (guidance interval,
    Kynkäänniemi et al. 2024). label None gives the unconditional D (guiding towards nothing changes nothing).
    """
    n = int(x.shape[0]) if isinstance(x, torch.Tensor) and x.ndim else None
    _check_w(w, n)
    if interval is not None:
        lo, hi = (float(v) for v in interval)
        if not (lo >= 0 and hi > lo):
            raise ValueError(f"interval: expected (sigma_lo, sigma_hi) with 0 <= sigma_lo < sigma_hi, got {interval!r}")
    if label is None:
        return model(x, sigma, None)
    if interval is not None:
        s = _check_sigma(sigma, x)
        inside = (s > lo) & (s < hi)
        w = torch.where(inside, torch.as_tensor(w, dtype=x.dtype, device=x.device), torch.ones_like(s))
    elif not isinstance(w, torch.Tensor) and w == 1:
        return model(x, sigma, label)
    return cfg(model(x, sigma, label), model(x, sigma, None), w)


class GuidedDenoiser:
    """A Denoiser whose conditional output is guided: D_w(x, σ, z) (see ``guided_denoise``); label None → D_u."""

    def __init__(self, model: Denoiser, w: float, interval: tuple[float, float] | None = None) -> None:
        _check_w(w)
        self.model, self.w, self.interval = model, w, interval
        for attr in ("shape", "num_classes", "sigma_data", "sigma_min", "sigma_max", "device", "dtype"):
            setattr(self, attr, getattr(model, attr))

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | int | None) -> torch.Tensor:
        return guided_denoise(self.model, x, sigma, label, self.w, interval=self.interval)


def guided(model: Denoiser, w: float, *, interval: tuple[float, float] | None = None) -> GuidedDenoiser:
    """``model`` with classifier-free guidance of scale w (optionally only inside ``interval``), as a Denoiser."""
    return GuidedDenoiser(model, w, interval)
