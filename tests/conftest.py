"""Session set-up shared by all tests."""

import os
import tempfile

# TensorFlow before anything imports ray: ray.rllib's try_import_tf() switches TF 2
# behaviour off process-wide when tensorflow was not imported yet (see rlmodule.tf).
import tensorflow
import pytest
import torch

# The tests run small networks, two pytest workers at a time on two cores: torch's
# intra-op threads only add contention there (small ops run 10-100x slower).
torch.set_num_threads(1)
# TensorFlow alike. One thread also keeps TF's numbers independent of the core count:
# a reduction split over more threads sums in another order, and a learning run that
# rounds differently follows another trajectory (as a different seed would).
tensorflow.config.threading.set_intra_op_parallelism_threads(1)
tensorflow.config.threading.set_inter_op_parallelism_threads(1)

# Algorithms log every result under $RLMODULE_RESULTS_DIR (default ~/rlmodule_results);
# tests that do not pass a log_dir write to a throw-away directory instead.
os.environ.setdefault("RLMODULE_RESULTS_DIR", tempfile.mkdtemp(prefix="rlmodule-test-results-"))


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance (2 CPUs) for one test module, unless one is running."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture
def tf_op_determinism():
    """TensorFlow's op determinism for one test (the learning tests): ops whose CPU
    kernels could sum in a run-dependent order use deterministic ones, and unseeded TF
    random ops raise instead of drawing from an unrepeatable stream. Off again after
    the test, as other tests draw TF random numbers without a seed. On CPU it costs
    the PPO CartPole run nothing measurable."""
    from tensorflow.python.framework import config  # disable_op_determinism is not public

    tensorflow.config.experimental.enable_op_determinism()
    yield
    config.disable_op_determinism()
