"""`allure-results/` from a run summary, in Allure's result-file format: one
result per requirement with epic (conformance / resilience), feature and
story (the requirement id) labels, one step per check, and the evidence
(records CSV, PromQL with its result, fault journals) attached."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

__all__ = ["write_allure_results"]

_STATUS = {"pass": "passed", "fail": "failed", "inconclusive": "broken", "not-applicable": "skipped"}
_TYPES = {".csv": "text/csv", ".json": "application/json", ".jsonl": "application/json", ".txt": "text/plain",
          ".svg": "image/svg+xml", ".png": "image/png", ".html": "text/html"}


def write_allure_results(run_dir: Path, summary: dict[str, Any]) -> Path:
    out = run_dir / "allure-results"
    out.mkdir(parents=True, exist_ok=True)
    for r in summary["requirements"]:
        uid = str(uuid.uuid4())
        start_ms = int(r["started"] * 1000)
        attachments = []
        for i, rel in enumerate(r["evidence"]):
            src = run_dir / rel
            if not src.is_file():
                continue
            name = f"{uid}-{i}-attachment{src.suffix}"
            shutil.copyfile(src, out / name)
            attachments.append({"name": src.name, "source": name, "type": _TYPES.get(src.suffix, "text/plain")})
        steps = [{"name": f"{c['name']}: observed {c['observed']} {c['unit']} vs {c['threshold']}".strip(),
                  "status": _STATUS[c["verdict"]], "stage": "finished",
                  "statusDetails": {"message": c["reason"]}, "start": start_ms, "stop": start_ms}
                 for c in r["checks"]]
        result = {
            "uuid": uid, "historyId": hashlib.md5(r["id"].encode()).hexdigest(), "testCaseId": r["id"],
            "name": r["title"], "fullName": r["id"], "status": _STATUS[r["verdict"]], "stage": "finished",
            "statusDetails": {"message": r["reason"], "trace": f"rerun: {r['rerun']}"},
            "start": start_ms, "stop": start_ms + int(r["duration_s"] * 1000),
            "labels": [{"name": "epic", "value": r["kind"]}, {"name": "feature", "value": r["feature"]},
                       {"name": "story", "value": r["id"]}, {"name": "suite", "value": r["kind"]},
                       {"name": "framework", "value": "llm-mesh-harness"}],
            "parameters": [{"name": "target", "value": summary["target"]},
                           {"name": "profile", "value": summary["profile"]}],
            "description": f"Broken mesh that must fail this requirement: {r['broken_mesh']}",
            "steps": steps, "attachments": attachments,
        }
        (out / f"{uid}-result.json").write_text(json.dumps(result, indent=2))
    return out
