"""Validation of OpenAI-API request bodies the way vLLM answers them: the
shape of a request is checked here, without sockets, and every rejection is a
`RequestRejected` carrying vLLM's error type, status and message."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.localstack.engine.openai_wire import Api, error_body
from harness.localstack.engine.params import EngineParams
from harness.localstack.engine.text import PromptError, chat_prompt_ids, completion_prompt_ids

__all__ = ["RequestRejected", "GenerateRequest", "parse_generate", "parse_embedding", "EmbeddingRequest"]


class RequestRejected(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param

    @property
    def error_type(self) -> str:
        return {400: "BadRequestError", 404: "NotFoundError", 415: "UnsupportedMediaTypeError",
                422: "UnprocessableEntityError", 501: "NotImplementedError"}.get(self.status, "InternalServerError")

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.status, self.param)


@dataclass
class GenerateRequest:
    api: Api
    model: str
    prompt_ids: list[int]
    output_tokens: int
    finish_reason: str  # "length" when max_tokens ends it, else "stop"
    stream: bool
    include_usage: bool
    seed: int


@dataclass
class EmbeddingRequest:
    model: str
    inputs: list[list[int]]
    texts: list[str]


def _check_model(body: dict[str, Any], params: EngineParams) -> str:
    model = body.get("model")
    if model is None:
        return params.served_model_name  # vLLM falls back to the served model
    if not isinstance(model, str):
        raise RequestRejected(400, "model: Input should be a valid string", "model")
    if model != params.served_model_name and model not in params.served_model_aliases:
        raise RequestRejected(404, f"The model `{model}` does not exist.", "model")
    return params.served_model_name


def _optional_int(body: dict[str, Any], name: str, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestRejected(400, f"{name}: Input should be a valid integer", name)
    if value < minimum:
        raise RequestRejected(400, f"{name} must be at least {minimum}, got {value}.", name)
    return value


def parse_generate(api: Api, body: Any, params: EngineParams, request_index: int) -> GenerateRequest:
    """Validate a chat or completion body; raise `RequestRejected` as vLLM would."""
    if not isinstance(body, dict):
        raise RequestRejected(400, "Request body must be a JSON object")
    model = _check_model(body, params)
    if params.kind != "generate":
        name = "Chat Completions" if api == "chat" else "Completions"
        raise RequestRejected(400, f"The model does not support {name} API")
    try:
        ids = chat_prompt_ids(body.get("messages")) if api == "chat" else completion_prompt_ids(body.get("prompt"))
    except PromptError as exc:
        raise RequestRejected(400, str(exc), exc.param) from None
    max_tokens = _optional_int(body, "max_completion_tokens", 1) if api == "chat" else None
    if max_tokens is None:
        max_tokens = _optional_int(body, "max_tokens", 1)
    n = _optional_int(body, "n", 1)
    if n not in (None, 1):
        raise RequestRejected(400, "n: the engine simulator serves one choice per request (n=1)", "n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestRejected(400, "stream: Input should be a valid boolean", "stream")
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            raise RequestRejected(400, "Stream options can only be defined when `stream=True`.", "stream_options")
        if not isinstance(options, dict):
            raise RequestRejected(400, "stream_options: Input should be a valid dictionary", "stream_options")
    include_usage = bool((options or {}).get("include_usage", False))
    seed = _optional_int(body, "seed", -(2 ** 63))

    p, limit = len(ids), params.max_model_len
    if p > limit or (p == limit and max_tokens is None):
        raise RequestRejected(
            400, f"This model's maximum context length is {limit} tokens. However, your request has {p} "
                 "input tokens. Please reduce the length of the input messages.", "input_tokens")
    if max_tokens is not None and p + max_tokens > limit:
        where = "messages" if api == "chat" else "prompt"
        raise RequestRejected(
            400, f"This model's maximum context length is {limit} tokens. However, you requested "
                 f"{p + max_tokens} tokens ({p} in the {where}, {max_tokens} in the completion). "
                 f"Please reduce the length of the {where} or completion.", "max_tokens")

    request_seed = seed if seed is not None else hash((params.seed, request_index))
    if max_tokens is not None:
        # Load generators send max_tokens (often with ignore_eos); the engine then
        # produces exactly that many tokens, as a model that does not stop early would.
        output, reason = max_tokens, "length"
    else:
        rng = random.Random(request_seed)
        drawn = max(1, round(rng.expovariate(1.0 / params.output_tokens_mean)))
        cap = min(params.default_max_tokens, limit - p)
        output, reason = (drawn, "stop") if drawn < cap else (cap, "length")
    return GenerateRequest(api=api, model=model, prompt_ids=ids, output_tokens=output, finish_reason=reason,
                           stream=stream, include_usage=include_usage, seed=request_seed)


def parse_embedding(body: Any, params: EngineParams) -> EmbeddingRequest:
    if not isinstance(body, dict):
        raise RequestRejected(400, "Request body must be a JSON object")
    model = _check_model(body, params)
    if params.kind != "embed":
        raise RequestRejected(400, "The model does not support Embeddings API")
    raw = body.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        texts = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        texts = [" ".join(map(str, raw))]
    else:
        raise RequestRejected(400, "input: must be a string, a list of strings or a list of token ids", "input")
    inputs = []
    for i, t in enumerate(texts):
        ids = completion_prompt_ids(t)
        if len(ids) > params.max_model_len:
            raise RequestRejected(
                400, f"This model's maximum context length is {params.max_model_len} tokens. However, your "
                     f"request has {len(ids)} input tokens. Please reduce the length of the input.", f"input.{i}")
        inputs.append(ids)
    return EmbeddingRequest(model=model, inputs=inputs, texts=texts)
