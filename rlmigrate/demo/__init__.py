"""``rlmigrate demo``: arguments and help. Imports nothing heavy; ``run_demo`` imports
``rlmigrate.demo.steps`` (compat, torch, and ray for the legacy side) when it runs.

The demo's inputs ship with the package, beside this file: ``legacy_project/`` (the
legacy RLlib project), ``completed_project/`` (its TODOs done by hand) and
``legacy_weights/`` (the weights legacy PPO trained, and the script that made them)."""

from __future__ import annotations

import argparse
import sys

STEPS = ("migrate", "port", "parity", "train")

DESCRIPTION = """\
Migrate a bundled legacy RLlib project end to end and prove nothing was lost.

The project (rlmigrate/demo/legacy_project) is typical legacy RLlib code:
my_project/models.py (a TorchModelV2 that caches its features for value_function,
an LSTM RecurrentNetwork), my_project/policies.py (a PPO policy overriding
action_distribution_fn) and my_project/train.py (register_custom_model calls, a
two-policy multi-agent PPO config on a two-agent CartPole).

steps:
  1. migrate  `rlmigrate migrate` on a copy of the project: the diff and the report
              (files converted, TODOs left for a person). Then the TODOs done by hand
              (rlmigrate/demo/completed_project), shown as a second diff.
  2. port     each legacy policy built by real RLlib 2.60 (legacy API stack) from the
              project's own config, loaded with the weights legacy PPO trained
              (rlmigrate/demo/legacy_weights: plain state dicts, and the script that made
              them); the weights ported into the migrated module of the same id.
  3. parity   compat.parity.check, legacy policy vs migrated module: the max error
              of each quantity (distribution inputs, values, actions, logp, sampled
              actions, recurrent state); greedy returns of both on the same seeded
              episodes. The migration before its TODOs were done is checked too.
  4. train    the migrated config trained further with our PPO, starting from the
              ported weights: returns per iteration, greedy evaluation before and
              after, a checkpoint saved and reloaded with identical outputs.

output (the directory is named at the end; an earlier demo output there is replaced
only when the run succeeds):
  legacy_project/ migrated_project/ completed_project/   the code, before and after
  migration.diff, todo_completion.diff                   the codemod's and the person's edits
  migration_report.{json,md}                             what rlmigrate converted, its TODOs
  parity_report.{json,md}                                max errors per quantity
  learning_curve.png, train_logs/                        legacy training, then ours
  checkpoint/                                            the trained algorithm (our format)
  demo_report.{json,md}                                  everything above, summarised

--until STEP stops after that step (each step needs the ones before it); the
reports then cover the steps that ran. Steps 2 and 3 need the legacy extra
(ray[rllib]==2.60.0), so `--until migrate` runs without it. The whole demo takes
about a minute on two cores.
"""


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_out", help="output directory (default: demo_out)")
    parser.add_argument(
        "--iterations", type=int, default=30, metavar="N",
        help="PPO iterations in step 4, 2,000 env steps each (default: 30)",
    )
    parser.add_argument(
        "--eval-episodes", type=int, default=10, metavar="N",
        help="seeded greedy episodes per evaluation in steps 3 and 4 (default: 10)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    parser.add_argument(
        "--until", choices=STEPS, default=STEPS[-1], metavar="STEP",
        help=f"run the steps up to STEP ({', '.join(STEPS)}) and stop (default: {STEPS[-1]}, all four)",
    )


def run_demo(args: argparse.Namespace) -> int:
    if args.iterations < 1 or args.eval_episodes < 1:
        print("rlmigrate demo: error: --iterations and --eval-episodes must be >= 1", file=sys.stderr)
        return 2
    from rlmigrate.demo.steps import main_from_args

    return main_from_args(args.out, args.iterations, args.eval_episodes, args.seed, args.until)
