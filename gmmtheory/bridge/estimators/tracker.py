"""(A) The online posterior tracker on any Denoiser (EDM convention x_σ = x_0 + σ ε).

``tracker_entropy`` — the online posterior tracker (Handke et al., arXiv 2602.09651, from the feedback-guidance
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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from gmmtheory._checks import check_count
from gmmtheory.bridge.base import Measurement
from gmmtheory.bridge.estimators.common import (
    _check_classes,
    _check_model,
    _entropy,
    _jvp,
    _mean_se,
    _model_prior,
    _sub_log_prior,
)
from gmmtheory.bridge.estimators.implied import is_conditional_only
from gmmtheory.bridge.sampling import (
    check_sigmas,
    initial_state,
    make_generator,
    model_sigmas,
    randn,
    step_coefficients,
)
from gmmtheory.mixture import Partition
from gmmtheory.progress import progress

Method = Literal["paper", "corrected"]


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
    spread of x_0, between classes and within them) as well as the kernel's. ``"implied"`` — for a conditional-only
    network (no D(x, σ, None)): the ancestral step with the implied unconditional denoiser
    D_u(x_c) = Σ_z p(z | x_c) D_z(x_c), p the tracked posterior of the first of ``methods`` (all classes tracked;
    no network call beyond the K conditional ones the tracker makes anyway).

    Returns a dict with ``sigma`` (T,) the nonzero grid (decreasing, σ_0 first), ``categories`` (names of the M
    posterior categories: the tracked classes, plus ``"rest"`` for a subset against the unconditional model),
    ``log_post`` {method: (n, T, M)} and ``exact`` (n, T, M) — the model's own exact posteriors at the same points
    (when ``exact`` and the model has ``log_posterior``, else None). All methods see the same trajectories, so
    their differences are paired. Other arguments as in ``tracker_entropy``.
    """
    _check_model(model)
    n = check_count("n_samples", n_samples, 2)
    grid = model_sigmas(model) if sigmas is None else check_sigmas(sigmas)
    mode, cl, ref = _tracker_mode(model, classes, reference)
    methods = tuple(dict.fromkeys(methods))
    if not methods or any(m not in ("paper", "corrected") for m in methods):
        raise ValueError(f"methods must be a non-empty subset of ('paper', 'corrected'); got {methods!r}")
    if sampler not in ("ancestral", "posterior", "implied"):
        raise ValueError(f"sampler must be 'ancestral', 'posterior' or 'implied'; got {sampler!r}")
    if sampler == "implied" and mode != "all":
        raise ValueError("sampler='implied' needs every class tracked (classes=None, reference='unconditional'): "
                         "its unconditional denoiser is the tracked-posterior mixture of all K classes")
    if sampler == "posterior" and ("corrected" not in methods or mode != "all"):
        raise ValueError("sampler='posterior' needs the corrected tracker with every class tracked against the "
                         "unconditional reference (classes=None, reference='unconditional')")
    if jvp not in ("autograd", "finite"):
        raise ValueError(f"jvp must be 'autograd' or 'finite'; got {jvp!r}")
    if init not in ("auto", "marginal", "noise", "edm"):
        raise ValueError(f"init must be one of ('auto', 'marginal', 'noise', 'edm'); got {init!r}")
    batch_size = check_count("batch_size", batch_size, 1)
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
                if sampler == "implied":  # D_u = Σ_z p(z | x_c) D_z(x_c), p the tracked posterior (first method)
                    w_post = torch.as_tensor(np.exp(rec[methods[0]][-1]), dtype=torch.float64, device=x.device)
                    d_ref = torch.einsum("mz,zmd->md", w_post, dens[0].to(torch.float64).flatten(2))
                    d_ref = d_ref.view(x.shape).to(x.dtype)
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
                if sampler in ("ancestral", "implied"):
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
            own sampler, see ``tracker_log_posteriors``), ``"implied"`` (ancestral with the tracked-posterior
            mixture Σ_z p(z | x) D_z as the unconditional denoiser: never calls D(x, σ, None)) or ``"auto"``:
            posterior when ``corrected`` and every class is tracked against the unconditional reference, else
            implied when the model is conditional only (``implied.is_conditional_only``) and every class is
            tracked, else ancestral.
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
        if corrected and mode == "all":
            sampler = "posterior"
        else:
            sampler = "implied" if mode == "all" and is_conditional_only(model) else "ancestral"
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
