"""`/api/leases`: list resources, and acquire, heartbeat and release leases (docs/leases.md).

Writes need the editor role on some repository, reads the viewer role (docs/access.md). The
lease id is the holder's proof: it is returned to the acquirer only, never listed. An acquire
waits at most `MAX_WAIT` seconds in the request (a worker thread); a caller that needs longer
retries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from foredeck.access.gate import RequestGate
from foredeck.api.auth import GuardedRoute
from foredeck.api.models import ErrorBody, Unprocessable
from foredeck.bounds import NO_NUL, TextBody
from foredeck.leases import LeaseError, LeaseLost, LeaseService, NoFreeResource, UnknownType, store
from foredeck.settings import MAX_LEASE_TTL

MAX_WAIT = 60.0
LEASE_ID = r"^[0-9a-f]{32}$"

router = APIRouter(
    prefix="/api/leases",
    tags=["leases"],
    route_class=GuardedRoute,
    responses={422: {"model": Unprocessable, "description": "Invalid request"}},
)


def lease_service(request: Request) -> LeaseService:
    """The app's lease service, made on first use from its settings and engine."""
    state = request.app.state
    service: LeaseService | None = getattr(state, "leases", None)
    if service is None:
        service = state.leases = LeaseService(state.engine, state.settings.leases)
    return service


Leases = Annotated[LeaseService, Depends(lease_service)]


class ResourceView(BaseModel):
    type: str
    name: str
    state: str
    dynamic: bool
    owner: str | None = None
    acquired_at: datetime | None = None
    expires_at: datetime | None = None


class AcquireBody(TextBody):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    owner: str = Field(min_length=1, max_length=255, pattern=NO_NUL)
    ttl: float = Field(gt=0, le=MAX_LEASE_TTL)
    """Seconds; cut to the server's `leases.max_ttl`."""
    wait: float = Field(default=0.0, ge=0, le=MAX_WAIT)


class LeaseView(BaseModel):
    id: str
    type: str
    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime
    ttl: float
    user_data: dict[str, Any]


class HeartbeatBody(TextBody):
    model_config = ConfigDict(extra="forbid")

    ttl: float = Field(gt=0, le=MAX_LEASE_TTL)
    """Seconds; cut to the server's `leases.max_ttl`."""


class ReleaseBody(TextBody):
    model_config = ConfigDict(extra="forbid")

    dirty: bool = True


class Expiry(BaseModel):
    expires_at: datetime


class Released(BaseModel):
    released: bool
    """False when the lease was no longer held (released before, or expired)."""


@router.get("", response_model=list[ResourceView])
def list_resources(
    leases: Leases,
    gate: RequestGate,
    type: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
) -> list[ResourceView]:
    gate.require_anywhere("viewer", "list lease resources")
    return [
        ResourceView(
            type=r.type,
            name=r.name,
            state=r.state,
            dynamic=r.dynamic,
            owner=r.owner,
            acquired_at=r.acquired_at,
            expires_at=r.expires_at,
        )
        for r in store.resources(leases.engine, type)
    ]


@router.post(
    "",
    response_model=LeaseView,
    status_code=201,
    responses={
        404: {"model": ErrorBody, "description": "Unknown resource type"},
        409: {"model": ErrorBody, "description": "No resource became free within `wait`"},
    },
)
def acquire(body: AcquireBody, leases: Leases, gate: RequestGate) -> LeaseView:
    gate.require_anywhere("editor", "acquire leases")
    try:
        lease = leases.acquire(body.type, body.owner, body.ttl, body.wait)
    except UnknownType as exc:
        raise HTTPException(404, str(exc)) from None
    except NoFreeResource as exc:
        raise HTTPException(409, str(exc)) from None
    except LeaseError as exc:
        raise HTTPException(422, str(exc)) from None
    return LeaseView.model_validate(lease, from_attributes=True)


LeaseId = Annotated[str, Path(pattern=LEASE_ID, description="the id `acquire` returned")]


@router.post(
    "/{lease_id}/heartbeat",
    response_model=Expiry,
    responses={404: {"model": ErrorBody, "description": "The lease is not held any more"}},
)
def heartbeat(lease_id: LeaseId, body: HeartbeatBody, leases: Leases, gate: RequestGate) -> Expiry:
    gate.require_anywhere("editor", "heartbeat leases")
    try:
        return Expiry(expires_at=leases.heartbeat(lease_id, body.ttl))
    except LeaseLost as exc:
        raise HTTPException(404, str(exc)) from None
    except LeaseError as exc:
        raise HTTPException(422, str(exc)) from None


@router.post("/{lease_id}/release", response_model=Released)
def release(lease_id: LeaseId, body: ReleaseBody, leases: Leases, gate: RequestGate) -> Released:
    gate.require_anywhere("editor", "release leases")
    return Released(released=leases.release(lease_id, body.dirty))
