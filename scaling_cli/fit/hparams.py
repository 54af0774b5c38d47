"""Hyperparameter scaling laws from sweeps: the near-best learning rate and batch size.

    lr*    = c N^a D^b            (peak learning rate)
    batch* = d N^f D^e            (tokens per optimizer step; f = 0 unless batch_on_params)

as in Li et al. 2025 ("Step Law", arXiv:2503.04715), fitted in three steps.

1. Per (N, D) cell, the near-best settings, by one of two rules:

   ``tolerance`` (the paper's): every run whose loss is within ``tol`` of the cell's best,
   L_i <= (1 + tol) min_j L_j (tol = 0.25% on the smoothed final loss). With
   ``weighting="runs"`` each such run is one regression point (the paper's fit: a cell with
   many near-ties weighs more); with ``"cells"`` the cell is one point, the mean of log lr
   and log batch over its near-best runs.

   ``parabola``: least squares of L on a quadratic in x = (log lr, log batch) over the runs
   within ``window`` of the best, L ~ q + g.x + x.H.x / 2; the optimum is the vertex
   x* = -H^-1 g, kept when H is positive definite and x* lies inside the swept box. A cell
   with fewer than 3 batch sizes in the window gets a 1-D parabola in log lr at its best
   run's batch (and gives no batch* point). Each cell is one point.

2. Least squares on logs: log lr* = log c + a log N + b log D, log batch* = log d + e log D
   (+ f log N). The features are centred on the cells' mean log N and log D, so the normal
   equations stay well conditioned; c and d are converted back.

3. Intervals: bootstrap by cell. The K cells are the independent units (runs of one cell
   share N, D and one selection), so each replicate draws K cells with replacement
   (``np.random.default_rng(seed)``) and refits step 2 on their points. Step 1 depends on
   one cell only, so each cell's normal-equation terms X'X and X'y are computed once and a
   replicate is a count-weighted sum of them: 10,000 replicates take milliseconds. A
   replicate whose cells cannot separate the exponents (one N, one D, or collinear cells)
   is counted in ``failed_resamples``, never silently dropped.

Step 1 has its own uncertainty that a cell bootstrap does not see (which runs fall within
0.25% is itself noisy); :func:`rule_sensitivity` refits under other tolerances and losses
so a report can show how much the exponents move with the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from scaling_cli.errors import FitError, UsageError
from scaling_cli.units import format_count, format_number

if TYPE_CHECKING:
    import numpy.typing as npt

    from scaling_cli.read.sweeps import Sweep

    Array = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.intp]
    BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "LOSSES",
    "RULES",
    "WEIGHTINGS",
    "CellOptimum",
    "HparamFit",
    "HparamLaw",
    "RuleVariant",
    "fit_hparams",
    "rule_sensitivity",
]

RULES = ("tolerance", "parabola")
WEIGHTINGS = ("runs", "cells")
LOSSES = ("auto", "smoothed", "final")
_DEGENERATE = 1e-10  # smallest/largest singular value of X'X below this: not identifiable
MAX_BOOTSTRAP = 100_000


@dataclass(frozen=True)
class HparamLaw:
    """lr* = lr_coef N^lr_params_exponent D^lr_tokens_exponent and
    batch* = batch_tokens_coef N^batch_params_exponent D^batch_tokens_exponent (tokens).

    Fields are floats for one law or equal-length arrays of bootstrap replicates.
    """

    lr_coef: Any
    lr_params_exponent: Any
    lr_tokens_exponent: Any
    batch_tokens_coef: Any
    batch_params_exponent: Any
    batch_tokens_exponent: Any

    def lr(self, params: Any, tokens: Any) -> Any:
        """Peak learning rate at N = ``params``, D = ``tokens`` (evaluated in log space)."""
        return np.exp(np.log(self.lr_coef) + self.lr_params_exponent * np.log(params)
                      + self.lr_tokens_exponent * np.log(tokens))

    def batch_tokens(self, params: Any, tokens: Any) -> Any:
        """Batch size in tokens at N = ``params``, D = ``tokens``."""
        return np.exp(np.log(self.batch_tokens_coef)
                      + self.batch_params_exponent * np.log(params)
                      + self.batch_tokens_exponent * np.log(tokens))

    def as_column(self) -> HparamLaw:
        """Replicate arrays reshaped to (R, 1), to broadcast against a row of inputs."""
        return HparamLaw(*(np.asarray(v, dtype=float)[:, None] for v in self.as_arrays()))

    def as_arrays(self) -> tuple[Any, ...]:
        return (self.lr_coef, self.lr_params_exponent, self.lr_tokens_exponent,
                self.batch_tokens_coef, self.batch_params_exponent, self.batch_tokens_exponent)


@dataclass(frozen=True)
class CellOptimum:
    """The near-best settings of one (N, D) cell. ``lr``/``batch_tokens`` are the cell's
    optimum (geometric mean of the near-best runs, or the parabola's vertex); None when the
    cell gives no point (``note`` says why). ``*_low``/``*_high`` span the runs used.
    ``*_at_edge``: the near-best runs (tolerance rule) or the best run (parabola rule) sit at
    the lowest or highest value swept in the cell, so the optimum may lie outside the sweep."""

    params: float
    tokens: float
    runs: int
    near_best_runs: int
    best_loss: float
    best_run_id: str
    lr: float | None
    lr_low: float
    lr_high: float
    batch_tokens: float | None
    batch_tokens_low: float
    batch_tokens_high: float
    lr_at_edge: bool
    batch_at_edge: bool
    note: str = ""


@dataclass(frozen=True)
class HparamFit:
    """A fitted :class:`HparamLaw`, its bootstrap replicates and how it was obtained."""

    law: HparamLaw
    replicates: HparamLaw | None
    rule: str
    tolerance: float
    window: float
    loss_used: str  # "smoothed" or "final"
    weighting: str
    batch_on_params: bool
    cells: tuple[CellOptimum, ...]
    lr_points: int
    batch_points: int
    residual_rms_log_lr: float
    residual_rms_log_batch: float
    params_range: tuple[float, float]
    tokens_range: tuple[float, float]
    bootstrap: int
    failed_resamples: int
    seed: int
    sources: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    name: str = "fitted sweep"


@dataclass(frozen=True)
class RuleVariant:
    """The point law under one choice of selection rule (see :func:`rule_sensitivity`);
    ``law`` is None (and ``note`` says why) when that rule leaves the law unidentified."""

    rule: str
    tolerance: float | None  # the tolerance rule's fraction of the best loss
    window: float | None  # the parabola rule's fraction of the best loss
    loss_used: str
    weighting: str
    law: HparamLaw | None
    lr_points: int
    note: str = ""


# --------------------------------------------------------------------------- options


def _check_options(rule: str, tolerance: float, window: float, loss: str, weighting: str,
                   bootstrap: int, seed: int) -> None:
    if rule not in RULES:
        raise UsageError(f"{rule!r}: use one of {', '.join(RULES)}", field="rule")
    if weighting not in WEIGHTINGS:
        raise UsageError(f"{weighting!r}: use one of {', '.join(WEIGHTINGS)}",
                         field="weighting")
    if loss not in LOSSES:
        raise UsageError(f"{loss!r}: use one of {', '.join(LOSSES)}", field="loss")
    if not 0 <= tolerance < 0.5:
        raise UsageError(f"{tolerance:g}: give a fraction of the best loss in [0, 0.5), e.g. "
                         "0.0025 for 0.25%", field="tolerance")
    if not 0 < window < 0.5:
        raise UsageError(f"{window:g}: give a fraction of the best loss in (0, 0.5), e.g. 0.02",
                         field="window")
    if isinstance(bootstrap, bool) or not 0 <= bootstrap <= MAX_BOOTSTRAP:
        raise UsageError(f"{bootstrap}: give 0 to {MAX_BOOTSTRAP:,} replicates",
                         field="bootstrap")
    if isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise UsageError(f"{seed}: give a whole number from 0 to 2**63 - 1", field="seed")


def _losses(sweep: Sweep, loss: str) -> tuple[Array, str]:
    smoothed = sweep.column("smoothed_loss")
    have = np.isfinite(smoothed)
    if loss == "smoothed" and not have.all():
        run = sweep.runs[int(np.argmin(have))]
        raise UsageError(f"{run.where}: field 'smoothed_loss' is missing; give it for every "
                         "run or set `loss` to final")
    if loss == "smoothed" or (loss == "auto" and have.all()):
        return smoothed, "smoothed"
    return sweep.column("loss"), "final"


# --------------------------------------------------------------------------- step 1


def _on_edge(values: Array, chosen: Array) -> bool:
    """Whether the chosen settings reach the lowest or highest value swept (of >= 2)."""
    grid = np.unique(values)
    return bool(grid.size >= 2 and (chosen.min() <= grid[0] or chosen.max() >= grid[-1]))


def _cell_tolerance(idx: IntArray, sweep: Sweep, loss: Array, lr: Array, batch: Array,
                    tol: float) -> tuple[CellOptimum, Array]:
    best = loss[idx].min()
    near = idx[loss[idx] <= best * (1 + tol)]
    best_run = sweep.runs[int(idx[np.argmin(loss[idx])])]
    cell = CellOptimum(
        params=best_run.params, tokens=best_run.tokens, runs=idx.size,
        near_best_runs=near.size, best_loss=float(best), best_run_id=best_run.run_id,
        lr=float(np.exp(np.log(lr[near]).mean())), lr_low=float(lr[near].min()),
        lr_high=float(lr[near].max()),
        batch_tokens=float(np.exp(np.log(batch[near]).mean())),
        batch_tokens_low=float(batch[near].min()), batch_tokens_high=float(batch[near].max()),
        lr_at_edge=_on_edge(lr[idx], lr[near]), batch_at_edge=_on_edge(batch[idx], batch[near]))
    return cell, near


def _vertex(x: Array, y: Array) -> tuple[Array | None, str]:
    """Vertex of the least-squares quadratic in the columns of ``x`` (1 or 2), or why not."""
    centre, scale = x.mean(axis=0), x.std(axis=0)
    u = (x - centre) / scale
    cols = [np.ones(len(u)), *u.T]
    if u.shape[1] == 1:
        cols.append(u[:, 0] ** 2)
    else:
        cols += [u[:, 0] ** 2, u[:, 0] * u[:, 1], u[:, 1] ** 2]
    design = np.column_stack(cols)
    theta, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    if rank < design.shape[1]:
        return None, "too few distinct settings for a parabola"
    if u.shape[1] == 1:
        hess, grad = np.array([[2 * theta[2]]]), theta[1:2]
    else:
        hess = np.array([[2 * theta[3], theta[4]], [theta[4], 2 * theta[5]]])
        grad = theta[1:3]
    if np.linalg.eigvalsh(hess).min() <= 0:
        return None, "the fitted parabola has no minimum (not convex)"
    return centre + scale * -np.linalg.solve(hess, grad), ""


def _cell_parabola(idx: IntArray, sweep: Sweep, loss: Array, lr: Array, batch: Array,
                   window: float) -> CellOptimum:
    best = loss[idx].min()
    near = idx[loss[idx] <= best * (1 + window)]
    best_i = int(idx[np.argmin(loss[idx])])
    best_run = sweep.runs[best_i]
    two_d = np.unique(batch[near]).size >= 3 and near.size >= 6
    used = near if two_d else near[batch[near] == batch[best_i]]
    x = np.column_stack([np.log(lr[used]), np.log(batch[used])]) if two_d else \
        np.log(lr[used])[:, None]
    vertex, note = (None, "fewer than 3 learning rates in the window") \
        if np.unique(lr[used]).size < 3 else _vertex(x, loss[used])
    lr_star = batch_star = None
    if vertex is not None:
        lr_star = float(np.exp(vertex[0]))
        batch_star = float(np.exp(vertex[1])) if two_d else None
        inside = lr[idx].min() <= lr_star <= lr[idx].max() and (
            batch_star is None or batch[idx].min() <= batch_star <= batch[idx].max())
        if not inside:
            lr_star = batch_star = None
            note = "the parabola's minimum lies outside the swept range"
    if vertex is not None and not two_d and not note:
        note = "fewer than 3 batch sizes in the window: no batch* point"
    return CellOptimum(
        params=best_run.params, tokens=best_run.tokens, runs=idx.size,
        near_best_runs=used.size, best_loss=float(best), best_run_id=best_run.run_id,
        lr=lr_star, lr_low=float(lr[used].min()), lr_high=float(lr[used].max()),
        batch_tokens=batch_star, batch_tokens_low=float(batch[used].min()),
        batch_tokens_high=float(batch[used].max()),
        # the window spans much of the grid by design: judge the edge by the best run
        lr_at_edge=_on_edge(lr[idx], lr[[best_i]]),
        batch_at_edge=_on_edge(batch[idx], batch[[best_i]]), note=note)


# --------------------------------------------------------------------------- step 2


@dataclass(frozen=True)
class _Points:
    """Regression points per cell: log N, log D and log y (one row per point)."""

    cell: IntArray  # cell index of each point
    log_n: Array
    log_d: Array
    log_y: Array


def _design(points: _Points, mu: tuple[float, float], with_n: bool, with_d: bool) -> Array:
    cols = [np.ones(points.log_n.size)]
    if with_n:
        cols.append(points.log_n - mu[0])
    if with_d:
        cols.append(points.log_d - mu[1])
    return np.column_stack(cols)


def _normal_terms(points: _Points, design: Array, cells: int) -> tuple[Array, Array]:
    """Per-cell X'X (K, p, p) and X'y (K, p)."""
    p = design.shape[1]
    gram, moment = np.zeros((cells, p, p)), np.zeros((cells, p))
    np.add.at(gram, points.cell, design[:, :, None] * design[:, None, :])
    np.add.at(moment, points.cell, design * points.log_y[:, None])
    return gram, moment


def _solve(gram: Array, moment: Array) -> tuple[Array, BoolArray]:
    """Solve stacked normal equations; returns (coefficients, identifiable mask)."""
    sv = np.linalg.svd(gram, compute_uv=False)
    ok: BoolArray = np.asarray(sv[..., -1] > _DEGENERATE * sv[..., 0])
    coef = np.full(moment.shape, np.nan)
    if ok.any():
        coef[ok] = np.linalg.solve(gram[ok], moment[ok][..., None])[..., 0]
    return coef, ok


def _to_law(lr_coef: Array, batch_coef: Array, mu: tuple[float, float],
            batch_on_params: bool) -> HparamLaw:
    """Centred coefficients (intercept, slopes) -> HparamLaw (works row-wise on stacks)."""
    a, b = lr_coef[..., 1], lr_coef[..., 2]
    f = batch_coef[..., 1] if batch_on_params else np.zeros_like(batch_coef[..., 0])
    e = batch_coef[..., -1]
    law = HparamLaw(np.exp(lr_coef[..., 0] - a * mu[0] - b * mu[1]), a, b,
                    np.exp(batch_coef[..., 0] - f * mu[0] - e * mu[1]), f, e)
    if np.ndim(a) == 0:
        return HparamLaw(*(float(v) for v in law.as_arrays()))
    return law


def _degenerate_message(sweep: Sweep, what: str, points: _Points) -> str:
    n_values, d_values = np.unique(points.log_n).size, np.unique(points.log_d).size
    cells = np.unique(points.cell).size
    return (f"{', '.join(sweep.sources)}: the sweep cannot identify the {what} law: its "
            f"{cells} usable cells have {n_values} distinct N and {d_values} distinct D"
            f"{' on one line in (log N, log D)' if n_values > 1 and d_values > 1 else ''}; "
            "add cells at other N and D (e.g. two token counts per model size)")


def _bootstrap(lr_terms: tuple[Array, Array], batch_terms: tuple[Array, Array],
               replicates: int, seed: int) -> tuple[Array, Array, BoolArray]:
    """Cell-bootstrap coefficients: each replicate weights cell k's X'X and X'y by how often
    it was drawn (K draws with replacement). Returns both coefficient stacks and the mask of
    replicates that identify both laws."""
    k = lr_terms[0].shape[0]
    draws = np.random.default_rng(seed).integers(k, size=(replicates, k))
    counts = np.zeros((replicates, k))
    np.add.at(counts, (np.arange(replicates)[:, None], draws), 1.0)
    r_lr, ok_lr = _solve(np.einsum("rk,kij->rij", counts, lr_terms[0]), counts @ lr_terms[1])
    r_b, ok_b = _solve(np.einsum("rk,kij->rij", counts, batch_terms[0]),
                       counts @ batch_terms[1])
    return r_lr, r_b, ok_lr & ok_b


# --------------------------------------------------------------------------- the fit


def fit_hparams(
    sweep: Sweep,
    *,
    rule: str = "tolerance",
    tolerance: float = 0.0025,
    window: float = 0.02,
    loss: str = "auto",
    weighting: str = "runs",
    batch_on_params: bool = False,
    bootstrap: int = 1000,
    seed: int = 0,
) -> HparamFit:
    """Fit lr* = c N^a D^b and batch* = d D^e (module doc) with a bootstrap by cell."""
    _check_options(rule, tolerance, window, loss, weighting, bootstrap, seed)
    losses, loss_used = _losses(sweep, loss)
    cells, lr_pts, batch_pts = _cells(sweep, losses, rule, tolerance, window, weighting)
    k = len(cells)
    mu = (float(np.mean(np.log([c.params for c in cells]))),
          float(np.mean(np.log([c.tokens for c in cells]))))
    x_lr = _design(lr_pts, mu, True, True)
    x_b = _design(batch_pts, mu, batch_on_params, True)
    g_lr, m_lr = _normal_terms(lr_pts, x_lr, k)
    g_b, m_b = _normal_terms(batch_pts, x_b, k)
    c_lr, ok_lr = _solve(g_lr.sum(0), m_lr.sum(0))
    c_b, ok_b = _solve(g_b.sum(0), m_b.sum(0))
    if not ok_lr:
        raise FitError(_degenerate_message(sweep, "learning-rate", lr_pts))
    if not ok_b:
        raise FitError(_degenerate_message(sweep, "batch-size", batch_pts))
    law = _to_law(c_lr, c_b, mu, batch_on_params)
    replicates, failed = None, 0
    if bootstrap:
        r_lr, r_b, good = _bootstrap((g_lr, m_lr), (g_b, m_b), bootstrap, seed)
        failed = int((~good).sum())
        replicates = _to_law(r_lr[good], r_b[good], mu, batch_on_params)
    rms_lr = float(np.sqrt(np.mean((lr_pts.log_y - x_lr @ c_lr) ** 2)))
    rms_b = float(np.sqrt(np.mean((batch_pts.log_y - x_b @ c_b) ** 2)))
    params = [c.params for c in cells]
    tokens = [c.tokens for c in cells]
    return HparamFit(
        law=law, replicates=replicates, rule=rule, tolerance=tolerance, window=window,
        loss_used=loss_used, weighting="cells" if rule == "parabola" else weighting,
        batch_on_params=batch_on_params, cells=tuple(cells), lr_points=lr_pts.log_y.size,
        batch_points=batch_pts.log_y.size, residual_rms_log_lr=rms_lr,
        residual_rms_log_batch=rms_b, params_range=(min(params), max(params)),
        tokens_range=(min(tokens), max(tokens)), bootstrap=bootstrap, failed_resamples=failed,
        seed=seed, sources=sweep.sources,
        warnings=tuple(_warnings(sweep, cells, loss_used, bootstrap, failed)))


def _cells(sweep: Sweep, losses: Array, rule: str, tolerance: float, window: float,
           weighting: str) -> tuple[list[CellOptimum], _Points, _Points]:
    """Step 1 for every cell, and the regression points it gives (module doc)."""
    n, d = sweep.column("params"), sweep.column("tokens")
    lr, batch = sweep.column("lr"), sweep.column("batch_tokens")
    keys, cell_of = np.unique(np.column_stack([n, d]), axis=0, return_inverse=True)
    cell_of = cell_of.reshape(-1)
    cells: list[CellOptimum] = []
    rows_lr: list[tuple[int, float, float, float]] = []
    rows_b: list[tuple[int, float, float, float]] = []
    for i in range(len(keys)):
        idx = np.flatnonzero(cell_of == i)
        ln, ld = float(np.log(keys[i, 0])), float(np.log(keys[i, 1]))
        if rule == "tolerance":
            cell, near = _cell_tolerance(idx, sweep, losses, lr, batch, tolerance)
            if weighting == "runs":
                rows_lr += [(i, ln, ld, float(np.log(lr[j]))) for j in near]
                rows_b += [(i, ln, ld, float(np.log(batch[j]))) for j in near]
        else:
            cell = _cell_parabola(idx, sweep, losses, lr, batch, window)
        if rule == "parabola" or weighting == "cells":
            if cell.lr is not None:
                rows_lr.append((i, ln, ld, float(np.log(cell.lr))))
            if cell.batch_tokens is not None:
                rows_b.append((i, ln, ld, float(np.log(cell.batch_tokens))))
        cells.append(cell)
    return cells, _points(rows_lr), _points(rows_b)


def _points(rows: Sequence[tuple[int, float, float, float]]) -> _Points:
    table = np.array(rows, dtype=float).reshape(-1, 4)
    return _Points(table[:, 0].astype(np.intp), table[:, 1], table[:, 2], table[:, 3])


def _where(cell: CellOptimum) -> str:
    return f"cell N={format_count(cell.params)}, D={format_count(cell.tokens)}"


def _warnings(sweep: Sweep, cells: list[CellOptimum], loss_used: str, bootstrap: int,
              failed: int) -> list[str]:
    out = list(sweep.warnings)
    if loss_used == "final":
        out.append("near-best runs chosen on the final loss (no smoothed_loss): noisier than "
                   "the paper's smoothed loss, so the selection itself is noisier")
    for cell in cells:
        if cell.note and cell.lr is None:
            out.append(f"{_where(cell)}: no lr* point ({cell.note})")
        elif cell.note:
            out.append(f"{_where(cell)}: {cell.note}")
        for name, edge, low, high in (("learning rates", cell.lr_at_edge, cell.lr_low,
                                       cell.lr_high),
                                      ("batch sizes", cell.batch_at_edge,
                                       cell.batch_tokens_low, cell.batch_tokens_high)):
            if edge:
                out.append(f"{_where(cell)}: the near-best {name} ({format_number(low, digits=3)}"
                           f" to {format_number(high, digits=3)}) reach the edge of the swept "
                           "range; the cell's optimum may lie beyond it: extend the sweep")
    if len(cells) < 6:
        out.append(f"only {len(cells)} (N, D) cells: exponents from so few cells are fragile")
    if bootstrap and failed:
        out.append(f"{failed} of {bootstrap} bootstrap resamples could not identify the law "
                   "(too few distinct N or D drawn) and were left out of the intervals")
    return out


def rule_sensitivity(
    sweep: Sweep,
    *,
    tolerances: Sequence[float] = (0.00125, 0.0025, 0.005, 0.01),
    losses: Sequence[str] = ("smoothed", "final"),
    weightings: Sequence[str] = ("runs", "cells"),
    windows: Sequence[float] = (0.01, 0.02, 0.05),
) -> tuple[RuleVariant, ...]:
    """Point laws under alternative near-best rules, to show how much step 1 moves the
    exponents (a cell bootstrap keeps each cell's selection fixed and cannot show it).
    A loss the sweep lacks (no smoothed_loss) is left out."""
    has_smoothed = bool(np.isfinite(sweep.column("smoothed_loss")).all())
    out = []
    for loss in losses:
        if loss == "smoothed" and not has_smoothed:
            continue
        variants: list[tuple[str, float | None, float | None, str]] = [
            ("tolerance", t, None, w) for t in tolerances for w in weightings]
        variants += [("parabola", None, w, "cells") for w in windows]
        for rule, tol, window, weighting in variants:
            try:
                fit = fit_hparams(sweep, rule=rule, tolerance=0.0025 if tol is None else tol,
                                  window=0.02 if window is None else window, loss=loss,
                                  weighting=weighting, bootstrap=0)
            except FitError as exc:
                out.append(RuleVariant(rule, tol, window, loss, weighting, None, 0, str(exc)))
                continue
            out.append(RuleVariant(rule, tol, window, fit.loss_used, fit.weighting, fit.law,
                                   fit.lr_points))
    return tuple(out)
