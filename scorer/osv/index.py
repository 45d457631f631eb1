"""The matcher's view of a local database, with a cache that makes repeated audits cheap.

An offline audit needs, per locked package, only the records naming it, while a database of
tens of thousands of records is tens of megabytes of JSON. For a file in merge format
(`database.dump_database`: one record per line), `open_database` reads every line once to check
it is a JSON record with an id and to note which npm package names it affects, keeps only that
map (package name -> byte span and line of each record naming it), and parses a record fully
only when its package is looked up. The map is cached in the user's cache directory, keyed by
the file's identity (device, inode, size, and mtime and ctime in nanoseconds: a merge replaces
the file, so its inode changes, and ctime cannot be set back), so later runs skip even the
line scan. Anything wrong with the cache (absent, unreadable, other format, stale) means a scan:
the cache can make a run faster, never make it pass. Other layouts (arrays, directories, zips)
are loaded whole by `database.load_database`.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scorer.atomic import write_atomic
from scorer.errors import InputError
from scorer.osv.advisories import Advisory, AdvisoryIndex, RecordError
from scorer.osv.database import load_database, paused_gc, record_spans

CACHE_FORMAT = 2
# name -> [[start, end, line], ...] for every record whose npm affected entries name it
Names = dict[str, list[list[int]]]


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/provscore/osv-index`, or `~/.cache/provscore/osv-index`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "provscore" / "osv-index"


def open_database(
    path: str | os.PathLike[str],
    *,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    malicious_only: bool = True,
) -> AdvisoryIndex:
    """An `AdvisoryIndex` over the database at `path` (file, directory or zip), for `match`.

    Raises InputError as `load_database` does for a missing or unreadable database, invalid
    JSON, a wrong document shape, a record without an id or an unreadable affected package.
    For a merge-format file, deeper defects of a record (a malformed range, say) are found when
    its package is looked up, and raise InputError then: a defect can never hide a match, but
    a defective record of a package the lockfile does not hold does not stop the audit.
    """
    location = Path(path).absolute()
    if not location.is_file() or zipfile.is_zipfile(location):
        with paused_gc():
            return AdvisoryIndex(load_database(location), malicious_only=malicious_only)
    cache = _cache_file(location, cache_dir or default_cache_dir())
    try:
        with open(location, "rb") as handle:
            # Identity and content come from the same open file, so a merge that replaces
            # the database meanwhile cannot pair one file's spans with another's bytes.
            identity = _identity(os.fstat(handle.fileno()))
            cached = _read_cache(cache, location, identity) if use_cache else None
            if cached is not None:
                names, count = cached
                data: mmap.mmap | bytes = (
                    mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if identity[2] else b""
                )
                loader = _span_loader(location, cache, data, names, from_cache=True)
                return AdvisoryIndex.deferred(
                    names, loader, record_count=count, malicious_only=malicious_only
                )
            content = handle.read()
    except OSError as exc:
        raise InputError(location, f"cannot read: {exc.strerror or exc}") from None
    with paused_gc():
        scanned = _scan(location, content)
        if scanned is None:  # not merge format: load it whole, with full validation
            return AdvisoryIndex(load_database(location), malicious_only=malicious_only)
    names, count = scanned
    if use_cache:
        _write_cache(cache, location, identity, names, count)
    loader = _span_loader(location, cache, content, names, from_cache=False)
    return AdvisoryIndex.deferred(names, loader, record_count=count, malicious_only=malicious_only)


def _identity(stat: os.stat_result) -> list[int]:
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def _cache_file(location: Path, cache_dir: Path) -> Path:
    digest = hashlib.sha256(str(location).encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir / f"{digest[:40]}.json"


def _scan(location: Path, data: bytes) -> tuple[Names, int] | None:
    """The name map and record count of a merge-format file; None when the file is not in
    that format (or has a repeated id, which only a full load resolves)."""
    spans = record_spans(data)
    if spans is None:
        return None
    names: Names = {}
    seen: set[str] = set()
    for line, (start, end) in enumerate(spans, start=2):
        try:
            record = json.loads(data[start:end])
        except ValueError:
            return None  # a line that is not a whole record: let the full load judge the file
        ident = record.get("id") if isinstance(record, dict) else None
        if not isinstance(ident, str) or not ident:
            raise InputError(location, "record: record has no id", line=line)
        if ident in seen:
            return None
        seen.add(ident)
        for name in _npm_names(record, location, line):
            names.setdefault(name, []).append([start, end, line])
    return names, len(spans)


def _npm_names(record: dict[str, Any], location: Path, line: int) -> list[str]:
    # The same checks `Advisory.from_osv` makes on the way to a package name: a record whose
    # names cannot be read could otherwise never be looked up, and would be skipped silently.
    affected = record.get("affected") or []
    found = []
    for entry in affected if isinstance(affected, list) else [None]:
        package = entry.get("package") if isinstance(entry, dict) else None
        if not isinstance(package, dict):
            raise InputError(location, f"record {record['id']}: bad affected entry", line=line)
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if isinstance(ecosystem, str) and ecosystem.lower() == "npm":
            if not isinstance(name, str) or not name:
                raise InputError(location, f"record {record['id']}: no package name", line=line)
            if name not in found:
                found.append(name)
    return found


def _read_cache(cache: Path, location: Path, identity: list[int]) -> tuple[Names, int] | None:
    try:
        document = json.loads(cache.read_bytes())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(document, dict)
        or document.get("format") != CACHE_FORMAT
        or document.get("file") != str(location)
        or document.get("identity") != identity
        or not isinstance(document.get("names"), dict)
        or not isinstance(document.get("records"), int)
    ):
        return None
    names: Names = document["names"]
    return names, document["records"]


def _write_cache(
    cache: Path, location: Path, identity: list[int], names: Names, count: int
) -> None:
    document = {"format": CACHE_FORMAT, "file": str(location), "identity": identity}
    document.update(records=count, names=names)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache, json.dumps(document, separators=(",", ":")))
    except OSError:
        pass  # a read-only or full cache directory only costs speed


def _span_loader(
    location: Path, cache: Path, data: mmap.mmap | bytes, names: Names, *, from_cache: bool
) -> Callable[[str], list[Advisory]]:
    parsed: dict[int, Advisory] = {}

    def load(name: str) -> list[Advisory]:
        found = []
        for entry in names.get(name, ()):
            try:
                start, end, line = entry
                advisory = parsed.get(start)
                record = None if advisory else json.loads(data[start:end])
            except (ValueError, TypeError) as exc:
                # Only a cache can point at bytes that are not a record (the identity
                # matched, so the cache itself is damaged): say so rather than guess.
                where = cache if from_cache else location
                raise InputError(
                    where, f"index does not fit {location} ({exc}); delete the cache file"
                ) from None
            if advisory is None:
                try:
                    advisory = Advisory.from_osv(record)
                except RecordError as exc:
                    raise InputError(location, f"record: {exc}", line=line) from None
                parsed[start] = advisory
            found.append(advisory)
        return found

    return load
