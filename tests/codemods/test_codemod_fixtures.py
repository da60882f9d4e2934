"""Golden fixtures for every rule: exact output, one-pass fixed point, untouched files."""

from __future__ import annotations

import ast

import pytest

from tests.codemod_fixtures import MIGRATED, cases, legacy_file, migrate, output, repo_index

REPO = repo_index()
BAD_INPUT = {"untouched/unparsable.py": "cannot parse", "untouched/undecodable.py": "cannot decode"}


@pytest.mark.parametrize("case", cases())
def test_output_matches_the_expected_file_byte_for_byte(case):
    data = legacy_file(case).read_bytes()
    expected = (MIGRATED / case).read_bytes()
    assert output(migrate(data, case, REPO), data) == expected


@pytest.mark.parametrize("case", cases())
def test_a_second_run_changes_nothing(case):
    expected = (MIGRATED / case).read_bytes()
    result = migrate(expected, case, REPO)
    assert result.new_bytes is None and result.status in ("unchanged", "error")


def test_a_second_run_over_the_migrated_repository_changes_nothing():
    """A user runs rlmigrate again on its own output: the repository index is then built
    from the migrated files, where the converted classes are RLModules (kind
    ``migrated``), not legacy models. Configs the first run kept (an algorithm this
    project lacks, a class that stays legacy) must not gain a second, contradicting TODO."""
    from codemods.repo_index import build_repo_index

    migrated = {c: (MIGRATED / c).read_bytes() for c in cases() if c not in BAD_INPUT}
    index = build_repo_index(migrated.values())
    assert index.legacy_models["ValueCachingModel"] == "migrated" and index.converts("ValueCachingModel")
    changed = [c for c, data in migrated.items() if migrate(data, c, index).new_bytes is not None]
    assert changed == []


@pytest.mark.parametrize("case", [c for c in cases() if c not in BAD_INPUT])
def test_every_output_is_valid_python(case):
    """Valid for Python and for libcst (so the next run can parse it); the codemod
    itself only checks with ``ast`` before writing."""
    import libcst as cst

    from codemods.files import decode_source

    data = (MIGRATED / case).read_bytes()
    ast.parse(data)
    cst.parse_module(decode_source(data).text)


def test_every_expected_file_has_a_legacy_input():
    expected = sorted(p.relative_to(MIGRATED).as_posix() for p in MIGRATED.rglob("*.py"))
    assert expected == cases()


@pytest.mark.parametrize("case", sorted(c for c in cases() if c.startswith("untouched/")))
def test_files_that_are_not_legacy_rllib_stay_byte_identical(case):
    assert legacy_file(case).read_bytes() == (MIGRATED / case).read_bytes()


@pytest.mark.parametrize("case,message", sorted(BAD_INPUT.items()))
def test_bad_input_is_reported_and_left_untouched(case, message):
    result = migrate(legacy_file(case).read_bytes(), case, REPO)
    assert result.status == "error" and result.new_bytes is None
    assert message in result.error


def test_todo_markers_are_not_duplicated_on_a_rerun():
    data = (MIGRATED / "imports/without_equivalent.py").read_bytes()
    assert data.count(b"TODO(rlmigrate)") == 4
    assert migrate(data, "x.py", REPO).new_bytes is None


@pytest.mark.parametrize("case,unit", [("tabs", "\t"), ("two_spaces", "  "), ("three_spaces", "   "), ("eight_spaces", " " * 8), ("crlf", None)])
def test_indentation_and_line_endings_are_kept_and_the_result_is_the_same_code(case, unit):
    """Each formatting fixture is models/value_caching.py re-indented (or with CRLF):
    its migration is that file's migration re-indented the same way."""
    reference = (MIGRATED / "models/value_caching.py").read_text()
    got = (MIGRATED / f"formatting/{case}.py").read_bytes().decode()
    if unit is None:
        assert got == reference.replace("\n", "\r\n")
        return
    lines = []
    for line in got.split("\n"):
        stripped = line.lstrip(unit[0])
        depth = (len(line) - len(stripped)) // len(unit)
        lines.append("    " * depth + stripped)
    assert "\n".join(lines) == reference


def test_every_todo_anchor_is_a_heading_of_the_migration_guide():
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "MIGRATION.md").read_text()
    headings = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", guide, re.M)}
    rules = Path(__file__).resolve().parents[2] / "codemods" / "rules"
    anchors = {a for p in rules.glob("*.py") for a in re.findall(r'^ANCHOR\w* = "([\w-]+)"', p.read_text(), re.M)}
    for path in MIGRATED.rglob("*.py"):
        anchors.update(a.decode() for a in re.findall(rb"see MIGRATION\.md#([\w-]+)", path.read_bytes()))
    assert len(anchors) >= 5, anchors
    missing = sorted(a for a in anchors if a not in headings)
    assert not missing, f"MIGRATION.md lacks headings for {missing}"
