"""A Markdown report sized for a pull-request comment: a verdict line, then a table.

Table cells escape the characters Markdown would interpret (`|`, backticks, angle brackets,
emphasis) as well as control characters, since package names and summaries are untrusted.
"""

from __future__ import annotations

import re

from scorer.records import AuditReport, Level
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
