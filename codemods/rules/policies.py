"""Rule ``policies``: custom legacy policies -> RLModule forwards (flagged precisely).

The specification's migration section moves a custom policy's logic into the RLModule:
the model class (``make_model``) becomes the module, sampling logic
(``action_distribution_fn`` / ``action_sampler_fn`` / ``compute_actions*``) moves into
``_forward_exploration`` / ``_forward_inference``, and the distribution class into
``get_*_action_dist_cls``. Which code goes where is a human decision, so every hook a
policy class overrides gets a TODO saying exactly what to move where, and
``build_torch_policy`` / ``build_tf_policy`` / ``Policy.with_updates`` calls get one too.
"""

from __future__ import annotations

from typing import Dict, Optional

import libcst as cst

from codemods.import_edits import dotted
from codemods.rule import SKELETON, Rule, walk

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
    "loss": "a custom loss belongs in a Learner's compute_loss_for_module(); the module provides forward_train()",
    "postprocess_trajectory": "trajectory postprocessing belongs to the learner's batch preparation (e.g. GAE)",
}


class Policies(Rule):
    name = "policies"
    summary = "custom policy classes, build_*_policy / with_updates, legacy distribution classes: TODOs that say what moves where"
    order = 30
    triggers = (
        b"TorchPolicy", b"TFPolicy", b"PolicyV2", b"rllib.policy", b"build_torch_policy", b"build_tf_policy",
        b"ActionDistribution", b"DistributionWrapper", b"build_trainer", b"rainer.with_updates",
    )

    def visit_Module(self, node: cst.Module) -> None:
        self.module = node
        calls = (b"build_torch_policy", b"build_tf_policy", b"build_policy_class", b"with_updates", b"build_trainer")
        if not any(call in self.context.source for call in calls):
            self.descend_only = SKELETON  # only classes to look at

    def _is_policy_class(self, node: cst.ClassDef) -> bool:
        for arg in node.bases:
            name = dotted(arg.value).split(".")[-1]
            if name in LEGACY_POLICY_BASES or (name.endswith(("TorchPolicy", "TFPolicy", "TorchPolicyV2")) and arg.keyword is None):
                return True
        return False

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
        if not self._is_policy_class(node) or not isinstance(node.body, cst.IndentedBlock):
            return
        for statement in node.body.body:
            if isinstance(statement, cst.FunctionDef) and statement.name.value in HOOKS:
                model = _returned_class(statement) or "<your migrated model class>"
                self.flag(HOOKS[statement.name.value].format(model=model), ANCHOR, statement)

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
                "APPOConfig(), BCConfig()): pass the model as rl_module_spec, its settings through the config's "
                "methods; a custom policy or training step has no place to go yet",
                ANCHOR_TRAINERS,
            )
        elif name.endswith(".with_updates") and _is_policy(name):
            self.flag(
                "Policy.with_updates(...) customises a legacy policy: move each overridden function into the "
                "RLModule (forwards, get_*_action_dist_cls) as for a policy subclass",
                ANCHOR,
            )


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
