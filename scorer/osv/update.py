"""`provscore db update` and `provscore db info`: a local copy of the OSV archive, kept fresh.

An update is what a scheduled job runs before offline gates: download the OSV `all.zip` of npm
records (or a mirror's copy), only when it changed (a conditional request with the ETag and
Last-Modified of the copy in hand), verify it (length, the MD5 that the OSV bucket publishes in
`x-goog-hash`, then every member read, inflated within bounds, CRC-checked and indexed as an
OSV record), replace the database atomically and install the index built during verification,
so the next audit is warm. Until the rename, nothing of the old database has changed: a failed,
refused or interrupted update (a killed process, a dropped connection, a bad archive) leaves it
working, and the next update removes what the interrupted one left. What was downloaded from
where and when is kept beside the database (`<db>.source.json`) for the next conditional request
and for `db info`. An update only ever replaces an archive: a JSON database holds records merged
by `audit --write`/`--write-cache`, and a tree is someone's checkout, so both are refused.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scorer.atomic import fsync_directory, write_atomic
from scorer.errors import InputError, SourceUnreachable
from scorer.npmrc import checked_url
from scorer.osv import DEFAULT_ARCHIVE_URL
from scorer.osv.advisories import parse_timestamp
from scorer.osv.database import locked
from scorer.osv.index import (
    IndexInfo,
    build_index,
    cache_file,
    identity_of,
    open_database,
    stamp_index,
)
from scorer.osv.layouts import layout_of, open_regular
from scorer.text import safe

# The npm archive is tens of megabytes; a response past this is not an OSV archive.
MAX_ARCHIVE_BYTES = 4 * 1024**3
# Per read (connect, each chunk) and for the whole download.
READ_TIMEOUT = 30.0
DOWNLOAD_DEADLINE = 900.0
_SOURCE_SUFFIX = ".source.json"


@dataclass(frozen=True, slots=True)
class Source:
    """Where the database's archive came from, as `<db>.source.json` records it."""

    url: str
    etag: str | None
    last_modified: str | None
    size: int
    sha256: str
    downloaded: str  # RFC 3339
    checked: str  # RFC 3339: the last time the server said it had nothing newer
    identity: list[Any]  # of the database file it describes

    @classmethod
    def read(cls, database: Path) -> Source | None:
        """The record beside `database`, None when absent or unreadable (then the next
        update downloads unconditionally and `db info` says the source is unknown)."""
        try:
            document = json.loads((database.parent / (database.name + _SOURCE_SUFFIX)).read_text())
            return cls(**document)
        except (OSError, ValueError, TypeError, RecursionError):
            return None

    def write(self, database: Path) -> None:
        from dataclasses import asdict

        text = json.dumps(asdict(self), indent=1) + "\n"
        write_atomic(database.parent / (database.name + _SOURCE_SUFFIX), text)


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What `update_database` did: `replaced` False when the server had nothing newer."""

    database: Path
    url: str
    replaced: bool
    info: IndexInfo
    size: int


def _shown(url: str) -> str:
    """`url` without a user or password (a mirror's credentials are not for logs)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _identity(database: Path) -> list[Any] | None:
    try:
        fd = open_regular(database)
    except InputError:
        return None
    try:
        return identity_of(database, "zip", fd)[0]
    finally:
        os.close(fd)


def _check_target(database: Path) -> None:
    if not database.exists() and not database.is_symlink():
        return
    layout = layout_of(database)
    if layout == "tree":
        raise InputError(
            database, "is a directory tree; `db update` keeps one OSV archive: choose another --db"
        )
    if layout == "file":
        raise InputError(
            database,
            "holds a JSON database (records merged by `audit --write`/`--write-cache`); `db "
            "update` would replace it with the OSV archive: move it away or choose another --db",
        )


def _remove_leftovers(database: Path) -> None:
    """Downloads an interrupted update left (we hold the lock: nobody else writes them)."""
    for stale in database.parent.glob(f".{database.name}.*.download"):
        with contextlib.suppress(OSError):
            stale.unlink()


def _google_md5(headers: Mapping[str, str]) -> str | None:
    """The MD5 in `x-goog-hash: crc32c=...,md5=...` (base64), as hex; None when absent."""
    for part in headers.get("x-goog-hash", "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "md5" and value:
            try:
                return base64.b64decode(value + "=" * (-len(value) % 4)).hex()
            except ValueError:
                return None
    return None


def _download(
    client: Any, url: str, known: Source | None, temp: Path
) -> tuple[bool, Mapping[str, str], str, int]:
    """GET `url` into `temp` (conditionally when `known`); (changed, headers, sha256, size)."""
    import httpx

    from scorer.retry import transport_problem

    shown = _shown(url)
    headers = {"Accept": "application/zip"}
    if known is not None and known.url == url:
        if known.etag:
            headers["If-None-Match"] = known.etag
        if known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
    deadline = time.monotonic() + DOWNLOAD_DEADLINE
    sha256, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304 and known is not None:
                return False, response.headers, known.sha256, known.size
            if response.status_code != 200:
                raise SourceUnreachable(f"{shown}: HTTP {response.status_code}; database unchanged")
            with open(temp, "xb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > MAX_ARCHIVE_BYTES:
                        raise InputError(temp, f"{shown}: larger than {MAX_ARCHIVE_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise SourceUnreachable(
                            f"{shown}: download still running after {DOWNLOAD_DEADLINE:.0f} s;"
                            " database unchanged"
                        )
                    sha256.update(chunk)
                    md5.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) != size:
                raise SourceUnreachable(f"{shown}: {size} of {declared} bytes; database unchanged")
            expected = _google_md5(response.headers)
            if expected is not None and expected != md5.hexdigest():
                raise SourceUnreachable(
                    f"{shown}: MD5 does not match x-goog-hash (damaged in transit);"
                    " database unchanged"
                )
            return True, response.headers, sha256.hexdigest(), size
    except httpx.HTTPError as exc:
        raise SourceUnreachable(f"{shown}: {transport_problem(exc)}; database unchanged") from None


def update_database(
    database: Path,
    url: str,
    *,
    now: datetime,
    cache_dir: Path,
    transport: Any = None,
) -> UpdateResult:
    """Bring the archive at `database` up to date from `url` (see the module docstring).
    Raises SourceUnreachable (exit 3) when the download fails, InputError (exit 2) when the
    target is not an archive database or the download is not an archive of OSV records;
    in every case the old database is left as it was."""
    import httpx

    url = checked_url(url, "OSV archive URL")
    database = database.absolute()
    _check_target(database)
    database.parent.mkdir(parents=True, exist_ok=True)
    stamp = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    with locked(database):
        _remove_leftovers(database)
        known = Source.read(database)
        if known is not None and known.identity != _identity(database):
            known = None  # describes another file: ask unconditionally
        temp = database.with_name(f".{database.name}.{secrets.token_hex(8)}.download")
        index_path = cache_file(database, cache_dir)
        try:
            timeout = httpx.Timeout(READ_TIMEOUT)
            with httpx.Client(
                transport=transport, timeout=timeout, follow_redirects=True
            ) as client:
                changed, headers, sha256, size = _download(client, url, known, temp)
            if not changed:
                assert known is not None
                info = open_database(database, cache_dir=cache_dir).info
                _replace_source(known, database, checked=stamp)
                return UpdateResult(database, url, False, info, known.size)
            header = _verify_and_index(temp, url, database, index_path)
            os.replace(temp, database)
            fsync_directory(database.parent)
            identity = _identity(database)
            assert identity is not None
            stamp_index(header, database, identity)
            os.replace(header, index_path)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        Source(
            url=url,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            size=size,
            sha256=sha256,
            downloaded=stamp,
            checked=stamp,
            identity=identity,
        ).write(database)
    info = open_database(database, cache_dir=cache_dir).info
    return UpdateResult(database, url, True, info, size)


def _replace_source(known: Source, database: Path, *, checked: str) -> None:
    from dataclasses import replace

    replace(known, checked=checked).write(database)


def _verify_and_index(temp: Path, url: str, database: Path, index_path: Path) -> Path:
    """Read every record of the downloaded archive into a new index (the verification), kept
    beside the final index until the archive is in place. InputError says what is wrong."""
    index_path.parent.mkdir(parents=True, exist_ok=True)
    built = index_path.with_name(f".{index_path.name}.{secrets.token_hex(8)}.new")
    try:
        if layout_of(temp) != "zip":
            raise InputError(temp, "not a zip archive")
        fd = open_regular(temp)
        try:
            with open(built, "xb") as out:
                build_index(database, "zip", fd, None, out, scratch=index_path.parent)
                os.fsync(out.fileno())
        finally:
            os.close(fd)
    except InputError as exc:
        with contextlib.suppress(OSError):
            built.unlink()
        raise InputError(
            database, f"update from {_shown(url)} refused, database unchanged: {exc.problem}"
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            built.unlink()
        raise
    return built


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    """What `db info` shows."""

    database: Path
    size: int
    index: IndexInfo
    source: Source | None
    now: datetime


def database_info(database: Path, *, now: datetime, cache_dir: Path) -> DatabaseInfo:
    """Counts from the index (built now if there is none), the source record, sizes."""
    database = database.absolute()
    index = open_database(database, cache_dir=cache_dir).info
    if database.is_dir():
        size = sum(f.stat().st_size for f in database.rglob("*.json") if f.is_file())
    else:
        size = database.stat().st_size
    source = Source.read(database)
    if source is not None and source.identity != _identity(database):
        source = None  # the record is about another file (replaced by hand since)
    return DatabaseInfo(database, size, index, source, now)


def _age(then: str | None, now: datetime) -> str:
    moment = parse_timestamp(then)
    if moment is None:
        return "unknown"
    seconds = (now - moment).total_seconds()
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if abs(seconds) >= length:
            count = int(seconds // length)
            return f"{count} {unit}{'s' if abs(count) != 1 else ''} ago"
    return "just now"


_LAYOUTS = {"file": "OSV JSON file", "tree": "directory tree of OSV records", "zip": "OSV archive"}


def render_info(info: DatabaseInfo) -> str:
    """`db info` as text, one fact a line."""
    index = info.index
    lines = [
        f"database: {info.database}",
        f"layout: {_LAYOUTS.get(index.layout, index.layout)}, {info.size / 1e6:.1f} MB",
        f"records: {index.records:,} ({index.malicious:,} malicious,"
        f" {index.withdrawn:,} withdrawn)",
        f"newest modified: {index.newest_modified or 'unknown'}"
        + (f" ({_age(index.newest_modified, info.now)})" if index.newest_modified else ""),
    ]
    source = info.source
    if source is None:
        lines.append("source: not recorded (not written by `provscore db update`)")
    else:
        lines.append(f"source: {_shown(source.url)}")
        lines.append(f"downloaded: {source.downloaded} ({_age(source.downloaded, info.now)})")
        lines.append(f"last checked: {source.checked} ({_age(source.checked, info.now)})")
        lines.append(f"sha256: {source.sha256}")
    # Paths, URLs and dates come from outside: no control or bidi character reaches a terminal.
    return "".join(safe(line) + "\n" for line in lines)


def render_update(result: UpdateResult) -> str:
    """What `db update` says on stdout."""
    what = "replaced" if result.replaced else "unchanged (the server has nothing newer)"
    index = result.info
    line = (
        f"{result.database}: {what}; {index.records:,} records ({index.malicious:,}"
        f" malicious, {index.withdrawn:,} withdrawn), newest modified"
        f" {index.newest_modified or 'unknown'}, from {_shown(result.url)}"
    )
    return safe(line) + "\n"


def _paths(db: Path | None, env: Mapping[str, str], home: Path) -> tuple[Path, Path]:
    """The database (as `audit` finds it) and the index cache directory."""
    from scorer.audit import default_db
    from scorer.config import find_config

    database = db or default_db(env, find_config(Path.cwd()), home)
    cache_dir = Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "provscore" / "osv-index"
    return database, cache_dir


def run_update(db: Path | None, url: str | None) -> str:
    """`provscore db update`: the CLI's whole command (environment and clock read here)."""
    database, cache_dir = _paths(db, os.environ, Path.home())
    result = update_database(
        database, url or DEFAULT_ARCHIVE_URL, now=datetime.now(UTC), cache_dir=cache_dir
    )
    return render_update(result)


def run_info(db: Path | None) -> str:
    """`provscore db info`: the CLI's whole command."""
    database, cache_dir = _paths(db, os.environ, Path.home())
    if not database.exists():
        raise InputError(
            database, "no advisory database here; create one with `provscore db update`"
        )
    return render_info(database_info(database, now=datetime.now(UTC), cache_dir=cache_dir))
