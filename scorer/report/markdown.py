"""A Markdown report sized for a pull-request comment: a verdict line, then a table.

Table cells escape the characters Markdown would interpret (`|`, backticks, angle brackets,
emphasis) as well as control characters, since package names and summaries are untrusted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from scorer.records import AuditReport, Level, RiskReport
from scorer.text import safe

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!~])")
MAX_ROWS = 50


def md(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", safe(text).replace("\n", " "))


def render_markdown(report: AuditReport, *, pretty: bool = True) -> str:
    """The report as Markdown."""
    lock = report.lockfile
    n = len(report.findings)
    if n == 0:
        verdict = "No malicious package versions found."
    elif report.level is Level.ERROR:
        verdict = f"**{n} malicious package version{'s' if n != 1 else ''} found.**"
    else:
        verdict = (
            f"{n} malicious package version{'s' if n != 1 else ''} found "
            f"(policy `{report.policy.value}`)."
        )
    out = [
        "### provscore audit",
        "",
        verdict,
        "",
        f"{md(str(lock.path))} ({md(lock.format)}): {len(lock.packages)} packages, "
        f"{report.checked} checked ({report.mode}).",
    ]
    if report.findings:
        out += ["", "| package | version | advisories | summary |", "|---|---|---|---|"]
        for f in report.findings[:MAX_ROWS]:
            out.append(
                f"| {md(f.package.name)} | {md(f.package.version)} | "
                f"{md(', '.join(f.ids))} | {md(f.summary or '')} |"
            )
        if n > MAX_ROWS:
            out.append(f"| … | | {n - MAX_ROWS} more | |")
    extras = []
    if report.suppressed:
        extras.append(f"{len(report.suppressed)} suppressed")
    if report.not_checked:
        extras.append(f"{len(report.not_checked)} non-registry packages not checked")
    if report.expired_suppressions:
        extras.append(f"{len(report.expired_suppressions)} expired suppressions")
    if report.unused_suppressions:
        extras.append(f"{len(report.unused_suppressions)} unused suppressions")
    if extras:
        out += ["", "_" + "; ".join(extras) + "._"]
    return "\n".join(out) + "\n"


# -- the risk report (`provscore report`) ----------------------------------------------------


def render_risk_markdown(report: RiskReport, *, pretty: bool = True) -> str:
    """Sized for a pull-request comment: flagged versions first, the rest folded."""
    from scorer.report.as_json import risk_report_json

    return risk_markdown(risk_report_json(report))


def risk_markdown(doc: Mapping[str, Any], *, limit: int = 50) -> str:
    from scorer.report.text import reason_line, risk_summary, score_cell, shown, spec_cell

    c = doc["counts"]
    flagged = [p for p in doc["packages"] if p["malicious"] or p["level"] != "none"]
    rest = [p for p in shown(doc) if p not in flagged]
    if c["malicious"]:
        verdict = f"**{c['malicious']} malicious package version(s).**"
    elif flagged:
        verdict = f"**{len(flagged)} version(s) flagged for review.**"
    else:
        verdict = "No malicious or flagged versions."
    out = ["### provscore report", "", verdict, "", md(risk_summary(doc)) + "."]
    if doc["diff"]:
        d = doc["diff"]
        out += [
            "",
            f"Changes against {md(d['old_lockfile'])}: {d['added']} added, {d['changed']} changed.",
        ]

    def table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
        body = ["| # | level | score | package | reasons |", "|---|---|---|---|---|"]
        for p in rows[:limit]:
            body.append(
                f"| {p['rank']} | {p['level']} | {score_cell(p)} | {md(spec_cell(p))} | "
                f"{md(reason_line(p))} |"
            )
        if len(rows) > limit:
            body.append(f"| … | | | {len(rows) - limit} more | |")
        return body

    if flagged:
        out += ["", *table(flagged)]
    if rest:
        out += [
            "",
            f"<details><summary>{len(rest)} more with a score above 0</summary>",
            "",
            *table(rest),
            "",
            "</details>",
        ]
    return "\n".join(out) + "\n"
