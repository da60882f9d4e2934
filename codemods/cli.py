"""The ``rlmigrate`` command line."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from codemods import migrate_cli
from codemods.demo_cli import DESCRIPTION as DEMO_DESCRIPTION, add_demo_arguments  # argparse only
from codemods.parity_cli import add_parity_arguments  # argparse only, no torch/ray

DESCRIPTION = """\
rlmigrate moves RLlib code from the legacy ModelV2 / TorchPolicyV2 stack to RLModules.

sub-commands:
  migrate PATH...   rewrite legacy RLlib code into RLModule code (diff by default)
  parity            prove that a legacy model and its migrated module agree (exit 0 / 1 / 2)
  demo              migrate a bundled legacy project end to end: diff, ported weights,
                    parity, further training, checkpoint
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlmigrate", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    migrate = sub.add_parser(
        "migrate", help="rewrite legacy RLlib code into RLModule code",
        description=migrate_cli.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    migrate_cli.add_migrate_arguments(migrate)
    parity = sub.add_parser("parity", help="prove that a legacy model and its migrated module agree")
    add_parity_arguments(parity)
    demo = sub.add_parser(
        "demo", help="migrate a bundled legacy project end to end",
        description=DEMO_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_demo_arguments(demo)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from codemods.demo_cli import run_demo  # imports compat (torch, ray) lazily

        return run_demo(args)
    if args.command == "parity":
        from codemods.parity_cli import run_parity  # imports compat (torch) lazily

        return run_parity(args)
    if args.command == "migrate":
        return migrate_cli.run_migrate(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
