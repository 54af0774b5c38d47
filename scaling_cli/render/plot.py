"""Forecast -> matplotlib figures: what the law predicts, and how sure it is.

Four pictures, each drawn from a :class:`~scaling_cli.model.Model` and nothing else:

1. ``isoflop``: loss vs model size along each budget C in the data, the law's curve
   L(N, C/(kN)) through the runs, its minimum (N*(C), L*(C)) in closed form, and the
   forecast curve at the requested budget with its bootstrap band.
2. ``allocation``: N*(C) and D*(C) = C/(k N*) vs compute, with percentile bands over the
   replicate laws, the runs used, and the requested budget marked.
3. ``residuals``: predicted vs actual loss, and the residual 100 (L_obs/L_pred - 1) % vs N;
   runs held out of a backtest's fit are marked (see :class:`HeldOutRuns`).
4. ``bootstrap``: the replicate (N*, D*) at the budget; every point lies on N D = C/k.

``summary`` puts the four on one page. Bands are equal-tailed percentile intervals at
``confidence`` over the replicate laws, computed per x value (as ``scaling optimal`` does).

isoFLOP budgets are found in the data: runs sorted by log10 C join a budget while within
0.05 decades of its first run (:func:`scaling_cli.fit.approach2.budget_levels`, shared with the
backtest); a budget needs ``MIN_RUNS`` runs. Other runs are drawn
as points on no budget. A published law (no runs) draws curves at the requested budget
and 1-3 decades below; panels that need runs or replicates say so (a UsageError for that
``kind``, a note in its panel of the summary).

matplotlib is optional (``pip install 'scaling-cli[plot]'``) and imported only here, inside
functions; pyplot is never used (no global figure state). Output is deterministic: a fixed
style (matplotlib's defaults plus ours, whatever the user's matplotlibrc), a fixed SVG hash
salt, and no dates in the file's metadata.
"""

from __future__ import annotations

import io
import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import DependencyError, UsageError
from scaling_cli.fit.approach2 import budget_levels
from scaling_cli.forecast.answers import BudgetForecast, optimal, predict
from scaling_cli.law import Law, optimal_allocation, predict_loss
from scaling_cli.model import Model, RunData
from scaling_cli.units import format_count, format_flops, format_number

__all__ = [
    "FORMATS",
    "KINDS",
    "MISSING_MATPLOTLIB",
    "OKABE_ITO",
    "HeldOutRuns",
    "describe",
    "figure",
    "held_out_from_ids",
    "image_format",
    "isoflop_budgets",
    "render",
    "require_matplotlib",
]

Array = npt.NDArray[np.float64]
KINDS = ("summary", "isoflop", "allocation", "residuals", "bootstrap")
FORMATS = ("png", "svg", "pdf")
MIN_RUNS = 3
MAX_LEGEND_BUDGETS = 8  # more budgets: the legend names the first and last (viridis between)
MISSING_MATPLOTLIB = ("plots need matplotlib, an optional extra: pip install "
                      "'scaling-cli[plot]' (in a source checkout: pip install -e '.[plot]')")
# Okabe & Ito (2008), "Color Universal Design": distinguishable under every common
# colour-vision deficiency. Ordered budgets use viridis (perceptually uniform, also CVD-safe).
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9",
             "green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
             "vermillion": "#D55E00", "purple": "#CC79A7"}
FORECAST, PARAMS, TOKENS, CLOUD = (OKABE_ITO[c] for c in ("vermillion", "blue", "orange", "blue"))
_RC = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 9,
       "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
       "axes.spines.right": False, "svg.hashsalt": "scaling-cli", "path.simplify": False}
# No dates and no matplotlib version in the files: same inputs, same bytes.
_METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None}, "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}
_SIZES = {"summary": (15.0, 10.5), "residuals": (14.0, 5.6)}


@dataclass(frozen=True)
class HeldOutRuns:
    """Runs a backtest left out of its fit: ``mask`` over ``model.runs``, and the loss that
    fit predicted for each of them in run order (None: use the model's own law)."""

    mask: npt.NDArray[np.bool_]
    predicted_loss: Array | None = None
    label: str = "held out (not in the fit)"


def held_out_from_ids(runs: RunData, ids: Sequence[str],
                      predicted_loss: Sequence[float] | None = None) -> HeldOutRuns:
    """A :class:`HeldOutRuns` from run ids; ``predicted_loss`` follows the order of ``ids``."""
    position = {run_id: i for i, run_id in enumerate(runs.ids)}
    unknown = [i for i in ids if i not in position]
    if unknown:
        raise UsageError(f"held-out run {unknown[0]!r} is not among the fitted runs")
    mask = np.zeros(len(runs.ids), dtype=bool)
    mask[[position[i] for i in ids]] = True
    if predicted_loss is None:
        return HeldOutRuns(mask)
    by_run = np.empty(len(runs.ids))
    by_run[[position[i] for i in ids]] = np.asarray(predicted_loss, dtype=float)
    return HeldOutRuns(mask, by_run[mask])


def image_format(path: str) -> str:
    """``png``, ``svg`` or ``pdf`` from the output file's extension."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        shown = f"'.{ext}'" if ext else "no extension"
        raise UsageError(f"`output` {path}: cannot tell the image format from {shown}; name "
                         "the file .png, .svg or .pdf")
    return ext


def isoflop_budgets(compute_flops: npt.ArrayLike, *, min_runs: int = MIN_RUNS
                    ) -> tuple[Array, npt.NDArray[np.intp]]:
    """The budgets the runs share (geometric-mean FLOPs, ascending): the budget levels of
    :func:`scaling_cli.fit.approach2.budget_levels` holding at least ``min_runs`` runs; and each
    run's budget index (-1 for a run on no shared budget)."""
    levels, centres = budget_levels(compute_flops)
    counts = np.bincount(levels, minlength=len(centres))
    shared = counts >= min_runs
    index = np.where(shared, np.cumsum(shared) - 1, -1)
    return np.asarray(centres[shared], dtype=float), index[levels]


def describe(model: Model, confidence: float) -> tuple[str, str]:
    """Two title lines: which runs under which convention; which law and what the bands are."""
    law = model.law
    formula = (f"$L = {format_number(law.E)} + {format_number(law.A)}/N^{{{law.alpha:.3g}}}"
               f" + {format_number(law.B)}/D^{{{law.beta:.3g}}}$")
    k = f"C = {model.flops_per_param_token:g}·N·D"
    if model.source.startswith("preset:"):
        return (f"published law {model.source.split(':', 1)[1]} (no runs)  ·  {k}",
                f"{formula}  ·  no bootstrap replicates, so no bands")
    inputs = model.inputs
    runs = model.source if inputs is None else (
        f"{inputs.runs_used} runs"
        + (f" ({inputs.runs_excluded} excluded)" if inputs.runs_excluded else "")
        + f" from {_where(inputs.sources)}")
    if model.source.startswith("fit-file:"):
        runs += f" via {_short(model.source.split(':', 1)[1])}"
    boot = model.boot
    if boot is None or model.samples is None:
        bands = "no bootstrap replicates, so no bands"
    else:
        bands = (f"{confidence:.0%} bootstrap bands: {len(model.samples):,} replicates by "
                 f"{boot.resample_by}, seed {boot.seed}")
    return f"{runs}  ·  {k}", f"fitted {formula} (Approach 3)  ·  {bands}"


def _short(path: str, limit: int = 48) -> str:
    return path if len(path) <= limit else "…" + path[-(limit - 1):]


def _where(sources: Sequence[str]) -> str:
    if len(sources) == 1:
        return _short(sources[0])
    try:
        common = os.path.commonpath(sources)
    except ValueError:
        common = ""
    return f"{_short(common)}/ ({len(sources)} files)" if common else f"{len(sources)} files"


# --------------------------------------------------------------------------- matplotlib


def require_matplotlib() -> None:
    """Raise DependencyError (naming the ``plot`` extra) unless matplotlib can be imported."""
    _mpl()


def _mpl() -> Any:
    # Plots are only ever files, drawn with Agg: an MPLBACKEND meant for something else
    # (or misspelt: `import matplotlib` raises on an unknown name) must not stop them.
    backend = os.environ.pop("MPLBACKEND", None)
    try:
        import matplotlib
        import matplotlib.style
    except ImportError:
        raise DependencyError(MISSING_MATPLOTLIB) from None
    except Exception as exc:  # a broken matplotlibrc or config directory
        problem = " ".join(str(exc).split())[:200]
        raise DependencyError(f"matplotlib failed to start ({problem}); check its "
                              "configuration (matplotlibrc, MPLCONFIGDIR)") from None
    finally:
        if backend is not None:
            os.environ["MPLBACKEND"] = backend
    if "matplotlib.pyplot" not in sys.modules:  # never switch a live interactive session
        matplotlib.use("Agg")
    return matplotlib


@contextmanager
def _style(mpl: Any) -> Iterator[None]:
    with mpl.style.context("default"), mpl.rc_context(_RC):
        yield


def render(fig: Any, fmt: str, *, dpi: float = 150) -> bytes:
    """The figure as PNG/SVG/PDF bytes: same figure, same bytes."""
    mpl = _mpl()
    buffer = io.BytesIO()
    with _style(mpl):
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
    return buffer.getvalue()


def _log_axis(ax: Any, which: str, label: Callable[[float], str]) -> None:
    """Log axis labelled 1B, 10B (or 1e22): decades; 2 and 5 too when the view is narrow."""
    from matplotlib.ticker import Formatter, LogLocator

    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")

    class Human(Formatter):
        def __init__(self, minor: bool) -> None:
            self.minor = minor

        def __call__(self, x: float, pos: int | None = None) -> str:
            if x <= 0:
                return ""
            if self.minor and self.axis is not None:
                low, high = self.axis.get_view_interval()
                span = np.log10(high / low)
                mantissa = round(x / 10 ** np.floor(np.log10(x) + 1e-9))
                if span > 1.6 or mantissa not in ((2, 5) if span > 0.8 else (2, 3, 5, 7)):
                    return ""
            return label(x)

    class Minor(LogLocator):  # 2 and 5 on a wide axis: fewer ticks to draw, same look
        def tick_values(self, vmin: float, vmax: float) -> Any:
            wide = vmin > 0 and np.log10(vmax / vmin) > 1.6
            self.set_params(subs=(2.0, 5.0) if wide else tuple(range(2, 10)))
            return super().tick_values(vmin, vmax)

    axis.set_major_locator(LogLocator(base=10, numticks=12))
    axis.set_minor_locator(Minor(base=10, numticks=12))
    axis.set_major_formatter(Human(minor=False))
    axis.set_minor_formatter(Human(minor=True))


def _count(x: float) -> str:
    return format_count(x)


def _flops(x: float) -> str:
    return format_flops(x)


def _ratio(x: float) -> str:
    return format_number(x, digits=3)


def _budget_label(s: _Scene, i: int) -> str:
    """Legend text of budget i: every budget up to MAX_LEGEND_BUDGETS, else the two ends."""
    n = len(s.budgets)
    name = f"{format_flops(s.budgets[i], digits=2)} FLOPs"  # the runs' mean: 2 digits name it
    if n <= MAX_LEGEND_BUDGETS:
        return name
    return f"{name} …" if i == 0 else f"… {name} ({n} budgets)" if i == n - 1 else "_"


def _interval(x: float, low: float | None, high: float | None,
              fmt: Callable[[float], str]) -> str:
    if low is None or high is None:
        return fmt(x)
    return f"{fmt(x)}  [{fmt(low)} – {fmt(high)}]"


def _note(ax: Any, text: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, textwrap.fill(text, 60), ha="center", va="center",
            transform=ax.transAxes, color="0.3")


@dataclass(frozen=True)
class _Scene:
    """What every panel needs: the model, the budget, and the budgets' colours."""

    model: Model
    budget: float | None
    confidence: float
    held_out: HeldOutRuns | None
    budgets: Array  # shared isoFLOP budgets in the data (or decades below, for a preset)
    member: npt.NDArray[np.intp]  # each run's budget index, -1 for none
    colors: list[Any]
    compute_range: tuple[float, float]  # of the runs (of the budgets, for a preset)

    @property
    def k(self) -> float:
        return self.model.flops_per_param_token

    @property
    def samples(self) -> Law | None:
        return self.model.sample_law


def _scene(mpl: Any, model: Model, budget: float | None, confidence: float,
           held_out: HeldOutRuns | None) -> _Scene:
    if model.runs is not None:
        budgets, member = isoflop_budgets(model.runs.compute_flops)
        span = model.runs.compute_flops
    else:
        if budget is None:
            raise UsageError("a published law (no runs) needs a budget to draw, e.g. 1e24",
                             field="budget")
        budgets = np.asarray(budget * 10.0 ** np.arange(-3, 0), dtype=float)
        member = np.empty(0, dtype=np.intp)
        span = budgets
    if held_out is not None:
        _check_held_out(held_out, model.runs)
    colors = list(mpl.colormaps["viridis"](np.linspace(0.0, 0.85, max(len(budgets), 1))))
    return _Scene(model, budget, confidence, held_out, budgets, member, colors,
                  (float(span.min()), float(span.max())))


def _check_held_out(held_out: HeldOutRuns, runs: RunData | None) -> None:
    if runs is None or held_out.mask.dtype != bool or held_out.mask.shape != runs.loss.shape:
        raise UsageError("held-out runs must be a boolean mask over the model's runs")
    predicted = held_out.predicted_loss
    if predicted is not None and np.shape(predicted) != (int(held_out.mask.sum()),):
        raise UsageError(f"{np.size(predicted)} held-out predictions for "
                         f"{int(held_out.mask.sum())} held-out runs")


def _needs(kind: str, model: Model, budget: float | None) -> None:
    if kind == "residuals" and model.runs is None:
        raise UsageError(f"`kind` residuals {_NO_RUNS}")
    if kind == "bootstrap" and model.samples is None:
        raise UsageError(f"`kind` bootstrap {_NO_REPLICATES}")
    if kind in {"summary", "bootstrap"} and budget is None:
        raise UsageError(f"`kind` {kind} needs `budget` (the compute to forecast), e.g. 1e24")
    if model.runs is None and budget is None:
        raise UsageError(f"`kind` {kind} with a published law (no runs) needs `budget`, e.g. "
                         "1e24")


_NO_RUNS = ("needs the runs behind a fit: give run logs or a fit file (a published law has "
            "no runs)")
_NO_REPLICATES = ("needs bootstrap replicates: give run logs with `replicates` of 40 or more, "
                  "or a fit file that has them (a published law has none)")
_TITLES = {"summary": "Compute-optimal forecast at {b} FLOPs",
           "isoflop": "isoFLOP profiles: loss vs model size at fixed compute",
           "allocation": "Compute-optimal N* and D* vs compute",
           "residuals": "How well the law fits the runs",
           "bootstrap": "Bootstrap replicates of (N*, D*) at {b} FLOPs"}


def figure(model: Model, kind: str = "summary", *, budget: float | None = None,
           confidence: float = 0.95, held_out: HeldOutRuns | None = None) -> Any:
    """The ``kind`` of picture (see the module doc) as a matplotlib Figure (Agg canvas)."""
    if kind not in KINDS:
        raise UsageError(f"`kind` {kind!r}: choose one of {', '.join(KINDS)}")
    _needs(kind, model, budget)
    mpl = _mpl()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _style(mpl):
        s = _scene(mpl, model, budget, confidence, held_out)
        fig = Figure(figsize=_SIZES.get(kind, (10.0, 6.5)), layout="constrained")
        FigureCanvasAgg(fig)
        if kind == "summary" and model.runs is None and model.samples is None:
            fig.set_size_inches(15.0, 6.0)  # a published law: the two panels it can fill
            left, right = fig.subplots(1, 2)
            _isoflop(s, left)
            _allocation(s, right)
        elif kind == "summary":
            axes = fig.subplots(2, 2)
            _isoflop(s, axes[0, 0])
            _allocation(s, axes[0, 1])
            _residual_percent(s, axes[1, 0]) if model.runs is not None else _note(
                axes[1, 0], f"the residuals panel {_NO_RUNS}".replace("`", ""))
            _bootstrap(s, axes[1, 1]) if model.samples is not None else _note(
                axes[1, 1], f"the bootstrap cloud {_NO_REPLICATES}".replace("`", ""))
        elif kind == "residuals":
            left, right = fig.subplots(1, 2)
            _predicted_actual(s, left)
            _residual_percent(s, right)
        else:
            ax = fig.add_subplot()
            {"isoflop": _isoflop, "allocation": _allocation, "bootstrap": _bootstrap}[kind](s, ax)
            ax.set_title("")  # the figure's title says it
        runs, law = describe(model, confidence)
        head = _TITLES[kind].format(b=_flops(budget) if budget is not None else "")
        fig.suptitle(f"{head}\n{runs}\n{law}", fontsize=12)
    return fig


# --------------------------------------------------------------------------- panels


def _isoflop(s: _Scene, ax: Any) -> None:
    m, law = s.model, s.model.law
    for i, c in enumerate(s.budgets):
        label = _budget_label(s, i)
        if m.runs is not None:  # the runs carry the budget's legend entry
            on = s.member == i
            n = m.runs.params[on]
            ax.scatter(n, m.runs.loss[on], color=s.colors[i], s=26, zorder=3, gid="runs",
                       label=label)
            grid, label = np.geomspace(n.min() / 1.5, n.max() * 1.5, 200), "_"
        else:
            centre = float(optimal_allocation(law, c, flops_per_param_token=s.k).params)
            grid = np.geomspace(centre / 10, centre * 10, 200)
        ax.plot(grid, predict_loss(law, grid, c / (s.k * grid)), color=s.colors[i], lw=1.5,
                gid="isoflop-curve", label=label)
    if m.runs is not None and (s.member < 0).any():
        off = s.member < 0
        ax.scatter(m.runs.params[off], m.runs.loss[off], facecolor="none", edgecolor="black",
                   s=26, zorder=3, gid="runs", label="runs on no shared budget")
    if len(s.budgets):
        best = optimal_allocation(law, s.budgets, flops_per_param_token=s.k)
        ax.scatter(best.params, best.loss, marker="D", color=s.colors, edgecolor="black",
                   s=36, zorder=4, gid="isoflop-minima", label="law's minimum per budget")
    low, high = s.compute_range
    cs = np.geomspace(low, max(high, s.budget or 0.0), 100)
    front = optimal_allocation(law, cs, flops_per_param_token=s.k)
    ax.plot(front.params, front.loss, color="black", ls=":", lw=1, gid="frontier",
            label="compute-optimal frontier")
    if s.budget is not None:
        _forecast_curve(s, ax)
    _log_axis(ax, "x", _count)
    ax.set_xlabel("model size N (parameters)")
    ax.set_ylabel("final loss (nats/token)")
    ax.set_title(_TITLES["isoflop"])
    ax.legend(loc="upper right", ncols=2, fontsize=8, framealpha=0.9)


def _at_budget(s: _Scene) -> BudgetForecast:
    """The forecast at the requested budget, with its intervals, from the forecast stage."""
    if s.budget is None:
        raise UsageError("this panel needs a budget (the compute to forecast), e.g. 1e24",
                         field="budget")
    return optimal(s.model, [s.budget], confidence=s.confidence).rows[0]


def _span(ax: Any, x: float, y: float, low: float | None, high: float | None, *,
          vertical: bool, color: str, gid: str) -> None:
    """An interval drawn from its bounds (it may exclude the point: no negative error bars)."""
    if low is None or high is None:
        return
    if vertical:
        ax.vlines([x], [low], [high], color=color, lw=1.5, zorder=5, gid=gid)
    else:
        ax.hlines([y], [low], [high], color=color, lw=1.5, zorder=5, gid=gid)


def _forecast_curve(s: _Scene, ax: Any) -> None:
    at = _at_budget(s)
    c = at.compute_flops
    n_star, l_star = at.params.value, at.loss.value
    grid = np.geomspace(n_star / 10, n_star * 10, 200)
    curve = predict(s.model, list(grid), list(c / (s.k * grid)), confidence=s.confidence).rows
    ax.plot(grid, [r.loss.value for r in curve], color=FORECAST, ls="--", lw=2,
            gid="forecast-curve", label=f"forecast at {_flops(c)} FLOPs")
    text = f"N* = {_count(n_star)}\nL = {l_star:.3f}"
    totals = [(r.loss.total_low, r.loss.total_high) for r in curve]
    if all(lo is not None and hi is not None for lo, hi in totals):
        # the law's own error beyond the runs and a run's scatter (the total interval)
        ax.fill_between(grid, [lo for lo, _ in totals], [hi for _, hi in totals],
                        color=FORECAST, alpha=0.08, lw=0, gid="forecast-total-band",
                        label=f"{s.confidence:.0%} total band")
    if s.samples is not None:
        ax.fill_between(grid, [r.loss.low for r in curve], [r.loss.high for r in curve],
                        color=FORECAST, alpha=0.2, lw=0, gid="forecast-band",
                        label=f"{s.confidence:.0%} band")
        _span(ax, n_star, l_star, at.params.low, at.params.high, vertical=False,
              color=FORECAST, gid="forecast-interval")
        _span(ax, n_star, l_star, at.loss.low, at.loss.high, vertical=True, color=FORECAST,
              gid="forecast-interval")
        text = (f"N* = {_interval(n_star, at.params.low, at.params.high, _count)}\n"
                f"L = {_interval(l_star, at.loss.low, at.loss.high, lambda x: f'{x:.3f}')}")
    if at.loss.total_low is not None and at.loss.total_high is not None:
        text += f"\ntotal: L in [{at.loss.total_low:.3f} – {at.loss.total_high:.3f}]"
    ax.scatter([n_star], [l_star], marker="*", s=220, color=FORECAST, edgecolor="black",
               zorder=6, gid="forecast-point", label="forecast N*, L")
    # Small models reach only high losses: the lower left of an isoFLOP plot is always empty.
    ax.text(0.02, 0.03, f"forecast at {_flops(c)} FLOPs\n{text}", transform=ax.transAxes,
            fontsize=9, color=FORECAST, va="bottom", gid="forecast-text",
            bbox={"boxstyle": "round", "fc": "white", "ec": FORECAST, "alpha": 0.9})


def _allocation(s: _Scene, ax: Any) -> None:
    m = s.model
    low_c, data_top = s.compute_range
    low_c = low_c / 3 if m.runs is not None else low_c
    high_c = max(s.budget or 0.0, data_top) * 3
    cs = np.geomspace(low_c, high_c, 200)
    rows = optimal(m, list(cs), confidence=s.confidence).rows
    for field, color, name in (("params", PARAMS, "N* (parameters)"),
                               ("tokens", TOKENS, "D* (tokens)")):
        ax.plot(cs, [getattr(r, field).value for r in rows], color=color, lw=2,
                gid=f"allocation-{field}", label=name)
        if s.samples is not None:
            ax.fill_between(cs, [getattr(r, field).low for r in rows],
                            [getattr(r, field).high for r in rows], color=color, alpha=0.2,
                            lw=0, gid=f"allocation-{field}-band",
                            label=f"{s.confidence:.0%} band")
        if m.runs is not None:
            ax.scatter(m.runs.compute_flops, getattr(m.runs, field), color=color, s=12,
                       alpha=0.5, marker="o" if field == "params" else "s",
                       gid=f"runs-{field}", label=f"runs: {'N' if field == 'params' else 'D'}")
    if m.runs is not None:
        ax.axvspan(data_top, high_c, color="0.93", lw=0, zorder=0, gid="extrapolation",
                   label="beyond the runs' compute")
    if s.budget is not None:
        _mark_budget(s, ax)
    _log_axis(ax, "x", _flops)
    _log_axis(ax, "y", _count)
    ax.set_xlim(low_c, high_c)
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("compute-optimal N* (parameters), D* (tokens)")
    ax.set_title(_TITLES["allocation"])
    ax.legend(loc="upper left", fontsize=8, ncols=2, framealpha=0.9)


def _mark_budget(s: _Scene, ax: Any) -> None:
    at = _at_budget(s)
    c = at.compute_flops
    ax.axvline(c, color="black", ls="--", lw=1, gid="budget",
               label=f"requested: {_flops(c)} FLOPs")
    for field, color in (("params", PARAMS), ("tokens", TOKENS)):
        est = getattr(at, field)
        text = _count(est.value)
        if s.samples is not None:
            _span(ax, c, est.value, est.low, est.high, vertical=True, color=color,
                  gid=f"budget-{field}-interval")
            text = _interval(est.value, est.low, est.high, _count)
        ax.scatter([c], [est.value], color=color, edgecolor="black", s=60, zorder=6,
                   gid=f"budget-{field}")
        ax.annotate(f"{'N*' if field == 'params' else 'D*'} = {text}", (c, est.value),
                    xytext=(-8, 0), textcoords="offset points", ha="right", va="center",
                    fontsize=9, color=color,
                    bbox={"boxstyle": "round", "fc": "white", "ec": color, "alpha": 0.9})


def _fitted_and_held(s: _Scene) -> tuple[RunData, Array, npt.NDArray[np.bool_]]:
    runs = s.model.runs
    if runs is None:
        raise UsageError(f"`kind` residuals {_NO_RUNS}")
    predicted = predict_loss(s.model.law, runs.params, runs.tokens)
    held = np.zeros(runs.loss.size, dtype=bool) if s.held_out is None else s.held_out.mask
    if s.held_out is not None and s.held_out.predicted_loss is not None:
        predicted = predicted.copy()
        predicted[held] = s.held_out.predicted_loss
    return runs, predicted, held


def _by_budget(s: _Scene, ax: Any, x: Array, y: Array, held: npt.NDArray[np.bool_],
               gid: str) -> None:
    for i in range(len(s.budgets)):
        on = (s.member == i) & ~held
        ax.scatter(x[on], y[on], color=s.colors[i], s=26, zorder=3, gid=gid,
                   label=_budget_label(s, i))
    off = (s.member < 0) & ~held
    if off.any():
        ax.scatter(x[off], y[off], facecolor="none", edgecolor="black", s=26, zorder=3, gid=gid,
                   label="runs on no shared budget")
    if s.held_out is not None and held.any():
        ax.scatter(x[held], y[held], marker="X", color=FORECAST, edgecolor="black", s=80,
                   zorder=4, gid=f"{gid}-held-out", label=s.held_out.label)


def _predicted_actual(s: _Scene, ax: Any) -> None:
    runs, predicted, held = _fitted_and_held(s)
    _by_budget(s, ax, predicted, runs.loss, held, "residual-runs")
    lo = min(predicted.min(), runs.loss.min())
    hi = max(predicted.max(), runs.loss.max())
    ax.plot([lo, hi], [lo, hi], color="black", ls="--", lw=1, gid="identity",
            label="actual = predicted")
    ax.set_xlabel("predicted loss (nats/token)")
    ax.set_ylabel("actual loss (nats/token)")
    ax.set_title("Predicted vs actual final loss")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)


def _residual_percent(s: _Scene, ax: Any) -> None:
    runs, predicted, held = _fitted_and_held(s)
    residual = 100 * (runs.loss / predicted - 1)
    _by_budget(s, ax, runs.params, residual, held, "residual-percent")
    ax.axhline(0, color="black", lw=1, gid="zero")
    text = f"median |residual|: {np.median(np.abs(residual[~held])):.2g}% (fitted runs)"
    if held.any():
        text += f"\n{np.median(np.abs(residual[held])):.2g}% (held out)"
    ax.text(0.02, 0.03, text, transform=ax.transAxes, fontsize=9, va="bottom",
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9})
    limit = max(np.abs(residual).max() * 1.25, 0.5)
    ax.set_ylim(-limit, limit)
    _log_axis(ax, "x", _count)
    ax.set_xlabel("model size N (parameters)")
    ax.set_ylabel("residual: actual / predicted − 1 (%)")
    ax.set_title("Residuals of the fitted law")
    if held.any():  # the budgets' colours are in the neighbouring panel's legend
        ax.legend(handles=[h for h in ax.get_legend_handles_labels()[0]
                           if h.get_gid() == "residual-percent-held-out"],
                  loc="best", fontsize=8, framealpha=0.9)


def _bootstrap(s: _Scene, ax: Any) -> None:
    if s.samples is None:
        raise UsageError(f"`kind` bootstrap {_NO_REPLICATES}")
    at = _at_budget(s)
    c = at.compute_flops
    reps = optimal_allocation(s.samples, c, flops_per_param_token=s.k)  # the cloud itself
    # Degenerate replicates put N* at 0 or infinity: off a log axis, so not drawn.
    ok = (np.isfinite(reps.params) & np.isfinite(reps.tokens) & (reps.params > 0)
          & (reps.tokens > 0)).ravel()
    params, tokens = reps.params.ravel()[ok], reps.tokens.ravel()[ok]
    if not params.size:
        _note(ax, f"No bootstrap replicate has a finite N* at {c:.3g} FLOPs: every one is "
                  "degenerate (a term of the law vanished).")
        return
    ax.scatter(params, tokens, color=CLOUD, s=12, alpha=0.35, lw=0,
               gid="bootstrap-cloud", label=f"{params.size:,} bootstrap replicates")
    # The cloud lies on a line (D* = C/(k N*)); a histogram of N* shows where it is dense.
    density = ax.twinx()
    low, high = params.min(), max(params.max(), params.min() * 1.001)
    counts, _, _ = density.hist(params, bins=np.geomspace(low, high, 40),
                                color=PARAMS, alpha=0.25, gid="bootstrap-histogram",
                                label="histogram of N*")
    density.set_ylim(0, counts.max() * 4)
    density.set_axis_off()
    n_lo, n_hi = at.params.low, at.params.high
    d_lo, d_hi = at.tokens.low, at.tokens.high
    level = f"{s.confidence:.0%} interval"
    ax.axvspan(n_lo, n_hi, color=PARAMS, alpha=0.08, lw=0, gid="bootstrap-params-interval",
               label=f"{level} of N*")
    ax.axhspan(d_lo, d_hi, color=TOKENS, alpha=0.12, lw=0, gid="bootstrap-tokens-interval",
               label=f"{level} of D*")
    pad = 1.3
    x = np.geomspace(params.min() / pad, params.max() * pad, 50)
    ax.plot(x, c / (s.k * x), color="black", lw=0.8, ls=":", gid="iso-compute",
            label=f"N·D = C/{s.k:g} (all of C spent)")
    ax.scatter([at.params.value], [at.tokens.value], marker="*", s=260, color=FORECAST,
               edgecolor="black", zorder=5, gid="bootstrap-point", label="point estimate")
    ratio = at.tokens_per_param
    text = (f"N* = {_interval(at.params.value, n_lo, n_hi, _count)}\n"
            f"D* = {_interval(at.tokens.value, d_lo, d_hi, _count)}\n"
            f"D*/N* = {_interval(ratio.value, ratio.low, ratio.high, _ratio)}")
    ax.text(0.98, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=9,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9})
    _log_axis(ax, "x", _count)
    _log_axis(ax, "y", _count)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(tokens.min() / pad, tokens.max() * pad)
    ax.set_xlabel("compute-optimal model size N* (parameters)")
    ax.set_ylabel("compute-optimal tokens D* (tokens)")
    ax.set_title(_TITLES["bootstrap"].format(b=_flops(c)))
    handles = [h for a in (ax, density) for h in a.get_legend_handles_labels()[0]]
    density.legend(handles=handles, loc="center right", fontsize=8, framealpha=0.9)
