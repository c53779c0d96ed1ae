"""Settings shared by the chat-ops plugins: `plugin_config.<plugin>` in the global settings.

Every plugin is on for every repository the hook serves unless `enabled: false`; `repos`
switches it per organisation (`org`) or repository (`org/repo`), the most specific key winning,
as the trigger's `repos` do.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from foredeck.types.scoped import check_scope_keys, per_repo
from foredeck.validation import problems


class RepoSwitch(BaseModel):
    """Options for one organisation or repository; unset means inherit."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None


class PluginOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    bot_login: str | None = None
    """The login foredeck comments as (its own comments are ignored); default: the SCM
    provider's, or `plugin_config.trigger.bot_login`."""
    repos: dict[str, RepoSwitch] = Field(default_factory=dict)

    @field_validator("repos")
    @classmethod
    def _keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_scope_keys(value)
        return value

    def setting(self, org: str, repo: str, field: str) -> Any:
        """`field` for `org/repo`: the repository's, else the organisation's, else the default."""
        found = per_repo(self.repos, org, repo, lambda options: getattr(options, field, None))
        return getattr(self, field) if found is None else found

    def enabled_for(self, org: str, repo: str) -> bool:
        return bool(self.setting(org, repo, "enabled"))


T = TypeVar("T", bound=PluginOptions)


def load_options(model: type[T], name: str, raw: Any) -> T:
    """`raw` validated, or `ValueError` listing every problem (without quoting inputs)."""
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        lines = "".join(f"\n  {line}" for line in problems(exc, model))
        raise ValueError(f"plugin_config.{name}: invalid options:{lines}") from None
