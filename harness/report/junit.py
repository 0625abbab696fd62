"""`junit.xml` from a run summary: one testcase per requirement; a failed
requirement is a <failure>, an inconclusive one an <error> (it could not be
judged), a not-applicable one <skipped>."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

__all__ = ["write_junit"]


def write_junit(run_dir: Path, summary: dict[str, Any]) -> Path:
    reqs = summary["requirements"]
    suite = ET.Element("testsuite", {
        "name": f"certify-{summary['profile']}", "tests": str(len(reqs)),
        "failures": str(summary["counts"]["fail"]), "errors": str(summary["counts"]["inconclusive"]),
        "skipped": str(summary["counts"]["not-applicable"]), "time": f"{summary['duration_s']:.3f}"})
    for r in reqs:
        case = ET.SubElement(suite, "testcase", {"classname": f"{r['kind']}.{r['feature']}", "name": r["id"],
                                                 "time": f"{r['duration_s']:.3f}"})
        detail = "\n".join(f"{c['verdict']}: {c['name']}: {c['reason']}" for c in r["checks"])
        detail += f"\nrerun: {r['rerun']}"
        if r["verdict"] == "fail":
            ET.SubElement(case, "failure", {"message": r["reason"]}).text = detail
        elif r["verdict"] == "inconclusive":
            ET.SubElement(case, "error", {"message": f"inconclusive: {r['reason']}"}).text = detail
        elif r["verdict"] == "not-applicable":
            ET.SubElement(case, "skipped", {"message": r["reason"]})
        ET.SubElement(case, "system-out").text = detail
    suites = ET.Element("testsuites")
    suites.append(suite)
    path = run_dir / "junit.xml"
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return path
