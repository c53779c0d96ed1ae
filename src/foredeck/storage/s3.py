"""S3 specifics that the generic fsspec store needs: presigned GET links for the dashboard.

Reads and writes go through `s3fs` (see `fsspec_store.py`); only signing is done here, with a
plain synchronous boto3 client built from the same settings as the filesystem, because s3fs
signs with the client's default (legacy SigV2 on custom endpoints) and AWS requires SigV4.

Endpoint and credentials come from the standard chains, as for the filesystem: explicit options
(`endpoint_url=`, `key=`/`secret=`, `client_kwargs`), else `AWS_ENDPOINT_URL_S3` /
`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`..., profiles, web identity (EKS IRSA), instance metadata.
"""

from __future__ import annotations

import threading
from typing import Any

from foredeck.extras import require
from foredeck.storage.backend import DEFAULT_PRESIGN_EXPIRES, check_expires

S3_SCHEMES = frozenset({"s3", "s3a"})
WHAT = "the s3:// artifact store"


def is_s3(fs: Any) -> bool:
    """Whether `fs` is an s3fs filesystem (its protocol names `s3`)."""
    protocol = getattr(fs, "protocol", ())
    names = (protocol,) if isinstance(protocol, str) else tuple(protocol)
    return "s3" in names or "s3a" in names


class Presigner:
    """Presigned GET URLs for objects of one s3fs filesystem (SigV4, thread-safe, lazy client)."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs
        self._client: Any = None
        self._lock = threading.Lock()

    def _make_client(self) -> Any:
        boto3 = require("s3", "boto3", WHAT)  # untyped library
        config = require("s3", "botocore.config", WHAT)
        fs = self.fs
        client_kwargs: dict[str, Any] = dict(getattr(fs, "client_kwargs", None) or {})
        endpoint = getattr(fs, "endpoint_url", None) or client_kwargs.pop("endpoint_url", None)
        client_kwargs.pop("endpoint_url", None)
        region = client_kwargs.pop("region_name", None)
        session = boto3.session.Session(
            aws_access_key_id=getattr(fs, "key", None),
            aws_secret_access_key=getattr(fs, "secret", None),
            aws_session_token=getattr(fs, "token", None),
            profile_name=getattr(fs, "profile", None),
        )
        # No endpoint given: boto3 reads AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL itself.
        return session.client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            config=config.Config(signature_version="s3v4"),
        )

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def url(self, full_path: str, expires: int = DEFAULT_PRESIGN_EXPIRES) -> str:
        """A GET URL for the object at `full_path` (`bucket/key`), valid for `expires` seconds."""
        bucket, key, _version = self.fs.split_path(full_path)
        if not key:
            raise ValueError(f"{full_path!r} names a bucket, not an object")
        url: str = self.client().generate_presigned_url(
            ClientMethod="get_object",
            Params={"Bucket": bucket, "Key": key},
            ExpiresIn=check_expires(expires),
        )
        return url
