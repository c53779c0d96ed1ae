"""Static files, links and headers: the parts that need no database."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from foredeck.dashboard.app import STATIC_DIR, static_file, static_url
from foredeck.dashboard.links import format_duration, query_url, safe_href
from foredeck.dashboard.pages import badge_status
from foredeck.serve.app import create_service_app
from foredeck.settings import Settings


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    from foredeck.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'fd.db'}"
    engine = make_engine(url)
    migrate(engine)
    return TestClient(create_service_app(Settings(database_url=url), engine))


def test_static_files_have_safe_types_and_no_way_out(client: TestClient) -> None:
    css = client.get("/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["x-content-type-options"] == "nosniff"
    js = client.get(static_url("joblist.js"))
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in js.text
    for bad in (
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/.hidden.css",
        "/static/nope.css",
        "/static/view/../../app.py",
    ):
        response = client.get(bad)
        assert response.status_code == 404, bad
    assert static_file("../app.py") is None and static_file("/etc/passwd") is None
    assert static_file("dashboard.css") == (STATIC_DIR / "dashboard.css").resolve()


def test_links_from_data_must_be_http() -> None:
    assert safe_href("https://github.com/a/b") == "https://github.com/a/b"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil", "/relative", "", None):
        assert safe_href(bad) is None
    assert query_url("/", {"a": None, "b": "", "c": "x y", "d": ["1", "2"]}) == "/?c=x+y&d=1&d=2"
    assert [format_duration(s) for s in (None, 5, 65, 3725)] == ["", "5s", "1m05s", "1h02m"]
    # Sub-second precision: a fast run is not "0s".
    assert [format_duration(s) for s in (0, 0.0001, 0.35, 0.9996, 4.25, 59.96)] == [
        "0s",
        "<1ms",
        "350ms",
        "1s",
        "4.2s",
        "1m00s",
    ]
    assert [badge_status(s) for s in ("success", "failure", "error", "aborted", None)] == [
        "passing",
        "failing",
        "failing",
        "unknown",
        "unknown",
    ]
