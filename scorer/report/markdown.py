"""A Markdown report sized for a pull-request comment: a verdict line, then a table.

Table cells escape the characters Markdown would interpret (`|`, backticks, angle brackets,
emphasis, entities) as well as control characters, since package names and summaries are
untrusted. `@name` and `@scope/name` go into code spans: GitHub turns them into user and team
mentions (notifications) everywhere but in code, and every scoped package name is one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from scorer.records import AuditReport, Level, RiskReport, VerifyReport
from scorer.text import safe

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!~&])")
# What GitHub reads as a mention: `@` not preceded by a word character, then a login or team.
_MENTION = re.compile(r"(?<![\w`])@[\w.-]+(?:/[\w.-]+)?")
_BACKTICKS = re.compile(r"`+")
MAX_ROWS = 50


def code(text: str) -> str:
    """`text` as an inline code span (safe for a table cell): nothing in it is Markdown, HTML
    or a mention. The fence is one backtick longer than the longest run inside."""
    body = safe(text).replace("|", "\\|")
    fence = "`" * (1 + max((len(m) for m in _BACKTICKS.findall(body)), default=0))
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def md(text: str) -> str:
    """Untrusted `text` as inert Markdown: special characters escaped, mentions in code."""
    clean = safe(text)
    out, at = [], 0
    for m in _MENTION.finditer(clean):
        out.append(_SPECIAL.sub(r"\\\1", clean[at : m.start()]))
        out.append(code(m.group()))
        at = m.end()
    out.append(_SPECIAL.sub(r"\\\1", clean[at:]))
    return "".join(out)


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
    if report.collisions:
        from scorer.origin import ADVISORY_ORIGIN

        out += [
            "",
            f"Name collisions ({report.collision_level.value}): private packages named like a"
            f" malicious package of {ADVISORY_ORIGIN}.",
            "",
            "| package | version | advisories | lockfile origin |",
            "|---|---|---|---|",
        ]
        for f in report.collisions[:MAX_ROWS]:
            out.append(
                f"| {md(f.package.name)} | {md(f.package.version)} | {md(', '.join(f.ids))} | "
                f"{md(f.private_origin or '')} |"
            )
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

# GitHub refuses an issue or pull-request comment body longer than this many characters.
MAX_COMMENT = 65_536
MAX_CELL = 400  # characters of one cell before it is cut: one hostile name cannot fill a comment


def clip(text: str, limit: int = MAX_CELL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_risk_markdown(report: RiskReport, *, pretty: bool = True) -> str:
    """Sized for a pull-request comment: flagged versions first, the rest folded."""
    from scorer.report.as_json import risk_report_json, worth_reviewing

    return risk_markdown(risk_report_json(report, worth_reviewing(report)))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def risk_markdown(
    doc: Mapping[str, Any], *, limit: int = MAX_ROWS, max_chars: int = MAX_COMMENT
) -> str:
    """The report as one pull-request comment: verdict, the flagged versions in a table, the
    other listed versions folded in <details>. At most `limit` rows per table, and rows are left
    out from the end (folded ones first) until the comment fits in `max_chars`; the comment
    says how many were left out."""
    from scorer.report.text import reason_line, risk_summary, score_cell, shown, spec_cell

    c = doc["counts"]
    flagged = [p for p in doc["packages"] if p["malicious"] or p["level"] != "none"]
    rest = [p for p in shown(doc) if not (p["malicious"] or p["level"] != "none")]
    risky = sum(1 for p in flagged if not p["malicious"])
    parts = []
    if c["malicious"]:
        parts.append(_plural(c["malicious"], "malicious package version"))
    if risky:
        parts.append(_plural(risky, "version") + " flagged for review")
    verdict = f"**{'; '.join(parts)}.**" if parts else "No malicious or flagged versions."
    intro = [
        "### provscore report",
        "",
        verdict,
        "",
        f"{md(clip(doc['lockfile']))} ({md(doc['format'])}): {c['packages']} packages, "
        f"scanned {md(doc['now'])}.",
    ]
    if doc["diff"]:
        d = doc["diff"]
        intro.append(
            f"Only what changed against {md(clip(d['old_lockfile']))}: {d['added']} added, "
            f"{d['changed']} changed ({d['unchanged']} unchanged, {d['removed']} removed)."
        )
    intro += ["", md(risk_summary(doc)) + "."]
    outro = []
    notes = []
    if doc["expired_suppressions"]:
        notes.append(_plural(len(doc["expired_suppressions"]), "expired suppression"))
    if doc["unused_suppressions"]:
        notes.append(_plural(len(doc["unused_suppressions"]), "unused suppression"))
    if notes:
        outro += ["", "_" + "; ".join(notes) + " (see the text or JSON report)._"]

    def row(p: Mapping[str, Any]) -> str:
        return (
            f"| {p['rank']} | {p['level']} | {score_cell(p)} | {code(clip(spec_cell(p)))} | "
            f"{md(clip(reason_line(p)))} |"
        )

    flagged_rows = [row(p) for p in flagged[:limit]]
    rest_rows = [row(p) for p in rest[:limit]]
    header = ["| # | level | score | package | reasons |", "|---|---|---|---|---|"]

    def assemble(n_flagged: int, n_rest: int) -> str:
        out = list(intro)
        if n_flagged:
            out += ["", *header, *flagged_rows[:n_flagged]]
        if n_rest:
            word = "new or changed version" if doc["diff"] else "version with a score above 0"
            label = _plural(len(rest), ("other " if flagged else "") + word)
            out += [
                "",
                f"<details><summary>{label}</summary>",
                "",
                *header,
                *rest_rows[:n_rest],
                "",
                "</details>",
            ]
        left_out = len(flagged) - n_flagged + len(rest) - n_rest
        if left_out:
            out += [
                "",
                f"_{_plural(left_out, 'more row')} left out to fit one comment; "
                "see `--format json` or `--format html` for all._",
            ]
        return "\n".join(out + outro) + "\n"

    n_flagged, n_rest = len(flagged_rows), len(rest_rows)
    text = assemble(n_flagged, n_rest)
    while len(text) > max_chars and (n_flagged or n_rest):
        if n_rest:
            n_rest -= 1
        else:
            n_flagged -= 1
        text = assemble(n_flagged, n_rest)
    return text


# -- the verification report (`provscore verify`) -----------------------------------------------


def render_verify_markdown(report: VerifyReport, *, pretty: bool = True) -> str:
    from scorer.report.as_json import verify_report_json

    return verify_markdown(verify_report_json(report))


def verify_markdown(doc: Mapping[str, Any]) -> str:
    """A verdict, the findings (worst first, at most MAX_ROWS) and the counts per check."""
    from scorer.report.text import verify_findings

    counts = doc["counts"]
    rows = verify_findings(doc) if doc["policy"]["value"] != "off" else []
    errors, warnings = counts["error"], counts["warning"]
    if errors:
        verdict = f"**{_plural(errors, 'version')} failed verification.**"
    elif warnings:
        verdict = (
            f"{_plural(warnings, 'version')} with warnings (policy `{doc['policy']['value']}`)."
        )
    else:
        verdict = "No verification findings."
    out = [
        "### provscore verify",
        "",
        verdict,
        "",
        f"{md(doc['lockfile'])} ({md(doc['format'])}): {counts['checked']} registry versions "
        f"verified against {code(doc['registry']['url'])}"
        + (f"; {counts['suppressed']} suppressed." if counts["suppressed"] else "."),
    ]
    if rows:
        out += ["", "| level | package | check | finding |", "|---|---|---|---|"]
        for level, pkg, check, what in rows[:MAX_ROWS]:
            out.append(
                f"| {level} | {md(pkg['name'] + '@' + pkg['version'])} | {check} | "
                f"{md(clip(what))} |"
            )
        if len(rows) > MAX_ROWS:
            out.append(f"| … | {len(rows) - MAX_ROWS} more | | |")
    out += ["", "| check | verified | failed | unverifiable |", "|---|---|---|---|"]
    for check, by in counts["checks"].items():
        out.append(f"| {check} | {by['verified']} | {by['failed']} | {by['unverifiable']} |")
    return "\n".join(out) + "\n"
