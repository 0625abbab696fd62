"""Seeded prompt generators: length distributions, shared-prefix multi-turn
conversations, long-context documents. The same seed gives the same prompts."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["LengthDistribution", "PromptGenerator", "Conversation", "words"]

_VOCAB = (
    "model token cache mesh route latency region replica engine stream batch queue prompt answer request "
    "service gateway canary shadow failover policy retry timeout circuit outlier pool premium standard user "
    "data context window memory compute schedule decode prefill throughput budget system document summary "
    "question explain compare describe list reason step result value error health metric scale load"
).split()


def words(rng: random.Random, n: int) -> str:
    # one choices() call, not n choice() calls: a prompt per request on the load generator
    return " ".join(rng.choices(_VOCAB, k=n))


@dataclass(frozen=True)
class LengthDistribution:
    """Prompt or output lengths in tokens (about one word each)."""

    kind: Literal["fixed", "uniform", "normal", "lognormal"] = "fixed"
    mean: float = 128
    spread: float = 0.0  # uniform: half-width; normal: sd; lognormal: sigma of log
    minimum: int = 1
    maximum: int = 32768

    def sample(self, rng: random.Random) -> int:
        if self.kind == "fixed":
            v = self.mean
        elif self.kind == "uniform":
            v = rng.uniform(self.mean - self.spread, self.mean + self.spread)
        elif self.kind == "normal":
            v = rng.gauss(self.mean, self.spread)
        else:
            sigma = self.spread or 0.5
            v = rng.lognormvariate(math.log(self.mean) - sigma * sigma / 2, sigma)  # mean-preserving
        return int(min(self.maximum, max(self.minimum, round(v))))


@dataclass
class PromptGenerator:
    """Single-turn prompts whose lengths follow `lengths`."""

    lengths: LengthDistribution = field(default_factory=LengthDistribution)
    seed: int = 0
    system_prompt_tokens: int = 0  # a shared prefix every prompt starts with (prefix caching)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.system = words(random.Random(f"system-{self.seed}"), self.system_prompt_tokens)

    def messages(self) -> list[dict[str, str]]:
        out = [{"role": "system", "content": self.system}] if self.system else []
        out.append({"role": "user", "content": words(self.rng, self.lengths.sample(self.rng))})
        return out

    def prompt(self) -> str:
        return " ".join(m["content"] for m in self.messages())


@dataclass
class Conversation:
    """A multi-turn chat: each turn resends the whole history (a shared, growing
    prefix) plus a new user message; after `turns` it starts over."""

    seed: int = 0
    turns: int = 4
    system_prompt_tokens: int = 64
    user_lengths: LengthDistribution = field(default_factory=lambda: LengthDistribution("uniform", 48, 16))
    reply_tokens: int = 32

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.system = words(random.Random(f"conversation-system-{self.seed}"), self.system_prompt_tokens)
        self.history: list[dict[str, str]] = []

    def next_messages(self) -> list[dict[str, str]]:
        if len(self.history) >= 2 * self.turns:
            self.history = []
        self.history.append({"role": "user", "content": words(self.rng, self.user_lengths.sample(self.rng))})
        return [{"role": "system", "content": self.system}, *self.history]

    def record_reply(self, text: str | None) -> None:
        """Append the assistant's answer (or a stand-in of the expected length)."""
        self.history.append({"role": "assistant", "content": text or words(self.rng, self.reply_tokens)})


def long_document(seed: int, tokens: int) -> str:
    """A long-context document for summarisation-style prompts."""
    return words(random.Random(f"doc-{seed}"), tokens)
