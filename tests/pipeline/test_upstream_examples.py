"""A ratchet over Argo's and Tekton's own examples (tests/data/upstream): each in-scope example
ends in the category the ledger (`expected.yaml`) names, or `matched` when it has no entry.

The test fails both ways: when an example falls back (a regression) and when one gets further
than the ledger says (then regenerate the ledger, which shrinks:
`PYTHONPATH=src python -m tests.pipeline.upstream.runner --write-ledger`). Scope and categories
are in `tests/pipeline/upstream/`.

Under pytest-xdist each test runs its own example, so the workers share the set; in one process
the first test runs them all, a few at a time, and the others read the results.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import cast

import pytest

from foredeck.execute.containers import ContainerRun
from foredeck.execute.sandbox import Sandbox
from tests.pipeline.upstream.catalog import Example, examples
from tests.pipeline.upstream.runner import (
    MATCHED,
    MATCHED_IN_CONTAINERS,
    NEEDS_COMMAND,
    OUT_OF_SCOPE,
    WRONG_IN_CONTAINERS,
    Outcome,
    container_run,
    host_sandbox,
    read_ledger,
    run_all,
    run_example,
)

ALL = examples()
IN_SCOPE = [e for e in ALL if e.out_of_scope is None]
LEDGER = read_ledger()

# The per-example bound (60 s) is the harness's; this one only stops a hung run.
pytestmark = pytest.mark.timeout(600)

_outcomes: dict[str, Outcome] = {}
IN_CONTAINERS = (MATCHED_IN_CONTAINERS, WRONG_IN_CONTAINERS)


def _sandbox() -> Sandbox:
    """bubblewrap (private /tmp, no network), as the ledger was made; skip saying why without."""
    made, warning = host_sandbox()
    if warning is not None:
        message = f"upstream examples need the host sandbox to run hermetically: {warning}"
        if os.environ.get("SANDBOX_TESTS_REQUIRED"):
            pytest.fail(message)
        pytest.skip(message)
    return made


def _containers(request: pytest.FixtureRequest) -> ContainerRun | None:
    """Steps in their images from the stand-in store; None where podman is missing (the
    fixture then skips, saying why; in CI it fails instead)."""
    try:
        return container_run(request.getfixturevalue("standin_store"))
    except pytest.skip.Exception as skipped:
        print(f"upstream examples run on the host only: {skipped}")
        return None


def outcome(example: Example, request: pytest.FixtureRequest) -> Outcome:
    session = request.session
    if example.id not in _outcomes:
        sandbox = _sandbox()
        containers = _containers(request)
        if os.environ.get("PYTEST_XDIST_WORKER"):
            _outcomes[example.id] = asyncio.run(
                run_example(example, sandbox, containers=containers)
            )
        else:  # every example this session selected, a few at a time
            chosen = [
                cast(Example, item.callspec.params["example"])
                for item in session.items
                if isinstance(item, pytest.Function)
                and item.originalname == test_example_ends_as_the_ledger_says.__name__
            ]
            _outcomes.update(asyncio.run(run_all(chosen, containers=containers)))
    return _outcomes[example.id]


@pytest.mark.parametrize("example", IN_SCOPE, ids=[e.id for e in IN_SCOPE])
def test_example_ends_as_the_ledger_says(example: Example, request: pytest.FixtureRequest) -> None:
    expected = LEDGER.get(example.id, Outcome(MATCHED))
    got = outcome(example, request)
    if expected.category in IN_CONTAINERS and got.wants_containers and _containers(request) is None:
        pytest.skip(f"{example.id}: the ledger's outcome is from a run in containers (podman)")
    assert got.category == expected.category, (
        f"{example.id}: ledger says {expected}, now {got}"
        " (regenerate: PYTHONPATH=src python -m tests.pipeline.upstream.runner --write-ledger)"
    )


def test_the_ledger_names_only_in_scope_examples() -> None:
    scoped = {e.id for e in IN_SCOPE}
    stale = sorted(set(LEDGER) - scoped)
    assert not stale, f"ledger entries for no in-scope example: {stale}"
    assert all(o.category not in (MATCHED, OUT_OF_SCOPE) for o in LEDGER.values())


def test_scope_follows_the_engines_rules() -> None:
    by_id = {e.id: e for e in ALL}
    # Argo: a no-test label puts a Workflow out of scope, whatever its value
    assert by_id["argo/cron-workflow.yaml"].out_of_scope is not None
    assert by_id["argo/continue-on-fail.yaml"].out_of_scope == "no-test: expected-failure"
    assert by_id["argo/hello-world.yaml"].expect_success
    # an http template calling a host beyond loopback needs the network (it loads all the same)
    for ident in ("http-hello-world", "life-cycle-hooks-wf-level", "life-cycle-hooks-tmpl-level"):
        assert by_id[f"argo/{ident}.yaml"].out_of_scope == "needs the network"
    # a WorkflowTemplate a Workflow names is loaded with it
    ref = by_id["argo/workflow-template/workflow-template-ref.yaml"]
    assert [p.name for p in ref.files] == ["workflow-template-ref.yaml", "templates.yaml"]
    # Tekton: remote resolution, secrets and the network are out of scope
    assert by_id["tekton/pipelineruns/beta/git-resolver.yaml"].out_of_scope is not None
    assert by_id["tekton/pipelineruns/workspaces.yaml"].out_of_scope is not None
    assert by_id["tekton/pipelineruns/pipelinerun.yaml"].out_of_scope is not None
    assert by_id["tekton/pipelineruns/beta/pipelinerun-with-matrix.yaml"].out_of_scope is None


def test_what_a_standin_lacks_is_all_that_keeps_an_example_from_matching(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """variables-showcase counts apart for its daemon's `nc -lk` (alpine's busybox keeps
    listening; the stand-in's has no `-k` and spells it `-ll`): spelt the stand-in's way, the
    example matches in containers, so the count apart hides nothing else."""
    example = next(e for e in IN_SCOPE if e.id == "argo/variables-showcase.yaml")
    assert LEDGER[example.id] == Outcome(NEEDS_COMMAND, "nc -k of alpine's busybox (stand-in)")
    text = example.files[0].read_text()
    assert text.count("nc -lk -p 9999") == 1
    copy = tmp_path / "variables-showcase.yaml"
    copy.write_text(text.replace("nc -lk -p 9999", "nc -ll -p 9999"))
    containers = _containers(request)
    if containers is None:
        pytest.skip("variables-showcase runs only in containers (podman)")
    spelt = Example(example.engine, example.id, (copy,), example.expect_success)
    got = asyncio.run(run_example(spelt, _sandbox(), containers=containers))
    assert got == Outcome(MATCHED_IN_CONTAINERS)
