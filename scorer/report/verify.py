"""The `provscore verify --format` table: every `VerifyFormat` has exactly one renderer.

Every renderer takes `(report, *, pretty)` and renders the one JSON description of the report
(`as_json.verify_report_json`), so no two formats can disagree about what was found.
"""

from __future__ import annotations

from typing import Protocol, assert_never

from scorer.records import VerifyReport
from scorer.report.as_json import render_verify_json
from scorer.report.formats import VerifyFormat
from scorer.report.markdown import render_verify_markdown
from scorer.report.sarif import render_verify_sarif
from scorer.report.text import render_verify_text


class VerifyRenderer(Protocol):
    def __call__(self, report: VerifyReport, *, pretty: bool = True) -> str: ...


def renderer(fmt: VerifyFormat) -> VerifyRenderer:
    """The renderer of one format (mypy checks that every member is handled)."""
    match fmt:
        case VerifyFormat.TEXT:
            return render_verify_text
        case VerifyFormat.JSON:
            return render_verify_json
        case VerifyFormat.SARIF:
            return render_verify_sarif
        case VerifyFormat.MARKDOWN:
            return render_verify_markdown
        case _:
            assert_never(fmt)


RENDERERS: dict[VerifyFormat, VerifyRenderer] = {fmt: renderer(fmt) for fmt in VerifyFormat}


def render(report: VerifyReport, fmt: VerifyFormat, *, pretty: bool = True) -> str:
    """`report` in format `fmt`."""
    return RENDERERS[fmt](report, pretty=pretty)
