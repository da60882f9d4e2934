"""How ``rlmigrate migrate`` does on real repositories with legacy RLlib model code.

Usage::

    python benchmarks/real_corpus.py DIR [--json OUT] [--jobs N] [--timeout S] [--keep KEEP] [--codemods-root DIR]

DIR holds one folder per repository (plain checked-out trees; the list we use is
``benchmarks/real_corpus_repos.txt``). Without DIR the script reads ``BENCH_REAL_CORPUS``;
with neither, or with DIR absent or empty, it prints ``{"skipped": reason}`` and exits 0
(so ``run_all.py`` reports it as skipped).

For every repository it copies the tree to a temporary directory (nothing is ever
written into DIR) and gives the copy a git index that tracks every file of it
(``git init -q`` and ``git add -f -A`` in the copy, run by this script with hooks and
fsmonitor off and no system or global git config; rlmigrate itself runs no git command):
a corpus tree is a snapshot of a commit (``git archive``), so every file in it is tracked
at that commit, and the codemod then walks what it walks in a user's clone, where
``.gitignore`` never applies to tracked files. Without git installed this step is skipped
(with a note on stderr and ``git_index`` in the JSON) and ignored files count as not
walked; a copy that already has a ``.git`` (a clone, not a snapshot) keeps its own index.
It then runs ``rlmigrate migrate COPY --out-dir OUT --report report.json -j N``
in a subprocess with a time limit, and, independently of the codemod, finds the legacy
model classes of the ORIGINAL sources with ``ast``: a class whose base is (by name,
dotted, aliased by an import of that file, or through another class of the same
repository, across files) one of ``LEGACY_NAMES`` imported from ``ray.rllib``, or any
``...Model`` / ``...Network`` / ``...Net`` class of a ``ray.rllib`` model module (which
covers the ModelV1 ``ray.rllib.models.Model``; action distributions are not models). Classes in any scope count (inside
functions, ``if`` blocks, other classes). Each class is then looked up in the output and
put in one category (``CATEGORIES``):

- ``converted, no TODO``: no legacy base left, no ``TODO(rlmigrate)`` marker in the class
  (decorators to last line) or in the comment block directly above it;
- ``converted with TODOs``: no legacy base left, markers there;
- ``not converted, TODO on class``: still a legacy base, with a marker there;
- ``not converted, no TODO``: still a legacy base and no marker: the silent failures;
- ``file errored``: the report lists the file as an error, or the output does not parse;
- ``not walked``: the file is one the codemod's file walk skips on purpose (inside a
  virtualenv or a tool directory such as ``.tox``; ignored by ``.gitignore`` only where
  the copy could not be given a git index), so it was copied, not migrated;
- ``class not found in output``: the output file is missing, or parses but has no class
  of that name.

Originals that ``ast`` cannot parse (Python 2, syntax errors, null bytes) are counted as
``files_unparsable``, not as codemod errors; the legacy classes in them are estimated
with a regular expression (``legacy_classes_in_unparsable_files``).

It also counts, in the original and the output, calls of the legacy policy and
registration API (``LEGACY_CALLS``), and how many are still there without a marker on or
directly above their statement (calls in files that errored or were not walked are
counted apart).

Policy-level items. Independently of the model classes, it finds in the ORIGINAL files
(``ast``; the same resolution through imports, aliases and the repository's own classes,
with one family of RLlib names each) and classifies in the output:

- ``policies``: policy classes (a base reaching a ``ray.rllib`` class named ``...Policy`` /
  ``...PolicyV2``, or a name assigned ``build_*_policy(...)`` / ``<policy>.with_updates(...)``;
  ``...TorchPolicy`` / ``...TFPolicy`` names count where the import cannot be followed),
  each of their methods named in ``POLICY_HOOKS`` (defined in the class body itself),
  ``build_torch_policy`` / ``build_tf_policy`` / ``build_policy_class`` calls, and
  ``X.with_updates(...)`` calls whose X resolves to a policy (else is named ``...Policy``);
- ``trainer_templates``: ``X.with_updates(...)`` whose X resolves to a trainer (else is
  named ``...trainer`` / ``...algorithm``), ``build_trainer(...)`` calls, and classes
  subclassing an RLlib trainer or algorithm (or a trainer template);
- ``training_scripts``: constructions of a legacy trainer (a callee reaching an RLlib
  ``...Trainer``, a trainer template or ``get_trainer_class(...)``'s result), of a ray 2.x
  algorithm class (``PPO(config=...)``, ``Algorithm``) whose config argument is evidently a
  dict (a display, ``dict(...)``, a copy of ``DEFAULT_CONFIG``, ``with_common_config(...)``,
  or a name assigned one of these earlier in the same or an outer scope), references to
  an RLlib ``DEFAULT_CONFIG`` (under any alias; the import itself is not one),
  ``with_common_config(...)`` calls, and lookups of a legacy result key
  (``LEGACY_RESULT_KEYS``, as ``x["key"]`` or ``x.get("key")``, and ``x["info"]["learner"]``)
  in files that import ray. Only constructions whose callee or a ``config=`` keyword makes
  them sites are seen (a template called with its config positionally is missed).

Each item is matched in the output file of the same path: the original and output lines
are aligned (``difflib``; inside a changed block each line is paired with the most similar
output line), and the item's candidates are the output's constructs of the same kind and
key (a class: same qualified name; a hook: same method name in the class of that name; a
call or reference: same callee / reference text as written; a lookup: same key) on the
lines its own lines became, the one nearest to where its first line went. Then:
``flagged`` if a ``TODO(rlmigrate)`` marker sits on it (its statement, or the comment block
directly above) or inside it (a class, a method); ``untouched`` if it is still there without
one (a class, and a hook's class: still a legacy base - resolved in the output, or one of
the bases that made it legacy still written there; a call, reference or lookup: still
there at all); ``rewritten`` if it is gone (or a class lost its legacy bases: a hook it
keeps, e.g. an ``action_distribution_fn`` its new forwards call, is no longer a legacy
hook) and no marker sits on what replaced it (the output lines its lines became);
``file not migrated`` where the file errored, was not walked, or its output is missing or
does not parse. This is approximate where a statement holds several items (a marker on
the statement counts for each of them: a ``DEFAULT_CONFIG`` inside a flagged
``build_trainer(...)`` call is flagged), where the codemod rewrote lines beyond
recognition (then every marker on the changed block counts), and where code moved (a
hook moved into another class counts as rewritten unless a marker sits where its lines
were).

TODO texts: the report's TODO messages are grouped into kinds by their anchor and plain
lowercase words (names, code and quoted text left out); each kind is shown as its messages
of the commonest length with the words that differ as ``…``. The 15 commonest kinds, and
the "imports without an equivalent" TODOs counted per imported name, are in the output.

Prints one JSON document on stdout (per repository, totals, and ``comparisons`` tables of
the silent failures and the untouched items for ``run_all.py``) and human tables on
stderr. ``--json OUT`` also writes the document, with every class, call and item and all
TODO kinds, to OUT. ``--keep KEEP`` keeps each repository's migrated tree and report
under KEEP/<repo>/. ``--codemods-root DIR`` runs the codemods package of another checkout
(DIR first on ``PYTHONPATH``; e.g. ``git worktree add /tmp/before <commit>``): the
``codemods.__file__`` that interpreter imports is printed and recorded
(``codemods_package``), and a DIR it would not import from is refused.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tokenize
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
ENV_VAR = "BENCH_REAL_CORPUS"
DEFAULT_TIMEOUT_S = 1800
PYTHON_SUFFIXES = (".py", ".pyi")
NUL = b"\0"
SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__"}
MAX_DEPTH = 60  # import hops followed when resolving a base (re-export cycles end here)

# The legacy model bases, by their RLlib class name.
LEGACY_NAMES = frozenset({
    "ModelV2", "TorchModelV2", "TFModelV2", "RecurrentNetwork", "RecurrentTFModelV2",
    "FullyConnectedNetwork", "VisionNetwork", "ComplexInputNetwork", "AttentionNetwork",
    "GTrXLNet", "AttentionWrapper", "LSTMWrapper", "KerasModel", "Model",
    "DQNTorchModel", "DistributionalQTFModel", "DistributionalQModel", "SimpleQModel",
    "SimpleQTorchModel", "SACTorchModel", "SACTFModel", "SACModel", "RNNSACTorchModel",
    "DDPGTorchModel", "DDPGTFModel", "DDPGModel", "MAMLTorchModel", "ESModel",
    "TorchCentralizedCriticModel", "CentralizedCriticModel", "NoopModel", "TorchNoopModel",
})
# Names distinctive enough to count even when the import cannot be resolved (star
# imports, names re-exported by an installed package).
DISTINCTIVE = frozenset(n for n in LEGACY_NAMES if "ModelV2" in n or n.endswith(("TorchModel", "TFModel")))
DISTINCTIVE |= {"DistributionalQTFModel", "RecurrentTFModelV2", "GTrXLNet", "ComplexInputNetwork"}
RLLIB_MODEL_CLASS = re.compile(r"(Model|ModelV2|Network|Net)$")

LEGACY_CALLS = ("build_torch_policy", "build_tf_policy", "build_policy_class", "with_updates",
                "register_custom_model", "build_trainer")
METHOD_CALLS = ("register_custom_model", "with_updates")

CATEGORIES = (
    "converted, no TODO",
    "converted with TODOs",
    "not converted, TODO on class",
    "not converted, no TODO",
    "file errored",
    "not walked",
    "class not found in output",
)
SHORT = {
    "converted, no TODO": "ok",
    "converted with TODOs": "ok+todo",
    "not converted, TODO on class": "flagged",
    "not converted, no TODO": "SILENT",
    "file errored": "errored",
    "not walked": "unwalked",
    "class not found in output": "missing",
}
TODO_MARK = "TODO(rlmigrate)"
TODO_ANCHOR = re.compile(r"MIGRATION\.md#(\S+)")
CLASS_LINE = re.compile(r"^[ \t]*class[ \t]+\w+[ \t]*\(([^)]*)\)", re.M)

# Policy-level counting (see "Policy-level items" in the module docstring).
POLICY_BUILDERS = ("build_torch_policy", "build_tf_policy", "build_policy_class")
# Functions whose result is a trainer class: the label a name assigned their result gets.
TRAINER_FUNCTIONS = {"build_trainer": "build_trainer", "get_trainer_class": "get_trainer_class",
                     "get_algorithm_class": "Algorithm", "get_trainable_cls": "Algorithm"}
# RLlib 2.x algorithm classes (ray.rllib.algorithms): built from a dict, they are legacy usage.
ALGORITHM_CLASSES = frozenset({
    "Algorithm", "A2C", "A3C", "AlphaStar", "AlphaZero", "APPO", "ApexDDPG", "ApexDQN", "ARS", "BanditLinTS",
    "BanditLinUCB", "BC", "CQL", "CRR", "DDPG", "DDPPO", "DQN", "Dreamer", "DreamerV3", "DT", "ES", "Impala",
    "IMPALA", "LeelaChessZero", "MADDPG", "MAML", "MARWIL", "MBMPO", "PG", "PPO", "QMix", "R2D2", "SAC", "SimpleQ",
    "SlateQ", "TD3",
})
# Legacy trainer classes of ray.rllib.agents (distinctive: counted even where the import cannot be followed).
RLLIB_TRAINER_CLASSES = frozenset({
    "A2CTrainer", "A3CTrainer", "AlphaStarTrainer", "AlphaZeroTrainer", "APPOTrainer", "ApexDDPGTrainer",
    "ApexTrainer", "ARSTrainer", "BCTrainer", "CQLTrainer", "CRRTrainer", "DDPGTrainer", "DDPPOTrainer",
    "DQNTrainer", "DreamerTrainer", "ESTrainer", "GenericOffPolicyTrainer", "ImpalaTrainer", "MADDPGTrainer",
    "MAMLTrainer", "MARWILTrainer", "MBMPOTrainer", "PGTrainer", "PPOTrainer", "QMixTrainer", "R2D2Trainer",
    "SACTrainer", "SimpleQTrainer", "SlateQTrainer", "TD3Trainer", "LinTSTrainer", "LinUCBTrainer",
})
DISTINCTIVE_POLICY_SUFFIXES = ("TorchPolicy", "TFPolicy", "TorchPolicyV2", "TFPolicyV2")
# Methods of a legacy policy class whose override is a hook (Policy, TorchPolicy(V2), TFPolicy, EagerTFPolicy(V2)).
POLICY_HOOKS = frozenset({
    "loss", "action_distribution_fn", "action_sampler_fn", "extra_action_out", "extra_action_out_fn",
    "extra_action_fetches", "compute_actions", "compute_actions_from_input_dict", "compute_single_action",
    "compute_log_likelihoods", "postprocess_trajectory", "make_model", "make_model_and_action_dist", "optimizer",
    "stats_fn", "grad_stats_fn", "extra_grad_process", "extra_grad_info", "extra_compute_grad_fetches",
    "extra_compute_grad_feed_dict", "extra_compute_action_fetches", "extra_compute_action_feed_dict",
    "extra_learn_fetches_fn", "learn_on_batch", "compute_gradients", "apply_gradients", "gradients",
    "build_apply_op", "get_initial_state", "is_recurrent", "num_state_tensors", "get_weights", "set_weights",
    "get_state", "set_state", "on_global_var_update", "export_model", "export_checkpoint", "import_model_from_h5",
    "get_exploration_state", "get_exploration_info", "get_batch_divisibility_req", "before_loss_init",
    "variables", "copy",
})
# Top-level keys of a legacy result dict (``trainer.train()``) that this project's results lack.
LEGACY_RESULT_KEYS = frozenset({
    "episode_reward_mean", "episode_reward_min", "episode_reward_max", "episode_len_mean", "episodes_this_iter",
    "episodes_total", "policy_reward_mean", "policy_reward_min", "policy_reward_max", "custom_metrics",
    "hist_stats", "sampler_perf", "sampler_results", "episode_media", "timesteps_total", "timesteps_this_iter",
    "agent_timesteps_total", "num_healthy_workers", "num_steps_sampled", "num_steps_trained",
})
# Calls that are sites whatever their callee resolves to (classified later).
SITE_CALLS = frozenset(POLICY_BUILDERS) | {"build_trainer", "with_common_config"} | set(TRAINER_FUNCTIONS)
DICT_FUNCTIONS = frozenset({"dict", "with_common_config", "merge_dicts", "deep_update", "deep_merge", "to_dict"})
CONFIG_BUILDER_METHODS = frozenset({
    "training", "environment", "framework", "rollouts", "env_runners", "resources", "multi_agent", "evaluation",
    "debugging", "reporting", "rl_module", "callbacks", "exploration", "offline_data", "fault_tolerance",
    "checkpointing", "experimental", "learners", "api_stack", "python_environment", "update_from_dict",
})

# Item groups and kinds, in output order.
GROUPS = {
    "policies": ("policy class", "hook method", "build_*_policy call", "Policy.with_updates call",
                 "with_updates call (owner not known)"),
    "trainer_templates": ("Trainer.with_updates call", "build_trainer call", "trainer subclass"),
    "training_scripts": ("trainer construction", "algorithm built from a dict", "DEFAULT_CONFIG use",
                         "with_common_config call", "result-key lookup"),
}
OUTCOMES = ("rewritten", "flagged", "untouched", "file not migrated")
TOP_TODO_TEXTS = 15


# --------------------------------------------------------------------------- sources


def python_files(root: Path) -> List[str]:
    """Every Python file under ``root`` (relative POSIX paths, sorted), symlinks not
    followed, VCS folders skipped."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not os.path.islink(os.path.join(directory, d)))
        for name in files:
            path = os.path.join(directory, name)
            if name.endswith(PYTHON_SUFFIXES) and not os.path.islink(path) and os.path.isfile(path):
                found.append(Path(os.path.relpath(path, root)).as_posix())
    return sorted(found)


def decode(data: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return data.decode("latin-1")


def parse(data: bytes) -> Optional[ast.Module]:
    """The module's AST, or None where ``ast`` cannot parse it (Python 2, syntax errors,
    null bytes, nesting too deep)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeDecodeError):
        return None


def module_names(rel: str) -> List[str]:
    """The dotted names ``rel`` can be imported as: every suffix of its path
    (``src/pkg/mod.py`` -> ``pkg.mod``, ``mod``, ``src.pkg.mod``)."""
    parts = rel[: -len(Path(rel).suffix)].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return [".".join(parts[i:]) for i in range(len(parts)) if parts[i:]]


# --------------------------------------------------------------------------- analysis

Ref = Tuple[str, Optional[str], str]  # (kind, module, name): see _base_ref


@dataclass
class ClassInfo:
    path: str
    qualname: str
    line: int
    start: int  # first decorator line
    end: int
    bases: List[Ref]  # (kind, module, name) per base
    legacy: bool = False
    via: Optional[str] = None  # the RLlib class reached
    base_texts: List[str] = field(default_factory=list)  # each of ``bases`` as written (dotted)
    methods: List[Tuple[str, int, int]] = field(default_factory=list)  # (name, first decorator line, last line)
    policy_via: Optional[str] = None  # the RLlib policy class (or policy template) reached, if any
    trainer_via: Optional[str] = None  # the RLlib trainer / algorithm class (or trainer template) reached
    policy_base_texts: List[str] = field(default_factory=list)  # the bases (as written) that make it a policy
    policy_vias: List[str] = field(default_factory=list)  # the RLlib policy classes its bases reach, sorted


@dataclass
class CallInfo:
    path: str
    name: str
    line: int  # the statement's first line
    end: int


@dataclass
class Site:
    """A place the policy-level counting looks at: a call (``call``), a reference to
    ``DEFAULT_CONFIG`` (``ref``) or a result-key lookup (``key``)."""

    kind: str
    text: str  # the callee / reference as written (dotted), or the result key
    line: int
    window: Tuple[int, int]  # its statement's lines (of a compound statement: up to the site's last line)
    ref: Optional[Ref] = None  # the callee / reference, resolved as a base would be
    owner: Optional[Ref] = None  # for X.with_updates(...): X
    keywords: List[str] = field(default_factory=list)
    config: Optional[str] = None  # a construction's config argument: "dict", "config", "unknown" or None


@dataclass
class FileInfo:
    path: str
    parsed: bool
    lines: List[str] = field(default_factory=list)
    classes: List[ClassInfo] = field(default_factory=list)
    calls: List[CallInfo] = field(default_factory=list)
    imports: Dict[str, Tuple[str, Optional[str], int]] = field(default_factory=dict)  # alias -> (module, name|None, level)
    star_modules: List[str] = field(default_factory=list)
    unparsable_legacy_estimate: int = 0
    sites: List[Site] = field(default_factory=list)
    # name -> (last name of the callee, the callee's owner for X.with_updates) of `name = call(...)`, any scope
    assigned: Dict[str, Tuple[str, Optional[Ref]]] = field(default_factory=dict)
    imports_ray: bool = False


def _dotted(node: ast.AST) -> Optional[List[str]]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    return None


def _base_ref(node: ast.AST, info: FileInfo) -> Optional[Ref]:
    """A base expression as ``(kind, module, name)``: ``import`` (``module`` absolute or
    relative with leading dots), ``local`` (a name not imported here) or None (a call,
    a subscript's origin is used)."""
    if isinstance(node, ast.Subscript):
        node = node.value
    parts = _dotted(node)
    if not parts:
        return None
    head, rest = parts[0], parts[1:]
    if head in info.imports:
        module, name, level = info.imports[head]
        prefix = "." * level
        if name is None:  # `import a.b as m` then m.X / m.sub.X
            if not rest:
                return None
            return ("import", prefix + ".".join([module] + rest[:-1]), rest[-1])
        if not rest:
            return ("import", prefix + module, name)
        # `from pkg import mod` then mod.X
        return ("import", prefix + ".".join(filter(None, [module, name] + rest[:-1])), rest[-1])
    if rest:
        return ("attribute", ".".join(parts[:-1]), parts[-1])
    return ("local", None, head)


def _text(node: ast.AST) -> str:
    parts = _dotted(node.value if isinstance(node, ast.Subscript) else node)
    return ".".join(parts) if parts else ""


class _Collector(ast.NodeVisitor):
    def __init__(self, info: FileInfo) -> None:
        self.info = info
        self.scope: List[str] = []
        self.statement: Optional[ast.stmt] = None
        self.values: Dict[Tuple[Tuple[str, ...], str], str] = {}  # (scope, name) -> what was last assigned (dict/config)

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt):
            outer, self.statement = self.statement, node
            super().generic_visit(node)
            self.statement = outer
        else:
            super().generic_visit(node)

    def _scoped(self, node: ast.AST, name: str) -> None:
        self.scope.append(name)
        outer, self.statement = self.statement, node  # type: ignore[assignment]
        super().generic_visit(node)
        self.statement = outer
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node, node.name + ".<locals>")

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        refs = [(ref, _text(b)) for ref, b in ((_base_ref(b, self.info), b) for b in node.bases) if ref]
        bases = [ref for ref, _ in refs]
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        end = getattr(node, "end_lineno", None) or node.lineno
        qualname = ".".join(self.scope + [node.name])
        methods = [
            (m.name, min([m.lineno] + [d.lineno for d in m.decorator_list]), getattr(m, "end_lineno", None) or m.lineno)
            for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        self.info.classes.append(ClassInfo(self.info.path, qualname, node.lineno, start, end, bases,
                                           base_texts=[text for _, text in refs], methods=methods))
        self._scoped(node, node.name)

    def _window(self, node: ast.AST) -> Tuple[int, int]:
        """The lines of the statement around ``node`` (a compound statement: its first
        line to ``node``'s last)."""
        statement = self.statement or node
        start = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
        end = getattr(node, "end_lineno", None) or node.lineno
        if not hasattr(statement, "body"):
            end = max(end, getattr(statement, "end_lineno", None) or end)
        return start, end

    def _site(self, kind: str, text: str, node: ast.AST, **extra: Any) -> None:
        self.info.sites.append(Site(kind, text, node.lineno, self._window(node), **extra))

    def _value_kind(self, node: Optional[ast.AST], depth: int = 0) -> str:
        """What a config argument is: ``dict`` (a dict display, ``dict(...)``, a copy of
        ``DEFAULT_CONFIG``, ``with_common_config(...)``, a name assigned one of these),
        ``config`` (an ``...Config()`` builder chain) or ``unknown``."""
        if node is None or depth > 10:
            return "unknown"
        if isinstance(node, (ast.Dict, ast.DictComp)):
            return "dict"
        if isinstance(node, ast.Call):
            parts = _dotted(node.func) or []
            last = parts[-1] if parts else ""
            if last in DICT_FUNCTIONS:
                return "dict"
            if last in ("deepcopy", "copy") and node.args:
                return self._value_kind(node.args[0], depth + 1)
            if last == "copy" and isinstance(node.func, ast.Attribute):
                return self._value_kind(node.func.value, depth + 1)
            if last.endswith("Config") or last == "from_dict" or (isinstance(node.func, ast.Attribute)
                                                                   and last in CONFIG_BUILDER_METHODS):
                return "config"
            return "unknown"
        parts = _dotted(node)
        if parts and parts[-1] == "DEFAULT_CONFIG":
            return "dict"
        if isinstance(node, ast.Name):
            for n in range(len(self.scope), -1, -1):
                found = self.values.get((tuple(self.scope[:n]), node.id))
                if found:
                    return found
        return "unknown"

    def visit_Assign(self, node: ast.Assign) -> None:
        kind = self._value_kind(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.values[(tuple(self.scope), target.id)] = kind
                if isinstance(node.value, ast.Call):
                    parts = _dotted(node.value.func)
                    if parts:
                        owner = _base_ref(node.value.func.value, self.info) if len(parts) > 1 else None  # type: ignore[attr-defined]
                        self.info.assigned[target.id] = (parts[-1], owner)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        parts = _dotted(node.func)
        # register_custom_model and with_updates are methods: a bare call is some other function.
        if parts and parts[-1] in LEGACY_CALLS and (len(parts) > 1 or parts[-1] not in METHOD_CALLS):
            statement = self.statement or node
            start = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
            line_end = getattr(node, "end_lineno", None) or node.lineno
            self.info.calls.append(CallInfo(self.info.path, parts[-1], start, line_end))
        if parts:
            last = parts[-1]
            keywords = [k.arg for k in node.keywords if k.arg]
            if last == "with_updates" and len(parts) > 1:
                self._site("call", ".".join(parts), node, owner=_base_ref(node.func.value, self.info),  # type: ignore[attr-defined]
                           keywords=keywords)
            elif last in SITE_CALLS or last.endswith("Trainer") or last in ALGORITHM_CLASSES or "config" in keywords:
                config = next((k.value for k in node.keywords if k.arg == "config"), node.args[0] if node.args else None)
                self._site("call", ".".join(parts), node, ref=_base_ref(node.func, self.info), keywords=keywords,
                           config=self._value_kind(config) if config is not None else None)
            elif last == "get" and len(parts) > 1 and node.args and isinstance(node.args[0], ast.Constant) \
                    and node.args[0].value in LEGACY_RESULT_KEYS:
                self._site("key", node.args[0].value, node)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        key = node.slice.value if isinstance(node.slice, ast.Constant) else None
        if isinstance(key, str) and isinstance(node.ctx, ast.Load):
            inner = node.value
            if key in LEGACY_RESULT_KEYS:
                self._site("key", key, node)
            elif key == "learner" and isinstance(inner, ast.Subscript) and isinstance(inner.slice, ast.Constant) \
                    and inner.slice.value == "info":
                self._site("key", "info/learner", node)
        self.generic_visit(node)

    def _reference(self, node: ast.AST) -> None:
        if isinstance(getattr(node, "ctx", None), ast.Load):
            self._site("ref", _text(node), node, ref=_base_ref(node, self.info))

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "DEFAULT_CONFIG" or self.info.imports.get(node.id, ("", None, 0))[1] == "DEFAULT_CONFIG":
            self._reference(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr == "DEFAULT_CONFIG" and _dotted(node):
            self._reference(node)
        else:
            self.generic_visit(node)


def _collect_imports(tree: ast.Module, info: FileInfo) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                info.imports_ray |= alias.name.split(".")[0] == "ray"
                if alias.asname:
                    info.imports[alias.asname] = (alias.name, None, 0)
                else:
                    head = alias.name.split(".")[0]
                    info.imports.setdefault(head, (head, None, 0))
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            info.imports_ray |= not node.level and module.split(".")[0] == "ray"
            for alias in node.names:
                if alias.name == "*":
                    info.star_modules.append("." * node.level + module)
                else:
                    info.imports[alias.asname or alias.name] = (module, alias.name, node.level)


def analyze_file(root: Path, rel: str) -> FileInfo:
    try:
        data = (root / rel).read_bytes()
    except OSError:
        return FileInfo(rel, parsed=False)
    text = decode(data)
    tree = parse(data)
    info = FileInfo(rel, parsed=tree is not None, lines=text.splitlines())
    if tree is None:
        names = "|".join(sorted(LEGACY_NAMES, key=len, reverse=True))
        info.unparsable_legacy_estimate = sum(
            1 for bases in CLASS_LINE.findall(text) if re.search(rf"\b({names})\b", bases)
        )
        return info
    try:
        _collect_imports(tree, info)
        _Collector(info).visit(tree)
    except RecursionError:  # nested too deeply for the visitor: classes without their scopes
        info.classes, info.calls, info.sites, info.assigned = [], [], [], {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [ref for ref in (_base_ref(b, info) for b in node.bases) if ref]
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                info.classes.append(ClassInfo(rel, node.name, node.lineno, start, node.end_lineno or node.lineno, bases,
                                              base_texts=[_text(b) for b in node.bases if _base_ref(b, info)]))
    return info


@dataclass(frozen=True)
class Family:
    """What makes a class legacy, for one family of RLlib classes (models, policies,
    trainers): a name imported from ``ray.rllib`` (``rllib(module, name)``), a name a
    star import from RLlib may bring (``star``), a name distinctive enough to count when
    its import cannot be followed (``distinctive``), and what a ``name = f(...)``
    assignment makes of the name by ``f``'s last name (``assigned``: a label, ``"owner"``
    for ``X.with_updates(...)`` of a class of the family, or None)."""

    name: str
    rllib: Callable[[str, str], bool]
    star: Callable[[str], bool]
    distinctive: Callable[[str], bool]
    assigned: Callable[[str], Optional[str]]
    # An import from a module outside the tree falls back on a class of the tree with that
    # name (models; for policies and trainers, `from stable_baselines3 import PPO` would
    # otherwise become a tree's own PPO(PPOTrainer)).
    by_name_for_imports: bool = False


def _model_from_rllib(module: str, name: str) -> bool:
    return name in LEGACY_NAMES or ("model" in module and "action_dist" not in module and bool(RLLIB_MODEL_CLASS.search(name)))


def _is_policy_name(name: str) -> bool:
    return name.endswith(("Policy", "PolicyV2"))


def _is_trainer_name(name: str) -> bool:
    return name.endswith("Trainer") or name in ALGORITHM_CLASSES


MODELS = Family("models", _model_from_rllib, lambda n: n in LEGACY_NAMES, lambda n: n in DISTINCTIVE, lambda f: None,
                by_name_for_imports=True)
POLICIES = Family(
    "policies", lambda module, name: _is_policy_name(name), _is_policy_name,
    lambda n: n.endswith(DISTINCTIVE_POLICY_SUFFIXES),
    lambda f: f if f in POLICY_BUILDERS else ("owner" if f == "with_updates" else None),
)
TRAINERS = Family(
    "trainers", lambda module, name: _is_trainer_name(name), lambda n: n.endswith("Trainer"),
    lambda n: n in RLLIB_TRAINER_CLASSES,
    lambda f: TRAINER_FUNCTIONS.get(f) or ("owner" if f == "with_updates" else None),
)


class Repo:
    """The parsed Python files of one tree, with legacy status resolved for every class
    (models: ``legacy`` / ``via``; policies: ``policy_via``; trainers: ``trainer_via``)."""

    def __init__(self, root: Path, files: Optional[Sequence[str]] = None) -> None:
        self.root = root
        self.files: Dict[str, FileInfo] = {rel: analyze_file(root, rel) for rel in (files or python_files(root))}
        self.modules: Dict[str, List[str]] = {}
        for rel in self.files:
            for name in module_names(rel):
                self.modules.setdefault(name, []).append(rel)
        self.by_name: Dict[str, List[ClassInfo]] = {}
        self.assigned_in: Dict[str, List[str]] = {}  # name -> files assigning it a call's result
        for info in self.files.values():
            for cls in info.classes:
                self.by_name.setdefault(cls.qualname.split(".")[-1], []).append(cls)
            for name in info.assigned:
                self.assigned_in.setdefault(name, []).append(info.path)
        self._state: Dict[Tuple[str, int], Optional[str]] = {}
        for info in self.files.values():
            for cls in info.classes:
                via = self._legacy_via(cls, 0, MODELS)
                cls.legacy, cls.via = via is not None, via
                cls.policy_via = self._legacy_via(cls, 0, POLICIES)
                cls.trainer_via = None if cls.policy_via else self._legacy_via(cls, 0, TRAINERS)
                if cls.policy_via:
                    vias = [self._ref_via(ref, cls.path, 1, POLICIES) for ref in cls.bases]
                    cls.policy_base_texts = [text for via, text in zip(vias, cls.base_texts) if via]
                    cls.policy_vias = sorted({via for via in vias if via})

    def resolve(self, ref: Optional[Ref], rel: str, family: Family) -> Optional[str]:
        """The RLlib class (or template function) of ``family`` that ``ref``, seen from
        file ``rel``, reaches; None if none."""
        return self._ref_via(ref, rel, 0, family) if ref else None

    # -- resolution

    def _resolve_module(self, module: str, importer: str) -> List[str]:
        """Files of this tree that ``module`` (maybe relative) names, from ``importer``."""
        level = len(module) - len(module.lstrip("."))
        module = module.lstrip(".")
        if level:
            base = Path(importer).parent
            for _ in range(level - 1):
                base = base.parent
            target = (base / module.replace(".", "/")) if module else base
            candidates = [target.as_posix() + ".py", (target / "__init__.py").as_posix(), target.as_posix() + ".pyi"]
            return [c for c in candidates if c in self.files]
        found = self.modules.get(module, [])
        if len(found) > 1:  # prefer the one nearest to the importer
            def shared(rel: str) -> int:
                a, b = Path(rel).parts, Path(importer).parts
                n = 0
                while n < min(len(a), len(b)) and a[n] == b[n]:
                    n += 1
                return n
            found = sorted(found, key=shared, reverse=True)
        return found

    def _symbol_via(self, rel: str, name: str, depth: int, family: Family) -> Tuple[bool, Optional[str]]:
        """Whether ``name`` is known in file ``rel`` and, if it is a legacy class, the
        RLlib class it reaches: ``(known, via)``."""
        info = self.files.get(rel)
        if info is None or not info.parsed or depth > MAX_DEPTH:
            return False, None
        here = [c for c in info.classes if c.qualname == name]
        if here:
            return True, self._legacy_via(here[-1], depth + 1, family)
        if name in info.assigned:
            via = self._assigned_via(info, name, depth, family)
            if via:
                return True, via
        if name in info.imports:
            module, orig, level = info.imports[name]
            if orig is not None:
                return True, self._ref_via(("import", "." * level + module, orig), rel, depth + 1, family)
        return False, None

    def _assigned_via(self, info: FileInfo, name: str, depth: int, family: Family) -> Optional[str]:
        function, owner = info.assigned[name]
        label = family.assigned(function)
        if label == "owner":  # X.with_updates(...): a class of the family if X is one
            return function if owner and self._ref_via(owner, info.path, depth + 1, family) else None
        return label

    def _ref_via(self, ref: Ref, rel: str, depth: int, family: Family) -> Optional[str]:
        kind, module, name = ref
        if depth > MAX_DEPTH:
            return None
        if kind == "local":
            known, via = self._symbol_via(rel, name, depth, family)
            if known:
                return via
            info = self.files[rel]
            if family.star(name) and any("rllib" in m for m in info.star_modules):
                return name
            return self._by_name_via(name, depth, family) if not family.distinctive(name) else name
        assert module is not None
        bare = module.lstrip(".")
        if not module.startswith(".") and (bare == "ray.rllib" or bare.startswith(("ray.rllib.", "rllib."))):
            return name if family.rllib(bare, name) else None
        targets = self._resolve_module(module, rel)
        for target in targets:
            known, via = self._symbol_via(target, name, depth, family)
            if known:
                return via
        if kind == "attribute" or not targets:
            if family.distinctive(name):
                return name
            if kind == "attribute" or family.by_name_for_imports:
                return self._by_name_via(name, depth, family)
        return None

    def _by_name_via(self, name: str, depth: int, family: Family) -> Optional[str]:
        """A class of this tree with that name (any file) that is legacy, if any (or,
        for policies and trainers, a name some file assigns a template)."""
        for cls in self.by_name.get(name, []):
            via = self._legacy_via(cls, depth + 1, family)
            if via:
                return via
        if family is not MODELS:
            for rel in self.assigned_in.get(name, []):
                via = self._assigned_via(self.files[rel], name, depth, family)
                if via:
                    return via
        return None

    def _legacy_via(self, cls: ClassInfo, depth: int, family: Family) -> Optional[str]:
        key = (family.name, id(cls))
        if key in self._state:
            return self._state[key]
        self._state[key] = None  # cycle guard: a class in a cycle is not legacy through it
        via = None
        for ref in cls.bases:
            via = self._ref_via(ref, cls.path, depth, family)
            if via:
                break
        self._state[key] = via
        return via


# --------------------------------------------------------------------------- markers


def todo_lines(lines: Sequence[str]) -> Dict[int, Optional[str]]:
    """1-based line -> anchor (None without one) of every ``TODO(rlmigrate)`` marker."""
    found = {}
    for number, line in enumerate(lines, start=1):
        if TODO_MARK in line:
            match = TODO_ANCHOR.search(line)
            found[number] = match.group(1) if match else None
    return found


def marker_window(lines: Sequence[str], start: int, end: int) -> Tuple[int, int]:
    """The lines a marker of the block ``start..end`` may sit on: the block itself and
    the run of comment lines directly above it."""
    first = start
    while first > 1 and lines[first - 2].lstrip().startswith("#"):
        first -= 1
    return first, end


def markers_in(todos: Dict[int, Optional[str]], window: Tuple[int, int]) -> List[Optional[str]]:
    return [anchor for line, anchor in todos.items() if window[0] <= line <= window[1]]


# --------------------------------------------------------------------------- policy-level items


@dataclass
class Item:
    """One legacy construct of the original tree, matched in the output by ``kind``
    and ``key`` (a class's qualified name, a hook's class and method, a callee or
    reference as written, a result key)."""

    group: str
    kind: str
    path: str
    key: str
    line: int
    window: Tuple[int, int]  # the lines a marker on it may sit on (with the comment block above)
    via: Optional[str] = None  # the RLlib class / template it reaches
    owner: Optional[str] = None  # a hook's class (qualified name)
    bases: Tuple[str, ...] = ()  # a class's bases (as written) that make it legacy
    keywords: Tuple[str, ...] = ()


@dataclass
class Candidate:
    line: int
    window: Tuple[int, int]
    legacy: bool  # still the legacy construct (a class: still a legacy base)


def _rllib_ref(ref: Optional[Ref], info: FileInfo) -> bool:
    """A reference imported from ``ray.rllib`` (or a bare name a star import from RLlib may bring)."""
    if ref is None:
        return False
    kind, module, _ = ref
    if kind == "local":
        return any("rllib" in m for m in info.star_modules)
    return kind == "import" and module is not None and module.startswith(("ray.rllib", "rllib."))


def _with_updates_group(site: Site, repo: Repo, rel: str) -> Tuple[str, str, Optional[str]]:
    """``(group, kind, via)`` of an ``X.with_updates(...)`` call: X a policy or a trainer
    (resolved, else by X's name as the policies rule reads it), or not known."""
    via = repo.resolve(site.owner, rel, POLICIES)
    if via:
        return "policies", "Policy.with_updates call", via
    via = repo.resolve(site.owner, rel, TRAINERS)
    if via:
        return "trainer_templates", "Trainer.with_updates call", via
    owner = site.text.split(".")[-2]
    if owner.lower().endswith(("trainer", "trainer_class", "trainer_cls", "algorithm", "algo", "algo_cls")):
        return "trainer_templates", "Trainer.with_updates call", None
    if owner.endswith(("Policy", "PolicyV2")):
        return "policies", "Policy.with_updates call", None
    return "policies", "with_updates call (owner not known)", None


def legacy_items(repo: Repo, info: FileInfo) -> List[Item]:
    """The policy-level items of one original file, in source order."""
    items: List[Item] = []
    rel = info.path
    for cls in info.classes:
        if cls.policy_via:
            items.append(Item("policies", "policy class", rel, cls.qualname, cls.line, (cls.start, cls.end),
                              via="+".join(cls.policy_vias) or cls.policy_via, bases=tuple(cls.policy_base_texts)))
            for name, start, end in cls.methods:
                if name in POLICY_HOOKS:
                    items.append(Item("policies", "hook method", rel, name, start, (start, end), via=cls.policy_via,
                                      owner=cls.qualname, bases=tuple(cls.policy_base_texts)))
        elif cls.trainer_via:
            items.append(Item("trainer_templates", "trainer subclass", rel, cls.qualname, cls.line, (cls.start, cls.end),
                              via=cls.trainer_via, bases=tuple(
                                  t for r, t in zip(cls.bases, cls.base_texts) if repo.resolve(r, rel, TRAINERS))))
    for site in info.sites:
        last = site.text.split(".")[-1]
        group = kind = via = None
        if site.kind == "key":
            if info.imports_ray:
                group, kind = "training_scripts", "result-key lookup"
        elif site.kind == "ref":
            if _rllib_ref(site.ref, info):
                group, kind = "training_scripts", "DEFAULT_CONFIG use"
        elif last == "with_updates":
            group, kind, via = _with_updates_group(site, repo, rel)
        elif last in POLICY_BUILDERS:
            group, kind = "policies", "build_*_policy call"
        elif last == "build_trainer":
            group, kind = "trainer_templates", "build_trainer call"
        elif last == "with_common_config":
            group, kind = "training_scripts", "with_common_config call"
        else:
            via = repo.resolve(site.ref, rel, TRAINERS)
            if via and (via.endswith("Trainer") or via in ("build_trainer", "with_updates", "get_trainer_class")):
                group, kind = "training_scripts", "trainer construction"
            elif via and site.config == "dict":
                group, kind = "training_scripts", "algorithm built from a dict"
        if group and kind:
            items.append(Item(group, kind, rel, site.text, site.line, site.window, via=via, keywords=tuple(site.keywords)))
    return items


def candidates(item: Item, out: FileInfo) -> List[Candidate]:
    """What in the output file may be ``item`` (by kind and key; nothing is resolved
    here: an import the codemod re-pointed still leaves the construct in place)."""
    def still_legacy(cls: ClassInfo) -> bool:
        """Still a legacy base: resolved in the output, or a base that made it legacy still written."""
        return bool(cls.trainer_via if item.kind == "trainer subclass" else cls.policy_via) \
            or bool(set(item.bases) & set(cls.base_texts))

    if item.kind in ("policy class", "trainer subclass"):
        return [Candidate(cls.line, (cls.start, cls.end), still_legacy(cls)) for cls in out.classes
                if cls.qualname == item.key]
    if item.kind == "hook method":  # a hook of a class that is no longer legacy is no longer a legacy hook
        return [Candidate(start, (start, end), still_legacy(cls)) for cls in out.classes if cls.qualname == item.owner
                for name, start, end in cls.methods if name == item.key]
    site_kind = {"result-key lookup": "key", "DEFAULT_CONFIG use": "ref"}.get(item.kind, "call")
    return [Candidate(s.line, s.window, True) for s in out.sites
            if s.kind == site_kind and s.text == item.key
            and (item.kind != "algorithm built from a dict" or s.config == "dict")]


class LineMap:
    """Lines of an original file aligned with its output: ``difflib`` on whole lines, and
    inside a block of changed lines each original line paired with the most similar
    output line after the previous pair (similarity at least ``PAIR_RATIO``; comment lines,
    where markers go, are never paired)."""

    PAIR_RATIO = 0.4
    MAX_PAIRING = 40_000  # line pairs compared in one changed block; a larger block is left unpaired

    def __init__(self, before: Sequence[str], after: Sequence[str]) -> None:
        self.after = after
        self.ops = difflib.SequenceMatcher(None, list(before), list(after), autojunk=False).get_opcodes()
        self.pairs: Dict[int, int] = {}  # original line index -> output line index
        for tag, i1, i2, j1, j2 in self.ops:
            if tag == "equal":
                self.pairs.update((i1 + k, j1 + k) for k in range(i2 - i1))
            elif tag == "replace" and (i2 - i1) * (j2 - j1) <= self.MAX_PAIRING:
                start = j1
                for i in range(i1, i2):
                    best, ratio = None, self.PAIR_RATIO
                    for j in range(start, j2):
                        text = after[j].strip()
                        if text.startswith("#") or not text:
                            continue
                        matcher = difflib.SequenceMatcher(None, before[i].strip(), text, autojunk=False)
                        if matcher.quick_ratio() >= ratio and matcher.ratio() >= ratio:
                            best, ratio = j, matcher.ratio()
                    if best is not None:
                        self.pairs[i] = best
                        start = best + 1

    def line(self, number: int) -> int:
        """The output line an original line became (an unpaired changed line: the first
        of its block's replacement)."""
        i = number - 1
        if i in self.pairs:
            return self.pairs[i] + 1
        for _, i1, i2, j1, _ in self.ops:
            if i1 <= i < i2:
                return j1 + 1
        return (self.ops[-1][4] if self.ops else 0) + 1

    def region(self, start: int, end: int) -> Optional[Tuple[int, int]]:
        """The output lines that original lines ``start..end`` became: from the first to
        the last output line paired with one of them, with lines inserted just above them
        or among them; where none is paired, the unpaired output lines of the changed
        blocks they are in. None if they all went."""
        a, b = start - 1, end
        found = [self.pairs[i] for i in range(a, b) if i in self.pairs]
        paired = set(self.pairs.values())
        for tag, i1, i2, j1, j2 in self.ops:
            if tag == "insert" and a <= i1 < b:
                found += range(j1, j2)
            elif tag == "replace" and max(i1, a) < min(i2, b) and not any(i in self.pairs for i in range(a, b)):
                found += [j for j in range(j1, j2) if j not in paired]
        return (min(found) + 1, max(found) + 1) if found else None


def classify_item(item: Item, out: FileInfo, lines_map: LineMap, pool: Dict[Tuple[str, str, Optional[str]], List[Candidate]],
                  todos: Dict[int, Optional[str]]) -> Tuple[str, List[Optional[str]]]:
    """``(outcome, anchors)``: ``flagged`` if a marker sits on or inside what the item
    became, else ``untouched`` if it is still there, else ``rewritten``. What it became:
    among the output's candidates (same kind and key, not taken by an earlier item) on the
    lines its own lines became (``LineMap.region``), the one nearest to where its first
    line went; without one, those lines."""
    key = (item.kind, item.key, item.owner)
    if key not in pool:
        pool[key] = candidates(item, out)
    region = lines_map.region(*item.window)
    found = [c for c in pool[key] if region and region[0] <= c.line <= region[1]]
    if found:
        target = lines_map.line(item.line)
        best = min(found, key=lambda c: (abs(c.line - target), c.line))
        pool[key].remove(best)
        anchors = markers_in(todos, marker_window(out.lines, *best.window))
        if anchors:
            return "flagged", anchors
        return ("untouched" if best.legacy else "rewritten"), []
    anchors = markers_in(todos, marker_window(out.lines, *region)) if region else []
    return ("flagged" if anchors else "rewritten"), anchors


def policy_figures(original: Repo, out_repo: Optional[Repo], entries: Dict[str, Dict[str, Any]],
                   walked: Optional[Set[str]]) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """The items of every original file classified in the output, counted per group and
    kind, with the shapes seen; and one record per item."""
    counts = {group: {kind: Counter() for kind in kinds} for group, kinds in GROUPS.items()}
    hooks: Dict[str, Counter] = {}
    shapes: Dict[str, Counter] = {name: Counter() for name in SHAPES}
    anchors_of: Dict[str, Counter] = {kind: Counter() for kinds in GROUPS.values() for kind in kinds}
    records = []
    for info in original.files.values():
        items = legacy_items(original, info)
        if not items:
            continue
        out = out_repo.files.get(info.path) if out_repo else None
        skipped = (entries.get(info.path, {}).get("status") == "error" or (walked is not None and info.path not in walked)
                   or out is None or not out.parsed)
        if not skipped:
            assert out is not None
            lines_map, todos = LineMap(info.lines, out.lines), todo_lines(out.lines)
        pool: Dict[Tuple[str, str, Optional[str]], List[Candidate]] = {}
        for item in items:
            if skipped:
                outcome, anchors = "file not migrated", []
            else:
                outcome, anchors = classify_item(item, out, lines_map, pool, todos)  # type: ignore[arg-type]
            counts[item.group][item.kind][outcome] += 1
            if item.kind == "hook method":
                hooks.setdefault(item.key, Counter())[outcome] += 1
            if outcome == "flagged":
                anchors_of[item.kind].update(set(a or "?" for a in anchors))
            _shape(shapes, item)
            records.append({"path": item.path, "group": item.group, "kind": item.kind, "key": item.key,
                            "class": item.owner, "line": item.line, "via": item.via, "outcome": outcome,
                            "todos": anchors})
        for cls in info.classes:
            if cls.policy_via:
                shapes["policy other methods"].update(m for m, _, _ in cls.methods if m not in POLICY_HOOKS)
    figures: Dict[str, Any] = {}
    for group, kinds in counts.items():
        figures[group] = {kind: {o: kinds[kind].get(o, 0) for o in OUTCOMES} for kind in GROUPS[group]}
        figures[group]["all"] = {o: sum(kinds[k].get(o, 0) for k in GROUPS[group]) for o in OUTCOMES}
    figures["hooks_by_name"] = {name: {o: c.get(o, 0) for o in OUTCOMES}
                                for name, c in sorted(hooks.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))}
    figures["policy_shapes"] = {name: dict(c.most_common()) for name, c in shapes.items()}
    figures["flagged_items_by_anchor"] = {kind: dict(c.most_common()) for kind, c in anchors_of.items() if c}
    return figures, records


SHAPES = ("policy class bases", "policy other methods", "build_*_policy keywords", "with_updates owners",
          "build_trainer keywords", "trainer subclass bases", "constructions", "DEFAULT_CONFIG uses", "result keys")


def _shape(shapes: Dict[str, Counter], item: Item) -> None:
    if item.kind == "policy class":
        shapes["policy class bases"][item.via or "?"] += 1
    elif item.kind == "build_*_policy call":
        shapes["build_*_policy keywords"].update(item.keywords)
    elif "with_updates" in item.kind:
        shapes["with_updates owners"][item.key.rsplit(".", 1)[0]] += 1
    elif item.kind == "build_trainer call":
        shapes["build_trainer keywords"].update(item.keywords)
    elif item.kind == "trainer subclass":
        shapes["trainer subclass bases"][item.via or "?"] += 1
    elif item.kind in ("trainer construction", "algorithm built from a dict"):
        shapes["constructions"][item.key] += 1
    elif item.kind == "DEFAULT_CONFIG use":
        shapes["DEFAULT_CONFIG uses"][item.key] += 1
    elif item.kind == "result-key lookup":
        shapes["result keys"][item.key] += 1


# --------------------------------------------------------------------------- TODO texts

IMPORT_TODO = re.compile(r"^`(?:(?P<name>[^`\s]+)` from `[^`]+`|import (?P<module>[^`]+)`|from (?P<star>\S+) import \*`)"
                         r" has no ray-free equivalent")
_PLAIN_WORD = re.compile(r"[a-z]+[,.;:]?")


def todo_signature(anchor: Optional[str], message: str) -> str:
    """What groups TODO texts into kinds: the anchor and the message's plain lowercase
    words (names, code and quoted text left out)."""
    words = [w for w in re.sub(r"`[^`]*`|'[^'\s]*'|\"[^\"]*\"", " ", message).split() if _PLAIN_WORD.fullmatch(w)]
    return f"{anchor or '?'}|{' '.join(words)}"


def todo_template(messages: Counter) -> str:
    """One text for a kind: its messages of the commonest length, word by word, with
    the words that differ among them (and quoted or backticked text) as ``…``."""
    by_length: Dict[int, Counter] = {}
    for message, count in messages.items():
        words = re.sub(r"'[^'\s]*'", "'…'", re.sub(r"`[^`]*`", "`…`", message)).split()
        by_length.setdefault(len(words), Counter())[tuple(words)] += count
    group = max(by_length.values(), key=lambda c: (sum(c.values()), -len(c)))
    split = list(group)
    return " ".join(ws[0] if len(set(ws)) == 1 else "…" for ws in zip(*split))


def imported_name(message: str) -> Optional[str]:
    """The name an "import without an equivalent" TODO is about (``SampleBatch``, a
    module for ``import m``, ``m.*`` for a star import), else None."""
    match = IMPORT_TODO.match(message)
    if not match:
        return None
    if match.group("star"):
        return match.group("star") + ".*"
    return match.group("name") or match.group("module")


def todo_texts(per_repo_messages: Dict[str, Counter]) -> Tuple[Dict[str, Dict[str, int]], List[Dict[str, Any]]]:
    """TODO kinds per repository (``{text: count}``, commonest first) and over all of
    them (``[{"text", "anchor", "count", "repos"}]``, commonest first). Messages are
    ``(anchor, message)`` counters."""
    by_kind: Dict[str, Counter] = {}
    anchors: Dict[str, str] = {}
    for messages in per_repo_messages.values():
        for (anchor, message), count in messages.items():
            signature = todo_signature(anchor, message)
            by_kind.setdefault(signature, Counter())[message] += count
            anchors[signature] = anchor or "?"
    texts = {signature: todo_template(messages) for signature, messages in by_kind.items()}
    per_repo: Dict[str, Dict[str, int]] = {}
    total: Counter = Counter()
    repos: Counter = Counter()
    for repo, messages in per_repo_messages.items():
        counter: Counter = Counter()
        for (anchor, message), count in messages.items():
            counter[todo_signature(anchor, message)] += count
        per_repo[repo] = {texts[s]: n for s, n in counter.most_common()}
        total.update(counter)
        repos.update(counter.keys())
    listing = [{"text": texts[s], "anchor": anchors[s], "count": n, "repos": repos[s]} for s, n in total.most_common()]
    return per_repo, listing


# --------------------------------------------------------------------------- one repository


def make_writable(root: Path) -> None:
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                try:
                    os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR | stat.S_IRUSR | (stat.S_IXUSR if name in dirs else 0))
                except OSError:
                    pass


def rlmigrate_command() -> List[str]:
    script = Path(sys.executable).parent / "rlmigrate"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from rlmigrate.cli import main; sys.exit(main(sys.argv[1:]))"]


def track_every_file(copy: Path) -> str:
    """Give the copy a git index tracking all its files, as the commit it is a snapshot
    of does. Returns what happened, for the JSON (``tracked N files``, ``kept ...``,
    ``skipped: ...`` or ``failed: ...``). Hooks and fsmonitor are off, and no system or
    global git config is read."""
    if (copy / ".git").exists():
        return "kept the index of the .git it has"
    git = shutil.which("git")
    if git is None:
        return "skipped: git is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"})
    safe = [git, "-c", "core.hooksPath=" + os.devnull, "-c", "core.fsmonitor=false", "-c", "core.autocrlf=false"]
    try:
        for args in (["init", "-q"], ["add", "-f", "-A"]):
            subprocess.run(safe + args, cwd=copy, env=env, check=True, capture_output=True, timeout=600)
        listed = subprocess.run(safe + ["ls-files", "-z"], cwd=copy, env=env, check=True, capture_output=True,
                                timeout=600).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        stderr = (getattr(exc, "stderr", None) or b"").decode(errors="replace").strip()
        return f"failed: {exc}" + (f" ({stderr.splitlines()[-1]})" if stderr else "")
    return f"tracked {len(listed.split(NUL)) - 1} files"


def codemods_env(codemods_root: Path) -> Dict[str, str]:
    """The environment the codemod runs in: ``codemods_root`` first on ``PYTHONPATH``."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(codemods_root), os.environ.get("PYTHONPATH")]))}


def codemods_package(codemods_root: Path) -> Optional[str]:
    """``codemods.__file__`` as the codemod's interpreter imports it, or None if it cannot."""
    try:
        done = subprocess.run([sys.executable, "-c", "import codemods; print(codemods.__file__)"],
                              env=codemods_env(codemods_root), capture_output=True, text=True, timeout=120,
                              cwd=tempfile.gettempdir())
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def walked_files(root: Path, codemods_root: Path = ROOT) -> Optional[Set[str]]:
    """The Python files the codemod's own walk visits, or None where it cannot be asked."""
    script = "import json, sys\nfrom pathlib import Path\nfrom codemods.files import python_files\n" \
             "print(json.dumps([Path(p).as_posix() for p in python_files(Path(sys.argv[1]))]))"
    try:
        done = subprocess.run([sys.executable, "-c", script, str(root)], env=codemods_env(codemods_root),
                              capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir())
        walked = set(json.loads(done.stdout)) if done.returncode == 0 else set()
    except (OSError, subprocess.SubprocessError, ValueError):  # optional refinement only
        return None
    return walked or None


def run_codemod(copy: Path, out: Path, report: Path, jobs: int, timeout: float,
                codemods_root: Path = ROOT) -> Dict[str, Any]:
    command = rlmigrate_command() + ["migrate", copy.name, "--out-dir", str(out), "--report", str(report),
                                     "-j", str(jobs), "--no-progress"]
    env = codemods_env(codemods_root)
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=copy.parent, env=env, capture_output=True, text=True, timeout=timeout)
        returncode, stderr, timed_out = done.returncode, done.stderr, False
    except subprocess.TimeoutExpired as exc:
        returncode, timed_out = None, True
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
    return {"returncode": returncode, "timed_out": timed_out, "seconds": round(time.perf_counter() - start, 2),
            "stderr_tail": stderr.strip().splitlines()[-5:]}


def read_report(path: Path, prefix: str) -> Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]:
    """The report's summary and its file entries by path relative to the tree."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, {}
    entries = {}
    for entry in report.get("files", []):
        rel = Path(entry.get("path", "")).as_posix()
        if rel.startswith(prefix + "/"):
            rel = rel[len(prefix) + 1:]
        entries[rel] = entry
    return report.get("summary", {}), entries


def classify(cls: ClassInfo, out_repo: Optional[Repo], entries: Dict[str, Dict[str, Any]],
             walked: Optional[Set[str]], occurrence: int) -> Tuple[str, List[Optional[str]], Optional[str]]:
    """The class's category, the anchors of the markers on it, and the legacy base it
    still has in the output (None if none)."""
    entry = entries.get(cls.path)
    if entry and entry.get("status") == "error":
        return "file errored", [], None
    if walked is not None and cls.path not in walked:
        return "not walked", [], None
    info = out_repo.files.get(cls.path) if out_repo else None
    if info is None:
        return "class not found in output", [], None
    if not info.parsed:
        return "file errored", [], None
    same = [c for c in info.classes if c.qualname == cls.qualname]
    if not same:
        same = [c for c in info.classes if c.qualname.split(".")[-1] == cls.qualname.split(".")[-1]]
    if not same:
        return "class not found in output", [], None
    new = same[min(occurrence, len(same) - 1)]
    anchors = markers_in(todo_lines(info.lines), marker_window(info.lines, new.start, new.end))
    if new.legacy:
        return ("not converted, TODO on class" if anchors else "not converted, no TODO"), anchors, new.via
    return ("converted with TODOs" if anchors else "converted, no TODO"), anchors, None


def measure_repo(source: Path, jobs: int, timeout: float, keep: Optional[Path],
                 codemods_root: Path = ROOT) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Figures for one repository, and the per-class / per-call details."""
    name = source.name
    wall = time.perf_counter()
    original = Repo(source)
    with tempfile.TemporaryDirectory(prefix="rlmigrate-real-") as tmp:
        tmp_path = Path(tmp)
        copy = tmp_path / "src" / name
        shutil.copytree(source, copy, symlinks=True, copy_function=shutil.copyfile)
        make_writable(copy)
        git_index = track_every_file(copy)
        walked = walked_files(copy, codemods_root)
        out, report_path = tmp_path / "out", tmp_path / "report.json"
        run = run_codemod(copy, out, report_path, jobs, timeout, codemods_root)
        summary, entries = read_report(report_path, name)
        out_files = [rel for rel in original.files if (out / rel).is_file()]
        out_repo = Repo(out, out_files) if out.is_dir() else None
        if keep is not None:
            target = keep / name
            if target.exists():
                make_writable(target)
                shutil.rmtree(target)
            target.mkdir(parents=True)
            if out.is_dir():
                shutil.copytree(out, target / "out", symlinks=True)
            if report_path.exists():
                shutil.copyfile(report_path, target / "report.json")
        make_writable(tmp_path)

    classes, categories, silent_by_base, todo_on_classes = [], Counter(), Counter(), Counter()
    seen: Counter = Counter()
    for info in original.files.values():
        for cls in info.classes:
            if not cls.legacy:
                continue
            key = (cls.path, cls.qualname)
            category, anchors, still = classify(cls, out_repo, entries, walked, seen[key])
            seen[key] += 1
            categories[category] += 1
            todo_on_classes.update(a or "?" for a in anchors)
            if category == "not converted, no TODO":
                silent_by_base[cls.via or "?"] += 1
            classes.append({"path": cls.path, "class": cls.qualname, "line": cls.line, "base": cls.via,
                            "nested": "." in cls.qualname, "category": category, "todos": anchors,
                            "still_legacy_base": still})

    calls: List[Dict[str, Any]] = []
    call_counts = {key: Counter() for key in ("original", "remaining", "remaining_without_todo", "in_errored_or_unwalked_files")}
    for info in original.files.values():
        call_counts["original"].update(c.name for c in info.calls)
    if out_repo:
        for info in out_repo.files.values():
            todos = todo_lines(info.lines)
            skipped = entries.get(info.path, {}).get("status") == "error" or (walked is not None and info.path not in walked)
            for call in info.calls:
                marked = bool(markers_in(todos, marker_window(info.lines, call.line, call.end)))
                if skipped:
                    call_counts["in_errored_or_unwalked_files"][call.name] += 1
                else:
                    call_counts["remaining"][call.name] += 1
                    if not marked:
                        call_counts["remaining_without_todo"][call.name] += 1
                calls.append({"path": call.path, "call": call.name, "line": call.line, "todo": marked,
                              "file_errored_or_unwalked": skipped})

    todo_kinds = Counter(t.get("anchor") or "?" for e in entries.values() for t in e.get("todos", []))
    messages = Counter((t.get("anchor"), t.get("message") or "") for e in entries.values() for t in e.get("todos", []))
    imports_without = Counter(name for (_, message), n in messages.items() for name in [imported_name(message)] * n if name)
    policy, items = policy_figures(original, out_repo, entries, walked)
    parsed = sum(1 for f in original.files.values() if f.parsed)
    errored = sum(1 for e in entries.values() if e.get("status") == "error")
    unparsable = [f for f in original.files.values() if not f.parsed]
    figures = {
        "repo": name,
        "files": len(original.files),
        "files_parse": parsed,
        "files_unparsable": len(unparsable),
        "files_codemod_errors": errored,
        "files_codemod_errors_of_parsable": sum(
            1 for rel, e in entries.items() if e.get("status") == "error" and rel in original.files and original.files[rel].parsed
        ),
        "files_changed": summary.get("changed"),
        "legacy_classes": sum(categories.values()),
        "legacy_classes_nested": sum(1 for c in classes if c["nested"]),
        "legacy_classes_in_unparsable_files": sum(f.unparsable_legacy_estimate for f in unparsable),
        "categories": {c: categories.get(c, 0) for c in CATEGORIES},
        "silent_by_base": dict(silent_by_base.most_common()),
        "todos": sum(todo_kinds.values()),
        "todo_kinds": dict(todo_kinds.most_common()),
        "todo_kinds_on_classes": dict(todo_on_classes.most_common()),
        "legacy_calls": {k: dict(v.most_common()) for k, v in call_counts.items()},
        **policy,
        "imports_without_equivalent": dict(imports_without.most_common()),
        "git_index": git_index,
        "codemod": run,
        "codemod_seconds": run["seconds"],
        "wall_seconds": round(time.perf_counter() - wall, 2),
    }
    return figures, {"classes": classes, "calls": calls, "items": items,
                     "todo_messages": [[anchor, message, n] for (anchor, message), n in messages.most_common()],
                     "unparsable_files": sorted(f.path for f in unparsable),
                     "error_files": {rel: e.get("error") for rel, e in entries.items() if e.get("status") == "error"}}


# --------------------------------------------------------------------------- totals and output


def add_up(per_repo: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    total: Dict[str, Any] = {"repos": len(per_repo)}
    for key in ("files", "files_parse", "files_unparsable", "files_codemod_errors", "files_codemod_errors_of_parsable",
                "legacy_classes", "legacy_classes_nested", "legacy_classes_in_unparsable_files", "todos"):
        total[key] = sum(r.get(key) or 0 for r in per_repo)
    total["files_changed"] = sum(r.get("files_changed") or 0 for r in per_repo)
    for key in ("categories", "silent_by_base", "todo_kinds", "todo_kinds_on_classes"):
        counter: Counter = Counter()
        for r in per_repo:
            counter.update(r[key])
        total[key] = dict(counter.most_common()) if key != "categories" else {c: counter.get(c, 0) for c in CATEGORIES}
    calls: Dict[str, Counter] = {}
    for r in per_repo:
        for kind, counts in r["legacy_calls"].items():
            calls.setdefault(kind, Counter()).update(counts)
    total["legacy_calls"] = {k: dict(v.most_common()) for k, v in calls.items()}
    for group, kinds in GROUPS.items():
        total[group] = {kind: {o: sum(r[group][kind][o] for r in per_repo) for o in OUTCOMES} for kind in kinds + ("all",)}
    hooks: Dict[str, Counter] = {}
    for r in per_repo:
        for name, outcomes in r["hooks_by_name"].items():
            hooks.setdefault(name, Counter()).update(outcomes)
    total["hooks_by_name"] = {name: {o: c.get(o, 0) for o in OUTCOMES}
                              for name, c in sorted(hooks.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))}
    shapes = {name: Counter() for name in SHAPES}
    for r in per_repo:
        for name, counts in r["policy_shapes"].items():
            shapes[name].update(counts)
    total["policy_shapes"] = {name: dict(c.most_common()) for name, c in shapes.items()}
    flagged: Dict[str, Counter] = {}
    for r in per_repo:
        for kind, counts in r["flagged_items_by_anchor"].items():
            flagged.setdefault(kind, Counter()).update(counts)
    total["flagged_items_by_anchor"] = {kind: dict(c.most_common()) for kind, c in flagged.items()}
    imports: Counter = Counter()
    for r in per_repo:
        imports.update(r["imports_without_equivalent"])
    total["imports_without_equivalent"] = dict(imports.most_common())
    total["codemod_timeouts"] = sum(1 for r in per_repo if r["codemod"]["timed_out"])
    # 0: fine, 1: some file not migrated (listed in the report); anything else: the run failed.
    total["codemod_failures"] = sum(1 for r in per_repo if r["codemod"]["returncode"] not in (0, 1))
    total["codemod_seconds"] = round(sum(r["codemod_seconds"] for r in per_repo), 2)
    total["wall_seconds"] = round(sum(r["wall_seconds"] for r in per_repo), 2)
    return total


def comparisons(per_repo: Sequence[Dict[str, Any]], total: Dict[str, Any]) -> List[Dict[str, Any]]:
    def row(case: str, figures: Dict[str, Any]) -> Dict[str, Any]:
        silent, found = figures["categories"]["not converted, no TODO"], figures["legacy_classes"]
        return {"case": case, "ours": silent, "baseline": found,
                "ratio": round(silent / found, 4) if found else None, "target": None}

    def item_row(case: str, outcomes: Dict[str, int]) -> Dict[str, Any]:
        found = sum(outcomes.values())
        return {"case": case, "ours": outcomes["untouched"], "baseline": found,
                "ratio": round(outcomes["untouched"] / found, 4) if found else None, "target": None}

    return [{
        "title": "Legacy model classes left unconverted without a TODO (silent failures)",
        "ours": "silent failures", "baseline": "legacy classes found", "unit": "classes",
        "ratio": "silent / found",
        "rows": [row(r["repo"], r) for r in per_repo] + [row("all repositories", total)],
        "note": "Counted by ast in the original and migrated trees; see the categories per repository in the JSON.",
    }, {
        "title": "Policy-level items, trainer templates and training-script items left in place without a TODO",
        "ours": "untouched", "baseline": "items found", "unit": "items", "ratio": "untouched / found",
        "rows": [item_row(group, total[group]["all"]) for group in GROUPS]
        + [item_row("all groups", {o: sum(total[g]["all"][o] for g in GROUPS) for o in OUTCOMES})],
        "note": "Items found by ast in the original files, matched in the output by kind and key near where their "
                "lines went (difflib); see policies / trainer_templates / training_scripts in the JSON.",
    }]


def human_table(per_repo: Sequence[Dict[str, Any]], total: Dict[str, Any]) -> str:
    columns = ["files", "parse", "c.err", "classes"] + [SHORT[c] for c in CATEGORIES] + ["todos", "secs"]
    width = max([len("repository"), len("TOTAL")] + [len(r["repo"]) for r in per_repo])

    def cells(name: str, f: Dict[str, Any], seconds: float) -> str:
        values = [f["files"], f["files_parse"], f["files_codemod_errors"], f["legacy_classes"]]
        values += [f["categories"][c] for c in CATEGORIES] + [f["todos"], f"{seconds:.0f}"]
        return name.ljust(width) + "".join(str(v).rjust(max(len(c), 5) + 1) for c, v in zip(columns, values))

    lines = ["repository".ljust(width) + "".join(c.rjust(max(len(c), 5) + 1) for c in columns)]
    lines += [cells(r["repo"], r, r["wall_seconds"]) for r in per_repo]
    lines.append(cells("TOTAL", total, total["wall_seconds"]))
    lines.append("columns: " + ", ".join(f"{SHORT[c]} = {c}" for c in CATEGORIES) + "; c.err = files the codemod reported as errors")
    return "\n".join(lines)


def policy_table(per_repo: Sequence[Dict[str, Any]], total: Dict[str, Any], texts: List[Dict[str, Any]]) -> str:
    """The policy-level figures: per kind, per hook, per repository; the commonest TODO
    texts and imports without an equivalent."""
    short = {"rewritten": "rewr", "flagged": "flag", "untouched": "UNTOUCHED", "file not migrated": "notmig"}
    columns = ["items"] + [short[o] for o in OUTCOMES]

    def row(name: str, outcomes: Dict[str, int], width: int) -> str:
        values = [sum(outcomes.values())] + [outcomes[o] for o in OUTCOMES]
        return name.ljust(width) + "".join(str(v).rjust(max(len(c), 5) + 1) for c, v in zip(columns, values))

    def header(title: str, width: int) -> str:
        return title.ljust(width) + "".join(c.rjust(max(len(c), 5) + 1) for c in columns)

    width = max(len(f"{g}: {k}") for g, kinds in GROUPS.items() for k in kinds + ("all",))
    lines = ["", "Policy-level items (found by ast in the original files, classified in the output):",
             header("kind", width)]
    for group, kinds in GROUPS.items():
        lines += [row(f"{group}: {kind}", total[group][kind], width) for kind in kinds + ("all",)]
    hooks = total["hooks_by_name"]
    if hooks:
        hook_width = max(len("hook method") + 2, max(len(h) + 2 for h in hooks))
        lines += ["", header("hook method", hook_width)]
        lines += [row("  " + name, outcomes, hook_width) for name, outcomes in hooks.items()]
    repo_width = max([len("repository")] + [len(r["repo"]) for r in per_repo])
    cell = max(len(g) for g in GROUPS) + 3
    lines += ["", f"Per repository, items: n (rewr/flag/UNTOUCHED/notmig)",
              "repository".ljust(repo_width) + "".join(g.rjust(cell + 12) for g in GROUPS)]
    for r in per_repo:
        if any(sum(r[g]["all"].values()) for g in GROUPS):
            lines.append(r["repo"].ljust(repo_width) + "".join(
                f"{sum(r[g]['all'].values())} ({'/'.join(str(r[g]['all'][o]) for o in OUTCOMES)})".rjust(cell + 12)
                for g in GROUPS))
    lines.append("columns: rewr = rewritten (gone, no TODO on what replaced it), flag = a TODO(rlmigrate) on or in it, "
                 "UNTOUCHED = still there without a TODO, notmig = its file errored or was not walked")
    todos = total["todos"]
    lines += ["", f"TODO kinds (top {TOP_TODO_TEXTS} of {len(texts)} kinds, {todos} TODOs):"]
    lines += [f"{t['count']:6d}  {t['repos']:3d} repos  [{t['anchor']}] {t['text']}" for t in texts[:TOP_TODO_TEXTS]]
    imports = total["imports_without_equivalent"]
    lines += ["", f"Imports without an equivalent by name ({sum(imports.values())} TODOs, top {TOP_TODO_TEXTS}): "
              + ", ".join(f"{name} {n}" for name, n in list(imports.items())[:TOP_TODO_TEXTS])]
    return "\n".join(lines)


def repositories(directory: Path) -> List[Path]:
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def codemod_revision(codemods_root: Path = ROOT) -> Optional[str]:
    """The commit of the checkout the codemod comes from (``+dirty`` with uncommitted
    changes), or None without git."""
    try:
        sha = subprocess.run(["git", "-C", str(codemods_root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=30, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(codemods_root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=None,
                        help=f"one folder per repository (default: ${ENV_VAR})")
    parser.add_argument("--json", type=Path, help="also write the full result, every class included, here")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="rlmigrate worker processes (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds the codemod may take per repository (default %(default)s)")
    parser.add_argument("--keep", type=Path, help="keep each repository's migrated tree and report under KEEP/<repo>/")
    parser.add_argument("--codemods-root", type=Path, default=ROOT,
                        help="checkout whose codemods package runs (put first on PYTHONPATH; default: this one), "
                             "e.g. a git worktree of an older commit")
    args = parser.parse_args(argv)

    directory = args.dir or (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
    reason = None
    if directory is None:
        reason = f"no corpus directory given (pass DIR or set {ENV_VAR})"
    elif not directory.is_dir():
        reason = f"corpus directory {directory} does not exist"
    elif not repositories(directory):
        reason = f"corpus directory {directory} holds no repositories"
    if reason:
        print(json.dumps({"skipped": reason}))
        return 0
    assert directory is not None
    directory = directory.resolve()
    if args.keep is not None:
        args.keep = args.keep.resolve()
        if args.keep == directory or directory in args.keep.parents:
            parser.error("--keep must be outside DIR")  # never write into the corpus

    codemods_root = args.codemods_root.resolve()
    package = codemods_package(codemods_root)
    print(f"codemods package: {package} (revision {codemod_revision(codemods_root)})", file=sys.stderr, flush=True)
    if package is None or Path(package).resolve().parent.parent != codemods_root:
        parser.error(f"the codemod would not import codemods from {codemods_root} (it imports {package})")

    start = time.perf_counter()
    per_repo, details = [], {}
    repos = repositories(directory)
    for index, source in enumerate(repos, 1):
        print(f"[{index}/{len(repos)}] {source.name} ...", file=sys.stderr, flush=True)
        figures, detail = measure_repo(source, args.jobs, args.timeout, args.keep, codemods_root)
        per_repo.append(figures)
        details[source.name] = detail
        c = figures["categories"]
        if figures["git_index"].startswith(("skipped", "failed")):
            print(f"[{index}/{len(repos)}] note: no git index made for the copy ({figures['git_index']}); files "
                  "that .gitignore ignores count as not walked", file=sys.stderr, flush=True)
        print(f"[{index}/{len(repos)}] {source.name}: {figures['legacy_classes']} legacy classes, "
              f"{c['not converted, no TODO']} silent, {figures['files_codemod_errors']} file errors, "
              f"{figures['codemod_seconds']:.0f} s", file=sys.stderr, flush=True)
    texts_per_repo, texts = todo_texts({
        name: Counter({(anchor, message): n for anchor, message, n in detail["todo_messages"]})
        for name, detail in details.items()
    })
    for figures in per_repo:
        figures["todo_texts"] = dict(list(texts_per_repo[figures["repo"]].items())[:TOP_TODO_TEXTS])
    total = add_up(per_repo)
    total["todo_texts"] = texts[:TOP_TODO_TEXTS]
    total["todo_text_kinds"] = len(texts)
    total["elapsed_seconds"] = round(time.perf_counter() - start, 2)
    result = {
        "corpus": str(directory),
        "codemod_revision": codemod_revision(codemods_root),
        "codemods_package": package,
        "command": " ".join(rlmigrate_command()[-1:] + ["migrate", "<copy>", "--out-dir", "<out>", "--report",
                                                         "<report.json>", "-j", str(args.jobs), "--no-progress"]),
        "categories": list(CATEGORIES),
        "total": total,
        "repos": per_repo,
        "comparisons": comparisons(per_repo, total),
    }
    print(human_table(per_repo, total), file=sys.stderr)
    print(policy_table(per_repo, total, texts), file=sys.stderr)
    print(json.dumps(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**result, "details": details, "todo_texts_all": texts}, indent=2) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
