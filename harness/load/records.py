"""RequestRecord: what one LLM request felt like, and how it is built from
the response as it arrives. Pure: times are passed in."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

__all__ = ["RequestRecord", "RecordBuilder", "ErrorKind", "parse_attribution", "records_frame", "RECORD_COLUMNS"]


class ErrorKind(StrEnum):
    """Why a request failed; stored in records as its plain string value."""

    CONNECT = "connect"
    TIMEOUT = "timeout"
    HTTP = "http"  # with the status in `status` and the body's message in `error`
    STREAM_CUT = "stream_cut"
    MALFORMED = "malformed_event"
    STREAM_ERROR = "stream_error"  # an error event inside a 200 stream (vLLM's engine death)
    CLIENT_SATURATED = "client_saturated"  # open loop: an arrival found no free slot


@dataclass
class RequestRecord:
    start: str  # wall clock, UTC ISO 8601
    scenario: str
    api: str  # chat | completion
    stream: bool
    model_requested: str
    tier: str
    status: int | None = None
    ok: bool = False
    error_kind: str | None = None
    error: str | None = None
    ttft_s: float | None = None
    itl_s: list[float] = field(default_factory=list)
    tpot_s: float | None = None
    e2e_s: float | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    served_model: str | None = None
    served_pod: str | None = None
    served_service: str | None = None
    served_subset: str | None = None
    served_region: str | None = None
    served_version: str | None = None
    attempts: int | None = None
    user_id: str | None = None
    send_lag_s: float = 0.0  # open loop: actual send minus intended send
    latency_origin: str = "send"  # "intended" in open-loop mode
    tls: str | None = None  # https: "verified", or "unverified" under --insecure; None for http

    def as_dict(self) -> dict[str, Any]:
        # every field is a JSON value: a shallow copy does what asdict's deep copy
        # did at a tenth of its cost (one record per request on the load generator)
        out = dict(vars(self))
        out["itl_s"] = list(self.itl_s)
        return out

    def to_json(self) -> str:
        # orjson: one record per request on the load generator (json's encoder was a hot spot there)
        return orjson.dumps(self).decode()


RECORD_COLUMNS = list(RequestRecord.__dataclass_fields__)


def parse_attribution(header: str | None) -> dict[str, str]:
    """`pod=a;subset=v1;...` -> dict (the mesh's attribution header)."""
    if not header:
        return {}
    out = {}
    for part in header.split(";"):
        k, eq, v = part.strip().partition("=")
        if eq:
            out[k] = v
    return out


class RecordBuilder:
    """Feed it the response as it arrives; `finish()` returns the record.

    TTFT is the time to the first event carrying content (not the role chunk);
    ITL the gaps between content events; TPOT the mean time per output token
    after the first. A failed request keeps no TTFT/ITL so it cannot pollute
    latency figures."""

    def __init__(self, record: RequestRecord, origin: float, attribution_header: str = "x-mesh-upstream") -> None:
        self.r = record
        self.origin = origin  # the time latency is measured from (send, or intended send)
        self.attribution_header = attribution_header.lower()
        self._first: float | None = None
        self._last: float | None = None
        self._events = 0
        self._done = False
        self._finish_reason: str | None = None
        self._body = b""

    # -- response head -----------------------------------------------------------
    def head(self, status: int, headers: dict[str, str]) -> None:
        self.r.status = status
        attr = parse_attribution(headers.get(self.attribution_header))
        self.r.served_pod = attr.get("pod") or headers.get("x-served-by-pod")
        self.r.served_service = attr.get("service")
        self.r.served_subset = attr.get("subset") or None
        self.r.served_region = attr.get("region")
        self.r.served_version = attr.get("version")
        self.r.attempts = int(attr["attempts"]) if attr.get("attempts", "").isdigit() else None

    # -- streaming body ------------------------------------------------------------
    def event(self, t: float, data: str | bytes) -> None:
        """One event's data, as text or as the undecoded bytes of the stream
        (JSON parses either; the bytes skip a decode per token)."""
        r = self.r
        if r.error_kind:
            return
        if data == b"[DONE]" or data == "[DONE]":
            self._done = True
            return
        try:
            obj = orjson.loads(data)  # one per token on the load generator
        except ValueError:
            self.fail(ErrorKind.MALFORMED, f"event is not JSON: {_text(data)[:80]!r}")
            return
        if type(obj) is not dict:
            self.fail(ErrorKind.MALFORMED, f"event is not an object: {_text(data)[:80]!r}")
            return
        if "error" in obj:
            err = obj["error"]
            msg = err.get("message") if isinstance(err, dict) else str(err)
            self.fail(ErrorKind.STREAM_ERROR, str(msg))
            return
        model = obj.get("model")
        if model is not None:
            r.served_model = model
        usage = obj.get("usage")
        if usage and isinstance(usage, dict):
            r.prompt_tokens = usage.get("prompt_tokens", r.prompt_tokens)
            r.output_tokens = usage.get("completion_tokens", r.output_tokens)
        for choice in obj.get("choices") or ():
            if "delta" in choice:
                delta = choice["delta"]
                text = delta.get("content") if delta else None
            else:
                text = choice.get("text")
            if text:
                last = self._last
                if last is None:
                    self._first = t
                else:
                    r.itl_s.append(t - last)
                self._last = t
                self._events += 1
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]

    # -- unary body ------------------------------------------------------------------
    def body(self, t: float, payload: bytes) -> None:
        self._body += payload

    def _unary(self, t: float) -> None:
        try:
            obj = json.loads(self._body or b"null")
        except ValueError:
            self.fail(ErrorKind.MALFORMED, f"body is not JSON: {self._body[:80]!r}")
            return
        if not isinstance(obj, dict):
            self.fail(ErrorKind.MALFORMED, "body is not a JSON object")
            return
        self.r.served_model = obj.get("model")
        usage = obj.get("usage") or {}
        self.r.prompt_tokens = usage.get("prompt_tokens")
        self.r.output_tokens = usage.get("completion_tokens")
        # unary: the first token is only seen with the whole answer
        self._first = self._last = t

    # -- end ----------------------------------------------------------------------------
    def fail(self, kind: ErrorKind, message: str) -> None:
        if not self.r.error_kind:
            self.r.error_kind, self.r.error = kind.value, message

    def http_error(self, payload: bytes) -> None:
        """A non-2xx answer: keep the body's message (vLLM's or Envoy's text)."""
        message = payload[:300].decode("utf-8", errors="replace").strip()
        try:
            obj = json.loads(payload)
            if isinstance(obj, dict):
                err = obj.get("error", obj)
                message = str(err.get("message", err) if isinstance(err, dict) else err)
        except ValueError:
            pass
        self.fail(ErrorKind.HTTP, f"HTTP {self.r.status}: {message or '(empty body)'}")

    def finish(self, t: float) -> RequestRecord:
        r = self.r
        r.e2e_s = t - self.origin
        if not r.error_kind and r.status is not None and 200 <= r.status < 300:
            if r.stream:
                if not self._done:
                    self.fail(ErrorKind.STREAM_CUT, "the stream ended before data: [DONE]")
            else:
                self._unary(t)
        r.ok = r.error_kind is None and r.status is not None and 200 <= r.status < 300
        if r.ok:
            if r.output_tokens is None:
                r.output_tokens = self._events
            if self._first is not None:
                r.ttft_s = self._first - self.origin
                # unary answers arrive whole: no per-token timing to report
                if r.stream and r.output_tokens and r.output_tokens > 1 and self._last is not None:
                    r.tpot_s = (self._last - self._first) / (r.output_tokens - 1)
        else:
            r.ttft_s, r.itl_s, r.tpot_s = None, [], None
        return r


def _text(data: str | bytes) -> str:
    return data if isinstance(data, str) else bytes(data).decode("utf-8", errors="replace")


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def records_frame(records: Iterable[RequestRecord | dict[str, Any]]) -> Any:
    """A pandas DataFrame with one row per request (start parsed as UTC time)."""
    import pandas as pd

    rows = [r.as_dict() if isinstance(r, RequestRecord) else r for r in records]
    df = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    df["start"] = pd.to_datetime(df["start"], utc=True)
    return df
