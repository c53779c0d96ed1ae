"""What the reporter needs of the SCM: commit statuses and comments, nothing else.

Declared here, beside its consumer (Prow's small interfaces), from the SCM's role protocols: any
provider's client satisfies `ReportClient`, and a provider (`foredeck.scm.providers`) satisfies
`ReportScm`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from foredeck.scm.provider import IssueComments
from foredeck.scm.statuses import StatusWriter


class ReportClient(StatusWriter, IssueComments, Protocol):
    async def close(self) -> None: ...


class ReportScm(Protocol):
    """The provider: clients, and who the reports are written as."""

    @property
    def bot_login(self) -> str | None: ...

    def client_factory(self) -> Callable[[], ReportClient]: ...
