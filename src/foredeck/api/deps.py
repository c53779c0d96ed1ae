"""What the `/api` routes read from `app.state`, besides `foredeck.web.deps`:

- `central`: the `ConfigAgent` of the job config, or None without `config_path`;
- `scm`: the `ScmProvider` (pull refs, users' comments on local pull requests), shared with
  the dashboard and set with the shared state;
- `trusted_origins`: the origins whose pages may write (read by `api.auth.GuardedRoute`), and
  `anonymous_writes`, under which a server name must be trusted too (DNS rebinding);
- `on_change`: called after jobs were created or aborted (wakes the controller and reporter);
- `on_event`: called after an event was logged (wakes the event worker). Both may be None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from foredeck.api.auth import trusted_origins
from foredeck.config import ConfigAgent
from foredeck.scm.provider import ScmProvider
from foredeck.settings import Settings
from foredeck.storage.store import ArtifactStore
from foredeck.web.deps import artifact_store

Callback = Callable[[], None] | None


def attach_state(
    app: FastAPI,
    settings: Settings,
    *,
    central: ConfigAgent | None = None,
    on_change: Callback = None,
    on_event: Callback = None,
) -> None:
    """Keep on `app.state` what only the API reads. `central` defaults to
    `settings.config_path`, loaded now, as are the trusted origins: a broken config or a typo
    in `api.allowed_origins` fails at start, not at the first request."""
    if central is None and settings.config_path is not None:
        central = ConfigAgent.from_settings(settings)
    app.state.central = central
    app.state.trusted_origins = trusted_origins(settings)
    app.state.anonymous_writes = settings.api.anonymous_writes
    app.state.on_change = on_change
    app.state.on_event = on_event


async def central(request: Request) -> ConfigAgent | None:
    found: ConfigAgent | None = request.app.state.central
    return found


async def scm(request: Request) -> ScmProvider:
    found: ScmProvider = request.app.state.scm
    return found


async def on_change(request: Request) -> Callback:
    found: Callback = request.app.state.on_change
    return found


async def on_event(request: Request) -> Callback:
    found: Callback = request.app.state.on_event
    return found


Central = Annotated[ConfigAgent | None, Depends(central)]
Scm = Annotated[ScmProvider, Depends(scm)]
OnChange = Annotated[Callback, Depends(on_change)]
OnEvent = Annotated[Callback, Depends(on_event)]
Store = Annotated[Callable[[], ArtifactStore | None], Depends(artifact_store)]
"""The app's artifact store, opened on first call (`web.deps.artifact_store`)."""
