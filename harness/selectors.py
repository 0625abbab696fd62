"""Kubernetes label selectors: parse once, match many times.

Supports the equality- and set-based string forms Kubernetes accepts
(`app=llm-chat,region!=eu-west`, `version in (v1,v2)`, `!canary`, `tier`)
and the `matchLabels` mapping form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LabelSelector", "Requirement", "parse_selector", "selector_of", "SelectorError"]


class SelectorError(ValueError):
    """The selector text is not a Kubernetes label selector."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" match when the label is absent, as in Kubernetes.
        return not present or labels[self.key] not in self.values


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> LabelSelector:
        return cls(tuple(Requirement(k, "=", frozenset([v])) for k, v in sorted(labels.items())))

    def __str__(self) -> str:
        parts = []
        for r in self.requirements:
            vals = ",".join(sorted(r.values))
            parts.append(
                {
                    "=": f"{r.key}={vals}",
                    "!=": f"{r.key}!={vals}",
                    "in": f"{r.key} in ({vals})",
                    "notin": f"{r.key} notin ({vals})",
                    "exists": r.key,
                    "!exists": f"!{r.key}",
                }[r.op]
            )
        return ",".join(parts)


_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[A-Za-z0-9]?(?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*")
_EQ = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*")


def parse_selector(text: str | Mapping[str, str] | None) -> LabelSelector:
    """Parse a selector string (or a matchLabels mapping). Empty selects everything."""
    if text is None:
        return LabelSelector(())
    if isinstance(text, Mapping):
        return LabelSelector.from_labels(text)
    rest = text.strip()
    reqs: list[Requirement] = []
    while rest:
        if m := _SET.match(rest):
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            if not values:
                raise SelectorError(f"selector {text!r}: '{m.group(1)} {m.group(2)} ()' needs at least one value")
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQ.match(rest):
            op = "=" if m.group(2) in ("=", "==") else "!="
            reqs.append(Requirement(m.group(1), op, frozenset([m.group(3)])))
        elif m := _EXISTS.match(rest):
            reqs.append(Requirement(m.group(2), "!exists" if m.group(1) else "exists"))
        else:
            raise SelectorError(
                f"selector {text!r} is not a label selector near {rest!r}; write e.g. 'app=llm-chat,region=us-east'"
            )
        rest = rest[m.end():]
        if rest.startswith(","):
            rest = rest[1:]
            if not rest.strip():
                raise SelectorError(f"selector {text!r} ends with a comma")
        elif rest:
            raise SelectorError(f"selector {text!r}: expected ',' before {rest!r}")
    return LabelSelector(tuple(reqs))


_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


def selector_of(obj: Mapping[str, Any]) -> LabelSelector:
    """A Kubernetes `LabelSelector` object (`matchLabels` and `matchExpressions`,
    as in Deployments and PodDisruptionBudgets)."""
    reqs = list(LabelSelector.from_labels({str(k): str(v) for k, v in (obj.get("matchLabels") or {}).items()})
                .requirements)
    for e in obj.get("matchExpressions") or []:
        op = _OPERATORS.get(str(e.get("operator")))
        if op is None:
            raise SelectorError(f"matchExpressions operator {e.get('operator')!r} is not one of {sorted(_OPERATORS)}")
        reqs.append(Requirement(str(e.get("key")), op, frozenset(str(v) for v in e.get("values") or [])))
    return LabelSelector(tuple(reqs))
