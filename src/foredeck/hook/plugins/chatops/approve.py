"""`approve`: `/approve`, `/approve no-issue`, `/approve cancel`, OWNERS files, `approved`.

Every changed file needs an approval by an approver of its directory or a parent (`owners`).
Approvals are read from the pull request's comments each time (the latest `/approve` or
`/approve cancel` of each person wins), so there is no state to lose and a redelivery finds
the same answer. The plugin keeps the `approved` label in step and one notifier comment,
edited in place, saying which files still need whom and suggesting a few approvers who
together cover them. OWNERS files are read at the base branch's current commit (a pull request
cannot approve itself by editing them).

With `issue_required` (Prow's option of the same name), approved files are not enough: the
pull request's description must reference an issue (`#123`, `org/repo#123`, `Fixes #123`), or
an approver must say `/approve no-issue`.

With `review_acts_as_approve` (Prow's too), a GitHub review counts in its place among the
comments: an approving review as `/approve`, one requesting changes or dismissed as
`/approve cancel`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from foredeck.hook.plugins.chatops import build
from foredeck.hook.plugins.chatops.base import (
    ChatOpsClient,
    ChatOpsPlugin,
    CommentCall,
    Issue,
)
from foredeck.hook.plugins.chatops.commands import Command, CommandHelp, parse_commands
from foredeck.hook.plugins.chatops.options import PluginOptions
from foredeck.hook.plugins.chatops.owners import (
    Owners,
    OwnersError,
    directories_of,
    parse_aliases,
    parse_owners,
)
from foredeck.scm.github_types import (
    IssueComment,
    PullRequestEvent,
    PullRequestReviewEvent,
    Review,
    TypedPayload,
)
from foredeck.settings import Settings

APPROVED_LABEL = "approved"
NOTIFIER_MARKER = "<!-- foredeck:approve:notifier -->"
MAX_FILES = 3000
MAX_LISTED = 50
PR_ACTIONS = frozenset({"opened", "reopened", "synchronize", "ready_for_review"})


ISSUE_REFERENCE = re.compile(r"(?:^|[\s(\[])(?:[\w.-]+/[\w.-]+)?#\d+\b")
"""An issue named in a pull request's description, as Prow's approve plugin finds one."""


class ApproveOptions(PluginOptions):
    issue_required: bool = False
    """An approval needs an issue referenced in the description, or `/approve no-issue`."""
    review_acts_as_approve: bool = False
    """A GitHub review approves (or, requesting changes or dismissed, cancels) as a comment."""


_REVIEW_SAYS = {"APPROVED": "/approve", "CHANGES_REQUESTED": "/approve cancel"}
_REVIEW_SAYS["DISMISSED"] = "/approve cancel"


def with_reviews(
    comments: Sequence[IssueComment], reviews: Sequence[Review]
) -> list[tuple[str, str]]:
    """(author, body) of the comments and of the reviews as the command they stand for, in
    the order they were written (a review without a time: after the comments)."""
    said: list[tuple[float, int, str, str]] = [
        (c.created_at.timestamp(), i, c.user.login, c.body) for i, c in enumerate(comments)
    ]
    for i, review in enumerate(reviews):
        command = _REVIEW_SAYS.get(review.state.upper())
        if command is not None:
            when = review.submitted_at.timestamp() if review.submitted_at else float("inf")
            said.append((when, len(comments) + i, review.user.login, command))
    return [(author, body) for _, _, author, body in sorted(said)]


def approvals(comments: Sequence[tuple[str, str]], bot: str | None) -> dict[str, bool]:
    """Who approves now, from (author, body) in order: each person's latest word wins. The
    value says whether that approval was `/approve no-issue`."""
    approved: dict[str, tuple[str, bool]] = {}
    for author, body in comments:
        if bot is not None and author.lower() == bot.lower():
            continue
        for command in parse_commands(body):
            if command.name != "approve":
                continue
            if command.args.lower() == "cancel":
                approved.pop(author.lower(), None)
            elif command.args.lower() in ("", "no-issue"):
                approved[author.lower()] = (author, command.args.lower() == "no-issue")
    return dict(approved.values())


async def load_owners(gh: ChatOpsClient, org: str, repo: str, ref: str, files: list[str]) -> Owners:
    """The OWNERS files of every directory the change touches, and the root OWNERS_ALIASES."""
    directories = sorted({d for f in files for d in directories_of(f)})
    found = {}
    for directory in directories:
        path = posixpath.join(directory, "OWNERS") if directory else "OWNERS"
        raw = await gh.get_file_content(org, repo, path, ref)
        if raw is not None:
            found[directory] = parse_owners(raw.decode("utf-8", "replace"), directory)
    raw_aliases = await gh.get_file_content(org, repo, "OWNERS_ALIASES", ref)
    aliases = parse_aliases(raw_aliases.decode("utf-8", "replace")) if raw_aliases else {}
    return Owners(found, aliases)


def notifier(
    approved: list[str],
    owners: Owners,
    unapproved: list[str],
    error: str,
    done: bool,
    needs_issue: bool = False,
) -> str:
    state = "**APPROVED**" if done else "**NOT APPROVED**"
    lines = [f"[APPROVALNOTIFIER] This PR is {state}", ""]
    who = ", ".join(f"@{login}" for login in approved) or "nobody yet"
    lines.append(f"Approved by: {who}")
    if error:
        lines += ["", f"The OWNERS files cannot be used: {error}"]
    if unapproved:
        lines += ["", "Files that still need an approver:"]
        for path in unapproved[:MAX_LISTED]:
            directory, names = owners.nearest_approvers(path)
            where = f"`{directory}/OWNERS`" if directory else "the root `OWNERS`"
            ask = ", ".join(f"@{n}" for n in names[:5])
            hint = f"ask {ask} ({where})" if names else "no OWNERS file names an approver"
            lines.append(f"- `{path}`: {hint}")
        if len(unapproved) > MAX_LISTED:
            lines.append(f"- ... and {len(unapproved) - MAX_LISTED} more")
        suggested = ", ".join(f"@{n}" for n in owners.suggested(unapproved))
        if suggested:
            lines += ["", f"Suggested approvers: {suggested} (together they cover every file)"]
    if needs_issue:
        lines += [
            "",
            "This PR needs an associated issue: reference one in its description (`Fixes #123`)"
            " or have an approver say `/approve no-issue`.",
        ]
    lines += [
        "",
        "Approvers approve with `/approve` on a line of its own and cancel with `/approve cancel`.",
        NOTIFIER_MARKER,
    ]
    return "\n".join(lines)


class ApprovePlugin(ChatOpsPlugin):
    name = "approve"
    commands = (
        CommandHelp(
            "/approve [no-issue|cancel]",
            f"Approves the files you own; when every changed file is approved, the PR gets "
            f"`{APPROVED_LABEL}`. `/approve cancel` withdraws yours.",
            "Approvers in the OWNERS files of the changed files (or their parents)",
        ),
    )
    events = frozenset({"issue_comment", "pull_request", "pull_request_review"})

    async def on_event(self, typed: TypedPayload) -> None:
        if isinstance(typed, PullRequestReviewEvent):
            pr = typed.pull_request
            if self._reviews_count() and pr.state == "open":
                org, repo = typed.repository.org, typed.repository.name
                issue = Issue(self.gh(), org, repo, pr.number, pr.user.login, True)
                await self.evaluate(issue, None)
        elif isinstance(typed, PullRequestEvent):
            pr = typed.pull_request
            if typed.action in PR_ACTIONS and pr.state == "open":
                issue = Issue(
                    self.gh(),
                    typed.repository.org,
                    typed.repository.name,
                    pr.number,
                    pr.user.login,
                    True,
                )
                await self.evaluate(issue, None)
        else:
            await super().on_event(typed)

    async def run(self, call: CommentCall, command: Command) -> None:
        if not call.issue.is_pull:
            call.reply(f"{command.shown}: approvals work on pull requests only.")
        elif command.args.lower() not in ("", "no-issue", "cancel"):
            call.reply(f"{command.shown} is not understood: use `/approve` or `/approve cancel`.")
        else:
            call.acted = True

    async def finish(self, call: CommentCall) -> None:
        if call.acted:
            await self.evaluate(call.issue, call)

    async def evaluate(self, issue: Issue, call: CommentCall | None) -> None:
        """Recompute the approvals; set the label and the notifier comment to match."""
        client = self.gh()
        org, repo, number = issue.org, issue.repo, issue.number
        pr = await client.get_pull(org, repo, number)
        files = (await client.list_pull_files(org, repo, number))[:MAX_FILES]
        error = ""
        # The branch as it is now: `pr.base.sha` lags behind it (an approver removed since).
        base_sha = await client.get_branch_sha(org, repo, pr.base.ref)
        try:
            owners = await load_owners(client, org, repo, base_sha, files)
        except OwnersError as exc:
            owners, error = Owners({}), str(exc)
        comments = await client.list_issue_comments(org, repo, number)
        reviews = await client.list_reviews(org, repo, number) if self._reviews_count() else []
        said = approvals(with_reviews(comments, reviews), self.options.bot_login)
        anyone = {name for path in files for name in owners.approvers(path)}
        approved = [a for a in said if a.lower() in anyone]  # only approvers count, and show
        unapproved = owners.unapproved(files, approved) if not error else files
        needs_issue = (
            isinstance(self.options, ApproveOptions)
            and self.options.issue_required
            and not ISSUE_REFERENCE.search(pr.body or "")
            and not any(said[a] for a in approved)
        )
        done = not unapproved and not error and bool(approved) and not needs_issue
        if call is not None and not error and call.commenter.lower() not in anyone:
            call.reply("you are not an approver of any file this PR changes; see its OWNERS files.")
        if done:
            await issue.add_label(APPROVED_LABEL)
        else:
            await issue.remove_label(APPROVED_LABEL)
        text = notifier(approved, owners, unapproved, error, done, needs_issue)
        await self._upsert(client, issue, text)

    def _reviews_count(self) -> bool:
        return isinstance(self.options, ApproveOptions) and self.options.review_acts_as_approve

    async def _upsert(self, gh: ChatOpsClient, issue: Issue, body: str) -> None:
        for existing in await gh.list_issue_comments(issue.org, issue.repo, issue.number):
            mine = self.options.bot_login is None or self.is_bot(existing.user.login)
            if NOTIFIER_MARKER in existing.body and mine:
                if existing.body != body:
                    await gh.edit_comment(issue.org, issue.repo, existing.id, body)
                return
        await gh.create_comment(issue.org, issue.repo, issue.number, body)


def create(settings: Settings) -> ApprovePlugin:
    """`foredeck.hook.plugins.chatops.approve:create`."""
    return build(settings, ApprovePlugin, ApproveOptions)
