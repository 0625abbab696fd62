"""How a requirement's result is shown in a table row, the same in the
terminal, summary.html and the trend page: failing first, one headline figure
(observed vs threshold), figures with their unit."""

from __future__ import annotations

from typing import Any

__all__ = ["VERDICT_ORDER", "ordered", "headline", "figure_text"]

VERDICT_ORDER = {"fail": 0, "inconclusive": 1, "pass": 2, "not-applicable": 3}


def ordered(requirements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failing requirements first, then inconclusive, passed, not applicable; by id within each."""
    return sorted(requirements, key=lambda r: (VERDICT_ORDER.get(r["verdict"], 9), r["id"]))


def headline(requirement: dict[str, Any]) -> dict[str, Any] | None:
    """The check that decided the verdict: the last of the verdict's kind
    (requirements list their headline figure last)."""
    return next((c for c in reversed(requirement["checks"]) if c["verdict"] == requirement["verdict"]), None)


def figure_text(value: object, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}{unit}"
    return f"{value}{unit}"
