"""Port trained weights between torch modules whose tensor names differ.

Typical use: a legacy RLlib ModelV2 torch model (an ``nn.Module``) -> a TorchRLModule, or
back. :func:`port_weights` pairs every target tensor with a source tensor, validates the
whole pairing, and only then copies. It never imports ``ray``.

The ``LEGACY_*_TO_PPO`` mappings (and ``LEGACY_LSTM_UNUSED``, for ``ignore=``) port the
legacy built-in models of ``policy.model`` into our PPO module built from the same
``model`` dict (see each constant for the spec it expects).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import (
    Any, Dict, Hashable, Iterable, List, Mapping, NamedTuple, Optional, Set, Tuple, Union,
)

import numpy as np
import torch
from torch import nn

Shape = Tuple[int, ...]
ArrayLike = Union[torch.Tensor, np.ndarray]
Source = Union[nn.Module, Mapping[str, ArrayLike]]


def _fmt(shape: Shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


# A legacy FullyConnectedNetwork (``policy.model``) into our PPO module: legacy registers
# its logits layer first, so only that needs naming; everything else ports by order.
LEGACY_FCNET_TO_PPO: Dict[str, str] = {
    "pi.net.0.weight": "_logits._model.0.weight",
    "pi.net.0.bias": "_logits._model.0.bias",
}

# A legacy VisionNetwork into our PPO module (same ``model`` dict, either vf_share_layers).
# Legacy registers its logits layer, a 1x1 conv behind a zero-size ZeroPad2d, first; the
# rest ports by order: ``_convs`` -> the actor's (shared) CNN, ``_value_branch_separate``'s
# convs -> the critic's CNN and its final 1x1 conv -> ``vf`` (reshaped), or the shared
# ``_value_branch`` Linear -> ``vf``. The logits conv is reshaped into ``pi``'s Linear.
LEGACY_VISIONNET_TO_PPO: Dict[str, str] = {
    "pi.net.0.weight": "_logits._model.1.weight",
    "pi.net.0.bias": "_logits._model.1.bias",
}

# The legacy LSTM wrapper (``use_lstm=True``) around a FullyConnectedNetwork or a
# VisionNetwork into our PPO module built with ``vf_share_layers=True``: legacy feeds
# logits and value from one LSTM, whatever ``vf_share_layers`` says. Its value layer may
# sit before the LSTM, so it is named; the rest ports by order (the wrapped net's layers
# -> tokenizer, ``lstm`` -> ``rnn``, ``_logits_branch`` -> ``pi``). Pass
# ``ignore=LEGACY_LSTM_UNUSED``.
LEGACY_LSTM_TO_PPO: Dict[str, str] = {
    "vf.net.0.weight": "_value_branch._model.0.weight",
    "vf.net.0.bias": "_value_branch._model.0.bias",
}

# Source tensors the legacy LSTM wrapper owns but never uses: the wrapped net's separate
# value layers (present when vf_share_layers=False).
LEGACY_LSTM_UNUSED: Tuple[str, ...] = ("_value_branch_separate.*",)


class PortEntry(NamedTuple):
    """One copied tensor: ``target_name`` <- ``source_name``; ``shape`` is the target's.
    ``how``: "mapping", "name" or "order"; "mapping+reshape" / "order+reshape" when a
    1x1 conv kernel ``[out, in, 1, 1]`` and a Linear weight ``[out, in]`` were paired."""

    target_name: str
    source_name: str
    shape: Shape
    how: str


@dataclass
class PortReport:
    """What :func:`port_weights` copied (``entries``, in target order), the source
    tensors it skipped on purpose (``ignored``: matched by ``ignore``) and, with
    ``strict=False`` only, what it left alone: ``target_only`` (unchanged target tensors)
    and ``source_only`` (unused source tensors), as ``(name, shape)``."""

    entries: List[PortEntry]
    target_only: List[Tuple[str, Shape]] = field(default_factory=list)
    source_only: List[Tuple[str, Shape]] = field(default_factory=list)
    ignored: List[Tuple[str, Shape]] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: ``{"entries": [{target, source, shape, how}], "target_only":
        [{name, shape}], "source_only": [{name, shape}], "ignored": [{name, shape}]}``
        (shapes as lists)."""
        return {
            "entries": [
                {"target": e.target_name, "source": e.source_name, "shape": list(e.shape), "how": e.how}
                for e in self.entries
            ],
            "target_only": [{"name": n, "shape": list(s)} for n, s in self.target_only],
            "source_only": [{"name": n, "shape": list(s)} for n, s in self.source_only],
            "ignored": [{"name": n, "shape": list(s)} for n, s in self.ignored],
        }

    def __str__(self) -> str:
        rows = [("target", "shape", "how", "source")] + [
            (e.target_name, _fmt(e.shape), e.how, e.source_name) for e in self.entries
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3] for row in rows]
        lines += [f"left unchanged (target only): {n} {_fmt(s)}" for n, s in self.target_only]
        lines += [f"not used (source only): {n} {_fmt(s)}" for n, s in self.source_only]
        lines += [f"ignored (source): {n} {_fmt(s)}" for n, s in self.ignored]
        return "\n".join(lines)


class WeightPortError(ValueError):
    """Nothing was copied. Attributes: ``mapping_errors`` (messages), ``conflicts``
    (``(target, target_shape, source, source_shape, how)``: paired by mapping or by name
    with different shapes), ``order_error`` (why the leftovers could not be paired in
    order, or None), ``target_only`` / ``source_only`` (unmatched ``(name, shape)``)."""

    def __init__(
        self,
        mapping_errors: List[str],
        conflicts: List[Tuple[str, Shape, str, Shape, str]],
        order_error: Optional[str],
        target_only: List[Tuple[str, Shape]],
        source_only: List[Tuple[str, Shape]],
    ) -> None:
        self.mapping_errors = mapping_errors
        self.conflicts = conflicts
        self.order_error = order_error
        self.target_only = target_only
        self.source_only = source_only
        lines = ["cannot port weights; nothing was copied."]
        if mapping_errors:
            lines += ["mapping errors:"] + [f"  {m}" for m in mapping_errors]
        if conflicts:
            lines.append("shape conflicts (target <- source):")
            for t, ts, s, ss, how in conflicts:
                hint = _conflict_hint(ts, ss)
                lines.append(f"  {t} {_fmt(ts)} <- {s} {_fmt(ss)} (by {how}{hint})")
        if order_error:
            lines.append(f"pairing the rest in order failed: {order_error}")
        if target_only:
            lines += ["target-only (no source; pass mapping={target: source}):"]
            lines += [f"  {n} {_fmt(s)}" for n, s in target_only]
        if source_only:
            lines += ["source-only (unused; pass ignore=[pattern] if that is intended):"]
            lines += [f"  {n} {_fmt(s)}" for n, s in source_only]
        super().__init__("\n".join(lines))


@dataclass
class _Group:
    """One tensor (torch or numpy) under all of its names (tied names share storage)."""

    names: List[str]
    value: ArrayLike

    @property
    def name(self) -> str:
        return self.names[0]

    @property
    def shape(self) -> Shape:
        return tuple(self.value.shape)


def _storage_key(value: ArrayLike) -> Hashable:
    """Equal for the same tensor/array memory seen under two names."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 0:
            return id(value)
        return (
            "torch", value.device, value.untyped_storage().data_ptr(), value.storage_offset(),
            tuple(value.shape), value.stride(), value.dtype,
        )
    if value.size == 0:
        return id(value)
    return ("numpy", value.__array_interface__["data"][0], value.shape, value.strides, value.dtype.str)


def _groups(items: Iterable[Tuple[str, ArrayLike]]) -> Tuple[List[_Group], Dict[str, int]]:
    """The tensors in order, tied names merged, and name -> group index."""
    groups: List[_Group] = []
    by_key: Dict[Hashable, int] = {}
    index: Dict[str, int] = {}
    for name, value in items:
        key = _storage_key(value)
        if key not in by_key:
            by_key[key] = len(groups)
            groups.append(_Group([], value))
        groups[by_key[key]].names.append(name)
        index[name] = by_key[key]
    return groups, index


def _source_items(source: Source) -> List[Tuple[str, ArrayLike]]:
    if isinstance(source, nn.Module):
        return list(source.state_dict(keep_vars=True).items())
    items = []
    for name, value in source.items():
        if not isinstance(value, (torch.Tensor, np.ndarray)):
            raise TypeError(f"source[{name!r}] must be a torch.Tensor or numpy array, got {type(value).__name__}")
        items.append((name, value))
    return items


def reshapeable(a: Shape, b: Shape) -> bool:
    """True when one shape is a 1x1 conv kernel ``[out, in, 1, 1]`` and the other the
    Linear weight ``[out, in]`` (either way round): the same numbers, the same function
    (on a 1x1 map, or on its flattened channels). The only reshape port_weights does."""
    short, long = sorted((tuple(a), tuple(b)), key=len)
    return len(short) == 2 and len(long) == 4 and long == short + (1, 1)


def _fits(target: Shape, source: Shape) -> bool:
    return target == source or reshapeable(target, source)


def _conflicting(how: str, target: Shape, source: Shape) -> bool:
    """Name pairs need equal shapes; mapping and order pairs may also be reshapeable."""
    return target != source and (how == "name" or not reshapeable(target, source))


def _conflict_hint(target: Shape, source: Shape) -> str:
    if target == source[::-1]:
        return "; needs a transpose, which is never done implicitly"
    if reshapeable(target, source):
        return "; a 1x1 conv <-> Linear reshape is done only for mapping or order pairs"
    return ""


def _order_error(targets: List[_Group], sources: List[_Group]) -> Optional[str]:
    """Why ``targets`` and ``sources`` can not be paired position by position (equal
    shapes, or :func:`reshapeable`), or None."""
    if len(targets) != len(sources):
        return f"{len(targets)} target vs {len(sources)} source tensors left"
    for i, (t, s) in enumerate(zip(targets, sources)):
        if not _fits(t.shape, s.shape):
            return (
                f"{len(targets)} tensors left on each side, but at position {i} target "
                f"{t.name} {_fmt(t.shape)} vs source {s.name} {_fmt(s.shape)}"
            )
    return None


def _converted(value: ArrayLike, like: torch.Tensor) -> torch.Tensor:
    """A fresh copy of ``value`` with ``like``'s dtype, device and shape (same numel)."""
    if isinstance(value, np.ndarray):
        return torch.tensor(value, dtype=like.dtype, device=like.device).reshape(like.shape)
    return value.detach().to(device=like.device, dtype=like.dtype, copy=True).reshape(like.shape)


def _ignored(sources: List[_Group], patterns: Tuple[str, ...]) -> Set[int]:
    """Source groups with a name matching one of the ``fnmatch`` ``patterns``."""
    return {
        i for i, group in enumerate(sources)
        if any(fnmatch.fnmatchcase(n, p) for n in group.names for p in patterns)
    }


def port_weights(
    source: Source,
    target: nn.Module,
    mapping: Optional[Mapping[str, str]] = None,
    *,
    strict: bool = True,
    ignore: Union[str, Iterable[str]] = (),
) -> PortReport:
    """Copy ``source``'s tensors (a module, or a name -> tensor/ndarray mapping) into
    ``target``'s parameters and buffers, in place; target dtype and device.

    Pairing, in this order: (1) ``mapping`` ``{target_name: source_name}``; (2) equal
    names (their shapes must agree); (3) the tensors left on both sides, in registration
    (``state_dict``) order, when both lists have the same length and pairwise-fitting
    shapes. Names sharing storage count once. Nothing is transposed. A source tensor may
    feed several targets by mapping or name, but order pairing uses only unused ones.
    Shapes must be equal, except that a mapping or order pair may join a 1x1 conv kernel
    ``[out, in, 1, 1]`` and a Linear weight ``[out, in]`` (:func:`reshapeable`); its
    entry's ``how`` then ends in ``+reshape``.

    ``ignore``: ``fnmatch`` patterns of source names deliberately not ported (e.g. layers
    the legacy model owns but never uses); they take part in no pairing and are listed in
    the report's ``ignored``. A pattern matching nothing is no error.

    Any mapping name that does not exist or is ignored, any shape conflict, or (with
    ``strict``) any unpaired tensor raises one :class:`WeightPortError` listing all of
    them, before anything is written. ``strict=False`` leaves unpaired tensors alone and
    reports them.
    """
    sources, source_index = _groups(_source_items(source))
    targets, target_index = _groups(target.state_dict(keep_vars=True).items())
    ignored = _ignored(sources, (ignore,) if isinstance(ignore, str) else tuple(ignore))
    claimed: Set[int] = set()  # target groups decided by mapping or name
    used: Set[int] = set(ignored)  # source groups read (or ignored)
    pairs: List[Tuple[int, int, str, str, str]] = []  # (target, source, t name, s name, how)
    mapping_errors: List[str] = []

    for t_name, s_name in (mapping or {}).items():
        t, s = target_index.get(t_name), source_index.get(s_name)
        if t is None:
            mapping_errors.append(f"mapping key {t_name!r} is not a target tensor")
        elif t in claimed:
            mapping_errors.append(f"mapping key {t_name!r} shares storage with an already mapped target")
        if s is None:
            mapping_errors.append(f"mapping value {s_name!r} (for {t_name!r}) is not a source tensor")
        elif s in ignored:
            mapping_errors.append(f"mapping value {s_name!r} (for {t_name!r}) is ignored (matches ignore=)")
        else:
            used.add(s)
        if t is not None and t not in claimed:
            claimed.add(t)
            if s is not None and s not in ignored:
                pairs.append((t, s, t_name, s_name, "mapping"))

    for t, group in enumerate(targets):
        name = next((n for n in group.names if n in source_index and source_index[n] not in ignored), None)
        if t not in claimed and name is not None:
            claimed.add(t)
            used.add(source_index[name])
            pairs.append((t, source_index[name], name, name, "name"))

    rest_t = [t for t in range(len(targets)) if t not in claimed]
    rest_s = [s for s in range(len(sources)) if s not in used]
    order_error = _order_error([targets[t] for t in rest_t], [sources[s] for s in rest_s])
    if order_error is None:
        pairs += [(t, s, targets[t].name, sources[s].name, "order") for t, s in zip(rest_t, rest_s)]
        rest_t, rest_s = [], []

    conflicts = [
        (tn, targets[t].shape, sn, sources[s].shape, how)
        for t, s, tn, sn, how in pairs
        if _conflicting(how, targets[t].shape, sources[s].shape)
    ]
    target_only = [(targets[t].name, targets[t].shape) for t in rest_t]
    source_only = [(sources[s].name, sources[s].shape) for s in rest_s]
    if mapping_errors or conflicts or (strict and (target_only or source_only)):
        raise WeightPortError(mapping_errors, conflicts, order_error, target_only, source_only)

    pairs.sort()
    copies = [(targets[t].value, _converted(sources[s].value, targets[t].value)) for t, s, *_ in pairs]
    with torch.no_grad():
        for dst, src in copies:
            dst.copy_(src)
    entries = [
        PortEntry(tn, sn, targets[t].shape, how if targets[t].shape == sources[s].shape else f"{how}+reshape")
        for t, s, tn, sn, how in pairs
    ]
    ignored_list = [(sources[s].name, sources[s].shape) for s in sorted(ignored)]
    return PortReport(entries, target_only, source_only, ignored_list)
