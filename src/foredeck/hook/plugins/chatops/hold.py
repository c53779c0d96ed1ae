"""`hold`: `/hold` and `/hold cancel` put on and take off the `do-not-merge/hold` label.

As in Prow, anyone who can comment may hold or unhold: a hold only stops a merge, and the
person who notices a problem is often not a member.
"""

from __future__ import annotations

from foredeck.hook.plugins.chatops import build
from foredeck.hook.plugins.chatops.base import ChatOpsPlugin, CommentCall
from foredeck.hook.plugins.chatops.commands import Command, CommandHelp
from foredeck.hook.plugins.chatops.options import PluginOptions
from foredeck.settings import Settings

HOLD_LABEL = "do-not-merge/hold"


class HoldPlugin(ChatOpsPlugin):
    name = "hold"
    commands = (
        CommandHelp(
            "/hold [cancel]",
            f"Adds the `{HOLD_LABEL}` label, which stops a merge; `/hold cancel` removes it.",
            "Anyone",
        ),
    )

    async def run(self, call: CommentCall, command: Command) -> None:
        args = command.args.lower()
        if args == "cancel":
            await call.issue.remove_label(HOLD_LABEL)
        elif args == "":
            await call.issue.add_label(HOLD_LABEL)
        else:
            call.reply(f"{command.shown} is not understood: use `/hold` or `/hold cancel`.")


def create(settings: Settings) -> HoldPlugin:
    """`foredeck.hook.plugins.chatops.hold:create`."""
    return build(settings, HoldPlugin, PluginOptions)
