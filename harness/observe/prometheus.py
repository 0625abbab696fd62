"""A minimal Prometheus HTTP API client that keeps every query it ran, with
its result, as evidence for the report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.outbound import OutboundError, OutboundSettings, httpx_options

__all__ = ["PromClient", "PromError", "QueryLog"]


class PromError(Exception):
    """Prometheus could not answer (unreachable, bad query)."""


@dataclass
class QueryLog:
    entries: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PromClient:
    url: str
    log: QueryLog = field(default_factory=QueryLog)
    timeout_s: float = 10.0

    def _query(self, path: str, params: dict[str, str], entry: dict[str, Any]) -> Any:
        """GET an API path with the harness's outbound settings (a private CA,
        a client certificate or a proxy in front of Prometheus); the `data` of
        a successful answer. Every query, answered or not, goes into the log."""
        try:
            r = httpx.get(f"{self.url.rstrip('/')}{path}", params=params, timeout=self.timeout_s,
                          **httpx_options(OutboundSettings.from_env(), self.url))
            data = r.json()
        except (httpx.HTTPError, ValueError, OutboundError) as exc:
            self.log.entries.append({**entry, "error": str(exc)})
            raise PromError(f"Prometheus at {self.url} did not answer: {exc}") from None
        if data.get("status") != "success":
            self.log.entries.append({**entry, "error": data.get("error")})
            raise PromError(f"Prometheus refused {params['query']!r}: {data.get('error')}")
        return data["data"]

    def instant(self, query: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        """(labels, value) per series of an instant vector."""
        params: dict[str, str] = {"query": query}
        if at is not None:
            params["time"] = f"{at:.3f}"
        entry: dict[str, Any] = {"query": query, "time": at}
        data = self._query("/api/v1/query", params, entry)
        result = [(dict(s["metric"]), float(s["value"][1])) for s in data["result"]]
        self.log.entries.append({**entry, "result": [[m, v] for m, v in result]})
        return result

    def range(self, query: str, start: float, end: float, step_s: float = 1.0,
              ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """(labels, [(epoch seconds, value), ...]) per series of a range query."""
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"}
        entry: dict[str, Any] = {"query": query, "start": start, "end": end}
        data = self._query("/api/v1/query_range", params, entry)
        result = [(dict(s["metric"]), [(float(t), float(v)) for t, v in s["values"]]) for s in data["result"]]
        self.log.entries.append({**entry, "step": step_s, "result": [[m, len(points)] for m, points in result]})
        return result

    def wait_for_scrape_after(self, t: float, scrape_interval_s: float = 1.0) -> None:
        """Block until a scrape that happened after `t` is queryable."""
        remaining = t + 2.5 * scrape_interval_s - time.time()
        if remaining > 0:
            time.sleep(remaining)
