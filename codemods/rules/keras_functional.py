"""Rule ``keras_functional``: Keras 2 functional-model code that Keras 3 refuses.

Legacy TF models (RLlib's own ``RecurrentNetwork`` example among them) build Keras
functional models from ``tf.keras.layers.Input`` tensors and call raw TensorFlow ops
on them. Under Keras 3 such a tensor is a ``KerasTensor``, a symbolic placeholder that
no TensorFlow function accepts (``ValueError: A KerasTensor cannot be used as input to
a TensorFlow function``). Two rewrites, in every function of a file (a migrated
``setup()`` and a legacy ``__init__`` alike; both are the same code under Keras 2):

- ``tf.<op>(x, ...)`` whose first argument is provably a KerasTensor - a name (or
  ``self.<attr>``) bound in the same function to ``tf.keras.layers.Input(...)``, to a
  Keras layer called on one, to a slice or arithmetic of one, or such an expression
  itself - becomes ``tf.keras.layers.Lambda(lambda t: tf.<op>(t, ...), autocast=False)(x)``:
  the op runs inside a layer, on the real tensor, when the model runs (``autocast=False``:
  a layer casts float64 / float16 inputs to float32, the raw op did not). Only when no other
  argument holds a KerasTensor and every other argument reads the same value when the
  model runs as when it is built (a Lambda reads them late): literals, module
  attributes (``tf.int32``), names bound once in the function outside loops. Otherwise
  the statement gets a TODO saying what to write;
- a recurrent layer (``LSTM``, ``GRU``, ``SimpleRNN``, ``RNN``, ``Bidirectional``,
  ``ConvLSTM*D``) called with ``inputs=x`` gets ``x`` as its first positional argument:
  Keras 3 names that parameter ``sequences`` (Keras 2 took ``inputs=`` for every layer).
  The layer is a constructor call, a name bound to one in the same function, or a
  ``self.<attr>`` the class only ever assigns a recurrent layer.

Before::

    seq_in = tf.keras.layers.Input(shape=(), dtype=tf.int32)
    mask = tf.sequence_mask(seq_in)
    out = tf.keras.layers.LSTM(8, return_sequences=True)(inputs=x, mask=mask)

After::

    seq_in = tf.keras.layers.Input(shape=(), dtype=tf.int32)
    mask = tf.keras.layers.Lambda(lambda t: tf.sequence_mask(t), autocast=False)(seq_in)
    out = tf.keras.layers.LSTM(8, return_sequences=True)(x, mask=mask)

A Keras ``Lambda`` infers its output from float32 placeholders: an op that needs an
integer input there (``tf.one_hot``, ``tf.gather`` indices) makes Keras raise when the
model is built ("could not automatically infer the shape of the Lambda's output"),
never a wrong result; write a ``tf.keras.layers.Layer`` subclass for those. Values
that reach a tf op through a call the rule cannot follow (a helper function, another
method) are not seen.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from codemods.import_edits import bound_imports, dotted, dotted_expr, try_import_tf_targets
from codemods.rule import SKELETON, Rule, walk

ANCHOR = "keras-3-functional-models"
#: Keras layers whose Keras 3 ``call`` names its first parameter ``sequences``, not ``inputs``.
RNN_LAYERS = frozenset({"RNN", "LSTM", "GRU", "SimpleRNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})
_TF_MODULES = ("tensorflow", "tensorflow.compat.v1", "tensorflow.compat.v2")
_KERAS_MODULES = ("keras", "tensorflow.keras")
_LAYERS_MODULES = ("keras.layers", "tensorflow.keras.layers")
_LITERALS = (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString)
_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_LOOPS = (cst.For, cst.While)
# Statuses: provably a KerasTensor; a list/tuple display of them; computed from one.
KT, KTS, MAYBE = "kt", "kts", "maybe"


class _KerasNames:
    """What a file binds (at module level) to tensorflow, keras and keras layers."""

    def __init__(self, module: cst.Module) -> None:
        self.tf: List[str] = []  # names bound to the tensorflow module, TF2 ones first
        self.tf1: Set[str] = set()  # of those, the ones bound to tensorflow.compat.v1
        self.keras: Set[str] = set()  # dotted prefixes naming the keras package
        self.layers: Set[str] = set()  # dotted prefixes naming keras.layers
        self.imported: Dict[str, str] = {}  # local name -> keras symbol (Input, LSTM, ...)
        self.modules: Set[str] = set()  # every name a module-level import binds
        for statement in module.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                self._read(small)
        self.tf.sort(key=lambda name: name in self.tf1)
        self.keras.update(f"{name}.keras" for name in self.tf)
        self.layers.update(f"{prefix}.layers" for prefix in self.keras)

    def _read(self, small: cst.BaseSmallStatement) -> None:
        for module, name, asname in bound_imports(small):
            full = module if name is None else f"{module}.{name}"
            local = asname or (name if name is not None else module.split(".")[0])
            self.modules.add(local)
            if name is None and asname is None:  # ``import tensorflow.keras`` binds ``tensorflow``
                if module.split(".")[0] == "tensorflow":
                    self._add_tf("tensorflow", False)
                elif module.split(".")[0] == "keras":
                    self.keras.add("keras")
                continue
            if full in _TF_MODULES:
                self._add_tf(local, full == "tensorflow.compat.v1")
            elif full in _KERAS_MODULES:
                self.keras.add(local)
            elif full in _LAYERS_MODULES:
                self.layers.add(local)
            elif name is not None and module in _LAYERS_MODULES + _KERAS_MODULES:
                self.imported[local] = name
        names = try_import_tf_targets(small)
        if names is not None and len(names) == 1:  # ray 0.8: ``tf = try_import_tf()``, TF 2 after migration
            self._add_tf(names[0], False)
            self.modules.add(names[0])
        elif names:
            if len(names) > 1 and names[1]:
                self._add_tf(names[1], False)
            if names[0]:
                self._add_tf(names[0], True)
            self.modules.update(n for n in names if n)

    def _add_tf(self, name: str, v1: bool) -> None:
        if name not in self.tf:
            self.tf.append(name)
        if v1:
            self.tf1.add(name)

    def keras_symbol(self, func: cst.BaseExpression) -> Optional[str]:
        """``"Input"``, ``"LSTM"``, ... when ``func`` names ``keras.Input`` or a
        ``keras.layers`` member."""
        path = dotted(func)
        if not path:
            return None
        if path in self.imported:
            return self.imported[path]
        head, _, last = path.rpartition(".")
        if head in self.layers or (head in self.keras and last == "Input"):
            return last
        return None

    def tf_op(self, func: cst.BaseExpression) -> Optional[str]:
        """The dotted name of a TensorFlow function (not under ``tf.keras``)."""
        path = dotted(func)
        parts = path.split(".")
        if len(parts) < 2 or parts[0] not in self.tf or parts[1] == "keras":
            return None
        if parts[1] == "compat" and "keras" in parts[2:]:
            return None
        return path

    @property
    def lambda_layer(self) -> Optional[str]:
        """Where ``Lambda`` is reached in this file (a TF2 tensorflow name first)."""
        for name in self.tf:
            if name not in self.tf1:
                return f"{name}.keras.layers.Lambda"
        for name, symbol in self.imported.items():
            if symbol == "Lambda":
                return name
        for prefix in sorted(self.layers):
            if not prefix.split(".")[0] in self.tf1:
                return f"{prefix}.Lambda"
        return None


def _is_layer_class(symbol: Optional[str]) -> bool:
    return bool(symbol) and symbol[0].isupper() and symbol != "Input"


class _FunctionScan:
    """One function body, statement by statement: which names hold KerasTensors, and
    what to do with each tf op / recurrent layer call (``decisions``: id of the call
    node -> ``("wrap", param)`` | ``("inputs",)`` | ``("todo", message)``)."""

    def __init__(self, names: _KerasNames, rnn_attrs: Dict[str, str], function: cst.FunctionDef) -> None:
        self.names = names
        self.rnn_attrs = rnn_attrs  # self.<attr> -> recurrent layer symbol (whole class)
        self.status: Dict[str, str] = {}  # name / "self.attr" -> KT | MAYBE
        self.layers: Dict[str, str] = {}  # local name -> layer symbol of the constructor bound to it
        self.decisions: Dict[int, Tuple[str, ...]] = {}
        self.bindings: Dict[str, int] = {}
        for param in _params(function):
            self.bindings[param] = self.bindings.get(param, 0) + 1
        self._count_bindings(function.body, in_loop=False)
        self._block(function.body)

    # -- how often each local name is bound (a Lambda reads names when the model runs) --
    def _count_bindings(self, node: cst.CSTNode, in_loop: bool) -> None:
        for child in node.children:
            if isinstance(child, _SCOPES):
                if isinstance(child, (cst.FunctionDef, cst.ClassDef)):
                    self._bound(child.name, 1, in_loop)
                continue
            loop = in_loop or isinstance(child, _LOOPS)
            if isinstance(child, cst.AssignTarget):
                self._bound(child.target, 1, in_loop)
            elif isinstance(child, (cst.AnnAssign, cst.NamedExpr)):
                self._bound(child.target, 1, in_loop)
            elif isinstance(child, cst.AugAssign):
                self._bound(child.target, 2, in_loop)
            elif isinstance(child, cst.For):
                self._bound(child.target, 2, in_loop)
            elif isinstance(child, cst.AsName):
                self._bound(child.name, 1, in_loop)
            self._count_bindings(child, loop)

    def _bound(self, target: cst.CSTNode, times: int, in_loop: bool) -> None:
        if isinstance(target, cst.Name):
            self.bindings[target.value] = self.bindings.get(target.value, 0) + (2 if in_loop else times)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bound(element.value, times, in_loop)
        elif isinstance(target, cst.StarredElement):
            self._bound(target.value, times, in_loop)

    # -- statements in order --------------------------------------------------------------
    def _block(self, node: cst.CSTNode) -> None:
        for child in node.children:
            if isinstance(child, (cst.FunctionDef, cst.ClassDef)):
                continue  # a scope of its own
            if isinstance(child, cst.BaseSmallStatement):
                self._small(child)
            elif isinstance(child, cst.BaseExpression):
                self._expr(child)
            else:
                self._block(child)

    def _small(self, small: cst.BaseSmallStatement) -> None:
        if isinstance(small, cst.Assign):
            status = self._expr(small.value)
            layer = self._constructed_layer(small.value)
            for target in small.targets:
                self._bind(target.target, status, layer, small.value)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                self._bind(small.target, self._expr(small.value), self._constructed_layer(small.value), small.value)
        elif isinstance(small, cst.AugAssign):
            status = self._expr(small.value)
            key = dotted(small.target)
            if key and (status or self.status.get(key)):
                self.status[key] = KT if status == KT and self.status.get(key) == KT else MAYBE
        else:
            self._block(small)

    def _constructed_layer(self, value: cst.BaseExpression) -> Optional[str]:
        if isinstance(value, cst.Call):
            symbol = self.names.keras_symbol(value.func)
            if _is_layer_class(symbol):
                return symbol
        return None

    def _bind(self, target: cst.BaseExpression, status: Optional[str], layer: Optional[str],
              value: Optional[cst.BaseExpression]) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            values = value.elements if isinstance(value, (cst.Tuple, cst.List)) else None
            for i, element in enumerate(target.elements):
                if values is not None and len(values) == len(target.elements):
                    sub = values[i].value
                    self._bind(element.value, self._known(sub), self._constructed_layer(sub), sub)
                else:
                    self._bind(element.value, status, None, None)
            return
        if isinstance(target, cst.StarredElement):
            self._bind(target.value, MAYBE if status else None, None, None)
            return
        key = dotted(target)
        if not key:
            return
        if status:
            self.status[key] = status
        else:
            self.status.pop(key, None)
        if layer and isinstance(target, cst.Name):
            self.layers[key] = layer
        else:
            self.layers.pop(key, None)

    def _known(self, expr: cst.BaseExpression) -> Optional[str]:
        """The status of an expression already scanned (scanning again decides the same)."""
        return self._expr(expr)

    # -- expressions, inner first ---------------------------------------------------------
    def _expr(self, expr: cst.CSTNode) -> Optional[str]:
        kind = type(expr)
        if kind is cst.Name:
            return self.status.get(expr.value)
        if kind is cst.Attribute:
            key = dotted(expr)
            if key and key in self.status:
                return self.status[key]
            return MAYBE if self._expr(expr.value) else None  # x.shape of a KerasTensor: not one
        if kind is cst.Call:
            return self._call(expr)
        if kind is cst.Subscript:
            base = self._expr(expr.value)
            index = self._children(expr.slice)
            return KT if base == KT and not index else (MAYBE if base or index else None)
        if kind is cst.BinaryOperation:
            left, right = self._expr(expr.left), self._expr(expr.right)
            return KT if KT in (left, right) else (MAYBE if left or right else None)
        if kind is cst.UnaryOperation:
            return self._expr(expr.expression)
        if kind is cst.List or kind is cst.Tuple:
            statuses = [self._expr(e.value) for e in expr.elements]
            plain = all(type(e) is cst.Element for e in expr.elements)
            if statuses and plain and all(status == KT for status in statuses):
                return KTS
            return MAYBE if any(statuses) else None
        if isinstance(expr, _SCOPES):
            return self._nested_scope(expr)
        return self._children(expr.children)

    def _children(self, children) -> Optional[str]:
        found = None
        for child in children:
            status = self._expr(child) if isinstance(child, cst.BaseExpression) else self._children(child.children)
            if status:
                found = MAYBE
        return found

    def _nested_scope(self, expr: cst.CSTNode) -> Optional[str]:
        """A lambda or comprehension reading a KerasTensor: not one itself; a tf op
        inside a comprehension on such a value (or on the comprehension's own variables)
        cannot be rewritten from here (TODO). A lambda's body runs later, on its arguments."""
        read = {n.value for n in walk(expr) if type(n) is cst.Name} & set(self.status)
        if not read:
            return None
        if not isinstance(expr, cst.Lambda):
            own = {n.value for f in walk(expr) if type(f) is cst.CompFor for n in walk(f.target) if type(n) is cst.Name}
            for node in walk(expr):
                op = self.names.tf_op(node.func) if type(node) is cst.Call else None
                if op and any(type(n) is cst.Name and n.value in read | own for a in node.args for n in walk(a.value)):
                    self.decisions.setdefault(id(node), ("todo", _maybe_message(op)))
        return MAYBE

    def _call(self, call: cst.Call) -> Optional[str]:
        func_status = self._expr(call.func)
        args = [self._expr(arg.value) for arg in call.args]
        symbol = self.names.keras_symbol(call.func)
        if symbol == "Input":
            return KT
        if _is_layer_class(symbol):
            return None  # a layer object
        layer = self._layer_called(call.func)
        if layer:
            if layer in RNN_LAYERS and _inputs_keyword(call) is not None:
                self.decisions[id(call)] = ("inputs",)
            return KT if KT in args or KTS in args else (MAYBE if any(args) else None)
        op = self.names.tf_op(call.func)
        if op and any(args):
            return self._tf_op(call, op, args)
        return MAYBE if func_status or any(args) else None

    def _layer_called(self, func: cst.BaseExpression) -> Optional[str]:
        if isinstance(func, cst.Call):
            symbol = self.names.keras_symbol(func.func)
            return symbol if _is_layer_class(symbol) else None
        path = dotted(func)
        if isinstance(func, cst.Name):
            return self.layers.get(path)
        if path.startswith("self.") and path.count(".") == 1:
            return self.rnn_attrs.get(path[5:])
        return None

    def _tf_op(self, call: cst.Call, op: str, args: List[Optional[str]]) -> Optional[str]:
        first = call.args[0]
        positional = first.keyword is None and not first.star
        if not (positional and args[0] in (KT, KTS) and not any(args[1:])):
            certain = [status for status in args if status in (KT, KTS)]
            if certain and (len(certain) > 1 or args[0] not in certain or not positional):
                message = (
                    f"{op}(...) takes a Keras functional-model tensor (KerasTensor) other than its first "
                    "argument, or more than one; under Keras 3 a tf op on a KerasTensor raises: wrap the op in "
                    f"a layer taking them all, e.g. tf.keras.layers.Lambda(lambda ts: {op}(ts[0], ts[1]), autocast=False)([a, b])"
                )
            else:
                message = _maybe_message(op)
            self.decisions[id(call)] = ("todo", message)
            return MAYBE
        late = [arg for arg in call.args[1:] if not self._stable(arg.value)]
        if late:
            code = ", ".join(cst.Module([]).code_for_node(arg.value) for arg in late)
            self.decisions[id(call)] = ("todo", (
                f"{op}(...) on a Keras functional-model tensor (KerasTensor) raises under Keras 3: wrap it as "
                f"tf.keras.layers.Lambda(lambda t: {op}(t, ...), autocast=False)(x), first binding {code} to a local name "
                "assigned once (a Lambda reads its other arguments when the model runs, not when it is built)"
            ))
            return MAYBE
        if self.names.lambda_layer is None:
            self.decisions[id(call)] = ("todo", _maybe_message(op))
            return MAYBE
        used = {n.value for n in walk(call) if type(n) is cst.Name}
        param = next(p for p in ("t", "t_", "t__", "tensor", "keras_tensor_") if p not in used)
        self.decisions[id(call)] = ("wrap", param)
        return KT

    def _stable(self, expr: cst.BaseExpression) -> bool:
        """Whether ``expr`` reads, when the model runs, what it read when it was built."""
        if isinstance(expr, _LITERALS):
            return True
        if isinstance(expr, cst.Name):
            if expr.value in ("None", "True", "False") or expr.value in self.names.modules:
                return True
            return self.bindings.get(expr.value, 0) <= 1 and expr.value not in self.status
        if isinstance(expr, cst.Attribute):
            root = dotted(expr).split(".")[0]
            return bool(root) and root in self.names.modules and self.bindings.get(root, 0) == 0
        if isinstance(expr, cst.UnaryOperation):
            return self._stable(expr.expression)
        if isinstance(expr, cst.BinaryOperation):
            return self._stable(expr.left) and self._stable(expr.right)
        if isinstance(expr, (cst.Tuple, cst.List)):
            return all(not isinstance(e, cst.StarredElement) and self._stable(e.value) for e in expr.elements)
        return False


def _maybe_message(op: str) -> str:
    return (
        f"{op}(...) may get a Keras functional-model tensor (a KerasTensor, or a value computed from one) here; "
        "under Keras 3 a tf op on a KerasTensor raises: if it is one, wrap the op in a layer, e.g. "
        f"tf.keras.layers.Lambda(lambda t: {op}(t, ...), autocast=False)(x)"
    )


def _params(function: cst.FunctionDef) -> List[str]:
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            every.append(star)
    return [p.name.value for p in every]


def _inputs_keyword(call: cst.Call) -> Optional[int]:
    """Index of an ``inputs=`` argument when the call has no positional argument."""
    if any(arg.keyword is None for arg in call.args):
        return None
    for i, arg in enumerate(call.args):
        if arg.keyword is not None and arg.keyword.value == "inputs":
            return i
    return None


def _rnn_attributes(names: _KerasNames, node: cst.ClassDef) -> Dict[str, str]:
    """``self.<attr>`` -> recurrent layer symbol, for attributes the class only ever
    assigns a recurrent layer constructor call."""
    found: Dict[str, str] = {}
    other: Set[str] = set()
    for item in walk(node):
        targets: List[cst.BaseExpression] = []
        value = None
        if type(item) is cst.Assign:
            targets, value = [t.target for t in item.targets], item.value
        elif type(item) in (cst.AnnAssign, cst.AugAssign):
            targets, value = [item.target], None
        for target in targets:
            path = dotted(target)
            if not (path.startswith("self.") and path.count(".") == 1):
                for sub in walk(target):  # ``self.a, self.b = ...``
                    sub_path = dotted(sub) if type(sub) is cst.Attribute else ""
                    if sub_path.startswith("self.") and sub_path.count(".") == 1:
                        other.add(sub_path[5:])
                continue
            symbol = names.keras_symbol(value.func) if isinstance(value, cst.Call) else None
            if symbol in RNN_LAYERS:
                found[path[5:]] = symbol
            else:
                other.add(path[5:])
    return {attr: symbol for attr, symbol in found.items() if attr not in other}


class KerasFunctional(Rule):
    name = "keras_functional"
    summary = "Keras 3: tf ops on functional-model KerasTensors -> Lambda layers; RNN layers called with inputs= -> positional"
    order = 25
    triggers = (b"keras",)

    def visit_Module(self, node: cst.Module) -> None:
        self.names = _KerasNames(node)
        self.decisions: Dict[int, Tuple[str, ...]] = {}
        self.classes: List[Dict[str, str]] = []
        self.inside = 0  # functions being visited that have decisions
        self.active: List[bool] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        descend = super().on_visit(node)
        kind = type(node)
        if kind is cst.ClassDef:  # pushed here, popped in on_leave (which always runs)
            self.classes.append(_rnn_attributes(self.names, node))
            return descend
        if kind is cst.FunctionDef:
            active = False
            if _may_decide(node):  # a cheap survey first: the scan is the rule's cost
                scan = _FunctionScan(self.names, self.classes[-1] if self.classes else {}, node)
                self.decisions.update(scan.decisions)
                active = bool(scan.decisions)
            self.inside += active
            self.active.append(active)
            nested = any(type(n) in (cst.FunctionDef, cst.ClassDef) for n in walk(node.body))
            return descend and (active or nested)
        return descend and (self.inside > 0 or kind in SKELETON)

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):
        kind = type(original_node)
        if kind is cst.ClassDef:
            self.classes.pop()
        elif kind is cst.FunctionDef:
            self.inside -= self.active.pop()
        return super().on_leave(original_node, updated_node)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        decision = self.decisions.get(id(original_node))
        if decision is None:
            return updated_node
        if decision[0] == "todo":
            self.flag(decision[1], ANCHOR)
            return updated_node
        self.changed()
        if decision[0] == "inputs":
            return _positional_inputs(updated_node)
        return _wrapped(updated_node, decision[1], self.names.lambda_layer)


def _may_decide(function: cst.FunctionDef) -> bool:
    """Whether a function can hold a decision: every KerasTensor starts at an ``Input``
    (a name or attribute spelled so) and every recurrent-layer rewrite is a call with
    ``inputs=`` (its own ones, not those of nested functions, which are scanned apart)."""
    for node in walk(function.body):
        kind = type(node)
        if (kind is cst.Name and node.value == "Input") or (kind is cst.Attribute and node.attr.value == "Input"):
            return True
        if kind is cst.Arg and node.keyword is not None and node.keyword.value == "inputs":
            return True
    return False


def _positional_inputs(call: cst.Call) -> cst.Call:
    """``layer(a=1, inputs=x, b=2)`` -> ``layer(x, a=1, b=2)``, each slot keeping its layout."""
    index = _inputs_keyword(call)
    if index is None:
        return call
    old = list(call.args)
    moved = old[index].with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT)
    order = [moved, *old[:index], *old[index + 1:]]
    args = [arg.with_changes(comma=slot.comma, whitespace_after_arg=slot.whitespace_after_arg) for arg, slot in zip(order, old)]
    return call.with_changes(args=args)


def _wrapped(call: cst.Call, param: str, lambda_layer: str) -> cst.Call:
    """``tf.op(x, ...)`` -> ``Lambda(lambda <param>: tf.op(<param>, ...), autocast=False)(x)``
    (a layer casts float inputs to its float32 compute dtype; the raw op did not)."""
    first = call.args[0]
    inner = call.with_changes(args=[first.with_changes(value=cst.Name(param)), *call.args[1:]])
    function = cst.Lambda(params=cst.Parameters(params=[cst.Param(cst.Name(param))]), body=inner)
    autocast = cst.Arg(cst.Name("False"), keyword=cst.Name("autocast"), equal=_EQUAL)
    layer = cst.Call(func=dotted_expr(lambda_layer), args=[cst.Arg(function, comma=_COMMA), autocast])
    return cst.Call(func=layer, args=[cst.Arg(first.value)])


_EQUAL = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))
_COMMA = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
