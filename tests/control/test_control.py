"""Tests for gmmtheory.control (semantic windows, guidance intervals, fronts, entropy schedules) and the torch side
gmmtheory.bridge.control. References are independent: closed forms (logistic window), scipy adaptive quadrature of
the binary channel with a scipy root/minimise search, exact theory (Bayes accuracy, collision probability), and
the jax sampler against the torch sampler."""

from __future__ import annotations

import argparse
import json
import math
from types import SimpleNamespace

import jax
import numpy as np
import pytest
from scipy import integrate, optimize, stats

import gmmtheory as gt
from gmmtheory import control as C
from gmmtheory import dynamics as dyn
from gmmtheory.cli.control import add_parser
from gmmtheory.report.control import section_control
from gmmtheory.studies.control import SMOKE


# ------------------------------------------------------------------------------------------------ references
def binary_H(s: float) -> float:
    """H of two equiprobable classes at effective SNR s: E log(1 + e^{−L}), L ~ N(2s, 4s) (scipy adaptive quad)."""
    if s <= 0:
        return math.log(2.0)

    def f(z):
        return stats.norm.pdf(z) * np.logaddexp(0.0, -(2 * s + 2 * math.sqrt(s) * z))

    return integrate.quad(f, -12, 12, epsabs=1e-13, epsrel=1e-12, limit=200)[0]


def logistic_curve(u: np.ndarray, c: float = 0.3, w: float = 0.7) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(u - c) / w))


# ==================================================================================================== windows
def test_window_of_logistic_curve_matches_closed_form():
    # H(u) logistic in u = log σ: the shortest interval holding f of a symmetric unimodal density is
    # c ± w log((1+f)/(1−f)).
    # On a grid of step h the linear interpolant puts the ends within O(h) of the optimum and the width within O(h²).
    u = np.linspace(-14, 14, 4001)
    h = u[1] - u[0]
    for f in (0.5, 0.8, 0.95):
        win = C.semantic_window(np.exp(u), 0.7 * logistic_curve(u), fraction=f)
        a = 0.7 * math.log((1 + f) / (1 - f))
        assert math.log(win.sigma_lo) == pytest.approx(0.3 - a, abs=h)
        assert math.log(win.sigma_hi) == pytest.approx(0.3 + a, abs=h)
        assert win.log_width == pytest.approx(2 * a, abs=10 * h**2)
        assert win.held == pytest.approx(f, abs=1e-9)
        assert win.method == "exact" and math.isnan(win.log_lo_se)


@pytest.mark.slow
def test_window_of_binary_channel_matches_scipy_search():
    # asymmetric curve: H of two Gaussians (|m|² = 16) against σ; reference: adaptive quadrature + brentq + minimise
    m2, f = 16.0, 0.8
    lo_u, hi_u = math.log(1e-2), math.log(1e3)

    def H(u):
        return binary_H(m2 / (1.0 + math.exp(2 * u)))

    h_lo, h_hi = H(lo_u), H(hi_u)

    def F(u):
        return (H(u) - h_lo) / (h_hi - h_lo)

    def width(a):
        target = F(a) + f
        if target >= 1.0:
            return 1e3
        return optimize.brentq(lambda b: F(b) - target, a, hi_u, xtol=1e-12) - a

    res = optimize.minimize_scalar(width, bounds=(lo_u, hi_u - 1.0), method="bounded", options={"xatol": 1e-8})
    ref_lo, ref_hi = res.x, res.x + res.fun
    sig = np.geomspace(1e-2, 1e3, 2001)
    curve = gt.class_entropy(gt.two_gaussians(16, 1.0), gt.EDM(), sig)
    win = C.semantic_window(sig, curve.value, fraction=f)
    h = math.log(sig[1] / sig[0])  # ends within one grid step, width within O(h²)
    assert math.log(win.sigma_lo) == pytest.approx(ref_lo, abs=h)
    assert math.log(win.sigma_hi) == pytest.approx(ref_hi, abs=h)
    assert win.log_width == pytest.approx(ref_hi - ref_lo, abs=10 * h**2)
    assert win.sigma_lo < 4.0 < win.sigma_hi  # the binary half-entropy point s = 1.044 ↔ σ ≈ 3.8 lies inside


def test_noisy_window_bootstrap_is_calibrated():
    # independent noise of known stderr: the bootstrap stderr matches the spread over replicates; no bias beyond it
    u = np.linspace(-6, 6, 97)
    h = logistic_curve(u)
    se = np.full(u.size, 0.01)
    a = 0.7 * math.log(9.0)
    rng = np.random.default_rng(1)
    lo, hi, blo, bhi = [], [], [], []
    for r in range(60):
        hn = h + se * rng.standard_normal(u.size)
        w = C.semantic_window(np.exp(u), hn, stderr=se, n_boot=60, seed=r)
        s_fit, fit = C.monotone_fit(np.exp(u), hn, se)
        assert np.all(np.diff(fit) >= -1e-12)  # production −dH ≥ 0 after the fit
        lo.append(math.log(w.sigma_lo))
        hi.append(math.log(w.sigma_hi))
        blo.append(w.log_lo_se)
        bhi.append(w.log_hi_se)
        assert w.method == "bootstrap" and w.sigma_lo_ci[0] < w.sigma_lo_ci[1]
    for est, boot, truth in ((lo, blo, 0.3 - a), (hi, bhi, 0.3 + a)):
        spread, mean_boot = float(np.std(est, ddof=1)), float(np.mean(boot))
        assert 0.7 < mean_boot / spread < 1.4
        assert abs(np.mean(est) - truth) < 4 * spread / math.sqrt(len(est)) + 0.02  # 0.02: grid interpolation


def test_window_of_a_curve_object_equals_the_window_of_its_arrays():
    sig = np.geomspace(0.01, 100, 50)
    h = math.log(2) / (1 + (0.7 / sig) ** 2)
    se = np.full(50, 0.01)
    obj = SimpleNamespace(sigma=sig, value=h, stderr=se, quantity="entropy")
    a = C.semantic_window(obj, n_boot=20, seed=3)
    b = C.semantic_window(sig, h, stderr=se, n_boot=20, seed=3)
    assert a == b and a.method == "bootstrap"
    assert C.semantic_window(obj, stderr=np.zeros(50)).method == "exact"  # an explicit stderr wins
    assert "Window(σ ∈ (" in repr(a)


def test_window_validation():
    s, h = np.geomspace(0.1, 10, 20), np.linspace(0, 1, 20)
    for bad, msg in (
        (dict(fraction=1.0), "fraction"), (dict(fraction=0.0), "fraction"), (dict(fraction="x"), "fraction"),
        (dict(stderr=np.ones(3)), "stderr"), (dict(stderr=-np.ones(20)), "stderr"), (dict(n_boot=-1), "n_boot"),
        (dict(seed=-2), "seed"),
    ):
        with pytest.raises(ValueError, match=msg):
            C.semantic_window(s, h, **bad)
    with pytest.raises(ValueError, match="sigma"):
        C.semantic_window(-s, h)
    with pytest.raises(ValueError, match="shape of sigma"):
        C.semantic_window(s, h[:-1])
    with pytest.raises(ValueError, match="no semantic information"):
        C.semantic_window(s, np.ones(20))
    with pytest.raises(ValueError, match="repeat"):
        C.semantic_window(np.ones(20), h)


def test_bounds_clip_a_curve_that_leaves_the_range():
    # a measured curve that drifts below 0 at small σ (spurious production): with bounds (0, H[Z]) the window is
    # that of the clipped curve, and the spurious part no longer pulls it down
    u = np.linspace(-5, 5, 401)
    good = math.log(10) * logistic_curve(u, c=1.0, w=0.4)
    drift = good - 3.0 * logistic_curve(-u, c=3.0, w=0.5)  # falls to −3 for u ≪ 0
    w_b = C.semantic_window(np.exp(u), drift, bounds=(0.0, math.log(10)))
    w_c = C.semantic_window(np.exp(u), np.clip(drift, 0.0, math.log(10)))
    assert (w_b.sigma_lo, w_b.sigma_hi) == pytest.approx((w_c.sigma_lo, w_c.sigma_hi), rel=1e-12)
    w_raw = C.semantic_window(np.exp(u), drift)
    assert w_raw.sigma_lo < 0.1 * w_b.sigma_lo
    sched = C.entropy_schedule((np.exp(u), drift), 8, blend=1.0, sigma_min=math.exp(-5), sigma_max=math.exp(5),
                               bounds=(0.0, math.log(10)))
    assert sched[-2] > math.exp(-1.0)  # no step spent on the spurious drift below the clipped range
    with pytest.raises(ValueError, match="bounds"):
        C.semantic_window(np.exp(u), drift, bounds=(1.0, 0.0))
    with pytest.raises(ValueError, match="bounds apply"):
        C.recommend_guidance_interval(gt.two_gaussians(4, 1.0), bounds=(0.0, 1.0))


# ============================================================================================ theory windows
def test_theory_window_levels_and_native_times():
    mix = gt.two_gaussians(16, 0.5)
    tw = C.theory_window(mix, gt.OU(), sigma_range=(0.05, 200.0), n_grid=257)
    win = tw["classes"]
    ref = C.semantic_window(tw.sigma, gt.class_entropy(mix, gt.EDM(), tw.sigma).value)
    assert (win.sigma_lo, win.sigma_hi) == pytest.approx((ref.sigma_lo, ref.sigma_hi), rel=1e-12)
    t = tw.native["classes"]  # OU time at equal SNR: ½ log(1 + σ²)
    assert t == pytest.approx((0.5 * math.log1p(win.sigma_lo**2), 0.5 * math.log1p(win.sigma_hi**2)), rel=1e-9)
    assert tw.methods["classes"] == "quadrature" and list(tw.windows) == ["classes"]
    with pytest.raises(ValueError, match="level"):
        tw["coarse"]
    with pytest.raises(ValueError, match="mixture"):
        C.theory_window("not a mixture")
    with pytest.raises(ValueError, match="sigma_range"):
        C.theory_window(mix, sigma_range=(5.0, 1.0))


@pytest.mark.slow
def test_hierarchy_sub_window_is_the_binary_window_of_v():
    # in ±u ± v (u ⊥ v) the v-label given x is exactly two Gaussians ±v: reduced Monte Carlo (hierarchy) against
    # quadrature (two_gaussians(d, mu_sub)); and the coarse level decides at higher σ than the sub level
    d, mu_sub = 100, 0.3
    h = gt.hierarchical(2, 2, d, 1.0, mu_sub)
    sub = gt.Partition([[0, 2], [1, 3]])
    rng_ = (0.05, 300.0)
    tw = C.theory_window(h.mixture, partition={"coarse": h.coarse, "sub": sub}, per_class=False, sigma_range=rng_,
                         n_grid=97, n_samples=2**14, n_boot=100, key=1)
    ref = C.theory_window(gt.two_gaussians(d, mu_sub), sigma_range=rng_, n_grid=97)["classes"]
    w = tw["sub"]
    assert tw.methods["sub"] == "reduced" and w.method == "bootstrap"
    assert abs(math.log(w.sigma_lo / ref.sigma_lo)) < 4 * w.log_lo_se + 0.01
    assert abs(math.log(w.sigma_hi / ref.sigma_hi)) < 4 * w.log_hi_se + 0.01
    assert tw["coarse"].sigma_center > 3 * w.sigma_center
    assert set(tw.windows) == {"classes", "coarse", "sub"}


@pytest.mark.slow
def test_per_class_levels():
    mix = gt.k_classes(3, 8, 0.6)
    tw = C.theory_window(mix, sigma_range=(0.05, 100.0), n_grid=65, n_samples=2**12, n_boot=0)
    assert set(tw.windows) == {"classes", "class 0", "class 1", "class 2"}
    # one-vs-rest holds less entropy than the full label; the symmetric classes share one window (common draws)
    assert all(tw.h_prior[f"class {k}"] < tw.h_prior["classes"] for k in range(3))
    lo = [tw[f"class {k}"].sigma_lo for k in range(3)]
    assert max(lo) / min(lo) < 1.1


# ======================================================================================= guidance interval
def test_recommend_interval_sources_agree():
    mix = gt.two_gaussians(16, 0.5)
    rng_ = dict(sigma_range=(0.05, 200.0), n_grid=257)
    iv = C.recommend_guidance_interval(mix, **rng_)
    tw = C.theory_window(mix, **rng_)
    assert iv == pytest.approx(tw["classes"].interval, rel=1e-12)
    h = tw.curves["classes"][0]
    assert C.recommend_guidance_interval((tw.sigma, h)) == pytest.approx(iv, rel=1e-12)
    meas = SimpleNamespace(sigma=tw.sigma, value=h, stderr=np.zeros_like(h), quantity="entropy")
    assert C.recommend_guidance_interval(meas) == pytest.approx(iv, rel=1e-12)
    # a rate dH/dlog σ (here by finite differences of the exact curve) is integrated first
    u = np.log(tw.sigma)
    rate = SimpleNamespace(sigma=tw.sigma, value=np.gradient(h, u), stderr=None, quantity="rate")
    assert np.log(C.recommend_guidance_interval(rate)) == pytest.approx(np.log(iv), abs=0.02)
    with pytest.raises(ValueError, match="partition and level"):
        C.recommend_guidance_interval((tw.sigma, h), level="coarse")
    with pytest.raises(ValueError, match="source"):
        C.recommend_guidance_interval(42)
    with pytest.raises(ValueError, match="quantity"):
        C.recommend_guidance_interval(SimpleNamespace(sigma=tw.sigma, value=h, stderr=None, quantity="loss"))
    with pytest.raises(ValueError, match="level"):
        C.recommend_guidance_interval(mix, level=5)
    with pytest.raises(ValueError, match="level must be one of"):
        C.recommend_guidance_interval(mix, level="coarse")  # no such partition: refused before any computation


# =================================================================================================== metrics
@pytest.mark.slow
def test_sample_metrics_on_exact_samples_match_theory():
    # exact draws from p_0 with their own labels: accuracy = Bayes accuracy Φ(|m|), confidence = E Σ p² = φ(0),
    # within-label variance ratio 1 and a small moment KL
    d, mu = 4, 0.5
    mix = gt.two_gaussians(d, mu)
    x, z = mix.sample(jax.random.PRNGKey(0), 20000)
    lp = np.asarray(gt.log_class_posterior(mix, gt.EDM(), 1e-9, x))
    Q = dyn.semantic_basis(mix)
    rm, rc = C.label_moments(mix, None, Q)
    met = C.sample_metrics(lp, z, x @ Q, rm, rc, n_boot=100)
    acc = stats.norm.cdf(math.sqrt(d) * mu)
    phi0 = float(gt.collision_probability(mix, gt.EDM(), 1e-9).value)
    assert abs(met["accuracy"] - acc) < 4 * met["accuracy_se"]
    assert abs(met["confidence"] - phi0) < 4 * met["confidence_se"]
    assert abs(met["var_ratio"] - 1.0) < 4 * met["var_ratio_se"]
    assert met["moment_kl"] < 4 * met["moment_kl_se"] + 2e-4
    with pytest.raises(ValueError, match="agree in n"):
        C.sample_metrics(lp[:-1], z, x @ Q, rm, rc)


def test_pareto_marking():
    rows = [dict(name=n, kind=k, error=e, div_loss=v) for n, k, e, v in (
        ("a", "none", 0.10, 0.0), ("b", "cfg", 0.05, 0.5), ("c", "grid", 0.06, 0.6), ("d", "grid", 0.04, 0.2),
        ("e", "recommended", 0.07, 0.3))]
    C.mark_front(rows)
    on = {r["name"]: r["on_front"] for r in rows}
    assert on == {"a": True, "b": False, "c": False, "d": True, "e": False}
    c = rows[2]
    assert (c["dominated_by"] == ["b", "d"] and c["err_gap"] == pytest.approx(0.02)
            and c["div_gap"] == pytest.approx(0.4))
    e = rows[4]  # CFG curve (a → b by error): interpolate at error 0.07 → 0.3
    assert e["dominated_by"] == ["d"] and e["cfg_div_at_error"] == pytest.approx(0.3)


@pytest.mark.slow
def test_front_invariants_with_exact_sampler():
    mix = gt.two_gaussians(8, 0.4)
    fr = C.fidelity_diversity_front(mix, w=(3.0,), window=(0.5, 4.0), intervals=[(1e3, 1e4)], n_samples=1024,
                                    n_steps=32, n_boot=50, case="two")
    none = fr.select(kind="none")[0]
    # an interval the grid never enters (σ ≤ 80) changes nothing: bitwise the unguided run
    idle = fr.select(kind="grid")[0]
    assert idle["error"] == none["error"] and idle["var_ratio"] == none["var_ratio"]
    # w = 1 with exact scores reproduces p(x | z): variance ratio 1, confidence φ(0)
    phi0 = float(gt.collision_probability(mix, gt.EDM(), 1e-9).value)
    assert abs(none["var_ratio"] - 1.0) < 4 * none["var_ratio_se"] + 0.02  # 0.02: 32-step Heun discretisation
    assert abs(none["confidence"] - phi0) < 4 * none["confidence_se"] + 0.005
    cfg = fr.select(kind="cfg")[0]
    assert cfg["error"] < none["error"] and cfg["var_ratio"] < none["var_ratio"]  # guidance: fidelity for diversity
    s = fr.summary(n_boot=50)[0]
    d = fr.compare("recommended w=3", "cfg w=3", n_boot=50)
    assert s["d_error"] == pytest.approx(d["d_error"]) and s["d_error_se"] > 0
    assert {"on_front", "err_gap", "div_gap", "n_sig_dominating", "cfg_div_at_error"} <= set(s)
    with pytest.raises(ValueError, match="no configuration"):
        fr.compare("nope", "none")
    with pytest.raises(ValueError, match="w must"):
        C.fidelity_diversity_front(mix, w=-1.0, window=(0.5, 4.0))
    with pytest.raises(ValueError, match="window"):
        C.fidelity_diversity_front(mix, window=(0.0, 4.0))


# ================================================================================================== schedules
def test_entropy_schedule_blends():
    mix = gt.two_gaussians(16, 1.0)
    N, smin, smax, rho = 12, 0.002, 80.0, 7.0
    np.testing.assert_allclose(C.entropy_schedule(mix, N, blend=0.0), gt.edm_sigma_grid(N), rtol=1e-13)
    s1 = C.entropy_schedule(mix, N, blend=1.0)
    assert s1.shape == (N,) and s1[0] == smax and s1[-1] == smin and np.all(np.diff(s1) < 0)
    Hs = np.array([binary_H(16.0 / (1.0 + v**2)) for v in s1])  # independent H (scipy quadrature)
    drops = -np.diff(Hs)
    np.testing.assert_allclose(drops, (Hs[0] - Hs[-1]) / (N - 1), rtol=2e-3)
    # blend 0.5: equal steps of ½ G_EDM + ½ G_H
    s5 = C.entropy_schedule(mix, N, blend=0.5)
    a, b = smax ** (1 / rho), smin ** (1 / rho)
    g_edm = (a - s5 ** (1 / rho)) / (a - b)
    H5 = np.array([binary_H(16.0 / (1.0 + v**2)) for v in s5])
    g_h = (H5[0] - H5) / (H5[0] - H5[-1])
    np.testing.assert_allclose(0.5 * g_edm + 0.5 * g_h, np.arange(N) / (N - 1), atol=2e-3)
    for bad, msg in ((dict(blend=1.5), "blend"), (dict(sigma_min=0.0), "sigma_min"), (dict(rho=0.0), "rho")):
        with pytest.raises(ValueError, match=msg):
            C.entropy_schedule(mix, N, **bad)
    with pytest.raises(ValueError, match="n_steps"):
        C.entropy_schedule(mix, 1)
    with pytest.raises(ValueError, match="log_uniform"):
        C.entropy_schedule("uniform", N)
    # the control measure: β = 1 is the log-uniform grid (closed form)
    np.testing.assert_allclose(C.entropy_schedule("log_uniform", N, blend=1.0), np.geomspace(smax, smin, N), rtol=1e-5)


@pytest.mark.slow
def test_simulate_accepts_custom_sigmas():
    mix = gt.two_gaussians(4, 0.5)
    kw = dict(n_samples=16, n_steps=8, key=3, record=False)
    a = dyn.simulate(mix, **kw)
    b = dyn.simulate(mix, sigmas=gt.edm_sigma_grid(8), **kw)
    np.testing.assert_array_equal(a.final_log_post, b.final_log_post)
    c = dyn.simulate(mix, sigmas=C.entropy_schedule(mix, 8), **kw)
    assert c.grid.sigma[-1] == 0 and not np.array_equal(a.final_proj, c.final_proj)
    with pytest.raises(ValueError, match="n_steps = 8"):
        dyn.simulate(mix, sigmas=gt.edm_sigma_grid(6), **kw)
    with pytest.raises(ValueError, match="strictly decreasing"):
        dyn.simulate(mix, sigmas=gt.edm_sigma_grid(8)[::-1], **kw)
    with pytest.raises(ValueError, match="sampler='edm'"):
        dyn.simulate(mix, sampler="sde", sigmas=gt.edm_sigma_grid(8), **kw)
    # without n_steps the grid's length is the number of steps; without both, EDM's 64
    kw.pop("n_steps")
    d = dyn.simulate(mix, sigmas=gt.edm_sigma_grid(8), **kw)
    np.testing.assert_array_equal(a.final_log_post, d.final_log_post)
    assert dyn.simulate(mix, **kw).grid.n_steps == 64
    with pytest.raises(ValueError, match="at least 2 values"):
        dyn.simulate(mix, sigmas=[1.0], **kw)


@pytest.mark.slow
def test_schedule_comparison_runs_and_pairs():
    mix = gt.two_gaussians(8, 0.5, weights=np.array([0.7, 0.3]))
    comp = C.schedule_comparison(mix, (4, 8), blends=(1.0,), n_samples=256, n_boot=30, reference_steps=32,
                                 case="two")
    names = {(r["n_steps"], r["schedule"]) for r in comp.rows}
    assert names == {(32, "reference")} | {(N, nm) for N in (4, 8) for nm in ("edm", "entropy β=1", "log-uniform β=1")}
    # the control at β = 1 is the log-uniform grid itself
    np.testing.assert_allclose(comp.sigmas[(8, "log-uniform β=1")], np.geomspace(80.0, 0.002, 8), rtol=1e-5)
    np.testing.assert_allclose(comp.sigmas[(8, "edm")], gt.edm_sigma_grid(8), rtol=1e-13)
    ref = comp.select(schedule="reference")[0]
    assert ref["freq_shift_tv"] == 0.0
    # the converged sampler's class frequencies agree with π within Monte Carlo error
    assert ref["freq_tv"] < 4 * ref["freq_tv_se"] + 0.02
    e4 = comp.select(n_steps=4, schedule="entropy β=1")[0]
    b4 = comp.select(n_steps=4, schedule="edm")[0]
    c4 = comp.select(n_steps=4, schedule="log-uniform β=1")[0]
    assert e4["d_moment_kl"] == pytest.approx(e4["moment_kl"] - b4["moment_kl"], rel=1e-9)
    assert e4["dc_moment_kl"] == pytest.approx(e4["moment_kl"] - c4["moment_kl"], rel=1e-9)
    assert len(comp.summary()) == 2 and "dc_freq_shift_tv" in comp.summary()[0]
    with pytest.raises(ValueError, match="blends"):
        C.schedule_comparison(mix, (4,), blends=(2.0,))


# ========================================================================================== section and CLI
@pytest.mark.slow
def test_section_and_cli(tmp_path):
    size = dict(SMOKE, d=8, n_samples=64, n_steps=16, n_edges=1, steps=(4,), sched_n=128, reference_steps=16,
                blends=(0.0, 0.5), n_boot=10)
    md = section_control(tmp_path, size)
    assert "Closing note" in md and "window" in md
    for stem in ("control_fronts", "control_windows", "control_schedules"):
        assert (tmp_path / f"{stem}.png").exists()

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    args = parser.parse_args(["control", "interval", "--preset", "two", "--d", "16", "--mu", "0.5", "--json",
                              "--out", str(tmp_path / "cli")])
    assert args.func(args) == 0
    rows = json.loads((tmp_path / "cli" / "control_interval.json").read_text())["rows"]
    assert rows[0]["sigma_lo"] < rows[0]["sigma_hi"]
    args = parser.parse_args(["control", "window", "--preset", "hierarchical", "--d", "16", "--mu", "1.0",
                              "--n-samples", "512", "--csv"])
    assert args.func(args) == 0
    args = parser.parse_args(["control", "interval", "--preset", "two", "--level", "coarse"])
    with pytest.raises(ValueError, match="--level"):
        args.func(args)


# ================================================================================================ torch side
@pytest.fixture
def one_torch_thread():
    """Tiny torch workloads: one intra-op thread (no spin-waiting against the jax threads); restored after."""
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.mark.slow
def test_bridge_front_matches_jax_front(one_torch_thread):
    torch = pytest.importorskip("torch")
    from gmmtheory.bridge import control as BC
    from gmmtheory.bridge.gmm import GMMDenoiser

    mix = gt.two_gaussians(8, 0.4)
    win = (0.5, 4.0)
    kw = dict(w=(3.0,), intervals=[], n_samples=768, n_steps=16, n_boot=50)
    fj = C.fidelity_diversity_front(mix, window=win, key=0, **kw)
    model = GMMDenoiser(mix)
    Q = dyn.semantic_basis(mix)
    rm, rc = C.label_moments(mix, None, Q)
    ft = BC.guided_front(model, win, log_post_fn=lambda x: model.log_posterior(x, 1e-8).numpy(), ref_means=rm,
                         ref_covs=rc, features=lambda x: x.numpy() @ Q, edm2=C.EDM2_INTERVAL, seed=1, **kw)
    assert [r["name"] for r in fj.rows] == [r["name"] for r in ft.rows]
    for a, b in zip(fj.rows, ft.rows):  # two independent exact samplers (jax and torch Heun), different draws
        for k in ("error", "var_ratio"):
            assert abs(a[k] - b[k]) < 4 * math.hypot(a[k + "_se"], b[k + "_se"]), (a["name"], k)
    assert torch.is_tensor(model.log_posterior(torch.zeros(1, 8, dtype=torch.float64), 1.0))


def test_digits_control_plumbing_untrained_net(one_torch_thread):
    torch = pytest.importorskip("torch")
    from gmmtheory.bridge import control as BC
    from gmmtheory.bridge import digits as dg
    from gmmtheory.bridge.base import Measurement
    from gmmtheory.report.bridge_control import digits_control_markdown, digits_control_verdicts

    cfg = dg.DigitsConfig(width=16, depth=1, emb_dim=8, class_weights=tuple([0.1] * 10))
    torch.manual_seed(0)
    model = dg.DigitsDenoiser(dg.DigitsNet(cfg))
    # F = 0 at initialisation: D = c_skip x for every label, so guidance changes nothing, bitwise
    x = torch.randn(4, 64)
    assert torch.equal(model(x, 2.0, torch.arange(4)), model(x, 2.0, None))
    sig = np.geomspace(0.02, 80, 24)
    curve = Measurement(sig, math.log(10) * (1 - 1 / (1 + (sig / 3.0) ** 2)), np.full(24, 0.01), "entropy", "test")
    # a stand-in classifier (the held-out logistic regression is the default; its fit is the bridge's test)
    clf = SimpleNamespace(predict_proba=lambda x: np.exp(-0.5 * (x[:, :10] - 0.1) ** 2)
                          / np.exp(-0.5 * (x[:, :10] - 0.1) ** 2).sum(1, keepdims=True), test_accuracy=float("nan"))
    res = BC.digits_control(model, curve, w=(3.0,), n_edges=1, n_samples=40, n_steps=4, schedule_steps=(4,),
                            blends=(1.0,), schedule_samples=40, reference_steps=8, n_boot=10, classifier=clf)
    none = res.front.select(kind="none")[0]
    for r in res.front.rows:
        assert r["error"] == none["error"] and r["var_ratio"] == none["var_ratio"]
    assert res.window.sigma_lo < 3.0 < res.window.sigma_hi
    assert {(r["n_steps"], r["schedule"]) for r in res.schedules.rows} == {
        (8, "reference"), (4, "edm"), (4, "entropy β=1"), (4, "log-uniform β=1")}
    assert "Digits model" in digits_control_markdown(res) and len(digits_control_verdicts(res)) == 2
    with pytest.raises(ValueError, match="curve"):
        BC.digits_control(model, SimpleNamespace(entropy={}), curve="tracker")
