"""summary.html and the Allure results of runs built from fixture data."""

import json
import re
from pathlib import Path

from report_runs import CANARY, POD_KILL, REGION, make_run, read_summary

from harness.report.allure import fault_steps
from harness.report.html import summary_html
from harness.verdict import Verdict


def _rows(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr data-requirement="([^"]+)" data-verdict="([^"]+)">', page)


def test_failing_run_lists_the_broken_promises_first_with_rerun_and_plot(tmp_path: Path) -> None:
    run = make_run(tmp_path, "run-bad", 1.78e9, outage_s=3.0, canary=Verdict.FAIL)
    page = (run / "summary.html").read_text()
    assert _rows(page) == [(POD_KILL, "fail"), (CANARY, "fail"), (REGION, "pass")]
    broken = page[page.index('class="broken"'):page.index("<h2>Features")]
    assert f'data-broken="{POD_KILL}"' in broken and f'data-broken="{REGION}"' not in broken
    assert f"harness certify --target local --requirement {POD_KILL}" in broken
    assert "off by" in broken and "fault: kill_pods" in broken  # by how much, and when
    # one plot, for the resilience requirement, inline SVG with its fault window and SLO line as text
    plots = re.findall(r'data-plot="([^"]+)"><svg', page)
    assert plots == [POD_KILL]
    svg = page[page.index('data-plot="'):]
    assert "SLO 0.99" in svg and "recovered" in svg and "share by" in svg and "ready" in svg
    assert "<script" not in page and not re.search(r'(src|href)="https?:', page)


def test_passing_run_says_every_promise_kept(tmp_path: Path) -> None:
    run = make_run(tmp_path, "run-good", 1.78e9)
    summary = read_summary(run)
    assert summary["exit_code"] == 0
    page = (run / "summary.html").read_text()
    assert "Every promise kept" in page and 'class="broken"' not in page
    timeline = json.loads((run / f"evidence/{POD_KILL}/timeline.json").read_text())
    assert timeline["slo"] == {"availability": 0.99, "ttft_p95_ms": 1000.0}
    assert timeline["figures"]["time_to_recover_s"] == 6.0


def test_titles_are_escaped(tmp_path: Path) -> None:
    summary = read_summary(make_run(tmp_path, "run-x", 1.78e9))
    summary["requirements"][0]["title"] = "<img src=x onerror=alert(1)>"
    assert "<img src=x" not in summary_html(summary, {})


def test_allure_results_tell_the_faults_life_and_attach_the_plot_first(tmp_path: Path) -> None:
    run = make_run(tmp_path, "run-a", 1.78e9, outage_s=3.0)
    results = {r["fullName"]: r for r in (json.loads(p.read_text())
                                          for p in (run / "allure-results").glob("*-result.json"))}
    kill = results[POD_KILL]
    names = [s["name"] for s in kill["steps"]]
    assert names[0].startswith("steady state") and names[1].startswith("fault injected: kill_pods")
    assert names[2] == "fault confirmed in effect" and names[3] == "rolled back"
    assert names[4].startswith("availability of requests started after the kill")
    assert [s["status"] for s in kill["steps"]][:4] == ["passed"] * 4
    assert kill["attachments"][0]["type"] == "image/svg+xml"
    assert {a["name"] for a in kill["attachments"]} >= {"records.csv", "journal.jsonl", "timeline.svg"}
    labels = {(lab["name"], lab["value"]) for lab in kill["labels"]}
    assert {("epic", "resilience"), ("feature", "resilience"), ("story", POD_KILL)} <= labels
    environment = (run / "allure-results" / "environment.properties").read_text().splitlines()
    assert "run=run-a" in environment and "target=local" in environment and "profile=smoke" in environment
    assert [s["name"] for s in results[CANARY]["steps"]] == ["availability: observed 1 vs 0.99",
                                                             "v2 share: observed 0.2 vs [0.13, 0.27]"]


def test_a_fault_not_rolled_back_is_a_broken_step() -> None:
    steps = fault_steps(1.0, [{"action": "region_outage", "params": {}, "state": "injected", "created": 2.0,
                               "updated": 3.0, "started_at": 2.0, "confirmed_at": None}])
    assert [(s["name"], s["status"]) for s in steps] == [
        ("steady state (load running, no fault)", "passed"), ("fault injected: region_outage {}", "passed"),
        ("fault confirmed in effect", "skipped"), ("rolled back", "broken")]
