"""Classes to and from import paths (``"package.module:QualName"``) for JSON metadata.

:func:`class_from_path` imports whatever a path names: use it for paths a user typed.
Paths read from a checkpoint go through :func:`resolve_trusted`, which imports only
allow-listed modules and checks what it found before anyone calls it. Both read a path
this package's classes had before they moved as the class's path now
(:data:`MOVED_CLASSES`), so checkpoints written before the move load.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple


#: Paths recorded in checkpoints (module and spec classes) of classes that have moved
#: since -> their paths now.
MOVED_CLASSES = {
    "rlmodule.algorithms.ppo.torch_ppo_rl_module:PPOTorchRLModule": "rlmodule.torch.ppo_rl_module:PPOTorchRLModule",
    "rlmodule.algorithms.ppo.tf_ppo_rl_module:PPOTfRLModule": "rlmodule.tf.ppo_rl_module:PPOTfRLModule",
    "rlmodule.algorithms.appo.torch_appo_rl_module:APPOTorchRLModule": "rlmodule.torch.appo_rl_module:APPOTorchRLModule",
    "rlmodule.algorithms.appo.tf_appo_rl_module:APPOTfRLModule": "rlmodule.tf.appo_rl_module:APPOTfRLModule",
    "rlmodule.testing.torch_bc_module:DiscreteBCTorchModule": "rlmodule.torch.bc_module:DiscreteBCTorchModule",
    "rlmodule.testing.tf_bc_module:DiscreteBCTfModule": "rlmodule.tf.bc_module:DiscreteBCTfModule",
    "rlmodule.marl_module:MultiAgentRLModule": "rlmodule.rl_module:MultiAgentRLModule",
    "rlmodule.marl_module:MultiAgentRLModuleSpec": "rlmodule.rl_module:MultiAgentRLModuleSpec",
}


def current_path(path: Any) -> Any:
    """``path``, or where the class it names lives now if it has moved (:data:`MOVED_CLASSES`)."""
    return MOVED_CLASSES.get(path, path) if isinstance(path, str) else path


def class_to_path(cls: Optional[type]) -> Optional[str]:
    """``"pkg.mod:Outer.Inner"`` for ``cls``; raises ValueError if it cannot be re-imported."""
    if cls is None:
        return None
    if not isinstance(cls, type):
        raise TypeError(f"expected a class, got {cls!r}")
    qualname = cls.__qualname__
    if "<locals>" in qualname:
        raise ValueError(
            f"class {qualname} is defined inside a function and cannot be re-imported; "
            "move it to module level to save or serialize it"
        )
    return f"{cls.__module__}:{qualname}"


def class_from_path(path: Optional[str], what: str = "class") -> Optional[type]:
    """Import the class at ``path``; errors name the path and what was wrong."""
    if path is None:
        return None
    obj = object_from_path(path, what)
    if not isinstance(obj, type):
        raise ValueError(f"{what} {path!r} is a {type(obj).__name__}, not a class")
    return obj


def object_from_path(path: str, what: str = "object") -> Any:
    """Import the module-level class or function at ``path`` (``"pkg.mod:Name"``)."""
    path = current_path(path)
    if not isinstance(path, str) or ":" not in path:
        raise ValueError(f"{what} path {path!r} is not of the form 'package.module:ClassName'")
    module_name, qualname = path.split(":", 1)
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"{what} {path!r}: cannot import module {module_name!r}: {e}") from None
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(
                f"{what} {path!r}: module {module_name!r} has no attribute {qualname!r}"
            ) from None
    return obj


# --- checkpoints name code: resolve it without trusting them --------------------------------
#: Packages a checkpoint may name code from without being told: this project's.
TRUSTED_PACKAGES: Tuple[str, ...] = ("rlmodule", "compat")


class UntrustedPathError(ValueError):
    """A path recorded in a checkpoint names code outside the allow-list, or an object
    that is not of the kind the field needs; nothing of it was imported or called."""


@dataclass(frozen=True)
class Expect:
    """What a checkpoint field may name.

    Attributes:
        what: how the error names the kind (``"an RLModule subclass"``).
        bases: classes the named class must subclass (any class from a trusted module
            if ``trusted_classes``).
        functions: plain Python functions defined in a trusted module are allowed.
        trusted_classes: any class defined in a trusted module is allowed.
        packages: extra packages importable for this kind (``gymnasium`` for envs).
    """

    what: str
    bases: Tuple[type, ...] = ()
    functions: bool = False
    trusted_classes: bool = False
    packages: Tuple[str, ...] = ()


def in_packages(module_name: str, packages: Sequence[str]) -> bool:
    """Whether dotted ``module_name`` is one of ``packages`` or inside one."""
    return any(module_name == p or module_name.startswith(p + ".") for p in packages)


def resolve_trusted(
    path: Any, expect: Expect, where: str, trusted_modules: Sequence[str] = ()
) -> Any:
    """The class or function a checkpoint field names, checked before use.

    A module is imported only if it is in :data:`TRUSTED_PACKAGES`, ``expect.packages``
    or ``trusted_modules`` (dotted-prefix match); a class may also come from a module
    already in ``sys.modules`` (looking it up runs no code). The object must then be
    what ``expect`` says. Raises :class:`UntrustedPathError` naming ``where``.
    """
    module_name, qualname = _split(current_path(path), where)
    importable = TRUSTED_PACKAGES + tuple(expect.packages) + tuple(trusted_modules)
    module = _trusted_module(module_name, importable, path, expect, where)
    obj = _lookup(module, qualname, path, where, run_hooks=in_packages(module_name, importable))
    _check_kind(obj, importable, path, expect, where)
    return obj


def _split(path: Any, where: str) -> Tuple[str, str]:
    if not isinstance(path, str) or path.count(":") != 1:
        raise UntrustedPathError(f"{where}: {path!r} is not of the form 'package.module:Name'")
    module_name, qualname = path.split(":")
    if not module_name or not qualname:
        raise UntrustedPathError(f"{where}: {path!r} is not of the form 'package.module:Name'")
    return module_name, qualname


def _trust_hint(module_name: str, imported_counts: bool) -> str:
    top = module_name.split(".")[0]
    also = " (or import the module yourself before loading)" if imported_counts else ""
    return f"if you trust this checkpoint and that code, pass trusted_modules=[{top!r}]{also}"


def _trusted_module(module_name: str, importable: Sequence[str], path: str, expect: Expect, where: str) -> Any:
    if in_packages(module_name, importable):
        try:
            return importlib.import_module(module_name)
        except ImportError as e:
            raise UntrustedPathError(f"{where}: {path!r}: cannot import module {module_name!r}: {e}") from None
    if expect.bases and module_name in sys.modules:
        return sys.modules[module_name]
    status = "neither trusted nor imported" if expect.bases else "not trusted"
    raise UntrustedPathError(
        f"{where}: {path!r} is in module {module_name!r}, which is {status}; this field may name "
        f"{expect.what}, and loading imports no other module; " + _trust_hint(module_name, bool(expect.bases))
    )


def _lookup(module: Any, qualname: str, path: str, where: str, run_hooks: bool) -> Any:
    """``module.<qualname>``; in an untrusted module without running attribute hooks
    (module ``__getattr__``, properties)."""
    get = getattr if run_hooks else inspect.getattr_static
    obj = module
    for part in qualname.split("."):
        try:
            obj = get(obj, part)
        except AttributeError:
            raise UntrustedPathError(f"{where}: {path!r}: {module.__name__!r} has no attribute {qualname!r}") from None
        if isinstance(obj, types.ModuleType):
            raise UntrustedPathError(f"{where}: {path!r} goes through module {obj.__name__!r}; name the object where it is defined")
    return obj


def _check_kind(obj: Any, importable: Sequence[str], path: str, expect: Expect, where: str) -> None:
    defined_in_trusted = in_packages(getattr(obj, "__module__", None) or "", importable)
    if isinstance(obj, type):
        if (expect.bases and issubclass(obj, expect.bases)) or (expect.trusted_classes and defined_in_trusted):
            return
    elif isinstance(obj, types.FunctionType) and expect.functions and defined_in_trusted:
        return
    kind = "class" if isinstance(obj, type) else type(obj).__name__
    hint = f"; {_trust_hint(obj.__module__, False)}" if (expect.functions or expect.trusted_classes) and hasattr(obj, "__module__") else ""
    raise UntrustedPathError(
        f"{where}: {path!r} is a {kind} defined in {getattr(obj, '__module__', '?')!r}, not {expect.what}; "
        f"refused without calling it{hint}"
    )
