"""The `vit-studio` command: the GUI by default, headless subcommands for scripts.

Each subcommand lives in its own module exposing `register(subparsers)`; it sets `handler` on its
parser. Errors a user can cause arrive as `StudioError` and are printed on one line (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vit_studio import __version__
from vit_studio.engine.errors import StudioError

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    from vit_studio.cli import analyze, models

    parser = argparse.ArgumentParser(
        prog="vit-studio",
        description="Look inside Vision Transformers: predictions, attention, rollout, "
        "position embeddings; fine-tune on your own images.",
    )
    parser.add_argument("--version", action="version", version=f"vit-studio {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (analyze, models):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # The GUI arrives in a later release; until then a bare call explains the commands.
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except StudioError as exc:
        print(f"vit-studio: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("vit-studio: interrupted", file=sys.stderr)
        return 130
