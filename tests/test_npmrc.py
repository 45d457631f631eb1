"""`.npmrc` parsing and registry selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from scorer.errors import ConfigError
from scorer.npmrc import (
    HOW_TO_SET,
    Npmrc,
    expand_env,
    load_npmrc,
    lockfile_origin,
    parse_npmrc,
    select_registry,
    token_for,
)
from scorer.records import LockedPackage, SourceKind


def locked(
    name: str, resolved: str | None, source: SourceKind = SourceKind.REGISTRY
) -> LockedPackage:
    return LockedPackage(name=name, version="1.0.0", source=source, resolved=resolved)


def test_parse_comments_quotes_flags_and_env() -> None:
    text = """
; comment
# another
registry = https://registry.example.invalid/
@corp:registry="https://npm.corp.example.invalid/api/npm/"
//npm.corp.example.invalid/api/npm/:_authToken=${CORP_TOKEN}
optional=${UNSET?}
strict-ssl
[section]
literal=\\${NOT_EXPANDED}
"""
    values = parse_npmrc(text, {"CORP_TOKEN": "abc"})
    assert values["registry"] == "https://registry.example.invalid/"
    assert values["@corp:registry"] == "https://npm.corp.example.invalid/api/npm/"
    assert values["//npm.corp.example.invalid/api/npm/:_authToken"] == "abc"
    assert values["optional"] == "" and values["strict-ssl"] == "true"
    assert values["literal"] == "${NOT_EXPANDED}"


def test_undefined_env_var_is_an_error_naming_the_file() -> None:
    with pytest.raises(ConfigError, match=r"proj/.npmrc:2: environment variable TOKEN is not set"):
        parse_npmrc("a=1\n//h.example.invalid/:_authToken=${TOKEN}\n", {}, "proj/.npmrc")
    assert expand_env("x${A}y${B?}", {"A": "1"}, "w") == "x1y"


def test_project_file_overrides_user_file(tmp_path: Path) -> None:
    user = tmp_path / "home" / ".npmrc"
    user.parent.mkdir()
    user.write_text(
        "registry=https://user.example.invalid\n@a:registry=https://a-user.example.invalid/\n"
        "//user.example.invalid/:_authToken=user-token\n"
    )
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".npmrc").write_text(
        "registry=https://proj.example.invalid/\n@b:registry=http://127.0.0.1:4873\n"
    )
    rc = load_npmrc(project, {}, user_file=user)
    assert rc.registry == ("https://proj.example.invalid/", str(project / ".npmrc"))
    assert rc.scopes["@a"][0] == "https://a-user.example.invalid/"
    assert rc.scopes["@b"][0] == "http://127.0.0.1:4873/"
    assert rc.files == (user, project / ".npmrc")
    env_user = load_npmrc(None, {"NPM_CONFIG_USERCONFIG": str(user)})
    assert env_user.tokens == {"//user.example.invalid/": "user-token"}


def test_tokens_match_host_port_and_path_only() -> None:
    rc = Npmrc(tokens={"//npm.corp.example.invalid/api/npm/": "t1", "//127.0.0.1:4873/": "t2"})
    assert token_for(rc, "https://npm.corp.example.invalid/api/npm/@corp%2flib") == "t1"
    assert token_for(rc, "https://npm.corp.example.invalid/other/lib") is None
    assert token_for(rc, "https://evil.example.invalid/api/npm/lib") is None
    assert token_for(rc, "http://127.0.0.1:4873/lib") == "t2"
    assert token_for(rc, "http://127.0.0.1:4874/lib") is None


def test_selection_order() -> None:
    rc = Npmrc(
        registry=("https://rc.example.invalid/", "/p/.npmrc"),
        scopes={"@c": ("https://c.example.invalid/", "/p/.npmrc")},
    )
    env = {"NPM_CONFIG_REGISTRY": "https://env.example.invalid"}
    lock = [locked("a", "https://lock.example.invalid/a/-/a-1.0.0.tgz")]
    assert (
        select_registry("https://opt.example.invalid", env, rc, lock).url
        == "https://opt.example.invalid/"
    )
    chosen = select_registry(None, env, rc, lock)
    assert (chosen.url, chosen.origin, chosen.explicit) == (
        "https://env.example.invalid/",
        "NPM_CONFIG_REGISTRY",
        True,
    )
    assert select_registry(None, {}, rc, lock).origin == "/p/.npmrc"
    derived = select_registry(None, {}, Npmrc(), lock)
    assert (derived.url, derived.explicit) == ("https://lock.example.invalid/", False)
    assert (
        chosen.for_package("@c/x") == "https://c.example.invalid/"
        and chosen.for_package("@d/x") == chosen.url
    )
    assert (
        "registry: https://env.example.invalid/ (from NPM_CONFIG_REGISTRY), @c ->"
        in chosen.describe()
    )
    with pytest.raises(ConfigError) as caught:
        select_registry(
            None, {}, Npmrc(), [locked("g", "git+https://example.invalid/g.git", SourceKind.GIT)]
        )
    assert str(caught.value) == HOW_TO_SET
    with pytest.raises(ConfigError, match="not an http"):
        select_registry("file:///tmp/x", {}, Npmrc())


def test_lockfile_origin_majority_scoped_paths_and_https_upgrade() -> None:
    packages = [
        locked("a", "http://mirror.example.invalid/npm/a/-/a-1.0.0.tgz"),
        locked("@s/b", "http://mirror.example.invalid/npm/@s/b/-/b-1.0.0.tgz"),
        locked("c", "https://other.example.invalid/c/-/c-1.0.0.tgz"),
        locked("d", "http://127.0.0.1:4873/d/-/d-1.0.0.tgz"),
    ]
    assert lockfile_origin(packages) == "https://mirror.example.invalid/npm/"
    assert lockfile_origin(packages[3:]) == "http://127.0.0.1:4873/"
    assert lockfile_origin([]) is None


# --- URLs Python cannot take apart (found by bench/fuzz.py: each was a ValueError traceback) ----


@pytest.mark.parametrize(
    "line",
    [
        "registry=https://registry.example.invalid[/",  # an unclosed IPv6 bracket
        "registry=https://registry.example.invalid:99999/",  # a port out of range
        "@s:registry=https://re:gistry.example.invalid/",  # a port that is not a number
    ],
)
def test_an_unreadable_registry_url_is_a_config_error_naming_the_file(
    tmp_path: Path, line: str
) -> None:
    (tmp_path / ".npmrc").write_text(line + "\n")
    with pytest.raises(ConfigError, match="is not a valid URL") as info:
        load_npmrc(tmp_path, {}, user_file=tmp_path / "none")
    assert str(tmp_path / ".npmrc") in str(info.value)


def test_an_unreadable_token_host_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / ".npmrc").write_text("//npm.example.]nvalid/scope/:_authToken=${Nn]\n")
    with pytest.raises(ConfigError, match="does not name a host and port") as info:
        load_npmrc(tmp_path, {}, user_file=tmp_path / "none")
    assert str(tmp_path / ".npmrc") in str(info.value)


def test_unreadable_urls_give_no_origin_and_no_token() -> None:
    packages = [
        locked("a", "https://mirror.example.invalid[/a/-/a-1.0.0.tgz"),
        locked("b", "https://mirror.example.invalid:99999/b/-/b-1.0.0.tgz"),
        locked("c", "https://other.example.invalid/c/-/c-1.0.0.tgz"),
    ]
    assert lockfile_origin(packages) == "https://other.example.invalid/"
    assert lockfile_origin(packages[:2]) is None
    rc = Npmrc(tokens={"//npm.example.invalid/": "t"})
    assert token_for(rc, "https://npm.example.invalid:x/lib") is None
