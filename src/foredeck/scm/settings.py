"""How foredeck reaches the GitHub API: endpoint and credentials, as part of the global settings.

Only pydantic is imported at module level: `foredeck.settings` imports this module, and loading
settings must not pull in the HTTP client or the JWT and crypto libraries. Secrets are
`SecretStr` (never in a repr or a log line); secret *files* are read only when a client is built,
so that a rotated token file is picked up by the next client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

if TYPE_CHECKING:
    from foredeck.scm.github import GitHubClient
    from foredeck.scm.github_auth import AppAuth, TokenAuth

DEFAULT_API_URL = "https://api.github.com"


class GitHubSettings(BaseModel):
    """A token (inline or in a file) or a GitHub App (id, key file, optional installation)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = DEFAULT_API_URL
    """api.github.com, a GitHub Enterprise Server's `https://HOST/api/v3`, or a test double."""
    token: SecretStr | None = None
    token_file: str | None = None
    app_id: str | None = None
    private_key_file: str | None = None
    installation_id: int | None = Field(default=None, ge=1)
    timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _one_kind_of_credentials(self) -> GitHubSettings:
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError(f"github.base_url must be an http(s) URL, got {self.base_url!r}")
        if self.token is not None and self.token_file is not None:
            raise ValueError("github: give token or token_file, not both")
        has_token = self.token is not None or self.token_file is not None
        has_app = self.app_id is not None or self.private_key_file is not None
        if has_token and has_app:
            raise ValueError("github: give a token or a GitHub App (app_id, private_key_file)")
        if has_app and (self.app_id is None or self.private_key_file is None):
            raise ValueError("github: a GitHub App needs both app_id and private_key_file")
        if self.installation_id is not None and not has_app:
            raise ValueError("github: installation_id is only meaningful with a GitHub App")
        return self

    @property
    def configured(self) -> bool:
        """Whether any credentials are set (a client can be built)."""
        return any(v is not None for v in (self.token, self.token_file, self.app_id))

    def auth(self) -> TokenAuth | AppAuth:
        """The credentials, reading secret files now; `ValueError` names what is missing."""
        from foredeck.scm.github_auth import TokenAuth, auth_from_files

        if self.token is not None:
            return TokenAuth(self.token.get_secret_value().strip())
        if self.token_file is not None:
            return auth_from_files(token_path=self.token_file)
        if self.app_id is not None:
            return auth_from_files(
                app_id=self.app_id,
                private_key_path=self.private_key_file,
                installation_id=self.installation_id,
            )
        raise ValueError(
            "github: no credentials configured (set github.token, github.token_file, or "
            "github.app_id with github.private_key_file)"
        )

    def client(self, **kwargs: Any) -> GitHubClient:
        """A new `GitHubClient`; create it on the event loop that will use it."""
        from foredeck.scm.github import GitHubClient

        kwargs.setdefault("timeout", self.timeout)
        return GitHubClient(self.auth(), base_url=self.base_url, **kwargs)
