"""The GitHub double itself: it must flag what real GitHub would reject, in both directions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from tests.doubles.contract import OpenAPIContract, to_json_schema
from tests.doubles.github_api import GitHubDouble, assert_no_violations
from tests.doubles.openapi.extract import OPERATIONS

OPENAPI_DIR = Path(__file__).resolve().parents[1] / "doubles" / "openapi"


@pytest.fixture
def gh(github_double: GitHubDouble) -> GitHubDouble:
    github_double.add_repo("org", "repo")
    github_double.add_pull("org", "repo", 1, files=["a.py"], labels=["bug"])
    return github_double


@pytest.fixture
def http(gh: GitHubDouble) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {gh.token}"}
    with httpx.Client(base_url=gh.url, headers=headers) as client:
        yield client


def test_status_with_bogus_state_is_a_violation(gh: GitHubDouble, http: httpx.Client) -> None:
    resp = http.post("/repos/org/repo/statuses/abc", json={"state": "bogus", "context": "ci"})
    assert resp.status_code == 422
    found = gh.take_violations()
    assert [(v.kind, v.path) for v in found] == [("request", "/repos/org/repo/statuses/abc")]
    assert "'bogus' is not one of" in found[0].message
    assert gh.statuses("org", "repo") == []  # nothing was stored


def test_labels_not_a_list_is_a_violation(gh: GitHubDouble, http: httpx.Client) -> None:
    resp = http.post("/repos/org/repo/issues/1/labels", json={"labels": "lgtm"})
    assert resp.status_code == 422
    found = gh.take_violations()
    assert len(found) == 1 and "body" in found[0].message
    assert gh.issue_labels("org", "repo", 1) == ["bug"]


def test_missing_required_body_is_a_violation(gh: GitHubDouble, http: httpx.Client) -> None:
    resp = http.post("/repos/org/repo/issues/1/comments")
    assert resp.status_code == 422
    assert [v.message for v in gh.take_violations()] == ["request body is required"]


def test_body_that_is_not_json_is_a_violation(gh: GitHubDouble, http: httpx.Client) -> None:
    resp = http.post(
        "/repos/org/repo/issues/1/comments",
        content=b"{body: nope",
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 422
    assert "not JSON" in gh.take_violations()[0].message


def test_bad_path_and_query_parameters_are_violations(gh: GitHubDouble, http: httpx.Client) -> None:
    assert http.get("/repos/org/repo/pulls/one").status_code == 422
    assert http.get("/repos/org/repo/pulls/1/files", params={"perpage": 5}).status_code == 422
    assert http.get("/repos/org/repo/pulls/1/files", params={"per_page": "x"}).status_code == 422
    messages = [v.message for v in gh.take_violations()]
    assert messages == [
        "path parameter pull_number: 'one' is not a valid integer",
        "unknown query parameter 'perpage'",
        "query parameter per_page: 'x' is not a valid integer",
    ]


def test_unknown_routes_are_violations(gh: GitHubDouble, http: httpx.Client) -> None:
    assert http.get("/repos/org/repo/frobnicate").status_code == 404
    assert http.get("/repos/org/repo/releases").status_code == 404  # real, but not served
    assert http.put("/repos/org/repo/pulls/1").status_code == 404  # wrong method
    found = gh.take_violations()
    assert [v.kind for v in found] == ["route", "route", "route"]
    assert "no such route in GitHub's REST API" in found[0].message
    assert "the double does not serve it" in found[1].message
    assert "no such route" in found[2].message


def test_corrupted_state_makes_a_response_violation(gh: GitHubDouble, http: httpx.Client) -> None:
    gh.repo("org", "repo").labels["bug"].color = None  # type: ignore[assignment]
    gh.repo("org", "repo").issues[1].extra["title"] = 42
    assert http.get("/repos/org/repo/issues/1/labels").status_code == 200
    assert http.get("/repos/org/repo/pulls/1").status_code == 200
    found = gh.take_violations()
    assert [(v.kind, v.path) for v in found] == [
        ("response", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
        ("response", "/repos/{owner}/{repo}/pulls/{pull_number}"),
        ("response", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ]
    assert "0/color: None is not of type 'string'" in found[0].message
    messages = " ".join(v.message for v in found[1:])
    assert "title: 42 is not of type 'string'" in messages
    assert "labels/0/color" in messages


def test_description_over_140_is_a_violation(gh: GitHubDouble, http: httpx.Client) -> None:
    body = {"state": "success", "context": "ci", "description": "x" * 141}
    assert http.post("/repos/org/repo/statuses/abc", json=body).status_code == 422
    assert "description is too long" in gh.take_violations()[0].message


def test_valid_traffic_has_no_violations(gh: GitHubDouble, http: httpx.Client) -> None:
    first = http.get("/repos/org/repo/pulls/1")
    again = http.get("/repos/org/repo/pulls/1", headers={"if-none-match": first.headers["etag"]})
    assert (first.status_code, again.status_code, again.content) == (200, 304, b"")
    assert http.post("/repos/org/repo/issues/1/labels", json={"labels": ["a"]}).status_code == 200
    assert http.delete("/repos/org/repo/issues/1/labels/zzz").status_code == 404
    assert http.get("/repos/org/repo/pulls/9").status_code == 404
    assert gh.violations == []


def test_unauthenticated_requests_are_refused(gh: GitHubDouble) -> None:
    with httpx.Client(base_url=gh.url) as anonymous:
        assert anonymous.get("/repos/org/repo/pulls/1").status_code == 401
    with httpx.Client(base_url=gh.url, headers={"Authorization": "Bearer wrong"}) as wrong:
        assert wrong.get("/repos/org/repo/pulls/1").status_code == 401
    assert gh.violations == []  # refusing credentials is GitHub behaviour, not a contract breach


def test_fixture_teardown_fails_on_violations(gh: GitHubDouble, http: httpx.Client) -> None:
    http.get("/nope")
    with pytest.raises(pytest.fail.Exception, match="route: GET /nope"):
        assert_no_violations(gh)
    gh.take_violations()
    assert_no_violations(gh)


def test_every_vendored_operation_has_a_handler() -> None:
    contract = OpenAPIContract.load()
    served = {f"{m.upper()} {p}" for m, p in OPERATIONS}
    vendored = {f"{m.upper()} {p}" for p, item in contract.spec["paths"].items() for m in item}
    assert served == vendored
    for op_id in contract.operation_ids():
        handler = "_op_" + op_id.replace("/", "_").replace("-", "_")
        assert hasattr(GitHubDouble, handler), f"no handler for {op_id}"


def test_vendored_subset_records_its_source() -> None:
    meta = json.loads((OPENAPI_DIR / "source.json").read_text())
    readme = (OPENAPI_DIR / "README.md").read_text()
    assert meta["package"] == "@octokit/openapi" and meta["package"] in readme
    assert meta["version"] in readme and meta["file"] in readme
    assert OpenAPIContract.load().info["version"] == meta["version"]


@pytest.mark.parametrize(
    ("schema", "ok", "bad"),
    [
        ({"type": "string", "nullable": True}, [None, "a"], [1]),
        ({"type": "string", "nullable": True, "enum": ["a"]}, [None, "a"], ["b"]),
        ({"nullable": True, "allOf": [{"type": "integer"}]}, [None, 3], ["3"]),
        ({"type": "number", "minimum": 1, "exclusiveMinimum": True}, [1.5], [1]),
        ({"type": "string"}, ["a"], [None]),
    ],
)
def test_openapi_schemas_convert_to_json_schema(
    schema: dict[str, object], ok: list[object], bad: list[object]
) -> None:
    validator = jsonschema.Draft202012Validator(to_json_schema(schema))
    assert all(validator.is_valid(v) for v in ok)
    assert not any(validator.is_valid(v) for v in bad)
