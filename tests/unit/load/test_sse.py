"""SSEParser: bytes in, the same events out however the bytes were split
(line by line, as the users read a stream, included)."""

from __future__ import annotations

import json
import random

import pytest

from harness.load.sse import SSEEvent, SSEParser

# -- a realistic vLLM / OpenAI chat stream -------------------------------------------------


def _chunk(delta: dict | None = None, finish: str | None = None, **extra) -> str:
    obj = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "llama-3-8b"}
    if delta is not None:
        obj["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    obj.update(extra)
    return json.dumps(obj, ensure_ascii=False)


PAYLOADS = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Hé"}),
    _chunk({"content": "llo 世界"}),  # multi-byte UTF-8: byte splits land inside characters
    _chunk({}, finish="stop"),
    _chunk(choices=[], usage={"prompt_tokens": 5, "total_tokens": 8, "completion_tokens": 3}),
    "[DONE]",
]


def openai_stream(eol: str = "\n") -> bytes:
    parts = [": keep-alive" + eol]  # a comment before the first event
    for p in PAYLOADS:
        parts.append("data: " + p + eol + eol)
    parts.append(":" + "\n")  # a trailing comment ends the last line whatever `eol` is
    return "".join(parts).encode("utf-8")


EXPECTED = [SSEEvent(p) for p in PAYLOADS]


def feed_all(parser: SSEParser, pieces) -> list[SSEEvent]:
    out: list[SSEEvent] = []
    for piece in pieces:
        out.extend(parser.feed(piece))
    return out


def random_splits(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), n))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


EOLS = pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])


@EOLS
def test_whole_stream_gives_the_expected_events(eol: str) -> None:
    p = SSEParser()
    assert p.feed(openai_stream(eol)) == EXPECTED
    assert not p.pending


@EOLS
def test_byte_by_byte_equals_whole(eol: str) -> None:
    data = openai_stream(eol)
    p = SSEParser()
    assert feed_all(p, [data[i:i + 1] for i in range(len(data))]) == EXPECTED
    assert not p.pending


@EOLS
def test_every_two_way_split_equals_whole(eol: str) -> None:
    data = openai_stream(eol)
    for i in range(len(data) + 1):
        p = SSEParser()
        assert feed_all(p, [data[:i], data[i:]]) == EXPECTED, f"split at byte {i}"


@EOLS
@pytest.mark.parametrize("seed", range(20))
def test_random_seeded_splits_equal_whole(eol: str, seed: int) -> None:
    data = openai_stream(eol)
    rng = random.Random(seed)
    pieces = random_splits(data, rng, rng.randint(2, 40))
    assert b"".join(pieces) == data
    assert feed_all(SSEParser(), pieces) == EXPECTED


def test_events_are_returned_as_soon_as_their_blank_line_arrives() -> None:
    p = SSEParser()
    assert p.feed(b"data: one\n") == []
    assert p.pending
    assert p.feed(b"\n") == [SSEEvent("one")]
    assert not p.pending


def test_crlf_split_inside_the_line_ending() -> None:
    p = SSEParser()
    assert p.feed(b"data: a\r") == []
    # the CR ends the line at once; the LF that follows is its other half, the next CR the blank line
    assert p.feed(b"\n\r") == [SSEEvent("a")]
    assert p.feed(b"\ndata: b\r\n\r\n") == [SSEEvent("b")]


def test_bare_cr_line_endings() -> None:
    p = SSEParser()
    # the blank line's CR is followed by more bytes, so it cannot be half of a CRLF
    assert p.feed(b"data: a\rdata: b\r\rdata: c\r") == [SSEEvent("a\nb")]
    assert p.feed(b"\r:\n") == [SSEEvent("c")]


def test_bare_cr_terminated_event_at_end_of_input_is_emitted() -> None:
    p = SSEParser()
    assert p.feed(b"data: [DONE]\r\r") == [SSEEvent("[DONE]")]
    assert not p.pending


def test_mixed_line_endings() -> None:
    p = SSEParser()
    assert p.feed(b"data: a\r\ndata: b\ndata: c\r\n\ndata: d\n\r\n") == [SSEEvent("a\nb\nc"), SSEEvent("d")]


def test_multi_line_data_is_joined_with_lf() -> None:
    p = SSEParser()
    assert p.feed(b"data: line 1\ndata:\ndata: line 3\ndata\n\n") == [SSEEvent("line 1\n\nline 3\n")]


def test_comments_are_ignored() -> None:
    p = SSEParser()
    assert p.feed(b": ping\n\n") == []
    assert p.feed(b":\n: keep-alive\n") == []
    assert not p.pending
    assert p.feed(b"data: x\n: inside an event\ndata: y\n\n") == [SSEEvent("x\ny")]


def test_only_one_space_after_the_colon_is_removed() -> None:
    p = SSEParser()
    assert p.feed(b'data:{"a":1}\n\n') == [SSEEvent('{"a":1}')]
    assert p.feed(b"data:  two\n\n") == [SSEEvent(" two")]
    assert p.feed(b"data:\tx\n\n") == [SSEEvent("\tx")]


def test_done_is_an_ordinary_event() -> None:
    assert SSEParser().feed(b"data: [DONE]\n\n") == [SSEEvent("[DONE]", "message", None)]


def test_event_and_id_fields() -> None:
    p = SSEParser()
    events = p.feed(b"event: error\nid: 42\ndata: boom\n\ndata: next\n\n")
    assert events[0] == SSEEvent("boom", "error", "42")
    # the event type is reset after dispatch; the last event id persists (WHATWG)
    assert events[1] == SSEEvent("next", "message", "42")


def test_event_field_without_data_does_not_leak_into_the_next_event() -> None:
    p = SSEParser()
    assert p.feed(b"event: ping\n\n") == []
    assert p.feed(b"data: x\n\n") == [SSEEvent("x", "message")]


def test_unterminated_event_is_not_emitted_and_is_pending() -> None:
    p = SSEParser()
    assert p.feed(b"data: [DONE]\n") == []
    assert p.pending


def test_partial_line_is_pending() -> None:
    p = SSEParser()
    assert p.feed(b"data: {\"choi") == []
    assert p.pending


def test_fresh_parser_and_blank_lines_are_not_pending() -> None:
    p = SSEParser()
    assert not p.pending
    assert p.feed(b"\n\n\r\n") == []
    assert not p.pending


def test_usage_only_chunk_and_error_event_come_through() -> None:
    usage = _chunk(choices=[], usage={"prompt_tokens": 7, "total_tokens": 9, "completion_tokens": 2})
    error = json.dumps({"error": {"message": "engine dead", "type": "InternalServerError", "code": 500}})
    events = SSEParser().feed(f"data: {usage}\n\ndata: {error}\n\n".encode())
    assert [e.data for e in events] == [usage, error]
    assert json.loads(events[0].data)["choices"] == []
    assert json.loads(events[1].data)["error"]["message"] == "engine dead"


@EOLS
def test_line_by_line_equals_whole(eol: str) -> None:
    # what LLMUser feeds: readline(b"\n") pieces (a CR-only stream comes as one piece)
    data = openai_stream(eol)
    lines = data.splitlines(keepends=True) if eol != "\r" else [data]
    p = SSEParser()
    assert [ev for line in lines for ev in p.feed_line(line)] == EXPECTED
    assert not p.pending


def test_feed_line_mixes_with_feed() -> None:
    # a tail without its LF is buffered by feed; the next line completes it
    p = SSEParser()
    assert list(p.feed_line(b"data: a")) == []
    assert list(p.feed_line(b"bc\n")) == []
    assert list(p.feed_line(b"\n")) == [SSEEvent("abc")]
    assert list(p.feed_line(b"data: x\r\n")) == [] and list(p.feed_line(b"\r\n")) == [SSEEvent("x")]
    assert list(p.feed_line(b"data: y\rdata: z\r\r\n")) == [SSEEvent("y\nz")]


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_event_blocks_equal_whole(eol: str) -> None:
    # what LLMUser feeds after the first blank line: readline(eol + eol) pieces
    data = openai_stream(eol)
    sep = (eol + eol).encode()
    blocks, rest = [], data
    while sep in rest:
        cut = rest.index(sep) + len(sep)
        blocks.append(rest[:cut])
        rest = rest[cut:]
    blocks.append(rest)
    p = SSEParser()
    assert [ev for block in blocks for ev in p.feed_event(block)] == EXPECTED
    assert not p.pending


def test_feed_event_general_cases_fall_back_to_feed() -> None:
    p = SSEParser()
    assert list(p.feed_event(b"event: delta\nid: 7\ndata: a\ndata: b\n\n")) == [SSEEvent("a\nb", "delta", "7")]
    assert list(p.feed_event(b"data: c\n\n")) == [SSEEvent("c", "message", "7")]  # the last id stays
    assert list(p.feed_event(b": ping\n\n")) == []
    assert list(p.feed_event(b"data: cut")) == [] and p.pending


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_data_of_gives_the_undecoded_data_of_a_single_data_line_event(eol: str) -> None:
    p = SSEParser()
    assert p.data_of(f'data: {{"a": "é"}}{eol}{eol}'.encode()) == '{"a": "é"}'.encode()
    assert p.data_of(bytearray(f"data: [DONE]{eol}{eol}".encode())) == b"[DONE]"


def test_data_of_leaves_everything_else_to_feed_event() -> None:
    p = SSEParser()
    for block in (b"data: a\ndata: b\n\n", b"event: x\ndata: a\n\n", b": ping\n\n", b"data: cut",
                  b"data: a\r\n\n", b"data:a\n\n", b"id: 1\n\n"):
        assert p.data_of(block) is None, block
    # a parser holding the start of an event never takes the fast path
    assert p.feed(b"data: half") == [] and p.data_of(b"data: b\n\n") is None
