"""Light checkpoints: what a long run needs to go on after its machine is lost, small enough to commit.

A transformers checkpoint (``checkpoint-N/``) holds the model, the optimizer state (for LoRA on
Gemma 3 270M, ~4x the adapter) and the trainer's state. The light copy keeps the model files
without the frozen SAE (it is the base model's, restored from there), the LoRA adapter in float16,
and ``trainer_state.json``, ``scheduler.pt``, ``rng_state.pth``: everything but the optimizer state.
A run resumed from it continues at its step, on its learning-rate schedule and data order, with a
fresh Adam state (:class:`LightResumeTrainer`).
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

OPTIMIZER_FILES = ("optimizer.pt", "optimizer.bin")
SAE_FOLDER = "1_SAELatents"
ADAPTER = "adapter_model.safetensors"


def checkpoint_step(folder: str | Path) -> int:
    """The global step a checkpoint was saved at (from its ``trainer_state.json``)."""
    path = Path(folder) / "trainer_state.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing (not a transformers checkpoint)")
    return int(json.loads(path.read_text(encoding="utf-8"))["global_step"])


def keep_light_checkpoint(checkpoint: str | Path, kept: str | Path, drop_sae: bool = True) -> Path:
    """Copy ``checkpoint`` without its optimizer state (and, with ``drop_sae``, its frozen SAE) into
    ``kept``, replaced atomically, the adapter cast to float16."""
    from safetensors.torch import load_file, save_file

    checkpoint, kept = Path(checkpoint), Path(kept)
    staging = kept.with_name(kept.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    skipped = (*OPTIMIZER_FILES, SAE_FOLDER) if drop_sae else OPTIMIZER_FILES
    shutil.copytree(checkpoint, staging, ignore=shutil.ignore_patterns(*skipped))
    for adapter in staging.rglob(ADAPTER):
        tensors = {name: t.half() if t.is_floating_point() else t for name, t in load_file(adapter).items()}
        save_file(tensors, adapter, metadata={"format": "pt"})
    old = kept.with_name(kept.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if kept.exists():
        kept.rename(old)
    staging.rename(kept)
    shutil.rmtree(old, ignore_errors=True)
    return kept


def restore_light_checkpoint(kept: str | Path, output_dir: str | Path, base_model: str | Path | None) -> Path:
    """Rebuild ``output_dir/checkpoint-N`` from a light copy, its SAE taken from ``base_model`` when
    the copy has none."""
    kept = Path(kept)
    target = Path(output_dir) / f"checkpoint-{checkpoint_step(kept)}"
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(kept, staging)
    if not (staging / SAE_FOLDER).is_dir():
        from splare_pyserini.modeling.model import resolve_model_dir

        sae = resolve_model_dir(str(base_model)) / SAE_FOLDER if base_model else None
        if sae is None or not sae.is_dir():
            raise FileNotFoundError(f"{kept}: holds no {SAE_FOLDER} and the base model {base_model} has none")
        shutil.copytree(sae, staging / SAE_FOLDER)
    staging.rename(target)
    logger.info("restored %s from %s (no optimizer state: Adam starts afresh)", target, kept)
    return target


def light_resume_trainer_class():
    """sentence-transformers' trainer that also resumes from a checkpoint without optimizer state."""
    import torch
    from sentence_transformers.sparse_encoder import SparseEncoderTrainer

    class LightResumeTrainer(SparseEncoderTrainer):
        def _load_optimizer_and_scheduler(self, checkpoint):
            folder = Path(checkpoint) if checkpoint else None
            if folder and not any((folder / name).exists() for name in OPTIMIZER_FILES) and (folder / "scheduler.pt").exists():
                # transformers loads neither when the optimizer file is missing, which would restart
                # the learning-rate schedule at step 0 while the step count goes on
                logger.warning("%s has no optimizer state: Adam starts afresh at step %d, the schedule goes on",
                               folder, checkpoint_step(folder))
                self.lr_scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
                return
            super()._load_optimizer_and_scheduler(checkpoint)

    return LightResumeTrainer
