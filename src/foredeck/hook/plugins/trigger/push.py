"""Push events: Prow's `handlePE`, postsubmits for the pushed branch or tag.

Nothing runs for a deleted ref. Jobs match the ref's short name (`main`, `v1.0`) against
`branches` / `skip_branches` exactly as Prow does, so a postsubmit without branch filters also
runs for tags. Changed files are the union of the pushed commits' added, modified and removed
files. No trust check: only people with write access can push.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from foredeck.config import branch_of_ref
from foredeck.hook.plugins.trigger.context import TriggerContext, log
from foredeck.jobs import create_jobs, push_refs
from foredeck.scm.github_types import PushEvent

NULL_SHA = "0" * 40


def changed_files(ev: PushEvent) -> list[str]:
    seen: dict[str, None] = {}
    for commit in ev.commits:
        for path in (*commit.added, *commit.modified, *commit.removed):
            seen[path] = None
    return list(seen)


async def handle_push(ctx: TriggerContext, ev: PushEvent) -> None:
    if ev.deleted or not ev.after or ev.after == NULL_SHA:
        return
    org, repo = ev.repository.org, ev.repository.name
    branch = branch_of_ref(ev.ref)
    jobs = await ctx.jobs_for(org, repo, ev.ref, ev.after)
    postsubmits = jobs.postsubmits_for(f"{org}/{repo}", ev.ref, changed_files(ev))
    if not postsubmits:
        return
    refs = push_refs(
        org=org,
        repo=repo,
        repo_link=ev.repository.html_url,
        ref=ev.ref,
        branch=branch,
        sha=ev.after,
        compare=ev.compare,
    )
    reason = f"push to {branch} by {ev.sender.login}"
    delivery_id = ctx.delivery_id

    def create(session: Session) -> None:
        rows = create_jobs(session, postsubmits, refs, delivery_id, reason)
        log.info("%s/%s: %s: %d job(s)", org, repo, reason, len(rows))

    ctx.defer(create)
