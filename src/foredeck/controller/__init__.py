"""The controller: runs triggered jobs with the executors of their agents (limits, recovery)."""

from foredeck.controller.controller import Controller
from foredeck.controller.running import Outcome
from foredeck.controller.workspace import clone_uri_for

__all__ = ["Controller", "Outcome", "clone_uri_for"]
