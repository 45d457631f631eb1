"""The installed command: version, help on every command, the shipped example, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "npm-app" / "package-lock.json"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scorer", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        check=False,
    )


def test_version() -> None:
    from scorer import __version__

    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"provscore {__version__}"


def test_every_command_has_help() -> None:
    for args in ([], ["lock"], ["lock", "list"]):
        result = run(*args, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_example_lists_as_json() -> None:
    result = run("lock", "list", str(EXAMPLE), "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["format"] == "package-lock@3"
    names = {(p["name"], p["version"]) for p in doc["packages"]}
    assert ("pg", "7.12.0") in names
    assert ("chalk", "5.6.1") in names
    keys = [(p["name"], p["version"]) for p in doc["packages"]]
    assert keys == sorted(keys)


def test_default_lockfile_is_said_on_stderr() -> None:
    result = run("lock", "list", cwd=EXAMPLE.parent)
    assert result.returncode == 0, result.stderr
    assert "using package-lock.json" in result.stderr


def test_missing_file_is_exit_2_one_line(tmp_path: Path) -> None:
    result = run("lock", "list", str(tmp_path / "package-lock.json"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "package-lock.json: no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2_without_a_traceback() -> None:
    for args in (
        ["nosuch"],
        ["lock", "list", "--format", "xml"],
        ["audit", "--bogus"],
        ["insights", "serve"],
    ):
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and "Usage" in result.stderr


def test_help_keeps_bracketed_text() -> None:
    # Rich markup would read "[tool.provscore]" as a style tag and print "in  or provscore.toml".
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "scorer", "audit", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "COLUMNS": "200"},
    ).stdout
    assert "compromised_policy in [tool.provscore] or provscore.toml" in " ".join(out.split())
