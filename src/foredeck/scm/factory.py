"""Which SCM client foredeck's components get: GitHub or the local provider, by settings.

Components that talk to the SCM (trigger, reporter, controller) take a factory rather than a
client, because a client belongs to the event loop that creates it; this chooses the factory
from `settings.scm.provider`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from foredeck.scm.provider import ScmClient
from foredeck.settings import Settings


def scm_client_factory(settings: Settings, engine: Engine) -> Callable[[], ScmClient]:
    """A callable making a new client: `GitHubClient` (`github`) or `LocalScm` (`local`).

    For GitHub the credentials are read now, so that missing ones fail at start-up.
    """
    if settings.scm.provider == "local":
        from foredeck.scm.local import LocalScm

        return lambda: LocalScm.from_settings(settings, engine)
    github = settings.github
    github.auth()
    return lambda: github.client()
