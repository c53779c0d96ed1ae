"""Tide, the merge pool (docs/tide.md): pull requests that are ready merge, in batches when
several are; each pull request's `tide` status says why it does not merge yet.

- `contexts`: who is in a pool (the `tide:` queries) and what must be green (required contexts);
- `history`: the runs of the job table Tide reads (bases, batches) and starts (retests, batches);
- `inrepo`: the in-repo presubmits of a pull request's (or a batch's) tree, where the trigger
  reads in-repo config;
- `pool`: the decision for one pool;
- `record`: the pools of the last sync, for the dashboard (`tide_pools`);
- `scm`: what Tide asks of the SCM;
- `tide`: `Tide`, the component (`sync_once`, and the loop of `foredeck serve`).
"""

from foredeck.tide.pool import PoolState
from foredeck.tide.tide import SyncResult, Tide

__all__ = ["PoolState", "SyncResult", "Tide"]
