"""The byte strings that reveal a secret: its value and its base64 forms.

As Prow's censor (`pkg/secretutil`): a value is trimmed of surrounding whitespace, `true` and
`false` are never secrets (configuration booleans stored beside credentials), and the standard
base64 encodings of the value as given and as trimmed are secrets too. Beyond Prow: the URL-safe
alphabet, and the three alignments of the value inside a longer base64 stream (a secret in a
base64-encoded docker `config.json` or Kubernetes Secret starts at any byte offset modulo 3),
each cut to the characters that depend on the secret's bytes alone.

A value with several lines (a PEM key) is censored line by line, as GitHub Actions does, so no
form ever holds a newline: a match never crosses a line, which keeps the streaming censor from
holding back complete lines.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable

MIN_SECRET_LENGTH = 4
"""Shorter values (after trimming) are ignored: a secret `a` must not erase every `a` of a log.
Each line of a multi-line value and each base64 form must be this long too."""

_ENCODERS: tuple[Callable[[bytes], bytes], ...] = (base64.b64encode, base64.urlsafe_b64encode)
_BOOLEANS = (b"true", b"false")
_ARMOR = (b"-----BEGIN ", b"-----END ")
"""A PEM key's first and last lines say what it is, not what it holds: not censored."""


def as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8", errors="surrogateescape") if isinstance(value, str) else value


def aligned(value: bytes, offset: int, encode: Callable[[bytes], bytes]) -> bytes:
    """The base64 characters fully determined by `value` when it starts `offset` bytes (0-2)
    into a base64-encoded stream: what any stream holding it contains, whatever surrounds it."""
    text = encode(bytes(offset) + value)
    first = -(-8 * offset // 6)  # the first character whose 6 bits all come from `value`
    end = (8 * offset + 8 * len(value)) // 6
    return text[first:end]


def base64_forms(value: bytes) -> set[bytes]:
    forms: set[bytes] = set()
    for encode in _ENCODERS:
        forms.add(encode(value))
        forms.add(encode(value).rstrip(b"="))
        forms.update(aligned(value, offset, encode) for offset in range(3))
    return forms


def secret_forms(values: Iterable[str | bytes], min_length: int = MIN_SECRET_LENGTH) -> set[bytes]:
    """Every byte string to censor for `values` (none with a newline, none below `min_length`)."""
    forms: set[bytes] = set()
    for value in values:
        raw = as_bytes(value)
        trimmed = raw.strip()
        if len(trimmed) < min_length or trimmed.lower() in _BOOLEANS:
            continue
        lines = (line.strip() for line in trimmed.split(b"\n"))
        forms.update(line for line in lines if not line.startswith(_ARMOR))
        for given in {raw, trimmed}:
            forms.update(base64_forms(given))
    return {form for form in forms if len(form) >= min_length}
