"""The JSON audit, risk and verification reports (schemas documented in the README;
`schema_version` bumps on change). `risk_report_json` and `verify_report_json` are the one
description of a `RiskReport` and a `VerifyReport` as data: every other format of those reports
(text, Markdown, SARIF, HTML) renders that dict, so they cannot disagree."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from scorer import __version__
from scorer.records import (
    AuditReport,
    Check,
    CheckResult,
    Finding,
    Level,
    Outcome,
    RankedPackage,
    RiskReport,
    VerifyReport,
)
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


def collision_json(finding: Finding, level: str) -> dict[str, Any]:
    """A name collision: the advisory's package is the public one, the lockfile's is private;
    both origins are named."""
    from scorer.origin import ADVISORY_ORIGIN

    return {
        **finding_json(finding, level),
        "advisory_origin": ADVISORY_ORIGIN,
        "lockfile_origin": finding.private_origin,
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
        # What the reader read in a degraded or suspicious way (a version that its registry
        # tarball contradicts, say): also on stderr, here so that CI keeps it.
        "lockfile_warnings": list(report.lockfile.warnings),
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
            "collisions": len(report.collisions),
        },
        "findings": [finding_json(f, report.level.value) for f in report.findings],
        "collisions": [collision_json(f, report.collision_level.value) for f in report.collisions],
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
    return dumps(report_json(report), pretty=pretty)


# -- the risk report (`provscore report`) ----------------------------------------------------


def _plain(value: object) -> object:
    """JSON-ready fact values: tuples as lists, NaN as null."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def ranked_json(entry: RankedPackage, rank: int, verified: bool = False) -> dict[str, Any]:
    pkg = entry.package
    malicious = None
    if entry.malicious:
        malicious = {
            "ids": sorted({i for f in entry.malicious for i in f.ids}),
            "summary": next((f.summary for f in entry.malicious if f.summary), None),
            "incidents": [
                {"ids": list(f.ids), "summary": f.summary, "source": f.source, "note": f.note}
                for f in entry.malicious
            ],
        }
    row, scored = entry.row, entry.scored
    details = row.details if row is not None else {}
    reasons = [
        {"feature": feature, "text": details.get(feature, feature), "points": round(points, 2)}
        for feature, points in (scored.contributions if scored is not None else ())
    ]
    unknown = [
        {"feature": feature, "why": why}
        for feature, why in (sorted(row.unknown.items()) if row is not None else ())
    ]
    facts = {
        key: {"value": _plain(value), "source": source}
        for key, (value, source) in (sorted(row.facts.items()) if row is not None else ())
    }
    change = entry.change
    out = {
        "rank": rank,
        "name": pkg.name,
        "version": pkg.version,
        "aliases": list(pkg.aliases),
        "paths": list(pkg.paths),
        "dev": pkg.dev,
        "source": pkg.source.value,
        "change": change.kind if change is not None else None,
        "replaces": list(change.replaces) if change is not None else None,
        "malicious": malicious,
        "score": round(scored.score, 2)
        if scored is not None and scored.score is not None
        else None,
        # Not scored (git, file, link, workspace): no share of the weight applies, so null.
        "confidence": round(scored.confidence, 3) if scored is not None else None,
        "level": entry.level.value,
        "suppressed": suppression_json(entry.suppressed) if entry.suppressed is not None else None,
        "suppressed_malicious": [
            {
                "ids": list(sf.finding.ids),
                "summary": sf.finding.summary,
                "suppression": suppression_json(sf.by),
            }
            for sf in entry.suppressed_malicious
        ],
        "reviewed": entry.reviewed.to_json() if entry.reviewed is not None else None,
        "not_scored": entry.not_scored,
        "reasons": reasons,
        "unknown": unknown,
        "facts": facts,
    }
    if verified:  # report_verify: the failed checks, hard hits beside malicious ones
        out["verification"] = [
            {"check": r.check.value, **check_json(r)} for r in entry.verification
        ]
    return out


def worth_reviewing(report: RiskReport) -> Callable[[RankedPackage], bool]:
    """The packages a person reviews first (what text and Markdown list): malicious hits, flagged
    versions and anything scoring above 0; in a --diff report every new or changed version."""
    if report.diff is not None:
        return lambda p: True
    return lambda p: bool(
        p.malicious or p.suppressed_malicious or p.level is not Level.NONE or (p.score or 0) > 0
    )


def risk_report_json(
    report: RiskReport, keep: Callable[[RankedPackage], bool] | None = None
) -> dict[str, Any]:
    """The report as data. `keep` leaves out the package entries a renderer will not show
    (building 10,000 entries to print 50 rows costs a quarter of a second); counts, ranks and
    everything else stay those of the whole report."""
    levels = Counter(p.level for p in report.packages)
    diff = None
    if report.diff is not None:
        kinds = Counter(c.kind for c in report.diff.changes)
        diff = {
            "old_lockfile": str(report.diff.old.path),
            "old_format": report.diff.old.format,
            "old_lockfile_warnings": list(report.diff.old.warnings),
            "added": kinds["added"],
            "changed": kinds["changed"],
            "unchanged": report.diff.unchanged,
            "removed": len(report.diff.removed),
        }
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "provscore", "version": __version__},
        "lockfile": str(report.lockfile.path),
        "format": report.lockfile.format,
        "lockfile_warnings": list(report.lockfile.warnings),
        "now": report.now.isoformat(),
        "diff": diff,
        "scorer": {
            "kind": report.scorer.kind,
            "name": report.scorer.name,
            "sha256": report.scorer.sha256,
        },
        "policy": {
            "malicious": {
                "value": report.malicious_policy.value,
                "origin": report.malicious_policy_origin,
            },
            "risk": {
                "value": report.risk_policy.value,
                "origin": report.risk_policy_origin,
                "warn": report.risk_warn.value,
                "error": report.risk_error.value,
                "warn_origin": report.risk_warn.origin,
                "error_origin": report.risk_error.origin,
            },
        },
        "sources": [s.to_json() for s in report.sources],
        "counts": {
            "packages": len(report.packages),
            "scored": sum(1 for p in report.packages if p.score is not None),
            "not_scored": sum(1 for p in report.packages if p.not_scored is not None),
            "malicious": sum(1 for p in report.packages if p.malicious),
            "error": levels[Level.ERROR],
            "warning": levels[Level.WARNING],
            "none": levels[Level.NONE],
            "suppressed": report.suppressed_malicious_count
            + sum(1 for p in report.packages if p.suppressed is not None),
            # Regardless of the risk policy (under `off` these are the versions "only counted").
            "at_or_above_warn": sum(
                1
                for p in report.packages
                if p.score is not None and p.score >= report.risk_warn.value
            ),
            "at_or_above_error": sum(
                1
                for p in report.packages
                if p.score is not None and p.score >= report.risk_error.value
            ),
            "reviewed": sum(1 for p in report.packages if p.reviewed is not None),
            "unknown_score": sum(
                1 for p in report.packages if p.not_scored is None and p.score is None
            ),
        },
        "packages": [
            ranked_json(p, i, report.verify_policy is not None)
            for i, p in enumerate(report.packages, start=1)
            if keep is None or keep(p)
        ],
        "unused_suppressions": [suppression_json(s) for s in report.unused_suppressions],
        "expired_suppressions": [suppression_json(s) for s in report.expired_suppressions],
        "unused_reviews": [r.to_json() for r in report.unused_reviews],
        "expired_reviews": [r.to_json() for r in report.expired_reviews],
    }
    if report.verify_policy is not None:
        doc["policy"]["verify"] = {  # type: ignore[index]
            "value": report.verify_policy.value,
            "origin": report.verify_policy_origin,
        }
        doc["counts"]["verification_failed"] = sum(  # type: ignore[index]
            1 for p in report.packages if p.verification
        )
    return doc


def dumps(doc: Any, *, pretty: bool) -> str:
    """Indented for people; compact (the C encoder) for machines."""
    if pretty:
        return json.dumps(doc, indent=2) + "\n"
    return json.dumps(doc, separators=(",", ":")) + "\n"


def render_risk_json(report: RiskReport, *, pretty: bool = True) -> str:
    return dumps(risk_report_json(report), pretty=pretty)


# -- the verification report (`provscore verify`) -----------------------------------------------


def check_json(result: CheckResult) -> dict[str, Any]:
    """One check of one version: outcome, why (unverifiable) or detail, and its level."""
    out: dict[str, Any] = {
        "outcome": result.outcome.value,
        "severity": result.severity.value,
        "level": result.level.value,
        "detail": result.detail,
        "why": result.why,
    }
    if result.check is Check.PROVENANCE:
        out["attestations"] = [
            {
                "predicate_type": a.predicate_type,
                "status": a.status.value,
                "why": a.why,
                "checked": list(a.checked),
            }
            for a in result.attestations
        ]
        facts = result.provenance
        out["provenance"] = (
            None
            if facts is None
            else {
                "repository": facts.repository,
                "ref": facts.ref,
                "commit": facts.commit,
                "workflow": facts.workflow,
                "builder": facts.builder,
                "certificate_identity": facts.certificate_identity,
            }
        )
    return out


def verify_report_json(report: VerifyReport) -> dict[str, Any]:
    """The one description of a `VerifyReport` as data: the text, Markdown and SARIF renderers
    render this dict."""
    levels = Counter(p.level for p in report.packages)
    per_check = {
        check.value: {
            outcome.value: sum(
                1
                for p in report.packages
                if (r := p.result(check)) is not None and r.outcome is outcome
            )
            for outcome in Outcome
        }
        for check in Check
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "provscore", "version": __version__},
        "lockfile": str(report.lockfile.path),
        "format": report.lockfile.format,
        "offline": report.offline,
        "registry": {"url": report.registry, "origin": report.registry_origin},
        "keys": list(report.keys),
        "policy": {"value": report.policy.value, "origin": report.policy_origin},
        "sources": [s.to_json() for s in report.sources],
        "counts": {
            "packages": len(report.lockfile.packages),
            "checked": len(report.packages),
            "not_checked": len(report.not_checked),
            "error": levels[Level.ERROR],
            "warning": levels[Level.WARNING],
            "none": levels[Level.NONE],
            "collisions": sum(len(p.collisions) for p in report.packages),
            "suppressed": sum(1 for p in report.packages if p.suppressed is not None),
            "checks": per_check,
        },
        "packages": [
            {
                "name": p.package.name,
                "version": p.package.version,
                "aliases": list(p.package.aliases),
                "paths": list(p.package.paths),
                "resolved": p.package.resolved,
                "integrity": p.package.integrity,
                "level": p.level.value,
                "checks": {r.check.value: check_json(r) for r in p.results},
                "collisions": [collision_json(f, p.collision_level.value) for f in p.collisions],
                "suppressed": None if p.suppressed is None else suppression_json(p.suppressed),
                "provenance_change": None
                if p.provenance_change is None
                else {
                    "changed": p.provenance_change.changed,
                    "detail": p.provenance_change.detail,
                    "previous_version": p.provenance_change.previous_version,
                },
            }
            for p in report.packages
        ],
        "not_checked": [
            {"package": p.name, "version": p.version, "source": p.source.value}
            for p in report.not_checked
        ],
        "expired_suppressions": [suppression_json(s) for s in report.expired_suppressions],
    }


def render_verify_json(report: VerifyReport, *, pretty: bool = True) -> str:
    return dumps(verify_report_json(report), pretty=pretty)
