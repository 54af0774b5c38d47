"""The run-log loader: every input shape it accepts, and the exact message for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaling_cli.errors import InputError
from scaling_cli.read.runs import load_runs

RUN = "id: {id}\nparams: {params}\ntokens: {tokens}\nloss: {loss}\n"


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def run_text(i: int, **over: object) -> str:
    values = {"id": f"r{i}", "params": f"{10 + i}M", "tokens": f"{2 + i}B", "loss": 3.0 - i / 100}
    values.update(over)
    return RUN.format(**values)


def test_one_run_per_file_runs_list_and_documents(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", run_text(1))
    write(tmp_path / "b.yml", "runs:\n" + "".join(
        "  - " + run_text(i).replace("\n", "\n    ").rstrip() + "\n" for i in (2, 3)))
    write(tmp_path / "sub" / "c.yaml", run_text(4) + "---\n" + run_text(5))
    write(tmp_path / "notes.md", "ignored: not a run log")
    runs = load_runs([str(tmp_path)])
    assert [r.run_id for r in runs.runs] == ["r1", "r2", "r3", "r4", "r5"]
    assert runs.runs[0].params == 11e6 and runs.runs[0].tokens == 3e9
    assert runs.runs[4].position == "run 2" and runs.runs[4].source.endswith("c.yaml")


def test_yaml_strings_like_1e18_are_numbers(tmp_path: Path) -> None:
    # PyYAML reads 1e18 (no dot) as a string; the unit parser must take it.
    p = write(tmp_path / "a.yaml", run_text(1, tokens="1e10") + "flops: 6.6e17\n")
    run = load_runs([p]).runs[0]
    assert run.tokens == 1e10 and run.flops == 6.6e17


def test_glob_stdin_and_same_file_twice(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", run_text(1))
    write(tmp_path / "b.yaml", run_text(2))
    runs = load_runs([str(tmp_path / "*.yaml"), a, "-"], stdin_text=run_text(3))
    assert [r.run_id for r in runs.runs] == ["r1", "r2", "r3"]
    assert "<stdin>" in runs.sources


def test_csv_with_column_mapping_and_where(tmp_path: Path) -> None:
    p = write(tmp_path / "w.csv", "Name,n,toks,final_loss,keep\n"
              "a,10M,2B,3.1,1\nb,20M,2B,3.0,0\nc,30M,2e9,2.9,1\n")
    runs = load_runs([p], columns={"id": "Name", "params": "n", "tokens": "toks",
                                   "loss": "final_loss"}, where=["keep==1"])
    assert [r.run_id for r in runs.runs] == ["a", "c"]
    assert runs.runs[1].position == "line 4"


def test_excluded_runs_are_kept_apart(tmp_path: Path) -> None:
    p = write(tmp_path / "a.yaml", run_text(1) + "exclude: true\nexclude_reason: diverged\n")
    write(tmp_path / "b.yaml", run_text(2))
    runs = load_runs([str(tmp_path)])
    assert [r.run_id for r in runs.runs] == ["r2"]
    assert runs.excluded[0].exclude_reason == "diverged" and runs.excluded[0].source == p


def test_hash_ignores_order_and_formatting(tmp_path: Path) -> None:
    one = write(tmp_path / "one" / "a.yaml", run_text(1) + "---\n" + run_text(2))
    write(tmp_path / "two" / "b.yaml", run_text(2, params="12000000"))
    write(tmp_path / "two" / "a.yaml", "# comment\n" + run_text(1))
    assert load_runs([one]).sha256 == load_runs([str(tmp_path / "two")]).sha256
    write(tmp_path / "three" / "a.yaml", run_text(1) + "---\n" + run_text(2, loss=2.5))
    assert load_runs([str(tmp_path / "three")]).sha256 != load_runs([one]).sha256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (run_text(1, tokens="'1.4 T'"),
         "{f}: run 1 (id 'r1'): field 'tokens': '1.4 T' contains a space; "
         "write '1.4T' without spaces"),
        (run_text(1, params="7BB"),
         "{f}: run 1 (id 'r1'): field 'params': '7BB' repeats the suffix; write 7B"),
        (run_text(1, loss=".nan"),
         "{f}: run 1 (id 'r1'): field 'loss': is NaN; give a finite number "
         "(drop or exclude the run if it diverged)"),
        (run_text(1, loss=-1),
         "{f}: run 1 (id 'r1'): field 'loss': '-1' is negative; it must be positive"),
        (run_text(1, params=0),
         "{f}: run 1 (id 'r1'): field 'params': is zero; it must be positive"),
        (run_text(1, tokens=1.4),
         "{f}: run 1 (id 'r1'): field 'tokens': '1.4' is implausibly small for tokens "
         "(minimum 1000); give the full count, e.g. 1.4T or 1.4e12, not 1.4"),
        (run_text(1, loss=35.0),
         "{f}: run 1 (id 'r1'): field 'loss': '35.0' is not a plausible loss in nats/token "
         "(expected 0 < loss <= 20); if it is a perplexity, give its natural log"),
        (run_text(1, loss="no"),
         "{f}: run 1 (id 'r1'): field 'loss': got the boolean false (YAML reads "
         "yes/no/on/off as booleans); write e.g. 7e9, 7B, 1.4T or 3e23"),
        (run_text(1) + "flops: 1e30\n",
         "{f}: run 1 (id 'r1'): field 'flops': 1e30 is 5.05e12 times 6*params*tokens; "
         "check its units (or drop it to use k*N*D)"),
        ("id: r1\nparams: 10M\ntokens: 2B\n",
         "{f}: run 1 (id 'r1'): field 'loss' is missing; add `loss: ...`"),
        ("params: 10M\ntokens: 2B\nloss: 3\n",
         "{f}: run 1: field 'id' is missing; give each run a unique `id:`"),
        (run_text(1) + "tokns: 3\n",
         "{f}: run 1 (id 'r1'): unknown field 'tokns'; did you mean 'tokens'?"),
        ("runs: 3\n", "{f}: document 1: `runs:` must be a list of runs, got the text '3'; "
                      "write each run as an entry `- id: ...`"),
        ("runs:\n  - 3\n", "{f}: run 1: is the text '3', not a run; "
                            "write `id: ..., params: ..., tokens: ..., loss: ...`"),
        ("id: [1\n", "{f}: line 2, column 1: not valid YAML (did not find expected ',' or "
                     "']'); fix the syntax"),
        ("", "{f}: is empty; it should hold a run or a `runs:` list"),
        ("just text", "{f}: document 1 is the text 'just text', not a run; write `id: ..., "
                      "params: ..., tokens: ..., loss: ...` or a `runs:` list"),
    ],
)
def test_bad_yaml_names_file_run_and_field(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path / "bad.yaml", text)
    with pytest.raises(InputError) as info:
        load_runs([p])
    assert str(info.value) == message.format(f=p)


def test_duplicate_ids_identical_and_conflicting(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", run_text(1))
    b = write(tmp_path / "b.yaml", run_text(1))
    with pytest.raises(InputError) as info:
        load_runs([a, b])
    assert str(info.value) == (
        f"{b}: run 1 (id 'r1'): duplicate run id, same values as {a}: run 1; delete one copy "
        "(each run must appear once or it counts twice in the fit)")
    write(tmp_path / "b.yaml", run_text(1, loss=2.5))
    with pytest.raises(InputError) as info:
        load_runs([a, b])
    assert str(info.value) == (
        f"{b}: run 1 (id 'r1'): duplicate run id, conflicting with {a}: run 1: field 'loss' "
        "is 2.5 here and 2.99 there; rename one run or delete the wrong one")


def test_one_bad_file_among_many_is_named(tmp_path: Path) -> None:
    for i in range(20):
        write(tmp_path / f"r{i:02d}.yaml", run_text(i))
    bad = write(tmp_path / "r07.yaml", run_text(7, loss="oops"))
    with pytest.raises(InputError, match=f"^{bad}: run 1 \\(id 'r7'\\): field 'loss'"):
        load_runs([str(tmp_path)])


def test_csv_errors(tmp_path: Path) -> None:
    p = write(tmp_path / "a.csv", "run_id,params,tokens\nx,1M,1B\n")
    with pytest.raises(InputError) as info:
        load_runs([p])
    assert str(info.value) == (f"{p}: no column for required field 'loss'; add the column or "
                               "map one with --column loss=COLUMN (columns are run_id, params, "
                               "tokens)")
    p = write(tmp_path / "b.csv", "run_id,params,tokens,loss\nx,1M,1B\n")
    with pytest.raises(InputError) as info:
        load_runs([p])
    assert str(info.value) == (f"{p}: line 2: has 3 cells but the header has 4; fix the row "
                               "or quote cells that contain commas")
    p = write(tmp_path / "c.csv", "run_id,params,tokens,loss\nx,1M,1B,3\n")
    with pytest.raises(InputError) as info:
        load_runs([p], where=["nope==1"])
    assert str(info.value) == (f"{p}: --where 'nope==1': no column 'nope'; columns are "
                               "run_id, params, tokens, loss")


def test_files_that_are_not_text(tmp_path: Path) -> None:
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(InputError) as info:
        load_runs([str(p)])
    assert str(info.value) == f"{p}: is a binary file, not a YAML or CSV run log"
    p.write_bytes(b"id: caf\xe9\n")
    with pytest.raises(InputError) as info:
        load_runs([str(p)])
    assert str(info.value) == f"{p}: line 1: byte 0xe9 is not UTF-8; re-save the file as UTF-8"


def test_empty_directory_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as info:
        load_runs([str(tmp_path / "empty")])
    assert str(info.value) == (f"{tmp_path / 'empty'}: directory has no run logs (*.yaml, "
                               "*.yml, *.csv) or training logs (*.jsonl, trainer_state.json, "
                               "event files)")
    with pytest.raises(InputError, match="no such file or directory"):
        load_runs([str(tmp_path / "nope.yaml")])


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    p = write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match="aliases expand to more than 5,000,000 nodes"):
        load_runs([p])
