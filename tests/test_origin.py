"""Origin checks of `resolved` URLs, and name collisions: a malicious advisory matching a package
the lockfile resolves from a private registry, in `provscore audit` and its four formats."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from scorer.audit import AuditOptions, run_audit
from scorer.origin import check_origin, private_origin, private_registries
from scorer.records import Level, LockedPackage, Outcome, Severity, SourceKind
from scorer.report import audit as audit_formats
from scorer.report.formats import AuditFormat

REG = "https://registry.example.invalid/"
PRIVATE = "https://npm.corp.example.invalid/repo/"


def pkg(name: str, version: str, resolved: str | None) -> LockedPackage:
    return LockedPackage(name, version, SourceKind.REGISTRY, resolved=resolved)


def test_the_configured_registrys_tarball_is_verified() -> None:
    result = check_origin(pkg("a", "1.0.0", f"{REG}a/-/a-1.0.0.tgz"), REG, ".npmrc")
    assert result.outcome is Outcome.VERIFIED
    scoped = pkg("@s/b", "2.0.0", f"{PRIVATE}@s/b/-/b-2.0.0.tgz")
    assert check_origin(scoped, PRIVATE, ".npmrc").outcome is Outcome.VERIFIED


def test_another_host_is_a_hard_finding_unless_allowed() -> None:
    other = pkg("a", "1.0.0", "https://cdn.example.invalid/a/-/a-1.0.0.tgz")
    result = check_origin(other, REG, "--registry")
    assert result.outcome is Outcome.FAILED and result.severity is Severity.HARD
    assert "cdn.example.invalid" in (result.detail or "") and "--registry" in (result.detail or "")
    allowed = check_origin(other, REG, "--registry", ["cdn.example.invalid"])
    assert allowed.outcome is Outcome.VERIFIED


def test_plain_http_is_a_finding_except_to_this_machine() -> None:
    result = check_origin(
        pkg("a", "1.0.0", "http://registry.example.invalid/a/-/a-1.0.0.tgz"), REG, "x"
    )
    assert result.outcome is Outcome.FAILED and "plain http" in (result.detail or "")
    local = "http://127.0.0.1:4873/"
    assert check_origin(pkg("a", "1.0.0", f"{local}a/-/a-1.0.0.tgz"), local, "x").outcome is (
        Outcome.VERIFIED
    )


def test_a_tarball_of_another_name_or_version_is_a_finding() -> None:
    swapped = pkg("a", "1.0.0", f"{REG}evil/-/evil-6.6.6.tgz")
    result = check_origin(swapped, REG, "x")
    assert result.outcome is Outcome.FAILED
    assert "/a/-/a-1.0.0.tgz" in (result.detail or "")
    older = pkg("a", "1.0.1", f"{REG}a/-/a-1.0.0.tgz")
    assert check_origin(older, REG, "x").outcome is Outcome.FAILED


def test_no_resolved_url_is_unverifiable_not_a_finding() -> None:
    result = check_origin(pkg("a", "1.0.0", None), REG, "x")
    assert result.outcome is Outcome.UNVERIFIABLE and result.severity is Severity.NONE


def test_private_registries_are_scope_registries_other_than_the_default() -> None:
    scopes = {"@corp": (PRIVATE, ".npmrc"), "@pub": (REG, ".npmrc")}
    assert private_registries(REG, scopes) == (PRIVATE,)
    extra = private_registries(REG, {}, ["https://other.example.invalid/npm"])
    assert extra == ("https://other.example.invalid/npm/",)
    inside = pkg("@corp/x", "1.0.0", f"{PRIVATE}@corp/x/-/x-1.0.0.tgz")
    assert private_origin(inside, (PRIVATE,)) == PRIVATE
    elsewhere = pkg("@corp/x", "1.0.0", "https://npm.corp.example.invalid/other/x.tgz")
    assert private_origin(elsewhere, (PRIVATE,)) is None


# -- audit: name collisions ---------------------------------------------------------------


def _project(tmp: Path, npmrc: str | None) -> tuple[Path, dict[str, str]]:
    packages: dict[str, Any] = {"": {"name": "app", "version": "1.0.0"}}
    packages["node_modules/@corp/utils"] = {
        "version": "1.0.0",
        "resolved": f"{PRIVATE}@corp/utils/-/utils-1.0.0.tgz",
    }
    packages["node_modules/evil"] = {
        "version": "1.0.0",
        "resolved": f"{REG}evil/-/evil-1.0.0.tgz",
    }
    lock = tmp / "package-lock.json"
    lock.write_text(json.dumps({"lockfileVersion": 3, "packages": packages}))
    if npmrc is not None:
        (tmp / ".npmrc").write_text(npmrc)
    db = tmp / "db.json"
    records = [
        {
            "id": f"MAL-2099-{i}",
            "modified": "2099-01-01T00:00:00Z",
            "summary": f"Malicious code in {name} (npm)",
            "affected": [{"package": {"ecosystem": "npm", "name": name}, "versions": ["1.0.0"]}],
        }
        for i, name in enumerate(["@corp/utils", "evil"], start=1)
    ]
    db.write_text(json.dumps(records))
    return lock, {"PROVSCORE_COMPROMISED_DB": str(db), "HOME": str(tmp / "home")}


def test_audit_reports_a_private_package_as_a_name_collision(tmp_path: Path) -> None:
    lock, env = _project(tmp_path, f"registry={REG}\n@corp:registry={PRIVATE}\n")
    report = run_audit(
        AuditOptions(lockfile=lock), env=env, today=date(2099, 6, 1), home=tmp_path / "home"
    )
    assert [f.package.name for f in report.findings] == ["evil"]
    assert [(f.package.name, f.private_origin) for f in report.collisions] == [
        ("@corp/utils", PRIVATE)
    ]
    assert report.collision_level is Level.WARNING and report.exit_code == 1  # evil still fails
    doc = json.loads(audit_formats.render(report, AuditFormat.JSON))
    (collision,) = doc["collisions"]
    assert (
        collision["lockfile_origin"] == PRIVATE
        and "public npm registry" in (collision["advisory_origin"])
    )
    assert collision["level"] == "warning" and doc["counts"]["collisions"] == 1
    text = audit_formats.render(report, AuditFormat.TEXT)
    assert "name collision: @corp/utils@1.0.0 comes from the private registry" in text
    sarif = json.loads(audit_formats.render(report, AuditFormat.SARIF))
    rules = {r["ruleId"]: r["level"] for r in sarif["runs"][0]["results"]}
    assert rules["provscore/name-collision"] == "warning" and rules["MAL-2099-2"] == "error"
    markdown = audit_formats.render(report, AuditFormat.MARKDOWN)
    assert "Name collisions (warning)" in markdown and "npm.corp.example.invalid" in markdown


def test_audit_without_the_scope_registry_keeps_the_malicious_finding(tmp_path: Path) -> None:
    lock, env = _project(tmp_path, None)
    report = run_audit(
        AuditOptions(lockfile=lock), env=env, today=date(2099, 6, 1), home=tmp_path / "home"
    )
    assert sorted(f.package.name for f in report.findings) == ["@corp/utils", "evil"]
    assert report.collisions == ()


def test_audit_with_an_unreadable_npmrc_fails_closed_and_says_so(tmp_path: Path) -> None:
    lock, env = _project(tmp_path, "@corp:registry=${UNSET_FOR_TEST}\n")
    report = run_audit(
        AuditOptions(lockfile=lock), env=env, today=date(2099, 6, 1), home=tmp_path / "home"
    )
    assert len(report.findings) == 2 and report.collisions == ()
    assert all("origin judged without the .npmrc" in (f.note or "") for f in report.findings)


def test_configured_private_registries_count_too(tmp_path: Path) -> None:
    lock, env = _project(tmp_path, None)
    (tmp_path / "provscore.toml").write_text(f'private_registries = ["{PRIVATE}"]\n')
    report = run_audit(
        AuditOptions(lockfile=lock), env=env, today=date(2099, 6, 1), home=tmp_path / "home"
    )
    assert [f.package.name for f in report.collisions] == ["@corp/utils"]


def test_a_resolved_url_python_cannot_read_is_a_hard_finding_not_a_crash() -> None:
    # Found by bench/fuzz.py: a port out of range or an unclosed bracket in a lockfile's
    # `resolved` raised ValueError in verify's origin check and audit's private-registry test.
    for resolved in (
        "https://re:gistry.example.invalid/a/-/a-1.0.0.tgz",
        "https://registry.example.invalid:99999/a/-/a-1.0.0.tgz",
        "https://registry.example.invalid[/a/-/a-1.0.0.tgz",
    ):
        result = check_origin(pkg("a", "1.0.0", resolved), REG, "x")
        assert result.outcome is Outcome.FAILED and result.severity is Severity.HARD
        assert "not a valid URL" in (result.detail or "")
        # Fetched from no registry at all: a malicious match stays a finding.
        assert private_origin(pkg("a", "1.0.0", resolved), (REG, PRIVATE)) is None
    good = pkg("a", "1.0.0", f"{REG}a/-/a-1.0.0.tgz")
    assert private_origin(good, ("https://[/", REG)) == REG


def test_audit_with_an_unreadable_resolved_url_still_reports_the_finding(tmp_path: Path) -> None:
    lock, env = _project(tmp_path, f"registry={REG}\n@corp:registry={PRIVATE}\n")
    doc = json.loads(lock.read_text())
    doc["packages"]["node_modules/evil"]["resolved"] = (
        "https://registry.example.invalid:99999/evil/-/evil-1.0.0.tgz"
    )
    lock.write_text(json.dumps(doc))
    report = run_audit(
        AuditOptions(lockfile=lock), env=env, today=date(2099, 6, 1), home=tmp_path / "home"
    )
    assert [f.package.name for f in report.findings] == ["evil"] and report.exit_code == 1
