"""The codemod golden fixtures: ``fixtures/legacy/<group>/<case>.py`` (legacy code as
users wrote it) and ``fixtures/migrated/<group>/<case>.py`` (the expected output of a
full ``rlmigrate migrate`` run, byte for byte; identical bytes where nothing changes).
The cases ``demo_project/...`` read their legacy input from the demo's bundled project
(``rlmigrate/demo/legacy_project``, package data of ``rlmigrate demo``).

``python -m tests.codemod_fixtures`` rewrites the expected files from the current rules
(review the diff before committing it).
"""

from __future__ import annotations

from pathlib import Path
from typing import List

from codemods.migrate import FileResult, migrate_source
from codemods.repo_index import build_repo_index
from codemods.rule import RepoIndex
from codemods.rules import all_rules

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
LEGACY = FIXTURES / "legacy"
MIGRATED = FIXTURES / "migrated"
DEMO = "demo_project"  # the group of cases whose legacy input is DEMO_PROJECT
DEMO_PROJECT = ROOT / "rlmigrate" / "demo" / "legacy_project"


def cases() -> List[str]:
    """Every legacy fixture, as a path relative to ``fixtures/legacy`` (``demo_project/``
    for the demo's project)."""
    found = [p.relative_to(LEGACY).as_posix() for p in LEGACY.rglob("*.py")]
    found += [f"{DEMO}/{p.relative_to(DEMO_PROJECT).as_posix()}" for p in DEMO_PROJECT.rglob("*.py")]
    return sorted(found)


def legacy_file(case: str) -> Path:
    """The legacy input of ``case``."""
    group, _, rest = case.partition("/")
    return DEMO_PROJECT / rest if group == DEMO else LEGACY / case


def repo_index() -> RepoIndex:
    """The fixtures indexed as one repository (cross-file subclasses resolve)."""
    return build_repo_index(legacy_file(case).read_bytes() for case in cases())


def migrate(data: bytes, case: str, repo: RepoIndex) -> FileResult:
    return migrate_source(data, case, all_rules(), repo)


def output(result: FileResult, data: bytes) -> bytes:
    return result.new_bytes if result.new_bytes is not None else data


def update() -> None:
    repo = repo_index()
    for case in cases():
        data = legacy_file(case).read_bytes()
        target = MIGRATED / case
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(output(migrate(data, case, repo), data))
        print(f"wrote {target.relative_to(FIXTURES)}")


if __name__ == "__main__":
    update()
