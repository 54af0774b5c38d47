"""Every command through typer's CliRunner: outputs, fields, fit files, errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scaling_cli.cli import app

from .conftest import ROOT, shared_csv

SAMPLE = str(ROOT / "sample_runs")
FAST = ["--bootstrap", "200"]


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def optimal_json() -> dict:
    code, out, _ = run("optimal", SAMPLE, "--budget", "1e24", "--format", "json", *FAST)
    assert code == 0
    return json.loads(out)


def test_optimal_table_names_every_quantity_and_unit() -> None:
    code, out, err = run("optimal", SAMPLE, "--budget", "1e24", *FAST)
    assert code == 0, err
    for text in ("law fitted to 49 runs, 1 excluded", "C = 6 * N * D", "95% interval",
                 "verified optimum", "200 bootstrap replicates by run", "nats/token"):
        assert text in out, text
    # the allocation table's headers, broken over lines by hand
    header = out[out.index("Compute-optimal allocation"):]
    header = "\n".join(header.splitlines()[1:4])
    for word in ("budget", "(FLOPs)", "params", "N*", "tokens", "D*", "tokens/", "param",
                 "loss", "(nats/token)", "sizes within", "0.5% of best"):
        assert word in header, header


def test_optimal_table_keeps_every_value_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever the terminal says its width is, no value is cut or wrapped: the text is the
    # same on a terminal, in a pipe and in a file (the widest table stays within 100 columns).
    monkeypatch.setenv("COLUMNS", "40")
    code, out, err = run("optimal", SAMPLE, "--budget", "1e22", "--budget", "1e24", *FAST)
    assert code == 0, err
    table = out[out.index("Compute-optimal allocation"):out.index("fit (approach3)")]
    assert "…" not in table  # no header or value cut short
    assert all(len(line) <= 100 for line in table.splitlines())
    assert not any(line.rstrip().endswith("–") for line in table.splitlines())  # nor a range
    assert "1e24" in table and "C 998x" in table  # the reach beyond the runs, per budget


def test_optimal_json_schema(optimal_json: dict) -> None:
    doc = optimal_json
    assert doc["schema"] == "scaling-cli/optimal" and doc["schema_version"] == 1
    assert set(doc) >= {"tool_version", "law_source", "convention", "confidence", "inputs",
                        "fit", "bootstrap", "law", "budgets", "warnings"}
    assert doc["convention"] == {"flops_per_param_token": 6.0, "formula": "C = 6 * N * D"}
    assert doc["inputs"]["runs_used"] == 49 and doc["inputs"]["runs_excluded"] == 1
    assert len(doc["inputs"]["sha256"]) == 64
    assert doc["bootstrap"]["replicates"] == 200 and doc["bootstrap"]["seed"] == 0
    assert doc["fit"]["verified"] is True
    b = doc["budgets"][0]
    assert b["compute_flops"] == 1e24
    for name, units in (("params", "parameters"), ("tokens", "tokens"),
                        ("tokens_per_param", "tokens/parameter"), ("loss", "nats/token")):
        assert b[name]["units"] == units
        assert b[name]["low"] < b[name]["value"] < b[name]["high"]
    assert 6 * b["params"]["value"] * b["tokens"]["value"] == pytest.approx(1e24)
    assert set(doc["law"]) == {"E", "A", "B", "alpha", "beta"}


def test_synthetic_truth_is_inside_the_intervals(optimal_json: dict) -> None:
    # sample_runs/ come from L = 1.85 + 520/N^0.34 + 1900/D^0.36 (scripts/make_sample_runs.py)
    b = optimal_json["budgets"][0]
    assert b["params"]["low"] < 1.268e11 < b["params"]["high"]
    assert b["tokens"]["low"] < 1.314e12 < b["tokens"]["high"]


def test_quiet_field_prints_one_bare_number(optimal_json: dict) -> None:
    code, out, err = run("optimal", SAMPLE, "--budget", "1e24", "-q", "--field", "params", *FAST)
    assert code == 0 and err == ""
    assert float(out) == optimal_json["budgets"][0]["params"]["value"]
    assert out.count("\n") == 1
    code, out, _ = run("optimal", "--law", "epoch-2024", "-b", "1e22", "-b", "1e24", "-q",
                       "--field", "tokens")
    assert code == 0 and len(out.split()) == 2


def test_csv_output_has_intervals() -> None:
    code, out, _ = run("optimal", SAMPLE, "-b", "1e23", "-f", "csv", *FAST)
    assert code == 0
    header, row = out.strip().split("\n")
    assert header.startswith("compute_flops,params,params_low,params_high,params_total_low,"
                             "params_total_high,tokens")
    assert row.startswith("1e+23,")


def test_same_inputs_and_seed_give_byte_identical_json() -> None:
    args = ("optimal", SAMPLE, "-b", "1e24", "-f", "json", "--seed", "7", *FAST)
    first, second = run(*args), run(*args)
    assert first[1] == second[1]
    other = run("optimal", SAMPLE, "-b", "1e24", "-f", "json", "--seed", "8", *FAST)
    assert other[1] != first[1]


def test_fit_file_round_trip(tmp_path: Path, optimal_json: dict) -> None:
    fit_file = tmp_path / "fit.json"
    code, out, _ = run("fit", SAMPLE, "-o", str(fit_file), *FAST)
    assert code == 0 and "Fitted law" in out
    doc = json.loads(fit_file.read_text())
    assert doc["schema"] == "scaling-cli/fit" and len(doc["replicates"]) == 200
    code, out, _ = run("optimal", "--fit", str(fit_file), "-b", "1e24", "-f", "json")
    assert code == 0
    again = json.loads(out)
    assert again["budgets"] == optimal_json["budgets"]
    assert again["law_source"] == f"fit-file:{fit_file}"


def test_fit_file_of_the_tied_form_reads_back(tmp_path: Path) -> None:
    """A tied fit's flattest direction is labelled alpha=beta: its fit file must read back
    (it did not: the reader knew only the five free names)."""
    fit_file = tmp_path / "tied.json"
    code, _, err = run("fit", SAMPLE, "--form", "tied", "-o", str(fit_file), *FAST)
    assert code == 0, err
    assert "alpha=beta" in json.loads(fit_file.read_text())["fit"]["flat_direction"]
    code, out, err = run("optimal", "--fit", str(fit_file), "-b", "1e24", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["law"]["alpha"]["value"] == json.loads(out)["law"]["beta"]["value"]


def test_predict_with_interval() -> None:
    code, out, _ = run("predict", SAMPLE, "--params", "70B", "--tokens", "1.4T", "-f", "json",
                       *FAST)
    p = json.loads(out)["predictions"][0]
    assert code == 0 and p["params"] == 7e10 and p["tokens"] == 1.4e12
    assert p["loss"]["low"] < p["loss"]["value"] < p["loss"]["high"]
    true = 1.85 + 520 / 7e10**0.34 + 1900 / 1.4e12**0.36
    assert p["loss"]["low"] < true < p["loss"]["high"]


def test_presets_answer_without_runs() -> None:
    code, out, _ = run("optimal", "--law", "hoffmann-2022", "-b", "5.76e23", "-q", "--field",
                       "tokens_per_param")
    assert code == 0 and float(out) == pytest.approx(92.6, abs=0.5)
    code, out, _ = run("laws")
    assert code == 0 and "epoch-2024" in out and "arXiv:2404.10102" in out


def test_schema_command() -> None:
    code, out, _ = run("schema", "-f", "json")
    names = [f["name"] for f in json.loads(out)["fields"]]
    assert code == 0 and names[:4] == ["id", "params", "tokens", "loss"]
    code, out, _ = run("schema")
    assert "exclude_reason" in out and "runs:" in out


def test_stdin() -> None:
    text = (ROOT / "sample_runs" / "isoflop_1e19.yaml").read_text() + "---\n" + (
        ROOT / "sample_runs" / "isoflop_1e20.yaml").read_text() + "---\n" + (
        ROOT / "sample_runs" / "isoflop_1e21.yaml").read_text()
    code, out, err = run("optimal", "-", "-b", "1e22", "-q", "--field", "params", *FAST,
                         input=text)
    assert code == 0, err
    assert float(out) > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimal", "-b", "1e24"],
         "Error: give run logs (RUNS), a fit file (--fit FILE) or a published law "
         "(--law NAME)\n"),
        (["optimal", SAMPLE, "--law", "epoch-2024", "-b", "1e24"],
         "Error: --law and RUNS cannot be combined; give only one\n"),
        (["optimal", "--law", "nope", "-b", "1e24"],
         "Error: --law: 'nope': unknown law; choose one of epoch-2024, hoffmann-2022, "
         "hoffmann-2022-unrounded (see `scaling laws`)\n"),
        (["optimal", "--law", "epoch-2024", "-b", "1e24pflops"],
         "Error: --budget: '1e24pflops': unknown unit; write a budget as 1e24 (FLOPs), "
         "2e6gpu-hours, 30days, 5e6usd or $5M\n"),
        (["optimal", "--law", "epoch-2024"], "Error: --budget is required, e.g. --budget 1e24\n"),
        (["optimal", "--law", "epoch-2024", "-b", "1e24", "--confidence", "95"],
         "Error: --confidence: '95' must be between 0 and 1, e.g. 0.95\n"),
        (["optimal", "nope/", "-b", "1e24"], "Error: nope/: no such file or directory\n"),
        (["optimal", SAMPLE, "-b", "1e24", "--seed", "-3"],
         "Error: --seed: -3 is out of range; give a whole number from 0 to 2**63 - 1\n"),
        (["optimal", SAMPLE, "-b", "1e24", "--bootstrap", "1e9"],  # once a 37 GiB MemoryError
         "Error: --bootstrap: 1,000,000,000 is over the limit of 100,000 replicates; 1,000 "
         "(the default) is enough for 95% intervals\n"),
        (["optimal", SAMPLE, "-b", "1e24", "--bootstrap", "1"],  # once an interval without
         "Error: --bootstrap: 1 is too few for an interval (at least 40); give 0 for no "
         "intervals, or 1,000 (the default)\n"),  # its own point
        (["optimal", "--law", "epoch-2024", "-b", "1e24", "--bootstrap", "200"],
         "Error: --bootstrap shapes a fit of run logs; with --law nothing is refitted, so it "
         "would change nothing: drop it\n"),
        (["optimal", SAMPLE, "-b", "1e24", "--bootstrap", "1.5"],
         "Error: --bootstrap: '1.5' is not a whole number\n"),
        (["optimal", "--law", "epoch-2024", "-b", "1e24", "-q", "--field", "params_low"],
         "Error: --field: params_low: no value here (intervals need bootstrap replicates, "
         "which a published law does not have; unreachable targets and unknown costs have "
         "none either)\n"),
    ],
)
def test_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert (code, out, err) == (2, "", message)


def test_too_few_runs_to_identify_the_law(tmp_path: Path) -> None:
    p = tmp_path / "few.yaml"
    p.write_text("runs:\n" + "".join(
        f"  - {{id: r{i}, params: {m}M, tokens: 2B, loss: {3 - i / 10}}}\n"
        for i, m in enumerate([10, 20, 40, 80, 160, 320, 640, 900, 1000])))
    code, _, err = run("optimal", str(p), "-b", "1e22")
    assert code == 2
    assert err == ("Error: too few runs to identify the law: 9 runs, 9 sizes, 1 token counts, "
                   "9 tokens/param ratios; 5 free parameters need 6 runs, 3 sizes, 3 token "
                   "counts, 2 ratios (add runs, tie the exponents with --tie-exponents, or use a "
                   "published --law)\n")


def test_a_tied_law_on_five_runs_is_fitted_with_a_warning(tmp_path: Path) -> None:
    # The design a published over-training study fits with: 4 free parameters, 5 runs with
    # distinct sizes and tokens per parameter (once refused: "need at least 7 runs").
    p = tmp_path / "five.yaml"
    n = [20e6, 60e6, 150e6, 400e6, 1e9]
    d = [0.4e9, 2.4e9, 6e9, 32e9, 20e9]
    loss = [1.8 + 400 / x**0.33 + 1800 / y**0.33 for x, y in zip(n, d, strict=True)]
    p.write_text("runs:\n" + "".join(
        f"  - {{id: r{i}, params: {x!r}, tokens: {y!r}, loss: {z!r}}}\n"
        for i, (x, y, z) in enumerate(zip(n, d, loss, strict=True))))
    code, out, err = run("predict", str(p), "--tie-exponents", "-N", "7B", "-D", "140B",
                         "-f", "json", *FAST)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["fit"]["constraints"]["tied_exponents"] is True
    assert any("only 5 runs for 4 free parameters" in w for w in doc["warnings"])
    prediction = doc["predictions"][0]["loss"]
    assert prediction["total_low"] < prediction["value"] < prediction["total_high"]


def test_bad_fit_files(tmp_path: Path) -> None:
    bad = tmp_path / "fit.json"
    bad.write_text("{not json")
    code, _, err = run("optimal", "--fit", str(bad), "-b", "1e24")
    assert code == 2 and err == (f"Error: {bad}: not a fit file (invalid JSON at line 1: "
                                 f"Expecting property name enclosed in double quotes); "
                                 f"recreate it with `scaling fit RUNS -o {bad}`\n")
    bad.write_text(json.dumps({"schema": "scaling-cli/fit", "schema_version": 99,
                               "tool_version": "9.0"}))
    code, _, err = run("optimal", "--fit", str(bad), "-b", "1e24")
    assert code == 2 and "fit file format 99 was written by scaling-cli 9.0;" in err


def test_help_documents_every_command_with_an_example() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert len(app.registered_commands) >= 5
    for command in app.registered_commands:
        doc, name = command.callback.__doc__, command.callback.__name__
        assert doc and "Example: scaling" in doc, name
        assert name in out


def test_epoch_csv_through_the_cli() -> None:
    path = shared_csv("chinchilla_epoch_svg.csv")
    code, out, err = run("optimal", str(path), "--where", "epoch_default_fit==1", "-b", "1e24",
                         "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    b = doc["budgets"][0]
    assert doc["inputs"]["runs_used"] == 240
    assert b["params"]["value"] == pytest.approx(9.7e10, rel=0.02)
    assert b["tokens"]["value"] == pytest.approx(1.7e12, rel=0.03)
    assert b["tokens_per_param"]["value"] == pytest.approx(17.7, abs=0.2)


def test_the_form_is_chosen_on_held_out_runs_and_can_be_forced() -> None:
    code, out, err = run("fit", SAMPLE, "--bootstrap", "0", "-f", "json")
    assert code == 0, err
    form = json.loads(out)["form"]
    assert form["form"] == "full" and form["alternative"] == "tied"
    assert form["reason"].startswith("lower out-of-sample error on 5 held-out folds")
    rmse = {s["form"]: s["rms_log_error"] for s in form["scores"]}
    assert rmse["full"] < rmse["tied"]
    code, out, err = run("fit", SAMPLE, "--bootstrap", "0", "--form", "tied", "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["form"]["form"] == "tied" and doc["form"]["reason"] == "the form asked for"
    assert doc["law"]["alpha"] == doc["law"]["beta"]


@pytest.mark.parametrize(("args", "message"), [
    (("--form", "cubic"), "Error: --form: 'cubic' is not a form; choose auto, full or tied\n"),
    (("--law", "epoch-2024", "--form", "tied"),
     "Error: --form shapes a fit of run logs; with --law nothing is refitted, so it would "
     "change nothing: drop it\n"),
])
def test_a_form_that_cannot_apply_is_refused(args: tuple[str, ...], message: str) -> None:
    runs = () if "--law" in args else (SAMPLE,)
    code, _, err = run("optimal", *runs, "-b", "1e23", *args)
    assert code == 2 and err == message


def test_the_laws_listing_reads_in_80_columns() -> None:
    code, out, _ = run("laws")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    for name in ("epoch-2024", "hoffmann-2022", "hoffmann-2022-unrounded"):
        assert f"\n{name} " in out and f"\n{name}:\n" in out  # whole, in the table and notes


def test_the_entry_point_builds_only_the_command_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    """`main` hands Typer an app holding just the command named first (building all 14
    commands' options cost ~30 ms of every run); anything else gets the whole app, and a
    command behaves the same either way."""
    from scaling_cli.cli.base import _app_for

    for argv in ([], ["--help"], ["-V"], ["fitt", "runs/"], ["--version", "fit"]):
        assert _app_for(argv) is app
    one = _app_for(["optimal", "--law", "epoch-2024", "-b", "1e24"])
    assert [c.callback.__name__ for c in one.registered_commands] == ["optimal"]
    assert len(app.registered_commands) == 14  # the whole app is left as it was
    for argv in (["optimal", "--law", "epoch-2024", "-b", "1e24"], ["fit", "-h"],
                 ["laws", "--format", "json"], ["optimal", "--bogus"]):
        alone = CliRunner().invoke(one if argv[0] == "optimal" else _app_for(argv), argv)
        whole = CliRunner().invoke(app, argv)
        assert (alone.exit_code, alone.stdout, alone.stderr) == (
            whole.exit_code, whole.stdout, whole.stderr), argv
    monkeypatch.setenv("_SCALING_COMPLETE", "complete_bash")  # shell completion: every command
    assert _app_for(["fit"]) is app


def test_fitting_a_run_table_loads_no_log_readers_nor_plan_and_answer_modules(
        tmp_path: Path) -> None:
    """`scaling fit TABLE.csv` as typed imports neither the training-log readers (no log
    option given) nor the plan, hardware and answer modules (a fit document needs none)."""
    import subprocess
    import sys

    rows = ["id,params,tokens,loss"]
    for i, n in enumerate([2e7, 5e7, 1.2e8, 3e8]):
        for j, ratio in enumerate([5, 20, 80]):
            d = n * ratio
            rows.append(f"r{i}{j},{n:g},{d:g},{1.8 + 400 / n**0.33 + 1800 / d**0.36:.6f}")
    table = tmp_path / "runs.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    heavy = ("yaml", "scaling_cli.read.logs.reader", "scaling_cli.read.logs.hf_trainer",
             "scaling_cli.read.logs.series", "scaling_cli.read.logs.curves",
             "scaling_cli.read.logs.wandb",
             "scaling_cli.read.logs.jsonl", "scaling_cli.read.logs.sizes",
             "scaling_cli.read.hardware", "scaling_cli.read.presets",
             "scaling_cli.read.planfile", "scaling_cli.forecast.answers",
             "scaling_cli.forecast.costs")
    code = ("import sys\n"
            f"sys.argv = ['scaling', 'fit', {str(table)!r}, '--bootstrap', '0', '-q']\n"
            "from scaling_cli.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=120)
    assert "E" in done.stdout and done.stdout.strip().splitlines()[-1] == "[]", done.stderr
