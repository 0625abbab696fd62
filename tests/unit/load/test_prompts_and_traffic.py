"""Seeded prompt generators and traffic mixes: reproducible, and shaped as configured."""

from __future__ import annotations

import random
import statistics
from collections import Counter

import pytest

from harness.load.prompts import (
    _VOCAB,
    Conversation,
    LengthDistribution,
    PromptGenerator,
    long_document,
    words,
)
from harness.load.traffic import RequestTraits, TrafficMix

# -- words / long_document -----------------------------------------------------------------


def test_words_count_and_vocabulary() -> None:
    text = words(random.Random(1), 50)
    assert len(text.split()) == 50
    assert set(text.split()) <= set(_VOCAB)
    assert words(random.Random(1), 0) == ""


def test_long_document_is_seeded() -> None:
    doc = long_document(3, 2000)
    assert len(doc.split()) == 2000
    assert long_document(3, 2000) == doc
    assert long_document(4, 2000) != doc


# -- LengthDistribution -------------------------------------------------------------------


def samples(dist: LengthDistribution, n: int = 5000, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [dist.sample(rng) for _ in range(n)]


@pytest.mark.parametrize("mean,sigma", [(128, 0.5), (512, 1.0), (40, 0.25)])
def test_lognormal_mean_is_preserved(mean: float, sigma: float) -> None:
    xs = samples(LengthDistribution("lognormal", mean, sigma))
    assert abs(statistics.fmean(xs) - mean) <= 0.10 * mean
    assert min(xs) >= 1
    assert len(set(xs)) > 20  # actually spread out
    assert all(isinstance(x, int) for x in xs)


def test_lognormal_respects_bounds() -> None:
    xs = samples(LengthDistribution("lognormal", 200, 1.0, minimum=50, maximum=400))
    assert min(xs) == 50 and max(xs) == 400  # both clamps are hit with sigma 1
    assert all(50 <= x <= 400 for x in xs)


def test_normal_mean_and_bounds() -> None:
    xs = samples(LengthDistribution("normal", 300, 40))
    assert abs(statistics.fmean(xs) - 300) < 5
    assert 30 < statistics.stdev(xs) < 50
    clamped = samples(LengthDistribution("normal", 100, 50, minimum=80, maximum=120))
    assert min(clamped) == 80 and max(clamped) == 120
    # a normal far below the minimum never returns less than the minimum (no zero/negative lengths)
    assert set(samples(LengthDistribution("normal", -100, 10, minimum=1))) == {1}


def test_uniform_bounds() -> None:
    xs = samples(LengthDistribution("uniform", 50, 10))
    assert min(xs) == 40 and max(xs) == 60
    assert abs(statistics.fmean(xs) - 50) < 1
    assert len(set(xs)) == 21
    clipped = samples(LengthDistribution("uniform", 50, 10, minimum=45, maximum=55))
    assert min(clipped) == 45 and max(clipped) == 55


def test_fixed() -> None:
    assert set(samples(LengthDistribution("fixed", 64), n=100)) == {64}
    assert set(samples(LengthDistribution("fixed", 64, maximum=32), n=10)) == {32}
    assert set(samples(LengthDistribution("fixed", 0, minimum=1), n=10)) == {1}
    assert LengthDistribution().sample(random.Random(0)) == 128


def test_sampling_is_seeded() -> None:
    d = LengthDistribution("lognormal", 100, 0.8)
    assert samples(d, 200, seed=1) == samples(d, 200, seed=1)
    assert samples(d, 200, seed=1) != samples(d, 200, seed=2)


# -- PromptGenerator ----------------------------------------------------------------------


def test_prompt_generator_same_seed_same_prompts() -> None:
    a = PromptGenerator(LengthDistribution("uniform", 30, 10), seed=5, system_prompt_tokens=16)
    b = PromptGenerator(LengthDistribution("uniform", 30, 10), seed=5, system_prompt_tokens=16)
    assert [a.messages() for _ in range(20)] == [b.messages() for _ in range(20)]
    assert [a.prompt() for _ in range(5)] == [b.prompt() for _ in range(5)]


def test_prompt_generator_different_seeds_differ() -> None:
    a = PromptGenerator(seed=1, system_prompt_tokens=16)
    b = PromptGenerator(seed=2, system_prompt_tokens=16)
    ma, mb = [a.messages() for _ in range(5)], [b.messages() for _ in range(5)]
    assert ma != mb
    assert ma[0][0] != mb[0][0]  # the system prompts differ too
    assert ma[0][1] != mb[0][1]


def test_successive_prompts_differ() -> None:
    g = PromptGenerator(seed=0)
    assert len({g.prompt() for _ in range(10)}) == 10


def test_user_prompt_lengths_follow_the_distribution() -> None:
    g = PromptGenerator(LengthDistribution("fixed", 37), seed=3)
    for _ in range(5):
        msgs = g.messages()
        assert [m["role"] for m in msgs] == ["user"]
        assert len(msgs[0]["content"].split()) == 37


def test_system_prompt_is_a_shared_prefix() -> None:
    g = PromptGenerator(LengthDistribution("uniform", 20, 5), seed=9, system_prompt_tokens=64)
    batches = [g.messages() for _ in range(10)]
    systems = {msgs[0]["content"] for msgs in batches}
    assert len(systems) == 1
    system = systems.pop()
    assert len(system.split()) == 64
    for msgs in batches:
        assert [m["role"] for m in msgs] == ["system", "user"]
    assert len({msgs[1]["content"] for msgs in batches}) == 10
    prompts = [g.prompt() for _ in range(5)]
    assert all(p.startswith(system + " ") for p in prompts)


def test_system_prompt_does_not_depend_on_the_lengths() -> None:
    a = PromptGenerator(LengthDistribution("fixed", 5), seed=4, system_prompt_tokens=32)
    b = PromptGenerator(LengthDistribution("normal", 500, 50), seed=4, system_prompt_tokens=32)
    assert a.messages()[0] == b.messages()[0]


# -- Conversation -------------------------------------------------------------------------


def test_conversation_resends_history_and_grows() -> None:
    c = Conversation(seed=2, turns=3, system_prompt_tokens=8, reply_tokens=5)
    m1 = c.next_messages()
    assert [m["role"] for m in m1] == ["system", "user"]
    assert len(m1[0]["content"].split()) == 8
    c.record_reply("first answer")
    m2 = c.next_messages()
    assert [m["role"] for m in m2] == ["system", "user", "assistant", "user"]
    assert m2[:2] == m1  # the whole previous request is a prefix
    assert m2[2] == {"role": "assistant", "content": "first answer"}
    c.record_reply(None)  # a stand-in of reply_tokens words
    m3 = c.next_messages()
    assert len(m3) == len(m2) + 2
    assert m3[:4] == m2
    assert len(m3[4]["content"].split()) == 5
    c.record_reply("third")
    # after `turns` turns the conversation starts over, with the same system prompt
    m4 = c.next_messages()
    assert [m["role"] for m in m4] == ["system", "user"]
    assert m4[0] == m1[0]
    assert m4[1] != m1[1]
    c.record_reply("x")
    assert len(c.next_messages()) == 4


def test_conversation_user_lengths() -> None:
    c = Conversation(seed=0, turns=10, user_lengths=LengthDistribution("fixed", 11))
    for _ in range(4):
        assert len(c.next_messages()[-1]["content"].split()) == 11
        c.record_reply("ok")


def conversation_transcript(seed: int) -> list[list[dict[str, str]]]:
    c = Conversation(seed=seed, turns=2)
    out = []
    for _ in range(5):
        out.append(c.next_messages())
        c.record_reply(None)
    return out


def test_conversation_is_seeded() -> None:
    assert conversation_transcript(11) == conversation_transcript(11)
    assert conversation_transcript(11) != conversation_transcript(12)
    assert conversation_transcript(11)[0][0] != conversation_transcript(12)[0][0]


# -- TrafficMix ---------------------------------------------------------------------------


def draws(mix: TrafficMix, n: int = 500, user_id: str | None = None) -> list[RequestTraits]:
    return [mix.draw(user_id) for _ in range(n)]


def test_default_mix_sends_no_routing_headers() -> None:
    for t in draws(TrafficMix(), 50):
        assert t.headers == {}
        assert t.tier == "standard"
        assert t.model is None and t.user_id is None


def test_all_premium() -> None:
    for t in draws(TrafficMix(premium_share=1.0, seed=3)):
        assert t.tier == "premium"
        assert t.headers == {"x-user-tier": "premium"}


def test_no_premium_with_send_tier_sends_standard() -> None:
    for t in draws(TrafficMix(premium_share=0.0, send_tier=True)):
        assert t.tier == "standard"
        assert t.headers == {"x-user-tier": "standard"}


def test_no_premium_without_send_tier_sends_no_tier_header() -> None:
    for t in draws(TrafficMix(premium_share=0.0, send_tier=False)):
        assert t.tier == "standard"
        assert "x-user-tier" not in t.headers


def test_premium_share_is_respected() -> None:
    ts = draws(TrafficMix(premium_share=0.3, seed=1), 4000)
    share = sum(t.tier == "premium" for t in ts) / len(ts)
    assert 0.27 < share < 0.33
    assert all(t.headers["x-user-tier"] == t.tier for t in ts)


def test_large_model_share_one() -> None:
    for t in draws(TrafficMix(large_model_share=1.0, large_model="qwen-72b")):
        assert t.headers.get("x-model-type") == "large"
        assert t.model == "qwen-72b"


def test_large_model_share_partial() -> None:
    ts = draws(TrafficMix(large_model_share=0.25, seed=4), 4000)
    large = [t for t in ts if t.model is not None]
    assert 0.22 < len(large) / len(ts) < 0.28
    for t in ts:
        assert (t.headers.get("x-model-type") == "large") == (t.model == "llama-3-70b")


def test_batch_and_task_type() -> None:
    ts = draws(TrafficMix(batch_share=1.0, task_type="embedding"), 20)
    assert all(t.headers == {"x-request-type": "batch", "x-task-type": "embedding"} for t in ts)
    assert all("x-request-type" not in t.headers for t in draws(TrafficMix(batch_share=0.0), 20))


def test_region_weights_are_respected() -> None:
    mix = TrafficMix(regions={"us-east": 3.0, "eu-west": 1.0, "ap-south": 0.0}, seed=8)
    counts = Counter(t.headers["x-region"] for t in draws(mix, 8000))
    assert set(counts) == {"us-east", "eu-west"}  # weight 0 never drawn
    assert 0.72 < counts["us-east"] / 8000 < 0.78
    assert 0.22 < counts["eu-west"] / 8000 < 0.28


def test_no_regions_no_region_header() -> None:
    assert all("x-region" not in t.headers for t in draws(TrafficMix(premium_share=0.5), 50))


def test_sticky_user_ids_are_stable_and_wrap() -> None:
    mix = TrafficMix(sticky_users=3)
    assert [mix.user_id_for(i) for i in range(7)] == ["user-0", "user-1", "user-2", "user-0", "user-1",
                                                      "user-2", "user-0"]
    assert mix.user_id_for(5) == mix.user_id_for(5) == TrafficMix(sticky_users=3, seed=99).user_id_for(5)
    assert TrafficMix().user_id_for(5) is None


def test_user_id_goes_into_the_header() -> None:
    mix = TrafficMix(sticky_users=10)
    uid = mix.user_id_for(14)
    for t in draws(mix, 10, user_id=uid):
        assert t.user_id == "user-4"
        assert t.headers["x-user-id"] == "user-4"
    assert "x-user-id" not in mix.draw().headers


def test_draws_are_reproducible_for_a_seed() -> None:
    def mix(seed: int) -> TrafficMix:
        return TrafficMix(premium_share=0.4, large_model_share=0.2, batch_share=0.1,
                          regions={"us-east": 1, "eu-west": 1, "ap-south": 1}, seed=seed)
    assert draws(mix(42), 300) == draws(mix(42), 300)
    assert draws(mix(42), 300) != draws(mix(43), 300)
