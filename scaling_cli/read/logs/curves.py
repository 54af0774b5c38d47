"""Loss curves of training runs -> the final losses a fit needs.

A :class:`Curve` is one run's logged training curve as read from its log (JSON Lines,
``trainer_state.json``, W&B export, TensorBoard events: :mod:`scaling_cli.read.logs`):
strictly increasing ``step``, the ``loss`` in nats/token at each step, the ``tokens`` seen
by then and, when logged, the learning rate. A :class:`Reduction` turns it into the one
(tokens, loss) pair the law is fitted to; every reduction is documented here, and the
``tokens`` it reports is the SAME average of the tokens as the loss is of the losses, so
that the pair lies on the curve to first order (a mean of a falling curve credited to the
last step would be biased high):

========================  ==================================================================
``last``                  the last logged point: ``loss[-1]`` at ``tokens[-1]``
``mean:K``                the mean of the last K points, at the mean of their tokens
``ema:W``                 the bias-corrected exponential moving average at the last point,
                          weight W per logged point (0 <= W < 1): s_i = W s_(i-1) + (1-W) x_i,
                          s_(-1) = 0, value s_n / (1 - W^(n+1)), i.e. the weights
                          W^(n-i) / sum_j W^(n-j) over all n+1 points. This is exactly what
                          TensorBoard's smoothing slider at W shows at the last step.
``at:T[,T2...]``          the loss at T tokens, interpolated linearly in tokens between the
                          two logged points around it; T outside the logged tokens
                          [tokens[0], tokens[-1]] is refused, never extrapolated. Several
                          token counts keep several rows per run (checkpoints) that share
                          the run's id as their ``group`` (the bootstrap resamples whole
                          groups). Intermediate points of a run whose learning-rate schedule
                          was set for a longer run overstate the loss a run of that length
                          would reach (Hoffmann et al. 2022, Fig. A1): prefer ``last`` for
                          a cosine schedule unless the ladder was designed for it.
========================  ==================================================================

:func:`to_records` turns reduced curves into plain records ``{"id", "params", "tokens",
"loss"[, "group"][, "non_embedding_params"]}`` that :mod:`scaling_cli.read.runs` validates
like any run table, each with the source file and position its messages should name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import InputError
from scaling_cli.units import QuantityError, format_count, format_number, parse_number, shown

__all__ = [
    "Curve",
    "CurveRecord",
    "CurveSet",
    "RecordSet",
    "Reduction",
    "Skipped",
    "parse_tokens_per_step",
    "reduce_curve",
    "to_records",
]

FloatArray = npt.NDArray[np.float64]


def _frozen(values: Sequence[float] | FloatArray) -> FloatArray:
    array = np.array(values, dtype=np.float64)  # a copy: the caller's list stays its own
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Curve:
    """One run's loss curve. Arrays are read-only float64 of equal length, ``step`` strictly
    increasing, ``tokens`` strictly increasing (logged, or ``step * tokens_per_step``).

    ``position`` holds where each point was read (``"line 17"``, ``"log_history entry 3"``,
    ``"step 500"``) so that a reduction's record can name it; ``metadata`` says where the
    values came from (``format``, ``loss_key``, ``tokens_from``, ``params_from``, ...).
    """

    run_id: str
    source: str
    step: FloatArray
    tokens: FloatArray
    loss: FloatArray
    position: tuple[str, ...]
    params: float | None = None
    non_embedding_params: float | None = None
    lr: FloatArray | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.position)
        for name in ("step", "tokens", "loss", "lr"):
            value = getattr(self, name)
            if value is None:
                continue
            array = _frozen(value)
            if array.shape != (n,):
                raise ValueError(f"Curve {self.run_id!r}: {name} has shape {array.shape}, "
                                 f"expected ({n},)")
            object.__setattr__(self, name, array)
        if n == 0:
            raise ValueError(f"Curve {self.run_id!r} has no points")
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def __len__(self) -> int:
        return len(self.position)

    @property
    def where(self) -> str:
        return f"{self.source} (id {shown(self.run_id)})"


@dataclass(frozen=True)
class Skipped:
    """A run left out with ``skip_invalid``: its id, its file and the one-line reason (the
    message that would have been raised without ``skip_invalid``)."""

    run_id: str
    source: str
    reason: str


@dataclass(frozen=True)
class CurveSet:
    """Curves read from training logs, the runs skipped (``skip_invalid``), the run tables
    (YAML/CSV of final losses) met among the inputs for :func:`~scaling_cli.read.runs.
    load_runs` to read, and warnings that are not errors (e.g. restarts resolved)."""

    curves: tuple[Curve, ...]
    skipped: tuple[Skipped, ...] = ()
    tables: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- reductions

_SPEC = re.compile(r"\s*(?P<method>[a-z]+)\s*(?::\s*(?P<arg>.*?)\s*)?", re.ASCII)
_HOW = "use last, mean:K, ema:W or at:TOKENS (e.g. mean:20, ema:0.9, at:20B)"


@dataclass(frozen=True)
class Reduction:
    """How a curve becomes a final loss (see the module docstring for the formulas).

    ``Reduction.parse("mean:20")``; ``str(reduction)`` gives the same text back.
    """

    method: Literal["last", "mean", "ema", "at"] = "last"
    points: int = 1  # mean: how many last points
    weight: float = 0.0  # ema: smoothing weight per logged point
    tokens: tuple[float, ...] = ()  # at: token counts

    def __post_init__(self) -> None:
        if self.method not in ("last", "mean", "ema", "at"):
            raise InputError(f"--reduce {shown(self.method)}: unknown reduction; {_HOW}")
        if self.method == "mean" and (isinstance(self.points, bool) or self.points < 1):
            raise InputError(f"--reduce mean:{self.points}: K must be a whole number of "
                             "points, 1 or more")
        if self.method == "ema" and not 0.0 <= self.weight < 1.0:
            raise InputError(f"--reduce ema:{format_number(self.weight)}: the weight must be "
                             "at least 0 and below 1 (e.g. ema:0.9)")
        if self.method == "at" and not self.tokens:
            raise InputError(f"--reduce at: give token counts, e.g. at:20B; {_HOW}")

    @classmethod
    def parse(cls, text: str) -> Reduction:
        match = _SPEC.fullmatch(text)
        if match is None:
            raise InputError(f"--reduce {shown(text)}: not a reduction; {_HOW}")
        method, arg = match.group("method"), match.group("arg")
        if method == "last" and arg is None:
            return cls("last")
        if method in ("mean", "ema", "at") and arg:
            return cls._with_argument(text, method, arg)
        if method in ("mean", "ema", "at"):
            raise InputError(f"--reduce {shown(text)}: {method} needs a value; {_HOW}")
        raise InputError(f"--reduce {shown(text)}: not a reduction; {_HOW}")

    @classmethod
    def _with_argument(cls, text: str, method: str, arg: str) -> Reduction:
        try:
            if method == "mean":
                k = parse_number(arg)
                if k != int(k):
                    raise QuantityError(f"{shown(arg)} is not a whole number of points")
                return cls("mean", points=int(k))
            if method == "ema":
                return cls("ema", weight=parse_number(arg, allow_zero=True))
            targets = tuple(parse_number(t.strip()) for t in arg.split(","))
            return cls("at", tokens=tuple(sorted(set(targets))))
        except QuantityError as exc:
            raise InputError(f"--reduce {shown(text)}: {exc.problem}") from None

    def __str__(self) -> str:
        if self.method == "mean":
            return f"mean:{self.points}"
        if self.method == "ema":
            return f"ema:{format_number(self.weight)}"
        if self.method == "at":
            return "at:" + ",".join(format_count(t, digits=6) for t in self.tokens)
        return "last"


@dataclass(frozen=True)
class Reduced:
    """One (tokens, loss) pair taken from a curve, and where: ``position`` names the
    points it used (``"line 98"`` or ``"lines 80-98"``)."""

    tokens: float
    loss: float
    position: str


def _span(curve: Curve, first: int, last: int) -> str:
    if first == last:
        return curve.position[last]
    a, b = curve.position[first], curve.position[last]
    unit_a, _, num_a = a.rpartition(" ")
    unit_b, _, num_b = b.rpartition(" ")
    if unit_a == unit_b and unit_a:  # "line 80" .. "line 98" -> "lines 80-98"
        return f"{unit_a}s {num_a}-{num_b}"
    return f"{a} to {b}"


def reduce_curve(curve: Curve, reduction: Reduction) -> tuple[Reduced, ...]:
    """The (tokens, loss) pairs ``reduction`` takes from ``curve`` (one per target token
    count for ``at``, else one). Raises :class:`InputError` naming the run and the fix when
    the curve is too short or a target lies outside its logged tokens."""
    n = len(curve)
    loss, tokens = curve.loss, curve.tokens
    if reduction.method == "last":
        return (Reduced(float(tokens[-1]), float(loss[-1]), curve.position[-1]),)
    if reduction.method == "mean":
        k = reduction.points
        if n < k:
            raise InputError(f"{curve.where}: has {_points(n)}, fewer than the {k} that "
                             f"--reduce {reduction} averages; lower K")
        return (Reduced(float(np.mean(tokens[-k:])), float(np.mean(loss[-k:])),
                        _span(curve, n - k, n - 1)),)
    if reduction.method == "ema":
        weights = _ema_weights(n, reduction.weight)
        return (Reduced(float(weights @ tokens), float(weights @ loss),
                        _span(curve, 0, n - 1) if reduction.weight > 0 else curve.position[-1]),)
    return tuple(_at_tokens(curve, target) for target in reduction.tokens)


def _points(n: int) -> str:
    return "1 logged point" if n == 1 else f"{n:,} logged points"


def _ema_weights(n: int, w: float) -> FloatArray:
    """Normalised weights w^(n-1-i) of a bias-corrected EMA, in log space (no underflow
    trouble for long curves: old points get exactly 0)."""
    if w == 0.0:
        weights = np.zeros(n)
        weights[-1] = 1.0
        return weights
    log_w = (n - 1 - np.arange(n)) * math.log(w)
    raw: FloatArray = np.exp(log_w - log_w.max())
    normalised: FloatArray = raw / raw.sum()
    return normalised


def _at_tokens(curve: Curve, target: float) -> Reduced:
    tokens, loss = curve.tokens, curve.loss
    low, high = float(tokens[0]), float(tokens[-1])
    if not low <= target <= high:
        raise InputError(
            f"{curve.where}: {format_count(target, digits=6)} tokens is outside the logged "
            f"range {format_count(low, digits=6)} to {format_count(high, digits=6)}; choose "
            "a token count inside it (curves are never extrapolated)"
        )
    right = int(np.searchsorted(tokens, target, side="left"))
    if tokens[right] == target:
        return Reduced(target, float(loss[right]), curve.position[right])
    left = right - 1
    t = (target - tokens[left]) / (tokens[right] - tokens[left])
    value = float(loss[left] + t * (loss[right] - loss[left]))
    return Reduced(target, value, _span(curve, left, right))


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class CurveRecord:
    """A plain run record (what a YAML run log holds) and where its messages point."""

    source: str
    position: str
    record: Mapping[str, Any]


@dataclass(frozen=True)
class RecordSet:
    records: tuple[CurveRecord, ...]
    skipped: tuple[Skipped, ...] = ()


def to_records(
    curves: CurveSet | Sequence[Curve],
    reduction: Reduction,
    *,
    skip_invalid: bool = False,
) -> RecordSet:
    """Reduce every curve to records ``{"id", "params", "tokens", "loss"}`` (plus
    ``non_embedding_params`` when known, and ``group`` = the run id with ``at`` and several
    token counts, whose rows get ids ``RUN@TOKENS``).

    A curve without a parameter count, too short for ``mean:K`` or without a target token
    count raises :class:`InputError`, or with ``skip_invalid`` is returned in ``skipped``
    with that message (runs already skipped while reading are carried over).
    """
    items = curves.curves if isinstance(curves, CurveSet) else tuple(curves)
    skipped = list(curves.skipped) if isinstance(curves, CurveSet) else []
    records: list[CurveRecord] = []
    for curve in items:
        try:
            records.extend(_curve_records(curve, reduction))
        except InputError as exc:
            if not skip_invalid:
                raise
            skipped.append(Skipped(curve.run_id, curve.source, str(exc)))
    return RecordSet(tuple(records), tuple(skipped))


def _curve_records(curve: Curve, reduction: Reduction) -> list[CurveRecord]:
    if curve.params is None:
        raise InputError(f"{curve.where}: no parameter count; give it with --log-params "
                         "(one run) or --params-file (run -> params), or put a config.json "
                         "beside a trainer_state.json")
    reduced = reduce_curve(curve, reduction)
    several = len(reduced) > 1
    out = []
    for point in reduced:
        record: dict[str, Any] = {
            "id": f"{curve.run_id}@{format_count(point.tokens, digits=6)}" if several
            else curve.run_id,
            "params": curve.params,
            "tokens": point.tokens,
            "loss": point.loss,
        }
        if several:
            record["group"] = curve.run_id
        if curve.non_embedding_params is not None:
            record["non_embedding_params"] = curve.non_embedding_params
        out.append(CurveRecord(curve.source, point.position, record))
    return out


# --------------------------------------------------------------------------- options

_TIMES = re.compile(r"\s*[x*×]\s*")


def parse_tokens_per_step(text: str) -> float:
    """``--tokens-per-step``: a count (``2M``, ``2097152``) or a product of counts such as
    global batch size x sequence length (``1024x2048``, ``512*4096``; ``x``, ``*`` or
    ``×``). Tokens are then ``step * tokens_per_step`` for logs that do not log tokens."""
    parts = _TIMES.split(text.strip())
    if len(parts) > 1 and not all(parts):
        raise InputError(f"--tokens-per-step {shown(text)}: a factor is missing; write a count "
                         "(2M) or a product such as batch x sequence length (1024x2048)")
    try:
        value = math.prod(parse_number(p) for p in parts)
    except QuantityError as exc:
        raise InputError(f"--tokens-per-step {shown(text)}: {exc.problem}") from None
    if not math.isfinite(value):
        raise InputError(f"--tokens-per-step {shown(text)}: is too large; check the units")
    return value
