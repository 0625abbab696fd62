"""The three report pages in headless Chromium (Debian's, driven by
Playwright), opened from disk with the network cut off: summary.html of a
failing run, the Allure single-file report built by the real Allure command
line, and the trend page with a planted regression. Runs are built from
fixture data (tests/report_runs.py); each page's screenshot is checked."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
from report_runs import CANARY, POD_KILL, REGION, make_run

from harness.report.allure_build import find_allure
from harness.verdict import Verdict

pytestmark = [pytest.mark.integration, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FAIL_RED = np.array([0xc6, 0x28, 0x28]) / 255  # the border of the broken-promises box


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page that may read files only: any request to the network is refused and recorded."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    remote: list[str] = []

    def refuse(route: Route) -> None:
        remote.append(route.request.url)
        route.abort()

    context.route("http*://**", refuse)
    p = context.new_page()
    try:
        yield p
    finally:
        context.close()
    assert remote == [], f"the page asked the network for {remote}"


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=300)


def _has_colour(png: Path, rgb: np.ndarray, tolerance: float = 0.04) -> bool:
    pixels = matplotlib.image.imread(png)[..., :3]
    return bool((np.abs(pixels - rgb).max(axis=-1) < tolerance).any())


def test_summary_shows_every_requirement_failing_first_with_rerun_and_plot(page: Page, tmp_path: Path) -> None:
    run = make_run(tmp_path, "run-bad", 1.78e9, outage_s=3.0, canary=Verdict.FAIL)
    page.goto((run / "summary.html").as_uri())
    rows = page.locator("#verdicts tr[data-requirement]")
    expect(rows).to_have_count(3)
    shown = [(rows.nth(i).locator("td").nth(0).inner_text(), rows.nth(i).locator("td").nth(2).inner_text())
             for i in range(3)]
    assert shown == [(POD_KILL, "fail"), (CANARY, "fail"), (REGION, "pass")]
    first = page.locator("[data-broken]").first
    expect(first).to_contain_text(f"{POD_KILL}: the promise {POD_KILL}")
    expect(first.locator("code.rerun")).to_have_text(f"harness certify --target local --requirement {POD_KILL}")
    expect(first).to_contain_text("off by")  # by how much
    expect(first).to_contain_text("fault: kill_pods")  # when
    plot = page.locator(f'[data-plot="{POD_KILL}"] svg')
    expect(plot).to_be_visible()
    box = plot.bounding_box()
    assert box is not None and box["width"] > 500 and box["height"] > 400
    expect(plot).to_contain_text("success")
    expect(plot).to_contain_text("SLO 0.99")
    assert page.locator("[data-plot]").count() == 1  # conformance requirements have no time plot
    shot = tmp_path / "summary.png"
    page.locator(".broken").screenshot(path=str(shot))
    assert _has_colour(shot, FAIL_RED)
    page.locator(f'[data-plot="{POD_KILL}"]').screenshot(path=str(tmp_path / "plot.png"))
    plot_pixels = matplotlib.image.imread(tmp_path / "plot.png")[..., :3]
    assert plot_pixels.std() > 0.05  # drawn, not blank


def test_allure_single_file_report_opens_and_lists_the_suites(page: Page, tmp_path: Path) -> None:
    if find_allure() is None:
        pytest.skip("the Allure command line is not installed (scripts/setup.sh installs it)")
    runs = [make_run(tmp_path, f"run-{i}", 1.78e9 + i * 86400, outage_s=3.0 * i) for i in range(2)]
    for run in runs:
        done = harness("report", "allure", str(run))
        assert done.returncode == 0, done.stderr
    history = (tmp_path / "allure-history.jsonl").read_text().splitlines()
    assert len(history) == 2  # the second report carries the first run's results
    report = runs[-1] / "allure-report" / "index.html"
    assert [p.name for p in report.parent.glob("*.html")] == ["index.html"]
    page.goto(report.as_uri() + "#suites")
    tree = page.locator(".side-by-side__left")  # the suites tree (suite = conformance / resilience)
    for suite in ("conformance", "resilience"):
        expect(tree.get_by_text(suite, exact=True).first).to_be_visible(timeout=60_000)
    for suite, feature, title in (("resilience", "resilience", POD_KILL), ("conformance", "traffic-splitting", CANARY)):
        tree.get_by_text(suite, exact=True).first.click()
        tree.get_by_text(feature, exact=True).last.click()
        expect(tree.get_by_text(f"the promise {title}").first).to_be_visible(timeout=30_000)
    page.goto(report.as_uri() + "#")
    expect(page.get_by_text("Broken promises (fail)").first).to_be_visible(timeout=30_000)  # categories
    expect(page.get_by_text("profile").first).to_be_visible()  # the run's environment
    shot = tmp_path / "allure.png"
    page.screenshot(path=str(shot))
    assert matplotlib.image.imread(shot)[..., :3].std() > 0.05


def test_trend_page_shows_a_planted_regression(page: Page, tmp_path: Path) -> None:
    for i, recover in enumerate([6.0, 6.3, 5.9, 6.1, 20.0]):
        make_run(tmp_path, f"run-{i}", 1.78e9 + i * 86400, recover_s=recover)
    done = harness("report", "trend", str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads((tmp_path / "trend.json").read_text())
    assert [(r["requirement"], r["figure"]) for r in data["regressions"]] == [(POD_KILL, "time_to_recover_s")]
    page.goto((tmp_path / "trend.html").as_uri())
    item = page.locator(f'[data-regression="{POD_KILL}"]')
    expect(item).to_contain_text("time to recover 20 s is worse than its recent median")
    row = page.locator(f'tr[data-of="{POD_KILL}"][data-regressed="time_to_recover_s"]')
    expect(row.locator("td.v-fail")).to_have_text("20 s")
    expect(page.locator(f'tr[data-requirement="{POD_KILL}"] .verdict')).to_have_count(5)
    shot = tmp_path / "trend.png"
    page.locator(".broken").screenshot(path=str(shot))
    assert _has_colour(shot, FAIL_RED)


@pytest.mark.slow
def test_a_real_certification_gives_all_three_pages(page: Page, tmp_path: Path) -> None:
    """End to end on the embedded stack: a conformance and a resilience
    requirement certified, then the Allure report and the trend built."""
    reports = tmp_path / "reports"
    done = harness("certify", "--target", "local", "--requirement", REGION, "--requirement", POD_KILL,
                   "--reports", str(reports))
    [run] = list(reports.iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert done.returncode == summary["exit_code"], done.stdout + done.stderr
    assert f"{POD_KILL} (" in done.stdout  # the live view printed its verdict as it was judged
    page.goto((run / "summary.html").as_uri())
    rows = page.locator("#verdicts tr[data-requirement]")
    expect(rows).to_have_count(2)
    shown = {rows.nth(i).get_attribute("data-requirement"): rows.nth(i).get_attribute("data-verdict") for i in range(2)}
    assert shown == {r["id"]: r["verdict"] for r in summary["requirements"]}
    plot = page.locator(f'[data-plot="{POD_KILL}"] svg')
    expect(plot).to_contain_text("share by")
    expect(page.locator(f'section[data-requirement="{POD_KILL}"]')).to_contain_text("fault: kill_pods")
    page.locator(f'[data-plot="{POD_KILL}"]').screenshot(path=str(tmp_path / "plot.png"))
    assert matplotlib.image.imread(tmp_path / "plot.png")[..., :3].std() > 0.05
    trend = harness("report", "trend", str(reports))
    assert trend.returncode == 0 and (reports / "trend.html").is_file(), trend.stdout + trend.stderr
    if find_allure() is not None:
        built = harness("report", "allure", str(run))
        assert built.returncode == 0 and (run / "allure-report" / "index.html").is_file(), built.stderr
