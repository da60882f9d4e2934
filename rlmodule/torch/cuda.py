"""The CUDA device a torch learner trains on (``learners(num_gpus_per_learner=...)``)."""

from __future__ import annotations

import torch


def cuda_device(setting: str) -> str:
    """``"cuda"``: torch's current CUDA device (the first one ``CUDA_VISIBLE_DEVICES``
    shows). Tests replace this function to train the learners' copy on the CPU.

    :param setting: the config setting that asked for the device, for the error.
    :raises RuntimeError: torch sees no CUDA device.
    """
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"{setting}: torch.cuda.is_available() is False (torch {torch.__version__}, CUDA build: "
            f"{torch.version.cuda or 'none'}); run on a machine with an NVIDIA GPU and a CUDA build of "
            "torch, or set num_gpus_per_learner=0 to train on the CPU"
        )
    return "cuda"
