"""Rule ``keras_functional``: tf ops on Keras functional-model tensors -> Lambda layers,
recurrent layers called with ``inputs=`` -> positional (before/after strings).

What the rewritten code computes under Keras 3 is checked in
tests/test_migrated_tf_recurrent.py (the functional LSTM fixture against ray 2.60, and
the Lambda-wrapped mask against the raw op run eagerly)."""

from __future__ import annotations

import ast
import textwrap

import pytest

from codemods.migrate import migrate_source
from codemods.rules import all_rules, select_rules

RULE = select_rules(["keras_functional"])
HEADER = "import tensorflow as tf\n\n\n"


def run(body: str, header: str = HEADER) -> str:
    """``body`` (a dedented snippet) after the rule; the same text when nothing changed."""
    source = header + textwrap.dedent(body)
    result = migrate_source(source.encode(), "m.py", RULE)
    assert result.status in ("changed", "unchanged"), result.error
    out = result.new_bytes.decode() if result.new_bytes is not None else source
    ast.parse(out)
    again = migrate_source(out.encode(), "m.py", RULE)  # one pass is a fixed point
    assert again.new_bytes is None, again.new_bytes.decode()
    return out[len(header):]


def todo(text: str) -> str:
    return f"# TODO(rlmigrate): {text} - see MIGRATION.md#keras-3-functional-models"


def test_the_rule_is_registered_after_models_and_only_reads_keras_files():
    names = [rule.name for rule in all_rules()]
    assert names.index("models") < names.index("keras_functional") < names.index("imports")
    [rule] = RULE
    assert not rule.applies_to(b"import tensorflow as tf\nx = tf.sequence_mask(y)\n", None)


def test_the_canonical_recurrent_network_builder():
    before = """\
    class Net:
        def __init__(self, cell_size):
            inputs = tf.keras.layers.Input(shape=(None, 4), name="inputs")
            h = tf.keras.layers.Input(shape=(cell_size,))
            c = tf.keras.layers.Input(shape=(cell_size,))
            seq_in = tf.keras.layers.Input(shape=(), dtype=tf.int32)
            out, state_h, state_c = tf.keras.layers.LSTM(cell_size, return_sequences=True, return_state=True)(
                inputs=inputs,
                mask=tf.sequence_mask(seq_in),
                initial_state=[h, c],
            )
    """
    after = """\
    class Net:
        def __init__(self, cell_size):
            inputs = tf.keras.layers.Input(shape=(None, 4), name="inputs")
            h = tf.keras.layers.Input(shape=(cell_size,))
            c = tf.keras.layers.Input(shape=(cell_size,))
            seq_in = tf.keras.layers.Input(shape=(), dtype=tf.int32)
            out, state_h, state_c = tf.keras.layers.LSTM(cell_size, return_sequences=True, return_state=True)(
                inputs,
                mask=tf.keras.layers.Lambda(lambda t: tf.sequence_mask(t), autocast=False)(seq_in),
                initial_state=[h, c],
            )
    """
    assert run(before) == textwrap.dedent(after)


@pytest.mark.parametrize(
    "line,expected",
    [
        # other arguments read the same value at build and run time: kept in the lambda
        ("y = tf.sequence_mask(seq_in, 5)", "y = tf.keras.layers.Lambda(lambda t: tf.sequence_mask(t, 5), autocast=False)(seq_in)"),
        ("y = tf.reshape(x, [-1, size])", "y = tf.keras.layers.Lambda(lambda t: tf.reshape(t, [-1, size]), autocast=False)(x)"),
        ("y = tf.cast(seq_in, dtype=tf.float32)", "y = tf.keras.layers.Lambda(lambda t: tf.cast(t, dtype=tf.float32), autocast=False)(seq_in)"),
        ("y = tf.nn.relu(x)", "y = tf.keras.layers.Lambda(lambda t: tf.nn.relu(t), autocast=False)(x)"),
        # a list of KerasTensors is the Lambda's (list) input
        ("y = tf.concat([x, x], axis=-1)", "y = tf.keras.layers.Lambda(lambda t: tf.concat(t, axis=-1), autocast=False)([x, x])"),
        # slices, arithmetic and layer calls of KerasTensors are KerasTensors
        ("y = tf.square(x[:, 0] * 2.0)", "y = tf.keras.layers.Lambda(lambda t: tf.square(t), autocast=False)(x[:, 0] * 2.0)"),
        ("y = tf.tanh(tf.keras.layers.Dense(3)(x))", "y = tf.keras.layers.Lambda(lambda t: tf.tanh(t), autocast=False)(tf.keras.layers.Dense(3)(x))"),
        # the lambda's parameter never shadows a name the call reads
        ("y = tf.sequence_mask(seq_in, t)", "y = tf.keras.layers.Lambda(lambda t_: tf.sequence_mask(t_, t), autocast=False)(seq_in)"),
        # nested: the inner op first; the outer one then takes its (KerasTensor) result
        ("y = tf.reduce_sum(tf.square(x), -1)", "y = tf.keras.layers.Lambda(lambda t: tf.reduce_sum(t, -1), autocast=False)(tf.keras.layers.Lambda(lambda t: tf.square(t), autocast=False)(x))"),
    ],
)
def test_tf_ops_on_keras_tensors_are_wrapped(line, expected):
    before = f"""\
    def build(size, t):
        x = tf.keras.layers.Input(shape=(4,))
        seq_in = tf.keras.layers.Input(shape=(), dtype=tf.int32)
        {line}
    """
    assert run(before).splitlines()[-1].strip() == expected


@pytest.mark.parametrize(
    "lines,message",
    [
        (
            ["y = tf.reshape(x, [-1, self.size])"],
            "tf.reshape(...) on a Keras functional-model tensor (KerasTensor) raises under Keras 3: wrap it as "
            "tf.keras.layers.Lambda(lambda t: tf.reshape(t, ...), autocast=False)(x), first binding [-1, self.size] to a local name "
            "assigned once (a Lambda reads its other arguments when the model runs, not when it is built)",
        ),
        (
            ["n = 3", "n = n + 1", "y = tf.one_hot(seq_in, n)"],
            "tf.one_hot(...) on a Keras functional-model tensor (KerasTensor) raises under Keras 3: wrap it as "
            "tf.keras.layers.Lambda(lambda t: tf.one_hot(t, ...), autocast=False)(x), first binding n to a local name "
            "assigned once (a Lambda reads its other arguments when the model runs, not when it is built)",
        ),
        (
            ["y = tf.sequence_mask(seq_in, maxlen=tf.shape(x)[1])"],
            "tf.sequence_mask(...) takes a Keras functional-model tensor (KerasTensor) other than its first argument, "
            "or more than one; under Keras 3 a tf op on a KerasTensor raises: wrap the op in a layer taking them all, "
            "e.g. tf.keras.layers.Lambda(lambda ts: tf.sequence_mask(ts[0], ts[1]), autocast=False)([a, b])",
        ),
        (
            ["y = tf.gather(params, indices=seq_in)"],
            "tf.gather(...) takes a Keras functional-model tensor (KerasTensor) other than its first argument, "
            "or more than one; under Keras 3 a tf op on a KerasTensor raises: wrap the op in a layer taking them all, "
            "e.g. tf.keras.layers.Lambda(lambda ts: tf.gather(ts[0], ts[1]), autocast=False)([a, b])",
        ),
        (
            ["z = helper(x)", "y = tf.reduce_sum(z, -1)"],
            "tf.reduce_sum(...) may get a Keras functional-model tensor (a KerasTensor, or a value computed from one) "
            "here; under Keras 3 a tf op on a KerasTensor raises: if it is one, wrap the op in a layer, e.g. "
            "tf.keras.layers.Lambda(lambda t: tf.reduce_sum(t, ...), autocast=False)(x)",
        ),
        (
            ["outs = [x, seq_in]", "y = [tf.reduce_sum(o) for o in outs]"],
            "tf.reduce_sum(...) may get a Keras functional-model tensor (a KerasTensor, or a value computed from one) "
            "here; under Keras 3 a tf op on a KerasTensor raises: if it is one, wrap the op in a layer, e.g. "
            "tf.keras.layers.Lambda(lambda t: tf.reduce_sum(t, ...), autocast=False)(x)",
        ),
    ],
)
def test_what_cannot_be_wrapped_faithfully_gets_a_todo_and_stays(lines, message):
    body = "".join(f"    {line}\n" for line in lines)
    before = (
        "def build(self, params):\n"
        "    x = tf.keras.layers.Input(shape=(4,))\n"
        "    seq_in = tf.keras.layers.Input(shape=(), dtype=tf.int32)\n" + body
    )
    out = run(before)
    assert out.count("TODO(rlmigrate)") == 1
    *_, comment, last = out.splitlines()
    assert comment.strip() == todo(message)
    # the statement stays, but for an inner op it could wrap (tf.shape(x) here)
    assert last.strip() == lines[-1].replace("tf.shape(x)", "tf.keras.layers.Lambda(lambda t: tf.shape(t), autocast=False)(x)")


def test_names_bound_in_a_loop_are_read_late_and_get_a_todo():
    before = """\
    def build():
        x = tf.keras.layers.Input(shape=(3, 4))
        for i in range(3):
            y = tf.gather(x, i, axis=1)
            n = i + 1
            z = tf.reshape(x, [-1, n])
    """
    out = run(before).splitlines()
    assert [line.strip() for line in out if "TODO" not in line] == [line.strip() for line in textwrap.dedent(before).splitlines()]
    assert "first binding i to a local name" in out[3] and "first binding [-1, n] to a local name" in out[6]


def test_code_that_builds_no_functional_model_is_left_alone():
    before = """\
    class Net:
        def forward_rnn(self, inputs, state, seq_lens):
            mask = tf.sequence_mask(seq_lens, maxlen=tf.shape(inputs)[1])
            x = tf.reshape(self.dense(inputs), [-1, self.size])
            return tf.concat([x, x], -1), state

        def helper(self, x):
            return tf.reduce_sum(x)

    inputs = tf.keras.layers.Input(shape=(4,))
    mask = tf.sequence_mask(inputs)
    """
    assert run(before) == textwrap.dedent(before)


def test_tf_ops_on_plain_values_in_a_builder_are_left_alone():
    before = """\
    def build(cell_size):
        x = tf.keras.layers.Input(shape=(4,))
        zeros = tf.zeros([cell_size])
        per_output = [tf.zeros([cell_size]) for _ in [x, x]]
        init = tf.keras.initializers.Constant(tf.sqrt(2.0))
        y = tf.keras.layers.Dense(3, activation=tf.nn.relu)(x)
        z = tf.keras.layers.Lambda(lambda x: tf.sequence_mask(x))(y)
    """
    assert run(before) == textwrap.dedent(before)


def test_recurrent_layers_called_with_inputs_get_them_positionally():
    before = """\
    class Net:
        def __init__(self):
            self.lstm = tf.keras.layers.LSTM(4, return_state=True)
            self.gru = tf.keras.layers.GRU(4)
            self.maybe = tf.keras.layers.GRU(4)
            self.maybe = None
            self.dense = tf.keras.layers.Dense(3)

        def forward_rnn(self, x, state, seq_lens):
            gru = tf.keras.layers.GRU(2)
            a = self.lstm(mask=None, inputs=x, initial_state=state)
            b = self.gru(inputs=x)
            c = gru(inputs=x)
            d = tf.keras.layers.SimpleRNN(2)(inputs=x)
            e = tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(2))(inputs=x)
            f = self.maybe(inputs=x)
            g = self.dense(inputs=x)
            h = tf.keras.layers.Dense(2)(inputs=x)
            i = self.lstm(x, inputs=x)
    """
    after = """\
    class Net:
        def __init__(self):
            self.lstm = tf.keras.layers.LSTM(4, return_state=True)
            self.gru = tf.keras.layers.GRU(4)
            self.maybe = tf.keras.layers.GRU(4)
            self.maybe = None
            self.dense = tf.keras.layers.Dense(3)

        def forward_rnn(self, x, state, seq_lens):
            gru = tf.keras.layers.GRU(2)
            a = self.lstm(x, mask=None, initial_state=state)
            b = self.gru(x)
            c = gru(x)
            d = tf.keras.layers.SimpleRNN(2)(x)
            e = tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(2))(x)
            f = self.maybe(inputs=x)
            g = self.dense(inputs=x)
            h = tf.keras.layers.Dense(2)(inputs=x)
            i = self.lstm(x, inputs=x)
    """
    assert run(before) == textwrap.dedent(after)


@pytest.mark.parametrize(
    "header,input_call,op,layer",
    [
        ("from ray.rllib.utils.framework import try_import_tf\ntf1, tf, tfv = try_import_tf()\n", "tf.keras.layers.Input", "tf.sequence_mask", "tf.keras.layers.Lambda"),
        ("import tensorflow\n", "tensorflow.keras.Input", "tensorflow.sequence_mask", "tensorflow.keras.layers.Lambda"),
        ("import tensorflow as tf\nfrom tensorflow import keras\n", "keras.Input", "tf.sequence_mask", "tf.keras.layers.Lambda"),
        ("import tensorflow as tf\nfrom tensorflow.keras import layers\n", "layers.Input", "tf.sequence_mask", "tf.keras.layers.Lambda"),
        ("import tensorflow as tf\nfrom tensorflow.keras.layers import Input\n", "Input", "tf.sequence_mask", "tf.keras.layers.Lambda"),
        ("import tensorflow.compat.v1 as tf1\nimport keras\n", "keras.layers.Input", "tf1.sequence_mask", "keras.layers.Lambda"),
    ],
)
def test_how_the_file_imports_tensorflow_and_keras(header, input_call, op, layer):
    before = f"def build():\n    s = {input_call}(shape=(), dtype='int32')\n    m = {op}(s)\n"
    out = run(before, header=header + "\n\n")
    assert out.splitlines()[-1].strip() == f"m = {layer}(lambda t: {op}(t), autocast=False)(s)"


def test_self_attributes_bound_in_the_builder_are_followed():
    before = """\
    class Net:
        def __init__(self):
            self.inputs = tf.keras.layers.Input(shape=(4,))
            last = self.inputs
            for size in (8, 8):
                last = tf.keras.layers.Dense(size)(last)
            self.out = tf.nn.softmax(last)
    """
    assert run(before).splitlines()[-1].strip() == "self.out = tf.keras.layers.Lambda(lambda t: tf.nn.softmax(t), autocast=False)(last)"


def test_classes_and_functions_nested_in_functions_are_scanned_in_their_own_scope():
    before = """\
    def make_model_class():
        x = tf.keras.layers.Input(shape=(2,))

        class Net:
            def __init__(self):
                inputs = tf.keras.layers.Input(shape=(2,))
                self.y = tf.nn.relu(inputs)

            def helper(self, x):
                return tf.nn.relu(x)

        def build():
            return tf.nn.relu(x)

        return Net
    """
    out = run(before).splitlines()
    assert out[6].strip() == "self.y = tf.keras.layers.Lambda(lambda t: tf.nn.relu(t), autocast=False)(inputs)"
    assert out[9].strip() == "return tf.nn.relu(x)"  # its own parameter x: not the outer Input
    assert out[12].strip() == "return tf.nn.relu(x)"  # the outer x is read from another scope: left alone
