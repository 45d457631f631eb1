"""A mock OSV API on 127.0.0.1 for tests and benchmarks, with fault injection.

It serves `POST /v1/querybatch` (at most 1000 queries, else HTTP 400 as the real API does;
results paged with `next_page_token` after `page_size` vulns; only `id` and `modified` per
vuln) and `GET /v1/vulns/{id}` (404 for an unknown id) from a set of OSV records. Matching is
deliberately an independent implementation of the OSV evaluation pseudocode over the `semver`
package's `Version` ordering, not provscore's own version keys, so a bug in one shows up as a
disagreement. It is the stdlib `ThreadingHTTPServer` (HTTP/1.1 keep-alive) in a background
thread: no extra dependency, and a hang or reset can be staged on the raw socket, which an ASGI
server would hide. Faults are queued per test with `add_fault`; every request is logged.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import semver

MAX_QUERIES = 1000
FAULT_KINDS = ("hang", "reset", "status", "429", "truncate", "malformed", "shape")


def _version(text: str) -> semver.Version | None:
    try:
        return semver.Version.parse(text)
    except (ValueError, TypeError):
        return None


def _in_range(version: semver.Version, events: list[dict[str, str]]) -> bool:
    # The OSV schema's IncludedInRanges written out plainly on semver.Version, with provscore's
    # documented policy for bad bounds: an unreadable `introduced` means "0", an unreadable
    # `fixed` / `last_affected` / `limit` is ignored.
    limits = [e["limit"] for e in events if "limit" in e]
    bounded = [v for v in (_version(lim) for lim in limits if "*" not in lim) if v is not None]
    if bounded and not any("*" in lim for lim in limits) and not any(version < v for v in bounded):
        return False
    walk: list[tuple[int, semver.Version | None, str]] = []
    for event in events:
        for kind in ("introduced", "fixed", "last_affected"):
            if kind in event:
                bound = _version(event[kind])
                if kind == "introduced" and bound is None:
                    walk.append((0, None, kind))
                elif bound is not None:
                    walk.append((1, bound, kind))
    vulnerable = False
    zero = semver.Version(0)
    for _, bound, kind in sorted(walk, key=lambda w: (w[0], zero if w[1] is None else w[1])):
        if kind == "introduced":
            vulnerable = vulnerable or bound is None or version >= bound
        elif version > bound or (kind == "fixed" and version == bound):
            vulnerable = False
    return vulnerable


def affects(record: Mapping[str, Any], name: str, version: str) -> bool:
    """Whether the record reports npm `name@version` (withdrawn records never do)."""
    if record.get("withdrawn"):
        return False
    parsed = _version(version)
    for entry in record.get("affected") or []:
        package = entry.get("package") or {}
        if package.get("name") != name or str(package.get("ecosystem", "")).lower() != "npm":
            continue
        versions, ranges = entry.get("versions") or [], entry.get("ranges") or []
        if (not versions and not ranges) or version in versions:
            return True
        if parsed is not None and any(
            rng.get("type") in ("SEMVER", "ECOSYSTEM")
            and _in_range(parsed, rng.get("events") or [])
            for rng in ranges
        ):
            return True
    return False


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a client opening two dozen connections at
    # once gets SYNs dropped and retried a second later, which would look like server latency.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, test over) breaks the pipe mid-answer: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Fault:
    """One injected failure, applied to the next `count` requests whose path starts with
    `path` (any path when None). `status` is the code of a "status" fault; `retry_after` the
    header of a "429" fault."""

    kind: str
    count: int = 1
    path: str | None = None
    status: int = 500
    retry_after: str | None = None


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    queries: int | None  # number of queries in a querybatch body
    fault: str | None
    at: float


class MockOsvServer:
    """The server. Use as a context manager or call start()/stop(); `url` is its base URL."""

    def __init__(
        self,
        records: Iterable[Mapping[str, Any]] = (),
        *,
        page_size: int = 1000,
        latency: float = 0.0,
        hang_seconds: float = 5.0,
    ) -> None:
        self.records: dict[str, Mapping[str, Any]] = {r["id"]: r for r in records}
        self._by_name: dict[str, list[str]] | None = None
        self.page_size = page_size
        self.latency = latency
        self.hang_seconds = hang_seconds
        self.requests: list[LoggedRequest] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> MockOsvServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MockOsvServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_fault(self, kind: str, count: int = 1, path: str | None = None, **options: Any) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        with self._lock:
            self._faults.append(Fault(kind, count, path, **options))

    def count(self, path_prefix: str = "/") -> int:
        with self._lock:
            return sum(r.path.startswith(path_prefix) for r in self.requests)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and (fault.path is None or path.startswith(fault.path)):
                    fault.count -= 1
                    return fault
        return None

    def _log(self, method: str, path: str, queries: int | None, fault: Fault | None) -> None:
        with self._lock:
            self.requests.append(
                LoggedRequest(method, path, queries, fault.kind if fault else None, time.time())
            )

    # --- answers -------------------------------------------------------------------------
    def querybatch(self, body: Any) -> tuple[int, Any]:
        queries = body.get("queries") if isinstance(body, dict) else None
        if not isinstance(queries, list):
            return 400, {"code": 3, "message": "Invalid query."}
        if len(queries) > MAX_QUERIES:
            return 400, {"code": 3, "message": f"Too many queries (max {MAX_QUERIES})."}
        results = []
        for query in queries:
            package = query.get("package") or {}
            name, version = package.get("name"), query.get("version")
            candidates = self._index().get(str(name), [])
            ids = [i for i in candidates if affects(self.records[i], str(name), str(version))]
            start = int(query.get("page_token") or 0)
            page = ids[start : start + self.page_size]
            result: dict[str, Any] = {}
            if page:
                result["vulns"] = [{"id": i, "modified": self.records[i]["modified"]} for i in page]
            if start + self.page_size < len(ids):
                result["next_page_token"] = str(start + self.page_size)
            results.append(result)
        return 200, {"results": results}

    def _index(self) -> dict[str, list[str]]:
        # Built on first use, so a test may still edit `records` before sending requests.
        with self._lock:
            if self._by_name is None:
                index: dict[str, set[str]] = {}
                for ident, rec in self.records.items():
                    for entry in rec.get("affected") or []:
                        name = (entry.get("package") or {}).get("name")
                        index.setdefault(str(name), set()).add(ident)
                self._by_name = {name: sorted(ids) for name, ids in index.items()}
            return self._by_name

    def vuln(self, ident: str) -> tuple[int, Any]:
        record = self.records.get(ident)
        if record is None:
            return 404, {"code": 5, "message": "Bug not found."}
        return 200, record


def _make_handler(server: MockOsvServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real API and httpx expect

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes; without this, Nagle's algorithm and
            # delayed ACKs add ~40 ms to every answer and swamp any latency being measured.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            queries = body.get("queries") if isinstance(body, dict) else None
            count = len(queries) if isinstance(queries, list) else None
            if self.path != "/v1/querybatch":
                self._answer(self.path, count, 404, {"code": 5, "message": "Not found."})
            else:
                status, payload = server.querybatch(body)
                self._answer(self.path, count, status, payload)

        def do_GET(self) -> None:
            prefix = "/v1/vulns/"
            if self.path.startswith(prefix):
                status, payload = server.vuln(unquote(self.path[len(prefix) :]))
            else:
                status, payload = 404, {"code": 5, "message": "Not found."}
            self._answer(self.path, None, status, payload)

        def _answer(self, path: str, queries: int | None, status: int, payload: Any) -> None:
            fault = server._take_fault(path)
            server._log(self.command, path, queries, fault)
            if server.latency:
                time.sleep(server.latency)
            body = json.dumps(payload).encode()
            headers: dict[str, str] = {}
            if fault is not None:
                if fault.kind == "hang":
                    server._stopping.wait(server.hang_seconds)
                    self._drop(reset=False)
                    return
                if fault.kind == "reset":
                    self._drop(reset=True)
                    return
                if fault.kind == "status":
                    status, body = fault.status, b'{"code": 13, "message": "Internal error."}'
                elif fault.kind == "429":
                    status, body = 429, b'{"code": 8, "message": "Too many requests."}'
                    if fault.retry_after is not None:
                        headers["Retry-After"] = fault.retry_after
                elif fault.kind == "malformed":
                    status, body = 200, b'{"results": [{"vulns": [{"id": '
                elif fault.kind == "shape":
                    status, body = 200, b'{"unexpected": true}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if fault is not None and fault.kind == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self._drop(reset=False)
                return
            self.wfile.write(body)

        def _drop(self, *, reset: bool) -> None:
            if reset:
                # SO_LINGER 0 makes close() send RST: the client sees a connection reset.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            self.close_connection = True
            if not reset:
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()

    return Handler
