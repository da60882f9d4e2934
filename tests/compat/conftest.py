"""compat's tests run torch and TensorFlow models next to legacy RLlib ones."""

import tests.frameworks  # noqa: F401  (TensorFlow before ray, one thread each)
