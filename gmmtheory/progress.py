"""Progress bars for anything that takes more than a second: tqdm, shown only when stderr is a terminal."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar (``disable=None``: silent when not writing to a TTY, e.g. in CI or pipes)."""
    return tqdm(iterable, desc=desc, total=total, disable=None, leave=False)
