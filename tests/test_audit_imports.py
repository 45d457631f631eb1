"""`provscore audit` starts fast: the offline gate never imports the scoring stack (pandas,
scikit-learn), the GraphQL stack, or the HTTP client it does not use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "npm-app" / "package-lock.json"
DB = EXAMPLE.with_name("osv.json")  # the shipped example database (ours, generated)
HEAVY = ("pandas", "sklearn", "numpy", "gql", "graphql", "ariadne", "uvicorn")


def imported_by(*args: str, home: Path) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "scorer", *args],
        text=True,
        capture_output=True,
        check=False,
        env={**os.environ, "HOME": str(home)},
    )
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert modules, result.stderr[-500:]
    return modules


def test_offline_audit_imports_nothing_heavy(tmp_path: Path) -> None:
    modules = imported_by("audit", str(EXAMPLE), "--db", str(DB), "--format", "json", home=tmp_path)
    assert "scorer" in modules
    assert not modules & {*HEAVY, "httpx", "ijson"}  # ijson: only for plain JSON documents


def test_online_audit_imports_httpx_but_not_the_scoring_stack(tmp_path: Path) -> None:
    modules = imported_by(
        "audit", str(EXAMPLE), "--osv", "--osv-url", "http://127.0.0.1:9", home=tmp_path
    )
    assert "httpx" in modules
    assert not modules & set(HEAVY)
