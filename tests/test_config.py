"""Typed configuration values: each known key checked against its type, read through getters."""

from __future__ import annotations

from pathlib import Path

import pytest

from scorer.config import KEYS, Config, find_config
from scorer.errors import ConfigError


def config(tmp_path: Path, text: str) -> Config:
    (tmp_path / "provscore.toml").write_text(text)
    return find_config(tmp_path)


def test_typed_getters(tmp_path: Path) -> None:
    loaded = config(
        tmp_path,
        "\n".join(
            [
                'risk_policy = "error"',
                "risk_warn = 40",
                "risk_error = 72.5",
                "cooldown_days = 0",
                "offline = true",
                'weights = "conf/weights.toml"',
                'model = "/abs/model.joblib"',
                'cache_dir = "~/cache"',
                'scorer = "weighted"',
            ]
        ),
    )
    assert loaded.get_str("risk_policy") == "error" and loaded.get_str("scorer") == "weighted"
    assert loaded.get_number("risk_warn") == 40.0 and isinstance(
        loaded.get_number("risk_warn"), float
    )
    assert loaded.get_number("risk_error") == 72.5 and loaded.get_number("cooldown_days") == 0.0
    assert loaded.get_bool("offline") is True
    assert loaded.get_path("weights") == tmp_path.resolve() / "conf" / "weights.toml"
    assert loaded.get_path("model") == Path("/abs/model.joblib")
    assert loaded.get_path("cache_dir") == Path("~/cache").expanduser()
    assert loaded.get_path("snapshot") is None and Config().get_number("risk_error") is None


def test_pyproject_table_paths_are_relative_to_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.provscore]\nsnapshot = "frozen"\n')
    (tmp_path / "sub").mkdir()
    assert find_config(tmp_path / "sub").get_path("snapshot") == tmp_path.resolve() / "frozen"


@pytest.mark.parametrize("value", ['""', "1", "[1]", "2025-01-01"])
def test_a_pyproject_tool_that_is_not_a_table_is_a_config_error(tmp_path: Path, value: str) -> None:
    # Found by tests/test_fuzz.py: `tool = ""` ended every command with an AttributeError.
    (tmp_path / "pyproject.toml").write_text(f'tool = {value}\n\n[project]\nname = "app"\n')
    with pytest.raises(ConfigError, match=r"pyproject\.toml: tool is .*, not a table"):
        find_config(tmp_path)
    (tmp_path / "pyproject.toml").write_text('tool = {provscore = "x"}\n')
    with pytest.raises(ConfigError, match="is not a table"):
        find_config(tmp_path)


@pytest.mark.parametrize("key", ["compromised_db", "cache_dir", "snapshot"])
def test_a_path_whose_tilde_names_no_home_is_a_config_error(tmp_path: Path, key: str) -> None:
    # Found by bench/fuzz.py: compromised_db = "~sv/dnvad/" raised RuntimeError from pathlib.
    loaded = config(tmp_path, f'{key} = "~no-such-user-here/db.json"\n')
    with pytest.raises(ConfigError, match=f"{key} '~no-such-user-here/db.json' starts with a ~"):
        loaded.get_path(key)


def test_asking_by_the_wrong_type_is_a_bug() -> None:
    with pytest.raises(KeyError):
        Config().get_number("risk_policy")
    with pytest.raises(KeyError):
        Config().get_str("no_such_key")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("risk_warn = true", "risk_warn must be a number from 0 to 100, got boolean True"),
        ('risk_warn = "40"', "risk_warn must be a number from 0 to 100, got string '40'"),
        ("risk_error = 101", "risk_error must be a number from 0 to 100"),
        ("risk_error = -1", "risk_error must be a number from 0 to 100"),
        ("risk_error = nan", "risk_error must be a number from 0 to 100"),
        ("cooldown_days = -0.5", "cooldown_days must be a number >= 0"),
        ("cooldown_days = inf", "cooldown_days must be a number >= 0"),
        ('offline = "yes"', "offline must be true or false, got string 'yes'"),
        ("offline = 1", "offline must be true or false, got number 1"),
        ("weights = 3", "weights must be a path (string), got number 3"),
        ("osv_url = false", "osv_url must be a string, got boolean False"),
        ("scorer = [1]", "scorer must be a string, got array [1]"),
    ],
)
def test_wrong_type_names_file_key_and_expected_type(
    tmp_path: Path, line: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config(tmp_path, line + "\n")
    assert str(caught.value).startswith(str(tmp_path.resolve() / "provscore.toml"))
    assert expected in str(caught.value)


def test_unknown_keys_stay_an_error_and_every_key_has_a_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        config(tmp_path, "risk_warnn = 40\n")
    assert {"risk_warn", "risk_error", "cooldown_days", "offline", "compromised_db"} <= set(KEYS)
