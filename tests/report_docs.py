"""Report documents (schema_version 1, /README "report JSON") for renderer tests: `package(...)`
builds one package entry with every field present, `report_doc(...)` wraps packages in a whole
document with counts derived from them, and `sample_doc()` is a fixed mix that covers every case
a renderer must handle: a malicious hit, error / warning / none levels, unknown scores, packages
that are not scored, a suppression, a diff and hostile strings. Constructed data, not real
packages (apart from a few well-known names)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Strings a browser, terminal or Markdown viewer might interpret: each must come out as text.
HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "</script><script>window.pwned=1</script>"
HOSTILE_ATTR = '"><svg onload=alert(2)>'
# A right-to-left override that would show the name reversed, an ANSI escape and a NUL.
HOSTILE_BIDI = "\u202eevil-gnp\u202c\x1b[31m\x00"
HOSTILE_NAMES = (HOSTILE_IMG, HOSTILE_SCRIPT, HOSTILE_ATTR, HOSTILE_BIDI)


def reason(feature: str, points: float, text: str | None = None) -> dict[str, Any]:
    return {"feature": feature, "text": text or feature.replace("_", " "), "points": points}


def package(
    name: str,
    version: str,
    *,
    score: float | None = None,
    confidence: float | None = 1.0,
    level: str = "none",
    reasons: Sequence[dict[str, Any]] = (),
    unknown: Sequence[tuple[str, str]] = (),
    malicious: Sequence[str] = (),
    summary: str | None = None,
    not_scored: str | None = None,
    source: str = "registry",
    suppressed: dict[str, Any] | None = None,
    change: str | None = None,
    replaces: Sequence[str] | None = None,
    dev: bool = False,
) -> dict[str, Any]:
    """One entry of `packages`; `rank` is filled in by `report_doc` from the list order."""
    return {
        "rank": 0,
        "name": name,
        "version": version,
        "aliases": [],
        "paths": [f"node_modules/{name}"],
        "dev": dev,
        "source": source,
        "replaces": list(replaces) if replaces is not None else None,
        "change": change,
        "malicious": (
            {
                "ids": list(malicious),
                "summary": summary,
                "incidents": [
                    {"ids": list(malicious), "summary": summary, "source": "local", "note": None}
                ],
            }
            if malicious
            else None
        ),
        "score": score,
        "confidence": confidence,
        "level": level,
        "suppressed": suppressed,
        "not_scored": not_scored,
        "reasons": list(reasons),
        "unknown": [{"feature": f, "why": why} for f, why in unknown],
        "facts": {},
    }


def report_doc(
    packages: Sequence[dict[str, Any]],
    *,
    lockfile: str = "data/examples/demo/package-lock.json",
    diff: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole document; `packages` must already be in rank order (ranks are their positions)."""
    ranked = [{**p, "rank": i} for i, p in enumerate(packages, start=1)]
    scored = [p for p in ranked if p["not_scored"] is None]
    return {
        "schema_version": 1,
        "tool": {"name": "provscore", "version": "0.test"},
        "lockfile": lockfile,
        "format": "package-lock@3",
        "lockfile_warnings": [],
        "now": "2026-11-30T12:00:00+00:00",
        "diff": diff,
        "scorer": {"kind": "weighted", "name": "weights.toml", "sha256": "ab" * 32},
        "policy": {
            "malicious": {"value": "error", "origin": "default"},
            "risk": {
                "value": "error",
                "origin": "option",
                "warn": 40,
                "error": 70,
                "warn_origin": "default",
                "error_origin": "config",
            },
        },
        "sources": [
            {"kind": "local-db", "path": "data/examples/npm-app/osv.json", "records": 4},
            {
                "kind": "registry",
                "location": "https://registry.example.invalid/",
                "asked": len(scored),
                "answered": len(scored) - 1,
                "failed": 1,
                "requests": len(scored),
                "note": None,
            },
            {
                "kind": "insights",
                "location": None,
                "asked": 0,
                "answered": 0,
                "failed": 0,
                "requests": 0,
                "note": "no insights endpoint configured",
            },
        ],
        "counts": {
            "packages": len(ranked),
            "scored": sum(p["score"] is not None for p in scored),
            "not_scored": len(ranked) - len(scored),
            "malicious": sum(p["malicious"] is not None for p in ranked),
            "error": sum(p["level"] == "error" for p in ranked),
            "warning": sum(p["level"] == "warning" for p in ranked),
            "none": sum(p["level"] == "none" for p in ranked),
            "suppressed": sum(p["suppressed"] is not None for p in ranked),
            "at_or_above_warn": sum((p["score"] or 0) >= 40 for p in scored),
            "at_or_above_error": sum((p["score"] or 0) >= 70 for p in scored),
            "unknown_score": sum(p["score"] is None for p in scored),
        },
        "packages": ranked,
        "unused_suppressions": [
            {"id": None, "package": "gone@1.0.0", "reason": "reviewed <b>ok</b>", "until": None}
        ],
        "expired_suppressions": [],
    }


def sample_doc() -> dict[str, Any]:
    """Eleven scored packages in rank order (scores chosen so that text and numeric sorting
    differ: 100, 9.5, 12), two unknown scores and two packages that are not scored."""
    no_insights = ("no_2fa", "no insights endpoint configured")
    return report_doc(
        [
            package(
                "chalk",
                "5.6.1",
                score=35.0,
                confidence=0.8,
                level="error",
                malicious=["MAL-2025-46969", "GHSA-2v46-p5h4-248w"],
                summary="chalk 5.6.1 is a compromised release",
                reasons=[reason("publisher_changed", 20.0), reason("young_release", 15.0)],
                unknown=[no_insights],
            ),
            package(
                "everything-bad",
                "1.0.0",
                score=100.0,
                level="error",
                reasons=[
                    reason("tor", 40.0, "published over Tor"),
                    reason("no_2fa", 30.0, "published without 2FA"),
                    reason("install_script_added", 20.0, "postinstall script added"),
                    reason("new_publisher", 10.0, "publisher never published this package"),
                ],
            ),
            package(
                "tor-release",
                "2.3.4",
                score=92.0,
                level="error",
                reasons=[
                    reason("tor", 60.0, "published over Tor"),
                    reason("young_release", 32.0),
                ],
                change="changed",
                replaces=["2.3.3"],
            ),
            package(
                HOSTILE_IMG,
                "1.0.0",
                score=75.0,
                confidence=0.9,
                level="error",
                reasons=[reason("no_2fa", 75.0, "published without 2FA")],
                change="added",
            ),
            package(
                HOSTILE_SCRIPT,
                HOSTILE_ATTR,
                score=55.0,
                level="warning",
                reasons=[reason("provenance_lost", 55.0, HOSTILE_SCRIPT)],
            ),
            package(
                HOSTILE_ATTR,
                "0.0.1",
                score=45.0,
                confidence=0.5,
                level="warning",
                reasons=[reason("publisher_changed", 45.0, HOSTILE_IMG)],
                unknown=[("no_2fa", HOSTILE_ATTR)],
                suppressed={"reason": "reviewed by <b>sec</b>", "until": "2027-01-01"},
            ),
            package(
                HOSTILE_BIDI,
                "3.0.0",
                score=12.0,
                level="none",
                reasons=[reason("dormant_before", 12.0)],
            ),
            package(
                "nine-and-a-half",
                "1.2.0",
                score=9.5,
                level="none",
                reasons=[reason("young_release", 9.5)],
                dev=True,
            ),
            package("left-pad", "1.3.0", score=0.0, level="none"),
            package(
                "mystery",
                "4.0.0",
                score=None,
                confidence=0.0,
                level="none",
                unknown=[no_insights, ("tor", "registry did not answer")],
            ),
            package(
                "vanished",
                "0.1.0",
                score=None,
                confidence=0.0,
                level="none",
                unknown=[("new_package", "registry did not answer")],
            ),
            package(
                "my-fork",
                "github:someone/my-fork#abc123",
                score=None,
                confidence=None,
                source="git",
                not_scored="git dependency: not published to a registry",
            ),
            package(
                "app-lib",
                "0.0.0",
                score=None,
                confidence=None,
                source="workspace",
                not_scored="workspace package: part of this project",
            ),
        ],
        diff={
            "old_lockfile": "old/package-lock.json",
            "old_format": "package-lock@3",
            "old_lockfile_warnings": [],
            "added": 1,
            "changed": 1,
            "unchanged": 80,
            "removed": 2,
        },
    )
