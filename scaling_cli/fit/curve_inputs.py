"""Loss curves read from training logs -> the curve law's inputs (:mod:`scaling_cli.forecast.
curve`): a schedule for every curve, the run in flight and its reference curves.

A :class:`~scaling_cli.read.logs.Curve` (step, loss and, when logged, the learning rate)
becomes a :class:`~scaling_cli.fit.curve_law.ScheduledCurve` as follows.

- **Which curves.** Every curve read is of one model (one size and data): the law's
  parameters are shared by all of them, as Luo et al. fit several schedules of one model at
  once. Curves of different known sizes are refused. The *run in flight* is the curve named
  by ``run_id`` (or the only one); the others are *references*.
- **Schedules.** A curve's schedule is its logged learning rate, expanded to every step
  (:func:`~scaling_cli.fit.curve_schedule.schedule_from_log`). Before its first point: a log
  that starts after the warm-up gets a linear ramp from 0 over ``warmup_steps``; one that
  starts inside it (a rising lr) a linear ramp from 0 at step 0 to its first lr; otherwise its
  first lr. This matters more than it seems: Tissue et al.'s annealing area counts the
  warm-up's rise (about lr / (1 - 0.999) per unit of lr), so every schedule predicted must
  warm up as the logs did (a warning says when another schedule does not). The run in flight
  may instead (or also) be given its planned schedule (a :class:`~scaling_cli.fit.
  curve_spec.ScheduleSpec`): that is what reaches beyond its last logged step. When both
  exist they must agree wherever the learning rate was logged (within 2% of the logged lr
  plus 1% of the peak, one step either way: a trainer may log the lr before or after its
  scheduler steps); a schedule that contradicts the log is refused, never silently used.
  A reference curve needs its logged learning rate.
- **Points.** Points logged during the warm-up (before the first step at the peak learning
  rate) are left out, and counted: the laws describe training after it (Luo et al. fit from
  the end of the warm-up). ``until_step`` keeps only the run's points up to that step (to
  check a forecast against the rest of its log, which stays in :attr:`CurveInputs.observed`).

Every problem is one line naming the file, the run and the field, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from scaling_cli.errors import InputError, UsageError
from scaling_cli.fit.curve_law import ScheduledCurve
from scaling_cli.fit.curve_schedule import Schedule, schedule_from_log
from scaling_cli.fit.curve_spec import ScheduleSpec, build_schedule
from scaling_cli.units import format_count, shown

if TYPE_CHECKING:
    from scaling_cli.read.logs import Curve

__all__ = ["CurveInputs", "CurveSummary", "alternative_schedule", "curve_inputs",
           "logged_schedule", "warmup_warnings"]

LR_RELATIVE_TOLERANCE = 0.02
LR_PEAK_TOLERANCE = 0.01


@dataclass(frozen=True)
class CurveSummary:
    """What was read of one curve and how it is used (for the answer's ``inputs``)."""

    run_id: str
    source: str
    role: str  # "run" or "reference"
    points_logged: int
    points_used: int  # after the warm-up (and, for the run, up to `until_step`)
    first_step: int  # of the points used
    last_step: int
    lr_from: str  # "log", "schedule" (given) or "log and schedule" (checked against each other)
    total_steps: int  # of its schedule
    params: float | None


@dataclass(frozen=True)
class CurveInputs:
    """The curves the law is fitted to, and what the answers need to know about them."""

    run: ScheduledCurve | None  # the run so far, with its full planned schedule
    reference: tuple[ScheduledCurve, ...]
    observed: ScheduledCurve | None  # the run's whole log after the warm-up (past `until`)
    plan: ScheduleSpec | None  # the run's schedule as given (the base of other schedules)
    logged: Schedule | None  # the run's logged learning rate, expanded
    warmup_steps: int  # the warm-up of schedules that do not give theirs
    logged_peak_lr: float | None  # the largest learning rate any curve logged
    curves: tuple[CurveSummary, ...]  # the run first, then the references in input order
    warnings: tuple[str, ...]
    alternatives: tuple[Schedule, ...] = ()  # other schedules to predict under, as asked


def curve_inputs(curves: Sequence[Curve], *, run_id: str | None = None,
                 schedule: ScheduleSpec | None = None, until_step: int | None = None,
                 warmup_steps: int = 0, under: Sequence[ScheduleSpec] = ()) -> CurveInputs:
    """The run in flight (``run_id``, or the only curve) and the references among ``curves``,
    each with its schedule (see the module docstring), and the schedules ``under`` asks to
    predict under (:func:`alternative_schedule`; a warning for each that warms up
    differently: :func:`warmup_warnings`)."""
    if not curves:
        raise InputError("no loss curves were read; give training logs (or a CSV of step, "
                         "loss and lr)")
    if warmup_steps < 0:
        raise UsageError(f"must be 0 or more steps, got {warmup_steps}", field="warmup_steps")
    _check_one_model(curves)
    run = _the_run(curves, run_id, schedule, until_step)
    summaries: list[CurveSummary] = []
    warnings: list[str] = []
    reference: list[ScheduledCurve] = []
    fitted_run = observed = run_logged = None
    plan = schedule
    if plan is not None and plan.warmup is None and plan.kind != "logged":
        plan = replace(plan, warmup=warmup_steps)
    for curve in curves:
        if curve is run:
            run_logged, observed, fitted_run, summary = _run_inputs(
                curve, plan, until_step, warmup_steps)
            summaries.insert(0, summary)
            if schedule is None and until_step is None:
                warnings.append(f"{curve.where}: no planned schedule was given, so the run is "
                                "taken as finished at its last logged step; give the planned "
                                "schedule (`schedule`) to forecast a run in flight")
            continue
        logged = logged_schedule(curve, warmup_steps)
        if logged is None:
            raise InputError(f"{curve.where}: field 'lr': no learning rate was logged, and a "
                             "reference curve needs its schedule; log the lr (or map its key "
                             "with `column` lr=KEY), or leave the run out")
        scheduled = _scheduled(curve, logged)
        reference.append(scheduled)
        summaries.append(_summary(curve, scheduled, "reference", "log", logged))
    logged_lrs = [float(np.max(c.lr)) for c in curves if c.lr is not None]
    inputs = CurveInputs(fitted_run, tuple(reference), observed, plan, run_logged,
                         warmup_steps, max(logged_lrs) if logged_lrs else None,
                         tuple(summaries), tuple(warnings))
    if not under:
        return inputs
    others = tuple(alternative_schedule(spec, inputs) for spec in under)
    return replace(inputs, alternatives=others,
                   warnings=(*inputs.warnings, *warmup_warnings(others, inputs)))


def alternative_schedule(spec: ScheduleSpec, inputs: CurveInputs, *,
                         setting: str = "under") -> Schedule:
    """Another schedule to predict under: ``spec`` with what it leaves out taken from the
    run's own schedule (:meth:`ScheduleSpec.inherit`), peak defaulting to the largest logged
    learning rate, and a ``wsd`` cooldown ``at`` a step starting from the run's plan."""
    full = spec.inherit(inputs.plan)
    if full.warmup is None and full.kind != "logged":
        full = replace(full, warmup=inputs.warmup_steps)
    base = None if inputs.observed is None else inputs.observed.schedule
    return build_schedule(full, name=spec.text or str(spec), setting=setting,
                          logged=inputs.logged, base=base, default_peak=inputs.logged_peak_lr)


def warmup_warnings(schedules: Sequence[Schedule], inputs: CurveInputs) -> tuple[str, ...]:
    """A warning for each schedule whose warm-up differs from the run's (or, without a run,
    the first reference's): the annealing term counts the warm-up's rise, so a different
    warm-up shifts the predicted level by an amount the curves fitted never measured."""
    base = inputs.observed or (inputs.reference[0] if inputs.reference else None)
    if base is None:
        return ()
    ramp = base.schedule.lr[: base.schedule.peak_step + 1]
    out = []
    for schedule in schedules:
        own = schedule.lr[: ramp.size]
        if own.size < ramp.size or (np.abs(own - ramp) > LR_PEAK_TOLERANCE * ramp.max()).any():
            out.append(f"schedule {shown(schedule.name)} warms up differently from the curves "
                       f"fitted (their first {ramp.size:,} steps): the law counts the warm-up's "
                       "rise, so its level is uncertain; give it their warm-up "
                       "(`warmup_steps`)")
    return tuple(out)


# --------------------------------------------------------------------------- helpers


def _check_one_model(curves: Sequence[Curve]) -> None:
    sizes: dict[float, list[str]] = {}
    for curve in curves:
        if curve.params is not None:
            sizes.setdefault(curve.params, []).append(shown(curve.run_id))
    if len(sizes) > 1:
        shown_sizes = "; ".join(f"{format_count(n)}: {', '.join(ids[:3])}"
                                + (" ..." if len(ids) > 3 else "")
                                for n, ids in sorted(sizes.items()))
        raise InputError(f"curves of {len(sizes)} model sizes were read ({shown_sizes}); one "
                         "curve law describes one model: give the curves of one size")


def _the_run(curves: Sequence[Curve], run_id: str | None, schedule: ScheduleSpec | None,
             until_step: int | None) -> Curve | None:
    if run_id is not None:
        found = [c for c in curves if c.run_id == run_id]
        if not found:
            ids = ", ".join(shown(c.run_id) for c in curves[:8])
            more = " ..." if len(curves) > 8 else ""
            raise UsageError(f"{shown(run_id)}: no curve read has this id; the ids are "
                             f"{ids}{more}", field="run")
        return found[0]
    if len(curves) == 1:
        return curves[0]
    for given, setting in ((schedule, "schedule"), (until_step, "until")):
        if given is not None:
            raise UsageError(f"applies to the run in flight, and {len(curves)} curves were "
                             "read; name the run with `run`", field=setting)
    return None


def logged_schedule(curve: Curve, warmup_steps: int = 0) -> Schedule | None:
    """The logged lr at every step up to the last logged one, and before the first point as
    the module docstring says (None when the log has no lr)."""
    if curve.lr is None:
        return None
    if not (curve.lr > 0).any():
        raise InputError(f"{curve.where}: field 'lr': every logged learning rate is 0; "
                         "check the lr key (`column` lr=KEY)")
    first = int(curve.step[0])
    warm = warmup_steps if warmup_steps >= 2 and first + 1 >= warmup_steps else 0
    schedule = schedule_from_log(curve.step, curve.lr, warmup_steps=warm, name=curve.run_id)
    if warm or first == 0 or curve.lr[0] >= curve.lr.max():
        return schedule
    lr = schedule.lr.copy()  # the log starts inside the warm-up: a ramp from 0 before it
    lr[:first] = curve.lr[0] * np.arange(first) / first
    return Schedule(lr, curve.run_id)


def _run_inputs(curve: Curve, plan: ScheduleSpec | None, until_step: int | None,
                warmup_steps: int
                ) -> tuple[Schedule | None, ScheduledCurve, ScheduledCurve, CurveSummary]:
    """The run's logged schedule, its whole log and the points fitted (both with its planned
    schedule), and its summary."""
    warm = warmup_steps
    if plan is not None and plan.kind == "logged" and plan.warmup is not None:
        warm = plan.warmup  # `logged:warmup=N`: this run's own warm-up
    logged = logged_schedule(curve, warm)
    planned, lr_from = _planned(curve, logged, plan)
    observed = _scheduled(curve, planned)
    fitted = observed if until_step is None else _until(observed, curve, until_step)
    return logged, observed, fitted, _summary(curve, fitted, "run", lr_from, planned)


def _planned(curve: Curve, logged: Schedule | None,
             spec: ScheduleSpec | None) -> tuple[Schedule, str]:
    """The run's full planned schedule and where its learning rates come from."""
    if spec is None:
        if logged is None:
            raise InputError(f"{curve.where}: field 'lr': no learning rate was logged; give "
                             "the run's schedule (`schedule`), e.g. cosine:steps=72000,"
                             "peak=3e-4,final=3e-5,warmup=2000, or map the lr key with "
                             "`column` lr=KEY")
        return logged, "log"
    planned = build_schedule(spec, name=curve.run_id, logged=logged, base=logged)
    last = int(curve.step[-1])
    if last >= planned.total_steps:
        raise InputError(f"{curve.where}: field 'step': the log reaches step {last:,}, beyond "
                         f"the {planned.total_steps:,} steps of the schedule given "
                         f"({shown(spec.text or str(spec))}); give the run's planned length")
    if logged is None:
        return planned, "schedule"
    _check_against_log(curve, planned)
    return planned, "log and schedule"


def _check_against_log(curve: Curve, planned: Schedule) -> None:
    assert curve.lr is not None
    steps = curve.step.astype(np.int64)
    tolerance = LR_RELATIVE_TOLERANCE * curve.lr + LR_PEAK_TOLERANCE * planned.peak_lr
    near = np.stack([planned.lr[np.clip(steps + d, 0, planned.total_steps - 1)]
                     for d in (-1, 0, 1)])
    ok = (np.abs(near - curve.lr) <= tolerance).any(axis=0)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise InputError(f"{curve.source}: {curve.position[i]} (id {shown(curve.run_id)}): "
                         f"field 'lr': the logged learning rate {curve.lr[i]:.6g} differs from "
                         f"the schedule given ({planned.lr[steps[i]]:.6g} at step "
                         f"{steps[i]:,}); fix `schedule` (steps, peak, final, warmup, shape) "
                         "or leave it out to use the logged lr")


def _scheduled(curve: Curve, schedule: Schedule) -> ScheduledCurve:
    """The curve's points after the warm-up, with ``schedule``."""
    keep = (curve.step >= max(1, schedule.peak_step)) & (curve.step < schedule.total_steps)
    if not keep.any():
        raise InputError(f"{curve.where}: every point was logged during the warm-up (before "
                         f"step {schedule.peak_step:,}); log the loss after it")
    return ScheduledCurve(curve.run_id, schedule, curve.step[keep].astype(np.int64),
                          curve.loss[keep])


def _until(observed: ScheduledCurve, curve: Curve, until_step: int) -> ScheduledCurve:
    keep = observed.step <= until_step
    if not keep.any():
        raise UsageError(f"{until_step:,}: the run {shown(curve.run_id)} has no point after its "
                         f"warm-up at or before it (its first is at step "
                         f"{int(observed.step[0]):,})", field="until")
    return ScheduledCurve(observed.name, observed.schedule, observed.step[keep],
                          observed.loss[keep])


def _summary(curve: Curve, used: ScheduledCurve, role: str, lr_from: str,
             schedule: Schedule) -> CurveSummary:
    return CurveSummary(curve.run_id, curve.source, role, len(curve), len(used),
                        int(used.step[0]), int(used.step[-1]), lr_from, schedule.total_steps,
                        curve.params)
