"""The argument validators of ``gmmtheory._checks``: each accepts its valid values (returned in canonical form) and
refuses every kind of bad value with a ``ValueError`` that names the argument."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from gmmtheory._checks import (
    check_choice,
    check_count,
    check_finite,
    check_fraction,
    check_key,
    check_nonnegative,
    check_positive,
    check_times,
)

NOT_NUMBERS = [True, False, np.bool_(True), "1", b"1", None, 1 + 0j, np.complex128(1.0), [1.0], np.array([1.0, 2.0]),
               object()]
NON_FINITE = [math.nan, math.inf, -math.inf, np.float64("nan"), np.float32("inf")]


# ------------------------------------------------------------------------------------------------------ counts
@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(5), np.uint8(2)])
def test_check_count_accepts_ints(value):
    out = check_count("n", value)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [0, -1, 2.0, 2.5, np.float64(3.0), True, np.bool_(True), "3", None, 1 + 0j,
                                   np.array([3])])
def test_check_count_refuses(value):
    with pytest.raises(ValueError, match=r"^n_items must be an integer ≥ 1 \(not a float or bool\)"):
        check_count("n_items", value)


def test_check_count_minimum():
    assert check_count("n_steps", 2, 2) == 2
    assert check_count("n_boot", 0, 0) == 0
    with pytest.raises(ValueError, match=r"^n_steps must be an integer ≥ 2"):
        check_count("n_steps", 1, 2)


# ------------------------------------------------------------------------------------------------------- reals
@pytest.mark.parametrize("value", [0, -3, 2.5, np.float32(0.5), np.int64(4), np.array(1.5), np.float64(-1e300)])
def test_check_finite_accepts_reals(value):
    out = check_finite("x", value)
    assert type(out) is float and out == float(np.asarray(value))


@pytest.mark.parametrize("value", NOT_NUMBERS + NON_FINITE)
def test_check_finite_refuses(value):
    with pytest.raises(ValueError, match=r"^my_arg must be a finite real number \(int or float\)"):
        check_finite("my_arg", value)


@pytest.mark.parametrize("check, good, bad", [
    (check_positive, [1e-300, 1, 2.5, np.float32(3.0), np.int64(1)], [0, 0.0, -1e-300, -2]),
    (check_nonnegative, [0, 0.0, 1e-300, 2, np.int64(0)], [-1e-300, -1, np.float64(-0.5)]),
    (check_fraction, [1e-12, 0.5, 1 - 1e-12, np.float32(0.25)], [0, 0.0, 1, 1.0, -0.5, 1.5]),
])
def test_bounded_reals(check, good, bad):
    for v in good:
        assert check("w", v) == float(v)
    for v in bad:
        with pytest.raises(ValueError, match=r"^w must "):
            check("w", v)
    for v in NOT_NUMBERS + NON_FINITE:
        with pytest.raises(ValueError, match=r"^w must be a finite real number"):
            check("w", v)


def test_bounded_messages_say_what_is_allowed():
    with pytest.raises(ValueError, match=r"^sigma must be finite and > 0; got 0"):
        check_positive("sigma", 0)
    with pytest.raises(ValueError, match=r"^mu must be finite and ≥ 0; got -1"):
        check_nonnegative("mu", -1)
    with pytest.raises(ValueError, match=r"^beta_start must lie strictly between 0 and 1; got 1"):
        check_fraction("beta_start", 1)


# ----------------------------------------------------------------------------------------------------- choices
def test_check_choice():
    allowed = ("auto", "quadrature")
    assert check_choice("method", "auto", allowed) == "auto"
    assert check_choice("method", "quadrature", iter(allowed)) == "quadrature"
    for bad in ("Auto", "", None, 1, True, ("auto",)):
        with pytest.raises(ValueError, match=r"^method must be one of \('auto', 'quadrature'\); got "):
            check_choice("method", bad, allowed)


# -------------------------------------------------------------------------------------------------------- keys
def test_check_key_accepts_seeds_and_keys():
    np.testing.assert_array_equal(np.asarray(check_key(None)), np.asarray(jax.random.PRNGKey(0)))
    np.testing.assert_array_equal(np.asarray(check_key(7)), [0, 7])
    np.testing.assert_array_equal(np.asarray(check_key(np.int64(7))), [0, 7])
    np.testing.assert_array_equal(np.asarray(check_key(np.array([0, 7], np.uint32))), [0, 7])
    typed = jax.random.key(3)
    assert check_key(typed) is typed


@pytest.mark.parametrize("bad, match", [
    (True, "bool"),
    (np.bool_(False), "bool"),
    (1.0, "float"),
    ("0", "str"),
    (2**80, "out of range"),
    (np.array([0, 7], np.int32), "dtype int32"),
    (np.array([0, 1, 2], np.uint32), r"shape \(3,\)"),
    (jax.random.split(jax.random.key(0), 2), r"typed keys of shape \(2,\)"),
])
def test_check_key_refuses(bad, match):
    with pytest.raises(ValueError, match=rf"^seed must be an int seed, .*{match}"):
        check_key(bad, "seed")


# ------------------------------------------------------------------------------------------------------- times
def test_check_times_accepts():
    out = check_times("t", 0.5)
    assert out.dtype == np.float64 and out.shape == ()
    assert check_times("t", [0, 1, 2]).tolist() == [0.0, 1.0, 2.0]
    assert check_times("t", np.array([0.0, 1.0], np.float32), t_max=1.0).tolist() == [0.0, 1.0]  # closed ends


@pytest.mark.parametrize("bad, match", [
    ("0.1", "must be a real number"),
    (True, "must be a real number"),
    (np.bool_(True), "must be a real number"),
    (1j, "must be a real number"),
    ([True, False], "must be a real number"),
    (["a"], "must be a real number"),
    ([[0.1, 0.2]], "must be a scalar or a 1-D array"),
    ([], "must contain at least one time"),
    ([0.1, math.nan], "must be finite"),
    (math.inf, "must be finite"),
    (-0.1, r"must lie in \[0, inf\]"),
])
def test_check_times_refuses(bad, match):
    with pytest.raises(ValueError, match=rf"^my_times {match}"):
        check_times("my_times", bad)


def test_check_times_domain_in_message():
    with pytest.raises(ValueError, match=r"^t must lie in \[0, 1\] for VP\(\); got values from 0.5 to 2"):
        check_times("t", [0.5, 2.0], t_min=0.0, t_max=1.0, where=" for VP()")
