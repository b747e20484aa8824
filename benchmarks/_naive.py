"""Naive numpy/scipy baselines: the code a competent researcher would write without gmmtheory.

Each one does the same work as the gmmtheory call it is timed against, the straightforward way: one time (or one
noise level, one cell) at a time, per class, with scipy's multivariate normal or a Cholesky solve, and fresh
full-dimensional samples. All run in float64 with numpy's ``Generator`` (explicit seeds); Monte Carlo estimates come
with their standard error, stratified by class exactly like gmmtheory's (an equal number of draws per class,
weighted by π_z), so the two are compared at equal sample counts, hence equal accuracy.

Nothing here imports gmmtheory: the baselines are independent of the code they are compared with.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, linalg, special
from scipy.stats import multivariate_normal, norm


def _stratified(h: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """h (K, n): per-draw values, row z drawn from class z → Σ_z π_z mean_z and √(Σ_z π_z² var_z / n)."""
    n = h.shape[1]
    return float(weights @ h.mean(axis=1)), float(math.sqrt(weights**2 @ (h.var(axis=1, ddof=1) / n)))


def _entropy_rows(logits: np.ndarray) -> np.ndarray:
    logp = special.log_softmax(logits, axis=-1)
    return -np.sum(special.xlogy(np.exp(logp), np.exp(logp)), axis=-1)


# ------------------------------------------------------------------------------------- H[Z | X_t], full Σ_k
def entropy_full_cov(means, covs, weights, alpha, sigma, n_per_class, seed=0):
    """H[Z | X_t] by plain Monte Carlo with scipy, one time at a time.

    For each t: C_k = a²Σ_k + σ²I, frozen ``multivariate_normal(a μ_k, C_k)`` per class; fresh draws
    x ~ N(a μ_z, C_z) (``n_per_class`` per class, ``.rvs``), ``.logpdf`` of every x under every class, log-softmax
    with log π_k, entropy per draw, class-stratified mean and standard error. Returns (value (T,), stderr (T,)).
    """
    rng = np.random.default_rng(seed)
    K, d = means.shape
    log_w = np.log(weights)
    eye = np.eye(d)
    value, stderr = np.empty(len(alpha)), np.empty(len(alpha))
    for i, (a, s) in enumerate(zip(alpha, sigma)):
        dists = [multivariate_normal(mean=a * means[k], cov=a**2 * covs[k] + s**2 * eye) for k in range(K)]
        x = np.concatenate([dists[z].rvs(size=n_per_class, random_state=rng).reshape(n_per_class, d)
                            for z in range(K)])
        logits = np.stack([dists[k].logpdf(x) for k in range(K)], axis=1) + log_w  # (K·n, K)
        value[i], stderr[i] = _stratified(_entropy_rows(logits).reshape(K, n_per_class), weights)
    return value, stderr


# ------------------------------------------------------------------------------ H[Z | X_t], shared s² I
def entropy_shared_iso(means, var, weights, alpha, sigma, n_per_class, seed=0, max_elements=2**23):
    """H[Z | X_t] for Σ_k = s² I (shared, isotropic) by full-dimensional Monte Carlo, one time at a time.

    scipy's ``multivariate_normal`` would build a d × d covariance (impossible at d = 10⁶), so the log-density is
    written by hand: x = a μ_z + √c ε with c = a² s² + σ², logits log π_k − |x − a μ_k|²/(2c) (the shared
    −(d/2) log 2πc cancels), distances by one GEMM x·μ_kᵀ. Draws are made in chunks of at most ``max_elements``
    floats (memory), every chunk fresh. Returns (value (T,), stderr (T,)).
    """
    rng = np.random.default_rng(seed)
    K, d = means.shape
    log_w = np.log(weights)
    sq = np.sum(means**2, axis=1)
    chunk = max(1, min(n_per_class, max_elements // d))
    value, stderr = np.empty(len(alpha)), np.empty(len(alpha))
    for i, (a, s) in enumerate(zip(alpha, sigma)):
        c = a**2 * var + s**2
        h = np.empty((K, n_per_class))
        for z in range(K):
            for start in range(0, n_per_class, chunk):
                m = min(chunk, n_per_class - start)
                x = a * means[z] + math.sqrt(c) * rng.standard_normal((m, d))
                d2 = np.sum(x * x, axis=1)[:, None] - 2 * a * (x @ means.T) + a**2 * sq[None]
                h[z, start:start + m] = _entropy_rows(log_w - 0.5 * d2 / c)
        value[i], stderr[i] = _stratified(h, weights)
    return value, stderr


# ---------------------------------------------------------------------------- the entropy rate (I-MMSE)
def rate_denoiser_gap(means, covs, weights, alpha, sigma, dgamma_dt, n_per_class, seed=0):
    """dH/dt = −½ (dγ/dt) E Σ_k p(k|x) ‖D_k(x) − D(x)‖² (I-MMSE), by Monte Carlo, one time at a time.

    For each t: C_k = a²Σ_k + σ²I and its Cholesky factor (``scipy.linalg.cho_factor``) per class; fresh draws
    x ~ N(a μ_z, C_z); log-densities and conditional denoisers D_k(x) = μ_k + a Σ_k C_k⁻¹(x − a μ_k) by triangular
    solves; posterior p(k|x) by softmax; D = Σ_k p_k D_k; per-draw gap Σ_k p_k ‖D_k − D‖²; stratified mean and
    standard error, times −½ dγ/dt. Returns (rate (T,), stderr (T,)).
    """
    rng = np.random.default_rng(seed)
    K, d = means.shape
    log_w = np.log(weights)
    eye = np.eye(d)
    value, stderr = np.empty(len(alpha)), np.empty(len(alpha))
    for i, (a, s) in enumerate(zip(alpha, sigma)):
        facs = [linalg.cho_factor(a**2 * covs[k] + s**2 * eye, lower=True) for k in range(K)]
        x = np.concatenate([a * means[z] + rng.standard_normal((n_per_class, d)) @ np.tril(facs[z][0]).T
                            for z in range(K)])
        logits, dens = [], []
        for k, (fac, low) in enumerate(facs):
            r = x - a * means[k]
            sol = linalg.cho_solve((fac, low), r.T).T  # C_k⁻¹ (x − a μ_k)
            logdet = 2 * np.sum(np.log(np.diag(fac)))
            logits.append(log_w[k] - 0.5 * np.sum(r * sol, axis=1) - 0.5 * logdet)
            dens.append(means[k] + a * sol @ covs[k])
        p = special.softmax(np.stack(logits, axis=1), axis=1)  # (N, K)
        D = np.stack(dens, axis=1)  # (N, K, d)
        Du = np.einsum("nk,nkd->nd", p, D)
        gap = np.einsum("nk,nk->n", p, np.sum((D - Du[:, None]) ** 2, axis=-1))
        v, se = _stratified(gap.reshape(K, n_per_class), weights)
        value[i], stderr[i] = -0.5 * dgamma_dt[i] * v, 0.5 * abs(dgamma_dt[i]) * se
    return value, stderr


# ------------------------------------------------------------------------- two-Gaussian phase diagram
def _binary_expect(f, s: float) -> float:
    """E f(L) for the log-likelihood ratio L ~ N(2s, 4s) given the true class (equal weights), by adaptive quad."""
    if s <= 0:
        return float(f(np.array(0.0)))
    m, sd = 2 * s, 2 * math.sqrt(s)
    val, _ = integrate.quad(lambda u: f(m + sd * u) * norm.pdf(u), -np.inf, np.inf, epsabs=1e-13, epsrel=1e-12,
                            limit=200)
    return val


def phase_two_gaussians(dims, t, mu=1.0, var=1.0):
    """H/log 2, dH/dt, φ and the Bayes error of two equiprobable Gaussians ±m (|m|² = d μ̃², Σ = s_w² I) under OU,
    on the grid dims × t, one cell at a time with ``scipy.integrate.quad`` over the binary-channel log-likelihood
    ratio L (p = sigmoid(L) the posterior of the true class): H = E[−p log p − (1 − p) log(1 − p)], the binary MMSE
    4 E[p(1 − p)], φ = E[p² + (1 − p)²], P_e = Φ(−√s), and dH/dt = −½ mmse ds/dt (I-MMSE), with
    s = a² d μ̃²/(a² s_w² + σ²). Returns a dict of (len(dims), len(t)) arrays."""
    t = np.asarray(t, np.float64)
    a2 = np.exp(-2 * t)
    s2 = -np.expm1(-2 * t)
    out = {k: np.empty((len(dims), len(t))) for k in ("H_norm", "rate", "phi", "bayes_error")}

    def soft(L):  # −log p(true | L)
        return np.logaddexp(0.0, -L)

    def p_true(L):
        return special.expit(L)

    for i, d in enumerate(dims):
        q = d * mu**2
        for j in range(len(t)):
            s = a2[j] * q / (a2[j] * var + s2[j])
            ds_dt = -2 * a2[j] * q / (a2[j] * var + s2[j]) ** 2  # s = a²q/(a²v + σ²), da²/dt = −2a² = −dσ²/dt
            H = _binary_expect(lambda L: special.expit(L) * soft(L) + special.expit(-L) * soft(-L), s)
            mmse = 4 * _binary_expect(lambda L: p_true(L) * (1 - p_true(L)), s)
            out["H_norm"][i, j] = H / math.log(2)
            out["rate"][i, j] = -0.5 * mmse * ds_dt
            out["phi"][i, j] = _binary_expect(lambda L: p_true(L) ** 2 + (1 - p_true(L)) ** 2, s)
            out["bayes_error"][i, j] = norm.cdf(-math.sqrt(s))
    return out


# ----------------------------------------------------------------------------------- guided EDM sampling
def edm_sigmas(n_steps, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    """EDM's ρ-grid σ_0 > … > σ_{N−1} and σ_N = 0."""
    i = np.arange(n_steps)
    s = (sigma_max ** (1 / rho) + i / (n_steps - 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return np.append(s, 0.0)


class _ExactGMM:
    """Exact posteriors and denoisers of p_0 = Σ π_k N(μ_k, Σ_k) at noise σ (x = x_0 + σ ε), by per-call Cholesky."""

    def __init__(self, means, covs, weights):
        self.means, self.covs, self.log_w = means, covs, np.log(weights)
        self.eye = np.eye(means.shape[1])

    def terms(self, x, sigma):
        """(log-likelihoods (n, K), conditional denoisers (n, K, d)) at noise level sigma."""
        ll, dens = [], []
        for mu, cov in zip(self.means, self.covs):
            fac = linalg.cho_factor(cov + sigma**2 * self.eye, lower=True)
            r = x - mu
            sol = linalg.cho_solve(fac, r.T).T
            ll.append(-0.5 * np.sum(r * sol, axis=1) - np.sum(np.log(np.diag(fac[0]))))
            dens.append(mu + sol @ cov)
        return np.stack(ll, axis=1), np.stack(dens, axis=1)

    def log_posterior(self, x, sigma):
        ll, _ = self.terms(x, sigma)
        return special.log_softmax(ll + self.log_w, axis=1)

    def denoise(self, x, sigma, labels=None, w=1.0):
        """D_u (labels None), or the CFG denoiser D_z + (w − 1)(D_z − D_u) toward ``labels``."""
        ll, dens = self.terms(x, sigma)
        pu = special.softmax(ll + self.log_w, axis=1)
        Du = np.einsum("nk,nkd->nd", pu, dens)
        if labels is None:
            return Du
        Dz = dens[np.arange(len(x)), labels]
        return Dz + (w - 1.0) * (Dz - Du)


def guided_edm(means, covs, weights, labels, w, n_steps=64, S_churn=40.0, S_min=0.05, S_max=50.0, seed=0):
    """EDM's stochastic sampler (Karras et al. 2022, Algorithm 2) with classifier-free guidance scale ``w`` toward
    ``labels``, exact mixture denoisers, the ρ-grid of ``n_steps`` steps; starts from an exact draw of
    p_{σ_0}(x | z). Records −log p_σ(z | x) of the target label at every grid point (after each step).
    Returns (cross-entropy mean (N+1,), stderr (N+1,), sigmas (N+1,))."""
    rng = np.random.default_rng(seed)
    model = _ExactGMM(means, covs, weights)
    n, d = len(labels), means.shape[1]
    sig = edm_sigmas(n_steps)
    gamma = np.where((sig[:-1] >= S_min) & (sig[:-1] <= S_max), min(S_churn / n_steps, math.sqrt(2) - 1), 0.0)
    chol = [np.linalg.cholesky(c) for c in covs]
    x = np.stack([means[z] + chol[z] @ rng.standard_normal(d) for z in labels]) + sig[0] * rng.standard_normal((n, d))
    ce = np.empty((n_steps + 1, n))
    ce[0] = -model.log_posterior(x, sig[0])[np.arange(n), labels]
    for i in range(n_steps):
        s_hat = sig[i] * (1 + gamma[i])
        x_hat = x + math.sqrt(max(s_hat**2 - sig[i] ** 2, 0.0)) * rng.standard_normal((n, d))
        d0 = (x_hat - model.denoise(x_hat, s_hat, labels, w)) / s_hat
        x = x_hat + (sig[i + 1] - s_hat) * d0
        if sig[i + 1] > 0:
            d1 = (x - model.denoise(x, sig[i + 1], labels, w)) / sig[i + 1]
            x = x_hat + (sig[i + 1] - s_hat) * 0.5 * (d0 + d1)
        ce[i + 1] = -model.log_posterior(x, sig[i + 1])[np.arange(n), labels]
    return ce.mean(axis=1), ce.std(axis=1, ddof=1) / math.sqrt(n), sig


def gmm_denoiser(means, covs, weights, x, sigma):
    """The unconditional exact denoiser D(x; σ) = Σ_k p(k|x) D_k(x) of a batch, numpy/scipy (per-call Cholesky)."""
    return _ExactGMM(means, covs, weights).denoise(x, sigma)
