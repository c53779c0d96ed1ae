#!/bin/sh
# foredeck's stand-in for the bash image's docker-entrypoint.sh (source: tests/data/images/README.md):
# no arguments, or an option first (`-c 'echo hi'`), run bash with them; anything else runs as is.
set -eu
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
	exec bash "$@"
fi
exec "$@"
