"""Compute in the units people budget in: FLOPs <-> GPU-hours <-> days on K GPUs <-> dollars.

With a GPU's dense bf16 peak P (FLOP/s, from ``configs/hardware.toml`` or the user) and the
model FLOPs utilisation MFU (achieved / peak, default 0.4):

    GPU-hours = FLOPs / (3600 * P * MFU)
    days      = GPU-hours / (24 * K)            (wall clock on K GPUs in parallel)
    dollars   = GPU-hours * price per GPU-hour

Budgets are written as one token, no spaces (like every number, see :mod:`scaling_cli.units`):

    1e24   1e24flops   2e6gpu-hours   5Mgpu-hours   30days   5e6usd   $5M

The number part takes the usual k/M/B/T suffixes. GPU-hours need the GPU; days also the
GPU count; dollars also a price. ``1e21..1e25`` with a step count is a log-spaced range.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from scaling_cli.backend import namespace
from scaling_cli.errors import InputError, UsageError
from scaling_cli.law import config_dir
from scaling_cli.units import QuantityError, parse_number

__all__ = [
    "BUDGET_UNITS",
    "DEFAULT_MFU",
    "GPU",
    "Budget",
    "ComputeCost",
    "Hardware",
    "budget_range",
    "compute_cost",
    "flops_to_gpu_hours",
    "gpu_hours_to_flops",
    "load_gpus",
    "make_hardware",
    "parse_budget",
]

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Array = npt.NDArray[np.float64]

DEFAULT_MFU = 0.4
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


@dataclass(frozen=True)
class GPU:
    """One accelerator: dense bf16 peak and (optionally) an assumed price."""

    name: str
    peak_tflops: float  # dense bf16 Tensor Core peak, TFLOP/s
    usd_per_gpu_hour: float | None
    title: str = ""
    source: str = ""
    price_note: str = ""

    @property
    def peak_flops_per_second(self) -> float:
        return self.peak_tflops * 1e12


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


@dataclass(frozen=True)
class ComputeCost:
    """A compute amount in every unit; ``days``/``usd`` are None without GPU count/price."""

    compute_flops: Array
    gpu_hours: Array
    days: Array | None  # wall clock on hardware.gpus GPUs
    usd: Array | None


@dataclass(frozen=True)
class Budget:
    """A budget as written (``amount`` in ``unit``) and its value in FLOPs."""

    text: str
    amount: float
    unit: str  # one of BUDGET_UNITS
    compute_flops: float


# --------------------------------------------------------------------------- presets


def _positive_number(table: Mapping[str, Any], key: str, where: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or not math.isfinite(value):
        raise InputError(f"{where}: {key!r} must be a positive number, got {value!r}")
    return float(value)


def load_gpus(path: Path | None = None) -> dict[str, GPU]:
    """GPU presets by (lower-case) name from ``configs/hardware.toml`` or ``path``."""
    path = path or config_dir() / "hardware.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: cannot read hardware presets ({exc})") from None
    gpus = {}
    for name, table in data.get("gpus", {}).items():
        where = f"{path}: gpu {name!r}"
        if "peak_tflops" not in table:
            raise InputError(f"{where}: missing 'peak_tflops' (dense bf16 TFLOP/s)")
        price = (_positive_number(table, "usd_per_gpu_hour", where)
                 if "usd_per_gpu_hour" in table else None)
        gpus[name.lower()] = GPU(name.lower(), _positive_number(table, "peak_tflops", where),
                                 price, str(table.get("title", name)),
                                 str(table.get("source", "")), str(table.get("price_note", "")))
    return gpus


def make_hardware(
    gpu: str | None = None, *, peak_tflops: float | None = None,
    usd_per_gpu_hour: float | None = None, mfu: float = DEFAULT_MFU, gpus: int | None = None,
    presets: Mapping[str, GPU] | None = None, where: str | None = None,
) -> Hardware:
    """A preset GPU (by name) with the user's overrides, or a custom one from ``peak_tflops``.

    User values win over the preset's and are recorded in ``source``/``price_note``.
    Settings are named as flags (``--mfu``, :class:`UsageError`), or, given ``where`` (e.g.
    ``plan.yaml: hardware``), as that file's keys (``plan.yaml: hardware: 'mfu' 1.4: ...``,
    :class:`InputError`).
    """
    def name(field: str) -> str:
        return repr(field) if where else "--" + field.replace("_", "-")

    def fail(message: str) -> NoReturn:
        raise (InputError(f"{where}: {message}") if where else UsageError(message))

    def given(field: str) -> str:
        return f"given with {where}: {field!r}" if where else f"given with {name(field)}"

    if not 0.0 < mfu <= 1.0:
        fail(f"{name('mfu')} {mfu!r}: the model FLOPs utilisation must be in (0, 1], e.g. 0.4 "
             "for 40% of peak")
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1):
        fail(f"{name('gpus')} {gpus!r}: the GPU count must be a whole number >= 1")
    for field, value in (("peak_tflops", peak_tflops), ("usd_per_gpu_hour", usd_per_gpu_hour)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            fail(f"{name(field)} {value!r}: must be a positive number")
    if gpu is None:
        if peak_tflops is None:
            fail(f"no GPU given: choose one with {name('gpu')}{'' if where else ' NAME'} "
                 f"(a100, h100, h200) or give its dense bf16 peak with {name('peak_tflops')}")
        chip = GPU("custom", peak_tflops, usd_per_gpu_hour, "custom GPU",
                   f"peak {given('peak_tflops')}",
                   given("usd_per_gpu_hour") if usd_per_gpu_hour else "")
        return Hardware(chip, mfu, gpus)
    presets = load_gpus() if presets is None else presets
    key = gpu.strip().lower()
    if key not in presets:
        close = difflib.get_close_matches(key, list(presets), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        fail(f"{name('gpu')} {gpu!r}: unknown GPU; {hint}choose one of "
             f"{', '.join(sorted(presets))} or give {name('peak_tflops')}")
    chip = presets[key]
    if peak_tflops is not None:
        chip = replace(chip, peak_tflops=peak_tflops, source=f"peak {given('peak_tflops')}")
    if usd_per_gpu_hour is not None:
        chip = replace(chip, usd_per_gpu_hour=usd_per_gpu_hour,
                       price_note=given("usd_per_gpu_hour"))
    return Hardware(chip, mfu, gpus)


# --------------------------------------------------------------------------- conversions


def flops_to_gpu_hours(flops: npt.ArrayLike, hardware: Hardware) -> Array:
    """GPU-hours = FLOPs / (3600 * peak * MFU). Floats stay floats; arrays stay arrays."""
    xp = namespace(flops)
    return xp.asarray(flops, dtype=float) / hardware.flops_per_gpu_hour  # type: ignore[no-any-return]


def gpu_hours_to_flops(gpu_hours: npt.ArrayLike, hardware: Hardware) -> Array:
    """FLOPs = GPU-hours * 3600 * peak * MFU."""
    xp = namespace(gpu_hours)
    return xp.asarray(gpu_hours, dtype=float) * hardware.flops_per_gpu_hour  # type: ignore[no-any-return]


def compute_cost(flops: npt.ArrayLike, hardware: Hardware) -> ComputeCost:
    """FLOPs in GPU-hours, days on ``hardware.gpus`` GPUs and dollars (when known)."""
    f = namespace(flops).asarray(flops, dtype=float)
    hours = flops_to_gpu_hours(f, hardware)
    days = None if hardware.gpus is None else hours / (HOURS_PER_DAY * hardware.gpus)
    price = hardware.gpu.usd_per_gpu_hour
    return ComputeCost(f, hours, days, None if price is None else hours * price)


# --------------------------------------------------------------------------- budgets


def _split_unit(text: str) -> tuple[str, str]:
    """(number part, unit) of a budget token; unit 'flops' when none is written."""
    if text.startswith("$"):
        return text[1:], "usd"
    low = text.lower()
    for alias in sorted(_ALIASES, key=len, reverse=True):
        if low.endswith(alias) and len(low) > len(alias):
            return text[: -len(alias)], _ALIASES[alias]
    return text, "flops"


def _needs(text: str, what: str) -> UsageError:
    return UsageError(f"budget {text!r}: {what}")


def parse_budget(text: str, hardware: Hardware | None = None) -> Budget:
    """A budget token (see the module doc) converted to FLOPs.

    Raises InputError for a malformed token and UsageError when converting it needs
    hardware that was not given (GPU, GPU count, price).
    """
    raw = str(text).strip()
    if any(ch.isspace() for ch in raw):
        squeezed = "".join(raw.split())
        raise InputError(f"budget {text!r} contains a space; write {squeezed!r}")
    number, unit = _split_unit(raw)
    try:
        amount = parse_number(number)
    except QuantityError as exc:
        problem = exc.problem
        if "unknown suffix" in problem or "has a unit" in problem:
            problem = f"unknown unit; write a budget as {_FORMS}"
        elif "not a number" in problem:
            problem = f"not a number; write a budget as {_FORMS}"
        raise InputError(f"budget {text!r}: {problem}") from None
    if unit == "flops":
        return Budget(raw, amount, unit, amount)
    if hardware is None:
        raise _needs(raw, "converting it to FLOPs needs the GPU: add --gpu NAME (a100, h100, "
                          "h200) or --peak-tflops, and optionally --mfu (default 0.4)")
    if unit == "gpu-hours":
        hours = amount
    elif unit == "days":
        if hardware.gpus is None:
            raise _needs(raw, "days of wall clock need the GPU count: add --gpus K")
        hours = amount * HOURS_PER_DAY * hardware.gpus
    else:
        price = hardware.gpu.usd_per_gpu_hour
        if price is None:
            raise _needs(raw, f"dollars need a price for {hardware.gpu.name}: add "
                              "--usd-per-gpu-hour PRICE")
        hours = amount / price
    return Budget(raw, amount, unit, float(gpu_hours_to_flops(hours, hardware)))


def budget_range(text: str, steps: int, hardware: Hardware | None = None) -> tuple[Budget, ...]:
    """``LOW..HIGH`` as ``steps`` log-spaced budgets, both ends included (``1e21..1e25``
    with 5 steps: 1e21, 1e22, ..., 1e25). Both ends take the same unit."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= 1000:
        raise UsageError(f"--steps {steps!r}: a budget range needs a whole number of steps "
                         "from 2 to 1000 (the ends included)")
    ends = str(text).split("..")
    if len(ends) != 2 or not all(ends):
        raise InputError(f"budget range {text!r}: write LOW..HIGH, e.g. 1e21..1e25")
    low, high = (parse_budget(end, hardware) for end in ends)
    if low.unit != high.unit:
        raise InputError(f"budget range {text!r}: both ends need the same unit "
                         f"(got {low.unit} and {high.unit})")
    if not low.compute_flops < high.compute_flops:
        raise InputError(f"budget range {text!r}: the low end must be below the high end")
    span = high.amount / low.amount  # log-spaced ratios, both ends exact
    ratios = [span ** (i / (steps - 1)) for i in range(steps)]
    amounts = [low.amount, *(low.amount * r for r in ratios[1:-1]), high.amount]
    flops = [low.compute_flops, *(low.compute_flops * r for r in ratios[1:-1]),
             high.compute_flops]
    return tuple(Budget(f"{text}[{i}]", float(a), low.unit, float(f))
                 for i, (a, f) in enumerate(zip(amounts, flops, strict=True)))
