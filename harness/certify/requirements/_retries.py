"""Retry policy of the catch-all route, seen from the client: engines answer
a share of requests with an error status, and the records say which answers
the mesh retried (the attempts it reports) and what reached the client."""

from __future__ import annotations

import pandas as pd

from harness.certify.context import RunContext
from harness.certify.traffic import Probe, send
from harness.chaos.actions import error_rate, rollback_all

__all__ = ["with_engine_errors", "ENGINES"]

# every pod the catch-all route can reach, in every region: outlier ejection
# (of this or an earlier run) or locality failover can then never steer the
# probe traffic around the fault
ENGINES = "app=llm-chat,pool=standard"
REQUESTS = 150


def with_engine_errors(ctx: RunContext, status: int, rate: float) -> pd.DataFrame:
    configuration = {**ctx.chaos_configuration, "harness_max_blast_percent": 100}
    try:
        error_rate(ENGINES, rate=rate, status=status, percent=100, configuration=configuration)
        return send(ctx.gateway, [Probe()] * REQUESTS, concurrency=8)
    finally:
        rollback_all(configuration)
