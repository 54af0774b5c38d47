"""An unknown `--field` is refused before any work, with the message rendering gave: every
command that takes `--field` knows its document's names up front (render.fields.columns),
and those names are the ones its real documents have (so none accepted before is refused)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
from typer.testing import CliRunner

from scaling_cli.cli import app

from .conftest import ROOT, sweep_rows
from .test_curve_cli import QUESTION, table
from .test_decide_cli import write_ladder

SAMPLE = str(ROOT / "sample_runs")
EPOCH = ["--law", "epoch-2024"]
NO_BOOT = ["--bootstrap", "0"]
REFUSED = "Error: --field: 'nope': no such field; choose one of "


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Run logs for the commands that need more than sample_runs/ or a published law."""
    root = tmp_path_factory.mktemp("inputs")
    rows = sweep_rows()
    (root / "sweep.csv").write_text("\n".join(rows) + "\n")
    code, _, err = invoke("fit", *EPOCH, "-o", str(root / "fit.json"), "-q")
    assert code == 0, err
    return {"sweep": str(root / "sweep.csv"), "fit": str(root / "fit.json"),
            "base": write_ladder(root / "base.csv", seed=1),
            "variant": write_ladder(root / "variant.csv", seed=2, A=380.0, B=1700.0),
            "curves": table(root / "curves.csv")}


# Every command that takes --field, once per kind of document it can answer with, and again
# with the options that add sections or change the law's source (its names must not move).
COMMANDS: dict[str, Callable[[dict[str, str]], list[str]]] = {
    "fit law": lambda i: ["fit", *EPOCH],
    "fit runs": lambda i: ["fit", SAMPLE, *NO_BOOT],
    "fit fit-file": lambda i: ["fit", "--fit", i["fit"]],
    "fit compare": lambda i: ["fit", SAMPLE, *NO_BOOT, "--compare", "-b", "1e22"],
    "predict": lambda i: ["predict", *EPOCH, "-N", "7B", "-D", "1T"],
    "predict unique": lambda i: ["predict", SAMPLE, *NO_BOOT, "-N", "7B", "-D", "1T",
                                 "--unique-tokens", "100B"],
    "backtest": lambda i: ["backtest", SAMPLE, *NO_BOOT, "--holdout-largest", "7"],
    "optimal": lambda i: ["optimal", *EPOCH, "-b", "1e24"],
    "optimal sections": lambda i: ["optimal", "--fit", i["fit"], "-b", "1e24", "--band", "0",
                                   "--gpu", "h100", "--unique-tokens", "1T"],
    "optimal hparams": lambda i: ["optimal", *EPOCH, "-b", "1e24", "--hparams",
                                  "step-law-2025"],
    "optimal fixed size": lambda i: ["optimal", *EPOCH, "-b", "1e24", "-N", "7B", "--gpu",
                                     "h100"],
    "target": lambda i: ["target", *EPOCH, "-L", "2.1"],
    "target inference": lambda i: ["target", *EPOCH, "-L", "2.1", "-L", "1.0",
                                   "--inference-tokens", "2T", "--gpu", "h100"],
    "check": lambda i: ["check", str(ROOT / "configs" / "example_plan.yaml"), *EPOCH],
    "check runs": lambda i: ["check", "--runs", SAMPLE, *NO_BOOT, "-N", "7B", "-D", "1T",
                             "--max-loss", "3"],
    "compare": lambda i: ["compare", i["base"], i["variant"], *NO_BOOT, "-b", "1e21"],
    "compare pinned": lambda i: ["compare", i["base"], i["variant"], *NO_BOOT, "-b", "1e21",
                                 "--mode", "pinned"],
    "hparams law": lambda i: ["hparams", "--law", "step-law-2025"],
    "hparams law at a size": lambda i: ["hparams", "--law", "step-law-2025", "-N", "7B",
                                        "-D", "1T"],
    "hparams sweep": lambda i: ["hparams", i["sweep"], *NO_BOOT],
    "hparams sweep at a size": lambda i: ["hparams", i["sweep"], *NO_BOOT, "-N", "1B", "-D",
                                          "20B"],
    "shape near a size": lambda i: ["shape", "--params", "7B"],
    "shape law": lambda i: ["shape", *EPOCH, "-b", "1e24"],
    "curve": lambda i: ["curve", i["curves"], *QUESTION],
    "curve every": lambda i: ["curve", i["curves"], *QUESTION, "--every", "2000"],
    "curve multi-power": lambda i: ["curve", i["curves"], *QUESTION, "--curve-law",
                                    "multi-power"],
}


def forbid_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way a command reads, fits or answers made to fail loudly; the list names each
    one that was called."""
    import scaling_cli.cli.curve
    import scaling_cli.cli.decide
    import scaling_cli.cli.options
    import scaling_cli.cli.plan
    import scaling_cli.forecast.hparams
    import scaling_cli.forecast.shapes
    import scaling_cli.read.sweeps

    calls: list[str] = []

    def refuse(name: str) -> Callable[..., NoReturn]:
        def work(*args: Any, **kwargs: Any) -> NoReturn:
            calls.append(name)
            raise AssertionError(f"{name} ran")
        return work

    for owner, name in [
        (scaling_cli.cli.options.LawRequest, "model"),  # a fit, a fit file or a preset
        (scaling_cli.cli.options.LawRequest, "runs"),  # reading run logs
        (scaling_cli.cli.decide, "variant_fit"), (scaling_cli.cli.plan, "variant_fit"),
        (scaling_cli.read.sweeps, "read_sweeps"),
        (scaling_cli.forecast.hparams, "load_hparam_presets"),
        (scaling_cli.forecast.shapes, "shape_plan"),
        (scaling_cli.cli.curve, "_read"),
    ]:
        monkeypatch.setattr(owner, name, refuse(name))
    return calls


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return forbid_work(monkeypatch)


# --------------------------------------------------------------------------- 1. at once


def test_a_misspelt_field_is_refused_before_the_runs_are_read_or_fitted(
        tmp_path: Path, no_work: list[str]) -> None:
    output = tmp_path / "fit.json"
    code, out, err = invoke("fit", SAMPLE, "-q", "--field", "nope", "-o", str(output))
    law = [f"{name}{end}" for name in ("E", "A", "B", "alpha", "beta")
           for end in ("", "_low", "_high", "_total_low", "_total_high")]
    assert (code, out, err) == (2, "", REFUSED + ", ".join([*law, "warnings"]) + "\n")
    assert no_work == [] and not output.exists()


def test_the_first_unknown_of_several_fields_is_named(no_work: list[str]) -> None:
    code, out, err = invoke("optimal", SAMPLE, "-b", "1e24", "-q", "--field", "params",
                            "--field", "tokns", "--field", "nope")
    assert code == 2 and out == "" and no_work == []
    assert err.startswith("Error: --field: 'tokns': no such field; choose one of "
                          "compute_flops, params, params_low, ")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_an_unknown_field_before_any_work(
        command: str, no_work: list[str], inputs: dict[str, str]) -> None:
    code, out, err = invoke(*COMMANDS[command](inputs), "-q", "--field", "nope")
    assert (code, out, no_work) == (2, "", [])
    assert err.startswith(REFUSED) and err.count("\n") == 1, err


def test_a_known_field_goes_on_to_the_work(no_work: list[str]) -> None:
    with pytest.raises(AssertionError, match="model ran"):
        invoke("optimal", SAMPLE, "-b", "1e24", "-q", "--field", "params")
    assert no_work == ["model"]


# --------------------------------------------------------------------------- 2. no drift


def real_columns(args: list[str]) -> list[str]:
    """The names the command's real document has: its CSV header (the same records
    ``--field`` reads, so the names rendering accepts)."""
    code, out, err = invoke(*args, "-f", "csv")
    assert code == 0, err
    return next(csv.reader(io.StringIO(out)), [])


@pytest.mark.parametrize("command", COMMANDS)
def test_the_names_known_up_front_are_the_real_documents_names(
        command: str, inputs: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Every name a real document has is accepted up front (none that worked before is
    # refused now), and the refusal lists exactly them, as rendering the document did.
    args = COMMANDS[command](inputs)
    real = real_columns(args)
    calls = forbid_work(monkeypatch)
    assert invoke(*args, "-q", "--field", "nope") == (2, "", REFUSED + ", ".join(real) + "\n")
    assert calls == []
    if real:  # all of them at once: past the check, on to the work
        with pytest.raises(AssertionError, match=" ran"):
            invoke(*args, "-q", *(x for name in real for x in ("--field", name)))
        assert len(calls) == 1


def test_valid_fields_print_what_they_printed() -> None:
    args = ["optimal", SAMPLE, *NO_BOOT, "-b", "1e22", "-b", "1e24", "--gpu", "h100"]
    names = ["params", "tokens_per_param", "reach_compute_flops", "cost_gpu_hours", "E",
             "band_params_smallest", "warnings"]
    rows = list(csv.DictReader(io.StringIO(invoke(*args, "-f", "csv")[1])))
    code, out, err = invoke(*args, "-q", *(x for name in names for x in ("--field", name)))
    assert code == 0, err
    assert out.splitlines() == ["\t".join(row[name] for name in names) for row in rows]
