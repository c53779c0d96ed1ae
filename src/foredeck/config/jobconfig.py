"""The loaded job config, indexed for the questions the trigger plugin and scheduler ask.

Jobs are kept per repository (as in the YAML), so matching a pull request only looks at that
repository's jobs; all regexes are compiled once per job.
"""

from __future__ import annotations

from collections.abc import Iterator, Set
from dataclasses import dataclass, field

from foredeck.config.models import (
    AnyJob,
    ChangedFiles,
    Periodic,
    Postsubmit,
    Preset,
    Presubmit,
    memoize_changes,
)
from foredeck.config.tide import TideConfig
from foredeck.config.triggering import requested_presubmits


def branch_of_ref(ref: str) -> str:
    """`refs/heads/main` -> `main` (push events name refs; jobs match branch names, as Prow)."""
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


@dataclass
class JobConfig:
    """Presubmits and postsubmits by `org/repo`, periodics, and the presets already applied."""

    presubmits: dict[str, list[Presubmit]] = field(default_factory=dict)
    postsubmits: dict[str, list[Postsubmit]] = field(default_factory=dict)
    periodics: list[Periodic] = field(default_factory=list)
    presets: list[Preset] = field(default_factory=list)
    decorate_all_jobs: bool = False
    lease_types: frozenset[str] | None = None
    """The lease types its jobs were checked against (in-repo jobs are checked likewise)."""
    tide: TideConfig | None = None
    """The merge pool's `tide:` section (`foredeck.tide`); None: no merge pool."""

    # --- inventory -------------------------------------------------------------------------------

    def repos(self) -> list[str]:
        """Repositories with at least one presubmit or postsubmit, sorted."""
        keys = {r for r, jobs in self.presubmits.items() if jobs}
        keys |= {r for r, jobs in self.postsubmits.items() if jobs}
        return sorted(keys)

    def all_presubmits(self) -> Iterator[Presubmit]:
        for jobs in self.presubmits.values():
            yield from jobs

    def all_postsubmits(self) -> Iterator[Postsubmit]:
        for jobs in self.postsubmits.values():
            yield from jobs

    def all_jobs(self) -> Iterator[AnyJob]:
        yield from self.all_presubmits()
        yield from self.all_postsubmits()
        yield from self.periodics

    def counts(self) -> dict[str, int]:
        return {
            "presubmits": sum(len(j) for j in self.presubmits.values()),
            "postsubmits": sum(len(j) for j in self.postsubmits.values()),
            "periodics": len(self.periodics),
            "repos": len(self.repos()),
        }

    def periodic(self, name: str) -> Periodic | None:
        return next((p for p in self.periodics if p.name == name), None)

    def find(self, name: str, org_repo: str | None = None) -> list[AnyJob]:
        """Jobs called `name` (several when branches split a name), optionally in one repo."""
        found: list[AnyJob] = []
        for kind in (self.presubmits, self.postsubmits):
            for repo, jobs in kind.items():
                if org_repo is None or repo == org_repo:
                    found += [j for j in jobs if j.name == name]
        if org_repo is None:
            found += [p for p in self.periodics if p.name == name]
        return found

    # --- matching --------------------------------------------------------------------------------

    def presubmits_for(self, org_repo: str, base_branch: str) -> list[Presubmit]:
        """Presubmits of `org_repo` that may run against PRs to `base_branch`."""
        return [p for p in self.presubmits.get(org_repo, ()) if p.could_run(base_branch)]

    def presubmits_to_run(
        self, org_repo: str, base_branch: str, changes: ChangedFiles
    ) -> list[Presubmit]:
        """What a PR being opened or pushed to starts: always_run jobs, and conditional jobs whose
        file patterns match `changes` (Prow's trigger with its test-all filter)."""
        selected: list[Presubmit] = []
        lazy_changes = memoize_changes(changes)
        for p in self.presubmits.get(org_repo, ()):
            if p.needs_explicit_trigger() or not p.could_run(base_branch):
                continue
            if p.should_run(lazy_changes):
                selected.append(p)
        return selected

    def presubmits_for_comment(
        self,
        org_repo: str,
        base_branch: str,
        body: str,
        changes: ChangedFiles,
        *,
        failed_contexts: Set[str] = frozenset(),
        all_contexts: Set[str] = frozenset(),
        honor_ok_to_test: bool = False,
    ) -> list[Presubmit]:
        """What a PR comment (`/test NAME`, `/test all`, `/retest`, ...) starts."""
        return requested_presubmits(
            self.presubmits.get(org_repo, ()),
            body,
            base_branch,
            changes,
            failed_contexts=failed_contexts,
            all_contexts=all_contexts,
            honor_ok_to_test=honor_ok_to_test,
        )

    def postsubmits_for(self, org_repo: str, ref: str, changes: ChangedFiles) -> list[Postsubmit]:
        """Postsubmits a push to `ref` (a branch, or `refs/heads/...`) starts."""
        branch = branch_of_ref(ref)
        lazy_changes = memoize_changes(changes)
        jobs = self.postsubmits.get(org_repo, ())
        return [p for p in jobs if p.should_run(branch, lazy_changes)]
