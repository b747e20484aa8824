"""Theory curves of the digits on the σ axis of x_σ = x_0 + σ ε (``EDM``).

(i) ``empirical_curves``: the exact H[Z | X_σ] and dH/dlog σ of the training set itself, a mixture of its P points
    with their labels, p(i | x) = softmax_i(−|x − x_i|²/(2σ²)), p(z | x) = Σ_{i: z_i = z} p(i | x), by an
    exact-posterior Monte Carlo in torch float64 (Gram matrix G = X Xᵀ; rate by I-MMSE,
    dH/dlog σ = E‖D(x; σ, Z) − D(x; σ)‖²/σ² with the exact point-mixture denoisers);
(ii) ``digits_surrogate`` + ``surrogate_curves``: the Gaussian-mixture surrogate, π_k = n_k/n, μ_k the class means,
    Σ_k = (1 − α) S_k + α (tr S_k / d) I, through the engine (``class_entropy``, ``entropy_rate``);
(iii) ``speciation_landmark``: t_S = ½ log Λ (Λ the top eigenvalue of the data covariance) in OU time, mapped to EDM
    σ at equal SNR, σ_S = √(Λ − 1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory._precision import precision_scope
from gmmtheory.bridge.base import Measurement
from gmmtheory.bridge.digits.checks import _check_float, _check_points, _check_sigmas, _generator
from gmmtheory.entropy import class_entropy
from gmmtheory.entropy.rate import entropy_rate
from gmmtheory.landmarks import speciation_time, top_eigenvalue
from gmmtheory.mixture import GaussianMixture
from gmmtheory.processes import EDM, OU


def empirical_curves(
    x: object,
    labels: object,
    sigmas: object,
    *,
    n_per_point: int = 4,
    seed: int = 0,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> tuple[Measurement, Measurement]:
    """Exact H[Z | X_σ] and dH/dlog σ of a finite labelled training set (a mixture of its P points), by Monte Carlo.

    Data: p_0 = (1/P) Σ_i δ(x − x_i) with labels z_i; X_σ = X_0 + σ ε. Exact posteriors
        p(i | x) = softmax_i((x·x_i − ½|x_i|²)/σ²),   p(z | x) = Σ_{i: z_i = z} p(i | x),
    exact denoisers D(x; σ) = Σ_i p(i|x) x_i and D(x; σ, z) = Σ_{i: z_i = z} p(i|x) x_i / p(z|x), and
        H[Z | X_σ] = E[−Σ_z p(z|X_σ) log p(z|X_σ)],   dH/dlog σ = E‖D(X_σ; σ, Z) − D(X_σ; σ)‖²/σ²  (I-MMSE).
    Draws are stratified: each point i is used ``n_per_point`` times (x = x_i + σε, Z = z_i), with the same ε at
    every σ (common random numbers); x·x_j = G_ij + σ ε·x_j with G = X Xᵀ, so one draw costs O(P d) once plus
    O(P) per σ for the entropy and O(P d) for the rate. Computed in torch float64. The standard error is the
    stratified one, √(Σ_i var_i / n_per_point) / P, var_i the sample variance of point i's draws.

    Args:
        x: (P, d) training points; labels: (P,) integer labels (classes 0..K−1, K = max + 1).
        sigmas: increasing noise levels σ > 0. n_per_point: draws per point (≥ 2). seed: torch seed.
        batch_size: points per batch (memory ~ 4 · batch_size · P floats per σ).

    Returns:
        (entropy, rate): ``Measurement``s with quantity "entropy" (nats) and "rate" (dH/dlog σ), method "exact".
    """
    X, y = _check_points(x, labels)
    s = _check_sigmas(sigmas)
    reps = check_count("n_per_point", n_per_point, 2)
    batch_size = check_count("batch_size", batch_size, 1)
    g = _generator(seed)
    dev = torch.device(device)
    P, d = X.shape
    K = int(y.max()) + 1
    Xt = torch.as_tensor(X, dtype=torch.float64, device=dev)
    onehot = torch.nn.functional.one_hot(torch.as_tensor(y, device=dev), K).to(torch.float64)  # (P, K)
    G = Xt @ Xt.T
    half_sq = 0.5 * torch.diagonal(G)
    T = s.size
    h_vals = torch.zeros(reps, P, T, dtype=torch.float64)
    r_vals = torch.zeros(reps, P, T, dtype=torch.float64)
    yt = torch.as_tensor(y, device=dev)
    for rep in range(reps):
        for start in range(0, P, batch_size):
            idx = torch.arange(start, min(start + batch_size, P), device=dev)
            eps = torch.randn(idx.numel(), d, generator=g, dtype=torch.float64).to(dev)
            proj = eps @ Xt.T  # (B, P): ε·x_j
            Gi = G[idx]
            own = onehot[idx]  # (B, K): one-hot of the true class of each drawn point
            for j, sig in enumerate(s):
                logits = (Gi + sig * proj - half_sq) / sig**2
                p = torch.softmax(logits, dim=1)  # (B, P)
                pc = p @ onehot  # (B, K)
                h_vals[rep, start : start + idx.numel(), j] = -torch.special.xlogy(pc, pc).sum(dim=1).cpu()
                mask = onehot[:, yt[idx]].T  # (B, P): points of the true class
                p_true = (pc * own).sum(dim=1, keepdim=True)
                pz = p * mask / p_true
                gap = ((pz - p) @ Xt).pow(2).sum(dim=1) / sig**2
                r_vals[rep, start : start + idx.numel(), j] = gap.cpu()

    def reduce(v: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        a = v.numpy()
        mean_i = a.mean(axis=0)  # (P, T)
        var_i = a.var(axis=0, ddof=1)
        return mean_i.mean(axis=0), np.sqrt(var_i.sum(axis=0) / reps) / P

    meta = {"n_points": P, "n_per_point": reps, "seed": int(seed), "classes": K,
            "route": "exact point-mixture posterior, stratified Monte Carlo (torch float64)"}
    hv, hs = reduce(h_vals)
    rv, rs = reduce(r_vals)
    return (Measurement(s, hv, hs, "entropy", "exact", dict(meta)),
            Measurement(s, rv, rs, "rate", "exact", dict(meta, wrt="log_sigma")))


def digits_surrogate(x: object, labels: object, *, shrinkage: float = 0.01) -> GaussianMixture:
    """The Gaussian-mixture surrogate of a labelled data set, as a ``GaussianMixture`` (per-class full covariances).

    π_k = n_k / n, μ_k = class mean, Σ_k = (1 − α) S_k + α (tr S_k / d) I with S_k = (1/n_k) Σ_{i: z_i = k}
    (x_i − μ_k)(x_i − μ_k)ᵀ the maximum-likelihood class covariance and α = ``shrinkage`` ∈ [0, 1) (S_k is singular:
    constant pixels, n_k ≈ 180 points in d = 64; the shrinkage keeps tr Σ_k = tr S_k and makes Σ_k positive
    definite). With α = 0 the surrogate's total covariance equals the data's (ddof = 0) by the law of total
    covariance.
    """
    X, y = _check_points(x, labels)
    alpha = _check_float(shrinkage, "shrinkage", 0.0, 1.0, open_hi=True)
    K = int(y.max()) + 1
    counts = np.bincount(y, minlength=K)
    if np.any(counts < 2):
        raise ValueError(f"labels must give every class 0..{K - 1} at least 2 points; counts {counts.tolist()}")
    d = X.shape[1]
    means = np.stack([X[y == k].mean(axis=0) for k in range(K)])
    covs = np.stack([np.cov(X[y == k].T, ddof=0).reshape(d, d) for k in range(K)])
    trace = np.trace(covs, axis1=1, axis2=2) / d
    covs = (1 - alpha) * covs + alpha * trace[:, None, None] * np.eye(d)[None]
    covs = 0.5 * (covs + np.swapaxes(covs, 1, 2))
    return GaussianMixture(means, covs, counts / counts.sum())


def surrogate_curves(mixture: Any, sigmas: object, *, n_samples: int = 2**13,
                     seed: int = 0) -> tuple[Measurement, Measurement]:
    """H[Z | X_σ] and dH/dlog σ of a Gaussian mixture under x_σ = x_0 + σ ε (``EDM()``), by gmmtheory's engine.

    Entropy: ``class_entropy(method="montecarlo")``; rate: ``entropy_rate(wrt="log_sigma",
    method="denoiser_gap")``, dH/dlog σ = E‖x̂_0(X_σ, Z) − x̂_0(X_σ)‖²/σ²; both with common random numbers over σ.
    """
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    s = _check_sigmas(sigmas)
    n = check_count("n_samples", n_samples, 2)
    seed = check_count("seed", seed, 0)
    H = class_entropy(mixture, EDM(), s, method="montecarlo", n_samples=n, key=seed, warn=False)
    R = entropy_rate(mixture, EDM(), s, wrt="log_sigma", method="denoiser_gap", n_samples=n, key=seed + 1)
    meta = {"n_samples": int(H.n_samples), "seed": seed, "K": mixture.K, "d": mixture.d, "cov_kind": mixture.cov_kind}
    return (Measurement(s, np.asarray(H.value), np.asarray(H.stderr), "entropy", "surrogate",
                        dict(meta, engine=H.method)),
            Measurement(s, np.asarray(R.value), np.asarray(R.stderr), "rate", "surrogate",
                        dict(meta, engine=R.method, wrt="log_sigma")))


def speciation_landmark(x: object, mixture: Any | None = None) -> dict[str, float]:
    """Spectral speciation time t_S = ½ log Λ (OU time; Λ the top eigenvalue of the data covariance, ddof = 0) and
    its EDM noise level at equal SNR, σ_S = ``OU().convert(t_S, to=gt.EDM())`` = √(Λ − 1) (nan when Λ ≤ 1).
    With a surrogate ``mixture``, also its Λ and σ_S (``top_eigenvalue``, ``speciation_time``)."""
    X, _ = _check_points(x, np.zeros(np.shape(x)[0], dtype=np.int64))
    lam = float(np.linalg.eigvalsh(np.cov(X.T, ddof=0))[-1])
    t_s = 0.5 * math.log(lam)
    with precision_scope("float64"):
        sigma_s = float(OU().convert(t_s, to=EDM())) if lam > 1 else float("nan")
    out = {"top_eigenvalue": lam, "t_speciation_ou": t_s, "sigma_speciation": sigma_s,
           "log_sigma_speciation": math.log(sigma_s) if sigma_s > 0 else float("nan")}
    if mixture is not None:
        out["surrogate_top_eigenvalue"] = float(top_eigenvalue(mixture))
        sig = float(speciation_time(mixture, EDM()))
        out["surrogate_sigma_speciation"] = sig
        out["surrogate_log_sigma_speciation"] = math.log(sig) if sig > 0 else float("nan")
    return out
