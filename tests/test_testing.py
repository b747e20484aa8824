"""gmmtheory.testing: the strategies produce what they promise and the assertions fail when they should."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

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


def test_assert_denoiser_matches_catches_a_wrong_denoiser():
    mix = gt.k_classes(3, 5, mu=0.8)
    proc, t = gt.OU(), 0.7
    gtt.assert_denoiser_matches(lambda x, s: gt.denoiser(mix, proc, s, x), mix, proc, t, key=1)
    gtt.assert_denoiser_matches(lambda x, s: gt.denoiser(mix, proc, s, x, 2), mix, proc, t, key=1, label=2)
    wrong = lambda x, s: np.asarray(gt.denoiser(mix, proc, s, x)) * 1.01  # 1 % off in scale
    with pytest.raises(AssertionError, match="denoiser differs"):
        gtt.assert_denoiser_matches(wrong, mix, proc, t, key=1)
