"""Every `--format` enum member has a renderer, and every renderer renders (pretty or compact)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scorer.policy import Policy
from scorer.publication import merge
from scorer.records import (
    AuditReport,
    Finding,
    Level,
    LockedPackage,
    Lockfile,
    SourceInfo,
    SourceKind,
)
from scorer.report import audit, lockfile, publication
from scorer.report.formats import AuditFormat, ListFormat, PublicationFormat

PKG = LockedPackage("evil", "1.0.0", SourceKind.REGISTRY, paths=("node_modules/evil",))
LOCK = Lockfile(Path("package-lock.json"), "package-lock@3", (PKG,))
REPORT = AuditReport(
    lockfile=LOCK,
    mode="offline",
    sources=(SourceInfo("local-db", "/db.json", records=1),),
    policy=Policy.ERROR,
    policy_origin="default",
    level=Level.ERROR,
    findings=(Finding(PKG, ("MAL-1",), "steals tokens", "local"),),
    exit_code=1,
)
JSON_FORMATS = {"json", "sarif"}


@pytest.mark.parametrize("fmt", list(AuditFormat))
@pytest.mark.parametrize("pretty", [True, False])
def test_every_audit_format_renders(fmt: AuditFormat, pretty: bool) -> None:
    out = audit.render(REPORT, fmt, pretty=pretty)
    assert "evil" in out and out.endswith("\n")
    if fmt in JSON_FORMATS:
        json.loads(out)
    if fmt is AuditFormat.JSON:
        assert ("\n  " in out) is pretty


@pytest.mark.parametrize("fmt", list(PublicationFormat))
@pytest.mark.parametrize("pretty", [True, False])
def test_every_publication_format_renders(fmt: PublicationFormat, pretty: bool) -> None:
    out = publication.render(merge("x", "1.0.0", None, None), fmt, pretty=pretty)
    assert "x" in out and "no insights endpoint configured" in out
    if fmt is PublicationFormat.JSON:
        assert json.loads(out)["name"] == "x" and ("\n  " in out) is pretty


@pytest.mark.parametrize("fmt", list(ListFormat))
@pytest.mark.parametrize("pretty", [True, False])
def test_every_list_format_renders(fmt: ListFormat, pretty: bool) -> None:
    out = lockfile.RENDERERS[fmt](LOCK, pretty=pretty)
    assert "evil" in out
    if fmt is ListFormat.JSON:
        assert json.loads(out)["packages"][0]["name"] == "evil"


def test_tables_match_their_enums() -> None:
    assert list(audit.RENDERERS) == list(AuditFormat)
    assert list(publication.RENDERERS) == list(PublicationFormat)
    assert list(lockfile.RENDERERS) == list(ListFormat)


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "package-lock.json", "--format", "xml"],
        ["insights", "show", "pg@7.12.0", "--format", "yaml"],
        ["lock", "list", "--format", "csv"],
    ],
)
def test_a_bad_format_is_a_usage_error(args: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scorer", *args],
        text=True,
        capture_output=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "Invalid value for '--format'" in result.stderr and "Traceback" not in result.stderr
