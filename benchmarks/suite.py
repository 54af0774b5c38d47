"""The in-process measurements of ``benchmarks/bench.py`` (baseline, point fit, bootstrap)
and the driver that runs every section (:mod:`benchmarks.processes` has the others).

Each section prints its figures as it goes (median, min-max and the number of repetitions)
and adds the headline ones to a :class:`~benchmarks.measure.Report`, which prints the
targets table at the end and can write everything as Markdown. Times are wall clock
(``time.perf_counter``).
"""

from __future__ import annotations

import csv
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.bootstrap import BootstrapResult, bootstrap, resample_weights
from scaling_cli.fit.objective import Data, evaluate
from scaling_cli.fit.search import FitResult, fit_law
from scaling_cli.forecast.intervals import percentile_interval
from scaling_cli.law import Law, optimal_allocation

from .baseline import HOFFMANN_GRID, BaselineRun, Tolerances, grid_subset, lbfgsb_fit
from .measure import Report, Stat, timed, verdict
from .processes import scale_section, startup_section

__all__ = ["BEST_KNOWN_OBJECTIVE", "compare_intervals", "interval_strings", "run"]

Array = npt.NDArray[np.float64]
ROOT = Path(__file__).resolve().parent.parent
BEST_KNOWN_OBJECTIVE = 1.01827404e-3  # Epoch's 4,500-start optimum on their 240 runs
QUANTITIES = ("E", "A", "B", "alpha", "beta", "N*", "D*")
BUDGET = 1e24


# --------------------------------------------------------------------------- machine


def machine_line() -> str:
    import scipy

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "unknown BLAS"
    try:
        config: Any = np.show_config(mode="dicts")
        info = config["Build Dependencies"]["blas"]
        blas = f"{info.get('name')} {info.get('version')}"
    except Exception:  # best effort: numpy < 1.26 has no mode="dicts"
        pass
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    commit = _commit()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, numpy "
            f"{np.__version__}, scipy {scipy.__version__}, {blas} "
            f"(OPENBLAS_NUM_THREADS={threads}); load average {load}; code at {commit}")


def _commit() -> str:
    """The checkout's commit, and whether it has uncommitted changes (read-only git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=ROOT, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=ROOT, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"{head}{' + uncommitted changes' if dirty.strip() else ''}"


def epoch_data(path: Path | None) -> Data | None:
    """The 240 runs Epoch fits, or None when the shared data are absent."""
    if path is None or not path.is_file():
        return None
    with path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["epoch_default_fit"] == "1"]
    return Data.from_arrays([float(r["params"]) for r in rows],
                            [float(r["tokens"]) for r in rows],
                            [float(r["loss"]) for r in rows])


# --------------------------------------------------------------------------- point fit


def baseline_section(data: Data, report: Report, *, stride: int, repeat: int,
                     variants: bool) -> tuple[BaselineRun, float | None]:
    """The chosen baseline (time scaled to 4,500 starts), and the scaled time of the fastest
    tolerance variant that still reaches the best known objective (None if not run)."""
    report.section("Baseline: scipy L-BFGS-B from Hoffmann's 4,500-start grid")
    starts = grid_subset(stride)
    scale = len(HOFFMANN_GRID) / len(starts)
    report.say(f"stride {stride}: {len(starts)} of {len(HOFFMANN_GRID)} starts, time x "
               f"{scale:.2f} to the full grid; analytic gradient, ftol=1e-15, gtol=1e-12, "
               "maxiter=15000, bounds = the tool's box")
    fastest: float | None = None
    if variants:
        rows = []
        for label, tol in (("chosen: f, ftol 1e-15, gtol 1e-12", Tolerances()),
                           ("f / f(x0), ftol 1e-15, gtol 1e-12", Tolerances(scale="start")),
                           ("f, ftol 0, gtol 0 (until no progress)", Tolerances(ftol=0, gtol=0)),
                           ("f, scipy defaults (ftol 2.2e-9, gtol 1e-5)",
                            Tolerances(ftol=2.220446049250313e-09, gtol=1e-5))):
            res = lbfgsb_fit(data, starts, tolerances=tol)
            hits = int((res.objectives <= BEST_KNOWN_OBJECTIVE).sum())
            if hits and (fastest is None or res.seconds * scale < fastest):
                fastest = res.seconds * scale
            rows.append((label, f"{res.seconds * scale:.1f}", f"{res.objective:.11g}",
                         f"{hits}/{res.starts}", "yes" if res.objective <=
                         BEST_KNOWN_OBJECTIVE else "NO"))
        report.table(("variant", "4,500-start s (scaled)", "best objective", "starts at best",
                      "reaches best"), rows)
    stat, res = timed(lambda: lbfgsb_fit(data, starts), repeat)
    full = Stat(tuple(v * scale for v in stat.values))
    hits = int((res.objectives <= BEST_KNOWN_OBJECTIVE).sum())
    report.say(f"subset: {stat.show()}; {res.evaluations} f+g evaluations, "
               f"{1e3 * stat.median / len(starts):.2f} ms per start")
    report.say(f"scaled to 4,500 starts: {full.show()}")
    report.say(f"best objective on the subset: {res.objective:.11g} ({hits} of {len(starts)} "
               f"starts reach <= {BEST_KNOWN_OBJECTIVE:.8e})")
    return BaselineRun(res.theta, res.objective, res.objectives, res.evaluations,
                       full.median, len(HOFFMANN_GRID)), fastest


def fit_section(data: Data, report: Report, baseline: BaselineRun | None,
                fastest_variant: float | None, *, repeat: int) -> tuple[FitResult, Stat]:
    report.section("Fast point fit: scaling_cli.fit.search.fit_law on Epoch's 240 runs")
    stat, fit = timed(lambda: fit_law(data), max(repeat, 5))
    assert isinstance(fit, FitResult)
    reached = fit.objective <= BEST_KNOWN_OBJECTIVE
    report.say(f"time: {stat.show()}")
    report.say(f"objective {fit.objective:.11g} ({'<=' if reached else '>'} "
               f"{BEST_KNOWN_OBJECTIVE:.8e}); verified {fit.verified}, {fit.starts_agreeing} "
               f"of {fit.starts} starts agree")
    report.target("point fit time", f"{stat.median:.3f} s", "<= 0.5 s", stat.median <= 0.5)
    report.target("point fit objective", f"{fit.objective:.11g}",
                  f"<= {BEST_KNOWN_OBJECTIVE:.8e}", reached)
    if baseline is not None:
        ratio = baseline.seconds / stat.median
        report.say(f"speed-up over the 4,500-start L-BFGS-B baseline ({baseline.seconds:.1f} s):"
                   f" {ratio:.0f}x")
        report.target("point fit vs baseline", f"{ratio:.0f}x faster", ">= 20x", ratio >= 20)
    if fastest_variant is not None:
        loose = fastest_variant / stat.median
        report.say(f"against the fastest L-BFGS-B variant that still reaches the best objective "
                   f"(of the variants above; {fastest_variant:.1f} s): {loose:.0f}x")
        report.target("point fit vs fastest variant", f"{loose:.0f}x faster", ">= 20x",
                      loose >= 20)
    return fit, stat


# --------------------------------------------------------------------------- bootstrap


def interval_strings(theta: Array, confidence: float = 0.95) -> dict[str, str]:
    """Percentile intervals of E, A, B, alpha, beta and N*, D* at 1e24, to 4 digits."""
    law = Law.from_theta(theta)
    alloc = optimal_allocation(law, BUDGET)
    values = {"E": law.E, "A": law.A, "B": law.B, "alpha": law.alpha, "beta": law.beta,
              "N*": alloc.params, "D*": alloc.tokens}
    out = {}
    for name in QUANTITIES:
        low, high = percentile_interval(values[name], confidence)
        out[name] = f"{low:.4g} - {high:.4g}"
    return out


def compare_intervals(fast: Array, slow: Array) -> list[tuple[str, str, str, bool]]:
    """(quantity, fast interval, reference interval, identical to 4 digits) per quantity."""
    a, b = interval_strings(fast), interval_strings(slow)
    return [(q, a[q], b[q], a[q] == b[q]) for q in QUANTITIES]


def bootstrap_section(data: Data, fit: FitResult, report: Report, *, replicates: int,
                      repeat: int, reference_replicates: int, fit_seconds: float) -> None:
    report.section(f"Bootstrap: {replicates} replicates on Epoch's 240 runs, seed 0")
    stats: dict[int, Stat] = {}
    results: dict[int, BootstrapResult] = {}
    for workers in (1, 2):
        def job(w: int = workers) -> BootstrapResult:
            return bootstrap(data, fit, replicates=replicates, seed=0, workers=w)

        stats[workers], results[workers] = timed(job, repeat)
        report.say(f"workers={workers}: {stats[workers].show()}; failed "
                   f"{results[workers].failed}, degenerate {results[workers].n_degenerate}")
    same = results[1].theta.tobytes() == results[2].theta.tobytes()
    best = min(stats[1].median, stats[2].median)
    report.say(f"workers 1 vs 2: speed-up {stats[1].median / stats[2].median:.2f}x; replicate "
               f"optima byte-identical: {same}")
    report.say(f"point fit + bootstrap (medians, faster worker count): {fit_seconds + best:.2f} s")
    report.target(f"bootstrap {replicates} replicates", f"{best:.2f} s (best of workers 1/2)",
                  "<= 2 s", best <= 2.0 if replicates == 1000 else None)
    report.target("workers 1 vs 2 identical", str(same), "byte-identical", same)
    if reference_replicates <= 0:
        report.say("reference comparison skipped (--reference-replicates 0)")
        return
    n = reference_replicates
    fast = results[1] if n == replicates else bootstrap(data, fit, replicates=n, seed=0)
    began = time.perf_counter()
    slow = bootstrap(data, fit, replicates=n, seed=0, reference=True, workers=2)
    seconds = time.perf_counter() - began
    report.say(f"reference (complete global fit per replicate, 2 workers): {seconds:.1f} s for "
               f"{n} replicates ({1e3 * seconds / n:.0f} ms each)")
    _replicate_agreement(data, fast, slow, report)
    rows = compare_intervals(fast.theta, slow.theta)
    report.table(("quantity", f"fast ({n} replicates)", "reference", "identical"),
                 [(q, a, b, "yes" if ok else "NO") for q, a, b, ok in rows])
    identical = all(ok for *_, ok in rows)
    report.target(f"intervals vs reference ({n} replicates)",
                  "identical" if identical else
                  f"{sum(not ok for *_, ok in rows)} of {len(rows)} differ",
                  "identical to 4 digits", identical)


def _replicate_agreement(data: Data, fast: BootstrapResult, slow: BootstrapResult,
                         report: Report) -> None:
    """How many replicate optima differ, and which side found the lower objective."""
    weights = resample_weights(len(data), None, fast.replicates, fast.seed)
    ok = fast.converged & slow.converged
    f_fast = np.full(fast.replicates, np.nan)
    f_slow = np.full(fast.replicates, np.nan)
    f_fast[ok] = [evaluate(t, data, w)[0][0] for t, w in zip(fast.theta[ok], weights[ok],
                                                              strict=True)]
    f_slow[ok] = [evaluate(t, data, w)[0][0] for t, w in zip(slow.theta[ok], weights[ok],
                                                              strict=True)]
    differ = ok & (np.abs(fast.theta - slow.theta).max(axis=1) > 1e-6)
    worse = ok & (f_fast > f_slow * (1 + 1e-9))
    better = ok & (f_slow > f_fast * (1 + 1e-9))
    report.say(f"replicates: failed fast {fast.failed}, reference {slow.failed}; optima "
               f"differing by > 1e-6: {int(differ.sum())}; fast path at a higher objective "
               f"(missed the replicate's global minimum): {int(worse.sum())}; reference "
               f"higher: {int(better.sum())}")


# --------------------------------------------------------------------------- driver


def run(args: Any) -> int:
    report = Report()
    machine = machine_line()
    print(f"machine: {machine}")
    report.markdown.append(f"Machine: {machine}\n")
    data_path = args.data
    data = epoch_data(data_path)
    baseline, fastest = None, None
    if data is None:
        report.say(f"\nEpoch data not found at {data_path}: point-fit and bootstrap sections "
                   "skipped (pass --data or set SCALING_SHARED_DATA)")
    elif "fit" in args.sections:
        if not args.skip_baseline:
            baseline, fastest = baseline_section(data, report, stride=args.baseline_stride,
                                                 repeat=args.baseline_repeat,
                                                 variants=args.baseline_variants)
        fit, fit_time = fit_section(data, report, baseline, fastest, repeat=args.repeat)
        if "bootstrap" in args.sections:
            bootstrap_section(data, fit, report, replicates=args.replicates,
                              repeat=args.repeat, reference_replicates=args.reference_replicates,
                              fit_seconds=fit_time.median)
    if "startup" in args.sections:
        startup_section(report, repeat=args.startup_repeat)
    if "scale" in args.sections:
        scale_section(report, sizes=args.scale_sizes, replicates=args.scale_replicates,
                      workers=args.scale_workers, time_limit=args.scale_time_limit,
                      profile=args.profile_scale)
    report.section("Targets")
    report.table(("figure", "measured", "target", "verdict"),
                 [(n, m, g, verdict(ok)) for n, m, g, ok in report.targets])
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.markdown is not None:
        args.markdown.write_text("\n".join(report.markdown) + "\n", encoding="utf-8")
        print(f"wrote {args.markdown}")
    return 0
