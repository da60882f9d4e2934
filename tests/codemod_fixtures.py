"""The codemod golden fixtures: ``fixtures/legacy/<group>/<case>.py`` (legacy code as
users wrote it) and ``fixtures/migrated/<group>/<case>.py`` (the expected output of a
full ``rlmigrate migrate`` run, byte for byte; identical bytes where nothing changes).

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

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LEGACY = FIXTURES / "legacy"
MIGRATED = FIXTURES / "migrated"


def cases() -> List[str]:
    """Every legacy fixture, as a path relative to ``fixtures/legacy``."""
    return sorted(p.relative_to(LEGACY).as_posix() for p in LEGACY.rglob("*.py"))


def repo_index() -> RepoIndex:
    """The fixtures indexed as one repository (cross-file subclasses resolve)."""
    return build_repo_index(p.read_bytes() for p in sorted(LEGACY.rglob("*.py")))


def migrate(data: bytes, case: str, repo: RepoIndex) -> FileResult:
    return migrate_source(data, case, all_rules(), repo)


def output(result: FileResult, data: bytes) -> bytes:
    return result.new_bytes if result.new_bytes is not None else data


def update() -> None:
    repo = repo_index()
    for case in cases():
        data = (LEGACY / case).read_bytes()
        target = MIGRATED / case
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(output(migrate(data, case, repo), data))
        print(f"wrote {target.relative_to(FIXTURES)}")


if __name__ == "__main__":
    update()
