"""`POST /api/repos/{org}/{repo}/pulls/{number}/comments`: comment on a local pull request.

With `scm.provider: local` there is no GitHub to type `/test` or `/retest` into; this is where
those comments come from. The comment and its `issue_comment` event commit together (the
provider's `user_comments()`, `foredeck.scm.local.comments`) and the event worker is woken to
handle it. An SCM whose users comment in the SCM itself (GitHub) has no such route: 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from foredeck.access import audit
from foredeck.access.gate import RequestGate
from foredeck.api.auth import GuardedRoute
from foredeck.api.deps import OnEvent, Scm
from foredeck.api.models import Unprocessable
from foredeck.bounds import NO_NUL, PullNumber, TextBody
from foredeck.db.engine import write_lock
from foredeck.scm.github_types import LOGIN_PATTERN, GitHubError
from foredeck.scm.local.names import MAX_NAME, NAME_PATTERN
from foredeck.scm.provider import UserComments
from foredeck.web.deps import AppEngine, Writes

MAX_COMMENT_CHARS = 65536


class NewComment(TextBody):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=MAX_COMMENT_CHARS, pattern=NO_NUL)
    author: str | None = Field(default=None, pattern=LOGIN_PATTERN)
    """The commenter's login: by default the caller's own name. Another user's needs admin
    (the demo and tests play several people with the bootstrap token): a chat-op command such
    as `/lgtm` or `/approve` acts with its author's rights."""


class Comment(BaseModel):
    id: int
    author: str
    body: str
    created_at: datetime


router = APIRouter(
    prefix="/api",
    tags=["jobs"],
    route_class=GuardedRoute,
    responses={422: {"model": Unprocessable, "description": "Invalid or unfitting request"}},
)
"""Mounted beside the jobs router (`api.routes`), with the same prefix, tags and guard."""


@router.post(
    "/repos/{org}/{repo}/pulls/{number}/comments",
    response_model=Comment,
    status_code=201,
    tags=["scm"],
    responses={
        404: {"description": "No such pull request, or the SCM is not `local`"},
    },
)
def comment_on_pull(
    org: Annotated[str, Path(pattern=NAME_PATTERN, max_length=MAX_NAME)],
    repo: Annotated[str, Path(pattern=NAME_PATTERN, max_length=MAX_NAME)],
    number: PullNumber,
    body: NewComment,
    scm: Scm,
    on_event: OnEvent,
    gate: RequestGate,
    writes: Writes,
    engine: AppEngine,
) -> Comment:
    gate.require("editor", org, repo, f"comment on pull requests of {org}/{repo}")
    author = body.author or gate.who.name
    if author.lower() != gate.who.name.lower():
        gate.require("admin", org, repo, f"comment as another user ({author}) on {org}/{repo}")
    comments: UserComments | None = scm.user_comments()  # None: users comment in the SCM
    if comments is None:
        raise HTTPException(404, "comments through the API need scm.provider: local")
    try:
        made = comments.comment(org, repo, number, body.body, author, on_logged=on_event)
    except GitHubError as exc:
        status = exc.status if exc.status in (404, 422) else 502
        raise HTTPException(status, str(exc)) from None
    with write_lock(engine), writes.begin() as session:
        audit.record(session, gate.who, "pull.comment", f"{org}/{repo}#{number}", id=made.id)
    return Comment(id=made.id, author=made.user.login, body=made.body, created_at=made.created_at)
