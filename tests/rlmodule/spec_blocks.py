"""The specification's code blocks, cut verbatim from the reference text, with their
``ray.rllib`` imports rewritten through ``codemods.import_map`` and the documented
errata (design.md, "Errata in the reference text") applied.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

from codemods.import_map import map_import

ROOT = Path(__file__).resolve().parents[2]
SPEC_CANDIDATES = [
    ROOT.parent / "shared" / "reference" / "rl_modules_alpha.txt",
    ROOT / "fixtures" / "reference" / "rl_modules_alpha.txt",
]


def spec_lines() -> List[str]:
    for path in SPEC_CANDIDATES:
        if path.is_file():
            return path.read_text(encoding="utf-8").splitlines()
    raise FileNotFoundError(f"specification not found at {[str(p) for p in SPEC_CANDIDATES]}")


class UnmappedImport(ImportError):
    """A ``ray`` import the import map has no entry for (yet)."""


@dataclass
class Block:
    """Lines ``start..end`` (1-based, inclusive) of the specification."""

    name: str
    start: int
    end: int
    first_line: str  # guards against the reference text drifting
    errata: List[Tuple[str, str]] = field(default_factory=list)
    legacy: bool = False  # "before" code: runs against real RLlib, imports unmapped

    def source(self) -> str:
        lines = spec_lines()
        assert lines[self.start - 1] == self.first_line, (
            f"block {self.name}: line {self.start} is {lines[self.start - 1]!r}, "
            f"expected {self.first_line!r}"
        )
        text = "\n".join(lines[self.start - 1 : self.end]) + "\n"
        for old, new in self.errata:
            assert old in text, f"block {self.name}: erratum {old!r} not found"
            text = text.replace(old, new)
        return text


BLOCKS: Dict[str, Block] = {
    b.name: b
    for b in [
        Block("enable_rl_modules_ppo", 57, 75, "import torch"),
        Block("single_agent_spec", 83, 96, "import gymnasium as gym"),
        Block("multi_agent_spec", 97, 119, "import gymnasium as gym"),
        Block("bc_config_build", 123, 142, "import gymnasium as gym"),
        Block("bc_config_multi_agent", 148, 169, "import gymnasium as gym"),
        Block("as_multi_agent", 177, 190, "import gymnasium as gym"),
        Block("torch_bc_module", 218, 254, "from typing import Mapping, Any"),
        Block(
            "tf_bc_module",
            257,
            291,
            "from typing import Mapping, Any",
            errata=[
                ("tf.distributions.Categorical", "TfCategorical"),
                # Keras 3 Dense wants a Python int; gymnasium 1.x's Discrete.n is np.int64.
                ("output_dim = self.config.action_space.n", "output_dim = int(self.config.action_space.n)"),
            ],
        ),
        Block("spec_obs_and_action_dist", 300, 312, "class DiscreteBCTorchModule(TorchRLModule):"),
        Block("spec_nested_keys", 315, 323, "class DiscreteBCTorchModule(TorchRLModule):"),
        Block("spec_tensor_spec", 326, 335, "class DiscreteBCTorchModule(TorchRLModule):"),
        Block(
            "spec_type_spec",
            338,
            345,
            "class DiscreteBCTorchModule(TorchRLModule):",
            errata=[("torch.distribution.Categorical", "torch.distributions.Categorical")],
        ),
        Block(
            "shared_encoder_classes",
            360,
            431,
            "from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule",
        ),
        Block("shared_encoder_spec", 436, 466, "import gymnasium as gym"),
        Block("extend_ppo_module", 476, 485, "class MyPPORLModule(PPORLModule):"),
        Block(
            "extend_ppo_catalog",
            491,
            501,
            "class MyAwesomeCatalog(PPOCatalog):",
            errata=[("def get_actor_critic_encoder_config():", "def get_actor_critic_encoder_config(self):")],
        ),
        Block("legacy_make_model", 511, 533, "from ray.rllib.models.torch.torch_modelv2 import TorchModelV2", legacy=True),
        Block(
            "legacy_make_model_and_action_dist",
            534,
            557,
            "from ray.rllib.models.torch.torch_modelv2 import TorchModelV2",
            legacy=True,
        ),
        Block("legacy_action_fns", 558, 611, "from ray.rllib.models.torch.torch_modelv2 import TorchModelV2", legacy=True),
        Block(
            "migrated_rl_module",
            615,
            632,
            '"""',
            errata=[("YOUR_DIST_CLASS", "TorchCategorical"), ("RLConfig", "RLModuleConfig")],
        ),
    ]
}


class _ImportRewriter(ast.NodeTransformer):
    """Rewrites ``from ray... import X`` / ``import ray...`` through the import map."""

    def visit_ImportFrom(self, node: ast.ImportFrom) -> List[ast.stmt]:
        if not (node.module or "").startswith("ray"):
            return [node]
        out = []
        for alias in node.names:
            target = map_import(node.module, alias.name)
            if target is None:
                raise UnmappedImport(f"no import-map entry for 'from {node.module} import {alias.name}'")
            module, name = target
            out.append(ast.ImportFrom(module=module, names=[ast.alias(name, alias.asname or (None if name == alias.name else alias.name))], level=0))
        return out

    def visit_Import(self, node: ast.Import) -> ast.stmt:
        for alias in node.names:
            if alias.name.startswith("ray"):
                raise UnmappedImport(f"'import {alias.name}' has no import-map entry")
        return node


def compile_block(block: Block) -> object:
    """The block's code object, its ray imports mapped (legacy blocks left as they are)."""
    tree = ast.parse(block.source(), filename=f"<spec:{block.name}>")
    if not block.legacy:
        tree = ast.fix_missing_locations(_ImportRewriter().visit(tree))
    return compile(tree, f"<spec:{block.name}>", "exec")


def run_block(name: str, namespace: dict) -> dict:
    """Execute block ``name`` in ``namespace`` (updated in place) and return it."""
    exec(compile_block(BLOCKS[name]), namespace)
    return namespace
