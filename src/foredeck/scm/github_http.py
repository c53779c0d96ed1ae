"""The HTTP side of the GitHub REST client: how foredeck talks to GitHub, whatever it asks.

Built for a CI bot's traffic pattern: many reads of the same objects (pulls, labels, comments)
and bursts of writes (statuses, labels). Hence:

- conditional GETs: every 200 carrying an ETag is cached per URL and revalidated with
  `If-None-Match`; GitHub answers 304 without charging the rate limit, and the cached body is used;
- retries with exponential backoff and jitter on 5xx and transport errors, and waits that follow
  GitHub's rate-limit rules (`retry-after`; `x-ratelimit-remaining: 0` until
  `x-ratelimit-reset`; at least a minute for a secondary limit), never longer than `max_wait`;
- pagination by `Link: rel="next"`, only ever on the configured host (the token goes along);
- token or GitHub App auth (`github_auth.py`), with secrets kept out of `repr()` and logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from foredeck.scm.github_auth import AppAuth, InstallationToken, InstallationTokens, TokenAuth
from foredeck.scm.github_types import NAME, GitHubError, Installation
from foredeck.settings import DEFAULT_GITHUB_API_URL

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = DEFAULT_GITHUB_API_URL
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


def segment(value: str, what: str, pattern: re.Pattern[str] | None = None) -> str:
    """One path segment, percent-encoded; names that could escape their segment are refused."""
    if not value or value in (".", "..") or any(ord(c) < 32 for c in value):
        raise ValueError(f"invalid GitHub {what}: {value!r}")
    if pattern is not None and not pattern.fullmatch(value):
        raise ValueError(f"invalid GitHub {what}: {value!r}")
    return quote(value, safe="")


def multi_segment(value: str, what: str) -> str:
    """A slash-separated value (file path, ref) with each segment checked and encoded."""
    parts = value.strip("/").split("/")
    return "/".join(segment(p, what) for p in parts)


def repo_path(owner: str, repo: str) -> str:
    return f"/repos/{segment(owner, 'owner', NAME)}/{segment(repo, 'repository', NAME)}"


class GitHubHttp:
    """The HTTP side of `GitHubClient`: authentication, retries, rate limits, ETags, pages.

    `sleep`, `clock` and `jitter` are injectable so tests can assert the computed waits
    without waiting; `transport` replaces httpx's (a mock transport in tests).
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

    @property
    def auth(self) -> TokenAuth | AppAuth:
        return self._auth

    async def close(self) -> None:
        await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    # -- authentication -----------------------------------------------------------------------

    async def _authorization(self, path: str) -> str:
        auth = self._auth
        if isinstance(auth, TokenAuth):
            return f"Bearer {auth.token}"
        if _JWT_PATH.match(path):
            return f"Bearer {auth.app_jwt(self._clock())}"
        installation = await self.installation_for(path)
        return f"Bearer {await self._tokens.get(installation, self._fetch_installation_token)}"

    async def installation_for(self, path: str) -> int:
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
            resp = await self.call("GET", lookup)
        except GitHubError as exc:
            if exc.status != 404:
                raise
            message = f"GitHub App {auth.app_id} is not installed for {owner}"
            raise GitHubError(404, message, url=exc.url) from None
        self._installations[owner] = parse(Installation, resp).id

    async def _fetch_installation_token(self, installation_id: int) -> InstallationToken:
        resp = await self.call(
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
                    self._tokens.invalidate(await self.installation_for(path))
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

    async def call(
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

    async def paginate(self, path: str, params: dict[str, Any] | None = None) -> AsyncIterator[Any]:
        next_url: str | None = path
        query: dict[str, Any] | None = {"per_page": PER_PAGE, **(params or {})}
        for _ in range(MAX_PAGES):
            if next_url is None:
                return
            resp = await self.call("GET", next_url, params=query)
            items = resp.json()
            if not isinstance(items, list):
                raise GitHubError(resp.status, "expected a JSON array", method="GET", url=resp.url)
            for item in items:
                yield item
            next_url, query = resp.next_url(), None
        raise GitHubError(0, f"more than {MAX_PAGES} pages at {path}")


def parse(model: type[M], resp: Response | Any) -> M:
    data = resp.json() if isinstance(resp, Response) else resp
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        url = resp.url if isinstance(resp, Response) else ""
        raise GitHubError(0, f"unexpected {model.__name__} shape: {exc}", url=url) from None
