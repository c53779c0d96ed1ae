"""The run page `/view/{id}` (Spyglass's successor): lenses chosen by the build's files."""

from foredeck.dashboard.view.routes import view_router

__all__ = ["view_router"]
