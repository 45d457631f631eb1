"""The shipped offline example (data/examples/npm-app) is what its generator writes, reads with
provscore's own code, keeps constructed cases marked, and shows each case it is there for."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from scorer.gather import read_insights_snapshot
from scorer.lockfiles import read_lockfile
from scorer.npmrc import RegistrySelection
from scorer.osv.database import dump_database, load_database
from scorer.registry import RegistryClient, document_path
from scorer.signals import version_signals

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "data" / "examples"
APP = EXAMPLES / "npm-app"
SNAPSHOT = APP / "snapshot"
LOCKFILE = APP / "package-lock.json"
CONSTRUCTED = "_provscore_constructed"
SOURCES = "_provscore_sources"
MALICIOUS = {
    ("chalk", "5.6.1"),
    ("debug", "4.4.2"),
    ("ua-parser-js", "0.7.29"),
    ("event-stream", "3.3.6"),
    ("flatmap-stream", "0.1.1"),
}


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_example", EXAMPLES / "build_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scorer", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def packuments() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted((SNAPSHOT / "packuments").glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        assert path.name == f"{document_path(body['name'])}.json"
        out[body["name"]] = body
    return out


def insights_rows() -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((SNAPSHOT / "insights").glob("*.json"))
    }


# -- the generator ----------------------------------------------------------------------------


def test_generator_writes_exactly_the_committed_files(tmp_path: Path) -> None:
    assert generator().main(["--root", str(tmp_path)]) == 0
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    snapshot = [p.relative_to(APP) for p in SNAPSHOT.rglob("*") if p.is_file()]
    owned = [Path("osv.json"), Path("provscore.toml"), *snapshot]
    assert written == sorted(owned)
    for relative in written:
        assert (tmp_path / relative).read_bytes() == (APP / relative).read_bytes(), relative


def test_check_passes_on_the_committed_files_and_fails_on_a_change(tmp_path: Path) -> None:
    script = str(EXAMPLES / "build_example.py")
    ok = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    copy = tmp_path / "npm-app"
    shutil.copytree(APP, copy)
    (copy / "snapshot" / "packuments" / "axios.json").write_text("{}\n")
    (copy / "snapshot" / "insights" / "left-over.json").write_text("{}\n")
    bad = subprocess.run(
        [sys.executable, script, "--check", "--root", str(copy)], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "snapshot/packuments/axios.json" in bad.stderr
    assert "left-over.json (not written by this script)" in bad.stderr


# -- the OSV database -------------------------------------------------------------------------


def test_osv_database_is_in_merge_format_and_malicious() -> None:
    records = load_database(APP / "osv.json")
    assert (APP / "osv.json").read_text(encoding="utf-8") == dump_database(records)
    assert {r.id for r in records} == {
        "GHSA-mh6f-8j2x-4483",
        "GHSA-pjwm-rvh2-c87w",
        "MAL-2025-46969",
        "MAL-2025-46974",
    }
    for record in records:
        assert record.malicious and record.published and record.modified
        assert record.details is None  # no third-party prose, only our own summary
        assert "github.com" in record.raw["database_specific"][SOURCES]


def test_audit_finds_the_malicious_hits(tmp_path: Path) -> None:
    # A copy with no config beside it, so this holds whatever the config keys are today.
    shutil.copy(LOCKFILE, tmp_path / "package-lock.json")
    result = run(
        "audit",
        str(tmp_path / "package-lock.json"),
        "--db",
        str(APP / "osv.json"),
        "--format",
        "json",
    )
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert {(f["package"], f["version"]) for f in findings} == MALICIOUS


def test_config_beside_the_lockfile_names_the_generated_files() -> None:
    config = tomllib.loads((APP / "provscore.toml").read_text(encoding="utf-8"))
    assert config == {"compromised_db": "osv.json", "snapshot": "snapshot", "offline": True}
    assert (APP / config["compromised_db"]).is_file()
    assert (APP / config["snapshot"] / "packuments").is_dir()


def test_config_is_accepted_by_provscore() -> None:
    from scorer.config import KNOWN_KEYS, find_config

    assert {"snapshot", "offline", "compromised_db"} <= KNOWN_KEYS
    config = find_config(APP)
    assert config.path == APP / "provscore.toml"
    assert (config.get_path("snapshot"), config.get_bool("offline")) == (APP / "snapshot", True)
    result = run("audit", str(LOCKFILE), "--format", "json")
    assert result.returncode == 1, result.stderr
    found = {(f["package"], f["version"]) for f in json.loads(result.stdout)["findings"]}
    assert found == MALICIOUS


# -- the snapshot -----------------------------------------------------------------------------


def test_every_document_parses_with_the_registry_reader() -> None:
    bodies = packuments()
    assert bodies
    client = RegistryClient(
        RegistrySelection("https://registry.example.invalid/", "test", True),
        snapshot_dir=SNAPSHOT / "packuments",
        offline=True,
    )
    fetched = client.fetch_sync(bodies)
    for name, body in bodies.items():
        result = fetched[name]
        assert result.via == "snapshot" and result.document == body["document"], name
        assert result.registry == "https://registry.example.invalid/"
        for version in body["document"]["versions"]:
            signals = version_signals(result, version)
            assert signals.current is not None, (name, version, signals.reasons)


def test_locked_versions_without_facts_are_unknown_not_invented() -> None:
    bodies = packuments()
    locked = {(p.name, p.version) for p in read_lockfile(LOCKFILE).packages}
    assert {n for n, _ in locked} >= set(bodies)
    client = RegistryClient(
        RegistrySelection("https://registry.example.invalid/", "test", True),
        snapshot_dir=SNAPSHOT / "packuments",
        offline=True,
    )
    fetched = client.fetch_sync(n for n, _ in locked)
    for name, version in locked:
        signals = version_signals(fetched[name], version)
        if name not in bodies:
            assert signals.current is None and "not in the snapshot" in str(signals.reasons)
    # chalk and debug 4.4.2: the sources give no per-version publication facts
    assert fetched["chalk"].document is None
    assert version_signals(fetched["debug"], "4.4.2").current is None


def test_insights_snapshot_reads_back() -> None:
    rows = insights_rows()
    keys = [(name, version) for name, versions in rows.items() for version in versions]
    answers = read_insights_snapshot(SNAPSHOT / "insights", keys)
    assert set(answers) == set(keys)
    for (name, version), answer in answers.items():
        row = rows[name][version]
        assert (answer.username, answer.created, answer.tor, answer.tfa) == (
            row["username"],
            row["created"],
            row["tor"],
            row["tfa"],
        )
        assert answer.found is True and answer.reasons == ()


def test_constructed_cases_are_marked_and_fictional() -> None:
    bodies = packuments()
    constructed = {n for n, b in bodies.items() if CONSTRUCTED in b["document"]}
    assert constructed == {n for n in bodies if n.startswith("provscore-example-")}
    assert len(constructed) == 4
    for name, body in bodies.items():
        doc = body["document"]
        assert doc[SOURCES], name
        accounts = {m.get("_npmUser", {}).get("name") for m in doc["versions"].values()} | {
            x["name"] for m in doc["versions"].values() for x in m.get("maintainers", [])
        }
        accounts.discard(None)
        fictional = {a for a in accounts if a.endswith("-example")}
        if name in constructed:
            assert accounts - fictional <= {"GitHub Actions"}, name
        else:
            assert not fictional, name
    rows = insights_rows()
    assert set(rows) <= constructed  # no real source gives Tor or 2FA facts
    for versions in rows.values():
        for row in versions.values():
            assert row[CONSTRUCTED] and row["endpoint"].startswith("constructed")
    for package in read_lockfile(LOCKFILE).packages:
        if package.name.startswith("provscore-example-"):
            assert package.name in constructed


def test_hand_edited_lockfile_entries_carry_no_integrity() -> None:
    entries = json.loads(LOCKFILE.read_text(encoding="utf-8"))["packages"]
    hand_edited = {
        "chalk",
        "debug",
        "axios",
        "ua-parser-js",
        "event-stream",
        "flatmap-stream",
        "provscore-example-tor",
        "provscore-example-no2fa",
        "provscore-example-switch",
        "provscore-example-provenance",
    }
    for name in hand_edited:
        assert "integrity" not in entries[f"node_modules/{name}"], name
    for path in [*APP.rglob("*.json"), *APP.rglob("*.toml"), EXAMPLES / "build_example.py"]:
        text = path.read_text(encoding="utf-8")
        assert "npmjs.org" not in text and "yarnpkg.com" not in text, path


# -- each case, through the CLI ---------------------------------------------------------------


def show(spec: str) -> dict[str, Any]:
    result = run(
        "insights", "show", spec, "--offline", "--snapshot", str(SNAPSHOT), "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def value(publication: dict[str, Any], fact: str) -> Any:
    return publication["facts"][fact]["value"]


def test_tor_case() -> None:
    shown = show("provscore-example-tor@1.0.1")
    assert value(shown, "tor") is True and value(shown, "tfa") is True
    assert value(shown["previous"], "tor") is False
    assert value(shown, "publisher") == value(shown["previous"], "publisher") == "alice-example"


def test_no_2fa_case() -> None:
    shown = show("provscore-example-no2fa@2.0.0")
    assert value(shown, "tfa") is False and value(shown, "tor") is False
    assert value(shown["previous"], "tfa") is True


def test_publisher_switch_case() -> None:
    shown = show("provscore-example-switch@3.1.1")
    assert value(shown, "publisher") == "mallory-example"
    assert shown["previous"]["version"] == "3.1.0"
    assert value(shown["previous"], "publisher") == "carol-example"
    assert value(shown["previous"], "maintainers") == ["carol-example"]


def test_install_script_case_is_real() -> None:
    shown = show("ua-parser-js@0.7.29")
    assert value(shown, "install_scripts") == ["preinstall"]
    assert value(shown, "publisher") == "faisalman"
    assert shown["previous"]["version"] == "0.7.22"
    assert value(shown["previous"], "install_scripts") == []
    assert value(shown, "tor") is None and value(shown, "tfa") is None  # no source says


def test_provenance_lost_cases() -> None:
    shown = show("provscore-example-provenance@2.3.1")
    assert (value(shown, "provenance"), value(shown, "trusted_publisher")) == (False, False)
    previous = shown["previous"]
    assert (value(previous, "provenance"), value(previous, "trusted_publisher")) == (True, True)
    assert value(previous, "trusted_publisher_id") == "github"
    # axios: the real facts, but no publish times in reach, so no order either
    axios = show("axios@1.14.1")
    assert (value(axios, "provenance"), value(axios, "trusted_publisher")) == (False, False)
    assert value(axios, "publisher") is None and axios["previous"] is None
    assert "publish order is unknown" in axios["previous_reason"]


# -- real facts against their source (third-party data, read where it lives) ------------------


def test_fixture_histories_match_the_npm_cli_fixtures(shared_data_dir: Path) -> None:
    fixtures = shared_data_dir / "packuments" / "npm-cli-registry-mocks"
    histories = generator().FIXTURE_HISTORIES
    assert set(histories) == {
        "ua-parser-js",
        "debug",
        "media-typer",
        "ms",
        "type-is",
        "unpipe",
        "utils-merge",
    }
    for name, history in histories.items():
        source = json.loads((fixtures / f"{name}.json").read_text(encoding="utf-8"))
        assert history.created == source["time"]["created"]
        assert {row[0] for row in history.versions} == set(source["versions"]), name
        for version, time, user, sets, scripts, deprecated in history.versions:
            manifest = source["versions"][version]
            assert time == source["time"][version], (name, version)
            assert user == (manifest.get("_npmUser") or {}).get("name"), (name, version)
            maintainers = tuple(sorted(m["name"] for m in manifest["maintainers"]))
            assert history.maintainer_sets[sets] == maintainers, (name, version)
            names = manifest.get("scripts") or {}
            assert scripts == tuple(
                s for s in ("preinstall", "install", "postinstall") if s in names
            )
            assert deprecated == bool(manifest.get("deprecated")), (name, version)


def test_osv_facts_match_their_source_records(shared_data_dir: Path) -> None:
    data = shared_data_dir
    sources = {
        "MAL-2025-46969": data / "osv-mal-npm/osv/malicious/npm/chalk/MAL-2025-46969.json",
        "MAL-2025-46974": data / "osv-mal-npm/osv/malicious/npm/debug/MAL-2025-46974.json",
        "GHSA-pjwm-rvh2-c87w": data
        / "ghsa-malware-npm/advisories/github-reviewed/2021/10/GHSA-pjwm-rvh2-c87w"
        / "GHSA-pjwm-rvh2-c87w.json",
        "GHSA-mh6f-8j2x-4483": data
        / "ghsa-malware-npm/advisories/github-reviewed/2018/11/GHSA-mh6f-8j2x-4483"
        / "GHSA-mh6f-8j2x-4483.json",
    }
    ours = {a.id: a.raw for a in load_database(APP / "osv.json")}
    for ident, path in sources.items():
        source = json.loads(path.read_text(encoding="utf-8"))
        mine = ours[ident]
        for key in ("id", "published", "modified"):
            assert mine[key] == source[key], (ident, key)
        assert sorted(mine["aliases"]) == sorted(source["aliases"])
        # The facts carry over, the prose does not: our summary is our own wording.
        assert "details" not in mine
        assert mine["summary"] != source.get("summary")
        assert mine["summary"] not in source.get("details", "")

        def facts(record: Mapping[str, Any]) -> list[Any]:
            return [
                (a["package"]["name"], a.get("versions", []), a.get("ranges", []))
                for a in record["affected"]
            ]

        assert facts(mine) == facts(source), ident
