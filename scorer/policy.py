"""The one `error` / `warn` / `off` policy, where it comes from, and what it means for a run.

Order of precedence: the command-line option, then the environment variable, then the project
configuration, then `error`. An invalid value anywhere is a configuration error (exit 2): a
typo must never turn the gate off.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum

from scorer.config import Config, Suppression
from scorer.errors import ConfigError

POLICY_ENV = "PROVSCORE_COMPROMISED_POLICY"
POLICY_KEY = "compromised_policy"


class Policy(StrEnum):
    ERROR = "error"  # findings fail the run (exit 1)
    WARN = "warn"  # findings are reported as warnings; exit 0
    OFF = "off"  # findings are not failures; one summary line; exit 0


def resolve_policy(
    option: str | None, env: Mapping[str, str], config: Config
) -> tuple[Policy, str]:
    """(policy, where it came from)."""
    candidates = [
        (option, "--policy"),
        (env.get(POLICY_ENV), POLICY_ENV),
        (config.get(POLICY_KEY), f"{config.path} {POLICY_KEY}"),
    ]
    for value, origin in candidates:
        if value is None:
            continue
        try:
            return Policy(value.strip().lower()), origin
        except ValueError:
            raise ConfigError(
                f"{origin}: invalid policy {value!r} (expected error, warn or off)"
            ) from None
    return Policy.ERROR, "default"


def split_suppressed(
    findings: list[tuple[str, tuple[str, ...]]], suppressions: tuple[Suppression, ...], today: date
) -> tuple[list[Suppression | None], list[Suppression], list[Suppression]]:
    """For (subject, ids) findings: the first live suppression matching each (None: not
    suppressed), the live suppressions that matched nothing, and the expired ones (which
    suppress nothing)."""
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
