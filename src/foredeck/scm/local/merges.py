"""Merging local pull requests with git, as GitHub's merge button does (a mixin of `LocalScm`).

The merge, squash or rebase is done by git in a temporary clone of the repository (sharing its
objects) and pushed back under a ref of foredeck's own, so the repository's hooks decide as they
would for anyone; the base branch then moves by compare-and-swap from the commit the pull
request was tested on (409 when it moved meanwhile), and `pr/N` is deleted. The pull request's
`closed` event (`merged: true`) and the base branch's `push` are logged at once, with the
delivery ids the watcher would give them, so postsubmits run as after any push and the watcher's
own scan finds them logged already.

A repository with a work tree checked out on the base branch has its branch moved, not its work
tree (as for a push into it): serve repositories bare.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from sqlalchemy import Engine

from foredeck.db.eventlog import NewEvent
from foredeck.db.types import utcnow
from foredeck.scm.github_types import PullRequest
from foredeck.scm.gitrun import git_env, run_git
from foredeck.scm.local.events import (
    delivery_id,
    log_local_events,
    new_event,
    pull_json,
    pull_request_payload,
    push_payload,
    repository_json,
)
from foredeck.scm.local.names import LocalScmError, check_sha, pr_branch, pull_ref
from foredeck.scm.local.pulls import LocalPulls
from foredeck.scm.local.repos import GIT_TIMEOUT, LocalRepos
from foredeck.scm.local.writes import git_in
from foredeck.scm.merges import MERGE_METHODS, MergeMethod, OpenIssue

MERGING_REF = "refs/foredeck/merging/{number}"


class LocalMerges:
    pulls: LocalPulls
    repos: LocalRepos
    bot_login: str
    engine: Engine

    async def merge_pull(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        sha: str,
        method: MergeMethod = "merge",
        title: str | None = None,
    ) -> str:
        """Merge `pr/N` into the base branch if its head is still `sha`; the new base commit.

        405 when git cannot merge it cleanly, 409 when the head or the base moved."""
        if method not in MERGE_METHODS:
            raise LocalScmError(422, f"unknown merge method {method!r}")
        return await asyncio.to_thread(self._merge, owner, repo, number, sha, method, title)

    async def issues_labelled(self, owner: str, repo: str, label: str) -> list[OpenIssue]:
        """Local repositories have pull requests only, so no issue blocks a merge."""
        await asyncio.to_thread(self.repos.repo_dir, owner, repo)
        return []

    async def review_approved(self, owner: str, repo: str, number: int) -> bool:
        """Local pull requests have no reviews (their approval is `/lgtm` and `/approve`)."""
        await asyncio.to_thread(self.repos.repo_dir, owner, repo)
        return False

    def _merge(
        self, org: str, repo: str, number: int, sha: str, method: MergeMethod, title: str | None
    ) -> str:
        pr = self.pulls.pull(org, repo, number)  # 404 unless open
        if pr.head.sha != check_sha(sha):
            raise LocalScmError(409, "Head branch was modified. Review and try the merge again.")
        subject = title or (
            f"{pr.title} (#{number})"
            if method == "squash"
            else f"Merge pull request #{number} from {pr.head.label}\n\n{pr.title}"
        )
        with tempfile.TemporaryDirectory(prefix="foredeck-merge-") as tmp:
            work = Path(tmp) / "work"
            source = str(self.repos.repo_dir(org, repo))
            git_in(None, ["clone", "--quiet", "--shared", "--no-checkout", "--", source, str(work)])
            new = self._combine(work, pr, method, subject)
            ref = MERGING_REF.format(number=number)
            git_in(work, ["push", "--quiet", "--force", "origin", f"{new}:{ref}"])
        try:
            moved = self.repos.git(
                org,
                repo,
                ["update-ref", f"refs/heads/{pr.base.ref}", new, pr.base.sha],
                check=False,
            )
            if moved.rc != 0:
                raise LocalScmError(
                    409, "Base branch was modified. Review and try the merge again."
                )
        finally:
            self.repos.git(org, repo, ["update-ref", "-d", ref], check=False)
        self.repos.git(org, repo, ["update-ref", "-d", f"refs/heads/{pr_branch(number)}", sha])
        self._log_merge(org, repo, pr, new)
        return new

    def _combine(self, work: Path, pr: PullRequest, method: MergeMethod, subject: str) -> str:
        """The new base commit: `pr` merged, squashed or rebased onto its base in `work`."""
        bot = {"GIT_COMMITTER_NAME": self.bot_login, "GIT_COMMITTER_EMAIL": self._bot_email()}
        head, base = pr.head.sha, pr.base.sha
        git_in(work, ["checkout", "--quiet", "--detach", head if method == "rebase" else base])
        if method == "rebase":  # authors stay, the bot commits
            steps = [(["rebase", "--quiet", "--no-autosquash", base], bot)]
        elif method == "merge":
            merger = {
                **bot,
                "GIT_AUTHOR_NAME": self.bot_login,
                "GIT_AUTHOR_EMAIL": self._bot_email(),
            }
            steps = [(["merge", "--quiet", "--no-ff", "--no-edit", "-m", subject, head], merger)]
        else:  # squash: one commit by the pull request's author (of its first commit)
            own = git_in(work, ["log", "--format=%an <%ae>", f"{base}..{head}"]).splitlines()
            author = f"--author={own[-1]}" if own else "--reset-author"
            commit = ["commit", "--quiet", "--no-verify", "--allow-empty", "-m", subject, author]
            steps = [(["merge", "--quiet", "--squash", head], bot), (commit, bot)]
        for args, env in steps:
            if run_git(args, env=git_env(env), timeout=GIT_TIMEOUT, cwd=work).rc != 0:
                raise LocalScmError(405, f"Pull Request #{pr.number} is not mergeable")
        return git_in(work, ["rev-parse", "HEAD"]).strip()

    def _bot_email(self) -> str:
        return f"{self.bot_login}@foredeck.invalid"

    def _log_merge(self, org: str, repo: str, pr: PullRequest, new: str) -> None:
        """The events of the merge, as the watcher would log them."""
        views = self.pulls
        repository = repository_json(views, org, repo)
        closed = pull_json(pr.model_copy(update={"state": "closed", "merged": True}))
        closed["merge_commit_sha"] = new
        closed["closed_at"] = closed["merged_at"] = utcnow().isoformat().replace("+00:00", "Z")
        ref = pull_ref(pr.number)
        events: list[NewEvent] = [
            new_event(
                "pull_request",
                delivery_id(org, repo, ref, pr.head.sha, "closed"),
                pull_request_payload(views, "closed", closed, repository, self.bot_login),
            )
        ]
        base_ref = f"refs/heads/{pr.base.ref}"
        payload = push_payload(views, org, repo, base_ref, pr.base.sha, new)
        events.append(new_event("push", delivery_id(org, repo, base_ref, new, "push"), payload))
        log_local_events(self.engine, events)
