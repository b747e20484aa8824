"""Floating-point precision of jax work: the allowed names, their check, a scope and a float64 decorator.

``precision_scope("float64")`` runs the jax code inside it with x64 enabled (``jax.enable_x64(True)``), whatever
the caller's global setting; ``precision_scope("float32")`` runs it in jax's default 32-bit mode. ``in_float64``
wraps a function in the float64 scope.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import jax

try:  # jax ≥ 0.4.x exposes the context manager at top level
    _enable_x64 = jax.enable_x64
except AttributeError:  # older jax
    from jax.experimental import enable_x64 as _enable_x64  # type: ignore[no-redef]

__all__ = ["PRECISIONS", "check_precision", "in_float64", "precision_scope"]

PRECISIONS = ("float64", "float32")
T_ = TypeVar("T_")


def check_precision(precision: object) -> str:
    """``precision`` must be one of ``PRECISIONS``: checked before any jax work."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    return precision


@contextlib.contextmanager
def precision_scope(precision: str = "float64") -> Iterator[None]:
    """Run jax code inside in float64 (``jax.enable_x64``) or in the default float32."""
    check_precision(precision)
    with _enable_x64(precision == "float64"):
        yield


def in_float64(fn: Callable[..., T_]) -> Callable[..., T_]:
    """Decorator: run ``fn`` inside ``precision_scope("float64")``, so an engine gives float64 results whether or not
    the caller enabled jax's x64 mode."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T_:
        with precision_scope("float64"):
            return fn(*args, **kwargs)

    return wrapper
