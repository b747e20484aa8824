"""The bridge's exact mixture model, samplers and entropy estimators, held against the jax core.

References are independent of the code under test: exact posteriors and denoisers from ``gmmtheory.posterior``
(jax), exact H[Z | X_σ] from ``gmmtheory.class_entropy`` (binary-channel quadrature or reduced Monte Carlo),
exact rates from ``gmmtheory.entropy_rate`` (closed form), binomial / Gaussian sampling errors from the mixture's
parameters. Monte Carlo comparisons use fixed seeds and |error| ≤ 4 standard errors, plus, where stated, a
discretisation allowance taken from the measured bias table (``tracker_bias_table``, reported in the bridge notes):

two_gaussians(d=16, mu=0.5), n = 2000, EDM ρ-grid, ancestral sampler (largest |bias| over σ, nats):
    steps            16       32       64       128      256
    paper kernel   −0.070   −0.034   −0.018   −0.008   −0.004     (halves with every doubling: O(1/N))
    sampler        +0.071   +0.037   +0.019   +0.005   +0.008±0.005
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import gmmtheory as gt  # noqa: E402
from gmmtheory.bridge.base import Measurement  # noqa: E402
from gmmtheory.bridge.estimators import (  # noqa: E402
    classifier_entropy,
    classifier_log_posterior,
    denoiser_gap,
    format_bias_table,
    tracker_bias_table,
    tracker_entropy,
    tracker_log_posteriors,
)
from gmmtheory.bridge.gmm import GMMDenoiser  # noqa: E402
from gmmtheory.bridge.sampling import edm_sigmas, sample  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch.func

K_SIGMA = 4.0
TWO = gt.two_gaussians(16, 0.5)  # |m| = 2: speciation around σ ≈ 2, well inside [0.002, 80]
KCL = gt.k_classes(3, 12, mu=0.6)  # |μ_k| ≈ 2.1, pairwise distance ≈ 2.9


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _random_mixture(kind: str, seed: int = 1) -> gt.GaussianMixture:
    import jax

    return gt.random_mixture(jax.random.PRNGKey(seed), K=4, d=5, cov_kind=kind, dirichlet=2.0)


# ================================================================================================ GMMDenoiser
@pytest.mark.parametrize("kind", gt.mixture.COV_KINDS)
@pytest.mark.slow
def test_gmm_denoiser_matches_jax_posterior(kind):
    mix = _random_mixture(kind)
    rng = np.random.default_rng(0)
    x = 3.0 * rng.normal(size=(7, 5))
    s = np.array([0.05, 0.5, 1.0, 2.0, 5.0, 10.0, 80.0])
    for part in (None, gt.Partition([[0, 2], [1], [3]])):
        model = GMMDenoiser(mix, part)
        xt, st = torch.tensor(x), torch.tensor(s)
        lp = model.log_posterior(xt, st).numpy()
        lp_ref = np.asarray(gt.log_class_posterior(mix, gt.EDM(), s, x, part))
        np.testing.assert_allclose(lp, lp_ref, atol=1e-10, rtol=0)
        np.testing.assert_allclose(model(xt, st, None).numpy(), np.asarray(gt.denoiser(mix, gt.EDM(), s, x)),
                                   atol=1e-10, rtol=0)
        M = model.num_classes
        lab = np.arange(7) % M
        np.testing.assert_allclose(model(xt, st, torch.tensor(lab)).numpy(),
                                   np.asarray(gt.denoiser(mix, gt.EDM(), s, x, lab, part)), atol=1e-10, rtol=0)
        # scalar σ and int label broadcast
        np.testing.assert_allclose(model(xt, 2.0, 1).numpy(),
                                   np.asarray(gt.denoiser(mix, gt.EDM(), 2.0, x, 1, part)), atol=1e-10, rtol=0)
        assert model.shape == (5,) and model.num_classes == (4 if part is None else 3)
        assert model.sigma_data == pytest.approx(math.sqrt(np.trace(mix.data_covariance()) / 5), rel=1e-12)


@pytest.mark.slow
def test_gmm_denoiser_float32_and_jvp():
    mix = _random_mixture("class_full")
    m64, m32 = GMMDenoiser(mix), GMMDenoiser(mix, dtype=torch.float32)
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    d32 = m32(x.float(), 1.5, None)
    assert d32.dtype == torch.float32
    np.testing.assert_allclose(d32.double().numpy(), m64(x, 1.5, None).numpy(), atol=1e-5)
    # Tweedie: ∂D_k/∂x = Σ_k (Σ_k + σ² I)⁻¹ for a single component (independent reference: dense linear algebra)
    v = torch.randn(6, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    _, jv = torch.func.jvp(lambda y: m64(y, 1.5, torch.tensor([2] * 6)), (x,), (v,))
    cov = mix.component_covariances()[2]
    J = cov @ np.linalg.inv(cov + 1.5**2 * np.eye(5))
    np.testing.assert_allclose(jv.numpy(), v.numpy() @ J.T, atol=1e-10)


def test_gmm_sample_matches_mixture():
    mix = gt.GaussianMixture(np.array([[3.0, 0.0], [-1.0, 2.0], [0.0, -2.0]]), np.array([0.5, 1.0, 2.0]),
                             weights=[0.2, 0.5, 0.3])
    model = GMMDenoiser(mix, gt.Partition([[0], [1, 2]]))
    n = 20000
    x, lab = model.sample(n, 5)
    freq = lab.double().mean().item()
    assert abs(freq - 0.8) <= K_SIGMA * math.sqrt(0.8 * 0.2 / n)
    mean = mix.weights @ mix.means
    cov = mix.data_covariance()
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(x.mean(0).numpy() - mean) <= K_SIGMA * se)
    # group-conditional draws stay in the group's components: component 0 alone for group 0
    x0, lab0 = model.sample(4000, 6, label=0)
    assert torch.all(lab0 == 0)
    assert np.all(np.abs(x0.mean(0).numpy() - mix.means[0]) <= K_SIGMA * math.sqrt(0.5 / 4000))
    # the noisy marginal has covariance Cov[X_0] + σ² I: check the per-coordinate variance (stderr of a variance
    # estimate from the sample's own fourth moments, since the mixture is not Gaussian)
    xs, _ = model.sample_marginal(n, 3.0, 7)
    var = np.diag(cov) + 9.0
    sq = (xs.numpy() - mean) ** 2
    assert np.all(np.abs(sq.mean(0) - var) <= K_SIGMA * sq.std(0, ddof=1) / math.sqrt(n))


# ================================================================================================== sampling
def test_edm_sigmas_is_the_edm_grid_with_a_final_zero():
    s = edm_sigmas(64)
    assert s.shape == (65,) and s[-1] == 0.0 and np.all(np.diff(s) < 0)
    np.testing.assert_allclose(s[:-1], gt.edm_sigma_grid(64), rtol=1e-14)
    assert s[0] == pytest.approx(80.0) and s[-2] == pytest.approx(0.002)
    np.testing.assert_array_equal(edm_sigmas(1), [80.0, 0.0])


def test_sampler_reproduces_class_frequencies_and_means():
    mix = gt.two_gaussians(16, 0.5, weights=[0.3, 0.7])
    model = GMMDenoiser(mix)
    n = 3000
    u = mix.means[0] / np.linalg.norm(mix.means[0])
    p0 = 0.3 * (1 - 0.0228) + 0.7 * 0.0228  # P(projection > 0): classes ±2 apart along u, Φ(−2) = 0.0228
    mean = 0.3 * 2.0 - 0.7 * 2.0  # E[projection]; Var = 1 + 4 − mean²
    sd = math.sqrt(5.0 - mean**2)
    # Allowances measured with n = 40000 (seed 3): the ancestral sampler at 128 steps is under-dispersed (it ignores
    # x_0's posterior spread), class frequency −0.0074 ± 0.0023, projection mean −0.014 ± 0.010, within-class
    # variance 8 % low; Heun at 64 steps: −0.0008 ± 0.0023 and +0.005 ± 0.010, variance within 0.6 %. Allowances
    # 0.01 / 0.02 (ancestral) and none (Heun).
    for stochastic, steps, a_freq, a_mean in ((True, 128, 0.01, 0.02), (False, 64, 0.0, 0.0)):
        x = sample(model, n, edm_sigmas(steps), stochastic=stochastic, generator=3, batch_size=1024).numpy()
        proj = x @ u
        assert abs((proj > 0).mean() - p0) <= K_SIGMA * math.sqrt(p0 * (1 - p0) / n) + a_freq, stochastic
        assert abs(proj.mean() - mean) <= K_SIGMA * sd / math.sqrt(n) + a_mean, stochastic
    perp = np.sum((x - proj[:, None] * u) ** 2, axis=1)  # Heun: |x_⊥|² has mean d − 1 = 15
    assert abs(perp.mean() - 15.0) <= K_SIGMA * perp.std(ddof=1) / math.sqrt(n)


def test_guidance_rules():
    model = GMMDenoiser(KCL)
    grid = edm_sigmas(16)
    lab = torch.tensor([1] * 64)
    cond = sample(model, lab, grid, generator=9, init="noise")
    same = sample(model, 64, grid, label=1, guidance=1.0, generator=9, init="noise")
    outside = sample(model, 64, grid, label=1, guidance=4.0, interval=(1000.0, 2000.0), generator=9, init="noise")
    torch.testing.assert_close(cond, same, rtol=0, atol=0)
    torch.testing.assert_close(cond, outside, rtol=0, atol=0)
    guided = sample(model, 64, grid, label=1, guidance=4.0, generator=9, init="noise")
    u = KCL.means[1] / np.linalg.norm(KCL.means[1])
    assert (guided.numpy() @ u).mean() > (cond.numpy() @ u).mean()  # guidance pushes along the class mean
    seen = []
    sample(model, 8, grid, label=1, guidance=2.0, interval=(0.5, 5.0), generator=1, stochastic=False,
           callback=lambda i, sc, sn, xc, xn, out: seen.append((i, sc, sn, "uncond" in out, "denoised_next" in out)))
    assert [s[0] for s in seen] == list(range(16))
    assert all(s[3] == (0.5 < s[1] < 5.0) for s in seen)
    assert all(s[4] == (s[2] > 0) for s in seen)


# =================================================================================================== tracker
@pytest.fixture(scope="module")
def two_exact_256():
    grid = edm_sigmas(256)
    return gt.class_entropy(TWO, gt.EDM(), grid[:-1])


def test_paper_tracker_matches_exact_entropy_at_256_steps(two_exact_256):
    model = GMMDenoiser(TWO)
    m = tracker_entropy(model, n_samples=1500, sigmas=edm_sigmas(256), generator=21)
    assert isinstance(m, Measurement) and m.method == "tracker" and np.all(np.diff(m.sigma) > 0)
    exact = np.asarray(two_exact_256.value)[::-1]
    # allowance 0.01 nats: at 256 steps the kernel bias is −0.004 and the sampler's +0.005 at most (module docstring)
    assert np.all(np.abs(m.value - exact) <= K_SIGMA * m.stderr + 0.01)
    assert m.value[-1] == pytest.approx(math.log(2), abs=1e-3)


@pytest.mark.slow
def test_corrected_tracker_with_posterior_sampler_matches_exact_entropy():
    model = GMMDenoiser(KCL)
    grid = edm_sigmas(48)
    m = tracker_entropy(model, n_samples=1000, sigmas=grid, corrected=True, generator=22)
    assert m.method == "tracker_corrected" and m.meta["sampler"] == "posterior"
    H = gt.class_entropy(KCL, gt.EDM(), m.sigma, n_samples=2**16, key=0)
    # no allowance beyond 0.003 nats: the corrected kernel and sampler are exact for isotropic classes, up to the
    # information already in x at σ_0 = 80 (I ≈ |μ − μ̄|²/(2σ_0²) ≈ 3e-4) and the exact value's own stderr
    se = np.sqrt(m.stderr**2 + np.asarray(H.stderr) ** 2)
    assert np.all(np.abs(m.value - np.asarray(H.value)) <= K_SIGMA * se + 0.003)


@pytest.mark.slow
def test_corrected_tracker_beats_paper_at_32_steps():
    model = GMMDenoiser(KCL)
    grid = edm_sigmas(32)
    res = tracker_log_posteriors(model, n_samples=1000, sigmas=grid, methods=("paper", "corrected"), generator=23)
    h_pt = _h(res["exact"])
    err_p = _h(res["log_post"]["paper"]) - h_pt  # kernel error of each tracker on the same trajectories
    err_c = _h(res["log_post"]["corrected"]) - h_pt
    w = _logsigma_weights(res["sigma"])
    bp, bc = err_p @ w, err_c @ w  # per-trajectory log-σ averaged errors
    diff = np.abs(err_p.mean(0)) @ w - np.abs(err_c.mean(0)) @ w
    se = (np.abs(bp) - np.abs(bc)).std(ddof=1) / math.sqrt(bp.size)
    assert bp.mean() < 0  # the paper's kernel is over-confident
    assert diff > K_SIGMA * max(se, (bp - bc).std(ddof=1) / math.sqrt(bp.size))
    assert np.abs(err_c.mean(0)).max() < 0.1 * np.abs(err_p.mean(0)).max()
    # total bias against the exact H, with the corrected tracker's own sampler, on new trajectories
    H = np.asarray(gt.class_entropy(KCL, gt.EDM(), res["sigma"], n_samples=2**17, key=0).value)
    paper_tot = _h(res["log_post"]["paper"]) - H
    post = tracker_log_posteriors(model, n_samples=1000, sigmas=grid, methods=("corrected",), sampler="posterior",
                                  generator=24)
    corr_tot = _h(post["log_post"]["corrected"]) - H
    a_p, a_c = np.abs(paper_tot.mean(0)) @ w, np.abs(corr_tot.mean(0)) @ w
    se_p = (paper_tot * np.sign(paper_tot.mean(0))) @ w
    se_c = (corr_tot * np.sign(corr_tot.mean(0))) @ w
    se_diff = math.sqrt(se_p.var(ddof=1) / se_p.size + se_c.var(ddof=1) / se_c.size)
    assert a_p - a_c > 2.0 * se_diff, (a_p, a_c, se_diff)


def _h(lp: np.ndarray) -> np.ndarray:
    p = np.exp(lp)
    return -np.sum(np.where(p > 0, p * np.where(np.isfinite(lp), lp, 0.0), 0.0), axis=-1)


def _logsigma_weights(sigma: np.ndarray) -> np.ndarray:
    ls = np.log(sigma)
    w = np.zeros_like(ls)
    w[:-1] += -np.diff(ls) / 2
    w[1:] += -np.diff(ls) / 2
    return w / w.sum()


@pytest.mark.slow
def test_tracker_subset_reference_and_partition_against_exact_posteriors():
    mix = gt.k_classes(3, 12, mu=0.6, weights=[0.2, 0.3, 0.5])
    model = GMMDenoiser(mix)
    grid = edm_sigmas(32)
    n = 400

    def mean_err(lp, exact):
        err = np.exp(lp[..., 0]) - np.exp(exact[..., 0])
        return err.mean(0), err.std(0, ddof=1) / math.sqrt(n)

    # one class against the unconditional model: categories {0, rest}, Bayes form p(0|x) = π_0 e^{ℓ_0 − ℓ_ref}.
    # The unconditional kernel is a mixture, which even the corrected tracker approximates by a Gaussian: allowance
    # 0.005 (largest error measured at 32–128 steps: 0.009 at 2.7 standard errors). The paper's kernel is worse.
    res = tracker_log_posteriors(model, n_samples=n, sigmas=grid, classes=[0], methods=("paper", "corrected"),
                                 generator=25)
    assert res["categories"] == ["0", "rest"] and res["exact"].shape == (n, 32, 2)
    m_c, se_c = mean_err(res["log_post"]["corrected"], res["exact"])
    m_p, _ = mean_err(res["log_post"]["paper"], res["exact"])
    assert np.all(np.abs(m_c) <= K_SIGMA * se_c + 0.005)
    assert np.abs(m_p).max() > np.abs(m_c).max()
    # class 1 against class 2 as reference: the posterior within {1, 2}; exact kernels for isotropic classes
    res = tracker_log_posteriors(model, n_samples=n, sigmas=grid, classes=[1], reference=2,
                                 methods=("corrected",), generator=26)
    assert res["categories"] == ["1", "2"]
    m_c, se_c = mean_err(res["log_post"]["corrected"], res["exact"])
    assert np.all(np.abs(m_c) <= K_SIGMA * se_c + 0.002)
    # a partition of the classes groups the posterior
    part = gt.Partition([[0, 1], [2]])
    m, lp = tracker_entropy(model, n_samples=n, sigmas=grid, partition=part, corrected=True, generator=27,
                            return_log_posterior=True)
    assert lp.shape == (n, 32, 2) and m.meta["categories"] == ["0", "1"]
    H = gt.class_entropy(mix, gt.EDM(), m.sigma, partition=part, n_samples=2**16, key=0)
    se = np.sqrt(m.stderr**2 + np.asarray(H.stderr) ** 2)
    assert np.all(np.abs(m.value - np.asarray(H.value)) <= K_SIGMA * se + 0.003)


def test_finite_difference_jvp_agrees_with_autograd():
    model = GMMDenoiser(_random_mixture("class_full"))
    kw = dict(n_samples=64, sigmas=edm_sigmas(12), methods=("corrected",), sampler="ancestral", exact=False)
    a = tracker_log_posteriors(model, jvp="autograd", generator=5, **kw)["log_post"]["corrected"]
    f = tracker_log_posteriors(model, jvp="finite", generator=5, **kw)["log_post"]["corrected"]
    np.testing.assert_allclose(np.exp(f), np.exp(a), atol=1e-5)


def test_bias_table_rows_and_markdown():
    rows = tracker_bias_table(TWO, steps=(8,), n_samples=64, exact_samples=2**12)
    assert [r["method"] for r in rows] == ["paper", "corrected", "sampler:ancestral", "corrected/posterior",
                                           "sampler:posterior"]
    for r in rows:
        assert r["steps"] == 8 and r["mean_abs"] >= 0 and r["mean_abs_se"] >= 0 and np.isfinite(r["max"])
    assert rows[0]["kernel_mean_abs"] > rows[1]["kernel_mean_abs"]  # paper's kernel error > corrected's
    text = format_bias_table(rows)
    assert text.count("\n") == len(rows) + 1 and "| 8 | paper |" in text


# ============================================================================================= denoiser gap
def test_denoiser_gap_rate_and_entropy_match_theory():
    model = GMMDenoiser(TWO)
    x0, lab = model.sample(1500, 31)
    sig = np.geomspace(0.05, 80.0, 64)
    rate, H = denoiser_gap(model, x0, lab, sig, generator=32)
    assert rate.quantity == "rate" and H.quantity == "entropy" and rate.method == "denoiser_gap"
    exact_rate = np.asarray(gt.entropy_rate(TWO, gt.EDM(), sig, wrt="log_sigma").value)  # closed form
    exact_h = np.asarray(gt.class_entropy(TWO, gt.EDM(), sig).value)  # quadrature
    assert np.all(np.abs(rate.value - exact_rate) <= K_SIGMA * rate.stderr)
    # allowance: the trapezoid rule on this grid, applied to the exact rate (≤ 3e-4 nats here)
    quad = _trapz_entropy(exact_rate, sig, math.log(2)) - exact_h
    assert np.abs(quad).max() < 1e-3
    assert np.all(np.abs(H.value - exact_h) <= K_SIGMA * H.stderr + np.abs(quad) + 1e-5)


def _trapz_entropy(rate: np.ndarray, sig: np.ndarray, h_top: float) -> np.ndarray:
    seg = 0.5 * (rate[1:] + rate[:-1]) * np.diff(np.log(sig))
    return h_top - rate[-1] / 2 - np.append(np.cumsum(seg[::-1])[::-1], 0.0)


def test_denoiser_gap_subset_uses_the_sub_mixture():
    model = GMMDenoiser(KCL)
    x0, lab = model.sample(1200, 33, label=torch.tensor([0, 2] * 600))
    sig = np.geomspace(0.05, 80.0, 48)
    rate, H = denoiser_gap(model, x0, lab, sig, classes=[0, 2], generator=34)
    sub = gt.GaussianMixture(KCL.means[[0, 2]], 1.0)
    exact_rate = np.asarray(gt.entropy_rate(sub, gt.EDM(), sig, wrt="log_sigma").value)
    exact_h = np.asarray(gt.class_entropy(sub, gt.EDM(), sig).value)
    quad = _trapz_entropy(exact_rate, sig, math.log(2)) - exact_h
    assert np.all(np.abs(rate.value - exact_rate) <= K_SIGMA * rate.stderr)
    assert np.all(np.abs(H.value - exact_h) <= K_SIGMA * H.stderr + np.abs(quad) + 1e-5)


# ============================================================================================ classifier
def test_classifier_is_exact_for_shared_covariance():
    mix = _random_mixture("shared_full")
    model = GMMDenoiser(mix)
    x, _ = model.sample_marginal(50, 0.7, 41)
    S = [0, 2, 3]
    lp = classifier_log_posterior(model, x, 0.7, S, n_levels=24, generator=42)
    exact = model.log_posterior(x, 0.7)[:, S] - torch.log(torch.tensor(model.weights[S]))
    exact = torch.log_softmax(exact + torch.log(torch.tensor(model.weights[S] / model.weights[S].sum())), -1)
    # with a shared covariance the class differences of the integrand do not depend on ε (D_z − D_z' is constant
    # in y and antithetic pairs cancel the odd terms): only Gauss–Legendre error (< 1e-7 from 24 nodes on) and the
    # Gaussian prior term at s_T = 80 (class-dependent error O(λ |x − μ|²/s_T⁴) ≈ 1e-6) remain
    np.testing.assert_allclose(lp.numpy(), exact.numpy(), atol=1e-5)


def test_classifier_is_unbiased_for_per_class_covariances():
    mix = _random_mixture("class_iso", seed=2)
    model = GMMDenoiser(mix)
    x, _ = model.sample_marginal(10, 0.5, 43)
    reps = 60
    S = [0, 1, 3]
    lp = classifier_log_posterior(model, x.repeat(reps, 1), 0.5, S, n_levels=24, generator=44)
    exact = model.log_posterior(x, 0.5)[:, S]
    err = (lp - lp[:, :1]).reshape(reps, 10, 3)[..., 1:] - (exact - exact[:, :1])[None, :, 1:]
    mean, se = err.mean(0), err.std(0) / math.sqrt(reps)
    assert torch.all(mean.abs() <= K_SIGMA * se + 0.005)


@pytest.mark.slow
def test_classifier_entropy_matches_sub_mixture():
    mix = gt.k_classes(3, 12, mu=0.6, weights=[0.25, 0.25, 0.5])
    model = GMMDenoiser(mix)
    S = [0, 2]
    x0, lab = model.sample(800, 45, label=torch.tensor([0, 2] * 400))
    sig = np.array([0.5, 1.5, 3.0, 8.0])
    m = classifier_entropy(model, x0, lab, sig, S, n_levels=16, generator=46)
    assert m.method == "classifier" and m.meta["classes"] == S
    # the data hold classes 0 and 2 equally often; the classifier's prior (model weights restricted) is 1/3, 2/3,
    # so compare with the exact sub-mixture posterior under that prior, averaged over the same x (reference below)
    sub_w = np.array([1 / 3, 2 / 3])
    eps = torch.randn(x0.shape, generator=_gen(46), dtype=torch.float64)
    h_ref = []
    for s in sig:
        x = x0 + s * eps
        sub = gt.GaussianMixture(mix.means[S], 1.0, weights=sub_w)
        lp = np.asarray(gt.log_class_posterior(sub, gt.EDM(), float(s), x.numpy()))
        h_ref.append(_h(lp).mean())
    assert np.all(np.abs(m.value - np.array(h_ref)) <= 1e-5)  # exact up to the prior term (previous test)
    # and with the prior of the data, against gmmtheory's exact H of the equal-weight sub-mixture
    m2 = classifier_entropy(model, x0, lab, sig, S, prior=[0.5, 0.0, 0.5], n_levels=16, generator=47)
    H = np.asarray(gt.class_entropy(gt.GaussianMixture(mix.means[S], 1.0), gt.EDM(), sig).value)
    assert np.all(np.abs(m2.value - H) <= K_SIGMA * m2.stderr)


def _gen(seed: int):
    return torch.Generator().manual_seed(seed)


# ============================================================================================== bad inputs
def test_bad_inputs_raise_clear_errors():
    model = GMMDenoiser(KCL)
    x0, lab = model.sample(8, 0)
    grid = edm_sigmas(8)
    cases = [
        (lambda: GMMDenoiser("mixture"), "mixture"),
        (lambda: GMMDenoiser(KCL, gt.Partition([[0, 1]])), "partition"),
        (lambda: GMMDenoiser(KCL, sigma_min=5.0, sigma_max=1.0), "sigma_min"),
        (lambda: model(torch.zeros(3, 5), 1.0, None), "x must have shape"),
        (lambda: model(torch.zeros(3, 12), 0.0, None), "sigma"),
        (lambda: model(torch.zeros(3, 12), 1.0, 3), "label"),
        (lambda: model.sample(0), "n"),
        (lambda: edm_sigmas(0), "n_steps"),
        (lambda: edm_sigmas(8, sigma_min=100.0), "sigma_min"),
        (lambda: sample(model, 4, [1.0, 2.0]), "decreasing"),
        (lambda: sample(model, 4, [1.0]), "at least 2"),
        (lambda: sample(model, 4, grid, guidance=2.0), "label"),
        (lambda: sample(model, 4, grid, label=1, guidance=2.0, interval=(3.0, 1.0)), "interval"),
        (lambda: sample(model, 4, grid, label=7), "label"),
        (lambda: sample(model, 4, grid, solver="rk4"), "solver"),
        (lambda: sample(model, 4, grid, init="zeros"), "init"),
        (lambda: sample(model, 4, grid, generator="seed"), "generator"),
        (lambda: tracker_entropy(model, n_samples=1, sigmas=grid), "n_samples"),
        (lambda: tracker_entropy(model, n_samples=8, sigmas=grid[::-1]), "decreasing"),
        (lambda: tracker_entropy(model, n_samples=8, sigmas=grid, classes=[0, 5]), "classes"),
        (lambda: tracker_entropy(model, n_samples=8, sigmas=grid, classes=[0, 0]), "classes"),
        (lambda: tracker_entropy(model, n_samples=8, sigmas=grid, reference="uncond"), "reference"),
        (lambda: tracker_entropy(model, n_samples=8, sigmas=grid, reference=9), "reference"),
        (lambda: tracker_entropy(model, n_samples=8, sigmas=grid, prior=[0.5, 0.5]), "prior"),
        (lambda: tracker_entropy(model, n_samples=8, sigmas=grid, jvp="fd", corrected=True), "jvp"),
        (lambda: tracker_entropy(model, n_samples=8, sigmas=grid, classes=[0], sampler="posterior",
                                 corrected=True), "sampler"),
        (lambda: tracker_entropy(model, n_samples=8, sigmas=grid, classes=[0],
                                 partition=gt.Partition([[0, 1], [2]])), "partition"),
        (lambda: tracker_bias_table(model, steps=(8,)), "mixture"),
        (lambda: denoiser_gap(model, x0, lab, [1.0, -1.0]), "sigmas"),
        (lambda: denoiser_gap(model, x0, lab, [1.0, 1.0]), "sigmas"),
        (lambda: denoiser_gap(model, x0[:, :3], lab, [1.0]), "x0"),
        (lambda: denoiser_gap(model, x0, lab[:3], [1.0]), "labels"),
        (lambda: denoiser_gap(model, x0, lab, [1.0], n_noise=0), "n_noise"),
        (lambda: denoiser_gap(model, x0, torch.zeros(8, dtype=torch.long) + 2, [1.0], classes=[0, 1]), "labels"),
        (lambda: classifier_log_posterior(model, x0, 1.0, [0]), "classes"),
        (lambda: classifier_log_posterior(model, x0, -1.0, [0, 1]), "sigma"),
        (lambda: classifier_log_posterior(model, x0, 100.0, [0, 1]), "s_max"),
        (lambda: classifier_log_posterior(model, x0, 1.0, [0, 1], n_levels=1), "n_levels"),
        (lambda: classifier_entropy(model, x0, lab, [1.0], [0, 1]), "labels"),
    ]
    for fn, match in cases:
        with pytest.raises(ValueError, match=match):
            fn()
