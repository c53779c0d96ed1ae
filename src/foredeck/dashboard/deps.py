"""What the dashboard's routes read from `app.state`, besides `foredeck.web.deps`:

- `scm`: the `ScmProvider`, for its web links (pull requests, commits, users) and bot login;
- `log_matchers`: the error patterns of `plugin_config.dashboard`, compiled (`attach_state`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from foredeck.dashboard.links import WebLinks
from foredeck.dashboard.view.logs import LogMatchers
from foredeck.settings import Settings
from foredeck.storage.store import ArtifactStore
from foredeck.web.deps import artifact_store


def attach_state(app: FastAPI, settings: Settings) -> None:
    """Keep on `app.state` what only the dashboard reads (made once, not per request)."""
    app.state.log_matchers = LogMatchers.of(settings.plugin_config)


async def web_links(request: Request) -> WebLinks:
    found: WebLinks = request.app.state.scm.links
    return found


async def bot_login(request: Request) -> str | None:
    """Who foredeck comments as (the SCM provider's `bot_login`): its report comment is shown
    as such on a pull request's page."""
    found: str | None = request.app.state.scm.bot_login
    return found


async def log_matchers(request: Request) -> LogMatchers:
    found: LogMatchers = request.app.state.log_matchers
    return found


Links = Annotated[WebLinks, Depends(web_links)]
BotLogin = Annotated[str | None, Depends(bot_login)]
Matchers = Annotated[LogMatchers, Depends(log_matchers)]
Store = Annotated[Callable[[], ArtifactStore | None], Depends(artifact_store)]
"""The app's artifact store, opened on first call (`web.deps.artifact_store`)."""
