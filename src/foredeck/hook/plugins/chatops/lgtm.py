"""`lgtm`: `/lgtm`, `/lgtm cancel`, GitHub review approvals, and the `lgtm` label.

Who (Prow's rules): organisation members and repository collaborators may `/lgtm`, but not on
their own pull request; they, and the pull request's author, may `/lgtm cancel`. An approving
review by a member or collaborator counts as `/lgtm`, a review requesting changes as
`/lgtm cancel`. A new push (`synchronize`) removes the label unless `remove_on_push: false`
for the repository: what was looked at is no longer what would merge.
"""

from __future__ import annotations

from pydantic import Field

from foredeck.hook.plugins.chatops import build
from foredeck.hook.plugins.chatops.base import ChatOpsPlugin, CommentCall, Issue, log
from foredeck.hook.plugins.chatops.commands import Command, CommandHelp
from foredeck.hook.plugins.chatops.options import PluginOptions, RepoSwitch
from foredeck.scm.github_types import PullRequestEvent, PullRequestReviewEvent, TypedPayload
from foredeck.settings import Settings

LGTM_LABEL = "lgtm"
OWN_PR = "you cannot LGTM your own PR."
NOT_ALLOWED = (
    "changing LGTM is restricted to members of the organisation and collaborators of the "
    "repository (and, to cancel, the author)."
)


class LgtmRepo(RepoSwitch):
    remove_on_push: bool | None = None


class LgtmOptions(PluginOptions):
    remove_on_push: bool = True
    """Remove `lgtm` when new commits are pushed to the pull request."""
    repos: dict[str, LgtmRepo] = Field(default_factory=dict)  # type: ignore[assignment]


class LgtmPlugin(ChatOpsPlugin):
    name = "lgtm"
    commands = (
        CommandHelp(
            "/lgtm [cancel]",
            f"Adds the `{LGTM_LABEL}` label (a GitHub approving review does too); "
            "`/lgtm cancel` removes it.",
            "Organisation members and collaborators, not on their own PR; the author may cancel",
        ),
    )
    events = frozenset({"issue_comment", "pull_request", "pull_request_review"})

    async def on_event(self, typed: TypedPayload) -> None:
        if isinstance(typed, PullRequestEvent):
            await self._on_push(typed)
        elif isinstance(typed, PullRequestReviewEvent):
            await self._on_review(typed)
        else:
            await super().on_event(typed)

    async def run(self, call: CommentCall, command: Command) -> None:
        issue = call.issue
        args = command.args.lower()
        if args not in ("", "cancel"):
            call.reply(f"{command.shown} is not understood: use `/lgtm` or `/lgtm cancel`.")
            return
        if not issue.is_pull:
            call.reply("`/lgtm` works on pull requests only.")
            return
        cancel = args == "cancel"
        is_author = call.commenter.lower() == issue.author.lower()
        if not cancel and is_author:
            call.reply(OWN_PR)
            return
        if not (cancel and is_author) and not await issue.trusted(call.commenter):
            call.reply(NOT_ALLOWED)
            return
        if cancel:
            await issue.remove_label(LGTM_LABEL)
        else:
            await issue.add_label(LGTM_LABEL)

    async def _on_review(self, ev: PullRequestReviewEvent) -> None:
        state = ev.review.state.lower()
        if ev.action != "submitted" or state not in ("approved", "changes_requested"):
            return
        pr, reviewer = ev.pull_request, ev.review.user.login
        if pr.state != "open" or reviewer.lower() == pr.user.login.lower():
            return  # GitHub does not let authors approve their own pull request either
        issue = self._issue(ev.repository.org, ev.repository.name, pr.number, pr.user.login)
        if not await issue.trusted(reviewer):
            log.info("lgtm: review by %r on %s#%d does not count", reviewer, issue.repo, pr.number)
            return
        if state == "approved":
            await issue.add_label(LGTM_LABEL)
        else:
            await issue.remove_label(LGTM_LABEL)

    async def _on_push(self, ev: PullRequestEvent) -> None:
        org, repo = ev.repository.org, ev.repository.name
        if ev.action != "synchronize" or not self.options.setting(org, repo, "remove_on_push"):
            return
        pr = ev.pull_request
        issue = self._issue(org, repo, pr.number, pr.user.login)
        if await issue.remove_label(LGTM_LABEL):
            log.info("lgtm: removed from %s/%s#%d after a push", org, repo, pr.number)

    def _issue(self, org: str, repo: str, number: int, author: str) -> Issue:
        return Issue(gh=self.gh(), org=org, repo=repo, number=number, author=author, is_pull=True)


def create(settings: Settings) -> LgtmPlugin:
    """`foredeck.hook.plugins.chatops.lgtm:create`."""
    return build(settings, LgtmPlugin, LgtmOptions)
