"""benchmarks/real_corpus.py on a tiny corpus made of the codemod fixtures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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
    directory of user code).
    """
    corpus = root / "corpus"
    c = corpus / "repo_c"
    (c / "experiments").mkdir(parents=True)
    (c / ".deprecated_scripts").mkdir()
    (c / ".gitignore").write_text("experiments/\n")
    shutil.copy(LEGACY / "models" / "value_caching.py", c / "experiments" / "model.py")
    shutil.copy(LEGACY / "models" / "masked_actions.py", c / ".deprecated_scripts" / "model.py")
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
    assert set(repos) == {"repo_a", "repo_b", "repo_c"}
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
    assert total["repos"] == 3
    assert total["legacy_classes"] == 14
    assert total["files"] == 12
    assert sum(total["categories"].values()) == 14
    assert total["todos"] == sum(total["todo_kinds"].values())
    rows = {row["case"]: row for row in printed["comparisons"][0]["rows"]}
    assert rows["all repositories"]["baseline"] == 14
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
    }
    assert classes[("repo_b", "pkg/indirect_subclass.py", "Wider")]["base"] == "TorchModelV2"
    assert classes[("repo_b", "pkg/class_finding.py", "AliasedBase")]["base"] == "TorchModelV2"
    # A model of an algorithm this project lacks is left for a human, with a marker on the class.
    assert classes[("repo_a", "models/q_model.py", "DuelingQ")]["category"] == "not converted, TODO on class"
    assert classes[("repo_a", "models/flagged.py", "TfRNNModel")]["category"].startswith("converted")
    assert classes[("repo_a", "models/lstm_model.py", "LSTMModel")]["category"].startswith("converted")
    for c in classes.values():
        assert c["category"] in real_corpus.CATEGORIES


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_copy_tracks_every_file_so_ignored_and_hidden_files_are_walked(result):
    printed, full, _ = result
    repos = {r["repo"]: r for r in printed["repos"]}
    got = {name: r["git_index"] for name, r in repos.items()}
    # repo_c: its .gitignore and the two models
    assert got == {"repo_a": "tracked 4 files", "repo_b": "tracked 6 files", "repo_c": "tracked 3 files"}
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
