"""The digits testbed (gmmtheory.bridge.digits): data, model, training, exact and surrogate theory, comparison.

Reference values come from independent routes: sklearn's raw pixels, numpy class statistics and the law of total
covariance, a naive numpy point-mixture Monte Carlo and gmmtheory's jax engine for the exact training-set entropy,
closed-form logistic curves for the window finder. Training runs are tiny (a few hundred steps); no timing asserts.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

import gmmtheory as gt
from gmmtheory.bridge import digits as dg
from gmmtheory.bridge.base import Denoiser, Measurement
from gmmtheory.report.bridge import write_digits

TINY = dict(steps=300, batch_size=128, width=64, depth=2, emb_dim=32, lr=2e-3, seed=0)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP spin contention on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data() -> dg.DigitsData:
    return dg.load_digits_data()


@pytest.fixture(scope="module")
def tiny(data):
    torch.manual_seed(0)
    return dg.train_digits(data=data, log_every=50, **TINY)


# ============================================================================================================ data
def test_data_shape_range_and_mapping(data):
    from sklearn.datasets import load_digits

    raw, y = load_digits(return_X_y=True)
    assert data.x.shape == (1797, 64) and data.labels.shape == (1797,)
    assert data.x.min() == -1.0 and data.x.max() == 1.0
    np.testing.assert_array_equal(data.labels, y)
    np.testing.assert_allclose(data.x, raw / 8.0 - 1.0, rtol=0, atol=1e-15)
    assert np.bincount(data.labels).tolist() == np.bincount(y).tolist()
    assert data.x_test.shape == (0, 64)
    other = dg.load_digits_data(scale=(0.0, 1.0))
    np.testing.assert_allclose(other.x, raw / 16.0, atol=1e-15)
    assert data.sigma_data == pytest.approx(float(np.std(raw / 8.0 - 1.0)))


def test_split_is_stratified_and_disjoint(data):
    split = dg.load_digits_data(test_fraction=0.25, seed=3)
    assert split.x.shape[0] + split.x_test.shape[0] == 1797
    assert split.x_test.shape[0] == 450
    full = {row.tobytes() for row in data.x}
    assert {row.tobytes() for row in split.x_test} <= full
    frac = np.bincount(split.labels_test, minlength=10) / np.bincount(data.labels)
    assert np.all(np.abs(frac - 0.25) < 0.02)


# =========================================================================================================== model
def test_protocol_and_conditioning(tiny):
    model, history = tiny
    assert isinstance(model, Denoiser)
    assert model.shape == (64,) and model.num_classes == 10
    assert model.sigma_min == 0.002 and model.sigma_max == 80.0
    assert model.weights.shape == (10,) and model.weights.sum() == pytest.approx(1.0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 64, generator=g)
    lab = torch.arange(32) % 10
    cond = model(x, 2.0, lab)
    uncond = model(x, 2.0, None)
    assert cond.shape == (32, 64) and cond.dtype == x.dtype
    assert float((cond - uncond).abs().max()) > 1e-3  # conditional and unconditional differ
    other = model(x, 2.0, (lab + 1) % 10)
    assert float((cond - other).abs().max()) > 1e-3
    # images as (n, 8, 8) give the same result; σ per sample broadcasts
    torch.testing.assert_close(model(x.view(32, 8, 8), 2.0, lab).view(32, 64), cond)
    torch.testing.assert_close(model(x, torch.full((32,), 2.0), lab), cond)
    assert len(history["loss"]) == len(history["step"]) == TINY["steps"] // 50


def test_trained_beats_trivial_denoiser(tiny, data):
    """The untrained net is exactly D = c_skip x (zero output layer); a short run must lower the EDM loss."""
    model, _ = tiny
    trivial = dg.DigitsDenoiser(dg.DigitsNet(model.config))
    sig = np.geomspace(0.05, 20, 8)
    x0, lab = data.x[:400], data.labels[:400]
    c_skip = model.sigma_data**2 / (sig[3] ** 2 + model.sigma_data**2)
    xt = torch.randn(4, 64)
    torch.testing.assert_close(trivial(xt, float(sig[3]), None), c_skip * xt)
    trained = dg.denoising_loss(model, x0, lab, sig, n_noise=2, seed=5)
    base = dg.denoising_loss(trivial, x0, lab, sig, n_noise=2, seed=5)
    diff = base.value.mean() - trained.value.mean()
    se = math.sqrt(np.sum(base.stderr**2 + trained.stderr**2)) / sig.size
    assert diff > 4 * se, (base.value, trained.value)


def test_save_load_round_trip(tiny, tmp_path):
    model, history = tiny
    path = dg.save_model(model, tmp_path / "m.pt", history)
    back, hist = dg.load_model(path)
    assert back.config == model.config
    assert hist["loss"] == history["loss"]
    x = torch.randn(8, 64)
    torch.testing.assert_close(back(x, 0.7, torch.arange(8)), model(x, 0.7, torch.arange(8)))
    torch.testing.assert_close(back(x, 0.7, None), model(x, 0.7, None))


# ========================================================================================= exact training-set curves
def _naive_entropy(X, y, sigma, n, seed):
    """H[Z | X_σ] of the point mixture by plain i.i.d. Monte Carlo with direct distances (numpy + scipy)."""
    rng = np.random.default_rng(seed)
    K = y.max() + 1
    out, se = [], []
    for s in sigma:
        i = rng.integers(0, X.shape[0], n)
        x = X[i] + s * rng.standard_normal((n, X.shape[1]))
        d2 = ((x[:, None, :] - X[None, :, :]) ** 2).sum(-1)
        logp = -d2 / (2 * s * s)
        logp -= logsumexp(logp, axis=1, keepdims=True)
        logc = np.stack([logsumexp(logp[:, y == k], axis=1) for k in range(K)], axis=1)
        h = -np.sum(np.exp(logc) * logc, axis=1)
        out.append(h.mean())
        se.append(h.std(ddof=1) / math.sqrt(n))
    return np.array(out), np.array(se)


@pytest.mark.slow
def test_empirical_entropy_matches_naive_numpy_and_engine(data):
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.choice(np.flatnonzero(data.labels == k), 10, replace=False) for k in (1, 4, 7)])
    X, y = data.x[idx], np.repeat(np.arange(3), 10)
    sig = np.array([0.6, 1.0, 1.6, 2.5, 4.0])
    H, R = dg.empirical_curves(X, y, sig, n_per_point=200, seed=1, batch_size=7)
    assert H.quantity == "entropy" and R.quantity == "rate" and H.method == "exact"
    naive, naive_se = _naive_entropy(X, y, sig, 4000, seed=2)
    assert np.all(np.abs(H.value - naive) < 4 * np.hypot(H.stderr, naive_se)), (H.value, naive)
    part = gt.Partition([list(range(0, 10)), list(range(10, 20)), list(range(20, 30))])
    mix = gt.empirical(X)
    eng = gt.class_entropy(mix, gt.EDM(), sig, partition=part, method="montecarlo", n_samples=3000, key=3)
    assert np.all(np.abs(H.value - eng.value) < 4 * np.hypot(H.stderr, eng.stderr))
    rate = gt.entropy_rate(mix, gt.EDM(), sig, wrt="log_sigma", partition=part, method="denoiser_gap",
                           n_samples=3000, key=4)
    assert np.all(np.abs(R.value - rate.value) < 4 * np.hypot(R.stderr, rate.stderr)), (R.value, rate.value)
    assert np.all(H.value >= 0) and np.all(H.value <= math.log(3)) and np.all(np.diff(H.value) > 0)


def test_empirical_limits_and_common_random_numbers(data):
    X, y = data.x[:60], data.labels[:60]
    H, R = dg.empirical_curves(X, y, np.array([1e-3, 1e-2, 1e3, 1e4]), n_per_point=2, seed=0)
    K = y.max() + 1
    p = np.bincount(y, minlength=K) / y.size
    h_prior = -np.sum(p[p > 0] * np.log(p[p > 0]))
    assert H.value[0] == pytest.approx(0.0, abs=1e-12) and R.value[0] == pytest.approx(0.0, abs=1e-12)
    assert H.value[-1] == pytest.approx(h_prior, abs=1e-4)
    # same seed → same draws; another seed → other draws
    H2, _ = dg.empirical_curves(X, y, np.array([1.0, 2.0]), n_per_point=2, seed=5)
    H3, _ = dg.empirical_curves(X, y, np.array([1.0, 2.0]), n_per_point=2, seed=5)
    H4, _ = dg.empirical_curves(X, y, np.array([1.0, 2.0]), n_per_point=2, seed=6)
    np.testing.assert_array_equal(H2.value, H3.value)
    assert not np.array_equal(H2.value, H4.value)


# ================================================================================================= surrogate, t_S
def test_surrogate_statistics_match_numpy(data):
    X, y = data.x, data.labels
    mix0 = dg.digits_surrogate(X, y, shrinkage=0.0)
    assert mix0.cov_kind == "class_full" and mix0.K == 10 and mix0.d == 64
    for k in range(10):
        Xk = X[y == k]
        np.testing.assert_allclose(mix0.means[k], Xk.mean(axis=0), atol=1e-12)
        np.testing.assert_allclose(mix0.cov[k], np.cov(Xk, rowvar=False, bias=True), atol=1e-12)
    np.testing.assert_allclose(mix0.weights, np.bincount(y) / y.size, atol=1e-15)
    # law of total covariance: the surrogate's covariance is the data's
    np.testing.assert_allclose(mix0.data_covariance(), np.cov(X, rowvar=False, bias=True), atol=1e-12)
    alpha = 0.05
    mix = dg.digits_surrogate(X, y, shrinkage=alpha)
    S3 = np.cov(X[y == 3], rowvar=False, bias=True)
    np.testing.assert_allclose(mix.cov[3], (1 - alpha) * S3 + alpha * np.trace(S3) / 64 * np.eye(64), atol=1e-12)
    assert np.linalg.eigvalsh(mix.cov[3]).min() >= alpha * np.trace(S3) / 64 * (1 - 1e-9)


def test_speciation_landmark(data):
    mix0 = dg.digits_surrogate(data.x, data.labels, shrinkage=0.0)
    spec = dg.speciation_landmark(data.x, mix0)
    lam = np.linalg.eigvalsh(np.cov(data.x, rowvar=False, bias=True))[-1]
    assert spec["top_eigenvalue"] == pytest.approx(lam, rel=1e-12)
    assert spec["t_speciation_ou"] == pytest.approx(0.5 * math.log(lam), rel=1e-12)
    # OU time t ↔ EDM σ at equal SNR: 1/(e^{2t} − 1) = 1/σ², so σ_S = √(Λ − 1)
    assert spec["sigma_speciation"] == pytest.approx(math.sqrt(lam - 1), rel=1e-9)
    assert spec["surrogate_top_eigenvalue"] == pytest.approx(lam, rel=1e-9)
    assert spec["surrogate_sigma_speciation"] == pytest.approx(math.sqrt(lam - 1), rel=1e-9)


# ===================================================================================================== windows
def test_measured_window_on_a_logistic_curve():
    """H = h0 · sigmoid((ℓ − c)/w) in ℓ = log σ: crossings c + w log(q/(1−q)), rate peak at c (exact math)."""
    c, w, h0 = 0.4, 0.6, math.log(10)
    ls = np.linspace(-4, 4, 401)
    H = h0 / (1 + np.exp(-(ls - c) / w))
    rate = H * (1 - H / h0) / w
    m = Measurement(np.exp(ls), H, np.full(ls.size, 0.01), "entropy", "test")
    r = Measurement(np.exp(ls), rate, np.zeros(ls.size), "rate", "test")
    for win in (dg.measured_window(m, h0, r), dg.measured_window(m, h0)):
        assert win["h50"] == pytest.approx(c, abs=2e-4)
        assert win["h10"] == pytest.approx(c + w * math.log(1 / 9), abs=2e-3)
        assert win["h90"] == pytest.approx(c + w * math.log(9), abs=2e-3)
        assert win["width"] == pytest.approx(2 * w * math.log(9), abs=4e-3)
        assert win["peak"] == pytest.approx(c, abs=2e-3)
        assert win["peak_rate"] == pytest.approx(h0 / (4 * w), rel=1e-3)
        # stderr / slope at the half point: 0.01 / (h0 / (4w))
        assert win["h50_err"] == pytest.approx(0.01 * 4 * w / h0, rel=1e-2)
    short = Measurement(np.exp(ls[:100]), H[:100], np.zeros(100), "entropy", "test")  # never reaches 50 %
    assert math.isnan(dg.measured_window(short, h0)["h50"])


# ================================================================================================== classifier
def test_classifier_held_out_accuracy():
    clf = dg.digits_classifier()
    split = dg.load_digits_data(test_fraction=0.25, seed=0)
    acc = dg.class_accuracy(split.x_test, split.labels_test, clf)
    assert acc == pytest.approx(clf.test_accuracy)
    assert clf.n_train == 1347 and clf.n_test == 450
    assert acc > 0.9
    assert dg.class_accuracy(torch.as_tensor(split.x), split.labels, clf) > acc - 0.05
    assert clf.predict_proba(split.x_test[:5]).shape == (5, 10)


# ============================================================================================= comparison, JSON
@pytest.mark.slow
def test_comparison_json_round_trip_and_files(tiny, tmp_path):
    model, history = tiny
    path = dg.save_model(model, tmp_path / "model.pt", history)
    comp = dg.run_digits(tmp_path / "run", size="tiny", seed=1, model_path=path, progress=False)
    write_digits(comp, tmp_path / "run")  # the Markdown page and the figure are the report's
    assert set(comp.entropy) == set(dg.CURVES)
    assert set(comp.rate) == {"denoiser_gap", "empirical", "surrogate"}
    assert comp.h_prior == pytest.approx(-np.sum(model.weights * np.log(model.weights)))
    for m in list(comp.entropy.values()) + list(comp.rate.values()):
        assert np.all(np.diff(m.sigma) > 0) and m.value.shape == m.sigma.shape == m.stderr.shape
        assert np.all(np.isfinite(m.value))
    for name in dg.PREDICTED:  # the exact curves cross every level on the default grid
        w = comp.windows[name]
        assert w["h10"] < w["h50"] < w["h90"]
    assert "σ_S" in comp.verdict and comp.verdict.count("\n") >= 6
    for f in ("digits.json", "digits.md", "digits.png", "digits.pdf"):
        assert (tmp_path / "run" / f).is_file()
    back = dg.DigitsComparison.load_json(tmp_path / "run" / "digits.json")
    again = dg.DigitsComparison.from_dict(json.loads(json.dumps(back.to_dict())))
    for obj in (back, again):
        assert obj.verdict == comp.verdict and obj.h_prior == comp.h_prior
        for name, m in comp.entropy.items():
            np.testing.assert_array_equal(obj.entropy[name].value, m.value)
            np.testing.assert_array_equal(obj.entropy[name].sigma, m.sigma)
            assert obj.entropy[name].meta == json.loads(json.dumps(m.meta))
        for name, w in comp.windows.items():
            for key, v in w.items():
                assert (obj.windows[name][key] == v) or (isinstance(v, float) and math.isnan(v)
                                                         and math.isnan(obj.windows[name][key]))
        assert obj.speciation == comp.speciation
    assert 0.0 <= comp.meta["fidelity"]["conditional_sample_accuracy"] <= 1.0


# ================================================================================================== bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: dg.load_digits_data(scale=(1.0, 1.0)), "scale"),
        (lambda: dg.load_digits_data(test_fraction=1.0), "test_fraction"),
        (lambda: dg.load_digits_data(seed=-1), "seed"),
        (lambda: dg.train_digits(steps=0), "steps"),
        (lambda: dg.train_digits(steps=1, batch_size=0), "batch_size"),
        (lambda: dg.train_digits(steps=1, lr=0.0), "lr"),
        (lambda: dg.train_digits(steps=1, data=np.zeros((3, 64))), "data"),
        (lambda: dg.DigitsConfig(label_dropout=0.0), "label_dropout"),
        (lambda: dg.DigitsConfig(sigma_sampling="uniform"), "sigma_sampling"),
        (lambda: dg.DigitsConfig(class_weights=(0.5, 0.5)), "class_weights"),
        (lambda: dg.digits_surrogate(np.zeros((4, 64)), [0, 0, 1, 1], shrinkage=1.0), "shrinkage"),
        (lambda: dg.digits_surrogate(np.zeros((3, 64)), [0, 0, 1]), "at least 2"),
        (lambda: dg.empirical_curves(np.zeros((4, 64)), [0, 0, 1, 1], [1.0, 2.0], n_per_point=1), "n_per_point"),
        (lambda: dg.empirical_curves(np.zeros((4, 64)), [0, 0, 1, 1], [2.0, 1.0]), "increasing"),
        (lambda: dg.empirical_curves(np.zeros((4, 64)), [0, 0, 1], [1.0, 2.0]), "labels"),
        (lambda: dg.empirical_curves(np.zeros((4, 64)), [0, 0, 1, 1], [0.0, 1.0]), "sigmas"),
        (lambda: dg.surrogate_curves("mixture", [1.0, 2.0]), "mixture"),
        (lambda: dg.measured_window(Measurement(np.ones(2), np.ones(2), np.ones(2), "entropy", "x"), 0.0), "h_prior"),
        (lambda: dg.measured_window("curve", 1.0), "entropy"),
        (lambda: dg.digits_comparison(object(), size="tiny"), "Denoiser"),
        (lambda: dg.digits_comparison(object(), size="huge"), "size"),
        (lambda: dg.run_digits("/tmp/never", size="huge"), "size"),
        (lambda: dg.load_model("/nonexistent/model.pt"), "path"),
        (lambda: dg.class_accuracy(np.zeros((3, 64)), [0, 1]), "labels"),
        (lambda: dg.class_accuracy(np.zeros((3, 10)), [0, 1, 2]), "x must have shape"),
        (lambda: dg.digits_classifier(test_fraction=0.0), "test_fraction"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_model_bad_calls(tiny):
    model, _ = tiny
    x = torch.zeros(4, 64)
    with pytest.raises(ValueError, match="label"):
        model(x, 1.0, torch.full((4,), 10))
    with pytest.raises(ValueError, match="label"):
        model(x, 1.0, torch.zeros(4))
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.zeros(4, 63), 1.0, None)
    with pytest.raises(ValueError, match="sigma"):
        model(x, 0.0, None)
    with pytest.raises(ValueError, match="sigma"):
        model(x, torch.ones(3), None)
