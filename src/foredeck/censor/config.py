"""The `censor:` settings section: secrets to censor beyond those foredeck knows of itself.

foredeck collects the secrets of its own settings (`controller/secrets.py`); this section adds
what only the operator knows: values, variables of the controller's environment, and files
(a mounted Kubernetes Secret: a directory stands for each file in it, as Prow's sidecar reads
its secret directories).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from foredeck.censor.forms import MIN_SECRET_LENGTH


class CensorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: list[SecretStr] = Field(default_factory=list)
    """Secret values, as given."""
    env: list[str] = Field(default_factory=list)
    """Names of the controller's environment variables whose values are secrets (unset ones
    are skipped), besides the well-known credential variables foredeck always censors."""
    files: list[str] = Field(default_factory=list)
    """Files whose contents are secrets, or directories of such files; read at each job's
    start (a rotated secret is censored from the next job on). A missing one fails the job."""
    min_length: int = Field(default=MIN_SECRET_LENGTH, ge=1)
    """Shorter values are not censored: a short one would erase ordinary words from logs."""
