"""EDM2 networks as a Denoiser (``EDM2Denoiser``), any Denoiser in EDM2's call signature (``EDM2Net``,
``as_edm2_net``), and ``load_edm2`` (pickles unpickled with the classes of the user's own EDM2 checkout).

D(x, σ, z) = net_cond(x, σ, onehot(z)), D(x, σ, None) = net_uncond(x, σ, None). Unpickling a file can run any code
it contains: pass only pickles and a checkout you trust. ``load_edm2`` goes through the same code as
``load_checkpoint`` (``checkpoint._on_path`` for the checkout, ``checkpoint._unpickle`` and its trust boundary
``PICKLE_TRUST``); calling it is the opt-in, since EDM2 publishes its networks only as pickles.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gmmtheory.bridge.base import Denoiser
from gmmtheory.bridge.models.checkpoint import _on_path, _unpickle
from gmmtheory.bridge.models.common import (
    _check_label,
    _check_positive,
    _check_range,
    _check_shape,
    _check_sigma,
    _check_x,
    _module_device_dtype,
    _to_denoised,
)
from gmmtheory.bridge.models.setups import PAPER_SETUPS


def _edm2_attrs(net: Any, name: str) -> tuple[int, int, int]:
    if not callable(net):
        raise ValueError(f"{name}: expected an EDM2 network net(x, sigma, class_labels), got {type(net).__name__}")
    vals = []
    for attr in ("img_channels", "img_resolution", "label_dim"):
        v = getattr(net, attr, None)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name}: an EDM2 network needs int attributes img_channels, img_resolution, label_dim; "
                             f"{attr} is {v!r}")
        vals.append(int(v))
    return vals[0], vals[1], vals[2]


class EDM2Denoiser:
    """EDM2 networks as a Denoiser: D(x, σ, z) = net_cond(x, σ, onehot(z)), D(x, σ, None) = net_uncond(x, σ, None).

    Any object with EDM2's call signature ``net(x, sigma, class_labels)`` returning D (EDM convention, its own
    preconditioning inside) and int attributes ``img_channels``, ``img_resolution``, ``label_dim`` works: the
    conditional net needs ``label_dim = K > 0`` (labels are passed as one-hot rows (n, K)), the unconditional net
    ``label_dim = 0`` (called with ``class_labels=None``). EDM2 trains on VAE latents normalised to σ_data = 0.5 and
    samples σ ∈ [0.002, 80] (``PAPER_SETUPS["edm2-xs"]``). ``encoder`` keeps the pickle's latent encoder, if any,
    for the user's own decoding (its VAE weights are not bundled; nothing is downloaded here).
    """

    def __init__(
        self,
        net_cond: Callable[..., torch.Tensor],
        net_uncond: Callable[..., torch.Tensor] | None = None,
        *,
        sigma_data: float = 0.5,
        sigma_min: float = 0.002,
        sigma_max: float = 80.0,
        encoder: Any = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        channels, resolution, label_dim = _edm2_attrs(net_cond, "net_cond")
        if label_dim == 0:
            raise ValueError("net_cond: label_dim is 0, an unconditional network; pass the class-conditional network "
                             "as net_cond and the unconditional one as net_uncond")
        if net_uncond is not None:
            uc, ur, ul = _edm2_attrs(net_uncond, "net_uncond")
            if ul != 0:
                raise ValueError(f"net_uncond: expected an unconditional network (label_dim 0), got label_dim {ul}")
            if (uc, ur) != (channels, resolution):
                raise ValueError(f"net_uncond: image shape {(uc, ur, ur)} differs from net_cond's "
                                 f"{(channels, resolution, resolution)}")
        self.net_cond = net_cond
        self.net_uncond = net_uncond
        self.encoder = encoder
        self.shape = (channels, resolution, resolution)
        self.num_classes = label_dim
        self.sigma_data = _check_positive(sigma_data, "sigma_data")
        self.sigma_min, self.sigma_max = _check_range(sigma_min, sigma_max)
        self.device = torch.device(device) if device is not None else _module_device_dtype(net_cond)[0]
        self.dtype = dtype

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | int | None) -> torch.Tensor:
        """D(x, σ, label) for x of shape (n, C, R, R); σ a scalar or (n,); label None, an int or a long tensor (n,)."""
        n = _check_x(x, self.shape)
        s = _check_sigma(sigma, x)
        lab = _check_label(label, n, self.num_classes, x.device)
        if lab is None:
            if self.net_uncond is None:
                raise ValueError("label: None asks for the unconditional network, but EDM2Denoiser was built "
                                 "without net_uncond")
            out = self.net_uncond(x, s, None)
        else:
            out = self.net_cond(x, s, torch.nn.functional.one_hot(lab, self.num_classes).to(x.dtype))
        return _to_denoised(out, x, s, "D", self.sigma_data)


class EDM2Net(torch.nn.Module):
    """A Denoiser in EDM2's network call signature: ``forward(x, sigma, class_labels=None) -> D``.

    x has shape (n, img_channels, img_resolution, img_resolution) and is reshaped to the wrapped denoiser's shape
    (e.g. the exact mixture on d = C·R·R flattened coordinates) and back. σ may be a float or a tensor of shape (),
    (n,) or (n, 1, 1, 1) (EDM2 reshapes σ to (−1, 1, 1, 1)). A conditional net (``label_dim = K``) needs
    ``class_labels`` of one-hot rows (n, K); an unconditional net (``label_dim = 0``) ignores ``class_labels``, as
    EDM2's own networks do.
    """

    def __init__(self, denoiser: Denoiser, *, conditional: bool, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.img_channels, self.img_resolution = image_shape[0], image_shape[1]
        self.label_dim = int(denoiser.num_classes) if conditional else 0
        self.sigma_data = float(denoiser.sigma_data)

    @property
    def device(self) -> torch.device:
        """The wrapped denoiser's device."""
        return torch.device(getattr(self.denoiser, "device", "cpu"))

    def forward(self, x: torch.Tensor, sigma: Any, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        image_shape = (self.img_channels, self.img_resolution, self.img_resolution)
        n = _check_x(x, image_shape)
        s = torch.as_tensor(sigma, device=x.device, dtype=x.dtype).reshape(-1)
        if s.numel() == 1:
            s = s.expand(n)
        if s.numel() != n:
            raise ValueError(f"sigma: expected a scalar or {n} values (shape (n,) or (n, 1, 1, 1)), got shape "
                             f"{tuple(torch.as_tensor(sigma).shape)}")
        labels = None
        if self.label_dim > 0:
            if class_labels is None:
                raise ValueError(f"class_labels: this conditional net needs one-hot rows of shape ({n}, "
                                 f"{self.label_dim}), got None")
            c = torch.as_tensor(class_labels)
            if c.numel() != n * self.label_dim:
                raise ValueError(f"class_labels: expected one-hot rows of shape ({n}, {self.label_dim}), got shape "
                                 f"{tuple(c.shape)}")
            c = c.reshape(n, self.label_dim)
            if not bool(((c == 0) | (c == 1)).all()) or not bool((c.sum(dim=1) == 1).all()):
                raise ValueError("class_labels: every row must be one-hot (one 1, the rest 0)")
            labels = c.argmax(dim=1).to(device=x.device, dtype=torch.long)
        d = self.denoiser(x.reshape(n, *self.denoiser.shape), s, labels)
        return d.reshape(x.shape)


def as_edm2_net(denoiser: Denoiser, *, conditional: bool = True,
                image_shape: Sequence[int] | None = None) -> EDM2Net:
    """Wrap any Denoiser (e.g. the exact GMM) in EDM2's network call signature ``net(x, sigma, class_labels)``.

    ``conditional=True`` gives ``label_dim = num_classes`` (labels as one-hot rows), ``False`` an unconditional net
    (``label_dim = 0``, calls the denoiser with label None). ``image_shape = (C, R, R)`` is the net's image shape,
    with C·R·R equal to the number of entries of ``denoiser.shape``; by default ``denoiser.shape`` itself when it is
    (C, R, R).
    """
    shape = _check_shape(getattr(denoiser, "shape", None) or (), "denoiser.shape")
    if not callable(denoiser):
        raise ValueError(f"denoiser: expected a callable Denoiser, got {type(denoiser).__name__}")
    if conditional and int(getattr(denoiser, "num_classes", 0)) < 1:
        raise ValueError("denoiser: conditional=True needs a class-conditional denoiser (num_classes >= 1)")
    if image_shape is None:
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"image_shape: denoiser.shape {shape} is not (C, R, R); pass image_shape=(C, R, R) with "
                             f"C*R*R = {math.prod(shape)}")
        image_shape = shape
    image_shape = _check_shape(image_shape, "image_shape")
    if len(image_shape) != 3 or image_shape[1] != image_shape[2] or math.prod(image_shape) != math.prod(shape):
        raise ValueError(f"image_shape: expected (C, R, R) with C*R*R = {math.prod(shape)} (denoiser.shape {shape}), "
                         f"got {image_shape}")
    return EDM2Net(denoiser, conditional=conditional, image_shape=(image_shape[0], image_shape[1], image_shape[2]))


def _read_pickle(path: Path) -> Any:
    with open(path, "rb") as f:
        return pickle.load(f)  # EDM2's own loader: a plain pickle (torch.load cannot read it)


def _load_edm2_pickle(path: Path, name: str) -> tuple[Any, Any]:
    """The ``'ema'`` network and the ``'encoder'`` of an EDM2 pickle (the checkout must be on sys.path)."""
    data = _unpickle(path, name, trust_pickle=True, read=_read_pickle)
    if not isinstance(data, dict) or "ema" not in data:
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{name}: {str(path)!r} is not an EDM2 network pickle (expected a dict with an 'ema' "
                         f"network; found {keys})")
    return data["ema"], data.get("encoder")


def load_edm2(
    checkout: str | Path,
    cond_pkl: str | Path,
    uncond_pkl: str | Path | None = None,
    *,
    device: torch.device | str = "cpu",
) -> EDM2Denoiser:
    """EDM2 networks from the user's own files, as an ``EDM2Denoiser`` (σ_data 0.5, one-hot labels).

    ``checkout`` is a local clone of NVlabs/edm2: it must contain ``torch_utils/`` and ``dnnlib/``, whose classes
    the pickles reference; it is put at the front of ``sys.path`` (and stays there, since EDM2's code may import
    from it later). ``cond_pkl`` / ``uncond_pkl`` are EDM2 network pickles (a dict whose ``'ema'`` entry is the
    network), e.g. ``edm2-img512-xs-2147483-0.045.pkl`` and ``edm2-img512-xs-uncond-2147483-0.045.pkl`` from the EDM2
    post-hoc reconstructions (``PAPER_SETUPS["edm2-xs"]``). Nothing is downloaded.

    Trust boundary (``checkpoint.PICKLE_TRUST``): unpickling runs any code the file contains, and the checkout's code
    is imported; pass only files and a checkout you trust. EDM2's networks exist only as pickles, so calling
    ``load_edm2`` is the opt-in (``load_checkpoint``'s ``trust_pickle=True``); the unpickling is the same code path.
    A ``torch_utils`` or ``dnnlib`` already imported from elsewhere is refused.
    """
    root = Path(checkout)
    hint = "supply the path of your own EDM2 checkout (git clone https://github.com/NVlabs/edm2)"
    if not root.is_dir():
        raise ValueError(f"checkout: {str(checkout)!r} is not a directory; {hint}")
    missing = [p for p in ("torch_utils", "dnnlib") if not (root / p).is_dir()]
    if missing:
        raise ValueError(f"checkout: {str(root)!r} lacks {', '.join(p + '/' for p in missing)}; {hint}, which "
                         f"contains torch_utils/ and dnnlib/")
    paths = {"cond_pkl": cond_pkl, "uncond_pkl": uncond_pkl}
    for name, p in paths.items():
        if p is None and name == "uncond_pkl":
            continue
        if p is None or not Path(p).is_file():
            want = PAPER_SETUPS["edm2-xs"][name]
            raise ValueError(f"{name}: {str(p)!r} is not a file; supply the path of a downloaded EDM2 network pickle "
                             f"(for the paper's set-up: {want})")
    device = torch.device(device)

    def prepare(net: Any) -> Any:
        if isinstance(net, torch.nn.Module):
            net = net.to(device).eval().requires_grad_(False)
        return net

    with _on_path(root, keep=True, packages=("torch_utils", "dnnlib")):
        net_cond, encoder = _load_edm2_pickle(Path(cond_pkl), "cond_pkl")
        net_uncond = None
        if uncond_pkl is not None:
            net_uncond = _load_edm2_pickle(Path(uncond_pkl), "uncond_pkl")[0]
    return EDM2Denoiser(prepare(net_cond), None if net_uncond is None else prepare(net_uncond), encoder=encoder,
                        device=device)
