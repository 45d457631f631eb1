"""The shared-data helper and the CI guard: absent data skips with one reason, is a failure when
CI requires it, an incomplete copy always fails, and PROVSCORE_FORBID_SKIPS fails a run that
skipped anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import shared_data

TESTS = Path(__file__).resolve().parent


def test_absent_data_skips_with_the_one_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(shared_data.ENV, str(tmp_path))  # empty: as on a fresh clone
    monkeypatch.delenv(shared_data.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception) as first:
        shared_data.require(shared_data.MAL_NPM)
    with pytest.raises(pytest.skip.Exception) as second:
        shared_data.require(shared_data.PACKUMENTS)
    assert str(first.value) == str(second.value)
    assert f"third-party test data not found at {tmp_path}" in str(first.value)


def test_absent_data_fails_when_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(shared_data.ENV, str(tmp_path / "nowhere"))
    monkeypatch.setenv(shared_data.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="PROVSCORE_REQUIRE_SHARED_DATA is set"):
        shared_data.require(shared_data.MAL_NPM)


def test_an_incomplete_copy_fails_even_when_not_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / shared_data.PACKUMENTS).mkdir()
    monkeypatch.setenv(shared_data.ENV, str(tmp_path))
    monkeypatch.delenv(shared_data.REQUIRE_ENV, raising=False)
    assert shared_data.require(shared_data.PACKUMENTS) == tmp_path / shared_data.PACKUMENTS
    with pytest.raises(pytest.fail.Exception, match="is incomplete"):
        shared_data.require(shared_data.MAL_NPM)


def test_scripts_exit_with_the_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(shared_data.ENV, str(tmp_path))
    with pytest.raises(SystemExit, match="third-party test data not found"):
        shared_data.for_script(shared_data.PACKUMENTS)


def test_default_location_is_beside_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(shared_data.ENV, raising=False)
    assert shared_data.location() == TESTS.parent.parent / "shared" / "data"


@pytest.mark.parametrize("forbid", ["", "1"])
def test_forbid_skips_fails_a_run_that_skipped(tmp_path: Path, forbid: str) -> None:
    for name in ("conftest.py", "shared_data.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "test_one.py").write_text(
        "import pytest\n\n"
        "def test_runs():\n    pass\n\n"
        "def test_skips():\n    pytest.skip('no oracle here')\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVSCORE_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env={**env, "PROVSCORE_FORBID_SKIPS": forbid},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "1 passed, 1 skipped" in done.stdout, done.stdout
    if forbid:
        assert done.returncode == 1, done.stdout
        assert "skipped: test_one.py::test_skips" in done.stdout
    else:
        assert done.returncode == 0, done.stdout
