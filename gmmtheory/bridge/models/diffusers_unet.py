"""diffusers UNets with a DDPM-family scheduler as EDM-convention denoisers, and Stable Diffusion 1.5 from a local
folder (``load_sd15``: prompts are the classes, the empty prompt is the unconditional model).

Discrete VP time: σ_n = √((1 − ᾱ_n)/ᾱ_n); the VP state x_VP = √ᾱ x_0 + √(1 − ᾱ) ε equals √ᾱ x for the EDM state
x = x_0 + σ ε. The table, the fractional timestep, x_VP and the σ-range check are those of ``load_checkpoint``'s
discrete schedules (``discrete.DiscreteSchedule``, ``discrete.vp_input``); the output conversion is
``common._to_denoised``. Nothing is downloaded: the weights come from a path the user supplies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmmtheory.bridge.models.common import (
    _PREDICTION_TYPES,
    _SD15_PARTS,
    _as_float64,
    _check_label,
    _check_positive,
    _check_shape,
    _check_sigma,
    _check_x,
    _module_device_dtype,
    _to_denoised,
)
from gmmtheory.bridge.models.discrete import DiscreteSchedule, vp_input


class DiffusersDenoiser:
    """A diffusers UNet (discrete VP time) as an EDM-convention Denoiser.

    The scheduler's ᾱ_n (``scheduler.alphas_cumprod``, n = 0..N−1) is a ``DiscreteSchedule`` (``schedule``) with
    the discrete noise table σ_n = √((1 − ᾱ_n)/ᾱ_n) (``sigmas``, increasing in n): the VP state
    x_VP = √ᾱ x_0 + √(1 − ᾱ) ε equals √ᾱ x for the EDM state x = x_0 + σ ε. So with a = 1/√(1 + σ²) (= √ᾱ) and
    b = σ a (= √(1 − ᾱ)):

        x_VP = a x,    ε-prediction: D = x − σ ε̂,    v-prediction (v = a ε − b x_0): D = a² x − b v̂,
        sample-prediction: D = x̂_0,

    (``_to_denoised`` with σ_d = 1), with the prediction type read from ``scheduler.config.prediction_type``. A
    continuous σ is mapped to a fractional timestep by linear interpolation of log σ over the table: for
    σ_n <= σ <= σ_{n+1}, t = n + (log σ − log σ_n)/(log σ_{n+1} − log σ_n) (``timestep`` =
    ``DiscreteSchedule.timestep``; ``sigma_at`` is its inverse). The table levels map to their integer timesteps
    exactly, so samplers should use ``sigmas`` to hit the trained levels. σ must lie in [σ_0, σ_{N−1}]
    (``sigma_min``, ``sigma_max``).

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
        try:
            schedule = DiscreteSchedule(_as_float64(acp))
        except ValueError:
            raise ValueError("scheduler: alphas_cumprod must be a 1-D table of at least 2 values in (0, 1), strictly "
                             "decreasing") from None
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
        self.schedule = schedule
        self.sigma_min, self.sigma_max = schedule.sigma_min, schedule.sigma_max
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
        return torch.from_numpy(self.schedule.sigmas)

    def timestep(self, sigma: Any) -> np.ndarray:
        """Fractional timestep t(σ) = n + (log σ − log σ_n)/(log σ_{n+1} − log σ_n) for σ in [σ_0, σ_{N−1}]."""
        return self.schedule.timestep(sigma)

    def sigma_at(self, t: Any) -> np.ndarray:
        """Inverse of ``timestep``: σ(t) = exp of log σ interpolated linearly in t, for t in [0, N−1]."""
        return self.schedule.sigma_at(t)

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
        x_vp = vp_input(x, s)  # √ᾱ x with ᾱ = 1/(1 + σ²)
        out = self.unet(x_vp if self._unet_dtype is None else x_vp.to(self._unet_dtype), timesteps,
                        return_dict=False, **kwargs)[0]
        return _to_denoised(out, x, s, self._parametrization, 1.0)

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
        import transformers  # noqa: PLC0415 (optional heavy dependency)
    except ImportError:
        raise ImportError("load_sd15 needs the `transformers` package for SD's CLIP tokenizer and text encoder: "
                          "pip install transformers (or pip install 'gmmtheory[sd15]')") from None
    import diffusers  # noqa: PLC0415 (optional heavy dependency)

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
