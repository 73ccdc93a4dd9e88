"""The `:` line of the dashboard, parsed: a pure function from the typed text to what it asks for.

    :accounts :plans :arc :recs :compliance     a view (each with aliases: :acc, :ec2, :rec, :comp ...)
    :<view> words                               that view, filtered with the words (the pane's filter language)
    :compliance <any part of a standard's name> that standard's controls (several match: the pane filtered)
    :cis :pci :fsbp :mcsb                       the same, for the usual standards
    :q :quit :exit                              quit;   :help :?   the keys
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# the dashboard's views in tab order (1-5), each with the words that name it
VIEWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("accounts", ("accounts", "account", "acc", "connectors")),
    ("plans", ("plans", "plan")),
    ("arc", ("arc", "onboarding", "ec2", "onb")),
    ("recs", ("recs", "recommendations", "rec")),
    ("compliance", ("compliance", "comp", "cis", "pci", "fsbp", "mcsb")),
)
VIEW_NAMES: tuple[str, ...] = tuple(name for name, _ in VIEWS)
# words that name a standard (or several): searched in the standards' names
STANDARD_ALIASES = {"cis": "cis", "pci": "pci", "fsbp": "foundational security", "afsbp": "foundational security",
                    "mcsb": "cloud security benchmark"}

CommandKind = Literal["none", "quit", "help", "view", "unknown"]


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    view: str | None = None  # kind "view": which
    filter: str = ""  # kind "view" (not compliance): the pane's filter
    standard: str | None = None  # kind "view", compliance: the words naming a standard
    word: str = ""  # kind "unknown": the word not understood


def parse_command(text: str) -> Command:
    words = text.strip().lstrip(":").split()
    if not words:
        return Command("none")
    head, rest = words[0].lower(), words[1:]
    if head in ("q", "quit", "exit"):
        return Command("quit")
    if head in ("help", "?"):
        return Command("help")
    for name, aliases in VIEWS:
        if head in aliases:
            if name == "compliance":
                std = " ".join(rest).lower() if rest else (head if head in STANDARD_ALIASES else None)
                return Command("view", name, standard=std)
            return Command("view", name, filter=" ".join(rest))
    return Command("unknown", word=head)
