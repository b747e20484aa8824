"""The jaxtyping shape annotations of the public functions (aliases in ``gmmtheory._types``), checked at run time.

Each function is wrapped with ``jaxtyping.jaxtyped(typechecker=beartype.beartype)`` and called on real inputs
(preset mixtures, OU/EDM/VP processes, scalar, list and array times, float32 and float64 inputs, jax's x64 on and
off): the checker must pass, inputs and outputs alike, with the dimensions bound consistently within a call. The
negative tests show that a wrong shape is caught, and by whom: the checker (``TypeCheckError``) where the shape is
visible in the arrays, the library's own ``ValueError`` where it is not (the dimension d lives in the mixture object,
which jaxtyping cannot see). The last test reads the signatures: every public function of the annotated modules has
jaxtyping annotations on its array parameters and no bare array type in its return annotation.
"""

from __future__ import annotations

import inspect
import types
import typing

import beartype
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import AbstractArray, TypeCheckError, jaxtyped

from gmmtheory import posterior, processes, schedules
from gmmtheory.entropy import api, quadrature, rate
from gmmtheory.mixture import GaussianMixture, Partition
from gmmtheory.presets import k_classes, random_mixture, two_gaussians
from gmmtheory.processes import EDM, OU, VE, VP, Flow, Process


def checked(fn):
    """``fn`` with its annotations enforced (jaxtyping dimensions + beartype types)."""
    return jaxtyped(typechecker=beartype.beartype)(fn)


N = 5  # points per batch
# few distinct shapes (eager jax compiles every operation once per shape): d = 4 throughout, K = 2 except FULL
TWO = two_gaussians(4)
KCL = k_classes(2, 4, geometry="simplex")
FULL = random_mixture(0, 3, 4, "class_full")  # K = 3, per-class full covariances
# each mixture with one process
CASES = {"two_gaussians-OU": (TWO, OU()), "k_classes-EDM": (KCL, EDM()), "random_class_full-VP": (FULL, VP())}
# times broadcastable to a batch of N points: scalar, list, numpy array, float32 jax array
BATCH_TIMES = {
    "scalar": 0.4,
    "list": [0.2, 0.3, 0.4, 0.5, 0.6],
    "numpy": np.linspace(0.2, 0.6, N),
    "jax_f32": jnp.linspace(0.2, 0.6, N, dtype=jnp.float32),
}


def _points(mixture: GaussianMixture, dtype, shape=(N,)) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(*shape, mixture.d)).astype(dtype)


def _posterior_calls(mixture: GaussianMixture, process: Process, t: object, x: object) -> None:
    """Every public posterior function once (with and without a partition, with and without labels)."""
    p = posterior
    part = Partition([[0], list(range(1, mixture.K))])  # two groups
    batch = np.shape(x)[:-1]
    labels = (np.arange(int(np.prod(batch))) % 2).reshape(batch)
    checked(p.component_log_likelihoods)(mixture, process, t, x)
    checked(p.log_class_posterior)(mixture, process, t, x)
    checked(p.log_class_posterior)(mixture, process, t, x, part)
    checked(p.class_posterior)(mixture, process, t, x)
    checked(p.log_density)(mixture, process, t, x)
    checked(p.conditional_denoisers)(mixture, process, t, x)
    checked(p.denoiser)(mixture, process, t, x)
    checked(p.denoiser)(mixture, process, t, x, 1)
    checked(p.denoiser)(mixture, process, t, x, labels, part)
    checked(p.score)(mixture, process, t, x, np.uint8(0))
    checked(p.eps_prediction)(mixture, process, t, x)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.slow
def test_posterior_functions_pass_the_checker(case: str) -> None:
    mixture, process = CASES[case]
    batch = (2, N)  # a (2, N) batch of points (one shape for every case: fewer compilations)
    if mixture is KCL:  # the same shapes as TWO: two calls suffice
        checked(posterior.log_density)(mixture, process, BATCH_TIMES["list"], _points(mixture, np.float32, batch))
        checked(posterior.denoiser)(mixture, process, 0.3, _points(mixture, np.float64, batch), 1)
        return
    if mixture is TWO:
        _posterior_calls(mixture, process, BATCH_TIMES["list"], _points(mixture, np.float32, batch))
        return
    # FULL (K = 3, per-class bases): components and groups (M = 2) are told apart
    x = _points(mixture, np.float32, batch)
    assert checked(posterior.log_class_posterior)(mixture, process, 0.3, x).shape == (*batch, 3)
    assert checked(posterior.class_posterior)(mixture, process, 0.3, x, Partition([[0], [1, 2]])).shape == (*batch, 2)
    # every form of t with float64 and float32 points (all functions share the one check of t and x, ``_prep``)
    for t in [*BATCH_TIMES.values(), np.array([[0.3], [0.5]])]:
        for dtype in (np.float64, np.float32):
            assert checked(posterior.denoiser)(mixture, process, t, _points(mixture, dtype, batch)).shape == (
                *batch, mixture.d)


def test_posterior_functions_pass_the_checker_with_x64_off() -> None:
    with jax.enable_x64(False):
        x = jnp.asarray(_points(TWO, np.float32, (2, N)))
        out = checked(posterior.component_log_likelihoods)(TWO, OU(), BATCH_TIMES["jax_f32"], x)
        assert out.dtype == jnp.float32


def test_posterior_building_blocks_pass_the_checker() -> None:
    arr = posterior.mixture_arrays(FULL)
    x = jnp.asarray(_points(FULL, np.float64, (2, N)))
    a, s2 = jnp.full((2, N), 0.8), jnp.full((2, N), 0.36)
    checked(posterior.to_bases)(arr.basis, x)
    checked(posterior.from_bases)(arr.basis, checked(posterior.to_bases)(arr.basis, x))
    checked(posterior.to_bases)(None, np.asarray(x))  # numpy in, numpy out
    r, c = checked(posterior.residuals)(arr, a, s2, x)
    checked(posterior.loglik_from_residuals)(r, c)
    ll, _ = checked(posterior.loglik_and_denoisers)(arr, a, s2, x)
    part = Partition([[0], [1, 2]])
    assert checked(posterior.group_log_probs)(jax.nn.log_softmax(ll), part).shape == (2, N, 2)
    assert checked(posterior.group_log_priors)(FULL, part).shape == (2, 3)


def test_posterior_wrong_shapes_are_caught() -> None:
    x = _points(TWO, np.float64)
    # x of dimension d + 1: jaxtyping cannot see d (it lives in the mixture), the library's ValueError catches it
    wrong_d = _points(k_classes(2, TWO.d + 1), np.float64)
    for fn in (posterior.log_class_posterior, posterior.denoiser, posterior.score, posterior.log_density):
        with pytest.raises(ValueError, match="must have shape"):
            checked(fn)(TWO, OU(), 0.3, wrong_d)
    # times not broadcastable to x.shape[:-1]: the checker catches it (BatchTimes is *#n against x's *n d)
    for t in (np.full((2, N), 0.3), np.full(N + 1, 0.3)):
        with pytest.raises(TypeCheckError):
            checked(posterior.denoiser)(TWO, OU(), t, x)
    # a 2-D list of times is not a NumberList: the checker (the library itself would broadcast it)
    with pytest.raises(TypeCheckError):
        checked(posterior.log_density)(TWO, OU(), [[0.3] * N], x)
    # complex times and float labels: the checker
    with pytest.raises(TypeCheckError):
        checked(posterior.log_density)(TWO, OU(), np.full(N, 0.3 + 0j), x)
    with pytest.raises(TypeCheckError):
        checked(posterior.denoiser)(TWO, OU(), 0.3, x, np.zeros(N))
    # building blocks: inconsistent d between the basis and the points, or between r and c
    arr = posterior.mixture_arrays(FULL)
    with pytest.raises(TypeCheckError):
        checked(posterior.to_bases)(arr.basis, jnp.ones((N, FULL.d + 1)))
    with pytest.raises(TypeCheckError):
        checked(posterior.loglik_from_residuals)(jnp.ones((N, 3, 4)), jnp.ones((N, 3, 2)))


ALL_PROCESSES = [OU(), VP(), EDM(0.5), VE(), Flow()]
PROCESS_TIMES = {"scalar": 0.3, "list": [0.2, 0.4], "jax_f32": jnp.array([0.2, 0.4], dtype=jnp.float32)}
TIMES_2D = np.array([[0.2, 0.3], [0.4, 0.5]])


@pytest.mark.parametrize("process", ALL_PROCESSES, ids=repr)
def test_process_methods_pass_the_checker(process: Process) -> None:
    cls = type(process)
    if isinstance(process, OU):  # the autodiff methods compile per process and shape: OU only
        assert checked(cls.diffusion_sq)(process, 0.3).shape == ()  # through drift and the autodiff helper
        assert checked(cls.alpha)(process, 1).shape == ()  # an int time (Real, not only Float)
    for t in PROCESS_TIMES.values():
        for name in ("alpha", "sigma", "log_snr"):
            out = checked(getattr(cls, name))(process, t)
            assert out.shape == np.shape(t)
    t = TIMES_2D
    lam = checked(cls.log_snr)(process, t)
    assert checked(cls.t_from_log_snr)(process, lam).shape == t.shape
    checked(cls.snr)(process, t)
    checked(cls.t_from_snr)(process, jnp.exp(lam))
    checked(cls.t_from_sigma_ve)(process, jnp.exp(-0.5 * lam))
    checked(cls.convert)(process, t, OU())
    with jax.enable_x64(False):
        out = checked(cls.alpha)(process, np.float32(0.3))
        assert out.dtype == jnp.float32
    checked(processes.time_factors)(process, [0.2, 0.4])
    checked(processes.time_factors)(process, 0.3)


def test_discrete_schedule_methods_pass_the_checker() -> None:
    ddpm = VP.ddpm_linear(100)
    t = np.array([[2.0, 3.5], [10.0, 50.0]])
    assert checked(type(ddpm).alpha)(ddpm, t).shape == (2, 2)
    assert checked(type(ddpm).t_from_log_snr)(ddpm, checked(type(ddpm).log_snr)(ddpm, t)).shape == (2, 2)


def test_process_wrong_inputs_are_caught() -> None:
    for bad in ("0.3", np.array([0.3 + 1j]), [[0.2, 0.3]], np.array([True])):
        with pytest.raises(TypeCheckError):
            checked(OU.alpha)(OU(), bad)
    with pytest.raises(TypeCheckError):  # time_factors takes a time or a 1-D grid
        checked(processes.time_factors)(OU(), np.full((2, 2), 0.3))
    with pytest.raises(TypeCheckError):
        checked(VP.from_betas)(np.full((2, 3), 0.01))
    checked(VP.from_betas)([0.01, 0.02, 0.03])


# one time each (the quadrature compiles per number of times)
ENTROPY_TIMES = {"scalar": 0.5, "list": [0.5], "numpy": np.array([0.5]), "numpy_f32": np.array([0.5], np.float32),
                 "jax_f32": jnp.array([0.5], jnp.float32), "int": 1}


def test_entropy_functions_pass_the_checker() -> None:
    for t in ENTROPY_TIMES.values():
        assert checked(api.class_entropy)(TWO, OU(), t).value.shape == np.shape(t)
        assert checked(rate.entropy_rate)(TWO, OU(), t, wrt="log_snr").value.shape == np.shape(t)
    for fn in (api.mutual_information, api.collision_probability, api.bayes_error):
        checked(fn)(TWO, OU(), ENTROPY_TIMES["list"], partition=Partition([[0], [1]]))
    checked(api.posterior_statistic)(TWO, OU(), ENTROPY_TIMES["numpy"], "entropy")
    # every kind of key (checked before the method runs; the quadrature ignores it)
    for key in (jax.random.key(1), jax.random.PRNGKey(2), np.uint32([0, 3]), 4, np.int64(5), None):
        checked(api.class_entropy)(TWO, OU(), [0.5], key=key)
    with jax.enable_x64(False):
        checked(api.class_entropy)(TWO, OU(), np.float32(0.5))
        checked(rate.entropy_rate)(TWO, OU(), [0.5])


def test_entropy_wrong_shapes_are_caught() -> None:
    grid_2d = np.full((2, 2), 0.5)
    for fn in (api.class_entropy, api.mutual_information, api.collision_probability, api.bayes_error,
               rate.entropy_rate):
        with pytest.raises(TypeCheckError):  # the checker: a time or a 1-D grid is declared
            checked(fn)(TWO, OU(), grid_2d)
        with pytest.raises(ValueError, match="scalar or a 1-D array"):  # and the library's own check
            fn(TWO, OU(), grid_2d)
    with pytest.raises(TypeCheckError):  # a float is no PRNG key
        checked(api.class_entropy)(FULL, OU(), 0.5, n_samples=30, key=0.5)
    with pytest.raises(TypeCheckError):  # a raw key has shape (2,)
        checked(api.class_entropy)(FULL, OU(), 0.5, n_samples=30, key=np.uint32([0, 1, 2]))


def test_binary_channel_functions_pass_the_checker() -> None:
    for s in (0.5, [0.1, 2.0], np.array([[0.1, 1.0], [3.0, 5.0]]), np.float32(0.5), jnp.array([1.0], jnp.float32)):
        out = checked(rate.binary_mmse)(s, [0.3, 0.7])
        assert np.shape(out) == np.shape(s)
        checked(rate.binary_mmse)(s)
        lam = np.asarray(s) - 1.0
        checked(rate.binary_snr_of_log_snr)(TWO, lam)
    for t in (0.5, [0.2, 0.4], TIMES_2D):
        checked(quadrature.binary_snr)(TWO, OU(), t)
    checked(rate.log_snr_and_slope)(OU(), [0.2, 0.5])
    with jax.enable_x64(False):
        checked(quadrature.binary_snr)(TWO, OU(), np.array([0.2, 0.5], np.float32))
    with pytest.raises(TypeCheckError):  # two weights are declared
        checked(rate.binary_mmse)(0.5, np.array([0.2, 0.3, 0.5]))
    with pytest.raises(TypeCheckError):  # a grid of times is 1-D
        checked(rate.log_snr_and_slope)(OU(), np.full((2, 2), 0.3))


def test_schedules_and_sampling_pass_the_checker() -> None:
    assert checked(schedules.edm_sigma_grid)(8).shape == (8,)
    for t in (0.3, [0.2, 0.4], np.array([0.2, 0.4], np.float32)):
        checked(schedules.time_to_log_snr)(OU(), t)  # float64 inside: one compilation for the (2,)-shaped times
        checked(schedules.time_grid)(OU(), t)
        checked(schedules.log_snr_to_ou_time)(t)
    checked(schedules.log_snr_to_ou_time)(np.zeros((2, 3)))
    checked(schedules.default_times)(VP())
    checked(schedules.time_grid)(EDM())
    for mixture, key in ((TWO, 0), (KCL, None), (TWO, jax.random.PRNGKey(1))):  # typed keys: in the entropy test
        x, z = checked(GaussianMixture.sample)(mixture, key, 7)
        assert x.shape == (7, mixture.d) and z.shape == (7,)
    with pytest.raises(TypeCheckError):
        checked(schedules.time_to_log_snr)(OU(), np.zeros((2, 2)))
    with pytest.raises(TypeCheckError):
        checked(GaussianMixture.sample)(TWO, 0.5, 7)
    with pytest.raises(TypeCheckError):  # beartype: n_steps is an int
        checked(schedules.edm_sigma_grid)(8.0)


# ------------------------------------------------------------------------------------------ every public function
# Modules whose public functions (and public methods of their classes) must all be annotated; for the modules only
# partly annotated so far, the annotated names. Validators (check_*) take any object by design and are exempt.
FULLY = [posterior, processes, schedules, api, rate]
PARTLY = {"gmmtheory.entropy.quadrature.binary_snr": quadrature.binary_snr,
          "gmmtheory.mixture.GaussianMixture.sample": GaussianMixture.sample}
# parameters that hold arrays (or times, labels, keys) wherever they occur
ARRAY_NAMES = {"t", "x", "lam", "s", "weights", "label", "snr", "sigma_ve", "times", "key", "v", "r", "c", "a",
               "s2", "log_p", "basis", "betas", "alphas_cumprod"}
BARE = (np.ndarray, jax.Array)
SCALARS = (float, int, type(None))


def _public(module: types.ModuleType) -> list[tuple[str, typing.Callable]]:
    found = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            found.append((name, obj))
        elif inspect.isclass(obj):
            for meth_name, meth in vars(obj).items():
                fn = meth.__func__ if isinstance(meth, (staticmethod, classmethod)) else meth
                if inspect.isfunction(fn) and not meth_name.startswith("_"):
                    found.append((f"{name}.{meth_name}", fn))
    return [(n, f) for n, f in found if not n.split(".")[-1].startswith("check_")]


def _parts(hint: object) -> list[object]:
    """The hint and every type nested in it (unions, tuple[...], dict[...], Sequence[...])."""
    out = [hint]
    for arg in typing.get_args(hint):
        out += _parts(arg)
    return out


def _has_jaxtyping(hint: object) -> bool:
    return any(isinstance(h, type) and issubclass(h, AbstractArray) for h in _parts(hint))


def _only_scalars(hint: object) -> bool:
    """A plain Python number (``lam: float``), possibly optional: a scalar parameter, not an array."""
    return all(h in SCALARS for h in _parts(hint) if not typing.get_args(h))


def _has_bare_array(hint: object) -> bool:
    return any(h in BARE for h in _parts(hint))


def _targets() -> list[tuple[str, typing.Callable]]:
    out = [(f"{m.__name__}.{n}", f) for m in FULLY for n, f in _public(m)]
    return out + list(PARTLY.items())


def test_every_public_function_has_shape_annotations_that_resolve() -> None:
    targets = _targets()
    assert len(targets) > 40  # the listing found the functions
    bad = []
    for name, fn in targets:
        hints = typing.get_type_hints(fn)  # the annotations resolve (as beartype and jaxtyping evaluate them)
        for pname, param in inspect.signature(fn).parameters.items():
            if pname == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            hint = hints.get(pname)
            needs = (pname in ARRAY_NAMES and not _only_scalars(hint)) or _has_bare_array(hint)
            if needs and (not _has_jaxtyping(hint) or _has_bare_array(hint)):
                bad.append(f"{name}({pname}: {hint})")
        if _has_bare_array(hints.get("return")):
            bad.append(f"{name} -> {hints.get('return')}")
    assert not bad, "parameters or returns without jaxtyping shapes:\n" + "\n".join(bad)
