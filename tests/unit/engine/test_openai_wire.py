"""The engine's OpenAI wire format, read back with the load client's own SSE
parser and HTTP parser (geventhttpclient's): what the engine writes is what
clients parse."""

from __future__ import annotations

import json
import math

import pytest
from geventhttpclient.response import HTTPResponse

from harness.load.sse import SSEParser
from harness.localstack.engine.openai_wire import (
    DONE_FRAME,
    STREAM_OPENING_COMMENT,
    completion_body,
    embedding_vector,
    embeddings_body,
    error_body,
    error_frame,
    http_chunk,
    models_body,
    response_id,
    stream_frames,
    usage,
    usage_frame,
)


def escaped(word: str) -> bytes:
    return json.dumps(word)[1:-1].encode()


def events(raw: bytes) -> list[str]:
    return [e.data for e in SSEParser().feed(raw)]


def test_chat_stream_reads_as_vllm_chunks() -> None:
    f = stream_frames("chat", "chatcmpl-1", 1700000000, 'llama "3"', "length", include_usage=True)
    raw = (f.first + f.token(escaped(" hello"), last=False) + f.token(escaped(' "quoted"\n'), last=True)
           + usage_frame("chat", "chatcmpl-1", 1700000000, 'llama "3"', usage(7, 2)) + DONE_FRAME)
    data = events(raw)
    assert data[-1] == "[DONE]"
    first, tok1, tok2, tail = (json.loads(d) for d in data[:-1])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["object"] for c in (first, tok1, tok2, tail)] == ["chat.completion.chunk"] * 4
    assert tok1["model"] == 'llama "3"' and tok1["id"] == "chatcmpl-1" and tok1["created"] == 1700000000
    assert tok1["choices"][0]["delta"] == {"content": " hello"} and tok1["choices"][0]["finish_reason"] is None
    assert tok2["choices"][0]["delta"] == {"content": ' "quoted"\n'}
    assert tok2["choices"][0]["finish_reason"] == "length"
    assert all("usage" in c and c["usage"] is None for c in (first, tok1, tok2))
    assert tail["choices"] == [] and tail["usage"] == {"prompt_tokens": 7, "total_tokens": 9,
                                                       "completion_tokens": 2}


def test_completion_stream_has_no_role_chunk_and_no_usage_unless_asked() -> None:
    f = stream_frames("completion", "cmpl-1", 1, "m", "stop", include_usage=False)
    assert f.first == b""
    data = events(STREAM_OPENING_COMMENT + f.token(escaped(" a"), last=False) + f.token(escaped(" b"), last=True)
                  + DONE_FRAME)
    tok1, tok2 = (json.loads(d) for d in data[:-1])  # the opening comment is no event
    assert tok1["object"] == "text_completion" and tok1["choices"][0]["text"] == " a"
    assert tok2["choices"][0]["finish_reason"] == "stop" and "usage" not in tok2


class _BodyCollector(HTTPResponse):
    def __init__(self) -> None:
        super().__init__()
        self.body = bytearray()

    def _on_body(self, buf: bytearray) -> None:
        self.body += buf


def test_frames_travel_as_http_chunks() -> None:
    f = stream_frames("chat", "chatcmpl-2", 1, "m", "stop", include_usage=False)
    body = http_chunk(f.first) + http_chunk(f.token(escaped(" x"), last=True)) + http_chunk(DONE_FRAME) + b"0\r\n\r\n"
    parser = _BodyCollector()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert parser.message_complete
    assert bytes(parser.body) == f.first + f.token(escaped(" x"), last=True) + DONE_FRAME
    assert http_chunk(b"hello") == b"5\r\nhello\r\n"


def test_error_in_a_stream_is_vllm_error_json() -> None:
    (data,) = events(error_frame("EngineCore encountered an issue."))
    assert json.loads(data) == {"error": {"message": "EngineCore encountered an issue.",
                                          "type": "InternalServerError", "param": None, "code": 500}}
    assert error_body("bad", "BadRequestError", 400, "messages")["error"]["param"] == "messages"


@pytest.mark.parametrize("api", ["chat", "completion"])
def test_unary_bodies(api: str) -> None:
    body = completion_body(api, response_id(api, "ab"), 5, "m", "hi there", "length", usage(3, 2))  # type: ignore[arg-type]
    assert body["usage"]["total_tokens"] == 5 and body["choices"][0]["finish_reason"] == "length"
    if api == "chat":
        assert body["id"] == "chatcmpl-ab" and body["object"] == "chat.completion"
        assert body["choices"][0]["message"] == {"role": "assistant", "content": "hi there", "tool_calls": []}
    else:
        assert body["id"] == "cmpl-ab" and body["object"] == "text_completion"
        assert body["choices"][0]["text"] == "hi there"


def test_embeddings_are_unit_vectors_fixed_by_the_text() -> None:
    a, again, b = embedding_vector("hello", 16), embedding_vector("hello", 16), embedding_vector("world", 16)
    assert a == again and a != b and len(a) == 16
    assert math.isclose(math.sqrt(sum(x * x for x in a)), 1.0, abs_tol=1e-5)
    body = embeddings_body("embd-1", 1, "bge", [a, b], prompt_tokens=4)
    assert [d["index"] for d in body["data"]] == [0, 1] and body["data"][1]["embedding"] == b
    assert body["usage"] == {"prompt_tokens": 4, "total_tokens": 4, "completion_tokens": 0}


def test_models_lists_the_served_model() -> None:
    body = models_body("llama-3-8b", 9, 8192, "chat-0")
    (model,) = body["data"]
    assert model["id"] == model["root"] == "llama-3-8b" and model["max_model_len"] == 8192
    assert model["owned_by"] == "vllm" and model["permission"][0]["id"] == "modelperm-chat-0"
