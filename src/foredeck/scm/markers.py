"""Markers foredeck hides in the comments it writes, to find its own comments again.

Shared by the writer (the reporter) and the readers (the dashboard's pull request page), which
sit side by side in the layers and may not import each other.
"""

REPORT = "<!-- foredeck report -->"
"""In the one report comment per pull request (`foredeck.report.comment`)."""
