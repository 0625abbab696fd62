"""Envoy's outlier detection as Istio configures it. Pure: time is passed in.

- A host is ejected after `consecutive5xxErrors` 5xx in a row (Envoy's default
  of 5 when the field is unset, as Istio leaves it) or `consecutiveGatewayErrors`
  502/503/504 in a row (off unless set). Connect failures, resets and timeouts
  count as both (Istio does not split local-origin errors).
- An ejection lasts `baseEjectionTime` times the host's ejection count, capped
  at max(300 s, base), and ends at the first `interval` tick after that.
  Each tick a host spends un-ejected lowers its count by one.
- No ejection that would take the ejected share above `maxEjectionPercent`
  (Istio's default 10 %: with fewer than 10 hosts nothing is ever ejected).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.istio.base import seconds
from harness.istio.destination_rule import OutlierDetection

__all__ = ["OutlierSettings", "OutlierDetector", "HostOutlierState", "is_gateway_error"]

GATEWAY_ERRORS = frozenset({502, 503, 504})


def is_gateway_error(status: int) -> bool:
    return status in GATEWAY_ERRORS


@dataclass(frozen=True)
class OutlierSettings:
    consecutive_5xx: int = 5
    consecutive_gateway: int = 0  # 0: off
    interval_s: float = 10.0
    base_ejection_s: float = 30.0
    max_ejection_percent: int = 10
    min_health_percent: int = 0

    @classmethod
    def from_policy(cls, od: OutlierDetection) -> OutlierSettings:
        return cls(
            consecutive_5xx=5 if od.consecutive5xxErrors is None else od.consecutive5xxErrors,
            consecutive_gateway=od.consecutiveGatewayErrors or 0,
            interval_s=seconds(od.interval, 10.0) or 10.0,
            base_ejection_s=seconds(od.baseEjectionTime, 30.0) or 30.0,
            max_ejection_percent=10 if od.maxEjectionPercent is None else od.maxEjectionPercent,
            min_health_percent=od.minHealthPercent or 0,
        )


@dataclass
class HostOutlierState:
    consecutive_5xx: int = 0
    consecutive_gateway: int = 0
    ejections: int = 0  # Envoy's multiplier
    ejected_at: float | None = None

    @property
    def ejected(self) -> bool:
        return self.ejected_at is not None


@dataclass
class OutlierDetector:
    settings: OutlierSettings
    hosts: dict[str, HostOutlierState] = field(default_factory=dict)
    ejections_total: int = 0
    # kept in step with each host's ejected_at, so the request path reads a set
    # instead of scanning every host
    _ejected: set[str] = field(default_factory=set)

    def sync_hosts(self, names: list[str]) -> None:
        """Hosts that left the cluster drop their state; new ones start clean."""
        keep = set(names)
        for gone in [h for h in self.hosts if h not in keep]:
            del self.hosts[gone]
            self._ejected.discard(gone)
        for n in names:
            self.hosts.setdefault(n, HostOutlierState())

    def ejected(self) -> set[str]:
        """The ejected hosts (the detector's own set: read it, do not change it)."""
        return self._ejected

    def record(self, host: str, status: int | None, now: float) -> bool:
        """Record one upstream outcome (`None`: connect failure, reset or timeout).
        Returns True when this outcome ejected the host."""
        st = self.hosts.setdefault(host, HostOutlierState())
        failed_5xx = status is None or status >= 500
        failed_gw = status is None or is_gateway_error(status)
        st.consecutive_5xx = st.consecutive_5xx + 1 if failed_5xx else 0
        st.consecutive_gateway = st.consecutive_gateway + 1 if failed_gw else 0
        if st.ejected:
            return False
        s = self.settings
        trip = (s.consecutive_5xx and st.consecutive_5xx >= s.consecutive_5xx) or \
               (s.consecutive_gateway and st.consecutive_gateway >= s.consecutive_gateway)
        if not trip:
            return False
        st.consecutive_5xx = st.consecutive_gateway = 0
        ejected_after = len(self.ejected()) + 1
        if 100.0 * ejected_after / max(1, len(self.hosts)) > s.max_ejection_percent:
            return False
        st.ejections += 1
        st.ejected_at = now
        self._ejected.add(host)
        self.ejections_total += 1
        return True

    def ejection_duration(self, st: HostOutlierState) -> float:
        base = self.settings.base_ejection_s
        return min(base * st.ejections, max(300.0, base))

    def tick(self, now: float) -> list[str]:
        """One `interval` timer tick: end due ejections, decay multipliers.
        Returns the hosts brought back."""
        back = []
        for name, st in self.hosts.items():
            if st.ejected:
                assert st.ejected_at is not None
                if now >= st.ejected_at + self.ejection_duration(st):
                    st.ejected_at = None
                    # Envoy's unejectHost: counts from before the ejection (requests
                    # still in flight then) must not re-eject on a few new errors
                    st.consecutive_5xx = st.consecutive_gateway = 0
                    self._ejected.discard(name)
                    back.append(name)
            elif st.ejections > 0:
                st.ejections -= 1
        return back
