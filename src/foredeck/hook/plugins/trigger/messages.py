"""What the trigger plugin says on pull requests, worded after Prow's trigger.

Every bot comment carries an invisible marker naming its kind, so a retry after a crash can
recognise a comment it already posted (effects on GitHub must be idempotent by themselves).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from foredeck.scm.github_types import status_description

OK_TO_TEST = "ok-to-test"
NEEDS_OK_TO_TEST = "needs-ok-to-test"
LGTM = "lgtm"

WELCOME_MARKER = "<!-- foredeck:trigger:needs-ok-to-test -->"
DRAFT_MARKER = "<!-- foredeck:trigger:draft -->"
HELP_MARKER = "<!-- foredeck:trigger:help -->"
CONFIG_MARKER = "<!-- foredeck:trigger:in-repo-config -->"
CONFIG_CONTEXT = "foredeck/config"
"""The commit status that says whether the tested tree's in-repo config loads."""
MAX_LISTED_CONFIG_ERRORS = 50

MAX_QUOTE_CHARS = 2000
MAX_COMMENT_CHARS = 60000
"""GitHub refuses comments over 65536 characters; stay clear of it."""

TEST_WITHOUT_TARGET_NOTE = "The `/test` command needs one or more targets.\n"
RETEST_WITH_TARGET_NOTE = "The `/retest` command does not accept any targets.\n"
TARGET_NOT_FOUND_NOTE = "The specified target(s) for `/test` were not found.\n"
NO_TEST_ALL_JOBS_NOTE = "No jobs can be run with `/test all`.\n"

UNTRUSTED_COMMAND = (
    "Cannot trigger testing until a trusted user reviews the PR and leaves an `/ok-to-test` "
    "message."
)
NOT_AUTHOR_OR_TRUSTED = (
    "Only trusted users and the author of this pull request can trigger its tests."
)
ONLY_TRUSTED_CANCEL = "Only trusted users can revoke `/ok-to-test`."

_FENCE = re.compile(r"(?ms)^[ \t]*(`{3,}|~{3,}).*?^[ \t]*\1[^\n]*$")


def drop_code_blocks(body: str) -> str:
    """The comment without fenced code blocks: a quoted `/test` in code is not a command."""
    return _FENCE.sub("", body)


def welcome(author: str, org: str, trusted_orgs: Sequence[str], web: str, join_url: str) -> str:
    others = "".join(f"or [{o}]({web}/orgs/{o}/people) " for o in trusted_orgs if o != org)
    return (
        f"Hi @{author}. Thanks for your PR.\n\n"
        f"I'm waiting for a [{org}]({web}/orgs/{org}/people) {others}member to verify that "
        "this patch is reasonable to test. If it is, they should reply with `/ok-to-test` on "
        "its own line. Until that is done, I will not automatically test new commits in this "
        "PR, but the usual testing commands by org members will still work. Regular "
        f"contributors should [join the org]({join_url}) to skip this step.\n\n"
        f"Once the patch is verified, the new status will be reflected by the `{OK_TO_TEST}` "
        f"label.\n\n{WELCOME_MARKER}\n"
    )


def draft() -> str:
    return (
        "Skipping CI for Draft Pull Request.\n"
        "If you want CI signal for your change, please convert it to an actual PR.\n"
        f"You can still manually trigger a test run with `/test all`\n\n{DRAFT_MARKER}\n"
    )


def reply_marker(comment_id: int) -> str:
    """Marks the one reply the trigger gives to the comment `comment_id`."""
    return f"<!-- foredeck:trigger:reply:{int(comment_id)} -->"


def respond(body: str, url: str, user: str, reply: str, marker: str) -> str:
    """Prow's `FormatResponseRaw`: the reply, then the comment it answers, quoted."""
    quoted = body if len(body) <= MAX_QUOTE_CHARS else body[:MAX_QUOTE_CHARS] + "\n[...]"
    quote = "\n".join(">" + line for line in quoted.splitlines())
    reply = reply[:MAX_COMMENT_CHARS]
    return (
        f"@{user}: {reply}\n\n<details>\n\nIn response to [this]({url}):\n\n{quote}\n"
        f"</details>\n{marker}\n"
    )


def help_message(
    org: str,
    repo: str,
    branch: str,
    note: str,
    test_all: Sequence[str],
    optional: Sequence[str],
    required: Sequence[str],
) -> str:
    """Prow's `HelpMessage`: which `/test` commands this pull request accepts."""
    if not (test_all or optional or required):
        return f"No presubmit jobs available for {org}/{repo}@{branch}\n{HELP_MARKER}"

    def bullets(items: Sequence[str]) -> str:
        return "".join(f"\n* `{item}`" for item in items)

    available = "The following commands are available to trigger"
    text = note
    if required:
        text += f"{available} required jobs:{bullets(required)}\n\n"
    if optional:
        text += f"{available} optional jobs:{bullets(optional)}\n\n"
    if len(test_all) == len(optional) + len(required):
        text += "Use `/test all` to run all jobs.\n"
    elif test_all:
        text += (
            "Use `/test all` to run the following jobs that were automatically triggered:"
            f"{bullets(test_all)}\n\n"
        )
    return text + HELP_MARKER


def config_error_description(errors: Sequence[object]) -> str:
    """The first problem, `file:line: message`, cut to fit a commit status."""
    return status_description(str(errors[0]) if errors else "in-repo config is invalid")


def config_error_comment(sha: str, errors: Sequence[object]) -> str:
    """One comment per pull request, edited as the in-repo config changes."""
    shown = [str(e) for e in errors[:MAX_LISTED_CONFIG_ERRORS]]
    more = len(errors) - len(shown)
    lines = "\n".join(f"- `{line}`" for line in shown)
    if more > 0:
        lines += f"\n- ... and {more} more"
    return (
        f"The in-repo job config of {sha[:12]} is invalid, so only the central jobs run:\n\n"
        f"{lines}\n\nFix the file and push again; this comment is updated.\n{CONFIG_MARKER}\n"
    )[:MAX_COMMENT_CHARS]
