"""What every trigger handler needs for one event, and the idempotent GitHub effects they share."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

from foredeck.config import ConfigAgent, Diagnostic, JobConfig, Presubmit
from foredeck.hook.events import StoredEvent
from foredeck.hook.plugins import Apply
from foredeck.hook.plugins.trigger.inrepo import InRepoConfigs
from foredeck.hook.plugins.trigger.messages import (
    CONFIG_CONTEXT,
    CONFIG_MARKER,
    config_error_comment,
    config_error_description,
)
from foredeck.hook.plugins.trigger.options import TriggerConfig
from foredeck.hook.plugins.trigger.trust import TrustClient
from foredeck.jobs import pull_refs
from foredeck.scm.github_types import Label, PullRequest
from foredeck.scm.provider import IssueComments
from foredeck.scm.statuses import StatusWriter
from foredeck.types import Pull, Refs

log = logging.getLogger("foredeck.hook.plugins.trigger")


class _User(Protocol):
    login: str


class _Branch(Protocol):
    ref: str
    sha: str


class PullRequestLike(Protocol):
    """What the trigger reads of a pull request, from a webhook payload or the REST API."""

    number: int
    title: str
    html_url: str

    @property
    def user(self) -> _User: ...

    @property
    def head(self) -> _Branch: ...

    @property
    def base(self) -> _Branch: ...


class TriggerClient(TrustClient, StatusWriter, IssueComments, Protocol):
    """What the trigger asks of the SCM: pull requests, labels, comments and one status."""

    async def close(self) -> None: ...
    async def get_pull(self, owner: str, repo: str, number: int) -> PullRequest: ...
    async def get_branch_sha(self, owner: str, repo: str, branch: str) -> str: ...
    async def list_pull_files(self, owner: str, repo: str, number: int) -> list[str]: ...
    async def add_labels(
        self, owner: str, repo: str, number: int, labels: Sequence[str]
    ) -> list[Label]: ...
    async def remove_label(self, owner: str, repo: str, number: int, label: str) -> None: ...


class CommitLinks(Protocol):
    """The SCM's web links for the commits a job's refs name (`base_link`, `commit_link`)."""

    def commit(self, org: str, repo: str, sha: str) -> str: ...
    def pull_commit(self, org: str, repo: str, number: int, sha: str) -> str: ...


@dataclass
class TriggerContext:
    event: StoredEvent
    session: Session
    """For reads only: during the prepare phase this is a read-only session."""
    gh: TriggerClient
    links: CommitLinks
    options: TriggerConfig
    central: ConfigAgent
    in_repo: InRepoConfigs
    _jobs: JobConfig | None = field(default=None, repr=False)
    writes: list[Apply] = field(default_factory=list)
    """Database writes, applied in order in the event's write transaction."""

    def defer(self, write: Apply) -> None:
        self.writes.append(write)

    def apply(self, session: Session) -> None:
        for write in self.writes:
            write(session)

    @property
    def delivery_id(self) -> str:
        return self.event.delivery_id

    def is_bot(self, login: str) -> bool:
        bot = self.options.bot_login
        return bot is not None and login.lower() == bot.lower()

    def central_jobs(self) -> JobConfig:
        if self._jobs is None:
            self._jobs = self.central.get()
        return self._jobs

    async def jobs_for(
        self, org: str, repo: str, base_ref: str, base_sha: str, pulls: Sequence[Pull] = ()
    ) -> JobConfig:
        """Central jobs, plus the in-repo jobs of the tested tree where that is enabled."""
        central = self.central_jobs()
        if not self.options.in_repo_enabled(org, repo):
            return central
        refs = Refs(org=org, repo=repo, base_ref=base_ref, base_sha=base_sha, pulls=list(pulls))
        result = await self.in_repo.merged(central, refs)
        if result.errors and pulls:
            await self.report_config_errors(org, repo, pulls[0], result.errors)
        return result.jobs

    async def pull_request_jobs(
        self, org: str, repo: str, repo_link: str, pr: PullRequestLike, *, author_link: str = ""
    ) -> tuple[Refs, list[Presubmit]]:
        """The refs testing `pr` merged into its base branch as it is now, and the presubmits
        for them (central, plus in-repo where enabled)."""
        base_sha = await self.gh.get_branch_sha(org, repo, pr.base.ref)
        refs = pull_refs(
            org=org,
            repo=repo,
            repo_link=repo_link,
            base_ref=pr.base.ref,
            base_sha=base_sha,
            number=pr.number,
            head_sha=pr.head.sha,
            author=pr.user.login,
            author_link=author_link,
            title=pr.title,
            link=pr.html_url,
            base_link=self.links.commit(org, repo, base_sha),
            commit_link=self.links.pull_commit(org, repo, pr.number, pr.head.sha),
            pull_ref=self.options.pull_ref,
        )
        presubmits = await self.presubmits_for(org, repo, pr.base.ref, base_sha, refs.pulls[0])
        return refs, presubmits

    async def presubmits_for(
        self, org: str, repo: str, base_ref: str, base_sha: str, pull: Pull
    ) -> list[Presubmit]:
        jobs = await self.jobs_for(org, repo, base_ref, base_sha, [pull])
        return list(jobs.presubmits.get(f"{org}/{repo}", ()))

    # -- idempotent effects on GitHub ------------------------------------------------------------

    async def report_config_errors(
        self, org: str, repo: str, pull: Pull, errors: Sequence[Diagnostic]
    ) -> None:
        """An `error` status on the pull's head and one comment listing every `file:line`."""
        description = config_error_description(errors)
        await self.gh.create_status(org, repo, pull.sha, "error", CONFIG_CONTEXT, description)
        body = config_error_comment(pull.sha, errors)
        await self.upsert_comment(org, repo, pull.number, body, CONFIG_MARKER)

    async def upsert_comment(
        self, org: str, repo: str, number: int, body: str, marker: str
    ) -> None:
        """The one comment carrying `marker` says `body`: posted, edited, or left as it is."""
        for existing in await self.gh.list_issue_comments(org, repo, number):
            if marker in existing.body:
                if existing.body != body:
                    await self.gh.edit_comment(org, repo, existing.id, body)
                return
        await self.gh.create_comment(org, repo, number, body)

    async def comment_once(self, org: str, repo: str, number: int, body: str, marker: str) -> bool:
        """Post `body` unless a comment containing `marker` is already there; True if posted."""
        for existing in await self.gh.list_issue_comments(org, repo, number):
            if marker in existing.body:
                return False
        await self.gh.create_comment(org, repo, number, body)
        return True

    async def ensure_labels(
        self,
        org: str,
        repo: str,
        number: int,
        current: Iterable[str],
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
    ) -> None:
        have = {name.lower() for name in current}
        missing = [name for name in add if name.lower() not in have]
        if missing:
            await self.gh.add_labels(org, repo, number, missing)
        for name in remove:
            if name.lower() in have:
                await self.gh.remove_label(org, repo, number, name)
