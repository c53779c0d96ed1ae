"""`python -m foredeck.controller [--config FILE]`: run a controller alone until SIGTERM/SIGINT.

Several of these may share one PostgreSQL database; each job still runs exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from foredeck.controller.controller import Controller
from foredeck.db.migrate import DatabaseUnavailable, open_database
from foredeck.extras import MissingExtra
from foredeck.logs import configure_logging
from foredeck.settings import SettingsError, load_settings


async def _serve(controller: Controller) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, controller.request_stop)
    await controller.serve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m foredeck.controller", description=__doc__)
    parser.add_argument("--config", help="settings YAML (default: $FOREDECK_CONFIG)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        settings = load_settings(args.config)
        engine = open_database(settings.database_url)
    except (SettingsError, DatabaseUnavailable, MissingExtra, ValueError) as exc:
        print(f"foredeck controller: {exc}", file=sys.stderr)
        return 2
    try:
        controller = Controller.from_settings(settings, engine)
        asyncio.run(_serve(controller))
    except MissingExtra as exc:  # e.g. kube.default_agent: argo without the `kube` extra
        print(f"foredeck controller: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
