"""The HTML report of the shipped example, made by the CLI and opened in headless Chromium (the
browser fixture of test_report_html.py): the flagged versions are on top, sorting and filtering
work on real data, both charts show the example's numbers, and the page requests nothing but
itself. Without a browser these fail unless PROVSCORE_ALLOW_NO_BROWSER=1, as there."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from report_cli import EXAMPLE, report_as
from test_report_html import Opened, browser, open_html  # noqa: F401 (browser is a fixture)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext


@pytest.fixture(scope="module")
def example_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    run = report_as(EXAMPLE, "json", tmp_path_factory.mktemp("home"))
    assert run.code == 1, run.stderr
    doc: dict[str, Any] = json.loads(run.stdout)
    return doc


@pytest.fixture(scope="module")
def example_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    run = report_as(EXAMPLE, "html", tmp_path_factory.mktemp("home"))
    assert run.code == 1, run.stderr
    return run.stdout


@pytest.fixture
def page(browser: BrowserContext, example_html: str, tmp_path: Path) -> Iterator[Opened]:  # noqa: F811
    opened = open_html(browser, tmp_path / "report.html", example_html)
    yield opened
    assert opened.csp_violations() == []
    assert opened.errors == []
    opened.page.close()


def names(opened: Opened) -> list[str]:
    return list(
        opened.page.eval_on_selector_all(
            "#packages tbody tr",
            "rows => rows.filter(r => !r.hidden).map(r => r.querySelector('.name').textContent)",
        )
    )


FLAGGED = [
    "ua-parser-js",
    "chalk",
    "debug",
    "event-stream",
    "flatmap-stream",
    "provscore-example-provenance",
    "provscore-example-tor",
    "provscore-example-no2fa",
]


def test_flagged_versions_are_on_top(page: Opened, example_doc: dict[str, Any]) -> None:
    shown = names(page)
    assert len(shown) == len(example_doc["packages"]) == 111
    assert shown[: len(FLAGGED)] == FLAGGED
    levels = page.page.eval_on_selector_all(
        "#packages tbody tr", "rows => rows.map(r => r.getAttribute('data-level'))"
    )
    assert levels[:5] == ["error"] * 5 and levels[5:8] == ["warning"] * 3
    assert set(levels[8:]) == {"none"}
    first = page.page.locator("#packages tbody tr").first
    assert "GHSA-pjwm-rvh2-c87w" in (first.text_content() or "")


def test_sorting_by_score_on_real_data(page: Opened, example_doc: dict[str, Any]) -> None:
    score = page.page.locator("#packages th").nth(4)
    score.locator("button").click()
    score.locator("button").click()  # descending
    assert score.get_attribute("aria-sort") == "descending"
    values = page.visible("td:nth-child(5)")
    known = [float(v) for v in values if v != ""]
    assert known == sorted(
        (p["score"] for p in example_doc["packages"] if p["score"] is not None), reverse=True
    )
    assert values[len(known) :] == [""] * example_doc["counts"]["unknown_score"]
    assert names(page)[:3] == [
        "provscore-example-provenance",
        "provscore-example-tor",
        "ua-parser-js",
    ]


def test_filtering_on_real_data(page: Opened) -> None:
    p = page.page
    p.check("#filter-malicious")
    assert names(page) == FLAGGED[:5]
    p.uncheck("#filter-malicious")
    p.select_option("#filter-level", "warning")
    assert names(page) == FLAGGED[5:]
    assert p.text_content("#filter-status") == "3 of 111 packages shown"
    p.select_option("#filter-level", "all")
    p.fill("#filter-text", "over tor")
    assert names(page) == ["provscore-example-tor"]
    p.fill("#filter-text", "mallory")  # a publisher named only in a reason's text
    assert names(page) == ["provscore-example-switch"]
    p.fill("#filter-text", "")
    assert len(names(page)) == 111


def test_charts_show_the_example(page: Opened, example_doc: dict[str, Any]) -> None:
    p = page.page
    counts = {}
    buckets = p.locator("#score-chart g.bucket")
    for i in range(buckets.count()):
        bucket = buckets.nth(i)
        label = bucket.locator("text.label").text_content() or ""
        counts[label] = int(bucket.locator("text.count").text_content() or "")
        box = bucket.locator("rect").bounding_box()
        assert box is not None and (box["height"] > 0) == (counts[label] > 0)
    assert counts["unknown"] == 98 and sum(counts.values()) == 111
    assert counts["90-100"] == 1 and counts["60-70"] == 1  # provenance lost 91, Tor 60
    fired = Counter(
        f for pkg in example_doc["packages"] for f in {r["feature"] for r in pkg["reasons"]}
    )
    groups = p.locator("#reason-chart g.reason")
    shown = {
        groups.nth(i).locator("text.label").text_content(): int(
            groups.nth(i).locator("text.count").text_content() or ""
        )
        for i in range(groups.count())
    }
    assert shown == dict(fired)
    assert {"tor", "no_2fa", "provenance_lost", "install_script_added", "publisher_changed"} <= set(
        shown
    )
    assert p.locator("#score-chart").is_visible() and p.locator("#reason-chart").is_visible()


def test_no_outside_request(page: Opened) -> None:
    page.page.click("#packages th:nth-child(2) button")
    page.page.fill("#filter-text", "chalk")
    page.page.locator("#packages tbody tr:not([hidden]) details summary").first.click()
    page.page.wait_for_load_state("networkidle")
    assert page.requests == [page.url]
