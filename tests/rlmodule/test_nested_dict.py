"""NestedDict: tuple paths, leaf-path iteration, and copy-on-write construction."""

from __future__ import annotations

import numpy as np
import pytest

from rlmodule import NestedDict


def _batch():
    return {"obs": {"global": np.zeros(3), "local": {"a": 1, "b": 2}}, "actions": 5}


# --- get / set / del / contains -------------------------------------------------------------
def test_tuple_path_get():
    nd = NestedDict(_batch())
    assert nd["actions"] == 5
    assert nd["obs", "local", "a"] == 1
    assert nd[("obs", "local", "b")] == 2
    assert nd[("actions",)] == 5
    assert isinstance(nd["obs"], NestedDict)
    assert nd["obs"]["local"]["a"] == 1
    assert nd["obs", "local"] == {"a": 1, "b": 2}
    assert nd.get(("obs", "nope")) is None
    assert nd.get(("obs", "nope"), 7) == 7
    assert nd.get(("obs", "local", "a"), 7) == 1


def test_tuple_path_set_creates_intermediate_dicts():
    nd = NestedDict()
    nd["obs", "global"] = 1
    nd["obs", "local", "x"] = 2
    nd["rewards"] = 3
    assert nd.asdict() == {"obs": {"global": 1, "local": {"x": 2}}, "rewards": 3}
    nd["obs", "global"] = 10  # overwrite a leaf
    assert nd["obs", "global"] == 10
    nd["obs", "local"] = 4  # replace a sub-dict by a leaf
    assert nd.asdict() == {"obs": {"global": 10, "local": 4}, "rewards": 3}


def test_set_through_a_leaf_raises_naming_the_path():
    nd = NestedDict({"actions": 5, "none": None})
    with pytest.raises(KeyError) as excinfo:
        nd["actions", "x"] = 1
    assert "('actions', 'x')" in str(excinfo.value) and "'actions'" in str(excinfo.value)
    assert "int" in str(excinfo.value)
    # None is a leaf like any other; it is not silently replaced by a dict.
    with pytest.raises(KeyError, match="NoneType"):
        nd["none", "x"] = 1
    assert nd.asdict() == {"actions": 5, "none": None}


def test_tuple_path_delete():
    nd = NestedDict(_batch())
    del nd["obs", "local", "a"]
    assert nd["obs", "local"] == {"b": 2}
    del nd["obs", "global"]
    assert ("obs", "global") not in nd
    del nd["actions"]
    assert "actions" not in nd
    assert nd.asdict() == {"obs": {"local": {"b": 2}}}


@pytest.mark.parametrize(
    "path",
    [("obs", "missing"), ("missing", "x"), ("obs", "local", "zz"), ("actions", "x"), "missing"],
)
def test_delete_missing_path_names_the_full_path(path):
    nd = NestedDict(_batch())
    with pytest.raises(KeyError) as excinfo:
        del nd[path]
    assert excinfo.value.args[0] == path
    assert nd.asdict().keys() == _batch().keys()


def test_contains():
    nd = NestedDict(_batch())
    assert "obs" in nd
    assert ("obs",) in nd
    assert ("obs", "global") in nd
    assert ("obs", "local", "a") in nd
    assert ("obs", "local") in nd
    assert ("obs", "missing") not in nd
    assert ("actions", "x") not in nd  # through a leaf
    assert ("obs", "global", "x") not in nd  # through an array leaf
    assert "missing" not in nd
    assert "global" not in nd  # str keys are top-level keys only


@pytest.mark.parametrize(
    "path, broke_at",
    [
        (("obs", "missing"), ("obs", "missing")),
        (("missing", "x"), ("missing",)),
        (("obs", "local", "a", "deeper"), ("obs", "local", "a", "deeper")),
    ],
)
def test_get_missing_path_names_where_it_broke(path, broke_at):
    nd = NestedDict(_batch())
    with pytest.raises(KeyError) as excinfo:
        nd[path]
    assert excinfo.value.args[0] == broke_at


def test_empty_path_is_an_error():
    with pytest.raises(KeyError, match="empty key path"):
        NestedDict({"a": 1})[()]


# --- iteration, keys, asdict ----------------------------------------------------------------
def test_iteration_yields_leaf_paths():
    nd = NestedDict(_batch())
    assert list(nd) == [("obs", "global"), ("obs", "local", "a"), ("obs", "local", "b"), ("actions",)]
    assert len(nd) == 4
    assert dict(nd.items())[("obs", "local", "b")] == 2
    assert [nd[p] for p in nd][1:] == [1, 2, 5]
    assert list(NestedDict()) == []
    assert len(NestedDict()) == 0


def test_empty_sub_dict_counts_as_a_leaf():
    nd = NestedDict({"a": {}, "b": {"c": {}}})
    assert list(nd) == [("a",), ("b", "c")]


def test_shallow_keys():
    nd = NestedDict(_batch())
    assert list(nd.shallow_keys()) == ["obs", "actions"]
    nd["new", "x"] = 1
    assert list(nd.shallow_keys()) == ["obs", "actions", "new"]


def test_asdict_is_a_plain_deep_dict_without_copying_leaves():
    leaf = np.arange(3)
    nd = NestedDict({"obs": {"x": leaf, "y": {"z": 1}}})
    d = nd.asdict()
    assert type(d) is dict and type(d["obs"]) is dict and type(d["obs"]["y"]) is dict
    assert d["obs"]["x"] is leaf
    d["obs"]["y"]["z"] = 99  # the result is a copy of the structure
    assert nd["obs", "y", "z"] == 1


def test_construction_from_tuple_keys_pairs_and_kwargs():
    assert NestedDict({("a", "b"): 1, "c": 2}).asdict() == {"a": {"b": 1}, "c": 2}
    assert NestedDict([(("a", "b"), 1), ("c", 2)]).asdict() == {"a": {"b": 1}, "c": 2}
    assert NestedDict({"a": 1}, b=2).asdict() == {"a": 1, "b": 2}
    assert NestedDict(None).asdict() == {}


def test_equality_and_copy():
    plain = {"obs": {"global": 0, "local": {"a": 1, "b": 2}}, "actions": 5}
    nd = NestedDict(plain)
    assert nd == NestedDict(plain)
    assert nd == plain
    assert nd != NestedDict({"actions": 5})
    assert nd != {"obs": {"global": 0, "local": {"a": 1, "b": 3}}, "actions": 5}
    c = nd.copy()
    c["obs", "local", "a"] = 100
    assert nd["obs", "local", "a"] == 1


# --- construction copies the top level; writes are copy-on-write ------------------------------
def test_mutating_top_level_does_not_touch_the_callers_dict():
    src = _batch()
    nd = NestedDict(src)
    nd["rewards"] = 1
    del nd["actions"]
    assert src.keys() == {"obs", "actions"}
    assert "rewards" not in src


def test_nested_writes_do_not_touch_the_callers_nested_dicts():
    src = _batch()
    local = src["obs"]["local"]
    nd = NestedDict(src)
    nd["obs", "local", "a"] = 100
    nd["obs", "new"] = 1
    del nd["obs", "local", "b"]
    nd["obs"]["local"]["c"] = 3
    assert src["obs"].keys() == {"global", "local"}
    assert local == {"a": 1, "b": 2}
    assert src["obs"]["local"] is local
    assert nd.asdict()["obs"]["local"] == {"a": 100, "c": 3}


def test_wrapping_a_nested_dict_does_not_share_its_children():
    first = NestedDict(_batch())
    first["obs", "local", "a"]  # materialise the nested NestedDicts of `first`
    second = NestedDict(first)
    second["obs", "local", "a"] = 100
    second["obs", "extra"] = 1
    del second["obs", "global"]
    assert first["obs", "local", "a"] == 1
    assert ("obs", "extra") not in first
    assert ("obs", "global") in first
    assert second["obs", "local", "a"] == 100


def test_nested_nested_dict_values_are_not_mutated():
    inner = NestedDict({"x": {"y": 1}})
    inner["x", "y"]  # materialise
    outer = NestedDict({"obs": inner})
    outer["obs", "x", "y"] = 2
    outer["obs", "z"] = 3
    assert inner.asdict() == {"x": {"y": 1}}
    assert outer.asdict() == {"obs": {"x": {"y": 2}, "z": 3}}


def test_a_dict_set_as_a_value_stays_the_callers():
    nd = NestedDict()
    mine = {"x": 1}
    nd["obs"] = mine
    nd["obs", "y"] = 2
    assert mine == {"x": 1}
    assert nd.asdict() == {"obs": {"x": 1, "y": 2}}
    # tuple key and str key for the same top-level entry at construction
    src_inner = {"k": 1}
    nd = NestedDict({("a", "b"): 1, "a": src_inner})
    nd["a", "z"] = 2
    assert src_inner == {"k": 1}


def test_reads_through_a_child_then_writes_stay_visible():
    nd = NestedDict(_batch())
    child = nd["obs"]
    child["new"] = 1  # writing into the handed-out child writes into nd
    assert nd["obs", "new"] == 1
    assert nd["obs"] is child
