"""Region outage under load: when every pod of the primary region (us-east)
goes down, traffic fails over to us-west (the configured next locality, not
eu-west) within the failover SLO; when the region comes back, traffic fails
back to us-east within the recovery SLO."""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd

from harness.analysis.timing import time_to_shift
from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.requirements._resilience import fault_under_load, load_summary
from harness.chaos.actions import region_outage
from harness.verdict import Check, Verdict

USERS = 8
CONSECUTIVE = 10  # "moved" = this many successful requests in a row served there


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    with fault_under_load(ctx, "chat_stream", USERS, ctx.timeout("load"), ctx.timeout("warmup")) as (run, rollback):
        region_outage("us-east", "kill", configuration=ctx.chaos_configuration)
        time.sleep(ctx.timeout("outage"))
        rollback()
    regions = ctx.observations.per_request(run.records, "region")
    ctx.evidence.json("load", load_summary(run))
    if regions is None:
        return [Check(rid, "failover", Verdict.NOT_APPLICABLE, None, None, "",
                      f"the {ctx.observations.name} source cannot attribute single requests to regions",
                      run.evidence)]
    records = run.records.assign(served_region=regions)
    assert run.fault_end is not None
    failover = time_to_shift(records, run.fault_start, "served_region", lambda s: s == "us-west", CONSECUTIVE)
    failback = time_to_shift(records, run.fault_end, "served_region", lambda s: s == "us-east", CONSECUTIVE)
    # enough traffic and still no sustained shift: it never happened (a failure), not a missing figure
    outage = records[(records["t"] > run.fault_start) & (records["t"] < run.fault_end)]
    after = records[records["t"] > run.fault_end]
    if failover is None and len(outage) >= 3 * CONSECUTIVE:
        failover = math.inf
    if failback is None and len(after) >= 3 * CONSECUTIVE:
        failback = math.inf
    settled = run.fault_start + (failover if failover is not None and math.isfinite(failover) else 0.0)
    ctx.mark("failed over to us-west", None if failover is None else run.fault_start + failover)
    ctx.mark("failed back to us-east", None if failback is None else run.fault_end + failback)
    during = records[(records["t"] > settled) & (records["t"] < run.fault_end) & records["ok"].astype(bool)]
    wrong = float((during["served_region"] == "eu-west").mean()) if len(during) else None
    ctx.evidence.json("regions", {"failover_s": failover, "failback_s": failback, "eu_west_share": wrong,
                                  "per_region": _counts(records)})
    return [
        Check.judge(rid, "time to fail over to us-west", failover, "<=", ctx.threshold("failover"), "s",
                    evidence=run.evidence),
        Check.judge(rid, "share served by eu-west while us-west was up", wrong, "<=", 0.0, "",
                    samples=len(during), min_samples=CONSECUTIVE, evidence=run.evidence),
        Check.judge(rid, "time to fail back to us-east", failback, "<=", ctx.threshold("failback"), "s",
                    evidence=run.evidence),
    ]


def _counts(records: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in records["served_region"].fillna("").value_counts().items()}


def _skip_us_west(dr: dict[str, Any]) -> dict[str, Any]:
    dr["spec"]["trafficPolicy"]["loadBalancer"]["localityLbSetting"]["failover"] = [
        {"from": "us-east", "to": "eu-west"}]
    return dr


REQUIREMENT = Requirement(
    id="resilience.region-outage",
    title="Region outage: us-east fails over to us-west within the SLO, then fails back",
    feature="locality-failover",
    kind="resilience",
    profiles=frozenset({"full"}),
    why_not_smoke="a 40 s fault under load",
    observes=("served-by", "fault-window"),
    thresholds={"failover": Threshold(15.0, "s", slo="chat-failover.max_time_to_failover"),
                "failback": Threshold(60.0, "s", slo="chat-failover.max_time_to_recover")},
    timeouts={"load": 40.0, "warmup": 6.0, "outage": 14.0},
    broken=BrokenMesh("locality failover us-east -> eu-west (us-west skipped)", "DestinationRule", "llm-chat",
                      _skip_us_west),
    run=run,
    peak_streams=USERS,
    weight=3,
)
