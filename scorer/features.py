"""Publication-risk features: one row of 0/1 flags per (package, version), NaN when unknown.

`FEATURES` is the one table naming every feature, what it means, where it comes from and when it
is unknown. Every history feature compares the version with its OWN package's *established*
history (the releases published more than `burst_hours` before it), not with the calendar and not
with the release a minute earlier: attackers publish several versions minutes apart, and comparing
the second one with the first would hide it. `package_history` condenses a registry document into
a small JSON-serialisable timeline, once per package; `feature_row` is a pure function of that
timeline, an insights answer and the injected scan time; `feature_frame` stacks rows into the
pandas frame the scorers read (pandas is imported only there, so importing this module is cheap).
Unknown is NaN plus a reason, never 0.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scorer.signals import _facts

if TYPE_CHECKING:
    import pandas

    from scorer.insights.client import InsightsAnswer
    from scorer.records import ProvenanceChange

NAN = math.nan
NO_HISTORY = "no release before this one's burst"
HISTORY_FORMAT = 1  # bump when PackageHistory.to_json changes shape, so caches are rebuilt


@dataclass(frozen=True, slots=True)
class Feature:
    """One column of the feature frame: a 0/1 flag, NaN when `unknown_when` holds."""

    name: str
    meaning: str
    source: str
    unit: str
    unknown_when: str


FEATURES: tuple[Feature, ...] = (
    Feature(
        "tor",
        "the version was published over Tor",
        "insights tor",
        "flag",
        "no insights answer, or it does not say",
    ),
    Feature(
        "no_2fa",
        "the publisher did not use 2FA for this publish",
        "insights tfa (1 when tfa is false)",
        "flag",
        "no insights answer, or it does not say",
    ),
    Feature(
        "publisher_changed",
        "the publisher differs from the publisher of the last established release",
        "insights username, else registry _npmUser.name; registry history",
        "flag",
        "publisher unknown (stripped mirror, sources disagree) or no established release",
    ),
    Feature(
        "new_publisher",
        "the publisher never published an established release of this package",
        "publisher; registry history",
        "flag",
        "publisher unknown, no established release, or an established publisher unknown",
    ),
    Feature(
        "publisher_not_maintainer",
        "the publisher is not among the maintainers of the established releases",
        "publisher; registry per-version maintainers",
        "flag",
        "publisher unknown, no established release, or established maintainers unknown",
    ),
    Feature(
        "maintainers_changed",
        "the maintainer set differs from the last established release's",
        "registry per-version maintainers",
        "flag",
        "either maintainer list unknown, or no established release",
    ),
    Feature(
        "trusted_publishing_lost",
        "the last established release used trusted publishing, this one does not",
        "registry _npmUser.trustedPublisher",
        "flag",
        "stripped _npmUser, or no established release when this one has none",
    ),
    Feature(
        "provenance_lost",
        "the last established release had provenance, this one does not",
        "registry dist.attestations",
        "flag",
        "stripped document, or no established release when this one has none",
    ),
    Feature(
        "provenance_source_changed",
        "the provenance names another source repository or workflow than the last earlier "
        "release with provenance",
        "registry attestations, checked by provscore verify (report_verify)",
        "flag",
        "report_verify off, or either version's attestations unreadable",
    ),
    Feature(
        "install_script_added",
        "this version has a preinstall/install/postinstall script, the last established "
        "release had none, and the package has a track record (mature_releases earlier releases)",
        "registry scripts (hasInstallScript in abbreviated documents)",
        "flag",
        "scripts unknown, or no established release when this one has a script",
    ),
    Feature(
        "new_package",
        "the package was created less than new_package_days before this version",
        "registry time.created and time[version]",
        "flag",
        "either time missing or malformed",
    ),
    Feature(
        "young_release",
        "the version was published less than cooldown_days before the scan",
        "registry time[version], else insights created; scan time",
        "flag",
        "publish time unknown",
    ),
    Feature(
        "dormant_before",
        "more than dormancy_days passed between the last established release and this one",
        "registry time",
        "flag",
        "publish time unknown, or no established release",
    ),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)


@dataclass(frozen=True)
class FeatureSettings:
    """Thresholds of the time-based features (days/hours, as configured)."""

    cooldown_days: float = 7
    new_package_days: float = 30
    dormancy_days: float = 365
    burst_hours: float = 24
    # A package's first releases often add their build or binary-download step (esbuild 0.0.x,
    # evp_bytestokey 1.0.1 in the real histories we measured); a script appearing after a track
    # record is what a takeover leaves behind (ua-parser-js, @ctrl/tinycolor, nx).
    mature_releases: int = 3


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """Features of one version. `values` has every FEATURE_NAMES key (NaN = unknown, the why in
    `unknown`); `details` explains each feature that fired; `facts` maps a fact name to
    (value, source) for the facts that are known."""

    name: str
    version: str
    values: Mapping[str, float]
    unknown: Mapping[str, str]
    details: Mapping[str, str]
    facts: Mapping[str, tuple[object, str]]


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """What the registry document says about one version, reduced to what features need.
    `None` = unknown, the why in `reasons` under the field name."""

    version: str
    published_at: str | None
    publisher: str | None
    maintainers: tuple[str, ...] | None
    trusted_publisher: bool | None
    provenance: bool | None
    has_install_script: bool | None
    install_scripts: tuple[str, ...] | None
    reasons: tuple[tuple[str, str], ...] = ()
    epoch: float | None = field(default=None, compare=False)  # parsed published_at

    def reason(self, field_name: str) -> str | None:
        return dict(self.reasons).get(field_name)

    def why(self, field_name: str) -> str:
        """The reason `field_name` is unknown (a generic one if none was recorded)."""
        return dict(self.reasons).get(field_name) or f"{field_name} unknown on {self.version}"


@dataclass(frozen=True, slots=True)
class PackageHistory:
    """A package's publication timeline. Build with `package_history` or `PackageHistory.build`;
    the index fields are derived (sorted publish times, first appearance of each publisher and
    maintainer) so a lookup is a bisect, not a scan over all versions."""

    name: str
    faithful: bool  # some version carries _npmUser: absence elsewhere means absent, not stripped
    created_at: str | None
    created_reason: str | None
    records: Mapping[str, VersionRecord]
    created_epoch: float | None = None
    order: tuple[str, ...] = ()  # versions with a usable publish time, oldest first
    epochs: tuple[float, ...] = ()
    publisher_first: Mapping[str, int] = field(default_factory=dict)  # -> first index in order
    maintainer_first: Mapping[str, int] = field(default_factory=dict)
    unknown_publishers: tuple[int, ...] = ()  # prefix counts over order
    unknown_maintainers: tuple[int, ...] = ()

    @classmethod
    def build(
        cls,
        name: str,
        faithful: bool,
        created_at: str | None,
        created_reason: str | None,
        records: Iterable[VersionRecord],
    ) -> PackageHistory:
        by_version = {
            r.version: _timed(
                r.version,
                r.published_at,
                r.publisher,
                r.maintainers,
                r.trusted_publisher,
                r.provenance,
                r.has_install_script,
                r.install_scripts,
                r.reasons,
            )
            for r in records
        }
        return cls._indexed(name, faithful, created_at, created_reason, by_version)

    @classmethod
    def _indexed(
        cls,
        name: str,
        faithful: bool,
        created_at: str | None,
        created_reason: str | None,
        by_version: dict[str, VersionRecord],
    ) -> PackageHistory:
        """The history with its indexes, from records that already carry their epoch."""
        timeline = sorted((r.epoch, v) for v, r in by_version.items() if r.epoch is not None)
        publisher_first: dict[str, int] = {}
        maintainer_first: dict[str, int] = {}
        unknown_publishers = [0]
        unknown_maintainers = [0]
        for i, (_, version) in enumerate(timeline):
            r = by_version[version]
            if r.publisher is None:
                unknown_publishers.append(unknown_publishers[-1] + 1)
            else:
                unknown_publishers.append(unknown_publishers[-1])
                publisher_first.setdefault(r.publisher, i)
            if r.maintainers is None:
                unknown_maintainers.append(unknown_maintainers[-1] + 1)
            else:
                unknown_maintainers.append(unknown_maintainers[-1])
                for m in r.maintainers:
                    maintainer_first.setdefault(m, i)
        created_epoch = parse_time(created_at)
        if created_at is not None and created_epoch is None:
            created_reason = f"malformed time.created {created_at!r}"
        return cls(
            name,
            faithful,
            created_at,
            created_reason,
            by_version,
            created_epoch,
            tuple(v for _, v in timeline),
            tuple(t for t, _ in timeline),
            publisher_first,
            maintainer_first,
            tuple(unknown_publishers),
            tuple(unknown_maintainers),
        )

    def to_json(self) -> dict[str, Any]:
        """The primary data only (indexes are rebuilt by `from_json`)."""
        return {
            "format": HISTORY_FORMAT,
            "name": self.name,
            "faithful": self.faithful,
            "created_at": self.created_at,
            "created_reason": self.created_reason,
            "versions": [
                [
                    r.version,
                    r.published_at,
                    r.publisher,
                    None if r.maintainers is None else list(r.maintainers),
                    r.trusted_publisher,
                    r.provenance,
                    r.has_install_script,
                    None if r.install_scripts is None else list(r.install_scripts),
                    [list(p) for p in r.reasons],
                ]
                for r in self.records.values()
            ],
        }

    @classmethod
    def from_json(cls, data: Any) -> PackageHistory:
        """Rebuild from `to_json` output. A damaged or older-format entry raises ValueError, so a
        cache can treat it as a miss. (The checks are inlined `type(x) is` tests: this runs for
        every cached version on every warm report.)"""
        try:
            if data["format"] != HISTORY_FORMAT:
                raise ValueError(f"history format {data['format']!r}, expected {HISTORY_FORMAT}")
            records: dict[str, VersionRecord] = {}
            for row in data["versions"]:
                (version, published, publisher, maint, tp, prov, has_script, scripts, reasons) = row
                if (
                    type(version) is not str
                    or (published is not None and type(published) is not str)
                    or (publisher is not None and type(publisher) is not str)
                    or (tp is not None and type(tp) is not bool)
                    or (prov is not None and type(prov) is not bool)
                    or (has_script is not None and type(has_script) is not bool)
                ):
                    raise TypeError(f"a field of version {version!r} has the wrong type")
                records[version] = _timed(
                    version,
                    published,
                    publisher,
                    None if maint is None else _strings(maint),
                    tp,
                    prov,
                    has_script,
                    None if scripts is None else _strings(scripts),
                    _pairs(reasons) if reasons else (),
                )
            return cls._indexed(
                _str(data["name"]),
                _opt(data["faithful"], bool) is True,
                _opt(data["created_at"], str),
                _opt(data["created_reason"], str),
                records,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a package history: {exc}") from exc


def _timed(
    version: str,
    published_at: str | None,
    publisher: str | None,
    maintainers: tuple[str, ...] | None,
    trusted_publisher: bool | None,
    provenance: bool | None,
    has_install_script: bool | None,
    install_scripts: tuple[str, ...] | None,
    reasons: tuple[tuple[str, str], ...],
) -> VersionRecord:
    """The record with its parsed publish time; a time that does not parse gets its reason.
    (Built once per version, positionally: a warm report builds ~25,000 of these.)"""
    epoch = parse_time(published_at)
    if (
        published_at is not None
        and epoch is None
        and not any(f == "published_at" for f, _ in reasons)
    ):
        reasons = (*reasons, ("published_at", f"malformed time[{version}]"))
    return VersionRecord(
        version,
        published_at,
        publisher,
        maintainers,
        trusted_publisher,
        provenance,
        has_install_script,
        install_scripts,
        reasons,
        epoch,
    )


def _strings(values: Any) -> tuple[str, ...]:
    out = tuple(values)
    "".join(out)  # raises TypeError unless every item is a string (in C, no Python loop)
    return out


def _pairs(values: Any) -> tuple[tuple[str, str], ...]:
    out = tuple([(f, w) for f, w in values])  # ValueError unless pairs
    "".join([x for pair in out for x in pair])  # TypeError unless strings
    return out


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _opt(value: Any, kind: type) -> Any:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__} or null, got {type(value).__name__}")
    return value


def parse_time(value: object) -> float | None:
    """POSIX seconds of an ISO 8601 time with a zone; None when missing or malformed (a time
    without a zone is ambiguous, so it is malformed too)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        return parsed.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def package_history(document: Mapping[str, Any]) -> PackageHistory:
    """The timeline of a full (or abbreviated, or mirror-stripped) registry document (pure)."""
    raw_versions = document.get("versions")
    versions: Mapping[str, Any] = raw_versions if isinstance(raw_versions, dict) else {}
    raw_times = document.get("time")
    times: Mapping[str, Any] = raw_times if isinstance(raw_times, dict) else {}
    faithful = any(isinstance(m, dict) and "_npmUser" in m for m in versions.values())
    records = []
    for version, manifest in versions.items():
        if not isinstance(manifest, dict):
            continue
        facts = _facts(version, manifest, times, document, faithful)
        reasons = [(f, w) for f, w in facts.reasons if f != "maintainers"]
        maintainers = facts.maintainers
        if not isinstance(manifest.get("maintainers"), list):
            # The document-level list is today's maintainers (an attacker added last week
            # included), not the set at publish time: for history it is unknown.
            maintainers = None
            reasons.append(("maintainers", f"the document records no maintainers on {version}"))
        published = facts.published_at
        if published is None and version in times:
            reasons = [(f, w) for f, w in reasons if f != "published_at"]
            reasons.append(("published_at", f"malformed time[{version}]"))
        records.append(
            VersionRecord(
                version,
                published,
                facts.publisher,
                maintainers,
                facts.trusted_publisher,
                facts.provenance,
                facts.has_install_script,
                facts.install_scripts,
                tuple(reasons),
            )
        )
    raw_name = document.get("name")
    created = times.get("created") if isinstance(times.get("created"), str) else None
    return PackageHistory.build(
        raw_name if isinstance(raw_name, str) else "",
        faithful,
        created,
        None if created is not None else "the document has no time.created",
        records,
    )


# -- one row -------------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    """Rough human duration: '40 minutes', '3 hours', '12 days', '2.5 years'."""
    minutes = seconds / 60
    if minutes < 120:
        return f"{max(0, round(minutes))} minutes"
    hours = minutes / 60
    if hours < 48:
        return f"{round(hours)} hours"
    days = hours / 24
    if days < 730:
        return f"{round(days)} days"
    return f"{days / 365.25:.1f} years"


def _names(values: Iterable[str], limit: int = 6) -> str:
    items = sorted(values)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "") or "nobody"


class _Row:
    """Accumulates one row; every feature is set exactly once (known value or unknown reason)."""

    __slots__ = ("details", "facts", "unknown", "values")

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.unknown: dict[str, str] = {}
        self.details: dict[str, str] = {}
        self.facts: dict[str, tuple[object, str]] = {}

    def known(self, feature: str, fired: bool, detail: str | Callable[[], str] = "") -> None:
        """`detail` may be a callable: it is formatted only when the feature fired (most do
        not, and formatting every detail was a third of a 10,000-row report's feature time)."""
        self.values[feature] = 1.0 if fired else 0.0
        if fired and detail:
            self.details[feature] = detail if isinstance(detail, str) else detail()

    def missing(self, feature: str, why: str) -> None:
        self.values[feature] = NAN
        self.unknown[feature] = why


def _publisher(
    row: _Row, answer: InsightsAnswer | None, insights_missing: str, record: VersionRecord | None
) -> tuple[str | None, str]:
    """The publisher of this version and, when unknown, why. Insights wins over the registry
    only when the registry does not say; two different answers are a conflict, not a choice."""
    from_insights = answer.username if answer is not None else None
    from_registry = record.publisher if record is not None else None
    if from_insights is not None and from_registry is not None and from_insights != from_registry:
        return None, (
            f"sources disagree: insights says {from_insights}, registry _npmUser says "
            f"{from_registry}"
        )
    if from_insights is not None:
        source = "insights+registry" if from_registry is not None else "insights"
        row.facts["publisher"] = (from_insights, source)
        return from_insights, ""
    if from_registry is not None:
        row.facts["publisher"] = (from_registry, "registry")
        return from_registry, ""
    why_insights = (
        (answer.reason("username") or "insights did not say") if answer else insights_missing
    )
    why_registry = record.why("publisher") if record is not None else "no registry record"
    return None, f"{why_registry}; insights: {why_insights}"


def feature_row(
    name: str,
    version: str,
    history: PackageHistory | None,
    history_missing: str | None,
    answer: InsightsAnswer | None,
    insights_missing: str,
    *,
    now: datetime,
    settings: FeatureSettings,
    provenance_change: ProvenanceChange | None = None,
    provenance_missing: str = "provenance not verified (report_verify is off)",
) -> FeatureRow:
    """Features of `name@version` (pure). `history_missing` / `insights_missing` say why a
    source is absent; they are the unknown reasons of the features that need it.
    `provenance_change` is verify's comparison of this version's provenance source with the
    last earlier one's (None: not verified, `provenance_missing` says why)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    row = _Row()
    _insights_features(row, answer, insights_missing)
    record: VersionRecord | None = None
    why_no_record = history_missing or "no registry document"
    if history is not None:
        record = history.records.get(version)
        if record is None:
            why_no_record = f"{version} is not in the registry document"
    publisher, why_no_publisher = _publisher(row, answer, insights_missing, record)
    _provenance_source(row, record, why_no_record, provenance_change, provenance_missing)

    published_epoch = record.epoch if record is not None else None
    if published_epoch is not None and record is not None:
        row.facts["published_at"] = (record.published_at, "registry")
    elif answer is not None and parse_time(answer.created) is not None:
        published_epoch = parse_time(answer.created)
        row.facts["published_at"] = (answer.created, "insights")
    if published_epoch is None:
        why = record.why("published_at") if record is not None else why_no_record
        row.missing("young_release", why)
    else:
        age = now.timestamp() - published_epoch
        row.known(
            "young_release",
            age < settings.cooldown_days * 86400,
            lambda: (
                f"published {_duration(age)} before the scan (cooldown "
                f"{settings.cooldown_days:g} days)"
            ),
        )

    if history is None or record is None:
        for feature in FEATURE_NAMES[2:]:
            if feature not in ("young_release", "provenance_source_changed"):
                row.missing(feature, why_no_record)
        return _finish(name, version, row)
    _record_facts(row, record, history)
    _history_features(row, record, history, publisher, why_no_publisher, settings)
    return _finish(name, version, row)


def _provenance_source(
    row: _Row,
    record: VersionRecord | None,
    why_no_record: str,
    change: ProvenanceChange | None,
    missing: str,
) -> None:
    """Verify's comparison when there is one; without it, a version the registry shows without
    provenance cannot have changed its provenance source (0), and one with provenance is
    unknown (`missing` says why)."""
    feature = "provenance_source_changed"
    if change is not None and change.changed is not None:
        row.known(feature, change.changed, change.detail)
    elif change is not None:
        row.missing(feature, change.detail)
    elif record is None:
        row.missing(feature, why_no_record)
    elif record.provenance is False:
        row.known(feature, False)
    else:
        row.missing(feature, missing if record.provenance else record.why("provenance"))


def _finish(name: str, version: str, row: _Row) -> FeatureRow:
    ordered = {f: row.values[f] for f in FEATURE_NAMES}
    return FeatureRow(name, version, ordered, row.unknown, row.details, row.facts)


def _insights_features(row: _Row, answer: InsightsAnswer | None, missing: str) -> None:
    if answer is None:
        row.missing("tor", missing)
        row.missing("no_2fa", missing)
        return
    if answer.tor is None:
        row.missing("tor", answer.reason("tor") or "insights did not say")
    else:
        row.facts["tor"] = (answer.tor, "insights")
        row.known("tor", answer.tor, "published over Tor")
    if answer.tfa is None:
        row.missing("no_2fa", answer.reason("tfa") or "insights did not say")
    else:
        row.facts["tfa"] = (answer.tfa, "insights")
        row.known("no_2fa", not answer.tfa, "no 2FA at publish")


def _record_facts(row: _Row, record: VersionRecord, history: PackageHistory) -> None:
    for fact, value in (
        ("maintainers", record.maintainers),
        ("trusted_publisher", record.trusted_publisher),
        ("provenance", record.provenance),
        ("install_scripts", record.install_scripts),
        ("has_install_script", record.has_install_script),
    ):
        if value is not None:
            row.facts[fact] = (value, "registry")
    if history.created_at is not None and history.created_epoch is not None:
        row.facts["package_created_at"] = (history.created_at, "registry")


def _history_features(
    row: _Row,
    record: VersionRecord,
    history: PackageHistory,
    publisher: str | None,
    why_no_publisher: str,
    settings: FeatureSettings,
) -> None:
    version = record.version
    # new_package needs only this version's time and the package's creation time.
    if record.epoch is None:
        row.missing("new_package", record.why("published_at"))
    elif history.created_epoch is None:
        row.missing("new_package", history.created_reason or "package creation time unknown")
    else:
        age = record.epoch - history.created_epoch
        row.known(
            "new_package",
            age < settings.new_package_days * 86400,
            lambda: f"package created {_duration(age)} before this release",
        )

    last: VersionRecord | None = None
    established = 0
    if record.epoch is None:
        no_history = f"publish order unknown: {record.why('published_at')}"
    else:
        established = bisect_left(history.epochs, record.epoch - settings.burst_hours * 3600)
        no_history = NO_HISTORY
        if established:
            last = history.records[history.order[established - 1]]
            row.facts["previous_established_version"] = (last.version, "registry")

    # Flags where this version alone can settle "no": nothing can be lost or added.
    def lost(feature: str, mine: bool | None, theirs_attr: str, detail: str) -> None:
        if mine is True:
            row.known(feature, False)
        elif mine is None:
            row.missing(feature, record.why(theirs_attr))
        elif last is None:
            row.missing(feature, no_history)
        else:
            theirs = getattr(last, theirs_attr)
            if theirs is None:
                row.missing(feature, f"{last.version}: {last.why(theirs_attr)}")
            else:
                row.known(feature, theirs, lambda: detail.format(last=last.version, this=version))

    lost(
        "trusted_publishing_lost",
        record.trusted_publisher,
        "trusted_publisher",
        "trusted publishing used on {last} but not on {this}",
    )
    lost(
        "provenance_lost",
        record.provenance,
        "provenance",
        "provenance present on {last} but missing on {this}",
    )
    if record.has_install_script is False:
        row.known("install_script_added", False)
    elif record.has_install_script is None:
        row.missing("install_script_added", record.why("has_install_script"))
    elif last is None:
        row.missing("install_script_added", no_history)
    elif last.has_install_script is None:
        row.missing("install_script_added", f"{last.version}: {last.why('has_install_script')}")
    else:
        scripts = ", ".join(record.install_scripts or ()) or "hasInstallScript"
        row.known(
            "install_script_added",
            not last.has_install_script and established >= settings.mature_releases,
            lambda: f"install script added ({scripts}); {last.version} had none",
        )

    if last is None or record.epoch is None or last.epoch is None:
        row.missing("dormant_before", no_history)
    else:
        gap = record.epoch - last.epoch
        row.known(
            "dormant_before",
            gap > settings.dormancy_days * 86400,
            lambda: f"first release in {_duration(gap)} (previous established: {last.version})",
        )

    if record.maintainers is None:
        row.missing("maintainers_changed", record.why("maintainers"))
    elif last is None:
        row.missing("maintainers_changed", no_history)
    elif last.maintainers is None:
        row.missing("maintainers_changed", f"{last.version}: {last.why('maintainers')}")
    else:
        before, after = set(last.maintainers), set(record.maintainers)
        row.known(
            "maintainers_changed",
            before != after,
            lambda: (
                f"maintainers changed from {_names(before)} on {last.version} to {_names(after)}"
            ),
        )

    _publisher_features(row, history, last, established, publisher, why_no_publisher, no_history)


def _publisher_features(
    row: _Row,
    history: PackageHistory,
    last: VersionRecord | None,
    established: int,
    publisher: str | None,
    why_no_publisher: str,
    no_history: str,
) -> None:
    features = ("publisher_changed", "new_publisher", "publisher_not_maintainer")
    if publisher is None or last is None:
        for feature in features:
            row.missing(feature, why_no_publisher if publisher is None else no_history)
        return
    if last.publisher is None:
        row.missing("publisher_changed", f"{last.version}: {last.why('publisher')}")
    else:
        row.known(
            "publisher_changed",
            last.publisher != publisher,
            lambda: f"publisher changed from {last.publisher} on {last.version} to {publisher}",
        )
    # First index at which each account appears, against the number of established releases:
    # "ever before the burst" without scanning the history.
    if history.publisher_first.get(publisher, established) < established:
        row.known("new_publisher", False)
    elif history.unknown_publishers[established]:
        n = history.unknown_publishers[established]
        row.missing("new_publisher", f"the publisher of {n} established release(s) is unknown")
    else:
        row.known(
            "new_publisher",
            True,
            f"{publisher} never published an established release of this package",
        )
    if history.maintainer_first.get(publisher, established) < established:
        row.known("publisher_not_maintainer", False)
    elif history.unknown_maintainers[established]:
        n = history.unknown_maintainers[established]
        row.missing(
            "publisher_not_maintainer", f"the maintainers of {n} established release(s) are unknown"
        )
    else:
        row.known(
            "publisher_not_maintainer",
            True,
            f"{publisher} was not a maintainer of any established release",
        )


def feature_frame(rows: Sequence[FeatureRow]) -> pandas.DataFrame:
    """Index (name, version), one float64 column per feature in FEATURES order, NaN = unknown."""
    import numpy as np
    import pandas as pd

    data = np.array(
        [[row.values[f] for f in FEATURE_NAMES] for row in rows], dtype=np.float64
    ).reshape(len(rows), len(FEATURE_NAMES))
    index = pd.MultiIndex.from_tuples(
        [(row.name, row.version) for row in rows], names=["name", "version"]
    )
    return pd.DataFrame(data, index=index, columns=list(FEATURE_NAMES))


__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "NO_HISTORY",
    "Feature",
    "FeatureRow",
    "FeatureSettings",
    "PackageHistory",
    "VersionRecord",
    "feature_frame",
    "feature_row",
    "package_history",
    "parse_time",
]
