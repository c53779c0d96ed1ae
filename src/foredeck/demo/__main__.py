"""`python -m foredeck.demo` (what `make demo` runs)."""

import sys

from foredeck.demo.cli import main

sys.exit(main())
