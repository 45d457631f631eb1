"""The terminal report: a header, a table of findings (rich), then notes and a summary line.

Everything that comes from a lockfile or an advisory goes through `safe()`, so an advisory
summary or a package name cannot move the cursor, recolour the terminal or hide text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from io import StringIO
from typing import Any

from scorer.policy import listed
from scorer.records import AuditReport, Finding, Level, RiskReport, VerifyReport
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


def collision_line(finding: Finding, label: str) -> str:
    """One name collision, both origins named."""
    from scorer.origin import ADVISORY_ORIGIN

    return safe(
        f"{label}  name collision: {finding.subject} comes from the private registry "
        f"{finding.private_origin}; {', '.join(finding.ids)} is about {ADVISORY_ORIGIN}'s "
        "package of that name. Make sure this name always resolves to the private registry."
    )


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
    if listed(report.policy):
        for f in report.collisions:
            lines.append(collision_line(f, _LABEL[report.collision_level]))
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
    if report.collisions:
        c = len(report.collisions)
        lines.append(f"{c} name collision{'s' if c != 1 else ''} with public malicious packages")
    return "\n".join(lines) + "\n"


# -- the risk report (`provscore report`) ----------------------------------------------------

_RISK_LABEL = {"error": "ERROR", "warning": "WARN", "none": ""}
TOP_REASONS = 3


def reason_line(pkg: Mapping[str, Any], limit: int = TOP_REASONS) -> str:
    parts = []
    if pkg["malicious"]:
        ids = ", ".join(pkg["malicious"]["ids"])
        summary = pkg["malicious"]["summary"]
        parts.append(f"MALICIOUS {ids}" + (f": {summary}" if summary else ""))
    for failed in pkg.get("verification", ()):
        parts.append(f"VERIFY FAILED {failed['check']}: {failed['detail']}")
    for hit in pkg.get("suppressed_malicious", ()):
        parts.append(
            f"malicious {', '.join(hit['ids'])}, suppressed: {hit['suppression']['reason']}"
        )
    if pkg["not_scored"]:
        parts.append(f"not scored: {pkg['not_scored']}")
    elif pkg["score"] is None and pkg["unknown"]:
        # Listed with an unknown score only in a --diff report: say why nothing is known.
        whys = Counter(u["why"] for u in pkg["unknown"])
        parts.append(f"nothing known: {whys.most_common(1)[0][0]}")
    reasons = pkg["reasons"]
    parts += [f"{r['text']} (+{r['points']:g})" for r in reasons[:limit]]
    if len(reasons) > limit:
        parts.append(f"{len(reasons) - limit} more")
    if pkg["suppressed"]:
        parts.append(f"suppressed: {pkg['suppressed']['reason']}")
    if pkg.get("reviewed"):
        r = pkg["reviewed"]
        parts.append(f"reviewed {r['verdict']} by {r['reviewer']} on {r['date']}: {r['reason']}")
    return "; ".join(parts)


def score_cell(pkg: Mapping[str, Any]) -> str:
    if pkg["not_scored"]:
        return "-"
    if pkg["score"] is None:
        return "?"
    # One decimal at most, as the reasons' points are shown: 9.5 must not read as 10.
    return f"{round(pkg['score'], 1):g}"


def spec_cell(pkg: Mapping[str, Any]) -> str:
    spec = f"{pkg['name']}@{pkg['version']}"
    if pkg.get("replaces"):
        spec += f" (was {', '.join(pkg['replaces'])})"
    elif pkg.get("change") == "added":
        spec += " (new)"
    return spec


def shown(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """What a person reviews first: malicious hits, flagged versions and anything scoring.
    A --diff report lists every new or changed version: those are what the reviewer is asked
    to accept, including the ones about which nothing is known."""
    if doc["diff"]:
        return list(doc["packages"])
    return [
        p
        for p in doc["packages"]
        if p["malicious"]
        or p.get("suppressed_malicious")
        or p["level"] != "none"
        or (p["score"] or 0) > 0
    ]


def risk_summary(doc: Mapping[str, Any]) -> str:
    """One line: the counts by level, what the thresholds mean under the risk policy in force,
    and how many versions were scored from known facts, had nothing known, or cannot be."""
    c = doc["counts"]
    risk = doc["policy"]["risk"]
    warn, error = f"{risk['warn']:g}", f"{risk['error']:g}"
    meaning = {
        "error": f"scores >= {warn} are warnings, >= {error} errors",
        "warn": f"scores >= {warn} are flagged as warnings",
        "off": f"scores are only counted: {c['at_or_above_warn']} at or above {warn}, "
        f"{c['at_or_above_error']} at or above {error}",
    }[risk["value"]]
    suppressed = f", {c['suppressed']} suppressed" if c["suppressed"] else ""
    if c.get("reviewed"):
        suppressed += f", {c['reviewed']} reviewed"
    return (
        f"{c['malicious']} malicious, {c['error']} error, {c['warning']} warning{suppressed} "
        f"(risk policy {risk['value']}: {meaning}); "
        f"{c['scored']} scored, {c['unknown_score']} with nothing known, "
        f"{c['not_scored']} not scored (not registry packages)"
    )


def _risk_source_line(source: Mapping[str, Any]) -> str:
    kind = source["kind"]
    if kind == "osv-api":
        return f"OSV API {source['url']} ({source['records']} records)"
    if kind == "local-db":
        return f"local database {source['path']} ({source['records']} records)"
    if source.get("location") is None:
        return f"{kind}: not queried ({source.get('note') or 'no location'})"
    line = f"{kind} {source['location']}: {source['answered']}/{source['asked']} answered"
    if source.get("note"):
        line += f" ({source['note']})"
    return line


def render_risk_text(report: RiskReport, *, pretty: bool = True) -> str:
    """The ranked table: what a person reviews first, with the top reasons of each."""
    from scorer.report.as_json import risk_report_json, worth_reviewing

    return risk_text(risk_report_json(report, worth_reviewing(report)))


def risk_text(doc: Mapping[str, Any], *, width: int = 120, limit: int = 50) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    lines = [
        safe(
            f"{doc['lockfile']} ({doc['format']}): {doc['counts']['packages']} packages, "
            f"scanned {doc['now']}, scorer {doc['scorer']['kind']} ({doc['scorer']['name']})"
        )
    ]
    if doc["diff"]:
        d = doc["diff"]
        lines.append(
            safe(
                f"compared with {d['old_lockfile']}: {d['added']} added, {d['changed']} changed, "
                f"{d['unchanged']} unchanged, {d['removed']} removed"
            )
        )
    lines += [safe("  " + _risk_source_line(s)) for s in doc["sources"]]
    rows = shown(doc)
    if rows:
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for column in ("#", "level", "score", "package", "reasons"):
            table.add_column(column, overflow="fold")
        for pkg in rows[:limit]:
            cells = (
                str(pkg["rank"]),
                _RISK_LABEL[pkg["level"]],
                score_cell(pkg),
                spec_cell(pkg),
                reason_line(pkg),
            )
            table.add_row(*(Text(safe(c)) for c in cells))
        buffer = StringIO()
        Console(file=buffer, width=width, color_system=None, highlight=False).print(table)
        lines += [line.rstrip() for line in buffer.getvalue().splitlines()]
        if len(rows) > limit:
            lines.append(f"... {len(rows) - limit} more not shown (see --format json)")
    elif doc["diff"]:
        lines.append("no new or changed registry version")
    else:
        lines.append("no version scored above 0")
    for key, word in (("expired_suppressions", "expired"), ("unused_suppressions", "unused")):
        for s in doc[key]:
            target = s["id"] or s["package"]
            lines.append(safe(f"warning: {word} suppression of {target} ({s['reason']})"))
    for key, word in (("expired_reviews", "expired"), ("unused_reviews", "unused")):
        for r in doc.get(key, ()):
            lines.append(
                safe(f"warning: {word} {r['verdict']} review of {r['package']} ({r['reason']})")
            )
    lines.append(risk_summary(doc))
    return "\n".join(lines) + "\n"


# -- the verification report (`provscore verify`) -----------------------------------------------


def render_verify_text(report: VerifyReport, *, pretty: bool = True) -> str:
    from scorer.report.as_json import verify_report_json

    return verify_text(verify_report_json(report))


def verify_findings(doc: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], str, str]]:
    """(level, package, check, what) for every check result with a level, worst first, then
    by package; name collisions as check `collision`. A suppressed version has no findings."""
    rows = []
    for pkg in doc["packages"]:
        if pkg["suppressed"] is not None:
            continue
        for check, result in pkg["checks"].items():
            if result["level"] != "none":
                what = result["detail"] or result["why"] or ""
                rows.append((result["level"], pkg, check, f"{result['outcome']}: {what}"))
        for hit in pkg["collisions"]:
            if hit["level"] != "none":
                what = (
                    f"name collision: from the private registry {hit['lockfile_origin']}; "
                    f"{', '.join(hit['ids'])} is about {hit['advisory_origin']}'s package"
                )
                rows.append((hit["level"], pkg, "collision", what))
    order = {"error": 0, "warning": 1}
    return sorted(rows, key=lambda r: (order[r[0]], r[1]["name"], r[1]["version"], r[2]))


def _suppressed_note(counts: Mapping[str, Any]) -> str:
    return f" ({counts['suppressed']} suppressed)" if counts["suppressed"] else ""


def verify_text(doc: Mapping[str, Any], *, width: int = 120, limit: int = 200) -> str:
    """The verification report as terminal text: a header, each finding on a line, the counts
    per check, and a verdict."""
    counts = doc["counts"]
    lines = [
        safe(
            f"{doc['lockfile']} ({doc['format']}): {counts['packages']} packages, "
            f"{counts['checked']} registry versions verified against {doc['registry']['url']} "
            f"(from {doc['registry']['origin']})" + (", offline" if doc["offline"] else "")
        )
    ]
    lines += [safe(f"keys: {line}") for line in doc["keys"]]
    rows = verify_findings(doc)
    listed_rows = doc["policy"]["value"] != "off"
    if listed_rows:
        for level, pkg, check, what in rows[:limit]:
            lines.append(
                safe(f"{_RISK_LABEL[level]:5} {pkg['name']}@{pkg['version']}  {check}  {what}")
            )
        if len(rows) > limit:
            lines.append(f"... {len(rows) - limit} more (see --format json)")
    for pkg in doc["packages"]:
        if pkg["suppressed"] is not None:
            why = pkg["suppressed"]["reason"]
            lines.append(safe(f"suppressed  {pkg['name']}@{pkg['version']}  ({why})"))
    for s in doc["expired_suppressions"]:
        target = s["id"] or s["package"]
        lines.append(safe(f"warning: expired suppression of {target} ({s['reason']})"))
    for check, by in counts["checks"].items():
        lines.append(
            f"{check:10} {by['verified']} verified, {by['failed']} failed, "
            f"{by['unverifiable']} unverifiable"
        )
    for source in doc["sources"]:
        if source.get("note"):
            lines.append(safe(f"{source['kind']}: {source['note']}"))
    if counts["not_checked"]:
        lines.append(f"not checked: {counts['not_checked']} non-registry packages")
    errors, warnings = counts["error"], counts["warning"]
    policy = doc["policy"]
    if not listed_rows:
        flagged = sum(
            1
            for p in doc["packages"]
            if any(r["severity"] != "none" for r in p["checks"].values()) or p["collisions"]
        )
        lines.append(f"{flagged} versions with findings (policy off: not reported as failures)")
    elif errors or warnings:
        lines.append(
            f"{errors} versions at error, {warnings} at warning (policy {policy['value']}, "
            f"from {safe(policy['origin'])})" + _suppressed_note(counts)
        )
    else:
        lines.append("no verification findings" + _suppressed_note(counts))
    return "\n".join(line.rstrip() for line in lines) + "\n"
