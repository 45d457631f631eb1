"""The matcher's view of a local database: an on-disk index by package name, built by streaming.

The malicious-package corpus is hundreds of thousands of records (about 500 MB of JSON), so no
run may hold it. `open_database` streams the records of any layout (one JSON file, a directory
tree, an OSV `all.zip`: see `layouts`), on every core for a large database, and keeps of each
record only what matching needs, per npm package name it affects: its id, `withdrawn`,
`modified`, whether it reports malware, the raw `versions` and `ranges` of its entries for that
name, and where the record is (its *locator*). These rows go into an index file: a hash table
of package names (fixed-size bucket offsets and CRCs, then one JSON object per bucket), read
through `mmap`, so that a lookup costs one bucket whatever the size of the database. A full
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
import mmap
import os
import secrets
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scorer.errors import InputError
from scorer.osv.advisories import (
    Advisory,
    AdvisoryIndex,
    RecordError,
    is_malicious,
    parse_timestamp,
)
from scorer.osv.database import paused_gc
from scorer.osv.layouts import (
    Locator,
    NotMergeFormat,
    Unit,
    layout_of,
    line_at,
    open_regular,
    plan_units,
    read_record,
    unit_records,
    walk_tree,
)

INDEX_FORMAT = 3
_MAGIC = b"PSOSVIX3"
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
    names: int
    newest_modified: str | None


def _name_hash(name: str) -> int:
    return zlib.crc32(name.encode("utf-8", "surrogatepass"))


def identity_of(
    location: Path, layout: str, fd: int | None
) -> tuple[list[Any], list[tuple[str, os.stat_result]] | None]:
    """What must not change for an index to stay valid (see the module docstring), and for a
    tree the walk it was computed from."""
    if fd is not None:
        st = os.fstat(fd)
        return [layout, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns], None
    digest = hashlib.sha256()
    files = walk_tree(location)
    for name, st in files:
        line = f"{name}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n"
        digest.update(line.encode("utf-8", "surrogateescape"))
    root = os.stat(location)
    return [layout, root.st_dev, root.st_ino, len(files), digest.hexdigest()], files


def cache_file(location: Path, cache_dir: Path) -> Path:
    """Where the index of the database at `location` is kept."""
    digest = hashlib.sha256(str(location).encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir / f"{digest[:40]}.idx"


# --- building ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _UnitResult:
    rows: list[tuple[str, int, str]]  # (name, record number in the unit, row JSON)
    records: list[tuple[str, Any]]  # (id, raw modified) in read order
    malicious: int = 0
    withdrawn: int = 0
    newest: str | None = None
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


def _scan_unit(job: tuple[Path, str, int | None, Unit]) -> _UnitResult:
    """The index rows of one unit. Runs in a worker process: errors come back as data."""
    location, _layout, fd, unit = job
    result = _UnitResult([], [])
    dumps = json.dumps
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
            result.records.append((ident, modified))
            result.malicious += malicious
            result.withdrawn += bool(withdrawn)
            stamp = parse_timestamp(modified)
            if stamp is not None and (newest is None or stamp > newest):
                newest, newest_raw = stamp, modified
            for name, entries in by_name.items():
                row = dumps([ident, locator, malicious, withdrawn, modified, entries])
                result.rows.append((name, number, row))
    except NotMergeFormat:
        result.not_merge_format = True
    except InputError as exc:
        result.error = (str(exc.path), exc.problem, exc.line)
    result.newest = newest_raw
    return result


def _where(
    location: Path, fd: int | None, locator: Locator, problem: str
) -> tuple[str, str, int | None]:
    """Path, problem and line of an error about the record at `locator`."""
    if locator[0] == "f" and fd is not None:
        return str(location), f"record: {problem}", line_at(fd, locator[1])
    if locator[0] == "z":
        return str(location), f"{locator[1]}: {problem}", None
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
    location: Path, layout: str, fd: int | None, units: list[Unit], workers: int
) -> Iterator[_UnitResult]:
    """The unit results, in database order, from a pool of processes for a large database."""
    if layout == "file":
        big = fd is not None and os.fstat(fd).st_size >= _PARALLEL_BYTES
    else:
        big = sum(len(u.items) for u in units) >= _PARALLEL_FILES
    # Fork only from a single-threaded process: a lock held by another thread at fork time
    # would be held forever in the child.
    jobs = [(location, layout, fd, unit) for unit in units]
    if workers > 1 and big and len(units) > 1 and threading.active_count() == 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(min(workers, len(units))) as pool:
            yield from pool.imap(_scan_unit, jobs)
    else:
        for job in jobs:
            yield _scan_unit(job)


@dataclass(slots=True)
class _Collected:
    rows: list[tuple[int, str, int, str]]  # (record sequence number, name, name hash, row)
    best: dict[str, tuple[Any, int]]  # id -> (raw modified, record sequence number)
    dropped: set[int]
    malicious: int = 0
    withdrawn: int = 0
    newest: str | None = None


def _collect(results: Iterator[_UnitResult]) -> _Collected:
    done = _Collected([], {}, set())
    best, dropped, rows = done.best, done.dropped, done.rows
    sequence = 0
    for result in results:
        if result.not_merge_format:
            raise NotMergeFormat
        if result.error is not None:
            path, problem, line = result.error
            raise InputError(path, problem, line)
        base = sequence
        for ident, modified in result.records:
            current = best.get(ident)
            if current is None:
                best[ident] = (modified, sequence)
            elif _newer(modified, current[0]):
                dropped.add(current[1])
                best[ident] = (modified, sequence)
            else:
                dropped.add(sequence)
            sequence += 1
        rows.extend(
            (base + number, name, _name_hash(name), row) for name, number, row in result.rows
        )
        done.malicious += result.malicious
        done.withdrawn += result.withdrawn
        if result.newest is not None and (
            done.newest is None or _newer(result.newest, done.newest)
        ):
            done.newest = result.newest
    return done


def build_index(
    location: Path,
    layout: str,
    fd: int | None,
    identity: list[Any] | None,
    out: IO[bytes],
    *,
    workers: int | None = None,
    files: list[tuple[str, os.stat_result]] | None = None,
) -> dict[str, Any]:
    """Write the index of the database at `location` to `out` (a new, empty binary file) and
    return its header. InputError names the first record that cannot be indexed. `files` is
    the walk of a tree, when the caller has it already."""
    parts = _workers(workers)
    with paused_gc():
        units = plan_units(location, fd, layout, parts, files)
        try:
            done = _collect(_results(location, layout, fd, units, parts))
        except NotMergeFormat:
            # A file that only looks like merge format: read it as a JSON document, in one go.
            size = os.fstat(fd).st_size if fd is not None else 0
            done = _collect(_results(location, layout, fd, [Unit("json", 0, size)], 1))
        rows, malicious, withdrawn = done.rows, done.malicious, done.withdrawn
        records, newest = len(done.best), done.newest
        if done.dropped:
            # The same id twice (under malicious/ and withdrawn/, say): the newer copy counts.
            rows = [r for r in rows if r[0] not in done.dropped]
            malicious, withdrawn = _recount(
                location, layout, fd, done.dropped, malicious, withdrawn
            )
        names = {name for _, name, _, _ in rows}
        buckets = max(16, len(names))
        by_bucket: dict[int, list[tuple[str, str]]] = {}
        for _, name, hashed, row in rows:
            by_bucket.setdefault(hashed % buckets, []).append((name, row))
        del rows, done
        header = {
            "format": INDEX_FORMAT,
            "location": str(location),
            "layout": layout,
            "identity": identity,
            "records": records,
            "malicious": malicious,
            "withdrawn": withdrawn,
            "names": len(names),
            "newest_modified": newest,
            "buckets": buckets,
        }
        _write_index(out, header, by_bucket, buckets)
    return header


def _newer(candidate: Any, current: Any) -> bool:
    """The merge rule of `database.newest_by_id` on raw `modified` values: strictly newer
    wins, a tie keeps the first, an undated record is older than any dated one."""
    new, old = parse_timestamp(candidate), parse_timestamp(current)
    if new is None:
        return False
    return old is None or new > old


def _recount(
    location: Path, layout: str, fd: int | None, dropped: set[int], malicious: int, withdrawn: int
) -> tuple[int, int]:
    """Malicious and withdrawn counts without the dropped copies (rare: read them again)."""
    sequence = 0
    for unit in plan_units(location, fd, layout, 1):
        for record, _, _ in unit_records(location, fd, unit):
            if sequence in dropped:
                malicious -= is_malicious(record)
                withdrawn -= bool(record.get("withdrawn"))
            sequence += 1
    return malicious, withdrawn


def _write_index(
    out: IO[bytes],
    header: dict[str, Any],
    by_bucket: dict[int, list[tuple[str, str]]],
    buckets: int,
) -> None:
    out.write(_header_bytes(header))
    table_at = _HEADER_SPACE
    data_at = table_at + 8 * (buckets + 1) + 4 * buckets
    data_at += -data_at % 8
    offsets = [0] * (buckets + 1)
    crcs = [0] * buckets
    out.seek(data_at)
    position = 0
    dumps = json.dumps
    for bucket in range(buckets):
        offsets[bucket] = position
        rows = by_bucket.get(bucket)
        if not rows:
            continue
        grouped: dict[str, list[str]] = {}
        for name, row in rows:
            grouped.setdefault(name, []).append(row)
        blob = (
            "{" + ",".join(f"{dumps(n)}:[{','.join(r)}]" for n, r in grouped.items()) + "}"
        ).encode("utf-8", "surrogatepass")
        crcs[bucket] = zlib.crc32(blob)
        out.write(blob)
        position += len(blob)
    offsets[buckets] = position
    out.seek(table_at)
    out.write(struct.pack(f"<{buckets + 1}Q", *offsets))
    out.write(struct.pack(f"<{buckets}I", *crcs))
    out.flush()


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
    except ValueError:
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
        self._buckets = int(header["buckets"])
        size = os.fstat(handle.fileno()).st_size
        self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        table_end = _HEADER_SPACE + 8 * (self._buckets + 1) + 4 * self._buckets
        self._data_at = table_end + (-table_end % 8)
        if self._map is None or size < self._data_at:
            raise InputError(handle.name, "index file is truncated; delete it")
        view = memoryview(self._map)
        self._offsets = view[_HEADER_SPACE : _HEADER_SPACE + 8 * (self._buckets + 1)].cast("Q")
        self._crcs = view[_HEADER_SPACE + 8 * (self._buckets + 1) : table_end].cast("I")
        if size < self._data_at + self._offsets[self._buckets]:
            raise InputError(handle.name, "index file is truncated; delete it")
        self._rows: dict[str, list[tuple[Advisory, bool, Locator]]] = {}
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
            h["names"],
            h["newest_modified"],
        )

    def _bucket(self, name: str) -> dict[str, Any]:
        assert self._map is not None
        bucket = _name_hash(name) % self._buckets
        start, end = self._offsets[bucket], self._offsets[bucket + 1]
        if start == end:
            return {}
        blob = self._map[self._data_at + start : self._data_at + end]
        try:
            if zlib.crc32(blob) != self._crcs[bucket]:
                raise ValueError("checksum mismatch")
            rows: dict[str, Any] = json.loads(blob)
        except ValueError as exc:
            raise InputError(
                self._handle.name, f"index is damaged ({exc}); delete it and run again"
            ) from None
        return rows

    def _candidates(self, name: str) -> list[tuple[Advisory, bool, Locator]]:
        cached = self._rows.get(name)
        if cached is not None:
            return cached
        found = []
        for ident, locator, malicious, withdrawn, modified, entries in self._bucket(name).get(
            name, ()
        ):
            skeleton: dict[str, Any] = {"id": ident, "modified": modified, "affected": []}
            if withdrawn is not None:
                skeleton["withdrawn"] = withdrawn
            for versions, ranges in entries:
                entry: dict[str, Any] = {"package": {"ecosystem": "npm", "name": name}}
                if versions is not None:
                    entry["versions"] = versions
                if ranges is not None:
                    entry["ranges"] = ranges
                skeleton["affected"].append(entry)
            try:
                advisory = Advisory.from_osv(skeleton)
            except RecordError as exc:
                raise self._error(locator, str(exc)) from None
            found.append((advisory, bool(malicious), locator))
        self._rows[name] = found
        return found

    def _error(self, locator: Locator, problem: str) -> InputError:
        return InputError(*_where(self.location, self._fd, locator, problem))

    def _record(self, advisory: Advisory, locator: Locator) -> Advisory:
        done = self._full.get(advisory.id)
        if done is not None:
            return done
        raw = read_record(self.location, self.layout, self._fd, locator)
        if not isinstance(raw, dict) or raw.get("id") != advisory.id:
            raise InputError(
                self.location, f"changed while it was read (record {advisory.id}); run again"
            )
        try:
            full = Advisory.from_osv(raw)
        except RecordError as exc:
            raise self._error(locator, str(exc)) from None
        self._full[advisory.id] = full
        return full

    def lookup(self, name: str, version: str) -> tuple[Advisory, ...]:
        found: dict[str, Advisory] = {}
        for advisory, malicious, locator in self._candidates(name):
            if advisory.id in found or advisory.is_withdrawn:
                continue
            if self._malicious_only and not malicious:
                continue
            if any(a.affects(version) for a in advisory.affected):
                found[advisory.id] = self._record(advisory, locator)
        return tuple(sorted(found.values(), key=lambda a: a.id))


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
    # Identity and content come from the same open file, so a replacement of the database
    # meanwhile cannot pair one file's index with another's bytes.
    identity, files = identity_of(location, layout, fd)
    target = cache_file(location, cache_dir or default_cache_dir())
    if use_cache:
        opened = _open_cached(target, location, identity)
        if opened is not None:
            handle, header = opened
            return DiskIndex(location, layout, fd, handle, header, malicious_only=malicious_only)
        try:
            with new_index_file(target) as out:
                build_index(location, layout, fd, identity, out, workers=workers, files=files)
        except OSError:
            pass  # an unwritable cache directory only costs speed: index into a temporary file
        else:
            opened = _open_cached(target, location, identity)
            if opened is not None:
                handle, header = opened
                return DiskIndex(
                    location, layout, fd, handle, header, malicious_only=malicious_only
                )
    temp = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the index)
    header = build_index(location, layout, fd, identity, temp, workers=workers, files=files)
    return DiskIndex(location, layout, fd, temp, header, malicious_only=malicious_only)


def _open_cached(
    target: Path, location: Path, identity: list[Any]
) -> tuple[IO[bytes], dict[str, Any]] | None:
    try:
        handle = open(target, "rb")  # noqa: SIM115 (lives as long as the index)
    except OSError:
        return None
    header = _read_header(handle)
    if (
        header is None
        or header.get("location") != str(location)
        or header.get("identity") != identity
        or not isinstance(header.get("buckets"), int)
        or not isinstance(header.get("records"), int)
    ):
        handle.close()
        return None
    return handle, header
