"""Answers from loss curves: a run's final loss, the loss under another schedule, the curve.

One model (:func:`prepare_curve_model`) is fitted once and answers three questions:

(a) :func:`predict_final` - the final loss of a run still in flight, from its curve so far
    and its planned schedule;
(b) :func:`predict_under` - the loss the same model would reach under another schedule;
(c) :func:`predict_curve` - the predicted curve as rows (step, lr, loss, low, high).

**What is fitted.** The run so far (a :class:`~scaling_cli.fit.curve_law.ScheduledCurve`
whose schedule is the full planned one) together with any ``reference`` curves: other runs of
the same model and data under other schedules, all sharing the law's parameters (as Luo et
al. fit three schedules at once). A run alone can only teach the law what its own past
shows: if it never lowered its learning rate, the annealing term is unknown and every
answer says so.

**Intervals.** interval = [q_lo - a yhat, q_hi + a yhat]: q are percentiles of the
prediction over moving-block bootstrap refits (:mod:`scaling_cli.fit.curve_bootstrap`;
parameter uncertainty, respecting that points of a curve are dependent) and ``a`` is a
measured law-error allowance, because the law's misfit, not noise, dominates real forecast
errors (block-bootstrap intervals alone covered 4 of 18 test-schedule finals on Luo et al.'s
curves). The allowance is the largest relative error of the same procedure where the truth
is known:

- same schedule, later step (backtest): refit on the run's first u s / r steps and predict
  its loss at step u s, for u in (0.7, 0.85, 1), r = target step / s (same horizon ratio);
- across schedules (transfer): refit without one fitted curve and predict all of it, for
  each curve in turn (needs 2 or more curves). It applies to another schedule, and to the
  run's own schedule when its learning rate falls after the last logged step: what lies
  ahead is then annealing the run's past cannot vouch for.
The allowance is the largest of those that apply.

Measured on Luo et al.'s 27 curves (3 sizes x 9 schedules), 95% intervals, Tissue law:

- (b) the six test schedules' final losses from the three training curves: 18 of 18 inside
  (block bootstrap alone: 5 of 18), median width 2.6% (Multi-Power Law: 18/18, 3.4%);
- (a) every curve's final loss from its first half, with the model's other training curves
  as references: 26 of 27 inside (bootstrap alone: 13 of 27), median width 2.6%; the two
  72,000-step runs 6 of 6 (widths 0.4-0.8% constant, 2.3-2.9% cosine);
- (a) from the first half alone: 26 of 27 (the cosine_72000 of 100M is missed, and that
  answer warns that the annealing ahead is extrapolated); runs that had not annealed yet get
  very wide intervals and a warning that the annealing term is not determined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import FitError, UsageError
from scaling_cli.fit.curve_bootstrap import CurveBootstrap, Scheme, bootstrap_curves
from scaling_cli.fit.curve_law import (
    TISSUE_DECAY,
    CurveFeatures,
    LawName,
    MultiPowerParams,
    ScheduledCurve,
    TissueParams,
    predict_terms,
)
from scaling_cli.fit.curve_schedule import Schedule
from scaling_cli.fit.curve_search import CurveData, CurveFit, CurveSearchSettings, fit_curves

__all__ = [
    "BACKTEST_FRACTIONS",
    "CurveAnswer",
    "CurveModel",
    "CurveRows",
    "LossForecast",
    "answer_curve",
    "predict_curve",
    "predict_final",
    "predict_under",
    "prepare_curve_model",
]

Array = npt.NDArray[np.float64]
BACKTEST_FRACTIONS = (0.7, 0.85, 1.0)
MIN_BACKTEST_POINTS = 12  # and at least 3 per parameter


@dataclass(frozen=True, eq=False)
class CurveModel:
    """A curve law fitted to a run (and references), its bootstrap and its transfer errors."""

    law: LawName
    fit: CurveFit
    bootstrap: CurveBootstrap
    curves: tuple[ScheduledCurve, ...]  # reference curves first, the run (if any) last
    run: ScheduledCurve | None
    transfer_errors: tuple[float, ...]  # per left-out curve: max |relative error| over it
    level: float
    settings: CurveSearchSettings
    warnings: tuple[str, ...]

    @property
    def params(self) -> MultiPowerParams | TissueParams:
        return self.fit.params


@dataclass(frozen=True)
class LossForecast:
    """A predicted loss at one step of one schedule, with its interval and how it was made."""

    schedule: str
    step: int
    lr: float
    loss: float  # the fitted law's prediction
    low: float
    high: float
    level: float
    bootstrap_low: float  # percentile interval of the refits alone (parameter uncertainty)
    bootstrap_high: float
    allowance: float  # relative law-error allowance added on both sides
    backtest_errors: tuple[float, ...]  # relative errors of the run's own backtests
    transfer_errors: tuple[float, ...]  # relative errors predicting left-out curves
    law: LawName
    fitted_curves: tuple[str, ...]
    observed_until_step: int | None  # the run's last logged step
    n_resamples: int
    failed_resamples: int
    warnings: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class CurveRows:
    """The predicted curve of one schedule: one row per step, with intervals."""

    schedule: str
    step: npt.NDArray[np.int64]
    lr: Array
    loss: Array
    low: Array
    high: Array
    level: float
    allowance: float  # applied to rows after the observed part of the run
    law: LawName
    warnings: tuple[str, ...]


# --------------------------------------------------------------------------- model


def prepare_curve_model(run: ScheduledCurve | None = None, *,
                        reference: Sequence[ScheduledCurve] = (), law: LawName = "tissue",
                        level: float = 0.95, n_resamples: int = 200, seed: int = 0,
                        scheme: Scheme = "blocks", block_points: int | None = None,
                        decay: float = TISSUE_DECAY,
                        settings: CurveSearchSettings | None = None) -> CurveModel:
    """Fit ``law`` to ``reference`` curves and the ``run`` in flight (shared parameters),
    bootstrap it and measure its transfer errors. Deterministic for a given ``seed``."""
    if not 0.5 <= level < 1:
        raise UsageError(f"must be in [0.5, 1), got {level!r}", field="level")
    curves = (*reference, *(() if run is None else (run,)))
    if not curves:
        raise UsageError("give the run in flight, reference curves, or both", field="run")
    settings = settings or CurveSearchSettings()
    data = CurveData.build(curves, decay)
    fit = fit_curves(data, law=law, settings=settings)
    boot = bootstrap_curves(data, fit, scheme=scheme, n_resamples=n_resamples, seed=seed,
                            block_points=block_points, settings=settings)
    transfer, unmeasured = _transfer_errors(curves, law, decay, settings)
    warnings = list(fit.warnings)
    if unmeasured:
        warnings.append(f"the law could not be refitted without {', '.join(unmeasured)}: "
                        "its error across schedules is measured on the other curves only")
    if boot.failed:
        warnings.append(f"{boot.failed} of {boot.n_resamples} bootstrap refits failed to "
                        "converge; intervals use the rest")
    return CurveModel(law, fit, boot, tuple(curves), run, transfer, level, settings,
                      tuple(warnings))


def _transfer_errors(curves: Sequence[ScheduledCurve], law: LawName, decay: float,
                     settings: CurveSearchSettings) -> tuple[tuple[float, ...], list[str]]:
    """For each curve, the largest relative error of the law refitted without it; and the
    curves without which no refit was possible."""
    out, unmeasured = [], []
    for i, held in enumerate(curves if len(curves) >= 2 else ()):
        rest = [c for j, c in enumerate(curves) if j != i]
        try:
            fit = fit_curves(CurveData.build(rest, decay), law=law, settings=settings)
        except FitError:
            unmeasured.append(repr(held.name))
            continue
        pred = _predict(law, fit.theta[None], held.schedule, held.step, decay)[0]
        out.append(float(np.max(np.abs(pred / held.loss - 1.0))))
    return tuple(out), unmeasured


def _predict(law: LawName, thetas: Array, schedule: Schedule, steps: npt.ArrayLike,
             decay: float) -> Array:
    """Predicted loss (rows: parameter vectors, columns: steps)."""
    features = CurveFeatures.build(schedule, steps, decay)
    return np.array([predict_terms(law, t, features)[0] for t in thetas])


def _decay(model: CurveModel) -> float:
    return model.params.decay if isinstance(model.params, TissueParams) else TISSUE_DECAY


def _backtest(model: CurveModel, horizon: float) -> tuple[float, ...]:
    """Relative errors of refits on shorter prefixes of the run at the same horizon ratio."""
    run = model.run
    if run is None or horizon <= 1.0:
        return ()
    refs = [c for c in model.curves if c is not run]
    minimum = max(MIN_BACKTEST_POINTS, 3 * model.fit.theta.size)
    last = int(run.step[-1])
    errors = []
    for u in BACKTEST_FRACTIONS:
        keep = run.step <= u * last / horizon
        if keep.sum() < minimum:
            continue
        target = int(np.flatnonzero(run.step <= u * last)[-1])
        prefix = ScheduledCurve(run.name, run.schedule, run.step[keep], run.loss[keep])
        fit = fit_curves(CurveData.build([*refs, prefix], _decay(model)), law=model.law,
                         settings=model.settings)
        pred = _predict(model.law, fit.theta[None], run.schedule, run.step[target:target + 1],
                        _decay(model))[0, 0]
        errors.append(float(pred / run.loss[target] - 1.0))
    return tuple(errors)


# --------------------------------------------------------------------------- answers


def predict_final(model: CurveModel) -> LossForecast:
    """(a) The run's loss at the last step of its planned schedule."""
    if model.run is None:
        raise UsageError("the model has no run in flight; give `run` to prepare_curve_model "
                         "or ask predict_under for a schedule", field="run")
    return predict_under(model, model.run.schedule)


def predict_under(model: CurveModel, schedule: Schedule, *,
                  step: int | None = None) -> LossForecast:
    """(b) The loss at ``step`` (default: the last) of ``schedule``, for the fitted model."""
    target = schedule.total_steps - 1 if step is None else int(step)
    if not 1 <= target < schedule.total_steps:
        raise UsageError(f"must lie within schedule {schedule.name!r}'s steps "
                         f"1..{schedule.total_steps - 1}, got {target}", field="step")
    last = None if model.run is None else int(model.run.step[-1])
    horizon = target / last if last else 0.0
    backtest = _backtest(model, horizon) if model.run is not None else ()
    # The run's own past measures the law along its schedule; once the target leaves it -
    # another schedule, or a learning rate that falls after the last logged step - the
    # forecast leans on the annealing term across schedules: the transfer errors apply.
    across = (model.run is None or last is None
              or not _same_schedule(model.run.schedule, schedule, target)
              or (target > last and schedule.lr[last: target + 1].min() < schedule.lr[last]))
    transfer = model.transfer_errors if across else ()
    allowance = max((abs(e) for e in (*backtest, *transfer)), default=0.0)
    point, low_b, high_b = _band(model, schedule, np.array([target]))
    loss = float(point[0])
    warnings = [*model.warnings, *_extrapolation_warnings(model, schedule, target)]
    if model.run is not None and horizon > 1.0 and not backtest:
        warnings.append("the run so far is too short to backtest the law at this horizon: "
                        "the interval shows parameter uncertainty only and is too narrow")
    if across and not model.transfer_errors:
        warnings.append("one curve was fitted, so the law's error across schedules (here: "
                        "the annealing ahead) is unmeasured and left out of the interval; "
                        "give reference curves")
    return LossForecast(
        schedule=schedule.name, step=target, lr=float(schedule.lr[target]), loss=loss,
        low=float(low_b[0]) - allowance * loss, high=float(high_b[0]) + allowance * loss,
        level=model.level, bootstrap_low=float(low_b[0]), bootstrap_high=float(high_b[0]),
        allowance=allowance, backtest_errors=backtest, transfer_errors=transfer,
        law=model.law, fitted_curves=model.fit.curves, observed_until_step=last,
        n_resamples=model.bootstrap.n_resamples, failed_resamples=model.bootstrap.failed,
        warnings=tuple(warnings),
    )


def predict_curve(model: CurveModel, schedule: Schedule | None = None, *,
                  steps: npt.ArrayLike | None = None, every: int = 128,
                  final: LossForecast | None = None) -> CurveRows:
    """(c) The predicted curve of ``schedule`` (default: the run's) at ``steps`` (default:
    every ``every`` steps and the last). Rows after the run's observed part - all rows, for
    another schedule - carry the law-error allowance of :func:`predict_under` at the last
    (``final``: that forecast, when already made, so its backtests are not refitted)."""
    if schedule is None:
        if model.run is None:
            raise UsageError("give the schedule to predict", field="schedule")
        schedule = model.run.schedule
    if steps is None:
        if every < 1:
            raise UsageError(f"must be at least 1 step, got {every}", field="every")
        grid = np.unique(np.r_[np.arange(every, schedule.total_steps, every),
                               schedule.total_steps - 1])
    else:
        grid = np.asarray(steps, dtype=np.int64)
    if final is None or final.schedule != schedule.name or final.step != schedule.total_steps - 1:
        final = predict_under(model, schedule)
    point, low, high = _band(model, schedule, grid)
    seen = 0  # rows of the run's own schedule up to its last logged step are in-sample
    if model.run is not None and _same_schedule(model.run.schedule, schedule,
                                                int(model.run.step[-1])):
        seen = int(model.run.step[-1])
    after = grid > seen
    pad = np.where(after, final.allowance * point, 0.0)
    return CurveRows(schedule.name, grid, schedule.lr[grid].copy(), point, low - pad,
                     high + pad, model.level, final.allowance, model.law, final.warnings)


# --------------------------------------------------------------------------- helpers


def _band(model: CurveModel, schedule: Schedule,
          steps: npt.NDArray[np.int64]) -> tuple[Array, Array, Array]:
    """Point prediction and bootstrap percentile interval, one computation for both."""
    boot = model.bootstrap
    thetas = np.vstack([model.fit.theta[None], boot.thetas[boot.ok]])
    preds = _predict(model.law, thetas, schedule, steps, _decay(model))
    tail = (1.0 - model.level) / 2
    if preds.shape[0] < 2:
        return preds[0], preds[0], preds[0]
    low, high = np.quantile(preds[1:], [tail, 1.0 - tail], axis=0)
    return preds[0], np.minimum(low, preds[0]), np.maximum(high, preds[0])


def _same_schedule(run: Schedule, other: Schedule, target: int) -> bool:
    """Whether ``other`` is the run's own schedule up to ``target``."""
    return (other is run or (other.total_steps > target and run.total_steps > target
                             and bool(np.array_equal(run.lr[: target + 1],
                                                     other.lr[: target + 1]))))


def _extrapolation_warnings(model: CurveModel, schedule: Schedule,
                            target: int) -> list[str]:
    out = []
    lows = [float(c.schedule.lr[min(c.schedule.peak_step, int(c.step[-1])):
                                int(c.step[-1]) + 1].min()) for c in model.curves]
    annealed = [lo < c.schedule.peak_lr for lo, c in zip(lows, model.curves, strict=True)]
    future = schedule.lr[schedule.peak_step: target + 1]
    if future.min() < schedule.peak_lr and not any(annealed):
        out.append(f"schedule {schedule.name!r} lowers the learning rate, but no curve fitted "
                   "ever did: the law's annealing term is not determined by them; give "
                   "reference curves that anneal")
    elif future.min() < 0.5 * min(lows):
        out.append(f"schedule {schedule.name!r} anneals to lr {future.min():.3g}, below half "
                   f"the lowest lr in the curves fitted ({min(lows):.3g}): the annealing term "
                   "is extrapolated")
    s1_target = float(np.sum(schedule.lr[: target + 1]))
    s1_fitted = max(float(np.sum(c.schedule.lr[: int(c.step[-1]) + 1])) for c in model.curves)
    if s1_target > 3 * s1_fitted:
        out.append(f"the target's summed learning rate is {s1_target / s1_fitted:.1f}x the "
                   "largest fitted: a long extrapolation of the power law")
    return out


# --------------------------------------------------------------------------- all at once


@dataclass(frozen=True, eq=False)
class CurveAnswer:
    """What ``scaling curve`` answers, from one fitted model (each answer carries its own
    warnings; ``warnings`` holds them all, once each, the inputs' first)."""

    model: CurveModel
    final: LossForecast | None  # (a) the run's final loss; None without a run in flight
    observed_final: float | None  # the loss its log shows at that step, when it reaches it
    under: tuple[LossForecast, ...]  # (b) one per other schedule, in the order given
    rows: tuple[CurveRows, ...]  # (c) the run's schedule (if any), then each other one
    observed: ScheduledCurve | None  # the run's whole log (past the points fitted, if cut)
    alternatives: tuple[Schedule, ...]  # the other schedules, as ``under``
    warnings: tuple[str, ...]


def answer_curve(run: ScheduledCurve | None, *, reference: Sequence[ScheduledCurve] = (),
                 alternatives: Sequence[Schedule] = (), observed: ScheduledCurve | None = None,
                 every: int | None = None, law: LawName = "tissue", level: float = 0.95,
                 n_resamples: int = 200, seed: int = 0, scheme: Scheme = "blocks",
                 warnings: Sequence[str] = ()) -> CurveAnswer:
    """Fit once (:func:`prepare_curve_model`), then answer (a) the run's final loss, (b) the
    loss at the end of each of ``alternatives`` and, with ``every``, (c) each schedule's
    curve every ``every`` steps. ``warnings``: the inputs' own, carried first."""
    if run is None and not alternatives:
        raise UsageError("nothing to answer: name the run in flight (`run`), or give another "
                         "schedule to predict under (`under`)")
    model = prepare_curve_model(run, reference=reference, law=law, level=level,
                                n_resamples=n_resamples, seed=seed, scheme=scheme)
    final = None if run is None else predict_final(model)
    under = tuple(predict_under(model, schedule) for schedule in alternatives)
    rows: tuple[CurveRows, ...] = ()
    if every is not None:
        pairs = [*([] if run is None or final is None else [(run.schedule, final)]),
                 *zip(alternatives, under, strict=True)]
        rows = tuple(predict_curve(model, schedule, every=every, final=answer)
                     for schedule, answer in pairs)
    seen = None
    if observed is not None and final is not None:
        at = np.flatnonzero(observed.step == final.step)
        seen = float(observed.loss[at[0]]) if at.size else None
    answers = [*([] if final is None else [final]), *under]
    collected = [*warnings, *model.warnings, *(w for a in answers for w in a.warnings)]
    return CurveAnswer(model, final, seen, under, rows, observed, tuple(alternatives),
                       tuple(dict.fromkeys(collected)))
