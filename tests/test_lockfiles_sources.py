"""Source classification, which decides what the audit can check: registry downloads against
remote tarballs, git, local files and links, in every format; and format sniffing for lockfiles
under other names. Small hand-written entries in each format's real syntax."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scorer.errors import InputError
from scorer.lockfiles import find_lockfiles, read_lockfile
from scorer.records import SourceKind

R = "https://registry.example.invalid"


def sources(path: Path) -> dict[str, SourceKind]:
    return {p.name: p.source for p in read_lockfile(path).packages}


def test_package_lock_sources(tmp_path: Path) -> None:
    lock = tmp_path / "package-lock.json"
    lock.write_text(
        json.dumps(
            {
                "lockfileVersion": 3,
                "packages": {
                    "": {"name": "app", "workspaces": ["packages/*"]},
                    "node_modules/a": {"version": "1.0.0", "resolved": f"{R}/a/-/a-1.0.0.tgz"},
                    "node_modules/@s/b": {
                        "version": "2.0.0",
                        "resolved": f"{R}/@s/b/-/b-2.0.0.tgz",
                    },
                    "node_modules/c": {
                        "version": "1.0.0",
                        "resolved": "https://example.invalid/c.tgz",
                    },
                    "node_modules/d": {
                        "version": "1.0.0",
                        "resolved": "git+ssh://git@example.invalid/d.git#0123abc",
                    },
                    "node_modules/e": {"version": "1.0.0", "resolved": "file:vendor/e-1.0.0.tgz"},
                    "node_modules/f": {
                        "version": "1.0.0",
                        "resolved": "https://codeload.github.com/o/f/tar.gz/0123abc",
                    },
                    "node_modules/g": {"version": "1.0.0"},  # registry, written without resolved
                    "node_modules/ws": {"resolved": "packages/ws", "link": True},
                    "packages/ws": {"name": "ws", "version": "0.1.0"},
                    "node_modules/loc": {"resolved": "vendor/loc", "link": True},
                    "vendor/loc": {"name": "loc", "version": "0.2.0"},
                },
            }
        )
    )
    assert sources(lock) == {
        "a": SourceKind.REGISTRY,
        "@s/b": SourceKind.REGISTRY,
        "c": SourceKind.TARBALL,
        "d": SourceKind.GIT,
        "e": SourceKind.FILE,
        "f": SourceKind.GIT,
        "g": SourceKind.REGISTRY,
        "ws": SourceKind.WORKSPACE,
        "loc": SourceKind.FILE,
    }


def test_pnpm_tarball_and_directory_resolutions(tmp_path: Path) -> None:
    lock = tmp_path / "pnpm-lock.yaml"
    lock.write_text(f"""lockfileVersion: '9.0'
importers:
  .:
    dependencies:
      linked:
        specifier: link:../linked
        version: link:../linked
packages:
  a@1.0.0:
    resolution: {{integrity: sha512-AAAA}}
  b@2.0.0:
    resolution: {{tarball: {R}/b/-/b-2.0.0.tgz}}
  c@https://example.invalid/c.tgz:
    resolution: {{tarball: https://example.invalid/c.tgz}}
    name: c
    version: 1.0.0
  d@file:vendor/d:
    resolution: {{directory: vendor/d, type: directory}}
    name: d
snapshots:
  a@1.0.0: {{}}
  b@2.0.0:
    optional: true
  c@https://example.invalid/c.tgz: {{}}
  d@file:vendor/d: {{}}
""")
    lock_read = read_lockfile(lock)
    assert {p.name: p.source for p in lock_read.packages} == {
        "a": SourceKind.REGISTRY,
        "b": SourceKind.REGISTRY,
        "c": SourceKind.TARBALL,
        "d": SourceKind.FILE,
        "linked": SourceKind.LINK,
    }
    b = next(p for p in lock_read.packages if p.name == "b")
    assert b.optional is True and b.dev is False  # pnpm 9: derived from the graph (unreachable)


PATCHED = "resolve@patch:resolve@npm%3A1.22.8#optional!builtin<compat/resolve>::version=1.22.8"


def test_berry_protocols(tmp_path: Path) -> None:
    lock = tmp_path / "yarn.lock"
    lock.write_text(f"""__metadata:
  version: 8
  cacheKey: 10c0

"app@workspace:.":
  version: 0.0.0-use.local
  resolution: "app@workspace:."

"a@npm:^1.0.0":
  version: 1.0.0
  resolution: "a@npm:1.0.0"

"resolve@patch:resolve@npm%3A^1.22.0#optional!builtin<compat/resolve>":
  version: 1.22.8
  resolution: "{PATCHED}&hash=c3c19d"

"t@https://example.invalid/t.tgz":
  version: 1.0.0
  resolution: "t@https://example.invalid/t.tgz"

"g@https://example.invalid/o/g.git#commit=0123abc":
  version: 1.0.0
  resolution: "g@https://example.invalid/o/g.git#commit=0123abc"

"p@portal:../p::locator=app%40workspace%3A.":
  version: 0.0.0-use.local
  resolution: "p@portal:../p::locator=app%40workspace%3A."
""")
    assert sources(lock) == {
        "a": SourceKind.REGISTRY,
        "resolve": SourceKind.REGISTRY,
        "t": SourceKind.TARBALL,
        "g": SourceKind.GIT,
        "p": SourceKind.LINK,
    }


def test_yarn_classic_sources(tmp_path: Path) -> None:
    lock = tmp_path / "yarn.lock"
    lock.write_text(f"""# yarn lockfile v1


a@^1.0.0:
  version "1.0.0"
  resolved "{R}/a/-/a-1.0.0.tgz#abc"

"b@o/b":
  version "1.0.0"
  resolved "https://codeload.github.com/o/b/tar.gz/0123abc"

"c@https://example.invalid/c.tgz":
  version "1.0.0"
  resolved "https://example.invalid/c.tgz"

"d@file:vendor/d":
  version "0.1.0"

"alias@npm:real@^2.0.0":
  version "2.0.0"
  resolved "{R}/real/-/real-2.0.0.tgz"
""")
    got = read_lockfile(lock)
    assert {p.name: p.source for p in got.packages} == {
        "a": SourceKind.REGISTRY,
        "b": SourceKind.GIT,
        "c": SourceKind.TARBALL,
        "d": SourceKind.FILE,
        "real": SourceKind.REGISTRY,
    }
    assert next(p for p in got.packages if p.name == "real").aliases == ("alias",)


def test_bun_and_npm_ex_sources(tmp_path: Path) -> None:
    bun = tmp_path / "bun.lock"
    bun.write_text("""{
  "lockfileVersion": 1,
  "workspaces": {"": {"name": "app"}, "packages/ws": {"name": "ws", "version": "0.3.0"}},
  "packages": {
    "a": ["a@1.0.0", "", {}, "sha512-AAAA"],
    "ws": ["ws@workspace:packages/ws"],
    "g": ["g@github:o/g#0123abc", {}, "o-g-0123abc"],
    "t": ["t@https://example.invalid/t.tgz", {}],
    "a/@s/n": ["@s/n@2.0.0", "", {}, "sha512-BBBB"],
  },
}
""")
    got = read_lockfile(bun)
    assert {p.name: p.source for p in got.packages} == {
        "a": SourceKind.REGISTRY,
        "ws": SourceKind.WORKSPACE,
        "g": SourceKind.GIT,
        "t": SourceKind.TARBALL,
        "@s/n": SourceKind.REGISTRY,
    }
    assert next(p for p in got.packages if p.name == "ws").version == "0.3.0"
    assert next(p for p in got.packages if p.name == "@s/n").paths == (
        "node_modules/a/node_modules/@s/n",
    )
    npm_ex = tmp_path / "npm.lock"
    npm_ex.write_text(
        json.dumps(
            {
                "lockfileVersion": 1,
                "packages": {
                    "a": {"version": "1.0.0", "integrity": "", "tarball": f"{R}/a/-/a-1.0.0.tgz"},
                    "b": {
                        "version": "1.0.0",
                        "integrity": "",
                        "tarball": "https://example.invalid/b.tgz",
                    },
                },
            }
        )
    )
    got = read_lockfile(npm_ex)
    assert {p.name: p.source for p in got.packages} == {
        "a": SourceKind.REGISTRY,
        "b": SourceKind.TARBALL,
    }
    assert all(p.integrity is None for p in got.packages)  # "" means absent


def test_unfamiliar_names_are_sniffed(tmp_path: Path) -> None:
    classic = tmp_path / "deps.lock"
    classic.write_text(
        f'# yarn lockfile v1\n\na@^1.0.0:\n  version "1.0.0"\n  resolved "{R}/a/-/a-1.0.0.tgz"\n'
    )
    assert read_lockfile(classic).format == "yarn@1"
    pnpm = tmp_path / "lock.yaml"
    pnpm.write_text(
        "lockfileVersion: '9.0'\npackages:\n  a@1.0.0:\n    resolution: {integrity: x}\n"
    )
    assert read_lockfile(pnpm).format == "pnpm@9.0"
    other = tmp_path / "notes.txt"
    other.write_text("just some text\n")
    with pytest.raises(InputError, match="not a lockfile format"):
        read_lockfile(other)


def test_find_lockfiles_order_and_binary_bun(tmp_path: Path) -> None:
    (tmp_path / "bun.lockb").write_bytes(b"\x00binary")
    with pytest.raises(InputError, match="save-text-lockfile"):
        find_lockfiles(tmp_path)
    for name in ("yarn.lock", "package-lock.json", "npm-shrinkwrap.json"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in find_lockfiles(tmp_path)] == [
        "npm-shrinkwrap.json",
        "package-lock.json",
        "yarn.lock",
    ]
