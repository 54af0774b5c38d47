"""Training logs through ``load_runs``: logs and run tables in one folder become one RunSet,
validated like any run table; ``skip_invalid`` names every run left out; ``--where`` tests a
logged run's reduced record; the training-log settings refuse to be given in vain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scaling_cli.errors import InputError, UsageError
from scaling_cli.read import sources
from scaling_cli.read.logs import LogSettings, Reduction, Skipped
from scaling_cli.read.runs import load_runs

from .conftest import ROOT
from .logwriters import write_csv, write_events, write_jsonl, write_state

PYTHIA_70M = {"model_type": "gpt_neox", "hidden_size": 512, "num_hidden_layers": 6,
              "intermediate_size": 2048, "num_attention_heads": 8, "vocab_size": 50304,
              "tie_word_embeddings": False}
SUMMARY = ["Name", "State", "Notes", "Runtime", "_step", "train/loss", "train/tokens",
           "model/num_parameters"]


def curve(n: int = 4, *, loss0: float = 3.5, params: float | None = 70e6,
          **extra: Any) -> list[dict[str, Any]]:
    """A JSON Lines curve: steps 100..n*100, 2**20 tokens a step, the size on line 1."""
    rows: list[dict[str, Any]] = [{"step": s, "loss": loss0 - s / 1e4, "tokens": s * 2**20,
                                   "lr": 3e-4, **extra} for s in range(100, 100 * n + 1, 100)]
    if params is not None:
        rows[0]["n_params"] = params
    return rows


def hf_history(steps: int = 400) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = [
        {"loss": 3.4 - s / 1e4, "step": s, "num_input_tokens_seen": s * 2**20,
         "learning_rate": 1e-4, "grad_norm": 1.0, "epoch": s / steps}
        for s in range(100, steps + 1, 100)]
    history.append({"train_loss": 3.33, "step": steps, "epoch": 1.0})
    return history


def mixed_folder(root: Path) -> Path:
    """Four runs four ways: JSON Lines, a trainer_state.json (with a checkpoint), a W&B
    Runs-table export and a YAML run table."""
    logs = root / "logs"
    write_jsonl(logs / "r-70M.jsonl", curve())
    write_state(logs / "r-pythia" / "checkpoint-200", hf_history(200), global_step=200,
                max_steps=400, config=PYTHIA_70M)
    write_state(logs / "r-pythia", hf_history(), global_step=400, max_steps=400,
                config=PYTHIA_70M)
    write_csv(logs / "wandb_export.csv", SUMMARY,
              [["r-410M", "finished", "-", 3600, 999, 2.875, 2**31, 410_000_000]])
    (logs / "table.yaml").write_text("id: r-1B\nparams: 1B\ntokens: 4e9\nloss: 2.7\n")
    return logs


def test_logs_and_tables_in_one_folder_are_one_run_set(tmp_path: Path) -> None:
    logs = mixed_folder(tmp_path)
    runs = load_runs([str(logs)])
    got = [(r.run_id, r.params, r.tokens, r.loss, r.position) for r in runs.runs]
    assert got == [
        ("r-1B", 1e9, 4e9, 2.7, "run 1"),
        ("r-410M", 410e6, 2**31, 2.875, "line 2"),
        ("r-70M", 70e6, 400 * 2**20, 3.5 - 0.04, "line 4"),
        ("r-pythia", 70_426_624, 400 * 2**20, 3.4 - 0.04, "log_history entry 4"),
    ]
    assert runs.runs[3].non_embedding_params == 70_426_624 - 2 * 50304 * 512
    # the files the runs came from (the checkpoint's state was read, but is not a run)
    assert runs.sources == tuple(str(logs / f) for f in (
        "r-70M.jsonl", "r-pythia/trainer_state.json", "table.yaml", "wandb_export.csv"))
    assert runs.skipped == () and runs.warnings == ()


def test_the_runs_of_logs_equal_the_hand_made_table(tmp_path: Path) -> None:
    logs = mixed_folder(tmp_path)
    table = tmp_path / "table.yaml"
    table.write_text(
        "runs:\n"
        "  - {id: r-1B, params: 1B, tokens: 4e9, loss: 2.7}\n"
        "  - {id: r-410M, params: 410M, tokens: 2147483648, loss: 2.875}\n"
        f"  - {{id: r-70M, params: 70M, tokens: {400 * 2**20}, loss: {3.5 - 0.04!r}}}\n"
        f"  - {{id: r-pythia, params: 70426624, tokens: {400 * 2**20}, loss: {3.4 - 0.04!r},"
        f" non_embedding_params: {70_426_624 - 2 * 50304 * 512}}}\n")
    from_logs, by_hand = load_runs([str(logs)]), load_runs([str(table)])
    assert from_logs.sha256 == by_hand.sha256  # the same runs, to the last bit
    assert from_logs.columns(6.0).ids == by_hand.columns(6.0).ids


def test_skip_invalid_names_every_run_left_out(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_jsonl(logs / "good.jsonl", curve())
    nan = curve()
    nan[2]["loss"] = float("nan")
    write_jsonl(logs / "diverged.jsonl", nan)
    write_jsonl(logs / "sizeless.jsonl", curve(params=None))
    write_csv(logs / "table.csv", ["id", "params", "tokens", "loss"],
              [["t1", "70M", "1B", "3.0"], ["t2", "70M", "1B", ""], ["", "70M", "1B", "3"]])
    write_csv(logs / "wandb.csv", SUMMARY,
              [["crashed", "crashed", "-", 60, 12, 4.1, 2**24, 160_000_000]])
    with pytest.raises(InputError) as info:
        load_runs([str(logs)])
    first = str(info.value)
    runs = load_runs([str(logs)], skip_invalid=True)
    assert [r.run_id for r in runs.runs] == ["good", "t1"]
    d, s, t, w = (str(logs / f) for f in ("diverged.jsonl", "sizeless.jsonl", "table.csv",
                                          "wandb.csv"))
    assert runs.skipped == (  # in file order
        Skipped("diverged", d, f"{d}: line 3 (id 'diverged'): field 'loss': is NaN; give a "
                               "finite number (drop or exclude the run if it diverged)"),
        Skipped("sizeless", s, f"{s} (id 'sizeless'): no parameter count; give it with "
                               "--log-params (one run) or --params-file (run -> params), or "
                               "put a config.json beside a trainer_state.json"),
        Skipped("t2", t, f"{t}: line 3 (id 't2'): field 'loss' is empty; fill in the cell or "
                         "delete the row"),
        Skipped("", t, f"{t}: line 4: field 'id' is missing; give each run a unique `id:`"),
        Skipped("crashed", w, f"{w}: line 2 (id 'crashed'): State is 'crashed', not "
                              "'finished'; its summary is not a finished run's final loss: "
                              "delete the row, or skip it with --skip-invalid"),
    )
    assert first == runs.skipped[2].reason  # without it: the first problem (tables first)
    assert runs.warnings == (f"5 runs left out by --skip-invalid: 'diverged', 'sizeless', "
                             f"'t2', {t}, 'crashed'",)
    for skipped in runs.skipped:  # every reason names its file, and its run where it has one
        assert skipped.reason.startswith(skipped.source)
        assert not skipped.run_id or f"(id '{skipped.run_id}')" in skipped.reason


def test_when_every_run_is_skipped(tmp_path: Path) -> None:
    nan = curve()
    nan[0]["loss"] = float("nan")
    p = write_jsonl(tmp_path / "r.jsonl", nan)
    with pytest.raises(InputError) as info:
        load_runs([p], skip_invalid=True)
    assert str(info.value) == (
        f"no runs left: all 1 were skipped as invalid; the first: {p}: line 1 (id 'r'): field "
        "'loss': is NaN; give a finite number (drop or exclude the run if it diverged)")


def test_where_tests_the_fields_of_a_logged_runs_record(tmp_path: Path) -> None:
    logs = mixed_folder(tmp_path)
    kept = load_runs([str(logs)], where=["params>=100M", "loss<2.8"])
    assert [r.run_id for r in kept.runs] == ["r-1B"]
    assert [r.run_id for r in load_runs([str(logs / "r-70M.jsonl")],
                                        where=["id==r-70M"]).runs] == ["r-70M"]
    with pytest.raises(InputError) as info:  # a log's own keys are not a run's fields
        load_runs([str(logs / "r-70M.jsonl")], where=["lr==3e-4"])
    assert str(info.value) == (
        "--where 'lr==3e-4': no run has a field or meta key 'lr'; check the spelling (fields "
        "are id, params, tokens, loss, flops, group, non_embedding_params, unique_tokens, tags, "
        "exclude, exclude_reason, meta)")


def test_a_run_in_a_log_and_in_a_table_is_a_duplicate(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "r-70M.jsonl", curve())
    table = tmp_path / "t.yaml"
    table.write_text(f"id: r-70M\nparams: 70M\ntokens: {400 * 2**20}\nloss: 3.47\n")
    with pytest.raises(InputError) as info:  # run tables are read first, then logs
        load_runs([p, str(table)])
    assert str(info.value) == (
        f"{p}: line 4 (id 'r-70M'): duplicate run id, conflicting with {table}: run 1: field "
        "'loss' is 3.46 here and 3.47 there; rename one run or delete the wrong one")


def test_several_token_counts_are_checkpoints_of_one_group(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "r.jsonl", curve(8))
    runs = load_runs([p], logs=LogSettings(reduce=Reduction.parse("at:200M,400M,800M")))
    assert [(r.run_id, r.group, r.tokens) for r in runs.runs] == [
        ("r@200M", "r", 2e8), ("r@400M", "r", 4e8), ("r@800M", "r", 8e8)]
    assert runs.columns(6.0).groups == ("r", "r", "r")  # the bootstrap resamples the run
    assert runs.runs[0].position == "lines 1-2"  # interpolated between the points around it


def test_columns_go_to_the_inputs_that_have_the_field(tmp_path: Path) -> None:
    logged = write_jsonl(tmp_path / "r.jsonl", [{"iter": r["step"], "train/loss": r["loss"],
                                                 "tokens": r["tokens"]} for r in curve()])
    table = write_csv(tmp_path / "t.csv", ["id", "params", "tokens", "loss", "run"],
                      [["t1", "70M", "1B", "3.0", "a"]])
    # step is a log field, group a run field; loss is both: it maps the table's column too
    runs = load_runs([logged], columns={"step": "iter", "loss": "train/loss"},
                     logs=LogSettings(params=7e7))
    assert runs.runs[0].loss == 3.46
    runs = load_runs([logged, table], columns={"step": "iter", "group": "run"},
                     logs=LogSettings(params=7e7))
    assert [(r.run_id, r.group) for r in runs.runs] == [("r", None), ("t1", "a")]
    with pytest.raises(InputError) as info:
        load_runs([logged, table], columns={"step": "iter", "loss": "train/loss"})
    assert str(info.value) == (f"{table}: --column loss='train/loss': no column 'train/loss'; "
                               "columns are id, params, tokens, loss, run")
    with pytest.raises(InputError) as info:
        load_runs([table], columns={"epoch": "x"})
    assert str(info.value) == (
        "--column epoch=...: 'epoch' is not a run field; fields are id, params, tokens, loss, "
        "flops, group, non_embedding_params, unique_tokens, tags, exclude, exclude_reason "
        "(training logs: id, step, tokens, loss, lr, params)")


SETTINGS_IN_VAIN = [
    ({"logs": LogSettings(reduce=Reduction.parse("mean:5"))}),
    ({"logs": LogSettings(tokens_per_step=2e6)}),
    ({"logs": LogSettings(params=7e7)}),
    ({"logs": LogSettings(restarts="keep-last")}),
    ({"columns": {"step": "iter"}}),
]


@pytest.mark.parametrize("given", SETTINGS_IN_VAIN, ids=["reduce", "tokens_per_step",
                                                         "params", "restarts", "step"])
def test_log_settings_without_logs_are_refused(tmp_path: Path, given: dict[str, Any]) -> None:
    table = tmp_path / "t.yaml"
    table.write_text("id: a\nparams: 70M\ntokens: 1B\nloss: 3\n")
    with pytest.raises(UsageError) as info:
        load_runs([str(table)], **given)
    assert str(info.value) == (
        "the training-log options (--reduce, --tokens-per-step, --log-params, --params-file, "
        "--restarts, --column step/lr) apply to training logs, and none were read; drop them")
    assert len(load_runs([str(table)], logs=LogSettings())) == 1  # the defaults are fine


def test_restarts_resolved_are_a_warning_of_the_run_set(tmp_path: Path) -> None:
    rows = [*curve(4), {"step": 300, "loss": 3.45, "tokens": 300 * 2**20},
            {"step": 500, "loss": 3.4, "tokens": 500 * 2**20}]
    p = write_jsonl(tmp_path / "r.jsonl", rows)
    runs = load_runs([p], logs=LogSettings(restarts="keep-last"))
    assert runs.runs[0].tokens == 500 * 2**20 and runs.runs[0].loss == 3.4
    assert runs.warnings == (f"{p} (id 'r'): steps logged again after a restart at line 5; "
                             "kept the later values, dropped 2 earlier points",)


def test_the_run_limit_counts_logged_runs(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    p = write_jsonl(tmp_path / "m.jsonl", [dict(r, run=f"r{i}") for i in range(3)
                                           for r in curve(2, params=7e7 * (i + 1))])
    monkeypatch.setitem(sources.LIMITS, "max_runs", 2)
    with pytest.raises(InputError) as info:
        load_runs([p])
    assert str(info.value) == f"{p}: more than 2 runs in all; fit a sample of them"


def test_standard_input_can_be_a_training_log() -> None:
    text = "".join(json.dumps(r) + "\n" for r in curve())
    (run,) = load_runs(["-"], stdin_text=text).runs
    assert (run.run_id, run.source, run.params) == ("stdin", "<stdin>", 70e6)


def test_yaml_tables_never_load_the_log_readers(tmp_path: Path) -> None:
    # the common case stays as light as before: no training-log module is imported
    (tmp_path / "a.yaml").write_text("id: a\nparams: 70M\ntokens: 1B\nloss: 3\n")
    code = ("import sys; from scaling_cli.read.runs import load_runs; "
            f"load_runs([{str(tmp_path)!r}]); "
            "print(sorted(m for m in sys.modules if m.startswith('scaling_cli.read.logs')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]"


def test_a_csv_table_loads_neither_the_log_readers_nor_pyyaml(tmp_path: Path) -> None:
    # a CSV may be a table or a W&B export: telling them apart needs the sniffer alone
    (tmp_path / "a.csv").write_text("id,params,tokens,loss\na,70e6,1e9,3\nb,1.4e8,2e9,2.9\n")
    code = ("import sys; from scaling_cli.read.runs import load_runs; "
            f"load_runs([{str(tmp_path / 'a.csv')!r}]); "
            "print(sorted(m for m in sys.modules if m == 'yaml' or m in ("
            "'scaling_cli.read.logs.reader', 'scaling_cli.read.logs.hf_trainer', "
            "'scaling_cli.read.logs.jsonl', 'scaling_cli.read.logs.sizes')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]"


def test_the_trainers_own_tensorboard_events_are_not_a_second_run(tmp_path: Path) -> None:
    # transformers' TensorBoard callback writes OUTPUT_DIR/runs/DATE_HOST/events...: the same
    # run as OUTPUT_DIR/trainer_state.json, which is read; fitting both would count it twice
    run = tmp_path / "out" / "r-pythia"
    write_state(run, hf_history(), global_step=400, max_steps=400, config=PYTHIA_70M)
    events = run / "runs" / "Dec04_12-00-00_host"
    write_events(events, [(s, {"train/loss": 3.4 - s / 1e4, "train/tokens": s * 2.0**20})
                          for s in (100, 200)], name="events.out.tfevents.1700000000.host.1.0")
    runs = load_runs([str(tmp_path / "out")])
    assert [(r.run_id, r.source) for r in runs.runs] == [
        ("r-pythia", str(run / "trainer_state.json"))]
    assert runs.warnings == (f"{events}: TensorBoard events of the Hugging Face run in {run}; "
                             "read its trainer_state.json only (one run is fitted once)",)
