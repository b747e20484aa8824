"""The one memory budget and chunking rule of every jit kernel: byte budgets, power-of-two buckets, padding.

A kernel that maps over draws (or rows) in chunks holds ``fixed + rows · bytes_per_row`` bytes at once; the chunk is
the largest power of two of rows that fits

    rows = pow2_floor(clip(budget // bytes_per_row, minimum, maximum)),   budget = ``memory_budget()`` by default,

so chunk shapes come from a small set (one compilation each) and the number of draws per chunk — and therefore a
Monte Carlo result with a fixed key — depends only on the problem's shape and the backend. The budget is
``MEMORY_BUDGET`` (256 MiB) on a CPU and ``MEMORY_BUDGET_ACCELERATOR`` (2 GiB) on a GPU/TPU (bigger chunks, fewer
sequential steps); one array may take ``array_budget()`` = budget / ``ARRAY_SHARE`` of it (16 MiB = 2²¹ float64 on a
CPU). Time grids are split into power-of-two blocks (``largest_block``) padded with their last value
(``pad_last``, ``split_blocks``), and grid lengths are bucketed (``bucket``, ``pad_to``) for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

MEMORY_BUDGET = 2**28  # bytes: the working set of one chunk of draws on a CPU (256 MiB), K² terms included
MEMORY_BUDGET_ACCELERATOR = 2**31  # on a GPU/TPU: bigger chunks, fewer sequential steps (2 GiB)
ARRAY_SHARE = 16  # one array may hold at most 1/ARRAY_SHARE of the budget (16 MiB on a CPU, 128 MiB otherwise)


def memory_budget() -> int:
    """Bytes one chunk of a kernel may hold: ``MEMORY_BUDGET`` on a CPU, ``MEMORY_BUDGET_ACCELERATOR`` otherwise."""
    return MEMORY_BUDGET if jax.default_backend() == "cpu" else MEMORY_BUDGET_ACCELERATOR


def array_budget() -> int:
    """Bytes one array of a chunk may hold: ``memory_budget() // ARRAY_SHARE`` (2²¹ float64 on a CPU)."""
    return memory_budget() // ARRAY_SHARE


def pow2_floor(n: int) -> int:
    """The largest power of two ≤ max(n, 1)."""
    return 1 << (max(1, int(n)).bit_length() - 1)


def pow2_ceil(n: int) -> int:
    """The smallest power of two ≥ max(n, 1)."""
    return 1 << (max(1, int(n)) - 1).bit_length()


def bucket(n: int, minimum: int = 8) -> int:
    """A padded length for n: the smallest power of two ≥ n, and at least ``minimum`` (grids of similar lengths
    share one compilation)."""
    return max(int(minimum), pow2_ceil(n))


def pad_to(n: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is ≥ n (n ≥ 0, multiple ≥ 1)."""
    n, multiple = int(n), int(multiple)
    if multiple < 1:
        raise ValueError(f"multiple must be ≥ 1; got {multiple}")
    return -(-n // multiple) * multiple


def rows_per_chunk(bytes_per_row: int, *, budget: int | None = None, minimum: int = 1,
                   maximum: int | None = None) -> int:
    """The largest power of two of rows whose working set ``rows · bytes_per_row`` fits ``budget`` bytes (default
    ``memory_budget()``; pass ``budget − fixed`` for a kernel with a fixed part), at least ``minimum`` and at most
    ``maximum`` rows: pow2_floor(clip(budget // bytes_per_row, minimum, maximum))."""
    budget = memory_budget() if budget is None else int(budget)
    rows = budget // max(1, int(bytes_per_row))
    if maximum is not None:
        rows = min(rows, int(maximum))
    return pow2_floor(max(int(minimum), rows))


def largest_block(n: int, block_bytes: Callable[[int], int], *, budget: int | None = None) -> int:
    """The block of a grid of n points (n itself, else the largest power of two below it) whose fixed working set
    ``block_bytes(block)`` takes at most half of ``budget`` (default ``memory_budget()``); 1 if none does."""
    budget = memory_budget() if budget is None else int(budget)
    block = int(n)
    while block > 1 and block_bytes(block) > budget // 2:
        block = pow2_floor(block - 1) if block & (block - 1) == 0 else pow2_floor(block)
    return block


def pad_last(values: np.ndarray, length: int) -> np.ndarray:
    """A 1-D array padded to ``length`` by repeating its last entry (unchanged if it is already that long)."""
    values = np.asarray(values)
    return np.concatenate([values, np.repeat(values[-1:], max(0, int(length) - values.shape[0]))])


def split_blocks(values: np.ndarray, block: int) -> list[np.ndarray]:
    """Split a 1-D array into blocks of ``block`` entries, the last padded with its final value (one shape, one
    compilation); ``[values]`` itself when ``block`` covers it."""
    values = np.asarray(values)
    T = values.shape[0]
    if block >= T:
        return [values]
    padded = pad_last(values, pad_to(T, block))
    return [padded[i:i + block] for i in range(0, padded.shape[0], block)]
