"""End to end: `harness load ui` opens Locust's web UI on a streaming profile;
a headless Chromium (Debian's, driven by Playwright) starts a run and reads
what a user reads. The header RPS and the Charts tab's response times describe
requests (the same as the run's records), the token timing rows are there,
and the LLM tab draws its charts over time and offers them as CSV."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from locust_ui import start_load_ui

from harness.localstack.procs import free_port
from harness.localstack.testing import EngineProcess, engine_process, eventually
from harness.stats import percentile

pytestmark = [pytest.mark.integration, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEADY_S = 16.0  # running this long, Locust's 10 s window (ending 2 s back) holds steady traffic only


@dataclass
class UI:
    url: str
    records: Path


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineProcess]:
    with engine_process({"decodeStepMs": 10}, pod="ui-0") as e:
        yield e


@pytest.fixture
def ui(engine: EngineProcess, tmp_path: Path) -> Iterator[UI]:
    port = free_port()
    records = tmp_path / "records.jsonl"
    proc = start_load_ui("--profile", "chat_stream", "--host", engine.url, "-u", "6", "-r", "6",
                         "--records", str(records), port=port)
    try:
        yield UI(f"http://127.0.0.1:{port}", records)
    finally:
        proc.send_signal(signal.SIGTERM)  # the harness stops Locust and waits for it
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _finished(records: Path) -> list[tuple[float, float]]:
    """(finish time, end-to-end seconds) of every request in the records."""
    out = []
    for line in records.read_text().splitlines():
        r = json.loads(line)
        start = datetime.fromisoformat(r["start"]).timestamp()
        out.append((start + r["e2e_s"], r["e2e_s"]))
    return out


def _locust_window(records: Path, now: float) -> list[float]:
    """End-to-end seconds of the requests in Locust's current window: whole
    seconds from 12 s to 2 s before the latest request."""
    done = _finished(records)
    last = int(max(t for t, _ in done if t <= now))
    return [e2e for t, e2e in done if last - 12 <= int(t) < last - 2]


@pytest.mark.slow  # a minute of load read twice through the browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by scripts/setup.sh")
def test_headline_numbers_count_requests_and_the_llm_tab_charts_them(ui: UI) -> None:
    from playwright.sync_api import Response, expect, sync_playwright

    stats_seen: list[dict[str, Any]] = []  # what the page received for its header and Charts tab

    def keep_stats(response: Response) -> None:
        if response.url.split("?")[0].endswith("/stats/requests") and response.ok:
            stats_seen.append(response.json())

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("response", keep_stats)
            page.goto(ui.url)
            page.get_by_role("button", name="Start").click()
            started = time.monotonic()
            expect(page.get_by_role("cell", name="TTFT", exact=True).first).to_be_visible(timeout=30_000)
            expect(page.get_by_role("cell", name="ITL", exact=True).first).to_be_visible(timeout=10_000)
            page.wait_for_timeout(max(0.0, STEADY_S - (time.monotonic() - started)) * 1000)

            # The header: RPS is requests per second, as the records count them.
            header_rps = float(page.locator("#root header").get_by_text("RPS").locator("xpath=..")
                               .inner_text().split()[-1])
            window = _locust_window(ui.records, time.time())
            records_rps = len(window) / 10
            assert records_rps > 2, "too little traffic to compare"
            assert abs(header_rps - records_rps) <= 0.1 * records_rps, (header_rps, records_rps)

            # The Charts tab draws the response times the page receives: end-to-end latency.
            page.get_by_role("tab", name="Charts").click()
            expect(page.locator("canvas").first).to_be_visible(timeout=10_000)
            latest = stats_seen[-1]
            chart_p50_ms = latest["current_response_time_percentiles"]["response_time_percentile_0.5"]
            e2e_p50_ms = percentile(_locust_window(ui.records, time.time()), 0.5) * 1000
            assert abs(chart_p50_ms - e2e_p50_ms) <= 0.15 * e2e_p50_ms, (chart_p50_ms, e2e_p50_ms)
            aggregated = next(s for s in latest["stats"] if s["name"] == "Aggregated")
            posts = sum(s["num_requests"] for s in latest["stats"] if s["method"] == "POST")
            assert aggregated["num_requests"] == posts

            # The LLM tab: its table, and a chart of each figure with data, per user class and tier.
            page.get_by_role("tab", name="LLM").click()
            expect(page.get_by_role("cell", name="chat stream [ChatStream]")).to_be_visible(timeout=15_000)
            charts = page.locator("#llm-charts")
            expect(charts).to_be_visible(timeout=10_000)
            expect(charts.locator("[data-legend='ChatStream (standard)']")).to_be_visible()
            for key in ("requests", "failures", "ttft", "itl", "tokens"):
                lines = charts.locator(f"figure[data-chart='{key}'] path[data-series='ChatStream (standard)']")
                eventually(lambda lines=lines: min(int(n) for n in lines.evaluate_all(
                    "ps => ps.map(p => p.dataset.points)")) >= 3, 15, f"the {key} chart to draw 3 samples")
            requests_line = charts.locator("figure[data-chart='requests'] path").first
            before = requests_line.get_attribute("data-points")
            eventually(lambda: requests_line.get_attribute("data-points") != before, 10, "a live refresh")

            # ... and downloadable as CSV, from the tab and from Locust's Download Data tab.
            with page.expect_download() as download:
                charts.get_by_role("link", name="Download as CSV").click()
            rows = Path(download.value.path()).read_text().splitlines()
            assert rows[0].startswith("time,series,requests_per_s") and len(rows) > 3
            assert any(",ChatStream (standard)," in row for row in rows[1:])
            page.get_by_role("tab", name="Download Data").click()
            expect(page.get_by_role("link", name="Download LLM history CSV")).to_be_visible()
            expect(page.locator("#llm-charts")).to_be_hidden()  # the charts belong to the LLM tab only

            # Locust's Reset clears the LLM charts too.
            page.get_by_role("tab", name="LLM").click()
            samples = charts.locator("figure[data-chart='requests'] path")
            before = int(samples.first.get_attribute("data-points") or 0)
            page.get_by_role("button", name="Reset").click()
            eventually(lambda: samples.count() == 0 or int(samples.first.get_attribute("data-points") or 0) < before,
                       10, "Reset to clear the LLM charts")

            page.get_by_role("button", name="Stop").click()
            eventually(lambda: httpx.get(f"{ui.url}/stats/requests").json()["state"] == "stopped", 20,
                       "the run to stop")
        finally:
            browser.close()
