"""The bad-input corpus, through the CLI: each case is input files + arguments -> the exact
one-line `Error:` message on stderr, nothing on stdout, and exit code 2.

The inputs are small files in tests/corpus/ (named for what is wrong with them); the tests
run from that directory so messages show the short names. Every message names the file,
the run (position and id, when there is one) and the field, and says how to fix it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scaling_cli.cli import app
from scaling_cli.fit import build as cli_common
from scaling_cli.read import runs, yamlsafe
from scaling_cli.units import SHOWN_CHARS, format_bytes
from scaling_cli.version import __version__

from .conftest import ROOT

CORPUS = Path(__file__).resolve().parent / "corpus"
SAMPLE = str(ROOT / "sample_runs")
FIT = "fit: the law (E, A, B, alpha, beta)"


def run(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def fails(*args: str, input: str | bytes | None = None) -> str:
    """Run a command that must fail cleanly; return its one error line, without `Error: `."""
    code, out, err = run(*args, input=input)
    assert (code, out) == (2, ""), err
    assert err.startswith("Error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err[len("Error: "):-1]


@pytest.fixture(autouse=True)
def _in_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)


BAD_RUN_LOGS = [
    # malformed YAML and wrong shapes
    ("malformed.yaml",
     "malformed.yaml: line 2, column 7: not valid YAML (did not find expected ',' or ']'); "
     "fix the syntax"),
    ("tab_indent.yaml",
     "tab_indent.yaml: line 2, column 1: not valid YAML (found a tab character that violates "
     "indentation); fix the syntax"),
    ("runs_not_a_list.yaml",
     "runs_not_a_list.yaml: document 1: `runs:` must be a list of runs, got a mapping; write "
     "each run as an entry `- id: ...`"),
    ("run_is_a_number.yaml",
     "run_is_a_number.yaml: run 1: is the text '3', not a run; write `id: ..., params: ..., "
     "tokens: ..., loss: ...`"),
    # missing fields and wrong types
    ("missing_loss.yaml",
     "missing_loss.yaml: run 1 (id 'r1'): field 'loss' is missing; add `loss: ...`"),
    ("missing_id.yaml",
     "missing_id.yaml: run 1: field 'id' is missing; give each run a unique `id:`"),
    ("id_is_a_list.yaml",
     "id_is_a_list.yaml: run 1: field 'id' is a list; give each run a unique text id, e.g. "
     "`id: ladder-70M-1e19` (quote it if YAML misreads it)"),
    ("id_with_newline.yaml",
     "id_with_newline.yaml: run 1: field 'id': 'r1\\nr2' contains the control character "
     "U+000A; write the id on one line without it"),
    ("params_is_a_list.yaml",
     "params_is_a_list.yaml: run 1 (id 'r1'): field 'params': expected a number, got a list; "
     "write e.g. 7e9, 7B, 1.4T or 3e23"),
    ("unknown_field.yaml",
     "unknown_field.yaml: run 1 (id 'r1'): unknown field 'tokns'; did you mean 'tokens'?"),
    ("nonstring_key.yaml",
     "nonstring_key.yaml: run 1 (id 'r1'): key ~ (null) is not a field name; field names are "
     "text such as `params:` (put other data under `meta:`)"),
    ("duplicate_key.yaml",
     "duplicate_key.yaml: line 4, column 1: key 'params' appears twice in one mapping (first "
     "on line 2); keep one"),
    ("tags_nested.yaml",
     "tags_nested.yaml: run 1 (id 'r1'): field 'tags': label 2 is a list; labels are plain "
     "text, e.g. `tags: [isoflop, baseline]`"),
    ("exclude_maybe.yaml",
     "exclude_maybe.yaml: run 1 (id 'r1'): field 'exclude': expected true or false, got the "
     "text 'maybe'; write `exclude: true` or `exclude: false`"),
    # numbers: sign, zero, NaN, inf, unit typos, implausible magnitudes
    ("negative_loss.yaml",
     "negative_loss.yaml: run 1 (id 'r1'): field 'loss': '-3.1' is negative; it must be "
     "positive"),
    ("zero_params.yaml",
     "zero_params.yaml: run 1 (id 'r1'): field 'params': is zero; it must be positive"),
    ("nan_loss.yaml",
     "nan_loss.yaml: run 1 (id 'r1'): field 'loss': is NaN; give a finite number (drop or "
     "exclude the run if it diverged)"),
    ("inf_tokens.yaml",
     "inf_tokens.yaml: run 1 (id 'r1'): field 'tokens': '.inf' is infinite; give a finite "
     "number"),
    ("loss_is_no.yaml",
     "loss_is_no.yaml: run 1 (id 'r1'): field 'loss': got the boolean false (YAML reads "
     "yes/no/on/off as booleans); write e.g. 7e9, 7B, 1.4T or 3e23"),
    ("typo_7BB.yaml",
     "typo_7BB.yaml: run 1 (id 'r1'): field 'params': '7BB' repeats the suffix; write 7B"),
    ("space_in_number.yaml",
     "space_in_number.yaml: run 1 (id 'r1'): field 'tokens': '1.4 T' contains a space; write "
     "'1.4T' without spaces"),
    ("seven_billion.yaml",
     "seven_billion.yaml: run 1 (id 'r1'): field 'params': '7 billion' has unknown suffix "
     "'billion'; for 1e9 write 7B"),
    ("unit_3e23flops.yaml",
     "unit_3e23flops.yaml: run 1 (id 'r1'): field 'flops': '3e23flops' has a unit; write the "
     "bare number 3e23 (FLOPs are implied)"),
    ("flops_off_by_1e6.yaml",
     "flops_off_by_1e6.yaml: run 1 (id 'r1'): field 'flops': 5.9e23 is 1e6 times "
     "6*params*tokens; check its units (or drop it to use k*N*D)"),
    ("params_1e-3.yaml",
     "params_1e-3.yaml: run 1 (id 'r1'): field 'params': '1e-3' is implausibly small for "
     "params (minimum 1000); give the full count, e.g. 1.4T or 1.4e12, not 1.4"),
    ("perplexity_loss.yaml",
     "perplexity_loss.yaml: run 1 (id 'r1'): field 'loss': '24.5' is not a plausible loss in "
     "nats/token (expected 0 < loss <= 20); if it is a perplexity, give its natural log"),
    ("hex_0x10.yaml",
     "hex_0x10.yaml: run 1 (id 'r1'): field 'params': '0x10' is hexadecimal; write it in "
     "decimal (16)"),
    ("thousands_separator.yaml",
     "thousands_separator.yaml: run 1 (id 'r1'): field 'params': '1,000,000' contains a comma; "
     "write thousands without separators (1000, 1_000 or 1k) and decimals with a point (1.5)"),
    ("arabic_digits.yaml",
     "arabic_digits.yaml: run 1 (id 'r1'): field 'params': '\u0667B' has characters other "
     "than ASCII digits and letters; write e.g. 7e9, 7B, 1.4T or 3e23"),
    ("huge_integer.yaml",
     "huge_integer.yaml: run 1 (id 'r1'): field 'params': '99999999999999999...9999999999999"
     "99999' is infinite or too large; give a finite number"),
    ("tiny_1e-400.yaml",
     "tiny_1e-400.yaml: run 1 (id 'r1'): field 'loss': '1e-400' is too small (under 1e-308); "
     "check the units"),
    ("long_value.yaml",  # 2,000 characters, echoed in 40
     "long_value.yaml: run 1 (id 'r1'): field 'tokens': '10000000000000000...00000000000000000"
     "x' has unknown suffix 'x'; use k, M, B or T"),
    # duplicates: identical copies, conflicting copies, within one file
    ("duplicate_same",
     "duplicate_same/b.yaml: run 1 (id 'r1'): duplicate run id, same values as "
     "duplicate_same/a.yaml: run 1; delete one copy (each run must appear once or it counts "
     "twice in the fit)"),
    ("duplicate_conflict",
     "duplicate_conflict/b.yaml: run 1 (id 'r1'): duplicate run id, conflicting with "
     "duplicate_conflict/a.yaml: run 1: field 'loss' is 2.9 here and 3.1 there; rename one run "
     "or delete the wrong one"),
    ("duplicate_in_one_file.yaml",
     "duplicate_in_one_file.yaml: run 3 (id 'r1'): duplicate run id, conflicting with "
     "duplicate_in_one_file.yaml: run 1: field 'exclude' is true here and false there; rename "
     "one run or delete the wrong one"),
    # empty, not text
    ("empty.yaml", "empty.yaml: is empty; it should hold a run or a `runs:` list"),
    ("comments_only.yaml", "comments_only.yaml: is empty; it should hold a run or a `runs:` "
                           "list"),
    ("hidden_only", "hidden_only: directory has no run logs (*.yaml, *.yml, *.csv) or "
                    "training logs (*.jsonl, trainer_state.json, event files)"),
    ("latin1.yaml", "latin1.yaml: line 1: byte 0xe9 is not UTF-8; re-save the file as UTF-8"),
    ("binary.yaml", "binary.yaml: is a binary file, not a YAML or CSV run log"),
    ("utf16.yaml", "utf16.yaml: is UTF-16 or UTF-32 text; re-save the file as UTF-8"),
    ("control_char.yaml",
     "control_char.yaml: line 5: control character U+0007 in the text; remove it (or is this "
     "not a run log?)"),
    # one bad file among many good ones is named
    ("one_bad_among_many",
     "one_bad_among_many/run07.yaml: run 1 (id 'r7'): field 'loss': '3.06x' has unknown "
     "suffix 'x'; use k, M, B or T (or write e.g. 3.06e9)"),
    # CSV
    ("csv_missing_column.csv",
     "csv_missing_column.csv: no column for required field 'loss'; add the column or map one "
     "with --column loss=COLUMN (columns are id, params, tokens)"),
    ("csv_no_id_column.csv",
     "csv_no_id_column.csv: no column for required field 'id'; add the column or map one with "
     "--column id=COLUMN (columns are params, tokens, loss)"),
    ("csv_header_only.csv", "csv_header_only.csv: has a header but no rows"),
    ("csv_ragged_row.csv",
     "csv_ragged_row.csv: line 3: has 5 cells but the header has 4; fix the row or quote "
     "cells that contain commas"),
    ("csv_unclosed_quote.csv",
     "csv_unclosed_quote.csv: line 3: a quote (\") is never closed; close it or remove it"),
    ("csv_duplicate_column.csv",
     "csv_duplicate_column.csv: line 1: column 'params' appears twice in the header; rename "
     "or delete one"),
    ("csv_empty_cell.csv",
     "csv_empty_cell.csv: line 2 (id 'r1'): field 'loss' is empty; fill in the cell or delete "
     "the row"),
    ("csv_bad_number.csv",
     "csv_bad_number.csv: line 3 (id 'r2'): field 'params': '7BB' repeats the suffix; write "
     "7B"),
    ("empty.csv", "empty.csv: is empty; it needs a header row and runs"),
    # hostile YAML: refused before anything is built
    ("alias_bomb.yaml",
     "alias_bomb.yaml: line 7: YAML aliases expand to more than 5,000,000 nodes (an alias "
     "bomb?); write the runs out plainly"),
    ("deep_nesting.yaml",
     "deep_nesting.yaml: line 1: nesting deeper than 64 levels; run logs are flat records: "
     "remove the nesting"),
    ("deep_with_anchor.yaml",
     "deep_with_anchor.yaml: line 2: nesting deeper than 64 levels; run logs are flat records: "
     "remove the nesting"),
    ("python_tag.yaml",
     "python_tag.yaml: line 2, column 9: unsupported YAML tag !!python/object/apply:os.system; "
     "remove it (run logs are plain data)"),
    ("bad_explicit_tag.yaml",
     "bad_explicit_tag.yaml: line 5, column 10: cannot read 'maybe' as !!bool; remove the tag "
     "or fix the value"),
    # the fit itself
    # an empty value with a trailing blank: both YAML readers see null (issue 12, class 15)
    ("empty_loss_trailing_space.yaml",
     "empty_loss_trailing_space.yaml: run 1 (id 'r1'): field 'loss' is missing; add `loss: ...`"),
    ("empty_loss_trailing_space_commented.yaml",
     "empty_loss_trailing_space_commented.yaml: run 1 (id 'r1'): field 'loss' is missing; add "
     "`loss: ...`"),
    ("too_few_sizes.yaml",
     "too few runs to identify the law: 5 runs, 1 sizes, 5 token counts, 5 tokens/param "
     "ratios; 5 free parameters need 6 runs, 3 sizes, 3 token counts, 2 ratios (add runs, tie "
     "the exponents with --tie-exponents, or use a published --law)"),
]


@pytest.mark.parametrize(("target", "message"), BAD_RUN_LOGS, ids=[c[0] for c in BAD_RUN_LOGS])
def test_bad_run_log(target: str, message: str) -> None:
    assert fails("fit", target, "--bootstrap", "0") == message


# Hand-edited fit files, checked as strictly as run logs (and before matplotlib sees them).
BAD_FIT_FILES = [
    ("fit_alpha_true.json", "field 'law.alpha.value' is True, not a number"),
    ("fit_alpha_1e308.json", "field 'law.alpha.value' is 1e+308, outside 0 to 10"),
    ("fit_flops_max_zero.json", "field 'inputs.compute_flops_max' is 0, outside 1 to 1e+35"),
    ("fit_no_convention.json", "field 'convention' is missing"),
    ("fit_at_bounds_list.json", "field 'fit.at_bounds' is not a list of E, A, B, alpha, beta"),
]


@pytest.mark.parametrize(("target", "problem"), BAD_FIT_FILES, ids=[c[0] for c in BAD_FIT_FILES])
@pytest.mark.parametrize("command", [("optimal", "-b", "1e24"),
                                     ("plot", "-b", "1e24", "-o", "never.png")],
                         ids=["optimal", "plot"])
def test_bad_fit_file(target: str, problem: str, command: tuple[str, ...]) -> None:
    assert fails(command[0], "--fit", target, *command[1:]) == (
        f"{target}: corrupted fit file ({problem}); recreate it with `scaling fit RUNS -o "
        f"{target}`")
    assert not (CORPUS / "never.png").exists()


def test_an_unverified_fit_file_needs_allow_unverified() -> None:
    assert fails("optimal", "--fit", "fit_unverified.json", "-b", "1e24") == (
        "fit_unverified.json: the fit in this file was NOT verified; refit with more runs, or "
        "pass --allow-unverified to use it anyway")
    code, _, err = run("optimal", "--fit", "fit_unverified.json", "-b", "1e24", "-q",
                       "--allow-unverified")
    assert code == 0, err


# Plan files: the same plausibility ranges as run logs and flags.
BAD_PLAN_FILES = [
    ("plan_params_1.yaml",
     "plan_params_1.yaml: 'params': 1 is implausibly small (from 1000 to 1e+15); check the "
     "units"),
    ("plan_params_1e300.yaml",
     "plan_params_1e300.yaml: 'params': 1e+300 is implausibly large (from 1000 to 1e+15); "
     "check the units"),
    ("plan_gpus_1e300.yaml",
     "plan_gpus_1e300.yaml: hardware: 'gpus': '1e300' is not a GPU count; give a whole number "
     "from 1 to 1e9"),
    ("plan_peak_tflops_1e-300.yaml",
     "plan_peak_tflops_1e-300.yaml: hardware: 'peak_tflops': 1e-300 is not plausible: give a "
     "positive number from 0.001 to 1e+06"),
]


@pytest.mark.parametrize(("target", "message"), BAD_PLAN_FILES, ids=[c[0] for c in BAD_PLAN_FILES])
def test_bad_plan_file(target: str, message: str) -> None:
    assert fails("check", target, "--law", "epoch-2024") == message


def test_corpus_is_complete() -> None:
    # every file or directory in tests/corpus/ is exercised by some test here
    cases = [*BAD_RUN_LOGS, *BAD_FIT_FILES, *BAD_PLAN_FILES]
    used = {c[0] for c in cases} | {"flat_losses.yaml", "good_bom_crlf_quoted.csv",
                                    "fit_newer.json", "fit_not_json.json",
                                    "fit_not_a_fit.json", "fit_unverified.json", "README.md",
                                    "logs"}  # training logs: test_corpus_logs.py
    assert {p.name for p in CORPUS.iterdir()} == used


def test_the_documented_limits_are_the_limits() -> None:
    doc = (ROOT / "docs" / "input-errors.md").read_text()
    for row in (f"| one run log (file or stdin) | {format_bytes(runs.LIMITS['max_file_bytes'])} |",
                f"| all run logs together | {format_bytes(runs.LIMITS['max_total_bytes'])} |",
                f"| one YAML file | {format_bytes(yamlsafe.MAX_TEXT_CHARS)} |",
                f"| runs (records read, before `--where`) | {runs.LIMITS['max_runs']:,} |",
                f"| YAML nesting | {yamlsafe.MAX_DEPTH} levels |",
                f"expansion (\"billion laughs\") | {yamlsafe.MAX_EXPANDED_NODES:,} nodes |",
                f"| echoed values in messages | {SHOWN_CHARS} characters |",
                f"| `--bootstrap` replicates | {cli_common.MAX_REPLICATES:,} |"):
        assert row in doc, row


def test_messages_stay_one_short_line() -> None:
    for target, message in BAD_RUN_LOGS:
        assert "\n" not in message and len(message) < 260, target


# --------------------------------------------------------------------------- accepted


def test_bom_crlf_and_quoted_commas_are_read() -> None:
    code, out, err = run("fit", "good_bom_crlf_quoted.csv", "--bootstrap", "0", "-q",
                         "--field", "E")
    assert code == 0, err
    assert float(out) == pytest.approx(1.8, abs=0.01)


def test_numbers_yaml_would_misread_are_kept_as_written(tmp_path: Path) -> None:
    # YAML 1.1 reads 010 as 8, 1.10 as 1.1 and 1:20 as 80; ids are kept as written, and
    # quoted numbers ('1e18') are numbers like any other.
    log = tmp_path / "ids.yaml"
    log.write_text("runs:\n" + "".join(
        f"  - {{id: {rid}, params: '{p}M', tokens: {t}, loss: {loss}}}\n"
        for rid, p, t, loss in [("010", 40, "'4e9'", 3.3), ("1.10", 80, "4e9", 3.1),
                                ("1:20", 160, "4_000_000_000", 2.9)]))
    loaded = runs.load_runs([str(log)])
    assert [r.run_id for r in loaded.runs] == ["010", "1.10", "1:20"]
    assert {r.tokens for r in loaded.runs} == {4e9}


BAD_NUMBERS = [
    (" 7 B", "' 7 B' contains a space; write '7B' without spaces"),
    ("7 billion", "'7 billion' has unknown suffix 'billion'; for 1e9 write 7B"),
    ("7e9params", "'7e9params' has unknown suffix 'params'; use k, M, B or T"),
    ("1,000", "'1,000' contains a comma; write thousands without separators (1000, 1_000 or "
              "1k) and decimals with a point (1.5)"),
    ("0x10", "'0x10' is hexadecimal; write it in decimal (16)"),
    ("\uff11e24", "'\uff11e24' has characters other than ASCII digits and letters; write e.g. "
                  "7e9, 7B, 1.4T or 3e23"),
    ("1e400", "'1e400' is infinite or too large; give a finite number"),
    ("1e-400", "'1e-400' is too small (under 1e-308); check the units"),
    ("-7e9", "'-7e9' is negative; it must be positive"),
    ("nan", "is NaN; give a finite number (drop or exclude the run if it diverged)"),
    ("x" * 5000, "'xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx' is not a number; write e.g. 7e9, 7B, "
                 "1.4T or 3e23"),
]


@pytest.mark.parametrize(("params", "problem"), BAD_NUMBERS, ids=[b[:12] for b, _ in BAD_NUMBERS])
def test_bad_numbers_on_the_command_line(params: str, problem: str) -> None:
    # the parser run logs use; --params is the simplest place to see it
    args = ("predict", "--law", "epoch-2024", "--params", params, "--tokens", "1.4T")
    assert fails(*args) == f"--params: {problem}"


def test_numbers_that_are_fine_on_the_command_line() -> None:
    code, out, err = run("predict", "--law", "epoch-2024", "-q", "--field", "params",
                         *(arg for n in ("7e9", "7_000M", "7.0e+09", " 7B ", "0.007T")
                           for arg in ("--params", n, "--tokens", "1.4T")))
    assert code == 0, err
    assert [float(x) for x in out.split()] == [7e9] * 5


# --------------------------------------------------------------------------- paths, filters


def test_empty_directory_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    empty = str(tmp_path / "empty")
    assert fails("fit", empty) == (f"{empty}: directory has no run logs (*.yaml, *.yml, *.csv) "
                                   "or training logs (*.jsonl, trainer_state.json, event files)")
    assert fails("fit", "nope.yaml") == "nope.yaml: no such file or directory"
    assert fails("fit", "nope/*.yaml") == "nope/*.yaml: pattern matches no files"


def test_where_on_a_missing_column() -> None:
    assert fails("fit", SAMPLE, "--where", "lr==3e-4") == (
        "--where 'lr==3e-4': no run has a field or meta key 'lr'; check the spelling (fields "
        "are id, params, tokens, loss, flops, group, non_embedding_params, unique_tokens, tags, "
        "exclude, exclude_reason, meta)")
    assert fails("fit", "good_bom_crlf_quoted.csv", "--where", "lr==3e-4") == (
        "good_bom_crlf_quoted.csv: --where 'lr==3e-4': no column 'lr'; columns are id, params, "
        "tokens, loss, note")
    assert fails("fit", SAMPLE, "--where", "params>1e20") == (
        "no runs left after --where 'params>1e20' (50 read); loosen the filters")


# --------------------------------------------------------------------------- limits


def test_a_300_mib_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:  # sparse: no disk space, no time
        handle.truncate(300 * 2**20)
    assert fails("fit", str(huge)) == (
        f"{huge}: is 300 MiB, over the 256 MiB limit per run log; split it into several files")


def test_an_endless_device_is_read_only_up_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    monkeypatch.setitem(runs.LIMITS, "max_file_bytes", 2**20)
    assert fails("fit", "/dev/zero") == (
        "/dev/zero: is over the 1 MiB limit per run log; split it into several files")


def test_yaml_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsafe, "MAX_TEXT_CHARS", 20)
    assert fails("fit", "missing_id.yaml") == (
        "missing_id.yaml: is over the 20 bytes limit per YAML file; split it into several "
        "files or use CSV")


def test_run_count_and_total_size_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(runs.LIMITS, "max_runs", 10)
    assert fails("fit", SAMPLE) == (
        f"{SAMPLE}/isoflop_1e19.yaml: run 3: more than 10 runs in all; fit a sample of them")
    monkeypatch.setitem(runs.LIMITS, "max_runs", 1_000_000)
    monkeypatch.setitem(runs.LIMITS, "max_total_bytes", 300)
    assert fails("fit", "one_bad_among_many") == (
        "one_bad_among_many/run06.yaml: the run logs together are over the 300 bytes limit; "
        "pass fewer files")


# --------------------------------------------------------------------------- stdin


def test_stdin_that_is_not_text_is_refused_like_a_file() -> None:
    assert fails("fit", "-", input="id: r1\x00\n") == (
        "<stdin>: is a binary file, not a YAML or CSV run log")
    # Python decodes undecodable stdin bytes to lone surrogates (surrogateescape): the
    # loader turns them back into the byte and names it.
    with pytest.raises(runs.InputError) as info:
        runs.load_runs(["-"], stdin_text="id: caf\udce9\n")
    assert str(info.value) == "<stdin>: line 1: byte 0xe9 is not UTF-8; re-save the file as UTF-8"


def test_stdin_bytes_that_are_not_utf8() -> None:
    assert fails("fit", "-", input=b"id: caf\xe9\n") == (
        "<stdin>: line 1: byte 0xe9 is not UTF-8; re-save the file as UTF-8")


# --------------------------------------------------------------------------- fit files


def test_fit_files_from_a_newer_version_or_not_fit_files() -> None:
    assert fails("optimal", "--fit", "fit_newer.json", "-b", "1e24") == (
        f"fit_newer.json: fit file format 99 was written by scaling-cli 9.0.0; this is "
        f"{__version__} (format 1): upgrade scaling-cli or refit")
    assert fails("optimal", "--fit", "fit_not_json.json", "-b", "1e24") == (
        "fit_not_json.json: not a fit file (invalid JSON at line 2: Expecting property name "
        "enclosed in double quotes); recreate it with `scaling fit RUNS -o fit_not_json.json`")
    assert fails("optimal", "--fit", "fit_not_a_fit.json", "-b", "1e24") == (
        "fit_not_a_fit.json: not a scaling-cli fit file; create one with `scaling fit RUNS -o "
        "fit_not_a_fit.json`")


# The nesting limit is ours, not the YAML library's: libyaml before 0.2.5 has no limit (and
# overflows the C stack composing ~100,000 levels), 0.2.5+ stops at 1,000, the pure-Python
# loader at Python's recursion limit. CI once failed on exactly that difference.
NESTING_CASES = [
    ("id: " + "[" * 1003 + "]" * 1003, "line 1: nesting deeper than 64 levels"),
    ("id: x\nmeta: " + "[" * 100 + "]" * 100, "line 2: nesting deeper than 64 levels"),
    ("id: " + "[" * 100_000 + "]" * 100_000, "line 1: nesting deeper than 64 levels"),
    ("id: x\n" + "".join("  " * i + f"k{i}:\n" for i in range(70)) + "  " * 70 + "v: 1\n",
     "line 66: nesting deeper than 64 levels"),
    ("id: x\nm: &a [*a]\n", "f.yaml: nesting deeper than 64 levels"),
    ("a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 10 + "*a" + "]" * 10,
     "f.yaml: nesting deeper than 64 levels"),
]

_NESTING_PROBE = """
import json, sys
import yaml
if sys.argv[1] == "pure-python":
    del yaml.CSafeLoader  # what a PyYAML built without libyaml looks like
from scaling_cli.read import yamlsafe
from scaling_cli.errors import InputError
out = []
for text in json.loads(sys.stdin.read()):
    try:
        out.append(repr(yamlsafe.load_yaml_documents(text, "f.yaml")))
    except InputError as exc:
        out.append(str(exc))
print(json.dumps(out))
"""


@pytest.mark.parametrize("loader", ["libyaml", "pure-python"])
def test_nesting_limit_does_not_depend_on_the_yaml_build(loader: str) -> None:
    import json
    import os
    import subprocess
    import sys

    if loader == "libyaml" and not hasattr(__import__("yaml"), "CSafeLoader"):
        pytest.skip("this PyYAML was built without libyaml")
    texts = [text for text, _ in NESTING_CASES] + ["id: x\ntags: [[a, b], {c: d}]\n"]
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run([sys.executable, "-c", _NESTING_PROBE, loader], check=False, cwd=ROOT,
                          env=env, input=json.dumps(texts), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]  # a crash would be a segfault here
    got = json.loads(done.stdout)
    for (_, expected), message in zip(NESTING_CASES, got, strict=False):
        assert expected in message
        assert message.endswith("run logs are flat records: remove the nesting")
    assert got[-1] == repr([{"id": "x", "tags": [["a", "b"], {"c": "d"}]}])
