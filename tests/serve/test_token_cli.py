"""`foredeck token` against a real HTTP server (uvicorn in a thread) serving the service app."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from foredeck.cli import app
from foredeck.serve.app import create_service_app
from tests.api.access import access_settings
from tests.api.helpers import TOKEN
from tests.db.fixtures import Database
from tests.kit.server import running

ENV = {"COLUMNS": "200", "FOREDECK_SERVER": "", "FOREDECK_API_TOKEN": ""}


def cli(server: str, token: str, *args: str) -> tuple[int, str, str]:
    argv = ["token", "--server", server, "--token", token, *args]
    result = CliRunner().invoke(app, argv, env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_create_list_and_revoke(db: Database, tmp_path: Path) -> None:
    with running(create_service_app(access_settings(db, tmp_path), db.engine)) as url:
        code, out, err = cli(
            url,
            TOKEN,
            "create",
            "laptop",
            "--user",
            "eddie",
            "--role",
            "editor",
            "--team",
            "acme/devs",
            "--days",
            "7",
        )
        assert code == 0, err
        eddie = out.strip()
        assert eddie.startswith("fdt_") and "not shown again" in err and "(editor)" in err
        # eddie makes a viewer token of his own with his token, and sees both.
        code, out, err = cli(url, eddie, "create", "ci", "--role", "viewer")
        assert code == 0, err
        ci = out.strip()
        code, out, _ = cli(url, eddie, "list")
        rows = [line.split("\t") for line in out.splitlines()]
        assert [(r[2], r[3], r[4]) for r in rows] == [
            ("eddie", "viewer", "ci"),
            ("eddie", "editor", "laptop"),
        ]
        assert eddie not in out and ci not in out and rows[1][1] == eddie[:12] + "..."
        # Above his role: the server's refusal, said as such.
        code, _, err = cli(url, eddie, "create", "root", "--role", "admin")
        assert code == 1 and "403" in err and "eddie has editor" in err
        code, _, err = cli(url, eddie, "create", "x", "--role", "owner")
        assert code == 2 and "viewer, editor, admin" in err
        code, out, err = cli(url, eddie, "revoke", rows[0][0])
        assert code == 0 and "revoked" in out, err
        code, _, err = cli(url, ci, "list")
        assert code == 1 and "401" in err and "revoked" in err
        code, out, _ = cli(url, TOKEN, "list", "--all", "--json")
        assert code == 0 and '"revoked_at": null' in out and '"user": "eddie"' in out
