"""``TorchDenoiser``: any torch module ``module(x, σ, labels)`` returning D, ε̂ or v̂ (EDM scaling) as a Denoiser."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from gmmtheory.bridge.models.common import (
    _LABEL_MODES,
    _PARAMETRIZATIONS,
    _check_choice,
    _check_count,
    _check_label,
    _check_positive,
    _check_range,
    _check_shape,
    _check_sigma,
    _check_x,
    _module_device_dtype,
    _to_denoised,
)


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
        _check_choice(parametrization, _PARAMETRIZATIONS, "parametrization")
        _check_choice(label_mode, _LABEL_MODES, "label_mode")
        _check_count(num_classes, "num_classes")
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
