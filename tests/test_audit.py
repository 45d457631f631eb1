"""`provscore audit`: matching, policy, suppressions, database writes and every output format,
offline against the real OSV records of the shared data (tests/shared_data.py) and online
against the mock OSV API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from osv_fixtures import KNOWN_BAD, database_tree, real_records, record
from osv_server import MockOsvServer

from scorer.audit import AuditOptions, run_audit
from scorer.errors import ConfigError, InputError, SourceUnreachable
from scorer.osv.client import RetryPolicy
from scorer.policy import Policy

ROOT = Path(__file__).resolve().parents[1]
FAST = {"timeout": 0.5, "retry": RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)}
TODAY = date(2026, 11, 30)


def package_lock(
    tmp: Path,
    pairs: list[tuple[str, str]],
    extra: dict[str, Any] | None = None,
    name: str = "package-lock.json",
) -> Path:
    packages: dict[str, Any] = {"": {"name": "app", "version": "1.0.0"}}
    for n, v in pairs:
        base = n.rsplit("/", 1)[-1]
        where = f"node_modules/{n}"
        if where in packages:  # a second version of a name nests, as npm would place it
            where = f"node_modules/app-{v}/{where}"
        packages[where] = {
            "version": v,
            "resolved": f"https://registry.example.invalid/{n}/-/{base}-{v}.tgz",
        }
    packages.update(extra or {})
    path = tmp / name
    path.write_text(
        json.dumps({"name": "app", "lockfileVersion": 3, "packages": packages}, indent=2)
    )
    return path


def audit(lockfile: Path, tmp: Path, **options: Any) -> Any:
    env = options.pop("env", {})
    client = options.pop("client", None)
    return run_audit(
        AuditOptions(lockfile=lockfile, **options),
        env=env,
        today=TODAY,
        home=tmp / "home",
        client_options=client,
    )


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {
        "HOME": str(cwd / "home"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "scorer", "audit", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        check=False,
        env=full,
    )


BAD = sorted(KNOWN_BAD)
CLEAN = [("chalk", "5.6.0"), ("debug", "4.4.1"), ("ua-parser-js", "0.7.28"), ("ms", "2.1.3")]


# --- offline ----------------------------------------------------------------------------------


def test_known_bad_versions_are_found_offline(tmp_path: Path) -> None:
    report = audit(package_lock(tmp_path, BAD + CLEAN), tmp_path, db=database_tree())
    found: dict[tuple[str, str], set[str]] = {}
    for f in report.findings:  # records not linked by aliases stay separate findings
        found.setdefault((f.package.name, f.package.version), set()).update(f.ids)
    assert set(found) == set(KNOWN_BAD)
    for key, ident in KNOWN_BAD.items():
        assert ident in found[key]
    assert report.exit_code == 1
    assert report.sources[0]["kind"] == "local-db"


def test_clean_lockfile_has_no_findings(tmp_path: Path) -> None:
    report = audit(package_lock(tmp_path, CLEAN), tmp_path, db=database_tree())
    assert report.findings == () and report.exit_code == 0


def test_aliased_install_is_matched_under_its_real_name(tmp_path: Path) -> None:
    lock = package_lock(
        tmp_path,
        [],
        {
            "node_modules/pretty": {
                "name": "chalk",
                "version": "5.6.1",
                "resolved": "https://registry.example.invalid/chalk/-/chalk-5.6.1.tgz",
            }
        },
    )
    (finding,) = audit(lock, tmp_path, db=database_tree()).findings
    assert finding.package.name == "chalk" and finding.package.aliases == ("pretty",)


def test_non_registry_packages_are_listed_as_not_checked(tmp_path: Path) -> None:
    lock = package_lock(
        tmp_path,
        [("ms", "2.1.3")],
        {
            "node_modules/chalk": {
                "version": "5.6.1",
                "resolved": "git+ssh://git@example.invalid/chalk.git#abc",
            }
        },
    )
    report = audit(lock, tmp_path, db=database_tree())
    assert report.findings == ()
    assert [p.name for p in report.not_checked] == ["chalk"]


def test_one_incident_with_two_records_is_one_finding(tmp_path: Path) -> None:
    records = [
        record("MAL-2099-1", "evil", versions=["1.0.0"], aliases=["GHSA-aaaa-bbbb-cccc"]),
        record(
            "GHSA-aaaa-bbbb-cccc", "evil", versions=["1.0.0"], summary="Malicious Package in evil"
        ),
    ]
    db = tmp_path / "db.json"
    db.write_text(json.dumps(records))
    (finding,) = audit(package_lock(tmp_path, [("evil", "1.0.0")]), tmp_path, db=db).findings
    assert finding.ids == ("GHSA-aaaa-bbbb-cccc", "MAL-2099-1")


@pytest.mark.parametrize("content", ["", "{", '{"vulns": 3}', '[{"affected": []}]'])
def test_broken_database_is_exit_2_never_zero_findings(tmp_path: Path, content: str) -> None:
    db = tmp_path / "db.json"
    db.write_text(content)
    with pytest.raises(InputError) as info:
        audit(package_lock(tmp_path, BAD), tmp_path, db=db)
    assert str(db) in str(info.value)


def test_missing_default_database_says_how_to_create_one(tmp_path: Path) -> None:
    lock = package_lock(tmp_path, BAD)
    result = cli(str(lock), cwd=tmp_path)
    assert result.returncode == 2
    assert "compromised_packages.json" in result.stderr and "--write-cache" in result.stderr
    assert "offline audit" in result.stderr


# --- policy -----------------------------------------------------------------------------------


def test_policy_precedence(tmp_path: Path) -> None:
    lock = package_lock(tmp_path, BAD)
    (tmp_path / "provscore.toml").write_text('compromised_policy = "off"\n')
    assert audit(lock, tmp_path, db=database_tree()).policy is Policy.OFF
    env = {"PROVSCORE_COMPROMISED_POLICY": "warn"}
    assert audit(lock, tmp_path, db=database_tree(), env=env).policy is Policy.WARN
    report = audit(lock, tmp_path, db=database_tree(), env=env, policy="error")
    assert (report.policy, report.policy_origin) == (Policy.ERROR, "--policy")


def test_pyproject_tool_table_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.provscore]\ncompromised_policy = "warn"\n')
    assert audit(package_lock(tmp_path, BAD), tmp_path, db=database_tree()).policy is Policy.WARN


@pytest.mark.parametrize("where", ["option", "env", "config", "typo-key"])
def test_invalid_policy_anywhere_is_a_config_error(tmp_path: Path, where: str) -> None:
    lock = package_lock(tmp_path, BAD)
    options: dict[str, Any] = {}
    if where == "option":
        options["policy"] = "warning"
    elif where == "env":
        options["env"] = {"PROVSCORE_COMPROMISED_POLICY": "false"}
    elif where == "config":
        (tmp_path / "provscore.toml").write_text('compromised_policy = "none"\n')
    else:
        (tmp_path / "provscore.toml").write_text('compromised_polcy = "off"\n')
    with pytest.raises(ConfigError):
        audit(lock, tmp_path, db=database_tree(), **options)


@pytest.mark.parametrize(
    ("policy", "code", "marker"),
    [("error", 1, "ERROR"), ("warn", 0, "WARN"), ("off", 0, "policy off")],
)
def test_policy_exit_codes_through_the_cli(
    tmp_path: Path, policy: str, code: int, marker: str
) -> None:
    lock = package_lock(tmp_path, BAD)
    result = cli(str(lock), "--db", str(database_tree()), "--policy", policy, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert marker in result.stdout
    if policy == "off":
        assert "ERROR" not in result.stdout and "WARN" not in result.stdout


def test_bad_policy_value_exits_2_without_auditing(tmp_path: Path) -> None:
    result = cli(
        str(package_lock(tmp_path, BAD)),
        "--db",
        str(database_tree()),
        "--policy",
        "maybe",
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "invalid policy" in result.stderr
    assert result.stdout == ""


# --- suppressions -----------------------------------------------------------------------------


def test_suppressions_by_id_and_package_expired_and_unused(tmp_path: Path) -> None:
    (tmp_path / "provscore.toml").write_text(
        '[[suppress]]\nid = "MAL-2025-46969"\nreason = "chalk is vendored and patched"\n'
        '[[suppress]]\npackage = "debug@4.4.2"\nreason = "build machine only"\nuntil = 2026-12-31\n'
        '[[suppress]]\npackage = "rc@1.2.9"\nreason = "old"\nuntil = 2026-01-01\n'
        '[[suppress]]\nid = "MAL-2000-1"\nreason = "nothing"\n'
    )
    report = audit(package_lock(tmp_path, BAD), tmp_path, db=database_tree())
    suppressed = {s.finding.subject for s in report.suppressed}
    assert suppressed == {"chalk@5.6.1", "debug@4.4.2"}
    assert "rc@1.2.9" in {f.subject for f in report.findings}
    assert [s.package for s in report.expired_suppressions] == ["rc@1.2.9"]
    assert [s.id for s in report.unused_suppressions] == ["MAL-2000-1"]


@pytest.mark.parametrize(
    "entry",
    [
        'id = "MAL-1"',
        'id = "MAL-1"\nreason = ""',
        'id = "X"\npackage = "a@1.0.0"\nreason = "r"',
        'package = "a"\nreason = "r"',
        'id = "X"\nreason = "r"\nuntil = "soon"',
    ],
)
def test_invalid_suppression_is_a_config_error(tmp_path: Path, entry: str) -> None:
    (tmp_path / "provscore.toml").write_text(f"[[suppress]]\n{entry}\n")
    with pytest.raises(ConfigError):
        audit(package_lock(tmp_path, BAD), tmp_path, db=database_tree())


# --- database writes --------------------------------------------------------------------------


def test_write_cache_merges_matching_records_into_the_default_database(tmp_path: Path) -> None:
    lock = package_lock(tmp_path, BAD)
    first = audit(lock, tmp_path, db=database_tree(), write_cache=True)
    cache = tmp_path / "home" / ".provscore" / "security" / "compromised_packages.json"
    ((path, counts),) = first.written
    assert path == cache and counts.added >= len(KNOWN_BAD)
    ids = [r["id"] for r in json.loads(cache.read_text())["vulns"]]
    assert ids == sorted(ids)
    again = audit(lock, tmp_path, write_cache=True)  # now reading the cache itself
    assert again.written[0][1].added == 0
    assert {f.subject for f in again.findings} == {f.subject for f in first.findings}


def test_default_database_from_env_then_config(tmp_path: Path) -> None:
    lock = package_lock(tmp_path, BAD)
    (tmp_path / "provscore.toml").write_text('compromised_db = "priv/db.json"\n')
    first = audit(lock, tmp_path, db=database_tree(), write_cache=True)
    assert first.written[0][0] == tmp_path / "priv" / "db.json"
    assert audit(lock, tmp_path).sources[0]["path"] == str(tmp_path / "priv" / "db.json")
    elsewhere = tmp_path / "env.json"
    env = {"PROVSCORE_COMPROMISED_DB": str(elsewhere)}
    with pytest.raises(InputError) as info:  # the env database does not exist yet
        audit(lock, tmp_path, env=env)
    assert str(elsewhere) in str(info.value) and "--write-cache" in str(info.value)


def test_json_stays_valid_when_writing(tmp_path: Path) -> None:
    lock = package_lock(tmp_path, BAD)
    project_db = tmp_path / "priv" / "compromised.json"
    result = cli(
        str(lock),
        "--db",
        str(database_tree()),
        "--write",
        str(project_db),
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["written"][0]["path"] == str(project_db)
    assert "merged into" in result.stderr
    assert project_db.is_file()


# --- output -----------------------------------------------------------------------------------


def test_json_report_shape(tmp_path: Path) -> None:
    result = cli(
        str(package_lock(tmp_path, BAD + CLEAN)),
        "--db",
        str(database_tree()),
        "--format",
        "json",
        cwd=tmp_path,
    )
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1 and doc["tool"]["name"] == "provscore"
    assert doc["mode"] == "offline" and doc["format"] == "package-lock@3"
    assert doc["counts"]["affected_packages"] == len(KNOWN_BAD)
    assert doc["counts"]["findings"] == len(doc["findings"]) >= len(KNOWN_BAD)
    assert doc["counts"]["packages"] == len(KNOWN_BAD) + len(CLEAN)
    finding = doc["findings"][0]
    assert set(finding) >= {
        "package",
        "version",
        "alias",
        "paths",
        "ids",
        "summary",
        "source",
        "level",
    }
    assert finding["level"] == "error" and finding["source"] == "local"


def hostile_db(tmp: Path) -> Path:
    db = tmp / "db.json"
    db.write_text(
        json.dumps(
            [
                record(
                    "MAL-2099-7",
                    "evil",
                    versions=["1.0.0"],
                    summary="\x1b[2J\x1b[31mAll clean!\x1b]8;;http://x\x07 | `pwn` <b>\u202e",
                )
            ]
        )
    )
    return db


def test_text_output_neutralises_control_sequences(tmp_path: Path) -> None:
    result = cli(
        str(package_lock(tmp_path, [("evil", "1.0.0")])),
        "--db",
        str(hostile_db(tmp_path)),
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\u202e" not in result.stdout
    assert "\\x1b[2J" in result.stdout


def test_markdown_escapes_table_breakers(tmp_path: Path) -> None:
    result = cli(
        str(package_lock(tmp_path, [("evil", "1.0.0")])),
        "--db",
        str(hostile_db(tmp_path)),
        "--format",
        "markdown",
        cwd=tmp_path,
    )
    row = next(line for line in result.stdout.splitlines() if line.startswith("| evil"))
    assert row.count(" | ") == 3  # four cells: the summary's pipe is escaped
    assert "\\|" in row and "\\`pwn\\`" in row and "\x1b" not in row


def test_every_output_format_has_a_renderer() -> None:
    from scorer.report.audit import RENDERERS
    from scorer.report.formats import AuditFormat as OutputFormat

    assert set(RENDERERS) == set(OutputFormat)


# --- online -----------------------------------------------------------------------------------


@pytest.fixture
def osv_api() -> Any:
    with MockOsvServer(real_records(), page_size=2) as server:
        yield server


def test_online_and_offline_agree(tmp_path: Path, osv_api: MockOsvServer) -> None:
    lock = package_lock(tmp_path, BAD + CLEAN)
    online = audit(lock, tmp_path, online=True, osv_url=osv_api.url, client=FAST)
    offline = audit(lock, tmp_path, db=database_tree())
    assert [(f.subject, f.ids) for f in online.findings] == [
        (f.subject, f.ids) for f in offline.findings
    ]
    assert {f.source for f in online.findings} == {"online"}
    assert online.sources[0]["url"] == osv_api.url


def test_unreachable_osv_fails_closed_and_writes_nothing(
    tmp_path: Path, osv_api: MockOsvServer
) -> None:
    osv_api.add_fault("status", count=1000, status=503)
    with pytest.raises(SourceUnreachable):
        audit(
            package_lock(tmp_path, BAD),
            tmp_path,
            online=True,
            osv_url=osv_api.url,
            write_cache=True,
            client=FAST,
        )
    assert not (tmp_path / "home" / ".provscore").exists()


def test_online_through_the_cli_exit_codes(tmp_path: Path, osv_api: MockOsvServer) -> None:
    lock = package_lock(tmp_path, BAD)
    found = cli(
        str(lock), "--osv", "--format", "json", cwd=tmp_path, env={"PROVSCORE_OSV_URL": osv_api.url}
    )
    assert found.returncode == 1, found.stderr
    assert json.loads(found.stdout)["mode"] == "online"
    dead = cli(str(lock), "--osv", "--osv-url", "http://127.0.0.1:9", cwd=tmp_path)
    assert dead.returncode == 3, dead.stderr
    assert "127.0.0.1:9" in dead.stderr and dead.stdout == ""


@pytest.mark.parametrize(
    "url",
    ["ftp://osv.example.invalid", "http://osv.example.invalid", "https://", "osv.example.invalid"],
)
def test_osv_url_must_be_https_or_loopback(tmp_path: Path, url: str) -> None:
    result = cli(str(package_lock(tmp_path, BAD)), "--osv", "--osv-url", url, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "use https" in result.stderr


def test_osv_and_compromised_exclude_each_other(tmp_path: Path) -> None:
    result = cli(str(package_lock(tmp_path, BAD)), "--osv", "--compromised", cwd=tmp_path)
    assert result.returncode == 2
