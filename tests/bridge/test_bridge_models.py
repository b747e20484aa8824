"""Model adapters of the bridge (gmmtheory.bridge.models).

References are independent of the code under test: closed-form denoisers of isotropic Gaussians / mixtures written
here (EDM: D = μ + v (x − μ)/(v + σ²); VP: E[ε | x_VP] = √(1−ᾱ) (x_VP − √ᾱ μ)/(ᾱ v + 1 − ᾱ)), ᾱ recomputed from
SD's β formula in numpy, and direct calls of the diffusers UNets at their native integer timesteps.
"""

from __future__ import annotations

import pickle
import sys
import textwrap
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from gmmtheory.bridge import models as M  # noqa: E402
from gmmtheory.bridge.base import Denoiser  # noqa: E402

DT = torch.float64


# ------------------------------------------------------------------------------------------------ closed forms


def gauss_D(x: torch.Tensor, sigma: torch.Tensor, mu: torch.Tensor, v: float) -> torch.Tensor:
    """EDM denoiser of N(μ, v I) data: E[X_0 | X_0 + σ ε = x] = μ + v (x − μ)/(v + σ²)."""
    s2 = sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2
    return mu + v * (x - mu) / (v + s2)


def iso_mixture_D(x, sigma, means, v, label=None):
    """Equal-weight mixture of N(μ_k, v I): class k → gauss_D with μ_k; None → Σ_k p(k | x) D_k."""
    n = x.shape[0]
    flat = x.reshape(n, -1)
    if label is not None:
        return gauss_D(flat, sigma, means[label], v).reshape(x.shape)
    s2 = (sigma.reshape(-1, 1) ** 2)
    logits = -((flat[:, None, :] - means[None]) ** 2).sum(-1) / (2 * (v + s2))
    p = torch.softmax(logits, dim=1)
    dk = means[None] + v * (flat[:, None, :] - means[None]) / (v + s2[:, :, None])
    return (p[:, :, None] * dk).sum(1).reshape(x.shape)


class IsoMixture:
    """Denoiser protocol around iso_mixture_D (the test's own exact model)."""

    def __init__(self, means: torch.Tensor, v: float):
        self.means, self.v = means, v
        self.shape = (means.shape[1],)
        self.num_classes = means.shape[0]
        self.sigma_data, self.sigma_min, self.sigma_max = 1.0, 0.002, 80.0
        self.device, self.dtype = means.device, DT

    def __call__(self, x, sigma, label):
        s = torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])
        lab = None if label is None else torch.as_tensor(label).expand(x.shape[0])
        return iso_mixture_D(x, s, self.means, self.v, lab)


def sd15_alphas_cumprod() -> np.ndarray:
    """SD1.5's ᾱ_n: β_n = (linspace(√0.00085, √0.012, 1000))², ᾱ_n = Π_{m<=n} (1 − β_m), in float64."""
    betas = np.linspace(np.sqrt(0.00085), np.sqrt(0.012), 1000) ** 2
    return np.cumprod(1.0 - betas)


def sd_scheduler(prediction_type="epsilon"):
    return diffusers.DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                   prediction_type=prediction_type)


class ExactVPGaussian(torch.nn.Module):
    """A "UNet" that knows its data N(μ_c, v I) exactly and predicts ε, v or x_0 in discrete VP time.

    ᾱ at a fractional timestep t follows the documented convention, written here independently with numpy:
    log σ(t) interpolated linearly between the integer timesteps, ᾱ(t) = 1/(1 + σ(t)²). The class mean is picked
    by ``class_labels`` (index into ``means``) or by ``encoder_hidden_states[:, 0, 0]`` (which holds the index).
    """

    def __init__(self, acp: np.ndarray, means: torch.Tensor, v: float, prediction: str):
        super().__init__()
        self.log_sigma = 0.5 * np.log((1 - acp) / acp)
        self.means, self.v, self.prediction = means, v, prediction
        self.calls = []

    def forward(self, sample, timestep, class_labels=None, encoder_hidden_states=None, return_dict=True):
        self.calls.append((timestep.clone(), class_labels, encoder_hidden_states))
        t = timestep.detach().cpu().double().numpy()
        sig = np.exp(np.interp(t, np.arange(self.log_sigma.size), self.log_sigma))
        abar = torch.as_tensor(1.0 / (1.0 + sig**2), dtype=sample.dtype).reshape(-1, 1, 1, 1)
        if encoder_hidden_states is not None:
            idx = encoder_hidden_states[:, 0, 0].round().long()
        else:
            idx = class_labels
        mu = self.means[idx]
        denom = abar * self.v + 1 - abar
        eps = torch.sqrt(1 - abar) * (sample - torch.sqrt(abar) * mu) / denom
        x0 = mu + torch.sqrt(abar) * self.v * (sample - torch.sqrt(abar) * mu) / denom
        out = {"epsilon": eps, "v_prediction": torch.sqrt(abar) * eps - torch.sqrt(1 - abar) * x0,
               "sample": x0}[self.prediction]
        return (out,)


SHAPE = (2, 4, 4)


def class_means(k: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, *SHAPE, generator=g, dtype=DT)


def noisy(n: int, seed: int = 1, shape=SHAPE, dtype=DT) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 3.0 * torch.randn(n, *shape, generator=g, dtype=dtype)


# ------------------------------------------------------------------------------------------------ σ table


def test_sigma_table_matches_alphas_cumprod_formula_and_round_trips():
    model = M.DiffusersDenoiser(ExactVPGaussian(sd15_alphas_cumprod(), class_means(1), 0.5, "epsilon"),
                                sd_scheduler(), shape=SHAPE)
    acp = sd15_alphas_cumprod()
    expected = np.sqrt((1 - acp) / acp)
    # diffusers stores ᾱ in float32: a rounding of ᾱ_0 ≈ 1 (half an ulp, 3e-8) is a relative error of 3.5e-5 in
    # 1 − ᾱ_0 ≈ 8.5e-4, so ≈ 1.8e-5 in σ_0 = √((1 − ᾱ_0)/ᾱ_0); allow 5e-5.
    np.testing.assert_allclose(model.sigmas.numpy(), expected, rtol=5e-5)
    np.testing.assert_allclose(model.sigmas.numpy()[[0, -1]], [0.029168, 14.6146], rtol=1e-4)
    assert model.sigma_min == pytest.approx(float(model.sigmas[0])) and model.sigma_max == float(model.sigmas[-1])
    assert model.sigmas.dtype == torch.float64 and bool((model.sigmas.diff() > 0).all())
    # table levels are their own integer timesteps
    np.testing.assert_allclose(model.timestep(model.sigmas), np.arange(1000), atol=1e-9)
    # between two levels, t is linear in log σ: the geometric mean of σ_n and σ_{n+1} sits at n + 1/2
    sig = model.sigmas.numpy()
    n = np.array([0, 10, 500, 998])
    np.testing.assert_allclose(model.timestep(np.sqrt(sig[n] * sig[n + 1])), n + 0.5, atol=1e-9)
    np.testing.assert_allclose(model.timestep(sig[n] ** 0.75 * sig[n + 1] ** 0.25), n + 0.25, atol=1e-9)
    # round trip over the whole range
    s = np.geomspace(model.sigma_min, model.sigma_max, 37)
    np.testing.assert_allclose(model.sigma_at(model.timestep(s)), s, rtol=1e-12)
    t = np.linspace(0, 999, 41)
    np.testing.assert_allclose(model.timestep(model.sigma_at(t)), t, atol=1e-9)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction", "sample"])
def test_diffusers_conversion_reproduces_exact_edm_denoiser(prediction):
    acp64 = torch.as_tensor(sd_scheduler().alphas_cumprod, dtype=DT).numpy()  # the scheduler's own float32 table
    means, v = class_means(3), 0.7
    unet = ExactVPGaussian(acp64, means, v, prediction)
    model = M.DiffusersDenoiser(unet, sd_scheduler(prediction), num_classes=3, shape=SHAPE)
    assert model.prediction_type == prediction and model.num_classes == 3
    x = noisy(6)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    on_table = model.sigmas[[0, 3, 100, 400, 700, 999]].to(DT)
    off_table = torch.tensor([0.03, 0.1, 0.77, 1.0, 5.5, 14.6], dtype=DT)
    for sigma in (on_table, off_table, 2.0):
        s = torch.as_tensor(sigma, dtype=DT).expand(6)
        got = model(x, sigma, labels)
        want = gauss_D(x, s, means[labels], v)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    # the UNet saw x_VP = x/√(1+σ²) at the table's integer timesteps
    model(x, on_table, labels)
    timestep, class_labels, _ = unet.calls[-1]
    np.testing.assert_allclose(timestep.numpy(), [0, 3, 100, 400, 700, 999], atol=1e-9)
    assert torch.equal(class_labels, labels)


def test_diffusers_cross_attention_conditioning_with_exact_unet():
    acp64 = torch.as_tensor(sd_scheduler().alphas_cumprod, dtype=DT).numpy()
    means, v = class_means(4), 0.3  # index 3 plays the unconditional "prompt"
    unet = ExactVPGaussian(acp64, means, v, "epsilon")
    emb = torch.zeros(3, 5, 8, dtype=DT)
    emb[:, 0, 0] = torch.arange(3)
    unc = torch.zeros(5, 8, dtype=DT)
    unc[0, 0] = 3
    model = M.DiffusersDenoiser(unet, sd_scheduler(), class_embeddings=emb, uncond_embedding=unc, shape=SHAPE)
    assert model.num_classes == 3 and model.mode == "cross_attention"
    x, sigma = noisy(3), torch.tensor([0.5, 2.0, 9.0], dtype=DT)
    torch.testing.assert_close(model(x, sigma, torch.tensor([2, 0, 1])),
                               gauss_D(x, sigma, means[[2, 0, 1]], v), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(model(x, sigma, None), gauss_D(x, sigma, means[[3, 3, 3]], v), rtol=1e-10,
                               atol=1e-10)
    torch.testing.assert_close(model(x, sigma, 1), gauss_D(x, sigma, means[[1, 1, 1]], v), rtol=1e-10, atol=1e-10)


def tiny_unet2d(num_class_embeds=4, seed=0):
    torch.manual_seed(seed)
    return diffusers.UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                                 layers_per_block=1, norm_num_groups=8, num_class_embeds=num_class_embeds,
                                 down_block_types=("DownBlock2D", "DownBlock2D"),
                                 up_block_types=("UpBlock2D", "UpBlock2D")).eval()


def tiny_unet2d_condition(seed=0):
    torch.manual_seed(seed)
    return diffusers.UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
                                          layers_per_block=1, norm_num_groups=8, cross_attention_dim=8,
                                          attention_head_dim=2,
                                          down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                          up_block_types=("UpBlock2D", "CrossAttnUpBlock2D")).eval()


def tiny_vae(seed=0):
    torch.manual_seed(seed)
    return diffusers.AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 16), latent_channels=4,
                                   norm_num_groups=8, sample_size=16,
                                   down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                                   up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D")).eval()


@torch.no_grad()
def test_real_unet2d_class_labels_match_direct_diffusers_call():
    unet = tiny_unet2d()
    model = M.DiffusersDenoiser(unet, sd_scheduler(), null_label=3)
    assert isinstance(model, Denoiser)
    assert model.shape == (3, 8, 8) and model.num_classes == 3 and model.dtype == torch.float32
    x = noisy(2, shape=(3, 8, 8), dtype=torch.float32)
    steps = torch.tensor([17, 640])
    sigma = model.sigmas[steps].float()
    a = (1 / torch.sqrt(1 + sigma**2)).reshape(-1, 1, 1, 1)
    for label, idx in ((torch.tensor([2, 0]), torch.tensor([2, 0])), (None, torch.tensor([3, 3]))):
        eps = unet(a * x, steps, class_labels=idx).sample
        torch.testing.assert_close(model(x, sigma, label), x - sigma.reshape(-1, 1, 1, 1) * eps, rtol=1e-5,
                                   atol=1e-5)
    # an unconditional UNet: num_classes 0, only label None
    plain = M.DiffusersDenoiser(tiny_unet2d(num_class_embeds=None), sd_scheduler())
    assert plain.num_classes == 0 and plain(x, 1.0, None).shape == x.shape
    with pytest.raises(ValueError, match="label: this model is unconditional"):
        plain(x, 1.0, torch.tensor([0, 0]))


@torch.no_grad()
def test_real_unet2d_condition_matches_direct_call_and_decodes():
    unet = tiny_unet2d_condition()
    g = torch.Generator().manual_seed(3)
    emb, unc = torch.randn(2, 5, 8, generator=g), torch.randn(5, 8, generator=g)
    vae = tiny_vae(seed=1)
    model = M.DiffusersDenoiser(unet, sd_scheduler("v_prediction"), class_embeddings=emb, uncond_embedding=unc,
                                vae=vae)
    assert model.shape == (4, 8, 8)
    x = noisy(2, shape=(4, 8, 8), dtype=torch.float32)
    steps = torch.tensor([999, 250])
    sigma = model.sigmas[steps].float()
    a = (1 / torch.sqrt(1 + sigma**2)).reshape(-1, 1, 1, 1)
    b = sigma.reshape(-1, 1, 1, 1) * a
    vhat = unet(a * x, steps, encoder_hidden_states=emb[[1, 0]]).sample
    torch.testing.assert_close(model(x, sigma, torch.tensor([1, 0])), a**2 * x - b * vhat, rtol=1e-5, atol=1e-5)
    vhat_u = unet(a * x, steps, encoder_hidden_states=unc.expand(2, 5, 8)).sample
    torch.testing.assert_close(model(x, sigma, None), a**2 * x - b * vhat_u, rtol=1e-5, atol=1e-5)
    images = model.decode(x)
    assert images.shape == (2, 3, 16, 16) and float(images.min()) >= 0 and float(images.max()) <= 1


def test_diffusers_bad_inputs_are_clear_errors():
    acp64 = sd15_alphas_cumprod()
    exact = ExactVPGaussian(acp64, class_means(2), 1.0, "epsilon")
    model = M.DiffusersDenoiser(exact, sd_scheduler(), num_classes=2, shape=SHAPE)
    x = noisy(2)
    with pytest.raises(ValueError, match=r"sigma: 0\.002 is outside the model's range \[sigma_min, sigma_max\] = "
                                         r"\[0\.02916\d*, 14\.6146\d*\] \(1000 discrete steps\)"):
        model(x, 0.002, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"sigma: 80 is outside the model's range"):
        model(x, 80.0, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="null_label"):
        model(x, 1.0, None)
    with pytest.raises(ValueError, match=r"label: values must lie in 0\.\.1"):
        model(x, 1.0, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="label: expected an integer tensor"):
        model(x, 1.0, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"x: expected shape \(n, 2, 4, 4\)"):
        model(torch.zeros(2, 3, 4, 4, dtype=DT), 1.0, 0)
    with pytest.raises(ValueError, match=r"sigma: expected a scalar or shape \(2,\)"):
        model(x, torch.ones(3), 0)
    with pytest.raises(ValueError, match="t: must lie in"):
        model.sigma_at(1000.0)
    with pytest.raises(ValueError, match="scheduler: it has no alphas_cumprod"):
        M.DiffusersDenoiser(exact, object(), shape=SHAPE)
    with pytest.raises(ValueError, match="prediction_type"):
        M.DiffusersDenoiser(exact, types.SimpleNamespace(alphas_cumprod=torch.tensor([0.9, 0.5]),
                                                         config=types.SimpleNamespace(prediction_type="flow")),
                            shape=SHAPE)
    with pytest.raises(ValueError, match="strictly decreasing"):
        M.DiffusersDenoiser(exact, types.SimpleNamespace(alphas_cumprod=torch.tensor([0.5, 0.9])), shape=SHAPE)
    with pytest.raises(ValueError, match="shape: the UNet has no config"):
        M.DiffusersDenoiser(exact, sd_scheduler())
    unet = tiny_unet2d()
    with pytest.raises(ValueError, match=r"null_label: expected an int in \[num_classes, num_class_embeds\)"):
        M.DiffusersDenoiser(unet, sd_scheduler(), num_classes=3, null_label=1)
    with pytest.raises(ValueError, match="null_label: the UNet has no class embedding"):
        M.DiffusersDenoiser(tiny_unet2d(num_class_embeds=None), sd_scheduler(), null_label=0)
    with pytest.raises(ValueError, match="num_classes: 5 exceeds"):
        M.DiffusersDenoiser(unet, sd_scheduler(), num_classes=5)
    cond_unet = tiny_unet2d_condition()
    with pytest.raises(ValueError, match="cross_attention_dim 8"):
        M.DiffusersDenoiser(cond_unet, sd_scheduler(), class_embeddings=torch.zeros(2, 5, 6))
    with pytest.raises(ValueError, match=r"uncond_embedding: shape \(4, 8\) must match"):
        M.DiffusersDenoiser(cond_unet, sd_scheduler(), class_embeddings=torch.zeros(2, 5, 8),
                            uncond_embedding=torch.zeros(4, 8))
    with pytest.raises(ValueError, match=r"class_embeddings: expected a non-empty floating tensor of shape \(K, L"):
        M.DiffusersDenoiser(cond_unet, sd_scheduler(), class_embeddings=torch.zeros(5, 8))
    only_cond = M.DiffusersDenoiser(cond_unet, sd_scheduler(), class_embeddings=torch.zeros(2, 5, 8))
    with pytest.raises(ValueError, match="uncond_embedding"):
        only_cond(torch.zeros(1, 4, 8, 8), 1.0, None)
    with pytest.raises(ValueError, match="decode: no VAE"):
        only_cond.decode(torch.zeros(1, 4, 8, 8))


# ------------------------------------------------------------------------------------------------ TorchDenoiser


class EDMGaussianModule(torch.nn.Module):
    """Returns D, ε̂ = (x − D)/σ or v̂ = α ε̂ − β D/σ_d (α = σ_d/√(σ²+σ_d²), β = σ/√(σ²+σ_d²)) of N(μ_z, v I)."""

    def __init__(self, means, v, out, sigma_data=1.0, label_mode="index"):
        super().__init__()
        self.means, self.v, self.out, self.sd, self.label_mode = means, v, out, sigma_data, label_mode
        self.seen = []

    def forward(self, x, sigma, labels):
        self.seen.append(labels)
        if labels is None:
            idx = torch.full((x.shape[0],), self.means.shape[0] - 1)
        elif self.label_mode == "onehot":
            idx = torch.where(labels.sum(1) == 0, self.means.shape[0] - 1, labels.argmax(1))
        else:
            idx = labels
        d = gauss_D(x, sigma, self.means[idx], self.v)
        s = sigma.reshape(-1, 1, 1, 1)
        eps = (x - d) / s
        alpha, beta = self.sd / torch.sqrt(s**2 + self.sd**2), s / torch.sqrt(s**2 + self.sd**2)
        return {"D": d, "eps": eps, "v": alpha * eps - beta * d / self.sd}[self.out]


@pytest.mark.parametrize("parametrization", ["D", "eps", "v"])
def test_torch_denoiser_parametrizations(parametrization):
    means, v = class_means(3), 0.4
    module = EDMGaussianModule(means, v, parametrization, sigma_data=0.5)
    model = M.TorchDenoiser(module, shape=SHAPE, num_classes=2, sigma_data=0.5, sigma_min=0.002, sigma_max=80,
                            parametrization=parametrization)
    assert isinstance(model, Denoiser) and model.device == torch.device("cpu") and model.dtype == torch.float32
    x, sigma = noisy(4), torch.tensor([0.01, 0.5, 3.0, 60.0], dtype=DT)
    lab = torch.tensor([1, 0, 1, 0])
    torch.testing.assert_close(model(x, sigma, lab), gauss_D(x, sigma, means[lab], v), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(model(x, sigma, None), gauss_D(x, sigma, means[[2, 2, 2, 2]], v), rtol=1e-10,
                               atol=1e-10)


def test_torch_denoiser_label_modes_and_unconditional_routes():
    means, v = class_means(3), 0.4
    x, sigma = noisy(2), torch.tensor([0.3, 4.0], dtype=DT)
    lab = torch.tensor([0, 1])
    want_u = gauss_D(x, sigma, means[[2, 2]], v)
    # one-hot labels, EDM-style all-zero null label
    mod = EDMGaussianModule(means, v, "D", label_mode="onehot")
    model = M.TorchDenoiser(mod, shape=SHAPE, num_classes=2, sigma_data=1, sigma_min=0.002, sigma_max=80,
                            label_mode="onehot", null_label="zeros")
    torch.testing.assert_close(model(x, sigma, lab), gauss_D(x, sigma, means[lab], v))
    assert torch.equal(mod.seen[-1], torch.eye(2, dtype=DT))
    torch.testing.assert_close(model(x, sigma, None), want_u)
    assert torch.equal(mod.seen[-1], torch.zeros(2, 2, dtype=DT))
    # index labels with a null class index
    mod = EDMGaussianModule(means, v, "D")
    model = M.TorchDenoiser(mod, shape=SHAPE, num_classes=2, sigma_data=1, sigma_min=0.002, sigma_max=80,
                            null_label=2)
    torch.testing.assert_close(model(x, sigma, None), want_u)
    assert torch.equal(mod.seen[-1], torch.tensor([2, 2]))
    # a separate unconditional module
    unc = EDMGaussianModule(means[[2]], v, "eps")
    model = M.TorchDenoiser(EDMGaussianModule(means, v, "eps"), shape=SHAPE, num_classes=2, sigma_data=1,
                            sigma_min=0.002, sigma_max=80, parametrization="eps", uncond_module=unc)
    torch.testing.assert_close(model(x, sigma, None), want_u)
    assert unc.seen == [None]
    # an int label broadcasts
    torch.testing.assert_close(model(x, sigma, 1), gauss_D(x, sigma, means[[1, 1]], v))


def test_torch_denoiser_bad_inputs_are_clear_errors():
    mod = EDMGaussianModule(class_means(3), 0.4, "D")
    kw = dict(shape=SHAPE, num_classes=2, sigma_data=1.0, sigma_min=0.002, sigma_max=80.0)
    with pytest.raises(ValueError, match="parametrization: expected one of"):
        M.TorchDenoiser(mod, **kw, parametrization="x0")
    with pytest.raises(ValueError, match="label_mode: expected one of"):
        M.TorchDenoiser(mod, **kw, label_mode="names")
    with pytest.raises(ValueError, match="null_label: the string form must be 'zeros' with label_mode='onehot'"):
        M.TorchDenoiser(mod, **kw, null_label="zeros")
    with pytest.raises(ValueError, match="must not be a real class"):
        M.TorchDenoiser(mod, **kw, null_label=1)
    with pytest.raises(ValueError, match="not both"):
        M.TorchDenoiser(mod, **kw, null_label=2, uncond_module=mod)
    with pytest.raises(ValueError, match="module: expected a callable"):
        M.TorchDenoiser(3, **kw)
    with pytest.raises(ValueError, match="sigma_data: expected a finite number > 0"):
        M.TorchDenoiser(mod, **{**kw, "sigma_data": 0.0})
    with pytest.raises(ValueError, match="sigma_min, sigma_max"):
        M.TorchDenoiser(mod, **{**kw, "sigma_min": 5.0, "sigma_max": 1.0})
    with pytest.raises(ValueError, match="shape: expected"):
        M.TorchDenoiser(mod, **{**kw, "shape": (2, 0)})
    with pytest.raises(ValueError, match="num_classes: expected an int >= 0"):
        M.TorchDenoiser(mod, **{**kw, "num_classes": -1})
    model = M.TorchDenoiser(mod, **kw)
    x = noisy(2)
    with pytest.raises(ValueError, match="sigma: expected finite values >= 0"):
        model(x, -1.0, 0)
    with pytest.raises(ValueError, match="sigma: expected finite values >= 0"):
        model(x, float("nan"), 0)
    with pytest.raises(ValueError, match="x: expected a floating-point torch.Tensor"):
        model(np.zeros((2, *SHAPE)), 1.0, 0)
    with pytest.raises(ValueError, match=r"label: expected shape \(2,\)"):
        model(x, 1.0, torch.tensor([0, 1, 1]))
    bad = M.TorchDenoiser(lambda x, s, y: x[:, :1], **kw)
    with pytest.raises(ValueError, match="model output: expected shape"):
        bad(x, 1.0, 0)


# ------------------------------------------------------------------------------------------------ guidance


def test_guidance_assembly():
    means, v = class_means(3).reshape(3, -1), 0.5
    model = M.TorchDenoiser(EDMGaussianModule(means.reshape(3, *SHAPE), v, "D"), shape=SHAPE, num_classes=2,
                            sigma_data=1, sigma_min=0.002, sigma_max=80, null_label=2)
    x, sigma, lab = noisy(3), torch.tensor([0.2, 1.0, 7.0], dtype=DT), torch.tensor([1, 0, 1])
    d_c = gauss_D(x, sigma, means.reshape(3, *SHAPE)[lab], v)
    d_u = gauss_D(x, sigma, means.reshape(3, *SHAPE)[[2, 2, 2]], v)
    for w in (0.0, 1.0, 2.5):
        torch.testing.assert_close(M.guided_denoise(model, x, sigma, lab, w), d_u + w * (d_c - d_u))
        torch.testing.assert_close(M.cfg(d_c, d_u, w), d_u + w * (d_c - d_u))
    w = torch.tensor([0.0, 1.0, 3.0], dtype=DT)
    torch.testing.assert_close(M.cfg(d_c, d_u, w), torch.stack([d_u[0], d_c[1], d_u[2] + 3 * (d_c[2] - d_u[2])]))
    torch.testing.assert_close(M.guided_denoise(model, x, sigma, None, 3.0), d_u)
    # interval guidance: w only for σ in (0.5, 5) → the middle sample
    got = M.guided_denoise(model, x, sigma, lab, 3.0, interval=(0.5, 5.0))
    torch.testing.assert_close(got, torch.stack([d_c[0], d_u[1] + 3 * (d_c[1] - d_u[1]), d_c[2]]))
    g = M.guided(model, 2.0, interval=(0.5, 5.0))
    assert isinstance(g, Denoiser) and g.num_classes == 2 and g.shape == SHAPE
    torch.testing.assert_close(g(x, sigma, lab), M.guided_denoise(model, x, sigma, lab, 2.0, interval=(0.5, 5.0)))
    with pytest.raises(ValueError, match="w: expected a finite number"):
        M.guided_denoise(model, x, sigma, lab, float("inf"))
    with pytest.raises(ValueError, match="w: expected a finite scalar or a tensor of shape"):
        M.cfg(d_c, d_u, torch.ones(2))
    with pytest.raises(ValueError, match="d_uncond: shape"):
        M.cfg(d_c, d_u[:2], 1.0)
    with pytest.raises(ValueError, match="interval: expected"):
        M.guided_denoise(model, x, sigma, lab, 2.0, interval=(5.0, 0.5))


# ------------------------------------------------------------------------------------------------ EDM2


def test_edm2_path_with_wrapped_exact_mixture():
    means, v = class_means(3, seed=5).reshape(3, -1), 0.25
    exact = IsoMixture(means, v)  # a Denoiser on flattened d = 2·4·4 = 32
    with pytest.raises(ValueError, match=r"image_shape: denoiser.shape \(32,\) is not \(C, R, R\)"):
        M.as_edm2_net(exact)
    net_c = M.as_edm2_net(exact, image_shape=(2, 4, 4))
    net_u = M.as_edm2_net(exact, conditional=False, image_shape=(2, 4, 4))
    assert (net_c.img_channels, net_c.img_resolution, net_c.label_dim, net_u.label_dim) == (2, 4, 3, 0)
    model = M.EDM2Denoiser(net_c, net_u)
    assert isinstance(model, Denoiser)
    assert model.shape == SHAPE and model.num_classes == 3 and model.sigma_data == 0.5
    assert (model.sigma_min, model.sigma_max) == (0.002, 80.0)
    x, sigma, lab = noisy(4), torch.tensor([0.002, 0.4, 3.0, 80.0], dtype=DT), torch.tensor([2, 0, 1, 2])
    flat = x.reshape(4, -1)
    torch.testing.assert_close(model(x, sigma, lab), iso_mixture_D(flat, sigma, means, v, lab).reshape(x.shape),
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model(x, sigma, None), iso_mixture_D(flat, sigma, means, v).reshape(x.shape),
                               rtol=1e-12, atol=1e-12)
    # EDM2's own call conventions: σ as (n, 1, 1, 1) or a 0-d tensor, labels as one-hot rows
    onehot = torch.eye(3, dtype=DT)[lab]
    torch.testing.assert_close(net_c(x, sigma.reshape(-1, 1, 1, 1), onehot), model(x, sigma, lab))
    torch.testing.assert_close(net_u(x, torch.tensor(1.5, dtype=DT), onehot), model(x, 1.5, None))
    with pytest.raises(ValueError, match="class_labels: every row must be one-hot"):
        net_c(x, sigma, 0.5 * onehot)
    with pytest.raises(ValueError, match="class_labels: this conditional net needs one-hot rows"):
        net_c(x, sigma, None)
    with pytest.raises(ValueError, match="sigma: expected a scalar or 4 values"):
        net_c(x, sigma[:3], onehot)
    with pytest.raises(ValueError, match="net_cond: label_dim is 0"):
        M.EDM2Denoiser(net_u)
    with pytest.raises(ValueError, match="net_uncond: expected an unconditional network"):
        M.EDM2Denoiser(net_c, net_c)
    with pytest.raises(ValueError, match="net_cond: an EDM2 network needs int attributes"):
        M.EDM2Denoiser(lambda x, s, c: x)
    with pytest.raises(ValueError, match="label: None asks for the unconditional network"):
        M.EDM2Denoiser(net_c)(x, 1.0, None)


def test_edm2_path_with_gmm_denoiser():
    gmm = pytest.importorskip("gmmtheory.bridge.gmm")
    import gmmtheory as gt

    mix = gt.GaussianMixture(class_means(2, seed=7).reshape(2, -1).numpy(), cov=np.array([0.3, 0.8]))
    exact = gmm.GMMDenoiser(mix)
    model = M.EDM2Denoiser(M.as_edm2_net(exact, image_shape=SHAPE),
                           M.as_edm2_net(exact, conditional=False, image_shape=SHAPE))
    x, sigma = noisy(3), torch.tensor([0.1, 1.0, 10.0], dtype=DT)
    lab = torch.tensor([1, 0, 1])
    torch.testing.assert_close(model(x, sigma, lab), exact(x.reshape(3, -1), sigma, lab).reshape(x.shape))
    torch.testing.assert_close(model(x, sigma, None), exact(x.reshape(3, -1), sigma, None).reshape(x.shape))


FAKE_NET_SOURCE = textwrap.dedent('''
    import torch

    class FakeEDM2Net(torch.nn.Module):
        """EDM2-like network: exact denoiser of N(mu_z, v I) (label_dim > 0) or N(0, v I) (label_dim == 0)."""

        def __init__(self, means, v, label_dim):
            super().__init__()
            self.img_channels, self.img_resolution, self.label_dim = means.shape[1], means.shape[2], label_dim
            self.register_buffer("means", means)
            self.v = v

        def forward(self, x, sigma, class_labels=None):
            x = x.to(torch.float32)
            s2 = sigma.to(torch.float32).reshape(-1, 1, 1, 1) ** 2
            mu = torch.zeros_like(x) if self.label_dim == 0 else torch.einsum("nk,kchw->nchw", class_labels.float(),
                                                                              self.means)
            return mu + self.v * (x - mu) / (self.v + s2)
''')


@pytest.fixture
def fake_checkout(tmp_path):
    """A fake EDM2 checkout (torch_utils/, dnnlib/) and two pickles whose class lives in it."""
    root = tmp_path / "edm2"
    (root / "torch_utils").mkdir(parents=True)
    (root / "dnnlib").mkdir()
    (root / "torch_utils" / "__init__.py").write_text("")
    (root / "dnnlib" / "__init__.py").write_text("")
    (root / "torch_utils" / "fake_nets.py").write_text(FAKE_NET_SOURCE)
    names = ("torch_utils", "torch_utils.fake_nets", "dnnlib")

    def forget():
        for name in names:
            sys.modules.pop(name, None)
        while str(root.resolve()) in sys.path:
            sys.path.remove(str(root.resolve()))

    forget()
    sys.path.insert(0, str(root.resolve()))
    from torch_utils.fake_nets import FakeEDM2Net

    means = class_means(3, seed=9).float()
    with open(tmp_path / "cond.pkl", "wb") as f:
        pickle.dump({"ema": FakeEDM2Net(means, 0.3, 3), "encoder": "enc"}, f)
    with open(tmp_path / "uncond.pkl", "wb") as f:
        pickle.dump({"ema": FakeEDM2Net(means, 0.3, 0)}, f)
    with open(tmp_path / "no_ema.pkl", "wb") as f:
        pickle.dump({"net": 1}, f)
    forget()  # the loader itself must make the checkout importable again
    yield root, means
    forget()


def test_load_edm2_from_fake_checkout(fake_checkout, tmp_path):
    root, means = fake_checkout
    with pytest.raises(ModuleNotFoundError):  # the pickles really need the checkout on sys.path
        with open(tmp_path / "cond.pkl", "rb") as f:
            pickle.load(f)
    model = M.load_edm2(root, tmp_path / "cond.pkl", tmp_path / "uncond.pkl")
    assert str(root.resolve()) in sys.path
    assert model.shape == SHAPE and model.num_classes == 3 and model.sigma_data == 0.5 and model.encoder == "enc"
    x, sigma, lab = noisy(3, dtype=torch.float32), torch.tensor([0.05, 1.0, 20.0]), torch.tensor([1, 2, 0])
    torch.testing.assert_close(model(x, sigma, lab), gauss_D(x, sigma, means[lab], 0.3))
    torch.testing.assert_close(model(x, sigma, None), gauss_D(x, sigma, torch.zeros(SHAPE), 0.3))
    assert not any(p.requires_grad for p in model.net_cond.parameters())
    assert M.load_edm2(root, tmp_path / "cond.pkl").net_uncond is None


def test_load_edm2_errors(fake_checkout, tmp_path):
    root, _ = fake_checkout
    with pytest.raises(ValueError, match=r"checkout: .* is not a directory; supply the path of your own EDM2"):
        M.load_edm2(tmp_path / "nowhere", tmp_path / "cond.pkl")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "dnnlib").mkdir()
    with pytest.raises(ValueError, match=r"checkout: .* lacks torch_utils/"):
        M.load_edm2(tmp_path / "half", tmp_path / "cond.pkl")
    with pytest.raises(ValueError, match=r"cond_pkl: .* is not a file; .*edm2-img512-xs-2147483-0\.045\.pkl"):
        M.load_edm2(root, tmp_path / "missing.pkl")
    with pytest.raises(ValueError, match=r"uncond_pkl: .* is not a file; .*edm2-img512-xs-uncond-2147483-0\.045"):
        M.load_edm2(root, tmp_path / "cond.pkl", tmp_path / "missing.pkl")
    with pytest.raises(ValueError, match=r"cond_pkl: .* is not an EDM2 network pickle .*\['net'\]"):
        M.load_edm2(root, tmp_path / "no_ema.pkl")
    with pytest.raises(ValueError, match="net_uncond: expected an unconditional network"):
        M.load_edm2(root, tmp_path / "cond.pkl", tmp_path / "cond.pkl")
    # another checkout's torch_utils is already imported: refuse instead of unpickling with the wrong classes
    other = tmp_path / "other"
    for sub in ("torch_utils", "dnnlib"):
        (other / sub).mkdir(parents=True)
        (other / sub / "__init__.py").write_text("")
    with pytest.raises(ValueError, match="a different 'torch_utils' is already imported"):
        M.load_edm2(other, tmp_path / "cond.pkl")


def test_load_edm2_unpickles_through_load_modules_code(fake_checkout, tmp_path):
    """A pickle whose class is not in the checkout: load_edm2 and load_module give the same one-line error."""
    root, _ = fake_checkout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "h4elsewhere.py").write_text("import torch\n\nclass Thing(torch.nn.Module):\n    pass\n")
    sys.path.insert(0, str(elsewhere))
    try:
        from h4elsewhere import Thing

        with open(tmp_path / "foreign.pkl", "wb") as f:
            pickle.dump({"ema": Thing()}, f)
        torch.save(Thing(), tmp_path / "foreign.pt")
    finally:
        sys.path.remove(str(elsewhere))
        sys.modules.pop("h4elsewhere", None)
    with pytest.raises(ValueError) as edm2_err:
        M.load_edm2(root, tmp_path / "foreign.pkl")
    with pytest.raises(ValueError) as module_err:
        M.load_module(root, tmp_path / "foreign.pt", trust_pickle=True)
    tail = (": unpickling needs the checkout's code (No module named 'h4elsewhere'); is --checkout the folder "
            "holding it?")
    assert str(edm2_err.value) == "cond_pkl" + tail and str(module_err.value) == "weights" + tail
    assert str(root.resolve()) in sys.path  # load_edm2 keeps its checkout on sys.path (keep=True)


# ------------------------------------------------------------------------------------------------ SD1.5


def fake_transformers(calls: list) -> types.ModuleType:
    """A stand-in for transformers' CLIP tokenizer/text encoder (deterministic, records how it was loaded)."""

    class Tokenizer:
        model_max_length = 5

        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            calls.append(("tokenizer", args, kwargs))
            return cls()

        def __call__(self, prompts, padding, max_length, truncation, return_tensors):
            assert padding == "max_length" and truncation and return_tensors == "pt"
            ids = [[(sum(map(ord, p)) + j) % 97 for j in range(max_length)] for p in prompts]
            return types.SimpleNamespace(input_ids=torch.tensor(ids))

    class TextModel(torch.nn.Module):
        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            calls.append(("text_encoder", args, kwargs))
            return cls()

        def forward(self, ids):
            return (ids[..., None].float() * torch.linspace(-0.05, 0.05, 8),)

    mod = types.ModuleType("transformers")
    mod.CLIPTokenizer, mod.CLIPTextModel = Tokenizer, TextModel
    return mod


@torch.no_grad()
def test_load_sd15_from_local_directory(tmp_path, monkeypatch):
    root = tmp_path / "sd15"
    unet = tiny_unet2d_condition(seed=4)
    unet.save_pretrained(root / "unet")
    diffusers.PNDMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, skip_prk_steps=True,
                            steps_offset=1).save_pretrained(root / "scheduler")
    tiny_vae(seed=2).save_pretrained(root / "vae")
    (root / "tokenizer").mkdir()
    (root / "text_encoder").mkdir()
    calls: list = []
    fake = fake_transformers(calls)
    monkeypatch.setitem(sys.modules, "transformers", fake)
    model = M.load_sd15(root, ["a cat", "a dog"], negative_prompt="blurry")
    assert all(kw.get("local_files_only") is True for _, _, kw in calls)
    assert {(name, kw["subfolder"]) for name, _, kw in calls} == {("tokenizer", "tokenizer"),
                                                                  ("text_encoder", "text_encoder")}
    assert model.prompts == ["a cat", "a dog"] and model.num_classes == 2 and model.sigma_data == 1.0
    assert model.shape == (4, 8, 8) and model.prediction_type == "epsilon"
    assert model.decode(noisy(1, shape=(4, 8, 8), dtype=torch.float32)).shape == (1, 3, 16, 16)
    np.testing.assert_allclose(model.sigmas.numpy()[[0, -1]], [0.029168, 14.6146], rtol=1e-4)
    tok, enc = fake.CLIPTokenizer(), fake.CLIPTextModel()
    emb = enc(tok(["a cat", "a dog"], "max_length", 5, True, "pt").input_ids)[0]
    unc = enc(tok(["blurry"], "max_length", 5, True, "pt").input_ids)[0]
    x, steps = noisy(2, shape=(4, 8, 8), dtype=torch.float32), torch.tensor([30, 900])
    sigma = model.sigmas[steps].float()
    a = (1 / torch.sqrt(1 + sigma**2)).reshape(-1, 1, 1, 1)
    eps = unet(a * x, steps, encoder_hidden_states=emb[[1, 0]]).sample
    torch.testing.assert_close(model(x, sigma, torch.tensor([1, 0])), x - sigma.reshape(-1, 1, 1, 1) * eps,
                               rtol=1e-5, atol=1e-5)
    eps_u = unet(a * x, steps, encoder_hidden_states=unc.expand(2, 5, 8)).sample
    torch.testing.assert_close(model(x, sigma, None), x - sigma.reshape(-1, 1, 1, 1) * eps_u, rtol=1e-5, atol=1e-5)


def test_load_sd15_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"path: .* is not a directory; supply a local diffusers-format Stable"):
        M.load_sd15(tmp_path / "nowhere", ["a cat"])
    (tmp_path / "unet").mkdir()
    (tmp_path / "tokenizer").mkdir()
    with pytest.raises(ValueError, match=r"lacks the subfolder\(s\) scheduler/, text_encoder/; .*must contain unet/"):
        M.load_sd15(tmp_path, ["a cat"])
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "text_encoder").mkdir()
    with pytest.raises(ValueError, match="prompts: expected a non-empty sequence of strings"):
        M.load_sd15(tmp_path, "a cat")
    with pytest.raises(ValueError, match="prompts: expected a non-empty sequence of strings"):
        M.load_sd15(tmp_path, [])
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install transformers"):
        M.load_sd15(tmp_path, ["a cat"])


def test_paper_setups():
    edm2, sd15 = M.PAPER_SETUPS["edm2-xs"], M.PAPER_SETUPS["sd15"]
    assert (edm2["steps"], edm2["sigma_min"], edm2["sigma_max"], edm2["rho"], edm2["sigma_data"]) == (64, 0.002, 80.0,
                                                                                                       7.0, 0.5)
    assert edm2["cond_pkl"] == "edm2-img512-xs-2147483-0.045.pkl"
    assert edm2["uncond_pkl"] == "edm2-img512-xs-uncond-2147483-0.045.pkl"
    assert sd15["steps"] == 100


def write_tiny_clip(root) -> None:
    """A real-format CLIP tokenizer folder (letters only, no merges) and a tiny random CLIP text encoder."""
    import json

    transformers = pytest.importorskip("transformers")
    tok_dir = root / "tokenizer"
    tok_dir.mkdir(parents=True)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = ["<|startoftext|>", "<|endoftext|>"] + letters + [c + "</w>" for c in letters]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    (tok_dir / "vocab.json").write_text(json.dumps(vocab))
    (tok_dir / "merges.txt").write_text("#version: 0.2\n")
    (tok_dir / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True,
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>"}))
    torch.manual_seed(5)
    config = transformers.CLIPTextConfig(vocab_size=len(vocab), hidden_size=8, intermediate_size=16,
                                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77,
                                         projection_dim=8, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    transformers.CLIPTextModel(config).save_pretrained(root / "text_encoder")


@torch.no_grad()
def test_load_sd15_with_real_transformers(tmp_path):
    """Runs where transformers is installed (not in CI): the SD recipe with real CLIP classes, on GPU if present."""
    transformers = pytest.importorskip("transformers")
    root = tmp_path / "sd15"
    write_tiny_clip(root)
    unet = tiny_unet2d_condition(seed=6)
    unet.save_pretrained(root / "unet")
    sd_scheduler().save_pretrained(root / "scheduler")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = M.load_sd15(root, ["a cat", "a dog"], device=device)
    assert model.vae is None and model.device.type == device and model.num_classes == 2
    tok = transformers.CLIPTokenizer.from_pretrained(root / "tokenizer")
    enc = transformers.CLIPTextModel.from_pretrained(root / "text_encoder").eval()
    ids = tok(["a cat", "a dog", ""], padding="max_length", max_length=77, truncation=True,
              return_tensors="pt").input_ids
    assert ids.shape == (3, 77) and not torch.equal(ids[0], ids[1])
    emb = enc(ids)[0]
    unet = unet.to(device)
    x, steps = noisy(2, shape=(4, 8, 8), dtype=torch.float32).to(device), torch.tensor([5, 500], device=device)
    sigma = model.sigmas[steps.cpu()].float().to(device)
    a = (1 / torch.sqrt(1 + sigma**2)).reshape(-1, 1, 1, 1)
    for label, e in ((torch.tensor([1, 0]), emb[[1, 0]]), (None, emb[[2, 2]])):
        eps = unet(a * x, steps, encoder_hidden_states=e.to(device)).sample
        torch.testing.assert_close(model(x, sigma, label), x - sigma.reshape(-1, 1, 1, 1) * eps, rtol=1e-4,
                                   atol=1e-4)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@torch.no_grad()
def test_cuda_fp16_unet_and_edm2_paths():
    dev = torch.device("cuda")
    unet = tiny_unet2d().to(dev, torch.float16)
    model = M.DiffusersDenoiser(unet, sd_scheduler(), null_label=3)
    assert model.device.type == "cuda" and model.dtype == torch.float32
    x = noisy(2, shape=(3, 8, 8), dtype=torch.float32).to(dev)
    steps = torch.tensor([17, 640], device=dev)
    sigma = model.sigmas[steps.cpu()].float().to(dev)
    a = (1 / torch.sqrt(1 + sigma**2)).reshape(-1, 1, 1, 1)
    for label, idx in ((torch.tensor([2, 0], device=dev), [2, 0]), (None, [3, 3])):
        eps = unet((a * x).half(), steps.float(), class_labels=torch.tensor(idx, device=dev)).sample.float()
        got = model(x, sigma, label)
        assert got.dtype == torch.float32 and got.device.type == "cuda"
        torch.testing.assert_close(got, x - sigma.reshape(-1, 1, 1, 1) * eps, rtol=1e-3, atol=1e-3)
    # exact closed form through the EDM2 adapters on the GPU, float64
    means, v = class_means(3, seed=5).reshape(3, -1).to(dev), 0.25
    exact = IsoMixture(means, v)
    edm2 = M.EDM2Denoiser(M.as_edm2_net(exact, image_shape=SHAPE), M.as_edm2_net(exact, conditional=False,
                                                                                 image_shape=SHAPE))
    assert edm2.device.type == "cuda"
    x, sigma = noisy(3).to(dev), torch.tensor([0.01, 1.0, 50.0], dtype=DT, device=dev)
    lab = torch.tensor([2, 0, 1], device=dev)
    torch.testing.assert_close(edm2(x, sigma, lab), iso_mixture_D(x.reshape(3, -1), sigma, means, v, lab)
                               .reshape(x.shape), rtol=1e-12, atol=1e-12)
    g = M.guided_denoise(edm2, x, sigma, lab, 2.0, interval=(0.1, 10.0))
    d_c, d_u = edm2(x, sigma, lab), edm2(x, sigma, None)
    torch.testing.assert_close(g, torch.stack([d_c[0], 2 * d_c[1] - d_u[1], d_c[2]]))
