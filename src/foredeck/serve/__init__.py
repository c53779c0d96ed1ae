"""`foredeck serve`: every component in one process, or one role per process.

- `app.create_service_app`: the hook app with the `/api` router and components in its lifespan
- `compose.build_service`: what a role runs, wired together
- `run.serve`: run it until SIGINT/SIGTERM
"""
