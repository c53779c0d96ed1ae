"""`/tokens`: a signed-in user's personal API tokens (an admin's: everyone's), made and revoked
through forms that carry the CSRF token. The rules are `access.manage`'s, as for
`/api/tokens`; a new token is shown once, on the page that answers its form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from foredeck.access import manage, tokens
from foredeck.access.gate import Gate, RequestGate
from foredeck.bounds import JobId
from foredeck.config.roles import RANK, ROLES
from foredeck.dashboard.app import PageRoute, templates
from foredeck.dashboard.session import read_form
from foredeck.db.engine import write_lock
from foredeck.settings import Settings

router = APIRouter(route_class=PageRoute)


def _page(request: Request, gate: Gate, made: tokens.Made | None = None) -> Response:
    gate.require_user("see API tokens")
    everyone = gate.access.is_admin(gate.who)
    reads: sessionmaker[Session] = request.app.state.reads
    with reads() as session:
        rows = manage.listed(session, gate, None, everyone)
        for row in rows:
            session.expunge(row)
    highest = gate.access.highest(gate.who)
    roles = [r for r in ROLES if highest is not None and RANK[r] <= RANK[highest]]
    context: dict[str, Any] = {"rows": rows, "roles": roles, "made": made, "everyone": everyone}
    return templates.TemplateResponse(
        request, "tokens.html", context, status_code=201 if made else 200
    )


@router.get("/tokens", include_in_schema=False)
def tokens_page(request: Request, gate: RequestGate) -> Response:
    return _page(request, gate)


def _order(form: dict[str, str]) -> manage.TokenOrder:
    name = form.get("name", "").strip()
    role = form.get("role", "")
    days = form.get("days", "").strip()
    if not 1 <= len(name) <= 100:
        raise HTTPException(422, "name: 1 to 100 characters")
    if role not in ROLES:
        raise HTTPException(422, f"role: one of {', '.join(ROLES)}")
    if days and not (days.isascii() and days.isdecimal() and 1 <= int(days) <= 3650):
        raise HTTPException(422, "days: a whole number from 1 to 3650")
    return manage.TokenOrder(name=name, role=role, days=int(days) if days else None)


@router.post("/tokens", include_in_schema=False)
async def make_token(request: Request, gate: RequestGate) -> Response:
    order = _order(await read_form(request))

    def make() -> tokens.Made:
        engine: Engine = request.app.state.engine
        writes: sessionmaker[Session] = request.app.state.writes
        settings: Settings = request.app.state.settings
        with write_lock(engine), writes.begin() as session:
            made = manage.make(session, gate, order, settings.api.max_token_days)
            session.flush()
            session.expunge(made.row)
            return made

    made = await run_in_threadpool(make)
    return await run_in_threadpool(_page, request, gate, made)


@router.post("/tokens/{token_id}/revoke", include_in_schema=False)
async def revoke_token(request: Request, token_id: JobId, gate: RequestGate) -> Response:
    await read_form(request)

    def revoke() -> None:
        engine: Engine = request.app.state.engine
        writes: sessionmaker[Session] = request.app.state.writes
        with write_lock(engine), writes.begin() as session:
            manage.revoke(session, gate, token_id)

    await run_in_threadpool(revoke)
    return RedirectResponse("/tokens", status_code=303)
