"""A local OSV database read as a stream of records, whatever its layout, through bounded readers.

The three layouts are one JSON file (merge format, or any array / `{"vulns": [...]}` document,
pretty-printed or not), a directory tree of record files (a checkout of the OpenSSF repository),
and an OSV `all.zip`. Each is cut into *units* (a byte range of a merge-format file, a slice of
the tree's files or of the archive's members) that `scan_unit` reads on its own, so that a
process pool can index a large database on every core, holding one record at a time. Every
record comes with a *locator* (a JSON list: byte span, file and position, or archive member)
from which `read_record` reads it again later, alone. Nothing is read whole: files must be
regular (a FIFO or a device is refused before it is read), every read is capped in bytes
actually read (not in the size `stat` reports), and archive members are capped in inflated size
and ratio, with their CRC checked.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import itertools
import json
import os
import re
import stat
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from scorer.errors import InputError

# One OSV record, one file of a tree, one archive member: far above any real record (the
# largest OpenSSF npm records are tens of kilobytes), far below what would hurt a CI runner.
MAX_RECORD_BYTES = 64 * 1024 * 1024
# Deflate can reach about 1000:1; JSON records reach 10-20:1. A member that inflates more than
# this (once past a megabyte) is a bomb, not a record.
MAX_ZIP_RATIO = 200
_RATIO_FLOOR = 1024 * 1024
_CHUNK = 8 * 1024 * 1024

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


_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5HLL")
_LOCAL = struct.Struct("<4s5H3L2H")
_ZIP64_EXTRA = 0x0001


def zip_members(fd: int, where: Path) -> list[tuple[Any, ...]]:
    """The `.json` members of the archive open on `fd`, sorted by name, as plain tuples:
    (name, header offset, compressed size, size, method, CRC, flags). The central directory
    is read here rather than by `zipfile`, whose objects cost seconds on a quarter of a
    million members; ZIP64 (past 65,535 members, as the OSV archive is) is understood."""
    size = os.fstat(fd).st_size
    tail_length = min(size, _EOCD.size + 0xFFFF + _EOCD64_LOCATOR.size)
    tail = os.pread(fd, tail_length, size - tail_length)
    at = tail.rfind(b"PK\x05\x06")
    while at >= 0 and at + _EOCD.size + _EOCD.unpack_from(tail, at)[7] != len(tail):
        at = tail.rfind(b"PK\x05\x06", 0, at)  # the signature inside a comment
    if at < 0 or at + _EOCD.size > len(tail):
        raise InputError(where, "not a readable zip archive: no end of central directory")
    _, disk, cd_disk, _, entries, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    if disk or cd_disk:
        raise InputError(where, "not a readable zip archive: a multi-disk archive")
    record_at = size - tail_length + at
    locator = at - _EOCD64_LOCATOR.size
    if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        _, _, eocd64_at, _ = _EOCD64_LOCATOR.unpack_from(tail, locator)
        record = pread_exact(fd, _EOCD64.size, eocd64_at, where)
        if record[:4] != b"PK\x06\x06":
            raise InputError(where, "not a readable zip archive: bad ZIP64 end record")
        _, _, _, _, _, _, _, entries, cd_size, cd_offset = _EOCD64.unpack(record)
        record_at = eocd64_at
    # Data before the archive (a self-extracting stub) shifts every offset, as zipfile allows.
    shift = record_at - cd_size - cd_offset
    if shift < 0 or cd_size > size:
        raise InputError(where, "not a readable zip archive: bad central directory")
    directory = pread_exact(fd, cd_size, cd_offset + shift, where)
    members = []
    position = 0
    unpack = _CENTRAL.unpack_from
    for _ in range(entries):
        if (
            position + _CENTRAL.size > cd_size
            or directory[position : position + 4] != b"PK\x01\x02"
        ):
            raise InputError(where, "not a readable zip archive: bad central directory entry")
        fields = unpack(directory, position)
        flags, method, crc, compressed, inflated = (
            fields[3],
            fields[4],
            fields[7],
            fields[8],
            fields[9],
        )
        name_length, extra_length, comment_length, offset = (
            fields[10],
            fields[11],
            fields[12],
            fields[16],
        )
        start = position + _CENTRAL.size
        raw_name = directory[start : start + name_length]
        if 0xFFFFFFFF in (compressed, inflated, offset):
            extra = directory[start + name_length : start + name_length + extra_length]
            inflated, compressed, offset = _zip64(extra, inflated, compressed, offset, where)
        position = start + name_length + extra_length + comment_length
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        if name.endswith(".json"):
            members.append((name, offset + shift, compressed, inflated, method, crc, flags))
    if not members:
        raise InputError(where, "zip archive holds no .json OSV records")
    members.sort()
    return members


def _zip64(
    extra: bytes, inflated: int, compressed: int, offset: int, where: Path
) -> tuple[int, int, int]:
    """The 64-bit sizes and offset of a ZIP64 extra field, for the fields marked 0xFFFFFFFF."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        if kind == _ZIP64_EXTRA:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, at + 4))
            if inflated == 0xFFFFFFFF and values:
                inflated = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        at += 4 + length
    if 0xFFFFFFFF in (compressed, inflated, offset):
        raise InputError(where, "not a readable zip archive: bad ZIP64 extra field")
    return inflated, compressed, offset


class Window:
    """Reads of an archive's members in file order, served from one large read at a time:
    a quarter of a million members would otherwise cost half a million system calls."""

    def __init__(self, fd: int, where: Path) -> None:
        self.fd, self.where = fd, where
        self.start, self.data = 0, memoryview(b"")

    def read(self, offset: int, length: int) -> memoryview | bytes:
        if self.start <= offset and offset + length <= self.start + len(self.data):
            return self.data[offset - self.start : offset - self.start + length]
        if length > _CHUNK // 2:
            return pread_exact(self.fd, length, offset, self.where)
        try:
            self.data, self.start = memoryview(os.pread(self.fd, _CHUNK, offset)), offset
        except OSError as exc:
            raise InputError(self.where, f"cannot read: {exc.strerror or exc}") from None
        if len(self.data) < length:
            raise InputError(self.where, "file ends early (changed while being read?)")
        return self.data[:length]


def read_member(
    fd: int, member: tuple[Any, ...] | list[Any], where: Path, window: Window | None = None
) -> bytes:
    """The inflated bytes of one archive member, checked: supported method, not encrypted,
    within the size and ratio caps, as long as declared, with its CRC."""
    name, offset, compressed, size, method, crc, flags = member
    label = f"{name}: "
    if flags & 0x1:
        raise InputError(where, f"{label}encrypted member; an OSV archive is not encrypted")
    if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise InputError(where, f"{label}compression method {method} is not supported")
    if (
        size > MAX_RECORD_BYTES
        or compressed > MAX_RECORD_BYTES + 65536
        or (size > _RATIO_FLOOR and size > compressed * MAX_ZIP_RATIO)
    ):
        raise InputError(where, f"{label}inflates to {size} bytes; refused as a zip bomb")
    read = window.read if window is not None else lambda at, n: pread_exact(fd, n, at, where)
    header = read(offset, _LOCAL.size)
    signature, *_, name_length, extra_length = _LOCAL.unpack(header)
    if signature != b"PK\x03\x04":
        raise InputError(where, f"{label}bad local header; not a readable zip archive")
    raw = read(offset + _LOCAL.size + name_length + extra_length, compressed)
    if method == zipfile.ZIP_STORED:
        data = bytes(raw)
    else:
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(raw, size + 1)
        except zlib.error as exc:
            raise InputError(where, f"{label}cannot inflate: {exc}") from None
    if len(data) != size or zlib.crc32(data) != crc:
        raise InputError(where, f"{label}damaged member (size or CRC does not match)")
    return data


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
        window = Window(fd, location)
        for member in unit.items:
            record = _decode(read_member(fd, member, location, window), location, member[0])
            yield record, ["z", *member], member[0]
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
        raise InputError(where, f"{prefix}unreadable JSON: {exc}") from None


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


@contextlib.contextmanager
def _reopened(location: Path, fd: int) -> Iterator[BinaryIO]:
    """A buffered reader of the file open on `fd`, with a file position of its own (a copy
    of `fd` would share it with every process of a pool), checked to be the same file."""
    with open(location, "rb", buffering=1 << 20) as handle:
        mine, theirs = os.fstat(handle.fileno()), os.fstat(fd)
        if (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino):
            raise InputError(location, "replaced while being read; run again")
        yield handle


def _line_records(
    location: Path, fd: int, start: int, end: int, final: bool
) -> Iterator[tuple[Any, Locator, None]]:
    """The records of lines [start, end) of a merge-format file: one record per line, each
    followed by a comma but the file's last. Anything else is not merge format. Lines come
    from a buffered reader (split in C, no block copies) and reach orjson as memoryviews."""
    loads = orjson.loads
    position, comma = start, True
    with _reopened(location, fd) as handle:
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


_WS = re.compile(r"[ \t\n\r]*")


class _TextWindow:
    """A window of decoded text over a binary file, with the byte offset and line of its
    cursor, refilled on demand and trimmed behind the cursor, so that memory stays bounded by
    the largest record."""

    def __init__(self, fd: int, where: Path) -> None:
        self.fd, self.where = fd, where
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.text, self.cursor, self.read, self.eof = "", 0, 0, False
        self.byte, self.line = 0, 1  # of the cursor
        self.ascii = True

    def fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = os.pread(self.fd, _CHUNK, self.read)
        except OSError as exc:
            raise InputError(self.where, f"cannot read: {exc.strerror or exc}") from None
        self.read += len(data)
        try:
            more = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise InputError(self.where, f"not UTF-8 text ({exc.reason})") from None
        self.eof = not data
        if self.cursor > _CHUNK:
            self.text, self.cursor = self.text[self.cursor :], 0
        self.text += more
        self.ascii = self.ascii and more.isascii()
        if len(self.text) - self.cursor > MAX_RECORD_BYTES + _CHUNK:
            raise InputError(self.where, "a record larger than 64 MiB, or broken JSON", self.line)
        return True

    def advance(self, to: int) -> None:
        passed = self.text[self.cursor : to]
        self.byte += len(passed) if self.ascii else len(passed.encode("utf-8", "surrogatepass"))
        self.line += passed.count("\n")
        self.cursor = to

    def skip_space(self) -> str:
        """The next non-space character ("" at the end), the cursor left on it."""
        while True:
            match = _WS.match(self.text, self.cursor)
            assert match is not None
            self.advance(match.end())
            if self.cursor < len(self.text):
                return self.text[self.cursor]
            if not self.fill():
                return ""

    def expect(self, chars: str) -> str:
        found = self.skip_space()
        if not found or found not in chars:
            shown = repr(found) if found else "end of file"
            raise InputError(
                self.where, f"invalid JSON: expected {chars!r}, found {shown}", self.line
            )
        self.advance(self.cursor + 1)
        return found

    def value(self, decoder: json.JSONDecoder) -> Any:
        self.skip_space()
        while True:
            try:
                value, end = decoder.raw_decode(self.text, self.cursor)
            except json.JSONDecodeError as exc:
                # Possibly only cut by the window's end: read on, and judge at the end of file.
                if self.fill():
                    continue
                line = self.line + self.text.count("\n", self.cursor, exc.pos)
                raise InputError(self.where, f"invalid JSON: {exc.msg}", line) from None
            except (ValueError, RecursionError) as exc:
                raise InputError(self.where, f"unreadable JSON: {exc}", self.line) from None
            if end == len(self.text) and not self.eof and isinstance(value, int | float):
                self.fill()  # a number at the window's end may go on in the next chunk
                continue
            self.advance(end)
            return value


def _json_records(where: Path, fd: int) -> Iterator[tuple[Any, Locator, None]]:
    """The records of any JSON database file, as a stream: an array, an object holding them
    under `vulns` or `advisories`, or one record."""
    window = _TextWindow(fd, where)
    decoder = json.JSONDecoder()
    first = window.skip_space()
    if not first:
        raise InputError(where, "empty file, expected OSV records")
    if first == "[":
        window.advance(window.cursor + 1)
        yield from _array(window, decoder)
    elif first == "{":
        yield from _object(window, decoder)
    else:
        value = window.value(decoder)
        records_of(value, where)  # raises: a scalar is no database
    if window.skip_space():
        raise InputError(where, "invalid JSON: extra data after the document", window.line)


def _array(window: _TextWindow, decoder: json.JSONDecoder) -> Iterator[tuple[Any, Locator, None]]:
    if window.skip_space() == "]":
        window.advance(window.cursor + 1)
        return
    while True:
        window.skip_space()
        start = window.byte
        record = window.value(decoder)
        yield record, ["f", start, window.byte], None
        if window.expect(",]") == "]":
            return


def _object(window: _TextWindow, decoder: json.JSONDecoder) -> Iterator[tuple[Any, Locator, None]]:
    window.expect("{")
    others: dict[str, Any] = {}
    streamed: str | None = None
    start = window.byte - 1
    if window.skip_space() == "}":
        window.advance(window.cursor + 1)
    else:
        while True:
            if window.skip_space() != '"':
                window.expect('"')
            key = window.value(decoder)
            window.expect(":")
            if key in _CONTAINER_KEYS and streamed is None and window.skip_space() == "[":
                streamed = key
                window.advance(window.cursor + 1)
                yield from _array(window, decoder)
            elif key in _CONTAINER_KEYS and streamed is not None:
                raise InputError(window.where, f'holds both "{streamed}" and "{key}"', window.line)
            else:
                others[key] = window.value(decoder)
            if window.expect(",}") == "}":
                break
    if streamed is not None:
        return
    for record in records_of(others, window.where):  # a wrong shape, or one record
        yield record, ["f", start, window.byte], None


def read_record(location: Path, layout: str, fd: int | None, locator: Locator) -> Any:
    """The record at `locator`, read again on its own (to report a finding)."""
    kind = locator[0]
    if kind == "f" and fd is not None:
        _, start, end = locator
        data = pread_exact(fd, end - start, start, location)
        return _decode(data, location, None)
    if kind == "z" and fd is not None:
        data = read_member(fd, locator[1:], location)
        return _decode(data, location, locator[1])
    if kind == "d":
        _, name, position = locator
        path = location / name
        records = records_of(_decode(read_bounded(path), path, None), path)
        if position < len(records):
            return records[position]
        return None
    raise InputError(location, f"index entry {locator!r} does not fit a {layout} database")


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
