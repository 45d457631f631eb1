"""The compact history cache: one SQLite file of per-package publication histories.

`provscore report` needs each package's `PackageHistory`, not its registry document: a history
is a few kilobytes where the document is tens or hundreds, and decoding documents was most of a
warm run. One file, `histories-v<HISTORY_FORMAT>.sqlite` under the cache directory, holds per
(registry, name) the history's JSON, the response's ETag and Last-Modified (to revalidate), when
it was fetched and the response's Cache-Control max-age (a fresh entry needs no request at all).

Concurrent runs share the file: WAL journal, a busy timeout, and every write is one transaction
of INSERT OR REPLACE, so two runs merge their entries and never truncate each other's. A damaged
file (not a database, malformed, wrong schema) is moved aside with a warning and rebuilt: it is a
cache, the registry has the data. A cache that cannot be opened or written (read-only directory,
locked past the timeout) costs speed only, with a warning; a run never fails because of it.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from scorer.features import HISTORY_FORMAT, PackageHistory

FILE_NAME = f"histories-v{HISTORY_FORMAT}.sqlite"
BUSY_TIMEOUT_MS = 10_000
_CHUNK = 500  # names per IN (...) query, well under SQLite's host-parameter limit
_COLUMNS = "registry, name, history, etag, last_modified, fetched_at, max_age"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS histories (
    registry TEXT NOT NULL,
    name TEXT NOT NULL,
    history TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    fetched_at REAL NOT NULL,
    max_age REAL,
    PRIMARY KEY (registry, name)
) WITHOUT ROWID
"""
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|[,\s])(?:no-cache|no-store)(?:$|[,\s=])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CachedHistory:
    """One cache entry. `max_age` None: the response allowed no reuse without revalidation."""

    registry: str
    name: str
    history: PackageHistory
    etag: str | None
    last_modified: str | None
    fetched_at: float  # POSIX seconds when the response was generated (Age subtracted)
    max_age: float | None

    def fresh(self, now: float) -> bool:
        """Within max-age: reusable without asking the registry."""
        return self.max_age is not None and 0 <= now - self.fetched_at < self.max_age


def freshness(headers: Mapping[str, str], received: float) -> tuple[float, float | None]:
    """(fetched_at, max_age) of a response from its Cache-Control and Age headers (RFC 9111):
    no-cache / no-store or no max-age mean every later use revalidates first."""
    control = headers.get("cache-control") or ""
    age = headers.get("age") or ""
    fetched_at = received - (int(age) if age.isdigit() else 0)
    found = _MAX_AGE.search(control)
    if found is None or _NO_STORE.search(control):
        return fetched_at, None
    return fetched_at, float(found.group(1))


def _warn(message: str) -> None:
    sys.stderr.write(f"provscore: warning: {message}\n")


class HistoryCache:
    """The SQLite history cache at `directory / FILE_NAME` (created on first use)."""

    def __init__(self, directory: Path, *, warn: Callable[[str], None] = _warn) -> None:
        self.path = directory / FILE_NAME
        self.warnings: list[str] = []
        self._warn = warn
        self._db: sqlite3.Connection | None = None
        self._opened = False

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self._warn(message)

    def _connect(self) -> sqlite3.Connection | None:
        """The open connection; None (with one warning) when the cache is unusable."""
        if self._opened:
            return self._db
        self._opened = True
        try:
            self._db = self._open_waiting()
        except sqlite3.DatabaseError as exc:
            if not self._damaged(exc):
                self.warn(f"history cache {self.path} unusable ({exc}); fetching without it")
                return None
            self._move_aside(exc)
            try:
                self._db = self._open()
            except (sqlite3.Error, OSError) as again:
                self.warn(f"history cache {self.path} unusable ({again}); fetching without it")
        except OSError as exc:
            self.warn(f"history cache {self.path} unusable ({exc}); fetching without it")
        return self._db

    def _open_waiting(self) -> sqlite3.Connection:
        """`_open`, retried while another process holds the lock: switching a new file to WAL
        answers "database is locked" at once, without waiting for the busy timeout, when
        several runs create the cache together (seen: one of four concurrent writers)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                return self._open()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            # A cache: losing the last transaction on power loss is fine, a corrupt file is not
            # (WAL with synchronous=NORMAL cannot corrupt), and it saves an fsync per write.
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute(_SCHEMA)
            db.execute(f"SELECT {_COLUMNS} FROM histories LIMIT 0")  # wrong schema -> error
        except BaseException:
            db.close()
            raise
        return db

    def _damaged(self, exc: sqlite3.DatabaseError) -> bool:
        code = getattr(exc, "sqlite_errorcode", None)
        # "no such column" / "table has no column": a file of another shape under our name.
        return code in _DAMAGED or "column" in str(exc)

    def _move_aside(self, exc: BaseException) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").replace(f"{aside}{suffix}")
        self.warn(f"history cache {self.path} was damaged ({exc}); moved to {aside}, rebuilding")

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], CachedHistory]:
        """Entries for (registry, name) keys; missing and unreadable entries are absent."""
        by_registry: dict[str, list[str]] = {}
        for registry, name in keys:
            by_registry.setdefault(registry, []).append(name)
        out: dict[tuple[str, str], CachedHistory] = {}
        for attempt in (1, 2):
            db = self._connect()
            if db is None:
                return {}
            try:
                rows = []
                for registry, names in by_registry.items():
                    for i in range(0, len(names), _CHUNK):
                        chunk = names[i : i + _CHUNK]
                        marks = ",".join("?" * len(chunk))
                        rows += db.execute(
                            f"SELECT {_COLUMNS} FROM histories WHERE registry = ? AND name IN "
                            f"({marks})",
                            (registry, *chunk),
                        ).fetchall()
                break
            except sqlite3.DatabaseError as exc:
                if attempt == 2 or not self._damaged(exc):
                    self.warn(f"history cache {self.path} unreadable ({exc}); fetching without it")
                    return {}
                self._move_aside(exc)
                self._opened = False  # reopen: a fresh, empty file
        for registry, name, text, etag, last_modified, fetched_at, max_age in rows:
            try:
                history = PackageHistory.from_json(json.loads(text))
            except (ValueError, RecursionError):
                continue  # a damaged entry is a miss: fetched again and replaced
            out[(registry, name)] = CachedHistory(
                registry, name, history, etag, last_modified, fetched_at, max_age
            )
        return out

    def save(
        self, stored: Iterable[CachedHistory], refreshed: Iterable[CachedHistory] = ()
    ) -> None:
        """One transaction: insert or replace `stored` (new histories, from 200 answers), and
        update only the validators and freshness of `refreshed` (304 answers: the history
        itself did not change, so it is not written again). Other runs' entries are kept."""
        rows = [
            (
                e.registry,
                e.name,
                json.dumps(e.history.to_json(), separators=(",", ":")),
                e.etag,
                e.last_modified,
                e.fetched_at,
                e.max_age,
            )
            for e in stored
        ]
        touched = [
            (e.etag, e.last_modified, e.fetched_at, e.max_age, e.registry, e.name)
            for e in refreshed
        ]
        if not rows and not touched:
            return
        db = self._connect()
        if db is None:
            return
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    f"INSERT OR REPLACE INTO histories ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                db.executemany(
                    "UPDATE histories SET etag = ?, last_modified = ?, fetched_at = ?, "
                    "max_age = ? WHERE registry = ? AND name = ?",
                    touched,
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self.warn(f"history cache {self.path} not updated ({exc}); the next run refetches")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
