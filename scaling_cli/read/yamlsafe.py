"""YAML as untrusted text: safe loading with explicit limits on size, nesting and aliases.

``yaml.safe_load`` never runs code, but a document can still be hostile or ambiguous.
The loader here is libyaml's safe loader (the pure-Python one when libyaml is absent)
with these changes, documented in docs/input-errors.md:

- *numbers stay text.* Plain scalars are never resolved as int, float or timestamp, and
  explicit ``!!int``/``!!float``/``!!timestamp`` tags construct text too: every number goes
  through the one unit parser (:mod:`scaling_cli.units`), and ids are kept exactly as
  written (YAML 1.1 would read ``id: 010`` as 8, ``1.10`` as 1.1, ``1:20`` as 80). ``null``
  and the booleans (``true``, ``no``, ...) are still resolved, so ``exclude: yes`` works and
  ``loss: no`` is reported as a boolean rather than silently misread.
- *duplicate keys are errors* (YAML keeps the last one silently: ``params: 1B`` then
  ``params: 7B`` would fit 7B with no warning); merge keys (``<<: *base``) may be overridden.
- *limits:* text longer than ``MAX_TEXT_CHARS``; nesting deeper than ``MAX_DEPTH`` levels
  (checked here, not left to the library: libyaml 0.2.5+ stops at 1,000 levels, older
  builds and the pure-Python loader do not, so the answer would depend on how PyYAML was
  built); and, when the text has an anchor (``&``), aliases that would expand to more than
  ``MAX_EXPANDED_NODES`` nodes ("billion laughs") are refused before anything is built.
- *errors are one line:* every problem raises :class:`~scaling_cli.errors.InputError`
  naming the file, the line and column, and how to fix it; nothing else escapes, whatever
  the bytes (a property test feeds it arbitrary text).

Plain block YAML, what most run logs are, skips the loader: :func:`_plain_documents` reads
it line by line, and :func:`plain_run_columns` reads a `runs:` list whose runs share one
layout by column (100,000 runs in ~0.15 s instead of ~25 s through libyaml); both accept only
text the loader reads to the same values (property tests in tests/test_fuzz.py).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from itertools import repeat
from typing import Any, ClassVar, NoReturn

import yaml

from scaling_cli.errors import InputError
from scaling_cli.units import format_bytes

__all__ = ["MAX_DEPTH", "MAX_EXPANDED_NODES", "MAX_TEXT_CHARS", "load_yaml_documents"]

MAX_DEPTH = 64
MAX_EXPANDED_NODES = 5_000_000
MAX_TEXT_CHARS = 16 * 1024 * 1024  # composing YAML costs ~75 bytes of memory per byte

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TEXT_TAGS = ("int", "float", "timestamp")
_FAULTS = (ValueError, KeyError, TypeError, OverflowError, IndexError, AttributeError)


class _Loader(_Base):  # type: ignore[misc]
    """The safe loader with numbers kept as text and duplicate keys refused (module doc)."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, Any]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers
                if tag.rsplit(":", 1)[-1] not in _TEXT_TAGS]
        for first, resolvers in _Base.yaml_implicit_resolvers.items()
    }

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except _FAULTS:  # e.g. `!!bool maybe`
            tag = node.tag.rsplit(":", 1)[-1]
            value = node.value if isinstance(node.value, str) else "this value"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {_shown(value)} as !!{tag}; remove the tag or fix "
                "the value", node.start_mark) from None

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key is a list or mapping; keys must be plain names",
                    key_node.start_mark)
            if key in seen:
                first = seen[key]
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {_shown(key)} appears twice in one mapping (first on "
                    f"line {first.line + 1}); keep one", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _text(loader: Any, node: Any) -> str:
    return str(loader.construct_scalar(node))


for _tag in _TEXT_TAGS:
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _text)


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _too_deep(name: str, line: int | None) -> InputError:
    where = f"line {line}: " if line is not None else ""
    return InputError(f"{name}: {where}nesting deeper than {MAX_DEPTH} levels; run logs are "
                      "flat records: remove the nesting")


def _deeper_than(documents: list[Any], limit: int) -> bool:
    """Whether any list or mapping in ``documents`` is nested more than ``limit`` deep.

    Iterative, so a recursive alias (``&a [*a]``) counts as too deep rather than looping.
    """
    stack: list[tuple[Any, int]] = [(doc, 1) for doc in documents
                                    if isinstance(doc, (list, dict))]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (list, dict)))
    return False


def _line(event: Any) -> int:
    """The 1-based line an event starts on (0 when the parser gave no position)."""
    mark = event.start_mark
    return 0 if mark is None else int(mark.line) + 1


def _check_structure(text: str, name: str) -> None:
    """Walk parser events; refuse nesting deeper than ``MAX_DEPTH`` and alias bombs.

    Streaming events never recurses, so this is safe on any input; it costs about a fifth
    of composing the same text, and only files off the plain fast path pay it.
    """
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[0, None]]  # [expanded node count, anchor] per open collection
    total = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append([1, event.anchor])
            if len(stack) - 1 > MAX_DEPTH:
                raise _too_deep(name, _line(event))
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            count, anchor = stack.pop()
            if anchor:
                sizes[anchor] = count
            stack[-1][0] += count
            continue
        if isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            added = 1
        elif isinstance(event, yaml.AliasEvent):
            added = sizes.get(event.anchor or "", 1)
        else:
            continue
        stack[-1][0] += added
        total += added
        if total > MAX_EXPANDED_NODES:
            raise InputError(
                f"{name}: line {_line(event)}: YAML aliases expand to more than "
                f"{MAX_EXPANDED_NODES:,} nodes (an alias bomb?); write the runs out plainly"
            )


def _line_of(text: str, position: int) -> int:
    """Line of a reader error: libyaml counts UTF-8 bytes, the pure-Python reader characters."""
    if _Base is yaml.SafeLoader:
        return text.count("\n", 0, max(position, 0)) + 1
    return text.encode("utf-8", "surrogatepass")[: max(position, 0)].count(b"\n") + 1


# ---------------------------------------------------------------------- the plain fast path
#
# Most run logs are plain block YAML: `runs:` and `- key: value` items, or a flat mapping,
# with plain words as values. Composing such a file through libyaml builds a Python node
# (with two position marks) for every scalar: ~25 s for 100,000 runs. This reader accepts
# exactly that plain subset, line by line, and returns what the full loader returns for it
# (tests/test_fuzz.py checks the two agree on generated documents); anything else (quotes,
# anchors, nesting, comments after values, tabs, duplicate keys, ...) returns None and goes
# through the full loader, which also produces every error message.

_KEY = r"[A-Za-z_][A-Za-z0-9_]*"
_WORD = r"[A-Za-z0-9_.+()/-][A-Za-z0-9_.+()/%-]*"
# A value is never empty: `key:` followed by spaces only is null (as for the full loader),
# not an empty string.
_VALUE = rf"(?:{_WORD}(?: {_WORD})*|\[ *(?:{_WORD} *(?:, *{_WORD} *)*)?\])"
_ITEM_RE = re.compile(rf"( *)- ({_KEY}):(?: +({_VALUE}))? *")
_PAIR_RE = re.compile(rf"( *)({_KEY}):(?: +({_VALUE}))? *")
_BOOL = {**dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"),
                         True),
         **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"),
                         False)}
_NULL = {"~", "null", "Null", "NULL"}
# Characters str.splitlines() takes as line breaks besides \n and \r: YAML reads them
# as text or refuses them, so a text holding one is left to the full loader.
_ODD_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _scalar(word: str) -> Any:
    if word in _BOOL:
        return _BOOL[word]
    return None if word in _NULL else word


def _plain_value(raw: str | None) -> Any:
    if raw is None:
        return None
    if raw.startswith("["):
        inner = raw[1:-1].strip()
        return [_scalar(w.strip()) for w in inner.split(",")] if inner else []
    if raw == "-" or raw.startswith("- "):
        raise ValueError("a sequence entry where a value belongs")
    return _scalar(raw)


def _plain_key(key: str) -> str:
    if key in _BOOL or key in _NULL:
        raise ValueError("a key YAML reads as a boolean or null")
    return key


def _plain_document(lines: list[str]) -> Any:
    """One document of the plain subset, or raise ValueError (not plain: use the loader)."""
    if lines[0] == "runs:":
        items: list[dict[str, Any]] = []
        dash = None
        for line in lines[1:]:
            item = _ITEM_RE.fullmatch(line)
            if item is not None:
                if dash is None:
                    dash = len(item.group(1))
                if len(item.group(1)) != dash:
                    raise ValueError("uneven indentation")
                items.append({_plain_key(item.group(2)): _plain_value(item.group(3))})
                continue
            pair = _PAIR_RE.fullmatch(line)
            if pair is None or not items or dash is None or len(pair.group(1)) != dash + 2:
                raise ValueError("not a run-list line")
            key = _plain_key(pair.group(2))
            if key in items[-1]:
                raise ValueError("duplicate key")
            items[-1][key] = _plain_value(pair.group(3))
        if not items:
            raise ValueError("empty list")
        return {"runs": items}
    record: dict[str, Any] = {}
    for line in lines:
        pair = _PAIR_RE.fullmatch(line)
        if pair is None or pair.group(1):
            raise ValueError("not a flat mapping line")
        key = _plain_key(pair.group(2))
        if key in record or key == "runs":
            raise ValueError("duplicate or nested key")
        record[key] = _plain_value(pair.group(3))
    return record


def _plain_documents(text: str) -> list[Any] | None:
    """``text`` read by the plain fast path, or None when it is not plain."""
    if "\t" in text or "#" in text.replace("\n#", "\n").lstrip("#"):
        return None  # tabs, and comments other than whole lines starting at column 0
    if _ODD_BREAKS.search(text):
        return None  # str.splitlines breaks lines there; YAML does not (or refuses them)
    documents: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if line.rstrip(" ") == "---":  # YAML's blanks are spaces (tabs are out): not U+00A0
            documents.append([])
        elif line.strip(" "):
            documents[-1].append(line)
    if not documents[0] and len(documents) > 1:
        documents.pop(0)  # a leading `---`
    if any(not doc for doc in documents):
        return None  # empty documents: leave the exact semantics to the loader
    try:
        return [_plain_document(doc) for doc in documents]
    except ValueError:
        return None


# A `runs:` list whose runs all write the same keys in the same order, one `key: value`
# line each (what programs write), is read by column: each key's lines checked at once and
# its values kept as one list, without a dict per run. Only a text _plain_documents would
# read is accepted, with the same values; anything else is None.
_SPECIAL_WORDS = frozenset({*_BOOL, *_NULL, ""})
_VALUES_RE = re.compile(rf"(?:(?: +{_VALUE})? *\n)*(?: +{_VALUE})? *")
_WORD_CHARACTERS = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789_.+()/%-\n")  # what is left is not a plain word


def plain_run_columns(text: str) -> dict[str, list[Any]] | None:
    """{key: each run's value} of a one-document `runs:` list in that layout (module
    comment), in the keys' order; None for any other text (read it with
    :func:`load_yaml_documents`, which gives the same values run by run)."""
    if (len(text) > MAX_TEXT_CHARS or "\t" in text or "#" in text or "---" in text
            or (any(c in text for c in "\x0b\x0c\x1c\x1d\x1e") if text.isascii()
                else _ODD_BREAKS.search(text))):
        return None
    # (no odd breaks, checked above: without \r, \n alone breaks lines, as splitlines would)
    lines = text.split("\n") if "\r" not in text else text.splitlines()
    if lines and not lines[-1]:
        lines.pop()  # the final line break (not a copy of 400,000 lines to drop it)
    if "" in lines:  # (a line of spaces alone fails the layout below: None)
        lines = [line for line in lines if line]
    first = _ITEM_RE.fullmatch(lines[1]) if len(lines) > 1 and lines[0] == "runs:" else None
    if first is None:
        return None
    dash = " " * len(first.group(1)) + "- "
    body = lines[1:]
    width = next((i for i, line in enumerate(body[1:], start=1) if line.startswith(dash)),
                 len(body))
    if len(body) % width:
        return None
    prefixes = [f"{dash}{first.group(2)}:"]
    for line in body[1:width]:
        pair = _PAIR_RE.fullmatch(line)
        if pair is None or pair.group(1) != " " * len(dash):
            return None
        prefixes.append(f"{pair.group(1)}{pair.group(2)}:")
    keys = [p.strip(" -")[:-1] for p in prefixes]
    if len(set(keys)) != len(keys) or not _SPECIAL_WORDS.isdisjoint(keys):
        return None
    columns: dict[str, list[Any]] = {}
    for j, (key, prefix) in enumerate(zip(keys, prefixes, strict=True)):
        column = body[j::width]
        words = _one_word_each(column, prefix)
        if words is not None and _SPECIAL_WORDS.isdisjoint(words) and "-" not in words:
            columns[key] = words  # (no word of these is a list, a boolean or null)
            continue
        if words is None:  # any other value: the plain grammar, line by line
            if not all(map(str.startswith, column, repeat(prefix))):
                return None
            rests = [line[len(prefix):] for line in column]
            if not _VALUES_RE.fullmatch("\n".join(rests)):
                return None
            words = [rest.strip(" ") for rest in rests]
        joined = "\n" + "\n".join(words) + "\n"
        if _SPECIAL_WORDS.isdisjoint(words) and "\n[" not in joined and "\n-\n" not in joined \
                and "\n- " not in joined:
            columns[key] = words
            continue
        try:
            columns[key] = [_plain_value(word or None) for word in words]
        except ValueError:
            return None
    return columns


def _one_word_each(lines: list[str], prefix: str) -> list[str] | None:
    """The words of ``lines`` if each is ``prefix``, one space and one plain word (the usual
    value), else None."""
    marker = "\n" + prefix + " "
    block = "\n" + "\n".join(lines)
    if block.count(marker) != len(lines):
        return None
    words = block.replace(marker, "\n")
    if "\n\n" in words or words.endswith("\n") or "\n%" in words \
            or words.translate(_WORD_CHARACTERS):  # (an empty word is a null: not this path)
        return None
    return words[1:].split("\n")


def load_yaml_documents(text: str, name: str) -> list[Any]:
    """All documents of ``text`` via the restricted safe loader (see the module doc).

    Every problem, including any the YAML library raises, becomes one-line
    :class:`InputError` naming ``name`` and the line.
    """
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"{name}: is over the {format_bytes(MAX_TEXT_CHARS)} limit per YAML file; split it "
            "into several files or use CSV"
        )
    plain = _plain_documents(text)
    if plain is not None:
        return plain
    try:
        _check_structure(text, name)  # before composing: a deep tree can crash old libyaml
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" in str(exc.problem):  # libyaml 0.2.5+ scans ahead
            mark = exc.problem_mark or exc.context_mark
            raise _too_deep(name, mark.line + 1 if mark else None) from None
        _raise_for(exc, text, name)
    except yaml.YAMLError as exc:
        _raise_for(exc, text, name)
    except RecursionError:  # the pure-Python composer; unreachable below MAX_DEPTH levels
        raise _too_deep(name, None) from None
    # Built objects can be deeper than the events only through aliases (or a recursive one).
    if "&" in text and _deeper_than(documents, MAX_DEPTH):
        raise _too_deep(name, None)
    return documents


def _raise_for(exc: yaml.YAMLError, text: str, name: str) -> NoReturn:
    """Re-raise a YAML library error as a one-line :class:`InputError`."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = _one_line(exc.problem or exc.context or "invalid YAML")
        if "could not determine a constructor" in problem:
            tag = problem.rsplit(" ", 1)[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
            raise InputError(f"{name}: {where}unsupported YAML tag {tag}; remove it (run logs "
                             "are plain data)") from None
        if "appears twice" in problem or "keys must be" in problem or "cannot read" in problem:
            raise InputError(f"{name}: {where}{problem}") from None
        raise InputError(f"{name}: {where}not valid YAML ({problem}); fix the syntax") from None
    if isinstance(exc, yaml.reader.ReaderError):
        raise InputError(
            f"{name}: line {_line_of(text, exc.position)}: character U+{exc.character:04X} is "
            f"not allowed in YAML ({exc.reason}); remove it or re-save the file as text"
        ) from None
    raise InputError(f"{name}: not valid YAML ({_one_line(str(exc))}); fix the syntax") from None
