"""Pull request events: Prow's `handlePR`.

- `opened`: a trusted author's PR runs its automatic presubmits (a draft gets a note instead);
  an untrusted author's PR gets `needs-ok-to-test` and the welcome message, once.
- `reopened`, `ready_for_review`, `edited` (base branch changed): run if the PR is trusted.
- `synchronize`: abort the presubmits of older heads, then run for the new head if trusted.
- `labeled`: `ok-to-test` added by a trusted user (not the bot itself) runs the presubmits;
  `lgtm` on an untrusted PR runs them once.
- `closed`, `converted_to_draft`: abort the unfinished presubmits.

Drafts never run automatically (as in Prow); `/test` still works on them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from foredeck.config import Presubmit
from foredeck.config.triggering import automatic_presubmits, wants_changes
from foredeck.hook.plugins.trigger import messages
from foredeck.hook.plugins.trigger.context import TriggerContext, log
from foredeck.hook.plugins.trigger.trust import has_label, trusted_pull_request, trusted_user
from foredeck.jobs import abort_presubmits, create_jobs
from foredeck.scm.github_types import PullRequestEvent
from foredeck.types import Refs

HANDLED = frozenset(
    {
        "opened",
        "reopened",
        "edited",
        "synchronize",
        "labeled",
        "closed",
        "ready_for_review",
        "converted_to_draft",
    }
)


def _base_changed(payload: dict[str, Any]) -> bool:
    changes = payload.get("changes")
    if not isinstance(changes, dict):
        return False
    base = changes.get("base")
    return isinstance(base, dict) and bool(base.get("ref") or base.get("sha"))


def _mergeable(payload: dict[str, Any]) -> bool:
    """False only when GitHub says so: Prow starts nothing for a PR that does not merge."""
    pr = payload.get("pull_request")
    return not (isinstance(pr, dict) and pr.get("mergeable") is False)


async def handle_pull_request(ctx: TriggerContext, ev: PullRequestEvent) -> None:
    pr = ev.pull_request
    org, repo, number = ev.repository.org, ev.repository.name, pr.number
    action = ev.action
    if action not in HANDLED or _defer_aborts(ctx, ev):
        return
    label = ev.label.name if ev.label is not None else ""
    if action == "edited" and not _base_changed(ctx.event.payload):
        return
    if action == "labeled":
        if label.lower() not in (messages.OK_TO_TEST, messages.LGTM):
            return
        if label.lower() == messages.OK_TO_TEST and ctx.is_bot(ev.sender.login):
            return  # added for an /ok-to-test comment, which started the jobs itself

    refs, presubmits = await ctx.pull_request_jobs(
        org, repo, ev.repository.html_url, pr, author_link=pr.user.html_url
    )
    if not presubmits:
        return
    author = pr.user.login
    reason = f"pull_request {action} by {ev.sender.login}"

    if action == "opened":
        if await trusted_user(ctx.gh, ctx.options, author, org, repo):
            if pr.draft:
                await ctx.comment_once(org, repo, number, messages.draft(), messages.DRAFT_MARKER)
                return
            await _build_all(ctx, ev, refs, presubmits, reason)
        else:
            await _welcome(ctx, ev)
        return

    if action == "labeled":
        await _labeled(ctx, ev, label, refs, presubmits, reason)
        return

    # reopened, ready_for_review, synchronize, edited (base changed)
    labels, trusted = await trusted_pull_request(ctx.gh, ctx.options, author, org, repo, number)
    if not trusted:
        return
    if labels is not None and has_label(labels, messages.NEEDS_OK_TO_TEST):
        await ctx.gh.remove_label(org, repo, number, messages.NEEDS_OK_TO_TEST)
    await _build_all(ctx, ev, refs, presubmits, reason)


def _defer_aborts(ctx: TriggerContext, ev: PullRequestEvent) -> bool:
    """Abort what the event makes pointless; True when that is all the event does.

    `closed` and `converted_to_draft` abort every unfinished presubmit; `synchronize` aborts
    those of older heads, unreported (the new head's runs replace their statuses)."""
    pr = ev.pull_request
    org, repo, number = ev.repository.org, ev.repository.name, pr.number
    action = ev.action
    if action in ("closed", "converted_to_draft"):
        what = "closed" if action == "closed" else "converted to a draft"

        def abort_all(session: Session) -> None:
            aborted = abort_presubmits(
                session, org, repo, number, f"Aborted: the pull request was {what}."
            )
            log.info("%s/%s#%d %s: aborted %d job(s)", org, repo, number, action, len(aborted))

        ctx.defer(abort_all)
        return True
    if action == "synchronize":
        head = pr.head.sha

        def supersede(session: Session) -> None:
            aborted = abort_presubmits(
                session,
                org,
                repo,
                number,
                f"superseded by new push {head}",
                keep_sha=head,
                suppress_report=True,
            )
            log.info(
                "%s/%s#%d synchronize to %s: aborted %d job(s)",
                org,
                repo,
                number,
                head[:12],
                len(aborted),
            )

        ctx.defer(supersede)
    return False


async def _labeled(
    ctx: TriggerContext,
    ev: PullRequestEvent,
    label: str,
    refs: Refs,
    presubmits: list[Presubmit],
    reason: str,
) -> None:
    """`lgtm` on an untrusted PR runs its presubmits once; `ok-to-test` added by a trusted user
    runs them (and drops `needs-ok-to-test`)."""
    pr = ev.pull_request
    org, repo, number = ev.repository.org, ev.repository.name, pr.number
    if label.lower() == messages.LGTM:
        _, trusted = await trusted_pull_request(
            ctx.gh, ctx.options, pr.user.login, org, repo, number
        )
        if not trusted:
            await _build_all(ctx, ev, refs, presubmits, f"{reason} (untrusted PR, lgtm)")
        return
    if not await trusted_user(ctx.gh, ctx.options, ev.sender.login, org, repo):
        log.info(
            "%s/%s#%d: ok-to-test added by untrusted %s; ignored",
            org,
            repo,
            number,
            ev.sender.login,
        )
        return
    current = [lbl.name for lbl in pr.labels]
    await ctx.ensure_labels(org, repo, number, current, remove=[messages.NEEDS_OK_TO_TEST])
    await _build_all(
        ctx, ev, refs, presubmits, f"pull_request labeled {label} by {ev.sender.login}"
    )


async def _build_all(
    ctx: TriggerContext,
    ev: PullRequestEvent,
    refs: Refs,
    presubmits: list[Presubmit],
    reason: str,
) -> None:
    """Prow's `buildAllButDrafts`: the automatic presubmits, unless the PR is a draft."""
    pr = ev.pull_request
    if pr.draft:
        log.info(
            "%s: draft pull request #%d; no automatic jobs", ev.repository.full_name, pr.number
        )
        return
    if not _mergeable(ctx.event.payload):
        log.info("%s#%d does not merge; no jobs", ev.repository.full_name, pr.number)
        return
    branch = pr.base.ref
    changes: list[str] = []
    if wants_changes(presubmits, branch):
        changes = await ctx.gh.list_pull_files(ev.repository.org, ev.repository.name, pr.number)
    to_run = automatic_presubmits(presubmits, branch, changes)
    delivery_id = ctx.delivery_id

    def create(session: Session) -> None:
        rows = create_jobs(session, to_run, refs, delivery_id, reason)
        log.info(
            "%s#%d: %s: %d job(s): %s",
            ev.repository.full_name,
            pr.number,
            reason,
            len(rows),
            ", ".join(r.name for r in rows),
        )

    ctx.defer(create)


async def _welcome(ctx: TriggerContext, ev: PullRequestEvent) -> None:
    """Label an untrusted PR `needs-ok-to-test` and explain, once; `ok-to-test` already there
    (another automation) means no `needs-ok-to-test`."""
    pr = ev.pull_request
    org, repo = ev.repository.org, ev.repository.name
    labels = [label.name for label in await ctx.gh.list_issue_labels(org, repo, pr.number)]
    if not has_label(labels, messages.OK_TO_TEST):
        await ctx.ensure_labels(org, repo, pr.number, labels, add=[messages.NEEDS_OK_TO_TEST])
    web = ctx.options.web_url.rstrip("/")
    join = ctx.options.join_org_url or f"{web}/orgs/{org}/people"
    body = messages.welcome(pr.user.login, org, ctx.options.trusted_orgs, web, join)
    await ctx.comment_once(org, repo, pr.number, body, messages.WELCOME_MARKER)
