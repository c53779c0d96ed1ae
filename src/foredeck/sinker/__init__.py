"""The sinker: garbage collection of old finished jobs, their workspaces, and old events."""

from foredeck.execute.removal import Removal, remove_workspace
from foredeck.sinker.sinker import Sinker, SweepResult

__all__ = ["Removal", "Sinker", "SweepResult", "remove_workspace"]
