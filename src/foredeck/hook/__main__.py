"""`python -m foredeck.hook [--config FILE] [--host H] [--port P]`."""

from __future__ import annotations

import argparse
import sys

from foredeck.db.migrate import DatabaseUnavailable
from foredeck.extras import MissingExtra
from foredeck.hook.plugins import PluginError
from foredeck.hook.service import serve
from foredeck.logs import configure_logging
from foredeck.settings import SettingsError, load_settings
from foredeck.web.server import ListenError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m foredeck.hook", description=__doc__)
    parser.add_argument("--config", help="settings YAML (default: $FOREDECK_CONFIG)")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        settings = load_settings(args.config)
        serve(settings, host=args.host, port=args.port, log_level=args.log_level)
    except (
        SettingsError,
        ListenError,
        DatabaseUnavailable,
        MissingExtra,
        PluginError,
        ValueError,
    ) as exc:
        print(f"foredeck hook: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
