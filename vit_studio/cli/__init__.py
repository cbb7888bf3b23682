"""The `vit-studio` command: the GUI by default, headless subcommands for scripts.

`vit-studio [IMAGE] [--model M] [--screenshot OUT.png] ...` (anything that does not start with a
subcommand) opens the explorer; `vit-studio COMMAND ...` runs a headless subcommand. Each
subcommand lives in its own module exposing `register(subparsers)`; it sets `handler` on its
parser. Errors a user can cause arrive as `StudioError` and are printed on one line (exit 2).

Only the module of the command given is imported: most bring torch, which takes seconds, and
`--help` and `--version` need none of them (their summaries are listed here).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from vit_studio import __version__
from vit_studio.engine.errors import StudioError

EXIT_USER_ERROR = 2
HELP_WIDTH = 78
# Each subcommand: the module that registers and runs it, and what the top-level help says of it.
COMMANDS = {
    "analyze": ("analyze", "classify images and export attention, rollout and embeddings"),
    "models": ("models", "list the ViT models on this machine, or download a pretrained one"),
    "train": ("train", "train a ViT from scratch on a folder of class subfolders"),
    "finetune": ("train", "fine-tune a ViT on a folder of class subfolders"),
    "evaluate": (
        "evaluate", "top-1, per-class accuracy and confusion matrix of a model on a folder"
    ),
    "faithfulness": (
        "faithfulness",
        "score attribution methods by positive/negative perturbation, deletion, insertion",
    ),
}
SUBCOMMANDS = tuple(COMMANDS)


def summary(command: str) -> str:
    """What the top-level help says `command` does (its module's parser says the same)."""
    return COMMANDS[command][1]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of `command` (with its options), or with None the top-level one, which lists
    the commands by their summaries without importing their modules."""
    from vit_studio.cli import explore

    explorer = (
        f"Without a COMMAND, vit-studio opens the explorer window: {explore.synopsis()}. "
        "What each of its options does: vit-studio IMAGE --help."
    )
    parser = argparse.ArgumentParser(
        prog="vit-studio",
        description=_paragraph(
            "Look inside Vision Transformers: predictions, attention, rollout, position "
            "embeddings; fine-tune on your own images."
        ),
        # Wrapped here, not by argparse, so that no command is split at its hyphen.
        epilog=_paragraph(explorer),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vit-studio {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command is None:
        for name in SUBCOMMANDS:
            subparsers.add_parser(name, help=summary(name))
    else:
        module = importlib.import_module(f"vit_studio.cli.{COMMANDS[command][0]}")
        module.register(subparsers)
    return parser


def _paragraph(text: str) -> str:
    return textwrap.fill(text, HELP_WIDTH, break_on_hyphens=False, break_long_words=False)


def _wants_gui(argv: list[str]) -> bool:
    if not argv:
        return True
    return argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")


def _mistyped_command(argv: list[str]) -> str | None:
    """The subcommand a first word is close to (`analyse` -> `analyze`), else None: the explorer
    then opens on it. A word that is an option, names a file that is there, or looks like a file
    name (a suffix, a folder in it: a missing cat.jpg) is the explorer's."""
    if not argv or argv[0] in SUBCOMMANDS or argv[0].startswith("-"):
        return None
    word = argv[0]
    if os.path.exists(word) or Path(word).suffix or any(s in word for s in ("/", os.sep)):
        return None
    close = difflib.get_close_matches(word, SUBCOMMANDS, n=1, cutoff=0.75)
    return close[0] if close else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    meant = _mistyped_command(argv)
    if meant is not None:
        print(f"vit-studio: error: {argv[0]!r} is not a command; did you mean `{meant}`? "
              f"(vit-studio --help lists them)", file=sys.stderr)  # fmt: skip
        return EXIT_USER_ERROR
    if _wants_gui(argv):
        from vit_studio.cli import explore

        return explore.run(argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        # A command that sets `fetches_model` downloads --model itself (train: rank 0 first).
        if getattr(args, "model", None) and not getattr(args, "fetches_model", False):
            from vit_studio.cli.common import fetched_model

            args.model = fetched_model(args.model)
        return int(args.handler(args) or 0)
    except StudioError as exc:
        print(f"vit-studio: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:
        print(f"vit-studio: interrupted{f': {exc}' if str(exc) else ''}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
