"""Endpoint selection for one cluster: Istio locality priorities, Envoy's
priority load spill-over, ring hash and the simple load balancers.

Code under test: harness/localstack/mesh/balancer.py.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from harness.istio.destination_rule import LocalityLbSetting, TrafficPolicy
from harness.localstack.mesh.balancer import (
    REGION_LABEL,
    ClusterBalancer,
    Endpoint,
    HashRing,
    LbPolicy,
    assign_priorities,
    level_in_panic,
    priority_loads,
)


def ep(pod: str, region: str = "us-east", **labels: str) -> Endpoint:
    return Endpoint(pod=pod, url=f"http://{pod}:8000", region=region, workload="llm-chat",
                    labels=tuple(sorted(labels.items())))


def lls(d: dict) -> LocalityLbSetting:
    return LocalityLbSetting.model_validate(d)


def pods(levels: list[list[Endpoint]]) -> list[set[str]]:
    return [{e.pod for e in level} for level in levels]


EAST = [ep("east-1", "us-east"), ep("east-2", "us-east")]
WEST = [ep("west-1", "us-west")]
EU = [ep("eu-1", "eu-west")]
ALL = EAST + WEST + EU


# -- Endpoint -------------------------------------------------------------------

def test_endpoint_region_is_read_through_the_topology_label():
    """The Kubernetes label topology.kubernetes.io/region reads Endpoint.region;
    other labels come from the (key, value) tuples."""
    e = ep("p", "eu-west", model="llama-3-70b")
    assert e.label(REGION_LABEL) == "eu-west"
    assert e.label("model") == "llama-3-70b"
    assert e.label("missing") is None


# -- priorities (Istio locality LB) -----------------------------------------------

def test_without_outlier_detection_everything_is_one_level():
    """Istio: locality failover needs outlierDetection; without it all endpoints
    share priority 0 even when failover is configured."""
    setting = lls({"failover": [{"from": "us-east", "to": "us-west"}]})
    levels = assign_priorities(ALL, setting, outlier_detection=False, client_region="us-east")
    assert pods(levels) == [{"east-1", "east-2", "west-1", "eu-1"}]


def test_failover_orders_client_region_then_target_then_others():
    """Istio failover [{from: us-east, to: us-west}]: a us-east client gets
    [us-east], [us-west], [every other region]."""
    setting = lls({"failover": [{"from": "us-east", "to": "us-west"}]})
    levels = assign_priorities(ALL, setting, outlier_detection=True, client_region="us-east")
    assert pods(levels) == [{"east-1", "east-2"}, {"west-1"}, {"eu-1"}]


def test_outlier_detection_without_locality_setting_client_region_then_rest():
    """Istio's mesh default (locality LB enabled): with outlier detection and no
    localityLbSetting the client's region is priority 0, all others priority 1."""
    levels = assign_priorities(ALL, None, outlier_detection=True, client_region="us-east")
    assert pods(levels) == [{"east-1", "east-2"}, {"west-1", "eu-1"}]


def test_failover_priority_label_value_puts_matching_endpoints_first():
    """Istio failoverPriority ["model=llama-3-70b"]: endpoints labelled
    model=llama-3-70b are priority 0, the rest (e.g. the 8B fallback) after."""
    big = [ep("big-1", "us-east", model="llama-3-70b"), ep("big-2", "us-east", model="llama-3-70b")]
    small = [ep("small-1", "us-east", model="llama-3-8b"), ep("nolabel", "us-east")]
    setting = lls({"failoverPriority": ["model=llama-3-70b"]})
    levels = assign_priorities(small + big, setting, outlier_detection=True, client_region="us-east")
    assert pods(levels) == [{"big-1", "big-2"}, {"small-1", "nolabel"}]


def test_failover_priority_without_failover_ignores_region():
    """Istio (loadbalancer.go ApplyLocalityLoadBalancer): with failoverPriority and
    no `failover`, only the labels decide priority; locality is not applied, so
    every model=llama-3-70b endpoint, whatever its region, shares priority 0."""
    endpoints = [ep("big-east", "us-east", model="llama-3-70b"), ep("big-west", "us-west", model="llama-3-70b"),
                 ep("small-east", "us-east", model="llama-3-8b")]
    setting = lls({"failoverPriority": ["model=llama-3-70b"]})
    levels = assign_priorities(endpoints, setting, outlier_detection=True, client_region="us-east")
    assert pods(levels) == [{"big-east", "big-west"}, {"small-east"}]


def test_locality_lb_disabled_gives_one_level():
    """Istio localityLbSetting.enabled: false turns locality LB off: one level."""
    setting = lls({"enabled": False, "failover": [{"from": "us-east", "to": "us-west"}]})
    levels = assign_priorities(ALL, setting, outlier_detection=True, client_region="us-east")
    assert pods(levels) == [{"east-1", "east-2", "west-1", "eu-1"}]


def test_no_endpoints_no_levels():
    """A cluster without endpoints has no priority levels."""
    assert assign_priorities([], None, outlier_detection=True, client_region="us-east") == []


# -- priority loads (Envoy, overprovisioning factor 1.4) ------------------------------

def test_priority_load_all_healthy_stays_in_priority_zero():
    """Envoy: a fully healthy P0 takes 100 % of the traffic."""
    assert priority_loads([(2, 2), (1, 1)]) == pytest.approx([1.0, 0.0])


def test_priority_load_half_healthy_spills_thirty_percent():
    """Envoy: P0 at 50 % health keeps min(100, 1.4 x 50) = 70 %, 30 % spills to P1."""
    assert priority_loads([(1, 2), (1, 1)]) == pytest.approx([0.7, 0.3])


def test_priority_load_dead_priority_zero_sends_all_to_next():
    """Envoy: an all-unhealthy P0 gets 0 %, P1 takes everything."""
    assert priority_loads([(0, 2), (1, 1)]) == pytest.approx([0.0, 1.0])


def test_priority_load_all_unhealthy_is_all_zero():
    """No healthy host anywhere: no level gets traffic (the caller falls back to panic)."""
    assert priority_loads([(0, 2), (0, 1)]) == [0.0, 0.0]


def test_priority_load_normalised_when_total_health_is_short():
    """Envoy normalises when the summed health is below 100 %: two levels at 25 %
    health (1.4 x 25 = 35 each) get 50 % / 50 % and the loads sum to 1."""
    loads = priority_loads([(1, 4), (1, 4)])
    assert loads == pytest.approx([0.5, 0.5])
    assert sum(loads) == pytest.approx(1.0)


# -- ring hash ---------------------------------------------------------------------

HOSTS = ["pod-a", "pod-b", "pod-c", "pod-d"]
KEYS = [f"user-{i}" for i in range(2000)]


def ring_balancer(hosts: list[str] = HOSTS) -> ClusterBalancer:
    b = ClusterBalancer(LbPolicy(kind="RING_HASH", hash_header="x-user-id"))
    b.set_levels([[ep(h) for h in hosts]])
    return b


def test_ring_hash_same_key_same_host():
    """Envoy ring hash: the same hash key (x-user-id) always maps to the same host,
    whatever the random source."""
    b = ring_balancer()
    for key in KEYS[:200]:
        first = b.choose(random.Random(1), set(), hash_key=key).pod
        for seed in (2, 3, 4):
            assert b.choose(random.Random(seed), set(), hash_key=key).pod == first


def test_ring_hash_policy_from_destination_rule():
    """DestinationRule consistentHash.httpHeaderName -> RING_HASH keyed on the
    (lower-cased) header."""
    tp = TrafficPolicy.model_validate({"loadBalancer": {"consistentHash": {"httpHeaderName": "X-User-Id",
                                                                           "ringHash": {"minimumRingSize": 2048}}}})
    pol = LbPolicy.from_policy(tp)
    assert (pol.kind, pol.hash_header, pol.ring_size) == ("RING_HASH", "x-user-id", 2048)
    assert pol.hash_key({"x-user-id": "u7"}, {}, "10.0.0.1", {}) == "u7"


def test_ring_hash_removing_a_host_moves_only_its_keys_to_survivors():
    """Consistent hashing: when a host is removed its keys go to the survivors,
    and the great majority of the other hosts' keys keep their host (a modulo
    hash would re-home about 3/4 of them)."""
    before, after = HashRing(HOSTS), HashRing([h for h in HOSTS if h != "pod-d"])
    moved_from_d = [k for k in KEYS if before.choose(k) == "pod-d"]
    assert moved_from_d and all(after.choose(k) in {"pod-a", "pod-b", "pod-c"} for k in moved_from_d)
    others = [k for k in KEYS if before.choose(k) != "pod-d"]
    stayed = sum(before.choose(k) == after.choose(k) for k in others)
    # Envoy scales each host's share of the ring to min_ring_size / n, so a
    # removal re-homes some keys of survivors too: "as far as a ring allows".
    assert stayed / len(others) >= 0.70


def test_ring_hash_spreads_keys_over_all_hosts():
    """Ring hash balance: over 2000 keys each of 4 hosts gets at least 10 %."""
    b = ring_balancer()
    rng = random.Random(5)
    counts = Counter(b.choose(rng, set(), hash_key=k).pod for k in KEYS)
    assert set(counts) == set(HOSTS)
    assert min(counts.values()) >= 0.10 * len(KEYS)


def test_ring_hash_retry_attempt_moves_along_the_ring():
    """Envoy: a retry with a hash key walks on from the key's ring position;
    attempt k picks the owner k points further on."""
    ring = HashRing(HOSTS)
    import bisect

    from harness.localstack.mesh.balancer import _hash64  # the ring's own hash, to locate the key
    moved = 0
    for key in KEYS[:500]:
        i = bisect.bisect_left(ring.points, _hash64(key))
        assert ring.choose(key, 0) == ring.owners[i % len(ring.points)]
        assert ring.choose(key, 1) == ring.owners[(i + 1) % len(ring.points)]
        moved += ring.choose(key, 1) != ring.choose(key, 0)
    assert moved > 0  # some retries land on a different host


def test_ring_hash_retry_with_avoid_picks_another_host():
    """Istio previous-hosts predicate with ring hash: a retry that avoids the first
    host moves along the ring to a different host, deterministically."""
    b = ring_balancer()
    for key in KEYS[:100]:
        first = b.choose(random.Random(0), set(), hash_key=key).pod
        second = b.choose(random.Random(0), set(), hash_key=key, avoid={first}).pod
        assert second != first
        assert b.choose(random.Random(9), set(), hash_key=key, avoid={first}).pod == second


def test_ring_hash_missing_key_picks_randomly():
    """Envoy: with no hash key (header absent) the ring hash LB picks a random host."""
    b = ring_balancer()
    rng = random.Random(6)
    counts = Counter(b.choose(rng, set(), hash_key=None).pod for _ in range(2000))
    assert set(counts) == set(HOSTS)
    assert min(counts.values()) >= 0.15 * 2000


def test_empty_ring_chooses_nothing():
    """Envoy ring hash over an empty host set selects no host."""
    assert HashRing([]).choose("k") is None


# -- ClusterBalancer ------------------------------------------------------------------

def balancer(kind: str, hosts: list[str] = HOSTS) -> ClusterBalancer:
    b = ClusterBalancer(LbPolicy(kind=kind))
    b.set_levels([[ep(h) for h in hosts]])
    return b


@pytest.mark.parametrize("kind", ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH"])
def test_ejected_hosts_are_never_chosen(kind):
    """Envoy: ejected (outlier) hosts are excluded from load balancing."""
    b = balancer(kind)
    rng = random.Random(7)
    ejected = {"pod-a", "pod-c"}
    for i in range(500):
        got = b.choose(rng, ejected, hash_key=f"user-{i}" if kind == "RING_HASH" else None)
        assert got is not None and got.pod not in ejected


def test_panic_mode_may_choose_ejected_hosts():
    """Envoy panic threshold: in panic all hosts, ejected or not, take traffic."""
    b = balancer("RANDOM")
    rng = random.Random(8)
    ejected = {"pod-a", "pod-b", "pod-c"}
    chosen = {b.choose(rng, ejected, panic_threshold=50).pod for _ in range(400)}
    assert chosen == set(HOSTS)


def test_panic_is_per_priority_level():
    """Envoy recalculatePerPriorityPanic: with a 50 % threshold, P0 at 1/5 healthy
    panics and uses all its hosts; P1 at 1/2 healthy does not, and keeps to its
    healthy host (across both levels, 2/7 healthy, everything would panic)."""
    b = ClusterBalancer(LbPolicy(kind="RANDOM"))
    b.set_levels([[ep(f"east-{i}") for i in range(5)], [ep("west-1", "us-west"), ep("west-2", "us-west")]])
    rng = random.Random(3)
    ejected = {"east-1", "east-2", "east-3", "east-4", "west-2"}
    chosen = Counter(b.choose(rng, ejected, panic_threshold=50).pod for _ in range(4000))
    assert {f"east-{i}" for i in range(5)} <= set(chosen)  # P0 in panic
    assert "west-2" not in chosen
    # loads: P0 1.4 x 20 % = 28, P1 1.4 x 50 % = 70, normalised over 98
    assert chosen["west-1"] / 4000 == pytest.approx(70 / 98, abs=0.03)


def test_no_panic_while_the_levels_together_have_enough_healthy_capacity():
    """Envoy: no level panics while the normalised total availability is 100 %."""
    assert not level_in_panic([(1, 4), (2, 2)], 0, 50)  # 35 % + 100 % of capacity
    assert level_in_panic([(1, 5), (1, 2)], 0, 50) and not level_in_panic([(1, 5), (1, 2)], 1, 50)
    assert not level_in_panic([(1, 5), (1, 2)], 0, 0)  # Istio's default: panic disabled


def test_every_host_ejected_returns_none():
    """No healthy host and no panic: nothing to choose (Envoy: no healthy upstream)."""
    b = balancer("ROUND_ROBIN")
    assert b.choose(random.Random(0), set(HOSTS)) is None


def test_avoid_skips_previously_tried_hosts_when_another_exists():
    """Istio retry host predicate (previous_hosts): a retry avoids the hosts already tried
    when another host in the level is available."""
    b = balancer("RANDOM")
    rng = random.Random(10)
    for _ in range(300):
        assert b.choose(rng, set(), avoid={"pod-a", "pod-b", "pod-c"}).pod == "pod-d"


def test_avoid_falls_back_to_a_tried_host_when_nothing_else_is_left():
    """If only previously tried hosts remain, one of them is used (not None)."""
    b = balancer("RANDOM", ["pod-a", "pod-b"])
    got = b.choose(random.Random(11), set(), avoid={"pod-a", "pod-b"})
    assert got is not None and got.pod in {"pod-a", "pod-b"}


def test_round_robin_cycles_through_all_hosts_evenly():
    """Envoy ROUND_ROBIN: each host in turn; 400 picks over 4 hosts give 100 each
    and every window of 4 consecutive picks covers all hosts."""
    b = balancer("ROUND_ROBIN")
    rng = random.Random(12)
    picks = [b.choose(rng, set()).pod for _ in range(400)]
    assert Counter(picks) == {h: 100 for h in HOSTS}
    for i in range(0, 400, 4):
        assert set(picks[i:i + 4]) == set(HOSTS)


def test_least_request_prefers_host_with_fewer_active_requests():
    """Envoy LEAST_REQUEST (power of two choices): of two random hosts, the one with
    fewer active requests wins. With two hosts the idle one always wins."""
    b = balancer("LEAST_REQUEST", ["pod-a", "pod-b"])
    b.active = {"pod-a": 5, "pod-b": 0}
    rng = random.Random(13)
    assert {b.choose(rng, set()).pod for _ in range(300)} == {"pod-b"}


def test_least_request_never_picks_the_busiest_of_several_hosts():
    """Power of two choices: the strictly busiest host loses every comparison, and
    the idle host is chosen whenever sampled (about 2 in 3 picks for 3 hosts)."""
    b = balancer("LEAST_REQUEST", ["pod-a", "pod-b", "pod-c"])
    b.active = {"pod-a": 0, "pod-b": 3, "pod-c": 9}
    rng = random.Random(14)
    counts = Counter(b.choose(rng, set()).pod for _ in range(6000))
    assert counts["pod-c"] == 0
    assert counts["pod-a"] / 6000 == pytest.approx(2 / 3, abs=0.03)


def test_least_conn_is_treated_as_least_request():
    """Istio: simple LEAST_CONN is deprecated and means LEAST_REQUEST."""
    tp = TrafficPolicy.model_validate({"loadBalancer": {"simple": "LEAST_CONN"}})
    assert LbPolicy.from_policy(tp).kind == "LEAST_REQUEST"
    assert LbPolicy.from_policy(None).kind == "LEAST_REQUEST"


def test_choose_spills_to_next_level_when_first_level_is_ejected():
    """Envoy priorities: with every P0 host ejected, P1 takes all the traffic."""
    b = ClusterBalancer(LbPolicy(kind="RANDOM"))
    b.set_levels([[ep("east-1"), ep("east-2")], [ep("west-1", "us-west")]])
    rng = random.Random(15)
    assert {b.choose(rng, {"east-1", "east-2"}).pod for _ in range(200)} == {"west-1"}
    assert {b.choose(rng, set()).pod for _ in range(200)} <= {"east-1", "east-2"}


def test_choose_spills_thirty_percent_when_half_of_priority_zero_is_ejected():
    """Envoy: P0 at 50 % health keeps 70 % of requests; 30 % go to P1."""
    b = ClusterBalancer(LbPolicy(kind="RANDOM"))
    b.set_levels([[ep("east-1"), ep("east-2")], [ep("west-1", "us-west")]])
    rng = random.Random(16)
    n = 20_000
    counts = Counter(b.choose(rng, {"east-2"}).pod for _ in range(n))
    assert counts["east-2"] == 0
    assert counts["west-1"] / n == pytest.approx(0.30, abs=0.02)


# -- localityLbSetting.distribute -------------------------------------------------------

def _distribute(frm: str, to: dict[str, int]):  # type: ignore[no-untyped-def]
    from harness.istio.destination_rule import LocalityLbSetting

    return LocalityLbSetting.model_validate({"distribute": [{"from": frm, "to": to}]})


def test_distribute_picks_the_entry_for_the_client_region_and_sums_zones() -> None:
    from harness.localstack.mesh.balancer import distribute_weights

    setting = _distribute("us-east/*", {"us-east/a": 60, "us-east/b": 10, "us-west/*": 30})
    assert distribute_weights(setting, "us-east") == {"us-east": 70.0, "us-west": 30.0}
    assert distribute_weights(setting, "eu-west") is None
    assert distribute_weights(_distribute("*", {"eu-west/*": 100}), "us-west") == {"eu-west": 100.0}


def test_distribute_sends_traffic_by_locality_weight() -> None:
    from collections import Counter

    from harness.localstack.mesh.balancer import ClusterBalancer, Endpoint, LbPolicy, distribute_weights

    eps = [Endpoint(f"{r}-{i}", f"http://x/{r}{i}", r, "w", (("region", r),))
           for r in ("us-east", "us-west") for i in range(2)]
    b = ClusterBalancer(LbPolicy(kind="RANDOM"), levels=[eps],
                        distribute=distribute_weights(_distribute("us-east", {"us-east": 20, "us-west": 80}),
                                                      "us-east"))
    rng = random.Random(7)
    regions = Counter(b.choose(rng, set()).region for _ in range(10_000))  # type: ignore[union-attr]
    assert abs(regions["us-west"] / 10_000 - 0.8) < 0.02


def test_distribute_scales_a_region_by_its_health() -> None:
    from collections import Counter

    from harness.localstack.mesh.balancer import ClusterBalancer, Endpoint, LbPolicy

    east = [Endpoint(f"e{i}", "u", "us-east", "w", ()) for i in range(4)]
    west = [Endpoint(f"w{i}", "u", "us-west", "w", ()) for i in range(4)]
    b = ClusterBalancer(LbPolicy(kind="RANDOM"), levels=[east + west], distribute={"us-east": 50, "us-west": 50})
    rng = random.Random(3)
    # 3 of 4 east hosts ejected: east keeps 1.4 x 25 % = 35 % of its weight
    regions = Counter(b.choose(rng, {"e0", "e1", "e2"}).region for _ in range(20_000))  # type: ignore[union-attr]
    expected_east = 50 * 0.35 / (50 * 0.35 + 50)
    assert abs(regions["us-east"] / 20_000 - expected_east) < 0.02


# -- priority choice under ring hash ------------------------------------------------------

def test_ring_hash_picks_the_priority_from_the_hash_so_a_user_stays_in_one_level():
    """Envoy thread_aware_lb_impl.cc `chooseHost`: `choosePriority(h, ...)` with the
    request's hash. During a partial spill (half of P0 ejected: 30 % to P1) each
    key keeps its level whatever the random source, and about 30 % of keys spill."""
    b = ClusterBalancer(LbPolicy(kind="RING_HASH", hash_header="x-user-id"))
    b.set_levels([[ep("east-1"), ep("east-2")], [ep("west-1", "us-west")]])
    spilled = 0
    for key in KEYS[:1000]:
        picks = {b.choose(random.Random(seed), {"east-2"}, hash_key=key).pod for seed in range(5)}
        assert len(picks) == 1
        spilled += picks == {"west-1"}
    assert spilled / 1000 == pytest.approx(0.30, abs=0.05)


def test_ring_hash_without_avoid_retries_on_the_same_host():
    """Without the previous-hosts predicate, Envoy's ring hash reselects nothing:
    the retry's host is the first try's."""
    b = ring_balancer()
    for key in KEYS[:100]:
        first = b.choose(random.Random(0), set(), hash_key=key).pod
        assert b.choose(random.Random(1), set(), hash_key=key).pod == first
