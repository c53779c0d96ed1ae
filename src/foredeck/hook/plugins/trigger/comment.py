"""Pull request comments: Prow's `handleGenericComment`.

Commands (in fenced code blocks they are ignored): `/test NAME` (each job's `trigger`), `/test
all`, `/retest`, `/retest-required`, `/ok-to-test`, `/ok-to-test cancel`, and `/test` or `/test
?` for the list of jobs. Only new comments on open pull requests count; the bot's own are
skipped.

Who: a trusted commenter, or the pull request's author once the pull request is trusted
(`ok-to-test`). Anyone else gets one reply saying why nothing ran. `/retest` reruns the jobs
whose latest run on the current head failed, errored or was aborted (from foredeck's own job
records), and starts automatic jobs that never ran on that head.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

from sqlalchemy.orm import Session

from foredeck.config import Presubmit
from foredeck.config.regex import compile_go_regex
from foredeck.config.triggering import (
    OK_TO_TEST_RE,
    RETEST_RE,
    RETEST_REQUIRED_RE,
    TEST_ALL_RE,
    automatic_presubmits,
    requested_presubmits,
    wants_changes,
)
from foredeck.db.jobs import latest_presubmits
from foredeck.hook.plugins.trigger import messages
from foredeck.hook.plugins.trigger.context import TriggerContext, log
from foredeck.hook.plugins.trigger.trust import has_label, trusted_pull_request, trusted_user
from foredeck.jobs import create_jobs
from foredeck.scm.github_types import IssueCommentEvent, PullRequest

TEST_HELP_RE = compile_go_regex(r"(?m)^/test[ \t]*\?\s*$")
EMPTY_TEST_RE = compile_go_regex(r"(?m)^/test\s*$")
RETEST_WITH_TARGET_RE = compile_go_regex(r"(?m)^/retest[ \t]+\S+")
TEST_WITH_ANY_TARGET_RE = compile_go_regex(r"(?m)^/test[ \t]+\S+")
OK_TO_TEST_CANCEL_RE = compile_go_regex(r"(?m)^/ok-to-test cancel\s*$")

FAILED_STATES = frozenset({"failure", "error", "aborted"})
Reply = Callable[[str], Awaitable[None]]
MAX_REASON_LINE = 200

_GENERIC = (
    RETEST_RE,
    RETEST_REQUIRED_RE,
    OK_TO_TEST_RE,
    OK_TO_TEST_CANCEL_RE,
    TEST_ALL_RE,
    EMPTY_TEST_RE,
    RETEST_WITH_TARGET_RE,
    TEST_WITH_ANY_TARGET_RE,
    TEST_HELP_RE,
)


def matches_command(text: str, presubmits: Iterable[Presubmit]) -> bool:
    """Prow's `commentMatchesTrigger`: a generic command or some job's trigger."""
    if any(regex.search(text) is not None for regex in _GENERIC):
        return True
    return any(p.trigger_matches(text) for p in presubmits)


def should_respond_with_help(text: str, selected: int) -> tuple[bool, str]:
    """Prow's `ShouldRespondWithHelp`: (answer with the job list?, the note to put first)."""
    if TEST_HELP_RE.search(text):
        return True, ""
    if EMPTY_TEST_RE.search(text):
        return True, messages.TEST_WITHOUT_TARGET_NOTE
    if RETEST_WITH_TARGET_RE.search(text):
        return True, messages.RETEST_WITH_TARGET_NOTE
    if selected == 0 and TEST_ALL_RE.search(text):
        return True, messages.NO_TEST_ALL_JOBS_NOTE
    if selected == 0 and TEST_WITH_ANY_TARGET_RE.search(text):
        return True, messages.TARGET_NOT_FOUND_NOTE
    return False, ""


def available_presubmits(
    presubmits: Sequence[Presubmit], branch: str, changes: Sequence[str]
) -> tuple[list[str], list[str], list[str]]:
    """Prow's `AvailablePresubmits`: (names `/test all` runs, optional and required commands)."""
    test_all = sorted({p.name for p in automatic_presubmits(presubmits, branch, changes)})
    optional: set[str] = set()
    required: set[str] = set()
    for p in presubmits:
        if p.could_run(branch) and p.rerun_command and p.trigger_matches(p.rerun_command):
            (optional if p.optional else required).add(p.rerun_command)
    return test_all, sorted(optional), sorted(required)


def _command_line(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("/"):
            return line.strip()[:MAX_REASON_LINE]
    return "comment"


class _NeedChanges(Exception):
    """Raised by the changed-files placeholder: the selection needs the real list."""


def _placeholder() -> Sequence[str]:
    raise _NeedChanges


async def handle_issue_comment(ctx: TriggerContext, ev: IssueCommentEvent) -> None:
    issue, comment = ev.issue, ev.comment
    if ev.action != "created" or not issue.is_pull_request or issue.state != "open":
        return
    commenter = comment.user.login
    if ctx.is_bot(commenter):
        return
    org, repo, number = ev.repository.org, ev.repository.name, issue.number
    text = messages.drop_code_blocks(comment.body)
    # Cheap filter before any API call or checkout. In-repo jobs may bring their own triggers,
    # all of which are commands: a line starting with '/'.
    central = ctx.central_jobs().presubmits.get(f"{org}/{repo}", [])
    in_repo = ctx.options.in_repo_enabled(org, repo)
    if not matches_command(text, central) and not (
        in_repo and any(line.startswith("/") for line in text.splitlines())
    ):
        return

    pr = await ctx.gh.get_pull(org, repo, number)
    refs, presubmits = await ctx.pull_request_jobs(
        org, repo, ev.repository.html_url, pr, author_link=pr.user.html_url
    )
    if not presubmits or not matches_command(text, presubmits):
        return

    async def reply(message: str) -> None:
        body = messages.respond(
            comment.body, comment.html_url, commenter, message, messages.reply_marker(comment.id)
        )
        await ctx.comment_once(org, repo, number, body, messages.reply_marker(comment.id))

    go_on, commenter_trusted, labels = await _may_run(ctx, ev, pr, text, central, reply)
    if not go_on:
        return
    if labels is None:
        labels = [label.name for label in await ctx.gh.list_issue_labels(org, repo, number)]

    if await _ok_to_test(ctx, org, repo, number, text, labels, commenter_trusted, reply):
        return
    branch = pr.base.ref
    to_test, files = await _requested(ctx, org, repo, number, pr.head.sha, branch, text, presubmits)

    needs_help, note = should_respond_with_help(text, len(to_test))
    if needs_help:
        if files is None and wants_changes(presubmits, branch):
            files = await ctx.gh.list_pull_files(org, repo, number)
        test_all, optional, required = available_presubmits(presubmits, branch, files or [])
        help_text = messages.help_message(org, repo, branch, note, test_all, optional, required)
        await reply(help_text)
        return
    if not to_test:
        return
    if not _mergeable(pr):
        log.info("%s/%s#%d does not merge; no jobs for %r", org, repo, number, commenter)
        return
    await _prune_help(ctx, org, repo, number)
    reason = f"{_command_line(text)} by {commenter}"
    delivery_id = ctx.delivery_id

    def create(session: Session) -> None:
        rows = create_jobs(session, to_test, refs, delivery_id, reason)
        log.info("%s/%s#%d: %s: %d job(s)", org, repo, number, reason, len(rows))

    ctx.defer(create)


async def _may_run(
    ctx: TriggerContext,
    ev: IssueCommentEvent,
    pr: PullRequest,
    text: str,
    central: Sequence[Presubmit],
    reply: Callable[[str], Awaitable[None]],
) -> tuple[bool, bool, list[str] | None]:
    """Whether the comment may start jobs: (go on, the commenter is trusted, the PR's labels
    when they were read). A stranger may ask only on a trusted PR of their own."""
    org, repo, number = ev.repository.org, ev.repository.name, ev.issue.number
    commenter, author = ev.comment.user.login, pr.user.login
    commenter_trusted = await trusted_user(ctx.gh, ctx.options, commenter, org, repo)
    if commenter_trusted and matches_command(text, central):
        return True, True, None
    labels, pr_trusted = await trusted_pull_request(ctx.gh, ctx.options, author, org, repo, number)
    if commenter_trusted:
        # Only a trigger of the PR's own in-repo config matched (`/hold`, `/lgtm`, ...): an
        # untrusted PR must not turn a member's chat-op into a run of the jobs it defines.
        if not pr_trusted:
            log.info("%s/%s#%d: in-repo trigger of an untrusted PR ignored", org, repo, number)
        return pr_trusted, True, labels
    if not pr_trusted:
        await reply(messages.UNTRUSTED_COMMAND)
        return False, False, labels
    if commenter.lower() != author.lower():
        await reply(messages.NOT_AUTHOR_OR_TRUSTED)
        return False, False, labels
    return True, False, labels


async def _ok_to_test(
    ctx: TriggerContext,
    org: str,
    repo: str,
    number: int,
    text: str,
    labels: list[str],
    commenter_trusted: bool,
    reply: Reply,
) -> bool:
    """`/ok-to-test` labels the PR (and drops `needs-ok-to-test`); `/ok-to-test cancel` by a
    trusted user puts them back. True when the comment was a cancel: nothing else to do."""
    ok_to_test = OK_TO_TEST_RE.search(text) is not None
    if ok_to_test and not has_label(labels, messages.OK_TO_TEST):
        await ctx.gh.add_labels(org, repo, number, [messages.OK_TO_TEST])
    if (ok_to_test or has_label(labels, messages.OK_TO_TEST)) and has_label(
        labels, messages.NEEDS_OK_TO_TEST
    ):
        await ctx.gh.remove_label(org, repo, number, messages.NEEDS_OK_TO_TEST)
    if not OK_TO_TEST_CANCEL_RE.search(text):
        return False
    if not commenter_trusted:
        await reply(messages.ONLY_TRUSTED_CANCEL)
        return True
    await ctx.ensure_labels(
        org,
        repo,
        number,
        labels,
        add=[messages.NEEDS_OK_TO_TEST],
        remove=[messages.OK_TO_TEST],
    )
    return True


async def _requested(
    ctx: TriggerContext,
    org: str,
    repo: str,
    number: int,
    head_sha: str,
    branch: str,
    text: str,
    presubmits: Sequence[Presubmit],
) -> tuple[list[Presubmit], list[str] | None]:
    """The presubmits the comment asks for, and the changed files if they had to be fetched
    (only when a conditional job needs them). `/retest` reads the latest runs on the head."""
    failed: set[str] = set()
    known: set[str] = set()
    if RETEST_RE.search(text) or RETEST_REQUIRED_RE.search(text):
        for job in latest_presubmits(ctx.session, org, repo, number, head_sha):
            context = job.context or job.name
            known.add(context)
            if job.state in FAILED_STATES:
                failed.add(context)

    def select(changes: Sequence[str] | Callable[[], Sequence[str]]) -> list[Presubmit]:
        return requested_presubmits(
            presubmits,
            text,
            branch,
            changes,
            failed_contexts=failed,
            all_contexts=known,
            honor_ok_to_test=True,
        )

    try:
        return select(_placeholder), None
    except _NeedChanges:
        files = await ctx.gh.list_pull_files(org, repo, number)
        return select(files), files


def _mergeable(pr: PullRequest) -> bool:
    return pr.mergeable is not False


async def _prune_help(ctx: TriggerContext, org: str, repo: str, number: int) -> None:
    """Jobs started: the bot's earlier job lists on this PR are stale (Prow prunes them too)."""
    bot = ctx.options.bot_login
    if bot is None:
        return
    for existing in await ctx.gh.list_issue_comments(org, repo, number):
        author = existing.user.login if existing.user is not None else ""
        if author.lower() == bot.lower() and messages.HELP_MARKER in existing.body:
            await ctx.gh.delete_comment(org, repo, existing.id)
