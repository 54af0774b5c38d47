"""Nonparametric bootstrap of the fit, by run or by group, with a real search per replicate.

A replicate draws n_units units (runs, or groups of rows that come from one training run)
with replacement; unit counts become run weights w_r, and the replicate's law is the
global minimiser of sum_i w_ri huber(r_i). Each replicate is searched, not just nudged
(:class:`scaling_cli.fit.refit.Refit`: screen, polish from several starts, escalate, and a
complete global fit of its own where nothing converged).

``reference=True`` instead runs the complete global fit (:func:`scaling_cli.fit.search.fit_law`)
on every replicate: slow, and the yardstick the fast path is tested against.

Failed replicates (no converged start) are counted, kept as NaN rows, and left out of
intervals; degenerate ones (a parameter at its bound, a vanished term) are counted and kept.
Draws come in fixed chunks of ``CHUNK`` replicates; chunks are refitted in batches sized
to the ladder (many replicates of a small ladder at once: a 16-run replicate is mostly
Python overhead), fixed by the replicate count and the number of runs alone, so results
never depend on the worker count or on timings.

*Processes.* ``workers`` is an upper bound: :func:`worker_count` starts only as many
processes as the work pays for (a small bootstrap runs in this process; where the work's
size says so but its first chunk, timed, shows hard replicates, the rest go to workers;
where the form evidence was already slow, :func:`bootstrap_work`'s batches share one queue
with the calibration's instead: :func:`scaling_cli.fit.processes.map_together`).
Workers are forked (:mod:`scaling_cli.fit.processes`): each inherits the job (data, fit,
screen matrix) from the parent's memory, so only chunk numbers go to them and only each
chunk's optima come back. BLAS runs one thread per process for the whole bootstrap, set
here whatever the environment says (in the workers, and in this process while it refits,
restored afterwards).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.objective import Data
from scaling_cli.fit.processes import (
    Work,
    beside_prepared,
    blas_threads,
    limit_blas_threads,
    map_batches,
)
from scaling_cli.fit.refit import LARGE_DATA_RUNS, REPLICATE_RTOL, REPLICATE_STARTS, Refit
from scaling_cli.fit.search import FitResult, SearchSettings, degenerate_mask, fit_law

__all__ = [
    "LARGE_DATA_RUNS",
    "REPLICATE_RTOL",
    "Batch",
    "BootstrapResult",
    "Resampler",
    "batch_size",
    "batches",
    "blas_threads",
    "bootstrap",
    "bootstrap_beside",
    "bootstrap_work",
    "limit_blas_threads",
    "map_batches",
    "map_measured",
    "resample_weights",
    "worker_count",
]

Array = npt.NDArray[np.float64]
Progress = Callable[[int, int], None]
T = TypeVar("T")

CHUNK = 32  # replicates per draw; fixed so the draws never depend on batches or workers
# A batch of replicates refitted at once holds about this many (replicate, run) cells, at
# most MAX_BATCH replicates: 128 replicates of Epoch's 240 runs, 512 of a 16-run ladder
# (measured: 1,000 replicates of a hard 16-run ladder took 8.0 s in batches of 32, 3.0 s
# in batches of 512; Epoch's 0.44 s in 32s, 0.31 s in 128s, 0.58 s in 256s).
BATCH_CELLS = 32_768
MAX_BATCH = 512
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
# when the rest of the chunks would give each at least this much work. Half a second pays
# for a fork (paired runs as typed, default against 1 s: Porian et al.'s 16-run ladders'
# `predict` 0.94x, 3,000 runs with 1,000 replicates 0.87x; Epoch's 240 runs, whose rest is
# ~0.44 s, stay on one process).
MIN_SECONDS_PER_PROCESS = 0.5


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
    starts: int = REPLICATE_STARTS,
    escalate: int = 6,
    progress: Progress | None = None,
    settings: SearchSettings | None = None,
) -> BootstrapResult:
    """Refit ``replicates`` resamples of ``data`` (seeded); see the module doc."""
    job, plan = _job(data, fit, replicates=replicates, seed=seed, groups=groups,
                     reference=reference, starts=starts, escalate=escalate, settings=settings)
    processes = worker_count(workers, runs=len(data), replicates=replicates,
                             reference=reference)
    with limit_blas_threads(1):
        if processes == 1 and workers > 1:
            results = map_measured(job, plan, workers)
        else:
            results = map_batches(job, plan, processes)
        return _result(job, results, replicates, groups, reference, progress)


def bootstrap_work(data: Data, fit: FitResult, *, replicates: int = 1000, seed: int = 0,
                   groups: Sequence[str] | None = None,
                   settings: SearchSettings | None = None) -> Work[BootstrapResult]:
    """:func:`bootstrap`'s batches as a :class:`~scaling_cli.fit.processes.Work`, to share
    one queue of processes with other work (:func:`~scaling_cli.fit.processes.
    map_together`): where other work already showed the replicates will be hard, so no
    first batch is timed to decide the processes. The same result as :func:`bootstrap`."""
    job, plan = _job(data, fit, replicates=replicates, seed=seed, groups=groups,
                     settings=settings)
    return Work(job, plan,
                lambda results: _result(job, results, replicates, groups, False, None))


def bootstrap_beside(here: Callable[[Callable[[], FitResult]], T],
                     keep: Callable[[T, FitResult], bool], data: Data,
                     fit: Callable[[], FitResult], *, replicates: int = 1000, seed: int = 0,
                     groups: Sequence[str] | None = None,
                     settings: SearchSettings | None = None) -> tuple[T, BootstrapResult | None]:
    """``here(fitted)`` in this process while a forked worker makes the fit (``fit()``)
    and bootstraps it (as :func:`bootstrap` with ``workers=1`` would: the same result);
    ``fitted()`` returns the worker's fit, waiting for it if it must. Once ``here``
    returns, this process joins in on the batches left if ``keep(here's result, the fit)``
    says the bootstrap is wanted, else stops the worker and returns None for it."""
    plan = batches(_chunks(replicates), len(data))
    made: list[_Job] = []  # this process's job, made when it joins in

    def job_of(fitted: FitResult) -> _Job:
        if not made:
            made.append(_job(data, fitted, replicates=replicates, seed=seed, groups=groups,
                             settings=settings)[0])
        return made[0]

    import numpy.random  # noqa: F401 - loaded once, before the fork, not in both processes

    result, done = beside_prepared(here, fit, job_of, plan,
                                   join=lambda result, fitted: keep(result, fitted()))
    if done is None:
        return result, None
    return result, _result(made[0], done, replicates, groups, False, None)


def _job(data: Data, fit: FitResult, *, replicates: int, seed: int,
         groups: Sequence[str] | None, reference: bool = False, starts: int = REPLICATE_STARTS,
         escalate: int = 6, settings: SearchSettings | None = None) -> tuple[_Job, list[Batch]]:
    """The refit job every process runs, and its batches (:func:`batches`)."""
    settings = replace(settings or SearchSettings(delta=fit.delta),
                       converged_rtol=REPLICATE_RTOL)
    refit = None if reference else Refit.around(fit, data, settings=settings, starts=starts,
                                                escalate=escalate)
    job = _Job(data, fit, settings, refit, Resampler.make(len(data), groups, seed))
    return job, batches(_chunks(replicates), len(data))


def _result(job: _Job, results: Iterable[tuple[Array, npt.NDArray[np.bool_]]],
            replicates: int, groups: Sequence[str] | None, reference: bool,
            progress: Progress | None) -> BootstrapResult:
    """The replicates' optima from the batches' results (in order), failed ones as NaN
    rows, degenerate ones marked."""
    theta = np.full((replicates, 5), np.nan)
    converged = np.zeros(replicates, dtype=bool)
    done = 0
    for t, ok in results:  # results arrive in order
        theta[done:done + len(t)], converged[done:done + len(t)] = t, ok
        done += len(t)
        if progress is not None:
            progress(done, replicates)
    theta[~converged] = np.nan
    degenerate = np.asarray(degenerate_mask(theta, job.data, job.fit.constraints).any(axis=1))
    n_units = len(set(groups)) if groups is not None else len(job.data)
    return BootstrapResult(theta, converged, degenerate, job.sampler.seed,
                           "group" if groups is not None else "run", n_units, reference)


Batch = tuple[tuple[int, int], ...]  # (chunk index, replicates) of the draw chunks in a batch


def batch_size(runs: int) -> int:
    """Replicates refitted at once on ``runs`` runs: about ``BATCH_CELLS`` (replicate, run)
    cells, at least ``CHUNK``, at most ``MAX_BATCH``."""
    return max(CHUNK, min(MAX_BATCH, BATCH_CELLS // max(runs, 1)))


def batches(chunks: Sequence[tuple[int, int]], runs: int) -> list[Batch]:
    """The refit plan: draw chunks (``(start, stop)`` row ranges) grouped into batches, the
    first chunk alone (the probe :func:`map_measured` times), the rest in batches of up to
    :func:`batch_size` rows and at least two batches (one for this process, one for a
    worker). A function of the chunks and the number of runs only, never of workers or
    timings: the same seed always meets the same batches, whatever runs them."""
    rest = sum(b - a for a, b in chunks[1:])
    size = min(batch_size(runs), max(CHUNK, -(-rest // 2)))
    out: list[Batch] = []
    current: list[tuple[int, int]] = []
    rows = 0
    for index, (a, b) in enumerate(chunks):
        if current and (index == 1 or rows + (b - a) > size):
            out.append(tuple(current))
            current, rows = [], 0
        current.append((index, b - a))
        rows += b - a
    if current:
        out.append(tuple(current))
    if (len(out) > 2 and len(out[-1]) == 1 and out[-1][0][1] < CHUNK
            and sum(size for _, size in out[-2] + out[-1]) <= batch_size(runs)):
        # a short last chunk alone would be a batch of a few replicates, run after the
        # others on one process (most of its cost is per-batch overhead): it joins the
        # batch before it where that stays within the batch size (1,000 replicates of 16
        # runs: 32 + 480 + 488, not 32 + 480 + 480 + 8)
        out[-2:] = [out[-2] + out[-1]]
    return out


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


def map_measured(job: Callable[[Any], Any], plan: Sequence[Batch],
                  workers: int) -> Iterator[Any]:
    """Like :func:`map_batches` where the work's size did not pay for processes: the first batch
    (one draw chunk) runs here and is timed, and only if the rest would keep each of
    ``workers`` processes busy for ``MIN_SECONDS_PER_PROCESS`` (a hard ladder: every
    replicate needs the profile search) do the remaining batches go to workers. The batches
    are the same either way, and so are the results."""
    if not plan:
        return
    started = time.perf_counter()
    yield job(plan[0])
    per_replicate = (time.perf_counter() - started) / sum(size for _, size in plan[0])
    estimate = per_replicate * sum(size for batch in plan[1:] for _, size in batch)
    processes = max(1, min(workers, int(estimate // MIN_SECONDS_PER_PROCESS)))
    yield from map_batches(job, list(plan[1:]), processes)


_INHERITED: list[Callable[[Any], Any]] = []  # a worker's job, set once by _worker_start


@dataclass(frozen=True)
class _Job:
    """Refit one batch of replicates (inherited by forked workers, never pickled)."""

    data: Data
    fit: FitResult
    settings: SearchSettings
    refit: Refit | None  # None: the reference path (a complete global fit per replicate)
    sampler: Resampler

    def __call__(self, batch: Batch) -> tuple[Array, npt.NDArray[np.bool_]]:
        weights = np.vstack([self.sampler.chunk(index, size) for index, size in batch])
        if self.refit is None:
            fits = [fit_law(self.data, weights=w, settings=self.settings,
                            constraints=self.fit.constraints) for w in weights]
            return (np.array([f.theta for f in fits]),
                    np.array([f.starts_converged > 0 for f in fits]))
        return self.refit.search(weights, self.fit.theta)
