"""Numbers with units: the one parser every numeric field and option goes through.

Accepted forms (no spaces inside a number)::

    7000000000   7e9   7.0e+09   7B   7b   1.4T   125M   125m   30k   3e23   1_000

Suffixes are powers of ten and case-insensitive: ``k`` = 1e3, ``M`` = 1e6 (``m`` is
*million*, as in "pythia-160m", never milli), ``B`` = 1e9, ``T`` = 1e12. PyYAML hands
``1e18``, ``7B`` and ``1.4T`` over as strings and ``no``/``yes`` as booleans; this module
is where every one of them is turned into a float or rejected with a message that says
how to write the number instead.

Formatting is the inverse: ``format_count(96.9e9) == "96.9B"`` and
``parse_number(format_count(x))`` equals ``x`` to the three significant digits shown.
"""

from __future__ import annotations

import math
import re

from .errors import InputError

__all__ = [
    "SUFFIXES",
    "QuantityError",
    "format_count",
    "format_flops",
    "format_number",
    "parse_number",
]

SUFFIXES: dict[str, float] = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}

_NUMBER_RE = re.compile(
    r"(?P<num>[+-]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?P<suffix>[A-Za-z][A-Za-z_-]*)?"
)
_HOW = "write e.g. 7e9, 7B, 1.4T or 3e23"


class QuantityError(InputError):
    """A value that is not a usable number. ``problem`` says why, without location."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_number(
    value: object,
    *,
    allow_zero: bool = False,
    allow_negative: bool = False,
) -> float:
    """Parse ``value`` (int, float or string with an optional k/M/B/T suffix) to a finite float.

    Rejects booleans, NaN, infinities, empty values, unknown suffixes and (unless allowed)
    zero and negative numbers, raising :class:`QuantityError` whose message says how to fix it.
    """
    if isinstance(value, bool):
        raise QuantityError(
            f"got the boolean {str(value).lower()} (YAML reads yes/no/on/off as booleans); {_HOW}"
        )
    if isinstance(value, int):
        number = float(value)
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        number = _parse_text(value)
    elif value is None:
        raise QuantityError(f"is empty; {_HOW}")
    else:
        kind = "a list" if isinstance(value, list) else (
            "a mapping" if isinstance(value, dict) else type(value).__name__)
        raise QuantityError(f"expected a number, got {kind}; {_HOW}")
    if math.isnan(number):
        raise QuantityError("is NaN; give a finite number (drop or exclude the run if it diverged)")
    if math.isinf(number):
        raise QuantityError(f"{_shown(value)} is infinite or too large; give a finite number")
    if number == 0 and not allow_zero:
        raise QuantityError("is zero; it must be positive")
    if number < 0 and not allow_negative:
        raise QuantityError(f"{_shown(value)} is negative; it must be positive")
    return number


def _parse_text(text: str) -> float:
    stripped = text.strip()
    if not stripped:
        raise QuantityError(f"is empty; {_HOW}")
    lowered = stripped.lower()
    if lowered in {"nan", ".nan", "+nan", "-nan"}:
        raise QuantityError("is NaN; give a finite number (drop or exclude the run if it diverged)")
    if lowered.lstrip("+-.") in {"inf", "infinity"}:
        raise QuantityError(f"{_shown(text)} is infinite; give a finite number")
    if any(ch.isspace() for ch in stripped):
        squeezed = "".join(stripped.split())
        raise QuantityError(f"{_shown(text)} contains a space; write {squeezed!r} without spaces")
    match = _NUMBER_RE.fullmatch(stripped)
    if match is None:
        raise QuantityError(f"{_shown(text)} is not a number; {_HOW}")
    suffix = match.group("suffix")
    try:
        number = float(match.group("num"))
    except ValueError:  # e.g. "1__0"
        raise QuantityError(f"{_shown(text)} is not a number; {_HOW}") from None
    if suffix is None:
        return number
    factor = SUFFIXES.get(suffix.lower())
    if factor is None:
        raise QuantityError(_suffix_problem(text, match.group("num"), suffix))
    return number * factor


def _suffix_problem(text: str, num: str, suffix: str) -> str:
    low = suffix.lower()
    if low in {"flops", "flop", "flops/s"}:
        return f"{_shown(text)} has a unit; write the bare number {num} (FLOPs are implied)"
    if len(low) > 1 and low[0] in SUFFIXES and set(low) == {low[0]}:
        return f"{_shown(text)} repeats the suffix; write {num}{suffix[0]}"
    if low in {"g", "bn", "billion"}:
        return f"{_shown(text)} has unknown suffix {suffix!r}; for 1e9 write {num}B"
    if low in {"mm", "mn", "million"}:
        return f"{_shown(text)} has unknown suffix {suffix!r}; for 1e6 write {num}M"
    return f"{_shown(text)} has unknown suffix {suffix!r}; use k, M, B or T (or write e.g. {num}e9)"


def _significant(x: float, digits: int) -> str:
    """``x`` to ``digits`` significant digits without a trailing '.0' or padding zeros."""
    text = f"{x:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


def format_count(x: float, *, digits: int = 3) -> str:
    """Human count with a k/M/B/T suffix: ``96.9B``, ``1.72T``, ``350M``; sci notation past 1e15."""
    if not math.isfinite(x):
        return str(x)
    ax = abs(x)
    for suffix, factor in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if ax >= factor * (1 - 0.5 * 10 ** (-digits)) and ax < 1e15:
            return f"{_significant(x / factor, digits)}{suffix}"
    return _significant(x, digits)


def format_flops(x: float, *, digits: int = 3) -> str:
    """FLOPs in scientific notation without '+': ``1e24``, ``2.5e23``."""
    if not math.isfinite(x) or x == 0:
        return str(x)
    return _significant(x, digits) if abs(x) >= 1e4 else f"{x:.{digits}g}"


def format_number(x: float, *, digits: int = 4) -> str:
    """A plain number to ``digits`` significant digits (losses, exponents, coefficients)."""
    if not math.isfinite(x):
        return str(x)
    return _significant(x, digits)
