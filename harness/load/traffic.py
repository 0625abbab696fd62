"""Which routing headers a request carries: tiers, model type, task type,
batch, region, sticky user ids. Seeded, so a run is reproducible."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["TrafficMix", "RequestTraits"]


@dataclass(frozen=True)
class RequestTraits:
    tier: str
    headers: dict[str, str]
    user_id: str | None
    model: str | None = None  # overrides the body's model (the large-model route)


@dataclass
class TrafficMix:
    """Probabilities of each routing trait; the header names are the reference
    VirtualService's (`reference-stack/istio/llm-chat-virtualservice.yaml`)."""

    premium_share: float = 0.0  # x-user-tier: premium for this share, standard for the rest
    send_tier: bool = False  # with premium_share 0: still send x-user-tier: standard
    large_model_share: float = 0.0  # x-model-type: large
    large_model: str = "llama-3-70b"  # the model name such requests ask for
    batch_share: float = 0.0  # x-request-type: batch
    task_type: str | None = None  # x-task-type: completion | embedding
    regions: dict[str, float] = field(default_factory=dict)  # x-region weights; empty = no header
    sticky_users: int = 0  # >0: x-user-id drawn from this many users, fixed per Locust user
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def user_id_for(self, user_index: int) -> str | None:
        return f"user-{user_index % self.sticky_users}" if self.sticky_users else None

    def draw(self, user_id: str | None = None) -> RequestTraits:
        rng = self.rng
        headers: dict[str, str] = {}
        tier = "premium" if rng.random() < self.premium_share else "standard"
        if self.premium_share or self.send_tier:
            headers["x-user-tier"] = tier
        model = None
        if self.large_model_share and rng.random() < self.large_model_share:
            headers["x-model-type"] = "large"
            model = self.large_model
        if self.batch_share and rng.random() < self.batch_share:
            headers["x-request-type"] = "batch"
        if self.task_type:
            headers["x-task-type"] = self.task_type
        if self.regions:
            names, weights = zip(*self.regions.items(), strict=True)
            headers["x-region"] = rng.choices(names, weights)[0]
        if user_id:
            headers["x-user-id"] = user_id
        return RequestTraits(tier=tier, headers=headers, user_id=user_id, model=model)
