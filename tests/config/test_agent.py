"""The config agent: loads the agent job config, reloads it when its files change, keeps the
last good one and says why a new one was refused."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from foredeck.config import ConfigAgent
from foredeck.settings import Settings
from tests.config.helpers import JOBS_YAML


def test_config_reload_picks_up_edits_and_survives_broken_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "jobs"
    path.mkdir()
    (path / "a.yaml").write_text(JOBS_YAML)
    agent = ConfigAgent(str(path), reload_interval=0)
    assert agent.get().counts()["presubmits"] == 5
    first = agent.get()
    assert agent.get() is first  # unchanged files: no reload

    (path / "b.yaml").write_text(
        "presubmits:\n  acme/other:\n  - name: extra\n    always_run: true\n"
        "    spec: {containers: [{image: x}]}\n"
    )
    assert agent.get().counts()["presubmits"] == 6

    (path / "b.yaml").write_text("presubmits: [broken\n")
    with caplog.at_level(logging.ERROR, logger="foredeck"):
        assert agent.get().counts()["presubmits"] == 6  # the last good config stays
    assert any("keeping the previously loaded jobs" in r.getMessage() for r in caplog.records)


def test_a_reload_that_drops_every_job_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An editor truncating the file before writing it must not stop CI for everyone."""
    path = tmp_path / "jobs.yaml"
    path.write_text(JOBS_YAML)
    agent = ConfigAgent(str(path), reload_interval=0)
    path.write_text("")
    with caplog.at_level(logging.ERROR, logger="foredeck"):
        assert agent.get().counts()["presubmits"] == 5
    expected = f"job config {path}: the new config has no jobs (the loaded one has "
    assert agent.problem is not None and agent.problem.startswith(expected)
    assert any(expected in r.getMessage() for r in caplog.records)
    assert "config_allow_empty" in agent.problem

    path.write_text(JOBS_YAML.replace("name: e2e", "name: e2e-renamed"))
    assert agent.get().find("e2e-renamed")  # a good edit is taken again
    assert agent.problem is None


def test_an_empty_config_can_be_allowed(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(JOBS_YAML)
    agent = ConfigAgent(str(path), reload_interval=0, allow_empty=True)
    path.write_text("# every job removed on purpose\n")
    assert agent.get().counts()["presubmits"] == 0
    assert agent.problem is None


def test_config_allow_empty_is_a_top_level_setting(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(JOBS_YAML)
    settings = Settings(config_path=str(path), config_allow_empty=True)
    agent = ConfigAgent.from_settings(settings, reload_interval=0)
    path.write_text("")
    assert agent.get().counts()["presubmits"] == 0


def test_reload_interval_limits_checks(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(JOBS_YAML)
    now = [100.0]
    agent = ConfigAgent(str(path), reload_interval=5, clock=lambda: now[0])
    path.write_text(JOBS_YAML.replace("name: e2e", "name: e2e-renamed"))
    os.utime(path, ns=(1, 1))
    assert agent.get().find("e2e")  # within the interval: not looked at
    now[0] += 5
    assert agent.get().find("e2e-renamed") and not agent.get().find("e2e")


def test_reload_looks_now_whatever_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(JOBS_YAML)
    agent = ConfigAgent(str(path), reload_interval=3600)
    assert agent.reload() is False  # unchanged files
    path.write_text(JOBS_YAML.replace("name: e2e", "name: e2e-renamed"))
    assert agent.get().find("e2e")  # `get` waits for the interval
    assert agent.reload() is True
    assert agent.get().find("e2e-renamed")
    path.write_text("")
    assert agent.reload() is False and agent.problem is not None  # refused: said why
    nothing = ConfigAgent(None)
    assert nothing.reload() is False and nothing.get().counts()["periodics"] == 0
