"""The two observation sources: per-request attribution the mesh stamps on
responses (local stack), and the mesh's own telemetry in Prometheus (both
targets)."""

from __future__ import annotations

from typing import Literal, Protocol

import pandas as pd

from harness.observe.prometheus import PromClient, PromError

__all__ = ["Observations", "HeaderObservations", "PrometheusObservations", "DESTINATION_LABELS", "Dimension"]

Dimension = Literal["version", "region", "service", "workload", "subset", "pod"]
# the record column and the istio_requests_total label that answer each dimension
DESTINATION_LABELS: dict[str, tuple[str, str]] = {
    "version": ("served_version", "destination_version"),
    "region": ("served_region", "destination_cluster"),
    "service": ("served_service", "destination_service_name"),
    "workload": ("served_workload", "destination_workload"),  # the pod's Deployment
    "subset": ("served_subset", ""),  # a mesh-side name: not in the telemetry
    "pod": ("served_pod", ""),  # telemetry has no per-pod label (only the workload)
}


class Observations(Protocol):
    """What requirements may ask; None means the source cannot tell."""

    name: str

    def shares(self, records: pd.DataFrame, by: Dimension, service: str,
               start: float, end: float) -> dict[str, float] | None:
        """Share of `service`'s successful requests per destination `by`, for the
        requests in `records` (sent between `start` and `end`, epoch seconds)."""
        ...

    def request_count(self, service: str, start: float, end: float, reporter: str = "source",
                      response_flag: str | None = None) -> float | None:
        """How many requests the mesh reports for `service` in the window, as
        `reporter` saw them (mirrored requests are reported only by the
        receiving sidecar: reporter="destination", istio#23496); with
        `response_flag`, only those whose Envoy response flags include it
        (e.g. "DI": the fault filter delayed the request)."""
        ...

    def per_request(self, records: pd.DataFrame, by: Dimension) -> pd.Series | None:
        """Who served each request (aligned with `records`), when the source knows."""
        ...


class PrometheusObservations:
    """The mesh's telemetry: `istio_requests_total` by destination labels,
    the same PromQL on a cluster and on the local stack."""

    name = "prometheus"

    def __init__(self, prom: PromClient, reporter: str = "source") -> None:
        self.prom = prom
        self.reporter = reporter

    def _counts(self, service: str, label: str, at: float) -> dict[str, float]:
        q = (f'sum by ({label}) (istio_requests_total{{reporter="{self.reporter}",'
             f'destination_service_name="{service}",response_code=~"2.."}})')
        return {m.get(label, ""): v for m, v in self.prom.instant(q, at)}

    def shares(self, records: pd.DataFrame, by: Dimension, service: str,
               start: float, end: float) -> dict[str, float] | None:
        label = DESTINATION_LABELS[by][1]
        if not label:
            return None
        try:
            self.prom.wait_for_scrape_after(end)
            before = self._counts(service, label, start - 0.5)
            after = self._counts(service, label, end + 2.0)
        except PromError:
            return None
        delta = {k: v - before.get(k, 0.0) for k, v in after.items()}
        total = sum(v for v in delta.values() if v > 0)
        if total <= 0:
            return None
        return {k: v / total for k, v in delta.items() if v > 0}

    def request_count(self, service: str, start: float, end: float, reporter: str = "source",
                      response_flag: str | None = None) -> float | None:
        # Envoy joins several flags with commas ("DI,UF"): match the flag as one of them
        flag = f',response_flags=~"(.*,)?{response_flag}(,.*)?"' if response_flag else ""
        q = f'sum(istio_requests_total{{reporter="{reporter}",destination_service_name="{service}"{flag}}})'
        try:
            self.prom.wait_for_scrape_after(end)
            before = self.prom.instant(q, start - 0.5)
            after = self.prom.instant(q, end + 2.0)
            if not after:
                # no series for the service: zero requests only if the mesh's telemetry is there at all
                alive = self.prom.instant("count(istio_requests_total)", end + 2.0)
                return 0.0 if alive else None
        except PromError:
            return None
        return after[0][1] - (before[0][1] if before else 0.0)

    def per_request(self, records: pd.DataFrame, by: Dimension) -> pd.Series | None:
        return None  # telemetry is aggregated: it cannot say who served one request


class HeaderObservations(PrometheusObservations):
    """The local stack: per-request attribution from the mesh's response
    header (already in the records), mesh counts from Prometheus."""

    name = "local"

    def shares(self, records: pd.DataFrame, by: Dimension, service: str,
               start: float, end: float) -> dict[str, float] | None:
        mine = records["ok"].astype(bool) & (records["served_service"] == service)
        if not mine.any():
            return None
        served = self.per_request(records, by)
        assert served is not None
        counts = served[mine].fillna("").astype(str).value_counts()
        return {str(k): float(v) / int(mine.sum()) for k, v in counts.items()}

    def per_request(self, records: pd.DataFrame, by: Dimension) -> pd.Series | None:
        if by == "workload":
            # local pods are named <deployment>-<ordinal>
            return records["served_pod"].str.replace(r"-\d+$", "", regex=True)
        return records[DESTINATION_LABELS[by][0]]
