"""Chaos Toolkit probes (module `harness.chaos.probes`): is the service
answering, are the pods ready, what do the SLO metrics say. A probe that
cannot measure (no data, Prometheus down) fails; it never reports a pass."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx

from harness.chaos.errors import ChaosActionFailed
from harness.chaos.timeouts import ChaosTimeouts
from harness.localstack.mesh.proxy import ATTRIBUTION_HEADER
from harness.outbound import OutboundError, OutboundSettings, httpx_options, requests_session
from harness.targets.base import TargetError
from harness.targets.factory import get_target

__all__ = ["gateway_success_ratio", "served_share", "upstream_of", "pods_ready", "slo_availability", "slo_ttft_p95_ms", "endpoint_health"]

Configuration = dict[str, Any] | None


def _gateway(configuration: Configuration) -> str:
    cfg = configuration or {}
    if cfg.get("harness_gateway_url"):
        return str(cfg["harness_gateway_url"]).rstrip("/")
    if str(cfg.get("harness_target", "local")) == "local":
        from harness.localstack.state import read_state

        state = read_state(str(cfg.get("harness_stack", "default")))
        if state is not None and state.gateway:
            return state.gateway
    raise ChaosActionFailed("no gateway URL: set configuration harness_gateway_url (or run a local stack)")


def _prometheus(configuration: Configuration) -> str:
    cfg = configuration or {}
    url = cfg.get("harness_prometheus_url") or os.environ.get("HARNESS_PROMETHEUS_URL")
    if not url and str(cfg.get("harness_target", "local")) == "local":
        from harness.localstack.state import read_state

        state = read_state(str(cfg.get("harness_stack", "default")))
        url = state.prometheus if state else None
    if not url:
        raise ChaosActionFailed("no Prometheus URL: set configuration harness_prometheus_url")
    return str(url)


def _outbound() -> OutboundSettings:
    """The harness's outbound TLS, proxy and token settings (HARNESS_* variables)."""
    try:
        return OutboundSettings.from_env()
    except OutboundError as exc:
        raise ChaosActionFailed(str(exc)) from None


def _httpx(outbound: OutboundSettings, url: str) -> dict[str, Any]:
    try:
        return httpx_options(outbound, url)
    except OutboundError as exc:
        raise ChaosActionFailed(str(exc)) from None


def _answers(requests: int, headers: dict[str, str] | None, model: str, max_tokens: int, timeout: float,
             configuration: Configuration) -> Iterator[httpx.Response | None]:
    """Send up to `requests` small chat completions through the gateway, one
    after the other; each response, or None for a request that got no answer."""
    url = f"{_gateway(configuration)}/v1/chat/completions"
    body = {"model": model, "messages": [{"role": "user", "content": "probe"}], "max_tokens": max_tokens}
    outbound = _outbound()
    with httpx.Client(timeout=timeout, **_httpx(outbound, url)) as client:
        for _ in range(requests):
            try:
                yield client.post(url, json=body, headers={**outbound.gateway_headers(), **(headers or {})})
            except httpx.HTTPError:
                yield None


def gateway_success_ratio(requests: int = 10, headers: dict[str, str] | None = None, model: str = "llama-3-8b",
                          max_tokens: int = 2, timeout: float = 30.0, within_s: float | None = None,
                          stop_below: float | None = None, configuration: Configuration = None,
                          secrets: Any = None) -> float:
    """Send `requests` small chat completions through the gateway; the share
    answered 200 (and, with `within_s`, answered within that many seconds: a
    latency SLO judged per request). With `stop_below` (the hypothesis's
    threshold), stop as soon as the share can no longer reach it, the rest
    counted as failed: the same verdict, without waiting out a broken mesh."""
    ok = failed = 0
    for r in _answers(requests, headers, model, max_tokens, timeout, configuration):
        if r is not None and r.status_code == 200 and (within_s is None or r.elapsed.total_seconds() <= within_s):
            ok += 1
        else:
            failed += 1
            if stop_below is not None and (requests - failed) / requests < stop_below:
                break
    return ok / requests


def upstream_of(response: httpx.Response) -> dict[str, str]:
    """Who served a response, from the local mesh's attribution header
    (`x-mesh-upstream: pod=..;region=..;subset=..;version=..`); empty when absent."""
    raw = response.headers.get(ATTRIBUTION_HEADER, "")
    return dict(part.split("=", 1) for part in raw.split(";") if "=" in part)


def served_share(where: dict[str, str | list[str]], requests: int = 10, headers: dict[str, str] | None = None,
                 model: str = "llama-3-8b", max_tokens: int = 2, timeout: float = 30.0,
                 configuration: Configuration = None, secrets: Any = None) -> float:
    """Share of `requests` answered 200 by an upstream matching every key of
    `where` (e.g. `{region: us-west}`, or `{region: [us-east, us-west]}` for
    any of several values), as the local mesh attributes them. A mesh that
    does not attribute (a cluster's sidecars send no such header) fails the
    probe: inconclusive, never a pass."""
    allowed = {k: {v} if isinstance(v, str) else set(v) for k, v in where.items()}
    answers = list(_answers(requests, headers, model, max_tokens, timeout, configuration))
    served = [upstream_of(r) for r in answers if r is not None and r.status_code == 200]
    if served and not any(served):
        raise ChaosActionFailed(f"the gateway's answers carry no {ATTRIBUTION_HEADER} header; "
                                "served_share needs the local mesh")
    return sum(all(u.get(k) in values for k, values in allowed.items()) for u in served) / requests


def pods_ready(selector: str, namespace: str | None = None, at_least: int | None = None, within_s: float = 0.0,
               configuration: Configuration = None, secrets: Any = None) -> int:
    """How many pods matching the selector are ready (a selector matching
    nothing fails). With `at_least`, wait up to `within_s` seconds for that
    many (a recovery SLO): the count when it was reached, or at the deadline."""
    deadline = time.monotonic() + within_s
    try:
        poll_s = ChaosTimeouts.from_configuration(configuration).poll_s
    except ValueError as exc:
        raise ChaosActionFailed(str(exc)) from None
    target = get_target(configuration)
    while True:
        try:
            count = sum(p.ready for p in target.list_pods(selector, namespace))
        except TargetError as exc:  # NothingMatched included
            raise ChaosActionFailed(str(exc)) from None
        if at_least is None or count >= at_least or time.monotonic() >= deadline:
            return count
        time.sleep(poll_s)


def endpoint_health(selector: str, namespace: str | None = None, configuration: Configuration = None,
                    secrets: Any = None) -> float:
    """Share of matching engines whose /health answers 200 (local), or that are ready (Kubernetes)."""
    try:
        pods = get_target(configuration).list_pods(selector, namespace)
    except TargetError as exc:
        raise ChaosActionFailed(str(exc)) from None
    healthy = 0
    for p in pods:
        if p.url:
            try:
                healthy += httpx.get(f"{p.url}/health", timeout=2, **_httpx(_outbound(), p.url)).status_code == 200
            except httpx.HTTPError:
                pass
        else:
            healthy += p.ready
    return healthy / len(pods)


def _query(configuration: Configuration, promql: str) -> float:
    from prometheus_api_client import PrometheusConnect
    from prometheus_api_client.exceptions import PrometheusApiClientException

    url = _prometheus(configuration)
    try:
        session = requests_session(_outbound(), url)
    except OutboundError as exc:
        raise ChaosActionFailed(str(exc)) from None
    try:
        result = PrometheusConnect(url=url, session=session).custom_query(promql)
    except (PrometheusApiClientException, OSError) as exc:  # a refused query; requests' errors are OSErrors
        raise ChaosActionFailed(f"Prometheus query failed ({exc}); the probe is inconclusive") from None
    if not result:
        raise ChaosActionFailed(f"no data for {promql!r}; the probe is inconclusive")
    value = float(result[0]["value"][1])
    if math.isnan(value):
        raise ChaosActionFailed(f"{promql!r} is NaN (no traffic in the window); the probe is inconclusive")
    return value


def slo_availability(service: str, window: str = "30s", configuration: Configuration = None,
                     secrets: Any = None) -> float:
    """Share of non-5xx responses for a service over the window, from istio_requests_total."""
    sel = f'reporter="source",destination_service_name="{service}"'  # the gateway's view, as on a cluster
    q = (f'sum(rate(istio_requests_total{{{sel},response_code!~"5.."}}[{window}])) / '
         f'sum(rate(istio_requests_total{{{sel}}}[{window}]))')
    return _query(configuration, q)


def slo_ttft_p95_ms(model: str = "llama-3-8b", window: str = "30s", configuration: Configuration = None,
                    secrets: Any = None) -> float:
    """The engines' TTFT p95 over the window, in ms (vLLM's histogram)."""
    q = (f'1000 * histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket'
         f'{{model_name="{model}"}}[{window}])))')
    return _query(configuration, q)
