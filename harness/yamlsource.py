"""YAML documents that remember where each value came from.

Validators report a field path (`spec.http[0].route[1].match`); with the
document's node tree we can also say on which line it is, which is what a
user needs in a 300-line manifest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from harness.diagnostics import Diagnostic

__all__ = ["SourceDocument", "load_documents", "line_of", "parse_field_path", "yaml_error"]

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class SourceDocument:
    data: Any
    node: yaml.Node | None
    index: int  # position of the document in a multi-document file

    def line(self, loc: tuple[object, ...]) -> int | None:
        return line_of(self.node, loc)


def line_of(node: yaml.Node | None, loc: tuple[object, ...]) -> int | None:
    """1-based line of the deepest node on `loc` that exists (the key, for mapping entries)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def load_documents(text: str) -> Iterator[SourceDocument]:
    """Every document of a (multi-document) YAML text, with its node tree.

    Raises yaml.YAMLError on invalid YAML, like yaml.safe_load_all.
    """
    loader = yaml.SafeLoader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            data = loader.construct_document(node)
            yield SourceDocument(data, node, index)
            index += 1
    finally:
        loader.dispose()


def parse_field_path(path: str) -> tuple[object, ...]:
    """`deployments[2].engine.seed` -> ("deployments", 2, "engine", "seed")."""
    return tuple(int(i) if i else name for name, i in _PATH_PART.findall(path))


def yaml_error(file: str, exc: yaml.YAMLError) -> Diagnostic:
    """The error line for a file that does not parse: where and why."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"not valid YAML: {problem}" + (f" ({context})" if context else "")
    return Diagnostic("error", file, message, line=mark.line + 1 if mark is not None else None,
                      fix="correct the YAML syntax at that line (indentation, a missing ':' or quote)")
