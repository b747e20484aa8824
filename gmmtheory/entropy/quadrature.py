"""Two classes with a shared covariance: the binary-input Gaussian channel and Gauss–Hermite quadrature.

With means μ_0, μ_1, shared covariance Σ = U diag(λ) Uᵀ and Δ = μ_0 − μ_1, the posterior depends on x only through
the log-likelihood ratio L = log N(x; aμ_0, C)/N(x; aμ_1, C). Given Z = 0 it is Gaussian, L ~ N(2s, 4s), and given
Z = 1, L ~ N(−2s, 4s) — a Gaussian log-likelihood ratio whose variance is twice its mean — with effective SNR

    s(t) = ¼ a² Δᵀ C⁻¹ Δ = ¼ a² Σ_j (UᵀΔ)_j² / (a² λ_j + σ²)       (s = a²|m|²/(a²s_w² + σ²) for means ±m, Σ = s_w² I).

The logits are (log π_0 + L/2, log π_1 − L/2), so for any posterior functional f,
E f = Σ_z π_z ∫ f(logits(z, 2s·(±1) + 2√s ξ)) N(ξ; 0, 1) dξ, computed with probabilists' Gauss–Hermite nodes for
small s and with composite Gauss–Legendre in L for large s (see ``binary_expectation``).

``quadrature_statistic`` runs in float64 whatever ``precision`` says, from the centred means and the rescaled
coefficients (a, σ)/√(a² + σ²) (``coordinates.unit_coefficients``). s is formed in one place, ``snr_over_time``
(s = ¼ (M_00 − 2M_01 + M_11) from the Gram matrix M(t)); its weights per distinct eigenvalue, q_u
(``binary_snr_weights``), serve the rate's s(λ) and ds/dλ.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from gmmtheory._precision import precision_scope
from gmmtheory._types import Times, TimeValues
from gmmtheory.entropy.coordinates import unit_coefficients
from gmmtheory.entropy.functionals import apply_functional
from gmmtheory.entropy.moments import log_weights
from gmmtheory.entropy.reduced import gram_over_time, shared_gram_blocks
from gmmtheory.mixture import GaussianMixture
from gmmtheory.processes import Process

DEFAULT_NODES = 200


@functools.lru_cache(maxsize=8)
def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ξ_i and weights w_i with Σ_i w_i f(ξ_i) ≈ E f(ξ), ξ ~ N(0, 1) (probabilists' Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    return nodes, weights / np.sqrt(2.0 * np.pi)


def binary_snr(mixture: GaussianMixture, process: Process, t: Times) -> TimeValues:
    """Effective SNR s(t) = ¼ a² Δᵀ (a² Σ + σ² I)⁻¹ Δ of a two-class shared-covariance mixture (jit friendly in t).

    Computed from the whitened Gram matrix M(t) of the means (``reduced.gram_over_time``) as
    s = ¼ (M_00 − 2 M_01 + M_11): the cost depends on the number of distinct eigenvalues of Σ, not on d.
    Concrete (non-traced) times are computed in float64 whatever jax's x64 flag; traced ones in the trace's dtype.
    """
    if mixture.K != 2 or not mixture.shared_covariance:
        raise ValueError("binary_snr needs a mixture with K = 2 components and a shared covariance")
    if not isinstance(t, jax.core.Tracer) and not jax.config.jax_enable_x64:
        with jax.enable_x64(True):
            return binary_snr(mixture, process, np.asarray(t, dtype=np.float64))
    t = jnp.asarray(t, dtype=jnp.result_type(float))
    flat = t.reshape(-1)
    return snr_over_time(mixture, process.alpha(flat), process.sigma(flat) ** 2).reshape(t.shape)


def snr_over_time(mixture: GaussianMixture, a: Array, s2: Array) -> Array:
    """s = ¼ (M_00 − 2M_01 + M_11) at coefficients (a, σ²) (T,), M(t) the Gram matrix of the whitened, scaled
    centred means (``reduced.gram_over_time``): the one place the binary SNR is formed from (a, σ²)."""
    uniq, blocks = (jnp.asarray(v) for v in shared_gram_blocks(mixture))
    M = gram_over_time(uniq, blocks, a, s2)
    return 0.25 * (M[:, 0, 0] - 2.0 * M[:, 0, 1] + M[:, 1, 1])


def binary_snr_weights(mixture: GaussianMixture) -> tuple[np.ndarray, np.ndarray]:
    """Distinct eigenvalues u of the shared Σ and q_u = |P_u m|² ≥ 0, m = (μ_0 − μ_1)/2 (P_u: the projector on
    eigenspace u), so that s = Σ_u q_u a²/(a²u + σ²) (float64 numpy)."""
    uniq, blocks = shared_gram_blocks(mixture)
    q = 0.25 * (blocks[:, 0, 0] - 2.0 * blocks[:, 0, 1] + blocks[:, 1, 1])
    return np.asarray(uniq, np.float64), np.clip(q, 0.0, None)


SWITCH_SNR = 1.0  # Gauss–Hermite in ξ below this s, windowed Gauss–Legendre in L above it
WINDOW = 60.0  # half-width in L of the window around the decision point L = −log(π_0/π_1)
PANELS, PANEL_NODES = 120, 8


@functools.lru_cache(maxsize=1)
def window_rule() -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre nodes/weights on [−WINDOW, WINDOW]: PANELS panels of PANEL_NODES nodes each."""
    x, w = np.polynomial.legendre.leggauss(PANEL_NODES)
    edges = np.linspace(-WINDOW, WINDOW, PANELS + 1)
    half = np.diff(edges)[:, None] / 2
    nodes = (edges[:-1, None] + half * (x[None] + 1)).ravel()
    return nodes, (half * w[None]).ravel()


def _logits(llr: Array, log_weights: Array) -> Array:
    return jnp.stack([log_weights[0] + 0.5 * llr, log_weights[1] - 0.5 * llr], axis=-1)


def _binary_accuracy(s: Array, log_weights: Array, membership: Array | None) -> Array:
    """E max_z p(z | x) = P(the Bayes rule is right) = π_0 Φ((2s + b)/(2√s)) + π_1 Φ((2s − b)/(2√s)), b = log π_0/π_1.

    At s = 0 it is max(π_0, π_1); with the one-group partition it is 1.
    """
    if membership is not None and membership.shape[1] == 1:
        return jnp.ones_like(s)
    pi = jnp.exp(log_weights)
    b = log_weights[0] - log_weights[1]
    safe = jnp.where(s > 0, s, 1.0)
    root = 2.0 * jnp.sqrt(safe)
    acc = pi[0] * jax.scipy.stats.norm.cdf((2.0 * safe + b) / root) + pi[1] * jax.scipy.stats.norm.cdf(
        (2.0 * safe - b) / root
    )
    return jnp.where(s > 0, acc, jnp.max(pi))


@functools.partial(jax.jit, static_argnames=("functional",))
def binary_expectation(
    s: Array, log_weights: Array, nodes: Array, node_weights: Array, membership: Array | None, functional: str
) -> Array:
    """E f over the binary channel at effective SNRs s (T,), for f in ("entropy", "collision", "max").

    For s < SWITCH_SNR: Σ_z π_z Σ_i w_i f(logits(z, ±2s + 2√s ξ_i)) with Gauss–Hermite (ξ_i, w_i) (``nodes``).
    For s ≥ SWITCH_SNR the integrand varies on an O(1) scale in L while L's law is wide, so instead
    E f = f_∞ + Σ_z π_z ∫ (f(L) − f_∞) N(L; ±2s, 4s) dL, where f_∞ is f at a decided posterior (the same on both
    sides) and f − f_∞ decays like |L| e^{−|L|}: composite Gauss–Legendre on a window of half-width 60 around the
    decision point. f = max p has a kink at the decision point, so it uses its closed form (``_binary_accuracy``).
    """
    if functional == "max":
        return _binary_accuracy(s, log_weights, membership)
    s_lo = jnp.minimum(s, SWITCH_SNR)[:, None]
    s_hi = jnp.maximum(s, SWITCH_SNR)[:, None]
    gl_nodes, gl_weights = (jnp.asarray(v, dtype=s.dtype) for v in window_rule())
    decision = log_weights[1] - log_weights[0]  # L where the posterior is ½ : ½
    llr_window = decision + gl_nodes
    f_window = apply_functional(_logits(llr_window, log_weights), membership, functional)
    f_inf = apply_functional(_logits(jnp.asarray([1e4], s.dtype), jnp.zeros(2, s.dtype)), membership, functional)[0]
    total_gh = jnp.zeros_like(s)
    total_gl = jnp.zeros_like(s)
    for z, sign in ((0, 1.0), (1, -1.0)):
        pi_z = jnp.exp(log_weights[z])
        llr = sign * 2.0 * s_lo + 2.0 * jnp.sqrt(s_lo) * nodes[None, :]
        gh = apply_functional(_logits(llr, log_weights), membership, functional) @ node_weights
        mean, sd = sign * 2.0 * s_hi, 2.0 * jnp.sqrt(s_hi)
        density = jnp.exp(-0.5 * ((llr_window[None, :] - mean) / sd) ** 2) / (sd * jnp.sqrt(2.0 * jnp.pi))
        gl = f_inf + ((f_window - f_inf)[None, :] * density) @ gl_weights
        total_gh = total_gh + jnp.where(pi_z > 0, pi_z * gh, 0.0)
        total_gl = total_gl + jnp.where(pi_z > 0, pi_z * gl, 0.0)
    return jnp.where(s < SWITCH_SNR, total_gh, total_gl)


def quadrature_statistic(
    mixture: GaussianMixture,
    process: Process,
    t: np.ndarray,
    functional: str,
    membership: np.ndarray | None,
    n_nodes: int = DEFAULT_NODES,
) -> np.ndarray:
    """E f over t (numpy float64 in, numpy out) for a two-class shared-covariance mixture.

    Always float64, whatever the caller's jax x64 mode (an exact method: ``precision`` affects only Monte Carlo).
    s(t) is computed from the centred means (``reduced.shared_gram_blocks``) and from (a, σ) rescaled to
    a² + σ² = 1 (``coordinates.unit_coefficients``), so neither a common offset of the means nor σ² overflow costs
    precision; s → 0 gives the prior's value exactly.
    """
    if mixture.K != 2 or not mixture.shared_covariance:
        raise ValueError("quadrature needs a mixture with K = 2 components and a shared covariance")
    nodes, weights = gauss_hermite(n_nodes)
    a, s2 = unit_coefficients(process, np.asarray(t, np.float64))
    with precision_scope("float64"):
        s = jnp.clip(snr_over_time(mixture, jnp.asarray(a), jnp.asarray(s2)), 0.0, None)
        log_w = log_weights(mixture)
        out = binary_expectation(
            s, jnp.asarray(log_w), jnp.asarray(nodes), jnp.asarray(weights),
            None if membership is None else jnp.asarray(membership), functional,
        )
        out = np.asarray(out, dtype=np.float64)
    return out.reshape(np.shape(t))
