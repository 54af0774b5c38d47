"""YAML as untrusted text: safe loading with explicit limits on size, nesting and aliases.

``yaml.safe_load`` never runs code, but a document can still be hostile: an alias
("billion laughs") bomb expands to billions of nodes for anyone who walks it, and deep
nesting exhausts the stack. Limits (documented in the README):

- nesting depth: libyaml refuses more than 1,000 levels (the pure-Python fallback's
  RecursionError is caught); documents with anchors are also held to ``MAX_DEPTH``;
- alias expansion: a document whose aliases would expand to more than ``MAX_EXPANDED_NODES``
  nodes is refused before it is constructed (checked only when the text has an anchor, ``&``).
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import InputError

__all__ = ["MAX_DEPTH", "MAX_EXPANDED_NODES", "load_yaml_documents"]

MAX_DEPTH = 64
MAX_EXPANDED_NODES = 5_000_000

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_structure(text: str, name: str) -> None:
    """Walk parser events; refuse deep nesting and alias expansion bombs."""
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[0, None]]  # [expanded node count, anchor] per open collection
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append([1, event.anchor])
            if len(stack) - 1 > MAX_DEPTH:
                raise InputError(
                    f"{name}: line {event.start_mark.line + 1}: nesting deeper than "
                    f"{MAX_DEPTH} levels; run logs are flat records"
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            count, anchor = stack.pop()
            if anchor:
                sizes[anchor] = count
            stack[-1][0] += count
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            stack[-1][0] += 1
        elif isinstance(event, yaml.AliasEvent):
            stack[-1][0] += sizes.get(event.anchor, 1)
        else:
            continue
        if stack[0][0] + sum(level[0] for level in stack[1:]) > MAX_EXPANDED_NODES:
            raise InputError(
                f"{name}: line {event.start_mark.line + 1}: YAML aliases expand to more than "
                f"{MAX_EXPANDED_NODES:,} nodes (an alias bomb?); write the runs out plainly"
            )


def load_yaml_documents(text: str, name: str) -> list[Any]:
    """All documents of ``text`` via the safe loader; YAML errors become :class:`InputError`."""
    try:
        if "&" in text:  # without an anchor there can be no alias to expand
            _check_structure(text, name)
        return list(yaml.load_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"{name}: {where}not valid YAML ({problem}); fix the syntax") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{name}: not valid YAML ({exc}); fix the syntax") from None
    except RecursionError:
        raise InputError(f"{name}: nesting too deep; run logs are flat records") from None

