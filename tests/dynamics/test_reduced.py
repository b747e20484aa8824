"""The reduced samplers (``simulate(reduced=...)``, docs/reduced_dynamics.md) against the full d-dimensional ones.

References: the full sampler run on the same initial states (deterministic samplers: pathwise agreement of u to
rounding), the full sampler's Monte Carlo law (stochastic samplers: |difference| ≤ 4 combined standard errors, fixed
seeds), the empirical variance of the full sampler's x⊥ against the closed-form orthogonal recursion, and the
entropy engine's H[Z | X_t] (quadrature) for the w = 1 cross-entropy profile at d = 10⁶.
"""

import jax
import numpy as np
import pytest

from gmmtheory import dynamics as dyn
from gmmtheory.dynamics.reduced import reduced_setup
from gmmtheory.dynamics.runs import initial_states, prepare_run, run_segment
from gmmtheory.entropy.api import class_entropy
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.presets import build_preset
from gmmtheory.processes import OU
from gmmtheory.reduction import reduce_mixture

K4 = 4


def _shared_mixture(d: int, diag: bool = False) -> GaussianMixture:
    """K = 4 means in span(e_0, e_1, e_2) (so r = 3, uncentred), shared covariance I or a diagonal one that leaves
    that span invariant (eigenvalues 1.5 / 0.5 alternating on the complement: two groups)."""
    rng = np.random.default_rng(3)
    means = np.zeros((K4, d))
    means[:, :3] = rng.normal(size=(K4, 3)) * 1.2
    if not diag:
        return GaussianMixture(means, 1.0, [0.4, 0.3, 0.2, 0.1])
    v = np.where(np.arange(d) % 2 == 0, 1.5, 0.5)
    v[:3] = [0.8, 1.1, 0.9]
    return GaussianMixture(means, np.tile(v, (K4, 1)), [0.4, 0.3, 0.2, 0.1], cov_kind="class_diag")


SETUP = dict(process=None, T=None, t_end=0.0, sigma_min=0.002, sigma_max=80.0, rho=7.0, S_min=0.05, S_max=50.0,
             S_noise=1.0, chunk=None)
GUIDES = {  # guidance rule → (guidance, w, interval, partition, labels)
    "none": ("none", 1.0, None, None, "prior"),
    "cfg": ("cfg", 3.0, None, None, "prior"),
    "interval": ("interval", 2.5, (0.3, 3.0), None, "prior"),
    "group": ("cfg", 2.0, None, Partition([[0, 1], [2, 3]]), "prior"),
}


def _same_start_pair(mix, sampler, guide, n=64, n_steps=24, S_churn=0.0):
    """Full and reduced runs of a deterministic sampler from the same initial states (u_0 = Qᵀx_0)."""
    g, w, interval, part, label = GUIDES[guide]
    st = prepare_run(mix, sampler=sampler, n_samples=n, n_steps=n_steps, guidance=g, w=w, interval=interval,
                     partition=part, S_churn=S_churn, **SETUP)
    M = mix.K if part is None else part.M
    labels = np.arange(n, dtype=np.int32) % M
    x0, _ = initial_states(st, jax.random.key(5), labels, False, "conditional")
    keys = jax.random.split(jax.random.key(6), st.n_chunks)
    full = run_segment(st, x0, keys, labels, False, 0, n_steps, True, True,
                       extra={"x0": np.asarray(x0).reshape(-1, mix.d)[:n]})
    red = reduce_mixture(mix)
    rst = reduced_setup(st, red, st.chunk)
    q = red.basis.T @ full.basis
    u0 = np.asarray(x0) @ red.basis
    small = run_segment(rst, jax.numpy.asarray(u0), keys, labels, False, 0, n_steps, True, True,
                        proj_basis=(q, full.basis))
    return full, small, red


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["ode", "edm"])
def test_deterministic_samplers_agree_pathwise(sampler):
    """ODE (Heun) and EDM without churn from the same states: u, posteriors and projections agree to rounding,
    for every guidance rule (d = 256, a shared diagonal covariance with an invariant span)."""
    mix = _shared_mixture(256, diag=True)
    for guide in GUIDES:
        full, small, red = _same_start_pair(mix, sampler, guide)
        np.testing.assert_allclose(small.x, full.x @ red.basis, atol=1e-10, rtol=0)
        np.testing.assert_allclose(small.log_post, full.log_post, atol=1e-9, rtol=0)
        np.testing.assert_allclose(small.proj, full.proj, atol=1e-10, rtol=0)
        # and x⊥ of the full run is x⊥_0 times the product of the scalar factors c_i, per eigenvalue of Σ⊥
        x0 = full.extra["x0"]
        P = lambda x: x - (x @ red.basis) @ red.basis.T  # noqa: E731
        lam = np.where(np.arange(256) % 2 == 0, 1.5, 0.5)
        c, pre, _ = dyn.orth_step_factors(full.grid, sampler, lam)
        assert np.all(pre == 0)
        np.testing.assert_allclose(P(full.x), P(x0) * np.prod(c, axis=0), atol=1e-10, rtol=0)


def _law_pair(mix, sampler, n, n_steps, d_check=True, **kw):
    common = dict(sampler=sampler, n_samples=n, n_steps=n_steps, label="prior", guidance="cfg", w=2.5, **kw)
    small = dyn.simulate(mix, key=1, reduced=True, **common)
    full = dyn.simulate(mix, key=2, reduced=False, keep_x=True, **common)
    return small, full


def _profiles_agree(small, full, k=4.0, idx=None):
    ca, sa = dyn.cross_entropy_profile(small)
    cb, sb = dyn.cross_entropy_profile(full)
    idx = np.arange(1, ca.size) if idx is None else idx
    se = np.hypot(sa[idx], sb[idx])
    ok = se > 0
    assert np.all(np.abs(ca[idx] - cb[idx])[ok] <= k * se[ok]), (ca[idx], cb[idx], se)


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["sde", "edm"])
def test_stochastic_samplers_agree_in_law_and_orthogonal_variance_is_exact(sampler):
    """EM and EDM with churn under CFG (d = 256, shared diagonal Σ): the reduced cross-entropy profile and final
    projections match the full sampler within 4 SE, and the closed-form V_end per eigenvalue group matches the full
    sampler's empirical per-coordinate variance of x⊥ (se = V √(2/((n − 1) m_g)))."""
    mix = _shared_mixture(256, diag=True)
    kw = {"T": 5.0} if sampler == "sde" else {}
    small, full = _law_pair(mix, sampler, 1024, 48, **kw)
    _profiles_agree(small, full, idx=np.arange(4, 49, 4))
    for j in range(small.final_proj.shape[1]):
        a, b = small.final_proj[:, j], full.final_proj[:, j]
        assert abs(a.mean() - b.mean()) <= 4 * np.hypot(a.std() / 32, b.std() / 32)
    red = small.extra["reduction"]
    v_end = small.extra["orth_variance"][-1]
    assert red.orth_mult.sum() == 256 - 3 and small.extra["orth_evals"].size == 2
    xperp = full.x - (full.x @ red.basis) @ red.basis.T
    lam = np.where(np.arange(256) % 2 == 0, 1.5, 0.5)
    for g, ev in enumerate(small.extra["orth_evals"]):
        cols = (lam == ev) & (np.arange(256) >= 3)
        emp = np.var(xperp[:, cols], axis=0, ddof=1).mean()
        se = v_end[g] * np.sqrt(2.0 / ((full.n - 1) * cols.sum()))
        assert abs(emp - v_end[g]) <= 4 * se, (ev, emp, v_end[g], se)


@pytest.mark.slow
def test_ode_orthogonal_variance_is_the_exact_flow_and_keep_x_is_exact_in_law():
    """For the probability-flow ODE from exact starts, V_end is close to λ (the flow transports N(0, a²λ + σ²) to
    N(0, λ); Heun's error at 200 steps is small); keep_x returns Q u + x⊥ with Qᵀx = u exactly and x⊥ ⊥ span."""
    mix = _shared_mixture(64)
    tr = dyn.simulate(mix, sampler="ode", n_samples=256, n_steps=200, T=5.0, key=3, label="prior", keep_x=True,
                      reduced=True, record=False)
    np.testing.assert_allclose(tr.extra["orth_variance"][-1], [1.0], atol=1e-3)
    red = tr.extra["reduction"]
    np.testing.assert_allclose(tr.x @ red.basis, tr.extra["final_u"], atol=1e-12)
    xperp = tr.x - (tr.x @ red.basis) @ red.basis.T
    v = np.var(xperp, axis=0, ddof=1)[3:].mean()
    assert abs(v - tr.extra["orth_variance"][-1, 0]) <= 4 * np.sqrt(2.0 / (255 * 61))
    wcv = dyn.within_class_variance(tr, mix)
    tr2 = dyn.simulate(mix, sampler="ode", n_samples=256, n_steps=200, T=5.0, key=3, label="prior", reduced=True,
                       record=False)
    wcv2 = dyn.within_class_variance(tr2, mix)  # no x: the closed-form orthogonal part
    assert abs(wcv["total_ratio"] - wcv2["total_ratio"]) < 0.02 and wcv["signal_ratio"] == wcv2["signal_ratio"]


@pytest.mark.slow
def test_radial_kind_matches_full_sampler():
    """Per-class isotropic covariances (preset covariance_only, d = 64, r = 1): the (u, ρ) sampler with its exact
    χ² radial noise matches the full EDM sampler (churn) within 4 SE: cross-entropy profile and mean final |x⊥|²."""
    mix = build_preset("covariance_only", d=64, a=0.3).mixture
    small, full = _law_pair(mix, "edm", 1024, 32)
    assert small.extra["reduced"] == "radial"
    _profiles_agree(small, full, idx=np.arange(2, 33, 3))
    red = small.extra["reduction"]
    rho_full = np.sum(full.x**2, axis=1) - np.sum((full.x @ red.basis) ** 2, axis=1)
    rho = small.extra["final_rho"]
    assert abs(rho.mean() - rho_full.mean()) <= 4 * np.hypot(rho.std(), rho_full.std()) / np.sqrt(1024)
    assert small.extra["rho"].shape == (1024, 33)


@pytest.mark.slow
def test_cross_entropy_at_w1_in_a_million_dimensions_is_the_class_entropy():
    """w = 1, labels from the prior, exact conditional starts: E[−log p_t(z | x_t)] along a reduced Heun run at
    d = 10⁶ equals H[Z | X_t] (entropy engine) within 4 SE (OU grid; the flow's discretisation error at 100 steps
    is far below the SE)."""
    d = 10**6
    mix = build_preset("two", d=d, mu=1.5 / np.sqrt(d)).mixture
    tr = dyn.simulate(mix, sampler="ode", n_samples=4096, n_steps=100, T=4.0, t_end=0.05, key=4, label="prior",
                      reduced=True)
    assert tr.extra["reduced"] == "shared" and tr.basis.shape == (d, 1)
    ce, se = dyn.cross_entropy_profile(tr)
    idx = np.arange(10, 101, 10)
    ref = class_entropy(mix, OU(), tr.grid.t[idx]).value
    assert np.all(np.abs(ce[idx] - ref) <= 4 * se[idx]), (ce[idx], ref, se[idx])


def test_reduced_true_refuses_mixtures_without_reduction_and_auto_falls_back():
    rng = np.random.default_rng(0)
    mix = GaussianMixture(rng.normal(size=(2, 40)), rng.uniform(0.5, 1.5, size=(2, 40)), cov_kind="class_diag")
    with pytest.raises(ValueError, match="different diag covariances"):
        dyn.simulate(mix, n_samples=8, n_steps=4, reduced=True)
    with pytest.raises(ValueError, match="reduced must be True, False or 'auto'"):
        dyn.simulate(mix, n_samples=8, n_steps=4, reduced="yes")
    assert dyn.choose_reduction(mix, "auto") is None
    assert dyn.choose_reduction(_shared_mixture(64), "auto") is not None  # d = 64 ≥ max(32, 4r = 12)
    assert dyn.choose_reduction(_shared_mixture(8), "auto") is None  # too small to pay off
    assert dyn.choose_reduction(_shared_mixture(64), False) is None
    tr = dyn.simulate(mix, n_samples=8, n_steps=4, record=False)
    assert "reduced" not in tr.extra


def test_reduced_runs_with_x64_off_give_the_float64_results():
    mix = _shared_mixture(64)
    kw = dict(sampler="edm", n_samples=64, n_steps=16, key=7, label=1, guidance="cfg", w=2.0, reduced=True)
    ref = dyn.simulate(mix, **kw)
    with jax.enable_x64(False):
        out = dyn.simulate(mix, **kw)
    assert out.final_log_post.dtype == np.float64
    np.testing.assert_array_equal(out.final_log_post, ref.final_log_post)
    np.testing.assert_array_equal(out.extra["orth_variance"], ref.extra["orth_variance"])
