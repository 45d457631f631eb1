"""The terminal report: one block per finding, then a summary line.

Everything that comes from a lockfile or an advisory goes through `safe()`, so an advisory
summary or a package name cannot move the cursor, recolour the terminal or hide text.
"""

from __future__ import annotations

from scorer.audit import AuditReport
from scorer.text import safe

_LABEL = {"error": "ERROR", "warning": "WARN", "none": "note"}


def _source_line(report: AuditReport) -> str:
    parts = []
    for src in report.sources:
        if src["kind"] == "osv-api":
            parts.append(
                f"OSV API {src['url']} ({src['records']} records, {src['requests']} requests)"
            )
        else:
            parts.append(f"local database {src['path']} ({src['records']} records)")
    return f"{report.mode}: " + "; ".join(parts)


def render_text(report: AuditReport) -> str:
    lock = report.lockfile
    lines = [
        safe(
            f"{lock.path} ({lock.format}): {len(lock.packages)} packages, "
            f"{report.checked} checked against {_source_line(report)}"
        )
    ]
    if report.policy.value != "off":
        for f in report.findings:
            label = _LABEL[report.level]
            lines.append(safe(f"{label:5}  {f.subject}  {', '.join(f.ids)}"))
            if f.summary:
                lines.append("       " + safe(f.summary))
            if f.package.aliases:
                lines.append("       installed as " + safe(", ".join(f.package.aliases)))
            lines.append(
                "       at "
                + safe(", ".join(f.package.paths[:5]))
                + (f" (+{len(f.package.paths) - 5} more)" if len(f.package.paths) > 5 else "")
            )
            if f.note:
                lines.append("       " + safe(f.note))
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
    if report.policy.value == "off":
        lines.append(f"{n} {word} found (policy off: not reported as failures)")
    elif n:
        lines.append(
            f"{n} {word} found (policy {report.policy.value}, from {safe(report.policy_origin)})"
        )
    else:
        lines.append("no malicious versions found")
    return "\n".join(lines) + "\n"
