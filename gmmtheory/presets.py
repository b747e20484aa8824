"""Named Gaussian mixtures: the constructors (two Gaussians, K classes, random, hierarchical, empirical) and the ONE
catalogue ``PRESETS`` of named mixtures with their named partitions, used by every study and by the CLI.

Constructors (all with Σ_k = σ² I unless stated):

    two_gaussians(d, μ̃, σ):       means ±m, m = μ̃·(1, …, 1), |m|² = d μ̃²
    k_classes(K, d, μ̃, σ):        μ_k = μ̃√d e_k ("orthogonal") or a centred regular simplex of norm μ̃√d ("simplex")
    hierarchical(A, B, d, μ̃_s, μ̃_b, σ): class (a, b) has mean u_a + v_b (two centred simplices, norms μ̃_s√d, μ̃_b√d)
    random_mixture(key, K, d, cov_kind): means N(0, scale²), variances in [0.5, 2], full Σ = A Aᵀ/d + ½ I
    empirical(points):             P equally weighted points, Σ_k = 0

Catalogue (``PRESETS[name](**params)`` or ``build_preset(name, **params)``; each returns a ``Preset``: the mixture
and its named partitions, always with ``"classes"`` = every label its own group):

=================== ================================================================ ==========================
name                mixture                                                          partitions
=================== ================================================================ ==========================
``two``             ``two_gaussians(d, mu, sigma)``                                  classes
``kclasses``        ``k_classes(K, d, mu, sigma)``, orthogonal means                 classes
``simplex``         ``k_classes(K, d, mu, sigma, geometry="simplex")``               classes
``hierarchical``    ``hierarchical(n_super, n_sub, d, mu, mu_sub, sigma)``,           classes, coarse, sub
                    mu_sub = ratio·mu unless given
``covariance_only`` N(0, (1 + a) I) and N(0, (1 − a) I) (``class_iso``)              classes
=================== ================================================================ ==========================

Defaults: d = 100, K = 4, mu = 1, sigma = 1, n_super = n_sub = 2, ratio = 0.25, a = 0.5, equal weights.
``weights`` (explicit class weights) or ``imbalance`` (π_0 = imbalance, the other classes share 1 − π_0 equally)
set unequal weights; ``"coarse"`` groups the hierarchy's labels k = a·n_sub + b by superclass a (names
``super{a}``), ``"sub"`` by subclass b (names ``sub{b}``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import numpy as np

from gmmtheory._checks import check_count, check_fraction, check_key, check_nonnegative, check_positive
from gmmtheory._precision import precision_scope
from gmmtheory.mixture import COV_KINDS, CovKind, GaussianMixture, Partition, as_float_array

__all__ = [
    "PRESETS",
    "Hierarchy",
    "Preset",
    "build_preset",
    "empirical",
    "hierarchical",
    "imbalance_weights",
    "k_classes",
    "random_mixture",
    "two_gaussians",
]


# ---------------------------------------------------------------------------------------------------- constructors
def two_gaussians(d: int, mu: float = 1.0, sigma: float = 1.0, weights: object | None = None) -> GaussianMixture:
    """Biroli et al.'s model: means ±m with m = mu·(1, …, 1) so |m|² = d·mu², covariance sigma²·I, equal weights.

    Args:
        d: dimension. mu: per-coordinate mean (the scaled separation μ̃). sigma: within-class standard deviation.
        weights: optional (2,) weights (default equal).
    """
    d = check_count("d", d)
    mu = check_nonnegative("mu", mu)
    sigma = check_positive("sigma", sigma)
    m = np.full(d, mu)
    return GaussianMixture(np.stack([m, -m]), sigma**2, weights)


def k_classes(
    K: int,
    d: int,
    mu: float = 1.0,
    sigma: float = 1.0,
    geometry: Literal["orthogonal", "simplex"] = "orthogonal",
    weights: object | None = None,
) -> GaussianMixture:
    """K classes with means of norm |μ_k| = mu·√d and shared covariance sigma²·I.

    ``geometry="orthogonal"``: μ_k = mu√d e_k (pairwise distance mu√(2d)). ``"simplex"``: centred regular simplex,
    μ_k = mu√d·√(K/(K−1))·(e_k − 1/K), pairwise distance mu√(2dK/(K−1)), mean of the means 0. Needs K ≤ d.
    For K = 2, the simplex is ``two_gaussians`` up to a rotation.
    """
    K = check_count("K", K)
    d = check_count("d", d)
    if K > d:
        raise ValueError(f"K must be ≤ d for {geometry} class means; got K={K}, d={d}")
    mu = check_nonnegative("mu", mu)
    sigma = check_positive("sigma", sigma)
    eye = np.eye(K, d)
    if geometry == "orthogonal":
        means = mu * np.sqrt(d) * eye
    elif geometry == "simplex":
        if K < 2:
            raise ValueError("simplex geometry needs K ≥ 2")
        centred = eye.copy()
        centred[:, :K] -= 1.0 / K
        means = mu * np.sqrt(d) * np.sqrt(K / (K - 1)) * centred
    else:
        raise ValueError(f"geometry must be 'orthogonal' or 'simplex'; got {geometry!r}")
    return GaussianMixture(means, sigma**2, weights)


def random_mixture(
    key: jax.Array | int,
    K: int,
    d: int,
    cov_kind: CovKind = "class_full",
    mean_scale: float = 1.0,
    dirichlet: float | None = None,
) -> GaussianMixture:
    """A random mixture with covariance of the given form, from an explicit PRNG key (or an int seed).

    Means are N(0, mean_scale²) per coordinate. Variances lie in [0.5, 2]; full covariances are
    A Aᵀ/d + 0.5 I with A standard normal (d × d). Weights are uniform, or Dirichlet(dirichlet·1) when given.
    """
    K = check_count("K", K)
    d = check_count("d", d)
    if cov_kind not in COV_KINDS:
        raise ValueError(f"cov_kind must be one of {COV_KINDS}; got {cov_kind!r}")
    mean_scale = check_nonnegative("mean_scale", mean_scale)
    if dirichlet is not None:
        dirichlet = check_positive("dirichlet", dirichlet)
    key = check_key(key)
    with precision_scope("float64"):  # the same draws whether or not the caller enabled x64
        km, kc, kw = jax.random.split(key, 3)
        means = mean_scale * np.asarray(jax.random.normal(km, (K, d), dtype=np.float64), dtype=np.float64)

        def unif(shape: tuple[int, ...]) -> np.ndarray:
            return 0.5 + 1.5 * np.asarray(jax.random.uniform(kc, shape, dtype=np.float64), dtype=np.float64)

        if cov_kind == "shared_iso":
            cov = float(unif(()))
        elif cov_kind == "class_iso":
            cov = unif((K,))
        elif cov_kind == "class_diag":
            cov = unif((K, d))
        else:
            n = 1 if cov_kind == "shared_full" else K
            A = np.asarray(jax.random.normal(kc, (n, d, d), dtype=np.float64), dtype=np.float64)
            cov = A @ np.swapaxes(A, -1, -2) / d + 0.5 * np.eye(d)
            cov = cov[0] if cov_kind == "shared_full" else cov
        if dirichlet is None:
            weights = None
        else:
            w = np.asarray(jax.random.dirichlet(kw, np.full(K, float(dirichlet)), dtype=np.float64), dtype=np.float64)
            weights = w / w.sum()
    return GaussianMixture(means, cov, weights, cov_kind=cov_kind)


class Hierarchy(NamedTuple):
    """A hierarchical mixture and its partitions: ``coarse`` (superclasses) and ``fine`` (every class)."""

    mixture: GaussianMixture
    coarse: Partition
    fine: Partition


def hierarchical(
    n_super: int,
    n_sub: int,
    d: int,
    mu_super: float = 1.0,
    mu_sub: float = 0.25,
    sigma: float = 1.0,
) -> Hierarchy:
    """Two-level factorising mixture: class (a, b) has mean u_a + v_b, a < n_super, b < n_sub.

    The u_a form a centred regular simplex of norm mu_super·√d in the first
    n_super coordinates, the v_b a centred simplex of norm mu_sub·√d in the next n_sub coordinates, so superclass
    means are far apart and subclass means close when mu_super > mu_sub. With n_super = n_sub = 2 the means are
    ±u ± v. Labels are k = a·n_sub + b; ``coarse`` groups the labels by a. Needs n_super + n_sub ≤ d.
    """
    n_super = check_count("n_super", n_super, 2)
    n_sub = check_count("n_sub", n_sub, 2)
    d = check_count("d", d)
    if n_super + n_sub > d:
        raise ValueError(f"d must be ≥ n_super + n_sub = {n_super + n_sub}; got d={d}")
    u = k_classes(n_super, n_super, 1.0, geometry="simplex").means  # unit-norm rows scaled below
    v = k_classes(n_sub, n_sub, 1.0, geometry="simplex").means
    u = u / np.linalg.norm(u, axis=1, keepdims=True) * check_positive("mu_super", mu_super) * np.sqrt(d)
    v = v / np.linalg.norm(v, axis=1, keepdims=True) * check_positive("mu_sub", mu_sub) * np.sqrt(d)
    means = np.zeros((n_super * n_sub, d))
    for a in range(n_super):
        for b in range(n_sub):
            means[a * n_sub + b, :n_super] = u[a]
            means[a * n_sub + b, n_super : n_super + n_sub] = v[b]
    mixture = GaussianMixture(means, check_positive("sigma", sigma) ** 2)
    coarse = Partition([[a * n_sub + b for b in range(n_sub)] for a in range(n_super)],
                       names=[f"super{a}" for a in range(n_super)])
    return Hierarchy(mixture, coarse, Partition.identity(n_super * n_sub))


def empirical(points: object) -> GaussianMixture:
    """A finite training set as a mixture of P equally weighted points (Σ_k = 0): p_0 = (1/P) Σ_i δ(x − x_i).

    H[index | X_t] of this mixture gives Biroli et al.'s collapse (memorisation) time.
    """
    pts = as_float_array(points, "points")
    if pts.ndim != 2:
        raise ValueError(f"points must have shape (P, d); got {pts.shape}")
    return GaussianMixture(pts, 0.0)


# ------------------------------------------------------------------------------------------------------- catalogue
class Preset(NamedTuple):
    """A catalogue entry built: the mixture and its named partitions (``"classes"`` first)."""

    mixture: GaussianMixture
    partitions: dict[str, Partition]


def imbalance_weights(K: int, imbalance: float | None) -> np.ndarray | None:
    """Weights (π_0, (1 − π_0)/(K − 1), …) with π_0 = ``imbalance`` in (0, 1); None for None (equal weights)."""
    if imbalance is None:
        return None
    K = check_count("K", K, 2)
    pi0 = check_fraction("imbalance", imbalance)
    return np.array([pi0] + [(1.0 - pi0) / (K - 1)] * (K - 1))


def _class_weights(K: int, weights: object | None, imbalance: float | None) -> object | None:
    if weights is not None and imbalance is not None:
        raise ValueError("give weights or imbalance, not both")
    return weights if imbalance is None else imbalance_weights(K, imbalance)


def _classes(mixture: GaussianMixture) -> Preset:
    return Preset(mixture, {"classes": Partition.identity(mixture.K)})


def _two(d: int = 100, mu: float = 1.0, sigma: float = 1.0, weights: object | None = None,
         imbalance: float | None = None) -> Preset:
    return _classes(two_gaussians(d, mu, sigma, _class_weights(2, weights, imbalance)))


def _kclasses(K: int = 4, d: int = 100, mu: float = 1.0, sigma: float = 1.0, weights: object | None = None,
              imbalance: float | None = None) -> Preset:
    return _classes(k_classes(K, d, mu, sigma, weights=_class_weights(K, weights, imbalance)))


def _simplex(K: int = 4, d: int = 100, mu: float = 1.0, sigma: float = 1.0, weights: object | None = None,
             imbalance: float | None = None) -> Preset:
    return _classes(k_classes(K, d, mu, sigma, geometry="simplex", weights=_class_weights(K, weights, imbalance)))


def _hierarchical(d: int = 100, mu: float = 1.0, sigma: float = 1.0, ratio: float = 0.25,
                  mu_sub: float | None = None, n_super: int = 2, n_sub: int = 2,
                  weights: object | None = None) -> Preset:
    h = hierarchical(n_super, n_sub, d, mu, mu * check_positive("ratio", ratio) if mu_sub is None else mu_sub, sigma)
    mixture = h.mixture if weights is None else GaussianMixture(h.mixture.means, h.mixture.cov, weights)
    n_sub = int(n_sub)
    sub = Partition([[a * n_sub + b for a in range(int(n_super))] for b in range(n_sub)],
                    names=[f"sub{b}" for b in range(n_sub)])
    return Preset(mixture, {"classes": h.fine, "coarse": h.coarse, "sub": sub})


def _covariance_only(d: int = 100, a: float = 0.5, weights: object | None = None,
                     imbalance: float | None = None) -> Preset:
    d = check_count("d", d)
    a = check_fraction("a", a)
    mixture = GaussianMixture(np.zeros((2, d)), np.array([1.0 + a, 1.0 - a]), _class_weights(2, weights, imbalance),
                              cov_kind="class_iso")
    return _classes(mixture)


PRESETS: dict[str, Callable[..., Preset]] = {
    "two": _two,
    "kclasses": _kclasses,
    "simplex": _simplex,
    "hierarchical": _hierarchical,
    "covariance_only": _covariance_only,
}


def build_preset(name: str, **params: object) -> Preset:
    """The catalogue entry ``name`` (a key of ``PRESETS``) built with ``params`` (the module docstring lists each
    entry's parameters and defaults; None means the default). Unknown names and parameters raise ``ValueError``."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}; got {name!r}")
    builder = PRESETS[name]
    allowed = tuple(inspect.signature(builder).parameters)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"preset {name!r} takes the parameters {allowed}; got unknown {unknown}")
    return builder(**{k: v for k, v in params.items() if v is not None})
