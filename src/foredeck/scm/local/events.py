"""GitHub-shaped webhook payloads made from local repositories, and logging them.

The `local` provider feeds the same event log, worker and plugins as GitHub does, so its events
are GitHub's payloads (the fields `foredeck.scm.github_types` models and the trigger plugin reads,
plus the common ones around them). Delivery ids are deterministic,
`local-<sha256 of org/repo/ref/sha/action>`, and the event log keeps one event per delivery id:
scanning the same state again, in this process or after a restart, logs nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from foredeck.db.engine import session_factory, write_lock
from foredeck.db.eventlog import Logged, NewEvent, log_events
from foredeck.scm.github_types import IssueComment, PullRequest, repository_of
from foredeck.scm.local.pulls import LocalPulls
from foredeck.scm.local.repos import CommitInfo

NULL_SHA = "0" * 40
MAX_PUSH_COMMITS = 20
"""GitHub lists at most 20 commits in a push payload."""


def delivery_id(org: str, repo: str, ref: str, sha: str, action: str) -> str:
    """The deterministic delivery id of one local event."""
    key = "/".join((org, repo, ref, sha, action))
    return "local-" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def user_json(pulls: LocalPulls, login: str) -> dict[str, Any]:
    return pulls.user(login).model_dump(mode="json")


def repository_json(pulls: LocalPulls, org: str, repo: str) -> dict[str, Any]:
    return pulls.repository(org, repo).model_dump(mode="json")


def pull_json(pr: PullRequest) -> dict[str, Any]:
    """The `pull_request` object of a payload."""
    return pr.model_dump(mode="json")


def pull_request_payload(
    pulls: LocalPulls,
    action: str,
    pull: dict[str, Any],
    repository: dict[str, Any],
    sender: str,
    *,
    before: str | None = None,
) -> dict[str, Any]:
    """A `pull_request` event; `before` (the previous head) for `synchronize`."""
    payload: dict[str, Any] = {
        "action": action,
        "number": pull["number"],
        "pull_request": pull,
        "repository": repository,
        "sender": user_json(pulls, sender),
    }
    if before is not None:
        payload["before"] = before
        payload["after"] = pull["head"]["sha"]
    return payload


def commit_json(pulls: LocalPulls, org: str, repo: str, commit: CommitInfo) -> dict[str, Any]:
    files = pulls.repos.changes(org, repo, commit.sha)
    person = {"name": commit.name, "email": commit.email, "username": commit.login}
    return {
        "id": commit.sha,
        "distinct": True,
        "message": commit.message,
        "timestamp": commit.time.isoformat().replace("+00:00", "Z"),
        "url": "",
        "author": person,
        "committer": person,
        "added": files.added,
        "removed": files.removed,
        "modified": files.modified,
    }


def push_payload(
    pulls: LocalPulls, org: str, repo: str, ref: str, before: str | None, after: str
) -> dict[str, Any]:
    """A `push` of `after` to `ref`; `before` None for a ref seen for the first time.

    The commits are those in `before..after` (at most 20, oldest first), or the head commit
    alone when the ref is new or the old commit is gone.
    """
    repos = pulls.repos
    head = repos.commit(org, repo, after)
    commits: list[CommitInfo] = []
    forced = False
    if before is not None and before != NULL_SHA and repos.resolve(org, repo, before) == before:
        forced = not repos.is_ancestor(org, repo, before, after)
        commits = repos.commits(org, repo, [f"{before}..{after}"])[-MAX_PUSH_COMMITS:]
    if not commits:
        commits = [head]
    listed = [commit_json(pulls, org, repo, c) for c in commits]
    return {
        "ref": ref,
        "before": before or NULL_SHA,
        "after": after,
        "created": before is None,
        "deleted": False,
        "forced": forced,
        "base_ref": None,
        "compare": "",
        "commits": listed,
        "head_commit": listed[-1],
        "repository": repository_json(pulls, org, repo),
        "pusher": {"name": head.login, "email": head.email},
        "sender": user_json(pulls, head.login),
    }


def issue_comment_payload(
    pr: PullRequest, comment: IssueComment, repository: dict[str, Any]
) -> dict[str, Any]:
    """An `issue_comment` `created` on the open pull request `pr`."""
    author = comment.user.model_dump(mode="json")
    created = comment.created_at.isoformat().replace("+00:00", "Z")
    return {
        "action": "created",
        "issue": {
            "number": pr.number,
            "title": pr.title,
            "state": pr.state,
            "user": pr.user.model_dump(mode="json"),
            "labels": [{"name": label.name} for label in pr.labels],
            "pull_request": {"url": "", "html_url": pr.html_url},
            "author_association": pr.author_association,
        },
        "comment": {
            "id": comment.id,
            "body": comment.body,
            "user": author,
            "html_url": comment.html_url,
            "author_association": comment.author_association,
            "created_at": created,
            "updated_at": comment.updated_at.isoformat().replace("+00:00", "Z"),
        },
        "repository": repository,
        "sender": author,
    }


def new_event(event: str, delivery: str, payload: dict[str, Any]) -> NewEvent:
    """The log entry of a local payload, its repository decided as the hook decides it."""
    org, repo = repository_of(payload)
    action = payload.get("action")
    return NewEvent(
        delivery_id=delivery,
        event=event,
        action=action if isinstance(action, str) else None,
        org=org,
        repo=repo,
        payload=json.dumps(payload, separators=(",", ":")).encode("utf-8"),
    )


def log_local_events(
    engine: Engine,
    events: Sequence[NewEvent],
    on_logged: Callable[[], None] | None = None,
) -> list[Logged]:
    """Log `events` in one short transaction; calls `on_logged` if any was new."""
    if not events:
        return []
    with write_lock(engine), session_factory(engine).begin() as session:
        results = log_events(session, events)
    if on_logged is not None and any(not r.duplicate for r in results):
        on_logged()
    return results
