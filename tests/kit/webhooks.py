"""Signed webhook deliveries, as GitHub sends them, to a hook in-process or over HTTP; and the
hook server as a process of its own."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from foredeck.hook.server import create_app
from foredeck.scm.webhooks import sign
from foredeck.settings import Settings
from tests.db.fixtures import Database
from tests.kit.server import HOOK, ServerProcess

SECRET = "s3cret-global"


def headers(
    body: bytes,
    delivery: str,
    event: str = "pull_request",
    secret: str | None = SECRET,
    content_type: str = "application/json",
) -> dict[str, str]:
    """GitHub's headers for `body`, signed with `secret` (None: unsigned)."""
    result = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "Content-Type": content_type,
        "User-Agent": "GitHub-Hookshot/test",
    }
    if secret is not None:
        result["X-Hub-Signature-256"] = sign(body, secret)
    return result


def deliver(url: str, event: str, payload: dict[str, Any]) -> str:
    """A signed delivery to `url/hook`, which must log it (200 or 202); its delivery id."""
    body = json.dumps(payload).encode()
    delivery = str(uuid.uuid4())
    r = httpx.post(f"{url}/hook", content=body, headers=headers(body, delivery, event), timeout=30)
    assert r.status_code in (200, 202), (r.status_code, r.text)
    return delivery


@contextmanager
def hook_app(settings: Settings, db: Database) -> Iterator[FastAPI]:
    """The hook app on `db`; its event writer closed at the end."""
    application = create_app(settings, db.engine)
    try:
        yield application
    finally:
        application.state.writer.close()


@asynccontextmanager
async def asgi_client(
    app: FastAPI, base_url: str = "http://hook"
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling `app` in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


def hook_server(
    workdir: Path,
    database_url: str,
    plugins: Sequence[str] = ("tests.hook.recorder:factory",),
    plugin_config: dict[str, Any] | None = None,
    **settings: Any,
) -> ServerProcess:
    """`python -m foredeck.hook` (not started) with `plugins`, the global `SECRET`."""
    config = {
        "database_url": database_url,
        "hook": {"secrets": [SECRET], "host": "127.0.0.1"},
        "worker": {"plugins": list(plugins), "poll_interval": 0.5},
        "plugin_config": plugin_config or {},
        **settings,
    }
    return ServerProcess(workdir=workdir, config=config, command=HOOK)


# --- storms: many deliveries at once -----------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event: str
    body: bytes
    headers: dict[str, str]
    good: bool


@dataclass
class Outcome:
    delivery: Delivery
    status: int | None  # None: no answer (connection error)
    body: dict[str, Any] | None


async def send_all(
    url: str,
    deliveries: Sequence[Delivery],
    concurrency: int = 32,
    stop_after: asyncio.Event | None = None,
) -> list[Outcome]:
    """POST every delivery with `concurrency` in flight; connection errors become status None."""
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def one(d: Delivery) -> Outcome:
            async with semaphore:
                if stop_after is not None and stop_after.is_set():
                    return Outcome(d, None, None)
                try:
                    r = await client.post("/hook", content=d.body, headers=d.headers)
                except httpx.HTTPError:
                    return Outcome(d, None, None)
                return Outcome(d, r.status_code, r.json())

        return list(await asyncio.gather(*(one(d) for d in deliveries)))
