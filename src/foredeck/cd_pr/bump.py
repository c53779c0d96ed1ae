"""`open_or_update_bump`: one pull request per bump group, updated in place.

Under the group's lock: check out the manifests repository's base, run the edit, and then

- nothing to change: no pull request; an open bump pull request of the group is now moot and
  is closed with a comment;
- the group's pull request exists and someone else committed to its branch: `leave` comments
  and stops (a moot one is left open too); `overwrite` names the replaced commits in a comment
  and goes on;
- push one commit by foredeck to the branch (forced), then update the pull request's title and
  body in place, or open it with its labels;
- close, with a comment, open bump pull requests of the same group on another branch
  (superseded: an older naming, or a renamed branch).

Errors are `BumpError`s that say what failed and where, raised before anything is changed where
possible (no such repository, no push permission, a branch name that collides): an existing
pull request and its branch are then as they were.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from foredeck.cd.pulls import (
    BumpOutcome,
    BumpRequest,
    commit_message,
    leave_note,
    moot_note,
    overwrite_note,
    read_marker,
    render_body,
)
from foredeck.cd_pr.lock import BumpLock
from foredeck.scm.branches import Checkout, GitIdentity
from foredeck.scm.github_types import GitHubError, Label, PullRequest
from foredeck.scm.provider import IssueComments, PullWrites

log = logging.getLogger(__name__)

DEFAULT_IDENTITY = GitIdentity("foredeck", "foredeck@users.noreply.foredeck.dev")


class BumpClient(PullWrites, IssueComments, Protocol):
    """What a bump uses of an SCM client (both providers' clients have it)."""

    async def add_labels(
        self, owner: str, repo: str, number: int, labels: Sequence[str]
    ) -> list[Label]: ...
    async def close(self) -> None: ...


class BumpError(Exception):
    """A bump that could not be done; the message says what and where."""


def _explain(request: BumpRequest, step: str, exc: GitHubError) -> BumpError:
    if exc.status == 404:
        what = f"manifests repository {request.repo} (or its branch {request.base}) not found"
    elif exc.status == 403:
        what = f"no permission to push to {request.repo} (the token needs contents: write)"
    elif exc.status in (409, 422):
        what = f"branch {request.branch} of {request.repo} conflicts"
    else:
        what = f"{request.repo}: {step} failed"
    return BumpError(f"bump {request.group}: {what}: {exc.message or exc}")


async def open_or_update_bump(
    client: BumpClient,
    request: BumpRequest,
    lock: BumpLock,
    *,
    identity: GitIdentity = DEFAULT_IDENTITY,
) -> BumpOutcome:
    """Bump `request.repo` as `request.edit` says, through one pull request (module doc)."""
    async with lock.hold(f"{request.repo}:{request.branch}"):
        with tempfile.TemporaryDirectory(prefix="foredeck-bump-") as tmp:
            return await _bump(client, request, identity, Path(tmp) / "tree")


async def _bump(
    client: BumpClient, request: BumpRequest, identity: GitIdentity, dest: Path
) -> BumpOutcome:
    owner, name = request.owner_name
    try:
        checkout = await client.checkout_tree(owner, name, request.base, list(request.paths), dest)
        ours = await client.list_open_pulls(owner, name, head=request.branch)
        others = await client.list_open_pulls(owner, name)
    except GitHubError as exc:
        raise _explain(request, "checkout", exc) from exc
    changes = await asyncio.to_thread(request.edit, checkout.root)
    pull = ours[0] if ours else None
    superseded = [
        p
        for p in others
        if (p.number != (pull.number if pull else None))
        and (read_marker(p.body) or ("", ""))[0] == request.group
    ]
    foreign = await _foreign_commits(client, owner, name, pull, identity) if pull else []
    keep = pull is not None and bool(foreign) and request.policy == "leave"
    if not changes:
        if keep and pull is not None:
            await _comment_once(client, owner, name, pull.number, moot_note(foreign))
        moot = [pull] if pull and not keep else []
        note = "The manifests are already current: this bump is no longer needed."
        closed = await _close(client, owner, name, [*moot, *superseded], note)
        return BumpOutcome("current", closed=closed)
    if keep and pull is not None:
        await _comment_once(client, owner, name, pull.number, leave_note(foreign, changes))
        return BumpOutcome("left", pull.number, pull.html_url, changes=changes)
    sha = await _push(checkout, request, changes, identity, pull.head.sha if pull else None)
    if pull is not None and foreign:  # said once the push worked: nothing is claimed falsely
        note = overwrite_note(foreign, request.branch)
        await client.create_comment(owner, name, pull.number, note)
    outcome = await _open_or_update(client, request, pull, changes)
    outcome.sha = sha
    if outcome.number is not None:
        note = f"Superseded by #{outcome.number} (branch `{request.branch}`)."
        outcome.closed = await _close(client, owner, name, superseded, note)
    return outcome


async def _push(
    checkout: Checkout,
    request: BumpRequest,
    changes: list[str],
    identity: GitIdentity,
    current: str | None,
) -> str | None:
    message = commit_message(request, changes)
    try:
        return await checkout.push(request.branch, message, identity, current)
    except GitHubError as exc:
        raise _explain(request, "push", exc) from exc


async def _open_or_update(
    client: BumpClient, request: BumpRequest, pull: PullRequest | None, changes: list[str]
) -> BumpOutcome:
    owner, name = request.owner_name
    body = render_body(request, changes, pull.body if pull else None)
    try:
        if pull is not None:
            updated = await client.update_pull(
                owner, name, pull.number, title=request.title, body=body
            )
            return BumpOutcome("updated", updated.number, updated.html_url, changes=changes)
        made = await client.create_pull(
            owner, name, title=request.title, body=body, head=request.branch, base=request.base
        )
        if request.labels:
            await client.add_labels(owner, name, made.number, list(request.labels))
    except GitHubError as exc:
        raise _explain(request, "pull request", exc) from exc
    return BumpOutcome("opened", made.number, made.html_url, changes=changes)


async def _foreign_commits(
    client: BumpClient, owner: str, name: str, pull: PullRequest, identity: GitIdentity
) -> list[str]:
    """Commits on the pull request that foredeck did not both author and commit."""
    commits = await client.list_pull_commits(owner, name, pull.number)
    mine = identity.email.lower()
    return [
        c.sha
        for c in commits
        if c.author_email.lower() != mine or c.committer_email.lower() != mine
    ]


async def _comment_once(client: BumpClient, owner: str, name: str, number: int, body: str) -> None:
    """Comment unless the last comment already says this (a bump repeated is quiet)."""
    existing = await client.list_issue_comments(owner, name, number)
    if not existing or existing[-1].body != body:
        await client.create_comment(owner, name, number, body)


async def _close(
    client: BumpClient, owner: str, name: str, pulls: list[PullRequest], note: str
) -> list[int]:
    closed = []
    for pull in pulls:
        await client.create_comment(owner, name, pull.number, note)
        await client.update_pull(owner, name, pull.number, state="closed")
        closed.append(pull.number)
        log.info("bump: closed %s/%s#%d: %s", owner, name, pull.number, note)
    return closed
