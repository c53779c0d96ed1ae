"""`python -m foredeck.demo` end to end, as `make demo` runs it: a real server, a pull request
that fails, a fix that passes, a merge; artifacts in Prow's layout; nothing left running, also
after Ctrl-C in the middle."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from foredeck.demo import MARKER, DemoError, Server, build_dir, demo_settings, prepare_workdir
from foredeck.demo.options import EXAMPLES
from tests.child import ROOT, python_path


def demo_argv(workdir: Path) -> list[str]:
    return [sys.executable, "-m", "foredeck.demo", "--workdir", str(workdir)]


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREDECK_")}
    env["PYTHONPATH"] = python_path()
    return env


def processes_using(path: Path) -> list[str]:
    """Processes whose command line or working directory lies under `path`."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        cwd = proc.info["cwd"] or ""
        if str(path) in cmdline or cwd.startswith(str(path)):
            found.append(f"{proc.info['pid']}: {cmdline} (cwd {cwd})")
    return found


def assert_nothing_left(path: Path) -> None:
    deadline = time.monotonic() + 10
    while (left := processes_using(path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], f"processes left running: {left}"


def test_demo_runs_a_failing_then_passing_pull_request_and_a_merge(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    done = subprocess.run(
        demo_argv(workdir),
        cwd=tmp_path,
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Demo done" in out, out
    failed_at = out.index("unit failed")
    assert "FAIL calc mul 3 4: expected 12, got 7" in out
    assert "report comment on the pull request" in out
    passed_at = out.index("unit now passes; the failure report comment is gone.")
    merged_at = out.index("Merge pull request #1")
    assert failed_at < passed_at < merged_at, out
    assert "stopped (exit status 0)" in out

    artifacts = workdir / "artifacts"
    unit_builds = sorted((artifacts / "pr-logs/pull/acme_calculator/1/unit").glob("[0-9]*"))
    assert len(unit_builds) == 2, unit_builds
    results = []
    for build in unit_builds:
        for name in ("started.json", "finished.json", "build-log.txt", "prowjob.json"):
            assert (build / name).is_file(), build / name
        results.append(json.loads((build / "finished.json").read_text())["result"])
    assert results == ["FAILURE", "SUCCESS"]  # build ids grow with time
    assert "FAIL calc mul" in (unit_builds[0] / "build-log.txt").read_text()
    latest = (artifacts / "pr-logs/pull/acme_calculator/1/unit/latest-build.txt").read_text()
    assert latest.strip() == unit_builds[1].name
    checks = list((artifacts / "pr-logs/pull/acme_calculator/1/checks").glob("[0-9]*"))
    assert len(checks) == 2
    # examples/e2e-pipeline.yaml as a presubmit: its unit tests' JUnit XML is kept.
    e2e = sorted((artifacts / "pr-logs/pull/acme_calculator/1/e2e").glob("[0-9]*"))
    assert len(e2e) == 2
    assert list(e2e[0].glob("artifacts/**/junit*.xml")), list(e2e[0].rglob("*"))
    posts = sorted((artifacts / "logs/build").glob("[0-9]*"))
    assert len(posts) == 2  # the imported main, then the merge
    images = []
    for build in posts:
        finished = json.loads((build / "finished.json").read_text())
        assert finished["result"] == "SUCCESS"
        assert (build / "artifacts/test/calculator.tar").is_file()
        images += finished["metadata"]["images"]
    assert_one_bump_pull_request(workdir, out, images)
    assert str(unit_builds[0] / "build-log.txt") in out  # where the failed run's log is
    assert re.search(r"The dashboard: http://127\.0\.0\.1:\d+/", out), out
    assert re.search(r"dashboard: http://127\.0\.0\.1:\d+/ \(the failed run: .*/view/\d+\)", out)

    assert_nothing_left(tmp_path)


def assert_one_bump_pull_request(workdir: Path, out: str, images: list[str]) -> None:
    """Two postsubmits, two recorded images: one bump pull request in acme/manifests, opened
    with the first and updated in place with the second; every other byte of the manifest
    is as it was."""
    first, second = images
    assert first != second
    assert "CD opened pull request #1 in acme/manifests" in out
    assert "CD updated in place (force-pushed, same number) pull request #1" in out
    manifests = workdir / "repos/acme/manifests"
    git = ["git", "-C", str(manifests)]
    bumped = subprocess.run(
        [*git, "show", "pr/1:deploy/calculator.yaml"], capture_output=True, text=True, check=True
    ).stdout
    original = (EXAMPLES / "manifests/deploy/calculator.yaml").read_text()
    assert bumped == original.replace("registry.example/acme/calculator:0.1", second)
    branches = subprocess.run(
        [*git, "branch", "--list", "pr/*"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert branches == ["pr/1"]  # one pull request, not one per build


def cmdline(process: psutil.Process) -> list[str]:
    """A child's command line; [] for one that exited meanwhile (the demo runs git a lot)."""
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, ProcessLookupError):
        return []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_in_the_middle_stops_the_server_and_exits_0(
    tmp_path: Path, sig: signal.Signals
) -> None:
    workdir = tmp_path / "demo"
    proc = subprocess.Popen(
        demo_argv(workdir),
        cwd=tmp_path,
        env=demo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    opened = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Open pull request" in line:
                opened.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert opened.wait(60), "".join(lines)
        server = [p for p in psutil.Process(proc.pid).children() if "serve" in cmdline(p)]
        assert len(server) == 1, "".join(lines)
        proc.send_signal(sig)
        assert proc.wait(60) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    reader.join(10)
    out = "".join(lines)
    assert "interrupted: stopping foredeck" in out, out
    assert "foredeck serve stopped (exit status 0)" in out, out
    assert not server[0].is_running()
    assert_nothing_left(tmp_path)


def test_workdir_is_wiped_only_when_the_demo_made_it(tmp_path: Path) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "important.txt").write_text("keep me")
    with pytest.raises(DemoError, match="not made by the demo"):
        prepare_workdir(mine)
    assert (mine / "important.txt").read_text() == "keep me"

    demo = prepare_workdir(tmp_path / "demo")
    (demo / "old-run.txt").write_text("x")
    assert prepare_workdir(demo) == demo
    assert sorted(p.name for p in demo.iterdir()) == [MARKER]


def test_workdir_in_use_by_a_live_demo_is_refused(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        demo = prepare_workdir(tmp_path / "demo")
        marker = (demo / MARKER).read_text()
        (demo / MARKER).write_text(marker.replace(str(os.getpid()), str(sleeper.pid)))
        with pytest.raises(DemoError, match=f"in use by another demo \\(pid {sleeper.pid}\\)"):
            prepare_workdir(demo)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert prepare_workdir(demo) == demo  # its driver is gone: wiped


def test_settings_put_every_path_under_the_workdir(tmp_path: Path) -> None:
    import yaml

    from foredeck.settings import Settings

    template = yaml.safe_load((ROOT / "examples/demo/foredeck.yaml").read_text())
    raw = demo_settings(template, tmp_path, 1234, "tok")
    settings = Settings.model_validate(raw)
    assert settings.scm.provider == "local"
    assert settings.scm.local_root == str(tmp_path / "repos")
    assert settings.database_url == f"sqlite:///{tmp_path / 'foredeck.db'}"
    assert settings.artifacts.url == (tmp_path / "artifacts").as_uri()
    assert settings.controller.workdir == str(tmp_path / "runs")
    assert settings.controller.mirror_dir == str(tmp_path / "mirrors")
    assert settings.config_path == str(tmp_path / "jobs.yaml")
    assert settings.plugin_config["trigger"]["cache_dir"] == str(tmp_path / "trigger")
    assert (settings.hook.host, settings.hook.port) == ("127.0.0.1", 1234)
    assert settings.reporter.dashboard_url == "http://127.0.0.1:1234"
    assert settings.api.token is not None and settings.api.token.get_secret_value() == "tok"
    assert template["scm"]["local_root"] == "repos"  # the template is not modified


def test_a_server_that_cannot_start_fails_the_demo_with_its_reason(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    shutil.copytree(ROOT / "examples/demo", examples)
    (examples / "jobs.yaml").write_text("presubmits: [not, a, mapping]\n")
    done = subprocess.run(
        [*demo_argv(tmp_path / "demo"), "--examples", str(examples)],
        cwd=tmp_path,
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "foredeck serve exited with status 2" in done.stdout, done.stdout
    # The console wraps at 80 columns without a terminal: a long tmp path splits the file name.
    assert "jobs.yaml" in done.stdout.replace("\n", ""), done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert_nothing_left(tmp_path)


STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "60"], start_new_session=True)
print(child.pid, flush=True)
time.sleep(60)
"""


def test_a_server_that_ignores_sigterm_is_killed_with_its_descendants(tmp_path: Path) -> None:
    """The SIGKILL escalation: after the grace period, the group and every descendant (a job
    step in a session of its own) are killed."""
    server = Server(tmp_path / "unused.yaml", 0, tmp_path / "log", tmp_path)
    server.proc = subprocess.Popen(
        [sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, start_new_session=True
    )
    assert server.proc.stdout is not None
    child = psutil.Process(int(server.proc.stdout.readline()))
    started = time.monotonic()
    assert server.stop(grace=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 10
    while alive(child):
        assert time.monotonic() < deadline, f"{child} survived"
        time.sleep(0.05)
    server.proc.stdout.close()


def alive(proc: psutil.Process) -> bool:
    """Running, and not a zombie waiting for whoever reaps orphans here."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_build_dirs_come_from_the_jobs_fields_not_their_url(tmp_path: Path) -> None:
    """The API's `url` shows no server path; the demo finds builds in its own store."""
    job = {
        "type": "presubmit",
        "org": "acme",
        "repo": "calculator",
        "pull_number": 1,
        "name": "unit",
        "build_id": "1234",
        "url": "http://127.0.0.1:8888/view/3/artifacts",
    }
    store = tmp_path / "artifacts"
    assert build_dir(job, store) == store / "pr-logs/pull/acme_calculator/1/unit/1234"
    post = {**job, "type": "postsubmit", "pull_number": None, "name": "build"}
    assert build_dir(post, store) == store / "logs/build/1234"
    assert build_dir({**job, "build_id": None}, store) is None  # not started yet
