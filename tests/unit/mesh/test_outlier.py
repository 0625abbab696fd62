"""Envoy outlier detection as Istio configures it (DestinationRule
trafficPolicy.outlierDetection). Time is passed in explicitly.

Code under test: harness/localstack/mesh/outlier.py.
"""

from __future__ import annotations

from harness.istio.destination_rule import OutlierDetection
from harness.localstack.mesh.outlier import OutlierDetector, OutlierSettings


def detector(n_hosts: int = 10, **kw) -> OutlierDetector:
    """Hosts h0..h{n-1}; maxEjectionPercent 100 unless given, so caps don't interfere."""
    kw.setdefault("max_ejection_percent", 100)
    d = OutlierDetector(OutlierSettings(**kw))
    d.sync_hosts([f"h{i}" for i in range(n_hosts)])
    return d


def fail(d: OutlierDetector, host: str, times: int, status: int | None = 503, now: float = 0.0) -> list[bool]:
    return [d.record(host, status, now) for _ in range(times)]


def eject(d: OutlierDetector, host: str, now: float) -> None:
    """Trip consecutive 5xx for `host` at `now`."""
    assert any(fail(d, host, d.settings.consecutive_5xx, 500, now)), f"{host} was not ejected"


# -- consecutive errors ---------------------------------------------------------

def test_five_consecutive_5xx_eject_by_default():
    """Envoy's consecutive_5xx default is 5; Istio leaves it when consecutive5xxErrors is unset."""
    settings = OutlierSettings.from_policy(OutlierDetection.model_validate({"maxEjectionPercent": 100}))
    assert settings.consecutive_5xx == 5
    d = OutlierDetector(settings)
    d.sync_hosts(["a", "b"])
    assert fail(d, "a", 4, 500) == [False] * 4
    assert "a" not in d.ejected()
    assert d.record("a", 503, 0.0) is True
    assert d.ejected() == {"a"}


def test_success_in_between_resets_the_consecutive_count():
    """Envoy: any non-5xx response resets the consecutive 5xx counter."""
    d = detector()
    fail(d, "h0", 4, 500)
    assert d.record("h0", 200, 0.0) is False
    assert fail(d, "h0", 4, 500) == [False] * 4
    assert d.ejected() == set()
    assert d.record("h0", 500, 0.0) is True


def test_connect_failure_counts_as_5xx():
    """Envoy/Istio (no split of local-origin errors): a connect failure, reset or
    timeout (None) counts as a 5xx."""
    d = detector()
    assert fail(d, "h0", 5, None) == [False, False, False, False, True]


def test_connect_failure_counts_as_gateway_error():
    """Connect failures also count toward consecutiveGatewayErrors."""
    d = detector(consecutive_5xx=0, consecutive_gateway=3)
    assert fail(d, "h0", 3, None) == [False, False, True]


def test_consecutive_gateway_errors_count_only_502_503_504():
    """Envoy consecutive_gateway_failure counts 502/503/504; a 500 is not a gateway
    error and does not count toward it (it interrupts the run)."""
    d = detector(consecutive_5xx=0, consecutive_gateway=3)
    assert fail(d, "h0", 10, 500) == [False] * 10
    assert [d.record("h1", s, 0.0) for s in (502, 500, 503, 504)] == [False] * 4
    assert d.ejected() == set()
    assert [d.record("h2", s, 0.0) for s in (502, 503, 504)] == [False, False, True]
    assert d.ejected() == {"h2"}


def test_gateway_errors_from_policy():
    """OutlierSettings.from_policy maps consecutiveGatewayErrors and durations."""
    od = OutlierDetection.model_validate({"consecutive5xxErrors": 7, "consecutiveGatewayErrors": 2,
                                          "interval": "5s", "baseEjectionTime": "1m", "maxEjectionPercent": 50})
    s = OutlierSettings.from_policy(od)
    assert (s.consecutive_5xx, s.consecutive_gateway, s.interval_s, s.base_ejection_s, s.max_ejection_percent) \
        == (7, 2, 5.0, 60.0, 50)


def test_consecutive_5xx_zero_disables_5xx_detection():
    """Istio: consecutive5xxErrors: 0 disables 5xx-based ejection."""
    s = OutlierSettings.from_policy(OutlierDetection.model_validate({"consecutive5xxErrors": 0,
                                                                     "maxEjectionPercent": 100}))
    d = OutlierDetector(s)
    d.sync_hosts(["a"])
    assert not any(fail(d, "a", 50, 500))


# -- ejection duration ------------------------------------------------------------

def test_ejection_lasts_base_ejection_time():
    """Envoy: the first ejection lasts baseEjectionTime x 1; un-ejection happens
    at the first interval tick at or after that."""
    d = detector(base_ejection_s=30.0)
    eject(d, "h0", now=100.0)
    assert d.tick(110.0) == []
    assert d.tick(129.9) == []
    assert "h0" in d.ejected()
    assert d.tick(130.0) == ["h0"]
    assert d.ejected() == set()


def test_unejection_happens_only_at_tick():
    """Envoy: an ejection that is due is only lifted by the interval timer, never
    by the passing of time alone (or by recording more outcomes)."""
    d = detector(base_ejection_s=30.0)
    eject(d, "h0", now=0.0)
    d.record("h0", 200, 1000.0)
    assert "h0" in d.ejected()
    assert d.tick(1000.0) == ["h0"]


def test_second_ejection_lasts_twice_as_long():
    """Envoy: ejection time = baseEjectionTime x number of ejections."""
    d = detector(base_ejection_s=30.0)
    eject(d, "h0", now=0.0)
    assert d.tick(30.0) == ["h0"]
    eject(d, "h0", now=30.0)  # immediately fails again: multiplier 2
    assert d.tick(89.0) == []
    assert d.tick(90.0) == ["h0"]


def test_ejection_time_is_capped_at_max_of_300s_and_base():
    """Envoy: ejection time is capped at max_ejection_time (300 s default), or at
    baseEjectionTime if that is larger."""
    d = detector(base_ejection_s=100.0)
    st = d.hosts["h0"]
    st.ejections = 10
    assert d.ejection_duration(st) == 300.0
    big = detector(base_ejection_s=400.0)
    big.hosts["h0"].ejections = 3
    assert big.ejection_duration(big.hosts["h0"]) == 400.0


def test_each_healthy_tick_lowers_the_multiplier_by_one():
    """Envoy: each interval a host spends un-ejected decrements its ejection
    multiplier, so a host that recovers gets short ejections again."""
    d = detector(base_ejection_s=30.0)
    eject(d, "h0", now=0.0)
    d.tick(30.0)
    eject(d, "h0", now=30.0)
    assert d.hosts["h0"].ejections == 2
    assert d.tick(90.0) == ["h0"]
    assert d.hosts["h0"].ejections == 2  # the un-ejecting tick does not decrement
    d.tick(100.0)
    assert d.hosts["h0"].ejections == 1
    d.tick(110.0)
    assert d.hosts["h0"].ejections == 0
    d.tick(120.0)
    assert d.hosts["h0"].ejections == 0
    eject(d, "h0", now=120.0)
    assert d.tick(149.0) == [] and d.tick(150.0) == ["h0"]  # back to 1 x base


def test_ejected_host_is_not_ejected_again_while_ejected():
    """Envoy: an ejected host is not re-ejected (no multiplier growth) by errors recorded while it is out."""
    d = detector()
    eject(d, "h0", now=0.0)
    assert not any(fail(d, "h0", 20, 500, now=1.0))
    assert d.ejections_total == 1


def test_unejection_resets_the_consecutive_counts():
    """Envoy outlier_detection_impl.cc `unejectHost`: the consecutive counters are
    reset, so errors recorded while the host was out (in-flight requests) do not
    re-eject it on its first new error."""
    d = detector(consecutive_5xx=5, interval_s=1.0, base_ejection_s=2.0)
    eject(d, "h0", now=0.0)
    fail(d, "h0", 4, 500, now=1.0)  # answers of requests sent before the ejection
    assert d.tick(now=2.0) == ["h0"]
    assert not any(fail(d, "h0", 4, 500, now=2.5))
    assert fail(d, "h0", 1, 500, now=2.6) == [True]


# -- maxEjectionPercent -------------------------------------------------------------

def test_default_max_ejection_percent_ejects_nothing_with_four_hosts():
    """Istio default maxEjectionPercent 10 %: ejecting 1 of 4 hosts (25 %) exceeds
    it, so nothing is ever ejected."""
    d = OutlierDetector(OutlierSettings())
    assert d.settings.max_ejection_percent == 10
    d.sync_hosts(["a", "b", "c", "d"])
    for h in "abcd":
        assert not any(fail(d, h, 20, 503))
    assert d.ejected() == set()


def test_default_max_ejection_percent_from_policy_is_ten():
    """Istio: maxEjectionPercent unset means 10 %."""
    s = OutlierSettings.from_policy(OutlierDetection.model_validate({}))
    assert s.max_ejection_percent == 10


def test_max_ejection_percent_100_ejects_a_single_host():
    """maxEjectionPercent 100: even the only host of a cluster can be ejected."""
    d = OutlierDetector(OutlierSettings(max_ejection_percent=100))
    d.sync_hosts(["only"])
    assert fail(d, "only", 5, 503)[-1] is True
    assert d.ejected() == {"only"}


def test_max_ejection_percent_50_with_four_hosts_ejects_at_most_two():
    """maxEjectionPercent 50 with 4 hosts: at most 2 hosts are ejected at once."""
    d = OutlierDetector(OutlierSettings(max_ejection_percent=50))
    d.sync_hosts(["a", "b", "c", "d"])
    for h in "abcd":
        fail(d, h, 5, 503)
    assert len(d.ejected()) == 2
    assert d.ejected() == {"a", "b"}


def test_sync_hosts_drops_state_of_hosts_that_left():
    """Hosts removed from the cluster lose their outlier state; new hosts start clean."""
    d = detector(n_hosts=3)
    eject(d, "h0", now=0.0)
    fail(d, "h1", 3, 500)
    d.sync_hosts(["h1", "h2", "h3"])
    assert set(d.hosts) == {"h1", "h2", "h3"}
    assert "h0" not in d.ejected()
    assert d.hosts["h1"].consecutive_5xx == 3  # survivors keep their state
    assert d.hosts["h3"].consecutive_5xx == 0 and not d.hosts["h3"].ejected
