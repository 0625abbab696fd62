"""Request validation answers as vLLM does: status, error type, message, param."""

import pytest

from harness.localstack.engine.params import EngineParams
from harness.localstack.engine.requests import RequestRejected, parse_embedding, parse_generate

P = EngineParams(maxModelLen=64, servedModelName="llama-3-8b", defaultMaxTokens=16, outputTokensMean=8, seed=7)
CHAT = {"model": "llama-3-8b", "messages": [{"role": "user", "content": "hello there"}]}


def rejected(api: str, body, params: EngineParams = P) -> RequestRejected:
    with pytest.raises(RequestRejected) as info:
        parse_generate(api, body, params, 0)
    return info.value


def test_unknown_model_is_404_not_found() -> None:
    err = rejected("chat", {**CHAT, "model": "gpt-9"})
    assert err.status == 404 and err.error_type == "NotFoundError"
    assert err.message == "The model `gpt-9` does not exist."
    assert err.body() == {"error": {"message": err.message, "type": "NotFoundError", "param": "model", "code": 404}}


def test_missing_model_falls_back_to_the_served_one() -> None:
    req = parse_generate("chat", {"messages": CHAT["messages"]}, P, 0)
    assert req.model == "llama-3-8b"


@pytest.mark.parametrize("body, param", [
    ({"model": "llama-3-8b"}, "messages"),
    ({**CHAT, "messages": [{"content": "no role"}]}, "messages.0"),
    ({**CHAT, "max_tokens": 0}, "max_tokens"),
    ({**CHAT, "max_tokens": "ten"}, "max_tokens"),
    ({**CHAT, "stream": "yes"}, "stream"),
    ({**CHAT, "stream_options": {"include_usage": True}}, "stream_options"),
])
def test_bad_fields_are_400_bad_request(body, param) -> None:
    err = rejected("chat", body)
    assert (err.status, err.error_type, err.param) == (400, "BadRequestError", param)


def test_prompt_plus_max_tokens_over_context_is_400_with_vllm_wording() -> None:
    err = rejected("completion", {"prompt": "a b c d", "max_tokens": 61})
    assert err.status == 400
    assert "maximum context length is 64 tokens" in err.message
    assert "you requested 65 tokens (4 in the prompt, 61 in the completion)" in err.message


def test_prompt_alone_over_context_is_400() -> None:
    err = rejected("completion", {"prompt": "w " * 70})
    assert err.status == 400 and err.param == "input_tokens"
    assert "your request has 70 input tokens" in err.message


def test_max_tokens_sets_exact_output_and_length_finish() -> None:
    req = parse_generate("chat", {**CHAT, "max_tokens": 9}, P, 0)
    assert (req.output_tokens, req.finish_reason) == (9, "length")


def test_drawn_output_is_deterministic_and_capped() -> None:
    a = [parse_generate("chat", CHAT, P, i).output_tokens for i in range(50)]
    b = [parse_generate("chat", CHAT, P, i).output_tokens for i in range(50)]
    assert a == b
    assert max(a) <= 16 and len(set(a)) > 3
    other = EngineParams(**{**P.model_dump(by_alias=True), "seed": 8})
    assert [parse_generate("chat", CHAT, other, i).output_tokens for i in range(50)] != a


def test_request_seed_fixes_the_output() -> None:
    x = parse_generate("chat", {**CHAT, "seed": 3}, P, 0)
    y = parse_generate("chat", {**CHAT, "seed": 3}, P, 99)
    assert (x.output_tokens, x.seed) == (y.output_tokens, y.seed)


def test_chat_prompt_tokens_count_the_template() -> None:
    one = parse_generate("chat", CHAT, P, 0)
    two = parse_generate("chat", {**CHAT, "messages": CHAT["messages"] * 2}, P, 0)
    assert len(two.prompt_ids) - len(one.prompt_ids) == 4 + 2  # role markers + "hello there"


def test_embedding_model_refuses_chat_and_generate_model_refuses_embeddings() -> None:
    embed = EngineParams(kind="embed", servedModelName="bge")
    err = rejected("chat", {"model": "bge", "messages": CHAT["messages"]}, embed)
    assert err.status == 400 and "does not support Chat Completions" in err.message
    with pytest.raises(RequestRejected) as info:
        parse_embedding({"model": "llama-3-8b", "input": "x"}, P)
    assert "does not support Embeddings" in info.value.message
    ok = parse_embedding({"model": "bge", "input": ["a b", "c"]}, embed)
    assert [len(i) for i in ok.inputs] == [2, 1]


def test_aliases_are_accepted_and_answered_under_the_primary_name() -> None:
    fallback = EngineParams(servedModelName="llama-3-8b", servedModelAliases=["llama-3-70b"])
    req = parse_generate("chat", {**CHAT, "model": "llama-3-70b"}, fallback, 0)
    assert req.model == "llama-3-8b"
    assert rejected("chat", {**CHAT, "model": "llama-3-70b"}).status == 404
