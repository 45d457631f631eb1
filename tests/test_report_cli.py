"""`provscore report` as a user runs it: policy x thresholds x exit code, suppressions of risk
flags, `--diff` on real lockfile pairs, `--now`, `--output`, the lockfile of the cwd, and what it
imports. Every case runs the real CLI in a separate process (HOME in a temporary directory,
offline against a frozen `--snapshot` of constructed registry documents and insights answers,
`--now` fixed); the policy table also runs through `run_report` to show both agree.

The constructed inputs are described in tests/report_cases.py: at 1.3.0 `constructed-tor-no-2fa`
scores 100, `constructed-tor` 60, `constructed-no-2fa` 45, `constructed-publisher-changed` 17,
`constructed-quiet` 0, and chalk 5.6.1 is a malicious match in the real records of the shared data.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from osv_fixtures import database_tree, record
from report_cases import (
    FILE_DEP,
    GIT_DEP,
    MALICIOUS,
    MALICIOUS_ID,
    NOW,
    ROOT,
    SCORES,
    VERSION,
    by_name,
    documents,
    provscore,
    write_lock,
    write_snapshot,
)

from scorer.errors import ConfigError
from scorer.risk import ReportOptions, run_report

ORDER = (
    "constructed-tor-no-2fa@1.3.0",  # 100
    "constructed-tor@1.3.0",  # 60
    "constructed-no-2fa@1.3.0",  # 45
    "constructed-publisher-changed@1.3.0",  # 17
    "constructed-quiet@1.3.0",  # 0
    "chalk@5.6.1",  # malicious; no registry document: score unknown
)
PAIRS = [(spec.rsplit("@", 1)[0], spec.rsplit("@", 1)[1]) for spec in ORDER]
LEVEL = {"E": "error", "W": "warning", "-": "none"}


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_snapshot(tmp_path_factory.mktemp("frozen"), documents())


def project(
    directory: Path,
    config: str | None = None,
    *,
    pairs: list[tuple[str, str]] | None = None,
    config_name: str = "provscore.toml",
    extra: Mapping[str, Any] | None = None,
) -> Path:
    lock = write_lock(directory, PAIRS if pairs is None else pairs, extra=extra)
    if config is not None:
        (directory / config_name).write_text(config)
    return lock


def report(
    lock: Path, snapshot: Path, *args: str, env: Mapping[str, str] | None = None
) -> tuple[int, dict[str, Any] | None, str]:
    """Run the CLI offline on the frozen inputs; (exit code, JSON document or None, stderr)."""
    result = provscore(
        "report",
        str(lock),
        "--offline",
        "--snapshot",
        str(snapshot),
        "--db",
        str(database_tree()),
        "--now",
        NOW,
        "--format",
        "json",
        *args,
        cwd=lock.parent,
        env=env,
    )
    doc = json.loads(result.stdout) if result.stdout.strip() else None
    return result.returncode, doc, result.stderr


def test_the_constructed_scores_are_what_the_table_assumes(tmp_path: Path, snapshot: Path) -> None:
    pairs = [(name, VERSION) for name in documents()] + [MALICIOUS]
    code, doc, err = report(project(tmp_path, pairs=pairs), snapshot)
    assert doc is not None and code == 1, err  # the malicious chalk under the default policy
    scores = {k: p["score"] for k, p in by_name(doc).items()}
    assert {n: scores[f"{n}@{VERSION}"] for n in SCORES} == SCORES
    assert scores["constructed-publisher-changed@1.3.0"] == 17.0
    assert scores["chalk@5.6.1"] is None
    # Rank order: the malicious hit first, then score descending, then name.
    ranked = [f"{p['name']}@{p['version']}" for p in doc["packages"]]
    assert [k for k in ranked if k in ORDER] == [ORDER[-1], *ORDER[:-1]]
    assert ranked.index("constructed-install-script@1.3.0") < ranked.index(
        "constructed-provenance-lost@1.3.0"
    )  # both 40: by name


# --- 1. policy x thresholds x exit code ---------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One row: how the run is configured, each package's level (ORDER; E error, W warning,
    - none) and the exit code, and where the policies and thresholds must say they came from."""

    id: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    config: str | None = None
    levels: str = ""
    exit: int = 0
    risk: tuple[str, str] = ("warn", "default")  # value, origin ("CONFIG" = the config file)
    malicious: tuple[str, str] = ("error", "default")
    thresholds: tuple[float, str, float, str] = (40.0, "default", 70.0, "default")


CASES = [
    Case("defaults", levels="W W W - - E", exit=1),
    Case(
        "risk-error-malicious-warn",
        ("--risk-policy", "error", "--policy", "warn"),
        levels="E W W - - W",
        exit=1,
        risk=("error", "--risk-policy"),
        malicious=("warn", "--policy"),
    ),
    Case(
        "risk-warn-malicious-warn",
        ("--policy", "warn"),
        levels="W W W - - W",
        exit=0,
        malicious=("warn", "--policy"),
    ),
    Case(
        "risk-off-malicious-warn",
        ("--risk-policy", "off", "--policy", "warn"),
        levels="- - - - - W",
        exit=0,
        risk=("off", "--risk-policy"),
        malicious=("warn", "--policy"),
    ),
    Case(
        "risk-error-malicious-off",
        ("--risk-policy", "error", "--policy", "off"),
        levels="E W W - - -",
        exit=1,
        risk=("error", "--risk-policy"),
        malicious=("off", "--policy"),
    ),
    Case(
        "risk-off-malicious-error",
        ("--risk-policy", "off"),
        levels="- - - - - E",
        exit=1,
        risk=("off", "--risk-policy"),
    ),
    Case(
        "all-off",
        ("--risk-policy", "off", "--policy", "off", "--risk-warn", "1", "--risk-error", "2"),
        levels="- - - - - -",
        exit=0,
        risk=("off", "--risk-policy"),
        malicious=("off", "--policy"),
        thresholds=(1.0, "--risk-warn", 2.0, "--risk-error"),
    ),
    Case(
        "thresholds-50-90",
        ("--risk-policy", "error", "--policy", "off", "--risk-warn", "50", "--risk-error", "90"),
        levels="E W - - - -",
        exit=1,
        risk=("error", "--risk-policy"),
        malicious=("off", "--policy"),
        thresholds=(50.0, "--risk-warn", 90.0, "--risk-error"),
    ),
    Case(  # at the threshold counts: 45 >= 45 warns, 60 >= 60 errs
        "thresholds-at-the-boundary",
        ("--risk-policy", "error", "--policy", "off", "--risk-warn", "45", "--risk-error", "60"),
        levels="E E W - - -",
        exit=1,
        risk=("error", "--risk-policy"),
        malicious=("off", "--policy"),
        thresholds=(45.0, "--risk-warn", 60.0, "--risk-error"),
    ),
    Case(  # just above: 45 < 45.5 and 60 < 60.5
        "thresholds-just-above",
        (
            "--risk-policy",
            "error",
            "--policy",
            "off",
            "--risk-warn",
            "45.5",
            "--risk-error",
            "60.5",
        ),
        levels="E W - - - -",
        exit=1,
        risk=("error", "--risk-policy"),
        malicious=("off", "--policy"),
        thresholds=(45.5, "--risk-warn", 60.5, "--risk-error"),
    ),
    Case(  # only the 100 errs, and only a warning under warn: exit 0
        "error-threshold-100-under-warn",
        ("--policy", "off", "--risk-warn", "10", "--risk-error", "100"),
        levels="W W W W - -",
        exit=0,
        malicious=("off", "--policy"),
        thresholds=(10.0, "--risk-warn", 100.0, "--risk-error"),
    ),
    Case(  # warn 0: a score of 0 is at the threshold; an unknown score is never flagged
        "warn-at-zero",
        ("--policy", "off", "--risk-warn", "0", "--risk-error", "100"),
        levels="W W W W W -",
        exit=0,
        malicious=("off", "--policy"),
        thresholds=(0.0, "--risk-warn", 100.0, "--risk-error"),
    ),
    Case(  # equal thresholds are allowed: everything at or above is an error
        "equal-thresholds",
        ("--risk-policy", "error", "--policy", "off", "--risk-warn", "45", "--risk-error", "45"),
        levels="E E E - - -",
        exit=1,
        risk=("error", "--risk-policy"),
        malicious=("off", "--policy"),
        thresholds=(45.0, "--risk-warn", 45.0, "--risk-error"),
    ),
    Case(
        "risk-error-from-env",
        ("--policy", "off"),
        env={"PROVSCORE_RISK_POLICY": "error"},
        levels="E W W - - -",
        exit=1,
        risk=("error", "PROVSCORE_RISK_POLICY"),
        malicious=("off", "--policy"),
    ),
    Case(  # values are read case- and space-insensitively, as audit's policy
        "risk-off-from-env-spelt-loosely",
        ("--policy", "warn"),
        env={"PROVSCORE_RISK_POLICY": " OFF "},
        levels="- - - - - W",
        exit=0,
        risk=("off", "PROVSCORE_RISK_POLICY"),
        malicious=("warn", "--policy"),
    ),
    Case(
        "risk-error-from-config",
        config='risk_policy = "error"\ncompromised_policy = "off"\n',
        levels="E W W - - -",
        exit=1,
        risk=("error", "CONFIG risk_policy"),
        malicious=("off", "CONFIG compromised_policy"),
    ),
    Case(  # the option beats the environment, which beats the config file
        "option-beats-env-beats-config",
        ("--risk-policy", "warn", "--policy", "off"),
        env={"PROVSCORE_RISK_POLICY": "error"},
        config='risk_policy = "off"\n',
        levels="W W W - - -",
        exit=0,
        risk=("warn", "--risk-policy"),
        malicious=("off", "--policy"),
    ),
    Case(
        "env-beats-config",
        ("--policy", "off"),
        env={"PROVSCORE_RISK_POLICY": "error"},
        config='risk_policy = "off"\n',
        levels="E W W - - -",
        exit=1,
        risk=("error", "PROVSCORE_RISK_POLICY"),
        malicious=("off", "--policy"),
    ),
    Case(
        "malicious-warn-from-env",
        env={"PROVSCORE_COMPROMISED_POLICY": "warn"},
        levels="W W W - - W",
        exit=0,
        malicious=("warn", "PROVSCORE_COMPROMISED_POLICY"),
    ),
    Case(
        "thresholds-from-config",
        ("--policy", "off"),
        config='risk_policy = "error"\nrisk_warn = 50\nrisk_error = 90.0\n',
        levels="E W - - - -",
        exit=1,
        risk=("error", "CONFIG risk_policy"),
        malicious=("off", "--policy"),
        thresholds=(50.0, "CONFIG risk_warn", 90.0, "CONFIG risk_error"),
    ),
    Case(  # an option beats its config key; the other threshold still comes from the config
        "threshold-option-beats-config",
        ("--policy", "off", "--risk-error", "60"),
        config='risk_policy = "error"\nrisk_warn = 45\nrisk_error = 90\n',
        levels="E E W - - -",
        exit=1,
        risk=("error", "CONFIG risk_policy"),
        malicious=("off", "--policy"),
        thresholds=(45.0, "CONFIG risk_warn", 60.0, "--risk-error"),
    ),
    Case(
        "config-in-pyproject",
        ("--policy", "off"),
        config='[tool.provscore]\nrisk_policy = "error"\nrisk_error = 50\n',
        levels="E E W - - -",
        exit=1,
        risk=("error", "CONFIG risk_policy"),
        malicious=("off", "--policy"),
        thresholds=(40.0, "default", 50.0, "CONFIG risk_error"),
    ),
]


def _config_name(case: Case) -> str:
    return (
        "pyproject.toml" if case.config and "[tool.provscore]" in case.config else "provscore.toml"
    )


def _origin(origin: str, config: Path) -> str:
    return origin.replace("CONFIG", str(config))


def _check(case: Case, doc: Mapping[str, Any], config: Path) -> None:
    packages = by_name(doc)
    expected = [LEVEL[c] for c in case.levels.split()]
    assert [packages[k]["level"] for k in ORDER] == expected
    policy = doc["policy"]
    assert (policy["risk"]["value"], policy["risk"]["origin"]) == (
        case.risk[0],
        _origin(case.risk[1], config),
    )
    assert (policy["malicious"]["value"], policy["malicious"]["origin"]) == (
        case.malicious[0],
        _origin(case.malicious[1], config),
    )
    warn, warn_origin, error, error_origin = case.thresholds
    assert (
        policy["risk"]["warn"],
        policy["risk"]["warn_origin"],
        policy["risk"]["error"],
        policy["risk"]["error_origin"],
    ) == (warn, _origin(warn_origin, config), error, _origin(error_origin, config))
    # Whatever the policy, the facts stay: scores are reported, the malicious hit is named and
    # counted (under off it is only counted, at level none).
    assert packages["constructed-tor@1.3.0"]["score"] == 60.0
    assert MALICIOUS_ID in packages["chalk@5.6.1"]["malicious"]["ids"]
    counts = doc["counts"]
    assert counts["malicious"] == 1
    assert (counts["error"], counts["warning"], counts["none"]) == (
        case.levels.split().count("E"),
        case.levels.split().count("W"),
        case.levels.split().count("-"),
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_policy_table_through_the_cli(case: Case, tmp_path: Path, snapshot: Path) -> None:
    lock = project(tmp_path, case.config, config_name=_config_name(case))
    code, doc, err = report(lock, snapshot, *case.args, env=case.env)
    assert doc is not None, err
    _check(case, doc, tmp_path / _config_name(case))
    assert code == case.exit, err


def _options(case: Case) -> dict[str, Any]:
    """The CLI arguments of a case as `ReportOptions` fields."""
    names = {
        "--risk-policy": "risk_policy",
        "--policy": "policy",
        "--risk-warn": "risk_warn",
        "--risk-error": "risk_error",
    }
    out: dict[str, Any] = {}
    for flag, value in zip(case.args[::2], case.args[1::2], strict=True):
        out[names[flag]] = float(value) if "risk-warn" in flag or "risk-error" in flag else value
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_policy_table_through_run_report(case: Case, tmp_path: Path, snapshot: Path) -> None:
    from scorer.report.as_json import risk_report_json

    lock = project(tmp_path, case.config, config_name=_config_name(case))
    result = run_report(
        ReportOptions(
            lockfile=lock,
            db=database_tree(),
            offline=True,
            snapshot=snapshot,
            now=datetime(2026, 11, 30, 12, tzinfo=UTC),
            **_options(case),
        ),
        env=case.env,
        home=tmp_path / "home",
    )
    _check(case, risk_report_json(result), tmp_path / _config_name(case))
    assert result.exit_code == case.exit


INVALID = [
    # (id, args, env, config, what the one-line message must name)
    ("warn-above-error", ("--risk-warn", "80", "--risk-error", "70"), {}, None, "--risk-warn"),
    (
        "warn-above-error-in-config",
        (),
        {},
        "risk_warn = 80\nrisk_error = 70\n",
        "CONFIG risk_warn",
    ),
    (
        "warn-option-above-error-from-config",
        ("--risk-warn", "80"),
        {},
        "risk_error = 70\n",
        "CONFIG risk_error",
    ),
    ("warn-negative", ("--risk-warn", "-1"), {}, None, "--risk-warn"),
    ("error-above-100", ("--risk-error", "101"), {}, None, "--risk-error"),
    ("config-warn-negative", (), {}, "risk_warn = -1\n", "CONFIG: risk_warn"),
    ("config-error-above-100", (), {}, "risk_error = 101\n", "CONFIG: risk_error"),
    ("config-threshold-not-a-number", (), {}, 'risk_warn = "forty"\n', "CONFIG: risk_warn"),
    ("risk-policy-option", ("--risk-policy", "loud"), {}, None, "--risk-policy"),
    ("risk-policy-env", (), {"PROVSCORE_RISK_POLICY": "loud"}, None, "PROVSCORE_RISK_POLICY"),
    ("risk-policy-config", (), {}, 'risk_policy = "loud"\n', "CONFIG risk_policy"),
    ("malicious-policy-option", ("--policy", "loud"), {}, None, "--policy"),
    (
        "malicious-policy-env",
        (),
        {"PROVSCORE_COMPROMISED_POLICY": "loud"},
        None,
        "PROVSCORE_COMPROMISED_POLICY",
    ),
]


@pytest.mark.parametrize(
    ("args", "env", "config", "names"),
    [i[1:] for i in INVALID],
    ids=[i[0] for i in INVALID],
)
def test_invalid_policy_or_threshold_is_exit_2_naming_its_origin(
    args: tuple[str, ...],
    env: dict[str, str],
    config: str | None,
    names: str,
    tmp_path: Path,
    snapshot: Path,
) -> None:
    lock = project(tmp_path, config)
    code, doc, err = report(lock, snapshot, *args, env=env)
    assert code == 2, err
    assert doc is None  # nothing half-written on stdout
    lines = [line for line in err.splitlines() if line.startswith("provscore: error:")]
    assert len(lines) == 1, err
    assert _origin(names, tmp_path / "provscore.toml") in lines[0]
    assert "Traceback" not in err


def test_invalid_thresholds_through_run_report_are_config_errors(tmp_path: Path) -> None:
    lock = project(tmp_path)
    for options in ({"risk_warn": 80.0, "risk_error": 70.0}, {"risk_error": 100.5}):
        with pytest.raises(ConfigError):
            run_report(
                ReportOptions(lockfile=lock, db=database_tree(), **options), env={}, home=tmp_path
            )


# --- 2. suppressions of risk flags --------------------------------------------------------------


def _suppress(package: str, reason: str, until: str | None = None, *, table: str) -> str:
    until_line = f'until = "{until}"\n' if until else ""
    return f'[[{table}]]\npackage = "{package}"\nreason = "{reason}"\n{until_line}'


@pytest.mark.parametrize(
    ("config_name", "table", "head"),
    [
        ("pyproject.toml", "tool.provscore.suppress", "[tool.provscore]\n"),
        ("provscore.toml", "suppress", ""),
    ],
)
def test_suppression_silences_a_reviewed_risk_flag(
    config_name: str, table: str, head: str, tmp_path: Path, snapshot: Path
) -> None:
    config = (
        head
        + 'risk_policy = "error"\ncompromised_policy = "off"\n'
        + _suppress(
            "constructed-tor-no-2fa@1.3.0", "reviewed: CI runner", "2026-12-31", table=table
        )
    )
    lock = project(tmp_path, config, config_name=config_name)
    code, doc, err = report(lock, snapshot)
    assert doc is not None, err
    entry = by_name(doc)["constructed-tor-no-2fa@1.3.0"]
    assert entry["level"] == "none"
    assert entry["suppressed"] == {
        "id": None,
        "package": "constructed-tor-no-2fa@1.3.0",
        "reason": "reviewed: CI runner",
        "until": "2026-12-31",
    }
    assert entry["score"] == 100.0  # the facts stay; only the flag is silenced
    assert [r["feature"] for r in entry["reasons"]] == ["tor", "no_2fa"]
    # The only error was the suppressed one: the run passes.
    assert code == 0, err
    assert doc["counts"]["suppressed"] == 1 and doc["counts"]["error"] == 0
    assert doc["unused_suppressions"] == [] and doc["expired_suppressions"] == []
    # Without the suppression the same run fails.
    (tmp_path / config_name).write_text(
        head + 'risk_policy = "error"\ncompromised_policy = "off"\n'
    )
    assert report(lock, snapshot)[0] == 1


def test_suppression_on_its_last_day_still_counts(tmp_path: Path, snapshot: Path) -> None:
    config = 'risk_policy = "error"\ncompromised_policy = "off"\n' + _suppress(
        "constructed-tor-no-2fa@1.3.0", "reviewed", "2026-11-30", table="suppress"
    )
    code, doc, err = report(project(tmp_path, config), snapshot)
    assert doc is not None and code == 0, err
    assert by_name(doc)["constructed-tor-no-2fa@1.3.0"]["level"] == "none"


def test_expired_suppression_does_not_silence_and_is_reported(
    tmp_path: Path, snapshot: Path
) -> None:
    config = 'risk_policy = "error"\ncompromised_policy = "off"\n' + _suppress(
        "constructed-tor-no-2fa@1.3.0", "reviewed last month", "2026-11-29", table="suppress"
    )
    lock = project(tmp_path, config)
    code, doc, err = report(lock, snapshot)
    assert doc is not None, err
    entry = by_name(doc)["constructed-tor-no-2fa@1.3.0"]
    assert entry["level"] == "error" and entry["suppressed"] is None
    assert code == 1
    assert doc["expired_suppressions"] == [
        {
            "id": None,
            "package": "constructed-tor-no-2fa@1.3.0",
            "reason": "reviewed last month",
            "until": "2026-11-29",
        }
    ]
    assert doc["unused_suppressions"] == []
    text = provscore(
        "report", str(lock), "--offline", "--snapshot", str(snapshot), "--db", str(database_tree()),
        "--now", NOW, cwd=tmp_path,
    )  # fmt: skip
    assert text.returncode == 1
    assert "expired suppression of constructed-tor-no-2fa@1.3.0" in text.stdout


def test_unused_suppressions_are_reported(tmp_path: Path, snapshot: Path) -> None:
    config = "".join(
        [
            _suppress("constructed-quiet@1.3.0", "scores 0: nothing to silence", table="suppress"),
            _suppress("constructed-tor@1.2.3", "another version", table="suppress"),
            _suppress("not-in-the-lockfile@1.0.0", "gone", table="suppress"),
            _suppress("constructed-tor@1.3.0", "reviewed", table="suppress"),
        ]
    )
    lock = project(tmp_path, config)
    code, doc, err = report(lock, snapshot)
    assert doc is not None, err
    assert sorted(s["package"] for s in doc["unused_suppressions"]) == [
        "constructed-quiet@1.3.0",
        "constructed-tor@1.2.3",
        "not-in-the-lockfile@1.0.0",
    ]
    packages = by_name(doc)
    assert packages["constructed-tor@1.3.0"]["level"] == "none"
    assert packages["constructed-tor@1.3.0"]["suppressed"]["reason"] == "reviewed"
    # A suppression of another version silences nothing here.
    assert packages["constructed-tor-no-2fa@1.3.0"]["level"] == "warning"
    assert code == 1  # the malicious chalk is still an error under the default policy


def test_suppressing_the_malicious_version_is_not_unused(tmp_path: Path, snapshot: Path) -> None:
    config = _suppress("chalk@5.6.1", "vendored, never executed", table="suppress")
    code, doc, err = report(project(tmp_path, config), snapshot)
    assert doc is not None, err
    assert doc["unused_suppressions"] == []
    assert by_name(doc)["chalk@5.6.1"]["level"] == "none"  # silenced by the audit gate
    assert doc["counts"]["suppressed"] == 1
    assert code == 0  # the risk flags are warnings under the default risk policy


# --- 3. --diff on real lockfile pairs -----------------------------------------------------------

DIFF = ROOT / "tests" / "fixtures" / "diff"
MANAGERS = sorted(p.parent.name for p in DIFF.glob("*/expected.json"))
LOCKNAMES = ("package-lock.json", "yarn.lock", "pnpm-lock.yaml", "bun.lock")


def _lockfile(directory: Path) -> Path:
    return next(directory / n for n in LOCKNAMES if (directory / n).is_file())


def _constructed_db(path: Path) -> Path:
    """A local OSV database with one constructed malicious record (not a real advisory): the
    version the upgrade brings in, yocto-queue 0.1.0."""
    rec = record(
        "MAL-2099-0001",
        "yocto-queue",
        versions=["0.1.0"],
        summary="constructed for provscore's tests: not a real advisory",
    )
    path.write_text(json.dumps([rec]))
    return path


@pytest.mark.parametrize("manager", MANAGERS)
def test_diff_on_a_real_pair_lists_only_new_and_changed_versions(
    manager: str, tmp_path: Path
) -> None:
    expected = json.loads((DIFF / manager / "expected.json").read_text())
    empty = tmp_path / "empty-snapshot"
    empty.mkdir()
    db = _constructed_db(tmp_path / "db.json")
    base = [
        "report", str(_lockfile(DIFF / manager / "after")),
        "--diff", str(_lockfile(DIFF / manager / "before")),
        "--offline", "--snapshot", str(empty), "--db", str(db), "--now", NOW, "--format", "json",
    ]  # fmt: skip
    result = provscore(*base, cwd=tmp_path)
    doc = json.loads(result.stdout)
    listed = {(p["name"], p["version"]): p for p in doc["packages"]}
    assert sorted(listed) == sorted(
        [tuple(a) for a in expected["added"]] + [(c[0], c[1]) for c in expected["changed"]]
    )
    for name, version in expected["added"]:
        assert (listed[(name, version)]["change"], listed[(name, version)]["replaces"]) == (
            "added",
            [],
        )
    for name, version, replaces in expected["changed"]:
        assert listed[(name, version)]["change"] == "changed"
        assert listed[(name, version)]["replaces"] == replaces  # debug 3.2.7 replaces 2.6.9
    assert doc["diff"]["added"] == len(expected["added"])
    assert doc["diff"]["changed"] == len(expected["changed"])
    assert doc["diff"]["unchanged"] == expected["unchanged"]
    assert doc["diff"]["removed"] == len(expected["removed"])
    # The malicious version among the new ones still gates, and is ranked first.
    assert doc["packages"][0]["name"] == "yocto-queue"
    assert doc["packages"][0]["malicious"]["ids"] == ["MAL-2099-0001"]
    assert doc["packages"][0]["level"] == "error"
    assert result.returncode == 1, result.stderr
    # Registry facts are unknown offline (an empty snapshot), with the reason, never a score.
    debug = listed[("debug", "3.2.7")]
    assert debug["score"] is None and debug["level"] == "none"
    assert any("not in the snapshot" in u["why"] for u in debug["unknown"])
    # Under malicious policy warn the same diff passes, the hit as a warning.
    warned = provscore(*base, "--policy", "warn", cwd=tmp_path)
    assert warned.returncode == 0, warned.stderr
    assert json.loads(warned.stdout)["packages"][0]["level"] == "warning"


def test_diff_text_names_the_replaced_version(tmp_path: Path, snapshot: Path) -> None:
    old = write_lock(tmp_path / "old", [("constructed-tor", "1.2.3")])
    new = write_lock(tmp_path / "new", [("constructed-tor", VERSION)])
    for fmt in ("text", "markdown"):
        result = provscore(
            "report", str(new), "--diff", str(old), "--offline", "--snapshot", str(snapshot),
            "--db", str(database_tree()), "--now", NOW, "--format", fmt, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "constructed-tor@1.3.0 (was 1.2.3)" in result.stdout, result.stdout
        assert "1 changed" in result.stdout


@pytest.mark.parametrize("degraded", ["old", "new"])
def test_diff_reports_what_each_lockfile_read_in_a_degraded_way(
    tmp_path: Path, snapshot: Path, degraded: str
) -> None:
    unversioned = ROOT / "tests" / "fixtures" / "lockfiles" / "edge" / "npm3-unversioned"
    plain = write_lock(tmp_path / "plain", [("constructed-tor", VERSION)])
    old, new = (unversioned / "package-lock.json", plain)[:: 1 if degraded == "old" else -1]
    result = provscore(
        "report", str(new), "--diff", str(old), "--offline", "--snapshot", str(snapshot),
        "--db", str(database_tree()), "--now", NOW, "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    warned = f"provscore: warning: {unversioned / 'package-lock.json'}: node_modules/gitdep"
    assert warned in result.stderr, result.stderr
    doc = json.loads(result.stdout)
    on_old, on_new = doc["diff"]["old_lockfile_warnings"], doc["lockfile_warnings"]
    assert (len(on_old), len(on_new)) == ((1, 0) if degraded == "old" else (0, 1))
    assert (on_old or on_new)[0].startswith("node_modules/gitdep: no version recorded")


def test_diff_scores_the_changed_versions_and_lists_non_registry_ones_as_not_scored(
    tmp_path: Path, snapshot: Path
) -> None:
    old = write_lock(
        tmp_path / "old", [("constructed-tor", "1.2.3"), ("constructed-quiet", VERSION)]
    )
    new = write_lock(
        tmp_path / "new",
        [
            ("constructed-tor", VERSION),
            ("constructed-quiet", VERSION),
            ("constructed-no-2fa", VERSION),
        ],
        extra={**GIT_DEP, **FILE_DEP},
    )
    code, doc, err = report(new, snapshot, "--diff", str(old))
    assert doc is not None, err
    listed = by_name(doc)
    assert sorted(listed) == [
        "constructed-no-2fa@1.3.0",
        "constructed-tor@1.3.0",
        "gitdep@1.0.0",
        "localdep@0.1.0",
    ]  # constructed-quiet is unchanged
    tor = listed["constructed-tor@1.3.0"]
    assert (tor["change"], tor["replaces"], tor["score"], tor["level"]) == (
        "changed",
        ["1.2.3"],
        60.0,
        "warning",
    )
    assert listed["constructed-no-2fa@1.3.0"]["change"] == "added"
    for spec, why in (("gitdep@1.0.0", "git dependency"), ("localdep@0.1.0", "local file")):
        entry = listed[spec]
        assert entry["source"] != "registry"
        assert entry["score"] is None and entry["level"] == "none"
        assert entry["not_scored"].startswith(why), entry["not_scored"]
    assert [p["name"] for p in doc["packages"]][-2:] == ["gitdep", "localdep"]  # last
    assert doc["counts"]["not_scored"] == 2
    assert code == 0
    # Risk policy error: the new Tor release (60) fails the pull request at --risk-error 50.
    code, doc, err = report(new, snapshot, "--diff", str(old), "--risk-policy", "error",
                            "--risk-error", "50")  # fmt: skip
    assert code == 1 and doc is not None
    assert by_name(doc)["constructed-tor@1.3.0"]["level"] == "error"


def test_whole_lockfile_lists_non_registry_packages_as_not_scored(
    tmp_path: Path, snapshot: Path
) -> None:
    lock = project(tmp_path, extra={**GIT_DEP, **FILE_DEP})
    code, doc, err = report(lock, snapshot)
    assert doc is not None and code == 1, err
    for spec in ("gitdep@1.0.0", "localdep@0.1.0"):
        entry = by_name(doc)[spec]
        assert entry["not_scored"] and entry["score"] is None and entry["facts"] == {}
    assert doc["counts"]["not_scored"] == 2


# --- 5. --now, --output, the lockfile of the current directory ----------------------------------


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "2026-11-30T25:00:00Z", ""])
def test_invalid_now_is_exit_2(value: str, tmp_path: Path, snapshot: Path) -> None:
    result = provscore(
        "report", str(project(tmp_path)), "--offline", "--snapshot", str(snapshot),
        "--db", str(database_tree()), "--now", value, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert f"--now {value!r}" in result.stderr and "ISO 8601" in result.stderr


def test_now_without_a_zone_is_utc_and_moves_the_cooldown(tmp_path: Path, snapshot: Path) -> None:
    lock = project(tmp_path)
    result = provscore(
        "report", str(lock), "--offline", "--snapshot", str(snapshot), "--db", str(database_tree()),
        "--now", "2026-11-30T12:00:00", "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert json.loads(result.stdout)["now"] == "2026-11-30T12:00:00+00:00"
    # Two days after 1.3.0 was published (2022-04-07) it is inside the 7-day cooldown.
    young = provscore(
        "report", str(lock), "--offline", "--snapshot", str(snapshot), "--db", str(database_tree()),
        "--now", "2022-04-09T00:00:00Z", "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    quiet = by_name(json.loads(young.stdout))["constructed-quiet@1.3.0"]
    assert [r["feature"] for r in quiet["reasons"]] == ["young_release"]


def test_output_writes_the_file_and_nothing_to_stdout(tmp_path: Path, snapshot: Path) -> None:
    lock = project(tmp_path)
    out = tmp_path / "reports" / "risk.json"
    out.parent.mkdir()
    out.write_text("previous report\n")
    args = ["report", str(lock), "--offline", "--snapshot", str(snapshot),
            "--db", str(database_tree()), "--now", NOW, "--format", "json"]  # fmt: skip
    result = provscore(*args, "--output", str(out), cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # the malicious chalk
    assert result.stdout == ""
    assert str(out) in result.stderr
    written = json.loads(out.read_text())
    assert written == json.loads(provscore(*args, cwd=tmp_path).stdout)
    assert sorted(p.name for p in out.parent.iterdir()) == ["risk.json"]  # no temporary left


def test_output_is_left_untouched_when_the_run_fails(tmp_path: Path, snapshot: Path) -> None:
    out = tmp_path / "risk.json"
    out.write_text("previous report\n")
    result = provscore(
        "report", str(project(tmp_path)), "--offline", "--snapshot", str(snapshot),
        "--db", str(database_tree()), "--risk-policy", "loud", "--output", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert out.read_text() == "previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("risk")) == ["risk.json"]


def test_without_a_lockfile_argument_the_one_in_the_cwd_is_used(
    tmp_path: Path, snapshot: Path
) -> None:
    lock = project(tmp_path / "app")
    result = provscore(
        "report", "--offline", "--snapshot", str(snapshot), "--db", str(database_tree()),
        "--now", NOW, "--format", "json", cwd=lock.parent,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "using package-lock.json" in result.stderr
    doc = json.loads(result.stdout)
    assert Path(doc["lockfile"]).name == "package-lock.json"
    assert set(by_name(doc)) == set(ORDER)
    empty = tmp_path / "empty"
    empty.mkdir()
    none = provscore("report", "--offline", "--snapshot", str(snapshot), cwd=empty)
    assert none.returncode == 2
    assert "no lockfile here" in none.stderr and str(empty) in none.stderr


# --- 6. import hygiene ----------------------------------------------------------------------------


def _imported(*args: str, cwd: Path) -> set[str]:
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "scorer", *args],
        text=True,
        capture_output=True,
        check=False,
        cwd=cwd,
        env={"HOME": str(cwd / "home"), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "scorer" in modules, run.stderr[-500:]
    return modules


def test_audit_imports_no_pandas_and_report_no_sklearn(tmp_path: Path, snapshot: Path) -> None:
    lock = project(tmp_path)
    audit = _imported(
        "audit", str(lock), "--db", str(database_tree()), "--format", "json", cwd=tmp_path
    )
    assert "pandas" not in audit and "sklearn" not in audit
    report_modules = _imported(
        "report", str(lock), "--offline", "--snapshot", str(snapshot), "--db", str(database_tree()),
        "--now", NOW, "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert "pandas" in report_modules  # the feature frame: proves the run got that far
    assert "sklearn" not in report_modules


def test_output_that_cannot_be_written_is_exit_2_naming_it(tmp_path: Path, snapshot: Path) -> None:
    target = tmp_path / "a-directory"
    target.mkdir()
    result = provscore(
        "report", str(project(tmp_path)), "--offline", "--snapshot", str(snapshot),
        "--db", str(database_tree()), "--now", NOW, "--output", str(target), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"provscore: error: {target}" in result.stderr and "cannot write" in result.stderr
    assert result.stdout == "" and list(target.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_offline_with_a_missing_snapshot_directory_is_exit_2(tmp_path: Path) -> None:
    """Not a report of unknowns: a mistyped path would otherwise flag nothing at all."""
    missing = tmp_path / "frozn"
    lock = project(tmp_path)
    result = provscore(
        "report", str(lock), "--offline", "--snapshot", str(missing), "--db", str(database_tree()),
        "--now", NOW, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"provscore: error: {missing}" in result.stderr and result.stdout == ""
    (tmp_path / "provscore.toml").write_text(f'offline = true\nsnapshot = "{missing.name}"\n')
    from_config = provscore(
        "report", str(lock), "--db", str(database_tree()), "--now", NOW, cwd=tmp_path
    )  # fmt: skip
    assert from_config.returncode == 2, from_config.stderr
    assert str(missing) in from_config.stderr


def test_diff_still_gates_on_a_malicious_version_the_change_keeps(tmp_path: Path) -> None:
    # An advisory published after a version was locked must fail the change that keeps it:
    # debug 4.4.3 is in both lockfiles of the npm pair, and a constructed record marks it.
    rec = record(
        "MAL-2099-0002",
        "debug",
        versions=["4.4.3"],
        summary="constructed for provscore's tests: not a real advisory",
    )
    db = tmp_path / "db.json"
    db.write_text(json.dumps([rec]))
    empty = tmp_path / "empty-snapshot"
    empty.mkdir()
    result = provscore(
        "report", str(_lockfile(DIFF / "npm" / "after")),
        "--diff", str(_lockfile(DIFF / "npm" / "before")),
        "--offline", "--snapshot", str(empty), "--db", str(db), "--now", NOW, "--format", "json",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    first = doc["packages"][0]
    assert (first["name"], first["version"], first["change"]) == ("debug", "4.4.3", None)
    assert first["malicious"]["ids"] == ["MAL-2099-0002"] and first["level"] == "error"
    assert doc["diff"]["changed"] == 1  # the diff itself is unchanged: debug 3.2.7 replaces 2.6.9


def test_a_suppressed_malicious_version_is_shown_with_its_suppression(
    tmp_path: Path, snapshot: Path
) -> None:
    rec = record("MAL-2099-0003", "constructed-quiet", versions=[VERSION], summary="constructed")
    db = tmp_path / "db.json"
    db.write_text(json.dumps([rec]))
    lock = write_lock(tmp_path / "p", [("constructed-quiet", VERSION)])
    (lock.parent / "provscore.toml").write_text(
        '[[suppress]]\nid = "MAL-2099-0003"\nreason = "vendored, never executed"\n'
    )
    result = provscore(
        "report", str(lock), "--offline", "--snapshot", str(snapshot), "--db", str(db),
        "--now", NOW, "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    pkg = by_name(json.loads(result.stdout))[f"constructed-quiet@{VERSION}"]
    assert pkg["malicious"] is None and pkg["level"] == "none"
    assert pkg["suppressed_malicious"] == [
        {
            "ids": ["MAL-2099-0003"],
            "summary": "constructed",
            "suppression": {
                "id": "MAL-2099-0003",
                "package": None,
                "reason": "vendored, never executed",
                "until": None,
            },
        }
    ]
    text = provscore(
        "report", str(lock), "--offline", "--snapshot", str(snapshot), "--db", str(db),
        "--now", NOW, cwd=tmp_path,
    )  # fmt: skip
    assert "malicious MAL-2099-0003, suppressed: vendored, never executed" in text.stdout


def test_risk_policy_off_still_counts_the_versions_over_the_thresholds(
    tmp_path: Path, snapshot: Path
) -> None:
    lock = write_lock(
        tmp_path / "p", [("constructed-tor", VERSION), ("constructed-quiet", VERSION)]
    )
    args = [
        "report",
        str(lock),
        "--offline",
        "--snapshot",
        str(snapshot),
        "--db",
        str(database_tree()),
    ]
    args += ["--now", NOW, "--risk-policy", "off"]
    doc = json.loads(provscore(*args, "--format", "json", cwd=tmp_path).stdout)
    assert doc["counts"]["warning"] == doc["counts"]["error"] == 0
    assert doc["counts"]["at_or_above_warn"] == 1
    text = provscore(*args, cwd=tmp_path).stdout
    assert "scores are only counted: 1 at or above 40" in text
