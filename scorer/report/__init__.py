"""Renderers of an `AuditReport`: one per `OutputFormat`, each a pure function to a string.

Every format listed in `OutputFormat` has exactly one renderer in `RENDERERS` (a test checks).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from scorer.records import AuditReport
from scorer.report.as_json import render_json
from scorer.report.markdown import render_markdown
from scorer.report.sarif import render_sarif
from scorer.report.text import render_text


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    markdown = "markdown"


RENDERERS: dict[OutputFormat, Callable[[AuditReport], str]] = {
    OutputFormat.text: render_text,
    OutputFormat.json: render_json,
    OutputFormat.sarif: render_sarif,
    OutputFormat.markdown: render_markdown,
}


def render(report: AuditReport, fmt: OutputFormat) -> str:
    return RENDERERS[fmt](report)
