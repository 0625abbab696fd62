"""Certification runs made from fixture data, written to disk exactly as
`harness certify` writes them (summary.json, evidence, timelines, allure
results, summary.html), for the report tests: no stack, no load, seconds.

One run holds two conformance requirements and one resilience requirement
(a pod kill under load with its fault journal, records and ready replicas)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from harness.certify.context import Evidence, RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.runner import RequirementResult
from harness.certify.slo import load_slo
from harness.chaos.journal import Entry
from harness.load.records import records_frame
from harness.report.allure import write_allure_results
from harness.report.capture import write_timeline
from harness.report.html import write_summary_html
from harness.report.junit import write_junit
from harness.report.summary import RunInfo, build_summary, write_summary
from harness.verdict import Check, Verdict, combine

POD_KILL = "resilience.pod-kill"
CANARY = "routing.canary-split"
REGION = "routing.header-region"
FAULT_AT = 10.0  # seconds into the pod-kill requirement
LOAD_S = 40.0
KILLED = "llm-chat-v1-us-east-0"


def _req(rid: str, feature: str, kind: str = "conformance", thresholds: dict[str, Threshold] | None = None
         ) -> Requirement:
    return Requirement(id=rid, title=f"the promise {rid}", feature=feature, profiles=frozenset({"smoke", "full"}),
                       observes=("served-by",), thresholds=thresholds or {}, timeouts={},
                       broken=BrokenMesh("a rule removed", "VirtualService", "llm-chat", lambda o: o),
                       run=lambda ctx: [], kind=kind)  # type: ignore[arg-type]


class _Replicas:
    """Prometheus' answer to the ready-replicas range query, from fixture samples."""

    def __init__(self, series: dict[str, list[tuple[float, float]]]) -> None:
        self.series = series

    def range(self, query: str, start: float, end: float, step_s: float = 1.0
              ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        return [({"deployment": k}, [p for p in v if start <= p[0] <= end]) for k, v in self.series.items()]


def _records(t0: float, outage_s: float, ttft_s: float) -> pd.DataFrame:
    rows = []
    for i in range(int(LOAD_S * 10)):
        t = t0 + i * 0.1
        broken = FAULT_AT <= t - t0 < FAULT_AT + outage_s
        rows.append({"start": datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds"),
                     "scenario": "chat_stream", "api": "chat", "stream": True, "model_requested": "llama-3-8b",
                     "tier": "standard", "status": 503 if broken else 200, "ok": not broken,
                     "error_kind": "http" if broken else None, "ttft_s": None if broken else ttft_s + (i % 7) * 0.005,
                     "served_model": None if broken else "llama-3-8b",
                     "served_region": None if broken else ("us-east" if i % 10 else "us-west"),
                     # the pod killed at FAULT_AT served a third of the traffic before it
                     "served_pod": None if broken else (KILLED if i % 3 == 0 and t - t0 < FAULT_AT else "v1-b"),
                     "served_subset": None if broken else ("v2" if i % 5 == 0 else "v1")})
    return records_frame(rows)


def make_run(reports: Path, run_id: str, started: float, *, outage_s: float = 0.0, recover_s: float = 6.0,
             ttft_s: float = 0.08, canary: Verdict = Verdict.PASS, target: str = "local") -> Path:
    """A run under `reports/run_id`; `outage_s` of failed requests after the
    kill make the pod-kill requirement fail, `canary` sets the split's verdict."""
    run_dir = reports / run_id
    run_dir.mkdir(parents=True)
    slo = load_slo()
    results = []
    for i, (rid, verdict, share) in enumerate([(CANARY, canary, 0.2 if canary is Verdict.PASS else 0.5),
                                               (REGION, Verdict.PASS, 1.0)]):
        t = started + i * 5
        checks = [Check(rid, "availability", Verdict.PASS, 1.0, 0.99, "", "1 is >= 0.99"),
                  Check(rid, "v2 share" if rid == CANARY else "share served by region eu-west", verdict, share,
                        "[0.13, 0.27]" if rid == CANARY else 1.0, "",
                        f"{share:g} is {'' if verdict is Verdict.PASS else 'not '}within the band")]
        results.append(RequirementResult(_req(rid, "traffic-splitting" if rid == CANARY else "content-routing"),
                                         verdict, checks, t, 4.2))
    t0 = started + 10
    requirement = _req(POD_KILL, "resilience", "resilience",
                       {"availability": Threshold(0.99, "ratio", slo="chat.availability"),
                        "recover": Threshold(30.0, "s", slo="chat.max_time_to_recover")})
    evidence = Evidence(run_dir, POD_KILL)
    records = _records(t0, outage_s, ttft_s)
    csv = evidence.records("records", records)
    kill = t0 + FAULT_AT
    entry = Entry(action="kill_pods", target={"harness_target": target},
                  params={"selector": "app=llm-chat,version=v1,pool=standard,region=us-east", "pods": [KILLED]},
                  undo={"op": "none", "args": {}}, state="rolled_back", created=kill - 0.01, started_at=kill,
                  confirmed_at=kill + 0.2, undo_started_at=kill + 0.3, ended_at=kill + recover_s)
    journal = evidence.dir / "journal.jsonl"
    journal.write_text(json.dumps(asdict(entry)) + "\n")
    evidence.attach(journal)
    after = records[(pd.to_datetime(records["start"]).map(lambda s: s.timestamp()) > kill + 0.5)]
    availability = float(after["ok"].mean())
    checks = [Check.judge(POD_KILL, "availability of requests started after the kill", availability, ">=", 0.99,
                          evidence=(csv,)),
              Check.judge(POD_KILL, "time until the pod is ready again", recover_s, "<=", 30.0, "s")]
    result = RequirementResult(requirement, combine(c.verdict for c in checks), checks, t0, LOAD_S + 1,
                               list(evidence.files))
    replicas = _Replicas({"llm-chat-v1-us-east": [(t0 + s, 2.0 if not kill <= t0 + s < kill + recover_s else 1.0)
                                                  for s in range(0, int(LOAD_S) + 1)],
                          "llm-chat-v2-us-east": [(t0 + s, 1.0) for s in range(0, int(LOAD_S) + 1)]})
    ctx = RunContext(requirement, None, target, "", None, replicas, slo, evidence,  # type: ignore[arg-type]
                     {"harness_namespace": "llm"})
    result.evidence += write_timeline(ctx, result)
    results.append(result)
    info = RunInfo(run_id, target, "smoke", started, t0 + LOAD_S + 2, ["harness", "certify", "--target", target])
    summary = build_summary(info, results)
    write_summary(run_dir, summary)
    write_junit(run_dir, summary)
    write_allure_results(run_dir, summary)
    write_summary_html(run_dir, summary)
    return run_dir


def read_summary(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    return data
