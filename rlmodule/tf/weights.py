"""TensorFlow weights: the Keras weights file (HDF5) of a module checkpoint (written,
bounded before building, checked and loaded), the first forward that creates a
module's weights, and the walk :func:`rlmodule.models.weight_transfer.copy_torch_to_tf`
pairs with a torch module's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Set

import h5py
import keras

from rlmodule.checkpoint import MIN_SIZE_SLACK, CheckpointError, check_finite, shape_errors, weights_file
from rlmodule.models.weight_transfer import Leaf
from rlmodule.rl_module import MultiAgentRLModuleSpec
from rlmodule.specs import SpecCheckError
from rlmodule.tf.tf_rl_module import stable_weight_names

NAME = "tf2"

_LAYER_SIZE_KEYS = ("fcnet_hiddens", "post_fcnet_hiddens", "head_fcnet_hiddens", "lstm_cell_size")


# --- checkpoints ------------------------------------------------------------------------------
def write_weights(module: Any, file: Path) -> Dict[str, Any]:
    """``module.save_weights`` (Keras 3 HDF5). Returns ``{"tensors": {stable name:
    {"shape", "dtype"}}, "aliases": {}}``; CheckpointError before the first forward
    (Keras has created no weights yet)."""
    if not module.weights:
        raise CheckpointError(
            f"{type(module).__name__} has no weights yet (Keras creates them on the first "
            "call); run a forward before saving"
        )
    module.save_weights(str(file))
    weights = module.weights
    return {
        "tensors": {
            name: {"shape": list(v.shape), "dtype": v.dtype if isinstance(v.dtype, str) else v.dtype.name}
            for name, v in zip(stable_weight_names(weights), weights)
        },
        "aliases": {},
    }


def _h5_arrays(file: Path) -> Dict[str, Any]:
    """``{dataset path: h5py dataset}`` of a Keras weights file (lazy: nothing read)."""
    datasets: Dict[str, Any] = {}
    try:
        handle = h5py.File(str(file), "r")
    except OSError as e:
        raise CheckpointError(f"{file}: corrupt or not a Keras weights file ({e})") from None
    handle.visititems(lambda name, obj: datasets.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return datasets


def check_before_building(spec: Any, directory: Path, metadata: Mapping[str, Any]) -> None:
    """Refuse a spec whose model config (``fcnet_hiddens``, ``lstm_cell_size``, ...)
    declares layers needing far more numbers than the weights file stores (Keras creates
    weights on the first call: exact shapes are compared after building)."""
    file = weights_file(directory, NAME)
    specs: List[Any] = list(spec.module_specs.values()) if isinstance(spec, MultiAgentRLModuleSpec) else [spec]
    stored = sum(math.prod(d.shape) for d in _h5_arrays(file).values())
    for sub in specs:
        config = sub.model_config_dict or {}
        for key in _LAYER_SIZE_KEYS:
            needed = _numbers_needed(config.get(key), key)
            if needed > max(8 * stored, MIN_SIZE_SLACK):
                raise CheckpointError(
                    f"{file}: model_config_dict[{key!r}] = {config.get(key)!r} needs at least {needed} numbers, "
                    f"the weights file stores {stored}; refused before building"
                )


def _numbers_needed(sizes: Any, key: str) -> int:
    """A lower bound on the weights layers of ``sizes`` need (biases, and weights
    between consecutive layers; an LSTM cell has 4 gates)."""
    if key == "lstm_cell_size":
        return 4 * sizes * sizes if isinstance(sizes, int) else 0
    sizes = [n for n in sizes if isinstance(n, int)] if isinstance(sizes, list) else []
    return sum(sizes) + sum(a * b for a, b in zip(sizes, sizes[1:]))


def load_weights(module: Any, file: Path, metadata: Mapping[str, Any], allow_non_finite: bool) -> None:
    """Compare the metadata's tensor manifest with the module's weights, refuse
    non-float and (unless ``allow_non_finite``) non-finite arrays, then
    ``module.load_weights``."""
    manifest = metadata.get("tensors") or {}
    weights = module.weights
    expected = {name: tuple(v.shape) for name, v in zip(stable_weight_names(weights), weights)}
    shape_errors(expected, {k: tuple(v["shape"]) for k, v in manifest.items()}, file)
    arrays = _h5_arrays(file)
    wrong = sorted(name for name, d in arrays.items() if d.dtype.kind != "f")
    if wrong:
        raise CheckpointError(f"{file}: tensors {wrong} are not floating point; Keras weights must be")
    check_finite(((name, d[()]) for name, d in arrays.items()), file, allow_non_finite)
    try:
        module.load_weights(str(file))
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{file}: corrupt or does not fit the module ({e})") from None


def build_weights(module: Any, observation_space: Any = None) -> None:
    """Create the Keras weights of a module not built yet by running one forward on
    sampled observations (of ``observation_space``, default the module's config's):
    ``forward_train``, which also runs the layers acting does not use (value heads), or
    ``forward_inference`` when the train forward needs inputs beyond observations."""
    if module.built:
        return
    batch = module.sample_batch(observation_space=observation_space)
    try:
        module.forward_train(batch)
    except (KeyError, SpecCheckError):
        module.forward_inference(batch)


# --- weight transfer ----------------------------------------------------------------------
_KERAS_KINDS = (
    (keras.layers.Dense, "dense"),
    (keras.layers.Conv2D, "conv2d"),
    (keras.layers.LSTM, "lstm"),
    (keras.layers.GRU, "gru"),
)


def _leaves(layer: keras.layers.Layer, seen: Set[int]) -> Iterator[Leaf]:
    if id(layer) in seen:
        return
    seen.add(id(layer))
    label = f"{layer.path or layer.name} ({type(layer).__name__})"
    kind = next((k for cls, k in _KERAS_KINDS if isinstance(layer, cls)), None)
    if kind == "gru" and not layer.reset_after:
        kind = "gru with reset_after=False (build it with reset_after=True: torch semantics)"
    if kind:
        yield Leaf(label, kind, list(layer.weights))
        return
    own_variables = layer._trainable_variables + layer._non_trainable_variables
    own = list({id(v): v for v in own_variables}.values())
    if own:
        yield Leaf(f"{label}'s own variables", "free", own)
    for child in layer._layers:
        yield from _leaves(child, seen)


def weight_leaves(layer: keras.layers.Layer) -> List[Leaf]:
    """The layer's weights as weight-transfer leaves: each layer's own variables, then
    its tracked sub-layers in the order they were assigned (the order of
    ``layer.weights``; Keras' ``_flatten_layers()`` reverses nested sub-layers)."""
    return list(_leaves(layer, set()))
