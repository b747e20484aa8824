"""Forward noising processes X_t = a(t) X_0 + σ(t) ε, ε ~ N(0, I).

Every process gives the signal scale a(t), the noise scale σ(t), the SNR γ(t) = a²/σ² and the log-SNR
λ(t) = log γ, the inverse map λ ↦ t, and the coefficients of the equivalent linear SDE
dX = f(t) X dt + g(t) dW with f = d log a / dt and g² = dσ²/dt − 2 f σ². Since H[Z | X_t] depends on t only
through γ(t), ``p.convert(t, q)`` maps times of process p to the times of process q with the same SNR.

================  ==========================  ======================  =========================
process           a(t)                        σ(t)²                   time domain
================  ==========================  ======================  =========================
``OU()``          e^{−t}                      1 − e^{−2t}             t ≥ 0 (Biroli et al.)
``VP(βmin,βmax)``  exp(−½ B(t)), B = ∫₀ᵗ β      1 − a²                  0 ≤ t ≤ 1, β linear in t
``DiscreteVP``    √ᾱ(t)                       1 − ᾱ(t)                0 ≤ t ≤ N−1 (step index)
``VE()``          1                           t                       t ≥ 0
``EDM(σ_data)``   σ_data                      t²  (t ≡ σ)             t ≥ 0
``Flow()``        1 − t                       t²                      0 ≤ t ≤ 1
================  ==========================  ======================  =========================

All methods take scalars or arrays (numpy or jax) and are jit/vmap compatible; they do not validate (use
``check_times`` for that, which the entropy functions call before any jit work). ``get_process(name)`` builds a
process by name and ``check_process`` accepts a process or its name; ``time_factors`` evaluates a, σ², γ, their
derivatives and the SDE coefficients on a grid in one jit call.
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from gmmtheory._checks import check_count, check_finite, check_fraction, check_positive
from gmmtheory._checks import check_times as check_time_values
from gmmtheory._precision import precision_scope
from gmmtheory._types import Grid, Table, TimeGrid, Times, TimeValues


class Process:
    """Base class: subclasses define ``alpha``, ``log_snr``, ``t_from_log_snr`` and the time domain."""

    name: str = "process"
    t_min: float = 0.0
    t_max: float = math.inf

    # --- to be provided by subclasses -------------------------------------------------------------------------
    def alpha(self, t: Times) -> TimeValues:  # pragma: no cover - abstract
        """Signal scale a(t)."""
        raise NotImplementedError

    def sigma(self, t: Times) -> TimeValues:  # pragma: no cover - abstract
        """Noise scale σ(t)."""
        raise NotImplementedError

    def log_snr(self, t: Times) -> TimeValues:  # pragma: no cover - abstract
        """λ(t) = log(a²/σ²)."""
        raise NotImplementedError

    def t_from_log_snr(self, lam: Times) -> TimeValues:  # pragma: no cover - abstract
        """The time t with λ(t) = lam."""
        raise NotImplementedError

    # --- derived ----------------------------------------------------------------------------------------------
    def snr(self, t: Times) -> TimeValues:
        """γ(t) = a(t)²/σ(t)²."""
        return jnp.exp(self.log_snr(t))

    def t_from_snr(self, snr: Times) -> TimeValues:
        """The time t with γ(t) = snr."""
        return self.t_from_log_snr(jnp.log(jnp.asarray(snr)))

    def t_from_sigma_ve(self, sigma_ve: Times) -> TimeValues:
        """The time whose SNR equals that of VE/EDM (unit data scale) noise level σ: γ = 1/σ²."""
        return self.t_from_log_snr(-2.0 * jnp.log(jnp.asarray(sigma_ve)))

    def convert(self, t: Times, to: Process) -> TimeValues:
        """Times of process ``to`` with the same SNR as times ``t`` of this process."""
        return to.t_from_log_snr(self.log_snr(t))

    def _elementwise_grad(self, fn, t: Times) -> TimeValues:
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        flat = t.reshape(-1)
        return jax.vmap(jax.grad(fn))(flat).reshape(t.shape)

    def dlog_snr_dt(self, t: Times) -> TimeValues:
        """dλ/dt (negative: the SNR falls in forward time)."""
        return self._elementwise_grad(lambda s: self.log_snr(s), t)

    def drift(self, t: Times) -> TimeValues:
        """f(t) = d log a/dt, the linear drift coefficient of dX = f X dt + g dW."""
        return self._elementwise_grad(lambda s: jnp.log(self.alpha(s)), t)

    def diffusion_sq(self, t: Times) -> TimeValues:
        """g(t)² = dσ²/dt − 2 f(t) σ(t)²."""
        dvar = self._elementwise_grad(lambda s: self.sigma(s) ** 2, t)
        return dvar - 2.0 * self.drift(t) * self.sigma(t) ** 2

    def check_times(self, t: object, name: str = "t") -> np.ndarray:
        """Validate times eagerly: real, finite, inside [t_min, t_max]. Returns a float64 numpy array."""
        return check_times(t, self, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_times(t: object, process: Process, name: str = "t") -> np.ndarray:
    """Return ``t`` as a float64 numpy array (scalar or 1-D), finite and inside the time domain of ``process``,
    raising ``ValueError`` naming ``name`` if invalid (``gmmtheory._checks.check_times`` with that domain).

    Strings (``"0.1"``), booleans (``True``) and complex numbers are refused rather than converted."""
    return check_time_values(name, t, t_min=process.t_min, t_max=process.t_max, where=f" for {process!r}")


def check_process(process: object) -> Process:
    """A ``Process`` instance, or a process name for ``get_process`` ('ou', 'vp', 've', 'edm', 'flow', 'ddpm',
    'sd15'); anything else raises ``ValueError`` naming ``process``."""
    if isinstance(process, str):
        return get_process(process)
    if not isinstance(process, Process):
        raise ValueError(f"process must be a gmmtheory process (OU(), VP(), VE(), EDM(), Flow(), ...) or a name "
                         f"('ou', 'vp', 've', 'edm', 'flow', 'ddpm', 'sd15'); got {process!r}")
    return process


def _check_schedule_table(values: object, name: str) -> np.ndarray:
    """A 1-D float64 table of real numbers, or ``ValueError`` naming ``name`` (text, booleans, complex refused)."""
    try:
        raw = np.asarray(values)
        if raw.dtype.kind not in "iuf":
            raise TypeError
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D table of real numbers; got {type(values).__name__}") from None


def _check_label(label: object, name: str) -> str:
    if not isinstance(label, str):
        raise ValueError(f"{name} must be a string; got {type(label).__name__} {label!r}")
    return label


@dataclass(frozen=True)
class OU(Process):
    """Ornstein–Uhlenbeck / "Biroli time": dX = −X dt + √2 dW, a = e^{−t}, σ² = 1 − e^{−2t}, λ = −log(e^{2t} − 1)."""

    name = "OU"

    def alpha(self, t: Times) -> TimeValues:
        return jnp.exp(-jnp.asarray(t))

    def sigma(self, t: Times) -> TimeValues:
        return jnp.sqrt(-jnp.expm1(-2.0 * jnp.asarray(t)))

    def log_snr(self, t: Times) -> TimeValues:
        return -jnp.log(jnp.expm1(2.0 * jnp.asarray(t)))

    def t_from_log_snr(self, lam: Times) -> TimeValues:
        return 0.5 * jax.nn.softplus(-jnp.asarray(lam))


@dataclass(frozen=True)
class VP(Process):
    """Continuous variance-preserving process with linear β(t) = β_min + t(β_max − β_min), t ∈ [0, 1].

    B(t) = β_min t + ½ (β_max − β_min) t², a = e^{−B/2}, σ² = 1 − e^{−B}, λ = −log(e^{B} − 1).
    Discrete schedules (DDPM, Stable Diffusion) come from ``VP.from_betas``, ``VP.from_alphas_cumprod``,
    ``VP.ddpm_linear()`` and ``VP.sd15()``.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    name = "VP"
    t_max = 1.0

    def __post_init__(self) -> None:
        check_positive("beta_min", self.beta_min)
        check_finite("beta_max", self.beta_max)
        if self.beta_max < self.beta_min:
            raise ValueError(f"beta_max must be ≥ beta_min; got beta_max={self.beta_max!r} < {self.beta_min!r}")

    def _B(self, t: Times) -> TimeValues:
        t = jnp.asarray(t)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

    def alpha(self, t: Times) -> TimeValues:
        return jnp.exp(-0.5 * self._B(t))

    def sigma(self, t: Times) -> TimeValues:
        return jnp.sqrt(-jnp.expm1(-self._B(t)))

    def log_snr(self, t: Times) -> TimeValues:
        return -jnp.log(jnp.expm1(self._B(t)))

    def t_from_log_snr(self, lam: Times) -> TimeValues:
        B = jax.nn.softplus(-jnp.asarray(lam))
        db = self.beta_max - self.beta_min
        if db == 0:
            return B / self.beta_min
        return (jnp.sqrt(self.beta_min**2 + 2.0 * db * B) - self.beta_min) / db

    @staticmethod
    def from_betas(betas: Table, name: str = "discrete VP") -> DiscreteVP:
        """Discrete VP from a β table: ᾱ_n = Π_{i ≤ n} (1 − β_i)."""
        b = _check_schedule_table(betas, "betas")
        _check_label(name, "name")
        if b.ndim != 1 or b.size < 2 or not np.all(np.isfinite(b)) or np.any(b <= 0) or np.any(b >= 1):
            raise ValueError("betas must be a 1-D table of at least 2 values in (0, 1)")
        return DiscreteVP(tuple(np.cumprod(1.0 - b).tolist()), name)

    @staticmethod
    def from_alphas_cumprod(alphas_cumprod: Table, name: str = "discrete VP") -> DiscreteVP:
        """Discrete VP from an ᾱ table (strictly decreasing, in (0, 1))."""
        table = _check_schedule_table(alphas_cumprod, "alphas_cumprod")
        return DiscreteVP(tuple(table.tolist()), _check_label(name, "name"))

    @staticmethod
    def ddpm_linear(n_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> DiscreteVP:
        """DDPM's linear schedule (Ho et al.): β linear from 1e-4 to 0.02 over 1000 steps."""
        n_steps, beta_start, beta_end = _check_linear_schedule(n_steps, beta_start, beta_end)
        return VP.from_betas(np.linspace(beta_start, beta_end, n_steps), "DDPM linear")

    @staticmethod
    def sd15(n_steps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> DiscreteVP:
        """Stable Diffusion 1.5's "scaled_linear" schedule: √β linear from √0.00085 to √0.012 over 1000 steps."""
        n_steps, beta_start, beta_end = _check_linear_schedule(n_steps, beta_start, beta_end)
        return VP.from_betas(np.linspace(beta_start**0.5, beta_end**0.5, n_steps) ** 2, "SD1.5 scaled linear")


def _check_linear_schedule(n_steps: object, beta_start: object, beta_end: object) -> tuple[int, float, float]:
    """Validate the arguments of ``VP.ddpm_linear`` / ``VP.sd15``: n_steps an integer ≥ 2, 0 < β_start, β_end < 1."""
    n = check_count("n_steps", n_steps, 2)
    return n, check_fraction("beta_start", beta_start), check_fraction("beta_end", beta_end)


@dataclass(frozen=True)
class DiscreteVP(Process):
    """Discrete VP schedule ᾱ_0 > ᾱ_1 > … > ᾱ_{N−1}; time is the (real-valued) step index t ∈ [0, N−1].

    λ_n = log(ᾱ_n / (1 − ᾱ_n)) is interpolated linearly between integer steps (timestep interpolation), so
    a = √sigmoid(λ), σ = √sigmoid(−λ). ``first_step_below(ᾱ)`` gives the first integer step with ᾱ_n < value.
    """

    alphas_cumprod: tuple[float, ...]
    label: str = "discrete VP"
    name = "DiscreteVP"

    def __post_init__(self) -> None:
        ab = _check_schedule_table(self.alphas_cumprod, "alphas_cumprod")
        _check_label(self.label, "label")
        if ab.ndim != 1 or ab.size < 2 or not np.all(np.isfinite(ab)) or np.any(ab <= 0) or np.any(ab >= 1):
            raise ValueError("alphas_cumprod must be a 1-D table of at least 2 values in (0, 1)")
        if np.any(np.diff(ab) >= 0):
            raise ValueError("alphas_cumprod must be strictly decreasing")

    @property
    def t_max(self) -> float:  # type: ignore[override]
        return float(len(self.alphas_cumprod) - 1)

    @property
    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        ab = np.asarray(self.alphas_cumprod)
        return np.arange(ab.size, dtype=np.float64), np.log(ab) - np.log1p(-ab)

    def log_snr(self, t: Times) -> TimeValues:
        n, lam = self._table
        return jnp.interp(jnp.asarray(t), n, lam)

    def t_from_log_snr(self, lam: Times) -> TimeValues:
        n, table = self._table
        return jnp.interp(jnp.asarray(lam), table[::-1], n[::-1])

    def alpha(self, t: Times) -> TimeValues:
        return jnp.sqrt(jax.nn.sigmoid(self.log_snr(t)))

    def sigma(self, t: Times) -> TimeValues:
        return jnp.sqrt(jax.nn.sigmoid(-self.log_snr(t)))

    def first_step_below(self, alpha_bar: float) -> int:
        """First integer step n with ᾱ_n < alpha_bar (e.g. 1/Λ for the speciation step); −1 if none."""
        ab = np.asarray(self.alphas_cumprod)
        below = np.flatnonzero(ab < alpha_bar)
        return int(below[0]) if below.size else -1

    def __repr__(self) -> str:
        return f"DiscreteVP({self.label!r}, N={len(self.alphas_cumprod)})"


@dataclass(frozen=True)
class VE(Process):
    """Variance-exploding (Brownian) process: a = 1, σ² = t, λ = −log t."""

    name = "VE"

    def alpha(self, t: Times) -> TimeValues:
        return jnp.ones_like(jnp.asarray(t, dtype=jnp.result_type(float)))

    def sigma(self, t: Times) -> TimeValues:
        return jnp.sqrt(jnp.asarray(t))

    def log_snr(self, t: Times) -> TimeValues:
        return -jnp.log(jnp.asarray(t))

    def t_from_log_snr(self, lam: Times) -> TimeValues:
        return jnp.exp(-jnp.asarray(lam))


@dataclass(frozen=True)
class EDM(Process):
    """EDM / EDM2 parameterisation with time t ≡ σ: X_σ = σ_data·X_0 + σ ε, so a = σ_data, γ = σ_data²/σ².

    The mixture is taken in unit scale and multiplied by ``sigma_data`` (EDM2 scales its data to 0.5); with the
    default σ_data = 1 this is VE indexed by σ, and OU time corresponds to t = ½ log(1 + σ²).
    """

    sigma_data: float = 1.0
    name = "EDM"

    def __post_init__(self) -> None:
        check_positive("sigma_data", self.sigma_data)

    def alpha(self, t: Times) -> TimeValues:
        return jnp.full_like(jnp.asarray(t, dtype=jnp.result_type(float)), self.sigma_data)

    def sigma(self, t: Times) -> TimeValues:
        return jnp.asarray(t, dtype=jnp.result_type(float))

    def log_snr(self, t: Times) -> TimeValues:
        return 2.0 * (math.log(self.sigma_data) - jnp.log(jnp.asarray(t)))

    def t_from_log_snr(self, lam: Times) -> TimeValues:
        return self.sigma_data * jnp.exp(-0.5 * jnp.asarray(lam))

    def __repr__(self) -> str:
        return f"EDM(sigma_data={self.sigma_data:g})"


@dataclass(frozen=True)
class Flow(Process):
    """Rectified flow / linear interpolation: a = 1 − t, σ = t, λ = 2 log((1 − t)/t), t ∈ [0, 1]."""

    name = "Flow"
    t_max = 1.0

    def alpha(self, t: Times) -> TimeValues:
        return 1.0 - jnp.asarray(t)

    def sigma(self, t: Times) -> TimeValues:
        return jnp.asarray(t, dtype=jnp.result_type(float))

    def log_snr(self, t: Times) -> TimeValues:
        t = jnp.asarray(t)
        return 2.0 * (jnp.log1p(-t) - jnp.log(t))

    def t_from_log_snr(self, lam: Times) -> TimeValues:
        return jax.nn.sigmoid(-0.5 * jnp.asarray(lam))


@functools.partial(jax.jit, static_argnames=("process",))
def _factors_kernel(process: Process, t: Array) -> dict[str, Array]:
    def grad(fn):
        return jax.vmap(jax.grad(fn))(t)

    a, sig = process.alpha(t), process.sigma(t)
    da, ds2 = grad(process.alpha), grad(lambda u: process.sigma(u) ** 2)
    f = da / a
    return {
        "a": a,
        "s2": sig**2,
        "gamma": a**2 / sig**2,
        "dgamma": grad(lambda u: process.alpha(u) ** 2 / process.sigma(u) ** 2),
        "dlam": grad(process.log_snr),
        "dlogsig": grad(lambda u: jnp.log(process.sigma(u))),
        "da": da,
        "ds2": ds2,
        "f": f,
        "g2": ds2 - 2.0 * f * sig**2,
    }


def time_factors(process: Process, times: TimeGrid) -> dict[str, Grid]:
    """Everything a rate or a sampler needs at ``times`` (1-D), as float64 numpy: a, σ², γ, dγ/dt, dλ/dt,
    d log σ/dt, da/dt, dσ²/dt, and the SDE coefficients f = d log a/dt, g² = dσ²/dt − 2fσ².

    One jit-compiled kernel per process and padded grid length (powers of two ≥ 8), so sweeps over many time grids
    do not recompile. Not traceable (use the ``Process`` methods inside jit).
    """
    flat = np.atleast_1d(np.asarray(times, dtype=np.float64))
    size = max(8, 1 << (flat.size - 1).bit_length())
    padded = np.concatenate([flat, np.full(size - flat.size, flat[-1])])
    with precision_scope("float64"):
        try:
            out = _factors_kernel(process, jnp.asarray(padded, dtype=jnp.float64))
        except (TypeError, ValueError):  # an unhashable process: no jit cache, same formulas
            out = _factors_kernel.__wrapped__(process, jnp.asarray(flat, dtype=jnp.float64))
        return {k: np.asarray(v, dtype=np.float64)[: flat.size] for k, v in out.items()}


def get_process(name: str, **kwargs: float) -> Process:
    """A process by name: 'ou', 'vp', 've', 'edm', 'flow', 'ddpm', 'sd15' (case-insensitive)."""
    table = {
        "ou": OU,
        "vp": VP,
        "ve": VE,
        "edm": EDM,
        "flow": Flow,
        "ddpm": VP.ddpm_linear,
        "sd15": VP.sd15,
    }
    key = str(name).lower()
    if key not in table:
        raise ValueError(f"process must be one of {sorted(table)}; got {name!r}")
    params = inspect.signature(table[key]).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ValueError(f"process {key!r} takes the parameters {sorted(params)}; got unknown {unknown}")
    return table[key](**kwargs)
