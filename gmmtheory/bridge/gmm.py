"""The exact Gaussian-mixture model as a torch ``Denoiser``: the bridge's ground truth.

Data X_0 ~ Σ_k π_k N(μ_k, Σ_k) (a ``gmmtheory.GaussianMixture``), noised as in EDM, x_σ = x_0 + σ ε. With the
eigendecomposition Σ_k = U_k diag(λ_k) U_kᵀ (``mixture.spectrum``, computed once), the class-conditional law is
X_σ | Z=k ~ N(μ_k, C_k), C_k = Σ_k + σ² I = U_k diag(c_k) U_kᵀ with c_kj = λ_kj + σ², and with r_k = U_kᵀ(x − μ_k):

- component log-likelihood  ℓ_k(x) = −½ Σ_j r_kj²/c_kj − ½ Σ_j log c_kj − (d/2) log 2π;
- component denoiser        D_k(x) = E[X_0 | x, Z=k] = μ_k + U_k (λ_k/c_k ⊙ r_k)            (Tweedie);
- group posterior           p_σ(B | x) = Σ_{k∈B} softmax_k(log π_k + ℓ_k(x));
- group denoiser            D_B(x) = Σ_{k∈B} p(k | x, B) D_k(x),  p(k | x, B) ∝ π_k e^{ℓ_k(x)} on B;
- unconditional denoiser    D(x) = Σ_k p_σ(k | x) D_k(x).

The model's classes are the groups of a ``Partition`` (default: every component its own class). These are the
formulas of ``gmmtheory.posterior`` for the EDM process with σ_data = 1 (a = 1, σ(t) = t), written in torch so that
the bridge's estimators can run on the exact model exactly as they run on a trained network (any device, any
dtype, differentiable with ``torch.func.jvp``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gmmtheory.bridge.sampling import make_generator
from gmmtheory.mixture import GaussianMixture, Partition, check_partition
from gmmtheory.posterior import group_log_priors

__all__ = ["GMMDenoiser"]


class GMMDenoiser:
    """Exact denoisers and class posteriors of a Gaussian mixture under x_σ = x_0 + σ ε (the ``Denoiser`` protocol).

    Args:
        mixture: the data distribution p_0 = Σ_k π_k N(μ_k, Σ_k) (any of its five covariance forms).
        partition: groups of components that form the model's classes (default: one class per component).
        device, dtype: where and in which precision the model computes (float64 by default).
        sigma_min, sigma_max: the noise range reported to samplers (EDM's 0.002 and 80 by default).

    Attributes (the protocol): ``shape = (d,)``, ``num_classes = M`` (number of groups), ``sigma_data`` =
    sqrt(tr Cov[X_0] / d) (root mean per-coordinate variance), ``sigma_min``, ``sigma_max``, ``device``, ``dtype``.
    Extra: ``mixture``, ``partition``, ``weights`` (class priors π_B, numpy (M,)), ``log_posterior``, ``sample``,
    ``sample_marginal``.

    ``model(x, sigma, label)`` returns E[X_0 | X_σ = x, Z = label] for x of shape (n, d), σ a scalar or (n,) tensor
    (> 0) and label a long tensor (n,), an int, or None (the unconditional denoiser).
    """

    def __init__(
        self,
        mixture: GaussianMixture,
        partition: Partition | None = None,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float64,
        sigma_min: float = 0.002,
        sigma_max: float = 80.0,
    ) -> None:
        if not isinstance(mixture, GaussianMixture):
            raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
        part = check_partition(partition, mixture.K)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point torch.dtype; got {dtype!r}")
        try:
            smin, smax = float(sigma_min), float(sigma_max)
        except (TypeError, ValueError):
            raise ValueError(f"sigma_min and sigma_max must be numbers; got {sigma_min!r}, {sigma_max!r}") from None
        if not (np.isfinite(smin) and np.isfinite(smax) and 0 < smin < smax):
            raise ValueError(f"need 0 < sigma_min < sigma_max < inf; got sigma_min={sigma_min!r}, "
                             f"sigma_max={sigma_max!r}")
        self.mixture = mixture
        self.partition = part
        self.device = torch.device(device)
        self.dtype = dtype
        self.sigma_min = smin
        self.sigma_max = smax
        self.shape: tuple[int, ...] = (mixture.d,)
        self.num_classes = part.M
        self.weights = part.group_weights(mixture.weights)

        evals, basis = mixture.spectrum
        if basis is None:
            own = mixture.means
        elif basis.ndim == 2:
            own = mixture.means @ basis
        else:
            own = np.einsum("kj,kjl->kl", mixture.means, basis)
        with np.errstate(divide="ignore"):
            log_w = np.log(mixture.weights)
        mbar = mixture.weights @ mixture.means
        total_var = float(
            mixture.weights @ (evals.sum(axis=1) + np.sum(mixture.means**2, axis=1)) - mbar @ mbar
        )
        self.sigma_data = math.sqrt(max(total_var, 0.0) / mixture.d)
        self._host = {  # private writable copies (torch refuses read-only numpy buffers)
            "means": np.array(mixture.means),
            "means_own": np.array(own),
            "evals": np.array(evals),
            "basis": None if basis is None else np.array(basis),
            "log_w": np.array(log_w),
            "group_table": group_log_priors(mixture, part),  # (M, K)
            "member": part.membership().T > 0,  # (M, K) bool
        }
        self._cache: dict[tuple[torch.device, torch.dtype], dict[str, torch.Tensor | None]] = {}

    def __repr__(self) -> str:
        return f"GMMDenoiser(K={self.mixture.K}, classes={self.num_classes}, d={self.mixture.d}, dtype={self.dtype})"

    # ------------------------------------------------------------------------------------------------ internals
    def _arrays(self, like: torch.Tensor) -> dict[str, torch.Tensor | None]:
        key = (like.device, like.dtype)
        if key not in self._cache:
            out: dict[str, torch.Tensor | None] = {}
            for name, arr in self._host.items():
                if arr is None:
                    out[name] = None
                elif arr.dtype == bool:
                    out[name] = torch.as_tensor(arr, device=like.device)
                else:
                    out[name] = torch.as_tensor(arr, dtype=like.dtype, device=like.device)
            self._cache[key] = out
        return self._cache[key]

    def _check_x(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"x must be a torch.Tensor of shape (n, {self.mixture.d}); got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.mixture.d:
            raise ValueError(f"x must have shape (n, {self.mixture.d}); got {tuple(x.shape)}")
        if not x.dtype.is_floating_point:
            raise ValueError(f"x must be a floating-point tensor; got dtype {x.dtype}")
        return x

    def _sigma(self, sigma: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        s = torch.as_tensor(sigma, device=x.device, dtype=x.dtype)
        if s.ndim == 0:
            s = s.expand(n)
        if s.shape != (n,):
            raise ValueError(f"sigma must be a scalar or have shape ({n},); got shape {tuple(s.shape)}")
        if not bool(torch.all(s > 0)):
            raise ValueError("sigma must be > 0 (the exact denoiser is the identity at σ = 0)")
        return s

    def _labels(self, label: torch.Tensor | int, n: int, device: torch.device) -> torch.Tensor:
        lab = torch.as_tensor(label, device=device)
        if lab.dtype.is_floating_point or lab.dtype == torch.bool:
            raise ValueError(f"label must be an integer tensor or int; got dtype {lab.dtype}")
        if lab.ndim == 0:
            lab = lab.expand(n)
        if lab.shape != (n,):
            raise ValueError(f"label must be an int or have shape ({n},); got shape {tuple(lab.shape)}")
        if n and (int(lab.min()) < 0 or int(lab.max()) >= self.num_classes):
            raise ValueError(
                f"label must be in 0..{self.num_classes - 1}; got values in {int(lab.min())}..{int(lab.max())}"
            )
        return lab.long()

    def component_terms(self, x: torch.Tensor, sigma: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """Component log-likelihoods ℓ_k(x) (n, K) and component denoisers D_k(x) (n, K, d)."""
        x = self._check_x(x)
        s = self._sigma(sigma, x)
        arr = self._arrays(x)
        basis = arr["basis"]
        if basis is None:
            proj = x[:, None, :]
        elif basis.ndim == 2:
            proj = (x @ basis)[:, None, :]
        else:
            proj = torch.einsum("nj,kjl->nkl", x, basis)
        r = proj - arr["means_own"]
        c = arr["evals"] + (s * s)[:, None, None]
        d = x.shape[1]
        loglik = -0.5 * torch.sum(r * r / c, dim=-1) - 0.5 * torch.sum(torch.log(c), dim=-1)
        loglik = loglik - 0.5 * d * math.log(2 * math.pi)
        shrunk = arr["evals"] / c * r
        if basis is None:
            back = shrunk
        elif basis.ndim == 2:
            back = shrunk @ basis.T
        else:
            back = torch.einsum("nkl,kjl->nkj", shrunk, basis)
        return loglik, arr["means"] + back

    # ---------------------------------------------------------------------------------------------- protocol
    def __call__(
        self, x: torch.Tensor, sigma: torch.Tensor | float, label: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """D(x, σ, label) = E[X_0 | X_σ = x, Z = label] (label None: unconditional). Shape (n, d)."""
        loglik, dens = self.component_terms(x, sigma)
        arr = self._arrays(x)
        if label is None:
            logits = arr["log_w"] + loglik
        else:
            lab = self._labels(label, x.shape[0], x.device)
            logits = arr["group_table"][lab] + loglik
        w = torch.softmax(logits, dim=-1)
        return torch.einsum("nk,nkd->nd", w, dens)

    def log_posterior(self, x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        """Exact log p_σ(B | x) for every class (group) B: shape (n, M)."""
        loglik, _ = self.component_terms(x, sigma)
        arr = self._arrays(x)
        log_p = torch.log_softmax(arr["log_w"] + loglik, dim=-1)  # (n, K)
        member = arr["member"]  # (M, K)
        expanded = torch.where(member[None], log_p[:, None, :], torch.full_like(log_p[:, None, :], -math.inf))
        return torch.logsumexp(expanded, dim=-1)

    # ----------------------------------------------------------------------------------------------- sampling
    def sample(
        self, n: int, generator: torch.Generator | int | None = None, label: torch.Tensor | int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw (x_0, class labels) from p_0 (or from class ``label``'s group mixture). Shapes (n, d), (n,).

        Random numbers are drawn in float64 from ``generator`` (a torch.Generator on any device, or an int seed for
        a CPU generator) and moved to the model's device and dtype.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer; got {n!r}")
        n = int(n)
        g = make_generator(generator)
        dev = g.device  # random numbers come from the generator's own device, then move to the model's
        h = self._host
        K = self.mixture.K
        if label is None:
            probs = torch.tensor(self.mixture.weights, dtype=torch.float64, device=dev).expand(n, K)
        else:
            lab = self._labels(label, n, dev)
            probs = torch.softmax(torch.tensor(h["group_table"], dtype=torch.float64, device=dev)[lab], dim=-1)
        comp = torch.multinomial(probs, 1, replacement=True, generator=g)[:, 0]
        eps = torch.randn(n, self.mixture.d, generator=g, dtype=torch.float64, device=dev)
        def t(a: np.ndarray) -> torch.Tensor:
            return torch.tensor(a, dtype=torch.float64, device=dev)

        scaled = eps * torch.sqrt(t(h["evals"])[comp])
        basis = h["basis"]
        if basis is None:
            noise = scaled
        elif basis.ndim == 2:
            noise = scaled @ t(basis).T
        else:
            noise = torch.einsum("nj,nij->ni", scaled, t(basis)[comp])
        x0 = t(h["means"])[comp] + noise
        groups = torch.tensor(self.partition.assignment, device=dev)[comp]
        return x0.to(device=self.device, dtype=self.dtype), groups.to(self.device)

    def sample_marginal(
        self,
        n: int,
        sigma: float,
        generator: torch.Generator | int | None = None,
        label: torch.Tensor | int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw (x_σ, labels) from the exact noisy marginal p_σ = p_0 * N(0, σ² I) (used to start samplers)."""
        try:
            s = float(sigma)
        except (TypeError, ValueError):
            raise ValueError(f"sigma must be a number ≥ 0; got {sigma!r}") from None
        if not (np.isfinite(s) and s >= 0):
            raise ValueError(f"sigma must be finite and ≥ 0; got {sigma!r}")
        g = make_generator(generator)
        x0, lab = self.sample(n, g, label)
        eps = torch.randn(x0.shape, generator=g, dtype=torch.float64, device=g.device).to(self.device, self.dtype)
        return x0 + s * eps, lab
