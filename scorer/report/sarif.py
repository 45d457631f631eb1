"""SARIF 2.1.0 for code scanning: one rule per incident, one result per (package, incident).

`partialFingerprints` hash the package, version and incident ids only, so a finding keeps its
identity across runs, machines and line moves. Locations point into the lockfile, with the line
of the package's entry where the format has lines.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from scorer import __version__
from scorer.records import AuditReport, Finding, Level

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# SARIF result levels: a finding that is only counted is a note, not "none" (which hides it).
_LEVEL = {Level.ERROR: "error", Level.WARNING: "warning", Level.NONE: "note"}


def fingerprint(finding: Finding) -> str:
    key = "\0".join([finding.package.name, finding.package.version, *finding.ids])
    return hashlib.sha256(key.encode()).hexdigest()


def _line(text: str, finding: Finding) -> int | None:
    pkg = finding.package
    needles = [json.dumps(p) + ":" for p in pkg.paths]
    needles += [f"\n{p}:" for p in pkg.paths] + [f"\n'{p}':" for p in pkg.paths]
    needles += [f"\n  {p}:" for p in pkg.paths] + [f"\n  '{p}':" for p in pkg.paths]
    needles += [f'"{pkg.name}": {{\n', f'"{pkg.name}":']
    for needle in needles:
        at = text.find(needle)
        if at != -1:
            return text.count("\n", 0, at + (1 if needle.startswith("\n") else 0)) + 1
    return None


def _uri(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def render_sarif(report: AuditReport, *, pretty: bool = True) -> str:
    """The report as SARIF 2.1.0 (always indented; `pretty` is unused)."""
    path = report.lockfile.path
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError:
        text = ""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f in report.findings:
        rule_id = f.ids[0]
        rules.setdefault(
            rule_id,
            {
                "id": rule_id,
                "name": "MaliciousPackageVersion",
                "shortDescription": {"text": f.summary or f"Malicious package version ({rule_id})"},
                "helpUri": f"https://osv.dev/vulnerability/{rule_id}",
                "properties": {"aliases": list(f.ids[1:]), "tags": ["security", "malware"]},
            },
        )
        region = {"startLine": line} if (line := _line(text, f)) else None
        location: dict[str, Any] = {"artifactLocation": {"uri": _uri(path)}}
        if region:
            location["region"] = region
        message = f"{f.subject} is a known malicious release ({', '.join(f.ids)})"
        if f.summary:
            message += f": {f.summary}"
        results.append(
            {
                "ruleId": rule_id,
                "level": _LEVEL[report.level],
                "message": {"text": message},
                "locations": [{"physicalLocation": location}],
                "partialFingerprints": {"provscore/package-incident/v1": fingerprint(f)},
                "properties": {
                    "package": f.package.name,
                    "version": f.package.version,
                    "ids": list(f.ids),
                    "paths": list(f.package.paths),
                    "source": f.source,
                },
            }
        )
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "provscore",
                        "version": __version__,
                        "informationUri": "https://example.invalid/provscore",
                        "rules": [rules[k] for k in sorted(rules)],
                    }
                },
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
