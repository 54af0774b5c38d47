"""Work shared with forked worker processes, and BLAS's own threads.

:func:`map_batches` runs a job on a list of batches, here and in ``workers - 1`` forked
processes that inherit the job from this process's memory (it is never pickled: only the
batches and the results cross). Results come back in the batches' order, so a caller that
fixes its batches by the problem's size alone gets the same results for any worker count.
The bootstrap's replicates and the held-out folds' replicates use it.

:func:`map_together` runs several :class:`Work` (a job, its batches, what their results
make) from ONE queue (:func:`claim_all`: the batch numbers wait in a pipe and a process
that comes free reads the next): a hard ladder's calibration and bootstrap no longer wait
on each other's slowest batch (as typed, paired: a hard 16-run ladder 1.91 -> 1.80 s).

:func:`beside_batches` runs other work here while one bare forked worker starts on the
batches, then joins it on the batches left (from the last), for the same results (a process
pool, a lock and a shared array cost ~25 ms to start; as typed on Epoch's 240 runs the bare
fork was 0.98x of the pool, 16 alternating pairs). :func:`beside_prepared` is the same
where the worker first computes what the job needs (a fit) and sends it here: this process
starts on work that does not need it, and waits for it only when it must.

BLAS runs one thread per process inside workers and wherever :func:`limit_blas_threads`
says: every product here is small or already split across processes, and OpenBLAS's
spinning threads on a busy 2-core machine made a (32 x 240) @ (240 x 300) product 4-12x
slower.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

__all__ = ["Work", "beside_batches", "beside_prepared", "blas_threads", "claim_all",
           "limit_blas_threads", "map_batches", "map_together"]

R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")

_INHERITED: list[Callable[[Any], Any]] = []  # a worker's job, set once by _worker_start


def map_batches(job: Callable[[Any], Any], batches: list[Any], workers: int) -> Iterator[Any]:
    """``job(batch)`` for every batch, in order: here, or shared between this process and
    ``workers - 1`` forked worker processes that inherit ``job`` (it is never pickled: only
    the batches and results cross). This process takes every ``workers``-th batch itself
    instead of waiting: two processes on two cores, not three."""
    processes = min(workers, len(batches))
    if processes <= 1:
        yield from (job(b) for b in batches)
        return
    from multiprocessing import get_context

    # Workers ignore SIGINT: a terminal's Ctrl-C reaches the whole process group and only
    # the parent should answer it (one message, exit 130). Leaving the `with` for any reason
    # terminates the workers at once (ProcessPoolExecutor's shutdown can hang after a
    # KeyboardInterrupt). Results are yielded in the batches' order, so they do not depend
    # on workers. No more processes than batches: `--workers 10000` must not fork 10,000
    # processes. The fork start method hands `initargs` to each worker through the forked
    # memory (a spawned worker would need the job pickled: 161 MB at 1e5 runs).
    with get_context("fork").Pool(processes - 1, initializer=_worker_start,
                                  initargs=(job,)) as pool:
        theirs = {i: pool.apply_async(_run_inherited, (b,))
                  for i, b in enumerate(batches) if i % processes}
        ours: dict[int, Any] = {}
        ready = 0  # the next batch to yield
        for i, batch in enumerate(batches):
            if i in theirs:
                continue
            ours[i] = job(batch)
            while ready in ours or (ready in theirs and theirs[ready].ready()):
                yield ours.pop(ready) if ready in ours else theirs[ready].get()
                ready += 1
        for i in range(ready, len(batches)):
            yield ours.pop(i) if i in ours else theirs[i].get()


@dataclass(frozen=True)
class Work(Generic[R]):
    """Batches of one job, and what their results (in the batches' order) make."""

    job: Callable[[Any], Any]
    batches: Sequence[Any]
    finish: Callable[[list[Any]], R]

    @classmethod
    def done(cls, value: R) -> Work[R]:
        """Nothing to run: finishes with ``value``."""
        return cls(_nothing, (), lambda results: value)

    def run(self, workers: int = 1) -> R:
        """The finished results, the batches shared with ``workers - 1`` processes."""
        return self.finish(list(map_batches(self.job, list(self.batches), workers)))


def map_together(works: Sequence[Work[Any]], workers: int) -> list[Any]:
    """Each work's finished results, all their batches in ONE queue (the works' batches in
    order) that this process and ``workers - 1`` bare forked ones take from as each comes
    free: no process waits on a fixed share while another still has work queued (a
    calibration's two batches of unequal cost, then a bootstrap's). The results are the
    same whoever ran a batch."""
    tasks = [(w, b) for w, work in enumerate(works) for b in range(len(work.batches))]

    def run(i: int) -> Any:
        w, b = tasks[i]
        return works[w].job(works[w].batches[b])

    results = claim_all(run, len(tasks), workers)
    out: list[Any] = []
    start = 0
    for work in works:
        out.append(work.finish(results[start:start + len(work.batches)]))
        start += len(work.batches)
    return out


def claim_all(run: Callable[[int], Any], count: int, workers: int) -> list[Any]:
    """``[run(i) for i in range(count)]``, shared by this process and up to ``workers - 1``
    bare forked workers (which inherit ``run``: only results are pickled). The task numbers
    wait in a pipe, 4 bytes each, written before the forks: a process claims the next by
    reading 4 bytes (the kernel hands each read's bytes to one reader), so every task runs
    exactly once, in order of claiming, and a process that finishes early takes the next."""
    import os
    import signal

    processes = min(workers, count)
    if processes <= 1:
        return [run(i) for i in range(count)]
    if count * _TOKEN > _QUEUE_BYTES:  # (never for our batch counts) a fixed share each
        return list(map_batches(run, list(range(count)), workers))
    queue, fill = os.pipe()
    os.write(fill, b"".join(i.to_bytes(_TOKEN, "little") for i in range(count)))
    os.close(fill)
    children: list[tuple[int, Any]] = []
    try:
        for _ in range(processes - 1):
            read_end, write_end = os.pipe()
            _widen_pipe(write_end)
            pid = os.fork()
            if pid == 0:  # a worker: never returns
                os.close(read_end)
                _worker_run(write_end, lambda send: _claimed(queue, run))
            os.close(write_end)
            children.append((pid, os.fdopen(read_end, "rb")))
        with limit_blas_threads(1):
            results = _claimed(queue, run)
        for _, answer in children:
            results.update(_receive(answer))
        return [results[i] for i in range(count)]
    finally:
        os.close(queue)
        for pid, answer in children:
            answer.close()
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)  # (gone after its answer: nothing happens)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


def _nothing(batch: Any) -> None:
    return None


_TOKEN = 4  # bytes per task number in claim_all's queue
_QUEUE_BYTES = 65536  # a pipe's default capacity: the queue is written before anyone reads


def _claimed(queue: int, run: Callable[[int], Any]) -> dict[int, Any]:
    """Run tasks claimed from ``queue`` until it is empty: {task: result}."""
    import os

    done: dict[int, Any] = {}
    while True:
        token = os.read(queue, _TOKEN)
        if not token:
            return done
        i = int.from_bytes(token, "little")
        done[i] = run(i)


def beside_batches(here: Callable[[], T], job: Callable[[Any], Any], batches: Sequence[Any],
                   *, join: Callable[[T], bool]) -> tuple[T, list[Any] | None]:
    """``here()`` in this process while one forked worker runs ``job`` on ``batches`` from
    the first; then, if ``join(here's result)``, this process takes batches from the last
    until the two meet, and returns ``job``'s results in the batches' order; else the
    worker is stopped and None is returned (:func:`beside_prepared`, with nothing to
    prepare)."""
    return beside_prepared(lambda _value: here(), lambda: None, lambda _value: job, batches,
                           join=lambda result, _value: join(result))


def beside_prepared(here: Callable[[Callable[[], S]], T], prepare: Callable[[], S],
                    job_of: Callable[[S], Callable[[Any], Any]], batches: Sequence[Any], *,
                    join: Callable[[T, Callable[[], S]], bool]) -> tuple[T, list[Any] | None]:
    """``here(value)`` in this process while one forked worker computes ``prepare()``,
    sends it here and runs ``job_of(it)`` on ``batches`` from the first. ``value()``
    returns what ``prepare`` computed (waiting for the worker if it must): ``here`` starts
    on work that does not need it, so the worker's ``prepare`` costs no wall time twice.
    Then, if ``join(here's result, value)``, this process runs ``job_of(value())`` on the
    batches from the last until the two meet, and returns the job's results in the
    batches' order; else the worker is stopped and None is returned. Both run with one
    BLAS thread; which process ran a batch never changes its result. An exception in
    ``here`` ends the worker; one in the worker (in ``prepare`` or a batch) is raised
    here, at ``value()`` or at the join.

    The two claim batches through two counters in shared memory, each written by one
    process only (the worker the next from the front, this process the next from the
    back): no lock, and at worst, when both look at once, both run the last batch (the
    same result), never neither. The worker is a bare fork answering through a pipe (a
    process pool, a lock and a shared array cost ~25 ms to start), first with the
    prepared value, last with its batches' results."""
    import mmap
    import os
    import signal

    shared = mmap.mmap(-1, 16)  # anonymous and shared with the fork: [front, back]
    bounds = memoryview(shared).cast("q")
    bounds[0], bounds[1] = 0, len(batches)
    read_end, write_end = os.pipe()
    _widen_pipe(write_end)
    pid = os.fork()
    if pid == 0:  # the worker: never returns
        os.close(read_end)

        def work(send: Callable[[Any], None]) -> dict[int, Any]:
            prepared = prepare()
            send(prepared)  # this process may be waiting for it
            return _from_front(bounds, job_of(prepared), batches)

        _worker_run(write_end, work)
    os.close(write_end)
    answer = os.fdopen(read_end, "rb")
    try:
        received: list[S] = []

        def value() -> S:
            if not received:
                received.append(_receive(answer))
            return received[0]

        result = here(value)
        if not join(result, value):
            return result, None  # (the worker is stopped on the way out)
        job = job_of(value())
        ours: dict[int, Any] = {}
        with limit_blas_threads(1):
            while True:
                j = bounds[1] - 1
                if j < bounds[0]:
                    break
                bounds[1] = j
                ours[j] = job(batches[j])
        theirs: dict[int, Any] = _receive(answer)
        return result, [ours[i] if i in ours else theirs[i] for i in range(len(batches))]
    finally:
        answer.close()
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)  # (already gone after its answer: nothing happens)
        with contextlib.suppress(OSError):
            os.waitpid(pid, 0)
        bounds.release()
        shared.close()


def _receive(answer: Any) -> Any:
    """The worker's next message: its value, or its exception raised here."""
    import pickle

    kind, value = pickle.load(answer)
    if kind == "error":
        raise value
    return value


def _widen_pipe(fd: int) -> None:
    """Let a pipe hold 1 MiB (Linux; elsewhere, or where refused, it stays as it is): the
    worker's first message (a fit, ~55 KB for 240 runs) must not wait for this process to
    read it before the worker goes on."""
    with contextlib.suppress(ImportError, AttributeError, OSError):
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)


def _from_front(bounds: memoryview, job: Callable[[Any], Any],
                batches: Sequence[Any]) -> dict[int, Any]:
    """The worker's side of :func:`beside_batches`: batches from the front until the next
    one is this process's (claimed from the back)."""
    done: dict[int, Any] = {}
    while True:
        i = bounds[0]
        if i >= bounds[1]:
            return done
        bounds[0] = i + 1
        done[i] = job(batches[i])


def _worker_run(answer_fd: int,
                work: Callable[[Callable[[Any], None]], Any]) -> NoReturn:
    """In a bare forked worker: set it up as a pool worker is (:func:`_as_worker`), run
    ``work(send)``, where ``send(value)`` sends ("value", value) at once, then send
    ("ok", its result) or ("error", exception), pickled, and exit without the parent's exit
    handlers or buffered output."""
    import os
    import pickle

    code = 0
    try:
        _as_worker()
        with os.fdopen(answer_fd, "wb") as out:

            def send(kind: str, value: Any) -> None:
                try:
                    data = pickle.dumps((kind, value))
                except Exception:  # an exception that does not pickle: its text
                    data = pickle.dumps(("error", RuntimeError(repr(value))))
                out.write(data)
                out.flush()

            try:
                done = work(lambda value: send("value", value))
            except BaseException as exc:  # every failure is the parent's to raise
                send("error", exc)
                code = 1
            else:
                send("ok", done)
    finally:
        os._exit(code)


def _run_inherited(batch: Any) -> Any:
    return _INHERITED[0](batch)


def _worker_start(job: Callable[[Any], Any]) -> None:
    """A pool worker keeps the job it inherited and is set up as every worker is
    (:func:`_as_worker`)."""
    _INHERITED[:] = [job]
    _as_worker()


def _as_worker() -> None:
    """A worker runs BLAS on one thread, ignores Ctrl-C (the parent answers it) and dies
    quietly on SIGTERM/SIGHUP (the parent sends SIGTERM when it stops: a handler inherited
    from the parent would turn that into an exception and keep the worker alive)."""
    import signal

    controls = _blas_controls()
    _set_blas_threads(controls, [1] * len(controls))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)


# --------------------------------------------------------------------------- BLAS threads
#
# numpy and scipy wheels each carry their own OpenBLAS, loaded when numpy is imported, so
# OPENBLAS_NUM_THREADS set later (or in a forked worker) changes nothing: the thread count
# is set through the libraries' own functions instead, found among the shared libraries
# this process has loaded (Linux: /proc/self/maps; elsewhere nothing is changed).

_SETTERS = ("openblas_set_num_threads", "openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "MKL_Set_Num_Threads")
_GETTERS = ("openblas_get_num_threads", "openblas_get_num_threads64_",
            "scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "MKL_Get_Max_Threads")
_Control = tuple[Any, Any]  # (setter, getter) of one BLAS library


def _blas_controls() -> list[_Control]:
    """Thread-count setter and getter of each OpenBLAS/MKL library loaded in this process."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {parts[5].strip() for parts in (line.split(maxsplit=5) for line in maps)
                     if len(parts) == 6 and _is_blas(parts[5])}
    except OSError:
        return []
    import ctypes

    controls: list[_Control] = []
    seen: set[int | None] = set()
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)  # already loaded: this only looks its symbols up
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
        if setter is None or getter is None:
            continue
        address = ctypes.cast(setter, ctypes.c_void_p).value
        if address not in seen:  # the same library reached under two names
            seen.add(address)
            getter.restype = ctypes.c_int
            controls.append((setter, getter))
    return controls


def _is_blas(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return ".so" in name and ("openblas" in name or "mkl_rt" in name)


def _set_blas_threads(controls: Sequence[_Control], threads: Sequence[int]) -> None:
    for (setter, _), count in zip(controls, threads, strict=True):
        setter(int(count))


def blas_threads() -> tuple[int, ...]:
    """The thread count of each OpenBLAS/MKL library in this process (empty when none can
    be found: not Linux, or another BLAS)."""
    return tuple(int(getter()) for _, getter in _blas_controls())


@contextlib.contextmanager
def limit_blas_threads(threads: int) -> Iterator[None]:
    """Run BLAS on ``threads`` threads inside the block, then restore what was there."""
    controls = _blas_controls()
    before = [int(getter()) for _, getter in controls]
    _set_blas_threads(controls, [threads] * len(controls))
    try:
        yield
    finally:
        _set_blas_threads(controls, before)
