from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest
from pydantic import SecretStr

from foredeck.scm import webhooks
from foredeck.scm.webhooks import (
    IssueCommentEvent,
    PayloadError,
    PingEvent,
    PullRequestEvent,
    PushEvent,
    WebhookEnvelope,
    parse_payload,
    payload_json,
    repository_of,
    secrets_for,
    sign,
    verify_signature,
)
from foredeck.settings import HookSettings
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

    monkeypatch.setattr(webhooks.hmac, "compare_digest", spy)
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
    assert repository_of({"repository": {"full_name": "a/b/c"}}) == (None, None)
    assert repository_of({"repository": {"full_name": "a b/c"}}) == (None, None)
    assert repository_of({"repository": {"full_name": 3}, "organization": {"login": "o"}}) == (
        "o",
        None,
    )
    assert repository_of({}) == (None, None)


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
    typed = parse_payload(EXAMPLES[stem], example(stem))
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
    comment = parse_payload("issue_comment", example("issue_comment.created.pull_request"))
    assert isinstance(comment, IssueCommentEvent)
    assert comment.issue.is_pull_request and comment.comment.body == "/test all"
    plain = parse_payload("issue_comment", example("issue_comment.created"))
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
    env = WebhookEnvelope.parse("push", "d", b'{"repository": {"full_name": 3}, "organization": 1}')
    assert (env.org, env.repo) == (None, None)
    env = WebhookEnvelope.parse("push", "d", '{"action": "z\u00e9"}'.encode())
    assert env.action is None
    for name in EXAMPLES:
        document = example_bytes(name)
        env = WebhookEnvelope.parse("x", "d", document)
        assert (env.org, env.repo) == repository_of(orjson.loads(document)), name
