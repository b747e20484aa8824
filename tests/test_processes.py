"""Forward processes: closed forms, SNR bookkeeping, conversions, SDE coefficients, discrete schedules, validation.

Every expected value is computed independently of ``gmmtheory.processes``: closed forms written with ``math`` /
numpy (the table in docs/theory.md §2 and the processes docstring), numpy cumulative products of β tables, central
finite differences of those closed forms, and the published numbers of docs/theory.md §9 and k-diffusion (SD1.5 σ
range).
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gmmtheory as gt
from gmmtheory.processes import check_times

# ------------------------------------------------------------------------------------------ reference closed forms
DDPM_BETAS = np.linspace(1e-4, 0.02, 1000)
SD15_BETAS = np.linspace(math.sqrt(0.00085), math.sqrt(0.012), 1000) ** 2


def _disc_log_snr_table(p: gt.DiscreteVP) -> np.ndarray:
    ab = np.array(p.alphas_cumprod)
    return np.log(ab / (1.0 - ab))


def ref_alpha_sigma(p: gt.Process, t) -> tuple[np.ndarray, np.ndarray]:
    """(a(t), σ(t)) from the closed forms of docs/theory.md §2, in numpy, independent of the library."""
    t = np.asarray(t, dtype=np.float64)
    if isinstance(p, gt.OU):
        return np.exp(-t), np.sqrt(1.0 - np.exp(-2.0 * t))
    if isinstance(p, gt.VP):
        B = p.beta_min * t + 0.5 * (p.beta_max - p.beta_min) * t**2
        return np.exp(-0.5 * B), np.sqrt(1.0 - np.exp(-B))
    if isinstance(p, gt.VE):
        return np.ones_like(t), np.sqrt(t)
    if isinstance(p, gt.EDM):
        return np.full_like(t, p.sigma_data), t.copy()
    if isinstance(p, gt.Flow):
        return 1.0 - t, t.copy()
    if isinstance(p, gt.DiscreteVP):
        table = _disc_log_snr_table(p)
        lam = np.interp(t, np.arange(table.size, dtype=np.float64), table)
        abar = 1.0 / (1.0 + np.exp(-lam))
        return np.sqrt(abar), np.sqrt(1.0 - abar)
    raise AssertionError(p)


def ref_log_snr(p: gt.Process, t) -> np.ndarray:
    a, s = ref_alpha_sigma(p, t)
    return np.log(a**2 / s**2)


def ref_drift_diffusion(p: gt.Process, t: float) -> tuple[float, float]:
    """Closed-form f = d log a/dt and g² = dσ²/dt − 2fσ² (derived by hand from the table)."""
    if isinstance(p, gt.OU):
        return -1.0, 2.0
    if isinstance(p, gt.VP):
        beta = p.beta_min + t * (p.beta_max - p.beta_min)
        return -0.5 * beta, beta
    if isinstance(p, gt.VE):
        return 0.0, 1.0
    if isinstance(p, gt.EDM):
        return 0.0, 2.0 * t
    if isinstance(p, gt.Flow):
        return -1.0 / (1.0 - t), 2.0 * t / (1.0 - t)
    raise AssertionError(p)


# processes with the times (inside each domain, away from the singular ends) used throughout
CASES = [
    (gt.OU(), [0.02, 0.3, 1.0, 2.5, 6.0]),
    (gt.VP(), [0.01, 0.1, 0.4, 0.75, 1.0]),
    (gt.VP(beta_min=1.0, beta_max=1.0), [0.05, 0.3, 0.6, 0.99]),  # constant β (the db == 0 branch)
    (gt.VP(beta_min=0.5, beta_max=8.0), [0.05, 0.3, 0.6, 0.99]),
    (gt.VE(), [1e-4, 0.01, 1.0, 25.0, 6400.0]),
    (gt.EDM(), [0.002, 0.1, 1.0, 5.0, 80.0]),
    (gt.EDM(sigma_data=0.5), [0.002, 0.1, 1.0, 5.0, 80.0]),
    (gt.Flow(), [0.01, 0.25, 0.5, 0.8, 0.99]),
    (gt.VP.ddpm_linear(), [0.0, 1.0, 10.5, 400.25, 998.0]),
    (gt.VP.sd15(), [0.0, 3.0, 250.75, 700.0, 999.0]),
]
IDS = ["OU", "VP", "VP-constbeta", "VP-0.5-8", "VE", "EDM", "EDM-0.5", "Flow", "DDPM", "SD15"]
CONTINUOUS = [c for c, i in zip(CASES, IDS) if i not in ("DDPM", "SD15")]
CONTINUOUS_IDS = [i for i in IDS if i not in ("DDPM", "SD15")]


# ---------------------------------------------------------------------------------------------- a(t), σ(t), λ(t)
@pytest.mark.parametrize("proc, times", CASES, ids=IDS)
def test_alpha_sigma_match_closed_forms(proc, times):
    a_ref, s_ref = ref_alpha_sigma(proc, times)
    np.testing.assert_allclose(np.asarray(proc.alpha(np.array(times))), a_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(proc.sigma(np.array(times))), s_ref, rtol=1e-12, atol=1e-15)
    # scalar input gives a scalar with the same value
    for t, a, s in zip(times, a_ref, s_ref):
        assert np.shape(proc.alpha(t)) == () and np.shape(proc.sigma(t)) == ()
        assert float(proc.alpha(t)) == pytest.approx(a, rel=1e-12)
        assert float(proc.sigma(t)) == pytest.approx(s, rel=1e-12)


@pytest.mark.parametrize("proc, times", CASES, ids=IDS)
def test_log_snr_is_log_alpha2_over_sigma2(proc, times):
    t = np.array(times)
    lam = np.asarray(proc.log_snr(t))
    np.testing.assert_allclose(lam, ref_log_snr(proc, t), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(proc.snr(t)), np.exp(ref_log_snr(proc, t)), rtol=1e-10)
    # SNR falls in forward time
    assert np.all(np.diff(lam) < 0)
    assert np.all(np.asarray(proc.dlog_snr_dt(t)) < 0)


@pytest.mark.parametrize(
    "proc, times", [c for c, i in zip(CASES, IDS) if i in ("OU", "VP", "VP-constbeta", "VP-0.5-8", "DDPM", "SD15")]
)
def test_variance_preserving(proc, times):
    t = np.array(times)
    a, s = np.asarray(proc.alpha(t)), np.asarray(proc.sigma(t))
    np.testing.assert_allclose(a**2 + s**2, 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("proc, times", CASES, ids=IDS)
def test_t_from_log_snr_inverts_log_snr(proc, times):
    t = np.array(times)
    t_back = np.asarray(proc.t_from_log_snr(proc.log_snr(t)))
    np.testing.assert_allclose(t_back, t, rtol=1e-9, atol=1e-9)
    # the other direction, for λ values the process reaches
    lam = lam_grid(proc, n=9)
    np.testing.assert_allclose(np.asarray(proc.log_snr(proc.t_from_log_snr(lam))), lam, rtol=0, atol=1e-9)
    # and the SNR variants
    np.testing.assert_allclose(np.asarray(proc.t_from_snr(np.exp(lam))), np.asarray(proc.t_from_log_snr(lam)),
                               rtol=1e-12)


@pytest.mark.parametrize("proc, times", CASES, ids=IDS)
@settings(max_examples=15)
@given(u=st.floats(0.0, 1.0, allow_nan=False))
def test_round_trip_property(proc, times, u):
    lo, hi = lam_range(proc, -8.0, 8.0)
    lam = lo + u * (hi - lo)
    t = float(proc.t_from_log_snr(lam))
    assert proc.t_min <= t <= proc.t_max
    assert float(ref_log_snr(proc, t)) == pytest.approx(lam, abs=1e-8)


@pytest.mark.parametrize(
    "p, q",
    list(itertools.product([c[0] for c in CASES], repeat=2)),
    ids=[f"{a}->{b}" for a, b in itertools.product(IDS, repeat=2)],
)
def test_convert_preserves_snr(p, q):
    lam = lam_grid(p, q, n=7)
    # times of p and q with these SNRs, located independently of the library by bisection on the closed forms
    t_p = bisect_times(p, lam)
    t_q = np.asarray(p.convert(t_p, q))
    np.testing.assert_allclose(ref_log_snr(q, t_q), lam, rtol=0, atol=1e-7)
    np.testing.assert_allclose(t_q, bisect_times(q, lam), rtol=1e-7, atol=1e-9)


def lam_range(p: gt.Process, lo: float = -6.0, hi: float = 6.0) -> tuple[float, float]:
    """[lo, hi] shrunk to the log-SNRs process p reaches (finite domains end at a finite λ)."""
    with np.errstate(divide="ignore"):
        if math.isfinite(p.t_max):
            lo = max(lo, float(ref_log_snr(p, p.t_max)) + 1e-3)
        lo_end = float(ref_log_snr(p, p.t_min))
    if math.isfinite(lo_end):
        hi = min(hi, lo_end - 1e-3)
    return lo, hi


def lam_grid(*procs: gt.Process, n: int) -> np.ndarray:
    lo, hi = -6.0, 6.0
    for p in procs:
        lo, hi = lam_range(p, lo, hi)
    assert lo < hi
    return np.linspace(lo, hi, n)


def bisect_times(p: gt.Process, lam: np.ndarray) -> np.ndarray:
    """Times with closed-form log-SNR lam, by vectorised bisection (λ decreases in t)."""
    lam = np.asarray(lam, dtype=np.float64)
    lo = np.full_like(lam, p.t_min)
    hi = np.full_like(lam, p.t_max if math.isfinite(p.t_max) else 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        while not math.isfinite(p.t_max) and np.any(ref_log_snr(p, hi) > lam):
            hi = hi * 2.0
        for _ in range(120):
            mid = 0.5 * (lo + hi)
            above = ref_log_snr(p, mid) > lam
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
    return 0.5 * (lo + hi)


def test_convert_is_a_group_action():
    """p → q → r equals p → r, and p → p is the identity."""
    ou, ve, flow, vp = gt.OU(), gt.VE(), gt.Flow(), gt.VP()
    t = np.array([0.1, 0.7, 2.0])
    np.testing.assert_allclose(np.asarray(ou.convert(t, ou)), t, rtol=1e-12)
    via = np.asarray(ve.convert(ou.convert(t, ve), flow))
    np.testing.assert_allclose(via, np.asarray(ou.convert(t, flow)), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(flow.convert(ou.convert(t, flow), vp)), np.asarray(ou.convert(t, vp)),
                               rtol=1e-10)


# ---------------------------------------------------------------------------------------------- OU ↔ VE / EDM
def test_ou_ve_relation():
    """OU time and VE σ (unit data scale) correspond by t = ½ log(1 + σ²) (docs/theory.md §2)."""
    sig = np.array([0.002, 0.1, 0.5, 1.0, 3.0, 80.0])
    expected = 0.5 * np.log1p(sig**2)
    np.testing.assert_allclose(np.asarray(gt.VE().convert(sig**2, gt.OU())), expected, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(gt.EDM().convert(sig, gt.OU())), expected, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(gt.OU().t_from_sigma_ve(sig)), expected, rtol=1e-10)
    # inverse: σ² = e^{2t} − 1
    t = np.array([0.01, 0.5, 1.0, 3.0])
    np.testing.assert_allclose(np.asarray(gt.OU().convert(t, gt.VE())), np.expm1(2 * t), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(gt.OU().convert(t, gt.EDM())), np.sqrt(np.expm1(2 * t)), rtol=1e-10)


def test_edm_sigma_data_scaling():
    """EDM(σ_data): γ = σ_data²/σ², so OU time is ½ log(1 + σ²/σ_data²)."""
    sig = np.array([0.01, 0.3, 2.0, 40.0])
    edm = gt.EDM(sigma_data=0.5)
    np.testing.assert_allclose(np.asarray(edm.convert(sig, gt.OU())), 0.5 * np.log1p(sig**2 / 0.25), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(edm.alpha(sig)), 0.5)
    np.testing.assert_allclose(np.asarray(edm.snr(sig)), 0.25 / sig**2, rtol=1e-12)


@pytest.mark.parametrize("Lam, tS, step", [(7.66, 1.018, 446), (16.72, 1.408, 526), (60.52, 2.052, 635)])
def test_ou_speciation_time_maps_to_ddpm_step(Lam, tS, step):
    """docs/theory.md §9 / Biroli et al. Table 1: t_S = ½ log Λ (OU), where a² = 1/Λ; the same SNR on the linear DDPM
    schedule lies between steps 445 and 446 (resp. 525/526, 634/635), the first step with ᾱ < 1/Λ."""
    assert float(gt.OU().alpha(tS)) ** 2 == pytest.approx(1 / Lam, rel=2e-3)
    n = float(gt.OU().convert(0.5 * math.log(Lam), gt.VP.ddpm_linear()))
    assert step - 1 < n <= step


# ---------------------------------------------------------------------------------------- SDE coefficients (FD)
@pytest.mark.parametrize("proc, times", CONTINUOUS, ids=CONTINUOUS_IDS)
def test_drift_and_diffusion_by_finite_differences(proc, times):
    t = np.array([x for x in times if proc.t_min + 1e-3 < x < min(proc.t_max, 1e6) - 1e-3])
    h = 1e-6 * np.maximum(1.0, t)

    def log_a(s):
        return np.log(ref_alpha_sigma(proc, s)[0])

    def var(s):
        return ref_alpha_sigma(proc, s)[1] ** 2

    f_fd = (log_a(t + h) - log_a(t - h)) / (2 * h)
    g2_fd = (var(t + h) - var(t - h)) / (2 * h) - 2 * f_fd * var(t)
    f = np.asarray(proc.drift(t))
    g2 = np.asarray(proc.diffusion_sq(t))
    np.testing.assert_allclose(f, f_fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g2, g2_fd, rtol=1e-6, atol=1e-8)
    closed = np.array([ref_drift_diffusion(proc, float(x)) for x in t])
    np.testing.assert_allclose(f, closed[:, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g2, closed[:, 1], rtol=1e-9, atol=1e-12)
    # dλ/dt by finite differences as well
    lam_fd = (ref_log_snr(proc, t + h) - ref_log_snr(proc, t - h)) / (2 * h)
    np.testing.assert_allclose(np.asarray(proc.dlog_snr_dt(t)), lam_fd, rtol=1e-5)


def test_discrete_vp_drift_by_finite_differences():
    p = gt.VP.ddpm_linear()
    t = np.array([10.3, 400.5, 900.7])  # inside integer segments, where λ is linear
    h = 1e-5

    def log_a(s):
        return np.log(ref_alpha_sigma(p, s)[0])

    def var(s):
        return ref_alpha_sigma(p, s)[1] ** 2

    f_fd = (log_a(t + h) - log_a(t - h)) / (2 * h)
    g2_fd = (var(t + h) - var(t - h)) / (2 * h) - 2 * f_fd * var(t)
    np.testing.assert_allclose(np.asarray(p.drift(t)), f_fd, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(p.diffusion_sq(t)), g2_fd, rtol=1e-6)
    assert np.all(np.asarray(p.diffusion_sq(t)) > 0)


def test_drift_preserves_shape():
    t = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    assert np.asarray(gt.OU().drift(t)).shape == (2, 3)
    assert np.asarray(gt.VP().diffusion_sq(t)).shape == (2, 3)


# ------------------------------------------------------------------------------------------- discrete schedules
def test_ddpm_linear_table():
    p = gt.VP.ddpm_linear()
    assert isinstance(p, gt.DiscreteVP)
    np.testing.assert_allclose(np.array(p.alphas_cumprod), np.cumprod(1 - DDPM_BETAS), rtol=1e-13)
    assert p.t_min == 0.0 and p.t_max == 999.0
    # at integer steps a² = ᾱ_n exactly (no interpolation)
    n = np.array([0, 1, 445, 446, 999])
    np.testing.assert_allclose(np.asarray(p.alpha(n)) ** 2, np.cumprod(1 - DDPM_BETAS)[n], rtol=1e-12)


@pytest.mark.parametrize("Lam, step", [(7.66, 446), (16.72, 526), (60.52, 635)])
def test_ddpm_first_step_below_theory_table(Lam, step):
    """docs/theory.md §9: for the linear DDPM schedule the first step with ᾱ < 1/Λ is 446, 526, 635."""
    p = gt.VP.ddpm_linear()
    assert p.first_step_below(1.0 / Lam) == step
    ab = np.cumprod(1 - DDPM_BETAS)
    assert ab[step] < 1 / Lam <= ab[step - 1]


def test_first_step_below_edge_cases():
    p = gt.VP.from_alphas_cumprod([0.9, 0.5, 0.1])
    assert p.first_step_below(0.95) == 0
    assert p.first_step_below(0.5) == 2  # strictly below
    assert p.first_step_below(0.05) == -1


def test_sd15_table():
    p = gt.VP.sd15()
    ab = np.cumprod(1 - SD15_BETAS)
    np.testing.assert_allclose(np.array(p.alphas_cumprod), ab, rtol=1e-13)
    assert len(p.alphas_cumprod) == 1000 and p.t_max == 999.0
    # k-diffusion's published SD1.x σ range, σ = √((1 − ᾱ)/ᾱ): σ_min ≈ 0.0292, σ_max ≈ 14.6146
    sig = np.asarray(p.sigma(np.array([0.0, 999.0]))) / np.asarray(p.alpha(np.array([0.0, 999.0])))
    assert sig[0] == pytest.approx(0.0292, abs=5e-5)
    assert sig[1] == pytest.approx(14.6146, abs=5e-4)


def test_discrete_vp_interpolates_log_snr_linearly():
    p = gt.VP.from_alphas_cumprod([0.9, 0.6, 0.2])
    lam = np.log(np.array([0.9, 0.6, 0.2]) / np.array([0.1, 0.4, 0.8]))
    assert float(p.log_snr(0.5)) == pytest.approx(0.5 * (lam[0] + lam[1]), rel=1e-12)
    assert float(p.log_snr(1.25)) == pytest.approx(0.75 * lam[1] + 0.25 * lam[2], rel=1e-12)
    assert float(p.t_from_log_snr(0.5 * (lam[1] + lam[2]))) == pytest.approx(1.5, rel=1e-12)


def test_from_betas_matches_cumprod():
    betas = np.array([0.1, 0.2, 0.3, 0.4])
    p = gt.VP.from_betas(betas)
    np.testing.assert_allclose(np.array(p.alphas_cumprod), [0.9, 0.72, 0.504, 0.3024], rtol=1e-13)


@pytest.mark.parametrize(
    "betas", [[0.1], [[0.1, 0.2]], [0.1, 0.0], [0.1, 1.0], [0.1, -0.2], [0.1, np.nan], [0.1, np.inf]]
)
def test_from_betas_rejects_bad_tables(betas):
    with pytest.raises(ValueError, match="betas"):
        gt.VP.from_betas(betas)


@pytest.mark.parametrize(
    "table", [[0.9], [0.5, 0.5], [0.4, 0.6], [1.0, 0.5], [0.9, 0.0], [0.9, np.nan], [[0.9, 0.5]]]
)
def test_discrete_vp_rejects_bad_tables(table):
    with pytest.raises(ValueError, match="alphas_cumprod"):
        gt.VP.from_alphas_cumprod(table)


# ------------------------------------------------------------------------------------------------ constructors
@pytest.mark.parametrize("kw, name", [
    (dict(beta_min=0.0), "beta_min"),
    (dict(beta_min=-1.0), "beta_min"),
    (dict(beta_min=float("nan")), "beta_min"),
    (dict(beta_min=float("inf")), "beta_min"),
    (dict(beta_min=5.0, beta_max=1.0), "beta_max"),
])
def test_vp_rejects_bad_betas(kw, name):
    with pytest.raises(ValueError, match=name):
        gt.VP(**kw)


@pytest.mark.parametrize("beta_max", [float("nan"), float("inf")])
def test_vp_rejects_nonfinite_beta_max_naming_it(beta_max):
    with pytest.raises(ValueError, match="beta_max"):
        gt.VP(beta_max=beta_max)


@pytest.mark.parametrize("sd", [0.0, -0.5, float("nan"), float("inf")])
def test_edm_rejects_bad_sigma_data(sd):
    with pytest.raises(ValueError, match="sigma_data"):
        gt.EDM(sigma_data=sd)


def test_get_process():
    assert isinstance(gt.get_process("OU"), gt.OU)
    assert isinstance(gt.get_process("ve"), gt.VE)
    assert gt.get_process("edm", sigma_data=0.5).sigma_data == 0.5
    assert isinstance(gt.get_process("Flow"), gt.Flow)
    assert gt.get_process("vp", beta_min=0.2).beta_min == 0.2
    np.testing.assert_allclose(gt.get_process("ddpm").alphas_cumprod, np.cumprod(1 - DDPM_BETAS), rtol=1e-13)
    np.testing.assert_allclose(gt.get_process("SD15").alphas_cumprod, np.cumprod(1 - SD15_BETAS), rtol=1e-13)
    with pytest.raises(ValueError, match="process"):
        gt.get_process("cosine")


# ---------------------------------------------------------------------------------------------- edm_sigma_grid
def test_edm_sigma_grid():
    g = gt.edm_sigma_grid(64)
    assert g.shape == (64,)
    assert g[0] == pytest.approx(80.0, rel=1e-12) and g[-1] == pytest.approx(0.002, rel=1e-10)
    assert np.all(np.diff(g) < 0)
    # σ^{1/ρ} is equally spaced (ρ = 7)
    r = g ** (1 / 7)
    np.testing.assert_allclose(np.diff(r), np.full(63, (0.002 ** (1 / 7) - 80 ** (1 / 7)) / 63), rtol=1e-10)
    g2 = gt.edm_sigma_grid(5, sigma_min=0.1, sigma_max=10.0, rho=1.0)
    np.testing.assert_allclose(g2, np.linspace(10.0, 0.1, 5), rtol=1e-12)
    assert gt.edm_sigma_grid(2).tolist() == pytest.approx([80.0, 0.002])


@pytest.mark.parametrize("kw, name", [
    (dict(n_steps=1), "n_steps"),
    (dict(n_steps=0), "n_steps"),
    (dict(n_steps=10.0), "n_steps"),
    (dict(n_steps=10, sigma_min=0.0), "sigma_min"),
    (dict(n_steps=10, sigma_min=-1.0), "sigma_min"),
    (dict(n_steps=10, sigma_min=90.0), "sigma_max"),
    (dict(n_steps=10, sigma_max=float("inf")), "sigma_max"),
    (dict(n_steps=10, sigma_min=float("nan")), "sigma_min"),
])
def test_edm_sigma_grid_rejects_bad_input(kw, name):
    with pytest.raises(ValueError, match=name):
        gt.edm_sigma_grid(**kw)


@pytest.mark.parametrize("rho", [0.0, float("nan"), float("inf")])
def test_edm_sigma_grid_rejects_bad_rho(rho):
    with pytest.raises(ValueError, match="rho"):
        gt.edm_sigma_grid(10, rho=rho)


# ------------------------------------------------------------------------------------------------- check_times
@pytest.mark.parametrize("proc, bad", [
    (gt.OU(), float("nan")),
    (gt.OU(), float("inf")),
    (gt.OU(), -float("inf")),
    (gt.OU(), -0.1),
    (gt.OU(), [0.1, np.nan]),
    (gt.VE(), -1e-9),
    (gt.EDM(), [1.0, -2.0]),
    (gt.Flow(), 1.5),
    (gt.Flow(), [0.2, 1.0 + 1e-9]),
    (gt.VP(), 1.2),
    (gt.VP.ddpm_linear(), 999.5),
    (gt.VP.ddpm_linear(), -1.0),
    (gt.OU(), [[0.1, 0.2]]),
    (gt.OU(), np.zeros((2, 2)) + 0.5),
    (gt.OU(), []),
    (gt.OU(), "soon"),
    (gt.OU(), [0.1, "x"]),
])
def test_check_times_rejects(proc, bad):
    with pytest.raises(ValueError, match=r"^t must"):
        check_times(bad, proc)
    with pytest.raises(ValueError, match=r"^my_times must"):
        proc.check_times(bad, name="my_times")


def test_check_times_accepts_valid_and_returns_float64():
    out = check_times(0.5, gt.OU())
    assert out.dtype == np.float64 and out.shape == ()
    out = check_times([0, 1, 2], gt.OU())
    assert out.dtype == np.float64 and out.tolist() == [0.0, 1.0, 2.0]
    assert check_times([0.0, 1.0], gt.Flow()).tolist() == [0.0, 1.0]  # closed domain ends are valid
    assert check_times(jnp.array([0.25, 0.5]), gt.VP()).tolist() == [0.25, 0.5]
    assert check_times(999, gt.VP.sd15()).tolist() == 999.0


# ---------------------------------------------------------------------------------------------- jit / vmap
@pytest.mark.parametrize("proc, times", CASES, ids=IDS)
def test_jit_matches_eager(proc, times):
    t = jnp.asarray(times)
    for fn in (proc.alpha, proc.sigma, proc.log_snr):
        np.testing.assert_allclose(np.asarray(jax.jit(fn)(t)), np.asarray(fn(t)), rtol=1e-13, atol=1e-15)
    lam = jnp.linspace(-5.0, 5.0, 5)
    np.testing.assert_allclose(np.asarray(jax.jit(proc.t_from_log_snr)(lam)), np.asarray(proc.t_from_log_snr(lam)),
                               rtol=1e-13)
    np.testing.assert_allclose(np.asarray(jax.vmap(proc.sigma)(t)), np.asarray(proc.sigma(t)), rtol=1e-13)


def test_grad_of_sigma_matches_closed_form():
    """Processes are differentiable: d/dt σ_OU(t) = e^{−2t}/σ."""
    t = 0.7
    expected = math.exp(-2 * t) / math.sqrt(1 - math.exp(-2 * t))
    assert float(jax.grad(gt.OU().sigma)(t)) == pytest.approx(expected, rel=1e-12)


def test_time_factors_match_closed_form_sde_coefficients():
    from gmmtheory.processes import time_factors

    t = np.linspace(0.05, 0.95, 5)  # 5 points: padded to 8 inside, trimmed back
    ou = time_factors(gt.OU(), t)
    np.testing.assert_allclose(ou["f"], -1.0, rtol=1e-12)  # dX = −X dt + √2 dW
    np.testing.assert_allclose(ou["g2"], 2.0, rtol=1e-10)
    np.testing.assert_allclose(ou["dlam"], -2.0 / -np.expm1(-2.0 * t), rtol=1e-10)  # λ = −log(e^{2t} − 1)
    vp = gt.VP(0.1, 20.0)
    beta = 0.1 + t * (20.0 - 0.1)
    f = time_factors(vp, t)
    np.testing.assert_allclose(f["f"], -0.5 * beta, rtol=1e-10)
    np.testing.assert_allclose(f["g2"], beta, rtol=1e-10)
    assert all(v.shape == t.shape for v in f.values())
