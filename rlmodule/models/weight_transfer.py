"""Copy the weights of a torch model into the Keras model built from the same config or spec.

Both models are walked depth-first, in registration order (torch ``module.modules()``
order; Keras: each layer's own variables, then its tracked sub-layers in the order they
were assigned, which is the order of ``keras_model.weights``; Keras'
``_flatten_layers()`` is not used, it reverses nested sub-layers). The walk yields
"leaves", paired one to one by position:

==========================  ========================  =====================================
torch                       Keras                     conversion
==========================  ========================  =====================================
``nn.Linear``               ``Dense``                 kernel = weight.T; bias
``nn.Conv2d``               ``Conv2D``                [out, in, kh, kw] -> [kh, kw, in, out]
``nn.LSTM`` (layer l)       ``LSTM`` (one per l)      kernel = weight_ih.T, recurrent_kernel
                                                      = weight_hh.T, bias = bias_ih + bias_hh
                                                      (gates i, f, g/c, o in both)
``nn.GRU`` (layer l)        ``GRU(reset_after=True)`` gates (r, z, n) -> (z, r, h); bias
                                                      [2, 3H] = [bias_ih; bias_hh]
parameters registered       variables created by      copied as they are
directly on any other       any other layer (e.g.
module (e.g. ``log_std``)   ``add_weight``)
==========================  ========================  =====================================

The leaves' sub-modules are not walked. Everything is checked before anything is
assigned: a different number of leaves, kinds or shapes raises ValueError naming both
layers.
"""

from __future__ import annotations

from typing import Iterator, List, NamedTuple, Set

import keras
import numpy as np
import torch
from torch import nn


class _Leaf(NamedTuple):
    name: str  # for messages
    kind: str  # "dense", "conv2d", "lstm", "gru" or "free"
    tensors: list  # numpy arrays (torch side, in Keras layout) or Keras variables


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _gru_gates(w: np.ndarray) -> np.ndarray:
    """torch's (r, z, n) blocks along axis 0 as Keras' (z, r, h)."""
    r, z, n = np.split(w, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def _recurrent_leaves(name: str, rnn: nn.RNNBase) -> Iterator[_Leaf]:
    if rnn.bidirectional or getattr(rnn, "proj_size", 0):
        raise ValueError(
            f"copy_torch_to_tf: torch {name} ({rnn!r}) is bidirectional or projected; only "
            "unidirectional LSTM/GRU layers without proj_size have a Keras counterpart"
        )
    gru = isinstance(rnn, nn.GRU)
    for layer in range(rnn.num_layers):
        w_ih, w_hh = (_np(getattr(rnn, f"weight_{k}_l{layer}")) for k in ("ih", "hh"))
        tensors = [_gru_gates(w_ih).T, _gru_gates(w_hh).T] if gru else [w_ih.T, w_hh.T]
        if rnn.bias:
            b_ih, b_hh = (_np(getattr(rnn, f"bias_{k}_l{layer}")) for k in ("ih", "hh"))
            tensors.append(np.stack([_gru_gates(b_ih), _gru_gates(b_hh)]) if gru else b_ih + b_hh)
        label = f"{name} (layer {layer} of {rnn!r})" if rnn.num_layers > 1 else f"{name} ({rnn!r})"
        yield _Leaf(label, "gru" if gru else "lstm", tensors)


def _torch_leaves(module: nn.Module, name: str, seen: Set[int]) -> Iterator[_Leaf]:
    if id(module) in seen:
        return
    seen.add(id(module))
    label = name or "<root>"
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        weight = _np(module.weight)
        kind = "dense" if isinstance(module, nn.Linear) else "conv2d"
        tensors = [weight.T if kind == "dense" else weight.transpose(2, 3, 1, 0)]
        if module.bias is not None:
            tensors.append(_np(module.bias))
        yield _Leaf(f"{label} ({module!r})", kind, tensors)
    elif isinstance(module, (nn.LSTM, nn.GRU)):
        yield from _recurrent_leaves(label, module)
    else:
        own = [_np(p) for p in module.parameters(recurse=False)]
        if own:
            yield _Leaf(f"{label} ({type(module).__name__}'s own parameters)", "free", own)
        for child_name, child in module.named_children():
            yield from _torch_leaves(child, f"{name}.{child_name}" if name else child_name, seen)


_KERAS_KINDS = (
    (keras.layers.Dense, "dense"),
    (keras.layers.Conv2D, "conv2d"),
    (keras.layers.LSTM, "lstm"),
    (keras.layers.GRU, "gru"),
)


def _keras_leaves(layer: keras.layers.Layer, seen: Set[int]) -> Iterator[_Leaf]:
    if id(layer) in seen:
        return
    seen.add(id(layer))
    label = f"{layer.path or layer.name} ({type(layer).__name__})"
    kind = next((k for cls, k in _KERAS_KINDS if isinstance(layer, cls)), None)
    if kind == "gru" and not layer.reset_after:
        kind = "gru with reset_after=False (build it with reset_after=True: torch semantics)"
    if kind:
        yield _Leaf(label, kind, list(layer.weights))
        return
    own_variables = layer._trainable_variables + layer._non_trainable_variables
    own = list({id(v): v for v in own_variables}.values())
    if own:
        yield _Leaf(f"{label}'s own variables", "free", own)
    for child in layer._layers:
        yield from _keras_leaves(child, seen)


def _shapes(leaf: _Leaf) -> List[tuple]:
    return [tuple(t.shape) for t in leaf.tensors]


def copy_torch_to_tf(torch_module: nn.Module, tf_module: keras.layers.Layer) -> int:
    """Assign ``torch_module``'s weights to ``tf_module``'s variables (see the module
    docstring for the pairing); returns the number of Keras variables assigned."""
    sources = list(_torch_leaves(torch_module, "", set()))
    targets = list(_keras_leaves(tf_module, set()))
    for i in range(max(len(sources), len(targets))):
        if i >= len(sources) or i >= len(targets):
            extra, other = (sources, targets) if i < len(sources) else (targets, sources)
            raise ValueError(
                f"copy_torch_to_tf: torch has {len(sources)} layers with weights, Keras "
                f"{len(targets)}: {extra[i].name} has no counterpart after "
                f"{other[-1].name if other else 'nothing'} (a Keras model may create "
                "weights on its first call: call it once before copying)"
            )
        src, dst = sources[i], targets[i]
        if src.kind != dst.kind or _shapes(src) != _shapes(dst):
            unbuilt = "" if dst.tensors else " (not built yet: call the Keras model once first)"
            raise ValueError(
                f"copy_torch_to_tf: torch {src.name} [{src.kind}, shapes in Keras layout "
                f"{_shapes(src)}] does not match Keras {dst.name} [{dst.kind}, shapes "
                f"{_shapes(dst)}]{unbuilt}"
            )
    for src, dst in zip(sources, targets):
        for array, variable in zip(src.tensors, dst.tensors):
            variable.assign(np.asarray(array, dtype=variable.dtype))
    return sum(len(dst.tensors) for dst in targets)
