"""Property and fuzz tests (hypothesis): the loader's only failure mode is the project's own
error, the unit parser reads back what it writes, and the fit does not care about the order
or the multiplicity of the runs."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaling_cli.errors import ScalingError
from scaling_cli.fit.objective import Data
from scaling_cli.fit.search import fit_law
from scaling_cli.read.runs import load_runs
from scaling_cli.read.tables import lines
from scaling_cli.units import QuantityError, format_count, format_number, parse_number

from .conftest import synthetic_ladder

# derandomize: the same examples on every run, so CI results are reproducible.
FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
_counter = itertools.count()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def load_file(directory: Path, suffix: str, data: bytes) -> None:
    """Load ``data`` as a run log; anything but success or a ScalingError fails the test."""
    path = directory / f"f{next(_counter)}{suffix}"
    path.write_bytes(data)
    try:
        load_runs([str(path)])
    except ScalingError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)
    finally:
        path.unlink()


# --------------------------------------------------------------------------- loader


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".yaml", ".csv"]))
def test_random_bytes(scratch: Path, data: bytes, suffix: str) -> None:
    load_file(scratch, suffix, data)


@FUZZ
@given(text=st.text(max_size=300), suffix=st.sampled_from([".yaml", ".csv"]))
def test_random_text(scratch: Path, text: str, suffix: str) -> None:
    load_file(scratch, suffix, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(parts=st.lists(st.one_of(st.text(max_size=40), st.sampled_from(["\udce9", "\udc80"])),
                      max_size=6))
def test_random_stdin(parts: list[str]) -> None:
    # Python hands undecodable stdin bytes over as lone surrogates (surrogateescape)
    try:
        load_runs(["-"], stdin_text="".join(parts))
    except ScalingError as exc:
        assert "\n" not in str(exc), str(exc)


# Run-log fragments: plausible keys and values, mistakes, YAML features and hostile bits.
KEYS = st.sampled_from(["id", "run_id", "params", "tokens", "loss", "flops", "group", "tags",
                        "exclude", "exclude_reason", "meta", "non_embedding_params",
                        "unique_tokens", "tokns", "runs", "1", "~", "<<", "? [a]", "'id'"])
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.builds(lambda m, s: f"{m}{s}", st.sampled_from(["7", "1.4", "0", "-3", "1e18", ".5",
                                                       "1_000", "0x10", "1,000", "٧", "9" * 40]),
              st.sampled_from(["", "B", "T", "M", "k", "BB", " T", "flops", "G", "billion"])),
)
SCALARS = st.one_of(
    NUMBERS, st.sampled_from(["yes", "no", "~", "null", ".nan", ".inf", "-.inf", "''", '""',
                              "maybe", "2024-01-01", "1:20", "!!int 7", "!!bool maybe",
                              "!!float x", "!!binary aGk=", "!!timestamp 2020-99-99",
                              "!!python/object:os.system", "!!set {a}", "*a", "&a x",
                              "[1, [2, [3]]]", "{a: 1}", "|\n  text", "\"a\\nb\""]),
    st.text(max_size=12),
)


@st.composite
def yamlish(draw: st.DrawFn) -> str:
    runs = []
    for _ in range(draw(st.integers(0, 4))):
        pairs = draw(st.lists(st.tuples(KEYS, SCALARS), max_size=7))
        if draw(st.booleans()):
            runs.append("{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}")
        else:
            runs.append("\n    ".join(f"{k}: {v}" for k, v in pairs) or "{}")
    layout = draw(st.sampled_from(["list", "docs", "one", "broken"]))
    if layout == "list":
        text = "runs:\n" + "".join(f"  - {r}\n" for r in runs)
    elif layout == "docs":
        text = "---\n".join(r.replace("\n    ", "\n") + "\n" for r in runs)
    elif layout == "one":
        text = (runs[0] if runs else "").replace("\n    ", "\n") + "\n"
    else:
        text = "runs:\n" + "".join(f"{' ' * draw(st.integers(0, 5))}- {r}\n" for r in runs)
    return text


@FUZZ
@given(text=yamlish())
def test_yaml_built_from_run_log_fragments(scratch: Path, text: str) -> None:
    load_file(scratch, ".yaml", text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(rows=st.lists(st.lists(SCALARS, min_size=3, max_size=5), max_size=5),
       header=st.sampled_from(["id,params,tokens,loss", "run_id,params,tokens,loss,group",
                               "params,tokens,loss", "id,params,params,tokens,loss", ""]))
def test_csv_built_from_run_log_fragments(scratch: Path, rows: list[list[str]],
                                          header: str) -> None:
    text = header + "\n" + "".join(",".join(row) + "\n" for row in rows)
    load_file(scratch, ".csv", text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(text=st.text(alphabet=st.sampled_from('ab,"\r\n\u2028'), max_size=40))
def test_csv_lines_split_like_stringio(text: str) -> None:
    # the loader splits CSV text itself (StringIO would copy it at 4 bytes per character)
    assert list(lines(text)) == list(io.StringIO(text, newline=""))


# --------------------------------------------------------------------------- units


@FUZZ
@given(text=st.text(max_size=40))
def test_parse_number_only_raises_quantity_error(text: str) -> None:
    try:
        value = parse_number(text, allow_zero=True, allow_negative=True)
    except QuantityError as exc:
        assert "\n" not in exc.problem and len(exc.problem) < 260
    else:
        assert np.isfinite(value)


POSITIVE = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False)


@FUZZ
@given(x=POSITIVE, negative=st.booleans(), digits=st.integers(1, 8))
def test_format_count_round_trips(x: float, negative: bool, digits: int) -> None:
    x = -x if negative else x
    back = parse_number(format_count(x, digits=digits), allow_negative=True)
    assert back == pytest.approx(x, rel=0.5 * 10 ** (1 - digits) + 1e-15)


@FUZZ
@given(x=POSITIVE, digits=st.integers(1, 17))
def test_format_number_round_trips(x: float, digits: int) -> None:
    back = parse_number(format_number(x, digits=digits))
    assert back == pytest.approx(x, rel=0.5 * 10 ** (1 - digits) + 1e-15)
    assert parse_number(format_number(x, digits=17)) == x  # 17 digits are exact


@FUZZ
@given(x=POSITIVE)
def test_repr_is_read_exactly(x: float) -> None:
    # `--field` prints repr(); feeding it back (e.g. as --params) gives the same float
    assert parse_number(repr(x)) == x


# --------------------------------------------------------------------------- the fit

N, D, L = synthetic_ladder(noise=0.01, seed=3)
BASE = fit_law(Data.from_arrays(N, D, L))
FITS = settings(max_examples=6, deadline=None, derandomize=True)


def test_base_fit_is_verified() -> None:
    assert BASE.verified


@FITS
@given(order=st.permutations(range(N.size)))
def test_fit_does_not_depend_on_run_order(order: list[int]) -> None:
    i = np.array(order)
    fit = fit_law(Data.from_arrays(N[i], D[i], L[i]))
    assert fit.verified
    np.testing.assert_allclose(fit.theta, BASE.theta, rtol=1e-6, atol=1e-6)
    assert fit.objective == pytest.approx(BASE.objective, rel=1e-9)


@FITS
@given(copies=st.integers(2, 4), shuffle=st.randoms(use_true_random=False))
def test_duplicating_every_run_leaves_the_point_fit_unchanged(copies: int, shuffle) -> None:
    i = np.tile(np.arange(N.size), copies)
    shuffle.shuffle(i)
    fit = fit_law(Data.from_arrays(N[i], D[i], L[i]))
    np.testing.assert_allclose(fit.theta, BASE.theta, rtol=1e-6, atol=1e-6)
    assert fit.objective == pytest.approx(copies * BASE.objective, rel=1e-9)


# --------------------------------------------------------------------------- YAML fast path

_PLAIN_WORDS = st.sampled_from([
    "7B", "1.4T", "3e23", "0.5", "-1", "010", "1_000", ".nan", "yes", "No", "on", "null", "~",
    "true", "x", "run-01", "a b", "1e-3", "(a)", "a/b", "+3", "lr 3e-3", "[a, b]", "[]",
    "[yes, 3]", "",
])
_HAZARDS = st.sampled_from([
    "- a", "-", "1:20", "0x10", "50%", "[a,]", "[x y]", "'q'", '"q"', "a # c", "&anc",
    "*ali", "!t x", "a: b", "{a: 1}", "|", ">", "@x", "`x`",
])
_RARELY = st.sampled_from([False] * 14 + [True])  # hypothesis favours the first choice
_KEY_POOL = ["id", "params", "tokens", "loss", "tags", "flops", "group", "k_2"]
_ODD_KEYS = st.sampled_from(["yes", "null", "<<", "id"])


@st.composite
def _mapping(draw: st.DrawFn, indent_first: str, indent_rest: str) -> list[str]:
    keys = draw(st.permutations(_KEY_POOL))[: draw(st.integers(1, 5))]
    if draw(_RARELY):
        keys.append(draw(_ODD_KEYS))  # a boolean/null key, a merge key, or a duplicate
    lines = []
    for i, key in enumerate(keys):
        indent = indent_first if i == 0 else indent_rest
        if draw(_RARELY):
            indent = draw(st.sampled_from([" ", "\t", indent_rest + " "]))
        value = draw(_HAZARDS) if draw(_RARELY) else draw(_PLAIN_WORDS)
        lines.append(f"{indent}{key}: {value}".rstrip())
    return lines


@st.composite
def _plainish(draw: st.DrawFn) -> str:
    """Documents in or near the plain subset: mostly plain, with the odd thing the fast path
    must hand over to the full loader."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            lines = ["runs:"]
            dash = draw(st.sampled_from(["", "  "]))
            for _ in range(draw(st.integers(1, 3))):
                item = draw(_mapping("", dash + "  "))
                lines.append(f"{dash}- {item[0].lstrip()}")
                lines.extend(item[1:])
        else:
            lines = draw(_mapping("", ""))
        if draw(st.booleans()):
            lines.insert(0, "# a comment")
        parts.append("\n".join(lines))
    return "\n---\n".join(parts) + draw(st.sampled_from(["", "\n", "\r\n"]))


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(text=_plainish())
def test_plain_fast_path_reads_what_the_full_loader_reads(text: str) -> None:
    import yaml

    from scaling_cli.read import yamlsafe

    fast = yamlsafe._plain_documents(text)
    if fast is None:
        return  # not plain: the full loader decides (and reports errors)
    assert fast == list(yaml.load_all(text, Loader=yamlsafe._Loader))
    _FAST_HITS.append(text)


_FAST_HITS: list[str] = []

# Blanks and breaks at the edges of lines: where a line reader and YAML can part ways
# (`exclude: ` with a trailing space was once '' through one and null through the other).
_EDGES = ["", " ", "  ", "\t", " \t", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028",
          "\u2029", "\ufeff", "\xa0", "\u3000"]
_EXTRA_LINES = ["", " ", "\t", "#", "# x", " # x", "---", "--- ", "...", "- ", "-", "?", ":"]


@st.composite
def _blank_edges(draw: st.DrawFn) -> str:
    """Plain-ish documents with trailing (and some leading) blanks, empty values written
    `key:`, `key: `, `key:\t` or `key :`, odd line breaks and stray lines."""
    lines = []
    for line in draw(_plainish()).split("\n"):
        if draw(st.integers(0, 7)) == 0 and ": " in line:
            key = line.split(": ", 1)[0]
            line = key + draw(st.sampled_from([":", ": ", ":  ", " :", ":\t", ": \t", " : "]))
        if draw(st.integers(0, 2)) == 0:
            line += draw(st.sampled_from(_EDGES))
        if draw(st.integers(0, 11)) == 0:
            line = draw(st.sampled_from(_EDGES)) + line
        lines.append(line)
        if draw(st.integers(0, 11)) == 0:
            lines.append(draw(st.sampled_from(_EXTRA_LINES)))
    return "\n".join(lines)


def _full_loader(text: str) -> list[object] | str:
    """What the full loader makes of ``text``: the documents, or "error"."""
    import yaml

    from scaling_cli.read import yamlsafe

    try:
        return list(yaml.load_all(text, Loader=yamlsafe._Loader))
    except yaml.YAMLError:
        return "error"


@settings(max_examples=800, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(text=_blank_edges())
def test_both_yaml_readers_agree_on_blanks_at_line_edges(text: str) -> None:
    from scaling_cli.read import yamlsafe

    full = _full_loader(text)
    fast = yamlsafe._plain_documents(text)
    if fast is not None:  # the line reader took it: the loader must read the same, no error
        assert fast == full
        _EDGE_HITS.append(text)
    try:
        public = yamlsafe.load_yaml_documents(text, "f.yaml")
    except ScalingError:
        assert full == "error"  # the same error, one line, from the loader
    else:
        assert public == full


_EDGE_HITS: list[str] = []


def test_the_blank_edges_property_reached_the_line_reader() -> None:
    if not _EDGE_HITS:
        test_both_yaml_readers_agree_on_blanks_at_line_edges()
    assert len(_EDGE_HITS) >= 30
    assert sum(" \n" in t or t.endswith(" ") for t in _EDGE_HITS) >= 10  # trailing blanks


def test_the_fast_path_property_was_exercised() -> None:
    # Guards the property above against a generator that only ever produces non-plain text.
    if not _FAST_HITS:
        test_plain_fast_path_reads_what_the_full_loader_reads()
    assert len(_FAST_HITS) >= 200


@st.composite
def _run_lists(draw: st.DrawFn) -> str:
    """`runs:` lists where every run writes the same keys in one order (the layout the
    column reader takes), with the odd line that breaks the layout or the plain grammar."""
    keys = draw(st.permutations(_KEY_POOL))[: draw(st.integers(1, 5))]
    if draw(_RARELY):
        keys.append(draw(_ODD_KEYS))
    dash = draw(st.sampled_from(["", "  "]))
    lines = ["runs:"]
    for _ in range(draw(st.integers(1, 4))):
        for i, key in enumerate(keys):
            value = draw(_HAZARDS) if draw(_RARELY) else draw(_PLAIN_WORDS)
            line = (f"{dash}- " if i == 0 else f"{dash}  ") + f"{key}: {value}"
            if draw(_RARELY):
                line = draw(st.sampled_from([line + " ", line + "  ", " " + line,
                                             line.replace(": ", ":  "), line.replace(": ", ":"),
                                             line.rstrip() + "\n", line + "\n  "]))
            lines.append(line.rstrip() if draw(st.booleans()) else line)
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n", "\n\n"]))


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(text=_run_lists())
def test_the_column_reader_reads_what_the_full_loader_reads(text: str) -> None:
    from scaling_cli.read import yamlsafe

    columns = yamlsafe.plain_run_columns(text)
    if columns is None:
        return  # another layout: record by record
    full = _full_loader(text)
    assert full != "error" and len(full) == 1 and set(full[0]) == {"runs"}
    runs = full[0]["runs"]
    assert all(list(run) == list(columns) for run in runs)  # the same keys, in order
    assert {k: [run[k] for run in runs] for k in columns} == columns
    assert yamlsafe._plain_documents(text) == full
    _COLUMN_HITS.append(text)


_COLUMN_HITS: list[str] = []


def test_the_column_reader_property_was_exercised() -> None:
    if not _COLUMN_HITS:
        test_the_column_reader_reads_what_the_full_loader_reads()
    assert len(_COLUMN_HITS) >= 200
    assert any("[" in t for t in _COLUMN_HITS) and any(": yes" in t for t in _COLUMN_HITS)


def test_plain_fast_path_takes_the_common_shapes() -> None:
    from scaling_cli.read import yamlsafe

    run_list = "runs:\n  - id: a\n    params: 7B\n    tokens: 1.4T\n    loss: 2.5\n"
    one_run = "# note\nid: a\nparams: 7B\ntokens: 1.4T\nloss: 2.5\ntags: [x, y]\n"
    assert yamlsafe._plain_documents(run_list) is not None
    assert yamlsafe._plain_documents(one_run + "---\n" + one_run) is not None
    assert yamlsafe._plain_documents("id: a\nmeta:\n  x: 1\n") is None  # nesting: full loader
