"""What a pull request needs to be merged: its labels against the queries, and its contexts.

Required contexts are the presubmits that run for the pull request's change (the trigger's own
matching: branches, `run_if_changed`, `skip_if_only_changed`, never `optional` ones nor those that
need `/test NAME`) and the configured `required-contexts`, such as a status another CI posts.
Unless `skip-unknown-contexts`, every other context on the head must pass too (optional ones
and Tide's own excepted). A context that is pending, or missing, is never taken for green: a
failed check that went back to pending (a rerun) blocks the merge until it is green again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from foredeck.config import Presubmit
from foredeck.config.tide import TideConfig, TideQuery
from foredeck.scm.github_types import CommitStatus, PullRequest

TIDE_CONTEXT = "tide"


def query_misses(query: TideQuery, pr: PullRequest, approved: bool = False) -> list[str]:
    """Why `pr` is not in `query`'s pool (empty: it is); `approved`: its review state."""
    org, repo = pr.base.repo.full_name.split("/", 1) if pr.base.repo else ("", "")
    labels = {label.name for label in pr.labels}
    why = [f"Needs {name} label" for name in query.labels if name not in labels]
    why += [f"Should not have {name} label" for name in query.missing_labels if name in labels]
    if not query.wants_branch(pr.base.ref):
        why.append(f"Merging into branch {pr.base.ref} is forbidden")
    if query.author and pr.user.login.lower() != query.author.lower():
        why.append(f"Must be by {query.author}")
    if query.milestone and query.milestone != (pr.milestone.title if pr.milestone else ""):
        why.append(f"Must be in milestone {query.milestone}")
    if query.review_approved_required and not approved:
        why.append("Needs an approving review")
    if pr.draft:
        why.append("Is a draft")
    if not query.covers(org, repo):
        why.append("Not in a query's repositories")
    return why


def pool_misses(config: TideConfig, pr: PullRequest, approved: bool = False) -> list[str] | None:
    """None when some query takes `pr`; else the shortest list of what it lacks."""
    best: list[str] | None = None
    for query in config.queries:
        why = query_misses(query, pr, approved)
        if not why:
            return None
        if best is None or len(why) < len(best):
            best = why
    return best or ["No query covers it"]


@dataclass(frozen=True, slots=True)
class Required:
    """The contexts `pr` must have green, split by who runs them."""

    jobs: tuple[Presubmit, ...]
    """foredeck's presubmits (retested on a new base, run in batches)."""
    external: frozenset[str]
    optional: frozenset[str]
    skip_unknown: bool
    if_present: frozenset[str] = frozenset()
    """Contexts that must pass when they are there (`required-if-present-contexts`)."""

    @property
    def contexts(self) -> set[str]:
        return {p.context for p in self.jobs} | set(self.external)


def required_for(
    config: TideConfig, org: str, repo: str, branch: str, presubmits: Sequence[Presubmit]
) -> Required:
    """`presubmits` are those that run for the change (`JobConfig.presubmits_to_run`)."""
    options = config.context_options.for_branch(org, repo, branch)
    jobs = tuple(p for p in presubmits if not p.optional)
    optional = set(options.optional) | {p.context for p in presubmits if p.optional}
    extra = frozenset(set(options.required) - optional)
    skip = bool(options.skip_unknown)
    return Required(jobs, extra, frozenset(optional), skip, frozenset(options.if_present))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The state of a head's contexts: `success` (all green), `pending` or `failure`."""

    state: str
    detail: str = ""


def judge(required: Required, statuses: Iterable[CommitStatus]) -> Verdict:
    """Green only when every required context is green and no other one (unless skipped or
    optional) is pending or failing; `statuses` newest first, the newest of a context counts."""
    latest: dict[str, str] = {}
    for status in statuses:
        latest.setdefault(status.context, status.state)
    wanted = required.contexts
    failing = sorted(
        c for c, s in latest.items() if s in ("failure", "error") and _counts(c, wanted, required)
    )
    if failing:
        return Verdict("failure", f"Job {failing[0]} has not succeeded")
    pending = sorted(
        c for c, s in latest.items() if s == "pending" and _counts(c, wanted, required)
    )
    if pending:
        return Verdict("pending", f"Job {pending[0]} is pending")
    missing = sorted(c for c in wanted if c not in latest)
    if missing:
        return Verdict("pending", f"Waiting for {missing[0]}")
    return Verdict("success")


def wants_reviews(config: TideConfig, org: str, repo: str) -> bool:
    """Whether a query of `org/repo` asks for an approving review (one more SCM call a pull
    request, so only then)."""
    return any(q.review_approved_required and q.covers(org, repo) for q in config.queries)


def _counts(context: str, wanted: set[str], required: Required) -> bool:
    if context == TIDE_CONTEXT or context in required.optional:
        return False
    return context in wanted or context in required.if_present or not required.skip_unknown
