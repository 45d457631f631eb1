"""The `provscore audit --format` table: every `AuditFormat` has exactly one renderer.

Every renderer takes `(report, *, pretty)`: JSON is indented for people (a terminal) and compact
for machines; the other formats read the same way either way.
"""

from __future__ import annotations

from typing import Protocol, assert_never

from scorer.records import AuditReport
from scorer.report.as_json import render_json
from scorer.report.formats import AuditFormat
from scorer.report.markdown import render_markdown
from scorer.report.sarif import render_sarif
from scorer.report.text import render_text


class AuditRenderer(Protocol):
    def __call__(self, report: AuditReport, *, pretty: bool = True) -> str: ...


def renderer(fmt: AuditFormat) -> AuditRenderer:
    """The renderer of one format (mypy checks that every member is handled)."""
    match fmt:
        case AuditFormat.TEXT:
            return render_text
        case AuditFormat.JSON:
            return render_json
        case AuditFormat.SARIF:
            return render_sarif
        case AuditFormat.MARKDOWN:
            return render_markdown
        case _:
            assert_never(fmt)


RENDERERS: dict[AuditFormat, AuditRenderer] = {fmt: renderer(fmt) for fmt in AuditFormat}


def render(report: AuditReport, fmt: AuditFormat, *, pretty: bool = True) -> str:
    """`report` in format `fmt`."""
    return RENDERERS[fmt](report, pretty=pretty)
