"""The demo's CD: the manifests repository, and the bump pull request its postsubmits keep.

The sample repository's `build` postsubmit records the image reference of its package in
`$ARTIFACTS/metadata.json` and declares a `cd:` target, `acme/manifests`; after each
successful postsubmit foredeck opens, then updates in place, one pull request there (branch
`foredeck/bump/calculator`). The demo reads it with git, as a reviewer would fetch it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from foredeck.controller.artifacts import pushed_images
from foredeck.demo.gitops import git, import_repo

MANIFESTS = "manifests"
BRANCH = "foredeck/bump/calculator"
MANIFEST = "deploy/calculator.yaml"
_IMAGE = re.compile(r'image: "([^"]+)"')


@dataclass(frozen=True)
class BumpPull:
    """The bump pull request as the local provider keeps it: `pr/N`, its title, its image."""

    number: int
    title: str
    image: str
    diff: str


def import_manifests(examples: Path, repo: Path) -> None:
    import_repo(examples / MANIFESTS, repo, "Import the manifests")


def recorded_image(build_dir: Path | None) -> str | None:
    """The first image a postsubmit recorded (its `finished.json` metadata `images`, read as
    the controller's CD reads it)."""
    if build_dir is None:
        return None
    images = pushed_images(build_dir)
    return images[0] if images else None


def bump_pull(repo: Path, want_image: str) -> BumpPull | None:
    """The bump pull request of `repo` (`<local_root>/ORG/manifests`) once its branch holds
    `want_image`, else None."""
    from foredeck.scm.local.pullmeta import PULLS_FILE, PullMetaStore

    branches = git(repo, "branch", "--list", BRANCH, "pr/*", "--format=%(refname:short)").split()
    if BRANCH not in branches:
        return None
    found = _IMAGE.search(git(repo, "show", f"{BRANCH}:{MANIFEST}"))
    if found is None or found.group(1) != want_image:
        return None
    local_root = repo.parents[1]
    pulls = PullMetaStore(local_root / PULLS_FILE).of_repo(repo.parent.name, repo.name)
    number = next((n for n, meta in sorted(pulls.items()) if meta.head == BRANCH), None)
    if number is None or f"pr/{number}" not in branches:
        return None
    diff = git(repo, "diff", f"main...{BRANCH}", "--", MANIFEST)
    return BumpPull(number, pulls[number].title, found.group(1), diff)
