"""The bad-input corpus of training logs (tests/corpus/logs/, README there), through the CLI:
one file (or run folder) per class of problem, each to its exact one-line `Error:` message,
nothing on stdout and exit code 2; and the same problem named, not raised, with
`--skip-invalid` where it is one run's problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .test_corpus import fails, run  # the corpus's CLI runner: one Error: line, exit 2

CORPUS = Path(__file__).resolve().parent / "corpus"
EVENTS = "events.out.tfevents.1700000000.host.1.0"
TB_HINT = "the tensorboard extra is not installed"


@pytest.fixture(autouse=True)
def _in_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)


# (target in tests/corpus/logs/, extra arguments, message, one run's problem?)
BAD_LOGS: list[tuple[str, tuple[str, ...], str, bool]] = [
    # JSON Lines: the text
    ("cut_short.jsonl", (),
     "logs/cut_short.jsonl: line 3: not valid JSON (Expecting ',' delimiter, column 38); the "
     "line is cut short (was the run killed while writing it?); delete or complete it", True),
    ("not_an_object.jsonl", (),
     'logs/not_an_object.jsonl: line 3: is a list, not a JSON object; write one object per '
     'line, e.g. {"step": 100, "loss": 3.41}', True),
    ("key_twice.jsonl", (),
     "logs/key_twice.jsonl: line 3: key 'loss' appears twice in one object; keep one", True),
    ("empty.jsonl", (),
     'logs/empty.jsonl: is empty; a JSON Lines log holds one object per line, e.g. {"step": '
     '100, "loss": 3.41}', False),
    # JSON Lines: the keys
    ("missing_keys.jsonl", (),
     "logs/missing_keys.jsonl: no key for 'step' (did you mean 'stp'?); no key for 'tokens' "
     "(did you mean 'tokns'?) (or give --tokens-per-step); no key for 'loss' (did you mean "
     "'losss'?); map each with --column FIELD=KEY (keys are stp, losss, tokns, lr)", False),
    ("two_loss_keys.jsonl", (),
     "logs/two_loss_keys.jsonl: keys 'loss' and 'train/loss' could both be the loss; choose "
     "one with --column loss=KEY", False),
    ("run_key_missing.jsonl", (),
     "logs/run_key_missing.jsonl: line 2: no 'run', though other lines name their run; give "
     "every line with a loss its run", False),
    # JSON Lines: the values and their order
    ("nan_loss.jsonl", (),
     "logs/nan_loss.jsonl: line 3 (id 'nan_loss'): field 'loss': is NaN; give a finite number "
     "(drop or exclude the run if it diverged)", True),
    ("null_loss.jsonl", (),
     "logs/null_loss.jsonl: line 3 (id 'null_loss'): field 'loss': is null; give a finite "
     "number (a NaN written as null?)", True),
    ("half_step.jsonl", (),
     "logs/half_step.jsonl: line 3 (id 'half_step'): field 'step': 30.5 is not a whole number "
     "of steps", True),
    ("restarted.jsonl", (),
     "logs/restarted.jsonl: line 3 (id 'restarted'): field 'step': 20 repeats step 20 at line "
     "2 (a restarted run?); keep the points logged after the restart with --restarts "
     "keep-last, or split the log", True),
    ("tokens_backwards.jsonl", (),
     "logs/tokens_backwards.jsonl: line 3 (id 'tokens_backwards'): field 'tokens': 20.9715M is "
     "not more than 20.9715M at line 2; tokens must grow with every step (is the tokens column "
     "the right one?)", True),
    ("size_changes.jsonl", (),
     "logs/size_changes.jsonl: line 3 (id 'size_changes'): field 'params': 160M differs from "
     "70M at line 1; one run has one size", True),
    ("no_size.jsonl", (),
     "logs/no_size.jsonl (id 'no_size'): no parameter count; give it with --log-params (one "
     "run) or --params-file (run -> params), or put a config.json beside a "
     "trainer_state.json", True),
    # Hugging Face trainer_state.json
    ("hf_unfinished", (),
     "logs/hf_unfinished/trainer_state.json (id 'hf_unfinished'): stopped at step 40 of "
     "max_steps 50 (a checkpoint, or a crashed run); its last loss is not a finished run's: "
     "read the finished run's trainer_state.json, or skip it with --skip-invalid", True),
    ("hf_not_a_state", (),
     "logs/hf_not_a_state/trainer_state.json: has no 'log_history' list; is this a Hugging "
     "Face trainer_state.json?", False),
    ("hf_cut_short", (),
     "logs/hf_cut_short/trainer_state.json: line 4, column 1: not valid JSON (Expecting ',' "
     "delimiter); the file is cut short; was it copied while being written?", False),
    ("hf_moe", (),
     "logs/hf_moe/trainer_state.json (id 'hf_moe'): logs/hf_moe/config.json: is a "
     "mixture-of-experts model (num_local_experts = 8): total and active parameters differ; "
     "give the size with --log-params or --params-file", True),
    ("hf_no_tokens", (),
     "logs/hf_no_tokens/trainer_state.json: no key for 'tokens' (or give --tokens-per-step); "
     "map each with --column FIELD=KEY (keys are epoch, grad_norm, learning_rate, loss, step, "
     "total_flos, train_loss, train_runtime)", False),
    # W&B Runs-table (summary) exports
    ("wandb_crashed.csv", (),
     "logs/wandb_crashed.csv: line 3 (id 'ladder-160M'): State is 'crashed', not 'finished'; "
     "its summary is not a finished run's final loss: delete the row, or skip it with "
     "--skip-invalid", True),
    ("wandb_empty_loss.csv", (),
     "logs/wandb_empty_loss.csv: line 3 (id 'ladder-160M'): field 'loss' is empty (the run "
     "logged no loss?); fill in the cell or delete the row", True),
    ("wandb_name_twice.csv", (),
     "logs/wandb_name_twice.csv: line 3 (id 'ladder'): the run name is also on line 2; W&B "
     "names need not be unique: map --column id=ID", True),
    ("wandb_no_loss_column.csv", (),
     "logs/wandb_no_loss_column.csv: no column for 'loss' (did you mean 'train/loss_avg'?); "
     "map each with --column FIELD=COLUMN (columns are Name, State, Notes, User, Tags, "
     "Created, Runtime, Sweep, _step, 'train/tokens', 'model/num_parameters', "
     "'train/loss_avg')", False),
    # W&B history exports (long: the API's; wide: a panel's)
    ("wandb_history_empty_tokens.csv", (),
     "logs/wandb_history_empty_tokens.csv: line 3 (id 'a'): field 'tokens' is empty; a row "
     "with a loss needs its tokens", True),
    ("wandb_history_two_steps.csv", (),
     "logs/wandb_history_two_steps.csv: columns '_step' and 'trainer/global_step' could both "
     "be the step; choose one with --column step=COLUMN", False),
    ("wandb_history_ragged.csv", (),
     "logs/wandb_history_ragged.csv: line 3: has 3 cells but the header has 4; fix the row or "
     "quote cells that contain commas", False),
    ("wandb_panel_missing_metric.csv", ("--tokens-per-step", "1M"),
     "logs/wandb_panel_missing_metric.csv: line 1 (id 'ladder-160M'): no column 'ladder-160M "
     "- train/loss'; export the panel with that metric for every run", True),
    # TensorBoard event files
    ("tb_cut_short", (),
     f"logs/tb_cut_short/{EVENTS} (id 'tb_cut_short'): damaged or cut short after 6 events "
     "(byte 434 of 494); was it copied while the run was writing it? Copy it again, or skip "
     "the run with --skip-invalid", True),
    ("tb_missing_tags", (),
     "logs/tb_missing_tags: no tag for 'tokens' (did you mean 'tokens_seen_total'?) (or give "
     "--tokens-per-step); no tag for 'loss' (did you mean 'Loss/train'?); map each with "
     "--column FIELD=TAG (tags are 'Loss/train', tokens_seen_total)", False),
    # how a curve becomes a run
    ("short_curve.jsonl", ("--reduce", "mean:10"),
     "logs/short_curve.jsonl (id 'short_curve'): has 2 logged points, fewer than the 10 that "
     "--reduce mean:10 averages; lower K", True),
    ("short_curve.jsonl", ("--reduce", "at:1T"),
     "logs/short_curve.jsonl (id 'short_curve'): 1T tokens is outside the logged range "
     "10.4858M to 20.9715M; choose a token count inside it (curves are never extrapolated)",
     True),
    ("short_curve.jsonl", ("--params-file", "logs/params_implausible.yaml"),
     "logs/params_implausible.yaml: run 'short_curve': field 'params': '70' is not a plausible "
     "parameter count (1000 to 1e15); give the full count, e.g. 70M", False),
]
IDS = [f"{target}{'-' + '-'.join(args) if args else ''}" for target, args, _, _ in BAD_LOGS]


def needs_tensorboard(target: str) -> None:
    if target.startswith("tb_"):
        pytest.importorskip("tensorboard", reason=TB_HINT)


@pytest.mark.parametrize(("target", "args", "message", "one_run"), BAD_LOGS, ids=IDS)
def test_bad_training_log(target: str, args: tuple[str, ...], message: str,
                          one_run: bool) -> None:
    needs_tensorboard(target)
    assert fails("fit", f"logs/{target}", *args, "--bootstrap", "0") == message


@pytest.mark.parametrize(("target", "args", "message", "one_run"),
                         [c for c in BAD_LOGS if c[3]], ids=[i for i, c in zip(IDS, BAD_LOGS,
                                                                                 strict=True)
                                                             if c[3]])
def test_one_runs_problem_is_skipped_and_named(target: str, args: tuple[str, ...], message: str,
                                               one_run: bool) -> None:
    # with --skip-invalid the run is left out and named: on its own line when other runs are
    # left (the fit then needs more runs than a corpus file holds, and stops), else in the
    # error that no run is left
    needs_tensorboard(target)
    code, out, err = run("fit", f"logs/{target}", *args, "--skip-invalid", "--bootstrap", "0")
    assert (code, out) == (2, "")
    first, *rest = err.rstrip("\n").split("\n")
    if first.startswith("Skipped: "):
        assert first == f"Skipped: {message}"
        assert len(rest) == 1 and rest[0].startswith("Error: too few runs")
    else:
        assert re.fullmatch(r"Error: no runs left: all \d+ were skipped as invalid; the "
                            r"first: " + re.escape(message), first), first
        assert rest == []


def test_messages_stay_one_short_line() -> None:
    for target, _, message, _ in BAD_LOGS:
        assert "\n" not in message and len(message) < 330, target


def test_corpus_of_logs_is_complete() -> None:
    # every file or run folder in tests/corpus/logs/ is exercised here
    used = {c[0] for c in BAD_LOGS} | {"params_implausible.yaml"}
    assert {p.name for p in (CORPUS / "logs").iterdir()} == used
