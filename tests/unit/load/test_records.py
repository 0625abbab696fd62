"""RecordBuilder: a RequestRecord from a response as it arrives (times passed in)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from harness.load.records import (
    RECORD_COLUMNS,
    ErrorKind,
    RecordBuilder,
    RequestRecord,
    parse_attribution,
    records_frame,
)

ATTR = "pod=a;workload=w;subset=v1;region=us-east;version=v1;service=llm-chat;attempts=2"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def new_record(stream: bool = True, api: str = "chat", **kw) -> RequestRecord:
    return RequestRecord(start="2024-05-01T12:00:00.000+00:00", scenario="t", api=api, stream=stream,
                         model_requested="llama", tier="standard", **kw)


def chat_chunk(delta: dict | None = None, finish: str | None = None, **extra) -> str:
    obj = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    if delta is not None:
        obj["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    obj.update(extra)
    return json.dumps(obj)


def usage_chunk(prompt: int, completion: int) -> str:
    return chat_chunk(choices=[], usage={"prompt_tokens": prompt, "total_tokens": prompt + completion,
                                         "completion_tokens": completion})


def completion_chunk(text: str, finish: str | None = None) -> str:
    return json.dumps({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": MODEL,
                       "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}]})


def vllm_chat_stream(times: list[float], with_usage: bool = True, completion_tokens: int | None = None):
    """(t, data) pairs: role chunk at 10.05, one content chunk per time, finish, usage, [DONE]."""
    events = [(10.05, chat_chunk({"role": "assistant", "content": ""}))]
    events += [(t, chat_chunk({"content": f"tok{i} "})) for i, t in enumerate(times)]
    end = times[-1] + 0.001
    events.append((end, chat_chunk({}, finish="stop")))
    if with_usage:
        events.append((end, usage_chunk(12, completion_tokens if completion_tokens is not None else len(times))))
    events.append((end, "[DONE]"))
    return events


def run(events, origin: float = 10.0, end: float = 11.0, status: int = 200, headers: dict | None = None,
        record: RequestRecord | None = None, header_name: str = "x-mesh-upstream") -> RequestRecord:
    b = RecordBuilder(record or new_record(), origin, header_name)
    b.head(status, headers if headers is not None else {"content-type": "text/event-stream"})
    for t, data in events:
        b.event(t, data)
    return b.finish(end)


# -- successful streams -------------------------------------------------------------------


def test_chat_stream_latencies_and_tokens() -> None:
    times = [10.2, 10.25, 10.35, 10.4]
    r = run(vllm_chat_stream(times, completion_tokens=4), origin=10.0, end=10.5)
    assert r.ok and r.error_kind is None and r.error is None
    assert r.status == 200
    assert r.ttft_s == pytest.approx(0.2)  # first content, not the role chunk at 10.05
    assert r.itl_s == pytest.approx([0.05, 0.1, 0.05])
    assert r.tpot_s == pytest.approx((10.4 - 10.2) / 3)
    assert r.e2e_s == pytest.approx(0.5)
    assert r.prompt_tokens == 12
    assert r.output_tokens == 4
    assert r.served_model == MODEL


def test_tpot_uses_output_tokens_from_usage_not_event_count() -> None:
    # 3 content events but the server says 7 tokens (several tokens per chunk)
    r = run(vllm_chat_stream([10.1, 10.4, 10.7], completion_tokens=7), origin=10.0)
    assert r.ok
    assert r.output_tokens == 7
    assert r.tpot_s == pytest.approx(0.6 / 6)
    assert r.itl_s == pytest.approx([0.3, 0.3])


def test_without_usage_output_tokens_are_the_content_events() -> None:
    r = run(vllm_chat_stream([10.1, 10.2, 10.4, 10.5, 10.9], with_usage=False), origin=10.0)
    assert r.ok
    assert r.output_tokens == 5
    assert r.prompt_tokens is None
    assert r.tpot_s == pytest.approx(0.8 / 4)


def test_single_token_has_ttft_but_no_tpot_or_itl() -> None:
    r = run(vllm_chat_stream([10.3], completion_tokens=1), origin=10.0)
    assert r.ok
    assert r.ttft_s == pytest.approx(0.3)
    assert r.itl_s == []
    assert r.tpot_s is None


def test_role_chunk_and_empty_content_do_not_count_as_tokens() -> None:
    events = [(10.05, chat_chunk({"role": "assistant", "content": ""})),
              (10.1, chat_chunk({"content": None})),
              (10.3, chat_chunk({"content": "a"})),
              (10.5, chat_chunk({"content": "b"})),
              (10.6, "[DONE]")]
    r = run(events, origin=10.0)
    assert r.ok
    assert r.ttft_s == pytest.approx(0.3)
    assert r.itl_s == pytest.approx([0.2])
    assert r.output_tokens == 2


def test_completion_api_stream_uses_choice_text() -> None:
    events = [(10.1, completion_chunk("Once")), (10.15, completion_chunk("")), (10.3, completion_chunk(" upon")),
              (10.6, completion_chunk(" a", finish="length")),
              (10.6, json.dumps({"id": "cmpl-1", "object": "text_completion", "model": MODEL, "choices": [],
                                 "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}})),
              (10.6, "[DONE]")]
    r = run(events, origin=10.0, record=new_record(api="completion"))
    assert r.ok
    assert r.ttft_s == pytest.approx(0.1)
    assert r.itl_s == pytest.approx([0.2, 0.3])
    assert r.output_tokens == 3
    assert r.tpot_s == pytest.approx(0.25)


def test_open_loop_origin_includes_the_send_lag() -> None:
    times = [10.2, 10.3]
    at_send = run(vllm_chat_stream(times), origin=10.0, end=10.5)
    intended = run(vllm_chat_stream(times), origin=9.25, end=10.5,
                   record=new_record(latency_origin="intended", send_lag_s=0.75))
    assert intended.ttft_s == pytest.approx(at_send.ttft_s + 0.75) == pytest.approx(0.95)
    assert intended.e2e_s == pytest.approx(at_send.e2e_s + 0.75) == pytest.approx(1.25)
    assert intended.itl_s == pytest.approx(at_send.itl_s)  # gaps do not move with the origin
    assert intended.tpot_s == pytest.approx(at_send.tpot_s)


# -- attribution --------------------------------------------------------------------------


def test_attribution_header_fills_served_fields() -> None:
    r = run(vllm_chat_stream([10.1]), headers={"x-mesh-upstream": ATTR, "x-served-by-pod": "other"})
    assert (r.served_pod, r.served_service, r.served_subset, r.served_region, r.served_version) == \
        ("a", "llm-chat", "v1", "us-east", "v1")
    assert r.attempts == 2


def test_attribution_header_name_is_configurable_and_lowercased() -> None:
    r = run(vllm_chat_stream([10.1]), headers={"x-route-info": "pod=b;subset=canary;attempts=1"},
            header_name="X-Route-Info")
    assert r.served_pod == "b"
    assert r.served_subset == "canary"
    assert r.attempts == 1
    # the default header is not read when another one is configured
    r2 = run(vllm_chat_stream([10.1]), headers={"x-mesh-upstream": ATTR}, header_name="x-route-info")
    assert r2.served_pod is None and r2.attempts is None


def test_pod_falls_back_to_x_served_by_pod() -> None:
    r = run(vllm_chat_stream([10.1]), headers={"x-served-by-pod": "vllm-0"})
    assert r.served_pod == "vllm-0"
    assert r.served_subset is None and r.served_region is None and r.attempts is None
    r2 = run(vllm_chat_stream([10.1]), headers={"x-mesh-upstream": "subset=v2", "x-served-by-pod": "vllm-1"})
    assert r2.served_pod == "vllm-1"
    assert r2.served_subset == "v2"


def test_no_attribution_at_all() -> None:
    r = run(vllm_chat_stream([10.1]), headers={})
    assert r.served_pod is None and r.served_service is None and r.attempts is None
    assert r.served_model == MODEL  # from the body


def test_non_numeric_attempts_is_none() -> None:
    r = run(vllm_chat_stream([10.1]), headers={"x-mesh-upstream": "pod=a;attempts=two"})
    assert r.attempts is None


def test_parse_attribution() -> None:
    assert parse_attribution(ATTR) == {"pod": "a", "workload": "w", "subset": "v1", "region": "us-east",
                                       "version": "v1", "service": "llm-chat", "attempts": "2"}
    assert parse_attribution(" pod=a ; junk ;region=eu=1") == {"pod": "a", "region": "eu=1"}
    assert parse_attribution(None) == {}
    assert parse_attribution("") == {}


# -- failures -----------------------------------------------------------------------------


def assert_no_latency(r: RequestRecord) -> None:
    assert r.ttft_s is None
    assert r.itl_s == []
    assert r.tpot_s is None


def test_stream_without_done_is_cut() -> None:
    events = [e for e in vllm_chat_stream([10.1, 10.2, 10.3]) if e[1] != "[DONE]"]
    r = run(events, origin=10.0, end=10.5)
    assert not r.ok
    assert r.error_kind == ErrorKind.STREAM_CUT == "stream_cut"
    assert "[DONE]" in r.error
    assert r.e2e_s == pytest.approx(0.5)
    assert_no_latency(r)


def test_non_json_event_is_malformed() -> None:
    events = [(10.1, chat_chunk({"content": "a"})), (10.2, "<html>oops</html>"),
              (10.3, chat_chunk({"content": "b"})), (10.4, "[DONE]")]
    r = run(events)
    assert not r.ok
    assert r.error_kind == ErrorKind.MALFORMED == "malformed_event"
    assert "oops" in r.error
    assert_no_latency(r)


def test_json_non_object_event_is_malformed() -> None:
    r = run([(10.1, "[1, 2]"), (10.2, "[DONE]")])
    assert not r.ok
    assert r.error_kind == ErrorKind.MALFORMED


def test_error_event_is_stream_error_with_its_message() -> None:
    err = json.dumps({"error": {"object": "error", "message": "EngineCore encountered an issue",
                                "type": "InternalServerError", "param": None, "code": 500}})
    events = [(10.05, chat_chunk({"role": "assistant", "content": ""})), (10.1, chat_chunk({"content": "a"})),
              (10.2, chat_chunk({"content": "b"})), (10.3, err), (10.3, "[DONE]")]
    r = run(events)
    assert not r.ok
    assert r.status == 200
    assert r.error_kind == ErrorKind.STREAM_ERROR == "stream_error"
    assert r.error == "EngineCore encountered an issue"
    assert_no_latency(r)


def test_first_failure_wins() -> None:
    b = RecordBuilder(new_record(), 10.0)
    b.head(200, {})
    b.event(10.1, "not json")
    b.event(10.2, json.dumps({"error": {"message": "later"}}))
    b.fail(ErrorKind.TIMEOUT, "read timed out")
    r = b.finish(11.0)
    assert r.error_kind == ErrorKind.MALFORMED


def test_http_503_envoy_plain_text() -> None:
    b = RecordBuilder(new_record(), 10.0)
    b.head(503, {"content-type": "text/plain", "server": "envoy"})
    b.http_error(b"no healthy upstream")
    r = b.finish(10.01)
    assert not r.ok
    assert r.status == 503
    assert r.error_kind == ErrorKind.HTTP == "http"
    assert "503" in r.error and "no healthy upstream" in r.error
    assert_no_latency(r)
    assert r.e2e_s == pytest.approx(0.01)


def test_http_404_vllm_json_error_keeps_the_message() -> None:
    body = json.dumps({"object": "error", "message": "The model `gpt-9` does not exist.",
                       "type": "NotFoundError", "param": None, "code": 404}).encode()
    b = RecordBuilder(new_record(), 10.0)
    b.head(404, {"content-type": "application/json"})
    b.http_error(body)
    r = b.finish(10.02)
    assert r.error_kind == ErrorKind.HTTP
    assert "404" in r.error
    assert "The model `gpt-9` does not exist." in r.error
    assert "NotFoundError" not in r.error  # the message, not the whole JSON


def test_http_error_openai_style_nested_error() -> None:
    body = json.dumps({"error": {"message": "rate limited", "type": "rate_limit", "code": 429}}).encode()
    b = RecordBuilder(new_record(), 10.0)
    b.head(429, {})
    b.http_error(body)
    r = b.finish(10.0)
    assert r.error == "HTTP 429: rate limited"


def test_http_error_empty_body() -> None:
    b = RecordBuilder(new_record(), 10.0)
    b.head(502, {})
    b.http_error(b"")
    r = b.finish(10.0)
    assert not r.ok
    assert r.error_kind == ErrorKind.HTTP
    assert r.error == "HTTP 502: (empty body)"


def test_transport_failure_after_content_keeps_no_latency() -> None:
    b = RecordBuilder(new_record(), 10.0)
    b.head(200, {})
    for t, d in vllm_chat_stream([10.1, 10.2, 10.3]):
        b.event(t, d)
    b.fail(ErrorKind.TIMEOUT, "read timed out")
    r = b.finish(40.0)
    assert not r.ok
    assert r.error_kind == ErrorKind.TIMEOUT and r.error == "read timed out"
    assert_no_latency(r)


def test_connect_failure_has_no_status() -> None:
    b = RecordBuilder(new_record(), 10.0)
    b.fail(ErrorKind.CONNECT, "connection refused")
    r = b.finish(10.5)
    assert not r.ok
    assert r.status is None
    assert r.error_kind == "connect"
    assert_no_latency(r)


# -- unary --------------------------------------------------------------------------------


UNARY = json.dumps({"id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": MODEL,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there, friend"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}}).encode()


@pytest.mark.parametrize("pieces", [1, 2, 7, len(UNARY)])
def test_unary_body_fed_in_pieces(pieces: int) -> None:
    b = RecordBuilder(new_record(stream=False), 10.0)
    b.head(200, {"content-type": "application/json"})
    step = math.ceil(len(UNARY) / pieces)
    for i in range(0, len(UNARY), step):
        b.body(10.1 + i / 1e4, UNARY[i:i + step])
    r = b.finish(10.8)
    assert r.ok
    assert r.prompt_tokens == 9
    assert r.output_tokens == 4
    assert r.served_model == MODEL
    assert r.e2e_s == pytest.approx(0.8)
    assert r.ttft_s == r.e2e_s
    assert r.itl_s == []


def test_unary_non_json_body_is_malformed() -> None:
    b = RecordBuilder(new_record(stream=False), 10.0)
    b.head(200, {})
    b.body(10.1, b"<html>")
    r = b.finish(10.2)
    assert not r.ok
    assert r.error_kind == ErrorKind.MALFORMED
    assert_no_latency(r)


def test_unary_empty_body_is_malformed() -> None:
    b = RecordBuilder(new_record(stream=False), 10.0)
    b.head(200, {})
    r = b.finish(10.2)
    assert not r.ok
    assert r.error_kind == ErrorKind.MALFORMED


# -- serialisation ------------------------------------------------------------------------


def test_to_json_round_trips() -> None:
    r = run(vllm_chat_stream([10.2, 10.3]), origin=10.0)
    d = json.loads(r.to_json())
    assert list(d) == RECORD_COLUMNS
    assert d["itl_s"] == pytest.approx([0.1])
    assert d["ok"] is True


def test_records_frame() -> None:
    good = run(vllm_chat_stream([10.2, 10.3]), origin=10.0)
    bad = new_record(status=503, error_kind="http", error="HTTP 503: no healthy upstream")
    bad.start = "2024-05-01T14:00:00.250+02:00"
    df = records_frame([good, bad.as_dict()])
    assert list(df.columns) == RECORD_COLUMNS
    assert len(df) == 2
    assert isinstance(df["start"].dtype, pd.DatetimeTZDtype)
    assert str(df["start"].dt.tz) == "UTC"
    assert df["start"].iloc[0] == pd.Timestamp("2024-05-01T12:00:00Z")
    assert df["start"].iloc[1] == pd.Timestamp("2024-05-01T12:00:00.250Z")
    assert df["ok"].tolist() == [True, False]
    assert df["itl_s"].iloc[0] == pytest.approx([0.1])


def test_records_frame_empty_has_the_columns() -> None:
    df = records_frame([])
    assert df.empty
    assert list(df.columns) == RECORD_COLUMNS


def test_records_frame_empty_start_is_utc_datetime() -> None:
    df = records_frame([])
    assert isinstance(df["start"].dtype, pd.DatetimeTZDtype)
    assert str(df["start"].dt.tz) == "UTC"


def test_as_dict_is_what_asdict_gives_and_copies_the_gaps() -> None:
    from dataclasses import asdict

    r = RequestRecord(start="2026-01-01T00:00:00.000+00:00", scenario="s", api="chat", stream=True,
                      model_requested="m", tier="standard", ok=True, itl_s=[0.01, 0.02], tls="verified")
    d = r.as_dict()
    assert d == asdict(r) and list(d) == list(asdict(r))
    d["itl_s"].append(1.0)
    assert r.itl_s == [0.01, 0.02]


# -- events as the stream's bytes (the load generator's fast path) ----------------------------


@pytest.mark.parametrize("kind", [bytes, bytearray], ids=["bytes", "bytearray"])
def test_events_as_bytes_give_the_same_record_as_text(kind) -> None:
    events = vllm_chat_stream([10.2, 10.25, 10.35, 10.4], completion_tokens=4)
    as_text = run(events, origin=10.0, end=10.5)
    as_bytes = run([(t, kind(data.encode())) for t, data in events], origin=10.0, end=10.5)
    assert as_bytes.ok and as_bytes == as_text


def test_malformed_bytes_event_names_its_text_not_a_bytes_repr() -> None:
    r = run([(10.1, b"<html>oops</html>"), (10.2, b"[DONE]")])
    assert r.error_kind == ErrorKind.MALFORMED
    assert "'<html>oops</html>'" in r.error and "b'" not in r.error
