"""Personal API tokens, private repositories, the audit log and the roles file's reload."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from foredeck.db import session_factory
from foredeck.db.models import ApiToken, AuditEntry, Job
from foredeck.db.types import utcnow
from tests.api.access import ROLES, access_client, bearer, make_token
from tests.api.helpers import AUTH, presubmit, seed
from tests.db.fixtures import Database

OTHER_ORG_PUBLIC = ROLES.replace('"*": none', '"*": none\n  oss: read')


def test_a_token_is_kept_as_its_hash_only(db: Database, tmp_path: Path) -> None:
    with access_client(db, tmp_path) as client:
        token_id, token = make_token(client, "vera", "viewer")
    assert re.fullmatch(r"fdt_[A-Za-z0-9_-]{43}", token), token
    with session_factory(db.engine)() as session:
        row = session.get(ApiToken, token_id)
        assert row is not None
        stored = [str(getattr(row, c.key)) for c in ApiToken.__table__.columns]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in value or token[4:] in value for value in stored)
    assert row.hint == token[:12] and row.user == "vera" and row.created_by == "api-token"


def test_expired_revoked_and_unknown_tokens_are_refused(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit())
    with access_client(db, tmp_path) as client:
        expiring_id, expiring = make_token(client, "vera", "viewer")
        revoked_id, revoked = make_token(client, "vera", "viewer")
        for token in (expiring, revoked):
            assert client.get(f"/api/jobs/{job_id}", headers=bearer(token)).status_code == 200
        with session_factory(db.engine).begin() as session:
            past = utcnow() - timedelta(seconds=1)
            session.execute(
                update(ApiToken).where(ApiToken.id == expiring_id).values(expires_at=past)
            )
        gone = client.delete(f"/api/tokens/{revoked_id}", headers=bearer(revoked))
        assert gone.status_code == 200 and gone.json()["revoked_at"]
        for token, why in ((expiring, "expired"), (revoked, "revoked")):
            answer = client.get(f"/api/jobs/{job_id}", headers=bearer(token))
            assert answer.status_code == 401 and why in answer.json()["detail"], answer.text
            assert token not in answer.text
            write = client.post(f"/api/jobs/{job_id}/rerun", headers=bearer(token))
            assert write.status_code == 401 and why in write.json()["detail"]
        unknown = client.get("/api/jobs", headers=bearer("fdt_" + "x" * 43))
        assert unknown.status_code == 401 and "unknown API token" in unknown.json()["detail"]


def test_a_token_acts_no_higher_than_its_role_nor_its_owner(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit())
    with access_client(db, tmp_path) as client:
        _, eddie_viewer = make_token(client, "eddie", "viewer")
        assert client.get(f"/api/jobs/{job_id}", headers=bearer(eddie_viewer)).status_code == 200
        refused = client.post(f"/api/jobs/{job_id}/rerun", headers=bearer(eddie_viewer))
        assert refused.status_code == 403
        assert refused.json()["detail"] == (
            f"eddie may not rerun job {job_id}: that needs the editor role on acme/widget, "
            "and eddie has viewer"
        )
        # Above the owner's role: refused, whoever asks.
        _, vera = make_token(client, "vera", "viewer")
        mine = client.post(
            "/api/tokens", json={"name": "x", "role": "editor"}, headers=bearer(vera)
        )
        assert mine.status_code == 403 and "vera has viewer" in mine.json()["detail"]
        body = {"name": "x", "role": "admin", "user": "vera"}
        assert client.post("/api/tokens", json=body, headers=AUTH).status_code == 403
        # Not past the server's longest life; the bootstrap token names whose token it makes.
        long = {"name": "x", "role": "viewer", "days": 400}
        answer = client.post("/api/tokens", json=long, headers=bearer(vera))
        assert answer.status_code == 422 and "max_token_days" in answer.json()["detail"]
        nobody = client.post("/api/tokens", json={"name": "x", "role": "viewer"}, headers=AUTH)
        assert nobody.status_code == 422 and "user" in nobody.json()["detail"]
        # One's own token: made with one's own token, with one's role at most.
        own = client.post(
            "/api/tokens", json={"name": "ci", "role": "viewer"}, headers=bearer(vera)
        )
        assert own.status_code == 201 and own.json()["user"] == "vera"
        # Not living past the token that makes it: a leaked short-lived token cannot mint a
        # long-lived one. Without `days`: 30, cut to the maker's life.
        _, brief = make_token(client, "vera", "viewer", days=2)
        longer = {"name": "y", "role": "viewer", "days": 3}
        refused = client.post("/api/tokens", json=longer, headers=bearer(brief))
        assert refused.status_code == 422 and "outlive" in refused.json()["detail"]
        shorter = {"name": "y", "role": "viewer", "days": 1}
        assert client.post("/api/tokens", json=shorter, headers=bearer(brief)).status_code == 201
        cut = client.post(
            "/api/tokens", json={"name": "z", "role": "viewer"}, headers=bearer(brief)
        )
        assert cut.status_code == 201, cut.text
        life = datetime.fromisoformat(cut.json()["expires_at"]) - utcnow()
        assert timedelta(days=1) < life <= timedelta(days=2)


def test_users_see_and_revoke_their_own_tokens_admins_everyone(
    db: Database, tmp_path: Path
) -> None:
    with access_client(db, tmp_path) as client:
        vera_id, vera = make_token(client, "vera", "viewer")
        eddie_id, eddie = make_token(client, "eddie", "editor")
        _, alice = make_token(client, "alice", "admin")
        listed = client.get("/api/tokens", headers=bearer(vera)).json()
        assert [t["id"] for t in listed] == [vera_id] and "token" not in listed[0]
        assert client.get("/api/tokens?user=eddie", headers=bearer(vera)).status_code == 403
        assert client.get("/api/tokens?all=true", headers=bearer(vera)).status_code == 403
        assert client.delete(f"/api/tokens/{eddie_id}", headers=bearer(vera)).status_code == 403
        assert client.get("/api/jobs", headers=bearer(eddie)).status_code == 200  # still works
        everyone = client.get("/api/tokens?all=true", headers=bearer(alice)).json()
        assert {t["user"] for t in everyone} == {"vera", "eddie", "alice"}
        assert client.delete(f"/api/tokens/{eddie_id}", headers=bearer(alice)).status_code == 200
        assert client.get("/api/jobs", headers=bearer(eddie)).status_code == 401
        assert client.delete("/api/tokens/99999", headers=bearer(alice)).status_code == 404


def test_private_jobs_are_left_out_of_lists_and_refused_alone(db: Database, tmp_path: Path) -> None:
    private, public = seed(db, presubmit(), presubmit(repo="site"))
    with session_factory(db.engine).begin() as session:
        session.execute(update(Job).where(Job.id == public).values(org="oss"))
    with access_client(db, tmp_path, OTHER_ORG_PUBLIC) as client:
        _, vera = make_token(client, "vera", "viewer")
        _, stranger = make_token(client, "sam", "viewer")

        def listed(headers: dict[str, str]) -> list[int]:
            return [job["id"] for job in client.get("/api/jobs", headers=headers).json()["jobs"]]

        assert listed({}) == [public] == listed(bearer(stranger))
        assert listed(bearer(vera)) == [public, private]
        assert listed(AUTH) == [public, private]
        assert client.get(f"/api/jobs/{public}").status_code == 200
        refused = client.get(f"/api/jobs/{private}")
        assert refused.status_code == 401 and "viewer role on acme/widget" in refused.text
        assert client.get(f"/api/jobs/{private}", headers=bearer(stranger)).status_code == 403
        assert client.get(f"/api/jobs/{private}", headers=bearer(vera)).status_code == 200
        assert client.get(f"/api/jobs/{private}/log", headers=bearer(stranger)).status_code == 403


def test_the_audit_log_records_who_did_what_and_filters(db: Database, tmp_path: Path) -> None:
    first, second = seed(db, presubmit(), presubmit("lint"))
    with access_client(db, tmp_path) as client:
        before = utcnow()
        eddie_id, eddie = make_token(client, "eddie", "editor")
        rerun = client.post(f"/api/jobs/{first}/rerun", headers=bearer(eddie))
        assert rerun.status_code == 201
        assert client.post(f"/api/jobs/{second}/abort", headers=bearer(eddie)).status_code == 200
        assert client.post(f"/api/jobs/{second}/abort", headers=bearer(eddie)).status_code == 409
        client.delete(f"/api/tokens/{eddie_id}", headers=AUTH)
        _, alice = make_token(client, "alice", "admin")
        log = client.get("/api/audit", headers=bearer(alice)).json()
        seen = [(e["actor"], e["via"], e["action"], e["target"]) for e in reversed(log)]
        assert seen == [
            ("api-token", "bootstrap", "token.create", f"token {eddie_id}"),
            ("eddie", "token", "job.rerun", f"job {rerun.json()['id']}"),
            ("eddie", "token", "job.abort", f"job {second}"),  # once: the 409 wrote nothing
            ("api-token", "bootstrap", "token.revoke", f"token {eddie_id}"),
            ("api-token", "bootstrap", "token.create", f"token {eddie_id + 1}"),
        ]
        assert log[-2]["detail"] == {"name": "unit", "of": first, "token_id": eddie_id}
        by_eddie = client.get("/api/audit?actor=eddie", headers=bearer(alice)).json()
        assert [e["action"] for e in by_eddie] == ["job.abort", "job.rerun"]
        aborts = client.get("/api/audit?action=job.abort", headers=bearer(alice)).json()
        assert [e["target"] for e in aborts] == [f"job {second}"]
        since = client.get(
            "/api/audit", params={"since": utcnow().isoformat()}, headers=bearer(alice)
        ).json()
        assert since == []
        every = client.get(
            "/api/audit", params={"since": before.isoformat(), "limit": 2}, headers=bearer(alice)
        ).json()
        assert len(every) == 2
        assert client.get("/api/audit", headers=bearer(eddie)).status_code == 401  # revoked


def test_the_audit_log_since_is_an_iso_date_time_never_a_number(
    db: Database, tmp_path: Path
) -> None:
    """The schema says date-time; pydantic alone also read a number as Unix time, and took a
    time without a zone, which the database layer refused (a 500)."""
    with access_client(db, tmp_path) as client:
        for since in ("1411", "1.5", "-1", "1e3", " 12 ", "2026-12-01T00:00:00", "2026-12-01"):
            r = client.get("/api/audit", params={"since": since}, headers=AUTH)
            assert r.status_code == 422, (since, r.text)
            assert r.json()["detail"][0]["loc"] == ["query", "since"]
        for since in ("2026-12-01T00:00:00Z", "2026-12-01T01:00:00+01:00"):
            r = client.get("/api/audit", params={"since": since}, headers=AUTH)
            assert r.status_code == 200, (since, r.text)


def test_a_roles_edit_is_taken_on_reload_and_audited(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit())
    with access_client(db, tmp_path) as client:
        _, vera = make_token(client, "vera", "viewer")
        assert client.get(f"/api/jobs/{job_id}", headers=bearer(vera)).status_code == 200
        roles = tmp_path / "roles.yaml"
        roles.write_text(ROLES.replace("users: [vera]", "users: [someone-else]"))
        done = client.post("/api/config/reload", headers=AUTH)
        assert done.status_code == 200 and done.json()["roles_changed"] is True
        refused = client.get(f"/api/jobs/{job_id}", headers=bearer(vera))
        assert refused.status_code == 403 and "vera has no role there" in refused.text
        roles.write_text("grants:\n- role: owner\n")  # broken: the roles in use stay
        broken = client.post("/api/config/reload", headers=AUTH).json()
        assert broken["roles_changed"] is False and "roles.yaml:2:" in broken["roles_problem"]
        assert client.get(f"/api/jobs/{job_id}", headers=bearer(vera)).status_code == 403
    with session_factory(db.engine)() as session:
        actions = [
            (e.actor, e.action)
            for e in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        ]
    assert actions[-3:] == [
        ("system", "roles.reload"),
        ("api-token", "config.reload"),
        ("api-token", "config.reload"),
    ]


def test_another_authorization_scheme_is_not_a_token(db: Database, tmp_path: Path) -> None:
    """A proxy's Basic auth in front of the server reaches it too: the caller is nobody."""
    (job_id,) = seed(db, presubmit())
    with access_client(db, tmp_path, OTHER_ORG_PUBLIC) as client:
        basic = {"Authorization": "Basic dXNlcjpwYXNz"}
        assert client.get("/api/jobs", headers=basic).status_code == 200
        refused = client.get(f"/api/jobs/{job_id}", headers=basic)
        assert refused.status_code == 401 and "viewer role" in refused.json()["detail"]
        empty = client.get("/api/jobs", headers={"Authorization": "Bearer "})
        assert empty.status_code == 401 and "empty bearer token" in empty.json()["detail"]


def test_starting_a_job_of_a_private_repo_says_nothing_of_its_config(
    db: Database, tmp_path: Path
) -> None:
    """The role check comes before the job config is looked at: whether a job exists in a
    private repository, or which branches it runs on, is not told to those who may not start
    it."""
    refs = {"org": "acme", "repo": "widget", "base_ref": "main"}
    with access_client(db, tmp_path) as client:
        _, vera = make_token(client, "vera", "viewer")
        for body in ({"name": "no-such-job", "refs": refs}, {"name": "publish", "refs": refs}):
            answer = client.post("/api/jobs", json=body)
            assert answer.status_code == 401, answer.text
            answer = client.post("/api/jobs", json=body, headers=bearer(vera))
            assert answer.status_code == 403, answer.text
            assert "needs the editor role on acme/widget" in answer.json()["detail"]
        unknown = client.post("/api/jobs", json={"name": "no-such-job", "refs": refs}, headers=AUTH)
        assert unknown.status_code == 404
