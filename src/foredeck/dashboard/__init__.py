"""The web dashboard (Deck/Spyglass's successor), served by `foredeck serve`."""

from foredeck.dashboard.app import dashboard_router, templates

__all__ = ["dashboard_router", "templates"]
