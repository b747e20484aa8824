"""Estimators of the class-conditional entropy H[Z | X_σ] on any ``Denoiser`` (EDM convention x_σ = x_0 + σ ε).

Three routes, each returning ``Measurement`` objects (σ increasing, value, Monte Carlo standard error):

(A) ``tracker_entropy`` — the online posterior tracker (Handke et al., arXiv 2602.09651, from the feedback-guidance
    work arXiv 2506.06085). Run the unguided stochastic (ancestral) sampler with the unconditional denoiser; each
    step σ_c → σ_n has the kernel  x_n | x_c, z ≈ N(m_z, s̃² I),  m_z = r x_c + (1 − r) D_z(x_c),  r = σ_n²/σ_c²,
    s̃² = (σ_c² − σ_n²) σ_n²/σ_c². Accumulating  ℓ_z = Σ_steps log q_z(x_n | x_c)  along a trajectory gives, because
    X_0 → X_{σ_n} → X_{σ_c} is Markov and the product of exact kernels telescopes to p(x_σ | z)/p(x_{σ_0} | z),
        log p_σ(z | x_σ) = log π_z + ℓ_z − log Σ_{z'} π_{z'} e^{ℓ_{z'}}        (all classes tracked),
        p_σ(z | x_σ) = π_z e^{ℓ_z − ℓ_ref},  p(rest) = 1 − Σ_{z∈S} p(z | x_σ)   (a subset S vs the unconditional),
    up to the information already in x_{σ_0} (negligible at σ_0 = 80 for unit-scale data). With a class b as the
    reference the posterior is the one within the sub-family S ∪ {b}. Every reference cancels in the all-classes
    softmax; it matters only for a subset against the unconditional model.

    The Gaussian kernel ignores the posterior spread of x_0 given x_c: the exact single-Gaussian-class kernel is
    N(m_z, s̃² I + β J_z) with β = (1 − r)² σ_c² and J_z = ∂D_z/∂x (Tweedie: Cov[X_0 | x_c, z] = σ_c² J_z). Its
    omission makes the paper's tracker over-confident at coarse steps. The *corrected* tracker (``corrected=True``)
    uses, per class, the kernel density
        log q_z = −|δ_z|² / (2 (s̃² + β ρ_z)) − (d/2) log(s̃² + β τ_z / d),      δ_z = x_n − m_z,
    with ρ_z = δ_zᵀ J_z δ_z / |δ_z|² (the posterior variance along the observed residual, one Jacobian-vector
    product) and τ_z = vᵀ J_z v (Hutchinson's estimate of tr J_z with one Rademacher probe v shared by all classes,
    so class differences keep common random numbers). It is exact whenever J_z is isotropic (shared or per-class
    isotropic Gaussian classes), agrees with log N(m_z, s̃² I + β J_z) to first order in β/s̃² otherwise, and costs
    two Jacobian-vector products per class and step (``jvp="autograd"``: ``torch.func.jvp``; ``"finite"``:
    central differences, for networks without forward-mode support).

(B) ``denoiser_gap`` — I-MMSE (Guo, Shamai, Verdú): with γ = 1/σ² and λ = log γ, dI(X_0; X_σ)/dγ = ½ mmse and
    I(Z; X_σ) = I(X_0; X_σ) − I(X_0; X_σ | Z), so dH[Z | X_σ]/dλ = −½ γ E‖D(X_σ, σ, Z) − D(X_σ, σ)‖² and, since
    dλ = −2 dlog σ,
        rate(σ) = dH/dlog σ = E‖D(X_σ, σ, Z) − D(X_σ, σ)‖² / σ²,
    exact for exact denoisers. The entropy follows as H(σ) = H[Z] − rate(σ_top)/2 − ∫_σ^{σ_top} rate dlog σ, the
    middle term being the tail above the grid (rate ∝ 1/σ² at large σ, so ∫_{σ_top}^∞ rate dlog σ = rate(σ_top)/2).
    The integral is a per-sample trapezoid in log σ with the same ε for every σ (common random numbers), so its
    standard error is across samples.

(C) ``classifier_log_posterior`` / ``classifier_entropy`` — diffusion-classifier posteriors for a chosen subset of
    classes from the conditional denoisers alone. Treat x as data at level σ, add noise τ: y = x + τ ε at level
    s² = σ² + τ², whose denoiser is E[X_σ | y, z] = (σ²/s²) y + (τ²/s²) D_z(y, s). Differentiating
    E_ε log p_s(x + τ ε | z) in τ² (heat equation plus Gaussian integration by parts) gives, up to terms equal for
    all classes,
        log p_σ(x | z) = −E|x − D_z(y_T, s_T)|² / (2 s_T²) − ∫_0^{τ_T²} E_ε h_z(τ, ε) d(τ²),
        h_z = |x − D_z(y, s)|² / (2 s⁴) + σ² ε·D_z(y, s) / (τ s⁴),
    the continuous-time diffusion ELBO of x (tight for exact denoisers); the first term is the prior term at the
    top s_T (a Gaussian of variance s_T² around the class mean). The integral is Gauss–Legendre in log s² with
    ``n_levels`` nodes, the same (τ, ε) for all classes and antithetic ±ε pairs.

Validation: ``tracker_bias_table`` holds (A) against exact ``gmmtheory.class_entropy`` on a ``GMMDenoiser``; the test
suite holds (B) and (C) against ``gmmtheory.entropy_rate`` / ``class_entropy`` within stated multiples of the error.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Sequence

import numpy as np
import torch

from gmmtheory.bridge.base import Measurement
from gmmtheory.bridge.sampling import (
    check_sigmas,
    edm_sigmas,
    initial_state,
    make_generator,
    model_sigmas,
    randn,
    step_coefficients,
)
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.progress import progress

__all__ = [
    "classifier_entropy",
    "classifier_log_posterior",
    "denoiser_gap",
    "format_bias_table",
    "tracker_bias_table",
    "tracker_entropy",
    "tracker_log_posteriors",
]

Method = Literal["paper", "corrected"]


# ================================================================================================== validation
def _check_model(model: Any) -> None:
    need = ("shape", "num_classes", "sigma_data", "sigma_max", "device", "dtype")
    missing = [a for a in need if not hasattr(model, a)]
    if missing or not callable(model):
        raise ValueError(f"model must implement the Denoiser protocol; missing {missing or ['__call__']}")


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}; got {value!r}")
    return int(value)


def _check_classes(classes: object, K: int, name: str = "classes", minimum: int = 1) -> list[int]:
    try:
        cl = [int(c) for c in np.asarray(classes).reshape(-1)]
        if any(float(c) != int(c) for c in np.asarray(classes, dtype=float).reshape(-1)):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of integer labels; got {classes!r}") from None
    if len(cl) < minimum:
        raise ValueError(f"{name} must hold at least {minimum} label(s); got {cl}")
    if len(set(cl)) != len(cl):
        raise ValueError(f"{name} must not repeat labels; got {cl}")
    bad = [c for c in cl if not 0 <= c < K]
    if bad:
        raise ValueError(f"{name} must be labels in 0..{K - 1}; out of range: {bad}")
    return cl


def _model_prior(model: Any, prior: object) -> np.ndarray:
    """Prior over all K classes: the given one, else the model's ``weights`` if it has them, else uniform."""
    K = int(model.num_classes)
    if prior is None:
        w = getattr(model, "weights", None)
        p = np.full(K, 1.0 / K) if w is None else np.asarray(w, dtype=np.float64)
    else:
        try:
            p = np.array(prior, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"prior must be an array of {K} probabilities; got {prior!r}") from None
    if p.shape != (K,) or not np.all(np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-8:
        raise ValueError(f"prior must be {K} non-negative finite probabilities summing to 1 (one per class)")
    return p / p.sum()


def _sub_log_prior(p: np.ndarray, cl: Sequence[int]) -> np.ndarray:
    sub = p[list(cl)]
    if sub.sum() <= 0:
        raise ValueError(f"prior gives zero mass to every class in {list(cl)}")
    with np.errstate(divide="ignore"):
        return np.log(sub / sub.sum())


def _entropy(log_p: np.ndarray) -> np.ndarray:
    """−Σ p log p over the last axis, with 0 log 0 = 0."""
    p = np.exp(log_p)
    return -np.sum(np.where(p > 0, p * np.where(np.isfinite(log_p), log_p, 0.0), 0.0), axis=-1)


def _mean_se(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = v.shape[0]
    return v.mean(axis=0), v.std(axis=0, ddof=1) / math.sqrt(n)


# ====================================================================================== Jacobian-vector products
def _jvp(model: Any, x: torch.Tensor, sigma: float, label: torch.Tensor | None, t: torch.Tensor, how: str) -> torch.Tensor:
    """J t with J = ∂D(x, σ, label)/∂x, per sample: forward-mode autograd or central differences."""
    if how == "autograd":
        return torch.func.jvp(lambda y: model(y, sigma, label), (x,), (t,))[1]
    norm = t.flatten(1).norm(dim=1).clamp_min(torch.finfo(t.dtype).tiny)
    shape = (-1,) + (1,) * (t.ndim - 1)
    u = t / norm.view(shape)
    h = 1e-3 * sigma if t.dtype == torch.float64 else 3e-2 * sigma
    diff = (model(x + h * u, sigma, label) - model(x - h * u, sigma, label)) / (2 * h)
    return diff * norm.view(shape)


# ============================================================================================ (A) the tracker
def _tracker_mode(model: Any, classes: object, reference: object) -> tuple[str, list[int], int | None]:
    K = int(model.num_classes)
    if isinstance(reference, str):
        if reference != "unconditional":
            raise ValueError(f"reference must be 'unconditional' or an int class label; got {reference!r}")
        ref = None
    elif isinstance(reference, (int, np.integer)) and not isinstance(reference, bool):
        if not 0 <= int(reference) < K:
            raise ValueError(f"reference must be a class label in 0..{K - 1}; got {reference}")
        ref = int(reference)
    else:
        raise ValueError(f"reference must be 'unconditional' or an int class label; got {reference!r}")
    cl = list(range(K)) if classes is None else _check_classes(classes, K)
    if ref is None:
        mode = "all" if sorted(cl) == list(range(K)) else "subset"
    else:
        mode = "pair"
        if ref not in cl:
            cl = cl + [ref]
        if len(cl) < 2:
            raise ValueError("classes must hold a label other than the reference")
    return mode, cl, ref


def _combine(mode: str, acc: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    """Log posteriors (…, M) from accumulated log kernels (…, T') per the tracking mode."""
    if mode == "subset":
        ell = acc[..., :-1] - acc[..., -1:]
        lp = log_prior[:-1] + ell
        total = np.logaddexp.reduce(lp, axis=-1)
        over = total > 0  # Σ p_z > 1 under approximate kernels: renormalise, rest = 0
        lp = np.where(over[..., None], lp - total[..., None], lp)
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = np.where(over, -np.inf, np.log(-np.expm1(np.minimum(total, 0.0))))
        return np.concatenate([lp, rest[..., None]], axis=-1)
    z = log_prior + acc
    return z - np.logaddexp.reduce(z, axis=-1, keepdims=True)


def _exact_categories(mode: str, lp_full: np.ndarray, cl: list[int], log_prior_model: np.ndarray,
                      log_prior_all: np.ndarray) -> np.ndarray:
    """The model's exact log posteriors (…, K) re-weighted to the tracker's prior and mapped to its categories."""
    with np.errstate(invalid="ignore"):
        z = lp_full - log_prior_model + log_prior_all  # log π_z + log p(x|z) + const
    z = z - np.logaddexp.reduce(z, axis=-1, keepdims=True)
    if mode == "subset":
        rest_mask = np.ones(lp_full.shape[-1], bool)
        rest_mask[cl] = False
        rest = np.logaddexp.reduce(np.where(rest_mask, z, -np.inf), axis=-1)
        return np.concatenate([z[..., cl], rest[..., None]], axis=-1)
    sub = z[..., cl]
    return sub - np.logaddexp.reduce(sub, axis=-1, keepdims=True)


def _corrected_logq(delta: torch.Tensor, sq: torch.Tensor, jd: torch.Tensor, tau: torch.Tensor, st: float,
                    beta: float, d: int) -> torch.Tensor:
    """log q_z = −|δ_z|²/(2(s̃² + β ρ_z)) − (d/2) log(1 + β τ_z/(d s̃²)) (the common −(d/2) log s̃² dropped)."""
    rho = ((delta * jd).sum(-1) / sq.clamp_min(1e-300)).clamp_min(0.0)
    return -0.5 * sq / (st**2 + beta * rho) - 0.5 * d * torch.log1p(beta * tau / (d * st**2))


def tracker_log_posteriors(
    model: Any,
    *,
    n_samples: int,
    sigmas: object = None,
    classes: Sequence[int] | None = None,
    prior: object = None,
    reference: str | int = "unconditional",
    methods: Sequence[Method] = ("paper",),
    sampler: str = "ancestral",
    jvp: str = "autograd",
    exact: bool = True,
    generator: torch.Generator | int | None = None,
    batch_size: int = 1024,
    init: str = "auto",
) -> dict[str, Any]:
    """Run the tracker(s) on one set of trajectories; per-sample log posteriors on the grid.

    ``sampler``: ``"ancestral"`` — the unguided ancestral sampler with the unconditional denoiser,
    x_n = r x_c + (1 − r) D(x_c) + s̃ ξ (the paper's setting); ``"posterior"`` — the corrected tracker's own
    sampler (all classes tracked, "corrected" among ``methods``): draw z from the tracked posterior q(z | x_c),
    then x_n = r x_c + (1 − r) D_z(x_c) + sqrt(s̃² + β τ_z/d) ξ. That is the exact transition
    Σ_z p(z | x_c) N(m_z, s̃² I + β J_z) of the reverse process whenever the tracked posterior is exact and J_z is
    isotropic, so it removes the sampler's own discretisation error (the ancestral step ignores the posterior
    spread of x_0, between classes and within them) as well as the kernel's.

    Returns a dict with ``sigma`` (T,) the nonzero grid (decreasing, σ_0 first), ``categories`` (names of the M
    posterior categories: the tracked classes, plus ``"rest"`` for a subset against the unconditional model),
    ``log_post`` {method: (n, T, M)} and ``exact`` (n, T, M) — the model's own exact posteriors at the same points
    (when ``exact`` and the model has ``log_posterior``, else None). All methods see the same trajectories, so
    their differences are paired. Other arguments as in ``tracker_entropy``.
    """
    _check_model(model)
    n = _check_count(n_samples, "n_samples", 2)
    grid = model_sigmas(model) if sigmas is None else check_sigmas(sigmas)
    mode, cl, ref = _tracker_mode(model, classes, reference)
    methods = tuple(dict.fromkeys(methods))
    if not methods or any(m not in ("paper", "corrected") for m in methods):
        raise ValueError(f"methods must be a non-empty subset of ('paper', 'corrected'); got {methods!r}")
    if sampler not in ("ancestral", "posterior"):
        raise ValueError(f"sampler must be 'ancestral' or 'posterior'; got {sampler!r}")
    if sampler == "posterior" and ("corrected" not in methods or mode != "all"):
        raise ValueError("sampler='posterior' needs the corrected tracker with every class tracked against the "
                         "unconditional reference (classes=None, reference='unconditional')")
    if jvp not in ("autograd", "finite"):
        raise ValueError(f"jvp must be 'autograd' or 'finite'; got {jvp!r}")
    if init not in ("auto", "marginal", "noise", "edm"):
        raise ValueError(f"init must be one of ('auto', 'marginal', 'noise', 'edm'); got {init!r}")
    batch_size = _check_count(batch_size, "batch_size", 1)
    p = _model_prior(model, prior)
    if mode == "subset":
        with np.errstate(divide="ignore"):
            log_prior = np.log(np.append(p[cl], max(1.0 - p[cl].sum(), 0.0)))
    else:
        log_prior = _sub_log_prior(p, cl)
    g = make_generator(generator)
    want_exact = bool(exact) and hasattr(model, "log_posterior")
    if want_exact:
        with np.errstate(divide="ignore"):
            log_prior_model, log_p = np.log(_model_prior(model, None)), np.log(p)
    pos = grid[grid > 0]
    T, M, Tc = pos.size, len(cl) + (1 if mode == "subset" else 0), len(cl)
    d = int(np.prod(model.shape))
    with_ref = mode == "subset"
    corr = "corrected" in methods
    out = {mth: np.empty((n, T, M)) for mth in methods}
    ex = np.empty((n, T, M)) if want_exact else None
    starts = range(0, n, batch_size)
    for start in progress(starts, desc="tracker", total=len(starts)) if len(starts) > 1 else starts:
        sl = slice(start, min(start + batch_size, n))
        m = sl.stop - sl.start
        x = initial_state(model, m, float(grid[0]), g, init, None)
        acc = {mth: np.zeros((m, Tc + with_ref)) for mth in methods}
        rec = {mth: [_combine(mode, acc[mth], log_prior)] for mth in methods}
        rec_ex = []
        with torch.no_grad():
            if want_exact:
                rec_ex.append(model.log_posterior(x, float(grid[0])).to(torch.float64).cpu().numpy())
            lab = torch.as_tensor(cl, device=x.device).repeat_interleave(m)
            for i in range(grid.size - 1):
                sc, sn = float(grid[i]), float(grid[i + 1])
                r, st = step_coefficients(sc, sn)
                beta = (1.0 - r) ** 2 * sc**2
                x_rep = x.repeat(Tc, *([1] * (x.ndim - 1)))
                dens = [model(x_rep, sc, lab).view(Tc, m, *x.shape[1:])]
                d_ref = model(x, sc, None) if (sampler == "ancestral" or with_ref) else None
                if with_ref:
                    dens.append(d_ref[None])
                D = torch.cat(dens, 0)  # (T', m, *shape): tracked classes, then the reference
                Tp = D.shape[0]
                if corr:
                    probe = torch.randint(0, 2, (m, *x.shape[1:]), generator=g, device=g.device) * 2 - 1
                    probe = probe.to(device=x.device, dtype=x.dtype)
                    jv = [_jvp(model, x_rep, sc, lab, probe.repeat(Tc, *([1] * (x.ndim - 1))), jvp).view(Tc, m, -1)]
                    if with_ref:
                        jv.append(_jvp(model, x, sc, None, probe, jvp).view(1, m, -1))
                    tau = (probe.to(torch.float64).flatten(1)[None] * torch.cat(jv, 0).to(torch.float64)).sum(-1)
                    tau = tau.clamp_min(0.0)  # (T', m) Hutchinson estimates of tr J_z
                xi = randn(tuple(x.shape), g, model) if (sn > 0 or sampler == "posterior") else None
                if sampler == "ancestral":
                    x_next = r * x + (1.0 - r) * d_ref
                    if sn > 0:
                        x_next = x_next + st * xi
                else:
                    post = torch.as_tensor(np.exp(rec["corrected"][-1]), dtype=torch.float64, device=g.device)
                    z = torch.multinomial(post, 1, replacement=True, generator=g)[:, 0].to(x.device)
                    idx = torch.arange(m, device=x.device)
                    scale = torch.sqrt(st**2 + beta * tau[z, idx] / d).to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
                    x_next = r * x + (1.0 - r) * D[z, idx] + scale * xi
                if sn > 0:
                    mean = r * x.to(torch.float64)[None] + (1.0 - r) * D.to(torch.float64)
                    delta = (x_next.to(torch.float64)[None] - mean).flatten(2)  # (T', m, d) residuals δ_z
                    sq = (delta * delta).sum(-1)
                    if "paper" in methods:
                        acc["paper"] = acc["paper"] + (-0.5 * sq / st**2).T.cpu().numpy()
                    if corr:
                        tang = delta.view(Tp, m, *x.shape[1:]).to(x.dtype)
                        jd = [_jvp(model, x_rep, sc, lab, tang[:Tc].reshape(Tc * m, *x.shape[1:]), jvp).view(Tc, m, -1)]
                        if with_ref:
                            jd.append(_jvp(model, x, sc, None, tang[Tc], jvp).view(1, m, -1))
                        logq = _corrected_logq(delta, sq, torch.cat(jd, 0).to(torch.float64), tau, st, beta, d)
                        acc["corrected"] = acc["corrected"] + logq.T.cpu().numpy()
                    for mth in methods:
                        rec[mth].append(_combine(mode, acc[mth], log_prior))
                    if want_exact:
                        rec_ex.append(model.log_posterior(x_next, sn).to(torch.float64).cpu().numpy())
                x = x_next
        for mth in methods:
            out[mth][sl] = np.stack(rec[mth], axis=1)
        if want_exact:
            ex[sl] = _exact_categories(mode, np.stack(rec_ex, axis=1), cl, log_prior_model, log_p)  # type: ignore[index]
    cats = [str(c) for c in cl] + (["rest"] if mode == "subset" else [])
    return {"sigma": pos, "categories": cats, "log_post": out, "exact": ex, "mode": mode, "classes": cl,
            "reference": "unconditional" if ref is None else ref, "sampler": sampler}


def _group(log_post: np.ndarray, partition: Partition | None) -> np.ndarray:
    if partition is None:
        return log_post
    mem = partition.membership() > 0  # (K, M)
    return np.logaddexp.reduce(np.where(mem, log_post[..., :, None], -np.inf), axis=-2)


def tracker_entropy(
    model: Any,
    *,
    n_samples: int,
    sigmas: object = None,
    classes: Sequence[int] | None = None,
    prior: object = None,
    reference: str | int = "unconditional",
    partition: Partition | None = None,
    corrected: bool = False,
    sampler: str = "auto",
    jvp: str = "autograd",
    generator: torch.Generator | int | None = None,
    batch_size: int = 1024,
    init: str = "auto",
    return_log_posterior: bool = False,
) -> Measurement | tuple[Measurement, np.ndarray]:
    """H[Z | X_σ] on the nonzero points of ``sigmas`` by the online posterior tracker (module docstring, (A)).

    Args:
        model: a ``Denoiser`` with conditional and unconditional outputs.
        n_samples: number of sampler trajectories (≥ 2). sigmas: strictly decreasing grid (a final 0 allowed);
            default ``sampling.model_sigmas(model)``, EDM's 64-step ρ = 7 grid inside the model's own
            [sigma_min, sigma_max] (``edm_sigmas(64)``, on [0.002, 80], is refused by diffusers DDPM/SD models).
        classes: labels tracked (default all K). A strict subset against the unconditional reference gives the
            partition {each tracked class, rest}.
        prior: class probabilities over all K classes (default the model's ``weights`` if it has them, else
            uniform); for a subset against the unconditional model these must be the true class frequencies.
        reference: ``"unconditional"`` or a class label b (then the posterior within classes ∪ {b}).
        partition: optional ``Partition`` of all K labels to group the posterior (all classes tracked only).
        corrected: use the corrected kernel (posterior-covariance term) instead of the paper's.
        sampler: ``"ancestral"`` (the paper's: unconditional denoiser), ``"posterior"`` (the corrected tracker's
            own sampler, see ``tracker_log_posteriors``) or ``"auto"``: posterior when ``corrected`` and every
            class is tracked against the unconditional reference, else ancestral.
        jvp: ``"autograd"`` (torch.func.jvp) or ``"finite"`` (central differences) for the corrected kernel.
        generator: torch.Generator or int seed. batch_size: trajectories per batch (memory ∝ batch·|classes|·d).
        init: the sampler's initial state (``sampling.sample``; "auto" = exact marginal when the model offers it).
        return_log_posterior: also return the per-sample log posteriors (n, T, M), σ decreasing.

    Returns a ``Measurement`` (σ increasing; value = mean over trajectories of the tracked posterior's entropy,
    stderr = std/√n) with method ``"tracker"`` or ``"tracker_corrected"``.
    """
    _check_model(model)
    mode, _, _ = _tracker_mode(model, classes, reference)
    if partition is not None:
        if not isinstance(partition, Partition) or partition.K != int(model.num_classes):
            raise ValueError(f"partition must be a gmmtheory.Partition of the model's {model.num_classes} labels")
        if mode != "all":
            raise ValueError("partition needs every class tracked against the unconditional reference (classes=None)")
    method: Method = "corrected" if corrected else "paper"
    if sampler == "auto":
        sampler = "posterior" if corrected and mode == "all" else "ancestral"
    grid = model_sigmas(model) if sigmas is None else check_sigmas(sigmas)
    res = tracker_log_posteriors(model, n_samples=n_samples, sigmas=grid, classes=classes, prior=prior,
                                 reference=reference, methods=(method,), sampler=sampler, jvp=jvp, exact=False,
                                 generator=generator, batch_size=batch_size, init=init)
    lp = _group(res["log_post"][method], partition)
    h = _entropy(lp)
    mean, se = _mean_se(h)
    meas = Measurement(
        sigma=res["sigma"][::-1].copy(), value=mean[::-1].copy(), stderr=se[::-1].copy(), quantity="entropy",
        method="tracker_corrected" if corrected else "tracker",
        meta={"steps": int(grid.size - 1), "n_samples": int(n_samples), "classes": res["classes"],
              "categories": res["categories"] if partition is None else list(partition.names),
              "reference": res["reference"], "mode": res["mode"], "jvp": jvp if corrected else None,
              "sampler": sampler},
    )
    return (meas, lp) if return_log_posterior else meas


# ---------------------------------------------------------------------------------------------- bias table
def _bias_stats(err: np.ndarray, sigma: np.ndarray, extra_se: np.ndarray | None = None) -> dict[str, float]:
    """err (n, T): per-sample errors on a decreasing σ grid. Mean |bias| as a log-σ average, max bias, stderrs.

    b(σ) = mean_i err_i(σ); mean |b| = ∫ |b| dlog σ / ∫ dlog σ (trapezoid); its stderr is that of the
    per-sample average ∫ sign(b) err_i dlog σ / ∫ dlog σ (delta method). max bias = b at argmax |b|.
    """
    n = err.shape[0]
    b = err.mean(axis=0)
    se_pt = err.std(axis=0, ddof=1) / math.sqrt(n)
    if extra_se is not None:
        se_pt = np.sqrt(se_pt**2 + extra_se**2)
    ls = np.log(sigma)
    wts = np.zeros_like(ls)
    dl = -np.diff(ls)
    wts[:-1] += dl / 2
    wts[1:] += dl / 2
    wts /= wts.sum()
    per = (err * np.sign(b)[None]) @ wts
    se_mean = per.std(ddof=1) / math.sqrt(n)
    if extra_se is not None:
        se_mean = math.sqrt(se_mean**2 + float((wts * extra_se) @ np.ones_like(wts)) ** 2)
    k = int(np.argmax(np.abs(b)))
    return {"mean_abs": float(np.abs(b) @ wts), "mean_abs_se": float(se_mean), "max": float(b[k]),
            "max_se": float(se_pt[k]), "sigma_at_max": float(sigma[k])}


def tracker_bias_table(
    mixture: GaussianMixture,
    *,
    steps: Sequence[int] = (16, 32, 64, 128, 256),
    n_samples: int = 2000,
    partition: Partition | None = None,
    methods: Sequence[Method] = ("paper", "corrected"),
    samplers: Sequence[str] = ("ancestral", "posterior"),
    jvp: str = "autograd",
    seed: int = 0,
    exact_samples: int = 200_000,
    batch_size: int = 2048,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    device: str | torch.device = "cpu",
) -> list[dict[str, Any]]:
    """Bias of the trackers against exact H[Z_P | X_σ] on a ``GMMDenoiser`` of ``mixture``, per number of steps.

    For each N in ``steps`` and each sampler in ``samplers``: ``n_samples`` trajectories on ``edm_sigmas(N)``
    (seed ``seed + N``). On the ``"ancestral"`` trajectories every method in ``methods`` is tracked (paired
    comparison); the ``"posterior"`` sampler is driven by, and reported for, the corrected tracker (row method
    ``"corrected/posterior"``). Each row (steps, method) holds ``mean_abs`` / ``mean_abs_se`` (log-σ average of
    |b(σ)|, b = mean tracked entropy − exact H from ``gmmtheory.class_entropy`` under ``gmmtheory.EDM()`` with
    σ_data = 1, i.e. x_0 + σ ε), ``max`` / ``max_se`` / ``sigma_at_max`` (the signed b where |b| is largest), and
    the same for the kernel part alone (``kernel_…``: tracked entropy − entropy of the exact posterior at the same
    points, i.e. the tracker's own error with the sampler's error removed). Rows ``"sampler:<name>"`` give the
    sampler's part (exact posterior entropy at the sampled points − exact H); the total is their sum.
    Standard errors combine trajectory noise and, for Monte Carlo exact methods, the exact value's stderr.
    ``device``: where the ``GMMDenoiser`` computes.
    """
    import gmmtheory as gt  # the exact reference is the jax core
    from gmmtheory.bridge.gmm import GMMDenoiser

    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    model = GMMDenoiser(mixture, partition, sigma_min=sigma_min, sigma_max=sigma_max, device=device)
    steps = [_check_count(s, "steps", 1) for s in steps]
    samplers = tuple(samplers)
    if not samplers or any(s not in ("ancestral", "posterior") for s in samplers):
        raise ValueError(f"samplers must be a non-empty subset of ('ancestral', 'posterior'); got {samplers!r}")
    rows: list[dict[str, Any]] = []
    for N in progress(steps, desc="bias table", total=len(steps)):
        grid = edm_sigmas(N, sigma_min, sigma_max, rho)
        sig = grid[grid > 0]
        H = gt.class_entropy(mixture, gt.EDM(), sig, partition=partition, n_samples=exact_samples, key=int(seed))
        h_exact, h_se = np.asarray(H.value, np.float64), np.asarray(H.stderr, np.float64)
        for smp in samplers:
            mths = tuple(methods) if smp == "ancestral" else ("corrected",)
            res = tracker_log_posteriors(model, n_samples=n_samples, sigmas=grid, methods=mths, sampler=smp,
                                         jvp=jvp, generator=int(seed) + N, batch_size=batch_size)
            h_pt = _entropy(res["exact"])
            for mth in list(mths) + [f"sampler:{smp}"]:
                if mth.startswith("sampler"):
                    tot = _bias_stats(h_pt - h_exact[None], sig, h_se)
                    ker = {k: 0.0 for k in tot}
                else:
                    h = _entropy(res["log_post"][mth])
                    tot = _bias_stats(h - h_exact[None], sig, h_se)
                    ker = _bias_stats(h - h_pt, sig)
                name = mth if smp == "ancestral" or mth.startswith("sampler") else f"{mth}/{smp}"
                rows.append({"steps": N, "method": name, "n_samples": int(n_samples), "exact_method": H.method,
                             **tot, **{f"kernel_{k}": v for k, v in ker.items()}})
    return rows


def format_bias_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of ``tracker_bias_table`` rows (nats; ± one standard error)."""
    head = ("| steps | method | mean abs bias | max bias (at σ) | kernel: mean abs bias | kernel: max bias |\n"
            "|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['steps']} | {r['method']} | {r['mean_abs']:.4f} ± {r['mean_abs_se']:.4f} | "
            f"{r['max']:+.4f} ± {r['max_se']:.4f} ({r['sigma_at_max']:.3g}) | "
            f"{r['kernel_mean_abs']:.4f} ± {r['kernel_mean_abs_se']:.4f} | "
            f"{r['kernel_max']:+.4f} ± {r['kernel_max_se']:.4f} |"
        )
    return "\n".join(lines)


# ======================================================================================= shared input handling
def _check_data(model: Any, x0: object, labels: object, name_x: str = "x0") -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(x0, torch.Tensor):
        try:
            x0 = torch.as_tensor(np.asarray(x0, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{name_x} must be a tensor of shape (n, *{tuple(model.shape)})") from None
    if x0.ndim < 1 or tuple(x0.shape[1:]) != tuple(model.shape) or x0.shape[0] < 2:
        raise ValueError(f"{name_x} must have shape (n, *{tuple(model.shape)}) with n ≥ 2; got {tuple(x0.shape)}")
    if not bool(torch.all(torch.isfinite(x0))):
        raise ValueError(f"{name_x} must be finite")
    try:
        lab = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels))
    except (TypeError, ValueError):
        raise ValueError("labels must be a sequence of integer class labels") from None
    if lab.dtype.is_floating_point or lab.dtype == torch.bool or lab.shape != (x0.shape[0],):
        raise ValueError(f"labels must be {x0.shape[0]} integer class labels (one per row of {name_x})")
    K = int(model.num_classes)
    if int(lab.min()) < 0 or int(lab.max()) >= K:
        raise ValueError(f"labels must be in 0..{K - 1}; got values {int(lab.min())}..{int(lab.max())}")
    return x0.to(device=model.device, dtype=model.dtype), lab.long().to(model.device)


def _check_levels(sigmas: object) -> np.ndarray:
    try:
        s = np.array(sigmas, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"sigmas must be a 1-D sequence of noise levels; got {sigmas!r}") from None
    if s.size < 1 or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"sigmas must be finite noise levels > 0; got {s.tolist()}")
    if np.unique(s).size != s.size:
        raise ValueError("sigmas must not repeat a value")
    return np.sort(s)


def _sub_posterior_weights(model: Any, x: torch.Tensor, sigma: float, cl: list[int], log_prior_sub: np.ndarray,
                           generator: torch.Generator, n_levels: int) -> torch.Tensor:
    """p(z | x, Z ∈ S) for z in S under the prior ``log_prior_sub``: exact if the model has ``log_posterior``,
    else the diffusion-classifier estimate."""
    lp_prior = torch.as_tensor(log_prior_sub, dtype=torch.float64, device=x.device)
    if hasattr(model, "log_posterior"):
        with np.errstate(divide="ignore"):
            lpm = torch.as_tensor(np.log(_model_prior(model, None))[cl], dtype=torch.float64, device=x.device)
        lp = model.log_posterior(x, sigma).to(torch.float64)[:, cl] - lpm + lp_prior
        return torch.softmax(lp, dim=-1)
    return torch.exp(classifier_log_posterior(model, x, sigma, cl, log_prior=log_prior_sub, n_levels=n_levels,
                                              generator=generator))


# ================================================================================================ (B) gap rate
def denoiser_gap(
    model: Any,
    x0: torch.Tensor,
    labels: torch.Tensor,
    sigmas: object,
    *,
    classes: Sequence[int] | None = None,
    prior: object = None,
    n_noise: int = 1,
    generator: torch.Generator | int | None = None,
    batch_size: int = 1024,
    n_levels: int = 32,
) -> tuple[Measurement, Measurement]:
    """The entropy rate dH[Z | X_σ]/dlog σ and H[Z | X_σ] from the gap between conditional and reference denoisers.

        rate(σ) = E‖D(X_σ, σ, Z) − D_ref(X_σ, σ)‖² / σ²,   X_σ = X_0 + σ ε,  (X_0, Z) from the data,
        H(σ) = H[Z] − rate(σ_top)/2 − ∫_σ^{σ_top} rate dlog σ       (module docstring, (B)).

    Args:
        model: a ``Denoiser``. x0, labels: data samples (n, *shape) and their classes (n,) — draws from the data
            distribution (restricted to ``classes`` when given).
        sigmas: noise levels > 0 (any order; the result is on the sorted grid). Make the grid dense in log σ and
            reach high enough (e.g. 80) for the entropy's trapezoid rule; the rate is pointwise.
        classes: None → D_ref = D(x, σ, None), the model's own unconditional (a real model's whole training set).
            A subset S → D_ref = Σ_{z∈S} p(z | x, Z ∈ S) D(x, σ, z), the denoiser of the sub-mixture, whose weights
            come from the model's exact ``log_posterior`` when it has one, else from the diffusion classifier
            (``classifier_log_posterior``, ``n_levels`` nodes).
        prior: class probabilities over all K classes (default model ``weights`` if any, else uniform), restricted
            to ``classes``; gives H[Z] and the sub-mixture weights.
        n_noise: ε draws per sample (each reused at every σ: common random numbers).
        generator: torch.Generator or int seed. batch_size: samples per batch.

    Returns (rate, entropy): two ``Measurement`` objects, σ increasing, method ``"denoiser_gap"``, quantity
    ``"rate"`` (dH/dlog σ) and ``"entropy"``; stderrs are across samples (each sample's trapezoid is one draw).
    """
    _check_model(model)
    x0, lab = _check_data(model, x0, labels)
    sig = _check_levels(sigmas)
    n_noise = _check_count(n_noise, "n_noise", 1)
    batch_size = _check_count(batch_size, "batch_size", 1)
    n_levels = _check_count(n_levels, "n_levels", 2)
    K = int(model.num_classes)
    cl = list(range(K)) if classes is None else _check_classes(classes, K)
    if classes is not None:
        outside = sorted(set(lab.cpu().tolist()) - set(cl))
        if outside:
            raise ValueError(f"labels must lie in classes {cl}; found {outside}")
    p = _model_prior(model, prior)
    log_prior_sub = _sub_log_prior(p, cl)
    pz = np.exp(log_prior_sub)
    h_top = float(-np.sum(np.where(pz > 0, pz * log_prior_sub, 0.0)))
    g = make_generator(generator)
    n = x0.shape[0]
    gaps = np.zeros((n, sig.size))
    with torch.no_grad():
        for start in range(0, n, batch_size):
            sl = slice(start, min(start + batch_size, n))
            xb, lb = x0[sl], lab[sl]
            for _ in range(n_noise):
                eps = randn(tuple(xb.shape), g, model)
                for k, s in enumerate(sig):
                    x = xb + float(s) * eps
                    dz = model(x, float(s), lb)
                    if classes is None:
                        dref = model(x, float(s), None)
                    else:
                        w = _sub_posterior_weights(model, x, float(s), cl, log_prior_sub, g, n_levels)
                        m = x.shape[0]
                        lab_rep = torch.as_tensor(cl, device=x.device).repeat_interleave(m)
                        dall = model(x.repeat(len(cl), *([1] * (x.ndim - 1))), float(s), lab_rep)
                        dall = dall.view(len(cl), m, -1).to(torch.float64)
                        dref = torch.einsum("mz,zmd->md", w, dall).view(x.shape)
                    diff = (dz.to(torch.float64) - dref.to(torch.float64)).flatten(1)
                    gaps[sl, k] += (diff * diff).sum(1).cpu().numpy() / float(s) ** 2 / n_noise
    rate_m, rate_se = _mean_se(gaps)
    ls = np.log(sig)
    # H_i(σ_k) = H[Z] − rate_i(σ_top)/2 − Σ trapezoids from σ_k up to σ_top (per sample)
    seg = 0.5 * (gaps[:, 1:] + gaps[:, :-1]) * np.diff(ls)[None]
    above = np.concatenate([np.cumsum(seg[:, ::-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)
    h = h_top - 0.5 * gaps[:, -1:] - above
    h_m, h_se = _mean_se(h)
    meta = {"n_samples": int(n), "n_noise": n_noise, "classes": cl, "H_Z": h_top,
            "reference": "unconditional" if classes is None else "sub-mixture of classes",
            "tail": "rate(σ_top)/2 (rate ∝ 1/σ² above the grid)"}
    return (Measurement(sig.copy(), rate_m, rate_se, "rate", "denoiser_gap", dict(meta)),
            Measurement(sig.copy(), h_m, h_se, "entropy", "denoiser_gap", dict(meta)))


# ======================================================================================= (C) diffusion classifier
def classifier_log_posterior(
    model: Any,
    x: torch.Tensor,
    sigma: float,
    classes: Sequence[int],
    *,
    prior: object = None,
    log_prior: np.ndarray | None = None,
    n_levels: int = 32,
    n_pairs: int = 1,
    s_max: float | None = None,
    generator: torch.Generator | int | None = None,
    batch_size: int = 1024,
) -> torch.Tensor:
    """log p_σ(z | x, Z ∈ S) for z in S = ``classes`` from the conditional denoisers alone (module docstring, (C)).

        L_z = −E|x − D_z(x + τ_T ε, s_T)|²/(2 s_T²) − ∫_0^{τ_T²} E_ε[ |x − D_z(y, s)|²/(2 s⁴) + σ² ε·D_z(y, s)/(τ s⁴) ] d(τ²),
        y = x + τ ε,  s² = σ² + τ²,  log p(z | x, S) = log_softmax_z(log π_z + L_z),

    with Gauss–Legendre in u = log s² on [log σ², log s_T²] (d(τ²) = s² du), ``n_levels`` nodes, ``n_pairs``
    antithetic pairs (ε, −ε) per node and sample, the same (τ, ε) for every class, s_T = ``s_max`` (default the
    model's sigma_max). Args: x (n, *shape) noisy samples at level ``sigma`` > 0; prior over all K classes (or
    ``log_prior`` over S directly). Returns (n, |S|) float64 log posteriors on the model's device.
    """
    _check_model(model)
    if not isinstance(x, torch.Tensor) or tuple(x.shape[1:]) != tuple(model.shape) or x.ndim < 2:
        raise ValueError(f"x must be a tensor of shape (n, *{tuple(model.shape)})")
    try:
        sg = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"sigma must be a number > 0; got {sigma!r}") from None
    if not (np.isfinite(sg) and sg > 0):
        raise ValueError(f"sigma must be finite and > 0; got {sigma!r}")
    K = int(model.num_classes)
    cl = _check_classes(classes, K, minimum=2)
    n_levels = _check_count(n_levels, "n_levels", 2)
    n_pairs = _check_count(n_pairs, "n_pairs", 1)
    batch_size = _check_count(batch_size, "batch_size", 1)
    sT = float(model.sigma_max) if s_max is None else float(s_max)
    if not (np.isfinite(sT) and sT > sg):
        raise ValueError(f"s_max must be finite and > sigma ({sg}); got {s_max!r} (model.sigma_max={model.sigma_max})")
    if log_prior is None:
        log_prior = _sub_log_prior(_model_prior(model, prior), cl)
    else:
        log_prior = np.asarray(log_prior, dtype=np.float64)
        if log_prior.shape != (len(cl),):
            raise ValueError(f"log_prior must have shape ({len(cl)},)")
    g = make_generator(generator)
    t, wq = np.polynomial.legendre.leggauss(n_levels)
    a, b = 2 * math.log(sg), 2 * math.log(sT)
    u = 0.5 * (b - a) * t + 0.5 * (a + b)
    wq = 0.5 * (b - a) * wq
    S = len(cl)
    x = x.to(device=model.device, dtype=model.dtype)
    out = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            m = xb.shape[0]
            lab = torch.as_tensor(cl, device=xb.device).repeat_interleave(m)
            x64 = xb.to(torch.float64).flatten(1)[None]  # (1, m, d)
            rep = (S, *([1] * (xb.ndim - 1)))

            def den(y: torch.Tensor, s: float) -> torch.Tensor:
                return model(y.repeat(*rep), s, lab).view(S, m, -1).to(torch.float64)

            L = torch.zeros(S, m, dtype=torch.float64, device=xb.device)
            for _ in range(n_pairs):
                tT = math.sqrt(sT**2 - sg**2)
                eps = randn(tuple(xb.shape), g, model)
                for sign in (1.0, -1.0):
                    d_top = den(xb + sign * tT * eps, sT)
                    L -= ((x64 - d_top) ** 2).sum(-1) / (2 * sT**2) / (2 * n_pairs)
                for uj, wj in zip(u, wq):
                    s2 = math.exp(uj)
                    s, tau = math.sqrt(s2), math.sqrt(max(s2 - sg**2, 0.0))
                    eps = randn(tuple(xb.shape), g, model)
                    e64 = eps.to(torch.float64).flatten(1)[None]
                    for sign in (1.0, -1.0):
                        dz = den(xb + sign * tau * eps, s)
                        hz = ((x64 - dz) ** 2).sum(-1) / (2 * s2**2)
                        if tau > 0:
                            hz = hz + sign * sg**2 * (e64 * dz).sum(-1) / (tau * s2**2)
                        L -= wj * s2 * hz / (2 * n_pairs)
            lp = torch.as_tensor(log_prior, dtype=torch.float64, device=xb.device)[:, None] + L
            out.append(torch.log_softmax(lp, dim=0).T)
    return torch.cat(out, 0)


def classifier_entropy(
    model: Any,
    x0: torch.Tensor,
    labels: torch.Tensor,
    sigmas: object,
    classes: Sequence[int],
    *,
    prior: object = None,
    n_levels: int = 32,
    n_pairs: int = 1,
    s_max: float | None = None,
    generator: torch.Generator | int | None = None,
    batch_size: int = 1024,
) -> Measurement:
    """H[Z | X_σ, Z ∈ S] for the sub-mixture of ``classes`` S by the diffusion classifier.

    x0, labels: data samples of the sub-mixture (labels in S). For each σ (sorted increasing): x = x0 + σ ε with the
    same ε at every σ, posterior ``classifier_log_posterior(model, x, σ, S, ...)``, entropy −Σ p log p per sample;
    value = mean, stderr = std/√n. The classifier's own Monte Carlo noise is included in the per-sample spread; it
    also biases the entropy of each sample slightly downward (noisy logits look more confident), which the
    quadrature/noise settings control (see the tests for measured sizes).
    """
    _check_model(model)
    x0, lab = _check_data(model, x0, labels)
    sig = _check_levels(sigmas)
    cl = _check_classes(classes, int(model.num_classes), minimum=2)
    outside = sorted(set(lab.cpu().tolist()) - set(cl))
    if outside:
        raise ValueError(f"labels must lie in classes {cl}; found {outside}")
    log_prior = _sub_log_prior(_model_prior(model, prior), cl)
    g = make_generator(generator)
    eps = randn(tuple(x0.shape), g, model)
    h = np.empty((x0.shape[0], sig.size))
    for k, s in enumerate(sig):
        lp = classifier_log_posterior(model, x0 + float(s) * eps, float(s), cl, log_prior=log_prior,
                                      n_levels=n_levels, n_pairs=n_pairs, s_max=s_max, generator=g,
                                      batch_size=batch_size)
        h[:, k] = _entropy(lp.cpu().numpy())
    mean, se = _mean_se(h)
    return Measurement(sig.copy(), mean, se, "entropy", "classifier",
                       {"classes": cl, "n_samples": int(x0.shape[0]), "n_levels": n_levels, "n_pairs": n_pairs,
                        "s_max": float(model.sigma_max if s_max is None else s_max)})
