"""`Publication`: everything known about how one version was published, each fact with its source.

Two sources feed it: the insights endpoint (publisher, publish time, Tor, 2FA) and the registry's
package document (publisher, e-mail domain, trusted publishing, maintainers, publish and creation
times, provenance, signatures, install scripts, deprecation). A fact holds one `Observation` per
source that speaks to it; when sources disagree (two publishers) both stay visible and the fact
has no single value. Unknown is `None` with the reason. The previous version in publish order
gets the same treatment, so changes can be seen. `merge` and the renderers are pure; `gather`
and `show` do the I/O (lazily importing the insights client, so this module imports no gql).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorer.atomic import write_atomic
from scorer.errors import ConfigError
from scorer.records import LockedPackage
from scorer.registry import document_path
from scorer.signals import RegistrySignals, VersionFacts, version_signals

if TYPE_CHECKING:
    from scorer.insights.client import InsightsAnswer, InsightsClient
    from scorer.registry import RegistryClient

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


class PublicationFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


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
                f"{o.source}={_show(o.value)}" for o in self.observations if o.value is not None
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


def _show(value: Value) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ", ".join(value) if value else "(none)"
    return value


# -- rendering (pure) --------------------------------------------------------------------------


def to_data(publication: Publication) -> dict[str, Any]:
    """JSON-ready dict: every fact with its value, conflict flag, reason and observations."""

    def fact(f: Fact) -> dict[str, Any]:
        value = list(f.value) if isinstance(f.value, tuple) else f.value
        return {
            "value": value,
            "conflict": f.conflict,
            "reason": f.reason,
            "sources": [
                {
                    "source": o.source,
                    "value": list(o.value) if isinstance(o.value, tuple) else o.value,
                    "reason": o.reason,
                }
                for o in f.observations
            ],
        }

    data: dict[str, Any] = {
        "name": publication.name,
        "version": publication.version,
        "facts": {key: fact(publication.facts[key]) for key, _, _ in FACTS},
        "package_created_at": fact(publication.package_created_at),
        "previous": to_data(publication.previous) if publication.previous else None,
    }
    if publication.previous is None:
        data["previous_reason"] = publication.previous_reason
    return data


def render_text(publication: Publication) -> str:
    lines = [f"{publication.name}@{publication.version}"]
    lines += _fact_lines(publication)
    lines.append(f"  package created: {_fact_text(publication.package_created_at)}")
    if publication.previous is not None:
        lines.append(f"previous version {publication.previous.version}")
        lines += _fact_lines(publication.previous)
    else:
        lines.append(f"previous version: unknown ({publication.previous_reason})")
    return "\n".join(lines) + "\n"


def _fact_lines(publication: Publication) -> list[str]:
    return [
        f"  {key.replace('_', ' ')}: {_fact_text(publication.facts[key])}" for key, _, _ in FACTS
    ]


def _fact_text(fact: Fact) -> str:
    if fact.conflict:
        return "CONFLICT " + "; ".join(
            f"{o.source}: {_show(o.value)}" for o in fact.observations if o.value is not None
        )
    if fact.value is None:
        return f"unknown ({fact.reason})"
    sources = ", ".join(o.source for o in fact.observations if o.value is not None)
    return f"{_show(fact.value)} [{sources}]"


def render_json(publication: Publication) -> str:
    return json.dumps(to_data(publication), indent=2, sort_keys=True) + "\n"


RENDERERS: dict[PublicationFormat, Callable[[Publication], str]] = {
    PublicationFormat.TEXT: render_text,
    PublicationFormat.JSON: render_json,
}


def render(publication: Publication, fmt: PublicationFormat | str = PublicationFormat.TEXT) -> str:
    try:
        chosen = PublicationFormat(fmt)
    except ValueError as exc:
        raise ConfigError(
            f"unknown format {fmt!r}; use one of: {', '.join(PublicationFormat)}"
        ) from exc
    return RENDERERS[chosen](publication)


# -- I/O: gather both sources ------------------------------------------------------------------


def gather(
    keys: Sequence[tuple[str, str]],
    *,
    registry: RegistryClient | None,
    insights: InsightsClient | None,
    snapshot_dir: Path | None = None,
    offline: bool = False,
    insights_missing: str = "no insights endpoint configured",
) -> dict[tuple[str, str], Publication]:
    """Fetch both sources for `keys` and merge. Registry first: it tells which version was
    published before each one, and insights is then asked about both, in the same batches."""
    signals: dict[tuple[str, str], RegistrySignals] = {}
    if registry is not None:
        documents = registry.fetch_sync(name for name, _ in keys)
        signals = {(n, v): version_signals(documents[n], v) for n, v in keys}
    wanted = list(
        dict.fromkeys(
            [
                *keys,
                *(
                    (n, s.previous.version)
                    for (n, _), s in signals.items()
                    if s.previous is not None
                ),
            ]
        )
    )
    answers: dict[tuple[str, str], InsightsAnswer] = {}
    insights_dir = snapshot_dir / "insights" if snapshot_dir is not None else None
    if offline:
        if insights_dir is not None:
            answers = read_insights_snapshot(insights_dir, wanted)
        insights_missing = "offline: insights endpoint not queried" + (
            " and not in the snapshot" if insights_dir else ""
        )
    elif insights is not None:
        answers = insights.fetch_sync(wanted)
        if insights_dir is not None:
            write_insights_snapshot(insights_dir, answers)
    out: dict[tuple[str, str], Publication] = {}
    for name, version in keys:
        s = signals.get((name, version))
        prev_key = (name, s.previous.version) if s is not None and s.previous is not None else None
        out[(name, version)] = merge(
            name,
            version,
            answers.get((name, version)),
            s,
            answers.get(prev_key) if prev_key else None,
            insights_missing,
        )
    return out


def write_insights_snapshot(
    directory: Path, answers: Mapping[tuple[str, str], InsightsAnswer]
) -> None:
    """One sorted-key JSON file per package: {version: answer}. Merged with what is there."""
    by_name: dict[str, dict[str, Any]] = {}
    for (name, version), a in answers.items():
        by_name.setdefault(name, {})[version] = {
            "endpoint": a.endpoint,
            "found": a.found,
            "username": a.username,
            "created": a.created,
            "tor": a.tor,
            "tfa": a.tfa,
            "reasons": [list(r) for r in a.reasons],
        }
    for name, versions in by_name.items():
        path = directory / f"{document_path(name)}.json"
        existing = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        existing.update(versions)
        write_atomic(path, json.dumps(existing, sort_keys=True, indent=1) + "\n")


def read_insights_snapshot(
    directory: Path, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], InsightsAnswer]:
    from scorer.insights.client import InsightsAnswer

    answers: dict[tuple[str, str], InsightsAnswer] = {}
    for name, version in keys:
        path = directory / f"{document_path(name)}.json"
        try:
            row = json.loads(path.read_text(encoding="utf-8"))[version]
        except (OSError, ValueError, KeyError):
            continue
        answers[(name, version)] = InsightsAnswer(
            name,
            version,
            row["endpoint"],
            row["found"],
            row["username"],
            row["created"],
            row["tor"],
            row["tfa"],
            tuple((f, why) for f, why in row["reasons"]),
        )
    return answers


def parse_spec(spec: str) -> tuple[str, str]:
    """`name@version` (scoped names too) -> (name, version)."""
    at = spec.rfind("@")
    if at <= 0 or at == len(spec) - 1:
        raise ConfigError(f"expected NAME@VERSION, got {spec!r}")
    return spec[:at], spec[at + 1 :]


def show(
    spec: str,
    *,
    fmt: PublicationFormat | str = PublicationFormat.TEXT,
    registry_url: str | None = None,
    insights_url: str | None = None,
    project_dir: Path | None = None,
    cache_dir: Path | None = None,
    snapshot_dir: Path | None = None,
    offline: bool = False,
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
    lockfile: Path | None = None,
    config_insights_url: str | None = None,
) -> str:
    """What `provscore insights show NAME@VERSION` prints. `echo` (e.g. a stderr printer) is
    told which registry and insights endpoint are used."""
    from scorer.insights.client import InsightsClient, resolve_endpoint
    from scorer.npmrc import RegistrySelection, load_npmrc, select_registry
    from scorer.registry import RegistryClient

    env = os.environ if env is None else env
    key = parse_spec(spec)
    npmrc = load_npmrc(project_dir, env)
    packages: tuple[LockedPackage, ...] = ()
    if lockfile is not None:  # the last resort for the registry: its resolved URLs' origin
        from scorer.lockfiles import read_lockfile

        packages = read_lockfile(lockfile).packages
    try:
        selection = select_registry(registry_url, env, npmrc, packages)
    except ConfigError:
        if not (offline and snapshot_dir is not None):
            raise
        # A frozen snapshot records each document's registry: nothing else needs naming one.
        selection = RegistrySelection(f"(snapshot {snapshot_dir})", "--offline --snapshot", True)
    registry = RegistryClient(
        selection,
        npmrc=npmrc,
        cache_dir=cache_dir,
        snapshot_dir=snapshot_dir / "packuments" if snapshot_dir else None,
        offline=offline,
    )
    url, token = resolve_endpoint(insights_url, env, config_insights_url)
    insights = InsightsClient(url, token=token) if url and not offline else None
    if echo is not None:
        echo(selection.describe())
        echo(f"insights: {url or 'none configured (insights facts are unknown)'}")
    publication = gather(
        [key], registry=registry, insights=insights, snapshot_dir=snapshot_dir, offline=offline
    )[key]
    return render(publication, fmt)
