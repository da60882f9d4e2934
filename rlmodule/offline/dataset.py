"""Reading (obs, action) datasets for behaviour cloning, validated against the spaces.

Two file formats (chosen by suffix):

``.npz`` (``numpy.savez``): one array per column, all of length ``N``.
``.jsonl`` / ``.json``: one JSON object per line, a SampleBatch-like dict of columns
    (lists of length ``N_line``) as RLlib's legacy ``JsonWriter`` wrote them:
    ``{"type": "SampleBatch", "obs": [[...], ...], "actions": [...], ...}`` ("type"
    optional). A line ``{"type": "MultiAgentBatch", "policy_batches": {module_id:
    {columns}}}`` holds per-module batches. Lines are concatenated in file order.

Columns read (others, e.g. ``rewards`` or ``new_obs``, are ignored):

- ``obs`` ``[N, *obs_shape]`` (required), ``actions`` ``[N, *action_shape]`` (required);
- episode boundaries, optional: ``eps_id`` ``[N]`` (a new episode where it changes)
  and/or ``terminateds`` / ``truncateds`` / ``dones`` ``[N]`` bool (a new episode after a
  True). Files always start a new episode. Without these a file is one episode (only
  recurrent modules care: their training sequences never cross an episode boundary);
- ``module_id`` ``[N]`` str, optional: which module each row trains (multi-agent).

Errors (:class:`DatasetError`) name the file (and line, for JSON lines), the column,
and the shapes or values at fault (an action outside the action space: its row in the
file, or in the line, and its value as stored). Empty, truncated or corrupt ``.npz``
files, non-UTF-8 JSON lines (with the byte offset) and files without rows are errors
too. Nothing is returned unless every file is valid.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import gymnasium as gym
import numpy as np

OBS, ACTIONS, EPS_ID, MODULE_ID = "obs", "actions", "eps_id", "module_id"
ROW = "row"  # internal: each row's index in its file (or JSON line), for error messages
DONE_COLUMNS = ("terminateds", "truncateds", "dones")
REQUIRED = (OBS, ACTIONS)
PER_STEP = (OBS, ACTIONS, EPS_ID, MODULE_ID) + DONE_COLUMNS

Paths = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]]
SpacesFor = Mapping[str, Tuple[gym.Space, gym.Space]]


class DatasetError(ValueError):
    """A dataset file is unreadable or does not fit the env's spaces."""


@dataclass
class OfflineData:
    """One module's validated data.

    Attributes:
        obs: ``[N, *obs_shape]`` in the observation space's dtype.
        actions: ``[N, *action_shape]`` (int64 for Discrete/MultiDiscrete/MultiBinary,
            the Box's dtype for Box).
        episode_starts: ``[E]`` int64, sorted flat index of each episode's first step
            (``episode_starts[0] == 0``).
        sources: the files the rows came from.
    """

    obs: np.ndarray
    actions: np.ndarray
    episode_starts: np.ndarray
    sources: List[str]

    def __len__(self) -> int:
        return len(self.actions)

    def episode_bounds(self) -> np.ndarray:
        """``[E, 2]`` (start, end) of every episode."""
        ends = np.append(self.episode_starts[1:], len(self))
        return np.stack([self.episode_starts, ends], axis=1)


def read_offline_data(input_: Union[Paths, Mapping[str, Paths]], spaces: SpacesFor) -> Dict[str, OfflineData]:
    """Read every file of ``input_`` and validate it against ``spaces``.

    :param input_: a path, a list of paths, or (multi-agent) a dict ``{module_id:
        path or list of paths}``. Rows of a plain path go to the ``module_id`` column's
        modules, else to the only module in ``spaces`` (or the default module id).
    :param spaces: ``{module_id: (observation_space, action_space)}``.
    :returns: ``{module_id: OfflineData}`` for every module that got rows.
    :raises DatasetError: naming file, column and shapes (see the module docstring).
    """
    default_id = next(iter(spaces)) if len(spaces) == 1 else None
    parts: Dict[str, List[Tuple[Dict[str, Any], str]]] = {}
    for module_id, path in _files(input_):
        groups = [
            (where, mid, group)
            for where, columns in _read_file(path)
            for mid, group in _split_by_module(columns, module_id or default_id, module_id is not None, where)
            if len(group[ACTIONS])
        ]
        if not groups:
            raise DatasetError(f"{path}: no rows (every column has length 0)")
        previous: Dict[str, Dict[str, Any]] = {}  # module id -> its last chunk of this file
        for where, mid, group in groups:
            if mid not in spaces:
                raise DatasetError(f"{where}: module id {mid!r} is not one of the algorithm's modules {sorted(spaces)}")
            obs_space, act_space = spaces[mid]
            chunk = _validate(group, where, obs_space, act_space, previous.get(mid))
            previous[mid] = chunk
            parts.setdefault(mid, []).append((chunk, path))
    return {mid: _concatenate(chunks) for mid, chunks in parts.items()}


def _files(input_: Any) -> List[Tuple[Optional[str], str]]:
    """``[(module_id or None, path)]``; None: rows go by ``module_id`` column or the only module."""
    if isinstance(input_, Mapping):
        pairs = [(str(mid), p) for mid, paths in input_.items() for p in _path_list(paths)]
    else:
        pairs = [(None, p) for p in _path_list(input_)]
    for _, path in pairs:
        if not os.path.isfile(path):
            raise DatasetError(f"offline_data(input_=...): no such file {path!r}")
        if not path.endswith((".npz", ".jsonl", ".json")):
            raise DatasetError(f"{path}: unknown dataset format; use .npz or .jsonl (JSON lines)")
    return pairs


def _path_list(paths: Any) -> List[str]:
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def _read_file(path: str) -> List[Tuple[str, Dict[str, Any]]]:
    """``[(where, raw columns)]``: one entry for a .npz, one per line for JSON lines."""
    if path.endswith(".npz"):
        return [(path, _read_npz(path))]
    out = []
    with open(path, "rb") as f:
        offset = 0  # of the line's first byte in the file
        for number, raw in enumerate(f, start=1):
            where = f"{path}, line {number}"
            line = _decode_line(raw, where, offset)
            offset += len(raw)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{where}: not valid JSON ({e})") from None
            if not isinstance(record, dict):
                raise DatasetError(f"{where}: expected a JSON object of columns, got {type(record).__name__}")
            out.extend(_json_batches(record, where))
    if not out:
        raise DatasetError(f"{path}: no data (empty file)")
    return out


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first bytes (the latter: no members)
_NPY_MAGIC = b"\x93NUMPY"


def _read_npz(path: str) -> Dict[str, np.ndarray]:
    """The columns of a ``numpy.savez`` archive; DatasetError naming the file if it is
    empty, not an archive, truncated or corrupt."""
    with open(path, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if not head:
        raise DatasetError(f"{path}: empty file (0 bytes); expected an .npz archive written by numpy.savez")
    if not head.startswith(_ZIP_MAGIC):
        what = "a single .npy array; save columns with numpy.savez" if head == _NPY_MAGIC else f"it starts with {head!r}"
        raise DatasetError(f"{path}: not an .npz archive ({what})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as e:
        raise DatasetError(f"{path}: truncated or corrupt .npz archive ({type(e).__name__}: {e})") from None
    except ValueError as e:  # e.g. object arrays, which would need pickle
        raise DatasetError(f"{path}: not a readable .npz file ({e})") from None


def _decode_line(raw: bytes, where: str, offset: int) -> str:
    """``raw`` as UTF-8; DatasetError naming the bad byte and its offset in the file."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(
            f"{where}: not UTF-8 text (byte 0x{raw[e.start]:02x} at byte offset {offset + e.start} of the file)"
        ) from None


def _json_batches(record: Dict[str, Any], where: str) -> List[Tuple[str, Dict[str, Any]]]:
    kind = record.get("type", "SampleBatch")
    if kind == "MultiAgentBatch":
        batches = record.get("policy_batches")
        if not isinstance(batches, dict):
            raise DatasetError(f"{where}: a MultiAgentBatch line needs a 'policy_batches' object")
        for mid, cols in batches.items():
            if not isinstance(cols, dict):
                raise DatasetError(f"{where}: policy_batches[{mid!r}] must be an object of columns, got {type(cols).__name__}")
        return [(where, {**cols, MODULE_ID: [mid] * _json_len(cols)}) for mid, cols in batches.items()]
    if kind != "SampleBatch":
        raise DatasetError(f"{where}: unknown batch type {kind!r} (expected 'SampleBatch' or 'MultiAgentBatch')")
    return [(where, {k: v for k, v in record.items() if k != "type"})]


def _json_len(columns: Dict[str, Any]) -> int:
    actions = columns.get(ACTIONS)
    return len(actions) if isinstance(actions, list) else 0


def _split_by_module(
    columns: Dict[str, Any], module_id: Optional[str], fixed: bool, where: str
) -> List[Tuple[str, Dict[str, Any]]]:
    """Check required columns and equal lengths; then split rows by their ``module_id``
    column (rows without one go to ``module_id``; ``fixed``: the file was given for it;
    ``None``: several modules and no way to tell which rows are whose)."""
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DatasetError(f"{where}: missing column {missing[0]!r} (columns present: {sorted(columns)})")
    arrays = {k: _array(columns[k], k, where) for k in PER_STEP if k in columns}
    n = len(arrays[ACTIONS]) if arrays[ACTIONS].ndim else -1
    for name, array in arrays.items():
        if array.ndim == 0 or len(array) != n:
            raise DatasetError(
                f"{where}: column {name!r} has shape {array.shape} but 'actions' has shape {arrays[ACTIONS].shape}; "
                "every column needs the same number of rows"
            )
    arrays[ROW] = np.arange(n)
    if MODULE_ID not in arrays:
        if module_id is None:
            raise DatasetError(
                f"{where}: no {MODULE_ID!r} column, and the algorithm has several modules; give "
                "offline_data(input_={module_id: path, ...}) or add a module_id column"
            )
        return [(module_id, arrays)]
    ids = arrays.pop(MODULE_ID).astype(str)
    if fixed and np.any(ids != module_id):
        raise DatasetError(f"{where}: rows of module(s) {sorted(set(ids) - {module_id})} in a file given for module {module_id!r}")
    return [(mid, {k: v[ids == mid] for k, v in arrays.items()}) for mid in dict.fromkeys(ids.tolist())]


def _array(value: Any, name: str, where: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as e:  # ragged nested lists
        raise DatasetError(f"{where}: column {name!r} is ragged (rows of different shapes): {e}") from None
    if array.dtype == object:
        raise DatasetError(f"{where}: column {name!r} is ragged or holds mixed types (rows of different shapes)")
    return array


def _validate(
    columns: Dict[str, np.ndarray], where: str, obs_space: gym.Space, act_space: gym.Space, previous: Optional[Dict[str, Any]]
) -> Dict[str, Any]:
    """Columns cast to the spaces' dtypes, plus ``episode_starts``; raises DatasetError.

    ``previous``: the same module's preceding chunk of the same file (JSON lines); its
    episode continues here unless it ended or ``eps_id`` changes."""
    obs = _fit(columns[OBS], OBS, obs_space, where, "observation")
    actions = _fit(columns[ACTIONS], ACTIONS, act_space, where, "action")
    _check_in_space(columns[ACTIONS], act_space, where, columns[ROW])  # as stored: a cast may wrap
    n = len(actions)
    eps = columns.get(EPS_ID)
    done = np.zeros(n, dtype=bool)
    for name in DONE_COLUMNS:
        if name in columns:
            if columns[name].dtype.kind not in "bui":
                raise DatasetError(f"{where}: column {name!r} must hold booleans, got dtype {columns[name].dtype}")
            done |= columns[name].astype(bool)
    new_episode = np.zeros(n, dtype=bool)
    new_episode[1:] = done[:-1]
    if eps is not None:
        new_episode[1:] |= eps[1:] != eps[:-1]
    if n:
        continues = previous is not None and previous["len"] and not previous["last_done"] and (
            eps is None or previous["last_eps"] is None or previous["last_eps"] == eps[0]
        )
        new_episode[0] = not continues
    return {
        OBS: obs,
        ACTIONS: actions,
        "episode_starts": np.flatnonzero(new_episode).astype(np.int64),
        "len": n,
        "last_done": bool(done[-1]) if n else False,
        "last_eps": eps[-1].item() if eps is not None and n else None,
    }


def _fit(array: np.ndarray, name: str, space: gym.Space, where: str, kind: str) -> np.ndarray:
    """``array`` ``[N, *space.shape]`` cast to the space's dtype (integers for discrete spaces)."""
    if not isinstance(space, (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
        raise DatasetError(f"{where}: column {name!r}: {kind} space {space} is not supported for offline data (Box, Discrete, MultiDiscrete, MultiBinary are)")
    want = tuple(space.shape)
    if array.shape[1:] != want:
        raise DatasetError(
            f"{where}: column {name!r} has shape {array.shape} but the {kind} space {space} needs (N, {', '.join(map(str, want))})"
            if want else f"{where}: column {name!r} has shape {array.shape} but the {kind} space {space} needs (N,)"
        )
    discrete = not isinstance(space, gym.spaces.Box)
    allowed = "biu" if discrete else "biuf"
    if array.dtype.kind not in allowed:
        expected = "integers" if discrete else "numbers"
        raise DatasetError(f"{where}: column {name!r} has dtype {array.dtype} but the {kind} space {space} needs {expected}")
    return array.astype(np.int64 if discrete else space.dtype)


def _check_in_space(actions: np.ndarray, space: gym.Space, where: str, rows: np.ndarray) -> None:
    """DatasetError naming the first action (``[N, ...]``, as stored) outside ``space``
    and its row in the file (``rows`` ``[N]``)."""
    if isinstance(space, gym.spaces.Discrete):
        low, high = int(space.start), int(space.start + space.n - 1)
    elif isinstance(space, gym.spaces.MultiDiscrete):
        low, high = np.zeros_like(space.nvec), space.nvec - 1
    elif isinstance(space, gym.spaces.MultiBinary):
        low, high = 0, 1
    else:
        low, high = space.low, space.high
    outside = (actions < low) | (actions > high) | ~np.isfinite(actions)
    bad = np.flatnonzero(outside.reshape(len(actions), -1).any(axis=1))
    if len(bad):
        raise DatasetError(
            f"{where}: column 'actions' row {rows[bad[0]]} is {actions[bad[0]].tolist()}, outside the action space {space} "
            f"({len(bad)} row(s) out of range)"
        )


def _concatenate(chunks: List[Tuple[Dict[str, Any], str]]) -> OfflineData:
    offsets = np.cumsum([0] + [len(c[ACTIONS]) for c, _ in chunks[:-1]])
    return OfflineData(
        obs=np.concatenate([c[OBS] for c, _ in chunks]),
        actions=np.concatenate([c[ACTIONS] for c, _ in chunks]),
        episode_starts=np.concatenate([c["episode_starts"] + o for (c, _), o in zip(chunks, offsets)]).astype(np.int64),
        sources=list(dict.fromkeys(src for _, src in chunks)),
    )
