"""The HTTP foundation every foredeck app stands on, whichever components it serves.

- `server`: the listening socket and uvicorn with head timeouts;
- `body_timeouts`: 408 for request bodies that arrive too slowly;
- `metrics`: every answer counted by route template, method and status;
- `probes`: `/livez`, `/readyz` (alias `/healthz`) and `/metrics`, one router for every app;
- `deps`: FastAPI dependencies for what an app keeps on `app.state`.

It knows no component and no database: what a probe checks is given to it.
"""
