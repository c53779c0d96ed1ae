"""The web dashboard (Deck/Spyglass's successor), served by `foredeck serve`.

`router` holds its pages (`pages`, `testgrid`, the merge pool's `merge_pool`), its static files
(`app`) and the run page (`view`); an app that includes it keeps on `app.state` what
`dashboard.deps` and `web.deps` read.
"""

from fastapi import APIRouter

from foredeck.dashboard import app, login, merge_pool, pages, session, testgrid, tokens
from foredeck.dashboard.app import templates
from foredeck.dashboard.view import routes as run_page

router = APIRouter()
router.include_router(pages.router)
router.include_router(testgrid.router)
router.include_router(app.router)
router.include_router(run_page.router)
router.include_router(session.router)
router.include_router(login.router)
router.include_router(tokens.router)
router.include_router(merge_pool.router)

__all__ = ["router", "templates"]
