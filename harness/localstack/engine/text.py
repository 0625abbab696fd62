"""Tokens without a tokenizer: prompt token counts, token ids for prefix
caching, and deterministic output words.

Counts approximate a BPE tokenizer on English (about one token per word or
punctuation mark); what matters to the harness is that they are stable, so a
client-side count and the engine's `usage` agree and long prompts cost more.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

__all__ = ["tokenize", "chat_prompt_ids", "completion_prompt_ids", "OutputWords", "PromptError"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
# Chat templates wrap each message in role markers; Llama-3's costs about 4
# tokens per message plus 3 for the assistant header.
_PER_MESSAGE = 4
_ASSISTANT_HEADER = 3

_WORDS = (
    "the mesh routes each request to a healthy replica while the engine streams tokens "
    "back through the gateway so that latency stays within the budget and traffic fails "
    "over between regions when a pod is lost model cache queue batch prefill decode"
).split()


class PromptError(ValueError):
    """The request's prompt has the wrong shape (a 400 BadRequestError)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def tokenize(text: str) -> list[int]:
    return [zlib.crc32(t.encode()) for t in _TOKEN.findall(text)]


def _content_text(content: Any, index: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise PromptError(f"messages[{index}].content: only text content parts are supported",
                                  f"messages.{index}.content")
            parts.append(part["text"])
        return " ".join(parts)
    raise PromptError(f"messages[{index}].content must be a string or a list of content parts",
                      f"messages.{index}.content")


def chat_prompt_ids(messages: Any) -> list[int]:
    if not isinstance(messages, list) or not messages:
        raise PromptError("messages must be a non-empty list", "messages")
    ids: list[int] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise PromptError(f"messages[{i}] must be an object with a string 'role'", f"messages.{i}")
        ids.extend(zlib.crc32(f"<|{m['role']}|>{k}".encode()) for k in range(_PER_MESSAGE))
        ids.extend(tokenize(_content_text(m.get("content"), i)))
    ids.extend(zlib.crc32(f"<|assistant|>{k}".encode()) for k in range(_ASSISTANT_HEADER))
    return ids


def completion_prompt_ids(prompt: Any) -> list[int]:
    if isinstance(prompt, str):
        ids = tokenize(prompt)
    elif isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        ids = list(prompt)  # already token ids
    elif isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        ids = tokenize(prompt[0])
    else:
        raise PromptError("prompt must be a string, a list with one string, or a list of token ids", "prompt")
    if not ids:
        ids = [0]  # vLLM adds a BOS token, so an empty prompt still costs one
    return ids


class OutputWords:
    """Output tokens: each word JSON-escaped (for pre-encoded stream frames) and plain."""

    ENCODED = [json.dumps(" " + w)[1:-1].encode() for w in _WORDS]
    PLAIN = [" " + w for w in _WORDS]
