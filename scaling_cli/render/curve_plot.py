"""``scaling curve -o curve.png``: the loss curves, the forecasts and the schedules.

Two panels sharing the step axis. Above, the loss: the points fitted (the run in flight in
black, reference curves in grey), the run's later logged points hollow (``--until``), each
predicted curve with its interval as a band (the bootstrap's percentile interval widened by
the law-error allowance, as in the forecasts), and each forecast's interval as an error bar.
Below, the learning rate of every schedule drawn. Drawn from a
:class:`~scaling_cli.forecast.curve.CurveAnswer` and nothing else: the curves are predicted
at about ``ROWS`` steps each (:func:`~scaling_cli.forecast.curve.predict_curve`, reusing the
answer's forecasts), whatever rows the answer itself holds.

matplotlib is the optional ``plot`` extra; it is imported here only, and the image is
written by :func:`scaling_cli.render.plot.render` (fixed style, no dates: same answer, same
bytes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.curve_schedule import Schedule
from scaling_cli.forecast.curve import CurveAnswer, CurveRows, predict_curve
from scaling_cli.render.curve_documents import FORMULAS
from scaling_cli.render.plot import OKABE_ITO, require_matplotlib
from scaling_cli.units import format_number

__all__ = ["curve_figure"]

ROWS = 400
_COLORS = [OKABE_ITO[c] for c in ("vermillion", "blue", "green", "orange", "purple",
                                  "sky_blue", "yellow")]
_RC = {"font.size": 10, "axes.titlesize": 11, "legend.fontsize": 8, "axes.grid": True,
       "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
       "svg.hashsalt": "scaling-cli", "path.simplify": False}


def curve_figure(answer: CurveAnswer) -> Any:
    """The figure (module docstring) as a matplotlib Figure with an Agg canvas."""
    require_matplotlib()  # DependencyError naming the `plot` extra when it is missing
    import matplotlib
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    mpl: Any = matplotlib  # rc keys are checked by matplotlib at run time
    with mpl.style.context("default"), mpl.rc_context(_RC):
        fig = Figure(figsize=(10.0, 7.5), layout="constrained")
        FigureCanvasAgg(fig)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        _losses(answer, _predicted(answer), top)
        _schedules(answer, bottom)
        fig.suptitle(_title(answer), fontsize=11)
    return fig


def _predicted(answer: CurveAnswer) -> list[CurveRows]:
    """Each forecast's schedule predicted at about ROWS steps."""
    model = answer.model
    pairs = [*([] if model.run is None or answer.final is None
               else [(model.run.schedule, answer.final)]),
             *zip(answer.alternatives, answer.under, strict=True)]
    return [predict_curve(model, schedule, every=max(1, schedule.total_steps // ROWS),
                          final=final) for schedule, final in pairs]


def _losses(answer: CurveAnswer, predicted: list[CurveRows], ax: Any) -> None:
    model = answer.model
    run = model.run
    for i, curve in enumerate(c for c in model.curves if c is not run):
        ax.plot(curve.step, curve.loss, ".", ms=2.5, color="0.6",
                label="reference curves (fitted)" if i == 0 else None)
    if run is not None:
        ax.plot(run.step, run.loss, ".", ms=3, color="black", label=f"run {run.name} (fitted)")
        later = answer.observed
        if later is not None and later.step[-1] > run.step[-1]:
            after = later.step > run.step[-1]
            ax.plot(later.step[after], later.loss[after], "o", ms=3, mfc="none", mew=0.6,
                    color="0.45", label="run, logged after the points fitted (not fitted)")
    forecasts = [*([] if answer.final is None else [answer.final]), *answer.under]
    colors = {f.schedule: _COLORS[i % len(_COLORS)] for i, f in enumerate(forecasts)}
    for rows in predicted:
        color = colors.get(rows.schedule, "0.3")
        ax.plot(rows.step, rows.loss, "-", lw=1.4, color=color, label=f"law: {rows.schedule}")
        ax.fill_between(rows.step, rows.low, rows.high, color=color, alpha=0.18, lw=0)
    for f in forecasts:
        ax.errorbar([f.step], [f.loss], yerr=[[f.loss - f.low], [f.high - f.loss]], fmt="D",
                    ms=4, capsize=3, color=colors[f.schedule],
                    label=f"final loss {format_number(f.loss)} "
                          f"[{format_number(f.low)}, {format_number(f.high)}]")
    ax.set_ylim(*_loss_range(answer, predicted))
    ax.set_ylabel("loss (nats/token)")
    ax.legend(loc="upper right")


def _loss_range(answer: CurveAnswer, predicted: list[CurveRows]) -> tuple[float, float]:
    """Bottom: the lowest interval; top: the highest value after the first tenth of the
    steps drawn (the warm-up's steep start would flatten everything else)."""
    steps = [c.step for c in answer.model.curves] + [r.step for r in predicted]
    last = max(float(s.max()) for s in steps)
    values = [c.loss[c.step >= 0.1 * last] for c in answer.model.curves]
    values += [r.high[r.step >= 0.1 * last] for r in predicted]
    lows = [r.low for r in predicted] + [c.loss for c in answer.model.curves]
    forecasts = [*([] if answer.final is None else [answer.final]), *answer.under]
    lows.append(np.array([f.low for f in forecasts] or [np.inf]))
    values.append(np.array([f.high for f in forecasts] or [-np.inf]))
    top = max(float(v.max()) for v in values if v.size)
    bottom = min(float(v.min()) for v in lows if v.size)
    pad = 0.05 * (top - bottom)
    return bottom - pad, top + pad


def _schedules(answer: CurveAnswer, ax: Any) -> None:
    model = answer.model
    for i, curve in enumerate(c for c in model.curves if c is not model.run):
        step, lr = _thinned(curve.schedule)
        ax.plot(step, lr, "-", lw=0.8, color="0.6",
                label="reference schedules" if i == 0 else None)
    drawn = [*([] if model.run is None else [model.run.schedule]), *answer.alternatives]
    for i, schedule in enumerate(drawn):
        step, lr = _thinned(schedule)
        ax.plot(step, lr, "-", lw=1.2, color=_COLORS[i % len(_COLORS)], label=schedule.name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.legend(loc="upper right")


def _thinned(schedule: Schedule) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """About 1,500 steps of a schedule, keeping both sides of every jump (a step schedule's
    drop stays a drop, not a slope): files stay small for schedules of millions of steps."""
    lr = schedule.lr
    stride = max(1, lr.size // 1500)
    jumps = np.flatnonzero(np.abs(np.diff(lr)) > 0.01 * schedule.peak_lr)
    keep = np.unique(np.r_[np.arange(0, lr.size, stride), jumps, jumps + 1, lr.size - 1])
    return keep.astype(np.int64), lr[keep]


def _title(answer: CurveAnswer) -> str:
    model = answer.model
    params = model.params
    values = ", ".join(f"{n} = {format_number(v)}" for n, v in zip(params.names,
                                                                   params.values(),
                                                                   strict=True))
    level = f"{round(100 * model.level, 2):g}%"
    return (f"{params.law} law {FORMULAS[params.law]}\n{values}\n"
            f"{level} intervals: {model.bootstrap.n_resamples:,} moving-block bootstrap refits"
            " widened by the law's measured error")
