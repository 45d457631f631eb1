"""The local OSV database: load it from a file, a directory tree or an `all.zip`, merge into it.

A database is read from (a) a JSON file holding an array of OSV records, an object holding them
under `vulns` or `advisories`, or a single record object (an object with an `id`); (b) a
directory tree of such JSON files, e.g. the OpenSSF malicious-packages layout
`osv/malicious/npm/<name>/MAL-*.json` with `osv/withdrawn/...`; (c) an OSV `all.zip` with one
record per member. Anything missing, unreadable or malformed raises `InputError` naming the file
(and the member or record): an audit must never pass because its database silently held nothing.
`merge_database` writes the stable "merge format" (see `dump_database`: one record per line,
sorted), atomically and under an exclusive lock, so that a crash or two concurrent writers lose
nothing. `open_database` gives the matcher an index over a database that, for a merge-format
file, is kept in a small cache so that repeated audits read only the records they need.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorer.atomic import write_atomic
from scorer.errors import InputError, parser_limit
from scorer.osv.advisories import Advisory, RecordError
from scorer.osv.layouts import open_regular, read_member, records_of, zip_members

# A JSON database read whole (to merge into it, or by `load_database`).
MAX_DATABASE_BYTES = 4 * 1024**3
_CONTAINER_KEYS = ("vulns", "advisories")
# An object with any of these and no container key is taken as one record, so that a record
# missing its id is reported as exactly that.
_RECORD_KEYS = ("id", "affected", "aliases", "modified", "published", "summary", "details")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a database is parsed. Parsing creates millions
    of small acyclic objects, each allocation burst triggering collections that rescan the
    whole growing heap: with 25,000 records that multiplies load time by about four."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse(data: bytes, where: Path, member: str | None = None) -> list[Advisory]:
    prefix = f"{member}: " if member else ""
    try:
        document = json.loads(data)
    except UnicodeDecodeError as exc:
        raise InputError(where, f"{prefix}not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise InputError(where, f"{prefix}invalid JSON: {exc.msg}", line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(where, f"{prefix}unreadable JSON: {parser_limit(exc)}") from None
    records = records_of(document, where, member)
    advisories = []
    for position, record in enumerate(records):
        try:
            advisories.append(Advisory.from_osv(record))
        except RecordError as exc:
            raise InputError(where, f"{prefix}record #{position + 1}: {exc}") from None
    return advisories


def _read_bytes(path: Path) -> bytes:
    # A FIFO would block and a device never end: only a regular file is read, and not one
    # that cannot be a database (a 3 GB sparse file, say).
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(path, "a directory; expected a file of OSV records")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, "not a regular file; expected a file of OSV records")
    if info.st_size > MAX_DATABASE_BYTES:
        raise InputError(path, f"larger than {MAX_DATABASE_BYTES // 1024**3} GiB")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None


# The merge format: this header, one record per line (each but the last followed by a comma),
# this footer. Still one plain JSON document; the line structure is what makes per-record
# byte spans (for the index cache) and per-record line numbers (in errors) cheap.
_HEADER = b'{"vulns": [\n'
_FOOTER = b"]}\n"


def record_spans(data: bytes) -> list[tuple[int, int]] | None:
    """(start, end) byte spans of the records of a merge-format file, None for any other file."""
    if not data.startswith(_HEADER) or not data.endswith(_FOOTER):
        return None
    spans = []
    start, stop = len(_HEADER), len(data) - len(_FOOTER)
    while start < stop:
        end = data.index(b"\n", start)
        last = end + 1 == stop
        if data[end - 1 : end] != (b"}" if last else b",") or end + 1 > stop:
            return None
        spans.append((start, end if last else end - 1))
        start = end + 1
    return spans


def _parse_spans(data: bytes, spans: list[tuple[int, int]], path: Path) -> list[Advisory] | None:
    """The records of a merge-format file, None when a line is not a whole JSON record (a
    hand-edited file that only looks like the format: the caller parses the whole document)."""
    advisories = []
    for line, (start, end) in enumerate(spans, start=2):
        try:
            record = json.loads(data[start:end])
        except (ValueError, RecursionError):
            return None
        try:
            advisories.append(Advisory.from_osv(record))
        except RecordError as exc:
            raise InputError(path, f"record: {exc}", line=line) from None
    return advisories


def load_json_file(
    path: Path, data: bytes | None = None
) -> tuple[list[Advisory], list[tuple[int, int]] | None]:
    """The records of a JSON file (read now unless `data` is given), and their byte spans when
    the file is in merge format (one span per record, in file order)."""
    if data is None:
        data = _read_bytes(path)
    if not data.strip():
        raise InputError(path, "empty file, expected OSV records")
    spans = record_spans(data)
    advisories = None if spans is None else _parse_spans(data, spans, path)
    if advisories is None:
        return _parse(data, path), None
    return advisories, spans


def _load_zip(path: Path) -> list[Advisory]:
    # Members through the bounded reader of `layouts`: supported method, not encrypted,
    # capped in size and ratio, CRC checked.
    advisories: list[Advisory] = []
    fd = open_regular(path)
    try:
        for name, position in zip_members(fd, path):
            data = read_member(fd, path, name, position)
            advisories.extend(_parse(data, path, name))
    finally:
        os.close(fd)
    return advisories


def _json_files(root: Path) -> Iterator[Path]:
    def fail(exc: OSError) -> None:
        raise InputError(exc.filename or root, f"cannot read directory: {exc.strerror}")

    for directory, subdirs, files in os.walk(root, onerror=fail):
        # Sorted walk so that load order (and any error reported) is reproducible; hidden
        # entries (.git, editor files) are not part of a database.
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".json") and not name.startswith("."):
                yield Path(directory, name)


def _load_directory(path: Path) -> list[Advisory]:
    advisories: list[Advisory] = []
    found = False
    for file in _json_files(path):
        found = True
        advisories.extend(load_json_file(file)[0])
    if not found:
        raise InputError(path, "directory holds no .json OSV records")
    return advisories


def _newer(candidate: Advisory, current: Advisory) -> bool:
    """Whether `candidate` should replace `current`: strictly newer `modified` only, so a tie
    keeps what is there. An undated record is older than any dated one."""
    new, old = candidate.modified, current.modified
    if new is None:
        return False
    return old is None or new > old


def newest_by_id(advisories: Iterable[Advisory]) -> list[Advisory]:
    """One advisory per id (the newer `modified`; the first seen on a tie), sorted by id."""
    by_id: dict[str, Advisory] = {}
    for advisory in advisories:
        current = by_id.get(advisory.id)
        if current is None or _newer(advisory, current):
            by_id[advisory.id] = advisory
    return [by_id[k] for k in sorted(by_id)]


def load_database(path: str | os.PathLike[str]) -> list[Advisory]:
    """All records of a local OSV database (file, directory tree or zip), sorted by id.

    The same id seen twice (a record both under `malicious/` and `withdrawn/`, say) keeps the
    copy with the newer `modified`, the first one read on a tie. Withdrawn records are returned
    too (they never match) so that merging keeps them. An empty array or `{"vulns": []}` is a
    valid, empty database; an empty file, a directory or zip with no `.json` records is not.
    """
    location = Path(path)
    with paused_gc():
        if location.is_dir():
            records = _load_directory(location)
        elif location.is_file() and zipfile.is_zipfile(location):
            records = _load_zip(location)
        else:
            records = load_json_file(location)[0]
        return newest_by_id(records)


@dataclass(frozen=True, slots=True)
class MergeCounts:
    """What `merge_database` did: records added, replaced by a newer copy, or left as they were."""

    added: int
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class FileShape:
    """The top level of a database file, kept when merging into it: an array, or an object
    holding the records under `key` next to `extra` top-level keys of its own."""

    array: bool = False
    key: str = "vulns"
    extra: tuple[tuple[str, Any], ...] = ()


def shape_of(data: bytes) -> FileShape:
    """The shape of a database file's bytes (already read as valid records): the merge format
    for a file in it or one holding a single record, which must become a container to grow."""
    if record_spans(data) is not None:
        return FileShape()
    document = json.loads(data)
    if isinstance(document, list):
        return FileShape(array=True)
    for key in _CONTAINER_KEYS:
        if isinstance(document, dict) and key in document:
            return FileShape(key=key, extra=tuple((k, v) for k, v in document.items() if k != key))
    return FileShape()


def dump_database(advisories: Iterable[Advisory], shape: FileShape = FileShape()) -> str:
    """The merge format: `{"vulns": [` on the first line, then one record per line sorted by
    id (compact JSON, sorted keys, non-ASCII kept), then `]}` and a newline. Plain JSON that any
    tool reads; in review each added or updated record is one changed line; and a record's
    line is its byte span, which the index cache of `open_database` relies on. Another `shape`
    (an array file, or other top-level keys) keeps the records one per line inside it."""
    lines = [
        _json_text(a.raw, sort_keys=True, separators=(",", ":"))
        for a in sorted(advisories, key=lambda a: a.id)
    ]
    body = ",\n".join(lines) + ("\n" if lines else "")
    if shape.array:
        return "[\n" + body + "]\n"
    head = "".join(f"{_json_text(k)}: {_json_text(v)}, " for k, v in shape.extra)
    return "{" + head + json.dumps(shape.key) + ": [\n" + body + "]}\n"


def _json_text(value: Any, **options: Any) -> str:
    """JSON with non-ASCII text kept readable, except in a value holding a lone surrogate
    (`"\\ud800"` is valid JSON and the json module reads it, but no UTF-8 can carry it): that
    one stays escaped, so the file can be written and reads back the same."""
    text = json.dumps(value, ensure_ascii=False, **options)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(value, ensure_ascii=True, **options)
    return text


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on the database at `path`, for writers (merge, update)."""
    # The lock is held on the directory that holds the database: the database itself is
    # replaced by rename, so a lock on its old inode would not exclude a writer that opened the
    # new one, and a sidecar lock file would be left behind next to every database (a refused
    # write included). Writers of other files in the same directory wait too, which is cheap.
    directory = path.parent
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(directory, f"cannot open to lock: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def merge_database(path: str | os.PathLike[str], advisories: Iterable[Advisory]) -> MergeCounts:
    """Merge `advisories` into the JSON database at `path`, creating it (and its parents).

    By id: a new id is added; a known id is replaced only by a copy with a strictly newer
    `modified` (a tie keeps the stored copy); nothing is ever removed, so withdrawn records stay
    in the file, marked withdrawn. The current file is re-read inside the lock, so concurrent
    writers each build on the other's result. A malformed existing file raises InputError and is
    left untouched rather than overwritten. A symbolic link is written through, and the file
    keeps its shape (an array stays an array, other top-level keys stay).
    """
    # A link is written through: the database it points at is the one to update, and
    # replacing the link with a file would leave that database stale without a word.
    target = Path(os.path.realpath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(target.parent, f"cannot create directory: {exc.strerror}") from None
    if target.is_dir():
        raise InputError(target, "is a directory; merging writes a single JSON file")
    if target.is_file() and zipfile.is_zipfile(target):
        raise InputError(
            target,
            "is an OSV archive (kept by `provscore db update`); merge into a JSON file: --write",
        )
    incoming = newest_by_id(advisories)
    with locked(target):
        shape = FileShape()
        stored: list[Advisory] = []
        if target.exists():
            data = _read_bytes(target)
            with paused_gc():
                stored = newest_by_id(load_json_file(target, data)[0])
            shape = shape_of(data)
        existing = {a.id: a for a in stored}
        added = updated = unchanged = 0
        for advisory in incoming:
            current = existing.get(advisory.id)
            if current is None:
                added += 1
            elif _newer(advisory, current):
                updated += 1
            else:
                unchanged += 1
                continue
            existing[advisory.id] = advisory
        if added or updated or not target.exists():
            try:
                write_atomic(target, dump_database(existing.values(), shape))
            except OSError as exc:
                raise InputError(target, f"cannot write: {exc.strerror or exc}") from None
    return MergeCounts(added, updated, unchanged)
