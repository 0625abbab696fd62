"""Locust users that speak the OpenAI API as LLM clients do.

Subclass `ChatUser` or `CompletionUser` in a plain locustfile and set class
attributes (model, max_tokens, stream, prompt lengths, traffic mix); override
`build_body()` for anything else. Every request becomes a `RequestRecord`
and one Locust request (`POST`, end-to-end time); successful ones add `TTFT`,
`TPOT` and `ITL` rows that show in Locust's UI, CSV and HTML report but stay
out of its totals (see `harness.load.plugin.log_token_timings`). Importing this
module registers the plugin's hooks: the record sink, CLI options and UI tab.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import replace
from typing import Any, ClassVar, Literal

from locust import User, constant, task

from harness.load.httpclient import ConnectFailed, Connection, HTTPClientError, ReadTimeout
from harness.load.plugin import log_token_timings
from harness.load.prompts import LengthDistribution, PromptGenerator
from harness.load.records import ErrorKind, RecordBuilder, RequestRecord, now_utc
from harness.load.sse import ChunkedError, SSEParser
from harness.load.traffic import TrafficMix

__all__ = ["LLMUser", "ChatUser", "CompletionUser", "LLMRequestError"]

_user_numbers = itertools.count()


class LLMRequestError(Exception):
    """Shown in Locust's failures table: `<error kind>: <message>`."""


class LLMUser(User):
    abstract = True
    wait_time = constant(0)

    api: ClassVar[Literal["chat", "completion"]] = "chat"
    stream: ClassVar[bool] = True
    model: ClassVar[str] = "llama-3-8b"
    max_tokens: ClassVar[int | None] = 64
    include_usage: ClassVar[bool] = True
    prompt_lengths: ClassVar[LengthDistribution] = LengthDistribution("uniform", 128, 64)
    system_prompt_tokens: ClassVar[int] = 0
    traffic: ClassVar[TrafficMix] = TrafficMix()
    seed: ClassVar[int] = 0
    attribution_header: ClassVar[str] = "x-mesh-upstream"
    extra_headers: ClassVar[dict[str, str]] = {}  # sent with every request
    itl_rows: ClassVar[Literal["each", "mean", "none"]] = "each"
    connect_timeout: ClassVar[float] = 10.0
    read_timeout: ClassVar[float] = 300.0
    scenario: ClassVar[str | None] = None

    def on_start(self) -> None:
        self.number = next(_user_numbers)
        user_seed = self.seed * 100_003 + self.number
        self.prompts = PromptGenerator(self.prompt_lengths, seed=user_seed,
                                       system_prompt_tokens=self.system_prompt_tokens)
        self.mix = replace(self.traffic, seed=user_seed)
        self.user_id = self.mix.user_id_for(self.number)
        # Idle keep-alive connections; open-loop users run requests concurrently,
        # each on its own connection.
        self._idle: list[Connection] = []

    def on_stop(self) -> None:
        for conn in getattr(self, "_idle", []):
            conn.close()
        self._idle = []

    def _connection(self) -> Connection:
        if self._idle:
            return self._idle.pop()
        return Connection(self.host or "http://127.0.0.1:8000", self.connect_timeout, self.read_timeout)

    # -- hooks ------------------------------------------------------------------
    def build_body(self) -> dict[str, Any]:
        """The request body; the default is one seeded prompt."""
        body: dict[str, Any] = {"model": self.model, "stream": self.stream}
        if self.api == "chat":
            body["messages"] = self.prompts.messages()
        else:
            body["prompt"] = self.prompts.prompt()
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.stream and self.include_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    def request_name(self) -> str:
        return f"{'chat' if self.api == 'chat' else 'completions'}{' stream' if self.stream else ''}"

    def on_record(self, record: RequestRecord, body: dict[str, Any]) -> None:
        """Called after every request (a conversation appends the reply here)."""

    @task
    def generate(self) -> None:
        # Locust binds the task function itself; behaviour lives in step() so
        # subclasses (open-loop users) can replace it.
        self.step()

    def step(self) -> None:
        self.call(self.build_body())

    # -- the request ----------------------------------------------------------------
    def call(self, body: dict[str, Any], intended: float | None = None) -> RequestRecord:
        traits = self.mix.draw(self.user_id)
        if traits.model:
            body = {**body, "model": traits.model}
        stream = bool(body.get("stream"))
        rec = RequestRecord(start=now_utc(), scenario=self.scenario or type(self).__name__, api=self.api,
                            stream=stream, model_requested=str(body.get("model")), tier=traits.tier,
                            user_id=traits.user_id, latency_origin="intended" if intended is not None else "send")
        path = "/v1/chat/completions" if self.api == "chat" else "/v1/completions"
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **self.extra_headers, **traits.headers}
        sent = time.perf_counter()
        origin = intended if intended is not None else sent
        rec.send_lag_s = max(0.0, sent - origin)
        b = RecordBuilder(rec, origin, self.attribution_header)
        conn = self._connection()
        try:
            resp = conn.request("POST", path, payload, headers)
            b.head(resp.status, resp.headers)
            if resp.status >= 300:
                b.http_error(resp.read())
            elif stream:
                parser = SSEParser()
                for t, piece in resp.iter_body():
                    for ev in parser.feed(piece):
                        b.event(t, ev.data)
            else:
                for t, piece in resp.iter_body():
                    b.body(t, piece)
        except ConnectFailed as exc:
            b.fail(ErrorKind.CONNECT, str(exc))
        except ReadTimeout as exc:
            b.fail(ErrorKind.TIMEOUT, str(exc))
        except ChunkedError as exc:
            conn.close()
            b.fail(ErrorKind.MALFORMED, f"broken chunked body: {exc}")
        except HTTPClientError as exc:
            b.fail(ErrorKind.STREAM_CUT if rec.status else ErrorKind.CONNECT, str(exc))
        except OSError as exc:
            conn.close()
            b.fail(ErrorKind.CONNECT if rec.status is None else ErrorKind.STREAM_CUT, str(exc))
        finally:
            self._idle.append(conn)  # a closed connection reconnects on its next use
        rec = b.finish(time.perf_counter())
        self._report(rec)
        self.on_record(rec, body)
        return rec

    def _report(self, rec: RequestRecord) -> None:
        """The request as one Locust request (`POST`, end-to-end time), then its
        token timings as `TTFT` / `TPOT` / `ITL` rows kept out of Locust's totals."""
        name = self.request_name()
        exc = None if rec.ok else LLMRequestError(f"{rec.error_kind}: {rec.error}")
        self.environment.events.request.fire(request_type="POST", name=name, response_time=(rec.e2e_s or 0) * 1000,
                                             response_length=rec.output_tokens or 0, exception=exc,
                                             context={"record": rec})
        if rec.ok:
            log_token_timings(self.environment.stats, name, rec, self.itl_rows)


class ChatUser(LLMUser):
    abstract = True
    api = "chat"


class CompletionUser(LLMUser):
    abstract = True
    api = "completion"
