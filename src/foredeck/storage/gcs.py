"""GCS specifics that the generic fsspec store needs: V4 signed GET links for the dashboard.

Reads and writes go through `gcsfs` (see `fsspec_store.py`). Endpoint and credentials come from
the standard chains, as for the filesystem:

- endpoint: an explicit `endpoint_url=` option, else `STORAGE_EMULATOR_HOST` (an emulator or a
  GCS-compatible server, `host:port` or a URL), else `https://storage.googleapis.com`;
- credentials: an explicit `token=` option, else Application Default Credentials
  (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's ADC file, the metadata server, which is how GKE
  Workload Identity arrives), else anonymous access.

The filesystem is gcsfs's JSON API client (`gcsfs.core.GCSFileSystem`), chosen explicitly:
gcsfs 2026.10 otherwise hands out its experimental `ExtendedGcsFileSystem`, which first asks the
Storage Control gRPC API for each bucket's layout (hierarchical namespace, zonal). Emulators and
GCS-compatible servers do not serve that API, and a failed lookup is retried on every operation
with a 60 s timeout; artifact buckets need neither feature, and the JSON API serves every
bucket type's objects.

Signing is offline and needs credentials that hold a private key (a service-account key, i.e.
`google.auth.credentials.Signing`). Metadata-server credentials (Workload Identity, GCE) hold no
key: they could only sign through the IAM `signBlob` API, which is not done here, so such stores
fall back to the durable `gs://` URL (or `link_base`).
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from typing import Any

from foredeck.extras import require
from foredeck.storage.backend import DEFAULT_PRESIGN_EXPIRES, check_expires

GCS_SCHEMES = frozenset({"gs", "gcs"})
WHAT = "the gs:// artifact store"


def open_gcs_filesystem(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    """gcsfs's JSON API filesystem for `url` (`gs://bucket/prefix`) and the root within it.

    `options` go to `GCSFileSystem` (`token=`, `project=`, `endpoint_url=`, ...); with none, the
    credentials are Application Default Credentials and the endpoint `STORAGE_EMULATOR_HOST`
    or Google's.
    """
    GCSFileSystem: Any = require("gcs", "gcsfs.core", WHAT).GCSFileSystem  # untyped library

    kwargs = {**GCSFileSystem._get_kwargs_from_urls(url), **options}
    fs = GCSFileSystem(**kwargs)
    root: str = GCSFileSystem._strip_protocol(url)
    return fs, root


def is_gcs(fs: Any) -> bool:
    """Whether `fs` is a gcsfs filesystem (its protocol names `gs` or `gcs`)."""
    protocol = getattr(fs, "protocol", ())
    names = (protocol,) if isinstance(protocol, str) else tuple(protocol)
    return "gs" in names or "gcs" in names


def link_endpoint(fs: Any) -> str | None:
    """Where signed links point: the filesystem's `endpoint_url` option, else
    `STORAGE_EMULATOR_HOST` (a bare `host:port` means `http://`, as gcsfs reads it), else None
    for Google's own endpoint."""
    explicit = (getattr(fs, "storage_options", None) or {}).get("endpoint_url")
    emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")
    endpoint = explicit or (emulator if emulator not in {"", "default"} else None)
    if endpoint and not endpoint.startswith(("http://", "https://")):
        endpoint = f"http://{endpoint}"
    return endpoint.rstrip("/") if endpoint else None


class GcsSigner:
    """V4 signed GET URLs for objects of one gcsfs filesystem, when its credentials can sign."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs
        self._client: Any = None
        self._lock = threading.Lock()

    def _credentials(self) -> Any:
        return getattr(getattr(self.fs, "credentials", None), "credentials", None)

    def can_sign(self) -> bool:
        """Whether the filesystem's credentials hold a key that signs offline."""
        credentials = require("gcs", "google.auth.credentials", WHAT)
        return isinstance(self._credentials(), credentials.Signing)

    def _storage_client(self) -> Any:
        # Only the universe domain is read from it: an anonymous client needs no project lookup.
        with self._lock:
            if self._client is None:
                storage = require("gcs", "google.cloud.storage", WHAT)  # untyped library

                self._client = storage.Client.create_anonymous_client()
            return self._client

    def url(self, full_path: str, expires: int = DEFAULT_PRESIGN_EXPIRES) -> str:
        """A V4 GET URL for the object at `full_path` (`bucket/key`), valid `expires` seconds.

        The URL is for the filesystem's endpoint (`endpoint_url` / `STORAGE_EMULATOR_HOST` when
        set), so a browser must be able to reach that endpoint. Signing makes no request.
        """
        expires = check_expires(expires)
        bucket, key, generation = self.fs.split_path(full_path)
        if not key:
            raise ValueError(f"{full_path!r} names a bucket, not an object")
        if not self.can_sign():
            raise ValueError(
                "the gs:// store's credentials cannot sign URLs (a service-account key can; "
                "metadata-server credentials such as Workload Identity cannot)"
            )
        blob = self._storage_client().bucket(bucket).blob(key)
        url: str = blob.generate_signed_url(
            version="v4",
            method="GET",
            expiration=timedelta(seconds=expires),
            credentials=self._credentials(),
            api_access_endpoint=link_endpoint(self.fs),
            generation=int(generation) if generation else None,
        )
        return url
