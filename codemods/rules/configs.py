"""Rule ``configs``: custom-model registrations and the configs that use them.

``ModelCatalog.register_custom_model("name", Cls)`` plus ``{"custom_model": "name"}``
in a config become an RLModule spec naming the class; the ``model`` dict stays as it
is (it is the module's ``model_config_dict``):

- builder chains: ``.training(model={...})`` ->
  ``.training(model={...}).rl_module(_enable_rl_module_api=True,
  rl_module_spec=SingleAgentRLModuleSpec(module_class=Cls))``;
- config dicts with a ``"model"`` entry gain ``"_enable_rl_module_api": True`` and
  ``"rl_module_spec": SingleAgentRLModuleSpec(module_class=Cls)``;
- ``config["model"] = {...}`` gains the two item assignments after it;
- ``.multi_agent(policies={...})`` whose policies name custom models gains
  ``.rl_module(...)`` with a ``MultiAgentRLModuleSpec`` of one spec per policy id.

A builder chain given a spec loses the ``False`` switches that kept RLlib 2.x on its
legacy stack (``.rl_module(_enable_rl_module_api=False)``,
``.training(_enable_learner_api=False)``, ``.api_stack(enable_rl_module_and_learner=False,
enable_env_runner_and_connector_v2=False)``, ``.experimental(_enable_new_api_stack=False)``):
this project's AlgorithmConfig raises on them. A call left without arguments goes from the
chain; comment lines stay, a comment at the end of a removed line goes with it. Only the
chain's own calls are edited (a switch set on its root variable in an earlier statement
stays). A chain that stays legacy keeps them. A rewritten ``model`` dict (or spec ``model_config_dict``) with
ray <= 0.8.5's ``"custom_options"`` has it renamed ``"custom_model_config"`` (where the
migrated class reads its keyword arguments); with both keys, a TODO.

When a config is rewritten (all of these must hold; otherwise it stays as it is):

1. its ``custom_model`` names are string literals registered in this file, each to
   one class expression (``Cls``, ``mod.Cls``, or ``A if cond else B``) whose classes
   the repository pre-pass knows and the ``models`` rule turns into RLModules
   (``RepoIndex.converts``). A class defined outside the repository, or one the
   ``models`` rule leaves a legacy ModelV2 (a kind outside ``CONVERTED_KINDS``, e.g.
   a model of an algorithm this project does not have): the config and its
   registration stay, with a TODO on the registration saying why, and one on the
   config (this project refuses ``custom_model`` without a module class). A name registered twice with
   different classes is not guessed at: TODO on the config.
2. the algorithm it goes to, where the file shows it, is one this project has: PPO,
   IMPALA, APPO or BC. The rule reads it from the builder chain's root
   (``PPOConfig()``, ``ppo.PPOConfig()``, ``AlgorithmConfig(algo_class=PPO)``,
   ``PPOConfig.from_dict(...)``, ``get_trainable_cls("PPO")``), which decides when it
   names one (the callers of a function returning the chain may hold other functions'
   configs in the same variable); where it does not, from
   ``DEFAULT_CONFIG`` of an algorithm module (``ppo.DEFAULT_CONFIG.copy()``, imported
   or spread with ``**``), and from where the config goes: ``tune.run("PPO",
   config=...)``, ``tune.Tuner("PPO", param_space=...)``, ``tune.run(PPOTrainer,
   ...)``, ``PPOTrainer(config=...)``, ``ppo.PPOTrainer(env=..., config=...)``,
   ``{"run": "PPO", "config": ...}`` experiment specs, ``X.from_dict(config)``,
   ``other.update(config)``; it follows names assigned in the same function (or at
   module level), ``config["model"] = ...``, ``config.update(...)``, nested entries
   (``"evaluation_config"``) and functions returning the config to their callers in
   the file. Another algorithm (DQN, SAC, DDPG, APEX, MARWIL, ..., any other
   registered trainable name) or a custom trainer (``build_trainer(...)``,
   ``Trainer.with_updates(...)``, a trainer class defined in the file): the config
   and its registration stay, with a TODO on the config naming the algorithm.
   Nothing found (``tune.run(args.run, ...)``, a config returned to another file):
   the config is rewritten - the class became an RLModule, so the legacy
   ``custom_model`` could not work on either stack - with a TODO saying the
   algorithm could not be determined and that the spec only works with PPO, IMPALA,
   APPO or BC.
   When the algorithm is not available and the class does not convert either, the
   config works on legacy RLlib as before: only the registration says why it stays.
   This rule only reads a Tune call: the ``training_scripts`` rule, the one owner of
   Tune calls, turns its trainable into ``<Algo>.as_trainable()`` (or leaves a TODO
   where the trainable is picked at run time) once the config is ours.
3. it is not one policy's config outside ``.multi_agent(...)`` (a legacy 4-tuple's
   config, a ``PolicySpec(config=...)`` or anything in a legacy ``"multiagent"`` dict):
   flagged, use ``.multi_agent(...)`` with a ``MultiAgentRLModuleSpec``.

A registration is removed when every use it serves was rewritten: a use is served by
the registrations of its own function if that function registers the name, by every
registration of the name in the file otherwise. A name registered elsewhere, used in a
way the rule cannot follow, or kept for the reasons above, gets a TODO (on the
registration, and on a ``custom_model`` entry the rule could not rewrite).

``custom_action_dist`` in a config, and ``ModelCatalog.register_custom_action_dist``,
get a TODO saying what to write on the RLModule stack (a migrated model refuses to
build with ``custom_action_dist``: its input size lives in ray's registry).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

import libcst as cst

from codemods import rllib_target as rllib
from codemods.import_edits import add_imports, bound_imports, dotted
from codemods.rule import NODE_TYPES, SKELETON, TODO_PREFIX, Rule, TodoTransformer, walk

ANCHOR = "registrations-and-configs"
ANCHOR_POLICIES = "custom-policies"
ANCHOR_ACTION_DIST = "custom-action-distributions"
SPEC_MODULE = "rlmodule"

#: The algorithms of this project (their RLlib registry names).
SUPPORTED_ALGORITHMS = ("PPO", "IMPALA", "APPO", "BC")
#: RLlib's registry names (``tune.run("<name>")``), legacy and current.
RLLIB_ALGORITHMS = (
    "A2C", "A3C", "AlphaStar", "AlphaZero", "APEX", "APEX_DDPG", "APPO", "ARS", "BanditLinTS", "BanditLinUCB", "BC",
    "CQL", "CRR", "DDPG", "DDPPO", "DQN", "Dreamer", "DreamerV3", "DT", "ES", "IMPALA", "LeelaChessZero", "MADDPG",
    "MAML", "MARWIL", "MBMPO", "PG", "PPO", "QMIX", "R2D2", "SAC", "SimpleQ", "SlateQ", "TD3",
)


def _key(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", name.upper())


_BY_KEY = {_key(name): name for name in RLLIB_ALGORITHMS}
_BY_KEY.update({"APEXDQN": "APEX", "APEXDDPG": "APEX_DDPG", "BANDITLINTSTRAINER": "BanditLinTS"})
# Algorithm package names (``ray.rllib.agents.<x>`` / ``ray.rllib.algorithms.<x>``).
_MODULES = {
    "ppo": "PPO", "appo": "APPO", "impala": "IMPALA", "bc": "BC", "marwil": "MARWIL", "dqn": "DQN", "apex": "APEX",
    "apex_dqn": "APEX", "simple_q": "SimpleQ", "r2d2": "R2D2", "sac": "SAC", "ddpg": "DDPG", "td3": "TD3",
    "apex_ddpg": "APEX_DDPG", "a3c": "A3C", "a2c": "A2C", "pg": "PG", "es": "ES", "ars": "ARS", "qmix": "QMIX",
    "maddpg": "MADDPG", "cql": "CQL", "crr": "CRR", "maml": "MAML", "mbmpo": "MBMPO", "dreamer": "Dreamer",
    "dreamerv3": "DreamerV3", "alpha_zero": "AlphaZero", "alpha_star": "AlphaStar", "slateq": "SlateQ",
    "ddppo": "DDPPO", "dt": "DT", "leela_chess_zero": "LeelaChessZero",
}
# Functions whose result is (a copy of) their dict arguments merged.
_MERGES = frozenset({"deepcopy", "copy", "dict", "merge_dicts", "deep_update", "deep_merge"})
# tune entry points: the trainable is their first argument (or this keyword).
_TUNE_CALLS = frozenset({"run", "Tuner", "run_experiments", "Experiment"})
_TRAINABLE_KEYWORDS = ("run_or_experiment", "trainable", "run")
# AlgorithmConfig methods that return the config itself (a builder chain goes on).
_BUILDER_METHODS = frozenset({
    "training", "environment", "framework", "rollouts", "env_runners", "resources", "multi_agent", "evaluation",
    "debugging", "reporting", "rl_module", "callbacks", "exploration", "offline_data", "fault_tolerance",
    "checkpointing", "experimental", "learners", "api_stack", "python_environment", "copy", "update_from_dict",
})
# Legacy-stack switches (method -> keywords) a rewritten builder chain drops when they are
# ``False``: this project's AlgorithmConfig raises on them (it has only the RLModule stack).
_STACK_SWITCHES = {
    "rl_module": ("_enable_rl_module_api",),
    "training": ("_enable_learner_api",),
    "api_stack": ("enable_rl_module_and_learner", "enable_env_runner_and_connector_v2"),
    "experimental": ("_enable_new_api_stack",),
}
_SWITCH_TRIGGERS = tuple(keyword.encode() for keywords in _STACK_SWITCHES.values() for keyword in keywords)
# Kinds of ``RepoIndex.legacy_models`` the models rule leaves as they are, and why.
_KIND_WHY = {
    "tf_recurrent": "a TF RecurrentNetwork, which the models rule leaves a legacy ModelV2",
    "unsupported": "a model of an algorithm or a built-in model this project has no RLModule for",
}
_CUSTOM_TRAINER = "custom trainer {}"
_DIST_API = "from_logits, sample, logp, entropy, kl, required_input_dim, to_deterministic"


def _label(algorithm: str) -> str:
    """How a TODO names an algorithm: ``DQN``, ``the custom trainer MyTrainer``."""
    return algorithm if algorithm in RLLIB_ALGORITHMS else f"the {algorithm}"


def _string(node: Optional[cst.CSTNode]) -> Optional[str]:
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _dict_entry(node: cst.Dict, key: str) -> Optional[cst.DictElement]:
    for element in node.elements:
        if isinstance(element, cst.DictElement) and _string(element.key) == key:
            return element
    return None


def _custom_model_entry(model: Optional[cst.BaseExpression]) -> Optional[cst.DictElement]:
    """The ``"custom_model": "<name>"`` entry of a ``model`` dict literal, if any."""
    if isinstance(model, cst.Dict):
        entry = _dict_entry(model, "custom_model")
        if entry is not None and _string(entry.value) is not None:
            return entry
    return None


def _custom_model(model: Optional[cst.BaseExpression]) -> Optional[str]:
    entry = _custom_model_entry(model)
    return _string(entry.value) if entry is not None else None


def _is_registration(call: cst.Call) -> bool:
    return dotted(call.func).endswith("ModelCatalog.register_custom_model") and len(call.args) >= 2


def _is_dist_registration(call: cst.Call) -> bool:
    return dotted(call.func).endswith("ModelCatalog.register_custom_action_dist") and len(call.args) >= 2


def _algorithm(name: str) -> Optional[str]:
    """RLlib's spelling of algorithm ``name`` (``"ppo"``, ``"PPO"``, ``"Impala"``), if any."""
    return _BY_KEY.get(_key(name)) if name else None


def _class_algorithm(path: str) -> Optional[str]:
    """The algorithm of a trainer / algorithm / config class path (``PPOTrainer``,
    ``ppo.PPO``, ``DQNConfig``), or of an algorithm module's ``DEFAULT_CONFIG``."""
    parts = path.split(".")
    last = parts[-1]
    if last == "DEFAULT_CONFIG":
        for index in range(len(parts) - 2, -1, -1):
            name = _MODULES.get(parts[index])
            if name is not None:
                if name == "APEX" and index and parts[index - 1] == "ddpg":
                    return "APEX_DDPG"
                return name
        return None
    for suffix in ("Trainer", "Config", "Algorithm", ""):
        if last.endswith(suffix) and len(last) > len(suffix):
            found = _algorithm(last[: len(last) - len(suffix)] if suffix else last)
            if found is not None:
                return found
    return None


def _class_names(node: cst.BaseExpression) -> Optional[List[str]]:
    """The class names a registered class expression can be (``None``: not names)."""
    if isinstance(node, (cst.Name, cst.Attribute)) and dotted(node):
        return [dotted(node)]
    if isinstance(node, cst.IfExp):
        body, orelse = _class_names(node.body), _class_names(node.orelse)
        return body + orelse if body is not None and orelse is not None else None
    return None


# ------------------------------------------------------------------------------------------
# The survey: parents, scopes, registrations, uses, assignments, imports
# ------------------------------------------------------------------------------------------
_LAYOUT = frozenset({
    "whitespace", "whitespace_before", "whitespace_after", "leading_lines", "lines_after_decorators", "header",
    "footer", "semicolon", "comma", "lpar", "rpar",
})
_CHILD_FIELDS: Dict[type, Tuple[str, ...]] = {}
_STATEMENT_TYPES = frozenset({
    cst.SimpleStatementLine, cst.FunctionDef, cst.ClassDef, cst.If, cst.For, cst.While, cst.With, cst.Try,
    cst.TryStar, cst.Match,
})
# Parents under which a ``Name`` is not a read of a variable.
_NOT_LOADS = frozenset({
    cst.AssignTarget, cst.Param, cst.ImportAlias, cst.AsName, cst.FunctionDef, cst.ClassDef, cst.Global,
    cst.Nonlocal, cst.NameItem,
})


def _children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    kind = type(node)
    names = _CHILD_FIELDS.get(kind)
    if names is None:
        names = _CHILD_FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind) if f.name not in _LAYOUT)
    for name in names:
        value = getattr(node, name)
        if type(value) in NODE_TYPES:
            yield value
        elif type(value) is tuple or type(value) is list:
            yield from value


@dataclass(eq=False)
class _Registration:
    call: cst.Call
    name: Optional[str]
    cls: cst.BaseExpression
    scope: int


@dataclass(eq=False)
class _Use:
    """A ``"custom_model": "<name>"`` entry."""

    element: cst.DictElement
    name: str
    scope: int
    statement: Optional[cst.CSTNode]


@dataclass
class _Survey:
    module: cst.Module
    parent: Dict[int, cst.CSTNode] = field(default_factory=dict)
    scope: Dict[int, int] = field(default_factory=dict)  # id(node) -> id(enclosing FunctionDef or Module)
    registrations: List[_Registration] = field(default_factory=list)
    uses: List[_Use] = field(default_factory=list)
    dist_uses: List[cst.DictElement] = field(default_factory=list)  # "custom_action_dist" entries
    assigned: Dict[Tuple[int, str], List[cst.BaseExpression]] = field(default_factory=dict)
    loads: Dict[Tuple[int, str], List[cst.Name]] = field(default_factory=dict)
    load_scopes: Dict[str, List[int]] = field(default_factory=dict)  # name -> scopes that read it
    imports: Dict[str, str] = field(default_factory=dict)  # bound name -> dotted origin
    class_bases: Dict[str, List[str]] = field(default_factory=dict)
    calls: Dict[str, List[cst.Call]] = field(default_factory=dict)  # calls of a bare function name
    functions: Dict[int, cst.FunctionDef] = field(default_factory=dict)  # scope id -> its function
    returns: Dict[str, List[cst.BaseExpression]] = field(default_factory=dict)  # function name -> returned values
    spec_items: Set[Tuple[int, str]] = field(default_factory=set)  # (scope, target) with ["rl_module_spec"] set

    def __post_init__(self) -> None:
        module_id = id(self.module)
        stack: List[Tuple[cst.CSTNode, Optional[cst.CSTNode], int]] = [(self.module, None, module_id)]
        while stack:
            node, parent, scope = stack.pop()
            if parent is not None:
                self.parent[id(node)] = parent
            self.scope[id(node)] = scope
            self._note(node, parent, scope)
            inner = id(node) if type(node) is cst.FunctionDef else scope
            for child in reversed(list(_children(node))):
                # decorators, defaults and annotations belong to the enclosing scope
                stack.append((child, node, inner if child is getattr(node, "body", None) else scope))

    def _note(self, node: cst.CSTNode, parent: Optional[cst.CSTNode], scope: int) -> None:
        kind = type(node)
        if kind is cst.Call:
            if _is_registration(node):
                self.registrations.append(_Registration(node, _string(node.args[0].value), node.args[1].value, scope))
            if type(node.func) is cst.Name:
                self.calls.setdefault(node.func.value, []).append(node)
        elif kind is cst.DictElement:
            key = _string(node.key)
            if key == "custom_model" and _string(node.value) is not None and not self._in_spec(parent):
                self.uses.append(_Use(node, _string(node.value), scope, None))
            elif key == "custom_action_dist":
                self.dist_uses.append(node)
        elif kind is cst.Assign:
            for target in node.targets:
                self._assign(target.target, node.value, scope)
        elif kind is cst.AnnAssign and node.value is not None:
            self._assign(node.target, node.value, scope)
        elif kind is cst.Name:
            if parent is None or type(parent) in _NOT_LOADS:
                return
            if (type(parent) is cst.Attribute and parent.attr is node) or (type(parent) is cst.Arg and parent.keyword is node):
                return
            if type(parent) is cst.AnnAssign and parent.target is node:
                return
            key = (scope, node.value)
            if key not in self.loads:
                self.load_scopes.setdefault(node.value, []).append(scope)
            self.loads.setdefault(key, []).append(node)
        elif kind in (cst.Import, cst.ImportFrom):
            for module, name, asname in bound_imports(node):
                if name is not None:
                    self.imports[asname or name] = f"{module}.{name}"
                elif asname is not None:
                    self.imports[asname] = module
        elif kind is cst.ClassDef:
            self.class_bases[node.name.value] = [dotted(arg.value) for arg in node.bases if arg.keyword is None]
        elif kind is cst.FunctionDef:
            self.functions[id(node)] = node
        elif kind is cst.Return and node.value is not None and scope in self.functions:
            self.returns.setdefault(self.functions[scope].name.value, []).append(node.value)

    def _in_spec(self, model: Optional[cst.CSTNode]) -> bool:
        """A model dict that is a module spec's ``model_config_dict`` (migrated already)."""
        arg = self.parent.get(id(model))
        return type(arg) is cst.Arg and arg.keyword is not None and arg.keyword.value == "model_config_dict"

    def _assign(self, target: cst.BaseExpression, value: cst.BaseExpression, scope: int) -> None:
        if isinstance(target, cst.Name):
            self.assigned.setdefault((scope, target.value), []).append(value)
        elif isinstance(target, cst.Subscript) and len(target.slice) == 1:
            index = target.slice[0].slice
            if isinstance(index, cst.Index) and _string(index.value) == "rl_module_spec":
                self.spec_items.add((scope, self.code(target.value)))

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def statement_of(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        current: Optional[cst.CSTNode] = node
        while current is not None and type(current) not in _STATEMENT_TYPES:
            current = self.parent.get(id(current))
        return current

    def is_module_scope(self, scope: int) -> bool:
        return scope == id(self.module)


# ------------------------------------------------------------------------------------------
# Which algorithm a config goes to
# ------------------------------------------------------------------------------------------
class _Algorithms:
    """Algorithms read from where a config comes from and where it goes (a set of
    RLlib names, or ``the custom trainer X``; empty when the file does not show it)."""

    def __init__(self, survey: _Survey) -> None:
        self.s = survey

    def of_site(self, node: cst.CSTNode) -> Set[str]:
        seen: Set[Tuple[str, int]] = set()
        return self.origin(node, seen) | self.sinks(node, seen)

    def of_chain(self, call: cst.Call) -> Set[str]:
        """A builder call (``.training(...)``): the chain's root (``PPOConfig()``, or
        what a root variable was assigned) decides; where the root says nothing, the
        root variable's other uses and where the chain goes (a function returning it to
        callers that also call other config functions must not borrow their algorithms)."""
        seen: Set[Tuple[str, int]] = set()
        found = self.origin(call, seen)
        if found:
            return found
        root = call
        while isinstance(root, cst.Call) and isinstance(root.func, cst.Attribute):
            root = root.func.value
        if isinstance(root, cst.Name):
            found |= self.variable(root, seen)
        return found | self.sinks(self.top_of_chain(call), seen)

    def top_of_chain(self, call: cst.Call) -> cst.Call:
        """The outermost call of the builder chain ``call`` is part of."""
        top = call
        while True:
            parent = self.s.parent.get(id(top))
            grand = self.s.parent.get(id(parent)) if parent is not None else None
            if type(parent) is cst.Attribute and parent.value is top and type(grand) is cst.Call and grand.func is parent:
                top = grand
            else:
                return top

    def variable(self, name: cst.Name, seen: Set[Tuple[str, int]]) -> Set[str]:
        """Everything assigned to the variable ``name`` reads and every read of it leads to."""
        key = ("variable", id(name))
        if key in seen:
            return set()
        seen.add(key)
        found = self.origin(name, seen)
        for load in self._loads(name.value, self.s.scope.get(id(name), id(self.s.module))):
            found |= self.sinks(load, seen)
        return found

    def _scopes(self, name: str, scope: int) -> List[int]:
        if (scope, name) in self.s.assigned or self.s.is_module_scope(scope):
            return [scope]
        return [id(self.s.module)]

    def _values(self, name: str, scope: int) -> List[cst.BaseExpression]:
        return [v for s in self._scopes(name, scope) for v in self.s.assigned.get((s, name), [])]

    def _loads(self, name: str, scope: int) -> List[cst.Name]:
        scopes = self._scopes(name, scope)
        loads = [n for s in scopes for n in self.s.loads.get((s, name), [])]
        if self.s.is_module_scope(scopes[0]):  # a module-level name, read in functions that do not bind it
            loads += [
                n for s in self.s.load_scopes.get(name, [])
                if not self.s.is_module_scope(s) and (s, name) not in self.s.assigned
                for n in self.s.loads[(s, name)]
            ]
        return loads

    def _resolve(self, path: str) -> str:
        head, _, rest = path.partition(".")
        origin = self.s.imports.get(head)
        if origin is None:
            return path
        return f"{origin}.{rest}" if rest else origin

    # -- where a config comes from ---------------------------------------------------------
    def origin(self, node: cst.CSTNode, seen: Set[Tuple[str, int]]) -> Set[str]:
        key = ("origin", id(node))
        if key in seen:
            return set()
        seen.add(key)
        kind = type(node)
        if kind is cst.Call:
            path = dotted(node.func)
            last = path.split(".")[-1] if path else ""
            if last == "AlgorithmConfig":
                algo = next((a.value for a in node.args if a.keyword and a.keyword.value == "algo_class"), None)
                return self.trainable(algo, seen) if algo is not None else set()
            if last == "get_trainable_cls" and node.args:
                return self.trainable(node.args[0].value, seen)
            if last.endswith("Config") and _class_algorithm(self._resolve(path)):
                return {_class_algorithm(self._resolve(path))}
            if last in _MERGES and (type(node.func) is cst.Name or path.split(".")[0] in ("copy", "ray")):
                return set().union(*(self.origin(a.value, seen) for a in node.args if a.keyword is None))
            if type(node.func) is cst.Attribute:
                return self.origin(node.func.value, seen)
            if type(node.func) is cst.Name and node.func.value in self.s.returns:  # a function of this file
                return set().union(*(self.origin(v, seen) for v in self.s.returns[node.func.value]))
            return set()
        if kind is cst.Name:
            scope = self.s.scope.get(id(node), id(self.s.module))
            values = self._values(node.value, scope)
            if values:
                return set().union(*(self.origin(v, seen) for v in values))
        if kind in (cst.Name, cst.Attribute):
            path = self._resolve(dotted(node))
            last = path.split(".")[-1]
            # a config object: an algorithm module's DEFAULT_CONFIG, or a config class (PPOConfig.from_dict)
            found = _class_algorithm(path) if last == "DEFAULT_CONFIG" or last.endswith("Config") else None
            return {found} if found else set()
        if kind is cst.Dict:
            return set().union(
                *(self.origin(e.value, seen) for e in node.elements if type(e) is cst.StarredDictElement)
            )
        return set()

    # -- where a config goes ---------------------------------------------------------------
    def sinks(self, node: cst.CSTNode, seen: Set[Tuple[str, int]]) -> Set[str]:
        key = ("sinks", id(node))
        if key in seen:
            return set()
        seen.add(key)
        parent = self.s.parent.get(id(node))
        while type(parent) in (cst.IfExp, cst.BooleanOperation) and parent is not None:
            if type(parent) is cst.IfExp and parent.test is node:
                return set()
            node, parent = parent, self.s.parent.get(id(parent))
        kind = type(parent)
        if kind is cst.Arg and parent.value is node:
            call = self.s.parent.get(id(parent))
            return self._consumer(call, parent, seen) if type(call) is cst.Call else set()
        if kind is cst.Attribute and parent.value is node:
            call = self.s.parent.get(id(parent))
            if type(call) is cst.Call and call.func is parent and parent.attr.value in _BUILDER_METHODS | {"to_dict"}:
                return self.sinks(call, seen)
            return set()
        if kind is cst.Assign and parent.value is node:
            found: Set[str] = set()
            for target in parent.targets:
                if isinstance(target.target, cst.Name):
                    found |= self.variable(target.target, seen)
            return found
        if kind is cst.DictElement and parent.value is node:
            outer = self.s.parent.get(id(parent))
            if _string(parent.key) == "config" and type(outer) is cst.Dict:
                run = _dict_entry(outer, "run")
                if run is not None:
                    return self.trainable(run.value, seen)
            return self.of_site_seen(outer, seen) if type(outer) is cst.Dict else set()
        if kind is cst.StarredDictElement:
            outer = self.s.parent.get(id(parent))
            return self.of_site_seen(outer, seen) if type(outer) is cst.Dict else set()
        if kind is cst.Return:
            function = self.s.parent.get(id(parent))
            while function is not None and type(function) is not cst.FunctionDef:
                function = self.s.parent.get(id(function))
            if function is None:
                return set()
            return set().union(*(self.sinks(c, seen) for c in self.s.calls.get(function.name.value, [])))
        return set()

    def of_site_seen(self, node: cst.CSTNode, seen: Set[Tuple[str, int]]) -> Set[str]:
        return self.origin(node, seen) | self.sinks(node, seen)

    def _consumer(self, call: cst.Call, arg: cst.Arg, seen: Set[Tuple[str, int]]) -> Set[str]:
        path = dotted(call.func)
        last = path.split(".")[-1] if path else ""
        if last in _TUNE_CALLS and "tune" in self._resolve(path).split("."):
            positional = [a for a in call.args if a.keyword is None]
            trainable = positional[0] if positional and positional[0] is not arg else None
            if trainable is None:
                trainable = next(
                    (a for a in call.args if a.keyword and a.keyword.value in _TRAINABLE_KEYWORDS and a is not arg), None
                )
            # run_experiments({"name": {"run": ..., "config": ...}}) is read at its "config" entry
            return self.trainable(trainable.value, seen) if trainable is not None else set()
        if last in ("from_dict", "update_from_dict", "update") and type(call.func) is cst.Attribute:
            receiver = call.func.value
            found = self.origin(receiver, seen)
            if isinstance(receiver, cst.Name):
                found |= self.variable(receiver, seen)
            return found
        if last in _MERGES:
            found = set().union(*(self.origin(a.value, seen) for a in call.args if a is not arg and a.keyword is None))
            return found | self.sinks(call, seen)
        return self.trainable(call.func, seen)

    def trainable(self, node: cst.BaseExpression, seen: Set[Tuple[str, int]]) -> Set[str]:
        """The algorithm a trainable expression runs: a registry string, a trainer /
        algorithm class, ``get_trainable_cls(...)``, a custom trainer."""
        key = ("trainable", id(node))
        if key in seen:
            return set()
        seen.add(key)
        text = _string(node)
        if text is not None:
            name = text.split("/")[-1]
            return {_algorithm(name) or f"trainable {text!r}"}
        if isinstance(node, cst.Call):
            path = dotted(node.func)
            last = path.split(".")[-1] if path else ""
            if last == "get_trainable_cls" and node.args:
                return self.trainable(node.args[0].value, seen)
            if last in ("build_trainer", "build_algorithm", "with_updates"):
                return {_CUSTOM_TRAINER.format(f"built by {last}(...)")}
            return set()
        path = dotted(node)
        if not path:
            return set()
        if isinstance(node, cst.Name):
            if self._is_trainer_class(node.value):
                return {_CUSTOM_TRAINER.format(node.value)}
            values = self._values(node.value, self.s.scope.get(id(node), id(self.s.module)))
            if values:
                found = set().union(*(self.trainable(v, seen) for v in values))
                return {_CUSTOM_TRAINER.format(node.value) if f.startswith("custom trainer built") else f for f in found}
        found = _class_algorithm(self._resolve(path))
        return {found} if found else set()

    def _is_trainer_class(self, name: str) -> bool:
        """A class of this file deriving from a trainer / algorithm class."""
        for base in self.s.class_bases.get(name, []):
            last = base.split(".")[-1]
            if last in ("Trainer", "Algorithm") or (last != name and self._is_trainer_class(last)):
                return True
            if _class_algorithm(self._resolve(base)) and not last.endswith("Config"):
                return True
        return False


# ------------------------------------------------------------------------------------------
# The rule
# ------------------------------------------------------------------------------------------
@dataclass
class _Decision:
    """What happens to one config site: ``specs`` (custom_model name -> class code) when
    it is rewritten, else ``None``; the TODOs for the config; the ``algorithms`` it goes to."""

    specs: Optional[Dict[str, str]]
    todos: List[str] = field(default_factory=list)
    algorithms: Set[str] = field(default_factory=set)


# TODO texts are written for this project's stack; under ``--target rllib`` they name RLlib 2.60's.
_RETARGET = (
    (re.compile(r"SingleAgentRLModuleSpec\(module_class=([^,()]+), model_config_dict=([^()]+)\)"),
     r"RLModuleSpec(module_class=RLlibAdapter, model_config=adapter_model_config(\1, \2))"),
    (re.compile(r"SingleAgentRLModuleSpec\(module_class=([^,()]+)\)"),
     r"RLModuleSpec(module_class=RLlibAdapter, model_config=adapter_model_config(\1, <its model dict>))"),
    (re.compile(r"SingleAgentRLModuleSpec\(catalog_class="), "RLModuleSpec(catalog_class="),
    (re.compile(r"MultiAgentRLModuleSpec\(module_specs="), "MultiRLModuleSpec(rl_module_specs="),
    (re.compile(r"MultiAgentRLModuleSpec"), "MultiRLModuleSpec"),
    (re.compile(r"_enable_rl_module_api=True, "), ""),
    (re.compile(r"this project refuses custom_model without a module class"), "RLlib 2.60's new API stack refuses custom_model"),
    (re.compile(r"not available on the RLModule stack of this project"), "not served by compat.rllib's adapter"),
    (re.compile(r"is not available on the RLModule stack of this project"), "is not served by compat.rllib's adapter"),
)


def retarget(message: str) -> str:
    """A TODO text of the default target, with RLlib 2.60's names (``--target rllib``)."""
    for pattern, replacement in _RETARGET:
        message = pattern.sub(replacement, message)
    return message


def _without_entry(model: cst.Dict, key: str) -> cst.Dict:
    """Dict literal ``model`` without its ``key`` entry (the last one left keeps the
    removed one's comma when that was last)."""
    elements = list(model.elements)
    index = next(i for i, e in enumerate(elements) if isinstance(e, cst.DictElement) and _string(e.key) == key)
    gone = elements.pop(index)
    if index == len(elements) and elements:
        elements[-1] = elements[-1].with_changes(comma=gone.comma)
    return model.with_changes(elements=elements)


def _renamed_keys(node: cst.Dict) -> cst.Dict:
    """A config dict literal with RLlib 2.60's names for its legacy keys (``--target rllib``;
    a key whose new name is there already stays)."""
    keys = {_string(e.key) for e in node.elements if isinstance(e, cst.DictElement)}
    elements = []
    for element in node.elements:
        key = _string(element.key) if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString) else None
        new = rllib.LEGACY_KEYS.get(key) if key is not None else None
        if new is not None and new not in keys:
            quote = element.key.value[len(element.key.prefix)]
            element = element.with_changes(key=element.key.with_changes(value=f"{quote}{new}{quote}"))
        elements.append(element)
    return node.with_changes(elements=elements)


class Configs(Rule):
    name = "configs"
    summary = "register_custom_model + custom_model configs -> rl_module(rl_module_spec=...) specs"
    order = 40
    triggers = (
        b'"custom_model"', b"'custom_model'", b"register_custom_model", b"custom_action_dist",
        *_SWITCH_TRIGGERS,
    )
    target_triggers = {"rllib": (b".rollouts(", *(key.encode() for key in rllib.LEGACY_KEYS))}

    def visit_Module(self, node: cst.Module) -> None:
        self.survey = _Survey(node)
        self.algorithms = _Algorithms(self.survey)
        for use in self.survey.uses:
            use.statement = self.survey.statement_of(use.element)
        self.uses_by_statement: Dict[int, List[_Use]] = {}
        for use in self.survey.uses:
            if use.statement is not None:
                self.uses_by_statement.setdefault(id(use.statement), []).append(use)
        self.use_by_element = {id(use.element): use for use in self.survey.uses}
        self.uses_by_name: Dict[str, List[_Use]] = {}
        for use in self.survey.uses:
            self.uses_by_name.setdefault(use.name, []).append(use)
        self.registrations_by_name: Dict[Optional[str], List[_Registration]] = {}
        for registration in self.survey.registrations:
            self.registrations_by_name.setdefault(registration.name, []).append(registration)
        self.dists_by_statement: Dict[int, List[cst.DictElement]] = {}
        for element in self.survey.dist_uses:
            statement = self.survey.statement_of(element)
            if statement is not None:
                self.dists_by_statement.setdefault(id(statement), []).append(element)
        self.dist_names_flagged: Set[Optional[str]] = set()
        self.rewritten: Set[int] = set()  # id(use.element)
        self.handled: Set[int] = set()  # uses rewritten or flagged at their config
        self.kept_for: Dict[int, str] = {}  # id(use.element) -> why its config stays as it is
        self.spec_names: Set[str] = set()
        self.in_multi_agent = 0
        self.has_rl_module: Set[int] = set()
        self.item_sites: Dict[int, Tuple[str, str]] = {}  # id(Assign) -> (target code, spec)
        self.rewritten_chains: Set[int] = set()  # id(last call) of builder chains given a spec
        self.switch_source = any(t in self.context.source for t in _SWITCH_TRIGGERS)
        self.collapsed: Dict[int, cst.BaseExpression] = {}  # chains left as their root (``config``)
        self.rllib = self.context.target == "rllib"

    # -- classes and registrations ----------------------------------------------------------
    def serving(self, use: _Use) -> List[_Registration]:
        """The registrations a use relies on: its function's own, else every one of its name."""
        named = self.registrations_by_name.get(use.name, [])
        own = [r for r in named if r.scope == use.scope]
        return own or named

    def served(self, registration: _Registration) -> List[_Use]:
        return [
            u for u in self.uses_by_name.get(registration.name, [])
            if any(r is registration for r in self.serving(u))
        ]

    def class_problem(self, registration: _Registration) -> Optional[str]:
        """Why the registered class does not become an RLModule (``None``: it does)."""
        names = _class_names(registration.cls)
        code = self.survey.code(registration.cls)
        if names is None:
            return f"{code} is not a class name the codemod can look up"
        for name in names:
            kind = self.context.repo.legacy_models.get(name.split(".")[-1])
            if kind is None:
                return f"{name} is not a legacy model class of this repository (defined outside it?)"
            if not self.context.repo.converts(name):
                return f"{name} stays a legacy ModelV2 ({_KIND_WHY.get(kind, f'kind {kind!r}')})"
            if self.rllib and kind in rllib.UNADAPTABLE_KINDS:
                return f"{name} is {rllib.UNADAPTABLE_KINDS[kind]}"
        return None

    def _use_class(self, use: _Use) -> Tuple[Optional[str], Optional[str]]:
        """``(class code, None)`` for a use whose config can name its class, else
        ``(None, TODO text for the config)``."""
        registrations = self.serving(use)
        if not registrations:
            return None, (
                f"custom_model {use.name!r} is not registered in this file: if its class becomes an RLModule, "
                "pass .rl_module(_enable_rl_module_api=True, rl_module_spec=SingleAgentRLModuleSpec(module_class=<that "
                "class>)) here, else keep this config on ray's RLlib (this project refuses custom_model without a module class)"
            )
        classes = sorted({self.survey.code(r.cls) for r in registrations})
        if len(classes) > 1:
            return None, (
                f"custom_model {use.name!r} is registered with different classes in this file ({', '.join(classes)}): "
                "pass rl_module_spec=SingleAgentRLModuleSpec(module_class=<the one this config means>) here"
            )
        problem = self.class_problem(registrations[0])
        if problem is not None:
            return None, (
                f"custom_model {use.name!r} stays legacy: {problem}; this project refuses custom_model without a module class: run this config "
                "on ray's RLlib (its algorithm import included), or port the class to an RLModule and pass it as "
                "rl_module_spec"
            )
        return classes[0], None

    # -- one decision per config site --------------------------------------------------------
    def decide(self, uses: List[_Use], algorithms: Set[str]) -> _Decision:
        unsupported = sorted(a for a in algorithms if a not in SUPPORTED_ALGORITHMS)
        self.handled.update(id(u.element) for u in uses)
        specs: Dict[str, str] = {}
        problems: List[str] = []
        for use in uses:
            cls, problem = self._use_class(use)
            if cls is None:
                problems.append(problem)
            else:
                specs[use.name] = cls
        if unsupported:
            for use in uses:
                self.kept_for[id(use.element)] = " / ".join(unsupported)
            if not specs:  # legacy classes on a legacy algorithm: this config works as before
                return _Decision(None)
            classes = ", ".join(sorted(set(specs.values())))
            return _Decision(None, [
                f"{' / '.join(map(_label, unsupported))} is not available on the RLModule stack of this project: "
                f"this config keeps the legacy custom_model, but {classes} becomes an RLModule, which legacy RLlib cannot build: keep a "
                f"legacy ModelV2 copy of it for this config, or move the config to {', '.join(SUPPORTED_ALGORITHMS)}"
            ])
        if problems:
            for use in uses:
                self.kept_for.setdefault(id(use.element), "")
            return _Decision(None, problems)
        self.rewritten.update(id(u.element) for u in uses)
        todos = []
        if not algorithms:
            todos.append(
                "the algorithm this config goes to could not be determined: the rl_module_spec works only with "
                f"{', '.join(SUPPORTED_ALGORITHMS)} (another algorithm needs the legacy custom_model and a legacy "
                "ModelV2 class)" + ("; APPO needs module_class=RLlibTargetAdapter" if self.rllib else "")
            )
        return _Decision(specs, todos, set(algorithms))

    def _apply(self, decision: _Decision) -> None:
        for todo in decision.todos:
            self.flag(todo, ANCHOR)

    def flag(self, message: str, anchor: str, statement: Optional[cst.CSTNode] = None) -> None:
        super().flag(retarget(message) if self.rllib else message, anchor, statement)

    def _spec(self, cls: str, model: Optional[cst.BaseExpression], algorithms: Set[str]) -> str:
        """The spec of one module: this project's ``SingleAgentRLModuleSpec(module_class=Cls)``
        (its model dict stays where it is), or under ``--target rllib`` RLlib's
        ``RLModuleSpec`` of the adapter for ``algorithms`` (``RLlibTargetAdapter`` for APPO)
        given ``Cls`` and the model dict without ``custom_model``."""
        if not self.rllib:
            self.spec_names.add("SingleAgentRLModuleSpec")
            return f"SingleAgentRLModuleSpec(module_class={cls})"
        adapter = rllib.adapter_for(algorithms)
        self.spec_names.update(("RLModuleSpec", adapter, "adapter_model_config"))
        rest = _without_entry(model, "custom_model") if isinstance(model, cst.Dict) else cst.Dict([])
        return f"RLModuleSpec(module_class={adapter}, model_config=adapter_model_config({cls}, {self.module_code(rest)}))"

    def _chain_renames(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        """``--target rllib``: a builder call of an RLlib config chain with RLlib 2.60's
        method (``rollouts`` -> ``env_runners``) and keyword names (``rllib.LEGACY_KEYS``)."""
        func = updated_node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in _BUILDER_METHODS | set(rllib.METHODS):
            return updated_node
        renames = [a for a in updated_node.args if a.keyword is not None and a.keyword.value in rllib.LEGACY_KEYS]
        if not renames and func.attr.value not in rllib.METHODS:
            return updated_node
        algorithms = self.algorithms.of_chain(original_node)
        if not algorithms or not algorithms <= set(RLLIB_ALGORITHMS):
            return updated_node
        present = {a.keyword.value for a in updated_node.args if a.keyword is not None}
        renamed = {id(a) for a in renames if rllib.LEGACY_KEYS[a.keyword.value] not in present}
        args = [
            a.with_changes(keyword=a.keyword.with_changes(value=rllib.LEGACY_KEYS[a.keyword.value]))
            if id(a) in renamed else a
            for a in updated_node.args
        ]
        method = rllib.METHODS.get(func.attr.value, func.attr.value)
        self.changed()
        return updated_node.with_changes(func=func.with_changes(attr=cst.Name(method)), args=args)

    def _policy_config(self, node: cst.CSTNode) -> bool:
        """Whether a config dict is one policy's config outside ``.multi_agent(...)``:
        the last item of a legacy 4-tuple, a ``PolicySpec``'s config, or anything inside
        a legacy ``"multiagent"`` / ``"policies"`` dict entry."""
        parent = self.survey.parent.get(id(node))
        if type(parent) is cst.Element:
            outer = self.survey.parent.get(id(parent))
            if type(outer) is cst.Tuple and len(outer.elements) == 4 and outer.elements[3] is parent:
                return True
        if type(parent) is cst.Arg:
            call = self.survey.parent.get(id(parent))
            if type(call) is cst.Call and dotted(call.func).endswith("PolicySpec"):
                return True
        current = parent
        while current is not None and type(current) not in _STATEMENT_TYPES:
            if type(current) is cst.DictElement and _string(current.key) in ("multiagent", "policies"):
                return True
            current = self.survey.parent.get(id(current))
        return False

    # -- builder chains -----------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "multi_agent":
            self.in_multi_agent += 1
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "rl_module" \
                and len(_switches(node, self.context.target)) < len(node.args):
            self.has_rl_module.add(id(node.func.value))  # already migrated: a re-run adds nothing

    def _action_dist_todo(self, element: cst.DictElement) -> Optional[str]:
        """The TODO for a ``"custom_action_dist"`` entry (``None`` when its config stays
        legacy, where the distribution still works)."""
        shown = self.survey.code(element.value)
        model = self.survey.parent.get(id(element))
        entry = _custom_model_entry(model) if isinstance(model, cst.Dict) else None
        if entry is None:
            return (
                f"custom_action_dist {shown} has no RLModule equivalent (this project refuses it without a module class): drop it from this "
                f"model dict, port the ActionDistribution to an rlmodule.distribution.Distribution subclass ({_DIST_API}), "
                "return that class from get_action_dist_cls(framework) of a subclass of the algorithm's catalog (e.g. "
                "PPOCatalog; it sizes the action head by required_input_dim) and pass .rl_module(_enable_rl_module_api="
                "True, rl_module_spec=SingleAgentRLModuleSpec(catalog_class=<that catalog>))"
            )
        if id(entry) in self.kept_for:
            return None
        classes = sorted({self.survey.code(r.cls) for r in self.serving(self.use_by_element[id(entry)])})
        cls = classes[0] if len(classes) == 1 else "<the module class>"
        return (
            f"custom_action_dist {shown} has no RLModule equivalent (a migrated model refuses to build with it: "
            "legacy_num_outputs cannot size it): drop it from this model dict, port the ActionDistribution to an "
            f"rlmodule.distribution.Distribution subclass ({_DIST_API}), and in {cls}.setup(), after "
            "legacy_model_args(self), set self.action_dist_cls = <that class> and num_outputs = self.num_outputs = "
            "<that class>.required_input_dim(action_space) (or override get_train/exploration/inference_action_dist_cls)"
        )

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if self.rllib:
            updated_node = self._chain_renames(original_node, updated_node)
        result = self._leave_call(original_node, updated_node)
        if id(original_node) in self.rewritten_chains or self._switched_chain(original_node):
            result = _without_switches(result, self.context.target)  # the chain's last call: all of it is built
            if not isinstance(result, cst.Call):  # the chain was nothing but switches
                self.collapsed[id(result)] = result
            self.changed()
        return result

    def _switched_chain(self, call: cst.Call) -> bool:
        """Whether ``call`` is the last call of a builder chain with ``False`` legacy-stack
        switches, no ``custom_model`` config kept legacy, going to an algorithm this
        project has (``PPOConfig().training(lr=1e-3).rl_module(_enable_rl_module_api=False)``)."""
        if not self.switch_source or not isinstance(call.func, cst.Attribute):
            return False
        calls: List[cst.Call] = []
        node: cst.BaseExpression = call
        while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            calls.append(node)
            node = node.func.value
        if not any(_switches(c, self.context.target) for c in calls) or self.algorithms.top_of_chain(call) is not call:
            return False
        if any(id(n) in self.use_by_element and id(n) not in self.rewritten for n in walk(call)):
            return False  # a custom_model config that stays on ray's RLlib
        algorithms = self.algorithms.of_chain(calls[-1])
        return bool(algorithms) and algorithms <= set(SUPPORTED_ALGORITHMS)

    def _leave_call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = updated_node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "multi_agent":
            self.in_multi_agent -= 1
        if not isinstance(func, cst.Attribute):
            return updated_node
        if id(original_node) in self.has_rl_module:
            self._migrated_already(
                self.use_by_element[id(n)] for n in walk(original_node) if id(n) in self.use_by_element
            )
            return updated_node
        if func.attr.value == "training":
            model = next((a.value for a in original_node.args if a.keyword and a.keyword.value == "model"), None)
            entry = _custom_model_entry(model)
            if entry is None or id(entry) not in self.use_by_element:
                return updated_node
            decision = self.decide([self.use_by_element[id(entry)]], self.algorithms.of_chain(original_node))
            self._apply(decision)
            if decision.specs is None:
                return updated_node
            (cls,) = decision.specs.values()
            updated_node = updated_node.with_changes(args=[
                a.with_changes(value=self._options_renamed(a.value)) if a.keyword and a.keyword.value == "model" else a
                for a in updated_node.args
            ])
            self.rewritten_chains.add(id(self.algorithms.top_of_chain(original_node)))
            model_arg = next(a for a in updated_node.args if a.keyword and a.keyword.value == "model")
            spec = self._spec(cls, model_arg.value, decision.algorithms)
            if not self.rllib:
                return self._with_rl_module(updated_node, spec)
            # RLlib 2.60's new stack refuses custom_model: the model dict goes into the spec
            args, before_args = _without_args(updated_node, [model_arg])
            if not args:
                return self._with_rl_module(updated_node, spec, instead=True)
            return self._with_rl_module(updated_node.with_changes(args=args, whitespace_before_args=before_args), spec)
        if func.attr.value == "multi_agent":
            return self._multi_agent(original_node, updated_node)
        return updated_node

    def _multi_agent(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        policies = next((a.value for a in original_node.args if a.keyword and a.keyword.value == "policies"), None)
        if not isinstance(policies, cst.Dict):
            return updated_node
        uses: List[_Use] = []
        for element in policies.elements:
            if isinstance(element, cst.DictElement):
                policy_class = _policy_class(element.value)
                if policy_class is not None:
                    self.flag(
                        f"policy {self.module_code(element.key)} uses policy_class={self.module_code(policy_class)}: "
                        "move its overridden hooks into the module class of its spec",
                        ANCHOR_POLICIES,
                    )
                entry = _custom_model_entry(_policy_model(element.value))
                if entry is not None and id(entry) in self.use_by_element:
                    uses.append(self.use_by_element[id(entry)])
        if not uses:
            return updated_node
        if not all(isinstance(e, cst.DictElement) for e in policies.elements):
            self.handled.update(id(u.element) for u in uses)
            self.flag(
                "the policies dict has entries the codemod cannot read (**...): pass .rl_module(_enable_rl_module_api="
                "True, rl_module_spec=MultiAgentRLModuleSpec(module_specs={<policy id>: SingleAgentRLModuleSpec("
                "module_class=<class>, model_config_dict=<its model dict>), ...})) yourself",
                ANCHOR,
            )
            return updated_node
        decision = self.decide(uses, self.algorithms.of_chain(original_node))
        self._apply(decision)
        if decision.specs is None:
            return updated_node
        entries: List[Tuple[str, str]] = []
        for element in policies.elements:
            key = self.module_code(element.key)
            model = _policy_model(element.value)
            if isinstance(model, cst.Dict):
                model = self._options_renamed(model)
            name = _custom_model(model)
            single, model_key = ("RLModuleSpec", "model_config") if self.rllib else ("SingleAgentRLModuleSpec", "model_config_dict")
            if model is None:
                entries.append((key, f"{single}()"))
            elif name is not None and self.rllib:
                entries.append((key, self._spec(decision.specs[name], model, decision.algorithms)))
            elif name is not None:
                spec = f"{single}(module_class={decision.specs[name]}, {model_key}={self.module_code(model)})"
                entries.append((key, spec))
            else:
                entries.append((key, f"{single}({model_key}={self.module_code(model)})"))
        multi, specs_key = ("MultiRLModuleSpec", "rl_module_specs") if self.rllib else ("MultiAgentRLModuleSpec", "module_specs")
        self.spec_names.update((single, multi))
        specs = ", ".join(f"{key}: {value}" for key, value in entries)
        spec = f"{multi}({specs_key}={{{specs}}})"
        updated_policies = next(a.value for a in updated_node.args if a.keyword and a.keyword.value == "policies")
        if all(_only_config(e.value) for e in policies.elements):  # ids suffice now
            ids = cst.Set([cst.Element(e.key) for e in updated_policies.elements])
            updated_node = updated_node.with_changes(
                args=[a.with_changes(value=ids) if a.value is updated_policies else a for a in updated_node.args]
            )
        else:  # the policies keep their configs: their model dicts say what the specs say
            if self.rllib:
                self.flag(
                    "these policies keep their configs, whose model dicts name a custom_model: RLlib 2.60's new API "
                    "stack builds the modules from rl_module_spec only and refuses custom_model, drop it from them",
                    ANCHOR,
                )
            renamed = updated_policies.visit(_OptionsRenamer())
            updated_node = updated_node.with_changes(
                args=[a.with_changes(value=renamed) if a.value is updated_policies else a for a in updated_node.args]
            )
        self.rewritten_chains.add(id(self.algorithms.top_of_chain(original_node)))
        return self._with_rl_module(updated_node, spec)

    def _with_rl_module(self, call: cst.Call, spec: str, instead: bool = False) -> cst.Call:
        """``call.rl_module(...)``, on its own line when the chain has one per call, and
        inside the chain's parentheses; ``instead``: the ``rl_module`` call replaces ``call``."""
        self.changed()
        dot = call.func.dot if isinstance(call.func, cst.Attribute) else cst.Dot()
        before = dot.whitespace_before
        if isinstance(before, cst.ParenthesizedWhitespace) and not instead:  # its line break, not the comments above the call
            dot = dot.with_changes(whitespace_before=before.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[]))
        switch = "" if self.rllib else "_enable_rl_module_api=True, "
        template = cst.parse_expression(f"_.rl_module({switch}rl_module_spec={spec})")
        inner = call.func.value if instead else call.with_changes(lpar=[], rpar=[])
        return template.with_changes(
            func=cst.Attribute(inner, cst.Name("rl_module"), dot=dot), lpar=call.lpar, rpar=call.rpar
        )

    def _migrated_already(self, uses: Iterable[_Use]) -> None:
        """Uses in a config that has its spec already (a re-run): as if rewritten now."""
        for use in uses:
            self.handled.add(id(use.element))
            self.rewritten.add(id(use.element))

    def _options_renamed(self, model: cst.BaseExpression) -> cst.BaseExpression:
        """A rewritten config's model dict with ray <= 0.8.5's ``custom_options`` key
        renamed ``custom_model_config`` (where the migrated class reads its keyword
        arguments); with both keys, a TODO."""
        if not isinstance(model, cst.Dict) or _dict_entry(model, "custom_options") is None:
            return model
        if _dict_entry(model, "custom_model_config") is not None:
            self.flag(
                "this model dict has both custom_options (the ray <= 0.8.5 name) and custom_model_config; the "
                "migrated class reads its keyword arguments from custom_model_config only: move the custom_options "
                "entries into it",
                ANCHOR,
            )
            return model
        self.changed()
        return _OptionsRenamer().rename(model)

    def module_code(self, node: cst.CSTNode) -> str:
        return cst.Module(body=[]).code_for_node(node)

    # -- config dicts ------------------------------------------------------------------
    def leave_Dict(self, original_node: cst.Dict, updated_node: cst.Dict) -> cst.Dict:
        model = _dict_entry(original_node, "model")
        if model is None or self.in_multi_agent:
            return updated_node
        entry = _custom_model_entry(model.value)
        if _dict_entry(original_node, "rl_module_spec") is not None or _dict_entry(original_node, rllib.SPEC_DICT_KEY) is not None:  # migrated already
            if entry is not None and id(entry) in self.use_by_element:
                self._migrated_already([self.use_by_element[id(entry)]])
            return updated_node
        if entry is None or id(entry) not in self.use_by_element:
            return updated_node
        use = self.use_by_element[id(entry)]
        if self._policy_config(original_node):
            self.handled.add(id(entry))
            self.flag(
                f"custom_model {use.name!r} in a policy config outside .multi_agent(policies={{...}}): build the config with "
                ".multi_agent(policies=...) and .rl_module(_enable_rl_module_api=True, rl_module_spec="
                "MultiAgentRLModuleSpec(module_specs={<policy id>: SingleAgentRLModuleSpec(module_class=<class>, "
                "model_config_dict=<its model dict>)}))",
                ANCHOR,
            )
            return updated_node
        decision = self.decide([use], self.algorithms.of_site(original_node))
        self._apply(decision)
        if decision.specs is None:
            return updated_node
        self.changed()
        elements = [
            e.with_changes(value=self._options_renamed(e.value))
            if isinstance(e, cst.DictElement) and _string(e.key) == "model" else e
            for e in updated_node.elements
        ]
        if self.rllib:  # the model entry becomes the spec's (RLlib 2.60 refuses custom_model)
            model_element = next(e for e in elements if isinstance(e, cst.DictElement) and _string(e.key) == "model")
            spec = self._spec(decision.specs[use.name], model_element.value, decision.algorithms)
            quote = model_element.key.value[len(model_element.key.prefix)] if isinstance(model_element.key, cst.SimpleString) else '"'
            replaced = model_element.with_changes(
                key=cst.SimpleString(f"{quote}{rllib.SPEC_DICT_KEY}{quote}"), value=cst.parse_expression(spec)
            )
            return _renamed_keys(updated_node.with_changes(elements=[replaced if e is model_element else e for e in elements]))
        spec = self._spec(decision.specs[use.name], None, decision.algorithms)
        last = elements[-1]
        # New entries follow the layout of the existing ones (one per line or inline).
        if len(elements) >= 2 and isinstance(elements[-2].comma, cst.Comma):
            between = elements[-2].comma
        elif isinstance(updated_node.lbrace.whitespace_after, cst.ParenthesizedWhitespace):
            between = cst.Comma(whitespace_after=updated_node.lbrace.whitespace_after)
        else:
            between = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        elements[-1] = last.with_changes(comma=between)
        new = [
            cst.DictElement(cst.SimpleString('"_enable_rl_module_api"'), cst.Name("True"), comma=between),
            cst.DictElement(cst.SimpleString('"rl_module_spec"'), cst.parse_expression(spec), comma=last.comma),
        ]
        return updated_node.with_changes(elements=[*elements, *new])

    # -- config["model"] = {...} ---------------------------------------------------------
    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if len(original_node.targets) != 1:
            return updated_node
        target = original_node.targets[0].target
        if not (isinstance(target, cst.Subscript) and len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index)):
            return updated_node
        if _string(target.slice[0].slice.value) != "model":
            return updated_node
        entry = _custom_model_entry(original_node.value)
        if entry is None or id(entry) not in self.use_by_element:
            return updated_node
        use = self.use_by_element[id(entry)]
        holder = self.survey.code(target.value)
        if (use.scope, holder) in self.survey.spec_items:  # already migrated
            self._migrated_already([use])
            return updated_node
        if isinstance(target.value, cst.Name):
            algorithms = self.algorithms.variable(target.value, set())
        else:
            algorithms = self.algorithms.of_site(target.value)
        decision = self.decide([use], algorithms)
        self._apply(decision)
        if decision.specs is not None:
            updated_node = updated_node.with_changes(value=self._options_renamed(updated_node.value))
            spec = self._spec(decision.specs[use.name], updated_node.value, decision.algorithms)
            self.item_sites[id(updated_node)] = (holder, spec)
        return updated_node

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if self.collapsed and _is_no_op(updated_node, self.collapsed):
            return self.remove(updated_node)
        if len(updated_node.body) != 1 or id(updated_node.body[0]) not in self.item_sites:
            return updated_node
        holder, spec = self.item_sites.pop(id(updated_node.body[0]))
        self.changed()
        if self.rllib:  # the model dict is the spec's: config["model"] = {...} -> config["_rl_module_spec"] = ...
            line = cst.parse_statement(f'{holder}["{rllib.SPEC_DICT_KEY}"] = {spec}\n')
            return line.with_changes(leading_lines=updated_node.leading_lines)
        lines = [
            cst.parse_statement(f'{holder}["_enable_rl_module_api"] = True\n'),
            cst.parse_statement(f'{holder}["rl_module_spec"] = {spec}\n'),
        ]
        return cst.FlattenSentinel([updated_node, *lines])

    # -- custom_model entries no site handled ----------------------------------------------
    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):
        if type(original_node) in _STATEMENT_TYPES:
            self._flag_leftovers(original_node)
        return super().on_leave(original_node, updated_node)

    def _flag_leftovers(self, statement: cst.CSTNode) -> None:
        """custom_model entries no config site handled, and custom_action_dist entries
        (after the sites of ``statement`` decided)."""
        for use in self.uses_by_statement.get(id(statement), ()):
            if id(use.element) in self.handled:
                continue
            registrations = self.serving(use)
            classes = sorted({self.survey.code(r.cls) for r in registrations})
            cls = classes[0] if len(classes) == 1 else "<its class>"
            self.flag(
                f"custom_model {use.name!r} is not in a config the codemod can rewrite: where this model dict goes, "
                f"pass .rl_module(_enable_rl_module_api=True, rl_module_spec=SingleAgentRLModuleSpec(module_class={cls})) "
                "(this project refuses custom_model without a module class)",
                ANCHOR,
                statement,
            )
        for element in self.dists_by_statement.get(id(statement), ()):
            todo = self._action_dist_todo(element)
            # a re-run, where the registration naming the class is gone, keeps the first TODO
            if todo is not None and not _has_todo(statement, todo.split(" (", 1)[0]):
                self.flag(todo, ANCHOR_ACTION_DIST, statement)
                self.dist_names_flagged.add(_string(element.value))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        module = updated_node.visit(_RegistrationRewriter(self))
        if not self.spec_names:
            return module
        homes = _RLLIB_HOMES if self.rllib else {}
        return add_imports(module, [(homes.get(n, SPEC_MODULE), n, None) for n in sorted(self.spec_names, reverse=True)])


#: Where the names a ``--target rllib`` spec uses come from.
_RLLIB_HOMES = {
    "RLModuleSpec": rllib.SPEC_MODULE, "MultiRLModuleSpec": rllib.MULTI_SPEC_MODULE,
    "RLlibAdapter": rllib.ADAPTER_MODULE, "RLlibTargetAdapter": rllib.ADAPTER_MODULE,
    "adapter_model_config": rllib.ADAPTER_MODULE,
}


class _RegistrationRewriter(TodoTransformer):
    """Removes registrations whose every use was rewritten; flags the others (and
    ``register_custom_action_dist`` calls)."""

    descend_only = SKELETON  # registrations are statements

    def __init__(self, rule: Configs) -> None:
        super().__init__(rule.context, rule.name)
        self.rule = rule
        survey = rule.survey
        # The tree was rewritten: registrations are matched by their position among
        # the file's registrations (the rule never adds nor removes one before this pass).
        self.registrations = list(survey.registrations)
        self.index = 0

    def flag(self, message: str, anchor: str, statement: Optional[cst.CSTNode] = None) -> None:
        super().flag(retarget(message) if self.rule.rllib else message, anchor, statement)

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if len(updated_node.body) != 1 or not isinstance(updated_node.body[0], cst.Expr):
            return updated_node
        call = updated_node.body[0].value
        if isinstance(call, cst.Call) and _is_dist_registration(call):
            dist = self.rule.module_code(call.args[1].value)
            name = _string(call.args[0].value)
            named = {_string(e.value) for e in self.rule.survey.dist_uses}
            if name is not None and name in named and name not in self.rule.dist_names_flagged:
                return updated_node  # only configs that stay legacy name it
            self.flag(
                f"ModelCatalog.register_custom_action_dist is gone: port {dist} to an rlmodule.distribution.Distribution "
                "subclass and set self.action_dist_cls to it in the module's setup() (or override "
                "get_train/exploration/inference_action_dist_cls); configs naming it get their own TODO",
                ANCHOR_ACTION_DIST,
            )
            return updated_node
        if not (isinstance(call, cst.Call) and _is_registration(call)):
            return updated_node
        registration = self._registration(call)
        name = _string(call.args[0].value)
        shown = repr(name) if name is not None else self.rule.module_code(call.args[0].value)
        cls = self.rule.module_code(call.args[1].value)
        if registration is None or name is None:
            return self._gone(updated_node, shown, cls)
        rule = self.rule
        served = rule.served(registration)
        everyone = rule.uses_by_name.get(name, [])
        if served and all(id(u.element) in rule.rewritten for u in served):
            return self.remove(updated_node)
        if not served and everyone and all(id(u.element) in rule.rewritten for u in everyone):
            return self.remove(updated_node)
        problem = rule.class_problem(registration)
        if problem is not None:
            self.flag(
                f"kept as it is: {problem}, so the configs using custom_model {shown} stay legacy "
                "(this project refuses custom_model without a module class)",
                ANCHOR,
            )
            return updated_node
        kept = sorted({rule.kept_for[id(u.element)] for u in served if id(u.element) in rule.kept_for})
        if kept and all(id(u.element) in rule.rewritten or id(u.element) in rule.kept_for for u in served):
            algorithms = ", ".join(k for k in kept if k)
            self.flag(
                f"kept: the configs using custom_model {shown} stay as they are"
                + (f" (not available on the RLModule stack of this project: {algorithms})" if algorithms else "")
                + "; see the TODO on each",
                ANCHOR,
            )
            return updated_node
        return self._gone(updated_node, shown, cls)

    def _gone(self, statement, shown: str, cls: str):
        self.flag(
            f"ModelCatalog is gone: where a config uses custom_model {shown}, pass "
            f"rl_module_spec=SingleAgentRLModuleSpec(module_class={cls}) instead",
            ANCHOR,
        )
        return statement

    def _registration(self, call: cst.Call) -> Optional[_Registration]:
        """The survey's registration for this (rewritten) call: the next one in order
        with the same code."""
        code = self.rule.module_code(call)
        for index in range(self.index, len(self.registrations)):
            candidate = self.registrations[index]
            if self.rule.module_code(candidate.call) == code:
                self.index = index + 1
                return candidate
        return None


class _OptionsRenamer(cst.CSTTransformer):
    """Renames the ``custom_options`` key of model dicts (those naming a ``custom_model``
    and without ``custom_model_config``) to ``custom_model_config``, quotes kept."""

    def rename(self, model: cst.Dict) -> cst.Dict:
        return model.with_changes(elements=[self._renamed(e) for e in model.elements])

    def leave_Dict(self, original_node: cst.Dict, updated_node: cst.Dict) -> cst.Dict:
        if _custom_model_entry(updated_node) is None or _dict_entry(updated_node, "custom_model_config") is not None:
            return updated_node
        return self.rename(updated_node)

    @staticmethod
    def _renamed(element: cst.BaseDictElement) -> cst.BaseDictElement:
        if not (isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString)):
            return element
        if element.key.evaluated_value != "custom_options":
            return element
        key = element.key.value
        return element.with_changes(key=element.key.with_changes(value=key.replace("custom_options", "custom_model_config")))


def _switches(call: cst.Call, target: str = "rlmodule") -> List[cst.Arg]:
    """The ``False`` legacy-stack switches among the arguments of builder call ``call``;
    for ``target`` ``"rllib"`` also the ``_enable_*`` flags set to anything (RLlib 2.60
    refuses them)."""
    if not isinstance(call.func, cst.Attribute):
        return []
    keywords = _STACK_SWITCHES.get(call.func.attr.value, ())
    return [
        a for a in call.args
        if a.keyword is not None and a.keyword.value in keywords and (
            (isinstance(a.value, cst.Name) and a.value.value == "False")
            or (target == "rllib" and a.keyword.value.startswith("_enable_"))
        )
    ]


def _is_no_op(line: cst.SimpleStatementLine, collapsed: Dict[int, cst.BaseExpression]) -> bool:
    """A line left doing nothing once its chain lost its switches: ``config`` (was
    ``config.rl_module(_enable_rl_module_api=False)``) or ``config = config``."""
    if len(line.body) != 1:
        return False
    small = line.body[0]
    if isinstance(small, cst.Expr):
        return id(small.value) in collapsed
    if isinstance(small, cst.Assign) and id(small.value) in collapsed and len(small.targets) == 1:
        target = small.targets[0].target
        return isinstance(target, cst.Name) and isinstance(small.value, cst.Name) and target.value == small.value.value
    return False


def _has_comments(whitespace: cst.BaseParenthesizableWhitespace) -> bool:
    return isinstance(whitespace, cst.ParenthesizedWhitespace) and (
        whitespace.first_line.comment is not None or any(line.comment is not None for line in whitespace.empty_lines)
    )


def _merged(before, after, keep: str):
    """The whitespace left of ``before <element> after`` once the element is gone. The
    comment lines around it stay; a comment at the end of its line goes with it when
    it had the line to itself. ``keep``: which of a line break and none wins
    (``"break"``, ``"before"``, ``"after"``; a side holding comments always does)."""
    if isinstance(before, cst.ParenthesizedWhitespace) and isinstance(after, cst.ParenthesizedWhitespace):
        return after.with_changes(first_line=before.first_line, empty_lines=[*before.empty_lines, *after.empty_lines])
    if keep == "break":
        return after if isinstance(after, cst.ParenthesizedWhitespace) else before
    chosen, other = (before, after) if keep == "before" else (after, before)
    return other if _has_comments(other) else chosen


def _without_args(call: cst.Call, drop: List[cst.Arg]) -> Tuple[List[cst.Arg], cst.BaseParenthesizableWhitespace]:
    """``call``'s arguments without ``drop``, commas and comments kept in place (and the
    whitespace before the first one)."""
    args = list(call.args)
    before_args = call.whitespace_before_args
    for gone in drop:
        index = next(i for i, a in enumerate(args) if a is gone)
        if index + 1 < len(args):  # the next argument takes the place of the gone one
            after = gone.comma.whitespace_after if isinstance(gone.comma, cst.Comma) else cst.SimpleWhitespace("")
            if index == 0:
                before_args = _merged(before_args, after, "before")
            else:
                previous = args[index - 1]
                args[index - 1] = previous.with_changes(
                    comma=previous.comma.with_changes(whitespace_after=_merged(previous.comma.whitespace_after, after, "before"))
                )
        elif index > 0:  # the previous argument ends the list as the gone one did
            previous = args[index - 1]
            if isinstance(gone.comma, cst.Comma):
                comma = gone.comma.with_changes(
                    whitespace_before=previous.comma.whitespace_before,
                    whitespace_after=_merged(previous.comma.whitespace_after, gone.comma.whitespace_after, "after"),
                )
                args[index - 1] = previous.with_changes(comma=comma)
            else:
                args[index - 1] = previous.with_changes(
                    comma=cst.MaybeSentinel.DEFAULT,
                    whitespace_after_arg=_merged(previous.comma.whitespace_after, gone.whitespace_after_arg, "after"),
                )
        del args[index]
    return args, before_args


def _without_switches(top: cst.BaseExpression, target: str = "rlmodule") -> cst.BaseExpression:
    """Builder chain ``top`` without its legacy-stack switches (``_switches``); a call left
    without arguments goes (the comments around it stay)."""
    calls: List[cst.Call] = []
    node = top
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        calls.append(node)
        node = node.func.value
    if not any(_switches(c, target) for c in calls):
        return top
    current = node
    pending = None  # the whitespace before a gone call's dot
    for call in reversed(calls):
        drop = _switches(call, target)
        if drop:
            args, before_args = _without_args(call, drop)
            if not args:
                before = call.func.dot.whitespace_before
                pending = before if pending is None else _merged(pending, before, "break")
                if call.lpar or call.rpar:  # its parentheses go to what is left of the chain
                    current = current.with_changes(lpar=[*call.lpar, *current.lpar], rpar=[*current.rpar, *call.rpar])
                continue
            call = call.with_changes(args=args, whitespace_before_args=before_args)
        func = call.func
        if pending is not None:
            func = func.with_changes(dot=func.dot.with_changes(whitespace_before=_merged(pending, func.dot.whitespace_before, "break")))
            pending = None
        current = call.with_changes(func=func.with_changes(value=current))
    if pending is not None and isinstance(current, cst.Call) and current.rpar and current.rpar[-1] is (top.rpar[-1] if top.rpar else None):
        close = current.rpar[0]
        current = current.with_changes(
            rpar=[close.with_changes(whitespace_before=_merged(pending, close.whitespace_before, "after")), *current.rpar[1:]]
        )
    return current


def _has_todo(statement: cst.CSTNode, start: str) -> bool:
    """Whether ``statement`` carries a TODO whose message starts with ``start``."""
    prefix = TODO_PREFIX + start
    return any(
        line.comment is not None and line.comment.value.startswith(prefix) for line in getattr(statement, "leading_lines", ())
    )


def _only_config(value: cst.BaseExpression) -> bool:
    """A policies-dict value that says nothing but its config: ``PolicySpec()``,
    ``PolicySpec(config=...)`` or ``(None, None, None, config)``."""
    if isinstance(value, cst.Call) and dotted(value.func).endswith("PolicySpec"):
        return all(a.keyword is not None and a.keyword.value == "config" for a in value.args)
    if isinstance(value, cst.Tuple) and len(value.elements) == 4:
        return all(isinstance(e.value, cst.Name) and e.value.value == "None" for e in value.elements[:3])
    return False


def _policy_field(value: cst.BaseExpression, keyword: str, index: int) -> Optional[cst.BaseExpression]:
    """Field ``keyword`` (positional ``index``) of a policies-dict value: a
    ``PolicySpec(policy_class, observation_space, action_space, config)`` call or a
    legacy 4-tuple in that order."""
    if isinstance(value, cst.Call) and dotted(value.func).endswith("PolicySpec"):
        found = next((a.value for a in value.args if a.keyword and a.keyword.value == keyword), None)
        if found is None and len(value.args) > index and value.args[index].keyword is None:
            found = value.args[index].value
        return found
    if isinstance(value, cst.Tuple) and len(value.elements) == 4:
        return value.elements[index].value
    return None


def _policy_class(value: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """The custom policy class of a policies-dict value, ``None`` for the algorithm's
    default: ``PolicySpec(policy_class=Cls)`` / ``PolicySpec(Cls, ...)`` or a legacy
    4-tuple ``(Cls, obs_space, act_space, config)``."""
    cls = _policy_field(value, "policy_class", 0)
    if isinstance(cls, cst.Name) and cls.value == "None":
        return None
    return cls


def _policy_model(value: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """The ``model`` dict of a policies-dict value: ``PolicySpec(config={...})`` or a
    legacy 4-tuple ``(cls, obs_space, act_space, config)``."""
    config = _policy_field(value, "config", 3)
    if isinstance(config, cst.Dict):
        entry = _dict_entry(config, "model")
        return entry.value if entry is not None else None
    return None
