"""Finite training sets: the index posterior of P points collapses onto one training point at the collapse time.

P points in dimension d (``empirical(points)``, Σ_k = 0). For Gaussian data with covariance eigenvalues v_j (Biroli
et al.'s condensation / excess entropy criterion) collapse happens when log P equals the mutual information of a
Gaussian X_0 with X_t,
      log P = ½ Σ_j log(1 + γ v_j),
which for v_j = 1 in OU time gives t_C = ½ log(1 + 1/(P^{2/d} − 1)) (``collapse_time_theory``). Above t_C the index
entropy H[index | X_t] ≈ log P − ½ Σ_j log(1 + γ v_j) is extensive (H/d is the excess entropy), below it is O(1);
``collapse_time`` locates the empirical collapse as the time where H[index | X_t] (``index_entropy``, Monte Carlo)
falls to ``threshold`` nats.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize

from gmmtheory._checks import check_key
from gmmtheory._curves import crossing_bracket
from gmmtheory._precision import in_float64, precision_scope
from gmmtheory.entropy.result import EntropyResult
from gmmtheory.mixture import GaussianMixture
from gmmtheory.processes import OU, Process, check_process
from gmmtheory.schedules import log_snr_to_ou_time, log_snr_to_time, ou_time_to_time

_OU = OU()


def collapse_time_theory(n_points: int, d: int | None = None, variance: float = 1.0, process: Process | str = _OU, *,
                         eigenvalues: object = None) -> float:
    """Collapse time of P training points drawn from a Gaussian: log P = ½ Σ_j log(1 + γ v_j), mapped to ``process``.

    Isotropic unit variance in OU time: t_C = ½ log(1 + 1/(P^{2/d} − 1)) (Biroli et al.; P = 20000:
    1.2988, 1.9775, 2.6671 for d = 256, 1024, 4096). ``eigenvalues`` (the data covariance spectrum) replaces
    (d, variance) for anisotropic data.
    """
    process = check_process(process)
    if not (isinstance(n_points, (int, np.integer)) and n_points >= 2):
        raise ValueError(f"n_points must be an integer ≥ 2; got {n_points!r}")
    log_p = math.log(n_points)
    if eigenvalues is None:
        if d is None or d < 1 or not variance > 0:
            raise ValueError("give d ≥ 1 and variance > 0, or eigenvalues")
        gamma = math.expm1(2.0 * log_p / d) / variance
        lam = math.log(gamma)
    else:
        v = np.asarray(eigenvalues, dtype=np.float64)
        v = v[v > 0]
        def f(lam):
            return 0.5 * float(np.sum(np.log1p(np.exp(lam) * v))) - log_p
        lo, hi = -50.0, 50.0
        while f(hi) < 0:
            hi += 50.0
        lam = optimize.brentq(f, lo, hi, xtol=1e-14)
    t_ou = 0.5 * math.log1p(math.exp(-lam))
    return t_ou if isinstance(process, OU) else ou_time_to_time(process, t_ou)


def _points_of(points_or_mixture: object) -> np.ndarray:
    if isinstance(points_or_mixture, GaussianMixture):
        if not np.all(points_or_mixture.spectrum.evals == 0):
            raise ValueError("the mixture must be a set of points (Σ_k = 0), e.g. empirical(points)")
        if not np.allclose(points_or_mixture.weights, 1.0 / points_or_mixture.K):
            raise ValueError("the points must be equally weighted")
        return np.asarray(points_or_mixture.means, np.float64)
    pts = np.asarray(points_or_mixture, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] < 2 or not np.all(np.isfinite(pts)):
        raise ValueError("points must be a finite (P, d) array with P ≥ 2")
    return pts


@jax.jit
def _index_entropy_kernel(G_i, E, sq, a, s):
    """Per time and draw: entropy of softmax_j((a² G_ij + aσ E_nj − ½ a²|x_j|²)/σ²)."""
    logits = (a[:, None, None] ** 2 * G_i[None] + (a * s)[:, None, None] * E[None]
              - 0.5 * a[:, None, None] ** 2 * sq[None, None, :]) / (s[:, None, None] ** 2)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)  # (T, n)


@in_float64
def index_entropy(points: object, process: Process | str, t: object, *, n_samples: int = 2048, key: object = None
                  ) -> EntropyResult:
    """H[index | X_t] of the empirical mixture of P points (``empirical(points)``), by Monte Carlo.

    Draw an index i uniformly and ε ~ N(0, I) once (common random numbers over t); x_t = a x_i + σ ε. The logits
    −|x_t − a x_j|²/(2σ²) reduce, up to terms common to all j, to (a² x_i·x_j + aσ ε·x_j − ½a²|x_j|²)/σ², so the
    cost is one (n × d)(d × P) product plus O(n P) per time. Stderr from the i.i.d. draws. Runs in float64 (draws
    included) whatever jax's x64 flag, so the answer does not depend on it.
    """
    pts = _points_of(points)
    process = check_process(process)
    times = process.check_times(t)
    flat = np.atleast_1d(times)
    P, d = pts.shape
    prng = check_key(key)
    k1, k2 = jax.random.split(prng)
    idx = np.asarray(jax.random.randint(k1, (n_samples,), 0, P))
    eps = np.asarray(jax.random.normal(k2, (n_samples, d), dtype=jnp.float64), np.float64)
    G = pts @ pts.T
    G_i, E, sq = G[idx], eps @ pts.T, np.einsum("ij,ij->i", pts, pts)
    with precision_scope("float64"):
        a = np.asarray(process.alpha(jnp.asarray(flat)), np.float64)
        s = np.asarray(process.sigma(jnp.asarray(flat)), np.float64)
        if np.any(s <= 0):
            raise ValueError("t must have σ(t) > 0 for a mixture of points")
        vals = []
        chunk = max(1, int(2**24 // max(1, n_samples * P)))
        for start in range(0, flat.size, chunk):
            sl = slice(start, start + chunk)
            vals.append(np.asarray(_index_entropy_kernel(jnp.asarray(G_i), jnp.asarray(E), jnp.asarray(sq),
                                                         jnp.asarray(a[sl]), jnp.asarray(s[sl])), np.float64))
    h = np.concatenate(vals, axis=0)
    value = h.mean(axis=1)
    stderr = h.std(axis=1, ddof=1) / math.sqrt(n_samples)
    shape = np.shape(times)
    return EntropyResult(times, value.reshape(shape), stderr.reshape(shape), "index_montecarlo", "entropy",
                         int(n_samples))


@in_float64
def collapse_time(points: object, process: Process | str = _OU, *, threshold: float = 1.0, t_grid: object = None,
                  n_samples: int = 2048, key: object = None) -> tuple[float, float]:
    """Empirical collapse time: where H[index | X_t] of the training set falls to ``threshold`` nats.

    Returns (t_C, uncertainty) in the time of ``process``. The grid defaults to 121 OU times spaced in λ around the
    Gaussian prediction ``collapse_time_theory`` for the points' own covariance spectrum; the crossing is
    interpolated linearly in λ and its uncertainty is the H ± 2·stderr bracket (first order) plus nothing else.
    Runs in float64 whatever jax's x64 flag.
    """
    pts = _points_of(points)
    process = check_process(process)
    P, d = pts.shape
    if t_grid is None:
        ev = np.linalg.eigvalsh(np.cov(pts.T).reshape(d, d)) if d > 1 else np.array([np.var(pts)])
        t_th = collapse_time_theory(P, eigenvalues=np.clip(ev, 0, None))
        lam_c = float(-np.log(np.expm1(2 * t_th)))
        lam = np.linspace(lam_c - 6.0, lam_c + 8.0, 121)
        t_ou = log_snr_to_ou_time(lam)
    else:
        times = process.check_times(t_grid)
        with precision_scope("float64"):
            lam = np.asarray(process.log_snr(jnp.asarray(np.atleast_1d(times))), np.float64)
        order = np.argsort(lam)
        lam = lam[order]
        t_ou = log_snr_to_ou_time(lam)
    res = index_entropy(pts, _OU, t_ou, n_samples=n_samples, key=key)
    H, se = res.value, res.stderr
    bracket = crossing_bracket(H, threshold, direction="down")
    if bracket is None:
        return float("nan"), float("nan")
    i, w = bracket
    lam_c = lam[i] + w * (lam[i + 1] - lam[i])
    slope = abs(H[i + 1] - H[i]) / (lam[i + 1] - lam[i])
    err_lam = 2.0 * (se[i] * (1 - w) + se[i + 1] * w) / slope if slope > 0 else float("nan")
    t_c = log_snr_to_time(process, lam_c)
    dt = abs(log_snr_to_time(process, lam_c + 1e-6) - log_snr_to_time(process, lam_c - 1e-6)) / 2e-6
    return t_c, err_lam * dt


__all__ = ["collapse_time", "collapse_time_theory", "index_entropy"]
