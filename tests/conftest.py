"""Set-up shared by every test; it imports no framework.

Each package's tests have their own conftest importing what they need:
``tests/rlmodule`` and ``tests/compat`` load TensorFlow and torch
(:mod:`tests.frameworks`), ``tests/codemods`` and ``tests/rlmigrate`` load neither.
"""

import os
import tempfile

# The tests run small networks, two pytest workers at a time on two cores: intra-op
# threads only add contention there (small ops run 10-100x slower). Set through the
# environment so that a test importing torch or TensorFlow lazily (and any subprocess
# it starts) gets one thread too; tests.frameworks also sets it explicitly.
for _var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_var, "1")

# Algorithms log every result under $RLMODULE_RESULTS_DIR (default ~/rlmodule_results);
# tests that do not pass a log_dir write to a throw-away directory instead.
os.environ.setdefault("RLMODULE_RESULTS_DIR", tempfile.mkdtemp(prefix="rlmodule-test-results-"))
