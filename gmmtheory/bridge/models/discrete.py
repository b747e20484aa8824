"""Discrete (DDPM-family) noise schedules seen in the EDM frame, for checkpoints trained on integer timesteps.

A discrete model is trained on x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, t = 0..T−1 (ᾱ_t = ∏_{s≤t} (1 − β_s)). Dividing by
√ᾱ_t gives the EDM frame x_EDM = x_t / √ᾱ_t = x_0 + σ_t ε with

    σ_t = √((1 − ᾱ_t) / ᾱ_t),        ᾱ_t = 1 / (1 + σ_t²),

so the network is fed x_model = √ᾱ_t · x_EDM and its ε̂ / x̂_0 are the same quantities in both frames (its v̂ is
Salimans & Ho's v = √ᾱ ε − √(1 − ᾱ) x_0, i.e. the EDM "v" with σ_data = 1).

A σ between two steps is handled by ``DiscreteSchedule.locate``: "nearest" (the step whose σ_t is nearest in log σ),
"step" (the two neighbouring steps, weights linear in the step index with σ piecewise linear between steps) or
"log_sigma" (weights linear in log σ). A network that takes a fractional timestep (diffusers UNets) gets
``DiscreteSchedule.timestep(σ)`` instead: t = lo + w with the "log_sigma" weight, i.e. log σ linear in t between
steps (``sigma_at`` is its inverse). σ outside [σ_0, σ_{T−1}] is refused (the model never saw it).

Both ``load_checkpoint`` (a discrete ``schedule``) and ``DiffusersDenoiser`` / ``load_sd15`` (the scheduler's
``alphas_cumprod``) use this one table, ``vp_input`` (x_model = √ᾱ x) and ``_check_sigma_range`` (σ-range errors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmmtheory.bridge.models.common import _as_float64, _broadcast, _check_choice, _check_sigma_range

_INTERPOLATIONS = ("nearest", "step", "log_sigma")


def vp_input(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The network input of a discrete (VP) model: x_model = √ᾱ · x with ᾱ = 1/(1 + σ²).

    x = x_0 + σ ε is the EDM state, σ (shape (n,), x's dtype) its noise level; x_model = √ᾱ x_0 + √(1 − ᾱ) ε is the
    VP state the model was trained on. At a table level σ = σ_t this is √ᾱ_t x.
    """
    return x * _broadcast(torch.rsqrt(1.0 + sigma**2), x)


@dataclass(frozen=True, eq=False)
class DiscreteSchedule:
    """ᾱ_t for t = 0..T−1 (strictly decreasing in (0, 1)), with σ_t = √((1 − ᾱ_t)/ᾱ_t) increasing."""

    alpha_bar: np.ndarray

    def __post_init__(self) -> None:
        a = _as_float64(self.alpha_bar)
        if a.ndim != 1 or a.size < 2:
            raise ValueError(f"alpha_bar: expected a 1-D table of at least 2 steps, got shape {a.shape}")
        if not np.all(np.isfinite(a)) or np.any(a <= 0) or np.any(a >= 1) or np.any(np.diff(a) >= 0):
            raise ValueError("alpha_bar: expected values strictly decreasing inside (0, 1)")
        object.__setattr__(self, "alpha_bar", a)

    @classmethod
    def linear(cls, beta_start: float = 1e-4, beta_end: float = 0.02, steps: int = 1000) -> DiscreteSchedule:
        """DDPM's linear β: β = linspace(β_start, β_end, T), ᾱ_t = ∏_{s≤t} (1 − β_s)."""
        b0, b1 = float(beta_start), float(beta_end)
        if isinstance(steps, bool) or int(steps) != steps or steps < 2:
            raise ValueError(f"steps: expected an int >= 2, got {steps!r}")
        if not (0 < b0 <= b1 < 1):
            raise ValueError(f"beta_start, beta_end: expected 0 < beta_start <= beta_end < 1, got {b0!r}, {b1!r}")
        return cls(np.cumprod(1.0 - np.linspace(b0, b1, int(steps))))

    @classmethod
    def from_betas(cls, betas: Any) -> DiscreteSchedule:
        """A user's β table: ᾱ_t = ∏_{s≤t} (1 − β_s)."""
        b = np.asarray(betas, dtype=np.float64)
        if b.ndim != 1 or np.any(~np.isfinite(b)) or np.any(b <= 0) or np.any(b >= 1):
            raise ValueError("betas: expected a 1-D table of values inside (0, 1)")
        return cls(np.cumprod(1.0 - b))

    @property
    def steps(self) -> int:
        return int(self.alpha_bar.size)

    @property
    def sigmas(self) -> np.ndarray:
        """σ_t = √((1 − ᾱ_t)/ᾱ_t), increasing in t."""
        return np.sqrt((1.0 - self.alpha_bar) / self.alpha_bar)

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def locate(self, sigma: Any, interpolation: str = "nearest") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Steps (lo, hi) and weight w on hi for each σ: the output is (1 − w) out(lo) + w out(hi).

        "nearest": lo = hi = the step with the nearest log σ_t, w = 0. "step": σ_lo ≤ σ ≤ σ_hi = σ_{lo+1},
        w = (σ − σ_lo)/(σ_hi − σ_lo) (σ linear in the step index between steps). "log_sigma":
        w = (log σ − log σ_lo)/(log σ_hi − log σ_lo). Raises ValueError for σ outside [σ_0, σ_{T−1}].
        """
        _check_choice(interpolation, _INTERPOLATIONS, "interpolation")
        table = self.sigmas
        s = np.atleast_1d(_check_sigma_range(sigma, table[0], table[-1], f" ({self.steps} discrete steps)"))
        s = np.clip(s, table[0], table[-1])
        log_t, log_s = np.log(table), np.log(s)
        if interpolation == "nearest":
            idx = np.clip(np.searchsorted(log_t, log_s), 1, self.steps - 1)
            pick = np.where(log_s - log_t[idx - 1] <= log_t[idx] - log_s, idx - 1, idx)
            return pick, pick, np.zeros_like(s)
        lo = np.clip(np.searchsorted(table, s, side="right") - 1, 0, self.steps - 2)
        hi = lo + 1
        if interpolation == "step":
            w = (s - table[lo]) / (table[hi] - table[lo])
        else:
            w = (log_s - log_t[lo]) / (log_t[hi] - log_t[lo])
        return lo, hi, np.clip(w, 0.0, 1.0)

    def timestep(self, sigma: Any) -> np.ndarray:
        """Fractional step t(σ) = t_lo + (ln σ − ln σ_lo)/(ln σ_{lo+1} − ln σ_lo) for σ_lo ≤ σ ≤ σ_{lo+1}.

        That is ``lo + w`` of ``locate(σ, "log_sigma")``: ln σ linear in t between steps, t = n exactly at σ = σ_n.
        The result has σ's shape; σ outside [σ_0, σ_{T−1}] raises ValueError.
        """
        lo, _, w = self.locate(sigma, "log_sigma")
        return np.reshape(lo + w, np.shape(_as_float64(sigma)))

    def sigma_at(self, t: Any) -> np.ndarray:
        """Inverse of ``timestep``: σ(t) = exp(ln σ_n + (t − n)(ln σ_{n+1} − ln σ_n)), n ≤ t ≤ n + 1, t ∈ [0, T−1]."""
        t = _as_float64(t)
        n_max = self.steps - 1
        if not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(t > n_max):
            raise ValueError(f"t: must lie in [0, {n_max}], got values in [{np.min(t)}, {np.max(t)}]")
        return np.exp(np.interp(t, np.arange(self.steps, dtype=np.float64), np.log(self.sigmas)))


def parse_schedule(spec: Any) -> DiscreteSchedule | None:
    """None / "edm" / "continuous" → None (σ passed on); a DiscreteSchedule as is; or a string:

    "linear:β_start,β_end,T" (DDPM linear β), "alphabar:FILE" or "betas:FILE" (a .npy file or a text file of numbers).
    """
    if spec is None or isinstance(spec, DiscreteSchedule):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"schedule: expected None, a DiscreteSchedule or a string, got {type(spec).__name__}")
    allowed = "'edm', 'linear:BETA_START,BETA_END,STEPS', 'alphabar:FILE' or 'betas:FILE'"
    if spec in ("edm", "continuous", ""):
        return None
    kind, _, rest = spec.partition(":")
    if kind == "linear":
        parts = rest.split(",")
        try:
            b0, b1, t = float(parts[0]), float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise ValueError(f"schedule: expected 'linear:BETA_START,BETA_END,STEPS', got {spec!r}") from None
        if len(parts) != 3 or not math.isfinite(t) or t != int(t):
            raise ValueError(f"schedule: expected 'linear:BETA_START,BETA_END,STEPS', got {spec!r}")
        return DiscreteSchedule.linear(b0, b1, int(t))
    if kind in ("alphabar", "betas"):
        path = Path(rest).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"schedule: table file {str(path)!r} not found")
        table = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, dtype=np.float64)
        table = np.asarray(table, dtype=np.float64).ravel()
        return DiscreteSchedule(table) if kind == "alphabar" else DiscreteSchedule.from_betas(table)
    raise ValueError(f"schedule: expected {allowed}, got {spec!r}")
