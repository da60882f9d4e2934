"""``rlmodule.tf`` after something switched TensorFlow 2 behaviour off (issue 16, item 10).

ray.rllib's ``try_import_tf()`` calls ``tf.compat.v1.disable_v2_behavior()`` when it is
the first to import tensorflow (graph mode, TF1 shapes, control flow and tensor
equality). A migrated TF file that keeps a flagged ``from ray.rllib...`` import above
``from rlmodule.tf import TfRLModule`` - or any user module importing ray first - used
to make ``rlmodule.tf`` refuse to load. It now switches TF 2 behaviour back on, which
is the state ray itself runs in when tensorflow is imported first.

TensorFlow's behaviour is process-wide, and tests/frameworks.py (loaded by this folder's conftest) imports tensorflow before
anything else, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.tf

ROOT = Path(__file__).resolve().parents[2]

# What the codemod leaves: a flagged ray import kept above the rlmodule import.
MIGRATED_FILE = '''\
from ray.rllib.models.tf.tf_modelv2 import TFModelV2  # TODO(rlmigrate): flagged, kept
from rlmodule.tf import TfRLModule

import tensorflow as tf


class LinearModel(TfRLModule):
    def setup(self):
        self.logits = tf.keras.layers.Dense(int(self.config.action_space.n), name="logits")

    def _forward_inference(self, batch):
        return {"action_dist_inputs": self.logits(batch["obs"])}

    def _forward_exploration(self, batch):
        return self._forward_inference(batch)

    def _forward_train(self, batch):
        return self._forward_inference(batch)
'''


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )


def last_json_line(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


@pytest.mark.legacy
@pytest.mark.slow  # two interpreters importing ray.rllib and tensorflow: ~15-25 s on 2 cores
def test_a_migrated_tf_file_importing_ray_first_loads_and_runs(tmp_path):
    pytest.importorskip("ray.rllib")
    (tmp_path / "migrated_tf_model.py").write_text(MIGRATED_FILE)
    result = run_python(
        """
        import json, logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="LOG %(name)s: %(message)s")

        from ray.rllib.models.tf.tf_modelv2 import TFModelV2
        from ray.rllib.utils.framework import try_import_tf
        tf1, tf, tfv = try_import_tf()
        before = {"eager": tf.executing_eagerly(), "tf2": tf.__internal__.tf2.enabled()}

        import gymnasium as gym
        import numpy as np
        from migrated_tf_model import LinearModel  # ray first, then rlmodule.tf
        from rlmodule import SingleAgentRLModuleSpec

        after = {"eager": tf.executing_eagerly(), "tf2": tf.__internal__.tf2.enabled()}
        module = SingleAgentRLModuleSpec(
            module_class=LinearModel, observation_space=gym.spaces.Box(-5.0, 5.0, (3,), np.float32),
            action_space=gym.spaces.Discrete(2), model_config_dict={},
        ).build()
        obs = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], np.float32)
        module.forward_inference({"obs": obs})  # Keras builds the weights on the first call
        kernel = np.arange(6, dtype=np.float32).reshape(3, 2)
        bias = np.array([0.5, -0.5], np.float32)
        names = sorted(module.get_state())
        module.set_state(dict(zip(names, (kernel, bias))))  # "000/.../kernel", "001/.../bias"
        out = module.forward_inference({"obs": obs})["action_dist_inputs"]

        # The ray side keeps working: a legacy TF ModelV2 built and run afterwards.
        from ray.rllib.models.catalog import MODEL_DEFAULTS
        from ray.rllib.models.tf.fcnet import FullyConnectedNetwork
        legacy = FullyConnectedNetwork(
            gym.spaces.Box(-1.0, 1.0, (3,), np.float32), gym.spaces.Discrete(2), 2,
            {**MODEL_DEFAULTS, "fcnet_hiddens": [8]}, "legacy_fc",
        )
        legacy_out, _ = legacy({"obs": tf.constant(obs)}, [], None)
        print(json.dumps({
            "before": before, "after": after, "names": names,
            "out_type": type(out).__name__, "out": out.numpy().tolist(), "expected": (obs @ kernel + bias).tolist(),
            "legacy_shape": list(legacy_out.shape), "legacy_values_shape": list(legacy.value_function().shape),
        }))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = last_json_line(result.stdout)
    assert facts["before"] == {"eager": False, "tf2": False}  # what ray's try_import_tf() leaves
    assert facts["after"] == {"eager": True, "tf2": True}
    assert "rlmodule.tf: TensorFlow 2 behaviour had been switched off" in result.stdout
    assert [name.split("/")[-1] for name in facts["names"]] == ["kernel", "bias"]
    assert facts["out_type"] == "EagerTensor"
    np.testing.assert_allclose(facts["out"], [[16.5, 21.5], [0.5, -1.0]], rtol=1e-6)
    np.testing.assert_allclose(facts["out"], facts["expected"], rtol=1e-6)
    assert facts["legacy_shape"] == [2, 2] and facts["legacy_values_shape"] == [2]


def test_tf2_behaviour_switched_off_without_ray_is_switched_back_on(tmp_path):
    """Not only ray: any ``disable_v2_behavior()`` before the import, nothing built yet."""
    result = run_python(
        """
        import json
        import tensorflow as tf
        tf.compat.v1.disable_v2_behavior()
        assert not tf.executing_eagerly()
        from rlmodule.tf import TfCategorical, TfRLModule
        dist = TfCategorical(logits=tf.constant([[0.0, 0.0], [0.0, 1.0]]))
        print(json.dumps({"eager": tf.executing_eagerly(), "tf2": tf.__internal__.tf2.enabled(),
                          "entropy": dist.entropy().numpy().tolist()}))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = last_json_line(result.stdout)
    assert facts["eager"] and facts["tf2"]
    assert facts["entropy"] == pytest.approx([0.693147, 0.582203], abs=1e-5)


def test_after_tf1_graph_code_the_import_error_says_what_happened_and_what_to_do(tmp_path):
    """Once TF1 code has used the global graph, eager execution cannot come back."""
    result = run_python(
        """
        import tensorflow as tf
        tf.compat.v1.disable_v2_behavior()
        x = tf.compat.v1.placeholder(tf.float32, [None, 3])  # the global TF1 graph is in use
        from rlmodule.tf import TfRLModule
        """,
        tmp_path,
    )
    assert result.returncode == 1
    err = " ".join(result.stderr.split())
    assert "RuntimeError: rlmodule.tf needs TensorFlow 2 behaviour" in err
    assert "tf.compat.v1.disable_v2_behavior(), which ray.rllib's try_import_tf() calls" in err
    assert "TF1 graph code has run since, so it cannot be switched back on" in err
    assert "Import rlmodule.tf (or tensorflow) before anything imports ray" in err
