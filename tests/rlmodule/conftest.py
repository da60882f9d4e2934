"""rlmodule's tests: TensorFlow and torch loaded, a local Ray and TF determinism on request."""

import pytest

import tests.frameworks  # noqa: F401  (TensorFlow before ray, one thread each)


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
    import tensorflow
    from tensorflow.python.framework import config  # disable_op_determinism is not public

    tensorflow.config.experimental.enable_op_determinism()
    yield
    config.disable_op_determinism()
