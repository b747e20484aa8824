"""Reductions of Monte Carlo draws: per-chunk moments, their merge, and the class-stratified estimate.

A kernel returns, per chunk of n draws and per time, the mean and the centred sum of squares M2 of its values.
Equal-size chunks merge exactly (Chan et al.):

    mean = (1/C) Σ_c mean_c,   M2 = Σ_c M2_c + n Σ_c (mean_c − mean)².

Draws stratified by the true class z combine as E f = Σ_z π_z E[f | Z = z], with standard error
√(Σ_z π_z² var_z / n_z); i.i.d. draws give √(M2 / (n − 1) / n).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import Array


def chunk_moments(values: Array) -> tuple[Array, Array]:
    """Per-time mean and centred sum of squares over draws: values (T, n) → (T,), (T,)."""
    mean = jnp.mean(values, axis=1)
    return mean, jnp.sum((values - mean[:, None]) ** 2, axis=1)


def merge_moments(means: np.ndarray, m2s: np.ndarray, n_chunk: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Chan et al.'s merge of equal-size chunks: (C, T) chunk means and M2 → total mean, M2 and count."""
    C = means.shape[0]
    mean = means.mean(axis=0)
    m2 = m2s.sum(axis=0) + n_chunk * np.sum((means - mean) ** 2, axis=0)
    return mean, m2, C * n_chunk


def iid_estimate(means: np.ndarray, m2s: np.ndarray, n_chunk: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """i.i.d. draws in equal chunks, (C, T) moments → (mean, stderr √(M2/(n − 1)/n), n, total M2)."""
    mean, m2, n = merge_moments(np.asarray(means, np.float64), np.asarray(m2s, np.float64), n_chunk)
    return mean, np.sqrt(m2 / (n - 1) / n), n, m2


def class_moments(means: np.ndarray, m2s: np.ndarray, K: int, n_chunks: int,
                  n_chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chunks ordered class by class ((K · n_chunks, T) moments, ``n_chunks`` chunks of ``n_chunk`` draws per class)
    → per-class means (K, T), centred sums of squares (K, T) and counts (K,)."""
    T = np.shape(means)[-1]
    means = np.asarray(means, np.float64).reshape(K, n_chunks, T)
    m2s = np.asarray(m2s, np.float64).reshape(K, n_chunks, T)
    merged = [merge_moments(means[k], m2s[k], n_chunk) for k in range(K)]
    return np.stack([m[0] for m in merged]), np.stack([m[1] for m in merged]), np.full(K, n_chunk * n_chunks)


def stratified_mean(
    means: np.ndarray, m2s: np.ndarray, counts: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Combine per-class means (K, T) and centred sums of squares (K, T) over counts (K,) draws into the
    stratified estimate Σ_z π_z mean_z and its standard error √(Σ_z π_z² var_z / n_z)."""
    n = counts[:, None].astype(np.float64)
    var = m2s / np.maximum(n - 1, 1)
    value = weights @ means
    stderr = np.sqrt((weights**2) @ (var / n))
    return value, stderr


def log_weights(mixture) -> np.ndarray:
    """log π_k as float64 numpy, −inf for zero weights."""
    with np.errstate(divide="ignore"):
        return np.log(mixture.weights)
