"""Speciation landmarks against published numbers (docs/theory.md §6, §9; Biroli et al. Table 1) and independent
references."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

import gmmtheory as gt
import gmmtheory.landmarks as L

SQRT_LOG2 = 0.5 * math.log(2.0)


# ------------------------------------------------------------------------------------ independent binary reference
def _mmse_and_slope(s: float, n: int = 150) -> tuple[float, float]:
    """Equal-weight BPSK: mmse(s) = 1 − E tanh(s + √s ξ), mmse'(s) = −E[(1 − tanh²)²] (Guo–Wu–Shamai–Verdú)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    th = np.tanh(s + math.sqrt(s) * x)
    return float(1.0 - w @ th), float(-(w @ (1.0 - th**2) ** 2))


@pytest.fixture(scope="module")
def s_star() -> float:
    """argmax s·mmse(s): root of mmse(s) + s mmse'(s) = 0 (independent numpy quadrature)."""
    def f(s):
        m, dm = _mmse_and_slope(s)
        return m + s * dm

    return optimize.brentq(f, 1.0, 2.5, xtol=1e-14)


def test_binary_constants_match_theory(s_star):
    c = L.binary_snr_landmarks()
    assert c["s_peak_ou"] == pytest.approx(1.5083, abs=5e-5)
    assert c["s_peak_ou"] == pytest.approx(s_star, abs=2e-6)
    assert c["h_at_peak_ou"] == pytest.approx(0.2599, abs=5e-5)
    assert c["t_peak_offset_ou"] == pytest.approx(-0.2055, abs=5e-5)
    assert c["fwhm_ou"] == pytest.approx(1.31, abs=5e-3)
    assert c["s_half"] == pytest.approx(1.044, abs=5e-4)
    assert c["s_peak_edm"] == pytest.approx(2.41, abs=5e-3)
    assert c["fwhm_factor_edm"] == pytest.approx(2.86, abs=5e-3)


@pytest.fixture(scope="module")
def binary_ou():
    return {d: L.all_landmarks(gt.two_gaussians(d), gt.OU()) for d in (100, 10**6)}


def test_binary_ou_peak_exact_and_fwhm_constant(binary_ou, s_star):
    # unit variance, OU: s = |m|² e^{−2t} exactly, so the peak of dH/dt is at ½ log(d/s*) for every d
    for d, lm in binary_ou.items():
        c = lm.entropy["classes"]
        assert c.peak_t == pytest.approx(0.5 * math.log(d / s_star), abs=1e-6)
        assert c.fwhm_t == pytest.approx(1.3108770721542604, abs=1e-6)
        assert c.half_t == pytest.approx(0.5 * math.log(d / 1.044013315452508), abs=1e-6)
        assert c.peak_t_err == 0.0 and c.method == "closed_form"
        # H at the peak (independent: the entropy engine at that time)
        h = float(gt.class_entropy(gt.two_gaussians(d), gt.OU(), c.peak_t).value)
        assert h == pytest.approx(0.2599, abs=5e-5)
        # the 10–90 % window brackets the half-entropy time
        assert c.h10_t < c.half_t < c.h90_t
    big = binary_ou[10**6]
    assert big.t_speciation - big.entropy["classes"].peak_t == pytest.approx(0.2055, abs=1e-4)
    assert big.t_instability - big.t_speciation == pytest.approx(SQRT_LOG2, abs=1e-5)


def test_binary_edm_peak_and_fwhm_factor():
    d = 10**6
    lm = L.all_landmarks(gt.two_gaussians(d), gt.EDM())
    c = lm.entropy["classes"]
    assert d / c.peak_t**2 == pytest.approx(2.41, abs=0.01)  # s ≈ |m|²/σ² at large d
    assert c.fwhm_t_hi / c.fwhm_t_lo == pytest.approx(2.86, abs=0.01)
    # log-σ and λ peaks coincide in EDM (λ = −2 log σ)
    assert c.peak_log_sigma == pytest.approx(-0.5 * c.peak_log_snr, abs=1e-6)


# ---------------------------------------------------------------------------------------- spectral speciation
@pytest.mark.parametrize("cov_kind,d", [("shared_iso", 20), ("class_iso", 20), ("class_diag", 20),
                                        ("class_diag", 600), ("shared_full", 15), ("class_full", 10)])
def test_top_eigenvalue_matches_dense(cov_kind, d):
    mix = gt.random_mixture(jax.random.PRNGKey(3), 3, d, cov_kind, mean_scale=1.5, dirichlet=2.0)
    ref = np.linalg.eigvalsh(mix.data_covariance())[-1]
    assert L.top_eigenvalue(mix) == pytest.approx(ref, rel=1e-9)
    assert L.speciation_time(mix) == pytest.approx(0.5 * math.log(ref), rel=1e-9)


@pytest.mark.parametrize("lam,t_s,step", [(7.66, 1.018, 446), (16.72, 1.408, 526), (60.52, 2.052, 635)])
def test_biroli_table1(lam, t_s, step):
    m = math.sqrt(lam - 1.0)  # d = 1, unit variance: Λ = 1 + m²
    mix = gt.GaussianMixture(np.array([[m], [-m]]), 1.0)
    assert L.speciation_time(mix) == pytest.approx(t_s, abs=1e-3)  # table rounds
    ddpm = gt.VP.ddpm_linear()
    t = L.speciation_time(mix, ddpm)
    assert math.ceil(t) == step == ddpm.first_step_below(1.0 / lam)


# ------------------------------------------------------------------------------------- bimodality, instability
def test_bimodality_and_instability_snr():
    mix = gt.two_gaussians(50, mu=0.7)
    for proc in (gt.OU(), gt.VP(), gt.EDM(), gt.Flow()):
        tb, ti = L.bimodality_time(mix, proc), L.instability_time(mix, proc)
        assert float(gt.binary_snr(mix, proc, tb)) == pytest.approx(1.0, rel=1e-9)
        assert float(gt.binary_snr(mix, proc, ti)) == pytest.approx(0.5, rel=1e-9)  # unit variance, VP dynamics
    # VE/EDM's own reverse SDE has f = 0: its instability criterion is the bimodality point s = 1
    assert L.instability_time(mix, gt.EDM(), dynamics="native") == pytest.approx(L.bimodality_time(mix, gt.EDM()),
                                                                                 rel=1e-7)
    # a VP process's own dynamics is a time change of OU: same point
    vp = gt.VP()
    assert L.instability_time(mix, vp, dynamics="native") == pytest.approx(L.instability_time(mix, vp), rel=1e-6)


@pytest.mark.slow
def test_instability_is_a_zero_eigenvalue_of_the_reverse_drift_jacobian():
    """Independent check: J = −f I + g² ∇² log p_t at the centre, by autodiff of the exact log-density."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    sigma = A @ A.T / 4 + 0.3 * np.eye(4)
    m = np.array([1.5, -0.5, 0.8, 0.2])
    mix = gt.GaussianMixture(np.stack([m, -m]), sigma)
    ou = gt.OU()
    t = L.instability_time(mix, ou)
    hess = jax.hessian(lambda x: gt.log_density(mix, ou, t, x))(jnp.zeros(4))
    J = 1.0 * np.eye(4) + 2.0 * np.asarray(hess)  # OU: f = −1, g² = 2
    assert np.max(np.linalg.eigvalsh(J)) == pytest.approx(0.0, abs=1e-8)
    hess2 = jax.hessian(lambda x: gt.log_density(mix, ou, t * 1.05, x))(jnp.zeros(4))
    assert np.max(np.linalg.eigvalsh(np.eye(4) + 2.0 * np.asarray(hess2))) < 0  # stable just before (larger t)


def test_landmarks_agree_at_equal_snr():
    mix = gt.two_gaussians(200, mu=0.5)
    ou, vp = gt.OU(), gt.VP()
    a, b = L.all_landmarks(mix, ou), L.all_landmarks(mix, vp)
    ca, cb = a.entropy["classes"], b.entropy["classes"]
    for name in ("half", "h10", "h90"):
        assert getattr(ca, f"{name}_log_snr") == pytest.approx(getattr(cb, f"{name}_log_snr"), abs=1e-8)
        t_map = float(ou.convert(getattr(ca, f"{name}_t"), vp))
        assert getattr(cb, f"{name}_t") == pytest.approx(t_map, abs=1e-8)
    assert ca.peak_log_snr == pytest.approx(cb.peak_log_snr, abs=1e-6)  # λ-rate peak is process independent
    for f in ("t_speciation", "t_bimodality", "t_instability"):
        assert getattr(b, f) == pytest.approx(float(ou.convert(getattr(a, f), vp)), abs=1e-8)
    d = a.as_dict()
    assert d["classes.peak_t"] == ca.peak_t and "t_speciation" in d


# ---------------------------------------------------------------------------------------------------- hierarchy
@pytest.mark.slow
def test_hierarchy_coarse_speciates_first():
    d = 10**4
    h = gt.hierarchical(2, 2, d, 1.0, 0.1)  # means ±u ± v, |u|² = d, |v|² = d/100
    sub = gt.Partition([[0, 2], [1, 3]])
    lm = L.all_landmarks(h.mixture, gt.OU(), partitions={"coarse": h.coarse, "sub": sub}, n_samples=2**12, n_grid=81)
    co, su, fi = lm.entropy["coarse"], lm.entropy["sub"], lm.entropy["classes"]
    assert co.peak_t > su.peak_t and co.half_t > fi.half_t > su.half_t
    gap = 0.5 * math.log(100.0)
    assert co.peak_t - su.peak_t == pytest.approx(gap, abs=max(0.05, 2 * math.hypot(co.peak_t_err, su.peak_t_err)))
    # each level is an exact binary decision in the factorised model: compare with the closed form
    assert co.half_t == pytest.approx(0.5 * math.log(d / 1.044013315452508), abs=0.02)
    assert co.fwhm_t == pytest.approx(1.3109, abs=0.05)
    assert co.half_t_err > 0 and co.grid_step_log_snr > 0


# ----------------------------------------------------------------------------------------- covariance-only classes
@pytest.mark.slow
def test_covariance_only_exact_matches_reduced_monte_carlo():
    mix = gt.GaussianMixture(np.zeros((2, 40)), np.array([1.5, 0.5]))
    t = np.linspace(0.1, 1.5, 6)
    exact = L.covariance_only_entropy(mix, gt.OU(), t).value
    mc = gt.class_entropy(mix, gt.OU(), t, method="reduced", n_samples=2**15)
    assert np.all(np.abs(exact - mc.value) < 5 * mc.stderr + 1e-6)


@pytest.mark.slow
def test_covariance_only_speciation_scales_as_quarter_log_d():
    a = 0.5
    half = {}
    for d in (10**3, 10**5, 10**7):
        mix = gt.GaussianMixture(np.zeros((2, d)), np.array([1 + a, 1 - a]))
        lm = L.all_landmarks(mix, gt.OU())
        assert lm.t_covariance_speciation == pytest.approx(0.25 * math.log(a * a * d))
        half[d] = lm.entropy["classes"].half_t
    assert half[10**5] - half[10**3] == pytest.approx(0.25 * math.log(100), abs=0.01)
    assert half[10**7] - half[10**5] == pytest.approx(0.25 * math.log(100), abs=0.002)


# ------------------------------------------------------------------------------------------------------- collapse
def test_collapse_time_theory_numbers():
    for d, ref in ((256, 1.2988), (1024, 1.9775), (4096, 2.6671)):
        assert L.collapse_time_theory(20000, d) == pytest.approx(ref, abs=5e-5)
        assert L.collapse_time_theory(20000, eigenvalues=np.ones(d)) == pytest.approx(ref, abs=5e-5)


@pytest.mark.slow
def test_index_entropy_matches_engine_and_collapse_time():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(12, 6))
    t = np.array([0.05, 0.2, 0.6])
    mine = L.index_entropy(pts, gt.OU(), t, n_samples=4096, key=2)
    ref = gt.class_entropy(gt.empirical(pts), gt.OU(), t, n_samples=2**14, key=3)
    assert np.all(np.abs(mine.value - ref.value) < 4 * np.hypot(mine.stderr, ref.stderr) + 1e-9)
    # collapse of P = 1500 unit-variance points in d = 24: empirical (H = 1 nat) vs the Gaussian prediction
    P, d = 1500, 24
    pts = rng.normal(size=(P, d))
    t_c, err = L.collapse_time(gt.empirical(pts), n_samples=512, key=0)
    theory = L.collapse_time_theory(P, d)
    assert abs(t_c - theory) < 0.1 * theory and err < 0.05


def test_records_process_names_and_curves():
    lm = L.all_landmarks(gt.two_gaussians(64), "ou")
    assert lm.t_speciation == pytest.approx(L.speciation_time(gt.two_gaussians(64), gt.OU()))
    same = L.all_landmarks(gt.two_gaussians(64), gt.OU()).as_dict()
    assert list(lm.as_dict()) == list(same)
    np.testing.assert_array_equal([v for v in lm.as_dict().values() if isinstance(v, float)],
                                  [v for v in same.values() if isinstance(v, float)])
    assert repr(lm).startswith("Landmarks(process='OU()', K=2, d=64,") and "entropy=['classes']" in repr(lm)
    c = lm.entropy["classes"]
    assert repr(c).startswith("CurveLandmarks(label='classes', method='closed_form'") and len(repr(c)) < 300
    assert c.as_dict()["peak_t"] == c.peak_t
    assert L.speciation_time(gt.two_gaussians(64), "edm") == pytest.approx(
        L.speciation_time(gt.two_gaussians(64), gt.EDM()))
    curves = L.entropy_curves(gt.two_gaussians(64), {})
    assert [k.label for k in curves] == ["classes"] and curves[0].exact
    assert repr(L.curve_landmarks(curves[0], gt.OU()).as_dict()) == repr(c.as_dict())
    assert set(L.VARIABLES) == {"t", "log_sigma", "log_snr"}
