"""Session set-up shared by all tests."""

# TensorFlow before anything imports ray: ray.rllib's try_import_tf() switches TF 2
# behaviour off process-wide when tensorflow was not imported yet (see rlmodule.tf).
import tensorflow  # noqa: F401
