"""GitHub webhook deliveries: signature verification and a typed envelope.

Verification follows GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
Every configured secret is compared with `hmac.compare_digest` (all of them, so the time taken
does not tell which one matched). Which secrets apply depends on the repository named in the
payload, as in Prow: the payload must therefore be parsed before it is verified, which is safe
only because the body size is bounded first. `decide_repository` is the one place that reads
that repository, for the hook's envelope and for the typed models plugins act on alike.

The typed payload models cover the fields foredeck's plugins read; every model ignores unknown
fields, so new GitHub fields never break parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qs

import msgspec
from pydantic import BaseModel, ConfigDict, Field, model_validator

from foredeck.settings import HookSettings

SIGNATURE_PREFIX = "sha256="
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_EVENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # projects_v2_item, sub_issues
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


class RepositoryNames(NamedTuple):
    """What a payload's `repository` object says about itself (None: the field is absent)."""

    full_name: Any
    owner: Any
    """`owner.login`"""
    name: Any


def _names(repository: Any) -> RepositoryNames | None:
    """The names of a `repository` value that is an object (a dict or a lenient struct)."""
    if isinstance(repository, dict):
        full_name, name, owner = (repository.get(k) for k in ("full_name", "name", "owner"))
    elif isinstance(repository, _LenientRepository):
        full_name, name, owner = repository.full_name, repository.name, repository.owner
    else:
        return None  # not an object: as if absent
    if owner is not None and not isinstance(owner, dict):
        raise PayloadError("repository.owner must be an object")
    return RepositoryNames(full_name, None if owner is None else owner.get("login"), name)


def _head_names(repository: _Repository | None) -> RepositoryNames | None:
    if repository is None:
        return None
    owner = repository.owner
    return RepositoryNames(
        repository.full_name, None if owner is None else owner.login, repository.name
    )


def _lenient_names(raw: msgspec.Raw) -> RepositoryNames | None:
    try:
        return _names(_LENIENT_REPOSITORY.decode(raw))
    except msgspec.ValidationError:  # not an object
        return None


def _login(raw: msgspec.Raw) -> Any:
    try:
        return _ORGANIZATION.decode(raw).login
    except msgspec.ValidationError:  # not an object: as if absent
        return None


def _shown(value: Any) -> str:
    """A value from an unauthenticated payload, quoted in an error message only when short."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 100 else "(a long string)"
    if isinstance(value, bool | int | float):
        return repr(value)
    return "(a list)" if isinstance(value, list) else "(an object)"


def decide_repository(
    repository: RepositoryNames | None, organization: Any
) -> tuple[str | None, str | None]:
    """(org, repo) of a payload: the one answer for the secret that verifies it and for plugins.

    The hook picks the secret from `repository.full_name` while plugins act on `owner.login` and
    `name`: a payload whose fields disagree could be signed with one organisation's secret and
    run another's jobs, so it is refused (`PayloadError`). `repository` is None when the payload
    has no repository object; `organization` is `organization.login` (None: absent), which names
    the org only when there is no repository: with one, the repository alone decides (GitHub's
    own published examples pair a repository with another organization), and nothing acts on
    the organization field.
    """
    if repository is None:
        if isinstance(organization, str) and _NAME.match(organization):
            return organization, None
        return None, None
    full_name = repository.full_name
    owner, _, name = full_name.partition("/") if isinstance(full_name, str) else ("", "", "")
    if not (_NAME.match(owner) and _NAME.match(name)):
        raise PayloadError(
            "repository.full_name must be 'owner/name' (letters, digits, '.', '_', '-')"
        )
    for field, value, expected in (
        ("repository.owner.login", repository.owner, owner),
        ("repository.name", repository.name, name),
    ):
        if value is not None and value != expected:
            raise PayloadError(
                f"{field} {_shown(value)} does not match repository.full_name {full_name!r}"
            )
    return owner, name


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


def repository_of(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(org, repo) named by a parsed payload, as `WebhookEnvelope.parse` decides it."""
    organization = payload.get("organization")
    return decide_repository(
        _names(payload.get("repository")),
        organization.get("login") if isinstance(organization, dict) else None,
    )


# Typed payloads: the fields plugins read.


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Payload(_Model):
    """An event's payload: refused when it names two repositories (see `decide_repository`).

    Events logged before the hook refused such payloads are refused here, so that plugins never
    act on a repository other than the one whose secret verified the delivery.
    """

    @model_validator(mode="before")
    @classmethod
    def _one_repository(cls, data: Any) -> Any:
        if isinstance(data, dict):
            repository_of(data)
        return data


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

    @model_validator(mode="after")
    def _names_agree(self) -> Repository:
        decide_repository(RepositoryNames(self.full_name, self.owner.login, self.name), None)
        return self

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


class PullRequestEvent(_Payload):
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


class PushEvent(_Payload):
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


class IssueCommentEvent(_Payload):
    action: str
    issue: Issue
    comment: Comment
    repository: Repository
    sender: User


class PingEvent(_Payload):
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
