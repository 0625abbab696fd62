"""Endpoint selection for one cluster (a Service host, optionally a subset):
locality priority levels, Envoy's spill-over, and the load-balancing
algorithms. Pure: randomness and time are passed in.

Priorities follow Istio's rules for a proxy in `client_region`:
- without outlier detection, locality settings are inactive (one level);
- `failoverPriority` labels rank endpoints by how many leading labels match
  (a `key=value` entry compares against the value given);
- `failover` puts the client's region first, the listed target second, the
  rest third; with only outlier detection set, the client's region first and
  every other region second (the mesh default `enabled: true`).
Traffic per level follows Envoy: a level keeps min(100 %, 1.4 x healthy share)
and spills the rest to the next, normalised when total health is short.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from harness.istio.destination_rule import LocalityLbSetting, TrafficPolicy

__all__ = ["Endpoint", "LbPolicy", "assign_priorities", "priority_loads", "distribute_weights", "HashRing",
           "level_in_panic",
           "ClusterBalancer",
           "REGION_LABEL", "OVERPROVISIONING"]

REGION_LABEL = "topology.kubernetes.io/region"
OVERPROVISIONING = 1.4
_LOCALITY_LABELS = {REGION_LABEL, "topology.kubernetes.io/zone", "topology.istio.io/subzone"}


@dataclass(frozen=True)
class Endpoint:
    pod: str
    url: str
    region: str
    workload: str
    labels: tuple[tuple[str, str], ...]

    @cached_property
    def _label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def label(self, key: str) -> str | None:
        if key == REGION_LABEL:
            return self.region
        return self._label_map.get(key)


def _priority_by_labels(ep: Endpoint, entries: list[str], client: dict[str, str]) -> int:
    matched = 0
    for entry in entries:
        key, eq, value = entry.partition("=")
        want = value if eq else client.get(key)
        if want is None or ep.label(key) != want:
            break
        matched += 1
    return len(entries) - matched


def assign_priorities(endpoints: Sequence[Endpoint], setting: LocalityLbSetting | None,
                      outlier_detection: bool, client_region: str) -> list[list[Endpoint]]:
    """Endpoints grouped into priority levels, level 0 first."""
    if not endpoints:
        return []
    if not outlier_detection or (setting is not None and setting.enabled is False) or \
            (setting is not None and setting.distribute):
        return [list(endpoints)]
    client = {REGION_LABEL: client_region}
    failover_to = {f.from_: f.to for f in (setting.failover or [])} if setting else {}

    def locality_rank(ep: Endpoint) -> int:
        if ep.region == client_region:
            return 0
        if failover_to:
            return 1 if failover_to.get(client_region) == ep.region else 2
        return 1

    entries = list(setting.failoverPriority or []) if setting else []
    uses_locality = any(e.partition("=")[0] in _LOCALITY_LABELS for e in entries)

    # failoverPriority alone ranks by labels only; region order applies when
    # `failover` is given too (and the priority list does not name locality labels).
    by_locality = not uses_locality and (not entries or bool(failover_to))

    def rank(ep: Endpoint) -> tuple[int, int]:
        by_label = _priority_by_labels(ep, entries, client) if entries else 0
        return (by_label, locality_rank(ep) if by_locality else 0)

    ranks = sorted({rank(ep) for ep in endpoints})
    return [[ep for ep in endpoints if rank(ep) == r] for r in ranks]


def distribute_weights(setting: LocalityLbSetting | None, client_region: str) -> dict[str, float] | None:
    """The `distribute` entry for the client's locality, as region -> weight
    (`from` / `to` name localities as region[/zone[/subzone]] or `*`; zones
    do not exist locally, so a locality is its region)."""
    if setting is None or not setting.distribute or setting.enabled is False:
        return None
    for entry in setting.distribute:
        src = entry.from_.split("/")[0]
        if src in (client_region, "*"):
            weights: dict[str, float] = {}
            for loc, w in entry.to.items():
                region = loc.split("/")[0]
                weights[region] = weights.get(region, 0.0) + w
            return weights
    return None


def priority_loads(levels: Sequence[tuple[int, int]]) -> list[float]:
    """Share of traffic (0..1) per level from (healthy, total) counts, as Envoy's
    `calculatePriorityLoad` with the default overprovisioning factor 1.4."""
    health = [min(100.0, OVERPROVISIONING * 100.0 * h / t) if t else 0.0 for h, t in levels]
    total = min(100.0, sum(health))
    if total == 0:
        return [0.0] * len(levels)
    remaining, loads = 100.0, []
    for h in health:
        share = min(remaining, h * 100.0 / total)
        loads.append(share / 100.0)
        remaining -= share
    return loads


def level_in_panic(counts: Sequence[tuple[int, int]], index: int, threshold: float) -> bool:
    """Envoy's per-priority panic (LoadBalancerBase::recalculatePerPriorityPanic):
    a level whose healthy share is below the threshold uses all its hosts,
    healthy or not, but only while the levels together are short of healthy
    capacity (normalised total availability below 100 %)."""
    if threshold <= 0:
        return False
    availability = sum(min(100.0, OVERPROVISIONING * 100.0 * h / t) if t else 0.0 for h, t in counts)
    healthy, total = counts[index]
    return availability < 100.0 and total > 0 and 100.0 * healthy / total < threshold


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class HashRing:
    """Envoy's ring hash: each host takes ring_size / n points; a key goes to
    the first point at or after its hash. Host reselection k moves k points on,
    so a retry may land elsewhere (or, as in Envoy, on the same host)."""

    def __init__(self, hosts: Iterable[str], minimum_ring_size: int = 1024) -> None:
        hosts = sorted(set(hosts))
        self.points: list[int] = []
        self.owners: list[str] = []
        if not hosts:
            return
        per_host = max(1, -(-minimum_ring_size // len(hosts)))
        pairs = sorted((_hash64(f"{h}_{i}"), h) for h in hosts for i in range(per_host))
        self.points = [p for p, _ in pairs]
        self.owners = [h for _, h in pairs]

    def choose(self, key: str, attempt: int = 0) -> str | None:
        if not self.points:
            return None
        i = bisect.bisect_left(self.points, _hash64(key))
        return self.owners[(i + attempt) % len(self.points)]


@dataclass
class LbPolicy:
    kind: str = "LEAST_REQUEST"  # ROUND_ROBIN | LEAST_REQUEST | RANDOM | RING_HASH
    hash_header: str | None = None
    hash_cookie: str | None = None
    hash_source_ip: bool = False
    hash_query: str | None = None
    ring_size: int = 1024

    @classmethod
    def from_policy(cls, tp: TrafficPolicy | None) -> LbPolicy:
        lb = tp.loadBalancer if tp else None
        if lb is None:
            return cls()
        ch = lb.consistentHash
        if ch is not None:
            size = (ch.ringHash.minimumRingSize if ch.ringHash else None) or ch.minimumRingSize or 1024
            return cls(kind="RING_HASH", hash_header=ch.httpHeaderName.lower() if ch.httpHeaderName else None,
                       hash_cookie=ch.httpCookie.name if ch.httpCookie else None,
                       hash_source_ip=bool(ch.useSourceIp), hash_query=ch.httpQueryParameterName, ring_size=size)
        simple = lb.simple or "LEAST_REQUEST"
        if simple in ("LEAST_CONN", "UNSPECIFIED", "PASSTHROUGH"):
            simple = "LEAST_REQUEST"
        return cls(kind=simple)

    def hash_key(self, headers: Mapping[str, str], cookies: Mapping[str, str], source_ip: str,
                 query: Mapping[str, str]) -> str | None:
        if self.hash_header:
            return headers.get(self.hash_header)
        if self.hash_cookie:
            return cookies.get(self.hash_cookie)
        if self.hash_source_ip:
            return source_ip
        if self.hash_query:
            return query.get(self.hash_query)
        return None


@dataclass
class ClusterBalancer:
    """Chooses an endpoint among the healthy ones of one cluster."""

    policy: LbPolicy
    levels: list[list[Endpoint]] = field(default_factory=list)
    # localityLbSetting.distribute for the client's region: traffic per region by
    # weight, each scaled by the region's health as Envoy's locality-weighted LB
    distribute: dict[str, float] | None = None
    active: dict[str, int] = field(default_factory=dict)  # in-flight requests per pod
    _rr: int = 0
    _rings: dict[tuple[str, ...], HashRing] = field(default_factory=dict)

    def set_levels(self, levels: list[list[Endpoint]]) -> None:
        # sorted once here, so the per-request pick needs no sort to be deterministic
        self.levels = [sorted(level, key=lambda e: e.pod) for level in levels]
        self._rings.clear()

    def endpoints(self) -> list[Endpoint]:
        return [ep for level in self.levels for ep in level]

    def choose(self, rng: random.Random, ejected: set[str], hash_key: str | None = None,
               avoid: set[str] | frozenset[str] = frozenset(), panic_threshold: float = 0.0) -> Endpoint | None:
        """Pick a level by Envoy's priority load, then a host in it. `avoid`
        holds previously tried hosts (Istio's retry host predicate, up to 5
        reselections, each one point further along a hash ring); if only they
        remain, one of them is used. Without `avoid` a retry under ring hash
        lands where the first try did, as in Envoy."""
        if not self.levels:
            return None
        healthy_levels = [[ep for ep in lvl if ep.pod not in ejected] for lvl in self.levels]
        counts = [(len(h), len(lvl)) for h, lvl in zip(healthy_levels, self.levels, strict=True)]
        loads = priority_loads(counts)
        if not any(loads):
            # nothing healthy anywhere: Envoy sends everything to P0, in panic if it is enabled
            level = self.levels[0] if panic_threshold > 0 else []
        else:
            x, index = self._priority_draw(rng, hash_key), len(loads) - 1
            for i, share in enumerate(loads):
                if x < share and healthy_levels[i]:
                    index = i
                    break
                x -= share
            if not healthy_levels[index]:
                index = next(i for i, lvl in enumerate(healthy_levels) if lvl)
            level = self.levels[index] if level_in_panic(counts, index, panic_threshold) else healthy_levels[index]
            if self.distribute:
                level = self._by_locality_weight(level, rng)
        if not level:
            return None
        chosen: Endpoint | None = None
        for reselection in range(5 if avoid else 1):
            chosen = self._pick(level, rng, hash_key, reselection)
            if chosen is None or chosen.pod not in avoid:
                return chosen
        fresh = [ep for ep in level if ep.pod not in avoid]
        return rng.choice(fresh) if fresh else chosen

    def _priority_draw(self, rng: random.Random, hash_key: str | None) -> float:
        """The point in [0, 1) that picks a priority level. Envoy's ring hash
        takes it from the request's hash (thread_aware_lb_impl.cc `chooseHost`:
        `choosePriority(h, ...)`, which uses h % 100), so during a partial
        spill a user stays in one level; other balancers draw at random."""
        if self.policy.kind == "RING_HASH" and hash_key is not None:
            return (_hash64(hash_key) % 100) / 100
        return rng.random()

    def _by_locality_weight(self, healthy: list[Endpoint], rng: random.Random) -> list[Endpoint]:
        assert self.distribute is not None
        totals: dict[str, int] = {}
        for ep in self.endpoints():
            totals[ep.region] = totals.get(ep.region, 0) + 1
        by_region: dict[str, list[Endpoint]] = {}
        for ep in healthy:
            by_region.setdefault(ep.region, []).append(ep)
        weights = {r: self.distribute.get(r, 0.0) * min(1.0, OVERPROVISIONING * len(eps) / totals[r])
                   for r, eps in by_region.items()}
        total = sum(weights.values())
        if total <= 0:
            return []  # no weighted locality has a healthy host: pilot kept no other endpoints
        x = rng.random() * total
        for region, w in weights.items():
            x -= w
            if x < 0:
                return by_region[region]
        return by_region[max(weights, key=lambda r: weights[r])]

    def _pick(self, hosts: list[Endpoint], rng: random.Random, hash_key: str | None, attempt: int) -> Endpoint | None:
        if not hosts:
            return None
        kind = self.policy.kind
        if kind == "RING_HASH":
            if hash_key is None:  # no key: Envoy picks at random
                return rng.choice(hosts)
            names = tuple(e.pod for e in hosts)
            ring = self._rings.get(names)
            if ring is None:
                ring = self._rings[names] = HashRing(names, self.policy.ring_size)
            owner = ring.choose(hash_key, attempt)
            return next(e for e in hosts if e.pod == owner)
        if kind == "ROUND_ROBIN":
            self._rr += 1
            return hosts[self._rr % len(hosts)]
        if kind == "RANDOM" or len(hosts) == 1:
            return rng.choice(hosts)
        # LEAST_REQUEST: Envoy's power of two choices
        a, b = rng.sample(hosts, 2)
        return a if self.active.get(a.pod, 0) <= self.active.get(b.pod, 0) else b
