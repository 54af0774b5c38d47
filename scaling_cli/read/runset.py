"""The runs read, as :func:`scaling_cli.read.runs.load_runs` hands them on.

- :class:`Run`: one training run as its log gave it (a frozen record).
- :class:`RunTable`: runs as columns, in the order of their ids. Loading and fitting work
  on the columns; a ``Run`` is made only when code asks for one (``table[i]``,
  ``for run in table``), so 100,000 runs read from a CSV table cost their numbers, not
  100,000 Python objects.
- :class:`RunSet`: the runs to fit, the runs their logs excluded, where they came from,
  warnings, the runs left out by ``skip_invalid``, and :func:`digest`, the hash of their
  content.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from operator import itemgetter
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import numpy.typing as npt

from scaling_cli.law import effective_tokens
from scaling_cli.model import RunData
from scaling_cli.units import shown

if TYPE_CHECKING:
    from scaling_cli.read.logs import Skipped

__all__ = ["Positions", "Run", "RunSet", "RunTable", "digest"]

Array = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Run:
    """One training run as read from a log. Counts are floats (they can exceed 2**53)."""

    run_id: str
    params: float
    tokens: float
    loss: float
    source: str
    position: str  # "run 3" (YAML) or "line 17" (CSV): where in ``source`` it was found
    flops: float | None = None
    group: str | None = None
    non_embedding_params: float | None = None
    unique_tokens: float | None = None
    tags: tuple[str, ...] = ()
    exclude: bool = False
    exclude_reason: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source}: {self.position} (id {shown(self.run_id)})"


@dataclass(frozen=True, eq=False)
class Positions(Sequence[str]):
    """Positions ``WORD N`` (``line 17`` of a CSV table, ``run 3`` of a YAML list), each made
    when asked for."""

    word: str
    numbers: Sequence[int]

    def __len__(self) -> int:
        return len(self.numbers)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[str, ...]: ...

    def __getitem__(self, i: int | slice) -> str | tuple[str, ...]:
        if isinstance(i, slice):
            return tuple(f"{self.word} {n}" for n in self.numbers[i])
        return f"{self.word} {self.numbers[i]}"


# The optional counts of a run: NaN in a RunTable's column where the run gave none.
OPTIONAL_COUNTS = ("flops", "non_embedding_params", "unique_tokens")


@dataclass(frozen=True, eq=False)
class RunTable(Sequence[Run]):
    """Runs as columns (one entry per run, in one order); a sequence of :class:`Run`.

    Counts are float64 arrays, read-only; an optional count a run did not give is NaN.
    Text columns are tuples (None where a run gave none)."""

    ids: tuple[str, ...]
    params: Array
    tokens: Array
    loss: Array
    flops: Array
    non_embedding_params: Array
    unique_tokens: Array
    groups: tuple[str | None, ...]
    tags: tuple[tuple[str, ...], ...]
    exclude: Flags
    exclude_reasons: tuple[str | None, ...]
    sources: tuple[str, ...]
    positions: Sequence[str]  # where in its source each run was found

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name, value in vars(self).items():
            if len(value) != n:
                raise ValueError(f"RunTable: column {name} has {len(value)} entries, not {n}")
            if isinstance(value, np.ndarray):
                value.flags.writeable = False

    @classmethod
    def of(cls, runs: Iterable[Run]) -> RunTable:
        """The table of ``runs`` (in their order)."""
        made = tuple(runs)

        def numbers(name: str) -> Array:
            return np.array([getattr(r, name) for r in made], dtype=float).reshape(-1)

        def optional(name: str) -> Array:
            return np.array([np.nan if (v := getattr(r, name)) is None else v for r in made],
                            dtype=float).reshape(-1)

        table = cls(ids=tuple(r.run_id for r in made), params=numbers("params"),
                    tokens=numbers("tokens"), loss=numbers("loss"), flops=optional("flops"),
                    non_embedding_params=optional("non_embedding_params"),
                    unique_tokens=optional("unique_tokens"),
                    groups=tuple(r.group for r in made), tags=tuple(r.tags for r in made),
                    exclude=np.array([r.exclude for r in made], dtype=bool).reshape(-1),
                    exclude_reasons=tuple(r.exclude_reason for r in made),
                    sources=tuple(r.source for r in made),
                    positions=tuple(r.position for r in made))
        table.__dict__["_runs"] = made  # (the cached_property's slot: the runs are at hand)
        return table

    @classmethod
    def concat(cls, tables: Sequence[RunTable]) -> RunTable:
        """One table of the runs of ``tables``, in order."""
        if len(tables) == 1:
            return tables[0]
        columns: dict[str, Any] = {
            name: np.concatenate([getattr(t, name) for t in tables])
            if isinstance(first, np.ndarray) else tuple(v for t in tables for v in getattr(t, name))
            for name, first in vars(tables[0]).items() if name != "_runs"}
        return cls(**columns)

    def take(self, index: Sequence[int] | npt.NDArray[np.intp]) -> RunTable:
        """The runs at ``index``, in that order."""
        at = np.asarray(index, dtype=np.intp).reshape(-1)
        if at.size == len(self) and np.array_equal(at, np.arange(len(self))):
            return self
        pick = itemgetter(*at.tolist()) if at.size else None

        def texts(column: tuple[Any, ...]) -> tuple[Any, ...]:
            if pick is None:
                return ()
            got = pick(column)
            return got if at.size > 1 else (got,)

        columns: dict[str, Any] = {
            name: value[at] if isinstance(value, np.ndarray) else texts(value)
            for name, value in vars(self).items() if name != "_runs"}
        return RunTable(**columns)

    def sorted_by_id(self) -> RunTable:
        """The runs in the order of their ids (results must not depend on file order)."""
        if list(self.ids) == sorted(self.ids):
            return self  # (often so: a ladder's ids are written in order)
        return self.take(sorted(range(len(self)), key=self.ids.__getitem__))

    @cached_property
    def _runs(self) -> tuple[Run, ...]:
        """The runs as :class:`Run` objects (made on first use)."""
        def optional(column: Array) -> list[float | None]:
            return [None if v != v else v for v in column.tolist()]  # (NaN: not given)

        with pause_cycle_collection():
            return tuple(map(Run, self.ids, self.params.tolist(), self.tokens.tolist(),
                             self.loss.tolist(), self.sources, self.positions,
                             optional(self.flops), self.groups,
                             optional(self.non_embedding_params),
                             optional(self.unique_tokens), self.tags,
                             self.exclude.tolist(), self.exclude_reasons))

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> Run: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[Run, ...]: ...

    def __getitem__(self, i: int | slice) -> Run | tuple[Run, ...]:
        return self._runs[i]

    def __iter__(self) -> Iterator[Run]:
        return iter(self._runs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RunTable):
            return self._runs == other._runs
        return isinstance(other, tuple) and self._runs == other

    def __hash__(self) -> int:
        return hash(self._runs)

    def __repr__(self) -> str:
        return f"RunTable({len(self)} runs)"


@contextlib.contextmanager
def pause_cycle_collection() -> Iterator[None]:
    """Pause the cycle collector while many acyclic objects are made: it would walk the
    growing heap again and again for nothing (~15% of building 1e5 runs)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def digest(table: RunTable) -> str:
    """SHA-256 of the runs' content: ids, groups, counts, loss and exclusions, in the table's
    order (the callers' order is by id). Independent of file names, positions and number
    formatting (``1e9`` and ``1000000000`` are one value): it changes exactly when the
    data change."""
    import hashlib  # ~7 ms of start-up for the commands that read no runs

    h = hashlib.sha256()
    h.update(json.dumps([list(table.ids), list(table.groups)]).encode())
    for name in ("params", "tokens", "loss", *OPTIONAL_COUNTS):
        column = getattr(table, name)
        h.update(np.where(np.isnan(column), np.nan, column).astype("<f8").tobytes())
    h.update(table.exclude.astype(np.uint8).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class RunSet:
    """The runs to fit (sorted by id), the ones excluded by their logs, the ones left out by
    ``skip_invalid`` (each with why), provenance, and warnings (e.g. restarts resolved).

    ``runs`` and ``excluded`` are :class:`RunTable` s; a sequence of :class:`Run` given
    for either becomes one."""

    runs: Sequence[Run]
    excluded: Sequence[Run]
    sources: tuple[str, ...]
    sha256: str
    warnings: tuple[str, ...] = field(default=())
    skipped: tuple[Skipped, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("runs", "excluded"):
            value = getattr(self, name)
            if not isinstance(value, RunTable):
                object.__setattr__(self, name, RunTable.of(value))

    @property
    def table(self) -> RunTable:
        """The runs to fit, as columns."""
        assert isinstance(self.runs, RunTable)  # (made so by __post_init__)
        return self.runs

    def __len__(self) -> int:
        return len(self.runs)

    def columns(self, flops_per_param_token: float, *,
                repeated_data: str = "effective") -> RunData:
        """The runs as columns; a run's compute is its own ``flops``, else k N D. A run that
        repeated its data (``unique_tokens`` U < D) gets, with ``repeated_data`` "effective",
        the fresh tokens it is worth as its tokens (:func:`scaling_cli.law.effective_tokens`;
        its compute stays that of the D tokens it saw); with "fresh", D as read."""
        t = self.table
        tokens = t.tokens.copy()
        epochs = law_tokens = None
        if not np.all(np.isnan(t.unique_tokens)):
            epochs = tokens / t.unique_tokens
            if repeated_data == "effective":
                law_tokens = effective_tokens(tokens, t.unique_tokens)
        labelled = t.groups
        return RunData(
            ids=t.ids,
            params=t.params.copy(),
            tokens=tokens if law_tokens is None else law_tokens,
            loss=t.loss.copy(),
            compute_flops=np.where(np.isnan(t.flops),
                                   flops_per_param_token * t.params * t.tokens, t.flops),
            groups=None if all(g is None for g in labelled)
            else tuple(g if g is not None else "" for g in labelled),
            epochs=epochs,
            tokens_seen=None if law_tokens is None else tokens,
        )

    def subset(self, keep: Iterable[bool]) -> RunSet:
        """The runs where ``keep`` is true (same order, same provenance)."""
        flags = np.fromiter(keep, dtype=bool)
        if flags.size != len(self):
            raise ValueError(f"subset: {flags.size} flags for {len(self)} runs")
        return replace(self, runs=self.table.take(np.flatnonzero(flags)))
