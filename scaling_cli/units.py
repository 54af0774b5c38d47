"""Numbers with units: the one parser every numeric field and option goes through.

Accepted forms (no spaces inside a number)::

    7000000000   7e9   7.0e+09   7B   7b   1.4T   125M   125m   30k   3e23   1_000

Suffixes are powers of ten and case-insensitive: ``k`` = 1e3, ``M`` = 1e6 (``m`` is
*million*, as in "pythia-160m", never milli), ``B`` = 1e9, ``T`` = 1e12. Digits are ASCII
only (``float`` would also take Arabic-Indic or full-width ones). Run logs hand every
number over as text (:mod:`scaling_cli.read.yamlsafe`) and ``no``/``yes`` as booleans; this
module is where each is turned into a float or rejected with a one-line message that says
how to write the number instead (``'1.4 T' contains a space; write '1.4T' without
spaces``), echoing at most ``SHOWN_CHARS`` characters of it.

Formatting is the inverse: ``format_count(96.9e9) == "96.9B"`` and
``parse_number(format_count(x))`` equals ``x`` to the three significant digits shown.
"""

from __future__ import annotations

import math
import re
import reprlib

from scaling_cli.errors import InputError

__all__ = [
    "SUFFIXES",
    "QuantityError",
    "format_bytes",
    "format_count",
    "format_factor",
    "format_flops",
    "format_number",
    "parse_number",
    "shown",
]

SUFFIXES: dict[str, float] = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}

_NUMBER_RE = re.compile(
    r"(?P<num>[+-]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?P<suffix>[A-Za-z][A-Za-z_-]*)?",
    re.ASCII,  # only 0-9: float() would also take Arabic-Indic or full-width digits
)
_HEX_RE = re.compile(r"[+-]?0[xX][0-9a-fA-F]{1,16}", re.ASCII)
_HOW = "write e.g. 7e9, 7B, 1.4T or 3e23"
SHOWN_CHARS = 40  # longest echo of a bad value in a message (messages stay one line)


class QuantityError(InputError):
    """A value that is not a usable number. ``problem`` says why, without location."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 2, 4, 4, 4, 4
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = SHOWN_CHARS


def shown(value: object) -> str:
    """``value`` as a message echoes it: text quoted, at most ``SHOWN_CHARS`` characters,
    in bounded time whatever its size (a nested alias structure is not walked)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = str(value) if isinstance(value, (int, float)) else _REPR.repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


_shown = shown


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
        try:
            number = float(value)
        except OverflowError:
            raise QuantityError("is too large (over 1.8e308); check the units") from None
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        number = _parse_text(value)
    elif value is None:
        raise QuantityError(f"is empty; {_HOW}")
    else:
        kinds = {list: "a list", tuple: "a list", dict: "a mapping", bytes: "binary data",
                 set: "a set"}
        kind = next((k for t, k in kinds.items() if isinstance(value, t)),
                    f"a {type(value).__name__}")
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


# The common case, checked first: plain ASCII decimal, optionally one suffix letter.
_PLAIN_RE = re.compile(
    r"(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?P<suffix>[kKmMbBtT]?)")


def _parse_text(text: str) -> float:
    plain = _PLAIN_RE.fullmatch(text)
    if plain is not None:
        number = float(plain.group("num"))
        if number != 0.0 and math.isfinite(number):  # zero, underflow, overflow: slow path
            suffix = plain.group("suffix")
            return number * SUFFIXES[suffix.lower()] if suffix else number
    stripped = text.strip()
    if not stripped:
        raise QuantityError(f"is empty; {_HOW}")
    lowered = stripped.lower()
    if lowered in {"nan", ".nan", "+nan", "-nan"}:
        raise QuantityError("is NaN; give a finite number (drop or exclude the run if it diverged)")
    if lowered.lstrip("+-.") in {"inf", "infinity"}:
        raise QuantityError(f"{_shown(text)} is infinite; give a finite number")
    if not stripped.isascii():
        raise QuantityError(f"{_shown(text)} has characters other than ASCII digits and "
                            f"letters; {_HOW}")
    if any(ch.isspace() for ch in stripped):
        squeezed = "".join(stripped.split())
        _parse_token(squeezed, _shown(text))  # a problem besides the space is reported first
        raise QuantityError(f"{_shown(text)} contains a space; write {_shown(squeezed)} "
                            "without spaces")
    return _parse_token(stripped, _shown(text))


def _parse_token(token: str, shown: str) -> float:
    """Parse one ASCII token without spaces; ``shown`` is how messages echo the original."""
    match = _NUMBER_RE.fullmatch(token)
    if match is None:
        raise QuantityError(_not_a_number(token, shown))
    suffix = match.group("suffix")
    try:
        number = float(match.group("num"))
    except ValueError:  # e.g. "1__0"
        raise QuantityError(f"{shown} is not a number; {_HOW}") from None
    if number == 0 and any(ch in "123456789" for ch in match.group("num").split("e")[0]
                           .split("E")[0]):
        raise QuantityError(f"{shown} is too small (under 1e-308); check the units")
    if suffix is None:
        return number
    factor = SUFFIXES.get(suffix.lower())
    if factor is None:
        raise QuantityError(_suffix_problem(shown, match.group("num"), suffix))
    return number * factor


def _not_a_number(token: str, shown: str) -> str:
    if "," in token:
        return (f"{shown} contains a comma; write thousands without separators (1000, 1_000 "
                "or 1k) and decimals with a point (1.5)")
    if _HEX_RE.fullmatch(token):
        return f"{shown} is hexadecimal; write it in decimal ({int(token, 16)})"
    return f"{shown} is not a number; {_HOW}"


def _suffix_problem(shown: str, num: str, suffix: str) -> str:
    low = suffix.lower()
    num = num if len(num) <= SHOWN_CHARS // 2 else num[: SHOWN_CHARS // 2 - 3] + "..."
    if low in {"flops", "flop", "flops/s"}:
        return f"{shown} has a unit; write the bare number {num} (FLOPs are implied)"
    if len(low) > 1 and low[0] in SUFFIXES and set(low) == {low[0]}:
        return f"{shown} repeats the suffix; write {num}{suffix[0]}"
    if low in {"g", "bn", "billion"}:
        return f"{shown} has unknown suffix {_shown(suffix)}; for 1e9 write {num}B"
    if low in {"mm", "mn", "million"}:
        return f"{shown} has unknown suffix {_shown(suffix)}; for 1e6 write {num}M"
    if low in {"tn", "trillion"}:
        return f"{shown} has unknown suffix {_shown(suffix)}; for 1e12 write {num}T"
    if low in {"thousand"}:
        return f"{shown} has unknown suffix {_shown(suffix)}; for 1e3 write {num}k"
    plain = len(num) < SHOWN_CHARS // 2 and "e" not in num.lower()
    example = f" (or write e.g. {num}e9)" if plain else ""
    return f"{shown} has unknown suffix {_shown(suffix)}; use k, M, B or T{example}"


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


def format_factor(x: float) -> str:
    """A ratio for messages: ``2.5x``, ``1.84x``, ``350x``, ``12,000x``, ``3.5e7x``. Never a
    50-digit number: past a million it switches to scientific notation."""
    if not math.isfinite(x):
        return f"{x}x"
    if abs(x) < 10:
        return f"{x:.3g}x"
    if abs(x) < 1e6:
        return f"{x:,.0f}x"
    return f"{_significant(x, 2)}x"


def format_bytes(n: int) -> str:
    """A size for messages: ``256 MiB``, ``1 GiB``, ``4,096 bytes``."""
    if n >= 2**30:
        return f"{n / 2**30:.3g} GiB"
    if n >= 2**20:
        return f"{n / 2**20:.3g} MiB"
    return f"{n:,} bytes"


def format_number(x: float, *, digits: int = 4) -> str:
    """A plain number to ``digits`` significant digits (losses, exponents, coefficients)."""
    if not math.isfinite(x):
        return str(x)
    return _significant(x, digits)
