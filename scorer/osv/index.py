"""The matcher's view of a local database: an on-disk index by package name, built by streaming.

The malicious-package corpus is hundreds of thousands of records (about 500 MB of JSON), so no
run may hold it. `open_database` streams the records of any layout (one JSON file, a directory
tree, an OSV `all.zip`: see `layouts`), on every core for a large database, and keeps of each
record only what matching needs, per npm package name it affects: its id, `withdrawn`,
`modified`, whether it reports malware, the raw `versions` and `ranges` of its entries for that
name, and where the record is (its *locator*). These rows go into an index file: per unit of
work, a hash table of package names (fixed-size bucket offsets and CRCs, then each bucket's rows
as `marshal` frames), read through `mmap`, so that a lookup costs one bucket per unit whatever the
size of the database. A full
record is read again, alone, only to report a finding. The index is kept in the user's cache
directory, keyed by the database's path and stamped with its identity (for a file or archive:
device, inode, size, mtime and ctime in nanoseconds, taken from the descriptor the records are
read from; for a tree: a digest of every record file's path and stat, which costs one walk).
Anything wrong with a cache file (absent, another format, stale) means a rebuild; damage found in
a bucket (CRC) is an error, never a silent miss: the cache can make a run faster, never make it
pass. Deep defects of a record (a malformed range, say) surface when its package is looked up,
so a defective record of a package the lockfile does not hold does not stop the audit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import mmap
import os
import secrets
import shutil
import struct
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scorer.errors import InputError
from scorer.osv.advisories import (
    Advisory,
    AdvisoryIndex,
    AffectedPackage,
    RecordError,
    is_malicious,
    parse_affected,
    parse_timestamp,
    withdraws,
)
from scorer.osv.database import paused_gc
from scorer.osv.layouts import (
    Locator,
    NotMergeFormat,
    Unit,
    Walk,
    layout_of,
    line_at,
    open_regular,
    plain_numbers,
    plan_units,
    read_records,
    unit_records,
    walk_tree,
)

INDEX_FORMAT = 6
_MAGIC = b"PSOSVIX6"
# The header is JSON padded to a fixed size, so that `db update` can stamp the identity of the
# database it renamed into place without rewriting the index.
_HEADER_SPACE = 64 * 1024
# Past this size a database is indexed by a pool of processes, one unit per core.
_PARALLEL_BYTES = 64 * 1024 * 1024
_PARALLEL_FILES = 20_000


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/provscore/osv-index`, or `~/.cache/provscore/osv-index`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "provscore" / "osv-index"


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """What an index knows of its database: layout, counts and the newest `modified`."""

    location: str
    layout: str
    records: int
    malicious: int
    withdrawn: int
    newest_modified: str | None


_FRAME = struct.Struct("<II")


def identity_of(location: Path, layout: str, fd: int | None) -> tuple[list[Any], Walk | None]:
    """What must not change for an index to stay valid (see the module docstring), and for a
    tree the walk it was computed from."""
    if fd is not None:
        st = os.fstat(fd)
        return [layout, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns], None
    walk = walk_tree(location)
    root = os.stat(location)
    return [layout, walk.walker, root.st_dev, root.st_ino, walk.count, walk.digest], walk


def cache_file(location: Path, cache_dir: Path) -> Path:
    """Where the index of the database at `location` is kept."""
    digest = hashlib.sha256(str(location).encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir / f"{digest[:40]}.idx"


# --- building ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _UnitResult:
    ids: list[str]  # of the records, in read order
    modified: list[Any]  # their raw `modified`
    flags: bytearray  # per record: 1 malicious, 2 withdrawn
    malicious: int = 0
    withdrawn: int = 0
    newest: str | None = None
    part: str | None = None  # the unit's own hash table, in a scratch file
    bits: int = 0  # log2 of its bucket count
    error: tuple[str, str, int | None] | None = None  # (path, problem, line)
    not_merge_format: bool = False


class _RecordProblem(Exception):
    pass


def _entries_by_name(record: Any) -> tuple[str, dict[str, list[list[Any]]]]:
    """The id and the npm entries of a record, per package name, checked as far as needed to
    find the names (the same checks `Advisory.from_osv` makes on the way: a record whose names
    cannot be read could never be looked up, and would be skipped silently)."""
    if not isinstance(record, dict):
        raise _RecordProblem("record is not a JSON object")
    ident = record.get("id")
    if not isinstance(ident, str) or not ident:
        raise _RecordProblem("record has no id")
    affected = record.get("affected") or []
    if not isinstance(affected, list):
        raise _RecordProblem(f"{ident}: affected is not a list")
    found: dict[str, list[list[Any]]] = {}
    for entry in affected:
        package = entry.get("package") if isinstance(entry, dict) else None
        if not isinstance(package, dict):
            raise _RecordProblem(f"record {ident}: bad affected entry")
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if isinstance(ecosystem, str) and ecosystem.lower() == "npm":
            if not isinstance(name, str) or not name:
                raise _RecordProblem(f"record {ident}: no package name")
            found.setdefault(name, []).append([entry.get("versions"), entry.get("ranges")])
    return ident, found


def _scan_unit(job: tuple[Path, str, int | None, Unit, Path]) -> _UnitResult:
    """Index one unit into a hash table of its own, written to a scratch file (so that rows
    never travel between processes). Runs in a worker process: errors come back as data."""
    location, _layout, fd, unit, scratch = job
    result = _UnitResult([], [], bytearray())
    ids, modifieds, flags = result.ids, result.modified, result.flags
    rows: list[tuple[int, bytes, int, bytes]] = []  # (name hash, name, record number, row)
    dumps, crc32 = marshal.dumps, zlib.crc32
    newest, newest_raw = None, None
    try:
        for number, (record, locator, _) in enumerate(unit_records(location, fd, unit)):
            try:
                ident, by_name = _entries_by_name(record)
            except _RecordProblem as exc:
                result.error = _where(location, fd, locator, str(exc))
                return result
            malicious = is_malicious(record)
            withdrawn, modified = record.get("withdrawn"), record.get("modified")
            ids.append(ident)
            modifieds.append(modified)
            gone = withdraws(withdrawn)
            flags.append(malicious | gone << 1)
            result.malicious += malicious
            result.withdrawn += gone
            stamp = parse_timestamp(modified)
            if stamp is not None and (newest is None or stamp > newest):
                newest, newest_raw = stamp, modified
            for name, entries in by_name.items():
                key = name.encode("utf-8", "surrogatepass")
                try:
                    row = dumps((ident, locator, malicious, withdrawn, modified, number, entries))
                except ValueError:
                    # A Decimal of ijson (marshal takes floats), or nesting past marshal's limit.
                    try:
                        plain = plain_numbers([withdrawn, modified, entries])
                        row = dumps((ident, locator, malicious, *plain[:2], number, plain[2]))
                    except (ValueError, RecursionError):
                        problem = f"{ident}: nested too deeply to be an OSV record"
                        result.error = _where(location, fd, locator, problem)
                        return result
                rows.append((crc32(key), key, number, row))
    except NotMergeFormat:
        result.not_merge_format = True
        return result
    except InputError as exc:
        result.error = (str(exc.path), exc.problem, exc.line)
        return result
    result.newest = newest_raw
    # A power of two of buckets, chosen by the high bits of the hash: sorting the rows by
    # hash (a C sort on plain ints) then orders them by bucket.
    result.bits = max(4, (len(rows) - 1).bit_length())
    rows.sort()
    descriptor, path = tempfile.mkstemp(prefix=".provscore-part-", dir=scratch)
    with os.fdopen(descriptor, "wb") as out:
        _write_part(out, rows, result.bits)
    result.part = path
    return result


def _where(
    location: Path, fd: int | None, locator: Locator, problem: str
) -> tuple[str, str, int | None]:
    """Path, problem and line of an error about the record at `locator`."""
    if locator[0] == "f" and fd is not None:
        return str(location), f"record: {problem}", line_at(fd, locator[1])
    if locator[0] == "z":
        return str(location), f"{locator[1]}: {problem}", None
    if locator[0] == "j":  # a JSON document: ijson tells no line, its position will do
        return str(location), f"record #{locator[2] + 1}: {problem}", None
    return str(location / locator[1]), f"record #{locator[2] + 1}: {problem}", None


def _workers(requested: int | None) -> int:
    if requested is not None:
        return max(1, requested)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores, 8)


def _results(
    location: Path, layout: str, fd: int | None, units: list[Unit], workers: int, scratch: Path
) -> Iterator[_UnitResult]:
    """The unit results, in database order, from a pool of processes for a large database."""
    if layout == "file":
        big = fd is not None and os.fstat(fd).st_size >= _PARALLEL_BYTES
    else:
        big = sum(len(u.items) for u in units) >= _PARALLEL_FILES
    # Fork only from a single-threaded process: a lock held by another thread at fork time
    # would be held forever in the child.
    pooled = workers > 1 and big and len(units) > 1 and threading.active_count() == 1
    if not pooled and len(units) > 1:
        names = [name for unit in units for name in unit.items] if layout == "tree" else None
        units = plan_units(location, fd, layout, 1, names)
    jobs = [(location, layout, fd, unit, scratch) for unit in units]
    if pooled:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        # concurrent.futures rather than multiprocessing.Pool: a worker killed (by the kernel's
        # OOM killer, say) breaks the executor with an error, where a Pool waits forever.
        context = multiprocessing.get_context("fork")
        try:
            with ProcessPoolExecutor(min(workers, len(units)), mp_context=context) as pool:
                yield from pool.map(_scan_unit, jobs)
        except BrokenProcessPool:
            raise InputError(location, "a process indexing it died (out of memory?)") from None
    else:
        for job in jobs:
            yield _scan_unit(job)


@dataclass(slots=True)
class _Collected:
    units: list[_UnitResult]
    duplicates: bool = False
    malicious: int = 0
    withdrawn: int = 0
    newest: str | None = None


def _collect(results: Iterator[_UnitResult], done: _Collected) -> None:
    """Every unit's result into `done`; whether an id was seen twice (checked at C speed,
    through a set: the common case must not pay a Python loop over every record)."""
    seen: set[str] = set()
    for result in results:
        done.units.append(result)  # first, so that its scratch file is removed in any case
        if result.not_merge_format:
            raise NotMergeFormat
        if result.error is not None:
            path, problem, line = result.error
            raise InputError(path, problem, line)
        before = len(seen)
        seen.update(result.ids)
        done.duplicates = done.duplicates or len(seen) - before != len(result.ids)
        done.malicious += result.malicious
        done.withdrawn += result.withdrawn
        if result.newest is not None and (
            done.newest is None or _newer(result.newest, done.newest)
        ):
            done.newest = result.newest


def _dropped(units: list[_UnitResult]) -> list[list[int]]:
    """Per unit, the record numbers that lose to another copy of their id: the newer
    `modified` wins (as `database.newest_by_id` decides), the first one read on a tie."""
    best: dict[str, tuple[Any, int, int]] = {}
    dropped: list[set[int]] = [set() for _ in units]
    for position, unit in enumerate(units):
        for number, (ident, modified) in enumerate(zip(unit.ids, unit.modified, strict=True)):
            current = best.get(ident)
            if current is None:
                best[ident] = (modified, position, number)
            elif _newer(modified, current[0]):
                dropped[current[1]].add(current[2])
                best[ident] = (modified, position, number)
            else:
                dropped[position].add(number)
    return [sorted(d) for d in dropped]


def build_index(
    location: Path,
    layout: str,
    fd: int | None,
    identity: list[Any] | None,
    out: IO[bytes],
    *,
    workers: int | None = None,
    files: Walk | None = None,
    scratch: Path | None = None,
) -> dict[str, Any]:
    """Write the index of the database at `location` to `out` (a new, empty binary file) and
    return its header. InputError names the first record that cannot be indexed. `files` is
    the walk of a tree, when the caller has it already; `scratch` a directory for the parts
    (default: the system's temporary directory)."""
    parts = _workers(workers)
    scratch = scratch or Path(tempfile.gettempdir())
    done = _Collected([])
    try:
        with paused_gc():
            names = None if files is None else files.names()
            units = plan_units(location, fd, layout, parts, names)
            try:
                _collect(_results(location, layout, fd, units, parts, scratch), done)
            except NotMergeFormat:
                # A file that only looks like merge format: read it as one JSON document.
                _remove_parts(done.units)
                size = os.fstat(fd).st_size if fd is not None else 0
                done = _Collected([])
                only = [Unit("json", 0, size)]
                _collect(_results(location, layout, fd, only, 1, scratch), done)
            return _assemble(out, done, location, layout, identity)
    finally:
        _remove_parts(done.units)


def _copy(source: IO[bytes], target: IO[bytes]) -> None:
    """`source` appended to `target`: in the kernel when it can (no pass of tens of
    megabytes through this process), else through a buffer."""
    target.flush()
    size, done = os.fstat(source.fileno()).st_size, 0
    copy_range = getattr(os, "copy_file_range", None)
    try:
        while copy_range is not None and done < size:
            step = copy_range(source.fileno(), target.fileno(), size - done, done, target.tell())
            if step <= 0:
                break
            done += step
            target.seek(step, os.SEEK_CUR)
    except OSError:
        pass  # not on this filesystem: the buffered copy below does the rest
    source.seek(done)
    shutil.copyfileobj(source, target, 1 << 20)


def _remove_parts(units: list[_UnitResult]) -> None:
    for unit in units:
        if unit.part is not None:
            with contextlib.suppress(OSError):
                os.unlink(unit.part)


def _assemble(
    out: IO[bytes], done: _Collected, location: Path, layout: str, identity: list[Any] | None
) -> dict[str, Any]:
    """The index file: header, each unit's hash table copied in, and the record numbers that
    lost to a newer copy of their id (a lookup skips them)."""
    malicious, withdrawn = done.malicious, done.withdrawn
    records = sum(len(u.ids) for u in done.units)
    dropped: list[list[int]] = []
    if done.duplicates:
        # The same id twice (under malicious/ and withdrawn/, say): the newer copy counts.
        dropped = _dropped(done.units)
        for unit, lost in zip(done.units, dropped, strict=True):
            malicious -= sum(unit.flags[n] & 1 for n in lost)
            withdrawn -= sum(unit.flags[n] >> 1 for n in lost)
            records -= len(lost)
    out.seek(_HEADER_SPACE)
    table: list[list[int]] = []
    for unit in done.units:
        assert unit.part is not None
        start = out.tell()
        with open(unit.part, "rb") as part:
            _copy(part, out)
        table.append([start, unit.bits])
        out.write(b"\0" * (-out.tell() % 8))
    dropped_blob = marshal.dumps(dropped)
    dropped_at = out.tell()
    out.write(dropped_blob)
    header = {
        "format": INDEX_FORMAT,
        "location": str(location),
        "layout": layout,
        "identity": identity,
        "records": records,
        "malicious": malicious,
        "withdrawn": withdrawn,
        "newest_modified": done.newest,
        "parts": table,
        "dropped": [dropped_at, len(dropped_blob), zlib.crc32(dropped_blob)],
    }
    out.seek(0)
    out.write(_header_bytes(header))
    out.flush()
    return header


def _newer(candidate: Any, current: Any) -> bool:
    """The merge rule of `database.newest_by_id` on raw `modified` values: strictly newer
    wins, a tie keeps the first, an undated record is older than any dated one."""
    new, old = parse_timestamp(candidate), parse_timestamp(current)
    if new is None:
        return False
    return old is None or new > old


def _write_part(out: IO[bytes], rows: list[tuple[int, bytes, int, bytes]], bits: int) -> None:
    """One hash table: bucket offsets (u64, from the end of the tables) and CRCs (u32), then
    per bucket its rows as frames: name length and row length (u32 each), the name in UTF-8,
    the row (`marshal`: several times cheaper than JSON to write and read, and safe to read
    here since each bucket's CRC is checked first)."""
    buckets = 1 << bits
    shift = 32 - bits
    data_at = _tables_size(bits)
    offsets = [0] * (buckets + 1)
    crcs = [0] * buckets
    out.seek(data_at)
    position = 0
    pack, crc32 = _FRAME.pack, zlib.crc32
    current, frames = -1, list[bytes]()
    for hashed, key, _, row in rows:
        bucket = hashed >> shift
        if bucket != current:
            if frames:
                blob = b"".join(frames)
                crcs[current] = crc32(blob)
                out.write(blob)
                position += len(blob)
                frames = []
            for empty in range(current + 1, bucket + 1):
                offsets[empty] = position
            current = bucket
        frames += (pack(len(key), len(row)), key, row)
    if frames:
        blob = b"".join(frames)
        crcs[current] = crc32(blob)
        out.write(blob)
        position += len(blob)
    for empty in range(current + 1, buckets + 1):
        offsets[empty] = position
    out.seek(0)
    out.write(struct.pack(f"<{buckets + 1}Q", *offsets))
    out.write(struct.pack(f"<{buckets}I", *crcs))
    out.seek(0, os.SEEK_END)


def _tables_size(bits: int) -> int:
    size = 8 * ((1 << bits) + 1) + 4 * (1 << bits)
    return size + (-size % 8)


def _header_bytes(header: dict[str, Any]) -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode("utf-8", "surrogateescape")
    if len(text) > _HEADER_SPACE - len(_MAGIC):
        raise InputError(header["location"], "path too long to index")
    return _MAGIC + text.ljust(_HEADER_SPACE - len(_MAGIC))


def stamp_index(index: Path, location: Path, identity: list[Any]) -> None:
    """Rewrite the location and identity in the header of an index built before its database
    was renamed into place (by `db update`)."""
    with open(index, "r+b") as handle:
        header = _read_header(handle)
        if header is None:
            raise InputError(index, "not an index file")
        header.update(location=str(location), identity=identity)
        handle.seek(0)
        handle.write(_header_bytes(header))
        handle.flush()
        os.fsync(handle.fileno())


def _read_header(handle: IO[bytes]) -> dict[str, Any] | None:
    head = handle.read(_HEADER_SPACE)
    if len(head) < _HEADER_SPACE or not head.startswith(_MAGIC):
        return None
    try:
        header = json.loads(head[len(_MAGIC) :])
    except (ValueError, RecursionError):  # a damaged cache file: rebuilt
        return None
    if not isinstance(header, dict) or header.get("format") != INDEX_FORMAT:
        return None
    return header


@contextlib.contextmanager
def new_index_file(target: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside `target`, renamed over it (after fsync) when the block ends
    without error, removed otherwise."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    handle = open(temp, "w+b")  # noqa: SIM115 (closed below, on both paths)
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(temp, target)
    except BaseException:
        handle.close()
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


# --- opening and looking up -------------------------------------------------------------------


class _BadIndex(Exception):
    """A cache file that is not a whole index (rebuilt, never trusted)."""


class DiskIndex(AdvisoryIndex):
    """An `AdvisoryIndex` whose rows live in an index file: a lookup reads one bucket, and a
    full record only for a match."""

    def __init__(
        self,
        location: Path,
        layout: str,
        fd: int | None,
        handle: IO[bytes],
        header: dict[str, Any],
        *,
        malicious_only: bool,
    ) -> None:
        super().__init__(malicious_only=malicious_only)
        self.location, self.layout, self._fd, self._handle = location, layout, fd, handle
        self.header = header
        self.record_count = int(header["records"])
        size = os.fstat(handle.fileno()).st_size
        if size < _HEADER_SPACE:
            raise _BadIndex("truncated")
        self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(self._map)
        # Per part: (data start, hash shift, bucket offsets, bucket CRCs)
        self._parts: list[tuple[int, int, memoryview, memoryview]] = []
        for start, bits in header["parts"]:
            buckets = 1 << bits
            offsets = view[start : start + 8 * (buckets + 1)].cast("Q")
            crcs = view[start + 8 * (buckets + 1) : start + 12 * buckets + 8].cast("I")
            data_at = start + _tables_size(bits)
            if len(crcs) != buckets or size < data_at + offsets[buckets]:
                raise _BadIndex("truncated")
            self._parts.append((data_at, 32 - bits, offsets, crcs))
        at, length, crc = header["dropped"]
        blob = self._map[at : at + length]
        if zlib.crc32(blob) != crc:
            raise _BadIndex("damaged")
        self._dropped = {
            (part, number) for part, numbers in enumerate(marshal.loads(blob)) for number in numbers
        }
        self._rows: dict[str, list[tuple[str, AffectedPackage, Locator]]] = {}
        self._full: dict[str, Advisory] = {}

    @property
    def info(self) -> IndexInfo:
        h = self.header
        return IndexInfo(
            h["location"],
            h["layout"],
            h["records"],
            h["malicious"],
            h["withdrawn"],
            h["newest_modified"],
        )

    def _bucket(self, name: str) -> list[Any]:
        """The rows of `name`, one bucket per part, each checked against its CRC first:
        damage is an error, never a silent miss."""
        key = name.encode("utf-8", "surrogatepass")
        hashed = zlib.crc32(key)
        found = []
        data = self._map
        for part, (data_at, shift, offsets, crcs) in enumerate(self._parts):
            bucket = hashed >> shift
            start, end = offsets[bucket], offsets[bucket + 1]
            if start == end:
                continue
            at, stop = data_at + start, data_at + end
            try:
                if zlib.crc32(data[at:stop]) != crcs[bucket]:
                    raise ValueError("checksum mismatch")
                while at < stop:
                    name_length, row_length = _FRAME.unpack_from(data, at)
                    at += _FRAME.size
                    if data[at : at + name_length] == key:
                        row = marshal.loads(data[at + name_length : at + name_length + row_length])
                        if (part, row[5]) not in self._dropped:
                            found.append(row)
                    at += name_length + row_length
                if at != stop:
                    raise ValueError("frames overrun the bucket")
            except (ValueError, EOFError, TypeError, IndexError, struct.error) as exc:
                raise InputError(
                    self._handle.name, f"index is damaged ({exc}); delete it and run again"
                ) from None
        return found

    def _candidates(self, name: str) -> list[tuple[str, AffectedPackage, Locator]]:
        """The records naming `name` that can match: not withdrawn, malicious unless the index
        takes every record, with their entries for `name` parsed as `Advisory.from_osv` does
        (so a defect surfaces here, naming the record)."""
        cached = self._rows.get(name)
        if cached is not None:
            return cached
        found = []
        for ident, locator, malicious, withdrawn, _, _, entries in self._bucket(name):
            if withdraws(withdrawn) or (self._malicious_only and not malicious):
                continue
            for versions, ranges in entries:
                entry: dict[str, Any] = {"package": {"ecosystem": "npm", "name": name}}
                if versions is not None:
                    entry["versions"] = versions
                if ranges is not None:
                    entry["ranges"] = ranges
                try:
                    affected = parse_affected(entry)
                except RecordError as exc:
                    raise self._error(locator, f"{ident}: {exc}") from None
                assert affected is not None
                found.append((ident, affected, locator))
        self._rows[name] = found
        return found

    def _error(self, locator: Locator, problem: str) -> InputError:
        return InputError(*_where(self.location, self._fd, locator, problem))

    def _read_full(self, wanted: dict[str, Locator]) -> None:
        """The full records of `wanted` (id: locator) into `_full`, read in one go (a JSON
        document that is not in merge format is streamed once for all of them)."""
        idents = [ident for ident in wanted if ident not in self._full]
        if not idents:
            return
        locators = [wanted[ident] for ident in idents]
        raws = read_records(self.location, self.layout, self._fd, locators)
        for ident, locator, raw in zip(idents, locators, raws, strict=True):
            if not isinstance(raw, dict) or raw.get("id") != ident:
                raise InputError(
                    self.location, f"changed while it was read (record {ident}); run again"
                )
            try:
                self._full[ident] = Advisory.from_osv(raw)
            except RecordError as exc:
                raise self._error(locator, str(exc)) from None

    def lookup_many(self, queries: Sequence[tuple[str, str]]) -> list[tuple[Advisory, ...]]:
        hits: list[dict[str, Locator]] = []
        for name, version in queries:
            found: dict[str, Locator] = {}
            for ident, affected, locator in self._candidates(name):
                if ident not in found and affected.affects(version):
                    found[ident] = locator
            hits.append(found)
        self._read_full({ident: loc for found in hits for ident, loc in found.items()})
        return [tuple(self._full[ident] for ident in sorted(found)) for found in hits]

    def lookup(self, name: str, version: str) -> tuple[Advisory, ...]:
        return self.lookup_many([(name, version)])[0]

    def close(self) -> None:
        """Release the index file and the database's descriptor; the index is unusable after.
        A run that opens one database needs no call; a process that opens many does."""
        for _, _, offsets, crcs in self._parts:
            offsets.release()
            crcs.release()
        self._parts = []
        self._map.close()
        self._handle.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def open_database(
    path: str | os.PathLike[str],
    *,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    malicious_only: bool = True,
    workers: int | None = None,
) -> DiskIndex:
    """An `AdvisoryIndex` over the database at `path` (file, directory tree or zip), for `match`.

    Raises InputError for a missing or unreadable database (or one that is not a regular file
    or directory), invalid JSON, a wrong document shape, a record without an id or an
    unreadable affected package. Deeper defects of a record raise InputError when its package
    is looked up. `workers` caps the processes that index a large database (default: one per
    core); with `use_cache` False, or a cache directory that cannot be written, the index is
    built in a temporary file for this run only.
    """
    location = Path(path).absolute()
    layout = layout_of(location)
    fd = None if layout == "tree" else open_regular(location)
    try:
        return _open_index(location, layout, fd, cache_dir, use_cache, malicious_only, workers)
    except BaseException:
        # The index owns the descriptor once it exists; until then it is ours to close, or
        # every refused database would leak one (a long-lived caller runs out of them).
        if fd is not None:
            os.close(fd)
        raise


def _open_index(
    location: Path,
    layout: str,
    fd: int | None,
    cache_dir: Path | None,
    use_cache: bool,
    malicious_only: bool,
    workers: int | None,
) -> DiskIndex:
    # Identity and content come from the same open file, so a replacement of the database
    # meanwhile cannot pair one file's index with another's bytes.
    identity, files = identity_of(location, layout, fd)
    target = cache_file(location, cache_dir or default_cache_dir())

    def make(handle: IO[bytes], header: dict[str, Any]) -> DiskIndex:
        return DiskIndex(location, layout, fd, handle, header, malicious_only=malicious_only)

    if use_cache:
        cached = _open_cached(target, location, identity, make)
        if cached is not None:
            return cached
        try:
            with new_index_file(target) as out:
                build_index(
                    location,
                    layout,
                    fd,
                    identity,
                    out,
                    workers=workers,
                    files=files,
                    scratch=target.parent,
                )
        except OSError:
            pass  # an unwritable cache directory only costs speed: index into a temporary file
        else:
            with contextlib.suppress(OSError):  # the name map of format 2, for the same path
                target.with_suffix(".json").unlink()
            cached = _open_cached(target, location, identity, make)
            if cached is not None:
                return cached
    temp = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the index)
    header = build_index(location, layout, fd, identity, temp, workers=workers, files=files)
    try:
        return make(temp, header)
    except _BadIndex as exc:
        raise InputError(location, f"could not index ({exc})") from None


def _open_cached(
    target: Path,
    location: Path,
    identity: list[Any],
    make: Callable[[IO[bytes], dict[str, Any]], DiskIndex],
) -> DiskIndex | None:
    """The cached index, when it is whole and stamped with this database's identity."""
    try:
        handle = open(target, "rb")  # noqa: SIM115 (lives as long as the index)
    except OSError:
        return None
    header = _read_header(handle)
    if (
        header is None
        or header.get("location") != str(location)
        or header.get("identity") != identity
    ):
        handle.close()
        return None
    try:
        return make(handle, header)
    except (_BadIndex, KeyError, TypeError, ValueError):
        handle.close()
        return None
