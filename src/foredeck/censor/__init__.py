"""Censoring secrets out of logs and artifacts before they are stored or served (docs/security.md).

`Censor(secrets)` masks each secret, its base64 forms and each of its lines (`forms.py`) with
one matcher (hyperscan's, or RE2's: `finder.py`, `matcher.py`); `Censor.stream()` does it across
chunk boundaries; `files.py` censors files in place; `values.py` finds the secrets in structured
data (lease user data, a docker config); `config.py` is the `censor:` settings section. Depends
on nothing of foredeck's, so every layer can use it.
"""

from foredeck.censor.forms import MIN_SECRET_LENGTH, secret_forms
from foredeck.censor.matcher import MASK, NO_CENSOR, Censor, CensorError, StreamCensor

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "NO_CENSOR",
    "Censor",
    "CensorError",
    "StreamCensor",
    "secret_forms",
]
