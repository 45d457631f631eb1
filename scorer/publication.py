"""`Publication`: everything known about how one version was published, each fact with its source.

Two sources feed it: the insights endpoint (publisher, publish time, Tor, 2FA) and the registry's
package document (publisher, e-mail domain, trusted publishing, maintainers, publish and creation
times, provenance, signatures, install scripts, deprecation). A fact holds one `Observation` per
source that speaks to it; when sources disagree (two publishers) both stay visible and the fact
has no single value. Unknown is `None` with the reason. The previous version in publish order
gets the same treatment, so changes can be seen. This module is the pure model and `merge`
only: it does no I/O and imports no HTTP or GraphQL client. Rendering lives in
`scorer.report.publication`, gathering from the network in `scorer.gather`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from scorer.signals import RegistrySignals, VersionFacts

if TYPE_CHECKING:
    from scorer.insights.client import InsightsAnswer

Value = str | bool | tuple[str, ...] | None
INSIGHTS, REGISTRY = "insights", "registry"
# (Publication field, insights answer field or None, registry VersionFacts field or None)
FACTS: tuple[tuple[str, str | None, str | None], ...] = (
    ("publisher", "username", "publisher"),
    ("published_at", "created", "published_at"),
    ("tor", "tor", None),
    ("tfa", "tfa", None),
    ("publisher_email_domain", None, "publisher_email_domain"),
    ("trusted_publisher", None, "trusted_publisher"),
    ("trusted_publisher_id", None, "trusted_publisher_id"),
    ("maintainers", None, "maintainers"),
    ("provenance", None, "provenance"),
    ("registry_signature", None, "registry_signature"),
    ("install_scripts", None, "install_scripts"),
    ("has_install_script", None, "has_install_script"),
    ("deprecated", None, "deprecated"),
)


@dataclass(frozen=True, slots=True)
class Observation:
    source: str
    value: Value
    reason: str | None = None  # why `value` is None


@dataclass(frozen=True, slots=True)
class Fact:
    """One fact as each source reported it."""

    observations: tuple[Observation, ...]

    @property
    def conflict(self) -> bool:
        known = [o.value for o in self.observations if o.value is not None]
        return any(not _same(known[0], other) for other in known[1:])

    @property
    def value(self) -> Value:
        """The agreed value; `None` when unknown or when the sources disagree."""
        known = [o.value for o in self.observations if o.value is not None]
        return known[0] if known and not self.conflict else None

    @property
    def reason(self) -> str | None:
        if self.conflict:
            return "sources disagree: " + ", ".join(
                f"{o.source}={show_value(o.value)}"
                for o in self.observations
                if o.value is not None
            )
        if self.value is not None:
            return None
        return (
            "; ".join(f"{o.source}: {o.reason}" for o in self.observations if o.reason)
            or "no source reports it"
        )


@dataclass(frozen=True, slots=True)
class Publication:
    name: str
    version: str
    facts: Mapping[str, Fact]  # keyed by the names in FACTS, always all present
    package_created_at: Fact
    previous: Publication | None
    previous_reason: str | None  # why `previous` is None

    def __getitem__(self, fact: str) -> Fact:
        return self.facts[fact]


def merge(
    name: str,
    version: str,
    insights: InsightsAnswer | None,
    signals: RegistrySignals | None,
    previous_insights: InsightsAnswer | None = None,
    insights_missing: str = "no insights endpoint configured",
) -> Publication:
    """Combine both sources for one version (and its predecessor). Pure."""
    current = signals.current if signals else None
    facts = _facts(insights, current, _why_no_registry(signals, "current"), insights_missing)
    created = Fact(
        (
            Observation(
                REGISTRY,
                signals.package_created_at if signals else None,
                _why_no_registry(signals, "package_created_at"),
            ),
        )
    )
    previous = None
    previous_reason: str | None = _why_no_registry(signals, "previous")
    if signals is not None and signals.previous is not None:
        prev = signals.previous
        prev_facts = _facts(previous_insights, prev, None, insights_missing)
        previous = Publication(
            name, prev.version, prev_facts, created, None, "not followed further"
        )
        previous_reason = None
    return Publication(name, version, facts, created, previous, previous_reason)


def _why_no_registry(signals: RegistrySignals | None, part: str) -> str:
    if signals is None:
        return "registry not consulted"
    return signals.reason(part) or ""


def _facts(
    answer: InsightsAnswer | None,
    facts: VersionFacts | None,
    registry_missing: str | None,
    insights_missing: str,
) -> dict[str, Fact]:
    out: dict[str, Fact] = {}
    for key, from_insights, from_registry in FACTS:
        observations = []
        if from_insights is not None:
            if answer is None:
                observations.append(Observation(INSIGHTS, None, insights_missing))
            else:
                value = getattr(answer, from_insights)
                observations.append(
                    Observation(
                        INSIGHTS, value, answer.reason(from_insights) if value is None else None
                    )
                )
        if from_registry is not None:
            if facts is None:
                observations.append(
                    Observation(REGISTRY, None, registry_missing or "no registry facts")
                )
            else:
                value = getattr(facts, from_registry)
                observations.append(
                    Observation(
                        REGISTRY, value, facts.reason(from_registry) if value is None else None
                    )
                )
        out[key] = Fact(tuple(observations))
    return out


def _same(a: Value, b: Value) -> bool:
    if isinstance(a, str) and isinstance(b, str) and a[:4].isdigit() and b[:4].isdigit():
        try:  # timestamps from two sources may differ in precision or zone spelling only
            first = datetime.fromisoformat(a.replace("Z", "+00:00"))
            second = datetime.fromisoformat(b.replace("Z", "+00:00"))
            return abs((first - second).total_seconds()) < 1
        except ValueError:
            pass
    return a == b


def show_value(value: Value) -> str:
    """A value as people read it: unknown, yes/no, a comma-separated list, or the text."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ", ".join(value) if value else "(none)"
    return value
