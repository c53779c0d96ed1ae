"""Response headers for every dashboard page: the pages show text written by whoever opened a
pull request (job names, descriptions, authors), so the browser is told to run only our own
static scripts, never to sniff types, and never to frame us."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from foredeck.access.gate import CSRF_COOKIE, secure_cookies

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

ErrorPage = Callable[[Request, int, str], Response]
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def add_security_headers(headers: MutableHeaders) -> None:
    """Set the headers unless a route chose a value of its own."""
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)


def _set_csrf_cookie(request: Request, response: Response) -> None:
    """The CSRF cookie a page's forms and buttons were given (`access.gate.csrf_token`), when
    the browser had none: HttpOnly (pages carry the value), same-site only."""
    made: str | None = getattr(request.state, "new_csrf", None)
    if made is not None:
        response.set_cookie(
            CSRF_COOKIE,
            made,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(request),
            path="/",
        )


def _url_holds_nul(request: Request) -> bool:
    """A NUL in the decoded path or in a query parameter's name or value."""
    return "\x00" in request.url.path or any(
        "\x00" in key or "\x00" in value for key, value in request.query_params.multi_items()
    )


def secure_route_class(error_page: ErrorPage | None = None) -> type[APIRoute]:
    """An `APIRoute` class whose responses carry `SECURITY_HEADERS`.

    A route class rather than a middleware because the dashboard is a router included in an app
    it does not own. With `error_page`, errors (`HTTPException`, invalid query parameters) are
    answered by the route itself, so that error pages are HTML and carry the headers too.
    """

    class SecureRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            inner = super().get_route_handler()

            async def handler(request: Request) -> Response:
                try:
                    if _url_holds_nul(request):  # no page reads one: the database refuses it
                        raise HTTPException(400, "the address holds a NUL character")
                    response = await inner(request)
                except HTTPException as exc:
                    if error_page is None:
                        raise
                    response = error_page(request, exc.status_code, str(exc.detail))
                except RequestValidationError as exc:
                    if error_page is None:
                        raise
                    fields = ", ".join(
                        ".".join(str(part) for part in err.get("loc", ())[1:]) or "request"
                        for err in exc.errors()
                    )
                    response = error_page(request, 400, f"invalid parameter: {fields}")
                add_security_headers(response.headers)
                _set_csrf_cookie(request, response)
                return response

            return handler

    return SecureRoute
