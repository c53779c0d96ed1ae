"""Who may run CI: Prow's `TrustedUser` and `TrustedPullRequest`.

Running a pull request's code is running a stranger's code on our machines, so trust is decided
by GitHub's answers only (an unverifiable org membership counts as "no"), never by the
`author_association` a payload claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from foredeck.hook.plugins.trigger.messages import OK_TO_TEST
from foredeck.hook.plugins.trigger.options import TriggerConfig
from foredeck.scm.github_types import Label


class TrustClient(Protocol):
    """What deciding trust asks of the SCM: memberships, and the labels of a pull request."""

    async def is_org_member(self, org: str, user: str) -> bool: ...
    async def is_collaborator(self, owner: str, repo: str, user: str) -> bool: ...
    async def list_issue_labels(self, owner: str, repo: str, number: int) -> list[Label]: ...


async def trusted_user(
    gh: TrustClient, options: TriggerConfig, user: str, org: str, repo: str
) -> bool:
    """The bot itself, a member of the repository's org or a trusted org, a collaborator (unless
    `only_org_members`), or the bot of a trusted GitHub App."""
    if options.bot_login is not None and user.lower() == options.bot_login.lower():
        return True
    if await gh.is_org_member(org, user):
        return True
    if not options.only_org_members and await gh.is_collaborator(org, repo, user):
        return True
    if user.endswith("[bot]") and user.removesuffix("[bot]") in options.trusted_apps:
        return True
    for other in options.orgs_to_trust(org)[1:]:
        if await gh.is_org_member(other, user):
            return True
    return False


def has_label(labels: Sequence[str], name: str) -> bool:
    return any(label.lower() == name.lower() for label in labels)


async def trusted_pull_request(
    gh: TrustClient,
    options: TriggerConfig,
    author: str,
    org: str,
    repo: str,
    number: int,
    labels: Sequence[str] | None = None,
) -> tuple[list[str] | None, bool]:
    """(labels if they were needed, trusted): a trusted author, else the `ok-to-test` label.

    Labels are fetched only when the author is not trusted; pass them when already known.
    """
    if await trusted_user(gh, options, author, org, repo):
        return (list(labels) if labels is not None else None), True
    if labels is None:
        labels = [label.name for label in await gh.list_issue_labels(org, repo, number)]
    return list(labels), has_label(labels, OK_TO_TEST)
