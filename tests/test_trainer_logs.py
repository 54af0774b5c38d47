"""Training logs -> curves -> run records: each format (fixtures written with the formats'
own writers), sniffing, column mapping, skip_invalid, and the exact message for each bad
input. Messages name the file, the line (entry, step), the run and the field."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pytest

from scaling_cli.errors import DependencyError, InputError
from scaling_cli.read import sources
from scaling_cli.read.logs import (
    Reduction,
    Skipped,
    group_logs,
    read_curves,
    read_params_file,
    split_inputs,
    to_records,
)
from scaling_cli.read.logs.sizes import size_from_config
from scaling_cli.read.runs import load_runs

from .logwriters import write_csv, write_events, write_jsonl, write_state

# --------------------------------------------------------------------------- writers


def ladder_rows(n_steps: int = 10, *, tokens_per_step: int = 2**20, loss0: float = 4.0,
                **extra: Any) -> list[dict[str, Any]]:
    return [{"step": s, "loss": loss0 - s / 100, "lr": 3e-4, "tokens": s * tokens_per_step,
             **extra} for s in range(10, 10 * n_steps + 1, 10)]


def hf_history(steps: int = 50, every: int = 10) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = []
    for s in range(every, steps + 1, every):
        history.append({"epoch": s / steps, "grad_norm": 1.5,
                        "learning_rate": 5e-4 * (1 - s / steps), "loss": round(4.0 - s / 100, 4),
                        "num_input_tokens_seen": s * 16384, "step": s})
        if s % 20 == 0:
            history.append({"epoch": s / steps, "eval_loss": 3.9, "eval_runtime": 1.0,
                            "num_input_tokens_seen": s * 16384, "step": s})
    history.append({"epoch": 1.0, "num_input_tokens_seen": steps * 16384, "step": steps,
                    "total_flos": 1e15, "train_loss": 3.77, "train_runtime": 12.0,
                    "train_samples_per_second": 40.0})
    return history


PYTHIA_70M = {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox",
              "hidden_size": 512, "num_hidden_layers": 6, "intermediate_size": 2048,
              "num_attention_heads": 8, "vocab_size": 50304, "rotary_pct": 0.25,
              "tie_word_embeddings": False, "max_position_embeddings": 2048}

WANDB_SUMMARY_HEADER = ["Name", "State", "Notes", "User", "Tags", "Created", "Runtime", "Sweep",
                        "learning_rate", "model/num_parameters", "_runtime", "_step",
                        "_timestamp", "train/loss", "train/tokens"]


def summary_row(name: str, state: str, params: float, loss: float | str, step: int,
                tokens: float) -> list[Any]:
    return [name, state, "-", "alice", "ladder", "2025-01-01T00:00:00", 3600, "", 3e-4,
            int(params), 3600.5, step, 1.7e9, loss, int(tokens)]


def fails(*args: Any, **kwargs: Any) -> str:
    with pytest.raises(InputError) as info:
        read_curves(*args, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- JSON Lines


def test_jsonl_is_read_with_its_lr_and_other_events_ignored(tmp_path: Path) -> None:
    rows = ladder_rows(5)
    rows.insert(2, {"step": 20, "eval_loss": 3.9})  # another event: not a point
    p = write_jsonl(tmp_path / "ladder-70M.jsonl", rows)
    (c,) = read_curves([p], params=70e6).curves
    assert c.run_id == "ladder-70M" and c.source == p
    assert list(c.step) == [10, 20, 30, 40, 50]
    assert list(c.loss) == [3.9, 3.8, 3.7, 3.6, 3.5]
    assert list(c.tokens) == [s * 2**20 for s in (10, 20, 30, 40, 50)]
    assert c.lr is not None and list(c.lr) == [3e-4] * 5
    assert c.position[-1] == "line 6"
    assert dict(c.metadata) == {"format": "jsonl", "loss_key": "loss", "tokens_from": "log",
                                "params_from": "--log-params"}


def test_jsonl_with_a_run_key_holds_several_runs(tmp_path: Path) -> None:
    rows = [dict(r, run_id=rid, n_params=n) for rid, n in (("a", 70e6), ("b", 160e6))
            for r in ladder_rows(3)]
    p = write_jsonl(tmp_path / "metrics.jsonl", rows)
    curves = read_curves([p]).curves
    assert [(c.run_id, c.params, c.metadata["params_from"]) for c in curves] == [
        ("a", 70e6, "log"), ("b", 160e6, "log")]


def test_generic_file_names_take_their_directory_name(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "ladder-160M" / "metrics.jsonl", ladder_rows(3))
    assert read_curves([p]).curves[0].run_id == "ladder-160M"


def test_tokens_from_steps_x_batch_x_sequence_length(tmp_path: Path) -> None:
    rows = [{"iter": s, "train/loss": 3.0 + 1 / s} for s in (100, 200, 300)]
    p = write_jsonl(tmp_path / "r.jsonl", rows)
    (c,) = read_curves([p], tokens_per_step=512 * 2048).curves
    assert list(c.tokens) == [100 * 512 * 2048, 200 * 512 * 2048, 300 * 512 * 2048]
    assert c.metadata["tokens_from"] == "step x 1.04858M"
    both = write_jsonl(tmp_path / "s.jsonl", ladder_rows(3))
    result = read_curves([both], tokens_per_step=1e6)
    assert result.curves[0].metadata["tokens_from"] == "log"  # logged tokens win, and we say so
    assert result.warnings == ("--tokens-per-step was not used: every run logs its tokens",)


def test_every_missing_key_is_reported_at_once_with_close_matches(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "r.jsonl", [{"stp": 1, "losss": 3.2, "tokns": 1e6, "lr": 1e-3}])
    assert fails([p]) == (
        f"{p}: no key for 'step' (did you mean 'stp'?); no key for 'tokens' (did you mean "
        "'tokns'?) (or give --tokens-per-step); no key for 'loss' (did you mean 'losss'?); map "
        "each with --column FIELD=KEY (keys are stp, losss, tokns, lr)")
    assert fails([p], columns={"step": "stp", "loss": "train/loss"}) == (
        f"{p}: no key for 'tokens' (did you mean 'tokns'?) (or give --tokens-per-step); "
        "--column loss='train/loss' names no key; map each with --column FIELD=KEY (keys are "
        "stp, losss, tokns, lr)")
    (c,) = read_curves([p], columns={"step": "stp", "loss": "losss", "tokens": "tokns"}).curves
    assert (c.loss[0], c.tokens[0]) == (3.2, 1e6)


def test_two_candidate_keys_are_ambiguous(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "r.jsonl", [{"step": 1, "loss": 3.2, "train/loss": 3.3,
                                           "tokens": 1e6}])
    assert fails([p]) == (f"{p}: keys 'loss' and 'train/loss' could both be the loss; choose "
                          "one with --column loss=KEY")


def test_unknown_column_field(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "r.jsonl", ladder_rows(2))
    assert fails([p], columns={"flops": "x"}) == (
        "--column flops=...: 'flops' is not a field of a training log; fields are id, step, "
        "tokens, loss, lr, params")


BAD_JSONL = [
    # (lines after two good ones, message after "FILE: ")
    (['{"step": 30, "loss": 3.7, "tokens": 3'],
     "line 3: not valid JSON (Expecting ',' delimiter, column 38); the line is cut short "
     "(was the run killed while writing it?); delete or complete it"),
    (['{"step": 30, "loss": 3.7 "tokens": 30}'],
     "line 3: not valid JSON (Expecting ',' delimiter, column 26); fix the line"),
    (['{"step": 30, "loss": "abc", "tokens": 30}'],
     "line 3 (id 'r'): field 'loss': 'abc' is not a number; write e.g. 7e9, 7B, 1.4T or 3e23"),
    (['{"step": 30, "loss": [3.7], "tokens": 30}'],
     "line 3 (id 'r'): field 'loss': expected a number, got a list"),
    (['{"step": 30, "loss": true, "tokens": 30}'],
     "line 3 (id 'r'): field 'loss': got true, not a number; write a number"),
    (['{"step": 30, "loss": null, "tokens": 30}'],
     "line 3 (id 'r'): field 'loss': is null; give a finite number (a NaN written as null?)"),
    (['{"step": 30, "loss": NaN, "tokens": 30}'],
     "line 3 (id 'r'): field 'loss': is NaN; give a finite number (drop or exclude the run if "
     "it diverged)"),
    (['{"step": 30, "loss": Infinity, "tokens": 30}'],
     "line 3 (id 'r'): field 'loss': inf is infinite or too large; give a finite number"),
    (['{"step": 30, "loss": -3.7, "tokens": 30}'],
     "line 3 (id 'r'): field 'loss': -3.7 is negative; it must be positive"),
    (['{"step": 30.5, "loss": 3.7, "tokens": 30}'],
     "line 3 (id 'r'): field 'step': 30.5 is not a whole number of steps"),
    (['{"loss": 3.7, "tokens": 30}'],
     "line 3 (id 'r'): field 'step': is missing; a line with a loss needs its 'step'"),
    (['{"step": 20, "loss": 3.7, "tokens": 30}'],
     "line 3 (id 'r'): field 'step': 20 repeats step 20 at line 2 (a restarted run?); keep the "
     "points logged after the restart with --restarts keep-last, or split the log"),
    (['{"step": 15, "loss": 3.7, "tokens": 30}'],
     "line 3 (id 'r'): field 'step': 15 comes after step 20 at line 2 (a restarted run?); keep "
     "the points logged after the restart with --restarts keep-last, or split the log"),
    (['{"step": 30, "loss": 3.7, "tokens": 20}'],
     "line 3 (id 'r'): field 'tokens': 20 is not more than 20 at line 2; tokens must grow "
     "with every step (is the tokens column the right one?)"),
    (['{"step": 30, "loss": 3.7, "loss": 3.6, "tokens": 30}'],
     "line 3: key 'loss' appears twice in one object; keep one"),
    (['[30, 3.7]'],
     'line 3: is a list, not a JSON object; write one object per line, e.g. {"step": 100, '
     '"loss": 3.41}'),
    (['{"step": 30, "loss": 3.7, "tokens": 30, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"],
     "line 3: JSON nested too deeply to read; metrics are flat objects: remove the nesting"),
    (['{"step": 30, "loss": 3.7, "tokens": ' + "9" * 5000 + "}"],
     "line 3: not usable JSON (Exceeds the limit (4300 digits) for integer string conversion: "
     "value has 5000 digits); check the numbers"),
]


@pytest.mark.parametrize(("lines", "message"), BAD_JSONL, ids=[m[:40] for _, m in BAD_JSONL])
def test_bad_jsonl(tmp_path: Path, lines: list[str], message: str) -> None:
    p = tmp_path / "r.jsonl"
    p.write_text('{"step": 10, "loss": 3.9, "tokens": 10}\n'
                 '{"step": 20, "loss": 3.8, "tokens": 20}\n' + "\n".join(lines))
    assert fails([str(p)]) == f"{p}: {message}"
    # each problem belongs to the file's one run: skip_invalid skips it, naming why
    result = read_curves([str(p)], skip_invalid=True)
    assert result.curves == () and result.skipped == (Skipped("r", str(p), f"{p}: {message}"),)


def test_empty_and_not_utf8_jsonl(tmp_path: Path) -> None:
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n\n")
    assert fails([str(empty)]) == (f"{empty}: is empty; a JSON Lines log holds one object per "
                                   'line, e.g. {"step": 100, "loss": 3.41}')
    latin = tmp_path / "l.jsonl"
    latin.write_bytes(b'{"step": 1, "loss": 3.1, "tokens": 9, "run": "caf\xe9"}\n')
    assert fails([str(latin)]) == (f"{latin}: line 1: byte 0xe9 is not UTF-8; re-save the file "
                                   "as UTF-8")


def test_restarts_keep_last_keeps_what_the_final_model_trained_on(tmp_path: Path) -> None:
    rows = [*ladder_rows(5), {"step": 30, "loss": 3.75, "tokens": 30 * 2**20},
            {"step": 40, "loss": 3.65, "tokens": 40 * 2**20},
            {"step": 60, "loss": 3.45, "tokens": 60 * 2**20}]
    p = write_jsonl(tmp_path / "r.jsonl", rows)
    result = read_curves([p], restarts="keep-last")
    (c,) = result.curves
    assert list(c.step) == [10, 20, 30, 40, 60]
    assert list(c.loss) == [3.9, 3.8, 3.75, 3.65, 3.45]
    assert c.position == ("line 1", "line 2", "line 6", "line 7", "line 8")
    assert result.warnings == (f"{p} (id 'r'): steps logged again after a restart at line 6; "
                               "kept the later values, dropped 3 earlier points",)
    assert fails([p], restarts="sometimes") == (
        "--restarts 'sometimes': is not one of refuse, keep-last")


def test_skip_invalid_keeps_the_good_runs_of_a_file_and_names_each_bad_one(tmp_path: Path) -> None:
    rows = [dict(r, run=rid) for rid in ("a", "b", "c") for r in ladder_rows(3)]
    rows[4]["loss"] = float("nan")  # run b, line 5
    rows[8]["step"] = 5  # run c goes backwards at line 9
    p = write_jsonl(tmp_path / "ladder.jsonl", rows)
    result = read_curves([p], skip_invalid=True)
    assert [c.run_id for c in result.curves] == ["a"]
    assert result.skipped == (
        Skipped("b", p, f"{p}: line 5 (id 'b'): field 'loss': is NaN; give a finite number "
                        "(drop or exclude the run if it diverged)"),
        Skipped("c", p, f"{p}: line 9 (id 'c'): field 'step': 5 comes after step 20 at line 8 "
                        "(a restarted run?); keep the points logged after the restart with "
                        "--restarts keep-last, or split the log"),
    )
    assert fails([p]) == result.skipped[0].reason  # without it: the first problem, raised


def test_a_run_key_missing_on_a_loss_line(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "r.jsonl", [{"run": "a", "step": 1, "loss": 3.0, "tokens": 5},
                                           {"step": 2, "loss": 2.9, "tokens": 9}])
    assert fails([p], skip_invalid=True) == (
        f"{p}: line 2: no 'run', though other lines name their run; give every line with a "
        "loss its run")


def test_a_logged_size_must_not_change(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "r.jsonl", [dict(r, params=70e6 if r["step"] < 30 else 160e6)
                                           for r in ladder_rows(3)])
    assert fails([p]) == (f"{p}: line 3 (id 'r'): field 'params': 160M differs from 70M at "
                          "line 1; one run has one size")


# --------------------------------------------------------------------------- Hugging Face


def test_hf_trainer_state_with_config_beside_it(tmp_path: Path) -> None:
    p = write_state(tmp_path / "pythia-70m-ladder", hf_history(), global_step=50, max_steps=50,
                    config=PYTHIA_70M)
    (c,) = read_curves([p]).curves
    assert c.run_id == "pythia-70m-ladder"
    assert list(c.step) == [10, 20, 30, 40, 50]  # eval entries and the summary are not points
    assert list(c.loss) == [3.9, 3.8, 3.7, 3.6, 3.5]  # never the summary's mean train_loss
    assert list(c.tokens) == [s * 16384 for s in (10, 20, 30, 40, 50)]
    assert c.lr is not None and c.lr[-1] == 0.0
    assert c.params == 70_426_624 and c.non_embedding_params == 70_426_624 - 2 * 50304 * 512
    assert c.metadata["params_from"] == "config.json (gpt_neox)"
    assert c.position[-1] == "log_history entry 7"
    eval_curve = read_curves([p], columns={"loss": "eval_loss"}).curves[0]
    assert list(eval_curve.step) == [20, 40]


def test_hf_checkpoints_belong_to_their_run_and_the_final_state_wins(tmp_path: Path) -> None:
    run = tmp_path / "out" / "run-160m"
    write_state(run / "checkpoint-20", hf_history(20), global_step=20, max_steps=50)
    write_state(run / "checkpoint-40", hf_history(40), global_step=40, max_steps=50)
    final = write_state(run, hf_history(50), global_step=50, max_steps=50)
    (log,) = found([str(tmp_path / "out")])[1]
    assert (log.path, log.kind, log.run_id) == (final, "hf-trainer", "run-160m")
    os.remove(final)
    (log,) = found([str(tmp_path / "out")])[1]
    assert log.path == str(run / "checkpoint-40" / "trainer_state.json")
    # ...which is a checkpoint of an unfinished run: refused, or skipped with the reason
    message = (f"{log.path} (id 'run-160m'): stopped at step 40 of max_steps 50 (a checkpoint, "
               "or a crashed run); its last loss is not a finished run's: read the finished "
               "run's trainer_state.json, or skip it with --skip-invalid")
    assert fails([str(tmp_path / "out")], params=160e6) == message
    result = read_curves([str(tmp_path / "out")], params=160e6, skip_invalid=True)
    assert result.skipped == (Skipped("run-160m", log.path, message),)


def test_hf_tokens_from_steps_and_size_from_a_params_file(tmp_path: Path) -> None:
    history = [{k: v for k, v in e.items() if k != "num_input_tokens_seen"}
               for e in hf_history()]
    p = write_state(tmp_path / "r1", history, global_step=50, max_steps=50, config=PYTHIA_70M)
    assert fails([p]) == (
        f"{p}: no key for 'tokens' (or give --tokens-per-step); map each with --column "
        "FIELD=KEY (keys are epoch, grad_norm, learning_rate, loss, step, eval_loss, "
        "eval_runtime, total_flos, train_loss, train_runtime, train_samples_per_second)")
    sizes = tmp_path / "sizes.yaml"
    sizes.write_text("r1: 71M\nr2: 160M\n")
    (c,) = read_curves([p], tokens_per_step=8 * 2048, params_file=str(sizes)).curves
    assert c.tokens[-1] == 50 * 8 * 2048 and c.params == 71e6
    assert c.non_embedding_params is None and c.metadata["params_from"] == "params file"


def test_hf_config_that_cannot_be_counted(tmp_path: Path) -> None:
    config = {"model_type": "mixtral", "num_local_experts": 8, "hidden_size": 4096}
    p = write_state(tmp_path / "moe", hf_history(), global_step=50, max_steps=50, config=config)
    cfg = tmp_path / "moe" / "config.json"
    result = read_curves([p], skip_invalid=True)
    assert result.skipped[0].reason == (
        f"{p} (id 'moe'): {cfg}: is a mixture-of-experts model (num_local_experts = 8): total "
        "and active parameters differ; give the size with --log-params or --params-file")
    assert read_curves([p], params=47e9).curves[0].params == 47e9  # an explicit size wins


def test_hf_file_that_is_not_a_state(tmp_path: Path) -> None:
    p = tmp_path / "trainer_state.json"
    p.write_text('{"log_history": 3}')
    assert fails([str(p)]) == (f"{p}: has no 'log_history' list; is this a Hugging Face "
                               "trainer_state.json?")
    p.write_text('{\n  "log_history": [\n    {"loss": 3.1, "step": 1}\n')
    assert fails([str(p)]) == (f"{p}: line 4, column 1: not valid JSON (Expecting ',' "
                               "delimiter); the file is cut short; was it copied while being "
                               "written?")


PUBLISHED_SIZES = [
    # config.json hyperparameters -> the count the model card / paper gives
    ({"model_type": "gpt2", "vocab_size": 50257, "n_embd": 768, "n_layer": 12,
      "n_positions": 1024}, 124_439_808),
    (PYTHIA_70M, 70_426_624),
    ({"model_type": "gpt_neox", "vocab_size": 50304, "hidden_size": 768, "num_hidden_layers": 12,
      "intermediate_size": 3072}, 162_322_944),
    ({"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "num_hidden_layers": 32,
      "intermediate_size": 11008, "num_attention_heads": 32, "num_key_value_heads": 32,
      "tie_word_embeddings": False}, 6_738_415_616),
    ({"model_type": "llama", "vocab_size": 32000, "hidden_size": 2048, "num_hidden_layers": 22,
      "intermediate_size": 5632, "num_attention_heads": 32, "num_key_value_heads": 4},
     1_100_048_384),
    ({"model_type": "mistral", "vocab_size": 32000, "hidden_size": 4096,
      "num_hidden_layers": 32, "intermediate_size": 14336, "num_attention_heads": 32,
      "num_key_value_heads": 8}, 7_241_732_096),
    ({"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "num_hidden_layers": 24,
      "intermediate_size": 4864, "num_attention_heads": 14, "num_key_value_heads": 2,
      "tie_word_embeddings": True}, 494_032_768),
    ({"model_type": "gemma", "vocab_size": 256000, "hidden_size": 2048, "num_hidden_layers": 18,
      "intermediate_size": 16384, "num_attention_heads": 8, "num_key_value_heads": 1,
      "head_dim": 256}, 2_506_172_416),
]


@pytest.mark.parametrize(("config", "params"), PUBLISHED_SIZES,
                         ids=["gpt2", "pythia-70m", "pythia-160m", "llama-2-7b", "tinyllama",
                              "mistral-7b", "qwen2.5-0.5b", "gemma-2b"])
def test_parameter_count_formula_matches_published_counts(config: dict[str, Any],
                                                          params: int) -> None:
    assert size_from_config(config, "config.json").params == params


def test_parameter_count_refusals() -> None:
    def refused(config: dict[str, Any]) -> str:
        with pytest.raises(InputError) as info:
            size_from_config(config, "c.json")
        return str(info.value)

    assert refused({"model_type": "t5"}) == (
        "c.json: model_type 't5' is not one scaling-cli can count (gpt2, gpt_neox, llama, "
        "mistral, qwen2, gemma); give the size with --log-params or --params-file")
    assert refused({"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096}) == (
        "c.json: cannot count the parameters of a 'llama' model: no 'num_hidden_layers', "
        "'intermediate_size', 'num_attention_heads'; give the size with --log-params or "
        "--params-file")
    assert refused({**PYTHIA_70M, "hidden_size": "512"}) == (
        "c.json: 'hidden_size' is '512', not a positive whole number; fix the config or give "
        "the size with --log-params or --params-file")


# --------------------------------------------------------------------------- W&B


def test_wandb_summary_rows_are_one_point_curves(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "wandb_export_2025-01-01.csv", WANDB_SUMMARY_HEADER, [
        summary_row("ladder-70M", "finished", 70e6, 3.31, 999, 1.4e9),
        summary_row("ladder-160M", "finished", 160e6, 3.02, 1999, 3.2e9),
    ])
    curves = read_curves([p]).curves
    assert [(c.run_id, c.params, c.tokens[0], c.loss[0], c.step[0]) for c in curves] == [
        ("ladder-70M", 70e6, 1.4e9, 3.31, 999), ("ladder-160M", 160e6, 3.2e9, 3.02, 1999)]
    assert curves[0].metadata["loss_key"] == "train/loss"
    assert curves[0].position == ("line 2",)


def test_wandb_crashed_run_with_an_empty_cell_is_skipped_not_fatal(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "runs.csv", WANDB_SUMMARY_HEADER, [
        summary_row("ladder-70M", "finished", 70e6, 3.31, 999, 1.4e9),
        summary_row("ladder-160M", "crashed", 160e6, "", 12, 1.2e7),
        summary_row("ladder-410M", "finished", 410e6, "", 12, 1.2e7),
        summary_row("ladder-1B", "running", 1e9, 2.9, 500, 1e9),
    ])
    crashed = (f"{p}: line 3 (id 'ladder-160M'): State is 'crashed', not 'finished'; its "
               "summary is not a finished run's final loss: delete the row, or skip it with "
               "--skip-invalid")
    assert fails([p]) == crashed
    result = read_curves([p], skip_invalid=True)
    assert [c.run_id for c in result.curves] == ["ladder-70M"]
    assert [s.reason for s in result.skipped] == [
        crashed,
        f"{p}: line 4 (id 'ladder-410M'): field 'loss' is empty (the run logged no loss?); "
        "fill in the cell or delete the row",
        f"{p}: line 5 (id 'ladder-1B'): State is 'running', not 'finished'; its summary is not "
        "a finished run's final loss: delete the row, or skip it with --skip-invalid",
    ]


def test_wandb_names_need_not_be_unique(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "runs.csv", WANDB_SUMMARY_HEADER, [
        summary_row("r", "finished", 70e6, 3.31, 999, 1.4e9),
        summary_row("r", "finished", 160e6, 3.02, 999, 1.4e9),
    ])
    assert fails([p]) == (f"{p}: line 3 (id 'r'): the run name is also on line 2; W&B names "
                          "need not be unique: map --column id=ID")


def test_wandb_history_long_from_the_public_api(tmp_path: Path) -> None:
    header = ["run_id", "_step", "_runtime", "_timestamp", "train/loss", "train/learning_rate",
              "eval/loss"]
    rows = []
    for rid, base in (("abc123", 4.0), ("def456", 3.8)):
        for s in range(1, 6):
            rows.append([rid, s, s * 2.0, 1.7e9 + s, base - s / 10, 3e-4, ""])
        rows.append([rid, 6, 12.0, 1.7e9 + 6, "", "", base - 0.5])  # an eval-only row
    p = write_csv(tmp_path / "history.csv", header, rows)
    curves = read_curves([p], tokens_per_step=2e6).curves
    assert [c.run_id for c in curves] == ["abc123", "def456"]
    assert list(curves[1].step) == [1, 2, 3, 4, 5] and curves[1].loss[-1] == pytest.approx(3.3)
    assert curves[0].tokens[-1] == 10e6 and curves[0].position[-1] == "line 6"


def test_wandb_history_where_the_script_logged_its_own_step(tmp_path: Path) -> None:
    header = ["_step", "trainer/global_step", "train/loss", "train/num_input_tokens_seen"]
    p = write_csv(tmp_path / "hf-run.csv", header, [[i, 10 * i, 3.0 - i / 100, 1000 * i]
                                                   for i in range(1, 4)])
    assert fails([p]) == (f"{p}: columns '_step' and 'trainer/global_step' could both be the "
                          "step; choose one with --column step=COLUMN")
    (c,) = read_curves([p], columns={"step": "trainer/global_step"}).curves
    assert c.run_id == "hf-run" and list(c.step) == [10, 20, 30]


def test_wandb_panel_export_is_wide(tmp_path: Path) -> None:
    header = ["Step", "ladder-70M - train/loss", "ladder-70M - train/loss__MIN",
              "ladder-70M - train/loss__MAX", "ladder-160M - train/loss",
              "ladder-160M - train/loss__MIN", "ladder-160M - train/loss__MAX"]
    rows = [[s, 4 - s / 100, 4 - s / 100, 4 - s / 100,
             3.9 - s / 100 if s <= 30 else "", "", ""] for s in (10, 20, 30, 40)]
    p = write_csv(tmp_path / "wandb_export_panel.csv", header, rows)
    curves = read_curves([p], tokens_per_step=1e6).curves
    assert [(c.run_id, list(c.step)) for c in curves] == [
        ("ladder-70M", [10, 20, 30, 40]), ("ladder-160M", [10, 20, 30])]


def test_wandb_bad_cells(tmp_path: Path) -> None:
    header = ["run_id", "_step", "loss", "tokens"]
    p = write_csv(tmp_path / "h.csv", header, [["a", 1, "3.1", 10], ["a", 2, "nan", 20],
                                               ["b", 1, "3.0", ""], ["c", 1, "3.0", 10]])
    result = read_curves([p], skip_invalid=True)
    assert [c.run_id for c in result.curves] == ["c"]
    assert [s.reason for s in result.skipped] == [
        f"{p}: line 3 (id 'a'): field 'loss': is NaN; give a finite number (drop or exclude "
        "the run if it diverged)",
        f"{p}: line 4 (id 'b'): field 'tokens' is empty; a row with a loss needs its tokens"]
    ragged = tmp_path / "r.csv"
    ragged.write_text("run_id,_step,loss,tokens\na,1,3.1\n")
    assert fails([str(ragged)], skip_invalid=True) == (
        f"{ragged}: line 2: has 3 cells but the header has 4; fix the row or quote cells that "
        "contain commas")


# --------------------------------------------------------------------------- TensorBoard


# The first bytes of every event file: record length, its CRC, then an Event whose
# file_version is "brain.Event:2" (CRCs not valid here: only sniffing and import are tested).
EVENT_FILE_HEAD = (b"\x18\x00\x00\x00\x00\x00\x00\x00\xa3\x7fK\x22\t\x00\x00\x00\x00"
                   b"\x00\x00\x00\x00\x1a\rbrain.Event:2")


def tb_points(steps: range, loss0: float = 4.0) -> list[tuple[int, dict[str, float]]]:
    return [(s, {"train/loss": loss0 - s / 1000, "train/tokens": s * 4096.0,
                 "train/lr": 1e-3, "grad_norm/layer0": 0.5}) for s in steps]


def test_tensorboard_runs_are_directories(tmp_path: Path) -> None:
    write_events(tmp_path / "tb" / "ladder-70M", tb_points(range(0, 501, 100)),
                 name="events.out.tfevents.0000000001.host.1.0")
    write_events(tmp_path / "tb" / "ladder-160M", tb_points(range(100, 501, 100), 3.9),
                 name="events.out.tfevents.0000000001.host.1.0", tensor=True)
    result = read_curves([str(tmp_path / "tb")], params_file=str(
        write_csv(tmp_path / "sizes.csv", ["id", "params"], [["ladder-70M", "70M"],
                                                              ["ladder-160M", "160M"]])))
    by_id = {c.run_id: c for c in result.curves}
    a, b = by_id["ladder-70M"], by_id["ladder-160M"]
    assert list(a.step) == [0, 100, 200, 300, 400, 500] and a.loss[-1] == pytest.approx(3.5)
    assert list(b.tokens) == [s * 4096.0 for s in (100, 200, 300, 400, 500)]
    assert b.loss[-1] == pytest.approx(3.4) and b.params == 160e6
    assert a.position[-1] == "step 500 in events.out.tfevents.0000000001.host.1.0"


def test_tensorboard_restarted_run_spans_two_files(tmp_path: Path) -> None:
    run = tmp_path / "r"
    write_events(run, tb_points(range(0, 501, 100)), name="events.out.tfevents.0000000001.h.1.0")
    write_events(run, tb_points(range(300, 701, 100), 3.99),
                 name="events.out.tfevents.0000000002.h.1.0")
    assert fails([str(run)]) == (
        f"{run}: step 300 in events.out.tfevents.0000000002.h.1.0 (id 'r'): field 'step': 300 "
        "comes after step 500 at step 500 in events.out.tfevents.0000000001.h.1.0 (a restarted "
        "run?); keep the points logged after the restart with --restarts keep-last, or split "
        "the log")
    (c,) = read_curves([str(run)], restarts="keep-last").curves
    assert list(c.step) == [0, 100, 200, 300, 400, 500, 600, 700]
    assert c.loss[3] == pytest.approx(3.99 - 0.3)  # the value logged after the restart


def test_tensorboard_cut_short_file_is_never_silently_truncated(tmp_path: Path) -> None:
    run = tmp_path / "r"
    path = write_events(run, tb_points(range(0, 501, 100)), name="events.out.tfevents.1.h.1.0")
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    size = len(data) - 10
    message = fails([str(run)])
    assert message.startswith(f"{path} (id 'r'): damaged or cut short after 6 events (byte ")
    assert message.endswith(f" of {size:,}); was it copied while the run was writing it? Copy "
                            "it again, or skip the run with --skip-invalid")
    assert read_curves([str(run)], skip_invalid=True).skipped[0].reason == message


def test_tensorboard_missing_tags_are_reported_at_once(tmp_path: Path) -> None:
    run = tmp_path / "r"
    write_events(run, [(s, {"Loss/train": 3.0, "tokens_seen_total": s * 1.0})
                       for s in (1, 2)], name="events.out.tfevents.1.h.1.0")
    assert fails([str(run)]) == (
        f"{run}: no tag for 'tokens' (did you mean 'tokens_seen_total'?) (or give "
        "--tokens-per-step); no tag for 'loss' (did you mean 'Loss/train'?); map each with "
        "--column FIELD=TAG (tags are 'Loss/train', tokens_seen_total)")


def test_tensorboard_without_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r" / "events.out.tfevents.1.h.1.0"
    path.parent.mkdir()
    path.write_bytes(EVENT_FILE_HEAD)
    modules = __import__("sys").modules
    for name in [m for m in modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.setitem(modules, name, None)  # as if the extra were not installed
    monkeypatch.setitem(modules, "tensorboard", None)
    with pytest.raises(DependencyError) as info:
        read_curves([str(tmp_path / "r")])
    assert str(info.value) == (
        "reading TensorBoard event files needs the tensorboard package, an optional extra: pip "
        "install 'scaling-cli[tensorboard]' (in a source checkout: pip install -e "
        "'.[tensorboard]')")


# --------------------------------------------------------------------------- sniffing


def found(paths: list[str], input_format: str = "auto", stdin_text: str | None = None,
          ) -> tuple[list[sources.Source], list[Any]]:
    """The run tables and the training logs (grouped into runs) that ``paths`` name."""
    read = sources.read_sources(paths, input_format=input_format, stdin_text=stdin_text)
    tables, logs = split_inputs(read, input_format=input_format)
    return tables, group_logs(logs, paths)[0]


def test_sniffing_each_format_by_content(tmp_path: Path) -> None:
    state = write_state(tmp_path / "hf", hf_history(), global_step=50, max_steps=50)
    cases = {
        "jsonl": write_jsonl(tmp_path / "a.log", ladder_rows(2)),  # the name says nothing
        "hf-trainer": state,
        "wandb-summary": write_csv(tmp_path / "s.csv", WANDB_SUMMARY_HEADER,
                                   [summary_row("a", "finished", 7e7, 3.0, 9, 1e9)]),
        "wandb-history": write_csv(tmp_path / "h.csv", ["_step", "loss"], [[1, 3.0]]),
        "csv": write_csv(tmp_path / "t.csv", ["id", "params", "tokens", "loss"],
                         [["a", "70M", "1B", 3.0]]),
        "yaml": str(tmp_path / "t.yaml"),
    }
    Path(cases["yaml"]).write_text("id: a\nparams: 70M\ntokens: 1B\nloss: 3.0\n")
    for kind, path in cases.items():
        tables, logs = found([path])
        assert [s.kind for s in tables] + [f.kind for f in logs] == [kind], path
    # standard input: CSV by its first line, JSON Lines by its first object
    assert found(["-"], stdin_text="id,params,tokens,loss\n")[0][0].kind == "csv"
    assert found(["-"], stdin_text='{"step": 1, "loss": 3.0}\n')[1][0].kind == "jsonl"
    # JSON is YAML: a run table written as JSON (one line, or pretty) stays a run table
    record = tmp_path / "run.json"
    record.write_text('{"id": "a", "params": "70M", "tokens": "1B", "loss": 3.0}\n')
    pretty = tmp_path / "runs.json"
    pretty.write_text('{\n "runs": [{"id": "b", "params": 7e7, "tokens": 1e9, "loss": 3}]\n}')
    assert [s.kind for s in found([str(record), str(pretty)])[0]] == ["yaml", "yaml"]
    assert [r.run_id for r in load_runs([str(record), str(pretty)]).runs] == ["a", "b"]
    # an event file under another name: by --input-format, never read as text
    renamed = tmp_path / "tb" / "renamed.bin"
    renamed.parent.mkdir()
    renamed.write_bytes(EVENT_FILE_HEAD)
    (log,) = found([str(renamed)], input_format="tensorboard")[1]
    assert (log.kind, log.files, log.run_id) == ("tensorboard", (str(renamed),), "tb")


def test_a_directory_of_mixed_logs_and_tables(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "logs" / "r1.jsonl", ladder_rows(3))
    write_state(tmp_path / "logs" / "hf-run", hf_history(), global_step=50, max_steps=50,
                config=PYTHIA_70M)
    table = write_csv(tmp_path / "logs" / "table.csv", ["id", "params", "tokens", "loss"],
                      [["t1", "70M", "1B", "3.0"]])
    (tmp_path / "logs" / ".hidden.jsonl").write_text("not read")
    result = read_curves([str(tmp_path / "logs")], params_file=str(
        write_csv(tmp_path / "sizes.csv", ["id", "params"], [["r1", "70M"]])))
    assert sorted(c.run_id for c in result.curves) == ["hf-run", "r1"]
    assert result.tables == (table,)


def test_input_format_overrides_sniffing(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "h.csv", ["_step", "loss", "tokens"], [[1, 3.0, 10]])
    assert read_curves([p], input_format="csv").tables == (p,)
    assert fails([p], input_format="toml") == (
        "input format 'toml' is not one of auto, yaml, csv, jsonl, hf-trainer, wandb-history, "
        "wandb-summary, tensorboard")
    jsonl = '{"step": 1, "loss": 3.0, "tokens": 10}\n'
    (c,) = read_curves(["-"], stdin_text=jsonl).curves
    assert c.run_id == "stdin" and c.source == "<stdin>"


# --------------------------------------------------------------------------- limits, glue


def test_bounded_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write_jsonl(tmp_path / "r.jsonl", ladder_rows(30))
    monkeypatch.setitem(sources.LIMITS, "max_file_bytes", 1000)
    assert fails([p]) == (f"{p}: is {os.path.getsize(p):,} bytes, over the 1,000 bytes limit "
                          "per run log; split it into several files")
    monkeypatch.setitem(sources.LIMITS, "max_file_bytes", 10**6)
    q = write_jsonl(tmp_path / "s.jsonl", ladder_rows(30))
    total = os.path.getsize(p) + os.path.getsize(q)
    monkeypatch.setitem(sources.LIMITS, "max_total_bytes", total - 1)
    assert fails([p, q]) == (f"{q}: the run logs together are over the {total - 1:,} bytes "
                             "limit; pass fewer files")


def test_duplicate_runs_and_one_size_for_many(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a" / "r.jsonl", ladder_rows(2))
    b = write_jsonl(tmp_path / "b" / "r.jsonl", ladder_rows(2))
    assert fails([a, b]) == (f"{b} (id 'r'): duplicate run id, also read from {a}; rename one "
                             "(--column id=KEY) or pass only one of them")
    c = write_jsonl(tmp_path / "c.jsonl", ladder_rows(2))
    assert fails([a, c], params=7e7) == (
        "--log-params gives one size, but 2 runs were read; give each run its size with "
        "--params-file")


def test_params_file_messages(tmp_path: Path) -> None:
    bad = tmp_path / "sizes.yaml"
    bad.write_text("r1: 70\n")
    with pytest.raises(InputError) as info:
        read_params_file(str(bad))
    assert str(info.value) == (f"{bad}: run 'r1': field 'params': '70' is not a plausible "
                               "parameter count (1000 to 1e15); give the full count, e.g. 70M")
    cols = write_csv(tmp_path / "p.csv", ["run", "size"], [["r1", "70M"]])
    with pytest.raises(InputError) as info:
        read_params_file(cols)
    assert str(info.value) == (f"{cols}: a params file needs columns id and params (columns "
                               "are run, size)")


def test_records_equal_the_hand_made_table(tmp_path: Path) -> None:
    # three runs logged three ways; reduced with `last` they must be exactly the runs a
    # hand-written table of final losses gives
    write_jsonl(tmp_path / "logs" / "r-70M.jsonl",
                [{"step": s, "loss": 3.5 - s / 1e4, "tokens": s * 2**21} for s in (500, 1000)])
    write_state(tmp_path / "logs" / "r-160M", [
        {"loss": 3.2, "step": 500, "num_input_tokens_seen": 500 * 2**21, "learning_rate": 1e-4},
        {"loss": 3.1, "step": 1000, "num_input_tokens_seen": 1000 * 2**21,
         "learning_rate": 0.0}], global_step=1000, max_steps=1000)
    write_csv(tmp_path / "logs" / "runs.csv", WANDB_SUMMARY_HEADER,
              [summary_row("r-410M", "finished", 410e6, 2.875, 999, 1000 * 2**21)])
    sizes = tmp_path / "sizes.yaml"
    sizes.write_text("r-70M: 70M\nr-160M: 160M\n")
    curves = read_curves([str(tmp_path / "logs")], params_file=str(sizes))
    records = to_records(curves, Reduction.parse("last")).records
    hand = tmp_path / "table.yaml"
    hand.write_text("runs:\n"
                    "  - {id: r-70M, params: 70M, tokens: 2097152000, loss: 3.4}\n"
                    "  - {id: r-160M, params: 160M, tokens: 2097152000, loss: 3.1}\n"
                    "  - {id: r-410M, params: 410M, tokens: 2097152000, loss: 2.875}\n")
    expected = load_runs([str(hand)]).runs
    out = tmp_path / "from_logs.csv"
    with out.open("w", newline="") as handle:  # the records through the existing validation
        writer = csv.DictWriter(handle, ["id", "params", "tokens", "loss"])
        writer.writeheader()
        writer.writerows({k: repr(v) if isinstance(v, float) else v
                          for k, v in r.record.items()} for r in records)
    got = load_runs([str(out)]).runs

    def key(r: Any) -> tuple[str, float, float, float]:
        return (r.run_id, r.params, r.tokens, r.loss)

    assert [key(r) for r in got] == [key(r) for r in expected]
    assert {r.record["id"]: r.position for r in records} == {
        "r-70M": "line 2", "r-160M": "log_history entry 2", "r-410M": "line 2"}
