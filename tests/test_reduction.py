"""The reduction to the span of the means: the full mixture's class posterior from the reduced coordinates."""

import numpy as np
import pytest

from gmmtheory.mixture import GaussianMixture
from gmmtheory.posterior import component_log_likelihoods, log_class_posterior
from gmmtheory.presets import build_preset
from gmmtheory.processes import OU
from gmmtheory.reduction import reduce_mixture, reduction_reason

T = 0.7


def _points(mix: GaussianMixture, n: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 2.0 * rng.normal(size=(n, mix.d)) + mix.means[0]


def _invariant_mixture(d: int = 7, seed: int = 1) -> GaussianMixture:
    """A shared full covariance whose eigenvectors 0 and 1 span the means: the span is invariant."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.normal(size=(d, d)))[0]
    lam = np.linspace(0.3, 3.0, d)
    lam[4] = lam[5]  # a repeated eigenvalue on the complement
    means = np.stack([2 * U[:, 0], U[:, 1] - U[:, 0], 0.5 * U[:, 1] + 1e-3 * U[:, 0]])
    return GaussianMixture(means, (U * lam) @ U.T)


@pytest.mark.parametrize("case", ["two", "kclasses", "hierarchical", "far", "invariant_full", "diag"])
def test_shared_kind_posterior_from_coordinates(case):
    if case == "invariant_full":
        mix = _invariant_mixture()
    elif case == "far":  # means far from the origin
        mix = GaussianMixture(build_preset("two", d=40, mu=0.5).mixture.means + 50.0, 0.7)
    elif case == "diag":  # one shared diagonal covariance; means on coordinates 0 and 2
        v = np.linspace(0.5, 2.0, 6)
        means = np.zeros((2, 6))
        means[0, 0], means[1, 2], means[1, 0] = 1.0, -2.0, 0.3
        mix = GaussianMixture(means, np.tile(v, (2, 1)), cov_kind="class_diag")
    else:
        mix = build_preset(case, d=40).mixture
    red = reduce_mixture(mix)
    assert red.kind == "shared"
    Q = red.basis
    np.testing.assert_allclose(Q.T @ Q, np.eye(red.r), atol=1e-12)
    assert red.r <= mix.K
    # every mean lies in the span
    np.testing.assert_allclose(mix.means @ Q @ Q.T, mix.means, atol=1e-10)
    x = _points(mix)
    full = np.asarray(log_class_posterior(mix, OU(), T, x))
    reduced = np.asarray(log_class_posterior(red.mixture, OU(), T, x @ Q))
    np.testing.assert_allclose(reduced, full, atol=1e-9)
    # the complement's spectrum: the full spectrum minus the one in the span, multiplicities summing to d − r
    assert int(red.orth_mult.sum()) == red.orth_dim
    full_ev = np.linalg.eigvalsh(mix.component_covariances()[0])
    rebuilt = np.sort(np.concatenate([np.repeat(red.orth_evals, red.orth_mult),
                                      np.linalg.eigvalsh(red.mixture.component_covariances()[0])]))
    np.testing.assert_allclose(rebuilt, full_ev, atol=1e-10)


def test_radial_kind_completes_the_likelihood():
    mix = build_preset("covariance_only", d=30).mixture  # equal means, per-class isotropic variances
    red = reduce_mixture(mix)
    assert red.kind == "radial" and red.r == 1
    x = _points(mix, seed=3)
    a, s2 = float(OU().alpha(T)), float(OU().sigma(T) ** 2)
    u = x @ red.basis
    rho = np.sum((x - u @ red.basis.T) ** 2, axis=1)
    full = np.asarray(component_log_likelihoods(mix, OU(), T, x))
    part = np.asarray(component_log_likelihoods(red.mixture, OU(), T, u)) + np.asarray(
        red.orthogonal_loglik(a, s2, rho))
    # equal up to the class-independent constant −(d − r)/2 · log 2π
    diff = full - part
    np.testing.assert_allclose(diff, np.broadcast_to(diff[:, :1], diff.shape), atol=1e-9)
    np.testing.assert_allclose(diff[:, 0], -0.5 * red.orth_dim * np.log(2 * np.pi), atol=1e-9)


def test_shared_kind_orthogonal_loglik_is_zero():
    red = reduce_mixture(build_preset("two", d=5).mixture)
    assert np.asarray(red.orthogonal_loglik(0.5, 0.3, np.ones(4))).shape == (4, 2)
    assert not np.any(np.asarray(red.orthogonal_loglik(0.5, 0.3, np.ones(4))))


def test_zero_means_get_one_coordinate():
    mix = GaussianMixture(np.zeros((2, 4)), np.array([1.0, 2.0]))
    red = reduce_mixture(mix)
    assert red.r == 1 and red.orth_dim == 3


@pytest.mark.parametrize("mix, words", [
    (GaussianMixture(np.eye(2, 5), np.array([[1.0] * 5, [2.0] * 5])), "different diag covariances"),
    (GaussianMixture(np.ones((2, 3)), np.array([[[2.0, 0.5, 0], [0.5, 1, 0], [0, 0, 1]]] * 2)), "different full"),
    (GaussianMixture(np.eye(2, 3), np.array([[2.0, 0.5, 0.3], [0.5, 1, 0], [0.3, 0, 1]])), "mixes the span"),
])
def test_non_reducible_mixtures_say_why(mix, words):
    reason = reduction_reason(mix)
    if "different full" in words:  # identical full matrices given per class count as shared
        assert reason is not None and "mixes the span" in reason
        return
    assert reason is not None and words in reason
    with pytest.raises(ValueError, match="no exact reduction"):
        reduce_mixture(mix)


def test_not_a_mixture():
    assert "GaussianMixture" in reduction_reason("two")
