"""vLLM's OpenAI wire format, as bytes and JSON bodies. Pure: no sockets, no clock.

What a client of vLLM's `/v1/chat/completions`, `/v1/completions` and
`/v1/embeddings` reads: the SSE frames of a stream (the role chunk, one chunk
per token, the trailing `usage` chunk when `stream_options.include_usage`,
`data: [DONE]`), the non-streaming bodies, `usage`, and the error JSON.
Streams are pre-encoded: `stream_frames` returns the bytes around each token
word, so the engine's per-token cost is one concatenation and one write.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Api", "StreamFrames", "stream_frames", "usage", "usage_frame", "error_body", "error_frame",
           "DONE_FRAME", "STREAM_OPENING_COMMENT", "completion_body", "embeddings_body", "embedding_vector",
           "models_body", "response_id", "http_chunk"]

Api = Literal["chat", "completion"]

DONE_FRAME = b"data: [DONE]\n\n"
# Sent first on a completions stream (which has no role chunk) so the
# response headers leave at once; SSE clients skip comment lines.
STREAM_OPENING_COMMENT = b": stream\n\n"


@dataclass(frozen=True)
class StreamFrames:
    """The bytes of one stream: `first` (the chat role chunk; empty for
    completions), then per token `prefix + json-escaped word + suffix`
    (`final_suffix` on the last token, which carries the finish reason)."""

    first: bytes
    prefix: bytes
    suffix: bytes
    final_suffix: bytes

    def token(self, escaped_word: bytes, last: bool) -> bytes:
        return self.prefix + escaped_word + (self.final_suffix if last else self.suffix)


def response_id(api: Api, hex_id: str) -> str:
    return ("chatcmpl-" if api == "chat" else "cmpl-") + hex_id


def _object(api: Api, streaming: bool) -> str:
    if api == "completion":
        return "text_completion"
    return "chat.completion.chunk" if streaming else "chat.completion"


def stream_frames(api: Api, rid: str, created: int, model: str, finish_reason: str,
                  include_usage: bool) -> StreamFrames:
    """The SSE frames of one stream, as vLLM 0.11 writes them (`"usage": null`
    on every chunk when the client asked for usage)."""
    model_json = json.dumps(model)
    tail = ',"usage":null' if include_usage else ""
    head = f'data: {{"id":"{rid}","object":"{_object(api, True)}","created":{created},"model":{model_json},'
    if api == "chat":
        first = (head + '"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
                 f'"finish_reason":null}}]{tail}}}\n\n')
        prefix = head + '"choices":[{"index":0,"delta":{"content":"'
        suffix = f'"}},"logprobs":null,"finish_reason":null}}]{tail}}}\n\n'
        final = f'"}},"logprobs":null,"finish_reason":"{finish_reason}","stop_reason":null}}]{tail}}}\n\n'
    else:
        first = ""
        prefix = head + '"choices":[{"index":0,"text":"'
        suffix = f'","logprobs":null,"finish_reason":null,"stop_reason":null}}]{tail}}}\n\n'
        final = f'","logprobs":null,"finish_reason":"{finish_reason}","stop_reason":null}}]{tail}}}\n\n'
    return StreamFrames(first.encode(), prefix.encode(), suffix.encode(), final.encode())


def http_chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of chunked transfer encoding."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens + completion_tokens,
            "completion_tokens": completion_tokens}


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def usage_frame(api: Api, rid: str, created: int, model: str, counts: dict[str, int]) -> bytes:
    """The trailing chunk of a stream with `stream_options.include_usage`: no choices, only usage."""
    return _sse({"id": rid, "object": _object(api, True), "created": created, "model": model, "choices": [],
                 "usage": counts})


def error_body(message: str, error_type: str, status: int, param: str | None = None) -> dict[str, Any]:
    """vLLM's error JSON (`error_response.py`)."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": status}}


def error_frame(message: str, error_type: str = "InternalServerError", status: int = 500) -> bytes:
    """An error in the middle of a stream: vLLM sends the error JSON as an SSE event."""
    return _sse(error_body(message, error_type, status))


def completion_body(api: Api, rid: str, created: int, model: str, text: str, finish_reason: str,
                    counts: dict[str, int]) -> dict[str, Any]:
    """The body of a non-streaming chat completion or completion."""
    choice: dict[str, Any]
    if api == "chat":
        choice = {"index": 0, "message": {"role": "assistant", "content": text, "tool_calls": []},
                  "logprobs": None, "finish_reason": finish_reason, "stop_reason": None}
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason, "stop_reason": None}
    return {"id": rid, "object": _object(api, False), "created": created, "model": model, "choices": [choice],
            "usage": counts}


def embedding_vector(text: str, dim: int) -> list[float]:
    """A unit vector determined by the text (same text, same vector)."""
    rng = random.Random(zlib.crc32(text.encode()))
    v = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [round(x / norm, 6) for x in v]


def embeddings_body(rid: str, created: int, model: str, vectors: list[list[float]],
                    prompt_tokens: int) -> dict[str, Any]:
    return {"id": rid, "object": "list", "created": created, "model": model,
            "data": [{"index": i, "object": "embedding", "embedding": v} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens, "completion_tokens": 0}}


def models_body(model: str, created: int, max_model_len: int, pod: str) -> dict[str, Any]:
    """`GET /v1/models`: the one served model, with vLLM's permission block."""
    return {"object": "list", "data": [{
        "id": model, "object": "model", "created": created, "owned_by": "vllm", "root": model, "parent": None,
        "max_model_len": max_model_len,
        "permission": [{"id": "modelperm-" + pod, "object": "model_permission", "created": created,
                        "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
                        "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
                        "organization": "*", "group": None, "is_blocking": False}]}]}
