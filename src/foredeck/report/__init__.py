"""The reporter: job states to commit statuses and one report comment per pull request."""

from foredeck.report.comment import MARKER
from foredeck.report.reporter import Reporter

__all__ = ["MARKER", "Reporter"]
