"""Rule ``policies``: custom legacy policies -> an RLModule and a Learner.

A ``PPOTorchPolicy`` subclass is rewritten when every member has a home here (see
MIGRATION.md, "Custom policies"):

- ``make_model`` / ``make_model_and_action_dist`` returning ``Model(...)`` (a torch
  model class the ``models`` rule converts, built from the five legacy constructor
  arguments): the policy becomes ``class Policy(Model)``, a module;
- ``action_distribution_fn`` (returning one of ``TorchCategorical``,
  ``TorchDiagGaussian``, ``TorchDeterministic``) or ``action_sampler_fn``: kept
  verbatim as a method of that module, whose ``_forward_exploration`` /
  ``_forward_inference`` call it through ``compat.migrated_policy.acting_forward``; the
  distribution class it returns becomes ``get_exploration_action_dist_cls()`` /
  ``get_inference_action_dist_cls()`` (the legacy import now binds ours);
- ``loss``: kept verbatim in ``class PolicyLearner(PolicyLoss, PPOLearner)``, which runs
  it as the learner's ``compute_loss`` (``super().loss(...)`` is PPO's loss); train-batch
  columns named through ``SampleBatch.X`` / ``Postprocessing.X`` become their strings.

Anything else (other hooks, helper methods, policy state the module does not have,
other bases, distributions without an equivalent): the class stays, with a TODO on
the class saying why and one on each hook saying where it goes. ``build_torch_policy``
/ ``build_tf_policy`` / ``Policy.with_updates`` calls, trainer templates and legacy
distribution classes get a TODO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

import libcst as cst

from codemods.import_edits import add_imports, dotted, is_docstring, used_names
from codemods.repo_index import file_bases, is_policy_base, rllib_path
from codemods.rule import SKELETON, RepoIndex, Rule, walk
from codemods.rules.training_scripts import trainer_algorithm

ANCHOR = "custom-policies"
ANCHOR_TRAINERS = "trainer-templates"

LEGACY_POLICY_BASES = (
    "Policy", "TorchPolicy", "TorchPolicyV2", "EagerTFPolicy", "EagerTFPolicyV2", "DynamicTFPolicyV2", "TFPolicy",
)

LEGACY_DISTRIBUTIONS = frozenset({"TorchDistributionWrapper", "ActionDistribution", "TFActionDistribution"})

HOOKS = {
    "make_model": "the RLModule replaces make_model: build the model in the module's setup() "
    "(rl_module_spec=SingleAgentRLModuleSpec(module_class={model}))",
    "make_model_and_action_dist": "build the model in the module's setup() "
    "(rl_module_spec=SingleAgentRLModuleSpec(module_class={model})) and return the distribution "
    "class from get_exploration_action_dist_cls() / get_inference_action_dist_cls()",
    "action_distribution_fn": "move this into the module's _forward_exploration / _forward_inference: return "
    "the distribution inputs as 'action_dist_inputs' and the class from get_*_action_dist_cls()",
    "action_sampler_fn": "move this into the module's _forward_exploration / _forward_inference: return "
    "'actions' (and 'action_logp') directly",
    "compute_actions": "compute_actions* come from compat.RLModulePolicy over the module: move custom logic "
    "into _forward_exploration (explore=True) / _forward_inference (explore=False)",
    "compute_actions_from_input_dict": "compute_actions* come from compat.RLModulePolicy over the module: move "
    "custom logic into _forward_exploration (explore=True) / _forward_inference (explore=False)",
    "compute_log_likelihoods": "log-likelihoods come from the module's distribution: "
    "get_train_action_dist_cls().from_logits(forward_train(batch)['action_dist_inputs']).logp(actions)",
    "extra_action_out": "return these extra outputs from the module's forwards (e.g. 'vf_preds')",
    "loss": "a custom loss belongs in a Learner subclass's compute_loss() (reading forward_train()'s outputs), "
    "attached with .training(learner_class=...)",
    "postprocess_trajectory": "trajectory postprocessing belongs to the learner's batch preparation (e.g. GAE)",
}


#: Legacy torch distribution classes (``ray.rllib.models.torch.torch_action_dist``) that
#: a moved hook may return, and ours (``rlmodule.torch``) of the same name and semantics.
DIST_MODULE = "ray.rllib.models.torch.torch_action_dist"
DIST_EQUIVALENTS = frozenset({"TorchCategorical", "TorchDiagGaussian", "TorchDeterministic"})
#: The legacy train-batch columns a migrated loss can read (``SampleBatch`` /
#: ``Postprocessing`` constant -> its string), as ``compat.migrated_policy`` provides them.
TRAIN_COLUMNS = {
    "OBS": "obs", "CUR_OBS": "obs", "ACTIONS": "actions", "ACTION_LOGP": "action_logp", "ACTION_PROB": "action_prob",
    "ACTION_DIST_INPUTS": "action_dist_inputs", "VF_PREDS": "vf_preds", "ADVANTAGES": "advantages",
    "VALUE_TARGETS": "value_targets",
}
CONVERTIBLE_BASE = "PPOTorchPolicy"
_BLANK = cst.EmptyLine(indent=False)
MODEL_HOOKS = ("make_model", "make_model_and_action_dist")
ACTING_HOOKS = ("action_distribution_fn", "action_sampler_fn")
MODEL_ARGS = ("obs_space", "action_space", "num_outputs", "model_config", "name")
#: Policy attributes a moved hook may read: on the module (acting) / on the learner (loss).
ACTING_SELF = frozenset({"action_space", "dist_class"})
LOSS_SELF = frozenset({
    "config", "kl_coeff", "entropy_coeff", "cur_lr", "model", "dist_class", "action_space", "observation_space",
    "get_tower_stats",
})
#: Training hooks that move onto the learner with the loss (``compat.migrated_policy.PolicyLoss`` runs them).
LEARNER_HOOKS = ("loss", "stats_fn", "optimizer", "extra_grad_process")


#: What a search for class definitions skips: expressions and simple statements.
_NO_EXPRESSIONS = {cst.SimpleStatementLine: frozenset({"body"}), cst.FunctionDef: frozenset({"params", "decorators", "returns"})}


@dataclass
class PolicyPlan:
    """How one policy class is rewritten: ``model`` (the module's base, ``None``: no
    module), the acting hook, the distribution classes it returns, the loss."""

    model: Optional[str] = None
    acting: Optional[cst.FunctionDef] = None
    acting_dist: Optional[str] = None
    train_dist: Optional[str] = None
    learner: List[cst.FunctionDef] = field(default_factory=list)
    dists: List[str] = field(default_factory=list)


#: A class header naming a trainer or algorithm base (the pre-filter for trainer subclasses).
_TRAINER_SUBCLASS = re.compile(rb"class[ \t]+\w+[ \t]*\([^)]*(?:Trainer|Algorithm|PPO|APPO|Impala|IMPALA|\bBC|DQN|SAC|DDPG|TD3|\bPG|A2C|A3C|CQL|MARWIL)")


class Policies(Rule):
    name = "policies"
    summary = "PPOTorchPolicy subclasses -> a module and a learner; other policies, build_*_policy / with_updates, trainer templates, legacy distributions: TODOs"
    order = 30
    triggers = (
        b"TorchPolicy", b"TFPolicy", b"PolicyV2", b"rllib.policy", b"build_torch_policy", b"build_tf_policy",
        b"ActionDistribution", b"DistributionWrapper", b"build_trainer", b"rainer.with_updates",
    )

    def visit_Module(self, node: cst.Module) -> None:
        self.module = node
        self.moved_dists: set = set()
        self.imports: list = []
        source = self.context.source
        self.bound = file_bases(source) if b"import" in source else {}
        self.plans: Dict[int, Union[PolicyPlan, str]] = {}
        self.dist_uses: Dict[str, str] = {}
        if b"Policy" not in source and not any(name.encode() in source for name in self.context.repo.legacy_policies):
            classes: List[cst.ClassDef] = []
        else:
            self.dist_uses = _dist_uses(node) if any(d.encode() in source for d in DIST_EQUIVALENTS) else {}
            classes = [
                n for n in walk(node, _NO_EXPRESSIONS)
                if type(n) is cst.ClassDef and self._is_policy_class(n) and isinstance(n.body, cst.IndentedBlock)
            ]
        for policy in classes:
            self.plans[id(policy)] = self._plan(policy)
        self._flag_references(node, classes)
        calls = (b"build_torch_policy", b"build_tf_policy", b"build_policy_class", b"with_updates", b"build_trainer")
        if not any(call in self.context.source for call in calls):
            self.descend_only = SKELETON  # only classes and statements to look at

    def _flag_references(self, module: cst.Module, classes: List[cst.ClassDef]) -> None:
        """Statements naming a rewritten policy class get a TODO: it is a module now (a
        legacy policy slot cannot take it); a loss-only policy named elsewhere is not
        rewritten (its class would be gone)."""
        rewritten = {c.name.value: c for c in classes if isinstance(self.plans[id(c)], PolicyPlan)}
        if not rewritten:
            return
        inside = {id(n) for c in rewritten.values() for n in walk(c.body)}  # their own code moves with them
        for statement in walk(module):
            if id(statement) in inside:
                continue
            kind = type(statement)
            if kind is cst.SimpleStatementLine:
                names = used_names(statement)
            elif kind is cst.ClassDef:
                names = {n for arg in statement.bases for n in used_names(arg)}
            else:
                continue
            for name in sorted(names & set(rewritten)):
                plan = self.plans[id(rewritten[name])]
                if plan.model is None:
                    self.plans[id(rewritten.pop(name))] = (
                        f"it is named elsewhere in this file, and its training hooks alone would become "
                        f"{name}Learner (the policy class would be gone)"
                    )
                    continue
                learner = f" and .training(learner_class={name}Learner)" if plan.learner else ""
                self.flag(
                    f"{name} is an RLModule now, not a legacy policy class: give it as "
                    f"rl_module_spec=SingleAgentRLModuleSpec(module_class={name}){learner} on a PPOConfig",
                    ANCHOR,
                    statement,
                )

    @classmethod
    def applies_to(cls, source: bytes, repo: RepoIndex) -> bool:
        return (
            super().applies_to(source, repo)
            or any(name.encode() in source for name in repo.legacy_policies)
            or (b"rllib" in source and _TRAINER_SUBCLASS.search(source) is not None)
        )

    def _is_trainer_base(self, base: str) -> bool:
        """A legacy trainer or ray 2.x algorithm class (``PPOTrainer``, ``PPO``) or the
        base class of either era (``Trainer``, ``Algorithm``), as this file imports it."""
        path = rllib_path(base, self.bound)
        return path is not None and (path.split(".")[-1] in ("Trainer", "Algorithm") or trainer_algorithm(path) is not None)

    def _is_policy_class(self, node: cst.ClassDef) -> bool:
        repo = self.context.repo
        if node.name.value in repo.legacy_policies and not any(
            dotted(arg.value).split(".")[-1] in repo.legacy_models for arg in node.bases
        ):  # (a policy this rule rewrote derives from its model class)
            return True
        return any(arg.keyword is None and is_policy_base(dotted(arg.value), self.bound) for arg in node.bases)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        bases = {dotted(arg.value).split(".")[-1] for arg in node.bases}
        if bases & LEGACY_DISTRIBUTIONS:
            self.flag(
                f"{node.name.value} is a legacy ActionDistribution: rewrite it as an rlmodule.distribution "
                "Distribution (from_logits, sample, logp, entropy, kl, to_deterministic) and return it from "
                "the module's get_*_action_dist_cls()",
                ANCHOR,
                node,
            )
            return
        trainers = [dotted(arg.value) for arg in node.bases if self._is_trainer_base(dotted(arg.value))]
        if trainers:
            self.flag(
                f"{node.name.value} subclasses the legacy {trainers[0]}: this project's algorithms take the model as "
                "rl_module_spec and a learner as .training(learner_class=...) on their config; overrides such as "
                "get_default_policy_class, get_default_config or training_step have no effect here - move them there "
                "or subclass rlmodule.algorithms.ppo.PPO by hand",
                ANCHOR_TRAINERS,
                node,
            )
            return
        plan = self.plans.get(id(node))
        if plan is None or isinstance(plan, PolicyPlan):
            return
        self.flag(f"{node.name.value} is not rewritten: {plan}", ANCHOR, node)
        for statement in node.body.body:
            if isinstance(statement, cst.FunctionDef) and statement.name.value in HOOKS:
                model = _returned_class(statement) or "<your migrated model class>"
                self.flag(HOOKS[statement.name.value].format(model=model), ANCHOR, statement)

    def _plan(self, node: cst.ClassDef) -> Union[PolicyPlan, str]:
        """The rewrite of policy class ``node``, or why there is none."""
        if len(node.bases) != 1 or node.keywords or dotted(node.bases[0].value).split(".")[-1] != CONVERTIBLE_BASE:
            own = {s.name.value for s in node.body.body if isinstance(s, cst.FunctionDef)}
            if own & {"compute_actions", "compute_actions_from_input_dict", "compute_single_action"}:
                return (
                    "it computes its own actions (a scripted policy): write an RLModule whose _forward_inference / "
                    "_forward_exploration return 'actions' (every module of an algorithm here is trained: keep "
                    "scripted opponents inside the env for now)"
                )
            return f"only direct {CONVERTIBLE_BASE} subclasses are rewritten (a module plus a PPO learner)"
        plan = PolicyPlan()
        methods: Dict[str, cst.FunctionDef] = {}
        for index, statement in enumerate(node.body.body):
            if index == 0 and is_docstring(statement):
                continue
            if not isinstance(statement, cst.FunctionDef):
                return "its class body holds more than methods (attributes have no place on the module or learner)"
            name = statement.name.value
            if name not in MODEL_HOOKS + ACTING_HOOKS + LEARNER_HOOKS:
                return f"it defines {name}(), which has no place on the module or learner yet"
            if any(dotted(_decorator_target(d)).split(".")[-1] != "override" for d in statement.decorators):
                return f"{name}() has decorators other than @override"
            methods[name] = statement
        if len(set(methods) & set(MODEL_HOOKS)) > 1 or len(set(methods) & set(ACTING_HOOKS)) > 1:
            return "it overrides both make_model and make_model_and_action_dist, or both acting hooks"
        for hook in MODEL_HOOKS:
            if hook in methods:
                reason = self._plan_model(methods[hook], plan)
                if reason:
                    return reason
        for hook in ACTING_HOOKS:
            if hook in methods:
                if plan.model is None:
                    return f"its {hook} needs the policy's model class, and it has no make_model / make_model_and_action_dist"
                reason = _self_reads(methods[hook], ACTING_SELF) or self._plan_acting(methods[hook], plan)
                if reason:
                    return reason
        for hook in LEARNER_HOOKS:
            if hook in methods:
                reason = _self_reads(methods[hook], LOSS_SELF) or _loss_reads(methods[hook])
                if reason:
                    return reason
                plan.learner.append(methods[hook])
        for dist in plan.dists:
            if self.dist_uses.get(dist) != "class":
                return f"{dist} is used here other than as a returned class (called or subclassed), so its import must stay ray's"
        return plan

    def _plan_model(self, method: cst.FunctionDef, plan: PolicyPlan) -> Optional[str]:
        name = method.name.value
        model = _returned_class(method)
        kind = self.context.repo.legacy_models.get((model or "").split(".")[-1])
        if model is None or "." in model or kind != "torch":
            return f"{name}() must return Model(...) for a torch model class defined in this repository (got {model or 'something else'})"
        call = next((n for n in walk(method) if type(n) is cst.Call and dotted(n.func) == model), None)
        keywords = [arg.keyword.value for arg in call.args if arg.keyword] if call else []
        positional = [arg for arg in call.args if not arg.keyword and not arg.star] if call else []
        if call is None or any(arg.star for arg in call.args) or len(positional) + len(keywords) != 5 or any(
            k not in MODEL_ARGS[len(positional):] for k in keywords
        ):
            return f"{name}() builds {model} with other than the five legacy constructor arguments"
        plan.model = model
        if name == "make_model_and_action_dist":
            dist = _returned_dist(method)
            if dist is None:
                return f"{name}() returns a distribution class other than ModelCatalog.get_action_dist's or {', '.join(sorted(DIST_EQUIVALENTS))}"
            if dist != "default":
                plan.train_dist = dist
                plan.dists.append(dist)
        return None

    def _plan_acting(self, method: cst.FunctionDef, plan: PolicyPlan) -> Optional[str]:
        plan.acting = method
        if "timestep" in used_names(method.body) or "global_timestep" in used_names(method.body):
            return f"its {method.name.value} reads the timestep, which a module's forward does not have"
        if method.name.value == "action_sampler_fn":
            return None
        returned = set()
        for node in walk(method):
            if type(node) is cst.Return:
                value = node.value
                if not (isinstance(value, cst.Tuple) and len(value.elements) == 3):
                    return "its action_distribution_fn returns something other than (inputs, DistClass, state)"
                dist = value.elements[1].value
                if dotted(dist) == "self.dist_class":
                    returned.add("self.dist_class")
                elif isinstance(dist, cst.Name):
                    returned.add(dist.value)
                else:
                    return "its action_distribution_fn returns a distribution class that is not a name"
        if returned == {"self.dist_class"}:
            return None  # the policy's own class: the module's get_*_action_dist_cls() as they are
        if len(returned) != 1 or not returned <= DIST_EQUIVALENTS:
            return (
                "its action_distribution_fn must return one distribution class of "
                f"{', '.join(sorted(DIST_EQUIVALENTS))} (returns {', '.join(sorted(returned)) or 'none'})"
            )
        plan.acting_dist = returned.pop()
        plan.dists.append(plan.acting_dist)
        return None

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef):
        plan = self.plans.pop(id(original_node), None)
        if not isinstance(plan, PolicyPlan):
            return updated_node
        self.changed()
        self.moved_dists.update(plan.dists)
        classes: List[cst.ClassDef] = []
        name = original_node.name.value
        docstring = [updated_node.body.body[0]] if is_docstring(updated_node.body.body[0]) else []
        if plan.model:
            classes.append(self._module_class(updated_node, plan, docstring))
        if plan.learner:
            learner = self._learner_class(name, plan, [] if plan.model else docstring)
            if classes:
                learner = learner.with_changes(leading_lines=[_BLANK, _BLANK])
            else:
                learner = learner.with_changes(leading_lines=updated_node.leading_lines)
            classes.append(learner)
        return cst.FlattenSentinel(classes)

    def _parse(self, text: str) -> cst.BaseStatement:
        return cst.parse_statement(text, config=self.module.config_for_parsing)

    def _method(self, text: str) -> cst.FunctionDef:
        """A method parsed at the module's indentation (dedented: a class's body)."""
        indent = self.module.default_indent
        return self._parse(text.replace("\n    ", "\n" + indent)).with_changes(leading_lines=[_BLANK])

    def _module_class(self, node: cst.ClassDef, plan: PolicyPlan, docstring: List[cst.BaseStatement]) -> cst.ClassDef:
        body: List[cst.BaseStatement] = list(docstring)
        imports = self.imports
        if plan.acting is not None:
            hook = plan.acting.name.value
            sampler = ", sampler=True" if hook == "action_sampler_fn" else ""
            for forward, explore in (("exploration", "True"), ("inference", "False")):
                body.append(self._method(
                    f"def _forward_{forward}(self, batch):\n    return acting_forward(self, batch, self.{hook}, explore={explore}{sampler})\n"
                ))
            imports.append(("compat.migrated_policy", "acting_forward", None))
        dists = []
        if plan.acting_dist:
            dists += [("exploration", plan.acting_dist), ("inference", plan.acting_dist)]
        elif plan.train_dist:
            dists += [("exploration", plan.train_dist), ("inference", plan.train_dist)]
        if plan.train_dist:
            dists.append(("train", plan.train_dist))
        for which, dist in dists:
            body.append(self._method(f"def get_{which}_action_dist_cls(self):\n    return {dist}\n"))
        if plan.acting is not None:
            body.append(_moved(plan.acting, on_module=True).with_changes(leading_lines=[_BLANK]))
        if not body:
            body = [cst.SimpleStatementLine([cst.Pass()])]
        body[0] = body[0].with_changes(leading_lines=[])
        return node.with_changes(
            bases=[cst.Arg(cst.Name(plan.model))], keywords=[], lpar=cst.LeftParen(), rpar=cst.RightParen(),
            body=node.body.with_changes(body=body),
        )

    def _learner_class(self, policy: str, plan: PolicyPlan, docstring: List[cst.BaseStatement]) -> cst.ClassDef:
        self.imports += [("compat.migrated_policy", "PolicyLoss", None), ("rlmodule.learners", "PPOLearner", None)]
        head = self._parse(
            f"class {policy}Learner(PolicyLoss, PPOLearner):\n"
            f'    """The training hooks of the legacy {policy}, run by PPO\'s learner (``.training(learner_class={policy}Learner)``)."""\n'.replace("\n    ", "\n" + self.module.default_indent)
        )
        body = [*head.body.body, *(_moved(hook, on_module=False).with_changes(leading_lines=[_BLANK]) for hook in plan.learner)]
        return head.with_changes(body=head.body.with_changes(body=body))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if self.moved_dists:
            updated_node = updated_node.with_changes(body=[self._without_moved_dists(s) for s in updated_node.body])
            updated_node = updated_node.with_changes(body=[s for s in updated_node.body if s is not None])
        specs = list(self.imports) + [("rlmodule.torch", dist, None) for dist in sorted(self.moved_dists)]
        return add_imports(updated_node, specs) if specs else updated_node

    def _without_moved_dists(self, statement: cst.BaseStatement) -> Optional[cst.BaseStatement]:
        """A top-level ``from ray...torch_action_dist import ...`` without the names that
        now bind ours (``None`` when none is left; its comment lines go too)."""
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            return statement
        node = statement.body[0]
        if not isinstance(node, cst.ImportFrom) or node.module is None or dotted(node.module) != DIST_MODULE or isinstance(node.names, cst.ImportStar):
            return statement
        kept = [a for a in node.names if not (a.asname is None and dotted(a.name) in self.moved_dists)]
        if len(kept) == len(node.names):
            return statement
        if not kept:
            return None
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return statement.with_changes(body=[node.with_changes(names=kept)])

    def visit_Call(self, node: cst.Call) -> None:
        name = dotted(node.func)
        if name.split(".")[-1] in ("build_torch_policy", "build_tf_policy", "build_policy_class"):
            self.flag(
                f"{name.split('.')[-1]}(...) builds a legacy policy: put its model in an RLModule, its sampling "
                "in the module's forwards and serve it with compat.RLModulePolicy",
                ANCHOR,
            )
        elif name.split(".")[-1] == "build_trainer" or (name.endswith(".with_updates") and _is_trainer(name)):
            self.flag(
                f"{name.split('.')[-1] if name.endswith('build_trainer') else name}(...) builds a legacy trainer "
                "template: this project's algorithms are set up by their config (PPOConfig(), IMPALAConfig(), "
                "APPOConfig(), BCConfig()): pass the model as rl_module_spec, a migrated policy's learner as "
                ".training(learner_class=...), its settings through the config's methods",
                ANCHOR_TRAINERS,
            )
        elif name.endswith(".with_updates") and _is_policy(name):
            self.flag(
                "Policy.with_updates(...) customises a legacy policy: move each overridden function into the "
                "RLModule (forwards, get_*_action_dist_cls) as for a policy subclass",
                ANCHOR,
            )


def _decorator_target(decorator: cst.Decorator) -> cst.BaseExpression:
    value = decorator.decorator
    return value.func if isinstance(value, cst.Call) else value


def _dist_uses(module: cst.Module) -> Dict[str, str]:
    """For each legacy distribution name of ``DIST_EQUIVALENTS`` in the file: ``"class"``
    when every use is a bare reference, ``"other"`` when it is also called, subclassed or
    has attributes read."""
    uses: Dict[str, str] = {}
    for node in walk(module):
        kind = type(node)
        if kind is cst.Name and node.value in DIST_EQUIVALENTS:
            uses.setdefault(node.value, "class")
        elif kind is cst.Call and isinstance(node.func, cst.Name) and node.func.value in DIST_EQUIVALENTS:
            uses[node.func.value] = "other"
        elif kind is cst.Attribute and isinstance(node.value, cst.Name) and node.value.value in DIST_EQUIVALENTS:
            uses[node.value.value] = "other"
        elif kind is cst.ClassDef:
            for arg in node.bases:
                if isinstance(arg.value, cst.Name) and arg.value.value in DIST_EQUIVALENTS:
                    uses[arg.value.value] = "other"
    return uses


def _self_reads(method: cst.FunctionDef, allowed: frozenset) -> Optional[str]:
    """Why ``method`` cannot move: it reads a policy attribute outside ``allowed``, or
    calls ``super()`` for anything but ``loss``."""
    for node in walk(method):
        if type(node) is not cst.Attribute:
            continue
        owner = node.value
        if isinstance(owner, cst.Name) and owner.value == "self" and node.attr.value not in allowed:
            return f"{method.name.value}() reads self.{node.attr.value}, policy state the module and learner do not have"
        if isinstance(owner, cst.Call) and dotted(owner.func) == "super" and node.attr.value != method.name.value:
            return f"{method.name.value}() calls super().{node.attr.value}(), which has no equivalent"
    return None


def _loss_reads(method: cst.FunctionDef) -> Optional[str]:
    """Why the loss cannot move: it reads a train-batch column the learner does not keep."""
    for node in walk(method):
        if type(node) is cst.Attribute and isinstance(node.value, cst.Name) and node.value.value in ("SampleBatch", "Postprocessing"):
            if node.attr.value.isupper() and node.attr.value not in TRAIN_COLUMNS:
                return f"its loss reads {node.value.value}.{node.attr.value}, a column the learner's minibatch does not keep"
        elif type(node) is cst.SimpleString and node.evaluated_value in ("rewards", "dones", "terminateds", "new_obs", "infos"):
            return f"its loss reads the {node.evaluated_value!r} column, which the learner's minibatch does not keep"
    return None


class _MoveHook(cst.CSTTransformer):
    """A hook moved onto the module or learner: ``@override`` goes, ``SampleBatch.X`` /
    ``Postprocessing.X`` columns become their strings, ``PPOTorchPolicy.<hook>(self, ...)``
    and ``super(Policy, self).<hook>(...)`` become ``super().<hook>(...)``; on the module, ``self.dist_class`` becomes
    ``self.get_train_action_dist_cls()``."""

    def __init__(self, on_module: bool) -> None:
        super().__init__()
        self.on_module = on_module

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute):
        owner = updated_node.value
        if self.on_module and dotted(updated_node) == "self.dist_class":
            return cst.parse_expression("self.get_train_action_dist_cls()")
        if isinstance(owner, cst.Name) and owner.value in ("SampleBatch", "Postprocessing") and updated_node.attr.value in TRAIN_COLUMNS:
            return cst.SimpleString(f'"{TRAIN_COLUMNS[updated_node.attr.value]}"')
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call):
        if dotted(updated_node.func) == "super" and len(updated_node.args) == 2:
            return updated_node.with_changes(args=[])  # super(Policy, self): the class is gone or another one
        owner_hook = dotted(updated_node.func).split(".")[-2:]
        if len(owner_hook) == 2 and owner_hook[0] == CONVERTIBLE_BASE and owner_hook[1] in LEARNER_HOOKS and updated_node.args:
            first = updated_node.args[0].value
            if isinstance(first, cst.Name) and first.value == "self":
                return updated_node.with_changes(func=cst.parse_expression(f"super().{owner_hook[1]}"), args=updated_node.args[1:])
        return updated_node


def _moved(method: cst.FunctionDef, on_module: bool) -> cst.FunctionDef:
    moved = method.visit(_MoveHook(on_module))
    leading = list(method.leading_lines)
    for decorator in method.decorators:
        leading += [line for line in decorator.leading_lines if line.comment is not None]
    return moved.with_changes(decorators=[], leading_lines=leading)


def _returned_dist(method: cst.FunctionDef) -> Optional[str]:
    """The distribution class ``make_model_and_action_dist`` returns: ``"default"`` for a
    name bound by ``ModelCatalog.get_action_dist(...)``, a ``DIST_EQUIVALENTS`` name, or
    ``None``."""
    catalog: set = set()
    found: Optional[str] = None
    for node in walk(method):
        if type(node) is cst.Assign and isinstance(node.value, cst.Call) and dotted(node.value.func).endswith("get_action_dist"):
            target = node.targets[0].target
            if isinstance(target, (cst.Tuple, cst.List)) and target.elements and isinstance(target.elements[0].value, cst.Name):
                catalog.add(target.elements[0].value.value)
        elif type(node) is cst.Return:
            value = node.value
            if not (isinstance(value, cst.Tuple) and len(value.elements) == 2 and isinstance(value.elements[1].value, cst.Name)):
                return None
            found = value.elements[1].value.value
    if found in catalog:
        return "default"
    return found if found in DIST_EQUIVALENTS else None


def _is_trainer(call: str) -> bool:
    """``PPOTrainer.with_updates`` / ``ppo.PPOTrainer.with_updates`` / ``GenericOffPolicyTrainer...`` /
    ``trainer.with_updates`` (a variable): the owner's name, not any ``Policy`` inside it,
    says what it is."""
    return call.split(".")[-2].lower().endswith(("trainer", "trainer_class", "trainer_cls", "algorithm"))


def _is_policy(call: str) -> bool:
    owner = call.split(".")[-2]
    return owner in LEGACY_POLICY_BASES or owner.endswith("Policy")


def _returned_class(method: cst.FunctionDef) -> Optional[str]:
    """``Cls`` when the method returns ``Cls(...)`` or ``(Cls(...), dist)`` (the last
    such ``return``), or a name assigned ``Cls(...)`` before."""
    name: Optional[str] = None
    calls: Dict[str, str] = {}
    for node in walk(method):
        if type(node) is cst.Assign:
            if isinstance(node.value, cst.Call) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
                calls[node.targets[0].target.value] = dotted(node.value.func)
        elif type(node) is cst.Return:
            value = node.value
            if isinstance(value, cst.Tuple) and value.elements:
                value = value.elements[0].value
            if isinstance(value, cst.Call) and dotted(value.func):
                name = dotted(value.func)
            elif isinstance(value, cst.Name) and value.value in calls:
                name = calls[value.value]
    return name
