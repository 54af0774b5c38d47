"""Is a forecasting method honest? Run it on every real-ladder split and every simulated
ladder, and count how often its nominal-95% intervals cover the held-out runs.

A *predictor* is any callable ``predict(train: Ladder, targets: Targets) -> (point, low,
high)``: arrays with one entry per target, the interval at nominal 95%. It sees the training
rows (with their losses) and only the targets' N, D, compute and unique tokens. It may refuse
a split by raising :class:`scaling_cli.errors.ScalingError` (the tool's own refusal, e.g. an
unverified fit); the refusal is recorded, never skipped silently. Per (ladder, split,
method), over the held-out target rows (see :mod:`benchmarks.honesty.report`):

    coverage      share with low <= actual <= high
    optimistic    share with actual > high (the forecast was too low: the run came out worse)
    pessimistic   share with actual < low
    error         (point - actual) / actual  (negative = optimistic), median |.| and median
    width         (high - low) / point, median
    covers truth  simulations only: share with low <= expected (noise-free) loss <= high

binned by extrapolation distance (:class:`benchmarks.honesty.splits.Distances`).

``--method current`` evaluates TODAY's tool two ways, from one fit per split
(:func:`current_predictor`): ``current`` is the bootstrap interval of the expected loss that
``scaling predict`` prints; ``current+noise`` is the backtest's prediction interval as of
commit 158defd (each replicate's prediction times exp of a resampled training residual).

A new method plugs in through :data:`METHODS`: a factory taking ``replicates``, ``seed``,
``workers`` (and ``confidence``) keywords and returning named predictors; each name becomes
a column of every table, so a method and today's baseline compare in one run.

Run (from the repository root; BLAS is pinned to one thread, the bootstrap to one worker):

    python benchmarks/honesty/run.py --method current            # full: 1-2 h
    python benchmarks/honesty/run.py --method current --fast     # smoke: 2-3 min
    ... --markdown honesty.md --json honesty.json   (default: Markdown to stdout)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benchmarks.honesty.ladders import Ladder
from benchmarks.honesty.splits import Distances, Split, standard_splits
from scaling_cli.errors import ScalingError
from scaling_cli.read.runs import RunSet

__all__ = [
    "METHODS",
    "Forecast",
    "Outcome",
    "Predictor",
    "Targets",
    "current_methods",
    "current_predictor",
    "evaluate",
    "noise_interval",
    "plan",
]

Array = npt.NDArray[np.float64]
Interval = tuple[Array, Array, Array]


@dataclass(frozen=True, eq=False)
class Targets:
    """What a predictor may know about the runs it forecasts (never their losses)."""

    params: Array
    tokens: Array
    compute_flops: Array
    unique_tokens: Array | None

    @classmethod
    def of(cls, ladder: Ladder) -> Targets:
        return cls(ladder.params, ladder.tokens, ladder.compute_flops, ladder.unique_tokens)

    def __len__(self) -> int:
        return int(self.params.shape[0])


Forecast = tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]  # (point, low, high)
Predictor = Callable[[Ladder, Targets], Forecast]


@dataclass(frozen=True, eq=False)
class Outcome:
    """One method on one split: its forecasts of the test rows, or why it refused."""

    method: str
    split: Split
    refused: str | None
    point: Array  # empty when refused
    low: Array
    high: Array
    distances: Distances
    seconds: float

    @property
    def actual(self) -> Array:
        return np.asarray(self.split.ladder.loss[self.split.test])

    @property
    def expected(self) -> Array | None:
        e = self.split.ladder.expected_loss
        return None if e is None else np.asarray(e[self.split.test])


# --------------------------------------------------------------------------- running


def plan(ladders: Sequence[Ladder]) -> tuple[tuple[Split, ...], tuple[str, ...]]:
    """Every standard split of every ladder, and the splits that could not be made."""
    splits: list[Split] = []
    skipped: list[str] = []
    for ladder in ladders:
        p = standard_splits(ladder)
        splits.extend(p.splits)
        skipped.extend(p.skipped)
    return tuple(splits), tuple(skipped)


def _checked(out: Forecast, n: int, where: str) -> Interval | str:
    arrays = tuple(np.asarray(a, dtype=float) for a in out)
    if len(arrays) != 3 or any(a.shape != (n,) for a in arrays):
        raise ValueError(f"{where}: a predictor must return (point, low, high), "
                         f"each of shape ({n},)")
    bad = int(np.sum(~np.all(np.isfinite(np.vstack(arrays)), axis=0)))
    if bad:
        return f"non-finite forecast for {bad} of {n} targets"
    return arrays[0], arrays[1], arrays[2]


def evaluate(methods: Mapping[str, Predictor], splits: Sequence[Split], *,
             progress: Callable[[str], None] | None = None) -> tuple[Outcome, ...]:
    """Every method on every split, methods innermost (so adapters can share one fit)."""
    out: list[Outcome] = []
    start = time.perf_counter()
    empty = np.empty(0)
    for i, split in enumerate(splits, 1):
        train, targets = split.train_ladder(), Targets.of(split.test_ladder())
        distances = split.distances()
        for name, predictor in methods.items():
            t0 = time.perf_counter()
            where = f"{split.ladder.name} / {split.name} / {name}"
            try:
                result = _checked(predictor(train, targets), len(targets), where)
            except ScalingError as err:
                result = f"{type(err).__name__}: {err}"
            seconds = time.perf_counter() - t0
            if isinstance(result, str):
                out.append(Outcome(name, split, result, empty, empty, empty, distances, seconds))
            else:
                out.append(Outcome(name, split, None, *result, distances, seconds))
        if progress is not None:
            progress(f"[{i}/{len(splits)}] {split.ladder.name} / {split.name}: "
                     f"{time.perf_counter() - start:.0f} s elapsed")
    return tuple(out)


# --------------------------------------------------------------------------- today's tool


def current_predictor(train: Ladder, targets: Targets, *, replicates: int, seed: int,
                      workers: int = 1, confidence: float = 0.95) -> dict[str, Interval]:
    """TODAY's tool fitted on ``train``, forecasting ``targets``, as two intervals.

    ``"current"``: the bootstrap percentile interval of the expected loss (what ``scaling
    predict`` prints). ``"current+noise"``: the backtest's prediction interval as it was at
    commit 158defd (:func:`noise_interval`; the working tree's backtest now scores another
    interval), from the replicate predictions (rows 1.. of predict_loss(model.stacked_law,
    N, D)) and the training fit's residuals over ``model.runs``. The point is the point
    law's prediction for both.

    The tool's API is being restructured: every import of it lives here. The calls, in order:
      scaling_cli.read.runs.runset_from_arrays(params, tokens, loss, groups=labels or None,
                                               unique_tokens=counts or None)
      scaling_cli.fit.build.fit_runs(runs, FitSettings(replicates=, seed=, workers=))
      scaling_cli.forecast.answers.predict(model, params, tokens, confidence=,
                                           unique_tokens=counts or None)
          -> .rows[j].loss.value / .low / .high
      scaling_cli.law.predict_loss(model.stacked_law, ...), effective_tokens(D, U),
      model.samples, model.runs

    Runs that repeated their data are given with their unique-token counts, as a user's log
    would (the tool then fits them at the fresh tokens they are worth, and forecasts a
    repeated-data target at L(N', D'); docs in ``scaling_cli.fit.health``).
    """
    try:
        from scaling_cli.fit.build import FitSettings, fit_runs
        from scaling_cli.forecast.answers import predict
        from scaling_cli.law import effective_tokens, predict_loss
    except ImportError as err:
        raise RuntimeError(
            f"current_predictor: the tool's API moved ({err}); update current_predictor in "
            "benchmarks/honesty/evaluate.py. It calls runset_from_arrays(params, tokens, loss, "
            "groups=) from scaling_cli.read.runs, fit_runs(runs, FitSettings(replicates=, "
            "seed=, workers=)) from scaling_cli.fit.build, predict(model, params, tokens, "
            "confidence=) from scaling_cli.forecast.answers (.rows[j].loss.value/.low/.high) "
            "and predict_loss(model.stacked_law, N, D) from scaling_cli.law") from err
    model = fit_runs(ladder_runs(train),
                     FitSettings(replicates=replicates, seed=seed, workers=workers))
    n, d = targets.params, targets.tokens
    rows = predict(model, n.tolist(), d.tolist(), confidence=confidence,
                   unique_tokens=_known(targets.unique_tokens)).rows
    point = np.array([r.loss.value for r in rows])
    low = np.array([np.nan if r.loss.low is None else r.loss.low for r in rows])
    high = np.array([np.nan if r.loss.high is None else r.loss.high for r in rows])
    out = {"current": (point, low, high)}
    # the total interval (issue 11): the statistical one widened by the form's held-out error
    t_low = np.array([np.nan if r.loss.total_low is None else r.loss.total_low for r in rows])
    t_high = np.array([np.nan if r.loss.total_high is None else r.loss.total_high
                       for r in rows])
    out["total"] = (point, t_low, t_high)
    if model.samples is not None and model.runs is not None:
        worth = d if targets.unique_tokens is None else effective_tokens(d, targets.unique_tokens)
        reps = predict_loss(model.stacked_law, n[None, :], worth[None, :])[1:]
        fitted = model.runs
        low_n, high_n = noise_interval(
            reps, predict_loss(model.law, fitted.params, fitted.tokens), fitted.loss,
            seed=seed, confidence=confidence)
        out["current+noise"] = (point, low_n, high_n)
    else:
        out["current+noise"] = (point, np.full_like(point, np.nan), np.full_like(point, np.nan))
    return out


def ladder_runs(ladder: Ladder) -> RunSet:
    """The ladder's rows as the tool reads runs (ids r000001..., its groups, its
    unique-token counts where known)."""
    from scaling_cli.read.runs import runset_from_arrays

    groups = [str(g) for g in ladder.group] if ladder.grouped else None
    return runset_from_arrays(ladder.params.tolist(), ladder.tokens.tolist(),
                              ladder.loss.tolist(), groups=groups, name=ladder.name,
                              unique_tokens=_known(ladder.unique_tokens))


def _known(counts: Array | None) -> list[float | None] | None:
    """Unique-token counts as the tool takes them: None where a row has none (NaN)."""
    if counts is None:
        return None
    return [None if not np.isfinite(c) else float(c) for c in counts]


def noise_interval(replicates: Array, train_fitted: Array, train_loss: Array, *, seed: int,
                   confidence: float) -> tuple[Array, Array]:
    """The backtest's prediction interval before issue 11 (``forecast/backtest._score`` at
    commit 158defd, checked equal there): with r = log(train_fitted / train_loss) (fitted
    over observed, so the residuals enter reflected) and one draw e_i per replicate from
    ``default_rng(seed + 1).choice(r)``, the percentile interval over i of
    replicates[i, j] * exp(e_i), for each target j (numpy's linear interpolation, finite
    values only)."""
    resid = np.log(train_fitted / train_loss)
    draws = np.random.default_rng(seed + 1).choice(resid, size=(replicates.shape[0], 1))
    noisy = replicates * np.exp(draws)
    tail = 100 * (1 - confidence) / 2
    low, high = np.empty(noisy.shape[1]), np.empty(noisy.shape[1])
    for j in range(noisy.shape[1]):
        v = noisy[:, j][np.isfinite(noisy[:, j])]
        low[j], high[j] = (np.percentile(v, [tail, 100 - tail]) if v.size
                           else (np.nan, np.nan))
    return low, high


def _fingerprint(train: Ladder, targets: Targets) -> str:
    h = hashlib.sha256()
    for a in (train.params, train.tokens, train.loss, targets.params, targets.tokens):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update("\x1f".join(train.group.tolist()).encode())
    return h.hexdigest()


def current_methods(*, replicates: int = 300, seed: int = 0, workers: int = 1,
                    confidence: float = 0.95) -> dict[str, Predictor]:
    """``current``, ``current+noise`` and ``total`` predictors sharing one fit per split."""
    memo: dict[str, dict[str, Interval]] = {}

    def run(train: Ladder, targets: Targets) -> dict[str, Interval]:
        key = _fingerprint(train, targets)
        if key not in memo:
            memo.clear()  # evaluate() calls both methods of a split back to back
            memo[key] = current_predictor(train, targets, replicates=replicates, seed=seed,
                                          workers=workers, confidence=confidence)
        return memo[key]

    def expected(train: Ladder, targets: Targets, /) -> Interval:
        return run(train, targets)["current"]

    def observed(train: Ladder, targets: Targets, /) -> Interval:
        return run(train, targets)["current+noise"]

    def total(train: Ladder, targets: Targets, /) -> Interval:
        return run(train, targets)["total"]

    return {"current": expected, "current+noise": observed, "total": total}


METHODS: dict[str, Callable[..., dict[str, Predictor]]] = {"current": current_methods}
