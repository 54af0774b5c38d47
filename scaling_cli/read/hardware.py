"""Hardware and budgets as users write them: a GPU at an MFU, and ``2e6gpu-hours`` or ``$5M``.

With a GPU's dense bf16 peak P (FLOP/s, from ``configs/hardware.toml`` or the user) and the
model FLOPs utilisation MFU (achieved / peak, default 0.4):

    GPU-hours = FLOPs / (3600 * P * MFU)
    days      = GPU-hours / (24 * K)            (wall clock on K GPUs in parallel)
    dollars   = GPU-hours * price per GPU-hour

Budgets are written as one token, no spaces (like every number, see :mod:`scaling_cli.units`):

    1e24   1e24flops   2e6gpu-hours   5Mgpu-hours   30days   5e6usd   $5M

The number part takes the usual k/M/B/T suffixes. GPU-hours need the GPU; days also the
GPU count; dollars also a price. ``1e21..1e25`` with a step count is a log-spaced range.
Errors name the setting (``hardware.mfu``, ``budget``); the CLI shows flags, a plan file
its keys.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from scaling_cli.errors import InputError, UsageError
from scaling_cli.read.presets import GPU, load_gpus
from scaling_cli.units import QuantityError, parse_number, shown

__all__ = [
    "BUDGET_FLOPS_RANGE",
    "BUDGET_UNITS",
    "DEFAULT_MFU",
    "MIN_MFU",
    "Budget",
    "Hardware",
    "HardwareSpec",
    "budget_range",
    "flops_budget",
    "make_hardware",
    "parse_budget",
    "parse_budgets",
]

DEFAULT_MFU = 0.4
MIN_MFU = 0.01  # real training runs reach 0.1-0.6 of peak; below 1% is a slip
SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0
BUDGET_UNITS = ("flops", "gpu-hours", "days", "usd")
_ALIASES = {  # accepted spellings (lower case) -> unit
    "flops": "flops", "flop": "flops",
    "gpu-hours": "gpu-hours", "gpu-hour": "gpu-hours", "gpuhours": "gpu-hours",
    "gpuhour": "gpu-hours", "gpu_hours": "gpu-hours", "gpu-h": "gpu-hours", "gpuh": "gpu-hours",
    "days": "days", "day": "days",
    "usd": "usd", "dollars": "usd",
}
_FORMS = "1e24 (FLOPs), 2e6gpu-hours, 30days, 5e6usd or $5M"
_ELLIPSES = "\u2026\u22ef\u2025"  # … ⋯ ‥
MAX_RANGE_STEPS = 1000
# The compute a run log's `flops` may hold: a budget outside it is a unit slip, not a plan.
BUDGET_FLOPS_RANGE = (1e6, 1e35)


@dataclass(frozen=True)
class Hardware:
    """A GPU type at a utilisation, optionally K of them (needed for wall-clock days)."""

    gpu: GPU
    mfu: float = DEFAULT_MFU
    gpus: int | None = None

    @property
    def flops_per_gpu_hour(self) -> float:
        """Achieved FLOPs per GPU-hour: 3600 * peak * MFU."""
        return SECONDS_PER_HOUR * self.gpu.peak_flops_per_second * self.mfu


@dataclass(frozen=True, kw_only=True)
class HardwareSpec:
    """Hardware as a user wrote it (flags or a plan file), before it is checked."""

    gpu: str | None = None
    gpus: int | None = None
    mfu: float | None = None
    peak_tflops: float | None = None
    usd_per_gpu_hour: float | None = None

    def merged(self, over: HardwareSpec) -> HardwareSpec:
        """This spec with every value set in ``over`` taking precedence."""
        return replace(self, **{name: getattr(over, name) for name in
                                ("gpu", "gpus", "mfu", "peak_tflops", "usd_per_gpu_hour")
                                if getattr(over, name) is not None})

    def resolve(self, presets: Mapping[str, GPU] | None = None) -> Hardware | None:
        """The hardware described, or None when it names no GPU and no peak."""
        if self.gpu is None and self.peak_tflops is None:
            if self.gpus is not None or self.usd_per_gpu_hour is not None:
                raise UsageError("a GPU count or price needs a GPU: add `hardware.gpu` (a100, "
                                 "h100, h200) or `hardware.peak_tflops`")
            return None
        return make_hardware(self.gpu, peak_tflops=self.peak_tflops,
                             usd_per_gpu_hour=self.usd_per_gpu_hour,
                             mfu=DEFAULT_MFU if self.mfu is None else self.mfu,
                             gpus=self.gpus, presets=presets)


def make_hardware(
    gpu: str | None = None, *, peak_tflops: float | None = None,
    usd_per_gpu_hour: float | None = None, mfu: float = DEFAULT_MFU, gpus: int | None = None,
    presets: Mapping[str, GPU] | None = None,
) -> Hardware:
    """A preset GPU (by name) with the user's overrides, or a custom one from ``peak_tflops``.

    User values win over the preset's and are recorded in ``source``/``price_note``.
    Errors carry the setting as ``hardware.<key>``.
    """
    if not 0.0 < mfu <= 1.0:
        raise UsageError(f"{shown(mfu)} is outside (0, 1]: the model FLOPs utilisation is "
                         "achieved / peak, e.g. 0.4 for 40% of peak", field="hardware.mfu")
    if mfu < MIN_MFU:  # 1e-9 makes a budget of days into 1e-9 of its FLOPs, silently
        raise UsageError(f"{shown(mfu)} is implausibly small: the model FLOPs utilisation is "
                         f"achieved / peak, at least {MIN_MFU:g} ({MIN_MFU:.0%}); e.g. 0.4 for "
                         "40% of peak", field="hardware.mfu")
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int)
                             or not 1 <= gpus <= 10**9):
        raise UsageError(f"{shown(gpus)} is not a GPU count: give a whole number from 1 to "
                         "1e9", field="hardware.gpus")
    for name, value, high in (("peak_tflops", peak_tflops, 1e6),
                              ("usd_per_gpu_hour", usd_per_gpu_hour, 1e6)):
        if value is not None and not 1e-3 <= value <= high:
            raise UsageError(f"{shown(value)} is not plausible: give a positive number from "
                             f"0.001 to {high:g}", field=f"hardware.{name}")
    if gpu is None:
        if peak_tflops is None:
            raise UsageError("no GPU given: choose one with `hardware.gpu` (a100, h100, h200) "
                             "or give its dense bf16 peak with `hardware.peak_tflops`")
        chip = GPU("custom", peak_tflops, usd_per_gpu_hour, "custom GPU",
                   "peak_tflops given by the user",
                   "usd_per_gpu_hour given by the user" if usd_per_gpu_hour else "")
        return Hardware(chip, mfu, gpus)
    presets = load_gpus() if presets is None else presets
    key = gpu.strip().lower()
    if key not in presets:
        close = difflib.get_close_matches(key, list(presets), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(f"{shown(gpu)}: unknown GPU; {hint}choose one of "
                         f"{', '.join(sorted(presets))} or give `hardware.peak_tflops`",
                         field="hardware.gpu")
    chip = presets[key]
    if peak_tflops is not None:
        chip = replace(chip, peak_tflops=peak_tflops, source="peak_tflops given by the user")
    if usd_per_gpu_hour is not None:
        chip = replace(chip, usd_per_gpu_hour=usd_per_gpu_hour,
                       price_note="usd_per_gpu_hour given by the user")
    return Hardware(chip, mfu, gpus)


# --------------------------------------------------------------------------- budgets


@dataclass(frozen=True)
class Budget:
    """A budget as written (``amount`` in ``unit``) and its value in FLOPs."""

    text: str
    amount: float
    unit: str  # one of BUDGET_UNITS
    compute_flops: float


def _split_unit(text: str) -> tuple[str, str]:
    """(number part, unit) of a budget token; unit 'flops' when none is written."""
    if text.startswith("$"):
        return text[1:], "usd"
    low = text.lower()
    for alias in sorted(_ALIASES, key=len, reverse=True):
        if low.endswith(alias) and len(low) > len(alias):
            return text[: -len(alias)], _ALIASES[alias]
    return text, "flops"


def parse_budget(text: str, hardware: Hardware | None = None) -> Budget:
    """A budget token (see the module doc) converted to FLOPs.

    Raises InputError for a malformed token and UsageError when converting it needs
    hardware that was not given (GPU, GPU count, price).
    """
    raw = str(text).strip()
    if any(ch.isspace() for ch in raw):
        squeezed = "".join(raw.split())
        raise InputError(f"{shown(text)} contains a space; write {shown(squeezed)}",
                         field="budget")
    if any(ch in _ELLIPSES for ch in raw):  # `1e21…1e25`: an editor's ellipsis for `..`
        raise InputError(f"{shown(raw)}: write a range as LOW..HIGH with two ASCII dots, e.g. "
                         "1e21..1e25", field="budget")
    number, unit = _split_unit(raw)
    try:
        amount = parse_number(number)
    except QuantityError as exc:
        problem = exc.problem
        if "unknown suffix" in problem or "has a unit" in problem:
            problem = f"unknown unit; write a budget as {_FORMS}"
        elif "not a number" in problem:
            problem = f"not a number; write a budget as {_FORMS}"
        raise InputError(f"{shown(raw)}: {problem}", field="budget") from None
    if unit == "flops":
        return _plausible(Budget(raw, amount, unit, amount))
    if hardware is None:
        raise UsageError(f"{shown(raw)}: converting it to FLOPs needs the GPU: add "
                         "`hardware.gpu` (a100, h100, h200) or `hardware.peak_tflops`, and "
                         "optionally `hardware.mfu` (default 0.4)", field="budget")
    if unit == "gpu-hours":
        hours = amount
    elif unit == "days":
        if hardware.gpus is None:
            raise UsageError(f"{shown(raw)}: days of wall clock need the GPU count: add "
                             "`hardware.gpus`", field="budget")
        hours = amount * HOURS_PER_DAY * hardware.gpus
    else:
        price = hardware.gpu.usd_per_gpu_hour
        if price is None:
            raise UsageError(f"{shown(raw)}: dollars need a price for {hardware.gpu.name}: "
                             "add `hardware.usd_per_gpu_hour`", field="budget")
        hours = amount / price
    return _plausible(Budget(raw, amount, unit, hours * hardware.flops_per_gpu_hour))


def flops_budget(compute_flops: float) -> Budget:
    """A budget given as a number of FLOPs (library callers), held to the same range."""
    value = float(compute_flops)
    if not math.isfinite(value):
        raise InputError(f"{value!r} is not a number of FLOPs; give e.g. 1e24", field="budget")
    return _plausible(Budget(repr(value), value, "flops", value))


def _plausible(budget: Budget) -> Budget:
    low, high = BUDGET_FLOPS_RANGE
    if not low <= budget.compute_flops <= high:
        size = "small" if budget.compute_flops < low else "large"
        raise InputError(f"{shown(budget.text)} is {budget.compute_flops:.3g} FLOPs, "
                         f"implausibly {size} for a training budget (from {low:g} to {high:g} "
                         "FLOPs); check the units", field="budget")
    return budget


_RANGE = re.compile(r"^(?P<low>[^.].*?[^.]|[^.])\.\.(?P<high>[^.].*)$")


def budget_range(text: str, steps: int, hardware: Hardware | None = None) -> tuple[Budget, ...]:
    """``LOW..HIGH`` as ``steps`` log-spaced budgets, both ends included (``1e21..1e25``
    with 5 steps: 1e21, 1e22, ..., 1e25). Both ends take the same unit. Exactly two dots:
    ``1e21...1e25`` is refused (it would otherwise read as ``1e21.`` to ``.1e25``)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or \
            not 2 <= steps <= MAX_RANGE_STEPS:
        raise UsageError(f"{shown(steps)}: a budget range needs a whole number of steps from 2 "
                         f"to {MAX_RANGE_STEPS} (the ends included)", field="steps")
    raw = str(text).strip()
    if any(ch.isspace() for ch in raw):  # `1e21 .. 1e25`: one token, as every number
        raise InputError(f"{shown(raw)} contains a space; write "
                         f"{shown(''.join(raw.split()))}", field="budget")
    match = _RANGE.match(raw)
    if match is None or raw.count("..") != 1 or "..." in raw:
        raise InputError(f"{shown(raw)}: write a range as LOW..HIGH with two dots, e.g. "
                         "1e21..1e25", field="budget")
    low, high = (parse_budget(end, hardware) for end in (match["low"], match["high"]))
    if low.unit != high.unit:
        raise InputError(f"{shown(raw)}: both ends need the same unit (got {low.unit} and "
                         f"{high.unit})", field="budget")
    if not low.compute_flops < high.compute_flops:
        raise InputError(f"{shown(raw)}: the low end must be below the high end",
                         field="budget")
    span = high.amount / low.amount  # log-spaced ratios, both ends exact
    ratios = [span ** (i / (steps - 1)) for i in range(steps)]
    amounts = [low.amount, *(low.amount * r for r in ratios[1:-1]), high.amount]
    flops = [low.compute_flops, *(low.compute_flops * r for r in ratios[1:-1]),
             high.compute_flops]
    return tuple(Budget(f"{raw}[{i}]", float(a), low.unit, float(f))
                 for i, (a, f) in enumerate(zip(amounts, flops, strict=True)))


def parse_budgets(texts: list[str], steps: int, hardware: Hardware | None) -> list[Budget]:
    """Every budget, expanded: ``1e21..1e25`` ranges take ``steps`` log-spaced values."""
    out: list[Budget] = []
    for text in texts:
        if ".." in str(text):
            out.extend(budget_range(text, steps, hardware))
        else:
            out.append(parse_budget(text, hardware))
    if len(out) > MAX_RANGE_STEPS:
        raise UsageError(f"{len(out):,} budgets in all; give at most {MAX_RANGE_STEPS:,}",
                         field="budget")
    return out
