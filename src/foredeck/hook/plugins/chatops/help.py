"""`help`: `/help` lists the commands this repository enables; unknown commands get an answer.

The other chat-op plugins each answer their own commands. This one answers the rest, so that
no command meets silence: a command no plugin knows, or one whose plugin is off in this
repository. It learns what exists from `worker.plugins` (the chat-op plugins listed there, and
the trigger's `/test`, `/retest`, `/ok-to-test`). Commands handled outside foredeck's plugins
(custom job triggers, other bots) go in `known_commands` so they are not called unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from foredeck.hook.plugins import load_plugins
from foredeck.hook.plugins.chatops import options_and_client
from foredeck.hook.plugins.chatops.base import ChatOpsPlugin, ClientFactory, CommentCall
from foredeck.hook.plugins.chatops.commands import Command, CommandHelp
from foredeck.hook.plugins.chatops.options import PluginOptions
from foredeck.settings import Settings

CHATOPS_PREFIX = "foredeck.hook.plugins.chatops."
TRIGGER_SPEC = "foredeck.hook.plugins.trigger:create"
TRUSTED = "Organisation members and collaborators (the author too, once trusted)"
TRIGGER_COMMANDS = (
    CommandHelp("/test NAME|all", "Runs the named presubmit jobs (`/test ?` lists them).", TRUSTED),
    CommandHelp("/retest", "Reruns the failed jobs of the pull request's head.", TRUSTED),
    CommandHelp("/retest-required", "Reruns the failed required jobs.", TRUSTED),
    CommandHelp(
        "/ok-to-test [cancel]",
        "Lets an outsider's pull request be tested.",
        "Organisation members and collaborators",
    ),
)
HELP = CommandHelp("/help", "Lists the commands of this repository.", "Anyone")


class HelpOptions(PluginOptions):
    known_commands: list[str] = Field(default_factory=list)
    """Command names (without `/`) answered elsewhere: never called unknown."""


class HelpPlugin(ChatOpsPlugin):
    name = "help"

    def __init__(
        self,
        options: HelpOptions,
        client_factory: ClientFactory,
        others: Sequence[ChatOpsPlugin],
        trigger: bool,
    ) -> None:
        super().__init__(options, client_factory)
        self.others = others
        self.trigger = trigger
        self.known = {name.lower().lstrip("/") for name in options.known_commands}

    def handles(self, command: Command) -> bool:
        return True  # it answers what nobody else does

    def _enabled(self, org: str, repo: str) -> list[tuple[str, tuple[CommandHelp, ...]]]:
        found: list[tuple[str, tuple[CommandHelp, ...]]] = [("help", (HELP,))]
        if self.trigger:
            found.append(("trigger", TRIGGER_COMMANDS))
        for plugin in self.others:
            if plugin.options.enabled_for(org, repo):
                found.append((plugin.name, plugin.command_help()))
        return found

    async def run(self, call: CommentCall, command: Command) -> None:
        org, repo = call.issue.org, call.issue.repo
        enabled = self._enabled(org, repo)
        if command.name == "help":
            call.reply(help_text(org, repo, enabled))
            return
        if any(command.name == c.name for _, helps in enabled for c in helps):
            return
        if command.name in self.known:
            return
        if any(p.handles(command) for p in self.others):
            call.reply(f"{command.shown}: this command is not enabled in {org}/{repo}.")
            return
        call.reply(f"{command.shown}: unknown command. `/help` lists the commands here.")


def help_text(org: str, repo: str, enabled: list[tuple[str, tuple[CommandHelp, ...]]]) -> str:
    lines = [
        f"The commands of {org}/{repo}:",
        "",
        "| command | what | who |",
        "| --- | --- | --- |",
    ]
    for _, helps in enabled:
        for c in helps:
            lines.append(f"| `{c.usage}` | {c.description} | {c.who} |")
    lines.append("")
    lines.append("A command is a line of its own that starts with `/`.")
    return "\n".join(lines)


def create(settings: Settings) -> HelpPlugin:
    """`foredeck.hook.plugins.chatops.help:create`: the other chat-op plugins of
    `worker.plugins` are built here too, to know their commands and where they are on."""
    specs = [
        spec
        for spec in settings.worker.plugins
        if spec.startswith(CHATOPS_PREFIX) and not spec.startswith(CHATOPS_PREFIX + "help:")
    ]
    narrowed = settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"plugins": specs})}
    )
    others = [p for p in load_plugins(narrowed) if isinstance(p, ChatOpsPlugin)]
    options, client_factory = options_and_client(settings, HelpPlugin.name, HelpOptions)
    trigger = TRIGGER_SPEC in settings.worker.plugins
    return HelpPlugin(options, client_factory, others, trigger)
