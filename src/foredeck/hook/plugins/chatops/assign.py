"""`assign`: `/assign [@user...]`, `/unassign [@user...]`, `/cc [@user...]`, `/uncc [@user...]`.

Prow's assign plugin: without names a command means the commenter. Anyone may use them; GitHub
decides who can be assigned (people with access to the repository) and who can be asked to
review (collaborators, never the author), and whoever it refused is named in the reply.
"""

from __future__ import annotations

from collections.abc import Sequence

from foredeck.hook.plugins.chatops import build
from foredeck.hook.plugins.chatops.base import ChatOpsPlugin, CommentCall, Issue
from foredeck.hook.plugins.chatops.commands import Command, CommandHelp
from foredeck.hook.plugins.chatops.options import PluginOptions
from foredeck.scm.github_types import LOGIN, GitHubError
from foredeck.settings import Settings

MAX_LOGINS = 10
ASSIGN_NOTE = (
    "Note that only members of the organisation, collaborators of the repository and people "
    "who have commented here can be assigned."
)
REVIEW_NOTE = (
    "Note that only members of the organisation and collaborators of the repository can review "
    "this PR, and authors cannot review their own PRs."
)


def logins_of(command: Command, commenter: str) -> tuple[list[str], list[str]]:
    """(logins named, or the commenter when none is; words that are not logins)."""
    logins: list[str] = []
    bad: list[str] = []
    for word in command.words[:MAX_LOGINS]:
        login = word.removeprefix("@").rstrip(",")
        if LOGIN.fullmatch(login):
            logins.append(login)
        else:
            bad.append(word[:60].replace("`", "'"))
    if not logins and not bad:
        logins = [commenter]
    return list(dict.fromkeys(logins)), bad


def _listed(logins: Sequence[str]) -> str:
    return ", ".join(f"`{login}`" for login in logins)


class AssignPlugin(ChatOpsPlugin):
    name = "assign"
    commands = (
        CommandHelp("/assign [@user...]", "Assigns the users (yourself by default).", "Anyone"),
        CommandHelp("/unassign [@user...]", "Unassigns them (yourself by default).", "Anyone"),
        CommandHelp("/cc [@user...]", "Requests their review of a PR.", "Anyone"),
        CommandHelp("/uncc [@user...]", "Withdraws the review requests.", "Anyone"),
    )

    async def run(self, call: CommentCall, command: Command) -> None:
        logins, bad = logins_of(command, call.commenter)
        if bad:
            call.reply(f"{command.shown}: not GitHub logins: {_listed(bad)}.")
        if not logins:
            return
        issue = call.issue
        if command.name in ("cc", "uncc") and not issue.is_pull:
            call.reply(f"{command.shown}: review requests work on pull requests only.")
            return
        if command.name == "assign":
            now = await issue.gh.add_assignees(issue.org, issue.repo, issue.number, logins)
            refused = [x for x in logins if x.lower() not in {n.lower() for n in now}]
            if refused:
                call.reply(f"GitHub didn't allow me to assign {_listed(refused)}. {ASSIGN_NOTE}")
        elif command.name == "unassign":
            await issue.gh.remove_assignees(issue.org, issue.repo, issue.number, logins)
        elif command.name == "cc":
            refused = await _request(issue, logins)
            if refused:
                call.reply(
                    f"GitHub didn't allow me to request reviews from {_listed(refused)}. "
                    f"{REVIEW_NOTE}"
                )
        else:
            await issue.gh.remove_requested_reviewers(issue.org, issue.repo, issue.number, logins)


async def _request(issue: Issue, logins: list[str]) -> list[str]:
    """Request reviews; GitHub refuses a whole request (422) for one bad name, so on a refusal
    each is asked alone, and those refused are returned."""
    gh, org, repo, number = issue.gh, issue.org, issue.repo, issue.number
    try:
        await gh.request_reviewers(org, repo, number, logins)
        return []
    except GitHubError as exc:
        if exc.status != 422:
            raise
    refused: list[str] = []
    for login in logins:
        try:
            await gh.request_reviewers(org, repo, number, [login])
        except GitHubError as exc:
            if exc.status != 422:
                raise
            refused.append(login)
    return refused


def create(settings: Settings) -> AssignPlugin:
    """`foredeck.hook.plugins.chatops.assign:create`."""
    return build(settings, AssignPlugin, PluginOptions)
