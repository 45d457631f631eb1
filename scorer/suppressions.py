"""Suppressions: reviewed findings silenced for a stated reason, optionally until a date.

A suppression names an advisory id (any id of the incident) or an exact `name@version`. The
`name@version` form is generic: it matches any kind of finding whose subject is that version
(a malicious match, a risk flag), so one reviewed exception covers what the reviewer saw.
Expired suppressions silence nothing and are reported; live ones that matched nothing are
reported too, so stale entries get cleaned up. Parsing lives in `scorer.config`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Suppression:
    """Silences findings by advisory id (any id of the incident) or by exact `name@version`,
    for a stated reason, optionally until a date (inclusive)."""

    reason: str
    id: str | None = None
    package: str | None = None
    until: date | None = None

    @property
    def target(self) -> str:
        """What it names: the id or the `name@version`."""
        return self.id or self.package or ""

    def expired(self, today: date) -> bool:
        """True after `until` (the day itself still counts)."""
        return self.until is not None and today > self.until


def split_suppressed(
    findings: Sequence[tuple[str, tuple[str, ...]]],
    suppressions: Sequence[Suppression],
    today: date,
) -> tuple[list[Suppression | None], list[Suppression], list[Suppression]]:
    """For (subject, ids) findings: the first live suppression matching each (None: not
    suppressed), the live suppressions that matched nothing, and the expired ones (which
    suppress nothing). A finding without ids (a risk flag) is matched by subject only."""
    live = [s for s in suppressions if not s.expired(today)]
    expired = [s for s in suppressions if s.expired(today)]
    used: set[int] = set()
    matched: list[Suppression | None] = []
    for subject, ids in findings:
        hits = [
            i
            for i, s in enumerate(live)
            if (s.id is not None and s.id in ids)
            or (s.package is not None and s.package == subject)
        ]
        used.update(hits)
        matched.append(live[hits[0]] if hits else None)
    unused = [s for i, s in enumerate(live) if i not in used]
    return matched, unused, expired
