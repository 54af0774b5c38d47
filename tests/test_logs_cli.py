"""Training logs through the command line. The acceptance test of issue 13: a folder of
trainer logs in any of the formats gives `scaling optimal`, `fit` and `backtest` the same
answers (law, N*, intervals, backtest scores) as the equivalent hand-made table, compared
byte for byte; and the options that read logs, the runs left out, and their refusals."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scaling_cli.read.logs.sizes import size_from_config

from .logwriters import write_csv, write_events, write_jsonl, write_state
from .test_corpus import fails, run  # the CLI runner: one Error: line, exit 2

# --------------------------------------------------------------------------- a ladder

# A Chinchilla-like surface (Besiroglu et al. 2024's refit), five Pythia-shaped sizes and four
# lengths, 1% noise: 20 runs, each logged every eighth of its steps.
E, A, ALPHA, B, BETA = 1.82, 482.0, 0.348, 2085.0, 0.366
TOKENS_PER_STEP = 512 * 1024
SHAPES = [(256, 4), (384, 6), (512, 8), (768, 10), (1024, 12)]  # hidden size, layers
STEPS = [1000, 2000, 4000, 8000]


def config(hidden: int, layers: int) -> dict[str, Any]:
    return {"model_type": "gpt_neox", "hidden_size": hidden, "num_hidden_layers": layers,
            "intermediate_size": 4 * hidden, "num_attention_heads": hidden // 64,
            "vocab_size": 50304, "tie_word_embeddings": False}


def ladder() -> list[dict[str, Any]]:
    rng = np.random.default_rng(13)
    runs = []
    for hidden, layers in SHAPES:
        size = size_from_config(config(hidden, layers), "config.json")
        for total in STEPS:
            steps = [total * (i + 1) // 8 for i in range(8)]
            loss = [float((E + A / size.params**ALPHA + B / (s * TOKENS_PER_STEP)**BETA)
                          * (1 + 0.01 * rng.standard_normal())) for s in steps]
            runs.append({"id": f"neox-{hidden}x{layers}-{total}", "hidden": hidden,
                         "layers": layers, "params": int(size.params),
                         "non_embedding_params": int(size.non_embedding_params),
                         "steps": steps, "loss": loss,
                         "lr": [3e-4 * 0.5 * (1 + math.cos(math.pi * s / total)) for s in steps]})
    return runs


LADDER = ladder()


def float32(x: float) -> float:
    return float(np.float32(x))


# --------------------------------------------------------------------------- each format


def jsonl_logs(root: Path) -> list[str]:
    """One JSON Lines file per run, the size logged on its first line."""
    for r in LADDER:
        rows: list[dict[str, Any]] = [
            {"step": s, "loss": loss, "lr": lr, "tokens": s * TOKENS_PER_STEP}
            for s, loss, lr in zip(r["steps"], r["loss"], r["lr"], strict=True)]
        rows[0]["n_params"] = r["params"]
        write_jsonl(root / "logs" / f"{r['id']}.jsonl", rows)
    return [str(root / "logs")]


def hf_logs(root: Path) -> list[str]:
    """One output directory per run: trainer_state.json and the model's config.json."""
    for r in LADDER:
        history: list[dict[str, Any]] = []
        for s, loss, lr in zip(r["steps"], r["loss"], r["lr"], strict=True):
            history.append({"epoch": s / r["steps"][-1], "grad_norm": 0.9, "learning_rate": lr,
                            "loss": loss, "num_input_tokens_seen": s * TOKENS_PER_STEP,
                            "step": s})
        history.append({"epoch": 1.0, "step": r["steps"][-1], "total_flos": 1e18,
                        "train_loss": float(np.mean(r["loss"])), "train_runtime": 60.0})
        write_state(root / "logs" / r["id"], history, global_step=r["steps"][-1],
                    max_steps=r["steps"][-1], config=config(r["hidden"], r["layers"]))
    return [str(root / "logs")]


def wandb_summary_logs(root: Path) -> list[str]:
    """The project's Runs table exported as CSV: one finished row per run."""
    header = ["Name", "State", "Notes", "User", "Tags", "Created", "Runtime", "Sweep", "_step",
              "train/loss", "train/tokens", "model/num_parameters"]
    rows = [[r["id"], "finished", "", "alice", "ladder", "2025-01-01T00:00:00.000Z", 3600, "",
             r["steps"][-1], r["loss"][-1], r["steps"][-1] * TOKENS_PER_STEP, r["params"]]
            for r in LADDER]
    write_csv(root / "logs" / "wandb_export.csv", header, rows)
    return [str(root / "logs")]


def wandb_history_logs(root: Path) -> list[str]:
    """Every run's history in one CSV (``api.runs(...).histories()``): steps but no tokens,
    sizes in a params file."""
    header = ["run_id", "_step", "_runtime", "_timestamp", "train/loss", "train/learning_rate"]
    rows = [[r["id"], s, s / 10, 1.7e9 + s, loss, lr] for r in LADDER
            for s, loss, lr in zip(r["steps"], r["loss"], r["lr"], strict=True)]
    write_csv(root / "logs" / "history.csv", header, rows)
    sizes = root / "sizes.yaml"
    sizes.write_text("".join(f"{r['id']}: {r['params']}\n" for r in LADDER))
    return [str(root / "logs"), "--tokens-per-step", "512x1024", "--params-file", str(sizes)]


def tensorboard_logs(root: Path) -> list[str]:
    """One event-file directory per run (PyTorch's SummaryWriter), sizes in a CSV file."""
    for r in LADDER:
        points = [(s, {"train/loss": loss, "train/tokens": float(s * TOKENS_PER_STEP),
                       "train/lr": lr})
                  for s, loss, lr in zip(r["steps"], r["loss"], r["lr"], strict=True)]
        write_events(root / "logs" / r["id"], points, name="events.out.tfevents.1700000000.h.1.0")
    sizes = write_csv(root / "sizes.csv", ["id", "params"], [[r["id"], r["params"]]
                                                            for r in LADDER])
    return [str(root / "logs"), "--params-file", sizes]


FORMATS: dict[str, Callable[[Path], list[str]]] = {
    "jsonl": jsonl_logs, "hf-trainer": hf_logs, "wandb-summary": wandb_summary_logs,
    "wandb-history": wandb_history_logs, "tensorboard": tensorboard_logs}


def hand_made_table(path: Path, *, float32_loss: bool, non_embedding: bool) -> str:
    """The same runs as a user writes them by hand: id, params, tokens, final loss (as a
    TensorBoard scalar stores it, float32, where the logs are event files)."""
    lines = ["runs:"]
    for r in LADDER:
        loss = float32(r["loss"][-1]) if float32_loss else r["loss"][-1]
        extra = f", non_embedding_params: {r['non_embedding_params']}" if non_embedding else ""
        lines.append(f"  - {{id: {r['id']}, params: {r['params']}, "
                     f"tokens: {r['steps'][-1] * TOKENS_PER_STEP}, loss: {loss!r}{extra}}}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


COMMANDS = {
    "optimal": ["optimal", "--budget", "1e21"],
    "fit": ["fit"],
    "backtest": ["backtest", "--folds", "2"],
}
SHARED = ["--format", "json", "--bootstrap", "40", "--seed", "3", "--workers", "1"]


def answer(command: str, inputs: list[str]) -> str:
    """The command's JSON document, with the names of the files read left out (they are the
    only thing that differs); everything else is compared as text."""
    name, *options = COMMANDS[command]
    code, out, err = run(name, *inputs, *options, *SHARED)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["inputs"].pop("sources")
    assert doc["inputs"]["skipped"] == []
    return json.dumps(doc, indent=2)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], str]:
    """The hand-made tables' answers, per command and table variant (computed once)."""
    return {}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_logs_answer_like_the_hand_made_table(tmp_path: Path, fmt: str, command: str,
                                              tables: dict[tuple[str, str], str]) -> None:
    inputs = FORMATS[fmt](tmp_path)
    variant = "float32" if fmt == "tensorboard" else "hf" if fmt == "hf-trainer" else "plain"
    if (variant, command) not in tables:
        table = hand_made_table(tmp_path / "table.yaml", float32_loss=variant == "float32",
                                non_embedding=variant == "hf")
        tables[variant, command] = answer(command, [table])
    from_logs = answer(command, inputs)
    assert from_logs == tables[variant, command]
    doc = json.loads(from_logs)
    if command == "optimal":  # and the answer is a real one: N* with an interval
        params = doc["budgets"][0]["params"]
        assert params["low"] < params["value"] < params["high"]
    if command == "backtest":
        assert doc["summary"]["held_out_predictions"] > 0


# --------------------------------------------------------------------------- options


def ladder_logs(root: Path) -> Path:
    """The ladder as JSON Lines logs, and one more run that diverged (a NaN loss)."""
    for r in LADDER:
        rows: list[dict[str, Any]] = [{"step": s, "loss": loss, "tokens": s * TOKENS_PER_STEP}
                                      for s, loss in zip(r["steps"], r["loss"], strict=True)]
        rows[0]["n_params"] = r["params"]
        write_jsonl(root / "logs" / f"{r['id']}.jsonl", rows)
    diverged = [{"step": 10, "loss": 9.0, "tokens": 10 * TOKENS_PER_STEP, "n_params": 3e8},
                {"step": 20, "loss": float("nan"), "tokens": 20 * TOKENS_PER_STEP}]
    write_jsonl(root / "logs" / "diverged.jsonl", diverged)
    return root / "logs"


def test_skipped_runs_are_named_on_stderr_and_in_the_json(tmp_path: Path) -> None:
    logs = ladder_logs(tmp_path)
    bad = logs / "diverged.jsonl"
    reason = (f"{bad}: line 2 (id 'diverged'): field 'loss': is NaN; give a finite number "
              "(drop or exclude the run if it diverged)")
    assert fails("fit", str(logs), "--bootstrap", "0") == reason
    code, out, err = run("fit", str(logs), "--skip-invalid", "--bootstrap", "0", "-q",
                         "--format", "json")
    assert code == 0, err
    assert err == f"Skipped: {reason}\n"  # even with --quiet: a run is never left out silently
    doc = json.loads(out)
    assert doc["inputs"]["skipped"] == [{"run_id": "diverged", "source": str(bad),
                                         "reason": reason}]
    assert doc["inputs"]["runs_used"] == 20
    assert "1 run left out by --skip-invalid: 'diverged'" in doc["warnings"]
    code, out, err = run("backtest", str(logs), "--skip-invalid", "--bootstrap", "0",
                         "--folds", "2", "--format", "json")
    assert code == 0, err
    assert err.startswith(f"Skipped: {reason}\n")
    assert json.loads(out)["inputs"]["skipped"][0]["run_id"] == "diverged"


def test_inputs_skipped_only_where_run_logs_were_read(tmp_path: Path) -> None:
    code, out, _ = run("predict", "--law", "epoch-2024", "--params", "7B", "--tokens", "1T",
                       "--format", "json")
    assert code == 0 and json.loads(out)["inputs"] is None
    fit_file = tmp_path / "fit.json"
    logs = ladder_logs(tmp_path)
    code, _, err = run("fit", str(logs), "--skip-invalid", "--bootstrap", "0", "-q", "-o",
                       str(fit_file))
    assert code == 0 and err.startswith("Skipped: ")
    code, out, err = run("optimal", "--fit", str(fit_file), "-b", "1e21", "--format", "json")
    assert code == 0, err
    assert "skipped" not in json.loads(out)["inputs"] and "Skipped" not in err
    # the fit file keeps the warning that names the runs left out
    assert "Warning: 1 run left out by --skip-invalid: 'diverged'\n" in err


def test_the_reduction_and_the_tokens_per_step_reach_the_fit(tmp_path: Path) -> None:
    logs = ladder_logs(tmp_path)
    (logs / "diverged.jsonl").unlink()
    code, out, err = run("fit", str(logs), "--reduce", "mean:2", "--bootstrap", "0",
                         "--format", "json")
    assert code == 0, err
    runs = json.loads(out)["runs"]
    first = LADDER[0]
    i = runs["ids"].index(first["id"])
    assert runs["loss"][i] == float(np.mean(first["loss"][-2:]))
    assert runs["tokens"][i] == float(np.mean(first["steps"][-2:])) * TOKENS_PER_STEP
    assert fails("fit", str(logs), "--reduce", "median") == (
        "--reduce 'median': not a reduction; use last, mean:K, ema:W or at:TOKENS (e.g. "
        "mean:20, ema:0.9, at:20B)")
    assert fails("fit", str(logs), "--tokens-per-step", "512xx") == (
        "--tokens-per-step '512xx': a factor is missing; write a count (2M) or a product such "
        "as batch x sequence length (1024x2048)")
    assert fails("fit", str(logs), "--log-params", "7BB") == (
        "--log-params: '7BB' repeats the suffix; write 7B")
    assert fails("fit", str(logs), "--log-params", "70M") == (
        "--log-params gives one size, but 20 runs were read; give each run its size with "
        "--params-file")
    assert fails("fit", str(logs), "--restarts", "sometimes") == (
        "--restarts 'sometimes': is not one of refuse, keep-last")


def test_training_log_options_are_refused_where_they_would_change_nothing(
        tmp_path: Path) -> None:
    assert fails("optimal", "--law", "epoch-2024", "-b", "1e24", "--reduce", "mean:5",
                 "--skip-invalid") == (
        "--skip-invalid, --reduce shape a fit of run logs; with --law nothing is refitted, so "
        "they would change nothing: drop them")
    table = tmp_path / "t.yaml"
    table.write_text("id: a\nparams: 70M\ntokens: 1B\nloss: 3\n")
    assert fails("fit", str(table), "--params-file", "sizes.yaml") == (
        "the training-log options (--reduce, --tokens-per-step, --log-params, --params-file, "
        "--restarts, --column step/lr) apply to training logs, and none were read; drop them")


@pytest.mark.parametrize("command", ["optimal", "target", "check", "fit", "predict",
                                     "backtest", "plot"])
def test_every_command_that_reads_runs_reads_training_logs(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0
    for option in ("--input-format", "--skip-invalid", "--reduce", "--tokens-per-step",
                   "--log-params", "--params-file", "--restarts", "--column"):
        assert option in out, (command, option)
