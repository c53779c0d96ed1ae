"""FastAPI dependencies for what a foredeck app keeps on `app.state`.

Endpoints are module-level functions; what differs between apps (the settings, the database,
the artifact store) is put on `app.state` once by whoever builds the app (`foredeck.serve.app`,
`foredeck.hook.server`) and read per request through these functions:

- `settings`: the `Settings`; `engine`: the database engine (writes take `write_lock` on it);
- `reads`: sessions on `read_only(engine)` (a busy page never takes SQLite's write lock);
  `writes`: sessions on the engine itself;
- `artifact_store`: a getter opening the store on first use (`storage.store.lazy_store`);
- `registry`: the app's Prometheus registry (`/metrics`).

Components read their own attributes through their `deps` modules. Dependencies are `async`
although they never wait: FastAPI would run a plain `def` in its thread pool, a thread hop per
dependency per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from foredeck.settings import Settings


async def settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


async def engine(request: Request) -> Engine:
    found: Engine = request.app.state.engine
    return found


async def reads(request: Request) -> sessionmaker[Session]:
    found: sessionmaker[Session] = request.app.state.reads
    return found


async def writes(request: Request) -> sessionmaker[Session]:
    found: sessionmaker[Session] = request.app.state.writes
    return found


async def registry(request: Request) -> CollectorRegistry:
    found: CollectorRegistry = request.app.state.registry
    return found


async def artifact_store(request: Request) -> Callable[[], Any]:
    """The getter of the app's `ArtifactStore`: it opens the store on first use, so that an
    answer that needs no artifacts never waits on it, and gives None when it cannot be opened
    (logged; the next call tries again). Typed where it is used (`Annotated[Callable[[],
    ArtifactStore | None], Depends(artifact_store)]`): the store's interface lives above this
    package."""
    getter: Callable[[], Any] = request.app.state.artifact_store
    return getter


AppSettings = Annotated[Settings, Depends(settings)]
AppEngine = Annotated[Engine, Depends(engine)]
Reads = Annotated[sessionmaker[Session], Depends(reads)]
Writes = Annotated[sessionmaker[Session], Depends(writes)]
Registry = Annotated[CollectorRegistry, Depends(registry)]
