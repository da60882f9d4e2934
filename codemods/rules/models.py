"""Rule ``models``: ModelV2 subclasses -> RLModule subclasses (design.md, "Migrated
model class").

The class keeps its name, its sub-module attributes and its method bodies, so the
legacy ``state_dict`` loads with ``strict=True``:

- bases: ``TorchModelV2`` / ``ModelV2`` / ``nn.Module`` / ``RecurrentNetwork`` ->
  ``TorchRLModule``; ``TFModelV2`` (and a ``tf.keras.Model`` base beside it) ->
  ``TfRLModule``; subclasses of other legacy models of the repository keep their base;
- ``__init__(self, obs_space, action_space, num_outputs, model_config, name, **custom)``
  -> ``setup(self)``, whose first line binds the same names from
  ``legacy_model_args(self)``; custom keyword arguments are read from
  ``model_config["custom_model_config"]`` with the same defaults; base ``__init__``
  calls go (or become ``super().setup()`` for a repository base); a class deriving
  directly from a legacy base without ``__init__`` gets a ``setup`` calling
  ``legacy_model_args(self)`` (the attributes ``ModelV2.__init__`` set);
- ``forward`` -> ``_model_forward`` (``TorchRLModule.forward`` means something else);
  ``_forward_inference`` / ``_forward_exploration`` / ``_forward_train`` are added: they
  call it (and ``value_function()`` for ``vf_preds``; ``forward_rnn`` with the carried
  state for recurrent models);
- ``@override(<legacy base>)`` decorators go.

Stateful classes (a non-empty ``get_initial_state``, or a ``RecurrentNetwork`` that
overrides ``forward``) get forwards that call the legacy ``forward`` on padded rows
(``legacy_seq_inputs``); subclasses of the torch built-in models derive from
``compat.migrated_builtins``; names that clash with the RLModule's own are renamed
(``config`` -> ``config_``); classes of kinds without an equivalent here
(``repo_index.WHY_NOT_CONVERTED``) get a TODO on the class and stay as they are.

A ``TFModelV2`` (and the TF ``RecurrentNetwork`` / ``RecurrentTFModelV2``) takes the
same path (the helpers build tf tensors for a ``TfRLModule``); only TF-specific lines
differ: ``self.register_variables(...)`` calls (a TF1 requirement) go, and what a Keras 3
``TfRLModule`` cannot run keeps a TODO (TF1 graph code, ``self.context()``,
``update_ops``); the ``keras_functional`` rule fixes Keras 2 functional-model code.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
from typing import Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from codemods.import_edits import (
    ImportSpec, add_imports, bound_imports, dotted, is_docstring, try_import_tf_targets, used_names,
)
from codemods.repo_index import LEGACY_MODEL_BASES, WHY_NOT_CONVERTED, bind_import, resolve_base
from codemods.rule import (
    CONVERTED_KINDS, EXPRESSIONS, SIMPLE_LINES, SKELETON, RepoIndex, Rule, todo_comment, walk, with_todos,
)

HELPERS = "compat.migrated_model"
BUILTINS = "compat.migrated_builtins"
ANCHOR_TF = "tensorflow-models"
ANCHOR_LEGACY = "models-that-stay-legacy"
ANCHOR_RENAMED = "renamed-attributes"
ANCHOR_INPUTS = "inputs-beyond-observations"
ANCHOR_LEGACY_USE = "migrated-model-classes"
#: The ``input_dict`` entries ``legacy_input_dict`` / ``legacy_seq_inputs`` build.
BUILT_INPUTS = frozenset({"obs", "obs_flat", "is_training", "OBS"})
ANCHOR_EXTRAS = "model-extras"
LEGACY_ARGS = ("obs_space", "action_space", "num_outputs", "model_config", "name")
NN_MODULE = {"nn.Module", "torch.nn.Module", "Module"}
KERAS_MODEL = {"tf.keras.Model", "tf.keras.models.Model", "keras.Model", "keras.models.Model"}
_BASE_BY_KIND = {"torch": ("rlmodule.torch", "TorchRLModule"), "recurrent": ("rlmodule.torch", "TorchRLModule"),
                 "tf": ("rlmodule.tf", "TfRLModule"), "tf_recurrent": ("rlmodule.tf", "TfRLModule")}
TF_KINDS = frozenset({"tf", "tf_recurrent", "tf_builtin"})
BUILTIN_KINDS = frozenset({"torch_builtin", "tf_builtin"})
RECURRENT_KINDS = frozenset({"recurrent", "tf_recurrent"})
#: Bases that an RLModule base already has (``RLModule`` is an ``abc.ABC``): listed
#: before it they make the class's MRO impossible (``class X(ABC, TfRLModule)``), so go.
REDUNDANT_BASES = {"ABC", "abc.ABC", "object"}
#: Attributes and methods of ``RLModule`` / ``TorchRLModule`` that legacy ModelV2 and
#: ``nn.Module`` lack: a legacy class that uses one of these names for its own attribute
#: would overwrite the module's (``self.config`` is its ``RLModuleConfig``), so the
#: ``models`` rule renames them (``config`` -> ``config_``) throughout the class.
RLMODULE_RESERVED = frozenset({
    "config", "check_specs", "action_dist_cls", "setup", "unwrapped", "as_multi_agent",
    "forward_train", "forward_exploration", "forward_inference", "from_checkpoint", "save_to_checkpoint",
    "get_state", "set_state", "sample_batch", "is_stateful",
    "get_train_action_dist_cls", "get_exploration_action_dist_cls", "get_inference_action_dist_cls",
    "input_specs_train", "input_specs_exploration", "input_specs_inference",
    "output_specs_train", "output_specs_exploration", "output_specs_inference",
    "_spec_checkers", "_mode_switched", "_checked_forward", "_compile_specs", "_acting_forward",
    "_set_acting_mode", "_enter_acting", "_exit_acting", "_trace_acting", "_default_action_dist_cls",
    "_default_input_specs", "_default_output_specs",
})
# TFModelV2 API a TfRLModule lacks (method name -> what to do).
TF_EXTRAS = {
    "update_ops": "RLModules have no update_ops(): Keras layers called with training=True update their own statistics",
    "context": "TFModelV2.context() (the TF1 graph) is gone: TfRLModules run eagerly or under tf.function",
}
# tf.keras.Model attributes a legacy TFModelV2 could use freely; a TfRLModule (a
# tf.keras.Model) cannot assign them, and methods of these names shadow Keras' own.
KERAS_RESERVED = frozenset({
    "input", "output", "layers", "variables", "trainable_variables", "non_trainable_variables", "weights",
    "trainable_weights", "non_trainable_weights", "losses", "dtype", "config",
})
#: Legacy TFModelV2 API methods whose names Keras also uses: calls of these on ``self``
#: are legacy API calls, not the class's own attributes (never renamed).
TF_MODELV2_API = frozenset({"variables", "trainable_variables"})
# Names bound to the TF1 API besides the ``tf1`` of ``tf1, tf, tfv = try_import_tf()``.
TF1_PATHS = ("tf.compat.v1", "tensorflow.compat.v1")

# Legacy ModelV2 hooks nothing calls any more.
MODEL_EXTRAS = {
    "custom_loss": "RLModule learners do not call custom_loss(): add this term to the learner's loss",
    "metrics": "RLModule learners do not call metrics(): report these from the learner",
}

_FORWARDS = '''\
def _forward_inference(self, batch):
    logits, _ = self._model_forward(legacy_input_dict(self, batch), [], None)
    return {{"action_dist_inputs": logits}}

def _forward_exploration(self, batch):
    logits, _ = self._model_forward(legacy_input_dict(self, batch), [], None)
    return {{"action_dist_inputs": logits{vf}}}

def _forward_train(self, batch):
    logits, _ = self._model_forward(legacy_input_dict(self, batch, is_training=True), [], None)
    return {{"action_dist_inputs": logits{vf}}}
'''

# For a class without ``__init__``: what ``ModelV2.__init__`` set.
_INHERITED_SETUP = '''\
def setup(self):
    legacy_model_args(self)
'''

_RECURRENT_INITIAL_STATE = '''\
def get_initial_state(self):
    return legacy_state_dict(self._model_initial_state())
'''

_NO_INITIAL_STATE = '''\
def _model_initial_state(self):
    return []
'''

_RECURRENT_FORWARDS = '''\
def _forward_inference(self, batch):
    inputs, state, seq_lens = legacy_rnn_inputs(self, batch)
    logits, state = self.forward_rnn(inputs, state, seq_lens)
    return {{"action_dist_inputs": logits, "state_out": legacy_state_dict(state)}}

def _forward_exploration(self, batch):
    return self._forward_train(batch)

def _forward_train(self, batch):
    inputs, state, seq_lens = legacy_rnn_inputs(self, batch)
    logits, state = self.forward_rnn(inputs, state, seq_lens)
    return {{
        "action_dist_inputs": logits,{vf}
        "state_out": legacy_state_dict(state),
    }}
'''

# A stateful model whose legacy ``forward`` takes padded rows [B * T, ...] and the state.
_SEQUENCE_FORWARDS = '''\
def _forward_inference(self, batch):
    input_dict, state, seq_lens = legacy_seq_inputs(self, batch)
    logits, state_out = self._model_forward(input_dict, state, seq_lens)
    return {{"action_dist_inputs": legacy_time_rows(logits, seq_lens), "state_out": legacy_state_dict(state_out or state)}}

def _forward_exploration(self, batch):
    return self._sequence_forward(batch, is_training=False)

def _forward_train(self, batch):
    return self._sequence_forward(batch, is_training=True)

def _sequence_forward(self, batch, is_training):
    input_dict, state, seq_lens = legacy_seq_inputs(self, batch, is_training=is_training)
    logits, state_out = self._model_forward(input_dict, state, seq_lens)
    return {{
        "action_dist_inputs": legacy_time_rows(logits, seq_lens),{vf}
        "state_out": legacy_state_dict(state_out or state),
    }}
'''


class Models(Rule):
    name = "models"
    summary = "ModelV2 / TorchModelV2 / RecurrentNetwork / TFModelV2 subclasses -> RLModule subclasses"
    order = 20
    # The base names (``Model``, ModelV1's, only as part of its ``ray.rllib.models`` import).
    triggers = tuple(sorted(name.encode() for name in LEGACY_MODEL_BASES if name != "Model")) + (b"rllib.models",)
    descend_only = SKELETON  # classes are found among statements

    @classmethod
    def applies_to(cls, source: bytes, repo: RepoIndex) -> bool:
        return super().applies_to(source, repo) or any(name in source for name in repo.trigger_names)

    def visit_Module(self, node: cst.Module) -> None:
        self.module = node
        self.imports: Set[ImportSpec] = set()
        self.bound: Dict[str, str] = {}  # local name -> legacy kind, or "module:<path>"
        self.tf1_names: Set[str] = set()  # what this file binds to tensorflow.compat.v1
        self.tf_v1_names: Set[str] = set()  # ray 0.8's ``tf = try_import_tf()`` (tf.compat.v1 then)
        for statement in walk(node, _IMPORT_SURVEY):
            if type(statement) not in (cst.Import, cst.ImportFrom, cst.Assign):
                continue
            self.tf1_names.update(_tf1_bindings(statement))
            self.tf_v1_names.update(_one_name_try_import_tf(statement))
            for module, name, asname in bound_imports(statement):
                bind_import(self.bound, module, name, asname)
        self._flag_legacy_constructions(node)

    def _flag_legacy_constructions(self, node: cst.Module) -> None:
        """A TODO on statements that build a converted class the legacy way,
        ``Model(obs_space, action_space, num_outputs, model_config, name)`` (a test or
        script in the same file): an RLModule is built from its spec."""
        names = [n for n, kind in self.context.repo.legacy_models.items() if kind in CONVERTED_KINDS]
        source = self.context.source
        if not names or not any(name.encode() + b"(" in source for name in names):
            return
        converted = set(names)
        for statement in walk(node, _NO_EXPRESSION_STATEMENTS):
            if type(statement) is not cst.SimpleStatementLine:
                continue
            for call in walk(statement):
                if type(call) is not cst.Call or len(call.args) < 4:
                    continue
                name = dotted(call.func).split(".")[-1]
                if name in converted and all(a.star == "" for a in call.args[:4]):
                    self.flag(
                        f"{name}(...) builds a legacy model from the legacy constructor arguments, but {name} is "
                        "an RLModule now: build it from a spec, SingleAgentRLModuleSpec(module_class="
                        f"{name}, observation_space=..., action_space=..., model_config_dict=...).build(), and call "
                        "forward_inference / forward_exploration / forward_train",
                        ANCHOR_LEGACY_USE, statement,
                    )
                    break

    def _kind(self, node: cst.ClassDef) -> Tuple[Optional[str], bool, str]:
        """(kind, direct, base): the legacy kind of a class, whether its legacy base is
        direct (an RLlib class) rather than a legacy model of the repository, and that base."""
        names = [dotted(arg.value) for arg in node.bases if arg.keyword is None]
        for base in names:
            kind = resolve_base(base, self.bound) if base else None
            if kind:
                return kind, True, base
        for base in names:
            kind = self.context.repo.legacy_models.get(base.split(".")[-1])
            if kind:
                return kind, False, base
        return None, False, ""

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        kind, direct, base = self._kind(updated_node)
        if kind is None or kind == "migrated":  # an RLModule already
            return updated_node
        if kind not in CONVERTED_KINDS:
            why = WHY_NOT_CONVERTED[kind].format(base=base) if direct else (
                f"its base {base} stays a legacy model (see the TODO there), so this class stays one too"
            )
            self.flag(why, ANCHOR_LEGACY if kind == "unsupported" else ANCHOR_TF, original_node)
            return updated_node
        methods = _ClassMethods(self, updated_node, kind, direct)
        methods.original = original_node  # what a TODO on the class attaches to
        if not direct and methods.already_migrated():
            return updated_node
        self.changed()
        node = updated_node
        if direct:
            node = node.with_changes(bases=self._bases(node, kind))
        return methods.with_node(node).migrated()

    def _bases(self, node: cst.ClassDef, kind: str) -> List[cst.Arg]:
        if kind in BUILTIN_KINDS:
            legacy = next(
                dotted(a.value) for a in node.bases if a.keyword is None and resolve_base(dotted(a.value), self.bound)
            )
            name = builtin_base(kind, legacy)
            self.imports.add((BUILTINS, name, None))
            framework_base = NN_MODULE if kind == "torch_builtin" else KERAS_MODEL
        else:
            name = _BASE_BY_KIND[kind][1]
            self.imports.add((_BASE_BY_KIND[kind][0], name, None))
            framework_base = KERAS_MODEL if kind in TF_KINDS else NN_MODULE
        new_base = cst.Arg(cst.Name(name))
        bases: List[cst.Arg] = []
        placed = False
        for arg in node.bases:
            base = dotted(arg.value)
            legacy = arg.keyword is None and resolve_base(base, self.bound) is not None
            redundant = not placed and base in REDUNDANT_BASES  # before the RLModule base: an MRO error
            if legacy or (arg.keyword is None and (base in framework_base or redundant)):
                if legacy and not placed:
                    bases.append(new_base.with_changes(comma=arg.comma))
                    placed = True
                continue
            bases.append(arg)
        if not placed:
            bases.insert(0, new_base)
        if bases:
            bases[-1] = bases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return bases

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if not self.imports:
            return updated_node
        return add_imports(updated_node, sorted(self.imports, key=lambda s: (s[0], s[1] or "")))


#: ``walk`` skip table: compound statements without their headers' expressions.
_COMPOUND_HEADERS = {
    cst.If: frozenset({"test"}),
    cst.While: frozenset({"test"}),
    cst.For: frozenset({"target", "iter"}),
    cst.With: frozenset({"items"}),
    cst.FunctionDef: frozenset({"params", "decorators", "returns"}),
    cst.ClassDef: frozenset({"bases", "keywords", "decorators"}),
}
#: Statements only: simple lines are yielded, not entered.
_NO_EXPRESSION_STATEMENTS = {**_COMPOUND_HEADERS, cst.SimpleStatementLine: frozenset({"body"})}
#: The import survey: small statements are yielded (imports, ``try_import_tf()`` lines), not entered.
_IMPORT_SURVEY = {
    **_COMPOUND_HEADERS,
    cst.Expr: frozenset({"value"}),
    cst.Assign: frozenset({"targets", "value"}),
    cst.AnnAssign: frozenset({"target", "annotation", "value"}),
    cst.AugAssign: frozenset({"target", "value"}),
    cst.Return: frozenset({"value"}),
}


class _ClassMethods:
    """The method-level rewrites of one legacy model class."""

    def __init__(self, rule: Models, node: cst.ClassDef, kind: str, direct: bool) -> None:
        self.rule, self.kind, self.direct = rule, kind, direct
        self.module = rule.module
        self.original = node
        self.calls_initial_state = False  # a method calls self.get_initial_state() (renamed)
        self.with_node(node)
        initial = self.methods.get("get_initial_state")
        self.stateful = initial is not None and not _returns_empty_list(initial)

    def with_node(self, node: cst.ClassDef) -> "_ClassMethods":
        self.node = node
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        self.methods = {s.name.value: s for s in body if isinstance(s, cst.FunctionDef)}
        return self

    def already_migrated(self) -> bool:
        """A subclass of a repository model that an earlier run migrated (``setup``
        without ``__init__``, or the generated/renamed methods, or a migrated policy's
        acting forwards)."""
        names = set(self.methods)
        generated = {"_model_forward", "_forward_train", "_forward_exploration", "_forward_inference"}
        return ("setup" in names and "__init__" not in names) or bool(names & generated)

    def migrated(self) -> cst.ClassDef:
        if not isinstance(self.node.body, cst.IndentedBlock):
            return self.node
        survey = _attribute_survey(self.node.body.body)
        self._flag_legacy_machinery(survey)
        renames = self._renames(survey)
        body: List[cst.BaseStatement] = []
        setup_index = None
        for statement in self.node.body.body:
            if renames:
                statement = statement.visit(_Rename(renames))
            if isinstance(statement, cst.FunctionDef):
                statement = self._method(statement)
                if statement.name.value == "setup":
                    setup_index = len(body)
            body.append(statement)
        generated = self._inherited_setup() + self._generated()
        if generated:
            at = setup_index + 1 if setup_index is not None else _after_docstring(body)
            if at == 0:  # first in the class: no blank line under the class line
                generated[0] = generated[0].with_changes(leading_lines=[])
            if at < len(body):  # one blank line before what follows them
                body[at] = _after_blank_line(body[at])
            body[at:at] = generated
        return self.node.with_changes(body=self.node.body.with_changes(body=body))

    def _inherited_setup(self) -> List[cst.BaseStatement]:
        """``setup()`` calling ``legacy_model_args(self)`` for a class without
        ``__init__`` deriving directly from a legacy base: the ``ModelV2.__init__`` it
        inherited set ``self.num_outputs``, ``self.obs_space``, ... (a built-in model's
        RLModule base sets them itself; a class without methods is a placeholder)."""
        if not self.direct or self.kind in BUILTIN_KINDS or not self.methods or {"__init__", "setup"} & set(self.methods):
            return []
        self.rule.imports.add((HELPERS, "legacy_model_args", None))
        return _parse_methods(_INHERITED_SETUP, self.module)

    def _flag_legacy_machinery(self, survey: "_Survey") -> None:
        """TODOs on the class for legacy policy machinery it relies on: view
        requirements (an RLModule has none) and sub-models built by ray's ModelCatalog."""
        if "view_requirements" in survey.names:
            self.rule.flag(
                "self.view_requirements (legacy view requirements) has no RLModule counterpart and is not set: "
                "remove its uses; an RLModule's batch holds the observations and the recurrent state only",
                ANCHOR_INPUTS, self.original,
            )
        if survey.catalog_calls:
            self.rule.flag(
                f"{', '.join(sorted(survey.catalog_calls))}() builds a legacy ModelV2 through ray's ModelCatalog: "
                "build the sub-network directly (the compat.legacy_torch_models drop-ins for the built-in torch "
                "models, or its migrated class)",
                ANCHOR_LEGACY, self.original,
            )

    def _renames(self, survey: "_Survey") -> Dict[str, str]:
        """Reserved names the class uses for its own attributes -> their new names
        (``config`` -> ``config_``); a name whose new one is taken, or that the class
        reaches by string (``getattr(self, "config")``), is flagged instead."""
        reserved = RLMODULE_RESERVED | (KERAS_RESERVED - TF_MODELV2_API if self.kind in TF_KINDS else frozenset())
        renames: Dict[str, str] = {}
        for name in sorted(survey.names & reserved):
            new = f"{name}_"
            if new in survey.names or name in survey.strings:
                self.rule.flag(
                    f"self.{name} is also an attribute of the RLModule this class becomes and cannot be renamed "
                    f"safely here ({'self.' + new + ' is taken' if new in survey.names else 'it is reached by name'}): "
                    "rename it by hand",
                    ANCHOR_RENAMED, self.original,
                )
                continue
            renames[name] = new
        return renames

    # -- one method -------------------------------------------------------------------
    def _method(self, method: cst.FunctionDef) -> cst.FunctionDef:
        method = method.with_changes(decorators=[d for d in method.decorators if not self._legacy_override(d)])
        name = method.name.value
        if name in MODEL_EXTRAS:
            method = with_todos(method, [todo_comment(MODEL_EXTRAS[name], ANCHOR_EXTRAS)])
        if self.kind in TF_KINDS:
            method = self._tf_method(method)
        if name == "__init__":
            method = self._setup(method)
        elif name == "forward":
            method = self._flag_batch_inputs(method)
            method = method.with_changes(name=cst.Name("_model_forward"))
        elif name == "get_initial_state":
            method = method.with_changes(name=cst.Name("_model_initial_state"))
        if _calls_renamed(method):
            method = method.visit(_SelfCalls(self.rule.context.repo.legacy_models))
            self.calls_initial_state |= "_model_initial_state(" in self.module.code_for_node(method.body)
        return method

    def _flag_batch_inputs(self, forward: cst.FunctionDef) -> cst.FunctionDef:
        """A TODO on a legacy ``forward`` that reads ``input_dict`` entries an RLModule's
        batch does not have (``prev_actions``, ``prev_rewards``, ...: legacy view
        requirements); only ``obs``, ``obs_flat`` and ``is_training`` are built."""
        params = forward.params.params
        if len(params) < 2 or not (b"input_dict" in self.rule.context.source or b"SampleBatch" in self.rule.context.source):
            return forward
        found = _input_dict_keys(forward.body, params[1].name.value)
        if not found:
            return forward
        keys = ", ".join(sorted(found))
        return with_todos(forward, [todo_comment(
            f"forward reads {keys}: an RLModule's batch holds the observations (and the "
            "recurrent state) only, so these are not there; add them to the observation (an env wrapper) or "
            "compute them in the module", ANCHOR_INPUTS,
        )])

    def _tf_method(self, method: cst.FunctionDef) -> cst.FunctionDef:
        """The TF-only part: drop ``self.register_variables(...)``; flag what a Keras 3
        ``TfRLModule`` cannot run."""
        if b"register_variables" in self.rule.context.source:
            method = method.with_changes(body=method.body.visit(_RegisterVariables()))
        name = method.name.value
        todos = []
        if name in TF_EXTRAS:
            todos.append(TF_EXTRAS[name])
        elif name in KERAS_RESERVED:
            todos.append(f"{name}() shadows tf.keras.Model.{name} (a TfRLModule is a Keras model): rename it")
        finder = _tf_legacy_uses(method.body, self.rule.tf1_names, self.rule.tf_v1_names)
        if finder.tf1:
            found = ", ".join(sorted(finder.tf1))
            todos.append(
                f"TF1 graph code ({found}) does not run in a Keras 3 TfRLModule: create the variables "
                "as Keras layers (or self.add_weight()) in setup()"
            )
        if finder.v1_only:
            found = ", ".join(sorted(finder.v1_only))
            todos.append(
                f"{found}: ray 0.8's try_import_tf() gave tf.compat.v1, now this file imports TensorFlow 2 "
                "(import tensorflow as tf), which lacks these: use their TF2 names (tf.math.log, "
                "tf.random.normal, ...) or Keras layers"
            )
        if finder.context:
            todos.append(TF_EXTRAS["context"])
        for attribute in sorted(finder.reserved):
            todos.append(
                f"self.{attribute} is a read-only attribute of tf.keras.Model (a TfRLModule is one): rename it"
            )
        return with_todos(method, [todo_comment(t, ANCHOR_TF) for t in todos]) if todos else method

    def _legacy_override(self, decorator: cst.Decorator) -> bool:
        call = decorator.decorator
        if not (isinstance(call, cst.Call) and dotted(call.func).split(".")[-1] == "override" and call.args):
            return False
        target = dotted(call.args[0].value)
        return target.split(".")[-1] in LEGACY_MODEL_BASES or target in self.rule.bound or target in NN_MODULE

    def _setup(self, init: cst.FunctionDef) -> cst.FunctionDef:
        params = init.params
        positional = [p.name.value for p in params.params][1:]  # drop self
        legacy_names = positional[: len(LEGACY_ARGS)]
        custom: List[cst.Param] = list(params.params[1 + len(LEGACY_ARGS):]) + list(params.kwonly_params)
        body = init.body.visit(_BaseInitCalls(self.direct, self.rule.bound, self.kind))
        rest_used = used_names(init.with_changes(body=body, decorators=[]))
        config = f'{legacy_names[3]}["custom_model_config"]' if len(legacy_names) > 3 else 'self.model_config["custom_model_config"]'
        lines: List[str] = []
        for param in custom:
            key = param.name.value
            if param.default is not None:
                default = self.module.code_for_node(param.default)
                lines.append(f'{key} = {config}.get("{key}", {default})')
            else:
                lines.append(f'{key} = {config}["{key}"]')
        star = params.star_arg
        if isinstance(star, cst.Param) and star.name.value in rest_used:
            lines.append(f"{star.name.value} = ()")
        if params.star_kwarg is not None and params.star_kwarg.name.value in rest_used:
            named = [p.name.value for p in custom]
            kw = params.star_kwarg.name.value
            if named:
                keys = ", ".join(f'"{n}"' for n in named) + ("," if len(named) == 1 else "")
                lines.append(f"{kw} = {{k: v for k, v in {config}.items() if k not in ({keys})}}")
            else:
                lines.append(f"{kw} = dict({config})")
        if legacy_names:
            names = legacy_names + [f"_{n}" for n in LEGACY_ARGS[len(legacy_names):]]
            lines.insert(0, f"{', '.join(names)} = legacy_model_args(self)")
        elif self.direct or lines:  # a repository base's setup() binds the attributes itself
            lines.insert(0, "legacy_model_args(self)")
        if lines and "legacy_model_args" in lines[0]:
            self.rule.imports.add((HELPERS, "legacy_model_args", None))
        head = [cst.parse_statement(line, config=self.module.config_for_parsing) for line in lines]
        if head:
            was = cst.EmptyLine(comment=cst.Comment(f"# was __init__({self._one_line(params)})"))
            head[0] = head[0].with_changes(leading_lines=[was])
        statements = list(body.body)
        docstring = statements[:1] if statements and is_docstring(statements[0]) else []
        new_body = body.with_changes(body=[*docstring, *head, *statements[len(docstring):]])
        return init.with_changes(
            name=cst.Name("setup"),
            whitespace_before_params=cst.SimpleWhitespace(""),
            params=cst.Parameters(params=[params.params[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)]),
            body=new_body,
        )

    def _one_line(self, params: cst.Parameters) -> str:
        """The legacy signature for a one-line comment: as written when it fits on one
        line, else without its line breaks and comments (a wrapped, black-style one)."""
        signature = self.module.code_for_node(params)
        if "\n" not in signature and "\r" not in signature:
            return signature
        return ast.unparse(ast.parse(f"def f({signature}\n): pass").body[0].args)

    # -- generated RLModule forwards --------------------------------------------------
    def _template(self) -> Optional[str]:
        """Which forwards this class needs: ``"plain"`` (stateless), ``"rnn"`` (calls
        ``forward_rnn``), ``"sequence"`` (a stateful legacy ``forward``), or ``None``
        (inherited from a migrated base, or written by hand)."""
        if "_forward_train" in self.methods:
            return None
        if self.kind in BUILTIN_KINDS:
            return "sequence" if self.stateful else None
        if self.direct:
            if not self.methods:  # a placeholder (``...``): nothing to call
                return None
            if self.kind in RECURRENT_KINDS and "forward" not in self.methods:
                return "rnn"
            return "sequence" if self.stateful or self.kind in RECURRENT_KINDS else "plain"
        # A repository base has the forwards, unless this class changes how state flows.
        if self.kind in RECURRENT_KINDS:
            return "sequence" if "forward" in self.methods else None
        return "sequence" if self.stateful else None

    def _generated(self) -> List[cst.BaseStatement]:
        template = self._template()
        # A stateless class whose code asks for its (legacy, empty) initial state.
        default_state = (
            _parse_methods(_NO_INITIAL_STATE, self.module)
            if self.direct and self.calls_initial_state and "get_initial_state" not in self.methods
            and template in (None, "plain") else []
        )
        if template is None:
            return default_state
        has_vf = "value_function" in self.methods or not self.direct or self.kind in BUILTIN_KINDS
        if template == "plain":
            text = _FORWARDS.format(vf=', "vf_preds": self.value_function()' if has_vf else "")
            self.rule.imports.add((HELPERS, "legacy_input_dict", None))
            return _parse_methods(text, self.module) + default_state
        if template == "rnn":
            vf = '\n        "vf_preds": legacy_time_rows(self.value_function(), seq_lens),' if has_vf else ""
            text = _RECURRENT_FORWARDS.format(vf=vf)
            self.rule.imports.update((HELPERS, n, None) for n in ("legacy_rnn_inputs", "legacy_state_dict"))
            if has_vf:
                self.rule.imports.add((HELPERS, "legacy_time_rows", None))
        else:
            vf = '\n        "vf_preds": legacy_time_rows(self.value_function(), seq_lens),' if has_vf else ""
            text = _SEQUENCE_FORWARDS.format(vf=vf)
            self.rule.imports.update(
                (HELPERS, n, None) for n in ("legacy_seq_inputs", "legacy_state_dict", "legacy_time_rows")
            )
        text = _RECURRENT_INITIAL_STATE + "\n" + text
        if "get_initial_state" not in self.methods and self.direct:
            text += "\n" + _NO_INITIAL_STATE
        return _parse_methods(text, self.module)


def _calls_renamed(method: cst.FunctionDef) -> bool:
    """Whether ``method`` mentions ``.forward`` or ``.get_initial_state`` at all (a cheap
    survey before the transformer runs)."""
    return any(
        type(node) is cst.Attribute and node.attr.value in _SelfCalls.RENAMED for node in walk(method.body)
    )


class _SelfCalls(cst.CSTTransformer):
    """``self.forward(`` / ``super().forward(`` / ``Base.forward(self, `` (a legacy model
    base of the repository) -> ``..._model_forward(``; the same for
    ``get_initial_state`` -> ``_model_initial_state`` (the legacy list of tensors)."""

    RENAMED = {"forward": "_model_forward", "get_initial_state": "_model_initial_state"}

    def __init__(self, legacy_models: Dict[str, str]) -> None:
        super().__init__()
        self.legacy_models = legacy_models

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        new = self.RENAMED.get(updated_node.attr.value)
        if new is None:
            return updated_node
        owner = updated_node.value
        is_self = isinstance(owner, cst.Name) and owner.value == "self"
        is_super = isinstance(owner, cst.Call) and dotted(owner.func) == "super"
        is_base = dotted(owner).split(".")[-1] in self.legacy_models
        return updated_node.with_changes(attr=cst.Name(new)) if (is_self or is_super or is_base) else updated_node


class _BaseInitCalls(cst.CSTTransformer):
    """Drops legacy base ``__init__`` calls; for a repository base they become
    ``setup``; for a built-in model base (``torch_builtin``) they become the
    ``setup(<same arguments>)`` of its RLModule base, which builds its layers."""

    def __init__(self, direct: bool, bound: Dict[str, str], kind: str) -> None:
        super().__init__()
        self.direct = direct
        self.bound = bound  # legacy bases as this file spells them (aliases too)
        self.kind = kind
        self.framework_bases = KERAS_MODEL if kind in TF_KINDS else NN_MODULE

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)  # the calls are whole lines: skip everything below a line
        return kind not in EXPRESSIONS and kind not in SIMPLE_LINES and super().on_visit(node)

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if len(updated_node.body) != 1 or not isinstance(updated_node.body[0], cst.Expr):
            return updated_node
        call = updated_node.body[0].value
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "__init__"):
            return updated_node
        owner = call.func.value

        def args() -> str:
            return ", ".join(cst.Module([]).code_for_node(a.with_changes(comma=cst.MaybeSentinel.DEFAULT)) for a in call.args)

        if isinstance(owner, cst.Call) and dotted(owner.func) == "super":
            if self.kind in BUILTIN_KINDS and self.direct:
                return _replace_expr(updated_node, f"super().setup({args()})")
            if self.direct:
                return cst.RemoveFromParent()
            return _replace_expr(updated_node, "super().setup()")
        base = dotted(owner)
        base_kind = resolve_base(base, self.bound) if base else None
        if base_kind in BUILTIN_KINDS:
            return _replace_expr(updated_node, f"{builtin_base(base_kind, base)}.setup({args()})")
        if base in self.framework_bases or base_kind or base.split(".")[-1] in LEGACY_MODEL_BASES:
            return cst.RemoveFromParent()
        if not self.direct and base:
            return _replace_expr(updated_node, f"{base}.setup(self)")
        return updated_node


class _RegisterVariables(cst.CSTTransformer):
    """Drops ``self.register_variables(...)`` lines (TF1 needed them; Keras tracks
    variables itself); a block left empty gets ``pass``."""

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        return kind not in EXPRESSIONS and kind not in SIMPLE_LINES and super().on_visit(node)

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if len(updated_node.body) != 1 or not isinstance(updated_node.body[0], cst.Expr):
            return updated_node
        call = updated_node.body[0].value
        if isinstance(call, cst.Call) and dotted(call.func) == "self.register_variables":
            return cst.RemoveFromParent()
        return updated_node

    def leave_IndentedBlock(self, original_node, updated_node):
        if updated_node.body:
            return updated_node
        return updated_node.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])


@dataclasses.dataclass
class _TfUses:
    tf1: Set[str]  # TF1 API names used (``tf1.variable_scope``, ``tf.compat.v1.get_variable``)
    v1_only: Set[str]  # TF1-only names through ray 0.8's one-name ``tf`` (``tf.log``)
    reserved: Set[str]  # Keras' read-only attributes assigned on ``self``
    context: bool  # ``self.context`` used


#: TF1-only names a ray 0.8 ``tf = try_import_tf()`` (``tensorflow.compat.v1``) offered
#: that TensorFlow 2's ``tf`` (what the ``imports`` rule binds now) lacks or changed.
TF1_ONLY = frozenset({
    "placeholder", "variable_scope", "get_variable", "Session", "InteractiveSession", "layers", "contrib", "log",
    "to_float", "to_int32", "to_int64", "random_normal", "random_uniform", "truncated_normal", "AUTO_REUSE",
    "global_variables_initializer", "get_default_graph", "global_variables", "trainable_variables",
    "get_collection", "GraphKeys", "assign", "div", "mod", "floordiv", "sparse_to_dense", "arg_max", "arg_min",
    "Print", "py_func", "space_to_batch", "batch_to_space", "variables_initializer", "reset_default_graph",
    "train", "summary", "logging", "disable_v2_behavior", "enable_eager_execution", "distributions",
})


def _tf_legacy_uses(body: cst.BaseSuite, tf1_names: Set[str], tf_v1_names: Set[str] = frozenset()) -> _TfUses:
    """What a TFModelV2 method uses that a TfRLModule cannot run (a read-only ``walk``):
    the TF1 API (names bound to ``tensorflow.compat.v1``), ``self.context()``,
    assignments to Keras' reserved attributes."""
    uses = _TfUses(set(), set(), set(), False)

    def assigned(target: cst.BaseExpression) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                assigned(element.value)
            return
        path = dotted(target)
        if path.count(".") == 1 and path.startswith("self.") and path[5:] in KERAS_RESERVED:
            uses.reserved.add(path[5:])

    for node in walk(body):
        kind = type(node)
        if kind is cst.Attribute:
            parts = dotted(node).split(".")
            for prefix in TF1_PATHS:  # ``tf.compat.v1.get_variable`` -> that name
                n = prefix.count(".") + 1
                if len(parts) > n and ".".join(parts[:n]) == prefix:
                    uses.tf1.add(".".join(parts[: n + 1]))
            if len(parts) > 1 and parts[0] in tf1_names:  # ``tf1.variable_scope``
                uses.tf1.add(".".join(parts[:2]))
            elif len(parts) > 1 and parts[0] in tf_v1_names and parts[1] in TF1_ONLY:  # ray 0.8's ``tf.log``
                if not (parts[1] == "summary" or (parts[1] == "train" and not parts[-1].endswith("Optimizer"))):
                    uses.v1_only.add(".".join(parts[:2]))
            if parts == ["self", "context"]:
                uses.context = True
        elif kind is cst.Assign:
            for target in node.targets:
                assigned(target.target)
        elif kind is cst.AnnAssign:
            assigned(node.target)
    return uses


def _tf1_bindings(small: cst.BaseSmallStatement) -> List[str]:
    """Names a module-level statement binds to the TF1 API: ``import tensorflow.compat.v1
    as tf1``, ``from tensorflow.compat import v1``, the first name of
    ``tf1, tf, tfv = try_import_tf()``."""
    names = []
    for module, name, asname in bound_imports(small):
        if module == "tensorflow.compat.v1" and name is None and asname:
            names.append(asname)
        elif module == "tensorflow.compat" and name == "v1":
            names.append(asname or name)
    targets = try_import_tf_targets(small)
    if targets and len(targets) > 1 and targets[0]:
        names.append(targets[0])
    return names


def _one_name_try_import_tf(small: cst.CSTNode) -> List[str]:
    """The name of ray 0.8's ``tf = try_import_tf()`` (``tensorflow.compat.v1`` then)."""
    targets = try_import_tf_targets(small)
    return targets if targets is not None and len(targets) == 1 else []


def _replace_expr(line: cst.SimpleStatementLine, code: str) -> cst.SimpleStatementLine:
    return line.with_changes(body=[cst.Expr(cst.parse_expression(code))])


def _after_docstring(body: Sequence[cst.CSTNode]) -> int:
    return 1 if body and is_docstring(body[0]) else 0


def _after_blank_line(statement: cst.BaseStatement) -> cst.BaseStatement:
    """``statement`` with a blank line first among the lines above it (if it had none)."""
    lines = statement.leading_lines
    if lines and lines[0].comment is None:
        return statement
    return statement.with_changes(leading_lines=[cst.EmptyLine(indent=False), *lines])


def _parse_methods(text: str, module: cst.Module) -> List[cst.BaseStatement]:
    """Methods from template ``text`` (4-space indented), in the module's indentation
    and newline, each preceded by one blank line."""
    return list(_parsed_methods(text, module.default_indent, module.default_newline))


@functools.lru_cache(maxsize=64)
def _parsed_methods(text: str, indent: str, newline: str) -> Tuple[cst.BaseStatement, ...]:
    text = text.replace("    ", indent).replace("\n", newline)
    parsed = cst.parse_module(text, config=cst.PartialParserConfig(default_indent=indent, default_newline=newline))
    return tuple(statement.with_changes(leading_lines=[cst.EmptyLine(indent=False)]) for statement in parsed.body)


def builtin_base(kind: str, legacy: str) -> str:
    """The ``compat.migrated_builtins`` base of a subclass of built-in model ``legacy``
    (``fcnet.FullyConnectedNetwork`` -> ``FullyConnectedNetworkRLModule``, or
    ``TfFullyConnectedNetworkRLModule`` for the TF one)."""
    return f"{'Tf' if kind == 'tf_builtin' else ''}{legacy.split('.')[-1]}RLModule"


def _returns_empty_list(method: cst.FunctionDef) -> bool:
    """Whether ``method``'s body is just ``return []`` (after a docstring): the legacy
    default ``get_initial_state`` (a stateless model)."""
    body = [s for s in method.body.body if not is_docstring(s)] if isinstance(method.body, cst.IndentedBlock) else []
    if len(body) != 1 or not isinstance(body[0], cst.SimpleStatementLine) or len(body[0].body) != 1:
        return False
    line = body[0].body[0]
    return isinstance(line, cst.Return) and isinstance(line.value, cst.List) and not line.value.elements


@dataclasses.dataclass
class _Survey:
    names: Set[str]  # ``self.<name>`` anywhere, methods and class attributes defined
    strings: Set[str]  # literals of ``getattr(self, "...")`` / setattr / hasattr / delattr
    catalog_calls: Set[str]  # ``ModelCatalog.get_model_v2`` (and the like) calls


#: ``walk`` skip table: a nested class has its own ``self``.
_NO_NESTED_CLASSES = {cst.ClassDef: frozenset({"body", "bases", "keywords", "decorators"})}
_BY_NAME = frozenset({"getattr", "setattr", "hasattr", "delattr"})
_CATALOG_BUILDERS = frozenset({"get_model_v2", "get_model", "_get_v2_model_class"})


def _attribute_survey(body: Sequence[cst.BaseStatement]) -> _Survey:
    """The names a class body uses as its own (a read-only ``walk``: visitors are slow)."""
    survey = _Survey(set(), set(), set())
    for statement in body:
        if isinstance(statement, cst.FunctionDef):
            survey.names.add(statement.name.value)
        elif isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                targets = small.targets if isinstance(small, cst.Assign) else (
                    [small] if isinstance(small, cst.AnnAssign) else [])
                for target in targets:
                    if isinstance(target.target, cst.Name):
                        survey.names.add(target.target.value)
        if isinstance(statement, cst.ClassDef):
            continue
        for node in walk(statement, _NO_NESTED_CLASSES):
            kind = type(node)
            if kind is cst.Attribute and type(node.value) is cst.Name and node.value.value == "self":
                survey.names.add(node.attr.value)
            elif kind is cst.Call and type(node.func) is cst.Name and node.func.value in _BY_NAME and len(node.args) >= 2:
                value = node.args[1].value
                if isinstance(value, cst.SimpleString) and isinstance(value.evaluated_value, str):
                    survey.strings.add(value.evaluated_value)
            elif kind is cst.Call and type(node.func) is cst.Attribute and node.func.attr.value in _CATALOG_BUILDERS:
                if dotted(node.func.value).split(".")[-1] == "ModelCatalog":
                    survey.catalog_calls.add(f"ModelCatalog.{node.func.attr.value}")
    return survey


class _Rename(cst.CSTTransformer):
    """``self.<old>`` -> ``self.<new>``, and the class-level ``def <old>`` / ``<old> = ``,
    for every pair of ``renames`` (one statement of a class body at a time)."""

    def __init__(self, renames: Dict[str, str]) -> None:
        super().__init__()
        self.renames = renames
        self.depth = 0

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        self.depth -= 1
        new = self.renames.get(updated_node.name.value) if self.depth == 0 else None
        return updated_node.with_changes(name=cst.Name(new)) if new else updated_node

    def leave_AssignTarget(self, original_node: cst.AssignTarget, updated_node: cst.AssignTarget) -> cst.AssignTarget:
        target = updated_node.target
        if self.depth == 0 and isinstance(target, cst.Name) and target.value in self.renames:
            return updated_node.with_changes(target=cst.Name(self.renames[target.value]))
        return updated_node

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        owner = updated_node.value
        if isinstance(owner, cst.Name) and owner.value == "self" and updated_node.attr.value in self.renames:
            return updated_node.with_changes(attr=cst.Name(self.renames[updated_node.attr.value]))
        return updated_node


def _input_dict_keys(body: cst.BaseSuite, name: str) -> Set[str]:
    """Entries of ``input_dict`` (the ``forward`` parameter called ``name``) that ``body``
    reads and that are not in ``BUILT_INPUTS``: ``input_dict["prev_actions"]``,
    ``input_dict[SampleBatch.PREV_REWARDS]``, ``input_dict.get("infos")``."""
    found: Set[str] = set()

    def key(node: cst.BaseExpression) -> None:
        if isinstance(node, cst.SimpleString) and isinstance(node.evaluated_value, str):
            entry, shown = node.evaluated_value, node.value
        elif isinstance(node, cst.Attribute) and dotted(node.value).split(".")[-1] == "SampleBatch":
            entry, shown = node.attr.value, dotted(node)
        else:
            return
        if entry not in BUILT_INPUTS:
            found.add(f"input_dict[{shown}]")

    for node in walk(body):
        kind = type(node)
        if kind is cst.Subscript and type(node.value) is cst.Name and node.value.value == name and len(node.slice) == 1:
            if isinstance(node.slice[0].slice, cst.Index):
                key(node.slice[0].slice.value)
        elif kind is cst.Call and type(node.func) is cst.Attribute and node.args:
            owner = node.func.value
            if type(owner) is cst.Name and owner.value == name and node.func.attr.value == "get":
                key(node.args[0].value)
    return found
