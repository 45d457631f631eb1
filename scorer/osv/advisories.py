"""OSV records as `Advisory` values, the malicious-package rule, and the matcher.

An `Advisory` is one OSV record with what matching needs parsed once (its npm affected entries,
with ranges compiled to `VersionRange`) and the raw record kept for writing back unchanged.
`match` is the one matcher interface shared by the offline database and the online API client
(N packages in, N advisory tuples out, same order), so both modes give the same findings for the
same records. `group_advisories` folds records about one incident (a MAL record and the GHSA it
aliases, say) into one group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scorer.osv.versions import (
    RangeError,
    VersionRange,
    canonical_version,
    parse_version,
    range_from_osv,
)
from scorer.records import LockedPackage, SourceKind


class RecordError(ValueError):
    """An OSV record does not have the shape the schema gives it (no `id`, say)."""


_MALWARE_SUMMARY_PREFIXES = ("malicious package in",)
_MALWARE_SUMMARY_PHRASES = ("embedded malware", "embedded malicious code")


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime (UTC when no offset), None when absent or
    unreadable: such a record then counts as older than any dated one when merging."""
    if not isinstance(value, str) or not value:
        return None
    try:
        # Python 3.11 reads RFC 3339 with "Z" and nanoseconds (cut to microseconds).
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def withdraws(value: object) -> bool:
    """Whether a record's raw `withdrawn` value withdraws it (the one definition: the on-disk
    index keeps only this value and decides with it too). A value that is present but not a
    readable time still withdraws."""
    return parse_timestamp(value) is not None or bool(value)


def is_malicious(record: Mapping[str, Any]) -> bool:
    """Whether an OSV record reports a malicious package rather than an ordinary vulnerability.

    The rule: the id starts with `MAL-` (OpenSSF Malicious Packages); or the record carries
    `database_specific["malicious-packages-origins"]` (any record that went through the OpenSSF
    ingestion); or it is a GitHub advisory marked as malware, meaning `CWE-506` (Embedded
    Malicious Code) in `database_specific.cwe_ids`, or a summary that starts with
    "Malicious Package in" or contains "Embedded malware" / "Embedded Malicious Code"
    (case-insensitive; older GitHub malware advisories carry the summary but no CWE).
    """
    if str(record.get("id", "")).startswith("MAL-"):
        return True
    specific = record.get("database_specific")
    if isinstance(specific, Mapping):
        if "malicious-packages-origins" in specific:
            return True
        cwes = specific.get("cwe_ids")
        if isinstance(cwes, list) and "CWE-506" in cwes:
            return True
    summary = record.get("summary")
    if isinstance(summary, str):
        text = summary.strip().lower()
        if text.startswith(_MALWARE_SUMMARY_PREFIXES) or any(
            phrase in text for phrase in _MALWARE_SUMMARY_PHRASES
        ):
            return True
    return False


@dataclass(frozen=True, slots=True)
class AffectedPackage:
    """One npm entry of a record's `affected` list, ready to test versions against.

    An entry with neither `versions` nor `ranges` (or only empty ones) affects every version
    of the package: the record names the package and puts no bound on it, and for a malicious
    package that is how a wholly malicious name is reported. An entry whose ranges are all of
    unusable types (`GIT`) affects only its listed versions.
    """

    name: str
    versions: frozenset[str]
    ranges: tuple[VersionRange, ...]
    all_versions: bool

    def affects(self, version: str) -> bool:
        if self.all_versions:
            return True
        if version in self.versions or canonical_version(version) in self.versions:
            return True
        key = parse_version(version)
        if key is None:
            # An unordered version can only fall in a range that holds every version.
            return any(r.covers_all for r in self.ranges)
        return any(r.contains(key) for r in self.ranges)


def parse_affected(entry: object) -> AffectedPackage | None:
    """One entry of a record's `affected` list: an `AffectedPackage` for npm, None for another
    ecosystem; RecordError when it cannot be read."""
    # Records come from json.loads, so plain dict checks (much cheaper than the Mapping ABC on
    # tens of thousands of records) are enough.
    if not isinstance(entry, dict):
        raise RecordError("an affected entry is not an object")
    package = entry.get("package")
    if not isinstance(package, dict):
        raise RecordError("an affected entry has no package object")
    ecosystem, name = package.get("ecosystem"), package.get("name")
    if not isinstance(ecosystem, str) or ecosystem.lower() != "npm":
        return None
    if not isinstance(name, str) or not name:
        raise RecordError("an npm affected entry has no package name")
    raw_versions = entry.get("versions") or []
    raw_ranges = entry.get("ranges") or []
    if not isinstance(raw_versions, list) or not all(isinstance(v, str) for v in raw_versions):
        raise RecordError(f"affected versions of {name} are not a list of strings")
    if not isinstance(raw_ranges, list):
        raise RecordError(f"affected ranges of {name} are not a list")
    try:
        ranges = tuple(r for r in map(range_from_osv, raw_ranges) if r is not None)
    except RangeError as exc:
        raise RecordError(f"a range of {name}: {exc}") from None
    versions = frozenset(raw_versions)
    if versions:
        versions |= {canonical_version(v) for v in raw_versions}
    return AffectedPackage(name, versions, ranges, not raw_versions and not raw_ranges)


@dataclass(frozen=True, slots=True)
class Advisory:
    """One OSV record. `affected` holds only its npm entries; `raw` the record as read."""

    id: str
    aliases: tuple[str, ...]
    summary: str | None
    details: str | None
    modified: datetime | None
    published: datetime | None
    withdrawn: datetime | None
    malicious: bool
    affected: tuple[AffectedPackage, ...] = field(compare=False, repr=False)
    raw: Mapping[str, Any] = field(compare=False, repr=False, hash=False)

    @classmethod
    def from_osv(cls, record: object) -> Advisory:
        """Parse one record; RecordError says what is wrong with it."""
        if not isinstance(record, dict):
            raise RecordError("record is not a JSON object")
        ident = record.get("id")
        if not isinstance(ident, str) or not ident:
            raise RecordError("record has no id")
        aliases = record.get("aliases") or []
        affected = record.get("affected") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise RecordError(f"{ident}: aliases are not a list of strings")
        if not isinstance(affected, list):
            raise RecordError(f"{ident}: affected is not a list")
        try:
            parsed = tuple(a for a in map(parse_affected, affected) if a is not None)
        except RecordError as exc:
            raise RecordError(f"{ident}: {exc}") from None
        summary, details = record.get("summary"), record.get("details")
        return cls(
            id=ident,
            aliases=tuple(aliases),
            summary=summary if isinstance(summary, str) else None,
            details=details if isinstance(details, str) else None,
            modified=parse_timestamp(record.get("modified")),
            published=parse_timestamp(record.get("published")),
            withdrawn=parse_timestamp(record.get("withdrawn")),
            malicious=is_malicious(record),
            affected=parsed,
            raw=record,
        )

    @property
    def is_withdrawn(self) -> bool:
        return withdraws(self.raw.get("withdrawn"))

    def affects(self, name: str, version: str) -> bool:
        """Whether this record reports `name@version` (never, once withdrawn)."""
        if self.is_withdrawn:
            return False
        return any(a.name == name and a.affects(version) for a in self.affected)


class AdvisoryIndex:
    """Advisories indexed by npm package name, so matching costs a dict lookup per package.

    Withdrawn records are left out (they never match) and, unless `malicious_only` is False,
    so are records that do not report a malicious package: the audit is a malware gate, and an
    ordinary vulnerability record from the online API must not fail it. `record_count` is the
    number of records the index was built over, all of them counted (for reports). The
    on-disk index of a local database (`index.DiskIndex`) is a subclass that reads its rows
    from a file instead of holding them.
    """

    def __init__(self, advisories: Iterable[Advisory] = (), *, malicious_only: bool = True) -> None:
        self._malicious_only = malicious_only
        self._by_name: dict[str, list[tuple[Advisory, AffectedPackage]]] = {}
        ids = set()
        for advisory in advisories:
            ids.add(advisory.id)
            self._add(advisory)
        self.record_count = len(ids)

    def _add(self, advisory: Advisory) -> None:
        if advisory.is_withdrawn or (self._malicious_only and not advisory.malicious):
            return
        for affected in advisory.affected:
            self._by_name.setdefault(affected.name, []).append((advisory, affected))

    def lookup(self, name: str, version: str) -> tuple[Advisory, ...]:
        """The advisories reporting `name@version`, sorted by id."""
        found: dict[str, Advisory] = {}
        for advisory, affected in self._by_name.get(name, ()):
            if advisory.id not in found and affected.affects(version):
                found[advisory.id] = advisory
        return tuple(sorted(found.values(), key=lambda a: a.id))

    def lookup_many(self, queries: Sequence[tuple[str, str]]) -> list[tuple[Advisory, ...]]:
        """`lookup` of each (name, version), in order: an index that reads full records from
        disk reads them together."""
        return [self.lookup(name, version) for name, version in queries]


def match(
    packages: Sequence[LockedPackage],
    advisories: Iterable[Advisory] | AdvisoryIndex,
    *,
    malicious_only: bool = True,
) -> list[tuple[Advisory, ...]]:
    """The advisories reporting each package, in the order of `packages`.

    Only `SourceKind.REGISTRY` packages are matched, under their real `name` (an `npm:` alias
    is not the package's identity); every other package gets an empty tuple, and the caller
    reports it as not checked. Each tuple is sorted by advisory id. Pass an `AdvisoryIndex` to
    reuse one index across calls (its own `malicious_only` then applies).
    """
    index = (
        advisories
        if isinstance(advisories, AdvisoryIndex)
        else AdvisoryIndex(advisories, malicious_only=malicious_only)
    )
    registry = [p for p in packages if p.source is SourceKind.REGISTRY]
    found = iter(index.lookup_many([(p.name, p.version) for p in registry]))
    return [next(found) if p.source is SourceKind.REGISTRY else () for p in packages]


def group_advisories(advisories: Iterable[Advisory]) -> list[tuple[Advisory, ...]]:
    """Advisories about one incident, grouped: two records are in the same group when one's id
    or aliases meet the other's (transitively), as a MAL record and the GHSA it aliases do.
    Each group is sorted by id and the groups by their first id; duplicates of an id collapse.
    """
    unique = {a.id: a for a in advisories}
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for advisory in unique.values():
        root = find(advisory.id)
        for alias in advisory.aliases:
            other = find(alias)
            if other != root:
                parent[other] = root
    groups: dict[str, list[Advisory]] = {}
    for advisory in unique.values():
        groups.setdefault(find(advisory.id), []).append(advisory)
    return sorted(
        (tuple(sorted(g, key=lambda a: a.id)) for g in groups.values()), key=lambda g: g[0].id
    )


def incident_ids(group: Iterable[Advisory]) -> tuple[str, ...]:
    """All ids naming one incident: the records' own ids (sorted), then their other aliases."""
    advisories = sorted(group, key=lambda a: a.id)
    own = [a.id for a in advisories]
    seen = set(own)
    extra = sorted({alias for a in advisories for alias in a.aliases} - seen)
    return (*own, *extra)
