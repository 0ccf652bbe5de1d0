"""Trainer callbacks for SPLARE runs: a JSONL training log, and checkpoints the encode CLI can open."""
from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback


class JsonlLogCallback(TrainerCallback):
    """Append every log entry (loss terms, FLOPS weights, active latents, lr) with its step to a JSONL file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or not state.is_world_process_zero:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **logs}) + "\n")


class SplareConfigOnSave(TrainerCallback):
    """Write ``splare_config.json`` into every ``checkpoint-N/`` so a checkpoint is a full model dir."""

    def __init__(self, config) -> None:
        self.config = config

    def on_save(self, args, state, control, **kwargs):
        from .model import SPLARE_CONFIG

        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            (folder / SPLARE_CONFIG).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n", encoding="utf-8")
