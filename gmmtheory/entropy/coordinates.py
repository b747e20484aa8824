"""Scale-free process coefficients: the posterior depends on (a(t), σ(t)) only through the SNR a²/σ².

The engines therefore receive

    â = a / √(a² + σ²),   σ̂ = σ / √(a² + σ²)      (â² + σ̂² = 1),

which changes no result while keeping every intermediate finite: no σ² overflows (EDM σ ≳ 1e154) and none
underflows; as a²/σ² → 0 the posterior is the prior and the methods return H[Z_P], Σ_B π_B² and 1 − max_B π_B.
(The other invariance, translation, is used at the entry: the engines receive ``GaussianMixture.centred()``.)
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from gmmtheory._precision import precision_scope


def unit_coefficients(process, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, σ²) of ``process`` at ``times`` rescaled to a² + σ² = 1, float64 numpy: â = a/√(a² + σ²), σ̂ = σ/√(a² + σ²).

    The posterior depends on (a, σ) only through a/σ, so this changes no result while keeping every intermediate
    finite (np.hypot does not overflow); at a = σ = 0 (impossible for the processes held) it returns (1, 0).
    """
    with precision_scope("float64"):
        tt = jnp.asarray(np.atleast_1d(np.asarray(times, np.float64)))
        a = np.abs(np.asarray(process.alpha(tt), np.float64))
        s = np.abs(np.asarray(process.sigma(tt), np.float64))
    norm = np.hypot(a, s)
    ok = norm > 0
    safe = np.where(ok, norm, 1.0)
    return np.where(ok, a / safe, 1.0), np.where(ok, s / safe, 0.0) ** 2
