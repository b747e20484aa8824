"""Fidelity and diversity of labelled samples against the truth, paired differences between runs, and the true
label moments in the semantic subspace.

Per configuration, with labels z (a class or a group B of a partition):
- fidelity: ``accuracy`` = P(argmax_B p_0(B | x) = z) and ``confidence`` = E p_0(z | x); ``error`` = 1 − confidence;
- diversity: ``var_ratio`` = Σ_z f_z tr Ĉ_z / tr C_z (within-label variance against the truth's), ``div_loss`` =
  |log var_ratio|, ``freq_kl`` = KL(soft fine-class frequencies ‖ label-implied ones), ``moment_kl`` =
  Σ_z f_z KL(N(m̂_z, Ĉ_z) ‖ N(m_z, C_z)),

      KL(N(m1, c1) ‖ N(m0, c0)) = ½[tr(c0⁻¹c1) + (m0−m1)ᵀc0⁻¹(m0−m1) − r + log det c0 − log det c1].

Standard errors: analytic for means, a stratified bootstrap (resampling within each label, numpy Generator from an
explicit seed) for ratios and KLs.
"""

from __future__ import annotations

import math

import numpy as np

from gmmtheory._checks import check_count
from gmmtheory.control.windows import bootstrap_rng
from gmmtheory.mixture import GaussianMixture, Partition, check_partition

__all__ = [
    "covariance_traces",
    "gaussian_kl",
    "frequency_kl",
    "label_moments",
    "paired_difference",
    "sample_metrics",
    "weighted_moments",
]


def gaussian_kl(m1: np.ndarray, c1: np.ndarray, m0: np.ndarray, c0: np.ndarray) -> float:
    """KL(N(m1, c1) ‖ N(m0, c0)) = ½[tr(c0⁻¹c1) + (m0−m1)ᵀc0⁻¹(m0−m1) − r + log det c0 − log det c1]."""
    r = m1.size
    L = np.linalg.cholesky(c0)
    sol = np.linalg.solve(L, c1)
    tr = float(np.trace(np.linalg.solve(L.T, sol)))
    dm = np.linalg.solve(L, m0 - m1)
    s1, ld1 = np.linalg.slogdet(c1)
    if s1 <= 0:
        return float("inf")
    ld0 = 2.0 * float(np.sum(np.log(np.diag(L))))
    return 0.5 * (tr + float(dm @ dm) - r + ld0 - float(ld1))


def frequency_kl(f: np.ndarray, target: np.ndarray) -> float:
    """KL(f ‖ target) = Σ_k f_k log(f_k/target_k) over f_k > 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(np.where(f > 0, f * np.log(f / target), 0.0)))


def weighted_moments(y: np.ndarray, wts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and covariance (reliability-weighted, unbiased for frequency-like weights)."""
    sw = wts.sum()
    m = wts @ y / sw
    c = y - m
    v1, v2 = sw, float(np.sum(wts**2))
    denom = v1 - v2 / v1 if v1 > 0 else 1.0
    return m, (c * wts[:, None]).T @ c / max(denom, 1e-300)


def covariance_traces(ref_covs: np.ndarray) -> np.ndarray:
    """tr C_z per label from (M, r, r) covariances, or the (M,) traces themselves."""
    c = np.asarray(ref_covs, np.float64)
    return np.trace(c, axis1=1, axis2=2) if c.ndim == 3 else c


def _strata(labels: np.ndarray, M: int) -> list[tuple[int, np.ndarray]]:
    """(label, indices) for every label with at least 3 samples."""
    out = [(z, np.flatnonzero(labels == z)) for z in range(M)]
    return [(z, g) for z, g in out if g.size >= 3]


def _resample(strata: list[tuple[int, np.ndarray]], rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    return [(z, g[rng.integers(0, g.size, g.size)]) for z, g in strata]


def _var_ratio(y: np.ndarray, strata: list[tuple[int, np.ndarray]], ref_tr: np.ndarray) -> float:
    """Σ_z f_z tr Ĉ_z / tr C_z with f_z the label shares (Ĉ_z: unbiased sample covariance of y within label z)."""
    share = np.array([g.size for _, g in strata], np.float64)
    ratios = np.array([float(np.sum(np.var(y[g], axis=0, ddof=1))) / ref_tr[z] for z, g in strata])
    return float(share @ ratios / share.sum())


def sample_metrics(
    log_post: np.ndarray,
    labels: np.ndarray,
    y: np.ndarray,
    ref_means: np.ndarray,
    ref_covs: np.ndarray,
    *,
    fine_post: np.ndarray | None = None,
    fine_target: np.ndarray | None = None,
    n_boot: int = 200,
    seed: object = 0,
) -> dict[str, float]:
    """Fidelity and diversity of labelled samples against the truth (see the module docstring).

    Args:
        log_post: (n, M) log p_0(B | x) of the final samples (exact, or a classifier's for a trained model).
        labels: (n,) the label z each sample was generated for (0..M−1).
        y: (n, r) the samples in the space where diversity is measured (semantic-subspace projections, or pixels).
        ref_means: (M, r) true means m_z of p(y | z). ref_covs: (M, r, r) true covariances C_z, or (M,) their
            traces tr C_z (then ``moment_kl`` is nan).
        fine_post: (n, K) p_0(k | x) of the fine classes and fine_target: (n, K) the fine-class law implied by each
            label (π_k/π_B inside B); both None to skip ``freq_kl``.
        n_boot, seed: bootstrap (resampling within each label) for the standard errors of the ratios and KLs.
    Returns:
        accuracy, confidence, error (1 − confidence), var_ratio, div_loss (|log var_ratio|), freq_kl, moment_kl,
        each with ``*_se``; ``n``.
    """
    lp = np.asarray(log_post, np.float64)
    lab = np.asarray(labels).astype(np.int64)
    y = np.asarray(y, np.float64)
    n = lab.size
    if lp.ndim != 2 or lp.shape[0] != n or y.ndim != 2 or y.shape[0] != n:
        raise ValueError(f"log_post (n, M), labels (n,) and y (n, r) must agree in n; got {lp.shape}, {lab.shape}, "
                         f"{y.shape}")
    if n < 2 or lab.min() < 0 or lab.max() >= lp.shape[1]:
        raise ValueError(f"labels must lie in 0..{lp.shape[1] - 1} (and n ≥ 2)")
    n_boot = check_count("n_boot", n_boot, 0)
    rng = bootstrap_rng(seed)
    conf = np.exp(lp[np.arange(n), lab])
    acc = (np.argmax(lp, axis=1) == lab).astype(np.float64)
    strata = _strata(lab, lp.shape[1])
    if not strata:
        raise ValueError("every label has fewer than 3 samples: no within-label variance")
    ref_tr = covariance_traces(ref_covs)
    full_cov = np.ndim(ref_covs) == 3

    def stats(st: list[tuple[int, np.ndarray]]) -> tuple[float, float, float]:
        vr = _var_ratio(y, st, ref_tr)
        mk = fk = float("nan")
        share = np.array([g.size for _, g in st], np.float64)
        if full_cov:
            kls = []
            for z, g in st:
                c = np.atleast_2d(np.cov(y[g], rowvar=False))
                kls.append(gaussian_kl(y[g].mean(axis=0), c, np.asarray(ref_means[z], np.float64),
                                       np.asarray(ref_covs[z], np.float64)))
            mk = float(share @ np.asarray(kls) / share.sum())
        if fine_post is not None and fine_target is not None:
            rows = np.concatenate([g for _, g in st])
            fk = frequency_kl(np.asarray(fine_post)[rows].mean(axis=0), np.asarray(fine_target)[rows].mean(axis=0))
        return vr, mk, fk

    vr, mk, fk = stats(strata)
    boot = np.asarray([stats(_resample(strata, rng)) for _ in range(n_boot)]) if n_boot >= 2 else None
    se = np.std(boot, axis=0, ddof=1) if boot is not None else np.full(3, np.nan)
    return {
        "n": int(n),
        "accuracy": float(acc.mean()), "accuracy_se": float(acc.std(ddof=1) / math.sqrt(n)),
        "confidence": float(conf.mean()), "confidence_se": float(conf.std(ddof=1) / math.sqrt(n)),
        "error": float(1.0 - conf.mean()), "error_se": float(conf.std(ddof=1) / math.sqrt(n)),
        "var_ratio": vr, "var_ratio_se": float(se[0]),
        "div_loss": float(abs(math.log(vr))) if vr > 0 else float("inf"),
        "div_loss_se": float(se[0] / vr) if vr > 0 else float("nan"),
        "moment_kl": mk, "moment_kl_se": float(se[1]),
        "freq_kl": fk, "freq_kl_se": float(se[2]),
    }


def paired_difference(
    conf_a: np.ndarray,
    y_a: np.ndarray,
    conf_b: np.ndarray,
    y_b: np.ndarray,
    labels: np.ndarray,
    ref_tr: np.ndarray,
    *,
    n_boot: int = 200,
    seed: object = 0,
) -> dict[str, float]:
    """a − b in error (1 − confidence) and in div_loss (|log var_ratio|) for two runs from the same initial states
    and labels (sample i of a and of b are paired): d_error ± its paired stderr, d_div ± a paired (stratified)
    bootstrap stderr. Pairing removes the noise the two runs share (with a deterministic sampler, nearly all)."""
    lab = np.asarray(labels).astype(np.int64)
    strata = _strata(lab, int(lab.max()) + 1)
    rng = bootstrap_rng(seed)
    diff = (1.0 - np.asarray(conf_a)) - (1.0 - np.asarray(conf_b))
    n = diff.size

    def div(st: list[tuple[int, np.ndarray]]) -> float:
        return abs(math.log(_var_ratio(y_a, st, ref_tr))) - abs(math.log(_var_ratio(y_b, st, ref_tr)))

    boot = [div(_resample(strata, rng)) for _ in range(n_boot)]
    return {"d_error": float(diff.mean()), "d_error_se": float(diff.std(ddof=1) / math.sqrt(n)),
            "d_div": float(div(strata)), "d_div_se": float(np.std(boot, ddof=1)) if len(boot) >= 2 else float("nan")}


def _projected_covs(mixture: GaussianMixture, Q: np.ndarray) -> np.ndarray:
    """(K, r, r): Qᵀ Σ_k Q from the eigendecomposition (no d × d matrix for isotropic / diagonal forms)."""
    evals, U = mixture.spectrum
    out = np.empty((mixture.K, Q.shape[1], Q.shape[1]))
    for k in range(mixture.K):
        if U is None:
            out[k] = (Q * evals[k][:, None]).T @ Q
        else:
            Uk = U if U.ndim == 2 else U[k]
            P = Uk.T @ Q
            out[k] = (P * evals[k][:, None]).T @ P
    return out


def label_moments(mixture: GaussianMixture, partition: Partition | None,
                  Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True mean (M, r) and covariance (M, r, r) of Qᵀx under p(x | Z ∈ B) for each group B (classes by default):
    m_B = Σ_{k∈B} π_k|B Qᵀμ_k, C_B = Σ_{k∈B} π_k|B (QᵀΣ_kQ + (Qᵀμ_k − m_B)(Qᵀμ_k − m_B)ᵀ)."""
    part = check_partition(partition, mixture.K)
    pm = mixture.means @ Q
    pc = _projected_covs(mixture, Q)
    M, r = part.M, Q.shape[1]
    means, covs = np.zeros((M, r)), np.zeros((M, r, r))
    for b, g in enumerate(part.groups):
        w = mixture.weights[g]
        w = w / w.sum() if w.sum() > 0 else np.full(len(g), 1.0 / len(g))
        m = w @ pm[g]
        dm = pm[g] - m
        means[b] = m
        covs[b] = np.einsum("k,kij->ij", w, pc[g]) + np.einsum("k,ki,kj->ij", w, dm, dm)
    return means, covs
