"""The trigger plugin's settings: `plugin_config.trigger` in the global settings file."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from foredeck.jobs import GITHUB_PULL_REF
from foredeck.scm.inrepo import InRepoOptions, RepoOptions

__all__ = ["RepoOptions", "TriggerConfig"]


class TriggerConfig(InRepoOptions):
    """Who may start jobs, where in-repo config is read from (`InRepoOptions`, shared with
    Tide), and how to reach the repos."""

    model_config = ConfigDict(extra="forbid")

    trusted_orgs: list[str] = Field(default_factory=list)
    """Members of these organisations are trusted in every repository, besides each repository's
    own organisation members and collaborators."""
    only_org_members: bool = False
    """Prow's `only_org_members`: do not trust repository collaborators who are not members."""
    trusted_apps: list[str] = Field(default_factory=list)
    """GitHub App slugs whose bot users (`slug[bot]`) are trusted."""
    bot_login: str | None = None
    """The login foredeck acts as. Its own comments are ignored, it is trusted, and the
    `ok-to-test` label it adds for `/ok-to-test` does not start the jobs a second time."""
    join_org_url: str | None = None
    """Link in the needs-ok-to-test message; default: the organisation's people page."""
    web_url: str = "https://github.com"
    """Where people look at GitHub (for links in comments)."""
    pull_ref: str = GITHUB_PULL_REF
    """The fetchable ref of a pull request's head: GitHub's, or `refs/heads/pr/{number}` for
    the local SCM provider (set automatically there)."""

    config_reload_interval: float = Field(default=5.0, ge=0)
    """Seconds between checks of the central job config files for changes (0: every event)."""

    def orgs_to_trust(self, org: str) -> list[str]:
        """The repository's organisation first, then the configured ones (no repeats)."""
        return list(dict.fromkeys([org, *self.trusted_orgs]))
