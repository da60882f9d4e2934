"""``rlmigrate demo``: a legacy RLlib project migrated end to end, in four steps.

The bundled project (``legacy_project/`` beside this file) is what a team's RLlib code
looks like: ``my_project/models.py`` (a TorchModelV2 that caches its features for
``value_function``, and an LSTM ``RecurrentNetwork``), ``my_project/policies.py`` (a
PPO policy overriding ``action_distribution_fn``) and ``my_project/train.py``
(``register_custom_model`` calls and a two-policy multi-agent PPO config).

1. migrate: ``rlmigrate migrate`` on a copy of it: the diff and the report (what was
   converted, the TODOs); then the TODOs done by hand (``completed_project/``),
   shown as a second diff.
2. port: each legacy policy built by RLlib 2.60 from the project's own config and
   loaded with the weights legacy PPO trained (``legacy_weights/``, made by
   the script there); the weights ported into the migrated module of the same id.
3. parity: ``compat.parity.check`` of each legacy policy against its migrated module
   (max errors per quantity), and greedy returns of both on the same seeded
   episodes. The migration before its TODOs were done is checked too: parity
   catches what the TODO was about.
4. train: the migrated config (``my_project.train.config``) trained further with our
   PPO from the ported weights; evaluation before and after, a learning curve, a
   checkpoint saved and reloaded with identical outputs.

``--until STEP`` stops after that step. Everything is written to a fresh directory
(built beside the output directory and moved into place at the end, so a failed run
leaves an earlier output untouched).
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np

from rlmigrate.demo import STEPS

HERE = Path(__file__).resolve().parent  # the demo's inputs are package data beside this file
LEGACY_PROJECT = HERE / "legacy_project"
COMPLETED_PROJECT = HERE / "completed_project"
LEGACY_WEIGHTS = HERE / "legacy_weights"
PACKAGE = "my_project"
MARKER = "demo_report.json"  # an output directory holding it may be replaced by the next run
EARLIER_MARKER = "demo_summary.json"  # what the first rlmigrate demo (the specification's examples) wrote


@dataclass
class DemoSettings:
    """``out``: the output directory; ``iterations``: PPO iterations of step 4 (2,000
    env steps each); ``eval_episodes``: seeded greedy episodes per evaluation;
    ``until``: the last step to run (one of ``STEPS``)."""

    out: Path
    iterations: int = 30
    eval_episodes: int = 10
    seed: int = 0
    until: str = STEPS[-1]


class DemoError(RuntimeError):
    """A demo step could not run (the message says which and why)."""


# --- console ------------------------------------------------------------------------------
def _say(text: str = "") -> None:
    print(text, flush=True)


def _indent(text: str, prefix: str = "    ") -> str:
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(keepends=True))


class _Steps:
    """Numbered steps with timings; each step's facts go into the report."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.report: Dict[str, Any] = {"steps": {}}
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def step(self, key: str, title: str) -> Iterator[Dict[str, Any]]:
        self.done += 1
        _say(f"\n[{self.done}/{self.total}] {title}")
        facts: Dict[str, Any] = {"title": title}
        started = time.perf_counter()
        yield facts
        facts["seconds"] = round(time.perf_counter() - started, 1)
        self.report["steps"][key] = facts
        _say(f"    ({facts['seconds']} s)")


# --- the project's packages ----------------------------------------------------------------
def forget_project() -> None:
    """Drop every imported module of the package ``my_project``."""
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def _import_train(root: Path) -> ModuleType:
    """``my_project.train`` of the project at ``root``. Any other ``my_project`` imported
    before is forgotten first (the legacy, migrated and completed projects share the
    name); the one imported stays importable by name, which is what reloading a
    checkpoint of its module classes needs."""
    forget_project()
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module(f"{PACKAGE}.train")
    finally:
        sys.path.remove(str(root))


# --- step 1: migrate ----------------------------------------------------------------------
def _run_rlmigrate(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``rlmigrate`` (this interpreter's) in ``cwd``, exactly as a user types it."""
    cmd = [sys.executable, "-m", "rlmigrate", *args]
    _say(f"    $ rlmigrate {' '.join(args)}")
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": _pythonpath()})
    if done.returncode != 0:
        raise DemoError(f"rlmigrate {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def _pythonpath() -> str:
    """PYTHONPATH with the directory holding the ``rlmigrate`` package first (a source
    checkout that is not installed runs too)."""
    root = str(HERE.parents[1])
    return os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])


def _tree_diff(old_root: Path, new_root: Path, label_old: str, label_new: str) -> str:
    """A unified diff of every file that differs between two trees."""
    chunks = []
    for new in sorted(p for p in new_root.rglob("*") if p.is_file()):
        rel = new.relative_to(new_root)
        old = old_root / rel
        old_lines = old.read_text().splitlines(keepends=True) if old.exists() else []
        chunks += difflib.unified_diff(old_lines, new.read_text().splitlines(keepends=True), f"{label_old}/{rel}", f"{label_new}/{rel}")
    return "".join(chunks)


def migrate_step(work: Path, facts: Dict[str, Any]) -> None:
    """Copy the legacy project, migrate it, then apply the hand-made TODO completions."""
    # the sources only: an installed package holds byte-compiled __pycache__ beside them
    shutil.copytree(LEGACY_PROJECT, work / "legacy_project", ignore=shutil.ignore_patterns("__pycache__"))
    done = _run_rlmigrate(
        work, "migrate", "legacy_project", "--out-dir", "migrated_project", "--diff", "--no-progress",
        "--report", "migration_report.json", "--report", "migration_report.md",
    )
    (work / "migration.diff").write_text(done.stdout)
    _say(_indent(done.stdout))
    _say(_indent(done.stderr.rstrip()))
    report = json.loads((work / "migration_report.json").read_text())
    todos = [
        {"file": f["path"], "line": t["line"], "todo": t["message"], "see": f"MIGRATION.md#{t['anchor']}"}
        for f in report["files"] for t in f.get("todos", [])
    ]
    facts["migration"] = {k: report["summary"][k] for k in ("files", "changed", "unchanged", "errors", "todos")}
    facts["todos"] = todos

    completed = work / "completed_project"
    shutil.copytree(work / "migrated_project", completed)
    for source in sorted(p for p in COMPLETED_PROJECT.rglob("*.py")):
        shutil.copy2(source, completed / source.relative_to(COMPLETED_PROJECT))
    completion = _tree_diff(work / "migrated_project", completed, "migrated_project", "completed_project")
    (work / "todo_completion.diff").write_text(completion)
    left = [str(p.relative_to(completed)) for p in completed.rglob("*.py") if "TODO(rlmigrate)" in p.read_text()]
    ray_imports = [str(p.relative_to(completed)) for p in completed.rglob("*.py") if _imports_ray(p)]
    if left or ray_imports:
        raise DemoError(f"the completed project still has TODOs in {left} or ray imports in {ray_imports}")
    _say(f"\n    The {len(todos)} TODOs, done by hand (rlmigrate/demo/completed_project):")
    _say(_indent(completion))
    facts["completed_by_hand"] = sorted(str(p.relative_to(COMPLETED_PROJECT)) for p in COMPLETED_PROJECT.rglob("*.py"))
    facts["todos_left"] = 0


def _imports_ray(path: Path) -> bool:
    """Whether the Python file at ``path`` imports ``ray`` or anything under it."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        if any(name.split(".")[0] == "ray" for name in names):
            return True
    return False


# --- step 2: legacy policies and ported weights ---------------------------------------------
def _legacy_policies(project: Path, seed: int) -> Dict[str, Any]:
    """The project's policies as RLlib 2.60 builds them from its config (legacy API
    stack), ``{policy_id: policy}``, with freshly initialised weights."""
    import torch
    from ray.rllib.algorithms.ppo.ppo_torch_policy import PPOTorchPolicy
    from ray.rllib.models import ModelCatalog

    for name in ("ray.rllib", "ray._common.deprecation"):  # legacy classes warn that they are deprecated
        logging.getLogger(name).setLevel(logging.ERROR)

    config = _import_train(project).config.copy(copy_frozen=False).api_stack(
        enable_rl_module_and_learner=False, enable_env_runner_and_connector_v2=False
    )
    env = config.env(config.env_config)
    policies = {}
    for policy_id, spec in sorted(config.policies.items()):
        agent = next(a for a in env.possible_agents if config.policy_mapping_fn(a, None, None) == policy_id)
        merged = config.copy(copy_frozen=False).update_from_dict(spec.config or {})  # as RolloutWorker merges
        obs_space = env.get_observation_space(agent)
        obs_space = ModelCatalog.get_preprocessor_for_space(obs_space, merged.model).observation_space
        torch.manual_seed(seed)
        policies[policy_id] = (spec.policy_class or PPOTorchPolicy)(obs_space, env.get_action_space(agent), merged.to_dict())
    return policies


def _migrated_modules(project: Path) -> Tuple[Any, Dict[str, Any]]:
    """The project's migrated config (``my_project.train.config``) and ``{module id:
    module}`` built from it as our PPO builds them (spaces from its env)."""
    config = _import_train(project).config
    env = config.make_env()
    try:
        spec = config.get_rl_module_spec(env)
    finally:
        getattr(env, "close", lambda: None)()
    return config, {module_id: s.build() for module_id, s in spec.module_specs.items()}


def port_step(work: Path, facts: Dict[str, Any], seed: int) -> Dict[str, Any]:
    """Legacy policies with the legacy-trained weights; migrated modules holding them."""
    from safetensors.torch import load_file

    from compat.port_weights import port_weights

    legacy = _legacy_policies(work / "legacy_project", seed)
    weights = {}
    for policy_id, policy in legacy.items():
        path = LEGACY_WEIGHTS / f"{policy_id}.safetensors"
        if not path.exists():
            raise DemoError(f"{path}: no legacy weights for policy {policy_id!r} (run {LEGACY_WEIGHTS / 'train_legacy_weights.py'})")
        weights[policy_id] = load_file(str(path))
        policy.model.load_state_dict(weights[policy_id], strict=True)
        _say(f"    legacy {type(policy).__name__} {policy_id!r} (model {type(policy.model).__name__}, RLlib 2.60): loaded {path.name}")
    log = json.loads((LEGACY_WEIGHTS / "training_log.json").read_text())  # the learning curve starts with it
    facts["legacy_training"] = {"iterations": log["iterations"], "env_steps": log["log"][-1]["env_steps"], "returns": log["log"][-1]["policy_reward_mean"]}
    _say(f"    (trained by legacy PPO for {log['iterations']} iterations, {log['log'][-1]['env_steps']} env steps; mean returns {log['log'][-1]['policy_reward_mean']})")

    migrated, configs = {}, {}
    for key, project in (("as_migrated", "migrated_project"), ("completed", "completed_project")):
        configs[key], migrated[key] = _migrated_modules(work / project)  # the completed project's stays imported
        for policy_id, module in migrated[key].items():
            report = port_weights(weights[policy_id], module)
            if key == "completed":
                facts.setdefault("ported", {})[policy_id] = {
                    "module": type(module).__name__, "tensors": len(report.entries),
                    "paired_by": sorted({e.how for e in report.entries}),
                }
                _say(f"    -> {type(module).__name__} {policy_id!r}: {len(report.entries)} tensors ported")
                _say(_indent(str(report), "       "))
    return {"legacy": legacy, "migrated": migrated, "config": configs["completed"], "legacy_log": log}


# --- step 3: parity -----------------------------------------------------------------------
def _greedy_returns(policy: Any, episodes: int, seed: int) -> List[float]:
    """Returns of ``episodes`` CartPole-v1 episodes (seeds ``seed``, ``seed + 1``, ...)
    acting with ``policy.compute_single_action(explore=False)``, state carried."""
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        state, total, done = policy.get_initial_state(), 0.0, False
        while not done:
            action, state, _ = policy.compute_single_action(obs, state or None, explore=False)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    env.close()
    return returns


def parity_step(work: Path, facts: Dict[str, Any], made: Dict[str, Any], settings: DemoSettings) -> None:
    from compat import RLModulePolicy
    from compat.parity import check

    reports = {}
    for policy_id, policy in made["legacy"].items():
        steps = 10 if policy.is_recurrent() else 1
        report = check(policy, RLModulePolicy(made["migrated"]["completed"][policy_id]), steps=steps, seed=settings.seed)
        reports[policy_id] = report
        _say(f"    {policy_id}:")
        _say(_indent(report.summary(), "      "))
        before = check(policy, made["migrated"]["as_migrated"][policy_id], steps=steps, seed=settings.seed)
        facts.setdefault("policies", {})[policy_id] = {
            "ok": report.ok,
            "max_abs": {n: q.max_abs for n, q in report.quantities.items() if not q.skipped},
            "before_todos_done": {"ok": before.ok, "failed": before.failed},
        }
        if before.ok:
            _say("      before the TODOs were done: also agrees (nothing policy-specific here)")
        else:
            _say(f"      before the TODOs were done: FAILED on {', '.join(before.failed)} (what the TODO was about)")
    (work / "parity_report.json").write_text(json.dumps({p: r.to_dict() for p, r in reports.items()}, indent=2))
    (work / "parity_report.md").write_text(_parity_markdown(reports))
    if not all(reports.values()):
        raise DemoError(f"parity failed for {[p for p, r in reports.items() if not r]}; see {work / 'parity_report.md'}")

    _say(f"\n    greedy returns on the same {settings.eval_episodes} seeded CartPole episodes:")
    for policy_id, policy in made["legacy"].items():
        legacy = _greedy_returns(policy, settings.eval_episodes, settings.seed)
        ours = _greedy_returns(RLModulePolicy(made["migrated"]["completed"][policy_id]), settings.eval_episodes, settings.seed)
        facts["policies"][policy_id]["greedy_returns"] = {"legacy": legacy, "migrated": ours}
        same = "identical" if legacy == ours else "DIFFERENT"
        _say(f"      {policy_id}: legacy mean {np.mean(legacy):.1f}, migrated mean {np.mean(ours):.1f} ({same} episode by episode)")
        if legacy != ours:
            raise DemoError(f"{policy_id}: greedy returns differ: legacy {legacy} vs migrated {ours}")


def _parity_markdown(reports: Dict[str, Any]) -> str:
    lines = ["# Parity: legacy RLlib 2.60 policies vs migrated modules", ""]
    for policy_id, report in reports.items():
        lines += [f"## `{policy_id}`", "", "```text", report.summary(), "```", ""]
    return "\n".join(lines)


# --- step 4: train further ------------------------------------------------------------------
def train_step(work: Path, facts: Dict[str, Any], made: Dict[str, Any], settings: DemoSettings) -> List[Dict[str, Any]]:
    """Our PPO from the ported weights; returns the learning curve (per iteration: env
    steps and mean return per module)."""
    from compat.port_weights import port_weights
    from rlmodule.algorithms.algorithm import Algorithm

    config = made["config"].copy().debugging(seed=settings.seed, log_dir=str(work / "train_logs"))
    config = config.evaluation(evaluation_duration=settings.eval_episodes)
    algo = config.build()
    for policy_id, module in made["migrated"]["completed"].items():
        port_weights(module, algo.get_module(policy_id))
    curve: List[Dict[str, Any]] = []
    before = _module_returns(algo.evaluate())
    _say(f"    evaluation before training (ported legacy weights, greedy): {_fmt(before)}")
    for _ in range(settings.iterations):
        result = algo.train()
        returns = result["env_runners"].get("module_episode_returns_mean", {})
        curve.append({"env_steps": result["num_env_steps_sampled"], "returns": {k: float(v) for k, v in returns.items()}})
        _say(f"    iteration {result['training_iteration']:>2}  env steps {result['num_env_steps_sampled']:>6}  mean returns {_fmt(returns)}")
    after = _module_returns(algo.evaluate())
    _say(f"    evaluation after training (greedy): {_fmt(after)}")

    path = algo.save(str(work / "checkpoint"))
    reloaded = Algorithm.from_checkpoint(path, trusted_modules=["my_project"])  # its policy_mapping_fn
    same = _same_outputs(algo, reloaded, settings.seed)
    algo.stop()
    reloaded.stop()
    if not same:
        raise DemoError(f"the reloaded checkpoint {path} computes different outputs")
    _say(f"    checkpoint saved to {Path(path).name}/ and reloaded: identical outputs for every module")
    facts.update({"evaluation_before": before, "evaluation_after": after, "curve": curve, "checkpoint": "checkpoint", "reloaded_identical": same})
    return curve


def _module_returns(result: Dict[str, Any]) -> Dict[str, float]:
    runners = result["env_runners"]
    return {k: round(float(v), 1) for k, v in runners.get("module_episode_returns_mean", {}).items()}


def _fmt(returns: Dict[str, Any]) -> str:
    return ", ".join(f"{k} {float(v):.1f}" for k, v in sorted(returns.items()))


def _same_outputs(a: Any, b: Any, seed: int) -> bool:
    """Every module of ``a`` and ``b`` gives the same ``forward_inference`` outputs."""
    from compat import RLModulePolicy

    rng = np.random.default_rng(seed)
    for module_id, module in a.modules().items():
        obs = rng.uniform(-1, 1, (16, *module.config.observation_space.shape)).astype(np.float32)
        x = RLModulePolicy(module).compute_actions(obs, explore=False)[2]["action_dist_inputs"]
        y = RLModulePolicy(b.get_module(module_id)).compute_actions(obs, explore=False)[2]["action_dist_inputs"]
        if not np.array_equal(x, y):
            return False
    return True


def _learning_curve(path: Path, legacy_log: Dict[str, Any], curve: List[Dict[str, Any]]) -> bool:
    """The PNG: legacy training then ours, mean return per policy against env steps."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    offset = legacy_log["log"][-1]["env_steps"]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for i, policy_id in enumerate(sorted(curve[-1]["returns"]) if curve else []):
        color = f"C{i}"
        lx = [e["env_steps"] for e in legacy_log["log"]]
        ly = [e["policy_reward_mean"][policy_id] for e in legacy_log["log"]]
        ax.plot(lx, ly, "--", color=color, label=f"{policy_id}: legacy RLlib 2.60")
        ox = [offset + e["env_steps"] for e in curve if policy_id in e["returns"]]
        oy = [e["returns"][policy_id] for e in curve if policy_id in e["returns"]]
        ax.plot([lx[-1], *ox], [ly[-1], *oy], "-", color=color, label=f"{policy_id}: migrated, our PPO")
    ax.axvline(offset, color="grey", lw=0.8)
    ax.text(offset, ax.get_ylim()[1], " migrated here", va="top", fontsize=8, color="grey")
    ax.set_xlabel("env steps")
    ax.set_ylabel("mean episode return")
    ax.set_title("demo_project on MultiAgentCartPole: legacy training, then the migrated modules")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# --- reports and the output directory -------------------------------------------------------
def _markdown(report: Dict[str, Any]) -> str:
    """``demo_report.md``: a section for each step that ran, then the files."""
    steps = report["steps"]
    stopped = "" if len(steps) == len(STEPS) else f" Stopped after step {len(steps)} (`--until {list(steps)[-1]}`)."
    lines = ["# rlmigrate demo", "", f"Finished in {report['seconds']} s.{stopped} Files: see the list at the end.", ""]
    for key, facts in steps.items():
        lines += _SECTIONS[key](facts)
    lines += ["## Files", "", *[f"- `{f}`" for f in report["files"]], ""]
    return "\n".join(lines)


def _migrate_section(m: Dict[str, Any]) -> List[str]:
    return [
        "## 1. Migrate", "",
        f"`rlmigrate migrate`: {m['migration']['files']} files, {m['migration']['changed']} changed, "
        f"{m['migration']['errors']} errors, {m['migration']['todos']} TODOs (`migration.diff`, `migration_report.md`). "
        "The TODOs, done by hand: `todo_completion.diff`.", "",
        "| file | line | TODO |", "|---|---|---|",
        *[f"| `{t['file']}` | {t['line']} | {t['todo']} |" for t in m["todos"]], "",
    ]


def _port_section(port: Dict[str, Any]) -> List[str]:
    return [
        "## 2. Port the legacy-trained weights", "",
        "| policy | migrated module | tensors | paired by |", "|---|---|---|---|",
        *[f"| `{p}` | `{d['module']}` | {d['tensors']} | {', '.join(d['paired_by'])} |" for p, d in port["ported"].items()], "",
    ]


def _parity_section(parity: Dict[str, Any]) -> List[str]:
    lines = ["## 3. Parity (max absolute error per quantity)", ""]
    for policy_id, d in parity["policies"].items():
        g = d["greedy_returns"]
        lines += [
            f"`{policy_id}`: {'agrees' if d['ok'] else 'FAILED'}; greedy returns, mean over the same seeded episodes: "
            f"legacy {np.mean(g['legacy']):.1f}, migrated {np.mean(g['migrated']):.1f}. Before the TODOs were done: "
            + ("agreed." if d["before_todos_done"]["ok"] else f"failed on {', '.join(d['before_todos_done']['failed'])}."),
            "", "| quantity | max abs error |", "|---|---|",
            *[f"| {q} | {v:.3g} |" for q, v in d["max_abs"].items()], "",
        ]
    return lines + [
        "(`sampled_actions`: the largest difference between the two sides' action frequencies "
        "over 1,000 draws per observation, within the two-sample test's bound; see `parity_report.md`.)", "",
    ]


def _train_section(t: Dict[str, Any]) -> List[str]:
    return [
        "## 4. Train further with our PPO", "",
        "| policy | mean return while training, first -> last iteration | greedy evaluation, before -> after |",
        "|---|---|---|",
        *[
            f"| `{p}` | {_first_last(t['curve'], p)} | "
            f"{t['evaluation_before'].get(p, float('nan')):.1f} -> {t['evaluation_after'].get(p, float('nan')):.1f} |"
            for p in sorted(t["evaluation_after"])
        ], "",
        f"Learning curve: `learning_curve.png`. Checkpoint: `{t['checkpoint']}/` (reloaded: identical outputs). "
        f"Loading it needs the migrated package importable and trusted: `sys.path.insert(0, \"completed_project\")`, "
        f"`Algorithm.from_checkpoint(path, trusted_modules=[\"my_project\"])`.", "",
    ]


_SECTIONS = {"migrate": _migrate_section, "port": _port_section, "parity": _parity_section, "train": _train_section}


def _first_last(curve: List[Dict[str, Any]], policy_id: str) -> str:
    """``first -> last`` mean training return of ``policy_id`` (iterations that had one)."""
    returns = [point["returns"][policy_id] for point in curve if policy_id in point["returns"]]
    return f"{returns[0]:.1f} -> {returns[-1]:.1f}" if returns else "n/a"


def _prepare(out: Path) -> Path:
    """A fresh work directory beside ``out``; refuses to later replace an ``out`` that
    is not an earlier demo output."""
    ours = (out / MARKER).exists() or (out / EARLIER_MARKER).exists()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not ours)):
        raise DemoError(f"{out} exists and is not an earlier demo output (no {MARKER}); choose another --out")
    work = out.parent / f".{out.name}.partial"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    return work


def _publish(work: Path, out: Path) -> None:
    """Move the finished work directory into place (replacing an earlier demo output)."""
    old = out.parent / f".{out.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        out.rename(old)
    work.rename(out)
    if old.exists():
        shutil.rmtree(old)


def run_demo(settings: DemoSettings) -> int:
    """Run the steps up to ``settings.until``; 0 when every check passed (a failed check
    raises DemoError)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for path in (LEGACY_PROJECT, COMPLETED_PROJECT, LEGACY_WEIGHTS):
        if not path.exists():
            raise DemoError(f"{path} is missing: this installation of rlmodule-migrate lacks the demo's data")
    wanted = STEPS[: STEPS.index(settings.until) + 1]
    if "port" in wanted:
        try:
            importlib.import_module("ray")  # the legacy side of steps 2 and 3
        except ImportError:
            raise DemoError('the demo builds legacy policies with RLlib 2.60: pip install "rlmodule-migrate[legacy]"') from None
        import torch

        # Networks this small gain nothing from intra-op threads, and on a busy machine
        # those threads spin-wait (an LSTM backward ran 100x slower with 2 threads here).
        torch.set_num_threads(1)
    out = settings.out.absolute()
    work = _prepare(out)
    steps = _Steps(len(STEPS))
    try:
        with steps.step("migrate", "rlmigrate migrate on the bundled legacy project (rlmigrate/demo/legacy_project)") as facts:
            migrate_step(work, facts)
        if "port" in wanted:
            with steps.step("port", "legacy policies built by RLlib 2.60 with legacy-trained weights; weights ported") as facts:
                made = port_step(work, facts, settings.seed)
        if "parity" in wanted:
            with steps.step("parity", "parity: legacy policies vs migrated modules") as facts:
                parity_step(work, facts, made, settings)
        if "train" in wanted:
            with steps.step("train", f"train the migrated config further with our PPO ({settings.iterations} iterations)") as facts:
                curve = train_step(work, facts, made, settings)
            steps.report["learning_curve"] = _learning_curve(work / "learning_curve.png", made["legacy_log"], curve)
    except Exception:
        _say(f"\nThe demo failed; what it wrote so far is in {work}")
        raise
    steps.report["seconds"] = round(time.perf_counter() - steps.start, 1)
    steps.report["files"] = sorted(
        p.name + ("/" if p.is_dir() else "") for p in work.iterdir() if p.name != MARKER
    ) + [MARKER, "demo_report.md"]
    (work / "demo_report.md").write_text(_markdown(steps.report))
    (work / MARKER).write_text(json.dumps(steps.report, indent=2, default=float) + "\n")
    _publish(work, out)
    passed = "All four steps" if len(wanted) == len(STEPS) else f"Steps up to {settings.until} ({len(wanted)} of {len(STEPS)})"
    _say(f"\n{passed} passed in {steps.report['seconds']} s. Output directory: {out}")
    for name in steps.report["files"]:
        _say(f"    {name}")
    return 0


def main_from_args(out: str, iterations: int, eval_episodes: int, seed: int, until: str) -> int:
    """``rlmigrate demo``'s entry point: 0 on success, 1 with the reason on failure."""
    try:
        return run_demo(DemoSettings(Path(out), iterations, eval_episodes, seed, until))
    except DemoError as e:
        print(f"rlmigrate demo: error: {e}", file=sys.stderr)
        return 1

