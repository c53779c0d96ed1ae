"""The developer's and the maintainer's git, isolated from the user's git configuration."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from foredeck.demo.options import DEVELOPER, MAINTAINER, DemoError


def git(cwd: Path, *args: str, who: tuple[str, str] = DEVELOPER) -> str:
    """Git with argv only, no user or system config, `who` as author and committer."""
    from foredeck.scm.gitrun import git_env

    env = git_env()
    name, email = who
    env.update(
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email,
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=email,
    )
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DemoError(f"git {' '.join(args)} (in {cwd}) could not run: {exc}") from None
    if done.returncode != 0:
        raise DemoError(f"git {' '.join(args)} (in {cwd}) failed: {done.stderr.strip()}")
    return done.stdout.strip()


def copy_tree(src: Path, dst: Path) -> None:
    """Copy files over `dst`, keeping the executable bits (`test.sh` is run as `./test.sh`)."""
    if not src.is_dir():
        raise DemoError(f"{src}: missing (pass --examples DIR: the examples/demo folder)")
    # `copy`, not `copy2`: a fresh mtime, or git may take a same-sized file for unchanged.
    shutil.copytree(src, dst, dirs_exist_ok=True, copy_function=shutil.copy)


def commit_all(cwd: Path, message: str, who: tuple[str, str] = DEVELOPER) -> str:
    git(cwd, "add", "-A", who=who)
    git(cwd, "commit", "-q", "-m", message, who=who)
    return git(cwd, "rev-parse", "HEAD")


def import_repo(src: Path, repo: Path, message: str) -> str:
    """A new repository at `repo` holding `src`'s files on `main`, committed by the maintainer."""
    repo.mkdir(parents=True)
    copy_tree(src, repo)
    git(repo, "init", "-q", "-b", "main", who=MAINTAINER)
    return commit_all(repo, message, who=MAINTAINER)
