"""The ``rlmigrate`` command line."""

from __future__ import annotations

import argparse
from typing import List, Optional

from rlmigrate import demo, migrate, parity  # argparse and codemods only; demo and parity import compat when run

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
    migrate.add_migrate_arguments(sub.add_parser(
        "migrate", help="rewrite legacy RLlib code into RLModule code",
        description=migrate.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ))
    parity.add_parity_arguments(sub.add_parser("parity", help="prove that a legacy model and its migrated module agree"))
    demo.add_demo_arguments(sub.add_parser(
        "demo", help="migrate a bundled legacy project end to end",
        description=demo.DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    ))
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo.run_demo(args)
    if args.command == "parity":
        return parity.run_parity(args)
    if args.command == "migrate":
        return migrate.run_migrate(args)
    parser.print_help()
    return 0
