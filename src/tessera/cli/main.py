"""``tessera`` — the command line: one argparse tree, subcommands in sibling modules.

Each module exposes ``register(subparsers)`` and sets ``func`` on its parsers; ``func``
returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tessera import __version__
from tessera.cli.serve import CommandFailed

SUBCOMMAND_MODULES = ("serve", "policy", "audit", "sts", "accounts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera", description="Self-hosted, AWS-compatible IAM and STS.")
    parser.add_argument("--version", action="version", version=f"tessera {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"tessera.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CommandFailed as failed:
        print(failed.message, file=sys.stderr)
        return failed.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
