"""`provscore verify` through the command line, in a child process, against the local signing
registry of tests/test_verify_registry.py: exit codes per policy, formats, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from test_verify_registry import World, world  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[1]


def provscore(
    w: World, *args: str, lockfile: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **w.env, "PYTHONPATH": str(ROOT)}
    env.pop("PROVSCORE_VERIFY_POLICY", None)
    return subprocess.run(
        [sys.executable, "-m", "scorer", "verify", str(lockfile or w.lockfile), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_verify_exit_codes_and_json(world: World) -> None:  # noqa: F811
    cache = ["--cache-dir", str(world.root / "cache")]
    done = provscore(world, *cache, "--format", "json")
    assert done.returncode == 1, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    assert doc["policy"] == {"value": "error", "origin": "default"}
    assert doc["counts"]["checks"]["integrity"]["failed"] == 2
    warn = provscore(world, *cache, "--policy", "warn", "--offline")
    assert warn.returncode == 0, warn.stderr
    assert "WARN  tampered@1.0.0  integrity  failed" in warn.stdout
    bad = provscore(world, *cache, "--policy", "strict")
    assert bad.returncode == 2 and "invalid policy 'strict'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_suppressions_silence_verify_findings_and_expired_ones_are_reported(
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    lockfile = project / "package-lock.json"
    lockfile.write_bytes(world.lockfile.read_bytes())
    cache = ["--cache-dir", str(world.root / "cache")]
    before = json.loads(provscore(world, *cache, "--format", "json", lockfile=lockfile).stdout)
    flagged = {f"{p['name']}@{p['version']}" for p in before["packages"] if p["level"] != "none"}
    assert {"tampered@1.0.0", "swapped@1.0.0"} <= flagged

    (project / "provscore.toml").write_text(
        "[[suppress]]\n"
        'package = "tampered@1.0.0"\n'
        'reason = "rebuilt by our mirror; checked by hand"\n'
        "[[suppress]]\n"
        'package = "swapped@1.0.0"\n'
        'reason = "an old exception"\n'
        "until = 2020-01-01\n"
    )
    done = provscore(world, *cache, "--format", "json", lockfile=lockfile)
    doc: dict[str, Any] = json.loads(done.stdout)
    by = {f"{p['name']}@{p['version']}": p for p in doc["packages"]}
    tampered = by["tampered@1.0.0"]
    assert tampered["level"] == "none"
    assert tampered["suppressed"]["reason"] == "rebuilt by our mirror; checked by hand"
    # What was silenced stays visible: the check still says it failed, at the policy's level.
    assert tampered["checks"]["integrity"]["outcome"] == "failed"
    assert tampered["checks"]["integrity"]["level"] == "error"
    assert by["swapped@1.0.0"]["level"] == "error" and by["swapped@1.0.0"]["suppressed"] is None
    assert [s["package"] for s in doc["expired_suppressions"]] == ["swapped@1.0.0"]
    assert doc["counts"]["suppressed"] == 1
    assert doc["counts"]["error"] == before["counts"]["error"] - 1
    # The other findings still fail the run.
    assert done.returncode == 1, done.stderr

    text = provscore(world, *cache, "--offline", lockfile=lockfile).stdout
    assert "suppressed  tampered@1.0.0  (rebuilt by our mirror; checked by hand)" in text
    assert "tampered@1.0.0  integrity" not in text
    assert "warning: expired suppression of swapped@1.0.0 (an old exception)" in text
    markdown = provscore(world, *cache, "--offline", "--format", "markdown", lockfile=lockfile)
    assert "; 1 suppressed." in markdown.stdout

    # Once every finding is suppressed, the run passes.
    every = "".join(f'[[suppress]]\npackage = "{f}"\nreason = "reviewed"\n' for f in flagged)
    (project / "provscore.toml").write_text(every)
    quiet = provscore(world, *cache, "--offline", "--format", "json", lockfile=lockfile)
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout)["counts"]["suppressed"] == len(flagged)


def test_verify_offline_without_a_registry_is_a_clear_error(tmp_path: Path) -> None:
    lock = tmp_path / "package-lock.json"
    lock.write_text(json.dumps({"lockfileVersion": 3, "packages": {"": {"name": "x"}}}))
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("NPM_CONFIG_REGISTRY", None)
    env.pop("npm_config_registry", None)
    done = subprocess.run(
        [sys.executable, "-m", "scorer", "verify", str(lock)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "no npm registry configured" in done.stderr
