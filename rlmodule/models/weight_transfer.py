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
layers. Each backend walks its own models (``weight_leaves``); this module pairs them.
"""

from __future__ import annotations

from typing import Any, List, NamedTuple

import numpy as np

from rlmodule.backend import backend


class Leaf(NamedTuple):
    """One layer with weights (or one module's own parameters) in a backend's walk."""

    name: str  # for messages
    kind: str  # "dense", "conv2d", "lstm", "gru" or "free"
    tensors: list  # numpy arrays (torch side, in Keras layout) or Keras variables


def _shapes(leaf: Leaf) -> List[tuple]:
    return [tuple(t.shape) for t in leaf.tensors]


def copy_torch_to_tf(torch_module: Any, tf_module: Any) -> int:
    """Assign ``torch_module``'s weights to ``tf_module``'s variables (see the module
    docstring for the pairing); returns the number of Keras variables assigned."""
    sources = backend("torch").weight_leaves(torch_module)
    targets = backend("tf2").weight_leaves(tf_module)
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
