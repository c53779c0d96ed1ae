"""`GitHubProvider`: GitHub (or a GitHub Enterprise Server) as foredeck's SCM."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from foredeck.scm.github import GitHubClient, client_from_settings
from foredeck.scm.github_auth import auth_from_settings
from foredeck.scm.links import GitHubLinks, github_web_url
from foredeck.scm.provider import ScmClient, UserComments, Watcher
from foredeck.settings import GitHubSettings

PULL_REF_TEMPLATE = "refs/pull/{number}/head"
"""GitHub's fetchable ref of a pull request's head."""


class GitHubProvider:
    """Events come by webhook; users comment on GitHub; links are GitHub's web pages."""

    kind = "github"
    pull_ref = PULL_REF_TEMPLATE

    def __init__(self, settings: GitHubSettings, *, bot_login: str | None = None) -> None:
        self.settings = settings
        self.bot_login = bot_login
        self.links = GitHubLinks(github_web_url(settings.base_url))

    def clone_uri(self, org: str, repo: str) -> str:
        return f"{self.links.repo(org, repo)}.git"

    def client_factory(self) -> Callable[[], ScmClient]:
        auth_from_settings(self.settings)  # unusable credentials fail now, not on first use
        settings = self.settings

        def new_client() -> GitHubClient:
            return client_from_settings(settings)

        return new_client

    def watcher(
        self,
        *,
        on_logged: Callable[[], None] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> Watcher | None:
        return None

    def user_comments(self) -> UserComments | None:
        return None
