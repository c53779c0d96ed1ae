"""Which executor runs a job: the registry of agents, built once from settings.

Prow's `agent` names where a job runs. foredeck runs `local` (host processes), `argo` and
`tekton` (Kubernetes); Prow's default `kubernetes`, and no agent at all, run on
`kube.default_agent`. Any other agent (`jenkins`, `tekton-pipeline`, ...) runs nowhere: the
job ends `error` before any checkout, with a message naming the agents that do run.

A new runtime is one more entry in `BUILTIN` (see `executor.py`); the controller only asks
`Executors.for_agent`.
"""

from __future__ import annotations

from collections.abc import Mapping

from foredeck.execute.executor import Executor, ExecutorError, ExecutorFactory
from foredeck.execute.host import LocalExecutor
from foredeck.execute.kube import executor as kube
from foredeck.settings import Settings

BUILTIN: Mapping[str, ExecutorFactory] = {
    "local": LocalExecutor,
    "argo": kube.argo,
    "tekton": kube.tekton,
}
"""Agent name -> factory, in the order the agents are named to users."""

DEFAULT_AGENTS = ("", "kubernetes")
"""Prow's default agent (and none at all) run where `kube.default_agent` says."""


class UnsupportedAgent(ExecutorError):
    """The job's agent is not one foredeck runs."""


class Executors:
    """One executor per agent, and the choice among them."""

    def __init__(self, executors: Mapping[str, Executor], default: str) -> None:
        if default not in executors:
            raise ValueError(f"kube.default_agent {default!r}: no executor runs it")
        self.executors = dict(executors)
        self.default = default

    @classmethod
    def from_settings(
        cls, settings: Settings, factories: Mapping[str, ExecutorFactory] = BUILTIN
    ) -> Executors:
        """Every executor of `factories`, built now (a factory that cannot work here raises)."""
        built = {agent: factory(settings) for agent, factory in factories.items()}
        return cls(built, settings.kube.default_agent)

    def agent(self, asked: str) -> str | None:
        """Where a job asking for `asked` runs; None for an agent foredeck does not run."""
        if asked in DEFAULT_AGENTS:
            return self.default
        return asked if asked in self.executors else None

    def for_agent(self, asked: str) -> Executor:
        """The executor of a job asking for `asked`; raises `UnsupportedAgent`."""
        agent = self.agent(asked)
        if agent is None:
            raise UnsupportedAgent(self._unsupported(asked))
        return self.executors[agent]

    def _unsupported(self, asked: str) -> str:
        names = list(self.executors)
        runs = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        return (
            f"agent {asked!r} is not supported: foredeck runs agent kubernetes (on "
            f"kube.default_agent), {runs} jobs"
        )
