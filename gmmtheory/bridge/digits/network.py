"""The digits network (``DigitsNet``) and its Denoiser (``DigitsDenoiser``, the ``Denoiser`` protocol of
``gmmtheory.bridge.base``): a residual MLP F_θ with EDM
preconditioning (Karras et al. 2022, arXiv 2206.00364),

    D(x; σ, z) = c_skip(σ) x + c_out(σ) F_θ(c_in(σ) x, c_noise(σ), z),
    c_skip = σ_d²/(σ² + σ_d²),  c_out = σ σ_d/√(σ² + σ_d²),  c_in = 1/√(σ² + σ_d²),  c_noise = ¼ log σ,

σ_d the pixel standard deviation of the training data. The class z enters through a learned embedding with one
extra "null" entry (index K); during training the label is replaced by the null entry with probability
``label_dropout`` (classifier-free-guidance style), so one network gives both the conditional D(x; σ, z) and the
unconditional D(x; σ) (label None). Loss (EDM): E_{σ, x_0, ε} λ(σ) ‖D(x_0 + σε; σ, z) − x_0‖² / d with
λ(σ) = (σ² + σ_d²)/(σ σ_d)², σ log-uniform on [σ_min, σ_max] = [0.002, 80] (broad coverage: the class entropy of
these data lives at σ ≈ 0.3–10) or log-normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gmmtheory._checks import check_count, check_fraction, check_positive
from gmmtheory.bridge.digits.checks import _check_float, _check_scale
from gmmtheory.bridge.digits.data import DIGITS_D, NUM_CLASSES


@dataclass(frozen=True)
class DigitsConfig:
    """Network and preconditioning settings (plain values: saved with the weights).

    width, depth: hidden width and number of residual blocks of the MLP; emb_dim: noise/class embedding size;
    class_weights: the class frequencies of the training set (the unconditional model's class prior), or None;
    num_classes: K (the null label is index K); d: data dimension; sigma_data: σ_d; sigma_min, sigma_max: the
    training noise range; label_dropout: probability of training with the null label; sigma_sampling: "loguniform"
    (on [σ_min, σ_max]) or "lognormal" (log σ ~ N(p_mean, p_std²), EDM's default −1.2, 1.2); scale: data range.
    """

    width: int = 256
    depth: int = 4
    emb_dim: int = 128
    num_classes: int = NUM_CLASSES
    d: int = DIGITS_D
    sigma_data: float = 0.75
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    label_dropout: float = 0.15
    sigma_sampling: str = "loguniform"
    p_mean: float = -1.2
    p_std: float = 1.2
    scale: tuple[float, float] = (-1.0, 1.0)
    class_weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        check_count("width", self.width, 1)
        check_count("depth", self.depth, 1)
        check_count("emb_dim", self.emb_dim, 2)
        check_count("num_classes", self.num_classes, 2)
        check_count("d", self.d, 1)
        check_positive("sigma_data", self.sigma_data)
        check_positive("sigma_min", self.sigma_min)
        _check_float(self.sigma_max, "sigma_max", self.sigma_min, math.inf, open_lo=True, open_hi=True)
        check_fraction("label_dropout", self.label_dropout)
        if self.sigma_sampling not in ("loguniform", "lognormal"):
            raise ValueError(f"sigma_sampling must be 'loguniform' or 'lognormal'; got {self.sigma_sampling!r}")
        check_positive("p_std", self.p_std)
        object.__setattr__(self, "scale", _check_scale(self.scale))
        if self.class_weights is not None:
            w = np.asarray(self.class_weights, dtype=np.float64)
            if w.shape != (self.num_classes,) or not np.all(np.isfinite(w)) or np.any(w < 0) or abs(w.sum() - 1) > 1e-6:
                raise ValueError(f"class_weights must be {self.num_classes} non-negative numbers summing to 1 or None; "
                                 f"got {self.class_weights!r}")
            object.__setattr__(self, "class_weights", tuple(float(v) for v in w))


class _Block(nn.Module):
    """Residual block h ← h + W₂ SiLU(W₁ (LN(h) ⊙ (1 + γ(c)) + β(c))), γ, β affine in the conditioning c."""

    def __init__(self, width: int, emb_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.film = nn.Linear(emb_dim, 2 * width)
        self.lin1 = nn.Linear(width, width)
        self.lin2 = nn.Linear(width, width)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(c).chunk(2, dim=-1)
        y = self.norm(h) * (1 + gamma) + beta
        return h + self.lin2(torch.nn.functional.silu(self.lin1(y)))


class DigitsNet(nn.Module):
    """The preconditioned network D(x; σ, z) = c_skip x + c_out F(c_in x, c_noise, z) (see the module docstring).

    ``forward(x, sigma, label_index)`` takes x (n, d), σ (n,) and label indices (n,) in 0..K (K = null label) and
    is differentiable (used for training); ``DigitsDenoiser`` wraps it for measurement.
    """

    def __init__(self, config: DigitsConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        half = c.emb_dim // 2
        # fixed log-spaced frequencies for c_noise = ¼ log σ ∈ [¼ log σ_min, ¼ log σ_max] ≈ [−1.6, 1.1]
        self.register_buffer("freqs", torch.exp(torch.linspace(math.log(0.5), math.log(64.0), half)))
        self.noise_mlp = nn.Sequential(nn.Linear(2 * half, c.emb_dim), nn.SiLU(), nn.Linear(c.emb_dim, c.emb_dim))
        self.class_emb = nn.Embedding(c.num_classes + 1, c.emb_dim)
        self.inp = nn.Linear(c.d, c.width)
        self.blocks = nn.ModuleList([_Block(c.width, c.emb_dim) for _ in range(c.depth)])
        self.out_norm = nn.LayerNorm(c.width)
        self.out = nn.Linear(c.width, c.d)
        nn.init.zeros_(self.out.weight)  # F = 0 at initialisation: the untrained model is D = c_skip x
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, label_index: torch.Tensor) -> torch.Tensor:
        sd = self.config.sigma_data
        s = sigma.to(x.dtype)[:, None]
        c_skip = sd**2 / (s**2 + sd**2)
        c_out = s * sd / torch.sqrt(s**2 + sd**2)
        c_in = 1.0 / torch.sqrt(s**2 + sd**2)
        c_noise = 0.25 * torch.log(s)
        phase = c_noise * self.freqs.to(x.dtype)[None, :]
        cond = self.noise_mlp(torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)) + self.class_emb(label_index)
        cond = torch.nn.functional.silu(cond)
        h = self.inp(c_in * x)
        for block in self.blocks:
            h = block(h, cond)
        F = self.out(torch.nn.functional.silu(self.out_norm(h)))
        return c_skip * x + c_out * F


class DigitsDenoiser:
    """A trained ``DigitsNet`` as a ``Denoiser`` (protocol of ``gmmtheory.bridge.base``), evaluated without gradients.

    ``model(x, sigma, label)``: x (n, 64) (or (n, 8, 8)), σ a scalar or (n,) tensor (> 0), label a long tensor (n,)
    in 0..9, an int, or None (the unconditional denoiser, i.e. the null label). Returns x̂_0 with x's shape.
    Attributes: shape (64,), num_classes 10, sigma_data, sigma_min, sigma_max, device, dtype, config, net, and
    ``weights`` (the training class frequencies π_z, the prior the unconditional denoiser learned; the bridge's
    estimators use it as the default class prior).
    """

    def __init__(self, net: DigitsNet, *, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        if not isinstance(net, DigitsNet):
            raise ValueError(f"net must be a DigitsNet; got {type(net).__name__}")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point torch.dtype; got {dtype!r}")
        self.device = torch.device(device)
        self.dtype = dtype
        self.net = net.to(device=self.device, dtype=dtype).eval()
        self.config = net.config
        self.shape: tuple[int, ...] = (net.config.d,)
        self.num_classes = net.config.num_classes
        self.sigma_data = float(net.config.sigma_data)
        self.sigma_min = float(net.config.sigma_min)
        self.sigma_max = float(net.config.sigma_max)
        cw = net.config.class_weights
        self.weights = np.full(self.num_classes, 1.0 / self.num_classes) if cw is None else np.asarray(cw)

    def __repr__(self) -> str:
        c = self.config
        return f"DigitsDenoiser(width={c.width}, depth={c.depth}, device={self.device}, dtype={self.dtype})"

    def _label_index(self, label: torch.Tensor | int | None, n: int) -> torch.Tensor:
        if label is None:
            return torch.full((n,), self.num_classes, dtype=torch.long, device=self.device)
        lab = torch.as_tensor(label, device=self.device)
        if lab.dtype.is_floating_point or lab.dtype == torch.bool or lab.is_complex():
            raise ValueError(f"label must be an integer tensor, an int or None; got dtype {lab.dtype}")
        if lab.ndim == 0:
            lab = lab.expand(n)
        if lab.shape != (n,):
            raise ValueError(f"label must be an int or have shape ({n},); got shape {tuple(lab.shape)}")
        if n and (int(lab.min()) < 0 or int(lab.max()) >= self.num_classes):
            raise ValueError(f"label must be in 0..{self.num_classes - 1} (None for unconditional); "
                             f"got values in {int(lab.min())}..{int(lab.max())}")
        return lab.long()

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float,
                 label: torch.Tensor | int | None = None) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
            raise ValueError(f"x must be a floating-point torch.Tensor of shape (n, {self.shape[0]}); "
                             f"got {type(x).__name__}")
        shape = tuple(x.shape)
        if x.ndim < 2 or math.prod(shape[1:]) != self.shape[0]:
            raise ValueError(f"x must have shape (n, {self.shape[0]}) or (n, 8, 8); got {shape}")
        n = shape[0]
        flat = x.reshape(n, self.shape[0]).to(device=self.device, dtype=self.dtype)
        s = torch.as_tensor(sigma, device=self.device, dtype=self.dtype)
        if s.ndim == 0:
            s = s.expand(n)
        if s.shape != (n,):
            raise ValueError(f"sigma must be a scalar or have shape ({n},); got shape {tuple(s.shape)}")
        if not bool(torch.all(s > 0)):
            raise ValueError("sigma must be > 0")
        idx = self._label_index(label, n)
        with torch.no_grad():
            out = self.net(flat, s, idx)
        return out.reshape(shape).to(dtype=x.dtype, device=x.device)
