"""A bounded fuzz of `POST /hook`'s parsing: whatever the body, the answer is 2xx or 4xx, counted.

Bodies are parsed before their signature is checked (the secret depends on the repository they
name), so anything an unauthenticated client sends reaches the parser. Each generated body is
sent validly signed (global secret), unsigned and wrongly signed; every answer must be a 2xx or
a 4xx with an error message, and must show up in the app's metrics.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foredeck.hook.metrics import event_label
from foredeck.hook.server import create_app
from foredeck.scm.webhooks import valid_event_name
from tests.db.fixtures import Database
from tests.hook import strategies
from tests.hook.helpers import METRICS_AUTH, make_settings
from tests.kit.webhooks import SECRET, headers

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=1500,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _form(fields: list[tuple[str, str]]) -> bytes:
    return urlencode(fields).encode()


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` nine times out of ten: odd headers are refused before the body is read."""
    return st.integers(0, 9).flatmap(lambda i: odd if i == 0 else usual)


_header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
json_documents = strategies.json_values.map(_json) | strategies.payloads.map(_json)
form_fields = st.lists(
    st.tuples(st.sampled_from(["payload", "other"]) | st.text(max_size=8), st.text(max_size=20))
    | json_documents.map(lambda doc: ("payload", doc.decode())),
    max_size=3,
)
JSON_TYPES = st.sampled_from([JSON, "application/json; charset=utf-8"])
FORM_TYPES = st.sampled_from([FORM, "Application/X-WWW-Form-Urlencoded"])
# (body, the content type it would be sent with)
bodies = st.one_of(
    st.tuples(json_documents, JSON_TYPES),
    st.tuples(strategies.deeply_nested(), JSON_TYPES),
    st.tuples(form_fields.map(_form), FORM_TYPES),
    st.tuples(
        strategies.deeply_nested().map(lambda doc: _form([("payload", doc.decode())])), FORM_TYPES
    ),
    st.tuples(st.binary(max_size=300), st.sampled_from([JSON, FORM])),
    st.tuples(st.text(max_size=100).map(str.encode), st.sampled_from([JSON, FORM])),
)
content_types = mostly(st.none(), _header_text)
"""None: the body's own content type; else a random one."""
events = mostly(st.sampled_from(["push", "pull_request", "issue_comment", "ping"]), _header_text)


@dataclass
class Hook:
    app: FastAPI
    runner: asyncio.Runner
    client: httpx.AsyncClient
    deliveries: Iterator[int] = field(default_factory=itertools.count)

    def post(
        self, body: bytes, content_type: str, event: str, secret: str | None
    ) -> httpx.Response:
        hdrs = headers(body, f"fuzz-{next(self.deliveries)}", event, secret, content_type)
        return self.runner.run(self.client.post("/hook", content=body, headers=hdrs))

    def counts(self) -> dict[tuple[str, str], float]:
        """Deliveries counted so far, by (event label, status)."""
        return {
            (sample.labels["event"], sample.labels["status"]): sample.value
            for metric in self.app.state.metrics.registry.collect()
            if metric.name == "foredeck_hook_deliveries"
            for sample in metric.samples
            if sample.name == "foredeck_hook_deliveries_total"
        }


@pytest.fixture
def hook(sqlite_db: Database) -> Iterator[Hook]:
    app = create_app(
        make_settings(sqlite_db, org_secrets={"acme": ["org-secret"]}), sqlite_db.engine
    )
    with asyncio.Runner() as runner:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hook")
        try:
            yield Hook(app, runner, client)
        finally:
            runner.run(client.aclose())
            app.state.writer.close()


def test_any_body_gets_a_counted_2xx_or_4xx(hook: Hook) -> None:
    sent = 0

    @FUZZ
    @given(sample=bodies, odd_type=content_types, event=events)
    def deliver(sample: tuple[bytes, str], odd_type: str | None, event: str) -> None:
        nonlocal sent
        body, content_type = sample[0], odd_type or sample[1]
        for secret in (SECRET, None, "wrong-secret"):
            before = hook.counts()
            r = hook.post(body, content_type, event, secret)
            sent += 1
            assert 200 <= r.status_code < 300 or 400 <= r.status_code < 500, r.text
            if r.status_code >= 400:
                assert r.json()["error"]
            if secret != SECRET:
                assert r.status_code >= 400
            after = hook.counts()
            label = event_label(event if valid_event_name(event) else None)  # else "none"
            key = (label, str(r.status_code))
            assert after[key] == before.get(key, 0.0) + 1
            assert sum(after.values()) == sum(before.values()) + 1

    deliver()
    text = hook.runner.run(hook.client.get("/metrics", headers=METRICS_AUTH)).text
    assert f"foredeck_hook_handling_seconds_count {float(sent)}" in text
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("foredeck_hook_deliveries_total{")
    )
    assert counted == sent
