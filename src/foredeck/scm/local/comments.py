"""A local user's comment on a pull request, and its `issue_comment` event, in one commit.

With `scm.provider: local` there is no GitHub to type `/test` or `/retest` into: the API's
comment route calls this. The comment is stored where `LocalScm.list_issue_comments` finds it
and the event is logged in the same transaction, so the trigger sees both or neither.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from foredeck.db.engine import session_factory, write_lock
from foredeck.db.eventlog import log_events
from foredeck.db.models import ScmComment
from foredeck.db.types import utcnow
from foredeck.scm.github_types import IssueComment
from foredeck.scm.local.events import delivery_id, issue_comment_payload, new_event, repository_json
from foredeck.scm.local.names import check_comment
from foredeck.scm.local.pulls import CommentRow, LocalPulls
from foredeck.scm.local.state import new_id


class LocalComments:
    """Comments by local users (`comment`), for the API."""

    def __init__(self, pulls: LocalPulls, engine: Engine) -> None:
        self.pulls = pulls
        self._engine = engine

    def comment(
        self,
        org: str,
        repo: str,
        number: int,
        body: str,
        author: str,
        *,
        on_logged: Callable[[], None] | None = None,
    ) -> IssueComment:
        """Comment on local pull request `number` as `author`, and log the `issue_comment` event.

        Raises `LocalScmError` (404) when there is no such pull request, (422) for a body over
        64 KiB or an author that is not a login. The comment and its event commit together.
        """
        check_comment(body, author)
        pulls = self.pulls
        pr = pulls.pull(org, repo, number)
        now = utcnow()
        row = CommentRow(new_id(), org, repo, number, author, body, now, now)
        made = pulls.comment(row)
        payload = issue_comment_payload(pr, made, repository_json(pulls, org, repo))
        delivery = delivery_id(org, repo, f"pull/{number}/comments", str(row.id), "created")
        event = new_event("issue_comment", delivery, payload)
        with write_lock(self._engine), session_factory(self._engine).begin() as session:
            session.add(
                ScmComment(
                    id=row.id,
                    org=org,
                    repo=repo,
                    number=number,
                    author=author,
                    body=body,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.flush()
            log_events(session, [event])
        if on_logged is not None:
            on_logged()
        return made
