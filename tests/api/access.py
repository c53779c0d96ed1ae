"""Shared pieces of the access tests: a roles file with a user per role, and their tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from foredeck.serve.app import create_service_app
from foredeck.settings import ScmSettings, Settings
from tests.api.helpers import AUTH, settings_for
from tests.db.fixtures import Database

ROLES = """\
anonymous:
  "*": none
grants:
- role: admin
  repos: ["*"]
  users: [alice]
- role: editor
  repos: [acme/*]
  teams: [acme/devs]
- role: viewer
  repos: [acme/*]
  users: [vera]
"""
"""Everything private; alice admin of everything, the acme/devs team editors and vera viewer
of acme's repositories."""

USERS = {"viewer": "vera", "editor": "eddie", "admin": "alice"}
TEAMS = {"eddie": ["acme/devs"]}


def access_settings(
    db: Database, tmp_path: Path, roles: str = ROLES, *, local_scm: bool = False
) -> Settings:
    path = tmp_path / "roles.yaml"
    path.write_text(roles)
    base = settings_for(db, tmp_path)
    update: dict[str, object] = {"api": base.api.model_copy(update={"roles_path": str(path)})}
    if local_scm:
        update["scm"] = ScmSettings(provider="local", local_root=str(tmp_path / "repos"))
    return base.model_copy(update=update)


@contextmanager
def access_client(db: Database, tmp_path: Path, roles: str = ROLES) -> Iterator[TestClient]:
    with TestClient(create_service_app(access_settings(db, tmp_path, roles), db.engine)) as c:
        yield c


def make_token(client: TestClient, user: str, role: str, *, days: int = 30) -> tuple[int, str]:
    """A personal token for `user`, made with the bootstrap token: (id, token)."""
    body = {"name": f"{user}-{role}", "role": role, "user": user, "days": days}
    body["teams"] = TEAMS.get(user, [])
    made = client.post("/api/tokens", json=body, headers=AUTH)
    assert made.status_code == 201, made.text
    return made.json()["id"], made.json()["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Callers:
    """Headers of each caller: nobody, and a token of the user holding each role."""

    headers: dict[str, dict[str, str]]

    @classmethod
    def make(cls, client: TestClient) -> Callers:
        headers: dict[str, dict[str, str]] = {"anonymous": {}}
        for role, user in USERS.items():
            headers[role] = bearer(make_token(client, user, role)[1])
        return cls(headers)
