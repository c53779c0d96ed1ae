"""`label`: `/kind X`, `/area X`, `/priority X` and their `/remove-*`, from allowed sets.

Each configured prefix is a command that puts on `prefix/value` labels (several values may
follow one command). A prefix's allowed values are a list, or null for any well-formed value
(Prow's `area`, which lists what the repository has). `/label X` and `/remove-label X` handle
the `additional_labels`. Anyone may use these, as in Prow: labels sort, they do not merge.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from foredeck.hook.plugins.chatops import build
from foredeck.hook.plugins.chatops.base import ChatOpsPlugin, ClientFactory, CommentCall
from foredeck.hook.plugins.chatops.commands import Command, CommandHelp
from foredeck.hook.plugins.chatops.options import PluginOptions
from foredeck.settings import Settings

VALUE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,49}$")
PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
MAX_LABELS_PER_COMMAND = 10

DEFAULT_SETS: dict[str, list[str] | None] = {
    "kind": [
        "api-change",
        "bug",
        "cleanup",
        "deprecation",
        "documentation",
        "failing-test",
        "feature",
        "flake",
        "regression",
        "support",
    ],
    "priority": [
        "awaiting-more-evidence",
        "backlog",
        "critical-urgent",
        "important-longterm",
        "important-soon",
    ],
    "area": None,
}


class LabelOptions(PluginOptions):
    allowed: dict[str, list[str] | None] = Field(default_factory=lambda: dict(DEFAULT_SETS))
    """Prefix -> allowed values (null: any value matching `[a-z0-9][a-z0-9._-]*`)."""
    additional_labels: list[str] = Field(default_factory=list)
    """Whole labels `/label` may add and `/remove-label` remove."""

    @field_validator("allowed")
    @classmethod
    def _prefixes(cls, value: dict[str, list[str] | None]) -> dict[str, list[str] | None]:
        for prefix in value:
            if not PREFIX.match(prefix) or prefix in ("label", "remove"):
                raise ValueError(f"prefix {prefix!r} must be a lower-case word, not 'label'")
        return value


class LabelPlugin(ChatOpsPlugin):
    name = "label"

    def __init__(self, options: LabelOptions, client_factory: ClientFactory) -> None:
        super().__init__(options, client_factory)
        self.sets = options.allowed
        self.additional = {label.lower(): label for label in options.additional_labels}

    def command_help(self) -> tuple[CommandHelp, ...]:
        helps: list[CommandHelp] = []
        for prefix, values in sorted(self.sets.items()):
            allowed = ", ".join(f"`{v}`" for v in values) if values is not None else "any"
            helps.append(
                CommandHelp(f"/{prefix} VALUE...", f"Adds `{prefix}/VALUE` ({allowed}).", "Anyone")
            )
            helps.append(
                CommandHelp(f"/remove-{prefix} VALUE...", f"Removes `{prefix}/VALUE`.", "Anyone")
            )
        if self.additional:
            listed = ", ".join(f"`{v}`" for v in self.additional.values())
            helps.append(CommandHelp("/label NAME...", f"Adds one of {listed}.", "Anyone"))
            helps.append(CommandHelp("/remove-label NAME...", "Removes it.", "Anyone"))
        return tuple(helps)

    async def run(self, call: CommentCall, command: Command) -> None:
        remove = command.name.startswith("remove-")
        prefix = command.name.removeprefix("remove-")
        values = [v.lower() for v in command.words][:MAX_LABELS_PER_COMMAND]
        if not values:
            call.reply(f"{command.shown} needs at least one value.")
            return
        labels, refused = self._labels(prefix, values)
        for label in labels:
            if remove:
                await call.issue.remove_label(label)
            else:
                await call.issue.add_label(label)
        if refused:
            shown = ", ".join(f"`{v}`" for v in refused)
            call.reply(f"{command.shown}: not allowed here: {shown}. `/help` lists the values.")

    def _labels(self, prefix: str, values: list[str]) -> tuple[list[str], list[str]]:
        """(labels to change, values refused)."""
        labels: list[str] = []
        refused: list[str] = []
        for value in values:
            if prefix == "label":
                label = self.additional.get(value)
                if label is None:
                    refused.append(value[:60])
                else:
                    labels.append(label)
                continue
            allowed = self.sets.get(prefix)
            ok = VALUE.match(value) is not None and (allowed is None or value in allowed)
            if ok:
                labels.append(f"{prefix}/{value}")
            else:
                refused.append(value[:60])
        return labels, refused


def create(settings: Settings) -> LabelPlugin:
    """`foredeck.hook.plugins.chatops.label:create`."""
    return build(settings, LabelPlugin, LabelOptions)
