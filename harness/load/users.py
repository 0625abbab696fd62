"""Locust users that speak the OpenAI API as LLM clients do.

Subclass `ChatUser` or `CompletionUser` in a plain locustfile and set class
attributes (model, max_tokens, stream, prompt lengths, traffic mix); override
`build_body()` for anything else. Every request becomes a `RequestRecord`
and one Locust request (`POST`, end-to-end time); successful ones add `TTFT`,
`TPOT` and `ITL` rows that show in Locust's UI, CSV and HTML report but stay
out of its totals (see `harness.load.plugin.log_token_timings`). Importing this
module registers the plugin's hooks: the record sink, CLI options and UI tab.

The users are Locust `FastHttpUser`s: requests go through its
geventhttpclient connection pool, over http or https, directly or through
the proxy the environment names, with the TLS trust, client certificate,
token and headers of `harness.outbound` (`--ca-bundle`, `--insecure`,
`--client-cert`, `--api-key-env`, `--header`). A stream is read as it
arrives (`readline`) and each event is timestamped when its end is in.
"""

from __future__ import annotations

import itertools
import ssl
import time
from dataclasses import replace
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import orjson
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError, HTTPSocketPoolResponse
from locust import constant, task
from locust.contrib.fasthttp import FastHttpSession, FastHttpUser

from harness.load import options  # noqa: F401  (registers the outbound HTTP options, the user-error report)
from harness.load.plugin import log_token_timings
from harness.load.prompts import LengthDistribution, PromptGenerator
from harness.load.records import ErrorKind, RecordBuilder, RequestRecord, now_utc
from harness.load.sse import SSEParser
from harness.load.traffic import TrafficMix
from harness.outbound import OutboundSettings, check_base_url, gevent_client_options, redact

__all__ = ["LLMUser", "ChatUser", "CompletionUser", "LLMRequestError"]

_user_numbers = itertools.count()


def _now() -> float:
    # perf_counter_ns is the same clock as perf_counter, without float rounding at read
    return time.perf_counter_ns() * 1e-9


class LLMRequestError(Exception):
    """Shown in Locust's failures table: `<error kind>: <message>`."""


class LLMUser(FastHttpUser):
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

    def __init__(self, environment: Any) -> None:
        # Outbound settings become FastHttpUser's own knobs before it builds its
        # session; a problem with them is raised from on_start, where Locust
        # reports it (an exception here would only end the spawning greenlet).
        self.outbound = OutboundSettings.from_env()
        self._startup_error: Exception | None = None
        self.connection_timeout = self.connect_timeout
        self.network_timeout = self.read_timeout
        try:
            self.base_url = check_base_url(self.host or "")
            for name, value in gevent_client_options(self.outbound, self.base_url).items():
                setattr(self, name, value)
        except Exception as exc:  # reported by on_start with its message
            self._startup_error = exc
            self.base_url = "http://unusable.invalid"
        self.host = self.base_url
        super().__init__(environment)
        proxy_user: str | None = getattr(self, "proxy_user", None)
        if proxy_user is not None:
            # FastHttpUser hands its session proxy_host and proxy_port but not
            # the credentials (Locust 2.47), which geventhttpclient sends as
            # Proxy-Authorization on CONNECT: the same session, with them
            self.client = FastHttpSession(
                base_url=self.host, request_event=self.environment.events.request,
                network_timeout=self.network_timeout, connection_timeout=self.connection_timeout,
                max_redirects=self.max_redirects, max_retries=self.max_retries, insecure=self.insecure,
                concurrency=self.concurrency, user=self, client_pool=self.client_pool,
                ssl_context_factory=self.ssl_context_factory, headers=self.default_headers,
                proxy_host=self.proxy_host, proxy_port=self.proxy_port,
                proxy_user=proxy_user, proxy_password=getattr(self, "proxy_password", ""))

    def on_start(self) -> None:
        if self._startup_error is not None:
            raise self._startup_error
        self.number = next(_user_numbers)
        user_seed = self.seed * 100_003 + self.number
        self.prompts = PromptGenerator(self.prompt_lengths, seed=user_seed,
                                       system_prompt_tokens=self.system_prompt_tokens)
        self.mix = replace(self.traffic, seed=user_seed)
        self.user_id = self.mix.user_id_for(self.number)
        self._prefix = urlsplit(self.base_url).path.rstrip("/")
        self._http = self.client.client.clientpool.get_client(self.base_url)
        self._tls = None if not self.base_url.startswith("https") else \
            "unverified" if self.outbound.insecure else "verified"
        self._headers = {"Content-Type": "application/json", **self.outbound.gateway_headers()}

    def on_stop(self) -> None:
        self.client.client.close()

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
                            user_id=traits.user_id, latency_origin="intended" if intended is not None else "send",
                            tls=self._tls)
        path = self._prefix + ("/v1/chat/completions" if self.api == "chat" else "/v1/completions")
        payload = orjson.dumps(body)
        headers = {**self._headers, **self.extra_headers, **traits.headers}
        sent = _now()
        origin = intended if intended is not None else sent
        rec.send_lag_s = max(0.0, sent - origin)
        b = RecordBuilder(rec, origin, self.attribution_header)
        resp: HTTPSocketPoolResponse | None = None
        try:
            resp = self._http.request("POST", path, body=payload, headers=headers)
            b.head(resp.status_code, self._wanted_headers(resp))
            if resp.status_code >= 300:
                b.http_error(resp.read())
            elif stream:
                self._read_events(resp, b)
            else:
                b.body(_now(), resp.read())
        except Exception as exc:  # every transport failure becomes the record's error, never a crash
            kind, message = _classify(exc, rec.status is not None, self)
            b.fail(kind, message)
        finally:
            if resp is not None:
                resp.release()  # back to the pool when complete, else closed
        rec = b.finish(_now())
        if rec.error:  # a gateway may echo the request's credentials in its error text
            rec.error = redact(rec.error, self.outbound)
        self._report(rec)
        self.on_record(rec, body)
        return rec

    def _wanted_headers(self, resp: HTTPSocketPoolResponse) -> dict[str, str]:
        """The response headers the record reads (looked up, not all copied: per-request CPU)."""
        out = {}
        for name in (self.attribution_header.lower(), "x-served-by-pod"):
            value = resp.get(name)
            if value is not None:
                out[name] = value if isinstance(value, str) else ", ".join(value)
        return out

    @staticmethod
    def _read_events(resp: HTTPSocketPoolResponse, b: RecordBuilder) -> None:
        """Line by line up to the first blank line (which tells LF from CRLF
        framing), then one whole event per read: each event is timestamped
        when its terminating blank line is in, at half the reads."""
        parser = SSEParser()
        readline = resp.readline
        separator = b""
        while not separator:
            line = readline(b"\n")
            if not line:
                return
            t = _now()
            for ev in parser.feed_line(line):
                b.event(t, ev.data)
            if line in (b"\n", b"\r\n"):
                separator = line + line
        data_of, feed_event, event = parser.data_of, parser.feed_event, b.event
        while True:
            block = readline(separator)
            if not block:
                return
            t = _now()
            data = data_of(block)  # one data line, as nearly every event is: its bytes as they came
            if data is not None:
                event(t, data)
            else:
                for ev in feed_event(block):
                    event(t, ev.data)

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


def _classify(exc: Exception, answered: bool, user: LLMUser) -> tuple[ErrorKind, str]:
    """(error kind, message) of a transport failure; `answered`: the response head was in."""
    if isinstance(exc, TimeoutError):
        return ErrorKind.TIMEOUT, (f"no data for {user.read_timeout:g}s" if answered
                                   else f"no response within {user.read_timeout:g}s")
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
        return (ErrorKind.STREAM_CUT if answered else ErrorKind.CONNECT), f"TLS: {reason}"
    if isinstance(exc, HTTPConnectionClosed):
        return (ErrorKind.STREAM_CUT, "the connection closed mid-body") if answered else \
            (ErrorKind.CONNECT, "the connection closed before the response head")
    if isinstance(exc, HTTPParseError):
        if not answered:
            return ErrorKind.CONNECT, f"broken HTTP response head: {exc}"
        # llhttp's words for a body the peer ended early; anything else is broken framing
        if "Incomplete response" in str(exc):
            return ErrorKind.STREAM_CUT, "the connection closed mid-body"
        return ErrorKind.MALFORMED, f"broken HTTP body: {exc}"
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc) or type(exc).__name__
        via = f" through proxy {user.proxy_host}:{user.proxy_port}" if user.proxy_host else ""
        return (ErrorKind.STREAM_CUT, f"connection lost mid-body: {what}") if answered else \
            (ErrorKind.CONNECT, f"connect to {user.base_url}{via}: {what}")
    # geventhttpclient raises RuntimeError for a refused proxy CONNECT
    return (ErrorKind.STREAM_CUT if answered else ErrorKind.CONNECT), f"{type(exc).__name__}: {exc}"
