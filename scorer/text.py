"""Neutralising untrusted text before it reaches a terminal.

Package names, advisory summaries and lockfile paths come from other people. Control characters
(including ESC, so ANSI sequences), bidi overrides and other invisible format characters are
shown as `\\xNN` / `\\uNNNN` escapes instead of being interpreted by the terminal.
"""

from __future__ import annotations

import unicodedata


def safe(text: str) -> str:
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
