"""benchmarks/real_corpus.py on a tiny corpus made of the codemod fixtures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "real_corpus.py"
LEGACY = ROOT / "fixtures" / "legacy"

sys.path.insert(0, str(ROOT / "benchmarks"))
import real_corpus  # noqa: E402


def run(*args: str, env_dir: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != real_corpus.ENV_VAR}
    if env_dir is not None:
        env[real_corpus.ENV_VAR] = env_dir
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT / "benchmarks")


TRAIN_SCRIPT = """\
from ray.rllib.agents import ppo

config = ppo.DEFAULT_CONFIG.copy()
config["num_workers"] = 0
trainer = ppo.PPOTrainer(config=config, env="CartPole-v1")
for _ in range(3):
    result = trainer.train()
    print(result["episode_reward_mean"], result.get("timesteps_total"))
"""


def build_corpus(root: Path) -> Path:
    """Three fake repositories:

    repo_a: models/lstm_model.py (1 class), models/diag_gaussian.py (1), models/flagged.py
    (3 TF classes), models/q_model.py (1, a DQNTorchModel subclass: left with a TODO on
    the class);
    repo_b: pkg/constructors.py (3, one a subclass of another), pkg/indirect_subclass.py
    (1, through a relative import of constructors), pkg/class_finding.py (2: an aliased
    base and a class inside a function; a plain nn.Module that is not legacy),
    pkg/unparsable.py and pkg/py2.py (do not parse; py2.py has one legacy class),
    pkg/plain.py (a class with a same-named base that is not RLlib's);
    repo_c: experiments/model.py (1 class, in a directory its .gitignore ignores, tracked
    at the commit the snapshot is of) and .deprecated_scripts/model.py (1, in a hidden
    directory of user code);
    repo_d: policy-level code: policies/sharpened_policy.py (a PPOTorchPolicy subclass
    with two hooks, and its model: 1 class), policies/trainer_templates.py (two policy and
    three trainer templates) and train.py (a trainer construction, DEFAULT_CONFIG, a
    result lookup).
    """
    corpus = root / "corpus"
    c = corpus / "repo_c"
    (c / "experiments").mkdir(parents=True)
    (c / ".deprecated_scripts").mkdir()
    (c / ".gitignore").write_text("experiments/\n")
    shutil.copy(LEGACY / "models" / "value_caching.py", c / "experiments" / "model.py")
    shutil.copy(LEGACY / "models" / "masked_actions.py", c / ".deprecated_scripts" / "model.py")
    d = corpus / "repo_d" / "policies"
    d.mkdir(parents=True)
    for name in ("sharpened_policy.py", "trainer_templates.py"):
        shutil.copy(LEGACY / "policies" / name, d / name)
    (d.parent / "train.py").write_text(TRAIN_SCRIPT)
    a, b = corpus / "repo_a" / "models", corpus / "repo_b" / "pkg"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    for name in ("lstm_model.py", "diag_gaussian.py"):
        shutil.copy(LEGACY / "models" / name, a / name)
    shutil.copy(LEGACY / "tf_models" / "flagged.py", a / "flagged.py")
    (a / "q_model.py").write_text(
        "from ray.rllib.algorithms.dqn.dqn_torch_model import DQNTorchModel\n\n\n"
        "class DuelingQ(DQNTorchModel):\n    pass\n"
    )
    for name in ("constructors.py", "indirect_subclass.py", "class_finding.py"):
        shutil.copy(LEGACY / "patterns" / name, b / name)
    shutil.copy(LEGACY / "untouched" / "unparsable.py", b / "unparsable.py")
    (b / "py2.py").write_text(
        "from ray.rllib.models.tf.tf_modelv2 import TFModelV2\n\n"
        "class Old(TFModelV2):\n    def f(self):\n        print 'python 2'\n"
    )
    (b / "plain.py").write_text(
        "from mylib.nets import FullyConnectedNetwork\n\n\nclass Mine(FullyConnectedNetwork):\n    pass\n"
    )
    return corpus


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real_corpus")
    corpus = build_corpus(tmp)
    before = sorted((p.relative_to(corpus).as_posix(), p.read_bytes()) for p in corpus.rglob("*") if p.is_file())
    done = run(str(corpus), "--json", str(tmp / "full.json"), "--jobs", "1")
    assert done.returncode == 0, done.stderr
    after = sorted((p.relative_to(corpus).as_posix(), p.read_bytes()) for p in corpus.rglob("*") if p.is_file())
    assert after == before  # nothing written into the corpus
    printed = json.loads(done.stdout)
    full = json.loads((tmp / "full.json").read_text())
    return printed, full, done.stderr


def test_counts_per_repository(result):
    printed, _, _ = result
    repos = {r["repo"]: r for r in printed["repos"]}
    assert set(repos) == {"repo_a", "repo_b", "repo_c", "repo_d"}
    a, b = repos["repo_a"], repos["repo_b"]
    assert (a["files"], a["files_parse"], a["files_unparsable"]) == (4, 4, 0)
    assert (b["files"], b["files_parse"], b["files_unparsable"]) == (6, 4, 2)
    assert a["legacy_classes"] == 6
    assert b["legacy_classes"] == 6
    assert b["legacy_classes_nested"] == 1
    assert b["legacy_classes_in_unparsable_files"] == 1
    # The original that does not parse is a codemod error too, but not one of a parsable file.
    assert b["files_codemod_errors_of_parsable"] == 0
    for repo in (a, b):
        assert sum(repo["categories"].values()) == repo["legacy_classes"]  # every class classified once
        assert set(repo["categories"]) == set(real_corpus.CATEGORIES)


def test_totals_add_up(result):
    printed, _, stderr = result
    total = printed["total"]
    assert total["repos"] == 4
    assert total["legacy_classes"] == 15
    assert total["files"] == 15
    assert sum(total["categories"].values()) == 15
    assert total["todos"] == sum(total["todo_kinds"].values())
    rows = {row["case"]: row for row in printed["comparisons"][0]["rows"]}
    assert rows["all repositories"]["baseline"] == 15
    assert rows["all repositories"]["ours"] == total["categories"]["not converted, no TODO"]
    assert "TOTAL" in stderr and "repo_a" in stderr


def test_each_class_found_and_classified(result):
    _, full, _ = result
    classes = {(repo, c["path"], c["class"]): c for repo, d in full["details"].items() for c in d["classes"]}
    assert set(classes) == {
        ("repo_a", "models/lstm_model.py", "LSTMModel"),
        ("repo_a", "models/diag_gaussian.py", "GaussianModel"),
        ("repo_a", "models/flagged.py", "FastModel"),
        ("repo_a", "models/flagged.py", "BatchNormModel"),
        ("repo_a", "models/flagged.py", "TfRNNModel"),
        ("repo_a", "models/q_model.py", "DuelingQ"),
        ("repo_b", "pkg/constructors.py", "KwargsModel"),
        ("repo_b", "pkg/constructors.py", "ConfiguredByModelConfig"),
        ("repo_b", "pkg/constructors.py", "PassThrough"),
        ("repo_b", "pkg/indirect_subclass.py", "Wider"),
        ("repo_b", "pkg/class_finding.py", "AliasedBase"),
        ("repo_b", "pkg/class_finding.py", "make_model_class.<locals>.Inner"),
        ("repo_c", "experiments/model.py", "ValueCachingModel"),
        ("repo_c", ".deprecated_scripts/model.py", "MaskedActionsModel"),
        ("repo_d", "policies/sharpened_policy.py", "SharpModel"),
    }
    assert classes[("repo_b", "pkg/indirect_subclass.py", "Wider")]["base"] == "TorchModelV2"
    assert classes[("repo_b", "pkg/class_finding.py", "AliasedBase")]["base"] == "TorchModelV2"
    # A model of an algorithm this project lacks is left for a human, with a marker on the class.
    assert classes[("repo_a", "models/q_model.py", "DuelingQ")]["category"] == "not converted, TODO on class"
    assert classes[("repo_a", "models/flagged.py", "TfRNNModel")]["category"].startswith("converted")
    assert classes[("repo_a", "models/lstm_model.py", "LSTMModel")]["category"].startswith("converted")
    for c in classes.values():
        assert c["category"] in real_corpus.CATEGORIES


def test_policy_level_items_over_the_corpus(result):
    """repo_d's items, found in the originals and each classified once; the codemod leaves a
    TODO on every template and hook it knows, and the training script's items untouched."""
    printed, full, stderr = result
    repos = {r["repo"]: r for r in printed["repos"]}
    d = repos["repo_d"]
    found = {(group, kind): sum(outcomes.values()) for group in real_corpus.GROUPS
             for kind, outcomes in d[group].items() if kind != "all"}
    assert {k: n for k, n in found.items() if n} == {
        ("policies", "policy class"): 1,
        ("policies", "hook method"): 2,  # make_model_and_action_dist, action_distribution_fn
        ("policies", "Policy.with_updates call"): 1,
        ("trainer_templates", "Trainer.with_updates call"): 3,  # PPOTrainer, GenericOffPolicyTrainer, trainer
        ("trainer_templates", "build_trainer call"): 1,
        ("training_scripts", "trainer construction"): 1,
        ("training_scripts", "DEFAULT_CONFIG use"): 1,
        ("training_scripts", "result-key lookup"): 2,
    }
    items = {(i["kind"], i["key"]): i for i in full["details"]["repo_d"]["items"]}
    for kind, key in (("hook method", "action_distribution_fn"), ("build_trainer call", "build_trainer"),
                      ("Trainer.with_updates call", "PPOTrainer.with_updates"), ("policy class", "SharpPolicy")):
        assert items[(kind, key)]["outcome"] in ("flagged", "rewritten"), items[(kind, key)]
    for group in real_corpus.GROUPS:
        all_ = d[group]["all"]
        assert sum(all_.values()) == sum(sum(o.values()) for k, o in d[group].items() if k != "all")
        assert printed["total"][group]["all"] == {
            o: sum(r[group]["all"][o] for r in printed["repos"]) for o in real_corpus.OUTCOMES}
    assert [t["count"] for t in printed["total"]["todo_texts"]] == sorted(
        (t["count"] for t in printed["total"]["todo_texts"]), reverse=True)
    assert sum(printed["total"]["imports_without_equivalent"].values()) <= printed["total"]["todos"]
    assert printed["codemods_package"] == str(real_corpus.ROOT / "codemods" / "__init__.py")
    assert "Policy-level items" in stderr and "TODO kinds" in stderr
    rows = {row["case"]: row for row in printed["comparisons"][1]["rows"]}
    assert rows["all groups"]["baseline"] == sum(found.values())


LEGACY_POLICY_FILE = """\
from ray.rllib.agents.ppo import PPOTrainer, DEFAULT_CONFIG
from ray.rllib.agents.ppo.ppo_torch_policy import PPOTorchPolicy
from ray.rllib.policy.policy_template import build_policy_class
from ray.rllib.policy.torch_policy_v2 import TorchPolicyV2 as Base


class Mine(Base):
    def loss(self, model, dist_class, train_batch):
        return 0.0

    def postprocess_trajectory(self, batch, other=None, episode=None):
        return batch

    def stats_fn(self, batch):
        return {}

    def helper(self):
        return 1


class Deeper(Mine):
    def extra_grad_process(self, optimizer, loss):
        return {}


Templated = build_policy_class(name="Templated", framework="torch", loss_fn=None)
Clipped = PPOTorchPolicy.with_updates(name="Clipped")


class FromTemplate(Clipped):
    pass


def train():
    config = DEFAULT_CONFIG.copy()
    trainer = PPOTrainer(config=config)
    result = trainer.train()
    return result["episode_reward_mean"], result["info"]["learner"], result["num_workers"]
"""


def test_policy_items_of_a_legacy_file(tmp_path):
    """Policy classes through an alias, a subclass and a template variable; hooks (not
    other methods); templates; a trainer construction; DEFAULT_CONFIG; result keys (not
    config keys)."""
    (tmp_path / "m.py").write_text(LEGACY_POLICY_FILE)
    repo = real_corpus.Repo(tmp_path)
    got = [(i.group, i.kind, i.key, i.owner) for i in real_corpus.legacy_items(repo, repo.files["m.py"])]
    assert sorted(got, key=str) == sorted([
        ("policies", "policy class", "Mine", None),
        ("policies", "hook method", "loss", "Mine"),
        ("policies", "hook method", "postprocess_trajectory", "Mine"),
        ("policies", "hook method", "stats_fn", "Mine"),
        ("policies", "policy class", "Deeper", None),
        ("policies", "hook method", "extra_grad_process", "Deeper"),
        ("policies", "policy class", "FromTemplate", None),
        ("policies", "build_*_policy call", "build_policy_class", None),
        ("policies", "Policy.with_updates call", "PPOTorchPolicy.with_updates", None),
        ("training_scripts", "DEFAULT_CONFIG use", "DEFAULT_CONFIG", None),  # one: the import is not a use
        ("training_scripts", "trainer construction", "PPOTrainer", None),
        ("training_scripts", "result-key lookup", "episode_reward_mean", None),
        ("training_scripts", "result-key lookup", "info/learner", None),  # not num_workers: a config key
    ], key=str)
    classes = {c.qualname: c for c in repo.files["m.py"].classes}
    assert classes["FromTemplate"].policy_via == "with_updates" and classes["Deeper"].policy_via == "TorchPolicyV2"


def test_an_outside_class_of_a_common_name_is_not_the_trees_trainer(tmp_path):
    """`from stable_baselines3 import PPO` is not the tree's own PPO(PPOTrainer); a star
    import from RLlib brings PPOTrainer."""
    (tmp_path / "wrapper.py").write_text(
        "from ray.rllib.agents.ppo import PPOTrainer\n\n\nclass PPO(PPOTrainer):\n    pass\n")
    (tmp_path / "sb3.py").write_text("from stable_baselines3 import PPO\n\nmodel = PPO('MlpPolicy', config={})\n")
    (tmp_path / "star.py").write_text("from ray.rllib.agents.ppo import *\n\nt = PPOTrainer(config={})\n")
    repo = real_corpus.Repo(tmp_path)
    got = {rel: [(i.kind, i.key) for i in real_corpus.legacy_items(repo, info)] for rel, info in repo.files.items()}
    assert got == {"wrapper.py": [("trainer subclass", "PPO")], "sb3.py": [],
                   "star.py": [("trainer construction", "PPOTrainer")]}


def test_policy_item_classifier_on_output_text(tmp_path):
    """Each outcome from hand-written outputs: a hook with a TODO above it (flagged), a hook
    that went (rewritten), one left as it was (untouched), a call that went with a TODO on
    what replaced it (flagged), a construction that went (rewritten), a lookup left as it
    was (untouched), a policy class with a TODO inside (flagged); a file the codemod
    reported as an error: not migrated."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    legacy = (
        "from ray.rllib.agents.ppo import PPOTrainer\n"
        "from ray.rllib.policy.torch_policy import TorchPolicy\n"
        "from ray.rllib.agents.ppo.ppo_torch_policy import PPOTorchPolicy\n"
    )
    (src / "p.py").write_text(
        legacy
        + "class P(TorchPolicy):\n"
        "    def loss(self, model, dist_class, batch):\n        return 0\n\n"
        "    def stats_fn(self, batch):\n        return {}\n\n"
        "    def optimizer(self):\n        return None\n\n\n"
        "Q = PPOTorchPolicy.with_updates(name='Q')\n"
        "trainer = PPOTrainer(config={'lr': 1e-3})\n"
        "result = trainer.train()\n"
        "print(result['episode_reward_mean'])\n"
    )
    todo = "# TODO(rlmigrate): move it - see MIGRATION.md#custom-policies\n"
    (out / "p.py").write_text(
        legacy
        + "class P(TorchPolicy):\n"
        "    " + todo + "    def loss(self, model, dist_class, batch):\n        return 0\n\n"  # flagged
        "    def optimizer(self):\n        return None\n\n\n"  # untouched (stats_fn went: rewritten)
        + todo + "Q = make_module()\n"  # the call went, a TODO on its replacement: flagged
        "trainer = PPOConfig().training(lr=1e-3).build()\n"  # rewritten
        "result = trainer.train()\n"
        "print(result['episode_reward_mean'])\n"  # untouched
    )
    original, output = real_corpus.Repo(src), real_corpus.Repo(out)
    figures, records = real_corpus.policy_figures(original, output, {}, None)
    got = {(r["kind"], r["key"]): r["outcome"] for r in records}
    assert got == {
        ("policy class", "P"): "flagged",
        ("hook method", "loss"): "flagged",
        ("hook method", "stats_fn"): "rewritten",
        ("hook method", "optimizer"): "untouched",
        ("Policy.with_updates call", "PPOTorchPolicy.with_updates"): "flagged",
        ("trainer construction", "PPOTrainer"): "rewritten",
        ("result-key lookup", "episode_reward_mean"): "untouched",
    }
    assert figures["policies"]["hook method"] == {"rewritten": 1, "flagged": 1, "untouched": 1, "file not migrated": 0}
    assert figures["hooks_by_name"]["optimizer"]["untouched"] == 1
    assert figures["training_scripts"]["all"] == {"rewritten": 1, "flagged": 0, "untouched": 1, "file not migrated": 0}
    # A class moved off its legacy base with no TODO: rewritten, and so is a hook it keeps (its forwards may
    # call it); the same class left as it was: untouched.
    (out / "p.py").write_text(legacy + "class P(MyModule):\n"
                              "    def loss(self, model, dist_class, batch):\n        return 0\n")
    _, records = real_corpus.policy_figures(original, real_corpus.Repo(out), {}, None)
    assert {r["key"]: r["outcome"] for r in records if r["group"] == "policies"} == {
        "P": "rewritten", "loss": "rewritten", "stats_fn": "rewritten", "optimizer": "rewritten",
        "PPOTorchPolicy.with_updates": "rewritten"}
    (out / "p.py").write_text((src / "p.py").read_text())
    _, records = real_corpus.policy_figures(original, real_corpus.Repo(out), {}, None)
    assert {r["outcome"] for r in records} == {"untouched"}
    _, records = real_corpus.policy_figures(original, real_corpus.Repo(out), {"p.py": {"status": "error"}}, None)
    assert {r["outcome"] for r in records} == {"file not migrated"}


def test_same_key_twice_matched_by_position(tmp_path):
    """Two lookups of one key: the one the codemod rewrote is told from the one it left by
    where their lines went."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    head = "import ray\n"
    (src / "s.py").write_text(head + "a = r['timesteps_total']\nx = 1\ny = 2\nb = r['timesteps_total']\n")
    (out / "s.py").write_text(head + "a = r['num_env_steps_sampled']\nx = 1\ny = 2\nb = r['timesteps_total']\n")
    _, records = real_corpus.policy_figures(real_corpus.Repo(src), real_corpus.Repo(out), {}, None)
    assert [(r["line"], r["outcome"]) for r in records] == [(2, "rewritten"), (5, "untouched")]


def test_todo_texts_group_messages_into_kinds():
    messages = {
        "r1": Counter({
            ("imports-without-an-equivalent",
             "`SampleBatch` from `ray.rllib.policy.sample_batch` has no ray-free equivalent; replace its uses"): 2,
            ("imports-without-an-equivalent",
             "`ModelCatalog` from `ray.rllib.models` has no ray-free equivalent; replace its uses"): 1,
            ("trainer-templates", "PPOTrainer.with_updates(...) builds a legacy trainer template: use a config"): 1,
        }),
        "r2": Counter({
            ("trainer-templates", "A2CTrainer.with_updates(...) builds a legacy trainer template: use a config"): 2,
            ("imports-without-an-equivalent",
             "`import ray.rllib.agents.ppo` has no ray-free equivalent; replace its uses"): 1,
        }),
    }
    per_repo, listing = real_corpus.todo_texts(messages)
    assert [(t["count"], t["repos"], t["text"]) for t in listing] == [
        (3, 1, "`…` from `…` has no ray-free equivalent; replace its uses"),
        (3, 2, "… builds a legacy trainer template: use a config"),
        (1, 1, "`…` has no ray-free equivalent; replace its uses"),
    ]
    assert per_repo["r2"] == {"… builds a legacy trainer template: use a config": 2,
                              "`…` has no ray-free equivalent; replace its uses": 1}
    names = [real_corpus.imported_name(m) for r in messages.values() for (_, m) in r]
    assert names == ["SampleBatch", "ModelCatalog", None, None, "ray.rllib.agents.ppo"]
    assert real_corpus.imported_name("`from ray.rllib.models import *` has no ray-free equivalent; import the "
                                     "names you use") == "ray.rllib.models.*"


def test_codemods_root_picks_the_package(tmp_path):
    """--codemods-root puts that checkout's codemods first; one without it is refused."""
    assert real_corpus.codemods_package(real_corpus.ROOT) == str(real_corpus.ROOT / "codemods" / "__init__.py")
    corpus = tmp_path / "corpus" / "r"
    corpus.mkdir(parents=True)
    (corpus / "a.py").write_text("x = 1\n")
    done = run(str(tmp_path / "corpus"), "--codemods-root", str(tmp_path))
    assert done.returncode == 2 and "would not import codemods from" in done.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_copy_tracks_every_file_so_ignored_and_hidden_files_are_walked(result):
    printed, full, _ = result
    repos = {r["repo"]: r for r in printed["repos"]}
    got = {name: r["git_index"] for name, r in repos.items()}
    # repo_c: its .gitignore and the two models
    assert got == {"repo_a": "tracked 4 files", "repo_b": "tracked 6 files", "repo_c": "tracked 3 files",
                   "repo_d": "tracked 3 files"}
    classes = {c["path"]: c["category"] for c in full["details"]["repo_c"]["classes"]}
    assert set(classes) == {"experiments/model.py", ".deprecated_scripts/model.py"}
    assert all(category.startswith("converted") for category in classes.values()), classes
    assert printed["total"]["categories"]["not walked"] == 0


def test_without_git_the_copy_gets_no_index(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(real_corpus.shutil, "which", lambda name: None)
    assert real_corpus.track_every_file(tmp_path) == "skipped: git is not installed"
    assert not (tmp_path / ".git").exists()


def test_classifier_on_output_text(tmp_path):
    """The categories from hand-written outputs: a TODO directly above, one inside, none."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    legacy = "from ray.rllib.models.torch.torch_modelv2 import TorchModelV2 as T\n"
    (src / "m.py").write_text(legacy + "class A(T):\n    pass\nclass B(T):\n    pass\nclass C(T):\n    pass\n"
                              "class D(T):\n    pass\n")
    todo = "# TODO(rlmigrate): do it - see MIGRATION.md#kind\n"
    (out / "m.py").write_text(
        legacy + todo + "class A(T):\n    pass\n\n"  # flagged: marker directly above
        "class B(T):\n    pass\n\n"  # silent
        "class C(object):\n    " + todo + "    pass\n\n"  # converted with a TODO inside
        "class D(object):\n    pass\n"  # converted
    )
    original, output = real_corpus.Repo(src), real_corpus.Repo(out)
    got = {c.qualname: real_corpus.classify(c, output, {}, None, 0)[0] for c in original.files["m.py"].classes}
    assert got == {
        "A": "not converted, TODO on class",
        "B": "not converted, no TODO",
        "C": "converted with TODOs",
        "D": "converted, no TODO",
    }
    assert real_corpus.classify(original.files["m.py"].classes[0], output, {"m.py": {"status": "error"}}, None, 0)[0] \
        == "file errored"


def test_missing_dir_is_skipped(tmp_path):
    for args, env_dir in (((str(tmp_path / "absent"),), None), ((), None), ((), str(tmp_path))):
        done = run(*args, env_dir=env_dir)
        assert done.returncode == 0, done.stderr
        printed = json.loads(done.stdout)
        assert set(printed) == {"skipped"} and printed["skipped"]
