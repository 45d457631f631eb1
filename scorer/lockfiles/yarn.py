"""yarn.lock, both families.

Classic (yarn 1) writes its own indented syntax: an entry starts at column 0 with one or more
comma-separated specs (`"a@^1.0.0", a@^1.1.0:`), and its fields follow indented by two spaces.
Berry (yarn 2+) writes YAML with a `__metadata` entry; each entry's `resolution` is a locator
(`name@protocol:reference`) that tells the real name and where the package comes from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from scorer.errors import InputError
from scorer.lockfiles.common import (
    Collector,
    classify_url,
    expect_dict,
    format_version,
    is_registry_tarball,
    line_of,
    split_spec,
)
from scorer.lockfiles.yamlish import load_yaml
from scorer.records import Lockfile, SourceKind

# yarn 2.0 wrote 4; yarn 3 wrote 6; yarn 4 writes 8 and, from 4.10, 10.
BERRY_VERSIONS = frozenset(range(4, 11))


def is_berry(text: str) -> bool:
    return "\n__metadata:" in text or text.startswith("__metadata:")


# ---------------------------------------------------------------------------------------------
# yarn 1


def read_yarn_classic(path: Path, text: str) -> Lockfile:
    col = Collector(path)
    for line, specs, fields in _classic_entries(path, text):
        try:
            _add_classic(col, specs, fields, line)
        except InputError as exc:
            raise InputError(path, exc.problem, line) from None
    return col.lockfile("yarn@1")


def _classic_entries(path: Path, text: str) -> Any:
    """Yield (line, specs, top-level fields) per entry; nested maps (dependencies) are skipped."""
    specs: list[str] | None = None
    start = 0
    fields: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if indent == 0:
            if specs is not None:
                yield start, specs, fields
            if not raw.endswith(":"):
                raise InputError(path, "expected an entry header ending with ':'", number)
            specs, start, fields = _classic_specs(path, raw[:-1], number), number, {}
        elif specs is None:
            raise InputError(path, "indented line outside any entry", number)
        elif indent == 2 and not stripped.endswith(":"):
            key, _, value = stripped.partition(" ")
            fields[_unquote(path, key, number)] = _unquote(path, value.strip(), number)
        elif indent not in (2, 4):
            raise InputError(path, f"unexpected indentation of {indent} spaces", number)
    if specs is not None:
        yield start, specs, fields


def _classic_specs(path: Path, header: str, line: int) -> list[str]:
    specs, rest = [], header
    while rest:
        if rest.startswith('"'):
            end = 1
            while end < len(rest) and rest[end] != '"':
                end += 2 if rest[end] == "\\" else 1
            specs.append(_unquote(path, rest[: end + 1], line))
            rest = rest[end + 1 :]
        else:
            spec, _, rest = rest.partition(",")
            specs.append(spec.strip())
            rest = "," + rest if rest else ""
        rest = rest.lstrip()
        if rest.startswith(","):
            rest = rest[1:].lstrip()
        elif rest:
            raise InputError(path, "malformed entry header", line)
    if not specs or not all(specs):
        raise InputError(path, "empty spec in entry header", line)
    return specs


def _unquote(path: Path, value: str, line: int) -> str:
    if value.startswith('"'):
        try:
            result = json.loads(value)
        except json.JSONDecodeError:
            raise InputError(path, f"malformed quoted string {value[:80]!r}", line) from None
        if not isinstance(result, str):
            raise InputError(path, "malformed quoted string", line)
        return result
    return value


def _add_classic(col: Collector, specs: list[str], fields: dict[str, str], line: int) -> None:
    version = fields.get("version")
    resolved = fields.get("resolved")
    installs: dict[str, tuple[str, str]] = {}  # install name -> (real name, range)
    for spec in specs:
        install, rng = split_spec(spec)
        real = install
        if rng.startswith("npm:"):
            real, rng = split_spec(rng[4:])
        installs[install] = (real, rng)
    reals = {real for real, _ in installs.values()}
    if len(reals) != 1:
        raise InputError(col.path, f"one entry names several packages: {sorted(reals)}", line)
    real = reals.pop()
    ranges = [rng for _, rng in installs.values()]
    source = _classic_source(col.path, specs[0], real, str(version), ranges, resolved)
    for install in installs:
        col.add(
            real,
            version,
            source,
            ", ".join(specs),
            alias=install,
            resolved=resolved,
            integrity=fields.get("integrity"),
            line=line,
        )


def _classic_source(
    path: Path, what: str, name: str, version: str, ranges: list[str], resolved: str | None
) -> SourceKind:
    for rng in ranges:
        kind = None
        if ":" in rng or rng.startswith(("git", "http", "./", "../", "/", "~/")):
            kind = classify_url(path, what, rng)
        elif "/" in rng:
            kind = SourceKind.GIT  # `user/repo` GitHub shorthand
        if kind is not None:
            return kind
    if resolved is None:
        return SourceKind.REGISTRY
    url = resolved.split("#", 1)[0]
    kind = classify_url(path, what, url)
    if kind is not None:
        return kind
    return SourceKind.REGISTRY if is_registry_tarball(url, name, version) else SourceKind.TARBALL


# ---------------------------------------------------------------------------------------------
# yarn 2+


def read_yarn_berry(path: Path, text: str) -> Lockfile:
    data = expect_dict(path, load_yaml(path, text), "the lockfile")
    meta = expect_dict(path, data.get("__metadata"), "__metadata")
    version = meta.get("version")
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    version = format_version(
        path, text, version, BERRY_VERSIONS, "yarn lockfile __metadata.version", "__metadata:"
    )
    col = Collector(path)
    for key, raw in data.items():
        if key == "__metadata":
            continue
        try:
            entry = expect_dict(path, raw, f"entry {key!r}")
            _add_berry(col, str(key), entry)
        except InputError as exc:
            raise InputError(path, exc.problem, line_of(text, str(key))) from None
    return col.lockfile(f"yarn-berry@{version}")


def _add_berry(col: Collector, key: str, entry: dict[str, Any]) -> None:
    resolution = entry.get("resolution")
    if not isinstance(resolution, str):
        raise InputError(col.path, f"entry {key!r} has no resolution")
    name, reference = split_spec(resolution)
    source, version = _berry_source(col.path, key, reference, entry.get("version"))
    if source is None:
        return  # the root workspace is the project itself, not a dependency
    installs = {split_spec(descriptor.strip())[0] for descriptor in key.split(",")}
    checksum = entry.get("checksum")
    for install in sorted(installs):
        col.add(
            name,
            version,
            source,
            key,
            alias=install,
            resolved=None if source is SourceKind.REGISTRY else reference,
            integrity=checksum if isinstance(checksum, str) else None,
        )


def _berry_source(
    path: Path, key: str, reference: str, version: object
) -> tuple[SourceKind | None, object]:
    """(source kind, version) of a locator reference; kind None for the root workspace.

    A reference is `protocol:selector`, optionally with `source#` before the selector and
    `::params` after it (structUtils.parseRange). A protocol yarn does not ship is an error:
    plugins can add protocols, and guessing what one fetches would be a guess.
    """
    if reference.startswith("virtual:"):
        reference = reference.split("#", 1)[1] if "#" in reference else reference
    if reference.startswith("patch:"):
        # `patch:name@npm%3A1.2.3#...`: the patched package (here a registry one), whose
        # source is URL-encoded before the `#` that starts the patch path.
        inner = split_spec(unquote(reference[len("patch:") :].split("#", 1)[0]))[1]
        kind, _ = _berry_source(path, key, inner, version)
        return kind, version
    if reference.startswith("npm:"):
        # `npm:1.2.3`, also with `::__archiveUrl=...` when the registry serves the tarball
        # from elsewhere: still that registry's name@version.
        return SourceKind.REGISTRY, version
    if reference.startswith("workspace:"):
        target = reference[len("workspace:") :]
        return (None, version) if target in (".", "") else (SourceKind.WORKSPACE, version)
    if reference.startswith(("link:", "portal:")):
        return SourceKind.LINK, version if version not in (None, "0.0.0-use.local") else reference
    if reference.startswith(("file:", "exec:")):
        return SourceKind.FILE, version
    if reference.startswith(("http:", "https:")):
        bare = reference.split("::", 1)[0]
        if "#commit=" in bare:  # how yarn's git resolver pins a repository URL
            return SourceKind.GIT, version
        return classify_url(path, key, bare.split("#", 1)[0]) or SourceKind.TARBALL, version
    # git: `git+ssh://…`, `ssh://…`, `git://…`, `git@host:…`, `github:owner/repo#…`; anything
    # else is an error from classify_url.
    if classify_url(path, key, reference) is SourceKind.GIT:
        return SourceKind.GIT, version
    raise InputError(path, f"{key}: resolution {reference[:80]!r} is not a package source")
