"""The one table of fuzz targets: every reader of provscore, fed bytes the way the CLI feeds it.

Each `Target` is a function `(data: bytes) -> None` and its seeds. The function hands the bytes to
a real reader as the CLI would (written to a file when the reader takes a path, in one temporary
directory per process; served by an `httpx.MockTransport` or called as an ASGI app when the
reader is an HTTP client or server, so no socket is opened), then uses what it read as the
pipeline would next (matching, history reduction, features, suppressions). `check` runs a target
on one input: a `ProvscoreError` (the clean exit 2 naming the file, or exit 3) and the outcomes
each reader documents as data (an unusable registry document is retried and then unknown, an
unusable insights answer is unknown facts) are fine; any other exception is a crash, returned
as its traceback. bench/fuzz.py (atheris, coverage-guided) and tests/test_fuzz.py (hypothesis)
both run this table. Seeds are small real inputs: lockfiles written by the package managers
(tests/fixtures), OSV records and registry documents from the shared data (found through
`shared_data`; cut down at run time, never copied here), and our own formats built in code.
"""

from __future__ import annotations

import asyncio
import atexit
import io
import json
import re
import shutil
import sqlite3
import tempfile
import traceback
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import shared_data

from scorer.errors import ProvscoreError
from scorer.records import LockedPackage, SourceKind

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "tests" / "fixtures" / "lockfiles"
NOW = datetime(2026, 1, 15, tzinfo=UTC)
TODAY = NOW.date()

# `find(*parts) -> Path` for the shared data: shared_data.require in tests (skip or fail),
# shared_data.for_script in the benchmark (exit with the message).
Find = Callable[..., Path]


class FuzzFinding(AssertionError):
    """A reader returned, but broke a promise it makes (an HTTP 500 from the insights server,
    a history that does not survive the cache): counted as a crash, like an exception."""


@dataclass(frozen=True, slots=True)
class Target:
    """One reader under fuzzing. `kind` says how the seeds are structured (json, yaml, toml or
    bytes), for structure-aware mutation in the hypothesis tests."""

    name: str
    reads: str
    run: Callable[[bytes], None]
    seeds: Callable[[Find], list[bytes]]
    kind: str = "bytes"


def check(target: Target, data: bytes) -> str | None:
    """None when `target` handles `data` cleanly, else the traceback of what went wrong."""
    try:
        target.run(data)
    except ProvscoreError:
        return None  # the CLI prints it on one line (control characters escaped), exit 2 or 3
    except Exception:
        return traceback.format_exc()
    return None


# --- the working directory: one per process ----------------------------------------------------

_WORK: list[Path] = []


def workdir() -> Path:
    """A temporary directory for this process's inputs, removed at exit."""
    if not _WORK:
        path = Path(tempfile.mkdtemp(prefix="provscore-fuzz-"))
        atexit.register(shutil.rmtree, path, True)
        _WORK.append(path)
    return _WORK[0]


def put(relative: str, data: bytes) -> Path:
    """`data` written to `relative` in the working directory."""
    path = workdir() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def each(*calls: Callable[[], object]) -> None:
    """Run every call; a ProvscoreError of one does not keep the others from running (each is a
    reader of its own in the CLI), and the first one is raised at the end."""
    first: ProvscoreError | None = None
    for call in calls:
        try:
            call()
        except ProvscoreError as exc:
            first = first or exc
    if first is not None:
        raise first


def _dumps(value: object) -> bytes:
    return json.dumps(value, indent=1).encode()


def _registry(name: str, version: str) -> LockedPackage:
    return LockedPackage(name, version, SourceKind.REGISTRY)


# --- lockfiles ----------------------------------------------------------------------------------


def _use_lockfile(packages: tuple[LockedPackage, ...]) -> None:
    """What audit and verify do next: match every registry version against records for its
    name (with ranges, so every version string is parsed and compared), infer the registry,
    and check where each `resolved` URL points."""
    from scorer.npmrc import lockfile_origin
    from scorer.osv.advisories import Advisory, match

    names = sorted({p.name for p in packages})[:20]
    records = [
        Advisory.from_osv(
            {
                "id": f"MAL-FUZZ-{i}",
                "affected": [
                    {
                        "package": {"ecosystem": "npm", "name": name},
                        "ranges": [
                            {
                                "type": "SEMVER",
                                "events": [{"introduced": "1.0.0"}, {"fixed": "2.0.0"}],
                            }
                        ],
                        "versions": ["0.0.1-beta.1+build"],
                    }
                ],
            }
        )
        for i, name in enumerate(names)
    ]
    match(packages, records)
    lockfile_origin(packages)
    # audit's private-registry test and verify's origin check read every `resolved` URL.
    from scorer.origin import check_origin, private_origin

    registry = "https://registry.example.invalid/"
    for package in packages[:50]:
        private_origin(package, ["https://npm.example.invalid/private/", registry])
        check_origin(package, registry, "fuzz", ["cdn.example.invalid"])


def _lockfile(file_name: str) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        from scorer.lockfiles import read_lockfile

        _use_lockfile(read_lockfile(put(f"lock/{file_name}", data)).packages)

    return run


def _fixtures(*relative: str) -> Callable[[Find], list[bytes]]:
    def seeds(_find: Find) -> list[bytes]:
        return [(LOCKS / r).read_bytes() for r in relative]

    return seeds


NPM_LOCKS = (
    "npm1-tiny/package-lock.json",
    "npm2-tiny/package-lock.json",
    "npm3-tiny/package-lock.json",
    "edge/npm1-sources/package-lock.json",
    "edge/npm2-tree-only/package-lock.json",
    "edge/npm3-flags/package-lock.json",
    "edge/npm3-sources/package-lock.json",
    "edge/npm3-unversioned/package-lock.json",
    "edge/npm3-dev-optional/package-lock.json",
)
YARN_CLASSIC = ("yarn1-tiny/yarn.lock", "edge/yarn1-edge/yarn.lock")
YARN_BERRY = ("berry-tiny/yarn.lock", "edge/berry-edge/yarn.lock")
PNPM = (
    "pnpm5-tiny/pnpm-lock.yaml",
    "pnpm6-tiny/pnpm-lock.yaml",
    "pnpm9-tiny/pnpm-lock.yaml",
    "edge/pnpm5-hosts/pnpm-lock.yaml",
    "edge/pnpm6-peers/pnpm-lock.yaml",
    "edge/pnpm9-edge/pnpm-lock.yaml",
)
BUN = ("bun-tiny/bun.lock", "bun1-tiny/bun.lock", "edge/bun-edge/bun.lock")


def _npm_ex_seeds(_find: Find) -> list[bytes]:
    # The npm_ex fixtures under tests/fixtures/audit are 10 KB; cut one to a few entries.
    doc = json.loads((ROOT / "tests/fixtures/audit/clean/npm_ex/npm.lock").read_bytes())
    packages = dict(list(doc["packages"].items())[:4])
    return [_dumps({**doc, "packages": packages})]


def _unnamed_seeds(find: Find) -> list[bytes]:
    relative = (NPM_LOCKS[2], YARN_CLASSIC[0], YARN_BERRY[0], PNPM[2], BUN[0])
    return _fixtures(*relative)(find) + _npm_ex_seeds(find)


# --- OSV records and databases ------------------------------------------------------------------


def _osv_records(find: Find, count: int = 6) -> list[dict[str, Any]]:
    """A few small real records: malicious, withdrawn, with ranges and with versions, GHSA."""
    mal = sorted(find(shared_data.MAL_NPM).rglob("MAL-*.json"))
    ghsa = sorted(find(shared_data.GHSA_NPM).rglob("GHSA-*.json"))
    chosen = [p for p in mal if p.stat().st_size < 4096][:: max(1, len(mal) // count)][:count]
    chosen += [p for p in ghsa if p.stat().st_size < 4096][:2]
    return [json.loads(p.read_bytes()) for p in chosen]


def _osv_file_seeds(find: Find) -> list[bytes]:
    from scorer.osv.advisories import Advisory
    from scorer.osv.database import dump_database

    records = _osv_records(find)
    merged = dump_database([Advisory.from_osv(r) for r in records[:3]]).encode()
    return [
        _dumps(records[0]),  # one record
        _dumps(records[-1]),
        json.dumps(records[1:4]).encode(),  # an array, one line
        _dumps({"advisories": records[2:4], "about": "seed"}),
        merged,  # the merge format written by --write
    ]


def _osv_names(data: bytes) -> list[tuple[str, str]]:
    """(name, version) pairs to look up: the names the input mentions, a few versions."""
    names = list(
        dict.fromkeys(
            m.decode("utf-8", "replace")
            for m in re.findall(rb'"name"\s*:\s*"([^"\\]{1,80})"', data)
        )
    )[:6]
    versions = list(
        dict.fromkeys(
            m.decode("utf-8", "replace")
            for m in re.findall(rb'"(\d+\.\d+\.\d+[^"\\]{0,20})"', data)
        )
    )[:3]
    return [(n, v) for n in names for v in [*versions, "1.0.0"]]


def _index_lookups(location: Path, data: bytes) -> None:
    """`audit --db LOCATION`: the on-disk index, and lookups of the names the input mentions
    (deep defects of a record surface only when its package is looked up)."""
    from scorer.osv.advisories import group_advisories, incident_ids
    from scorer.osv.index import open_database

    index = open_database(location, cache_dir=workdir() / "index", workers=1)
    try:
        for found in index.lookup_many(_osv_names(data)):
            for group in group_advisories(found):
                incident_ids(group)
    finally:
        index.close()


def _merged_record() -> Any:
    from scorer.osv.advisories import Advisory

    return Advisory.from_osv(
        {
            "id": "MAL-FUZZ-MERGED",
            "modified": "2026-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "npm", "name": "fuzz"}, "versions": ["1.0.0"]}],
        }
    )


def _osv_json(data: bytes) -> None:
    """`audit --db FILE` (the index), the whole-file reader, and `--write FILE` onto it."""
    from scorer.osv.database import load_database, merge_database

    path = put("osv/db.json", data)
    each(
        lambda: _index_lookups(path, data),
        lambda: load_database(path),
        lambda: merge_database(path, [_merged_record()]),
    )


def _zip_of(members: Iterable[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content, method in members:
            archive.writestr(zipfile.ZipInfo(name, (2025, 9, 8, 0, 0, 0)), content, method)
    return buffer.getvalue()


def _osv_zip_seeds(find: Find) -> list[bytes]:
    records = _osv_records(find, 4)
    deflated, stored = zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED
    return [
        _zip_of([(f"{r['id']}.json", json.dumps(r).encode(), deflated) for r in records[:3]]),
        _zip_of([(f"{records[3]['id']}.json", json.dumps(records[3]).encode(), stored)]),
        _zip_of(
            [
                ("README.md", b"# not a record\n", stored),
                (f"osv/{records[0]['id']}.json", _dumps(records[0]), deflated),
            ]
        ),
    ]


def _osv_zip(data: bytes) -> None:
    """`audit --db all.zip` (the index) and the whole-archive reader."""
    from scorer.osv.database import load_database

    path = put("osv/all.zip", data)
    each(
        lambda: _index_lookups(path, data),
        lambda: load_database(path),
    )


def _osv_tree(data: bytes) -> None:
    """`audit --db DIR` on an OpenSSF-style tree holding this one record file."""
    from scorer.osv.database import load_database

    root = workdir() / "osv-tree"
    put("osv-tree/osv/malicious/npm/fuzz/MAL-FUZZ-1.json", data)
    each(
        lambda: _index_lookups(root, data),
        lambda: load_database(root),
    )


# --- OSV API answers (an httpx.MockTransport instead of the network) ----------------------------

FUZZ_ID = "MAL-FUZZ-1"
_BATCH_PACKAGES = (_registry("chalk", "5.6.1"), _registry("@ctrl/tinycolor", "4.1.1"))


def _query_osv(handler: Callable[[httpx.Request], httpx.Response]) -> None:
    from scorer.osv.client import OsvClient
    from scorer.retry import RetryPolicy

    async def no_sleep(_seconds: float) -> None:
        return None

    client = OsvClient(
        "http://osv.example.invalid",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=1),
        sleep=no_sleep,
    )
    asyncio.run(client.query(_BATCH_PACKAGES))


def _osv_record_for(request: httpx.Request) -> httpx.Response:
    ident = request.url.path.rsplit("/", 1)[-1]
    return httpx.Response(200, json={"id": ident, "modified": "2025-09-08T00:00:00Z"})


def _osv_batch(data: bytes) -> None:
    """POST /v1/querybatch answered with `data`; each id it names is then fetched."""

    def handler(request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/querybatch"):
            return _osv_record_for(request)
        queries = json.loads(request.content)["queries"]
        if any("page_token" in q for q in queries):  # later pages: nothing more
            return httpx.Response(200, json={"results": [{} for _ in queries]})
        return httpx.Response(200, content=data)

    _query_osv(handler)


def _osv_batch_seeds(_find: Find) -> list[bytes]:
    vuln = {"id": "MAL-2025-46969", "modified": "2025-09-08T13:19:14Z"}
    return [
        _dumps({"results": [{"vulns": [vuln]}, {}]}),
        _dumps({"results": [{"vulns": [vuln], "next_page_token": "t"}, {"vulns": []}]}),
        _dumps({"results": [{}, {}]}),
    ]


def _osv_vuln(data: bytes) -> None:
    """GET /v1/vulns/MAL-FUZZ-1 answered with `data`."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/querybatch"):
            return httpx.Response(200, json={"results": [{"vulns": [{"id": FUZZ_ID}]}, {}]})
        return httpx.Response(200, content=data)

    _query_osv(handler)


def _osv_vuln_seeds(find: Find) -> list[bytes]:
    # Real records answering for the id asked: under that id, or naming it as an alias.
    records = _osv_records(find, 4)
    own = [_dumps({**r, "id": FUZZ_ID}) for r in records[:3]]
    return [*own, _dumps({**records[-1], "aliases": [FUZZ_ID]})]


# --- registry documents -------------------------------------------------------------------------

_MANIFEST_KEYS = ("name", "version", "_npmUser", "maintainers", "dist", "scripts", "deprecated")


def _cut_packument(doc: Mapping[str, Any], keep: int = 4) -> dict[str, Any]:
    """A real document cut to its last `keep` versions and the fields the reduction reads."""
    versions = doc.get("versions") or {}
    chosen = list(versions)[-keep:]
    times = doc.get("time") or {}
    out = {k: v for k, v in doc.items() if k in ("name", "dist-tags", "maintainers")}
    out["versions"] = {
        v: {k: x for k, x in versions[v].items() if k in (*_MANIFEST_KEYS, "hasInstallScript")}
        for v in chosen
    }
    if times:
        out["time"] = {k: t for k, t in times.items() if k in ("created", "modified", *chosen)}
    return out


def _packument_seeds(find: Find) -> list[bytes]:
    mocks = find(shared_data.REGISTRY_MOCKS)
    seeds = []
    for name in ("chalk", "debug", "ms", "once"):
        path = mocks / f"{name}.json"
        if path.is_file():
            seeds.append(_dumps(_cut_packument(json.loads(path.read_bytes()))))
    for path in sorted(find(shared_data.PACOTE_FIXTURES).glob("*packument*.json"))[:2]:
        seeds.append(_dumps(_cut_packument(json.loads(path.read_bytes()))))
    return seeds


def _features_of(history: Any, versions: Iterable[str], document: Any = None) -> None:
    """The report's next steps for each version: signals, publication facts, features."""
    from scorer.features import FeatureSettings, feature_row
    from scorer.publication import merge
    from scorer.registry import FetchResult
    from scorer.signals import version_signals

    for version in [*list(versions)[:4], "0.0.0-not-published"]:
        if document is not None:
            fetched = FetchResult(history.name, "https://registry.example.invalid/", document, "x")
            merge(history.name, version, None, version_signals(fetched, version))
        feature_row(
            history.name,
            version,
            history,
            None,
            None,
            "no insights endpoint configured",
            now=NOW,
            settings=FeatureSettings(),
        )


def _packument(data: bytes) -> None:
    """A registry's 200 answer for a package document, decoded and reduced as `report` does."""
    from scorer.features import PackageHistory, package_history
    from scorer.registry import _document, decode_json  # the client's own decoding

    try:
        claimed = decode_json(data)
    except (ValueError, RecursionError):
        claimed = None
    name = claimed.get("name") if isinstance(claimed, dict) else None
    # Asked for the package the document names (another name is refused before any reading).
    document = _document(data, name if isinstance(name, str) else "fuzz")
    if isinstance(document, str):
        return  # documented: retried as a malformed document, then the package is unknown
    history = package_history(document)
    # The history cache stores `to_json` and reads it back: it must come back the same.
    again = PackageHistory.from_json(json.loads(json.dumps(history.to_json())))
    if again != history:
        raise FuzzFinding("a package history changed on its way through the history cache")
    _features_of(history, document["versions"], document)


_CACHES: list[Any] = []


def _history_row(data: bytes) -> None:
    """One row of the SQLite history cache holding `data` as its history (a damaged cache)."""
    from scorer.histories import FILE_NAME, HistoryCache

    if not _CACHES:
        directory = workdir() / "histories"
        directory.mkdir(exist_ok=True)
        _CACHES.append(HistoryCache(directory, warn=lambda _message: None))
        _CACHES.append(sqlite3.connect(directory / FILE_NAME))
    cache, db = _CACHES
    cache.get_many([])  # creates the file and its table on first use
    try:
        text: str | bytes = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data  # stored as a blob
    with db:
        db.execute(
            "INSERT OR REPLACE INTO histories VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("https://registry.example.invalid/", "fuzz", text, '"e"', None, 1e9, 300.0),
        )
    for entry in cache.get_many([("https://registry.example.invalid/", "fuzz")]).values():
        _features_of(entry.history, entry.history.records)


def _history_row_seeds(find: Find) -> list[bytes]:
    from scorer.features import package_history

    return [
        json.dumps(package_history(json.loads(s)).to_json()).encode()
        for s in _packument_seeds(find)[:4]
    ]


def _registry_offline(data: bytes) -> None:
    """`report --offline`: the bytes as the `--snapshot` file of a package, and as its entry in
    the document cache, each read by an offline client and reduced as `report` does."""
    import hashlib

    from scorer.npmrc import RegistrySelection
    from scorer.registry import RegistryClient

    registry = "https://registry.example.invalid/"
    selection = RegistrySelection(registry, "fuzz", True)
    snapshot = put("offline/snapshot/packuments/chalk.json", data).parent
    key = hashlib.sha256(registry.encode()).hexdigest()[:16]
    cache = put(f"offline/cache/{key}/chalk.json", data).parent.parent
    for client in (
        RegistryClient(selection, offline=True, snapshot_dir=snapshot),
        RegistryClient(selection, offline=True, cache_dir=cache),
    ):
        for result in client.fetch_histories_sync(["chalk"]).values():
            if result.history is not None:
                _features_of(result.history, result.history.records)
        for fetched in client.fetch_sync(["chalk"]).values():
            if fetched.document is not None:
                from scorer.signals import version_signals

                version_signals(fetched, "5.6.1")


def _registry_offline_seeds(find: Find) -> list[bytes]:
    documents = [json.loads(s) for s in _packument_seeds(find)[:3]]
    registry = "https://registry.example.invalid/"
    return [
        *(_dumps({"name": d.get("name"), "registry": registry, "document": d}) for d in documents),
        _dumps({"url": registry + "chalk", "etag": '"e"', "document": documents[0]}),
    ]


def _insights_snapshot(data: bytes) -> None:
    """`report --offline --snapshot DIR`: the bytes as a package's frozen insights answers,
    then what `report` does with an answer: publication facts and features."""
    from scorer.features import FeatureSettings, feature_row
    from scorer.gather import read_insights_snapshot
    from scorer.publication import merge

    directory = put("snapshot/insights/chalk.json", data).parent
    answers = read_insights_snapshot(directory, [("chalk", "5.6.1"), ("chalk", "5.6.0")])
    for (name, version), answer in answers.items():
        merge(name, version, answer, None)
        settings = FeatureSettings()
        feature_row(name, version, None, "no document", answer, "", now=NOW, settings=settings)


def _insights_snapshot_seeds(_find: Find) -> list[bytes]:
    from scorer.gather import write_insights_snapshot
    from scorer.insights.client import InsightsAnswer, unknown_answer

    answers = {
        ("chalk", "5.6.1"): InsightsAnswer(
            "chalk", "5.6.1", "https://insights.example.invalid/graphql", True, **INFO
        ),
        ("chalk", "5.6.0"): unknown_answer("chalk", "5.6.0", None, "no endpoint configured"),
    }
    directory = Path(tempfile.mkdtemp(prefix="provscore-fuzz-seed-"))
    try:
        write_insights_snapshot(directory, answers)
        return [(directory / "chalk.json").read_bytes()]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --- insights -----------------------------------------------------------------------------------

_INSIGHTS_KEYS = (("chalk", "5.6.1"), ("pg", "7.12.0"))
INFO = {"username": "brianc", "created": "2019-05-21T00:00:00.000Z", "tor": False, "tfa": True}


def _insights_answer(data: bytes) -> None:
    """The insights endpoint answering a batch with `data` (the report's non-strict client)."""
    from scorer.insights.client import InsightsClient

    async def no_sleep(_seconds: float) -> None:
        return None

    client = InsightsClient(
        "https://insights.example.invalid/graphql",
        transport=httpx.MockTransport(
            lambda _request: httpx.Response(
                200, content=data, headers={"content-type": "application/json"}
            )
        ),
        retries=0,
        sleep=no_sleep,
    )
    answers = client.fetch_sync(_INSIGHTS_KEYS)
    if list(answers) != list(_INSIGHTS_KEYS):
        raise FuzzFinding(f"answers for {list(answers)}, asked for {list(_INSIGHTS_KEYS)}")


def _insights_answer_seeds(_find: Find) -> list[bytes]:
    return [
        _dumps({"data": {"p0": {"publicationInfo": INFO}, "p1": None}}),
        _dumps(
            {
                "data": {"p0": None, "p1": {"publicationInfo": {**INFO, "tor": None}}},
                "errors": [{"message": "no such version", "path": ["p0"]}],
            }
        ),
        _dumps({"errors": [{"message": "rate limited"}]}),
    ]


_SERVER: list[Any] = []


def _insights_server(data: bytes) -> None:
    """A POST /graphql with body `data` to the mock insights server (its ASGI app, no socket)."""
    from scorer.insights.data import PublicationRecord
    from scorer.insights.server import build_app

    if not _SERVER:
        record = PublicationRecord("pg", "7.12.0", "brianc", INFO["created"], False, True, None)
        _SERVER.append(build_app({record.key: record}, max_aliases=50))
        _SERVER.append(asyncio.new_event_loop())
    app, loop = _SERVER
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[Mapping[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)

    loop.run_until_complete(app(scope, receive, send))
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    if status is None or status >= 500:
        raise FuzzFinding(f"the insights server answered {status}")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    try:
        json.loads(body)
    except ValueError:
        raise FuzzFinding(f"the insights server answered HTTP {status} with non-JSON") from None


def _insights_server_seeds(_find: Find) -> list[bytes]:
    from scorer.insights.client import build_query

    text, variables = build_query([("pg", "7.12.0"), ("chalk", "5.6.1")])
    return [
        json.dumps({"query": text, "variables": variables}).encode(),
        json.dumps({"query": "{ __typename }"}).encode(),
        json.dumps(
            {
                "query": 'query { package(name: "pg", version: "7.12.0") { ...F } } '
                "fragment F on Package { publicationInfo { username tor } }",
                "operationName": None,
            }
        ).encode(),
    ]


def _insights_data(suffix: str) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        from scorer.insights.data import load_many

        load_many([put(f"insights/records{suffix}", data)])

    return run


def _insights_data_seeds(suffix: str) -> Callable[[Find], list[bytes]]:
    def seeds(_find: Find) -> list[bytes]:
        return [p.read_bytes() for p in sorted((ROOT / "data" / "insights").glob(f"*{suffix}"))]

    return seeds


# --- configuration ------------------------------------------------------------------------------


def _use_config(config: Any) -> None:
    """Every key through its typed getter, the timeout, and the suppressions applied."""
    from scorer.config import KEYS, Kind, resolve_timeout
    from scorer.suppressions import split_suppressed

    for key, kind in KEYS.items():
        if kind is Kind.STR:
            config.get_str(key)
        elif kind is Kind.PATH:
            config.get_path(key)
        elif kind is Kind.BOOL:
            config.get_bool(key)
        elif kind is Kind.STR_LIST:
            config.get_str_list(key)
        else:
            config.get_number(key)
    each(lambda: resolve_timeout(None, {}, config, 120.0))
    findings = [("chalk@5.6.1", ("MAL-2025-46969", "GHSA-x")), ("debug@4.4.2", ())]
    split_suppressed(findings, config.suppressions, TODAY)


def _config(file_name: str) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        from scorer.config import find_config

        put(f"config-{file_name}/{file_name}", data)
        _use_config(find_config(workdir() / f"config-{file_name}" / "sub"))

    return run


_CONFIG = b"""\
compromised_policy = "error"
compromised_db = "osv/db.json"
osv_url = "https://osv.example.invalid"
registry = "https://registry.example.invalid/"
risk_policy = "warn"
risk_warn = 40
risk_error = 80.5
cooldown_days = 7
offline = false
verify_allowed_hosts = ["cdn.example.invalid"]
timeout = 90
"""
_SUPPRESS = b"""\
[[suppress]]
id = "MAL-2025-46969"
reason = "reviewed: the lockfile pins a rebuilt copy"
until = 2026-03-01

[[suppress]]
package = "@ctrl/tinycolor@4.1.1"
reason = "internal mirror"
until = "2025-12-31"
"""


def _config_seeds(_find: Find) -> list[bytes]:
    return [_CONFIG, _CONFIG + b"\n" + _SUPPRESS, b'scorer = "trained"\nreport_verify = true\n']


def _pyproject_seeds(_find: Find) -> list[bytes]:
    head = b'[project]\nname = "app"\n\n[tool.provscore]\n'
    return [
        head + _CONFIG,
        head + b'risk_policy = "off"\n\n' + _SUPPRESS.replace(b"[[", b"[[tool.provscore."),
    ]


def _suppression_seeds(_find: Find) -> list[bytes]:
    return [_SUPPRESS, b'[[suppress]]\nid = "GHSA-x"\nreason = "r"\n']


_NPMRC_ENV = {"NPM_TOKEN": "npm_fuzz", "HOME": "/nonexistent"}


def _npmrc(data: bytes) -> None:
    """The bytes as the user .npmrc (`${VAR}` expanded) and as the project .npmrc (kept as
    written, and refused in a token), each loaded alone, then the registry chosen."""
    from scorer.npmrc import load_npmrc

    user = put("npmrc/user/.npmrc", data)
    project = put("npmrc/project/.npmrc", data).parent
    nowhere = workdir() / "npmrc" / "absent"
    each(
        lambda: _use_npmrc(load_npmrc(None, _NPMRC_ENV, user)),
        lambda: _use_npmrc(load_npmrc(project, _NPMRC_ENV, nowhere)),
    )


def _use_npmrc(npmrc: Any) -> None:
    from scorer.npmrc import select_registry, token_for

    selection = select_registry(None, {}, npmrc, (_registry("@scope/x", "1.0.0"),))
    selection.describe()
    for name in ("chalk", "@scope/x", *(f"{scope}/x" for scope in npmrc.scopes)):
        token_for(npmrc, selection.for_package(name) + name)


def _npmrc_seeds(_find: Find) -> list[bytes]:
    return [
        b"registry=https://registry.example.invalid/\n"
        b"@scope:registry=https://npm.example.invalid/scope/\n"
        b"//npm.example.invalid/scope/:_authToken=npm_abc\n",
        b'; comment\n# comment\n[section]\nregistry = "http://127.0.0.1:4873"\nstrict-ssl\n'
        b"//127.0.0.1:4873/:_authToken=local\nemail=${NPM_TOKEN}\ncafile=${MISSING?}\n",
        b"registry=https://registry.example.invalid\nemail=\\${NOT_EXPANDED}\n",
    ]


def _reviews(data: bytes) -> None:
    from scorer.reviews import read_reviews, split_reviews

    split_reviews(read_reviews(put("reviews/reviews.csv", data)), TODAY)


def _reviews_seeds(_find: Find) -> list[bytes]:
    return [
        b"name,version,verdict,reason,reviewer,date,until\n"
        b"chalk,5.6.0,benign,diffed against 5.5.0,ana,2025-09-09,2026-09-09\n"
        b'@ctrl/tinycolor,4.1.1,malicious,"worm, see incident",bo,2025-09-16,\n',
        b"\xef\xbb\xbfname,version,verdict,reason,reviewer,date\n"
        b'debug,4.4.1,benign,"quoted ""reason""",cy,2025-09-08\n',
    ]


def _weights(data: bytes) -> None:
    from scorer.scoring import load_scorer

    load_scorer("weighted", weights=put("weights/weights.toml", data))


def _model(data: bytes) -> None:
    from scorer.scoring import load_scorer

    load_scorer("trained", model=put("model/model.json", data))


def _verify_keys(data: bytes) -> None:
    """`verify_keys` in provscore.toml: registry signing keys pinned in a file."""
    from scorer.config import Config
    from scorer.verify import _pinned_keys  # the CLI's reader of the pinned file

    put("keys/keys.json", data)
    config = Config(workdir() / "keys" / "provscore.toml", {"verify_keys": "keys.json"})
    _pinned_keys(config, "https://registry.example.invalid/")


def _verify_keys_seeds(find: Find) -> list[bytes]:
    return [(find(shared_data.NPM_SIGNATURES) / "keys.json").read_bytes()]


# --- the table ----------------------------------------------------------------------------------


def _lock(name: str, file_name: str, seeds: tuple[str, ...], kind: str) -> Target:
    return Target(
        name, f"read_lockfile({file_name})", _lockfile(file_name), _fixtures(*seeds), kind
    )


TARGETS: tuple[Target, ...] = (
    _lock("package_lock", "package-lock.json", NPM_LOCKS, "json"),
    _lock("shrinkwrap", "npm-shrinkwrap.json", ("shrinkwrap-tiny/npm-shrinkwrap.json",), "json"),
    _lock("yarn_classic", "yarn.lock", YARN_CLASSIC, "bytes"),
    _lock("yarn_berry", "yarn.lock", YARN_BERRY, "yaml"),
    _lock("pnpm", "pnpm-lock.yaml", PNPM, "yaml"),
    _lock("bun", "bun.lock", BUN, "json"),
    Target("npm_ex", "read_lockfile(npm.lock)", _lockfile("npm.lock"), _npm_ex_seeds, "json"),
    Target(
        "lockfile_sniffed",
        "read_lockfile(lockfile): format sniffed",
        _lockfile("lockfile"),
        _unnamed_seeds,
    ),
    Target(
        "osv_json",
        "open_database / load_database / merge_database on a JSON file",
        _osv_json,
        _osv_file_seeds,
        "json",
    ),
    Target("osv_zip", "open_database / load_database on all.zip", _osv_zip, _osv_zip_seeds),
    Target(
        "osv_tree",
        "open_database / load_database on a directory tree",
        _osv_tree,
        lambda find: _osv_file_seeds(find)[:2],
        "json",
    ),
    Target(
        "osv_api_batch",
        "OsvClient: POST /v1/querybatch answer",
        _osv_batch,
        _osv_batch_seeds,
        "json",
    ),
    Target(
        "osv_api_vuln", "OsvClient: GET /v1/vulns/ID answer", _osv_vuln, _osv_vuln_seeds, "json"
    ),
    Target(
        "packument",
        "registry document -> history, signals, features",
        _packument,
        _packument_seeds,
        "json",
    ),
    Target(
        "history_cache",
        "HistoryCache row -> PackageHistory",
        _history_row,
        _history_row_seeds,
        "json",
    ),
    Target(
        "registry_offline",
        "RegistryClient offline: --snapshot file and document cache entry",
        _registry_offline,
        _registry_offline_seeds,
        "json",
    ),
    Target(
        "insights_snapshot",
        "read_insights_snapshot: --snapshot insights file",
        _insights_snapshot,
        _insights_snapshot_seeds,
        "json",
    ),
    Target(
        "insights_answer",
        "InsightsClient: GraphQL answer",
        _insights_answer,
        _insights_answer_seeds,
        "json",
    ),
    Target(
        "insights_server",
        "insights server: POST /graphql body",
        _insights_server,
        _insights_server_seeds,
        "json",
    ),
    Target(
        "insights_data_json",
        "insights data file (JSON)",
        _insights_data(".json"),
        _insights_data_seeds(".json"),
        "json",
    ),
    Target(
        "insights_data_csv",
        "insights data file (CSV)",
        _insights_data(".csv"),
        _insights_data_seeds(".csv"),
    ),
    Target(
        "config", "find_config: provscore.toml", _config("provscore.toml"), _config_seeds, "toml"
    ),
    Target(
        "pyproject",
        "find_config: pyproject.toml [tool.provscore]",
        _config("pyproject.toml"),
        _pyproject_seeds,
        "toml",
    ),
    Target(
        "suppressions",
        "find_config: [[suppress]] -> split_suppressed",
        _config("provscore.toml"),
        _suppression_seeds,
        "toml",
    ),
    Target("npmrc", "load_npmrc (project and user) -> select_registry", _npmrc, _npmrc_seeds),
    Target("reviews", "read_reviews (CSV)", _reviews, _reviews_seeds),
    Target(
        "weights",
        "load_scorer(weighted, weights=TOML)",
        _weights,
        lambda _find: [(ROOT / "scorer" / "weights.toml").read_bytes()],
        "toml",
    ),
    Target(
        "model",
        "load_scorer(trained, model=JSON)",
        _model,
        lambda _find: [(ROOT / "models" / "provscore-trained.json").read_bytes()],
        "json",
    ),
    Target(
        "verify_keys", "verify_keys: pinned registry keys", _verify_keys, _verify_keys_seeds, "json"
    ),
)
BY_NAME: dict[str, Target] = {t.name: t for t in TARGETS}


__all__ = ["BY_NAME", "TARGETS", "FuzzFinding", "Target", "check"]
