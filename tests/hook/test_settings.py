from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, Secret, SecretBytes, ValidationError

from foredeck.settings import DEFAULT_BODY_LIMIT, Settings, SettingsError, load_settings
from foredeck.validation import problems


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


def _error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path, env or {})
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        (
            "hook: {secrets: hunter2-global}\n",
            "hunter2-global",
            "hook.secrets: Input should be a valid list",
        ),
        (
            "api: {token: [tok-in-a-list]}\n",
            "tok-in-a-list",
            "api.token: Input should be a valid string",
        ),
        (
            "github: {token: ghp_both1234, token_file: /run/token}\n",
            "ghp_both1234",
            "github: give token or token_file, not both",
        ),
        (
            "hook: {org_secrets: {acme: org-s3cret}}\n",
            "org-s3cret",
            "hook.org_secrets.acme: Input should be a valid list",
        ),
        (
            "hook: {repo_secrets: {a/b: [[nested-s3cret]]}}\n",
            "nested-s3cret",
            "hook.repo_secrets.a/b[0]: Input should be a valid string",
        ),
        (
            "github: ghp_not_a_mapping\n",
            "ghp_not_a_mapping",
            "github: Input should be a valid dictionary",
        ),
        (
            "api: {tokn: misspelt-s3cret}\n",
            "misspelt-s3cret",
            "api.tokn: Extra inputs are not permitted",
        ),
    ],
)
def test_settings_errors_never_show_a_secret(
    tmp_path: Path, text: str, secret: str, expected: str
) -> None:
    message = _error(tmp_path, text)
    assert secret not in message
    assert f"settings.yaml: invalid settings:\n  {expected}" in message


def test_settings_errors_show_inputs_that_cannot_be_secrets(tmp_path: Path) -> None:
    message = _error(tmp_path, "hook: {port: eighty, secrets: [ok]}\nscm: {provider: gitlab}\n")
    assert "hook.port: Input should be a valid integer" in message
    assert "(got 'eighty')" in message
    assert "scm.provider: Input should be 'github' or 'local' (got 'gitlab')" in message


@pytest.mark.parametrize(
    ("env", "secret", "expected"),
    [
        (
            {"FOREDECK_HOOK__SECRETS": "env-s3cret"},
            "env-s3cret",
            "hook.secrets ($FOREDECK_HOOK__SECRETS): Input should be a valid list",
        ),
        (
            {"FOREDECK_API__TOKEN": '["env-tok"]'},
            "env-tok",
            "api.token ($FOREDECK_API__TOKEN): Input should be a valid string",
        ),
        (
            {"FOREDECK_GITHUB__TOKEN": "ghp_env", "FOREDECK_GITHUB__TOKEN_FILE": "/t"},
            "ghp_env",
            "github: give token or token_file, not both",
        ),
        (
            {"FOREDECK_HOOK__SECRETS": '["env-broken'},
            "env-broken",
            "$FOREDECK_HOOK__SECRETS: invalid JSON",
        ),
    ],
)
def test_environment_variables_with_a_bad_secret_are_not_echoed(
    env: dict[str, str], secret: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(None, env)
    assert secret not in str(info.value)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        (
            'github:\n  token: "ghp_yaml_s3cret\n',
            "ghp_yaml_s3cret",
            ":3:1: invalid YAML: found unexpected end of stream",
        ),
        (
            "hook:\n  secrets: [ok, {bad-s3cret]\n",
            "bad-s3cret",
            ":2:28: invalid YAML: expected ',' or '}', but got ']'",
        ),
        (
            "hook:\n  secrets:\n  - !tagged-s3cret\n",
            "tagged-s3cret",
            ":3:5: invalid YAML: could not determine a constructor for the tag '...'",
        ),
        (
            "hook:\n  secrets:\n  - *alias-s3cret\n",
            "alias-s3cret",
            ":3:5: invalid YAML: found undefined alias '...'",
        ),
        (
            "hook:\n  secrets: [bell-s3cret\x07]\n",
            "bell-s3cret",
            ": invalid YAML: special characters are not allowed (character 30)",
        ),
    ],
)
def test_yaml_errors_name_the_place_not_the_line(
    tmp_path: Path, text: str, secret: str, expected: str
) -> None:
    message = _error(tmp_path, text)
    assert secret not in message
    assert message.startswith(f"{tmp_path / 'settings.yaml'}{expected}"), message


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    pin: Secret[int] | None = None


class _Outer(BaseModel):
    inner: _Inner | None = None
    tokens: dict[str, list[SecretBytes]] = Field(default_factory=dict)
    labels: dict[str, int] = Field(default_factory=dict)
    holder: _Inner | int = 0


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"inner": {"pin": "s3cret-pin"}}, "inner.pin: Input should be a valid integer"),
        ({"inner": "s3cret-inner"}, "inner: Input should be a valid dictionary"),
        ({"tokens": {"k": "s3cret-bytes"}}, "tokens.k: Input should be a valid list"),
        ({"tokens": {"k": [{"s3cret": 1}]}}, "tokens.k[0]: Input should be a valid bytes"),
        ({"holder": "s3cret-union"}, "holder.int: Input should be a valid integer"),
        ({"inner": {"name": 5}}, "inner.name: Input should be a valid string (got 5)"),
        ({"labels": {"k": "x"}}, "labels.k: Input should be a valid integer, unable to parse"),
    ],
)
def test_problems_decide_secrecy_from_the_model(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate(data)
    lines = problems(info.value, _Outer)
    assert any(line.startswith(expected) for line in lines), lines
    assert not any("s3cret" in line for line in lines), lines
    assert any("(got " in line for line in lines) == ("s3cret" not in str(data))
