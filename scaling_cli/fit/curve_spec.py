"""Learning-rate schedules written as text: ``cosine:steps=72k,peak=3e-4,final=10%``.

A :class:`ScheduleSpec` is what a user writes to describe the schedule a run was (or is
being) trained with, or another schedule to predict under; :func:`build_schedule` turns it
into a :class:`~scaling_cli.fit.curve_schedule.Schedule` (one learning rate per step) with
the constructors and conventions of :mod:`scaling_cli.fit.curve_schedule`. The grammar::

    KIND[:KEY=VALUE[,KEY=VALUE...]]

    kind      keys                                          the schedule
    constant  steps, peak, warmup                           warm-up, then the peak lr
    cosine    steps, peak, final, warmup                    warm-up, then a half cosine to final
    wsd       steps, peak, final, warmup, cooldown, shape   warm-up, peak lr, then a cooldown
              at                                            over the last `cooldown` steps
    logged    steps, warmup                                 the lr the run logged, held at its
                                                            last value up to `steps`

    steps     total optimizer steps (the final loss is at step steps - 1): 72000, 72k
    peak      peak learning rate: 3e-4
    final     learning rate at the end of the decay: 3e-5, or a percentage of peak: 10%
    warmup    steps of linear warm-up from 0 to peak (default 0)
    cooldown  wsd: length of the cooldown, in steps or as a percentage of steps: 20%
    shape     wsd: the cooldown's shape, linear (default), cosine, 1-sqrt or exponential
    at        wsd: the step the cooldown starts; the schedule until then is the run's own
              ("keep training as now, cool down at step s"); steps = at + cooldown

A spec need not repeat what is already known: :meth:`ScheduleSpec.inherit` fills the keys it
leaves out from a base spec (the run's own schedule), so ``--under cosine:steps=100k``
keeps the run's peak, final lr and warm-up; ``peak`` defaults to the largest lr the run
logged. Every number goes through :func:`scaling_cli.units.parse_number`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from scaling_cli.errors import UsageError
from scaling_cli.fit.curve_schedule import (
    COOLDOWN_SHAPES,
    MAX_STEPS,
    CooldownShape,
    Schedule,
    constant_schedule,
    cosine_schedule,
    schedule_from_log,
    with_cooldown,
    wsd_schedule,
)
from scaling_cli.units import QuantityError, format_count, format_number, parse_number, shown

__all__ = ["KINDS", "Kind", "ScheduleSpec", "build_schedule"]

Kind = Literal["constant", "cosine", "wsd", "logged"]
KINDS: tuple[Kind, ...] = ("constant", "cosine", "wsd", "logged")
KEYS: dict[Kind, tuple[str, ...]] = {
    "constant": ("steps", "peak", "warmup"),
    "cosine": ("steps", "peak", "final", "warmup"),
    "wsd": ("steps", "peak", "final", "warmup", "cooldown", "shape", "at"),
    "logged": ("steps", "warmup"),
}
_EXAMPLE = "e.g. cosine:steps=72000,peak=3e-4,final=3e-5,warmup=2000"
_Fail = Callable[[str], UsageError]  # makes the error of one spec
# A constructor's setting -> the spec's key, for the rare error the checks here let through.
_KEY_OF = {"total_steps": "steps", "peak_lr": "peak", "final_lr": "final",
           "warmup_steps": "warmup", "cooldown_steps": "cooldown", "start_step": "at"}


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule as written (see the module docstring). ``None``: not given. A percentage
    is kept as such (``final_fraction`` of the peak, ``cooldown_fraction`` of the steps)
    until the schedule is built."""

    kind: Kind
    steps: int | None = None
    peak: float | None = None
    final: float | None = None
    final_fraction: float | None = None
    warmup: int | None = None
    cooldown: int | None = None
    cooldown_fraction: float | None = None
    shape: CooldownShape | None = None
    at: int | None = None
    text: str = ""

    @classmethod
    def parse(cls, text: str, *, setting: str = "schedule") -> ScheduleSpec:
        """The spec ``text`` describes; a :class:`UsageError` naming ``setting`` otherwise."""
        kind_text, _, body = text.strip().partition(":")
        kind = kind_text.strip().lower()
        if kind not in KINDS:
            raise UsageError(f"{shown(text)}: unknown schedule {shown(kind_text.strip())}; "
                             f"write KIND:KEY=VALUE,... with KIND one of {', '.join(KINDS)}, "
                             f"{_EXAMPLE}", field=setting)
        values: dict[str, object] = {"kind": kind, "text": text.strip()}
        for item in (i for i in body.split(",") if i.strip()):
            key, sep, value = (part.strip() for part in item.partition("="))
            key = key.lower()
            if not sep or not key or not value:
                raise UsageError(f"{shown(text)}: {shown(item.strip())} is not KEY=VALUE; "
                                 f"{_EXAMPLE}", field=setting)
            allowed = KEYS[kind]
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                near = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise UsageError(f"{shown(text)}: unknown key {shown(key)}{near}; a {kind} "
                                 f"schedule takes {', '.join(allowed)}", field=setting)
            if key in values or (key == "final" and "final_fraction" in values) or (
                    key == "cooldown" and "cooldown_fraction" in values):
                raise UsageError(f"{shown(text)}: {key} is given twice; give it once",
                                 field=setting)
            values.update(_value(text, key, value, setting))
        return cls(**values)  # type: ignore[arg-type]

    def inherit(self, base: ScheduleSpec | None) -> ScheduleSpec:
        """This spec with every key its kind takes but it leaves out taken from ``base``
        (``at`` is never inherited: it is a question, not a property of the run)."""
        if base is None:
            return self
        keys = KEYS[self.kind]
        filled: dict[str, Any] = {}
        for key in keys:
            if key == "at" or self._given(key) or not base._given(key):
                continue
            for name in _NAMES[key]:
                filled[name] = getattr(base, name)
        return replace(self, **filled) if filled else self

    def _given(self, key: str) -> bool:
        return any(getattr(self, name) is not None for name in _NAMES[key])

    def __str__(self) -> str:
        """The canonical text: every key given, in the grammar's order."""
        parts = []
        for key in KEYS[self.kind]:
            text = self._shown(key)
            if text is not None:
                parts.append(f"{key}={text}")
        return self.kind + (":" + ",".join(parts) if parts else "")

    def _shown(self, key: str) -> str | None:
        if key == "final" and self.final_fraction is not None:
            return f"{format_number(100 * self.final_fraction)}%"
        if key == "cooldown" and self.cooldown_fraction is not None:
            return f"{format_number(100 * self.cooldown_fraction)}%"
        value = getattr(self, key)
        if value is None:
            return None
        if key in ("peak", "final"):
            return f"{value:.6g}"
        return value if isinstance(value, str) else str(int(value))


_NAMES = {"steps": ("steps",), "peak": ("peak",), "final": ("final", "final_fraction"),
          "warmup": ("warmup",), "cooldown": ("cooldown", "cooldown_fraction"),
          "shape": ("shape",), "at": ("at",)}


def _value(text: str, key: str, value: str, setting: str) -> dict[str, object]:
    """One KEY=VALUE as the spec's field(s), checked."""
    def fail(problem: str) -> UsageError:
        return UsageError(f"{shown(text)}: {key}={shown(value)}: {problem}", field=setting)

    if key == "shape":
        shape = value.lower()
        if shape not in COOLDOWN_SHAPES:
            raise fail(f"use one of {', '.join(COOLDOWN_SHAPES)}")
        return {"shape": shape}
    percent = value.endswith("%")
    try:
        number = parse_number(value[:-1] if percent else value, allow_zero=key != "peak"
                              and key != "steps")
    except QuantityError as exc:
        raise fail(exc.problem) from None
    if percent:
        if key not in ("final", "cooldown") or not 0 <= number <= 100:
            raise fail("a percentage must be of final (of the peak lr) or cooldown (of the "
                       "steps), between 0% and 100%")
        return {f"{key}_fraction": number / 100}
    if key in ("peak", "final"):
        return {key: number}
    if number != int(number):
        raise fail("is not a whole number of steps")
    if number > MAX_STEPS:
        raise fail(f"is more than {format_count(MAX_STEPS)} steps; check the units")
    return {key: int(number)}


# --------------------------------------------------------------------------- building


def build_schedule(spec: ScheduleSpec, *, name: str, setting: str = "schedule",
                   logged: Schedule | None = None, base: Schedule | None = None,
                   default_peak: float | None = None) -> Schedule:
    """The :class:`Schedule` ``spec`` describes. ``logged``: the run's own logged schedule
    (for ``logged`` specs); ``base``: the run's planned schedule (for a ``wsd`` cooldown
    ``at`` a step); ``default_peak``: the peak lr when the spec gives none (the largest
    logged one, else that of ``logged``). Errors name ``setting`` and the key at fault."""
    where = shown(spec.text or str(spec))

    def fail(problem: str) -> UsageError:
        return UsageError(f"{where}: {problem}", field=setting)

    warmup = spec.warmup or 0
    try:
        if spec.kind == "logged":
            if logged is None:
                raise fail("the run logged no learning rate to use; describe its schedule, "
                           f"{_EXAMPLE}")
            return _extended(logged, spec, name, fail)
        if spec.kind == "wsd" and spec.at is not None:
            return _cooldown_at(spec, base, name, fail)
        steps = _steps(spec, fail)
        peak = spec.peak if spec.peak is not None else default_peak
        if peak is None and logged is not None:
            peak = logged.peak_lr
        if peak is None:
            raise fail(f"give its peak learning rate, peak=LR ({_EXAMPLE})")
        if not 0 <= warmup < steps - 1:
            raise fail(f"warmup={warmup:,} must be below steps - 1 ({steps - 1:,})")
        if spec.kind == "constant":
            return constant_schedule(total_steps=steps, peak_lr=peak, warmup_steps=warmup,
                                     name=name)
        final = _final(spec, peak, fail)
        if spec.kind == "cosine":
            return cosine_schedule(total_steps=steps, peak_lr=peak, final_lr=final,
                                   warmup_steps=warmup, name=name)
        length = _cooldown_length(spec, steps, fail)
        if length >= steps - warmup:
            raise fail(f"cooldown={length:,} leaves no stable phase after the warm-up of "
                       f"{warmup:,} steps in {steps:,}; shorten it")
        return wsd_schedule(total_steps=steps, peak_lr=peak, final_lr=final,
                            cooldown_steps=length, shape=spec.shape or "linear",
                            warmup_steps=warmup, name=name)
    except UsageError as exc:
        if exc.field == setting:
            raise
        key = _KEY_OF.get(exc.field or "", exc.field or "schedule")
        raise fail(f"{key}: {exc.problem}") from None


def _steps(spec: ScheduleSpec, fail: _Fail) -> int:
    if spec.steps is None:
        raise fail(f"give its length, steps=N ({_EXAMPLE})")
    if spec.steps < 2:
        raise fail(f"steps={spec.steps} is too short; a schedule has at least 2 steps")
    return spec.steps


def _final(spec: ScheduleSpec, peak: float, fail: _Fail) -> float:
    if spec.final_fraction is not None:
        final = spec.final_fraction * peak
    elif spec.final is not None:
        final = spec.final
    else:
        raise fail("give the learning rate it decays to, final=LR or a percentage of the "
                   "peak, final=10%")
    if final > peak:
        raise fail(f"final={final:.6g} is above the peak learning rate {peak:.6g}")
    if final == 0 and spec.kind == "wsd" and spec.shape == "exponential":
        raise fail("an exponential cooldown cannot reach 0; give final > 0 or another shape")
    return final


def _cooldown_length(spec: ScheduleSpec, steps: int, fail: _Fail) -> int:
    if spec.cooldown_fraction is not None:
        length = round(spec.cooldown_fraction * steps)
    elif spec.cooldown is not None:
        length = spec.cooldown
    else:
        raise fail("give the cooldown's length, cooldown=STEPS or a percentage of the steps, "
                   "cooldown=20%")
    if length < 1:
        raise fail("the cooldown must last at least 1 step")
    return length


def _cooldown_at(spec: ScheduleSpec, base: Schedule | None, name: str,
                 fail: _Fail) -> Schedule:
    """``wsd:at=S,cooldown=C``: the run's planned schedule until step S, then a cooldown."""
    at = spec.at
    assert at is not None
    if base is None:
        raise fail("at= cools down the run in flight's own schedule; there is no run in "
                   "flight (name it)")
    if not 1 <= at < base.total_steps:
        raise fail(f"at={at:,} is outside the run's schedule (steps 1 to "
                   f"{base.total_steps - 1:,}); give its planned length to cool down later")
    if spec.cooldown_fraction is not None:
        raise fail("with at=, give the cooldown's length in steps (cooldown=STEPS)")
    length = _cooldown_length(spec, at, fail)
    if spec.steps is not None and spec.steps != at + length:
        raise fail(f"steps={spec.steps:,} differs from at + cooldown ({at + length:,}); "
                   "give one of them")
    final = _final(spec, float(base.lr[at]), fail)
    return with_cooldown(base, start_step=at, cooldown_steps=length, final_lr=final,
                         shape=spec.shape or "linear", name=name)


def _extended(logged: Schedule, spec: ScheduleSpec, name: str, fail: _Fail) -> Schedule:
    """The logged schedule held at its last learning rate up to ``steps``."""
    steps = spec.steps if spec.steps is not None else logged.total_steps
    if steps < logged.total_steps:
        raise fail(f"steps={steps:,} ends before the log does (step "
                   f"{logged.total_steps - 1:,}); give the run's planned length")
    grid = np.arange(logged.total_steps)
    return schedule_from_log(grid, logged.lr, total_steps=steps, name=name)

