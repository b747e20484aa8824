"""The time grids practitioners sample with, each as a decreasing array of unit-data σ (VE-equivalent noise level
σ = σ_t/a_t = e^{−λ/2}; for a VP schedule σ = √((1 − ᾱ)/ᾱ)), and the share of their steps and network evaluations
that falls inside a σ window.

    DDPM linear β (Ho et al. 2020):   β_i = 1e-4 + (0.02 − 1e-4) i/(T−1), ᾱ_t = Π_{i≤t} (1 − β_i), T = 1000
    cosine (Nichol & Dhariwal 2021):  ᾱ_t = f(t)/f(0), f(t) = cos²(((t/T) + s)/(1 + s) · π/2), s = 0.008,
                                      via β_t = min(1 − ᾱ_t/ᾱ_{t−1}, 0.999) (their clipping)
    timestep spacings of N steps:     "linspace"  t_i = round(linspace(T − 1, 0, N))   (uniform in t, DDPM-style)
                                      "leading"   t_i = (N − 1 − i)·⌊T/N⌋              (DDIM's τ, Song et al. 2021)
    EDM (Karras et al. 2022):         σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, ρ = 7, [0.002, 80]
    uniform log-SNR:                  λ_i = linspace(−2 log σ_max, −2 log σ_min, N), σ_i = e^{−λ_i/2}

``grid_catalogue()`` names each with the solver and its evaluations per step (Heun: 2 per step except the last,
which is Euler to σ = 0; DDPM ancestral / DDIM: 1 per step); ``window_fractions`` counts steps and evaluations
whose σ lies inside (σ_lo, σ_hi).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gmmtheory._checks import check_choice, check_count, check_positive
from gmmtheory.schedules import edm_sigma_grid

__all__ = [
    "GRID_FAMILIES",
    "SamplerGrid",
    "cosine_alpha_bar",
    "ddpm_linear_alpha_bar",
    "grid_catalogue",
    "make_sampler_grid",
    "timestep_spacing",
    "vp_sigma",
    "window_fractions",
]

T_TRAIN = 1000
GRID_FAMILIES = ("ddpm", "ddim", "cosine", "edm", "logsnr")
_DESCRIPTION = {
    "ddpm": "DDPM linear β 1e-4..0.02, timesteps uniform in t (linspace), 1 eval/step",
    "ddim": "DDPM linear β, DDIM 'leading' spacing t = i·⌊1000/N⌋, 1 eval/step",
    "cosine": "cosine ᾱ (Nichol & Dhariwal, s = 0.008), 'leading' spacing, 1 eval/step",
    "edm": "EDM ρ = 7, σ ∈ [0.002, 80], Heun (2 evals/step, last step Euler)",
    "logsnr": "uniform log-SNR over EDM's σ ∈ [0.002, 80], Heun",
}


def vp_sigma(alpha_bar: object) -> np.ndarray:
    """σ = √((1 − ᾱ)/ᾱ), the unit-data VE noise level of a VP state with signal fraction ᾱ."""
    ab = np.asarray(alpha_bar, np.float64)
    return np.sqrt((1.0 - ab) / ab)


def ddpm_linear_alpha_bar(T: int = T_TRAIN, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """ᾱ_t = Π_{i ≤ t} (1 − β_i), β linear from ``beta_start`` to ``beta_end`` over T steps (t = 0..T−1)."""
    T = check_count("T", T, 2)
    return np.cumprod(1.0 - np.linspace(beta_start, beta_end, T))


def cosine_alpha_bar(T: int = T_TRAIN, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Nichol & Dhariwal's ᾱ_t (t = 0..T−1): β_t = min(1 − f(t+1)/f(t), max_beta), f(t) = cos²((t/T + s)/(1 + s)·π/2),
    ᾱ = cumprod(1 − β)."""
    T = check_count("T", T, 2)
    t = np.arange(T + 1) / T
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    beta = np.minimum(1.0 - f[1:] / f[:-1], max_beta)
    return np.cumprod(1.0 - beta)


def timestep_spacing(n_steps: int, spacing: str = "linspace", T: int = T_TRAIN) -> np.ndarray:
    """Decreasing integer timesteps of an N-step sampler: "linspace" round(linspace(T−1, 0, N)) or "leading"
    (N − 1 − i)·⌊T/N⌋."""
    n = check_count("n_steps", n_steps, 2)
    spacing = check_choice("spacing", spacing, ("linspace", "leading"))
    if n > T:
        raise ValueError(f"n_steps must be ≤ T = {T}; got {n}")
    if spacing == "linspace":
        return np.round(np.linspace(T - 1, 0, n)).astype(int)
    return (np.arange(n)[::-1] * (T // n)).astype(int)


@dataclass(frozen=True)
class SamplerGrid:
    """A practitioner's grid: ``sigma`` (N,) decreasing σ > 0 (the sampler appends σ_N = 0), ``solver`` ("heun" or
    "euler": DDPM/DDIM's one evaluation per step), ``name`` and ``description``."""

    name: str
    sigma: np.ndarray
    solver: str
    description: str

    @property
    def n_steps(self) -> int:
        return int(self.sigma.size)

    @property
    def eval_sigmas(self) -> np.ndarray:
        """σ of every network evaluation: σ_i for each step, plus σ_{i+1} for Heun's corrector (not the last step)."""
        if self.solver == "heun":
            return np.concatenate([self.sigma, self.sigma[1:]])
        return self.sigma.copy()

    @property
    def n_evals(self) -> int:
        return int(self.eval_sigmas.size)


def make_sampler_grid(family: str, n_steps: int) -> SamplerGrid:
    """The ``family`` grid (``GRID_FAMILIES``) at ``n_steps`` steps."""
    family = check_choice("family", family, GRID_FAMILIES)
    n = check_count("n_steps", n_steps, 2)
    if family in ("ddpm", "ddim"):
        t = timestep_spacing(n, "linspace" if family == "ddpm" else "leading")
        sig, solver = vp_sigma(ddpm_linear_alpha_bar()[t]), "euler"
    elif family == "cosine":
        sig, solver = vp_sigma(cosine_alpha_bar()[timestep_spacing(n, "leading")]), "euler"
    elif family == "edm":
        sig, solver = edm_sigma_grid(n), "heun"
    else:
        lam = np.linspace(-2 * math.log(80.0), -2 * math.log(0.002), n)
        sig, solver = np.exp(-lam / 2), "heun"
    return SamplerGrid(f"{family}-{n}", np.asarray(sig, np.float64), solver, _DESCRIPTION[family])


def grid_catalogue() -> dict[str, SamplerGrid]:
    """The grids practitioners use: DDPM 1000 and 50 steps uniform in t, DDIM 50 (leading), cosine 50, EDM 18/32/64,
    uniform log-SNR 32."""
    spec = (("ddpm", 1000), ("ddpm", 50), ("ddim", 50), ("cosine", 50), ("edm", 18), ("edm", 32), ("edm", 64),
            ("logsnr", 32))
    return {f"{f}-{n}": make_sampler_grid(f, n) for f, n in spec}


def window_fractions(grid: SamplerGrid, window: tuple[float, float]) -> dict:
    """Shares of the grid's steps (σ_i of each step) and network evaluations (``eval_sigmas``) with
    σ_lo < σ < σ_hi. Returns {"steps_inside", "steps", "step_fraction", "evals_inside", "evals", "eval_fraction"}."""
    lo, hi = float(window[0]), float(window[1])
    if not (lo >= 0 and hi > lo):
        raise ValueError(f"window must satisfy 0 ≤ sigma_lo < sigma_hi; got {window!r}")
    check_positive("sigma_hi", hi)
    s, e = grid.sigma, grid.eval_sigmas
    n_s = int(np.sum((s > lo) & (s < hi)))
    n_e = int(np.sum((e > lo) & (e < hi)))
    return {"steps_inside": n_s, "steps": s.size, "step_fraction": n_s / s.size,
            "evals_inside": n_e, "evals": e.size, "eval_fraction": n_e / e.size}
