"""The local mock insights server: the published schema served over HTTP from a data file.

Ariadne (schema-first) builds the executable schema straight from `schema.graphql`, so the file we
ship as "the published schema" is the one the server enforces — there is no second description of
the types in Python classes to drift from it (which a code-first library such as strawberry would
need). Uvicorn is the ASGI server. The server answers POST /graphql with JSON; unknown versions are
`null`. Hostile input is refused with GraphQL errors rather than crashes: oversized bodies (413),
queries nested deeper than the schema allows, and documents with too many aliases (validation
errors). `latency` delays every request, for the benchmark.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    validate,
)

from scorer.insights.data import PublicationRecord, load_many

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
MAX_BODY_BYTES = 1_000_000
MAX_DEPTH = 4  # package -> publicationInfo -> field is 3; one spare for __typename probes
MAX_ALIASES = 500  # five default client batches' worth; more is a mistake or an attack
# Bounds checked before any GraphQL work, because that work is what an attack makes costly:
# the client sends one operation of at most MAX_ALIASES aliases (about 15,000 tokens) and flat
# string variables. 20,000 named operations cost 2.5 s of CPU to validate, and variables
# nested 100,000 arrays deep overflowed the stack (an HTTP 500).
MAX_TOKENS = 40_000
MAX_OPERATIONS = 16
MAX_VARIABLE_DEPTH = 16

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _depth(
    selection_set: SelectionSetNode | None, fragments: Mapping[str, Any], seen: frozenset[str]
) -> int:
    if selection_set is None:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            deepest = max(deepest, 1 + _depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, _depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:  # cycles are reported by another rule
                deepest = max(deepest, _depth(fragment.selection_set, fragments, seen | {name}))
    return deepest


def limit_rules(
    max_depth: int = MAX_DEPTH, max_aliases: int = MAX_ALIASES
) -> list[type[ASTValidationRule]]:
    """Validation rules refusing documents too deep or with too many aliases."""

    class DepthLimit(ASTValidationRule):
        def enter_document(self, node: Any, *_args: Any) -> None:
            fragments = {
                d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
            }
            for definition in node.definitions:
                if isinstance(definition, FragmentDefinitionNode):
                    continue
                depth = _depth(getattr(definition, "selection_set", None), fragments, frozenset())
                if depth > max_depth:
                    self.report_error(
                        GraphQLError(f"query depth {depth} exceeds the limit of {max_depth}")
                    )

    class AliasLimit(ASTValidationRule):
        count = 0

        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            if node.alias is not None:
                self.count += 1
                if self.count == max_aliases + 1:  # report once, not once per extra alias
                    self.report_error(
                        GraphQLError(f"more than {max_aliases} aliases in one document")
                    )

    return [DepthLimit, AliasLimit]


def build_app(
    records: Mapping[tuple[str, str], PublicationRecord],
    *,
    latency: float = 0.0,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_DEPTH,
    max_aliases: int = MAX_ALIASES,
) -> ASGIApp:
    """The ASGI app answering `Query.package` from `records`."""
    from ariadne import QueryType, make_executable_schema
    from ariadne.asgi import GraphQL

    query = QueryType()

    @query.field("package")
    def resolve_package(_obj: Any, _info: Any, name: str, version: str) -> dict[str, Any] | None:
        record = records.get((name, version))
        if record is None:
            return None
        return {
            "publicationInfo": {
                "username": record.username,
                "created": record.created,
                "tor": record.tor,
                "tfa": record.tfa,
            }
        }

    schema = make_executable_schema(SCHEMA_PATH.read_text(encoding="utf-8"), query)
    # Ariadne logs every client mistake (bad query, limits) at ERROR level; those are answered
    # to the client as GraphQL errors and are not faults of the server, so keep stderr quiet.
    quiet = logging.getLogger("scorer.insights.server.requests")
    quiet.setLevel(logging.CRITICAL)
    parse_cache = _DocumentCache()
    graphql_app = GraphQL(
        schema,
        validation_rules=limit_rules(max_depth, max_aliases),
        logger=quiet.name,
        query_parser=parse_cache.parse,
        query_validator=parse_cache.validate,
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off; websockets are not part of the API
            return
        if scope["path"].rstrip("/") != "/graphql":
            await _json(send, 404, {"errors": [{"message": "not found; POST /graphql"}]})
            return
        if latency:
            await asyncio.sleep(latency)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            await _json(send, 413, _too_large(max_body_bytes))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body_bytes:  # chunked bodies carry no length: count as we read
                await _json(send, 413, _too_large(max_body_bytes))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = _not_graphql_json(dict(scope["headers"]), body)
        if problem:
            await _json(send, 400, {"errors": [{"message": problem}]})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await graphql_app(scope, replay, send)

    return app


class _DocumentCache:
    """Parse and validate each distinct query text once.

    Batching clients send the same document shape again and again with new variables; parsing
    and validating a 100-alias document costs tens of milliseconds of CPU, which would otherwise
    dominate the server's time. Bounded, so a client sending unique queries cannot grow it.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()
        self._errors: dict[int, list[GraphQLError]] = {}

    def parse(self, _context: Any, data: dict[str, Any]) -> DocumentNode:
        text = data["query"]
        document = self._documents.get(text)
        if document is None:
            document = parse(text, max_tokens=MAX_TOKENS)
            operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
            if operations > MAX_OPERATIONS:
                raise GraphQLError(f"more than {MAX_OPERATIONS} operations in one document")
            self._documents[text] = document
            if len(self._documents) > self.size:
                _, evicted = self._documents.popitem(last=False)
                self._errors.pop(id(evicted), None)
        self._documents.move_to_end(text)
        return document

    def validate(
        self, schema: GraphQLSchema, document_ast: DocumentNode, *args: Any, **kwargs: Any
    ) -> list[GraphQLError]:
        key = id(document_ast)
        if key not in self._errors or not any(d is document_ast for d in self._documents.values()):
            self._errors[key] = validate(schema, document_ast, *args, **kwargs)
        return self._errors[key]


def _not_graphql_json(headers: Mapping[bytes, bytes], body: bytes) -> str | None:
    """Why the body is not a GraphQL-over-HTTP JSON request, so the answer is a GraphQL error
    (Ariadne itself would answer some of these in plain text)."""
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type != b"application/json":
        return "POST a JSON body with content-type application/json"
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "request body is not valid JSON"
    except RecursionError:
        return "request body is nested too deeply"
    if not isinstance(payload, dict):  # batched (list) requests are not part of this API
        return "request body must be one JSON object with a query"
    if _nesting(payload.get("variables"), MAX_VARIABLE_DEPTH) > MAX_VARIABLE_DEPTH:
        return f"variables nested more than {MAX_VARIABLE_DEPTH} levels deep"
    return None


def _nesting(value: object, limit: int) -> int:
    """How deeply arrays and objects nest in `value` (a scalar is 0), counted without recursion
    and no further than `limit` + 1."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth) for child in children)
    return deepest


def _too_large(limit: int) -> dict[str, Any]:
    return {"errors": [{"message": f"request body larger than {limit} bytes"}]}


async def _json(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/graphql"


def _server(app: ASGIApp) -> Any:
    import uvicorn

    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    return uvicorn.Server(config)


def serve(
    data_paths: Path | str | Sequence[Path | str],
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    latency: float = 0.0,
    echo: Callable[[str], None] = print,
) -> None:
    """Serve the data files until interrupted (blocking). Prints the URL it listens on.

    `port=0` picks a free port. A malformed data file raises `InputError` before binding.
    """
    paths = [data_paths] if isinstance(data_paths, str | Path) else list(data_paths)
    records = load_many(paths)
    server = _server(build_app(records, latency=latency))
    sock = _bind(host, port)
    echo(f"insights server: {_url(sock, host)} ({len(records)} records)")
    server.run(sockets=[sock])


@contextmanager
def running_server(
    records: Mapping[tuple[str, str], PublicationRecord],
    host: str = "127.0.0.1",
    *,
    latency: float = 0.0,
    **limits: int,
) -> Iterator[str]:
    """Run the server in a background thread on a free port; yields its /graphql URL."""
    server = _server(build_app(records, latency=latency, **limits))
    sock = _bind(host, 0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("insights mock server did not start")
        time.sleep(0.01)
    try:
        yield _url(sock, host)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
