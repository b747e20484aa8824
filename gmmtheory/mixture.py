"""Gaussian mixtures p_0 = Σ_k π_k N(μ_k, Σ_k), their covariance forms, label partitions and the prior entropy.

A mixture in dimension d with K components is stored once, validated eagerly (before any jit work), and carries
the spectral decomposition Σ_k = U_k diag(λ_k) U_kᵀ of every component covariance. Under any forward process
X_t = a X_0 + σ ε the class-conditional covariance is C_k(t) = a² Σ_k + σ² I = U_k diag(a² λ_k + σ²) U_kᵀ, so the
eigendecomposition computed here is reused for every time t.

Covariance forms accepted by ``GaussianMixture(means, cov=...)`` (d: dimension, K: number of components):

=================  ================  =============================================
``cov`` shape      kind              meaning
=================  ================  =============================================
``()`` scalar      ``shared_iso``    Σ_k = s² I for every k (default s² = 1)
``(K,)``           ``class_iso``     Σ_k = s_k² I
``(K, d)``         ``class_diag``    Σ_k = diag(v_k)
``(d, d)``         ``shared_full``   Σ_k = Σ for every k
``(K, d, d)``      ``class_full``    Σ_k general symmetric positive semi-definite
=================  ================  =============================================

When K == d ≥ 2 two shapes are ambiguous and are refused unless ``cov_kind=`` names the form: ``(K, d)`` equals
``(d, d)`` (per-class diagonal variances, ``class_diag``, or one shared full matrix, ``shared_full``), and ``(K,)``
equals ``(d,)`` (per-class isotropic variances, ``class_iso``, or per-coordinate variances shared by every class,
which is no form of its own: pass ``np.tile(v, (K, 1))`` with ``cov_kind="class_diag"``). With K = d = 1 every
reading is the same mixture and no ``cov_kind`` is needed.

Numerical conventions (all documented constants below):

- Tolerances follow the dtype of the input array: with ε the machine epsilon of that dtype (float64 for Python
  numbers, lists and integer arrays), Σ must be symmetric within max(1e-8, 16·d·ε)·max|Σ|, its eigenvalues
  ≥ −max(1e-10, 16·d·ε)·max|Σ|, and the weights must sum to 1 within max(1e-8, 4·K·ε); so float32 arrays
  (products of float32 matrices, float32 weights) are accepted, and then stored in float64.
- Eigenvalues of full covariances below 16·d·ε₆₄·λ_max(Σ_k) (ε₆₄ = 2.2e-16, λ_max(Σ_k) the component's largest
  eigenvalue) are round-off of the float64 ``eigh`` (measured: ≤ 0.45·d·ε₆₄·λ_max for Σ = B Bᵀ of rank < d) and
  are set to exactly 0, so a rank-deficient Σ_k is treated as singular (at σ(t) ≲ 1e-8 a spurious 1e-16 eigenvalue
  would otherwise dominate a²λ + σ²).
- Scale limit: max_k |μ_k − μ̄|² (squared distance to the mean of the means μ̄ = Σ_k π_k μ_k) and d·max_{k,j} λ_kj
  must be ≤ ``MAX_SQUARED_SCALE`` = 1e200, so that squared distances, their sums over d coordinates and their
  ratios to σ² stay finite in float64 (overflow is at 1.8e308). A common offset μ̄ is not limited: H[Z | X_t] is
  invariant under translation (``GaussianMixture.centred``). Data beyond the limit can be rescaled: H[Z | X_t] of
  the data scaled by 1/c at noise σ/c equals that of the original data at noise σ.
- Complex, boolean and text arrays are refused (never silently truncated to their real part).

Label partitions P = {B_1, …, B_M} (``Partition``) group the labels; the prior entropy of a partition is
H[Z_P] = −Σ_B π_B log π_B with π_B = Σ_{k∈B} π_k (``prior_entropy``). The named constructors (``two_gaussians``,
``k_classes``, …) and the catalogue of named mixtures live in ``gmmtheory.presets``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import jax
import numpy as np

from gmmtheory._checks import check_count, check_key
from gmmtheory._precision import precision_scope
from gmmtheory._types import PointLabels, Samples, Seed

CovKind = Literal["shared_iso", "class_iso", "class_diag", "shared_full", "class_full"]
COV_KINDS: tuple[str, ...] = ("shared_iso", "class_iso", "class_diag", "shared_full", "class_full")

# Relative tolerance for symmetry and for calling an eigenvalue negative (relative to max |Σ_ij|), for float64 input;
# for lower-precision input both become _DTYPE_RTOL_FACTOR·d·ε of the input's dtype when that is larger.
_SYM_RTOL = 1e-8
_PSD_RTOL = 1e-10
_DTYPE_RTOL_FACTOR = 16.0
# Weights must sum to 1 within max(_WEIGHTS_ATOL, _WEIGHTS_EPS_FACTOR·K·ε of the weights' dtype).
_WEIGHTS_ATOL = 1e-8
_WEIGHTS_EPS_FACTOR = 4.0
# Eigenvalues of a full covariance below _EIG_SNAP_FACTOR·d·ε₆₄·λ_max(Σ_k) are eigh round-off and are set to 0.
_EIG_SNAP_FACTOR = 16.0
_F64_EPS = float(np.finfo(np.float64).eps)
# Largest allowed max_k |μ_k − μ̄|² and d·max λ (see the module docstring).
MAX_SQUARED_SCALE = 1e200


class Spectrum(NamedTuple):
    """Per-component eigendecomposition Σ_k = U_k diag(evals_k) U_kᵀ, as plain float64 numpy arrays.

    ``evals``: (K, d) eigenvalues λ_kj ≥ 0. ``basis``: None when every U_k = I (isotropic and diagonal forms),
    (d, d) when all components share one basis U, (K, d, d) for per-component bases (columns are eigenvectors).
    """

    evals: np.ndarray
    basis: np.ndarray | None


def as_float_array(value: object, name: str) -> np.ndarray:
    """``value`` as a private float64 copy; refuses complex, boolean, text and non-finite values, naming ``name``."""
    return _as_float_array_and_eps(value, name)[0]


def _as_float_array_and_eps(value: object, name: str) -> tuple[np.ndarray, float]:
    """``value`` as a private float64 copy and the machine epsilon ε of its own dtype (float64's for Python numbers,
    lists and integers), which sets the validation tolerances."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of real numbers; got {type(value).__name__}: {exc}") from None
    kind = raw.dtype.kind
    if kind == "c":
        raise ValueError(
            f"{name} must be real; got complex values (dtype {raw.dtype}); complex numbers are not truncated to "
            "their real part: pass the real part explicitly if that is what you mean"
        )
    if kind in "US":
        raise ValueError(f"{name} must be an array of real numbers; got text (dtype {raw.dtype})")
    if kind == "b":
        raise ValueError(f"{name} must be an array of real numbers; got booleans")
    try:
        arr = np.array(raw, dtype=np.float64, copy=True)  # a private copy: never freeze the caller's array
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be an array of real numbers; got {type(value).__name__}: {exc}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return arr, _dtype_eps(raw.dtype)


def _dtype_eps(dtype: np.dtype) -> float:
    """Machine epsilon of a floating dtype (float16/32/64, bfloat16 via jax), float64's for any other dtype."""
    if dtype.kind in "fV":
        try:
            return max(float(jax.numpy.finfo(dtype).eps), _F64_EPS)
        except (TypeError, ValueError):
            pass
    return _F64_EPS


def _snap_evals(lam: np.ndarray, d: int) -> np.ndarray:
    """Eigenvalues (..., d) clipped at 0, with those ≤ _EIG_SNAP_FACTOR·d·ε₆₄·λ_max (per matrix) set to exactly 0."""
    lam = np.clip(lam, 0.0, None)
    tol = _EIG_SNAP_FACTOR * d * _F64_EPS * np.max(lam, axis=-1, keepdims=True)
    return np.where(lam <= tol, 0.0, lam)


def _checked_eigh(mats: np.ndarray, name: str, eps: float = _F64_EPS) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition (ascending eigenvalues, eigenvector columns) of the symmetrised (..., d, d) matrices;
    raises if any matrix is not symmetric positive semi-definite within tolerances set by the input dtype's machine
    epsilon ``eps`` (module docstring). One ``eigh`` serves as the check and as the mixture's ``spectrum``, which
    would otherwise decompose the same matrices a second time."""
    d = mats.shape[-1]
    sym_rtol = max(_SYM_RTOL, _DTYPE_RTOL_FACTOR * d * eps)
    psd_rtol = max(_PSD_RTOL, _DTYPE_RTOL_FACTOR * d * eps)
    scale = np.maximum(np.max(np.abs(mats), axis=(-2, -1)), 1e-300)
    asym = np.max(np.abs(mats - np.swapaxes(mats, -1, -2)), axis=(-2, -1))
    if np.any(asym > sym_rtol * scale):
        bad = int(np.argmax(asym / scale)) if mats.ndim == 3 else None
        where = f" (component {bad})" if bad is not None else ""
        raise ValueError(f"{name} must be symmetric{where}; max |Σ − Σᵀ| = {float(np.max(asym)):.3g}")
    evals, basis = np.linalg.eigh(0.5 * (mats + np.swapaxes(mats, -1, -2)))
    lowest = evals[..., 0]
    if np.any(lowest < -psd_rtol * scale):
        bad = int(np.argmin(lowest / scale)) if mats.ndim == 3 else None
        where = f" (component {bad})" if bad is not None else ""
        raise ValueError(
            f"{name} must be positive semi-definite{where}; smallest eigenvalue {float(np.min(lowest)):.6g} < 0"
        )
    return evals, basis


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """A Gaussian mixture p_0(x) = Σ_k π_k N(x; μ_k, Σ_k) in dimension d with K components.

    Args:
        means: (K, d) component means μ_k.
        cov: covariance in one of five forms (see the module docstring); default 1.0, i.e. Σ_k = I.
        weights: (K,) mixing weights π_k ≥ 0 summing to 1; default uniform 1/K.
        cov_kind: optional explicit form name; required when K == d ≥ 2 and ``cov`` has shape (K,) or (K, d), whose
            readings coincide (the module docstring lists them); otherwise it must agree with the shape.

    Attributes:
        means, cov, weights: validated float64 numpy arrays (cov in its given form).
        cov_kind: one of ``COV_KINDS``.
        K, d: number of components and dimension.
        offset: μ̄ = Σ_k π_k μ_k, the mean of X_0; ``centred()`` is the same mixture translated by −μ̄.

    Validation tolerances follow the inputs' dtypes; eigenvalues that are round-off are snapped to 0; the spread of
    the means and the covariance scale are limited to ``MAX_SQUARED_SCALE`` (all in the module docstring).

    Covariances may be singular (positive semi-definite; a mixture of points has Σ_k = 0). The entropy and rate
    functions then reject times with σ(t) = 0; the pointwise posterior functions (jit-traceable, so they cannot
    validate times) return NaN there.
    """

    means: np.ndarray
    cov: np.ndarray
    weights: np.ndarray
    cov_kind: str

    def __init__(
        self,
        means: object,
        cov: object = 1.0,
        weights: object | None = None,
        *,
        cov_kind: CovKind | None = None,
    ) -> None:
        mu = as_float_array(means, "means")
        if mu.ndim != 2 or mu.shape[0] < 1 or mu.shape[1] < 1:
            raise ValueError(f"means must have shape (K, d) with K ≥ 1 and d ≥ 1; got shape {mu.shape}")
        K, d = mu.shape
        c, cov_eps = _as_float_array_and_eps(cov, "cov")
        if cov_kind is not None and (not isinstance(cov_kind, str) or cov_kind not in COV_KINDS):
            raise ValueError(f"cov_kind must be one of {COV_KINDS} or None; got {cov_kind!r}")
        kind = cov_kind if cov_kind is not None else _infer_cov_kind(c.shape, K, d)
        expected = {
            "shared_iso": (),
            "class_iso": (K,),
            "class_diag": (K, d),
            "shared_full": (d, d),
            "class_full": (K, d, d),
        }[kind]
        if c.shape != expected:
            raise ValueError(
                f"cov has shape {c.shape}, which does not fit K={K} components in d={d} dimensions; allowed: "
                f"() scalar, ({K},) per-class isotropic, ({K}, {d}) per-class diagonal, ({d}, {d}) shared full, "
                f"({K}, {d}, {d}) per-class full"
            )
        if kind in ("shared_iso", "class_iso", "class_diag") and np.any(c < 0):
            raise ValueError(f"cov must be positive semi-definite: variances must be ≥ 0; smallest is {c.min():.6g}")
        eig = None
        if kind in ("shared_full", "class_full"):
            eig = _checked_eigh(c, "cov", cov_eps)
            c = 0.5 * (c + np.swapaxes(c, -1, -2))
        if weights is None:
            w = np.full(K, 1.0 / K)
        else:
            w, w_eps = _as_float_array_and_eps(weights, "weights")
            if w.shape != (K,):
                raise ValueError(f"weights must have shape ({K},) to match means; got shape {w.shape}")
            if np.any(w < 0):
                raise ValueError(f"weights must be non-negative; got minimum {w.min():.6g}")
            total = float(w.sum())
            tol = max(_WEIGHTS_ATOL, _WEIGHTS_EPS_FACTOR * K * w_eps)
            if abs(total - 1.0) > tol:
                raise ValueError(f"weights must sum to 1 (within {tol:.3g}); they sum to {total:.12g}")
            w = w / total
        offset = w @ mu
        _check_scale(mu - offset, c if eig is None else eig[0], d)
        offset.setflags(write=False)
        for name, arr in (("means", mu), ("cov", c), ("weights", w)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "cov_kind", kind)
        self.__dict__["offset"] = offset  # cached_property's slot
        if eig is not None:  # the validation's eigendecomposition is the spectrum (cached_property's slot)
            self.__dict__["spectrum"] = _full_spectrum(eig[0], eig[1], kind, K, d)

    # ----------------------------------------------------------------------------------------------- basic facts
    @property
    def K(self) -> int:
        return int(self.means.shape[0])

    @property
    def d(self) -> int:
        return int(self.means.shape[1])

    @functools.cached_property
    def shared_covariance(self) -> bool:
        """True when every component has the same covariance (whatever form it was given in)."""
        if self.cov_kind in ("shared_iso", "shared_full"):
            return True
        return bool(np.all(self.cov == self.cov[:1]))

    @functools.cached_property
    def isotropic(self) -> bool:
        """True when every Σ_k is a multiple of the identity (forms ``shared_iso`` and ``class_iso``)."""
        if self.cov_kind in ("shared_iso", "class_iso"):
            return True
        return False

    @functools.cached_property
    def spectrum(self) -> Spectrum:
        """Eigendecomposition of every Σ_k, computed once (numpy, float64) and reused for every time."""
        K, d = self.K, self.d
        c = self.cov
        if self.cov_kind == "shared_iso":
            return Spectrum(np.full((K, d), float(c)), None)
        if self.cov_kind == "class_iso":
            return Spectrum(np.repeat(c[:, None], d, axis=1), None)
        if self.cov_kind == "class_diag":
            return Spectrum(np.array(c), None)
        lam, U = np.linalg.eigh(c)  # full forms: normally set in __init__ from the validation's eigh
        return _full_spectrum(lam, U, self.cov_kind, K, d)

    @functools.cached_property
    def offset(self) -> np.ndarray:
        """μ̄ = Σ_k π_k μ_k (d,), the mean of X_0 (read-only; computed once at construction)."""
        out = self.weights @ self.means
        out.setflags(write=False)
        return out

    def centred(self) -> GaussianMixture:
        """The mixture translated by −μ̄: means μ_k − μ̄ (μ̄ = ``offset``), the same covariances and weights.

        H[Z | X_t] and every other posterior functional are invariant under this translation (X_t shifts by a μ̄),
        while the centred means keep squared distances free of cancellation against a large common offset. The
        result is computed once per mixture and shares this mixture's ``spectrum`` (no second eigendecomposition);
        its own ``offset`` is 0 up to round-off.
        """
        return self._centred

    @functools.cached_property
    def _centred(self) -> GaussianMixture:
        new = object.__new__(GaussianMixture)
        means = self.means - self.offset
        means.setflags(write=False)
        for name, value in (("means", means), ("cov", self.cov), ("weights", self.weights),
                            ("cov_kind", self.cov_kind)):
            object.__setattr__(new, name, value)
        new.__dict__["spectrum"] = self.spectrum
        offset = self.weights @ means
        offset.setflags(write=False)
        new.__dict__["offset"] = offset
        new.__dict__["_centred"] = new  # centring a centred mixture returns it
        return new

    @functools.cached_property
    def singular(self) -> bool:
        """True when some Σ_k has a zero eigenvalue (then C_k(t) is singular where σ(t) = 0)."""
        return bool(np.any(self.spectrum.evals <= 0.0))

    def component_covariances(self) -> np.ndarray:
        """All Σ_k as a dense (K, d, d) array (for small d; used by baselines and tests)."""
        K, d = self.K, self.d
        if self.cov_kind == "shared_iso":
            return np.broadcast_to(float(self.cov) * np.eye(d), (K, d, d)).copy()
        if self.cov_kind == "class_iso":
            return self.cov[:, None, None] * np.eye(d)[None]
        if self.cov_kind == "class_diag":
            return np.stack([np.diag(v) for v in self.cov])
        if self.cov_kind == "shared_full":
            return np.broadcast_to(self.cov, (K, d, d)).copy()
        return np.array(self.cov)

    def data_covariance(self) -> np.ndarray:
        """Covariance of X_0: Σ_k π_k (Σ_k + μ_k μ_kᵀ) − μ̄ μ̄ᵀ, dense (d, d)."""
        mbar = self.weights @ self.means
        centred = self.means - mbar
        within = np.einsum("k,kij->ij", self.weights, self.component_covariances())
        return within + np.einsum("k,ki,kj->ij", self.weights, centred, centred)

    def entropy_of_labels(self) -> float:
        """H[Z] = −Σ_k π_k log π_k (nats)."""
        w = self.weights[self.weights > 0]
        return float(-np.sum(w * np.log(w)))

    def sample(self, key: Seed | None, n: int) -> tuple[Samples, PointLabels]:
        """Draw n samples (x, z) from p_0 with an explicit PRNG key (or an int seed); returns numpy arrays (n, d) and
        (n,)."""
        n = check_count("n", n)
        key = check_key(key)
        with precision_scope("float64"):  # the same draws whether or not the caller enabled x64
            kz, ke = jax.random.split(key)
            z = np.asarray(jax.random.choice(kz, self.K, shape=(n,), p=np.asarray(self.weights)))
            eps = np.asarray(jax.random.normal(ke, (n, self.d), dtype=np.float64), dtype=np.float64)
        lam, U = self.spectrum
        scaled = eps * np.sqrt(lam[z])
        if U is None:
            noise = scaled
        elif U.ndim == 2:
            noise = scaled @ U.T
        else:
            noise = np.einsum("nj,nij->ni", scaled, U[z])
        return self.means[z] + noise, z

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.K}, d={self.d}, cov_kind={self.cov_kind!r})"


def _full_spectrum(lam: np.ndarray, U: np.ndarray, kind: str, K: int, d: int) -> Spectrum:
    """The ``Spectrum`` of a full form from its ``eigh``: eigenvalues snapped (``_snap_evals``), repeated over the
    K components for ``shared_full``."""
    lam = _snap_evals(lam, d)
    return Spectrum(np.repeat(lam[None], K, axis=0) if kind == "shared_full" else lam, U)


def _check_scale(centred_means: np.ndarray, variances: np.ndarray, d: int) -> None:
    """Refuse max_k |μ_k − μ̄|² > MAX_SQUARED_SCALE or d·max λ > MAX_SQUARED_SCALE (``variances``: the variances
    or eigenvalues of the covariance form); overflow to inf counts as too large."""
    with np.errstate(over="ignore", invalid="ignore"):
        spread = float(np.max(np.sum(centred_means * centred_means, axis=-1)))
        cov_scale = d * float(np.max(variances, initial=0.0))
    hint = ("rescale the data: H[Z | X_t] of the data scaled by 1/c at noise σ/c equals that of the original data at "
            "noise σ")
    if not spread <= MAX_SQUARED_SCALE:
        raise ValueError(
            f"means are too far apart: the largest squared distance to the mean of the means, max_k |μ_k − μ̄|² = "
            f"{spread:.3g}, exceeds the limit {MAX_SQUARED_SCALE:.0e} (beyond it squared distances overflow float64); "
            f"{hint}"
        )
    if not cov_scale <= MAX_SQUARED_SCALE:
        raise ValueError(
            f"cov is too large: d·(largest variance or eigenvalue) = {cov_scale:.3g} exceeds the limit "
            f"{MAX_SQUARED_SCALE:.0e} (beyond it sums of variances overflow float64); {hint}"
        )


def _infer_cov_kind(shape: tuple[int, ...], K: int, d: int) -> str:
    if K == d >= 2 and shape == (K,):
        raise ValueError(
            f"cov has shape {shape}, which is ambiguous when K = d = {K}: it reads as per-class isotropic variances "
            f"(Σ_k = cov[k]·I, cov_kind='class_iso') or as per-coordinate variances shared by every class "
            f"(Σ_k = diag(cov), not a form of its own: pass np.tile(cov, ({K}, 1)) with cov_kind='class_diag'); "
            "pass cov_kind='class_iso' to say which"
        )
    if K == d >= 2 and shape == (K, d):
        raise ValueError(
            f"cov has shape {shape}, which is ambiguous when K = d = {K}: it reads as per-class diagonal variances "
            "(row k = the diagonal of Σ_k, cov_kind='class_diag') or as one full covariance matrix shared by every "
            "class (Σ_k = cov, cov_kind='shared_full'); pass cov_kind='class_diag' or cov_kind='shared_full'"
        )
    if shape == ():
        return "shared_iso"
    if shape == (K,):
        return "class_iso"
    if shape == (K, d):
        return "class_diag"
    if shape == (d, d):
        return "shared_full"
    if shape == (K, d, d):
        return "class_full"
    raise ValueError(
        f"cov has shape {shape}, which does not fit K={K} components in d={d} dimensions; allowed: () scalar, "
        f"({K},) per-class isotropic, ({K}, {d}) per-class diagonal, ({d}, {d}) shared full, ({K}, {d}, {d}) "
        "per-class full"
    )


# ------------------------------------------------------------------------------------------------------ partitions
@dataclass(frozen=True, eq=False)
class Partition:
    """A partition P = {B_1, …, B_M} of the labels {0, …, K−1} into non-empty groups.

    Build it from a list of groups, ``Partition([[0, 1], [2, 3]])``, or from a group index per label,
    ``Partition.from_assignment([0, 0, 1, 1])``. ``assignment[k]`` is the group of label k; ``names`` label the
    groups (default ``"0"``, ``"1"``, …). Labels must be integers (Python or numpy ints); floats — even integral
    ones such as ``1.0`` — and bools are refused rather than truncated. The group posterior is
    p(B | x) = Σ_{k ∈ B} p(k | x).
    """

    assignment: np.ndarray
    names: tuple[str, ...]

    def __init__(self, groups: Sequence[Sequence[int]], names: Sequence[str] | None = None) -> None:
        try:
            groups = [list(g) for g in groups]
        except TypeError:
            raise ValueError("partition groups must be a sequence of sequences of integer labels") from None
        for g in groups:
            for k in g:
                if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
                    raise ValueError(
                        "partition groups must be a sequence of sequences of integer labels (Python or numpy ints; "
                        f"floats such as 1.0 and bools are refused); got {type(k).__name__} {k!r}"
                    )
        groups = [[int(k) for k in g] for g in groups]
        if not groups or any(len(g) == 0 for g in groups):
            raise ValueError("partition must have at least one group and every group must be non-empty")
        labels = [k for g in groups for k in g]
        K = len(labels)
        if sorted(labels) != list(range(K)):
            raise ValueError(_partition_problem(groups))
        assignment = np.empty(K, dtype=np.int64)
        for m, g in enumerate(groups):
            assignment[g] = m
        assignment.setflags(write=False)
        if names is None:
            names = tuple(str(m) for m in range(len(groups)))
        else:
            names = tuple(str(n) for n in names)
            if len(names) != len(groups):
                raise ValueError(f"names must have one entry per group ({len(groups)}); got {len(names)}")
        object.__setattr__(self, "assignment", assignment)
        object.__setattr__(self, "names", names)

    @classmethod
    def from_assignment(cls, assignment: Sequence[int], names: Sequence[str] | None = None) -> Partition:
        """Partition from the group index of each label (group indices must be 0..M−1, each used)."""
        a = np.asarray(assignment)
        if a.ndim != 1 or a.size == 0 or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"assignment must be a non-empty 1-D sequence of integers; got {assignment!r}")
        M = int(a.max()) + 1
        if a.min() < 0 or set(a.tolist()) != set(range(M)):
            raise ValueError(
                f"assignment must use every group index 0..M−1 and no other; got {sorted(set(a.tolist()))}"
            )
        return cls([np.flatnonzero(a == m).tolist() for m in range(M)], names)

    @classmethod
    def identity(cls, K: int) -> Partition:
        """The finest partition: every label its own group."""
        return cls([[k] for k in range(K)])

    @classmethod
    def trivial(cls, K: int) -> Partition:
        """The coarsest partition: one group holding every label (its entropy is always 0)."""
        return cls([list(range(K))])

    @property
    def K(self) -> int:
        return int(self.assignment.size)

    @property
    def M(self) -> int:
        return len(self.names)

    @property
    def groups(self) -> list[list[int]]:
        return [np.flatnonzero(self.assignment == m).tolist() for m in range(self.M)]

    def membership(self) -> np.ndarray:
        """(K, M) 0/1 matrix: membership[k, m] = 1 when label k is in group m."""
        out = np.zeros((self.K, self.M))
        out[np.arange(self.K), self.assignment] = 1.0
        return out

    def group_weights(self, weights: np.ndarray) -> np.ndarray:
        """Group probabilities π_B = Σ_{k∈B} π_k."""
        return np.asarray(weights) @ self.membership()

    def refines(self, other: Partition) -> bool:
        """True when every group of self lies inside a group of other (self is finer or equal)."""
        if other.K != self.K:
            return False
        return all(len(set(other.assignment[g].tolist())) == 1 for g in self.groups)

    def __repr__(self) -> str:
        return f"Partition({self.groups}, names={list(self.names)})"


def _partition_problem(groups: list[list[int]]) -> str:
    """What is wrong with groups that do not cover 0..K−1 exactly once: negative labels first, then labels in more
    than one place (with the groups holding them), then the gaps in 0..max label."""
    labels = [k for g in groups for k in g]
    negative = sorted({k for k in labels if k < 0})
    if negative:
        return f"partition labels must be integers ≥ 0; got negative labels {negative}"
    where: dict[int, list[int]] = {}
    for m, g in enumerate(groups):
        for k in g:
            where.setdefault(k, []).append(m)
    repeated = {k: ms for k, ms in sorted(where.items()) if len(ms) > 1}
    if repeated:
        parts = "; ".join(f"label {k} in groups {sorted(set(ms))}" if len(set(ms)) > 1
                          else f"label {k} {len(ms)} times in group {ms[0]}" for k, ms in repeated.items())
        return f"partition must hold every label exactly once; repeated: {parts}"
    missing = sorted(set(range(max(labels) + 1)) - set(labels))
    return (f"partition must cover every label 0..K−1 (here K = {max(labels) + 1}, from the largest label); "
            f"missing labels: {missing}")


def check_partition(partition: Partition | None, K: int) -> Partition:
    """Validate ``partition`` against K labels (None means the identity partition)."""
    if partition is None:
        return Partition.identity(K)
    if not isinstance(partition, Partition):
        raise ValueError(f"partition must be a gmmtheory.Partition or None; got {type(partition).__name__}")
    if partition.K != K:
        raise ValueError(
            f"partition covers {partition.K} labels but the mixture has K={K} components; "
            "a partition must cover every label 0..K−1 exactly once"
        )
    return partition


def check_mixture(mixture: object) -> GaussianMixture:
    """``mixture`` if it is a ``GaussianMixture``, else ``ValueError`` naming ``mixture``."""
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a gmmtheory.GaussianMixture; got {type(mixture).__name__}")
    return mixture


def prior_entropy(mixture: GaussianMixture, partition: Partition | None = None) -> float:
    """H[Z_P] = −Σ_B π_B log π_B (nats, float64) of the group weights π_B = Σ_{k∈B} π_k of ``partition`` (None: the
    labels themselves, H[Z]); groups of weight 0 contribute 0."""
    gw = check_partition(partition, check_mixture(mixture).K).group_weights(mixture.weights)
    gw = gw[gw > 0]
    return float(-np.sum(gw * np.log(gw)))
