"""Loss curves -> extra (N, D, L) rows for the ladder, where that is sound (issue 13 §3).

A ladder fit wants the loss of *finished* runs: a checkpoint taken before a run's learning
rate has decayed overstates the loss a run of that length would reach (Hoffmann et al. 2022,
Fig. A1; Hagele et al. 2024). Four ways to use a run's curve (``CheckpointSettings.mode``):

``final``      its final loss only (what the ladder commands do without checkpoints).
``cooldowns``  plus every point that ends a cooldown inside the run (the learning rate fell
               to at most ``COOLED`` of its peak and rises again after it). A run whose own
               final point is not cooled down (a constant-lr trunk) is left out, named.
``corrected``  plus up to ``per_run`` checkpoints, each corrected by a loss-curve law
               (:mod:`scaling_cli.fit.curve_law`, Tissue et al.'s by default) to the loss
               the same run would have reached had its schedule finished at that step:

                   L_row = L_logged(t) + L_law(finished_t; t) - L_law(schedule; t)

               where ``finished_t`` is the run's own schedule compressed in time to end at
               step t after its warm-up (a cosine to 10% over t steps; a WSD run keeps its
               cooldown fraction) for a run that anneals, and for one that never does
               (a constant lr) its schedule until (1 - f) t followed by a linear cooldown to
               0 over the last f t steps (f = ``cooldown_fraction``, 0.2 as in Hagele et
               al.). The correction is a difference, not a ratio: both schedules share the
               run's past, so it does not depend on the law's level L0, which trades off
               against how the warm-up a log may not show enters the annealing term. The
               final point of a run that anneals is left as logged (its factor is
               exactly 1); a constant-lr run's final point is corrected too. The law is
               fitted once per model size and peak learning rate, to every curve of that
               group (shared parameters, as Luo et al. fit several schedules of one model),
               and *checked* where the group allows it: a shorter annealed run's final loss
               is what a longer run's checkpoint at that step, corrected, should be
               (:func:`correction_check`). A group is corrected only where that check was
               made (3 or more pairs) and the corrected checkpoints missed those finals by
               less than the uncorrected ones (medians); any other group's checkpoints are
               left out, named: a correction nobody could check, or that fails where it can
               be checked, is not used.
``all``        plus up to ``per_run`` checkpoints as logged. Those whose learning rate had
               not decayed are not a finished run's loss (biased high late in a run; often
               low early in it, where a run that ends there would have had less learning
               rate to spend), and a warning says how many were used so.

Checkpoints are taken after the warm-up (at least twice its length) and from
``min_fraction`` of the run's steps on, thinned to ``per_run`` points spread evenly in log
tokens. Every row of one run shares the run's id as its ``group``, so the bootstrap
resamples the run whole (its checkpoints are not independent evidence). Each extra row is
named ``RUN@TOKENS`` and points at the line of the log it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from scaling_cli.errors import FitError, InputError, UsageError
from scaling_cli.fit.curve_inputs import logged_schedule
from scaling_cli.fit.curve_law import (
    LawName,
    MultiPowerParams,
    ScheduledCurve,
    TissueParams,
    curve_loss,
)
from scaling_cli.fit.curve_schedule import Schedule, with_cooldown
from scaling_cli.fit.curve_search import CurveData, fit_curves
from scaling_cli.read.runs import FIELDS, Run, RunSet
from scaling_cli.read.runset import RunTable, digest
from scaling_cli.units import format_count, shown

if TYPE_CHECKING:
    from scaling_cli.read.logs import Curve, LogSettings

__all__ = [
    "MODES",
    "CheckpointMode",
    "CheckpointRow",
    "CheckpointSettings",
    "Checkpoints",
    "CorrectionCheck",
    "add_checkpoints",
    "correction_check",
    "finished_at",
    "load_checkpoint_runs",
]

CheckpointMode = Literal["final", "cooldowns", "corrected", "all"]
MODES: tuple[CheckpointMode, ...] = ("final", "cooldowns", "corrected", "all")
COOLED = 0.5  # a learning rate at most this fraction of the run's peak has been cooled down
MAX_CORRECTION = 0.1  # |log factor| beyond this is not a correction but a law out of its depth
MIN_PAIRS = 3  # pairs of runs a group's correction is judged on
PAIR_GAP = 1.5  # a longer run's loss at a step is interpolated between points this close
_BOUNDS = {f.name: (f.low, f.high) for f in FIELDS}


@dataclass(frozen=True)
class CheckpointSettings:
    """How curves become ladder rows (module docstring)."""

    mode: CheckpointMode = "final"
    per_run: int = 8
    min_fraction: float = 0.125
    cooldown_fraction: float = 0.2
    law: LawName = "tissue"
    warmup_steps: int = 0  # of runs whose logs start after their warm-up

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"{shown(self.mode)}: choose one of {', '.join(MODES)}",
                             field="checkpoints")
        if self.per_run < 1 or not 0 < self.min_fraction < 1 or \
                not 0 < self.cooldown_fraction < 1:
            raise UsageError("per_run must be at least 1, min_fraction and cooldown_fraction "
                             "between 0 and 1", field="checkpoints")


@dataclass(frozen=True)
class CheckpointRow:
    """One extra row and how it was made."""

    run_id: str
    step: int
    tokens: float
    logged_loss: float
    loss: float  # the row's loss (corrected, or as logged)
    factor: float  # loss / logged_loss
    lr: float | None  # the learning rate at the checkpoint, when known
    kind: str  # "cooldown", "corrected", "corrected final" or "as logged"


@dataclass(frozen=True)
class Checkpoints:
    """The ladder with the extra rows (groups: run ids), each extra row, the runs left out,
    and the warnings (also in ``runs.warnings``, so every answer carries them)."""

    runs: RunSet
    rows: tuple[CheckpointRow, ...]
    left_out: tuple[str, ...]
    warnings: tuple[str, ...]


# --------------------------------------------------------------------------- schedules


def finished_at(schedule: Schedule, step: int, *, cooldown_fraction: float = 0.2) -> Schedule:
    """The schedule of a run like ``schedule``'s that ends at ``step`` (module docstring):
    compressed in time after the warm-up when it anneals, else cooled down over the last
    ``cooldown_fraction`` of its steps, linearly to 0."""
    warm = schedule.peak_step
    if not warm < step < schedule.total_steps:
        raise UsageError(f"step {step:,} must lie after the warm-up ({warm:,}) and within the "
                         f"schedule ({schedule.total_steps - 1:,})", field="step")
    last = schedule.total_steps - 1
    if _annealed(schedule):
        mapped = warm + (np.arange(warm, step + 1) - warm) * (last - warm) / (step - warm)
        lr = np.r_[schedule.lr[:warm], np.interp(mapped, np.arange(schedule.total_steps),
                                                 schedule.lr)]
        return Schedule(lr, f"{schedule.name} finished at {step}")
    length = max(1, round(cooldown_fraction * (step + 1)))
    start = max(warm + 1, step + 1 - length)
    return with_cooldown(schedule, start_step=start, cooldown_steps=step + 1 - start,
                         final_lr=0.0, shape="linear", name=f"{schedule.name} cooled at {step}")


def _gain(law: MultiPowerParams | TissueParams, schedule: Schedule, step: int,
          cooldown_fraction: float) -> float:
    """L_law(finished at step) - L_law(schedule) at ``step``: the correction (module doc)."""
    finished = finished_at(schedule, step, cooldown_fraction=cooldown_fraction)
    return float(curve_loss(law, finished, [step])[0] - curve_loss(law, schedule, [step])[0])


def _annealed(schedule: Schedule) -> bool:
    return bool(schedule.lr[-1] <= COOLED * schedule.peak_lr)


@dataclass(frozen=True)
class CorrectionCheck:
    """How well a group's curve law corrects checkpoints, where the truth is logged: for each
    pair (a shorter annealed run a, a longer run b of the group), a's final loss against b's
    loss at that step (log-step interpolation between points at most PAIR_GAP apart),
    corrected by the law and as logged. Errors are relative, medians over the pairs."""

    pairs: int
    corrected_error: float  # median |corrected / a's final - 1|
    uncorrected_error: float  # median |b's checkpoint / a's final - 1|

    @property
    def passed(self) -> bool:
        return self.pairs >= MIN_PAIRS and self.corrected_error < self.uncorrected_error


def correction_check(members: Sequence[ScheduledCurve], law: MultiPowerParams | TissueParams,
                     *, cooldown_fraction: float = 0.2) -> CorrectionCheck:
    """The check of ``law``'s corrections on the pairs ``members`` offer (see
    :class:`CorrectionCheck`)."""
    corrected, raw = [], []
    for a in members:
        t = int(a.step[-1])
        if not _annealed(a.schedule) or t != a.schedule.total_steps - 1:
            continue
        for b in members:
            j = int(np.searchsorted(b.step, t))
            if (b is a or b.schedule.total_steps - 1 <= t or t <= b.schedule.peak_step
                    or j == 0 or j >= b.step.size or b.step[j] > PAIR_GAP * b.step[j - 1]):
                continue
            w = np.log(t / b.step[j - 1]) / np.log(b.step[j] / b.step[j - 1])
            at_t = float((1 - w) * b.loss[j - 1] + w * b.loss[j])
            corrected.append(abs((at_t + _gain(law, b.schedule, t, cooldown_fraction))
                                 / a.loss[-1] - 1))
            raw.append(abs(at_t / a.loss[-1] - 1))
    if not corrected:
        return CorrectionCheck(0, float("nan"), float("nan"))
    return CorrectionCheck(len(corrected), float(np.median(corrected)), float(np.median(raw)))


# --------------------------------------------------------------------------- rows


def add_checkpoints(runs: RunSet, curves: Sequence[Curve], settings: CheckpointSettings, *,
                    schedules: Mapping[str, Schedule] | None = None) -> Checkpoints:
    """``runs`` (one final row per logged run, and any hand-made rows) with the rows
    ``settings.mode`` adds from ``curves``. A run's schedule is ``schedules[run_id]``, else
    its logged learning rate; a curve whose run is not among ``runs`` adds no row but, in
    ``corrected`` mode, informs the curve law of its group."""
    if settings.mode == "final":
        return Checkpoints(runs, (), (), ())
    by_id = {r.run_id: r for r in runs.runs}
    plans = {c.run_id: _schedule(c, schedules or {}, settings.warmup_steps) for c in curves}
    ladder = [c for c in curves if c.run_id in by_id]
    if not ladder:
        raise InputError("no run of the ladder has a loss curve; `checkpoints` reads the "
                         "curves of training logs (hand-made tables hold final losses only)")
    rows: list[CheckpointRow] = []
    warnings: list[str] = []
    left_out: list[str] = []
    laws: dict[tuple[float | None, float], MultiPowerParams | TissueParams] = {}
    if settings.mode == "corrected":
        laws, failed = _curve_laws(curves, plans, settings)
        warnings += failed
    for curve in ladder:
        plan = plans[curve.run_id]
        picks = _candidates(curve, plan, settings)
        if settings.mode == "all":
            rows += [_row(curve, i, plan, float(curve.loss[i]), "as logged") for i in picks]
        elif settings.mode == "cooldowns":
            if plan is None:
                raise _no_lr(curve, "cooldowns")
            if not _annealed(plan):
                left_out.append(curve.run_id)
                continue
            rows += [_row(curve, i, plan, float(curve.loss[i]), "cooldown")
                     for i in _cooldown_ends(curve, plan)]
        else:
            if plan is None:
                raise _no_lr(curve, "corrected")
            law = laws.get(_group(curve, plan))
            if law is None:
                continue
            rows += _corrected(curve, plan, law, picks, settings, warnings)
    warnings += _mode_warnings(settings.mode, rows, left_out, ladder, plans)
    return Checkpoints(_with_rows(runs, ladder, rows, left_out, warnings), tuple(rows),
                       tuple(left_out), tuple(warnings))


def _schedule(curve: Curve, schedules: Mapping[str, Schedule],
              warmup_steps: int) -> Schedule | None:
    """The run's schedule: given, else its logged lr (the warm-up before its first point as
    :func:`~scaling_cli.fit.curve_inputs.logged_schedule` fills it: the law counts it)."""
    if curve.run_id in schedules:
        return schedules[curve.run_id]
    return logged_schedule(curve, warmup_steps)


def _no_lr(curve: Curve, mode: str) -> InputError:
    return InputError(f"{curve.where}: field 'lr': no learning rate was logged, and "
                      f"`checkpoints` {mode} needs the run's schedule; log the lr (or map its "
                      "key with `column` lr=KEY)")


def _candidates(curve: Curve, plan: Schedule | None, settings: CheckpointSettings) -> list[int]:
    """Indices of the checkpoints to use (the final point excluded): after twice the warm-up
    and ``min_fraction`` of the steps, at most ``per_run``, evenly spread in log tokens."""
    step, tokens = curve.step, curve.tokens
    warm = 0 if plan is None else plan.peak_step
    ok = np.flatnonzero((step >= max(2 * warm, settings.min_fraction * step[-1]))
                        & (np.arange(step.size) < step.size - 1))
    if ok.size > settings.per_run:
        targets = np.geomspace(tokens[ok[0]], tokens[-1], settings.per_run + 1)[:-1]
        ok = np.unique(ok[np.abs(np.log(tokens[ok])[None, :]
                                 - np.log(targets)[:, None]).argmin(axis=1)])
    return [int(i) for i in ok]


def _cooldown_ends(curve: Curve, plan: Schedule) -> list[int]:
    """Logged points after the warm-up (and before the last) where the lr is cooled down
    and rises right after: the ends of cooldowns inside the run."""
    steps = curve.step.astype(np.int64)
    lr = plan.lr[np.minimum(steps, plan.total_steps - 1)]
    cooled = (lr <= COOLED * plan.peak_lr) & (steps > plan.peak_step)
    rises = np.r_[lr[1:] > lr[:-1] * (1 + 1e-9), False]
    return [int(i) for i in np.flatnonzero(cooled & rises)]


def _group(curve: Curve, plan: Schedule) -> tuple[float | None, float]:
    """The curve law's group: one model size at one peak learning rate."""
    return curve.params, float(f"{plan.peak_lr:.3g}")


def _curve_laws(curves: Sequence[Curve], plans: Mapping[str, Schedule | None],
                settings: CheckpointSettings
                ) -> tuple[dict[tuple[float | None, float], MultiPowerParams | TissueParams],
                           list[str]]:
    """The curve law of each group, fitted to every curve of it; a warning per group whose
    law cannot correct (no verified fit, or no curve that anneals)."""
    groups: dict[tuple[float | None, float], list[ScheduledCurve]] = {}
    for curve in curves:
        plan = plans[curve.run_id]
        if plan is None:
            continue
        keep = (curve.step >= max(1, plan.peak_step)) & (curve.step < plan.total_steps)
        if keep.any():
            groups.setdefault(_group(curve, plan), []).append(ScheduledCurve(
                curve.run_id, plan, curve.step[keep].astype(np.int64), curve.loss[keep]))
    laws: dict[tuple[float | None, float], MultiPowerParams | TissueParams] = {}
    warnings = []
    for key, members in sorted(groups.items(), key=lambda kv: (kv[0][0] or 0.0, kv[0][1])):
        size = "" if key[0] is None else f"{format_count(key[0])}-parameter "
        names = f"the {size}runs at peak lr {key[1]:g} (" + ", ".join(
            shown(c.name) for c in members[:3]) + (" ...)" if len(members) > 3 else ")")
        if not any(_annealed(c.schedule) for c in members):
            warnings.append(f"{names}: no run of this size and peak lr anneals, so the "
                            "curve law cannot tell what a cooldown gains; their checkpoints "
                            "are left out (final losses as logged)")
            continue
        try:
            fit = fit_curves(CurveData.build(members), law=settings.law)
        except FitError as exc:
            warnings.append(f"{names}: the curve law could not be fitted ({exc.problem}); "
                            "their checkpoints are left out")
            continue
        if not fit.verified:
            warnings.append(f"{names}: the curve law's optimum is not verified; their "
                            "checkpoints are left out")
            continue
        check = correction_check(members, fit.params,
                                 cooldown_fraction=settings.cooldown_fraction)
        if check.pairs < MIN_PAIRS:
            warnings.append(f"{names}: the curve law's correction cannot be checked "
                            f"({_count(check.pairs, 'pair')} of a shorter finished run and a "
                            f"longer run of this size and peak lr; {MIN_PAIRS} needed); their "
                            "checkpoints are left out")
            continue
        if not check.passed:
            warnings.append(f"{names}: the curve law corrects worse than no correction "
                            f"where it can be checked (median error {check.corrected_error:.1%} "
                            f"against {check.uncorrected_error:.1%} on {check.pairs} pairs of "
                            "runs); their checkpoints are left out")
            continue
        laws[key] = fit.params
    return laws, warnings


def _corrected(curve: Curve, plan: Schedule, law: MultiPowerParams | TissueParams,
               picks: Sequence[int], settings: CheckpointSettings,
               warnings: list[str]) -> list[CheckpointRow]:
    out = []
    last = len(curve) - 1
    final = [] if _annealed(plan) else [last]  # an annealed run's final needs no correction
    for i in [*picks, *final]:
        step = int(curve.step[i])
        if step <= plan.peak_step or step >= plan.total_steps:
            continue
        factor = 1.0 + _gain(law, plan, step, settings.cooldown_fraction) / curve.loss[i]
        if not factor > 0 or not abs(np.log(factor)) <= MAX_CORRECTION:
            warnings.append(f"{curve.where}: the curve law corrects the loss at step {step:,} by "
                            f"{factor - 1:+.1%}, beyond its depth; that checkpoint is left out")
            continue
        kind = "corrected final" if i == last else "corrected"
        out.append(_row(curve, i, plan, float(curve.loss[i]) * factor, kind))
    return out


def _row(curve: Curve, i: int, plan: Schedule | None, loss: float, kind: str) -> CheckpointRow:
    step = int(curve.step[i])
    lr = None if plan is None or step >= plan.total_steps else float(plan.lr[step])
    logged = float(curve.loss[i])
    return CheckpointRow(curve.run_id, step, float(curve.tokens[i]), logged, float(loss),
                         float(loss) / logged, lr, kind)


def _mode_warnings(mode: str, rows: Sequence[CheckpointRow], left_out: Sequence[str],
                   ladder: Sequence[Curve], plans: Mapping[str, Schedule | None]) -> list[str]:
    out = []
    if mode == "all":
        hot = [r for r in rows if r.lr is None or r.lr > COOLED * _peak(plans[r.run_id])]
        if hot:
            runs = len({r.run_id for r in hot})
            out.append(f"{len(hot):,} checkpoints of {runs:,} runs are used as if they were "
                       "finished runs, but their learning rate had not decayed (or is not "
                       "known): their losses are not a finished run's (biased high late in a "
                       "run, Hoffmann et al. 2022, Fig. A1; often low early in it); use "
                       "`checkpoints` corrected")
    if left_out:
        names = ", ".join(shown(r) for r in left_out[:5]) + (
            f" and {len(left_out) - 5:,} more" if len(left_out) > 5 else "")
        one = len(left_out) == 1
        out.append(f"{_count(len(left_out), 'run')} left out of the ladder, "
                   f"{'its' if one else 'their'} learning rate not cooled down at the end "
                   f"({'a constant-lr trunk' if one else 'constant-lr trunks'}?): {names}; use "
                   "`checkpoints` corrected to correct such runs instead")
    if mode in ("corrected", "cooldowns", "all") and rows:
        used = len({r.run_id for r in rows})
        out.append(f"{len(rows):,} checkpoint rows from {used:,} of {len(ladder):,} logged "
                   f"runs were added ({mode}); each run's rows are resampled together")
    return out


def _count(n: int, word: str) -> str:
    return f"1 {word}" if n == 1 else f"{n:,} {word}s"


def _peak(plan: Schedule | None) -> float:
    return np.inf if plan is None else plan.peak_lr


def _with_rows(runs: RunSet, ladder: Sequence[Curve], rows: Sequence[CheckpointRow],
               left_out: Sequence[str], warnings: Sequence[str]) -> RunSet:
    """The run set with the extra rows; every row of a logged run grouped by its id."""
    curves = {c.run_id: c for c in ladder}
    logged = set(curves)
    corrected_final = {r.run_id: r for r in rows if r.kind == "corrected final"}
    params = {r.run_id: r.params for r in runs.runs}
    kept = []
    for run in runs.runs:
        if run.run_id in left_out:
            continue
        if run.run_id in logged:
            run = replace(run, group=run.run_id)
            if run.run_id in corrected_final:
                run = replace(run, loss=_checked(run.where, "loss",
                                                 corrected_final[run.run_id].loss))
        kept.append(run)
    for r in rows:
        if r.kind == "corrected final":
            continue
        curve = curves[r.run_id]
        i = int(np.flatnonzero(curve.step == r.step)[0])
        run_id = f"{r.run_id}@{format_count(r.tokens, digits=6)}"
        where = f"{curve.source}: {curve.position[i]} (id {shown(run_id)})"
        kept.append(Run(run_id=run_id, params=params[r.run_id],
                        tokens=_checked(where, "tokens", r.tokens),
                        loss=_checked(where, "loss", r.loss), source=curve.source,
                        position=curve.position[i], group=r.run_id))
    ordered = tuple(sorted(kept, key=lambda r: r.run_id))
    ids = [r.run_id for r in ordered]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"checkpoint row {shown(dup)} is also a run id of the ladder; rename "
                         "that run")
    every = RunTable.of(sorted((*ordered, *runs.excluded), key=lambda r: r.run_id))
    return replace(runs, runs=ordered, sha256=digest(every),
                   warnings=(*runs.warnings, *warnings))


def _checked(where: str, name: str, value: float) -> float:
    low, high = _BOUNDS[name]
    if not (np.isfinite(value) and low <= value <= high):
        raise InputError(f"{where}: field {name!r}: the checkpoint's {value:g} is outside "
                         f"{low:g} to {high:g}; leave the run's checkpoints out")
    return value


# --------------------------------------------------------------------------- reading


def load_checkpoint_runs(paths: Sequence[str], *, settings: CheckpointSettings,
                         stdin_text: str | None = None, input_format: str = "auto",
                         columns: Mapping[str, str] | None = None, where: Sequence[str] = (),
                         skip_invalid: bool = False,
                         logs: LogSettings | None = None) -> RunSet:
    """The run logs ``paths`` as :func:`~scaling_cli.read.runs.load_runs` reads them (final
    rows, hand-made tables, ``where``, ``skip_invalid``), with the rows ``settings`` adds
    from the training logs' curves of the runs kept. The logs are read twice (once for the
    runs, once for their curves)."""
    from scaling_cli.read.logs import LOG_FIELDS, LogSettings, read_curves
    from scaling_cli.read.runs import load_runs

    logs = logs or LogSettings()
    if settings.mode != "final" and logs.reduce.method == "at":
        raise UsageError("`checkpoints` and `reduce` at: both make rows from a run's "
                         "checkpoints; use one of them")
    runs = load_runs(paths, stdin_text=stdin_text, input_format=input_format,
                     columns=columns, where=where, skip_invalid=skip_invalid, logs=logs)
    if settings.mode == "final":
        return runs
    curves = read_curves(paths, stdin_text=stdin_text, input_format=input_format,
                         columns={k: v for k, v in (columns or {}).items() if k in LOG_FIELDS},
                         tokens_per_step=logs.tokens_per_step, params=logs.params,
                         params_file=logs.params_file, restarts=logs.restarts,
                         skip_invalid=skip_invalid)
    kept = {r.run_id for r in runs.runs}
    return add_checkpoints(runs, [c for c in curves.curves if c.run_id in kept], settings).runs
