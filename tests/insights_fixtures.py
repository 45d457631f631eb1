"""Test helpers: real packuments, constructed variants of them, and a local registry server.

The real documents are npm/cli and npm/pacote test fixtures in the shared data (found by
tests/shared_data.py: tests that use them skip where it is absent). The constructed documents are
derived from the real `has-package-exports` packument by changing exactly one fact between 1.2.3
and 1.3.0; each carries `_provscore_constructed` saying what changed, so nobody mistakes them for
observed data.
"""

from __future__ import annotations

import copy
import email.utils
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import shared_data

# Short name -> (shared data folder, file): npm/cli commit 780afc50e3a3 (Artistic-2.0) and
# npm/pacote commit 3b5c462a96 (ISC); ../shared/data/README.md gives provenance and licences.
REAL = {
    "has-package-exports": (shared_data.NPM_CLI_MOCKS, "has-package-exports.json"),
    "events": (shared_data.NPM_CLI_MOCKS, "events.json"),
    "fsevents-min": (shared_data.NPM_CLI_MOCKS, "fsevents.min.json"),
    "abbrev": (shared_data.PACOTE_FIXTURES, "abbrev-packument-full.json"),
}


def real(name: str) -> dict[str, Any]:
    """A real registry document from the shared data (the test skips where it is absent)."""
    folder, file = REAL[name]
    path = shared_data.require(folder, file)
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _variant(name: str, note: str) -> dict[str, Any]:
    doc = copy.deepcopy(real("has-package-exports"))
    doc["name"] = doc["_id"] = name
    doc["_provscore_constructed"] = (
        f"constructed from has-package-exports (npm/cli fixture): {note}"
    )
    return doc


def constructed() -> dict[str, dict[str, Any]]:
    """Name -> constructed document. 1.2.3 is the 'before' and 1.3.0 the 'after' version."""
    docs: dict[str, dict[str, Any]] = {}

    doc = _variant("constructed-trusted-lost", "1.2.3 trusted-published, 1.3.0 by a personal token")
    doc["versions"]["1.2.3"]["_npmUser"] = {
        "name": "GitHub Actions",
        "email": "npm-oidc-no-reply@github.com",
        "trustedPublisher": {"id": "github", "oidcConfigId": "oidc:00000000-constructed"},
    }
    docs[doc["name"]] = doc

    doc = _variant("constructed-provenance-lost", "1.2.3 has dist.attestations, 1.3.0 has none")
    doc["versions"]["1.2.3"]["dist"]["attestations"] = {
        "url": "https://registry.example.invalid/-/npm/v1/attestations/has-package-exports@1.2.3",
        "provenance": {"predicateType": "https://slsa.dev/provenance/v1"},
    }
    docs[doc["name"]] = doc

    doc = _variant("constructed-install-script", "1.3.0 adds a postinstall script")
    doc["versions"]["1.3.0"]["scripts"]["postinstall"] = "node collect.js"
    docs[doc["name"]] = doc

    doc = _variant("constructed-publisher-changed", "1.3.0 published by another account")
    doc["versions"]["1.3.0"]["_npmUser"] = {
        "name": "mallory-example",
        "email": "m@mail.example.invalid",
    }
    docs[doc["name"]] = doc

    doc = _variant("constructed-stripped", "_npmUser and maintainers removed, as some mirrors do")
    doc.pop("maintainers", None)
    for manifest in doc["versions"].values():
        manifest.pop("_npmUser", None)
        manifest.pop("maintainers", None)
    docs[doc["name"]] = doc
    return docs


def escaped(name: str) -> str:
    return name.replace("/", "%2f")


@dataclass
class RegistryServer:
    """State of the local registry: documents, queued faults per name, and what was asked."""

    documents: dict[str, Any]
    latency: float = 0.0
    max_age: int | None = None  # sent as Cache-Control max-age on 200 and 304, as registries do
    faults: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    _bodies: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def body(self, name: str) -> tuple[bytes, str]:
        if name not in self._bodies:
            data = json.dumps(self.documents[name]).encode()
            self._bodies[name] = (data, '"' + hashlib.sha1(data).hexdigest() + '"')
        return self._bodies[name]

    def next_fault(self, name: str) -> str | None:
        with self.lock:
            queue = self.faults.get(name)
            return queue.pop(0) if queue else None


LAST_MODIFIED = email.utils.formatdate(1_700_000_000, usegmt=True)


def _handler(state: RegistryServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real registry
        # Headers and body go out in two writes: with Nagle's algorithm the body waits for the
        # client's delayed ACK of the headers, adding ~40 ms to every response.
        disable_nagle_algorithm = True

        def log_message(self, *_args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            name = unquote(self.path.lstrip("/").split("?")[0])
            with state.lock:
                state.requests.append((name, {k.lower(): v for k, v in self.headers.items()}))
            if state.latency:
                time.sleep(state.latency)
            fault = state.next_fault(name)
            if fault == "hang":
                time.sleep(1.0)
                return self._send(500, b"{}")
            if fault == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                self.close_connection = True
                self.connection.close()
                return None
            if fault and fault.startswith("redirect:"):  # e.g. a mirror sending us elsewhere
                return self._send(302, b"", {"Location": fault.removeprefix("redirect:")})
            if fault and fault.startswith("status:"):
                _, code, *retry = fault.split(":")
                return self._send(
                    int(code), b'{"error":"injected"}', {"Retry-After": retry[0]} if retry else {}
                )
            if name not in state.documents:
                return self._send(404, b'{"error":"Not found"}')
            data, etag = state.body(name)
            fresh = {} if state.max_age is None else {"Cache-Control": f"max-age={state.max_age}"}
            if self.headers.get("If-None-Match") == etag:
                return self._send(304, b"", {"ETag": etag, **fresh})
            if fault == "truncate":
                data = data[: len(data) // 2]
            elif fault == "malformed":
                data = b"<html>gateway error</html>"
            return self._send(200, data, {"ETag": etag, "Last-Modified": LAST_MODIFIED, **fresh})

        def _send(self, status: int, data: bytes, headers: Mapping[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if status != 304:
                self.wfile.write(data)

    return Handler


@contextmanager
def registry_server(
    documents: Mapping[str, Any], latency: float = 0.0, max_age: int | None = None
) -> Iterator[RegistryServer]:
    """A stdlib HTTP registry on 127.0.0.1 in a thread; `state.url` is its base URL. `max_age`
    (changeable later through `state.max_age`) is sent as Cache-Control, as registries do."""
    state = RegistryServer(dict(documents), latency, max_age)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
