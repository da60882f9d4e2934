"""``rlmigrate parity``: build a legacy model and its candidate from class paths, port
the legacy weights into the candidate and prove (or disprove) parity.

Exit status: 0 parity, 1 mismatch, 2 usage error (bad class path, bad JSON, missing
file, unbuildable model, weights that cannot be ported, mismatched spaces).

This module imports neither torch nor ray at import time: ``run_parity`` imports
``compat`` (and, for legacy classes, ray) when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, Optional

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
Build --legacy (a legacy ModelV2 class, constructed as legacy RLlib did:
cls(obs_space, action_space, num_outputs, model_config, name)) and --candidate (an
RLModule subclass, built with SingleAgentRLModuleSpec, or another ModelV2 class),
port the legacy weights into the candidate (by name, then by order), and compare
the two with compat.parity.check. Exit 0 on parity, 1 on a mismatch (or a model that
crashes on valid observations), 2 on usage errors.

Spaces are JSON (inline or a file) in the form of rlmodule.spaces.space_to_dict, e.g.
  '{"type": "Box", "shape": [4], "dtype": "float32", "low": -1.0, "high": 1.0}'
  '{"type": "Discrete", "n": 2}'
"""


class UsageError(Exception):
    """A problem with the command line or what it names (exit status 2)."""


def add_parity_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``parity`` sub-command's options (argparse only; nothing heavy imported)."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--legacy", required=True, metavar="MODULE:CLASS", help="the legacy ModelV2 class")
    parser.add_argument(
        "--candidate", required=True, metavar="MODULE:CLASS", help="an RLModule subclass or another ModelV2 class"
    )
    parser.add_argument("--observation-space", required=True, metavar="JSON_OR_FILE", help="the raw observation space")
    parser.add_argument("--action-space", required=True, metavar="JSON_OR_FILE", help="the action space")
    parser.add_argument(
        "--model-config", required=True, metavar="FILE.json",
        help="the legacy model config (merged over legacy MODEL_DEFAULTS for ModelV2 classes; "
        "passed as model_config_dict to RLModules)",
    )
    parser.add_argument(
        "--weights-from", choices=("legacy", "none"), default="legacy",
        help="port the legacy model's weights into the candidate (default) or keep the candidate's own",
    )
    parser.add_argument(
        "--weight-map", metavar="JSON_OR_FILE",
        help="explicit {candidate_name: legacy_name} pairs for port_weights (the rest by name, then order)",
    )
    parser.add_argument(
        "--ignore", metavar="PATTERN", action="append", default=[],
        help="legacy tensor names (fnmatch patterns) the candidate has no use for, e.g. the LSTM "
        "wrapper's unused value branch; repeatable",
    )
    parser.add_argument(
        "--catalog", metavar="MODULE:CLASS",
        help="catalog_class for an RLModule candidate (default: PPOCatalog for PPO-family modules)",
    )
    parser.add_argument("--num-samples", type=int, default=256, help="observations to sample (default 256)")
    parser.add_argument("--steps", type=int, default=1, help="rollout steps for recurrent models (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed for observations, weights and sampling (default 0)")
    parser.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance (default 1e-5)")
    parser.add_argument("--rtol", type=float, default=1e-5, help="relative tolerance (default 1e-5)")
    parser.add_argument("--json", metavar="OUT", help="also write the report as JSON to OUT")


def run_parity(args: argparse.Namespace) -> int:
    """Run the sub-command; return the exit status."""
    try:
        return _run(args)
    except UsageError as e:
        print(f"rlmigrate parity: error: {e}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    for name in ("num_samples", "steps"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    obs_json = _load_json(args.observation_space, "--observation-space", allow_inline=True)
    act_json = _load_json(args.action_space, "--action-space", allow_inline=True)
    model_config = _load_json(args.model_config, "--model-config", allow_inline=False)
    if not isinstance(model_config, dict):
        raise UsageError(f"--model-config {args.model_config}: expected a JSON object, got {type(model_config).__name__}")
    weight_map = None
    if args.weight_map:
        weight_map = _load_json(args.weight_map, "--weight-map", allow_inline=True)
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise UsageError("--weight-map: expected a JSON object {candidate_name: legacy_name}")

    from rlmodule.class_path import class_from_path
    from rlmodule.spaces import space_from_dict

    if os.getcwd() not in sys.path and "" not in sys.path:  # class paths may name local modules
        sys.path.insert(0, os.getcwd())

    obs_space = _space(obs_json, "--observation-space", space_from_dict)
    act_space = _space(act_json, "--action-space", space_from_dict)
    legacy_cls = _class(args.legacy, "--legacy", class_from_path)
    candidate_cls = _class(args.candidate, "--candidate", class_from_path)
    catalog_cls = _class(args.catalog, "--catalog", class_from_path) if args.catalog else None

    import torch

    from compat.parity import check
    from compat.port_weights import WeightPortError, port_weights

    legacy = _build(legacy_cls, "--legacy", args.legacy, obs_space, act_space, model_config, args.seed, None)
    candidate = _build(candidate_cls, "--candidate", args.candidate, obs_space, act_space, model_config, args.seed, catalog_cls)
    if args.weights_from == "legacy":
        if not isinstance(legacy, torch.nn.Module) or not isinstance(candidate, torch.nn.Module):
            raise UsageError("--weights-from legacy needs torch models on both sides (or pass --weights-from none)")
        try:
            ported = port_weights(legacy, candidate, mapping=weight_map, ignore=args.ignore)
        except (WeightPortError, TypeError) as e:
            raise UsageError(
                f"cannot port the legacy weights into {args.candidate} (pass --weight-map, --ignore or "
                f"--weights-from none):\n{e}"
            ) from None
        hows: Dict[str, int] = {}
        for entry in ported.entries:
            hows[entry.how] = hows.get(entry.how, 0) + 1
        print(
            f"ported {len(ported.entries)} tensors from {args.legacy} into {args.candidate} ("
            + ", ".join(f"{v} by {k}" for k, v in hows.items())
            + ")"
            + (f"; ignored {len(ported.ignored)}: {', '.join(name for name, _ in ported.ignored)}" if ported.ignored else "")
        )
    try:
        report = check(
            legacy, candidate, num_samples=args.num_samples, seed=args.seed, atol=args.atol, rtol=args.rtol,
            steps=args.steps,
        )
    except (TypeError, ValueError) as e:
        raise UsageError(str(e)) from None
    except Exception as e:  # a side crashed on valid observations: no parity
        print(f"rlmigrate parity: the check could not run the models: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_MISMATCH
    print(report.summary())
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(report.to_json() + "\n")
        except OSError as e:
            raise UsageError(f"--json {args.json}: cannot write: {e}") from None
    return EXIT_OK if report.ok else EXIT_MISMATCH


def _load_json(value: str, flag: str, *, allow_inline: bool) -> Any:
    """Inline JSON (when it starts with ``{`` / ``[``) or the JSON content of a file."""
    text = value.strip()
    if allow_inline and text[:1] in ("{", "["):
        source = "inline JSON"
    else:
        if not os.path.isfile(value):
            kind = "file" if not allow_inline else "file (nor inline JSON)"
            raise UsageError(f"{flag}: no such {kind}: {value}")
        try:
            with open(value, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise UsageError(f"{flag}: cannot read {value}: {e}") from None
        source = value
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{flag}: invalid JSON in {source}: {e}") from None


def _space(d: Any, flag: str, space_from_dict: Any) -> Any:
    if not isinstance(d, dict):
        raise UsageError(f"{flag}: expected a JSON object describing a space, got {type(d).__name__}")
    try:
        return space_from_dict(d)
    except (ValueError, TypeError) as e:
        raise UsageError(f"{flag}: {e}") from None


def _class(path: str, flag: str, class_from_path: Any) -> type:
    try:
        return class_from_path(path, flag)
    except ValueError as e:
        raise UsageError(str(e)) from None
    except Exception as e:  # the module itself failed to import (syntax error, ...)
        raise UsageError(f"{flag} {path!r}: importing it failed: {type(e).__name__}: {e}") from None


def _build(
    cls: type, flag: str, path: str, obs_space: Any, act_space: Any, model_config: Dict[str, Any], seed: int,
    catalog_cls: Optional[type],
) -> Any:
    """An RLModule (via SingleAgentRLModuleSpec) or a legacy ModelV2 (legacy constructor),
    built right after ``torch.manual_seed(seed)`` so equal classes get equal weights."""
    import torch

    from rlmodule.rl_module import RLModule, SingleAgentRLModuleSpec

    torch.manual_seed(seed)
    if issubclass(cls, RLModule):
        if catalog_cls is None:
            catalog_cls = _default_catalog(cls)
        spec = SingleAgentRLModuleSpec(
            module_class=cls, observation_space=obs_space, action_space=act_space,
            model_config_dict=dict(model_config), catalog_class=catalog_cls,
        )
        try:
            return spec.build()
        except Exception as e:
            raise UsageError(f"{flag} {path}: building the RLModule failed: {type(e).__name__}: {e}") from None
    if callable(getattr(cls, "forward", None)) and callable(getattr(cls, "value_function", None)):
        try:
            from ray.rllib.models.catalog import MODEL_DEFAULTS, ModelCatalog
            from ray.rllib.models.preprocessors import get_preprocessor
        except ImportError as e:
            raise UsageError(f"{flag} {path}: legacy ModelV2 classes need ray[rllib]: {e}") from None
        config = {**MODEL_DEFAULTS, **model_config}
        try:
            _, num_outputs = ModelCatalog.get_action_dist(act_space, config, framework="torch")
            model_obs_space = get_preprocessor(obs_space)(obs_space).observation_space
            # As ModelCatalog.get_model_v2: custom_model_config entries are keyword arguments.
            custom = dict(config.get("custom_model_config") or {})
            return cls(model_obs_space, act_space, int(num_outputs), config, flag.lstrip("-"), **custom)
        except Exception as e:
            raise UsageError(f"{flag} {path}: building the legacy model failed: {type(e).__name__}: {e}") from None
    raise UsageError(
        f"{flag} {path}: {cls.__name__} is neither an RLModule subclass nor a legacy ModelV2 class "
        "(with forward and value_function)"
    )


def _default_catalog(cls: type) -> Optional[type]:
    from rlmodule.algorithms.ppo import PPOCatalog
    from rlmodule.algorithms.ppo.ppo_rl_module import PPORLModule

    return PPOCatalog if issubclass(cls, PPORLModule) else None
