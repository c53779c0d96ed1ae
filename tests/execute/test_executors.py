"""The registry of executors: which one runs a job of a given agent."""

from __future__ import annotations

import pytest

from foredeck.execute.executors import BUILTIN, Executors, UnsupportedAgent
from foredeck.execute.host import LocalExecutor
from foredeck.execute.kube.executor import KubeExecutor
from foredeck.settings import Settings


def settings(default_agent: str = "local") -> Settings:
    return Settings.model_validate(
        {"controller": {"sandbox": {"mode": "none"}}, "kube": {"default_agent": default_agent}}
    )


def test_prows_default_agent_runs_on_the_default_and_others_by_name() -> None:
    executors = Executors.from_settings(settings())
    assert executors.agent("") == executors.agent("kubernetes") == "local"
    assert [executors.agent(a) for a in ("local", "argo", "tekton")] == ["local", "argo", "tekton"]
    assert executors.agent("jenkins") is None and executors.agent("tekton-pipeline") is None
    assert isinstance(executors.for_agent("kubernetes"), LocalExecutor)
    argo = executors.for_agent("argo")
    assert isinstance(argo, KubeExecutor) and argo.name == "argo"
    on_argo = Executors.from_settings(settings("argo"))
    assert on_argo.for_agent("") is on_argo.executors["argo"]


def test_an_agent_nobody_runs_is_refused_with_the_ones_that_run() -> None:
    executors = Executors.from_settings(settings())
    with pytest.raises(UnsupportedAgent) as refused:
        executors.for_agent("jenkins")
    assert str(refused.value) == (
        "agent 'jenkins' is not supported: foredeck runs agent kubernetes (on kube.default_agent)"
        ", local, argo and tekton jobs"
    )


def test_the_default_agent_must_have_an_executor() -> None:
    with pytest.raises(ValueError, match=r"kube\.default_agent 'argo'"):
        Executors.from_settings(settings("argo"), {"local": BUILTIN["local"]})
