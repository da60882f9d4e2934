"""The repository pre-pass: which classes are legacy models, across files.

A class is a legacy model if one of its bases is a legacy ModelV2 base (by the name
the legacy code spells it, or an alias bound by an import) or, transitively, another
legacy model class of the repository. The scan is a regex over bytes, so it costs
microseconds per file; the rules confirm each class on the parsed tree.
"""

from __future__ import annotations

import re
from typing import Dict, Iterable, Tuple

from codemods.rule import RepoIndex

# Legacy base class name -> kind of the migrated module.
LEGACY_MODEL_BASES: Dict[str, str] = {
    "TorchModelV2": "torch",
    "ModelV2": "torch",
    "RecurrentNetwork": "recurrent",
    "TorchRNN": "recurrent",
    "TFModelV2": "tf",
}

_CLASS = re.compile(rb"^[ \t]*class[ \t]+(\w+)[ \t]*\(([^)]*)\)", re.MULTILINE)
# ``<legacy base> as <alias>``, in any import form (parenthesised over several lines
# too); anchored on the base names so the scan stays linear in the file's length.
_ALIAS = re.compile(
    rb"\b(" + b"|".join(name.encode() for name in LEGACY_MODEL_BASES) + rb")[ \t]+as[ \t]+(\w+)"
)


def _bases(text: bytes) -> Iterable[Tuple[str, list]]:
    for match in _CLASS.finditer(text):
        names = []
        for part in match.group(2).split(b","):
            part = part.strip()
            if part and b"=" not in part:
                names.append(part.split(b".")[-1].decode("ascii", "replace"))
        yield match.group(1).decode("ascii", "replace"), names


def build_repo_index(sources: Iterable[bytes]) -> RepoIndex:
    """Index the legacy model classes of all ``sources`` (file contents)."""
    classes: Dict[str, list] = {}
    kinds: Dict[str, str] = dict(LEGACY_MODEL_BASES)
    for text in sources:
        if b"class" not in text:
            continue
        for original, alias in _ALIAS.findall(text):
            name = original.decode("ascii", "replace")
            if name in LEGACY_MODEL_BASES:
                kinds[alias.decode("ascii", "replace")] = LEGACY_MODEL_BASES[name]
        for name, bases in _bases(text):
            classes.setdefault(name, []).extend(bases)
    found: Dict[str, str] = {}
    grew = True
    while grew:
        grew = False
        for name, bases in classes.items():
            if name in found:
                continue
            for base in bases:
                kind = found.get(base) or kinds.get(base)
                if kind:
                    found[name] = kind
                    grew = True
                    break
    return RepoIndex(legacy_models=found)
