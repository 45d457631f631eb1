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


def provscore(w: World, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **w.env, "PYTHONPATH": str(ROOT)}
    env.pop("PROVSCORE_VERIFY_POLICY", None)
    return subprocess.run(
        [sys.executable, "-m", "scorer", "verify", str(w.lockfile), *args],
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
