"""Names that could escape the root or reach git as options are refused, with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from foredeck.scm.local.client import LocalScm
from foredeck.scm.local.names import LocalScmError, login_of, pr_number
from foredeck.scm.local.repos import LocalRepos
from tests.db.fixtures import Database
from tests.kit.git import Repo
from tests.scm.local.conftest import ORG, REPO


@pytest.mark.parametrize(
    ("org", "name"),
    [("..", REPO), (ORG, ".."), ("-rf", REPO), (ORG, ".hidden"), ("a/b", REPO), (ORG, "x..y")],
)
async def test_bad_org_and_repo_names(
    sqlite_db: Database, root: Path, repo: Repo, org: str, name: str
) -> None:
    scm = LocalScm(root, sqlite_db.engine)
    with pytest.raises(LocalScmError, match=r"invalid (org|repository) ") as err:
        await scm.get_pull(org, name, 1)
    assert err.value.status == 422
    with pytest.raises(LocalScmError, match=r"invalid (org|repository) "):
        await scm.get_branch_sha(org, name, "main")
    await scm.close()


async def test_bad_numbers_and_refs(sqlite_db: Database, root: Path, repo: Repo) -> None:
    scm = LocalScm(root, sqlite_db.engine)
    for number in (0, -1):
        with pytest.raises(LocalScmError, match="invalid pull request number"):
            await scm.get_pull(ORG, REPO, number)
    with pytest.raises(LocalScmError, match="invalid ref"):
        await scm.list_commit_statuses(ORG, REPO, "-p")
    with pytest.raises(LocalScmError, match="invalid commit sha"):
        await scm.create_status(ORG, REPO, "HEAD", "success", "unit")
    await scm.close()


def test_base_branch_is_validated(root: Path) -> None:
    with pytest.raises(LocalScmError, match="invalid branch name"):
        LocalRepos(root, "--upload-pack=x")


def test_pr_branch_rule() -> None:
    assert [pr_number(b) for b in ("pr/1", "pr/42", "pr/042", "pr/7-fix", "pr/", "pr/x")] == [
        1,
        42,
        None,
        None,
        None,
        None,
    ]


def test_login_of_commit_author() -> None:
    assert login_of("alice@example.com", "Alice A") == "alice"
    assert login_of("first.last+tag@x", "F L") == "first-last-tag"
    assert login_of("", "Jane Doe") == "Jane-Doe"


def test_listing_skips_what_is_not_a_repository(root: Path, repo: Repo) -> None:
    (root / ORG / "plain-dir").mkdir()
    (root / ".hidden" / "x").mkdir(parents=True)
    (root / "README").write_text("not an org\n")
    assert LocalRepos(root).list_repos() == [(ORG, REPO)]
