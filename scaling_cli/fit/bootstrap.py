"""Nonparametric bootstrap of the fit, by run or by group, with a real search per replicate.

A replicate draws n_units units (runs, or groups of rows that come from one training run)
with replacement; unit counts become run weights w_r, and the replicate's law is the
global minimiser of sum_i w_ri huber(r_i). Each replicate is searched, not just nudged:

1. *Screen.* The objective of replicate r at every screened candidate c (the full-data
   grid cells and basins) is one matrix product, F = W @ huber(R_c)^T.
2. *Polish.* Newton starts from the full-data optimum and the replicate's own best
   screened candidates (``starts``); the lowest converged end point wins.
3. *Escalate.* Where those starts disagree (the replicate's landscape has more than one
   basin in play) the next ``escalate`` screened candidates are polished too; a replicate
   where still no start converged gets the complete global fit of its own.

``reference=True`` instead runs the complete global fit (:func:`scaling_cli.fit.search.fit_law`)
on every replicate: slow, and the yardstick the fast path is tested against.

Failed replicates (no converged start) are counted, kept as NaN rows, and left out of
intervals; degenerate ones (a parameter at its bound, a vanished term) are counted and kept.
Replicates are processed in fixed chunks, so results do not depend on the worker count.

*Processes.* ``workers`` is an upper bound: :func:`worker_count` starts only as many
processes as the work pays for (a small bootstrap runs in this process; where the work's
size says so but its first chunk, timed, shows hard replicates, the rest go to workers).
Workers are forked: each inherits the job (data, fit, screen matrix) from the parent's
memory, so only chunk numbers go to them and only each chunk's optima come back. BLAS runs
one thread per process for the whole bootstrap, set here whatever the environment says (in
the workers, and in this process while it refits, restored afterwards): every product here
is small or already split across processes, and OpenBLAS's spinning threads on a busy
2-core machine made a (32 x 240) @ (240 x 300) product 4-12x slower.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.newton import polish
from scaling_cli.fit.objective import RUN_BLOCK, Data, huber, residuals
from scaling_cli.fit.profile import profile_polish
from scaling_cli.fit.search import FitResult, SearchSettings, degenerate_mask, fit_law

__all__ = [
    "BootstrapResult",
    "Resampler",
    "blas_threads",
    "bootstrap",
    "limit_blas_threads",
    "resample_weights",
    "worker_count",
]

Array = npt.NDArray[np.float64]
Progress = Callable[[int, int], None]

CHUNK = 32  # replicates per batch; fixed so results never depend on the worker count
POLISH_MAX_ITER = 60  # a replicate start still crawling after this gets the full search
# A replicate's optimum is accepted when a Newton step would still lower its objective by at
# most this fraction: 1e-7 of an objective near 1e-3 moves no forecast by a printed digit,
# while the point fit's 1e-12 would send flat (nearly degenerate) replicates crawling.
REPLICATE_RTOL = 1e-7
LARGE_DATA_RUNS = 5000  # above this, replicates start from the full-data optimum alone
MIN_CHUNKS_FOR_WORKERS = 4  # fewer chunks than this are not worth starting processes for
# A worker process must get at least MIN_WORK_PER_PROCESS of work to pay for itself
# (forking, its start-up, the results' way back, and a second core that, on a shared
# machine, is often not free). Work is replicates x (runs + REPLICATE_COST_RUNS): a
# replicate costs about as much on its own (draws, starts, Newton steps on 5 x 5 systems)
# as its residuals on ~1,000 runs. Measured on 2 shared cores (benchmarks/process.py), one
# unit costs 0.2-0.5 us, and two processes were 1.65x, 1.25x and 1.10x SLOWER than one for
# 200 replicates of 1e3, 1e4 and 1e5 runs: a process needs about a second of work.
REPLICATE_COST_RUNS = 1000
MIN_WORK_PER_PROCESS = 2_500_000
# Where that count says one process, the first chunk is timed: a replicate of a hard ladder
# (the profile search on every replicate) costs 10-100x the model above, and workers start
# when the rest of the chunks would give each at least this much work.
MIN_SECONDS_PER_PROCESS = 1.0
MAX_SCREEN_CANDIDATES = 256


@dataclass(frozen=True)
class BootstrapResult:
    """Replicate optima (NaN rows for failed replicates) and how they were obtained."""

    theta: Array  # (R, 5) log E, log A, log B, alpha, beta
    converged: npt.NDArray[np.bool_]
    degenerate: npt.NDArray[np.bool_]
    seed: int
    resample_by: str  # "run" or "group"
    n_units: int
    reference: bool

    @property
    def replicates(self) -> int:
        return int(self.theta.shape[0])

    @property
    def failed(self) -> int:
        return int((~self.converged).sum())

    @property
    def n_degenerate(self) -> int:
        return int((self.degenerate & self.converged).sum())

    @property
    def good(self) -> Array:
        return self.theta[self.converged]


@dataclass(frozen=True)
class Resampler:
    """Bootstrap draws, chunk by chunk: chunk j of ``CHUNK`` replicates comes from its own
    generator, ``default_rng(SeedSequence(seed).spawn(...)[j])``, so any worker can draw any
    chunk (nothing large crosses process boundaries, memory holds one chunk, not replicates x
    runs) and the draws never depend on the worker count."""

    seed: int
    unit_of_run: npt.NDArray[np.intp]  # which resampling unit (run or group) each run is in
    n_units: int

    @classmethod
    def make(cls, n_runs: int, groups: npt.ArrayLike | None, seed: int) -> Resampler:
        if groups is None:
            return cls(seed, np.arange(n_runs), n_runs)
        _, inverse = np.unique(np.asarray(groups), return_inverse=True)
        return cls(seed, inverse.astype(np.intp), int(inverse.max()) + 1)

    def chunk(self, index: int, size: int) -> Array:
        """Weights (size, n_runs) of chunk ``index``: how often each run's unit was drawn."""
        sequence = np.random.SeedSequence(self.seed, spawn_key=(index,))
        draws = np.random.default_rng(sequence).integers(0, self.n_units,
                                                         size=(size, self.n_units))
        flat = draws + (np.arange(size) * self.n_units)[:, None]
        counts = np.bincount(flat.ravel(), minlength=size * self.n_units)
        return counts.reshape(size, self.n_units)[:, self.unit_of_run].astype(float)


def _chunks(replicates: int) -> list[tuple[int, int]]:
    return [(i, min(i + CHUNK, replicates)) for i in range(0, replicates, CHUNK)]


def resample_weights(
    n_runs: int, groups: npt.ArrayLike | None, replicates: int, seed: int
) -> Array:
    """Bootstrap weights (R, n_runs): how often each run's unit was drawn in each replicate.

    The same draws :func:`bootstrap` makes for the same seed (chunk by chunk).
    """
    sampler = Resampler.make(n_runs, groups, seed)
    return np.vstack([sampler.chunk(j, b - a) for j, (a, b) in enumerate(_chunks(replicates))])


def bootstrap(
    data: Data,
    fit: FitResult,
    *,
    replicates: int = 1000,
    seed: int = 0,
    groups: Sequence[str] | None = None,
    workers: int = 1,
    reference: bool = False,
    starts: int = 3,
    escalate: int = 6,
    progress: Progress | None = None,
    settings: SearchSettings | None = None,
) -> BootstrapResult:
    """Refit ``replicates`` resamples of ``data`` (seeded); see the module doc."""
    settings = replace(settings or SearchSettings(delta=fit.delta),
                       converged_rtol=REPLICATE_RTOL)
    cands = np.vstack([fit.basins, fit.candidates[:_screen_count(len(data))]])
    screen = None if reference else _screen_matrix(cands, data, settings.delta)
    job = _Job(data, fit, settings, reference, starts, escalate, cands, screen,
               Resampler.make(len(data), groups, seed))
    chunks = _chunks(replicates)
    theta = np.full((replicates, 5), np.nan)
    converged = np.zeros(replicates, dtype=bool)
    done = 0
    processes = worker_count(workers, runs=len(data), replicates=replicates,
                             reference=reference)
    batches = [(j, b - a) for j, (a, b) in enumerate(chunks)]
    with limit_blas_threads(1):
        if processes == 1 and workers > 1:
            results = _map_measured(job, batches, workers)
        else:
            results = _map(job, batches, processes)
        for (a, b), (t, ok) in zip(chunks, results, strict=True):  # results arrive in order
            theta[a:b], converged[a:b] = t, ok
            done += b - a
            if progress is not None:
                progress(done, replicates)
    theta[~converged] = np.nan
    degenerate = np.asarray(degenerate_mask(theta, data, fit.constraints).any(axis=1))
    n_units = len(set(groups)) if groups is not None else len(data)
    return BootstrapResult(theta, converged, degenerate, seed,
                           "group" if groups is not None else "run", n_units, reference)


def _screen_matrix(cands: Array, data: Data, delta: float) -> Array:
    """huber(r_ic) for every run i and candidate c: (n, C), built a block of runs at a time
    so the temporaries stay small however many runs there are."""
    out = np.empty((len(data), len(cands)))
    for start in range(0, len(data), RUN_BLOCK):
        block = slice(start, start + RUN_BLOCK)
        part = Data(data.log_n[block], data.log_d[block], data.log_l[block])
        out[block] = huber(residuals(cands, part), delta).T
    return out


def _screen_count(n_runs: int) -> int:
    """Grid candidates screened per replicate: all 256 for small data, fewer for huge data
    (the runs x candidates matrix is kept near 20 M numbers)."""
    return int(min(MAX_SCREEN_CANDIDATES, max(32, 20_000_000 // max(n_runs, 1))))


def worker_count(workers: int, *, runs: int, replicates: int, reference: bool = False) -> int:
    """Processes for a bootstrap of ``replicates`` replicates of ``runs`` runs: at most
    ``workers``, at most one per chunk, one (this process) for fewer than
    ``MIN_CHUNKS_FOR_WORKERS`` chunks, and only as many as the work pays for: each gets at
    least ``MIN_WORK_PER_PROCESS`` of replicates x (runs + ``REPLICATE_COST_RUNS``). A
    reference bootstrap (a complete global fit per replicate) always pays."""
    chunks = len(_chunks(replicates))
    if workers <= 1 or chunks < MIN_CHUNKS_FOR_WORKERS:
        return 1
    work = replicates * (runs + REPLICATE_COST_RUNS)
    affordable = chunks if reference else work // MIN_WORK_PER_PROCESS
    return int(max(1, min(workers, chunks, affordable)))


def _map(job: Callable[[Any], Any], batches: list[Any], workers: int) -> Iterator[Any]:
    """``job(batch)`` for every batch, in order: here, or in up to ``workers`` forked worker
    processes that inherit ``job`` (it is never pickled: only the batches and results
    cross)."""
    if workers <= 1 or len(batches) < MIN_CHUNKS_FOR_WORKERS:
        yield from (job(w) for w in batches)
        return
    from multiprocessing import get_context

    # Workers ignore SIGINT: a terminal's Ctrl-C reaches the whole process group and only
    # the parent should answer it (one message, exit 130). Leaving the `with` for any reason
    # terminates the workers at once (ProcessPoolExecutor's shutdown can hang after a
    # KeyboardInterrupt). imap keeps the chunks' order, so results do not depend on workers.
    # No more processes than chunks: `--workers 10000` must not fork 10,000 processes.
    # The fork start method hands `initargs` to each worker through the forked memory (a
    # spawned worker would need the job pickled: 161 MB at 1e5 runs).
    with get_context("fork").Pool(min(workers, len(batches)), initializer=_worker_start,
                                  initargs=(job,)) as pool:
        yield from pool.imap(_run_inherited, batches)


def _map_measured(job: Callable[[Any], Any], batches: list[Any],
                  workers: int) -> Iterator[Any]:
    """Like :func:`_map` where the work's size did not pay for processes: the first batch
    runs here and is timed, and only if the rest would keep each of ``workers`` processes
    busy for ``MIN_SECONDS_PER_PROCESS`` (a hard ladder: every replicate needs the profile
    search) do the remaining batches go to workers. Results are the same either way."""
    if not batches:
        return
    started = time.perf_counter()
    yield job(batches[0])
    rest = batches[1:]
    estimate = (time.perf_counter() - started) * len(rest)
    affordable = int(estimate // MIN_SECONDS_PER_PROCESS)
    yield from _map(job, rest, max(1, min(workers, affordable)))


_INHERITED: list[Callable[[Any], Any]] = []  # a worker's job, set once by _worker_start


def _run_inherited(batch: Any) -> Any:
    return _INHERITED[0](batch)


def _worker_start(job: Callable[[Any], Any]) -> None:
    """A worker keeps the job it inherited, runs BLAS on one thread, ignores Ctrl-C (the
    parent answers it) and dies quietly on SIGTERM/SIGHUP (the parent's pool sends SIGTERM
    when it stops: a handler inherited from the parent would turn that into an exception
    and keep the worker alive)."""
    import signal

    _INHERITED[:] = [job]
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


@dataclass(frozen=True)
class _Job:
    """Refit one chunk of replicates (picklable, so it can run in a worker process)."""

    data: Data
    fit: FitResult
    settings: SearchSettings
    reference: bool
    starts: int
    escalate: int
    candidates: Array  # screened start points (C, 5)
    screen: Array | None  # huber of their residuals, (n, C): one matrix product per chunk
    sampler: Resampler

    def __call__(self, chunk: tuple[int, int]) -> tuple[Array, npt.NDArray[np.bool_]]:
        weights = self.sampler.chunk(*chunk)
        if self.reference or self.screen is None:
            fits = [fit_law(self.data, weights=w, settings=self.settings,
                            constraints=self.fit.constraints) for w in weights]
            return (np.array([f.theta for f in fits]),
                    np.array([f.starts_converged > 0 for f in fits]))
        return _fast_chunk(self.data, self.fit, weights, self.settings, self.starts,
                           self.escalate, self.candidates, self.screen)


def _fast_chunk(
    data: Data, fit: FitResult, weights: Array, settings: SearchSettings, starts: int,
    escalate: int, cands: Array, screen_matrix: Array,
) -> tuple[Array, npt.NDArray[np.bool_]]:
    """Search each replicate of the chunk (module doc). With more than ``LARGE_DATA_RUNS``
    runs a replicate's landscape is the full data's, slightly perturbed: Newton starts from
    the full-data optimum alone, and a replicate escalates when its own screen shows a
    candidate already *below* that converged optimum (another basin is better)."""
    reps = weights.shape[0]
    screen = weights @ screen_matrix  # (reps, C): each replicate's objective at each candidate
    ranked = np.argsort(screen, axis=1, kind="stable")
    k = 0 if len(data) > LARGE_DATA_RUNS else starts - 1
    first = np.concatenate([np.broadcast_to(fit.theta, (reps, 1, 5)), cands[ranked[:, :k]]], 1)
    best_t, best_f, ok, spread, ends = _polish_best(first.reshape(-1, 5), data, weights,
                                                    k + 1, settings, fit.constraints)
    if k == 0:
        spread = screen[np.arange(reps), ranked[:, 0]] < np.where(ok, best_f, np.inf)
    split = np.flatnonzero(spread & ok)
    if split.size and escalate:  # another basin is in play: polish more candidates
        more = cands[ranked[split, k:k + escalate]].reshape(-1, 5)
        t2, f2, ok2, _, _ = _polish_best(more, data, weights[split], escalate, settings,
                                         fit.constraints)
        better = ok2 & (f2 < best_f[split])
        best_t[split[better]], best_f[split[better]] = t2[better], f2[better]
    stuck = np.flatnonzero(~ok)
    if stuck.size:  # crawling along a flat valley: search the exponents' profile instead
        starts_ = np.stack([ends[stuck], cands[ranked[stuck, 0]]], 1).reshape(-1, 5)
        t3, f3, ok3 = _profile_best(starts_, data, weights[stuck], 2, settings,
                                    fit.constraints)
        if escalate and not ok3.all():
            again = np.flatnonzero(~ok3)
            more = cands[ranked[stuck[again], 1:1 + escalate]].reshape(-1, 5)
            t4, f4, ok4 = _profile_best(more, data, weights[stuck[again]], escalate,
                                        settings, fit.constraints)
            t3[again], f3[again], ok3[again] = t4, f4, ok4
        best_t[stuck[ok3]], best_f[stuck[ok3]], ok[stuck[ok3]] = t3[ok3], f3[ok3], True
    for i in np.flatnonzero(~ok):  # still nothing converged: the full global search
        full = fit_law(data, weights=weights[i], settings=settings,
                       constraints=fit.constraints)
        if full.starts_converged:
            best_t[i], ok[i] = full.theta, True
    return best_t, ok


def _profile_best(
    theta0: Array, data: Data, weights: Array, per_rep: int, settings: SearchSettings,
    constraints: Constraints,
) -> tuple[Array, Array, npt.NDArray[np.bool_]]:
    """Variable-projection polish of ``per_rep`` starts per replicate; the best converged."""
    reps = weights.shape[0]
    res = profile_polish(theta0, data, np.repeat(weights, per_rep, axis=0),
                         delta=settings.delta, constraints=constraints,
                         converged_rtol=settings.converged_rtol)
    f = np.where(res.converged, res.objective, np.inf).reshape(reps, per_rep)
    pick = np.argmin(f, axis=1)
    rows = np.arange(reps)
    return (res.theta.reshape(reps, per_rep, 5)[rows, pick], f[rows, pick],
            np.isfinite(f[rows, pick]))


def _polish_best(
    theta0: Array, data: Data, weights: Array, per_rep: int, settings: SearchSettings,
    constraints: Constraints,
) -> tuple[Array, Array, npt.NDArray[np.bool_], npt.NDArray[np.bool_], Array]:
    """Polish ``per_rep`` starts per replicate: the best converged end point, its objective,
    whether one converged, whether converged starts split, and the lowest end point of all
    (converged or not: where a crawling replicate got to)."""
    reps = weights.shape[0]
    res = polish(theta0, data, np.repeat(weights, per_rep, axis=0), delta=settings.delta,
                 converged_rtol=settings.converged_rtol,
                 constraints=constraints, max_iter=POLISH_MAX_ITER)
    f = np.where(res.converged, res.objective, np.inf).reshape(reps, per_rep)
    theta = res.theta.reshape(reps, per_rep, 5)
    pick = np.argmin(f, axis=1)
    rows = np.arange(reps)
    best_f = f[rows, pick]
    best_t = theta[rows, pick]
    ok = np.isfinite(best_f)
    far = np.abs(theta - best_t[:, None, :]).max(axis=2) > settings.agree_atol_theta
    spread = (far & np.isfinite(f)).any(axis=1)  # a converged start found another optimum
    lowest = theta[rows, np.argmin(res.objective.reshape(reps, per_rep), axis=1)]
    return best_t, best_f, ok, spread, lowest


