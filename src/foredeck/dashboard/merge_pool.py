"""The merge pool page (`/tide`): each pool as Tide's last sync saw it, read-only.

Tide records its pools in `tide_pools` after every sync (`foredeck.tide.record`); this page only
reads that table, so it works whichever process runs Tide. A pool is shown to whoever may view
its repository (the viewer role, as for its jobs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from foredeck.access.gate import RequestGate
from foredeck.dashboard.app import PageRoute, templates
from foredeck.dashboard.deps import Links
from foredeck.dashboard.links import safe_href
from foredeck.db.models import TidePool
from foredeck.web.deps import Reads

MAX_POOLS = 500

router = APIRouter(route_class=PageRoute)


@dataclass(frozen=True)
class PoolPull:
    number: int
    title: str
    link: str | None
    why: str
    ready: bool


@dataclass(frozen=True)
class PoolView:
    org: str
    repo: str
    branch: str
    base_sha: str
    action: str
    synced_at: str
    pulls: list[PoolPull]


def _pulls(row: TidePool, web: Links) -> list[PoolPull]:
    found = []
    for item in row.pulls if isinstance(row.pulls, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("number"), int):
            continue
        number: int = item["number"]
        found.append(
            PoolPull(
                number=number,
                title=str(item.get("title", ""))[:300],
                link=safe_href(web.pull(row.org, row.repo, number)),
                why=str(item.get("why", ""))[:300],
                ready=bool(item.get("ready")),
            )
        )
    return found


@router.get("/tide", include_in_schema=False)
def merge_pool(request: Request, reads: Reads, web: Links, gate: RequestGate) -> Response:
    stmt = select(TidePool).order_by(TidePool.org, TidePool.repo, TidePool.branch)
    with reads() as session:
        rows = session.execute(stmt.limit(MAX_POOLS)).scalars().all()
        pools = [
            PoolView(
                org=row.org,
                repo=row.repo,
                branch=row.branch,
                base_sha=row.base_sha,
                action=row.action,
                synced_at=row.synced_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                pulls=_pulls(row, web),
            )
            for row in rows
            if gate.may("viewer", row.org, row.repo)
        ]
    context: dict[str, Any] = {"pools": pools}
    return templates.TemplateResponse(request, "tide.html", context)
