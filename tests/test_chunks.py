"""Tests for gmmtheory._chunks: the memory budget rule, the power-of-two helpers and the chunk planner."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from gmmtheory import _chunks
from gmmtheory._chunks import (
    array_budget,
    bucket,
    largest_block,
    memory_budget,
    pad_last,
    pad_to,
    pow2_ceil,
    pow2_floor,
    rows_per_chunk,
    split_blocks,
)


def test_budget_follows_the_backend():
    expected = _chunks.MEMORY_BUDGET if jax.default_backend() == "cpu" else _chunks.MEMORY_BUDGET_ACCELERATOR
    assert memory_budget() == expected
    assert array_budget() == expected // _chunks.ARRAY_SHARE
    assert _chunks.MEMORY_BUDGET == 2**28 and _chunks.MEMORY_BUDGET_ACCELERATOR == 2**31


@pytest.mark.parametrize("n", list(range(0, 70)) + [2**20 - 1, 2**20, 2**20 + 1, 10**12])
def test_pow2_helpers(n):
    lo, hi = pow2_floor(n), pow2_ceil(n)
    m = max(n, 1)
    assert lo & (lo - 1) == 0 and hi & (hi - 1) == 0
    assert lo <= m < 2 * lo
    assert hi >= m and (hi == 1 or hi // 2 < m)
    assert bucket(n) == max(8, hi)
    assert bucket(n, minimum=1) == hi


def test_pad_to():
    assert [pad_to(n, 32) for n in (0, 1, 31, 32, 33, 64)] == [0, 32, 32, 32, 64, 64]
    assert pad_to(7, 1) == 7
    with pytest.raises(ValueError):
        pad_to(3, 0)


def _brute_rows(bytes_per_row, budget, minimum, maximum):
    best = None
    r = 1
    while r <= 2**40:
        if r * bytes_per_row <= budget and (maximum is None or r <= maximum):
            best = r
        r *= 2
    best = 1 if best is None else best
    # at least ``minimum`` (rounded down to a power of two)
    return max(best, pow2_floor(minimum))


@pytest.mark.parametrize("bytes_per_row", [1, 3, 8, 100, 4097, 2**20, 2**29])
@pytest.mark.parametrize("budget", [0, 1, 1000, 2**20, 2**28])
@pytest.mark.parametrize("minimum,maximum", [(1, None), (8, None), (1, 1000), (1, 5), (8, 2**30), (1, 1)])
def test_rows_per_chunk_is_the_largest_power_of_two_that_fits(bytes_per_row, budget, minimum, maximum):
    got = rows_per_chunk(bytes_per_row, budget=budget, minimum=minimum, maximum=maximum)
    if maximum is not None and maximum < minimum:
        return
    assert got == _brute_rows(bytes_per_row, budget, minimum, maximum)


def test_rows_per_chunk_default_budget():
    assert rows_per_chunk(8) == memory_budget() // 8
    assert rows_per_chunk(8, budget=-5) == 1


def test_largest_block():
    assert largest_block(100, lambda b: b, budget=1000) == 100
    assert largest_block(100, lambda b: 100 * b, budget=1000) == 4  # 4·100 ≤ 500 < 8·100
    assert largest_block(64, lambda b: 100 * b, budget=1000) == 4
    assert largest_block(64, lambda b: 10**9, budget=1000) == 1
    # brute force: the largest candidate (n, then powers of two below n) that fits half the budget
    for n in range(1, 80):
        for cost in (1, 7, 50):
            got = largest_block(n, lambda b, c=cost: c * b, budget=400)
            candidates = [n] + [2**k for k in range(12) if 2**k < n]
            fits = [b for b in candidates if cost * b <= 200]
            assert got == (max(fits) if fits else 1)


def test_padding_and_blocks():
    x = np.arange(5.0)
    assert np.array_equal(pad_last(x, 8), [0, 1, 2, 3, 4, 4, 4, 4])
    assert np.array_equal(pad_last(x, 3), x)
    assert pad_last(x, 8).dtype == x.dtype
    blocks = split_blocks(x, 2)
    assert [b.tolist() for b in blocks] == [[0, 1], [2, 3], [4, 4]]
    assert split_blocks(x, 5)[0] is x or np.array_equal(split_blocks(x, 5)[0], x)
    assert len(split_blocks(x, 8)) == 1
