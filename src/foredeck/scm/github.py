"""The GitHub REST client: the only way foredeck talks to the GitHub API.

Built for a CI bot's traffic pattern: many reads of the same objects (pulls, labels, comments)
and bursts of writes (statuses, labels). Hence:

- conditional GETs: every 200 carrying an ETag is cached per URL and revalidated with
  `If-None-Match`; GitHub answers 304 without charging the rate limit, and the cached body is used;
- retries with exponential backoff and jitter on 5xx and transport errors, and waits that follow
  GitHub's rate-limit rules (`retry-after`; `x-ratelimit-remaining: 0` until
  `x-ratelimit-reset`; at least a minute for a secondary limit), never longer than `max_wait`;
- pagination by `Link: rel="next"`, only ever on the configured host (the token goes along);
- token or GitHub App auth (`github_auth.py`), with secrets kept out of `repr()` and logs.

`base_url` points at api.github.com, a GitHub Enterprise Server (`https://HOST/api/v3`) or the
test double.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from foredeck.scm.github_auth import (
    AppAuth,
    InstallationToken,
    InstallationTokens,
    TokenAuth,
    auth_from_settings,
)
from foredeck.scm.github_types import (
    LOGIN,
    MAX_FILE_BYTES,
    NAME,
    CommitStatus,
    GitHubError,
    Installation,
    IssueComment,
    Label,
    PullRequest,
    StatusState,
    check_status,
    status_description,
)
from foredeck.settings import GitHubSettings

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.github.com"
DEFAULT_USER_AGENT = "foredeck"
API_VERSION = "2022-11-28"
SECONDARY_MIN_WAIT = 60.0
"""GitHub: without `retry-after`, wait at least a minute after a secondary rate limit."""
RESET_MARGIN = 1.0
"""`x-ratelimit-reset` is a whole second; wait one more so the first retry is not too early."""
RETRY_STATUSES = frozenset({500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
PER_PAGE = 100
MAX_PAGES = 1000

Sleep = Callable[[float], Awaitable[None]]
M = TypeVar("M", bound=BaseModel)

_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^",;]+)"?')
_OWNER_PATH = re.compile(r"^/(?:repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)|orgs/(?P<org>[^/]+))(?:/|$)")
_JWT_PATH = re.compile(r"^/app(?:/|$)|^/(?:repos/[^/]+/[^/]+|orgs/[^/]+|users/[^/]+)/installation$")


class RateLimitError(GitHubError):
    """A rate limit whose wait is longer than `max_wait`, or that outlasted every retry."""

    def __init__(self, status: int, message: str, *, wait: float, **kw: Any) -> None:
        super().__init__(status, f"{message} (retry in {wait:.0f}s)", **kw)
        self.wait = wait


# -- plumbing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """A final answer: from the wire, or the cached 200 a 304 revalidated (`from_cache`)."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: str
    from_cache: bool = False

    def json(self) -> Any:
        return json.loads(self.content)

    def next_url(self) -> str | None:
        for target, rel in _LINK.findall(self.headers.get("link", "")):
            if rel == "next":
                return str(target)
        return None


@dataclass(frozen=True)
class _Cached:
    etag: str
    response: Response


def _segment(value: str, what: str, pattern: re.Pattern[str] | None = None) -> str:
    """One path segment, percent-encoded; names that could escape their segment are refused."""
    if not value or value in (".", "..") or any(ord(c) < 32 for c in value):
        raise ValueError(f"invalid GitHub {what}: {value!r}")
    if pattern is not None and not pattern.fullmatch(value):
        raise ValueError(f"invalid GitHub {what}: {value!r}")
    return quote(value, safe="")


def _multi(value: str, what: str) -> str:
    """A slash-separated value (file path, ref) with each segment checked and encoded."""
    parts = value.strip("/").split("/")
    return "/".join(_segment(p, what) for p in parts)


def _repo_path(owner: str, repo: str) -> str:
    return f"/repos/{_segment(owner, 'owner', NAME)}/{_segment(repo, 'repository', NAME)}"


class GitHubClient:
    """Async GitHub REST client. Use `async with`, or call `close()`.

    `auth` is a token (string or `TokenAuth`) or a GitHub App (`AppAuth`); `auth_from_files()`
    builds either from Prow-style secret files. `sleep`, `clock` and `jitter` are injectable so
    tests can assert the computed waits without waiting.
    """

    def __init__(
        self,
        auth: str | TokenAuth | AppAuth,
        *,
        base_url: str = DEFAULT_BASE_URL,
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_wait: float = 900.0,
        etag_cache_size: int = 2048,
        etag_cache_bytes: int = 64 * 1024 * 1024,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self._auth = TokenAuth(auth) if isinstance(auth, str) else auth
        self.base_url = base_url.rstrip("/")
        self._base = httpx.URL(self.base_url)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._etags: OrderedDict[str, _Cached] = OrderedDict()
        self._etag_cache_size = etag_cache_size
        self._etag_cache_bytes = etag_cache_bytes
        self._etag_bytes = 0
        self._lookup_locks: dict[str, asyncio.Lock] = {}
        self._installations: dict[str, int] = {}
        margin = auth.refresh_margin if isinstance(auth, AppAuth) else 0.0
        self._tokens = InstallationTokens(margin, clock=clock)
        self._http = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            transport=transport,
            headers={
                "User-Agent": user_agent,
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
            },
        )

    def __repr__(self) -> str:
        return f"GitHubClient(base_url={self.base_url!r}, auth={self._auth!r})"

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- authentication -----------------------------------------------------------------------

    async def _authorization(self, path: str) -> str:
        auth = self._auth
        if isinstance(auth, TokenAuth):
            return f"Bearer {auth.token}"
        if _JWT_PATH.match(path):
            return f"Bearer {auth.app_jwt(self._clock())}"
        installation = await self._installation_for(path)
        return f"Bearer {await self._tokens.get(installation, self._fetch_installation_token)}"

    async def _installation_for(self, path: str) -> int:
        auth = self._auth
        assert isinstance(auth, AppAuth)
        if auth.installation_id is not None:
            return auth.installation_id
        found = _OWNER_PATH.match(path)
        if found is None:
            raise GitHubError(0, f"cannot tell which App installation serves {path}")
        owner = found["owner"] or found["org"]
        async with self._lookup_locks.setdefault(owner, asyncio.Lock()):
            if owner not in self._installations:
                await self._look_up_installation(auth, owner, found["repo"])
        return self._installations[owner]

    async def _look_up_installation(self, auth: AppAuth, owner: str, repo: str | None) -> None:
        lookup = f"/repos/{owner}/{repo}/installation" if repo else f"/orgs/{owner}/installation"
        try:
            resp = await self._call("GET", lookup)
        except GitHubError as exc:
            if exc.status != 404:
                raise
            message = f"GitHub App {auth.app_id} is not installed for {owner}"
            raise GitHubError(404, message, url=exc.url) from None
        self._installations[owner] = self._parse(Installation, resp).id

    async def _fetch_installation_token(self, installation_id: int) -> InstallationToken:
        resp = await self._call(
            "POST", f"/app/installations/{installation_id}/access_tokens", ok=(201,)
        )
        data = resp.json()
        try:
            expires = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00"))
            token = data["token"]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GitHubError(201, f"unusable installation token answer: {exc!r}") from None
        log.info("GitHub App installation %s: new token, expires %s", installation_id, expires)
        return InstallationToken(token, expires.timestamp())

    async def installation_id(self, owner: str, repo: str) -> int:
        """The App installation serving `owner/repo` (App auth only)."""
        if not isinstance(self._auth, AppAuth):
            raise ValueError("installation_id() needs GitHub App auth")
        return await self._installation_for(_repo_path(owner, repo))

    # -- the request loop ---------------------------------------------------------------------

    def _url(self, path_or_url: str, params: dict[str, Any] | None) -> httpx.URL:
        if path_or_url.startswith(("http://", "https://")):
            url = httpx.URL(path_or_url)
            if (url.scheme, url.host, url.port) != (
                self._base.scheme,
                self._base.host,
                self._base.port,
            ):
                raise GitHubError(0, f"refusing to follow a link off {self.base_url}: {url}")
        else:
            url = httpx.URL(self.base_url + path_or_url)
        return url.copy_merge_params(params) if params else url

    def _api_path(self, url: httpx.URL) -> str:
        """The path below `base_url` (GHES serves the API under /api/v3)."""
        path = url.raw_path.decode("ascii").split("?")[0]
        prefix = self._base.raw_path.decode("ascii").rstrip("/")
        return path[len(prefix) :] if prefix and path.startswith(prefix) else path

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half fixed, half random, so retries spread out."""
        delay = min(self.backoff_max, self.backoff_base * 2.0**attempt)
        return delay / 2 + delay / 2 * self._jitter()

    def _rate_limit_wait(self, resp: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying a rate-limited answer, or None if not rate-limited."""
        if resp.status_code not in (403, 429):
            return None
        headers = resp.headers
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                try:
                    return max(0.0, parsedate_to_datetime(retry_after).timestamp() - self._clock())
                except (TypeError, ValueError):
                    pass
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                reset = float(headers["x-ratelimit-reset"])
            except ValueError:
                reset = self._clock() + SECONDARY_MIN_WAIT
            return max(0.0, reset - self._clock()) + RESET_MARGIN
        if resp.status_code == 429 or "secondary rate limit" in resp.text.lower():
            return max(SECONDARY_MIN_WAIT, self._backoff(attempt))
        return None

    async def _send(self, method: str, url: httpx.URL, body: Any) -> Response:
        key = str(url)
        cached = self._etags.get(key) if method == "GET" else None
        path = self._api_path(url)
        attempt = 0
        renewed = False
        while True:
            headers = {"Authorization": await self._authorization(path)}
            if cached is not None:
                headers["If-None-Match"] = cached.etag
            try:
                resp = await self._http.request(method, url, json=body, headers=headers)
            except httpx.TransportError as exc:
                retryable = method in IDEMPOTENT or isinstance(exc, httpx.ConnectError)
                if not retryable or attempt >= self.max_retries:
                    raise GitHubError(
                        0, f"{type(exc).__name__}: {exc}", method=method, url=key
                    ) from exc
                delay = self._backoff(attempt)
                reason = type(exc).__name__
            else:
                log.debug(
                    "GitHub %s %s -> %s (rate limit remaining %s)",
                    method,
                    key,
                    resp.status_code,
                    resp.headers.get("x-ratelimit-remaining", "?"),
                )
                if resp.status_code == 304 and cached is not None:
                    self._etags.move_to_end(key)
                    return cached.response
                if (
                    resp.status_code == 401
                    and isinstance(self._auth, AppAuth)
                    and not _JWT_PATH.match(path)
                    and not renewed
                ):
                    # A revoked or early-expired installation token: get a new one, once.
                    self._tokens.invalidate(await self._installation_for(path))
                    renewed = True
                    continue
                wait = self._rate_limit_wait(resp, attempt)
                if wait is None and resp.status_code in RETRY_STATUSES:
                    wait = self._backoff(attempt)
                if wait is None:
                    return self._remember(method, key, resp)
                error = self._error(method, key, resp.status_code, resp.content)
                limited = resp.status_code in (403, 429)
                if wait > self.max_wait or attempt >= self.max_retries:
                    if limited:
                        raise RateLimitError(
                            resp.status_code, error.message, wait=wait, method=method, url=key
                        )
                    raise error
                delay, reason = wait, f"{resp.status_code} {error.message[:80]}"
            log.warning(
                "GitHub %s %s: %s; retrying in %.1fs (retry %d of %d)",
                method,
                key,
                reason,
                delay,
                attempt + 1,
                self.max_retries,
            )
            await self._sleep(delay)
            attempt += 1

    def _remember(self, method: str, key: str, resp: httpx.Response) -> Response:
        out = Response(resp.status_code, resp.headers, resp.content, key)
        etag = resp.headers.get("etag")
        size = len(resp.content)
        if method == "GET" and resp.status_code == 200 and etag:
            old = self._etags.pop(key, None)
            self._etag_bytes -= len(old.response.content) if old else 0
            if size <= self._etag_cache_bytes // 8:  # one huge file must not flush the cache
                self._etags[key] = _Cached(
                    etag, Response(200, resp.headers, resp.content, key, True)
                )
                self._etag_bytes += size
            while self._etags and (
                len(self._etags) > self._etag_cache_size
                or self._etag_bytes > self._etag_cache_bytes
            ):
                _, evicted = self._etags.popitem(last=False)
                self._etag_bytes -= len(evicted.response.content)
        return out

    @staticmethod
    def _error(method: str, url: str, status: int, content: bytes) -> GitHubError:
        message, docs = "", None
        try:
            data = json.loads(content)
            message = str(data.get("message", "")) if isinstance(data, dict) else ""
            docs = data.get("documentation_url") if isinstance(data, dict) else None
            errors = data.get("errors") if isinstance(data, dict) else None
            if errors:
                message += f" {errors}"
        except ValueError:
            message = content[:200].decode("utf-8", "replace")
        return GitHubError(
            status,
            message or "(no message)",
            method=method,
            url=url,
            documentation_url=docs,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        ok: Collection[int] = (200,),
    ) -> Response:
        url = self._url(path, params)
        resp = await self._send(method, url, body)
        if resp.status not in ok:
            raise self._error(method, str(url), resp.status, resp.content)
        return resp

    async def _paginate(
        self, path: str, params: dict[str, Any] | None = None
    ) -> AsyncIterator[Any]:
        next_url: str | None = path
        query: dict[str, Any] | None = {"per_page": PER_PAGE, **(params or {})}
        for _ in range(MAX_PAGES):
            if next_url is None:
                return
            resp = await self._call("GET", next_url, params=query)
            items = resp.json()
            if not isinstance(items, list):
                raise GitHubError(resp.status, "expected a JSON array", method="GET", url=resp.url)
            for item in items:
                yield item
            next_url, query = resp.next_url(), None
        raise GitHubError(0, f"more than {MAX_PAGES} pages at {path}")

    @staticmethod
    def _parse(model: type[M], resp: Response | Any) -> M:
        data = resp.json() if isinstance(resp, Response) else resp
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            url = resp.url if isinstance(resp, Response) else ""
            raise GitHubError(0, f"unexpected {model.__name__} shape: {exc}", url=url) from None

    # -- pull requests ------------------------------------------------------------------------

    async def get_pull(self, owner: str, repo: str, number: int) -> PullRequest:
        resp = await self._call("GET", f"{_repo_path(owner, repo)}/pulls/{int(number)}")
        return self._parse(PullRequest, resp)

    async def list_pull_files(self, owner: str, repo: str, number: int) -> list[str]:
        """Every path the pull request touches, old names of renamed files included."""
        seen: dict[str, None] = {}
        path = f"{_repo_path(owner, repo)}/pulls/{int(number)}/files"
        async for entry in self._paginate(path):
            seen[entry["filename"]] = None
            if entry.get("previous_filename"):
                seen[entry["previous_filename"]] = None
        return list(seen)

    # -- people -------------------------------------------------------------------------------

    async def is_org_member(self, org: str, user: str) -> bool:
        """Membership of `user` in `org`; False when the token cannot see private members.

        GitHub answers 302 (to the public-members check) when the requester is not itself an
        org member. The redirect is not followed: a bot deciding who may trigger CI must not
        treat an unverifiable membership as a yes.
        """
        path = f"/orgs/{_segment(org, 'org', NAME)}/members/{_segment(user, 'user', LOGIN)}"
        resp = await self._call("GET", path, ok=(204, 302, 404))
        if resp.status == 302:
            log.warning("GitHub: cannot see membership of org %s (requester not a member)", org)
        return resp.status == 204

    async def is_collaborator(self, owner: str, repo: str, user: str) -> bool:
        path = f"{_repo_path(owner, repo)}/collaborators/{_segment(user, 'user', LOGIN)}"
        resp = await self._call("GET", path, ok=(204, 404))
        return resp.status == 204

    async def get_user_permission(self, owner: str, repo: str, user: str) -> str:
        """`admin`, `write`, `read` or `none`.

        GitHub's base `permission`, not `role_name`: maintain counts as write, triage as read,
        and custom roles as their base, so callers can compare against four fixed values.
        """
        path = f"{_repo_path(owner, repo)}/collaborators/{_segment(user, 'user', LOGIN)}/permission"
        resp = await self._call("GET", path, ok=(200, 404))
        if resp.status == 404:
            return "none"
        permission = resp.json().get("permission")
        return permission if permission in ("admin", "write", "read") else "none"

    # -- labels -------------------------------------------------------------------------------

    async def list_issue_labels(self, owner: str, repo: str, number: int) -> list[Label]:
        path = f"{_repo_path(owner, repo)}/issues/{int(number)}/labels"
        return [self._parse(Label, item) async for item in self._paginate(path)]

    async def add_labels(
        self, owner: str, repo: str, number: int, labels: Sequence[str]
    ) -> list[Label]:
        """Add labels (created in the repository if missing); returns the issue's labels."""
        if isinstance(labels, str):
            raise TypeError("labels must be a sequence of names, not one string")
        names = list(dict.fromkeys(labels))
        if not names:
            return await self.list_issue_labels(owner, repo, number)
        for name in names:
            if not name.strip():
                raise ValueError("label names must not be empty")
        path = f"{_repo_path(owner, repo)}/issues/{int(number)}/labels"
        resp = await self._call("POST", path, body={"labels": names})
        return [self._parse(Label, item) for item in resp.json()]

    async def remove_label(self, owner: str, repo: str, number: int, label: str) -> None:
        """Remove a label; a label that is already absent is fine (idempotent)."""
        name = _segment(label, "label")
        path = f"{_repo_path(owner, repo)}/issues/{int(number)}/labels/{name}"
        await self._call("DELETE", path, ok=(200, 204, 404))

    # -- comments -----------------------------------------------------------------------------

    async def list_issue_comments(self, owner: str, repo: str, number: int) -> list[IssueComment]:
        path = f"{_repo_path(owner, repo)}/issues/{int(number)}/comments"
        return [self._parse(IssueComment, item) async for item in self._paginate(path)]

    async def create_comment(self, owner: str, repo: str, number: int, body: str) -> IssueComment:
        path = f"{_repo_path(owner, repo)}/issues/{int(number)}/comments"
        resp = await self._call("POST", path, body={"body": body}, ok=(201,))
        return self._parse(IssueComment, resp)

    async def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> IssueComment:
        path = f"{_repo_path(owner, repo)}/issues/comments/{int(comment_id)}"
        resp = await self._call("PATCH", path, body={"body": body})
        return self._parse(IssueComment, resp)

    async def delete_comment(self, owner: str, repo: str, comment_id: int) -> None:
        """Delete a comment; one that is already gone is fine (idempotent)."""
        path = f"{_repo_path(owner, repo)}/issues/comments/{int(comment_id)}"
        await self._call("DELETE", path, ok=(204, 404))

    # -- statuses -----------------------------------------------------------------------------

    async def create_status(
        self,
        owner: str,
        repo: str,
        sha: str,
        state: StatusState,
        context: str,
        description: str = "",
        target_url: str | None = None,
    ) -> CommitStatus:
        """Set a commit status; `description` is cut to GitHub's 140 characters."""
        check_status(state, context)
        body: dict[str, Any] = {
            "state": state,
            "context": context,
            "description": status_description(description),
        }
        if target_url:
            body["target_url"] = target_url
        path = f"{_repo_path(owner, repo)}/statuses/{_segment(sha, 'sha')}"
        resp = await self._call("POST", path, body=body, ok=(201,))
        return self._parse(CommitStatus, resp)

    async def list_commit_statuses(self, owner: str, repo: str, ref: str) -> list[CommitStatus]:
        """Statuses of a commit (sha, branch or tag), newest first as GitHub returns them."""
        path = f"{_repo_path(owner, repo)}/commits/{_multi(ref, 'ref')}/statuses"
        return [self._parse(CommitStatus, item) async for item in self._paginate(path)]

    # -- contents and refs --------------------------------------------------------------------

    async def get_file_content(
        self,
        owner: str,
        repo: str,
        path: str,
        ref: str | None = None,
        *,
        max_size: int = MAX_FILE_BYTES,
    ) -> bytes | None:
        """A file's bytes at `ref` (default branch if None); None if there is no such file."""
        url = f"{_repo_path(owner, repo)}/contents/{_multi(path, 'path')}"
        resp = await self._call("GET", url, params={"ref": ref} if ref else None, ok=(200, 404))
        if resp.status == 404:
            return None
        data = resp.json()
        if not isinstance(data, dict) or data.get("type") != "file":
            kind = "directory" if isinstance(data, list) else data.get("type")
            raise GitHubError(200, f"{path} is a {kind}, not a file", method="GET", url=resp.url)
        size = int(data.get("size", 0))
        if size > max_size:
            raise GitHubError(0, f"{path} is {size} bytes, over the {max_size} byte limit")
        if data.get("encoding") == "base64":
            return base64.b64decode(data.get("content", ""))
        # Files over 1 MB come without inline content; the blob API serves up to 100 MB.
        blob = await self._call(
            "GET", f"{_repo_path(owner, repo)}/git/blobs/{_segment(data['sha'], 'sha')}"
        )
        blob_data = blob.json()
        if blob_data.get("encoding") != "base64":
            raise GitHubError(200, f"unexpected blob encoding {blob_data.get('encoding')!r}")
        return base64.b64decode(blob_data["content"])

    async def get_ref(self, owner: str, repo: str, ref: str) -> str:
        """The commit sha a ref points at; `ref` like `heads/main` or `tags/v1.0`."""
        name = ref.removeprefix("refs/")
        resp = await self._call("GET", f"{_repo_path(owner, repo)}/git/ref/{_multi(name, 'ref')}")
        sha = resp.json().get("object", {}).get("sha")
        if not isinstance(sha, str):
            raise GitHubError(200, f"ref {ref} has no object sha", method="GET", url=resp.url)
        return sha

    async def get_branch_sha(self, owner: str, repo: str, branch: str) -> str:
        return await self.get_ref(owner, repo, f"heads/{branch}")


def client_from_settings(settings: GitHubSettings, **kwargs: Any) -> GitHubClient:
    """A new client for the `github` settings, reading its secret files now (`ValueError` if
    they are missing or unusable); create it on the event loop that will use it."""
    kwargs.setdefault("timeout", settings.timeout)
    return GitHubClient(auth_from_settings(settings), base_url=settings.base_url, **kwargs)
