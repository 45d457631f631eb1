"""Read any npm lockfile into a `Lockfile` of de-duplicated `LockedPackage`s.

`read_lockfile(path)` picks the reader from the file name (and, for an unfamiliar name, from the
content), reads the file defensively (size cap, binary and encoding checks) and returns what the
lockfile records as installed. Every failure is an `InputError` that names the file.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from scorer.errors import InputError
from scorer.lockfiles.bun import read_bun
from scorer.lockfiles.npm import read_package_lock
from scorer.lockfiles.npm_ex import read_npm_ex
from scorer.lockfiles.pnpm import read_pnpm
from scorer.lockfiles.yarn import is_berry, read_yarn_berry, read_yarn_classic
from scorer.records import Lockfile

__all__ = ["LOCKFILE_NAMES", "find_lockfiles", "read_lockfile"]

Reader = Callable[[Path, str], Lockfile]

# In the order `find_lockfiles` prefers them: npm gives a shrinkwrap precedence over a lock.
LOCKFILE_NAMES = (
    "npm-shrinkwrap.json",
    "package-lock.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "bun.lock",
    "npm.lock",
)
DEFAULT_MAX_MB = 100
_BUN_BINARY = "bun.lockb"
_BUN_HINT = (
    "binary lockfile not supported: run `bun install --save-text-lockfile` to write bun.lock"
)


def _read_yarn(path: Path, text: str) -> Lockfile:
    return read_yarn_berry(path, text) if is_berry(text) else read_yarn_classic(path, text)


_BY_NAME: dict[str, tuple[str, Reader]] = {
    "npm-shrinkwrap.json": ("npm-shrinkwrap.json", read_package_lock),
    "package-lock.json": ("package-lock.json", read_package_lock),
    "pnpm-lock.yaml": ("pnpm-lock.yaml", read_pnpm),
    "yarn.lock": ("yarn.lock", _read_yarn),
    "bun.lock": ("bun.lock", read_bun),
    "npm.lock": ("npm_ex npm.lock", read_npm_ex),
}


def find_lockfiles(directory: Path) -> list[Path]:
    """The lockfiles present in `directory`, most preferred first."""
    found = [directory / name for name in LOCKFILE_NAMES if (directory / name).is_file()]
    if not found and (directory / _BUN_BINARY).is_file():
        raise InputError(directory / _BUN_BINARY, _BUN_HINT)
    return found


def read_lockfile(path: Path) -> Lockfile:
    """The packages a lockfile records; every failure is an InputError naming the file."""
    try:
        return _read_lockfile(path)
    except RecursionError:
        raise InputError(path, "nested too deeply to be a lockfile") from None
    except ValueError as exc:
        # Python refuses to convert integers of more than 4,300 digits (a denial-of-service
        # guard); readers that convert a number pass that ValueError on.
        if "integer string conversion" in str(exc):
            raise InputError(path, "holds a number with more than 4,300 digits") from None
        raise


def _read_lockfile(path: Path) -> Lockfile:
    if path.name == _BUN_BINARY:
        raise InputError(path, _BUN_HINT)
    text = _read_text(path)
    named = _BY_NAME.get(path.name)
    if named is None:
        guess = _sniff(text)
        if guess is None:
            raise InputError(
                path,
                "not a lockfile format provscore knows (expected one of "
                + ", ".join(LOCKFILE_NAMES)
                + ")",
            )
        return _BY_NAME[guess][1](path, text)
    label, reader = named
    try:
        return reader(path, text)
    except InputError as exc:
        guess = _sniff(text)
        if guess is not None and _BY_NAME[guess][1] is not reader:
            raise InputError(
                path,
                f"this file looks like a {_BY_NAME[guess][0]}, not a {label} ({exc.problem})",
                exc.line,
            ) from None
        raise


def _max_bytes() -> int:
    raw = os.environ.get("PROVSCORE_MAX_LOCKFILE_MB", str(DEFAULT_MAX_MB))
    try:
        return int(raw) * 1024 * 1024
    except ValueError:
        raise InputError(
            Path("PROVSCORE_MAX_LOCKFILE_MB"), f"not a whole number: {raw!r}"
        ) from None


def _read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, counted as read: `stat` says 0 for
    /dev/zero and a FIFO never ends, so the size on file proves nothing. O_NONBLOCK keeps the
    open of a FIFO from waiting for a writer; anything but a regular file is refused."""
    cap = f"the {limit // 2**20} MB limit for a lockfile (PROVSCORE_MAX_LOCKFILE_MB raises it)"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a lockfile") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(path, "is a directory, expected a lockfile")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(
                path, "not a regular file (a device, FIFO or socket), expected a lockfile"
            )
        if info.st_size > limit:
            raise InputError(path, f"file is {info.st_size / 2**20:.0f} MB, over {cap}")
        parts, total = [], 0
        while True:
            part = os.read(fd, min(1 << 20, limit + 1 - total))
            if not part:
                break
            parts.append(part)
            total += len(part)
            if total > limit:
                raise InputError(path, f"file is over {cap}")
        return b"".join(parts)
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _read_text(path: Path) -> str:
    data = _read_bounded(path, _max_bytes())
    if not data.strip():
        raise InputError(path, "file is empty")
    if b"\x00" in data[:65536]:
        raise InputError(path, "binary file, expected a text lockfile")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(path, f"not UTF-8 text (byte {exc.start})", line) from None


_JSON_ARRAY_ENTRY = re.compile(r'"packages"\s*:\s*\{\s*"[^"]*"\s*:\s*\[')


def _sniff(text: str) -> str | None:
    """The lockfile name whose format `text` looks like, from its first bytes."""
    head = text[:65536].lstrip()
    if head.startswith("{"):
        if '"has_install_script"' in head or '"tarball"' in head:
            return "npm.lock"
        if _JSON_ARRAY_ENTRY.search(head) or '"workspaces": {' in head[:400]:
            return "bun.lock"
        if '"lockfileVersion"' in head:
            return "package-lock.json"
        return None
    if re.search(r"^lockfileVersion:", head, re.MULTILINE):
        return "pnpm-lock.yaml"
    if is_berry(head) or "# yarn lockfile v1" in head:
        return "yarn.lock"
    return None
