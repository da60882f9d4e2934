"""``rlmigrate parity``: build a legacy model and its candidate from class paths, port
the legacy weights into the candidate and prove (or disprove) parity.

Exit status: 0 parity, 1 mismatch, 2 usage error (bad class path, bad JSON, missing
file, unbuildable model, weights that cannot be ported, mismatched spaces, a candidate
that is not an RLModule or is the legacy class itself).

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
cls(obs_space, action_space, num_outputs, model_config, name)) and --candidate (the
migrated class: an RLModule subclass, i.e. a subclass of rlmodule's RLModule such as
rlmodule.torch.TorchRLModule, built with SingleAgentRLModuleSpec), port the legacy
weights into the candidate (by name, then by order), and compare the two with
compat.parity.check. Exit 0 on parity, 1 on a mismatch (or a model that crashes on
valid observations), 2 on usage errors - among them a candidate that is not an
RLModule (e.g. a file the codemod left unmigrated: run `rlmigrate migrate` first) or
the very class given as --legacy (a model always agrees with itself).

Spaces are JSON (inline, or the name of a file holding it) in the form of
rlmodule.spaces.space_to_dict, e.g.
  '{"type": "Box", "shape": [4], "dtype": "float32", "low": -1.0, "high": 1.0}'
  '{"type": "Discrete", "n": 2}'
  '{"type": "Dict", "spaces": {"mask": {"type": "MultiBinary", "n": [3]}, "pos": {"type": "Discrete", "n": 5}}}'
  '{"type": "Tuple", "spaces": [{"type": "Discrete", "n": 5}, {"type": "MultiDiscrete", "nvec": [2, 3]}]}'
A Dict's "spaces" is an object of named spaces, a Tuple's a list of spaces, in order;
they nest. The candidate gets the raw (nested) observations, the legacy model what
legacy RLlib gave it (obs_flat, with input_dict["obs"] restored to the nested form).
"""

EPILOG = """\
examples:
  # a Box observation space (model.json holds the legacy `model` dict, e.g. {})
  rlmigrate parity --legacy src.value_caching:ValueCachingModel \\
      --candidate migrated.value_caching:ValueCachingModel \\
      --observation-space '{"type": "Box", "shape": [4], "dtype": "float32", "low": -1.0, "high": 1.0}' \\
      --action-space '{"type": "Discrete", "n": 2}' --model-config model.json

  # a Dict observation space (here an action mask next to the observations)
  rlmigrate parity --legacy src.masked_actions:MaskedActionsModel \\
      --candidate migrated.masked_actions:MaskedActionsModel \\
      --observation-space '{"type": "Dict", "spaces": {"action_mask": {"type": "Box", "shape": [4], "dtype": "float32", "low": 0.0, "high": 1.0}, "observations": {"type": "Box", "shape": [6], "dtype": "float32", "low": -1.0, "high": 1.0}}}' \\
      --action-space '{"type": "Discrete", "n": 4}' --model-config model.json

  # a Tuple observation space (a Box and a Discrete, in this order)
  rlmigrate parity --legacy src.tuple_model:TupleObsModel \\
      --candidate migrated.tuple_model:TupleObsModel \\
      --observation-space '{"type": "Tuple", "spaces": [{"type": "Box", "shape": [3], "dtype": "float32", "low": -1.0, "high": 1.0}, {"type": "Discrete", "n": 5}]}' \\
      --action-space '{"type": "Discrete", "n": 3}' --model-config model.json

  # the same, the spaces in files
  echo '{"type": "Tuple", "spaces": [{"type": "Box", "shape": [3], "dtype": "float32", "low": -1.0, "high": 1.0}, {"type": "Discrete", "n": 5}]}' > obs_space.json
  echo '{"type": "Discrete", "n": 3}' > action_space.json
  rlmigrate parity --legacy src.tuple_model:TupleObsModel --candidate migrated.tuple_model:TupleObsModel \\
      --observation-space obs_space.json --action-space action_space.json --model-config model.json
"""


class UsageError(Exception):
    """A problem with the command line or what it names (exit status 2)."""


def add_parity_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``parity`` sub-command's options (argparse only; nothing heavy imported)."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--legacy", required=True, metavar="MODULE:CLASS", help="the legacy ModelV2 class")
    parser.add_argument(
        "--candidate", required=True, metavar="MODULE:CLASS", help="the migrated class: an RLModule subclass (not a legacy ModelV2, not the --legacy class)"
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
    _check_candidate(candidate_cls, args.candidate, legacy_cls, args.legacy)

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


def _check_candidate(cls: type, path: str, legacy_cls: type, legacy_path: str) -> None:
    """The candidate must be an RLModule (the migrated class), and not the legacy class
    itself: either would make the check compare the legacy model with itself and pass."""
    from rlmodule.rl_module import RLModule

    if cls is legacy_cls:
        raise UsageError(
            f"--candidate {path}: it is the very class given as --legacy ({legacy_path}); a model always "
            "agrees with itself, so this proves nothing. Point --candidate at the migrated class "
            "(an RLModule subclass; run `rlmigrate migrate` on the legacy file first if there is none)"
        )
    if issubclass(cls, RLModule):
        return
    raise UsageError(
        f"--candidate {path}: {cls.__name__} is not an RLModule (a subclass of rlmodule's RLModule, e.g. "
        f"rlmodule.torch.TorchRLModule); it is {_describe_class(cls)}. Comparing it with the legacy model "
        "would not test a migration. Run `rlmigrate migrate` on its file first (a file the codemod could "
        "not migrate is reported there and left legacy) and point --candidate at the migrated class"
    )


def _describe_class(cls: type) -> str:
    """What kind of class ``cls`` is, from its MRO (nothing imported): e.g. "a legacy
    ModelV2 (ray.rllib.models.torch.torch_modelv2.TorchModelV2) and a torch.nn.Module"."""
    mro = [(c.__module__ or "", c.__qualname__) for c in cls.__mro__]
    kinds = []
    ray_bases = [f"{m}.{q}" for m, q in mro if m.startswith("ray.")]
    if any(m.startswith("ray.rllib.models") and q == "ModelV2" for m, q in mro):
        kinds.append(f"a legacy ModelV2 ({ray_bases[0]})")
    elif any(m.startswith("ray.rllib.core.rl_module") and q == "RLModule" for m, q in mro):
        kinds.append(f"ray's own RLModule ({ray_bases[0]}), not rlmodule's: its imports still name ray.rllib")
    elif ray_bases:
        kinds.append(f"a ray class ({ray_bases[0]})")
    elif callable(getattr(cls, "forward", None)) and callable(getattr(cls, "value_function", None)):
        kinds.append("a legacy-style model (forward and value_function, no RLModule base)")
    if any(m == "torch.nn.modules.module" and q == "Module" for m, q in mro):
        kinds.append("a torch.nn.Module")
    if any(m.startswith(("keras", "tensorflow", "tf_keras")) and q in ("Model", "Layer") for m, q in mro):
        kinds.append("a Keras model/layer")
    if not kinds:
        bases = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in cls.__bases__)
        kinds.append(f"a class with bases {bases}")
    return " and ".join(kinds)


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
