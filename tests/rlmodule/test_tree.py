"""rlmodule.tree: the rules its docstring states, one test each."""

from collections import OrderedDict

import numpy as np
import pytest

from rlmodule.nested_dict import NestedDict
from rlmodule.tree import combine, concatenate, flatten, index, map_structure, stack, unflatten


def test_dict_entries_in_insertion_order_or_sorted():
    struct = {"b": 1, "a": (2, {"d": 3, "c": 4})}
    assert flatten(struct) == [1, 2, 3, 4]
    assert flatten(struct, sort_keys=True) == [2, 4, 3, 1]  # dm_tree's order, legacy preprocessing's
    assert flatten(OrderedDict([("b", 1), ("a", 2)]), sort_keys=True) == [2, 1]


def test_lists_are_leaves_unless_asked():
    struct = {"obs": [1.0, 2.0], "state": ([3], 4)}
    assert flatten(struct) == [[1.0, 2.0], [3], 4]
    assert flatten(struct, lists=True) == [1.0, 2.0, 3, 4]
    assert map_structure(np.asarray, [1, 2]).tolist() == [1, 2]  # a list of numbers is one observation
    assert map_structure(lambda x: x * 10, [1, (2, [3])], lists=True) == [10, (20, [30])]
    assert unflatten([0, (0, [0])], [1, 2, 3], lists=True) == [1, (2, [3])]


def test_containers_out():
    ordered = OrderedDict([("b", 1), ("a", 2)])
    out = map_structure(lambda x: x + 1, {"o": ordered, "t": (1,)})
    assert type(out) is dict and type(out["o"]) is OrderedDict and list(out["o"]) == ["b", "a"]
    assert out["t"] == (2,)
    assert type(unflatten(ordered, [5, 6])) is OrderedDict
    assert type(index({"o": OrderedDict(a=np.arange(3))}, 0)["o"]) is OrderedDict


def test_a_nested_dict_counts_as_the_nested_dict_it_holds():
    nd = NestedDict({"obs": {"a": 1, "b": 2}, "x": 3})
    assert map_structure(lambda v: v * 2, nd) == {"obs": {"a": 2, "b": 4}, "x": 6}
    assert flatten(nd) == [1, 2, 3]


def test_unflatten_inverts_flatten():
    template = {"a": np.zeros(2), "b": (np.ones(1), {"c": np.full(3, 2.0)})}
    leaves = flatten(template)
    rebuilt = unflatten(template, leaves)
    assert all(x is y for x, y in zip(flatten(rebuilt), leaves))


def test_stack_concatenate_combine_and_index():
    steps = [{"obs": np.full(2, i), "t": (i,)} for i in range(3)]
    stacked = stack(steps)
    assert stacked["obs"].shape == (3, 2) and stacked["t"][0].tolist() == [0, 1, 2]
    joined = concatenate([stacked, stacked])
    assert joined["obs"].shape == (6, 2)
    assert combine(len, steps) == {"obs": 3, "t": (3,)}
    assert index(stacked, 1)["obs"].tolist() == [1, 1] and index(stacked, 1)["t"] == (1,)
    with pytest.raises(KeyError):
        stack([{"a": 1}, {"b": 2}])
