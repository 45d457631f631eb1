"""SARIF 2.1.0 for code scanning: one rule per incident, one result per (package, incident).

`partialFingerprints` hash the package, version and incident ids only, so a finding keeps its
identity across runs, machines and line moves. Locations point into the lockfile, with the line
of the package's entry where the format has lines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from scorer import __version__
from scorer.records import AuditReport, Finding, Level, RiskReport, VerifyReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# SARIF result levels: a finding that is only counted is a note, not "none" (which hides it).
_LEVEL = {Level.ERROR: "error", Level.WARNING: "warning", Level.NONE: "note"}


def fingerprint(finding: Finding) -> str:
    key = "\0".join([finding.package.name, finding.package.version, *finding.ids])
    return hashlib.sha256(key.encode()).hexdigest()


def lockfile_line(text: str, name: str, paths: Sequence[str]) -> int | None:
    """The 1-based line of a package's entry in the lockfile text, where the format has one."""
    needles = [json.dumps(p) + ":" for p in paths]
    needles += [f"\n{p}:" for p in paths] + [f"\n'{p}':" for p in paths]
    needles += [f"\n  {p}:" for p in paths] + [f"\n  '{p}':" for p in paths]
    needles += [f'"{name}": {{\n', f'"{name}":']
    for needle in needles:
        at = text.find(needle)
        if at != -1:
            return text.count("\n", 0, at + (1 if needle.startswith("\n") else 0)) + 1
    return None


def sarif_log(rules: Mapping[str, dict[str, Any]], results: list[dict[str, Any]]) -> str:
    """One SARIF 2.1.0 run of provscore: its rules sorted by id, its results in order."""
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


def physical_location(path: Path, text: str, name: str, paths: Sequence[str]) -> dict[str, Any]:
    """A result's location: the lockfile, at the package's entry line where the format has one."""
    location: dict[str, Any] = {"artifactLocation": {"uri": uri(path)}}
    if (line := lockfile_line(text, name, paths)) is not None:
        location["region"] = {"startLine": line}
    return location


def uri(path: Path) -> str:
    """The lockfile as an RFC 3986 URI reference: relative to the working directory when it is
    inside it, else a file URI; percent-encoded either way (a space in a path made the SARIF
    invalid: the Multitool's Error_UrisMustConformToRfc3986)."""
    try:
        relative = path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri()
    return quote(relative, safe="/")


def help_uri(rule_id: str) -> str:
    """The advisory's page; the id comes from the advisory source, so it is percent-encoded."""
    return "https://osv.dev/vulnerability/" + quote(rule_id, safe="")


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
                # GitHub code scanning requires both (Multitool rule GH2012).
                "fullDescription": _malicious_rule(rule_id)["fullDescription"],
                "help": _malicious_rule(rule_id)["help"],
                "helpUri": help_uri(rule_id),
                "properties": {"aliases": list(f.ids[1:]), "tags": ["security", "malware"]},
            },
        )
        location = physical_location(path, text, f.package.name, f.package.paths)
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
    for f in report.collisions:
        rules.setdefault(COLLISION_RULE["id"], COLLISION_RULE)
        location = physical_location(path, text, f.package.name, f.package.paths)
        results.append(
            {
                "ruleId": COLLISION_RULE["id"],
                "level": _LEVEL[report.collision_level],
                "message": {"text": collision_message(f)},
                "locations": [{"physicalLocation": location}],
                "partialFingerprints": {"provscore/package-incident/v1": fingerprint(f)},
                "properties": {
                    "package": f.package.name,
                    "version": f.package.version,
                    "ids": list(f.ids),
                    "lockfile_origin": f.private_origin,
                },
            }
        )
    return sarif_log(rules, results)


COLLISION_RULE: dict[str, Any] = {
    "id": "provscore/name-collision",
    "name": "NameCollision",
    "shortDescription": {"text": "Private package named like a public malicious package"},
    "fullDescription": {
        "text": "The lockfile resolves this package from a private registry, while a "
        "malicious-package advisory names the public registry's package of the same name."
    },
    "help": {
        "text": "Make sure every install resolves this name from the private registry (an "
        ".npmrc scope registry), never from the public one: a misrouted install gets the "
        "malicious package."
    },
    "properties": {"tags": ["security", "supply-chain", "dependency-confusion"]},
}


def collision_message(finding: Finding) -> str:
    from scorer.origin import ADVISORY_ORIGIN

    return (
        f"{finding.subject} comes from the private registry {finding.private_origin}; "
        f"{', '.join(finding.ids)} is about {ADVISORY_ORIGIN}'s package of that name"
    )


# -- the risk report (`provscore report`) ----------------------------------------------------

_SARIF_LEVEL = {"error": "error", "warning": "warning", "none": "note"}


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def render_risk_sarif(report: RiskReport, *, pretty: bool = True) -> str:
    """The risk report as SARIF 2.1.0 (always indented)."""
    from scorer.report.as_json import risk_report_json

    return risk_sarif(
        risk_report_json(report, lambda p: bool(p.malicious) or p.level is not Level.NONE)
    )


def _risk_level(doc: Mapping[str, Any], score: float | None) -> str:
    """The level the risk policy alone gives `score`: a malicious package's level is the worse
    of its malicious and risk levels, and its reasons must not borrow the malicious one."""
    from scorer.policy import Policy, threshold_level

    risk = doc["policy"]["risk"]
    return threshold_level(score, risk["warn"], risk["error"], Policy(risk["value"])).value


def _malicious_level(doc: Mapping[str, Any]) -> str:
    from scorer.policy import Policy, finding_level

    return finding_level(Policy(doc["policy"]["malicious"]["value"])).value


def _malicious_rule(rule_id: str) -> dict[str, Any]:
    text = f"Known malicious package version ({rule_id})"
    return {
        "id": rule_id,
        "name": "MaliciousPackageVersion",
        "shortDescription": {"text": text},
        # GitHub code scanning requires fullDescription and help (Multitool rule GH2012).
        "fullDescription": {
            "text": f"The locked version is named by the malicious-package advisory {rule_id}."
        },
        "help": {
            "text": "Remove or replace this version and treat any machine that installed it "
            "as compromised; see the advisory for what the malware does."
        },
        "helpUri": help_uri(rule_id),
        "properties": {"tags": ["security", "malware"]},
    }


def _reason_rule(feature: str, meaning: str) -> dict[str, Any]:
    return {
        "id": f"provscore/{feature}",
        "name": "".join(w.title() for w in feature.split("_")),
        "shortDescription": {"text": meaning},
        "fullDescription": {
            "text": f"Publication-risk reason `{feature}`: {meaning}. It adds points to the "
            "version's risk score (0-100); the result's level comes from the score against "
            "the risk thresholds and the risk policy."
        },
        "help": {
            "text": "Review how this version was published before trusting it: compare it with "
            "the package's earlier releases and its source repository. A reviewed version can "
            'be suppressed with [[tool.provscore.suppress]] package = "name@version".'
        },
        "properties": {"tags": ["security", "supply-chain", "publication-risk"]},
    }


def risk_sarif(doc: Mapping[str, Any]) -> str:
    """SARIF 2.1.0: one rule per kind of reason (and per malicious incident), one result per
    (package, reason) of every flagged or malicious version, at the package's lockfile line.

    A malicious incident's result has the malicious policy's level; a reason's result has the
    level the risk policy gives the score (a reason of a malicious version scoring under the
    thresholds is a note, not an error)."""
    from scorer.features import FEATURES

    meaning = {f.name: f.meaning for f in FEATURES}
    path = Path(doc["lockfile"])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError:
        text = ""
    malicious_level = _malicious_level(doc)
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for pkg in doc["packages"]:
        if not pkg["malicious"] and not pkg.get("verification") and pkg["level"] == "none":
            continue
        location = physical_location(path, text, pkg["name"], pkg["paths"])
        spec = f"{pkg['name']}@{pkg['version']}"
        found: list[tuple[str, str, str]] = []  # (rule id, message, level)
        for incident in (pkg["malicious"] or {}).get("incidents", []):
            rule_id = incident["ids"][0]
            rules.setdefault(rule_id, _malicious_rule(rule_id))
            message = f"{spec} is a known malicious release ({', '.join(incident['ids'])})"
            if incident["summary"]:
                message += f": {incident['summary']}"
            found.append((rule_id, message, malicious_level))
        for failed in pkg.get("verification", ()):
            rule = _check_rule(failed["check"])
            rules.setdefault(rule["id"], rule)
            found.append((rule["id"], f"{spec}: {failed['detail']}", failed["level"]))
        if pkg["score"] is not None and pkg["reasons"]:
            level = _risk_level(doc, pkg["score"])
            for reason in pkg["reasons"]:
                rule = _reason_rule(
                    reason["feature"], meaning.get(reason["feature"], reason["feature"])
                )
                rules.setdefault(rule["id"], rule)
                found.append(
                    (
                        rule["id"],
                        f"{spec}: {reason['text']} (+{reason['points']:g} of risk score "
                        f"{pkg['score']:g})",
                        level,
                    )
                )
        for rule_id, message, level in found:
            results.append(
                {
                    "ruleId": rule_id,
                    "level": _SARIF_LEVEL[level],
                    "message": {"text": message},
                    "locations": [{"physicalLocation": location}],
                    "partialFingerprints": {
                        "provscore/package-reason/v1": _fingerprint(
                            pkg["name"], pkg["version"], rule_id
                        )
                    },
                    "properties": {
                        "package": pkg["name"],
                        "version": pkg["version"],
                        "score": pkg["score"],
                        "rank": pkg["rank"],
                    },
                }
            )
    return sarif_log(rules, results)


# -- the verification report (`provscore verify`) -----------------------------------------------

_CHECK_HELP = {
    "integrity": (
        "The lockfile's integrity does not match the registry's for this version",
        "The bytes the lockfile pins are not the bytes the registry publishes for this name "
        "and version: regenerate the lockfile from the registry and find out who changed it.",
    ),
    "signature": (
        "The registry's signature of this version does not verify",
        "The registry signs NAME@VERSION:INTEGRITY with its published keys; a missing or bad "
        "signature means the metadata did not come from the registry as published.",
    ),
    "provenance": (
        "A provenance attestation does not match this version",
        "An attestation for another package or other bytes, or one whose signature fails, "
        "does not vouch for this version: treat its build origin as unknown.",
    ),
    "origin": (
        "The lockfile resolves this version from an unexpected place",
        "The resolved URL points to another host, uses plain http, or names another tarball "
        "than this name and version's: an edited lockfile installs whatever is there.",
    ),
}


def _check_rule(check: str) -> dict[str, Any]:
    short, help_text = _CHECK_HELP[check]
    return {
        "id": f"provscore/verify/{check}",
        "name": "Verify" + check.title(),
        "shortDescription": {"text": short},
        "fullDescription": {"text": f"provscore verify, check `{check}`: {short.lower()}."},
        "help": {"text": help_text},
        "properties": {"tags": ["security", "supply-chain", "verification"]},
    }


def render_verify_sarif(report: VerifyReport, *, pretty: bool = True) -> str:
    """The verification report as SARIF 2.1.0 (always indented)."""
    from scorer.report.as_json import verify_report_json

    return verify_sarif(verify_report_json(report))


def verify_sarif(doc: Mapping[str, Any]) -> str:
    """One rule per check (and one for name collisions), one result per (package, check) that
    has a level, at the package's lockfile line."""
    from scorer.report.text import verify_findings

    path = Path(doc["lockfile"])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError:
        text = ""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for level, pkg, check, what in verify_findings(doc):
        rule = COLLISION_RULE if check == "collision" else _check_rule(check)
        rules.setdefault(rule["id"], rule)
        location = physical_location(path, text, pkg["name"], pkg["paths"])
        results.append(
            {
                "ruleId": rule["id"],
                "level": _SARIF_LEVEL[level],
                "message": {"text": f"{pkg['name']}@{pkg['version']}: {what}"},
                "locations": [{"physicalLocation": location}],
                "partialFingerprints": {
                    "provscore/package-check/v1": _fingerprint(
                        pkg["name"], pkg["version"], rule["id"]
                    )
                },
                "properties": {"package": pkg["name"], "version": pkg["version"], "check": check},
            }
        )
    return sarif_log(rules, results)
