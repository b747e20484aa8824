"""Argument validators, one per kind of value: counts, real numbers (finite, positive, non-negative, fractions),
choices among names, PRNG keys and time arrays.

Every validator runs eagerly (before any jit work), returns the value in its canonical Python/numpy form and raises
``ValueError`` whose message names the argument, says what was wrong and what is allowed. Booleans, strings, None
and complex numbers are refused wherever a number is expected, never converted (``True`` is not 1, ``"0.5"`` is
not 0.5, ``1+0j`` is not 1); integral floats such as ``2.0`` are refused where an integer is expected.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "check_choice",
    "check_count",
    "check_finite",
    "check_fraction",
    "check_key",
    "check_nonnegative",
    "check_positive",
    "check_times",
]

_KEY_ALLOWED = "an int seed, a typed key from jax.random.key(seed) or a raw uint32 key from jax.random.PRNGKey(seed)"


def check_count(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as a Python int ≥ ``minimum``, or ``ValueError`` naming ``name``.

    Accepts Python and numpy integers; refuses booleans, floats (even integral ones such as 2.0), strings and None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum} (not a float or bool); got "
                         f"{type(value).__name__} {value!r}")
    return int(value)


def check_finite(name: str, value: object) -> float:
    """``value`` as a finite Python float, or ``ValueError`` naming ``name``.

    Accepts Python and numpy real numbers (int, float, np.integer, np.floating) and 0-d real arrays; refuses
    booleans, strings, None, complex numbers, arrays with more than one element, NaN and ±inf."""
    what = f"{name} must be a finite real number (int or float)"
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise ValueError(f"{what}; got {type(value).__name__} {value!r}")
    if not isinstance(value, numbers.Real):
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError):
            arr = np.asarray(None)
        if arr.ndim != 0 or arr.dtype.kind not in "iuf":
            raise ValueError(f"{what}; got {type(value).__name__} {value!r}")
        value = arr.item()
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what}; got {type(value).__name__} {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{what}, not NaN or inf; got {value!r}")
    return v


def check_positive(name: str, value: object) -> float:
    """A finite real number > 0 (``check_finite``'s types), or ``ValueError`` naming ``name``."""
    v = check_finite(name, value)
    if not v > 0:
        raise ValueError(f"{name} must be finite and > 0; got {value!r}")
    return v


def check_nonnegative(name: str, value: object) -> float:
    """A finite real number ≥ 0 (``check_finite``'s types), or ``ValueError`` naming ``name``."""
    v = check_finite(name, value)
    if v < 0:
        raise ValueError(f"{name} must be finite and ≥ 0; got {value!r}")
    return v


def check_fraction(name: str, value: object) -> float:
    """A real number strictly between 0 and 1 (``check_finite``'s types), or ``ValueError`` naming ``name``."""
    v = check_finite(name, value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1; got {value!r}")
    return v


def check_choice(name: str, value: object, allowed: Iterable[str]) -> str:
    """``value`` if it is one of the strings ``allowed`` (exact, case-sensitive), else ``ValueError`` naming ``name``
    and listing the allowed values."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value


def check_key(key: object, name: str = "key") -> jax.Array:
    """None → the fixed default key 0 (results are reproducible); otherwise a jax PRNG key.

    Accepted: an int seed (Python or numpy integer, not a bool), a typed key of shape () (``jax.random.key``), or a
    raw key (``jax.random.PRNGKey``): an unsigned 32-bit integer array shaped like the configured default
    implementation's key data ((2,) for threefry). Anything else raises ``ValueError`` naming ``name``."""
    if key is None:
        return jax.random.PRNGKey(0)
    if isinstance(key, (bool, np.bool_)):
        raise ValueError(f"{name} must be {_KEY_ALLOWED}; got the bool {key!r}")
    if isinstance(key, (int, np.integer)):
        try:
            return jax.random.PRNGKey(int(key))
        except (OverflowError, ValueError, TypeError) as e:
            raise ValueError(f"{name} must be {_KEY_ALLOWED}; the int seed {key!r} is out of range ({e})") from None
    dtype = getattr(key, "dtype", None)
    shape = getattr(key, "shape", None)
    if not isinstance(key, (np.ndarray, jax.Array)) or dtype is None:
        raise ValueError(f"{name} must be {_KEY_ALLOWED}; got {type(key).__name__} {key!r}")
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if shape != ():
            raise ValueError(f"{name} must be {_KEY_ALLOWED}; got an array of typed keys of shape {shape} "
                             "(pass one key)")
        return key
    raw_shape = _raw_key_shape()
    if np.dtype(dtype) != np.uint32 or tuple(shape) != raw_shape:
        raise ValueError(f"{name} must be {_KEY_ALLOWED}; got an array of dtype {np.dtype(dtype)} and shape "
                         f"{tuple(shape)} (a raw key is uint32 of shape {raw_shape})")
    return jnp.asarray(key)


def _raw_key_shape() -> tuple[int, ...]:
    """Shape of a raw key of the configured default PRNG implementation, without any jax work when the
    implementation is a known one (threefry: (2,), rbg / unsafe_rbg: (4,))."""
    impl = str(getattr(jax.config, "jax_default_prng_impl", "threefry2x32"))
    known = {"threefry2x32": (2,), "rbg": (4,), "unsafe_rbg": (4,)}
    return known[impl] if impl in known else tuple(jax.random.PRNGKey(0).shape)


def check_times(name: str, t: object, *, t_min: float = 0.0, t_max: float = math.inf, where: str = "") -> np.ndarray:
    """``t`` as a float64 numpy array (scalar or 1-D, at least one value), finite and inside [t_min, t_max], or
    ``ValueError`` naming ``name``; ``where`` (e.g. ``" for OU()"``) is appended to the domain in the message.

    Strings (``"0.1"``), booleans (``True``) and complex numbers are refused rather than converted."""
    if isinstance(t, (str, bytes, bool, np.bool_, complex, np.complexfloating)):
        raise ValueError(f"{name} must be a real number or a 1-D array of real numbers; got {type(t).__name__} {t!r}")
    try:
        raw = np.asarray(t)
        if raw.dtype.kind in "bcUS":
            raise TypeError
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or a 1-D array of real numbers; got {t!r}") from None
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array of times; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must contain at least one time")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf); got {arr[~np.isfinite(arr)][:3].tolist()}")
    if np.any(arr < t_min) or np.any(arr > t_max):
        raise ValueError(
            f"{name} must lie in [{t_min:g}, {t_max:g}]{where}; got values from {arr.min():g} to {arr.max():g}"
        )
    return arr

