"""Semantic-entropy sampler schedules and their comparison with EDM's ρ-grid under exact-score sampling.

N noise levels σ_0 = σ_max > … > σ_{N−1} = σ_min (σ_N = 0 appended by the sampler) at equal steps of the blended
cumulative measure

    G(σ) = (1 − β) G_EDM(σ) + β G_H(σ),   G_EDM = (σ_max^{1/ρ} − σ^{1/ρ}) / (σ_max^{1/ρ} − σ_min^{1/ρ}),
    G_H = (Ĥ(σ_max) − Ĥ(σ)) / (Ĥ(σ_max) − Ĥ(σ_min)),     G(σ_i) = i / (N − 1),

so β = 0 is EDM's ρ-grid exactly and β = 1 removes an equal share of H[Z | X_σ] per step (β = 1 is taken as
1 − 10⁻⁶ so that G stays strictly monotone where H is flat). The control schedule "log_uniform" blends with the
uniform measure in log σ instead of G_H. ``schedule_comparison`` runs unconditional exact-score sampling with each
schedule at equal step counts from the same initial states and measures the final distribution against the truth
(class-frequency TV and KL, the paired shift against a converged reference run, the fitted class-conditional
Gaussian KL in the semantic subspace, the within-class total variance ratio), each with a bootstrap standard
error, plus paired differences with EDM and with the control.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gmmtheory._checks import check_count
from gmmtheory._curves import isotonic_fit
from gmmtheory.control.metrics import frequency_kl, gaussian_kl, label_moments, weighted_moments
from gmmtheory.control.theory import entropy_curve
from gmmtheory.control.windows import as_curve, bootstrap_rng, check_bounds, check_curve, fit_weights
from gmmtheory.dynamics import semantic_basis, simulate
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.schedules import edm_sigma_grid

__all__ = [
    "SCHEDULE_METRICS",
    "ScheduleComparison",
    "add_paired",
    "entropy_schedule",
    "schedule_comparison",
    "schedule_metrics",
    "schedule_plan",
]

_BETA_ONE = 1.0 - 1e-6
SCHEDULE_METRICS = ("freq_tv", "freq_kl", "moment_kl", "var_ratio_total", "freq_shift_tv")
Stats = Callable[[np.ndarray], np.ndarray]


def entropy_schedule(
    source: object,
    n_steps: int,
    *,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    blend: float = 1.0,
    rho: float = 7.0,
    partition: Partition | None = None,
    n_grid: int = 257,
    method: str = "auto",
    n_samples: int | None = None,
    key: object = 0,
    bounds: tuple[float, float] | None = None,
) -> np.ndarray:
    """A sampler σ grid of ``n_steps`` values, σ_max = σ_0 > … > σ_{N−1} = σ_min, at equal steps of
    G = (1 − β) G_EDM + β G_H (module docstring): β = ``blend`` = 0 is EDM's ρ-grid, β = 1 gives equal decrements of
    H[Z_P | X_σ] per step.

    Args:
        source: a ``GaussianMixture`` (H by ``class_entropy`` on ``n_grid`` log-spaced σ in [σ_min, σ_max], for
            ``partition``), or a measured curve ((σ, H[, stderr]) or an object with sigma/value/stderr) covering
            [σ_min, σ_max] (H is held constant beyond its ends), or ``"log_uniform"``: the control schedule with
            G_H replaced by the uniform measure in log σ (same blending, no entropy).
        n_steps: N ≥ 2. sigma_min, sigma_max, rho: the EDM grid's parameters. blend: β ∈ [0, 1].
        bounds: (H_min, H_max) to clip a measured curve's monotone fit into (``semantic_window``).
    Returns:
        (N,) decreasing σ (pass as ``dynamics.simulate(..., sigmas=...)``; σ_N = 0 is appended there).
    """
    n = check_count("n_steps", n_steps, 2)
    try:
        beta = float(blend)
    except (TypeError, ValueError):
        raise ValueError(f"blend must be a number in [0, 1]; got {blend!r}") from None
    if not (0.0 <= beta <= 1.0):
        raise ValueError(f"blend must lie in [0, 1]; got {blend!r}")
    smin, smax, rho = float(sigma_min), float(sigma_max), float(rho)
    if not (0 < smin < smax < math.inf):
        raise ValueError(f"need 0 < sigma_min < sigma_max < inf; got sigma_min={sigma_min!r}, sigma_max={sigma_max!r}")
    if not (math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be finite and > 0; got {rho!r}")
    if beta == 0.0:
        return edm_sigma_grid(n, smin, smax, rho)
    a, b = smax ** (1 / rho), smin ** (1 / rho)
    levels = np.arange(n) / (n - 1)
    u = np.linspace(math.log(smax), math.log(smin), 8193)  # decreasing log σ
    g_edm = (a - np.exp(u / rho)) / (a - b)
    if isinstance(source, str):
        if source != "log_uniform":
            raise ValueError(f"source must be a mixture, a curve or 'log_uniform' (the control); got {source!r}")
        return _blend(levels, u, g_edm, (math.log(smax) - u) / (math.log(smax) - math.log(smin)), beta, smin, smax)
    if isinstance(source, GaussianMixture):
        sig = np.geomspace(smin, smax, check_count("n_grid", n_grid, 8))
        part = None if partition is None else check_partition(partition, source.K)
        h, se, _ = entropy_curve(source, sig, part, method, n_samples, key)
    else:
        if partition is not None:
            raise ValueError("partition applies to a mixture; a measured curve already is one level")
        sig, h, se = as_curve(source)
    s, h, se = check_curve(sig, h, se)
    lo_b, hi_b = check_bounds(bounds)
    fit = np.clip(isotonic_fit(h, fit_weights(se, s.size)), lo_b, hi_b)
    hu = np.interp(u, np.log(s), fit)
    total = hu[0] - hu[-1]
    if not total > 0:
        raise ValueError("H produces no information between sigma_min and sigma_max: no entropy schedule exists")
    return _blend(levels, u, g_edm, (hu[0] - hu) / total, beta, smin, smax)


def _blend(levels: np.ndarray, u: np.ndarray, g_edm: np.ndarray, g_other: np.ndarray, beta: float, smin: float,
           smax: float) -> np.ndarray:
    """σ at the ``levels`` of G = (1 − β) G_EDM + β G_other on the decreasing log σ grid u."""
    beta = min(beta, _BETA_ONE)
    G = np.maximum.accumulate((1.0 - beta) * g_edm + beta * g_other)
    out = np.exp(np.interp(levels, G, u))
    out[0], out[-1] = smax, smin
    return out


def _schedule_stats(P: np.ndarray, y: np.ndarray, pi: np.ndarray, ref_means: np.ndarray, ref_covs: np.ndarray,
                    x: np.ndarray | None, ref_total_var: np.ndarray | None, P_ref: np.ndarray | None) -> Stats:
    """A function idx ↦ (freq_tv, freq_kl, moment_kl, var_ratio_total, freq_shift_tv) on the rows idx."""

    def stats(idx: np.ndarray) -> np.ndarray:
        Pi, yi = P[idx], y[idx]
        f = Pi.mean(axis=0)
        mk, vt = 0.0, 0.0
        for k in range(pi.size):
            if pi[k] <= 0:
                continue
            m, c = weighted_moments(yi, Pi[:, k])
            mk += pi[k] * gaussian_kl(m, np.atleast_2d(c), ref_means[k], ref_covs[k])
            if x is not None and ref_total_var is not None:
                xi, wk = x[idx], Pi[:, k]
                mx = wk @ xi / wk.sum()
                vt += pi[k] * float(wk @ np.sum((xi - mx) ** 2, axis=1) / wk.sum()) / float(ref_total_var[k])
        shift = 0.5 * float(np.sum(np.abs((Pi - P_ref[idx]).mean(axis=0)))) if P_ref is not None else float("nan")
        return np.array([0.5 * float(np.sum(np.abs(f - pi))), frequency_kl(f, pi), mk,
                         vt if x is not None and ref_total_var is not None else float("nan"), shift])

    return stats


def schedule_metrics(
    fine_post: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    ref_means: np.ndarray,
    ref_covs: np.ndarray,
    *,
    x: np.ndarray | None = None,
    ref_total_var: np.ndarray | None = None,
    paired_post: np.ndarray | None = None,
    n_boot: int = 200,
    seed: object = 0,
) -> dict[str, float]:
    """Distance of unconditional samples from the truth.

    Args:
        fine_post: (n, K) p_0(k | x) of the final samples. y: (n, r) their semantic-subspace projections.
        weights: (K,) target class weights π. ref_means (K, r), ref_covs (K, r, r): true class moments of y.
        x: (n, d) the samples and ref_total_var: (K,) tr Σ_k, for the total within-class variance ratio (optional).
        paired_post: (n, K) p_0(k | x) of a reference run from the same initial states (optional).
    Returns:
        freq_tv = ½ Σ_k |f_k − π_k| and freq_kl = KL(f ‖ π) with f_k = mean p_0(k | x); moment_kl = Σ_k π_k
        KL(N(m̂_k, Ĉ_k) ‖ N(m_k, C_k)) (moments weighted by p_0(k | x)); var_ratio_total = Σ_k π_k tr Σ̂_k / tr Σ_k;
        freq_shift_tv = ½ Σ_k |mean(p_k − p_k^ref)| (paired: free of the Monte Carlo noise the runs share); each with
        a bootstrap ``*_se`` (rows resampled); ``n``.
    """
    P = np.asarray(fine_post, np.float64)
    n = P.shape[0]
    n_boot = check_count("n_boot", n_boot, 0)
    rng = bootstrap_rng(seed)
    stats = _schedule_stats(P, np.asarray(y, np.float64), np.asarray(weights, np.float64), ref_means, ref_covs,
                            x, ref_total_var, None if paired_post is None else np.asarray(paired_post, np.float64))
    base = stats(np.arange(n))
    boot = np.asarray([stats(rng.integers(0, n, n)) for _ in range(n_boot)]) if n_boot >= 2 else None
    se = np.std(boot, axis=0, ddof=1) if boot is not None else np.full(base.size, np.nan)
    out: dict[str, float] = {"n": int(n)}
    for i, k in enumerate(SCHEDULE_METRICS):
        out[k], out[k + "_se"] = float(base[i]), float(se[i])
    return out


@dataclass
class ScheduleComparison:
    """Rows (dicts) per (n_steps, schedule): n_steps, schedule ("edm", "entropy β=…", "log-uniform β=…",
    "reference"), blend, the ``schedule_metrics``, paired differences with EDM at the same n_steps (``d_<metric>``,
    ``d_<metric>_se``; same initial states, bootstrap over shared rows) and, on entropy rows, with the log-uniform
    control at the same blend (``dc_<metric>``); sigmas: (n_steps, schedule) → the grid used."""

    case: str
    rows: list[dict]
    sigmas: dict
    settings: dict = field(default_factory=dict)

    def select(self, **match) -> list[dict]:
        return [r for r in self.rows if all(r[k] == v for k, v in match.items())]

    def summary(self) -> list[dict]:
        """Per n_steps and entropy blend: the metrics of both schedules and the paired differences."""
        out = []
        for r in self.rows:
            if not r["schedule"].startswith("entropy"):
                continue
            e = self.select(n_steps=r["n_steps"], schedule="edm")[0]
            c = self.select(n_steps=r["n_steps"], schedule=r["schedule"].replace("entropy", "log-uniform"))
            row = {"case": self.case, "n_steps": r["n_steps"], "blend": r["blend"]}
            for m in self.settings.get("metrics", ("freq_shift_tv", "freq_tv", "moment_kl", "var_ratio_total")):
                row[f"{m}_edm"], row[f"{m}_ent"] = e[m], r[m]
                row[f"d_{m}"], row[f"d_{m}_se"] = r[f"d_{m}"], r[f"d_{m}_se"]
                if c:
                    row[f"{m}_ctrl"] = c[0][m]
                    row[f"dc_{m}"], row[f"dc_{m}_se"] = r[f"dc_{m}"], r[f"dc_{m}_se"]
            out.append(row)
        return out

    def as_dict(self) -> dict:
        """JSON-ready: case, rows, the σ grids ("N schedule" → list) and the settings."""
        return {"case": self.case, "rows": self.rows, "settings": self.settings,
                "sigmas": {" ".join(map(str, k)) if isinstance(k, tuple) else str(k): np.asarray(v).tolist()
                           for k, v in self.sigmas.items()}}

    def __repr__(self) -> str:
        steps = sorted({r["n_steps"] for r in self.rows})
        names = list(dict.fromkeys(r["schedule"] for r in self.rows))
        return f"ScheduleComparison({self.case or 'mixture'!s}: N ∈ {steps}, schedules {names})"


def schedule_plan(blends: Sequence[float], curve: object, controls: bool) -> list[tuple[str, float, object]]:
    """(name, blend, source) of every schedule at one step count: "edm" (blend 0), "entropy β=b" per other blend
    and, with ``controls``, "log-uniform β=b" (the same blend of EDM's grid with the uniform measure in log σ)."""
    plan: list[tuple[str, float, object]] = [("edm", 0.0, curve)]
    plan += [(f"entropy β={b:g}", b, curve) for b in blends if b != 0.0]
    if controls:
        plan += [(f"log-uniform β={b:g}", b, "log_uniform") for b in blends if b != 0.0]
    return plan


def _paired(stats_a: Stats, stats_b: Stats, n: int, n_boot: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """stats_a − stats_b on all rows and its bootstrap stderr (the same resampled rows for both)."""
    idx_all = np.arange(n)
    d0 = stats_a(idx_all) - stats_b(idx_all)
    boot = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        boot.append(stats_a(idx) - stats_b(idx))
    dse = np.std(np.asarray(boot), axis=0, ddof=1) if n_boot >= 2 else np.full(d0.size, np.nan)
    return d0, dse


def add_paired(rows: list[dict], stats_of: dict, N: int, n: int, n_boot: int, rng: np.random.Generator,
               metrics: Sequence[str]) -> None:
    """Add to the rows at step count N: ``d_<m>`` (± ``d_<m>_se``) = schedule − EDM for every non-EDM schedule and
    ``dc_<m>`` = entropy β − log-uniform β (the control at the same blend) for entropy rows."""
    for r in rows:
        if r["n_steps"] != N or r["schedule"] not in stats_of or r["schedule"] == "edm":
            continue
        d0, dse = _paired(stats_of[r["schedule"]], stats_of["edm"], n, n_boot, rng)
        for i, m in enumerate(metrics):
            r[f"d_{m}"], r[f"d_{m}_se"] = float(d0[i]), float(dse[i])
        ctrl = r["schedule"].replace("entropy", "log-uniform")
        if r["schedule"].startswith("entropy") and ctrl in stats_of:
            d0, dse = _paired(stats_of[r["schedule"]], stats_of[ctrl], n, n_boot, rng)
            for i, m in enumerate(metrics):
                r[f"dc_{m}"], r[f"dc_{m}_se"] = float(d0[i]), float(dse[i])


def schedule_comparison(
    mixture: GaussianMixture,
    n_steps_list: Sequence[int] = (4, 8, 16, 32),
    *,
    blends: Sequence[float] = (0.0, 0.5, 1.0),
    partition: Partition | None = None,
    n_samples: int = 4096,
    S_churn: float = 0.0,
    key: object = 0,
    n_boot: int = 200,
    reference_steps: int = 256,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    controls: bool = True,
    case: str = "",
) -> ScheduleComparison:
    """Unconditional exact-score sampling (EDM's sampler with ``S_churn``; deterministic Heun by default) with EDM's
    ρ = 7 grid (blend 0, always run) and entropy schedules (other blends; H of ``partition``'s groups, default the
    classes) at equal step counts, measured by ``schedule_metrics`` against the truth. Every run starts from the
    same initial states (same key); ``reference_steps``: an EDM run with that many steps, the converged sampler
    against which ``freq_shift_tv`` is measured (its own ``freq_tv`` is the Monte Carlo floor). ``controls``: also
    run "log-uniform β" schedules (EDM's grid blended with the uniform measure in log σ instead of the entropy), so
    that an effect of blending can be told from an effect of the entropy (``dc_<metric>`` on entropy rows)."""
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    steps = [check_count("n_steps_list entries", v, 2) for v in n_steps_list]
    if not steps:
        raise ValueError("n_steps_list must hold at least one step count")
    try:
        bl = [float(b) for b in blends]
    except (TypeError, ValueError):
        raise ValueError(f"blends must be numbers in [0, 1]; got {blends!r}") from None
    if not bl or any(not (0.0 <= b <= 1.0) for b in bl):
        raise ValueError(f"blends must be numbers in [0, 1]; got {blends!r}")
    bl = [0.0] + [b for b in dict.fromkeys(bl) if b != 0.0]
    n = check_count("n_samples", n_samples, 8)
    n_boot = check_count("n_boot", n_boot, 0)
    n_ref = check_count("reference_steps", reference_steps, 2)
    part = None if partition is None else check_partition(partition, mixture.K)
    Q = semantic_basis(mixture)
    ref_m, ref_c = label_moments(mixture, None, Q)
    tot = mixture.spectrum.evals.sum(axis=1)
    pi = mixture.weights
    sig = np.geomspace(sigma_min, sigma_max, 257)
    h, se, _ = entropy_curve(mixture, sig, part, "auto", None, key)
    curve = (sig, h, se)

    def run_one(N: int, blend: float, src: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        s = entropy_schedule(src, N, blend=blend, sigma_min=sigma_min, sigma_max=sigma_max)
        tr = simulate(mixture, sampler="edm", n_samples=n, n_steps=N, key=key, label=None, sigmas=s,
                      S_churn=S_churn, record=False, keep_x=True)
        return s, np.exp(tr.final_log_post), np.asarray(tr.final_proj), np.asarray(tr.x)

    s_ref, P_ref, y_ref, x_ref = run_one(n_ref, 0.0, curve)
    rows = [{"case": case, "n_steps": n_ref, "schedule": "reference", "blend": 0.0,
             **schedule_metrics(P_ref, y_ref, pi, ref_m, ref_c, x=x_ref, ref_total_var=tot, paired_post=P_ref,
                                n_boot=n_boot, seed=0)}]
    grids = {(n_ref, "reference"): s_ref}
    rng = bootstrap_rng(1)
    for N in steps:
        stats_of: dict[str, Any] = {}
        for name, b, src in schedule_plan(bl, curve, controls):
            s, P, y, x = run_one(N, b, src)
            grids[(N, name)] = s
            met = schedule_metrics(P, y, pi, ref_m, ref_c, x=x, ref_total_var=tot, paired_post=P_ref, n_boot=n_boot,
                                   seed=len(rows))
            rows.append({"case": case, "n_steps": N, "schedule": name, "blend": b, **met})
            stats_of[name] = _schedule_stats(P, y, pi, ref_m, ref_c, x, tot, P_ref)
        add_paired(rows, stats_of, N, n, n_boot, rng, SCHEDULE_METRICS)
    settings = {"n_samples": n, "S_churn": float(S_churn), "blends": bl, "reference_steps": n_ref,
                "controls": bool(controls)}
    return ScheduleComparison(case, rows, grids, settings)
