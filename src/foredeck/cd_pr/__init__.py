"""Bump pull requests through the SCM provider (docs/cd.md, "Pull requests").

`bump.open_or_update_bump` checks out the manifests repository, runs an edit, pushes one commit
to `foredeck/bump/<group>` and opens or updates that one pull request; `lock` keeps two bumps of
one branch from running at once; `wiring` runs the `cd:` targets of a finished postsubmit.
"""
