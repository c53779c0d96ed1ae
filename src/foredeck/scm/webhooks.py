"""GitHub webhook deliveries: signature verification and a typed envelope.

Verification follows GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
Every configured secret is compared with `hmac.compare_digest` (all of them, so the time taken
does not tell which one matched). Which secrets apply depends on the repository named in the
payload, as in Prow: the payload must therefore be parsed before it is verified, which is safe
only because the body size is bounded first. `decide_repository` is the one place that reads
that repository (`foredeck.scm.github_types`), for the hook's envelope and for the typed models
plugins act on alike; the typed models themselves are GitHub's objects in `github_types`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import msgspec

from foredeck.scm.github_types import (
    PayloadError,
    RepositoryNames,
    decide_repository,
    names_of,
)
from foredeck.settings import HookSettings

SIGNATURE_PREFIX = "sha256="
_EVENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # projects_v2_item, sub_issues
_ACTION = re.compile(r"^[a-z_]{1,64}$")
_DELIVERY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def sign(body: bytes, secret: str | bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    key = secret.encode() if isinstance(secret, str) else secret
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str, secrets: Sequence[bytes]) -> bool:
    """True when `header` is a valid signature of `body` under any of `secrets`."""
    if not header.startswith(SIGNATURE_PREFIX):
        return False
    given = header[len(SIGNATURE_PREFIX) :].strip().lower().encode("ascii", "replace")
    ok = False
    for secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
        ok |= hmac.compare_digest(expected, given)
    return ok


def secrets_for(hook: HookSettings, org: str | None, repo: str | None) -> list[bytes]:
    """The secrets that may sign a delivery for `org/repo`: the most specific configured level."""
    if org is not None:
        org_key = org.lower()
        if repo is not None:
            full = f"{org_key}/{repo.lower()}"
            for key, values in hook.repo_secrets.items():
                if key.lower() == full and values:
                    return [v.get_secret_value().encode() for v in values]
        for key, values in hook.org_secrets.items():
            if key.lower() == org_key and values:
                return [v.get_secret_value().encode() for v in values]
    return [v.get_secret_value().encode() for v in hook.secrets]


def valid_event_name(event: str) -> bool:
    return bool(_EVENT.match(event))


def valid_delivery_id(delivery_id: str) -> bool:
    return bool(_DELIVERY.match(delivery_id))


def payload_json(body: bytes, content_type: str) -> bytes:
    """The JSON document of a delivery body (`application/json` or the form `payload=` field)."""
    if content_type == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=16)
        except (UnicodeDecodeError, ValueError):
            raise PayloadError("invalid form body") from None
        values = fields.get("payload")
        if not values or len(values) != 1:
            raise PayloadError("form body has no single 'payload' field")
        return values[0].encode("utf-8")
    return body


class _Owner(msgspec.Struct):
    login: Any = None


class _Repository(msgspec.Struct):
    full_name: Any = None
    name: Any = None
    owner: _Owner | None = None


class _Organization(msgspec.Struct):
    login: Any = None


class _Head(msgspec.Struct):
    """What the hook reads of a payload; every other field is checked but not built."""

    action: Any = None
    repository: _Repository | None = None
    organization: _Organization | None = None


class _LenientHead(msgspec.Struct):
    """`_Head` for payloads whose `repository` / `organization` (or owner) are not objects."""

    action: Any = None
    repository: msgspec.Raw = msgspec.Raw(b"null")
    organization: msgspec.Raw = msgspec.Raw(b"null")


class _LenientRepository(msgspec.Struct):
    full_name: Any = None
    name: Any = None
    owner: Any = None


_HEAD = msgspec.json.Decoder(_Head)
_LENIENT_HEAD = msgspec.json.Decoder(_LenientHead)
_LENIENT_REPOSITORY = msgspec.json.Decoder(_LenientRepository)
_ORGANIZATION = msgspec.json.Decoder(_Organization)


def _lenient_names(raw: msgspec.Raw) -> RepositoryNames | None:
    try:
        repository = _LENIENT_REPOSITORY.decode(raw)
    except msgspec.ValidationError:  # not an object
        return None
    fields = {"full_name": repository.full_name, "name": repository.name}
    return names_of({**fields, "owner": repository.owner})


def _head_names(repository: _Repository | None) -> RepositoryNames | None:
    if repository is None:
        return None
    owner = repository.owner
    return RepositoryNames(
        repository.full_name, None if owner is None else owner.login, repository.name
    )


def _login(raw: msgspec.Raw) -> Any:
    try:
        return _ORGANIZATION.decode(raw).login
    except msgspec.ValidationError:  # not an object: as if absent
        return None


def _head(document: bytes) -> tuple[Any, RepositoryNames | None, Any]:
    """(action, repository names, organization login) of a JSON document."""
    try:
        head = _HEAD.decode(document)
    except msgspec.ValidationError:
        lenient = _LENIENT_HEAD.decode(document)  # raises again for a non-object document
        return lenient.action, _lenient_names(lenient.repository), _login(lenient.organization)
    organization = head.organization
    login = None if organization is None else organization.login
    return head.action, _head_names(head.repository), login


@dataclass(frozen=True, slots=True)
class WebhookEnvelope:
    """One delivery: the headers that identify it and what the payload says it is about."""

    event: str
    delivery_id: str
    action: str | None
    org: str | None
    repo: str | None

    @classmethod
    def parse(cls, event: str, delivery_id: str, document: bytes) -> WebhookEnvelope:
        """Read a JSON payload's envelope; raises `PayloadError` when it is not a usable object.

        The whole document is checked (JSON syntax, UTF-8), but only the envelope's fields are
        built: decoding GitHub's 25 KB payloads into dicts cost the hook ~30 us and a garbage
        collection every few requests, for fields it never reads (plugins parse the logged body).
        """
        try:
            if not document.isascii():
                document.decode("utf-8")
            action, repository, organization = _head(document)
        except msgspec.ValidationError:
            raise PayloadError("payload must be a JSON object") from None
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise PayloadError("body is not valid JSON") from None
        except RecursionError:  # msgspec stops at the interpreter's recursion limit
            raise PayloadError("JSON nested too deeply") from None
        org, repo = decide_repository(repository, organization)
        return cls(
            event=event,
            delivery_id=delivery_id,
            action=action if isinstance(action, str) and _ACTION.match(action) else None,
            org=org,
            repo=repo,
        )
