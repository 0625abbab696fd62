"""The continuous-batching timing model: step cost, batch limits, KV capacity,
preemption by recompute, prefix caching. Pure: no clock, no sockets."""

import pytest

from harness.localstack.engine.batching import BatchScheduler, PrefixCache, Sequence, chained_block_hashes
from harness.localstack.engine.params import EngineParams


def params(**kw) -> EngineParams:
    base = dict(prefillOverheadMs=5.0, prefillMsPerToken=0.1, decodeStepMs=20.0, decodeMsPerSeq=0.5,
                enablePrefixCaching=False)
    base.update(kw)
    return EngineParams(**base)


def run_to_completion(s: BatchScheduler, limit: int = 10_000) -> list:
    steps = []
    while not s.idle and len(steps) < limit:
        steps.append(s.step())
    assert s.idle, "scheduler did not drain"
    return steps


def test_first_step_prefills_and_emits_first_token() -> None:
    s = BatchScheduler(params())
    seq = Sequence(1, prompt_tokens=100, max_output_tokens=3)
    s.add(seq)
    r = s.step()
    assert r.first_tokens == [seq] and r.emitted == [seq]
    # nothing was decoding yet: 20 ms base + prefill 5 + 0.1 * 100
    assert r.duration_s == pytest.approx((20 + 5 + 10) / 1000)
    assert r.prefill_tokens == 100


def test_decode_step_grows_with_the_running_batch() -> None:
    s = BatchScheduler(params())
    for i in range(4):
        s.add(Sequence(i, prompt_tokens=10, max_output_tokens=50))
    s.step()
    r = s.step()
    assert len(r.emitted) == 4 and not r.first_tokens
    assert r.duration_s == pytest.approx((20 + 0.5 * 4) / 1000)


def test_output_length_is_exact_and_finish_is_reported_once() -> None:
    s = BatchScheduler(params())
    seq = Sequence(1, prompt_tokens=10, max_output_tokens=5)
    s.add(seq)
    steps = run_to_completion(s)
    assert len(steps) == 5
    assert sum(seq in r.emitted for r in steps) == 5
    assert [r for r in steps if seq in r.finished] == [steps[-1]]
    assert s.used_blocks == 0


def test_max_num_seqs_caps_the_batch_and_queues_the_rest() -> None:
    s = BatchScheduler(params(maxNumSeqs=2))
    seqs = [Sequence(i, prompt_tokens=10, max_output_tokens=3) for i in range(5)]
    for q in seqs:
        s.add(q)
    s.step()
    assert len(s.running) == 2 and len(s.waiting) == 3
    run_to_completion(s)
    assert all(q.generated == 3 for q in seqs)


def test_kv_capacity_holds_requests_in_the_waiting_queue() -> None:
    # 4 blocks of 16 tokens; each prompt of 40 tokens needs 3 blocks with its first token
    s = BatchScheduler(params(kvCacheTokens=64, blockSize=16))
    a, b = Sequence(1, 40, 2), Sequence(2, 40, 2)
    s.add(a)
    s.add(b)
    s.step()
    assert s.running == [a] and list(s.waiting) == [b]
    assert s.kv_usage == pytest.approx(3 / 4)
    run_to_completion(s)
    assert b.generated == 2


def test_full_kv_cache_preempts_the_newest_and_recomputes_it() -> None:
    # 6 blocks; two sequences of 30 prompt tokens take 2 blocks each, then grow.
    s = BatchScheduler(params(kvCacheTokens=96, blockSize=16))
    old, new = Sequence(1, 30, 60), Sequence(2, 30, 60)
    s.add(old)
    s.add(new)
    steps = run_to_completion(s)
    preempted = [q for r in steps for q in r.preempted]
    assert preempted and set(preempted) == {new}, "the most recently admitted sequence is the victim"
    assert s.preemptions_total == new.preemptions >= 1
    assert old.generated == 60 and new.generated == 60
    # the recompute prefilled the prompt plus what it had produced already
    assert sum(r.prefill_tokens for r in steps) > 60


def test_prefix_cache_hits_cut_prefill_cost() -> None:
    p = params(enablePrefixCaching=True, blockSize=16)
    s = BatchScheduler(p)
    ids = list(range(160))
    hashes = chained_block_hashes(ids, 16)
    assert len(hashes) == 10
    s.add(Sequence(1, 160, 1, block_hashes=hashes))
    cold = s.step()
    s.add(Sequence(2, 160, 1, block_hashes=hashes))
    warm = s.step()
    assert cold.prefix_hits == 0 and cold.prefill_tokens == 160
    assert warm.prefix_hits == 159 and warm.prefill_tokens == 1  # the last token is always computed
    assert warm.duration_s < cold.duration_s


def test_prefix_cache_needs_the_whole_prefix() -> None:
    a = chained_block_hashes(list(range(64)), 16)
    b = chained_block_hashes([999] + list(range(1, 64)), 16)
    cache = PrefixCache(100)
    cache.insert(a)
    assert cache.hit_blocks(a) == 4
    assert cache.hit_blocks(b) == 0, "a different first block changes every later hash"


def test_prefix_cache_evicts_least_recently_used() -> None:
    cache = PrefixCache(2)
    x, y, z = (chained_block_hashes([n] * 16, 16) for n in (1, 2, 3))
    cache.insert(x)
    cache.insert(y)
    cache.hit_blocks(x)
    cache.insert(z)
    assert cache.hit_blocks(x) == 1 and cache.hit_blocks(y) == 0


def test_slow_factor_multiplies_step_time() -> None:
    s = BatchScheduler(params())
    s.add(Sequence(1, 10, 5))
    s.step()
    normal = s.step().duration_s
    s.slow_factor = 3.0
    assert s.step().duration_s == pytest.approx(3 * normal)


def test_abort_frees_blocks_wherever_the_sequence_is() -> None:
    s = BatchScheduler(params(maxNumSeqs=1))
    a, b = Sequence(1, 10, 50), Sequence(2, 10, 50)
    s.add(a)
    s.add(b)
    s.step()
    s.abort(a)
    s.abort(b)
    assert s.idle and s.used_blocks == 0


def test_same_inputs_same_schedule() -> None:
    def trace() -> list[tuple[float, tuple[int, ...]]]:
        s = BatchScheduler(params(maxNumSeqs=3, kvCacheTokens=256))
        for i in range(6):
            s.add(Sequence(i, 20 + i * 7, 5 + i))
        return [(r.duration_s, tuple(q.seq_id for q in r.emitted)) for r in run_to_completion(s)]
    assert trace() == trace()
