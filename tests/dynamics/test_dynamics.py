"""Reverse-time samplers with exact scores against the exact marginals p_t, clones/U-turns against exact φ.

References are independent of the samplers: closed-form moments of the projection on the class direction, the
entropy engine (quadrature) for H and φ. Monte Carlo checks use fixed seeds and |z| < 4 (plus, where stated, a
discretisation allowance measured at that step count).
"""

import math

import jax
import numpy as np
import pytest
from scipy.stats import norm

import gmmtheory as gt
from gmmtheory import dynamics as dyn
from gmmtheory._checks import check_key
from gmmtheory.dynamics.kernel import sampler_kernel
from gmmtheory.dynamics.sampling import initial_states, prepare_run, run_segment

N = 4096
MIX = gt.two_gaussians(8, 1.0, weights=[0.7, 0.3])  # |m|² = 8, unit variance, unequal weights
RUNS = {"sde": dict(n_steps=250, T=5.0), "ode": dict(n_steps=100, T=5.0), "edm": dict(n_steps=64)}


def _y(tr, mix):
    """Projection of x_t (OU scale, a² + σ² = 1 per class) on the unit direction of μ_0, along the grid."""
    u = mix.means[0] / np.linalg.norm(mix.means[0])
    y = tr.proj @ (tr.basis.T @ u)
    if tr.sampler == "edm":  # VE frame x̃ = x/a → OU scale a x̃, a = 1/√(1+σ²)
        y = y / np.sqrt(1.0 + tr.sigma**2)[None, :]
    return y


@pytest.fixture(scope="module")
def runs():
    return {s: dyn.simulate(MIX, sampler=s, n_samples=N, key=11, **kw) for s, kw in RUNS.items()}


def test_bad_inputs_raise_before_jit():
    before = sampler_kernel._cache_size()
    bad = [
        (dict(sampler="euler"), "sampler"),
        (dict(guidance="cfgg", label=0), "guidance"),
        (dict(guidance="cfg", w=-1.0, label=0), "w"),
        (dict(guidance="cfg", w=float("nan"), label=0), "w"),
        (dict(guidance="interval", w=2.0, interval=(3.0, 1.0), label=0), "interval"),
        (dict(guidance="interval", w=2.0, interval=(-1.0, 1.0), label=0), "interval"),
        (dict(guidance="interval", w=2.0, interval="wide", label=0), "interval"),
        (dict(guidance="interval", w=2.0, label=0), "interval"),
        (dict(n_steps=1), "n_steps"),
        (dict(n_steps=2.5), "n_steps"),
        (dict(n_samples=0), "n_samples"),
        (dict(label=5), "label"),
        (dict(guidance="cfg", w=2.0), "label"),
        (dict(guidance="none", w=2.0, label=0), "w"),
        (dict(init="zeros"), "init"),
        (dict(sampler="sde", T=20.0, process=gt.VP()), "T"),
    ]
    for kwargs, name in bad:
        with pytest.raises(ValueError, match=name):
            dyn.simulate(MIX, **{"n_samples": 16, **kwargs})
    with pytest.raises(ValueError, match="mixture"):
        dyn.simulate("two gaussians")
    with pytest.raises(ValueError, match="times"):
        dyn.clones(MIX, [50.0], n_samples=8, n_steps=10)
    assert sampler_kernel._cache_size() == before


@pytest.mark.parametrize("sampler", list(RUNS))
@pytest.mark.slow
def test_unguided_samplers_reproduce_p_t(runs, sampler):
    tr = runs[sampler]
    pi0, pi1 = MIX.weights
    m = math.sqrt(8.0)
    y = _y(tr, MIX)
    t_ou = tr.t_ou
    picks = [int(np.argmin(np.abs(t_ou - t))) for t in (2.5, 1.5, 1.0, 0.5, 0.2)] + [t_ou.size - 1]
    a = np.exp(-t_ou[picks])
    Ey, Ey2 = y[:, picks].mean(0), (y[:, picks] ** 2).mean(0)
    se1 = y[:, picks].std(0, ddof=1) / math.sqrt(N)
    se2 = (y[:, picks] ** 2).std(0, ddof=1) / math.sqrt(N)
    # exact: y | z ~ N(±a|m|, a² + σ² = 1)
    assert np.all(np.abs(Ey - a * m * (pi0 - pi1)) < 4 * se1)
    assert np.all(np.abs(Ey2 - (a**2 * m**2 + 1.0)) < 4 * se2)
    # class frequencies (soft: E p_t(k | x) = π_k at every t) and P(y > 0) = π₀Φ(a|m|) + π₁Φ(−a|m|)
    p0 = np.exp(tr.log_post[:, picks, 0])
    assert np.all(np.abs(p0.mean(0) - pi0) < 4 * p0.std(0, ddof=1) / math.sqrt(N) + 1e-12)
    frac = (y[:, picks] > 0).mean(0)
    exact = pi0 * norm.cdf(a * m) + pi1 * norm.cdf(-a * m)
    assert np.all(np.abs(frac - exact) < 4 * np.sqrt(exact * (1 - exact) / N) + 1e-12)
    # entropy profile and collision functional vs the entropy engine (quadrature)
    H, seH = dyn.entropy_profile(tr)
    Hx = gt.class_entropy(MIX, gt.OU(), t_ou[picks]).value
    assert np.all(np.abs(H[picks] - Hx) < 4 * seH[picks] + 1e-9)
    coll = np.sum(np.exp(2 * tr.log_post[:, picks]), axis=-1)
    phi = gt.collision_probability(MIX, gt.OU(), t_ou[picks]).value
    assert np.all(np.abs(coll.mean(0) - phi) < 4 * coll.std(0, ddof=1) / math.sqrt(N) + 1e-9)
    freq = dyn.class_frequencies(tr)
    assert np.all(np.abs(freq["soft"] - MIX.weights) < 4 * freq["stderr"])


@pytest.mark.slow
def test_kernel_compiles_once_per_shape():
    kw = dict(sampler="edm", n_samples=256, n_steps=40)
    dyn.simulate(MIX, key=0, **kw)
    size, traces = sampler_kernel._cache_size(), dyn.TRACE_COUNT["kernel"]
    dyn.simulate(MIX, key=1, label=0, guidance="cfg", w=3.0, **kw)
    dyn.simulate(MIX, key=2, label="prior", guidance="interval", w=2.0, interval=(0.5, 5.0), **kw)
    dyn.simulate(MIX, key=3, n_samples=256, n_steps=50, sampler="edm")  # same grid bucket (≤ 64 points)
    dyn.simulate(gt.two_gaussians(8, 2.0), key=4, **kw)  # another mixture of the same shapes
    assert sampler_kernel._cache_size() == size
    assert dyn.TRACE_COUNT["kernel"] == traces


def test_w1_equals_no_guidance_exactly():
    kw = dict(sampler="edm", n_samples=256, n_steps=40, key=5, label=0, keep_x=True)
    a = dyn.simulate(MIX, **kw)
    b = dyn.simulate(MIX, guidance="cfg", w=1.0, **kw)
    c = dyn.simulate(MIX, guidance="interval", w=4.0, interval=(100.0, 200.0), **kw)  # interval above σ_max
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.x, c.x)
    np.testing.assert_array_equal(a.log_post, b.log_post)


@pytest.mark.slow
def test_w0_gives_unconditional_class_frequencies():
    tr = dyn.simulate(MIX, sampler="edm", n_samples=N, n_steps=40, key=6, label=0, guidance="cfg", w=0.0,
                      init="marginal")
    f = dyn.class_frequencies(tr)
    assert np.all(np.abs(f["soft"] - MIX.weights) < 4 * f["stderr"])
    g = dyn.simulate(MIX, sampler="edm", n_samples=N, n_steps=40, key=6, label=0, guidance="cfg", w=3.0)
    assert dyn.class_frequencies(g)["soft"][0] > 0.99  # and guidance toward class 0 does what it says


@pytest.mark.slow
def test_clones_and_u_turns_match_exact_phi():
    mix = gt.two_gaussians(32)
    t_s = gt.speciation_time(mix)
    times = t_s + np.array([-0.5, 0.0, 0.5])
    c = dyn.clones(mix, times, n_samples=1024, n_steps=500, T=5.0, key=1)
    u = dyn.u_turns(mix, times, n_samples=1024, n_steps=500, T=5.0, key=2)
    for res in (c, u):
        assert np.all(np.abs(res.z) < 4), (res.kind, res.z)
        np.testing.assert_allclose(res.phi_exact, gt.collision_probability(mix, gt.OU(), res.t).value)
    # the sampler reproduces p_t at the split (discretisation error within Monte Carlo error)
    assert np.all(np.abs(c.phi_split - c.phi_exact) < 4 * c.phi_split_stderr)
    assert np.all(np.diff(c.phi_exact) < 0)  # later split (larger t) → less agreement


@pytest.mark.parametrize("sampler,coarse,fine", [("sde", 12, 250), ("ode", 4, 100), ("edm", 4, 64)])
@pytest.mark.slow
def test_step_size_convergence(sampler, coarse, fine):
    """Weak error of the final second moment along the class direction shrinks with more steps."""
    kw = dict(T=5.0) if sampler != "edm" else {}
    errs, ses = [], []
    for n_steps in (coarse, fine):
        tr = dyn.simulate(MIX, sampler=sampler, n_samples=N, n_steps=n_steps, key=3, record=False, **kw)
        u = MIX.means[0] / np.linalg.norm(MIX.means[0])
        y = tr.final_proj @ (tr.basis.T @ u)
        errs.append(abs(float(np.mean(y**2)) - 9.0))  # exact E y² = |m|² + 1 at t = 0
        ses.append(float(np.std(y**2, ddof=1)) / math.sqrt(N))
    assert errs[0] > 4 * ses[0]  # the coarse run is measurably wrong …
    assert errs[1] < 4 * ses[1]  # … the fine one agrees with the exact law
    assert errs[1] < errs[0]


@pytest.mark.slow
def test_ode_heun_is_second_order_pathwise():
    """Same initial states: |x_N − x_ref| falls ≈ 4× per doubling of the steps (Heun)."""
    def final(n_steps):
        return dyn.simulate(MIX, sampler="ode", n_samples=64, n_steps=n_steps, T=5.0, t_end=0.05, key=9,
                            record=False, keep_x=True).x

    ref = final(320)
    e1 = np.abs(final(40) - ref).max()
    e2 = np.abs(final(80) - ref).max()
    assert e2 < e1 / 3.0


@pytest.mark.slow
def test_commitment_times_and_partition_measurements():
    h = gt.hierarchical(2, 2, 8, 1.0, 0.5)
    tr = dyn.simulate(h.mixture, sampler="edm", n_samples=512, n_steps=40, key=4, label=1, partition=h.coarse,
                      guidance="cfg", w=1.0)
    com = dyn.commitment_times(tr)
    ok = np.isfinite(com["sigma"])
    assert ok.mean() > 0.9 and np.all(com["sigma"][ok] <= 80.0) and np.all(com["sigma"][ok] >= 0.0)
    assert np.all(com["final_class"] < 2)  # group indices
    f = dyn.class_frequencies(tr)  # groups of the guidance partition
    assert f["soft"].shape == (2,) and f["soft"][1] > 0.9
    fine = dyn.class_frequencies(tr, gt.Partition.identity(4))["soft"]
    assert abs(fine[2] - fine[3]) < 4 * math.sqrt(0.5 / 512)  # equal weights within the guided superclass
    ce, se = dyn.cross_entropy_profile(tr)
    assert ce[0] == pytest.approx(math.log(2), abs=0.02) and ce[-1] < 0.1


@pytest.mark.slow
def test_sigma_grid_ending_in_zero_is_the_final_denoise_step():
    """A grid written with its trailing 0 (diffusers, k-diffusion, ``bridge.sampling.edm_sigmas``) is the same N-step
    grid: its last step σ_{N−1} → 0 is EDM's Euler step x̂ + (0 − σ) (x̂ − D(x̂; σ))/σ = D(x̂; σ), the exact denoiser at
    the last nonzero σ, checked against ``gt.denoiser`` applied to the state after the first N − 1 steps."""
    mix = gt.two_gaussians(4, 1.0, weights=[0.6, 0.4])
    grid = np.array([40.0, 6.0, 1.5, 0.4, 0.03])  # N = 5 nonzero levels
    kw = dict(n_samples=32, key=3, S_churn=0.0, record=False, keep_x=True)
    with_zero = dyn.simulate(mix, sigmas=np.append(grid, 0.0), **kw)
    assert with_zero.grid.n_steps == 5 and with_zero.grid.sigma[-1] == 0.0
    np.testing.assert_array_equal(with_zero.grid.sigma[:-1], grid)
    np.testing.assert_array_equal(with_zero.x, dyn.simulate(mix, sigmas=grid, **kw).x)
    assert dyn.simulate(mix, sigmas=np.append(grid, 0.0), n_steps=5, **kw).grid.n_steps == 5
    # the state at σ_{N−1}: the same run (same keys as ``simulate``) stopped one step early
    st = prepare_run(mix, sampler="edm", n_samples=32, n_steps=None, process=None, guidance="none", w=1.0,
                     interval=None, partition=None, T=None, t_end=0.0, sigma_min=0.002, sigma_max=80.0, rho=7.0,
                     S_churn=0.0, S_min=0.05, S_max=50.0, S_noise=1.0, chunk=None, sigmas=np.append(grid, 0.0))
    k_init, k_run = jax.random.split(check_key(3))
    labels = np.zeros(32, np.int32)
    x0, _ = initial_states(st, k_init, labels, True, "auto")
    before = run_segment(st, x0, jax.random.split(k_run, st.n_chunks), labels, True, 0, 4, False, True).x
    expected = np.asarray(gt.denoiser(mix, gt.EDM(), grid[-1], before))
    np.testing.assert_allclose(with_zero.x, expected, rtol=1e-12, atol=1e-12)
    # only a trailing 0: a 0 (or a negative value) inside the grid is still refused, before any jit work
    for bad in ([40.0, 0.0, 1.0, 0.0], [40.0, 1.0, -0.5]):
        with pytest.raises(ValueError, match="only a trailing 0"):
            dyn.simulate(mix, sigmas=bad, n_samples=4)


@pytest.mark.slow
def test_results_are_frozen_with_short_reprs_and_keys_of_either_kind():
    kw = dict(sampler="edm", n_samples=16, n_steps=8, label=0, guidance="cfg", w=2.0, keep_x=True)
    a = dyn.simulate(MIX, key=7, **kw)
    b = dyn.simulate(MIX, key=jax.random.PRNGKey(7), **kw)  # an int seed means the PRNG key of that seed
    np.testing.assert_array_equal(a.x, b.x)
    assert "array" not in repr(a) and len(repr(a)) < 200 and "n=16" in repr(a)
    with pytest.raises(AttributeError):
        a.w = 3.0
    assert a.as_dict()["grid"]["sigma"].shape == (9,)
    # n_pairs is the deprecated spelling of n_samples (the number of draws) in clones
    c = dyn.clones(MIX, [1.0], n_samples=8, n_steps=20, T=5.0, key=1)
    with pytest.warns(DeprecationWarning, match="n_samples"):
        old = dyn.clones(MIX, [1.0], n_pairs=8, n_steps=20, T=5.0, key=1)
    np.testing.assert_array_equal(c.value, old.value)
    assert c.n == 8 and "array" not in repr(c) and set(c.as_dict()) >= {"value", "phi_exact", "z"}
    with pytest.raises(ValueError, match="not both"):
        dyn.clones(MIX, [1.0], n_samples=8, n_pairs=8, n_steps=20, T=5.0)
