"""`foredeck bump --repo ORG/REPO`: the same bump through the SCM of a settings file (the local
provider here), a dry run that pushes nothing, then one pull request updated in place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.cd.conftest import APP, FILES, MANIFEST, NAME, ORG
from tests.child import child_env
from tests.kit.git import Repo

FIRST = "ghcr.io/acme/app:1.1@sha256:" + "1" * 64
SECOND = "ghcr.io/acme/app:1.2@sha256:" + "2" * 64


def bump(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foredeck.cli", "bump", "--config", "settings.yaml", *args],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def setup(tmp_path: Path) -> Repo:
    settings = {
        "database_url": f"sqlite:///{tmp_path / 'foredeck.db'}",
        "scm": {"provider": "local", "local_root": str(tmp_path / "repos")},
    }
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    return Repo(tmp_path / "repos" / ORG / NAME, FILES, "manifests")


def test_a_dry_run_prints_the_diff_and_pushes_nothing(tmp_path: Path) -> None:
    repo = setup(tmp_path)
    before = repo.git("branch", "--list")
    done = bump(tmp_path, "--image", FIRST, "--repo", f"{ORG}/{NAME}", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "-          image: 'ghcr.io/acme/app:1.0'" in done.stdout
    assert f"+          image: '{FIRST}'" in done.stdout
    assert repo.git("branch", "--list") == before  # no bump branch, no pull request


def test_two_bumps_by_hand_give_one_pull_request_updated_in_place(tmp_path: Path) -> None:
    repo = setup(tmp_path)
    first = bump(tmp_path, "--image", FIRST, "--repo", f"{ORG}/{NAME}", "--group", "app")
    assert first.returncode == 0, first.stderr
    assert "bump: opened #1" in first.stderr
    second = bump(tmp_path, "--image", SECOND, "--repo", f"{ORG}/{NAME}", "--group", "app")
    assert second.returncode == 0, second.stderr
    assert "bump: updated #1" in second.stderr
    bumped = repo.git("show", f"foredeck/bump/app:{APP}") + "\n"
    assert bumped == MANIFEST.replace("ghcr.io/acme/app:1.0", SECOND)
    assert repo.git("show", f"main:{APP}") + "\n" == MANIFEST  # main is a human's to merge


def test_a_repository_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    setup(tmp_path)
    done = bump(tmp_path, "--image", FIRST, "--repo", f"{ORG}/nowhere")
    assert done.returncode == 1
    assert "nowhere" in done.stderr and "Traceback" not in done.stderr
