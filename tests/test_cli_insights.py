"""`provscore insights serve` and `insights show` end to end, as separate processes over 127.0.0.1:
the published example pg@7.12.0 (brianc, no Tor, 2FA) through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from insights_fixtures import real, registry_server

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "data" / "insights" / "examples.json"


@pytest.fixture
def insights_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scorer",
            "insights",
            "serve",
            "--data",
            str(EXAMPLES),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line + (proc.stderr.read() if proc.stderr else "")
        yield line.split()[2]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def registry_url() -> Iterator[str]:
    """A local registry holding one real packument (has-package-exports), not pg."""
    with registry_server({"has-package-exports": real("has-package-exports")}) as registry:
        yield registry.url


def show(*args: str, env_home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scorer", "insights", "show", *args],
        text=True,
        capture_output=True,
        check=False,
        cwd=env_home,
        env={"HOME": str(env_home), "PATH": "/usr/bin:/bin"},
    )


def test_published_pg_example(insights_url: str, registry_url: str, tmp_path: Path) -> None:
    result = show(
        "pg@7.12.0",
        "--format",
        "json",
        "--insights-url",
        insights_url,
        "--registry",
        registry_url,
        "--cache-dir",
        str(tmp_path / "cache"),
        env_home=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert f"insights: {insights_url}" in result.stderr
    doc = json.loads(result.stdout)
    facts = doc["facts"]
    assert facts["publisher"]["value"] == "brianc"
    assert facts["tor"]["value"] is False
    assert facts["tfa"]["value"] is True
    assert facts["publisher"]["sources"][0]["source"] == "insights"
    # The local registry has no pg document: registry facts are unknown, with the reason.
    assert facts["provenance"]["value"] is None
    assert "404" in json.dumps(facts["provenance"])


def test_no_insights_endpoint_is_unknown_not_safe(registry_url: str, tmp_path: Path) -> None:
    result = show(
        "has-package-exports@1.0.0",
        "--format",
        "json",
        "--registry",
        registry_url,
        "--cache-dir",
        str(tmp_path / "cache"),
        env_home=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)["facts"]
    assert facts["tor"]["value"] is None and facts["tfa"]["value"] is None
    assert facts["publisher"]["value"]  # from the registry document


def test_bad_data_file_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "records.json"
    bad.write_text("{not json")
    result = subprocess.run(
        [sys.executable, "-m", "scorer", "insights", "serve", "--data", str(bad), "--port", "0"],
        text=True,
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 2
    assert str(bad) in result.stderr


def test_registry_from_lockfile_and_endpoint_from_config(
    insights_url: str, registry_url: str, tmp_path: Path
) -> None:
    tarball = "has-package-exports/-/has-package-exports-1.0.0.tgz"
    entry = {"version": "1.0.0", "resolved": f"{registry_url.rstrip('/')}/{tarball}"}
    lock = tmp_path / "package-lock.json"
    lock.write_text(
        json.dumps(
            {
                "lockfileVersion": 3,
                "packages": {"": {"name": "app"}, "node_modules/has-package-exports": entry},
            }
        )
    )
    (tmp_path / "provscore.toml").write_text(f'insights_url = "{insights_url}"\n')
    result = show(
        "has-package-exports@1.0.0",
        "--format",
        "json",
        "--lockfile",
        str(lock),
        "--cache-dir",
        str(tmp_path / "cache"),
        env_home=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "the lockfile's resolved URLs" in result.stderr
    assert f"insights: {insights_url}" in result.stderr
    facts = json.loads(result.stdout)["facts"]
    assert facts["publisher"]["value"]
    # The example data knows only pg: for this version the endpoint answers null.
    assert facts["tor"]["value"] is None


def test_offline_snapshot_needs_no_registry_and_reads_back_the_same(
    insights_url: str, registry_url: str, tmp_path: Path
) -> None:
    snapshot = tmp_path / "frozen"
    online = show(
        "has-package-exports@1.0.0",
        "--format",
        "json",
        "--registry",
        registry_url,
        "--snapshot",
        str(snapshot),
        "--insights-url",
        insights_url,
        "--cache-dir",
        str(tmp_path / "cache"),
        env_home=tmp_path,
    )
    assert online.returncode == 0, online.stderr
    frozen = show(
        "has-package-exports@1.0.0",
        "--format",
        "json",
        "--offline",
        "--snapshot",
        str(snapshot),
        env_home=tmp_path,
    )
    assert frozen.returncode == 0, frozen.stderr
    assert json.loads(frozen.stdout)["facts"] == json.loads(online.stdout)["facts"]
    missing = show(
        "left-pad@1.3.0",
        "--format",
        "json",
        "--offline",
        "--snapshot",
        str(snapshot),
        env_home=tmp_path,
    )
    facts = json.loads(missing.stdout)["facts"]
    assert facts["publisher"]["value"] is None
    assert "not in the snapshot" in json.dumps(facts["publisher"])


def test_missing_optional_dependency_names_the_extra() -> None:
    from scorer.cli import _require
    from scorer.errors import ConfigError

    with pytest.raises(ConfigError, match=r"provscore\[insights\]"):
        _require("graphql", "provscore_no_such_module")
