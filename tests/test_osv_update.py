"""`provscore db update` and `db info` against a real HTTP server on 127.0.0.1: conditional
downloads, verification, atomic replacement with the index installed, and every failure (an HTTP
error, a dropped connection, a damaged or wrong archive, a killed process) leaving the old
database working."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from osv_fixtures import pkg, real_records, record

import scorer.osv.index as index_module
from scorer.errors import ConfigError, InputError, SourceUnreachable
from scorer.osv import match, merge_database, open_database
from scorer.osv.update import Source, database_info, render_info, update_database

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def archive_of(records: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for raw in records:
            zf.writestr(f"{raw['id']}.json", json.dumps(raw, indent=2))
    return buffer.getvalue()


class Archive(ThreadingHTTPServer):
    """Serves one archive at /npm/all.zip with an ETag, Last-Modified and x-goog-hash, as the
    OSV bucket does; `mode` makes it fail in one way."""

    daemon_threads = True

    def __init__(self, body: bytes) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = "ok"
        self.requests: list[dict[str, str]] = []
        self.publish(body)

    def publish(self, body: bytes) -> None:
        self.body = body
        self.etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/npm/all.zip"


class Handler(BaseHTTPRequestHandler):
    server: Archive

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        server.requests.append(dict(self.headers))
        if server.mode == "500":
            self.send_error(500)
            return
        if self.headers.get("If-None-Match") == server.etag:
            self.send_response(304)
            self.end_headers()
            return
        body = b"this is not a zip" if server.mode == "notzip" else server.body
        md5 = hashlib.md5(b"other" if server.mode == "badmd5" else body).digest()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", server.etag)
        self.send_header("Last-Modified", "Mon, 30 Nov 2026 10:00:00 GMT")
        self.send_header("x-goog-hash", "crc32c=AAAAAA==")
        self.send_header("x-goog-hash", f"md5={base64.b64encode(md5).decode()}")
        self.end_headers()
        if server.mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            return  # the connection closes short of Content-Length
        if server.mode == "slow":
            for start in range(0, len(body), 1024):
                self.wfile.write(body[start : start + 1024])
                self.wfile.flush()
                time.sleep(0.2)
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[Archive]:
    archive = Archive(archive_of(real_records()))
    thread = threading.Thread(target=archive.serve_forever, daemon=True)
    thread.start()
    yield archive
    archive.shutdown()
    archive.server_close()


def chalk(index: Any) -> list[str]:
    return [a.id for a in match([pkg("chalk", "5.6.1")], index)[0]]


def test_update_installs_the_archive_and_its_index_then_asks_conditionally(
    server: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, cache = tmp_path / "security" / "all.zip", tmp_path / "cache"
    result = update_database(db, server.url, now=NOW, cache_dir=cache)
    assert result.replaced and db.read_bytes() == server.body
    assert (result.info.records, result.info.layout) == (101, "zip")
    source = Source.read(db)
    assert source is not None and source.etag == server.etag and source.url == server.url
    assert source.downloaded == "2026-11-30T12:00:00Z"
    assert not [p for p in db.parent.iterdir() if p.name.startswith(".") and "lock" not in p.name]
    # The index built while verifying is installed: the next audit is warm.
    monkeypatch.setattr(index_module, "build_index", lambda *a, **k: pytest.fail("cold"))
    assert chalk(open_database(db, cache_dir=cache)) == ["MAL-2025-46969"]
    inode = db.stat().st_ino
    again = update_database(db, server.url, now=NOW, cache_dir=cache)
    assert not again.replaced and db.stat().st_ino == inode
    assert server.requests[-1]["If-None-Match"] == server.etag
    assert server.requests[-1]["If-Modified-Since"] == "Mon, 30 Nov 2026 10:00:00 GMT"
    monkeypatch.undo()
    newer = [*real_records(), record("MAL-7", "chalk", versions=["5.6.1"])]
    server.publish(archive_of(newer))
    assert update_database(db, server.url, now=NOW, cache_dir=cache).replaced
    assert chalk(open_database(db, cache_dir=cache)) == ["MAL-2025-46969", "MAL-7"]


def test_a_failed_update_leaves_the_old_database_working(server: Archive, tmp_path: Path) -> None:
    db, cache = tmp_path / "all.zip", tmp_path / "cache"
    update_database(db, server.url, now=NOW, cache_dir=cache)
    before = db.read_bytes()
    bad_record = archive_of([*real_records(), {"id": "MAL-8", "affected": {"package": 1}}])
    for mode, body, error, problem in [
        ("500", None, SourceUnreachable, "HTTP 500"),
        ("truncate", None, SourceUnreachable, "database unchanged"),
        ("badmd5", None, SourceUnreachable, "MD5 does not match"),
        ("notzip", None, InputError, "not a zip archive"),
        ("ok", bad_record, InputError, r"MAL-8\.json: .*affected"),
        ("ok", b"PK\x05\x06" + bytes(18), InputError, "refused, database unchanged"),
    ]:
        server.mode = mode
        server.publish(body if body is not None else archive_of(real_records()) + mode.encode())
        with pytest.raises(error, match=problem):
            update_database(db, server.url, now=NOW, cache_dir=cache)
        assert db.read_bytes() == before, mode
        assert chalk(open_database(db, cache_dir=cache)) == ["MAL-2025-46969"], mode
        leftovers = [p.name for p in tmp_path.rglob(".*") if not p.name.endswith(".lock")]
        assert leftovers == [], (mode, leftovers)


def test_a_killed_update_leaves_the_old_database_and_is_cleaned_up(
    server: Archive, tmp_path: Path
) -> None:
    db, cache = tmp_path / "all.zip", tmp_path / "xdg" / "provscore" / "osv-index"
    update_database(db, server.url, now=NOW, cache_dir=cache)
    before = db.read_bytes()
    server.publish(archive_of([*real_records(), record("MAL-7", "chalk", versions=["5.6.1"])]))
    server.mode = "slow"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "scorer", "db", "update", "--from", server.url]
    child = subprocess.Popen([*command, "--db", str(db)], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".all.zip.*.download")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(".all.zip.*.download")), "the download never started"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert db.read_bytes() == before
    assert chalk(open_database(db, cache_dir=cache)) == ["MAL-2025-46969"]
    server.mode = "ok"
    assert update_database(db, server.url, now=NOW, cache_dir=cache).replaced
    assert not list(tmp_path.glob(".all.zip.*.download"))
    assert chalk(open_database(db, cache_dir=cache)) == ["MAL-2025-46969", "MAL-7"]


def test_update_refuses_databases_it_would_destroy(server: Archive, tmp_path: Path) -> None:
    merged = tmp_path / "compromised_packages.json"
    merge_database(merged, [])
    with pytest.raises(InputError, match="holds a JSON database"):
        update_database(merged, server.url, now=NOW, cache_dir=tmp_path / "cache")
    (tmp_path / "tree").mkdir()
    with pytest.raises(InputError, match="is a directory tree"):
        update_database(tmp_path / "tree", server.url, now=NOW, cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError, match="refusing plain http"):
        update_database(
            tmp_path / "all.zip", "http://example.invalid/all.zip", now=NOW, cache_dir=tmp_path
        )
    assert server.requests == []
    update_database(tmp_path / "all.zip", server.url, now=NOW, cache_dir=tmp_path / "cache")
    with pytest.raises(InputError, match="is an OSV archive"):
        merge_database(tmp_path / "all.zip", [])  # `audit --write` onto it


def test_info_shows_counts_newest_source_and_age(server: Archive, tmp_path: Path) -> None:
    db, cache = tmp_path / "all.zip", tmp_path / "cache"
    update_database(db, server.url, now=NOW, cache_dir=cache)
    later = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    text = render_info(database_info(db, now=later, cache_dir=cache))
    assert "layout: OSV archive" in text
    assert "records: 101 (" in text and " withdrawn)" in text
    assert f"source: {server.url}" in text
    assert "downloaded: 2026-11-30T12:00:00Z (2 days ago)" in text
    merged = tmp_path / "merged.json"
    merge_database(merged, [])
    text = render_info(database_info(merged, now=later, cache_dir=cache))
    assert "records: 0 (0 malicious, 0 withdrawn)" in text and "source: not recorded" in text


def test_db_commands_through_the_cli(server: Archive, tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("PROVSCORE_COMPROMISED_DB", None)
    env["PYTHONPATH"] = str(ROOT)

    def provscore(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "scorer", *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)

    db = str(tmp_path / "all.zip")
    done = provscore("db", "update", "--from", server.url, "--db", db)
    assert done.returncode == 0 and "replaced; 101 records" in done.stdout, done.stderr
    done = provscore("db", "info", "--db", db)
    assert done.returncode == 0 and "records: 101" in done.stdout, done.stderr
    server.mode = "500"
    done = provscore("db", "update", "--from", server.url + "?again", "--db", db)
    assert done.returncode == 3 and "HTTP 500; database unchanged" in done.stderr
    done = provscore("db", "info")  # the default database does not exist yet
    assert done.returncode == 2 and "provscore db update" in done.stderr
    lock = tmp_path / "package-lock.json"
    lock.write_text(
        json.dumps(
            {
                "lockfileVersion": 3,
                "packages": {"": {"name": "x"}, "node_modules/chalk": {"version": "5.6.1"}},
            }
        )
    )
    done = provscore("audit", str(lock), "--db", db, "--format", "json")
    assert done.returncode == 1 and "MAL-2025-46969" in done.stdout
