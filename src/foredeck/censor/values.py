"""Finding the secrets inside structured data: lease user data, a docker `config.json`.

A lease's user data mixes secrets (a database URL's password, a kubeconfig's token) with names
that must stay readable (a host, a port, a database name: censoring `127.0.0.1` would blind a
log). So only these are secrets: the value of a key that names a secret (`password`, `token`,
`auth`, ...), the password of a URL, the password inside a docker `auth` (base64 of
`user:password`), and the same inside a string that is a YAML or JSON document (a kubeconfig).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import urlsplit

import yaml

SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|token|secret|private[-_]?key|client[-_]key[-_]data|credentials?"
    r"|api[-_]?key|access[-_]?key|auth|identitytoken|registrytoken)$",
    re.IGNORECASE,
)
"""Keys whose values are secrets, matched at the end of the key (`db_password`, `authToken`)."""
MAX_DEPTH = 16


def url_password(text: str) -> str | None:
    """The password of a URL with userinfo (`scheme://user:password@host`), if any."""
    if "://" not in text or "@" not in text:
        return None
    try:
        return urlsplit(text.strip()).password
    except ValueError:
        return None


def docker_auth(value: str) -> list[str]:
    """The password a docker `auth` field (base64 of `user:password`) encodes."""
    try:
        _user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return []
    return [password] if sep and password else []


def _document(text: str) -> Any:
    """`text` parsed as YAML (JSON included) when it is a mapping or a list spread over lines."""
    if "\n" not in text.strip() and not text.lstrip().startswith(("{", "[")):
        return None
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return parsed if isinstance(parsed, dict | list) else None


def secrets_in(data: Any, *, secret: bool = False, depth: int = 0) -> list[str]:
    """Every secret in `data` (see the module docstring); `secret`: `data` is under a key
    that names a secret."""
    if depth > MAX_DEPTH:
        return []
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            named = isinstance(key, str) and SECRET_KEY.search(key) is not None
            found += secrets_in(value, secret=named, depth=depth + 1)
            if named and key.lower() == "auth" and isinstance(value, str):
                found += docker_auth(value)
    elif isinstance(data, list):
        for item in data:
            found += secrets_in(item, secret=secret, depth=depth + 1)
    elif isinstance(data, str):
        document = _document(data)
        if document is not None:
            found += secrets_in(document, secret=False, depth=depth + 1)
        elif secret:
            found.append(data)
        password = url_password(data)
        if password:
            found.append(password)
    elif secret and isinstance(data, int | float) and not isinstance(data, bool):
        found.append(str(data))
    return found
