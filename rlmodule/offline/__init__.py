"""Offline data: reading and validating recorded (obs, action) datasets for BC."""

from rlmodule.offline.dataset import DatasetError, OfflineData, read_offline_data

__all__ = ["DatasetError", "OfflineData", "read_offline_data"]
