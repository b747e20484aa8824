"""The continuous guided reverse SDE by its Fokker–Planck equation: against closed forms, the exact discrete EM laws,
the Richardson engine and its own grid/tolerance refinement."""

import math

import numpy as np
import pytest

from gmmtheory.entropy.api import class_entropy
from gmmtheory.guided_law import class_line, guided_law, sampler_law
from gmmtheory.guided_law.coordinates import guided_denoiser
from gmmtheory.guided_law.fokker_planck import fp_drift, sde_law_fp
from gmmtheory.presets import build_preset
from gmmtheory.processes import OU


@pytest.fixture(scope="module")
def two():
    return build_preset("two", d=64, mu=0.5).mixture


@pytest.fixture(scope="module")
def fp_w3(two):
    return sde_law_fp(two, w=3.0, label=0)


@pytest.mark.parametrize("z", [0, 1])
@pytest.mark.parametrize("w_eff", [0.0, 1.0, 3.0])
def test_drift_is_the_guided_score_in_the_moving_frame(two, z, w_eff):
    """β(ξ) = r (D(y) − y)/s + ξ/2 with y = m_z + rξ, r = √(λ + s) (Itô for ξ = (y − m_z)/r, θ = log((λ+s_T)/(λ+s)))
    against ``coordinates.guided_denoiser``; β' against a central difference."""
    line = class_line(two)
    for s in (0.3, 4.0, 250.0):
        r = math.sqrt(line.lam + s)
        kap = float(line.means[1] - line.means[0]) / r
        xi = np.linspace(-6.0, 6.0, 41)
        y = line.means[z] + r * xi
        ref = r * (guided_denoiser(line, y, 1.0, s, w_eff, z) - y) / s + 0.5 * xi
        beta, dbeta = fp_drift(line, xi, kap, w_eff, z)
        np.testing.assert_allclose(beta, ref, rtol=1e-12, atol=1e-12)
        e = 1e-5
        fd = (fp_drift(line, xi + e, kap, w_eff, z)[0] - fp_drift(line, xi - e, kap, w_eff, z)[0]) / (2 * e)
        np.testing.assert_allclose(dbeta, fd, rtol=1e-6, atol=1e-6)


def test_w1_prior_is_the_marginal_class_entropy(two):
    """w = 1 is the conditional reverse SDE: from p_T(·|z) its law is p_t(·|z), so CE(σ) = H[Z | X_t] (quadrature,
    ``entropy.api.class_entropy``) at every reported σ, σ̃_T and 0 included; overshoot 0, frequencies π."""
    g = sde_law_fp(two, w=1.0, label="prior", error_check=False)
    H = np.asarray(class_entropy(two, OU(), 0.5 * np.log1p(g.sigma**2)).value)
    assert np.max(np.abs(g.ce - H)) < 1e-6
    assert np.max(np.abs(g.entropy - H)) < 1e-6
    assert abs(g.overshoot) < 1e-8
    np.testing.assert_allclose(g.freq, [0.5, 0.5], atol=1e-9)
    assert g.settings["edge"] < 1e-20


@pytest.mark.slow
def test_grid_and_tolerance_refinement(two, fp_w3):
    """Halving the spacing (n_grid 10 → 20) and rtol 1e-10 → 1e-11 changes CE and the overshoot by < 1e-6."""
    fine = sde_law_fp(two, w=3.0, label=0, n_grid=20.0, rtol=1e-11, error_check=False)
    assert np.max(np.abs(fine.ce - fp_w3.ce)) < 1e-6
    assert abs(fine.overshoot - fp_w3.overshoot) < 1e-6
    assert fp_w3.error < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("interval", [None, (0.5, 5.0)])
def test_exact_em_law_converges_to_it_at_first_order(two, fp_w3, interval):
    """Exact Euler–Maruyama laws (``sampler_law``, OU, T = 10, the same σ̃_T as the default grid) approach the
    Fokker–Planck law with error ∝ 1/N: the overshoot and var_ratio errors halve per doubling of N."""
    fp = fp_w3 if interval is None else sde_law_fp(two, w=3.0, label=0, interval=interval, error_check=False)
    errs = []
    for n in (100, 200, 400):
        em = sampler_law(two, sampler="sde", n_steps=n, w=3.0, label=0, interval=interval)
        assert em.sigma[0] == pytest.approx(fp.sigma[0]) and em.sigma[-1] == 0.0
        errs.append((em.overshoot - fp.overshoot, em.var_ratio - fp.var_ratio))
    errs = np.array(errs)
    ratios = errs[:-1] / errs[1:]
    assert np.all((ratios > 1.7) & (ratios < 2.3)), ratios
    assert np.all(np.abs(errs[-1]) < 0.03)


@pytest.mark.slow
@pytest.mark.parametrize("interval", [None, (0.3, 1.5)])
def test_agrees_with_the_richardson_engine_within_its_error(two, interval):
    """``guided_law(sampler="sde", engine="richardson")`` (Richardson extrapolation of exact EM laws, m = 4) on a
    short grid: CE within its reported error estimate (an independent method)."""
    sig = np.geomspace(3.0, 0.05, 13)
    ref = guided_law(two, sampler="sde", engine="richardson", w=3.0, label=0, sigmas=sig, m=4, interval=interval)
    fp = sde_law_fp(two, w=3.0, label=0, sigmas=sig, interval=interval)
    assert np.max(np.abs(fp.ce - ref.ce)) <= ref.error
    assert fp.error < 1e-6


def test_guided_law_sde_runs_the_fokker_planck_engine(two):
    """``guided_law(sampler="sde")`` is ``sde_law_fp`` (the default engine): the same curves and statistics."""
    sig = np.geomspace(3.0, 0.05, 7)
    a = guided_law(two, sampler="sde", w=3.0, label=0, sigmas=sig, interval=(0.3, 1.5))
    b = sde_law_fp(two, w=3.0, label=0, sigmas=sig, interval=(0.3, 1.5))
    assert a.settings["engine"] == "fokker_planck"
    np.testing.assert_array_equal(a.ce, b.ce)
    assert (a.overshoot, a.var_ratio, a.error) == (b.overshoot, b.var_ratio, b.error)
    with pytest.raises(ValueError, match="engine"):
        guided_law(two, sampler="sde", engine="euler")


def test_bad_inputs(two):
    with pytest.raises(ValueError, match="w"):
        sde_law_fp(two, w=-1.0)
    with pytest.raises(ValueError, match="interval"):
        sde_law_fp(two, interval=(2.0, 1.0))
    with pytest.raises(ValueError, match="label"):
        sde_law_fp(two, label=2)
    with pytest.raises(ValueError, match="label"):
        sde_law_fp(two, label=True)
    with pytest.raises(ValueError, match="n_grid"):
        sde_law_fp(two, n_grid=2.0)
    with pytest.raises(ValueError, match="rtol"):
        sde_law_fp(two, rtol=0.1)
    with pytest.raises(ValueError, match="order"):
        sde_law_fp(two, order=7)
    with pytest.raises(ValueError, match="sigmas"):
        sde_law_fp(two, sigmas=[1.0, 2.0])
    with pytest.raises(ValueError, match="2 classes"):
        sde_law_fp(build_preset("kclasses", K=3, d=16, mu=0.5).mixture)
