"""Istio HTTPRetry -> Envoy retry policy, and HTTPFaultInjection draws.

Code under test: harness/localstack/mesh/retry.py.
"""

from __future__ import annotations

import random

import pytest

from harness.istio.virtual_service import HTTPFaultInjection, HTTPRetry
from harness.localstack.mesh.retry import Failure, IstioVersion, RetryPolicy, fault_draw


def policy(**retries) -> RetryPolicy:
    return RetryPolicy.from_route(HTTPRetry.model_validate(retries))


def fault(d: dict) -> HTTPFaultInjection:
    return HTTPFaultInjection.model_validate(d)


# -- retry policy -------------------------------------------------------------------

def test_default_policy_is_istios():
    """Istio (route/retry/retry.go): a route without `retries` gets 2 attempts on
    connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes."""
    p = RetryPolicy.from_route(None)
    assert p.attempts == 2
    assert p.retry_on == {"connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"}


def test_default_policy_retries_connect_failure():
    assert RetryPolicy.from_route(None).retriable_failure(Failure.CONNECT)


def test_default_policy_does_not_retry_a_503_response():
    """Istio's default excludes 503 from the retriable status codes: an HTTP 503
    response (e.g. from the application) is returned, not retried."""
    p = RetryPolicy.from_route(None)
    assert not p.retriable_status(503, {})
    assert not p.retriable_status(500, {})
    assert not p.retriable_failure(Failure.RESET)


def test_retry_on_5xx_retries_500_and_503_responses():
    """Envoy retry_on 5xx: any 5xx response is retried."""
    p = policy(attempts=3, retryOn="5xx")
    assert p.retriable_status(500, {}) and p.retriable_status(503, {}) and p.retriable_status(504, {})
    assert not p.retriable_status(404, {}) and not p.retriable_status(200, {})


def test_retry_on_5xx_retries_resets_and_per_try_timeouts():
    """Envoy 5xx also covers resets, connect failures and per-try timeouts."""
    p = policy(attempts=3, retryOn="5xx", perTryTimeout="2s")
    assert p.retriable_failure(Failure.RESET)
    assert p.retriable_failure(Failure.CONNECT)
    assert p.retriable_failure(Failure.PER_TRY_TIMEOUT)
    assert p.per_try_timeout == 2.0


def test_gateway_error_retries_502_503_504_but_not_500():
    """Envoy retry_on gateway-error: 502, 503 and 504 only."""
    p = policy(attempts=2, retryOn="gateway-error")
    assert all(p.retriable_status(s, {}) for s in (502, 503, 504))
    assert not p.retriable_status(500, {})
    assert not p.retriable_status(501, {})


def test_retriable_4xx_retries_409_only():
    """Envoy retry_on retriable-4xx: only 409 Conflict."""
    p = policy(attempts=2, retryOn="retriable-4xx")
    assert p.retriable_status(409, {})
    assert not any(p.retriable_status(s, {}) for s in (400, 404, 429, 500, 503))


def test_bare_integers_in_retry_on_are_retriable_status_codes():
    """Istio parseRetryOn: integers in retryOn are RetriableStatusCodes (and imply
    retriable-status-codes)."""
    p = policy(attempts=2, retryOn="503,429")
    assert p.codes == {503, 429}
    assert "retriable-status-codes" in p.retry_on
    assert p.retriable_status(503, {}) and p.retriable_status(429, {})
    assert not p.retriable_status(500, {})


def test_overflow_is_never_retried():
    """Envoy never retries a circuit-breaker overflow (UO), whatever retryOn says."""
    for p in (RetryPolicy.from_route(None), policy(attempts=5, retryOn="5xx,gateway-error,reset,connect-failure")):
        assert not p.retriable_failure(Failure.OVERFLOW)


def test_overloaded_response_is_never_retried():
    """Envoy: a response with x-envoy-overloaded: true (an upstream circuit breaker)
    is not retried, even under retryOn 5xx or an explicit 503 code."""
    p = policy(attempts=5, retryOn="5xx,gateway-error,503")
    assert p.retriable_status(503, {})
    assert not p.retriable_status(503, {"x-envoy-overloaded": "true"})


def test_attempts_zero_means_never_retry():
    """Istio: attempts 0 disables retries (ConvertPolicy returns no policy)."""
    p = policy(attempts=0, retryOn="5xx")
    assert p.attempts == 0
    assert not any(attempt < p.attempts for attempt in range(3))
    unset = policy(attempts=0)
    assert unset.attempts == 0 and not unset.retriable_failure(Failure.CONNECT)


def test_retry_on_unset_with_attempts_gets_default_conditions():
    """Istio: retries with attempts > 0 and no retryOn keep the default conditions."""
    p = policy(attempts=4)
    assert p.attempts == 4
    assert p.retry_on == RetryPolicy().retry_on
    assert p.retriable_failure(Failure.CONNECT)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8])
def test_backoff_is_fully_jittered_and_capped(n):
    """Envoy back-off: uniform in [0, min(base x 2^(n-1), 10 x base)] (base 25 ms
    default), so it grows exponentially and never exceeds 10x the base."""
    p = policy(attempts=10, retryOn="5xx", backoff="100ms")
    assert p.backoff_base == pytest.approx(0.1)
    ceiling = min(0.1 * 2 ** (n - 1), 1.0)
    rng = random.Random(n)
    draws = [p.backoff(n, rng) for _ in range(2000)]
    assert all(0 <= d <= ceiling for d in draws)
    assert max(draws) > 0.9 * ceiling  # the whole range is used, not a fixed value
    assert min(draws) < 0.1 * ceiling


def test_default_backoff_base_is_25ms():
    """Envoy's default retry back-off base is 25 ms (max 250 ms)."""
    assert RetryPolicy.from_route(None).backoff_base == pytest.approx(0.025)
    assert RetryPolicy().backoff(20, random.Random(0)) <= 0.25


# -- fault injection -------------------------------------------------------------------

def test_abort_100_percent_always_aborts_with_http_status():
    """Istio fault.abort with percentage 100: every request is answered with httpStatus."""
    f = fault({"abort": {"httpStatus": 503, "percentage": {"value": 100}}})
    rng = random.Random(1)
    assert all(fault_draw(f, rng).abort_status == 503 for _ in range(1000))


def test_abort_0_percent_never_aborts():
    """Istio fault.abort percentage 0: no request is aborted."""
    f = fault({"abort": {"httpStatus": 503, "percentage": {"value": 0}}})
    rng = random.Random(2)
    assert all(fault_draw(f, rng).abort_status is None for _ in range(1000))


def test_abort_without_percentage_never_aborts():
    """A fault without percentage injects nothing (Envoy's unset fractional percent is 0)."""
    f = fault({"abort": {"httpStatus": 503}, "delay": {"fixedDelay": "1s"}})
    rng = random.Random(3)
    assert all(fault_draw(f, rng) == fault_draw(None, rng) for _ in range(1000))
    assert fault_draw(None, rng).abort_status is None and fault_draw(None, rng).delay_s is None


def test_delay_and_abort_are_drawn_independently():
    """Envoy fault filter: delay and abort percentages are independent draws, so
    with 50 % each about a quarter of requests get both, a quarter neither."""
    f = fault({"delay": {"fixedDelay": "2s", "percentage": {"value": 50}},
               "abort": {"httpStatus": 500, "percentage": {"value": 50}}})
    rng = random.Random(4)
    n = 20_000
    draws = [fault_draw(f, rng) for _ in range(n)]
    both = sum(d.delay_s is not None and d.abort_status is not None for d in draws) / n
    neither = sum(d.delay_s is None and d.abort_status is None for d in draws) / n
    delay_only = sum(d.delay_s is not None and d.abort_status is None for d in draws) / n
    assert both == pytest.approx(0.25, abs=0.02)
    assert neither == pytest.approx(0.25, abs=0.02)
    assert delay_only == pytest.approx(0.25, abs=0.02)
    assert {d.delay_s for d in draws if d.delay_s is not None} == {2.0}


def test_delay_100_percent_and_abort_100_percent_both_apply():
    """Envoy fault filter: a request can be both delayed and then aborted."""
    f = fault({"delay": {"fixedDelay": "250ms", "percentage": {"value": 100}},
               "abort": {"httpStatus": 429, "percentage": {"value": 100}}})
    d = fault_draw(f, random.Random(5))
    assert d.delay_s == pytest.approx(0.25) and d.abort_status == 429


def test_delay_50_percent_delays_about_half():
    """Istio fault.delay percentage 50: about half the requests are delayed."""
    f = fault({"delay": {"fixedDelay": "1s", "percentage": {"value": 50}}})
    rng = random.Random(6)
    n = 20_000
    share = sum(fault_draw(f, rng).delay_s == 1.0 for _ in range(n)) / n
    assert share == pytest.approx(0.5, abs=0.02)


def test_deprecated_integer_delay_percent_still_applies():
    """Istio's deprecated fault.delay.percent (integer) is honoured when percentage is unset."""
    f = fault({"delay": {"fixedDelay": "1s", "percent": 100}})
    assert fault_draw(f, random.Random(7)).delay_s == 1.0


# -- retries under consistent hashing (pilot retry.ConvertPolicy, Istio >= 1.23) --------------

def test_a_hashing_route_gets_no_previous_hosts_predicate_by_default():
    """pilot route/retry/retry.go `ConvertPolicy(policy, hashPolicy)`: with a hash
    policy the default policy and a VirtualService policy leave out
    RetryPreviousHosts, so Envoy's ring hash retries on the same host."""
    assert RetryPolicy.from_route(None, consistent_hash=True).ignore_previous_hosts is False
    hashed = RetryPolicy.from_route(HTTPRetry.model_validate({"attempts": 2, "retryOn": "5xx"}), consistent_hash=True)
    assert hashed.ignore_previous_hosts is False
    assert RetryPolicy.from_route(None).ignore_previous_hosts is True


def test_retry_ignore_previous_hosts_overrides_the_hash_default():
    """`retryIgnorePreviousHosts` set explicitly wins either way."""
    on = HTTPRetry.model_validate({"attempts": 2, "retryIgnorePreviousHosts": True})
    off = HTTPRetry.model_validate({"attempts": 2, "retryIgnorePreviousHosts": False})
    assert RetryPolicy.from_route(on, consistent_hash=True).ignore_previous_hosts is True
    assert RetryPolicy.from_route(off, consistent_hash=False).ignore_previous_hosts is False



# -- version-dependent defaults ------------------------------------------------------------

def test_before_1_24_the_default_policy_retries_a_503():
    """retry.go before istio#52111 (1.24): the default policy carries
    RetriableStatusCodes [503]; from 1.24 it has none."""
    assert RetryPolicy.from_route(None, istio=IstioVersion(23)).retriable_status(503, {})
    assert not RetryPolicy.from_route(None, istio=IstioVersion(24)).retriable_status(503, {})
    unset_retry_on = HTTPRetry.model_validate({"attempts": 3})
    assert RetryPolicy.from_route(unset_retry_on, istio=IstioVersion(23)).retriable_status(503, {})


def test_previous_hosts_predicate_by_version():
    """Before 1.23 every route gets the previous-hosts predicate; 1.23-1.25 drop it
    for hashing routes whatever the VirtualService says; from 1.26
    `retryIgnorePreviousHosts` is honoured (istio#55239)."""
    explicit = HTTPRetry.model_validate({"attempts": 2, "retryIgnorePreviousHosts": True})
    assert RetryPolicy.from_route(None, True, IstioVersion(22)).ignore_previous_hosts is True
    assert RetryPolicy.from_route(explicit, True, IstioVersion(25)).ignore_previous_hosts is False
    assert RetryPolicy.from_route(explicit, True, IstioVersion(26)).ignore_previous_hosts is True


def test_reset_before_request_needs_1_23():
    """pilot accepts `reset-before-request` from 1.23 (istio#52032)."""
    rbr = HTTPRetry.model_validate({"attempts": 2, "retryOn": "reset-before-request"})
    assert RetryPolicy.from_route(rbr, istio=IstioVersion(23)).retriable_failure(Failure.CONNECT)
    assert not RetryPolicy.from_route(rbr, istio=IstioVersion(22)).retriable_failure(Failure.CONNECT)


@pytest.mark.parametrize("text", ["2.0", "1.x", "1", "1.30.1"])
def test_istio_version_text_is_1_dot_minor(text):
    with pytest.raises(ValueError, match="1.<minor>"):
        IstioVersion.parse(text)
