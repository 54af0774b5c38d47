"""What every training-log reader shares: field names and their aliases, the mapping of
fields to a log's keys (``--column FIELD=KEY``), number checks, strict JSON, and the
per-run series that become :class:`~scaling_cli.read.logs.curves.Curve` objects.

Rules every reader follows (the formats themselves: :mod:`scaling_cli.read.logs`):

- A field is found under the key the user mapped, else under the FIRST of its aliases
  (``LOG_ALIASES``) the log has; two aliases of one field in one log is an error (``loss``
  and ``train/loss`` may well be different metrics) that asks for ``--column``.
- Every field that cannot be found is reported in ONE message, each with the closest key
  (difflib), so a user fixes a log in one round.
- Steps must increase strictly within a run. A step that does not (a run resumed from a
  checkpoint appends steps it already logged) is refused naming both places, unless
  ``restarts="keep-last"``: then the points logged before the restart at steps it repeats
  are dropped (what the final model actually trained on) and a warning says which.
- Tokens must increase strictly with steps; losses must be finite and positive; learning
  rates finite and not negative.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling_cli.errors import InputError
from scaling_cli.read.logs.curves import Curve, Skipped
from scaling_cli.read.logs.names import LOG_ALIASES, LOG_FIELDS
from scaling_cli.units import QuantityError, format_count, parse_number, shown

__all__ = [
    "LOG_ALIASES",
    "LOG_FIELDS",
    "RESTARTS",
    "LogOptions",
    "Problems",
    "Series",
    "add_json_point",
    "json_number",
    "load_json",
    "resolve_fields",
    "text_number",
    "whole_step",
]

RESTARTS = ("refuse", "keep-last")


@dataclass(frozen=True)
class LogOptions:
    """How to read training logs (one validation: :meth:`check`).

    ``columns`` maps log fields (``LOG_FIELDS``) to keys, columns or tags; ``params`` is
    one size for every run read, ``params_by_run`` sizes by run id (a params file);
    ``tokens_per_step`` turns steps into tokens for logs that do not log tokens.
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    tokens_per_step: float | None = None
    params: float | None = None
    params_by_run: Mapping[str, float] = field(default_factory=dict)
    restarts: str = "refuse"
    skip_invalid: bool = False

    def check(self) -> None:
        unknown = [k for k in self.columns if k not in LOG_FIELDS]
        if unknown:
            raise InputError(f"--column {unknown[0]}=...: {unknown[0]!r} is not a field of a "
                             f"training log; fields are {', '.join(LOG_FIELDS)}")
        empty = [k for k, v in self.columns.items() if not v.strip()]
        if empty:
            raise InputError(f"--column {empty[0]}=: names no column; write "
                             f"--column {empty[0]}=COLUMN")
        if self.restarts not in RESTARTS:
            raise InputError(f"--restarts {shown(self.restarts)}: is not one of "
                             f"{', '.join(RESTARTS)}")
        if self.tokens_per_step is not None and not (
                math.isfinite(self.tokens_per_step) and self.tokens_per_step >= 1):
            raise InputError(f"--tokens-per-step {shown(self.tokens_per_step)}: must be at "
                             "least 1 (global batch size x sequence length)")


# --------------------------------------------------------------------------- columns


def _names(available: Sequence[str]) -> str:
    names = ", ".join(n if n.isidentifier() else shown(n) for n in available[:12])
    return names + (" ..." if len(available) > 12 else "") if names else "none"


def resolve_fields(
    name: str,
    available: Sequence[str],
    options: LogOptions,
    *,
    wanted: Sequence[str],
    required: Sequence[str],
    aliases: Mapping[str, tuple[str, ...]] = LOG_ALIASES,
    noun: str = "column",
) -> dict[str, str]:
    """Map each wanted field to one of ``available`` (keys in the order first seen).

    ``required`` fields that cannot be found, and mapped keys the log does not have, are
    all reported in one :class:`InputError`; ``tokens`` is required unless
    ``options.tokens_per_step`` is given.
    """
    present = set(available)
    mapping: dict[str, str] = {}
    problems: list[str] = []
    for f in wanted:
        if f in options.columns:
            key = options.columns[f]
            if key in present:
                mapping[f] = key
            else:
                hint = _close(key, available)
                problems.append(f"--column {f}={shown(key)} names no {noun}{hint}")
            continue
        found = [a for a in aliases.get(f, ()) if a in present]
        if len(found) > 1:
            raise InputError(f"{name}: {noun}s {shown(found[0])} and {shown(found[1])} could "
                             f"both be the {f}; choose one with --column {f}={noun.upper()}")
        if found:
            mapping[f] = found[0]
        elif f in required and not (f == "tokens" and options.tokens_per_step is not None):
            hint = _close_any((f, *aliases.get(f, ())), available)
            extra = " (or give --tokens-per-step)" if f == "tokens" else ""
            problems.append(f"no {noun} for {f!r}{hint}{extra}")
    if problems:
        raise InputError(f"{name}: {'; '.join(problems)}; map each with --column "
                         f"FIELD={noun.upper()} ({noun}s are {_names(available)})")
    return mapping


def _close(key: str, available: Sequence[str]) -> str:
    hint = difflib.get_close_matches(key, list(available), n=1, cutoff=0.6)
    return f" (did you mean {shown(hint[0])}?)" if hint else ""


_WORD = re.compile(r"[/_.\- ]+")


def _close_any(candidates: Iterable[str], available: Sequence[str]) -> str:
    """The key most like any candidate: by spelling (difflib, case ignored), or holding the
    field's name as a word (``Loss/train`` for loss, ``tokens_seen_total`` for tokens)."""
    lowered = {a.lower(): a for a in reversed(available)}
    best: tuple[float, str] | None = None
    for number, candidate in enumerate(candidates):
        low = candidate.lower()
        for match in difflib.get_close_matches(low, list(lowered), n=1, cutoff=0.8):
            score = difflib.SequenceMatcher(None, low, match).ratio()
            if best is None or score > best[0]:
                best = (score, lowered[match])
        if number == 0:  # the field's own name
            for key in available:
                if low in _WORD.split(key.lower()) and (best is None or best[0] < 0.6):
                    best = (0.6, key)
                    break
    return f" (did you mean {shown(best[1])}?)" if best else ""


# --------------------------------------------------------------------------- numbers


def _type_problem(value: object) -> str | None:
    if isinstance(value, bool):
        return f"got {str(value).lower()}, not a number; write a number"
    if value is None:
        return "is null; give a finite number (a NaN written as null?)"
    if isinstance(value, (list, tuple)):
        return "expected a number, got a list"
    if isinstance(value, Mapping):
        return "expected a number, got an object"
    if not isinstance(value, (int, float, str)):
        return f"expected a number, got a {type(value).__name__}"
    return None


_BIG = 2.0**1000


def json_number(value: object, *, allow_zero: bool) -> float:
    """A number from parsed JSON (or a CSV cell): JSON numbers as they are, text through
    the one unit parser; raises :class:`QuantityError` with the problem."""
    # The common case first (a million points per log): a plain positive finite float or
    # small int. NaN fails every comparison and takes the slow path, which names it.
    if type(value) is float and (0.0 < value < _BIG or (allow_zero and value == 0.0)):
        return value
    if type(value) is int and (0 < value < _BIG or (allow_zero and value == 0)):
        return float(value)
    problem = _type_problem(value)
    if problem is not None:
        raise QuantityError(problem)
    return parse_number(value, allow_zero=allow_zero)


def text_number(value: str, *, allow_zero: bool) -> float:
    return parse_number(value, allow_zero=allow_zero)


def whole_step(number: float) -> float:
    if number != math.floor(number):
        raise QuantityError(f"{shown(number)} is not a whole number of steps")
    return number


# --------------------------------------------------------------------------- JSON


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)  # one, not one per line
_PLAIN = json.JSONDecoder()


def load_json(text: str, where: str, *, line_offset: int = 0, check_keys: bool = True) -> Any:
    """``json.loads`` with duplicate keys refused (unless ``check_keys`` is false: a first
    look at the keys) and every failure one line naming ``where`` (``FILE: line N``) and
    the fix. ``NaN``/``Infinity`` parse (as Python writes them) and are refused later as
    values."""
    try:
        return _DECODER.decode(text) if check_keys else _PLAIN.decode(text)
    except _DuplicateKey as exc:
        raise InputError(f"{where}: key {shown(exc.key)} appears twice in one object; keep "
                         "one") from None
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip())
        if line_offset:  # one JSON Lines line: the column is enough
            fix = ("the line is cut short (was the run killed while writing it?); delete "
                   "or complete it") if cut else "fix the line"
            raise InputError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno}); "
                             f"{fix}") from None
        fix = "the file is cut short; was it copied while being written?" if cut else \
            "fix the syntax"
        raise InputError(f"{where}: line {exc.lineno}, column {exc.colno}: not valid JSON "
                         f"({exc.msg}); {fix}") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply to read; metrics are flat "
                         "objects: remove the nesting") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise InputError(f"{where}: not usable JSON ({str(exc).split(';')[0]}); check the "
                         "numbers") from None


# --------------------------------------------------------------------------- runs


class Problems:
    """Raise at the first bad run, or (``skip_invalid``) note it once and go on."""

    def __init__(self, skip_invalid: bool) -> None:
        self.skip_invalid = skip_invalid
        self.skipped: dict[tuple[str, str], Skipped] = {}

    def run_failed(self, source: str, run_id: str, message: str) -> None:
        if not self.skip_invalid:
            raise InputError(message)
        self.skipped.setdefault((source, run_id), Skipped(run_id, source, message))

    def is_skipped(self, source: str, run_id: str) -> bool:
        return (source, run_id) in self.skipped


class Series:
    """The points of one run as they are read, in log order; :meth:`curve` validates the
    order (the restart rule) and builds the :class:`Curve`."""

    def __init__(self, run_id: str, source: str, unit: str,
                 labels: list[str] | None = None) -> None:
        """``unit`` names a point by number (``line 17``); or ``labels[where]`` does."""
        self.run_id, self.source, self.unit, self.labels = run_id, source, unit, labels
        self.step: list[float] = []
        self.tokens: list[float] = []
        self.loss: list[float] = []
        self.lr: list[float] = []
        self.where: list[int] = []
        self.params: float | None = None
        self.params_where: int | None = None

    def label(self, index: int) -> str:
        return self.labels[index] if self.labels is not None else f"{self.unit} {index}"

    def message(self, index: int, text: str) -> str:
        return f"{self.source}: {self.label(index)} (id {shown(self.run_id)}): {text}"

    def add(self, where: int, step: float, loss: float, tokens: float | None,
            lr: float | None) -> None:
        self.where.append(where)
        self.step.append(step)
        self.loss.append(loss)
        if tokens is not None:
            self.tokens.append(tokens)
        if lr is not None:
            self.lr.append(lr)

    def set_params(self, where: int, value: float) -> None:
        """A parameter count logged with the points: it must not change within a run."""
        if self.params is not None and value != self.params:
            raise InputError(self.message(where, f"field 'params': {format_count(value)} "
                                                 f"differs from {format_count(self.params)} "
                                                 f"at {self.label(self.params_where or 0)}; "
                                                 "one run has one size"))
        if self.params is None:
            self.params, self.params_where = value, where

    def curve(self, options: LogOptions, metadata: Mapping[str, str], *,
              config_size: Callable[[], tuple[float, float | None, str] | None] | None = None,
              ) -> Curve:
        """Validate order and build the curve; raises :class:`InputError` naming the run.

        The size N is, first found: ``options.params_by_run[run_id]`` (a params file),
        ``options.params``, a params key in the log, ``config_size()`` (a config.json).
        """
        if not self.loss:
            raise InputError(f"{self.source} (id {shown(self.run_id)}): no loss was logged; "
                             "check the loss key (--column loss=KEY) or drop the run")
        n = len(self.loss)
        keep, warning = self._order(options.restarts)
        warnings = [warning] if warning else []
        step = np.asarray(self.step)[keep]
        meta = dict(metadata)
        if len(self.tokens) == n:
            tokens = np.asarray(self.tokens)[keep]
            meta["tokens_from"] = "log"
        else:
            if options.tokens_per_step is None:  # resolve_fields made sure of this
                raise InputError(f"{self.source} (id {shown(self.run_id)}): no tokens; give "
                                 "--tokens-per-step")
            tokens = step * options.tokens_per_step
            meta["tokens_from"] = f"step x {format_count(options.tokens_per_step, digits=6)}"
        where = [self.where[i] for i in keep]
        self._check_tokens(tokens, where)
        size = self._size(options, config_size, warnings)
        if size is not None:
            meta["params_from"] = size[2]
        return Curve(
            run_id=self.run_id, source=self.source, step=step, tokens=tokens,
            loss=np.asarray(self.loss)[keep], position=tuple(self.label(w) for w in where),
            params=size[0] if size else None, non_embedding_params=size[1] if size else None,
            lr=np.asarray(self.lr)[keep] if len(self.lr) == n else None, metadata=meta,
            warnings=tuple(warnings),
        )

    def _size(self, options: LogOptions,
              config_size: Callable[[], tuple[float, float | None, str] | None] | None,
              warnings: list[str]) -> tuple[float, float | None, str] | None:
        given: tuple[float, float | None, str] | None = None
        if self.run_id in options.params_by_run:
            given = (options.params_by_run[self.run_id], None, "params file")
        elif options.params is not None:
            given = (options.params, None, "--log-params")
        if given is not None and self.params is not None and given[0] != self.params:
            warnings.append(f"{self.source} (id {shown(self.run_id)}): the log gives "
                            f"{format_count(self.params)} parameters; used the "
                            f"{format_count(given[0])} from {given[2]}")
        if given is not None:
            return given
        if self.params is not None:
            return (self.params, None, "log")
        return config_size() if config_size is not None else None

    def _order(self, restarts: str) -> tuple[list[int], str | None]:
        steps = np.asarray(self.step)
        back = np.flatnonzero(np.diff(steps) <= 0)
        if back.size == 0:
            return list(range(len(steps))), None
        i = int(back[0]) + 1
        if restarts == "refuse":
            verb = "repeats" if steps[i] == steps[i - 1] else "comes after"
            raise InputError(self.message(
                self.where[i],
                f"field 'step': {steps[i]:.0f} {verb} step {steps[i - 1]:.0f} at "
                f"{self.label(self.where[i - 1])} (a restarted run?); keep the points "
                "logged after the restart with --restarts keep-last, or split the log"))
        kept: list[int] = []
        dropped = 0
        for j, s in enumerate(steps):  # a stack: a restart pops what it re-logs
            while kept and steps[kept[-1]] >= s:
                kept.pop()
                dropped += 1
            kept.append(j)
        restarts_at = [self.label(self.where[int(b) + 1]) for b in back]
        shown_at = ", ".join(restarts_at[:3]) + (" ..." if len(restarts_at) > 3 else "")
        return kept, (f"{self.source} (id {shown(self.run_id)}): steps logged again after a "
                      f"restart at {shown_at}; kept the later values, dropped {dropped} "
                      "earlier point" + ("s" if dropped != 1 else ""))

    def _check_tokens(self, tokens: np.ndarray, where: list[int]) -> None:
        back = np.flatnonzero(np.diff(tokens) <= 0)
        if back.size:
            i = int(back[0]) + 1
            raise InputError(self.message(
                where[i], f"field 'tokens': {format_count(float(tokens[i]), digits=6)} is not "
                f"more than {format_count(float(tokens[i - 1]), digits=6)} at "
                f"{self.label(where[i - 1])}; tokens must grow with every step (is the "
                "tokens column the right one?)"))


def add_json_point(run: Series, where: int, obj: Mapping[str, Any],
                   fields: Mapping[str, str]) -> None:
    """Add to ``run`` the point a JSON object (a JSON Lines line, a ``log_history`` entry)
    holds under the keys ``fields`` maps: none when it has no loss (another event), else
    its loss, step and (when mapped) tokens, all required, and its learning rate and size
    when there. Raises :class:`InputError` naming the place, the run and the field."""
    name = "params"
    try:
        if "params" in fields and fields["params"] in obj:
            run.set_params(where, json_number(obj[fields["params"]], allow_zero=False))
        if fields["loss"] not in obj:
            return
        name = "loss"
        loss = json_number(obj[fields["loss"]], allow_zero=False)
        name = "step"
        step = whole_step(json_number(_required(run, obj, fields["step"]), allow_zero=True))
        tokens = None
        if "tokens" in fields:
            name = "tokens"
            tokens = json_number(_required(run, obj, fields["tokens"]), allow_zero=True)
        lr = None
        if "lr" in fields and fields["lr"] in obj:
            name = "lr"
            lr = json_number(obj[fields["lr"]], allow_zero=True)
    except QuantityError as exc:
        raise InputError(run.message(where, f"field {name!r}: {exc.problem}")) from None
    run.add(where, step, loss, tokens, lr)


def _required(run: Series, obj: Mapping[str, Any], key: str) -> Any:
    if key not in obj:
        raise QuantityError(f"is missing; a {run.unit} with a loss needs its {shown(key)}")
    return obj[key]
