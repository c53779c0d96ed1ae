"""The dashboard's templates (Jinja2, autoescaped), its page route class and its static files.

`templates` is shared with the run page (`dashboard/view/`), whose templates extend
`base.html`. Template globals give links without `url_for` (the router is included in apps it
does not know): `static(name)`, `view_url(id)`, `job_history_url(name)`,
`job_tests_url(name)`, `pr_history_url(org, repo, number)`, `query_url(path, params)`,
`safe_href(url)`,
`format_duration(seconds)`, and for the header and forms `signed_in(request)` and
`csrf_token(request)`.
"""

from __future__ import annotations

import hashlib
import mimetypes
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.responses import Response

from foredeck.access.gate import authenticate, csrf_token
from foredeck.access.principal import Principal
from foredeck.dashboard import links
from foredeck.dashboard.security import secure_route_class

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
VIEW_STATIC_DIR = PACKAGE_DIR / "view" / "static"
"""The run page's own static files, served under `/static/view/`."""

STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}


def static_file(name: str) -> Path | None:
    """The file behind `/static/{name}`, or None: only known types, never outside the roots."""
    root, rel = STATIC_DIR, name
    if name.startswith("view/"):
        root, rel = VIEW_STATIC_DIR, name.removeprefix("view/")
    parts = rel.split("/")
    if not rel or any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    path = (root / rel).resolve()
    try:
        path.relative_to(root.resolve())
    except ValueError:
        return None
    if path.suffix not in STATIC_TYPES or not path.is_file():
        return None
    return path


@lru_cache(maxsize=256)
def _digest(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def static_url(name: str) -> str:
    """`/static/name?v=HASH`, so browsers may cache for long and still see new versions."""
    path = static_file(name)
    if path is None:
        return f"/static/{name}"
    return f"/static/{name}?v={_digest(path, path.stat().st_mtime_ns)}"


def signed_in(request: Request) -> Principal | None:
    """Who is looking at a page, for its header; None for nobody (or a refused token)."""
    try:
        who = authenticate(request)
    except HTTPException:
        return None
    return who if who.authenticated else None


def make_templates() -> Jinja2Templates:
    """The package's templates, autoescaped, with the link helpers as globals."""
    loader = FileSystemLoader(str(TEMPLATES_DIR))
    env = Environment(loader=loader, autoescape=True, auto_reload=False)
    env.globals.update(
        static=static_url,
        view_url=links.view_url,
        job_history_url=links.job_history_url,
        job_tests_url=links.job_tests_url,
        pr_history_url=links.pr_history_url,
        query_url=links.query_url,
        safe_href=links.safe_href,
        format_duration=links.format_duration,
        iso=links.iso,
        short_time=links.short_time,
        csrf_token=csrf_token,
        signed_in=signed_in,
    )
    return Jinja2Templates(env=env)


templates = make_templates()


def error_page(request: Request, status: int, message: str) -> Response:
    """Errors as HTML pages (`error.html`), for `secure_route_class`."""
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


PageRoute = secure_route_class(error_page)
"""The route class of every dashboard page: security headers, and errors as HTML pages."""

router = APIRouter(route_class=PageRoute)


@router.get("/static/{name:path}", include_in_schema=False)
def static(name: str) -> Response:
    path = static_file(name)
    if path is None:
        raise HTTPException(404, "no such file")
    media_type = STATIC_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    return Response(
        path.read_bytes(),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )
