"""The codemod machinery: rule registry, repository index, TODO markers, safety nets."""

from __future__ import annotations

import subprocess
import sys

import libcst as cst
import pytest

from codemods.migrate import find_todos, migrate_source
from codemods.repo_index import build_repo_index
from codemods.rule import Rule, todo_comment
from codemods.rules import all_rules, select_rules


def test_rules_run_in_their_declared_order_and_unknown_names_are_listed():
    names = [rule.name for rule in all_rules()]
    assert names == ["models", "keras_functional", "policies", "configs", "training_scripts", "imports"]
    assert [r.name for r in select_rules(["imports", "models"])] == ["models", "imports"]
    assert [r.name for r in select_rules(None, ["policies"])] == ["models", "keras_functional", "configs", "training_scripts", "imports"]
    with pytest.raises(
        ValueError, match="unknown rule\\(s\\) nope; known rules: models, keras_functional, policies, configs, training_scripts, imports"
    ):
        select_rules(["nope"])


def test_repo_index_follows_aliases_and_subclass_chains_across_files():
    files = [
        b"from ray.rllib.models.torch.torch_modelv2 import TorchModelV2 as TMV2\nclass Base(TMV2):\n    pass\n",
        b"from base import Base\nclass Middle(Base):\n    pass\n",
        b"from middle import Middle\nclass Leaf(\n    Middle,\n    metaclass=ABCMeta,\n):\n    pass\nclass Plain(object):\n    pass\n",
        b"from ray.rllib.models.torch.recurrent_net import RecurrentNetwork\nclass Rnn(RecurrentNetwork):\n    pass\n",
    ]
    index = build_repo_index(files)
    assert index.legacy_models == {"Base": "torch", "Middle": "torch", "Leaf": "torch", "Rnn": "recurrent"}


def test_repo_index_reads_aliases_of_parenthesised_imports():
    files = [b"from ray.rllib.models.torch.torch_modelv2 import (\n    TorchModelV2 as Base,\n)\nclass M(Base):\n    pass\n"]
    assert build_repo_index(files).legacy_models == {"M": "torch"}


def test_repo_index_scan_is_linear_on_a_hostile_line():
    """The scan runs in the main process over every file: a line of 140,000 ``import``
    words (1 MB) took hours with the old alias regex (quadratic per line); the bound
    here is a hang guard, not a speed target."""
    hostile = b"import " * 140_000 + b"\nfrom x import TFModelV2 as T\nclass M(T):\n    pass\n"
    code = (
        "import sys; from codemods.repo_index import build_repo_index; "
        "print(build_repo_index([sys.stdin.buffer.read()]).legacy_models)"
    )
    done = subprocess.run([sys.executable, "-c", code], input=hostile, capture_output=True, timeout=60)
    assert done.stdout.decode().strip() == "{'M': 'tf'}", done.stderr.decode()


class _Broken(Rule):
    name = "broken_for_test"
    summary = "raises"

    def leave_Name(self, original_node, updated_node):
        raise RuntimeError("boom")


class _Invalid(Rule):
    name = "invalid_for_test"
    summary = "emits code that does not parse"

    def leave_Assign(self, original_node, updated_node):
        self.changed()  # libcst builds ``del f()`` without complaint; no parser accepts it
        return cst.Del(target=cst.Call(func=cst.Name("f")))


class _Flagger(Rule):
    name = "flagger_for_test"
    summary = "flags and removes"

    def leave_SimpleStatementLine(self, original_node, updated_node):
        code = cst.Module(body=[]).code_for_node(updated_node)
        if "drop_me" in code:
            return self.remove(updated_node)
        if "flag_me" in code:
            self.flag("look here", "anchor")
        return updated_node


def test_a_rule_that_raises_is_reported_and_the_file_left_alone():
    result = migrate_source(b"import ray.rllib\nx = 1\n", "f.py", [_Broken])
    assert result.status == "error" and result.new_bytes is None
    assert "internal error in rule(s) broken_for_test: RuntimeError: boom" in result.error


def test_output_that_does_not_parse_is_never_produced():
    result = migrate_source(b"# rllib\nx = 1\n", "f.py", [_Invalid])
    assert result.status == "error" and result.new_bytes is None
    assert "produced code that does not parse" in result.error


def test_todos_are_placed_once_and_removed_lines_keep_their_comments():
    source = b"# rllib\nimport os\n\n# keep this comment\ndrop_me = 1\nflag_me = 2\n"
    first = migrate_source(source, "f.py", [_Flagger])
    text = first.new_bytes.decode()
    assert text == (
        "# rllib\nimport os\n\n# keep this comment\n"
        f"{todo_comment('look here', 'anchor')}\nflag_me = 2\n"
    )
    assert [(t.line, t.message, t.anchor) for t in find_todos(text)] == [(5, "look here", "anchor")]
    assert migrate_source(first.new_bytes, "f.py", [_Flagger]).new_bytes is None


def test_merged_own_imports_keep_the_comments_of_the_lines_merged_away():
    """Two legacy imports that map to one of our modules merge into one line however
    they are commented: the comments of the line merged away (above it, after it) move
    above the merged line (before, a comment above it left both lines unmerged, and a
    comment after it was dropped)."""
    source = (
        b"from ray.rllib.models.torch.misc import SlimFC  # layers\n\n"
        b"# the initialiser\nfrom ray.rllib.models.torch.misc import normc_initializer  # init\n\n"
        b"x = SlimFC, normc_initializer\n"
    )
    result = migrate_source(source, "f.py", select_rules(["imports"]))
    assert result.new_bytes.decode() == (
        "# the initialiser\n# init\nfrom compat.legacy_torch_models import SlimFC, normc_initializer  # layers\n\n"
        "x = SlimFC, normc_initializer\n"
    )


def test_pre_filter_skips_files_no_rule_concerns_without_parsing():
    result = migrate_source(b"def broken(:\n", "f.py", all_rules())
    assert result.status == "unchanged" and not result.parsed
