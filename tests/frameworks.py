"""TensorFlow, then torch, with one thread each: imported by the conftests of the tests
that run networks (tests/rlmodule, tests/compat)."""

# TensorFlow before anything imports ray: ray.rllib's try_import_tf() switches TF 2
# behaviour off process-wide when tensorflow was not imported yet (see rlmodule.tf).
import tensorflow
import torch

torch.set_num_threads(1)
# One thread also keeps TF's numbers independent of the core count: a reduction split
# over more threads sums in another order, and a learning run that rounds differently
# follows another trajectory (as a different seed would).
tensorflow.config.threading.set_intra_op_parallelism_threads(1)
tensorflow.config.threading.set_inter_op_parallelism_threads(1)
