"""What each role of `foredeck serve` builds, and the order components start and stop in."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from foredeck.db import make_engine, session_factory
from foredeck.db.eventlog import NewEvent, log_events
from foredeck.db.jobs import create_job
from foredeck.db.migrate import current_revision, head_revision
from foredeck.hook.events import StoredEvent
from foredeck.serve.app import create_service_app
from foredeck.serve.compose import NotifyingWorker, Service, build_service
from foredeck.serve.run import run_until_signal
from foredeck.serve.worker_process import WorkerProcess
from foredeck.settings import (
    ApiSettings,
    GitHubSettings,
    HookSettings,
    ScmSettings,
    Settings,
    WorkerSettings,
)
from tests.api.helpers import JOB_CONFIG, presubmit
from tests.db.fixtures import Database


class Recorder:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def start(self) -> None:
        self.log.append(f"start {self.name}")

    def stop(self, timeout: float = 30.0) -> None:
        self.log.append(f"stop {self.name}")


def settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'fd.db'}", **kw)  # type: ignore[arg-type]


def test_hook_role_migrates_and_serves_the_api(tmp_path: Path) -> None:
    service = build_service(settings(tmp_path, hook=HookSettings(secrets=[SecretStr("x")])), "hook")
    try:
        assert current_revision(service.engine) == head_revision()
        assert service.components == [] and service.app is not None
        with TestClient(service.app) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            assert client.get("/api/jobs").json() == {"jobs": [], "next": None}
            assert client.post("/hook").status_code == 400  # the hook is there
            # Commit statuses link to /jobs/ID: the dashboard's run page.
            page = client.get("/jobs/7", follow_redirects=False)
            assert (page.status_code, page.headers["location"]) == (307, "/view/7")
            assert client.get("/jobs/7").status_code == 404  # followed: no such job
    finally:
        service.stop()


def test_without_a_secret_there_is_no_hook(tmp_path: Path) -> None:
    service = build_service(settings(tmp_path), "hook")
    try:
        assert service.app is not None
        with TestClient(service.app) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            assert client.get("/api/jobs").status_code == 200
            assert client.post("/hook").status_code == 404
            assert "/hook" not in client.get("/openapi.json").json()["paths"]
    finally:
        service.stop()


@pytest.mark.parametrize(
    ("api", "level", "says"),
    [
        ({}, "INFO", "API writes are disabled: no api.token"),
        ({"anonymous_writes": True}, "WARNING", "API writes are open to anyone"),
        ({"token": "t", "anonymous_writes": True}, "WARNING", "API writes are open to anyone"),
    ],
)
def test_the_start_says_who_may_write_through_the_api(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, api: dict[str, object], level: str, says: str
) -> None:
    caplog.set_level("INFO", logger="foredeck")
    service = build_service(settings(tmp_path, api=ApiSettings.model_validate(api)), "hook")
    service.stop()
    lines = [r for r in caplog.records if "API writes" in r.getMessage()]
    assert [(r.levelname, says in r.getMessage()) for r in lines] == [(level, True)], lines


def test_with_a_roles_file_and_no_bootstrap_token_writes_need_personal_tokens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="foredeck")
    roles = tmp_path / "roles.yaml"
    roles.write_text("grants: []\n")
    config = settings(tmp_path, api=ApiSettings(roles_path=str(roles)))
    build_service(config, "hook").stop()
    lines = [r.getMessage() for r in caplog.records if "API writes" in r.getMessage()]
    assert lines == [
        "API writes need personal tokens: there is no bootstrap api.token to make the first "
        "ones with (docs/access.md)"
    ]


def test_a_token_without_anonymous_writes_needs_no_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="foredeck")
    build_service(settings(tmp_path, api=ApiSettings(token=SecretStr("t"))), "hook").stop()
    assert not [r for r in caplog.records if "API writes" in r.getMessage()]
    # Roles without HTTP serve no API and say nothing about it.
    build_service(settings(tmp_path, api=ApiSettings(anonymous_writes=True)), "sinker").stop()
    assert not [r for r in caplog.records if "API writes" in r.getMessage()]


def test_worker_role_runs_the_default_trigger_plugin(tmp_path: Path) -> None:
    config = tmp_path / "jobs.yaml"
    config.write_text(JOB_CONFIG)
    github = GitHubSettings(token=SecretStr("not-used"))
    service = build_service(settings(tmp_path, config_path=str(config), github=github), "worker")
    try:
        assert service.app is None
        (worker,) = service.components
        assert isinstance(worker, NotifyingWorker)
        assert [p.name for p in worker.plugins] == ["trigger"]
    finally:
        service.stop()


def test_role_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown role 'nope'"):
        build_service(settings(tmp_path), "nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"the watcher role needs scm\.provider: local"):
        build_service(settings(tmp_path, scm=ScmSettings(provider="github")), "watcher")


def test_all_role_without_github_credentials_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"github: no credentials.*scm\.provider: local"):
        build_service(settings(tmp_path), "all")


def test_all_role_runs_the_worker_in_a_process_of_its_own(tmp_path: Path) -> None:
    local = ScmSettings(provider="local", local_root=str(tmp_path / "repos"))
    service = build_service(settings(tmp_path, scm=local), "all")
    try:
        assert service.app is not None
        assert isinstance(service.components[0], WorkerProcess)
        assert service.worker_process is service.components[0] and service.worker is None
    finally:
        service.stop()


def test_all_role_can_keep_the_worker_in_this_process(tmp_path: Path) -> None:
    local = ScmSettings(provider="local", local_root=str(tmp_path / "repos"))
    worker = WorkerSettings(own_process=False)
    service = build_service(settings(tmp_path, scm=local, worker=worker), "all")
    try:
        assert isinstance(service.components[0], NotifyingWorker)
        assert service.worker is service.components[0] and service.worker_process is None
    finally:
        service.stop()


def test_app_starts_components_in_order_and_stops_them_in_reverse(db: Database) -> None:
    log: list[str] = []
    app = create_service_app(
        Settings(database_url=db.url),
        db.engine,
        components=[Recorder("a", log), Recorder("b", log)],
    )
    with TestClient(app) as client:
        assert log == ["start a", "start b"]
        assert client.get("/healthz").status_code == 200
    assert log == ["start a", "start b", "stop b", "stop a"]


def test_run_until_signal_stops_in_reverse(tmp_path: Path) -> None:
    log: list[str] = []
    service = build_service(settings(tmp_path), "periodics")  # nothing to run without config
    stop = threading.Event()

    class Stopper(Recorder):
        def start(self) -> None:
            super().start()
            stop.set()

    service.components = [Recorder("a", log), Stopper("b", log)]
    run_until_signal(service, stop)
    assert log == ["start a", "start b", "stop b", "stop a"]


class Noop:
    name = "noop"

    def handle(self, event: StoredEvent, session: Session) -> None:
        return None


def test_worker_wakes_the_controller_after_handling_events(db: Database) -> None:
    woken: list[int] = []
    worker = NotifyingWorker(db.engine, [Noop()], after_batch=[lambda: woken.append(1)])
    assert worker.process_batch() == 0 and woken == []
    with session_factory(db.engine).begin() as session:
        log_events(session, [NewEvent("d-1", "ping", None, None, None, b"{}")])
    assert worker.process_batch() == 1
    assert woken == [1]
    worker.close()


def test_sqlite_engine_is_disposed_on_stop(tmp_path: Path) -> None:
    service = build_service(settings(tmp_path), "sinker")
    service.start()
    service.stop()
    # The file is usable by someone else right after (no lingering write transaction).
    engine = make_engine(f"sqlite:///{tmp_path / 'fd.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
    engine.dispose()


class FakeComponent:
    """Stands in for the controller, reporter, ...: records its wiring and wake-ups."""

    instances: dict[str, FakeComponent] = {}

    def __init__(self, kind: str, kwargs: dict[str, object]) -> None:
        self.kind = kind
        self.kwargs = kwargs
        self.notified = 0
        FakeComponent.instances[kind] = self

    def notify(self) -> None:
        self.notified += 1

    def start(self) -> None:
        pass

    def stop(self, timeout: float = 30.0) -> None:
        pass


def fake(kind: str) -> type:
    class Factory:
        @staticmethod
        def from_settings(*args: object, **kwargs: object) -> FakeComponent:
            return FakeComponent(kind, kwargs)

    return Factory


def fake_watcher(*args: object, **kwargs: object) -> FakeComponent:
    return FakeComponent("LocalWatcher", kwargs)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeComponent]:
    for kind in ("Reporter", "Controller", "PeriodicScheduler", "Sinker", "Tide"):
        monkeypatch.setattr(f"foredeck.serve.compose.{kind}", fake(kind))
    monkeypatch.setattr("foredeck.scm.local.provider.LocalWatcher", fake_watcher)
    FakeComponent.instances.clear()
    return FakeComponent.instances


def all_role(tmp_path: Path, **kw: object) -> Service:
    (tmp_path / "jobs.yaml").write_text(JOB_CONFIG)
    local = ScmSettings(provider="local", local_root=str(tmp_path / "repos"))
    token = ApiSettings(token=SecretStr("t"))
    config = str(tmp_path / "jobs.yaml")
    return build_service(settings(tmp_path, scm=local, api=token, config_path=config, **kw), "all")


@pytest.mark.parametrize("own_process", [False, True])
def test_all_role_wires_the_wake_ups(
    tmp_path: Path, fakes: dict[str, FakeComponent], own_process: bool
) -> None:
    service = all_role(tmp_path, worker=WorkerSettings(own_process=own_process))
    try:
        kinds = {"Reporter", "Controller", "PeriodicScheduler", "Sinker", "Tide", "LocalWatcher"}
        assert set(fakes) == kinds
        worker = service.components[0]
        assert isinstance(worker, WorkerProcess if own_process else NotifyingWorker)
        # Start order: worker, reporter, controller, ... (stop order is the reverse).
        assert service.components[1:3] == [fakes["Reporter"], fakes["Controller"]]
        # controller -> reporter; watcher -> worker; worker and periodics -> controller
        assert fakes["Controller"].kwargs["on_state_change"] == fakes["Reporter"].notify
        assert fakes["LocalWatcher"].kwargs["on_logged"] == worker.notify
        assert worker.after_batch == [fakes["Controller"].notify]
        tick = fakes["PeriodicScheduler"].kwargs["notify"]
        assert callable(tick)
        tick()
        assert fakes["Controller"].notified == 1
        started = fakes["Tide"].kwargs["on_started"]  # Tide started retests or batches
        assert callable(started)
        started()
        assert fakes["Controller"].notified == 2
    finally:
        service.stop()


def test_api_writes_wake_the_controller_and_the_reporter(
    tmp_path: Path, fakes: dict[str, FakeComponent]
) -> None:
    service = all_role(tmp_path, worker=WorkerSettings(own_process=False))
    try:
        with session_factory(service.engine).begin() as session:
            job_id = create_job(session, presubmit())[0].id
        assert service.app is not None
        with TestClient(service.app) as client:
            auth = {"Authorization": "Bearer t"}
            aborted = client.post(f"/api/jobs/{job_id}/abort", headers=auth)
            assert aborted.status_code == 200
        assert (fakes["Controller"].notified, fakes["Reporter"].notified) == (1, 1)
    finally:
        service.stop()


def test_a_component_that_fails_to_build_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the sinker is broken")

    monkeypatch.setattr("foredeck.serve.compose.Sinker.from_settings", broken)
    local = ScmSettings(provider="local", local_root=str(tmp_path / "repos"))
    with pytest.raises(RuntimeError, match="the sinker is broken"):
        build_service(settings(tmp_path, scm=local), "all")
