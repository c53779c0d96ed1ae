"""Configuration of the trigger plugin: settings, the factory, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from foredeck.config import JobConfigError
from foredeck.db import session_factory
from foredeck.db.eventlog import NewEvent, failed_events, get_event, log_events
from foredeck.hook.plugins import load_plugins
from foredeck.hook.plugins.trigger import TriggerPlugin, create
from foredeck.scm.github import client_from_settings
from foredeck.scm.github_auth import TokenAuth, auth_from_settings
from foredeck.settings import GitHubSettings, Settings, SettingsError, load_settings
from tests.config.helpers import JOBS_YAML
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.plugins.trigger_env import (
    make_harness,
    pr_payload,
    seed_github,
    settings_for,
    sha,
)


def test_factory_is_loadable_by_name(
    sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path
) -> None:
    config = tmp_path / "jobs.yaml"
    config.write_text(JOBS_YAML)
    [plugin] = load_plugins(settings_for(sqlite_db, github_double, config))
    assert isinstance(plugin, TriggerPlugin) and plugin.name == "trigger"
    assert plugin.central.get().counts()["presubmits"] == 5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"trusted_org": "typo"}, "trusted_org"),
        ({"clone_uri": "https://x/{owner}/{repo}"}, "may only use the fields"),
        ({"repos": {"a/b/c": {}}}, "must be 'org' or 'org/repo'"),
        ({"repos": {"acme": {"in_repo": True}}}, "in_repo"),
    ],
)
def test_bad_options_are_clear_errors(
    sqlite_db: Database, github_double: GitHubDouble, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=r"plugin_config\.trigger") as info:
        create(settings_for(sqlite_db, github_double, None, options))
    assert message in str(info.value)


def test_option_errors_never_show_what_could_be_a_secret(
    sqlite_db: Database, github_double: GitHubDouble
) -> None:
    options = {"trusted_orgs": "acme", "api_token": "ghp_opt_s3cret"}
    with pytest.raises(ValueError) as info:
        create(settings_for(sqlite_db, github_double, None, options))
    message = str(info.value)
    assert "ghp_opt_s3cret" not in message  # an option foredeck does not know may be a secret
    assert message.splitlines() == [
        "plugin_config.trigger: invalid options:",
        "  trusted_orgs: Input should be a valid list (got 'acme')",
        "  api_token: Extra inputs are not permitted",
    ]


def test_missing_credentials_fail_at_startup(sqlite_db: Database) -> None:
    settings = Settings(database_url=sqlite_db.url)
    with pytest.raises(ValueError, match="no credentials configured"):
        create(settings)


def test_broken_job_config_fails_at_startup_naming_the_line(
    sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path
) -> None:
    config = tmp_path / "jobs.yaml"
    config.write_text("presubmits:\n  acme/widget:\n  - name: ok\n    always_run: 3x\n")
    with pytest.raises(JobConfigError, match=r"jobs\.yaml:4"):
        create(settings_for(sqlite_db, github_double, config))
    with pytest.raises(JobConfigError, match="no such file"):
        create(settings_for(sqlite_db, github_double, tmp_path / "missing.yaml"))


def test_unusable_payload_parks_the_event_at_once_with_a_clear_error(
    sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path
) -> None:
    seed_github(github_double)
    h = make_harness(sqlite_db, github_double, tmp_path)
    h.worker.max_attempts = 5  # a transient error would be retried: this one is not
    try:
        payload = pr_payload("opened", 1, author="alice", head_sha=sha("x"))
        del payload["pull_request"]["head"]
        with session_factory(sqlite_db.engine).begin() as s:
            log_events(
                s,
                [
                    NewEvent(
                        "bad-1",
                        "pull_request",
                        "opened",
                        "acme",
                        "widget",
                        json.dumps(payload).encode(),
                    )
                ],
            )
        assert h.worker.process_batch() == 1
        assert h.worker.process_available() == 0  # parked: nothing left to retry
        with session_factory(sqlite_db.engine)() as s:
            row = get_event(s, "bad-1")
            assert row is not None
            assert row.processed_at is None  # kept, visible, can be requeued
            assert row.attempts == 5  # parked at the first try
            assert [e.delivery_id for e in failed_events(s, 5)] == ["bad-1"]
            assert row.last_error is not None
            assert row.last_error.startswith("trigger: pull_request payload is not usable: ")
            assert "pull_request.head" in row.last_error
        assert h.jobs() == []
    finally:
        h.worker.close()


def test_github_settings_validation_and_secrets(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("ghp_from_file\n")
    from_file = auth_from_settings(GitHubSettings(token_file=str(token_file)))
    assert isinstance(from_file, TokenAuth) and from_file.token == "ghp_from_file"

    inline = GitHubSettings(token=SecretStr("ghp_inline"))
    client = client_from_settings(inline)
    assert "ghp_inline" not in repr(inline) and "ghp_inline" not in repr(client)
    assert not GitHubSettings().configured and inline.configured

    for bad, message in [
        ({"token": "a", "token_file": "b"}, "not both"),
        ({"token": "a", "app_id": "1", "private_key_file": "k"}, "a token or a GitHub App"),
        ({"app_id": "1"}, "needs both app_id and private_key_file"),
        ({"token": "a", "installation_id": 3}, "only meaningful with a GitHub App"),
        ({"base_url": "ftp://x"}, "http(s) URL"),
    ]:
        with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
            GitHubSettings.model_validate(bad)
    with pytest.raises(ValueError, match="cannot read GitHub token file"):
        auth_from_settings(GitHubSettings(token_file=str(tmp_path / "absent")))


def test_settings_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "foredeck.yaml"
    path.write_text("config_path: /etc/jobs\ngithub:\n  base_url: https://ghe.example/api/v3\n")
    settings = load_settings(path, environ={"FOREDECK_GITHUB__TOKEN": "ghp_env"})
    assert settings.config_path == "/etc/jobs"
    assert settings.github.base_url == "https://ghe.example/api/v3"
    assert settings.github.token is not None
    assert settings.github.token.get_secret_value() == "ghp_env"
    path.write_text("github:\n  token: a\n  token_file: b\n")
    with pytest.raises(SettingsError, match="not both"):
        load_settings(path, environ={})
