"""GitHub webhook deliveries: signature verification and a typed envelope.

Verification follows GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
Every configured secret is compared with `hmac.compare_digest` (all of them, so the time taken
does not tell which one matched). Which secrets apply depends on the repository named in the
payload, as in Prow: the payload must therefore be parsed before it is verified, which is safe
only because the body size is bounded first.

The typed payload models cover the fields foredeck's plugins read; every model ignores unknown
fields, so new GitHub fields never break parsing.
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
from pydantic import BaseModel, ConfigDict, Field

from foredeck.settings import HookSettings

SIGNATURE_PREFIX = "sha256="
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_EVENT = re.compile(r"^[a-z_]{1,64}$")
_ACTION = re.compile(r"^[a-z_]{1,64}$")
_DELIVERY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class PayloadError(ValueError):
    """The body is not a webhook payload we can read (HTTP 400)."""


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


class _Repository(msgspec.Struct):
    full_name: Any = None


class _Organization(msgspec.Struct):
    login: Any = None


class _Head(msgspec.Struct):
    """What the hook reads of a payload; every other field is checked but not built."""

    action: Any = None
    repository: _Repository | None = None
    organization: _Organization | None = None


class _LenientHead(msgspec.Struct):
    """`_Head` for payloads whose `repository` / `organization` are not objects."""

    action: Any = None
    repository: msgspec.Raw = msgspec.Raw(b"null")
    organization: msgspec.Raw = msgspec.Raw(b"null")


_HEAD = msgspec.json.Decoder(_Head)
_LENIENT_HEAD = msgspec.json.Decoder(_LenientHead)
_REPOSITORY = msgspec.json.Decoder(_Repository)
_ORGANIZATION = msgspec.json.Decoder(_Organization)


def _head(document: bytes) -> _Head:
    try:
        return _HEAD.decode(document)
    except msgspec.ValidationError:
        lenient = _LENIENT_HEAD.decode(document)  # raises again for a non-object document

    def maybe(decoder: msgspec.json.Decoder[Any], raw: msgspec.Raw) -> Any:
        try:
            return decoder.decode(raw)
        except msgspec.ValidationError:  # not an object: as if absent
            return None

    return _Head(
        lenient.action,
        maybe(_REPOSITORY, lenient.repository),
        maybe(_ORGANIZATION, lenient.organization),
    )


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
        """Read a JSON payload's envelope; raises `PayloadError` when it is not a JSON object.

        The whole document is checked (JSON syntax, UTF-8), but only the envelope's fields are
        built: decoding GitHub's 25 KB payloads into dicts cost the hook ~30 us and a garbage
        collection every few requests, for fields it never reads (plugins parse the logged body).
        """
        try:
            if not document.isascii():
                document.decode("utf-8")
            head = _head(document)
        except msgspec.ValidationError:
            raise PayloadError("payload must be a JSON object") from None
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise PayloadError("body is not valid JSON") from None
        org, repo = _owner(
            head.repository.full_name if head.repository is not None else None,
            head.organization.login if head.organization is not None else None,
        )
        action = head.action
        return cls(
            event=event,
            delivery_id=delivery_id,
            action=action if isinstance(action, str) and _ACTION.match(action) else None,
            org=org,
            repo=repo,
        )


def _owner(full_name: Any, login: Any) -> tuple[str | None, str | None]:
    """(org, repo) from `repository.full_name`, else (org, None) from `organization.login`."""
    if isinstance(full_name, str) and full_name.count("/") == 1:
        owner, name = full_name.split("/")
        if _NAME.match(owner) and _NAME.match(name):
            return owner, name
    if isinstance(login, str) and _NAME.match(login):
        return login, None
    return None, None


def repository_of(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(org, repo) named by a payload; names that are not valid GitHub names count as absent."""
    repository = payload.get("repository")
    organization = payload.get("organization")
    return _owner(
        repository.get("full_name") if isinstance(repository, dict) else None,
        organization.get("login") if isinstance(organization, dict) else None,
    )


# Typed payloads: the fields plugins read.


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Model):
    login: str
    html_url: str = ""
    type: str = "User"


class Owner(_Model):
    login: str


class Repository(_Model):
    name: str
    full_name: str
    owner: Owner
    html_url: str = ""
    clone_url: str = ""
    default_branch: str = "main"
    private: bool = False
    fork: bool = False

    @property
    def org(self) -> str:
        return self.owner.login


class Label(_Model):
    name: str


class Branch(_Model):
    """`head`/`base` of a pull request."""

    ref: str
    sha: str
    label: str = ""
    repo: Repository | None = None


class PullRequest(_Model):
    number: int
    state: str
    title: str = ""
    body: str | None = None
    user: User
    head: Branch
    base: Branch
    html_url: str = ""
    draft: bool = False
    merged: bool | None = None
    merge_commit_sha: str | None = None
    labels: list[Label] = Field(default_factory=list)
    author_association: str = "NONE"


class PullRequestEvent(_Model):
    action: str
    number: int
    pull_request: PullRequest
    repository: Repository
    sender: User
    before: str | None = None
    after: str | None = None
    label: Label | None = None


class Commit(_Model):
    id: str
    message: str = ""
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    modified: list[str] = Field(default_factory=list)


class Pusher(_Model):
    name: str
    email: str | None = None


class PushEvent(_Model):
    ref: str
    before: str
    after: str
    created: bool = False
    deleted: bool = False
    forced: bool = False
    compare: str = ""
    commits: list[Commit] = Field(default_factory=list)
    head_commit: Commit | None = None
    repository: Repository
    pusher: Pusher
    sender: User


class IssuePullRequestLink(_Model):
    """Present on an issue when the issue is a pull request."""

    url: str = ""
    html_url: str = ""


class Issue(_Model):
    number: int
    title: str = ""
    state: str = "open"
    user: User
    labels: list[Label] = Field(default_factory=list)
    pull_request: IssuePullRequestLink | None = None
    author_association: str = "NONE"

    @property
    def is_pull_request(self) -> bool:
        return self.pull_request is not None


class Comment(_Model):
    id: int
    body: str
    user: User
    html_url: str = ""
    author_association: str = "NONE"


class IssueCommentEvent(_Model):
    action: str
    issue: Issue
    comment: Comment
    repository: Repository
    sender: User


class PingEvent(_Model):
    zen: str = ""
    hook_id: int | None = None


TypedPayload = PullRequestEvent | PushEvent | IssueCommentEvent | PingEvent

_TYPED: dict[str, type[TypedPayload]] = {
    "pull_request": PullRequestEvent,
    "push": PushEvent,
    "issue_comment": IssueCommentEvent,
    "ping": PingEvent,
}


def parse_payload(event: str, payload: dict[str, Any]) -> TypedPayload | None:
    """The typed model for `event`, or None for events without one.

    Raises `pydantic.ValidationError` when a payload lacks a field the model requires.
    """
    model = _TYPED.get(event)
    return None if model is None else model.model_validate(payload)
