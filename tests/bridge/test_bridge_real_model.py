"""Estimators for a conditional-only network (issue 16): the implied unconditional denoiser, the shared
classifier / implied-gap pass, evaluation counts, and the tracker's "implied" sampler, on the exact mixture."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gmmtheory.bridge.estimators.conditional import conditional_curves, gap_integral  # noqa: E402
from gmmtheory.bridge.estimators.implied import (  # noqa: E402
    CountingDenoiser,
    ImpliedUnconditional,
    is_conditional_only,
)
from gmmtheory.bridge.estimators.tracker import tracker_entropy  # noqa: E402
from gmmtheory.bridge.gmm import GMMDenoiser  # noqa: E402
from gmmtheory.bridge.sampling import edm_sigmas  # noqa: E402
from gmmtheory.entropy import class_entropy  # noqa: E402
from gmmtheory.entropy.rate import entropy_rate  # noqa: E402
from gmmtheory.mixture import Partition  # noqa: E402
from gmmtheory.presets import build_preset  # noqa: E402
from gmmtheory.processes import EDM  # noqa: E402


class _NoUncond:
    """The exact mixture denoiser with its unconditional output removed (a conditional-only network)."""

    conditional_only = True

    def __init__(self, model):
        self.model = model
        for a in ("shape", "num_classes", "sigma_data", "sigma_min", "sigma_max", "device", "dtype", "weights"):
            setattr(self, a, getattr(model, a))

    def __call__(self, x, sigma, label):
        if label is None:
            raise AssertionError("D(x, σ, None) called on a conditional-only model")
        return self.model(x, sigma, label)


@pytest.fixture(scope="module")
def mix():
    return build_preset("kclasses", K=3, d=4, mu=1.0).mixture


def test_implied_unconditional_equals_true_unconditional(mix):
    m = GMMDenoiser(mix)
    iu = ImpliedUnconditional(_NoUncond(m), posterior=lambda x, s: m.log_posterior(x, s))
    x0, _ = m.sample(64, 1)
    for s in (0.05, 0.7, 5.0):
        x = x0 + s * torch.randn(x0.shape, generator=torch.Generator().manual_seed(2), dtype=x0.dtype)
        # seen 2e-8 at σ = 5: the exact log_posterior path rounds at ~1e-8
        assert float((iu(x, s, None) - m(x, s, None)).abs().max()) < 1e-6
    assert torch.allclose(iu(x, 0.7, torch.zeros(64, dtype=torch.long)), m(x, 0.7, torch.zeros(64, dtype=torch.long)))


def test_implied_unconditional_classifier_posterior_close(mix):
    m = GMMDenoiser(mix)
    iu = ImpliedUnconditional(_NoUncond(m), n_levels=16, generator=3)
    x0, _ = m.sample(64, 4)
    x = x0 + 0.7 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(5), dtype=x0.dtype)
    err = (iu(x, 0.7, None) - m(x, 0.7, None)).flatten(1).norm(dim=1)
    scale = m(x, 0.7, None).flatten(1).norm(dim=1)
    assert float((err / scale).mean()) < 0.1  # classifier noise only; exact posterior: < 1e-6 (test above)


def test_implied_unconditional_rejects_bad_posterior(mix):
    with pytest.raises(ValueError, match="posterior"):
        ImpliedUnconditional(GMMDenoiser(mix), posterior="nope")


@pytest.mark.slow
def test_conditional_curves_match_exact_entropy_and_count(mix):
    m = GMMDenoiser(mix)
    c = CountingDenoiser(_NoUncond(m))
    x0, lab = m.sample(200, 1)
    sig = np.geomspace(0.05, 40.0, 16)  # dense in log σ: the gap entropy is a trapezoid integral
    out = conditional_curves(c, x0, lab, sig, n_levels=16, generator=2, partition=Partition([[0], [1, 2]]),
                             batch_size=1000)
    K, L, n = 3, 16, 200
    # per σ: classifier 2 rows per node and top (+ antithetic) × K classes, then K rows for the gap
    assert c.rows == sig.size * n * (2 * (L + 1) * K + K)
    ex = class_entropy(mix, EDM(), sig, key=3)
    meas = out["classifier"]
    se = np.sqrt(meas.stderr**2 + np.asarray(ex.stderr) ** 2) + 1e-12
    z = np.abs(meas.value - np.asarray(ex.value)) / se
    assert np.all(z[:-1] < 4), z  # the top point is H[Z] to rounding
    rate = entropy_rate(mix, EDM(), sig, wrt="log_sigma", key=8)
    meas = out["denoiser_gap_implied_rate"]
    z = np.abs(meas.value - np.asarray(rate.value)) / (np.sqrt(meas.stderr**2 + np.asarray(rate.stderr) ** 2) + 1e-12)
    assert np.all(z < 4), z
    # the gap entropy is the trapezoid integral of the rate: against the same trapezoid of the exact rate (the
    # quadrature's own error, ~3e-3 nats on this grid, is deterministic and not a Monte Carlo error)
    h_ref = gap_integral(sig, np.asarray(rate.value)[None], float(np.log(3)))[0]
    meas = out["denoiser_gap_implied"]
    keep = meas.stderr > 0
    assert np.all(np.abs(meas.value - h_ref)[keep] / meas.stderr[keep] < 4)
    assert np.all(out["classifier_partition"].value <= out["classifier"].value + 1e-12)


def test_conditional_curves_with_separate_unconditional(mix):
    m = GMMDenoiser(mix)
    x0, lab = m.sample(100, 6)
    sig = np.geomspace(0.1, 10.0, 4)
    out = conditional_curves(_NoUncond(m), x0, lab, sig, n_levels=8, generator=7, uncond=m)
    # the exact unconditional model and the implied one agree up to classifier noise
    assert np.all(out["uncond_mismatch"].value < 0.25 * out["denoiser_gap_uncond_rate"].value.max())
    assert out["denoiser_gap_uncond_rate"].value.shape == (4,)


def test_tracker_implied_sampler_never_calls_unconditional(mix):
    m = GMMDenoiser(mix)
    net = _NoUncond(m)
    assert is_conditional_only(net)
    c = CountingDenoiser(net)
    tr = tracker_entropy(c, n_samples=200, sigmas=edm_sigmas(32), generator=4)
    assert tr.meta["sampler"] == "implied"
    assert c.rows == 32 * 3 * 200
    # the same tracker with the exact unconditional denoiser in its sampler: the kernels' own bias is shared, the
    # samplers differ only by D_u (tracked-posterior mixture vs exact), so the curves agree within their errors
    ref = tracker_entropy(m, n_samples=200, sigmas=edm_sigmas(32), sampler="ancestral", generator=4)
    se = np.sqrt(tr.stderr**2 + ref.stderr**2)
    keep = se > 0
    assert np.all(np.abs(tr.value - ref.value)[keep] / se[keep] < 4)
    with pytest.raises(ValueError, match="implied"):
        tracker_entropy(m, n_samples=4, sigmas=edm_sigmas(4), classes=[0, 1], sampler="implied")
