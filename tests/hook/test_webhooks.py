from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import astuple
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from pydantic import SecretStr, ValidationError

from foredeck.scm.github_types import (
    IssueCommentEvent,
    PayloadError,
    PingEvent,
    PullRequestEvent,
    PushEvent,
    Repository,
    parse_payload,
    repository_of,
)
from foredeck.scm.webhooks import (
    WebhookEnvelope,
    payload_json,
    secrets_for,
    sign,
    verify_signature,
)
from foredeck.settings import HookSettings
from tests.hook import strategies
from tests.hook.helpers import EXAMPLES, example, example_bytes


def test_sign_matches_githubs_documented_example() -> None:
    # From GitHub's "Validating webhook deliveries" documentation.
    assert sign(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_verify_accepts_any_rotated_secret_and_rejects_others() -> None:
    body = b'{"a": 1}'
    keys = [b"old", b"new"]
    assert verify_signature(body, sign(body, "old"), keys)
    assert verify_signature(body, sign(body, "new"), keys)
    assert verify_signature(body, sign(body, "new").upper().replace("SHA256=", "sha256="), keys)
    assert not verify_signature(body, sign(body, "other"), keys)
    assert not verify_signature(body + b" ", sign(body, "new"), keys)
    assert not verify_signature(body, sign(body, "new")[len("sha256=") :], keys)
    assert not verify_signature(body, "sha1=" + hmac.new(b"new", body, "sha1").hexdigest(), keys)
    assert not verify_signature(body, "sha256=zz\u00e9", keys)
    assert not verify_signature(body, sign(body, "new"), [])


def test_verify_uses_constant_time_compare_for_every_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # as webhooks calls it
    body = b"payload"
    keys = [b"k1", b"k2", b"k3"]
    assert verify_signature(body, sign(body, "k1"), keys)
    # All secrets are compared even after the first match, so timing does not tell which matched.
    assert len(calls) == 3
    expected = [hmac.new(k, body, hashlib.sha256).hexdigest().encode() for k in keys]
    assert [a for a, _ in calls] == expected


def test_secrets_for_prefers_repo_then_org_then_global() -> None:
    hook = HookSettings(
        secrets=[SecretStr("g1"), SecretStr("g2")],
        org_secrets={"Acme": [SecretStr("o1")], "empty": []},
        repo_secrets={"acme/Widget": [SecretStr("r1"), SecretStr("r2")]},
    )
    assert secrets_for(hook, "acme", "widget") == [b"r1", b"r2"]
    assert secrets_for(hook, "ACME", "gadget") == [b"o1"]
    assert secrets_for(hook, "acme", None) == [b"o1"]
    assert secrets_for(hook, "other", "widget") == [b"g1", b"g2"]
    assert secrets_for(hook, "empty", "x") == [b"g1", b"g2"]
    assert secrets_for(hook, None, None) == [b"g1", b"g2"]


def test_repository_of_reads_full_name_or_organization() -> None:
    assert repository_of(example("pull_request.opened")) == ("Codertocat", "Hello-World")
    assert repository_of(example("ping.org")) == ("Octocoders", None)
    assert repository_of({"repository": [1], "organization": {"login": "o"}}) == ("o", None)
    assert repository_of({"organization": {"login": "a b"}}) == (None, None)
    assert repository_of({"organization": "o"}) == (None, None)
    assert repository_of({}) == (None, None)


def _repo(full_name: object, owner: object = None, name: object = None) -> dict[str, object]:
    repository: dict[str, object] = {"full_name": full_name}
    if owner is not None:
        repository["owner"] = {"login": owner}
    if name is not None:
        repository["name"] = name
    return repository


_ABSENT = object()

# (repository, organization, (org, repo) or the PayloadError message); _ABSENT: no such key.
REPOSITORY_CASES: list[tuple[object, object, tuple[str | None, str | None] | str]] = [
    (_repo("acme/calc", "acme", "calc"), _ABSENT, ("acme", "calc")),
    (_repo("acme/calc", "acme", "calc"), {"login": "acme"}, ("acme", "calc")),
    (_repo("acme/calc"), _ABSENT, ("acme", "calc")),
    ({"full_name": "acme/calc", "owner": None, "name": None}, {"login": None}, ("acme", "calc")),
    ({"full_name": "acme/calc", "owner": {"id": 1}}, "not an object", ("acme", "calc")),
    ("not an object", {"login": "acme"}, ("acme", None)),
    (None, {"login": "acme"}, ("acme", None)),
    (_ABSENT, {"login": "acme", "id": 3}, ("acme", None)),
    (_ABSENT, {"login": "a/b"}, (None, None)),
    (
        _repo("evilorg/x", "acme", "calculator"),
        _ABSENT,
        "repository.owner.login 'acme' does not match repository.full_name 'evilorg/x'",
    ),
    (
        _repo("evilorg/x", "evilorg", "calculator"),
        _ABSENT,
        "repository.name 'calculator' does not match repository.full_name 'evilorg/x'",
    ),
    (
        _repo("Acme/calc", "acme", "calc"),
        _ABSENT,
        "repository.owner.login 'acme' does not match repository.full_name 'Acme/calc'",
    ),
    (
        _repo("acme/calc", 3, "calc"),
        _ABSENT,
        "repository.owner.login 3 does not match repository.full_name 'acme/calc'",
    ),
    (
        _repo("acme/calc", "acme", ["calc"]),
        _ABSENT,
        "repository.name (a list) does not match repository.full_name 'acme/calc'",
    ),
    ({"full_name": "acme/calc", "owner": "acme"}, _ABSENT, "repository.owner must be an object"),
    # With a repository, the organization field decides nothing (and nothing acts on it).
    (_repo("acme/calc", "acme", "calc"), {"login": "evilorg"}, ("acme", "calc")),
    (_repo("acme/calc", "acme", "calc"), {"login": "x" * 300}, ("acme", "calc")),
    (_repo("a/b/c"), _ABSENT, "repository.full_name must be 'owner/name'"),
    (_repo("a b/c"), _ABSENT, "repository.full_name must be 'owner/name'"),
    (_repo("/c"), _ABSENT, "repository.full_name must be 'owner/name'"),
    (_repo(3), {"login": "o"}, "repository.full_name must be 'owner/name'"),
    ({"owner": {"login": "acme"}, "name": "calc"}, _ABSENT, "repository.full_name must be"),
    ({}, {"login": "acme"}, "repository.full_name must be 'owner/name'"),
]


def _payload(repository: object, organization: object) -> dict[str, object]:
    payload: dict[str, object] = {"action": "opened"}
    if repository is not _ABSENT:
        payload["repository"] = repository
    if organization is not _ABSENT:
        payload["organization"] = organization
    return payload


@pytest.mark.parametrize(("repository", "organization", "expected"), REPOSITORY_CASES)
def test_envelope_and_repository_of_decide_the_same_repository(
    repository: object, organization: object, expected: tuple[str | None, str | None] | str
) -> None:
    payload = _payload(repository, organization)
    document = orjson.dumps(payload)
    if isinstance(expected, str):
        with pytest.raises(PayloadError) as raised:
            repository_of(payload)
        assert str(raised.value).startswith(expected)
        with pytest.raises(PayloadError) as raised:
            WebhookEnvelope.parse("push", "d", document)
        assert str(raised.value).startswith(expected)
    else:
        assert repository_of(payload) == expected
        envelope = WebhookEnvelope.parse("push", "d", document)
        assert (envelope.org, envelope.repo) == expected


def _push_naming(repository: object, organization: object) -> dict[str, Any]:
    """GitHub's push example with its repository's names (and organization) replaced."""
    payload = example("push")
    if isinstance(repository, dict):
        for key in ("full_name", "name", "owner"):
            if key in repository:
                payload["repository"][key] = repository[key]
            else:
                del payload["repository"][key]
    if organization is not _ABSENT:
        payload["organization"] = organization
    return payload


@pytest.mark.parametrize(
    ("repository", "organization", "expected"),
    [
        case
        for case in REPOSITORY_CASES
        if isinstance(case[0], dict) and case[0].get("owner") and case[0].get("name")
    ],
)
def test_typed_models_act_on_the_repository_the_envelope_names(
    repository: object, organization: object, expected: tuple[str | None, str | None] | str
) -> None:
    payload = _push_naming(repository, organization)
    if isinstance(expected, str):
        with pytest.raises(ValidationError, match=re.escape(expected)):
            parse_payload("push", payload)
        if expected.startswith("repository."):  # the model alone, as in a pull request's head
            with pytest.raises(ValidationError):  # with this message when the types are right
                Repository.model_validate(payload["repository"])
    else:
        push = parse_payload("push", payload)
        assert isinstance(push, PushEvent)
        assert (push.repository.org, push.repository.name) == expected


def test_typed_model_refuses_repository_names_that_disagree() -> None:
    payload = example("push")
    payload["repository"]["owner"]["login"] = "evilorg"
    with pytest.raises(ValidationError, match=r"owner\.login 'evilorg' does not match"):
        parse_payload("push", payload)
    pull = example("pull_request.opened")
    pull["pull_request"]["head"]["repo"]["name"] = "other"  # any repository object is checked
    with pytest.raises(ValidationError, match=r"repository\.name 'other' does not match"):
        parse_payload("pull_request", pull)


def test_envelope_parse_rejects_non_objects_and_keeps_only_sane_actions() -> None:
    with pytest.raises(PayloadError, match="valid JSON"):
        WebhookEnvelope.parse("push", "d", b"{not json")
    with pytest.raises(PayloadError, match="valid JSON"):
        WebhookEnvelope.parse("push", "d", b"\xff\xfe")
    with pytest.raises(PayloadError, match="JSON object"):
        WebhookEnvelope.parse("push", "d", b"[1, 2]")
    env = WebhookEnvelope.parse("x", "d", b'{"action": "DROP TABLE;"}')
    assert env.action is None
    env = WebhookEnvelope.parse("pull_request", "d", example_bytes("pull_request.synchronize"))
    assert (env.action, env.org, env.repo) == ("synchronize", "Codertocat", "Hello-World")


def test_form_encoded_payload_field() -> None:
    from urllib.parse import urlencode

    doc = b'{"zen": "hi"}'
    form = urlencode({"payload": doc.decode()}).encode()
    assert payload_json(form, "application/x-www-form-urlencoded") == doc
    assert payload_json(doc, "application/json") == doc
    for bad in (b"other=1", b"payload=a&payload=b", b"\xff"):
        with pytest.raises(PayloadError):
            payload_json(bad, "application/x-www-form-urlencoded")


@pytest.mark.parametrize("stem", sorted(EXAMPLES))
def test_typed_models_read_every_vendored_example(stem: str) -> None:
    typed = parse_payload(EXAMPLES[stem], orjson.loads(example_bytes(stem)))
    expected = {
        "pull_request": PullRequestEvent,
        "push": PushEvent,
        "issue_comment": IssueCommentEvent,
        "ping": PingEvent,
    }[EXAMPLES[stem]]
    assert isinstance(typed, expected)


def test_typed_fields() -> None:
    pr = parse_payload("pull_request", example("pull_request.synchronize"))
    assert isinstance(pr, PullRequestEvent)
    raw = example("pull_request.synchronize")
    assert pr.pull_request.head.sha == raw["pull_request"]["head"]["sha"]
    assert pr.pull_request.base.ref == raw["pull_request"]["base"]["ref"]
    assert pr.repository.org == "Codertocat"
    assert pr.number == raw["number"]
    push = parse_payload("push", example("push"))
    assert isinstance(push, PushEvent) and push.ref == "refs/heads/master"
    pull_comment = orjson.loads(example_bytes("issue_comment.created.pull_request"))
    comment = parse_payload("issue_comment", pull_comment)
    assert isinstance(comment, IssueCommentEvent)
    assert comment.issue.is_pull_request and comment.comment.body == "/test all"
    plain = parse_payload("issue_comment", orjson.loads(example_bytes("issue_comment.created")))
    assert isinstance(plain, IssueCommentEvent) and not plain.issue.is_pull_request
    assert parse_payload("watch", {"action": "started"}) is None


def test_envelope_checks_the_whole_document_but_reads_only_its_head() -> None:
    # Bytes that are not UTF-8 inside a field the envelope never reads still make it invalid.
    with pytest.raises(PayloadError, match="valid JSON"):
        WebhookEnvelope.parse("push", "d", b'{"action": "opened", "x": "\xff"}')
    with pytest.raises(PayloadError, match="valid JSON"):
        WebhookEnvelope.parse("push", "d", b'{"action": "opened", "x": [1,}')
    with pytest.raises(PayloadError, match="valid JSON"):
        WebhookEnvelope.parse("push", "d", b'{"action": "opened"} trailing')
    # Owners that are not objects count as absent, like in `repository_of`.
    env = WebhookEnvelope.parse(
        "push", "d", b'{"repository": "x", "organization": {"login": "o"}, "action": "opened"}'
    )
    assert (env.action, env.org, env.repo) == ("opened", "o", None)
    env = WebhookEnvelope.parse("push", "d", b'{"repository": null, "organization": 1}')
    assert (env.org, env.repo) == (None, None)
    env = WebhookEnvelope.parse("push", "d", '{"action": "z\u00e9"}'.encode())
    assert env.action is None
    for name in EXAMPLES:
        document = example_bytes(name)
        env = WebhookEnvelope.parse("x", "d", document)
        assert (env.org, env.repo) == repository_of(orjson.loads(document)), name


def _decided(decide: Callable[[], tuple[str | None, str | None]]) -> tuple[str | None, ...] | str:
    try:
        return decide()
    except PayloadError as exc:
        return str(exc)


@settings(derandomize=True, database=None, deadline=None, max_examples=400)
@given(strategies.payloads)
def test_hook_and_typed_model_always_decide_the_same_repository(payload: dict[str, Any]) -> None:
    push = {k: v for k, v in example("push").items() if k != "repository"} | payload
    document = orjson.dumps(push)
    envelope = _decided(lambda: astuple(WebhookEnvelope.parse("push", "d", document))[3:])
    assert envelope == _decided(lambda: repository_of(orjson.loads(document)))
    try:
        typed = parse_payload("push", orjson.loads(document))
    except ValidationError as exc:
        if isinstance(envelope, str):
            assert envelope in str(exc)
        return
    assert isinstance(typed, PushEvent)
    assert (typed.repository.org, typed.repository.name) == envelope
