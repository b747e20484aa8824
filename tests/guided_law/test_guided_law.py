"""Exact guided laws of the class coordinate: against closed forms, Monte Carlo and their own refinements."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from gmmtheory.dynamics import overshoot, simulate
from gmmtheory.entropy.api import class_entropy
from gmmtheory.guided_law import class_line, guided_law, sampler_law
from gmmtheory.mixture import GaussianMixture
from gmmtheory.presets import build_preset
from gmmtheory.processes import OU


@pytest.fixture(scope="module")
def two():
    return build_preset("two", d=64, mu=0.5).mixture


def test_class_line_depends_on_d_only_through_the_means(two):
    line = class_line(two)
    np.testing.assert_allclose(line.means, [-4.0, 4.0])
    assert line.lam == pytest.approx(1.0)


def test_w1_ode_law_is_the_marginal_class_entropy(two):
    """At w = 1 with z ~ π the flow transports p_T(·|z) to p_t(·|z): CE(σ) = H[Z | X_t] (closed form/quadrature)."""
    g = guided_law(two, sampler="ode", w=1.0, label="prior")
    s = g.sigma[1:-1]
    H = np.asarray(class_entropy(two, OU(), 0.5 * np.log1p(s**2)).value)
    assert np.max(np.abs(g.ce[1:-1] - H)) < 1e-6
    np.testing.assert_allclose(g.freq, [0.5, 0.5], atol=1e-9)
    assert abs(g.overshoot) < 1e-8
    # hard-class variance of 0.5 N(−4, 1) + 0.5 N(4, 1) restricted to y > 0 (by symmetry the same for y < 0)
    def pdf(y):
        return 0.5 * (np.exp(-0.5 * (y - 4) ** 2) + np.exp(-0.5 * (y + 4) ** 2)) / math.sqrt(2 * math.pi)
    m0 = quad(pdf, 0, np.inf)[0]
    m1 = quad(lambda y: y * pdf(y), 0, np.inf)[0] / m0
    var = quad(lambda y: (y - m1) ** 2 * pdf(y), 0, np.inf)[0] / m0
    # the hard-class split is a discontinuous integrand: the node quadrature is only O(h p(y*)) there (h ≈ 0.1,
    # p(0) ≈ 1.3e-4 → bound ≈ 1e-5), unlike the spectral accuracy of the smooth observables above
    assert g.var_ratio == pytest.approx(var, abs=1e-5)


def test_spatial_refinement_of_a_chain_law(two):
    """Node spacing dy → dy/2 changes CE and the overshoot by ≤ 1e-6 (the accuracy claimed for the default dy)."""
    outs = [sampler_law(two, sampler="sde", n_steps=60, w=3.0, label=0, dy=dy) for dy in (0.4, 0.2, 0.1)]
    assert np.max(np.abs(outs[1].ce - outs[2].ce)) < 1e-6
    assert abs(outs[1].overshoot - outs[2].overshoot) < 1e-6


def test_heun_chain_converges_to_the_flow_at_second_order(two):
    g = guided_law(two, sampler="ode", w=3.0, label=0)
    errs = [abs(sampler_law(two, sampler="ode", n_steps=n, w=3.0, label=0).overshoot - g.overshoot)
            for n in (50, 100, 200)]
    assert 3.0 < errs[0] / errs[1] < 5.0 and 3.0 < errs[1] / errs[2] < 5.0


def test_em_chain_converges_at_first_order(two):
    """Euler–Maruyama's weak error is O(1/N): overshoot differences halve as N doubles."""
    ov = [sampler_law(two, sampler="sde", n_steps=n, w=3.0, label=0).overshoot for n in (50, 100, 200)]
    r = (ov[0] - ov[1]) / (ov[1] - ov[2])
    assert 1.7 < r < 2.3


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["sde", "edm"])
def test_chain_law_matches_the_monte_carlo_sampler(two, sampler):
    """Full-d sampler (d = 64, 4000 samples, fixed seed) vs the exact discrete law: within 4 standard errors."""
    kw = {"n_steps": 40}
    exact = sampler_law(two, sampler=sampler, w=3.0, label=0, **kw)
    tr = simulate(two, sampler=sampler, n_samples=4000, key=1, label=0, guidance="cfg", w=3.0, record=False,
                  reduced=False, **kw)
    ov = overshoot(tr, two)
    assert abs(ov["mean"] - exact.overshoot) < 4 * ov["stderr"]


def test_bad_inputs(two):
    with pytest.raises(ValueError, match="2 classes"):
        sampler_law(build_preset("kclasses", K=3, d=16, mu=0.5).mixture)
    with pytest.raises(ValueError, match="sampler"):
        sampler_law(two, sampler="heun")
    with pytest.raises(ValueError, match="w"):
        guided_law(two, w=-1.0)
    with pytest.raises(ValueError, match="interval"):
        guided_law(two, interval=(2.0, 1.0))
    with pytest.raises(ValueError, match="label"):
        guided_law(two, label=2)
    diag = GaussianMixture(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([[1.0, 2.0], [3.0, 1.0]]),
                           np.array([0.5, 0.5]), cov_kind="class_diag")
    with pytest.raises(ValueError, match="does not reduce"):
        class_line(diag)
    tilted = GaussianMixture(np.array([[1.0, 1.0], [-1.0, 1.0]]), np.array([[2.0, 0.5], [0.5, 1.0]]),
                             np.array([0.5, 0.5]), cov_kind="shared_full")
    with pytest.raises(ValueError, match="eigenvector"):
        class_line(tilted)
    assert math.isfinite(class_line(two).lam)
