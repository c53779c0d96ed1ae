"""`LocalProvider`: repositories on disk as foredeck's SCM (`scm.provider: local`)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from foredeck.scm.links import DashboardLinks
from foredeck.scm.local.client import LocalScm
from foredeck.scm.local.comments import LocalComments
from foredeck.scm.local.names import PULL_REF_TEMPLATE
from foredeck.scm.local.pulls import LocalPulls
from foredeck.scm.local.repos import LocalRepos
from foredeck.scm.local.watch import LocalWatcher
from foredeck.scm.provider import ScmClient, UserComments, Watcher
from foredeck.settings import ScmSettings


class LocalProvider:
    """Events come from the watcher; users comment through foredeck's API; links are
    foredeck's dashboard (`reporter.dashboard_url`).

    Built cheaply (an API process asks only for `pull_ref`): the repositories are opened, and
    a database engine made from `database_url` when none was given, on first use.
    """

    kind = "local"
    pull_ref = PULL_REF_TEMPLATE

    def __init__(
        self,
        settings: ScmSettings,
        *,
        dashboard_url: str,
        engine: Engine | None = None,
        database_url: str | None = None,
    ) -> None:
        if engine is None and database_url is None:
            raise ValueError("the local SCM provider needs an engine or a database URL")
        self.settings = settings
        self.bot_login: str | None = settings.bot_login
        self.links = DashboardLinks(dashboard_url)
        self._engine = engine
        self._database_url = database_url
        self._lock = threading.Lock()
        self._pulls: LocalPulls | None = None

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                from foredeck.db.engine import make_engine

                assert self._database_url is not None
                self._engine = make_engine(self._database_url)
            return self._engine

    @property
    def pulls(self) -> LocalPulls:
        with self._lock:
            if self._pulls is None:
                self._pulls = LocalPulls(LocalRepos.from_settings(self.settings), self.links)
            return self._pulls

    def clone_uri(self, org: str, repo: str) -> str:
        return self.pulls.repos.clone_uri(org, repo)

    def client_factory(self) -> Callable[[], ScmClient]:
        settings, engine, links = self.settings, self.engine, self.links

        def new_client() -> LocalScm:
            return LocalScm(
                settings.local_root,
                engine,
                base_branch=settings.local_base_branch,
                bot_login=settings.bot_login,
                links=links,
            )

        return new_client

    def watcher(
        self,
        *,
        on_logged: Callable[[], None] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> Watcher | None:
        return LocalWatcher(
            self.pulls,
            self.engine,
            poll_interval=self.settings.local_poll_interval,
            on_logged=on_logged,
            registry=registry,
        )

    def user_comments(self) -> UserComments | None:
        return LocalComments(self.pulls, self.engine)
