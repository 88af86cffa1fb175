"""The report the real Dagster job wrote, opened in a real browser (headless Chromium on localhost):
every chart renders as SVG at the page's full width, nothing is logged to the console, nothing is
fetched from anywhere but the page itself, and a screenshot of the page and of each section is kept
as a CI artifact. The Data Docs site opens with every request off the machine blocked and still
lists its validations. Also `carebridge report` from the CLI."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CAREBRIDGE_ARTIFACTS", ROOT / "out" / "test-artifacts"))
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
# As the machine's own browser probe starts it: no sandbox (root in CI), no GPU, no background traffic.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def served(clean_system) -> Iterator[str]:
    """The run's output folder on a localhost port (so the report's link to the Data Docs resolves)."""
    handler = functools.partial(_QuietHandler, directory=str(clean_system.out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package (.ci/run does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_every_chart_renders_in_chromium_with_a_clean_console_and_no_network(served, browser, clean_system):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console, requests = [], []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{served}/report/index.html")
    page.wait_for_function("document.body.dataset.chartsDone === 'true'", timeout=60_000)

    expected, rendered, failed = page.evaluate(
        "[window.carebridgeCharts, window.carebridgeRendered, window.carebridgeFailed]")
    assert failed == [] and rendered == expected >= 12
    assert page.locator(".note").count() == 0  # every section had its published tables
    drawn = page.locator('.chart[data-empty="false"]').all()
    assert len(drawn) >= 10  # at most a couple say "nothing to draw" (e.g. no quarantine in a clean system)
    main_width = page.locator("main").bounding_box()["width"]
    for chart in drawn:
        box = chart.locator("svg").first.bounding_box()
        assert box and box["width"] > 0.9 * main_width and box["height"] > 35, chart.get_attribute("id")  # full width
        assert chart.locator("svg path, svg rect, svg line").count() > 3, chart.get_attribute("id")
    sections = page.locator("main > section").all()
    for section in sections:  # every section shows data, or says in words why not
        key = section.get_attribute("id")
        charts = section.locator(".chart").count()
        if key != "dictionary":
            assert section.locator('.chart[data-empty="false"]').count() > 0 or section.locator("p.empty").count() == charts, key
    assert page.locator("#dictionary dt").count() >= 10  # the data dictionary of the published tables
    for raw in ("mental_wellbeing", "first_referral", "records_unlinked"):  # codes are shown by name
        assert page.locator(f"main td:text-is('{raw}')").count() == 0, raw
    assert page.locator(".chart svg").count() == expected
    assert [m for m in console if m.split(":")[0] in {"error", "warning", "pageerror"}] == []
    assert all(url.startswith(served) for url in requests), requests  # offline: nothing but the page

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 50_000
    for section in sections:  # one picture per section, for reviewers
        section.screenshot(path=str(ARTIFACTS / f"report-{section.get_attribute('id')}.png"))
    assert len(list(ARTIFACTS.glob("report-*.png"))) >= len(sections)

    link = page.locator("#data-quality a", has_text="Data Docs")
    response = page.request.get(f"{served}/report/{link.get_attribute('href')}")
    assert response.ok  # the Data Docs site the link points to is there
    page.close()


def test_the_report_command_writes_the_same_sections_from_a_run(clean_system, tmp_path, capsys):
    from carebridge.cli import main

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(clean_system.warehouse, run / "warehouse.duckdb")  # the shared build stays read-only
    (run / "data_docs").symlink_to(clean_system.out / "data_docs")
    assert main(["report", "--run", str(run), "--out", str(run / "report")]) == 0
    written = (run / "report" / "index.html").read_text(encoding="utf-8")
    by_job = (clean_system.out / "report" / "index.html").read_text(encoding="utf-8")
    assert f"report: {run / 'report' / 'index.html'}" in capsys.readouterr().out
    strip = lambda html: html.split("<nav>", 1)[1]  # noqa: E731 (after the header with its time stamp)
    assert strip(written) == strip(by_job)


def test_the_report_command_says_when_there_is_no_warehouse(tmp_path, capsys):
    from carebridge.cli import main

    assert main(["report", "--run", str(tmp_path / "nothing"), "--out", str(tmp_path / "report")]) == 1
    assert "no warehouse" in capsys.readouterr().err


def test_the_data_docs_open_offline_and_list_their_validations(served, browser):
    """Every request that would leave the machine is blocked (and recorded); the index still lists
    the run's validations, because jQuery and bootstrap-table are served from the site itself."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests, errors = [], []

    def route(route) -> None:
        requests.append(route.request.url)
        if route.request.url.startswith(served) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{served}/data_docs/index.html")
    page.wait_for_selector("table tbody tr", timeout=30_000)
    assert page.evaluate("typeof jQuery === 'function' && typeof jQuery.fn.bootstrapTable === 'function'")
    listed = page.locator("table tbody tr").count()
    assert listed >= 5, listed  # the validations of the run, one row each
    assert [url for url in requests if not url.startswith(served)] == []
    assert errors == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "data_docs.png"), full_page=False)

    page.locator("table tbody tr").first.click()  # a validation's own page, offline too
    page.wait_for_load_state("load")
    assert "validations" in page.url or "expectations" in page.url
    assert [url for url in requests if not url.startswith(served)] == [] and errors == []
    context.close()
