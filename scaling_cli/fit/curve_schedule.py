"""Learning-rate schedules as one learning rate per optimiser step, and their constructors.

A :class:`Schedule` holds eta_s for every step s = 0 .. T-1 (``step``, ``lr``). The loss-curve
laws (:mod:`scaling_cli.fit.curve_law`) read only these numbers, so any schedule a user can
describe - or log - can be predicted under.

Conventions (those of Luo et al. 2025's released schedules, so their curves reproduce):

- warm-up over W steps: eta_s = peak * s / (W - 1) for s < W (0 at step 0, the peak at step
  W - 1); ``warmup_steps=0`` starts at the peak;
- cosine to ``final_lr`` over the run: eta_s = f + (p - f) (1 + cos(pi (s - W) / (T - W))) / 2;
- a cooldown of c steps from step s0, progress u = (s - s0) / c (it reaches ``final_lr`` at
  step s0 + c, one step past the run's last):
  exponential  eta = p^(1-u) f^u          linear  eta = p + (f - p) u
  cosine       eta = f + (p - f)(1 + cos(pi u)) / 2
  1-sqrt       eta = f + (p - f)(1 - sqrt(u))          (Hagele et al. 2024)
- a logged learning-rate column (every k steps) is expanded to every step by linear
  interpolation, except that a change between two flat stretches is a jump at the first step
  logged at the new value (a step-down schedule logs exactly that): interpolating it would
  spread a jump over k steps and bias the law's annealing term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import InputError, UsageError

__all__ = [
    "COOLDOWN_SHAPES",
    "CooldownShape",
    "Schedule",
    "constant_schedule",
    "cosine_schedule",
    "schedule_from_log",
    "step_schedule",
    "with_cooldown",
    "wsd_schedule",
]

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CooldownShape = Literal["exponential", "linear", "cosine", "1-sqrt"]
COOLDOWN_SHAPES: tuple[CooldownShape, ...] = ("exponential", "linear", "cosine", "1-sqrt")
MAX_STEPS = 100_000_000  # 800 MB of float64: beyond this a schedule is a typo, not a run


@dataclass(frozen=True, eq=False)
class Schedule:
    """The learning rate at every optimiser step: ``lr[s]`` is eta_s, s = 0 .. T-1."""

    lr: Array
    name: str = "schedule"

    def __post_init__(self) -> None:
        lr = np.asarray(self.lr, dtype=float)
        if lr.ndim != 1 or lr.size < 2:
            raise InputError(f"schedule {self.name!r}: needs a learning rate for at least "
                             "2 steps", field="lr")
        if not np.isfinite(lr).all() or (lr < 0).any():
            bad = int(np.flatnonzero(~np.isfinite(lr) | (lr < 0))[0])
            raise InputError(f"schedule {self.name!r}: the learning rate at step {bad} is "
                             f"{float(lr[bad])!r}; it must be finite and >= 0", field="lr")
        if not (lr > 0).any():
            raise InputError(f"schedule {self.name!r}: every learning rate is 0", field="lr")
        lr.setflags(write=False)
        object.__setattr__(self, "lr", lr)

    @property
    def step(self) -> IntArray:
        return np.arange(self.lr.size, dtype=np.int64)

    @property
    def total_steps(self) -> int:
        return int(self.lr.size)

    @property
    def peak_lr(self) -> float:
        return float(self.lr.max())

    @property
    def peak_step(self) -> int:
        """First step at the peak: the end of the warm-up."""
        return int(np.argmax(self.lr))

    def until(self, last_step: int) -> Schedule:
        """The first ``last_step + 1`` steps (a run still in flight)."""
        if not 1 <= last_step < self.total_steps:
            raise UsageError(f"schedule {self.name!r} has steps 0..{self.total_steps - 1}; "
                             f"cannot cut it at step {last_step}", field="last_step")
        return Schedule(self.lr[: last_step + 1].copy(), f"{self.name}[:{last_step}]")


# --------------------------------------------------------------------------- validation


def _count(value: int, field: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise UsageError(f"must be a whole number of steps, got {value!r}", field=field)
    if not minimum <= int(value) <= MAX_STEPS:
        raise UsageError(f"must be between {minimum:,} and {MAX_STEPS:,} steps, "
                         f"got {int(value):,}", field=field)
    return int(value)


def _rate(value: float, field: str, *, zero_ok: bool = False) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not zero_ok):
        need = ">= 0" if zero_ok else "> 0"
        raise UsageError(f"must be a finite learning rate {need}, got {value!r}", field=field)
    return v


def _warmup(total: int, warmup: int, peak: float) -> Array:
    """The warm-up ramp (W values) of a schedule of ``total`` steps."""
    if warmup == 0:
        return np.empty(0)
    if warmup == 1 or warmup >= total:
        raise UsageError(f"must be 0 or between 2 and total_steps - 1 ({total - 1:,}), "
                         f"got {warmup:,}", field="warmup_steps")
    return peak * np.arange(warmup) / (warmup - 1)


def _cooldown(peak: float, final: float, progress: Array, shape: str) -> Array:
    if shape == "exponential":
        if final <= 0:
            raise UsageError("an exponential cooldown cannot reach 0: give final_lr > 0 or "
                             "another shape", field="final_lr")
        return np.asarray(np.exp((1 - progress) * np.log(peak) + progress * np.log(final)),
                          dtype=float)
    if shape == "linear":
        return peak + (final - peak) * progress
    if shape == "cosine":
        return final + (peak - final) * (1 + np.cos(np.pi * progress)) / 2
    if shape == "1-sqrt":
        return final + (peak - final) * (1 - np.sqrt(progress))
    raise UsageError(f"unknown cooldown shape {shape!r}; use one of "
                     f"{', '.join(COOLDOWN_SHAPES)}", field="shape")


# --------------------------------------------------------------------------- constructors


def constant_schedule(*, total_steps: int, peak_lr: float, warmup_steps: int = 0,
                      name: str = "constant") -> Schedule:
    """Linear warm-up to ``peak_lr``, then constant."""
    total = _count(total_steps, "total_steps", minimum=2)
    peak = _rate(peak_lr, "peak_lr")
    ramp = _warmup(total, _count(warmup_steps, "warmup_steps", minimum=0), peak)
    return Schedule(np.concatenate([ramp, np.full(total - ramp.size, peak)]), name)


def cosine_schedule(*, total_steps: int, peak_lr: float, final_lr: float,
                    warmup_steps: int = 0, name: str = "cosine") -> Schedule:
    """Linear warm-up, then a half cosine from ``peak_lr`` to ``final_lr`` at ``total_steps``."""
    total = _count(total_steps, "total_steps", minimum=2)
    peak, final = _rate(peak_lr, "peak_lr"), _rate(final_lr, "final_lr", zero_ok=True)
    ramp = _warmup(total, _count(warmup_steps, "warmup_steps", minimum=0), peak)
    progress = np.arange(total - ramp.size) / (total - ramp.size)
    return Schedule(np.concatenate([ramp, _cooldown(peak, final, progress, "cosine")]), name)


def step_schedule(*, total_steps: int, peak_lr: float, drop_step: int, drop_lr: float,
                  warmup_steps: int = 0, name: str = "step") -> Schedule:
    """Warm-up, ``peak_lr`` until ``drop_step``, then constant ``drop_lr`` (Luo's 'wsdcon')."""
    total = _count(total_steps, "total_steps", minimum=2)
    peak, low = _rate(peak_lr, "peak_lr"), _rate(drop_lr, "drop_lr")
    warm = _count(warmup_steps, "warmup_steps", minimum=0)
    drop = _count(drop_step, "drop_step", minimum=max(warm, 1))
    if drop >= total:
        raise UsageError(f"must be before total_steps ({total:,}), got {drop:,}",
                         field="drop_step")
    ramp = _warmup(total, warm, peak)
    return Schedule(np.concatenate([ramp, np.full(drop - ramp.size, peak),
                                    np.full(total - drop, low)]), name)


def with_cooldown(schedule: Schedule, *, start_step: int, cooldown_steps: int,
                  final_lr: float, shape: CooldownShape = "linear",
                  name: str | None = None) -> Schedule:
    """``schedule`` up to ``start_step``, then a cooldown from its lr there to ``final_lr``
    over ``cooldown_steps`` steps: "keep training, cool down at step s". The result has
    ``start_step + cooldown_steps`` steps."""
    start = _count(start_step, "start_step", minimum=1)
    if start >= schedule.total_steps:
        raise UsageError(f"schedule {schedule.name!r} ends at step {schedule.total_steps - 1:,};"
                         f" a cooldown cannot start at {start:,}", field="start_step")
    length = _count(cooldown_steps, "cooldown_steps", minimum=1)
    final = _rate(final_lr, "final_lr", zero_ok=True)
    peak = float(schedule.lr[start])
    tail = _cooldown(peak, final, np.arange(length) / length, shape)
    label = name or f"{schedule.name}+{shape}_cooldown_{start}_{length}"
    return Schedule(np.concatenate([schedule.lr[:start], tail]), label)


def wsd_schedule(*, total_steps: int, peak_lr: float, final_lr: float, cooldown_steps: int,
                 shape: CooldownShape = "linear", warmup_steps: int = 0,
                 name: str = "wsd") -> Schedule:
    """Warmup-stable-decay: warm-up, constant, then a cooldown over the last
    ``cooldown_steps`` steps."""
    total = _count(total_steps, "total_steps", minimum=2)
    length = _count(cooldown_steps, "cooldown_steps", minimum=1)
    if length >= total - warmup_steps:
        raise UsageError(f"must leave a stable phase after the warm-up: at most "
                         f"{total - warmup_steps - 1:,}, got {length:,}", field="cooldown_steps")
    base = constant_schedule(total_steps=total, peak_lr=peak_lr, warmup_steps=warmup_steps)
    return with_cooldown(base, start_step=total - length, cooldown_steps=length,
                         final_lr=final_lr, shape=shape, name=name)


def schedule_from_log(step: npt.ArrayLike, lr: npt.ArrayLike, *, warmup_steps: int = 0,
                      total_steps: int | None = None, name: str = "logged") -> Schedule:
    """Expand a logged learning rate (every k steps) to every step.

    Before the first logged step: the linear warm-up to the first logged lr over
    ``warmup_steps`` steps, then that lr. Between logged steps: linear, except a jump between
    two flat stretches (see the module docstring). After the last: its lr, up to
    ``total_steps`` (default: the last logged step + 1).
    """
    s = np.asarray(step, dtype=float)
    v = np.asarray(lr, dtype=float)
    if s.ndim != 1 or s.shape != v.shape or s.size < 1:
        raise InputError(f"{name}: step and lr must be 1-D columns of equal length",
                         field="lr")
    if not (np.isfinite(s).all() and (s == np.round(s)).all() and (s >= 0).all()):
        raise InputError(f"{name}: steps must be whole numbers >= 0", field="step")
    if s.size > 1 and not (np.diff(s) > 0).all():
        at = int(np.flatnonzero(np.diff(s) <= 0)[0]) + 1
        raise InputError(f"{name}: row {at + 1}: step {int(s[at])} does not increase; sort "
                         "the log by step and drop duplicate rows", field="step")
    if not np.isfinite(v).all() or (v < 0).any():
        at = int(np.flatnonzero(~np.isfinite(v) | (v < 0))[0])
        raise InputError(f"{name}: row {at + 1} (step {int(s[at])}): lr {float(v[at])!r} must be "
                         "finite and >= 0", field="lr")
    first, last = int(s[0]), int(s[-1])
    total = last + 1 if total_steps is None else _count(total_steps, "total_steps",
                                                        minimum=last + 1)
    warm = _count(warmup_steps, "warmup_steps", minimum=0)
    if warm > first + 1:
        raise UsageError(f"{name}: the log starts at step {first:,}, inside a warm-up of "
                         f"{warm:,} steps; log lr from step 0 or shorten warmup_steps",
                         field="warmup_steps")
    if warm == 1:
        raise UsageError("must be 0 or at least 2 steps", field="warmup_steps")
    out = np.empty(total)
    out[:first] = v[0]
    if warm:
        out[:warm] = v[0] * np.arange(warm) / (warm - 1)
    out[first: last + 1] = np.interp(np.arange(first, last + 1), s, v)
    same = v[1:] == v[:-1]  # same[j - 1]: logged interval j = (s[j-1], s[j]] is flat
    j = np.arange(2, s.size - 1)
    for jump in j[~same[j - 1] & same[j - 2] & same[j]]:
        out[int(s[jump - 1]): int(s[jump])] = v[jump - 1]  # held until the jump at s[jump]
    out[last + 1:] = v[-1]
    return Schedule(out, name)
