"""The one vocabulary of study sizes: ``"smoke" | "quick" | "full"``.

Every fixed experiment (``gmmtheory.studies``, the bridge's studies, the report's sections) takes ``size`` with one of
these names: ``smoke`` is the smallest run that exercises every code path (tests), ``quick`` is ``gmmtheory report
--quick``, ``full`` is the default report.
"""

from __future__ import annotations

from typing import Literal

Size = Literal["smoke", "quick", "full"]
SIZES: tuple[Size, ...] = ("smoke", "quick", "full")


def check_size(size: object, name: str = "size") -> Size:
    """``size`` itself when it is one of :data:`SIZES`; a ``ValueError`` naming the allowed values otherwise."""
    if isinstance(size, str) and size in SIZES:
        return size  # type: ignore[return-value]
    raise ValueError(f"{name} must be one of {', '.join(repr(s) for s in SIZES)}; got {size!r}")


def report_size(quick: bool) -> Size:
    """The size the report runs at: ``"quick"`` for ``gmmtheory report --quick``, ``"full"`` otherwise."""
    return "quick" if quick else "full"
