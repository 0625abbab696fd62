"""The observation interface: what a requirement may ask about the mesh,
independent of where the answer comes from.

A requirement never reads a local-only signal (such as the local mesh's
`x-mesh-upstream` header) directly: it asks an `Observations`, and the target
supplies one. The local stack answers who served a request from that header;
a cluster answers from Prometheus (`istio_requests_total` by destination
labels over the request window), with the same PromQL as the local stack's
Prometheus. Every answer may be None: "cannot tell", which makes a verdict
inconclusive, never a pass.
"""

from harness.observe.sources import (
    DESTINATION_LABELS,
    HeaderObservations,
    Observations,
    PrometheusObservations,
)

__all__ = ["Observations", "HeaderObservations", "PrometheusObservations", "DESTINATION_LABELS"]
