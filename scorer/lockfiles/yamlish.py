"""YAML loading for pnpm-lock.yaml and yarn berry lockfiles, with errors that name the line.

Package managers never write anchors or aliases into lockfiles, so a file that defines one is
refused: alias expansion is the classic way to make a small YAML file exhaust memory.
"""

from __future__ import annotations

import re
from pathlib import Path

from scorer.errors import InputError

_ANCHOR = re.compile(r"(?:^|[ \t\[{,])&[A-Za-z0-9_.-]", re.MULTILINE)


def load_yaml(path: Path, text: str) -> object:
    import yaml  # only pnpm and berry lockfiles need it; npm-only audits start faster

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found = _ANCHOR.search(text)
    if found:
        at = text.count("\n", 0, found.start()) + 1
        raise InputError(path, "YAML anchors are not part of any lockfile format; refusing", at)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line: int | None = mark.line + 1 if mark is not None else None
        raise InputError(path, f"not valid YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise InputError(path, "YAML is nested too deeply to be a lockfile") from None
