"""Regression tests for issue 9: each attack that got past provscore (or crashed it) replayed
against the CLI or the function that failed, so that it stays fixed. Offline and local only."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def no_server_threads_left() -> Iterator[None]:
    """Every server this module starts (the stalling ones, the insights mock) is stopped and
    its threads joined by the end of the module: none may outlive it, daemon or not."""
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == [], f"threads left running: {[t.name for t in left]}"


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HOME": str(cwd / "home"),
        "PROVSCORE_COMPROMISED_DB": str(cwd / "none.json"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "scorer", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def mal(ident: str, name: str, versions: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "modified": "2025-09-08T00:00:00Z",
        "affected": [{"package": {"ecosystem": "npm", "name": name}, "versions": versions}],
        **extra,
    }


def lockfile(tmp: Path, entries: dict[str, dict[str, Any]]) -> Path:
    packages: dict[str, Any] = {"": {"name": "app", "version": "1.0.0"}}
    for where, entry in entries.items():
        packages[f"node_modules/{where}"] = entry
    path = tmp / "package-lock.json"
    path.write_text(json.dumps({"name": "app", "lockfileVersion": 3, "packages": packages}))
    return path


def tarball(name: str, version: str) -> str:
    return f"https://registry.example.invalid/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"


def audit_json(tmp: Path, lock: Path, db: Path, *extra: str) -> tuple[int, Any, str]:
    done = run_cli("audit", str(lock), "--db", str(db), "--format", "json", *extra, cwd=tmp)
    try:
        body = json.loads(done.stdout)
    except ValueError:
        body = None
    return done.returncode, body, done.stderr


# --- gates an attacker could talk past ----------------------------------------------------


def test_build_metadata_does_not_hide_a_listed_version(tmp_path: Path) -> None:
    db = tmp_path / "db.json"
    db.write_text(json.dumps([mal("MAL-2025-1", "chalk", ["5.6.1"])]))
    lock = lockfile(
        tmp_path, {"chalk": {"version": "5.6.1+evil", "resolved": tarball("chalk", "5.6.1+evil")}}
    )
    code, body, err = audit_json(tmp_path, lock, db)
    assert code == 1, err
    assert "MAL-2025-1" in json.dumps(body)


def test_a_registry_tarball_of_another_version_is_checked_as_that_version(tmp_path: Path) -> None:
    db = tmp_path / "db.json"
    db.write_text(json.dumps([mal("MAL-2025-1", "chalk", ["5.6.1"])]))
    lock = lockfile(
        tmp_path, {"chalk": {"version": "5.6.0", "resolved": tarball("chalk", "5.6.1")}}
    )
    code, body, err = audit_json(tmp_path, lock, db)
    assert code == 1, err
    assert "MAL-2025-1" in json.dumps(body)
    assert "recorded as version '5.6.0' but resolved from the registry tarball of 5.6.1" in err
    assert body is not None
    assert any("registry tarball of 5.6.1" in w for w in body["lockfile_warnings"])


def _chalk_db(tmp: Path, withdrawn: object) -> tuple[Path, Path]:
    db = tmp / "db.json"
    db.write_text(json.dumps([mal("MAL-2025-1", "chalk", ["5.6.1"], withdrawn=withdrawn)]))
    lock = lockfile(tmp, {"chalk": {"version": "5.6.1", "resolved": tarball("chalk", "5.6.1")}})
    return db, lock


def test_a_withdrawal_in_the_future_has_not_happened_yet(tmp_path: Path) -> None:
    db, lock = _chalk_db(tmp_path, "2099-01-01T00:00:00Z")
    code, body, err = audit_json(tmp_path, lock, db)
    assert code == 1, err
    assert "MAL-2025-1" in json.dumps(body)


def test_a_past_withdrawal_still_withdraws(tmp_path: Path) -> None:
    db, lock = _chalk_db(tmp_path, "2025-09-09T00:00:00Z")
    code, body, err = audit_json(tmp_path, lock, db)
    assert code == 0, err
    assert body["findings"] == []


@pytest.mark.parametrize(
    "withdrawn", [1, "garbage", "", "2025-09-09", True, "2025-13-01T00:00:00Z"]
)
def test_a_withdrawn_value_that_is_not_a_time_makes_the_record_invalid(
    tmp_path: Path, withdrawn: object
) -> None:
    db, lock = _chalk_db(tmp_path, withdrawn)
    code, _, err = audit_json(tmp_path, lock, db)
    assert code == 2, err
    assert "MAL-2025-1" in err and "not an RFC 3339 time" in err and "Traceback" not in err


def test_withdraws_is_decided_at_the_injected_time() -> None:
    from datetime import UTC, datetime

    from scorer.osv.advisories import withdraws

    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert withdraws("2025-12-31T23:59:59Z", at)
    assert not withdraws("2026-01-01T00:00:01Z", at)
    assert not withdraws("garbage", at) and not withdraws(1, at) and not withdraws(None, at)


def test_a_lying_osv_server_answering_with_another_record_is_refused() -> None:
    import httpx

    from scorer.errors import SourceUnreachable
    from scorer.osv.client import query_osv
    from scorer.records import LockedPackage, SourceKind

    forged = mal("MAL-2025-9", "chalk", ["5.6.1"], withdrawn="2025-01-01T00:00:00Z")
    forged["modified"] = "2030-01-01T00:00:00Z"

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/querybatch":
            return httpx.Response(200, json={"results": [{"vulns": [{"id": "MAL-2025-1"}]}]})
        assert request.url.path == "/v1/vulns/MAL-2025-1"
        return httpx.Response(200, json=forged)

    chalk = LockedPackage("chalk", "5.6.1", SourceKind.REGISTRY)
    with pytest.raises(SourceUnreachable, match="answered with record 'MAL-2025-9'"):
        query_osv([chalk], "http://osv.example.invalid", transport=httpx.MockTransport(answer))
    # An answer under an alias of the id asked for is the same incident, and is kept.
    forged["aliases"] = ["MAL-2025-1"]
    result = query_osv([chalk], "http://osv.example.invalid", transport=httpx.MockTransport(answer))
    assert [a.id for a in result.advisories] == ["MAL-2025-9"]


def _chalk_audit_write(tmp: Path, target: Path) -> subprocess.CompletedProcess[str]:
    db = tmp / "source.json"
    db.write_text(json.dumps([mal("MAL-2025-1", "chalk", ["5.6.1"])]))
    lock = lockfile(tmp, {"chalk": {"version": "5.6.1", "resolved": tarball("chalk", "5.6.1")}})
    return run_cli(
        "audit", str(lock), "--db", str(db), "--write", str(target), "--policy", "warn", cwd=tmp
    )


def test_write_onto_a_symlink_updates_the_database_it_points_at(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "db.json"
    real.parent.mkdir()
    real.write_text(json.dumps([mal("MAL-2024-7", "left-pad", ["1.3.0"])]))
    link = tmp_path / "project-db.json"
    link.symlink_to(real)
    done = _chalk_audit_write(tmp_path, link)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink()
    ids = {r["id"] for r in json.loads(real.read_text())}
    assert ids == {"MAL-2024-7", "MAL-2025-1"}


def test_write_keeps_the_file_shape(tmp_path: Path) -> None:
    array = tmp_path / "array.json"
    array.write_text(json.dumps([mal("MAL-2024-7", "left-pad", ["1.3.0"])]))
    assert _chalk_audit_write(tmp_path, array).returncode == 0
    assert [r["id"] for r in json.loads(array.read_text())] == ["MAL-2024-7", "MAL-2025-1"]

    keyed = tmp_path / "keyed.json"
    keyed.write_text(
        json.dumps({"source": "team mirror", "advisories": [mal("MAL-2024-7", "x", ["1.0.0"])]})
    )
    assert _chalk_audit_write(tmp_path, keyed).returncode == 0
    document = json.loads(keyed.read_text())
    assert document["source"] == "team mirror"
    assert [r["id"] for r in document["advisories"]] == ["MAL-2024-7", "MAL-2025-1"]
    assert set(document) == {"source", "advisories"}


# --- crashes and unbounded reads -------------------------------------------------------------

BIG = "9" * 5000


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("package-lock.json", '{"name":"a","lockfileVersion":' + BIG + ',"packages":{}}'),
        ("pnpm-lock.yaml", "lockfileVersion: " + BIG + "\n"),
        ("yarn.lock", "__metadata:\n  version: " + BIG + "\n"),
        ("package-lock.json", "[" * 200_000 + "]" * 200_000),
    ],
)
def test_huge_numbers_and_deep_nesting_in_a_lockfile_are_exit_2(
    tmp_path: Path, name: str, text: str
) -> None:
    (tmp_path / name).write_text(text)
    db = tmp_path / "db.json"
    db.write_text("[]")
    done = run_cli("audit", name, "--db", str(db), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and name in done.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "fifo"])
def test_a_lockfile_that_is_a_device_or_fifo_is_refused_at_once(
    tmp_path: Path, device: str
) -> None:
    lock = tmp_path / "package-lock.json"
    if device == "fifo":
        os.mkfifo(lock)
    else:
        lock.symlink_to(device)
    db = tmp_path / "db.json"
    db.write_text("[]")
    done = run_cli(
        "audit", str(lock), "--db", str(db), cwd=tmp_path
    )  # timeout=60 is the hang guard
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr


def _bomb(kind: str, size: int) -> httpx.Response:
    """An answer of `size` bytes of body: plain, chunked (a stream without a length) or a gzip
    bomb (tiny on the wire)."""
    if kind == "gzip":
        return httpx.Response(
            200, headers={"content-encoding": "gzip"}, content=gzip.compress(b" " * size)
        )
    if kind in ("chunked", "streamed"):

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(size // 65536):
                yield b" " * 65536

        # "streamed": a plain body with its length, read from the wire like a real answer
        length = {"content-length": str(size)} if kind == "streamed" else {}
        return httpx.Response(200, headers=length, content=chunks())
    return httpx.Response(200, content=b" " * size)


@pytest.mark.parametrize("kind", ["plain", "chunked", "gzip"])
def test_osv_answers_are_capped(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import scorer.osv.client as osv_client
    from scorer.errors import SourceUnreachable
    from scorer.records import LockedPackage, SourceKind
    from scorer.retry import RetryPolicy

    monkeypatch.setattr(osv_client, "MAX_ANSWER_BYTES", 1 << 20)
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return _bomb(kind, 8 << 20)

    chalk = LockedPackage("chalk", "5.6.1", SourceKind.REGISTRY)
    with pytest.raises(SourceUnreachable, match="larger than 1 MiB"):
        osv_client.query_osv(
            [chalk],
            "http://osv.example.invalid",
            transport=httpx.MockTransport(answer),
            retry=RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0),
        )
    assert len(seen) == 2


@pytest.mark.parametrize("kind", ["plain", "gzip"])
def test_registry_answers_are_capped(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import scorer.registry as registry
    from scorer.npmrc import RegistrySelection

    monkeypatch.setattr(registry, "MAX_DOCUMENT_BYTES", 1 << 20)
    client = registry.RegistryClient(
        RegistrySelection("https://registry.example.invalid/", "--registry", True),
        transport=httpx.MockTransport(lambda _request: _bomb(kind, 8 << 20)),
        retries=0,
    )
    result = client.fetch_sync(["chalk"])["chalk"]
    assert result.document is None
    assert result.reason is not None and "larger than 1 MiB" in result.reason


# --- the mock insights server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def insights_url() -> Iterator[str]:
    from scorer.insights.server import running_server

    with running_server({}) as served:
        yield served


@pytest.mark.parametrize(
    "variables", ["[" * 100_000 + "]" * 100_000, "[" * 20 + "]" * 20, '{"a":' * 20 + "1" + "}" * 20]
)
def test_insights_server_refuses_deeply_nested_variables(insights_url: str, variables: str) -> None:
    body = '{"query": "{ __typename }", "variables": ' + variables + "}"
    reply = httpx.post(insights_url, content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert "nested" in reply.json()["errors"][0]["message"]


def test_insights_server_refuses_thousands_of_operations_before_validating(
    insights_url: str,
) -> None:
    document = "\n".join(f"query q{i} {{ __typename }}" for i in range(20_000))
    reply = httpx.post(insights_url, json={"query": document, "operationName": "q1"})
    assert reply.status_code == 400  # before validation, which cost 2.5 s of CPU
    few = "\n".join(f"query q{i} {{ __typename }}" for i in range(17))
    reply = httpx.post(insights_url, json={"query": few, "operationName": "q1"})
    assert "more than 16 operations" in reply.json()["errors"][0]["message"]


# --- a whole-run deadline for network work ---------------------------------------------------


class _Stall:
    """A local HTTP server that misbehaves on every connection: `silent` reads the request and
    never answers, `drip` sends headers and then one body byte a second, `retry_after` answers
    429 asking for a day's wait. A context manager: leaving it stops the server, wakes every
    connection and joins every thread it started."""

    def __init__(self, kind: str) -> None:
        import socket

        self.kind = kind
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._threads = [threading.Thread(target=self._accept, name="stall-accept")]
        self._threads[0].start()

    def __enter__(self) -> _Stall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), name="stall-connection")
            with self._lock:
                if self.stopped.is_set():
                    conn.close()
                    return
                self._connections.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: Any) -> None:
        import time

        with conn:
            try:
                conn.recv(65536)
                if self.kind == "retry_after":
                    conn.sendall(
                        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 86400\r\n"
                        b"Content-Length: 0\r\n\r\n"
                    )
                    conn.recv(65536)
                elif self.kind == "drip":
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100000\r\n\r\n"
                    )
                    while not self.stopped.is_set():
                        conn.sendall(b" ")
                        time.sleep(1)
                else:
                    self.stopped.wait(300)
            except OSError:
                pass

    def close(self) -> None:
        import socket

        self.stopped.set()
        # shutdown() wakes a thread blocked in accept() or recv(); close() alone does not.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=10)
            assert not thread.is_alive(), f"{thread.name} did not stop"


@pytest.mark.parametrize("kind", ["silent", "drip", "retry_after"])
def test_audit_osv_fails_closed_at_the_deadline(tmp_path: Path, kind: str) -> None:
    import time

    with _Stall(kind) as server:
        lock = lockfile(
            tmp_path, {"chalk": {"version": "5.6.1", "resolved": tarball("chalk", "5.6.1")}}
        )
        started = time.monotonic()
        done = run_cli(
            "audit", str(lock), "--osv", "--osv-url", server.url, "--timeout", "2", cwd=tmp_path
        )
        took = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    assert "deadline" in done.stderr and "/v1/querybatch" in done.stderr
    assert took < 2 + 5


def test_the_timeout_comes_from_env_then_config_and_must_be_positive(tmp_path: Path) -> None:
    import time

    with _Stall("silent") as server:
        lock = lockfile(
            tmp_path, {"chalk": {"version": "5.6.1", "resolved": tarball("chalk", "5.6.1")}}
        )
        (tmp_path / "provscore.toml").write_text("timeout = 1.5\n")
        started = time.monotonic()
        done = run_cli("audit", str(lock), "--osv", "--osv-url", server.url, cwd=tmp_path)
        assert done.returncode == 3 and "1.5 s deadline" in done.stderr
        done = run_cli(
            "audit",
            str(lock),
            "--osv",
            "--osv-url",
            server.url,
            cwd=tmp_path,
            env={"PROVSCORE_TIMEOUT": "1"},
        )
        assert done.returncode == 3 and "1 s deadline" in done.stderr
        assert time.monotonic() - started < 2.5 + 2 * 5
    (tmp_path / "provscore.toml").write_text("timeout = 0\n")
    done = run_cli("audit", str(lock), "--osv", "--osv-url", "http://127.0.0.1:9", cwd=tmp_path)
    assert done.returncode == 2 and "above 0" in done.stderr


@pytest.mark.parametrize("strict", [False, True])
def test_report_registry_work_ends_at_the_deadline(tmp_path: Path, strict: bool) -> None:
    import time

    with _Stall("drip") as server:
        lock = lockfile(
            tmp_path, {"chalk": {"version": "5.6.1", "resolved": tarball("chalk", "5.6.1")}}
        )
        db = tmp_path / "db.json"
        db.write_text("[]")
        started = time.monotonic()
        args = ["report", str(lock), "--db", str(db), "--registry", server.url + "/"]
        args += ["--timeout", "2", "--format", "json"] + (["--strict"] if strict else [])
        done = run_cli(*args, cwd=tmp_path)
        took = time.monotonic() - started
    assert took < 2 + 5, done.stderr
    assert "deadline" in done.stderr + done.stdout
    assert done.returncode == (3 if strict else 0), done.stderr


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "sarif", "html"])
def test_registry_credentials_in_a_url_are_never_shown(tmp_path: Path, fmt: str) -> None:
    lock = lockfile(
        tmp_path, {"chalk": {"version": "5.6.1", "resolved": tarball("chalk", "5.6.1")}}
    )
    db = tmp_path / "db.json"
    db.write_text("[]")
    done = run_cli(
        "report", str(lock), "--db", str(db), "--registry", "https://user:s3cret@127.0.0.1:9/",
        "--timeout", "3", "--format", fmt, cwd=tmp_path,
    )  # fmt: skip
    if fmt in ("text", "json"):  # these name the registry, without its credentials
        assert "***@127.0.0.1:9" in done.stdout + done.stderr
    assert "s3cret" not in done.stdout + done.stderr


def test_osv_credentials_in_a_url_are_never_shown(tmp_path: Path) -> None:
    lock = lockfile(
        tmp_path, {"chalk": {"version": "5.6.1", "resolved": tarball("chalk", "5.6.1")}}
    )
    done = run_cli(
        "audit", str(lock), "--osv", "--osv-url", "http://user:s3cret@127.0.0.1:9",
        "--timeout", "2", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3
    assert "127.0.0.1:9" in done.stderr and "s3cret" not in done.stderr


def test_redact_urls() -> None:
    from scorer.text import redact_urls

    assert redact_urls("at https://u:p%40ss@h.example.invalid/x and git+ssh://git@h/r") == (
        "at https://***@h.example.invalid/x and git+ssh://***@h/r"
    )
    assert redact_urls("pkg@1.0.0 from https://h.example.invalid/a@b") == (
        "pkg@1.0.0 from https://h.example.invalid/a@b"
    )


def test_a_project_npmrc_cannot_expand_environment_variables(tmp_path: Path) -> None:
    from scorer.errors import ConfigError
    from scorer.npmrc import load_npmrc

    env = {"HOME": str(tmp_path / "home"), "AWS_SECRET_ACCESS_KEY": "s3cret", "NPM_TOKEN": "t0k"}
    project = tmp_path / "project"
    project.mkdir()
    (project / ".npmrc").write_text(
        "registry=https://evil.example.invalid/\n"
        "//evil.example.invalid/:_authToken=${AWS_SECRET_ACCESS_KEY}\n"
    )
    with pytest.raises(ConfigError, match=r"user \.npmrc"):
        load_npmrc(project, env)
    # The user's own .npmrc still expands, as npm does.
    user = tmp_path / "home" / ".npmrc"
    user.parent.mkdir()
    user.write_text("//registry.example.invalid/:_authToken=${NPM_TOKEN}\n")
    (project / ".npmrc").write_text("registry=https://registry.example.invalid/\n")
    npmrc = load_npmrc(project, env)
    assert "t0k" in npmrc.tokens.values()


def test_the_insights_token_goes_only_to_an_endpoint_the_user_named(tmp_path: Path) -> None:
    from scorer.errors import ConfigError
    from scorer.insights.client import resolve_endpoint

    env = {"PROVSCORE_INSIGHTS_TOKEN": "t0k"}
    repo_url = "https://collector.example.invalid/graphql"
    with pytest.raises(ConfigError, match="PROVSCORE_INSIGHTS_TOKEN_TO_CONFIG_URL=1"):
        resolve_endpoint(None, env, repo_url)
    assert resolve_endpoint(repo_url, env, None) == (repo_url, "t0k")
    assert resolve_endpoint(None, {**env, "PROVSCORE_INSIGHTS_URL": repo_url}) == (repo_url, "t0k")
    consent = {**env, "PROVSCORE_INSIGHTS_TOKEN_TO_CONFIG_URL": "1"}
    assert resolve_endpoint(None, consent, repo_url) == (repo_url, "t0k")
    assert resolve_endpoint(None, {}, repo_url) == (repo_url, None)  # no token, nothing to keep


# --- output ----------------------------------------------------------------------------------


@pytest.mark.parametrize("inside_cwd", [True, False])
def test_sarif_with_a_space_in_the_path_and_an_odd_id_stays_valid(
    tmp_path: Path, inside_cwd: bool
) -> None:
    from test_sarif import multitool_errors

    project = tmp_path / "my project"
    project.mkdir()
    lock = lockfile(project, {"chalk": {"version": "5.6.1", "resolved": tarball("chalk", "5.6.1")}})
    db = tmp_path / "db.json"
    db.write_text(json.dumps([mal("MAL-2025 1#x", "chalk", ["5.6.1"])]))
    cwd = tmp_path if inside_cwd else tmp_path / "home"
    cwd.mkdir(exist_ok=True)
    done = run_cli("audit", str(lock), "--db", str(db), "--format", "sarif", cwd=cwd)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    result = doc["runs"][0]["results"][0]
    where = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert " " not in where and "my%20project/package-lock.json" in where
    rule = doc["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule["helpUri"].endswith("/MAL-2025%201%23x")
    assert multitool_errors(doc, tmp_path) == []


def test_write_leaves_no_lock_file_behind_even_when_refused(tmp_path: Path) -> None:
    target = tmp_path / "out" / "db.json"
    assert _chalk_audit_write(tmp_path, target).returncode == 0
    assert sorted(p.name for p in target.parent.iterdir()) == ["db.json"]
    broken = tmp_path / "out" / "broken.json"
    broken.write_text("{not json")
    refused = _chalk_audit_write(tmp_path, broken)
    assert refused.returncode == 2
    assert sorted(p.name for p in target.parent.iterdir()) == ["broken.json", "db.json"]


@pytest.mark.parametrize(
    "entry", ["null", "3", '"x"', "[1]", "true"], ids=["null", "number", "string", "array", "bool"]
)
def test_error_messages_name_json_kinds_not_python_types(tmp_path: Path, entry: str) -> None:
    lock = tmp_path / "package-lock.json"
    lock.write_text(
        '{"name":"a","lockfileVersion":3,"packages":{"":{"name":"a"},"node_modules/x":'
        + entry
        + "}}"
    )
    db = tmp_path / "db.json"
    db.write_text("[]")
    done = run_cli("audit", str(lock), "--db", str(db), cwd=tmp_path)
    assert done.returncode == 2
    for python in ("NoneType", "int", "str", "list", "bool", "dict"):
        assert f" {python}," not in done.stderr and f"is {python}" not in done.stderr


def test_transport_problems_are_described_without_class_names() -> None:
    from scorer.retry import transport_retry

    assert transport_retry(httpx.ConnectError(""), "registry").problem == (
        "registry connection failed: could not connect"
    )
    assert "ConnectError" not in transport_retry(httpx.ConnectError("refused"), "x").problem


def test_the_readme_second_command_works_in_a_new_terminal_and_says_it_needs_npm() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = readme.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert commands[1].startswith(". .venv/bin/activate && ")
    assert "needs `npm`" in readme.split("## ", 1)[0]


@pytest.mark.parametrize("kind", ["streamed", "chunked", "gzip"])
def test_insights_answers_are_capped(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import scorer.insights.client as insights

    monkeypatch.setattr(insights, "MAX_ANSWER_BYTES", 1 << 20)
    asked_encoding = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked_encoding.append(request.headers.get("accept-encoding"))
        return _bomb(kind, 8 << 20)

    client = insights.InsightsClient(
        "http://insights.example.invalid/graphql",
        transport=httpx.MockTransport(answer),
        retries=1,
        backoff=0.0,
        max_backoff=0.0,
    )
    got = client.fetch_sync([("chalk", "5.6.1")])[("chalk", "5.6.1")]
    assert got.found is None
    why = got.reason("tor") or ""
    assert ("larger than 1 MiB" in why) or ("compressed (gzip)" in why), why
    assert asked_encoding == ["identity", "identity"]


def test_a_project_config_cannot_choose_the_server_feeding_the_shared_database(
    tmp_path: Path,
) -> None:
    lock = lockfile(
        tmp_path, {"chalk": {"version": "5.6.1", "resolved": tarball("chalk", "5.6.1")}}
    )
    (tmp_path / "provscore.toml").write_text('osv_url = "http://127.0.0.1:9"\n')
    done = run_cli("audit", str(lock), "--osv", "--write-cache", "--timeout", "2", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--write-cache" in done.stderr and "--osv-url" in done.stderr
    # Named on the command line, the same server is the user's choice (here: unreachable).
    done = run_cli(
        "audit", str(lock), "--osv", "--write-cache", "--osv-url", "http://127.0.0.1:9",
        "--timeout", "2", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
