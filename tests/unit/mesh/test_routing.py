"""Clusters built from the Istio config and the ready pods.

Code under test: harness/localstack/mesh/routing.py (no sockets: a routing
table is data).
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

from harness.istio.loading import load_mesh_config
from harness.localstack.mesh.routing import RoutingTable, route_hashes
from harness.localstack.topology import load_topology

TOPOLOGY = Path(__file__).parents[2] / "integration" / "fixtures" / "mesh" / "topology.yaml"
PODS = [{"name": f"chat-{region}-{i}", "url": f"http://127.0.0.1:{9000 + n}", "region": region,
         "labels": {"app": "chat", "version": "v1"}}
        for n, (region, i) in enumerate((r, i) for r in ("us-east", "us-west", "eu-west") for i in range(2))]


def table(tmp_path: Path, chat_rule_spec: str) -> RoutingTable:
    """A table whose one DestinationRule, for `chat`, has the given spec lines."""
    (tmp_path / "rules.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: chat, namespace: llm}\n"
        "spec:\n  host: chat\n" + textwrap.indent(textwrap.dedent(chat_rule_spec), "  "))
    t = RoutingTable(load_mesh_config([tmp_path]), load_topology(TOPOLOGY), "us-east")
    t.set_pods(PODS)
    return t


def test_distribute_drops_the_endpoints_of_unlisted_localities(tmp_path: Path) -> None:
    """pilot loadbalancer.go `applyLocalityWeights`: endpoints of localities that
    `distribute.to` does not list are removed, not kept as a fallback."""
    t = table(tmp_path, """\
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              distribute: [{from: us-east/*, to: {"us-east/*": 30, "us-west/*": 70}}]
        """)
    cluster = t.cluster("chat", None)
    assert cluster is not None
    assert {ep.region for ep in cluster.balancer.endpoints()} == {"us-east", "us-west"}
    # every listed host ejected: no healthy upstream, eu-west is not a fallback
    listed = {ep.pod for ep in cluster.balancer.endpoints()}
    assert cluster.balancer.choose(random.Random(0), listed) is None


def test_route_hashes_follows_the_subset_then_the_rule(tmp_path: Path) -> None:
    """pilot route.go `HashForHTTPDestination`: the subset's consistentHash, else
    the rule's."""
    t = table(tmp_path, """\
        subsets:
        - name: hashed
          labels: {version: v1}
          trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user-id}}}
        - name: plain
          labels: {version: v1}
        """)
    assert route_hashes(t.config, "chat", "hashed")
    assert not route_hashes(t.config, "chat", "plain") and not route_hashes(t.config, "chat", None)
    assert not route_hashes(t.config, "narrow", None)
