"""`/view/{id}` on builds made by running real pipelines and publishing them in Prow's layout."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from foredeck.access.gate import CSRF_COOKIE, SESSION_COOKIE
from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import set_state
from foredeck.db.models import Job
from foredeck.serve.app import create_service_app
from foredeck.settings import Settings
from foredeck.storage.layout import job_paths
from foredeck.storage.local import LocalStore
from foredeck.storage.publish import publish_run
from foredeck.storage.store import ArtifactStore, open_store
from tests.dashboard.view.builds import (
    GRAPH_PIPELINE,
    XSS,
    Build,
    add_row,
    client_for,
    run_and_publish,
)
from tests.db.fixtures import Database


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArtifactStore, Build]]:
    root = tmp_path_factory.mktemp("view")
    store = open_store(f"file://{root / 'store'}")
    build = run_and_publish(store, root / "out", "ci", "presubmit", {"pipeline": GRAPH_PIPELINE})
    yield store, build


def section(page: str, lens: str) -> str:
    match = re.search(rf'<section class="lens" id="lens-{lens}".*?</section>', page, re.S)
    assert match, f"lens {lens} missing"
    return match.group(0)


def test_every_lens_renders_for_a_failed_pipeline_run(
    db: Database, published: tuple[ArtifactStore, Build]
) -> None:
    store, build = published
    assert build.state == "failure"
    job_id = add_row(db, build)
    client = client_for(db, store, signed_in=True)
    response = client.get(f"/view/{job_id}")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    page = response.text
    lenses = re.findall(r'<section class="lens" id="lens-(\w+)"', page)
    assert lenses == ["summary", "metadata", "graph", "junit", "buildlog", "artifacts"]

    meta = section(page, "metadata")
    assert "FAILURE" in meta
    assert 'href="https://github.com/acme/widget/pull/7"' in meta
    assert 'href="https://github.com/acme/widget/commit/' + "b" * 40 + '"' in meta
    assert "started.json" in meta and "finished.json" in meta
    assert "&#34;result&#34;: &#34;FAILURE&#34;" in meta  # pretty-printed, escaped JSON

    # Rerun and abort buttons post through view.js; abort only while the job runs.
    assert 'data-action="rerun"' in page and 'data-action="abort"' not in page
    # Nobody (not signed in) may rerun: no button.
    anonymous = client_for(db, store).get(f"/view/{job_id}").text
    assert "FAILURE" in anonymous and "data-action" not in anonymous
    assert re.search(r'<script src="/static/view/view\.js[^"]*" defer>', page)
    # A local run's url is its file:// build directory: no pipeline UI link.
    assert "pipeline-ui" not in page


def test_build_log_highlights_errors_colours_and_escapes(
    db: Database, published: tuple[ArtifactStore, Build]
) -> None:
    store, build = published
    client = client_for(db, store)
    job_id = add_row(db, build)
    page = client.get(f"/view/{job_id}").text
    log = section(page, "buildlog")
    error_lines = re.findall(r'<div class="log-line log-error" id="(L\d+)">(.*?)</div>', log)
    assert error_lines, "no highlighted line"
    first_id, first_text = error_lines[0]
    assert "ERROR: widget test failed" in first_text
    assert f'<a class="jump-error" href="#{first_id}">' in log
    assert re.search(rf'<a class="ln" href="/view/{job_id}\?start=0#{first_id}">', log)
    # ANSI colour as a class, escape bytes gone.
    assert '<span class="ansi-fg-31">red text</span> plain' in log
    assert "\x1b" not in log
    # The script in the log is text.
    assert html.escape(XSS, quote=True) in log
    assert XSS not in page
    # Compiling lines far from the error are folded; the error is visible.
    assert re.search(r"<details class=\"log-fold\"><summary>show all \d+ lines</summary>", log)
    assert "compiling unit 1<" in log


def test_error_patterns_come_from_plugin_config(
    db: Database, published: tuple[ArtifactStore, Build]
) -> None:
    store, build = published
    job_id = add_row(db, build)
    # One broken pattern (ignored, logged) and one that matches the lint task's output.
    client = client_for(db, store, dashboard={"error_patterns": ["(unclosed", r"lint ok\b"]})
    log = section(client.get(f"/view/{job_id}").text, "buildlog")
    error_lines = re.findall(r'<div class="log-line log-error" id="L\d+">(.*?)</div>', log)
    assert len(error_lines) == 1 and "lint ok" in error_lines[0]


def test_junit_lens_lists_failed_tests_first_with_output(
    db: Database, published: tuple[ArtifactStore, Build]
) -> None:
    store, build = published
    client = client_for(db, store)
    junit = section(client.get(f"/view/{add_row(db, build)}").text, "junit")
    assert re.findall(r'data-status="(\w+)"', junit) == ["failed", "skipped", "passed"]
    assert "1 failed" in junit and "1 passed" in junit and "1 skipped" in junit
    assert "assert 1 == 2" in junit
    assert "Traceback: boom &lt;b&gt;" in junit  # the XML's text, escaped again for HTML
    assert "1.250s" in junit


def test_pipeline_graph_has_a_node_per_task_and_opens_task_logs(
    db: Database, published: tuple[ArtifactStore, Build]
) -> None:
    store, build = published
    job_id = add_row(db, build)
    client = client_for(db, store)
    graph = section(client.get(f"/view/{job_id}").text, "graph")
    nodes = dict(
        re.findall(r'<g class="task status-\w+" data-task="(\w+)" data-status="(\w+)"', graph)
    )
    assert nodes == {
        "prepare": "Succeeded",
        "lint": "Succeeded",
        "build": "Succeeded",
        "test": "Failed",
        "deploy": "Skipped",
        "report": "Succeeded",
    }
    assert 'data-task="test" data-status="Failed" data-attempts="2"' in graph
    assert "2 attempts" in graph
    edges = set(re.findall(r'data-from="(\w+)" data-to="(\w+)"', graph))
    assert edges == {
        ("prepare", "lint"),
        ("prepare", "build"),
        ("build", "test"),
        ("test", "deploy"),
    }
    # Ranks by longest path: prepare | lint, build | test | deploy | report (finally last).
    found = re.findall(r'data-task="(\w+)"[^>]*><title>[^<]*</title><rect x="(\d+)"', graph)
    xs = {name: int(x) for name, x in found}
    assert xs["prepare"] < xs["build"] == xs["lint"] < xs["test"] < xs["deploy"] < xs["report"]

    link = f"/view/{job_id}/task/test"
    assert f'<a href="{link}" class="task-link">' in graph
    task = client.get(link)
    assert task.status_code == 200
    assert 'id="task-status">Failed' in task.text
    assert re.search(r'class="log-line log-error" id="L\d+">.*ERROR: widget test failed', task.text)
    assert "flaky first attempt" in task.text  # the first attempt's output is in the task log
    assert client.get(f"/view/{job_id}/task/nope").status_code == 404
    # The task's log is its lines of the build log, read through its index: its raw bytes too.
    assert f'href="{link}/log"' in task.text
    raw = client.get(f"{link}/log")
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/plain")
    lines = raw.text.splitlines()
    assert lines and all(" [test/" in line for line in lines)
    assert "ERROR: widget test failed" in raw.text and "[build/" not in raw.text
    assert int(raw.headers["x-log-size"]) == len(raw.content)
    assert client.get(f"{link}/log?start=5&end=25").content == raw.content[5:25]
    assert client.get(f"/view/{job_id}/task/nope/log").status_code == 404


def test_artifact_browser_serves_safely_and_never_leaves_the_build(
    db: Database, published: tuple[ArtifactStore, Build]
) -> None:
    store, build = published
    job_id = add_row(db, build)
    client = client_for(db, store)
    base = f"/view/{job_id}/artifacts"
    listing = client.get(f"{base}/artifacts/build/")
    assert listing.status_code == 200
    assert f'href="{base}/artifacts/build/page.html"' in listing.text

    page = client.get(f"{base}/artifacts/build/page.html")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/plain; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in page.headers["content-security-policy"]
    assert page.text == "<html><script>alert(1)</script></html>"

    blob = client.get(f"{base}/artifacts/build/blob.bin")
    assert blob.headers["content-type"] == "application/octet-stream"
    assert blob.headers["content-disposition"].startswith("attachment;")
    assert blob.content == b"\x00\x01\x02binary"

    # The scratch dir is never served, and no path climbs out of the build directory.
    # A literal `../` is resolved by the client (like a browser) and lands on no route.
    assert client.get(f"{base}/../latest-build.txt").status_code == 404
    for bad in (
        "..%2Flatest-build.txt",
        "%2E%2E/%2E%2E/%2E%2E/latest-build.txt",
        "artifacts/%2E%2E/%2E%2E/latest-build.txt",
        "%2Fetc%2Fpasswd",
        "artifacts//build/page.html",
        "artifacts\\..\\started.json",
        ".work/x",
    ):
        response = client.get(f"{base}/{bad}")
        assert response.status_code == 400, (bad, response.status_code)
        assert "invalid artifact path" in response.text
    assert client.get(f"{base}/missing.txt").status_code == 404


def test_large_log_first_page_reads_a_bounded_range(db: Database, tmp_path: Path) -> None:
    """A 64 MB log (sparse: mostly NUL-free filler written in one go) opens from its tail."""
    store = SpyStore(tmp_path / "store")
    out = tmp_path / "out"
    out.mkdir()
    line = b"2024-01-01T00:00:00.000Z [big/run] " + b"x" * 90 + b"\n"
    size_target = 64 * 1024 * 1024
    with (out / "build-log.txt").open("wb") as handle:
        block = line * 8192
        while handle.tell() < size_target:
            handle.write(block)
            if handle.tell() == len(block) * 20:
                early = handle.tell()
                handle.write(b"FAIL: early trouble\n")
        handle.write(b"ERROR: at the very end\n")
    (out / "started.json").write_text('{"timestamp": 1}')
    publish_run(store, job_paths("periodic", None, None, None, "big", "1790000000000000002"), out)
    build = Build("big", "periodic", "1790000000000000002", {}, None, "failure")
    job_id = add_row(db, build)
    client = client_for(db, store)
    store.read = 0
    response = client.get(f"/view/{job_id}")
    assert response.status_code == 200
    assert store.read <= 300 * 1024, store.read  # the 256 KB tail (+ small JSON files)
    log = section(response.text, "buildlog")
    assert "ERROR: at the very end" in log
    # The summary lists the errors of the page shown (no byte more read) and offers the search.
    summary = section(response.text, "summary")
    assert "ERROR: at the very end" in summary and "early trouble" not in summary
    assert f'href="/view/{job_id}?find_error=0"' in summary
    earlier = re.search(r'class="log-earlier" href="[^"]*\?end=(\d+)#log"', log)
    assert earlier
    end = int(earlier.group(1))
    with (out / "build-log.txt").open("rb") as handle:  # the page starts on a line boundary
        handle.seek(end - 1)
        assert handle.read(1) == b"\n"
    assert re.search(r'id="B\d+"', log) and 'id="L1"' not in log  # offsets, not line numbers

    store.read = 0
    older = client.get(f"/view/{job_id}?end={end}")
    assert older.status_code == 200 and store.read <= 300 * 1024
    first = client.get(f"/view/{job_id}?start=0")
    assert 'id="L1"' in first.text and "later &raquo;" in first.text

    # "find first error in the whole log" scans forward (bounded) and lands on the line.
    assert f'href="/view/{job_id}?find_error=0"' in log
    found = client.get(f"/view/{job_id}?find_error=0", follow_redirects=False)
    assert found.status_code == 303
    location = found.headers["location"]
    assert location.endswith(f"#B{early}")
    landed = client.get(location.split("#")[0]).text
    assert re.search(rf'class="log-line log-error" id="B{early}">.*FAIL: early trouble', landed)
    store.read = 0
    size = (out / "build-log.txt").stat().st_size
    last = size - len(b"ERROR: at the very end\n")
    # 44 MB to the next error: one request scans 32 MB and offers to search on from there.
    following = client.get(f"/view/{job_id}?find_error={early + 20}")
    assert following.status_code == 200
    assert store.read <= 32 * 1024 * 1024 + 400 * 1024
    on = re.search(r'class="find-error-on" href="([^"]+)"', following.text)
    assert on and f"No error line in bytes {early + 20}\N{EN DASH}" in following.text
    last_hop = client.get(html.unescape(on.group(1)), follow_redirects=False)
    assert last_hop.headers["location"].endswith(f"#B{last}")
    store.read = 0
    nothing = client.get(f"/view/{job_id}?find_error={size}")
    assert nothing.status_code == 200  # nothing left to scan: a note above the tail
    assert f"No error line in bytes {size}\N{EN DASH}{size}." in nothing.text
    assert "search on" not in nothing.text
    assert store.read <= 32 * 1024 * 1024 + 400 * 1024

    raw = client.get(f"/view/{job_id}/log?start={len(line)}&end={2 * len(line)}")
    assert raw.content == line
    assert raw.headers["content-type"] == "text/plain; charset=utf-8"
    assert int(raw.headers["x-log-size"]) == (out / "build-log.txt").stat().st_size


def test_running_job_reads_its_workspace_and_offers_abort(db: Database, tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path / 'store'}")
    workspace = tmp_path / "ws"
    (workspace / "out").mkdir(parents=True)
    (workspace / "out" / "build-log.txt").write_text("step one\npanic: runtime error\n")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("do not serve")
    (workspace / "out" / "leak").symlink_to(secret)
    (workspace / "out" / "leak.txt").symlink_to(secret / "key.txt")
    build = Build("live", "periodic", "1790000000000000003", {}, None, "pending")
    job_id = add_row(db, build, state="pending")
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.workspace = str(workspace)
        job.url = "https://argo.example.com/workflows/ci/run-1"
    client = client_for(db, store, signed_in=True)
    page = client.get(f"/view/{job_id}").text
    assert 'data-action="abort"' in page
    assert 'class="pipeline-ui" href="https://argo.example.com/workflows/ci/run-1"' in page
    assert "in progress" in page
    assert re.search(r'class="log-line log-error" id="L2">.*panic: runtime error', page)
    assert client.get(f"/view/{job_id}/log").text == "step one\npanic: runtime error\n"
    # Symlinks the job planted in its workspace lead nowhere.
    for planted in ("leak/key.txt", "leak/", "leak.txt"):
        response = client.get(f"/view/{job_id}/artifacts/{planted}")
        assert response.status_code == 404 and "do not serve" not in response.text
    assert "leak" not in client.get(f"/view/{job_id}/artifacts/").text
    # Finished but never published (the store has nothing): still shown from the workspace.
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        assert set_state(session, job_id, "error", description="publishing failed")
    page = client.get(f"/view/{job_id}").text
    assert "panic: runtime error" in page and "in progress" not in page
    assert 'data-action="abort"' not in page
    assert client.get(f"/view/{job_id + 100}").status_code == 404
    assert client.get(f"/view/{10**30}").status_code == 400  # not an id the database can hold
    assert client.get(f"/view/{job_id}?start=-1").status_code == 400
    # A job that has not started yet has no build and no lenses but its metadata.
    queued = add_row(db, Build("queued", "periodic", "", {}, None, "triggered"), state="triggered")
    page = client.get(f"/view/{queued}").text
    assert re.findall(r'<section class="lens" id="lens-(\w+)"', page) == ["metadata"]
    assert client.get(f"/view/{queued}/log").status_code == 404
    assert client.get(f"/view/{queued}/artifacts/x").status_code == 404


class SpyStore(LocalStore):
    """A local artifact store that counts the bytes read from it."""

    read = 0

    def read_range(self, path: str, start: int, length: int) -> bytes:
        data = super().read_range(path, start, length)
        self.read += len(data)
        return data

    def read_bytes(self, path: str) -> bytes:
        data = super().read_bytes(path)
        self.read += len(data)
        return data


def test_served_by_the_service_app_with_its_script_and_the_api(
    db: Database, published: tuple[ArtifactStore, Build]
) -> None:
    """`foredeck serve`'s app mounts the run page; the buttons' API answers as view.js expects."""
    store, build = published
    job_id = add_row(db, build)
    settings = Settings.model_validate(
        {"database_url": db.url, "artifacts": {"url": store.url}, "api": {"token": "tok"}}
    )
    client = TestClient(create_service_app(settings, db.engine, store=store))
    page = client.get(f"/view/{job_id}")
    assert page.status_code == 200 and 'id="lens-graph"' in page.text
    script = re.search(r'<script src="(/static/view/view\.js[^"]*)"', page.text)
    assert script
    served = client.get(script.group(1))
    assert served.status_code == 200 and "X-CSRF-Token" in served.text
    # Without a session the API refuses with a JSON `detail` (shown by view.js).
    refused = client.post(f"/api/jobs/{job_id}/rerun")
    assert refused.status_code == 401 and refused.json()["detail"]
    # Signed in (the session cookie), the page's CSRF token must come with the POST.
    client.cookies.set(SESSION_COOKIE, "tok")
    page = client.get(f"/view/{job_id}")
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert csrf and client.cookies.get(CSRF_COOKIE) == csrf.group(1)
    forged = client.post(f"/api/jobs/{job_id}/rerun")
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    wrong = client.post(f"/api/jobs/{job_id}/rerun", headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    rerun = client.post(f"/api/jobs/{job_id}/rerun", headers={"X-CSRF-Token": csrf.group(1)})
    assert rerun.status_code in (200, 201), rerun.text
    assert client.get(f"/view/{rerun.json()['id']}").status_code == 200


def test_an_unreadable_log_does_not_name_its_path(
    db: Database, published: tuple[ArtifactStore, Build], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error page says the log cannot be read, not where the server keeps it."""
    store, build = published
    job_id = add_row(db, build)
    secret = "/srv/secret-place/.foredeck/artifacts/build-log.txt"

    def unreadable(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", secret)

    monkeypatch.setattr("foredeck.dashboard.view.routes._range_response", unreadable)
    r = client_for(db, store).get(f"/view/{job_id}/log")
    assert r.status_code == 404 and "cannot be read" in r.text
    assert "secret-place" not in r.text


def test_metadata_lists_the_pushed_images_escaped(db: Database, tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path / 'store'}")
    out = tmp_path / "out"
    out.mkdir()
    pushed = "127.0.0.1:5000/team/app:1.0@sha256:" + "a" * 64
    (out / "started.json").write_text('{"timestamp": 1}')
    finished = {
        "timestamp": 2,
        "passed": True,
        "result": "SUCCESS",
        "metadata": {"images": [pushed, f"evil/{XSS}:x@sha256:0", 7]},
    }
    (out / "finished.json").write_text(json.dumps(finished))
    build_id = "1790000000000000003"
    publish_run(store, job_paths("periodic", None, None, None, "img", build_id), out)
    job_id = add_row(db, Build("img", "periodic", build_id, {}, None, "success"))
    page = client_for(db, store).get(f"/view/{job_id}").text
    meta = section(page, "metadata")
    images = re.findall(r"<li><code>(.*?)</code></li>", meta)
    assert [html.unescape(image) for image in images] == [pushed, f"evil/{XSS}:x@sha256:0"]
    assert "<script>alert" not in page
