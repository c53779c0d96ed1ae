"""A bounded fuzz of the service app through its own OpenAPI description (schemathesis).

Every operation of `/openapi.json` (the API, and the hook app's `/hook`, probes and `/metrics`;
the dashboard's pages are not in the schema) gets generated requests, valid and invalid,
in-process, against a database holding a few real jobs, on each backend. Whether a request
carries the API token is drawn too, and schemathesis' `ignored_auth` check resends successful
authorized requests without it. No answer may be a 5xx, and every answer must conform to the
schema: status code, content type, headers and body. Examples are derandomized (every run is
the same) and bounded per operation and mode, so that the whole fuzz takes seconds.

schemathesis' pytest integration (`schemathesis.pytest.from_fixture`) fails on pytest 9 (it
reads `Node._nodeid`, which pytest 9 removed), so each operation's strategy is run with
Hypothesis directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error, positive_data_acceptance
from schemathesis.core.result import Ok
from schemathesis.errors import FailureGroup
from schemathesis.openapi import from_asgi
from schemathesis.specs.openapi.checks import negative_data_rejection
from sqlalchemy import update

from foredeck.db import Job, session_factory
from foredeck.serve.app import create_service_app
from foredeck.settings import ScmSettings
from tests.api.helpers import AUTH, batch, finish, postsubmit, presubmit, seed, settings_for
from tests.db.fixtures import Database
from tests.kit.git import local_pull_request

Operation = APIOperation[Any, Any, Any, Any]

EXAMPLES_PER_OPERATION = 25
"""Per operation and generation mode (positive, negative)."""

HOOK_APP_OPERATIONS = frozenset(
    {"POST /hook", "GET /livez", "GET /readyz", "GET /healthz", "GET /metrics"}
)
"""Served by `hook/server.py` and `web/probes.py`, whose OpenAPI description documents a 200
JSON answer only (4xx, 503 and `/metrics`' text format are not described): these must not fail
with a 500, nothing more."""

SEMANTIC_422 = frozenset({"POST /api/jobs", "POST /api/tokens"})
"""Schema-valid bodies that do not fit the job config (a presubmit without a pull, a `pull`
without `refs`, a branch the job skips) are 422 by design: no `positive_data_acceptance`. So is
a token made with the bootstrap token (which is nobody) without naming its `user`, and a NUL
in the text of a job's `refs` (the shared `Refs` type does not say it in the schema; the
body's own text fields do: `pattern`)."""


def fuzzed_app(db: Database, tmp_path: Path) -> tuple[FastAPI, list[int]]:
    """The service app on `db` holding a few real jobs (one with a build log; their ids are
    returned), the local SCM provider with pull request 1, and an API token."""
    ids = seed(
        db,
        presubmit("unit", pr=1),
        presubmit("lint", pr=1),
        postsubmit("publish"),
        batch(["alice", "bob"]),
    )
    finish(db, ids[1], "failure")
    finish(db, ids[2], "success")
    log = tmp_path / "ws" / "out" / "build-log.txt"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {i}\n" for i in range(50)))
    with session_factory(db.engine).begin() as session:
        session.execute(update(Job).where(Job.id == ids[0]).values(workspace=str(log.parents[1])))
    local_pull_request(tmp_path / "repos")
    config = settings_for(db, tmp_path).model_copy(
        update={"scm": ScmSettings(provider="local", local_root=str(tmp_path / "repos"))}
    )
    return create_service_app(config, db.engine), ids


REFS = {"org": "acme", "repo": "widget", "base_ref": "main"}
STARTABLE = [
    {"name": "nightly"},
    {"name": "unit", "refs": REFS, "pull": 7},
    {"name": "publish", "refs": REFS},
]
"""Bodies of `POST /api/jobs` naming configured jobs (`tests/api/helpers.JOB_CONFIG`)."""


def on_real_data(operation: Operation, ids: list[int]) -> SearchStrategy[Case[Any]] | None:
    """Valid requests about things that exist: the seeded jobs, pull request 1 of acme/widget,
    configured jobs. Generated ones rarely hit any, and then never reach the code that acts."""
    if operation.label == "POST /api/jobs":
        return st.one_of([operation.as_strategy(body=body) for body in STARTABLE])
    names = {p.name for p in operation.path_parameters}
    if names == {"job_id"}:
        return st.one_of([operation.as_strategy(path_parameters={"job_id": i}) for i in ids])
    if names == {"org", "repo", "number"}:
        pull = {"org": "acme", "repo": "widget", "number": 1}
        return operation.as_strategy(path_parameters=pull)
    return None


def has_inputs(operation: Operation) -> bool:
    """Whether anything of the request can be made invalid (negative mode needs something)."""
    return bool(operation.path_parameters or operation.query or operation.headers or operation.body)


def call(case: Case[Any], with_token: bool) -> None:
    label = case.operation.label
    checks: list[CheckFunction] | None = None  # schemathesis' default checks
    excluded: list[CheckFunction] = []
    if label in HOOK_APP_OPERATIONS:
        checks = [not_a_server_error]
    elif label in SEMANTIC_422:
        excluded.append(positive_data_acceptance)
    headers = AUTH if with_token else None
    response = case.call(headers=headers)
    if response.status_code == 413:
        # An over-long body is refused before it is parsed: rejected, though schemathesis'
        # negative-data check does not count 413 among the rejections. A valid one never is.
        assert case.meta is not None and case.meta.generation.mode.is_negative, case.body
        excluded.append(negative_data_rejection)
    case.validate_response(
        response, checks=checks, excluded_checks=excluded or None, headers=headers
    )


def test_every_operation_answers_generated_requests_within_its_schema(
    db: Database, tmp_path: Path
) -> None:
    app, ids = fuzzed_app(db, tmp_path)
    schema = from_asgi("/openapi.json", app)
    operations: list[Operation] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    labels = {op.label for op in operations}
    assert labels >= {
        "GET /api/jobs",
        "POST /api/jobs",
        "GET /api/jobs/{job_id}",
        "GET /api/jobs/{job_id}/log",
        "POST /api/jobs/{job_id}/rerun",
        "POST /api/jobs/{job_id}/abort",
        "POST /api/repos/{org}/{repo}/pulls/{number}/comments",
        *HOOK_APP_OPERATIONS,
    }, labels
    failures: list[str] = []
    runs = 0
    for operation in operations:
        modes = list(GenerationMode) if has_inputs(operation) else [GenerationMode.POSITIVE]
        strategies = [(mode.value, operation.as_strategy(mode)) for mode in modes]
        real = on_real_data(operation, ids)
        if real is not None:
            strategies.append(("real data", real))
        for kind, strategy in strategies:

            @given(case=strategy, with_token=st.booleans())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: Case[Any], with_token: bool) -> None:
                call(case, with_token)

            runs += 1
            try:
                fuzz()
            except (Exception, FailureGroup) as exc:
                failures.append(f"{operation.label} ({kind}): {exc}")
    assert runs >= 3 * 7  # both modes and real data for each API operation
    assert not failures, "\n\n".join(failures)
