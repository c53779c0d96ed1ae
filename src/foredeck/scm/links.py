"""Where people look at a repository, pull request, commit or user: each provider's web links.

GitHub's are its web pages (`https://github.com/ORG/REPO/...`, or a GitHub Enterprise Server's
host). The local provider has no web pages of its own, so its links are foredeck's dashboard:
the job list of a repository or an author, the history of a pull request. They end up in job
rows (`repo_link`, `link`, `commit_link`, `author_link`), webhook payloads and the dashboard.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

GITHUB_WEB_URL = "https://github.com"


def _seg(value: object) -> str:
    return quote(str(value), safe="")


def github_web_url(api_url: str) -> str:
    """The web host of a GitHub API: github.com for api.github.com (and anything that is not a
    GitHub Enterprise Server's `https://HOST/api/v3`, such as a test double), else `https://HOST`.
    """
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        parts = urlsplit(base)
        return f"{parts.scheme}://{parts.netloc}"
    return GITHUB_WEB_URL


class GitHubLinks:
    """GitHub's web pages (Prow's link shapes: `/pull/N/commits/SHA` for a pull's commit)."""

    def __init__(self, web_url: str = GITHUB_WEB_URL) -> None:
        self.web_url = web_url.rstrip("/")

    def repo(self, org: str, repo: str) -> str:
        return f"{self.web_url}/{_seg(org)}/{_seg(repo)}"

    def pull(self, org: str, repo: str, number: int) -> str:
        return f"{self.repo(org, repo)}/pull/{int(number)}"

    def commit(self, org: str, repo: str, sha: str) -> str:
        return f"{self.repo(org, repo)}/commit/{_seg(sha)}"

    def pull_commit(self, org: str, repo: str, number: int, sha: str) -> str:
        return f"{self.pull(org, repo, number)}/commits/{_seg(sha)}"

    def user(self, login: str) -> str:
        return f"{self.web_url}/{_seg(login)}"


class DashboardLinks:
    """foredeck's own pages, for an SCM without web pages (the local provider).

    A repository is its job list (`/?repo=ORG/REPO`), a user the job list of their pull
    requests (`/?author=LOGIN`), a pull request its history (`/pr-history/ORG/REPO/N`, which
    groups the runs by commit, so a pull's commit is that page too); a commit outside a pull
    request is its repository's job list.
    """

    def __init__(self, dashboard_url: str) -> None:
        self.dashboard_url = dashboard_url.rstrip("/")

    def repo(self, org: str, repo: str) -> str:
        return f"{self.dashboard_url}/?{urlencode({'repo': f'{org}/{repo}'})}"

    def pull(self, org: str, repo: str, number: int) -> str:
        return f"{self.dashboard_url}/pr-history/{_seg(org)}/{_seg(repo)}/{int(number)}"

    def commit(self, org: str, repo: str, sha: str) -> str:
        return self.repo(org, repo)

    def pull_commit(self, org: str, repo: str, number: int, sha: str) -> str:
        return self.pull(org, repo, number)

    def user(self, login: str) -> str:
        return f"{self.dashboard_url}/?{urlencode({'author': login})}"
