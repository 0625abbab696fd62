"""SSEParser and ChunkedDecoder: bytes in, the same events/payload out however
the bytes were split."""

from __future__ import annotations

import json
import random

import pytest

from harness.load.sse import ChunkedDecoder, ChunkedError, SSEEvent, SSEParser

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
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


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


# -- ChunkedDecoder ---------------------------------------------------------------------------


def chunked(*chunks: bytes, upper: bool = False) -> bytes:
    out = b""
    for c in chunks:
        size = f"{len(c):X}" if upper else f"{len(c):x}"
        out += size.encode() + b"\r\n" + c + b"\r\n"
    return out + b"0\r\n\r\n"


BODY_CHUNKS = [b"hello", b" " * 26 + b"world", b"x" * 300, b"\r\n\r\n0\r\n"]  # sizes 5, 1f, 12c, 7
PAYLOAD = b"".join(BODY_CHUNKS)


def decode_pieces(pieces) -> tuple[bytes, ChunkedDecoder]:
    d = ChunkedDecoder()
    return b"".join(d.feed(p) for p in pieces), d


@pytest.mark.parametrize("upper", [False, True])
def test_chunked_whole(upper: bool) -> None:
    out, d = decode_pieces([chunked(*BODY_CHUNKS, upper=upper)])
    assert out == PAYLOAD
    assert d.done


def test_chunked_byte_by_byte() -> None:
    data = chunked(*BODY_CHUNKS)
    out, d = decode_pieces(data[i:i + 1] for i in range(len(data)))
    assert out == PAYLOAD
    assert d.done


def test_chunked_every_two_way_split() -> None:
    data = chunked(*BODY_CHUNKS)
    for i in range(len(data) + 1):
        out, d = decode_pieces([data[:i], data[i:]])
        assert out == PAYLOAD, f"split at byte {i}"
        assert d.done


@pytest.mark.parametrize("seed", range(20))
def test_chunked_random_seeded_splits(seed: int) -> None:
    data = chunked(*BODY_CHUNKS)
    rng = random.Random(seed)
    pieces = random_splits(data, rng, rng.randint(2, 60))
    out, d = decode_pieces(pieces)
    assert out == PAYLOAD
    assert d.done


def test_chunked_split_inside_size_line_and_crlf() -> None:
    d = ChunkedDecoder()
    assert d.feed(b"1") == b""
    assert d.feed(b"a") == b""  # size 0x1a, still no CRLF
    assert d.feed(b"\r") == b""
    assert d.feed(b"\nabcdefghijklm") == b"abcdefghijklm"
    assert d.feed(b"nopqrstuvwxyz\r") == b"nopqrstuvwxyz"
    assert d.feed(b"\n0\r") == b""
    assert not d.done
    assert d.feed(b"\n\r\n") == b""
    assert d.done


def test_chunk_extensions_are_ignored() -> None:
    out, d = decode_pieces([b"5;name=val\r\nhello\r\n3 ; a=b;c\r\nabc\r\n0;last\r\n\r\n"])
    assert out == b"helloabc"
    assert d.done


def test_done_only_after_the_zero_chunk() -> None:
    d = ChunkedDecoder()
    assert d.feed(b"5\r\nhello\r\n") == b"hello"
    assert not d.done
    d.feed(b"0\r\n")
    assert d.done


def test_bytes_after_the_last_chunk_are_ignored() -> None:
    d = ChunkedDecoder()
    assert d.feed(b"2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\nHTTP/1.1 200 OK\r\n") == b"ok"
    assert d.done
    assert d.feed(b"5\r\nextra\r\n") == b""
    assert d.done


@pytest.mark.parametrize("size_line", [b"zz", b"5g", b"", b"hello world"])
def test_bad_hex_size_raises(size_line: bytes) -> None:
    with pytest.raises(ChunkedError):
        ChunkedDecoder().feed(size_line + b"\r\nhello\r\n")


@pytest.mark.parametrize("size_line", [b"-1", b"-a"])
def test_negative_chunk_size_raises(size_line: bytes) -> None:
    # only the size line is fed: with a payload after it the current code never returns
    with pytest.raises(ChunkedError):
        ChunkedDecoder().feed(size_line + b"\r\n")


def test_overlong_size_line_raises() -> None:
    with pytest.raises(ChunkedError):
        ChunkedDecoder().feed(b"f" * 2000)


def test_missing_crlf_after_data_raises() -> None:
    with pytest.raises(ChunkedError):
        ChunkedDecoder().feed(b"5\r\nhelloXY0\r\n\r\n")


def test_missing_crlf_detected_across_a_split() -> None:
    d = ChunkedDecoder()
    assert d.feed(b"5\r\nhello\r") == b"hello"
    with pytest.raises(ChunkedError):
        d.feed(b"X")


def test_chunk_longer_than_announced_raises() -> None:
    with pytest.raises(ChunkedError):
        ChunkedDecoder().feed(b"3\r\nhello\r\n0\r\n\r\n")
