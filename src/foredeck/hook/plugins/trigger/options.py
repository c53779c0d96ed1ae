"""The trigger plugin's settings: `plugin_config.trigger` in the global settings file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from foredeck.jobs import GITHUB_PULL_REF
from foredeck.types.scoped import per_repo

DEFAULT_CLONE_URI = "https://github.com/{org}/{repo}.git"


class RepoOptions(BaseModel):
    """Options for one organisation (`org`) or repository (`org/repo`); unset means inherit."""

    model_config = ConfigDict(extra="forbid")

    in_repo_config: bool | None = None
    """Read `.foredeck.yaml` / `.foredeck/` from the tested tree (merged PR or pushed commit)."""


class TriggerConfig(BaseModel):
    """Who may start jobs, where in-repo config is read from, and how to reach the repos."""

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

    in_repo_config: bool = False
    """Default for every repository; `repos` overrides it per organisation or repository."""
    repos: dict[str, RepoOptions] = Field(default_factory=dict)
    cache_dir: str = ".foredeck/trigger"
    """Git mirrors (`mirrors/`) and scratch checkouts (`work/`) for in-repo config."""
    clone_uri: str = DEFAULT_CLONE_URI
    """Template with `{org}` and `{repo}`. Left at this default, the SCM provider says
    (`use_clone_uri`): GitHub's URL, or the local provider's repository on disk."""
    clone_uris: dict[str, str] = Field(default_factory=dict)
    """`org/repo` -> clone URI or absolute local path, overriding `clone_uri`."""
    checkout_timeout: float = Field(default=300.0, gt=0)
    config_reload_interval: float = Field(default=5.0, ge=0)
    """Seconds between checks of the central job config files for changes (0: every event)."""
    _provider_clone_uri: Callable[[str, str], str] | None = PrivateAttr(default=None)

    @field_validator("clone_uri")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format(org="o", repo="r")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"clone_uri {value!r} may only use the fields {{org}} and {{repo}}: {exc}"
            ) from None
        return value

    @field_validator("repos", "clone_uris")
    @classmethod
    def _keys(cls, value: dict[str, object]) -> dict[str, object]:
        for key in value:
            if not key or key.count("/") > 1 or key.startswith("/") or key.endswith("/"):
                raise ValueError(f"key {key!r} must be 'org' or 'org/repo'")
        return value

    def in_repo_enabled(self, org: str, repo: str) -> bool:
        """The most specific setting wins: `org/repo`, then `org`, then the default."""
        found = per_repo(self.repos, org, repo, lambda options: options.in_repo_config)
        return self.in_repo_config if found is None else found

    def use_clone_uri(self, provider: Callable[[str, str], str]) -> None:
        """Where the SCM provider clones from, used while `clone_uri` is the default."""
        self._provider_clone_uri = provider

    def clone_uri_for(self, org: str, repo: str) -> str:
        wanted = f"{org}/{repo}".lower()
        for key, uri in self.clone_uris.items():
            if key.lower() == wanted:
                return uri
        if self._provider_clone_uri is not None and self.clone_uri == DEFAULT_CLONE_URI:
            return self._provider_clone_uri(org, repo)
        return self.clone_uri.format(org=org, repo=repo)

    def orgs_to_trust(self, org: str) -> list[str]:
        """The repository's organisation first, then the configured ones (no repeats)."""
        return list(dict.fromkeys([org, *self.trusted_orgs]))

    @property
    def mirror_root(self) -> Path:
        return Path(self.cache_dir) / "mirrors"

    @property
    def work_root(self) -> Path:
        return Path(self.cache_dir) / "work"
