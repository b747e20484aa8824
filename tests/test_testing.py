"""gmmtheory.testing: the strategies produce what they promise and the assertions fail when they should."""

from __future__ import annotations

import subprocess
import sys

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, logsumexp

import gmmtheory as gt
from gmmtheory import testing as gtt
from gmmtheory.entropy import EntropyResult
from gmmtheory.mixture import COV_KINDS


@settings(max_examples=10)
@given(mix=gtt.mixtures(K=3, d=4), part=gtt.partitions(3), proc=gtt.processes(include_discrete=True))
def test_strategies_give_valid_objects(mix, part, proc):
    assert (mix.K, mix.d) == (3, 4) and mix.cov_kind in COV_KINDS
    assert np.all(np.linalg.eigvalsh(mix.component_covariances()) > 0.2)  # drawn eigenvalues ≥ 0.3
    np.testing.assert_allclose(mix.weights.sum(), 1.0)
    assert sorted(k for g in part.groups for k in g) == [0, 1, 2]
    assert isinstance(proc, gt.Process)


@settings(max_examples=10)
@given(data=gtt.time_grids(gt.Flow(), n=6))
def test_time_grids_are_increasing_inside_the_domain(data):
    assert data.shape == (6,) and np.all(np.diff(data) >= 0)
    assert np.all((data >= 0) & (data <= 1))


def test_assert_within_stderr_accepts_and_rejects():
    gtt.assert_within_stderr([1.0, 2.0], [0.1, 0.1], [1.3, 1.7])  # 3 stderr away: inside 4
    with pytest.raises(AssertionError, match="standard errors"):
        gtt.assert_within_stderr([1.0, 2.0], [0.1, 0.1], [1.0, 2.5])
    with pytest.raises(AssertionError):
        gtt.assert_within_stderr([np.nan], [0.1], [0.0])


def test_entropy_assertions_reject_bad_curves():
    t = np.array([0.1, 0.2, 0.3])
    good = EntropyResult(t, np.array([0.1, 0.3, 0.5]), np.zeros(3), "quadrature")
    gtt.assert_entropy_valid(good, np.log(2))
    gtt.assert_nondecreasing(good)
    with pytest.raises(AssertionError, match="decreases"):
        gtt.assert_nondecreasing(EntropyResult(t, np.array([0.1, 0.3, 0.2]), np.zeros(3), "quadrature"))
    with pytest.raises(AssertionError, match="outside"):
        gtt.assert_entropy_valid(EntropyResult(t, np.array([0.1, 0.3, 0.8]), np.zeros(3), "quadrature"), np.log(2))


@pytest.mark.slow
def test_assert_denoiser_matches_catches_a_wrong_denoiser():
    mix = gt.k_classes(3, 5, mu=0.8)
    proc, t = gt.OU(), 0.7
    gtt.assert_denoiser_matches(lambda x, s: gt.denoiser(mix, proc, s, x), mix, proc, t, key=1)
    gtt.assert_denoiser_matches(lambda x, s: gt.denoiser(mix, proc, s, x, 2), mix, proc, t, key=1, label=2)

    def wrong(x, s):  # 1 % off in scale
        return np.asarray(gt.denoiser(mix, proc, s, x)) * 1.01

    with pytest.raises(AssertionError, match="denoiser differs"):
        gtt.assert_denoiser_matches(wrong, mix, proc, t, key=1)


# ----------------------------------------------------- assert_denoiser_matches under jax's defaults (x64 off)
# An independent reference: numpy/scipy only — closed-form a(t), σ(t) of each process, dense covariances built here,
# posterior weights by scipy's logsumexp and one Wiener filter per component.

KINDS = ("shared_iso", "class_iso", "class_diag", "shared_full", "class_full")
PROCESSES = {"ou": gt.OU(), "vp": gt.VP(), "ve": gt.VE(), "edm": gt.EDM(), "edm_half": gt.EDM(sigma_data=0.5),
             "flow": gt.Flow()}


def _time_and_coefficients(name: str, lam: float) -> tuple[float, float, float]:
    """(t, a(t), σ(t)) in float64 closed forms for log-SNR λ = log(a²/σ²)."""
    if name == "ou":  # a = e^{−t}, σ² = 1 − e^{−2t}
        t = 0.5 * np.logaddexp(0.0, -lam)
        return t, np.exp(-t), np.sqrt(-np.expm1(-2 * t))
    if name == "vp":  # B(t) = β_min t + ½(β_max − β_min)t², a = e^{−B/2}, σ² = 1 − e^{−B}
        b0, b1 = 0.1, 20.0
        t = (np.sqrt(b0**2 + 2 * (b1 - b0) * np.logaddexp(0.0, -lam)) - b0) / (b1 - b0)
        B = b0 * t + 0.5 * (b1 - b0) * t**2
        return t, np.exp(-0.5 * B), np.sqrt(-np.expm1(-B))
    if name == "ve":  # a = 1, σ² = t
        t = np.exp(-lam)
        return t, 1.0, np.sqrt(t)
    if name.startswith("edm"):  # t ≡ σ, a = σ_data
        sd = 1.0 if name == "edm" else 0.5
        t = sd * np.exp(-0.5 * lam)
        return t, sd, t
    t = expit(-0.5 * lam)  # flow: a = 1 − t, σ = t
    return t, 1.0 - t, t


def _draw_configuration(rng: np.random.Generator):
    """A random mixture ((K, d) = (2, 5) or (3, 3): few shapes, few compilations; any covariance form), a process
    and a time with λ ∈ [−6, 6]."""
    K, d = ((2, 5), (3, 3))[rng.integers(2)]
    kind = KINDS[rng.integers(len(KINDS))]
    means = rng.uniform(-2.0, 2.0, (K, d))
    weights = rng.uniform(0.05, 1.0, K)
    weights /= weights.sum()
    if kind == "shared_iso":
        cov = float(rng.uniform(0.3, 3.0))
        dense = np.repeat(cov * np.eye(d)[None], K, axis=0)
    elif kind == "class_iso":
        cov = rng.uniform(0.3, 3.0, K)
        dense = cov[:, None, None] * np.eye(d)
    elif kind == "class_diag":
        cov = rng.uniform(0.3, 3.0, (K, d))
        dense = np.stack([np.diag(v) for v in cov])
    else:
        n = 1 if kind == "shared_full" else K
        q, _ = np.linalg.qr(rng.normal(size=(n, d, d)))
        c = np.einsum("nij,nj,nkj->nik", q, rng.uniform(0.3, 3.0, (n, d)), q)
        c = 0.5 * (c + np.swapaxes(c, 1, 2))
        cov, dense = (c[0] if n == 1 else c), np.broadcast_to(c, (K, d, d)).copy()
    name = list(PROCESSES)[rng.integers(len(PROCESSES))]
    t, a, s = _time_and_coefficients(name, float(rng.uniform(-6.0, 6.0)))
    return gt.GaussianMixture(means, cov, weights, cov_kind=kind), means, weights, dense, name, t, a, s


def _numpy_denoiser(means, weights, dense, a, s, dtype=np.float64):
    """E[X_0 | X_t = x] = Σ_k p(k | x) [μ_k + a Σ_k C_k⁻¹ (x − a μ_k)], C_k = a²Σ_k + σ²I, computed in ``dtype``."""
    K, d = means.shape
    mu, S, w, a, s = (np.asarray(v, dtype=dtype) for v in (means, dense, weights, a, s))
    C = a**2 * S + s**2 * np.eye(d, dtype=dtype)
    logdet = np.array([np.linalg.slogdet(C[k])[1] for k in range(K)], dtype=dtype)

    def f(x, t):
        r = np.asarray(x, dtype=dtype)[:, None, :] - a * mu[None]  # (n, K, d)
        sol = np.stack([np.linalg.solve(C[k], r[:, k].T).T for k in range(K)], axis=1)  # C_k⁻¹ r_k
        logp = np.log(w) - 0.5 * np.einsum("nkd,nkd->nk", r, sol) - 0.5 * logdet
        post = np.exp(logp - logsumexp(logp, axis=1, keepdims=True)).astype(dtype)
        out = np.einsum("nk,nkd->nd", post, mu[None] + a * np.einsum("kij,nkj->nki", S, sol))
        assert out.dtype == dtype
        return out

    return f


def _fails(fn, *args, **kwargs) -> bool:
    try:
        gtt.assert_denoiser_matches(fn, *args, **kwargs)
    except AssertionError:
        return True
    return False


@pytest.mark.slow
def test_assert_denoiser_matches_with_x64_off_accepts_exact_denoisers_and_rejects_wrong_ones():
    # Before the fix the expected value was computed in float32 under jax's defaults and compared at rtol 1e-6:
    # exact float64 denoisers failed on a sixth of these configurations.
    rng = np.random.default_rng(13)
    rejected_exact, rejected_f32, accepted_wrong, accepted_wrong_f32 = [], [], [], []
    with jax.enable_x64(False):
        assert jax.numpy.ones(1).dtype == np.float32  # jax's default, as in a user's test suite
        for i in range(96):
            mix, means, weights, dense, name, t, a, s = _draw_configuration(rng)
            args = (mix, PROCESSES[name], t)
            exact = _numpy_denoiser(means, weights, dense, a, s)
            exact32 = _numpy_denoiser(means, weights, dense, a, s, np.float32)
            tag = (i, mix.cov_kind, mix.K, mix.d, name, t)
            if _fails(exact, *args, key=i, n=64):
                rejected_exact.append(tag)
            if _fails(exact32, *args, key=i, n=64):  # a correct float32 denoiser: float32 tolerance
                rejected_f32.append(tag)
            if i % 4 == 0 and not _fails(lambda x, t_: exact(x, t_) * (1 + 1e-3), *args, key=i, n=64):
                accepted_wrong.append(tag)  # 0.1 % off in scale
            if i % 4 == 2 and not _fails(lambda x, t_: exact32(x, t_) * np.float32(1 + 1e-3), *args, key=i, n=64):
                accepted_wrong_f32.append(tag)
    assert not rejected_exact, f"exact float64 denoiser rejected on {len(rejected_exact)} of 96: {rejected_exact}"
    assert not rejected_f32, f"float32 denoiser rejected on {len(rejected_f32)} of 96: {rejected_f32}"
    assert not accepted_wrong, f"0.1 % wrong float64 denoiser accepted on {accepted_wrong}"
    assert not accepted_wrong_f32, f"0.1 % wrong float32 denoiser accepted on {accepted_wrong_f32}"


@pytest.mark.slow
def test_assert_denoiser_matches_tolerance_follows_the_output_dtype():
    mix = gt.k_classes(3, 5, mu=0.8)
    proc, t = gt.OU(), 0.7
    _, a, s = _time_and_coefficients("ou", float(np.log(np.exp(-2 * t) / -np.expm1(-2 * t))))
    dense = mix.component_covariances()
    exact = _numpy_denoiser(mix.means, mix.weights, dense, a, s)
    exact32 = _numpy_denoiser(mix.means, mix.weights, dense, a, s, np.float32)
    gtt.assert_denoiser_matches(exact, mix, proc, t, key=3)
    gtt.assert_denoiser_matches(exact32, mix, proc, t, key=3)
    # float32 accuracy reported as float64 is not float64 accuracy: the tight float64 tolerance applies
    with pytest.raises(AssertionError, match="float64 tolerance"):
        gtt.assert_denoiser_matches(lambda x, t_: exact32(x, t_).astype(np.float64), mix, proc, t, key=3)
    # explicit tolerances replace the dtype rule
    gtt.assert_denoiser_matches(lambda x, t_: exact32(x, t_).astype(np.float64), mix, proc, t, key=3, rtol=1e-5,
                                atol=1e-6)
    with pytest.raises(AssertionError, match="shape"):
        gtt.assert_denoiser_matches(lambda x, t_: exact(x, t_)[:, :2], mix, proc, t, key=3)
    with pytest.raises(ValueError, match="label"):
        gtt.assert_denoiser_matches(exact, mix, proc, t, label=3)
    with pytest.raises(ValueError, match="n must"):
        gtt.assert_denoiser_matches(exact, mix, proc, t, n=0)


def test_class_conditional_denoiser_with_x64_off():
    mix = gt.random_mixture(jax.random.PRNGKey(2), K=3, d=4, cov_kind="class_full")
    proc, t = gt.EDM(), 0.9
    dense = mix.component_covariances()

    def conditional(x, t_):  # E[X_0 | X_t = x, Z = 1]: one Wiener filter
        C = t_**2 * np.eye(4) + dense[1]
        return mix.means[1] + np.linalg.solve(C, (np.asarray(x) - mix.means[1]).T).T @ dense[1]

    with jax.enable_x64(False):
        gtt.assert_denoiser_matches(conditional, mix, proc, t, key=5, label=1)
        with pytest.raises(AssertionError, match="denoiser differs"):
            gtt.assert_denoiser_matches(conditional, mix, proc, t, key=5, label=2)


@settings(max_examples=5)
@given(data=st.data())
def test_time_grids_are_float64_with_x64_off(data):
    with jax.enable_x64(False):
        t = data.draw(gtt.time_grids(gt.OU(), n=7))
    lam = -np.log(np.expm1(2.0 * t))  # OU: λ = −log(e^{2t} − 1)
    assert t.dtype == np.float64 and np.all((lam >= -6.0 - 1e-9) & (lam <= 6.0 + 1e-9))
    assert np.any(t != t.astype(np.float32))  # not float32 values in disguise (before: t_from_log_snr in float32)


def test_float32_results_pass_the_assertions_within_their_rounding():
    log2_32 = np.float32(np.log(2.0))  # 1.9e-9 above log 2
    one_ulp_lower = np.nextafter(log2_32, np.float32(0.0))
    t = np.array([1.0, 2.0, 3.0])
    flat = EntropyResult(t, np.array([one_ulp_lower, log2_32, one_ulp_lower], dtype=np.float32), np.zeros(3), "exact")
    gtt.assert_entropy_valid(flat, np.log(2.0))
    gtt.assert_nondecreasing(flat)
    gtt.assert_within_stderr(log2_32, 0.0, np.log(2.0))
    # float64 keeps the tight bounds; real violations in float32 are still caught
    with pytest.raises(AssertionError):
        gtt.assert_within_stderr(np.log(2.0) + 1e-9, 0.0, np.log(2.0))
    with pytest.raises(AssertionError, match="decreases"):
        gtt.assert_nondecreasing(EntropyResult(t, np.float32([0.5, 0.4, 0.6]), np.zeros(3), "exact"))
    with pytest.raises(AssertionError, match="outside"):
        gtt.assert_entropy_valid(EntropyResult(t, np.float32([0.1, 0.2, 0.7]), np.zeros(3), "exact"), np.log(2.0))


@pytest.mark.slow
def test_import_without_hypothesis_gives_an_install_hint():
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "try:\n    import gmmtheory.testing\nexcept ImportError as e:\n"
            "    print(type(e).__name__, '|', e)\nelse:\n    print('imported')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out.startswith("ImportError |") and "pip install 'gmmtheory[test]'" in out
