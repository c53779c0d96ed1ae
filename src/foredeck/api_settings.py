"""The API's and dashboard's access settings (`api.*`: the bootstrap token, roles, personal
tokens, the OIDC and GitHub logins; docs/access.md; `metrics.*`: who may read `/metrics`),
apart from `settings` (which re-exports them) to keep that module small. A login's secret
file is read at each login, so that a rotated secret is picked up without a restart."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class LoginClient(BaseModel):
    """An OAuth client registered with a login provider: its id and secret (inline or a file,
    read at each login so that a rotated file is picked up)."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, max_length=200)
    client_secret: SecretStr | None = None
    client_secret_file: str | None = None
    timeout: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _one_secret(self) -> LoginClient:
        if (self.client_secret is None) == (self.client_secret_file is None):
            raise ValueError("give client_secret or client_secret_file (one of them)")
        return self

    def secret(self) -> str:
        if self.client_secret is not None:
            return self.client_secret.get_secret_value()
        assert self.client_secret_file is not None
        return Path(self.client_secret_file).read_text().strip()


def _http_url(value: str, what: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"{what} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


class OidcLogin(LoginClient):
    """The dashboard's login through an OpenID Connect provider (docs/access.md#login)."""

    issuer: str
    """The provider's issuer URL; its `/.well-known/openid-configuration` is read at login."""
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "groups"])
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"

    @model_validator(mode="after")
    def _issuer_url(self) -> OidcLogin:
        self.issuer = _http_url(self.issuer, "api.oidc.issuer")
        if "openid" not in self.scopes:
            self.scopes = ["openid", *self.scopes]
        return self


class GitHubLogin(LoginClient):
    """The dashboard's login through a GitHub OAuth app (docs/access.md#login)."""

    web_url: str = "https://github.com"
    """Where `/login/oauth/authorize` and `/login/oauth/access_token` are (GitHub Enterprise:
    its host)."""
    api_url: str = "https://api.github.com"

    @model_validator(mode="after")
    def _urls(self) -> GitHubLogin:
        self.web_url = _http_url(self.web_url, "api.github_login.web_url")
        self.api_url = _http_url(self.api_url, "api.github_login.api_url")
        return self


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = None
    """The bootstrap admin token (`Authorization: Bearer TOKEN`; docs/access.md)."""
    roles_path: str | None = None
    """The roles file (docs/access.md), reloaded when it changes; none: all public."""
    roles_reload_interval: float = Field(default=5.0, ge=0)
    max_token_days: int = Field(default=365, ge=1, le=3650)
    anonymous_writes: bool = False
    """Let callers without a token start, rerun and abort jobs: anyone who can reach the port
    can then do so. Cross-site browser requests stay refused, and so do pages served under a
    host name (not an IP literal or `localhost`) that is not the dashboard's nor in
    `allowed_origins`: a name can be rebound to this server's address by its owner's DNS."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Origins (`https://ci.example.org`) whose pages may call mutating routes, besides the
    server's own and `reporter.dashboard_url`'s."""
    oidc: OidcLogin | None = None
    """Dashboard login through an OpenID Connect provider."""
    github_login: GitHubLogin | None = None
    """Dashboard login through a GitHub OAuth app."""
    public_url: str | None = None
    """The dashboard's address as browsers see it (`https://ci.example.org`), for the login
    callbacks' `redirect_uri`; none: the address each request came to."""


class MetricsSettings(BaseModel):
    """Who may read `/metrics` (docs/serve.md#metrics): a viewer of everything (`*`) signed in
    with a token, a scraper with the metrics token, or anyone when `public`. The probes stay
    public: the kubelet calls them without credentials."""

    model_config = ConfigDict(extra="forbid")

    public: bool = False
    token: SecretStr | None = None
    """A bearer token good for `/metrics` only (Prometheus' `authorization.credentials`)."""
    token_file: str | None = None
    """The same from a file, read at each scrape (a rotated Secret is picked up)."""

    @model_validator(mode="after")
    def _one_token(self) -> MetricsSettings:
        if self.token is not None and self.token_file is not None:
            raise ValueError("give metrics.token or metrics.token_file, not both")
        return self

    def expected_token(self) -> str | None:
        """The metrics token, or None when there is none (or its file cannot be read)."""
        if self.token is not None:
            return self.token.get_secret_value()
        if self.token_file is None:
            return None
        try:
            return Path(self.token_file).read_text().strip() or None
        except OSError:
            return None
