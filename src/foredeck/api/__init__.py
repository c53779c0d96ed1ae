"""The JSON API (`/api`): jobs for the `foredeck jobs` command, dashboards and scripts.

`router` holds every route; an app that includes it keeps on `app.state` what `api.deps` and
`web.deps` read.
"""

from fastapi import APIRouter

from foredeck.api import access, comments, leases, routes

router = APIRouter()
router.include_router(routes.router)
router.include_router(comments.router)
router.include_router(leases.router)
router.include_router(access.router)

__all__ = ["router"]
