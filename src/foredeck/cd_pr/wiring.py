"""After a successful postsubmit that pushed images, bump them in its `cd:` targets.

The controller calls `CdRunner.after_postsubmit` once the job's final state is recorded, with
the images the run recorded (`REF@DIGEST`, `finished.json` metadata `images`, issue #14). Each
target is one `open_or_update_bump`; a failed target is logged with its reason and does not stop
the others, nor change the job's state (the job did succeed: its deploy is what failed).

What an edit *does* is the bump engine's business (`foredeck.cd`): `EditFor` makes the edit of
one target for a set of images (`engine_edit`, or a stand-in in tests); `CdRunner` only runs it
through the SCM.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from foredeck.cd import NewImage, apply, plan_bump
from foredeck.cd.pulls import BumpOutcome, BumpRequest, EditFn, Source
from foredeck.cd_pr.bump import DEFAULT_IDENTITY, BumpClient, BumpError, open_or_update_bump
from foredeck.cd_pr.lock import BumpLock, BumpLockTimeout
from foredeck.config.cd import CdTarget
from foredeck.scm.branches import GitIdentity
from foredeck.scm.github_types import GitHubError

log = logging.getLogger(__name__)

EditFor = Callable[[CdTarget, Sequence[str]], EditFn]
"""(target, images as `REF@DIGEST`) -> the edit that bumps them in that target's tree."""


def engine_edit(target: CdTarget, images: Sequence[str]) -> EditFn:
    """The bump engine's edit (`foredeck.cd`): every reference to `images` under the target's
    paths, pinned as it says; one line per change (`path:line: old -> new`). References the
    engine cannot rewrite are logged and left as they were."""
    new = [NewImage.parse(image) for image in images]  # RefError (a ValueError): now, not later

    def edit(root: Path) -> list[str]:
        plan = plan_bump(root, new, list(target.paths), target.pin)
        for problem in plan.problems:
            log.warning("cd %s:%s: %s", target.repo, target.group, problem)
        apply(plan)
        return [f"{c.path}:{c.line}: {c.old} -> {c.new}" for c in plan.changes]

    return edit


def image_names(images: Sequence[str]) -> list[str]:
    """`registry/name` of each `registry/name[:tag]@digest`, for titles."""
    names = []
    for image in images:
        ref = image.split("@", 1)[0]
        last = ref.rsplit("/", 1)[-1]
        names.append(ref[: len(ref) - len(last)] + last.split(":", 1)[0])
    return names


def short(image: str) -> str:
    """`name@sha256:0123456789ab` (the digest cut to 12 hex digits)."""
    ref, _, digest = image.partition("@")
    algo, _, hexa = digest.partition(":")
    return f"{ref.rsplit('/', 1)[-1]}@{algo}:{hexa[:12]}" if digest else ref.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Built:
    """What a postsubmit built: its job, repository, commit and pushed images."""

    job: str
    repo: str
    sha: str
    images: Sequence[str]
    build_id: str = ""


def bump_request(
    target: CdTarget,
    built: Built,
    edit: EditFn,
    range_url: Callable[[str, str], str | None] | None = None,
) -> BumpRequest:
    shown = ", ".join(short(i) for i in built.images[:3])
    more = f" and {len(built.images) - 3} more" if len(built.images) > 3 else ""
    body = (
        f"Bumps {', '.join(image_names(built.images))} to the images built by postsubmit "
        f"`{built.job}`{f' (build {built.build_id})' if built.build_id else ''} "
        f"of {built.repo} at {built.sha[:12]}."
    )
    return BumpRequest(
        repo=target.repo,
        group=target.group,
        edit=edit,
        title=f"Bump {target.group}: {shown}{more}",
        body=body,
        base=target.base,
        paths=tuple(target.paths),
        labels=tuple(target.labels),
        policy=target.policy,
        source=Source(built.repo, built.sha, range_url) if built.sha else None,
    )


@dataclass
class CdRunner:
    """Runs a postsubmit's `cd:` targets through one SCM client at a time."""

    new_client: Callable[[], BumpClient]
    lock: BumpLock
    edit_for: EditFor
    range_url: Callable[[str, str, str], str | None] | None = None
    """(ORG/REPO of the source, from sha, to sha) -> a page of the commits in between."""
    identity: GitIdentity = DEFAULT_IDENTITY
    outcomes: list[tuple[str, BumpOutcome | str]] = field(default_factory=list)
    """The outcomes of the call that ended last, for tests (jobs end concurrently: a caller
    uses the value its own call returns)."""

    async def after_postsubmit(
        self, targets: Sequence[CdTarget], built: Built
    ) -> list[tuple[str, BumpOutcome | str]]:
        """(ORG/REPO:GROUP, outcome or error) of each target, in order."""
        found: list[tuple[str, BumpOutcome | str]] = []
        if targets and built.images:
            await self._run(targets, built, found)
        self.outcomes = found
        return found

    async def _run(
        self, targets: Sequence[CdTarget], built: Built, found: list[tuple[str, BumpOutcome | str]]
    ) -> None:
        link = self.range_url
        range_url = (lambda a, b: link(built.repo, a, b)) if link else None
        client = self.new_client()
        try:
            for target in targets:
                key = f"{target.repo}:{target.group}"
                try:
                    request = bump_request(
                        target, built, self.edit_for(target, built.images), range_url
                    )
                    outcome = await open_or_update_bump(
                        client, request, self.lock, identity=self.identity
                    )
                except (BumpError, BumpLockTimeout, GitHubError, ValueError, OSError) as exc:
                    log.error("cd %s after %s: %s", key, built.job, exc)
                    found.append((key, str(exc)))
                    continue
                except Exception as exc:  # an engine's bug: the other targets still run
                    log.exception("cd %s after %s: the edit failed", key, built.job)
                    found.append((key, f"{type(exc).__name__}: {exc}"))
                    continue
                log.info("cd %s after %s: %s %s", key, built.job, outcome.action, outcome.url)
                found.append((key, outcome))
        finally:
            await client.close()
