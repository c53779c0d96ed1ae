"""A method a path does not take is a 405 whose `Allow` names every method the path does take
(RFC 9110, 15.5.6), not only those of the first route Starlette matched: found by schemathesis'
`Allow` check (`OPTIONS /api/jobs` answered `Allow: GET`, though POST creates a job)."""

from __future__ import annotations

from pathlib import Path

from tests.api.helpers import AUTH, client_for
from tests.db.fixtures import Database


def test_a_405_lists_every_method_of_the_path(sqlite_db: Database, tmp_path: Path) -> None:
    with client_for(sqlite_db, tmp_path) as client:
        for method in ("OPTIONS", "DELETE", "PUT"):
            answer = client.request(method, "/api/jobs", headers=AUTH)
            assert answer.status_code == 405, (method, answer.text)
            assert answer.headers["allow"] == "GET, POST"
            assert answer.json() == {"detail": "Method Not Allowed"}
        answer = client.get("/api/jobs/1/rerun", headers=AUTH)
        assert answer.status_code == 405 and answer.headers["allow"] == "POST"
        # other errors are answered as before
        missing = client.get("/api/nowhere", headers=AUTH)
        assert missing.status_code == 404 and "allow" not in missing.headers


def test_metrics_are_documented_as_text(sqlite_db: Database, tmp_path: Path) -> None:
    with client_for(sqlite_db, tmp_path) as client:
        schema = client.get("/openapi.json").json()
    content = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]
