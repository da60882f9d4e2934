"""Rule ``configs``: custom-model registrations and the configs that use them.

``ModelCatalog.register_custom_model("name", Cls)`` plus ``{"custom_model": "name"}``
in a config become an RLModule spec naming the class; the ``model`` dict stays as it
is (it is the module's ``model_config_dict``):

- builder chains: ``.training(model={...})`` ->
  ``.training(model={...}).rl_module(_enable_rl_module_api=True,
  rl_module_spec=SingleAgentRLModuleSpec(module_class=Cls))``;
- config dicts with a ``"model"`` entry gain ``"_enable_rl_module_api": True`` and
  ``"rl_module_spec": SingleAgentRLModuleSpec(module_class=Cls)``;
- ``.multi_agent(policies={...})`` whose policies name custom models gains
  ``.rl_module(...)`` with a ``MultiAgentRLModuleSpec`` of one spec per policy id.

A registration is removed once every use of its name in the file was rewritten; a
name registered elsewhere, or used in a way the rule cannot follow, gets a TODO.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from codemods.import_edits import add_imports, dotted
from codemods.rule import SKELETON, Rule, TodoTransformer, walk

ANCHOR = "registrations-and-configs"
ANCHOR_POLICIES = "custom-policies"
SPEC_MODULE = "rlmodule"


def _string(node: cst.CSTNode) -> Optional[str]:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _dict_entry(node: cst.Dict, key: str) -> Optional[cst.DictElement]:
    for element in node.elements:
        if isinstance(element, cst.DictElement) and _string(element.key) == key:
            return element
    return None


def _custom_model(model: cst.BaseExpression) -> Optional[str]:
    """The ``custom_model`` name of a ``model`` dict literal (``None`` if none)."""
    if isinstance(model, cst.Dict):
        entry = _dict_entry(model, "custom_model")
        return _string(entry.value) if entry is not None else None
    return None


def _is_registration(call: cst.Call) -> bool:
    return dotted(call.func).endswith("ModelCatalog.register_custom_model") and len(call.args) >= 2


def _survey(module: cst.Module) -> Tuple[Dict[str, str], List[str]]:
    """Registrations (name -> class expression code) and every ``"custom_model":
    "<name>"`` entry of the file (to know what stays unrewritten)."""
    classes: Dict[str, str] = {}
    uses: List[str] = []
    for node in walk(module):
        if type(node) is cst.Call and _is_registration(node):
            name = _string(node.args[0].value)
            if name is not None:
                classes[name] = module.code_for_node(node.args[1].value)
        elif type(node) is cst.DictElement and _string(node.key) == "custom_model":
            name = _string(node.value)
            if name is not None:
                uses.append(name)
    return classes, uses


class Configs(Rule):
    name = "configs"
    summary = "register_custom_model + custom_model configs -> rl_module(rl_module_spec=...) specs"
    order = 40
    triggers = (b'"custom_model"', b"'custom_model'", b"register_custom_model")

    def visit_Module(self, node: cst.Module) -> None:
        self.classes, self.uses = _survey(node)
        self.rewritten: List[str] = []
        self.spec_names: Set[str] = set()
        self.in_multi_agent = 0
        self.has_rl_module: Set[int] = set()

    # -- builder chains -----------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "multi_agent":
            self.in_multi_agent += 1
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "rl_module":
            self.has_rl_module.add(id(node.func.value))  # already migrated: a re-run adds nothing

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = updated_node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "multi_agent":
            self.in_multi_agent -= 1
        if not isinstance(func, cst.Attribute):
            return updated_node
        if id(original_node) in self.has_rl_module:
            return updated_node
        if func.attr.value == "training":
            model = next((a.value for a in updated_node.args if a.keyword and a.keyword.value == "model"), None)
            spec = self._single_spec(model) if model is not None else None
            return self._with_rl_module(updated_node, spec) if spec else updated_node
        if func.attr.value == "multi_agent":
            policies = next((a.value for a in updated_node.args if a.keyword and a.keyword.value == "policies"), None)
            spec = self._multi_spec(policies) if isinstance(policies, cst.Dict) else None
            if spec is None:
                return updated_node
            if all(_only_config(e.value) for e in policies.elements):  # ids suffice now
                ids = cst.Set([cst.Element(e.key) for e in policies.elements])
                updated_node = updated_node.with_changes(
                    args=[a.with_changes(value=ids) if a.value is policies else a for a in updated_node.args]
                )
            return self._with_rl_module(updated_node, spec)
        return updated_node

    def _with_rl_module(self, call: cst.Call, spec: str) -> cst.Call:
        """``call.rl_module(...)``, on its own line when the chain has one per call, and
        inside the chain's parentheses."""
        self.changed()
        dot = call.func.dot if isinstance(call.func, cst.Attribute) else cst.Dot()
        template = cst.parse_expression(f"_.rl_module(_enable_rl_module_api=True, rl_module_spec={spec})")
        inner = call.with_changes(lpar=[], rpar=[])
        return template.with_changes(
            func=cst.Attribute(inner, cst.Name("rl_module"), dot=dot), lpar=call.lpar, rpar=call.rpar
        )

    def _single_spec(self, model: cst.BaseExpression) -> Optional[str]:
        name = _custom_model(model)
        if name not in self.classes:  # no custom model, or registered elsewhere
            return None
        self.rewritten.append(name)
        self.spec_names.add("SingleAgentRLModuleSpec")
        return f"SingleAgentRLModuleSpec(module_class={self.classes[name]})"

    def _multi_spec(self, policies: cst.Dict) -> Optional[str]:
        entries: List[Tuple[str, str]] = []
        any_custom = False
        for element in policies.elements:
            if not isinstance(element, cst.DictElement):
                return None
            policy_class = _policy_class(element.value)
            if policy_class is not None:
                self.flag(
                    f"policy {self.module_code(element.key)} uses policy_class={self.module_code(policy_class)}: "
                    "move its overridden hooks into the module class of its spec",
                    ANCHOR_POLICIES,
                )
            model = _policy_model(element.value)
            if model is None:
                entries.append((self.module_code(element.key), "SingleAgentRLModuleSpec()"))
                continue
            name = _custom_model(model)
            if name is not None:
                cls = self.classes.get(name)
                if cls is None:
                    return None
                any_custom = True
                self.rewritten.append(name)
                entries.append((self.module_code(element.key), f"SingleAgentRLModuleSpec(module_class={cls}, model_config_dict={self.module_code(model)})"))
            else:
                entries.append((self.module_code(element.key), f"SingleAgentRLModuleSpec(model_config_dict={self.module_code(model)})"))
        if not any_custom:
            return None
        self.spec_names.update(("SingleAgentRLModuleSpec", "MultiAgentRLModuleSpec"))
        specs = ", ".join(f"{key}: {value}" for key, value in entries)
        return f"MultiAgentRLModuleSpec(module_specs={{{specs}}})"

    def module_code(self, node: cst.CSTNode) -> str:
        return cst.Module(body=[]).code_for_node(node)

    # -- config dicts ------------------------------------------------------------------
    def leave_Dict(self, original_node: cst.Dict, updated_node: cst.Dict) -> cst.Dict:
        model = _dict_entry(updated_node, "model")
        if model is None or self.in_multi_agent or _dict_entry(updated_node, "rl_module_spec") is not None:
            return updated_node
        spec = self._single_spec(model.value)
        if spec is None:
            return updated_node
        self.changed()
        elements = list(updated_node.elements)
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

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        module = updated_node.visit(_RegistrationRewriter(self))
        if not self.spec_names:
            return module
        return add_imports(module, [(SPEC_MODULE, n, None) for n in sorted(self.spec_names, reverse=True)])


class _RegistrationRewriter(TodoTransformer):
    """Removes registrations whose every use was rewritten; flags the others."""

    descend_only = SKELETON  # registrations are statements

    def __init__(self, rule: Configs) -> None:
        super().__init__(rule.context, rule.name)
        self.rule = rule

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if len(updated_node.body) != 1 or not isinstance(updated_node.body[0], cst.Expr):
            return updated_node
        call = updated_node.body[0].value
        if not (isinstance(call, cst.Call) and _is_registration(call)):
            return updated_node
        name = _string(call.args[0].value)
        uses = self.rule.uses.count(name)
        shown = repr(name) if name is not None else self.rule.module_code(call.args[0].value)
        if name is not None and uses and self.rule.rewritten.count(name) >= uses:
            return self.remove(updated_node)
        cls = self.rule.module_code(call.args[1].value)
        self.flag(
            f"ModelCatalog is gone: where a config uses custom_model {shown}, pass "
            f"rl_module_spec=SingleAgentRLModuleSpec(module_class={cls}) instead",
            ANCHOR,
        )
        return updated_node


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
