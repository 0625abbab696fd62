"""One engine process over real sockets: vLLM's OpenAI surface, its metrics,
and every fault hook, each shown to take effect and (where it can) to clear."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.localstack.testing import EngineProcess, engine_process, eventually

pytestmark = pytest.mark.integration

CHAT = {"model": "llama-3-8b", "messages": [{"role": "user", "content": "hello mesh"}]}


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineProcess]:
    with engine_process({"decodeStepMs": 5, "seed": 3}, pod="chat-0") as e:
        yield e


def sse_events(resp: httpx.Response) -> list:
    events = []
    for line in resp.iter_lines():
        if line.startswith("data: "):
            payload = line[6:]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def metric(url: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def test_streaming_chat_is_vllm_shaped(engine: EngineProcess) -> None:
    body = {**CHAT, "max_tokens": 6, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", f"{engine.url}/v1/chat/completions", json=body, timeout=10) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["x-served-by-pod"] == "chat-0"
        events = sse_events(resp)
    assert events[-1] == "[DONE]"
    chunks, usage = events[:-2], events[-2]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [c["choices"][0]["delta"]["content"] for c in chunks[1:]]
    assert len(content) == 6 and all(content)
    assert [c["choices"][0]["finish_reason"] for c in chunks[1:]] == [None] * 5 + ["length"]
    assert all(c["object"] == "chat.completion.chunk" and c["usage"] is None for c in chunks)
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 6
    assert usage["usage"]["total_tokens"] == usage["usage"]["prompt_tokens"] + 6


def test_stream_without_usage_option_has_no_usage_chunk(engine: EngineProcess) -> None:
    body = {"prompt": "a b c", "max_tokens": 3, "stream": True}
    with httpx.stream("POST", f"{engine.url}/v1/completions", json=body, timeout=10) as resp:
        events = sse_events(resp)
    assert events[-1] == "[DONE]"
    assert [e["choices"][0]["text"] != "" for e in events[:-1]] == [True] * 3
    assert all("usage" not in e for e in events[:-1])


def test_unary_completion_and_models(engine: EngineProcess) -> None:
    r = httpx.post(f"{engine.url}/v1/completions", json={"model": "llama-3-8b", "prompt": "x y", "max_tokens": 4})
    body = r.json()
    assert r.status_code == 200 and body["object"] == "text_completion"
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
    assert len(body["choices"][0]["text"].split()) == 4
    models = httpx.get(f"{engine.url}/v1/models").json()
    assert models["data"][0]["id"] == "llama-3-8b" and models["data"][0]["max_model_len"] == 8192


def test_errors_carry_vllm_status_and_json(engine: EngineProcess) -> None:
    r = httpx.post(f"{engine.url}/v1/chat/completions", json={**CHAT, "model": "other"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "NotFoundError"
    r = httpx.post(f"{engine.url}/v1/chat/completions", json={**CHAT, "max_tokens": 10_000})
    assert r.status_code == 400 and "maximum context length is 8192" in r.json()["error"]["message"]
    r = httpx.post(f"{engine.url}/v1/chat/completions", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = httpx.post(f"{engine.url}/v1/chat/completions", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == 400


def test_metrics_count_what_was_served(engine: EngineProcess) -> None:
    labels = {"model_name": "llama-3-8b", "engine": "0"}
    before = metric(engine.url, "vllm:generation_tokens_total", **labels)
    ok_before = metric(engine.url, "vllm:request_success_total", finished_reason="length")
    httpx.post(f"{engine.url}/v1/completions", json={"prompt": "p", "max_tokens": 7}, timeout=10)
    assert metric(engine.url, "vllm:generation_tokens_total", **labels) == before + 7
    assert metric(engine.url, "vllm:request_success_total", finished_reason="length") == ok_before + 1
    text = httpx.get(f"{engine.url}/metrics").text
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                 "vllm:time_to_first_token_seconds_bucket", "vllm:inter_token_latency_seconds_bucket",
                 "vllm:e2e_request_latency_seconds_bucket", "vllm:prompt_tokens_total",
                 "vllm:num_preemptions_total"):
        assert f"\n{name}{{" in text, name
    assert "# TYPE vllm:num_requests_waiting gauge" in text
    assert "# TYPE vllm:time_to_first_token_seconds histogram" in text


def test_client_disconnect_aborts_the_request(engine: EngineProcess) -> None:
    aborted = metric(engine.url, "vllm:request_success_total", finished_reason="abort")
    body = {**CHAT, "max_tokens": 5000, "stream": True}
    with httpx.stream("POST", f"{engine.url}/v1/chat/completions", json=body, timeout=10) as resp:
        data = [ln for _, ln in zip(range(6), resp.iter_lines(), strict=False) if ln.startswith("data: ")]
        assert len(data) >= 2  # the role chunk and a token: the request is running when we leave
    eventually(lambda: httpx.get(f"{engine.url}/load").json()["server_load"] == 0, 10, "the aborted request to leave")
    assert metric(engine.url, "vllm:request_success_total", finished_reason="abort") == aborted + 1


def test_embeddings_on_an_embedding_engine() -> None:
    with engine_process({"kind": "embed", "servedModelName": "bge-small", "embeddingDim": 8}, pod="embed-0") as e:
        r = httpx.post(f"{e.url}/v1/embeddings", json={"model": "bge-small", "input": ["one two", "three"]})
        body = r.json()
        assert r.status_code == 200 and [d["index"] for d in body["data"]] == [0, 1]
        vec = body["data"][0]["embedding"]
        assert len(vec) == 8 and abs(sum(x * x for x in vec) - 1) < 1e-3
        assert body["usage"]["prompt_tokens"] == 3
        again = httpx.post(f"{e.url}/v1/embeddings", json={"model": "bge-small", "input": "one two"}).json()
        assert again["data"][0]["embedding"] == vec
        r = httpx.post(f"{e.url}/v1/chat/completions", json={**CHAT, "model": "bge-small"})
        assert r.status_code == 400


def test_startup_delay_keeps_health_failing_until_loaded() -> None:
    with engine_process({}, startup_delay=1.5) as e:
        assert httpx.get(f"{e.url}/health").status_code == 503
        assert httpx.post(f"{e.url}/v1/chat/completions", json=CHAT).status_code == 503
        eventually(lambda: httpx.get(f"{e.url}/health").status_code == 200, 15, "the model to load")


def test_kv_pressure_preempts_and_still_completes() -> None:
    # 64 KV tokens: four concurrent 40-token sequences cannot all fit.
    with engine_process({"kvCacheTokens": 128, "blockSize": 16, "decodeStepMs": 2,
                         "enablePrefixCaching": False}) as e:
        import concurrent.futures as cf
        body = {"prompt": "w " * 20, "max_tokens": 40}
        with cf.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: httpx.post(f"{e.url}/v1/completions", json=body, timeout=30), range(4)))
        assert all(r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 40 for r in results)
        assert metric(e.url, "vllm:num_preemptions_total") > 0


# -- faults ---------------------------------------------------------------------

def test_gpu_oom_fails_in_flight_and_new_requests_then_exits_nonzero() -> None:
    with engine_process({"decodeStepMs": 10}, pod="oom-0") as e:
        body = {**CHAT, "max_tokens": 5000, "stream": True}
        with httpx.stream("POST", f"{e.url}/v1/chat/completions", json=body, timeout=10) as resp:
            lines = resp.iter_lines()
            assert next(lines).startswith("data: ")
            assert e.fault(kind="gpu_oom", exit_after_s=1.0)["active"]["gpu_oom"]["exit_after_s"] == 1.0
            rest = [ln for ln in lines if ln.startswith("data: ")]
        errors = [json.loads(ln[6:]) for ln in rest if ln.startswith("data: {\"error\"")]
        assert errors and errors[0]["error"]["code"] == 500 and "EngineCore" in errors[0]["error"]["message"]
        assert rest[-1] == "data: [DONE]"
        r = httpx.post(f"{e.url}/v1/chat/completions", json=CHAT)
        assert r.status_code == 500 and r.json()["error"]["type"] == "InternalServerError"
        assert httpx.get(f"{e.url}/health").status_code == 503
        assert e.process.wait(timeout=15) == 1
        assert "CUDA out of memory" in e.process.stderr.read()  # type: ignore[union-attr]


def test_crash_exits_at_once() -> None:
    with engine_process({}) as e:
        e.fault(kind="crash")
        assert e.process.wait(timeout=10) == 137


def test_hang_accepts_but_never_answers_until_cleared() -> None:
    with engine_process({}) as e:
        e.fault(kind="hang")
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{e.url}/health", timeout=1.0)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{e.url}/v1/completions", json={"prompt": "x", "max_tokens": 1}, timeout=1.0)
        cleared = httpx.delete(f"{e.url}/admin/faults/hang").json()
        assert cleared["cleared"] == ["hang"]
        assert httpx.get(f"{e.url}/health", timeout=5).status_code == 200


def test_slow_multiplies_step_time() -> None:
    with engine_process({"decodeStepMs": 10}) as e:
        body = {"prompt": "x", "max_tokens": 30}

        def e2e() -> float:
            t = time.perf_counter()
            assert httpx.post(f"{e.url}/v1/completions", json=body, timeout=30).status_code == 200
            return time.perf_counter() - t

        normal = e2e()
        e.fault(kind="slow", factor=10)
        slowed = e2e()
        # 30 steps: ~0.3 s normally, ~3 s slowed; a loaded machine cannot close a 3x gap
        assert slowed > 3 * normal, (normal, slowed)
        httpx.delete(f"{e.url}/admin/faults")
        assert httpx.get(f"{e.url}/admin/faults").json()["active"] == {}


def test_error_rate_answers_the_configured_status() -> None:
    with engine_process({}) as e:
        e.fault(kind="error_rate", rate=1.0, status=503)
        codes = {httpx.post(f"{e.url}/v1/completions", json={"prompt": "x", "max_tokens": 1}).status_code
                 for _ in range(5)}
        assert codes == {503}
        e.fault(kind="error_rate", rate=0.5, status=500)
        codes_half = [httpx.post(f"{e.url}/v1/completions", json={"prompt": "x", "max_tokens": 1}).status_code
                      for _ in range(40)]
        assert 0 < codes_half.count(500) < 40 and set(codes_half) == {200, 500}
        httpx.delete(f"{e.url}/admin/faults/error_rate")
        assert httpx.post(f"{e.url}/v1/completions", json={"prompt": "x", "max_tokens": 1}).status_code == 200


def test_bad_fault_is_a_400_naming_the_kinds() -> None:
    with engine_process({}) as e:
        r = httpx.post(f"{e.url}/admin/faults", json={"kind": "meteor"})
        assert r.status_code == 400 and "gpu_oom" in r.json()["kinds"]
        r = httpx.post(f"{e.url}/admin/faults", json={"kind": "slow", "factor": -1})
        assert r.status_code == 400 and "factor" in r.json()["error"]


def test_bad_params_exit_2_with_one_line() -> None:
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "harness.localstack.engine", "--port", "0", "--params",
                        '{"maxNumSeqs": "many"}'], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "EngineParams" in p.stderr
