"""Every dashboard route, tried by nobody, a signed-in user without a role on acme, and each
role (signed in through the session cookie; forms with the CSRF token).

`TABLE` maps each route to the lowest caller that may use it and its answer then; below it,
the answer is `refused` (401 or 403 for a page, 404 for a list that hides private jobs). The
route list is walked from the dashboard's router: a new page fails here until it is in the
table. The jobs are in the private org acme; `oss` is public.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from foredeck import dashboard
from foredeck.access.gate import CSRF_COOKIE, SESSION_COOKIE
from foredeck.db import Job, session_factory
from foredeck.db.testresults import CaseOutcome, record_run
from foredeck.serve.app import create_service_app
from tests.api.access import ROLES, USERS, access_settings, make_token
from tests.api.helpers import TOKEN, presubmit, seed
from tests.db.fixtures import Database

RANK = {"anonymous": 0, "user": 1, "viewer": 2, "editor": 3, "admin": 4}
CALLERS = {"anonymous": "anonymous", "stranger": "user", **{r: r for r in USERS}}
"""Caller -> its rank: `stranger` is signed in with no role on acme (public `oss` only)."""
CSRF = "c" * 43


@dataclass
class World:
    client: TestClient
    job_id: int


Request = Callable[[World, str], tuple[str, dict[str, str] | None]]
"""(url, form fields or None) of a call by the caller named."""


@dataclass(frozen=True)
class Route:
    minimum: str
    ok: int
    request: Request
    refused: tuple[int, int] = (401, 403)
    """The answer to nobody, and to a signed-in caller below `minimum`."""


def at(url: str, form: dict[str, str] | None = None) -> Request:
    return lambda world, _: (url.format(job=world.job_id), form)


def revoke_own(world: World, caller: str) -> tuple[str, dict[str, str]]:
    token_id, _ = make_token(world.client, USERS.get(caller, "sam"), "viewer")
    return f"/tokens/{token_id}/revoke", {"csrf_token": CSRF}


HIDDEN = (404, 404)
TABLE: dict[str, Route] = {
    "GET /": Route("anonymous", 200, at("/")),
    "GET /dashboard/rows.json": Route("anonymous", 200, at("/dashboard/rows.json")),
    "GET /job-history/{job:path}": Route("viewer", 200, at("/job-history/unit"), HIDDEN),
    "GET /pr-history/{org}/{repo}/{number}": Route(
        "viewer", 200, at("/pr-history/acme/widget/7"), HIDDEN
    ),
    "GET /badge.svg": Route("anonymous", 200, at("/badge.svg?job=unit")),
    # Tide's pools: the page for everyone, each pool only for viewers of its repository
    # (tests/tide/test_pool_page.py)
    "GET /tide": Route("anonymous", 200, at("/tide")),
    "GET /job-tests/{job:path}": Route("viewer", 200, at("/job-tests/unit"), HIDDEN),
    "GET /testgrid": Route("anonymous", 200, at("/testgrid")),
    "GET /testgrid/{dashboard:path}": Route("viewer", 200, at("/testgrid/sig-unit"), HIDDEN),
    "GET /flakes": Route("anonymous", 200, at("/flakes")),
    "GET /jobs/{job_id}": Route("anonymous", 307, at("/jobs/{job}")),
    "GET /jobs": Route("anonymous", 307, at("/jobs?org=acme&repo=widget&pull=7")),
    "GET /view/{job_id}": Route("viewer", 200, at("/view/{job}")),
    "GET /view/{job_id}/log": Route("viewer", 404, at("/view/{job}/log")),  # no log yet
    "GET /view/{job_id}/task/{task}": Route("viewer", 404, at("/view/{job}/task/t")),
    "GET /view/{job_id}/task/{task}/log": Route("viewer", 404, at("/view/{job}/task/t/log")),
    "GET /view/{job_id}/artifacts": Route("viewer", 404, at("/view/{job}/artifacts")),
    "GET /view/{job_id}/artifacts/{path:path}": Route(
        "viewer", 404, at("/view/{job}/artifacts/x.txt")
    ),
    "GET /static/{name:path}": Route("anonymous", 200, at("/static/dashboard.css")),
    "GET /login": Route("anonymous", 200, at("/login")),
    "POST /login": Route("anonymous", 303, at("/login", {"token": TOKEN, "csrf_token": CSRF})),
    "POST /logout": Route("anonymous", 303, at("/logout", {"csrf_token": CSRF})),
    # Logins not configured here: 404 for everyone (tests/dashboard/test_login.py has them).
    "GET /login/oidc": Route("anonymous", 404, at("/login/oidc")),
    "GET /login/oidc/callback": Route("anonymous", 404, at("/login/oidc/callback")),
    "GET /login/github": Route("anonymous", 404, at("/login/github")),
    "GET /login/github/callback": Route("anonymous", 404, at("/login/github/callback")),
    "GET /tokens": Route("user", 200, at("/tokens")),
    "POST /tokens": Route(
        "user", 201, at("/tokens", {"name": "n", "role": "viewer", "csrf_token": CSRF})
    ),
    "POST /tokens/{token_id}/revoke": Route("user", 303, revoke_own),
}


def record_run_on(db: Database, job_id: int, config: dict[str, Any]) -> None:
    """The job finished with one test and a TestGrid dashboard, as the controller records it."""
    with session_factory(db.engine).begin() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.job_config = config
        s.flush()
        record_run(s, job_id, [CaseOutcome("unit.test_it", "passed")])


def page_routes(router: Any) -> Iterator[APIRoute]:
    """The routes of `router` and of the routers it includes."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
        else:
            yield from page_routes(route.original_router)


def expected(route: Route, caller: str) -> int:
    if RANK[CALLERS[caller]] >= RANK[route.minimum]:
        return route.ok
    return route.refused[0] if caller == "anonymous" else route.refused[1]


def test_every_page_answers_each_caller_as_the_table_says(db: Database, tmp_path: Path) -> None:
    routes = {
        f"{method} {route.path}"
        for route in page_routes(dashboard.router)
        for method in route.methods or ()  # an APIRoute has them (GET by default)
        if method != "HEAD"
    }
    assert routes == set(TABLE), f"pages not in the table: {sorted(routes - set(TABLE))}"
    roles = ROLES.replace('"*": none', '"*": none\n  oss: read')
    with TestClient(create_service_app(access_settings(db, tmp_path, roles), db.engine)) as c:
        world = World(c, seed(db, presubmit("unit", pr=7))[0])
        record_run_on(db, world.job_id, {"annotations": {"testgrid-dashboards": "sig-unit"}})
        sessions = {"anonymous": None, "stranger": make_token(c, "sam", "viewer")[1]}
        sessions |= {role: make_token(c, user, role)[1] for role, user in USERS.items()}
        wrong: list[str] = []
        for name, route in sorted(TABLE.items()):
            method = name.split()[0]
            for caller, token in sessions.items():
                url, form = route.request(world, caller)
                cookies = f"{CSRF_COOKIE}={CSRF}" + (f"; {SESSION_COOKIE}={token}" if token else "")
                c.cookies.clear()
                answer = c.request(
                    method, url, data=form, headers={"Cookie": cookies}, follow_redirects=False
                )
                if answer.status_code != expected(route, caller):
                    wrong.append(f"{name} as {caller}: {answer.status_code} {answer.text[:150]}")
        assert not wrong, "\n".join(wrong)
