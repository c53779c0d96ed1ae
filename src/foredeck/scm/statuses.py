"""Commit statuses, one way for every provider.

`StatusWriter` is what a consumer asks of an SCM to set a status (the reporter, the trigger);
`StatusSetter` is the one implementation of its rules, which every client inherits: the state and
context are checked and the description cut to GitHub's 140 characters before any provider sees
them, so that a status GitHub would refuse is refused by the local provider too. A client writes
the checked `NewStatus` in `set_status`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

from foredeck.scm.github_types import CommitStatus, StatusState, check_status, status_description


class StatusWriter(Protocol):
    async def create_status(
        self,
        owner: str,
        repo: str,
        sha: str,
        state: StatusState,
        context: str,
        description: str = "",
        target_url: str | None = None,
    ) -> CommitStatus: ...


@dataclass(frozen=True)
class NewStatus:
    """A commit status that passed `check_status`, its description already cut to size."""

    state: StatusState
    context: str
    description: str
    target_url: str | None


class StatusSetter(ABC):
    """`create_status` for a client: the checks here, the write in the client's `set_status`."""

    async def create_status(
        self,
        owner: str,
        repo: str,
        sha: str,
        state: StatusState,
        context: str,
        description: str = "",
        target_url: str | None = None,
    ) -> CommitStatus:
        """Set a commit status; `ValueError` for one no SCM would take (`check_status`)."""
        check_status(state, context)
        status = NewStatus(state, context, status_description(description), target_url or None)
        return await self.set_status(owner, repo, sha, status)

    @abstractmethod
    async def set_status(self, owner: str, repo: str, sha: str, status: NewStatus) -> CommitStatus:
        """Write a checked status on commit `sha` of `owner/repo`."""
