"""docs/api.md's examples run as written (library use is documented, so it is tested)."""

from __future__ import annotations

import re

import pytest

from .conftest import ROOT

DOC = ROOT / "docs" / "api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_api_doc_has_examples() -> None:
    assert len(BLOCKS) >= 5


def test_the_api_doc_examples_run_in_order(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)  # the examples name sample_runs/ relative to the repository
    namespace: dict[str, object] = {}
    for i, block in enumerate(BLOCKS):
        exec(compile(block, f"docs/api.md block {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "N* = 1.22e+11" in out  # the sample ladder's answer at 1e24 FLOPs
    assert "UsageError budget -" in out or "InputError budget -" in out
