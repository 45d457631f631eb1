"""`provscore report` end to end through real local servers, each in its own process: a registry
(tests/insights_fixtures.py `registry_server`, serving the constructed documents of
tests/report_cases.py) and the insights mock (`provscore insights serve`), with the report run
by the real CLI in a third process. Also what the report does when those servers fail (HTTP 500,
a connection refused, a server that accepts and never answers, an insights endpoint down), when
no registry is configured at all, and `insights show` without a registry.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from osv_fixtures import database_tree
from report_cases import (
    NOW,
    ROOT,
    VERSION,
    by_name,
    documents,
    insights_records,
    provscore,
    write_lock,
)

from scorer.errors import SourceUnreachable
from scorer.evidence import NO_INSIGHTS, NO_REGISTRY
from scorer.risk import ReportOptions, run_report

NAMES = ["constructed-tor", "constructed-no-2fa", "constructed-install-script", "constructed-quiet"]
ABSENT = "constructed-absent"  # in the lockfile, not on the registry (HTTP 404)

REGISTRY_CHILD = """
import json, socket, sys, time
sys.path[:0] = [sys.argv[2]]
spec = json.loads(open(sys.argv[1]).read())
if spec.get("hang"):
    # Accept connections and never answer: a registry that hangs.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    print(f"http://127.0.0.1:{server.getsockname()[1]}/", flush=True)
    held = []
    while True:
        held.append(server.accept()[0])
from insights_fixtures import registry_server
with registry_server(spec["documents"]) as state:
    state.faults.update(spec.get("faults", {}))
    print(state.url, flush=True)
    while True:
        time.sleep(3600)
"""


def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise AssertionError(f"server did not start: {args}: {proc.communicate()[1][-2000:]}")
    return proc, line


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def registry_process(
    tmp: Path, *, faults: Mapping[str, list[str]] | None = None, hang: bool = False
) -> Iterator[str]:
    """A local registry in a child process serving the constructed documents; its base URL."""
    spec = tmp / "registry-spec.json"
    docs = {n: d for n, d in documents().items() if n in NAMES}
    spec.write_text(json.dumps({"documents": docs, "faults": faults or {}, "hang": hang}))
    proc, url = _start([sys.executable, "-c", REGISTRY_CHILD, str(spec), str(ROOT / "tests")], tmp)
    try:
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        _stop(proc)


@contextmanager
def insights_process(tmp: Path) -> Iterator[str]:
    """`provscore insights serve` in a child process with the constructed answers; its URL."""
    data = tmp / "insights-records.json"
    data.write_text(json.dumps(insights_records(NAMES)))
    proc, line = _start(
        [sys.executable, "-m", "scorer", "insights", "serve", "--data", str(data), "--port", "0"],
        ROOT,
    )
    try:
        assert line.startswith("insights server: http://127.0.0.1:"), line
        yield line.split()[2]
    finally:
        _stop(proc)


def refused_url(path: str = "/") -> str:
    """A loopback URL nothing listens on: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    """A lockfile without resolved URLs: the registry comes only from what the run is told."""
    return write_lock(tmp_path / "app", [(n, VERSION) for n in [*NAMES, ABSENT]])


def report(lock: Path, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    result = provscore(
        "report", str(lock), "--db", str(database_tree()), "--now", NOW, "--format", "json", *args,
        cwd=lock.parent, home=lock.parent.parent / "home",
    )  # fmt: skip
    return (
        result.returncode,
        json.loads(result.stdout) if result.stdout.strip() else None,
        result.stderr,
    )


def _sources(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["kind"]: s for s in doc["sources"]}


def _essentials(doc: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            p["name"],
            p["version"],
            p["score"],
            p["confidence"],
            p["level"],
            [(r["feature"], r["points"]) for r in p["reasons"]],
            {k: f["value"] for k, f in p["facts"].items()},
        )
        for p in doc["packages"]
    ]


# --- through both servers -----------------------------------------------------------------------


def test_report_through_a_local_registry_and_insights_server_then_offline_from_its_snapshot(
    tmp_path: Path, lock: Path
) -> None:
    snapshot = tmp_path / "frozen"
    with registry_process(tmp_path) as registry, insights_process(tmp_path) as insights:
        code, doc, err = report(
            lock, "--registry", registry, "--insights-url", insights, "--snapshot", str(snapshot)
        )
    assert doc is not None and code == 0, err
    packages = by_name(doc)
    tor, no_2fa = packages["constructed-tor@1.3.0"], packages["constructed-no-2fa@1.3.0"]
    assert (tor["level"], [r["feature"] for r in tor["reasons"]]) == ("warning", ["tor"])
    assert (no_2fa["level"], [r["feature"] for r in no_2fa["reasons"]]) == ("warning", ["no_2fa"])
    assert tor["facts"]["tor"] == {"value": True, "source": "insights"}
    assert no_2fa["facts"]["tfa"] == {"value": False, "source": "insights"}
    # Registry facts, each with its source; insights and registry agree on the publisher.
    script = packages["constructed-install-script@1.3.0"]
    assert [r["feature"] for r in script["reasons"]] == ["install_script_added"]
    assert script["facts"]["install_scripts"] == {"value": ["postinstall"], "source": "registry"}
    assert script["facts"]["published_at"] == {
        "value": "2022-04-07T13:21:32.639Z",
        "source": "registry",
    }
    assert tor["facts"]["publisher"] == {"value": "ljharb", "source": "insights+registry"}
    quiet = packages["constructed-quiet@1.3.0"]
    assert (quiet["score"], quiet["confidence"], quiet["level"]) == (0.0, 1.0, "none")
    # The package the registry does not have: unknown, with the registry's answer as reason.
    absent = packages[f"{ABSENT}@1.3.0"]
    assert absent["score"] is None and absent["level"] == "none"
    assert any("HTTP 404" in u["why"] for u in absent["unknown"])
    sources = _sources(doc)
    assert sources["registry"]["location"] == registry
    assert (
        sources["registry"]["asked"],
        sources["registry"]["answered"],
        sources["registry"]["failed"],
        sources["registry"]["requests"],
    ) == (5, 4, 1, 5)
    assert "--registry" in sources["registry"]["note"]
    assert sources["insights"]["location"] == insights
    # 5 versions asked; the mock knows the 4 constructed ones and answers null for the absent.
    assert (
        sources["insights"]["asked"],
        sources["insights"]["answered"],
        sources["insights"]["failed"],
    ) == (5, 4, 0)
    assert sources["insights"]["requests"] >= 1
    assert sources["local-db"]["records"] > 0
    assert sorted(p.name for p in (snapshot / "packuments").iterdir()) == sorted(
        f"{n}.json" for n in NAMES
    )

    # The same report from the snapshot alone, with both servers gone and nothing configured.
    code, frozen, err = report(lock, "--offline", "--snapshot", str(snapshot))
    assert frozen is not None and code == 0, err
    assert _essentials(frozen) == _essentials(doc)
    assert _sources(frozen)["registry"]["requests"] == 0


def test_registry_derived_from_the_lockfiles_resolved_urls(tmp_path: Path) -> None:
    with registry_process(tmp_path) as registry, insights_process(tmp_path) as insights:
        lock = write_lock(tmp_path / "app", [(n, VERSION) for n in NAMES], resolved=registry)
        code, doc, err = report(lock, "--insights-url", insights)
    assert doc is not None and code == 0, err
    source = _sources(doc)["registry"]
    assert source["location"] == registry
    assert "lockfile" in source["note"]
    assert (source["answered"], source["failed"]) == (4, 0)
    assert by_name(doc)["constructed-tor@1.3.0"]["score"] == 60.0


def test_report_under_risk_policy_error_fails_on_the_tor_release(
    tmp_path: Path, lock: Path
) -> None:
    with registry_process(tmp_path) as registry, insights_process(tmp_path) as insights:
        code, doc, err = report(
            lock, "--registry", registry, "--insights-url", insights,
            "--risk-policy", "error", "--risk-error", "60",
        )  # fmt: skip
    assert doc is not None and code == 1, err
    assert [p["name"] for p in doc["packages"] if p["level"] == "error"] == ["constructed-tor"]


# --- failing servers ----------------------------------------------------------------------------


def _all_registry_facts_unknown(doc: Mapping[str, Any], needle: str) -> None:
    for name in NAMES:
        entry = by_name(doc)[f"{name}@{VERSION}"]
        assert "published_at" not in entry["facts"]
        whys = {u["feature"]: u["why"] for u in entry["unknown"]}
        assert needle in whys["install_script_added"], whys
        assert needle in whys["provenance_lost"], whys


def test_registry_answering_500_leaves_facts_unknown_and_strict_is_exit_3(
    tmp_path: Path, lock: Path
) -> None:
    faults = {name: ["status:500"] * 20 for name in [*NAMES, ABSENT]}
    with registry_process(tmp_path, faults=faults) as registry:
        code, doc, err = report(lock, "--registry", registry)
        assert doc is not None and code == 0, err
        _all_registry_facts_unknown(doc, "HTTP 500")
        source = _sources(doc)["registry"]
        assert (source["answered"], source["failed"]) == (0, 5)
        assert source["requests"] > 5  # 5xx is retried before giving up
        strict = provscore(
            "report", str(lock), "--db", str(database_tree()), "--now", NOW, "--registry", registry,
            "--strict", cwd=lock.parent, home=tmp_path / "home",
        )  # fmt: skip
    assert strict.returncode == 3, strict.stderr
    assert strict.stdout == ""
    assert f"registry {registry}" in strict.stderr and "HTTP 500" in strict.stderr


def test_registry_refusing_connections_leaves_facts_unknown_and_strict_is_exit_3(
    lock: Path,
) -> None:
    registry = refused_url()
    code, doc, err = report(lock, "--registry", registry)
    assert doc is not None and code == 0, err
    _all_registry_facts_unknown(doc, "connection failed")
    assert _sources(doc)["registry"]["failed"] == 5
    code, doc, err = report(lock, "--registry", registry, "--strict")
    assert code == 3 and doc is None, err
    assert f"registry {registry}" in err and "connection failed" in err


def test_registry_that_hangs_times_out_into_unknown_facts(
    tmp_path: Path, lock: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process, so the client's timeout can be short; the hanging server is a real one."""
    from scorer.registry import RegistryClient

    defaults = dict(RegistryClient.__init__.__kwdefaults__ or {})
    monkeypatch.setattr(
        RegistryClient.__init__,
        "__kwdefaults__",
        {**defaults, "timeout": 0.3, "retries": 1, "backoff": 0.01, "max_backoff": 0.02},
    )
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    with registry_process(tmp_path, hang=True) as registry:
        options = ReportOptions(lockfile=lock, db=database_tree(), registry=registry, now=now)
        result = run_report(options, env={}, home=tmp_path / "home")
        assert result.exit_code == 0
        for entry in result.packages:
            assert entry.row is not None and entry.score is None
            assert "timed out" in entry.row.unknown["install_script_added"]
        with pytest.raises(SourceUnreachable, match=f"registry {registry}.*timed out"):
            run_report(
                ReportOptions(
                    lockfile=lock, db=database_tree(), registry=registry, now=now, strict=True
                ),
                env={},
                home=tmp_path / "home",
            )


def test_insights_endpoint_down_leaves_tor_and_2fa_unknown_and_strict_is_exit_3(
    tmp_path: Path, lock: Path
) -> None:
    insights = refused_url("/graphql")
    with registry_process(tmp_path) as registry:
        code, doc, err = report(lock, "--registry", registry, "--insights-url", insights)
        assert doc is not None and code == 0, err
        tor = by_name(doc)["constructed-tor@1.3.0"]
        whys = {u["feature"]: u["why"] for u in tor["unknown"]}
        assert "connection failed" in whys["tor"] and "connection failed" in whys["no_2fa"]
        assert tor["level"] == "none"  # nothing else is wrong with it: the Tor fact is unknown
        assert tor["facts"]["published_at"]["source"] == "registry"  # the registry still answered
        source = _sources(doc)["insights"]
        assert (source["location"], source["answered"], source["failed"]) == (insights, 0, 5)
        strict = provscore(
            "report", str(lock), "--db", str(database_tree()), "--now", NOW, "--registry", registry,
            "--insights-url", insights, "--strict", cwd=lock.parent, home=tmp_path / "home",
        )  # fmt: skip
    assert strict.returncode == 3, strict.stderr
    assert strict.stdout == ""
    assert "insights" in strict.stderr and insights in strict.stderr


def test_no_registry_configured_nor_derivable_is_unknown_facts_not_an_error(lock: Path) -> None:
    for extra in ((), ("--strict",)):  # nothing was unreachable: --strict does not apply
        code, doc, err = report(lock, *extra)
        assert doc is not None and code == 0, err
        for entry in doc["packages"]:
            whys = {u["feature"]: u["why"] for u in entry["unknown"]}
            assert whys["install_script_added"] == NO_REGISTRY
            assert whys["tor"] == NO_INSIGHTS
            assert entry["score"] is None and entry["facts"] == {}
        registry = _sources(doc)["registry"]
        assert (registry["location"], registry["asked"], registry["note"]) == (None, 5, NO_REGISTRY)
        assert doc["counts"]["unknown_score"] == 5


# --- insights show without a registry -----------------------------------------------------------


def test_insights_show_with_only_an_insights_endpoint(tmp_path: Path) -> None:
    with insights_process(tmp_path) as insights:
        result = provscore(
            "insights", "show", f"constructed-tor@{VERSION}", "--insights-url", insights,
            "--format", "json", cwd=tmp_path, home=tmp_path / "home",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"registry: {NO_REGISTRY}" in result.stderr
    doc = json.loads(result.stdout)
    facts = doc["facts"]
    assert facts["tor"]["value"] is True
    assert facts["publisher"]["value"] == "ljharb"
    for key in ("provenance", "install_scripts", "trusted_publisher"):
        assert facts[key]["value"] is None
        assert NO_REGISTRY in json.dumps(facts[key])
    assert doc["previous"] is None and doc["previous_reason"] == NO_REGISTRY


def test_insights_show_with_an_invalid_registry_is_still_exit_2(tmp_path: Path) -> None:
    result = provscore(
        "insights", "show", f"constructed-tor@{VERSION}", "--registry", "ftp://nowhere.invalid/",
        "--insights-url", refused_url("/graphql"), cwd=tmp_path, home=tmp_path / "home",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "--registry" in result.stderr


def test_insights_show_takes_the_registry_from_the_project_config(tmp_path: Path) -> None:
    """The order the report uses: option, environment, .npmrc, config `registry`, lockfile."""
    with registry_process(tmp_path) as registry:
        (tmp_path / "provscore.toml").write_text(f'registry = "{registry}"\n')
        result = provscore(
            "insights", "show", f"constructed-install-script@{VERSION}", "--format", "json",
            cwd=tmp_path, home=tmp_path / "home",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        facts = json.loads(result.stdout)["facts"]
        assert facts["install_scripts"]["value"] == ["postinstall"]
        # An option still beats the config file.
        refused = refused_url()
        result = provscore(
            "insights", "show", f"constructed-install-script@{VERSION}", "--format", "json",
            "--registry", refused, cwd=tmp_path, home=tmp_path / "home",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "connection failed" in json.dumps(json.loads(result.stdout)["facts"]["install_scripts"])
