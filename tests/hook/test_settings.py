from __future__ import annotations

from pathlib import Path

import pytest

from foredeck.settings import DEFAULT_BODY_LIMIT, Settings, SettingsError, load_settings


def test_defaults() -> None:
    s = Settings()
    assert s.database_url == "sqlite:///./.foredeck/foredeck.db"
    assert s.hook.body_limit == DEFAULT_BODY_LIMIT == 25 * 1024 * 1024
    assert not s.hook.has_any_secret()


def test_yaml_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "foredeck.yaml"
    path.write_text(
        "database_url: sqlite:///from-file.db\n"
        "hook:\n"
        "  secrets: [first-s3cret, second-s3cret]\n"
        "  org_secrets: {acme: [o]}\n"
        "  body_limit: 4096\n"
        "worker:\n"
        "  plugins: ['pkg.mod:factory']\n"
    )
    env = {
        "FOREDECK_DATABASE_URL": "postgresql://db/x",
        "FOREDECK_HOOK__REPO_SECRETS": '{"acme/widget": ["r"]}',
        "FOREDECK_WORKER__MAX_ATTEMPTS": "9",
        "FOREDECK_TEST_PG_URL": "ignored: not a settings field",
        "OTHER": "ignored",
    }
    s = load_settings(path, env)
    assert s.database_url == "postgresql://db/x"
    assert [x.get_secret_value() for x in s.hook.secrets] == ["first-s3cret", "second-s3cret"]
    assert s.hook.org_secrets["acme"][0].get_secret_value() == "o"
    assert s.hook.repo_secrets["acme/widget"][0].get_secret_value() == "r"
    assert s.hook.body_limit == 4096
    assert s.worker.max_attempts == 9
    assert s.worker.plugins == ["pkg.mod:factory"]
    assert "s3cret" not in repr(s)  # secrets never show in a repr or log line


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("hook: {port: 9999}\n")
    assert load_settings(environ={"FOREDECK_CONFIG": str(path)}).hook.port == 9999
    assert load_settings(environ={}).hook.port == 8888


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("hook: {secrets: [a]\n", {}, "invalid YAML"),
        ("- a\n", {}, "must be a mapping"),
        ("hook: {sekrets: [a]}\n", {}, "sekrets"),
        ("", {"FOREDECK_HOOK__SECRETS": "[oops"}, "FOREDECK_HOOK__SECRETS: invalid JSON"),
        ("", {"FOREDECK_HOOK__BODY_LIMIT": "ten"}, "body_limit"),
    ],
)
def test_bad_settings_name_the_culprit(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(path, env)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read settings"):
        load_settings(tmp_path / "nope.yaml", {})
