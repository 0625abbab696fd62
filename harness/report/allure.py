"""`allure-results/` from a run summary, in Allure's result-file format: one
result per requirement with epic (conformance / resilience), feature and
story (the requirement id) labels; steps telling the fault's life from its
journal (steady state, fault injected, fault confirmed, rolled back) and then
one step per check; the evidence (plot, records CSV, PromQL with its result,
fault journal) attached."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from harness.report.evidence import journal_entries
from harness.report.figures import figure_text

__all__ = ["write_allure_results", "fault_steps"]

_STATUS = {"pass": "passed", "fail": "failed", "inconclusive": "broken", "not-applicable": "skipped"}
_TYPES = {".csv": "text/csv", ".json": "application/json", ".jsonl": "application/json", ".txt": "text/plain",
          ".svg": "image/svg+xml", ".png": "image/png", ".html": "text/html"}


def _ms(epoch: float | None) -> int | None:
    return None if epoch is None else int(epoch * 1000)


def _step(name: str, status: str, start: float | None, stop: float | None, message: str = "") -> dict[str, Any]:
    step: dict[str, Any] = {"name": name, "status": status, "stage": "finished", "start": _ms(start),
                            "stop": _ms(stop if stop is not None else start)}
    if message:
        step["statusDetails"] = {"message": message}
    return step


def fault_steps(requirement_start: float, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fault's life as Allure steps, from fault-journal entries (dicts, oldest first)."""
    injected = [e for e in entries if e.get("state") not in ("planned", "dry_run")]
    if not injected:
        return []
    first = min(e.get("started_at") or e["created"] for e in injected)
    steps = [_step("steady state (load running, no fault)", "passed", requirement_start, first)]
    for e in injected:
        what = f"{e['action']} {json.dumps(e.get('params', {}), sort_keys=True)}"
        start = e.get("started_at") or e["created"]
        failed = e.get("state") == "failed"
        steps.append(_step(f"fault injected: {what}", "failed" if failed else "passed", start,
                           e.get("confirmed_at") or start, e.get("note", "") if failed else ""))
        if e.get("confirmed_at") is not None:
            steps.append(_step("fault confirmed in effect", "passed", e["confirmed_at"], e["confirmed_at"]))
        else:
            steps.append(_step("fault confirmed in effect", "skipped", start, start, "the journal has no confirmation"))
        state = e.get("state")
        if state == "rolled_back":
            steps.append(_step("rolled back", "passed", e.get("undo_started_at") or e.get("updated"),
                               e.get("ended_at") or e.get("updated")))
        elif state == "rollback_failed":
            steps.append(_step("rolled back", "failed", e.get("undo_started_at"), e.get("ended_at"),
                               e.get("note", "the rollback failed")))
        else:
            steps.append(_step("rolled back", "broken", e.get("updated"), e.get("updated"),
                               f"not rolled back (journal state {state}); 'harness chaos rollback' replays it"))
    return steps


# Allure's categories in the certification's words: a failed test is a broken
# promise, a broken one could not be judged
CATEGORIES = [{"name": "Broken promises (fail)", "matchedStatuses": ["failed"]},
              {"name": "Could not be judged (inconclusive)", "matchedStatuses": ["broken"]}]


def _environment(summary: dict[str, Any]) -> str:
    shown = {"run": summary["run_id"], "target": summary["target"], "profile": summary["profile"],
             "score": summary.get("score"), "istio": ", ".join(summary.get("istio") or []) or "reference",
             "slo": summary.get("slo") or "reference", "duration_scale": summary.get("duration_scale", 1.0)}
    # .properties: one key=value a line; backslashes and line breaks would change the meaning
    return "".join(f"{k}={str(v).replace(chr(92), '/').replace(chr(10), ' ')}\n" for k, v in shown.items())


def write_allure_results(run_dir: Path, summary: dict[str, Any]) -> Path:
    out = run_dir / "allure-results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "environment.properties").write_text(_environment(summary))
    (out / "categories.json").write_text(json.dumps(CATEGORIES, indent=2))
    for r in summary["requirements"]:
        uid = str(uuid.uuid4())
        start_ms = int(r["started"] * 1000)
        attachments = []
        # the plot first: Allure shows the first attachment opened
        for i, rel in enumerate(sorted(r["evidence"], key=lambda p: not p.endswith(".svg"))):
            src = run_dir / rel
            if not src.is_file():
                continue
            name = f"{uid}-{i}-attachment{src.suffix}"
            shutil.copyfile(src, out / name)
            attachments.append({"name": src.name, "source": name, "type": _TYPES.get(src.suffix, "text/plain")})
        steps = fault_steps(r["started"], journal_entries(run_dir, r["evidence"]))
        stop = r["started"] + r["duration_s"]
        steps += [_step(f"{c['name']}: observed {figure_text(c['observed'], c['unit'])} vs "
                        f"{figure_text(c['threshold'], c['unit'])}",
                        _STATUS[c["verdict"]], stop, stop, c["reason"]) for c in r["checks"]]
        result = {
            "uuid": uid, "historyId": hashlib.md5(r["id"].encode()).hexdigest(), "testCaseId": r["id"],
            "name": r["title"], "fullName": r["id"], "status": _STATUS[r["verdict"]], "stage": "finished",
            "statusDetails": {"message": r["reason"], "trace": f"rerun: {r['rerun']}"},
            "start": start_ms, "stop": start_ms + int(r["duration_s"] * 1000),
            "labels": [{"name": "epic", "value": r["kind"]}, {"name": "feature", "value": r["feature"]},
                       {"name": "story", "value": r["id"]}, {"name": "suite", "value": r["kind"]},
                       {"name": "subSuite", "value": r["feature"]},
                       {"name": "framework", "value": "llm-mesh-harness"}],
            "parameters": [{"name": "target", "value": summary["target"]},
                           {"name": "profile", "value": summary["profile"]}],
            "description": f"Broken mesh that must fail this requirement: {r['broken_mesh']}",
            "steps": steps, "attachments": attachments,
        }
        (out / f"{uid}-result.json").write_text(json.dumps(result, indent=2))
    return out
