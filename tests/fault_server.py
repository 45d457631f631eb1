"""A fault-injecting local server for the OSV, registry and insights clients, on 127.0.0.1.

One real HTTP server (the stdlib's threaded server; a fault is staged on the raw socket, which an
ASGI server would hide) serves three APIs from given data: the OSV API under `/osv`
(`POST /osv/v1/querybatch`, `GET /osv/v1/vulns/{id}`; matching is tests/osv_server.py's
independent implementation), registry package documents under `/registry/` and the insights
GraphQL endpoint at `/graphql` (executed by graphql-core against the shipped schema). Each
request may be answered with a fault: from a queue planned by a test (`plan`), else drawn from a
seeded schedule (`Schedule`: a rate and the kinds to draw from). Every fault injected is recorded
(`injected`: kind, method, path), so a run can be checked against exactly what it was given.

Stopping closes every open connection (a stalled or dripping answer included) and joins every
thread the server started, so nothing outlives `stop()`.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import random
import select
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from osv_server import affects

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "scorer" / "insights" / "schema.graphql"

# What a fault does to the request it hits (see `FaultServer._fault`).
FAULT_KINDS = (
    "reset",  # RST before any header
    "close",  # FIN before any header
    "close_mid_body",  # a chunked body cut off without its last chunk
    "lying_length",  # Content-Length says more than is sent, then the connection closes
    "stall",  # reads the request, never answers
    "drip",  # headers, then one body byte a second
    "status_500",
    "status_502",
    "status_503",
    "429_retry_small",  # Retry-After: 1
    "429_retry_huge",  # Retry-After: a day
    "429_retry_date",  # Retry-After: an HTTP date an hour ahead
    "429_retry_garbage",  # Retry-After: not a number nor a date
    "503_retry_small",
    "503_retry_huge",
    "503_retry_date",
    "503_retry_garbage",
    "invalid_json",  # 200 with a body that is not JSON
    "wrong_shape",  # 200 with valid JSON that is not what the API documents
    "wrong_id",  # 200 with another record (OSV) or another package's document (registry)
    "gzip_bomb",  # 200, Content-Encoding gzip, 512 MiB of spaces in about 0.5 MB
    "oversized",  # 200 with a 1 GiB body, streamed until the client hangs up
    "redirect_other_host",  # 302 to another host
    "redirect_loop",  # 301 to the same URL
    "wrong_content_type",  # the right JSON, labelled text/html
    "slow_headers",  # the right answer, its headers one byte at a time over ~2 s
)
# Faults after which the answer is still the right one: a client may use it.
HARMLESS = frozenset({"slow_headers", "wrong_content_type"})
# Faults only meaningful where an answer names what it is about.
ID_FAULTS = frozenset({"wrong_id"})

BOMB_BYTES = 512 * 2**20
OVERSIZED_BYTES = 2**30
SLOW_HEADER_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Schedule:
    """Faults drawn per request: with probability `rate`, one of `kinds` that applies to the
    endpoint (uniformly), from a generator seeded with `seed`."""

    seed: int = 0
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")


@dataclass(frozen=True, slots=True)
class Injected:
    """One fault the server injected."""

    kind: str
    method: str
    path: str
    api: str  # osv, registry or insights


@dataclass(frozen=True, slots=True)
class Served:
    """One request the server received, and the fault it was answered with (None: none)."""

    method: str
    path: str
    api: str
    fault: str | None


def api_of(path: str) -> str:
    if path.startswith("/osv/"):
        return "osv"
    if path.startswith("/registry/"):
        return "registry"
    if path.split("?")[0].rstrip("/") == "/graphql":
        return "insights"
    return "other"


def applies(kind: str, method: str, path: str) -> bool:
    """Whether fault `kind` makes sense for this request: `wrong_id` needs an answer about one
    thing (an OSV record, a registry document)."""
    if kind in ID_FAULTS:
        return (method == "GET" and path.startswith("/osv/v1/vulns/")) or path.startswith(
            "/registry/"
        )
    return True


@cache
def gzip_bomb() -> bytes:
    """BOMB_BYTES of spaces, gzip-compressed (built once per process: about 0.5 MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * 2**20
    out = [packer.compress(block) for _ in range(BOMB_BYTES // len(block))]
    out.append(packer.flush())
    return b"".join(out)


@cache
def _schema() -> Any:
    from graphql import build_schema

    return build_schema(SCHEMA.read_text(encoding="utf-8"))


class _Server(ThreadingHTTPServer):
    # Handler threads are joined by server_close (block_on_close), not abandoned as daemons.
    daemon_threads = False
    block_on_close = True
    request_queue_size = 128

    def __init__(self, owner: FaultServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (deadline, killed run) breaks the pipe mid-answer: expected.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FaultServer:
    """The server; a context manager, or `start()` / `stop()`. `osv_url`, `registry_url` and
    `insights_url` are the three APIs' base URLs as the CLI takes them."""

    def __init__(
        self,
        *,
        osv: Mapping[str, Mapping[str, Any]] | None = None,
        registry: Mapping[str, Mapping[str, Any]] | None = None,
        insights: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
        schedule: Schedule | None = None,
    ) -> None:
        self.osv = dict(osv or {})
        self.registry = dict(registry or {})
        self.insights = dict(insights or {})
        self.schedule = schedule or Schedule()
        self._rng = random.Random(self.schedule.seed)
        self._planned: list[tuple[str, list[str]]] = []
        self.injected: list[Injected] = []
        self.served: list[Served] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd = _Server(self)
        self._thread: threading.Thread | None = None

    # -- life ---------------------------------------------------------------------------------
    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def osv_url(self) -> str:
        return self.base + "/osv"

    @property
    def registry_url(self) -> str:
        return self.base + "/registry/"

    @property
    def insights_url(self) -> str:
        return self.base + "/graphql"

    def start(self) -> FaultServer:
        if self.schedule.rate > 0 and "gzip_bomb" in self.schedule.kinds:
            gzip_bomb()  # built once per process (about 1 s): not while a client waits
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fault-server",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release stalled answers, close every connection, join every thread."""
        self.stopping.set()
        self._httpd.shutdown()
        with self._lock:
            open_now = list(self._connections)
        for conn in open_now:  # wakes handlers blocked reading a keep-alive connection
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()  # joins the handler threads (block_on_close)
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------------------
    def plan(self, prefix: str, *kinds: str) -> None:
        """Answer the next requests whose path starts with `prefix` with `kinds`, in order
        (None-like "ok" entries answer normally), before the schedule is consulted."""
        for kind in kinds:
            if kind != "ok" and kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
        if "gzip_bomb" in kinds:
            gzip_bomb()
        with self._lock:
            self._planned.append((prefix, list(kinds)))

    def _draw(self, method: str, path: str) -> str | None:
        with self._lock:
            for prefix, queue in self._planned:
                if queue and path.startswith(prefix):
                    kind = queue.pop(0)
                    return None if kind == "ok" else kind
            if self.schedule.rate <= 0 or self._rng.random() >= self.schedule.rate:
                return None
            kinds = [k for k in self.schedule.kinds if applies(k, method, path)]
            return self._rng.choice(kinds) if kinds else None

    def _record(self, method: str, path: str, fault: str | None) -> None:
        api = api_of(path)
        with self._lock:
            self.served.append(Served(method, path, api, fault))
            if fault is not None:
                self.injected.append(Injected(fault, method, path, api))

    def _pick(self, options: list[Any]) -> Any:
        with self._lock:
            return self._rng.choice(options)

    def faults_by_kind(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for item in self.injected:
                counts[item.kind] = counts.get(item.kind, 0) + 1
            return counts

    # -- the three APIs -----------------------------------------------------------------------
    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """The right answer to a request: (status, JSON payload)."""
        if method == "POST" and path == "/osv/v1/querybatch":
            return self._querybatch(_json_or_none(body))
        if method == "GET" and path.startswith("/osv/v1/vulns/"):
            record = self.osv.get(unquote(path.removeprefix("/osv/v1/vulns/")))
            return (200, record) if record is not None else (404, {"message": "Bug not found."})
        if method == "GET" and path.startswith("/registry/"):
            name = unquote(path.removeprefix("/registry/").split("?")[0])
            document = self.registry.get(name)
            return (200, document) if document is not None else (404, {"error": "Not found"})
        if method == "POST" and api_of(path) == "insights":
            return self._graphql(_json_or_none(body))
        return 404, {"message": "not found"}

    def _querybatch(self, body: Any) -> tuple[int, Any]:
        queries = body.get("queries") if isinstance(body, dict) else None
        if not isinstance(queries, list) or len(queries) > 1000:
            return 400, {"code": 3, "message": "Invalid query."}
        results = []
        for query in queries:
            package = query.get("package") or {}
            name, version = str(package.get("name")), str(query.get("version"))
            ids = sorted(i for i, r in self.osv.items() if affects(r, name, version))
            vulns = [{"id": i, "modified": self.osv[i].get("modified")} for i in ids]
            results.append({"vulns": vulns} if vulns else {})
        return 200, {"results": results}

    def _graphql(self, body: Any) -> tuple[int, Any]:
        from graphql import graphql_sync

        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return 400, {"errors": [{"message": "POST a JSON body with a query"}]}

        def package(_info: Any, name: str, version: str) -> Any:
            record = self.insights.get((name, version))
            return None if record is None else {"publicationInfo": dict(record)}

        result = graphql_sync(
            _schema(),
            body["query"],
            root_value={"package": package},
            variable_values=body.get("variables"),
            operation_name=body.get("operationName"),
        )
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        return 200, payload

    def wrong_id_answer(self, path: str) -> tuple[int, Any] | None:
        """Another record than the one asked for: the newest other OSV record, marked withdrawn
        and newer (the poisoning attack of issue 9); or another package's document."""
        if path.startswith("/osv/v1/vulns/"):
            asked = unquote(path.removeprefix("/osv/v1/vulns/"))
            others = sorted(i for i in self.osv if i != asked)
            if not others:
                return None
            forged = dict(self.osv[self._pick(others)])
            forged["withdrawn"] = "2020-01-01T00:00:00Z"
            forged["modified"] = "2099-01-01T00:00:00Z"
            return 200, forged
        if not path.startswith("/registry/"):
            return None
        asked = unquote(path.removeprefix("/registry/").split("?")[0])
        others = sorted(n for n in self.registry if n != asked)
        return (200, self.registry[self._pick(others)]) if others else None

    def wrong_shape(self, path: str) -> Any:
        if path.endswith("/querybatch"):
            options: list[Any] = [{"results": "none"}, {"results": []}, [], {"results": [7]}]
        elif path.startswith("/osv/"):
            options = [[], {"id": 7}, {"id": "X", "affected": "npm"}, "record"]
        elif path.startswith("/registry/"):
            options = [[], {"versions": []}, {"name": 1, "versions": {"1.0.0": "x"}}, "doc"]
        else:
            options = [
                [],
                {"data": []},
                {"data": {"p0": "package"}},
                {"data": None},
                {"errors": "no"},
                {"errors": []},
                "x",
            ]
        return self._pick(options)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real services
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *_args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.owner._lock:
            self.server.owner._connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.owner._lock:
            self.server.owner._connections.discard(self.connection)

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length") or "0"
        self._serve(self.rfile.read(int(length)) if length.isdigit() else b"")

    # -- one answer ---------------------------------------------------------------------------
    def _serve(self, body: bytes) -> None:
        owner = self.server.owner
        path = self.path
        fault = owner._draw(self.command, path)
        status, payload = owner.answer(self.command, path, body)
        if fault == "wrong_id":
            swapped = owner.wrong_id_answer(path)
            if swapped is None or status != 200:
                fault = None  # nothing else to answer with: answered normally
            else:
                status, payload = swapped
        owner._record(self.command, path, fault)
        data = json.dumps(payload).encode()
        if fault is None:
            self._send(status, data)
        else:
            self._fault(fault, status, data)

    def _send(
        self,
        status: int,
        data: bytes,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _fault(self, kind: str, status: int, data: bytes) -> None:
        owner = self.server.owner
        if kind in ("reset", "close"):
            self._drop(reset=kind == "reset")
        elif kind == "stall":
            self._wait_for_hangup(None)
            self._drop(reset=False)
        elif kind == "drip":
            self._head(200, {"Content-Length": "100000"})
            self._wait_for_hangup(lambda: self.wfile.write(b" "))
            self._drop(reset=False)
        elif kind.startswith("status_"):
            self._send(int(kind.removeprefix("status_")), b'{"message": "injected"}')
        elif kind.startswith(("429_", "503_")):
            code, _, which = kind.split("_", 2)
            later = email.utils.formatdate(time.time() + 3600, usegmt=True)
            value = {"small": "1", "huge": "86400", "date": later, "garbage": "soon-ish"}[which]
            self._send(int(code), b'{"message": "slow down"}', {"Retry-After": value})
        elif kind == "invalid_json":
            self._send(200, data[: max(1, len(data) // 2)] + b"<html>")
        elif kind == "wrong_shape":
            self._send(200, json.dumps(owner.wrong_shape(self.path)).encode())
        elif kind == "wrong_id":
            self._send(status, data)
        elif kind == "lying_length":
            self._head(status, {"Content-Length": str(len(data) + 1000)})
            self.wfile.write(data[: len(data) // 2])
            self._drop(reset=False)
        elif kind == "close_mid_body":
            self._head(status, {"Transfer-Encoding": "chunked"})
            half = data[: max(1, len(data) // 2)]
            self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
            self.wfile.flush()
            self._drop(reset=False)
        elif kind == "gzip_bomb":
            self._send(200, gzip_bomb(), {"Content-Encoding": "gzip"})
        elif kind == "oversized":
            self._head(200, {"Content-Length": str(OVERSIZED_BYTES)})
            block = b" " * 2**16
            for _ in range(OVERSIZED_BYTES // len(block)):
                if owner.stopping.is_set():
                    break
                self.wfile.write(block)  # a client that hung up ends this with an OSError
            self._drop(reset=False)
        elif kind in ("redirect_other_host", "redirect_loop"):
            target = (
                "http://elsewhere.example.invalid" + self.path
                if kind == "redirect_other_host"
                else owner.base + self.path
            )
            code = 302 if kind == "redirect_other_host" else 301
            self._send(code, b"", {"Location": target})
        elif kind == "wrong_content_type":
            self._send(status, data, content_type="text/html; charset=utf-8")
        elif kind == "slow_headers":
            self._slow(status, data)
        else:  # pragma: no cover - FAULT_KINDS and this method are kept in step by a test
            raise AssertionError(kind)

    def _head(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.flush()

    def _slow(self, status: int, data: bytes) -> None:
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        pause = SLOW_HEADER_SECONDS / len(head)
        for i in range(len(head)):
            if self.server.owner.stopping.wait(pause):
                return self._drop(reset=False)
            self.wfile.write(head[i : i + 1])
            self.wfile.flush()
        self.wfile.write(data)
        return None

    def _wait_for_hangup(self, tick: Any) -> None:
        """Until the server stops or the client hangs up; `tick()` once a second meanwhile."""
        stopping = self.server.owner.stopping
        while not stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 1.0)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return  # EOF: the client is gone
                except OSError:
                    return
                # More bytes from a client that has not hung up: nothing to read them for.
                stopping.wait(1.0)
            if tick is not None:
                try:
                    tick()
                    self.wfile.flush()
                except OSError:
                    return

    def _drop(self, *, reset: bool) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            if reset:  # SO_LINGER 0: close() sends RST
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            else:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.connection.close()


@contextlib.contextmanager
def fault_server(**options: Any) -> Iterator[FaultServer]:
    """`FaultServer(**options)`, started, stopped (and its threads joined) on exit."""
    server = FaultServer(**options).start()
    try:
        yield server
    finally:
        server.stop()
