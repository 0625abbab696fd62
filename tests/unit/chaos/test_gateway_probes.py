"""The gateway probes against a scripted gateway: the share answered (within
a latency bound), the early stop at the threshold, and the share served by a
region as the mesh attributes it (inconclusive without attribution)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp import web

from harness.chaos.errors import ChaosActionFailed
from harness.chaos.probes import gateway_success_ratio, served_share
from harness.localstack.testing import serve_in_thread


class Gateway:
    """Answers the i-th request with the i-th (status, region, delay) of a script, then 200s."""

    def __init__(self, script: list[tuple[int, str, float]]) -> None:
        self.script = script
        self.seen = 0

    async def chat(self, request: web.Request) -> web.Response:
        status, region, delay = self.script[self.seen] if self.seen < len(self.script) else (200, "us-east", 0.0)
        self.seen += 1
        await asyncio.sleep(delay)
        headers = {"x-mesh-upstream": f"pod=p;region={region}"} if region else {}
        return web.json_response({}, status=status, headers=headers)


@pytest.fixture
def gateway() -> Iterator[tuple[Gateway, dict[str, str]]]:
    gw = Gateway([])
    app = web.Application()
    app.router.add_post("/v1/chat/completions", gw.chat)
    with serve_in_thread(app) as url:
        yield gw, {"harness_gateway_url": url}


def test_share_answered_and_within_a_latency_bound(gateway: tuple[Gateway, dict[str, str]]) -> None:
    gw, cfg = gateway
    gw.script = [(503, "us-east", 0.0), (200, "us-east", 0.3), (200, "us-east", 0.0), (200, "us-east", 0.0)]
    assert gateway_success_ratio(requests=4, configuration=cfg) == 0.75
    gw.seen = 0
    assert gateway_success_ratio(requests=4, within_s=0.2, configuration=cfg) == 0.5


def test_stops_once_the_threshold_is_out_of_reach_with_the_same_verdict(
        gateway: tuple[Gateway, dict[str, str]]) -> None:
    gw, cfg = gateway
    gw.script = [(503, "us-east", 0.0)] * 3
    share = gateway_success_ratio(requests=20, stop_below=0.9, configuration=cfg)
    assert gw.seen == 3 and share == 0.0  # 17 of 20 can no longer reach 0.9
    gw.seen = 0
    gw.script = [(503, "us-east", 0.0)] * 2
    assert gateway_success_ratio(requests=20, stop_below=0.9, configuration=cfg) == 0.9  # reachable: all sent
    assert gw.seen == 20


def test_served_share_by_region(gateway: tuple[Gateway, dict[str, str]]) -> None:
    gw, cfg = gateway
    gw.script = [(200, "us-west", 0.0), (200, "eu-west", 0.0), (503, "us-west", 0.0), (200, "us-east", 0.0)]
    assert served_share({"region": ["us-east", "us-west"]}, requests=4, configuration=cfg) == 0.5
    gw.seen = 0
    assert served_share({"region": "eu-west"}, requests=4, configuration=cfg) == 0.25


def test_served_share_without_attribution_is_inconclusive(gateway: tuple[Gateway, dict[str, str]]) -> None:
    gw, cfg = gateway
    gw.script = [(200, "", 0.0)] * 3
    with pytest.raises(ChaosActionFailed, match="x-mesh-upstream"):
        served_share({"region": "us-west"}, requests=3, configuration=cfg)
