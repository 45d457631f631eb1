"""The `provscore report --format` table: every `ReportFormat` has exactly one renderer.

Every renderer takes `(report, *, pretty)` and renders the one JSON description of the report
(`as_json.risk_report_json`), so no two formats can disagree about what was found.
"""

from __future__ import annotations

from typing import Protocol, assert_never

from scorer.records import RiskReport
from scorer.report.as_json import render_risk_json, risk_report_json
from scorer.report.formats import ReportFormat
from scorer.report.markdown import render_risk_markdown
from scorer.report.sarif import render_risk_sarif
from scorer.report.text import render_risk_text


class RiskRenderer(Protocol):
    def __call__(self, report: RiskReport, *, pretty: bool = True) -> str: ...


def render_risk_html(report: RiskReport, *, pretty: bool = True) -> str:
    """One self-contained HTML file (jinja2 is imported only here)."""
    from scorer.report.html import render_html

    return render_html(risk_report_json(report))


def renderer(fmt: ReportFormat) -> RiskRenderer:
    """The renderer of one format (mypy checks that every member is handled)."""
    match fmt:
        case ReportFormat.TEXT:
            return render_risk_text
        case ReportFormat.JSON:
            return render_risk_json
        case ReportFormat.SARIF:
            return render_risk_sarif
        case ReportFormat.MARKDOWN:
            return render_risk_markdown
        case ReportFormat.HTML:
            return render_risk_html
        case _:
            assert_never(fmt)


RENDERERS: dict[ReportFormat, RiskRenderer] = {fmt: renderer(fmt) for fmt in ReportFormat}


def render(report: RiskReport, fmt: ReportFormat, *, pretty: bool = True) -> str:
    """`report` in format `fmt`."""
    return RENDERERS[fmt](report, pretty=pretty)
