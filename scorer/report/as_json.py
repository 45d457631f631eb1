"""The JSON audit report (schema documented in the README; `schema_version` bumps on change)."""

from __future__ import annotations

import json
from typing import Any

from scorer import __version__
from scorer.records import AuditReport, Finding
from scorer.suppressions import Suppression

SCHEMA_VERSION = 1


def finding_json(finding: Finding, level: str) -> dict[str, Any]:
    """One finding at `level` (a `Level` value, or "suppressed")."""
    pkg = finding.package
    return {
        "package": pkg.name,
        "version": pkg.version,
        "alias": pkg.aliases[0] if pkg.aliases else None,
        "paths": list(pkg.paths),
        "ids": list(finding.ids),
        "summary": finding.summary,
        "source": finding.source,
        "level": level,
        "note": finding.note,
    }


def suppression_json(s: Suppression) -> dict[str, Any]:
    return {
        "id": s.id,
        "package": s.package,
        "reason": s.reason,
        "until": s.until.isoformat() if s.until else None,
    }


def report_json(report: AuditReport) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "provscore", "version": __version__},
        "lockfile": str(report.lockfile.path),
        "format": report.lockfile.format,
        "mode": report.mode,
        "sources": [s.to_json() for s in report.sources],
        "policy": {"value": report.policy.value, "origin": report.policy_origin},
        "counts": {
            "packages": len(report.lockfile.packages),
            "checked": report.checked,
            "not_checked": len(report.not_checked),
            "findings": len(report.findings),
            "affected_packages": len({f.package.key for f in report.findings}),
            "suppressed": len(report.suppressed),
        },
        "findings": [finding_json(f, report.level.value) for f in report.findings],
        "suppressed": [
            {**finding_json(s.finding, "suppressed"), "suppression": suppression_json(s.by)}
            for s in report.suppressed
        ],
        "unused_suppressions": [suppression_json(s) for s in report.unused_suppressions],
        "expired_suppressions": [suppression_json(s) for s in report.expired_suppressions],
        "not_checked": [
            {"package": p.name, "version": p.version, "source": p.source.value}
            for p in report.not_checked
        ],
        "written": [
            {"path": str(path), "added": c.added, "updated": c.updated, "unchanged": c.unchanged}
            for path, c in report.written
        ],
    }


def render_json(report: AuditReport, *, pretty: bool = True) -> str:
    """Indented for people; compact (and several times faster: the C encoder only serves
    unindented output) for machines, which the CLI chooses when stdout is not a terminal."""
    if pretty:
        return json.dumps(report_json(report), indent=2) + "\n"
    return json.dumps(report_json(report), separators=(",", ":")) + "\n"
