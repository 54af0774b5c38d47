"""Benchmarks that need whole processes: start-up wall time and the scale ladders.

Start-up is the wall time of ``scaling`` subprocesses against ``python -c "import numpy"``;
scale runs :mod:`benchmarks.scale_worker` in a fresh process per ladder (so its peak RSS is
that case's alone) and reads the JSON line each finished stage prints.
"""

from __future__ import annotations

import compileall
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .ladders import isoflop_ladder, write_per_run_dir, write_runs_list
from .measure import Report, Stat

__all__ = ["ScaleCase", "import_tree", "measure_scale", "scale_section", "startup_section",
           "write_ladder"]

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- start-up


def scaling_command() -> list[str]:
    script = Path(sys.executable).parent / "scaling"
    if script.is_file():
        return [str(script)]
    found = shutil.which("scaling")
    return [found] if found else [sys.executable, "-c",
                                  "from scaling_cli.cli import main; main()"]


def _wall(cmd: Sequence[str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, cwd=ROOT, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-500:]!r}")
    return seconds


def startup_section(report: Report, *, repeat: int) -> None:
    report.section("Start-up: wall time of whole processes")
    scaling = scaling_command()
    commands = {
        "optimal --law": [*scaling, "optimal", "--law", "epoch-2024", "--budget", "1e24", "-q",
                          "--field", "params"],
        "--help": [*scaling, "--help"],
        "import numpy": [sys.executable, "-c", "import numpy"],
    }
    # Byte-compile the package first, as any normal install does: this machine sets
    # PYTHONDONTWRITEBYTECODE, so an editable checkout would otherwise recompile every
    # module on every start (~25 ms) while numpy's own bytecode was cached at install.
    compileall.compile_dir(str(ROOT / "scaling_cli"), quiet=1)
    try:
        for cmd in commands.values():  # warm the file cache once; fail early if one breaks
            _wall(cmd)
    except RuntimeError as exc:
        report.say(f"start-up not measured: {exc}")
        report.target("start-up", "command failed", "<= 1.5x import numpy", False)
        return
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):  # interleaved, so drifting machine load hits all three alike
        for name, cmd in commands.items():
            samples[name].append(_wall(cmd))
    base = Stat(tuple(samples["import numpy"]))
    rows = []
    for name, values in samples.items():
        stat = Stat(tuple(values))
        ratio = stat.median / base.median
        rows.append((name, f"{1e3 * stat.median:.0f}",
                     f"{1e3 * min(values):.0f}-{1e3 * max(values):.0f}", f"{ratio:.2f}"))
        if name != "import numpy":
            report.target(f"start-up `scaling {name}`", f"{ratio:.2f}x import numpy "
                          f"({1e3 * stat.median:.0f} ms)", "<= 1.5x", ratio <= 1.5)
    report.table(("command", "median ms", "min-max ms", "x import numpy"), rows)
    cmd = [sys.executable, "-X", "importtime", *_as_python(scaling),
           *commands["optimal --law"][len(scaling):]]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    tree = "\n".join(import_tree(done.stderr))
    report.say("`python -X importtime` of `scaling optimal --law ...`: imports taking >= 15 ms "
               f"with everything they pulled in (children above their parent):\n```\n"
               f"cumul ms  self ms  module\n{tree}\n```")


def _as_python(scaling: list[str]) -> list[str]:
    """The scaling command as arguments to ``python``: the console script is a Python file."""
    return scaling[1:] if scaling[0] == sys.executable else scaling


def import_tree(stderr: str, min_us: int = 15_000) -> list[str]:
    """Lines of ``-X importtime`` output whose cumulative time is at least ``min_us``."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:"):].split("|")
        if int(cumulative) >= min_us:
            out.append(f"{int(cumulative) / 1e3:8.1f} {int(self_us) / 1e3:8.1f}  {name[1:]}")
    return out


# --------------------------------------------------------------------------- scale


@dataclass(frozen=True)
class ScaleCase:
    runs: int
    layout: str  # "list" (one YAML file with runs:) or "dir" (one file per run)
    stages: dict[str, dict[str, Any]]
    stderr: str
    killed: bool

    def seconds(self, stage: str) -> float | None:
        rec = self.stages.get(stage)
        return None if rec is None or rec.get("timeout") else float(rec["seconds"])

    @property
    def complete(self) -> bool:
        return all(self.seconds(s) is not None for s in ("load", "fit", "bootstrap"))

    @property
    def broke_in(self) -> str:
        for stage in ("load", "fit", "refit", "bootstrap"):
            if self.seconds(stage) is None:
                return stage
        return ""

    @property
    def peak_mb(self) -> float:
        return max((float(r.get("peak_mb", 0.0)) for r in self.stages.values()), default=0.0)

    @property
    def children_mb(self) -> float:
        return max((float(r.get("children_peak_mb", 0.0)) for r in self.stages.values()),
                   default=0.0)


def write_ladder(root: Path, runs: int, layout: str) -> Path:
    params, tokens, loss = isoflop_ladder(runs, seed=runs)
    if layout == "list":
        return write_runs_list(root / f"ladder-{runs}.yaml", params, tokens, loss)
    return write_per_run_dir(root / f"ladder-{runs}", params, tokens, loss)


def measure_scale(path: Path, runs: int, layout: str, *, replicates: int, workers: int,
                  time_limit: int, profile: bool = False) -> ScaleCase:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "scale_worker.py"), str(path),
           "--replicates", str(replicates), "--workers", str(workers),
           "--time-limit", str(time_limit), *(["--profile"] if profile else [])]
    killed = False
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False,
                              timeout=time_limit + 60)
        stdout, stderr = done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:  # stuck inside one C call past the alarm
        killed = True
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
    stages = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            stages[rec["stage"]] = rec
    return ScaleCase(runs, layout, stages, stderr, killed)


def scale_section(report: Report, *, sizes: Sequence[int], replicates: int, workers: int,
                  time_limit: int, profile: bool) -> None:
    report.section(f"Scale: load + fit + {replicates} bootstrap replicates, fresh process each")
    report.say(f"synthetic isoFLOP ladders (benchmarks/ladders.py); workers={workers}; limit "
               f"{time_limit} s per case; peak MB = ru_maxrss of the process (bootstrap "
               "worker processes shown apart)")
    cases: list[ScaleCase] = []
    with tempfile.TemporaryDirectory(prefix="scaling-bench-") as tmp:
        for runs in sizes:
            for layout in ("list", "dir"):
                path = write_ladder(Path(tmp), runs, layout)
                case = measure_scale(path, runs, layout, replicates=replicates,
                                     workers=workers, time_limit=time_limit)
                cases.append(case)
                print(f"  {runs} runs ({layout}): {_scale_row(case)}", flush=True)
                if profile and runs == max(sizes) and not _scale_ok(case):
                    prof = measure_scale(path, runs, layout, replicates=replicates,
                                         workers=1, time_limit=time_limit, profile=True)
                    report.say(f"\ncProfile of the {runs}-run {layout} case (each stage, top "
                               f"functions by own time; workers=1):\n```\n"
                               f"{prof.stderr.strip()}\n```")
    report.table(("runs", "format", "load s", "fit s", "bootstrap s", "total s", "peak MB",
                  "workers' peak MB"),
                 [(str(c.runs), c.layout, *_scale_row(c).split(" | ")) for c in cases])
    _growth(cases, report)
    for case in cases:
        if case.runs == 100_000:
            total = _total(case)
            report.target(f"1e5 runs ({case.layout}) load+fit+{replicates}",
                          f"{total:.1f} s, {case.peak_mb:.0f} MB" if total is not None else
                          f"did not finish: over {time_limit} s in {case.broke_in}",
                          "<= 30 s, <= 2048 MB", _scale_ok(case))


def _growth(cases: Sequence[ScaleCase], report: Report) -> None:
    """Per layout, how each figure grows from the smallest to the largest finished size, as
    the exponent k in (time or memory) ~ runs^k."""
    for layout in ("list", "dir"):
        done = [c for c in cases if c.layout == layout and c.complete]
        if len(done) < 2:
            continue
        small, large = done[0], done[-1]
        span = np.log(large.runs / small.runs)
        parts = []
        for stage in ("load", "fit", "bootstrap"):
            a, b = small.seconds(stage), large.seconds(stage)
            if a and b:
                parts.append(f"{stage} runs^{np.log(b / a) / span:.2f}")
        parts.append(f"peak memory runs^{np.log(large.peak_mb / small.peak_mb) / span:.2f}")
        report.say(f"growth {small.runs} -> {large.runs} runs ({layout}): {', '.join(parts)}")


def _total(case: ScaleCase) -> float | None:
    parts = [case.seconds(s) for s in ("load", "fit", "bootstrap")]
    return None if any(p is None for p in parts) else float(sum(p for p in parts if p))


def _scale_ok(case: ScaleCase) -> bool:
    total = _total(case)
    return total is not None and total <= 30 and case.peak_mb + case.children_mb <= 2048


def _scale_row(case: ScaleCase) -> str:
    def cell(stage: str) -> str:
        value = case.seconds(stage)
        if value is not None:
            return f"{value:.2f}"
        rec = case.stages.get(stage)
        if rec is not None or case.broke_in == stage:
            return f"timeout ({rec['seconds']:.0f}+)" if rec else "killed"
        return "-"
    total = _total(case)
    return " | ".join((cell("load"), cell("fit"), cell("bootstrap"),
                       f"{total:.2f}" if total is not None else "-", f"{case.peak_mb:.0f}",
                       f"{case.children_mb:.0f}"))
