"""The shared result records: `SourceInfo`'s JSON view, and renderers that stand on records only."""

from __future__ import annotations

import subprocess
import sys

from scorer.records import Level, SourceInfo


def test_audit_source_kinds_keep_the_audit_json_shape() -> None:
    api = SourceInfo("osv-api", "https://osv.example.invalid", requests=3, records=2)
    assert api.to_json() == {
        "kind": "osv-api",
        "url": "https://osv.example.invalid",
        "requests": 3,
        "records": 2,
    }
    db = SourceInfo("local-db", "/tmp/db.json", records=7)
    assert db.to_json() == {"kind": "local-db", "path": "/tmp/db.json", "records": 7}
    assert (api["url"], db["path"]) == ("https://osv.example.invalid", "/tmp/db.json")


def test_other_source_kinds_say_what_was_asked_answered_and_failed() -> None:
    registry = SourceInfo(
        "registry", "http://127.0.0.1:1/", requests=5, asked=4, answered=3, failed=1, note="x"
    )
    assert registry.to_json() == {
        "kind": "registry",
        "location": "http://127.0.0.1:1/",
        "asked": 4,
        "answered": 3,
        "failed": 1,
        "requests": 5,
        "note": "x",
    }
    assert SourceInfo("snapshot").to_json()["location"] is None


def test_levels_are_the_sarif_words() -> None:
    assert [str(level) for level in Level] == ["error", "warning", "none"]


def test_renderers_do_not_import_the_audit_orchestrator() -> None:
    code = (
        "import sys, scorer.report.text, scorer.report.as_json, scorer.report.sarif, "
        "scorer.report.markdown; print('scorer.audit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
