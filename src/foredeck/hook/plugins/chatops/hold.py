"""`hold`: `/hold` and `/hold cancel` put on and take off the `do-not-merge/hold` label.

As in Prow (`pkg/plugins/hold`): anyone who can comment may hold or unhold, since a hold only
stops a merge and whoever notices a problem is often not a member; `/hold REASON` holds (people
say why), `/unhold` and `/remove-hold` cancel; pull requests only.
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
        CommandHelp("/unhold", "Same as `/hold cancel` (so is `/remove-hold`).", "Anyone"),
        CommandHelp("/remove-hold", "Same as `/hold cancel`.", "Anyone"),
    )

    async def run(self, call: CommentCall, command: Command) -> None:
        if not call.issue.is_pull:
            call.reply(f"{command.shown}: holds work on pull requests only.")
            return
        cancel = command.name != "hold" or command.args.lower() == "cancel"
        if cancel:
            await call.issue.remove_label(HOLD_LABEL)
        else:
            await call.issue.add_label(HOLD_LABEL)


def create(settings: Settings) -> HoldPlugin:
    """`foredeck.hook.plugins.chatops.hold:create`."""
    return build(settings, HoldPlugin, PluginOptions)
