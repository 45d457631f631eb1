"""Golden files of `provscore report` in every format, run through the CLI as a user runs it:
the shipped example (the README's first command), a `--diff` run on a real npm lockfile pair,
and the constructed sample document with hostile names (text and Markdown; its HTML golden is in
test_report_html.py). `UPDATE_GOLDEN=1` regenerates them all.

Beside byte-for-byte comparison, the hostile sample is checked for what the formats promise:
no control character reaches a terminal, Markdown rendered as GitHub does (raw HTML allowed)
yields no element from the data and no @mention, and a PR comment stays under GitHub's limit.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from golden import assert_golden
from report_cli import DIFF, EXAMPLE, FORMATS, ROOT, at_root, report_as
from report_docs import HOSTILE_NAMES, package, reason, report_doc, sample_doc

from scorer.report.markdown import MAX_COMMENT, risk_markdown
from scorer.report.text import risk_text
from scorer.text import safe

SUFFIX = {"text": "txt", "json": "json", "sarif": "sarif", "markdown": "md", "html": "html"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_example_report_golden(fmt: str, tmp_path: Path) -> None:
    run = report_as(EXAMPLE, fmt, tmp_path)
    # Malicious hits under the default malicious policy (error) fail the run.
    assert run.code == 1, run.stderr
    text = at_root(run.stdout)
    assert str(tmp_path) not in text
    assert_golden(f"report-example.{SUFFIX[fmt]}", text)


@pytest.mark.parametrize("fmt", FORMATS)
def test_diff_report_golden(fmt: str, tmp_path: Path) -> None:
    run = report_as(DIFF, fmt, tmp_path)
    assert run.code == 0, run.stderr
    assert str(ROOT) not in run.stdout  # every path was given relative on the command line
    assert_golden(f"report-diff-npm.{SUFFIX[fmt]}", run.stdout)


def test_diff_report_lists_exactly_the_new_and_changed_versions(tmp_path: Path) -> None:
    doc = json.loads(report_as(DIFF, "json", tmp_path).stdout)
    expected = json.loads((ROOT / "tests/fixtures/diff/npm/expected.json").read_text())
    listed = {(p["name"], p["version"]): (p["change"], p["replaces"]) for p in doc["packages"]}
    assert listed == {
        **{(n, v): ("added", []) for n, v in expected["added"]},
        **{(n, v): ("changed", old) for n, v, old in expected["changed"]},
    }
    text = report_as(DIFF, "text", tmp_path).stdout
    for name, version in listed:
        # Nothing is known about them offline, and still each is listed for the reviewer.
        assert f"{name}@{version}" in text


def test_example_report_prints_paths_as_given(tmp_path: Path) -> None:
    run = report_as(EXAMPLE, "json", tmp_path)
    assert str(ROOT) not in run.stdout


# --- the hostile sample ----------------------------------------------------------------------


def test_hostile_sample_text_golden() -> None:
    text = risk_text(sample_doc())
    assert_golden("report-hostile.txt", text)
    # Nothing a terminal would interpret: the only control character is the line break.
    assert not [ch for ch in text if not ch.isprintable() and ch != "\n"]
    assert "\\u202eevil-gnp\\u202c\\x1b[31m\\x00" in text
    # The table keeps to its 120 columns however long a name is (the cells fold).
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#  "))
    table = lines[start : next(i for i, line in enumerate(lines) if line.startswith("warning:"))]
    assert len(table) > 13 and max(map(len, table)) <= 120


def test_hostile_sample_markdown_golden() -> None:
    assert_golden("report-hostile.md", risk_markdown(sample_doc()))


class Elements(HTMLParser):
    """The elements and text of rendered Markdown; text inside <code> is kept apart."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.code: list[str] = []
        self._in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_code += tag == "code"

    def handle_endtag(self, tag: str) -> None:
        self._in_code -= tag == "code"

    def handle_data(self, data: str) -> None:
        (self.code if self._in_code else self.text).append(data)


def github_like(markdown: str) -> Elements:
    """`markdown` rendered as GitHub reads a comment (CommonMark, tables, raw HTML passed)."""
    from markdown_it import MarkdownIt

    parser = Elements()
    parser.feed(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))
    return parser


OURS = {"h3", "p", "strong", "em", "code", "table", "thead", "tbody", "tr", "th", "td"}


def test_hostile_markdown_is_inert_when_rendered() -> None:
    rendered = github_like(risk_markdown(sample_doc()))
    # The only elements are our own: no <img>, <script>, <svg> or <b> from the data.
    assert set(rendered.tags) <= OURS | {"details", "summary"}, set(rendered.tags) - OURS
    shown = "".join(rendered.text) + "".join(rendered.code)
    for name in HOSTILE_NAMES:
        assert safe(name) in shown, name
    # Each table row has its five cells: no `|` from the data split one.
    assert rendered.tags.count("td") == 5 * rendered.tags.count("tr") - 5 * rendered.tags.count(
        "thead"
    )


def test_scoped_names_and_mentions_stay_out_of_github_mentions() -> None:
    doc = report_doc(
        [
            package(
                "@ctrl/tinycolor",
                "4.1.1",
                score=80.0,
                level="error",
                malicious=["MAL-2025-1"],
                summary="@ctrl/tinycolor and @nx/devkit were compromised, ask @someone",
            )
        ]
    )
    rendered = github_like(risk_markdown(doc))
    text = "".join(rendered.text)
    # GitHub links mentions in text, never in code.
    assert not re.search(r"(?<![\w`])@\w", text), text
    assert "@ctrl/tinycolor@4.1.1" in "".join(rendered.code)
    assert {"@nx/devkit", "@someone"} <= set(rendered.code)


def test_markdown_fits_one_pull_request_comment() -> None:
    long = "x" * 2000
    flagged = [
        package(
            f"flagged-{i}-{long}",
            "1.0.0",
            score=90.0,
            level="error",
            reasons=[reason("tor", 90.0, "published over Tor " + long)],
        )
        for i in range(80)
    ]
    rest = [
        package(f"quiet-{i}-{long}", "1.0.0", score=5.0, reasons=[reason("young_release", 5.0)])
        for i in range(80)
    ]
    # No row limit: only the size of a comment cuts here.
    markdown = risk_markdown(report_doc([*flagged, *rest]), limit=1000)
    assert len(markdown) <= MAX_COMMENT
    rows = [line for line in markdown.splitlines() if re.match(r"\| \d+ \|", line)]
    # Flagged rows are kept before any folded one, and what was left out is counted.
    assert rows and all("flagged-" in row for row in rows)
    left_out = int(re.search(r"_(\d+) more rows? left out", markdown).group(1))  # type: ignore[union-attr]
    assert left_out == 160 - len(rows)
    # A small report is not cut.
    small = risk_markdown(report_doc(flagged[:3]))
    assert "left out" not in small and small.count("| 1 | error |") == 1


def test_a_package_that_is_not_scored_has_no_confidence(tmp_path: Path) -> None:
    lock = {
        "name": "app",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app"},
            "node_modules/my-fork": {
                "version": "1.0.0",
                "resolved": "git+ssh://git@example.invalid/someone/my-fork.git#abc123",
            },
        },
    }
    path = tmp_path / "package-lock.json"
    path.write_text(json.dumps(lock))
    db = str(ROOT / "data/examples/npm-app/osv.json")
    run = report_as([str(path), "--db", db, "--now", "2026-11-30T12:00:00Z"], "json", tmp_path)
    assert run.code == 0, run.stderr
    (pkg,) = json.loads(run.stdout)["packages"]
    assert pkg["not_scored"] and pkg["score"] is None
    # Unknown, not a confidence of 0 (which would read as "known to be unsure").
    assert pkg["confidence"] is None
