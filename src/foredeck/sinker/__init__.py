"""The sinker: garbage collection of old finished jobs, their workspaces, and old events."""

from foredeck.sinker.sinker import Sinker, SweepResult
from foredeck.sinker.workspaces import Removal, remove_workspace

__all__ = ["Removal", "Sinker", "SweepResult", "remove_workspace"]
