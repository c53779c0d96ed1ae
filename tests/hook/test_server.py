from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select

from foredeck.db import Event, make_engine, migrate, session_factory
from foredeck.db.eventlog import get_event
from foredeck.hook import server
from foredeck.hook.server import create_app
from foredeck.settings import HookSettings, Settings
from tests.db.fixtures import Database
from tests.hook.helpers import (
    EXAMPLES,
    METRICS_AUTH,
    example,
    example_bytes,
    make_settings,
    with_repo,
)
from tests.kit.webhooks import SECRET, headers

BODY = example_bytes("pull_request.opened")


def count_events(db: Database) -> int:
    with session_factory(db.engine)() as s:
        return int(s.execute(select(func.count()).select_from(Event)).scalar_one())


async def test_new_delivery_is_committed_before_the_answer(
    client: httpx.AsyncClient, db: Database
) -> None:
    r = await client.post("/hook", content=BODY, headers=headers(BODY, "guid-1"))
    assert r.status_code == 202
    assert r.json() == {"duplicate": False, "id": r.json()["id"]}
    # A brand-new engine (new connection, new process-level pool) sees the row right away.
    fresh = make_engine(db.url)
    try:
        with session_factory(fresh)() as s:
            row = get_event(s, "guid-1")
            assert row is not None
            assert row.id == r.json()["id"]
            assert (row.event, row.action, row.org, row.repo) == (
                "pull_request",
                "opened",
                "Codertocat",
                "Hello-World",
            )
            assert row.payload == BODY  # exactly the bytes GitHub sent
            assert row.processed_at is None
    finally:
        fresh.dispose()


async def test_duplicate_delivery_creates_nothing(client: httpx.AsyncClient, db: Database) -> None:
    first = await client.post("/hook", content=BODY, headers=headers(BODY, "guid-dup"))
    again = await client.post("/hook", content=BODY, headers=headers(BODY, "guid-dup"))
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"duplicate": True, "id": first.json()["id"]}
    assert count_events(db) == 1


@pytest.mark.parametrize("stem", sorted(EXAMPLES))
async def test_every_vendored_example_is_logged(
    client: httpx.AsyncClient, db: Database, stem: str
) -> None:
    body = example_bytes(stem)
    r = await client.post("/hook", content=body, headers=headers(body, stem, EXAMPLES[stem]))
    assert r.status_code == 202, r.text
    with session_factory(db.engine)() as s:
        row = get_event(s, stem)
        assert row is not None and row.event == EXAMPLES[stem]
        assert row.action == example(stem).get("action")


async def test_ping_is_stored_and_acknowledged(client: httpx.AsyncClient, db: Database) -> None:
    body = example_bytes("ping.org")
    r = await client.post("/hook", content=body, headers=headers(body, "p1", "ping"))
    assert r.status_code == 202
    with session_factory(db.engine)() as s:
        row = get_event(s, "p1")
        assert row is not None and (row.org, row.repo) == ("Octocoders", None)


async def test_form_encoded_delivery_is_accepted_and_stored_as_json(
    client: httpx.AsyncClient, db: Database
) -> None:
    form = urlencode({"payload": BODY.decode()}).encode()
    hdrs = headers(form, "form-1", content_type="application/x-www-form-urlencoded")
    r = await client.post("/hook", content=form, headers=hdrs)
    assert r.status_code == 202, r.text
    with session_factory(db.engine)() as s:
        row = get_event(s, "form-1")
        assert row is not None and row.payload == BODY
    # The signature covers the form body as sent, not the JSON inside it.
    hdrs = headers(BODY, "form-2", content_type="application/x-www-form-urlencoded")
    r = await client.post("/hook", content=form, headers=hdrs)
    assert r.status_code == 403


def _without(hdrs: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in hdrs.items() if k != name}


@pytest.mark.parametrize(
    ("mutate", "status", "message"),
    [
        (lambda h: _without(h, "X-GitHub-Event"), 400, "missing X-GitHub-Event"),
        (lambda h: {**h, "X-GitHub-Event": "pull request!"}, 400, "invalid X-GitHub-Event"),
        (lambda h: _without(h, "X-GitHub-Delivery"), 400, "missing X-GitHub-Delivery"),
        (lambda h: {**h, "X-GitHub-Delivery": "x" * 101}, 400, "invalid X-GitHub-Delivery"),
        (lambda h: _without(h, "X-Hub-Signature-256"), 401, "missing X-Hub-Signature-256"),
        (lambda h: {**h, "X-Hub-Signature-256": "sha256=" + "0" * 64}, 403, "signature"),
        (lambda h: {**h, "X-Hub-Signature-256": "garbage"}, 403, "signature"),
        (lambda h: {**h, "Content-Type": "text/plain"}, 415, "application/json"),
        (lambda h: _without(h, "Content-Type"), 415, "application/json"),
    ],
)
async def test_rejections_store_nothing(
    client: httpx.AsyncClient,
    db: Database,
    mutate: object,
    status: int,
    message: str,
) -> None:
    hdrs = mutate(headers(BODY, "guid-bad"))  # type: ignore[operator]
    r = await client.post("/hook", content=BODY, headers=hdrs)
    assert r.status_code == status
    assert message in r.json()["error"]
    assert count_events(db) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"{not json", "not valid JSON"), (b'["a list"]', "JSON object"), (b"", "not valid JSON")],
)
async def test_bad_json_is_400(
    client: httpx.AsyncClient, db: Database, body: bytes, message: str
) -> None:
    r = await client.post("/hook", content=body, headers=headers(body, "guid-json"))
    assert r.status_code == 400
    assert message in r.json()["error"]
    assert count_events(db) == 0


async def test_body_limit_by_content_length_and_while_streaming(db: Database) -> None:
    limit = 64 * 1024
    app = create_app(make_settings(db, body_limit=limit), db.engine)
    consumed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal consumed
        for _ in range(10_000):  # 10 MiB at most, if the server kept reading
            consumed += 1024
            yield b" " * 1024

    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hook"
        ) as c:
            big = b" " * (limit + 1)
            r = await c.post("/hook", content=big, headers=headers(big, "big-1"))
            assert r.status_code == 413 and "larger than" in r.json()["error"]
            # Chunked, no Content-Length: the server must stop reading past the limit.
            r = await c.post("/hook", content=endless(), headers=headers(b"", "big-2"))
            assert r.status_code == 413
            assert consumed <= limit + 2 * 1024
            r = await c.post("/hook", content=BODY, headers={**headers(BODY, "cl")})
            assert r.status_code == 202  # under the limit: fine
            bad = {**headers(BODY, "big-3"), "Content-Length": "12x"}
            r = await c.post("/hook", content=BODY, headers=bad)
            assert r.status_code == 400
    finally:
        app.state.writer.close()
    assert count_events(db) == 1


async def test_org_and_repo_secrets_and_rotation(db: Database) -> None:
    settings = make_settings(
        db,
        secrets=["global-new", "global-old"],
        org_secrets={"acme": ["org-secret"]},
        repo_secrets={"acme/special": ["repo-new", "repo-old"]},
    )
    app = create_app(settings, db.engine)
    payload = example("pull_request.opened.org")
    cases = [
        ("Codertocat", "Hello-World", "global-old", 202),
        ("Codertocat", "Hello-World", "global-new", 202),
        ("Codertocat", "Hello-World", "org-secret", 403),
        ("acme", "widget", "org-secret", 202),
        ("acme", "widget", "global-new", 403),  # an org secret replaces the global ones
        ("acme", "special", "repo-old", 202),
        ("acme", "special", "repo-new", 202),
        ("acme", "special", "org-secret", 403),
    ]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hook"
        ) as c:
            for i, (org, repo, secret, status) in enumerate(cases):
                body = with_repo(payload, org, repo)
                r = await c.post(
                    "/hook", content=body, headers=headers(body, f"d{i}", secret=secret)
                )
                assert r.status_code == status, (org, repo, secret, r.text)
    finally:
        app.state.writer.close()
    assert count_events(db) == sum(1 for case in cases if case[3] == 202)


CROSS_ORG_SECRETS = {"acme": ["secret-A"], "evilorg": ["secret-E"]}


def push_for(full_name: str, owner: str, name: str, organization: str | None = None) -> bytes:
    """GitHub's push example naming `full_name`, `owner.login` and `name` as given."""
    payload = json.loads(with_repo(example("push"), owner, name))
    payload["repository"]["full_name"] = full_name
    if organization is not None:
        payload["organization"] = {"login": organization}
    return json.dumps(payload).encode()


@pytest.fixture
async def cross_org(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(db, org_secrets=CROSS_ORG_SECRETS), db.engine)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hook"
        ) as c:
            yield c
    finally:
        app.state.writer.close()


async def test_push_naming_another_orgs_repository_is_400_and_logs_nothing(
    cross_org: httpx.AsyncClient, db: Database
) -> None:
    # evilorg's secret, full_name in evilorg, but owner and name say acme/calculator: the secret
    # would be evilorg's while the trigger ran acme/calculator's postsubmits.
    body = push_for("evilorg/x", owner="acme", name="calculator")
    r = await cross_org.post("/hook", content=body, headers=headers(body, "f1", "push", "secret-E"))
    assert r.status_code == 400
    assert r.json()["error"] == (
        "repository.owner.login 'acme' does not match repository.full_name 'evilorg/x'"
    )
    assert count_events(db) == 0


@pytest.mark.parametrize(
    ("body", "secret", "status", "message"),
    [
        (push_for("evilorg/x", "evilorg", "x"), "secret-E", 202, None),
        (push_for("acme/calculator", "acme", "calculator"), "secret-E", 403, "signature"),
        (push_for("acme/calculator", "acme", "calculator"), "secret-A", 202, None),
        (push_for("evilorg/x", "evilorg", "calculator"), "secret-E", 400, "repository.name"),
        # The organization field decides nothing once there is a repository.
        (push_for("evilorg/x", "evilorg", "x", "acme"), "secret-E", 202, None),
        (push_for("acme/calculator", "acme", "calculator", "evilorg"), "secret-E", 403, "sig"),
        (push_for("evilorg/x", "evilorg", "x", "evilorg"), "secret-E", 202, None),
    ],
)
async def test_the_secret_is_chosen_for_the_one_repository_the_payload_names(
    cross_org: httpx.AsyncClient,
    db: Database,
    body: bytes,
    secret: str,
    status: int,
    message: str | None,
) -> None:
    r = await cross_org.post("/hook", content=body, headers=headers(body, "d", "push", secret))
    assert r.status_code == status, r.text
    if message is not None:
        assert message in r.json()["error"]
    assert count_events(db) == (1 if status == 202 else 0)


def test_app_without_any_secret_refuses_to_start(db: Database) -> None:
    with pytest.raises(ValueError, match="no webhook secret"):
        create_app(Settings(database_url=db.url), db.engine)
    org_only = HookSettings(org_secrets={"acme": [SecretStr("x")]})
    app = create_app(Settings(database_url=db.url, hook=org_only), db.engine)
    assert app.state.writer is not None


async def test_event_log_failure_is_503_and_redelivery_then_works(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'unmigrated.db'}"
    engine = make_engine(url)
    app = create_app(
        Settings(database_url=url, hook=HookSettings(secrets=[SecretStr(SECRET)])), engine
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hook"
        ) as c:
            r = await c.post("/hook", content=BODY, headers=headers(BODY, "d503"))
            assert r.status_code == 503 and "redeliver" in r.json()["error"]
            assert r.headers["retry-after"].isdigit()  # GitHub redelivers by hand; others read it
            migrate(engine)
            r = await c.post("/hook", content=BODY, headers=headers(BODY, "d503"))
            assert r.status_code == 202
    finally:
        app.state.writer.close()
        engine.dispose()


async def test_healthz_and_metrics(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    await client.post("/hook", content=BODY, headers=headers(BODY, "m1"))
    await client.post("/hook", content=BODY, headers=headers(BODY, "m1"))
    await client.post("/hook", content=BODY, headers=headers(BODY, "m2", secret="wrong"))
    push = example_bytes("push")
    await client.post("/hook", content=push, headers=headers(push, "m3", event="push"))
    unknown = headers(BODY, "m4", event="made_up_event")
    await client.post("/hook", content=BODY, headers=unknown)
    r = await client.get("/metrics", headers=METRICS_AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'foredeck_hook_deliveries_total{event="pull_request",status="202"} 1.0' in text
    assert 'foredeck_hook_deliveries_total{event="pull_request",status="200"} 1.0' in text
    assert 'foredeck_hook_deliveries_total{event="pull_request",status="403"} 1.0' in text
    assert 'foredeck_hook_deliveries_total{event="push",status="202"} 1.0' in text
    # Unknown event names never become label values (they come from unauthenticated headers).
    assert "made_up_event" not in text
    assert 'foredeck_hook_deliveries_total{event="other",status="202"} 1.0' in text
    assert "foredeck_hook_handling_seconds_count 5.0" in text
    assert "foredeck_hook_handling_seconds_bucket" in text


def metric(app: FastAPI, event: str, status: int) -> float | None:
    registry = app.state.metrics.registry
    labels = {"event": event, "status": str(status)}
    value: float | None = registry.get_sample_value("foredeck_hook_deliveries_total", labels)
    return value


@pytest.mark.parametrize("depth", [1_500, 150_000])  # the second is parsed in a thread
async def test_deeply_nested_json_is_400_and_counted(
    app: FastAPI, client: httpx.AsyncClient, db: Database, depth: int
) -> None:
    body = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    r = await client.post("/hook", content=body, headers=headers(body, "deep", "push"))
    assert r.status_code == 400
    assert r.json() == {"error": "JSON nested too deeply"}
    assert metric(app, "push", 400) == 1
    assert count_events(db) == 0


async def test_an_unexpected_error_is_a_counted_500(
    app: FastAPI, client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> list[bytes]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(server, "secrets_for", broken)
    r = await client.post("/hook", content=BODY, headers=headers(BODY, "bug"))
    assert r.status_code == 500
    assert r.json() == {"error": "internal error"}
    assert metric(app, "pull_request", 500) == 1
    text = (await client.get("/metrics", headers=METRICS_AUTH)).text
    assert 'foredeck_hook_deliveries_total{event="pull_request",status="500"} 1.0' in text
    assert "foredeck_hook_handling_seconds_count 1.0" in text
    assert count_events(db) == 0


async def test_metrics_registries_are_per_app(db: Database) -> None:
    a = create_app(make_settings(db), db.engine)
    b = create_app(make_settings(db), db.engine)  # a global registry would raise "Duplicated"
    assert a.state.metrics.registry is not b.state.metrics.registry
    a.state.writer.close()
    b.state.writer.close()
