"""The SCM provider settings configure: the one place that asks `settings.scm.provider`.

Everything that depends on the SCM (the trigger's client, pull refs and links; the reporter's
client and bot login; the controller's clone URLs; the API's comments; the watcher; the
dashboard's links) asks the provider built here, never the settings.
"""

from __future__ import annotations

from sqlalchemy import Engine

from foredeck.scm.provider import ScmProvider
from foredeck.settings import Settings


def configured_bot_login(settings: Settings) -> str | None:
    """`plugin_config.trigger.bot_login`: who foredeck is on GitHub, when configured."""
    trigger = settings.plugin_config.get("trigger")
    value = trigger.get("bot_login") if isinstance(trigger, dict) else None
    return value if isinstance(value, str) and value else None


def provider_from_settings(settings: Settings, engine: Engine | None = None) -> ScmProvider:
    """GitHub (`scm.provider: github`, the default) or the repositories on disk (`local`).

    `engine` is the database the local provider keeps statuses and comments in (made from
    `database_url` on first use when not given); GitHub needs none. Nothing is read or opened
    here: credentials are read by `client_factory()`, repositories on first use.
    """
    if settings.scm.provider == "local":
        from foredeck.scm.local.provider import LocalProvider

        return LocalProvider(
            settings.scm,
            dashboard_url=settings.reporter.dashboard_url,
            engine=engine,
            database_url=settings.database_url,
        )
    from foredeck.scm.github_provider import GitHubProvider

    return GitHubProvider(settings.github, bot_login=configured_bot_login(settings))
