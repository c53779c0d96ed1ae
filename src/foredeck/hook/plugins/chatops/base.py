"""What every chat-op plugin shares: reading an event, who may do what, labels and replies.

A chat-op plugin is two-phase (see `foredeck.hook.plugins`): everything it does happens in
`prepare`, against the SCM, and it writes nothing to the database. Its effects are idempotent
by themselves, so a redelivered event changes nothing twice: labels are compared with the
issue's current ones before they are added or removed, and the one reply to a comment carries
a marker naming the plugin and the comment, so it is posted once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import ValidationError
from sqlalchemy.orm import Session

from foredeck.hook.events import StoredEvent
from foredeck.hook.plugins import Apply, PermanentEventError
from foredeck.hook.plugins.chatops.commands import Command, CommandHelp, parse_commands
from foredeck.hook.plugins.chatops.options import PluginOptions
from foredeck.scm.github_types import IssueCommentEvent, PullRequest, Review, TypedPayload
from foredeck.scm.provider import IssueComments, IssueLabels, IssuePeople
from foredeck.validation import problems

log = logging.getLogger("foredeck.hook.plugins.chatops")

MAX_QUOTE_CHARS = 2000
MAX_REPLY_CHARS = 8000


class ChatOpsClient(IssueComments, IssueLabels, IssuePeople, Protocol):
    """What the chat-op plugins ask of the SCM."""

    async def close(self) -> None: ...
    async def get_pull(self, owner: str, repo: str, number: int) -> PullRequest: ...
    async def list_pull_files(self, owner: str, repo: str, number: int) -> list[str]: ...
    async def get_file_content(
        self, owner: str, repo: str, path: str, ref: str | None = None
    ) -> bytes | None: ...
    async def get_branch_sha(self, owner: str, repo: str, branch: str) -> str: ...
    async def is_org_member(self, org: str, user: str) -> bool: ...
    async def is_collaborator(self, owner: str, repo: str, user: str) -> bool: ...
    async def list_reviews(self, owner: str, repo: str, number: int) -> list[Review]: ...


ClientFactory = Callable[[], ChatOpsClient]


def reply_marker(plugin: str, comment_id: int) -> str:
    return f"<!-- foredeck:{plugin}:reply:{int(comment_id)} -->"


def respond(body: str, url: str, user: str, reply: str, marker: str) -> str:
    """Prow's reply format: the answer, then the comment it answers, quoted."""
    quoted = body if len(body) <= MAX_QUOTE_CHARS else body[:MAX_QUOTE_CHARS] + "\n[...]"
    quote = "\n".join(">" + line for line in quoted.splitlines())
    return (
        f"@{user}: {reply[:MAX_REPLY_CHARS]}\n\n<details>\n\nIn response to [this]({url}):\n\n"
        f"{quote}\n</details>\n{marker}\n"
    )


@dataclass
class Issue:
    """The issue or pull request an event is about, and idempotent effects on it."""

    gh: ChatOpsClient
    org: str
    repo: str
    number: int
    author: str
    is_pull: bool
    _labels: list[str] | None = field(default=None, repr=False)
    _trust: dict[str, bool] = field(default_factory=dict, repr=False)

    async def labels(self) -> list[str]:
        if self._labels is None:
            found = await self.gh.list_issue_labels(self.org, self.repo, self.number)
            self._labels = [label.name for label in found]
        return self._labels

    async def has_label(self, name: str) -> bool:
        return any(label.lower() == name.lower() for label in await self.labels())

    async def add_label(self, name: str) -> bool:
        """Add `name` unless it is there; True if added."""
        if await self.has_label(name):
            return False
        await self.gh.add_labels(self.org, self.repo, self.number, [name])
        (await self.labels()).append(name)
        return True

    async def remove_label(self, name: str) -> bool:
        """Remove `name` if it is there; True if removed."""
        current = await self.labels()
        present = [label for label in current if label.lower() == name.lower()]
        if not present:
            return False
        await self.gh.remove_label(self.org, self.repo, self.number, present[0])
        current.remove(present[0])
        return True

    async def trusted(self, login: str) -> bool:
        """A member of the repository's organisation or a collaborator (GitHub's answer, not
        the `author_association` a payload claims)."""
        key = login.lower()
        if key not in self._trust:
            self._trust[key] = await self.gh.is_org_member(
                self.org, login
            ) or await self.gh.is_collaborator(self.org, self.repo, login)
        return self._trust[key]


@dataclass
class CommentCall:
    """One comment's commands for one plugin, and the replies they collect."""

    plugin: str
    issue: Issue
    commenter: str
    comment_id: int
    body: str
    url: str
    replies: list[str] = field(default_factory=list)
    acted: bool = False
    """Set by a plugin whose commands want `finish` to do something."""

    def reply(self, text: str) -> None:
        self.replies.append(text)

    async def flush(self) -> None:
        """Post the replies as one comment, once (a redelivery finds the marker)."""
        if not self.replies:
            return
        marker = reply_marker(self.plugin, self.comment_id)
        issue = self.issue
        for existing in await issue.gh.list_issue_comments(issue.org, issue.repo, issue.number):
            if marker in existing.body:
                return
        text = "\n\n".join(self.replies)
        body = respond(self.body, self.url, self.commenter, text, marker)
        await issue.gh.create_comment(issue.org, issue.repo, issue.number, body)


class ChatOpsPlugin:
    """Base of the chat-op plugins: subclasses set `name`, `commands` and `run`."""

    name: ClassVar[str] = ""
    commands: ClassVar[tuple[CommandHelp, ...]] = ()
    events: ClassVar[frozenset[str]] = frozenset({"issue_comment"})

    def __init__(self, options: PluginOptions, client_factory: ClientFactory) -> None:
        self.options = options
        self._client_factory = client_factory
        self._client: ChatOpsClient | None = None

    def gh(self) -> ChatOpsClient:
        # Created on first use, on the worker's event loop, which the client's pool binds to.
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def is_bot(self, login: str) -> bool:
        bot = self.options.bot_login
        return bot is not None and login.lower() == bot.lower()

    def command_help(self) -> tuple[CommandHelp, ...]:
        """The commands this plugin answers (as configured), for routing and `/help`."""
        return self.commands

    def handles(self, command: Command) -> bool:
        return any(command.name == c.name for c in self.command_help())

    async def handle(self, event: StoredEvent, session: Session) -> None:
        """One phase: for callers that do not split (tests, embedders)."""
        await self.prepare(event, session)

    async def prepare(self, event: StoredEvent, reader: Session) -> Apply | None:
        if event.event not in self.events:
            return None
        try:
            typed = event.typed()
        except ValidationError as exc:
            listed = "; ".join(problems(exc, None)[:5])
            raise PermanentEventError(f"{event.event} payload is not usable: {listed}") from None
        repository: Any = getattr(typed, "repository", None)
        if typed is None or repository is None:
            return None
        if not self.options.enabled_for(repository.org, repository.name):
            return None
        await self.on_event(typed)
        return None

    async def on_event(self, typed: TypedPayload) -> None:
        if isinstance(typed, IssueCommentEvent):
            await self.on_comment(typed)

    async def on_comment(self, ev: IssueCommentEvent) -> None:
        """A new comment: each command of this plugin, in order, then one reply."""
        if ev.action != "created" or self.is_bot(ev.comment.user.login):
            return
        mine = [c for c in parse_commands(ev.comment.body) if self.handles(c)]
        if not mine:
            return
        issue = Issue(
            gh=self.gh(),
            org=ev.repository.org,
            repo=ev.repository.name,
            number=ev.issue.number,
            author=ev.issue.user.login,
            is_pull=ev.issue.is_pull_request,
        )
        call = CommentCall(
            plugin=self.name,
            issue=issue,
            commenter=ev.comment.user.login,
            comment_id=ev.comment.id,
            body=ev.comment.body,
            url=ev.comment.html_url,
        )
        for command in mine:
            await self.run(call, command)
        await self.finish(call)
        await call.flush()

    async def run(self, call: CommentCall, command: Command) -> None:
        raise NotImplementedError

    async def finish(self, call: CommentCall) -> None:
        """After a comment's commands, before the reply: work done once per comment."""

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
