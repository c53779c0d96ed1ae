"""`foredeck bump --repo ORG/REPO`: the bump of a manifests repository through the SCM of the
settings (GitHub, or the local provider), as a postsubmit's `cd:` target does it.

With `--dry-run` the repository's tree under the paths is checked out into a temporary
directory and the diff printed; nothing is pushed. Otherwise one pull request per group is
opened or updated in place (`cd_pr.bump.open_or_update_bump`, under the same lock as the
controller's bumps), and the diff of what it pushed printed.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from foredeck.cd import NewImage, Pin, apply, plan_bump
from foredeck.cd.pulls import BumpRequest, EditFn
from foredeck.cd_pr.bump import BumpClient, BumpError, open_or_update_bump
from foredeck.cd_pr.lock import BumpLock, BumpLockTimeout, lock_for
from foredeck.db.migrate import DatabaseUnavailable, open_database
from foredeck.scm.github_types import GitHubError
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import SettingsError, load_settings


@dataclass(frozen=True)
class RepoBump:
    """What `foredeck bump --repo` was asked."""

    repo: str
    images: Sequence[NewImage]
    paths: list[str]
    pin: Pin
    group: str
    base: str
    dry_run: bool
    config: Path | None = None


def bump_repo(job: RepoBump, out: TextIO, err: TextIO) -> int:
    """The exit code: 0 done, 1 the bump failed (said why), 2 bad settings or arguments."""
    try:
        settings = load_settings(job.config)
        engine = open_database(settings.database_url)
    except (SettingsError, DatabaseUnavailable) as exc:
        print(f"bump: {exc}", file=err)
        return 2
    try:
        provider = provider_from_settings(settings, engine)
        client = provider.client_factory()
        return asyncio.run(_run(job, client, lock_for(engine), out, err))
    except ValueError as exc:
        print(f"bump: {exc}", file=err)
        return 2
    finally:
        engine.dispose()


async def _run(
    job: RepoBump, new_client: Callable[[], BumpClient], lock: BumpLock, out: TextIO, err: TextIO
) -> int:
    client = new_client()
    owner, _, name = job.repo.partition("/")
    shown: list[str] = []

    def edit(root: Path) -> list[str]:
        plan = plan_bump(root, list(job.images), job.paths, job.pin)
        shown.append(plan.diff())
        for problem in plan.problems:
            print(f"bump: {problem}", file=err)
        if not job.dry_run:
            apply(plan)
        return [f"{c.path}:{c.line}: {c.old} -> {c.new}" for c in plan.changes]

    try:
        if job.dry_run:
            with tempfile.TemporaryDirectory(prefix="foredeck-bump-") as tmp:
                tree = await client.checkout_tree(owner, name, job.base, job.paths, Path(tmp) / "t")
                changes = await asyncio.to_thread(edit, tree.root)
            out.write("".join(shown))
            print(f"bump: {len(changes)} reference(s) to change (dry run)", file=err)
            return 0
        request = _request(job, edit)
        outcome = await open_or_update_bump(client, request, lock)
    except (BumpError, BumpLockTimeout, GitHubError, OSError) as exc:
        print(f"bump: {exc}", file=err)
        return 1
    finally:
        await client.close()
    out.write("".join(shown))
    where = f" #{outcome.number} {outcome.url}" if outcome.number is not None else ""
    closed = f"; closed {', '.join(f'#{n}' for n in outcome.closed)}" if outcome.closed else ""
    print(f"bump: {outcome.action}{where}{closed}", file=err)
    return 0


def _request(job: RepoBump, edit: EditFn) -> BumpRequest:
    names = ", ".join(str(image) for image in job.images)
    return BumpRequest(
        repo=job.repo,
        group=job.group,
        edit=edit,
        title=f"Bump {job.group}: {names}",
        body=f"Bumps {names}, asked by hand (`foredeck bump --repo {job.repo}`).",
        base=job.base,
        paths=tuple(job.paths),
    )
