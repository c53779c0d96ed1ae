"""The GitHub double's OAuth web flow and the signed-in user's endpoints: what the dashboard's
GitHub login needs (docs/access.md#login).

`GET /user` and `GET /user/teams` are REST operations, checked against the OpenAPI description
like every other. The web flow is not in that description: `GET /login/oauth/authorize` and
`POST /login/oauth/access_token` are served as GitHub documents them
(https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps): the
authorize page, for the user signed in to "github.com" in the test's browser (`sign_in_browser`),
approves at once and redirects to `redirect_uri?code=...&state=...`; the token endpoint takes
`client_id`, `client_secret`, `code` and `redirect_uri` (form or JSON), answers JSON when asked
(`Accept: application/json`), and reports a bad code with **200** and
`{"error": "bad_verification_code", ...}`, as GitHub does. A code is single-use and lives 10 min.

PKCE as GitHub documents it (changelog 2025-07-14, "generating a user access token"): the
authorize page takes `code_challenge` (43 characters) and `code_challenge_method`, S256 only,
and a code issued with a challenge is exchanged only with the `code_verifier` whose S256 is that
challenge. GitHub does not document the answer to a wrong or missing verifier; the double gives
the answer it documents for a code that "doesn't match what you received in the first request
for authorization": `bad_verification_code`. A malformed challenge or another method is a 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from tests.doubles.github_state import HTML_BASE, JsonBuilder, TokenState, UserState, iso, node_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tests.doubles.github_api import Reply, _Ctx

CODE_SECONDS = 600
OAUTH_DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"


@dataclass
class OAuthCode:
    login: str
    client_id: str
    redirect_uri: str
    expires_at: float
    challenge: str | None = None


@dataclass
class TeamState:
    org: str
    slug: str
    id: int
    members: set[str] = field(default_factory=set)


Answer = tuple[int, bytes, dict[str, str]]


class OAuthOps:
    """Mixed into `GitHubDouble`: OAuth apps, the browser's GitHub user, org teams."""

    oauth_apps: dict[str, str]
    oauth_codes: dict[str, OAuthCode]
    browser_login: str | None
    teams: dict[tuple[str, str], TeamState]

    if TYPE_CHECKING:  # what the mixin uses of `GitHubDouble`
        clock: Callable[[], float]
        url: str
        users: dict[str, UserState]
        org_members: dict[str, set[str]]
        tokens: dict[str, TokenState]

        def user(self, login: str, *, type: str | None = None) -> UserState: ...
        def add_org(self, org: str, *, members: Iterable[str] = ()) -> None: ...
        def add_org_member(self, org: str, login: str) -> None: ...
        def _next_id(self) -> int: ...
        @property
        def _json(self) -> JsonBuilder: ...

    def _init_oauth(self) -> None:
        self.oauth_apps = {}
        self.oauth_codes = {}
        self.browser_login = None
        self.teams = {}

    # -- seeding ------------------------------------------------------------------------------

    def add_oauth_app(self, client_id: str, client_secret: str) -> None:
        self.oauth_apps[client_id] = client_secret

    def sign_in_browser(self, login: str | None) -> None:
        """Who is signed in to github.com when a browser reaches the authorize page."""
        if login is not None:
            self.user(login)
        self.browser_login = login

    def add_team(self, org: str, slug: str, *, members: list[str]) -> None:
        if org not in self.org_members:
            self.add_org(org)
        team = self.teams.setdefault((org, slug), TeamState(org, slug, self._next_id()))
        for login in members:
            self.add_org_member(org, login)
            team.members.add(login)

    # -- the web flow (not REST) ----------------------------------------------------------------

    def oauth_web(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        if method == "GET" and path == "/login/oauth/authorize":
            return self._authorize(dict(parse_qsl(query)))
        if method == "POST" and path == "/login/oauth/access_token":
            return self._access_token(headers, body)
        return 404, b"Not Found", {"content-type": "text/plain"}

    def _authorize(self, params: dict[str, str]) -> Answer:
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if client_id not in self.oauth_apps or not redirect_uri:
            return 404, b"unknown OAuth app", {"content-type": "text/plain"}
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if (method is not None or challenge is not None) and (
            method != "S256" or challenge is None or len(challenge) != 43
        ):
            return (
                400,
                b"PKCE: a 43-character code_challenge, S256 only",
                {"content-type": "text/plain"},
            )
        if self.browser_login is None:
            return 401, b"sign in to GitHub first", {"content-type": "text/plain"}
        code = secrets.token_hex(10)
        self.oauth_codes[code] = OAuthCode(
            self.browser_login, client_id, redirect_uri, self.clock() + CODE_SECONDS, challenge
        )
        back = {"code": code, **({"state": params["state"]} if "state" in params else {})}
        sep = "&" if "?" in redirect_uri else "?"
        return 302, b"", {"location": f"{redirect_uri}{sep}{urlencode(back)}"}

    def _access_token(self, headers: dict[str, str], body: bytes) -> Answer:
        kind = headers.get("content-type", "").split(";")[0].strip()
        try:
            form = (
                json.loads(body) if kind == "application/json" else dict(parse_qsl(body.decode()))
            )
        except (ValueError, UnicodeDecodeError):
            return 400, b"malformed body", {"content-type": "text/plain"}
        client_id = str(form.get("client_id", ""))
        if self.oauth_apps.get(client_id) != form.get("client_secret"):
            answer = _oauth_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            )
        else:
            code = self.oauth_codes.pop(str(form.get("code", "")), None)
            if (
                code is None
                or code.client_id != client_id
                or self.clock() >= code.expires_at
                or not _verifier_matches(code.challenge, form.get("code_verifier"))
            ):
                answer = _oauth_error(
                    "bad_verification_code", "The code passed is incorrect or expired."
                )
            elif form.get("redirect_uri", code.redirect_uri) != code.redirect_uri:
                answer = _oauth_error(
                    "redirect_uri_mismatch",
                    "The redirect_uri MUST match the registered callback URL for this application.",
                )
            else:
                token = "gho_" + secrets.token_hex(18)
                self.tokens[token] = TokenState(code.login)
                answer = {"access_token": token, "scope": "read:org", "token_type": "bearer"}
        if "application/json" in headers.get("accept", ""):
            return (
                200,
                json.dumps(answer).encode(),
                {"content-type": "application/json; charset=utf-8"},
            )
        return (
            200,
            urlencode(answer).encode(),
            {"content-type": "application/x-www-form-urlencoded"},
        )

    # -- REST operations ------------------------------------------------------------------------

    def _op_users_get_authenticated(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Reply

        out = self._json.user(ctx.login)
        state = self.users[ctx.login]
        out.update(
            {
                "user_view_type": "private",
                "name": ctx.login,
                "company": None,
                "blog": "",
                "location": None,
                "email": None,
                "hireable": None,
                "bio": None,
                "public_repos": 0,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": iso(0),
                "updated_at": iso(0),
                "private_gists": 0,
                "total_private_repos": 0,
                "owned_private_repos": 0,
                "disk_usage": 0,
                "collaborators": 0,
                "two_factor_authentication": True,
            }
        )
        assert out["id"] == state.id
        return Reply(200, out)

    def _op_teams_list_for_authenticated_user(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Reply

        found = [t for t in self.teams.values() if ctx.login in t.members]
        found.sort(key=lambda t: (t.org, t.slug))
        return Reply(200, [self._team_json(t) for t in found], paginate=True)

    def _team_json(self, team: TeamState) -> dict[str, Any]:
        org = self.users[team.org]
        api = f"{self.url}/orgs/{team.org}"
        team_api = f"{self.url}/organizations/{org.id}/team/{team.id}"
        return {
            "id": team.id,
            "node_id": node_id("T", team.id),
            "url": team_api,
            "html_url": f"{HTML_BASE}/orgs/{team.org}/teams/{team.slug}",
            "name": team.slug,
            "slug": team.slug,
            "description": None,
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "members_url": f"{team_api}/members{{/member}}",
            "repositories_url": f"{team_api}/repos",
            "parent": None,
            "members_count": len(team.members),
            "repos_count": 0,
            "created_at": iso(0),
            "updated_at": iso(0),
            "type": "organization",
            "organization": {
                "login": team.org,
                "id": org.id,
                "node_id": node_id("O", org.id),
                "url": api,
                "repos_url": f"{api}/repos",
                "events_url": f"{api}/events",
                "hooks_url": f"{api}/hooks",
                "issues_url": f"{api}/issues",
                "members_url": f"{api}/members{{/member}}",
                "public_members_url": f"{api}/public_members{{/member}}",
                "avatar_url": f"https://avatars.githubusercontent.com/u/{org.id}?v=4",
                "description": None,
                "html_url": f"{HTML_BASE}/{team.org}",
                "has_organization_projects": True,
                "has_repository_projects": True,
                "public_repos": 0,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": iso(0),
                "updated_at": iso(0),
                "archived_at": None,
                "type": "Organization",
            },
        }


def _oauth_error(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description, "error_uri": OAUTH_DOCS}


def _verifier_matches(challenge: str | None, verifier: object) -> bool:
    """RFC 7636 4.6 (S256): BASE64URL(SHA256(verifier)) without padding equals the challenge."""
    if challenge is None:
        return True
    if not isinstance(verifier, str) or not 43 <= len(verifier) <= 128:
        return False
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(computed, challenge)
