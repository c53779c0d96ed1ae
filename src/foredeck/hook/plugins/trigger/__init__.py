"""The trigger plugin: Prow's trigger, turning pull requests, pushes and comments into jobs.

Enable it with `worker.plugins: ["foredeck.hook.plugins.trigger:create"]`; it reads the central
job config from `config_path`, talks to the SCM provider the settings configure
(`foredeck.scm.providers`), and reads its own options from `plugin_config.trigger` (see
`TriggerConfig` and docs/trigger.md).

Jobs are rows (state `triggered`) made in the worker's transaction for the event and keyed by
delivery and job name, so an event handled twice makes each job once. GitHub effects (labels,
comments) check GitHub's current state first, so a retry does not repeat them either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from foredeck.config import ConfigAgent
from foredeck.hook.events import StoredEvent
from foredeck.hook.plugins import Apply, PermanentEventError
from foredeck.hook.plugins.trigger.comment import handle_issue_comment
from foredeck.hook.plugins.trigger.context import CommitLinks, TriggerClient, TriggerContext
from foredeck.hook.plugins.trigger.inrepo import InRepoConfigs
from foredeck.hook.plugins.trigger.options import RepoOptions, TriggerConfig
from foredeck.hook.plugins.trigger.pull_request import handle_pull_request
from foredeck.hook.plugins.trigger.push import handle_push
from foredeck.scm.github_types import IssueCommentEvent, PullRequestEvent, PushEvent
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import Settings
from foredeck.validation import problems

__all__ = [
    "PLUGIN_NAME",
    "RepoOptions",
    "TriggerConfig",
    "TriggerPlugin",
    "create",
]

PLUGIN_NAME = "trigger"
EVENTS = frozenset({"pull_request", "push", "issue_comment"})

log = logging.getLogger(__name__)

ClientFactory = Callable[[], TriggerClient]


class TriggerPlugin:
    name = PLUGIN_NAME

    def __init__(
        self,
        options: TriggerConfig,
        central: ConfigAgent,
        client_factory: ClientFactory,
        links: CommitLinks,
    ) -> None:
        self.options = options
        self.central = central
        self.in_repo = InRepoConfigs(options)
        self.links = links
        self._client_factory = client_factory
        self._client: TriggerClient | None = None

    def _gh(self) -> TriggerClient:
        # Created on first use, on the worker's event loop, which the client's pool binds to.
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    async def handle(self, event: StoredEvent, session: Session) -> None:
        """One phase: for callers that do not split (tests, embedders)."""
        apply = await self.prepare(event, session)
        if apply is not None:
            apply(session)

    async def prepare(self, event: StoredEvent, reader: Session) -> Apply | None:
        """Decide and talk to the SCM (outside the write transaction); return the DB writes."""
        if event.event not in EVENTS:
            return None
        try:
            typed = event.typed()
        except ValidationError as exc:
            listed = "; ".join(problems(exc, None)[:5])
            raise PermanentEventError(f"{event.event} payload is not usable: {listed}") from None
        ctx = TriggerContext(
            event=event,
            session=reader,
            gh=self._gh(),
            links=self.links,
            options=self.options,
            central=self.central,
            in_repo=self.in_repo,
        )
        if isinstance(typed, PullRequestEvent):
            await handle_pull_request(ctx, typed)
        elif isinstance(typed, PushEvent):
            await handle_push(ctx, typed)
        elif isinstance(typed, IssueCommentEvent):
            await handle_issue_comment(ctx, typed)
        return ctx.apply if ctx.writes else None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def create(settings: Settings) -> TriggerPlugin:
    """`foredeck.hook.plugins.trigger:create`: the plugin from the global settings.

    Raises `ValueError` (with every problem listed) for invalid options, an unusable central
    job config, or missing SCM credentials, so that a misconfigured hook does not start.
    """
    raw: Any = settings.plugin_config.get(PLUGIN_NAME, {})
    try:
        options = TriggerConfig.model_validate(raw or {})
    except ValidationError as exc:  # pydantic's own text would quote inputs, secrets included
        lines = "".join(f"\n  {line}" for line in problems(exc, TriggerConfig))
        raise ValueError(f"plugin_config.{PLUGIN_NAME}: invalid options:{lines}") from None
    central = ConfigAgent.from_settings(settings, reload_interval=options.config_reload_interval)
    scm = provider_from_settings(settings)
    update: dict[str, Any] = {}
    if options.bot_login is None:
        update["bot_login"] = scm.bot_login
    if "pull_ref" not in options.model_fields_set:
        update["pull_ref"] = scm.pull_ref
    options = options.model_copy(update=update)
    options.use_clone_uri(scm.clone_uri)  # in-repo config comes from where jobs clone from
    # Credentials are read now: missing or unreadable ones fail here, not on the first event.
    return TriggerPlugin(options, central, scm.client_factory(), scm.links)
