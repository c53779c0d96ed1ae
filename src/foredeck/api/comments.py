"""`POST /api/repos/{org}/{repo}/pulls/{number}/comments`: comment on a local pull request.

With `scm.provider: local` there is no GitHub to type `/test` or `/retest` into; this is where
those comments come from. The comment and its `issue_comment` event commit together (see
`foredeck.scm.local_watch.comment`) and the event worker is woken to handle it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from foredeck.bounds import PullNumber
from foredeck.scm.local import LOGIN_PATTERN, MAX_NAME, NAME_PATTERN
from foredeck.settings import Settings

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
    settings: Settings,
    engine: Engine,
    *,
    on_event: Callable[[], None] | None,
) -> None:
    """Add the route to `router`, whose route class guards writes (`api.auth`)."""

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
        if settings.scm.provider != "local":
            raise HTTPException(404, "comments through the API need scm.provider: local")
        from foredeck.scm.github import GitHubError
        from foredeck.scm.local_watch import comment

        try:
            made = comment(
                engine, settings, org, repo, number, body.body, body.author, on_logged=on_event
            )
        except GitHubError as exc:
            status = exc.status if exc.status in (404, 422) else 502
            raise HTTPException(status, str(exc)) from None
        login = made.user.login if made.user is not None else body.author
        return Comment(id=made.id, author=login, body=made.body, created_at=made.created_at)
