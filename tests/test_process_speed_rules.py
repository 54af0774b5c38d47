"""The rules that keep the shipped process fast (issue 16), tested as rules, never timed.

* bootstrap workers run BLAS on one thread, set by the tool (not by the environment), and
  the parent runs its own refits on one thread and restores its setting afterwards;
* the bootstrap job is handed to the workers once, by fork, never pickled per chunk;
* the number of processes follows the work (``worker_count``), never more than asked for;
* results are the same bytes whatever the worker count, and whichever process ran a batch
  (work beside the bootstrap, joined on the batches left);
* run tables validated column by column give exactly what the record-by-record path gives:
  the same runs, hash and warnings, and for bad input the same one-line message.
"""

from __future__ import annotations

import multiprocessing.context
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scaling_cli.errors import InputError
from scaling_cli.fit import bootstrap as boot
from scaling_cli.fit.objective import Data
from scaling_cli.fit.processes import beside_batches, beside_prepared, claim_all
from scaling_cli.fit.search import fit_law
from scaling_cli.read import runs as runs_module
from scaling_cli.read.runs import RunSet, load_runs

from .conftest import synthetic_ladder

# --------------------------------------------------------------------------- helpers


def _threads_in_worker(batch: int) -> tuple[int, tuple[int, ...]]:
    return batch, boot.blas_threads()


class _Unpicklable:
    """A job that fails if anything tries to pickle it (as a per-chunk send would)."""

    def __call__(self, batch: int) -> int:
        return batch * 10

    def __reduce__(self) -> Any:
        raise AssertionError("the job was pickled")


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every process pool started (so a test cannot pass without one)."""
    sizes: list[int] = []
    pool = multiprocessing.context.BaseContext.Pool

    def recording(self: Any, processes: int | None = None, *args: Any, **kwargs: Any) -> Any:
        sizes.append(processes or 0)
        return pool(self, processes, *args, **kwargs)

    monkeypatch.setattr(multiprocessing.context.BaseContext, "Pool", recording)
    return sizes


@pytest.fixture(scope="module")
def ladder() -> tuple[Data, Any]:
    n, d, loss = synthetic_ladder(noise=0.02, sizes=6, seed=5,
                                  budgets=(1e17, 1e18, 1e19, 1e20, 1e21))
    data = Data.from_arrays(n, d, loss)
    return data, fit_law(data)


def _controllable() -> tuple[int, ...]:
    threads = boot.blas_threads()
    if not threads:
        pytest.skip("no OpenBLAS/MKL whose thread count can be set is loaded (not Linux?)")
    return threads


# --------------------------------------------------------------------------- BLAS threads


def test_workers_run_blas_on_one_thread_whatever_the_parent_uses(pools: list[int]) -> None:
    _controllable()
    with boot.limit_blas_threads(2):  # as a user's OPENBLAS_NUM_THREADS=2 would leave it
        parent = boot.blas_threads()
        seen = list(boot.map_batches(_threads_in_worker, list(range(6)), 2))
        assert boot.blas_threads() == parent  # the parent's own setting is untouched
    assert pools == [1]  # one worker beside this process, which takes every other batch
    assert [b for b, _ in seen] == list(range(6))
    in_worker = [threads for b, threads in seen if b % 2]
    assert all(threads and set(threads) == {1} for threads in in_worker), seen


def test_the_parent_refits_on_one_thread_and_restores_its_setting(
        ladder: tuple[Data, Any]) -> None:
    _controllable()
    data, fit = ladder
    during: list[tuple[int, ...]] = []
    with boot.limit_blas_threads(2):
        before = boot.blas_threads()
        if set(before) == {1}:
            pytest.skip("OpenBLAS here runs one thread at most: nothing to limit")
        boot.bootstrap(data, fit, replicates=64, seed=1, workers=1,
                       progress=lambda done, total: during.append(boot.blas_threads()))
        assert boot.blas_threads() == before
    assert during and all(set(t) == {1} for t in during)


# --------------------------------------------------------------------------- the job


def test_the_job_is_inherited_not_pickled(pools: list[int]) -> None:
    assert list(boot.map_batches(_Unpicklable(), list(range(5)), 2)) == [0, 10, 20, 30, 40]
    assert pools == [1]


def test_bootstrap_hands_its_job_over_once(monkeypatch: pytest.MonkeyPatch, pools: list[int],
                                           ladder: tuple[Data, Any]) -> None:
    data, fit = ladder
    one = boot.bootstrap(data, fit, replicates=160, seed=2, workers=1)

    def refuse(self: Any) -> Any:
        raise AssertionError("the bootstrap job was pickled")

    monkeypatch.setattr(boot._Job, "__reduce__", refuse)
    monkeypatch.setattr(boot, "MIN_WORK_PER_PROCESS", 1)  # workers even for this small job
    two = boot.bootstrap(data, fit, replicates=160, seed=2, workers=2)
    assert pools == [1]
    assert one.theta.tobytes() == two.theta.tobytes()


# --------------------------------------------------------------------------- how many


def test_worker_count_follows_the_work() -> None:
    count = boot.worker_count
    # Too little work for a second process (well under a second): this process alone.
    assert count(2, runs=100, replicates=200) == 1
    assert count(2, runs=240, replicates=1000) == 1  # Epoch's ladder, the default bootstrap
    assert count(2, runs=10_000, replicates=200) == 1
    assert count(2, runs=16, replicates=60) == 1  # fewer than MIN_CHUNKS_FOR_WORKERS chunks
    # Seconds of work: worth both cores.
    assert count(2, runs=100_000, replicates=200) == 2
    assert count(2, runs=240, replicates=10_000) == 2
    # Never more than asked for, nor more than there are chunks.
    assert count(1, runs=100_000, replicates=1000) == 1
    assert count(64, runs=100_000, replicates=200) == len(boot._chunks(200))
    # A reference bootstrap (a global fit per replicate) always pays for its workers.
    assert count(2, runs=16, replicates=128, reference=True) == 2


def test_worker_count_never_drops_as_the_work_grows() -> None:
    sizes = (16, 100, 240, 1000, 10_000, 100_000)
    replicates = (40, 60, 128, 200, 1000, 4000)
    for workers in (1, 2, 4, 16):
        grid = np.array([[boot.worker_count(workers, runs=n, replicates=r) for r in replicates]
                         for n in sizes])
        assert grid.min() >= 1 and grid.max() <= workers
        assert np.all(np.diff(grid, axis=0) >= 0) and np.all(np.diff(grid, axis=1) >= 0)


def test_a_small_bootstrap_starts_no_processes(pools: list[int],
                                               ladder: tuple[Data, Any]) -> None:
    data, fit = ladder  # 30 runs
    assert boot.worker_count(2, runs=len(data), replicates=200) == 1
    boot.bootstrap(data, fit, replicates=200, seed=0, workers=2)
    assert pools == []


def _slow_square(batch: boot.Batch) -> tuple[int, int]:
    time.sleep(0.05)
    (index, size), = batch
    return index ** 2, size


def test_hard_replicates_found_by_timing_go_to_workers(monkeypatch: pytest.MonkeyPatch,
                                                        pools: list[int]) -> None:
    # the size model says one process; the first chunk, timed, says the rest is worth two
    monkeypatch.setattr(boot, "MIN_SECONDS_PER_PROCESS", 0.1)
    batches = [((j, 32),) for j in range(12)]
    got = list(boot.map_measured(_slow_square, batches, 2))
    assert got == [(j * j, 32) for j in range(12)]  # in order, every batch once
    assert pools == [1]


def test_quick_replicates_stay_in_this_process(pools: list[int]) -> None:
    got = list(boot.map_measured(lambda b: b, [((j, 32),) for j in range(12)], 2))
    assert got == [((j, 32),) for j in range(12)]
    assert pools == []


# --------------------------------------------------------------------------- same bytes


@pytest.mark.parametrize("groups", [False, True], ids=["by-run", "by-group"])
def test_same_bytes_for_any_worker_count(monkeypatch: pytest.MonkeyPatch, pools: list[int],
                                         ladder: tuple[Data, Any], groups: bool) -> None:
    data, fit = ladder
    labels = [f"g{i // 3}" for i in range(len(data))] if groups else None
    monkeypatch.setattr(boot, "MIN_WORK_PER_PROCESS", 1)
    monkeypatch.setattr(boot, "MAX_BATCH", boot.CHUNK)  # five batches: work for 3 workers
    results = [boot.bootstrap(data, fit, replicates=150, seed=7, workers=w, groups=labels)
               for w in (1, 2, 3)]
    assert pools == [1, 2]  # workers beside this process
    for other in results[1:]:
        assert other.theta.tobytes() == results[0].theta.tobytes()
        assert np.array_equal(other.converged, results[0].converged)
        assert np.array_equal(other.degenerate, results[0].degenerate)


# --------------------------------------------------------------------------- loader


def _record_by_record(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs_module._Records, "add_table", lambda self, source, columns: False)


def _outcome(load: Callable[[], RunSet]) -> tuple[str, Any]:
    try:
        got = load()
    except InputError as exc:
        return "error", str(exc)
    return "runs", (got.runs, got.excluded, got.sources, got.sha256, got.warnings,
                    [(s.run_id, s.source, s.reason) for s in got.skipped])


def _both_paths(monkeypatch: pytest.MonkeyPatch, paths: list[str],
                **options: Any) -> tuple[tuple[str, Any], tuple[str, Any]]:
    fast = _outcome(lambda: load_runs(paths, **options))
    with monkeypatch.context() as m:
        _record_by_record(m)
        slow = _outcome(lambda: load_runs(paths, **options))
    return fast, slow


CSV_HEADER = "id,params,tokens,loss,flops,group,exclude,tags,non_embedding_params,extra"


def _csv_rows(n: int) -> list[list[str]]:
    return [[f"r{i:03d}", f"{1e7 * (1 + i)!r}", f"{2e9 * (1 + i % 7)!r}",
             f"{3.0 - i / 1000!r}", "", f"g{i % 4}", "", "", "", "x"] for i in range(n)]


# One mutation per case: (row, column, new cell); row None appends a raw line instead.
CSV_CASES: dict[str, tuple[int | None, int | str, str]] = {
    "plain": (0, 9, "x"),
    "suffix numbers": (3, 1, "70M"),
    "spaces around": (5, 2, "  2e9 "),
    "zero": (7, 1, "0"),
    "negative": (7, 2, "-2e9"),
    "nan": (8, 3, "nan"),
    "inf": (8, 1, "inf"),
    "overflow": (8, 1, "1e999"),
    "underflow": (8, 1, "1e-999"),
    "implausible params": (9, 1, "12"),
    "a perplexity": (9, 3, "25.5"),
    "comma number": (10, 1, "1;000"),
    "hexadecimal": (10, 1, "0x1F"),
    "text": (10, 2, "lots"),
    "unicode digits": (10, 2, "٣"),
    "empty id": (11, 0, " "),
    "empty required": (11, 3, ""),
    "tab in id": (11, 0, "a\tb"),
    "duplicate id": (12, 0, "r001"),
    "flops close": (13, 4, "3e17"),
    "flops far": (13, 4, "1e30"),
    "exclude yes": (14, 6, "yes"),
    "exclude maybe": (14, 6, "maybe"),
    "tags": (15, 7, "a; b;;c"),
    "non-embedding above total": (16, 8, "9e12"),
    "non-embedding fine": (16, 8, "1e6"),
    "quoted cell": (17, 9, '"q,uoted"'),
    "quoted id": (17, 0, '"r017"'),
    "quoted number": (18, 1, '"1e8"'),
    "blank line": (None, "", ""),
    "commas only": (None, "", ",,,,,,,,,"),
    "short row": (None, "", "zz,1e8,1e9"),
    "long row": (None, "", "zz,1e8,1e9,3,,,,,,,,"),
}


def _csv_text(case: str, newline: str = "\n") -> str:
    rows = _csv_rows(40)
    row, column, cell = CSV_CASES[case]
    lines = [CSV_HEADER]
    if row is None:
        lines += [",".join(r) for r in rows[:20]] + [cell] + [",".join(r) for r in rows[20:]]
    else:
        assert isinstance(column, int)
        rows[row][column] = cell
        lines += [",".join(r) for r in rows]
    return newline.join(lines) + newline


@pytest.mark.parametrize("case", sorted(CSV_CASES))
@pytest.mark.parametrize("skip_invalid", [False, True], ids=["strict", "skip-invalid"])
def test_csv_tables_by_column_or_by_record_agree(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path, case: str,
                                                 skip_invalid: bool) -> None:
    for newline in ("\n", "\r\n"):
        path = tmp_path / f"runs-{len(newline)}.csv"
        path.write_text(_csv_text(case, newline), encoding="utf-8", newline="")
        fast, slow = _both_paths(monkeypatch, [str(path)], skip_invalid=skip_invalid)
        assert fast == slow, case


YAML_RUN = "  - id: r{i:03d}\n    params: {p}\n    tokens: {t}\n    loss: {lo}\n"
YAML_CASES = {
    "plain": "",
    "meta and tags": "    meta: {{seed: 3, note: ok}}\n    tags: [a, b]\n",
    "tags as text": "    tags: a; b\n",
    "group and exclude": "    group: g1\n    exclude: true\n    exclude_reason: diverged\n",
    "unknown field": "    tokns: 3\n",
    "id and run_id": "    run_id: other\n",
    "null loss": "    flops: ~\n",
    "boolean number": "    unique_tokens: yes\n",
    "list number": "    unique_tokens: [1, 2]\n",
    "suffix": "    unique_tokens: 7B\n",
    "quoted number": "    flops: '1.2e18'\n",
    "empty text": "    group: ''\n",
    "bad bool": "    exclude: perhaps\n",
    "bad tags": "    tags: {{a: 1}}\n",
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
@pytest.mark.parametrize("where", ["one run", "every run"])  # every run: the column reader
def test_yaml_lists_by_column_or_by_record_agree(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path, case: str, where: str) -> None:
    entries = [YAML_RUN.format(i=i, p=f"{10 + i}M" if where == "one run" else f"{1e7 + i!r}",
                               t=f"{2e9 * (1 + i % 5):.6g}", lo=f"{3 - i / 100:.3f}")
               for i in range(30)]
    for i in [11] if where == "one run" else range(30):
        entries[i] += YAML_CASES[case].format()
    path = tmp_path / "runs.yaml"
    path.write_text("runs:\n" + "".join(entries), encoding="utf-8")
    if where == "every run" and case in {"plain", "group and exclude", "boolean number",
                                         "list number", "suffix"}:
        from scaling_cli.read.yamlsafe import plain_run_columns

        assert plain_run_columns(path.read_text()) is not None  # the column reader's layout
    other = tmp_path / "more.csv"  # a second source: ids across sources must stay unique
    other.write_text("id,params,tokens,loss\nz1,1e8,2e9,3.1\n", encoding="utf-8")
    for skip_invalid in (False, True):
        fast, slow = _both_paths(monkeypatch, [str(path), str(other)],
                                 skip_invalid=skip_invalid)
        assert fast == slow, case


def test_a_duplicate_across_tables_gets_the_record_path_message(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,params,tokens,loss\nr1,1e8,2e9,3.1\nr2,2e8,2e9,3\n")
    (tmp_path / "b.csv").write_text("id,params,tokens,loss\nr3,1e8,2e9,3.1\nr2,2e8,2e9,3\n")
    fast, slow = _both_paths(monkeypatch, [str(tmp_path)])
    assert fast == slow
    assert fast[0] == "error" and "duplicate run id" in fast[1] and "line 3" in fast[1]


def test_plain_tables_never_go_record_by_record(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """The agreement tests above compare two paths; this one checks that the fast one is
    the one taken for plain tables (else they would compare a path with itself)."""
    def refuse(*args: Any) -> Any:
        raise AssertionError("validated record by record")

    monkeypatch.setattr(runs_module, "_make_run", refuse)
    csv_path = tmp_path / "runs.csv"  # blank rows are plain too
    csv_path.write_text(_csv_text("blank line"), encoding="utf-8")
    commas_path = tmp_path / "commas.csv"  # (the only blank row: all its commas, no line)
    commas_path.write_text(_csv_text("commas only").replace("r0", "c0"), encoding="utf-8")
    yaml_path = tmp_path / "runs.yaml"
    yaml_path.write_text("runs:\n" + "".join(
        YAML_RUN.format(i=i, p="1e8", t="2e9", lo="3.1").replace("id: r", "id: y")
        for i in range(5)), encoding="utf-8")
    loaded = load_runs([str(csv_path), str(commas_path), str(yaml_path)])
    assert len(loaded) == 40 + 40 + 5
    first = next(r for r in loaded.runs if r.run_id == "r000")
    assert first.position == "line 2" and first.params == 1e7


def test_the_hash_follows_the_data_not_the_file(tmp_path: Path) -> None:
    rows = ["id,params,tokens,loss,group,exclude", "b,1e8,2e9,3.1,g1,", "a,7e7,2e9,3.2,,yes"]

    def sha(lines: list[str], name: str = "runs.csv") -> str:
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return load_runs([str(path)]).sha256

    first = sha(rows)
    assert sha([rows[0], rows[2], rows[1]], "other.csv") == first  # order, file name
    assert sha([rows[0], "b,100000000,2000000000,3.10,g1,false", rows[2]]) == first
    yaml = tmp_path / "runs.yaml"
    yaml.write_text("runs:\n  - {id: a, params: 70M, tokens: 2B, loss: 3.2, exclude: true}\n"
                    "  - {id: b, params: 100M, tokens: 2e9, loss: 3.1, group: g1}\n",
                    encoding="utf-8")
    assert load_runs([str(yaml)]).sha256 == first  # the format
    changed = [[rows[0], "b,1e8,2e9,3.1000000000000005,g1,", rows[2]],  # one ulp of loss
               [rows[0], "c,1e8,2e9,3.1,g1,", rows[2]],  # an id
               [rows[0], "b,1e8,2e9,3.1,g2,", rows[2]],  # a group
               [rows[0], "b,1e8,2e9,3.1,,", rows[2]],  # a group dropped
               [rows[0], rows[1], "a,7e7,2e9,3.2,,"]]  # an exclusion
    hashes = {sha(lines) for lines in changed}
    assert len(hashes) == len(changed) and first not in hashes


def test_the_refit_plan_depends_on_the_problem_alone() -> None:
    chunks = boot._chunks(1000)
    for runs in (16, 240, 5000):
        plan = boot.batches(chunks, runs)
        assert plan[0] == ((0, 32),)  # the probe a timed run measures
        assert [c for batch in plan for c in batch] == [(j, b - a) for j, (a, b) in
                                                         enumerate(chunks)]
        assert all(sum(size for _, size in batch) <= boot.batch_size(runs)
                   for batch in plan[1:])
    assert boot.batch_size(16) == boot.MAX_BATCH and boot.batch_size(5000) == boot.CHUNK
    # a short last chunk joins the batch before it where that batch has room
    assert [sum(size for _, size in batch) for batch in boot.batches(chunks, 16)] == [
        32, 480, 488]
    assert boot.batches(chunks, 5000)[-1] == ((31, 8),)  # no room: its own batch


def test_same_bytes_when_timing_sends_the_rest_to_workers(
        monkeypatch: pytest.MonkeyPatch, pools: list[int], ladder: tuple[Data, Any]) -> None:
    data, fit = ladder
    monkeypatch.setattr(boot, "MAX_BATCH", 64)
    one = boot.bootstrap(data, fit, replicates=200, seed=4, workers=1)
    monkeypatch.setattr(boot, "MIN_SECONDS_PER_PROCESS", 1e-9)  # any timing pays for workers
    monkeypatch.setattr(boot, "MAX_BATCH", 64)  # several batches after the probe
    two = boot.bootstrap(data, fit, replicates=200, seed=4, workers=2)
    assert pools == [1]
    assert one.theta.tobytes() == two.theta.tobytes()


# --------------------------------------------------------------------------- work beside


def _slow_pid(batch: int) -> tuple[int, int]:
    time.sleep(0.02)
    return batch, os.getpid()


def test_this_process_joins_the_worker_on_the_batches_left() -> None:
    def here() -> str:
        time.sleep(0.15)  # the worker is well into the batches by now
        return "measured"

    result, done = beside_batches(here, _slow_pid, list(range(40)), join=lambda r: True)
    assert result == "measured"
    assert done is not None and [b for b, _ in done] == list(range(40))  # in order
    ran_here = [b for b, pid in done if pid == os.getpid()]
    assert ran_here and ran_here == list(range(40 - len(ran_here), 40))  # from the last
    assert any(pid != os.getpid() for _, pid in done)
    assert len({pid for _, pid in done}) == 2  # one worker


def _fails_on_seven(batch: int) -> int:
    if batch == 7:
        raise InputError("batch 7 is bad")
    return batch


def test_an_error_in_the_worker_is_raised_here() -> None:
    with pytest.raises(InputError, match="batch 7 is bad"):
        beside_batches(lambda: time.sleep(0.3), _fails_on_seven, list(range(40)),
                       join=lambda r: True)


def test_a_result_not_kept_stops_the_worker(tmp_path: Path) -> None:
    def job(batch: int) -> int:
        (tmp_path / str(batch)).touch()
        time.sleep(0.02)
        return batch

    result, done = beside_batches(lambda: 7, job, list(range(500)), join=lambda r: r > 10)
    assert (result, done) == (7, None)
    started = len(list(tmp_path.iterdir()))
    time.sleep(0.1)
    assert len(list(tmp_path.iterdir())) == started < 500  # nothing ran after the stop


def test_an_error_here_ends_the_worker(tmp_path: Path) -> None:
    def job(batch: int) -> int:
        (tmp_path / str(batch)).touch()
        time.sleep(0.02)
        return batch

    def here() -> int:
        raise InputError("bad run")

    with pytest.raises(InputError, match="bad run"):
        beside_batches(here, job, list(range(500)), join=lambda r: True)
    started = len(list(tmp_path.iterdir()))
    time.sleep(0.1)
    assert len(list(tmp_path.iterdir())) == started < 500


def test_the_bootstrap_beside_other_work_is_the_bootstrap(ladder: tuple[Data, Any]) -> None:
    data, fit = ladder
    alone = boot.bootstrap(data, fit, replicates=300, seed=4, workers=1)
    seen: list[Any] = []

    def here(fitted: Callable[[], Any]) -> int:
        seen.append(fitted())  # the worker's fit, sent here
        return 1

    result, beside = boot.bootstrap_beside(here, lambda r, f: r == 1 and f is seen[0], data,
                                           lambda: fit, replicates=300, seed=4)
    assert result == 1 and beside is not None
    assert seen[0] is not fit and seen[0].theta.tobytes() == fit.theta.tobytes()
    assert beside.theta.tobytes() == alone.theta.tobytes()
    assert (beside.converged == alone.converged).all()
    assert (beside.degenerate == alone.degenerate).all()
    assert boot.bootstrap_beside(lambda fitted: 0, lambda r, f: r == 1, data, lambda: fit,
                                 replicates=300, seed=4) == (0, None)


def _prepared_twice(value: int) -> Callable[[int], int]:
    return lambda batch: batch * value


def test_the_worker_prepares_the_value_this_process_waits_for() -> None:
    """beside_prepared: the worker computes the value once, this process works on before
    asking for it, then joins in with the job made from the same value."""
    def prepare() -> int:
        time.sleep(0.1)
        return os.getpid()  # the worker's pid: proves where it was made

    def here(value: Callable[[], int]) -> tuple[float, int]:
        started = time.perf_counter()
        got = value()
        return time.perf_counter() - started, got

    (waited, prepared_in), done = beside_prepared(
        here, prepare, lambda v: (lambda b: (b, os.getpid())), list(range(30)),
        join=lambda result, value: value() == result[1])
    assert prepared_in != os.getpid() and waited > 0.05  # made there; waited for here
    assert done is not None and [b for b, _ in done] == list(range(30))
    _, done = beside_prepared(lambda value: (0.0, 0), prepare, lambda v: (lambda b: (b, v)),
                              list(range(30)), join=lambda result, value: True)
    # joined without asking before (the value is read at the join); the batches run here
    # (from the last) and there used a job made from the one value the worker prepared
    assert done is not None and [b for b, _ in done] == list(range(30))
    assert len({v for _, v in done}) == 1 and done[0][1] != os.getpid()


def _bad_prepare() -> int:
    raise InputError("cannot prepare")


def test_an_error_while_preparing_is_raised_where_the_value_is_asked_for() -> None:
    with pytest.raises(InputError, match="cannot prepare"):
        beside_prepared(lambda value: value(), _bad_prepare, _prepared_twice, list(range(5)),
                        join=lambda result, value: True)
    # never asked for, not joined: nothing raised
    assert beside_prepared(lambda value: 3, _bad_prepare, _prepared_twice, list(range(5)),
                           join=lambda result, value: False) == (3, None)


# --------------------------------------------------------------------------- one queue


def _task(i: int) -> tuple[int, int]:
    time.sleep(1.0 if i == 0 else 0.01)
    return i * i, os.getpid()


def test_every_task_runs_once_and_a_free_process_takes_the_next() -> None:
    """claim_all: the task numbers wait in a pipe; whoever is free reads the next. Task 0
    is slow, so the other process runs every other task meanwhile (a fixed share would
    have left half of them waiting behind it)."""
    done = claim_all(_task, 20, workers=2)
    assert [r for r, _ in done] == [i * i for i in range(20)]  # each once, in order
    slow = done[0][1]
    assert {pid for _, pid in done[1:]} == {next(p for _, p in done[1:])} != {slow}
    assert os.getpid() in {pid for _, pid in done}  # this process took its share
    assert [r for r, _ in claim_all(_task, 3, workers=1)] == [0, 1, 4]  # here, in order


def _fails_on_three(i: int) -> int:
    if i == 3:
        raise InputError("task 3 is bad")
    time.sleep(0.01)
    return i


def test_an_error_in_a_claimed_task_is_raised_here_wherever_it_ran() -> None:
    with pytest.raises(InputError, match="task 3 is bad"):
        claim_all(_fails_on_three, 12, workers=3)
