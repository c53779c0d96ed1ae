"""The webhook endpoint and the event worker.

`create_app()` builds the FastAPI app that logs deliveries; `Worker` hands logged events to
plugins; `serve()` runs both in one process.
"""

from foredeck.hook.events import StoredEvent
from foredeck.hook.server import create_app
from foredeck.hook.service import build_service, serve
from foredeck.hook.worker import Worker

__all__ = ["StoredEvent", "Worker", "build_service", "create_app", "serve"]
