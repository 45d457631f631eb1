"""The terminal report: a header, a table of findings (rich), then notes and a summary line.

Everything that comes from a lockfile or an advisory goes through `safe()`, so an advisory
summary or a package name cannot move the cursor, recolour the terminal or hide text.
"""

from __future__ import annotations

from scorer.policy import listed
from scorer.records import AuditReport, Level
from scorer.text import safe

_LABEL = {Level.ERROR: "ERROR", Level.WARNING: "WARN", Level.NONE: "note"}


def _source_line(report: AuditReport) -> str:
    parts = []
    for src in report.sources:
        if src.kind == "osv-api":
            parts.append(f"OSV API {src.location} ({src.records} records, {src.requests} requests)")
        else:
            parts.append(f"local database {src.location} ({src.records} records)")
    return f"{report.mode}: " + "; ".join(parts)


def _table(report: AuditReport, width: int = 120) -> str:
    """Findings as a table. Cells are `Text` built from `safe()` strings: rich never reads
    markup from them, and escapes are already visible text."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in ("level", "package", "version", "advisories", "summary", "installed at"):
        table.add_column(column, overflow="fold")
    label = _LABEL[report.level]
    for f in report.findings:
        where = f.package.paths[0] if f.package.paths else ""
        if len(f.package.paths) > 1:
            where += f" (+{len(f.package.paths) - 1} more)"
        if f.package.aliases:
            where += f" as {', '.join(f.package.aliases)}"
        summary = (f.summary or "") + (f" [{f.note}]" if f.note else "")
        cells = (label, f.package.name, f.package.version, ", ".join(f.ids), summary, where)
        table.add_row(*(Text(safe(c)) for c in cells))
    buffer = StringIO()
    Console(file=buffer, width=width, color_system=None, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def render_text(report: AuditReport, *, pretty: bool = True) -> str:
    """The report as terminal text."""
    lock = report.lockfile
    lines = [
        safe(
            f"{lock.path} ({lock.format}): {len(lock.packages)} packages, "
            f"{report.checked} checked against {_source_line(report)}"
        )
    ]
    if listed(report.policy) and report.findings:
        lines.append(_table(report))
    for s in report.suppressed:
        lines.append(
            safe(f"suppressed  {s.finding.subject}  {', '.join(s.finding.ids)}  ({s.by.reason})")
        )
    for sup in report.expired_suppressions:
        lines.append(
            safe(
                f"warning: suppression of {sup.target} expired on {sup.until} "
                f"and no longer applies ({sup.reason})"
            )
        )
    for sup in report.unused_suppressions:
        lines.append(safe(f"warning: suppression of {sup.target} matched nothing ({sup.reason})"))
    if report.not_checked:
        kinds = sorted({p.source.value for p in report.not_checked})
        lines.append(
            f"not checked: {len(report.not_checked)} non-registry packages ({', '.join(kinds)})"
        )
    for path, counts in report.written:
        lines.append(
            safe(
                f"merged into {path}: {counts.added} added, {counts.updated} updated, "
                f"{counts.unchanged} unchanged"
            )
        )
    n = len(report.findings)
    word = "malicious version" if n == 1 else "malicious versions"
    if not listed(report.policy):
        lines.append(f"{n} {word} found (policy off: not reported as failures)")
    elif n:
        lines.append(
            f"{n} {word} found (policy {report.policy.value}, from {safe(report.policy_origin)})"
        )
    else:
        lines.append("no malicious versions found")
    return "\n".join(lines) + "\n"
