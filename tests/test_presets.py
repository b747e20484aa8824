"""The catalogue of named mixtures (``gmmtheory.presets.PRESETS``) and ``prior_entropy``: every entry builds, and
reproduces the arrays of an explicit numpy construction of the model it names."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gmmtheory.mixture import GaussianMixture, Partition, prior_entropy
from gmmtheory.presets import PRESETS, Preset, build_preset, imbalance_weights


def _normalised(w) -> np.ndarray:
    """Weights as ``GaussianMixture`` stores them: divided by their float sum."""
    w = np.asarray(w, dtype=np.float64)
    return w / w.sum()


def _assert_mixture(mix: GaussianMixture, means, cov, weights, cov_kind: str) -> None:
    np.testing.assert_array_equal(mix.means, np.asarray(means, dtype=np.float64))
    np.testing.assert_array_equal(mix.cov, np.asarray(cov, dtype=np.float64))
    np.testing.assert_array_equal(mix.weights, np.asarray(weights, dtype=np.float64))
    assert mix.cov_kind == cov_kind


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_with_its_defaults(name):
    out = build_preset(name)
    assert isinstance(out, Preset)
    mix, parts = out
    assert isinstance(mix, GaussianMixture) and mix.d == 100
    assert list(parts)[0] == "classes"
    for part in parts.values():
        assert isinstance(part, Partition) and part.K == mix.K
    assert parts["classes"].groups == [[k] for k in range(mix.K)]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_small(name):
    mix, _ = build_preset(name, d=8)
    assert mix.d == 8


def test_two():
    d, mu, sigma = 7, 0.3, 1.5
    mix, parts = build_preset("two", d=d, mu=mu, sigma=sigma)
    _assert_mixture(mix, [[mu] * d, [-mu] * d], sigma**2, [0.5, 0.5], "shared_iso")
    assert list(parts) == ["classes"]
    mix, _ = build_preset("two", d=3, imbalance=0.75)
    np.testing.assert_array_equal(mix.weights, _normalised([0.75, 0.25]))
    mix, _ = build_preset("two", d=3, weights=[0.75, 0.25])
    np.testing.assert_array_equal(mix.weights, _normalised([0.75, 0.25]))


def test_kclasses_and_simplex():
    K, d, mu = 4, 9, 0.5
    mix, _ = build_preset("kclasses", K=K, d=d, mu=mu)
    _assert_mixture(mix, mu * math.sqrt(d) * np.eye(K, d), 1.0, [0.25] * 4, "shared_iso")
    mix, _ = build_preset("simplex", K=K, d=d, mu=mu)
    centred = np.eye(K, d)
    centred[:, :K] -= 1.0 / K
    expected = mu * math.sqrt(d) * math.sqrt(K / (K - 1)) * centred
    np.testing.assert_allclose(mix.means, expected, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(mix.means, axis=1), mu * math.sqrt(d), rtol=1e-14)
    mix, _ = build_preset("kclasses", K=K, d=d, mu=mu, weights=[0.4, 0.3, 0.2, 0.1])
    np.testing.assert_array_equal(mix.weights, _normalised([0.4, 0.3, 0.2, 0.1]))
    mix, _ = build_preset("kclasses", K=K, d=d, imbalance=0.4)
    np.testing.assert_array_equal(mix.weights, _normalised([0.4] + [(1.0 - 0.4) / 3] * 3))


def test_hierarchical_means_and_partitions():
    d, mu, sigma = 6, 0.5, 1.0
    r = 1.0 / math.sqrt(2.0)
    for kw, mu_sub in ((dict(ratio=0.4), 0.2), (dict(mu_sub=0.2), 0.2), ({}, 0.125)):
        mix, parts = build_preset("hierarchical", d=d, mu=mu, sigma=sigma, **kw)
        u = mu * math.sqrt(d) * np.array([[r, -r], [-r, r]])
        v = mu_sub * math.sqrt(d) * np.array([[r, -r], [-r, r]])
        means = np.zeros((4, d))
        for a in range(2):
            for b in range(2):
                means[2 * a + b, :2], means[2 * a + b, 2:4] = u[a], v[b]
        np.testing.assert_allclose(mix.means, means, rtol=1e-15, atol=1e-15)
        assert mix.cov_kind == "shared_iso" and float(mix.cov) == 1.0
        np.testing.assert_array_equal(mix.weights, [0.25] * 4)
    assert list(parts) == ["classes", "coarse", "sub"]
    assert parts["coarse"].groups == [[0, 1], [2, 3]] and parts["coarse"].names == ("super0", "super1")
    assert parts["sub"].groups == [[0, 2], [1, 3]] and parts["sub"].names == ("sub0", "sub1")
    mix, _ = build_preset("hierarchical", d=d, mu=0.5, ratio=0.5, weights=[0.4, 0.3, 0.2, 0.1])
    np.testing.assert_array_equal(mix.weights, _normalised([0.4, 0.3, 0.2, 0.1]))


def test_covariance_only():
    mix, parts = build_preset("covariance_only", d=5, a=0.25)
    _assert_mixture(mix, np.zeros((2, 5)), [1.25, 0.75], [0.5, 0.5], "class_iso")
    mix, _ = build_preset("covariance_only", d=5, imbalance=0.9)
    np.testing.assert_allclose(mix.weights, [0.9, 0.1], rtol=1e-15)


def test_build_preset_refuses_unknown_names_and_parameters():
    with pytest.raises(ValueError, match=r"^preset must be one of \('two', 'kclasses'"):
        build_preset("three")
    with pytest.raises(ValueError, match=r"^preset 'two' takes the parameters .*unknown \['K'\]"):
        build_preset("two", K=3)
    with pytest.raises(ValueError, match="weights or imbalance"):
        build_preset("two", weights=[0.5, 0.5], imbalance=0.5)
    with pytest.raises(ValueError, match="^imbalance must lie strictly between 0 and 1"):
        build_preset("two", imbalance=1.0)
    with pytest.raises(ValueError, match="^d must be an integer"):
        build_preset("kclasses", d=2.0)


def test_imbalance_weights():
    assert imbalance_weights(3, None) is None
    np.testing.assert_array_equal(imbalance_weights(4, 0.4), [0.4] + [(1.0 - 0.4) / 3] * 3)


def test_prior_entropy_by_hand():
    w = np.array([0.4, 0.3, 0.2, 0.1])
    mix = GaussianMixture(np.eye(4), 1.0, w)
    assert prior_entropy(mix) == pytest.approx(-sum(p * math.log(p) for p in w), rel=1e-15)
    coarse = Partition([[0, 1], [2, 3]])
    assert prior_entropy(mix, coarse) == pytest.approx(-(0.7 * math.log(0.7) + 0.3 * math.log(0.3)), rel=1e-15)
    assert prior_entropy(mix, Partition.trivial(4)) == pytest.approx(0.0, abs=1e-15)  # the weights sum to 1 ± ε
    zero = GaussianMixture(np.eye(3), 1.0, [0.5, 0.5, 0.0])
    assert prior_entropy(zero) == pytest.approx(math.log(2), rel=1e-15)
    assert prior_entropy(zero, Partition([[0, 1], [2]])) == 0.0
    with pytest.raises(ValueError, match="partition covers 2 labels"):
        prior_entropy(mix, Partition([[0], [1]]))
    with pytest.raises(ValueError, match="^mixture must be a gmmtheory.GaussianMixture"):
        prior_entropy("two")
