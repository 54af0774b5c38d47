"""The one number parser: every accepted spelling, every rejection message, round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scaling_cli.units import QuantityError, format_count, format_flops, parse_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7e9", 7e9), ("7B", 7e9), ("7b", 7e9), ("1.4T", 1.4e12), ("3e23", 3e23),
        ("1.2e+24", 1.2e24), ("125M", 125e6), ("125m", 125e6), ("30k", 3e4),
        ("1_000", 1000.0), (" 70M ", 70e6), (".5B", 5e8), (7, 7.0), (1.5, 1.5),
        ("1.0e18", 1e18),
    ],
)
def test_parses_every_documented_spelling(text: object, expected: float) -> None:
    assert parse_number(text) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("7BB", "'7BB' repeats the suffix; write 7B"),
        ("1.4 T", "'1.4 T' contains a space; write '1.4T' without spaces"),
        ("3e23flops", "'3e23flops' has a unit; write the bare number 3e23 (FLOPs are implied)"),
        ("7G", "'7G' has unknown suffix 'G'; for 1e9 write 7B"),
        ("12X", "'12X' has unknown suffix 'X'; use k, M, B or T (or write e.g. 12e9)"),
        ("abc", "'abc' is not a number; write e.g. 7e9, 7B, 1.4T or 3e23"),
        ("nan", "is NaN; give a finite number (drop or exclude the run if it diverged)"),
        (float("nan"), "is NaN; give a finite number (drop or exclude the run if it diverged)"),
        ("inf", "'inf' is infinite; give a finite number"),
        ("1e400", "'1e400' is infinite or too large; give a finite number"),
        ("-3", "'-3' is negative; it must be positive"),
        (0, "is zero; it must be positive"),
        ("", "is empty; write e.g. 7e9, 7B, 1.4T or 3e23"),
        (None, "is empty; write e.g. 7e9, 7B, 1.4T or 3e23"),
        (False, "got the boolean false (YAML reads yes/no/on/off as booleans); "
                "write e.g. 7e9, 7B, 1.4T or 3e23"),
        ([1, 2], "expected a number, got a list; write e.g. 7e9, 7B, 1.4T or 3e23"),
    ],
)
def test_rejections_say_how_to_fix(value: object, message: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_number(value)
    assert info.value.problem == message


def test_zero_and_negative_only_when_allowed() -> None:
    assert parse_number("0", allow_zero=True) == 0.0
    assert parse_number("-2k", allow_negative=True) == -2000.0


@pytest.mark.parametrize(
    ("x", "text"),
    [(96.9e9, "96.9B"), (1.72e12, "1.72T"), (999.4e6, "999M"), (999.6e6, "1B"),
     (350e6, "350M"), (12_345, "12.3k"), (0.5, "0.5"), (3e15, "3e15")],
)
def test_format_count(x: float, text: str) -> None:
    assert format_count(x) == text


def test_format_flops_has_no_plus_sign() -> None:
    assert format_flops(1e24) == "1e24"
    assert format_flops(2.5e23) == "2.5e23"


@given(st.floats(min_value=1.0, max_value=9.99e14, allow_nan=False))
def test_count_format_round_trips_to_shown_precision(x: float) -> None:
    assert parse_number(format_count(x)) == pytest.approx(x, rel=5e-3)


@given(st.floats(min_value=1e4, max_value=1e35, allow_nan=False))
def test_flops_format_round_trips_to_shown_precision(x: float) -> None:
    back = parse_number(format_flops(x))
    assert math.isclose(back, x, rel_tol=5e-3)
