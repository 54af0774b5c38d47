"""Speed benchmark: the figures of the speed targets, each with median, min-max and ratios.

    python benchmarks/bench.py                 # everything (~15-25 min on 2 cores)
    python benchmarks/bench.py --quick         # smoke run: few repetitions, small scale (~2 min)
    python benchmarks/bench.py --sections fit bootstrap --reference-replicates 200
    python benchmarks/bench.py --markdown /tmp/speed.md   # also write the results as Markdown

Sections (``--sections``):

* ``fit``: scipy L-BFGS-B from Hoffmann et al.'s 4,500 grid starts (a subset, timed and
  scaled linearly; :mod:`benchmarks.baseline`) against :func:`scaling_cli.fit.search.fit_law` on
  Epoch's 240 Chinchilla runs (``--data``, default ``$SCALING_SHARED_DATA`` or
  ``../shared/data``/chinchilla_epoch_svg.csv; skipped with a message when absent);
* ``bootstrap``: 1,000 replicates with 1 and 2 workers (byte-identical?), and the careful
  reference (a complete global fit per replicate) on the same resamples: intervals of
  E, A, B, alpha, beta, N*, D* at 1e24 compared to 4 significant digits;
* ``startup``: whole-process wall time of ``scaling optimal --law ...`` and ``scaling --help``
  against ``python -c "import numpy"``, and ``python -X importtime``'s top offenders;
* ``scale``: synthetic ladders of 1e2 ... 1e5 runs as one YAML file and as a directory of
  one file per run: load, fit, bootstrap time and peak memory, each in a fresh process;
* ``process``: the commands exactly as a user types them, unpinned, default ``--workers``
  against ``--workers 1``, memory summed over all processes (:mod:`benchmarks.process`).

BLAS threads are pinned to 1 (``--blas-threads``) before numpy is imported, here and in
every subprocess: every matrix in this problem is tiny, and with OpenBLAS's threads on a
busy 2-core machine scipy's L-BFGS-B ran ~20x slower, which would flatter the speed-up.
The ``process`` section removes that pinning again from the commands it times.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.process import add_arguments as add_process_arguments  # noqa: E402 (no numpy)


def _default_data() -> Path:
    shared = os.environ.get("SCALING_SHARED_DATA")
    base = Path(shared) if shared else ROOT.parent / "shared" / "data"
    return base / "chinchilla_epoch_svg.csv"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Speed benchmark of scaling-cli (see benchmarks/README.md).")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: few repetitions, 1e2-1e3 runs, 50 reference replicates")
    parser.add_argument("--sections", nargs="+",
                        default=["fit", "bootstrap", "startup", "scale", "process"],
                        choices=["fit", "bootstrap", "startup", "scale", "process"])
    parser.add_argument("--data", type=Path, default=_default_data(),
                        help="chinchilla_epoch_svg.csv (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="repetitions of each timed call (default 5; --quick 2; the point "
                             "fit always at least 5)")
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--reference-replicates", type=int, default=None,
                        help="replicates for the slow reference bootstrap (~0.1-0.2 s each; "
                             "default 1000, --quick 50; 0 skips it)")
    parser.add_argument("--baseline-stride", type=int, default=None,
                        help="time every k-th grid start (default 23: 196 starts; --quick 89)")
    parser.add_argument("--baseline-repeat", type=int, default=None,
                        help="repetitions of the baseline subset (default 3; --quick 1)")
    parser.add_argument("--no-baseline-variants", dest="baseline_variants",
                        action="store_false", help="skip the tolerance-variant comparison")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--startup-repeat", type=int, default=None,
                        help="runs of each start-up command (default 15; --quick 5)")
    parser.add_argument("--scale-sizes", type=int, nargs="+", default=None,
                        help="ladder sizes in runs (default 100 1000 10000 100000; "
                             "--quick 100 1000)")
    parser.add_argument("--scale-replicates", type=int, default=200)
    parser.add_argument("--scale-workers", type=int, default=2)
    parser.add_argument("--scale-time-limit", type=int, default=None,
                        help="seconds per scale case before it is stopped (default 300; "
                             "--quick 120)")
    parser.add_argument("--no-profile-scale", dest="profile_scale", action="store_false",
                        help="do not re-run the largest failing scale case under cProfile")
    parser.add_argument("--blas-threads", default="1",
                        help="OPENBLAS/OMP/MKL_NUM_THREADS for this process and its "
                             "subprocesses, or 'default' to leave them alone")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="also write the results as Markdown to this file")
    add_process_arguments(parser.add_argument_group("process section (benchmarks/process.py)"),
                          prefix="process-")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {"repeat": (5, 2), "reference_replicates": (1000, 50),
                "baseline_stride": (23, 89), "baseline_repeat": (3, 1),
                "startup_repeat": (15, 5), "scale_sizes": ([100, 1000, 10000, 100000],
                                                           [100, 1000]),
                "scale_time_limit": (300, 120)}
    for name, (full, short) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    if quick and "--no-baseline-variants" not in (argv or sys.argv):
        args.baseline_variants = False
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.blas_threads != "default":
        if "numpy" in sys.modules:
            print("warning: numpy was imported before BLAS threads could be pinned",
                  file=sys.stderr)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = args.blas_threads
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.suite import run  # numpy is imported here, after the pinning

    code = run(args) if set(args.sections) - {"process"} else 0
    if "process" in args.sections:
        from benchmarks.process import finish
        from benchmarks.process import run as run_process

        finish(run_process(args), args.markdown, append=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
