"""`python -m foredeck.hook [--config FILE] [--host H] [--port P]`."""

from __future__ import annotations

import argparse
import logging
import sys

from foredeck.hook.service import serve
from foredeck.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m foredeck.hook", description=__doc__)
    parser.add_argument("--config", help="settings YAML (default: $FOREDECK_CONFIG)")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(args.config)
        serve(settings, host=args.host, port=args.port, log_level=args.log_level)
    except (SettingsError, ValueError) as exc:
        print(f"foredeck hook: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
