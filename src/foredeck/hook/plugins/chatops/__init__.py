"""Chat-ops plugins: Prow's `hold`, `lgtm`, `label`, `assign`/`cc` and `help`.

Each is its own module with a `create` factory, enabled by listing it in `worker.plugins`
(`foredeck.hook.plugins.chatops.hold:create`, ...) and configured in `plugin_config.<name>`
(see `options.PluginOptions` and docs/plugins.md). They share `base.ChatOpsPlugin`: commands
are lines starting with `/` (`commands`), replies are one comment per answered comment.
"""

from __future__ import annotations

from typing import Any, TypeVar

from foredeck.hook.plugins.chatops.base import ChatOpsPlugin, ClientFactory
from foredeck.hook.plugins.chatops.options import PluginOptions, load_options
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import Settings

__all__ = ["build", "options_and_client"]

P = TypeVar("P", bound=ChatOpsPlugin)
OptionsT = TypeVar("OptionsT", bound=PluginOptions)


def options_and_client(
    settings: Settings, name: str, model: type[OptionsT]
) -> tuple[OptionsT, ClientFactory]:
    """The plugin's options from `plugin_config.<name>` and the configured SCM's client.

    Raises `ValueError` listing every problem for invalid options or missing SCM credentials,
    so that a misconfigured hook does not start.
    """
    raw: Any = settings.plugin_config.get(name, {})
    options = load_options(model, name, raw)
    scm = provider_from_settings(settings)
    if options.bot_login is None:
        options = options.model_copy(update={"bot_login": scm.bot_login})
    return options, scm.client_factory()


def build(settings: Settings, plugin: type[P], model: type[PluginOptions]) -> P:
    """The plugin, built by `options_and_client`."""
    return plugin(*options_and_client(settings, plugin.name, model))
