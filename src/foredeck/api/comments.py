"""`POST /api/repos/{org}/{repo}/pulls/{number}/comments`: comment on a local pull request.

With `scm.provider: local` there is no GitHub to type `/test` or `/retest` into; this is where
those comments come from. The comment and its `issue_comment` event commit together (the
provider's `user_comments()`, `foredeck.scm.local.comments`) and the event worker is woken to
handle it. An SCM whose users comment in the SCM itself (GitHub) has no such route: 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from foredeck.bounds import PullNumber
from foredeck.scm.github_types import LOGIN_PATTERN, GitHubError
from foredeck.scm.local.names import MAX_NAME, NAME_PATTERN
from foredeck.scm.provider import UserComments

MAX_COMMENT_CHARS = 65536


class NewComment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=MAX_COMMENT_CHARS)
    author: str = Field(pattern=LOGIN_PATTERN)
    """The commenter's login (every local user is trusted: see docs/local-scm.md)."""


class Comment(BaseModel):
    id: int
    author: str
    body: str
    created_at: datetime


def add_comment_route(
    router: APIRouter,
    comments: UserComments | None,
    *,
    on_event: Callable[[], None] | None,
) -> None:
    """Add the route to `router`, whose route class guards writes (`api.auth`). `comments` is
    the SCM provider's `user_comments()`; None (GitHub) answers 404."""

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
    ) -> Comment:
        if comments is None:
            raise HTTPException(404, "comments through the API need scm.provider: local")
        try:
            made = comments.comment(org, repo, number, body.body, body.author, on_logged=on_event)
        except GitHubError as exc:
            status = exc.status if exc.status in (404, 422) else 502
            raise HTTPException(status, str(exc)) from None
        return Comment(
            id=made.id, author=made.user.login, body=made.body, created_at=made.created_at
        )
