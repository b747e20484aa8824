"""Bad inputs found by the reliability campaign (benchmarks/reliability.py): each is refused with a ValueError naming
the argument before any jit work, or (cache faults) survived with a CacheWarning; valid neighbours keep working."""

from __future__ import annotations

import gc
import math
import re
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

import gmmtheory as gt
from gmmtheory import phase
from gmmtheory._checks import check_key
from gmmtheory.compilation import count_compilations
from gmmtheory.mixture_io import load_mixture_file

BAD_REALS = ["a", None, 1j, True, float("nan"), float("inf")]


# ------------------------------------------------------------------------------------------------ processes
@pytest.mark.parametrize("bad", BAD_REALS, ids=repr)
@pytest.mark.parametrize("make, name", [
    (lambda v: gt.VP(beta_min=v), "beta_min"),
    (lambda v: gt.VP(beta_max=v), "beta_max"),
    (lambda v: gt.EDM(sigma_data=v), "sigma_data"),
    (lambda v: gt.VP.ddpm_linear(beta_start=v), "beta_start"),
    (lambda v: gt.VP.sd15(beta_end=v), "beta_end"),
    (lambda v: gt.edm_sigma_grid(10, sigma_min=v), "sigma_min"),
    (lambda v: gt.edm_sigma_grid(10, rho=v), "rho"),
], ids=["VP.beta_min", "VP.beta_max", "EDM.sigma_data", "ddpm.beta_start", "sd15.beta_end", "grid.sigma_min",
        "grid.rho"])
def test_process_real_parameters_refuse_non_numbers(make, name, bad):
    with pytest.raises(ValueError, match=rf"^{name} must be a finite real number \(int or float\)"):
        make(bad)


@pytest.mark.parametrize("bad", [2.5, 1000.0, -5, 0, 1, True, "10", None], ids=repr)
@pytest.mark.parametrize("make", [gt.VP.ddpm_linear, gt.VP.sd15], ids=["ddpm_linear", "sd15"])
def test_schedule_step_counts_must_be_integers_at_least_two(make, bad):
    with pytest.raises(ValueError, match=r"^n_steps must be an integer ≥ 2 \(not a float or bool\)"):
        make(n_steps=bad)


@pytest.mark.parametrize("kw, name", [
    (dict(beta_start=0.0), "beta_start"), (dict(beta_start=-1e-4), "beta_start"), (dict(beta_end=1.5), "beta_end"),
])
def test_schedule_betas_must_lie_in_the_unit_interval(kw, name):
    for make in (gt.VP.ddpm_linear, gt.VP.sd15):
        with pytest.raises(ValueError, match=rf"^{name} must lie strictly between 0 and 1"):
            make(**kw)


@pytest.mark.parametrize("make, name", [
    (lambda: gt.VP.from_betas("abc"), "betas"),
    (lambda: gt.VP.from_betas([True, False]), "betas"),
    (lambda: gt.VP.from_betas([0.1, 0.2], name=3), "name"),
    (lambda: gt.VP.from_alphas_cumprod(["0.9", "0.5"]), "alphas_cumprod"),
    (lambda: gt.VP.from_alphas_cumprod([0.9 + 0j, 0.5]), "alphas_cumprod"),
    (lambda: gt.DiscreteVP((0.9, 0.5), label=None), "label"),
    (lambda: gt.get_process("ou", beta_min=1.0), "process 'ou'"),
])
def test_discrete_schedules_and_get_process_refuse_bad_arguments(make, name):
    with pytest.raises(ValueError, match=rf"^{name}"):
        make()


def test_valid_process_parameters_keep_working():
    n = np.int64(50)  # a numpy integer count is an integer
    p = gt.VP.ddpm_linear(n_steps=n)
    np.testing.assert_allclose(p.alphas_cumprod, np.cumprod(1.0 - np.linspace(1e-4, 0.02, 50)), rtol=1e-15)
    assert gt.VP(np.float64(0.5), 10).beta_max == 10
    e = gt.EDM(sigma_data=np.array(0.5))  # a 0-d real array is a number
    assert float(e.log_snr(1.0)) == pytest.approx(2.0 * math.log(0.5), rel=1e-12)
    assert gt.get_process("vp", beta_min=0.2).beta_min == 0.2


# ------------------------------------------------------------------------------------------------------ keys
_TWO = gt.two_gaussians(4, 0.5)
_K3 = gt.k_classes(3, 4, 0.5)
_KEY_CALLS = {
    "class_entropy": lambda k: gt.class_entropy(_K3, gt.OU(), 1.0, method="montecarlo", n_samples=256, key=k),
    "mutual_information": lambda k: gt.mutual_information(_K3, gt.OU(), 1.0, method="montecarlo", n_samples=256,
                                                           key=k),
    "collision_probability": lambda k: gt.collision_probability(_K3, gt.OU(), 1.0, method="montecarlo",
                                                                n_samples=256, key=k),
    "bayes_error": lambda k: gt.bayes_error(_K3, gt.OU(), 1.0, method="montecarlo", n_samples=256, key=k),
    "entropy_rate": lambda k: gt.entropy_rate(_TWO, gt.OU(), 1.0, method="denoiser_gap", n_samples=256, key=k),
}


@pytest.mark.parametrize("bad", [np.zeros((2, 2)), np.zeros(2), np.array([0, 1], np.int64), np.zeros(3, np.uint32),
                                 True, "abc", 1.5],
                         ids=["zeros2x2", "float2", "int64x2", "uint32x3", "True", "str", "float"])
@pytest.mark.parametrize("fn", sorted(_KEY_CALLS))
def test_bad_keys_are_refused_naming_key(fn, bad):
    with (count_compilations() as counts,
          pytest.raises(ValueError, match=r"^key must be an int seed, a typed key .* or a raw uint32 key")):
        _KEY_CALLS[fn](bad)
    assert counts == {"traces": 0, "compiles": 0}  # before any jit work


def test_valid_keys_are_accepted():
    # threefry's raw key for seed s < 2³² is the pair (0, s)
    np.testing.assert_array_equal(np.asarray(check_key(7)), [0, 7])
    np.testing.assert_array_equal(np.asarray(check_key(np.array([0, 7], np.uint32))), [0, 7])
    typed = jax.random.key(3)
    assert check_key(typed) is typed
    with pytest.raises(ValueError, match=r"^key must .*typed keys of shape \(2,\)"):
        check_key(jax.random.split(typed, 2))
    with pytest.raises(ValueError, match=r"^key must .*out of range"):
        check_key(2**80)


# -------------------------------------------------------------------------------------------------- partition
@pytest.mark.parametrize("groups", [[[0.5, 1]], [[1.0, 0]], [[0], [np.float64(1)]], [[True, 0]], [["0", 1]]],
                         ids=["half", "integral_float", "np_float", "bool", "str"])
def test_partition_labels_must_be_integers(groups):
    with pytest.raises(ValueError, match=r"^partition groups must be a sequence of sequences of integer labels"):
        gt.Partition(groups)


def test_partition_accepts_numpy_integer_labels():
    p = gt.Partition([[np.int64(1)], np.array([0, 2], np.int32)])
    np.testing.assert_array_equal(p.assignment, [1, 0, 1])


# ----------------------------------------------------------------------------------------- mixture constructors
@pytest.mark.parametrize("bad", ["1", None, 1j, True, float("nan")], ids=repr)
@pytest.mark.parametrize("make, name", [
    (lambda v: gt.two_gaussians(4, mu=v), "mu"),
    (lambda v: gt.two_gaussians(4, sigma=v), "sigma"),
    (lambda v: gt.k_classes(2, 4, mu=v), "mu"),
    (lambda v: gt.random_mixture(jax.random.PRNGKey(0), 2, 3, mean_scale=v), "mean_scale"),
    (lambda v: gt.random_mixture(jax.random.PRNGKey(0), 2, 3, dirichlet="1" if v is None else v), "dirichlet"),
    (lambda v: gt.hierarchical(2, 2, 4, mu_super=v), "mu_super"),
    (lambda v: gt.hierarchical(2, 2, 4, mu_sub=v), "mu_sub"),
    (lambda v: gt.hierarchical(2, 2, 4, sigma=v), "sigma"),
], ids=["two.mu", "two.sigma", "k.mu", "random.mean_scale", "random.dirichlet", "h.mu_super", "h.mu_sub", "h.sigma"])
def test_mixture_constructors_refuse_non_numbers(make, name, bad):  # (dirichlet=None is its default: "1" instead)
    with pytest.raises(ValueError, match=rf"^{name} must be a finite real number \(int or float\)"):
        make(bad)


@pytest.mark.parametrize("make, name", [
    (lambda: gt.two_gaussians(4.0), "d"), (lambda: gt.k_classes(True, 4), "K"),
    (lambda: gt.hierarchical(2, 2.0, 4), "n_sub"), (lambda: gt.k_classes(2, "4"), "d"),
])
def test_mixture_constructor_counts_are_integers(make, name):
    with pytest.raises(ValueError, match=rf"^{name} must be an integer ≥"):
        make()


def test_mixture_constructors_accept_numpy_numbers():
    mix = gt.two_gaussians(np.int64(3), mu=np.float32(0.5), sigma=np.array(2.0))
    np.testing.assert_array_equal(mix.means, [[0.5] * 3, [-0.5] * 3])
    np.testing.assert_array_equal(mix.component_covariances(), np.broadcast_to(4.0 * np.eye(3), (2, 3, 3)))


# ------------------------------------------------------------------------------------------------ phase diagram
_T = np.linspace(0.5, 4.0, 6)


@pytest.mark.parametrize("params, match", [
    ({"mu": float("nan")}, r"params\['mu'\] must be a finite real number"),
    ({"mu": float("inf")}, r"params\['mu'\] must be a finite real number"),
    ({"mu": "1"}, r"params\['mu'\] must be a finite real number"),
    ({"variance": True}, r"params\['variance'\] must be a finite real number"),
    ({"variance": 1j}, r"params\['variance'\] must be a finite real number"),
    ({"mu": -1.0}, r"params\['mu'\] must be ≥ 0"),
    ({"imbalance": 1.0}, r"params\['imbalance'\] must lie strictly between 0 and 1"),
])
def test_phase_params_are_validated_before_any_work(params, match):
    with count_compilations() as counts, pytest.raises(ValueError, match=match):
        phase.phase_diagram({"d": [10, 100]}, _T, params=params, progress=False)
    assert counts == {"traces": 0, "compiles": 0}


@pytest.mark.parametrize("values", [["10", "100"], [True, False], [1j, 2j]], ids=["str", "bool", "complex"])
def test_phase_axis_values_must_be_real_numbers(values):
    with pytest.raises(ValueError, match=r"^axes\['d'\] must be a 1-D array of real numbers"):
        phase.phase_diagram({"d": values}, _T, progress=False)


def test_phase_fixed_mu_zero_gives_the_prior_entropy():
    # μ = 0: both classes are N(0, I), so p(z | x) = ½ and H[Z | X_t] = log 2 at every t (and the rate is 0)
    pd = phase.phase_diagram({"d": [10, 100]}, _T, params={"mu": 0.0}, quantities=("H",), progress=False)
    np.testing.assert_allclose(pd.values["H"], np.full((2, _T.size), math.log(2.0)), rtol=1e-10)


def test_phase_cache_below_a_file_is_refused_naming_cache(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("x")
    with pytest.raises(ValueError, match=r"^cache: cannot create or write the directory .*taken/sub"):
        phase.phase_diagram({"d": [10]}, _T, cache=taken / "sub", progress=False)


_FAST = dict(axes={"d": [10, 30, 100]}, t=_T, chunk_size=1, progress=False)


def _parts(cache: Path) -> list[Path]:
    return sorted(cache.rglob("part_*.npz"))


@pytest.mark.slow
def test_cache_part_replaced_by_an_empty_directory_is_recomputed(tmp_path):
    ref = phase.phase_diagram(**_FAST)
    phase.phase_diagram(**_FAST, cache=tmp_path)
    part = _parts(tmp_path)[1]
    part.unlink()
    part.mkdir()
    with pytest.warns(phase.CacheWarning, match=r"part_000001\.npz: is an empty directory, not a file"):
        pd = phase.phase_diagram(**_FAST, cache=tmp_path)
    for k in ref.values:
        np.testing.assert_array_equal(pd.values[k], ref.values[k], err_msg=k)
    assert part.is_file()  # rewritten as a part
    with warnings.catch_warnings():
        warnings.simplefilter("error", phase.CacheWarning)
        phase.phase_diagram(**_FAST, cache=tmp_path)  # and reused without complaint


def test_cache_meta_replaced_by_an_empty_directory_is_rewritten(tmp_path):
    phase.phase_diagram(**_FAST, cache=tmp_path)
    meta = next(tmp_path.rglob("meta.json"))
    meta.unlink()
    meta.mkdir()
    with pytest.warns(phase.CacheWarning, match=r"meta\.json: is an empty directory"):
        phase.phase_diagram(**_FAST, cache=tmp_path)
    assert meta.is_file()


def test_cache_part_replaced_by_a_non_empty_directory_is_refused_naming_it(tmp_path):
    phase.phase_diagram(**_FAST, cache=tmp_path)
    part = _parts(tmp_path)[0]
    part.unlink()
    part.mkdir()
    (part / "keep.txt").write_text("user data")
    with pytest.raises(ValueError, match=rf"^cache: {part} is not a regular file"):
        phase.phase_diagram(**_FAST, cache=tmp_path)
    assert (part / "keep.txt").read_text() == "user data"  # nothing of the user's is deleted


# ------------------------------------------------------------------------------------------------ rate work limit
def test_entropy_rate_refuses_huge_n_samples_before_allocating():
    with (count_compilations() as counts,
          pytest.raises(ValueError, match=r"^n_samples=1099511627776 over 1 time\(s\) with method='denoiser_gap'"
                                          r".*limit max_work=1e\+13")):
        gt.entropy_rate(_TWO, gt.OU(), 1.0, method="denoiser_gap", n_samples=2**40)
    with pytest.raises(ValueError, match=r"method='autodiff'.*max_work"):
        gt.entropy_rate(_TWO, gt.OU(), 1.0, method="autodiff", n_samples=2**40)
    assert counts == {"traces": 0, "compiles": 0}


@pytest.mark.slow
def test_entropy_rate_max_work_keyword():
    # documented cost: 8 × the Monte Carlo entropy's n·T·K·(3d + 30 + 2M) + n·20d with n = 256, T = 2, K = 2, d = 4
    work = 8 * (256 * 2 * 2 * (3 * 4 + 30) + 256 * 20 * 4)
    expected = rf"estimated at {re.escape(f'{work:.3g}')} multiply-add units .*\(limit max_work=1;"
    with pytest.raises(ValueError, match=expected):
        gt.entropy_rate(_TWO, gt.OU(), [0.5, 1.0], method="denoiser_gap", n_samples=256, max_work=1.0)
    with pytest.raises(ValueError, match=r"^max_work must be a positive number"):
        gt.entropy_rate(_TWO, gt.OU(), 1.0, method="denoiser_gap", n_samples=256, max_work="big")
    # closed form needs no draws: a tiny limit does not apply; its value is the I-MMSE rate, checked elsewhere
    r = gt.entropy_rate(_TWO, gt.OU(), 1.0, method="closed_form", max_work=1.0)
    assert np.isfinite(r.value)
    r = gt.entropy_rate(_TWO, gt.OU(), 1.0, method="denoiser_gap", n_samples=256, max_work=None)
    assert r.n_samples == 256 and np.isfinite(r.value)


# --------------------------------------------------------------------------------- truncated .npz: no open file
def _resource_warnings(fn) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError):
            fn()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def _truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_truncated_phase_file_leaves_no_open_file(tmp_path):
    pd = phase.phase_diagram({"d": [10]}, _T, quantities=("H",), progress=False)
    path = _truncated(pd.save(tmp_path / "pd.npz"))
    assert _resource_warnings(lambda: phase.PhaseDiagram.load(path)) == []


def test_truncated_mixture_file_leaves_no_open_file(tmp_path):
    path = tmp_path / "mix.npz"
    np.savez(path, means=np.eye(2, 3), cov=np.ones(2))
    _truncated(path)
    assert _resource_warnings(lambda: load_mixture_file(path)) == []


def test_truncated_cache_part_leaves_no_open_file(tmp_path):
    phase.phase_diagram(**_FAST, cache=tmp_path)
    _truncated(_parts(tmp_path)[0])

    def rerun():
        with pytest.warns(phase.CacheWarning, match="unreadable"):
            phase.phase_diagram(**_FAST, cache=tmp_path)
        raise ValueError("done")

    assert _resource_warnings(rerun) == []
