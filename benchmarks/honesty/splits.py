"""Fit on the smaller runs, predict the larger ones: splits of a ladder, as a user would make
them, and how far each held-out target lies outside what was fitted.

A :class:`Split` is a training mask and a test mask over one ladder's rows. Test rows are
always target rows (a finished run's final loss); training rows may be any rows (with
checkpoint ladders, a held-out run's early checkpoints can be in the training set, as they
would be for a run in progress). Kinds (:func:`standard_splits` makes all that apply):

* ``largest``: hold out the k = max(3, ceil(10% of target rows)) target rows with the
  largest compute; train on every row with less compute than the smallest of them
  (``scaling backtest --holdout-largest k``).
* ``rolling``: rows fall into compute levels (sorted log10 C; a level starts where C exceeds
  the level's first row by more than 0.05 dex). A threshold between two levels trains on
  every row below it and tests every target row above it. Thresholds with fewer than a
  quarter of the rows below, or rows that cannot identify the law (fewer than 8 rows or 3
  distinct N or D), are skipped; of the rest, up to 4 spread evenly over the candidates,
  always including the one with the most training rows (the tool's rolling-origin backtest).
* ``tokens_per_param``: train on rows with D/N <= r / R, test every target row above it,
  r = the largest D/N of any target row, R in (32, 8): targets reach R times the largest
  fitted D/N (over-training, the case where issue 11's misses grow to 6-9%).
* ``epochs`` (ladders with unique-token counts and repeated data): train on rows with
  D/U <= e epochs, test target rows with more, e in (1, 4).

Extrapolation distances of each test row, relative to the training rows:

    log_compute  = log10(C / max C_train)
    log_params   = log10(N / max N_train)
    log_dn_above = log10((D/N) / max (D/N)_train)    > 0: beyond the fitted tokens/param
    log_dn_below = log10((D/N) / min (D/N)_train)    < 0: below the fitted tokens/param
    log_epochs   = log10(epochs / max epochs_train)  (NaN without unique-token counts)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benchmarks.honesty.ladders import Ladder

__all__ = [
    "LEVEL_TOLERANCE_DEX",
    "Distances",
    "Plan",
    "Split",
    "compute_levels",
    "epoch_splits",
    "largest_split",
    "rolling_splits",
    "standard_splits",
    "tokens_per_param_splits",
    "trainable",
]

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

LEVEL_TOLERANCE_DEX = 0.05
MIN_TRAIN_ROWS, MIN_DISTINCT = 8, 3  # as the tool's identifiability check: 5 + 3 runs
MIN_TRAIN_FRACTION = 0.25
ROLLING_ORIGINS = 4
LARGEST_FRACTION, LARGEST_MIN = 0.10, 3
DN_BEYOND = (32.0, 8.0)
EPOCH_LIMITS = (1.0, 4.0)


@dataclass(frozen=True)
class Distances:
    """Per test row, how far outside the training rows it lies (see the module docstring)."""

    log_compute: Array
    log_params: Array
    log_dn_above: Array
    log_dn_below: Array
    log_epochs: Array


@dataclass(frozen=True, eq=False)
class Split:
    """Train on ``train`` rows of ``ladder``, forecast its ``test`` rows."""

    ladder: Ladder
    kind: str
    name: str
    train: BoolArray
    test: BoolArray

    def train_ladder(self) -> Ladder:
        return self.ladder.subset(self.train)

    def test_ladder(self) -> Ladder:
        return self.ladder.subset(self.test)

    def distances(self) -> Distances:
        lad, tr, te = self.ladder, self.train, self.test
        dn = lad.tokens_per_param
        ep = lad.epochs
        log_ep = (np.full(int(te.sum()), np.nan) if ep is None
                  else np.log10(ep[te] / ep[tr].max()))
        return Distances(np.log10(lad.compute_flops[te] / lad.compute_flops[tr].max()),
                         np.log10(lad.params[te] / lad.params[tr].max()),
                         np.log10(dn[te] / dn[tr].max()), np.log10(dn[te] / dn[tr].min()),
                         log_ep)


@dataclass(frozen=True)
class Plan:
    """A ladder's splits, and the ones that could not be made (with the reason)."""

    splits: tuple[Split, ...]
    skipped: tuple[str, ...]


def trainable(ladder: Ladder, train: BoolArray) -> bool:
    """Enough rows and distinct N and D to identify L(N, D) (8 rows, 3 distinct each)."""
    return bool(train.sum() >= MIN_TRAIN_ROWS
                and np.unique(ladder.params[train]).size >= MIN_DISTINCT
                and np.unique(ladder.tokens[train]).size >= MIN_DISTINCT)


def compute_levels(compute_flops: Array, tolerance_dex: float = LEVEL_TOLERANCE_DEX) -> Array:
    """Level index per row (0 = least compute): a new level starts where log10 C exceeds the
    current level's first row by more than ``tolerance_dex``."""
    c = np.log10(compute_flops)
    order = np.argsort(c, kind="stable")
    labels = np.empty(c.size, dtype=np.int64)
    level, start = -1, -math.inf
    for i in order:
        if c[i] - start > tolerance_dex:
            level, start = level + 1, float(c[i])
        labels[i] = level
    return labels.astype(float)


def _make(ladder: Ladder, kind: str, name: str, train: BoolArray,
          test: BoolArray) -> Split | str:
    """The split, or why it cannot be evaluated."""
    if not test.any():
        return f"{ladder.name} / {name}: no target rows to forecast"
    if not trainable(ladder, train):
        return (f"{ladder.name} / {name}: training rows cannot identify the law "
                f"({int(train.sum())} rows, {np.unique(ladder.params[train]).size} sizes, "
                f"{np.unique(ladder.tokens[train]).size} token counts)")
    return Split(ladder, kind, name, train, test)


def largest_split(ladder: Ladder, k: int | None = None) -> Split | str:
    """Hold out the ``k`` target rows with the most compute (default 10%, at least 3)."""
    eligible = np.flatnonzero(ladder.target)
    if k is None:
        k = max(LARGEST_MIN, math.ceil(LARGEST_FRACTION * eligible.size))
    if not 0 < k < eligible.size:
        return f"{ladder.name} / largest {k}: needs fewer than {eligible.size} target rows"
    cut = float(np.sort(ladder.compute_flops[eligible])[-k])
    c = ladder.compute_flops
    return _make(ladder, "largest", f"largest {k} (C>={cut:.3g})", c < cut,
                 ladder.target & (c >= cut))


def rolling_splits(ladder: Ladder, origins: int = ROLLING_ORIGINS) -> tuple[list[Split], list[str]]:
    """Rolling origins at compute-level boundaries (see the module docstring)."""
    levels = compute_levels(ladder.compute_flops)
    candidates = []
    for j in range(1, int(levels.max()) + 1):
        train, test = levels < j, ladder.target & (levels >= j)
        if (train.sum() >= MIN_TRAIN_FRACTION * len(ladder) and test.any()
                and trainable(ladder, train)):
            candidates.append((train, test))
    if not candidates:
        return [], [f"{ladder.name} / rolling: no compute threshold leaves a quarter of the "
                    "rows below it that can identify the law"]
    picks = sorted({round(float(i)) for i in np.linspace(0, len(candidates) - 1, origins)})
    out = []
    for n, i in enumerate(picks, 1):
        train, test = candidates[i]
        cut = float(ladder.compute_flops[test].min())
        out.append(Split(ladder, "rolling", f"rolling {n}/{len(picks)} (C>={cut:.3g})",
                         train, test))
    return out, []


def tokens_per_param_splits(ladder: Ladder,
                            beyond: tuple[float, ...] = DN_BEYOND) -> tuple[list[Split], list[str]]:
    """Train on D/N <= r / R, forecast the targets above (r: the largest target D/N)."""
    dn = ladder.tokens_per_param
    r = float(dn[ladder.target].max())
    out: list[Split] = []
    skipped: list[str] = []
    for factor in beyond:
        limit = r / factor
        made = _make(ladder, "tokens_per_param", f"D/N<={limit:.3g} (targets to {factor:g}x)",
                     dn <= limit, ladder.target & (dn > limit))
        if isinstance(made, Split):
            out.append(made)
        else:
            skipped.append(made)
    return out, skipped


def epoch_splits(ladder: Ladder,
                 limits: tuple[float, ...] = EPOCH_LIMITS) -> tuple[list[Split], list[str]]:
    """Train on runs with at most ``e`` epochs of their unique data, forecast the rest."""
    ep = ladder.epochs
    if ep is None or not np.any(ep > 1 + 1e-9):
        return [], []
    out: list[Split] = []
    skipped: list[str] = []
    for e in limits:
        made = _make(ladder, "epochs", f"epochs<={e:g}", ep <= e * (1 + 1e-9),
                     ladder.target & (ep > e * (1 + 1e-9)))
        if isinstance(made, Split):
            out.append(made)
        else:
            skipped.append(made)
    return out, skipped


def standard_splits(ladder: Ladder) -> Plan:
    """Largest-out, rolling origins, tokens/param and (with repeated data) epoch splits; a
    split with the same rows as an earlier one is listed as skipped, not evaluated twice."""
    splits: list[Split] = []
    skipped: list[str] = []
    largest = largest_split(ladder)
    if isinstance(largest, Split):
        splits.append(largest)
    else:
        skipped.append(largest)
    for made, why in (rolling_splits(ladder), tokens_per_param_splits(ladder),
                      epoch_splits(ladder)):
        skipped.extend(why)
        for split in made:
            same = next((s for s in splits if np.array_equal(s.train, split.train)
                         and np.array_equal(s.test, split.test)), None)
            if same is None:
                splits.append(split)
            else:  # e.g. the last rolling origin when the top level is the largest 10%
                skipped.append(f"{ladder.name} / {split.name}: same rows as {same.name}")
    return Plan(tuple(splits), tuple(skipped))
