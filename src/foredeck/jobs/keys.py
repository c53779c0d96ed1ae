"""Dedupe keys: what makes creating a job idempotent.

`db.jobs.create_job` returns the row a key made the first time instead of a second one, so an
event handled twice (the worker delivers at least once) or a periodic decision taken twice (a
restart, a second scheduler) makes each job once. Keys fit the column: a job name that would
make one longer than `MAX_KEY` is replaced by its hash.
"""

from __future__ import annotations

import hashlib

MAX_KEY = 255


def _key(before: str, name: str, after: str = "") -> str:
    key = f"{before}:{name}{after}"
    if len(key) <= MAX_KEY:
        return key
    return f"{before}:{hashlib.sha256(name.encode()).hexdigest()}{after}"


def dedupe_key(delivery_id: str, job_name: str) -> str:
    """`<delivery id>:<job name>`: one row per job and webhook delivery."""
    return _key(delivery_id, job_name)


def periodic_key(name: str, slot: str) -> str:
    """`periodic:<name>:<slot>`: one row per periodic and scheduled time (`slot`)."""
    return _key("periodic", name, f":{slot}")
