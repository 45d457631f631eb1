"""The OSV, registry and insights clients against tests/fault_server.py, through the real CLI.

Every fault kind the server can inject, against every client, with the exact outcome: the OSV
gate fails closed (exit 3, the message naming the request, the database given to --write left
untouched) unless the answer was still the right one; registry and insights faults leave facts
unknown with the reason (exit 3 and the source named under --strict). Then the regressions the
fault campaign (bench/faults.py) found, a small seeded campaign that must come out clean, and
proof that the campaign's checks can fail.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_server import FAULT_KINDS, HARMLESS, FaultServer, Schedule, Served
from report_cases import ROOT, provscore

_spec = importlib.util.spec_from_file_location("bench_faults", ROOT / "bench" / "faults.py")
assert _spec is not None and _spec.loader is not None
campaign = importlib.util.module_from_spec(_spec)
sys.modules["bench_faults"] = campaign
_spec.loader.exec_module(campaign)

DATA = campaign.build_data(fillers=20)
# --timeout of the runs: long enough for every retry a fault leaves room for (the registry's
# take up to 1.75 s before insights is asked), short where the deadline is what ends them.
TIMEOUT = "2"
REPORT_TIMEOUT = "4"
INSIGHTS_TIMEOUT = "6"
SLOW_TIMEOUT = "8"  # for the harmless faults: slow headers take 2 s per answer
# flt-pkg-02@1.1.0 adds a postinstall script and was published over Tor (it is also malicious
# on the server: MAL-2025-F002); flt-pkg-04@1.1.0 was published without 2FA (MAL-2025-F004).
LOCKED = [("flt-pkg-02", "1.1.0"), ("flt-pkg-04", "1.1.0")]
MALICIOUS = {"MAL-2025-F002", "MAL-2025-F004"}
PERSIST = 60  # planned faults per API: more than any client asks within its deadline


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """A fault server holding the campaign's data; its threads are gone once the test ends."""
    before = set(threading.enumerate())
    with FaultServer(osv=DATA.osv, registry=DATA.registry, insights=DATA.insights) as served:
        yield served
    assert set(threading.enumerate()) - before == set()


def _lock(tmp: Path) -> Path:
    return campaign.write_lockfile(tmp / "app", LOCKED, None)


def _audit(
    tmp: Path, server: FaultServer, target: Path, timeout: str = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return provscore(
        "audit", str(_lock(tmp)), "--osv", "--osv-url", server.osv_url, "--format", "json",
        "--write", str(target), "--timeout", timeout, cwd=tmp,
    )  # fmt: skip


def _report(
    tmp: Path, server: FaultServer, *extra: str, timeout: str = REPORT_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    db = tmp / "empty-db.json"
    db.write_text("[]")
    return provscore(
        "report", str(_lock(tmp)), "--db", str(db), "--registry", server.registry_url,
        "--insights-url", server.insights_url, "--format", "json", "--now", campaign.NOW,
        "--timeout", timeout, *extra, cwd=tmp,
    )  # fmt: skip


def _entries(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert "Traceback" not in done.stderr, done.stderr
    return {p["name"]: p for p in json.loads(done.stdout)["packages"]}


def _why(entry: dict[str, Any], feature: str) -> str:
    return {u["feature"]: u["why"] for u in entry["unknown"]}.get(feature, "")


def _persist(server: FaultServer, prefix: str, kind: str) -> None:
    server.plan(prefix, *[kind] * PERSIST)


# What each fault, repeated on every request, leaves as the reason (any of these words).
_TRANSPORT = ("connection failed",)
_LATE = ("deadline",)
_COMMON: dict[str, tuple[str, ...]] = {
    "reset": _TRANSPORT,
    "close": _TRANSPORT,
    "close_mid_body": _TRANSPORT,
    "lying_length": _TRANSPORT,
    "stall": _LATE,
    "drip": _LATE,
    **{f"status_{c}": (f"HTTP {c}",) for c in (500, 502, 503)},
    **{f"{c}_retry_{w}": (f"HTTP {c}",) for c in (429, 503) for w in ("small", "huge", "date")},
    **{f"{c}_retry_garbage": (f"HTTP {c}",) for c in (429, 503)},
    "redirect_other_host": ("HTTP 302",),
    "redirect_loop": ("HTTP 301",),
}
OSV_WHY = {
    **_COMMON,
    "invalid_json": ("malformed answer",),
    "wrong_shape": ("malformed answer",),
    "wrong_id": ("answered with record",),
    "gzip_bomb": ("larger than 64 MiB", *_LATE),
    "oversized": ("larger than 64 MiB", *_LATE),
}
REGISTRY_WHY = {
    **_COMMON,
    "invalid_json": ("malformed document",),
    "wrong_shape": ("malformed document", "names no package"),
    "wrong_id": ("registry sent the document of",),
    "gzip_bomb": ("larger than 256 MiB", *_LATE),
    "oversized": ("larger than 256 MiB", *_LATE),
}
INSIGHTS_WHY = {
    **_COMMON,
    "invalid_json": ("unusable answer",),
    "wrong_shape": ("wrong shape", "unusable answer"),
    "gzip_bomb": ("compressed (gzip)",),
    "oversized": ("larger than 16 MiB", *_LATE),
}


def test_every_fault_kind_has_an_expected_outcome_for_every_client() -> None:
    assert set(OSV_WHY) | HARMLESS == set(FAULT_KINDS)
    assert set(REGISTRY_WHY) | HARMLESS == set(FAULT_KINDS)
    # wrong_id does not apply to GraphQL (an answer names no record): answered normally.
    assert set(INSIGHTS_WHY) | HARMLESS | {"wrong_id"} == set(FAULT_KINDS)


# --- every fault kind against every client ------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """One CLI run against a server that answered every request of one API with one fault."""

    done: subprocess.CompletedProcess[str]
    base: str  # the server's base URL
    faulted: frozenset[str]  # the paths the server answered with the fault
    before: bytes | None = None  # the --write target before and after the run
    after: bytes | None = None


def _matrix(
    root: Path, prefix: str, run: Callable[[Path, FaultServer, str], Ran]
) -> dict[str, Ran]:
    """`run` once per fault kind, each with its own server faulting every request under
    `prefix`, four at a time (most of a run is waiting for a deadline or a retry)."""
    before = set(threading.enumerate())

    def one(kind: str) -> Ran:
        tmp = root / kind
        tmp.mkdir()
        with FaultServer(osv=DATA.osv, registry=DATA.registry, insights=DATA.insights) as server:
            _persist(server, prefix, kind)
            return run(tmp, server, kind)

    with ThreadPoolExecutor(4) as pool:
        results = dict(zip(FAULT_KINDS, pool.map(one, FAULT_KINDS), strict=True))
    assert set(threading.enumerate()) - before == set()  # every server thread joined
    return results


def _faulted(server: FaultServer) -> frozenset[str]:
    return frozenset(f.path for f in server.injected)


@pytest.fixture(scope="module")
def osv_matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    def run(tmp: Path, server: FaultServer, kind: str) -> Ran:
        target = tmp / "project-db.json"
        target.write_text(json.dumps([DATA.initial[i] for i in sorted(DATA.initial)[:2]]))
        before = target.read_bytes()
        timeout = SLOW_TIMEOUT if kind in HARMLESS else TIMEOUT
        done = _audit(tmp, server, target, timeout)
        return Ran(done, server.base, _faulted(server), before, target.read_bytes())

    return _matrix(tmp_path_factory.mktemp("osv"), "/osv/", run)


def _report_run(tmp: Path, server: FaultServer, kind: str, timeout: str) -> Ran:
    done = _report(tmp, server, timeout=SLOW_TIMEOUT if kind in HARMLESS else timeout)
    return Ran(done, server.base, _faulted(server))


@pytest.fixture(scope="module")
def registry_matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    return _matrix(
        tmp_path_factory.mktemp("registry"),
        "/registry/",
        lambda tmp, server, kind: _report_run(tmp, server, kind, REPORT_TIMEOUT),
    )


@pytest.fixture(scope="module")
def insights_matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    # Room for all five attempts and their backoff (up to 3.75 s) after the registry.
    return _matrix(
        tmp_path_factory.mktemp("insights"),
        "/graphql",
        lambda tmp, server, kind: _report_run(tmp, server, kind, INSIGHTS_TIMEOUT),
    )


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_osv_fault_fails_the_gate_closed_and_writes_nothing(
    osv_matrix: dict[str, Ran], kind: str
) -> None:
    ran = osv_matrix[kind]
    done = ran.done
    assert "Traceback" not in done.stderr, done.stderr
    if kind in HARMLESS:  # the right answer, slowly or mislabelled: the gate decides on it
        assert done.returncode == 1, done.stderr
        found = {i for f in json.loads(done.stdout)["findings"] for i in f["ids"]}
        assert found >= MALICIOUS
        assert {r["id"] for r in json.loads(ran.after or b"[]")} >= MALICIOUS
        return
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("provscore: error: OSV API"), message
    assert any(ran.base + path in message for path in ran.faulted), (message, ran.faulted)
    assert any(why in message for why in OSV_WHY[kind]), message
    assert ran.after == ran.before  # nothing merged from a failed run


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_registry_fault_leaves_its_facts_unknown_with_the_reason(
    registry_matrix: dict[str, Ran], kind: str
) -> None:
    done = registry_matrix[kind].done
    assert done.returncode == 0, done.stderr
    entries = _entries(done)
    script = entries["flt-pkg-02"]
    if "tor" not in script["facts"]:
        # The registry's retries (a Retry-After of 1 s, three times) or its stall spent the
        # deadline: insights was given no time, and says so.
        assert "deadline" in _why(script, "tor")
    else:
        assert script["facts"]["tor"] == {"value": True, "source": "insights"}
    if kind in HARMLESS:
        assert script["facts"]["install_scripts"] == {
            "value": ["postinstall"],
            "source": "registry",
        }
        return
    for entry in entries.values():
        registry_facts = [k for k, f in entry["facts"].items() if "registry" in f["source"]]
        assert registry_facts == [], registry_facts
        why = _why(entry, "install_script_added")
        assert any(w in why for w in REGISTRY_WHY[kind]), why
        assert "install_script_added" not in {r["feature"] for r in entry["reasons"]}


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_insights_fault_leaves_tor_and_2fa_unknown_with_the_reason(
    insights_matrix: dict[str, Ran], kind: str
) -> None:
    done = insights_matrix[kind].done
    assert done.returncode == 0, done.stderr
    entries = _entries(done)
    registry = entries["flt-pkg-02"]["facts"]["install_scripts"]
    assert registry == {"value": ["postinstall"], "source": "registry"}  # the registry answered
    if kind in HARMLESS or kind == "wrong_id":
        assert entries["flt-pkg-02"]["facts"]["tor"]["value"] is True
        assert entries["flt-pkg-04"]["facts"]["tfa"]["value"] is False
        return
    for entry in entries.values():
        assert "tor" not in entry["facts"] and "tfa" not in entry["facts"]
        for feature in ("tor", "no_2fa"):
            why = _why(entry, feature)
            assert any(w in why for w in INSIGHTS_WHY[kind]), why


# --- --strict and --osv -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "kind", "named"),
    [
        ("/registry/", "status_503", "registry"),
        ("/registry/", "redirect_other_host", "registry"),
        ("/registry/flt-pkg-04", "lying_length", "registry"),
        ("/graphql", "reset", "insights endpoint"),
        ("/graphql", "429_retry_huge", "insights endpoint"),
        ("/graphql", "gzip_bomb", "insights endpoint"),
    ],
)
def test_strict_report_fails_closed_naming_the_source(
    tmp_path: Path, server: FaultServer, prefix: str, kind: str, named: str
) -> None:
    _persist(server, prefix, kind)
    done = _report(tmp_path, server, "--strict")
    assert done.returncode == 3, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    url = server.registry_url if named == "registry" else server.insights_url
    assert f"{named} {url}" in done.stderr, done.stderr


def test_report_online_fails_closed_on_an_osv_fault_even_without_strict(
    tmp_path: Path, server: FaultServer
) -> None:
    _persist(server, "/osv/v1/vulns/", "status_502")
    done = _report(tmp_path, server, "--osv", "--osv-url", server.osv_url)
    assert done.returncode == 3, done.stderr
    assert "OSV API GET " + server.osv_url + "/v1/vulns/" in done.stderr


# --- regressions found by the fault campaign -----------------------------------------------------


def test_a_registry_answering_with_another_packages_document_is_not_believed(
    tmp_path: Path, server: FaultServer
) -> None:
    """A registry (or a proxy or cache before it) that answers with another package's document
    lent that package's history to this one: wrong facts, and exit 0 under --strict."""
    _persist(server, "/registry/flt-pkg-02", "wrong_id")
    done = _report(tmp_path, server)
    assert done.returncode == 0, done.stderr
    entry = _entries(done)["flt-pkg-02"]
    assert [k for k, f in entry["facts"].items() if "registry" in f["source"]] == []
    assert "registry sent the document of 'flt-pkg-" in _why(entry, "install_script_added")
    strict = _report(tmp_path, server, "--strict")
    assert strict.returncode == 3, strict.stderr
    assert "when asked for 'flt-pkg-02'" in strict.stderr


def test_a_registry_document_is_used_once_the_right_one_arrives(server: FaultServer) -> None:
    from scorer.npmrc import RegistrySelection
    from scorer.registry import RegistryClient

    server.plan("/registry/flt-pkg-02", "wrong_id", "wrong_id")
    client = RegistryClient(
        RegistrySelection(server.registry_url, "--registry", True), backoff=0.0, max_backoff=0.0
    )
    result = client.fetch_sync(["flt-pkg-02"])["flt-pkg-02"]
    assert result.document is not None and result.document["name"] == "flt-pkg-02"
    assert client.stats.retries == 2


@pytest.mark.parametrize(
    "body",
    [
        {"data": []},
        {"data": {"p0": "package"}},
        {"data": {"p0": {"publicationInfo": 5}}},
        {"errors": "no"},
        {"data": {"p0": None}, "errors": [5]},
        {"data": None},  # gql asserted on these two: a traceback and exit 1
        {"errors": []},
    ],
)
def test_an_insights_answer_of_the_wrong_shape_is_a_failed_batch(body: object) -> None:
    """Read as data, these passed as versions the service knew nothing about (or as "n", "o":
    the letters of an errors string), and --strict exited 0."""
    from scorer.errors import SourceUnreachable
    from scorer.insights.client import InsightsClient

    def client(strict: bool) -> InsightsClient:
        return InsightsClient(
            "http://insights.example.invalid/graphql",
            transport=httpx.MockTransport(lambda _request: httpx.Response(200, json=body)),
            retries=1,
            backoff=0.0,
            max_backoff=0.0,
            strict=strict,
        )

    answer = client(False).fetch_sync([("chalk", "5.6.1")])[("chalk", "5.6.1")]
    assert answer.found is None
    assert "insights endpoint sent an answer of the wrong shape" in (answer.reason("tor") or "")
    with pytest.raises(SourceUnreachable, match="wrong shape"):
        client(True).fetch_sync([("chalk", "5.6.1")])


def test_per_alias_errors_and_malformed_fields_stay_per_version() -> None:
    from scorer.insights.client import InsightsClient

    body = {
        "data": {"p0": None, "p1": {"publicationInfo": {"tor": "yes", "tfa": True}}},
        "errors": [{"message": "no such version", "path": ["p0"]}],
    }
    client = InsightsClient(
        "http://insights.example.invalid/graphql",
        transport=httpx.MockTransport(lambda _request: httpx.Response(200, json=body)),
        retries=0,
        strict=True,
    )
    got = client.fetch_sync([("a", "1.0.0"), ("b", "1.0.0")])
    assert got[("a", "1.0.0")].reason("tor") == "insights error: no such version"
    assert got[("b", "1.0.0")].tfa is True and got[("b", "1.0.0")].tor is None
    assert "malformed tor" in (got[("b", "1.0.0")].reason("tor") or "")


def test_strict_report_blames_the_registry_that_was_slow_not_the_endpoint_never_asked(
    tmp_path: Path, server: FaultServer
) -> None:
    """A registry that stalls spends the whole deadline; under --strict the insights endpoint
    was then given no time and the run failed with "insights endpoint ...: no answer within the
    deadline (after 0 attempts)", naming the one source that was not at fault."""
    _persist(server, "/registry/", "stall")
    done = _report(tmp_path, server, "--strict")
    assert done.returncode == 3, done.stderr
    assert f"registry {server.registry_url}" in done.stderr, done.stderr
    assert "insights endpoint" not in done.stderr
    assert [s.path for s in server.served if s.api == "insights"] == []


# --- the campaign ---------------------------------------------------------------------------------

SEED, RUNS = 6, 16


def test_a_small_seeded_campaign_comes_out_clean(tmp_path: Path) -> None:
    units = campaign.plan_runs(SEED, RUNS, 8.0, DATA)
    specs = [s for u in units for s in u]
    # The seed was chosen so that this small campaign has every ingredient.
    assert {s.command for s in specs} == set(campaign.COMMANDS)
    assert any(len(u) > 1 for u in units) and any(s.kill_after for s in specs)
    assert any(s.strict for s in specs) and any(s.shared for s in specs)
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "faults.py"), "--runs", str(RUNS),
         "--seed", str(SEED), "--timeout", "8", "--jobs", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert figures["runs"] == RUNS
    assert figures["faults_total"] > 0
    assert (figures["crashes"], figures["hangs"], figures["wrong_exits"]) == (0, 0, 0)
    assert (figures["wrong_answers"], figures["records_lost"], figures["records_wrong"]) == (
        0,
        0,
        0,
    )
    assert figures["leftover_files"] == [] and figures["failed"] is False
    assert figures["records_merged"] > 0 and figures["records_after"] > figures["records_before"]
    assert "records lost" in done.stdout and "faults injected" in done.stdout


def _outcome(spec: Any, code: int | None, served: list[Served], **extra: Any) -> Any:
    return campaign.Outcome(
        spec=spec, returncode=code, stdout=extra.pop("stdout", ""),
        stderr=extra.pop("stderr", ""), seconds=1.0, started=0.0, ended=1.0,
        killed=extra.pop("killed", False), hung=extra.pop("hung", False), served=served,
        faults={}, **extra,
    )  # fmt: skip


def _campaign(tmp: Path) -> Any:
    return campaign.prepare(tmp, DATA)


def test_the_campaign_reports_a_lost_a_stale_and_a_forged_record(tmp_path: Path) -> None:
    db = tmp_path / "db.json"
    initial = {i: DATA.initial[i] for i in sorted(DATA.initial)[:4]}
    merged_id = "MAL-2025-F002"
    newer = DATA.osv[merged_id]
    kept = dict(initial)
    lost = kept.pop(sorted(initial)[0])["id"]
    forged = {**DATA.osv["MAL-2025-F004"], "withdrawn": "2020-01-01T00:00:00Z"}
    db.write_text(json.dumps([*kept.values(), forged]))
    served = {merged_id: [newer], "MAL-2025-F004": [DATA.osv["MAL-2025-F004"]]}
    check = campaign.check_database(db, initial, served, {merged_id: newer["modified"]})
    assert check.lost == tuple(sorted([lost, merged_id]))
    assert check.wrong == ("MAL-2025-F004",)
    # An older copy of a merged record counts as lost too; a clean file passes.
    db.write_text(json.dumps([*initial.values(), {**newer, "modified": "2020-01-01T00:00:00Z"}]))
    check = campaign.check_database(db, initial, served, {merged_id: newer["modified"]})
    assert check.lost == (merged_id,)
    db.write_text(json.dumps([*initial.values(), newer]))
    (tmp_path / ".db.json.0123456789abcdef.tmp").write_text("{")
    check = campaign.check_database(db, initial, served, {merged_id: newer["modified"]})
    assert (check.lost, check.wrong) == ((), ())
    assert check.leftovers == (".db.json.0123456789abcdef.tmp",)
    db.write_text("{not json")
    assert campaign.check_database(db, initial, served, {}).after is None


def test_the_campaign_reports_crashes_hangs_and_wrong_exits(tmp_path: Path) -> None:
    state = _campaign(tmp_path)
    pairs = tuple(LOCKED)
    audit = campaign.RunSpec(0, 0, "audit", pairs, 0.5, FAULT_KINDS, 4.0)

    def categories(outcome: Any) -> list[str]:
        return [p.category for p in campaign.check_run(outcome, state)]

    stalled = [Served("POST", "/osv/v1/querybatch", "osv", "stall")]
    good = json.dumps({"findings": []})
    # Exit 0 although the only OSV answer was a stall: the gate passed without checking.
    assert categories(_outcome(audit, 0, stalled, stdout=good)) == ["wrong exit"]
    # Exit 3 with no fault at all; a traceback; a run past the watchdog; a stray signal.
    assert categories(_outcome(audit, 3, [], stderr="provscore: error: x")) == ["wrong exit"]
    assert categories(_outcome(audit, 1, [], stderr="Traceback (most recent call last):\n")) == [
        "crash"
    ]
    assert categories(_outcome(audit, None, [], hung=True)) == ["hang"]
    assert categories(_outcome(audit, -11, [])) == ["crash"]
    # A clean run that missed a finding, and one that got it right.
    ok = [Served("POST", "/osv/v1/querybatch", "osv", None)]
    assert categories(_outcome(audit, 0, ok, stdout=good)) == ["wrong answer"] * 2 + ["wrong exit"]
    findings = [
        {
            "package": n,
            "version": v,
            "ids": sorted(campaign.expected_ids(DATA.osv, [(n, v)])[(n, v)]),
        }
        for n, v in pairs
    ]
    assert categories(_outcome(audit, 1, ok, stdout=json.dumps({"findings": findings}))) == []
    # A run the campaign killed is not judged by its exit.
    assert categories(_outcome(audit, -9, stalled, killed=True)) == []


def test_the_campaign_reports_a_fact_from_a_faulty_answer_and_a_missing_unknown(
    tmp_path: Path,
) -> None:
    state = _campaign(tmp_path)
    pair = ("flt-pkg-02", "1.1.0")
    state.baseline = {pair: {"install_scripts": {"value": ["postinstall"], "source": "registry"}}}
    report = campaign.RunSpec(0, 0, "report", (pair,), 0.5, FAULT_KINDS, 4.0)
    entry = {
        "name": pair[0], "version": pair[1], "malicious": {"ids": ["MAL-2025-F002"]},
        "facts": {"install_scripts": {"value": ["postinstall"], "source": "registry"}},
        "unknown": [],
    }  # fmt: skip
    faulty = [Served("GET", "/registry/flt-pkg-02", "registry", "invalid_json")]
    doc = json.dumps({"packages": [entry]})
    problems = campaign.check_run(_outcome(report, 1, faulty, stdout=doc), state)
    assert [p.detail for p in problems] == [
        "('flt-pkg-02', '1.1.0') install_scripts kept from a faulty registry answer"
    ]
    entry["facts"] = {}
    problems = campaign.check_run(
        _outcome(report, 1, faulty, stdout=json.dumps({"packages": [entry]})), state
    )
    assert [p.category for p in problems] == ["wrong answer"]
    assert "not unknown" in problems[0].detail


def test_the_schedule_is_seeded_and_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds"):
        Schedule(kinds=("reset", "teapot"))

    def draws(seed: int) -> list[str | None]:
        server = FaultServer(schedule=Schedule(seed, 0.5))
        try:
            return [server._draw("GET", f"/registry/p{i}") for i in range(50)]
        finally:
            server._httpd.server_close()

    assert draws(3) == draws(3) != draws(4)
    assert None in draws(3) and len(set(draws(3))) > 5
    # wrong_id only where an answer names what it is about (a record, a document).
    graphql = FaultServer(schedule=Schedule(3, 1.0, ("wrong_id", "reset")))
    try:
        assert {graphql._draw("POST", "/graphql") for _ in range(40)} == {"reset"}
    finally:
        graphql._httpd.server_close()
