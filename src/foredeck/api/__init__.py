"""The JSON API (`/api`): jobs for the `foredeck jobs` command, dashboards and scripts."""

from foredeck.api.routes import create_router

__all__ = ["create_router"]
