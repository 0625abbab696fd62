"""The timing model of one GPU engine with continuous batching. Pure: no clock,
no sockets; the server drives it one step at a time and sleeps for the step's
duration.

One call to `BatchScheduler.step()` is one engine iteration, as in vLLM's V1
scheduler:

1. Every running sequence that has been prefilled decodes one token. A sequence
   that needs a new KV block when none is free preempts the most recently
   admitted running sequence (RECOMPUTE: its blocks are freed, it goes back to
   the front of the waiting queue, keeping the tokens it already produced).
2. Waiting sequences are admitted in FIFO order while fewer than
   `max_num_seqs` run and the KV cache holds their prompt plus one token. An
   admitted sequence is prefilled in this step (prompt tokens minus prefix-cache
   hits; a resumed one recomputes prompt plus generated tokens) and produces
   its first token at the end of the step.
3. The step lasts `decode_step_ms + decode_ms_per_seq * decoding` plus the
   prefill cost of the admitted prompts, all times the `slow` factor.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from harness.localstack.engine.params import EngineParams

__all__ = ["Sequence", "StepResult", "BatchScheduler", "PrefixCache", "blocks_for"]


def blocks_for(tokens: int, block_size: int) -> int:
    return max(1, math.ceil(tokens / block_size))


@dataclass(eq=False)
class Sequence:
    """One request inside the engine."""

    seq_id: int
    prompt_tokens: int
    max_output_tokens: int
    block_hashes: tuple[bytes, ...] = ()  # one per full prompt block, chained
    generated: int = 0
    blocks: int = 0
    prefilled: bool = False
    cached_tokens: int = 0
    preemptions: int = 0
    aborted: bool = False

    @property
    def finished(self) -> bool:
        return self.generated >= self.max_output_tokens

    @property
    def context_tokens(self) -> int:
        return self.prompt_tokens + self.generated


@dataclass
class StepResult:
    duration_s: float
    emitted: list[Sequence] = field(default_factory=list)  # each produced one token this step
    first_tokens: list[Sequence] = field(default_factory=list)  # subset of emitted: their first token
    finished: list[Sequence] = field(default_factory=list)
    preempted: list[Sequence] = field(default_factory=list)
    prefill_tokens: int = 0
    prefix_queries: int = 0
    prefix_hits: int = 0


class PrefixCache:
    """Which prompt blocks are cached, by chained block hash, least recently used
    first out. Capacity in blocks; a hit covers the longest cached prefix."""

    def __init__(self, capacity_blocks: int) -> None:
        self.capacity = capacity_blocks
        self._blocks: OrderedDict[bytes, None] = OrderedDict()

    def hit_blocks(self, hashes: tuple[bytes, ...]) -> int:
        n = 0
        for h in hashes:
            if h not in self._blocks:
                break
            self._blocks.move_to_end(h)
            n += 1
        return n

    def insert(self, hashes: tuple[bytes, ...]) -> None:
        for h in hashes:
            self._blocks[h] = None
            self._blocks.move_to_end(h)
        while len(self._blocks) > self.capacity:
            self._blocks.popitem(last=False)


def chained_block_hashes(token_ids: list[int], block_size: int) -> tuple[bytes, ...]:
    """vLLM hashes each full block together with its parent's hash, so a block
    hits only when the whole prefix before it matches."""
    out: list[bytes] = []
    parent = b""
    for start in range(0, len(token_ids) - block_size + 1, block_size):
        block = token_ids[start:start + block_size]
        parent = hashlib.blake2b(parent + repr(block).encode(), digest_size=12).digest()
        out.append(parent)
    return tuple(out)


class BatchScheduler:
    def __init__(self, params: EngineParams) -> None:
        self.params = params
        self.total_blocks = max(1, params.kv_cache_tokens // params.block_size)
        self.used_blocks = 0
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.prefix_cache = PrefixCache(self.total_blocks) if params.enable_prefix_caching else None
        self.slow_factor = 1.0
        self.preemptions_total = 0

    # -- queue -------------------------------------------------------------
    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def abort(self, seq: Sequence) -> None:
        """Drop a sequence wherever it is (client went away)."""
        seq.aborted = True
        if seq in self.running:
            self.running.remove(seq)
            self._free(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)

    @property
    def idle(self) -> bool:
        return not self.running and not self.waiting

    @property
    def kv_usage(self) -> float:
        return self.used_blocks / self.total_blocks

    def can_ever_fit(self, tokens: int) -> bool:
        return blocks_for(tokens, self.params.block_size) <= self.total_blocks

    # -- one iteration -----------------------------------------------------
    def step(self) -> StepResult:
        p = self.params
        result = StepResult(duration_s=0.0)

        decoding = [s for s in self.running if s.prefilled]
        for seq in decoding:
            if seq not in self.running:  # preempted earlier in this loop
                continue
            need = blocks_for(seq.context_tokens + 1, p.block_size) - seq.blocks
            while need > 0 and self.used_blocks + need > self.total_blocks:
                victim = self.running[-1]
                self._preempt(victim, result)
                if victim is seq:
                    break
            if seq not in self.running:
                continue
            if need > 0:
                seq.blocks += need
                self.used_blocks += need
            seq.generated += 1
            result.emitted.append(seq)
        n_decoding = len(result.emitted)

        prefill_cost_ms = 0.0
        while self.waiting and len(self.running) < p.max_num_seqs:
            seq = self.waiting[0]
            need = blocks_for(seq.context_tokens + 1, p.block_size)
            if self.used_blocks + need > self.total_blocks:
                break
            self.waiting.popleft()
            seq.blocks = need
            self.used_blocks += need
            uncached = seq.context_tokens
            if self.prefix_cache is not None and seq.preemptions == 0:
                hit = self.prefix_cache.hit_blocks(seq.block_hashes) * p.block_size
                hit = min(hit, seq.prompt_tokens - 1)  # the last prompt token is always computed
                seq.cached_tokens = hit
                uncached -= hit
                result.prefix_queries += seq.prompt_tokens
                result.prefix_hits += hit
                self.prefix_cache.insert(seq.block_hashes)
            prefill_cost_ms += p.prefill_overhead_ms + p.prefill_ms_per_token * uncached
            result.prefill_tokens += uncached
            seq.prefilled = True
            self.running.append(seq)
            if seq.generated == 0:
                result.first_tokens.append(seq)
            seq.generated += 1
            result.emitted.append(seq)

        for seq in result.emitted:
            if seq.finished:
                self.running.remove(seq)
                self._free(seq)
                result.finished.append(seq)

        if result.emitted or prefill_cost_ms:
            step_ms = p.decode_step_ms + p.decode_ms_per_seq * n_decoding + prefill_cost_ms
            result.duration_s = step_ms * self.slow_factor / 1000.0
        return result

    def _free(self, seq: Sequence) -> None:
        self.used_blocks -= seq.blocks
        seq.blocks = 0

    def _preempt(self, seq: Sequence, result: StepResult) -> None:
        self.running.remove(seq)
        self._free(seq)
        seq.prefilled = False
        seq.preemptions += 1
        self.preemptions_total += 1
        self.waiting.appendleft(seq)
        result.preempted.append(seq)
