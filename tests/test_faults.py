"""Faults outside the input text: interrupted writes, Ctrl-C, determinism across processes,
numbers at the edge of floating point, fits that cannot be verified, damaged fit files."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import scaling_cli.fit.search
from scaling_cli.cli import app
from scaling_cli.cli.output import atomic_path, write_atomic
from scaling_cli.errors import InputError
from scaling_cli.fit.objective import Data
from scaling_cli.fit.search import fit_law
from scaling_cli.law import Law, optimal_allocation, predict_loss
from scaling_cli.read.presets import load_presets

from .conftest import ROOT, synthetic_ladder

SAMPLE = str(ROOT / "sample_runs")
FLAT = str(ROOT / "tests" / "corpus" / "flat_losses.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# --------------------------------------------------------------------------- atomic writes


def test_write_atomic_gives_a_normal_file(tmp_path: Path) -> None:
    target = tmp_path / "fit.json"
    write_atomic(target, "{}\n")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_text() == "{}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    target.chmod(0o640)
    write_atomic(target, b"[]\n")
    assert target.read_bytes() == b"[]\n" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json"]


@pytest.mark.parametrize("fault", [KeyboardInterrupt, OSError(28, "No space left on device")])
@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: BaseException, where: str
) -> None:
    target = tmp_path / "fit.json"
    target.write_text("old\n")

    def fail(*args: object) -> None:
        raise fault

    monkeypatch.setattr(os, where, fail)
    with pytest.raises((KeyboardInterrupt, InputError)) as info:
        write_atomic(target, "new\n" * 1000)
    monkeypatch.undo()
    if isinstance(fault, OSError):
        assert str(info.value) == (f"{target}: cannot write (No space left on device); check "
                                   "the directory's permissions and free space, or choose "
                                   "another output path")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json"]


def test_atomic_path_keeps_the_extension_for_writers_that_want_a_name(tmp_path: Path) -> None:
    target = tmp_path / "plot.svg"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".plot.svg.")
        assert tmp.suffix == ".svg"  # e.g. matplotlib picks the format from it
        tmp.write_text("<svg/>")
    assert target.read_text() == "<svg/>"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert target.read_text() == "<svg/>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.svg"]


def test_a_failure_before_the_commit_leaves_the_old_file(tmp_path: Path) -> None:
    # `scaling fit -o FILE` prints its table between staging and renaming the file: a
    # table that cannot be written must not leave a new fit file behind a failed command.
    target = tmp_path / "fit.json"
    target.write_text("old\n")
    shown: list[str] = []

    def table_fails() -> None:
        shown.append(Path(next(p for p in tmp_path.iterdir() if p.name != "fit.json")).name)
        raise InputError("cannot write the result to standard output (No space left on device)")

    with pytest.raises(InputError):
        write_atomic(target, "new\n", before_commit=table_fails)
    assert shown and shown[0].startswith(".fit.json.")  # the data were staged beside it
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json"]
    write_atomic(target, "new\n", before_commit=lambda: shown.append("ok"))
    assert target.read_text() == "new\n" and shown[-1] == "ok"


def test_bad_output_paths(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "fit.json"
    assert run("fit", SAMPLE, "--bootstrap", "0", "-o", str(missing)) == (
        2, "", f"Error: {missing}: directory {missing.parent} does not exist; create it or "
               "choose another output path\n")
    assert run("fit", SAMPLE, "--bootstrap", "0", "-o", str(tmp_path)) == (
        2, "", f"Error: {tmp_path}: is a directory; give a file name for the output\n")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- Ctrl-C

# The child marks the start of the bootstrap so the signal lands inside it; the wait is a
# hang guard, not a timing assertion. SIGINT's default handler is restored in case the test
# runner was started with SIGINT ignored (as background jobs are).
CHILD = """
import signal, sys
from pathlib import Path
signal.signal(signal.SIGINT, signal.default_int_handler)
import scaling_cli.fit.bootstrap as resample
marker = Path(sys.argv.pop(1))
for name in ("bootstrap", "bootstrap_work"):  # alone, or queued with the calibration
    def hooked(*args, _original=getattr(resample, name), **kwargs):
        marker.touch()
        return _original(*args, **kwargs)
    setattr(resample, name, hooked)
if sys.argv[1] == "--hard":  # the calibration and the bootstrap in one queue (claim_all)
    sys.argv.pop(1)
    import scaling_cli.fit.build as build
    build._hard_evidence = lambda seconds, runs: True
from scaling_cli.cli import main
main()
"""




def start(tmp_path: Path, workers: str, *, hard: bool = False) -> subprocess.Popen[bytes]:
    """`scaling fit sample_runs -o fit.json --bootstrap 100000`, once its bootstrap runs
    (``hard``: as after hard evidence, queued with the calibration)."""
    marker = tmp_path / "started"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker), *(["--hard"] if hard else []), "fit",
         SAMPLE, "-o",
         str(tmp_path / "fit.json"), "--bootstrap", "100000", "--workers", workers],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # let the workers get going
    return child


def interrupt(child: subprocess.Popen[bytes], *, group: bool) -> tuple[int, bytes, bytes]:
    try:
        if group:  # a terminal's Ctrl-C reaches the whole foreground process group
            os.killpg(child.pid, signal.SIGINT)
        else:
            child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return child.returncode, stdout, stderr


def test_ctrl_c_during_the_bootstrap(tmp_path: Path) -> None:
    child = start(tmp_path, "1")
    assert interrupt(child, group=True) == (130, b"", b"Interrupted: nothing was written.\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["started"]  # no fit.json, no .tmp


@pytest.mark.parametrize("hard", [False, True], ids=["bootstrap", "queued"])
@pytest.mark.parametrize("group", [True, False], ids=["terminal", "kill-INT"])
def test_ctrl_c_during_a_bootstrap_with_workers(tmp_path: Path, group: bool,
                                                hard: bool) -> None:
    child = start(tmp_path, "2", hard=hard)
    assert interrupt(child, group=group) == (130, b"", b"Interrupted: nothing was written.\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["started"]


def _workers(parent: int) -> list[int]:
    cmdline = Path(f"/proc/{parent}/cmdline").read_bytes()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == parent and (proc / "cmdline").read_bytes() == cmdline:
                found.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _ignores_sigint(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_bootstrap_workers_leave_ctrl_c_to_the_parent(tmp_path: Path) -> None:
    child = start(tmp_path, "2")
    try:
        deadline = time.monotonic() + 20
        while True:
            workers = _workers(child.pid)
            # --workers 2: one forked worker beside the parent, which takes batches too
            if len(workers) == 1 and all(_ignores_sigint(w) for w in workers):
                break
            assert time.monotonic() < deadline, f"workers {workers} do not ignore SIGINT"
            time.sleep(0.1)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()


# --------------------------------------------------------------------------- determinism


def test_json_is_byte_identical_across_worker_counts(tmp_path: Path) -> None:
    outputs = []
    for workers in ("1", "2", "1"):
        fit_file = tmp_path / f"fit{len(outputs)}.json"
        code, out, err = run("optimal", SAMPLE, "-b", "1e24", "-f", "json", "--bootstrap",
                             "96", "--seed", "3", "--workers", workers)
        assert code == 0, err
        code, _, err = run("fit", SAMPLE, "-o", str(fit_file), "--bootstrap", "96", "--seed",
                           "3", "--workers", workers, "-q")
        assert code == 0, err
        outputs.append((out, fit_file.read_bytes()))
    assert outputs[0] == outputs[1] == outputs[2]
    code, out, _ = run("optimal", SAMPLE, "-b", "1e24", "-f", "json", "--bootstrap", "96",
                       "--seed", "4")
    assert code == 0 and out != outputs[0][0]


def test_input_hash_tracks_the_data_not_the_files(tmp_path: Path) -> None:
    def digest_and_law(*paths: str) -> tuple[str, dict]:
        code, out, err = run("fit", *paths, "-f", "json", "--bootstrap", "0")
        assert code == 0, err
        doc = json.loads(out)
        return doc["inputs"]["sha256"], doc["law"]

    base = digest_and_law(SAMPLE)
    # the same runs, reversed, in one file, with numbers spelled differently
    logs = sorted(Path(SAMPLE).glob("*.yaml"), reverse=True)
    text = "---\n".join(p.read_text() for p in logs).replace("loss: ", "loss: +")
    (tmp_path / "all.yaml").write_text(text)
    assert digest_and_law(str(tmp_path / "all.yaml")) == base
    # one loss changed in the 6th digit: a different hash
    changed = text.replace("loss: +", "loss: +0.000001e-0", 0)
    first = changed.index("loss: +") + len("loss: +")
    end = changed.index("\n", first)
    value = float(changed[first:end]) * (1 + 1e-6)
    (tmp_path / "all.yaml").write_text(changed[:first] + repr(value) + changed[end:])
    assert digest_and_law(str(tmp_path / "all.yaml"))[0] != base[0]


# --------------------------------------------------------------------------- extremes

EXTREMES = np.geomspace(1e6, 1e30, 25)


def test_the_law_is_finite_from_1e6_to_1e30() -> None:
    law = load_presets()["epoch-2024"].law
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        n, d = np.meshgrid(EXTREMES, EXTREMES)
        loss = predict_loss(law, n, d)
        alloc = optimal_allocation(law, EXTREMES)
        # replicate laws at the edges of the search box (exponents 10, coefficients e^300)
        edge = Law(np.array([1.8, np.exp(-25.0)]), np.array([np.exp(300.0), 1.0]),
                   np.array([1.0, np.exp(300.0)]), np.array([10.0, 0.05]),
                   np.array([0.05, 10.0])).as_column()
        edge_loss = predict_loss(edge, EXTREMES, EXTREMES)
        edge_alloc = optimal_allocation(edge, EXTREMES)
    assert np.isfinite(loss).all() and (loss > law.E).all()
    assert np.isfinite(edge_loss).all() and (edge_loss > 0).all()
    for a in (alloc, edge_alloc):
        assert np.isfinite(a.params).all() and np.isfinite(a.tokens).all()
        budgets = np.broadcast_to(EXTREMES, a.params.shape)
        np.testing.assert_allclose(6 * a.params * a.tokens, budgets, rtol=1e-9)
    assert (np.diff(alloc.params) > 0).all() and (np.diff(alloc.loss) < 0).all()


def test_the_cli_answers_at_1e6_and_1e30_flops() -> None:
    code, out, err = run("optimal", "--law", "epoch-2024", "-b", "1e6", "-b", "1e30", "-f",
                         "json")
    assert code == 0, err
    budgets = json.loads(out)["budgets"]
    assert [b["compute_flops"] for b in budgets] == [1e6, 1e30]
    assert all(b[k]["value"] > 0 for b in budgets for k in ("params", "tokens", "loss"))
    code, out, err = run("predict", "--law", "epoch-2024", "--params", "1e15", "--tokens",
                         "1e18", "-q", "--field", "loss")
    assert code == 0 and float(out) == pytest.approx(1.8172, rel=1e-2), err
    code, out, err = run("predict", "--law", "epoch-2024", "--params", "1e30", "--tokens",
                         "1e30")  # what a run log would refuse, a flag refuses too
    assert (code, out) == (2, "") and err == ("Error: --params: 1e+30 is implausibly large "
                                              "(from 1000 to 1e+15); check the units\n")


@pytest.mark.parametrize("budgets", [(1e26, 1e27, 1e28, 1e29, 1e30), (1e9, 1e10, 1e11, 1e12)],
                         ids=["1e26-1e30", "1e9-1e12"])
def test_the_fit_recovers_a_law_far_from_the_usual_scale(budgets: tuple[float, ...]) -> None:
    n, d, loss = synthetic_ladder(budgets=budgets)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_law(Data.from_arrays(n, d, loss))
    assert fit.verified
    np.testing.assert_allclose(fit.law.as_tuple(), (1.8, 400.0, 1800.0, 0.33, 0.36), rtol=1e-6)


def test_a_degenerate_replicate_does_not_warn() -> None:
    law = Law(np.array([1.8, 1.8]), np.array([400.0, 400.0]), np.array([1800.0, 1800.0]),
              np.array([0.33, 0.0]), np.array([0.36, 0.36])).as_column()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alloc = optimal_allocation(law, [1e24])
        loss = predict_loss(law, [1e9], [1e12])
    assert np.isfinite(alloc.params[0]).all()
    np.testing.assert_allclose(loss[:, 0], [1.8 + 400 / 1e9**0.33 + 1800 / 1e12**0.36,
                                            1.8 + 400 + 1800 / 1e12**0.36])


# --------------------------------------------------------------------------- unverifiable fits


def test_runs_that_cannot_identify_the_law_exit_2() -> None:
    code, out, err = run("optimal", FLAT, "-b", "1e22", "--bootstrap", "0")
    assert (code, out) == (2, "")
    assert err.startswith("Error: the fit's optimum could not be verified (")
    assert err.endswith("); the runs may not identify the law. Add runs over a wider range of "
                        "sizes and tokens, or pass --allow-unverified to see the unverified "
                        "fit\n")
    code, out, err = run("optimal", FLAT, "-b", "1e22", "--bootstrap", "0", "--allow-unverified")
    assert code == 0 and "NOT verified" in err


def test_a_fit_whose_starts_do_not_converge_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    original = scaling_cli.fit.search.polish

    def unconverged(*args: object, **kwargs: object) -> object:
        result = original(*args, **kwargs)  # type: ignore[arg-type]
        return dataclasses.replace(result, converged=np.zeros_like(result.converged))

    monkeypatch.setattr(scaling_cli.fit.search, "polish", unconverged)
    code, out, err = run("optimal", SAMPLE, "-b", "1e24", "--bootstrap", "0")
    assert (code, out) == (2, "")
    assert err.startswith("Error: the fit's optimum could not be verified (0 of 12 starts agree")


# --------------------------------------------------------------------------- fit files


@pytest.fixture(scope="module")
def fit_doc(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("fit") / "fit.json"
    code, _, err = run("fit", SAMPLE, "-o", str(out), "--bootstrap", "40", "-q")
    assert code == 0, err
    doc: dict = json.loads(out.read_text())
    return doc


def fit_file_error(tmp_path: Path, text: str) -> str:
    """The one-line error for ``text`` as a fit file (its path shown as FIT)."""
    path = tmp_path / "fit.json"
    path.write_text(text)
    code, out, err = run("optimal", "--fit", str(path), "-b", "1e24")
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    return err.removeprefix("Error: ").rstrip("\n").replace(str(path), "FIT")


def test_truncated_fit_file(tmp_path: Path, fit_doc: dict) -> None:
    text = json.dumps(fit_doc, indent=2)
    for cut in (1, len(text) // 3, len(text) - 2):
        message = fit_file_error(tmp_path, text[:cut])
        assert message.startswith("FIT: not a fit file (invalid JSON at line "), message
        assert message.endswith("); recreate it with `scaling fit RUNS -o FIT`")


def test_fit_file_with_a_missing_section(tmp_path: Path, fit_doc: dict) -> None:
    doc = {k: v for k, v in fit_doc.items() if k != "law"}
    message = fit_file_error(tmp_path, json.dumps(doc))
    assert message.startswith("FIT: corrupted fit file (")
    assert message.endswith("field 'law' is missing); recreate it with `scaling fit RUNS -o FIT`")


def test_fit_file_from_a_newer_version(tmp_path: Path, fit_doc: dict) -> None:
    doc = {**fit_doc, "schema_version": 2, "tool_version": "2.0.0"}
    assert fit_file_error(tmp_path, json.dumps(doc)) == (
        f"FIT: fit file format 2 was written by scaling-cli 2.0.0; this is "
        f"{fit_doc['tool_version']} (format 1): upgrade scaling-cli or refit")




def test_fit_file_with_wrong_replicate_shapes(tmp_path: Path, fit_doc: dict) -> None:
    # 5 rows of 8 numbers would silently be read as 8 rows of 5
    doc = {**fit_doc, "replicates": [[*row, 0.1, 0.2, 0.3] for row in fit_doc["replicates"][:5]]}
    assert fit_file_error(tmp_path, json.dumps(doc)) == (
        "FIT: corrupted fit file (field 'replicates[1]' has 8 values, expected 5); "
        "recreate it with `scaling fit RUNS -o FIT`")


def test_fit_file_with_runs_of_unequal_lengths(tmp_path: Path, fit_doc: dict) -> None:
    doc = {**fit_doc, "runs": {**fit_doc["runs"], "params": fit_doc["runs"]["params"][:-1]}}
    assert fit_file_error(tmp_path, json.dumps(doc)) == (
        "FIT: corrupted fit file (field 'runs.params' has 48 values, expected 49); "
        "recreate it with `scaling fit RUNS -o FIT`")


def test_fit_file_with_reordered_replicate_columns(tmp_path: Path, fit_doc: dict) -> None:
    doc = {**fit_doc, "replicate_columns": ["alpha", "beta", "log_E", "log_A", "log_B"]}
    assert fit_file_error(tmp_path, json.dumps(doc)) == (
        "FIT: corrupted fit file (field 'replicate_columns' is not log_E, log_A, log_B, alpha, "
        "beta); recreate it with `scaling fit RUNS -o FIT`")


@pytest.mark.parametrize("version", [True, "1", 0, 1.5])
def test_fit_file_with_a_version_that_is_not_a_version(tmp_path: Path, fit_doc: dict,
                                                       version: object) -> None:
    doc = {**fit_doc, "schema_version": version}
    assert fit_file_error(tmp_path, json.dumps(doc)) == (
        f"FIT: corrupted fit file (field 'schema_version' is {json.dumps(version)}, expected a "
        "whole number from 1); recreate it with `scaling fit RUNS -o FIT`")


def test_fit_file_with_impossible_replicates(tmp_path: Path, fit_doc: dict) -> None:
    reps = [[*row[:3], -1.0, row[4]] for row in fit_doc["replicates"]]  # alpha < 0
    assert fit_file_error(tmp_path, json.dumps({**fit_doc, "replicates": reps})) == (
        "FIT: corrupted fit file (field 'replicates[1].alpha' is -1.0, outside 0 to 10); "
        "recreate it with `scaling fit RUNS -o FIT`")


@pytest.mark.parametrize("text", ["[" * 100_000, '{"schema_version": ' + "9" * 5000 + "}"],
                         ids=["deep", "long-integer"])
def test_hostile_json_is_refused(tmp_path: Path, text: str) -> None:
    # json.loads raises RecursionError / ValueError here, not JSONDecodeError: a traceback
    message = fit_file_error(tmp_path, text)
    assert message.startswith("FIT: not a fit file (invalid JSON: ")
    assert message.endswith("); recreate it with `scaling fit RUNS -o FIT`")
