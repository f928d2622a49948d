"""Checkpoints: our orbax steps, and import/export of official PyTorch `.pth` files."""

from graco_jax.checkpoints.manager import (checkpoint_manager, latest_step, load_for_inference,
                                           read_model_config, restore_params, save_params,
                                           write_model_config)
from graco_jax.checkpoints.official import (ImportReport, export_official, import_official,
                                            load_mae_backbone, read_official)
from graco_jax.checkpoints.pth import UnsafeCheckpointError, load_pth, save_pth

__all__ = ["ImportReport", "UnsafeCheckpointError", "checkpoint_manager", "export_official",
           "import_official", "latest_step", "load_for_inference", "load_mae_backbone",
           "load_pth", "read_model_config", "read_official", "restore_params", "save_params",
           "save_pth", "write_model_config"]
