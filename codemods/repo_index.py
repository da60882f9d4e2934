"""The repository pre-pass: which classes are legacy models, across files, and of which
kind (``RepoIndex.legacy_models``; the kinds are described there).

A class is a legacy model if one of its bases is a legacy RLlib model class (by the name
the legacy code spells it, an alias bound by an import, or ``module.Name``) or,
transitively, another legacy model class of the repository. Names that RLlib defines
twice (``RecurrentNetwork``, ``FullyConnectedNetwork``, ... in ``models.torch`` and
``models.tf``) take the framework of the file's import. The scan is a regex over bytes,
so it costs microseconds per file; the rules confirm each class on the parsed tree.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from codemods.rule import RepoIndex

# Legacy RLlib model class -> (kind as a torch base, kind as a TF base).
_KINDS: Dict[str, Tuple[str, str]] = {
    "ModelV2": ("torch", "tf"),
    "TorchModelV2": ("torch", "torch"),
    "TFModelV2": ("tf", "tf"),
    "RecurrentNetwork": ("recurrent", "tf_recurrent"),
    "TorchRNN": ("recurrent", "recurrent"),
    "RecurrentTFModelV2": ("tf_recurrent", "tf_recurrent"),
    # built-in models: RLModule bases in compat.migrated_builtins (TF: the FCN only)
    "FullyConnectedNetwork": ("torch_builtin", "tf_builtin"),
    "VisionNetwork": ("torch_builtin", "unsupported"),  # TF: no base (yet)
    "ComplexInputNetwork": ("torch_builtin", "unsupported"),
    # wrappers and attention nets, and models of algorithms this project does not have
    **{name: ("unsupported", "unsupported") for name in (
        "LSTMWrapper", "AttentionWrapper", "AttentionNetwork", "GTrXLNet", "TrXLNet", "KerasModel",
        "DQNTorchModel", "DistributionalQTFModel", "DistributionalQModel", "SimpleQModel", "SimpleQTorchModel",
        "SACTorchModel", "SACTFModel", "SACModel", "RNNSACTorchModel", "DDPGTorchModel", "DDPGTFModel",
        "DDPGModel", "MAMLTorchModel", "MAMLTFModel", "ESModel", "NoopModel", "TorchNoopModel",
        "AlphaZeroModel", "ActorCriticModel", "CentralizedCriticModel", "TorchCentralizedCriticModel",
        "Model",  # ModelV1 (ray.rllib.models.Model): only when imported from ray.rllib
    )},
}
#: Names too common to mean RLlib's class unless a ``ray.rllib`` import binds them.
_NEEDS_IMPORT = frozenset({"Model"})
#: Legacy RLlib model base names (those a ``ray.rllib`` import can bind).
LEGACY_MODEL_BASES = frozenset(_KINDS)
#: Bases of classes an earlier run migrated (or RLModules written by hand): kind
#: ``"migrated"``, so a second run knows them as RLModules of the repository.
RL_MODULE_BASES = frozenset({
    "RLModule", "TorchRLModule", "TfRLModule", "FullyConnectedNetworkRLModule", "VisionNetworkRLModule",
    "ComplexInputNetworkRLModule", "TfFullyConnectedNetworkRLModule",
})
#: What a ``models`` rule TODO says of a class of each kind it does not convert.
WHY_NOT_CONVERTED = {
    "unsupported": (
        "{base} has no RLModule equivalent here (a model of an algorithm this project does not have, a "
        "TF VisionNetwork / ComplexInputNetwork, an attention or wrapper model): this class stays a legacy "
        "ModelV2, with its configs and registrations"
    ),
}


def base_kind(name: str, module: str) -> Optional[str]:
    """The kind of a class deriving from RLlib's ``name`` imported from ``module``
    (``None`` if ``name`` is no legacy model base or ``module`` is not ``ray.rllib``)."""
    if name not in _KINDS or not module.startswith("ray.rllib") or (name in _NEEDS_IMPORT and module == "ray.rllib"):
        return None
    torch_kind, tf_kind = _KINDS[name]
    return tf_kind if ".tf." in module + "." else torch_kind


# The base list may hold comments (one per line), with any character, ``)`` included.
_CLASS = re.compile(rb"^[ \t]*class[ \t]+(\w+)[ \t]*\(((?:[^)#]|#[^\n]*\n)*)\)", re.MULTILINE)
# ``from ray.rllib.x import a, b as c`` (parenthesised over several lines too).
_FROM = re.compile(rb"from[ \t]+(\w+(?:\.\w+)*)[ \t]+import[ \t]*(\((?:[^)#]|#[^\n]*\n)*\)|[^\n;#]*)")
# ``import ray.rllib.x.y as z``
_IMPORT_AS = re.compile(rb"import[ \t]+(ray\.rllib(?:\.\w+)+)[ \t]+as[ \t]+(\w+)")
_NAME_AS = re.compile(rb"(\w+)(?:[ \t]+as[ \t]+(\w+))?")


def file_bases(text: bytes) -> Dict[str, str]:
    """What this file binds to a legacy base: local name -> kind, and module alias ->
    ``"module:<path>"`` (for ``alias.Name`` bases); a name another library's
    ``from`` import binds -> ``"module:<its path>"`` too (``from mylib import Policy``:
    not RLlib's policy class; a legacy model base name keeps its kind)."""
    bound: Dict[str, str] = {}
    for match in _FROM.finditer(text):
        module = match.group(1).decode("ascii")
        for item in _NAME_AS.finditer(_COMMENT.sub(b"", match.group(2))):
            name = item.group(1).decode("ascii", "replace")
            asname = item.group(2).decode("ascii", "replace") if item.group(2) else None
            bind_import(bound, module, name, asname)
            bound.setdefault(asname or name, f"module:{module}.{name}")
    for match in _IMPORT_AS.finditer(text):
        bind_import(bound, match.group(1).decode("ascii"), None, match.group(2).decode("ascii"))
    return bound


def bind_import(bound: Dict[str, str], module: str, name: Optional[str], asname: Optional[str]) -> None:
    """Record in ``bound`` what ``from module import name as asname`` (or, ``name``
    None, ``import module as asname``) binds: a legacy base -> its kind (a legacy name
    re-exported by another module keeps its RLlib meaning), an RLlib module or other
    RLlib name -> ``"module:<path>"``."""
    if name is None:
        if asname and module.startswith("ray.rllib"):
            bound[asname] = f"module:{module}"
        return
    kind = base_kind(name, module if module.startswith("ray.rllib") else "ray.rllib")
    if kind:
        bound[asname or name] = kind
    elif module.startswith("ray.rllib"):
        bound.setdefault(asname or name, f"module:{module}.{name}")


def resolve_base(base: str, bound: Dict[str, str]) -> Optional[str]:
    """The kind of base expression ``base`` (``Name``, ``alias.Name``,
    ``ray.rllib.models.torch.fcnet.FullyConnectedNetwork``) given the file's ``bound``
    names (``file_bases``); ``None`` if it is not a legacy RLlib base."""
    parts = base.split(".")
    if len(parts) == 1:
        kind = bound.get(base) or base_kind(base, "ray.rllib")  # unbound: RLlib's, torch unless TF by name
        return None if kind is None or kind.startswith("module:") else kind
    head = bound.get(parts[0], "")
    module = head[len("module:"):] if head.startswith("module:") else parts[0]
    return base_kind(parts[-1], ".".join([module, *parts[1:-1]]))


_COMMENT = re.compile(rb"#[^\n]*")


def _bases(text: bytes) -> Iterable[Tuple[str, List[str]]]:
    for match in _CLASS.finditer(text):
        names = []
        for part in _COMMENT.sub(b"", match.group(2)).split(b","):
            part = part.strip()
            if part and b"=" not in part:
                names.append(part.decode("ascii", "replace"))
        yield match.group(1).decode("ascii", "replace"), names


def rllib_path(base: str, bound: Dict[str, str]) -> Optional[str]:
    """The ``ray.rllib`` dotted path base expression ``base`` names through the file's
    ``bound`` imports (``ppo.PPOTrainer`` with ``from ray.rllib.agents import ppo`` ->
    ``ray.rllib.agents.ppo.PPOTrainer``; a path written out is itself), else ``None``."""
    parts = base.split(".")
    head = bound.get(parts[0], "")
    if head.startswith("module:ray.rllib"):
        return ".".join([head[len("module:"):], *parts[1:]])
    return base if len(parts) > 1 and parts[0] == "ray" else None


def is_policy_base(base: str, bound: Dict[str, str]) -> bool:
    """Whether base expression ``base`` is a legacy RLlib policy class: a name ending in
    ``Policy`` / ``PolicyV2`` that a ``ray.rllib`` import binds (``Policy as RllibPolicy``,
    ``from ray.rllib import Policy``, ``ppo.PPOTorchPolicy``), or a name no import binds
    that ends like RLlib's policy classes (``TorchPolicyV2``, ``PPOTorchPolicy``, ...; not
    ``Policy`` itself, nor ``TorchPolicy`` from another library)."""
    path = rllib_path(base, bound)
    if path is not None:
        return path.endswith(("Policy", "PolicyV2"))
    return "." not in base and base not in bound and base.endswith(
        ("TorchPolicy", "TFPolicy", "TorchPolicyV2", "TFPolicyV2", "EagerTFPolicy")
    )


def build_repo_index(sources: Iterable[bytes]) -> RepoIndex:
    """Index the legacy model and policy classes of all ``sources`` (file contents)."""
    classes: Dict[str, List[str]] = {}  # class name -> its bases' last names
    found: Dict[str, str] = {}
    policies: Set[str] = set()
    for text in sources:
        if b"class" not in text:
            continue
        bound = file_bases(text) if b"import" in text else {}
        for name, bases in _bases(text):
            for base in bases:
                kind = resolve_base(base, bound) or ("migrated" if base.split(".")[-1] in RL_MODULE_BASES else None)
                if kind and name not in found:
                    found[name] = kind
                if is_policy_base(base, bound):
                    policies.add(name)
            classes.setdefault(name, []).extend(base.split(".")[-1] for base in bases)
    _close_over(classes, lambda name: name in found, lambda name, base: found.setdefault(name, found[base]))
    _close_over(classes, lambda name: name in policies, lambda name, base: policies.add(name))
    return RepoIndex(legacy_models=found, legacy_policies=frozenset(policies))


def _close_over(classes: Dict[str, List[str]], known: Any, add: Any) -> None:
    """Extend a class property to every class with a base that has it (repository
    subclasses of subclasses), until nothing changes."""
    grew = True
    while grew:
        grew = False
        for name, bases in classes.items():
            if known(name):
                continue
            for base in bases:
                if known(base):
                    add(name, base)
                    grew = True
                    break
