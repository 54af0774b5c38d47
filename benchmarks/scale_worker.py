"""One scale measurement in a fresh process: load run logs, fit, bootstrap; time and memory.

    python benchmarks/scale_worker.py PATH [--replicates 200] [--workers 1]
                                           [--time-limit 300] [--profile]

Prints one JSON line per finished stage (so a parent that kills a slow run still knows
how far it got), each with the stage's wall seconds and the process's peak RSS so far
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``; worker processes of the bootstrap are
reported separately as ``children_peak_mb``):

* ``load``: :func:`scaling_cli.read.runs.load_runs` on PATH;
* ``fit``: :func:`scaling_cli.fit.build.fit_runs` with ``replicates=0`` (validation, the
  global fit, verification and the model's summaries: everything but the bootstrap);
* ``bootstrap``: :func:`scaling_cli.fit.bootstrap.bootstrap` with ``replicates`` replicates on
  the same fit (recomputed as stage ``refit``, as ``fit_runs`` does not hand it out;
  not part of the figures).

After ``--time-limit`` seconds (SIGALRM) the running stage stops with ``"timeout": true``.
``--profile`` runs each stage under cProfile and prints its top functions (to stderr).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import signal
import sys
import time
from collections.abc import Callable
from typing import Any


class StageTimeout(Exception):
    """Raised by SIGALRM when the time limit is reached."""


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # KiB on Linux


def _emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def _stage(name: str, func: Callable[[], Any], profile: bool) -> Any:
    profiler = cProfile.Profile() if profile else None
    began = time.perf_counter()
    result = None
    timed_out = False
    try:
        if profiler is not None:
            profiler.enable()
        result = func()
    except StageTimeout:
        timed_out = True
    finally:
        if profiler is not None:
            profiler.disable()
    seconds = time.perf_counter() - began
    _emit({"stage": name, "seconds": seconds, "peak_mb": _peak_mb(),
           "children_peak_mb": _peak_mb(resource.RUSAGE_CHILDREN), "timeout": timed_out})
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(12)
        print(f"== profile of stage {name} (by own time) ==\n{_trim(out.getvalue())}",
              file=sys.stderr, flush=True)
    if timed_out:
        sys.exit(3)
    return result


def _trim(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(lines[start:])


def _alarm(signum: int, frame: object) -> None:
    raise StageTimeout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("path")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--time-limit", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(max(1, args.time_limit))
    began = time.perf_counter()
    from scaling_cli.fit.bootstrap import bootstrap
    from scaling_cli.fit.build import FitSettings, fit_runs
    from scaling_cli.fit.objective import Data
    from scaling_cli.fit.search import fit_law
    from scaling_cli.read.runs import load_runs

    _emit({"stage": "import", "seconds": time.perf_counter() - began, "peak_mb": _peak_mb()})
    runs = _stage("load", lambda: load_runs([args.path]), args.profile)
    _emit({"stage": "runs", "count": len(runs)})
    _stage("fit", lambda: fit_runs(runs, FitSettings(replicates=0)), args.profile)
    data = Data.from_arrays([r.params for r in runs.runs], [r.tokens for r in runs.runs],
                            [r.loss for r in runs.runs])
    fit = _stage("refit", lambda: fit_law(data), False)  # untimed: the bootstrap's input
    _stage("bootstrap", lambda: bootstrap(data, fit, replicates=args.replicates, seed=0,
                                          workers=args.workers), args.profile)
    signal.alarm(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
