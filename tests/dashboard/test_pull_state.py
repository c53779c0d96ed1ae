"""A pull request's page with the `local` SCM provider: its commit statuses and foredeck's report
comment, written by the provider's real client into foredeck's database (issue #19, item 5)."""

from __future__ import annotations

import asyncio
import html
import re
import subprocess
from pathlib import Path

from foredeck.scm.local.client import LocalScm
from foredeck.scm.statuses import NewStatus
from tests.dashboard.helpers import XSS, client_for, make_job
from tests.db.fixtures import Database

REPORT = (
    "<!-- foredeck report -->\n| Test name | Commit | Rerun command |\n"
    "| unit | 2222 | `/test unit` |"
)


def two_commits(repo: Path) -> tuple[str, str]:
    """A repository with two commits (statuses are set on commits that exist)."""

    def git(*args: str) -> str:
        who = ["-c", "user.name=alice", "-c", "user.email=alice@example.com"]
        done = subprocess.run(
            ["git", *who, "-C", str(repo), *args], check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    repo.mkdir(parents=True)
    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "one")
    old = git("rev-parse", "HEAD")
    git("commit", "-q", "--allow-empty", "-m", "two")
    return old, git("rev-parse", "HEAD")


async def write(scm: LocalScm, old: str, new: str) -> None:
    await scm.set_status(
        "acme", "widget", new, NewStatus("failure", "unit", XSS, "https://ci.example/jobs/2")
    )
    await scm.set_status(
        "acme", "widget", new, NewStatus("success", "lint", "Job succeeded.", None)
    )
    await scm.set_status(
        "acme", "widget", old, NewStatus("success", "unit", "Job succeeded.", None)
    )
    await scm.set_status(
        "acme", "widget", new, NewStatus("pending", "evil", "x", "javascript:alert(1)")
    )
    await scm.add_comment("acme", "widget", 7, "/test unit", "alice")
    await scm.create_comment("acme", "widget", 7, REPORT)
    # A user quoting the marker does not make a report; another pull request's comment is not shown.
    await scm.add_comment("acme", "widget", 7, f"quoting <!-- foredeck report --> {XSS}", "mallory")
    await scm.add_comment("acme", "widget", 8, "elsewhere", "bob")
    await scm.close()


def test_pr_page_shows_commit_statuses_and_the_report_comment(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "repos"
    old, new = two_commits(root / "acme" / "widget")
    asyncio.run(write(LocalScm(root, db.engine, bot_login="ci-bot"), old, new))
    make_job(db, "unit", sha=old)
    make_job(db, "unit", sha=new, state="failure")
    scm = {"provider": "local", "local_root": str(root), "bot_login": "ci-bot"}
    page = client_for(db, scm=scm).get("/pr-history/acme/widget/7")
    assert page.status_code == 200
    groups = dict(
        re.findall(
            r'<section class="commit-group" data-sha="(\w+)">(.*?)</section>', page.text, re.S
        )
    )
    contexts = re.findall(r'data-context="(\w+)" data-state="(\w+)"', groups[new])
    assert contexts == [("evil", "pending"), ("lint", "success"), ("unit", "failure")]
    assert re.findall(r'data-context="(\w+)" data-state="(\w+)"', groups[old]) == [
        ("unit", "success")
    ]
    assert '<a href="https://ci.example/jobs/2" rel="noopener noreferrer">unit</a>' in groups[new]
    assert "javascript:" not in page.text  # an unsafe target is shown without its link
    comments = re.findall(
        r'<article class="pr-comment( report-comment)?" data-comment-id="\d+">(.*?)</article>',
        page.text,
        re.S,
    )
    authors = [re.findall(r"<strong>(.*?)</strong>", body) for _, body in comments]
    assert [
        (bool(report), *author) for (report, _), author in zip(comments, authors, strict=True)
    ] == [
        (False, "alice"),
        (True, "ci-bot"),
        (False, "mallory"),
    ]
    report = comments[1][1]
    assert "| unit | 2222 | `/test unit` |" in html.unescape(report) and "&lt;!--" not in report
    assert "elsewhere" not in page.text
    assert XSS not in page.text and "&lt;script&gt;alert(" in page.text


def test_pr_page_without_local_state_has_no_statuses_or_comments(db: Database) -> None:
    make_job(db, "unit", sha="2" * 40)
    page = client_for(db).get("/pr-history/acme/widget/7").text
    assert "commit-statuses" not in page and "pr-comments" not in page
