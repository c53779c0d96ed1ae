"""Continuous delivery: bump the image references of a manifests tree (issue 16).

`plan_bump` finds every reference to the new images and plans the edits, `apply` writes them;
`foredeck bump` runs them on a directory. `pulls` is what a bump pull request says and how it
treats a branch someone else edited, free of any SCM; `foredeck.cd_pr` opens it through the SCM
provider. See docs/cd.md.
"""

from foredeck.cd.plan import BumpPlan, Change, FilePlan, StaleFile, apply, plan_bump
from foredeck.cd.refs import PINS, ImageRef, NewImage, Pin, RefError, parse_ref
from foredeck.cd.tree import MAX_MANIFEST_BYTES, Problem

__all__ = [
    "MAX_MANIFEST_BYTES",
    "PINS",
    "BumpPlan",
    "Change",
    "FilePlan",
    "ImageRef",
    "NewImage",
    "Pin",
    "Problem",
    "RefError",
    "StaleFile",
    "apply",
    "parse_ref",
    "plan_bump",
]
