"""Convert a legacy RLlib checkpoint (old API stack) into an RLModule checkpoint.

Legacy layouts (ray 2.x, ``checkpoint_version`` 1.x), as ray 2.60 writes them::

    <policy checkpoint>/        Policy.export_checkpoint(dir)
        rllib_checkpoint.json   {"type": "Policy", "format": ..., "state_file": ...}
        policy_state.pkl        (or policy_state.msgpck): the policy state; its "weights"
                                entry is ``policy.get_weights()``: ``{name: ndarray}`` of
                                ``policy.model.state_dict()``
    <algorithm checkpoint>/     Algorithm.save_checkpoint(dir)
        rllib_checkpoint.json   {"type": "Algorithm", "policy_ids": [...], ...}
        algorithm_state.pkl
        policies/<policy_id>/   one policy checkpoint each

:func:`convert_checkpoint` reads only the ``weights`` entry (no policy is built, so no
custom model has to be registered), ports it into a torch RLModule with
:func:`compat.port_weights.port_weights` and writes ``module.save_to_checkpoint``.
``ray`` is imported inside the function only.
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from compat.port_weights import PortReport, port_weights
from rlmodule.rl_module import RLModule

PathLike = Union[str, os.PathLike]

INSTALL_HINT = 'pip install "rlmodule-migrate[legacy]"'
_POLICY_FILES = ("policy_state.pkl", "policy_state.msgpck")


class LegacyPickleWarning(UserWarning):
    """A legacy checkpoint is being unpickled without restriction: its code runs."""


class LegacyCheckpointError(ValueError):
    """A legacy checkpoint cannot be read: not a checkpoint, no policy state file, an
    unknown or ambiguous policy id, or a state without weights. The message names the
    directory or file at fault."""


@dataclass(frozen=True)
class ConversionReport:
    """What :func:`convert_checkpoint` did.

    Attributes:
        source: the legacy checkpoint directory given (absolute).
        kind: ``"policy"`` or ``"algorithm"``.
        policy_id: the policy converted (None for a Policy checkpoint).
        state_file: the file the weights were read from.
        out_dir: the RLModule checkpoint written (absolute).
        port: the :class:`~compat.port_weights.PortReport` (one entry per tensor).
    """

    source: str
    kind: str
    policy_id: Optional[str]
    state_file: str
    out_dir: str
    port: PortReport

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready; ``port`` as :meth:`PortReport.to_dict`."""
        return {
            "source": self.source,
            "kind": self.kind,
            "policy_id": self.policy_id,
            "state_file": self.state_file,
            "out_dir": self.out_dir,
            "port": self.port.to_dict(),
        }

    def __str__(self) -> str:
        what = f"{self.kind} checkpoint" + (f", policy {self.policy_id!r}" if self.policy_id is not None else "")
        return (
            f"converted {self.source} ({what}; weights from {self.state_file})\n"
            f"into {self.out_dir}: {len(self.port.entries)} tensors\n{self.port}"
        )


def convert_checkpoint(
    legacy_checkpoint: PathLike,
    module: RLModule,
    out_dir: PathLike,
    *,
    policy_id: Optional[str] = None,
    mapping: Optional[Mapping[str, str]] = None,
    ignore: Sequence[str] = (),
    overwrite: bool = False,
    restricted: bool = True,
) -> ConversionReport:
    """Port the weights of a legacy Policy or Algorithm checkpoint into the torch
    RLModule ``module`` (in place) and save it as an RLModule checkpoint in ``out_dir``.

    Args:
        legacy_checkpoint: a Policy checkpoint directory (``policy_state.pkl`` or
            ``.msgpck``) or an Algorithm checkpoint directory (``policies/<id>/``).
        module: the migrated torch RLModule, built with its final spec; it receives
            the legacy ``policy.model`` weights in place (and keeps them should the
            write fail).
        out_dir: the RLModule checkpoint directory to write.
        policy_id: which policy of an Algorithm checkpoint; may be left out when it
            holds exactly one. Not allowed for a Policy checkpoint.
        mapping, ignore: as for :func:`~compat.port_weights.port_weights`
            (``{target_name: legacy_name}``; ``fnmatch`` patterns of legacy tensors to
            leave out). Porting is strict: every tensor on both sides must pair.
        overwrite: replace an existing non-empty ``out_dir`` (only an RLModule
            checkpoint: any other directory is refused, see ``save_to_checkpoint``).
        restricted: unpickle with :class:`RestrictedUnpickler` (default): it builds
            numpy arrays, builtin scalars and containers, turns every other class or
            function the pickle names into an inert stand-in without importing it, and
            refuses standard-library callables (``os.system``, ``builtins.eval``...).
            ``False`` unpickles as ray does, running whatever the pickle says, and
            warns with :class:`LegacyPickleWarning`: only for checkpoints you trust.

    Returns:
        A :class:`ConversionReport`; reload the module with
        ``type(module).from_checkpoint(report.out_dir)``.

    Raises:
        LegacyCheckpointError: see its docstring; also when the restricted unpickler
            refuses a global (the message names it).
        compat.port_weights.WeightPortError: names or shapes do not pair; lists every
            tensor. ``module`` is unchanged and nothing is written.
        FileExistsError: ``out_dir`` exists, is not empty, and ``overwrite`` is False
            (or it is a file, or it holds the legacy checkpoint).
        ImportError: ray is not installed.

    The write is atomic (a temporary directory beside ``out_dir``, then a rename): on
    any error no half-written ``out_dir`` is left behind, and a replaced one survives.
    Only the ``weights`` entry of the legacy state is used, so the classes it names
    (the policy class, callbacks, removed legacy code) need not import.
    """
    source = Path(legacy_checkpoint).absolute()
    out = Path(out_dir).absolute()
    _check_out_dir(out, source, overwrite)
    kind, chosen, state_file, state = _read_policy_state(source, policy_id, restricted)
    weights = state.get("weights") if isinstance(state, Mapping) else None
    if not isinstance(weights, Mapping):
        raise LegacyCheckpointError(f"{state_file}: the policy state has no 'weights' entry")
    port = port_weights(dict(weights), module, mapping, strict=True, ignore=ignore)
    written = module.save_to_checkpoint(str(out))
    return ConversionReport(str(source), kind, chosen, state_file, written, port)


def _check_out_dir(out: Path, source: Path, overwrite: bool) -> None:
    if out == source or out in source.parents:
        raise FileExistsError(f"{out}: out_dir would replace the legacy checkpoint {source}; pick another directory")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: out_dir exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out}: out_dir exists and is not empty; pass overwrite=True to replace it")


def _read_policy_state(source: Path, policy_id: Optional[str], restricted: bool) -> Tuple[str, Optional[str], str, Any]:
    """``(kind, policy_id, state_file, state)`` of the selected policy."""
    try:
        from ray.rllib.utils.checkpoints import get_checkpoint_info
    except ImportError as e:
        raise ImportError(f"reading a legacy RLlib checkpoint needs ray[rllib]: {INSTALL_HINT}") from e

    info = _checkpoint_info(get_checkpoint_info, source)
    if info["type"] == "Policy":
        if policy_id is not None:
            raise LegacyCheckpointError(
                f"{source}: is a Policy checkpoint (a single policy); policy_id={policy_id!r} "
                "applies to Algorithm checkpoints only"
            )
        return "policy", None, info["state_file"], _load_state(info, restricted)

    available = sorted(info.get("policy_ids") or ())
    if not available:
        modules = sorted(info.get("module_ids") or ())
        hint = f" (a new API stack checkpoint with RLModules {modules}: nothing to convert)" if modules else ""
        raise LegacyCheckpointError(f"{source}: Algorithm checkpoint without policies/<policy_id>/ directories{hint}")
    if policy_id is None:
        if len(available) > 1:
            raise LegacyCheckpointError(
                f"{source}: Algorithm checkpoint with several policies; pass policy_id= one of {available}"
            )
        policy_id = available[0]
    elif policy_id not in available:
        raise LegacyCheckpointError(f"{source}: no policy {policy_id!r}; available policy ids: {available}")
    policy_info = _checkpoint_info(get_checkpoint_info, source / "policies" / policy_id)
    return "algorithm", policy_id, policy_info["state_file"], _load_state(policy_info, restricted)


def _checkpoint_info(get_checkpoint_info: Any, directory: Path) -> Dict[str, Any]:
    """ray's ``get_checkpoint_info`` for ``directory``, with errors naming it."""
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a directory"
        raise LegacyCheckpointError(f"{directory}: {what}; expected a legacy RLlib Policy or Algorithm checkpoint directory")
    try:
        info = get_checkpoint_info(str(directory))
    except ValueError:
        found = sorted(p.name for p in directory.iterdir())
        raise LegacyCheckpointError(
            f"{directory}: not a legacy RLlib checkpoint: no {' or '.join(_POLICY_FILES)} (Policy checkpoint) "
            f"and no algorithm_state.pkl (Algorithm checkpoint) in it; found {found[:10]}"
            + (" ..." if len(found) > 10 else "")
        ) from None
    if info["checkpoint_version"].major < 1:
        raise LegacyCheckpointError(
            f"{directory}: a pre-Ray-2.0 checkpoint ({info['state_file']}); restore it with the ray version "
            "that wrote it and save it again"
        )
    return info


def _load_state(info: Mapping[str, Any], restricted: bool) -> Any:
    """The policy state dict in ``info["state_file"]`` (pickle or msgpack)."""
    state_file = info["state_file"]
    try:
        with open(state_file, "rb") as f:
            if info.get("format") == "msgpack":
                from ray.rllib.utils.checkpoints import try_import_msgpack

                return try_import_msgpack(error=True).load(f)
            if restricted:
                return RestrictedUnpickler(f, str(state_file)).load()
            warnings.warn(
                f"{state_file}: unpickling a legacy checkpoint without restriction runs any code it names; "
                "do this only for checkpoints you trust (restricted=True builds only the weights' types)",
                LegacyPickleWarning,
                stacklevel=4,
            )
            return _LenientUnpickler(f).load()
    except LegacyCheckpointError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise LegacyCheckpointError(f"{state_file}: cannot read the policy state: {e}") from e


class _Unresolved:
    """Stands in for a class or function the pickle names but that no longer imports
    (or, restricted, that is never imported): calling it or setting its state runs
    nothing."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "_Unresolved":
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state


def _stand_in(module: str, name: str) -> type:
    return type(name.rpartition(".")[2], (_Unresolved,), {"__module__": module, "__qualname__": name})


class _LenientUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` (what ray's ``cloudpickle.load`` is) that unpickles names it
    cannot import as :class:`_Unresolved` subclasses instead of failing."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return _stand_in(module, name)


#: Globals a legacy policy state's weights and scalars need, resolved for real.
ALLOWED_GLOBALS = frozenset(
    {
        *(("builtins", n) for n in ("set", "frozenset", "complex", "bytearray", "bytes", "slice", "range")),
        *(("collections", n) for n in ("OrderedDict", "defaultdict", "deque", "Counter")),
        ("_codecs", "encode"),  # bytes in protocol <= 2 pickles
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        *((m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")),
        *((m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")),
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a legacy policy state without running its code: the globals in
    :data:`ALLOWED_GLOBALS` (numpy arrays and dtypes, builtin containers) are resolved;
    any other standard-library global is refused with :class:`LegacyCheckpointError`
    naming it; every other class or function (ray's, the user's legacy code) becomes an
    inert :class:`_Unresolved` stand-in, never imported."""

    def __init__(self, file: Any, where: str) -> None:
        super().__init__(file)
        self._where = where

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if module.split(".")[0] in sys.stdlib_module_names:
            raise LegacyCheckpointError(
                f"{self._where}: the pickle names {module}.{name}, which a legacy policy state does not need; "
                "refused without importing or calling it. If you trust this checkpoint, pass restricted=False"
            )
        return _stand_in(module, name)
