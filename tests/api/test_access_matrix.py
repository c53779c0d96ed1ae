"""Every route of the OpenAPI description, tried anonymously and with each role (#17).

`TABLE` maps each route to the lowest role that may call it and the status it answers then; a
caller below it gets 401 (nobody) or 403 (a role too low). The route list comes from
`app.openapi()`: a new route fails here until it is in the table. The roles file makes
everything private (`anonymous: {"*": none}`), so that even reads need a role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from foredeck.serve.app import create_service_app
from tests.api.access import USERS, Callers, access_settings, make_token
from tests.api.helpers import AUTH, presubmit, seed
from tests.db.fixtures import Database
from tests.kit.git import local_pull_request

RANK = {"anonymous": 0, "viewer": 1, "editor": 2, "admin": 3}
CALLERS = ["anonymous", "viewer", "editor", "admin", "bootstrap"]
"""`bootstrap`: the `api.token`, an admin of everything."""
REFS = {"org": "acme", "repo": "widget", "base_ref": "main"}
LEASE = "0" * 32


@dataclass
class World:
    client: TestClient
    db: Database
    job_id: int

    def fresh_job(self) -> int:
        return seed(self.db, presubmit("unit", pr=1))[0]


Request = Callable[[World, str], tuple[str, Any]]
"""(url, JSON body or None) of a call by the caller named."""


@dataclass(frozen=True)
class Route:
    minimum: str | None
    """The lowest role that may call it; None: outside access control (the webhook's HMAC,
    the probes), the same answer for every caller."""
    ok: int
    request: Request
    named: str | None = None
    """The role a 403 names, when not `minimum`."""


def at(url: str, body: Any = None) -> Request:
    return lambda world, caller: (url.format(job=world.job_id), body)


def own_token(world: World, caller: str) -> tuple[str, Any]:
    """A token of the caller's own user to revoke (the bootstrap token's: someone's)."""
    user = USERS.get(caller, "vera")
    token_id, _ = make_token(world.client, user, "viewer")
    return f"/api/tokens/{token_id}", None


TABLE: dict[str, Route] = {
    "GET /api/jobs": Route("anonymous", 200, at("/api/jobs")),
    "POST /api/jobs": Route("editor", 201, at("/api/jobs", {"name": "publish", "refs": REFS})),
    "GET /api/jobs/{job_id}": Route("viewer", 200, at("/api/jobs/{job}")),
    "GET /api/jobs/{job_id}/log": Route("viewer", 404, at("/api/jobs/{job}/log")),  # no log yet
    "POST /api/jobs/{job_id}/rerun": Route("editor", 201, at("/api/jobs/{job}/rerun")),
    "POST /api/jobs/{job_id}/abort": Route(
        "editor", 200, lambda world, _: (f"/api/jobs/{world.fresh_job()}/abort", None)
    ),
    "POST /api/repos/{org}/{repo}/pulls/{number}/comments": Route(
        "editor",
        201,
        at("/api/repos/acme/widget/pulls/1/comments", {"body": "/test all", "author": "eddie"}),
    ),
    "GET /api/leases": Route("viewer", 200, at("/api/leases")),
    "POST /api/leases": Route(
        "editor", 404, at("/api/leases", {"type": "unknown", "owner": "me", "ttl": 10})
    ),  # no such lease type: past the role check
    "POST /api/leases/{lease_id}/heartbeat": Route(
        "editor", 404, at(f"/api/leases/{LEASE}/heartbeat", {"ttl": 10})
    ),
    "POST /api/leases/{lease_id}/release": Route(
        "editor", 200, at(f"/api/leases/{LEASE}/release", {"dirty": False})
    ),
    "POST /api/tokens": Route(
        "viewer",
        201,
        lambda world, caller: (
            "/api/tokens",
            {
                "name": "mine",
                "role": "viewer",
                **({"user": "vera"} if caller == "bootstrap" else {}),
            },
        ),
    ),
    "GET /api/tokens": Route("viewer", 200, at("/api/tokens")),
    "DELETE /api/tokens/{token_id}": Route("viewer", 200, own_token),
    "GET /api/audit": Route("admin", 200, at("/api/audit")),
    "POST /api/config/reload": Route("admin", 200, at("/api/config/reload")),
    "POST /hook": Route(None, 400, at("/hook", {"zen": "no event header"})),
    "GET /livez": Route(None, 200, at("/livez")),
    "GET /readyz": Route(None, 200, at("/readyz")),
    "GET /healthz": Route(None, 200, at("/healthz")),
    # A viewer of everything (`*`): in this roles file, admins only (docs/serve.md#metrics).
    "GET /metrics": Route("admin", 200, at("/metrics"), named="viewer"),
}


def expected(route: Route, caller: str) -> int:
    if route.minimum is None:
        return route.ok
    rank = RANK["admin"] if caller == "bootstrap" else RANK[caller]
    if rank >= RANK[route.minimum]:
        return route.ok
    return 401 if caller == "anonymous" else 403


def says_why(status: int, body: Any, route: Route) -> bool:
    """A 401 says to send a token; a 403 names the role needed."""
    if status == 401:
        return "Authorization: Bearer" in body["detail"]
    if status == 403:
        return f"needs the {route.named or route.minimum} role" in body["detail"]
    return True


def test_every_route_answers_each_role_as_the_table_says(db: Database, tmp_path: Path) -> None:
    local_pull_request(tmp_path / "repos")
    settings = access_settings(db, tmp_path, local_scm=True)
    with TestClient(create_service_app(settings, db.engine)) as client:
        routes = {
            f"{method.upper()} {path}"
            for path, item in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
            for method in item
        }
        assert routes == set(TABLE), f"routes not in the table: {sorted(routes - set(TABLE))}"
        headers = Callers.make(client).headers | {"bootstrap": AUTH}
        world = World(client, db, seed(db, presubmit("unit", pr=1))[0])
        wrong: list[str] = []
        for name, route in sorted(TABLE.items()):
            method = name.split()[0]
            for caller in CALLERS:
                url, body = route.request(world, caller)
                answer = client.request(method, url, json=body, headers=headers[caller])
                want = expected(route, caller)
                if answer.status_code != want:
                    wrong.append(f"{name} as {caller}: {answer.status_code} {answer.text[:200]}")
                elif want in (401, 403) and not says_why(want, answer.json(), route):
                    wrong.append(f"{name} as {caller}: the refusal does not say why")
        assert not wrong, "\n".join(wrong)
