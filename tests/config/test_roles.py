"""The roles file: its model, its errors with file:line, what it grants, and its reload."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from foredeck.config.roles import RolesAgent, RolesError, load_roles
from tests.child import child_env

ROLES = """\
anonymous:
  "*": read
  secret-org: none
  acme/private: none
grants:
- role: admin
  repos: ["*"]
  users: [alice]
- role: editor
  repos: [acme/*]
  teams: [acme/devs]
  groups: [ci-editors]
- role: viewer
  repos: [acme/private, other/calc]
  users: [Vera]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_grants_by_user_team_group_and_scope(tmp_path: Path) -> None:
    roles = load_roles(write(tmp_path / "roles.yaml", ROLES))
    assert roles.granted("alice", [], [], "anything", "at-all") == "admin"
    assert roles.granted("alice", [], [], None, None) == "admin"  # `*` covers no-repo things
    # Teams and groups, on the org's repositories only, never on what belongs to no repo.
    assert roles.granted("bob", ["ACME/devs"], [], "acme", "widget") == "editor"
    assert roles.granted("bob", [], ["ci-editors"], "Acme", "Widget") == "editor"
    assert roles.granted("bob", ["acme/devs"], [], "other", "calc") is None
    assert roles.granted("bob", ["acme/devs"], [], None, None) is None
    assert roles.granted("bob", [], ["CI-EDITORS"], "acme", "widget") is None  # groups: exact
    # User names compare as GitHub logins do (case-insensitive); the highest role wins.
    assert roles.granted("vera", [], [], "other", "calc") == "viewer"
    assert roles.granted("vera", [], [], "other", "else") is None
    assert roles.granted("vera", ["acme/devs"], [], "acme", "private") == "editor"
    assert roles.granted("vera", [], [], None, None, anywhere=True) == "viewer"
    assert roles.granted("nobody", [], [], "acme", "widget") is None


def test_anonymous_reads_take_the_most_specific_entry(tmp_path: Path) -> None:
    roles = load_roles(write(tmp_path / "roles.yaml", ROLES))
    assert roles.anonymous_reads("acme", "widget")
    assert not roles.anonymous_reads("acme", "private")
    assert not roles.anonymous_reads("Secret-Org", "anything")
    assert roles.anonymous_reads(None, None)
    assert load_roles(write(tmp_path / "empty.yaml", "")).anonymous_reads("any", "repo")
    closed = load_roles(write(tmp_path / "closed.yaml", 'anonymous: {"*": none, pub: read}\n'))
    assert not closed.anonymous_reads("acme", "widget") and not closed.anonymous_reads(None, None)
    assert closed.anonymous_reads("pub", "site")


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("grants:\n- role: owner\n  repos: ['*']\n  users: [a]\n", 2, "grants[0].role"),
        ("grants:\n- role: admin\n  users: [a]\n  repos: [acme]\n", 4, "is not `*`, `org/*`"),
        ("grants:\n- role: admin\n  repos: ['*']\n", 2, "at least one of users, teams"),
        ("grants:\n- role: admin\n  repos: ['*']\n  teams: [devs]\n", 4, "org/team"),
        ("grants:\n- role: admin\n  repos: ['*']\n  user: [a]\n", 4, "grants[0].user"),
        ("anonymous:\n  acme: maybe\n", 2, "anonymous.acme"),
        ("anonymous:\n  'a/b/c': none\n", 1, "is not `*`, an org"),
        # One org twice: the job lists and the job's page would each take another entry.
        ("anonymous:\n  acme: read\n  ACME: none\n", 1, "'acme' and 'ACME' differ only in case"),
        ("anonymous:\n  a/B: none\n  A/b: read\n", 1, "differ only in case"),
        ("grants: [\n", 2, "invalid YAML"),
        ("- just a list\n", 1, "must be a mapping"),
        ("grants: []\n---\ngrants: []\n", 3, "one YAML document"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int, says: str) -> None:
    path = write(tmp_path / "roles.yaml", text)
    with pytest.raises(RolesError) as caught:
        load_roles(path)
    message = str(caught.value)
    assert f"{path}:{line}:" in message and says in message, message


def test_every_problem_is_listed_in_line_order(tmp_path: Path) -> None:
    text = "grants:\n- role: owner\n  repos: [x]\n  users: [a]\n"
    with pytest.raises(RolesError) as caught:
        load_roles(write(tmp_path / "roles.yaml", text))
    lines = str(caught.value).splitlines()
    assert [line.split(":")[1] for line in lines] == ["2", "3"], lines


def bump(path: Path, text: str) -> None:
    """Write `text` with a new mtime even on a coarse-grained clock."""
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_the_agent_reloads_a_changed_file_and_keeps_the_roles_on_a_broken_edit(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "roles.yaml", ROLES)
    now = [0.0]
    reloaded: list[str] = []
    agent = RolesAgent(
        str(path), reload_interval=5, clock=lambda: now[0], on_reload=reloaded.append
    )
    assert agent.get().granted("alice", [], [], None, None) == "admin"

    bump(path, ROLES.replace("users: [alice]", "users: [carol]"))
    assert agent.get().granted("alice", [], [], None, None) == "admin"  # not looked at yet
    now[0] = 5.0
    assert agent.get().granted("carol", [], [], None, None) == "admin"
    assert agent.get().granted("alice", [], [], None, None) is None
    assert reloaded == [str(path)] and agent.problem is None

    bump(path, "grants:\n- role: owner\n")  # a broken edit: the roles in use stay
    assert not agent.reload()
    assert agent.get().granted("carol", [], [], None, None) == "admin"
    assert agent.problem is not None and f"{path}:2:" in agent.problem
    assert reloaded == [str(path)]

    path.unlink()
    assert not agent.reload()
    assert "cannot read" in (agent.problem or "")
    assert agent.get().granted("carol", [], [], None, None) == "admin"


def test_a_broken_file_at_start_is_an_error_and_no_file_means_public(tmp_path: Path) -> None:
    with pytest.raises(RolesError, match=r"roles\.yaml:2:"):
        RolesAgent(str(write(tmp_path / "roles.yaml", "grants:\n- role: owner\n")))
    with pytest.raises(RolesError, match="cannot read"):
        RolesAgent(str(tmp_path / "missing.yaml"))
    public = RolesAgent(None)
    assert public.get().anonymous_reads("any", "repo") and not public.get().grants
    assert not public.reload()


def test_config_check_roles_says_ok_or_every_error(tmp_path: Path) -> None:
    def run(path: Path) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "foredeck.cli", "config", "check-roles", str(path)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=child_env())

    good = run(write(tmp_path / "roles.yaml", ROLES))
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "ok: 3 grants; anonymous reads off for: acme/private, secret-org"
    bad = run(write(tmp_path / "bad.yaml", "grants:\n- role: owner\n  repos: [x]\n  users: [a]\n"))
    assert bad.returncode == 1 and bad.stdout == ""
    assert f"{tmp_path / 'bad.yaml'}:2: grants[0].role" in bad.stderr
    assert f"{tmp_path / 'bad.yaml'}:3: grants[0].repos: " in bad.stderr
