"""foredeck: test infrastructure for open-source organisations."""

__version__ = "0.1.0"
