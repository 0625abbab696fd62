"""End to end: `harness load ui` opens Locust's web UI on a profile; a
headless Chromium (Debian's, driven by Playwright) starts a run, sees the
TTFT row and the LLM tab, and stops it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from harness.localstack.procs import free_port
from harness.localstack.testing import EngineProcess, engine_process, eventually

pytestmark = [pytest.mark.integration, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineProcess]:
    with engine_process({"decodeStepMs": 10}, pod="ui-0") as e:
        yield e


@pytest.fixture
def ui(engine: EngineProcess) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "load", "ui", "--profile", "chat_stream", "--host",
                             engine.url, "--web-port", str(port), "-u", "3", "-r", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                return httpx.get(url, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        eventually(up, 30, "the Locust UI to answer")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by scripts/setup.sh")
def test_ui_shows_ttft_rows_and_the_llm_tab(ui: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                          "--disable-background-networking"])
        try:
            page = browser.new_page()
            page.goto(ui)
            page.get_by_role("button", name="Start").click()
            # Locust's statistics table gains our rows once requests finish
            expect(page.get_by_role("cell", name="TTFT", exact=True).first).to_be_visible(timeout=30_000)
            expect(page.get_by_role("cell", name="ITL", exact=True).first).to_be_visible(timeout=10_000)
            page.get_by_role("tab", name="LLM").click()
            expect(page.get_by_text("TTFT p95 (ms)")).to_be_visible(timeout=10_000)
            expect(page.get_by_role("cell", name="chat stream [ChatStream]")).to_be_visible(timeout=15_000)
            page.get_by_role("button", name="Stop").click()
            eventually(lambda: httpx.get(f"{ui}/stats/requests").json()["state"] == "stopped", 20,
                       "the run to stop")
        finally:
            browser.close()
