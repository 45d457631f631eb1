"""npm version precedence and OSV range evaluation.

Versions are turned once into plain tuples ("keys") whose Python ordering is SemVer 2.0
precedence (section 11): numeric major.minor.patch, a prerelease sorts before its release,
prerelease identifiers compare numerically when numeric and lexically otherwise, numeric
identifiers sort before alphanumeric ones, a longer prerelease wins when the shorter is its
prefix, and build metadata is ignored. Comparing two keys is then a single tuple comparison,
which is what keeps an audit of ten thousand packages against tens of thousands of records fast;
parsed keys are cached. `VersionRange` evaluates one OSV `affected[].ranges[]` entry exactly as
the schema's `IncludedInRanges` pseudocode does (sorted events, `introduced` / `fixed` /
`last_affected`, `limit` caps).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

# A version key: (major, minor, patch, prerelease) where prerelease is (1,) for a release and
# (0, *identifiers) for a prerelease, each identifier (0, int) or (1, str). Two sentinels sit
# outside that space: MIN_KEY (OSV's `introduced: "0"`) and MAX_KEY (`limit: "*"`).
VersionKey = tuple[Any, ...]
MIN_KEY: VersionKey = ()
MAX_KEY: VersionKey = (math.inf,)

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
# npm normalises what it stores, but lockfiles written by hand or by old tools may carry a
# leading "v" / "=" or surrounding blanks, which node-semver's clean() strips as well.
_SEMVER = re.compile(
    rf"\s*[=v]*\s*(?P<core>(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?)"
    rf"(?P<build>\+{_BUILD_ID}(?:\.{_BUILD_ID})*)?\s*"
)


@lru_cache(maxsize=1 << 17)
def parse_version(text: str) -> VersionKey | None:
    """The precedence key of an npm version string, or None when it is not SemVer 2.0."""
    m = _SEMVER.fullmatch(text)
    if m is None:
        return None
    pre = m.group("pre")
    if pre is None:
        pre_key: tuple[Any, ...] = (1,)
    else:
        pre_key = (0, *((0, int(p)) if p.isdigit() else (1, p) for p in pre.split(".")))
    return (int(m.group("major")), int(m.group("minor")), int(m.group("patch")), pre_key)


@lru_cache(maxsize=1 << 17)
def canonical_version(text: str) -> str:
    """The version without a "v" / "=" prefix or blanks (build metadata kept); the input
    itself when it is not SemVer, so exact `versions` matching still works on it."""
    m = _SEMVER.fullmatch(text)
    if m is None:
        return text
    return m.group("core") + (m.group("build") or "")


@lru_cache(maxsize=1 << 17)
def version_core(text: str) -> str:
    """The version without prefix, blanks or build metadata: `5.6.1+evil` is `5.6.1`. Build
    metadata does not change precedence (SemVer 10), so an advisory listing 5.6.1 covers a
    lockfile's 5.6.1+evil; the input itself when it is not SemVer."""
    m = _SEMVER.fullmatch(text)
    return text if m is None else m.group("core")


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 by SemVer precedence. Raises ValueError when either is not SemVer."""
    ka, kb = parse_version(a), parse_version(b)
    if ka is None or kb is None:
        raise ValueError(f"not a semantic version: {a if ka is None else b!r}")
    return (ka > kb) - (ka < kb)


class EventKind(Enum):
    INTRODUCED = "introduced"
    FIXED = "fixed"
    LAST_AFFECTED = "last_affected"
    LIMIT = "limit"


_KINDS = {kind.value: kind for kind in EventKind}


class RangeError(ValueError):
    """A range entry does not have the shape the OSV schema gives it."""


@dataclass(frozen=True, slots=True)
class VersionRange:
    """One `SEMVER` or `ECOSYSTEM` range of an npm affected entry, ready to evaluate.

    `events` are (kind, key) pairs without the limits, sorted by key as the schema's evaluation
    requires (stable, so events at the same version keep their listed order). `limits` is empty
    when the range has no usable `limit`, which the schema reads as an implicit `limit: "*"`.

    Unparseable bounds are resolved towards reporting, because a missed malicious version is the
    costly mistake: an unparseable `introduced` counts as `"0"`, and an unparseable (or empty)
    `fixed`, `last_affected` or `limit` is dropped, leaving the range open above.
    """

    events: tuple[tuple[EventKind, VersionKey], ...]
    limits: tuple[VersionKey, ...] = ()

    @classmethod
    def from_osv(cls, events: Iterable[Mapping[str, Any]]) -> VersionRange:
        parsed: list[tuple[EventKind, VersionKey]] = []
        limits: list[VersionKey] = []
        for event in events:
            if not isinstance(event, dict):
                raise RangeError(f"event is not an object: {event!r}")
            for name, value in event.items():
                kind = _KINDS.get(name)
                if kind is None:
                    continue  # unknown event kinds carry no bound we could honour
                if not isinstance(value, str):
                    raise RangeError(f"{name} is not a string: {value!r}")
                if kind is EventKind.INTRODUCED:
                    key = MIN_KEY if value == "0" else parse_version(value)
                    parsed.append((kind, MIN_KEY if key is None else key))
                elif kind is EventKind.LIMIT:
                    key = MAX_KEY if "*" in value else parse_version(value)
                    if key is not None:
                        limits.append(key)
                else:
                    key = parse_version(value)
                    if key is not None:
                        parsed.append((kind, key))
        parsed.sort(key=lambda e: e[1])
        return cls(tuple(parsed), tuple(limits))

    @property
    def covers_all(self) -> bool:
        """True when every version is in the range (only `introduced: "0"`, no upper bound)."""
        return (
            not self.limits
            and bool(self.events)
            and all(k is EventKind.INTRODUCED for k, _ in self.events)
            and self.events[0][1] == MIN_KEY
        )

    def contains(self, version: VersionKey) -> bool:
        """The schema's `BeforeLimits` and sorted-events walk for one parsed version."""
        if self.limits and not any(version < limit for limit in self.limits):
            return False
        vulnerable = False
        for kind, key in self.events:
            if version < key:
                # Events are sorted, so no later event can change the answer.
                break
            if kind is EventKind.INTRODUCED:
                vulnerable = True
            elif kind is EventKind.FIXED or version > key:
                # `fixed` ends the range at its version; `last_affected` just after its own.
                vulnerable = False
        return vulnerable


_compiled: dict[tuple[tuple[str, object], ...], VersionRange] = {}


def range_from_osv(entry: Mapping[str, Any]) -> VersionRange | None:
    """A `VersionRange` for a `SEMVER` or `ECOSYSTEM` range (npm's ecosystem order is SemVer);
    None for `GIT` and unknown types, which cannot be evaluated against a version number."""
    if not isinstance(entry, dict):
        raise RangeError(f"range is not an object: {entry!r}")
    kind = entry.get("type")
    events = entry.get("events")
    if not isinstance(events, list):
        raise RangeError("range has no events list")
    if not isinstance(kind, str) or kind.upper() not in ("SEMVER", "ECOSYSTEM"):
        return None
    # Most records share a handful of event lists (`introduced: "0"` above all), so compiled
    # ranges are shared; VersionRange is immutable, and a malformed list is never stored.
    try:
        key = tuple(item for event in events for item in event.items())
    except AttributeError:
        raise RangeError("an event is not an object") from None
    try:
        compiled = _compiled.get(key)
    except TypeError:  # a value that is a list or an object: never cached, refused or skipped
        return VersionRange.from_osv(events)
    if compiled is None:
        compiled = VersionRange.from_osv(events)
        if len(_compiled) < 1 << 16:
            _compiled[key] = compiled
    return compiled
