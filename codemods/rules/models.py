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
  calls go (or become ``super().setup()`` for a repository base);
- ``forward`` -> ``_model_forward`` (``TorchRLModule.forward`` means something else);
  ``_forward_inference`` / ``_forward_exploration`` / ``_forward_train`` are added: they
  call it (and ``value_function()`` for ``vf_preds``; ``forward_rnn`` with the carried
  state for recurrent models);
- ``@override(<legacy base>)`` decorators go.

A ``TFModelV2`` takes the same path (the helpers build tf tensors for a ``TfRLModule``);
only TF-specific lines differ: ``self.register_variables(...)`` calls (a TF1
requirement) go, and what a Keras 3 ``TfRLModule`` cannot run keeps a TODO (TF1 graph
code, ``self.context()``, ``update_ops``, attributes and methods that clash with
``tf.keras.Model``). The TF ``RecurrentNetwork`` stays flagged, not rewritten.
"""

from __future__ import annotations

import ast
import functools
from typing import Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from codemods.import_edits import ImportSpec, add_imports, bound_imports, dotted, is_docstring, used_names
from codemods.repo_index import LEGACY_MODEL_BASES
from codemods.rule import EXPRESSIONS, SIMPLE_LINES, SKELETON, RepoIndex, Rule, todo_comment, with_todos

HELPERS = "compat.migrated_model"
ANCHOR_TF = "tensorflow-models"
ANCHOR_EXTRAS = "model-extras"
LEGACY_ARGS = ("obs_space", "action_space", "num_outputs", "model_config", "name")
NN_MODULE = {"nn.Module", "torch.nn.Module", "Module"}
KERAS_MODEL = {"tf.keras.Model", "tf.keras.models.Model", "keras.Model", "keras.models.Model"}
_BASE_BY_KIND = {"torch": ("rlmodule.torch", "TorchRLModule"), "recurrent": ("rlmodule.torch", "TorchRLModule"),
                 "tf": ("rlmodule.tf", "TfRLModule")}

TF_RECURRENT = (
    "the TF RecurrentNetwork is not migrated automatically: port forward_rnn into a TfRLModule by hand "
    "(state_in/state_out dicts, as the torch RecurrentNetwork migration does)"
)
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

_RECURRENT_INITIAL_STATE = '''\
def get_initial_state(self):
    return legacy_state_dict(self._model_initial_state())
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


class Models(Rule):
    name = "models"
    summary = "ModelV2 / TorchModelV2 / RecurrentNetwork / TFModelV2 subclasses -> RLModule subclasses"
    order = 20
    triggers = (b"ModelV2", b"RecurrentNetwork", b"TorchRNN")
    descend_only = SKELETON  # classes are found among statements

    @classmethod
    def applies_to(cls, source: bytes, repo: RepoIndex) -> bool:
        return super().applies_to(source, repo) or any(name in source for name in repo.trigger_names)

    def visit_Module(self, node: cst.Module) -> None:
        self.module = node
        self.imports: Set[ImportSpec] = set()
        self.legacy_bases: Dict[str, str] = {}
        self.tf1_names: Set[str] = set()  # what this file binds to tensorflow.compat.v1
        for statement in node.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    self.tf1_names.update(_tf1_bindings(small))
                    for module, name, asname in bound_imports(small):
                        if name in LEGACY_MODEL_BASES and module.startswith("ray.rllib"):
                            kind = LEGACY_MODEL_BASES[name]
                            if ".tf." in module + ".":  # every base of a ``tf`` module is TF
                                kind = "tf_recurrent" if kind == "recurrent" else "tf"
                            self.legacy_bases[asname or name] = kind

    def _kind(self, node: cst.ClassDef) -> Tuple[Optional[str], bool]:
        """(kind, direct): the legacy kind of a class, and whether a legacy base is direct."""
        names = [dotted(arg.value) for arg in node.bases if arg.keyword is None]
        for base in names:
            kind = self.legacy_bases.get(base) or self.legacy_bases.get(base.split(".")[-1])
            if kind:
                return kind, True
        for base in names:
            kind = self.context.repo.legacy_models.get(base.split(".")[-1])
            if kind:
                return kind, False
        return None, False

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        kind, direct = self._kind(updated_node)
        if kind is None:
            return updated_node
        if kind == "tf_recurrent":
            self.flag(TF_RECURRENT, ANCHOR_TF, original_node)
            return updated_node
        self.changed()
        node = updated_node
        if direct:
            node = node.with_changes(bases=self._bases(node, kind))
            self.imports.add((_BASE_BY_KIND[kind][0], _BASE_BY_KIND[kind][1], None))
        methods = _ClassMethods(self, node, kind, direct)
        return methods.migrated()

    def _bases(self, node: cst.ClassDef, kind: str) -> List[cst.Arg]:
        new_base = cst.Arg(cst.Name(_BASE_BY_KIND[kind][1]))
        bases: List[cst.Arg] = []
        placed = False
        for arg in node.bases:
            name = dotted(arg.value)
            legacy = arg.keyword is None and (name in self.legacy_bases or name.split(".")[-1] in self.legacy_bases)
            framework_base = NN_MODULE if kind != "tf" else KERAS_MODEL
            if legacy or (arg.keyword is None and name in framework_base):
                if not placed:
                    bases.append(new_base.with_changes(comma=arg.comma))
                    placed = True
                continue
            bases.append(arg)
        if bases:
            bases[-1] = bases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return bases

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if not self.imports:
            return updated_node
        return add_imports(updated_node, sorted(self.imports, key=lambda s: (s[0], s[1] or "")))


class _ClassMethods:
    """The method-level rewrites of one legacy model class."""

    def __init__(self, rule: Models, node: cst.ClassDef, kind: str, direct: bool) -> None:
        self.rule, self.node, self.kind, self.direct = rule, node, kind, direct
        self.module = rule.module
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        self.methods = {s.name.value: s for s in body if isinstance(s, cst.FunctionDef)}

    def migrated(self) -> cst.ClassDef:
        if not isinstance(self.node.body, cst.IndentedBlock):
            return self.node
        body: List[cst.BaseStatement] = []
        setup_index = None
        for statement in self.node.body.body:
            if isinstance(statement, cst.FunctionDef):
                statement = self._method(statement)
                if statement.name.value == "setup":
                    setup_index = len(body)
            body.append(statement)
        generated = self._generated()
        if generated:
            at = setup_index + 1 if setup_index is not None else _after_docstring(body)
            body[at:at] = generated
        return self.node.with_changes(body=self.node.body.with_changes(body=body))

    # -- one method -------------------------------------------------------------------
    def _method(self, method: cst.FunctionDef) -> cst.FunctionDef:
        method = method.with_changes(decorators=[d for d in method.decorators if not self._legacy_override(d)])
        name = method.name.value
        if name in MODEL_EXTRAS:
            method = with_todos(method, [todo_comment(MODEL_EXTRAS[name], ANCHOR_EXTRAS)])
        if self.kind == "tf":
            method = self._tf_method(method)
        if name == "__init__":
            method = self._setup(method)
        elif name == "forward":
            method = method.with_changes(name=cst.Name("_model_forward"))
        elif name == "get_initial_state" and self.kind == "recurrent" and self.direct and "forward_rnn" in self.methods:
            method = method.with_changes(name=cst.Name("_model_initial_state"))
        if b".forward(" in self.rule.context.source:
            method = method.visit(_SelfCalls(self.rule.context.repo.legacy_models))
        return method

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
        finder = _TfLegacyUses(self.rule.tf1_names)
        method.body.visit(finder)
        if finder.tf1:
            found = ", ".join(sorted(finder.tf1))
            todos.append(
                f"TF1 graph code ({found}) does not run in a Keras 3 TfRLModule: create the variables "
                "as Keras layers (or self.add_weight()) in setup()"
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
        return target.split(".")[-1] in LEGACY_MODEL_BASES or target in self.rule.legacy_bases or target in NN_MODULE

    def _setup(self, init: cst.FunctionDef) -> cst.FunctionDef:
        params = init.params
        positional = [p.name.value for p in params.params][1:]  # drop self
        legacy_names = positional[: len(LEGACY_ARGS)]
        custom: List[cst.Param] = list(params.params[1 + len(LEGACY_ARGS):]) + list(params.kwonly_params)
        body = init.body.visit(_BaseInitCalls(self.direct, set(self.rule.legacy_bases), self.kind))
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
    def _generated(self) -> List[cst.BaseStatement]:
        if not self.direct or "_forward_train" in self.methods:
            return []
        has_vf = "value_function" in self.methods
        if self.kind == "recurrent" and "forward_rnn" in self.methods:
            vf = '\n        "vf_preds": self.value_function().reshape(inputs.shape[:2]),' if has_vf else ""
            text = _RECURRENT_FORWARDS.format(vf=vf)
            if "get_initial_state" in self.methods:
                text = _RECURRENT_INITIAL_STATE + "\n" + text
            self.rule.imports.update((HELPERS, n, None) for n in ("legacy_rnn_inputs", "legacy_state_dict"))
        elif "forward" in self.methods:
            text = _FORWARDS.format(vf=', "vf_preds": self.value_function()' if has_vf else "")
            self.rule.imports.add((HELPERS, "legacy_input_dict", None))
        else:
            return []
        return _parse_methods(text, self.module)


class _SelfCalls(cst.CSTTransformer):
    """``self.forward(`` / ``super().forward(`` / ``Base.forward(self, `` (a legacy model
    base of the repository) -> ``..._model_forward(``."""

    def __init__(self, legacy_models: Dict[str, str]) -> None:
        super().__init__()
        self.legacy_models = legacy_models

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        if updated_node.attr.value != "forward":
            return updated_node
        owner = updated_node.value
        is_self = isinstance(owner, cst.Name) and owner.value == "self"
        is_super = isinstance(owner, cst.Call) and dotted(owner.func) == "super"
        is_base = dotted(owner).split(".")[-1] in self.legacy_models
        return updated_node.with_changes(attr=cst.Name("_model_forward")) if (is_self or is_super or is_base) else updated_node


class _BaseInitCalls(cst.CSTTransformer):
    """Drops legacy base ``__init__`` calls; for a repository base they become ``setup``."""

    def __init__(self, direct: bool, legacy_names: Set[str], kind: str) -> None:
        super().__init__()
        self.direct = direct
        self.legacy_names = legacy_names  # legacy bases as this file spells them (aliases too)
        self.framework_bases = KERAS_MODEL if kind == "tf" else NN_MODULE

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
        if isinstance(owner, cst.Call) and dotted(owner.func) == "super":
            if self.direct:
                return cst.RemoveFromParent()
            return _replace_expr(updated_node, "super().setup()")
        base = dotted(owner)
        if base in self.framework_bases or base in self.legacy_names or base.split(".")[-1] in LEGACY_MODEL_BASES:
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


class _TfLegacyUses(cst.CSTVisitor):
    """What a TFModelV2 method uses that a TfRLModule cannot run: the TF1 API (names bound
    to ``tensorflow.compat.v1``), ``self.context()``, assignments to Keras' reserved
    attributes."""

    def __init__(self, tf1_names: Set[str]) -> None:
        super().__init__()
        self.tf1_names = tf1_names
        self.tf1: Set[str] = set()
        self.reserved: Set[str] = set()
        self.context = False

    def visit_Attribute(self, node: cst.Attribute) -> Optional[bool]:
        parts = dotted(node).split(".")
        for prefix in TF1_PATHS:  # ``tf.compat.v1.get_variable`` -> that name
            n = prefix.count(".") + 1
            if len(parts) > n and ".".join(parts[:n]) == prefix:
                self.tf1.add(".".join(parts[: n + 1]))
                return False
        if len(parts) > 1 and parts[0] in self.tf1_names:  # ``tf1.variable_scope``
            self.tf1.add(".".join(parts[:2]))
            return False
        if parts == ["self", "context"]:
            self.context = True
        return True

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._assigned(target.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._assigned(node.target)

    def _assigned(self, target: cst.BaseExpression) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._assigned(element.value)
            return
        path = dotted(target)
        if path.count(".") == 1 and path.startswith("self.") and path[5:] in KERAS_RESERVED:
            self.reserved.add(path[5:])


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
    if isinstance(small, cst.Assign) and isinstance(small.value, cst.Call):
        if dotted(small.value.func).split(".")[-1] == "try_import_tf":
            target = small.targets[0].target
            if isinstance(target, (cst.Tuple, cst.List)) and target.elements:
                first = target.elements[0].value
                if isinstance(first, cst.Name):
                    names.append(first.value)
    return names


def _replace_expr(line: cst.SimpleStatementLine, code: str) -> cst.SimpleStatementLine:
    return line.with_changes(body=[cst.Expr(cst.parse_expression(code))])


def _after_docstring(body: Sequence[cst.CSTNode]) -> int:
    return 1 if body and is_docstring(body[0]) else 0


def _parse_methods(text: str, module: cst.Module) -> List[cst.BaseStatement]:
    """Methods from template ``text`` (4-space indented), in the module's indentation
    and newline, each preceded by one blank line."""
    return list(_parsed_methods(text, module.default_indent, module.default_newline))


@functools.lru_cache(maxsize=64)
def _parsed_methods(text: str, indent: str, newline: str) -> Tuple[cst.BaseStatement, ...]:
    text = text.replace("    ", indent).replace("\n", newline)
    parsed = cst.parse_module(text, config=cst.PartialParserConfig(default_indent=indent, default_newline=newline))
    return tuple(statement.with_changes(leading_lines=[cst.EmptyLine(indent=False)]) for statement in parsed.body)
