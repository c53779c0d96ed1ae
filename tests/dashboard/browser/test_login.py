"""Logging in to the dashboard in a real browser: through a real OpenID Connect provider
(panva's oidc-provider on 127.0.0.1, `tests/kit/oidc_provider.py`) and through GitHub OAuth
(the GitHub double). Roles come from the users' OIDC groups and GitHub teams: a viewer sees the
jobs but no rerun button and gets 403 on a rerun, an editor reruns, an admin makes and revokes
tokens, and signing out ends the session (its cookie is worth nothing afterwards)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from foredeck.access.gate import CSRF_COOKIE, SESSION_COOKIE
from tests.dashboard.browser.conftest import Shoot
from tests.dashboard.browser.harness import Server
from tests.doubles.github_api import GitHubDouble, assert_no_violations
from tests.kit.oidc_provider import OidcProvider
from tests.kit.server import free_port

if TYPE_CHECKING:
    from playwright._impl._api_structures import SetCookieParam

ROLES = """\
anonymous:
  "*": none
grants:
- role: admin
  repos: ["*"]
  users: ["oidc:alice"]  # GitHub login is configured too: OIDC users are `oidc:<name>`
- role: editor
  repos: ["*"]
  groups: [ci-editors]
  teams: [acme/devs]
- role: viewer
  repos: ["*"]
  groups: [ci-viewers]
- role: admin
  repos: ["*"]
  users: [olga]  # a GitHub login
"""
USERS = {"vera": ["ci-viewers"], "eddie": ["ci-editors"], "alice": [], "olga": []}
CLIENT_ID, CLIENT_SECRET = "foredeck-dashboard", "browser-test-oidc-secret"
GH_CLIENT_ID, GH_SECRET = "gh-dashboard", "browser-test-github-secret"


@dataclass(kw_only=True)
class LoginServer(Server):
    """The browser tests' server, with a roles file and both logins configured."""

    oidc_port: int = 0
    github_url: str = ""

    def settings(self) -> dict[str, Any]:
        (self.workdir / "roles.yaml").write_text(ROLES)
        out = super().settings()
        out["api"] = {
            **out["api"],
            "roles_path": "roles.yaml",
            "oidc": {
                "issuer": f"http://127.0.0.1:{self.oidc_port}",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
            "github_login": {
                "client_id": GH_CLIENT_ID,
                "client_secret": GH_SECRET,
                "web_url": self.github_url,
                "api_url": self.github_url,
            },
        }
        return out

    def job(self, job_id: int) -> dict[str, Any]:
        """Jobs are private here: read with the bootstrap token."""
        auth = {"Authorization": f"Bearer {self.api_token}"}
        r = httpx.get(f"{self.url}/api/jobs/{job_id}", headers=auth, timeout=10)
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found


@dataclass
class World:
    server: LoginServer
    provider: OidcProvider
    job_id: int


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubDouble]:
    double = GitHubDouble().start()
    double.add_oauth_app(GH_CLIENT_ID, GH_SECRET)
    double.add_team("acme", "devs", members=["gina"])
    double.sign_in_browser("gina")
    try:
        yield double
    finally:
        double.stop()
    assert_no_violations(double)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, browser: Browser, github: GitHubDouble
) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("browser-login")
    port = free_port()
    server = LoginServer(workdir=workdir, oidc_port=port, github_url=github.url)
    provider = OidcProvider(port, "", CLIENT_ID, CLIENT_SECRET, USERS, workdir)
    try:
        server.start()
        provider.redirect_uri = f"{server.url}/login/oidc/callback"
        provider.start()
        job = server.start_job("pipeline-job")
        server.final(int(job["id"]))
        yield World(server, provider, int(job["id"]))
    finally:
        provider.stop()
        server.stop()
    assert server.leftovers() == [], "processes of the server left running"


@pytest.fixture
def tab(browser: Browser, world: World) -> Iterator[Page]:
    context = browser.new_context(
        base_url=world.server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def oidc_login(page: Page, user: str) -> None:
    """Sign in on the provider's own pages: its login form (any password), then consent."""
    page.goto("/login")
    page.locator("#login-oidc").click()
    page.locator("input[name=login]").fill(user)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]", has_text="Continue").click()
    expect(page.locator("#signed-in-as")).to_have_text(f"oidc:{user}")


def rerun_by_api(page: Page, job_id: int) -> int:
    """A rerun through the API from the page's session (with its CSRF token)."""
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == CSRF_COOKIE)
    answer = page.request.post(f"/api/jobs/{job_id}/rerun", headers={"X-CSRF-Token": csrf})
    return answer.status


def test_a_viewer_sees_jobs_but_may_not_rerun(tab: Page, world: World, shoot: Shoot) -> None:
    tab.goto("/")
    expect(tab.locator("#jobs")).not_to_contain_text("pipeline-job")  # private to nobody
    oidc_login(tab, "vera")
    expect(tab.locator("#jobs")).to_contain_text("pipeline-job")
    tab.goto(f"/view/{world.job_id}")
    expect(tab.locator("#run-state")).to_have_text("success")
    expect(tab.locator("button[data-action=rerun]")).to_have_count(0)
    assert rerun_by_api(tab, world.job_id) == 403
    shoot(tab, "login-oidc-viewer")


def test_an_editor_reruns(tab: Page, world: World, shoot: Shoot) -> None:
    oidc_login(tab, "eddie")
    tab.goto(f"/view/{world.job_id}")
    tab.locator("button[data-action=rerun]").click()
    expect(tab).to_have_url(re.compile(rf"/view/(?!{world.job_id}$)\d+$"))
    new_id = int(tab.url.rsplit("/", 1)[1])
    assert world.server.final(new_id)["state"] == "success"
    shoot(tab, "login-oidc-editor-rerun")


def test_an_admin_makes_and_revokes_a_token(tab: Page, world: World, shoot: Shoot) -> None:
    oidc_login(tab, "alice")
    tab.locator("#tokens-link").click()
    tab.locator("#token-form input[name=name]").fill("laptop")
    tab.locator("#token-form select[name=role]").select_option("admin")
    tab.locator("#token-form button[type=submit]").click()
    expect(tab.locator("#new-token-value")).to_contain_text("fdt_")
    row = tab.locator("#tokens tr", has_text="laptop")
    expect(row).to_contain_text("oidc:alice")
    tab.goto("/tokens")
    tab.locator("#tokens tr", has_text="laptop").locator("button", has_text="Revoke").click()
    expect(tab.locator("#tokens tr", has_text="laptop")).to_contain_text("revoked")
    shoot(tab, "login-oidc-admin-tokens")


def test_signing_out_ends_the_session(
    tab: Page, browser: Browser, world: World, shoot: Shoot
) -> None:
    oidc_login(tab, "vera")
    session = next(c for c in tab.context.cookies() if c["name"] == SESSION_COOKIE)
    tab.locator("form.logout button").click()
    expect(tab.locator("#sign-in")).to_be_visible()
    expect(tab.locator("#jobs")).not_to_contain_text("pipeline-job")
    # The cookie a thief copied before the logout opens nothing either.
    other = browser.new_context(base_url=world.server.url)
    try:
        # Playwright takes back what `cookies()` gives, but types its fields Optional there.
        other.add_cookies([cast("SetCookieParam", session)])
        page = other.new_page()
        page.goto("/")
        expect(page.locator("#sign-in")).to_be_visible()
        assert page.request.get("/tokens").status == 401
    finally:
        other.close()
    shoot(tab, "login-oidc-signed-out")


def test_github_login_gives_the_teams_role(tab: Page, world: World, shoot: Shoot) -> None:
    tab.goto("/login")
    tab.locator("#login-github").click()
    expect(tab.locator("#signed-in-as")).to_have_text("gina")
    tab.goto(f"/view/{world.job_id}")
    expect(tab.locator("button[data-action=rerun]")).to_have_count(1)  # acme/devs: editor
    shoot(tab, "login-github-editor")


def test_an_oidc_user_named_like_a_github_admin_is_not_that_admin(tab: Page, world: World) -> None:
    """With GitHub login configured too, an OIDC user is `oidc:<name>`: one who is `olga` at
    the provider does not get the grants of `olga`, the roles file's GitHub login."""
    oidc_login(tab, "olga")
    assert rerun_by_api(tab, world.job_id) == 403
