"""The exact multiclass guided probability-flow law against independent references: the quadrature / Monte Carlo
class entropy and a direct trapezoid quadrature at w = 1, the two-class engine ``guided_law`` at w = 2, 5, and the
reduced Monte Carlo ODE sampler for three classes at w = 3; plus the validation of every argument."""

import math

import numpy as np
import pytest

from gmmtheory._precision import precision_scope
from gmmtheory.dynamics import cross_entropy_profile, overshoot, simulate
from gmmtheory.entropy.api import class_entropy
from gmmtheory.guided_law import guided_law
from gmmtheory.guided_law import multiclass as mc
from gmmtheory.guided_law.multiclass import class_plane, multiclass_law, profile_marks
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.posterior import log_class_posterior
from gmmtheory.presets import build_preset
from gmmtheory.processes import OU

SIG = np.array([2.0e4, 300.0, 60.0, 20.0, 10.0, 6.0, 4.0, 2.5, 1.5, 0.8, 0.3, 0.0])


def _ou_times(sig):
    return 0.5 * np.log1p(np.asarray(sig) ** 2)  # OU time with σ(t)/a(t) = σ


@pytest.fixture(scope="module")
def two():
    return build_preset("two", d=64, mu=0.5).mixture


@pytest.fixture(scope="module")
def three():
    return build_preset("kclasses", K=3, d=100, mu=0.5).mixture


def test_class_plane_dimensions(two, three):
    assert class_plane(two).r == 1 and class_plane(three).r == 2  # three orthogonal means: centred span is a plane
    hier = build_preset("hierarchical", d=100, mu=0.5).mixture
    p = class_plane(hier)
    assert (p.K, p.r) == (4, 2)
    np.testing.assert_allclose(p.lam, [1.0, 1.0])


def test_w1_prior_ce_is_the_binary_quadrature_entropy(two):
    """w = 1, z ~ π: CE(σ) = H[Z | X_σ]; reference: class_entropy's binary-channel quadrature (exact)."""
    law = multiclass_law(two, w=1.0, sigmas=SIG, n_nodes=96, error_estimate=False)
    H = np.asarray(class_entropy(two, OU(), _ou_times(SIG[:-1]), method="quadrature").value)
    assert np.max(np.abs(law.ce[:-1] - H)) < 1e-6  # measured 1.2e-7 (96 Gauss–Hermite nodes)


def _trapezoid_entropy(means3: np.ndarray, sigma: float, h: float = 0.08, half_width: float = 11.0) -> float:
    """H[Z | X_σ] of N(μ_k, I_3), equal weights, by a tensor trapezoid rule over the plane ⊥ (1, 1, 1) around each
    class mean, posteriors from ``gmmtheory.posterior`` in 3-D (no code shared with the engine)."""
    mix = GaussianMixture(means3, 1.0)
    B = np.linalg.qr(np.array([[1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]).T)[0]  # (3, 2) basis of the plane
    sd = math.sqrt(1.0 + sigma**2)
    g = np.arange(-half_width, half_width + 1e-9, h)
    U = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    dens = np.exp(-0.5 * np.sum(U**2, axis=1)) * h * h / (2 * math.pi)
    t = float(_ou_times(sigma))
    a = math.exp(-t)
    tot = 0.0
    for z in range(3):
        x = a * (means3[z] + sd * U @ B.T)  # OU frame: X_t = a X̃
        lp = np.asarray(log_class_posterior(mix, OU(), t, x))
        tot += float(dens @ -lp[:, z]) / 3.0
    return tot


@pytest.mark.slow
def test_w1_prior_ce_three_classes_is_a_direct_quadrature(three):
    """Three classes: at w = 1 the profile is the entropy by a different rule (trapezoid, 3-D posteriors) to 1e-6;
    and it agrees with class_entropy's Monte Carlo ("reduced", seed 0) within 4 standard errors."""
    sig = np.array([30.0, 8.0, 5.0, 3.0, 1.5])
    law = multiclass_law(three, w=1.0, sigmas=sig, n_nodes=64, error_estimate=False)
    m3 = 0.5 * 10.0 * np.eye(3)  # the preset's means restricted to their span
    ref = np.array([_trapezoid_entropy(m3, s) for s in sig])
    assert np.max(np.abs(law.ce - ref)) < 1e-6
    H = class_entropy(three, OU(), _ou_times(sig), method="reduced", key=0)
    assert np.all(np.abs(law.ce - np.asarray(H.value)) <= 4 * np.asarray(H.stderr) + 1e-12)


def test_two_classes_agree_with_the_class_line_engine(two):
    """w = 2, 5 (and an interval): the same law as ``guided_law(sampler="ode")`` (1-D, uniform nodes, DOP853 in σ):
    an independent discretisation of the same ODE."""
    for w, iv in ((2.0, None), (5.0, None), (3.0, (1.0, 10.0))):
        law = multiclass_law(two, w=w, interval=iv, error_estimate=False)
        ref = guided_law(two, sampler="ode", w=w, interval=iv, label="prior")
        np.testing.assert_allclose(law.sigma, ref.sigma)
        assert np.max(np.abs(law.ce - ref.ce)) < 1e-8  # measured ≤ 1.3e-12
        assert np.max(np.abs(law.entropy - ref.entropy)) < 1e-8
        assert law.overshoot == pytest.approx(ref.overshoot, abs=1e-8)
        assert law.var_ratio == pytest.approx(ref.var_ratio, abs=1e-6)
        np.testing.assert_allclose(law.freq, ref.freq, atol=1e-8)


@pytest.mark.slow
def test_three_classes_agree_with_reduced_monte_carlo(three):
    """w = 3, label 0: the reduced Heun sampler (200 OU steps, 2¹³ paths, seed 0) has the law's CE at every
    reported σ, its overshoot and its variance along u_z within 4 standard errors (the Heun discretisation error of
    the overshoot at 200 steps, measured with 2¹⁴ paths against 400 steps, is ≈ 0.003 ≈ 0.6 se here)."""
    tr = simulate(three, sampler="ode", n_samples=2**13, n_steps=200, key=0, label=0, guidance="cfg", w=3.0,
                  reduced=True, record=True)
    ce, se = cross_entropy_profile(tr)
    idx = np.arange(0, 201, 10)
    law = multiclass_law(three, w=3.0, label=0, sigmas=tr.grid.sigma[idx], n_nodes=32, error_estimate=False)
    assert np.all(np.abs(ce[idx] - law.ce) <= 4 * se[idx] + 1e-10)
    o = overshoot(tr, three)
    assert abs(o["mean"] - law.overshoot) <= 4 * o["stderr"]
    v = o["values"]
    var, se_var = np.var(v), math.sqrt(np.var((v - v.mean()) ** 2) / v.size)
    assert abs(var - law.var_along) <= 4 * se_var
    assert law.overshoot > 1.2  # the guided law overshoots μ_z by > 1 class sd (1.334 exact)


def test_rate_is_the_derivative_of_the_profile(three):
    """The exact dCE/dlog σ (from the flow) matches finite differences of CE on a fine grid (w = 3, guided)."""
    sig = np.geomspace(40.0, 1.0, 81)
    law = multiclass_law(three, w=3.0, sigmas=sig, n_nodes=16, error_estimate=False, rtol=1e-8)
    fd = np.gradient(law.ce, np.log(sig))
    scale = float(np.max(np.abs(law.ce_rate_logsigma)))
    assert np.max(np.abs(fd[2:-2] - law.ce_rate_logsigma[2:-2])) < 2e-3 * scale
    marks = profile_marks(law)
    assert np.isfinite(marks["half_t"]) and marks["h10_t"] < marks["half_t"] < marks["h90_t"]


def test_refinement_estimate_and_precision_independence(three):
    """The node/rtol refinement error is tiny at the defaults, and the result does not depend on jax's x64 flag."""
    sig = np.array([50.0, 8.0, 4.0, 2.0, 0.0])
    law = multiclass_law(three, w=2.0, sigmas=sig, n_nodes=16, rtol=1e-6)
    assert law.error < 1e-5 and law.errors["overshoot"] < 1e-5
    high = multiclass_law(three, w=2.0, sigmas=sig, n_nodes=12, rtol=1e-6, error_estimate=False)
    with precision_scope("float32"):
        low = multiclass_law(three, w=2.0, sigmas=sig, n_nodes=12, rtol=1e-6, error_estimate=False)
    np.testing.assert_array_equal(low.ce, high.ce)
    assert low.overshoot == high.overshoot


def test_bad_inputs_are_rejected_before_any_integration(monkeypatch, three):
    def boom(*a, **k):
        raise AssertionError("integration started")

    monkeypatch.setattr(mc, "_run", boom)
    radial = GaussianMixture(np.eye(3, 8), np.array([1.0, 2.0, 3.0]), cov_kind="class_iso")
    diag = GaussianMixture(np.eye(3, 8), np.stack([np.ones(8), 2 * np.ones(8), np.ones(8)]), cov_kind="class_diag")
    five = build_preset("kclasses", K=5, d=10, mu=0.5).mixture  # centred span of dimension 4
    cases = [
        (dict(mixture=radial), "shared covariance"),
        (dict(mixture=diag), "reduce"),
        (dict(mixture=five), "r = 4"),
        (dict(mixture=GaussianMixture(np.ones((2, 4)), 1.0)), "coincide"),
        (dict(mixture="x"), "GaussianMixture"),
        (dict(w=-1.0), "w must"),
        (dict(interval=(5.0, 1.0)), "interval"),
        (dict(interval=3.0), "interval"),
        (dict(label=3), "label"),
        (dict(label=True), "label"),
        (dict(label="uniform"), "label"),
        (dict(sigmas=[1.0, 2.0]), "sigmas"),
        (dict(partition=Partition([[0, 1]])), "partition"),
        (dict(n_nodes=1), "n_nodes"),
        (dict(rtol=0.5), "rtol"),
        (dict(error_estimate="yes"), "error_estimate"),
    ]
    for kw, msg in cases:
        mix = kw.pop("mixture", three)
        with pytest.raises(ValueError, match=msg):
            multiclass_law(mix, **kw)
    with pytest.raises(ValueError, match="intervals"):
        mc.multiclass_redistribution("kclasses", intervals=("edm2",))
    with pytest.raises(ValueError, match="ws"):
        mc.multiclass_redistribution("kclasses", ws=(-1.0,))
