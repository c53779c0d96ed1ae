"""GitHub's objects, once: what the REST client returns and what webhook payloads carry.

One model per GitHub object (Prow's `github/types.go`), so that a pull request read through
the API and one delivered by a webhook have the same fields: the two used to be separate model
sets that drifted apart (the REST user had no `html_url`). Every model ignores unknown fields,
so new GitHub fields never break parsing; fields that one of the two sources may leave out
have defaults.

Also here, because every SCM speaks them: the commit status rules (one place for both
providers and their callers), and the repository-consistency rule of a payload
(`decide_repository`): the hook chooses a delivery's secret from `repository.full_name` while
plugins act on `owner.login` and `name`, so a payload whose names disagree is refused wherever
it is parsed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# -- names -----------------------------------------------------------------------------------

NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
"""An owner (organisation or user) or repository name as GitHub allows it."""
LOGIN_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$"
"""A GitHub login (a bot's ends in `[bot]`); also the API's pattern for a commenter."""
LOGIN = re.compile(LOGIN_PATTERN)
GHOST = "ghost"
"""The login GitHub shows for a deleted account (REST answers `null` for its user)."""


def valid_name(value: object) -> bool:
    """An owner or repository name (`NAME`), never `.` or `..` (it becomes a path segment)."""
    return isinstance(value, str) and NAME.fullmatch(value) is not None and value not in (".", "..")


class GitHubError(Exception):
    """The SCM refused a request, or its answer was unusable. `status` 0: no HTTP answer.

    Both providers raise it (the local one as `LocalScmError`), so callers handle one error."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str = "",
        url: str = "",
        documentation_url: str | None = None,
    ) -> None:
        where = f"{method} {url}: " if method else ""
        super().__init__(f"{where}{status or 'error'} {message}".strip())
        self.status = status
        self.message = message
        self.method = method
        self.url = url
        self.documentation_url = documentation_url


MAX_FILE_BYTES = 10 * 1024 * 1024
"""What `get_file_content` reads at most by default, with either provider."""

# -- commit statuses -------------------------------------------------------------------------

StatusState = Literal["error", "failure", "pending", "success"]
STATUS_STATES: tuple[StatusState, ...] = ("error", "failure", "pending", "success")
MAX_STATUS_DESCRIPTION = 140
"""GitHub refuses longer commit status descriptions."""
MAX_STATUS_CONTEXT = 255


def check_status(state: str, context: str) -> None:
    """`ValueError` for a status no SCM would take: an unknown state or an empty (or over-long)
    context. Both clients call it before sending, so the rule cannot differ between them."""
    if state not in STATUS_STATES:
        raise ValueError(f"invalid commit status state {state!r}")
    if not context or len(context) > MAX_STATUS_CONTEXT:
        raise ValueError(f"commit status context must be 1 to {MAX_STATUS_CONTEXT} characters")


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the last one `…` when something was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_description(text: str) -> str:
    """`text` as a commit status description: at most `MAX_STATUS_DESCRIPTION` characters."""
    return truncate(text, MAX_STATUS_DESCRIPTION)


# -- the repository a payload names ----------------------------------------------------------


class PayloadError(ValueError):
    """The body is not a webhook payload we can read (HTTP 400)."""


class RepositoryNames(NamedTuple):
    """What a payload's `repository` object says about itself (None: the field is absent)."""

    full_name: Any
    owner: Any
    """`owner.login`"""
    name: Any


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
        if isinstance(organization, str) and NAME.fullmatch(organization):
            return organization, None
        return None, None
    full_name = repository.full_name
    owner, _, name = full_name.partition("/") if isinstance(full_name, str) else ("", "", "")
    if not (NAME.fullmatch(owner) and NAME.fullmatch(name)):
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


def names_of(repository: Any) -> RepositoryNames | None:
    """The names of a parsed `repository` value; None when it is not an object (as if absent)."""
    if not isinstance(repository, dict):
        return None
    full_name, name, owner = (repository.get(k) for k in ("full_name", "name", "owner"))
    if owner is not None and not isinstance(owner, dict):
        raise PayloadError("repository.owner must be an object")
    return RepositoryNames(full_name, None if owner is None else owner.get("login"), name)


def repository_of(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(org, repo) named by a parsed payload, as the hook's envelope decides it."""
    organization = payload.get("organization")
    return decide_repository(
        names_of(payload.get("repository")),
        organization.get("login") if isinstance(organization, dict) else None,
    )


# -- objects ---------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Model):
    login: str
    id: int = 0
    html_url: str = ""
    type: str = "User"


def _ghost_if_null(value: Any) -> Any:
    return {"login": GHOST} if value is None else value


class Label(_Model):
    name: str
    color: str = ""
    description: str | None = None


class Repository(_Model):
    name: str
    full_name: str
    owner: User
    private: bool = False
    fork: bool = False
    html_url: str = ""
    clone_url: str = ""
    default_branch: str = "main"

    @model_validator(mode="after")
    def _names_agree(self) -> Repository:
        decide_repository(RepositoryNames(self.full_name, self.owner.login, self.name), None)
        return self

    @property
    def org(self) -> str:
        return self.owner.login


class PullBranch(_Model):
    """`head` or `base` of a pull request."""

    ref: str
    sha: str
    label: str = ""
    repo: Repository | None = None
    """None when the head repository (a fork) was deleted."""


class Milestone(_Model):
    title: str = ""


class PullRequest(_Model):
    number: int
    state: Literal["open", "closed"]
    title: str = ""
    body: str | None = None
    user: User
    head: PullBranch
    base: PullBranch
    draft: bool = False
    merged: bool | None = False
    """Webhook payloads may say null; REST always says true or false."""
    mergeable: bool | None = None
    mergeable_state: str = "unknown"
    labels: list[Label] = Field(default_factory=list)
    html_url: str = ""
    author_association: str = "NONE"
    merge_commit_sha: str | None = None
    milestone: Milestone | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class IssueComment(_Model):
    id: int
    body: str = ""
    user: User
    """A deleted account is GitHub's `ghost` (REST says null)."""
    html_url: str = ""
    author_association: str = "NONE"
    created_at: datetime
    updated_at: datetime

    _user = field_validator("user", mode="before")(_ghost_if_null)


class CommitStatus(_Model):
    id: int
    state: StatusState
    context: str
    description: str | None = None
    target_url: str | None = None
    creator: User | None = None
    created_at: datetime


class CheckRun(_Model):
    """A check run of a GitHub App (GitHub Actions' jobs are check runs)."""

    id: int
    name: str
    status: str
    conclusion: str | None = None
    details_url: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


class Installation(_Model):
    id: int
    app_id: int


# -- webhook payloads ------------------------------------------------------------------------


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
    """A commit of a push payload."""

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


class IssueCommentEvent(_Payload):
    action: str
    issue: Issue
    comment: IssueComment
    repository: Repository
    sender: User


class Review(_Model):
    """A pull request review (`pull_request_review` payloads): `approved`, `commented`, ..."""

    id: int
    user: User
    body: str | None = None
    state: str
    html_url: str = ""
    commit_id: str = ""
    submitted_at: datetime | None = None

    _user = field_validator("user", mode="before")(_ghost_if_null)


class PullRequestReviewEvent(_Payload):
    action: str
    review: Review
    pull_request: PullRequest
    repository: Repository
    sender: User


class PingEvent(_Payload):
    zen: str = ""
    hook_id: int | None = None


TypedPayload = PullRequestEvent | PushEvent | IssueCommentEvent | PullRequestReviewEvent | PingEvent

_TYPED: dict[str, type[TypedPayload]] = {
    "pull_request": PullRequestEvent,
    "push": PushEvent,
    "issue_comment": IssueCommentEvent,
    "pull_request_review": PullRequestReviewEvent,
    "ping": PingEvent,
}


def parse_payload(event: str, payload: dict[str, Any]) -> TypedPayload | None:
    """The typed model for `event`, or None for events without one.

    Raises `pydantic.ValidationError` when a payload lacks a field the model requires.
    """
    model = _TYPED.get(event)
    return None if model is None else model.model_validate(payload)
