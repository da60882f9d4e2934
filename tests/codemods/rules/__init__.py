"""Before/after helpers for the per-rule tests (``test_<rule>.py``, one per module of
``codemods/rules``): run one rule over a dedented string and compare exact text.

``other_files`` are more files of the same repository: the repository index (which
classes are legacy models or policies) is built from them and the file itself, as
``rlmigrate`` builds it. No framework is imported: the codemod is text only.
"""

from __future__ import annotations

import difflib
import textwrap
from typing import Iterable

from codemods.migrate import migrate_source
from codemods.repo_index import build_repo_index
from codemods.rules import select_rules


def rewrite(rule: str, source: str, *, other_files: Iterable[str] = ()) -> str:
    """The text rule ``rule`` alone makes of ``source`` (dedented)."""
    source = textwrap.dedent(source)
    data = source.encode()
    repo = build_repo_index([data, *(textwrap.dedent(f).encode() for f in other_files)])
    result = migrate_source(data, "m.py", select_rules([rule]), repo)
    assert result.status != "error", result.error
    return result.new_bytes.decode() if result.new_bytes is not None else source


def assert_rewrite(rule: str, before: str, after: str, *, other_files: Iterable[str] = ()) -> None:
    """Rule ``rule`` turns ``before`` into ``after`` (both dedented), and a second run
    over ``after`` (indexed from ``after``, as a rerun on the output would be) changes
    nothing."""
    other_files = list(other_files)
    after = textwrap.dedent(after)
    _same(rewrite(rule, before, other_files=other_files), after, "the rule's output (-) is not the expected (+)")
    _same(rewrite(rule, after, other_files=other_files), after, "a second run (-) changed the output (+)")


def assert_unchanged(rule: str, source: str, *, other_files: Iterable[str] = ()) -> None:
    """Rule ``rule`` leaves ``source`` as it is."""
    assert_rewrite(rule, source, source, other_files=other_files)


def _same(got: str, expected: str, what: str) -> None:
    diff = difflib.unified_diff(got.splitlines(True), expected.splitlines(True), "got", "expected")
    assert got == expected, f"{what}:\n{''.join(diff)}"
