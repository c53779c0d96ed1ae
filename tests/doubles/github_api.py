"""An in-memory GitHub REST API served over HTTP on 127.0.0.1, checked against GitHub's contract.

Every request is resolved against the vendored OpenAPI description (`contract.py`): unknown
routes, bad parameters and bodies the real API would reject are answered 404/422 *and* recorded
as violations; every response the double builds is validated against the documented schema for
its status. The `github_double` fixture fails the test at teardown if any violation was recorded,
so a client that drifts from GitHub's API cannot pass against the double.

Usage (see docs/github.md):

    # conftest.py
    from tests.doubles import github_api
    github_double = github_api.github_double

    # test_x.py
    async def test_x(github_double: GitHubDouble) -> None:
        gh = github_double
        gh.add_repo("org", "repo")
        gh.add_pull("org", "repo", 1, author="alice", files=["a.py"], head_sha=sha)
        async with GitHubClient(gh.token, base_url=gh.url) as client:
            ...
        assert [s.state for s in gh.statuses("org", "repo", sha)] == ["pending", "success"]
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, unquote, urlencode

import jwt
import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from foredeck.scm.github import GitHubClient
from tests.doubles.contract import Match, OpenAPIContract, Violation
from tests.doubles.github_git import GitDataOps
from tests.doubles.github_oauth import OAuthOps
from tests.doubles.github_state import (
    AppState,
    CommentState,
    FileChange,
    FileStatus,
    InstallationState,
    IssueState,
    JsonBuilder,
    LabelState,
    PullState,
    RepoState,
    StatusState,
    TokenState,
    UserState,
    blob_sha,
    iso,
    node_id,
)

DOCS = "https://docs.github.com/rest"
DEFAULT_TOKEN = "ghp_double_default_token"  # a fake token for the fake server
CONTENT_INLINE_LIMIT = 1024 * 1024  # GitHub inlines file content up to 1 MB
MAX_STATUS_DESCRIPTION = 140
MAX_COMMENT_BODY = 65536
MAX_REQUEST_BYTES = 1024 * 1024
MAX_ASSIGNEES = 10
PRIMARY_MESSAGE = "API rate limit exceeded for installation ID 1."
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
JWT_OPERATIONS = {
    "apps/get-installation",
    "apps/create-installation-access-token",
    "apps/get-org-installation",
    "apps/get-repo-installation",
}


@dataclass
class RecordedRequest:
    """One request the double received, in arrival order (Authorization redacted)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    operation_id: str | None = None
    status: int = 0
    injected: bool = False
    """True when the response was an injected fault (5xx, rate limit)."""


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    paginate: bool = False


class Rejected(Exception):
    """A handler's refusal; `violation` marks requests the real API would reject as invalid."""

    def __init__(self, status: int, message: str, *, violation: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.violation = violation


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]
    message: str


@dataclass
class _Ctx:
    match: Match
    body: Any
    login: str
    headers: dict[str, str]

    def p(self, name: str) -> Any:
        return self.match.path_params[name]


def _error(message: str, status: int) -> dict[str, Any]:
    return {"message": message, "documentation_url": DOCS, "status": str(status)}


class GitHubDouble(GitDataOps, OAuthOps):
    """Fake GitHub: seed state with `add_*`, run it with `start()`/`with`, inspect afterwards."""

    def __init__(
        self, *, token: str = DEFAULT_TOKEN, login: str = "foredeck-bot", etags: bool = True
    ) -> None:
        self.contract = OpenAPIContract.load()
        self.token = token
        self.etags = etags
        self.clock: Callable[[], float] = time.time
        self.users: dict[str, UserState] = {}
        self.repos: dict[tuple[str, str], RepoState] = {}
        self.org_members: dict[str, set[str]] = {}
        self.hidden_membership: set[str] = set()
        self.apps: dict[int, AppState] = {}
        self.installations: dict[int, InstallationState] = {}
        self.tokens: dict[str, TokenState] = {}
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.merges: list[tuple[str, int, str]] = []
        self.check_runs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.reviews: dict[tuple[str, str, int], list[tuple[int, str, str, float]]] = {}
        """Reviews by (owner, repo, number): (id, reviewer, state), oldest first."""
        """Check runs by (owner, repo, sha), oldest first (`add_check_run`)."""
        """(org/repo, number, merge method) of each merge, in order."""
        self.token_lifetime = 3600.0
        self.rate_limit = 5000
        self.rate_remaining = 5000
        self.rate_reset = 0.0
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self.url = ""
        self._init_git()
        self._init_oauth()
        self.add_token(token, login)

    # -- seeding ------------------------------------------------------------------------------

    def _next_id(self) -> int:
        return next(self._ids)

    def user(self, login: str, *, type: str | None = None) -> UserState:
        """The user `login`, created on first mention (`[bot]` logins are Bots)."""
        with self._lock:
            if login not in self.users:
                kind = type or ("Bot" if login.endswith("[bot]") else "User")
                self.users[login] = UserState(login, self._next_id(), kind)
            return self.users[login]

    def add_token(self, token: str, login: str) -> None:
        """Accept `token` as user `login`."""
        self.user(login)
        self.tokens[token] = TokenState(login)

    def add_org(self, org: str, *, members: Iterable[str] = ()) -> None:
        self.user(org, type="Organization")
        self.org_members.setdefault(org, set())
        for member in members:
            self.add_org_member(org, member)

    def add_org_member(self, org: str, login: str) -> None:
        if org not in self.org_members:
            self.add_org(org)
        self.user(login)
        self.org_members[org].add(login)

    def hide_org_membership(self, org: str) -> None:
        """Answer membership checks in `org` with 302, as for a requester outside the org."""
        self.hidden_membership.add(org)

    def add_repo(
        self,
        owner: str,
        name: str,
        *,
        default_branch: str = "main",
        branches: dict[str, str] | None = None,
        private: bool = False,
    ) -> RepoState:
        """A repository; its default branch points at a made-up commit unless given."""
        with self._lock:
            if owner not in self.users:
                self.add_org(owner)
            repo = RepoState(owner, name, self._next_id(), default_branch, private)
            repo.branches = dict(branches or {})
            repo.branches.setdefault(default_branch, _sha(f"{owner}/{name}@{default_branch}"))
            self.repos[(owner, name)] = repo
            return repo

    def repo(self, owner: str, name: str) -> RepoState:
        return self.repos[(owner, name)]

    def add_collaborator(
        self, owner: str, name: str, login: str, permission: str = "write"
    ) -> None:
        self.user(login)
        self.repo(owner, name).collaborators[login] = permission

    def add_label(
        self, owner: str, name: str, label: str, *, color: str = "ededed", description: str = ""
    ) -> LabelState:
        repo = self.repo(owner, name)
        if label not in repo.labels:
            repo.labels[label] = LabelState(label, self._next_id(), color, description or None)
        return repo.labels[label]

    def add_issue(
        self,
        owner: str,
        name: str,
        number: int,
        *,
        author: str = "octocat",
        title: str = "",
        body: str | None = None,
        labels: Iterable[str] = (),
    ) -> IssueState:
        repo = self.repo(owner, name)
        self.user(author)
        now = self.clock()
        issue = IssueState(number, self._next_id(), title or f"Issue {number}", author, body)
        issue.created_at = issue.updated_at = now
        for label in labels:
            self.add_label(owner, name, label)
            issue.labels.append(label)
        repo.issues[number] = issue
        return issue

    def add_pull(
        self,
        owner: str,
        name: str,
        number: int,
        *,
        author: str = "octocat",
        title: str = "",
        body: str | None = None,
        head_sha: str | None = None,
        head_ref: str | None = None,
        base_ref: str | None = None,
        files: Iterable[str | FileChange] = (),
        labels: Iterable[str] = (),
        head_owner: str | None = None,
    ) -> IssueState:
        """A pull request; `files` are changed paths (or `FileChange`s for renames etc.)."""
        repo = self.repo(owner, name)
        base = base_ref or repo.default_branch
        if base not in repo.branches:
            repo.branches[base] = _sha(f"{owner}/{name}@{base}")
        issue = self.add_issue(
            owner, name, number, author=author, title=title or f"PR {number}", body=body
        )
        issue.labels.extend(labels)
        for label in labels:
            self.add_label(owner, name, label)
        if head_owner is not None and (head_owner, name) not in self.repos:
            self.user(head_owner)
            self.add_repo(head_owner, name)
        issue.pull = PullState(
            head_ref=head_ref or f"pr-{number}",
            head_sha=head_sha or _sha(f"{owner}/{name}#{number}"),
            base_ref=base,
            base_sha=repo.branches[base],
            files=[f if isinstance(f, FileChange) else FileChange(f) for f in files],
            head_owner=head_owner,
        )
        return issue

    def pull(self, owner: str, name: str, number: int) -> PullState:
        pull = self.repo(owner, name).issues[number].pull
        assert pull is not None, f"{owner}/{name}#{number} is not a pull request"
        return pull

    def add_file_change(
        self,
        owner: str,
        name: str,
        number: int,
        filename: str,
        *,
        status: FileStatus = "modified",
        previous_filename: str | None = None,
    ) -> None:
        self.pull(owner, name, number).files.append(FileChange(filename, status, previous_filename))

    def set_file(
        self, owner: str, name: str, path: str, content: bytes | str, *, ref: str | None = None
    ) -> None:
        """File content at a branch (default: the default branch) or a commit sha."""
        repo = self.repo(owner, name)
        data = content.encode() if isinstance(content, str) else content
        repo.files[(ref or repo.default_branch, path.strip("/"))] = data

    def add_comment(
        self, owner: str, name: str, number: int, body: str, *, author: str = "octocat"
    ) -> CommentState:
        repo = self.repo(owner, name)
        self.user(author)
        now = self.clock()
        comment = CommentState(self._next_id(), number, author, body, now, now)
        repo.comments[comment.id] = comment
        return comment

    def add_check_run(
        self,
        owner: str,
        name: str,
        sha: str,
        check: str,
        status: str = "completed",
        conclusion: str | None = "success",
    ) -> int:
        """A check run (a GitHub Actions job, say) on commit `sha`; a rerun is a new one."""
        self.repo(owner, name)
        run_id = self._next_id()
        run = {"id": run_id, "name": check, "status": status, "conclusion": conclusion}
        self.check_runs.setdefault((owner, name, sha), []).append(run)
        return run_id

    def add_review(self, owner: str, name: str, number: int, user: str, state: str) -> int:
        """A review of pull request `number` (`APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`,
        `DISMISSED`), after the ones before it."""
        self.repo(owner, name)
        self.user(user)
        review_id = self._next_id()
        entry = (review_id, user, state, self.clock())
        self.reviews.setdefault((owner, name, number), []).append(entry)
        return review_id

    def add_app(self, app_id: int, public_key_pem: bytes | str, *, slug: str = "foredeck") -> None:
        pem = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        self.apps[app_id] = AppState(app_id, pem, slug)
        self.user(f"{slug}[bot]")

    def add_installation(self, app_id: int, account: str) -> int:
        """Install app `app_id` on `account` (an org or user); returns the installation id."""
        if account not in self.users:
            self.add_org(account)
        inst = InstallationState(self._next_id(), app_id, account, self.clock())
        self.installations[inst.id] = inst
        return inst.id

    # -- failure knobs ------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 502) -> None:
        """Answer the next `count` requests with `status` (after the contract check)."""
        for _ in range(count):
            self._faults.append(_Fault(status, {}, "Server Error"))

    def rate_limit_primary(
        self, count: int = 1, *, reset_in: float = 60.0, status: int = 403
    ) -> None:
        """The next `count` requests hit the primary limit, resetting `reset_in` s from now."""
        reset = str(math.ceil(self.clock() + reset_in))
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
        for _ in range(count):
            self._faults.append(_Fault(status, headers, PRIMARY_MESSAGE))

    def rate_limit_secondary(
        self, count: int = 1, *, retry_after: int | None = 60, status: int = 403
    ) -> None:
        """The next `count` requests hit a secondary limit (with `retry-after` unless None)."""
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        for _ in range(count):
            self._faults.append(_Fault(status, headers, SECONDARY_MESSAGE))

    # -- inspection ---------------------------------------------------------------------------

    def statuses(self, owner: str, name: str, sha: str | None = None) -> list[StatusState]:
        """Statuses posted to the repository (for `sha` if given), oldest first."""
        found = self.repo(owner, name).statuses
        return [s for s in found if sha is None or s.sha == sha]

    def comments(self, owner: str, name: str, number: int) -> list[CommentState]:
        repo = self.repo(owner, name)
        return sorted(
            (c for c in repo.comments.values() if c.issue_number == number), key=lambda c: c.id
        )

    def issue_labels(self, owner: str, name: str, number: int) -> list[str]:
        return list(self.repo(owner, name).issues[number].labels)

    def assignees(self, owner: str, name: str, number: int) -> list[str]:
        return list(self.repo(owner, name).issues[number].assignees)

    def requested_reviewers(self, owner: str, name: str, number: int) -> list[str]:
        return list(self.pull(owner, name, number).requested_reviewers)

    def calls(self, operation_id: str | None = None, *, method: str | None = None) -> list[str]:
        """`"METHOD /path"` of recorded requests, optionally filtered by operation or method."""
        return [
            f"{r.method} {r.path}"
            for r in self.requests
            if (operation_id is None or r.operation_id == operation_id)
            and (method is None or r.method == method)
        ]

    def client(self, **kwargs: Any) -> GitHubClient:
        """A `GitHubClient` for this double with its token; `kwargs` go to `GitHubClient`."""
        return GitHubClient(self.token, base_url=self.url, **kwargs)

    def take_violations(self) -> list[Violation]:
        """Return and forget recorded violations (for tests that provoke them on purpose)."""
        with self._lock:
            found, self.violations = self.violations, []
            return found

    # -- serving ------------------------------------------------------------------------------

    def start(self) -> GitHubDouble:
        """Serve this double on a pooled server (starting one costs ~70 ms, stopping ~170 ms)."""
        if self._server is None:
            self._server = _Server.acquire(self)
            self.url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            with self._lock:
                self._server.release()
            self._server = None

    def __enter__(self) -> GitHubDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        raw_path = scope.get("raw_path", b"").decode("latin-1").split("?")[0] or scope["path"]
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), True)
        headers = {k.lower(): v for k, v in request.headers.items()}
        if raw_path.startswith("/login/oauth/"):  # GitHub's web flow, not its REST API
            with self._lock:
                answer = self.oauth_web(
                    scope["method"],
                    raw_path,
                    scope.get("query_string", b"").decode(),
                    headers,
                    body,
                )
            await Response(answer[1], answer[0], answer[2])(scope, receive, send)
            return
        with self._lock:
            status, payload, out_headers = self._handle(
                scope["method"], raw_path, query, headers, body
            )
        await Response(payload, status, out_headers)(scope, receive, send)

    # -- request handling ---------------------------------------------------------------------

    def _handle(
        self,
        method: str,
        raw_path: str,
        query: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, bytes, dict[str, str]]:
        path = unquote(raw_path)
        shown = {k: ("<redacted>" if k == "authorization" else v) for k, v in headers.items()}
        try:
            parsed_body: Any = json.loads(body) if body.strip() else None
        except ValueError:
            parsed_body = body.decode("utf-8", "replace")
        record = RecordedRequest(method, path, dict(query), shown, parsed_body)
        self.requests.append(record)
        if len(body) > MAX_REQUEST_BYTES:
            return self._finish(record, None, Reply(413, _error("Payload too large", 413)), True)
        match, problems = self.contract.check_request(
            method, raw_path, query, headers.get("content-type", ""), body
        )
        if problems:
            self.violations.extend(problems)
            status = 404 if match is None else 422
            message = "; ".join(v.message for v in problems)
            reply = Reply(
                status, _error(("Not Found: " if match is None else "") + message, status)
            )
            return self._finish(record, match, reply, True)
        assert match is not None
        record.operation_id = match.operation_id
        if self._faults:
            fault = self._faults.pop(0)
            reply = Reply(fault.status, _error(fault.message, fault.status), dict(fault.headers))
            record.injected = True
            return self._finish(record, match, reply, True)
        try:
            login = self._authenticate(match, headers.get("authorization", ""))
            reply = self._dispatch(_Ctx(match, parsed_body, login, headers))
        except Rejected as exc:
            if exc.violation:
                self.violations.append(Violation("request", method, path, exc.message))
            reply = Reply(exc.status, _error(exc.message, exc.status))
            return self._finish(record, match, reply, exc.violation)
        return self._finish(record, match, reply, False, headers.get("if-none-match"))

    def _finish(
        self,
        record: RecordedRequest,
        match: Match | None,
        reply: Reply,
        skip_check: bool,
        if_none_match: str | None = None,
    ) -> tuple[int, bytes, dict[str, str]]:
        headers = dict(reply.headers)
        body_obj = reply.body
        if reply.paginate and match is not None:
            body_obj, link = self._page(record, match, body_obj)
            if link:
                headers["link"] = link
        payload = b"" if body_obj is None else json.dumps(body_obj).encode()
        status = reply.status
        if payload:
            headers["content-type"] = "application/json; charset=utf-8"
        if self.etags and record.method == "GET" and status == 200 and not skip_check:
            etag = 'W/"' + hashlib.sha256(payload).hexdigest()[:40] + '"'
            headers["etag"] = etag
            if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
                status, payload = 304, b""
                headers.pop("content-type", None)
                headers.pop("link", None)
        if not skip_check and match is not None:
            self.violations.extend(
                self.contract.check_response(
                    match, status, headers.get("content-type", ""), payload
                )
            )
        self._rate_headers(
            headers, counted=status != 304 and "x-ratelimit-remaining" not in headers
        )
        headers.setdefault("x-github-request-id", f"DOUBLE:{len(self.requests)}")
        record.status = status
        return status, payload, headers

    def _rate_headers(self, headers: dict[str, str], *, counted: bool) -> None:
        """Primary rate limit bookkeeping; GitHub does not count 304 answers."""
        now = self.clock()
        if now >= self.rate_reset:
            self.rate_reset = now + 3600
            self.rate_remaining = self.rate_limit
        if counted:
            self.rate_remaining = max(0, self.rate_remaining - 1)
        headers.setdefault("x-ratelimit-limit", str(self.rate_limit))
        headers.setdefault("x-ratelimit-remaining", str(self.rate_remaining))
        headers.setdefault("x-ratelimit-reset", str(math.ceil(self.rate_reset)))
        headers.setdefault("x-ratelimit-used", str(self.rate_limit - self.rate_remaining))
        headers.setdefault("x-ratelimit-resource", "core")

    def _page(self, record: RecordedRequest, match: Match, items: Any) -> tuple[Any, str]:
        per_page = min(int(match.query.get("per_page", 30)), 100)
        page = max(int(match.query.get("page", 1)), 1)
        if per_page < 1:
            per_page = 30
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        base = f"{self.url}{_quote_path(record.path)}"

        def link(n: int, rel: str) -> str:
            params = {k: v for k, v in record.query.items() if k not in ("page", "per_page")}
            params.update({"per_page": str(per_page), "page": str(n)})
            return f'<{base}?{urlencode(params)}>; rel="{rel}"'

        rels = []
        if page < last:
            rels += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            rels += [link(1, "first"), link(page - 1, "prev")]
        return chunk, ", ".join(rels)

    # -- authentication -----------------------------------------------------------------------

    def _authenticate(self, match: Match, authorization: str) -> str:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() not in ("token", "bearer") or not credential:
            raise Rejected(401, "Requires authentication")
        if match.operation_id in JWT_OPERATIONS:
            app = self._verify_jwt(credential)
            return f"{app.slug}[bot]"
        token = self.tokens.get(credential)
        if token is None:
            raise Rejected(401, "Bad credentials")
        if token.expires_at is not None and self.clock() >= token.expires_at:
            raise Rejected(401, "Bad credentials")
        if token.installation_id is not None:
            account = self.installations[token.installation_id].account
            owner = match.path_params.get("owner", match.path_params.get("org"))
            if owner is not None and owner != account:
                raise Rejected(404, "Not Found")
        return token.login

    def _verify_jwt(self, credential: str) -> AppState:
        try:
            claims = jwt.decode(
                credential, options={"verify_signature": False, "verify_exp": False}
            )
            app = self.apps[int(claims["iss"])]
            claims = jwt.decode(
                credential,
                app.public_key_pem,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "require": ["iat", "exp"]},
            )
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError) as exc:
            raise Rejected(401, f"A JSON web token could not be decoded: {exc}") from None
        now = self.clock()
        if not now < claims["exp"] <= now + 600 or claims["iat"] > now + 60:
            raise Rejected(401, "'Expiration time' claim ('exp') is too far in the future")
        return app

    # -- operations ---------------------------------------------------------------------------

    def _dispatch(self, ctx: _Ctx) -> Reply:
        handler = getattr(self, "_op_" + ctx.match.operation_id.replace("/", "_").replace("-", "_"))
        reply: Reply = handler(ctx)
        return reply

    def _repo(self, ctx: _Ctx) -> RepoState:
        repo = self.repos.get((ctx.p("owner"), ctx.p("repo")))
        if repo is None:
            raise Rejected(404, "Not Found")
        return repo

    def _issue(self, ctx: _Ctx, repo: RepoState) -> IssueState:
        issue = repo.issues.get(ctx.p("issue_number"))
        if issue is None:
            raise Rejected(404, "Not Found")
        return issue

    def _pull_issue(self, ctx: _Ctx, repo: RepoState) -> IssueState:
        issue = repo.issues.get(ctx.p("pull_number"))
        if issue is None or issue.pull is None:
            raise Rejected(404, "Not Found")
        return issue

    @property
    def _json(self) -> JsonBuilder:
        return JsonBuilder(self.url, self.users)

    def _installation(self, inst: InstallationState) -> Reply:
        return Reply(200, self._json.installation(inst, self.apps[inst.app_id]))

    def _op_apps_get_installation(self, ctx: _Ctx) -> Reply:
        inst = self.installations.get(ctx.p("installation_id"))
        if inst is None:
            raise Rejected(404, "Not Found")
        return self._installation(inst)

    def _installation_for(self, account: str, login: str) -> InstallationState:
        for inst in self.installations.values():
            if inst.account == account and f"{self.apps[inst.app_id].slug}[bot]" == login:
                return inst
        raise Rejected(404, "Not Found")

    def _op_apps_get_org_installation(self, ctx: _Ctx) -> Reply:
        return self._installation(self._installation_for(ctx.p("org"), ctx.login))

    def _op_apps_get_repo_installation(self, ctx: _Ctx) -> Reply:
        self._repo(ctx)
        return self._installation(self._installation_for(ctx.p("owner"), ctx.login))

    def _op_apps_create_installation_access_token(self, ctx: _Ctx) -> Reply:
        inst = self.installations.get(ctx.p("installation_id"))
        if inst is None or f"{self.apps[inst.app_id].slug}[bot]" != ctx.login:
            raise Rejected(404, "Not Found")
        token = "ghs_" + hashlib.sha256(f"{inst.id}:{self._next_id()}".encode()).hexdigest()[:36]
        expires = self.clock() + self.token_lifetime
        self.tokens[token] = TokenState(ctx.login, inst.id, expires)
        body = {
            "token": token,
            "expires_at": iso(expires),
            "permissions": dict(inst.permissions),
            "repository_selection": "all",
        }
        return Reply(201, body)

    def _op_orgs_check_membership_for_user(self, ctx: _Ctx) -> Reply:
        org, login = ctx.p("org"), ctx.p("username")
        if org not in self.org_members:
            raise Rejected(404, "Not Found")
        if org in self.hidden_membership:
            location = f"{self.url}/orgs/{org}/public_members/{login}"
            return Reply(302, None, {"location": location})
        return Reply(204 if login in self.org_members[org] else 404)

    def _op_repos_check_collaborator(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        login = ctx.p("username")
        return Reply(204 if self._permission(repo, login) != "none" else 404)

    def _permission(self, repo: RepoState, login: str) -> str:
        """Collaborators have their permission; owners of a user repo and org members read."""
        if login in repo.collaborators:
            return repo.collaborators[login]
        if login == repo.owner:
            return "admin"
        return "none"

    def _op_repos_get_collaborator_permission_level(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        login = ctx.p("username")
        if login not in self.users:
            raise Rejected(404, "Not Found")
        return Reply(200, self._json.permission(login, self._permission(repo, login)))

    def _op_issues_list_labels_on_issue(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        issue = self._issue(ctx, repo)
        labels = [self._json.label(repo, repo.labels[n]) for n in issue.labels]
        return Reply(200, labels, paginate=True)

    def _op_issues_add_labels(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        issue = self._issue(ctx, repo)
        body = ctx.body if ctx.body is not None else {}
        names = body.get("labels", []) if isinstance(body, dict) else body
        for entry in names:
            label = entry if isinstance(entry, str) else entry["name"]
            if not label.strip():
                raise Rejected(422, "Validation Failed: label name is empty", violation=True)
            known = {n.lower(): n for n in repo.labels}
            label = known.get(label.lower(), label)  # label names are case-insensitive
            if label not in repo.labels:
                repo.labels[label] = LabelState(label, self._next_id())
            if label not in issue.labels:
                issue.labels.append(label)
        issue.updated_at = self.clock()
        return Reply(200, [self._json.label(repo, repo.labels[n]) for n in issue.labels])

    def _op_issues_remove_label(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        issue = self._issue(ctx, repo)
        wanted = ctx.p("name").lower()
        present = [n for n in issue.labels if n.lower() == wanted]
        if not present:
            raise Rejected(404, "Label does not exist")
        issue.labels.remove(present[0])
        issue.updated_at = self.clock()
        return Reply(200, [self._json.label(repo, repo.labels[n]) for n in issue.labels])

    def _has_access(self, repo: RepoState, login: str) -> bool:
        """Who GitHub lets be assigned or asked to review: collaborators and org members."""
        members = self.org_members.get(repo.owner, set())
        return self._permission(repo, login) != "none" or login in members

    def _logins(self, ctx: _Ctx, key: str) -> list[str]:
        body = ctx.body if isinstance(ctx.body, dict) else {}
        return [e if isinstance(e, str) else e["login"] for e in body.get(key) or []]

    def _op_issues_add_assignees(self, ctx: _Ctx) -> Reply:
        """Users without access are left out silently, as GitHub does; at most 10 assignees."""
        repo = self._repo(ctx)
        issue = self._issue(ctx, repo)
        for login in self._logins(ctx, "assignees"):
            known = login in self.users and self._has_access(repo, login)
            if known and login not in issue.assignees and len(issue.assignees) < MAX_ASSIGNEES:
                issue.assignees.append(login)
        issue.updated_at = self.clock()
        return Reply(201, self._json.issue(repo, issue))

    def _op_issues_remove_assignees(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        issue = self._issue(ctx, repo)
        gone = set(self._logins(ctx, "assignees"))
        issue.assignees = [login for login in issue.assignees if login not in gone]
        issue.updated_at = self.clock()
        return Reply(200, self._json.issue(repo, issue))

    def _pull_reply(self, repo: RepoState, issue: IssueState, status: int) -> Reply:
        assert issue.pull is not None
        head_repo = self.repos.get((issue.pull.head_owner or repo.owner, repo.name), repo)
        return Reply(status, self._json.pull(repo, issue, head_repo))

    def _simple_pull_reply(self, repo: RepoState, issue: IssueState, status: int) -> Reply:
        """`pull-request-simple`, whose labels' `description` is a string, never null."""
        reply = self._pull_reply(repo, issue, status)
        for label in reply.body["labels"]:
            label["description"] = label["description"] or ""
        return reply

    def _op_pulls_request_reviewers(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        issue = self._pull_issue(ctx, repo)
        assert issue.pull is not None
        wanted = self._logins(ctx, "reviewers")
        # The author, or anyone without access: GitHub's description says 422 with no body.
        if issue.user in wanted or any(
            login not in self.users or not self._has_access(repo, login) for login in wanted
        ):
            return Reply(422)
        for login in wanted:
            if login not in issue.pull.requested_reviewers:
                issue.pull.requested_reviewers.append(login)
        return self._simple_pull_reply(repo, issue, 201)

    def _op_pulls_remove_requested_reviewers(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        issue = self._pull_issue(ctx, repo)
        assert issue.pull is not None
        gone = set(self._logins(ctx, "reviewers"))
        issue.pull.requested_reviewers = [
            r for r in issue.pull.requested_reviewers if r not in gone
        ]
        return self._simple_pull_reply(repo, issue, 200)

    def _op_pulls_merge(self, ctx: _Ctx) -> Reply:
        """GitHub's merge button: 405 unless mergeable, 409 when `sha` is not the head."""
        repo = self._repo(ctx)
        issue = self._pull_issue(ctx, repo)
        pull = issue.pull
        assert pull is not None
        if issue.state != "open" or pull.merged or not pull.mergeable:
            raise Rejected(405, "Pull Request is not mergeable")
        if ctx.body.get("sha") not in (None, pull.head_sha):
            raise Rejected(409, "Head branch was modified. Review and try the merge again.")
        method = ctx.body.get("merge_method", "merge")
        merged = _sha(f"{repo.full_name}#{issue.number}:{method}:{pull.base_sha}")
        repo.branches[pull.base_ref] = pull.base_sha = merged
        pull.merged, issue.state = True, "closed"
        self.merges.append((repo.full_name, issue.number, method))
        return Reply(
            200, {"sha": merged, "merged": True, "message": "Pull Request successfully merged"}
        )

    def _op_checks_list_for_ref(self, ctx: _Ctx) -> Reply:
        """The latest check run of each name (GitHub's default `filter=latest`)."""
        repo = self._repo(ctx)
        sha = self._resolve_ref(repo, ctx.p("ref"))
        latest: dict[str, dict[str, Any]] = {}
        for run in self.check_runs.get((repo.owner, repo.name, sha), []):
            latest[run["name"]] = run
        now = iso(self.clock())
        api = f"{self._json.repo_url(repo)}/check-runs"
        runs = [
            {
                **run,
                "head_sha": sha,
                "node_id": node_id("CR", run["id"]),
                "external_id": "",
                "url": f"{api}/{run['id']}",
                "html_url": f"https://github.com/{repo.full_name}/runs/{run['id']}",
                "details_url": f"https://github.com/{repo.full_name}/actions/runs/{run['id']}",
                "started_at": now,
                "completed_at": now if run["status"] == "completed" else None,
                "output": {
                    "title": None,
                    "summary": None,
                    "text": None,
                    "annotations_count": 0,
                    "annotations_url": f"{api}/{run['id']}/annotations",
                },
                "check_suite": {"id": run["id"]},
                "app": None,
                "pull_requests": [],
            }
            for run in latest.values()
        ]
        return Reply(200, {"total_count": len(runs), "check_runs": runs})

    def _op_pulls_list_reviews(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        issue = self._pull_issue(ctx, repo)
        pull = issue.pull
        assert pull is not None
        html = f"https://github.com/{repo.full_name}/pull/{issue.number}"
        api = f"{self._json.repo_url(repo)}/pulls/{issue.number}"
        found = [
            {
                "id": review_id,
                "node_id": node_id("PRR", review_id),
                "user": self._json.user(user),
                "body": "",
                "state": state,
                "html_url": f"{html}#pullrequestreview-{review_id}",
                "pull_request_url": api,
                "_links": {"html": {"href": html}, "pull_request": {"href": api}},
                "submitted_at": iso(submitted),
                "commit_id": pull.head_sha,
                "author_association": "MEMBER",
            }
            for review_id, user, state, submitted in self.reviews.get(
                (repo.owner, repo.name, issue.number), []
            )
        ]
        return Reply(200, found, paginate=True)

    def _op_issues_list_for_repo(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        state = ctx.match.query.get("state", "open")
        wanted = {n for n in ctx.match.query.get("labels", "").split(",") if n}
        found = []
        for issue in sorted(repo.issues.values(), key=lambda i: -i.number):
            if state not in ("all", issue.state) or not wanted <= set(issue.labels):
                continue
            item = self._json.issue(repo, issue)
            if issue.pull is not None:  # the issues API lists pull requests too
                item["pull_request"] = {
                    key: f"{item['html_url']}{suffix}"
                    for key, suffix in (("url", ""), ("html_url", ""), ("diff_url", ".diff"))
                } | {"patch_url": f"{item['html_url']}.patch"}
            found.append(item)
        return Reply(200, found, paginate=True)

    def _check_comment_body(self, body: str) -> None:
        if len(body) > MAX_COMMENT_BODY:
            message = f"Validation Failed: body is too long (maximum is {MAX_COMMENT_BODY} chars)"
            raise Rejected(422, message, violation=True)

    def _op_issues_list_comments(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        issue = self._issue(ctx, repo)
        found = self.comments(repo.owner, repo.name, issue.number)
        return Reply(200, [self._json.comment(repo, c) for c in found], paginate=True)

    def _op_issues_create_comment(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        issue = self._issue(ctx, repo)
        self._check_comment_body(ctx.body["body"])
        comment = self.add_comment(repo.owner, repo.name, issue.number, ctx.body["body"])
        comment.user = ctx.login
        reply = Reply(201, self._json.comment(repo, comment))
        reply.headers["location"] = reply.body["url"]
        return reply

    def _comment(self, ctx: _Ctx) -> tuple[RepoState, CommentState]:
        repo = self._repo(ctx)
        comment = repo.comments.get(ctx.p("comment_id"))
        if comment is None:
            raise Rejected(404, "Not Found")
        return repo, comment

    def _op_issues_get_comment(self, ctx: _Ctx) -> Reply:
        repo, comment = self._comment(ctx)
        return Reply(200, self._json.comment(repo, comment))

    def _op_issues_update_comment(self, ctx: _Ctx) -> Reply:
        repo, comment = self._comment(ctx)
        self._check_comment_body(ctx.body["body"])
        comment.body = ctx.body["body"]
        comment.updated_at = self.clock()
        return Reply(200, self._json.comment(repo, comment))

    def _op_issues_delete_comment(self, ctx: _Ctx) -> Reply:
        repo, comment = self._comment(ctx)
        del repo.comments[comment.id]
        return Reply(204)

    def _op_repos_create_commit_status(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        description = ctx.body.get("description")
        if description is not None and len(description) > MAX_STATUS_DESCRIPTION:
            message = "Validation Failed: description is too long (maximum is 140 characters)"
            raise Rejected(422, message, violation=True)
        status = StatusState(
            id=self._next_id(),
            sha=ctx.p("sha"),
            state=ctx.body["state"],
            context=ctx.body.get("context", "default"),
            description=description,
            target_url=ctx.body.get("target_url"),
            creator=ctx.login,
            created_at=self.clock(),
        )
        repo.statuses.append(status)
        reply = Reply(201, self._json.status(repo, status))
        reply.headers["location"] = reply.body["url"]
        return reply

    def _resolve_ref(self, repo: RepoState, ref: str) -> str:
        ref = ref.removeprefix("refs/").removeprefix("heads/")
        return repo.branches.get(ref, ref)

    def _op_repos_list_commit_statuses_for_ref(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        sha = self._resolve_ref(repo, ctx.p("ref"))
        found = [self._json.status(repo, s) for s in reversed(repo.statuses) if s.sha == sha]
        return Reply(200, found, paginate=True)

    def _op_pulls_get(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        return self._pull_reply(repo, self._pull_issue(ctx, repo), 200)

    def _op_pulls_list_files(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        issue = self._pull_issue(ctx, repo)
        assert issue.pull is not None
        sha = issue.pull.head_sha
        entries = [self._json.diff_entry(repo, sha, f) for f in issue.pull.files]
        return Reply(200, entries, paginate=True)

    def _files_at(self, repo: RepoState, ref: str | None) -> dict[str, bytes]:
        """Files visible at `ref`: stored under that name, or under a branch pointing at it."""
        ref = ref or repo.default_branch
        names = {ref} | {b for b, sha in repo.branches.items() if sha == ref}
        names |= {repo.branches[ref]} if ref in repo.branches else set()
        return {path: data for (at, path), data in repo.files.items() if at in names}

    def _op_repos_get_content(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        ref = ctx.match.query.get("ref")
        files = self._files_at(repo, ref)
        path = str(ctx.p("path")).strip("/")
        shown_ref = ref or repo.default_branch
        if path in files:
            body = self._json.content_file(repo, path, shown_ref, files[path], CONTENT_INLINE_LIMIT)
            return Reply(200, body)
        prefix = path + "/"
        children: dict[str, bytes | None] = {}
        for name, data in files.items():
            if name.startswith(prefix):
                rest = name[len(prefix) :]
                child = prefix + rest.split("/", 1)[0]
                children[child] = data if "/" not in rest else None
        if not children:
            raise Rejected(404, "Not Found")
        entries = [
            self._json.content_dir_entry(repo, p, shown_ref, d) for p, d in sorted(children.items())
        ]
        return Reply(200, entries)

    def _op_git_get_blob(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        stored = self.objects(repo.owner, repo.name).blobs.get(ctx.p("file_sha"))
        if stored is not None:
            return Reply(200, self._json.blob(repo, stored))
        for data in repo.files.values():
            if blob_sha(data) == ctx.p("file_sha"):
                return Reply(200, self._json.blob(repo, data))
        raise Rejected(404, "Not Found")

    def _op_git_get_ref(self, ctx: _Ctx) -> Reply:
        repo = self._repo(ctx)
        ref = str(ctx.p("ref"))
        if ref.startswith("heads/") and ref.removeprefix("heads/") in repo.branches:
            return Reply(200, self._json.git_ref(repo, ref, repo.branches[ref[6:]]))
        raise Rejected(404, "Not Found")


class _Server:
    """A uvicorn server on 127.0.0.1 in a daemon thread, lent to one double at a time.

    Servers are pooled for the whole test session: per-test start/stop of uvicorn would cost
    about a quarter of a second per test. Each test still gets a fresh double (fresh state).
    """

    _pool: ClassVar[list[_Server]] = []
    _pool_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        # An explicit IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections; without
        # it every keep-alive request stalls ~40 ms on delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.target: GitHubDouble | None = None
        config = uvicorn.Config(
            self._asgi, log_level="warning", lifespan="off", access_log=False, interface="asgi3"
        )
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._uvicorn.serve(sockets=[sock])),
            name=f"github-double-{self.url}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("GitHub double server did not start")
            time.sleep(0.005)

    @classmethod
    def acquire(cls, double: GitHubDouble) -> _Server:
        with cls._pool_lock:
            server = cls._pool.pop() if cls._pool else None
        if server is None:
            server = cls()
        server.target = double
        return server

    def release(self) -> None:
        self.target = None
        with self._pool_lock:
            self._pool.append(self)

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        target = self.target
        if target is None:
            await Response(b"no GitHub double attached", 503)(scope, receive, send)
            return
        await target.serve(scope, receive, send)


def _quote_path(path: str) -> str:
    return quote(path, safe="/")


def _sha(seed: str) -> str:
    return hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()


def assert_no_violations(double: GitHubDouble) -> None:
    """Fail the running test if the double saw a request or sent a response off contract."""
    if double.violations:
        listing = "\n  ".join(str(v) for v in double.violations)
        pytest.fail(f"GitHub double recorded contract violations:\n  {listing}", pytrace=False)


@pytest.fixture
def github_double() -> Iterator[GitHubDouble]:
    """A running GitHub double; the test fails if any contract violation was recorded."""
    double = GitHubDouble()
    with double:
        yield double
    assert_no_violations(double)
