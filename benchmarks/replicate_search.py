"""Bootstrap replicates by the batched re-search against a complete global fit of each.

    python benchmarks/replicate_search.py                 # ~3 minutes on 2 cores
    python benchmarks/replicate_search.py --replicates 60 --only hard

The bootstrap (:mod:`scaling_cli.fit.bootstrap`) refits each replicate with
:class:`scaling_cli.fit.refit.Refit` (its own start, its best screened candidates,
escalations), not with :func:`scaling_cli.fit.search.fit_law`. For each ladder this draws
the bootstrap's own replicates (seed 0, by run), refits them as ``scaling fit`` does and
with the complete global search each, and counts the replicates whose objective ends more
than 1e-7 (the replicate tolerance) and 1e-4 above the complete search's, the worst gap,
and how many of the misses the refit left on a bound (a vanished term: the degenerate
basins where small ladders have several).

Ladders: the hard 16-run grid of ``benchmarks/process.py`` (4 x 4 runs over half a decade,
3% noise) and the real ladders of ``benchmarks/honesty`` (``../shared/data/``; skipped with
a note when absent), each up to 400 runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "benchmarks"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import numpy as np  # noqa: E402

from scaling_cli.errors import InputError  # noqa: E402
from scaling_cli.fit.bootstrap import resample_weights  # noqa: E402
from scaling_cli.fit.objective import Data, evaluate  # noqa: E402
from scaling_cli.fit.refit import REPLICATE_RTOL, Refit  # noqa: E402
from scaling_cli.fit.search import SearchSettings, degenerate_mask, fit_law  # noqa: E402

MAX_RUNS = 400  # the complete search per replicate is ~0.1 s at this size


def hard_ladder(seed: int = 16, noise: float = 0.03) -> Data:
    """The process benchmark's hard ladder (benchmarks/process.py ``hard_ladder``)."""
    import tempfile

    from process import hard_ladder as write_hard  # (its CSV writer is the definition)

    with tempfile.TemporaryDirectory() as tmp:
        path = write_hard(Path(tmp) / "hard-16.csv", seed=seed, noise=noise)
        rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    return Data.from_arrays([float(r[1]) for r in rows], [float(r[2]) for r in rows],
                            [float(r[3]) for r in rows])


def ladders(only: str | None) -> list[tuple[str, Data]]:
    out = [("hard 16-run grid, 3% noise", hard_ladder())]
    if only == "hard":
        return out
    from honesty.ladders import real_ladders, resolve_data_dir

    try:
        data_dir = resolve_data_dir(None)
    except InputError as exc:  # the real ladders are optional here
        print(f"real ladders skipped: {exc}")
        return out
    for ladder in real_ladders(data_dir):
        if len(ladder) <= MAX_RUNS:  # by run and on raw tokens: the search, not the model
            plain = not ladder.grouped and ladder.unique_tokens is None
            out.append((ladder.name if plain else f"{ladder.name} (by run)",
                        Data.from_arrays(ladder.params, ladder.tokens, ladder.loss)))
    return out


def compare(name: str, data: Data, replicates: int) -> tuple[int, int, int, int, float]:
    fit = fit_law(data)
    weights = resample_weights(len(data), None, replicates, 0)
    started = time.perf_counter()
    theta, ok = Refit.around(fit, data).search(weights, fit.theta)
    fast_s = time.perf_counter() - started
    ours = evaluate(theta, data, weights)[0]
    settings = replace(SearchSettings(), converged_rtol=REPLICATE_RTOL)
    started = time.perf_counter()
    complete = np.array([fit_law(data, weights=w, settings=settings).objective
                         for w in weights])
    slow_s = time.perf_counter() - started
    gap = np.where(ok, ours / complete - 1.0, np.inf)
    miss = gap > 1e-7
    on_bound = degenerate_mask(theta, data, fit.constraints).any(axis=1)
    worst = float(gap[miss].max()) if miss.any() else 0.0
    print(f"{name}: {len(data)} runs, {replicates} replicates; above the complete search "
          f"by > 1e-7: {int(miss.sum())}, > 1e-4: {int((gap > 1e-4).sum())} (worst "
          f"{worst:.2e}; {int((miss & on_bound).sum())} of them on a bound); refit "
          f"{fast_s:.2f} s, complete {slow_s:.1f} s", flush=True)
    return replicates, int(miss.sum()), int((gap > 1e-4).sum()), int((miss & on_bound).sum()), \
        worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=120)
    parser.add_argument("--only", choices=["hard"], default=None,
                        help="hard: the hard 16-run ladder alone")
    args = parser.parse_args(argv)
    rows = [(name, *compare(name, data, args.replicates)) for name, data in ladders(args.only)]
    print("\n| ladder | replicates | above by > 1e-7 | > 1e-4 | on a bound | worst |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, reps, miss, big, bound, worst in rows:
        print(f"| {name} | {reps} | {miss} | {big} | {bound} | {worst:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
