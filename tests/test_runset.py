"""The runs read, as columns (scaling_cli.read.runset): RunTable, Positions, RunSet, digest."""

from __future__ import annotations

import numpy as np
import pytest

from scaling_cli.read.runset import Positions, Run, RunSet, RunTable, digest


def _runs() -> list[Run]:
    return [
        Run("b", 2e8, 4e9, 3.0, "x.csv", "line 3", flops=5e18, group="g"),
        Run("a", 1e8, 2e9, 3.2, "x.csv", "line 2", unique_tokens=1e9, tags=("t",)),
        Run("c", 4e8, 8e9, 2.9, "y.yaml", "run 1", exclude=True, exclude_reason="diverged",
            non_embedding_params=3e8),
    ]


def test_a_table_gives_back_the_runs_it_was_made_of() -> None:
    runs = _runs()
    table = RunTable.of(runs)
    assert list(table) == runs and len(table) == 3 and table[1] == runs[1]
    assert table[1:] == tuple(runs[1:])
    assert table.flops[0] == 5e18 and np.isnan(table.flops[1])  # NaN: not given
    assert table.unique_tokens[1] == 1e9 and table.exclude.tolist() == [False, False, True]
    assert table == tuple(runs) and table == RunTable.of(runs)


def test_runs_made_from_columns_equal_the_runs_read() -> None:
    runs = _runs()
    made = RunTable(**{name: getattr(RunTable.of(runs), name)
                       for name in ("ids", "params", "tokens", "loss", "flops",
                                    "non_embedding_params", "unique_tokens", "groups", "tags",
                                    "exclude", "exclude_reasons", "sources", "positions")})
    assert "_runs" not in vars(made)  # no Run objects until asked for
    assert list(made) == runs  # None where a count was NaN, Python floats, same text


def test_columns_are_read_only() -> None:
    table = RunTable.of(_runs())
    with pytest.raises(ValueError):
        table.params[0] = 1.0


def test_take_concat_and_sort() -> None:
    runs = _runs()
    table = RunTable.of(runs)
    assert list(table.sorted_by_id()) == sorted(runs, key=lambda r: r.run_id)
    assert list(table.take([2])) == [runs[2]] and len(table.take([])) == 0
    assert table.take([0, 1, 2]) is table
    both = RunTable.concat([table.take([0]), table.take([2, 1])])
    assert list(both) == [runs[0], runs[2], runs[1]]
    with pytest.raises(ValueError, match="column"):
        RunTable(**{**{k: v for k, v in vars(table).items() if k != "_runs"}, "ids": ("a",)})


def test_positions_are_made_on_demand() -> None:
    lines = Positions("line", [2, 3, 5])
    assert lines[2] == "line 5" and lines[:2] == ("line 2", "line 3") and len(lines) == 3
    assert list(Positions("run", range(1, 3))) == ["run 1", "run 2"]


def test_a_run_set_keeps_sequences_of_runs_as_tables() -> None:
    runs = _runs()
    made = RunSet(runs=runs[:2], excluded=runs[2:], sources=("x.csv",), sha256="h")
    assert isinstance(made.runs, RunTable) and isinstance(made.excluded, RunTable)
    assert len(made) == 2 and made.table.ids == ("b", "a")
    kept = made.subset([False, True])
    assert list(kept.runs) == [runs[1]] and kept.excluded == made.excluded
    with pytest.raises(ValueError):
        made.subset([True])


def test_columns_value_repeated_runs_and_keep_the_tokens_they_saw() -> None:
    runs = _runs()
    data = RunSet(runs=runs, excluded=(), sources=("x",), sha256="h").columns(6.0)
    assert data.epochs is not None and data.tokens_seen is not None
    assert data.tokens[1] < data.tokens_seen[1] == 2e9  # the repeated run: D' < D
    assert data.tokens[0] == data.tokens_seen[0] == 4e9
    assert data.compute_flops.tolist() == [5e18, 6.0 * 1e8 * 2e9, 6.0 * 4e8 * 8e9]
    assert data.groups == ("g", "", "")
    fresh = RunSet(runs=runs, excluded=(), sources=("x",), sha256="h").columns(
        6.0, repeated_data="fresh")
    assert fresh.tokens_seen is None and fresh.tokens.tolist() == [4e9, 2e9, 8e9]


def test_the_digest_follows_content_not_provenance() -> None:
    runs = _runs()
    table = RunTable.of(runs)
    moved = RunTable.of([Run(r.run_id, r.params, r.tokens, r.loss, "other.csv", "line 9",
                             r.flops, r.group, r.non_embedding_params, r.unique_tokens, (),
                             r.exclude, None) for r in runs])
    assert digest(moved) == digest(table)  # file, position, tags and reasons are not data
    nudged = RunTable.of([runs[0], Run("a", 1e8, 2e9, np.nextafter(3.2, 4.0), "x.csv",
                                       "line 2", unique_tokens=1e9), runs[2]])
    assert digest(nudged) != digest(table)
