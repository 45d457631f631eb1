"""A local OSV database read as a stream of records, whatever its layout, through bounded readers.

The three layouts are one JSON file (merge format, or any array / `{"vulns": [...]}` document,
pretty-printed or not), a directory tree of record files (a checkout of the OpenSSF repository),
and an OSV `all.zip`. Each is cut into *units* (a byte range of a merge-format file, a slice of
the tree's files or of the archive's members) that `unit_records` reads on its own, so that a
process pool can index a large database on every core, holding one record at a time. Every
record comes with a *locator* (a JSON list: byte span, file and position, archive member, or
position in a JSON document) from which `read_records` reads it again later. No format is
parsed here by hand: archives are read by `zipfile`, JSON documents streamed by ijson, and only
our own merge format (one record per line) is split into lines, each decoded by orjson. Nothing
is read whole: files must be regular (a FIFO or a device is refused before it is read), every
read is capped in bytes actually read (not in the size `stat` reports), and archive members are
capped in inflated size and ratio, as declared and as inflated, with their CRC checked.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import itertools
import json
import os
import stat
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from scorer.errors import InputError, parser_limit

# One OSV record, one file of a tree, one archive member: far above any real record (the
# largest OpenSSF npm records are tens of kilobytes), far below what would hurt a CI runner.
MAX_RECORD_BYTES = 64 * 1024 * 1024
# Deflate can reach about 1000:1; JSON records reach 10-20:1. A member that inflates more than
# this (once past a megabyte) is a bomb, not a record.
MAX_ZIP_RATIO = 200
_RATIO_FLOOR = 1024 * 1024
_CHUNK = 8 * 1024 * 1024
# What ijson asks of a file at a time (its own default: larger reads make it no faster).
_JSON_CHUNK = 64 * 1024

_CONTAINER_KEYS = ("vulns", "advisories")
_RECORD_KEYS = ("id", "affected", "aliases", "modified", "published", "summary", "details")
MERGE_HEADER = b'{"vulns": [\n'
MERGE_FOOTER = b"]}\n"

Locator = list[Any]


# --- bounded readers ------------------------------------------------------------------------


def open_regular(path: Path | str) -> int:
    """A read-only descriptor of `path`, refusing anything but a regular file. O_NONBLOCK on
    open keeps a FIFO from blocking until a writer appears; it is refused right after."""
    return _open_regular(path)[0]


def _open_regular(path: Path | str) -> tuple[int, os.stat_result]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise InputError(path, f"{kind}; expected a file of OSV records")
    return fd, info  # O_NONBLOCK does nothing to a regular file: no need to clear it


def pread_exact(fd: int, size: int, offset: int, where: Path) -> bytes:
    """`size` bytes at `offset`, or InputError when the file ends first."""
    parts, done = [], 0
    while done < size:
        try:
            part = os.pread(fd, min(size - done, _CHUNK), offset + done)
        except OSError as exc:
            raise InputError(where, f"cannot read: {exc.strerror or exc}") from None
        if not part:
            raise InputError(where, "file ends early (changed while being read?)")
        parts.append(part)
        done += len(part)
    return b"".join(parts)


def read_bounded(path: Path | str, limit: int = MAX_RECORD_BYTES) -> bytes:
    """The whole content of a regular file of at most `limit` bytes, counted as read (a file
    can grow, and some regular files report size 0). Asks for the size `stat` reports plus
    one byte, so a record file costs one read, not a buffer of `limit` bytes."""
    fd, info = _open_regular(path)
    try:
        size = info.st_size
        if size > limit:
            raise InputError(
                path, f"larger than {limit // (1024 * 1024)} MiB; not an OSV record file"
            )
        parts = [os.read(fd, size + 1)]
        total = len(parts[0])
        while total > size:  # it grew, or stat told less than there is: read on, bounded
            part = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not part:
                break
            parts.append(part)
            total += len(part)
            if total > limit:
                raise InputError(
                    path, f"larger than {limit // (1024 * 1024)} MiB; not an OSV record file"
                )
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def line_at(fd: int, offset: int) -> int:
    """The 1-based line number of byte `offset` (only ever needed to report an error)."""
    line, done = 1, 0
    while done < offset:
        part = os.pread(fd, min(_CHUNK, offset - done), done)
        if not part:
            break
        line += part.count(b"\n")
        done += len(part)
    return line


# --- layouts and units ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unit:
    """A part of a database that one worker reads: `kind` is "lines" (a byte range of a
    merge-format file), "json" (a whole JSON file, read as a stream), "tree" (files of a tree,
    relative paths) or "zip" (members: name, header offset, sizes, method, CRC, flags)."""

    kind: str
    start: int = 0
    end: int = 0
    items: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Walk:
    """The `.json` files of a tree: how many, a digest of their paths and stats (inode, size,
    mtime, ctime: the tree's identity), which walker made it (their digests differ), and the
    raw listing, from which `names` reads the paths, sorted, only when they are needed."""

    walker: str
    count: int
    digest: str
    listing: bytes  # NUL-separated path, stats, path, stats...

    def names(self) -> list[str]:
        fields = self.listing.split(b"\0")
        return sorted(os.fsdecode(name) for name in fields[0:-1:2])


def walk_tree(root: Path) -> Walk:
    """Every `.json` file under `root`, hidden entries skipped (`.git` and editor files are not
    part of a database). GNU find walks a quarter of a million files several times faster than
    Python can, and its output is hashed as it is (no work per file here); without it, a
    Python walk. Symbolic links to files are listed, not followed: `open_regular` refuses a
    link to a device when the file is read."""
    listing = _find(root)
    walker = "find"
    if listing is None:
        walker, listing = "python", _python_walk(root)
    count = listing.count(b"\0") // 2
    return Walk(walker, count, hashlib.sha256(listing).hexdigest(), listing)


def _python_walk(root: Path) -> bytes:
    parts: list[tuple[str, str]] = []
    pending = [(root, "")]
    while pending:  # no recursion: a hostile tree may be thousands of levels deep
        directory, prefix = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((Path(entry.path), f"{prefix}{entry.name}/"))
                    elif entry.name.endswith(".json"):
                        st = entry.stat(follow_symlinks=False)
                        stats = f"{st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"
                        parts.append((prefix + entry.name, stats))
        except OSError as exc:
            raise InputError(directory, f"cannot read directory: {exc.strerror}") from None
    parts.sort()
    return b"".join(os.fsencode(name) + b"\0" + stats.encode() + b"\0" for name, stats in parts)


def _find(root: Path) -> bytes | None:
    """The walk by GNU find, as it prints it; None when there is none, or it failed (the
    Python walk then names what is wrong)."""
    command = [
        "find", "-P", str(root), "-mindepth", "1",
        "(", "-name", ".*", "-prune", ")", "-o",
        "(", "-name", "*.json", "(", "-type", "f", "-o", "-type", "l", ")",
        "-printf", "%P\\0%i %s %T@ %C@\\0", ")",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, check=False, env={"LC_ALL": "C"})
    except OSError:
        return None
    if done.returncode != 0 or done.stderr or done.stdout.count(b"\0") % 2:
        return None
    return done.stdout


class _PositionalFile(io.RawIOBase):
    """A binary file over a descriptor, read with `pread` at a position of its own: the
    processes of a pool share the descriptor's file position, never this one. It never closes
    the descriptor. With a `budget`, the bytes read between two calls of `mark` (one record,
    plus a buffer of read-ahead) are capped: ijson builds a value whole, so a value of
    gigabytes has to be stopped by the reads that feed it."""

    def __init__(self, fd: int, where: Path, budget: int | None = None) -> None:
        super().__init__()
        self.fd, self.where, self.budget = fd, where, budget
        self.position = self.since_mark = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position}.get(whence)
        if base is None:
            base = os.fstat(self.fd).st_size if whence == os.SEEK_END else -1
        if base < 0 or base + offset < 0:
            raise OSError(errno.EINVAL, f"invalid seek ({offset}, {whence})")
        self.position = base + offset
        return self.position

    def readinto(self, buffer: Any) -> int:
        try:
            size = os.preadv(self.fd, [buffer], self.position)
        except OSError as exc:
            raise InputError(self.where, f"cannot read: {exc.strerror or exc}") from None
        self.position += size
        self.since_mark += size
        if self.budget is not None and self.since_mark > self.budget:
            raise InputError(self.where, "a record larger than 64 MiB, or broken JSON")
        return size

    def mark(self) -> None:
        self.since_mark = 0


# The archive last opened, kept for the member reads that follow (index workers forked after
# it was opened inherit it): `zipfile` reads the whole central directory on opening, seconds
# for a quarter of a million members. Keyed by descriptor and identity, so that a descriptor
# number reused for another file never finds it.
_ARCHIVE: list[tuple[tuple[int, ...], zipfile.ZipFile]] = []


def _archive(fd: int, where: Path) -> zipfile.ZipFile:
    """The archive open on `fd`, read by `zipfile` (ZIP64, data before the archive)."""
    st = os.fstat(fd)
    key = (fd, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if _ARCHIVE and _ARCHIVE[0][0] == key:
        return _ARCHIVE[0][1]
    # Member reads in file order are served from one large read at a time: a quarter of a
    # million members would otherwise cost a few system calls each.
    source = io.BufferedReader(_PositionalFile(fd, where), 1 << 20)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise InputError(where, f"not a readable zip archive: {exc}") from None
    _ARCHIVE[:] = [(key, archive)]
    return archive


def zip_members(fd: int, where: Path) -> list[tuple[str, int]]:
    """The `.json` members of the archive open on `fd`, as (name, position in the central
    directory), sorted by name. The position tells two members of the same name apart."""
    members = [
        (info.filename, position)
        for position, info in enumerate(_archive(fd, where).infolist())
        if info.filename.endswith(".json")
    ]
    if not members:
        raise InputError(where, "zip archive holds no .json OSV records")
    members.sort()
    return members


def read_member(fd: int, where: Path, name: str, position: int) -> bytes:
    """The inflated bytes of one archive member, checked: not encrypted, stored or deflated,
    within the size and ratio caps as declared and as actually inflated (counted while it is
    read, in chunks: the declared size is not trusted alone), as long as declared, with its
    CRC (checked by `zipfile`)."""
    return _member_bytes(_archive(fd, where), where, name, position)


def _member_bytes(archive: zipfile.ZipFile, where: Path, name: str, position: int) -> bytes:
    infos = archive.infolist()
    label = f"{name}: "
    if not 0 <= position < len(infos) or infos[position].filename != name:
        raise InputError(where, f"{label}no such member (changed while being read?)")
    info = infos[position]
    if info.flag_bits & 0x1:
        raise InputError(where, f"{label}encrypted member; an OSV archive is not encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise InputError(where, f"{label}compression method {info.compress_type} is not supported")
    compressed_too_big = info.compress_size > MAX_RECORD_BYTES + (1 << 16)
    if compressed_too_big or _too_big(info.file_size, info.compress_size):
        raise InputError(where, f"{label}inflates to {info.file_size} bytes; refused as a zip bomb")
    parts, total = [], 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(1 << 20):
                total += len(chunk)
                if _too_big(total, info.compress_size):
                    raise InputError(
                        where, f"{label}inflates past {total} bytes; refused as a zip bomb"
                    )
                parts.append(chunk)
    except zipfile.BadZipFile as exc:
        raise InputError(where, f"{label}damaged member ({exc})") from None
    except zlib.error as exc:
        raise InputError(where, f"{label}cannot inflate: {exc}") from None
    except (EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise InputError(where, f"{label}unreadable member ({exc})") from None
    if total != info.file_size:
        raise InputError(where, f"{label}damaged member (size or CRC does not match)")
    return b"".join(parts)


def _too_big(size: int, compressed: int) -> bool:
    return size > MAX_RECORD_BYTES or (size > _RATIO_FLOOR and size > compressed * MAX_ZIP_RATIO)


def plan_units(
    location: Path,
    fd: int | None,
    layout: str,
    parts: int,
    names: list[str] | None = None,
) -> list[Unit]:
    """Cut the database into at most `parts` units (more parts, more cores). `names` are the
    record files of a tree, when the caller has walked it already."""
    if layout == "tree":
        names = walk_tree(location).names() if names is None else names
        if not names:
            raise InputError(location, "directory holds no .json OSV records")
        return [Unit("tree", items=tuple(s)) for s in _slices(names, parts)]
    assert fd is not None
    if layout == "zip":
        members = zip_members(fd, location)
        return [Unit("zip", items=tuple(s)) for s in _slices(members, parts)]
    size = os.fstat(fd).st_size
    head = os.pread(fd, len(MERGE_HEADER), 0)
    tail = os.pread(fd, len(MERGE_FOOTER), max(0, size - len(MERGE_FOOTER)))
    start, stop = len(MERGE_HEADER), size - len(MERGE_FOOTER)
    if head != MERGE_HEADER or tail != MERGE_FOOTER or stop < start:
        return [Unit("json", 0, size)]
    # Cut at line ends, so that every unit holds whole records.
    cuts = [start]
    for i in range(1, parts):
        guess = start + (stop - start) * i // parts
        found = os.pread(fd, 1 << 20, guess).find(b"\n") if guess > cuts[-1] else -1
        if found >= 0 and guess + found + 1 < stop:
            cuts.append(guess + found + 1)
    cuts.append(stop)
    pairs = [(a, b) for a, b in itertools.pairwise(cuts) if b > a]
    # The last unit carries a mark: its last record is the one without a comma.
    return [Unit("lines", a, b, ("last",) if b == stop else ()) for a, b in pairs]


def _slices(items: list[Any], parts: int) -> list[list[Any]]:
    size = max(1, -(-len(items) // max(1, parts)))
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- records of a unit ----------------------------------------------------------------------


class NotMergeFormat(Exception):
    """A line of a file that looks like merge format is not a whole record: read the file as
    a plain JSON document instead."""


def unit_records(
    location: Path, fd: int | None, unit: Unit
) -> Iterator[tuple[Any, Locator, str | None]]:
    """(record, locator, member or file name for errors) for every record of `unit`."""
    if unit.kind == "lines":
        assert fd is not None
        yield from _line_records(location, fd, unit.start, unit.end, final=bool(unit.items))
    elif unit.kind == "json":
        assert fd is not None
        yield from _json_records(location, fd)
    elif unit.kind == "zip":
        assert fd is not None
        archive = _archive(fd, location)
        for name, position in unit.items:
            data = _member_bytes(archive, location, name, position)
            record = _decode(data, location, name)
            yield record, ["z", name, position], name
    else:
        root = os.path.join(location, "")  # plain strings: pathlib costs more than the read
        for name in unit.items:
            path = root + name
            document = _decode(read_bounded(path), path, None)
            records = document if isinstance(document, list) else records_of(document, path)
            for position, record in enumerate(records):
                yield record, ["d", name, position], name


def _decode(data: bytes, where: Path | str, member: str | None) -> Any:
    with contextlib.suppress(orjson.JSONDecodeError):
        return orjson.loads(data)
    prefix = f"{member}: " if member else ""
    if not data.strip():
        raise InputError(where, f"{prefix}empty file, expected OSV records")
    try:  # what orjson refuses, the json module may read (or explain)
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise InputError(where, f"{prefix}not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise InputError(where, f"{prefix}invalid JSON: {exc.msg}", line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(where, f"{prefix}unreadable JSON: {parser_limit(exc)}") from None


def records_of(document: Any, where: Path | str, member: str | None = None) -> list[Any]:
    """The records in one decoded JSON document; InputError naming a wrong shape."""
    prefix = f"{member}: " if member else ""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in _CONTAINER_KEYS:
            if key in document:
                records = document[key]
                if not isinstance(records, list):
                    raise InputError(where, f'{prefix}"{key}" is not a list of OSV records')
                return records
        if any(key in document for key in _RECORD_KEYS):
            return [document]
        raise InputError(
            where,
            f'{prefix}expected OSV records: an array, {{"vulns": [...]}}, '
            '{"advisories": [...]} or one record with an "id"',
        )
    raise InputError(where, f"{prefix}expected a JSON array or object of OSV records")


def _reader(fd: int, where: Path) -> io.BufferedReader:
    """A buffered reader of the file open on `fd`, with a file position of its own."""
    return io.BufferedReader(_PositionalFile(fd, where), 1 << 20)


def _line_records(
    location: Path, fd: int, start: int, end: int, final: bool
) -> Iterator[tuple[Any, Locator, None]]:
    """The records of lines [start, end) of a merge-format file (our own format, written by
    `database.dump_database`): one record per line, each followed by a comma but the file's
    last. Anything else is not merge format. Lines come from a buffered reader (split in C,
    no block copies) and reach orjson as memoryviews."""
    loads = orjson.loads
    position, comma = start, True
    handle = _reader(fd, location)
    handle.seek(start)
    readline = handle.readline
    while position < end:
        line = readline(MAX_RECORD_BYTES)  # a bounded line: no 3 GB line in memory
        size = len(line)
        if not line.endswith(b"\n"):
            raise NotMergeFormat
        if not comma:
            raise NotMergeFormat  # only the file's last record has no comma
        comma = line.endswith(b",\n")
        length = size - 1 - comma
        try:
            record = loads(memoryview(line)[:length])
        except orjson.JSONDecodeError:
            # orjson is stricter than the json module (no NaN, no lone surrogates, no
            # integers past 64 bits): the plain reading judges such a file.
            raise NotMergeFormat from None
        if not isinstance(record, dict):
            raise NotMergeFormat
        yield record, ["f", position, position + length], None
        position += size
    if position != end or comma == final:
        raise NotMergeFormat


MAX_NESTING = 512  # OSV records nest about 6 deep; ijson's prefixes cost O(depth^2) memory


def _refuse_what_ijson_cannot_read(where: Path, fd: int) -> None:
    """Refuse, before ijson reads it, a document that would hurt it: brackets nested deeper than
    MAX_NESTING (ijson keeps a prefix string per level, so 50,000 levels cost gigabytes;
    measured: 12 GB), and a run of more digits than Python converts to an integer (ijson's C
    backend does not check that conversion: one 4,301-digit number is a segmentation fault).
    Brackets and digits are counted without telling strings apart, so a string holding hundreds
    of unbalanced brackets or thousands of digits in a row is refused too: an input error,
    never a silent pass."""
    import numpy

    most_digits = sys.get_int_max_str_digits()  # 0: this Python converts any integer
    depth, run, offset, chunk = 0, 0, 0, 8 * 1024 * 1024
    weights = numpy.zeros(256, dtype=numpy.int8)
    weights[[ord("["), ord("{")]] = 1
    weights[[ord("]"), ord("}")]] = -1
    while True:
        data = os.pread(fd, chunk, offset)
        if not data:
            return
        raw = numpy.frombuffer(data, dtype=numpy.uint8)
        levels = numpy.cumsum(weights[raw].astype(numpy.int64)) + depth
        if int(levels.max()) > MAX_NESTING:
            raise InputError(where, f"JSON nested too deeply (more than {MAX_NESTING} levels)")
        depth = int(levels[-1])
        if most_digits:
            # Digit runs: the gaps between non-digits; the run at the end goes on next chunk.
            breaks = numpy.flatnonzero((raw < ord("0")) | (raw > ord("9")))
            if not len(breaks):
                run += len(raw)
                longest = run
            else:
                gaps = numpy.diff(breaks)
                longest = max(run + int(breaks[0]), int(gaps.max()) - 1 if len(gaps) else 0)
                run = len(raw) - 1 - int(breaks[-1])
                longest = max(longest, run)
            if longest > most_digits:
                raise InputError(where, f"holds a number with more than {most_digits:,} digits")
        offset += len(data)


def _json_records(where: Path, fd: int) -> Iterator[tuple[Any, Locator, None]]:
    """The records of any JSON database file, streamed by ijson: an array, an object holding
    them under `vulns` or `advisories` (after or before other keys), or one record. Each
    comes with its locator ["j", ijson prefix, ordinal]: ijson tells no byte offsets, so a
    record is found again by streaming the file to it (see `read_records`). Numbers are
    ijson's exact ones (`use_float` would refuse integers past 64 bits, which the json module
    reads): integers, and Decimal for the others, which `plain_numbers` makes floats."""
    import ijson  # here: 20 ms of start-up that a merge-format file, a tree or a zip never need

    _refuse_what_ijson_cannot_read(where, fd)
    source = _PositionalFile(fd, where, budget=MAX_RECORD_BYTES + 2 * _JSON_CHUNK)
    started = False
    try:
        events = ijson.parse(source, buf_size=_JSON_CHUNK)
        first = next(events)
        started = True
        if first[1] == "start_array":
            # Straight from the file: ijson's C object builder, without events in Python.
            source.seek(0)
            source.mark()
            records = ijson.items(source, "item", buf_size=_JSON_CHUNK)
            yield from _numbered(records, "item", source)
        elif first[1] == "start_map":
            yield from _object_records(where, events, source)
        else:
            records_of(first[2], where)  # raises: a scalar is no database
    except ijson.JSONError as exc:
        raise _syntax_error(where, fd, exc, started) from None
    except UnicodeDecodeError:
        # yajl turns a lone surrogate escape ("\\udfff": valid JSON, not Unicode text) into
        # bytes that no UTF-8 decoder takes.
        raise InputError(
            where, "holds a \\u escape that is not Unicode text (a lone surrogate)"
        ) from None


def plain_numbers(value: Any) -> Any:
    """`value` (a record from `_json_records`) with every Decimal a float, as the json module
    reads them. RecursionError for a value nested deeper than Python's stack."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list | Decimal):
                value[key] = plain_numbers(item)
    elif isinstance(value, list):
        for at, item in enumerate(value):
            if isinstance(item, dict | list | Decimal):
                value[at] = plain_numbers(item)
    elif isinstance(value, Decimal):
        return float(value)
    return value


def _numbered(
    records: Iterator[Any], prefix: str, source: _PositionalFile
) -> Iterator[tuple[Any, Locator, None]]:
    for ordinal, record in enumerate(records):
        source.mark()
        yield record, ["j", prefix, ordinal], None


def _object_records(
    where: Path, events: Iterator[tuple[str, str, Any]], source: _PositionalFile
) -> Iterator[tuple[Any, Locator, None]]:
    """The records of a JSON object, from ijson's events after its `start_map`: the events of
    each top-level value go to ijson's object builder (a container's as records, one by one;
    any other's whole, kept in case the object is one record)."""
    import ijson

    others: dict[str, Any] = {}
    streamed: str | None = None
    for _, event, key in events:
        if event == "end_map":
            break
        start = next(events)  # the value of `key`: a scalar, or the start of a container
        kind = start[1]
        container = kind in ("start_map", "start_array")
        inner: Iterator[tuple[str, str, Any]] = iter(())
        if container:
            # Its events end at the end event of its own prefix (deeper ones are longer);
            # `takewhile` takes that one from `events` without passing it on: given again.
            end = (key, "end_map" if kind == "start_map" else "end_array", None)
            inner = itertools.chain([start], itertools.takewhile(end.__ne__, events), [end])
        if key in _CONTAINER_KEYS and streamed is not None:
            raise InputError(where, f'holds both "{streamed}" and "{key}"')
        if key in _CONTAINER_KEYS and kind == "start_array":
            streamed = key
            records = ijson.items(inner, f"{key}.item")
            yield from _numbered(records, f"{key}.item", source)
        else:
            others[key] = next(ijson.items(inner, key)) if container else start[2]
            source.mark()
    for _ in events:  # the rest of the file: nothing, or ijson raises about what is there
        pass
    if streamed is None:
        for ordinal, record in enumerate(records_of(others, where)):  # one record, or raises
            yield record, ["j", "", ordinal], None


# yajl's words for the errors a reader can act on.
_YAJL_ERRORS = {
    "trailing garbage": "invalid JSON: extra data after the document",
    "premature EOF": "invalid JSON: the file ends inside the document",
    "invalid bytes in UTF8 string": "not UTF-8 text (invalid bytes in a string)",
}


def _syntax_error(where: Path, fd: int, exc: Exception, started: bool) -> InputError:
    """InputError for what ijson refused, with the line it stopped at."""
    message = exc.args[0] if exc.args else str(exc)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    first = str(message).splitlines()[0] if str(message).strip() else "unreadable JSON"
    if not started and "premature EOF" in first:
        return InputError(where, "empty file, expected OSV records")
    problem = next((text for key, text in _YAJL_ERRORS.items() if key in first), None)
    if problem is None:
        problem = "invalid JSON: " + first.split(": ", 1)[-1].rstrip(".")
    return InputError(where, problem, _error_line(where, fd))


def _error_line(where: Path, fd: int) -> int | None:
    """The line at which ijson stops on the file: the file fed to it again line by line (an
    invalid file only, so its second reading costs nothing to a valid one)."""
    import ijson

    events = ijson.sendable_list()
    parser = ijson.basic_parse_coro(events)
    handle = _reader(fd, where)
    line = 1
    try:
        while chunk := handle.readline(1 << 20):  # bounded: a one-line file goes in pieces
            parser.send(chunk)
            del events[:]
            line += chunk.endswith(b"\n")
        parser.close()
    except ijson.JSONError:
        return line
    return None


def read_records(location: Path, layout: str, fd: int | None, locators: list[Locator]) -> list[Any]:
    """The records at `locators`, read again (to report findings), in the same order. The
    records of a JSON document that is not in merge format are found by streaming it once
    for all of them, up to the last one asked for."""
    found: list[Any] = [None] * len(locators)
    streamed: dict[tuple[str, int], list[int]] = {}
    for at, locator in enumerate(locators):
        kind = locator[0]
        if kind == "f" and fd is not None:
            _, start, end = locator
            found[at] = _decode(pread_exact(fd, end - start, start, location), location, None)
        elif kind == "z" and fd is not None:
            _, name, position = locator
            found[at] = _decode(read_member(fd, location, name, position), location, name)
        elif kind == "j" and fd is not None:
            streamed.setdefault((locator[1], locator[2]), []).append(at)
        elif kind == "d":
            _, name, position = locator
            path = location / name
            records = records_of(_decode(read_bounded(path), path, None), path)
            found[at] = records[position] if position < len(records) else None
        else:
            raise InputError(location, f"index entry {locator!r} does not fit a {layout} database")
    if streamed and fd is not None:
        for record, (_, prefix, ordinal), _ in _json_records(location, fd):
            for at in streamed.pop((prefix, ordinal), ()):
                try:
                    found[at] = plain_numbers(record)
                except RecursionError:
                    raise InputError(
                        location, f"record #{ordinal + 1}: nested too deeply"
                    ) from None
            if not streamed:
                break
    return found


@contextlib.contextmanager
def opened(location: Path, layout: str) -> Iterator[int | None]:
    """The database's descriptor (None for a tree), closed afterwards."""
    fd = None if layout == "tree" else open_regular(location)
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def layout_of(location: Path) -> str:
    """ "tree", "zip" or "file"; InputError when nothing usable is there."""
    try:
        mode = os.stat(location).st_mode
    except FileNotFoundError:
        raise InputError(location, "no such file") from None
    except OSError as exc:
        raise InputError(location, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        return "tree"
    fd = open_regular(location)
    try:
        with os.fdopen(os.dup(fd), "rb") as handle:
            return "zip" if zipfile.is_zipfile(handle) else "file"
    finally:
        os.close(fd)
