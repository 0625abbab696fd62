"""Go / Kubernetes / Istio style durations ("1.5s", "300ms", "1m30s", "1h")."""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_SCALE = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration string; bare numbers are seconds.

    Raises ValueError with a message fit for a user when the text is not a duration.
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a duration such as '1.5s' or '300ms', got {text!r}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"a duration cannot be negative, got {text!r}")
        return float(text)
    s = text.strip()
    if not s:
        raise ValueError("empty duration; write e.g. '1.5s' or '300ms'")
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _SCALE[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"{text!r} is not a duration; write e.g. '1.5s', '300ms' or '1m30s'")
    return total

