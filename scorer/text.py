"""Neutralising untrusted text before it reaches a terminal.

Package names, advisory summaries and lockfile paths come from other people. Control characters
(including ESC, so ANSI sequences), bidi overrides and other invisible format characters are
shown as `\\xNN` / `\\uNNNN` escapes instead of being interpreted by the terminal.
"""

from __future__ import annotations

import re
import unicodedata

# `scheme://userinfo@`: userinfo cannot hold "/", "?", "#" or "@" unencoded (RFC 3986 3.2.1).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]+@")


def redact_urls(text: str) -> str:
    """`text` with the user name and password of every URL in it replaced by `***`: a
    `https://user:token@host/` registry URL must never reach a terminal, log or report."""
    if "@" not in text or "://" not in text:
        return text
    return _USERINFO.sub(r"\1***@", text)


def safe(text: str) -> str:
    """Untrusted text for a terminal: control and format characters escaped, and the
    credentials of any URL in it redacted."""
    text = redact_urls(text)
    if text.isprintable() and text.isascii():
        return text
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def json_kind(value: object) -> str:
    """What a decoded JSON (or YAML, TOML) value is, in the words of its format rather than
    Python's: error messages say "null", never "NoneType"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a value of an unexpected kind"
